// examples/cp.ts as a real program: copy a small tree (splice file -> pipe
// -> file) and compare it with the source, byte for byte, modes and links.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import { tmpDir } from './helpers.js';

const cpJs = fileURLToPath(new URL('../examples/cp.js', import.meta.url));
const run = promisify(execFile);

function bytes(n: number, seed: number): Buffer {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = (i * seed + (i >> 8)) & 255;
  return b;
}

function compareTrees(a: string, b: string): number {
  let n = 0;
  const sa = lstatSync(a);
  const sb = lstatSync(b);
  if (sa.isSymbolicLink()) {
    assert.ok(sb.isSymbolicLink(), b);
    assert.equal(readlinkSync(b), readlinkSync(a));
    return 1;
  }
  assert.equal(sb.mode & 0o777, sa.mode & 0o777 & ~process.umask(), `mode of ${b}`);
  if (sa.isDirectory()) {
    assert.ok(sb.isDirectory(), b);
    const names = readdirSync(a).sort();
    assert.deepEqual(readdirSync(b).sort(), names);
    for (const name of names) n += compareTrees(join(a, name), join(b, name));
    return n + 1;
  }
  assert.ok(readFileSync(b).equals(readFileSync(a)), `content of ${b}`);
  return 1;
}

test('examples/cp.js copies a tree: contents, modes, symlinks; into an existing directory', async (t) => {
  const root = tmpDir(t);
  const src = join(root, 'src');
  mkdirSync(join(src, 'a', 'b'), { recursive: true });
  mkdirSync(join(src, 'empty'));
  const sizes = [0, 1, 65535, 65536, 65537, 200000, (1 << 20) + 3];
  sizes.forEach((n, i) => writeFileSync(join(src, i % 2 ? 'a' : 'a/b', `f${n}`), bytes(n, i + 3)));
  writeFileSync(join(src, 'private'), 'secret', { mode: 0o600 });
  writeFileSync(join(src, 'script'), '#!/bin/sh\n', { mode: 0o755 });
  symlinkSync('a/f1', join(src, 'link'));

  const dst = join(root, 'dst');
  const r = await run(process.execPath, [cpJs, src, dst]);
  assert.match(r.stdout, new RegExp(`copied ${sizes.length + 2} files`));
  assert.ok(compareTrees(src, dst) > sizes.length);

  // DST an existing directory: the copy goes into DST/basename(SRC).
  await run(process.execPath, [cpJs, src, dst]);
  compareTrees(src, join(dst, 'src'));

  // A missing source: exit code 1 and the path in the message.
  await assert.rejects(run(process.execPath, [cpJs, join(root, 'nope'), join(root, 'x')]), (e: unknown) => {
    assert.equal((e as { code?: number }).code, 1);
    assert.match((e as { stderr: string }).stderr, /ENOENT.*nope/);
    return true;
  });
});
