// Parser fuzzing (docs/STRESS.md, part 4): Stream.getLine / getString,
// respDecode and examples/http-server fed random splits of valid input
// (through pipes and unix socketpairs, machines with tiny pool buffers) and
// corrupted, truncated or random input. Asserted: correct results for
// valid input, clean errors for invalid input (RESPProtocolError /
// RESPError; 400/431/501 or a close from the HTTP server), no hang (a
// watchdog), no crash, bounded memory (pool bytes under maxBytes, RSS
// growth bounded while garbage is fed).
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { connect, createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, test } from 'node:test';

import { constants as C, RESPError, RESPProtocolError, Stream, UM, type UringMachine } from 'uringmachine';
import { createMachine } from '../helpers.js';
import { printTally, rngFor, scaled, seedNote, tally, watchdog, type Rng } from './common.js';

const T0 = Date.now();
after(() => printTally('fuzz', T0));

const POOLS = [
  { bufferSize: 16, initialBuffers: 4, maxBytes: 4096 },
  { bufferSize: 100, initialBuffers: 2, maxBytes: 64 * 1024 },
  { bufferSize: 4096, initialBuffers: 16, maxBytes: 1 << 20 },
];

/** Feed `data` into a fresh pipe or socketpair in random slices; returns the read fd. */
function feed(m: UringMachine, rng: Rng, data: Buffer): { fd: number; mode: 'read' | 'recv'; done: Promise<void> } {
  const sock = rng.chance(0.5);
  const [r, w] = sock ? UM.socketpair(C.AF_UNIX!, C.SOCK_STREAM!, 0) : UM.pipe();
  const maxSlice = rng.pick([1, 3, 17, 1000, 70_000]);
  const f = m.spin(async () => {
    try {
      let off = 0;
      while (off < data.length) {
        const len = Math.min(data.length - off, rng.range(1, maxSlice));
        off += await m.write(w, data.subarray(off, off + len));
        if (rng.chance(0.1)) await m.snooze();
      }
    } catch {
      // the reader closed early (a protocol error): EPIPE
    } finally {
      await m.close(w);
    }
  });
  return { fd: r, mode: sock ? 'recv' : 'read', done: m.join(f).then(() => undefined) };
}

function asciiLine(rng: Rng, max: number): string {
  const n = rng.int(max + 1);
  let s = '';
  for (let i = 0; i < n; i++) s += String.fromCharCode(rng.range(0x20, 0x7e));
  return s;
}

test('getLine/getString over random splits and tiny pool buffers return exactly the lines written', async () => {
  const rng = rngFor('fuzz lines');
  const rounds = scaled(25);
  for (let r = 0; r < rounds; r++) {
    const pool = rng.pick(POOLS);
    const m = createMachine({ bufferPool: pool });
    try {
      const lines: string[] = [];
      const maxLen = rng.pick([0, 5, 100, 1000]);
      for (let i = rng.range(1, 300); i > 0; i--) lines.push(asciiLine(rng, maxLen));
      const text = lines.map((l) => l + (rng.chance(0.5) ? '\n' : '\r\n')).join('');
      const src = feed(m, rng, Buffer.from(text, 'latin1'));
      const s = m.stream(src.fd, { mode: src.mode, highWaterMark: rng.pick([64, 4096, 1 << 20]) });
      await watchdog(m, 20_000, `lines round ${r} (pool ${JSON.stringify(pool)})`, async () => {
        for (let i = 0; i < lines.length; i++) {
          const want = lines[i]!;
          if (rng.chance(0.2) && want.length > 0) {
            // Part of the line with getString, the rest with getLine.
            const k = rng.range(1, want.length);
            const a = await s.getString(k);
            assert.equal(a?.toString('latin1'), want.slice(0, k), `line ${i} head (${seedNote()})`);
            assert.equal(await s.getLine(), want.slice(k), `line ${i} tail (${seedNote()})`);
          } else {
            const limit = rng.chance(0.3) ? rng.range(1, maxLen + 2) : 0;
            // A line over the limit rejects with LineTooLongError (position unchanged).
            const got = await s.getLine(null, limit).catch((e: unknown) => {
              if ((e as { code?: string }).code !== 'ERR_UM_LINE_TOO_LONG') throw e;
              return null;
            });
            if (limit > 0 && want.length > limit) {
              assert.equal(got, null, `line ${i}: longer than the limit`);
              assert.equal(await s.getLine(), want, `line ${i} after a refused limit (${seedNote()})`);
            } else assert.equal(got, want, `line ${i} (${seedNote()})`);
          }
          tally.ops++;
        }
        assert.equal(await s.getLine(), null, 'EOF');
        await src.done;
        await s.release();
        await m.close(src.fd);
      });
      tally.bytes += text.length;
      assert.ok(m.metrics().bufferPoolBytes <= pool.maxBytes, `pool ${m.metrics().bufferPoolBytes} > ${pool.maxBytes}`);
    } finally {
      m.close();
    }
  }
});

