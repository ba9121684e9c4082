// m.readFiles(): many whole files through the ring, bounded, byte for byte,
// no fd leaked whatever fails.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';

import { UMError } from 'uringmachine';

import { assertNoPendingOps, createMachine, tmpDir, until } from './helpers.js';

function fdCount(): number {
  return readdirSync('/proc/self/fd').length;
}

/** Deterministic content for file i. */
function content(i: number, size: number): Buffer {
  const b = Buffer.allocUnsafe(size);
  let x = (i * 2654435761) >>> 0;
  for (let k = 0; k < size; k++) {
    x = (x * 1103515245 + 12345) >>> 0;
    b[k] = x >>> 24;
  }
  return b;
}

/** 10,000 small files (0..2999 bytes) and 3 of 5 MiB, created once for the file. */
let corpus: { dir: string; paths: string[]; sizes: number[] } | null = null;
after(() => {
  if (corpus !== null) rmSync(corpus.dir, { recursive: true, force: true });
});
function bigCorpus(): { dir: string; paths: string[]; sizes: number[] } {
  if (corpus !== null) return corpus;
  const dir = mkdtempSync(join(tmpdir(), 'um-test-'));
  const paths: string[] = [];
  const sizes: number[] = [];
  for (let d = 0; d < 10; d++) mkdirSync(join(dir, `d${d}`));
  for (let i = 0; i < 10000; i++) {
    const p = join(dir, `d${i % 10}`, `f${i}`);
    const size = (i * 37) % 3000;
    writeFileSync(p, content(i, size));
    paths.push(p);
    sizes.push(size);
  }
  for (let i = 0; i < 3; i++) {
    const p = join(dir, `big${i}`);
    writeFileSync(p, content(100000 + i, 5 * 1024 * 1024));
    paths.push(p);
    sizes.push(5 * 1024 * 1024);
  }
  corpus = { dir, paths, sizes };
  return corpus;
}

test('readFiles: 10,000 small files and 3 x 5 MiB, byte for byte; then one missing in the middle', async (t) => {
  const { dir, paths, sizes } = bigCorpus();
  const m = createMachine();
  const fds = fdCount();
  const map = await m.readFiles(paths);
  assert.equal(map.size, paths.length);
  assert.deepEqual([...map.keys()], paths, 'in the order given');
  for (let i = 0; i < paths.length; i++) {
    const data = map.get(paths[i]!)!;
    assert.equal(data.length, sizes[i]);
    const want = i < 10000 ? content(i, sizes[i]!) : content(100000 + i - 10000, sizes[i]!);
    assert.ok(data.equals(want), `content of ${paths[i]}`);
  }
  assert.equal(fdCount(), fds);

  const missing = join(dir, 'd3', 'missing');
  const withHole = [...paths.slice(0, 5000), missing, ...paths.slice(5000)];
  await assert.rejects(m.readFiles(withHole), (e: unknown) => {
    assert.ok(e instanceof UMError);
    assert.equal(e.code, 'ENOENT');
    assert.equal(e.path, missing);
    assert.match(e.message, /missing/);
    return true;
  });
  assert.equal(m.metrics().opsPending, 0);
  assert.equal(fdCount(), fds);
  assertNoPendingOps(m);
});

test('readFiles with a callback: called once per file as each is read', async (t) => {
  const { paths } = bigCorpus();
  const m = createMachine();
  const some = paths.slice(0, 500);
  const seen = new Map<string, number>();
  const r = await m.readFiles(some, (path, data) => {
    assert.equal(seen.has(path), false);
    seen.set(path, data.length);
  });
  assert.equal(r, undefined);
  assert.equal(seen.size, some.length);
  for (const p of some) assert.equal(seen.get(p), readFileSync(p).length);
  // A callback that throws stops the batch: the promise rejects with its error, no fd left open.
  const fds = fdCount();
  let calls = 0;
  await assert.rejects(
    m.readFiles(some, () => {
      if (++calls === 10) throw new Error('enough');
    }),
    /enough/,
  );
  assert.ok(calls >= 10 && calls < some.length);
  assert.equal(fdCount(), fds);
  assertNoPendingOps(m);
});

