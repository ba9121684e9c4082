// Actors: local (a fiber and a Queue mailbox) and in worker threads (their
// own machine, SharedQueue mailboxes, structured-clone messages).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { threadId } from 'node:worker_threads';

import { Actor, type UringMachine } from 'uringmachine';

import { assertNoPendingOps, createMachine, until } from './helpers.js';

const targetUrl = new URL('../../test/fixtures/actor-target.mjs', import.meta.url);

async function drained(m: UringMachine): Promise<void> {
  await until(m, () => m.metrics().opsPending === 0, 1000).catch(() => undefined);
  assertNoPendingOps(m);
}

test('actor: setup args, call results, casts in order, teardown on stop', async () => {
  const m = createMachine();
  const log: string[] = [];
  const a = m.spinActor(
    {
      n: 0,
      setup(n: number) {
        this.n = n;
        log.push('setup');
      },
      add(k: number) {
        this.n += k;
        return this.n;
      },
      async slowAdd(k: number) {
        await m.sleep(1);
        this.n += k;
      },
      teardown() {
        log.push(`teardown ${this.n}`);
      },
    },
    10,
  );
  assert.ok(a instanceof Actor);
  a.cast('slowAdd', 5);
  a.cast('add', 1);
  assert.equal(await a.call('add', 0), 16, 'casts handled before the later call, in order');
  assert.equal(await a.call('add', 4), 20);
  await a.stop();
  assert.deepEqual(log, ['setup', 'teardown 20']);
  await assert.rejects(a.call('add', 1), { code: 'ERR_ACTOR_STOPPED' });
  assert.throws(() => a.cast('add', 1), { code: 'ERR_ACTOR_STOPPED' });
  await a.stop();
  assertNoPendingOps(m);
});

test('actor: one message at a time; errors reject the caller only', async () => {
  const m = createMachine();
  let inside = 0;
  let maxInside = 0;
  const boom = new Error('boom');
  const a = m.spinActor({
    async work(i: number) {
      inside++;
      maxInside = Math.max(maxInside, inside);
      await m.sleep(1);
      inside--;
      return i * 2;
    },
    fail() {
      throw boom;
    },
  });
  const calls = [1, 2, 3, 4].map((i) => m.spin(() => a.call('work', i)));
  assert.deepEqual(await m.join(...calls), [2, 4, 6, 8]);
  assert.equal(maxInside, 1);
  await assert.rejects(a.call('fail'), (e) => e === boom);
  await assert.rejects(a.call('missing'), { name: 'TypeError' });
  assert.equal(await a.call('work', 5), 10, 'the actor survives handler errors');
  await assert.rejects(a.call(42 as unknown as string), { code: 'ERR_INVALID_ARG_TYPE' });
  await a.stop();
  assertNoPendingOps(m);
});

test('actor: a cast handler error goes to onUnhandledFiberError; a terminated actor fails pending calls', async () => {
  const m = createMachine();
  const seen: unknown[] = [];
  m.onUnhandledFiberError = (e) => seen.push(e);
  const a = m.spinActor({
    fail() {
      throw new Error('cast failed');
    },
    hang() {
      return m.sleep(60_000);
    },
    ok() {
      return 'ok';
    },
  });
  a.cast('fail');
  assert.equal(await a.call('ok'), 'ok');
  assert.equal(seen.length, 1);
  assert.equal((seen[0] as Error).message, 'cast failed');
  const hung = m.spin(() => a.call('hang'));
  const queued = m.spin(() => a.call('ok'));
  await until(m, () => m.metrics().opsPending === 1);
  const actorFiber = [...m.fibers].find((f) => f !== hung && f !== queued)!;
  m.terminate(actorFiber);
  await m.await(hung);
  await m.await(queued);
  assert.equal((hung.error as { code?: string }).code, 'ERR_ACTOR_STOPPED');
  assert.equal((queued.error as { code?: string }).code, 'ERR_ACTOR_STOPPED');
  await a.stop();
  assertNoPendingOps(m);
});

test('worker actor: runs in another thread; call, cast, errors rebuilt, stop', async () => {
  const m = createMachine();
  const a = m.spinWorkerActor(targetUrl, 'counter', 100);
  const tid = await a.call<number>('thread');
  assert.notEqual(tid, threadId, 'the target runs in a worker thread');
  a.cast('note', 'one');
  a.cast('note', { two: [2] });
  assert.deepEqual(await a.call('notes'), ['one', { two: [2] }], 'structured clone, in order');
  assert.equal(await a.call('add', 5), 105);
  const fibers = [1, 2, 3].map((k) => m.spin(() => a.call<number>('add', k)));
  const results = (await m.join(...fibers)) as number[];
  assert.deepEqual([...results].sort((x, y) => x - y).at(-1), 111);
  await assert.rejects(a.call('boom', 'bad thing'), (e: Error & { code?: string }) => {
    assert.ok(e instanceof Error);
    assert.equal(e.name, 'RangeError');
    assert.equal(e.message, 'bad thing');
    assert.equal(e.code, 'ERR_BOOM');
    assert.match(e.stack ?? '', /actor-target\.mjs/);
    return true;
  });
  await assert.rejects(a.call('unclonable'), /could not be cloned/);
  assert.throws(() => a.cast('note', () => 1), /could not be cloned/);
  assert.equal(await a.call('add', 0), 111, 'the actor survives errors');
  await a.stop();
  await assert.rejects(a.call('add', 1), { code: 'ERR_ACTOR_STOPPED' });
  await drained(m);
});

test('worker actor: teardown runs on stop (its error rejects stop)', async () => {
  const m = createMachine();
  const a = m.spinWorkerActor(targetUrl.href, 'counter', 0, { failTeardown: true });
  assert.equal(await a.call('add', 1), 1);
  await assert.rejects(a.stop(), /teardown ran and failed/);
  await drained(m);
});

test('worker actor: a bad export or a failing setup rejects calls', async () => {
  const m = createMachine();
  const a = m.spinWorkerActor(targetUrl, 'notAnObject');
  await assert.rejects(a.call('x'), { name: 'TypeError', message: /not an actor target/ });
  await a.stop();
  const b = m.spinWorkerActor(targetUrl, 'badSetup');
  await assert.rejects(b.call('x'), { name: 'TypeError', message: 'setup failed on purpose' });
  await b.stop();
  assert.throws(() => m.spinWorkerActor(42 as unknown as string, 'x'), { code: 'ERR_INVALID_ARG_TYPE' });
  await drained(m);
});
