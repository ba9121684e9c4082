// Fibers and the runqueue: spin, join, await, terminate, schedule, snooze,
// yield, currentFiber, fibers/pendingFibers, unhandled errors, maxSwitches.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { Fiber, Terminate, UM } from 'uringmachine';

import { assertNoPendingOps, createMachine, until } from './helpers.js';

test('spin starts the fiber on a later turn, not synchronously', async () => {
  const m = createMachine();
  const log: string[] = [];
  const f = m.spin(() => {
    log.push('fiber');
    return 1;
  });
  log.push('after spin');
  assert.ok(f instanceof Fiber);
  assert.equal(f.done, false);
  assert.equal(await m.join(f), 1);
  assert.deepEqual(log, ['after spin', 'fiber']);
  assert.equal(f.done, true);
  assert.equal(f.result, 1);
  assertNoPendingOps(m);
});

test('join: one, several, an array, a Set; values in order', async () => {
  const m = createMachine();
  const a = m.spin(async () => {
    await m.sleep(5);
    return 'a';
  });
  const b = m.spin(() => 'b');
  const c = m.spin(async () => 'c');
  assert.equal(await m.join(a), 'a');
  assert.deepEqual(await m.join(a, b, c), ['a', 'b', 'c']);
  assert.deepEqual(await m.join([c, b]), ['c', 'b']);
  assert.deepEqual(await m.join(new Set([b, a])), ['b', 'a']);
  assertNoPendingOps(m);
});

test('join rejects with the first error, as soon as it happens; await never rejects', async () => {
  const m = createMachine();
  m.onUnhandledFiberError = () => assert.fail('joined fibers are not unhandled');
  // `first` fails while `second` is parked: join must not wait for `second`.
  const second = m.spin(async () => {
    await m.yield();
    throw new Error('second');
  });
  const first = m.spin(async () => {
    await m.sleep(1);
    throw new Error('first');
  });
  const ok = m.spin(async () => 42);
  await assert.rejects(m.join(ok, second, first), /first/);
  assert.equal(second.done, false, 'join rejected before the other fibers ended');
  m.schedule(second, 'go');
  assert.equal(await m.await(ok, second, first), 3);
  assert.equal((second.error as Error).message, 'second');
  // Both failed already: the earlier failure wins, whatever the argument order.
  await assert.rejects(m.join(second, first), /first/);
  await assert.rejects(m.join([second]), /second/);
  // A fiber whose function throws synchronously fails the same way.
  const sync = m.spin(() => {
    throw new TypeError('sync throw');
  });
  await assert.rejects(m.join(sync), TypeError);
  assert.ok(sync.error instanceof TypeError);
  assert.equal(sync.result, undefined);
  assert.equal(await m.await(), 0);
  assertNoPendingOps(m);
});

test('await waits for all fibers, including failed and terminated ones', async () => {
  const m = createMachine();
  const order: string[] = [];
  const a = m.spin(async () => {
    await m.sleep(3);
    order.push('a');
    throw new Error('a');
  });
  const b = m.spin(async () => {
    await m.sleep(1);
    order.push('b');
    return 'b';
  });
  const c = m.spin(() => m.sleep(Infinity));
  const waiter = m.spin(() => m.await(new Set([a, b]), [c]));
  await m.join(b);
  assert.equal(waiter.done, false);
  m.terminate(c);
  assert.equal(await m.join(waiter), 3);
  assert.deepEqual(order, ['b', 'a']);
  assert.ok(a.done && b.done && c.done);
  assertNoPendingOps(m);
});

test('terminate: Terminate raised at the pending op, finally runs, join resolves undefined, not reported', async () => {
  const m = createMachine();
  let reported = 0;
  m.onUnhandledFiberError = () => reported++;
  const [r, w] = UM.pipe();
  let caught: unknown;
  let finallyRan = false;
  const f = m.spin(async () => {
    try {
      await m.read(r, Buffer.alloc(8));
    } catch (e) {
      caught = e;
      throw e;
    } finally {
      finallyRan = true;
    }
  });
  await m.sleep(2);
  assert.ok(m.pendingFibers.has(f));
  m.terminate(f);
  assert.equal(await m.join(f), undefined);
  assert.ok(caught instanceof Terminate);
  assert.equal((caught as Terminate).code, 'UM_TERMINATE');
  assert.ok(finallyRan);
  assert.equal(reported, 0);
  // Terminating a fiber that has not started yet: it never runs.
  let ran = false;
  const g = m.spin(() => {
    ran = true;
  });
  m.terminate(g);
  await m.join(g);
  assert.equal(ran, false);
  await m.close(r);
  await m.close(w);
  assertNoPendingOps(m);
});

