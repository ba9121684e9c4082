/**
 * bench/read-files: read SMALL files of SMALL_SIZE bytes and LARGE files of
 * LARGE_SIZE bytes whole (created once in a tmp dir; page cache warm: all
 * are read once before timing). Contenders:
 *   (a) m.readFiles(paths) (uringmachine: per file one linked chain on
 *       the worker's own slot in the ring's file table: openat into the
 *       slot, a read of up to 32 KiB into scratch, a 1-byte EOF-check read;
 *       a larger file then statx and a read of the rest, punted to io-wq;
 *       256 files in flight), and (a') the same with { direct: false }:
 *       openat into the fd table, then a read / EOF-check / close chain;
 *   (b) Promise.all(paths.map((p) => fs.promises.readFile(p)));
 *   (c) a fs.readFileSync loop;
 *   (d) bench/bin/read_files: C on the project's own ring layer, the same
 *       op pattern as (a), no JavaScript;
 *   (e) the same program with MODE=sync: open / fstat / read / read / close
 *       per file, the same buffers kept and freed the same way (what (d) is
 *       measured against).
 * Env: SMALL (2000), SMALL_SIZE (4096), LARGE (100), LARGE_SIZE (1048576),
 * Each contender runs in a process of its own (ROUNDS processes per
 * contender, default 3, alternating with the others' in reverse order every
 * other round): WARM (3) untimed runs, then RUNS (5) timed ones, each after
 * a collection, and the table shows the median of all timed runs (the
 * first runs of a process take fresh memory for their results, the
 * readFileSync loop's as ours: 70-90 ms instead of ~25). A process
 * of its own, because contenders in one process share its heap: memory one
 * contender's results freed is what the next one's results land on (or not),
 * and that moved a contender by 2x (the readFileSync loop ran in 32 ms after
 * readFiles that allocated with malloc, in 65 ms after readFiles that
 * allocated from its own chunks). So each is measured as a program that
 * calls it repeatedly sees it: on the memory its own earlier calls freed.
 * CPU µs/file: the process's user + system time during the run (all its
 * threads, io-wq workers and libuv's pool included) per file; page
 * faults/run: its minor faults during the run (fresh result memory the
 * kernel or a copy touches first); neither is shown for (d) and (e), C
 * programs timing themselves (one warm-up run in their own process, then
 * one timed run). CONCURRENCY (256, for (a) and (d)), KEEP=1 keeps the tmp dir.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, promises as fsp, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

import { UringMachine } from 'uringmachine';

setFlagsFromString('--expose-gc');
const exposedGc = runInNewContext('gc') as (opts?: { type: 'major' | 'minor'; execution: 'sync' | 'async' }) => Promise<void> | void;
/**
 * A full mark-compact, as V8 runs on its own. Not gc() without options: that
 * one also drops the maps (hidden classes) V8 keeps for optimised code, so
 * every run started from deoptimised JavaScript (--trace-deopt: "weak
 * objects"), a cost no program pays that does not call gc() itself. And
 * `execution: 'async'`: on Node 20 (V8 11.3) `{ type: 'major', execution:
 * 'sync' }` runs a scavenge (--trace-gc says so), which collects none of
 * the results a run promoted to the old generation; the async form runs a
 * mark-compact there and on Node 24 alike, and the promise settles after it.
 */
const gc = async (): Promise<void> => {
  await exposedGc({ type: 'major', execution: 'async' });
  // The frees of collected buffers come after the collection (V8 sweeps
  // array buffers on a background thread; Node runs the finalizers of
  // external ones as immediates): let them land before the run, or a run
  // finds the memory of the one before still taken (measured: 5 of 12 runs
  // then took fresh memory for all their results).
  await new Promise((r) => setTimeout(r, 20));
};

const SMALL = Number(process.env.SMALL ?? 2000);
const SMALL_SIZE = Number(process.env.SMALL_SIZE ?? 4096);
const LARGE = Number(process.env.LARGE ?? 100);
const LARGE_SIZE = Number(process.env.LARGE_SIZE ?? 1 << 20);
const RUNS = Number(process.env.RUNS ?? 5);
const WARM = Number(process.env.WARM ?? 3);
const ROUNDS = Number(process.env.ROUNDS ?? 3);
/** Set in a contender's own process: the key of the contender it runs. */
const CHILD = process.env.READ_FILES_CHILD;
const CONCURRENCY = Number(process.env.CONCURRENCY ?? 256);

