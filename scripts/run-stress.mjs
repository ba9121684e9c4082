#!/usr/bin/env node
// npm run test:stress: the race, burst, fault-injection and fuzz harness
// (out/test/stress/*.test.js, built from test/stress/*.ts; docs/STRESS.md).
// Not part of `npm test`: scripts/run-tests.mjs skips out/test/stress.
//
//   UM_STRESS_SCALE=ci|large|<number>   size (default ci: 1; large: 25)
//   UM_STRESS_SEED=<n>                  replay a run (every file prints its seed)
//   NODE=/path/to/node                  the node binary to run the files with
//   extra args go to node's test runner (e.g. --test-name-pattern=pipe)
//
// Files run one at a time (--test-concurrency=1): they measure nothing, but
// races are found faster when a file has the machine's cores to itself, and
// the per-test watchdogs stay meaningful.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const dir = join(root, 'out', 'test', 'stress');
const files = existsSync(dir)
  ? readdirSync(dir)
      .filter((n) => n.endsWith('.test.js') && existsSync(join(root, 'test', 'stress', n.replace(/\.js$/, '.ts'))))
      .sort()
      .map((n) => join(dir, n))
  : [];
if (files.length === 0) {
  console.error(`no stress tests under ${dir}: run npm run build:ts first`);
  process.exit(1);
}
const seed = process.env.UM_STRESS_SEED ?? String((Date.now() ^ (process.pid << 16)) >>> 0);
const scale = process.env.UM_STRESS_SCALE ?? 'ci';
console.log(`stress: scale ${scale}, seed ${seed} (replay: UM_STRESS_SEED=${seed} UM_STRESS_SCALE=${scale} npm run test:stress)`);
const node = process.env.NODE || process.execPath;
const t0 = Date.now();
const args = ['--expose-gc', '--test', '--test-concurrency=1', '--test-timeout=900000', ...process.argv.slice(2), ...files];
const r = spawnSync(node, args, {
  stdio: 'inherit',
  cwd: root,
  env: { ...process.env, UM_STRESS_SEED: seed, UM_STRESS_SCALE: scale },
});
console.log(`stress: ${r.status === 0 ? 'passed' : 'FAILED'} in ${((Date.now() - t0) / 1000).toFixed(1)} s (seed ${seed}, scale ${scale})`);
process.exit(r.status ?? 1);
