/**
 * bench/mutex: GROUPS groups of FIBERS fibers; the fibers of a group take
 * the group's mutex LOCKS times each, incrementing a counter inside the
 * critical section (an async fn, no I/O). Contenders in one run (median of
 * RUNS):
 *   (a) uringmachine: fibers + m.synchronize(mu, fn);
 *   (b) async-mutex: plain async functions + Mutex.runExclusive(fn);
 *   (c) a plain ~15-line promise mutex (FIFO of resolvers), plain async functions.
 * Env: GROUPS (20), FIBERS (10), LOCKS (10000), RUNS (3), MAX_SWITCHES (machine
 * option maxSwitches: a number or "adaptive"; default: the machine default).
 */
import { Mutex as AsyncMutex } from 'async-mutex';

import { Mutex, UringMachine } from 'uringmachine';

const GROUPS = Number(process.env.GROUPS ?? 20);
const FIBERS = Number(process.env.FIBERS ?? 10);
const LOCKS = Number(process.env.LOCKS ?? 10000);
const RUNS = Number(process.env.RUNS ?? 3);
const MAX_SWITCHES: number | 'adaptive' | undefined =
  process.env.MAX_SWITCHES === undefined ? undefined : process.env.MAX_SWITCHES === 'adaptive' ? 'adaptive' : Number(process.env.MAX_SWITCHES);
const TOTAL = GROUPS * FIBERS * LOCKS;

/** The plain contender: a FIFO promise mutex. */
class PlainMutex {
  #locked = false;
  #waiters: (() => void)[] = [];
  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.#locked) await new Promise<void>((r) => this.#waiters.push(r));
    else this.#locked = true;
    try {
      return await fn();
    } finally {
      const next = this.#waiters.shift();
      if (next) next();
      else this.#locked = false;
    }
  }
}

function check(counters: number[]): void {
  for (const c of counters) if (c !== FIBERS * LOCKS) throw new Error(`bad count ${c}`);
}

async function um(): Promise<number> {
  const m = new UringMachine(MAX_SWITCHES === undefined ? {} : { maxSwitches: MAX_SWITCHES });
  const counters = new Array<number>(GROUPS).fill(0);
  const t0 = process.hrtime.bigint();
  const fibers = [];
  for (let g = 0; g < GROUPS; g++) {
    const mu = new Mutex();
    const inc = async (): Promise<void> => {
      counters[g]!++;
    };
    for (let f = 0; f < FIBERS; f++) {
      fibers.push(
        m.spin(async () => {
          for (let i = 0; i < LOCKS; i++) await m.synchronize(mu, inc);
        }),
      );
    }
  }
  await m.join(fibers);
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  check(counters);
  if (m.metrics().opsPending !== 0) throw new Error('ops pending');
  m.close();
  return secs;
}

async function asyncMutex(): Promise<number> {
  const counters = new Array<number>(GROUPS).fill(0);
  const t0 = process.hrtime.bigint();
  const tasks = [];
  for (let g = 0; g < GROUPS; g++) {
    const mu = new AsyncMutex();
    const inc = async (): Promise<void> => {
      counters[g]!++;
    };
    for (let f = 0; f < FIBERS; f++) {
      tasks.push(
        (async () => {
          for (let i = 0; i < LOCKS; i++) await mu.runExclusive(inc);
        })(),
      );
    }
  }
  await Promise.all(tasks);
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  check(counters);
  return secs;
}

async function plain(): Promise<number> {
  const counters = new Array<number>(GROUPS).fill(0);
  const t0 = process.hrtime.bigint();
  const tasks = [];
  for (let g = 0; g < GROUPS; g++) {
    const mu = new PlainMutex();
    const inc = async (): Promise<void> => {
      counters[g]!++;
    };
    for (let f = 0; f < FIBERS; f++) {
      tasks.push(
        (async () => {
          for (let i = 0; i < LOCKS; i++) await mu.run(inc);
        })(),
      );
    }
  }
  await Promise.all(tasks);
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  check(counters);
  return secs;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

async function main(): Promise<void> {
  const contenders: [string, () => Promise<number>][] = [
    ['uringmachine m.synchronize', um],
    ['async-mutex runExclusive', asyncMutex],
    ['plain promise mutex', plain],
  ];
  const results: [string, number][] = [];
  for (const [name, run] of contenders) {
    await run(); // warm-up
    const times = [];
    for (let i = 0; i < RUNS; i++) times.push(await run());
    results.push([name, median(times)]);
  }
  const plainSecs = results[2]![1];
  console.log(`### mutex (node ${process.version}; ${GROUPS} groups x ${FIBERS} fibers x ${LOCKS} locks = ${TOTAL} locks, median of ${RUNS})\n`);
  console.log('| contender | seconds | locks/s | vs plain |');
  console.log('|---|---:|---:|---:|');
  for (const [name, secs] of results) {
    console.log(`| ${name} | ${secs.toFixed(3)} | ${Math.round(TOTAL / secs).toLocaleString('en-US')} | ${(plainSecs / secs).toFixed(2)}x |`);
  }
}

await main();
