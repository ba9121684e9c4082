// Shared pieces of the stress harness (docs/STRESS.md): the size knob, a
// seeded PRNG whose seed is printed (and replayed with UM_STRESS_SEED), a
// position-determined byte pattern for integrity accounting, a watchdog that
// fails a burst that does not settle (with the machine's metrics), the
// process's fd count, and a tally of cancelled ops printed at exit.
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';

import type { UringMachine } from 'uringmachine';
import { countFds, fdTable, leakedFds, LOOP_INODES } from '../helpers.js';

/** UM_STRESS_SCALE: ci (1), large (25) or a number; multiplies every size. */
export const SCALE: number = (() => {
  const v = process.env.UM_STRESS_SCALE ?? 'ci';
  if (v === 'ci') return 1;
  if (v === 'large') return 25;
  const n = Number(v);
  assert.ok(Number.isFinite(n) && n > 0, `UM_STRESS_SCALE=${v}: ci, large or a positive number`);
  return n;
})();

/** A size scaled by SCALE (at least 1). */
export function scaled(n: number): number {
  return Math.max(1, Math.round(n * SCALE));
}

const BASE_SEED = (() => {
  const v = process.env.UM_STRESS_SEED;
  return v === undefined ? (Date.now() ^ (process.pid << 16)) >>> 0 : Number(v) >>> 0;
})();

/** xorshift32-style PRNG (mulberry32): fast, 32-bit state, reproducible. */
export class Rng {
  #s: number;
  readonly seed: number;
  constructor(seed: number) {
    this.seed = seed >>> 0;
    this.#s = this.seed || 0x9e3779b9;
  }
  /** A uint32. */
  u32(): number {
    let t = (this.#s = (this.#s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }
  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor((this.u32() / 0x1_0000_0000) * n);
  }
  /** An integer in [lo, hi]. */
  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }
  /** A float in [0, 1). */
  float(): number {
    return this.u32() / 0x1_0000_0000;
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)]!;
  }
  chance(p: number): boolean {
    return this.float() < p;
  }
}

/**
 * The PRNG of one test: derived from the run's seed and the test's name, so
 * that a test replays alone (--test-name-pattern) with the same choices.
 * Prints the seed (failures name it too, through seedNote()).
 */
export function rngFor(name: string): Rng {
  let h = BASE_SEED ^ 0x811c9dc5;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193) >>> 0;
  const rng = new Rng(h);
  console.log(`# [stress] ${name}: seed ${BASE_SEED} (scale ${SCALE})`);
  return rng;
}

/** The run's seed, for failure messages. */
export function seedNote(): string {
  return `replay: UM_STRESS_SEED=${BASE_SEED} UM_STRESS_SCALE=${process.env.UM_STRESS_SCALE ?? 'ci'}`;
}

/**
 * The byte at stream position k: a hash of k, so that a lost or duplicated
 * run of bytes of any length shifts the pattern and is caught (a period
 * would hide losses of a multiple of it).
 */
export function patternByte(k: number): number {
  let x = Math.imul((k ^ (k / 0x1_0000_0000)) >>> 0, 0x9e3779b1) >>> 0;
  x ^= x >>> 15;
  x = Math.imul(x, 0x85ebca77) >>> 0;
  return (x ^ (x >>> 13)) & 0xff;
}

/** Fill b with the pattern from stream position `pos`. */
export function fillPattern<B extends Uint8Array>(b: B, pos: number): B {
  for (let i = 0; i < b.length; i++) b[i] = patternByte(pos + i);
  return b;
}

/** Check b continues the pattern at `pos`; throws naming the first bad offset. */
export function checkPattern(b: Uint8Array, pos: number, what: string): void {
  for (let i = 0; i < b.length; i++) {
    if (b[i] !== patternByte(pos + i)) {
      assert.fail(`${what}: byte ${pos + i} is ${b[i]}, expected ${patternByte(pos + i)} (lost, duplicated or reordered bytes; ${seedNote()})`);
    }
  }
}

