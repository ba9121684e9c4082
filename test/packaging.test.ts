// How the package finds its addon (src/native.ts, node-gyp-build): the
// failure a consumer sees when none fits, and the prebuilds layout.
// The full consumer install (pack, install with no toolchain) is
// scripts/test-pack.sh, run by .ci/run.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));

test('no addon that fits: the import fails with ERR_UM_NO_ADDON and tells a consumer to `npm rebuild uringmachine`', () => {
  // URINGMACHINE_PREBUILD is node-gyp-build's override of the folder it
  // searches: an empty one has neither build/ nor prebuilds/.
  const empty = mkdtempSync(join(tmpdir(), 'um-noaddon-'));
  try {
    const r = spawnSync(
      process.execPath,
      ['--input-type=module', '-e', "import('uringmachine').then(() => console.log('{}'), (e) => console.log(JSON.stringify({ code: e.code, message: e.message, cause: String(e.cause) })))"],
      { cwd: root, encoding: 'utf8', env: { ...process.env, URINGMACHINE_PREBUILD: empty, UM_ADDON: '' }, timeout: 60_000 },
    );
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout.trim()) as { code?: string; message?: string; cause?: string };
    assert.equal(out.code, 'ERR_UM_NO_ADDON');
    assert.match(out.message!, /npm rebuild uringmachine/);
    assert.match(out.message!, new RegExp(`${process.platform}-${process.arch}`));
    assert.match(out.cause!, /No native build was found/);
  } finally {
    rmSync(empty, { recursive: true, force: true });
  }
});

test('a prebuild in prebuilds/<platform>-<arch>/ is what loads when there is no source build', () => {
  const nodeGypBuild = createRequire(import.meta.url)('node-gyp-build') as { resolve(dir: string): string };
  const dir = mkdtempSync(join(tmpdir(), 'um-prebuild-'));
  try {
    writeFileSync(join(dir, 'package.json'), '{"name":"uringmachine"}');
    const arch = join(dir, 'prebuilds', `linux-${process.arch}`);
    mkdirSync(arch, { recursive: true });
    copyFileSync(join(root, 'build', 'Release', 'um.node'), join(arch, 'uringmachine.glibc.node'));
    // Another libc's and another architecture's prebuilds are not picked.
    copyFileSync(join(root, 'build', 'Release', 'um.node'), join(arch, 'uringmachine.musl.node'));
    mkdirSync(join(dir, 'prebuilds', 'linux-riscv64'));
    assert.equal(nodeGypBuild.resolve(dir), join(arch, 'uringmachine.glibc.node'));
    const r = spawnSync(
      process.execPath,
      ['--input-type=module', '-e', "import('uringmachine').then((u) => { const m = new u.UringMachine(); console.log(m.size > 0); m.close(); })"],
      { cwd: root, encoding: 'utf8', env: { ...process.env, URINGMACHINE_PREBUILD: dir, UM_ADDON: '' }, timeout: 60_000 },
    );
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.trim(), 'true');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
