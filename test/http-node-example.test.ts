// examples/http-node-server.ts runs as a real program: a plain node:http app
// served over uringmachine with serveHttp, driven by node:http clients.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const EXAMPLE = fileURLToPath(new URL('../examples/http-node-server.js', import.meta.url));

function request(port: number, method: string, path: string, agent: http.Agent, body?: Buffer): Promise<{ status: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path, agent }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (c: Buffer) => parts.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, body: Buffer.concat(parts) }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

test('examples/http-node-server: hello, a streamed echo of 4 MiB, a 10 MiB download, keep-alive; exits 0 on SIGTERM', async () => {
  const child = spawn(process.execPath, [EXAMPLE], { env: { ...process.env, PORT: '0' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /listening (\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    child.once('exit', (code) => reject(new Error(`exited (${code}) before listening: ${stderr}`)));
  });
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  try {
    const hello = await request(port, 'GET', '/', agent);
    assert.equal(hello.status, 200);
    assert.equal(hello.body.toString(), 'Hello, World!');
    const data = randomBytes(4 << 20);
    const echo = await request(port, 'POST', '/echo', agent, data);
    assert.ok(echo.body.equals(data));
    const down = await request(port, 'GET', `/bytes/${10 << 20}`, agent);
    assert.equal(down.body.length, 10 << 20);
    assert.ok(down.body.every((b) => b === 0x78));
  } finally {
    agent.destroy();
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    child.kill('SIGTERM');
    assert.equal(await exited, 0);
  }
  assert.equal(stderr, '');
});
