// Filesystem and process ops (issue 5): mkdir(at), link(at), unlink(at),
// symlink(at), rename(at), (f)get/(f)setxattr, fadvise, madvise, splice, tee,
// waitid. Each: success, its natural error, cancellation where the kernel can
// cancel, and wrong argument types (rejected before anything is submitted).
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, lstatSync, mkdirSync, openSync, readFileSync, readlinkSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';

import { constants as C, TimeoutError, UM, UMError, type UringMachine } from 'uringmachine';

import { assertNoPendingOps, createMachine, tmpDir, until } from '../helpers.js';

function isUM(code: string, path?: string) {
  return (e: unknown): boolean => {
    assert.ok(e instanceof UMError, `expected a UMError, got ${String(e)}`);
    assert.equal(e.code, code);
    if (path !== undefined) assert.equal(e.path, path);
    return true;
  };
}

/** Expect every call to reject with ERR_INVALID_ARG_TYPE without submitting anything. */
async function rejectsArgType(m: UringMachine, calls: (() => Promise<unknown>)[]): Promise<void> {
  const before = m.metrics().totalOps;
  for (const [i, call] of calls.entries()) {
    let p: Promise<unknown> | undefined;
    assert.doesNotThrow(() => {
      p = call();
    }, `call ${i} threw synchronously`);
    await assert.rejects(p!, { code: 'ERR_INVALID_ARG_TYPE' }, `call ${i}`);
  }
  assert.equal(m.metrics().totalOps, before);
}

// ---- Directory entries ----------------------------------------------------------

test('mkdir / mkdirat: mode, relative to a dirfd; EEXIST names the path', async (t) => {
  const m = createMachine();
  const dir = tmpDir(t);
  await m.mkdir(join(dir, 'a'), 0o750);
  assert.ok(statSync(join(dir, 'a')).isDirectory());
  assert.equal(statSync(join(dir, 'a')).mode & 0o777, 0o750 & ~process.umask());
  const dfd = await m.open(dir, C.O_RDONLY! | C.O_DIRECTORY!);
  await m.mkdirat(dfd, 'b');
  await m.mkdirat(dfd, Buffer.from('c'), 0o700);
  assert.ok(statSync(join(dir, 'b')).isDirectory());
  assert.ok(statSync(join(dir, 'c')).isDirectory());
  await assert.rejects(m.mkdir(join(dir, 'a')), isUM('EEXIST', join(dir, 'a')));
  await assert.rejects(m.mkdir(join(dir, 'no', 'such')), isUM('ENOENT'));
  await m.close(dfd);
  await rejectsArgType(m, [
    () => m.mkdir(42 as never),
    () => m.mkdir(join(dir, 'x'), '0o777' as never),
    () => m.mkdirat('3' as never, 'x'),
    () => m.mkdir('a\0b'),
  ]);
  assertNoPendingOps(m);
});

test('unlink / unlinkat: files, AT_REMOVEDIR for directories; ENOENT, EISDIR', async (t) => {
  const m = createMachine();
  const dir = tmpDir(t);
  writeFileSync(join(dir, 'f'), 'x');
  mkdirSync(join(dir, 'd'));
  await assert.rejects(m.unlink(join(dir, 'd')), isUM('EISDIR', join(dir, 'd')));
  await m.unlink(join(dir, 'f'));
  assert.equal(existsSync(join(dir, 'f')), false);
  await assert.rejects(m.unlink(join(dir, 'f')), isUM('ENOENT', join(dir, 'f')));
  const dfd = await m.open(dir, C.O_RDONLY! | C.O_DIRECTORY!);
  await m.unlinkat(dfd, 'd', C.AT_REMOVEDIR!);
  assert.equal(existsSync(join(dir, 'd')), false);
  await assert.rejects(m.unlinkat(dfd, 'd', C.AT_REMOVEDIR!), isUM('ENOENT'));
  await m.close(dfd);
  await rejectsArgType(m, [() => m.unlink(null as never), () => m.unlinkat(C.AT_FDCWD!, 'x', '1' as never)]);
  assertNoPendingOps(m);
});

