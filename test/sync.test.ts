// Mutex and Queue for the fibers of one machine: FIFO among waiters,
// cancelled waiters leave the line, fast paths do not park.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { Mutex, Queue, Terminate, TimeoutError } from 'uringmachine';

import { assertNoPendingOps, createMachine, until } from './helpers.js';

test('queue: push/unshift/shift/pop and count without waiters', async () => {
  const m = createMachine();
  const q = new Queue<number>();
  assert.equal(q.count, 0);
  m.push(q, 1);
  m.push(q, 2);
  m.unshift(q, 0);
  assert.equal(q.count, 3);
  const before = m.metrics().totalWaits;
  assert.equal(await m.shift(q), 0);
  assert.equal(await m.pop(q), 2);
  assert.equal(await m.shift(q), 1);
  assert.equal(m.metrics().totalWaits, before, 'a non-empty queue must not park');
  assert.equal(q.count, 0);
  assertNoPendingOps(m);
});

test('queue: waiters are served FIFO', async () => {
  const m = createMachine();
  const q = new Queue<string>();
  const got: string[] = [];
  const fibers = ['a', 'b', 'c'].map((name) =>
    m.spin(async () => {
      const v = await (name === 'b' ? m.pop(q) : m.shift(q));
      got.push(`${name}:${v}`);
    }),
  );
  await until(m, () => m.pendingFibers.size === 3);
  m.push(q, '1');
  m.push(q, '2');
  m.push(q, '3');
  assert.equal(q.count, 0, 'items handed to waiters, not queued');
  await m.join(fibers);
  assert.deepEqual(got, ['a:1', 'b:2', 'c:3']);
  assertNoPendingOps(m);
});

test('queue: a waiter terminated at the moment of a push leaves; the item goes to the next waiter', async () => {
  const m = createMachine();
  const q = new Queue<string>();
  let aGot: unknown = 'nothing';
  const a = m.spin(async () => {
    aGot = await m.shift(q);
  });
  const b = m.spin(() => m.shift(q));
  await until(m, () => m.pendingFibers.size === 2);
  m.terminate(a);
  m.push(q, 'x');
  assert.equal(await m.join(b), 'x');
  assert.equal(await m.join(a), undefined);
  assert.equal(aGot, 'nothing');
  assert.equal(q.count, 0);
  assertNoPendingOps(m);
});

test('queue: a waiter that timed out takes nothing; the item stays queued or goes to the next waiter', async () => {
  const m = createMachine();
  const q = new Queue<string>();
  const a = m.spin(() => m.timeout(2, () => m.shift(q)));
  await assert.rejects(m.join(a), TimeoutError);
  m.push(q, 'kept');
  assert.equal(q.count, 1, 'the timed-out waiter is gone');
  const b = m.spin(() => m.timeout(2, () => m.shift(q)));
  const c = m.spin(() => m.shift(q));
  // b finds the item at once; c waits.
  assert.equal(await m.join(b), 'kept');
  await until(m, () => c.waiting);
  const d = m.spin(() => m.timeout(2, () => m.shift(q)));
  await assert.rejects(m.join(d), TimeoutError);
  m.push(q, 'next');
  assert.equal(await m.join(c), 'next');
  assert.equal(q.count, 0);
  assertNoPendingOps(m);
});

test('queue: a waiter cancelled after being handed an item keeps it (no loss)', async () => {
  const m = createMachine();
  const q = new Queue<string>();
  let got: unknown;
  const a = m.spin(async () => {
    got = await m.shift(q);
    await m.sleep(1000);
  });
  await until(m, () => a.waiting);
  m.push(q, 'x');
  m.terminate(a);
  await m.join(a);
  assert.equal(got, 'x');
  assert.equal(q.count, 0);
  assertNoPendingOps(m);
});

test('mutex: uncontended synchronize does not park and returns fn value', async () => {
  const m = createMachine();
  const mu = new Mutex();
  const before = m.metrics().totalWaits;
  assert.equal(await m.synchronize(mu, () => 42), 42);
  assert.equal(await m.synchronize(mu, async () => 'a'), 'a');
  assert.equal(m.metrics().totalWaits, before);
  assert.equal(mu.isLocked, false);
  assertNoPendingOps(m);
});

test('mutex: exclusion under many fibers with sleeps inside the critical section', async () => {
  const m = createMachine();
  const mu = new Mutex();
  let inside = 0;
  let maxInside = 0;
  let total = 0;
  const fibers = [];
  for (let i = 0; i < 20; i++) {
    fibers.push(
      m.spin(async () => {
        for (let j = 0; j < 5; j++) {
          await m.synchronize(mu, async () => {
            inside++;
            maxInside = Math.max(maxInside, inside);
            if (j % 2 === 1) await m.sleep(1);
            await m.snooze();
            total++;
            inside--;
          });
        }
      }),
    );
  }
  await m.join(fibers);
  assert.equal(maxInside, 1);
  assert.equal(total, 100);
  assert.equal(mu.isLocked, false);
  assertNoPendingOps(m);
});

