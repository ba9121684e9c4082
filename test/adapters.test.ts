// Node and Web stream adapters (issue 10): m.toReadable, m.toWritable,
// m.toDuplex, m.toWebStreams. Every test checks at its end that no op is
// pending, no fiber is alive and no fd leaked (/proc/self/fd).
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, fstatSync, openSync, readdirSync, readlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ReadableStream } from 'node:stream/web';
import test from 'node:test';
import zlib from 'node:zlib';

import { constants, UM, UMError, type UringMachine } from 'uringmachine';

import { assertNoPendingOps, createMachine, LOOP_INODES, tcpPair, tmpDir, until } from './helpers.js';

/** MiB of the gzip round trip: 256 by default (UM_ADAPTER_FILE_MIB makes it smaller, e.g. under ASan). */
const FILE_MIB = Number(process.env.UM_ADAPTER_FILE_MIB ?? 256);

function isOpen(fd: number): boolean {
  try {
    fstatSync(fd);
    return true;
  } catch {
    return false;
  }
}

/** The open fds and what they are. */
function fdTable(): Map<string, string> {
  const t = new Map<string, string>();
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      t.set(fd, readlinkSync(`/proc/self/fd/${fd}`));
    } catch {
      // closed meanwhile (the directory's own fd)
    }
  }
  return t;
}

/**
 * A machine plus the fds open at the start; finish() checks that no op is
 * left and no file, pipe or socket was left open. Anonymous inodes are not
 * counted: the machine's own ring and eventfd are closed by then (m.close()),
 * and Node 24's libuv sets up an io_uring and eventfds of its own lazily.
 */
function setup(): { m: UringMachine; finish: () => Promise<void> } {
  const before = fdTable();
  const m = createMachine();
  return {
    m,
    finish: async () => {
      await until(m, () => m.metrics().opsPending === 0 && m.metrics().opsTransient === 0, 5000, 'ops done');
      assertNoPendingOps(m);
      const leaked = [...fdTable()].filter(([fd, what]) => before.get(fd) !== what && !LOOP_INODES.has(what));
      assert.deepEqual(leaked, [], 'fds leaked');
    },
  };
}

/** Resolves once `s` has emitted 'close' (at once if it already has). */
function closed(s: { closed: boolean; once(ev: 'close', fn: () => void): unknown }): Promise<void> {
  return s.closed ? Promise.resolve() : new Promise((resolve) => s.once('close', () => resolve()));
}

function sha(): { update(b: Uint8Array): void; hex(): string } {
  const h = createHash('sha256');
  return { update: (b) => h.update(b), hex: () => h.digest('hex') };
}

test(`${FILE_MIB} MiB file: toReadable -> gzip -> gunzip -> toWritable, byte-exact`, async (t) => {
  const { m, finish } = setup();
  const dir = tmpDir(t);
  const src = join(dir, 'in.bin');
  const dst = join(dir, 'out.bin');
  // 1 MiB blocks: random bytes with a run of the block number, so gzip has
  // both incompressible and compressible input.
  const inHash = sha();
  const w = openSync(src, 'w');
  const block = Buffer.allocUnsafe(1 << 20);
  for (let i = 0; i < FILE_MIB; i++) {
    randomBytes(1 << 19).copy(block, 0);
    block.fill(i & 0xff, 1 << 19);
    inHash.update(block);
    writeSync(w, block);
  }
  closeSync(w);
  const rfd = openSync(src, 'r');
  const wfd = openSync(dst, 'w');
  const r = m.toReadable(rfd);
  const seen = sha();
  let total = 0;
  const tap = new Writable({
    write(chunk: Buffer, _e, cb) {
      seen.update(chunk);
      total += chunk.length;
      cb();
    },
  });
  await pipeline(r, zlib.createGzip({ level: 1 }), zlib.createGunzip(), m.toWritable(wfd));
  assert.ok(r.destroyed && !isOpen(rfd) && !isOpen(wfd), 'both fds closed by the adapters');
  // Hash the output end as written on disk.
  await pipeline(m.toReadable(openSync(dst, 'r')), tap);
  assert.equal(total, FILE_MIB << 20);
  assert.equal(seen.hex(), inHash.hex());
  await finish();
});

