/**
 * bench/read-files: read SMALL files of SMALL_SIZE bytes and LARGE files of
 * LARGE_SIZE bytes whole (created once in a tmp dir; page cache warm: all
 * are read once before timing). Contenders, each run RUNS times (median):
 *   (a) m.readFiles(paths) (uringmachine: openat, then a hardlinked
 *       read (32 KiB scratch) / EOF-check read / close chain per file; a
 *       larger file again with openat+statx and a chain reading its size;
 *       256 files in flight), and (a') the same with { direct: true }: the
 *       files opened as direct descriptors in the ring's file table (the
 *       before/after pair of the fixed-files change);
 *   (b) Promise.all(paths.map((p) => fs.promises.readFile(p)));
 *   (c) a fs.readFileSync loop;
 *   (d) bench/bin/read_files: C on the project's own ring layer, the same
 *       op pattern as (a), no JavaScript;
 *   (e) the same program with MODE=sync: open / fstat / read / read / close
 *       per file, the same buffers kept and freed the same way (what (d) is
 *       measured against).
 * Env: SMALL (2000), SMALL_SIZE (4096), LARGE (100), LARGE_SIZE (1048576),
 * CPU µs/file: this process's user + system time (all its threads, io-wq
 * workers and libuv's pool included) per file; not shown for (d), a child.
 * RUNS (5) after one untimed warm-up round, CONCURRENCY (256, for (a) and (d)), KEEP=1 keeps the tmp dir.
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
const gc = runInNewContext('gc') as () => void;

const SMALL = Number(process.env.SMALL ?? 2000);
const SMALL_SIZE = Number(process.env.SMALL_SIZE ?? 4096);
const LARGE = Number(process.env.LARGE ?? 100);
const LARGE_SIZE = Number(process.env.LARGE_SIZE ?? 1 << 20);
const RUNS = Number(process.env.RUNS ?? 5);
const CONCURRENCY = Number(process.env.CONCURRENCY ?? 256);

const dir = mkdtempSync(join(tmpdir(), 'um-bench-read-files-'));
const paths: string[] = [];
for (let i = 0; i < SMALL; i++) {
  const p = join(dir, `s${i}`);
  writeFileSync(p, Buffer.alloc(SMALL_SIZE, i & 255));
  paths.push(p);
}
for (let i = 0; i < LARGE; i++) {
  const p = join(dir, `l${i}`);
  writeFileSync(p, Buffer.alloc(LARGE_SIZE, i & 255));
  paths.push(p);
}
const totalBytes = SMALL * SMALL_SIZE + LARGE * LARGE_SIZE;
for (const p of paths) readFileSync(p); // page cache warm

function check(bytes: number, who: string): void {
  if (bytes !== totalBytes) throw new Error(`${who}: read ${bytes} bytes, expected ${totalBytes}`);
}

type Timed = { secs: number; cpuUs: number };

async function umReadFiles(direct: boolean): Promise<number> {
  const m = new UringMachine();
  const t0 = process.hrtime.bigint();
  const map = await m.readFiles(paths, { concurrency: CONCURRENCY, direct });
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  let bytes = 0;
  for (const b of map.values()) bytes += b.length;
  check(bytes, 'readFiles');
  m.close();
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

async function main(): Promise<void> {
  if (!existsSync(cbin)) {
    try {
      execFileSync('bash', [`${root}bench/c/build.sh`], { stdio: 'inherit' });
    } catch {
      process.stderr.write('bench/c/build.sh failed: the C contender is left out\n');
    }
  }
  const contenders: { name: string; run: () => Promise<number> }[] = [
    { name: '(a) m.readFiles', run: () => umReadFiles(false) },
    { name: "(a') m.readFiles({ direct: true })", run: () => umReadFiles(true) },
    { name: '(b) Promise.all(fs.promises.readFile)', run: promisesAll },
    { name: '(c) fs.readFileSync loop', run: syncLoop },
  ];
  if (existsSync(cbin)) {
    contenders.push({ name: '(d) C, own ring layer', run: () => cRead('ring') });
    contenders.push({ name: '(e) C, open/read/close loop', run: () => cRead('sync') });
  }
  // One untimed round: the JIT warms up as the page cache did.
  for (const c of contenders) await c.run();
  const load = readFileSync('/proc/loadavg', 'utf8').split(' ')[0];
  const times = new Map<string, number[]>();
  const cpu = new Map<string, number[]>();
  for (let r = 0; r < RUNS; r++) {
    // Interleaved, so drift (page cache, CPU frequency) hits every contender
    // alike, in reverse order every other round, and each starts on a
    // collected heap: else a contender that runs after another's 108 MiB of
    // results pays for their collection (measured: it moved readFiles' CPU
    // per file by a third, depending on its place in the order).
    for (const c of r % 2 === 0 ? contenders : [...contenders].reverse()) {
      gc();
      const c0 = process.cpuUsage();
      const t = await c.run();
      const u = process.cpuUsage(c0);
      // (d) and (e) are child processes: their CPU is not this process's (shown as '-').
      const us = c.name.startsWith('(d)') || c.name.startsWith('(e)') ? NaN : u.user + u.system;
      if (!times.has(c.name)) times.set(c.name, []);
      times.get(c.name)!.push(t);
      if (!cpu.has(c.name)) cpu.set(c.name, []);
      cpu.get(c.name)!.push(us / paths.length);
    }
  }
  const med = new Map([...times].map(([k, v]) => [k, median(v)]));
  const medCpu = new Map([...cpu].map(([k, v]) => [k, median(v)]));
  const c = med.get('(d) C, own ring layer');
  const sync = med.get('(c) fs.readFileSync loop')!;
  const files = paths.length;
  console.log(`\n### read-files: ${SMALL} x ${SMALL_SIZE} B + ${LARGE} x ${LARGE_SIZE} B (${(totalBytes / 2 ** 20).toFixed(1)} MiB), page cache warm\n`);
  console.log(
    `Node ${process.version}, Linux ${release()}, ${cpus()[0]?.model ?? '?'} x ${cpus().length}, median of ${RUNS} runs, concurrency ${CONCURRENCY}, load average ${load} at start\n`,
  );
  console.log('| contender | median ms | files/s | MiB/s | x C time | x readFileSync time | CPU µs/file |');
  console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const [name, t] of med) {
    const us = medCpu.get(name);
    console.log(
      `| ${name} | ${(t * 1000).toFixed(1)} | ${Math.round(files / t)} | ${(totalBytes / 2 ** 20 / t).toFixed(0)} | ${c ? (t / c).toFixed(2) : '-'} | ${(t / sync).toFixed(2)} | ${us !== undefined && Number.isFinite(us) ? us.toFixed(2) : '-'} |`,
    );
  }
  if (process.env.KEEP !== '1') rmSync(dir, { recursive: true, force: true });
  else console.log(`\nfiles kept in ${dir}`);
}

await main();
