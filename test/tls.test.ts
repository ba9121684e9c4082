// TLS over the ring (issue 11): m.tls, m.sslRead, m.sslWrite, t.close,
// m.stream(t), the adapters over a connection, certificate verification,
// cancellation, renegotiation, peer drops, and interop with node:tls.
// Every test ends with no op pending and no live OpenSSL connection.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { pipeline } from 'node:stream/promises';
import { Writable } from 'node:stream';
import test from 'node:test';
import tlsNode from 'node:tls';

import { constants as C, createSecureContext, TimeoutError, TLSError, tlsLiveObjects as liveObjects, UMError, type TlsConnection, type UMSocket, type UringMachine } from 'uringmachine';

import { assertNoPendingOps, createMachine, fdTable, gc, leakedFds, tcpPair } from './helpers.js';
import { certs, pattern } from './tls-helpers.js';

const BIG = Number(process.env.UM_TLS_BIG_MIB ?? 64) << 20;

/** A machine; finish() checks no op pending, no connection alive, no fd leaked. */
function setup(): { m: UringMachine; finish: () => Promise<void> } {
  const fds = fdTable();
  const conns = liveObjects().connections;
  const m = createMachine();
  return {
    m,
    finish: async () => {
      assert.equal(liveObjects().connections, conns, 'OpenSSL connections alive');
      assertNoPendingOps(m);
      assert.deepEqual(leakedFds(fds), [], 'fds leaked');
    },
  };
}

/** Our server and our client over a loopback TCP pair. */
async function ourPair(m: UringMachine, server: object = {}, client: object = {}): Promise<[TlsConnection, TlsConnection]> {
  const c = certs();
  const [a, b, l] = await tcpPair(m);
  await m.close(l);
  return Promise.all([
    m.tls(a, { isServer: true, cert: c.cert, key: c.key, ...server }),
    m.tls(b, { servername: 'localhost', ca: c.ca, ...client }),
  ]);
}

async function readAll(m: UringMachine, t: TlsConnection): Promise<Buffer> {
  const parts: Buffer[] = [];
  const buf = Buffer.allocUnsafe(65536);
  for (;;) {
    const n = await m.sslRead(t, buf);
    if (n === 0) return Buffer.concat(parts);
    parts.push(Buffer.from(buf.subarray(0, n)));
  }
}

function sha(b: Uint8Array): string {
  return createHash('sha256').update(b).digest('hex');
}

async function nodeServer(opts: tlsNode.TlsOptions, onConn: (s: tlsNode.TLSSocket) => void): Promise<{ port: number; close: () => Promise<void> }> {
  const srv = tlsNode.createServer(opts, onConn);
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  return { port: (srv.address() as { port: number }).port, close: () => new Promise<void>((r) => srv.close(() => r())) };
}

// ---- Handshake, read, write, close ----------------------------------------------------

for (const version of ['TLSv1.3', 'TLSv1.2'] as const) {
  test(`${version}: our client and our server exchange data both ways, close_notify reads as 0`, async () => {
    const { m, finish } = setup();
    const [s, c] = await ourPair(m, { alpn: ['h2', 'http/1.1'], maxVersion: version }, { alpn: ['http/1.1'] });
    assert.equal(s.protocol, version);
    assert.equal(c.protocol, version);
    assert.equal(s.servername, 'localhost');
    assert.equal(s.alpnProtocol, 'http/1.1');
    assert.equal(c.alpnProtocol, 'http/1.1');
    assert.equal(c.authorized, true);
    assert.equal(c.authorizationError, null);
    assert.equal(await m.sslWrite(c, 'hello server'), 12);
    const buf = Buffer.alloc(64);
    assert.equal(buf.toString('utf8', 0, await m.sslRead(s, buf)), 'hello server');
    await m.sslWrite(s, Buffer.from('hello client, a longer answer'), 12);
    assert.equal(buf.toString('utf8', 0, await m.sslRead(c, buf)), 'hello client');
    await c.close();
    assert.equal(c.closed, true);
    assert.equal(await m.sslRead(s, buf), 0, 'close_notify is EOF');
    await s.close();
    await assert.rejects(m.sslRead(c, buf), { name: 'TLSError', code: 'ERR_TLS_CLOSED' });
    await finish();
  });
}

