// Found by the stress harness (test/stress/race.test.ts, stream reads under
// m.schedule/terminate): a readToEof cancelled after it had moved buffered
// bytes out of the pool (past highWaterMark / 2) dropped them, so the next
// read of the stream skipped them. They now go back to the front of the
// stream, unconsumed, whatever ends the call (cancel, error, buf too small).
import assert from 'node:assert/strict';
import { closeSync, writeSync } from 'node:fs';
import { test } from 'node:test';

import { TimeoutError, UM } from 'uringmachine';
import { assertNoPendingOps, createMachine } from '../helpers.js';

test('a timed-out readToEof keeps the bytes it had read: the next read returns them', async () => {
  const m = createMachine();
  const [r, w] = UM.pipe();
  const data = Buffer.alloc(10_000);
  for (let i = 0; i < data.length; i++) data[i] = i * 7;
  writeSync(w, data);
  const s = m.stream(r, { mode: 'read', highWaterMark: 4096 });
  // The writer stays open: readToEof cannot end before its timeout.
  await assert.rejects(m.timeout(50, () => s.readToEof()), TimeoutError);
  assert.equal(s.buffered, data.length);
  writeSync(w, 'z');
  closeSync(w);
  const rest = await s.readToEof();
  assert.ok(rest.equals(Buffer.concat([data, Buffer.from('z')])), `${rest.length} bytes`);
  await s.release();
  await m.close(r);
  assertNoPendingOps(m);
});

test('readToEof into a buf too small rejects RangeError and loses nothing', async () => {
  const m = createMachine();
  const [r, w] = UM.pipe();
  const data = Buffer.alloc(10_000, 'q');
  writeSync(w, data);
  closeSync(w);
  const s = m.stream(r, { mode: 'read', highWaterMark: 4096 });
  await assert.rejects(s.readToEof(Buffer.alloc(100)), { code: 'ERR_OUT_OF_RANGE' });
  const rest = await s.readToEof();
  assert.ok(rest.equals(data), `${rest.length} bytes`);
  await s.release();
  await m.close(r);
  assertNoPendingOps(m);
});