test('stream.pipeline between two pipes (toReadable of one, toWritable of the other)', async () => {
  const { m, finish } = setup();
  const [r1, w1] = UM.pipe();
  const [r2, w2] = UM.pipe();
  const data = randomBytes(3 << 20);
  const writer = m.spin(async () => {
    for (let off = 0; off < data.length; off += 100_000) await m.writev(w1, [data.subarray(off, off + 100_000)]);
    await m.close(w1);
  });
  const reader = m.spin(async () => {
    const parts: Buffer[] = [];
    for await (const c of m.readEach(r2)) parts.push(c);
    await m.close(r2);
    return Buffer.concat(parts);
  });
  await pipeline(m.toReadable(r1), m.toWritable(w2));
  const [, got] = await m.join(writer, reader);
  assert.ok((got as Buffer).equals(data));
  assert.ok(!isOpen(r1) && !isOpen(w2));
  await finish();
});

test('Duplex over a socketpair, both ways; half-close: end() on one side is EOF on the other, which can still write', async () => {
  const { m, finish } = setup();
  const [a, b] = UM.socketpair(constants.AF_UNIX, constants.SOCK_STREAM, 0);
  const da = m.toDuplex(a, { allowHalfOpen: true });
  const db = m.toDuplex(b, { allowHalfOpen: true });
  const ab = randomBytes(1 << 20);
  const ba = randomBytes(700_000);
  const collect = (d: NodeJS.ReadableStream): Promise<Buffer> =>
    new Promise((resolve, reject) => {
      const parts: Buffer[] = [];
      d.on('data', (c: Buffer) => parts.push(c));
      d.on('end', () => resolve(Buffer.concat(parts)));
      d.on('error', reject);
    });
  const gotB = collect(db);
  const gotA = collect(da);
  da.end(ab);
  // b sees a's EOF first, then answers: a half-closed socket still reads.
  const fromA = await gotB;
  assert.ok(fromA.equals(ab));
  assert.equal(da.readableEnded, false, 'a has not seen EOF yet: b has not ended');
  db.end(ba);
  assert.ok((await gotA).equals(ba));
  await Promise.all([closed(da), closed(db)]);
  assert.ok(!isOpen(a) && !isOpen(b));
  await finish();
});

test('TCP Duplex: end() is shutdown(SHUT_WR) (the peer reads EOF); without allowHalfOpen the peer\'s EOF ends our side too, like node:net', async () => {
  const { m, finish } = setup();
  const [srv, cli, listener] = await tcpPair(m);
  await m.close(listener);
  const d = m.toDuplex(srv);
  d.write('ping');
  d.end();
  const buf = Buffer.alloc(16);
  let got = '';
  for (;;) {
    const n = await m.recv(cli, buf);
    if (n === 0) break;
    got += buf.toString('utf8', 0, n);
  }
  assert.equal(got, 'ping');
  // Our writable side has ended; now the peer's EOF.
  const ended = new Promise<string>((resolve) => {
    let s = '';
    d.on('data', (c: Buffer) => (s += c.toString()));
    d.on('end', () => resolve(s));
  });
  await m.send(cli, 'pong');
  await m.shutdown(cli, constants.SHUT_WR);
  assert.equal(await ended, 'pong');
  await closed(d);
  assert.ok(!isOpen(srv), 'closed after both sides ended');
  assert.equal((d as unknown as { bytesRead: number }).bytesRead, 4);
  assert.equal((d as unknown as { bytesWritten: number }).bytesWritten, 4);
  await m.close(cli);
  await finish();
});

test('a Readable made from a Stream continues after what the Stream already buffered', async () => {
  const { m, finish } = setup();
  const [r, w] = UM.pipe();
  const tail = randomBytes(200_000).toString('hex');
  const writer = m.spin(async () => {
    await m.writev(w, [`first line\nsecond line\n${tail}`]);
    await m.close(w);
  });
  const s = m.stream(r);
  assert.equal(await s.getLine(), 'first line');
  let rest = '';
  for await (const c of m.toReadable(s)) rest += (c as Buffer).toString();
  await m.join(writer);
  assert.equal(rest, `second line\n${tail}`);
  assert.ok(!isOpen(r));
  await finish();
});

