/**
 * bench/sweep-pipe: the cost curve of bench/scenarios/pipe.ts as the number
 * of concurrent groups grows, GROUPS in SIZES (1, 48, 1,000): G pipes, each
 * with a writer writing 1 KiB chunks and a reader reading it all into a
 * 64 KiB buffer, every group concurrent in one process. The total is held
 * at TOTAL (480,000) chunks, so a group writes TOTAL / G of them; reported is
 * CPU time per chunk (µs; the process's, all threads: the machine is shared
 * and wall time swings with the other load, CPU time much less) and chunks/s
 * (wall). Contenders (those of pipe.ts):
 *   - uringmachine, one awaited m.write per chunk (pipe.ts (a)),
 *   - uringmachine, m.writeAsync per chunk, then m.close (pipe.ts (e)),
 *   - node:net sockets over the pipes, 64 KiB high-water mark, awaiting
 *     'drain' (pipe.ts (c)),
 *   - bench/bin/pipe: C on the project's ring layer, one WRITE per chunk in
 *     flight per group and one READ (pipe.ts (d)).
 * Each figure is the median of RUNS (3) after a warm-up run; contenders run
 * interleaved. Env: SIZES, TOTAL, CHUNK (1024), RUNS, PLOT
 * (bench/sweep-pipe.png). About 25–110 s on the 2-core machine (the more
 * the busier it is); opt-in (BENCH=sweep-pipe or BENCH=sweeps).
 */
import { existsSync } from 'node:fs';
import net from 'node:net';

import { UringMachine, UM } from 'uringmachine';

import type { CurvePoint } from '../lib/plot.js';
import { cpuNow, fmt, loadavg, median, report, root, runC, sizes, smoke } from '../lib/sweep.js';

const SIZES = sizes(smoke ? [1, 4] : [1, 48, 1000]);
const TOTAL = Number(process.env.TOTAL ?? (smoke ? 4000 : 480_000));
const CHUNK = Number(process.env.CHUNK ?? 1024);
const RUNS = Number(process.env.RUNS ?? (smoke ? 1 : 3));
const READ_BUF = 65536;
const HWM = 65536;
const PLOT = process.env.PLOT ?? `${root}${smoke ? 'out/bench/sweep-pipe-smoke.png' : 'bench/sweep-pipe.png'}`;
const cbin = `${root}bench/bin/pipe`;
const chunk = Buffer.alloc(CHUNK, 0x61);

/** Seconds of one run: wall, and CPU of the process (all threads; for C, the child's, its setup included). */
type Times = { wall: number; cpu: number };

/** A reader fiber: reads `total` bytes from `r`. */
function reader(m: UringMachine, r: number, total: number) {
  return m.spin(async () => {
    const buf = Buffer.allocUnsafe(READ_BUF);
    let got = 0;
    while (got < total) {
      const n = await m.read(r, buf);
      if (n === 0) throw new Error('early EOF');
      got += n;
    }
  });
}

async function umAwaited(groups: number, count: number): Promise<Times> {
  const m = new UringMachine();
  const pipes = Array.from({ length: groups }, () => UM.pipe());
  const c0 = cpuNow();
  const t0 = process.hrtime.bigint();
  const fibers = [];
  for (const [r, w] of pipes) {
    fibers.push(
      m.spin(async () => {
        for (let i = 0; i < count; i++) await m.write(w, chunk);
      }),
    );
    fibers.push(reader(m, r, count * CHUNK));
  }
  await m.join(fibers);
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = cpuNow() - c0;
  for (const [r, w] of pipes) {
    await m.close(r);
    await m.close(w);
  }
  m.close();
  return { wall: secs, cpu };
}

async function umWriteAsync(groups: number, count: number): Promise<Times> {
  const m = new UringMachine();
  const pipes = Array.from({ length: groups }, () => UM.pipe());
  const c0 = cpuNow();
  const t0 = process.hrtime.bigint();
  const fibers = [];
  for (const [r, w] of pipes) {
    fibers.push(
      m.spin(async () => {
        for (let i = 0; i < count; i++) m.writeAsync(w, chunk);
        await m.close(w); // resolves once every queued chunk is written
      }),
    );
    fibers.push(reader(m, r, count * CHUNK));
  }
  await m.join(fibers);
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = cpuNow() - c0;
  for (const [r] of pipes) await m.close(r);
  m.close();
  return { wall: secs, cpu };
}

async function nodeNet(groups: number, count: number): Promise<Times> {
  const pipes = Array.from({ length: groups }, () => UM.pipe());
  const total = count * CHUNK;
  const c0 = cpuNow();
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
        for (let i = 0; i < count; i++) {
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
  const cpu = cpuNow() - c0;
  for (const s of sockets) s.destroy();
  return { wall: secs, cpu };
}

async function cRing(groups: number, count: number): Promise<Times> {
  const { out, cpu } = runC(cbin, [], { GROUPS: String(groups), COUNT: String(count), CHUNK: String(CHUNK) });
  const r = JSON.parse(out.trim().split('\n').pop()!) as { seconds: number; chunks: number };
  if (r.chunks !== groups * count) throw new Error(`C: ${r.chunks} chunks, expected ${groups * count}`);
  return { wall: r.seconds, cpu };
}

async function main(): Promise<void> {
  const load = loadavg();
  const t0 = Date.now();
  const contenders: { name: string; run: (g: number, c: number) => Promise<Times> }[] = [
    { name: 'uringmachine, awaited write per chunk', run: umAwaited },
    { name: 'uringmachine, writeAsync per chunk', run: umWriteAsync },
    { name: 'node:net over pipes', run: nodeNet },
  ];
  if (existsSync(cbin)) contenders.push({ name: 'C, own ring layer, op per chunk', run: cRing });
  else console.error(`${cbin} not built (bash bench/c/build.sh): the C contender is left out`);
  const points: CurvePoint[] = [];
  const extra = new Map<string, string>();
  for (const groups of SIZES) {
    const count = Math.max(1, Math.round(TOTAL / groups));
    const times = new Map<string, Times[]>(contenders.map((c) => [c.name, []]));
    for (const c of contenders) await c.run(groups, count); // warm-up
    for (let r = 0; r < RUNS; r++) for (const c of contenders) times.get(c.name)!.push(await c.run(groups, count));
    for (const [name, ts] of times) {
      const n = groups * count;
      points.push({ series: name, x: groups, y: (median(ts.map((t) => t.cpu)) / n) * 1e6 });
      extra.set(`${name}@${groups}`, `${fmt(n / median(ts.map((t) => t.wall)) / 1e6, 2)} M/s`);
    }
  }
  const secs = (Date.now() - t0) / 1000;
  await report({
    title:
      `### sweep-pipe — G groups × (${TOTAL.toLocaleString('en-US')} / G) chunks × ${CHUNK} B, ` +
      `CPU µs per chunk (all threads) and chunks/s (wall) ` +
      `(node ${process.version}; median of ${RUNS}; load average ${load} at start; ${secs.toFixed(0)} s)`,
    sizeName: 'groups',
    cost: 'CPU µs/chunk',
    points,
    extra,
    plotFile: PLOT,
    plotTitle: `pipe with G groups, ${CHUNK} B chunks: CPU µs per chunk`,
  });
}

await main();
