// m.uncancellable (issue 12): cleanup ops after a timeout or terminate.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { Terminate, TimeoutError, UM } from 'uringmachine';
import { assertNoPendingOps, createMachine } from './helpers.js';

test('in the finally of a timed-out scope ops raise again, ops inside m.uncancellable run', async () => {
  const m = createMachine();
  const [r, w] = UM.pipe();
  const [r2, w2] = UM.pipe();
  const seen: string[] = [];
  await assert.rejects(
    m.timeout(20, async () => {
      try {
        await m.read(r, Buffer.alloc(8)); // nothing comes: the timeout cancels it
      } finally {
        await m.write(w2, 'plain').then(
          () => seen.push('plain write ran'),
          (e: unknown) => seen.push(`plain write raised ${(e as Error).name}`),
        );
        seen.push(`shielded wrote ${await m.uncancellable(() => m.write(w2, 'timed out'))}`);
        // The caller's cancellation is back after the section.
        await m.sleep(1).catch((e: unknown) => seen.push(`then ${(e as Error).name}`));
      }
    }),
    TimeoutError,
  );
  assert.deepEqual(seen, ['plain write raised TimeoutError', 'shielded wrote 9', 'then TimeoutError']);
  const buf = Buffer.alloc(16);
  assert.equal(buf.subarray(0, await m.read(r2, buf)).toString(), 'timed out');
  for (const fd of [r, w, r2, w2]) await m.close(fd);
  assertNoPendingOps(m);
});

test('terminate during an uncancellable section: the section finishes, the fiber stops at its next op', async () => {
  const m = createMachine();
  const steps: string[] = [];
  const f = m.spin(async () => {
    try {
      await m.sleep(Infinity);
    } finally {
      steps.push(`slept ${await m.uncancellable(() => m.sleep(20))}`);
      try {
        await m.sleep(1);
        steps.push('not stopped');
      } catch (e) {
        steps.push(e instanceof Terminate ? 'terminated' : String(e));
        throw e;
      }
    }
  });
  await m.sleep(1);
  m.terminate(f);
  await m.sleep(5);
  m.terminate(f); // a second terminate while shielded does not cut the section short
  assert.equal(await m.join(f), undefined);
  assert.deepEqual(steps, ['slept 20', 'terminated']);
  assertNoPendingOps(m);
});

test('uncancellable is bounded by its own timeout; bad arguments reject', async () => {
  const m = createMachine();
  await assert.rejects(m.uncancellable(() => m.sleep(Infinity), { timeout: 10 }), (e: unknown) => e instanceof TimeoutError && /uncancellable/.test(e.message));
  assert.equal(await m.uncancellable(async () => 7, { timeout: 1000 }), 7);
  await assert.rejects(m.uncancellable('x' as never), { code: 'ERR_INVALID_ARG_TYPE' });
  await assert.rejects(m.uncancellable(() => 1, { timeout: -1 }), { code: 'ERR_OUT_OF_RANGE' });
  assertNoPendingOps(m);
});
