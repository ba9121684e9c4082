// Streams: getLine (buffer and limit semantics), getString, readToEof, skip,
// over pool buffers small enough that every value spans several of them.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { LineTooLongError, Stream, TimeoutError, UM, constants, type UringMachine } from 'uringmachine';

import { assertNoPendingOps, createMachine, tcpPair } from './helpers.js';

const { AF_UNIX, SOCK_STREAM } = constants as Record<string, number>;

/** Tiny pool buffers: every line of more than 16 bytes crosses a buffer boundary. */
function machine(): UringMachine {
  return createMachine({ bufferPool: { bufferSize: 16, initialBuffers: 4, maxBytes: 4096 } });
}

const KINDS = ['pipe', 'socketpair', 'tcp'] as const;

async function pair(m: UringMachine, kind: (typeof KINDS)[number]): Promise<[number, number]> {
  if (kind === 'tcp') {
    const [a, b, l] = await tcpPair(m);
    await m.close(l);
    return [a, b];
  }
  return kind === 'pipe' ? UM.pipe() : UM.socketpair(AF_UNIX!, SOCK_STREAM!, 0);
}

/** Write each piece with a pause, so pieces arrive as separate completions. */
function feed(m: UringMachine, fd: number, pieces: (string | Buffer)[], close = true) {
  return m.spin(async () => {
    for (const p of pieces) {
      await m.write(fd, p);
      await m.sleep(1);
    }
    if (close) await m.close(fd);
  });
}

for (const kind of KINDS) {
  test(`${kind}: getLine across buffer boundaries, CRLF split between completions, EOF`, async () => {
    const m = machine();
    const [r, w] = await pair(m, kind);
    const long = 'a line that is much longer than one sixteen-byte pool buffer';
    const f = feed(m, w, ['one\r\ntw', 'o\n', `${long}\r`, '\nfour\r', '\n', 'ü€𝄞 unicode split\n', 'last, unterminated']);
    const s = m.stream(r, { mode: kind === 'tcp' ? 'recv' : 'read' });
    assert.equal(await s.getLine(), 'one');
    assert.equal(await s.getLine(), 'two');
    assert.equal(await s.getLine(), long);
    assert.equal(await s.getLine(), 'four');
    assert.equal(await s.getLine(), 'ü€𝄞 unicode split');
    assert.equal(await s.getLine(), 'last, unterminated');
    assert.equal(await s.getLine(), null);
    assert.equal(await s.getLine(), null);
    await m.join(f);
    assert.equal(m.metrics().bufferPoolInUse, 0, 'every pool buffer returned');
    await m.close(r);
    assertNoPendingOps(m);
  });

  test(`${kind}: getLine limit: a longer line rejects with LineTooLongError (not null, which is EOF) and the position is unchanged; buf`, async () => {
    const m = machine();
    const [r, w] = await pair(m, kind);
    const f = feed(m, w, ['0123456789ABCDEFGHIJ\r\n', 'short\n', 'exactly10!\r\n', 'into a buffer\n', 'too long for buf\n', 'unterminated, too long']);
    const s = m.stream(r);
    const tooLong = (limit: number) => (e: unknown) => e instanceof LineTooLongError && e.code === 'ERR_UM_LINE_TOO_LONG' && e.limit === limit;
    await assert.rejects(s.getLine(null, 10), tooLong(10), 'longer than 10');
    await assert.rejects(s.getLine(null, -10), tooLong(10), 'negative limit: same as |limit|');
    assert.equal(await s.getLine(null, 20), '0123456789ABCDEFGHIJ', 'position unchanged');
    assert.equal(await s.getLine(null, 10), 'short');
    assert.equal(await s.getLine(null, 10), 'exactly10!', 'limit counts the line without CRLF');
    const buf = Buffer.alloc(13);
    const got = await s.getLine(buf);
    assert.ok(Buffer.isBuffer(got));
    assert.equal(got.buffer, buf.buffer, 'a subarray of buf');
    assert.equal(got.toString(), 'into a buffer');
    await assert.rejects(s.getLine(Buffer.alloc(5)), tooLong(5), 'longer than buf');
    assert.equal(await s.getLine(), 'too long for buf');
    await m.join(f); // feed closed w
    // At EOF: an unterminated last line over the limit is too long, not EOF; then EOF is null.
    await assert.rejects(s.getLine(null, 5), tooLong(5));
    assert.equal(await s.getLine(), 'unterminated, too long');
    assert.equal(await s.getLine(null, 5), null);
    await m.close(r);
    assertNoPendingOps(m);
  });

  test(`${kind}: getString exact and up-to lengths, skip, readToEof`, async () => {
    const m = machine();
    const [r, w] = await pair(m, kind);
    const f = feed(m, w, ['HEADER', '0123456789', 'abcdefghijklmnopqrstuvwxyz', 'REST OF THE DATA']);
    const s = m.stream(r);
    assert.equal((await s.getString(6))!.toString(), 'HEADER');
    const into = Buffer.alloc(20);
    const ten = await s.getString(10, into);
    assert.equal(ten!.toString(), '0123456789');
    assert.equal(ten!.buffer, into.buffer);
    await s.skip(3);
    const upTo = await s.getString(-100);
    assert.ok(upTo!.length >= 1 && upTo!.length <= 23, 'up to |len|, what is there');
    assert.ok('defghijklmnopqrstuvwxyz'.startsWith(upTo!.toString()));
    await s.skip(23 - upTo!.length);
    assert.equal((await s.readToEof()).toString(), 'REST OF THE DATA');
    assert.equal((await s.readToEof()).length, 0);
    assert.equal(await s.getString(1), null, 'EOF');
    assert.equal(await s.getString(-1), null, 'EOF');
    await m.join(f);
    await m.close(r);
    assertNoPendingOps(m);
  });
}

