// Issue 9.8: after m.close() some calls never settled (snooze, queue
// shift/pop/push, select, synchronize on a locked mutex; synchronize on a free
// mutex even ran fn), and close did not reach waits made outside fibers. Now
// every call after or across close rejects with MachineClosedError.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { Mutex, Queue, SharedMutex, SharedQueue, UM } from 'uringmachine';
import { createMachine } from '../helpers.js';

const CLOSED = { code: 'ERR_UM_CLOSED' };

/** p settles (a hang detector: the bound only ends the test), with a rejection like CLOSED. */
async function rejectsClosed(p: Promise<unknown>, what: string): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const hang = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} never settled`)), 10_000);
  });
  try {
    await assert.rejects(Promise.race([p, hang]), CLOSED, what);
  } finally {
    clearTimeout(timer);
  }
}

test('calls after m.close() reject (or throw, when synchronous) with MachineClosedError; fn never runs', async () => {
  const m = createMachine();
  const [r, w] = UM.pipe();
  const q = new Queue<number>();
  const sq = new SharedQueue({ capacity: 4, bytes: 64 });
  const mu = new Mutex();
  const smu = new SharedMutex();
  m.close();
  let ran = false;
  const fn = (): void => {
    ran = true;
  };
  const calls: [string, () => Promise<unknown>][] = [
    ['snooze', () => m.snooze()],
    ['sleep', () => m.sleep(1)],
    ['read', () => m.read(r, Buffer.alloc(1))],
    ['write', () => m.write(w, 'x')],
    ['shift', () => m.shift(q)],
    ['pop', () => m.pop(q)],
    ['shared shift', () => m.shift(sq)],
    ['shared pop', () => m.pop(sq)],
    ['shared push', () => m.push(sq, 'x')],
    ['select queue', () => m.select([q])],
    ['select fd case', () => m.select([{ readable: r }])],
    ['select fds', () => m.select([r], [], [])],
    ['synchronize free mutex', () => m.synchronize(mu, fn)],
    ['synchronize shared mutex', () => m.synchronize(smu, fn)],
    ['timeout', () => m.timeout(10, () => 1)],
    ['cancellable', () => m.cancellable(new AbortController().signal, () => 1)],
    ['readFiles', () => m.readFiles(['/etc/hostname'])],
  ];
  for (const [what, call] of calls) await rejectsClosed(call(), what);
  assert.throws(() => m.push(q, 1), CLOSED);
  assert.throws(() => m.unshift(q, 1), CLOSED);
  assert.throws(() => m.spin(fn), CLOSED);
  assert.equal(ran, false, 'fn ran after close');
  assert.equal(q.count, 0);
});

test('waits pending across m.close(), in fibers and outside them, reject with MachineClosedError', async () => {
  const m = createMachine();
  const [r] = UM.pipe();
  const q = new Queue<number>();
  const sq = new SharedQueue({ capacity: 4, bytes: 64 });
  const mu = new Mutex();
  let release!: () => void;
  const holder = m.spin(() => m.synchronize(mu, () => new Promise<void>((res) => (release = res))));
  await m.snooze();
  await m.snooze();
  assert.equal(mu.isLocked, true);
  const pending: [string, Promise<unknown>][] = [];
  // Outside fibers.
  pending.push(['top-level shift', m.shift(q)]);
  pending.push(['top-level pop', m.pop(q)]);
  pending.push(['top-level shared shift', m.shift(sq)]);
  pending.push(['top-level select', m.select([q])]);
  pending.push(['top-level select fds', m.select([r], [], [])]);
  pending.push(['top-level synchronize (locked)', m.synchronize(mu, () => 1)]);
  pending.push(['top-level timeout around shift', m.timeout(60_000, () => m.shift(q))]);
  pending.push(['top-level cancellable around shift', m.cancellable(new AbortController().signal, () => m.shift(q))]);
  pending.push(['top-level read', m.read(r, Buffer.alloc(1))]);
  // In fibers.
  const inFiber = (what: string, fn: () => Promise<unknown>): void => {
    let settle!: (p: Promise<unknown>) => void;
    const p = new Promise<unknown>((res) => (settle = res)).then((x) => x);
    m.spin(() => {
      const op = fn();
      settle(op);
      return op.catch(() => undefined);
    });
    pending.push([what, p.then((op) => op)]);
  };
  inFiber('fiber shift', () => m.shift(q));
  inFiber('fiber select', () => m.select([q, { readable: r }]));
  inFiber('fiber synchronize (locked)', () => m.synchronize(mu, () => 1));
  inFiber('fiber yield', () => m.yield());
  inFiber('fiber snooze loop', async () => {
    for (;;) await m.snooze();
  });
  await m.snooze();
  await m.snooze();
  m.close();
  for (const [what, p] of pending) await rejectsClosed(p, what);
  release();
  void holder;
});
