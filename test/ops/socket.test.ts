// One-shot socket ops (issue 3): socket, bind, listen, connect, accept, send,
// sendv, sendto, recv, recvfrom, shutdown(Async), get/setsockopt, tcpListen,
// tcpConnect. Only 127.0.0.1, ::1 and unix sockets; every loop is bounded.
// Ports are chosen by the kernel (port 0) and read back from /proc/net, so
// parallel test runs cannot collide.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { constants as C, TimeoutError, UM, UMError, type UringMachine } from 'uringmachine';

import { assertNoPendingOps, createMachine, tmpDir } from '../helpers.js';

const AF_INET = C.AF_INET!;
const AF_INET6 = C.AF_INET6!;
const AF_UNIX = C.AF_UNIX!;
const SOCK_STREAM = C.SOCK_STREAM!;
const SOCK_DGRAM = C.SOCK_DGRAM!;

/** The local port of socket fd, from /proc/net/{tcp,udp}{,6} (getsockname is not part of the API). */
function localPort(fd: number): number {
  const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/self/fd/${fd}`));
  assert.ok(m, `fd ${fd} is a socket`);
  for (const table of ['tcp', 'tcp6', 'udp', 'udp6']) {
    for (const line of readFileSync(`/proc/net/${table}`, 'utf8').split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f[9] === m[1]) return parseInt(f[1]!.split(':')[1]!, 16);
    }
  }
  assert.fail(`socket inode ${m[1]} not found in /proc/net`);
}

function openFds(): number {
  return readdirSync('/proc/self/fd').length;
}

function isUM(...codes: string[]) {
  return (e: unknown): boolean => {
    assert.ok(e instanceof UMError, `expected a UMError, got ${String(e)}`);
    assert.ok(codes.includes(e.code), `expected ${codes.join(' or ')}, got ${e.code}`);
    return true;
  };
}

/** A pattern no two nearby offsets share: catches lost, duplicated and reordered bytes. */
function pattern(len: number, seed: number): Buffer {
  const b = Buffer.allocUnsafe(len);
  for (let i = 0; i < len; i++) b[i] = (seed + i * 7 + (i >>> 8) * 13) & 0xff;
  return b;
}

/** Receive exactly n bytes (or until EOF) into one buffer. */
async function recvAll(m: UringMachine, fd: number, n: number): Promise<Buffer> {
  const out = Buffer.alloc(n);
  let got = 0;
  while (got < n) {
    const k = await m.recv(fd, out.subarray(got));
    if (k === 0) break;
    got += k;
  }
  return out.subarray(0, got);
}

/** Echo everything received on fd until EOF, then close it. */
async function echo(m: UringMachine, fd: number): Promise<number> {
  const buf = Buffer.alloc(4096);
  let total = 0;
  for (;;) {
    const n = await m.recv(fd, buf);
    if (n === 0) break;
    await m.sendv(fd, [buf.subarray(0, n)]);
    total += n;
  }
  await m.close(fd);
  return total;
}

/** One server fiber accepting one connection and echoing; a client writing and reading back. */
async function echoRoundTrip(m: UringMachine, lfd: number, connect: () => Promise<number>): Promise<void> {
  const server = m.spin(async () => echo(m, await m.accept(lfd)));
  const c = await connect();
  const msg = 'héllo, ring\n'.repeat(100);
  const bytes = Buffer.from(msg);
  assert.equal(await m.send(c, msg), bytes.length);
  const back = await recvAll(m, c, bytes.length);
  assert.equal(back.toString(), msg);
  await m.shutdown(c, C.SHUT_WR!);
  assert.equal(await m.recv(c, Buffer.alloc(16)), 0, 'EOF after the server closed');
  assert.equal(await m.join(server), bytes.length);
  await m.close(c);
  await m.close(lfd);
}

// ---- Echo over TCP and unix sockets ---------------------------------------------

test('TCP echo over IPv4 (tcpListen / tcpConnect, accept, send, recv)', async () => {
  const m = createMachine();
  const lfd = await m.tcpListen('127.0.0.1', 0);
  const port = localPort(lfd);
  assert.ok(port > 0);
  await echoRoundTrip(m, lfd, () => m.tcpConnect('127.0.0.1', port));
  assertNoPendingOps(m);
});

test('TCP echo over IPv6 ::1 (socket, setsockopt, bind, listen, connect by hand)', async () => {
  const m = createMachine();
  const lfd = await m.socket(AF_INET6, SOCK_STREAM);
  await m.setsockopt(lfd, C.SOL_SOCKET!, C.SO_REUSEADDR!, 1);
  await m.bind(lfd, '::1', 0);
  await m.listen(lfd);
  const port = localPort(lfd);
  await echoRoundTrip(m, lfd, async () => {
    const fd = await m.socket(AF_INET6, SOCK_STREAM, 0);
    await m.connect(fd, '[0:0:0:0:0:0:0:1]', port); // any spelling of ::1
    return fd;
  });
  assertNoPendingOps(m);
});

test('echo over a unix socket path (string and Buffer paths; port omitted)', async (t) => {
  const m = createMachine();
  const path = join(tmpDir(t), 'echo.sock');
  const lfd = await m.socket(AF_UNIX, SOCK_STREAM);
  await m.bind(lfd, path);
  await m.listen(lfd, 16);
  await echoRoundTrip(m, lfd, async () => {
    const fd = await m.socket(AF_UNIX, SOCK_STREAM);
    await m.connect(fd, Buffer.from(path));
    return fd;
  });
  // A relative path starting with '.' is a unix path too.
  const fd = await m.socket(AF_UNIX, SOCK_STREAM);
  await assert.rejects(m.connect(fd, './no-such-dir-um/x.sock'), isUM('ENOENT'));
  await m.close(fd);
  assertNoPendingOps(m);
});

// ---- Datagrams --------------------------------------------------------------------

for (const [family, host] of [
  [AF_INET, '127.0.0.1'],
  [AF_INET6, '::1'],
] as const) {
  test(`UDP sendto / recvfrom over ${host} report the sender's host and port`, async () => {
    const m = createMachine();
    const a = await m.socket(family, SOCK_DGRAM);
    const b = await m.socket(family, SOCK_DGRAM);
    await m.bind(a, host, 0);
    await m.bind(b, host, 0);
    const pa = localPort(a);
    const pb = localPort(b);
    assert.notEqual(pa, pb);
    assert.equal(await m.sendto(b, 'one', host, pa), 3);
    assert.equal(await m.sendto(b, Buffer.from('two!'), host, pa), 4);
    const buf = Buffer.alloc(64);
    assert.deepEqual(await m.recvfrom(a, buf), { bytes: 3, host, port: pb });
    assert.equal(buf.toString('utf8', 0, 3), 'one');
    // maxlen truncates the datagram (the rest is dropped, as with recvfrom(2)).
    assert.deepEqual(await m.recvfrom(a, buf, 2), { bytes: 2, host, port: pb });
    assert.equal(buf.toString('utf8', 0, 2), 'tw');
    // And back, with a receive that is waiting before the datagram is sent.
    const f = m.spin(() => m.recvfrom(b, Buffer.alloc(8)));
    await m.snooze();
    assert.equal(await m.sendto(a, '', host, pb), 0, 'an empty datagram');
    assert.deepEqual(await m.join(f), { bytes: 0, host, port: pa });
    await m.close(a);
    await m.close(b);
    assertNoPendingOps(m);
  });
}

