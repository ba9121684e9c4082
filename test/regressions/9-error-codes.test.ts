// Issue 9, item 10: every error the library throws carries a stable `code`
// (docs/errors.md). select([]) never settled; select's argument errors,
// respEncode/respEncodeCmd, an actor's missing handler and sparse arrays
// in writev/sendv/sendBundle (a raw "Cannot read properties of undefined")
// had none. Each bad input below is rejected before anything is submitted.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { constants as C, Queue, Stream, UM } from 'uringmachine';

import { assertNoPendingOps, createMachine } from '../helpers.js';

const targetUrl = new URL('../../../test/fixtures/actor-target.mjs', import.meta.url);

function code(c: string) {
  return (e: unknown): boolean => {
    assert.equal((e as { code?: unknown }).code, c, `${(e as Error)?.constructor?.name}: ${(e as Error)?.message}`);
    return true;
  };
}

test('bad inputs: each error has its documented code, and nothing is submitted', async () => {
  const m = createMachine();
  const [r, w] = UM.pipe();
  const q = new Queue<number>();
  const before = m.metrics().totalOps;
  const sparse = (): unknown[] => {
    const a: unknown[] = [];
    a[1] = 'b'; // a[0] is a hole
    return a;
  };
  const rejecting: [string, () => Promise<unknown>, string][] = [
    ['select([]) settles', () => m.select([]), 'ERR_INVALID_ARG_VALUE'],
    ['select([], { timeout })', () => m.select([], { timeout: 10 }), 'ERR_INVALID_ARG_VALUE'],
    ['select(non-array)', () => m.select('x' as never), 'ERR_INVALID_ARG_TYPE'],
    ['select(sparse cases)', () => m.select(sparse() as never), 'ERR_INVALID_ARG_TYPE'],
    ['select(bad case)', () => m.select([q, 42 as never, 'x' as never]), 'ERR_INVALID_ARG_TYPE'],
    ['select({ readable: string })', () => m.select([{ readable: 'x' as never }]), 'ERR_INVALID_ARG_TYPE'],
    ['select({ writable: -1 })', () => m.select([{ writable: -1 }]), 'ERR_OUT_OF_RANGE'],
    ['select(cases, non-object opts)', () => m.select([q], 5 as never), 'ERR_INVALID_ARG_TYPE'],
    ['select(cases, { timeout: NaN })', () => m.select([q], { timeout: NaN }), 'ERR_OUT_OF_RANGE'],
    ['writev(sparse)', () => m.writev(w, sparse() as never), 'ERR_INVALID_ARG_TYPE'],
    ['sendv(sparse)', () => m.sendv(w, sparse() as never), 'ERR_INVALID_ARG_TYPE'],
    ['sendBundle(sparse)', () => m.sendBundle(w, sparse() as never), 'ERR_INVALID_ARG_TYPE'],
    ['writev(non-array)', () => m.writev(w, 'x' as never), 'ERR_INVALID_ARG_TYPE'],
  ];
  for (const [name, fn, c] of rejecting) {
    let p: Promise<unknown> | undefined;
    assert.doesNotThrow(() => (p = fn()), name);
    await assert.rejects(p!, code(c), name);
  }
  const throwing: [string, () => unknown, string][] = [
    ['respEncode(symbol)', () => Stream.respEncode(Symbol('s')), 'ERR_INVALID_ARG_TYPE'],
    ['respEncode(function)', () => Stream.respEncode(() => 1), 'ERR_INVALID_ARG_TYPE'],
    [
      'respEncode(cyclic)',
      () => {
        const a: unknown[] = [];
        a.push(a);
        return Stream.respEncode(a);
      },
      'ERR_INVALID_ARG_VALUE',
    ],
    ['respEncodeCmd(object)', () => Stream.respEncodeCmd('SET', {}), 'ERR_INVALID_ARG_TYPE'],
    ['respEncodeCmd(null)', () => Stream.respEncodeCmd(null), 'ERR_INVALID_ARG_TYPE'],
    ['writeAsync(len > data)', () => m.writeAsync(w, 'x', 2), 'ERR_OUT_OF_RANGE'],
  ];
  for (const [name, fn, c] of throwing) assert.throws(fn, code(c), name);
  assert.equal(m.metrics().totalOps, before, 'nothing submitted');
  assert.equal(m.metrics().opsPending, 0);
  await m.close(r);
  await m.close(w);
  assertNoPendingOps(m);
});

test('an error reply decoded from RESP has code ERR_RESP_REPLY', async () => {
  const m = createMachine();
  const [r, w] = UM.pipe();
  await m.write(w, '-ERR no such key\r\n');
  await m.close(w);
  const s = m.stream(r);
  await assert.rejects(s.respDecode(), (e: unknown) => e instanceof Stream.RESPError && code('ERR_RESP_REPLY')(e));
  await s.release();
  await m.close(r);
  assertNoPendingOps(m);
});

test("an actor's missing handler rejects with ERR_ACTOR_NO_HANDLER (in the machine's thread and in a worker)", async () => {
  const m = createMachine();
  const a = m.spinActor({ hi: () => 'hi' });
  await assert.rejects(a.call('nope'), code('ERR_ACTOR_NO_HANDLER'));
  assert.equal(await a.call('hi'), 'hi');
  await a.stop();
  const wa = m.spinWorkerActor(targetUrl, 'counter', 0);
  await assert.rejects(wa.call('nope'), code('ERR_ACTOR_NO_HANDLER'));
  assert.equal(await wa.call('add', 2), 2);
  await wa.stop();
  const bad = m.spinWorkerActor(targetUrl, 'notAnObject');
  await assert.rejects(bad.call('x'), code('ERR_INVALID_ARG_VALUE'));
  await bad.stop();
  assert.throws(() => UM.socketpair(C.AF_UNIX!, 'x' as never, 0), code('ERR_INVALID_ARG_TYPE'));
  await assertSettled(m);
});

async function assertSettled(m: ReturnType<typeof createMachine>): Promise<void> {
  for (let i = 0; i < 1000 && (m.metrics().opsPending > 0 || m.fibers.size > 0); i++) await m.sleep(1);
  assertNoPendingOps(m);
}
