// Issue 9.3: an error class whose constructor throws, passed to m.timeout,
// threw inside the completion loop: the process died, or (with an
// uncaughtException handler) the rest of the CQE batch never settled. User
// code never runs unguarded inside the loop.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { UM } from 'uringmachine';
import { assertNoPendingOps, createMachine } from '../helpers.js';

class Throwing extends Error {
  constructor() {
    super('never built');
    throw new RangeError('constructor failed');
  }
}

test('a timeout whose error class throws rejects with what the constructor threw; the rest of the batch settles', async () => {
  const m = createMachine();
  const uncaught: unknown[] = [];
  const onUncaught = (e: unknown): void => {
    uncaught.push(e);
  };
  process.on('uncaughtException', onUncaught);
  try {
    const [r] = UM.pipe();
    // Many timers expiring in the same batch, every other one with the
    // throwing class, next to plain sleeps that complete with them.
    const calls: Promise<unknown>[] = [];
    for (let i = 0; i < 50; i++) {
      calls.push(m.timeout(2, () => m.read(r, Buffer.alloc(4)), Throwing).catch((e: unknown) => e));
      calls.push(m.timeout(2, () => m.read(r, Buffer.alloc(4))).catch((e: unknown) => e));
      calls.push(m.sleep(2));
    }
    const got = await Promise.all(calls);
    for (let i = 0; i < got.length; i += 3) {
      assert.ok(got[i] instanceof RangeError, String(got[i]));
      assert.equal((got[i] as Error).message, 'constructor failed');
      assert.equal((got[i + 1] as { code?: string }).code, 'UM_TIMEOUT');
      assert.equal(got[i + 2], 2);
    }
    assert.deepEqual(uncaught, []);
    await m.close(r);
  } finally {
    process.off('uncaughtException', onUncaught);
  }
  assertNoPendingOps(m);
});

test('a readFiles callback that throws: the call rejects with its error once every file in flight has ended', async () => {
  const m = createMachine();
  // readFiles: the callback's error is the call's error, once every file in
  // flight has ended.
  const boom = new Error('callback failed');
  let calls = 0;
  await assert.rejects(
    m.readFiles(['/etc/hostname', '/etc/passwd', '/etc/hosts'], () => {
      calls++;
      throw boom;
    }),
    (e: unknown) => e === boom,
  );
  assert.equal(calls, 1);
  assertNoPendingOps(m);
});

test('an onWriteAsyncError hook that throws: the error is an uncaught exception after the batch, the ops of the batch settle', () => {
  // In a child process: the test runner counts any uncaught exception as a failure.
  const script = `
    import { UM, UringMachine } from 'uringmachine';
    const m = new UringMachine();
    const uncaught = [];
    process.on('uncaughtException', (e) => uncaught.push(e.message));
    m.onWriteAsyncError = () => { throw new Error('hook failed'); };
    const [r, w] = UM.pipe();
    await m.close(r);
    const sleeps = [m.sleep(1), m.sleep(1), m.sleep(1)];
    m.writeAsync(w, 'x'); // EPIPE: nobody reads
    const slept = await Promise.all(sleeps);
    for (let i = 0; i < 100 && uncaught.length === 0; i++) await m.sleep(1);
    m.onWriteAsyncError = () => {};
    await m.close(w);
    console.log(JSON.stringify({ slept, uncaught, pending: m.metrics().opsPending }));
    m.close();
  `;
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], {
    encoding: 'utf8',
    cwd: fileURLToPath(new URL('../../..', import.meta.url)),
    timeout: 60_000,
  });
  assert.deepEqual(JSON.parse(out), { slept: [1, 1, 1], uncaught: ['hook failed'], pending: 0 });
});
