// Cross-ring messages (IORING_OP_MSG_RING): m.address(), m.sendTo(),
// m.sendFdTo(), m.receive(), m.messages(); between machines of one thread
// and between machines on worker threads.
import assert from 'node:assert/strict';
import { closeSync, openSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { Worker } from 'node:worker_threads';

import { MachineClosedError, TimeoutError, UMError, type RingAddress, type UringMachine } from 'uringmachine';

import { assertNoPendingOps, createMachine, settle, tmpDir, until } from './helpers.js';

const workerUrl = new URL('../../test/fixtures/msg-ring-worker.mjs', import.meta.url);

interface WorkerResult {
  ok?: boolean;
  error?: string;
  opsPending?: number;
  stats?: { sent: number; received: number; queued: number; stray: number };
  [k: string]: unknown;
}

/** Start a fixture worker; resolves its address, and its result when it exits. */
function startWorker(data: Record<string, unknown>): {
  address: Promise<RingAddress>;
  parked: Promise<number>;
  result: Promise<WorkerResult>;
  worker: Worker;
  exited: () => boolean;
} {
  const w = new Worker(workerUrl, { workerData: data });
  let gotAddress!: (a: RingAddress) => void;
  const address = new Promise<RingAddress>((r) => (gotAddress = r));
  let gotParked!: (n: number) => void;
  const parked = new Promise<number>((r) => (gotParked = r));
  let exited = false;
  w.once('exit', () => (exited = true));
  const result = new Promise<WorkerResult>((resolve, reject) => {
    let res: WorkerResult | undefined;
    w.on('message', (v: { address?: RingAddress; parked?: number } & WorkerResult) => {
      if (v.address !== undefined) gotAddress(v.address);
      else if (v.parked !== undefined) gotParked(v.parked);
      else res = v;
    });
    w.once('error', reject);
    w.once('exit', (code) => (res ? resolve(res) : reject(new Error(`worker exited ${code} without a result`))));
  });
  return { address, parked, result, worker: w, exited: () => exited };
}

function ok(r: WorkerResult): WorkerResult {
  assert.equal(r.error, undefined, r.error);
  assert.equal(r.ok, true);
  assert.equal(r.opsPending, 0);
  return r;
}

test('msg-ring: an address is plain data that names the ring, and survives structured clone', () => {
  const m = createMachine();
  const a = m.address();
  assert.equal(typeof a.fd, 'number');
  assert.ok(a.serial >= 1 && a.serial <= 0xffffff);
  assert.equal(a.pid, process.pid);
  assert.deepEqual(structuredClone(a), { ...a });
  assert.deepEqual(m.address(), a, 'stable');
  const m2 = createMachine();
  assert.notEqual(m2.address().serial, a.serial);
  assertNoPendingOps(m2);
  assertNoPendingOps(m);
});

test('msg-ring: bad input rejects before anything is submitted', async () => {
  const m = createMachine();
  const other = createMachine();
  const to = other.address();
  const before = m.metrics().totalOps;
  const bad: [() => Promise<unknown>, object][] = [
    [() => m.sendTo(null as unknown as RingAddress, 1), { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' }],
    [() => m.sendTo(3 as unknown as RingAddress, 1), { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' }],
    [() => m.sendTo({ ...to, fd: -1 }, 1), { name: 'RangeError', code: 'ERR_OUT_OF_RANGE' }],
    [() => m.sendTo({ ...to, fd: 1.5 }, 1), { code: 'ERR_OUT_OF_RANGE' }],
    [() => m.sendTo({ ...to, serial: 0 }, 1), { name: 'RangeError', code: 'ERR_OUT_OF_RANGE' }],
    [() => m.sendTo({ ...to, serial: 1 << 24 }, 1), { name: 'RangeError', code: 'ERR_OUT_OF_RANGE' }],
    [() => m.sendTo({ ...to, pid: process.pid + 1 }, 1), { name: 'TypeError', code: 'ERR_INVALID_ARG_VALUE' }],
    [() => m.sendTo(to, 2 ** 31), { name: 'RangeError', code: 'ERR_OUT_OF_RANGE' }],
    [() => m.sendTo(to, '1' as unknown as number), { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' }],
    [() => m.sendTo(to, 1, -1), { name: 'RangeError', code: 'ERR_OUT_OF_RANGE' }],
    [() => m.sendTo(to, 1, 2 ** 32), { name: 'RangeError', code: 'ERR_OUT_OF_RANGE' }],
    [() => m.sendFdTo(to, 0 as never), { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' }],
  ];
  for (const [call, expected] of bad) await assert.rejects(call(), expected);
  assert.equal(m.metrics().totalOps, before, 'nothing submitted');
  assert.equal(m.metrics().opsUnsubmitted, 0);
  assert.deepEqual(other.msgStats(), { sent: 0, received: 0, queued: 0, stray: 0 });
  assertNoPendingOps(other);
  assertNoPendingOps(m);
});

test('msg-ring: two machines of one thread exchange 2000 values each way, each once and in order', async () => {
  const a = createMachine();
  const b = createMachine();
  const N = 2000;
  const toA = a.address();
  const toB = b.address();
  const pump = (m: UringMachine, to: RingAddress, tag: number): Promise<unknown> =>
    m.join(
      m.spin(async () => {
        for (let i = 0; i < N; i++) await m.sendTo(to, i - 1000, (i * tag) >>> 0);
      }),
      m.spin(async () => {
        for (let i = 0; i < N; i++) {
          const msg = await m.receive();
          assert.deepEqual(msg, { value: i - 1000, data: (i * (tag === 3 ? 5 : 3)) >>> 0, fd: null });
        }
      }),
    );
  await Promise.all([pump(a, toB, 3), pump(b, toA, 5)]);
  assert.deepEqual(a.msgStats(), { sent: N, received: N, queued: 0, stray: 0 });
  assert.deepEqual(b.msgStats(), { sent: N, received: N, queued: 0, stray: 0 });
  await settle(a);
  await settle(b);
  assertNoPendingOps(a);
  assertNoPendingOps(b);
});

test('msg-ring: a machine can message itself; messages nobody waits for are queued, not dropped', async () => {
  const m = createMachine();
  const me = m.address();
  for (let i = 0; i < 100; i++) await m.sendTo(me, i, 0xffffffff - i);
  // The CQEs were reaped with the sends' own; nobody was receiving.
  assert.equal(m.msgStats().queued, 100);
  const got: number[] = [];
  for await (const msg of m.messages()) {
    assert.equal(msg.data, 0xffffffff - msg.value);
    got.push(msg.value);
    if (got.length === 100) break;
  }
  assert.deepEqual(got, [...Array(100).keys()]);
  assert.equal(m.msgStats().queued, 0);
  assertNoPendingOps(m);
});

test('msg-ring: two worker threads exchange 20000 values each way, each once and in order', async () => {
  const N = 20000;
  const a = startWorker({ role: 'blast', n: N, needsPeer: true });
  const b = startWorker({ role: 'blast', n: N, needsPeer: true });
  const [addrA, addrB] = await Promise.all([a.address, b.address]);
  assert.notEqual(addrA.serial, addrB.serial);
  a.worker.postMessage(addrB);
  b.worker.postMessage(addrA);
  const [ra, rb] = await Promise.all([a.result, b.result]);
  for (const r of [ok(ra), ok(rb)]) assert.deepEqual(r.stats, { sent: N, received: N, queued: 0, stray: 0 });
});

test('msg-ring: a pending receive() keeps a worker alive and is woken by a message from another thread', async () => {
  const m = createMachine();
  const w = startWorker({ role: 'wait-one' });
  const to = await w.address;
  // The worker's receive() is pending and it has nothing else to do (no op
  // in flight, no timer, no handle): only the receive's hold keeps its loop
  // from ending. Without it the worker exits during this wait with no result.
  assert.equal(await w.parked, 0, 'nothing but the receive is pending in the worker');
  await m.sleep(100);
  assert.equal(w.exited(), false, 'the worker is still alive with only a receive() pending');
  await m.sendTo(to, -42, 42);
  const r = ok(await w.result);
  assert.equal(r.value, -42);
  assert.equal(r.data, 42);
  assertNoPendingOps(m);
});

test('msg-ring: timed receives racing 20000 messages from another worker lose none and duplicate none', async () => {
  const N = 20000;
  const sab = new SharedArrayBuffer(8);
  const recv = startWorker({ role: 'race-recv', n: N, sab });
  const send = startWorker({ role: 'race-send', n: N, batch: 37, sab, needsPeer: true });
  send.worker.postMessage(await recv.address);
  await send.address;
  const [rr, rs] = await Promise.all([recv.result, send.result]);
  ok(rs);
  ok(rr);
  assert.equal(rs.sent, N);
  assert.equal(rr.received, N);
  assert.equal(rr.queued, 0, 'nothing received twice or left over');
  assert.ok((rr.timeouts as number) > 0, 'receives timed out while messages were in flight');
  assert.deepEqual(rr.stats, { sent: 0, received: N, queued: 0, stray: 0 });
});

test('msg-ring: a receive cancelled by timeout or terminate leaves the message for the next one', async () => {
  const m = createMachine();
  const me = m.address();
  await assert.rejects(
    m.timeout(5, () => m.receive()),
    TimeoutError,
  );
  const f = m.spin(() => m.receive());
  await m.snooze();
  m.terminate(f);
  assert.equal(await m.join(f), undefined);
  await m.sendTo(me, 7);
  assert.equal(m.msgStats().queued, 1, 'the cancelled receives did not take it');
  assert.equal((await m.receive()).value, 7);
  assertNoPendingOps(m);
});

test('msg-ring: m.close() with a receive pending rejects it with MachineClosedError; messages() ends', async () => {
  const m = createMachine();
  m.address();
  const p = m.receive();
  const it = m.messages();
  const q = it.next();
  await new Promise((r) => setImmediate(r));
  m.close();
  await assert.rejects(p, MachineClosedError);
  assert.deepEqual(await q, { value: undefined, done: true });
  await assert.rejects(m.receive(), MachineClosedError);
});

test('msg-ring: sending to a closed machine rejects with a UMError', async () => {
  const m = createMachine();
  const t = createMachine();
  const to = t.address();
  t.close();
  const err = await m.sendTo(to, 1).then(
    () => assert.fail('sendTo a closed ring resolved'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof UMError, String(err));
  // EBADF: the fd is closed; EBADFD if another thread reused the number for a non-ring file meanwhile.
  assert.ok(['EBADF', 'EBADFD'].includes(err.code), err.code);
  assert.equal(err.syscall, 'msg_ring');
  assertNoPendingOps(m);
});

test('msg-ring: a stale address whose fd now names another ring is dropped there as stray, not received', async (tc) => {
  const m = createMachine();
  const t = createMachine();
  const old = t.address();
  t.close();
  const n = createMachine();
  const fresh = n.address();
  if (fresh.fd !== old.fd) {
    // Another thread took the fd number meanwhile: nothing to check here.
    assertNoPendingOps(n);
    assertNoPendingOps(m);
    tc.skip('the closed ring\'s fd number was reused by another thread');
    return;
  }
  assert.notEqual(fresh.serial, old.serial);
  await m.sendTo(old, 99);
  await m.sendTo(fresh, 100);
  assert.equal((await n.receive()).value, 100);
  await until(n, () => n.msgStats().stray === 1, 5000, 'stray counted');
  assert.deepEqual(n.msgStats(), { sent: 0, received: 1, queued: 0, stray: 1 });
  assertNoPendingOps(n);
  assertNoPendingOps(m);
});

test('msg-ring: a descriptor sent to a stale address is dropped as stray and its slot in the new ring freed', async (tc) => {
  const dir = tmpDir(tc);
  const path = join(dir, 'f');
  writeFileSync(path, 'x');
  const m = createMachine();
  const t = createMachine();
  t.registerFiles(1);
  const old = t.address();
  t.close();
  const n = createMachine();
  n.registerFiles(1); // one slot: a leaked one would make the openDirect below fail with ENFILE
  if (n.address().fd !== old.fd) {
    assertNoPendingOps(n);
    tc.skip("the closed ring's fd number was reused by another thread");
    return;
  }
  const d = await m.openDirect(path, 0);
  // The kernel installs the file in n's table (the fd is n's ring now); n sees a foreign serial.
  for (let i = 0; i < 3; i++) {
    await m.sendFdTo(old, d, i);
    await until(n, () => n.msgStats().stray === i + 1, 5000, 'stray counted');
    await until(n, () => n.metrics().opsTransient === 0, 5000, 'slot closed');
    const mine = await n.openDirect(path, 0); // the only slot, so it must have been freed
    assert.equal(mine.index, 0);
    await n.closeDirect(mine);
  }
  assert.deepEqual(n.msgStats(), { sent: 0, received: 0, queued: 0, stray: 3 });
  await m.closeDirect(d);
  assertNoPendingOps(n);
  assertNoPendingOps(m);
});

test('msg-ring: sendFdTo installs a direct descriptor in the target table; the receiver reads through it', async (t) => {
  const dir = tmpDir(t);
  const path = join(dir, 'f');
  writeFileSync(path, 'hello across rings');
  const a = createMachine();
  const b = createMachine();
  b.registerFiles(8);
  const to = b.address();
  const d = await a.openDirect(path, 0);
  await a.sendFdTo(to, d, 1234);
  const msg = await b.receive();
  assert.equal(msg.data, 1234);
  assert.ok(msg.fd !== null);
  assert.equal(msg.fd.index, msg.value);
  const buf = Buffer.alloc(64);
  const n = await b.read(msg.fd, buf, 64, 0, 0);
  assert.equal(buf.subarray(0, n).toString(), 'hello across rings');
  // The sender's slot is still open, and its own.
  const n2 = await a.read(d, buf, 5, 0, 0);
  assert.equal(buf.subarray(0, n2).toString(), 'hello');
  await b.closeDirect(msg.fd);
  await a.closeDirect(d);
  // To itself: refused before submit (the kernel says EINVAL).
  const d2 = await a.openDirect(path, 0);
  await assert.rejects(a.sendFdTo(a.address(), d2), { name: 'TypeError', code: 'ERR_INVALID_ARG_VALUE' });
  // A DirectFd of another machine, or a closed one: refused too.
  await assert.rejects(b.sendFdTo(a.address(), d2), { code: 'ERR_INVALID_ARG_VALUE' });
  await a.closeDirect(d2);
  await assert.rejects(a.sendFdTo(to, d2), { name: 'UMError', code: 'EBADF' });
  assertNoPendingOps(a);
  assertNoPendingOps(b);
});

test('msg-ring: sendFdTo to a machine on another worker thread; it reads the file through its new slot', async (t) => {
  const dir = tmpDir(t);
  const path = join(dir, 'f');
  writeFileSync(path, 'to another thread');
  const m = createMachine();
  const w = startWorker({ role: 'recv-fd' });
  const d = await m.openDirect(path, 0);
  await m.sendFdTo(await w.address, d, 77);
  await m.closeDirect(d); // the receiver's slot holds its own reference
  const r = ok(await w.result);
  assert.equal(r.text, 'to another thread');
  assert.equal(r.data, 77);
  assert.ok((r.slot as number) >= 0 && (r.slot as number) < 4);
  assertNoPendingOps(m);
});

test('msg-ring: sendFdTo to a machine without a file table rejects with the kernel error', async (t) => {
  const dir = tmpDir(t);
  const path = join(dir, 'f');
  closeSync(openSync(path, 'w'));
  const a = createMachine();
  const b = createMachine();
  const d = await a.openDirect(path, 0);
  const err = await a.sendFdTo(b.address(), d).then(
    () => assert.fail('resolved'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof UMError, String(err));
  assert.equal(err.syscall, 'msg_ring');
  // 6.18: io_fixed_fd_install finds no free slot in an empty table (ENFILE); ENXIO names "no table" on some kernels.
  assert.ok(['ENFILE', 'ENXIO'].includes(err.code), err.code);
  assert.equal(b.msgStats().received, 0);
  await a.closeDirect(d);
  assertNoPendingOps(a);
  assertNoPendingOps(b);
});

test('msg-ring: a kernel whose probe lacks IORING_OP_MSG_RING gets UnsupportedError naming the version', async () => {
  // The module's own entry points against a core whose opcode probe has no
  // MSG_RING (this kernel has it: the check itself is what is tested).
  const root = new URL('../../', import.meta.url);
  const mod = await import(new URL('dist/msg-ring.js', root).href);
  const { DirectFd } = await import(new URL('dist/direct.js', root).href);
  const fake = { probe: new Uint8Array(256), closed: false, serial: 5, enterScope: () => undefined };
  const to = { fd: 3, serial: 9, pid: process.pid };
  assert.throws(() => mod.address(fake), { name: 'UnsupportedError', code: 'ERR_UM_UNSUPPORTED', message: /IORING_OP_MSG_RING.*Linux >= 5\.18/ });
  await assert.rejects(mod.sendTo(fake, to, 1, 0), { name: 'UnsupportedError', message: /Linux >= 5\.18/ });
  await assert.rejects(mod.receive(fake), { name: 'UnsupportedError', message: /Linux >= 5\.18/ });
  await assert.rejects(mod.sendFdTo(fake, to, new DirectFd(fake, 0), 0), { name: 'UnsupportedError', message: /IORING_MSG_SEND_FD.*Linux >= 6\.0/ });
  // Once the probe has the opcode (this kernel is above both floors), the same core passes the check.
  fake.probe[40] = 1;
  assert.deepEqual(Object.keys(mod.address({ ...fake, ring: { info: () => ({ fd: 3 }) } })), ['fd', 'serial', 'pid']);
});

test('msg-ring: receive() cut by m.timeout, an AbortSignal and terminate while messages arrive about once a millisecond: each exactly once, in order', async () => {
  // Two machines of one thread: one sends N numbered messages, the other
  // receives each under a 0-1 ms timeout, an abort or a terminate. A message
  // handed to a receive before its cancel is its to keep; one that comes
  // after goes to the next receive. A lost one would leave the loop short
  // (bounded below), a duplicate breaks the order check.
  const a = createMachine();
  const b = createMachine();
  const to = b.address();
  const N = 800;
  const stats = { timeouts: 0, aborts: 0, terminated: 0 };
  const sender = a.spin(async () => {
    for (let i = 0; i < N; i++) {
      await a.sendTo(to, i, i ^ 0x5a5a);
      await a.sleep(0.9 + (i % 3) * 0.1);
    }
  });
  let next = 0;
  const take = (v: { value: number; data: number } | undefined): void => {
    if (v === undefined) return;
    assert.equal(v.value, next, 'in order, none lost or twice');
    assert.equal(v.data, (next ^ 0x5a5a) >>> 0);
    next++;
  };
  for (let k = 0; next < N; k++) {
    assert.ok(k < 50 * N, 'messages keep coming');
    const mode = k % 3;
    if (mode === 0) {
      try {
        take(await b.timeout(k % 2, () => b.receive()));
      } catch (e) {
        assert.ok(e instanceof TimeoutError, String(e));
        stats.timeouts++;
      }
    } else if (mode === 1) {
      const ac = new AbortController();
      setTimeout(() => ac.abort(new Error('aborted')), 1);
      try {
        take(await b.cancellable(ac.signal, () => b.receive()));
      } catch (e) {
        assert.equal((e as Error).message, 'aborted');
        stats.aborts++;
      }
    } else {
      const f = b.spin(() => b.receive());
      await b.sleep(1);
      b.terminate(f);
      const v = await b.join(f);
      if (v === undefined) stats.terminated++;
      take(v);
    }
  }
  await a.join(sender);
  assert.deepEqual(b.msgStats(), { sent: 0, received: N, queued: 0, stray: 0 });
  assert.ok(stats.timeouts > 0 && stats.aborts > 0 && stats.terminated > 0, JSON.stringify(stats));
  assertNoPendingOps(a);
  assertNoPendingOps(b);
});
