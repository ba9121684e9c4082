// Queue close() and m.each(queue) (issue 12): consumers stop without sentinels.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { Queue, QueueClosedError } from 'uringmachine';
import { assertNoPendingOps, createMachine } from './helpers.js';

test('for await (const x of m.each(queue)) takes every item, then ends when the queue is closed and drained', async () => {
  const m = createMachine();
  const q = new Queue<number>();
  const got: number[] = [];
  const consumer = m.spin(async () => {
    for await (const x of m.each(q)) got.push(x);
    return 'ended';
  });
  const producer = m.spin(async () => {
    for (let i = 1; i <= 3; i++) {
      m.push(q, i);
      await m.sleep(1);
    }
    m.push(q, 4);
    m.push(q, 5);
    q.close(); // items still queued are delivered first
  });
  assert.deepEqual(await m.join(consumer, producer), ['ended', undefined]);
  assert.deepEqual(got, [1, 2, 3, 4, 5]);
  assert.equal(q.isClosed, true);
  assertNoPendingOps(m);
});

test('close() fails waiting takers and select cases with QueueClosedError; push after close throws; take of a closed empty queue rejects', async () => {
  const m = createMachine();
  const q = new Queue<string>();
  const shifting = m.spin(() => m.shift(q));
  const popping = m.spin(() => m.pop(q));
  const selecting = m.spin(() => m.select([q], { timeout: 60_000 }));
  await m.sleep(1);
  assert.equal(shifting.done || popping.done || selecting.done, false);
  // Joined before they fail (an unjoined failing fiber is an unhandled rejection).
  const joined = [shifting, popping, selecting].map((f) =>
    assert.rejects(m.join(f), (e: unknown) => e instanceof QueueClosedError && e.code === 'ERR_UM_QUEUE_CLOSED'),
  );
  q.close();
  q.close(); // twice is fine
  await Promise.all(joined);
  assert.throws(() => m.push(q, 'x'), QueueClosedError);
  assert.throws(() => m.unshift(q, 'x'), QueueClosedError);
  await assert.rejects(m.shift(q), QueueClosedError);
  await assert.rejects(m.select([q]), QueueClosedError);
  assertNoPendingOps(m);
});

test('break out of m.each leaves no take behind: the next item goes to a later shift', async () => {
  const m = createMachine();
  const q = new Queue<number>();
  m.push(q, 1);
  m.push(q, 2);
  for await (const x of m.each(q)) {
    assert.equal(x, 1);
    break;
  }
  assert.equal(q.count, 1);
  assert.equal(await m.shift(q), 2);
  // A fiber iterating an empty queue, terminated: its loop ends with the fiber.
  const f = m.spin(async () => {
    for await (const _ of m.each(q)) assert.fail('no item');
  });
  await m.sleep(1);
  m.terminate(f);
  assert.equal(await m.join(f), undefined);
  m.push(q, 3);
  assert.equal(await m.shift(q), 3, 'the terminated iterator took nothing');
  assert.throws(() => m.each({} as Queue), { code: 'ERR_INVALID_ARG_TYPE' });
  assertNoPendingOps(m);
});
