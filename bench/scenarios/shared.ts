/**
 * bench/shared: coordination across two worker threads. Contenders in one
 * run (median of RUNS; each run spawns fresh workers, the clock starts when
 * both have reported ready and ends when both are done):
 *   queue: ITEMS items of SIZE bytes from a producer worker to a consumer
 *     worker:
 *       (a) SharedQueue (capacity CAPACITY): one fiber per worker, m.push /
 *           m.shift (futex wait/wake through each worker's ring when it must wait);
 *       (b) MessagePort.postMessage over a MessageChannel (the bytes are
 *           structured-cloned), consumer counts 'message' events.
 *   mutex: each of two workers locks and unlocks LOCKS times, incrementing a
 *     plain (non-atomic) shared counter inside:
 *       (a) SharedMutex with m.synchronize;
 *       (b) a three-state lock word with Atomics.compareExchange/exchange and
 *           `await Atomics.waitAsync(...)` / Atomics.notify for waiting.
 * Env: ITEMS (200000), SIZE (64), CAPACITY (1024), LOCKS (100000), RUNS (3).
 */
import { MessageChannel, type MessagePort, Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';

import { SharedMutex, SharedQueue, UringMachine } from 'uringmachine';

const ITEMS = Number(process.env.ITEMS ?? 200000);
const SIZE = Number(process.env.SIZE ?? 64);
const CAPACITY = Number(process.env.CAPACITY ?? 1024);
const LOCKS = Number(process.env.LOCKS ?? 100000);
const RUNS = Number(process.env.RUNS ?? 3);

type Job =
  | { kind: 'sq-produce' | 'sq-consume'; sab: SharedArrayBuffer; off: number; n: number; size: number }
  | { kind: 'port-produce' | 'port-consume'; port: MessagePort; n: number; size: number }
  | { kind: 'smu' | 'atomics'; sab: SharedArrayBuffer; counter: SharedArrayBuffer; n: number };

// ---- worker side ----------------------------------------------------------------

/** Atomics.waitAsync (ES2024; Node >= 16), typed here since the TS lib targets an older ES. */
const waitAsync = (Atomics as unknown as {
  waitAsync(a: Int32Array, i: number, v: number): { async: boolean; value: Promise<string> | string };
}).waitAsync;

/** Lock word protocol 0/1/2 with Atomics.waitAsync for waiting (the plain contender). */
async function atomicsLock(w: Int32Array): Promise<void> {
  if (Atomics.compareExchange(w, 0, 0, 1) === 0) return;
  while (Atomics.exchange(w, 0, 2) !== 0) {
    const r = waitAsync(w, 0, 2);
    if (r.async) await r.value;
  }
}

function atomicsUnlock(w: Int32Array): void {
  if (Atomics.exchange(w, 0, 0) === 2) Atomics.notify(w, 0, 1);
}

async function work(job: Job, go: Promise<void>): Promise<void> {
  const m = new UringMachine();
  try {
    switch (job.kind) {
      case 'sq-produce': {
        const q = SharedQueue.from(job.sab, job.off);
        const item = Buffer.alloc(job.size, 7);
        await go;
        await m.join(
          m.spin(async () => {
            for (let i = 0; i < job.n; i++) await m.push(q, item);
          }),
        );
        break;
      }
      case 'sq-consume': {
        const q = SharedQueue.from(job.sab, job.off);
        await go;
        await m.join(
          m.spin(async () => {
            for (let i = 0; i < job.n; i++) {
              const v = (await m.shift(q)) as Buffer;
              if (v.length !== job.size) throw new Error('bad item');
            }
          }),
        );
        break;
      }
      case 'port-produce': {
        const item = Buffer.alloc(job.size, 7);
        await go;
        for (let i = 0; i < job.n; i++) job.port.postMessage(item);
        break;
      }
      case 'port-consume': {
        let n = 0;
        const done = new Promise<void>((resolve) => {
          job.port.on('message', (v: Uint8Array) => {
            if (v.length !== job.size) throw new Error('bad item');
            if (++n === job.n) resolve();
          });
        });
        await go;
        await done;
        job.port.close();
        break;
      }
      case 'smu': {
        const mu = SharedMutex.from(job.sab, 0);
        const c = new Int32Array(job.counter);
        const inc = (): void => {
          c[0] = c[0]! + 1;
        };
        await go;
        await m.join(
          m.spin(async () => {
            for (let i = 0; i < job.n; i++) await m.synchronize(mu, inc);
          }),
        );
        break;
      }
      case 'atomics': {
        const w = new Int32Array(job.sab, 0, 1);
        const c = new Int32Array(job.counter);
        await go;
        // A pending Atomics.waitAsync does not keep a thread's event loop alive.
        const keepAlive = setInterval(() => undefined, 1000);
        for (let i = 0; i < job.n; i++) {
          await atomicsLock(w);
          c[0] = c[0]! + 1;
          atomicsUnlock(w);
        }
        clearInterval(keepAlive);
        break;
      }
    }
    for (let i = 0; i < 1000 && m.metrics().opsPending > 0; i++) await m.sleep(1);
  } finally {
    m.close();
  }
}

if (!isMainThread) {
  const port = parentPort!;
  let start!: () => void;
  const go = new Promise<void>((r) => (start = r));
  port.once('message', () => start());
  const done = work(workerData as Job, go);
  port.postMessage('ready');
  done.then(
    () => port.postMessage('done'),
    (e) => port.postMessage(`error: ${(e as Error)?.stack ?? String(e)}`),
  );
}

// ---- main side ----------------------------------------------------------------

async function runPair(a: Job, b: Job, transfer: [MessagePort[], MessagePort[]] = [[], []]): Promise<number> {
  const url = new URL(import.meta.url);
  const ws = [new Worker(url, { workerData: a, transferList: transfer[0] }), new Worker(url, { workerData: b, transferList: transfer[1] })];
  const exited = ws.map((w) => new Promise((r) => w.once('exit', r)));
  const ready = ws.map((w) => new Promise<void>((r) => w.once('message', () => r())));
  await Promise.all(ready);
  const done = ws.map(
    (w) =>
      new Promise<void>((resolve, reject) => {
        w.once('message', (msg: string) => (msg === 'done' ? resolve() : reject(new Error(msg))));
        w.once('error', reject);
      }),
  );
  const t0 = process.hrtime.bigint();
  for (const w of ws) w.postMessage('go');
  await Promise.all(done);
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  await Promise.all(exited);
  return secs;
}

function sharedQueue(): Promise<number> {
  const q = new SharedQueue({ capacity: CAPACITY, bytes: Math.max(CAPACITY * (SIZE + 8), 1024) });
  const base = { sab: q.buffer, off: q.byteOffset, n: ITEMS, size: SIZE };
  return runPair({ kind: 'sq-produce', ...base }, { kind: 'sq-consume', ...base });
}

function messagePort(): Promise<number> {
  const { port1, port2 } = new MessageChannel();
  return runPair(
    { kind: 'port-produce', port: port1, n: ITEMS, size: SIZE },
    { kind: 'port-consume', port: port2, n: ITEMS, size: SIZE },
    [[port1], [port2]],
  );
}

async function lockPair(kind: 'smu' | 'atomics'): Promise<number> {
  const sab = kind === 'smu' ? new SharedMutex().buffer : new SharedArrayBuffer(4);
  const counter = new SharedArrayBuffer(4);
  const job: Job = { kind, sab, counter, n: LOCKS };
  const secs = await runPair(job, job);
  const got = new Int32Array(counter)[0];
  if (got !== 2 * LOCKS) throw new Error(`${kind}: counter ${got}, expected ${2 * LOCKS}: no mutual exclusion`);
  return secs;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

async function measure(run: () => Promise<number>): Promise<number> {
  await run(); // warm-up
  const times = [];
  for (let i = 0; i < RUNS; i++) times.push(await run());
  return median(times);
}

async function main(): Promise<void> {
  const sq = await measure(sharedQueue);
  const pm = await measure(messagePort);
  console.log(`### shared queue across two workers (node ${process.version}; ${ITEMS} items of ${SIZE} bytes, capacity ${CAPACITY}, median of ${RUNS})\n`);
  console.log('| contender | seconds | items/s | vs postMessage |');
  console.log('|---|---:|---:|---:|');
  console.log(`| SharedQueue m.push/m.shift | ${sq.toFixed(3)} | ${Math.round(ITEMS / sq).toLocaleString('en-US')} | ${(pm / sq).toFixed(2)}x |`);
  console.log(`| MessagePort.postMessage | ${pm.toFixed(3)} | ${Math.round(ITEMS / pm).toLocaleString('en-US')} | 1.00x |`);
  const smu = await measure(() => lockPair('smu'));
  const at = await measure(() => lockPair('atomics'));
  const total = 2 * LOCKS;
  console.log(`\n### shared mutex across two workers (node ${process.version}; 2 workers x ${LOCKS} lock/unlock, median of ${RUNS})\n`);
  console.log('| contender | seconds | locks/s | vs Atomics.waitAsync |');
  console.log('|---|---:|---:|---:|');
  console.log(`| SharedMutex m.synchronize | ${smu.toFixed(3)} | ${Math.round(total / smu).toLocaleString('en-US')} | ${(at / smu).toFixed(2)}x |`);
  console.log(`| Atomics.waitAsync lock | ${at.toFixed(3)} | ${Math.round(total / at).toLocaleString('en-US')} | 1.00x |`);
}

if (isMainThread) await main();
