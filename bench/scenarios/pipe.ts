/**
 * bench/pipe: G groups, each a pipe with a writer fiber writing CHUNK bytes
 * COUNT times and a reader fiber reading it all; every group concurrent in
 * one process. Contenders, each run RUNS times (median reported):
 *   (a) uringmachine, one awaited m.write per chunk, m.read on the reader;
 *   (b) uringmachine, writes not awaited one by one: a buffered writer that
 *       merges queued chunks into one m.writev op (HWM high-water mark);
 *   (e) uringmachine, fire and forget: COUNT m.writeAsync calls in a row,
 *       then m.close(w) (writeAsync keeps a queue per fd and merges what
 *       is queued behind the write in flight into one writev);
 *   (c) node:net sockets over the same kind of pipes (the same HWM,
 *       awaiting 'drain' when write() returns false);
 *   (d) bench/bin/pipe: C on the project's own ring layer, same op pattern
 *       as (a), no JavaScript.
 * Env: GROUPS (48), COUNT (10000), CHUNK (1024), RUNS (3), HWM (65536: the
 * pipe's capacity; node:net's default is 16384).
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import net from 'node:net';
import { fileURLToPath } from 'node:url';

import { UringMachine, UM } from 'uringmachine';

const GROUPS = Number(process.env.GROUPS ?? 48);
const COUNT = Number(process.env.COUNT ?? 10000);
const CHUNK = Number(process.env.CHUNK ?? 1024);
const RUNS = Number(process.env.RUNS ?? 3);
const READ_BUF = 65536;
const HWM = Number(process.env.HWM ?? 65536);

const chunk = Buffer.alloc(CHUNK, 0x61);
const total = COUNT * CHUNK;

type Contender = { name: string; run: () => Promise<number> };

async function umAwaited(): Promise<number> {
  const m = new UringMachine();
  const pipes = Array.from({ length: GROUPS }, () => UM.pipe());
  const t0 = process.hrtime.bigint();
  const fibers = [];
  for (const [r, w] of pipes) {
    fibers.push(
      m.spin(async () => {
        for (let i = 0; i < COUNT; i++) await m.write(w, chunk);
      }),
    );
    fibers.push(
      m.spin(async () => {
        const buf = Buffer.allocUnsafe(READ_BUF);
        let got = 0;
        while (got < total) {
          const n = await m.read(r, buf);
          if (n === 0) throw new Error('early EOF');
          got += n;
        }
      }),
    );
  }
  await m.join(fibers);
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  for (const [r, w] of pipes) {
    await m.close(r);
    await m.close(w);
  }
  m.close();
  return secs;
}

/**
 * Merges the chunks queued while a writev is in flight into the next writev.
 * write() returns a promise only when HWM bytes are queued, resolved as soon
 * as they are handed to a writev, so the writer refills while it is in flight.
 */
