// SharedMutex and SharedQueue: shared memory + io_uring futex wait/wake,
// within one machine, between machines of one thread, and across workers.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Worker } from 'node:worker_threads';

import { SharedMutex, SharedQueue, Terminate, TimeoutError, type UringMachine } from 'uringmachine';

import { assertNoPendingOps, createMachine, until } from './helpers.js';

const workerUrl = new URL('../../test/fixtures/shared-worker.mjs', import.meta.url);

/** Wait for in-flight futex wakes to complete, then check and close. */
async function finish(m: UringMachine): Promise<void> {
  await until(m, () => m.metrics().opsPending === 0, 1000).catch(() => undefined);
  assertNoPendingOps(m);
}

function runWorker(data: unknown): Promise<{ ok?: boolean; opsPending?: number; error?: string }> {
  return new Promise((resolve, reject) => {
    const w = new Worker(workerUrl, { workerData: data });
    let msg: { ok?: boolean; opsPending?: number; error?: string } | undefined;
    w.once('message', (v) => (msg = v));
    w.once('error', reject);
    w.once('exit', (code) => (msg ? resolve(msg) : reject(new Error(`worker exited ${code} without a result`))));
  });
}

test('shared: from() checks alignment and bounds', () => {
  const sab = new SharedArrayBuffer(64);
  assert.throws(() => SharedMutex.from(sab, 2), { name: 'RangeError', code: 'ERR_OUT_OF_RANGE' });
  assert.throws(() => SharedMutex.from(sab, 64), { name: 'RangeError', code: 'ERR_OUT_OF_RANGE' });
  assert.throws(() => SharedMutex.from(new ArrayBuffer(8) as unknown as SharedArrayBuffer, 0), {
    code: 'ERR_INVALID_ARG_TYPE',
  });
  const mu = SharedMutex.from(sab, 60);
  assert.equal(mu.buffer, sab);
  assert.equal(mu.byteOffset, 60);
  const big = new SharedArrayBuffer(SharedQueue.byteLength({ bytes: 256 }) + 4);
  assert.throws(() => SharedQueue.from(big, 1, { bytes: 256 }), { name: 'RangeError', code: 'ERR_OUT_OF_RANGE' });
  assert.throws(() => SharedQueue.from(big, 8, { bytes: 256 }), { name: 'RangeError', code: 'ERR_OUT_OF_RANGE' });
  const q = SharedQueue.from(big, 4, { bytes: 256, capacity: 3 });
  const q2 = SharedQueue.from(big, 4);
  assert.equal(q2.capacity, 3, 'from() attaches to an existing queue');
  assert.equal(q.buffer, big);
  assert.throws(() => new SharedQueue({ capacity: 0 }), { code: 'ERR_OUT_OF_RANGE' });
});

test('shared mutex: uncontended lock submits nothing; contended fibers are excluded', async () => {
  const m = createMachine();
  const mu = new SharedMutex();
  const ops0 = m.metrics().totalOps;
  assert.equal(await m.synchronize(mu, () => 7), 7);
  assert.equal(m.metrics().totalOps, ops0, 'uncontended: no op');
  assert.equal(mu.isLocked, false);
  let inside = 0;
  let maxInside = 0;
  const order: number[] = [];
  const fibers = [0, 1, 2, 3].map((i) =>
    m.spin(() =>
      m.synchronize(mu, async () => {
        inside++;
        maxInside = Math.max(maxInside, inside);
        await m.sleep(2);
        order.push(i);
        inside--;
      }),
    ),
  );
  await m.join(...fibers);
  assert.equal(maxInside, 1);
  assert.equal(order.length, 4);
  assert.ok(m.metrics().totalOps > ops0 + 4, 'contended: futex ops were submitted');
  await assert.rejects(m.synchronize(mu, () => {
    throw new Error('boom');
  }), /boom/);
  assert.equal(mu.isLocked, false, 'released after a throw');
  await finish(m);
});

test('shared mutex: a waiter cancelled by timeout does not take the lock', async () => {
  const m = createMachine();
  const mu = new SharedMutex();
  const log: string[] = [];
  const holder = m.spin(() =>
    m.synchronize(mu, async () => {
      await m.sleep(20);
      log.push('holder');
    }),
  );
  await m.snooze();
  await assert.rejects(
    m.timeout(2, () => m.synchronize(mu, () => log.push('timed-out waiter ran'))),
    TimeoutError,
  );
  const next = m.spin(() => m.synchronize(mu, () => log.push('next')));
  await m.join(holder, next);
  assert.deepEqual(log, ['holder', 'next']);
  assert.equal(mu.isLocked, false);
  await finish(m);
});

