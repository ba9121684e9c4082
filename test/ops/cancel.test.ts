// Cancellation reaches the kernel: every blocking op kind, by terminate,
// timeout, schedule(fiber, error) and cancellable; afterwards nothing is
// pending, and a cancelled read consumed no data. m.close() with pending ops.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';

import { MachineClosedError, Terminate, TimeoutError, UM, type UringMachine } from 'uringmachine';

import { assertNoPendingOps, createMachine, tmpDir } from '../helpers.js';

type Blocker = { name: string; setup?: (m: UringMachine) => unknown; block: (m: UringMachine, ctx: any) => Promise<unknown> };

const blockers = (_dir: string): Blocker[] => [
  {
    name: 'read on an empty pipe',
    setup: () => UM.pipe(),
    block: (m, [r]: [number, number]) => m.read(r, Buffer.alloc(16)),
  },
  { name: 'sleep', block: (m) => m.sleep(10_000) },
  {
    name: 'interval',
    block: async (m) => {
      for await (const _ of m.interval(10_000)) {
        /* never */
      }
    },
  },
  { name: 'yield', block: (m) => m.yield() },
  {
    name: 'join',
    setup: (m) => m.spin(() => m.sleep(50)),
    block: (m, f) => m.join(f),
  },
  {
    name: 'AsyncOp.await',
    setup: (m) => m.prepTimeout(10_000),
    block: (_m, op) => op.await(),
  },
];

async function settle(m: UringMachine): Promise<void> {
  for (let i = 0; i < 1000 && (m.metrics().opsPending > 0 || m.fibers.size > 0); i++) await m.sleep(1);
}

async function cleanup(m: UringMachine, ctx: unknown): Promise<void> {
  if (Array.isArray(ctx) && typeof ctx[0] === 'number') {
    // The cancelled read consumed nothing: data written now is all there.
    const [r, w] = ctx as [number, number];
    await m.write(w, 'after');
    const b = Buffer.alloc(16);
    assert.equal(await m.read(r, b), 5);
    assert.equal(b.subarray(0, 5).toString(), 'after');
    await m.close(r);
    await m.close(w);
  } else if (ctx && typeof ctx === 'object' && 'cancel' in ctx) {
    (ctx as { cancel(): void }).cancel();
  }
  await settle(m);
}

test('terminate cancels every kind of blocking op', async (t) => {
  const dir = tmpDir(t);
  for (const b of blockers(dir)) {
    const m = createMachine();
    const ctx = b.setup?.(m);
    let caught: unknown;
    const f = m.spin(async () => {
      try {
        await b.block(m, ctx);
      } catch (e) {
        caught = e;
        throw e;
      }
    });
    await m.sleep(5);
    assert.ok(m.pendingFibers.has(f), b.name);
    m.terminate(f);
    assert.equal(await m.join(f), undefined, b.name);
    assert.ok(caught instanceof Terminate, b.name);
    await cleanup(m, ctx);
    assertNoPendingOps(m);
  }
});

test('timeout cancels every kind of blocking op', async (t) => {
  const dir = tmpDir(t);
  for (const b of blockers(dir)) {
    const m = createMachine();
    const ctx = b.setup?.(m);
    const f = m.spin(() => m.timeout(5, () => b.block(m, ctx)));
    await assert.rejects(m.join(f), TimeoutError, b.name);
    await cleanup(m, ctx);
    assertNoPendingOps(m);
  }
});

test('schedule(fiber, error) cancels every kind of blocking op', async (t) => {
  const dir = tmpDir(t);
  for (const b of blockers(dir)) {
    const m = createMachine();
    const ctx = b.setup?.(m);
    const f = m.spin(() => b.block(m, ctx));
    await m.sleep(5);
    m.schedule(f, new RangeError(`raised: ${b.name}`));
    await assert.rejects(m.join(f), RangeError, b.name);
    await cleanup(m, ctx);
    assertNoPendingOps(m);
  }
});

test('cancellable cancels every kind of blocking op, inside and outside fibers', async (t) => {
  const dir = tmpDir(t);
  for (const b of blockers(dir)) {
    if (b.name === 'yield') continue; // yield needs a fiber: covered below
    const m = createMachine();
    const ctx = b.setup?.(m);
    const ac = new AbortController();
    setTimeout(() => ac.abort(new Error('abort')), 5);
    await assert.rejects(m.cancellable(ac.signal, () => b.block(m, ctx)), /abort/, b.name);
    await cleanup(m, ctx);
    assertNoPendingOps(m);
  }
  const m = createMachine();
  const ac = new AbortController();
  const f = m.spin(() => m.cancellable(ac.signal, () => m.yield()));
  await m.sleep(2);
  ac.abort(new Error('abort yield'));
  await assert.rejects(m.join(f), /abort yield/);
  assertNoPendingOps(m);
});

test('close() with pending ops rejects them with MachineClosedError; later ops reject too', async () => {
  const m = createMachine();
  const [r, w] = UM.pipe();
  const buf = Buffer.alloc(8);
  const pending = m.read(r, buf);
  const sleeping = m.spin(() => m.sleep(10_000));
  await m.sleep(2);
  assert.ok(m.metrics().opsPending >= 2);
  m.close();
  await assert.rejects(pending, (e: unknown) => e instanceof MachineClosedError && (e as MachineClosedError).code === 'ERR_UM_CLOSED');
  await assert.rejects(m.join(sleeping), MachineClosedError);
  assert.equal(m.metrics().opsPending, 0);
  await assert.rejects(m.read(r, buf), MachineClosedError);
  await assert.rejects(m.sleep(1), MachineClosedError);
  m.close(); // twice is fine
  execFileSync('true');
  UM.setNonblock(r, false); // fds are the caller's: still open
  const m2 = createMachine();
  await m2.close(r);
  await m2.close(w);
  assertNoPendingOps(m2);
});

test('open() of a FIFO for reading does not wait for a writer (io_uring quirk, documented)', async (t) => {
  // io_uring's openat first tries a non-blocking open; a read-only FIFO open
  // then succeeds at once, where open(2) would wait for a writer. If this
  // starts failing, the kernel (or our open) changed: update the README.
  const m = createMachine();
  const { join } = await import('node:path');
  const p = join(tmpDir(t), 'fifo');
  execFileSync('mkfifo', [p]);
  const fd = await m.timeout(2000, () => m.open(p));
  assert.equal(UM.ioNonblock(fd), false); // the kernel clears its O_NONBLOCK again
  await m.close(fd);
  assertNoPendingOps(m);
});

test('close(fd) still works in the finally block of a terminated or timed-out fiber', async () => {
  const m = createMachine();
  const [r, w] = UM.pipe();
  let closed = false;
  const f = m.spin(async () => {
    try {
      await m.read(r, Buffer.alloc(8));
    } finally {
      await m.close(r); // the fiber is terminated: this must not raise Terminate
      closed = true;
    }
  });
  await m.sleep(1);
  m.terminate(f);
  await m.join(f);
  assert.ok(closed);
  await assert.rejects(m.read(r, Buffer.alloc(8)), { code: 'EBADF' }, 'r really is closed');
  const [r2, w2] = UM.pipe();
  await assert.rejects(
    m.timeout(5, async () => {
      try {
        await m.read(r2, Buffer.alloc(8));
      } finally {
        await m.close(r2);
      }
    }),
    TimeoutError,
  );
  await assert.rejects(m.read(r2, Buffer.alloc(8)), { code: 'EBADF' });
  await m.close(w);
  await m.close(w2);
  assertNoPendingOps(m);
});
