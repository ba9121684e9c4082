// Issue 9, item 5: writeAsync truncated and reordered (4 x 256 KiB to a
// pipe arrived as 256 KiB, in the order A D B C), dropped EAGAIN writes on
// non-blocking fds, and a close right after writeAsync could overtake the
// data. writeAsync now keeps one queue per fd, merges queued chunks into one
// writev, retries short writes, and close(fd) waits for the queue.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';

import { constants as C, UM, UMError, type UringMachine } from 'uringmachine';

import { assertNoPendingOps, createMachine, tmpDir, until } from '../helpers.js';

function sha(b: Uint8Array): string {
  return createHash('sha256').update(b).digest('hex');
}

/** Read fd until EOF in a fiber; resolves everything read. */
function readAll(m: UringMachine, fd: number): Promise<Buffer> {
  const f = m.spin(async () => {
    const parts: Buffer[] = [];
    for (;;) {
      const b = Buffer.allocUnsafe(65536);
      const n = await m.read(fd, b);
      if (n === 0) return Buffer.concat(parts);
      parts.push(b.subarray(0, n));
    }
  });
  return m.join(f);
}

test('writeAsync: 4 x 256 KiB to a pipe arrive whole and in order; close(fd) right after waits for them', async () => {
  const m = createMachine();
  const [r, w] = UM.pipe();
  const parts = [0x41, 0x42, 0x43, 0x44].map((c) => {
    const b = Buffer.alloc(256 * 1024, c);
    b.writeUInt32BE(c, 0); // mark each part's start
    return b;
  });
  const got = readAll(m, r);
  for (const p of parts) m.writeAsync(w, p);
  await m.close(w); // EOF for the reader: only after every byte went out
  const all = await got;
  assert.equal(all.length, 4 * 256 * 1024);
  assert.equal(sha(all), sha(Buffer.concat(parts)));
  await m.close(r);
  assertNoPendingOps(m);
});

test('writeAsync: 10,000 small chunks in order, merged into few writev ops', async () => {
  const m = createMachine();
  const [r, w] = UM.pipe();
  const got = readAll(m, r);
  const before = m.metrics().totalOps;
  for (let i = 0; i < 10_000; i++) {
    const b = Buffer.allocUnsafe(4);
    b.writeUInt32LE(i);
    m.writeAsync(w, b);
  }
  m.closeAsync(w);
  const all = await got;
  assert.equal(all.length, 40_000);
  for (let i = 0; i < 10_000; i++) assert.equal(all.readUInt32LE(4 * i), i, `chunk ${i}`);
  // One write in flight per fd; what queues behind it goes out as one
  // writev of up to 1024 chunks (the old code: one op per chunk).
  const writes = m.metrics().totalOps - before;
  assert.ok(writes < 200, `${writes} ops for 10,000 chunks`);
  await m.close(r);
  assertNoPendingOps(m);
});

test('writeAsync: positional writes to a file keep their offsets and their order', async (t) => {
  const m = createMachine();
  const p = join(tmpDir(t), 'f');
  const fd = await m.open(p, C.O_CREAT! | C.O_RDWR!, 0o600);
  // Blocks written back to front, each 4 KiB; then two overlapping writes
  // whose order decides the result; then appends at the current position.
  const expect = Buffer.alloc(64 * 1024);
  for (let i = 15; i >= 0; i--) {
    const b = Buffer.alloc(4096, 0x61 + i);
    m.writeAsync(fd, b, undefined, i * 4096);
    b.copy(expect, i * 4096);
  }
  m.writeAsync(fd, 'x'.repeat(100), undefined, 1000);
  m.writeAsync(fd, 'y'.repeat(100), undefined, 1050);
  expect.fill('x', 1000, 1100);
  expect.fill('y', 1050, 1150);
  // Contiguous positional chunks (merged into one writev at offset 8192).
  m.writeAsync(fd, 'one', undefined, 8192);
  m.writeAsync(fd, 'two', undefined, 8195);
  expect.write('onetwo', 8192);
  await m.close(fd);
  assert.equal(sha(readFileSync(p)), sha(expect));
  assertNoPendingOps(m);
});

test('writeAsync on a non-blocking pipe: EAGAIN waits for room instead of dropping data', async () => {
  const m = createMachine();
  const [r, w] = UM.pipe();
  UM.setNonblock(w, true);
  const data = Buffer.alloc(512 * 1024);
  for (let i = 0; i < data.length; i++) data[i] = (i * 7) & 255;
  let errors = 0;
  m.onWriteAsyncError = () => errors++;
  m.writeAsync(w, data);
  m.writeAsync(w, 'tail');
  await m.sleep(5); // let the pipe fill up before anyone reads
  const got = readAll(m, r);
  await m.close(w);
  assert.equal(sha(await got), sha(Buffer.concat([data, Buffer.from('tail')])));
  assert.equal(errors, 0);
  await m.close(r);
  assertNoPendingOps(m);
});

test('writeAsync: a failed write drops what was queued behind it and reports it once', async () => {
  const m = createMachine();
  const [r, w] = UM.pipe();
  await m.close(w); // w is now a closed fd number
  const reports: [unknown, number, number][] = [];
  m.onWriteAsyncError = (e, fd, dropped) => reports.push([e, fd, dropped]);
  m.writeAsync(w, 'abc');
  m.writeAsync(w, 'defg');
  m.writeAsync(w, Buffer.alloc(10));
  await until(m, () => reports.length > 0);
  assert.equal(reports.length, 1);
  const [e, fd, dropped] = reports[0]!;
  assert.ok(e instanceof UMError);
  assert.equal(e.code, 'EBADF');
  assert.equal(fd, w);
  assert.equal(dropped, 17);
  // The queue is usable again afterwards; a throwing handler does not break it.
  m.onWriteAsyncError = () => {
    throw new Error('handler failed');
  };
  const [r2, w2] = UM.pipe();
  m.writeAsync(w2, 'ok');
  await m.close(w2);
  const b = Buffer.alloc(4);
  assert.equal(await m.read(r2, b), 2);
  await m.close(r2);
  await m.close(r);
  assert.throws(() => (m.onWriteAsyncError = 1 as never), { code: 'ERR_INVALID_ARG_TYPE' });
  assertNoPendingOps(m);
});