test('readFiles: a directory rejects with EISDIR, permission with EACCES, naming the path', async (t) => {
  const m = createMachine();
  const dir = tmpDir(t);
  writeFileSync(join(dir, 'a'), 'a');
  mkdirSync(join(dir, 'sub'));
  const fds = fdCount();
  await assert.rejects(m.readFiles([join(dir, 'a'), join(dir, 'sub')]), (e: unknown) => {
    assert.ok(e instanceof UMError);
    assert.equal(e.code, 'EISDIR');
    assert.equal(e.path, join(dir, 'sub'));
    return true;
  });
  if (process.getuid?.() !== 0) {
    writeFileSync(join(dir, 'secret'), 's', { mode: 0o000 });
    await assert.rejects(m.readFiles([join(dir, 'secret')]), { code: 'EACCES', path: join(dir, 'secret') });
  }
  assert.equal(fdCount(), fds);
  assertNoPendingOps(m);
});

test('readFiles: empty files, files the stat size lies about (/proc, /sys), Buffer paths', async (t) => {
  const m = createMachine();
  const dir = tmpDir(t);
  writeFileSync(join(dir, 'empty'), '');
  const list: (string | Buffer)[] = [join(dir, 'empty'), Buffer.from('/proc/self/status')];
  // /proc files stat as size 0; /sys attributes stat as 4096 and hold less:
  // both must be read until a read returns 0.
  const sysFile = '/sys/devices/system/cpu/online';
  if (existsSync(sysFile)) list.push(sysFile);
  const map = await m.readFiles(list);
  assert.equal(map.get(join(dir, 'empty'))!.length, 0);
  assert.match(map.get('/proc/self/status')!.toString(), /^Name:/);
  if (existsSync(sysFile)) assert.equal(map.get(sysFile)!.toString(), readFileSync(sysFile, 'utf8'));
  assertNoPendingOps(m);
});

test('readFiles: bounded by a small ring and by opts.concurrency', async (t) => {
  const dir = tmpDir(t);
  const paths: string[] = [];
  for (let i = 0; i < 200; i++) {
    paths.push(join(dir, `f${i}`));
    writeFileSync(paths[i]!, content(i, 100 + i));
  }
  const m = createMachine({ entries: 8 });
  const map = await m.readFiles(paths);
  for (let i = 0; i < 200; i++) assert.ok(map.get(paths[i]!)!.equals(content(i, 100 + i)));
  assertNoPendingOps(m);

  const m2 = createMachine();
  const fds = fdCount();
  let maxOpen = 0;
  await m2.readFiles(
    paths,
    () => {
      maxOpen = Math.max(maxOpen, fdCount() - fds);
    },
    { concurrency: 2 },
  );
  assert.ok(maxOpen <= 2, `at most 2 files open, saw ${maxOpen}`);
  assertNoPendingOps(m2);
});

test('readFiles: terminated fiber: every op finishes, no fd left open', async (t) => {
  const { paths } = bigCorpus();
  const m = createMachine();
  const fds = fdCount();
  let caught: unknown;
  const f = m.spin(async () => {
    try {
      await m.readFiles(paths);
    } catch (e) {
      caught = e;
      throw e;
    }
  });
  await until(m, () => m.metrics().totalOps > 1000, 100000);
  m.terminate(f);
  assert.equal(await m.join(f), undefined);
  assert.equal((caught as { code?: string }).code, 'UM_TERMINATE');
  assert.equal(m.metrics().opsPending, 0);
  assert.equal(fdCount(), fds);
  assertNoPendingOps(m);
});

test('readFiles: wrong argument types reject before anything is submitted', async () => {
  const m = createMachine();
  const ops = m.metrics().totalOps;
  await assert.rejects(m.readFiles('/etc/hostname' as never), { code: 'ERR_INVALID_ARG_TYPE' });
  await assert.rejects(m.readFiles(null as never), { code: 'ERR_INVALID_ARG_TYPE' });
  await assert.rejects(m.readFiles(['/etc/hostname', 7 as never]), { code: 'ERR_INVALID_ARG_TYPE' });
  await assert.rejects(m.readFiles([], 'fn' as never), { code: 'ERR_INVALID_ARG_TYPE' });
  await assert.rejects(m.readFiles([], { concurrency: '4' as never }), { code: 'ERR_INVALID_ARG_TYPE' });
  await assert.rejects(m.readFiles([], { concurrency: 0 }), { code: 'ERR_OUT_OF_RANGE' });
  assert.equal(m.metrics().totalOps, ops);
  assert.deepEqual(await m.readFiles([]), new Map());
  assertNoPendingOps(m);
});
