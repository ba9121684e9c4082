// The automatic buffer pool and the multishot fd ops: recvEach, readEach,
// pollEach, poll, select (fd form), recvBundle, sendBundle.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';

import { Queue, SharedQueue, TimeoutError, UM, UMError, constants } from 'uringmachine';

import { assertNoPendingOps, countFds, createMachine, fdTable, leakedFds, localPort, tcpPair, tmpDir, until } from '../helpers.js';

const { AF_UNIX, SOCK_STREAM, POLLIN, POLLOUT } = constants as Record<string, number>;

/** Byte i of the test pattern: not periodic in any buffer size we use. */
function pattern(start: number, n: number): Buffer {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) {
    const x = start + i;
    b[i] = (x * 131 + (x >>> 11) * 7 + (x >>> 19)) & 255;
  }
  return b;
}

test('readEach: 64 MiB through a pipe and a tiny pool (many ENOBUFS restarts), byte for byte, order kept', async () => {
  const m = createMachine({ bufferPool: { bufferSize: 4096, initialBuffers: 2, maxBytes: 16384 } });
  const [a, b] = UM.pipe();
  const total = 64 * 1024 * 1024;
  const chunk = 256 * 1024;
  const writer = m.spin(async () => {
    for (let off = 0; off < total; ) {
      const data = pattern(off, Math.min(chunk, total - off));
      let w = 0;
      while (w < data.length) w += await m.write(b, data.subarray(w));
      off += data.length;
    }
    await m.close(b);
  });
  let got = 0;
  let chunks = 0;
  for await (const c of m.readEach(a)) {
    const want = pattern(got, c.length);
    if (!c.equals(want)) assert.fail(`mismatch in the chunk at offset ${got}`);
    got += c.length;
    chunks++;
  }
  await m.join(writer);
  assert.equal(got, total);
  const x = m.metrics();
  assert.ok(x.bufferPoolEnobufs > 100, `ENOBUFS restarts: ${x.bufferPoolEnobufs}`);
  assert.ok(x.bufferPoolBytes <= 16384, 'the pool stayed within maxBytes');
  assert.equal(x.bufferPoolInUse, 0);
  assert.equal(x.bufferPoolFree, x.bufferPoolBuffers, 'every buffer back in the ring');
  assert.ok(chunks >= total / 16384);
  await m.close(a);
  assertNoPendingOps(m);
});

test('readEach: the pool grows under pressure up to maxBytes and reports it', async () => {
  const m = createMachine({ bufferPool: { bufferSize: 1024, initialBuffers: 1, maxBytes: 64 * 1024 } });
  const [a, b] = UM.pipe();
  // Fill the socket before the first recv so the first multishot runs dry at once.
  const data = pattern(0, 200_000);
  const writer = m.spin(async () => {
    let w = 0;
    while (w < data.length) w += await m.write(b, data.subarray(w));
    await m.close(b);
  });
  const parts: Buffer[] = [];
  for await (const c of m.readEach(a)) parts.push(c);
  await m.join(writer);
  assert.ok(Buffer.concat(parts).equals(data));
  const x = m.metrics();
  assert.ok(x.bufferPoolBuffers > 1, 'grew');
  assert.ok(x.bufferPoolBytes <= 64 * 1024, 'bounded');
  await m.close(a);
  assertNoPendingOps(m);
});

for (const kind of ['socketpair (recvEach)', 'pipe (readEach, multishot)'] as const) {
  test(`${kind}: break, return, an exception in the body, terminate and timeout cancel the op`, async () => {
    const m = createMachine();
    const pipe = kind.startsWith('pipe');
    const [a, b] = pipe ? UM.pipe() : UM.socketpair(AF_UNIX!, SOCK_STREAM!, 0);
    const each = () => (pipe ? m.readEach(a) : m.recvEach(a));
    const feed = () => m.write(b, 'x'.repeat(100));
    // break
    await feed();
    for await (const c of each()) {
      assert.ok(c.length > 0);
      break;
    }
    assert.equal(m.metrics().opsPending, 0, 'break');
    // an exception in the body
    await feed();
    await assert.rejects(
      (async () => {
        for await (const _ of each()) throw new SyntaxError('body');
      })(),
      SyntaxError,
    );
    assert.equal(m.metrics().opsPending, 0, 'exception');
    // return() on the iterator
    await feed();
    const it = each();
    assert.equal((await it.next()).done, false);
    await it.return!();
    assert.equal(m.metrics().opsPending, 0, 'return()');
    // timeout, nothing arriving
    await assert.rejects(
      m.timeout(20, async () => {
        for await (const _ of each());
      }),
      TimeoutError,
    );
    assert.equal(m.metrics().opsPending, 0, 'timeout');
    // terminate while items arrive
    let n = 0;
    const f = m.spin(async () => {
      for await (const _ of each()) n++;
    });
    await feed();
    await until(m, () => n >= 1);
    m.terminate(f);
    await m.join(f);
    assert.equal(m.metrics().opsPending, 0, 'terminate');
    assert.equal(m.metrics().bufferPoolInUse, 0);
    await m.close(a);
    await m.close(b);
    assertNoPendingOps(m);
  });
}