class BufferedWriter {
  #m: UringMachine;
  #fd: number;
  #queue: Uint8Array[] = [];
  #queued = 0;
  #loop: Promise<void> | null = null;
  #drain: Promise<void> | null = null;
  #resolveDrain: (() => void) | null = null;
  constructor(m: UringMachine, fd: number) {
    this.#m = m;
    this.#fd = fd;
  }
  write(b: Uint8Array): Promise<void> | undefined {
    this.#queue.push(b);
    this.#queued += b.length;
    this.#loop ??= this.#run();
    if (this.#queued < HWM) return undefined;
    return (this.#drain ??= new Promise((r) => (this.#resolveDrain = r)));
  }
  async #run(): Promise<void> {
    while (this.#queue.length > 0) {
      const bufs = this.#queue;
      this.#queue = [];
      this.#queued = 0;
      const written = this.#m.writev(this.#fd, bufs);
      const resolve = this.#resolveDrain;
      if (resolve) {
        this.#resolveDrain = null;
        this.#drain = null;
        resolve();
      }
      await written;
    }
    this.#loop = null;
  }
  async end(): Promise<void> {
    while (this.#loop) await this.#loop;
  }
}

async function umBuffered(): Promise<number> {
  const m = new UringMachine();
  const pipes = Array.from({ length: GROUPS }, () => UM.pipe());
  const t0 = process.hrtime.bigint();
  const fibers = [];
  for (const [r, w] of pipes) {
    fibers.push(
      m.spin(async () => {
        const bw = new BufferedWriter(m, w);
        for (let i = 0; i < COUNT; i++) {
          const p = bw.write(chunk);
          if (p) await p;
        }
        await bw.end();
      }),
    );
    fibers.push(
      m.spin(async () => {
        const buf = Buffer.allocUnsafe(READ_BUF);
        let got = 0;
        while (got < total) {
          const n = await m.read(r, buf);
          if (n === 0) throw new Error('early EOF');
          got += n;
        }
      }),
    );
  }
  await m.join(fibers);
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  for (const [r, w] of pipes) {
    await m.close(r);
    await m.close(w);
  }
  m.close();
  return secs;
}

async function umWriteAsync(): Promise<number> {
  const m = new UringMachine();
  const pipes = Array.from({ length: GROUPS }, () => UM.pipe());
  const t0 = process.hrtime.bigint();
  const fibers = [];
  for (const [r, w] of pipes) {
    fibers.push(
      m.spin(async () => {
        for (let i = 0; i < COUNT; i++) m.writeAsync(w, chunk);
        await m.close(w); // resolves once every queued chunk is written
      }),
    );
    fibers.push(
      m.spin(async () => {
        const buf = Buffer.allocUnsafe(READ_BUF);
        let got = 0;
        while (got < total) {
          const n = await m.read(r, buf);
          if (n === 0) throw new Error('early EOF');
          got += n;
        }
      }),
    );
  }
  await m.join(fibers);
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  for (const [r] of pipes) await m.close(r);
  m.close();
  return secs;
}

async function nodeNet(): Promise<number> {
  const pipes = Array.from({ length: GROUPS }, () => UM.pipe());
  const t0 = process.hrtime.bigint();
  const tasks: Promise<void>[] = [];
  const sockets: net.Socket[] = [];
  for (const [r, w] of pipes) {
    // Socket options reach the Duplex constructor; @types/node omits this one.
    const ws = new net.Socket({ fd: w, readable: false, writable: true, writableHighWaterMark: HWM } as net.SocketConstructorOpts);
    const rs = new net.Socket({ fd: r, readable: true, writable: false });
    sockets.push(ws, rs);
    tasks.push(
      (async () => {
        for (let i = 0; i < COUNT; i++) {
          if (!ws.write(chunk)) await new Promise((res) => ws.once('drain', res));
        }
        await new Promise<void>((res) => ws.end(res));
      })(),
    );
    tasks.push(
      new Promise<void>((res, rej) => {
        let got = 0;
        rs.on('data', (d: Buffer) => {
          got += d.length;
          if (got >= total) res();
        });
        rs.on('error', rej);
      }),
    );
  }
  await Promise.all(tasks);
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  for (const s of sockets) s.destroy();
  return secs;
}

const root = fileURLToPath(new URL('../../../', import.meta.url));
const cbin = `${root}bench/bin/pipe`;

async function cRing(): Promise<number> {
  const out = execFileSync(cbin, {
    env: { ...process.env, GROUPS: String(GROUPS), COUNT: String(COUNT), CHUNK: String(CHUNK) },
    encoding: 'utf8',
  });
  const line = out.trim().split('\n').pop()!;
  return JSON.parse(line).seconds as number;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

async function main(): Promise<void> {
  const contenders: Contender[] = [
    { name: '(a) uringmachine, awaited write per chunk', run: umAwaited },
    { name: '(b) uringmachine, buffered writev', run: umBuffered },
    { name: '(e) uringmachine, writeAsync per chunk (fire and forget)', run: umWriteAsync },
    { name: '(c) node:net over pipes', run: nodeNet },
  ];
  if (existsSync(cbin)) contenders.push({ name: '(d) C, own ring layer, op per chunk', run: cRing });
  else console.error(`(d) skipped: ${cbin} not built (bash bench/c/build.sh)`);

  const chunks = GROUPS * COUNT;
  const results: { name: string; rate: number }[] = [];
  for (const c of contenders) {
    await c.run(); // warm-up
    const times: number[] = [];
    for (let i = 0; i < RUNS; i++) times.push(await c.run());
    results.push({ name: c.name, rate: chunks / median(times) });
  }
  const by = (p: string) => results.find((r) => r.name.startsWith(p))?.rate;
  console.log(`\n### pipe — ${GROUPS} groups x ${COUNT} chunks x ${CHUNK} B, HWM ${HWM} B, node ${process.version}, median of ${RUNS}\n`);
  console.log('| contender | chunks/s | vs (c) node:net | vs (d) C |');
  console.log('|---|---:|---:|---:|');
  for (const r of results) {
    const c = by('(c)');
    const d = by('(d)');
    console.log(
      `| ${r.name} | ${(r.rate / 1e6).toFixed(3)} M | ${c ? (r.rate / c).toFixed(2) : '-'} | ${d ? (r.rate / d).toFixed(2) : '-'} |`,
    );
  }
  const a = by('(a)');
  const b = by('(b)');
  const c = by('(c)');
  const d = by('(d)');
  if (a && d) console.log(`\ntarget (a) >= 0.8 x (d): ${(a / d).toFixed(2)}`);
  if (b && c) console.log(`target (b) >= 1.5 x (c): ${(b / c).toFixed(2)}`);
}

await main();
