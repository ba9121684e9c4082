// Shared test helpers: a fresh machine per test (SQPOLL when
// UM_TEST_SQPOLL=1), the end-of-test check that nothing leaked, a bounded
// wait for a condition, temporary directories, and forced GC.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { UringMachine, type UringMachineOptions } from 'uringmachine';

/** A new machine; with UM_TEST_SQPOLL=1 it uses SQPOLL unless opts says otherwise. */
export function createMachine(opts: UringMachineOptions = {}): UringMachine {
  if (process.env.UM_TEST_SQPOLL === '1' && opts.sqpoll === undefined) opts = { ...opts, sqpoll: true };
  return new UringMachine(opts);
}

/**
 * Fails on leaked ops (opsPending), internal cancels still in flight
 * (opsTransient) or live fibers (m.fibers); then closes m.
 */
export function assertNoPendingOps(m: UringMachine): void {
  const x = m.metrics();
  assert.equal(x.opsPending, 0, 'ops pending');
  assert.equal(x.opsTransient, 0, 'internal ops pending');
  assert.equal(m.fibers.size, 0, 'fibers alive');
  m.close();
}

/**
 * Sleep 1 ms at a time (which lets fibers, completions and the event loop
 * run) until cond() holds, at most `max` times; fails the test otherwise.
 */
export async function until(m: UringMachine, cond: () => boolean, max = 5000, what = 'condition'): Promise<void> {
  for (let i = 0; i < max; i++) {
    if (cond()) return;
    await m.sleep(1);
  }
  assert.fail(`${what} not met after ${max} turns`);
}

/** Snooze until cond() holds, at most `max` times (no timers involved). */
export async function untilSnoozing(m: UringMachine, cond: () => boolean, max = 100_000, what = 'condition'): Promise<void> {
  for (let i = 0; i < max; i++) {
    if (cond()) return;
    await m.snooze();
  }
  assert.fail(`${what} not met after ${max} snoozes`);
}

/** Wait (bounded) until the machine has no op in flight and no live fiber. */
export async function settle(m: UringMachine): Promise<void> {
  await until(m, () => m.metrics().opsPending === 0 && m.metrics().opsTransient === 0 && m.fibers.size === 0, 5000, 'settled');
}

/** A fresh temporary directory, removed after the test. */
export function tmpDir(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'um-test-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A FIFO named `name` in a fresh temporary directory. */
export function tmpFifo(t: { after(fn: () => void): void }, name = 'fifo'): string {
  const p = join(tmpDir(t), name);
  execFileSync('mkfifo', [p]);
  return p;
}

/** Run a full GC `times` times; the suite runs with --expose-gc. */
export function gc(times = 3): void {
  assert.ok(globalThis.gc, 'run the tests with node --expose-gc');
  for (let i = 0; i < times; i++) globalThis.gc!();
}

/** A connected TCP pair over loopback: [server side, client side]. */
export async function tcpPair(m: UringMachine): Promise<[number, number, number]> {
  const listener = await m.tcpListen('127.0.0.1', 0);
  const port = await localPort(m, listener);
  const [a, b] = await Promise.all([m.accept(listener), m.tcpConnect('127.0.0.1', port)]);
  return [a, b, listener];
}

/** The port a socket is bound to (getsockname). */
export async function localPort(m: UringMachine, fd: number): Promise<number> {
  return m.getsockname(fd).port;
}

/** The port a socket is bound to, read from /proc/net/tcp{,6} (independent of getsockname). */
export function procPort(fd: number): number {
  const inode = /socket:\[(\d+)\]/.exec(readlinkSync(`/proc/self/fd/${fd}`))![1];
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    for (const line of readFileSync(file, 'utf8').split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f[9] === inode) return parseInt(f[1]!.split(':')[1]!, 16);
    }
  }
  throw new Error('socket not found');
}

/**
 * The path of test/fixtures/seccomp-deny (built with cc on first use, into
 * out/): runs a command with io_uring syscalls denied by a seccomp filter.
 */
export function seccompDeny(): string {
  const root = join(import.meta.dirname ?? new URL('.', import.meta.url).pathname, '..', '..');
  const bin = join(root, 'out', 'seccomp-deny');
  if (!existsSync(bin)) {
    execFileSync('cc', ['-O2', '-Wall', '-o', bin, join(root, 'test', 'fixtures', 'seccomp-deny.c')], { stdio: 'inherit' });
  }
  return bin;
}