test('getString(len) at EOF with fewer bytes: null, and the bytes stay readable', async () => {
  const m = machine();
  const [r, w] = UM.pipe();
  await m.write(w, 'abc');
  await m.close(w);
  const s = m.stream(r);
  assert.equal(await s.getString(10), null);
  assert.equal((await s.getString(3))!.toString(), 'abc');
  await m.close(r);
  assertNoPendingOps(m);
});

test('readToEof: several MiB (past the high-water mark), byte for byte, into a new buffer and into buf', async () => {
  const m = createMachine({ bufferPool: { bufferSize: 4096, initialBuffers: 4, maxBytes: 256 * 1024 } });
  for (const withBuf of [false, true]) {
    const [r, w] = UM.pipe();
    const data = Buffer.alloc(5 * 1024 * 1024);
    for (let i = 0; i < data.length; i++) data[i] = (i * 31 + (i >> 12)) & 255;
    const f = m.spin(async () => {
      let off = 0;
      while (off < data.length) off += await m.write(w, data.subarray(off, off + 65536));
      await m.close(w);
    });
    const s = m.stream(r, { highWaterMark: 64 * 1024 });
    const out = withBuf ? await s.readToEof(Buffer.alloc(data.length + 10)) : await s.readToEof();
    assert.equal(out.length, data.length);
    assert.ok(out.equals(data));
    await m.join(f);
    await m.close(r);
  }
  assert.ok(m.metrics().bufferPoolBytes <= 256 * 1024);
  assertNoPendingOps(m);
});

test('a read waiting in getLine is cancelled by timeout; the bytes that come later are not lost', async () => {
  const m = machine();
  const [r, w] = UM.pipe();
  const s = m.stream(r);
  await m.write(w, 'partial ');
  await assert.rejects(m.timeout(5, () => s.getLine()), TimeoutError);
  assert.equal(m.metrics().opsPending, 0, 'the kernel op was cancelled');
  await m.write(w, 'line\nnext\n');
  assert.equal(await s.getLine(), 'partial line');
  assert.equal(await s.getLine(), 'next');
  // terminate while waiting
  const f = m.spin(() => s.getLine());
  await m.sleep(2);
  m.terminate(f);
  await m.join(f);
  assert.equal(m.metrics().opsPending, 0);
  await m.close(w);
  assert.equal(await s.getLine(), null);
  await m.close(r);
  assertNoPendingOps(m);
});

test('release(): the op is cancelled, unread bytes go to the next reader of the fd', async () => {
  const m = machine();
  const [r, w] = UM.pipe();
  const s = m.stream(r);
  await m.write(w, 'first\nsecond\nthird\n');
  assert.equal(await s.getLine(), 'first');
  await s.release();
  assert.equal(m.metrics().opsPending, 0);
  assert.equal(m.metrics().bufferPoolInUse, 0);
  const s2 = m.stream(r);
  assert.equal(await s2.getLine(), 'second');
  await s2.release();
  const parts: string[] = [];
  await m.close(w);
  for await (const c of m.readEach(r)) parts.push(c.toString());
  assert.equal(parts.join(''), 'third\n');
  await m.close(r);
  assertNoPendingOps(m);
});