test('link / linkat: a second name for the inode; EEXIST names both paths', async (t) => {
  const m = createMachine();
  const dir = tmpDir(t);
  writeFileSync(join(dir, 'f'), 'data');
  await m.link(join(dir, 'f'), join(dir, 'g'));
  assert.equal(statSync(join(dir, 'f')).nlink, 2);
  assert.equal(statSync(join(dir, 'g')).ino, statSync(join(dir, 'f')).ino);
  const dfd = await m.open(dir, C.O_RDONLY! | C.O_DIRECTORY!);
  await m.linkat(dfd, 'f', dfd, 'h', 0);
  assert.equal(statSync(join(dir, 'f')).nlink, 3);
  await m.close(dfd);
  await assert.rejects(m.link(join(dir, 'f'), join(dir, 'g')), (e: unknown) => {
    isUM('EEXIST', join(dir, 'f'))(e);
    assert.equal((e as { dest?: string }).dest, join(dir, 'g'));
    return true;
  });
  await rejectsArgType(m, [() => m.link('a', 5 as never), () => m.linkat(C.AT_FDCWD!, 'a', C.AT_FDCWD!, 'b', null as never)]);
  assertNoPendingOps(m);
});

test('symlink / symlinkat: the link points at the target; EEXIST', async (t) => {
  const m = createMachine();
  const dir = tmpDir(t);
  await m.symlink('target-that-need-not-exist', join(dir, 's'));
  assert.ok(lstatSync(join(dir, 's')).isSymbolicLink());
  assert.equal(readlinkSync(join(dir, 's')), 'target-that-need-not-exist');
  const dfd = await m.open(dir, C.O_RDONLY! | C.O_DIRECTORY!);
  await m.symlinkat('s', dfd, 't');
  assert.equal(readlinkSync(join(dir, 't')), 's');
  await m.close(dfd);
  await assert.rejects(m.symlink('x', join(dir, 's')), isUM('EEXIST', join(dir, 's')));
  await rejectsArgType(m, [() => m.symlink(undefined as never, 'x'), () => m.symlinkat('x', 'y' as never, 'z')]);
  assertNoPendingOps(m);
});

test('rename / renameat: move, RENAME_NOREPLACE (EEXIST), RENAME_EXCHANGE; ENOENT', async (t) => {
  const m = createMachine();
  const dir = tmpDir(t);
  writeFileSync(join(dir, 'a'), 'A');
  writeFileSync(join(dir, 'b'), 'B');
  await m.rename(join(dir, 'a'), join(dir, 'c'));
  assert.equal(existsSync(join(dir, 'a')), false);
  assert.equal(readFileSync(join(dir, 'c'), 'utf8'), 'A');
  await assert.rejects(
    m.renameat(C.AT_FDCWD!, join(dir, 'c'), C.AT_FDCWD!, join(dir, 'b'), C.RENAME_NOREPLACE!),
    isUM('EEXIST', join(dir, 'c')),
  );
  const dfd = await m.open(dir, C.O_RDONLY! | C.O_DIRECTORY!);
  await m.renameat(dfd, 'c', dfd, 'b', C.RENAME_EXCHANGE!);
  assert.equal(readFileSync(join(dir, 'b'), 'utf8'), 'A');
  assert.equal(readFileSync(join(dir, 'c'), 'utf8'), 'B');
  await m.close(dfd);
  await assert.rejects(m.rename(join(dir, 'nope'), join(dir, 'x')), isUM('ENOENT', join(dir, 'nope')));
  await rejectsArgType(m, [() => m.rename({} as never, 'x'), () => m.renameat(C.AT_FDCWD!, 'a', '1' as never, 'b', 0)]);
  assertNoPendingOps(m);
});

// ---- Extended attributes ---------------------------------------------------------

function xattrsWork(t: TestContext, dir: string): boolean {
  try {
    writeFileSync(join(dir, 'probe'), '');
    return true;
  } catch {
    t.skip('no writable tmp dir');
    return false;
  }
}

test('setxattr / getxattr: a large value comes back whole; XATTR_CREATE, ENODATA', async (t) => {
  const m = createMachine();
  const dir = tmpDir(t);
  if (!xattrsWork(t, dir)) return m.close();
  const p = join(dir, 'f');
  writeFileSync(p, 'x');
  // ext4 keeps a file's xattrs in one block: 3000 bytes is large but fits.
  const big = Buffer.alloc(3000);
  for (let i = 0; i < big.length; i++) big[i] = (i * 7) & 255;
  try {
    await m.setxattr(p, 'user.big', big);
  } catch (e) {
    if ((e as UMError).code === 'ENOTSUP' || (e as UMError).code === 'EOPNOTSUPP') {
      m.close();
      return t.skip('the tmp filesystem has no user xattrs');
    }
    throw e;
  }
  assert.deepEqual(await m.getxattr(p, 'user.big'), big);
  await m.setxattr(p, 'user.empty', '');
  assert.equal((await m.getxattr(p, 'user.empty')).length, 0);
  await m.setxattr(p, 'user.s', 'text', C.XATTR_CREATE!);
  assert.equal((await m.getxattr(Buffer.from(p), 'user.s')).toString(), 'text');
  await assert.rejects(m.setxattr(p, 'user.s', 'again', C.XATTR_CREATE!), isUM('EEXIST', p));
  await assert.rejects(m.getxattr(p, 'user.missing'), isUM('ENODATA', p));
  await assert.rejects(m.getxattr(join(dir, 'nope'), 'user.s'), isUM('ENOENT', join(dir, 'nope')));
  await rejectsArgType(m, [
    () => m.getxattr(p, 5 as never),
    () => m.setxattr(p, 'user.x', 7 as never),
    () => m.setxattr(p, 'user.x', 'v', 'c' as never),
    () => m.getxattr(3 as never, 'user.x'),
  ]);
  assertNoPendingOps(m);
});

