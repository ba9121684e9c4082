/**
 * `npm run bench`: build the C contenders, then run every benchmark in
 * bench/micro/ and bench/scenarios/ as its own process, one after the other, printing their
 * Markdown tables. Env: BENCH (comma-separated scenario names to run;
 * `sweeps` stands for every sweep-* cost curve; scenarios in OPT_IN run only
 * when named),
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
/** Too long for every run (sweep-echo: about 160 s, four sizes up to 10,000 connections × three servers). */
const OPT_IN = new Set(['sweep-echo']);
const wanted = (name: string): boolean =>
  only ? only.includes(name) || (only.includes('sweeps') && name.startsWith('sweep-')) : !OPT_IN.has(name);

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