for (const kind of ['AF_UNIX socketpair (one-shot recv)', 'TCP (multishot recv once the consumer keeps up)']) test(`backpressure over ${kind}: a slow consumer of a fast producer keeps at most about highWaterMark buffered`, async () => {
  const { m, finish } = setup();
  let a: number, b: number;
  if (kind.startsWith('TCP')) {
    const [s, c, l] = await tcpPair(m);
    await m.close(l);
    [a, b] = [c, s];
  } else [a, b] = UM.socketpair(constants.AF_UNIX, constants.SOCK_STREAM, 0);
  const TOTAL = 8 << 20;
  const HWM = 64 << 10;
  const chunk = Buffer.alloc(1 << 16, 7);
  let produced = 0;
  const producer = m.spin(async () => {
    while (produced < TOTAL) produced += await m.write(a, chunk, Math.min(chunk.length, TOTAL - produced));
    await m.close(a);
  });
  const rd = m.toReadable(b, { highWaterMark: HWM });
  let consumed = 0;
  let maxBuffered = 0;
  let producerAhead = 0;
  const slow = new Writable({
    highWaterMark: 1,
    write(c: Buffer, _e, cb) {
      consumed += c.length;
      // Bytes the adapter read from the socket that the consumer has not
      // taken yet: the Readable's buffer plus what is on its way.
      maxBuffered = Math.max(maxBuffered, (rd as unknown as { bytesRead: number }).bytesRead - consumed);
      producerAhead = Math.max(producerAhead, produced - consumed);
      setTimeout(cb, 1);
    },
  });
  await pipeline(rd, slow);
  await m.join(producer);
  assert.equal(consumed, TOTAL);
  // The producer ran far ahead (the kernel's socket buffer held the rest) ...
  assert.ok(producerAhead > 4 * HWM, `producer ran ahead by ${producerAhead}`);
  // ... while the adapter kept only about one highWaterMark plus a batch of
  // completions (a few pool buffers) in memory.
  assert.ok(maxBuffered <= HWM + 4 * 65536, `buffered up to ${maxBuffered} bytes`);
  await finish();
});

test('queued writes go out merged: 100 writes while the first is in flight take 2 ops', async () => {
  const { m, finish } = setup();
  const [r, w] = UM.pipe();
  const wr = m.toWritable(w, { highWaterMark: 1 << 20 });
  const before = m.metrics().totalOps;
  for (let i = 0; i < 99; i++) wr.write(`chunk ${String(i).padStart(3, '0')}\n`);
  await new Promise<void>((resolve, reject) => wr.write('chunk 099\n', (e?: Error | null) => (e ? reject(e) : resolve())));
  const ops = m.metrics().totalOps - before;
  wr.end();
  assert.equal(ops, 2, 'one write, then one op (a writev, or one write of their concatenation) for the 99 queued');
  const buf = Buffer.alloc(4096);
  const n = await m.read(r, buf);
  assert.equal(n, 1000);
  assert.equal(buf.toString('utf8', 990, 1000), 'chunk 099\n');
  await closed(wr);
  await m.close(r);
  await finish();
});

test('a bad fd: the Readable emits EBADF, the write callback gets EBADF', async () => {
  const { m, finish } = setup();
  const bad = 987654;
  const r = m.toReadable(bad);
  const err = await new Promise<unknown>((resolve) => r.on('error', resolve).resume());
  assert.ok(err instanceof UMError);
  assert.equal(err.code, 'EBADF');
  const wr = m.toWritable(bad);
  wr.on('error', () => {});
  const werr = await new Promise<unknown>((resolve) => wr.write('x', resolve));
  assert.ok(werr instanceof UMError);
  assert.equal(werr.code, 'EBADF');
  await finish();
});

test('a write error reaches the callback and "error": EPIPE on a pipe whose reader is gone', async () => {
  const { m, finish } = setup();
  const [r, w] = UM.pipe();
  await m.close(r);
  const wr = m.toWritable(w);
  const emitted = new Promise<unknown>((resolve) => wr.on('error', resolve));
  const cbErr = await new Promise<unknown>((resolve) => wr.write(Buffer.alloc(10), resolve));
  assert.ok(cbErr instanceof UMError);
  assert.equal(cbErr.code, 'EPIPE');
  assert.equal(await emitted, cbErr);
  await closed(wr);
  assert.ok(!isOpen(w));
  await finish();
});