test('a terminated fiber that catches Terminate still cannot issue ops', async () => {
  const m = createMachine();
  const f = m.spin(async () => {
    try {
      await m.sleep(Infinity);
    } catch {
      /* swallow */
    }
    await m.sleep(1); // throws Terminate again at once
    return 'unreachable';
  });
  await m.sleep(1);
  m.terminate(f);
  assert.equal(await m.join(f), undefined);
  assertNoPendingOps(m);
});

test('schedule(fiber, value) resumes yield, also when it comes before the yield', async () => {
  const m = createMachine();
  const f = m.spin(async () => [await m.yield(), await m.yield()]);
  await m.sleep(1);
  m.schedule(f, 'first');
  await m.sleep(1);
  m.schedule(f, 'second');
  assert.deepEqual(await m.join(f), ['first', 'second']);
  const g = m.spin(async () => {
    await m.sleep(5);
    return m.yield();
  });
  m.schedule(g, 'early');
  assert.equal(await m.join(g), 'early');
  await assert.rejects(m.yield(), { code: 'ERR_UM_NO_FIBER' });
  assertNoPendingOps(m);
});

test('schedule(fiber, error) raises at the pending op and cancels it in the kernel', async () => {
  const m = createMachine();
  const [r, w] = UM.pipe();
  const f = m.spin(async () => {
    try {
      await m.read(r, Buffer.alloc(8));
      return 'read';
    } catch (e) {
      return (e as Error).message;
    }
  });
  await m.sleep(2);
  m.schedule(f, new Error('boom'));
  assert.equal(await m.join(f), 'boom');
  // The cancelled read consumed nothing.
  await m.write(w, 'data');
  const buf = Buffer.alloc(8);
  assert.equal(await m.read(r, buf), 4);
  assert.equal(buf.subarray(0, 4).toString(), 'data');
  // Not waiting on anything: raised at the next op.
  const g = m.spin(async () => {
    await m.yield();
    let x = 0;
    for (let i = 0; i < 1000; i++) x += i; // busy, no op
    void x;
    await m.sleep(1);
  });
  await m.sleep(1);
  m.schedule(g, 'go');
  m.schedule(g, new Error('later'));
  await assert.rejects(m.join(g), /later/);
  await m.close(r);
  await m.close(w);
  assertNoPendingOps(m);
});

test('snooze lets other ready fibers run, in FIFO order', async () => {
  const m = createMachine();
  const log: string[] = [];
  const mk = (name: string) =>
    m.spin(async () => {
      for (let i = 0; i < 3; i++) {
        log.push(`${name}${i}`);
        await m.snooze();
      }
    });
  await m.join(mk('a'), mk('b'));
  assert.deepEqual(log, ['a0', 'b0', 'a1', 'b1', 'a2', 'b2']);
  assertNoPendingOps(m);
});

test('currentFiber inside fibers, across awaits and scopes, and outside', async () => {
  const m = createMachine();
  assert.equal(m.currentFiber, undefined);
  const seenF: (Fiber | undefined)[] = [];
  const seenG: (Fiber | undefined)[] = [];
  const f = m.spin(async () => {
    seenF.push(m.currentFiber);
    await m.sleep(2);
    seenF.push(m.currentFiber);
    await Promise.resolve();
    await new Promise((r) => setTimeout(r, 1)); // a non-machine await
    seenF.push(m.currentFiber);
    await m.timeout(1000, async () => {
      await m.sleep(1);
      seenF.push(m.currentFiber);
    });
  });
  const g = m.spin(async () => {
    seenG.push(m.currentFiber);
    await m.sleep(1);
    seenG.push(m.currentFiber);
  });
  assert.equal(m.currentFiber, undefined, 'spin does not change the caller');
  await m.join(f, g);
  assert.deepEqual(seenF, [f, f, f, f]);
  assert.deepEqual(seenG, [g, g]);
  assert.equal(m.currentFiber, undefined);
  // A scope opened outside fibers is not a fiber.
  await m.timeout(1000, async () => {
    await m.sleep(1);
    assert.equal(m.currentFiber, undefined);
  });
  assertNoPendingOps(m);
});