/** The open fds of this process and what they are (readlink of /proc/self/fd/N). */
export function fdTable(): Map<string, string> {
  const t = new Map<string, string>();
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      t.set(fd, readlinkSync(`/proc/self/fd/${fd}`));
    } catch {
      // the directory's own fd, closed meanwhile
    }
  }
  return t;
}

/**
 * Anonymous inodes every event loop has (epoll, the uv_async eventfd, and on
 * Node 24 libuv's io_uring): Node and libuv make them by themselves, at any
 * point of a test (a worker thread's loop, libuv's lazy io_uring), so they
 * are not listed one by one. Every other anonymous inode (pidfd, inotify,
 * timerfd, signalfd...) is ours and checked like a file.
 */
export const LOOP_INODES = new Set(['anon_inode:[eventpoll]', 'anon_inode:[eventfd]', 'anon_inode:[io_uring]']);

function countOf(t: Map<string, string>, what: string): number {
  let n = 0;
  for (const w of t.values()) if (w === what) n++;
  return n;
}

/**
 * Files, pipes, sockets and our anonymous inodes (pidfds, inotify...) open
 * now that were not in `before` (fdTable()). Machines are counted by their
 * eventfd: one per machine, one per event loop; eventfds beyond the event
 * loops that appeared since `before` (their epoll fds) are machines left
 * open. A ring's own fd is not listed: libuv on Node 24 opens rings of its
 * own lazily.
 */
export function leakedFds(before: Map<string, string>): string[] {
  const now = fdTable();
  const out = [...now].filter(([fd, what]) => before.get(fd) !== what && !LOOP_INODES.has(what)).map(([fd, what]) => `${fd} -> ${what}`);
  const ev = (t: Map<string, string>): number => countOf(t, 'anon_inode:[eventfd]') - countOf(t, 'anon_inode:[eventpoll]');
  const machines = ev(now) - ev(before);
  if (machines > 0) out.push(`${machines} eventfd(s) more than event loops: a machine left open`);
  return out;
}

/** Open fds but the event loops' anonymous inodes (see leakedFds for why those are left out). */
export function countFds(): number {
  let n = 0;
  for (const what of fdTable().values()) if (!LOOP_INODES.has(what)) n++;
  return n;
}

// ---- Race tests' records: byte streams whose every record is checked ----

/** Size of a race-test record: u32 i, then u32 ~i. */
export const REC = 8;

/** Record i of a race test's stream. */
export function raceRecord(i: number): Buffer {
  const b = Buffer.alloc(REC);
  b.writeUInt32LE(i, 0);
  b.writeUInt32LE(~i >>> 0, 4);
  return b;
}

/**
 * Check that the whole records in `data` continue the sequence at `next`
 * (a lost or repeated byte shifts every record after it); returns the new
 * next.
 */
export function checkRaceRecords(data: Uint8Array, next: number): number {
  const v = Buffer.from(data.buffer, data.byteOffset, data.length);
  for (let o = 0; o + REC <= v.length; o += REC) {
    const i = v.readUInt32LE(o);
    assert.equal(v.readUInt32LE(o + 4), ~i >>> 0, `record ${next} corrupt`);
    assert.equal(i, next, `record ${next} expected, got ${i} (lost or duplicated)`);
    next++;
  }
  return next;
}

/**
 * Check the whole records at the front of buf[0, have) and move the rest to
 * the front: the reader loop of a race test.
 */
export function takeRaceRecords(buf: Buffer, have: number, next: number): { have: number; next: number } {
  const whole = have - (have % REC);
  next = checkRaceRecords(buf.subarray(0, whole), next);
  buf.copy(buf, 0, whole, have);
  return { have: have - whole, next };
}

/**
 * Timeouts (ms) drawn from `values` by a seeded LCG: a few µs, so that they
 * fire before, during and after the op they cut.
 */
export function tinyTimeouts(seed: number, values: readonly number[] = [0.002, 0.01, 0.03, 0.06]): () => number {
  let s = seed;
  return () => {
    s = (s * 1103515245 + 12345) >>> 0;
    return values[s >>> 30]!;
  };
}