const dir = CHILD !== undefined ? process.env.READ_FILES_DIR! : mkdtempSync(join(tmpdir(), 'um-bench-read-files-'));
const paths: string[] = [];
for (let i = 0; i < SMALL; i++) {
  const p = join(dir, `s${i}`);
  if (CHILD === undefined) writeFileSync(p, Buffer.alloc(SMALL_SIZE, i & 255));
  paths.push(p);
}
for (let i = 0; i < LARGE; i++) {
  const p = join(dir, `l${i}`);
  if (CHILD === undefined) writeFileSync(p, Buffer.alloc(LARGE_SIZE, i & 255));
  paths.push(p);
}
const totalBytes = SMALL * SMALL_SIZE + LARGE * LARGE_SIZE;
if (CHILD === undefined) for (const p of paths) readFileSync(p); // page cache warm

function check(bytes: number, who: string): void {
  if (bytes !== totalBytes) throw new Error(`${who}: read ${bytes} bytes, expected ${totalBytes}`);
}

/**
 * One machine for the process's runs, as a program keeps one: a machine per
 * run made every mark-compact deoptimise readFiles' code (--trace-deopt:
 * "weak objects", the dead machine's objects embedded in optimised code).
 */
let machine: UringMachine | null = null;

async function umReadFiles(direct: boolean): Promise<number> {
  const m = (machine ??= new UringMachine());
  const t0 = process.hrtime.bigint();
  const map = await m.readFiles(paths, { concurrency: CONCURRENCY, direct });
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  let bytes = 0;
  for (const b of map.values()) bytes += b.length;
  check(bytes, 'readFiles');
  return secs;
}

async function promisesAll(): Promise<number> {
  const t0 = process.hrtime.bigint();
  const bufs = await Promise.all(paths.map((p) => fsp.readFile(p)));
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  check(
    bufs.reduce((n, b) => n + b.length, 0),
    'fs.promises',
  );
  return secs;
}

async function syncLoop(): Promise<number> {
  const t0 = process.hrtime.bigint();
  const bufs: Buffer[] = [];
  for (const p of paths) bufs.push(readFileSync(p));
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  check(
    bufs.reduce((n, b) => n + b.length, 0),
    'readFileSync',
  );
  return secs;
}

const root = fileURLToPath(new URL('../../../', import.meta.url));
const cbin = `${root}bench/bin/read_files`;

/** bench/bin/read_files: MODE ring (the op pattern of readFiles) or sync (open/fstat/read/read/close). */
async function cRead(mode: 'ring' | 'sync'): Promise<number> {
  const out = execFileSync(cbin, [dir], {
    // RUNS=1: one untimed warm-up run inside the process (its heap), then one timed run.
    env: { ...process.env, SMALL: String(SMALL), LARGE: String(LARGE), CONCURRENCY: String(CONCURRENCY), RUNS: '1', MODE: mode },
    encoding: 'utf8',
  });
  const r = JSON.parse(out) as { bytes: number; seconds: number };
  check(r.bytes, `c-${mode}`);
  return r.seconds;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1]!;
}

type Sample = { secs: number; cpuUs: number; faults: number };

/** JS contenders, by the key their process is started with. */
const jsContenders: Record<string, { name: string; run: () => Promise<number> }> = {
  a: { name: '(a) m.readFiles', run: () => umReadFiles(true) },
  a2: { name: "(a') m.readFiles({ direct: false })", run: () => umReadFiles(false) },
  b: { name: '(b) Promise.all(fs.promises.readFile)', run: promisesAll },
  c: { name: '(c) fs.readFileSync loop', run: syncLoop },
};

/** In a contender's own process: WARM untimed runs, then RUNS timed ones, as JSON on stdout. */
async function child(key: string): Promise<void> {
  const c = jsContenders[key]!;
  for (let i = 0; i < WARM; i++) {
    await gc();
    await c.run();
  }
  const samples: Sample[] = [];
  for (let i = 0; i < RUNS; i++) {
    await gc();
    const c0 = process.cpuUsage();
    const f0 = process.resourceUsage().minorPageFault;
    const secs = await c.run();
    const u = process.cpuUsage(c0);
    samples.push({ secs, cpuUs: u.user + u.system, faults: process.resourceUsage().minorPageFault - f0 });
  }
  machine?.close();
  process.stdout.write(JSON.stringify(samples));
}