test('mutex: waiters get the lock FIFO; a terminated waiter never holds it', async () => {
  const m = createMachine();
  const mu = new Mutex();
  const log: string[] = [];
  const q = new Queue<void>();
  const holder = m.spin(() =>
    m.synchronize(mu, async () => {
      log.push('holder');
      await m.shift(q);
    }),
  );
  await until(m, () => holder.waiting);
  const ws = ['a', 'b', 'c', 'd'].map((n) => m.spin(() => m.synchronize(mu, () => void log.push(n))));
  await until(m, () => m.pendingFibers.size === 5);
  m.terminate(ws[1]!);
  m.push(q, undefined);
  await m.join(holder, ws[0]!, ws[2]!, ws[3]!);
  assert.equal(await m.join(ws[1]!), undefined);
  assert.deepEqual(log, ['holder', 'a', 'c', 'd']);
  assert.equal(mu.isLocked, false);
  assertNoPendingOps(m);
});

test('mutex: released when fn throws, and when the holder is terminated', async () => {
  const m = createMachine();
  const mu = new Mutex();
  await assert.rejects(
    m.synchronize(mu, () => {
      throw new Error('boom');
    }),
    /boom/,
  );
  assert.equal(mu.isLocked, false);
  const holder = m.spin(() => m.synchronize(mu, () => m.sleep(10000)));
  await until(m, () => holder.waiting);
  const waiter = m.spin(() => m.synchronize(mu, () => 'second'));
  await until(m, () => waiter.waiting);
  m.terminate(holder);
  assert.equal(await m.join(waiter), 'second');
  assert.equal(await m.join(holder), undefined);
  assert.ok(holder.error === undefined || holder.error instanceof Terminate);
  assert.equal(mu.isLocked, false);
  assertNoPendingOps(m);
});

test('sync: bad arguments reject or throw', async () => {
  const m = createMachine();
  await assert.rejects(m.synchronize({} as Mutex, () => 1), TypeError);
  await assert.rejects(m.synchronize(new Mutex(), 1 as never), TypeError);
  await assert.rejects(m.shift({} as Queue), TypeError);
  await assert.rejects(m.pop(null as never), TypeError);
  assert.throws(() => m.push([] as never, 1), TypeError);
  assert.throws(() => m.unshift({} as never, 1), TypeError);
  assertNoPendingOps(m);
});

test('Mutex and SharedMutex under timeouts and terminate at volume: never two holders, every entered section runs once, no lost hand-off', async () => {
  // Eight fibers take the lock in a loop, each attempt cut by a 0-1 ms
  // timeout or a terminate while the holder sleeps inside; a lock handed to
  // a waiter whose cancel comes after is its to keep (it runs the section),
  // one whose cancel came first is passed on. A lost hand-off would leave
  // everyone waiting: the bounded wait below catches it.
  const { SharedMutex } = await import('uringmachine');
  for (const kind of ['Mutex', 'SharedMutex'] as const) {
    const m = createMachine();
    const mu = kind === 'Mutex' ? new Mutex() : new SharedMutex();
    let inside = 0;
    let entered = 0;
    let completed = 0;
    const stats = { timeouts: 0, terminated: 0 };
    const ROUNDS = 400;
    const worker = (k: number) => async (): Promise<void> => {
      for (let r = 0; r < ROUNDS; r++) {
        try {
          await m.timeout((k + r) % 2, () =>
            m.synchronize(mu, async () => {
              assert.equal(inside, 0, `${kind}: two holders`);
              inside++;
              entered++;
              try {
                await m.sleep(0.05);
              } finally {
                inside--;
              }
            }),
          );
          completed++;
        } catch (e) {
          if (!(e instanceof TimeoutError)) throw e; // Terminate ends the fiber
          stats.timeouts++;
        }
      }
    };
    const fibers = Array.from({ length: 8 }, (_, k) => m.spin(worker(k)));
    const chaos = m.spin(async () => {
      for (let i = 0; i < 60; i++) {
        await m.sleep(1);
        const k = i % 8;
        m.terminate(fibers[k]!);
        stats.terminated++;
        fibers[k] = m.spin(worker(k));
      }
    });
    await m.join(chaos);
    await m.timeout(20_000, () => m.join(...fibers)); // bounded: a lost hand-off hangs here
    assert.equal(inside, 0);
    // Every section that ran either completed its synchronize or was cut
    // inside (a timeout or terminate while it slept): never run twice.
    assert.ok(completed <= entered, `${kind}: ${completed} completed of ${entered} entered`);
    assert.ok(completed > 0 && stats.timeouts > 0, `${kind}: ${JSON.stringify({ entered, completed, ...stats })}`);
    // The lock is free again: an uncontended synchronize does not wait.
    assert.equal(await m.timeout(1000, () => m.synchronize(mu, async () => 'free')), 'free');
    await until(m, () => m.metrics().opsPending === 0, 5000, 'timers settled');
    assertNoPendingOps(m);
    m.close();
  }
});