test('fsetxattr / fgetxattr on an fd; EBADF', async (t) => {
  const m = createMachine();
  const dir = tmpDir(t);
  const p = join(dir, 'f');
  writeFileSync(p, 'x');
  const fd = await m.open(p, C.O_RDWR!);
  const v = Buffer.alloc(2500, 'v');
  try {
    await m.fsetxattr(fd, 'user.v', v);
  } catch (e) {
    await m.close(fd);
    if ((e as UMError).code === 'ENOTSUP' || (e as UMError).code === 'EOPNOTSUPP') {
      m.close();
      return t.skip('the tmp filesystem has no user xattrs');
    }
    throw e;
  }
  assert.deepEqual(await m.fgetxattr(fd, 'user.v'), v);
  await m.fsetxattr(fd, 'user.v', 'short', C.XATTR_REPLACE!);
  assert.equal((await m.fgetxattr(fd, 'user.v')).toString(), 'short');
  await m.close(fd);
  await assert.rejects(m.fgetxattr(fd, 'user.v'), isUM('EBADF'));
  await assert.rejects(m.fsetxattr(fd, 'user.v', 'x'), isUM('EBADF'));
  await rejectsArgType(m, [() => m.fgetxattr('1' as never, 'user.v'), () => m.fsetxattr(fd, null as never, 'x')]);
  assertNoPendingOps(m);
});

// ---- Advice -----------------------------------------------------------------------

test('fadvise: hints accepted; EBADF on a closed fd, ESPIPE on a pipe', async (t) => {
  const m = createMachine();
  const p = join(tmpDir(t), 'f');
  writeFileSync(p, Buffer.alloc(65536, 1));
  const fd = await m.open(p);
  await m.fadvise(fd, 0, 0, C.POSIX_FADV_SEQUENTIAL!);
  await m.fadvise(fd, 4096, 8192, C.POSIX_FADV_WILLNEED!);
  await m.close(fd);
  await assert.rejects(m.fadvise(fd, 0, 0, C.POSIX_FADV_NORMAL!), isUM('EBADF'));
  const [r, w] = UM.pipe();
  await assert.rejects(m.fadvise(r, 0, 0, C.POSIX_FADV_NORMAL!), isUM('ESPIPE'));
  closeSync(r);
  closeSync(w);
  await rejectsArgType(m, [() => m.fadvise(fd, '0' as never, 0, 0), () => m.fadvise(fd, 0, 0, undefined as never)]);
  assertNoPendingOps(m);
});

test('madvise: safe hints on whole pages inside the buffer; content-destroying advices rejected', async () => {
  const m = createMachine();
  const buf = Buffer.alloc(5 * 4096 + 100, 0xab);
  await m.madvise(buf, C.MADV_WILLNEED!);
  await m.madvise(buf, C.MADV_SEQUENTIAL!);
  await m.madvise(buf, C.MADV_NORMAL!);
  await m.madvise(buf.subarray(1), C.MADV_WILLNEED!); // unaligned start: the kernel would say EINVAL
  await m.madvise(buf.subarray(1, 4000), C.MADV_RANDOM!); // no whole page inside: nothing to do
  const before = m.metrics().totalOps;
  for (const advice of [C.MADV_DONTNEED!, C.MADV_FREE!, C.MADV_REMOVE!]) {
    await assert.rejects(m.madvise(buf, advice), (e: unknown) => {
      assert.ok(e instanceof TypeError);
      assert.equal((e as { code?: string }).code, 'ERR_INVALID_ARG_VALUE');
      assert.match((e as Error).message, /V8/);
      return true;
    });
  }
  assert.equal(m.metrics().totalOps, before);
  assert.ok(buf.every((b) => b === 0xab), 'buffer contents intact');
  await rejectsArgType(m, [() => m.madvise('buf' as never, C.MADV_NORMAL!), () => m.madvise(buf, '1' as never)]);
  assertNoPendingOps(m);
});

