// m.watch(path) (issue 15): inotify events through the ring.
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, readlinkSync, renameSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';

import { IN, TimeoutError, type WatchEvent } from 'uringmachine';

import { assertNoPendingOps, createMachine, settle, tmpDir } from './helpers.js';

/**
 * The inotify fds this process has open. Not every fd: Node itself opens
 * and closes some while a test runs (seen on Node 24: one fewer after than
 * before), which a plain count took for the watch's.
 */
function openFds(): number {
  let n = 0;
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      if (readlinkSync(`/proc/self/fd/${fd}`) === 'anon_inode:inotify') n++;
    } catch {
      // closed since the directory was read (readdir's own fd among them)
    }
  }
  return n;
}

test('watch(dir): create, modify, rename, delete of entries, in order; ends when the directory is deleted', async (t) => {
  const m = createMachine();
  const dir = join(tmpDir(t), 'w');
  mkdirSync(dir);
  const fds = openFds();
  const seen: WatchEvent[] = [];
  const f = m.spin(async () => {
    for await (const e of m.watch(dir)) seen.push(e);
    return 'ended';
  });
  await m.sleep(5); // the watch is added when the loop starts
  assert.equal(openFds(), fds + 1, 'the watch has an inotify fd');
  writeFileSync(join(dir, 'a'), 'x');
  renameSync(join(dir, 'a'), join(dir, 'b'));
  unlinkSync(join(dir, 'b'));
  mkdirSync(join(dir, 'sub'));
  rmSync(dir, { recursive: true });
  assert.equal(await m.join(f), 'ended');
  const names = seen.map((e) => `${e.name}:${e.mask & ~IN.ISDIR}`);
  const want = [`a:${IN.CREATE}`, `a:${IN.MODIFY}`, `a:${IN.CLOSE_WRITE}`, `a:${IN.MOVED_FROM}`, `b:${IN.MOVED_TO}`, `b:${IN.DELETE}`, `sub:${IN.CREATE}`];
  for (const w of want) assert.ok(names.includes(w), `${w} in ${names.join(' ')}`);
  const from = seen.find((e) => e.mask & IN.MOVED_FROM)!;
  const to = seen.find((e) => e.mask & IN.MOVED_TO)!;
  assert.equal(from.cookie, to.cookie);
  assert.ok(seen.find((e) => e.name === 'sub')!.isDir);
  assert.ok(names.indexOf(`a:${IN.CREATE}`) < names.indexOf(`b:${IN.DELETE}`));
  assert.equal(openFds(), fds, 'the inotify fd was closed');
  assertNoPendingOps(m);
});

test('watch: break and m.timeout end the loop and close the fd; errors: ENOENT, bad arguments', async (t) => {
  const m = createMachine();
  const dir = tmpDir(t);
  const fds = openFds();
  await assert.rejects(
    m.timeout(5, async () => {
      for await (const e of m.watch(dir)) void e;
    }),
    TimeoutError,
  );
  const f = m.spin(async () => {
    for await (const e of m.watch(dir)) {
      void e;
      break;
    }
  });
  await m.sleep(5);
  writeFileSync(join(dir, 'x'), '');
  await m.join(f);
  await settle(m);
  assert.equal(openFds(), fds);
  await assert.rejects(async () => {
    for await (const e of m.watch(join(dir, 'missing'))) void e;
  }, { name: 'UMError', code: 'ENOENT', syscall: 'inotify_add_watch' });
  assert.throws(() => m.watch(42 as never), { code: 'ERR_INVALID_ARG_TYPE' });
  assert.throws(() => m.watch(dir, 0), { code: 'ERR_OUT_OF_RANGE' });
  assert.equal(openFds(), fds);
  assertNoPendingOps(m);
});
