// The network examples run as real programs: examples/echo-server.ts and
// examples/http-server.ts, driven over loopback by node:net clients.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';

const OUT = fileURLToPath(new URL('../examples/', import.meta.url));
let stderr = '';

async function start(name: string): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(process.execPath, [OUT + name], { env: { ...process.env, PORT: '0' }, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stderr!.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /listening (\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    child.once('exit', (code) => reject(new Error(`${name} exited (${code}) before listening`)));
  });
  return { child, port };
}

async function stop(child: ChildProcess): Promise<number | null> {
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  child.kill('SIGTERM');
  const code = await exited;
  assert.equal(stderr, '', 'nothing printed on stderr');
  return code;
}

function open(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1', () => resolve(s));
    s.once('error', reject);
  });
}

/** Read from s until `pred(all bytes so far)` holds. */
function readUntil(s: Socket, pred: (b: Buffer) => boolean): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    let buf = Buffer.alloc(0);
    const onData = (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      if (pred(buf)) {
        s.off('data', onData);
        resolve(buf);
      }
    };
    s.on('data', onData);
    s.once('error', reject);
    s.once('close', () => resolve(buf));
  });
}

test('echo-server: 20 clients × 50 round trips each, and a large message, echoed byte for byte', async () => {
  const { child, port } = await start('echo-server.js');
  try {
    await Promise.all(
      Array.from({ length: 20 }, async (_, c) => {
        const s = await open(port);
        for (let i = 0; i < 50; i++) {
          const msg = `client ${c} message ${i} `.repeat(1 + (i % 5));
          const got = readUntil(s, (b) => b.length >= msg.length);
          s.write(msg);
          assert.equal((await got).toString(), msg);
        }
        s.end();
      }),
    );
    const s = await open(port);
    const big = Buffer.alloc(4 * 1024 * 1024);
    for (let i = 0; i < big.length; i++) big[i] = (i * 13) & 255;
    const got = readUntil(s, (b) => b.length >= big.length);
    s.write(big);
    assert.ok((await got).equals(big));
    s.destroy(); // a reset, not a clean close: the server must shrug it off
    // Connections still open when it stops: it ends them and exits cleanly.
    const idle = await Promise.all([open(port), open(port), open(port)]);
    const closed = idle.map((c) => new Promise((r) => c.once('close', r)));
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(await stop(child), 0, 'the server stops cleanly on SIGTERM');
    await Promise.all(closed);
  } finally {
    if (child.exitCode === null) await stop(child);
  }
});

test('http-server: keep-alive, pipelined requests, a body, Connection: close, malformed and oversized requests', async () => {
  const { child, port } = await start('http-server.js');
  try {
    const s = await open(port);
    const count = (b: Buffer, n: number) => b.toString().split('Hello, World!').length - 1 >= n;
    // Two requests in one write (pipelined), one with a body, then a third.
    const two = readUntil(s, (b) => count(b, 2));
    s.write('GET / HTTP/1.1\r\nHost: x\r\n\r\nPOST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello');
    const r2 = (await two).toString();
    assert.equal(r2.split('HTTP/1.1 200 OK').length - 1, 2);
    const three = readUntil(s, (b) => count(b, 1));
    // Split mid-header across writes.
    s.write('GET /x HTTP/1.1\r\nHo');
    await new Promise((r) => setTimeout(r, 10));
    s.write('st: x\r\nConnection: close\r\n\r\n');
    const r3 = await three;
    assert.match(r3.toString(), /Connection: close/);
    await new Promise((r) => s.once('close', r));
    // Malformed request line: 400 and the connection is closed.
    const bad = await open(port);
    const rb = readUntil(bad, () => false);
    bad.write('NONSENSE\r\n\r\n');
    assert.match((await rb).toString(), /^HTTP\/1.1 400 /);
    // A header line over the 8 KiB limit: 431.
    const big = await open(port);
    const rbig = readUntil(big, () => false);
    big.write(`GET / HTTP/1.1\r\nX-Long: ${'a'.repeat(10_000)}\r\n\r\n`);
    assert.match((await rbig).toString(), /^HTTP\/1.1 431 /);
  } finally {
    assert.equal(await stop(child), 0);
  }
});
