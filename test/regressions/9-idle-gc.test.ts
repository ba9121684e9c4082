// Issue 9.9: a machine that was used, then dropped without close(), must be
// garbage-collected (its ring fd and eventfd closed by the finalizer) once
// it is idle. Module-level executor variables in core.ts kept the last
// machine reachable.
import assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import { test } from 'node:test';

import { Mutex, Queue, UM, UringMachine } from 'uringmachine';
import { fdTable, gc } from '../helpers.js';

/** io_uring fds open in this process (ours, and Node 24's libuv's, made lazily). */
function rings(): number {
  let n = 0;
  for (const what of fdTable().values()) if (what.includes('io_uring')) n++;
  return n;
}

/** Use a machine in every way that goes through a module-level slot, then drop it. */
async function useAndDrop(registry: FinalizationRegistry<number>, i: number): Promise<void> {
  const m = new UringMachine();
  registry.register(m, i);
  const [r, w] = UM.pipe();
  await m.write(w, 'hello');
  await m.read(r, Buffer.alloc(8));
  await m.sleep(1);
  await m.snooze();
  const q = new Queue<number>();
  const f = m.spin(async () => m.shift(q));
  await m.snooze();
  m.push(q, 1);
  await m.join(f);
  await m.synchronize(new Mutex(), () => 1);
  await m.write(w, 'x');
  for await (const chunk of m.readEach(r)) {
    void chunk;
    break;
  }
  await m.write(w, 'y');
  await m.timeout(1000, () => m.read(r, Buffer.alloc(8)));
  await m.close(r);
  await m.close(w);
}

test('machines used and dropped without close() are collected once idle; their fds are closed', async () => {
  // Node 24's libuv makes an io_uring of its own at its first fs request:
  // have it made before counting.
  await fsp.readFile('/etc/hostname');
  const before = rings();
  const collected = new Set<number>();
  const registry = new FinalizationRegistry<number>((i) => collected.add(i));
  const N = 5;
  for (let i = 0; i < N; i++) await useAndDrop(registry, i);
  // Let the idle checks (setImmediate) run, then collect.
  for (let k = 0; k < 50 && collected.size < N; k++) {
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setTimeout(r, 5));
    gc();
  }
  assert.equal(collected.size, N, `collected ${[...collected].join(',')} of 0..${N - 1}`);
  // Every machine's ring fd is closed.
  assert.ok(rings() <= before, `io_uring fds: ${before} before, ${rings()} after ${N} machines`);
});