test('a reader and a writer use one connection at once (full duplex)', async () => {
  const { m, finish } = setup();
  const [s, c] = await ourPair(m);
  const data = pattern(3 << 20, 7);
  // Both sides write 3 MiB while reading the other's: with one fiber per
  // direction neither blocks the other.
  const run = async (t: TlsConnection): Promise<Buffer> => {
    const w = m.spin(async () => {
      await m.sslWrite(t, data);
      return 0;
    });
    const parts: Buffer[] = [];
    const buf = Buffer.allocUnsafe(50000);
    let got = 0;
    while (got < data.length) {
      const n = await m.sslRead(t, buf);
      assert.ok(n > 0);
      parts.push(Buffer.from(buf.subarray(0, n)));
      got += n;
    }
    await m.join(w);
    return Buffer.concat(parts);
  };
  const [a, b] = await Promise.all([run(s), run(c)]);
  assert.equal(sha(a), sha(data));
  assert.equal(sha(b), sha(data));
  await Promise.all([s.close(), c.close()]);
  await finish();
});

test('a SecureContext is shared by many connections', async () => {
  const { m, finish } = setup();
  const c = certs();
  const ctx = createSecureContext({ isServer: true, cert: c.cert, key: c.key });
  const cctx = createSecureContext({ ca: c.ca });
  const before = liveObjects().contexts;
  for (let i = 0; i < 3; i++) {
    const [a, b, l] = await tcpPair(m);
    await m.close(l);
    const [s, t] = await Promise.all([m.tls(a, { secureContext: ctx }), m.tls(b, { secureContext: cctx, servername: 'localhost' })]);
    await m.sslWrite(t, `n${i}`);
    const buf = Buffer.alloc(8);
    assert.equal(buf.toString('utf8', 0, await m.sslRead(s, buf)), `n${i}`);
    await Promise.all([s.close(), t.close()]);
  }
  assert.ok(liveObjects().contexts <= before, 'no context per connection');
  await finish();
});

// ---- Interop with node:tls ------------------------------------------------------------------

test('our client against a node:tls server: SNI and ALPN reach it, echo', async () => {
  const { m, finish } = setup();
  const c = certs();
  let seen: { servername: unknown; alpn: unknown } = { servername: undefined, alpn: null };
  const srv = await nodeServer({ cert: c.cert, key: c.key, ALPNProtocols: ['h2', 'http/1.1'] }, (sock) => {
    seen = { servername: sock.servername, alpn: sock.alpnProtocol };
    sock.on('data', (d) => sock.write(d));
    sock.on('end', () => sock.end());
    sock.on('error', () => {});
  });
  const fd = await m.tcpConnect('127.0.0.1', srv.port);
  const t = await m.tls(fd, { servername: 'localhost', ca: c.ca, alpn: ['http/1.1', 'h2'] });
  assert.equal(t.alpnProtocol, 'h2', 'the server picks by its own preference');
  await m.sslWrite(t, 'ping');
  const buf = Buffer.alloc(16);
  assert.equal(buf.toString('utf8', 0, await m.sslRead(t, buf)), 'ping');
  assert.deepEqual(seen, { servername: 'localhost', alpn: 'h2' });
  await t.close();
  await srv.close();
  await finish();
});

test('a node:tls client against our server: SNI and ALPN are visible, echo', async () => {
  const { m, finish } = setup();
  const c = certs();
  const l = await m.tcpListen('127.0.0.1', 0);
  const { localPort } = await import('./helpers.js');
  const port = await localPort(m, l);
  const server = m.spin(async () => {
    const fd = await m.accept(l);
    const t = await m.tls(fd, { isServer: true, cert: c.cert, key: c.key, alpn: ['http/1.1'] });
    const buf = Buffer.alloc(64);
    const n = await m.sslRead(t, buf);
    await m.sslWrite(t, `echo:${buf.toString('utf8', 0, n)}`);
    const info = { servername: t.servername, alpn: t.alpnProtocol };
    assert.equal(await m.sslRead(t, buf), 0);
    await t.close();
    return info;
  });
  const sock = tlsNode.connect({ port, host: '127.0.0.1', servername: 'localhost', ca: c.ca, ALPNProtocols: ['h2', 'http/1.1'] });
  await new Promise<void>((r, j) => sock.once('secureConnect', r).once('error', j));
  assert.equal(sock.authorized, true);
  assert.equal(sock.alpnProtocol, 'http/1.1');
  sock.write('hi');
  const got = await new Promise<string>((r) => sock.once('data', (d: Buffer) => r(d.toString())));
  assert.equal(got, 'echo:hi');
  const sockClosed = new Promise((r) => sock.once('close', r)); // may come before join() returns
  sock.end();
  const info = (await m.join(server)) as unknown as { servername: string; alpn: string };
  assert.deepEqual(info, { servername: 'localhost', alpn: 'http/1.1' });
  await sockClosed;
  await m.close(l);
  await finish();
});

