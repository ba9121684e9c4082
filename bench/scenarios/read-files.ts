/**
 * bench/read-files: read SMALL files of SMALL_SIZE bytes and LARGE files of
 * LARGE_SIZE bytes whole (created once in a tmp dir; page cache warm: all
 * are read once before timing). Contenders, each run RUNS times (median):
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
 * CPU µs/file: this process's user + system time (all its threads, io-wq
 * workers and libuv's pool included) per file; page faults/run: its minor
 * faults during the run (fresh result memory the kernel or a copy touches
 * first); neither shown for (d) and (e), children.
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
const exposedGc = runInNewContext('gc') as (opts?: { type: 'major' | 'minor'; execution: 'sync' | 'async' }) => void;
/**
 * A full mark-compact, as V8 runs on its own. Not gc() without options: that
 * one also drops the maps (hidden classes) V8 keeps for optimised code, so
 * every run started from deoptimised JavaScript (--trace-deopt: "weak
 * objects"; readFiles recompiled its hot functions in every run, 11 deopts
 * and ~170 compilations in 16 calls against 0 and ~90 with this one), a cost
 * no program pays that does not call gc() itself.
 */
const gc = (): void => exposedGc({ type: 'major', execution: 'sync' });

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
    { name: '(a) m.readFiles', run: () => umReadFiles(true) },
    { name: "(a') m.readFiles({ direct: false })", run: () => umReadFiles(false) },
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
  const faults = new Map<string, number[]>();
  for (let r = 0; r < RUNS; r++) {
    // Interleaved, so drift (page cache, CPU frequency) hits every contender
    // alike, in reverse order every other round, and each starts on a
    // collected heap: else a contender that runs after another's 108 MiB of
    // results pays for their collection (measured: it moved readFiles' CPU
    // per file by a third, depending on its place in the order).
    for (const c of r % 2 === 0 ? contenders : [...contenders].reverse()) {
      gc();
      const c0 = process.cpuUsage();
      const f0 = process.resourceUsage().minorPageFault;
      const t = await c.run();
      const u = process.cpuUsage(c0);
      const pf = process.resourceUsage().minorPageFault - f0;
      // (d) and (e) are child processes: their CPU is not this process's (shown as '-').
      const us = c.name.startsWith('(d)') || c.name.startsWith('(e)') ? NaN : u.user + u.system;
      if (!times.has(c.name)) times.set(c.name, []);
      times.get(c.name)!.push(t);
      if (!cpu.has(c.name)) cpu.set(c.name, []);
      cpu.get(c.name)!.push(us / paths.length);
      if (!faults.has(c.name)) faults.set(c.name, []);
      faults.get(c.name)!.push(c.name.startsWith('(d)') || c.name.startsWith('(e)') ? NaN : pf);
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
    `Node ${process.version}, Linux ${release()}, ${cpus()[0]?.model ?? '?'} x ${cpus().length}, median of ${RUNS} runs, concurrency ${CONCURRENCY}, load average ${load} at start\n`,
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

await main();
