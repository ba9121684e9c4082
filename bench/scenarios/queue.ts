/**
 * bench/queue: GROUPS groups of PRODUCERS producers + CONSUMERS consumers
 * moving ITEMS items per group through the group's queue. Each producer
 * pushes its share and yields after each push; consumers take items until
 * they get an end marker (one per consumer, pushed once the producers are
 * done). Contenders in one run (median of RUNS):
 *   (a) uringmachine: fibers, m.push + `await m.snooze()` (a runqueue
 *       yield), `await m.shift(q)`;
 *   (b) a plain promise-resolver queue (array of items + FIFO of resolvers),
 *       plain async functions, producers yield with `await Promise.resolve()`
 *       (a microtask turn: the closest equivalent of snooze without timers).
 * Env: GROUPS (20), PRODUCERS (5), CONSUMERS (10), ITEMS (100000), RUNS (3),
 * MAX_SWITCHES (machine option maxSwitches: a number or "adaptive").
 */
import { Queue, UringMachine } from 'uringmachine';

const GROUPS = Number(process.env.GROUPS ?? 20);
const PRODUCERS = Number(process.env.PRODUCERS ?? 5);
const CONSUMERS = Number(process.env.CONSUMERS ?? 10);
const ITEMS = Number(process.env.ITEMS ?? 100000);
const RUNS = Number(process.env.RUNS ?? 3);
const MAX_SWITCHES: number | 'adaptive' | undefined =
  process.env.MAX_SWITCHES === undefined ? undefined : process.env.MAX_SWITCHES === 'adaptive' ? 'adaptive' : Number(process.env.MAX_SWITCHES);
const TOTAL = GROUPS * ITEMS;
const END = -1;

class PlainQueue<T> {
  #items: T[] = [];
  #waiters: ((v: T) => void)[] = [];
  push(v: T): void {
    const w = this.#waiters.shift();
    if (w) w(v);
    else this.#items.push(v);
  }
  shift(): Promise<T> {
    if (this.#items.length > 0) return Promise.resolve(this.#items.shift()!);
    return new Promise<T>((r) => this.#waiters.push(r));
  }
}

async function um(): Promise<number> {
  const m = new UringMachine(MAX_SWITCHES === undefined ? {} : { maxSwitches: MAX_SWITCHES });
  let received = 0;
  const t0 = process.hrtime.bigint();
  const fibers = [];
  for (let g = 0; g < GROUPS; g++) {
    const q = new Queue<number>();
    const producers: ReturnType<typeof m.spin<void>>[] = [];
    for (let p = 0; p < PRODUCERS; p++) {
      const n = Math.floor(ITEMS / PRODUCERS) + (p < ITEMS % PRODUCERS ? 1 : 0);
      producers.push(
        m.spin(async () => {
          for (let i = 0; i < n; i++) {
            m.push(q, i);
            await m.snooze();
          }
        }),
      );
    }
    fibers.push(...producers);
    fibers.push(
      m.spin(async () => {
        await m.join(producers);
        for (let c = 0; c < CONSUMERS; c++) m.push(q, END);
      }),
    );
    for (let c = 0; c < CONSUMERS; c++) {
      fibers.push(
        m.spin(async () => {
          while ((await m.shift(q)) !== END) received++;
        }),
      );
    }
  }
  await m.join(fibers);
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  if (received !== TOTAL) throw new Error(`received ${received}`);
  if (m.metrics().opsPending !== 0) throw new Error('ops pending');
  m.close();
  return secs;
}

async function plain(): Promise<number> {
  let received = 0;
  const t0 = process.hrtime.bigint();
  const tasks: Promise<void>[] = [];
  for (let g = 0; g < GROUPS; g++) {
    const q = new PlainQueue<number>();
    const producers: Promise<void>[] = [];
    for (let p = 0; p < PRODUCERS; p++) {
      const n = Math.floor(ITEMS / PRODUCERS) + (p < ITEMS % PRODUCERS ? 1 : 0);
      producers.push(
        (async () => {
          for (let i = 0; i < n; i++) {
            q.push(i);
            await Promise.resolve();
          }
        })(),
      );
    }
    tasks.push(...producers);
    tasks.push(
      (async () => {
        await Promise.all(producers);
        for (let c = 0; c < CONSUMERS; c++) q.push(END);
      })(),
    );
    for (let c = 0; c < CONSUMERS; c++) {
      tasks.push(
        (async () => {
          while ((await q.shift()) !== END) received++;
        })(),
      );
    }
  }
  await Promise.all(tasks);
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  if (received !== TOTAL) throw new Error(`received ${received}`);
  return secs;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

async function main(): Promise<void> {
  const contenders: [string, () => Promise<number>][] = [
    ['uringmachine Queue (push + snooze / shift)', um],
    ['plain promise-resolver queue', plain],
  ];
  const results: [string, number][] = [];
  for (const [name, run] of contenders) {
    await run(); // warm-up
    const times = [];
    for (let i = 0; i < RUNS; i++) times.push(await run());
    results.push([name, median(times)]);
  }
  const plainSecs = results[1]![1];
  console.log(
    `### queue (node ${process.version}; ${GROUPS} groups x (${PRODUCERS} producers + ${CONSUMERS} consumers) x ${ITEMS} items = ${TOTAL} items, median of ${RUNS})\n`,
  );
  console.log('| contender | seconds | items/s | vs plain |');
  console.log('|---|---:|---:|---:|');
  for (const [name, secs] of results) {
    console.log(`| ${name} | ${secs.toFixed(3)} | ${Math.round(TOTAL / secs).toLocaleString('en-US')} | ${(plainSecs / secs).toFixed(2)}x |`);
  }
}

await main();