for (const kind of ['socketpair (recvEach)', 'pipe (readEach, multishot)'] as const) {
test(`${kind}: no byte lost or repeated when the loop is broken out of and restarted many times`, async () => {
  const m = createMachine({ bufferPool: { bufferSize: 256, initialBuffers: 2, maxBytes: 2048 } });
  const pipe = kind.startsWith('pipe');
  const [a, b] = pipe ? UM.pipe() : UM.socketpair(AF_UNIX!, SOCK_STREAM!, 0);
  const each = () => (pipe ? m.readEach(a) : m.recvEach(a));
  const total = 300_000;
  const writer = m.spin(async () => {
    for (let off = 0; off < total; off += 3000) await m.write(b, pattern(off, Math.min(3000, total - off)));
    await m.close(b);
  });
  let got = 0;
  let eof = false;
  while (!eof) {
    eof = true;
    let k = 0;
    for await (const c of each()) {
      assert.ok(c.equals(pattern(got, c.length)), `at ${got}`);
      got += c.length;
      if (++k === 3) {
        eof = false;
        break; // cancel mid-stream; the next loop must go on exactly where this one stopped
      }
    }
  }
  await m.join(writer);
  assert.equal(got, total);
  await m.close(a);
  assertNoPendingOps(m);
});
}

test('recvEach: a peer closing mid-stream ends the loop after the last byte; a reset rejects with UMError', async () => {
  const m = createMachine();
  const [a, b] = UM.socketpair(AF_UNIX!, SOCK_STREAM!, 0);
  await m.write(b, 'partial');
  await m.close(b);
  const parts: string[] = [];
  for await (const c of m.recvEach(a)) parts.push(c.toString());
  assert.equal(parts.join(''), 'partial');
  await m.close(a);
  // Bad fds and non-sockets.
  await assert.rejects(
    (async () => {
      for await (const _ of m.recvEach(9999));
    })(),
    (e: unknown) => e instanceof UMError && e.code === 'EBADF',
  );
  const [r, w] = UM.pipe();
  await assert.rejects(
    (async () => {
      for await (const _ of m.recvEach(r));
    })(),
    (e: unknown) => e instanceof UMError && e.code === 'ENOTSOCK',
  );
  await m.close(r);
  await m.close(w);
  assertNoPendingOps(m);
});

test('readEach: a pipe until EOF, and a regular file (read one pool buffer at a time)', async (t) => {
  const m = createMachine({ bufferPool: { bufferSize: 1024, initialBuffers: 4, maxBytes: 8192 } });
  const [r, w] = UM.pipe();
  const data = pattern(0, 500_000);
  const writer = m.spin(async () => {
    let off = 0;
    while (off < data.length) off += await m.write(w, data.subarray(off, off + 10_000));
    await m.close(w);
  });
  const parts: Buffer[] = [];
  for await (const c of m.readEach(r)) parts.push(c);
  await m.join(writer);
  assert.ok(Buffer.concat(parts).equals(data));
  await m.close(r);
  const dir = tmpDir(t);
  const path = join(dir, 'f.bin');
  writeFileSync(path, data.subarray(0, 100_000));
  const fd = await m.open(path);
  const fparts: Buffer[] = [];
  for await (const c of m.readEach(fd)) fparts.push(c);
  assert.ok(Buffer.concat(fparts).equals(data.subarray(0, 100_000)));
  await m.close(fd);
  assertNoPendingOps(m);
});

