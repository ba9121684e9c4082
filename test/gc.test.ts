// Buffers handed to the kernel survive garbage collection while ops are in
// flight — referenced by nobody but the machine — including ops whose fiber
// was terminated (pinned until the kernel's final completion).
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { UM } from 'uringmachine';

import { assertNoPendingOps, createMachine } from './helpers.js';

const gc = (): void => {
  assert.ok(globalThis.gc, 'run with --expose-gc');
  for (let i = 0; i < 3; i++) globalThis.gc!();
};

test('read buffers referenced only by the op survive GC and receive the data', async () => {
  const m = createMachine();
  const pipes = Array.from({ length: 8 }, () => UM.pipe());
  // Reads issued outside fibers and inside fibers, into fresh buffers whose
  // only reference is the op's pin; results come back as strings.
  const results: Promise<string>[] = pipes.map(([r], i) => {
    if (i % 2 === 0) {
      const buf = Buffer.alloc(32);
      return m.read(r, buf).then((n) => buf.subarray(0, n).toString());
    }
    const f = m.spin(async () => {
      const buf = new Uint8Array(32); // small: starts on V8's heap
      const n = await m.read(r, buf);
      return Buffer.from(buf.subarray(0, n)).toString();
    });
    return m.join(f);
  });
  await m.sleep(2);
  gc();
  // Churn the heap so a freed buffer would be reused.
  const junk = Array.from({ length: 2000 }, () => Buffer.alloc(64, 0xee));
  gc();
  void junk.length;
  for (let i = 0; i < pipes.length; i++) await m.write(pipes[i]![1], `payload-${i}`);
  assert.deepEqual(
    await Promise.all(results),
    pipes.map((_, i) => `payload-${i}`),
  );
  for (const [r, w] of pipes) {
    await m.close(r);
    await m.close(w);
  }
  assertNoPendingOps(m);
});

test('terminated fibers: pins held until the final CQE, then released; no crash under GC', async () => {
  const m = createMachine();
  const [r, w] = UM.pipe();
  const fibers = Array.from({ length: 16 }, () => m.spin(() => m.read(r, Buffer.alloc(4096))));
  await m.sleep(2);
  m.terminate(...fibers);
  gc();
  await m.await(fibers);
  assert.equal(m.metrics().opsPending, 0);
  gc();
  await m.write(w, 'still');
  const b = Buffer.alloc(8);
  assert.equal(await m.read(r, b), 5);
  await m.close(r);
  await m.close(w);
  assertNoPendingOps(m);
});