test(`${BIG >> 20} MiB byte-exact both ways with a node:tls peer`, async () => {
  const { m, finish } = setup();
  const c = certs();
  const data = pattern(BIG, 3);
  const want = sha(data);
  // The node server hashes what it receives, then sends the same bytes back.
  const srv = await nodeServer({ cert: c.cert, key: c.key }, (sock) => {
    const h = createHash('sha256');
    let n = 0;
    sock.on('data', (d: Buffer) => {
      h.update(d);
      n += d.length;
      if (n === data.length) {
        sock.write(h.digest('hex') + '\n');
        sock.end(data);
      }
    });
    sock.on('error', () => {});
  });
  const fd = await m.tcpConnect('127.0.0.1', srv.port);
  const t = await m.tls(fd, { servername: 'localhost', ca: c.ca });
  const reader = m.spin(() => readAll(m, t));
  assert.equal(await m.sslWrite(t, data), data.length);
  const back = (await m.join(reader)) as unknown as Buffer;
  assert.equal(back.subarray(0, 65).toString(), want + '\n', 'node received every byte');
  assert.equal(back.length, 65 + data.length);
  assert.equal(sha(back.subarray(65)), want, 'we received every byte');
  await t.close();
  await srv.close();
  await finish();
});

test('TLS 1.2 with a node:tls server (maxVersion)', async () => {
  const { m, finish } = setup();
  const c = certs();
  const srv = await nodeServer({ cert: c.cert, key: c.key, maxVersion: 'TLSv1.2' }, (sock) => {
    sock.end('v12');
    sock.on('error', () => {});
  });
  const fd = await m.tcpConnect('127.0.0.1', srv.port);
  const t = await m.tls(fd, { servername: 'localhost', ca: c.ca });
  assert.equal(t.protocol, 'TLSv1.2');
  assert.equal((await readAll(m, t)).toString(), 'v12');
  await t.close();
  await srv.close();
  await finish();
});

// ---- Certificate verification ---------------------------------------------------------------

const badCerts = [
  { what: 'a self-signed certificate', cert: () => certs().selfSignedCert, key: () => certs().selfSignedKey, code: 'DEPTH_ZERO_SELF_SIGNED_CERT', text: /self[- ]signed/ },
  { what: 'an expired certificate', cert: () => certs().expiredCert, key: () => certs().expiredKey, code: 'CERT_HAS_EXPIRED', text: /expired/ },
  { what: 'a certificate for another host', cert: () => certs().wrongHostCert, key: () => certs().wrongHostKey, code: 'HOSTNAME_MISMATCH', text: /hostname mismatch/ },
] as const;

for (const bad of badCerts) {
  test(`${bad.what} is rejected with ${bad.code}; rejectUnauthorized: false accepts it and says why`, async () => {
    const { m, finish } = setup();
    const c = certs();
    for (const reject of [true, false]) {
      const [a, b, l] = await tcpPair(m);
      await m.close(l);
      const srv = m.spin(async () => {
        try {
          const s = await m.tls(a, { isServer: true, cert: bad.cert(), key: bad.key() });
          await m.sslWrite(s, 'ok');
          await s.close();
          return 'served';
        } catch (e) {
          await m.close(a);
          return (e as { code: string }).code;
        }
      });
      if (reject) {
        const e = await m.tls(b, { servername: 'localhost', ca: c.ca }).catch((x: unknown) => x);
        assert.ok(e instanceof TLSError, String(e));
        assert.equal(e.code, bad.code);
        assert.match(e.message, bad.text);
        assert.match(e.verifyError!, bad.text);
        await m.close(b);
        // The server learns it from our alert.
        const sr = await m.join(srv);
        assert.match(String(sr), /^ERR_SSL_/);
      } else {
        const t = await m.tls(b, { servername: 'localhost', ca: c.ca, rejectUnauthorized: false });
        assert.equal(t.authorized, false);
        assert.equal(t.authorizationError, bad.code);
        assert.equal((await readAll(m, t)).toString(), 'ok');
        await t.close();
        assert.equal(await m.join(srv), 'served');
      }
    }
    await finish();
  });
}

