// Linked ops (issue 15): the timeout option of read/recv/connect (a linked
// IORING_OP_LINK_TIMEOUT, an internal SQE) and m.chain() (IOSQE_IO_LINK /
// HARDLINK). Causality, not timing: a linked write must not run while the
// read before it waits.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { constants as C, TimeoutError, UM } from 'uringmachine';

import { assertNoPendingOps, createMachine, raceRecord, REC, settle, takeRaceRecords, tcpPair, tinyTimeouts } from './helpers.js';
import { localPort } from './local-port.js';

const AF_UNIX = C.AF_UNIX!;
const SOCK_STREAM = C.SOCK_STREAM!;

test('recv / read with a timeout: TimeoutError when nothing comes; the link timeout is internal and settles', async () => {
  const m = createMachine();
  const [a, b] = UM.socketpair(AF_UNIX, SOCK_STREAM, 0);
  const buf = Buffer.alloc(16);
  const ops = m.metrics().totalOps;
  await assert.rejects(m.recv(a, buf, undefined, 0, { timeout: 5 }), TimeoutError);
  assert.equal(m.metrics().totalOps, ops + 1, 'the link timeout is not an op');
  const [r, w] = UM.pipe();
  await assert.rejects(m.read(r, buf, undefined, 0, -1, { timeout: 5 }), TimeoutError);
  await settle(m);
  assert.equal(m.metrics().opsTransient, 0);
  // The fd is still usable: the timeout cancelled only that op.
  await m.write(w, 'late');
  assert.equal(await m.read(r, buf, undefined, 0, -1, { timeout: 5000 }), 4);
  assert.equal(buf.subarray(0, 4).toString(), 'late');
  for (const fd of [a, b, r, w]) await m.close(fd);
  assertNoPendingOps(m);
});

test('recv with a timeout that data beats resolves the bytes; the timer is removed (no internal op left)', async () => {
  const m = createMachine();
  const [a, b] = UM.socketpair(AF_UNIX, SOCK_STREAM, 0);
  const buf = Buffer.alloc(16);
  const f = m.spin(() => m.recv(a, buf, undefined, 0, { timeout: 60_000 }));
  await m.sleep(2);
  assert.equal(m.metrics().opsTransient, 1, 'the link timeout is armed');
  await m.send(b, 'hi');
  assert.equal(await m.join(f), 2);
  await settle(m);
  assert.equal(m.metrics().opsTransient, 0, 'a 60 s timer did not outlive its op');
  await m.close(a);
  await m.close(b);
  assertNoPendingOps(m);
});

test('connect with a timeout: success, and the natural errors (ECONNREFUSED, ENOENT)', async () => {
  const m = createMachine();
  const lfd = await m.tcpListen('127.0.0.1', 0);
  const s = await m.socket(C.AF_INET!, SOCK_STREAM);
  await m.connect(s, '127.0.0.1', localPort(lfd), { timeout: 5000 });
  const acc = await m.accept(lfd);
  await m.close(acc);
  await m.close(s);
  const s2 = await m.socket(C.AF_INET!, SOCK_STREAM);
  await assert.rejects(m.connect(s2, '127.0.0.1', 1, { timeout: 5000 }), { code: 'ECONNREFUSED' });
  const c = await m.socket(AF_UNIX, SOCK_STREAM);
  await assert.rejects(m.connect(c, '/nonexistent-um-dir/sock', undefined, { timeout: 5000 }), { code: 'ENOENT' });
  for (const fd of [lfd, s2, c]) await m.close(fd);
  await settle(m);
  assertNoPendingOps(m);
});

