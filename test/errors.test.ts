// Errors: kernel failures as UMError; bad arguments rejected (or thrown, for
// synchronous methods) with Node-style codes before anything is submitted.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { UM, UMError, type UringMachine } from 'uringmachine';

import { assertNoPendingOps, createMachine } from './helpers.js';

const BAD_FD = 9999;

test('kernel errors are UMError with code, errno, syscall and a Node-like message', async () => {
  const m = createMachine();
  const cases: [string, () => Promise<unknown>][] = [
    ['read', () => m.read(BAD_FD, Buffer.alloc(4))],
    ['write', () => m.write(BAD_FD, 'x')],
    ['close', () => m.close(BAD_FD)],
    ['fsync', () => m.fsync(BAD_FD)],
    ['writev', () => m.writev(BAD_FD, ['x'])],
  ];
  for (const [syscall, fn] of cases) {
    await assert.rejects(fn(), (e: unknown) => {
      assert.ok(e instanceof UMError);
      assert.equal(e.code, 'EBADF');
      assert.equal(e.errno, 9);
      assert.equal(e.syscall, syscall);
      assert.equal(e.message, `EBADF: bad file descriptor, ${syscall}`);
      return true;
    });
  }
  assert.throws(() => UM.ioNonblock(BAD_FD), { code: 'EBADF', syscall: 'fcntl' });
  assertNoPendingOps(m);
});

test('wrong argument types reject before anything is submitted', async () => {
  const m = createMachine();
  const before = m.metrics().totalOps;
  const buf = Buffer.alloc(4);
  const rejecting: [string, (m: UringMachine) => Promise<unknown>, string][] = [
    ['read fd string', (m) => m.read('3' as never, buf), 'ERR_INVALID_ARG_TYPE'],
    ['read fd negative', (m) => m.read(-1, buf), 'ERR_OUT_OF_RANGE'],
    ['read fd float', (m) => m.read(1.5, buf), 'ERR_OUT_OF_RANGE'],
    ['read buf', (m) => m.read(0, 'nope' as never), 'ERR_INVALID_ARG_TYPE'],
    ['read maxlen', (m) => m.read(0, buf, 5), 'ERR_OUT_OF_RANGE'],
    ['read bufOffset', (m) => m.read(0, buf, undefined, 9), 'ERR_OUT_OF_RANGE'],
    ['read fileOffset', (m) => m.read(0, buf, 1, 0, -2), 'ERR_OUT_OF_RANGE'],
    ['write data', (m) => m.write(1, 42 as never), 'ERR_INVALID_ARG_TYPE'],
    ['write len', (m) => m.write(1, 'abc', 4), 'ERR_OUT_OF_RANGE'],
    ['writev bufs', (m) => m.writev(1, 'abc' as never), 'ERR_INVALID_ARG_TYPE'],
    ['writev item', (m) => m.writev(1, [1 as never]), 'ERR_INVALID_ARG_TYPE'],
    ['open path', (m) => m.open(42 as never), 'ERR_INVALID_ARG_TYPE'],
    ['open NUL', (m) => m.open('a\0b'), 'ERR_INVALID_ARG_TYPE'],
    ['open flags', (m) => m.open('/x', 'r' as never), 'ERR_INVALID_ARG_TYPE'],
    ['close fd', (m) => m.close(null as never), 'ERR_INVALID_ARG_TYPE'],
    ['statx dirfd', (m) => m.statx('x' as never, '/'), 'ERR_INVALID_ARG_TYPE'],
    ['fsync fd', (m) => m.fsync({} as never), 'ERR_INVALID_ARG_TYPE'],
    ['sleep ms', (m) => m.sleep('1' as never), 'ERR_INVALID_ARG_TYPE'],
    ['timeout fn', (m) => m.timeout(1, 'f' as never), 'ERR_INVALID_ARG_TYPE'],
    ['timeout error', (m) => m.timeout(1, () => 1, 'e' as never), 'ERR_INVALID_ARG_TYPE'],
    ['cancellable signal', (m) => m.cancellable({} as never, () => 1), 'ERR_INVALID_ARG_TYPE'],
    ['periodically fn', (m) => m.periodically(1, null as never), 'ERR_INVALID_ARG_TYPE'],
    ['join non-fiber', (m) => m.join(1 as never), 'ERR_INVALID_ARG_TYPE'],
  ];
  for (const [name, fn, code] of rejecting) {
    let p: Promise<unknown> | undefined;
    assert.doesNotThrow(() => {
      p = fn(m);
    }, name);
    await assert.rejects(p!, { code }, name);
  }
  const throwing: [string, () => unknown, string][] = [
    ['spin', () => m.spin(1 as never), 'ERR_INVALID_ARG_TYPE'],
    ['terminate', () => m.terminate({} as never), 'ERR_INVALID_ARG_TYPE'],
    ['schedule', () => m.schedule(null as never, 1), 'ERR_INVALID_ARG_TYPE'],
    ['writeAsync', () => m.writeAsync(-3, 'x'), 'ERR_OUT_OF_RANGE'],
    ['closeAsync', () => m.closeAsync('1' as never), 'ERR_INVALID_ARG_TYPE'],
    ['interval', () => m.interval(-1), 'ERR_OUT_OF_RANGE'],
    ['prepTimeout', () => m.prepTimeout('1' as never), 'ERR_INVALID_ARG_TYPE'],
    ['onUnhandledFiberError', () => (m.onUnhandledFiberError = 1 as never), 'ERR_INVALID_ARG_TYPE'],
    ['UM.socketpair', () => UM.socketpair('unix' as never, 1, 0), 'ERR_INVALID_ARG_TYPE'],
    ['UM.setNonblock', () => UM.setNonblock(0, 'yes' as never), 'ERR_INVALID_ARG_TYPE'],
    ['UM.pidfdOpen', () => UM.pidfdOpen(0), 'ERR_OUT_OF_RANGE'],
    ['new UringMachine entries', () => createMachine({ entries: 0 }), 'ERR_OUT_OF_RANGE'],
    ['new UringMachine sqpoll', () => createMachine({ sqpoll: 'yes' as never }), 'ERR_INVALID_ARG_TYPE'],
    ['new UringMachine maxSwitches', () => createMachine({ maxSwitches: 'fast' as never }), 'ERR_INVALID_ARG_TYPE'],
  ];
  for (const [name, fn, code] of throwing) assert.throws(fn, { code }, name);
  assert.equal(m.metrics().totalOps, before, 'nothing was submitted');
  assertNoPendingOps(m);
});