test('a certificate from an untrusted CA is rejected; so is our client against node:tls with the wrong ca', async () => {
  const { m, finish } = setup();
  const c = certs();
  const srv = await nodeServer({ cert: c.cert, key: c.key }, (sock) => sock.on('error', () => {}));
  const fd = await m.tcpConnect('127.0.0.1', srv.port);
  const e = await m.tls(fd, { servername: 'localhost', ca: c.otherCa }).catch((x: unknown) => x);
  assert.ok(e instanceof TLSError);
  assert.match(e.code, /^UNABLE_TO_(GET_ISSUER_CERT_LOCALLY|VERIFY_LEAF_SIGNATURE)$/);
  assert.match(e.message, /certificate verification failed: unable to/);
  await m.close(fd);
  // Without ca, Node's bundled roots are used: our test CA is not among them.
  const fd2 = await m.tcpConnect('127.0.0.1', srv.port);
  await assert.rejects(m.tls(fd2, { servername: 'localhost' }), { name: 'TLSError', code: /^UNABLE_TO_/ });
  await m.close(fd2);
  await srv.close();
  await finish();
});

test('the identity check also works for an IP address (IP SAN), without SNI', async () => {
  const { m, finish } = setup();
  const c = certs();
  let sni: unknown = 'unset';
  const srv = await nodeServer({ cert: c.cert, key: c.key }, (sock) => {
    sni = sock.servername;
    sock.end('ip');
    sock.on('error', () => {});
  });
  const fd = await m.tcpConnect('127.0.0.1', srv.port);
  const t = await m.tls(fd, { servername: '127.0.0.1', ca: c.ca });
  assert.equal(t.authorized, true);
  assert.equal((await readAll(m, t)).toString(), 'ip');
  assert.equal(sni, false, 'no SNI for an IP literal');
  await t.close();
  const fd2 = await m.tcpConnect('127.0.0.1', srv.port);
  await assert.rejects(m.tls(fd2, { servername: '127.0.0.2', ca: c.ca }), { code: 'IP_ADDRESS_MISMATCH' });
  await m.close(fd2);
  await srv.close();
  await finish();
});

// ---- Bad arguments ------------------------------------------------------------------------------

test('bad arguments reject before anything is submitted', async () => {
  const { m, finish } = setup();
  const ops = m.metrics().totalOps;
  await assert.rejects(m.tls('3' as never), { code: 'ERR_INVALID_ARG_TYPE' });
  await assert.rejects(m.tls(3, null as never), { code: 'ERR_INVALID_ARG_TYPE' });
  await assert.rejects(m.tls(3, { isServer: true }), { code: 'ERR_INVALID_ARG_TYPE' });
  await assert.rejects(m.tls(3, { alpn: 'h2' as never }), { code: 'ERR_INVALID_ARG_TYPE' });
  await assert.rejects(m.tls(3, { alpn: [''] }), { code: 'ERR_OUT_OF_RANGE' });
  await assert.rejects(m.tls(3, { minVersion: 'TLSv1.0' as never }), { code: 'ERR_INVALID_ARG_VALUE' });
  await assert.rejects(m.tls(3, { secureContext: {} as never }), { code: 'ERR_INVALID_ARG_TYPE' });
  await assert.rejects(m.tls(3, { isServer: true, cert: 'not a pem', key: certs().key }), { name: 'TLSError', code: 'ERR_TLS_INVALID_CERT' });
  await assert.rejects(m.tls(3, { isServer: true, cert: certs().cert, key: certs().wrongHostKey }), { name: 'TLSError', code: 'ERR_TLS_INVALID_KEY' });
  await assert.rejects(m.sslRead({} as never, Buffer.alloc(1)), { code: 'ERR_INVALID_ARG_TYPE' });
  await assert.rejects(m.sslWrite(null as never, 'x'), { code: 'ERR_INVALID_ARG_TYPE' });
  const [s, c] = await ourPair(m);
  await assert.rejects(m.sslRead(s, Buffer.alloc(4), 5), { code: 'ERR_OUT_OF_RANGE' });
  await assert.rejects(m.sslWrite(s, 'abc', 4), { code: 'ERR_OUT_OF_RANGE' });
  assert.equal(await m.sslWrite(s, ''), 0);
  assert.ok(m.metrics().totalOps > ops);
  await Promise.all([s.close(), c.close()]);
  await finish();
});

// ---- Cancellation -------------------------------------------------------------------------------

