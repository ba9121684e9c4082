// Registered buffers (issue 15): registerBuffers / readFixed / writeFixed /
// unregisterBuffers, and the lifetime rule: no unregister while a fixed op
// is in flight, no transfer of a registered buffer.
import assert from 'node:assert/strict';
import { openSync, closeSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';

import { TimeoutError, UM } from 'uringmachine';

import { assertNoPendingOps, createMachine, tmpDir } from './helpers.js';

test('writeFixed / readFixed through registered buffers, with offsets and lengths', async (t) => {
  const m = createMachine();
  const path = join(tmpDir(t), 'f');
  writeFileSync(path, '');
  const a = Buffer.alloc(8192);
  for (let i = 0; i < a.length; i++) a[i] = (i * 7) & 0xff;
  const b = new Uint8Array(4096); // an on-heap typed array is fine too
  await m.registerBuffers([a, b]);
  const fd = openSync(path, 'r+');
  assert.equal(await m.writeFixed(fd, 0, 100, 50, 0), 100); // a[50..150) at 0
  assert.equal(await m.writeFixed(fd, 0, undefined, 8000, 100), 192); // the rest of a at 100
  const disk = readFileSync(path);
  assert.ok(disk.subarray(0, 100).equals(a.subarray(50, 150)));
  assert.ok(disk.subarray(100).equals(a.subarray(8000)));
  assert.equal(await m.readFixed(fd, 1, 64, 10, 20), 64);
  assert.ok(Buffer.from(b.subarray(10, 74)).equals(disk.subarray(20, 84)));
  assert.equal(await m.readFixed(fd, 1, undefined, 0, 10_000), 0, 'EOF');
  closeSync(fd);
  await m.unregisterBuffers();
  assertNoPendingOps(m);
});

test('unregisterBuffers is refused while a fixed op is in flight; allowed after its final CQE', async () => {
  const m = createMachine();
  const buf = Buffer.alloc(64);
  await m.registerBuffers([buf]);
  const [r, w] = UM.pipe();
  const reading = m.readFixed(r, 0);
  await m.sleep(2);
  await assert.rejects(m.unregisterBuffers(), { code: 'ERR_UM_BUFFERS_IN_USE' });
  await m.write(w, 'fixed');
  assert.equal(await reading, 5);
  assert.equal(buf.subarray(0, 5).toString(), 'fixed');
  await m.unregisterBuffers();
  await assert.rejects(m.readFixed(r, 0), { code: 'ERR_UM_NO_BUFFERS' });
  // A new table can be registered now.
  await m.registerBuffers([Buffer.alloc(16)]);
  await m.unregisterBuffers();
  await m.close(r);
  await m.close(w);
  assertNoPendingOps(m);
});

test('a registered buffer cannot be transferred (its memory stays attached)', async () => {
  const m = createMachine();
  const ab = new ArrayBuffer(4096);
  const buf = new Uint8Array(ab);
  await m.registerBuffers([buf]);
  try {
    structuredClone(ab, { transfer: [ab] });
  } catch {
    // Node >= 21 refuses; Node 20 copies instead of transferring.
  }
  assert.equal(ab.byteLength, 4096, 'not detached');
  const { port1, port2 } = new MessageChannel();
  try {
    port1.postMessage(ab, [ab]);
  } catch {
    // refused
  }
  port1.close();
  port2.close();
  assert.equal(ab.byteLength, 4096, 'not detached by postMessage');
  await m.unregisterBuffers();
  assertNoPendingOps(m);
});

test('fixed ops: natural errors (EBADF; EBUSY for a second table) and cancellation by timeout and terminate', async () => {
  const m = createMachine();
  const buf = Buffer.alloc(32);
  await m.registerBuffers([buf]);
  await assert.rejects(m.registerBuffers([Buffer.alloc(8)]), { name: 'UMError', code: 'EBUSY' });
  const [r, w] = UM.pipe();
  await m.close(w);
  const [r2, w2] = UM.pipe();
  await assert.rejects(m.writeFixed(r2, 0), { name: 'UMError', code: 'EBADF' }); // the read end
  await assert.rejects(m.timeout(5, () => m.readFixed(r2, 0)), TimeoutError);
  const f = m.spin(() => m.readFixed(r2, 0));
  await m.sleep(2);
  m.terminate(f);
  assert.equal(await m.join(f), undefined);
  await m.unregisterBuffers(); // both cancelled reads have had their final CQE
  for (const fd of [r, r2, w2]) await m.close(fd);
  assertNoPendingOps(m);
});

test('fixed buffers: bad arguments reject before anything is submitted', async () => {
  const m = createMachine();
  const ops = m.metrics().totalOps;
  await assert.rejects(m.registerBuffers('x' as never), { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' });
  await assert.rejects(m.registerBuffers([]), { name: 'RangeError', code: 'ERR_OUT_OF_RANGE' });
  await assert.rejects(m.registerBuffers([Buffer.alloc(0)]), { name: 'RangeError', code: 'ERR_OUT_OF_RANGE' });
  await assert.rejects(m.registerBuffers([1 as never]), { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' });
  await assert.rejects(m.readFixed(0, 0), { code: 'ERR_UM_NO_BUFFERS' });
  await m.registerBuffers([Buffer.alloc(16)]);
  await assert.rejects(m.readFixed(0, 1), { name: 'RangeError', code: 'ERR_OUT_OF_RANGE' });
  await assert.rejects(m.readFixed(0, 0, 17), { name: 'RangeError', code: 'ERR_OUT_OF_RANGE' });
  await assert.rejects(m.readFixed(0, 0, 8, 9), { name: 'RangeError', code: 'ERR_OUT_OF_RANGE' });
  await assert.rejects(m.writeFixed(0, 0, undefined, 17), { name: 'RangeError', code: 'ERR_OUT_OF_RANGE' });
  await assert.rejects(m.writeFixed(-1, 0), { code: 'ERR_OUT_OF_RANGE' });
  await assert.rejects(m.readFixed(0, 0, undefined, 0, -2), { code: 'ERR_OUT_OF_RANGE' });
  assert.equal(m.metrics().totalOps, ops);
  await m.unregisterBuffers();
  assertNoPendingOps(m);
  await assert.rejects(m.unregisterBuffers(), { code: 'ERR_UM_CLOSED' });
});