test('a timed read cancelled by m.timeout / terminate rejects with the scope error; both CQEs are awaited', async () => {
  const m = createMachine();
  const [r, w] = UM.pipe();
  const buf = Buffer.alloc(8);
  class Outer extends Error {}
  await assert.rejects(m.timeout(5, () => m.read(r, buf, undefined, 0, -1, { timeout: 60_000 }), Outer), Outer);
  const f = m.spin(() => m.read(r, buf, undefined, 0, -1, { timeout: 60_000 }));
  await m.sleep(2);
  m.terminate(f);
  assert.equal(await m.join(f), undefined);
  await settle(m);
  assert.equal(m.metrics().opsTransient, 0);
  await m.close(r);
  await m.close(w);
  assertNoPendingOps(m);
});

test('timeout option: bad arguments reject before anything is submitted', async () => {
  const m = createMachine();
  const [r, w] = UM.pipe();
  const ops = m.metrics().totalOps;
  const buf = Buffer.alloc(4);
  await assert.rejects(m.read(r, buf, undefined, 0, -1, 5 as never), { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' });
  await assert.rejects(m.recv(r, buf, undefined, 0, { timeout: -1 }), { name: 'RangeError', code: 'ERR_OUT_OF_RANGE' });
  await assert.rejects(m.connect(r, '127.0.0.1', 1, { timeout: 'x' as never }), { name: 'TypeError' });
  await assert.rejects(m.read(-1, buf, undefined, 0, -1, { timeout: 5 }), { code: 'ERR_OUT_OF_RANGE' });
  assert.equal(m.metrics().totalOps, ops);
  assert.equal(m.metrics().opsTransient, 0, 'no stray link timeout');
  await m.close(r);
  await m.close(w);
  assertNoPendingOps(m);
});

test('chain: a linked write runs only after the read before it completed', async () => {
  const m = createMachine();
  const [r1, w1] = UM.pipe();
  const [r2, w2] = UM.pipe();
  const buf = Buffer.alloc(8);
  const done = m.chain([() => m.read(r1, buf, 3), () => m.write(w2, 'second')]);
  await m.sleep(5);
  // The write has not run: pipe 2 is empty (a non-blocking read would say EAGAIN).
  await assert.rejects(m.timeout(5, () => m.read(r2, Buffer.alloc(8))), TimeoutError);
  await m.write(w1, 'one');
  const res = await done;
  assert.deepEqual(res, [
    { status: 'fulfilled', value: 3 },
    { status: 'fulfilled', value: 6 },
  ]);
  const out = Buffer.alloc(8);
  assert.equal(await m.read(r2, out), 6);
  for (const fd of [r1, w1, r2, w2]) await m.close(fd);
  assertNoPendingOps(m);
});

test('chain: a failed member cancels the rest (ECANCELED); a hard link runs them anyway', async () => {
  const m = createMachine();
  const [r, w] = UM.pipe();
  const [br, bw] = UM.pipe();
  await m.close(br);
  await m.close(bw); // br is now a closed fd: EBADF
  const buf = Buffer.alloc(4);
  const soft = await m.chain([() => m.read(br, buf), () => m.write(w, 'x'), () => m.write(w, 'y')]);
  assert.equal(soft[0]!.status, 'rejected');
  assert.equal((soft[0] as PromiseRejectedResult).reason.code, 'EBADF');
  assert.equal((soft[1] as PromiseRejectedResult).reason.code, 'ECANCELED');
  assert.equal((soft[2] as PromiseRejectedResult).reason.code, 'ECANCELED');
  const hard = await m.chain([() => m.read(br, buf), () => m.write(w, 'z')], { hard: true });
  assert.equal((hard[0] as PromiseRejectedResult).reason.code, 'EBADF');
  assert.deepEqual(hard[1], { status: 'fulfilled', value: 1 });
  // A short read breaks a soft chain too (the kernel's rule for read/write).
  const [sr, sw] = UM.pipe();
  await m.write(sw, 'abc');
  const short = await m.chain([() => m.read(sr, Buffer.alloc(8)), () => m.write(w, 'q')]);
  assert.deepEqual(short[0], { status: 'fulfilled', value: 3 });
  assert.equal((short[1] as PromiseRejectedResult).reason.code, 'ECANCELED');
  await m.close(sr);
  await m.close(sw);
  // Only the hard chain's write reached the pipe.
  assert.equal(await m.read(r, buf), 1);
  assert.equal(buf.subarray(0, 1).toString(), 'z');
  await m.close(r);
  await m.close(w);
  assertNoPendingOps(m);
});

test('chain cancelled by m.timeout: every member settles, the linked write never ran', async () => {
  const m = createMachine();
  const [r1, w1] = UM.pipe();
  const [r2, w2] = UM.pipe();
  const buf = Buffer.alloc(4);
  const res = await m.timeout(5, () => m.chain([() => m.read(r1, buf), () => m.write(w2, 'never')]));
  assert.equal(res.length, 2);
  for (const x of res) assert.equal(x.status, 'rejected');
  assert.ok((res[0] as PromiseRejectedResult).reason instanceof TimeoutError);
  await settle(m);
  await m.close(w2);
  assert.equal(await m.read(r2, buf), 0, 'EOF: nothing was written');
  for (const fd of [r1, w1, r2]) await m.close(fd);
  assertNoPendingOps(m);
});

test('chain: bad members; a member that starts no op ends the chain there', async () => {
  const m = createMachine();
  const [r, w] = UM.pipe();
  await assert.rejects(m.chain('x' as never), { code: 'ERR_INVALID_ARG_TYPE' });
  await assert.rejects(m.chain([1 as never]), { code: 'ERR_INVALID_ARG_TYPE' });
  await assert.rejects(m.chain([], { hard: 1 as never }), { code: 'ERR_INVALID_ARG_TYPE' });
  await assert.rejects(m.chain(Array.from({ length: 100_000 }, () => () => m.write(w, 'a'))), { code: 'ERR_OUT_OF_RANGE' });
  assert.deepEqual(await m.chain([]), []);
  const res = await m.chain([() => m.write(w, 'a'), () => m.read(-1, Buffer.alloc(1)), () => m.write(w, 'b')]);
  assert.deepEqual(res[0], { status: 'fulfilled', value: 1 });
  assert.equal((res[1] as PromiseRejectedResult).reason.code, 'ERR_OUT_OF_RANGE');
  assert.equal((res[2] as PromiseRejectedResult).reason.code, 'ERR_INVALID_ARG_VALUE');
  const buf = Buffer.alloc(4);
  assert.equal(await m.read(r, buf), 1, 'only the first write ran');
  await m.close(r);
  await m.close(w);
  assertNoPendingOps(m);
});

test('read / recv with { timeout: 1 } racing records that arrive about once a millisecond: every record once, in order', async (t) => {
  // The linked timeout and the read meet in the kernel: when the data wins,
  // the read resolves its bytes (the timeout CQE reports ECANCELED or
  // EALREADY); when the timer wins, nothing was read and the read is simply
  // retried. A byte lost or read twice shifts every record after it.
  const m = createMachine();
  const N = 600;
  const stats = { timeouts: 0, reads: 0 };
  for (const kind of ['pipe', 'tcp'] as const) {
    let r: number;
    let w: number;
    let extra: number[] = [];
    if (kind === 'pipe') [r, w] = UM.pipe();
    else {
      const [a, b, l] = await tcpPair(m);
      [r, w, extra] = [a, b, [l]];
    }
    const writer = m.spin(async () => {
      for (let i = 0; i < N; i++) {
        const rec = Buffer.alloc(8);
        rec.writeUInt32LE(i, 0);
        rec.writeUInt32LE(~i >>> 0, 4);
        await m.write(w, rec);
        // about the read's timeout, so the two often meet; now and then a
        // longer gap, so reads time out however loaded the machine is
        await m.sleep(i % 20 === 19 ? 4 : 0.9 + (i % 3) * 0.1);
      }
    });
    const buf = Buffer.alloc(8);
    let have = 0;
    for (let next = 0; next < N; ) {
      let n: number;
      try {
        n =
          kind === 'pipe'
            ? await m.read(r, buf, 8 - have, have, -1, { timeout: 1 })
            : await m.recv(r, buf.subarray(have), 8 - have, 0, { timeout: 1 });
      } catch (e) {
        assert.ok(e instanceof TimeoutError, String(e));
        stats.timeouts++;
        continue;
      }
      stats.reads++;
      assert.ok(n > 0, `${kind}: EOF before record ${next}`);
      have += n;
      if (have < 8) continue;
      assert.equal(buf.readUInt32LE(0), next, `${kind}: record ${next}`);
      assert.equal(buf.readUInt32LE(4), ~next >>> 0, `${kind}: record ${next} intact`);
      next++;
      have = 0;
    }
    await m.join(writer);
    for (const fd of [r, w, ...extra]) await m.close(fd);
  }
  assert.ok(stats.timeouts > 0, JSON.stringify(stats));
  await settle(m);
  assertNoPendingOps(m);
  t.diagnostic(JSON.stringify(stats));
});

test('chain [read A, write B] cut by tiny timeouts at volume: what a read delivered reaches B exactly once, by the linked write or by the caller', async (t) => {
  // When the timeout fires after the read completed, completion wins for the
  // read (its bytes come back) and the linked write either ran or was
  // cancelled: the caller writes the bytes itself only in the second case.
  // A record lost or written twice shifts every record after it on B.
  const m = createMachine();
  t.after(() => m.close());
  const N = Number(process.env.UM_RACE_RECORDS ?? 3000);
  const tiny = tinyTimeouts(5, [0.005, 0.03, 0.2, 1]);
  const [ar, aw] = UM.pipe();
  // B: a socket with a small buffer and a reader that pauses, so the linked
  // write blocks at times and a timeout can cut it after its read completed.
  const [br, bw] = UM.socketpair(AF_UNIX, SOCK_STREAM, 0);
  await m.setsockopt(bw, C.SOL_SOCKET!, C.SO_SNDBUF!, 4096);
  const writer = m.spin(async () => {
    for (let i = 0; i < N; i++) {
      await m.write(aw, raceRecord(i)); // 8 bytes: atomic on a pipe, so a read of 8 takes one whole record
      if ((i & 7) === 0) await m.sleep(1); // reads wait, so timeouts fire, sometimes as data comes
    }
  });
  const stats = { readCut: 0, writeCut: 0, both: 0 };
  const copier = m.spin(async () => {
    const buf = Buffer.alloc(REC);
    let copied = 0;
    while (copied < N) {
      const res = await m.timeout(tiny(), () => m.chain([() => m.read(ar, buf, REC), () => m.write(bw, buf, REC)]));
      if (res[0]!.status === 'rejected') {
        stats.readCut++;
        continue; // nothing was read (the write was cancelled with it)
      }
      const n = (res[0] as PromiseFulfilledResult<number>).value;
      assert.equal(n, REC, 'a whole record');
      if (res[1]!.status === 'rejected') {
        stats.writeCut++;
        await m.write(bw, buf, REC); // the linked write never ran: the caller's turn
      } else {
        stats.both++;
        assert.equal((res[1] as PromiseFulfilledResult<number>).value, REC);
      }
      copied++;
    }
    await m.close(bw);
  });
  const got = Buffer.alloc(REC * 64);
  let have = 0;
  let next = 0;
  for (;;) {
    const n = await m.read(br, got, got.length - have, have);
    if (n === 0) break;
    if ((next & 63) === 0) await m.sleep(3);
    ({ have, next } = takeRaceRecords(got, have + n, next));
  }
  await m.join(writer, copier);
  assert.equal(next, N);
  // Meaningful only if chains were really cut, some after their read had completed.
  if (process.env.UM_SHOW) console.log(stats);
  assert.ok(stats.readCut > 0 && stats.writeCut > 0, JSON.stringify(stats));
  for (const fd of [ar, aw, br]) await m.close(fd);
  assertNoPendingOps(m);
});
