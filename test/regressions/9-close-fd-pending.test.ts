// Issue 9.10: m.close(fd) while a read was pending on that fd left the read
// pending forever (closing an fd does not end the ops holding its file).
// Now close(fd) cancels the ops on fd first: they reject with ECANCELED, or
// resolve with their result if they completed first.
import assert from 'node:assert/strict';
import { closeSync, constants, openSync, readSync, writeSync } from 'node:fs';
import { test } from 'node:test';

import { constants as C, UM } from 'uringmachine';
import { assertNoPendingOps, createMachine, settle } from '../helpers.js';

test('m.close(fd) ends a read pending on fd in another fiber (ECANCELED); a recvEach loop on it ends', async () => {
  const m = createMachine();
  const [r, w] = UM.pipe();
  const reader = m.spin(() => m.read(r, Buffer.alloc(8)));
  await m.snooze();
  await m.snooze();
  assert.equal(m.metrics().opsPending, 1);
  await m.close(r);
  await assert.rejects(m.join(reader), { code: 'ECANCELED', syscall: 'read' });
  await m.close(w);

  const [a, b] = UM.socketpair(C.AF_UNIX!, C.SOCK_STREAM!, 0);
  const chunks: Buffer[] = [];
  const loop = m.spin(async () => {
    for await (const c of m.recvEach(a)) chunks.push(c);
  });
  await m.send(b, 'first');
  for (let i = 0; i < 100 && chunks.length === 0; i++) await m.sleep(1);
  m.closeAsync(a);
  await m.join(loop); // a multishot loop on a closed fd ends, as at EOF
  assert.equal(Buffer.concat(chunks).toString(), 'first');
  await m.close(b);
  await settle(m);
  assertNoPendingOps(m);
});

test('close(fd) racing a read that completes: the bytes are returned, never lost', async () => {
  // A second descriptor of each pipe's read end (opened through /proc, so
  // it outlives close(r)) shows where the byte went: a read that resolved
  // took it (the pipe is empty), one that was cancelled did not (it is
  // still there). So a byte the kernel read and the cancel swallowed would
  // be in neither place.
  const m = createMachine();
  let returned = 0;
  let cancelled = 0;
  const one = Buffer.alloc(8);
  for (let i = 0; i < 500; i++) {
    const [r, w] = UM.pipe();
    const r2 = openSync(`/proc/self/fd/${r}`, constants.O_RDONLY | constants.O_NONBLOCK);
    const reader = m.spin(() => m.read(r, Buffer.alloc(8)));
    await m.snooze();
    // Odd rounds: the write lands before the cancel is even queued (its
    // wake-up is task work the close's enter runs); even rounds: the write,
    // the cancel and the close go in one enter.
    if (i % 2 === 1) writeSync(w, 'x');
    else m.writeAsync(w, 'x');
    const closing = m.close(r);
    let got: number | null = null;
    try {
      got = await m.join(reader);
      assert.equal(got, 1);
      returned++;
    } catch (e) {
      assert.equal((e as { code?: string }).code, 'ECANCELED');
      cancelled++;
    }
    await closing;
    await m.close(w); // the byte, if the read did not take it, stays in the pipe
    let left = 0;
    try {
      left = readSync(r2, one);
    } catch (e) {
      assert.equal((e as { code?: string }).code, 'EAGAIN');
    }
    closeSync(r2);
    // Written once: either the read took it, or it is still in the pipe (and then EOF).
    assert.equal((got ?? 0) + left, 1, `round ${i}: the byte was ${got === null ? 'cancelled' : 'read'} and ${left} left`);
  }
  assert.equal(returned + cancelled, 500);
  assertNoPendingOps(m);
});
