// The network examples run as real programs: examples/echo-server.ts and
// examples/http-server.ts, driven over loopback by node:net clients.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readlinkSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';

const OUT = fileURLToPath(new URL('../examples/', import.meta.url));
let stderr = '';
let stdout = '';

async function start(name: string, env: Record<string, string> = {}): Promise<{ child: ChildProcess; port: number }> {
  stdout = '';
  const child = spawn(process.execPath, [OUT + name], { env: { ...process.env, PORT: '0', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stderr!.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => {
      stdout += d.toString();
      const m = /listening (\d+)/.exec(stdout);
      if (m) resolve(Number(m[1]));
    });
    child.once('exit', (code) => reject(new Error(`${name} exited (${code}) before listening: ${stderr}`)));
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
    const done = () => {
      s.off('data', onData);
      s.off('error', reject);
      s.off('close', onClose);
    };
    const onData = (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      if (pred(buf)) {
        done();
        resolve(buf);
      }
    };
    const onClose = () => {
      done();
      resolve(buf);
    };
    s.on('data', onData);
    s.once('error', reject);
    s.once('close', onClose);
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

/** The inodes of the sockets process `pid` has open (its listeners, rings' eventfds aside). */
function sockets(pid: number): Set<string> {
  const out = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const target = readlinkSync(`/proc/${pid}/fd/${fd}`);
      if (target.startsWith('socket:')) out.add(target);
    } catch {
      // closed between readdir and readlink
    }
  }
  return out;
}

/** Waits (a bounded loop of 20 ms pauses, at most 10 s) until the server has `want` more sockets than `base`, none of base gone. */
async function socketsSettle(pid: number, base: Set<string>, want: number): Promise<Set<string>> {
  let now = sockets(pid);
  for (let i = 0; i < 500; i++) {
    if (now.size === base.size + want && [...base].every((s) => now.has(s))) return now;
    await new Promise((r) => setTimeout(r, 20));
    now = sockets(pid);
  }
  return now;
}

/** `worker <i> served <n> connections` lines printed at shutdown: n per worker index. */
function servedCounts(out: string): number[] {
  const counts: number[] = [];
  for (const m of out.matchAll(/^worker (\d+) served (\d+) connections$/gm)) counts[Number(m[1])] = Number(m[2]);
  return counts;
}

const CLIENTS = 32;

/**
 * A server run with WORKERS=2 in `mode`: CLIENTS concurrent connections all
 * get their answers (`session` checks them), the server's socket table
 * comes back to what it was once they are closed (no fd left behind by any
 * worker), then three idle connections are open when SIGTERM comes: they
 * are closed, the process exits 0, and each worker reports what it served.
 */
async function workersRun(name: string, mode: string, session: (s: Socket, c: number) => Promise<void>): Promise<number[]> {
  const { child, port } = await start(name, { WORKERS: '2', WORKER_MODE: mode });
  try {
    assert.match(stdout, new RegExp(`listening ${port} \\(2 workers, ${mode}\\)`));
    const base = sockets(child.pid!);
    const clients = await Promise.all(Array.from({ length: CLIENTS }, () => open(port)));
    // All open at once before any talks: in queue mode the round robin has
    // dealt them out, in reuseport mode the kernel has picked each listener.
    await Promise.all(clients.map((s, c) => session(s, c)));
    await Promise.all(
      clients.map((s) => {
        const closed = new Promise((r) => s.once('close', r));
        s.end();
        return closed;
      }),
    );
    const after = await socketsSettle(child.pid!, base, 0);
    assert.deepEqual([...after].sort(), [...base].sort(), 'every connection socket closed, the listeners still open');
    const idle = await Promise.all([open(port), open(port), open(port)]);
    const closed = idle.map((c) => new Promise((r) => c.once('close', r)));
    assert.equal((await socketsSettle(child.pid!, base, 3)).size, base.size + 3, 'the idle connections were accepted');
    assert.equal(await stop(child), 0, 'the server stops cleanly on SIGTERM');
    await Promise.all(closed);
    const counts = servedCounts(stdout);
    assert.equal(counts.length, 2, `both workers reported: ${stdout}`);
    assert.equal(counts[0]! + counts[1]!, CLIENTS + 3, 'every connection was served by exactly one worker');
    assert.ok(counts[0]! > 0 && counts[1]! > 0, `both workers served connections: ${counts}`);
    return counts;
  } finally {
    if (child.exitCode === null) await stop(child);
  }
}

async function echoSession(s: Socket, c: number): Promise<void> {
  for (let i = 0; i < 5; i++) {
    const msg = `client ${c} message ${i} `.repeat(1 + (i % 3));
    const got = readUntil(s, (b) => b.length >= msg.length);
    s.write(msg);
    assert.equal((await got).toString(), msg);
  }
}

async function httpSession(s: Socket): Promise<void> {
  for (let i = 0; i < 3; i++) {
    const got = readUntil(s, (b) => b.toString().endsWith('Hello, World!'));
    s.write(`GET /${i} HTTP/1.1\r\nHost: x\r\n\r\n`);
    const r = (await got).toString();
    assert.match(r, /^HTTP\/1.1 200 OK\r\n/);
    assert.equal(r.split('Hello, World!').length, 2, 'one response per request');
  }
}

test('echo-server WORKERS=2 WORKER_MODE=reuseport: a listener per worker, all echoed, no fd left, clean stop', async () => {
  // The kernel hashes each connection to one of the two listeners: all 35 on
  // one worker has probability 2^-34.
  await workersRun('echo-server.js', 'reuseport', echoSession);
});

test('echo-server WORKERS=2 WORKER_MODE=queue: the acceptor deals fds round robin over SharedQueues', async () => {
  // 35 connections dealt in turn: 18 to worker 0, 17 to worker 1, exactly.
  assert.deepEqual(await workersRun('echo-server.js', 'queue', echoSession), [18, 17]);
});

test('http-server WORKERS=2, both modes: keep-alive requests answered on both workers', async () => {
  await workersRun('http-server.js', 'reuseport', httpSession);
  assert.deepEqual(await workersRun('http-server.js', 'queue', httpSession), [18, 17]);
});

test('echo-server WORKERS=1: one worker thread serves everything; bad WORKERS / WORKER_MODE exit 1 naming the variable', async () => {
  for (const mode of ['reuseport', 'queue']) {
    const { child, port } = await start('echo-server.js', { WORKERS: '1', WORKER_MODE: mode });
    const s = await open(port);
    await echoSession(s, 0);
    s.destroy();
    const idle = await open(port);
    const closed = new Promise((r) => idle.once('close', r));
    await echoSession(idle, 1);
    assert.equal(await stop(child), 0);
    await closed;
    assert.deepEqual(servedCounts(stdout), [2]);
  }
  for (const [env, word] of [
    [{ WORKERS: 'two' }, 'WORKERS'],
    [{ WORKERS: '2', WORKER_MODE: 'fork' }, 'WORKER_MODE'],
  ] as const) {
    const child = spawn(process.execPath, [OUT + 'echo-server.js'], {
      env: { ...process.env, PORT: '0', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let err = '';
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    const code = await new Promise((r) => child.once('exit', r));
    assert.equal(code, 1);
    assert.match(err, new RegExp(`RangeError: ${word} must be`));
  }
});
