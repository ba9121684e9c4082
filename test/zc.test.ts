// Zero-copy sends (issue 15): sendZc / sendvZc over loopback TCP. The
// property that matters: the op (and its pin on the buffer) lives until the
// kernel's notification CQE, not just until the first CQE that settles the
// promise. A receiver that does not read keeps the sent skbs unacknowledged,
// so the notification cannot come before it reads: that makes the order
// observable without any timing threshold.
import assert from 'node:assert/strict';
import { closeSync } from 'node:fs';
import { test } from 'node:test';

import { constants as C, TimeoutError, UM, type UringMachine } from 'uringmachine';

import { assertNoPendingOps, createMachine, until } from './helpers.js';
import { localPort } from './local-port.js';

const AF_INET = C.AF_INET!;
const AF_UNIX = C.AF_UNIX!;
const SOCK_STREAM = C.SOCK_STREAM!;
const skip = UM.kernelVersion() < 601 && 'SEND_ZC / SENDMSG_ZC need Linux >= 6.1';

/** A connected TCP pair on 127.0.0.1: [server side, client side]; the client's receive buffer is small. */
async function tcpPair(m: UringMachine): Promise<[number, number]> {
  const lfd = await m.tcpListen('127.0.0.1', 0);
  const port = localPort(lfd);
  const c = await m.socket(AF_INET, SOCK_STREAM);
  await m.setsockopt(c, C.SOL_SOCKET!, C.SO_RCVBUF!, 4096);
  const accepting = m.accept(lfd);
  await m.connect(c, '127.0.0.1', port);
  const s = await accepting;
  await m.close(lfd);
  return [s, c];
}

async function recvExactly(m: UringMachine, fd: number, n: number): Promise<Buffer> {
  const out = Buffer.alloc(n);
  let got = 0;
  while (got < n) {
    const r = await m.recv(fd, out.subarray(got));
    assert.ok(r > 0, 'no EOF before all bytes');
    got += r;
  }
  return out;
}

function pattern(n: number, seed: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed) & 0xff;
  return b;
}

test('sendZc: resolves the bytes at the first CQE; the op stays pending until the notification, which waits for the peer to read', { skip }, async () => {
  const m = createMachine();
  const [s, c] = await tcpPair(m);
  const data = pattern(64 * 1024, 7);
  const n = await m.sendZc(s, data);
  assert.ok(n > 16 * 1024 && n <= data.length, `sent ${n}`);
  // The peer has not read: the skbs are not acknowledged, the pages are
  // still the kernel's, so the notification has not come.
  for (let i = 0; i < 5; i++) await m.sleep(2);
  assert.equal(m.zcStats().inFlight, 1, 'notification still due');
  assert.equal(m.metrics().opsPending, 1, 'the op record (and its pin) lives on');
  const got = await recvExactly(m, c, n);
  assert.ok(got.equals(data.subarray(0, n)), 'the bytes arrived intact');
  await until(m, () => m.zcStats().inFlight === 0, 5000, 'notification');
  const st = m.zcStats();
  assert.equal(st.sends, 1);
  assert.equal(st.notifications, 1);
  assert.equal(m.metrics().opsPending, 0);
  await m.close(s);
  await m.close(c);
  assertNoPendingOps(m);
});

test('sendZc with len, and sendvZc: all of several buffers arrive in order', { skip }, async () => {
  const m = createMachine();
  const [s, c] = await tcpPair(m);
  await m.setsockopt(c, C.SOL_SOCKET!, C.SO_RCVBUF!, 1 << 20);
  const a = pattern(1000, 1);
  assert.equal(await m.sendZc(s, a, 10), 10);
  assert.ok((await recvExactly(m, c, 10)).equals(a.subarray(0, 10)));
  const bufs = [pattern(100_000, 2), Buffer.from('héllo'), pattern(50_000, 3)];
  const total = bufs.reduce((x, b) => x + b.length, 0);
  const reading = recvExactly(m, c, total);
  assert.equal(await m.sendvZc(s, bufs), total);
  assert.ok((await reading).equals(Buffer.concat(bufs)));
  assert.equal(await m.sendvZc(s, []), 0);
  await until(m, () => m.zcStats().inFlight === 0, 5000, 'notifications');
  assert.ok(m.zcStats().notifications >= 2);
  await m.close(s);
  await m.close(c);
  assertNoPendingOps(m);
});

test('sendZc: kernel errors are UMErrors (EBADF; EOPNOTSUPP on a unix socket)', { skip }, async () => {
  const m = createMachine();
  const [a, b] = UM.socketpair(AF_UNIX, SOCK_STREAM, 0);
  await assert.rejects(m.sendZc(a, 'x'), { name: 'UMError', code: 'ENOTSUP', syscall: 'send_zc' });
  const [r, w] = UM.pipe();
  await m.close(r);
  await m.close(w);
  await assert.rejects(m.sendZc(r, 'x'), { name: 'UMError', code: 'EBADF' });
  await until(m, () => m.zcStats().inFlight === 0, 5000, 'notifications');
  await m.close(a);
  await m.close(b);
  assertNoPendingOps(m);
});

