/**
 * bench/sweep-read-files: the cost curve of reading N small files whole,
 * N in SIZES (100, 1,000, 10,000, 100,000), in µs per file. The files
 * (FILE_SIZE bytes each, 4 KiB) are made once in DIR (os.tmpdir(), i.e.
 * /tmp on this machine's disk-backed root file system; DIR=/dev/shm for
 * tmpfs), all read once before timing (page cache warm), and removed at the
 * end. Size N reads the first N of them. Contenders, interleaved per sample:
 *   - m.readFiles(paths) (one machine per sample, concurrency 256),
 *   - Promise.all(paths.map(fs.promises.readFile)),
 *   - a fs.readFileSync loop,
 *   - bench/bin/read_files (C on the project's ring layer, the op pattern of
 *     readFiles; per sample one process doing one untimed and then
 *     max(5, MIN_FILES / N) timed runs, the median of which is its wall time).
 * A sample repeats the read until MIN_FILES (10,000) files have been read
 * (so 100 files are read 100 times), and is the total time over files read
 * — CPU time of the process, all threads (libuv's pool, io-wq workers), and
 * wall time; for C, its children's CPU time over all its runs;
 * each contender's figure is the median of RUNS (3) samples (after two
 * warm-up samples at the sizes up to 1,000). A contender that fails at a size
 * (Promise.all opens every file at once: EMFILE once N passes
 * RLIMIT_NOFILE) is reported so and not run at the larger sizes. Plot (CPU
 * µs per file): bench/sweep-read-files.png (PLOT). Env: SIZES, FILE_SIZE,
 * RUNS, MIN_FILES, DIR, KEEP=1 (keep the files). About 60–120 s on the
 * 2-core machine (the more the busier it is), most of it at 100,000 files;
 * opt-in (BENCH=sweep-read-files or BENCH=sweeps).
 */
import { existsSync, mkdirSync, mkdtempSync, promises as fsp, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { UringMachine } from 'uringmachine';

import { flatness, type CurvePoint } from '../lib/plot.js';
import { cpuNow, fmt, loadavg, median, report, root, runC, sizes, smoke } from '../lib/sweep.js';

const SIZES = sizes(smoke ? [10, 100] : [100, 1000, 10_000, 100_000]);
const FILE_SIZE = Number(process.env.FILE_SIZE ?? 4096);
const RUNS = Number(process.env.RUNS ?? (smoke ? 1 : 3));
const MIN_FILES = Number(process.env.MIN_FILES ?? (smoke ? 200 : 10_000));
const CONCURRENCY = 256;
const PLOT = process.env.PLOT ?? `${root}${smoke ? 'out/bench/sweep-read-files-smoke.png' : 'bench/sweep-read-files.png'}`;
const cbin = `${root}bench/bin/read_files`;

const base = process.env.DIR ?? tmpdir();
mkdirSync(base, { recursive: true });
const dir = mkdtempSync(join(base, 'um-sweep-read-files-'));
const maxN = Math.max(...SIZES);
const all: string[] = [];

/** Returns the bytes read; `m` is the sample's machine (made before its clock starts). */
type Run = (paths: string[], m: UringMachine) => Promise<number>;

function sum(bufs: Iterable<Uint8Array>): number {
  let n = 0;
  for (const b of bufs) n += b.length;
  return n;
}

const contenders: { name: string; run?: Run; c?: true }[] = [
  {
    name: 'm.readFiles',
    run: async (paths, m) => sum((await m.readFiles(paths, { concurrency: CONCURRENCY })).values()),
  },
  {
    name: 'Promise.all(fs.promises.readFile)',
    run: async (paths) => {
      const reads = paths.map((p) => fsp.readFile(p));
      try {
        return sum(await Promise.all(reads));
      } catch (e) {
        await Promise.allSettled(reads); // the reads still open must close before the next contender runs
        throw e;
      }
    },
  },
  {
    name: 'readFileSync loop',
    run: async (paths) => {
      const bufs: Buffer[] = [];
      for (const p of paths) bufs.push(readFileSync(p));
      return sum(bufs);
    },
  },
];
if (existsSync(cbin)) contenders.push({ name: 'C, own ring layer', c: true });
else console.error(`${cbin} not built (bash bench/c/build.sh): the C contender is left out`);

/** Wall and CPU seconds per file of one sample at size n. */
async function sample(c: (typeof contenders)[number], n: number): Promise<{ wall: number; cpu: number }> {
  const paths = all.slice(0, n);
  const reps = Math.max(1, Math.ceil(MIN_FILES / n));
  if (c.c) {
    // Its own runs in one process: one untimed, then `reps` (at least 5) timed, median printed.
    const runs = Math.max(5, reps);
    const r = runC(cbin, [dir], { SMALL: String(n), LARGE: '0', CONCURRENCY: String(CONCURRENCY), RUNS: String(runs) });
    const j = JSON.parse(r.out) as { bytes: number; seconds: number };
    if (j.bytes !== n * FILE_SIZE) throw new Error(`C: read ${j.bytes} bytes, expected ${n * FILE_SIZE}`);
    return { wall: j.seconds / n, cpu: r.cpu / ((runs + 1) * n) };
  }
  // No gc() before a sample: measured, a forced full collection made the
  // next readFiles sample slower (13-24 against 8-10 µs per file at 100 files),
  // the heap growing back through it.
  const m = new UringMachine();
  try {
    const c0 = cpuNow();
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < reps; i++) {
      const bytes = await c.run!(paths, m);
      if (bytes !== n * FILE_SIZE) throw new Error(`${c.name}: read ${bytes} bytes, expected ${n * FILE_SIZE}`);
    }
    const wall = Number(process.hrtime.bigint() - t0) / 1e9 / (reps * n);
    return { wall, cpu: (cpuNow() - c0) / (reps * n) };
  } finally {
    m.close();
  }
}