/** A random RESP value whose round trip through respEncode/respDecode is the identity. */
function respValue(rng: Rng, depth: number): unknown {
  const k = rng.int(depth > 2 ? 4 : 6);
  if (k === 0) return asciiLine(rng, rng.pick([0, 10, 300]));
  if (k === 1) return rng.range(-1_000_000, 1_000_000);
  if (k === 2) return null;
  if (k === 3) return Buffer.from(asciiLine(rng, 50), 'latin1').toString('utf8') + '\u00e9\u4e2d';
  return Array.from({ length: rng.int(6) }, () => respValue(rng, depth + 1));
}

test('respDecode over random splits decodes every value; corrupt input rejects cleanly, no hang', async () => {
  const rng = rngFor('fuzz resp');
  const rounds = scaled(60);
  let protocolErrors = 0;
  for (let r = 0; r < rounds; r++) {
    const pool = rng.pick(POOLS);
    const m = createMachine({ bufferPool: pool });
    try {
      const values = Array.from({ length: rng.range(1, 100) }, () => respValue(rng, 0));
      const errs = new Set<number>();
      const parts: Buffer[] = [];
      values.forEach((v, i) => {
        if (rng.chance(0.05)) {
          errs.add(i);
          parts.push(Buffer.from(`-ERR fuzz ${i}\r\n`));
        } else parts.push(Stream.respEncode(v));
      });
      const wire = Buffer.concat(parts);
      const src = feed(m, rng, wire);
      const s = m.stream(src.fd, { mode: src.mode });
      await watchdog(m, 20_000, `resp round ${r}`, async () => {
        for (let i = 0; i < values.length; i++) {
          if (errs.has(i)) {
            await assert.rejects(s.respDecode(), (e: unknown) => e instanceof RESPError && /fuzz/.test(e.message));
          } else assert.deepEqual(await s.respDecode(), values[i], `value ${i} (${seedNote()})`);
          tally.ops++;
        }
        assert.equal(await s.respDecode(), undefined, 'EOF');
        await src.done;
        await s.release();
        await m.close(src.fd);
      });
      tally.bytes += wire.length;

      // The same wire corrupted: flipped bytes, truncated, or random bytes.
      let bad: Buffer;
      const how = rng.int(3);
      if (how === 0) {
        bad = Buffer.from(wire);
        for (let k = rng.range(1, 8); k > 0; k--) bad[rng.int(bad.length)] = rng.int(256);
      } else if (how === 1) bad = wire.subarray(0, rng.int(wire.length));
      else bad = Buffer.from(Array.from({ length: rng.range(1, 5000) }, () => rng.int(256)));
      const src2 = feed(m, rng, bad);
      const s2 = m.stream(src2.fd, { mode: src2.mode });
      await watchdog(m, 20_000, `corrupt resp round ${r} (how ${how})`, async () => {
        for (let n = 0; n < 10_000; n++) {
          try {
            const v = await s2.respDecode();
            if (v === undefined) break;
          } catch (e) {
            if (e instanceof RESPError) continue; // an error reply is a value
            assert.ok(e instanceof RESPProtocolError, `not a clean error: ${String(e)} (${seedNote()})`);
            assert.equal((e as RESPProtocolError & { code: string }).code, 'ERR_RESP_PROTOCOL');
            protocolErrors++;
            break;
          }
        }
        await s2.release();
        await m.close(src2.fd);
        await src2.done;
      });
      assert.ok(m.metrics().bufferPoolBytes <= pool.maxBytes);
    } finally {
      m.close();
    }
  }
  assert.ok(protocolErrors > 0, 'no corrupt input was ever refused: the fuzzer is not corrupting');
});