/**
 * Fill s's send queue (and c's receive queue) with non-blocking sends until
 * EAGAIN, and until it stays full: at the first EAGAIN some of the data may
 * still be in flight, and the ACKs that come in after it free send space
 * again (a fresh-clone CI run under ASan saw the "blocked" sendZc below send
 * all of its 64 KiB). So the queue counts as full only when a send after a
 * quiet pause (a few ms: loopback ACKs take microseconds) still gets EAGAIN,
 * three times running.
 */
async function fill(m: UringMachine, s: number): Promise<number> {
  const chunk = Buffer.alloc(64 * 1024);
  let total = 0;
  let quiet = 0;
  for (let i = 0; i < 10_000 && quiet < 3; i++) {
    try {
      total += await m.send(s, chunk, undefined, C.MSG_DONTWAIT!);
      quiet = 0;
    } catch (e) {
      assert.equal((e as { code?: string }).code, 'EAGAIN');
      quiet++;
      await m.sleep(5);
    }
  }
  assert.equal(quiet, 3, 'the send queue never filled');
  return total;
}

test('sendZc blocked on a full socket: timeout and terminate cancel it; the op settles only at its final CQE', { skip }, async (t) => {
  const m = createMachine();
  const [s, c] = await tcpPair(m);
  // On a failure below, a send that did go out keeps its notification (and
  // the machine, and this file's process) waiting for a peer that never
  // reads: close both ends so the skbs are freed and the machine can close.
  let open = true;
  t.after(() => {
    if (!open) return;
    for (const fd of [s, c]) {
      try {
        closeSync(fd);
      } catch {
        // closed by the test already
      }
    }
    m.close();
  });
  // A set SO_SNDBUF is locked: TCP's send-buffer autotuning cannot grow it
  // once the queue is full (ACKs of zero-window probes did, and a "blocked"
  // sendZc then went out whole).
  await m.setsockopt(s, C.SOL_SOCKET!, C.SO_SNDBUF!, 16 * 1024);
  const queued = await fill(m, s);
  const sends = m.zcStats().sends;
  // Even a full queue takes a little more now and then (the peer's receive
  // queue is compacted and a zero-window probe finds a window of a few KiB),
  // so a cancelled send may have sent a part before its cancel: then that
  // part is its result (completion wins, docs/ARCHITECTURE.md), and the peer
  // must read exactly those bytes after the filler. It is never all of the
  // 64 KiB: the cancel stopped each send part way.
  const p5 = pattern(64 * 1024, 5);
  const p6 = pattern(64 * 1024, 6);
  let n5 = 0;
  try {
    n5 = await m.timeout(10, () => m.sendZc(s, p5));
  } catch (e) {
    assert.ok(e instanceof TimeoutError, String(e));
  }
  const f = m.spin(() => m.sendZc(s, p6));
  await m.sleep(5);
  m.terminate(f);
  const n6 = (await m.join(f)) ?? 0;
  assert.ok(n5 < p5.length && n6 < p6.length, `the sends were not cancelled part way: ${n5}, ${n6} bytes`);
  assert.equal(m.zcStats().sends, sends + 2);
  // The peer reads the filler, then exactly what the cancelled sends report.
  await recvExactly(m, c, queued);
  const tail = await recvExactly(m, c, n5 + n6);
  assert.ok(tail.equals(Buffer.concat([p5.subarray(0, n5), p6.subarray(0, n6)])), 'the partial sends arrived as reported');
  await until(m, () => m.metrics().opsPending === 0, 5000, 'final CQEs');
  assert.equal(m.zcStats().inFlight, 0);
  await m.close(s);
  const rest = await m.recv(c, Buffer.alloc(16));
  assert.equal(rest, 0, 'EOF: no byte of a cancelled send arrived beyond what it reported');
  await m.close(c);
  open = false;
  assertNoPendingOps(m);
});