test('recvfrom decodes a unix datagram sender path; an IPv4-mapped sender reads ::ffff:a.b.c.d', async (t) => {
  const m = createMachine();
  const dir = tmpDir(t);
  const a = await m.socket(AF_UNIX, SOCK_DGRAM);
  const b = await m.socket(AF_UNIX, SOCK_DGRAM);
  await m.bind(a, join(dir, 'a'));
  await m.bind(b, join(dir, 'b'));
  await m.sendto(b, 'x', join(dir, 'a'));
  assert.deepEqual(await m.recvfrom(a, Buffer.alloc(4)), { bytes: 1, host: join(dir, 'b'), port: 0 });
  const c = await m.socket(AF_UNIX, SOCK_DGRAM); // unbound sender
  await m.sendto(c, 'y', join(dir, 'a'));
  assert.deepEqual(await m.recvfrom(a, Buffer.alloc(4)), { bytes: 1, host: '', port: 0 });
  for (const fd of [a, b, c]) await m.close(fd);

  const v6 = await m.socket(AF_INET6, SOCK_DGRAM);
  await m.bind(v6, '::', 0);
  const v4 = await m.socket(AF_INET, SOCK_DGRAM);
  await m.bind(v4, '127.0.0.1', 0);
  await m.sendto(v4, 'z', '127.0.0.1', localPort(v6));
  assert.deepEqual(await m.recvfrom(v6, Buffer.alloc(4)), { bytes: 1, host: '::ffff:127.0.0.1', port: localPort(v4) });
  await m.close(v6);
  await m.close(v4);
  assertNoPendingOps(m);
});

// ---- sendv --------------------------------------------------------------------