test('timeout interrupts an sslRead; data sent later is read whole', async () => {
  const { m, finish } = setup();
  const [s, c] = await ourPair(m);
  const buf = Buffer.alloc(64);
  await assert.rejects(m.timeout(20, () => m.sslRead(c, buf)), TimeoutError);
  assert.equal(m.metrics().opsPending, 0, 'the recv was cancelled and reaped');
  await m.sslWrite(s, 'after the timeout');
  assert.equal(buf.toString('utf8', 0, await m.sslRead(c, buf)), 'after the timeout');
  await Promise.all([s.close(), c.close()]);
  await finish();
});

test('sslRead cancelled again and again while records arrive loses no decrypted byte', async () => {
  const { m, finish } = setup();
  const [s, c] = await ourPair(m);
  const chunks = 300;
  const writer = m.spin(async () => {
    for (let i = 0; i < chunks; i++) {
      await m.sslWrite(s, pattern(997, i + 1));
      if (i % 3 === 0) await m.sleep(1);
    }
    await s.close();
  });
  const parts: Buffer[] = [];
  const buf = Buffer.alloc(1500);
  let timeouts = 0;
  for (;;) {
    let n: number;
    try {
      // 0 or 1 ms: the deadline often falls right as a record comes in.
      n = await m.timeout(timeouts % 2, () => m.sslRead(c, buf));
    } catch (e) {
      assert.ok(e instanceof TimeoutError, String(e));
      timeouts++;
      continue;
    }
    if (n === 0) break;
    parts.push(Buffer.from(buf.subarray(0, n)));
  }
  await m.join(writer);
  const want = Buffer.concat(Array.from({ length: chunks }, (_, i) => pattern(997, i + 1)));
  assert.ok(timeouts > 0, 'some reads were cancelled');
  assert.equal(sha(Buffer.concat(parts)), sha(want));
  await c.close();
  await finish();
});

test('terminate and AbortSignal interrupt sslRead and sslWrite; the connection still closes cleanly', async () => {
  const { m, finish } = setup();
  const [s, c] = await ourPair(m);
  let caught: unknown = null;
  const f = m.spin(async () => {
    try {
      await m.sslRead(c, Buffer.alloc(10));
    } catch (e) {
      caught = e;
      throw e;
    }
  });
  await m.sleep(5);
  m.terminate(f);
  await m.join(f);
  assert.equal((caught as { code: string }).code, 'UM_TERMINATE');
  // A writer blocked on a peer that does not read: abort it.
  const ac = new AbortController();
  const big = pattern(8 << 20);
  const w = m.spin(() => m.cancellable(ac.signal, () => m.sslWrite(s, big)));
  await m.sleep(20);
  ac.abort(new Error('stop'));
  const res: unknown = await m.join(w).then(
    (v) => v,
    (e: unknown) => e,
  );
  // Either the abort came before any byte was taken (rejects), or part of
  // the data was committed: then the count is short.
  if (typeof res === 'number') assert.ok(res > 0 && res < big.length, `short count ${res}`);
  else assert.equal((res as Error).message, 'stop');
  await Promise.all([s.close(), c.close()]);
  await finish();
});

test('a handshake with a peer that never answers is cancelled by timeout; nothing leaks', async () => {
  const { m, finish } = setup();
  const [a, b, l] = await tcpPair(m);
  await m.close(l);
  await assert.rejects(m.timeout(30, () => m.tls(b, { servername: 'localhost', ca: certs().ca })), TimeoutError);
  await m.close(a);
  await m.close(b);
  await finish();
});

test('close() while another fiber is parked in sslRead: the read rejects with ERR_TLS_CLOSED', async () => {
  const { m, finish } = setup();
  const [s, c] = await ourPair(m);
  const r = m.spin(() => m.sslRead(c, Buffer.alloc(10)).catch((e: { code: string }) => e.code));
  await m.sleep(5);
  await c.close();
  assert.equal(await m.join(r), 'ERR_TLS_CLOSED');
  assert.equal(await m.sslRead(s, Buffer.alloc(10)), 0);
  await s.close();
  await finish();
});

// ---- Renegotiation, peer drops ---------------------------------------------------------------------