test('sendZcFixed blocked on a full socket: timeout and terminate cancel it; the buffers stay registered until its final CQE', { skip }, async (t) => {
  const m = createMachine();
  const [s, c] = await tcpPair(m);
  let open = true;
  t.after(() => {
    if (!open) return;
    for (const fd of [s, c]) {
      try {
        closeSync(fd);
      } catch {
        // closed by the test already
      }
    }
    m.close();
  });
  await m.setsockopt(s, C.SOL_SOCKET!, C.SO_SNDBUF!, 16 * 1024);
  const queued = await fill(m, s);
  const p5 = pattern(64 * 1024, 5);
  const p6 = pattern(64 * 1024, 6);
  await m.registerBuffers([p5, p6]);
  // As for sendZc above: a cancelled send may have sent a part (its result).
  let n5 = 0;
  try {
    n5 = await m.timeout(10, () => m.sendZcFixed(s, 0));
  } catch (e) {
    assert.ok(e instanceof TimeoutError, String(e));
  }
  const f = m.spin(() => m.sendZcFixed(s, 1));
  await m.sleep(5);
  m.terminate(f);
  const n6 = (await m.join(f)) ?? 0;
  assert.ok(n5 < p5.length && n6 < p6.length, `the sends were not cancelled part way: ${n5}, ${n6} bytes`);
  await recvExactly(m, c, queued);
  const tail = await recvExactly(m, c, n5 + n6);
  assert.ok(tail.equals(Buffer.concat([p5.subarray(0, n5), p6.subarray(0, n6)])), 'the partial sends arrived as reported');
  await until(m, () => m.metrics().opsPending === 0, 5000, 'final CQEs');
  await m.unregisterBuffers(); // allowed once every notification is in
  await m.close(s);
  assert.equal(await m.recv(c, Buffer.alloc(16)), 0, 'EOF: no byte of a cancelled send arrived beyond what it reported');
  await m.close(c);
  open = false;
  assertNoPendingOps(m);
});

test('sendZc / sendvZc: bad arguments reject before anything is submitted', { skip }, async () => {
  const m = createMachine();
  const before = m.metrics().totalOps;
  await assert.rejects(m.sendZc(-1, 'x'), { code: 'ERR_OUT_OF_RANGE' });
  await assert.rejects(m.sendZc(0, 42 as never), { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' });
  await assert.rejects(m.sendZc(0, 'abc', 4), { name: 'RangeError', code: 'ERR_OUT_OF_RANGE' });
  await assert.rejects(m.sendZc(0, 'abc', 1, 1.5), { code: 'ERR_OUT_OF_RANGE' });
  await assert.rejects(m.sendvZc(0, 'abc' as never), { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' });
  assert.equal(m.metrics().totalOps, before);
  assertNoPendingOps(m);
});

test('sendZc and sendvZc cut by m.timeout and terminate at volume: every byte the results report arrives once, in order, nothing else', { skip }, async (t) => {
  // The sender streams a fixed pattern through a 16 KiB send buffer to a
  // slow reader, each send cancelled by a 1-2 ms timeout or a terminate
  // about as often as it completes: a send that moved bytes resolves their
  // count (completion wins; the rest is resent), one that moved none
  // rejects and is retried. The reader checks every byte against its
  // stream position, so a duplicated, skipped or unreported byte fails.
  const m = createMachine();
  const [s, c] = await tcpPair(m);
  t.after(() => {
    for (const fd of [s, c]) {
      try {
        closeSync(fd);
      } catch {
        // closed by the test already
      }
    }
  });
  await m.setsockopt(s, C.SOL_SOCKET!, C.SO_SNDBUF!, 16 * 1024);
  const TOTAL = 3 << 20;
  const stream = Buffer.alloc(TOTAL);
  for (let i = 0; i < TOTAL; i++) stream[i] = (i * 131 + (i >>> 11)) & 0xff;
  const stats = { sends: 0, partial: 0, none: 0 };
  const sender = m.spin(async () => {
    let pos = 0;
    for (let k = 0; pos < TOTAL; k++) {
      const len = Math.min(TOTAL - pos, [4096, 20_000, 65_536][k % 3]!);
      const piece = stream.subarray(pos, pos + len);
      let n = 0;
      if (k % 4 === 3) {
        const f = m.spin(() => (k % 8 === 7 ? m.sendvZc(s, [piece.subarray(0, len >> 1), piece.subarray(len >> 1)]) : m.sendZc(s, piece)));
        await m.sleep(1);
        m.terminate(f);
        n = (await m.join(f)) ?? 0;
      } else {
        try {
          n = await m.timeout(1 + (k % 2), () => m.sendZc(s, piece));
        } catch (e) {
          assert.ok(e instanceof TimeoutError, String(e));
        }
      }
      stats.sends++;
      if (n === 0) stats.none++;
      else if (n < len) stats.partial++;
      pos += n;
    }
    await m.shutdown(s, C.SHUT_WR!);
  });
  const buf = Buffer.alloc(16 * 1024);
  let got = 0;
  for (;;) {
    const n = await m.recv(c, buf);
    if (n === 0) break;
    for (let i = 0; i < n; i++) {
      if (buf[i] !== stream[got + i]) assert.fail(`byte ${got + i}: ${buf[i]} instead of ${stream[got + i]} (${JSON.stringify(stats)})`);
    }
    got += n;
    await m.sleep(0.2); // slow reader: the sends wait for room
  }
  await m.join(sender);
  assert.equal(got, TOTAL, JSON.stringify(stats));
  assert.ok(stats.partial + stats.none > 0, `no send was cut by its cancel: ${JSON.stringify(stats)}`);
  await until(m, () => m.metrics().opsPending === 0, 10_000, 'notifications');
  assert.equal(m.zcStats().inFlight, 0);
  await m.close(s);
  await m.close(c);
  assertNoPendingOps(m);
  t.diagnostic(JSON.stringify(stats));
});
