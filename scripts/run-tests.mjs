#!/usr/bin/env node
// Runs the compiled test suite (out/test/**/*.test.js) with node's test runner.
// A script rather than a shell glob: Node 20's `--test` does not expand globs,
// and this works the same with any node binary (NODE=/path/to/node24).
// Usage: node scripts/run-tests.mjs [extra node args...]
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const dir = join(root, 'out', 'test');
const files = [];
(function walk(d) {
  for (const name of readdirSync(d).sort()) {
    const p = join(d, name);
    if (statSync(p).isDirectory()) {
      // stress/ is `npm run test:stress` (scripts/run-stress.mjs): minutes, not seconds.
      if (name !== 'fixtures' && !(d === dir && name === 'stress')) walk(p);
    } else if (name.endsWith('.test.js')) {
      // Only tests whose source still exists: a renamed or deleted test
      // leaves its old compiled file behind in out/.
      const src = join(root, p.slice(join(root, 'out').length + 1)).replace(/\.js$/, '.ts');
      if (existsSync(src)) files.push(p);
      else console.error(`skipping ${p}: no ${src} (stale build output)`);
    }
  }
})(dir);
if (files.length === 0) {
  console.error(`no test files under ${dir}: run the TypeScript build first`);
  process.exit(1);
}
const node = process.env.NODE || process.execPath;
const args = ['--expose-gc', '--test', '--test-concurrency=2', '--test-timeout=120000', ...process.argv.slice(2), ...files];
const r = spawnSync(node, args, { stdio: 'inherit', cwd: root });
process.exit(r.status ?? 1);
