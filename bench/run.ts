/**
 * `npm run bench`: build the C contenders, then run every benchmark in
 * bench/micro/ and bench/scenarios/ as its own process, one after the other, printing their
 * Markdown tables. Env: BENCH (comma-separated scenario names to run;
 * `sweeps` stands for every sweep-* cost curve, which run only when named),
 * BENCH_NODE (a node binary to run the scenarios with, e.g. Node 24), and
 * each scenario's own parameters (see the header of each file).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));
const dirs = ['micro', 'scenarios'].map((d) => fileURLToPath(new URL(`./${d}/`, import.meta.url)));
const node = process.env.BENCH_NODE || process.execPath;
const only = process.env.BENCH ? process.env.BENCH.split(',') : null;
/**
 * The cost-curve sweeps run only when named (or with BENCH=sweeps): on the
 * 2-core machine sweep-read-files takes 60–120 s (and writes 400 MiB of
 * files), sweep-pipe 25–110 s, sweep-echo 160–190 s, the larger figures
 * when the machine is busy.
 */
const optIn = (name: string): boolean => name.startsWith('sweep-');
const wanted = (name: string): boolean =>
  only ? only.includes(name) || (only.includes('sweeps') && optIn(name)) : !optIn(name);

if (existsSync(`${root}bench/c/build.sh`)) {
  const r = spawnSync('bash', [`${root}bench/c/build.sh`], { stdio: 'inherit', cwd: root });
  if (r.status !== 0) console.error('bench/c/build.sh failed: C contenders will be skipped');
}

const version = spawnSync(node, ['--version'], { encoding: 'utf8' }).stdout.trim();
console.log(`# uringmachine benchmarks\n\nnode ${version}, ${new Date().toISOString().slice(0, 10)}`);
let failed = 0;
const files = dirs.flatMap((d) => (existsSync(d) ? readdirSync(d).filter((f) => f.endsWith('.js')).sort().map((f) => d + f) : []));
for (const path of files) {
  const name = path.split('/').pop()!.replace(/\.js$/, '');
  if (!wanted(name)) continue;
  const r = spawnSync(node, ['--expose-gc', path], { stdio: 'inherit', cwd: root });
  if (r.status !== 0) {
    console.error(`scenario ${name} failed (exit ${r.status})`);
    failed++;
  }
}
process.exitCode = failed ? 1 : 0;
