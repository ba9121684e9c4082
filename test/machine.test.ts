// The machine itself: construction options and their validation, size,
// metrics, submit, wakeup, close (twice, with ops after it) and dispose,
// static helpers, constants.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { release } from 'node:os';
import { test } from 'node:test';

import { constants as C, MachineClosedError, UM, UringMachine } from 'uringmachine';

import { assertNoPendingOps, createMachine } from './helpers.js';

const METRICS = ['size', 'totalOps', 'totalSwitches', 'totalWaits', 'totalTurns', 'switchLimit', 'opsPending', 'opsUnsubmitted', 'opsRunqueue', 'opsFree', 'opsTransient',
  'bufferPoolBytes', 'bufferPoolBuffers', 'bufferPoolFree', 'bufferPoolInUse', 'bufferPoolEnobufs', 'cancelsRaced', 'wakeupsMissed'];

test('options: entries sets size (rounded up to a power of two), defaults to 4096', async () => {
  const m = createMachine({ entries: 64 });
  assert.equal(m.size, 64);
  assert.equal(m.metrics().size, 64);
  assertNoPendingOps(m);
  const odd = createMachine({ entries: 100 });
  assert.equal(odd.size, 128);
  assertNoPendingOps(odd);
  const d = createMachine();
  assert.equal(d.size, 4096);
  assert.equal(await d.sleep(1), 1);
  assertNoPendingOps(d);
});

test('options: sqpoll (true or { idleMs }) and maxSwitches (number or adaptive) give working machines', async () => {
  for (const opts of [{ sqpoll: true }, { sqpoll: { idleMs: 10 } }, { sqpoll: false }, { maxSwitches: 1 }, { maxSwitches: 'adaptive' as const }]) {
    const m = new UringMachine(opts);
    assert.equal(m.sqpoll, opts.sqpoll === true || typeof opts.sqpoll === 'object', JSON.stringify(opts));
    const [r, w] = UM.pipe();
    const reader = m.spin(async () => {
      const b = Buffer.alloc(8);
      return b.subarray(0, await m.read(r, b)).toString();
    });
    assert.equal(await m.write(w, 'sq'), 2, JSON.stringify(opts));
    assert.equal(await m.join(reader), 'sq', JSON.stringify(opts));
    await m.close(r);
    await m.close(w);
    assertNoPendingOps(m);
  }
});

test('options are validated: TypeError / RangeError with Node-style codes', () => {
  const bad: [string, unknown, ErrorConstructor, string][] = [
    ['opts null', null, TypeError, 'ERR_INVALID_ARG_TYPE'],
    ['opts number', 5, TypeError, 'ERR_INVALID_ARG_TYPE'],
    ['entries string', { entries: '64' }, TypeError, 'ERR_INVALID_ARG_TYPE'],
    ['entries 0', { entries: 0 }, RangeError, 'ERR_OUT_OF_RANGE'],
    ['entries negative', { entries: -8 }, RangeError, 'ERR_OUT_OF_RANGE'],
    ['entries float', { entries: 1.5 }, RangeError, 'ERR_OUT_OF_RANGE'],
    ['entries too big', { entries: 1 << 20 }, RangeError, 'ERR_OUT_OF_RANGE'],
    ['entries NaN', { entries: NaN }, RangeError, 'ERR_OUT_OF_RANGE'],
    ['sqpoll string', { sqpoll: 'yes' }, TypeError, 'ERR_INVALID_ARG_TYPE'],
    ['sqpoll number', { sqpoll: 1 }, TypeError, 'ERR_INVALID_ARG_TYPE'],
    ['sqpoll null', { sqpoll: null }, TypeError, 'ERR_INVALID_ARG_TYPE'],
    ['sqpoll.idleMs string', { sqpoll: { idleMs: '5' } }, TypeError, 'ERR_INVALID_ARG_TYPE'],
    ['sqpoll.idleMs negative', { sqpoll: { idleMs: -1 } }, RangeError, 'ERR_OUT_OF_RANGE'],
    ['maxSwitches string', { maxSwitches: 'fast' }, TypeError, 'ERR_INVALID_ARG_TYPE'],
    ['maxSwitches 0', { maxSwitches: 0 }, RangeError, 'ERR_OUT_OF_RANGE'],
    ['maxSwitches float', { maxSwitches: 2.5 }, RangeError, 'ERR_OUT_OF_RANGE'],
    ['maxSwitches Infinity', { maxSwitches: Infinity }, RangeError, 'ERR_OUT_OF_RANGE'],
  ];
  for (const [name, opts, cls, code] of bad) {
    assert.throws(
      () => new UringMachine(opts as never),
      (e: unknown) => {
        assert.ok(e instanceof cls, `${name}: ${String(e)}`);
        assert.equal((e as { code?: string }).code, code, name);
        return true;
      },
      name,
    );
  }
});

