// Issue 9.1: a cancel (timeout, terminate, schedule, abort) racing a
// completion must not lose what the kernel delivered. Records go through a
// pipe while every read and write is wrapped in a tiny timeout and retried
// after a TimeoutError; the reader checks that every record arrives exactly
// once, in order. Before the fix a read that completed with bytes after its
// timeout fired was rejected (bytes lost) and a write that completed was
// reported as timed out (retried: duplicated).
import assert from 'node:assert/strict';
import { writeSync } from 'node:fs';
import { test } from 'node:test';

import { constants as C, TimeoutError, UM } from 'uringmachine';
import { assertNoPendingOps, checkRaceRecords, createMachine, raceRecord, REC, tinyTimeouts } from '../helpers.js';

const tiny = tinyTimeouts(1);
const record = raceRecord;
const checkRecords = checkRaceRecords;

test('timeouts racing reads and writes on a pipe lose and duplicate nothing', async (t) => {
  const m = createMachine();
  t.after(() => m.close()); // on failure, stop the writer
  const [r, w] = UM.pipe();
  const N = Number(process.env.UM_RACE_RECORDS ?? 20_000);
  let readTimeouts = 0;
  let writeTimeouts = 0;
  let shortWrites = 0;
  const writer = m.spin(async () => {
    for (let i = 0; i < N; i++) {
      let rec = record(i);
      while (rec.length > 0) {
        try {
          // A few µs: expires about when the write completes.
          const n = await m.timeout(tiny(), () => m.write(w, rec));
          if (n < rec.length) shortWrites++;
          rec = rec.subarray(n);
        } catch (e) {
          if (!(e instanceof TimeoutError)) throw e;
          writeTimeouts++;
        }
      }
      // Gaps in the flow, so that reads wait and their timeouts fire.
      if ((i & 15) === 0) await m.sleep(tiny());
    }
    await m.close(w);
  });
  let next = 0;
  const buf = Buffer.alloc(REC * 64);
  let have = 0;
  for (;;) {
    let n: number;
    try {
      n = await m.timeout(tiny(), () => m.read(r, buf, buf.length - have, have));
    } catch (e) {
      if (!(e instanceof TimeoutError)) throw e;
      readTimeouts++;
      continue;
    }
    if (n === 0) break;
    have += n;
    const whole = have - (have % REC);
    next = checkRecords(buf.subarray(0, whole), next);
    buf.copy(buf, 0, whole, have);
    have -= whole;
  }
  await m.join(writer);
  await m.close(r);
  assert.equal(have, 0);
  assert.equal(next, N, `${N - next} records lost`);
  // The test only means something if timeouts really raced the ops.
  const raced = m.metrics().cancelsRaced;
  if (process.env.UM_SHOW) console.log({ readTimeouts, writeTimeouts, raced, shortWrites });
  assert.ok(raced > 0 && readTimeouts + writeTimeouts > 0, `timeouts ${readTimeouts}+${writeTimeouts}, races ${raced}`);
  void shortWrites;
  assertNoPendingOps(m);
});

test('a completion racing terminate is returned, Terminate raised at the next op', async () => {
  const m = createMachine();
  const rounds = 2000;
  let won = 0;
  let lost = 0;
  for (let k = 0; k < rounds; k++) {
    const [r, w] = UM.pipe();
    const got: number[] = [];
    const f = m.spin(async () => {
      const b = Buffer.alloc(16);
      const n = await m.read(r, b);
      got.push(n);
      await m.sleep(1000); // raises Terminate
      got.push(-1);
    });
    await m.snooze();
    // The data arrives (a plain write(2): the read's completion is queued as
    // task work at once) and the cancel goes in before the machine reaps it:
    // completion and cancel race in the kernel.
    writeSync(w, 'x');
    m.terminate(f);
    await m.join(f);
    if (got.length === 1) won++;
    else lost++;
    assert.ok(got.length <= 1, 'the op after a terminate ran');
    // Whatever happened, the byte is either returned or still in the pipe.
    await m.close(w);
    if (got.length === 0) assert.equal(await m.read(r, Buffer.alloc(16)), 1, 'byte lost');
    else assert.equal(got[0], 1);
    await m.close(r);
  }
  assert.equal(won + lost, rounds);
  assertNoPendingOps(m);
});

test('schedule(fiber, error) racing a completion: the value is returned and the error raised at the next op', async () => {
  const m = createMachine();
  const rounds = 2000;
  const err = new Error('wake up');
  let raisedLater = 0;
  for (let k = 0; k < rounds; k++) {
    const [r, w] = UM.pipe();
    let got = -2;
    let raised: unknown = null;
    const f = m.spin(async () => {
      const b = Buffer.alloc(16);
      try {
        got = await m.read(r, b);
      } catch (e) {
        raised = e;
        return;
      }
      try {
        await m.snooze();
        await m.sleep(0.001);
      } catch (e) {
        raised = e;
        raisedLater++;
      }
    });
    await m.snooze();
    writeSync(w, 'x');
    m.schedule(f, err);
    await m.join(f);
    assert.equal(raised, err, 'the scheduled error was lost');
    await m.close(w);
    if (got === -2) assert.equal(await m.read(r, Buffer.alloc(16)), 1, 'byte lost');
    else assert.equal(got, 1);
    await m.close(r);
  }
  void raisedLater;
  assertNoPendingOps(m);
});

test('writev and sendv interrupted after a short write resolve the short count: retries duplicate nothing', async (t) => {
  const m = createMachine();
  t.after(() => m.close());
  for (const kind of ['writev', 'sendv'] as const) {
    const [r, w] = kind === 'writev' ? UM.pipe() : UM.socketpair(C.AF_UNIX!, C.SOCK_STREAM!, 0);
    const total = 8 << 20;
    const data = Buffer.alloc(total);
    for (let i = 0; i < total; i += 4) data.writeUInt32LE(i, i);
    let short = 0;
    let timeouts = 0;
    const writer = m.spin(async () => {
      let off = 0;
      while (off < total) {
        const chunk = data.subarray(off, Math.min(total, off + 256 * 1024));
        // Two buffers, so that writev/sendv are the looping calls.
        const half = chunk.length >> 1;
        const bufs = [chunk.subarray(0, half), chunk.subarray(half)];
        try {
          const n = await m.timeout(0.5, () => (kind === 'writev' ? m.writev(w, bufs) : m.sendv(w, bufs)));
          if (n < chunk.length) short++;
          off += n;
        } catch (e) {
          if (!(e instanceof TimeoutError)) throw e;
          timeouts++;
        }
      }
      await m.close(w);
    });
    const got = Buffer.alloc(total + 1);
    let have = 0;
    for (;;) {
      const n = await m.read(r, got, Math.min(16 * 1024, got.length - have), have);
      if (n === 0) break; // EOF, or more bytes than were sent (a duplicate)
      have += n;
      if ((have & 0xffff) < 16 * 1024) await m.sleep(0.2); // a slow reader: writes block
    }
    await m.close(r); // a writer still writing (duplicates) then fails with EPIPE
    await m.join(writer).catch(() => undefined);
    assert.equal(have, total, `${kind}: ${have - total} bytes too many`);
    assert.ok(got.subarray(0, total).equals(data), `${kind}: stream differs`);
    assert.ok(short + timeouts > 0, `${kind}: nothing was interrupted`);
  }
  assertNoPendingOps(m);
});
