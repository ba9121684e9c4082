// Shared test helpers: a fresh machine per test (SQPOLL when
// UM_TEST_SQPOLL=1), and the end-of-test check that nothing leaked.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { UringMachine, type UringMachineOptions } from 'uringmachine';

export function createMachine(opts: UringMachineOptions = {}): UringMachine {
  if (process.env.UM_TEST_SQPOLL === '1' && opts.sqpoll === undefined) opts = { ...opts, sqpoll: true };
  return new UringMachine(opts);
}

/** Fails on leaked ops, internal cancels or live fibers; then closes m. */
export function assertNoPendingOps(m: UringMachine): void {
  const x = m.metrics();
  assert.equal(x.opsPending, 0, 'ops pending');
  assert.equal(x.opsTransient, 0, 'internal ops pending');
  assert.equal(m.fibers.size, 0, 'fibers alive');
  m.close();
}

/** Snooze until cond() holds, at most `max` times. */
export async function until(m: UringMachine, cond: () => boolean, max = 10000): Promise<void> {
  for (let i = 0; i < max; i++) {
    if (cond()) return;
    await m.sleep(1);
  }
  assert.fail('condition not met');
}

export function tmpDir(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'um-test-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}