test('metrics: every field is a number and tracks pending, unsubmitted and total ops', async () => {
  const m = createMachine({ entries: 64 });
  const x = m.metrics();
  for (const k of METRICS) assert.equal(typeof (x as unknown as Record<string, number>)[k], 'number', k);
  assert.deepEqual(Object.keys(x).sort(), [...METRICS].sort());
  assert.equal(x.totalOps, 0);
  assert.equal(x.opsPending, 0);
  const a = m.sleep(1);
  const b = m.sleep(2);
  assert.equal(m.metrics().opsPending, 2);
  assert.equal(m.metrics().totalOps, 2);
  if (!m.sqpoll) assert.equal(m.metrics().opsUnsubmitted, 2); // in the SQ, not entered yet
  assert.deepEqual(await Promise.all([a, b]), [1, 2]);
  assert.equal(m.metrics().opsPending, 0);
  assert.equal(m.metrics().opsUnsubmitted, 0);
  assert.ok(m.metrics().opsFree >= 2, 'op records are pooled');
  const f = m.spin(() => m.yield());
  await m.sleep(1);
  const before = m.metrics();
  m.schedule(f, 1);
  assert.equal(m.metrics().opsRunqueue, before.opsRunqueue + 1);
  await m.join(f);
  const after = m.metrics();
  assert.ok(after.totalSwitches > 0);
  assert.ok(after.totalWaits >= 2, 'yield and join parked');
  assertNoPendingOps(m);
});

test('submit() enters prepared SQEs at once and returns how many', async () => {
  const m = createMachine({ sqpoll: false });
  assert.equal(m.submit(), 0);
  const ps = [m.sleep(1), m.sleep(1), m.sleep(1)];
  assert.equal(m.metrics().opsUnsubmitted, 3);
  assert.equal(m.submit(), 3);
  assert.equal(m.metrics().opsUnsubmitted, 0);
  assert.equal(m.metrics().opsPending, 3);
  await Promise.all(ps);
  assertNoPendingOps(m);
  assert.equal(m.submit(), 0, 'closed: nothing to submit');
});

test('wakeup() is harmless while idle, while ops are pending, and after close', async () => {
  const m = createMachine();
  m.wakeup();
  const [r, w] = UM.pipe();
  const reader = m.spin(async () => {
    const b = Buffer.alloc(8);
    return b.subarray(0, await m.read(r, b)).toString();
  });
  await m.sleep(1);
  for (let i = 0; i < 10; i++) m.wakeup();
  await m.sleep(1);
  assert.equal(reader.done, false, 'a spurious wake-up completes nothing');
  await m.write(w, 'woke');
  assert.equal(await m.join(reader), 'woke');
  await m.close(r);
  await m.close(w);
  assertNoPendingOps(m);
  m.wakeup();
});

test('close() twice is fine; every op afterwards rejects (or throws) MachineClosedError ERR_UM_CLOSED', async () => {
  const m = createMachine();
  const [r, w] = UM.pipe();
  m.close();
  m.close();
  assert.equal(m.closed, true);
  const closedError = (e: unknown) => e instanceof MachineClosedError && (e as MachineClosedError).code === 'ERR_UM_CLOSED';
  const rejecting: [string, () => Promise<unknown>][] = [
    ['sleep', () => m.sleep(1)],
    ['read', () => m.read(r, Buffer.alloc(4))],
    ['write', () => m.write(w, 'x')],
    ['writev', () => m.writev(w, ['x'])],
    ['open', () => m.open('/dev/null')],
    ['statx', () => m.statx(C.AT_FDCWD!, '/')],
    ['fsync', () => m.fsync(w)],
    ['close(fd)', () => m.close(w)],
    ['timeout', () => m.timeout(10, () => m.sleep(1))],
    ['periodically', () => m.periodically(1, () => {})],
  ];
  for (const [name, fn] of rejecting) {
    let p: Promise<unknown> | undefined;
    assert.doesNotThrow(() => (p = fn()), name);
    await assert.rejects(p!, closedError, name);
  }
  assert.throws(() => m.spin(() => 1), closedError);
  assert.throws(() => m.writeAsync(w, 'x'), closedError);
  assert.throws(() => m.closeAsync(w), closedError);
  assert.throws(() => m.prepTimeout(1), closedError);
  assert.equal(m.metrics().opsPending, 0);
  // The fds are the caller's: closing the machine left them open.
  UM.setNonblock(r, false);
  const m2 = createMachine();
  await m2.close(r);
  await m2.close(w);
  assertNoPendingOps(m2);
});

