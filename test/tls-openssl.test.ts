// TLS interop with the openssl CLI (issue 11): our client against
// `openssl s_server`, `openssl s_client` against our server, TLS 1.2 and
// 1.3, SNI and ALPN. The CLI runs as a bounded child process on 127.0.0.1.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import test from 'node:test';

import { tlsLiveObjects as liveObjects, type UringMachine } from 'uringmachine';

import { assertNoPendingOps, createMachine, localPort } from './helpers.js';
import { certs } from './tls-helpers.js';

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

/** A child that is killed when the test ends (or after 20 s), whatever happens. */
function child(t: { after(fn: () => void): void }, args: string[]): { p: ChildProcess; out: () => string; done: Promise<number | null> } {
  const p = spawn('openssl', args, { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  p.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  p.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const timer = setTimeout(() => p.kill('SIGKILL'), 20000);
  const done = new Promise<number | null>((r) => p.once('exit', (code) => r(code)));
  t.after(() => {
    clearTimeout(timer);
    p.kill('SIGKILL');
  });
  return { p, out: () => out, done };
}

/** Connect to 127.0.0.1:port, retrying while the server starts (bounded). */
async function connectRetry(m: UringMachine, port: number): Promise<number> {
  for (let i = 0; ; i++) {
    try {
      return await m.tcpConnect('127.0.0.1', port);
    } catch (e) {
      if (i >= 200 || (e as { code: string }).code !== 'ECONNREFUSED') throw e;
      await m.sleep(20);
    }
  }
}

for (const v of ['tls1_3', 'tls1_2'] as const) {
  test(`our client against openssl s_server -${v}: ALPN, verification, echo (-rev)`, async (t) => {
    const c = certs();
    const conns = liveObjects().connections;
    const m = createMachine();
    const port = await freePort();
    const srv = child(t, ['s_server', '-accept', `127.0.0.1:${port}`, '-cert', c.paths.cert, '-key', c.paths.key, `-${v}`, '-alpn', 'h2,http/1.1', '-rev', '-naccept', '1', '-quiet']);
    const fd = await connectRetry(m, port);
    const tl = await m.tls(fd, { servername: 'localhost', ca: c.ca, alpn: ['http/1.1'] });
    assert.equal(tl.protocol, v === 'tls1_3' ? 'TLSv1.3' : 'TLSv1.2');
    assert.equal(tl.alpnProtocol, 'http/1.1');
    assert.equal(tl.authorized, true);
    await m.sslWrite(tl, 'hello openssl\n');
    const st = m.stream(tl);
    const line = await st.getLine();
    assert.equal(line, 'lssnepo olleh');
    await st.release();
    await tl.close();
    await srv.done;
    assert.equal(liveObjects().connections, conns);
    assertNoPendingOps(m);
  });

  test(`openssl s_client -${v} against our server: SNI and ALPN seen by us, verified by it`, async (t) => {
    const c = certs();
    const conns = liveObjects().connections;
    const m = createMachine();
    const l = await m.tcpListen('127.0.0.1', 0);
    const port = await localPort(m, l);
    const server = m.spin(async () => {
      const fd = await m.accept(l);
      const tl = await m.tls(fd, { isServer: true, cert: c.cert, key: c.key, alpn: ['http/1.1'] });
      const st = m.stream(tl);
      const line = await st.getLine();
      await m.sslWrite(tl, `got ${line} sni=${tl.servername} alpn=${tl.alpnProtocol} ${tl.protocol}\n`);
      await st.release();
      await tl.close();
    });
    const cli = child(t, [
      's_client', '-connect', `127.0.0.1:${port}`, '-servername', 'localhost', '-alpn', 'http/1.1',
      '-CAfile', c.paths.ca, '-verify_return_error', '-verify_hostname', 'localhost', `-${v}`, '-quiet', '-no_ign_eof',
    ]);
    cli.p.stdin!.write('ping\n');
    await m.join(server);
    const code = await cli.done;
    assert.equal(code, 0, cli.out());
    assert.match(cli.out(), new RegExp(`got ping sni=localhost alpn=http/1.1 ${v === 'tls1_3' ? 'TLSv1.3' : 'TLSv1.2'}`));
    await m.close(l);
    assert.equal(liveObjects().connections, conns);
    assertNoPendingOps(m);
  });
}

test('openssl s_client rejects our server when its certificate does not match (verify_return_error)', async (t) => {
  const c = certs();
  const m = createMachine();
  const l = await m.tcpListen('127.0.0.1', 0);
  const port = await localPort(m, l);
  const server = m.spin(async () => {
    const fd = await m.accept(l);
    try {
      const tl = await m.tls(fd, { isServer: true, cert: c.wrongHostCert, key: c.wrongHostKey });
      await tl.close();
      return 'handshake done';
    } catch (e) {
      await m.close(fd);
      return (e as { code: string }).code;
    }
  });
  const cli = child(t, ['s_client', '-connect', `127.0.0.1:${port}`, '-servername', 'localhost', '-CAfile', c.paths.ca, '-verify_return_error', '-verify_hostname', 'localhost', '-quiet']);
  cli.p.stdin!.end();
  const code = await cli.done;
  assert.notEqual(code, 0);
  assert.match(cli.out(), /hostname mismatch/);
  const res = await m.join(server);
  assert.match(String(res), /^ERR_SSL_/, 'our server got the alert');
  await m.close(l);
  assertNoPendingOps(m);
});