test('renegotiation is refused cleanly (TLS 1.2 node:tls client): an error on both sides, no hang, no leak', async () => {
  const { m, finish } = setup();
  const c = certs();
  const l = await m.tcpListen('127.0.0.1', 0);
  const { localPort } = await import('./helpers.js');
  const port = await localPort(m, l);
  const server = m.spin(async () => {
    const fd = await m.accept(l);
    const t = await m.tls(fd, { isServer: true, cert: c.cert, key: c.key });
    const buf = Buffer.alloc(64);
    try {
      for (;;) {
        const n = await m.sslRead(t, buf);
        if (n === 0) return 'eof';
        await m.sslWrite(t, buf.subarray(0, n));
      }
    } catch (e) {
      return e;
    } finally {
      await t.close();
    }
  });
  const sock = tlsNode.connect({ port, host: '127.0.0.1', servername: 'localhost', ca: c.ca, maxVersion: 'TLSv1.2' });
  await new Promise<void>((r, j) => sock.once('secureConnect', r).once('error', j));
  const echo = await new Promise<string>((r) => {
    sock.once('data', (d: Buffer) => r(d.toString()));
    sock.write('before');
  });
  assert.equal(echo, 'before');
  // The client sends a new ClientHello with its next write; our server
  // answers no_renegotiation and OpenSSL's client gives up with an error.
  const failed = new Promise<Error>((r) => sock.once('error', r));
  assert.equal(sock.renegotiate({}, () => {}), true);
  sock.write('during');
  const err = await failed;
  assert.match(err.message, /no renegotiation/);
  // Our side: no hang, the stream simply ends (or fails with a TLS error).
  const res = await m.join(server);
  assert.ok(res === 'eof' || res instanceof TLSError, `server side: ${String(res)}`);
  sock.destroy();
  await m.close(l);
  await finish();
});

test('peer closes in the middle of a record: ERR_TLS_TRUNCATED; a reset: ECONNRESET', async () => {
  const { m, finish } = setup();
  // Mid-record FIN: the peer sends a record header promising 64 bytes and 10 of them.
  {
    const [s, c] = await ourPair(m);
    const raw = s.fd;
    (s as unknown as { free(): void }).free(); // internal: drop the TLS state, keep the fd
    await m.send(raw, Buffer.from([0x17, 0x03, 0x03, 0x00, 0x40, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]));
    await m.close(raw);
    const e = await m.sslRead(c, Buffer.alloc(100)).catch((x: unknown) => x);
    assert.ok(e instanceof TLSError, String(e));
    assert.equal(e.code, 'ERR_TLS_TRUNCATED');
    await c.close();
  }
  // RST: the peer closes with our bytes unread.
  {
    const [s, c] = await ourPair(m);
    const raw = s.fd;
    (s as unknown as { free(): void }).free(); // internal: drop the TLS state, keep the fd
    await m.sslWrite(c, 'unread');
    await m.sleep(5);
    await m.close(raw);
    const e = await m.sslRead(c, Buffer.alloc(100)).catch((x: unknown) => x);
    assert.ok(e instanceof UMError, String(e));
    assert.equal(e.code, 'ECONNRESET');
    await c.close();
  }
  // FIN between records without close_notify: a plain EOF.
  {
    const [s, c] = await ourPair(m);
    await m.sslWrite(s, 'last');
    const raw = s.fd;
    (s as unknown as { free(): void }).free(); // internal: drop the TLS state, keep the fd
    await m.close(raw);
    assert.equal((await readAll(m, c)).toString(), 'last');
    await c.close();
  }
  await finish();
});

// ---- Stream and adapters --------------------------------------------------------------------------

test('m.stream(t): getLine, getString and RESP over TLS; release gives unread bytes back to sslRead', async () => {
  const { m, finish } = setup();
  const [s, c] = await ourPair(m);
  await m.sslWrite(s, 'line one\r\nline two\nABCDEF*2\r\n$3\r\nfoo\r\n:42\r\nrest');
  const st = m.stream(c);
  assert.equal(await st.getLine(), 'line one');
  assert.equal(await st.getLine(), 'line two');
  assert.equal((await st.getString(3))!.toString(), 'ABC');
  assert.equal((await st.getString(3))!.toString(), 'DEF');
  assert.deepEqual(await st.respDecode(), ['foo', 42]);
  await st.release();
  const buf = Buffer.alloc(16);
  assert.equal(buf.toString('utf8', 0, await m.sslRead(c, buf)), 'rest');
  await s.close();
  const st2 = m.stream(c);
  assert.equal((await st2.readToEof()).length, 0);
  await c.close();
  // m.toReadable(stream over TLS): the bytes the Stream buffered come first,
  // then the rest of the connection (not the fd's ciphertext).
  const [s3, c3] = await ourPair(m);
  await m.sslWrite(s3, 'head\nbuffered tail');
  const st3 = m.stream(c3);
  assert.equal(await st3.getLine(), 'head');
  const r = m.toReadable(st3);
  const w = m.spin(async () => {
    await m.sleep(5);
    await m.sslWrite(s3, ' and more');
    await s3.close();
  });
  const parts: Buffer[] = [];
  for await (const chunk of r) parts.push(chunk as Buffer);
  assert.equal(Buffer.concat(parts).toString(), 'buffered tail and more');
  await m.join(w);
  for (let i = 0; i < 100 && !c3.closed; i++) await m.sleep(1);
  await finish();
});