test('shared mutex: a waiter woken and terminated at once passes the wake on', async () => {
  const m = createMachine();
  const mu = new SharedMutex();
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const log: string[] = [];
  let a!: ReturnType<typeof m.spin>;
  const holder = m.spin(async () => {
    await m.synchronize(mu, () => gate);
    // The unlock's FUTEX_WAKE(1) is on its way to the first waiter (a):
    // cancel a right now; its wake must reach b.
    m.terminate(a);
  });
  await m.snooze();
  a = m.spin(() => m.synchronize(mu, () => log.push('a')));
  await until(m, () => m.metrics().opsPending === 1);
  const b = m.spin(() => m.synchronize(mu, () => log.push('b')));
  await until(m, () => m.metrics().opsPending === 2);
  release();
  await m.join(holder);
  // Guard against a hang (the wake lost with the cancelled waiter): not a timing threshold.
  await m.timeout(10_000, () => m.join(b));
  await m.join(a);
  // a runs its section only if its wait completed before the cancel took
  // effect (completion wins); either way b gets the lock after it.
  assert.ok(log.join() === 'b' || log.join() === 'a,b', log.join());
  assert.equal(mu.isLocked, false);
  await finish(m);
});

test('shared queue: strings stay strings, bytes come out Buffers; both ends', async () => {
  const m = createMachine();
  const q = new SharedQueue({ capacity: 8, bytes: 1024 });
  await m.push(q, 'b');
  await m.push(q, new Uint8Array([1, 2, 3]));
  await m.unshift(q, 'a€');
  await m.push(q, '');
  assert.equal(q.count, 4);
  const ops0 = m.metrics().totalOps;
  assert.equal(await m.shift(q), 'a€');
  assert.equal(await m.pop(q), '');
  const b = await m.pop(q);
  assert.ok(Buffer.isBuffer(b));
  assert.deepEqual([...(b as Buffer)], [1, 2, 3]);
  assert.equal(await m.shift(q), 'b');
  assert.equal(m.metrics().totalOps, ops0, 'non-empty queue: no op');
  assert.equal(q.count, 0);
  await assert.rejects(m.push(q, 42 as unknown as string), { code: 'ERR_INVALID_ARG_TYPE' });
  await assert.rejects(m.push(q, Buffer.alloc(2000)), { code: 'ERR_OUT_OF_RANGE' });
  await finish(m);
});

test('shared queue: records wrap around the ring intact (both ends)', async () => {
  const m = createMachine();
  const q = new SharedQueue({ capacity: 5, bytes: 100 });
  let next = 0;
  const expect: string[] = [];
  for (let round = 0; round < 300; round++) {
    const s = 'x'.repeat(round % 13) + String(next++);
    if (round % 3 === 0) {
      await m.unshift(q, s);
      expect.unshift(s);
    } else {
      await m.push(q, s);
      expect.push(s);
    }
    if (q.count >= 3) {
      if (round % 2) assert.equal(await m.pop(q), expect.pop());
      else assert.equal(await m.shift(q), expect.shift());
    }
  }
  while (expect.length) assert.equal(await m.shift(q), expect.shift());
  assert.equal(q.count, 0);
  await finish(m);
});

test('shared queue: shift waits for a push; push waits while full', async () => {
  const m = createMachine();
  const q = new SharedQueue({ capacity: 2 });
  const log: string[] = [];
  const consumer = m.spin(async () => {
    log.push(`got ${String(await m.shift(q))}`);
  });
  await until(m, () => m.metrics().opsPending === 1);
  log.push('push 1');
  await m.push(q, '1');
  await m.join(consumer);
  await m.push(q, '2');
  await m.push(q, '3');
  const producer = m.spin(async () => {
    await m.push(q, '4');
    log.push('pushed 4');
  });
  await until(m, () => m.metrics().opsPending === 1);
  log.push('shift');
  assert.equal(await m.shift(q), '2');
  await m.join(producer);
  assert.deepEqual(log, ['push 1', 'got 1', 'shift', 'pushed 4']);
  assert.equal(await m.shift(q), '3');
  assert.equal(await m.shift(q), '4');
  await finish(m);
});

