// Direct descriptors (issue 15): openDirect / acceptDirect / socketDirect
// into the ring's file table, read/write/send/recv on them
// (IOSQE_FIXED_FILE), closeDirect, installFd; a DirectFd is refused by
// every fd-number call.
import assert from 'node:assert/strict';
import { closeSync, existsSync, readFileSync, readSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';

import { DirectFd, TimeoutError, constants as C } from 'uringmachine';

import { assertNoPendingOps, createMachine, settle, tmpDir } from './helpers.js';
import { localPort } from './local-port.js';

const O_RDWR = C.O_RDWR ?? 2;

test('openDirect: write and read through the ring file table, installFd, closeDirect', async (t) => {
  const m = createMachine();
  const path = join(tmpDir(t), 'f');
  writeFileSync(path, 'hello direct world');
  const d = await m.openDirect(path, O_RDWR);
  assert.ok(d instanceof DirectFd);
  assert.ok(Number.isInteger(d.index) && d.index >= 0);
  const buf = Buffer.alloc(32);
  assert.equal(await m.read(d, buf, 5, 0, 6), 5);
  assert.equal(buf.subarray(0, 5).toString(), 'direc');
  assert.equal(await m.write(d, 'DIRECT', undefined, 6), 6);
  assert.equal(readFileSync(path, 'utf8'), 'hello DIRECT world');
  const fd = await m.installFd(d);
  assert.equal(typeof fd, 'number');
  const out = Buffer.alloc(5);
  assert.equal(readSync(fd, out, 0, 5, 0), 5);
  assert.equal(out.toString(), 'hello');
  closeSync(fd);
  await m.closeDirect(d);
  await assert.rejects(m.read(d, buf), { name: 'UMError', code: 'EBADF' });
  await assert.rejects(m.openDirect(join(path, 'nope')), { name: 'UMError', code: 'ENOTDIR' });
  assertNoPendingOps(m);
});

test('acceptDirect + send/recv on direct sockets; a timed recv on a DirectFd times out; socketDirect', async () => {
  const m = createMachine();
  const lfd = await m.tcpListen('127.0.0.1', 0);
  const accepting = m.acceptDirect(lfd);
  const c = await m.tcpConnect('127.0.0.1', localPort(lfd));
  const d = await accepting;
  assert.ok(d instanceof DirectFd);
  const buf = Buffer.alloc(16);
  await m.send(c, 'ping');
  assert.equal(await m.recv(d, buf), 4);
  assert.equal(buf.subarray(0, 4).toString(), 'ping');
  assert.equal(await m.send(d, 'pong'), 4);
  assert.equal(await m.recv(c, buf), 4);
  assert.equal(buf.subarray(0, 4).toString(), 'pong');
  await m.send(c, 'x');
  assert.equal(await m.recv(d, buf, undefined, 0, { timeout: 5000 }), 1, 'a timed recv on the direct socket');
  assert.equal(buf[0], 0x78);
  await assert.rejects(m.recv(d, buf, undefined, 0, { timeout: 5 }), TimeoutError);
  const f = m.spin(() => m.recv(d, buf));
  await m.sleep(2);
  m.terminate(f);
  assert.equal(await m.join(f), undefined);
  const s = await m.socketDirect(C.AF_INET!, C.SOCK_STREAM!);
  assert.ok(s instanceof DirectFd && s.index !== d.index);
  await m.closeDirect(s);
  await m.closeDirect(d);
  await m.close(c);
  await m.close(lfd);
  await settle(m);
  assertNoPendingOps(m);
});

test('a DirectFd is refused where an fd number is expected, and by another machine', async (t) => {
  const m = createMachine();
  const m2 = createMachine();
  const path = join(tmpDir(t), 'g');
  writeFileSync(path, 'x');
  const d = await m.openDirect(path);
  const ops = m.metrics().totalOps;
  await assert.rejects(m.fsync(d as never), { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' });
  await assert.rejects(m.sendvZc(d as never, ['x']), { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' });
  await assert.rejects(m.close(d as never), { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' });
  await assert.rejects(m2.read(d, Buffer.alloc(1)), { name: 'TypeError', code: 'ERR_INVALID_ARG_VALUE' });
  await assert.rejects(m.closeDirect(3 as never), { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' });
  await assert.rejects(m.installFd(d, 'yes' as never), { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' });
  assert.throws(() => m.registerFiles(16), { name: 'UMError', code: 'EBUSY' });
  assert.equal(m.metrics().totalOps, ops);
  await m.closeDirect(d);
  assertNoPendingOps(m);
  assertNoPendingOps(m2);
});

test('acceptDirect and openDirect under m.timeout and terminate: completion wins, no slot leaks, a timed-out open created nothing', async (t) => {
  const dir = tmpDir(t);
  const m = createMachine();
  m.registerFiles(64); // a leaked slot per lost race would exhaust it
  const stats = { opened: 0, openTimedOut: 0, accepted: 0, acceptCancelled: 0 };
  // openDirect with O_CREAT | O_EXCL: the open is punted to io-wq, where the
  // cancel meets it. A DirectFd back means the file exists; a TimeoutError
  // means the open did not happen (retrying is safe), so no file either.
  const flags = C.O_CREAT! | C.O_EXCL! | C.O_WRONLY!;
  for (let i = 0; i < 1500; i++) {
    const p = join(dir, `f${i}`);
    let d: DirectFd | null = null;
    try {
      d = await m.timeout(i % 2, () => m.openDirect(p, flags, 0o600));
    } catch (e) {
      assert.ok(e instanceof TimeoutError, String(e));
    }
    if (d !== null) {
      stats.opened++;
      await m.closeDirect(d);
      assert.ok(existsSync(p), `open ${i} resolved: the file exists`);
    } else {
      stats.openTimedOut++;
      assert.ok(!existsSync(p), `open ${i} timed out: no file was created`);
    }
  }
  // acceptDirect cut by timeouts and terminate while clients connect in
  // bursts: an accept that got a connection resolves with it (completion
  // wins) and is closed here; every client must be accepted exactly once.
  const lfd = await m.tcpListen('127.0.0.1', 0, 1024);
  const port = localPort(lfd);
  const N = 400;
  const clients: number[] = [];
  // Connections trickle in while the accepts wait in the kernel, so the
  // cancels meet accepts that are pending, some just as a connection lands.
  const connector = m.spin(async () => {
    for (let i = 0; i < N; i++) {
      await m.sleep(i % 3 === 0 ? 0.5 : 0.1);
      clients.push(await m.tcpConnect('127.0.0.1', port));
    }
  });
  for (let round = 0; stats.accepted < N; round++) {
    assert.ok(round < 100 * N, 'accepts make progress');
    if (round % 3 === 2) {
      const f = m.spin(() => m.acceptDirect(lfd));
      await m.sleep(0.2);
      m.terminate(f);
      const r = await m.join(f);
      if (r instanceof DirectFd) {
        stats.accepted++;
        await m.closeDirect(r);
      } else stats.acceptCancelled++;
      continue;
    }
    try {
      const d = await m.timeout(1 + (round % 2), () => m.acceptDirect(lfd));
      stats.accepted++;
      await m.closeDirect(d);
    } catch (e) {
      assert.ok(e instanceof TimeoutError, String(e));
      stats.acceptCancelled++;
    }
  }
  await m.join(connector);
  // Every slot is free again: 64 opens fit the 64-slot table.
  const probe = join(dir, 'probe');
  writeFileSync(probe, '');
  const all: DirectFd[] = [];
  for (let i = 0; i < 64; i++) all.push(await m.openDirect(probe, 0));
  for (const d of all) await m.closeDirect(d);
  assert.ok(stats.opened > 0 && stats.openTimedOut > 0 && stats.acceptCancelled > 0, JSON.stringify(stats));
  for (const c of clients) await m.close(c);
  await m.close(lfd);
  await settle(m);
  assertNoPendingOps(m);
  t.diagnostic(JSON.stringify({ ...stats, cancelsRaced: m.metrics().cancelsRaced }));
});