test('m.toDuplex(t): node streams over TLS both ways (echo through pipeline), m.toReadable(t) to the end', async () => {
  const { m, finish } = setup();
  const [s, c] = await ourPair(m);
  const data = pattern(2 << 20, 9);
  // Server: a Duplex that echoes through pipeline (data back, then end).
  const d = m.toDuplex(s);
  const echo = pipeline(d, d);
  const cd = m.toDuplex(c) as UMSocket;
  const got: Buffer[] = [];
  const reading = pipeline(
    cd,
    new Writable({
      write(chunk: Buffer, _e, cb) {
        got.push(chunk);
        cb();
      },
    }),
  );
  cd.end(data);
  await reading;
  await echo;
  assert.equal(sha(Buffer.concat(got)), sha(data));
  assert.equal(cd.bytesRead, data.length);
  assert.equal(cd.bytesWritten, data.length);
  await until(m, () => c.closed && s.closed);
  // toReadable on a fresh pair: what the server sends, then EOF.
  const [s2, c2] = await ourPair(m);
  const r = m.toReadable(c2);
  const w = m.spin(async () => {
    await m.sslWrite(s2, 'readable ');
    await m.sslWrite(s2, 'over tls');
    await s2.close();
  });
  const parts: Buffer[] = [];
  for await (const chunk of r) parts.push(chunk as Buffer);
  assert.equal(Buffer.concat(parts).toString(), 'readable over tls');
  await m.join(w);
  await until(m, () => c2.closed);
  await finish();
});

test('m.toWebStreams(t): a ReadableStream and a WritableStream over TLS', async () => {
  const { m, finish } = setup();
  const [s, c] = await ourPair(m);
  const { readable, writable } = m.toWebStreams(c);
  const writer = writable.getWriter();
  await writer.write(new TextEncoder().encode('web hello'));
  const buf = Buffer.alloc(32);
  assert.equal(buf.toString('utf8', 0, await m.sslRead(s, buf)), 'web hello');
  await m.sslWrite(s, 'web answer');
  await s.close();
  const out: Uint8Array[] = [];
  for await (const chunk of readable) out.push(chunk as Uint8Array);
  assert.equal(Buffer.concat(out).toString(), 'web answer');
  await writer.close().catch(() => {});
  await until(m, () => c.closed);
  await finish();
});

// ---- Lifetime of the OpenSSL objects ------------------------------------------------------------------

test('m.close() frees the OpenSSL objects of open connections; a dropped connection is freed by its finalizer', async () => {
  const conns = liveObjects().connections;
  {
    const m = createMachine();
    const [s, c] = await ourPair(m);
    assert.equal(liveObjects().connections, conns + 2);
    const fds = [s.fd, c.fd];
    m.close();
    assert.equal(liveObjects().connections, conns, 'freed by m.close()');
    await assert.rejects(m.sslRead(s, Buffer.alloc(1)), { code: 'ERR_TLS_CLOSED' });
    for (const fd of fds) (await import('node:fs')).closeSync(fd);
  }
  // The finalizer: a connection object nobody freed (no machine involved).
  const { native } = await import(new URL('../../dist/native.js', import.meta.url).href);
  const ctx = createSecureContext({ ca: certs().ca });
  (() => {
    for (let i = 0; i < 3; i++) native.tlsNew((ctx as unknown as { h: object }).h, Buffer.alloc(64), Buffer.alloc(64), new Int32Array(4));
  })();
  assert.equal(liveObjects().connections, conns + 3);
  for (let i = 0; i < 50 && liveObjects().connections !== conns; i++) {
    gc();
    await new Promise((r) => setTimeout(r, 10));
  }
  assert.equal(liveObjects().connections, conns, 'freed by the finalizers');
});

async function until(m: UringMachine, cond: () => boolean): Promise<void> {
  for (let i = 0; i < 2000 && !cond(); i++) await m.sleep(1);
  assert.ok(cond(), 'condition not met');
}