// ---- splice / tee --------------------------------------------------------------------

test('splice: file -> pipe -> file through the kernel, with offsets; ESPIPE, EBADF', async (t) => {
  const m = createMachine();
  const dir = tmpDir(t);
  const data = Buffer.alloc(40000);
  for (let i = 0; i < data.length; i++) data[i] = (i * 31) & 255;
  writeFileSync(join(dir, 'src'), data);
  const src = await m.open(join(dir, 'src'));
  const dst = await m.open(join(dir, 'dst'), C.O_CREAT! | C.O_WRONLY!, 0o600);
  const [r, w] = UM.pipe();
  let off = 1000; // copy from offset 1000 on, into dst at 0
  let out = 0;
  for (;;) {
    const n = await m.splice(src, off, w, -1, 16384);
    if (n === 0) break;
    off += n;
    let left = n;
    while (left > 0) {
      const k = await m.splice(r, -1, dst, out, left);
      left -= k;
      out += k;
    }
  }
  assert.deepEqual(readFileSync(join(dir, 'dst')), data.subarray(1000));
  await assert.rejects(m.splice(r, 0, dst, 0, 10), isUM('ESPIPE')); // an offset on the pipe side
  await m.close(src);
  await assert.rejects(m.splice(src, 0, w, -1, 10), isUM('EBADF'));
  await m.close(dst);
  closeSync(r);
  closeSync(w);
  await rejectsArgType(m, [
    () => m.splice('1' as never, -1, 2, -1, 1),
    () => m.splice(1, -1, 2, -1, '1' as never),
    () => m.splice(1, null as never, 2, -1, 1),
  ]);
  assertNoPendingOps(m);
});

test('splice from an empty pipe is cancelled when its fiber is terminated', async () => {
  const m = createMachine();
  const [r, w] = UM.pipe();
  const [r2, w2] = UM.pipe();
  let caught: unknown;
  const f = m.spin(async () => {
    try {
      await m.splice(r, -1, w2, -1, 100);
    } catch (e) {
      caught = e;
      throw e;
    }
  });
  await until(m, () => m.metrics().opsPending === 1 && m.pendingFibers.size === 1);
  m.terminate(f);
  assert.equal(await m.join(f), undefined);
  assert.equal((caught as { code?: string }).code, 'UM_TERMINATE');
  assert.equal(m.metrics().opsPending, 0);
  for (const fd of [r, w, r2, w2]) closeSync(fd);
  assertNoPendingOps(m);
});

test('tee: duplicates pipe data without consuming it; EINVAL on a non-pipe; cancellable', async (t) => {
  const m = createMachine();
  const [r1, w1] = UM.pipe();
  const [r2, w2] = UM.pipe();
  await m.write(w1, 'tee data');
  assert.equal(await m.tee(r1, w2, 100), 8);
  const a = Buffer.alloc(16);
  const b = Buffer.alloc(16);
  assert.equal((a.subarray(0, await m.read(r1, a))).toString(), 'tee data');
  assert.equal((b.subarray(0, await m.read(r2, b))).toString(), 'tee data');
  const p = join(tmpDir(t), 'f');
  writeFileSync(p, 'x');
  const fd = openSync(p, 'r');
  await assert.rejects(m.tee(fd, w2, 1), isUM('EINVAL'));
  closeSync(fd);
  // r1 is empty now: tee waits; a timeout cancels it.
  await assert.rejects(m.timeout(20, () => m.tee(r1, w2, 10)), { code: 'UM_TIMEOUT' });
  assert.equal(m.metrics().opsPending, 0);
  for (const x of [r1, w1, r2, w2]) closeSync(x);
  await rejectsArgType(m, [() => m.tee(1, 2, '1' as never), () => m.tee(null as never, 2, 1)]);
  assertNoPendingOps(m);
});

// ---- waitid ---------------------------------------------------------------------------

function needsWaitid(t: TestContext, m: UringMachine): boolean {
  if (m.supports('WAITID')) return true;
  m.close();
  t.skip('IORING_OP_WAITID needs Linux >= 6.7');
  return false;
}

/**
 * Block the thread (not just the fiber) until the child is a zombie. libuv
 * reaps the children it spawned when it handles SIGCHLD, which it cannot
 * do while this runs; the waitid issued next sees the zombie first.
 */
