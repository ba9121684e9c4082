// recvmsgEach (issue 15): multishot recvmsg on provided buffers yields each
// datagram with its sender's address; loopback UDP only, bounded loops.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { constants as C, TimeoutError, UM } from 'uringmachine';

import { assertNoPendingOps, checkRaceRecords, createMachine, raceRecord, REC, settle, tinyTimeouts } from './helpers.js';
import { localPort } from './local-port.js';

const SOCK_DGRAM = C.SOCK_DGRAM!;
const skip = UM.kernelVersion() < 600 && 'multishot recvmsg needs Linux >= 6.0';

test('recvmsgEach: datagrams from two senders (IPv4), in order, each with its sender; echo replies', { skip }, async () => {
  const m = createMachine();
  const srv = await m.socket(C.AF_INET!, SOCK_DGRAM);
  await m.bind(srv, '127.0.0.1', 0);
  const port = localPort(srv);
  const a = await m.socket(C.AF_INET!, SOCK_DGRAM);
  const b = await m.socket(C.AF_INET!, SOCK_DGRAM);
  await m.bind(a, '127.0.0.1', 0);
  await m.bind(b, '127.0.0.1', 0);
  const got: { text: string; port: number; host: string }[] = [];
  const server = m.spin(async () => {
    for await (const d of m.recvmsgEach(srv)) {
      got.push({ text: d.data.toString(), port: d.port, host: d.host });
      assert.equal(d.truncated, false);
      await m.sendto(srv, d.data, d.host, d.port);
      if (got.length === 20) break;
    }
  });
  for (let i = 0; i < 10; i++) {
    await m.sendto(a, `a${i}`, '127.0.0.1', port);
    await m.sendto(b, `b${i}`, '127.0.0.1', port);
  }
  const buf = Buffer.alloc(64);
  const backA: string[] = [];
  for (let i = 0; i < 10; i++) {
    const r = await m.recvfrom(a, buf);
    backA.push(buf.subarray(0, r.bytes).toString());
    assert.equal(r.port, port);
  }
  await m.join(server);
  assert.deepEqual(backA, Array.from({ length: 10 }, (_, i) => `a${i}`));
  assert.deepEqual(got.filter((x) => x.text.startsWith('a')).map((x) => x.text), backA);
  for (const x of got) {
    assert.equal(x.host, '127.0.0.1');
    assert.equal(x.port, localPort(x.text.startsWith('a') ? a : b));
  }
  for (const fd of [srv, a, b]) await m.close(fd);
  await settle(m);
  assertNoPendingOps(m);
});

test('recvmsgEach: IPv6, an empty datagram, a datagram longer than a buffer is marked truncated', { skip }, async () => {
  const m = createMachine({ bufferPool: { bufferSize: 1024 } });
  const srv = await m.socket(C.AF_INET6!, SOCK_DGRAM);
  await m.bind(srv, '::1', 0);
  const port = localPort(srv);
  const c = await m.socket(C.AF_INET6!, SOCK_DGRAM);
  const it = m.recvmsgEach(srv);
  await m.sendto(c, Buffer.alloc(0), '::1', port);
  await m.sendto(c, Buffer.alloc(5000, 7), '::1', port);
  const first = (await it.next()).value!;
  assert.equal(first.data.length, 0);
  assert.equal(first.host, '::1');
  const second = (await it.next()).value!;
  assert.equal(second.truncated, true);
  assert.ok(second.data.length > 0 && second.data.length < 5000);
  assert.ok(second.data.every((x: number) => x === 7));
  await it.return!();
  for (const fd of [srv, c]) await m.close(fd);
  await settle(m);
  assertNoPendingOps(m);
});