test('sslWrite cut by m.timeout and terminate at volume: the peer decrypts exactly the bytes the results report, in order', async () => {
  // Through a 16 KiB send buffer to a slow reader, each sslWrite is cut by a
  // 1-2 ms timeout or a terminate about as often as it finishes. Plaintext
  // OpenSSL took is committed (its records go out first at the next write,
  // or at close) and reported as a short count; the sender resends the
  // rest. A record lost, sent twice or cut breaks the TLS stream or the
  // digest. Three connections: the last write of one is often cut after
  // OpenSSL took all of it, and close() must still send its records.
  const { m, finish } = setup();
  const c0 = certs();
  const stats = { writes: 0, short: 0, none: 0 };
  for (let round = 0; round < 3; round++) {
    const [a, b, l] = await tcpPair(m);
    await m.close(l);
    await m.setsockopt(a, C.SOL_SOCKET!, C.SO_SNDBUF!, 16 * 1024);
    const [s, c] = await Promise.all([
      m.tls(a, { isServer: true, cert: c0.cert, key: c0.key }),
      m.tls(b, { servername: 'localhost', ca: c0.ca }),
    ]);
    const TOTAL = 1 << 20;
    const stream = pattern(TOTAL, 7 + round);
    const sender = m.spin(async () => {
      let pos = 0;
      for (let k = 0; pos < TOTAL; k++) {
        const piece = stream.subarray(pos, Math.min(TOTAL, pos + [16_384, 40_000, 65_536][k % 3]!));
        let n = 0;
        if (k % 4 === 3) {
          const f = m.spin(() => m.sslWrite(s, piece));
          await m.sleep(1);
          m.terminate(f);
          n = (await m.join(f)) ?? 0;
        } else {
          try {
            n = await m.timeout(1 + (k % 2), () => m.sslWrite(s, piece));
          } catch (e) {
            assert.ok(e instanceof TimeoutError, String(e));
          }
        }
        stats.writes++;
        if (n === 0) stats.none++;
        else if (n < piece.length) stats.short++;
        pos += n;
      }
      await s.close();
    });
    const parts: Buffer[] = [];
    const buf = Buffer.alloc(16 * 1024);
    for (;;) {
      const n = await m.sslRead(c, buf);
      if (n === 0) break;
      parts.push(Buffer.from(buf.subarray(0, n)));
      await m.sleep(0.2); // slow reader: the writes wait for room
    }
    await m.join(sender);
    const got = Buffer.concat(parts);
    assert.equal(got.length, TOTAL, JSON.stringify(stats));
    assert.equal(sha(got), sha(stream), 'the bytes arrived in order, none twice');
    await c.close();
  }
  assert.ok(stats.short + stats.none > 0, `no write was cut by its cancel: ${JSON.stringify(stats)}`);
  await finish();
});

test('sslRead cut by terminate and AbortSignal at volume: every decrypted byte reaches a reader, in order', async () => {
  const { m, finish } = setup();
  const [s, c] = await ourPair(m);
  const chunks = 400;
  const writer = m.spin(async () => {
    for (let i = 0; i < chunks; i++) {
      await m.sslWrite(s, pattern(613, i + 7));
      if (i % 4 === 0) await m.sleep(1);
    }
    await s.close();
  });
  const parts: Buffer[] = [];
  const buf = Buffer.alloc(2000);
  let eof = false;
  let cut = 0;
  for (let round = 0; !eof; round++) {
    const ac = new AbortController();
    const reader = m.spin(() =>
      m.cancellable(ac.signal, async () => {
        for (;;) {
          const n = await m.sslRead(c, buf);
          if (n === 0) {
            eof = true;
            return;
          }
          parts.push(Buffer.from(buf.subarray(0, n)));
        }
      }),
    );
    await m.sleep(round % 3); // 0-2 ms: often right as a record is decrypted
    if (round % 2 === 0) m.terminate(reader);
    else ac.abort(new Error('cut'));
    await m.join(reader).catch(() => {}); // a terminated fiber joins as done; an aborted one rejects
    if (!eof) cut++;
  }
  await m.join(writer);
  const want = Buffer.concat(Array.from({ length: chunks }, (_, i) => pattern(613, i + 7)));
  assert.ok(cut > 10, `readers were cut (${cut})`);
  assert.equal(Buffer.concat(parts).length, want.length, 'no byte lost or doubled');
  assert.equal(sha(Buffer.concat(parts)), sha(want));
  await c.close();
  await finish();
});
