// Issue 12: UMError messages name the path as node:fs does, and with
// { stackTraces: true } a kernel error's stack shows the caller's frame.
import assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import { test } from 'node:test';

import { constants as C, UMError } from 'uringmachine';
import { assertNoPendingOps, createMachine } from './helpers.js';

async function nodeMessage(fn: () => Promise<unknown>): Promise<string> {
  try {
    await fn();
  } catch (e) {
    return (e as Error).message;
  }
  throw new Error('did not fail');
}

async function ours(p: Promise<unknown>): Promise<UMError> {
  return p.then(
    () => assert.fail('did not fail'),
    (e: unknown) => {
      assert.ok(e instanceof UMError, String(e));
      return e;
    },
  );
}

test("UMError messages name the path like node:fs: ENOENT: no such file or directory, open '/nope/x'", async () => {
  const m = createMachine();
  const open = await ours(m.open('/nope/x'));
  assert.equal(open.message, "ENOENT: no such file or directory, open '/nope/x'");
  assert.equal(open.message, await nodeMessage(() => fsp.open('/nope/x')));
  assert.equal(open.path, '/nope/x');
  assert.ok(open.stack!.startsWith(`UMError: ${open.message}\n`), open.stack);
  // The callback form of open too (the fd would be closed after fn).
  const cb = await ours(m.open('/nope/y', C.O_RDONLY!, 0o666, async () => 1));
  assert.equal(cb.message, "ENOENT: no such file or directory, open '/nope/y'");
  const unlink = await ours(m.unlink('/nope/z'));
  assert.equal(unlink.message, await nodeMessage(() => fsp.unlink('/nope/z')));
  const rename = await ours(m.rename('/nope/a', '/nope/b'));
  assert.equal(rename.message, await nodeMessage(() => fsp.rename('/nope/a', '/nope/b')));
  const st = await ours(m.statx(C.AT_FDCWD!, '/nope/s'));
  assert.equal(st.message, "ENOENT: no such file or directory, statx '/nope/s'");
  assertNoPendingOps(m);
});

async function loadConfig(m: ReturnType<typeof createMachine>): Promise<number> {
  return m.open('/nope/config.json');
}

test("stackTraces: true: a kernel error's stack shows the function that issued the op; off by default", async () => {
  const on = createMachine({ stackTraces: true });
  const e = await ours(loadConfig(on));
  assert.match(e.stack!, /\n\s+at loadConfig \(/);
  assert.ok(e.stack!.startsWith("UMError: ENOENT: no such file or directory, open '/nope/config.json'\n"), e.stack);
  const [r] = [await on.open('/dev/null')];
  const bad = await ours(on.read(9999, Buffer.alloc(1)));
  assert.equal(bad.code, 'EBADF');
  assert.match(bad.stack!, /at UringMachine\.read/);
  await on.close(r);
  assertNoPendingOps(on);
  const off = createMachine();
  const e2 = await ours(loadConfig(off));
  assert.doesNotMatch(e2.stack!, /loadConfig/);
  assertNoPendingOps(off);
  assert.throws(() => createMachine({ stackTraces: 1 as unknown as boolean }), { code: 'ERR_INVALID_ARG_TYPE' });
});
