// m.readFiles(): many whole files through the ring, bounded, byte for byte,
// no fd leaked whatever fails.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, statSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';

import { UMError } from 'uringmachine';

import { assertNoPendingOps, countFds, createMachine, tmpDir, until } from './helpers.js';

function fdCount(): number {
  return countFds();
}

/**
 * Every slot of the machine's default file table (1024) is free: as many
 * openDirect calls succeed, and the next is ENFILE. A slot a readFiles
 * worker kept would make one fewer succeed.
 */
async function assertTableFree(m: ReturnType<typeof createMachine>, path: string): Promise<void> {
  const held = [];
  for (let i = 0; i < 1024; i++) held.push(await m.openDirect(path));
  await assert.rejects(m.openDirect(path), { name: 'UMError', code: 'ENFILE' });
  for (const d of held) await m.closeDirect(d);
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
  // Each worker's slot was closed on its way out.
  await assertTableFree(m, paths[0]!);
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
  await assert.rejects(m.readFiles(['/etc/hostname'], { direct: 1 as never }), { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' });
  assert.equal(m.metrics().totalOps, ops);
  assert.deepEqual(await m.readFiles([]), new Map());
  assertNoPendingOps(m);
});

test('readFiles: a file larger than one read whose stat size is 0 (/proc/kallsyms: megabytes)', async () => {
  const m = createMachine();
  const fds = fdCount();
  const p = '/proc/kallsyms';
  if (!existsSync(p)) {
    m.close();
    return;
  }
  const want = readFileSync(p);
  const map = await m.readFiles([p, Buffer.from(p)]);
  // It is read by a loop of reads into a growing buffer: several reads, each
  // returning what seq_file has; byte for byte the same as readFileSync.
  assert.ok(want.length > 64 * 1024, `kallsyms is ${want.length} bytes`);
  assert.ok(map.get(p)!.equals(want));
  assert.equal(fdCount(), fds);
  assertNoPendingOps(m);
});

test('readFiles: files that change size while they are read: each result is what some moment held', async (t) => {
  const dir = tmpDir(t);
  const files = [join(dir, 'g0'), join(dir, 'g1'), join(dir, 'g2')];
  for (const f of files) writeFileSync(f, '');
  // Byte k of file f is only ever pat(f, k) (never 0): another process
  // truncates each file and appends the next bytes of its pattern, over and
  // over. A read racing with that may see a page whose tail the kernel has
  // zeroed (readFileSync does too), but never another byte: a result must
  // hold pat(f, k) or 0 at every k, and nothing of another file or of a
  // reused buffer.
  const pat = '(f, k) => (((k * 7 + 3 + f * 50 + (k >> 8)) & 255) || 1)';
  const writer = spawn(
    process.execPath,
    [
      '-e',
      `
      const fs = require('node:fs');
      const pat = ${pat};
      const files = ${JSON.stringify(files)};
      const max = 300 * 1024;
      const patterns = files.map((_, f) => { const b = Buffer.alloc(max); for (let k = 0; k < max; k++) b[k] = pat(f, k); return b; });
      const fds = files.map((p) => fs.openSync(p, 'r+'));
      const len = files.map(() => 0);
      const sizes = [0, 10, 4095, 4096, 4097, 32767, 32768, 32769, 70000, 150000, max];
      let x = 1;
      for (;;) {
        for (let f = 0; f < fds.length; f++) {
          x = (x * 1103515245 + 12345) >>> 0;
          const L = sizes[x % sizes.length];
          if (L < len[f]) fs.ftruncateSync(fds[f], L);
          else if (L > len[f]) fs.writeSync(fds[f], patterns[f], len[f], L - len[f], len[f]);
          len[f] = L;
        }
      }
      `,
    ],
    { stdio: 'ignore' },
  );
  t.after(() => writer.kill('SIGKILL'));
  const check = eval(pat) as (f: number, k: number) => number;
  const m = createMachine();
  const fds = fdCount();
  const list: string[] = [];
  for (let i = 0; i < 600; i++) list.push(files[i % files.length]!);
  let seen = 0;
  let bad = '';
  const sizes = new Set<number>();
  // The writer is running once a file is not empty any more.
  await until(m, () => files.some((f) => statSync(f).size > 0), 10000, 'the writer started');
  let rounds = 0;
  for (; rounds < 5 || (sizes.size < 4 && rounds < 100); rounds++) {
    await m.readFiles(
      list,
      (path, data) => {
        seen++;
        sizes.add(data.length);
        const f = files.indexOf(path);
        for (let k = 0; k < data.length && bad === ''; k++) {
          if (data[k] !== 0 && data[k] !== check(f, k)) bad = `${path}: byte ${k} of ${data.length} is ${data[k]}`;
        }
        if (data.length > 300 * 1024) bad = `${path}: ${data.length} bytes`;
      },
      { concurrency: 8 },
    );
  }
  writer.kill('SIGKILL');
  assert.equal(bad, '');
  assert.equal(seen, rounds * list.length);
  assert.ok(sizes.size >= 4, 'the files did change size');
  assert.equal(fdCount(), fds);
  assertNoPendingOps(m);
});

test('readFiles: never more files open than opts.concurrency, never more ops than the ring holds (sampled)', async (t) => {
  const dir = tmpDir(t);
  const paths: string[] = [];
  for (let i = 0; i < 300; i++) {
    paths.push(join(dir, `f${i}`));
    writeFileSync(paths[i]!, content(i, i % 3 === 0 ? 40000 + i : 100 + i));
  }
  for (const [entries, concurrency] of [
    [4096, 3],
    [8, 100],
  ] as const) {
    const m = createMachine({ entries });
    const size = m.metrics().size;
    const fds = fdCount();
    let maxFds = 0;
    let maxPending = 0;
    let done = false;
    let samples = 0;
    // A fiber that looks between reaps: files the pipeline has open then are
    // open fds, ops in flight are opsPending.
    const sampler = m.spin(async () => {
      while (!done) {
        maxFds = Math.max(maxFds, fdCount() - fds);
        maxPending = Math.max(maxPending, m.metrics().opsPending);
        samples++;
        await m.snooze();
      }
    });
    const map = await m.readFiles(paths, { concurrency });
    done = true;
    await m.join(sampler);
    for (let i = 0; i < paths.length; i++) assert.ok(map.get(paths[i]!)!.equals(content(i, i % 3 === 0 ? 40000 + i : 100 + i)));
    assert.ok(samples > 1);
    const width = Math.min(concurrency, Math.floor(size / 3));
    assert.ok(maxFds <= width, `entries ${entries}: ${maxFds} files open at once, bound ${width}`);
    assert.ok(maxPending <= size, `entries ${entries}: ${maxPending} ops in flight, ring ${size}`);
    assert.ok(maxPending <= 3 * width, `entries ${entries}: ${maxPending} ops in flight, bound ${3 * width}`);
    assert.equal(fdCount(), fds);
    assertNoPendingOps(m);
  }
});

test('readFiles: aborted through cancellable() mid-way: rejects with the reason, every fd closed', async () => {
  const { paths } = bigCorpus();
  const m = createMachine();
  const fds = fdCount();
  const ac = new AbortController();
  const reason = new Error('stop reading');
  let calls = 0;
  await assert.rejects(
    m.cancellable(ac.signal, () =>
      m.readFiles(paths, () => {
        if (++calls === 100) ac.abort(reason);
      }),
    ),
    (e: unknown) => e === reason,
  );
  assert.ok(calls >= 100 && calls < paths.length, `${calls} files delivered`);
  assert.equal(m.metrics().opsPending, 0);
  assert.equal(fdCount(), fds);
  await assertTableFree(m, paths[0]!);
  // The machine is still usable.
  assert.equal((await m.readFiles(paths.slice(0, 3))).size, 3);
  assertNoPendingOps(m);
});

test('readFiles reads through slots of the ring\'s file table by default (no file in the fd table); { direct: false } uses fds; same bytes', async (t) => {
  const dir = tmpDir(t);
  const paths: string[] = [];
  for (let i = 0; i < 300; i++) {
    paths.push(join(dir, `f${i}`));
    writeFileSync(paths[i]!, content(i, i % 3 === 0 ? 40000 + i : 100 + i));
  }
  for (const direct of [undefined, true, false]) {
    const m = createMachine();
    const fds = fdCount();
    let maxFds = 0;
    let done = false;
    const sampler = m.spin(async () => {
      while (!done) {
        maxFds = Math.max(maxFds, fdCount() - fds);
        await m.snooze();
      }
    });
    const map = await m.readFiles(paths, direct === undefined ? { concurrency: 100 } : { concurrency: 100, direct });
    done = true;
    await m.join(sampler);
    for (let i = 0; i < paths.length; i++) assert.ok(map.get(paths[i]!)!.equals(content(i, i % 3 === 0 ? 40000 + i : 100 + i)));
    if (direct !== false) {
      assert.equal(maxFds, 0, 'no file went through the fd table');
      // The call made the default table, and left every slot of it free.
      assert.throws(() => m.registerFiles(16), { name: 'UMError', code: 'EBUSY', message: /call registerFiles\(\) before them/ });
      await assertTableFree(m, paths[0]!);
    } else {
      assert.ok(maxFds > 0, 'direct: false opens fds');
      m.registerFiles(16); // and made no table
    }
    assert.equal(fdCount(), fds);
    assertNoPendingOps(m);
  }
});

test('readFiles: an open that fails in a worker\'s slot cancels the reads linked to it (never the slot\'s previous file)', async (t) => {
  const dir = tmpDir(t);
  const a = join(dir, 'a');
  const small = join(dir, 'small');
  const big = join(dir, 'big');
  writeFileSync(a, content(1, 5000));
  writeFileSync(small, content(2, 10));
  writeFileSync(big, content(3, 100000));
  const missing = join(dir, 'missing');
  const m = createMachine();
  // One worker, so one slot: 'missing' is opened into the slot that holds
  // 'a' (at EOF) or 'big' (mid-file, for a larger file's second read). A
  // read that ran anyway would return 0 bytes of 'a' (an empty file) or
  // bytes of the other file instead of ENOENT.
  // Missing as the last file too: its chain also carries the slot's CLOSE,
  // which the failed open cancels, so the worker's end must close the slot.
  for (const tail of [[a], []]) {
    for (const first of [a, small, big]) {
      const got: string[] = [];
      await assert.rejects(
        m.readFiles([first, missing, ...tail], (p, data) => {
          got.push(p);
          assert.ok(data.equals(readFileSync(p)));
        }, { concurrency: 1 }),
        (e: unknown) => e instanceof UMError && e.code === 'ENOENT' && e.path === missing,
      );
      assert.deepEqual(got, [first]);
      await assertTableFree(m, a);
    }
  }
  // The worker goes on after a file that failed with the slot it has.
  const files = [a, big, small, a, big];
  const map = await m.readFiles(files, { concurrency: 1 });
  for (const p of files) assert.ok(map.get(p)!.equals(readFileSync(p)));
  await assertTableFree(m, a);
  assertNoPendingOps(m);
});

test('readFiles: sizes around the scratch buffer (32 KiB) and the EOF probe, through slots and through fds', async (t) => {
  const dir = tmpDir(t);
  const K = 32 * 1024;
  const sizes = [0, 1, K - 1, K, K + 1, K + 2, 2 * K, 2 * K + 1, 1 << 20, (1 << 20) + 7];
  const paths = sizes.map((size, i) => {
    const p = join(dir, `s${size}`);
    writeFileSync(p, content(500 + i, size));
    return p;
  });
  for (const direct of [true, false]) {
    const m = createMachine();
    for (const concurrency of [1, 4, 256]) {
      const map = await m.readFiles(paths, { concurrency, direct });
      for (let i = 0; i < sizes.length; i++) {
        const got = map.get(paths[i]!)!;
        assert.equal(got.length, sizes[i], `direct ${direct}, concurrency ${concurrency}: size ${sizes[i]}`);
        assert.ok(got.equals(content(500 + i, sizes[i]!)), `direct ${direct}, concurrency ${concurrency}: bytes of size ${sizes[i]}`);
      }
    }
    assertNoPendingOps(m);
  }
});

test('readFiles: a full file table falls back to fds; every slot it took is free again', async (t) => {
  const dir = tmpDir(t);
  const paths: string[] = [];
  for (let i = 0; i < 50; i++) {
    paths.push(join(dir, `f${i}`));
    writeFileSync(paths[i]!, content(i, 1000 + i));
  }
  const m = createMachine();
  m.registerFiles(3);
  const held = await m.openDirect(paths[0]!); // one slot the caller keeps
  const fds = fdCount();
  const map = await m.readFiles(paths, { concurrency: 16, direct: true }); // 2 free slots, 16 files at once: ENFILE, then fds
  for (let i = 0; i < paths.length; i++) assert.ok(map.get(paths[i]!)!.equals(content(i, 1000 + i)));
  assert.equal(fdCount(), fds);
  // Both free slots are free again, the third is still the caller's.
  const a = await m.openDirect(paths[1]!);
  const b = await m.openDirect(paths[2]!);
  await assert.rejects(m.openDirect(paths[3]!), { name: 'UMError', code: 'ENFILE' });
  for (const d of [held, a, b]) await m.closeDirect(d);
  await assert.rejects(m.readFiles([join(dir, 'missing')], { direct: true }), { name: 'UMError', code: 'ENOENT' });
  assertNoPendingOps(m);
});

test('readFiles result memory: results never overlap; mappings come back once collected and hold none of an earlier file\'s bytes; an idle pool is trimmed', async (t) => {
  const { native } = (await import(new URL('../../dist/native.js', import.meta.url).href)) as {
    native: { hugeStats(): number[]; hugeTrim(): number };
  };
  assert.ok(globalThis.gc, 'run with --expose-gc');
  const dir = tmpDir(t);
  const MiB = 1 << 20;
  // Around the scratch read, half a chunk, a chunk (2 MiB) and beyond.
  const sizes = [0, 1, 4095, 4096, 32 * 1024, 32 * 1024 + 1, 100_000, MiB, MiB + 1, 1_500_000, 2 * MiB, 2 * MiB + 1, 5_000_000];
  const paths: string[] = [];
  const write = (seed: number): void => {
    for (let i = 0; i < paths.length; i++) writeFileSync(paths[i]!, content(seed * 1000 + i, sizes[i % sizes.length]!));
  };
  for (let i = 0; i < sizes.length * 2; i++) paths.push(join(dir, `f${i}`));
  const m = createMachine();
  const readAndCheck = async (seed: number): Promise<void> => {
    const map = await m.readFiles(paths);
    const byBuffer = new Map<ArrayBufferLike, Buffer[]>();
    for (let i = 0; i < paths.length; i++) {
      const got = map.get(paths[i]!)!;
      assert.ok(got.equals(content(seed * 1000 + i, sizes[i % sizes.length]!)), `seed ${seed}: bytes of ${paths[i]}`);
      if (!byBuffer.has(got.buffer)) byBuffer.set(got.buffer, []);
      byBuffer.get(got.buffer)!.push(got);
    }
    for (const views of byBuffer.values()) {
      views.sort((a, b) => a.byteOffset - b.byteOffset);
      for (let k = 1; k < views.length; k++) {
        assert.ok(views[k - 1]!.byteOffset + views[k - 1]!.length <= views[k]!.byteOffset, 'results sharing memory do not overlap');
      }
    }
  };
  write(1);
  const start = native.hugeStats();
  await readAndCheck(1);
  // The results are garbage now: once collected, their mappings are kept
  // (in the pool, or deferred to the next call while a ring of this thread
  // has ops in flight: hugeStats()[6]).
  const collected = (): boolean => {
    const s = native.hugeStats();
    return s[4]! <= start[4]! || s[6]! > start[6]!;
  };
  for (let i = 0; i < 200 && !collected(); i++) {
    globalThis.gc!();
    await new Promise((r) => setTimeout(r, 2));
  }
  const kept = native.hugeStats();
  assert.ok(collected(), 'the first call\'s results were collected');
  // Same sizes, other bytes: the reused mappings hold the first round's
  // bytes, and no result may show one of them.
  write(2);
  await readAndCheck(2);
  assert.ok(native.hugeStats()[0]! > kept[0]!, 'the second call reused mappings');
  const second = native.hugeStats();
  for (let i = 0; i < 200 && native.hugeStats()[4]! > start[4]! && native.hugeStats()[6] === second[6]; i++) {
    globalThis.gc!();
    await new Promise((r) => setTimeout(r, 2));
  }
  // Two trims with no call between them unmap everything kept.
  native.hugeTrim();
  native.hugeTrim();
  assert.equal(native.hugeStats()[3], 0, 'an idle pool is given back');
  write(3);
  await readAndCheck(3);
  assertNoPendingOps(m);
});

test('readFiles result memory with huge pages asked for and not (UM_HUGEPAGES=1 / 0): same bytes, and the switch is seen', async (t) => {
  const dir = tmpDir(t);
  const sizes = [10, 5000, 1 << 20, 3_000_000];
  for (let i = 0; i < sizes.length; i++) writeFileSync(join(dir, `f${i}`), content(7000 + i, sizes[i]!));
  const pkg = new URL('../../dist/index.js', import.meta.url).href;
  const nat = new URL('../../dist/native.js', import.meta.url).href;
  // A process of its own: the choice is made once per process.
  const script = `
    const { UringMachine } = await import(${JSON.stringify(pkg)});
    const { native } = await import(${JSON.stringify(nat)});
    const { readFileSync } = await import('node:fs');
    const paths = ${JSON.stringify(sizes.map((_, i) => join(dir, `f${i}`)))};
    const m = new UringMachine();
    for (let round = 0; round < 3; round++) {
      const map = await m.readFiles(paths);
      for (const p of paths) if (!map.get(p).equals(readFileSync(p))) throw new Error('bytes of ' + p);
      globalThis.gc();
      await new Promise((r) => setTimeout(r, 20));
    }
    m.close();
    process.stdout.write(JSON.stringify(native.hugeStats()));
  `;
  for (const mode of ['0', '1']) {
    const out = await new Promise<string>((resolve, reject) => {
      const c = spawn(process.execPath, ['--expose-gc', '--input-type=module', '-e', script], {
        env: { ...process.env, UM_HUGEPAGES: mode },
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      let s = '';
      c.stdout.on('data', (d: Buffer) => (s += d.toString()));
      c.on('error', reject);
      c.on('exit', (code) => (code === 0 ? resolve(s) : reject(new Error(`UM_HUGEPAGES=${mode}: exit ${code}`))));
    });
    const stats = JSON.parse(out) as number[];
    assert.equal(stats[5], Number(mode), `UM_HUGEPAGES=${mode} is what the process used`);
    assert.ok(stats[0]! > 0, `UM_HUGEPAGES=${mode}: later rounds reused mappings`);
  }
});

test('readFiles result memory: a worker terminated with reads in flight defers its buffers\' memory until its ops are done, and nothing is reused early', async (t) => {
  const { Worker } = await import('node:worker_threads');
  const { native } = (await import(new URL('../../dist/native.js', import.meta.url).href)) as {
    native: { hugeStats(): number[] };
  };
  const dir = tmpDir(t);
  const paths: string[] = [];
  for (let i = 0; i < 24; i++) {
    paths.push(join(dir, `f${i}`));
    writeFileSync(paths[i]!, content(9000 + i, 1_500_000 + i));
  }
  const pkg = new URL('../../dist/index.js', import.meta.url).href;
  // The worker keeps reading, so at any moment some reads are in flight
  // and earlier results are still referenced.
  const code = `
    const { parentPort } = require('node:worker_threads');
    (async () => {
      const { UringMachine } = await import(${JSON.stringify(pkg)});
      const m = new UringMachine();
      const keep = [];
      for (let i = 0; ; i++) {
        const p = m.readFiles(${JSON.stringify(paths)});
        if (i === 1) parentPort.postMessage('reading');
        keep.push(await p);
        if (keep.length > 2) keep.shift();
      }
    })();
  `;
  const m = createMachine();
  const before = native.hugeStats();
  for (let round = 0; round < 6; round++) {
    const w = new Worker(code, { eval: true });
    await new Promise<void>((resolve, reject) => {
      w.once('message', () => resolve());
      w.once('error', reject);
    });
    await new Promise((r) => setTimeout(r, round * 3));
    const exited = new Promise((r) => w.once('exit', r));
    await w.terminate();
    await exited;
    // Whatever the worker's teardown gave back, this thread's results are its files' bytes.
    const map = await m.readFiles(paths);
    for (let i = 0; i < paths.length; i++) assert.ok(map.get(paths[i]!)!.equals(content(9000 + i, 1_500_000 + i)), `round ${round}: bytes of f${i}`);
  }
  const after = native.hugeStats();
  assert.ok(after[6]! > before[6]!, 'some worker teardown had reads in flight: its frees were deferred');
  // Every teardown's drain saw its ops' last CQEs, also those the worker's
  // JS had received but not settled when it was stopped (state[2] in
  // native/js_machine.c): nothing had to be leaked.
  assert.equal(after[7], before[7], 'every ring drained: nothing was leaked');
  assertNoPendingOps(m);
});

test('result memory pool: full of mappings nobody asks for, a newly freed chunk still goes in (the oldest go out), and the pool stays within its bound', async () => {
  const { native } = (await import(new URL('../../dist/native.js', import.meta.url).href)) as {
    native: { hugeBuffer(n: number): ArrayBuffer | null; hugeStats(): number[]; hugeTrim(): number };
  };
  assert.ok(globalThis.gc, 'run with --expose-gc');
  const MiB = 1 << 20;
  const collectAll = async (live: number): Promise<void> => {
    for (let i = 0; i < 200 && native.hugeStats()[4]! > live; i++) {
      globalThis.gc!();
      await new Promise((r) => setTimeout(r, 2));
    }
  };
  // Let earlier tests' results be collected first (same process): until
  // the live count holds still for a while.
  let stable = 0;
  for (let i = 0, last = -1; i < 300 && stable < 10; i++) {
    globalThis.gc!();
    await new Promise((r) => setTimeout(r, 2));
    const live = native.hugeStats()[4]!;
    stable = live === last ? stable + 1 : 0;
    last = live;
  }
  native.hugeTrim();
  native.hugeTrim(); // an empty pool to start from
  const live0 = native.hugeStats()[4]!;
  // 300 MiB of odd-sized mappings (never touched: address space only),
  // freed: the pool keeps at most 256 MiB of them.
  let odd: (ArrayBuffer | null)[] = Array.from({ length: 60 }, (_, i) => native.hugeBuffer(5 * MiB + (i + 1) * 4096));
  assert.ok(odd.every((b) => b !== null));
  odd = [];
  void odd;
  await collectAll(live0);
  const full = native.hugeStats();
  assert.ok(full[3]! <= 256 * MiB && full[3]! > 200 * MiB, `pool holds ${full[3]! / MiB} MiB`);
  // A chunk freed now is kept (an odd one makes room), and taken by the next request of its size.
  let chunk: ArrayBuffer | null = native.hugeBuffer(2 * MiB);
  assert.ok(chunk !== null);
  chunk = null;
  void chunk;
  await collectAll(live0);
  const before = native.hugeStats();
  const again = native.hugeBuffer(2 * MiB);
  assert.ok(again !== null);
  assert.equal(native.hugeStats()[0], before[0]! + 1, 'the freed chunk was kept and reused');
  assert.ok(native.hugeStats()[3]! <= 256 * MiB);
  native.hugeTrim();
  native.hugeTrim();
  assert.equal(native.hugeStats()[3], 0);
});
