// File and descriptor ops: open, read, write, writev, writeAsync, close,
// closeAsync, statx, fsync.
import assert from 'node:assert/strict';
import { fstatSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';

import { constants as C, UM, UMError } from 'uringmachine';

import { assertNoPendingOps, createMachine, tmpDir } from '../helpers.js';

test('open: flags and mode; ENOENT names the path', async (t) => {
  const m = createMachine();
  const dir = tmpDir(t);
  const p = join(dir, 'f');
  const fd = await m.open(p, C.O_CREAT! | C.O_WRONLY!, 0o640);
  assert.equal(await m.write(fd, 'hi'), 2);
  await m.close(fd);
  assert.equal(readFileSync(p, 'utf8'), 'hi');
  assert.equal(statSync(p).mode & 0o777, 0o640 & ~process.umask());
  await assert.rejects(m.open(join(dir, 'missing')), (e: unknown) => {
    assert.ok(e instanceof UMError);
    assert.equal(e.code, 'ENOENT');
    assert.equal(e.syscall, 'open');
    assert.equal(e.path, join(dir, 'missing'));
    return true;
  });
  assertNoPendingOps(m);
});

test('open with a callback closes the fd afterwards, also when fn throws', async (t) => {
  const m = createMachine();
  const p = join(tmpDir(t), 'f');
  writeFileSync(p, 'content');
  let seen = -1;
  const text = await m.open(p, C.O_RDONLY!, 0, async (fd) => {
    seen = fd;
    const buf = Buffer.alloc(16);
    return buf.subarray(0, await m.read(fd, buf)).toString();
  });
  assert.equal(text, 'content');
  assert.throws(() => fstatSync(seen), { code: 'EBADF' });
  await assert.rejects(
    m.open(p, C.O_RDONLY!, 0, (fd) => {
      seen = fd;
      throw new Error('inside');
    }),
    /inside/,
  );
  assert.throws(() => fstatSync(seen), { code: 'EBADF' });
  assertNoPendingOps(m);
});

test('read: bufOffset, negative bufOffset, maxlen, fileOffset, EOF', async (t) => {
  const m = createMachine();
  const p = join(tmpDir(t), 'f');
  writeFileSync(p, '0123456789');
  const fd = await m.open(p);
  const buf = Buffer.alloc(12, '.');
  assert.equal(await m.read(fd, buf, 4, 2), 4);
  assert.equal(buf.toString(), '..0123......');
  assert.equal(await m.read(fd, buf, 2, -3), 2); // offset buf.length + 1 - 3 = 10
  assert.equal(buf.toString(), '..0123....45');
  assert.equal(await m.read(fd, buf, 3, 0, 7), 3); // pread at 7
  assert.equal(buf.subarray(0, 3).toString(), '789');
  const rest = Buffer.alloc(16);
  assert.equal(await m.read(fd, rest), 4); // current position continues at 6
  assert.equal(rest.subarray(0, 4).toString(), '6789');
  assert.equal(await m.read(fd, rest), 0); // EOF
  await assert.rejects(m.read(fd, buf, 13), { code: 'ERR_OUT_OF_RANGE' });
  await m.close(fd);
  assertNoPendingOps(m);
});

test('write: strings, bytes, len, fileOffset; zero length submits nothing', async (t) => {
  const m = createMachine();
  const p = join(tmpDir(t), 'f');
  const fd = await m.open(p, C.O_CREAT! | C.O_RDWR!, 0o600);
  assert.equal(await m.write(fd, 'héllo'), 6); // UTF-8
  assert.equal(await m.write(fd, Buffer.from('abcdef'), 3), 3);
  assert.equal(await m.write(fd, new Uint8Array([0x5a]), undefined, 0), 1); // pwrite at 0
  const ops = m.metrics().totalOps;
  assert.equal(await m.write(fd, ''), 0);
  assert.equal(await m.write(fd, Buffer.alloc(4), 0), 0);
  assert.equal(m.metrics().totalOps, ops);
  await m.close(fd);
  assert.equal(readFileSync(p, 'utf8'), 'Zéllo' + 'abc');
  assertNoPendingOps(m);
});

test('writev writes everything, resubmitting after short writes', async () => {
  const m = createMachine();
  const [r, w] = UM.pipe();
  // 256 KiB in 64 pieces through a 64 KiB pipe: the kernel writes short.
  const pieces: Buffer[] = Array.from({ length: 64 }, (_, i) => Buffer.alloc(4096, i));
  pieces[3] = Buffer.from('a string piece');
  const total = pieces.reduce((n, b) => n + b.length, 0);
  const reader = m.spin(async () => {
    const out = Buffer.alloc(total);
    let got = 0;
    while (got < total) got += await m.read(r, out, Math.min(8192, total - got), got);
    return out;
  });
  assert.equal(await m.writev(w, pieces), total);
  assert.deepEqual(await m.join(reader), Buffer.concat(pieces));
  assert.equal(await m.writev(w, []), 0);
  assert.equal(await m.writev(w, ['x', 'yz']), 3);
  const b = Buffer.alloc(3);
  await m.read(r, b);
  assert.equal(b.toString(), 'xyz');
  await m.close(r);
  await m.close(w);
  assertNoPendingOps(m);
});

test('writeAsync: data pinned until written, even with no reference left', async () => {
  const m = createMachine();
  const [r, w] = UM.pipe();
  (() => {
    for (let i = 0; i < 16; i++) m.writeAsync(w, Buffer.alloc(1024, 0x41 + i));
  })();
  globalThis.gc?.();
  globalThis.gc?.();
  const out = Buffer.alloc(16 * 1024);
  let got = 0;
  while (got < out.length) got += await m.read(r, out, out.length - got, got);
  const counts = new Map<number, number>();
  for (const x of out) counts.set(x, (counts.get(x) ?? 0) + 1);
  for (let i = 0; i < 16; i++) assert.equal(counts.get(0x41 + i), 1024);
  while (m.metrics().opsPending) await m.snooze();
  m.closeAsync(r);
  m.closeAsync(w);
  while (m.metrics().opsPending) await m.snooze();
  assert.throws(() => fstatSync(r), { code: 'EBADF' });
  assertNoPendingOps(m);
});

test('statx agrees with fs.statSync', async (t) => {
  const m = createMachine();
  const p = join(tmpDir(t), 'f');
  writeFileSync(p, 'x'.repeat(1234));
  const s = await m.statx(C.AT_FDCWD!, p);
  const n = statSync(p);
  assert.equal(s.size, 1234);
  assert.equal(s.mode, n.mode);
  assert.equal(s.ino, n.ino);
  assert.equal(s.nlink, n.nlink);
  assert.equal(s.uid, n.uid);
  assert.equal(s.gid, n.gid);
  assert.equal(s.dev, n.dev);
  assert.ok(Math.abs(s.mtime - n.mtimeMs) < 1);
  // fstat form
  const fd = await m.open(p);
  assert.equal((await m.statx(fd, '', C.AT_EMPTY_PATH!)).size, 1234);
  await m.close(fd);
  await assert.rejects(m.statx(C.AT_FDCWD!, p + '.missing'), { code: 'ENOENT', syscall: 'statx' });
  assertNoPendingOps(m);
});

test('fsync and fdatasync', async (t) => {
  const m = createMachine();
  const fd = await m.open(join(tmpDir(t), 'f'), C.O_CREAT! | C.O_WRONLY!, 0o600);
  await m.write(fd, 'data');
  assert.equal(await m.fsync(fd), undefined);
  assert.equal(await m.fsync(fd, { datasync: true }), undefined);
  await m.close(fd);
  await assert.rejects(m.fsync(fd), { code: 'EBADF', syscall: 'fsync' });
  assertNoPendingOps(m);
});