/** Open fds of this process (/proc/self/fd, without the fd of the listing). */
export function fdCount(): number {
  return countFds() - 1;
}

/** The fd table before a test, for assertFdsAsBefore. */
export function fdSnapshot(): Map<string, string> {
  return fdTable();
}

/**
 * The fd table is as it was at `before` (files, pipes and sockets; see
 * leakedFds for which anonymous inodes are left out): nothing the test opened
 * is left open (a leak), and no pipe or socket that was open before was
 * closed (our double close of a number the process reused). A regular file
 * that was open before and is gone now is Node's own: its loader and test
 * runner read files asynchronously while the first test starts, and a count
 * of fds once failed by one for that reason (11 !== 12 in CI). Such a file
 * is printed, not failed.
 */
export function assertFdsAsBefore(before: Map<string, string>, what: string): void {
  const leaked = leakedFds(before);
  const now = fdTable();
  const vanished = [...before].filter(([fd, target]) => now.get(fd) !== target && !LOOP_INODES.has(target));
  const closedByUs = vanished.filter(([, target]) => !target.startsWith('/'));
  const foreign = vanished.filter(([, target]) => target.startsWith('/'));
  if (foreign.length > 0) console.log(`# [stress] ${what}: files open before and closed since (not ours): ${foreign.map(([fd, t]) => `${fd} -> ${t}`).join(', ')}`);
  assert.deepEqual(leaked, [], `${what}: fds leaked (${seedNote()})`);
  assert.deepEqual(
    closedByUs.map(([fd, t]) => `${fd} -> ${t}`),
    [],
    `${what}: pipes or sockets open before the test were closed (a double close; ${seedNote()})`,
  );
}

/** Totals of the run, printed by the files at the end. */
export const tally = { cancelled: 0, raced: 0, bytes: 0, ops: 0 };

/** Print this file's totals (from an `after` hook). */
export function printTally(file: string, t0: number): void {
  const s = ((Date.now() - t0) / 1000).toFixed(1);
  console.log(
    `# [stress] ${file}: ${tally.cancelled} cancelled ops (${tally.raced} raced a completion), ` +
      `${tally.bytes} bytes checked, ${tally.ops} ops, ${s} s`,
  );
}

/**
 * Run fn; if it has not settled after `ms`, fail with a dump of m.metrics()
 * (a bound that detects hangs, not a performance threshold: it is seconds
 * for work done in milliseconds). The machine is closed on a hang, so that
 * the fibers stuck in it end.
 */
export async function watchdog<T>(m: UringMachine, ms: number, what: string, fn: () => Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const hang = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      let metrics: unknown;
      try {
        metrics = m.metrics();
      } catch (e) {
        metrics = String(e);
      }
      reject(new Error(`${what}: not settled after ${ms} ms (hang); metrics ${JSON.stringify(metrics)}; ${seedNote()}`));
      // Close the machine: its stuck ops reject and stop keeping the process alive.
      try {
        m.close();
      } catch {
        // already closed
      }
    }, ms);
  });
  try {
    return await Promise.race([fn(), hang]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Like watchdog, for long runs: fails only when progress() has not changed
 * for `ms` (a stall), however long the whole run takes.
 */
export async function watchProgress<T>(m: UringMachine, ms: number, what: string, progress: () => number, fn: () => Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  let last = progress();
  const stall = new Promise<never>((_, reject) => {
    timer = setInterval(() => {
      const now = progress();
      if (now !== last) {
        last = now;
        return;
      }
      let metrics: unknown;
      try {
        metrics = m.metrics();
      } catch (e) {
        metrics = String(e);
      }
      reject(new Error(`${what}: no progress for ${ms} ms (stuck at ${now}); metrics ${JSON.stringify(metrics)}; ${seedNote()}`));
      try {
        m.close();
      } catch {
        // already closed
      }
    }, ms);
  });
  try {
    return await Promise.race([fn(), stall]);
  } finally {
    clearInterval(timer);
  }
}