test('shared queue: a cancelled waiter takes no item; the next waiter gets it', async () => {
  const m = createMachine();
  const q = new SharedQueue();
  await assert.rejects(m.timeout(2, () => m.shift(q)), TimeoutError);
  await m.push(q, 'kept');
  assert.equal(q.count, 1, 'the item stays in the queue');
  assert.equal(await m.shift(q), 'kept');

  // Two parked waiters; the first is terminated in the same stretch as the push.
  const got: string[] = [];
  const a = m.spin(async () => got.push(`a:${String(await m.shift(q))}`));
  const b = m.spin(async () => got.push(`b:${String(await m.shift(q))}`));
  await until(m, () => m.metrics().opsPending === 2);
  const pushed = m.push(q, 'x');
  m.terminate(a);
  await pushed;
  // Guard against a hang (the wake lost with the cancelled waiter): not a timing threshold.
  await m.timeout(10_000, () => m.join(b));
  await m.join(a).catch((e) => assert.ok(e instanceof Terminate));
  assert.deepEqual(got, ['b:x']);
  assert.equal(q.count, 0);
  await finish(m);
});

test('shared queue: two machines of one thread hand items through futexes', async () => {
  const m1 = createMachine();
  const m2 = createMachine();
  const q = new SharedQueue({ capacity: 4 });
  const N = 500;
  const got: string[] = [];
  const consumer = m2.spin(async () => {
    for (let i = 0; i < N; i++) got.push((await m2.shift(q)) as string);
  });
  const producer = m1.spin(async () => {
    for (let i = 0; i < N; i++) await m1.push(q, String(i));
  });
  await m1.join(producer);
  await m2.join(consumer);
  assert.deepEqual(got, Array.from({ length: N }, (_, i) => String(i)));
  await finish(m1);
  await finish(m2);
});

test('shared queue under cancels: pushes and shifts cut by m.timeout and terminate on two machines move 8,000 items, each exactly once', async () => {
  // A one-slot-ish queue (capacity 4) keeps both sides waiting on futexes:
  // consumers shift with 0-1 ms timeouts and are terminated at random,
  // producers push with timeouts and retry what was not pushed. Completion
  // wins: a shift that got an item returns it, a push that stored its item
  // resolves; so a retried push never duplicates and a cancelled shift never
  // swallows an item.
  const mp = createMachine();
  const mc = createMachine();
  const q = new SharedQueue({ capacity: 4 });
  const N = 8_000;
  const PRODUCERS = 3;
  const seen = new Uint8Array(N);
  let taken = 0;
  const stats = { pushTimeouts: 0, shiftTimeouts: 0, terminated: 0 };
  const producers = Array.from({ length: PRODUCERS }, (_, p) =>
    mp.spin(async () => {
      for (let i = p; i < N; i += PRODUCERS) {
        for (let attempt = 0; ; attempt++) {
          try {
            await mp.timeout((i + attempt) % 2, () => mp.push(q, String(i)));
            break;
          } catch (e) {
            assert.ok(e instanceof TimeoutError, String(e));
            stats.pushTimeouts++;
          }
        }
      }
    }),
  );
  const consume = async (k: number): Promise<void> => {
    for (let r = k; taken < N; r++) {
      try {
        const v = await mc.timeout(r % 2, () => mc.shift(q));
        seen[Number(v)]!++;
        taken++;
      } catch (e) {
        if (!(e instanceof TimeoutError)) throw e; // Terminate: the fiber ends
        stats.shiftTimeouts++;
      }
    }
  };
  let stop = false;
  const slots = [0, 1, 2].map((k) => mc.spin(() => consume(k)));
  const all = [...slots];
  // chaos: every 0.5 ms terminate one of the three consumers (wherever it
  // waits: the futex wait, the timeout) and put a fresh one in its place
  const chaos = mc.spin(async () => {
    for (let k = 3; !stop; k++) {
      await mc.sleep(0.5);
      if (taken >= N) continue;
      mc.terminate(slots[k % 3]!);
      stats.terminated++;
      all.push((slots[k % 3] = mc.spin(() => consume(k))));
    }
  });
  await mp.join(...producers);
  // Bounded: a lost item would leave taken short of N forever.
  await until(mc, () => taken >= N, 20_000, `all items taken (${JSON.stringify(stats)})`);
  stop = true;
  await mc.join(chaos);
  for (const f of all) await mc.join(f); // a terminated one returns undefined; any other error throws here
  const wrong = [...seen.keys()].filter((i) => seen[i] !== 1);
  assert.deepEqual(wrong.slice(0, 10), [], `each item exactly once (${JSON.stringify(stats)})`);
  assert.equal(q.count, 0);
  assert.ok(stats.pushTimeouts > 0 && stats.shiftTimeouts > 0 && stats.terminated > 0, JSON.stringify(stats));
  await finish(mp);
  await finish(mc);
});