test('pollEach, poll and select (fd form)', async () => {
  const m = createMachine();
  const [r, w] = UM.pipe();
  // poll: writable at once, readable after a write
  assert.ok((await m.poll(w, POLLOUT!)) & POLLOUT!);
  const p = m.poll(r, POLLIN!);
  await m.write(w, 'a');
  assert.ok((await p) & POLLIN!);
  // select: r is readable (unread byte), the other pipe is not
  const [r2, w2] = UM.pipe();
  assert.deepEqual(await m.select([r, r2], [], []), [[r], [], []]);
  assert.deepEqual(await m.select([r2], [w2], []), [[], [w2], []]);
  assert.equal(m.metrics().opsPending, 0, 'losing polls cancelled and reaped');
  // select waits until something is ready
  const sel = m.select([r2]);
  await m.sleep(2);
  await m.write(w2, 'b');
  assert.deepEqual(await sel, [[r2], [], []]);
  // pollEach: one event per readable edge while data stays unread
  let events = 0;
  const f = m.spin(async () => {
    for await (const ev of m.pollEach(r, POLLIN!)) {
      assert.ok(ev & POLLIN!);
      if (++events === 3) break;
      await m.read(r, Buffer.alloc(16));
      await m.write(w, 'c');
    }
  });
  await m.join(f);
  assert.equal(events, 3);
  // cancellation of select by timeout withdraws every poll
  const [r3, w3] = UM.pipe();
  await assert.rejects(m.timeout(5, () => m.select([r3], [], [])), TimeoutError);
  await m.close(r3);
  await m.close(w3);
  assert.equal(m.metrics().opsPending, 0);
  // bad arguments reject before submission
  const before = m.metrics().totalOps;
  await assert.rejects(m.poll(-1, POLLIN!), { code: 'ERR_OUT_OF_RANGE' });
  await assert.rejects(m.select(['x' as never], []), { code: 'ERR_INVALID_ARG_TYPE' });
  assert.throws(() => m.pollEach(r, 'x' as never), { code: 'ERR_INVALID_ARG_TYPE' });
  assert.throws(() => m.recvEach('x' as never), { code: 'ERR_INVALID_ARG_TYPE' });
  assert.throws(() => m.readEach(null as never), { code: 'ERR_INVALID_ARG_TYPE' });
  assert.equal(m.metrics().totalOps, before);
  for (const fd of [r, w, r2, w2]) await m.close(fd);
  assertNoPendingOps(m);
});

test('recvBundle and sendBundle move many buffers per op, in order', async (t) => {
  if (UM.kernelVersion() < 610) return t.skip('bundles need Linux >= 6.10');
  const m = createMachine({ bufferPool: { bufferSize: 1024, initialBuffers: 4, maxBytes: 64 * 1024 } });
  const [a, b] = UM.socketpair(AF_UNIX!, SOCK_STREAM!, 0);
  const bufs = Array.from({ length: 40 }, (_, i) => pattern(i * 1000, 1000));
  bufs.push(Buffer.from('tail as a string') as Buffer);
  const total = bufs.reduce((n, x) => n + x.length, 0);
  const sent = m.spin(() => m.sendBundle(b, [...bufs.slice(0, 40), 'tail as a string']));
  const got: Buffer[] = [];
  let n = 0;
  while (n < total) {
    const parts = await m.recvBundle(a);
    assert.ok(parts.length >= 1);
    for (const p of parts) {
      got.push(p);
      n += p.length;
    }
  }
  assert.equal(await m.join(sent), total);
  assert.ok(Buffer.concat(got).equals(Buffer.concat(bufs)));
  // A large sendBundle (more than the socket buffer: short sends) arrives whole.
  const big = Array.from({ length: 600 }, (_, i) => pattern(i * 4096, 4096));
  const s2 = m.spin(() => m.sendBundle(b, big));
  const recvd: Buffer[] = [];
  let k = 0;
  while (k < 600 * 4096) {
    for (const p of await m.recvBundle(a)) {
      recvd.push(p);
      k += p.length;
    }
  }
  assert.equal(await m.join(s2), 600 * 4096);
  assert.ok(Buffer.concat(recvd).equals(Buffer.concat(big)));
  await m.close(b);
  assert.deepEqual(await m.recvBundle(a), [], 'EOF');
  await m.close(a);
  await assert.rejects(m.sendBundle(a, 'x' as never), { code: 'ERR_INVALID_ARG_TYPE' });
  assertNoPendingOps(m);
});