function runChild(key: string): Sample[] {
  const out = execFileSync(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url)], {
    env: { ...process.env, READ_FILES_CHILD: key, READ_FILES_DIR: dir },
    encoding: 'utf8',
    maxBuffer: 1 << 20,
  });
  return JSON.parse(out) as Sample[];
}

async function main(): Promise<void> {
  if (!existsSync(cbin)) {
    try {
      execFileSync('bash', [`${root}bench/c/build.sh`], { stdio: 'inherit' });
    } catch {
      process.stderr.write('bench/c/build.sh failed: the C contender is left out\n');
    }
  }
  const contenders: { name: string; run: () => Promise<Sample[]> }[] = Object.entries(jsContenders).map(([key, c]) => ({
    name: c.name,
    run: async () => runChild(key),
  }));
  if (existsSync(cbin)) {
    for (const [name, mode] of [
      ['(d) C, own ring layer', 'ring'],
      ['(e) C, open/read/close loop', 'sync'],
    ] as const) {
      contenders.push({
        name,
        run: async () => {
          const out: Sample[] = [];
          for (let i = 0; i < RUNS; i++) out.push({ secs: await cRead(mode), cpuUs: NaN, faults: NaN });
          return out;
        },
      });
    }
  }
  const load = readFileSync('/proc/loadavg', 'utf8').split(' ')[0];
  const times = new Map<string, number[]>();
  const cpu = new Map<string, number[]>();
  const faults = new Map<string, number[]>();
  for (let r = 0; r < ROUNDS; r++) {
    // Interleaved, so drift (page cache, CPU frequency) hits every contender
    // alike, in reverse order every other round.
    for (const c of r % 2 === 0 ? contenders : [...contenders].reverse()) {
      for (const smp of await c.run()) {
        if (!times.has(c.name)) times.set(c.name, []);
        times.get(c.name)!.push(smp.secs);
        if (!cpu.has(c.name)) cpu.set(c.name, []);
        cpu.get(c.name)!.push(smp.cpuUs / paths.length);
        if (!faults.has(c.name)) faults.set(c.name, []);
        faults.get(c.name)!.push(smp.faults);
      }
    }
  }
  const med = new Map([...times].map(([k, v]) => [k, median(v)]));
  const medCpu = new Map([...cpu].map(([k, v]) => [k, median(v)]));
  const medFaults = new Map([...faults].map(([k, v]) => [k, median(v)]));
  const c = med.get('(d) C, own ring layer');
  const sync = med.get('(c) fs.readFileSync loop')!;
  const files = paths.length;
  console.log(`\n### read-files: ${SMALL} x ${SMALL_SIZE} B + ${LARGE} x ${LARGE_SIZE} B (${(totalBytes / 2 ** 20).toFixed(1)} MiB), page cache warm\n`);
  console.log(
    `Node ${process.version}, Linux ${release()}, ${cpus()[0]?.model ?? '?'} x ${cpus().length}, median of ${ROUNDS} processes x ${RUNS} runs (after ${WARM} untimed), concurrency ${CONCURRENCY}, load average ${load} at start\n`,
  );
  console.log('| contender | median ms | files/s | MiB/s | x C time | x readFileSync time | CPU µs/file | page faults/run |');
  console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const [name, t] of med) {
    const us = medCpu.get(name);
    console.log(
      `| ${name} | ${(t * 1000).toFixed(1)} | ${Math.round(files / t)} | ${(totalBytes / 2 ** 20 / t).toFixed(0)} | ${c ? (t / c).toFixed(2) : '-'} | ${(t / sync).toFixed(2)} | ${us !== undefined && Number.isFinite(us) ? us.toFixed(2) : '-'} | ${Number.isFinite(medFaults.get(name)) ? medFaults.get(name) : '-'} |`,
    );
  }
  if (process.env.KEEP !== '1') rmSync(dir, { recursive: true, force: true });
  else console.log(`\nfiles kept in ${dir}`);
}

if (CHILD !== undefined) await child(CHILD);
else await main();