test('shared mutex: fibers of two workers exclude each other', async () => {
  const m = createMachine();
  const mu = new SharedMutex();
  const counter = new SharedArrayBuffer(4);
  const data = { role: 'mutex', sab: mu.buffer, off: mu.byteOffset, counter, fibers: 3, iterations: 200 };
  const results = await Promise.all([runWorker(data), runWorker(data)]);
  for (const r of results) {
    assert.equal(r.error, undefined);
    assert.equal(r.opsPending, 0);
  }
  assert.equal(new Int32Array(counter)[0], 2 * 3 * 200);
  assert.equal(mu.isLocked, false);
  await finish(m);
});

test('shared queue stress: 4 workers x 4 fibers move 100,000 items, each exactly once', async () => {
  const m = createMachine();
  const TOTAL = 100_000;
  const WORKERS = 4;
  const PRODUCERS = 2;
  const CONSUMERS = 2;
  const q = new SharedQueue({ capacity: 64, bytes: 4096 });
  const seen = new SharedArrayBuffer(TOTAL * 4);
  const nProducers = WORKERS * PRODUCERS;
  const jobs = [];
  for (let w = 0; w < WORKERS; w++) {
    const ids: number[][] = [];
    for (let p = 0; p < PRODUCERS; p++) {
      const k = w * PRODUCERS + p;
      const mine: number[] = [];
      for (let id = k; id < TOTAL; id += nProducers) mine.push(id);
      ids.push(mine);
    }
    jobs.push(
      runWorker({
        role: 'stress',
        sab: q.buffer,
        off: q.byteOffset,
        seen,
        ids,
        producers: PRODUCERS,
        consumers: CONSUMERS,
        perConsumer: TOTAL / (WORKERS * CONSUMERS),
      }),
    );
  }
  const results = await Promise.all(jobs);
  for (const r of results) {
    assert.equal(r.error, undefined);
    assert.equal(r.opsPending, 0);
  }
  const s = new Int32Array(seen);
  let bad = 0;
  for (let i = 0; i < TOTAL; i++) if (s[i] !== 1) bad++;
  assert.equal(bad, 0, 'every item consumed exactly once');
  assert.equal(q.count, 0);
  await finish(m);
});

test('shared queue stress, mixed: 4 workers x 4 fibers, each fiber pushing and shifting (100,000 items in all), each item exactly once', async () => {
  const m = createMachine();
  const TOTAL = 100_000;
  const WORKERS = 4;
  const FIBERS = 4;
  const q = new SharedQueue({ capacity: 64, bytes: 4096 });
  const seen = new SharedArrayBuffer(TOTAL * 4);
  const jobs = [];
  for (let w = 0; w < WORKERS; w++) {
    const ids: number[][] = [];
    for (let f = 0; f < FIBERS; f++) {
      const k = w * FIBERS + f;
      const mine: number[] = [];
      for (let id = k; id < TOTAL; id += WORKERS * FIBERS) mine.push(id);
      ids.push(mine);
    }
    jobs.push(runWorker({ role: 'stress-mixed', sab: q.buffer, off: q.byteOffset, seen, ids }));
  }
  const results = await Promise.all(jobs);
  for (const r of results) {
    assert.equal(r.error, undefined);
    assert.equal(r.opsPending, 0);
  }
  const s = new Int32Array(seen);
  let bad = 0;
  for (let i = 0; i < TOTAL; i++) if (s[i] !== 1) bad++;
  assert.equal(bad, 0, 'every item consumed exactly once');
  assert.equal(q.count, 0);
  await finish(m);
});