test('close() with a multishot recv in flight: the waiting loop rejects and the op is drained', async () => {
  const m = createMachine();
  const [a, b] = UM.socketpair(AF_UNIX!, SOCK_STREAM!, 0);
  const it = m.recvEach(a);
  const pending = it.next();
  await m.sleep(1);
  assert.equal(m.metrics().opsPending, 1);
  m.close();
  await assert.rejects(pending);
  assert.equal(m.metrics().opsPending, 0);
  const m2 = createMachine();
  await m2.close(a);
  await m2.close(b);
  assertNoPendingOps(m2);
});

for (const incremental of [true, false]) {
test(`recvEach over TCP: 64 MiB through a tiny pool (multishot, many ENOBUFS restarts), byte for byte; incremental ${incremental}`, async () => {
  const m = createMachine({ bufferPool: { bufferSize: 4096, initialBuffers: 2, maxBytes: 16384, incremental } });
  const [a, b, l] = await tcpPair(m);
  const total = 64 * 1024 * 1024;
  const writer = m.spin(async () => {
    for (let off = 0; off < total; ) {
      const data = pattern(off, Math.min(256 * 1024, total - off));
      let w = 0;
      while (w < data.length) w += await m.send(b, data.subarray(w));
      off += data.length;
    }
    await m.shutdown(b, constants.SHUT_WR!);
  });
  let got = 0;
  for await (const c of m.recvEach(a)) {
    if (!c.equals(pattern(got, c.length))) assert.fail(`mismatch in the chunk at offset ${got}`);
    got += c.length;
  }
  await m.join(writer);
  assert.equal(got, total);
  const x = m.metrics();
  assert.ok(x.bufferPoolEnobufs > 100, `ENOBUFS restarts: ${x.bufferPoolEnobufs}`);
  assert.ok(x.bufferPoolBytes <= 16384);
  for (const fd of [a, b, l]) await m.close(fd);
  assertNoPendingOps(m);
});
}

test('recvEach over TCP: break mid-stream many times, nothing lost or repeated', async () => {
  const m = createMachine({ bufferPool: { bufferSize: 512, initialBuffers: 2, maxBytes: 4096 } });
  const [a, b, l] = await tcpPair(m);
  const total = 1_000_000;
  const writer = m.spin(async () => {
    for (let off = 0; off < total; off += 5000) await m.send(b, pattern(off, Math.min(5000, total - off)));
    await m.shutdown(b, constants.SHUT_WR!);
  });
  let got = 0;
  for (let done = false; !done; ) {
    done = true;
    let k = 0;
    for await (const c of m.recvEach(a)) {
      assert.ok(c.equals(pattern(got, c.length)), `at ${got}`);
      got += c.length;
      if (++k === 4) {
        done = false;
        break;
      }
    }
  }
  await m.join(writer);
  assert.equal(got, total);
  for (const fd of [a, b, l]) await m.close(fd);
  assertNoPendingOps(m);
});

test('acceptEach: connections in order; a break keeps fds it accepted but did not hand out for the next loop; acceptIntoQueue', async () => {
  const m = createMachine();
  const listener = await m.tcpListen('127.0.0.1', 0);
  const port = await localPort(m, listener);
  const fdsBefore = countFds();
  const clients: number[] = [];
  for (let i = 0; i < 5; i++) clients.push(await m.tcpConnect('127.0.0.1', port));
  const accepted: number[] = [];
  for await (const fd of m.acceptEach(listener)) {
    accepted.push(fd);
    if (accepted.length === 2) break; // 3 more are queued in the kernel or the iterator
  }
  for (const fd of accepted) await m.close(fd);
  // Each queued connection is handed out by the next loop: accepted again
  // from the kernel's backlog, or kept by the iterator that broke out.
  const q = new Queue<number>();
  const f = m.spin(() => m.acceptIntoQueue(listener, q));
  for (let i = 0; i < 2; i++) clients.push(await m.tcpConnect('127.0.0.1', port));
  const fromQueue = [await m.shift(q), await m.shift(q)];
  m.terminate(f);
  await m.join(f);
  assert.equal(m.metrics().opsPending, 0, 'the multishot accept was cancelled');
  for (const fd of fromQueue) await m.close(fd);
  while (q.count > 0) await m.close(await m.shift(q));
  for (const fd of clients) await m.close(fd);
  await m.close(listener);
  const fdsAfter = countFds();
  assert.equal(fdsAfter, fdsBefore - 1, 'no fd leaked (the listener is closed)');
  assert.throws(() => m.acceptEach('x' as never), { code: 'ERR_INVALID_ARG_TYPE' });
  await assert.rejects(m.acceptIntoQueue(listener, {} as never), { code: 'ERR_INVALID_ARG_TYPE' });
  assertNoPendingOps(m);
});