test('destroy() cancels the pending read and closes the fd; autoClose: false leaves it open and loses no byte', async () => {
  const { m, finish } = setup();
  const [r, w] = UM.pipe();
  const rd = m.toReadable(r);
  rd.on('data', () => {});
  await until(m, () => m.metrics().opsPending === 1, 1000, 'read pending');
  rd.destroy();
  await closed(rd);
  assert.equal(m.metrics().opsPending, 0);
  assert.ok(!isOpen(r));
  await m.close(w);

  const [r2, w2] = UM.pipe();
  const rd2 = m.toReadable(r2, { autoClose: false });
  const first = new Promise<Buffer>((res) => rd2.once('data', res));
  await m.write(w2, 'abc');
  assert.equal((await first).toString(), 'abc');
  rd2.pause();
  rd2.destroy();
  await closed(rd2);
  assert.ok(isOpen(r2));
  await m.write(w2, 'def');
  const buf = Buffer.alloc(8);
  const n = await m.read(r2, buf);
  assert.equal(buf.toString('utf8', 0, n), 'def');
  await m.close(r2);
  await m.close(w2);
  await finish();
});

test('destroy() while a write is pending: the op is cancelled (ERR_STREAM_DESTROYED at its callback), nothing stays pending, the fd is closed', async () => {
  const { m, finish } = setup();
  const [r, w] = UM.pipe();
  const wr = m.toWritable(w);
  // More than the pipe holds, nobody reading: the write stays pending.
  const cbErr = new Promise<unknown>((resolve) => wr.write(Buffer.alloc(1 << 20), resolve));
  wr.on('error', () => {});
  await until(m, () => m.metrics().opsPending === 1, 1000, 'write pending');
  wr.destroy();
  await closed(wr);
  assert.equal(m.metrics().opsPending, 0);
  assert.ok(!isOpen(w));
  const e = (await cbErr) as { code?: string };
  assert.equal(e?.code, 'ERR_STREAM_DESTROYED', 'the write callback got the cancel error');
  await m.close(r);
  await finish();
});

test('Web Streams: pipeThrough(CompressionStream) and pipeTo over pipes, byte-exact', async () => {
  const { m, finish } = setup();
  const [r1, w1] = UM.pipe();
  const [r2, w2] = UM.pipe();
  const data = randomBytes(1 << 20);
  const src = m.toWebStreams(r1);
  const dst = m.toWebStreams(w2);
  assert.ok(src.readable instanceof ReadableStream);
  // Only one direction of each pipe is used: the other side is closed at once.
  await src.writable.close();
  const out = dst.readable.cancel();
  const producer = m.spin(async () => {
    for (let off = 0; off < data.length; off += 65536) await m.writev(w1, [data.subarray(off, off + 65536)]);
    await m.close(w1);
  });
  const consumer = m.spin(async () => {
    const parts: Buffer[] = [];
    for await (const c of m.readEach(r2)) parts.push(c);
    await m.close(r2);
    return Buffer.concat(parts);
  });
  await src.readable.pipeThrough(new CompressionStream('gzip')).pipeTo(dst.writable);
  await out;
  const [, gz] = await m.join(producer, consumer);
  assert.ok(zlib.gunzipSync(gz as Buffer).equals(data));
  assert.ok(!isOpen(r1) && !isOpen(w2));
  await finish();
});

test('Web Streams: a BYOB reader on the byte stream; the fd stays open with autoClose: false', async () => {
  const { m, finish } = setup();
  const [r, w] = UM.pipe();
  const { readable, writable } = m.toWebStreams(r, { autoClose: false });
  await writable.abort();
  await m.write(w, 'hello web');
  await m.close(w);
  const reader = readable.getReader({ mode: 'byob' });
  let text = '';
  for (;;) {
    const { value, done } = await reader.read(new Uint8Array(4));
    if (done) break;
    text += Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString();
  }
  assert.equal(text, 'hello web');
  await until(m, () => m.metrics().opsPending === 0, 1000, 'read done');
  assert.ok(isOpen(r));
  await m.close(r);
  await finish();
});

test('bad arguments throw before anything is submitted', async () => {
  const { m, finish } = setup();
  assert.throws(() => m.toReadable('x' as unknown as number), { code: 'ERR_INVALID_ARG_TYPE' });
  assert.throws(() => m.toWritable(m.stream(0) as unknown as number), { code: 'ERR_INVALID_ARG_TYPE' });
  assert.throws(() => m.toDuplex(-1), { code: 'ERR_OUT_OF_RANGE' });
  assert.throws(() => m.toWebStreams(0, { highWaterMark: 0 }), { code: 'ERR_OUT_OF_RANGE' });
  assert.throws(() => m.toReadable(0, { autoClose: 1 as unknown as boolean }), { code: 'ERR_INVALID_ARG_TYPE' });
  assert.equal(m.metrics().totalOps, 0);
  await finish();
});