test('sendv: 3,000 buffers (strings and bytes, some empty), ~6 MiB in all, read concurrently, byte for byte', async () => {
  const m = createMachine();
  const [a, b] = UM.socketpair(AF_UNIX, SOCK_STREAM, 0);
  const bufs: (Buffer | string)[] = [];
  let total = 0;
  for (let i = 0; i < 3000; i++) {
    if (i % 500 === 7) bufs.push(i % 2 ? '' : Buffer.alloc(0));
    else if (i % 10 === 3) bufs.push(`<${i}>`);
    else bufs.push(pattern(1 + ((i * 977) % 4096), i));
  }
  for (const x of bufs) total += Buffer.byteLength(x);
  assert.ok(total > 5 * 1024 * 1024, `total ${total}`);
  const reader = m.spin(() => recvAll(m, b, total));
  assert.equal(await m.sendv(a, bufs), total);
  const got = await m.join(reader);
  assert.equal(got.length, total);
  assert.ok(got.equals(Buffer.concat(bufs.map((x) => (typeof x === 'string' ? Buffer.from(x) : x)))), 'same bytes');
  assert.equal(await m.sendv(a, []), 0);
  assert.equal(await m.sendv(a, ['', Buffer.alloc(0)]), 0);
  await m.close(a);
  await m.close(b);
  assertNoPendingOps(m);
});

test('sendv over TCP: many MiB through the loopback, short sends resumed', async () => {
  const m = createMachine();
  const lfd = await m.tcpListen('127.0.0.1', 0);
  const port = localPort(lfd);
  const server = m.spin(async () => {
    const fd = await m.accept(lfd);
    try {
      return await recvAll(m, fd, 1 << 30);
    } finally {
      await m.close(fd);
    }
  });
  const c = await m.tcpConnect('127.0.0.1', port);
  const bufs = Array.from({ length: 64 }, (_, i) => pattern(128 * 1024 + i, i));
  const total = bufs.reduce((n, x) => n + x.length, 0);
  assert.equal(await m.sendv(c, bufs), total);
  await m.close(c);
  const got = await m.join(server);
  assert.equal(got.length, total);
  assert.ok(got.equals(Buffer.concat(bufs)));
  await m.close(lfd);
  assertNoPendingOps(m);
});

// ---- Options ---------------------------------------------------------------------------

test('getsockopt / setsockopt round trips: SO_REUSEADDR, TCP_NODELAY, SO_RCVBUF, SO_TYPE; unix sockets too', async () => {
  const m = createMachine();
  const fd = await m.socket(AF_INET, SOCK_STREAM);
  const S = C.SOL_SOCKET!;
  assert.equal(await m.getsockopt(fd, S, C.SO_REUSEADDR!), 0);
  await m.setsockopt(fd, S, C.SO_REUSEADDR!, 1);
  assert.equal(await m.getsockopt(fd, S, C.SO_REUSEADDR!), 1);
  await m.setsockopt(fd, S, C.SO_REUSEADDR!, false);
  assert.equal(await m.getsockopt(fd, S, C.SO_REUSEADDR!), 0);
  assert.equal(await m.getsockopt(fd, C.IPPROTO_TCP!, C.TCP_NODELAY!), 0);
  await m.setsockopt(fd, C.IPPROTO_TCP!, C.TCP_NODELAY!, true);
  assert.equal(await m.getsockopt(fd, C.IPPROTO_TCP!, C.TCP_NODELAY!), 1);
  // socket(7): the kernel doubles the value set (bookkeeping overhead).
  await m.setsockopt(fd, S, C.SO_RCVBUF!, 32768);
  assert.equal(await m.getsockopt(fd, S, C.SO_RCVBUF!), 65536);
  assert.equal(await m.getsockopt(fd, S, C.SO_TYPE!), SOCK_STREAM);
  assert.equal(await m.getsockopt(fd, S, C.SO_DOMAIN!), AF_INET);
  await assert.rejects(m.getsockopt(fd, S, 0x7fff), isUM('ENOPROTOOPT'));
  await assert.rejects(m.setsockopt(fd, S, 0x7fff, 1), isUM('ENOPROTOOPT'));
  await m.close(fd);
  // AF_UNIX sockets take no io_uring socket commands: the syscall answers.
  const [a, b] = UM.socketpair(AF_UNIX, SOCK_STREAM, 0);
  await m.setsockopt(a, S, C.SO_SNDBUF!, 16384);
  assert.equal(await m.getsockopt(a, S, C.SO_SNDBUF!), 32768);
  assert.equal(await m.getsockopt(b, S, C.SO_TYPE!), SOCK_STREAM);
  await m.close(a);
  await m.close(b);
  assertNoPendingOps(m);
});

