// m.debounce(): fn runs once, after the last call, with its arguments;
// flush() runs it now; cancel() drops it. No timing thresholds.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { assertNoPendingOps, createMachine, until } from './helpers.js';

test('debounce: a burst of calls runs fn once with the last arguments', async () => {
  const m = createMachine();
  const calls: number[][] = [];
  const d = m.debounce(5, (a: number, b: number) => void calls.push([a, b]));
  d(1, 1);
  await m.sleep(1);
  d(2, 2);
  d(3, 3);
  assert.deepEqual(calls, [], 'nothing runs synchronously');
  await until(m, () => calls.length > 0);
  assert.deepEqual(calls, [[3, 3]]);
  await until(m, () => m.metrics().opsPending === 0 && m.fibers.size === 0);
  await m.sleep(15);
  assert.deepEqual(calls, [[3, 3]], 'ran once');
  d(4, 4);
  await until(m, () => calls.length > 1);
  assert.deepEqual(calls, [[3, 3], [4, 4]], 'a new burst runs again');
  await until(m, () => m.metrics().opsPending === 0 && m.fibers.size === 0);
  assertNoPendingOps(m);
});

test('debounce: fn runs after the last call, not after the first', async () => {
  const m = createMachine();
  const log: string[] = [];
  const d = m.debounce(10, (s: string) => void log.push(`fn:${s}`));
  d('a');
  // Keep calling while the 10 ms of the first call elapse, in machine time.
  const t = m.prepTimeout(15);
  let i = 0;
  while (!t.done) {
    d(`x${i++}`);
    await m.sleep(1);
  }
  log.push('first deadline passed');
  await until(m, () => log.length > 1);
  assert.deepEqual(log, ['first deadline passed', `fn:x${i - 1}`]);
  await until(m, () => m.metrics().opsPending === 0 && m.fibers.size === 0);
  assertNoPendingOps(m);
});

test('debounce: flush runs the pending call now; the timer does not run it again', async () => {
  const m = createMachine();
  const calls: string[] = [];
  const d = m.debounce(10000, async (s: string) => {
    await m.sleep(1);
    calls.push(s);
  });
  await d.flush();
  assert.deepEqual(calls, [], 'flush with nothing pending does nothing');
  d('a');
  d('b');
  await d.flush();
  assert.deepEqual(calls, ['b']);
  await until(m, () => m.metrics().opsPending === 0);
  await d.flush();
  assert.deepEqual(calls, ['b']);
  assertNoPendingOps(m);
});

test('debounce: flush rejects with the error fn throws', async () => {
  const m = createMachine();
  const d = m.debounce(10000, () => {
    throw new Error('fn failed');
  });
  d();
  await assert.rejects(d.flush(), /fn failed/);
  await until(m, () => m.metrics().opsPending === 0);
  assertNoPendingOps(m);
});

test('debounce: cancel drops the pending call and its timer', async () => {
  const m = createMachine();
  const calls: number[] = [];
  const d = m.debounce(2, (n: number) => void calls.push(n));
  d(1);
  assert.equal(m.metrics().opsPending, 1, 'one kernel timeout armed');
  d.cancel();
  await until(m, () => m.metrics().opsPending === 0);
  await m.sleep(10);
  assert.deepEqual(calls, []);
  d(2);
  await until(m, () => calls.length > 0);
  assert.deepEqual(calls, [2]);
  await until(m, () => m.metrics().opsPending === 0 && m.fibers.size === 0);
  assertNoPendingOps(m);
});

test('debounce: bad arguments throw', () => {
  const m = createMachine();
  assert.throws(() => m.debounce('x' as never, () => {}), TypeError);
  assert.throws(() => m.debounce(5, null as never), TypeError);
  assertNoPendingOps(m);
});
