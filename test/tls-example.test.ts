// examples/https-server.ts as a real program: HTTPS keep-alive (two requests
// on one connection), Connection: close, a bad request, and a clean exit on
// SIGTERM with a connection still open.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import https from 'node:https';
import tls from 'node:tls';
import { fileURLToPath } from 'node:url';
import test from 'node:test';

import { certs } from './tls-helpers.js';

const example = fileURLToPath(new URL('../examples/https-server.js', import.meta.url));

test('examples/https-server: keep-alive over TLS, Connection: close, 400, clean SIGTERM exit', async (t) => {
  const c = certs();
  const p = spawn(process.execPath, [example], { env: { ...process.env, PORT: '0', CERT: c.paths.cert, KEY: c.paths.key }, stdio: ['ignore', 'pipe', 'inherit'] });
  const timer = setTimeout(() => p.kill('SIGKILL'), 30000);
  t.after(() => {
    clearTimeout(timer);
    p.kill('SIGKILL');
  });
  const exited = new Promise<number | null>((r) => p.once('exit', (code) => r(code)));
  const port = await new Promise<number>((r, j) => {
    let out = '';
    p.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /listening (\d+)/.exec(out);
      if (m) r(Number(m[1]));
    });
    p.once('exit', () => j(new Error(`exited before listening: ${out}`)));
  });
  const agent = new https.Agent({ keepAlive: true, maxSockets: 1, ca: c.ca });
  const get = (headers: Record<string, string> = {}): Promise<{ status: number; body: string; port: number }> =>
    new Promise((r, j) => {
      const req = https.get({ host: '127.0.0.1', port, servername: 'localhost', path: '/', agent, headers }, (res) => {
        let body = '';
        const lp = res.socket.localPort!;
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => r({ status: res.statusCode!, body, port: lp }));
      });
      req.on('error', j);
    });
  const a = await get();
  const b = await get();
  assert.deepEqual([a.status, a.body], [200, 'Hello, World!']);
  assert.equal(b.body, 'Hello, World!');
  assert.equal(a.port, b.port, 'the same connection (keep-alive)');
  const cl = await get({ Connection: 'close' });
  assert.equal(cl.status, 200);
  agent.destroy();
  // A malformed request line: 400 and the connection is closed.
  const raw = tls.connect({ host: '127.0.0.1', port, servername: 'localhost', ca: c.ca });
  await new Promise<void>((r, j) => raw.once('secureConnect', r).once('error', j));
  raw.write('NONSENSE\r\n\r\n');
  let reply = '';
  raw.on('data', (d: Buffer) => (reply += d.toString()));
  await new Promise((r) => raw.once('end', r));
  assert.match(reply, /^HTTP\/1.1 400 /);
  raw.destroy();
  // An idle open connection must not keep it from exiting.
  const idle = tls.connect({ host: '127.0.0.1', port, servername: 'localhost', ca: c.ca });
  idle.on('error', () => {});
  await new Promise<void>((r) => idle.once('secureConnect', r));
  p.kill('SIGTERM');
  assert.equal(await exited, 0);
  idle.destroy();
});