test('acceptEach / accept / acceptIntoQueue under breaks, timeouts and terminate: every connection is served, none hung up on', async () => {
  // Clients connect in bursts, so one reap brings the multishot accept
  // several fds: a loop that breaks after one, or is cancelled while fds
  // are queued (or while acceptIntoQueue waits to push into a full
  // SharedQueue), must leave them to the next accept on the listener. Each
  // client sends its number and must get it back; EOF instead means the
  // server closed a connection it had accepted.
  const before = fdTable();
  const m = createMachine();
  const listener = await m.tcpListen('127.0.0.1', 0, 1024);
  const port = await localPort(m, listener);
  const N = 600;
  const BURST = 20;
  const echoed = new Uint8Array(N);
  let hungUp = 0;
  const serve = (fd: number): void => {
    m.spin(async () => {
      try {
        const b = Buffer.alloc(4);
        for (let got = 0; got < 4; ) {
          const n = await m.recv(fd, b.subarray(got));
          if (n === 0) return;
          got += n;
        }
        await m.send(fd, b);
      } finally {
        await m.close(fd);
      }
    });
  };
  let clientsDone = false;
  const clients = m.spin(async () => {
    for (let base = 0; base < N; base += BURST) {
      const burst: ReturnType<typeof m.spin>[] = [];
      for (let i = base; i < Math.min(N, base + BURST); i++) {
        burst.push(
          m.spin(async () => {
            const c = await m.tcpConnect('127.0.0.1', port);
            try {
              const b = Buffer.alloc(4);
              b.writeUInt32LE(i);
              await m.send(c, b);
              const r = Buffer.alloc(4);
              let got = 0;
              // Bounded: a connection the server accepted and lost (left
              // open, never served) would wait here forever.
              await m.timeout(5000, async () => {
                while (got < 4) {
                  const n = await m.recv(c, r.subarray(got));
                  if (n === 0) break;
                  got += n;
                }
              });
              if (got === 4 && r.readUInt32LE(0) === i) echoed[i]!++;
              else hungUp++; // EOF: the server closed the connection unanswered
            } catch (e) {
              // ECONNRESET / EPIPE: closed unanswered with our bytes unread;
              // TimeoutError: accepted and never served
              if (!(e instanceof TimeoutError || (e instanceof UMError && (e.code === 'ECONNRESET' || e.code === 'EPIPE')))) throw e;
              hungUp++;
            } finally {
              await m.close(c);
            }
          }),
        );
      }
      await m.join(...burst);
    }
    clientsDone = true;
  });
  const stats = { rounds: 0, cancelled: 0 };
  const q = new SharedQueue({ capacity: 1 });
  while (!clientsDone) {
    const mode = stats.rounds++ % 5;
    try {
      await m.timeout(mode === 2 ? 1 : 100, async () => {
        if (mode === 0) {
          for await (const fd of m.acceptEach(listener)) {
            serve(fd);
            break; // the rest of the burst is queued in the iterator
          }
        } else if (mode === 1) {
          serve(await m.accept(listener));
        } else if (mode === 2) {
          for await (const fd of m.acceptEach(listener)) serve(fd);
        } else if (mode === 3) {
          const f = m.spin(async () => {
            for await (const fd of m.acceptEach(listener)) serve(fd);
          });
          await m.sleep(0.3);
          m.terminate(f);
          await m.join(f).catch(() => {});
        } else {
          // acceptIntoQueue into a one-slot SharedQueue drained slowly: its
          // push waits, and the terminate comes while it does
          const f = m.spin(() => m.acceptIntoQueue(listener, q));
          for (let i = 0; i < 3; i++) {
            await m.sleep(0.2);
            if (q.count > 0) serve(Number(await m.shift(q)));
          }
          m.terminate(f);
          await m.join(f).catch(() => {});
          while (q.count > 0) serve(Number(await m.shift(q)));
        }
      });
    } catch (e) {
      assert.ok(e instanceof TimeoutError, String(e));
      stats.cancelled++;
    }
  }
  await m.join(clients);
  const missing = [...echoed.keys()].filter((i) => echoed[i] !== 1);
  assert.deepEqual({ hungUp, missing: missing.slice(0, 10) }, { hungUp: 0, missing: [] }, JSON.stringify(stats));
  await m.close(listener);
  await until(m, () => m.metrics().opsPending === 0, 5000, 'servers done');
  m.close();
  assert.deepEqual(leakedFds(before), [], 'no connection left open');
});