test('fibers and pendingFibers', async () => {
  const m = createMachine();
  const f = m.spin(() => m.sleep(10_000));
  const g = m.spin(() => m.yield());
  let busy = true;
  const h = m.spin(async () => {
    while (busy) await m.snooze();
  });
  assert.deepEqual([...m.fibers], [f, g, h]);
  assert.equal(m.pendingFibers.size, 0, 'not started yet: waiting on nothing');
  await m.sleep(2);
  assert.ok(m.pendingFibers.has(f), 'waiting on a kernel op');
  assert.ok(m.pendingFibers.has(g), 'parked in yield');
  m.schedule(g, 1);
  m.terminate(f);
  await m.join(f, g);
  assert.deepEqual([...m.fibers], [h]);
  assert.equal(m.pendingFibers.has(f) || m.pendingFibers.has(g), false);
  busy = false;
  await m.join(h);
  assert.equal(m.fibers.size, 0);
  assert.equal(m.pendingFibers.size, 0);
  assertNoPendingOps(m);
});

test('onUnhandledFiberError: called only when nobody joined; never for terminated fibers', async () => {
  const m = createMachine();
  const reported: [unknown, Fiber][] = [];
  m.onUnhandledFiberError = (e, fiber) => void reported.push([e, fiber]);
  const joined = m.spin(async () => {
    await m.sleep(1);
    throw new Error('joined');
  });
  const awaited = m.spin(async () => {
    await m.sleep(1);
    throw new Error('awaited');
  });
  const lonely = m.spin(async () => {
    await m.sleep(1);
    throw new Error('lonely');
  });
  const terminated = m.spin(() => m.sleep(10_000));
  const waiter = m.spin(() => m.await(awaited));
  await assert.rejects(m.join(joined), /joined/);
  await m.join(waiter);
  await until(m, () => lonely.done);
  m.terminate(terminated);
  await until(m, () => terminated.done);
  await m.sleep(1);
  assert.equal(reported.length, 1);
  assert.equal((reported[0]![0] as Error).message, 'lonely');
  assert.equal(reported[0]![1], lonely);
  // Joining it afterwards still gives the error, and reports nothing more.
  await assert.rejects(m.join(lonely), /lonely/);
  assert.equal(reported.length, 1);
  assertNoPendingOps(m);
});

test('schedule and terminate on a finished fiber do nothing', async () => {
  const m = createMachine();
  const f = m.spin(() => 'v');
  assert.equal(await m.join(f), 'v');
  m.schedule(f, 'late');
  m.schedule(f, new Error('late'));
  m.terminate(f);
  assert.equal(f.result, 'v');
  assert.equal(f.error, undefined);
  assert.equal(await m.join(f), 'v');
  assertNoPendingOps(m);
});

test('maxSwitches: a fiber that only snoozes cannot starve I/O or timers', async () => {
  for (const maxSwitches of [1, 64, 'adaptive'] as const) {
    const m = createMachine({ maxSwitches });
    const [r, w] = UM.pipe();
    let spinning = true;
    let snoozes = 0;
    const hog = m.spin(async () => {
      while (spinning && snoozes < 1_000_000) {
        snoozes++;
        await m.snooze();
      }
    });
    let timerFired = false;
    setTimeout(() => (timerFired = true), 1);
    const reader = m.spin(async () => {
      const buf = Buffer.alloc(4);
      const n = await m.read(r, buf);
      return buf.subarray(0, n).toString();
    });
    m.writeAsync(w, 'io!');
    assert.equal(await m.join(reader), 'io!');
    while (!timerFired && snoozes < 1_000_000) await m.snooze();
    spinning = false;
    await m.join(hog);
    assert.ok(timerFired, `setTimeout fired while a fiber snoozed (maxSwitches ${maxSwitches})`);
    assert.ok(snoozes < 1_000_000);
    await m.close(r);
    await m.close(w);
    assertNoPendingOps(m);
  }
});
