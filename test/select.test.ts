// m.select(): exactly one case wins; losers take nothing; poll ops are
// cancelled and awaited; timeout; cancellation withdraws every case.
import assert from 'node:assert/strict';
import { closeSync } from 'node:fs';
import { test } from 'node:test';

import { Queue, SharedQueue, Terminate, TimeoutError, UM } from 'uringmachine';

import { assertNoPendingOps, createMachine, until } from './helpers.js';

const POLLIN = 0x1;
const POLLOUT = 0x4;

test('select: the first ready case in array order wins at once', async () => {
  const m = createMachine();
  const q0 = new Queue<string>();
  const q1 = new Queue<string>();
  const q2 = new Queue<string>();
  m.push(q1, 'b');
  m.push(q2, 'c');
  assert.deepEqual(await m.select([q0, q1, q2]), { index: 1, value: 'b' });
  assert.equal(q2.count, 1, 'a losing queue keeps its item');
  const f = m.spin(() => 7);
  await m.join(f);
  assert.deepEqual(await m.select([q0, f, q2]), { index: 1, value: 7 });
  assertNoPendingOps(m);
});

test('select: a push wakes the waiting select; the other queues are withdrawn', async () => {
  const m = createMachine();
  const q0 = new Queue<string>();
  const q1 = new Queue<string>();
  const s = m.spin(() => m.select([q0, q1]));
  await until(m, () => s.waiting);
  m.push(q1, 'x');
  m.push(q0, 'y');
  assert.deepEqual(await m.join(s), { index: 1, value: 'x' });
  assert.equal(q0.count, 1, 'q0 gave up nothing');
  assert.equal(q1.count, 0);
  assertNoPendingOps(m);
});

test('select: timeout rejects with TimeoutError and takes no later item', async () => {
  const m = createMachine();
  const q = new Queue<number>();
  await assert.rejects(m.select([q], { timeout: 2 }), TimeoutError);
  m.push(q, 1);
  assert.equal(q.count, 1);
  assertNoPendingOps(m);
});

test('select: timeout racing a push: exactly one outcome, no item lost', async () => {
  const m = createMachine();
  let wins = 0;
  let timeouts = 0;
  for (let i = 0; i < 20; i++) {
    const q = new Queue<number>();
    const s = m.spin(() => m.select([q], { timeout: 1 }));
    const p = m.spin(async () => {
      await m.sleep(i % 3 === 0 ? 0.5 : 1);
      m.push(q, i);
    });
    await m.await(s, p); // s may time out while p runs: awaited together, so not unhandled
    assert.equal(p.error, undefined);
    if (s.error === undefined) {
      assert.deepEqual(s.result, { index: 0, value: i });
      assert.equal(q.count, 0);
      wins++;
    } else {
      assert.ok(s.error instanceof TimeoutError);
      assert.equal(q.count, 1, 'a timed-out select took nothing');
      timeouts++;
    }
  }
  assert.equal(wins + timeouts, 20);
  assertNoPendingOps(m);
});

test('select: readable pipe fd vs a queue', async () => {
  const m = createMachine();
  const [r, w] = UM.pipe();
  try {
    const q = new Queue<string>();
    const s = m.spin(() => m.select([q, { readable: r }]));
    await until(m, () => s.waiting);
    await m.write(w, 'hi');
    const res = await m.join(s);
    assert.equal(res.index, 1);
    assert.ok(((res.value as number) & POLLIN) !== 0);
    m.push(q, 'later');
    assert.equal(q.count, 1, 'the queue case was withdrawn');
    assertNoPendingOps(m);
  } finally {
    closeSync(r);
    closeSync(w);
  }
});

test('select: a losing poll op is cancelled and its completion awaited before select resolves', async () => {
  const m = createMachine();
  const [r, w] = UM.pipe();
  try {
    const q = new Queue<string>();
    const s = m.spin(() => m.select([{ readable: r }, q]));
    await until(m, () => s.waiting);
    assert.equal(m.metrics().opsPending, 1, 'the poll op is in flight');
    m.push(q, 'item');
    const res = await m.join(s);
    assert.deepEqual(res, { index: 1, value: 'item' });
    assert.equal(m.metrics().opsPending, 0, 'poll op gone when select resolved');
    assertNoPendingOps(m);
  } finally {
    closeSync(r);
    closeSync(w);
  }
});