function waitZombie(pid: number): void {
  const nap = new Int32Array(new SharedArrayBuffer(4));
  for (let i = 0; i < 5000; i++) {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    if (stat[stat.lastIndexOf(')') + 2] === 'Z') return;
    Atomics.wait(nap, 0, 0, 1);
  }
  assert.fail(`child ${pid} did not exit`);
}

function exited(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
}

test('waitid: exit code (P_PID) and killing signal (P_PIDFD), with si_code', async (t) => {
  const m = createMachine();
  if (!needsWaitid(t, m)) return;
  const c1 = spawn('/bin/sh', ['-c', 'exit 7'], { stdio: 'ignore' });
  waitZombie(c1.pid!);
  // WNOWAIT leaves the zombie for libuv to reap, so node's 'exit' still fires.
  const r1 = await m.waitid(C.P_PID!, c1.pid!, C.WEXITED! | C.WNOWAIT!);
  assert.deepEqual(r1, { pid: c1.pid, status: 7, code: C.CLD_EXITED });
  await exited(c1);

  const c2 = spawn('sleep', ['30'], { stdio: 'ignore' });
  const pidfd = UM.pidfdOpen(c2.pid!);
  UM.pidfdSendSignal(pidfd, C.SIGKILL!);
  waitZombie(c2.pid!);
  const r2 = await m.waitid(C.P_PIDFD!, pidfd, C.WEXITED! | C.WNOWAIT!);
  assert.deepEqual(r2, { pid: c2.pid, status: C.SIGKILL, code: C.CLD_KILLED });
  closeSync(pidfd);
  await exited(c2);

  // (Without WNOWAIT, see the next test: it is added for node's children.)
  assertNoPendingOps(m);
});

test("waitid on a child of node:child_process does not steal its exit: WNOWAIT is added, 'exit' still fires with the status", async (t) => {
  const m = createMachine();
  if (!needsWaitid(t, m)) return;
  const c1 = spawn('/bin/sh', ['-c', 'exit 7'], { stdio: 'ignore' });
  const exit1 = new Promise<number | null>((resolve) => c1.once('exit', (code) => resolve(code)));
  waitZombie(c1.pid!);
  assert.deepEqual(await m.waitid(C.P_PID!, c1.pid!, C.WEXITED!), { pid: c1.pid, status: 7, code: C.CLD_EXITED });
  assert.equal(await exit1, 7, "node's 'exit' got the status");
  // By pidfd too.
  const c2 = spawn('/bin/sh', ['-c', 'exit 5'], { stdio: 'ignore' });
  const exit2 = new Promise<number | null>((resolve) => c2.once('exit', (code) => resolve(code)));
  const pidfd = UM.pidfdOpen(c2.pid!);
  waitZombie(c2.pid!);
  assert.deepEqual(await m.waitid(C.P_PIDFD!, pidfd, C.WEXITED!), { pid: c2.pid, status: 5, code: C.CLD_EXITED });
  closeSync(pidfd);
  assert.equal(await exit2, 5);
  // P_ALL / P_PGID could reap one of node's children: refused while it has some.
  const c3 = spawn('sleep', ['30'], { stdio: 'ignore' });
  await assert.rejects(m.waitid(C.P_ALL!, 0, C.WEXITED!), { code: 'ERR_UM_WAITID_NODE_CHILD' });
  await assert.rejects(m.waitid(C.P_PGID!, 0, C.WEXITED! | C.WNOHANG!), { code: 'ERR_UM_WAITID_NODE_CHILD' });
  // With WNOWAIT nothing is reaped: allowed.
  assert.deepEqual(await m.waitid(C.P_ALL!, 0, C.WEXITED! | C.WNOHANG! | C.WNOWAIT!), { pid: 0, status: 0, code: 0 });
  c3.kill('SIGKILL');
  await exited(c3);
  assertNoPendingOps(m);
});

test('waitid: WSTOPPED reports the stopping signal; WNOHANG with nothing to report', async (t) => {
  const m = createMachine();
  if (!needsWaitid(t, m)) return;
  const child = spawn('sleep', ['30'], { stdio: 'ignore' });
  const pid = child.pid!;
  const f = m.spin(() => m.waitid(C.P_PID!, pid, C.WSTOPPED!));
  process.kill(pid, 'SIGSTOP');
  assert.deepEqual(await m.join(f), { pid, status: C.SIGSTOP, code: C.CLD_STOPPED });
  assert.deepEqual(await m.waitid(C.P_PID!, pid, C.WEXITED! | C.WNOHANG!), { pid: 0, status: 0, code: 0 });
  child.kill('SIGKILL');
  await exited(child);
  assertNoPendingOps(m);
});