test('garbage fed to getLine keeps memory bounded (pool under maxBytes, RSS growth bounded)', async () => {
  const rng = rngFor('fuzz memory');
  const pool = { bufferSize: 4096, initialBuffers: 4, maxBytes: 256 * 1024 };
  const m = createMachine({ bufferPool: pool });
  try {
    const rss0 = process.memoryUsage().rss;
    const total = scaled(32 << 20);
    // One long line without "\n": getLine with a limit must refuse it without buffering it all.
    const [r, w] = UM.socketpair(C.AF_UNIX!, C.SOCK_STREAM!, 0);
    const junk = Buffer.alloc(64 * 1024, 'a');
    let sent = 0;
    const writer = m.spin(async () => {
      try {
        while (sent < total) sent += await m.send(w, junk);
      } catch {
        // reader gone
      } finally {
        await m.close(w);
      }
    });
    const s = m.stream(r, { mode: 'recv', highWaterMark: 64 * 1024 });
    let peakPool = 0;
    await watchdog(m, 60_000, 'garbage line', async () => {
      // A refused line leaves the position unchanged: skip past it in bounded steps.
      for (;;) {
        const line = await s.getLine(null, 1000).catch((e: unknown) => {
          if ((e as { code?: string }).code !== 'ERR_UM_LINE_TOO_LONG') throw e;
          return null; // refused: the position is unchanged
        });
        peakPool = Math.max(peakPool, m.metrics().bufferPoolBytes);
        if (line !== null) break; // EOF with the unterminated tail is returned as a line
        if (s.buffered === 0) break;
        await s.skip(Math.min(s.buffered, 32 * 1024));
      }
      await s.release();
      await m.close(r);
      await m.join(writer);
    });
    tally.bytes += sent;
    const grew = process.memoryUsage().rss - rss0;
    assert.ok(peakPool <= pool.maxBytes, `pool ${peakPool}`);
    // A bound that catches buffering the whole input (total is 32 MiB or more).
    assert.ok(grew < Math.max(total / 2, 64 << 20), `RSS grew ${grew >> 20} MiB for ${total >> 20} MiB of garbage`);
  } finally {
    m.close();
  }
});

// ---- The HTTP example --------------------------------------------------------

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

function request(rng: Rng): { text: string; closes: boolean } {
  const method = rng.pick(['GET', 'POST', 'HEAD', 'PUT']);
  const target = '/' + asciiLine(rng, 30).replace(/[\s]/g, '_');
  const headers = [`Host: h${rng.int(100)}`];
  for (let k = rng.int(6); k > 0; k--) headers.push(`X-F${k}: ${asciiLine(rng, 200).trim()}`);
  let body = '';
  if (method === 'POST' || method === 'PUT' || rng.chance(0.1)) {
    body = asciiLine(rng, 3000);
    headers.push(`${rng.pick(['Content-Length', 'content-length', 'CONTENT-LENGTH'])}: ${body.length}`);
  }
  const closes = rng.chance(0.05);
  if (closes) headers.push('Connection: close');
  return { text: `${method} ${target} HTTP/1.1\r\n${headers.join('\r\n')}\r\n\r\n${body}`, closes };
}

