// Issue 9, item 6: SQE len is a u32, and lengths of 4 GiB or more wrapped:
// a read of exactly 4 GiB became a zero-length read (a false EOF). Transfer
// lengths are now cut to MAX_RW_COUNT where the call returns a count (the
// kernel cuts them there anyway), and rejected where it cannot be partial.
// The 4 GiB buffer is allocated uninitialised: address space only, the
// kernel touches the few pages it transfers.
import assert from 'node:assert/strict';
import { constants as bufferConstants } from 'node:buffer';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';

import { constants as C, UM } from 'uringmachine';

import { assertNoPendingOps, createMachine, tmpDir } from '../helpers.js';

const GiB4 = 2 ** 32;
const MAX_RW_COUNT = 0x7ffff000;

test('4 GiB lengths: read, recv, write and send move bytes instead of wrapping to 0', async (t) => {
  const m = createMachine();
  const big = Buffer.allocUnsafe(GiB4);
  const p = join(tmpDir(t), 'f');
  writeFileSync(p, 'hello');
  const fd = await m.open(p);
  // read: the whole buffer as room (len 2^32), then maxlen = 2^32 explicitly.
  assert.equal(await m.read(fd, big, undefined, 0, 0), 5);
  assert.equal(big.subarray(0, 5).toString(), 'hello');
  assert.equal(await m.read(fd, big, GiB4, 0, 1), 4);
  await m.close(fd);

  const [a, b] = UM.socketpair(C.AF_UNIX!, C.SOCK_STREAM!, 0);
  await m.send(a, 'ping');
  assert.equal(await m.recv(b, big), 4);
  assert.equal(big.subarray(0, 4).toString(), 'ping');
  // send of 4 GiB: a short count (what the socket buffer took), not 0.
  big.fill(0x78, 0, 16);
  const sent = await m.send(a, big);
  assert.ok(sent > 0 && sent <= MAX_RW_COUNT, `sent ${sent}`);
  const head = Buffer.alloc(16);
  assert.equal(await m.recv(b, head), 16);
  assert.equal(head.toString(), 'x'.repeat(16));
  await m.close(a);
  await m.close(b);

  const [r, w] = UM.pipe();
  const written = await m.write(w, big);
  assert.ok(written > 0 && written <= MAX_RW_COUNT, `wrote ${written}`);
  await m.close(w);
  await m.close(r);

  // A datagram cannot go out in part: rejected before anything is submitted.
  const before = m.metrics().totalOps;
  const u = await m.socket(C.AF_INET!, C.SOCK_DGRAM!);
  await assert.rejects(m.sendto(u, big, '127.0.0.1', 9), { code: 'ERR_OUT_OF_RANGE' });
  assert.equal(m.metrics().totalOps, before + 1); // the socket op only
  await m.close(u);

  // maxlen beyond a small buffer is still a RangeError, also past 2^32.
  await assert.rejects(m.read(0, Buffer.alloc(8), GiB4 + 8), { code: 'ERR_OUT_OF_RANGE' });
  await assert.rejects(m.recv(0, Buffer.alloc(8), GiB4 + 8), { code: 'ERR_OUT_OF_RANGE' });

  if (bufferConstants.MAX_LENGTH > GiB4) {
    // Node >= 22: a buffer longer than 4 GiB, read into at an offset past
    // 4 GiB (the SQE addr is the buffer's address plus a u64 offset).
    const bigger = Buffer.allocUnsafe(GiB4 + 4096);
    const fd2 = await m.open(p);
    assert.equal(await m.read(fd2, bigger, 5, GiB4 + 10, 0), 5);
    assert.equal(bigger.subarray(GiB4 + 10, GiB4 + 15).toString(), 'hello');
    await m.close(fd2);
  }
  assertNoPendingOps(m);
});

test('splice and tee take lengths of 4 GiB and more (they resolve the bytes moved)', async () => {
  const m = createMachine();
  const [r1, w1] = UM.pipe();
  const [r2, w2] = UM.pipe();
  const [r3, w3] = UM.pipe();
  await m.write(w1, 'spliced');
  assert.equal(await m.tee(r1, w3, GiB4), 7);
  assert.equal(await m.splice(r1, -1, w2, -1, GiB4 + 1), 7);
  const b = Buffer.alloc(16);
  assert.equal(b.subarray(0, await m.read(r2, b)).toString(), 'spliced');
  assert.equal(b.subarray(0, await m.read(r3, b)).toString(), 'spliced');
  for (const fd of [r1, w1, r2, w2, r3, w3]) await m.close(fd);
  assertNoPendingOps(m);
});

test('sendBundle: a part of 4 GiB is sent (a ring entry len is a u32 too), not cut to nothing', async (t) => {
  if (UM.kernelVersion() < 610) return t.skip('bundles need Linux >= 6.10');
  const m = createMachine();
  const big = Buffer.allocUnsafe(GiB4);
  big.fill(0x79, 0, 16);
  const [a, b] = UM.socketpair(C.AF_UNIX!, C.SOCK_STREAM!, 0);
  const sender = m.spin(() => m.sendBundle(a, ['head', big]));
  const got = Buffer.alloc(20);
  let n = 0;
  while (n < 20) {
    const k = await m.recv(b, got.subarray(n));
    assert.ok(k > 0, 'EOF before the bytes of the big part');
    n += k;
  }
  assert.equal(got.toString(), 'head' + 'y'.repeat(16));
  // Nobody reads the other 4 GiB: the peer goes away and the send fails.
  await m.close(b);
  await assert.rejects(m.join(sender), (e: unknown) => ['EPIPE', 'ECONNRESET'].includes((e as { code: string }).code));
  await m.close(a);
  assertNoPendingOps(m);
});