test('waitid: ECHILD for a process that is not our child; cancelled on a running child', async (t) => {
  const m = createMachine();
  if (!needsWaitid(t, m)) return;
  await assert.rejects(m.waitid(C.P_PID!, 1, C.WEXITED!), isUM('ECHILD'));
  const child = spawn('sleep', ['30'], { stdio: 'ignore' });
  const f = m.spin(() => m.waitid(C.P_PID!, child.pid!, C.WEXITED!));
  await until(m, () => m.metrics().opsPending === 1 && m.pendingFibers.size === 1);
  m.terminate(f);
  assert.equal(await m.join(f), undefined);
  assert.equal(m.metrics().opsPending, 0);
  child.kill('SIGKILL');
  await exited(child);
  await rejectsArgType(m, [
    () => m.waitid('P_PID' as never, 1, C.WEXITED!),
    () => m.waitid(C.P_PID!, null as never, C.WEXITED!),
    () => m.waitid(C.P_PID!, 1, undefined as never),
  ]);
  assertNoPendingOps(m);
});

test('waitid: P_PGID waits for a child in that process group', async (t) => {
  const m = createMachine();
  if (!needsWaitid(t, m)) return;
  // detached: the child leads a new process group whose id is its pid.
  const child = spawn('/bin/sh', ['-c', 'exit 5'], { stdio: 'ignore', detached: true });
  waitZombie(child.pid!);
  // No child of ours is in init's group: ECHILD, so the group is what is matched.
  await assert.rejects(m.waitid(C.P_PGID!, 1, C.WEXITED! | C.WNOHANG!), isUM('ECHILD'));
  assert.deepEqual(await m.waitid(C.P_PGID!, child.pid!, C.WEXITED! | C.WNOWAIT!), {
    pid: child.pid,
    status: 5,
    code: C.CLD_EXITED,
  });
  await exited(child);
  assertNoPendingOps(m);
});

test('paths as Buffers and Uint8Arrays, for every op taking a path', async (t) => {
  const m = createMachine();
  const dir = tmpDir(t);
  const B = (s: string): Buffer => Buffer.from(join(dir, s));
  const U = (s: string): Uint8Array => new Uint8Array(Buffer.from(join(dir, s)));
  await m.mkdir(B('d'));
  await m.mkdirat(C.AT_FDCWD!, U('e'), 0o700);
  assert.ok(statSync(join(dir, 'd')).isDirectory() && statSync(join(dir, 'e')).isDirectory());
  writeFileSync(join(dir, 'f'), 'data');
  await m.link(B('f'), U('g'));
  await m.linkat(C.AT_FDCWD!, U('f'), C.AT_FDCWD!, B('h'), 0);
  assert.equal(statSync(join(dir, 'f')).nlink, 3);
  await m.symlink(Buffer.from('f'), U('s'));
  await m.symlinkat(new Uint8Array(Buffer.from('g')), C.AT_FDCWD!, B('s2'));
  assert.equal(readlinkSync(join(dir, 's')), 'f');
  assert.equal(readlinkSync(join(dir, 's2')), 'g');
  await m.rename(B('g'), U('g2'));
  await m.renameat(C.AT_FDCWD!, U('h'), C.AT_FDCWD!, B('h2'), 0);
  assert.ok(existsSync(join(dir, 'g2')) && existsSync(join(dir, 'h2')));
  await m.unlink(U('g2'));
  await m.unlinkat(C.AT_FDCWD!, B('e'), C.AT_REMOVEDIR!);
  assert.equal(existsSync(join(dir, 'g2')), false);
  assert.equal(existsSync(join(dir, 'e')), false);
  await m.setxattr(B('f'), 'user.k', 'v');
  assert.equal((await m.getxattr(U('f'), 'user.k')).toString(), 'v');
  // A Buffer path in an error is decoded for err.path.
  await assert.rejects(m.unlink(B('nope')), isUM('ENOENT', join(dir, 'nope')));
  assertNoPendingOps(m);
});