async function exchange(port: number, rng: Rng, data: Buffer, until: (got: string) => boolean, end = false): Promise<string> {
  const s: Socket = await new Promise((resolve, reject) => {
    const c = connect(port, '127.0.0.1', () => resolve(c));
    c.once('error', reject);
  });
  return new Promise<string>((resolve, reject) => {
    let got = '';
    s.on('data', (d: Buffer) => {
      got += d.toString('latin1');
      if (until(got)) {
        s.destroy();
        resolve(got);
      }
    });
    s.once('error', (e: NodeJS.ErrnoException) => (e.code === 'ECONNRESET' || e.code === 'EPIPE' ? resolve(got) : reject(e)));
    s.once('close', () => resolve(got));
    void (async () => {
      const max = rng.pick([1, 7, 100, 5000]);
      for (let off = 0; off < data.length && !s.destroyed; ) {
        const len = rng.range(1, max);
        s.write(data.subarray(off, off + len));
        off += len;
        if (rng.chance(0.3)) await new Promise((r) => setImmediate(r));
      }
      if (!s.destroyed && (end || rng.chance(0.5))) s.end();
    })();
  });
}

test('examples/http-server: random splits of pipelined requests answered in full, garbage refused, server stays up', async () => {
  const rng = rngFor('fuzz http');
  const port = await freePort();
  const EXAMPLES = fileURLToPath(new URL('../../examples/', import.meta.url));
  const child: ChildProcess = spawn(process.execPath, [join(EXAMPLES, 'http-server.js')], {
    env: { ...process.env, PORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  try {
    for (let i = 0; i < 500 && !/listening/.test(out) && child.exitCode === null; i++) await new Promise((r) => setTimeout(r, 10));
    assert.match(out, /listening/, err);
    const rounds = scaled(40);
    let bad = 0;
    for (let r = 0; r < rounds; r++) {
      const jobs: Promise<void>[] = [];
      for (let c = 0; c < 8; c++) {
        if (rng.chance(0.7)) {
          // Valid pipelined requests: one 200 per request (up to a Connection: close).
          const reqs: string[] = [];
          let expect = 0;
          for (let k = rng.range(1, 20); k > 0; k--) {
            const q = request(rng);
            reqs.push(q.text);
            expect++;
            if (q.closes) break;
          }
          const done = (g: string): boolean => g.split('Hello, World!').length - 1 >= expect;
          jobs.push(
            exchange(port, rng, Buffer.from(reqs.join(''), 'latin1'), done).then((g) => {
              assert.equal(g.split('HTTP/1.1 200 OK\r\n').length - 1, expect, `round ${r}: ${expect} requests, got ${g.slice(0, 300)} (${seedNote()})`);
              tally.ops += expect;
            }),
          );
        } else {
          // Garbage: a mangled request or random bytes. Any answer must be a
          // well-formed status line, and the server must not die.
          const how = rng.int(4);
          let data: Buffer;
          if (how === 0) data = Buffer.from(Array.from({ length: rng.range(1, 20_000) }, () => rng.int(256)));
          else if (how === 1) data = Buffer.from(`GET / HTTP/1.1\r\nX: ${'a'.repeat(rng.range(8000, 20_000))}\r\n\r\n`);
          else if (how === 2) data = Buffer.from('POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n');
          else {
            const q = Buffer.from(request(rng).text, 'latin1');
            for (let k = rng.range(1, 5); k > 0; k--) q[rng.int(q.length)] = rng.int(256);
            data = q;
          }
          jobs.push(
            exchange(port, rng, data, (g) => /\r\n\r\n/.test(g) && /Connection: close/.test(g), true).then((g) => {
              if (g.length > 0) assert.match(g, /^HTTP\/1\.1 (200|400|431|501) /, `garbage ${how}: ${g.slice(0, 200)}`);
              bad++;
            }),
          );
        }
      }
      await Promise.all(jobs);
      assert.equal(child.exitCode, null, `server exited: ${err}`);
    }
    assert.ok(bad > 0);
  } finally {
    child.kill('SIGTERM');
    const code = await exited;
    assert.equal(err, '', 'http-server printed on stderr');
    assert.equal(code, 0);
  }
});
