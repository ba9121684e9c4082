// Registered buffers (issue 15): registerBuffers / readFixed / writeFixed /
// unregisterBuffers, and the lifetime rule: no unregister while a fixed op
// is in flight, no transfer of a registered buffer.
import assert from 'node:assert/strict';
import { openSync, closeSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';

import { constants as C, DirectFd, TimeoutError, UM, type UringMachine } from 'uringmachine';

import { assertNoPendingOps, createMachine, raceRecord, REC, takeRaceRecords, tinyTimeouts, tmpDir, until } from './helpers.js';

test('writeFixed / readFixed through registered buffers, with offsets and lengths', async (t) => {
  const m = createMachine();
  const path = join(tmpDir(t), 'f');
  writeFileSync(path, '');
  const a = Buffer.alloc(8192);
  for (let i = 0; i < a.length; i++) a[i] = (i * 7) & 0xff;
  const b = new Uint8Array(4096); // an on-heap typed array is fine too
  await m.registerBuffers([a, b]);
  const fd = openSync(path, 'r+');
  assert.equal(await m.writeFixed(fd, 0, 100, 50, 0), 100); // a[50..150) at 0
  assert.equal(await m.writeFixed(fd, 0, undefined, 8000, 100), 192); // the rest of a at 100
  const disk = readFileSync(path);
  assert.ok(disk.subarray(0, 100).equals(a.subarray(50, 150)));
  assert.ok(disk.subarray(100).equals(a.subarray(8000)));
  assert.equal(await m.readFixed(fd, 1, 64, 10, 20), 64);
  assert.ok(Buffer.from(b.subarray(10, 74)).equals(disk.subarray(20, 84)));
  assert.equal(await m.readFixed(fd, 1, undefined, 0, 10_000), 0, 'EOF');
  closeSync(fd);
  await m.unregisterBuffers();
  assertNoPendingOps(m);
});

test('unregisterBuffers is refused while a fixed op is in flight; allowed after its final CQE', async () => {
  const m = createMachine();
  const buf = Buffer.alloc(64);
  await m.registerBuffers([buf]);
  const [r, w] = UM.pipe();
  const reading = m.readFixed(r, 0);
  await m.sleep(2);
  await assert.rejects(m.unregisterBuffers(), { code: 'ERR_UM_BUFFERS_IN_USE' });
  await m.write(w, 'fixed');
  assert.equal(await reading, 5);
  assert.equal(buf.subarray(0, 5).toString(), 'fixed');
  await m.unregisterBuffers();
  await assert.rejects(m.readFixed(r, 0), { code: 'ERR_UM_NO_BUFFERS' });
  // A new table can be registered now.
  await m.registerBuffers([Buffer.alloc(16)]);
  await m.unregisterBuffers();
  await m.close(r);
  await m.close(w);
  assertNoPendingOps(m);
});

test('a registered buffer cannot be transferred (its memory stays attached)', async () => {
  const m = createMachine();
  const ab = new ArrayBuffer(4096);
  const buf = new Uint8Array(ab);
  await m.registerBuffers([buf]);
  try {
    structuredClone(ab, { transfer: [ab] });
  } catch {
    // Node >= 21 refuses; Node 20 copies instead of transferring.
  }
  assert.equal(ab.byteLength, 4096, 'not detached');
  const { port1, port2 } = new MessageChannel();
  try {
    port1.postMessage(ab, [ab]);
  } catch {
    // refused
  }
  port1.close();
  port2.close();
  assert.equal(ab.byteLength, 4096, 'not detached by postMessage');
  await m.unregisterBuffers();
  assertNoPendingOps(m);
});

test('fixed ops: natural errors (EBADF; EBUSY for a second table) and cancellation by timeout and terminate', async () => {
  const m = createMachine();
  const buf = Buffer.alloc(32);
  await m.registerBuffers([buf]);
  await assert.rejects(m.registerBuffers([Buffer.alloc(8)]), { name: 'UMError', code: 'EBUSY' });
  const [r, w] = UM.pipe();
  await m.close(w);
  const [r2, w2] = UM.pipe();
  await assert.rejects(m.writeFixed(r2, 0), { name: 'UMError', code: 'EBADF' }); // the read end
  await assert.rejects(m.timeout(5, () => m.readFixed(r2, 0)), TimeoutError);
  const f = m.spin(() => m.readFixed(r2, 0));
  await m.sleep(2);
  m.terminate(f);
  assert.equal(await m.join(f), undefined);
  await m.unregisterBuffers(); // both cancelled reads have had their final CQE
  for (const fd of [r, r2, w2]) await m.close(fd);
  assertNoPendingOps(m);
});

test('fixed buffers: bad arguments reject before anything is submitted', async () => {
  const m = createMachine();
  const ops = m.metrics().totalOps;
  await assert.rejects(m.registerBuffers('x' as never), { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' });
  await assert.rejects(m.registerBuffers([]), { name: 'RangeError', code: 'ERR_OUT_OF_RANGE' });
  await assert.rejects(m.registerBuffers([Buffer.alloc(0)]), { name: 'RangeError', code: 'ERR_OUT_OF_RANGE' });
  await assert.rejects(m.registerBuffers([1 as never]), { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' });
  await assert.rejects(m.readFixed(0, 0), { code: 'ERR_UM_NO_BUFFERS' });
  await m.registerBuffers([Buffer.alloc(16)]);
  await assert.rejects(m.readFixed(0, 1), { name: 'RangeError', code: 'ERR_OUT_OF_RANGE' });
  await assert.rejects(m.readFixed(0, 0, 17), { name: 'RangeError', code: 'ERR_OUT_OF_RANGE' });
  await assert.rejects(m.readFixed(0, 0, 8, 9), { name: 'RangeError', code: 'ERR_OUT_OF_RANGE' });
  await assert.rejects(m.writeFixed(0, 0, undefined, 17), { name: 'RangeError', code: 'ERR_OUT_OF_RANGE' });
  await assert.rejects(m.writeFixed(-1, 0), { code: 'ERR_OUT_OF_RANGE' });
  await assert.rejects(m.readFixed(0, 0, undefined, 0, -2), { code: 'ERR_OUT_OF_RANGE' });
  assert.equal(m.metrics().totalOps, ops);
  await m.unregisterBuffers();
  assertNoPendingOps(m);
  await assert.rejects(m.unregisterBuffers(), { code: 'ERR_UM_CLOSED' });
});

// ---- sendZcFixed: SEND_ZC with IORING_RECVSEND_FIXED_BUF ----

const skipZc = UM.kernelVersion() < 600 && 'SEND_ZC with a registered buffer needs Linux >= 6.0';

/** A connected TCP pair on 127.0.0.1: [server side, client side]; the client's receive buffer is small. */
async function tcpPair(m: UringMachine): Promise<[number, number]> {
  const lfd = await m.tcpListen('127.0.0.1', 0);
  const port = m.getsockname(lfd).port;
  const c = await m.socket(C.AF_INET!, C.SOCK_STREAM!);
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

test('sendZcFixed sends the registered bytes at bufOffset/len, also on a DirectFd', { skip: skipZc }, async () => {
  const m = createMachine();
  const [s, c] = await tcpPair(m);
  await m.setsockopt(c, C.SOL_SOCKET!, C.SO_RCVBUF!, 1 << 20);
  const a = pattern(10_000, 3);
  const b = pattern(300, 9);
  await m.registerBuffers([a, b]);
  assert.equal(await m.sendZcFixed(s, 0, 100, 1234), 100);
  assert.ok((await recvExactly(m, c, 100)).equals(a.subarray(1234, 1334)));
  assert.equal(await m.sendZcFixed(s, 1, undefined, 250), 50, 'default len: the rest of the buffer');
  assert.ok((await recvExactly(m, c, 50)).equals(b.subarray(250)));
  assert.equal(await m.sendZcFixed(s, 1, 0), 0);
  // The server side of a second connection as a direct descriptor.
  const lfd = await m.tcpListen('127.0.0.1', 0);
  const c2 = await m.socket(C.AF_INET!, C.SOCK_STREAM!);
  const accepting = m.acceptDirect(lfd);
  await m.connect(c2, '127.0.0.1', m.getsockname(lfd).port);
  const d = await accepting;
  assert.ok(d instanceof DirectFd);
  assert.equal(await m.sendZcFixed(d, 0, 5000, 10), 5000);
  assert.ok((await recvExactly(m, c2, 5000)).equals(a.subarray(10, 5010)));
  await until(m, () => m.zcStats().inFlight === 0, 5000, 'notifications');
  assert.equal(m.zcStats().sends, 4);
  await m.unregisterBuffers();
  await m.closeDirect(d);
  for (const fd of [s, c, c2, lfd]) await m.close(fd);
  assertNoPendingOps(m);
});

test('sendZcFixed: the registered buffer stays in use until the notification, not the first CQE', { skip: skipZc }, async () => {
  const m = createMachine();
  const [s, c] = await tcpPair(m);
  const data = pattern(64 * 1024, 5);
  await m.registerBuffers([data]);
  try {
    // Refused at once: the op is in flight before its first CQE.
    const sending = m.sendZcFixed(s, 0);
    await assert.rejects(m.unregisterBuffers(), { code: 'ERR_UM_BUFFERS_IN_USE' });
    const n = await sending;
    assert.ok(n > 16 * 1024 && n <= data.length, `sent ${n}`);
    // The peer has not read: the skbs are unacknowledged and the kernel still
    // holds the registered pages, so the notification has not come and the
    // buffers must stay registered although the promise has settled.
    for (let i = 0; i < 5; i++) await m.sleep(2);
    assert.equal(m.zcStats().inFlight, 1, 'notification still due');
    await assert.rejects(m.unregisterBuffers(), { code: 'ERR_UM_BUFFERS_IN_USE' });
    await m.setsockopt(c, C.SOL_SOCKET!, C.SO_RCVBUF!, 1 << 20); // a wide window: no zero-window probing while it reads
    const got = await recvExactly(m, c, n);
    assert.ok(got.equals(data.subarray(0, n)));
    await until(m, () => m.zcStats().inFlight === 0, 5000, 'notification');
    await m.unregisterBuffers();
  } finally {
    // Closed on failure too: a pending notification must not keep the process alive.
    closeSync(s);
    closeSync(c);
  }
  assertNoPendingOps(m);
});

test('sendZcFixed: bad arguments reject before anything is submitted; kernel errors are UMErrors', { skip: skipZc }, async () => {
  const m = createMachine();
  const ops = m.metrics().totalOps;
  await assert.rejects(m.sendZcFixed(0, 0), { code: 'ERR_UM_NO_BUFFERS' });
  await m.registerBuffers([Buffer.alloc(16)]);
  await assert.rejects(m.sendZcFixed(0, 1), { name: 'RangeError', code: 'ERR_OUT_OF_RANGE' });
  await assert.rejects(m.sendZcFixed(0, -1), { name: 'RangeError', code: 'ERR_OUT_OF_RANGE' });
  await assert.rejects(m.sendZcFixed(0, 0, 17), { name: 'RangeError', code: 'ERR_OUT_OF_RANGE' });
  await assert.rejects(m.sendZcFixed(0, 0, 8, 9), { name: 'RangeError', code: 'ERR_OUT_OF_RANGE' });
  await assert.rejects(m.sendZcFixed(0, 0, undefined, 17), { name: 'RangeError', code: 'ERR_OUT_OF_RANGE' });
  await assert.rejects(m.sendZcFixed(-1, 0), { code: 'ERR_OUT_OF_RANGE' });
  await assert.rejects(m.sendZcFixed(0, 0, 1, 0, 1.5), { code: 'ERR_OUT_OF_RANGE' });
  await assert.rejects(m.sendZcFixed('1' as never, 0), { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' });
  const d = await m.openDirect('/dev/null');
  await m.closeDirect(d);
  const afterOpen = m.metrics().totalOps;
  await assert.rejects(m.sendZcFixed(d, 0), { name: 'UMError', code: 'EBADF' });
  assert.equal(m.metrics().totalOps, afterOpen, 'a closed DirectFd submits nothing');
  assert.equal(afterOpen - ops, 2, 'only openDirect and closeDirect went to the kernel');
  const [r, w] = UM.pipe();
  await assert.rejects(m.sendZcFixed(r, 0), { name: 'UMError', code: 'ENOTSOCK', syscall: 'send_zc' });
  await until(m, () => m.zcStats().inFlight === 0, 5000, 'notifications');
  await m.unregisterBuffers();
  await m.close(r);
  await m.close(w);
  assertNoPendingOps(m);
});

test('readFixed / writeFixed on a DirectFd', async (t) => {
  const m = createMachine();
  const path = join(tmpDir(t), 'f');
  writeFileSync(path, 'direct and fixed');
  const buf = Buffer.alloc(64);
  await m.registerBuffers([buf]);
  const d = await m.openDirect(path, C.O_RDWR ?? 2);
  assert.equal(await m.readFixed(d, 0, 5, 3, 11), 5);
  assert.equal(buf.subarray(3, 8).toString(), 'fixed');
  buf.write('FIXED', 20);
  assert.equal(await m.writeFixed(d, 0, 5, 20, 11), 5);
  assert.equal(readFileSync(path, 'utf8'), 'direct and FIXED');
  await m.closeDirect(d);
  await m.unregisterBuffers();
  assertNoPendingOps(m);
});

test('readFixed / writeFixed racing tiny timeouts on a pipe lose and duplicate nothing (completion wins)', async (t) => {
  const m = createMachine();
  t.after(() => m.close());
  const N = Number(process.env.UM_RACE_RECORDS ?? 10_000);
  const out = Buffer.alloc(REC);
  const inb = Buffer.alloc(REC * 64);
  await m.registerBuffers([out, inb]);
  const [r, w] = UM.pipe();
  const tiny = tinyTimeouts(7);
  let timeouts = 0;
  const writer = m.spin(async () => {
    for (let i = 0; i < N; i++) {
      // The record goes into the registered buffer only once the last
      // write from it has had its final CQE (a settled promise says so).
      raceRecord(i).copy(out);
      let done = 0;
      while (done < REC) {
        try {
          done += await m.timeout(tiny(), () => m.writeFixed(w, 0, REC - done, done));
        } catch (e) {
          if (!(e instanceof TimeoutError)) throw e;
          timeouts++;
        }
      }
      if ((i & 15) === 0) await m.sleep(tiny());
    }
    await m.close(w);
  });
  let next = 0;
  let have = 0;
  for (;;) {
    let n: number;
    try {
      n = await m.timeout(tiny(), () => m.readFixed(r, 1, inb.length - have, have));
    } catch (e) {
      if (!(e instanceof TimeoutError)) throw e;
      timeouts++;
      continue;
    }
    if (n === 0) break;
    ({ have, next } = takeRaceRecords(inb, have + n, next));
  }
  await m.join(writer);
  await m.close(r);
  assert.equal(have, 0);
  assert.equal(next, N, `${N - next} records lost`);
  // Only meaningful if timeouts really raced completions.
  assert.ok(timeouts > 0 && m.metrics().cancelsRaced > 0, `timeouts ${timeouts}, races ${m.metrics().cancelsRaced}`);
  await m.unregisterBuffers();
  assertNoPendingOps(m);
});