test('1,000 concurrent TCP connections on one machine: acceptEach + recvEach echo, every byte back', async (t) => {
  const { readdirSync } = await import('node:fs');
  const N = 1000;
  // 2 fds per connection (both ends live in this process) plus slack.
  const { execSync } = await import('node:child_process');
  const limit = Number(execSync('ulimit -n', { shell: '/bin/sh' }).toString().trim());
  if (limit < 2 * N + 100) return t.skip(`RLIMIT_NOFILE ${limit} is below ${2 * N + 100}`);
  const m = createMachine();
  const listener = await m.tcpListen('127.0.0.1', 0, 4096);
  const port = await localPort(m, listener);
  const server = m.spin(async () => {
    for await (const conn of m.acceptEach(listener)) {
      m.spin(async () => {
        for await (const chunk of m.recvEach(conn)) await m.send(conn, chunk);
        await m.close(conn);
      });
    }
  });
  const fdsBefore = countFds();
  const clients = await Promise.all(
    Array.from({ length: N }, (_, i) =>
      m.spin(async () => {
        const fd = await m.tcpConnect('127.0.0.1', port);
        const buf = Buffer.alloc(64);
        let sum = 0;
        for (let r = 0; r < 3; r++) {
          const msg = Buffer.from(`client ${i} round ${r}`.padEnd(40, '.'));
          await m.send(fd, msg);
          let got = 0;
          while (got < msg.length) got += await m.recv(fd, buf, msg.length - got, 0);
          sum += got;
        }
        await m.close(fd);
        return sum;
      }),
    ),
  );
  const sums = await Promise.all(clients.map((c) => m.join(c)));
  assert.equal(sums.reduce((a, b) => a + b, 0), N * 3 * 40);
  await until(m, () => m.fibers.size === 1, 5000, 'server connection fibers done');
  m.terminate(server);
  await m.join(server);
  await m.close(listener);
  assert.ok(countFds() <= fdsBefore, 'every connection fd closed');
  assertNoPendingOps(m);
});

for (const incremental of [true, false]) {
  test(`one shared pool, 50 TCP connections streaming at once, each checked byte for byte; incremental ${incremental}`, async () => {
    // With incremental consumption, completions of different sockets fill
    // the same pool buffer one after the other: each CQE's bytes start where
    // the previous one ended. A wrong offset shows up as a mismatch here.
    const m = createMachine({ bufferPool: { bufferSize: 2048, initialBuffers: 4, maxBytes: 32 * 1024, incremental } });
    const listener = await m.tcpListen('127.0.0.1', 0, 128);
    const port = await localPort(m, listener);
    const N = 50;
    const PER = 200_000;
    const readers: import('uringmachine').Fiber<number>[] = [];
    const server = m.spin(async () => {
      let i = 0;
      for await (const conn of m.acceptEach(listener)) {
        readers.push(
          m.spin(async () => {
            // The first 4 bytes say which client this is.
            let id = -1;
            let got = 0;
            let head = Buffer.alloc(0);
            for await (let c of m.recvEach(conn)) {
              if (id < 0) {
                head = Buffer.concat([head, c]);
                if (head.length < 4) continue;
                id = head.readUInt32LE(0);
                c = head.subarray(4);
              }
              if (!c.equals(pattern(id * PER + got, c.length))) assert.fail(`client ${id}: mismatch at ${got}`);
              got += c.length;
            }
            await m.close(conn);
            return got;
          }),
        );
        if (++i === N) break;
      }
    });
    const writers = Array.from({ length: N }, (_, id) =>
      m.spin(async () => {
        const fd = await m.tcpConnect('127.0.0.1', port);
        const hdr = Buffer.alloc(4);
        hdr.writeUInt32LE(id);
        await m.send(fd, hdr);
        for (let off = 0; off < PER; off += 7000) {
          const d = pattern(id * PER + off, Math.min(7000, PER - off));
          let w = 0;
          while (w < d.length) w += await m.send(fd, d.subarray(w));
        }
        await m.close(fd);
      }),
    );
    for (const w of writers) await m.join(w);
    await m.join(server);
    const totals = [];
    for (const r of readers) totals.push(await m.join(r));
    assert.deepEqual(totals, Array(N).fill(PER));
    assert.equal(m.metrics().bufferPoolInUse, 0);
    await m.close(listener);
    assertNoPendingOps(m);
  });
}