test('select: writable fd, fiber and AsyncOp cases', async () => {
  const m = createMachine();
  const [r, w] = UM.pipe();
  try {
    const q = new Queue<string>();
    const res = await m.select([q, { writable: w }]);
    assert.equal(res.index, 1);
    assert.ok(((res.value as number) & POLLOUT) !== 0);

    const f = m.spin(async () => {
      await m.sleep(1);
      return 'fiber';
    });
    assert.deepEqual(await m.select([q, { readable: r }, f]), { index: 2, value: 'fiber' });

    const t = m.prepTimeout(1);
    const res2 = await m.select([q, t]);
    assert.equal(res2.index, 1);
    assert.equal(t.done, true);

    const bad = m.spin(async () => {
      await m.sleep(1);
      throw new Error('fiber failed');
    });
    await assert.rejects(m.select([q, bad]), /fiber failed/);
    assert.equal(m.metrics().opsPending, 0);
    assertNoPendingOps(m);
  } finally {
    closeSync(r);
    closeSync(w);
  }
});

test('select: terminating the selecting fiber withdraws every case', async () => {
  const m = createMachine();
  const [r, w] = UM.pipe();
  try {
    const q = new Queue<string>();
    const s = m.spin(() => m.select([q, { readable: r }]));
    await until(m, () => s.waiting);
    m.terminate(s);
    m.push(q, 'kept');
    assert.equal(await m.join(s), undefined);
    assert.equal(q.count, 1, 'the cancelled select took nothing');
    assert.equal(m.metrics().opsPending, 0);
    assertNoPendingOps(m);
  } finally {
    closeSync(r);
    closeSync(w);
  }
});

test('select: bad cases reject', async () => {
  const m = createMachine();
  await assert.rejects(m.select('x' as never), TypeError);
  await assert.rejects(m.select([{}] as never), TypeError);
  await assert.rejects(m.select([{ readable: -1 }]), RangeError);
  await assert.rejects(m.select([new Queue()], { timeout: 'x' as never }));
  assertNoPendingOps(m);
});

// ---- SharedQueue cases -------------------------------------------------------

async function drained(m: ReturnType<typeof createMachine>): Promise<void> {
  await until(m, () => m.metrics().opsPending === 0, 1000).catch(() => undefined);
  assertNoPendingOps(m);
}

test('select: a SharedQueue item wins at once; an empty one waits for a push', async () => {
  const m = createMachine();
  const q = new Queue<string>();
  const sq = new SharedQueue();
  await m.push(sq, 'ready');
  assert.deepEqual(await m.select([q, sq]), { index: 1, value: 'ready' });
  const s = m.spin(() => m.select([q, sq]));
  await until(m, () => m.metrics().opsPending === 1);
  await m.push(sq, Buffer.from('hi'));
  const r = (await m.join(s)) as { index: number; value: Buffer };
  assert.equal(r.index, 1);
  assert.ok(Buffer.isBuffer(r.value));
  assert.equal(r.value.toString(), 'hi');
  assert.equal(sq.count, 0);
  await drained(m);
});

test('select: a losing SharedQueue case takes no item and its futex wait is withdrawn', async () => {
  const m = createMachine();
  const q = new Queue<string>();
  const sq = new SharedQueue();
  const s = m.spin(() => m.select([sq, q]));
  await until(m, () => m.metrics().opsPending === 1);
  m.push(q, 'local');
  assert.deepEqual(await m.join(s), { index: 1, value: 'local' });
  assert.equal(m.metrics().opsPending, 0, 'the futex wait completed before select resolved');
  await m.push(sq, 'later');
  assert.equal(sq.count, 1, 'the losing shared queue took nothing');
  assert.equal(await m.shift(sq), 'later');
  await drained(m);
});

test('select: timeout racing a SharedQueue push: exactly one outcome, no item lost', async () => {
  const m = createMachine();
  let wins = 0;
  for (let i = 0; i < 20; i++) {
    const sq = new SharedQueue({ capacity: 4 });
    const s = m.spin(() => m.select([sq], { timeout: 1 }));
    const p = m.spin(async () => {
      await m.sleep(i % 3 === 0 ? 0.5 : 1);
      await m.push(sq, String(i));
    });
    await m.await(s, p); // s may time out while p runs: awaited together, so not unhandled
    assert.equal(p.error, undefined);
    if (s.error === undefined) {
      assert.deepEqual(s.result, { index: 0, value: String(i) });
      assert.equal(sq.count, 0);
      wins++;
    } else {
      assert.ok(s.error instanceof TimeoutError);
      assert.equal(sq.count, 1, 'a timed-out select took nothing');
    }
  }
  assert.ok(wins <= 20);
  await drained(m);
});

test('select: terminating a fiber selecting on a SharedQueue withdraws it; the item goes to the next consumer', async () => {
  const m = createMachine();
  const sq = new SharedQueue();
  const s = m.spin(() => m.select([sq]));
  const other = m.spin(() => m.shift(sq));
  await until(m, () => m.metrics().opsPending === 2);
  const pushed = m.push(sq, 'x');
  m.terminate(s);
  await pushed;
  assert.equal(await m.timeout(10_000, () => m.join(other)), 'x');
  await m.join(s).catch((e) => assert.ok(e instanceof Terminate));
  assert.equal(sq.count, 0);
  await drained(m);
});