test('recvmsgEach: cancelled by m.timeout and terminate; the natural error (ENOTSOCK); bad arguments', { skip }, async () => {
  const m = createMachine();
  const srv = await m.socket(C.AF_INET!, SOCK_DGRAM);
  await m.bind(srv, '127.0.0.1', 0);
  await assert.rejects(
    m.timeout(5, async () => {
      for await (const d of m.recvmsgEach(srv)) void d;
    }),
    TimeoutError,
  );
  const f = m.spin(async () => {
    for await (const d of m.recvmsgEach(srv)) void d;
  });
  await m.sleep(2);
  m.terminate(f);
  assert.equal(await m.join(f), undefined);
  const [r, w] = UM.pipe();
  await assert.rejects(async () => {
    for await (const d of m.recvmsgEach(r)) void d;
  }, { name: 'UMError', code: 'ENOTSOCK' });
  assert.throws(() => m.recvmsgEach(-1), { code: 'ERR_OUT_OF_RANGE' });
  assert.throws(() => m.recvmsgEach(srv, 'x' as never), { code: 'ERR_INVALID_ARG_TYPE' });
  for (const fd of [srv, r, w]) await m.close(fd);
  await settle(m);
  assertNoPendingOps(m);
});

for (const mode of ['', '--each', '--raw']) {
  test(`examples/udp-echo ${mode || '(batches)'} echoes datagrams and exits cleanly on SIGTERM`, { skip }, async () => {
    const { spawn } = await import('node:child_process');
    const script = new URL('../examples/udp-echo.js', import.meta.url);
    const child = spawn(process.execPath, [script.pathname, ...(mode ? [mode] : [])], {
      env: { ...process.env, PORT: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    const port = await new Promise<number>((resolve, reject) => {
      let out = '';
      child.stdout!.on('data', (b: Buffer) => {
        out += b.toString();
        const x = /listening (\d+)/.exec(out);
        if (x) resolve(Number(x[1]));
      });
      child.once('exit', () => reject(new Error(`exited early: ${out}`)));
    });
    const m = createMachine();
    const c = await m.socket(C.AF_INET!, SOCK_DGRAM);
    const buf = Buffer.alloc(32);
    for (let i = 0; i < 3; i++) {
      await m.sendto(c, `ping ${i}`, '127.0.0.1', port);
      const r = await m.timeout(5000, () => m.recvfrom(c, buf));
      assert.equal(buf.subarray(0, r.bytes).toString(), `ping ${i}`);
      assert.equal(r.port, port);
    }
    child.kill('SIGTERM');
    assert.equal(await exited, 0);
    await m.close(c);
    assertNoPendingOps(m);
  });
}

// recvmsgBatches + sendtoBatch: the batch path of the echo example.

test('recvmsgBatches + sendtoBatch: 3 IPv4 senders x 200 datagrams echoed to their raw addresses, bytes and senders intact', { skip }, async (t) => {
  const m = createMachine();
  t.after(() => m.close()); // a failure must not leave the ring holding the process open
  const srv = await m.socket(C.AF_INET!, SOCK_DGRAM);
  await m.bind(srv, '127.0.0.1', 0);
  const port = localPort(srv);
  const clients: number[] = [];
  for (let i = 0; i < 3; i++) {
    const c = await m.socket(C.AF_INET!, SOCK_DGRAM);
    await m.bind(c, '127.0.0.1', 0);
    clients.push(c);
  }
  const ports = clients.map(localPort);
  const ROUNDS = 20;
  const WIN = 10;
  const total = clients.length * ROUNDS * WIN;
  let got = 0;
  // Every datagram's text is unique (client:round:index): the server must
  // see each exactly once across the batches.
  const seen = new Set<string>();
  const replies: Promise<unknown>[] = [];
  const server = m.spin(async () => {
    for await (const batch of m.recvmsgBatches(srv)) {
      assert.ok(batch.length > 0);
      for (const d of batch) {
        const text = d.data.toString();
        assert.ok(!seen.has(text), `datagram delivered twice: ${text}`);
        seen.add(text);
        // The raw address is the sender's sockaddr_in: family, port, 127.0.0.1.
        assert.equal(d.addr.length, 16);
        assert.equal(d.addr.readUInt16LE(0), C.AF_INET);
        assert.deepEqual([...d.addr.subarray(4, 8)], [127, 0, 0, 1]);
        assert.equal(d.host, '127.0.0.1');
        assert.equal(d.addr.readUInt16BE(2), d.port);
        assert.equal(d.data.toString().split(':')[0], String(ports.indexOf(d.port)));
      }
      replies.push(m.sendtoBatch(srv, batch).then((rs) => assert.deepEqual(rs, batch.map((d) => d.data.length))));
      got += batch.length;
      if (got === total) break;
    }
  });
  await m.join(
    clients.map((c, ci) =>
      m.spin(async () => {
        const buf = Buffer.alloc(64);
        for (let r = 0; r < ROUNDS; r++) {
          const want = new Set<string>();
          for (let k = 0; k < WIN; k++) {
            const text = `${ci}:${r}:${k}:${'x'.repeat((r * WIN + k) % 40)}`;
            want.add(text);
            await m.sendto(c, text, '127.0.0.1', port);
          }
          for (let k = 0; k < WIN; k++) {
            const x = await m.timeout(5000, () => m.recvfrom(c, buf));
            assert.equal(x.port, port);
            const text = buf.subarray(0, x.bytes).toString();
            assert.ok(want.delete(text), `client ${ci} got an echo it did not send: ${text}`);
          }
        }
      }),
    ),
  );
  await m.join(server);
  await Promise.all(replies);
  assert.equal(got, total);
  assert.equal(seen.size, total);
  for (const fd of [srv, ...clients]) await m.close(fd);
  await settle(m);
  assertNoPendingOps(m);
});

test('sendtoBatch: IPv6 raw addresses; a member the kernel refuses reports its UMError in its own slot', { skip }, async (t) => {
  const m = createMachine();
  t.after(() => m.close()); // a failure must not leave the ring holding the process open
  const srv = await m.socket(C.AF_INET6!, SOCK_DGRAM);
  await m.bind(srv, '::1', 0);
  const port = localPort(srv);
  const c = await m.socket(C.AF_INET6!, SOCK_DGRAM);
  await m.bind(c, '::1', 0);
  const it = m.recvmsgBatches(srv);
  await m.sendto(c, 'hello6', '::1', port);
  const batch = (await it.next()).value!;
  assert.equal(batch.length, 1);
  const d = batch[0]!;
  assert.equal(d.addr.length, 28);
  assert.equal(d.addr.readUInt16LE(0), C.AF_INET6);
  assert.equal(d.host, '::1');
  assert.equal(d.port, localPort(c));
  // An IPv4 destination on an IPv6 socket is refused by the kernel (EAFNOSUPPORT/EINVAL): only that slot fails.
  const v4 = Buffer.alloc(16);
  v4.writeUInt16LE(C.AF_INET!, 0);
  v4.writeUInt16BE(9, 2);
  v4.set([127, 0, 0, 1], 4);
  const rs = await m.sendtoBatch(srv, [d, { data: 'lost', addr: v4 }, { data: Buffer.from('second!'), addr: d.addr }]);
  assert.equal(rs[0], 6);
  assert.ok(rs[1] instanceof Error && (rs[1] as { name: string }).name === 'UMError', String(rs[1]));
  assert.equal(rs[2], 7);
  const buf = Buffer.alloc(32);
  const texts: string[] = [];
  for (let i = 0; i < 2; i++) {
    const x = await m.timeout(5000, () => m.recvfrom(c, buf));
    texts.push(buf.subarray(0, x.bytes).toString());
  }
  assert.deepEqual(texts.sort(), ['hello6', 'second!']);
  await it.return!();
  for (const fd of [srv, c]) await m.close(fd);
  await settle(m);
  assertNoPendingOps(m);
});

test('sendtoBatch: bad input rejects before any datagram is queued; a cancelled scope rejects; empty batch', { skip }, async (t) => {
  const m = createMachine();
  t.after(() => m.close()); // a failure must not leave the ring holding the process open
  const s = await m.socket(C.AF_INET!, SOCK_DGRAM);
  const good = Buffer.alloc(16);
  good.writeUInt16LE(C.AF_INET!, 0);
  good.writeUInt16BE(9, 2);
  good.set([127, 0, 0, 1], 4);
  const unix = Buffer.alloc(16);
  unix.writeUInt16LE(C.AF_UNIX!, 0);
  const short6 = Buffer.alloc(16);
  short6.writeUInt16LE(C.AF_INET6!, 0);
  const before = m.metrics().totalOps;
  const bad: [unknown, object][] = [
    ['x', { code: 'ERR_INVALID_ARG_TYPE' }],
    [[null], { code: 'ERR_INVALID_ARG_TYPE' }],
    [[{ data: 'a' }], { code: 'ERR_INVALID_ARG_TYPE' }],
    [[{ data: 'a', addr: '127.0.0.1' }], { code: 'ERR_INVALID_ARG_TYPE' }],
    [[{ data: 5, addr: good }], { code: 'ERR_INVALID_ARG_TYPE' }],
    [[{ data: 'a', addr: good }, { data: 'b', addr: unix }], { code: 'ERR_INVALID_ADDRESS' }],
    [[{ data: 'a', addr: good }, { data: 'b', addr: good.subarray(0, 8) }], { name: 'RangeError', code: 'ERR_OUT_OF_RANGE' }],
    [[{ data: 'a', addr: short6 }], { name: 'RangeError', code: 'ERR_OUT_OF_RANGE' }],
    [[{ data: 'a', addr: Buffer.alloc(1) }], { code: 'ERR_INVALID_ADDRESS' }],
  ];
  for (const [arg, err] of bad) await assert.rejects(m.sendtoBatch(s, arg as never), err);
  await assert.rejects(m.sendtoBatch(-1, []), { code: 'ERR_OUT_OF_RANGE' });
  await assert.rejects(m.sendtoBatch(s, [], 'x' as never), { code: 'ERR_INVALID_ARG_TYPE' });
  assert.equal(m.metrics().totalOps, before, 'nothing was queued');
  assert.deepEqual(await m.sendtoBatch(s, []), []);
  const ac = new AbortController();
  const g = m.spin(() =>
    m.cancellable(ac.signal, () => {
      ac.abort(new Error('cancelled'));
      return m.sendtoBatch(s, [{ data: 'a', addr: good }]);
    }),
  );
  await assert.rejects(m.join(g), /cancelled/);
  assert.equal(m.metrics().totalOps, before, 'a cancelled scope queued nothing');
  await m.close(s);
  await settle(m);
  assertNoPendingOps(m);
});

test('recvmsgBatches: ends on break, terminate and the natural error, after the kernel op is final', { skip }, async (t) => {
  const m = createMachine();
  t.after(() => m.close()); // a failure must not leave the ring holding the process open
  const srv = await m.socket(C.AF_INET!, SOCK_DGRAM);
  await m.bind(srv, '127.0.0.1', 0);
  const port = localPort(srv);
  const c = await m.socket(C.AF_INET!, SOCK_DGRAM);
  for (let i = 0; i < 5; i++) await m.sendto(c, `d${i}`, '127.0.0.1', port);
  const seen: string[] = [];
  for await (const batch of m.recvmsgBatches(srv)) {
    for (const d of batch) seen.push(d.data.toString());
    if (seen.length >= 5) break;
  }
  assert.deepEqual(seen, ['d0', 'd1', 'd2', 'd3', 'd4']);
  const f = m.spin(async () => {
    for await (const b of m.recvmsgBatches(srv)) void b;
  });
  await m.sleep(2);
  m.terminate(f);
  assert.equal(await m.join(f), undefined);
  const [r, w] = UM.pipe();
  await assert.rejects(async () => {
    for await (const b of m.recvmsgBatches(r)) void b;
  }, { name: 'UMError', code: 'ENOTSOCK' });
  assert.throws(() => m.recvmsgBatches(-1), { code: 'ERR_OUT_OF_RANGE' });
  for (const fd of [srv, c, r, w]) await m.close(fd);
  await settle(m);
  assertNoPendingOps(m);
});

test('recvmsgBatches: more datagrams queued than the pool has buffers (ENOBUFS) are all delivered, in order, once buffers are back', { skip }, async (t) => {
  // 4 buffers of 1 KiB: the first batch drains the pool and the op ends with ENOBUFS; it restarts when they are recycled.
  const m = createMachine({ bufferPool: { bufferSize: 1024, initialBuffers: 4, maxBytes: 4096 } });
  t.after(() => m.close());
  const srv = await m.socket(C.AF_INET!, SOCK_DGRAM);
  await m.bind(srv, '127.0.0.1', 0);
  const port = localPort(srv);
  const c = await m.socket(C.AF_INET!, SOCK_DGRAM);
  const N = 40;
  for (let i = 0; i < N; i++) await m.sendto(c, `n${i}`, '127.0.0.1', port);
  const seen: string[] = [];
  await m.timeout(10000, async () => {
    for await (const batch of m.recvmsgBatches(srv)) {
      for (const d of batch) seen.push(d.data.toString());
      if (seen.length >= N) break;
    }
  });
  assert.deepEqual(seen, Array.from({ length: N }, (_, i) => `n${i}`));
  assert.ok(m.metrics().bufferPoolEnobufs > 0, 'the pool ran dry at least once');
  for (const fd of [srv, c]) await m.close(fd);
  await settle(m);
  assertNoPendingOps(m);
});

test('sendtoBatch reads each datagram field once: what is sent is what was checked', { skip }, async (t) => {
  const m = createMachine();
  t.after(() => m.close());
  const srv = await m.socket(C.AF_INET!, SOCK_DGRAM);
  await m.bind(srv, '127.0.0.1', 0);
  const port = localPort(srv);
  const s = await m.socket(C.AF_INET!, SOCK_DGRAM);
  const good = Buffer.alloc(16);
  good.writeUInt16LE(C.AF_INET!, 0);
  good.writeUInt16BE(port, 2);
  good.set([127, 0, 0, 1], 4);
  let reads = 0;
  // A getter that would hand a 2-byte buffer to a second read (the kernel would then read past it).
  const d = {
    data: 'once',
    get addr(): Buffer {
      return reads++ === 0 ? good : Buffer.alloc(2);
    },
  };
  assert.deepEqual(await m.sendtoBatch(s, [d]), [4]);
  assert.equal(reads, 1);
  const buf = Buffer.alloc(16);
  const r = await m.timeout(5000, () => m.recvfrom(srv, buf));
  assert.equal(buf.subarray(0, r.bytes).toString(), 'once');
  for (const fd of [srv, s]) await m.close(fd);
  await settle(m);
  assertNoPendingOps(m);
});

test('sendtoBatch cancelled in flight: completion wins per batch, and every byte the peer got is one a result reported', async () => {
  // The members must still be waiting when the cancel comes: on loopback UDP
  // sends never wait (the skb leaves the sender's buffer at once), so the
  // batch goes to a connected TCP socket with small buffers (TCP ignores the
  // destination) while the peer reads slowly. Member i's bytes are all i, so
  // the peer's counts per value say exactly which members went out.
  const m = createMachine();
  const SIZE = 16 * 1024;
  const N = 48;
  const ROUNDS = 30;
  const addr = Buffer.alloc(16);
  addr.writeUInt16LE(C.AF_INET!, 0);
  addr.set([127, 0, 0, 1], 4);
  const datagrams = Array.from({ length: N }, (_, i) => ({ data: Buffer.alloc(SIZE, i), addr }));
  const tally = { resolved: 0, rejected: 0, cancelledMembers: 0, sentMembers: 0 };
  for (let round = 0; round < ROUNDS; round++) {
    const l = await m.tcpListen('127.0.0.1', 0);
    await m.setsockopt(l, C.SOL_SOCKET!, C.SO_RCVBUF!, 8192);
    const c = await m.tcpConnect('127.0.0.1', localPort(l));
    await m.setsockopt(c, C.SOL_SOCKET!, C.SO_SNDBUF!, 8192);
    const s = await m.accept(l);
    const got = new Array<number>(N).fill(0);
    const reader = m.spin(async () => {
      const buf = Buffer.alloc(4096);
      for (;;) {
        const n = await m.recv(s, buf);
        if (n === 0) return;
        for (let k = 0; k < n; k++) got[buf[k]!]!++;
        if (round % 3 !== 0) await m.sleep(0.05); // slow reader: members wait for room
      }
    });
    let results: (number | Error)[] | null = null;
    const ms = 1 + (round % 7);
    try {
      results = await m.timeout(ms, () => m.sendtoBatch(c, datagrams));
    } catch (e) {
      assert.ok(e instanceof TimeoutError, String(e));
    }
    await m.shutdown(c, 1);
    await m.join(reader);
    if (results === null) {
      tally.rejected++;
      assert.deepEqual(got, new Array<number>(N).fill(0), 'a rejected batch sent nothing');
    } else {
      tally.resolved++;
      for (let i = 0; i < N; i++) {
        const r: number | Error = results[i]!;
        if (typeof r === 'number') {
          tally.sentMembers++;
          assert.equal(got[i], r, `member ${i}: the peer got what the result says`);
        } else {
          assert.equal((r as { code?: string }).code, 'ECANCELED', String(r));
          assert.equal(got[i], 0, `member ${i} was cancelled: nothing of it reached the peer`);
          tally.cancelledMembers++;
        }
      }
    }
    await m.close(c);
    await m.close(s);
    await m.close(l);
  }
  // The scenario must have produced the race it is about: batches cut by the
  // cancel with members on both sides.
  assert.ok(tally.resolved > 0 && tally.cancelledMembers > 0 && tally.sentMembers > 0, JSON.stringify(tally));
  await settle(m);
  assertNoPendingOps(m);
  m.close();
});

test('recvmsgEach / recvmsgBatches: datagrams received but not yet handed out when the loop breaks or is cancelled go to the next loop on the fd; every one is seen exactly once', { skip }, async () => {
  // Bursts of datagrams arrive together (one reap brings many CQEs), so a
  // loop that breaks after the first, or is cancelled by a short m.timeout
  // or terminate while they are queued, leaves received datagrams behind;
  // the next loop on the socket must get them first, in order. Flow control
  // keeps fewer in flight than the receive buffer holds (loopback UDP drops
  // nothing then), so every number sent must be seen exactly once.
  const m = createMachine();
  const N = 6000;
  const WINDOW = 64;
  const srv = await m.socket(C.AF_INET!, SOCK_DGRAM);
  await m.bind(srv, '127.0.0.1', 0);
  const port = localPort(srv);
  const tx = await m.socket(C.AF_INET!, SOCK_DGRAM);
  const seen = new Uint8Array(N);
  let received = 0;
  let order = 0; // datagrams of one sender must stay in order, leftovers included
  let outOfOrder = 0;
  const note = (text: string): void => {
    const k = Number(text);
    seen[k]!++;
    received++;
    if (k < order) outOfOrder++;
    order = k;
  };
  const sender = m.spin(async () => {
    let sent = 0;
    let seenAt = received;
    let stalled = 0;
    while (sent < N) {
      if (sent - received >= WINDOW) {
        // Lost datagrams would keep the window shut: give up after 1 s without progress.
        if (received !== seenAt) (seenAt = received), (stalled = 0);
        else if (++stalled > 1000) return;
        await m.sleep(1);
        continue;
      }
      const burst = Math.min(16, N - sent);
      await m.sendtoBatch(
        tx,
        Array.from({ length: burst }, (_, i) => ({ data: String(sent + i), addr: rawAddr(port) })),
      );
      sent += burst;
    }
  });
  let senderDone = false;
  void m.join(sender).then(() => (senderDone = true));
  const stats = { rounds: 0, breaks: 0, timeouts: 0, terminates: 0 };
  // Bounded: a lost datagram would leave `received` short of N forever, so
  // stop once the sender is done and three rounds in a row brought nothing.
  for (let idle = 0; received < N && idle < 3; ) {
    const before = received;
    const mode = stats.rounds++ % 4;
    try {
      await m.timeout(mode === 2 ? 1 : 200, async () => {
        if (mode === 0) {
          // break after the first datagram: the rest of its burst is queued
          for await (const d of m.recvmsgEach(srv)) {
            note(d.data.toString());
            stats.breaks++;
            break;
          }
        } else if (mode === 1) {
          // a batch is the body's (count it all); batches queued behind it are not
          for await (const batch of m.recvmsgBatches(srv)) {
            for (const d of batch) note(d.data.toString());
            stats.breaks++;
            break;
          }
        } else if (mode === 2) {
          for await (const d of m.recvmsgEach(srv)) note(d.data.toString());
        } else {
          const f = m.spin(async () => {
            for await (const batch of m.recvmsgBatches(srv)) for (const d of batch) note(d.data.toString());
          });
          await m.sleep(0.5);
          m.terminate(f);
          await m.join(f).catch(() => {});
          stats.terminates++;
        }
      });
    } catch (e) {
      assert.ok(e instanceof TimeoutError, String(e));
      stats.timeouts++;
    }
    idle = received === before && senderDone ? idle + 1 : 0;
  }
  await m.join(sender);
  const missing = [...seen.keys()].filter((k) => seen[k] === 0);
  const twice = [...seen.keys()].filter((k) => seen[k]! > 1);
  assert.deepEqual({ missing: missing.slice(0, 10), twice: twice.slice(0, 10) }, { missing: [], twice: [] }, JSON.stringify(stats));
  assert.equal(outOfOrder, 0, 'leftovers come before newer datagrams');
  for (const fd of [srv, tx]) await m.close(fd);
  await settle(m);
  assertNoPendingOps(m);
});

/** A struct sockaddr_in for 127.0.0.1:port. */
function rawAddr(port: number): Buffer {
  const a = Buffer.alloc(16);
  a.writeUInt16LE(C.AF_INET!, 0);
  a.writeUInt16BE(port, 2);
  a.set([127, 0, 0, 1], 4);
  return a;
}

test('recvfrom and recvBundle racing tiny timeouts lose and duplicate nothing (completion wins), counted at volume', async (t) => {
  const m = createMachine();
  t.after(() => m.close());
  const N = Number(process.env.UM_RACE_RECORDS ?? 4000);
  const tiny = tinyTimeouts(11);
  const sender = (fd: number) =>
    m.spin(async () => {
      for (let i = 0; i < N; i++) {
        await m.send(fd, raceRecord(i));
        if ((i & 15) === 0) await m.sleep(tiny());
      }
    });
  let timeouts = 0;
  // recvfrom: datagrams on a unix socketpair (reliable, ordered), one record each.
  {
    const [a, b] = UM.socketpair(C.AF_UNIX!, SOCK_DGRAM, 0);
    const s = sender(a);
    const buf = Buffer.alloc(64);
    let next = 0;
    while (next < N) {
      try {
        const r = await m.timeout(tiny(), () => m.recvfrom(b, buf));
        assert.equal(r.bytes, REC, 'one record per datagram');
        next = checkRaceRecords(buf.subarray(0, r.bytes), next);
      } catch (e) {
        if (!(e instanceof TimeoutError)) throw e;
        timeouts++;
      }
    }
    await m.join(s);
    await m.close(a);
    await m.close(b);
  }
  // recvBundle: a stream; what a cancelled bundle received is returned, never dropped.
  if (UM.kernelVersion() >= 610) {
    const [a, b] = UM.socketpair(C.AF_UNIX!, C.SOCK_STREAM!, 0);
    const s = sender(a);
    let next = 0;
    let partial = Buffer.alloc(0);
    while (next < N) {
      let bufs: Buffer[];
      try {
        bufs = await m.timeout(tiny(), () => m.recvBundle(b));
      } catch (e) {
        if (!(e instanceof TimeoutError)) throw e;
        timeouts++;
        continue;
      }
      assert.ok(bufs.length > 0, 'no EOF before the last record');
      const all = Buffer.concat([partial, ...bufs]);
      const whole = all.length - (all.length % REC);
      next = checkRaceRecords(all.subarray(0, whole), next);
      partial = Buffer.from(all.subarray(whole));
    }
    assert.equal(partial.length, 0);
    await m.join(s);
    await m.close(a);
    await m.close(b);
  }
  assert.ok(timeouts > 0 && m.metrics().cancelsRaced > 0, `timeouts ${timeouts}, races ${m.metrics().cancelsRaced}`);
  assertNoPendingOps(m);
});