async function main(): Promise<void> {
  const load = loadavg();
  const t0 = Date.now();
  const data = Buffer.alloc(FILE_SIZE, 0x5a);
  for (let i = 0; i < maxN; i++) {
    const p = join(dir, `s${i}`);
    writeFileSync(p, data);
    all.push(p);
  }
  for (const p of all) readFileSync(p); // page cache warm
  const made = (Date.now() - t0) / 1000;
  const points: CurvePoint[] = []; // CPU µs per file
  const wall: CurvePoint[] = []; // wall µs per file
  const extra = new Map<string, string>();
  const failed = new Map<string, string>(); // a contender that failed at a size is not run at larger ones
  const phases: string[] = [];
  for (const n of SIZES) {
    const ts0 = Date.now();
    const live = () => contenders.filter((c) => !failed.has(c.name));
    const times = new Map<string, { wall: number; cpu: number }[]>(contenders.map((c) => [c.name, []]));
    const one = async (c: (typeof contenders)[number], keep: boolean) => {
      try {
        const t = await sample(c, n);
        if (keep) times.get(c.name)!.push(t);
      } catch (e) {
        const msg = String((e as Error)?.message ?? e).split('\n')[0]!;
        failed.set(c.name, `${c.name} failed at ${n.toLocaleString('en-US')} files: ${msg}`);
        console.error(failed.get(c.name));
      }
    };
    // Warm-up (JIT, heap: readFiles settles after about two samples) at the
    // small sizes; the large ones follow them.
    if (n <= 1000) for (let w = 0; w < 2; w++) for (const c of live()) await one(c, false);
    for (let r = 0; r < RUNS; r++) for (const c of live()) await one(c, true);
    for (const [name, ts] of times) {
      if (ts.length !== RUNS) continue;
      points.push({ series: name, x: n, y: median(ts.map((t) => t.cpu)) * 1e6 });
      wall.push({ series: name, x: n, y: median(ts.map((t) => t.wall)) * 1e6 });
      extra.set(`${name}@${n}`, `${fmt(median(ts.map((t) => t.wall)) * 1e6)} wall`);
    }
    phases.push(`${n.toLocaleString('en-US')}: ${((Date.now() - ts0) / 1000).toFixed(1)} s`);
  }
  const secs = (Date.now() - t0) / 1000;
  await report({
    title:
      `### sweep-read-files — N × ${FILE_SIZE} B files in ${base} (page cache warm), ` +
      `CPU µs per file (all threads; wall µs per file in brackets) ` +
      `(node ${process.version}; median of ${RUNS}; ≥ ${MIN_FILES.toLocaleString('en-US')} files per sample; ` +
      `load average ${load} at start; ${secs.toFixed(0)} s, of which ${made.toFixed(1)} s making the files)`,
    sizeName: 'files',
    cost: 'CPU µs/file',
    points,
    extra,
    plotFile: PLOT,
    plotTitle: `reading N × ${FILE_SIZE / 1024} KiB files: CPU µs per file`,
  });
  const wf = flatness(wall);
  console.log(`\nwall time, largest / smallest µs per file: ${[...wf].map(([k, v]) => `${k} ${v.toFixed(2)}×`).join(', ')}`);
  const um = (n: number, s: string) => wall.find((p) => p.x === n && p.series === s)?.y;
  const ratios = SIZES.filter((n) => um(n, 'm.readFiles')).map((n) => {
    const a = um(n, 'm.readFiles')!;
    const parts = [`${n}: ×sync ${(a / um(n, 'readFileSync loop')!).toFixed(2)}`];
    const pa = um(n, 'Promise.all(fs.promises.readFile)');
    if (pa) parts.push(`×Promise.all ${(a / pa).toFixed(2)}`);
    const c = um(n, 'C, own ring layer');
    if (c) parts.push(`×C ${(a / c).toFixed(2)}`);
    return parts.join(', ');
  });
  console.log(`m.readFiles wall time relative to: ${ratios.join('; ')}`);
  console.log(`time per size: ${phases.join(', ')}`);
  for (const f of failed.values()) console.log(`\n${f}`);
}

try {
  await main();
} finally {
  if (process.env.KEEP !== '1') rmSync(dir, { recursive: true, force: true });
  else console.log(`\nfiles kept in ${dir}`);
}