test('socket() fds are close-on-exec; flags adds SOCK_NONBLOCK', async () => {
  const m = createMachine();
  const flagsOf = (fd: number): number => parseInt(/flags:\s+(\d+)/.exec(readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'))![1]!, 8);
  const a = await m.socket(AF_INET, SOCK_STREAM);
  const b = await m.socket(AF_INET, SOCK_DGRAM, 0, C.SOCK_NONBLOCK!);
  assert.ok(flagsOf(a) & C.O_CLOEXEC!);
  assert.equal(flagsOf(a) & C.O_NONBLOCK!, 0);
  assert.ok(flagsOf(b) & C.O_CLOEXEC!);
  assert.ok(flagsOf(b) & C.O_NONBLOCK!);
  await m.close(a);
  await m.close(b);
  assertNoPendingOps(m);
});

test('bind / listen fall back to the syscalls where the kernel lacks IORING_OP_BIND / LISTEN', async () => {
  const m = createMachine();
  const probe = (m as unknown as { _core: { probe: Uint8Array } })._core.probe;
  const saved = [probe[56]!, probe[57]!];
  probe[56] = 0; // as on a kernel < 6.11
  probe[57] = 0;
  try {
    const before = m.metrics().totalOps;
    const lfd = await m.tcpListen('127.0.0.1', 0);
    assert.equal(m.metrics().totalOps - before, 2, 'socket and setsockopt went through the ring, bind and listen did not');
    const port = localPort(lfd);
    await echoRoundTrip(m, lfd, () => m.tcpConnect('127.0.0.1', port));
    const l2 = await m.tcpListen('::1', 0);
    const p2 = localPort(l2);
    const fd = await m.socket(AF_INET6, SOCK_STREAM);
    await assert.rejects(m.bind(fd, '::1', p2), (e: unknown) => isUM('EADDRINUSE')(e) && (e as Error).message.includes(`[::1]:${p2}`));
    await assert.rejects(m.listen(100_000), isUM('EBADF'));
    await m.close(fd);
    await m.close(l2);
  } finally {
    probe[56] = saved[0]!;
    probe[57] = saved[1]!;
  }
  assertNoPendingOps(m);
});

// ---- Shutdown, resets, refusals -----------------------------------------------------------

test('shutdown(SHUT_WR) gives the peer EOF while the other direction still works; shutdownAsync too', async () => {
  const m = createMachine();
  const [a, b] = UM.socketpair(AF_UNIX, SOCK_STREAM, 0);
  await m.send(a, 'last words');
  await m.shutdown(a, C.SHUT_WR!);
  const buf = Buffer.alloc(64);
  assert.equal(await m.recv(b, buf), 10);
  assert.equal(await m.recv(b, buf), 0, 'EOF');
  assert.equal(await m.send(b, 'reply'), 5, 'b can still send');
  assert.equal(await m.recv(a, buf), 5);
  await assert.rejects(m.send(a, 'more'), isUM('EPIPE'));
  m.shutdownAsync(b, C.SHUT_WR!);
  assert.equal(await m.recv(a, buf), 0, 'EOF after shutdownAsync');
  await m.close(a);
  await m.close(b);
  assertNoPendingOps(m);
});

const fixtures = fileURLToPath(new URL('../../../test/fixtures/', import.meta.url));

function runFixture(name: string, args: string[]): Promise<{ code: number | null; signal: string | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [fixtures + name, ...args], { timeout: 30_000 }, (err, stdout, stderr) => {
      const e = err as { code?: number; signal?: string } | null;
      resolve({ code: e ? (e.code ?? null) : 0, signal: e?.signal ?? null, stdout, stderr });
    });
  });
}

test('a peer closing with unread data resets the connection: recv ECONNRESET, sends EPIPE, and no SIGPIPE', async () => {
  // In a child whose SIGPIPE disposition is the default (terminate): the
  // control (IORING_OP_WRITE on the reset socket) must die of SIGPIPE, which
  // shows a stray signal would be caught; send, sendv and sendto must not.
  const control = await runFixture('peer-reset.mjs', ['write']);
  assert.equal(control.signal, 'SIGPIPE', `the control died of SIGPIPE (${control.code} ${control.stderr})`);
  const r = await runFixture('peer-reset.mjs', ['send']);
  assert.equal(r.signal, null, r.stderr);
  assert.equal(r.code, 0, r.stderr);
  const [codes, alive] = r.stdout.trim().split('\n');
  assert.equal(alive, 'alive');
  const list = codes!.split(' ');
  assert.equal(list.length, 6);
  assert.equal(list[0], 'ECONNRESET', 'recv');
  for (const c of list.slice(1)) assert.ok(c === 'EPIPE' || c === 'ECONNRESET', `send: ${codes}`);
});

test('a reset connection in this process: recv and send reject with UMError', async () => {
  const m = createMachine();
  const lfd = await m.tcpListen('127.0.0.1', 0);
  const c = await m.tcpConnect('127.0.0.1', localPort(lfd));
  const s = await m.accept(lfd);
  await m.send(c, 'unread');
  assert.equal(await m.recv(s, Buffer.alloc(16), 16, C.MSG_PEEK!), 6);
  await m.close(s);
  await assert.rejects(m.recv(c, Buffer.alloc(16)), isUM('ECONNRESET'));
  await assert.rejects(m.send(c, 'x'), isUM('EPIPE', 'ECONNRESET'));
  await m.close(c);
  await m.close(lfd);
  assertNoPendingOps(m);
});