test('stream: wrong argument types throw or reject before anything is submitted', async () => {
  const m = machine();
  const [r, w] = UM.pipe();
  assert.throws(() => m.stream('x' as never), { code: 'ERR_INVALID_ARG_TYPE' });
  assert.throws(() => m.stream(r, { mode: 'nope' as never }), { code: 'ERR_INVALID_ARG_TYPE' });
  assert.throws(() => m.stream(r, 5 as never), { code: 'ERR_INVALID_ARG_TYPE' });
  const s = m.stream(r);
  const before = m.metrics().totalOps;
  await assert.rejects(s.getLine('x' as never), { code: 'ERR_INVALID_ARG_TYPE' });
  await assert.rejects(s.getLine(null, 1.5), { code: 'ERR_OUT_OF_RANGE' });
  await assert.rejects(s.getString('3' as never), { code: 'ERR_INVALID_ARG_TYPE' });
  await assert.rejects(s.getString(10, Buffer.alloc(2)), { code: 'ERR_OUT_OF_RANGE' });
  await assert.rejects(s.skip(-1), { code: 'ERR_OUT_OF_RANGE' });
  await assert.rejects(s.readToEof(7 as never), { code: 'ERR_INVALID_ARG_TYPE' });
  assert.equal(m.metrics().totalOps, before);
  await m.close(r);
  await m.close(w);
  assertNoPendingOps(m);
});

test('a line longer than the whole pool is still read (the stream moves it out of the pool under pressure)', async () => {
  const m = createMachine({ bufferPool: { bufferSize: 64, initialBuffers: 2, maxBytes: 1024 } });
  const [r, w] = UM.pipe();
  const line = 'L'.repeat(50_000);
  const f = m.spin(async () => {
    const b = Buffer.from(`${line}\nshort\n`);
    for (let off = 0; off < b.length; ) off += await m.write(w, b.subarray(off));
    await m.close(w);
  });
  const s = m.stream(r);
  assert.equal(await s.getLine(), line);
  assert.equal(await s.getLine(), 'short');
  assert.equal(await s.getLine(), null);
  assert.ok(m.metrics().bufferPoolBytes <= 1024);
  await m.join(f);
  await m.close(r);
  assertNoPendingOps(m);
});

test('a stream of a closed machine rejects with MachineClosedError, also with bytes still buffered', async () => {
  const m = machine();
  const [r, w] = UM.pipe();
  await m.write(w, 'one\ntwo\n');
  const s = m.stream(r);
  assert.equal(await s.getLine(), 'one');
  m.close();
  await assert.rejects(s.getLine(), { code: 'ERR_UM_CLOSED' });
  await assert.rejects(s.getString(1), { code: 'ERR_UM_CLOSED' });
  await assert.rejects(s.readToEof(), { code: 'ERR_UM_CLOSED' });
  await assert.rejects(s.respDecode(), { code: 'ERR_UM_CLOSED' });
  assert.throws(() => m.stream(r), { code: 'ERR_UM_CLOSED' });
  const m2 = createMachine();
  await m2.close(r);
  await m2.close(w);
  assertNoPendingOps(m2);
});

test('getLine, skip and respDecode cut by m.timeout and terminate while records trickle in: every record once, in order', async () => {
  // Records arrive in fragments about as often as the reads time out, so
  // the cancels land while a line or a RESP value is half received: what
  // was buffered must stay for the retry (and never be consumed twice).
  const m = machine();
  const N = 800;
  const stats = { timeouts: 0, terminated: 0 };
  for (const kind of ['line', 'resp'] as const) {
    const [r, w] = UM.pipe();
    const s = m.stream(r);
    const writer = m.spin(async () => {
      for (let i = 0; i < N; i++) {
        // a filler skip() must jump over, then the record, in two writes
        const rec = kind === 'line' ? `record ${i} ${'x'.repeat(i % 50)}\n` : Stream.respEncode([i, `v${i}`]).toString('latin1');
        const whole = `##${rec}`;
        const cut = 1 + (i % (whole.length - 1));
        await m.write(w, whole.slice(0, cut));
        await m.sleep(0.5);
        await m.write(w, whole.slice(cut));
        await m.sleep(0.5);
      }
      await m.close(w);
    });
    let attempt = 0;
    const read = async (step: () => Promise<unknown>): Promise<unknown> => {
      for (;;) {
        if (attempt++ % 3 === 2) {
          const f = m.spin(step);
          await m.sleep(0.5);
          m.terminate(f);
          const v = await m.join(f);
          if (v !== undefined) return v;
          stats.terminated++;
          continue;
        }
        try {
          return await m.timeout(1, step);
        } catch (e) {
          assert.ok(e instanceof TimeoutError, String(e));
          stats.timeouts++;
        }
      }
    };
    for (let i = 0; i < N; i++) {
      await read(() => s.skip(2));
      const v = await read(() => (kind === 'line' ? s.getLine() : s.respDecode()));
      if (kind === 'line') assert.equal(v, `record ${i} ${'x'.repeat(i % 50)}`);
      else assert.deepEqual(v, [i, `v${i}`]);
    }
    await m.join(writer);
    assert.equal(await s.getLine(), null, `${kind}: nothing after the last record`);
    await m.close(r);
  }
  assert.ok(stats.timeouts > 0 && stats.terminated > 0, JSON.stringify(stats));
  assertNoPendingOps(m);
});