test('getxattr: the value size is asked, not guessed: the largest value the fs takes comes back whole', async (t) => {
  const m = createMachine();
  const dir = tmpDir(t);
  const p = join(dir, 'f');
  writeFileSync(p, 'x');
  let stored: Buffer | null = null;
  // XATTR_SIZE_MAX is 64 KiB; ext4 without ea_inode takes what fits a block.
  for (let size = 65536; size >= 1024 && stored === null; size >>= 1) {
    const v = Buffer.allocUnsafe(size - 100);
    for (let i = 0; i < v.length; i++) v[i] = (i * 13 + 5) & 255;
    try {
      await m.setxattr(p, 'user.large', v);
      stored = v;
    } catch (e) {
      const code = (e as UMError).code;
      if (code === 'ENOTSUP' || code === 'EOPNOTSUPP') {
        m.close();
        return t.skip('the tmp filesystem has no user xattrs');
      }
      if (code !== 'ENOSPC' && code !== 'E2BIG' && code !== 'ERANGE') throw e;
    }
  }
  assert.ok(stored !== null && stored.length >= 900);
  const got = await m.getxattr(p, 'user.large');
  assert.equal(got.length, stored.length);
  assert.deepEqual(got, stored);
  const fd = openSync(p, 'r');
  assert.deepEqual(await m.fgetxattr(fd, 'user.large'), stored);
  closeSync(fd);
  assertNoPendingOps(m);
});

/**
 * Each op started in a fiber that is terminated at once: ops the kernel
 * runs to the end on an io-wq thread (mkdir, link, ...) are not cut short,
 * but the fiber still ends with Terminate, and nothing is left pending.
 * And a fiber with a pending cancel submits nothing at all.
 */
test('cancellation of the path/xattr/advice ops: terminate right after submission, and before it', async (t) => {
  const m = createMachine();
  const dir = tmpDir(t);
  writeFileSync(join(dir, 'f'), 'x');
  const fd = openSync(join(dir, 'f'), 'r+');
  const buf = Buffer.alloc(3 * 4096);
  let k = 0;
  const calls: [string, () => Promise<unknown>][] = [
    ['mkdir', () => m.mkdir(join(dir, `m${k++}`))],
    ['link', () => m.link(join(dir, 'f'), join(dir, `l${k++}`))],
    ['symlink', () => m.symlink('f', join(dir, `s${k++}`))],
    ['rename', () => m.rename(join(dir, `nothing${k++}`), join(dir, 'x'))],
    ['unlink', () => m.unlink(join(dir, `nothing${k++}`))],
    ['setxattr', () => m.setxattr(join(dir, 'f'), 'user.c', 'v')],
    ['getxattr', () => m.getxattr(join(dir, 'f'), 'user.none')],
    ['fsetxattr', () => m.fsetxattr(fd, 'user.c', 'w')],
    ['fgetxattr', () => m.fgetxattr(fd, 'user.none')],
    ['mkdirat', () => m.mkdirat(C.AT_FDCWD!, join(dir, `ma${k++}`))],
    ['unlinkat', () => m.unlinkat(C.AT_FDCWD!, join(dir, `nothing${k++}`), 0)],
    ['fadvise', () => m.fadvise(fd, 0, 0, C.POSIX_FADV_NORMAL!)],
    ['madvise', () => m.madvise(buf, C.MADV_NORMAL!)],
  ];
  for (const [name, call] of calls) {
    // After submission: the cancel is raised at the op, or, where the op
    // completed before the cancel took effect, at the next one.
    let caught: unknown;
    const f = m.spin(async () => {
      const p = call();
      m.terminate(f);
      try {
        await p.catch((e: unknown) => {
          if ((e as { code?: string }).code !== 'UM_TERMINATE') return; // the op's own error won
          throw e;
        });
        await m.sleep(1e6);
      } catch (e) {
        caught = e;
        throw e;
      }
    });
    assert.equal(await m.join(f), undefined, name);
    assert.equal((caught as { code?: string }).code, 'UM_TERMINATE', name);
    assert.equal(m.metrics().opsPending, 0, name);
    // Before submission: the pending cancel rejects, nothing is submitted.
    const before = m.metrics().totalOps;
    let caught2: unknown;
    const g = m.spin(async () => {
      m.terminate(g);
      await call().catch((e: unknown) => {
        caught2 = e;
      });
    });
    await m.join(g);
    assert.equal((caught2 as { code?: string }).code, 'UM_TERMINATE', `${name} (pending cancel)`);
    assert.equal(m.metrics().totalOps, before, `${name} submitted nothing`);
  }
  closeSync(fd);
  assertNoPendingOps(m);
});