test('connect to a closed port rejects ECONNREFUSED and names the address; tcpConnect leaks no fd', async () => {
  const m = createMachine();
  const lfd = await m.tcpListen('127.0.0.1', 0);
  const port = localPort(lfd);
  await m.close(lfd); // nobody listens there now
  const fds = openFds();
  await assert.rejects(m.tcpConnect('127.0.0.1', port), (e: unknown) => {
    isUM('ECONNREFUSED')(e);
    const x = e as UMError & { address: string; port: number };
    assert.equal(x.syscall, 'connect');
    assert.equal(x.address, '127.0.0.1');
    assert.equal(x.port, port);
    return true;
  });
  assert.equal(openFds(), fds, 'the socket tcpConnect made was closed');
  const fd = await m.socket(AF_INET6, SOCK_STREAM);
  await assert.rejects(m.connect(fd, '::1', port), isUM('ECONNREFUSED'));
  await m.close(fd);
  assertNoPendingOps(m);
});

// ---- Many connections ---------------------------------------------------------------------

test('1,000 concurrent connections on one machine: one accepting fiber, a fiber per connection, 1,000 clients', async (t) => {
  const limits = readFileSync('/proc/self/limits', 'utf8');
  const nofile = Number(/Max open files\s+(\d+)/.exec(limits)?.[1] ?? 1024);
  const N = 1000;
  const need = 2 * N + openFds() + 64;
  if (nofile < need) {
    t.skip(`RLIMIT_NOFILE is ${nofile} (ulimit -n); ${N} connections need ${need} fds: raise it to run this test`);
    return;
  }
  const m = createMachine();
  const somaxconn = Number(readFileSync('/proc/sys/net/core/somaxconn', 'utf8'));
  const lfd = await m.tcpListen('127.0.0.1', 0, Math.min(N, somaxconn));
  const port = localPort(lfd);
  let served = 0;
  const handlers: ReturnType<UringMachine['spin']>[] = [];
  const server = m.spin(async () => {
    for (let i = 0; i < N; i++) {
      const fd = await m.accept(lfd);
      handlers.push(
        m.spin(async () => {
          const n = await echo(m, fd); // not `served += await ...`: that reads served before the await
          served += n;
        }),
      );
    }
  });
  let open = 0;
  let maxOpen = 0;
  const clients = Array.from({ length: N }, (_, i) =>
    m.spin(async () => {
      const fd = await m.tcpConnect('127.0.0.1', port);
      maxOpen = Math.max(maxOpen, ++open);
      const msg = `client ${i} says hello`;
      await m.send(fd, msg);
      // Hold every connection open until all are up: they are concurrent.
      const back = await recvAll(m, fd, Buffer.byteLength(msg));
      assert.equal(back.toString(), msg);
      await m.shutdown(fd, C.SHUT_WR!);
      assert.equal(await m.recv(fd, Buffer.alloc(8)), 0);
      await m.close(fd);
      open--;
      return back.length;
    }),
  );
  const sizes = (await m.join(clients)) as number[];
  await m.join(server);
  await m.join(handlers);
  assert.equal(sizes.length, N);
  assert.equal(served, sizes.reduce((a, b) => a + b, 0));
  assert.ok(maxOpen > 1, 'connections overlapped');
  await m.close(lfd);
  assertNoPendingOps(m);
});

// ---- Cancellation -------------------------------------------------------------------------

test('accept cancelled by m.timeout rejects TimeoutError and leaks no fd; recv and connect are cancellable too', async () => {
  const m = createMachine();
  const lfd = await m.tcpListen('127.0.0.1', 0);
  const port = localPort(lfd);
  const fds = openFds();
  await assert.rejects(m.timeout(5, () => m.accept(lfd)), TimeoutError);
  assert.equal(openFds(), fds);
  // The listener still works after the cancelled accept.
  const c = await m.tcpConnect('127.0.0.1', port);
  const s = await m.accept(lfd);
  // A recv waiting for data, terminated.
  const f = m.spin(() => m.recv(s, Buffer.alloc(8)));
  await m.snooze();
  await m.snooze();
  m.terminate(f);
  assert.equal(await m.join(f), undefined);
  // A recv cancelled by timeout; the buffer stays pinned until the final CQE (opsPending 0 after).
  await assert.rejects(m.timeout(1, () => m.recvfrom(s, Buffer.alloc(8))), TimeoutError);
  // The connection is intact: data sent now arrives.
  await m.send(c, 'ok');
  assert.equal((await recvAll(m, s, 2)).toString(), 'ok');
  await m.close(c);
  await m.close(s);
  await m.close(lfd);
  assert.equal(openFds(), fds - 1, 'only the listener is gone');
  assertNoPendingOps(m);
});