test('pollEach and acceptEach: timeout, terminate and an exception in the body cancel the kernel op', async () => {
  const m = createMachine();
  const [r, w] = UM.pipe();
  await assert.rejects(
    m.timeout(5, async () => {
      for await (const _ of m.pollEach(r, POLLIN!));
    }),
    TimeoutError,
  );
  assert.equal(m.metrics().opsPending, 0);
  const f = m.spin(async () => {
    for await (const _ of m.pollEach(r, POLLIN!));
  });
  await m.sleep(2);
  m.terminate(f);
  await m.join(f);
  assert.equal(m.metrics().opsPending, 0);
  await m.write(w, 'x');
  await assert.rejects(
    (async () => {
      for await (const _ of m.pollEach(r, POLLIN!)) throw new RangeError('body');
    })(),
    RangeError,
  );
  assert.equal(m.metrics().opsPending, 0);
  const listener = await m.tcpListen('127.0.0.1', 0);
  await assert.rejects(
    m.timeout(5, async () => {
      for await (const _ of m.acceptEach(listener));
    }),
    TimeoutError,
  );
  const g = m.spin(async () => {
    for await (const _ of m.acceptEach(listener));
  });
  await m.sleep(2);
  m.terminate(g);
  await m.join(g);
  assert.equal(m.metrics().opsPending, 0);
  await assert.rejects(
    (async () => {
      for await (const _ of m.acceptEach(9999));
    })(),
    { code: 'EBADF' },
  );
  for (const fd of [r, w, listener]) await m.close(fd);
  assertNoPendingOps(m);
});

test('bad fds reject with UMError; wrong types reject or throw before anything is submitted', async () => {
  const m = createMachine();
  const bad = 9999;
  const drain = async (it: AsyncIterable<unknown>) => {
    for await (const _ of it);
  };
  await assert.rejects(drain(m.readEach(bad)), { code: 'EBADF', syscall: 'read' });
  await assert.rejects(drain(m.pollEach(bad, POLLIN!)), (e: unknown) => e instanceof UMError);
  await assert.rejects(m.poll(bad, POLLIN!), (e: unknown) => e instanceof UMError);
  await assert.rejects(m.select([bad], [], []), (e: unknown) => e instanceof UMError);
  if (UM.kernelVersion() >= 610) {
    await assert.rejects(m.recvBundle(bad), { code: 'EBADF' });
    await assert.rejects(m.sendBundle(bad, ['x']), { code: 'EBADF' });
  }
  assert.equal(m.metrics().opsPending, 0);
  const before = m.metrics().totalOps;
  await assert.rejects(m.recvBundle('1' as never), { code: 'ERR_INVALID_ARG_TYPE' });
  await assert.rejects(m.recvBundle(1, 'x' as never), { code: 'ERR_INVALID_ARG_TYPE' });
  await assert.rejects(m.sendBundle(1, [1 as never]), { code: 'ERR_INVALID_ARG_TYPE' });
  await assert.rejects(m.poll(1, 1.5), { code: 'ERR_OUT_OF_RANGE' });
  await assert.rejects(m.select([1], 'x' as never), { code: 'ERR_INVALID_ARG_TYPE' });
  assert.throws(() => m.recvEach(1, 'x' as never), { code: 'ERR_INVALID_ARG_TYPE' });
  assert.throws(() => m.pollEach(-3, POLLIN!), { code: 'ERR_OUT_OF_RANGE' });
  assert.throws(() => new (m.constructor as typeof UM)({ bufferPool: 5 as never }), { code: 'ERR_INVALID_ARG_TYPE' });
  assert.throws(() => new (m.constructor as typeof UM)({ bufferPool: { bufferSize: 0 } }), { code: 'ERR_OUT_OF_RANGE' });
  assert.equal(m.metrics().totalOps, before);
  assertNoPendingOps(m);
});
