// ftruncate, sendFd / recvFd (issue 15).
import assert from 'node:assert/strict';
import { closeSync, fstatSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';

import { TimeoutError, UM, constants as C } from 'uringmachine';

import { assertNoPendingOps, createMachine, fdTable, leakedFds, tmpDir } from './helpers.js';

const AF_UNIX = C.AF_UNIX!;
const SOCK_STREAM = C.SOCK_STREAM!;
const skipFt = UM.kernelVersion() < 609 && 'IORING_OP_FTRUNCATE needs Linux >= 6.9';

test('ftruncate shrinks and extends a file; EINVAL on a pipe; bad arguments', { skip: skipFt }, async (t) => {
  const m = createMachine();
  const path = join(tmpDir(t), 'f');
  writeFileSync(path, 'hello world');
  const fd = openSync(path, 'r+');
  await m.ftruncate(fd, 5);
  assert.equal(readFileSync(path, 'utf8'), 'hello');
  await m.ftruncate(fd, 8);
  assert.deepEqual([...readFileSync(path)], [...Buffer.from('hello'), 0, 0, 0]);
  await m.ftruncate(fd);
  assert.equal(fstatSync(fd).size, 0);
  closeSync(fd);
  const [r, w] = UM.pipe();
  await assert.rejects(m.ftruncate(w, 1), { name: 'UMError', code: 'EINVAL', syscall: 'ftruncate' });
  const ops = m.metrics().totalOps;
  await assert.rejects(m.ftruncate(w, -1), { name: 'RangeError', code: 'ERR_OUT_OF_RANGE' });
  await assert.rejects(m.ftruncate('x' as never), { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' });
  assert.equal(m.metrics().totalOps, ops);
  await m.close(r);
  await m.close(w);
  assertNoPendingOps(m);
});

test('sendFd / recvFd pass a descriptor over a unix socket: the received fd reads the same pipe', async () => {
  const m = createMachine();
  const [a, b] = UM.socketpair(AF_UNIX, SOCK_STREAM, 0);
  const [r, w] = UM.pipe();
  const receiving = m.recvFd(b);
  await m.sendFd(a, r);
  const r2 = await receiving;
  assert.notEqual(r2, r);
  await m.close(r); // the copy keeps the pipe open
  await m.write(w, 'through the copy');
  const buf = Buffer.alloc(32);
  const n = await m.read(r2, buf);
  assert.equal(buf.subarray(0, n).toString(), 'through the copy');
  // Plain data without a descriptor, then EOF.
  await m.send(a, 'z');
  await assert.rejects(m.recvFd(b), { code: 'ERR_UM_NO_FD' });
  await m.shutdown(a, C.SHUT_WR!);
  await assert.rejects(m.recvFd(b), { code: 'ERR_UM_NO_FD' });
  // Natural errors: not a socket; a bad fd to send.
  await assert.rejects(m.sendFd(w, r2), { name: 'UMError', code: 'ENOTSOCK' });
  await assert.rejects(m.sendFd(a, r), { name: 'UMError' }); // r is closed: EBADF
  for (const fd of [a, b, w, r2]) await m.close(fd);
  assertNoPendingOps(m);
});

test('recvFd waiting for a descriptor is cancelled by m.timeout and terminate; bad arguments', async () => {
  const m = createMachine();
  const [a, b] = UM.socketpair(AF_UNIX, SOCK_STREAM, 0);
  await assert.rejects(m.timeout(5, () => m.recvFd(b)), TimeoutError);
  const f = m.spin(() => m.recvFd(b));
  await m.sleep(2);
  m.terminate(f);
  assert.equal(await m.join(f), undefined);
  const ops = m.metrics().totalOps;
  await assert.rejects(m.sendFd(a, -1), { name: 'RangeError', code: 'ERR_OUT_OF_RANGE' });
  await assert.rejects(m.recvFd('x' as never), { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' });
  assert.equal(m.metrics().totalOps, ops);
  await m.close(a);
  await m.close(b);
  assertNoPendingOps(m);
});

test('m.close() racing recvFd ops whose descriptors already arrived: every received fd is closed, none leaks', async () => {
  // Each socket already holds a descriptor when its recvFd is prepared, so
  // the kernel completes the RECVMSG inline when close() submits it ahead of
  // its cancel-all: the fd is installed in our table, the op's result is a
  // byte count, and the op is rejected (the machine is closing). Nobody will
  // ever see that fd: the close path must close it. Counted at volume.
  const N = 200;
  const src = UM.pipe();
  const pairs = Array.from({ length: N }, () => UM.socketpair(AF_UNIX, SOCK_STREAM, 0));
  const setup = createMachine();
  for (const [a] of pairs) await setup.sendFd(a, src[0]);
  setup.close();
  const before = fdTable();
  const m = createMachine();
  const receiving = pairs.map(([, b]) => m.recvFd(b));
  assert.equal(m.metrics().opsPending, N, 'prepared, not yet completed');
  m.close();
  const results = await Promise.allSettled(receiving);
  const received = results.filter((r) => r.status === 'fulfilled').length;
  for (const r of results) if (r.status === 'rejected') assert.equal((r.reason as Error).name, 'MachineClosedError');
  // A fulfilled one (none expected: close() rejects what it catches) would be the caller's to close.
  for (const r of results) if (r.status === 'fulfilled') closeSync(r.value);
  assert.deepEqual(leakedFds(before), [], `received descriptors leaked (${received} of ${N} resolved)`);
  // The race was run: a socket whose byte (and descriptor) is gone had its
  // RECVMSG completed by the kernel before the cancel-all reached it.
  const probe = createMachine();
  let consumed = 0;
  for (const [, b] of pairs) {
    try {
      await probe.recv(b, Buffer.alloc(1), undefined, C.MSG_DONTWAIT!);
    } catch (e) {
      if ((e as { code?: string }).code === 'EAGAIN') consumed++;
      else throw e;
    }
  }
  probe.close();
  assert.ok(consumed > 0, 'no recvFd completed before close(): the test raced nothing');
  for (const [a, b] of pairs) {
    closeSync(a);
    closeSync(b);
  }
  closeSync(src[0]);
  closeSync(src[1]);
});

test('recvFd racing m.timeout and terminate while descriptors trickle in: each one is received exactly once, none leaks', async (t) => {
  // Each descriptor sent is a pipe's read end whose pipe holds a token; the
  // sender closes its copies, so a descriptor the receiver lost to a cancel
  // would either leak (still open in the fd table) or its token would never
  // be read. A recvFd that timed out or was terminated is simply retried.
  const before = fdTable();
  const m = createMachine();
  const [a, b] = UM.socketpair(AF_UNIX, SOCK_STREAM, 0);
  const N = 600;
  const seen = new Uint8Array(N);
  const stats = { received: 0, cancelled: 0 };
  const sender = m.spin(async () => {
    for (let i = 0; i < N; i++) {
      const [r, w] = UM.pipe();
      await m.write(w, String(i));
      await m.close(w);
      await m.sendFd(a, r);
      await m.close(r); // the message's reference keeps the pipe
      // about the receiver's timeout, so the two often meet; now and then a
      // longer gap, so receives are cut however loaded the machine is
      await m.sleep(i % 20 === 19 ? 4 : 0.9 + (i % 3) * 0.1);
    }
  });
  const buf = Buffer.alloc(16);
  for (let round = 0; stats.received < N; round++) {
    assert.ok(round < 50 * N, 'descriptors keep arriving');
    let fd: number | undefined;
    if (round % 3 === 2) {
      const f = m.spin(() => m.recvFd(b));
      await m.sleep(1);
      m.terminate(f);
      fd = await m.join(f);
    } else {
      try {
        fd = await m.timeout(1, () => m.recvFd(b));
      } catch (e) {
        assert.ok(e instanceof TimeoutError, String(e));
      }
    }
    if (fd === undefined) {
      stats.cancelled++;
      continue;
    }
    const n = await m.read(fd, buf);
    seen[Number(buf.subarray(0, n).toString())]!++;
    await m.close(fd);
    stats.received++;
  }
  await m.join(sender);
  const wrong = [...seen.keys()].filter((i) => seen[i] !== 1);
  assert.deepEqual(wrong.slice(0, 10), [], `each token exactly once (${JSON.stringify(stats)})`);
  assert.ok(stats.cancelled > 0, JSON.stringify(stats));
  t.diagnostic(JSON.stringify({ ...stats, cancelsRaced: m.metrics().cancelsRaced }));
  for (const fd of [a, b]) await m.close(fd);
  assertNoPendingOps(m);
  m.close();
  assert.deepEqual(leakedFds(before), [], 'no received descriptor left open');
});