test('a connect pending on a full backlog is cancelled by m.timeout; tcpConnect closes its socket', async () => {
  const m = createMachine();
  const lfd = await m.tcpListen('127.0.0.1', 0, 0); // backlog 0: one queued connection fills it
  const port = localPort(lfd);
  const fds = openFds();
  const connected: number[] = [];
  let timedOut = 0;
  // Once the accept queue is full, the listener drops SYNs: the next connect
  // waits for a SYN retransmit (a second away) and the timeout cancels it.
  for (let i = 0; i < 8 && timedOut === 0; i++) {
    try {
      connected.push(await m.timeout(100, () => m.tcpConnect('127.0.0.1', port)));
    } catch (e) {
      assert.ok(e instanceof TimeoutError, String(e));
      timedOut++;
    }
  }
  assert.equal(timedOut, 1, 'a connect was left pending by the full backlog');
  assert.ok(connected.length >= 1);
  assert.equal(openFds(), fds + connected.length, 'the cancelled connect left no socket behind');
  for (const fd of connected) await m.close(fd);
  await m.close(lfd);
  assertNoPendingOps(m);
});

test('an accept that took a connection before its cancel took effect returns the fd (completion wins)', async () => {
  const m = createMachine();
  const lfd = await m.tcpListen('127.0.0.1', 0);
  const c = await m.tcpConnect('127.0.0.1', localPort(lfd)); // waiting in the backlog now
  const raced = m.metrics().cancelsRaced;
  // The accept SQE and its cancel go to the kernel in one io_uring_enter:
  // the accept completes at once (a connection is waiting) and the cancel
  // finds nothing. The fd is the call's result, the abort reason is raised
  // at the next op of the scope.
  const ac = new AbortController();
  const stop = new Error('stop');
  let next: unknown;
  const fd = await m.cancellable(ac.signal, async () => {
    const p = m.accept(lfd);
    ac.abort(stop);
    const a = await p;
    next = await m.sleep(1e6).catch((e: unknown) => e);
    return a;
  });
  assert.ok(fd >= 0);
  assert.equal(next, stop, 'the abort is raised at the next op');
  assert.equal(m.metrics().cancelsRaced, raced + 1);
  // The connection works.
  await m.send(fd, 'hi');
  const b = Buffer.alloc(8);
  assert.equal(await m.recv(c, b), 2);
  await m.close(fd);
  await m.close(c);
  await m.close(lfd);
  assertNoPendingOps(m);
});

test('an accept completing while m.close() cancels it: the new fd is closed', async () => {
  const m = createMachine();
  const lfd = await m.tcpListen('127.0.0.1', 0);
  const c = await m.tcpConnect('127.0.0.1', localPort(lfd)); // waiting in the backlog now
  const p = m.accept(lfd);
  m.close(); // the accept SQE and the cancel-all go in together; the accept completes first
  await assert.rejects(p, { code: 'ERR_UM_CLOSED' });
  // The connection was accepted, then closed by the machine: the client sees
  // EOF (a leaked fd would keep it waiting: the bound only ends the test).
  const m2 = createMachine();
  assert.equal(await m2.timeout(10_000, () => m2.recv(c, Buffer.alloc(8))), 0);
  await m2.close(c);
  await m2.close(lfd);
  assertNoPendingOps(m2);
});

// ---- Errors ----------------------------------------------------------------------------

test('bad fds: EBADF for a closed fd, ENOTSOCK for a pipe', async () => {
  const m = createMachine();
  const [r, w] = UM.pipe();
  const buf = Buffer.alloc(8);
  const bad = 100_000;
  const calls = (fd: number): (() => Promise<unknown>)[] => [
    () => m.bind(fd, '127.0.0.1', 0),
    () => m.listen(fd),
    () => m.connect(fd, '127.0.0.1', 9),
    () => m.accept(fd),
    () => m.send(fd, 'x'),
    () => m.sendv(fd, ['x', 'y']),
    () => m.sendto(fd, 'x', '127.0.0.1', 9),
    () => m.recv(fd, buf),
    () => m.recvfrom(fd, buf),
    () => m.shutdown(fd, C.SHUT_RDWR!),
    () => m.getsockopt(fd, C.SOL_SOCKET!, C.SO_TYPE!),
    () => m.getsockopt(fd, C.IPPROTO_TCP!, C.TCP_NODELAY!),
    () => m.setsockopt(fd, C.SOL_SOCKET!, C.SO_REUSEADDR!, 1),
  ];
  for (const [i, call] of calls(bad).entries()) await assert.rejects(call(), isUM('EBADF'), `call ${i} on a closed fd`);
  for (const [i, call] of calls(r).entries()) await assert.rejects(call(), isUM('ENOTSOCK'), `call ${i} on a pipe`);
  await assert.rejects(m.socket(12345, SOCK_STREAM), isUM('EAFNOSUPPORT'));
  await m.close(r);
  await m.close(w);
  assertNoPendingOps(m);
});