test('splice and tee cut by m.timeout and terminate while bytes trickle in: every byte moved once, in order', async () => {
  // pipe A -> splice (or tee, then a drain of A) -> pipe B, each call cut by
  // a 1 ms timeout or a terminate about as often as data lands: a call that
  // moved bytes resolves their count, one that moved none rejects and is
  // retried, so B must carry exactly A's stream.
  const m = createMachine();
  const TOTAL = 600 * 1024;
  const stream = Buffer.alloc(TOTAL);
  for (let i = 0; i < TOTAL; i++) stream[i] = (i * 131 + (i >>> 10)) & 0xff;
  const stats = { calls: 0, cut: 0 };
  for (const op of ['splice', 'tee'] as const) {
    const [ar, aw] = UM.pipe();
    const [br, bw] = UM.pipe();
    const writer = m.spin(async () => {
      for (let k = 0, pos = 0; pos < TOTAL; k++) {
        pos += await m.write(aw, stream.subarray(pos, Math.min(TOTAL, pos + 3000)));
        // about the calls' timeout, and now and then a longer gap in which
        // a call waits on an empty pipe and is cut whatever the load
        await m.sleep(k % 20 === 19 ? 4 : 0.9);
      }
      await m.close(aw);
    });
    const reader = m.spin(async () => {
      const got = Buffer.alloc(TOTAL + 1);
      let n = 0;
      for (;;) {
        const k = await m.read(br, got.subarray(n));
        if (k === 0) break;
        n += k;
      }
      assert.equal(n, TOTAL, `${op}: bytes through`);
      assert.ok(got.subarray(0, n).equals(stream), `${op}: in order, none twice`);
    });
    const drain = Buffer.alloc(65536);
    for (let k = 0; ; k++) {
      const call = (): Promise<number> => (op === 'splice' ? m.splice(ar, -1, bw, -1, 65536) : m.tee(ar, bw, 65536));
      let n: number | undefined;
      if (k % 3 === 2) {
        const f = m.spin(call);
        await m.sleep(1);
        m.terminate(f);
        n = await m.join(f);
      } else {
        try {
          n = await m.timeout(1, call);
        } catch (e) {
          assert.ok(e instanceof TimeoutError, String(e));
        }
      }
      stats.calls++;
      if (n === undefined) {
        stats.cut++;
        continue;
      }
      if (n === 0) break; // A's writer closed and A is empty
      // tee copied n bytes and left them in A: take exactly those out
      for (let left = n; op === 'tee' && left > 0; ) left -= await m.read(ar, drain, left);
    }
    await m.close(bw);
    await m.join(writer, reader);
    for (const fd of [ar, br]) await m.close(fd);
  }
  assert.ok(stats.cut > 0, JSON.stringify(stats));
  assertNoPendingOps(m);
});

test('waitid pending when a node child exits reports its status, even when libuv reaps the child first', async (t) => {
  // Node's children are reaped by libuv when SIGCHLD comes; waitid adds
  // WNOWAIT so that it never takes a status from node. libuv's handler and
  // the waitid's completion run on this one thread, and when libuv's runs
  // first the kernel's waitid finds no child (ECHILD): the status then comes
  // from the ChildProcess, which Node filled in when it reaped it. Before
  // that, most of these waits rejected with ECHILD (40 children, exits
  // spread over 100-900 ms, every wait pending before its child exits).
  const m = createMachine();
  if (!needsWaitid(t, m)) return;
  const N = 40;
  const children = Array.from({ length: N }, (_, i) => spawn('/bin/sh', ['-c', `sleep 0.${1 + (i % 9)}; exit ${i}`], { stdio: 'ignore' }));
  const results = await Promise.all(children.map((ch) => m.waitid(C.P_PID!, ch.pid!, C.WEXITED!)));
  for (let i = 0; i < N; i++) assert.deepEqual(results[i], { pid: children[i]!.pid, status: i, code: C.CLD_EXITED }, `child ${i}`);
  const codes = await Promise.all(children.map((ch) => exited(ch).then(() => ch.exitCode)));
  assert.deepEqual(codes, children.map((_, i) => i), "node's 'exit' still fires with each status");
  // Killed while waited for: the signal, CLD_KILLED.
  const sleepers = Array.from({ length: 5 }, () => spawn('sleep', ['30'], { stdio: 'ignore' }));
  const waits = sleepers.map((ch) => m.waitid(C.P_PID!, ch.pid!, C.WEXITED!));
  await m.sleep(20);
  for (const ch of sleepers) ch.kill('SIGKILL');
  const killed = await Promise.all(waits);
  for (let i = 0; i < sleepers.length; i++) {
    assert.deepEqual(killed[i], { pid: sleepers[i]!.pid, status: C.SIGKILL, code: C.CLD_KILLED }, `sleeper ${i}`);
  }
  await Promise.all(sleepers.map(exited));
  assertNoPendingOps(m);
});