test('Symbol.dispose closes the machine (using)', async () => {
  let outer: UringMachine;
  {
    using m = createMachine();
    outer = m;
    assert.equal(await m.sleep(1), 1);
    assert.equal(m.closed, false);
  }
  assert.equal(outer.closed, true);
  await assert.rejects(outer.sleep(1), MachineClosedError);
  const m = createMachine();
  m[Symbol.dispose]();
  assert.equal(m.closed, true);
});

test('static helpers: kernelVersion, pipe, socketpair, ioNonblock/setNonblock', async () => {
  const [major, minor] = release().split('.').map(Number);
  assert.equal(UM.kernelVersion(), major! * 100 + minor!);
  assert.equal(UM, UringMachine);
  const [r, w] = UM.pipe();
  assert.ok(Number.isInteger(r) && Number.isInteger(w) && r !== w);
  assert.equal(UM.ioNonblock(r), false);
  UM.setNonblock(r, true);
  assert.equal(UM.ioNonblock(r), true);
  UM.setNonblock(r, false);
  assert.equal(UM.ioNonblock(r), false);
  const m = createMachine();
  // The pipe's direction: written at w, read at r.
  await m.write(w, 'pipe');
  const pb = Buffer.alloc(8);
  assert.equal(pb.subarray(0, await m.read(r, pb)).toString(), 'pipe');
  const [a, b] = UM.socketpair(C.AF_UNIX!, C.SOCK_STREAM!, 0);
  await m.write(a, 'ping');
  await m.write(b, 'pong');
  const buf = Buffer.alloc(4);
  assert.equal(await m.read(b, buf), 4);
  assert.equal(buf.toString(), 'ping');
  assert.equal(await m.read(a, buf), 4);
  assert.equal(buf.toString(), 'pong');
  for (const fd of [r, w, a, b]) await m.close(fd);
  assert.throws(() => UM.ioNonblock(r), { code: 'EBADF' });
  assertNoPendingOps(m);
});

test('static helpers: pidfdOpen / pidfdSendSignal signal a child process', async () => {
  const m = createMachine();
  const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 20000)'], { stdio: 'ignore' });
  const exited = new Promise<NodeJS.Signals | null>((res) => child.once('exit', (_c, sig) => res(sig)));
  await new Promise((res) => child.once('spawn', res));
  const pidfd = UM.pidfdOpen(child.pid!);
  assert.ok(pidfd > 2);
  UM.pidfdSendSignal(pidfd, 0); // signal 0: only checks the process is there
  UM.pidfdSendSignal(pidfd, C.SIGTERM!);
  assert.equal(await exited, 'SIGTERM');
  await m.close(pidfd);
  assert.throws(() => UM.pidfdOpen(2 ** 22 + 12345), { code: 'ESRCH', syscall: 'pidfd_open' });
  assert.throws(() => UM.pidfdSendSignal(pidfd, C.SIGTERM!), { code: 'EBADF' });
  assertNoPendingOps(m);
});

test('constants come from the system headers', () => {
  const expected: Record<string, number> = {
    O_RDONLY: 0, O_WRONLY: 1, O_RDWR: 2, O_CREAT: 0o100, O_EXCL: 0o200, O_TRUNC: 0o1000, O_APPEND: 0o2000,
    O_NONBLOCK: 0o4000, AF_INET: 2, AF_INET6: 10, AF_UNIX: 1, SOCK_STREAM: 1, SOCK_DGRAM: 2,
    POLLIN: 1, POLLOUT: 4, POLLERR: 8, POLLHUP: 16, SHUT_WR: 1, P_PID: 1, P_PIDFD: 3, SIGTERM: 15, SIGKILL: 9,
    STATX_SIZE: 0x200, STATX_BASIC_STATS: 0x7ff, STDIN_FILENO: 0, STDOUT_FILENO: 1, STDERR_FILENO: 2,
    AT_FDCWD: -100, AT_REMOVEDIR: 0x200, AT_EMPTY_PATH: 0x1000, WEXITED: 4,
  };
  for (const [k, v] of Object.entries(expected)) assert.equal(C[k as keyof typeof C], v, k);
  for (const prefix of ['O_', 'AT_', 'AF_', 'SOCK_', 'SOL_', 'SO_', 'IPPROTO_', 'TCP_', 'MSG_', 'SHUT_', 'POLL', 'STATX_', 'P_', 'W', 'SIG', 'SPLICE_F_', 'POSIX_FADV_', 'MADV_', 'XATTR_', 'RENAME_']) {
    assert.ok(Object.keys(C).some((k) => k.startsWith(prefix)), prefix);
  }
  assert.ok(Object.isFrozen(C));
});