test('wrong argument types and bad addresses reject before anything is submitted', async () => {
  const m = createMachine();
  const fd = await m.socket(AF_INET, SOCK_DGRAM);
  const buf = Buffer.alloc(8);
  const before = m.metrics().totalOps;
  const cases: [() => unknown, string][] = [
    [() => m.socket('2' as never, SOCK_STREAM), 'ERR_INVALID_ARG_TYPE'],
    [() => m.socket(AF_INET, null as never), 'ERR_INVALID_ARG_TYPE'],
    [() => m.socket(AF_INET, SOCK_STREAM, 1.5), 'ERR_OUT_OF_RANGE'],
    [() => m.socket(AF_INET, SOCK_STREAM, 0, 'x' as never), 'ERR_INVALID_ARG_TYPE'],
    [() => m.bind('3' as never, '127.0.0.1', 0), 'ERR_INVALID_ARG_TYPE'],
    [() => m.bind(-1, '127.0.0.1', 0), 'ERR_OUT_OF_RANGE'],
    [() => m.bind(fd, 42 as never, 0), 'ERR_INVALID_ARG_TYPE'],
    [() => m.bind(fd, '127.0.0.1', '80' as never), 'ERR_INVALID_ARG_TYPE'],
    [() => m.bind(fd, '127.0.0.1'), 'ERR_INVALID_ARG_TYPE'],
    [() => m.bind(fd, '127.0.0.1', 65536), 'ERR_OUT_OF_RANGE'],
    [() => m.bind(fd, '127.0.0.1', -1), 'ERR_OUT_OF_RANGE'],
    [() => m.bind(fd, 'localhost', 80), 'ERR_INVALID_ADDRESS'],
    [() => m.bind(fd, '256.0.0.1', 80), 'ERR_INVALID_ADDRESS'],
    [() => m.bind(fd, '::1::2', 80), 'ERR_INVALID_ADDRESS'],
    [() => m.bind(fd, 'fe80::1%eth0', 80), 'ERR_INVALID_ADDRESS'],
    [() => m.bind(fd, '', 80), 'ERR_INVALID_ADDRESS'],
    [() => m.bind(fd, '/tmp/x.sock', 80), 'ERR_INVALID_ADDRESS'],
    [() => m.bind(fd, `/tmp/${'x'.repeat(200)}`), 'ERR_OUT_OF_RANGE'],
    [() => m.bind(fd, '/tmp/a\0b'), 'ERR_INVALID_ARG_TYPE'],
    [() => m.listen(fd, '5' as never), 'ERR_INVALID_ARG_TYPE'],
    [() => m.listen(fd, -1), 'ERR_OUT_OF_RANGE'],
    [() => m.connect(fd, '127.0.0.1', 1e6), 'ERR_OUT_OF_RANGE'],
    [() => m.connect(undefined as never, '127.0.0.1', 1), 'ERR_INVALID_ARG_TYPE'],
    [() => m.connect(fd, 'not a host', 80), 'ERR_INVALID_ADDRESS'], // host names are looked up (issue 12); this is none
    [() => m.connect(fd, '127.0.0.1', 80, { timeout: -1 }), 'ERR_OUT_OF_RANGE'],
    [() => m.accept('0' as never), 'ERR_INVALID_ARG_TYPE'],
    [() => m.accept(1.5), 'ERR_OUT_OF_RANGE'],
    [() => m.send(fd, 42 as never), 'ERR_INVALID_ARG_TYPE'],
    [() => m.send(fd, 'abc', 4), 'ERR_OUT_OF_RANGE'],
    [() => m.send(fd, 'abc', 1, 'x' as never), 'ERR_INVALID_ARG_TYPE'],
    [() => m.sendv(fd, 'abc' as never), 'ERR_INVALID_ARG_TYPE'],
    [() => m.sendv(fd, ['a', 1] as never), 'ERR_INVALID_ARG_TYPE'],
    [() => m.sendto(fd, {} as never, '127.0.0.1', 9), 'ERR_INVALID_ARG_TYPE'],
    [() => m.sendto(fd, 'x', '127.0.0.1', 9, null as never), 'ERR_INVALID_ARG_TYPE'],
    [() => m.sendto(fd, 'x', '1.2.3', 9), 'ERR_INVALID_ADDRESS'],
    [() => m.recv(fd, 'buf' as never), 'ERR_INVALID_ARG_TYPE'],
    [() => m.recv(fd, buf, 9), 'ERR_OUT_OF_RANGE'],
    [() => m.recv(fd, buf, -1), 'ERR_OUT_OF_RANGE'],
    [() => m.recv(fd, buf, 8, '0' as never), 'ERR_INVALID_ARG_TYPE'],
    [() => m.recvfrom(fd, [] as never), 'ERR_INVALID_ARG_TYPE'],
    [() => m.recvfrom(fd, buf, 100), 'ERR_OUT_OF_RANGE'],
    [() => m.shutdown(fd, 3), 'ERR_OUT_OF_RANGE'],
    [() => m.shutdown(fd, 'rd' as never), 'ERR_INVALID_ARG_TYPE'],
    [() => m.getsockopt(fd, '1' as never, 2), 'ERR_INVALID_ARG_TYPE'],
    [() => m.getsockopt(fd, 1, undefined as never), 'ERR_INVALID_ARG_TYPE'],
    [() => m.setsockopt(fd, 1, 2, '1' as never), 'ERR_INVALID_ARG_TYPE'],
    [() => m.setsockopt(fd, 1, 2, 2 ** 40), 'ERR_OUT_OF_RANGE'],
    [() => m.tcpListen(1 as never, 0), 'ERR_INVALID_ARG_TYPE'],
    [() => m.tcpListen('127.0.0.1', 0, 'x' as never), 'ERR_INVALID_ARG_TYPE'],
    [() => m.tcpListen('/tmp/x.sock', undefined as never), 'ERR_INVALID_ADDRESS'],
    [() => m.tcpConnect('127.0.0.1', 70000), 'ERR_OUT_OF_RANGE'],
    [() => m.tcpConnect('no pe', 1), 'ERR_INVALID_ADDRESS'], // not a host name either (names are looked up)
  ];
  for (const [i, [call, code]] of cases.entries()) {
    let p: unknown;
    assert.doesNotThrow(() => {
      p = call();
    }, `case ${i} threw synchronously`);
    await assert.rejects(p as Promise<unknown>, (e: unknown) => {
      assert.equal((e as { code?: string }).code, code, `case ${i}: ${(e as Error).message}`);
      assert.ok(e instanceof TypeError || e instanceof RangeError, `case ${i} is a TypeError/RangeError`);
      return true;
    });
  }
  // The fire-and-forget form throws synchronously instead.
  assert.throws(() => m.shutdownAsync(fd, 7), { code: 'ERR_OUT_OF_RANGE' });
  assert.throws(() => m.shutdownAsync('1' as never, 0), { code: 'ERR_INVALID_ARG_TYPE' });
  assert.equal(m.metrics().totalOps, before, 'nothing was submitted');
  await m.close(fd);
  assertNoPendingOps(m);
});