test('writeAsync after close(fd) was requested is dropped and reported (EBADF), not written to a reused fd', async () => {
  const m = createMachine();
  const [r, w] = UM.pipe();
  const reports: string[] = [];
  m.onWriteAsyncError = (e) => reports.push((e as UMError).code);
  const got = readAll(m, r);
  m.writeAsync(w, Buffer.alloc(200 * 1024, 1)); // more than the pipe holds: still queued below
  const closed = m.close(w);
  m.writeAsync(w, 'late');
  await closed;
  assert.equal((await got).length, 200 * 1024);
  assert.deepEqual(reports, ['EBADF']);
  await m.close(r);
  assertNoPendingOps(m);
});

test('m.close() with writeAsync data queued reports it as dropped (MachineClosedError)', async () => {
  const m = createMachine();
  const [r, w] = UM.pipe();
  const reports: [string, number][] = [];
  m.onWriteAsyncError = (e, _fd, dropped) => reports.push([(e as { code: string }).code, dropped]);
  m.writeAsync(w, Buffer.alloc(128 * 1024)); // the pipe takes 64 KiB: the rest waits
  m.writeAsync(w, Buffer.alloc(1000));
  await m.sleep(5);
  m.close();
  assert.equal(reports.length, 1);
  assert.equal(reports[0]![0], 'ERR_UM_CLOSED');
  assert.ok(reports[0]![1] > 1000);
  const m2 = createMachine();
  await m2.close(r);
  await m2.close(w);
  assertNoPendingOps(m2);
});

test('close(fd) in a terminated fiber drops queued writeAsync data instead of waiting for a reader', async () => {
  const m = createMachine();
  const [r, w] = UM.pipe();
  const reports: [unknown, number][] = [];
  m.onWriteAsyncError = (e, _fd, dropped) => reports.push([e, dropped]);
  let closed = false;
  const f = m.spin(async () => {
    try {
      m.writeAsync(w, Buffer.alloc(256 * 1024)); // nobody reads: 64 KiB fit, the rest waits
      m.writeAsync(w, 'more');
      await m.sleep(Infinity);
    } finally {
      await m.close(w);
      closed = true;
    }
  });
  await m.sleep(5);
  m.terminate(f);
  await m.join(f);
  assert.ok(closed);
  assert.equal(reports.length, 1);
  assert.equal((reports[0]![0] as { code: string }).code, 'UM_TERMINATE');
  assert.ok(reports[0]![1] > 4, `dropped ${reports[0]![1]}`);
  // The data that made it into the pipe is there, then EOF.
  const got = await readAll(m, r);
  assert.equal(got.length + reports[0]![1], 256 * 1024 + 4);
  await m.close(r);
  assertNoPendingOps(m);
});

test('writeAsync then close(fd) in fibers terminated at random, 200 times: what the reader got is a prefix of the stream, and got + dropped = written', async () => {
  // A slow reader, a writer that queues numbered chunks and closes the pipe
  // in its finally, terminated 0-3 ms in: the close in the cancelled scope
  // cancels the write in flight and drops the rest, reporting exactly the
  // bytes it dropped. So every byte written is either read (in order, the
  // stream's prefix) or counted as dropped; none is both, none is neither.
  const m = createMachine();
  let dropped = 0;
  m.onWriteAsyncError = (e, _fd, n) => {
    assert.equal((e as { code?: string }).code, 'UM_TERMINATE', String(e));
    dropped += n;
  };
  const stats = { rounds: 0, cut: 0 };
  const stream = Buffer.alloc(512 * 1024);
  for (let i = 0; i < stream.length; i++) stream[i] = (i * 7 + (i >>> 12)) & 0xff;
  for (let round = 0; round < 200; round++) {
    const [r, w] = UM.pipe();
    dropped = 0;
    let written = 0;
    const writer = m.spin(async () => {
      try {
        for (let pos = 0; pos < stream.length; ) {
          const n = Math.min(stream.length - pos, 1000 + ((round * 7919 + pos) % 30_000));
          m.writeAsync(w, stream.subarray(pos, pos + n));
          written += n;
          pos += n;
          if (pos % 3 === 0) await m.sleep(0.05);
          else await m.snooze();
        }
      } finally {
        await m.close(w);
      }
    });
    const reader = m.spin(async () => {
      const got = Buffer.alloc(stream.length + 1); // room for one byte too many: it would fail the check
      let n = 0;
      for (;;) {
        const k = await m.read(r, got.subarray(n), Math.min(8192, got.length - n));
        if (k === 0) break;
        n += k;
        await m.sleep(0.05);
      }
      return got.subarray(0, n);
    });
    await m.sleep((round % 4) * 1);
    m.terminate(writer);
    await m.join(writer);
    const got = (await m.join(reader))!;
    assert.ok(got.equals(stream.subarray(0, got.length)), `round ${round}: the bytes read are the stream's first ${got.length}`);
    assert.equal(got.length + dropped, written, `round ${round}: read ${got.length} + dropped ${dropped} = written ${written}`);
    if (dropped > 0) stats.cut++;
    stats.rounds++;
    await m.close(r);
  }
  assert.ok(stats.cut > 0, JSON.stringify(stats));
  assertNoPendingOps(m);
});
