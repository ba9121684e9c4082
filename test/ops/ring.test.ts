// Ring-level behaviour the issue calls out as traps: CQ overflow is drained,
// never fatal; a full SQ is submitted, not failed; EINTR around waits is
// retried (a signal arriving while ops are pending does not surface).
import assert from 'node:assert/strict';
import { openSync, closeSync, writeSync } from 'node:fs';
import { test } from 'node:test';

import { UringMachine, UM } from 'uringmachine';

test('CQ overflow: more completions than the CQ holds, none lost', async () => {
  // entries 8 -> CQ of 32: 2,000 ops issued in one synchronous stretch
  // overflow it many times over before the machine reaps.
  const m = new UringMachine({ entries: 8 });
  const fd = openSync('/dev/null', 'w');
  const data = Buffer.from('x');
  const n = 2000;
  const all: Promise<number>[] = [];
  for (let i = 0; i < n; i++) all.push(m.write(fd, data));
  const results = await Promise.all(all);
  assert.equal(results.length, n);
  assert.ok(results.every((r) => r === 1));
  assert.equal(m.metrics().opsPending, 0);
  assert.equal(m.metrics().totalOps, n);
  closeSync(fd);
  m.close();
});

test('SQ full: fire-and-forget ops beyond the SQ size are all submitted', async () => {
  const m = new UringMachine({ entries: 4 });
  const [r, w] = UM.pipe();
  const n = 500;
  for (let i = 0; i < n; i++) m.writeAsync(w, Buffer.from([i & 0xff]));
  const buf = Buffer.alloc(n);
  let got = 0;
  while (got < n) got += await m.read(r, buf, n - got, got);
  // io_uring does not order independent writes; count the bytes instead.
  const counts = new Map<number, number>();
  for (const b of buf) counts.set(b, (counts.get(b) ?? 0) + 1);
  let total = 0;
  for (const c of counts.values()) total += c;
  assert.equal(total, n);
  while (m.metrics().opsPending > 0) await m.snooze();
  await m.close(r);
  await m.close(w);
  m.close();
});

test('signals while ops are pending do not surface as EINTR', async () => {
  const m = new UringMachine();
  let signals = 0;
  const onSig = (): void => {
    signals++;
  };
  process.on('SIGURG', onSig);
  const [r, w] = UM.pipe();
  const f = m.spin(async () => {
    const buf = Buffer.alloc(8);
    const n = await m.read(r, buf);
    return buf.subarray(0, n).toString();
  });
  for (let i = 0; i < 5; i++) {
    process.kill(process.pid, 'SIGURG');
    await m.sleep(2);
  }
  await m.write(w, 'ok');
  assert.equal(await m.join(f), 'ok');
  assert.ok(signals > 0);
  process.off('SIGURG', onSig);
  await m.close(r);
  await m.close(w);
  assert.equal(m.metrics().opsPending, 0);
  m.close();
});

test('the eventfd wake-up survives the machine switching it off during busy turns', async () => {
  // Busy turns switch eventfd notifications off; after the last one the
  // machine must switch them back on, or a completion caused by another
  // process (nothing of ours enters the kernel then) would never be seen.
  const { spawn } = await import('node:child_process');
  const m = new UringMachine();
  const [r, w] = UM.pipe();
  const f = m.spin(async () => {
    for (let i = 0; i < 100; i++) await m.snooze(); // many busy turns first
    const buf = Buffer.alloc(16);
    const n = await m.read(r, buf);
    return buf.subarray(0, n).toString();
  });
  // A child process holding a dup of the write end writes after a delay,
  // then stays alive: nothing but the eventfd can wake the loop for the
  // read (its exit would, through SIGCHLD, and hide a lost wake-up).
  const child = spawn(
    process.execPath,
    ['-e', "setTimeout(() => { require('fs').writeSync(3, 'from-child'); setTimeout(() => {}, 10000); }, 150)"],
    { stdio: ['ignore', 'ignore', 'inherit', w] },
  );
  const exited = new Promise((res) => child.once('exit', res));
  assert.equal(await m.join(f), 'from-child');
  assert.equal(child.exitCode, null, 'the read was seen while the child still ran');
  assert.equal(child.signalCode, null);
  child.kill();
  await exited;
  await m.close(r);
  await m.close(w);
  assert.equal(m.metrics().opsPending, 0);
  m.close();
});

test('a completion the eventfd does not announce is still seen: the idle check finds it and counts it', async () => {
  // The kernel may defer or drop the eventfd signal for task work (an RCU
  // callback a grace period later, io_uring/eventfd.c). Stand in for that
  // deterministically: set IORING_CQ_EVENTFD_DISABLED behind the machine's
  // back while it waits, so the kernel signals nothing for the read below.
  const m = new UringMachine();
  const [r, w] = UM.pipe();
  const map = (m as unknown as { _core: { ring: { map(): { sqRing: ArrayBuffer; cqFlags: number } } } })._core.ring.map();
  if (!(map.cqFlags > 0)) {
    m.close();
    return; // no cq_flags word to set (not reachable on the kernels we run on)
  }
  const cqFlags = new Uint32Array(map.sqRing, map.cqFlags, 1);
  const f = m.spin(async () => {
    const buf = Buffer.alloc(16);
    const n = await m.read(r, buf);
    return buf.subarray(0, n).toString();
  });
  await new Promise((res) => setTimeout(res, 20)); // the machine is idle, its read pending
  assert.equal(m.metrics().opsPending, 1);
  const before = m.metrics().wakeupsMissed;
  Atomics.or(cqFlags, 0, 1); // IORING_CQ_EVENTFD_DISABLED
  try {
    writeSync(w, 'unannounced');
    let timer: ReturnType<typeof setTimeout> | undefined;
    const bound = new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error('the read was never seen')), 5000);
    });
    assert.equal(await Promise.race([m.join(f), bound]), 'unannounced');
    clearTimeout(timer);
    assert.ok(m.metrics().wakeupsMissed > before, 'the idle check found it');
  } finally {
    Atomics.and(cqFlags, 0, ~1);
  }
  await m.close(r);
  await m.close(w);
  assert.equal(m.metrics().opsPending, 0);
  m.close();
});
