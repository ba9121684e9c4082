// serveHttp (issue 10): a real node:http Server app served over connections
// accepted on the ring, driven by node:http and node:net clients over
// loopback: keep-alive, pipelining, a large streamed upload and download,
// and a client that aborts in the middle of its request body.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readdirSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import test from 'node:test';

import { serveHttp, type UringMachine } from 'uringmachine';

import { assertNoPendingOps, countFds, createMachine, localPort, until } from './helpers.js';

const CHUNK = Buffer.alloc(65536, 'y');

type App = { server: http.Server; events: string[]; connections: number };

/** The app: / hello, /upload hashes the body, /bytes/<n> streams n bytes, /slow-upload records how a body ended. */
function app(): App {
  const events: string[] = [];
  const a: App = { server: null as unknown as http.Server, events, connections: 0 };
  a.server = http.createServer({ keepAliveTimeout: 10_000 }, (req, res) => {
    events.push(`${req.method} ${req.url} from ${req.socket.remoteAddress}`);
    if (req.url === '/upload') {
      const h = createHash('sha256');
      let n = 0;
      req.on('data', (c: Buffer) => {
        h.update(c);
        n += c.length;
      });
      req.on('end', () => res.end(`${n} ${h.digest('hex')}`));
      return;
    }
    if (req.url === '/slow-upload') {
      let n = 0;
      req.on('data', (c: Buffer) => (n += c.length));
      req.on('error', (e: NodeJS.ErrnoException) => events.push(`req error ${e.code} after ${n > 0 ? 'some' : 'no'} bytes`));
      req.on('close', () => events.push(`req close complete=${req.complete}`));
      return;
    }
    const m = /^\/bytes\/(\d+)$/.exec(req.url!);
    if (m) {
      let left = Number(m[1]);
      res.writeHead(200, { 'Content-Length': left });
      const more = (): void => {
        while (left > 0) {
          const k = Math.min(left, CHUNK.length);
          left -= k;
          if (!res.write(k === CHUNK.length ? CHUNK : CHUNK.subarray(0, k))) {
            res.once('drain', more);
            return;
          }
        }
        res.end();
      };
      more();
      return;
    }
    res.end(`hello ${req.url}`);
  });
  a.server.on('connection', () => a.connections++);
  return a;
}

async function serve(m: UringMachine): Promise<{ a: App; port: number; stop: () => Promise<void> }> {
  const a = app();
  const listener = await m.tcpListen('127.0.0.1', 0);
  const port = await localPort(m, listener);
  const serving = serveHttp(m, a.server, listener);
  return {
    a,
    port,
    stop: async () => {
      await serving.close();
      assert.equal(serving.connections.size, 0);
      await m.close(listener);
    },
  };
}

function get(port: number, path: string, agent: http.Agent): Promise<{ body: Buffer; socket: net.Socket }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (c: Buffer) => parts.push(c));
      res.on('end', () => resolve({ body: Buffer.concat(parts), socket: req.socket! }));
      res.on('error', reject);
    });
    req.on('error', reject);
  });
}

test('serveHttp: keep-alive requests from an http.Agent share one connection; the app sees the peer address', async () => {
  const fds = countFds();
  const m = createMachine();
  const { a, port, stop } = await serve(m);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const sockets = new Set<net.Socket>();
  for (let i = 0; i < 5; i++) {
    const { body, socket } = await get(port, `/r${i}`, agent);
    assert.equal(body.toString(), `hello /r${i}`);
    sockets.add(socket);
  }
  assert.equal(sockets.size, 1, 'one client socket');
  assert.equal(a.connections, 1, 'one connection served');
  assert.deepEqual(a.events, [0, 1, 2, 3, 4].map((i) => `GET /r${i} from 127.0.0.1`));
  agent.destroy();
  await stop();
  await until(m, () => m.metrics().opsPending === 0, 5000, 'ops done');
  assertNoPendingOps(m);
  assert.equal(countFds(), fds, 'fds leaked');
});

test('serveHttp: three pipelined requests in one packet get three responses in order', async () => {
  const m = createMachine();
  const { port, stop } = await serve(m);
  const c = net.connect(port, '127.0.0.1');
  let got = '';
  c.on('data', (d: Buffer) => (got += d.toString()));
  await new Promise((r) => c.once('connect', r));
  c.write('GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\nGET /c HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  await new Promise((r) => c.once('end', r));
  const bodies = [...got.matchAll(/hello (\/\w)/g)].map((x) => x[1]);
  assert.deepEqual(bodies, ['/a', '/b', '/c']);
  assert.equal((got.match(/HTTP\/1\.1 200 OK/g) ?? []).length, 3);
  c.destroy();
  await stop();
  await until(m, () => m.metrics().opsPending === 0, 5000, 'ops done');
  assertNoPendingOps(m);
});

test('serveHttp: a 32 MiB streamed upload and a 64 MiB streamed download, byte-exact', async () => {
  const m = createMachine();
  const { port, stop } = await serve(m);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  // Upload: chunked request body, hashed on both sides.
  const body = randomBytes(32 << 20);
  const reply = await new Promise<string>((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: '/upload', method: 'POST', agent }, (res) => {
      let s = '';
      res.on('data', (c: Buffer) => (s += c.toString()));
      res.on('end', () => resolve(s));
    });
    req.on('error', reject);
    let off = 0;
    const more = (): void => {
      while (off < body.length) {
        const part = body.subarray(off, off + 100_000);
        off += part.length;
        if (!req.write(part)) {
          req.once('drain', more);
          return;
        }
      }
      req.end();
    };
    more();
  });
  assert.equal(reply, `${body.length} ${createHash('sha256').update(body).digest('hex')}`);
  // Download on the same connection.
  const n = 64 << 20;
  const { body: down } = await get(port, `/bytes/${n}`, agent);
  assert.equal(down.length, n);
  assert.ok(down.every((b) => b === 0x79));
  agent.destroy();
  await stop();
  await until(m, () => m.metrics().opsPending === 0, 5000, 'ops done');
  assertNoPendingOps(m);
});

test('serveHttp: a client aborting mid-body: the request errors with ECONNRESET (aborted), the connection is closed, nothing leaks', async () => {
  const fds = countFds();
  const m = createMachine();
  const { a, port, stop } = await serve(m);
  const c = net.connect(port, '127.0.0.1');
  await new Promise((r) => c.once('connect', r));
  c.write('POST /slow-upload HTTP/1.1\r\nHost: x\r\nContent-Length: 10000000\r\n\r\n');
  c.write(Buffer.alloc(100_000, 1));
  await until(m, () => a.events.length > 0, 5000, 'request seen');
  c.destroy();
  await until(m, () => a.events.includes('req close complete=false'), 5000, 'request closed');
  assert.ok(a.events.includes('req error ECONNRESET after some bytes'), a.events.join('; '));
  await stop();
  await until(m, () => m.metrics().opsPending === 0, 5000, 'ops done');
  assertNoPendingOps(m);
  assert.equal(countFds(), fds, 'fds leaked');
});

test('serveHttp: bad arguments throw', () => {
  const m = createMachine();
  assert.throws(() => serveHttp(m, {}, 3), { code: 'ERR_INVALID_ARG_TYPE' });
  assert.throws(() => serveHttp(m, http.createServer(), -1), { code: 'ERR_OUT_OF_RANGE' });
  assertNoPendingOps(m);
});