test('socket ops after close() reject with ERR_UM_CLOSED', async () => {
  const m = createMachine();
  m.close();
  await assert.rejects(m.socket(AF_INET, SOCK_STREAM), { code: 'ERR_UM_CLOSED' });
  await assert.rejects(m.tcpConnect('127.0.0.1', 9), { code: 'ERR_UM_CLOSED' });
  await assert.rejects(m.recv(0, Buffer.alloc(1)), { code: 'ERR_UM_CLOSED' });
  assert.equal(m.metrics().opsPending, 0);
});

test('the sockaddr and msghdr layouts net-ops encodes are the Linux ABI (64-bit)', async () => {
  const root = new URL('../../../', import.meta.url);
  const { native } = await import(new URL('dist/native.js', root).href);
  const L = native.layout as Record<string, number>;
  // <netinet/in.h>, <sys/un.h>, <sys/socket.h>: fixed by the kernel ABI.
  const expected: Record<string, number> = {
    sockaddrIn: 16, sin_port: 2, sin_addr: 4,
    sockaddrIn6: 28, sin6_port: 2, sin6_flowinfo: 4, sin6_addr: 8, sin6_scope_id: 24,
    sockaddrUn: 110, sun_path: 2, sockaddrStorage: 128, sockaddr_family: 0,
    msghdrSize: 56, msg_name: 0, msg_namelen: 8, msg_iov: 16, msg_iovlen: 24,
    msg_control: 32, msg_controllen: 40, msg_flags: 48, iovecSize: 16,
  };
  for (const [k, v] of Object.entries(expected)) assert.equal(L[k], v, k);
  for (const name of ['AF_INET', 'AF_INET6', 'AF_UNIX', 'SOCK_STREAM', 'SOCK_DGRAM', 'SOCK_NONBLOCK', 'SOCK_CLOEXEC',
    'SOL_SOCKET', 'SO_REUSEADDR', 'SO_RCVBUF', 'IPPROTO_TCP', 'IPPROTO_IPV6', 'TCP_NODELAY', 'IPV6_V6ONLY',
    'MSG_NOSIGNAL', 'MSG_PEEK', 'MSG_WAITALL', 'SHUT_RD', 'SHUT_WR', 'SHUT_RDWR']) {
    assert.equal(typeof C[name as keyof typeof C], 'number', name);
  }
});
