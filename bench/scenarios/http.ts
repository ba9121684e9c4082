/**
 * bench/http: HTTP/1.1 hello world with keep-alive, load from
 * `wrk -t1 -c$CONNS -d${SECONDS}s` (the Debian package; installed with
 * apt-get when missing). Servers, each a separate process, each run RUNS
 * times (median by rate):
 *   uringmachine:   examples/http-server.ts (m.stream + getLine, real request
 *                   line and header parsing)
 *   node:http:      bench/servers/http-node.ts
 *   node:net (min): bench/servers/net-http.ts, answers each "\r\n\r\n"
 *   C (min):        bench/bin/http_server, the same on the project's ring layer
 * Reported: requests/s and the server's CPU time per request (user + system,
 * all threads, from /proc): wrk shares the machine's cores, so CPU per
 * request is the fairer figure. Env: CONNS (50), SECONDS (5), RUNS (3),
 * BENCH_SMOKE=1 (1 s, one run).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import { cpuTimes, killOnExit, median, startServer, stopServer, type Server } from '../lib/servers.js';

const smoke = process.env.BENCH_SMOKE === '1';
const CONNS = Number(process.env.CONNS ?? 50);
const SECONDS = Number(process.env.SECONDS ?? (smoke ? 1 : 5));
const RUNS = Number(process.env.RUNS ?? (smoke ? 1 : 3));

const root = fileURLToPath(new URL('../../../', import.meta.url));
const out = fileURLToPath(new URL('../../', import.meta.url));

interface Contender {
  name: string;
  cmd: string;
  args: string[];
}
const contenders: Contender[] = [
  { name: 'uringmachine (examples/http-server)', cmd: process.execPath, args: [`${out}examples/http-server.js`] },
  { name: 'node:http', cmd: process.execPath, args: [`${out}bench/servers/http-node.js`] },
  { name: 'node:net minimal responder', cmd: process.execPath, args: [`${out}bench/servers/net-http.js`] },
  { name: 'C minimal responder on the ring layer', cmd: `${root}bench/bin/http_server`, args: [] },
];

function haveWrk(): boolean {
  if (spawnSync('wrk', ['--version']).error === undefined) return true;
  console.error('bench/http: installing wrk (apt-get install -y wrk)');
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  let r = spawnSync('apt-get', ['install', '-y', '-q', 'wrk'], { stdio: 'inherit', env });
  if (r.status !== 0) {
    spawnSync('apt-get', ['update', '-q'], { stdio: 'inherit', env });
    r = spawnSync('apt-get', ['install', '-y', '-q', 'wrk'], { stdio: 'inherit', env });
  }
  return r.status === 0 && spawnSync('wrk', ['--version']).error === undefined;
}

interface Result {
  rps: number;
  cpuUs: number;
  /** Of which in user space (JavaScript, libuv, the addon); the rest is the kernel's. */
  userUs: number;
  errors: string;
}

function wrk(port: number, seconds: number): { requests: number; rps: number; errors: string } {
  const text = execFileSync('wrk', ['-t1', `-c${CONNS}`, `-d${seconds}s`, `http://127.0.0.1:${port}/`]).toString();
  const requests = Number(/(\d+) requests in/.exec(text)?.[1] ?? NaN);
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(text)?.[1] ?? NaN);
  const errs = [/Socket errors:[^\n]*/.exec(text)?.[0], /Non-2xx[^\n]*/.exec(text)?.[0]].filter(Boolean).join('; ');
  return { requests, rps, errors: errs };
}

async function once(c: Contender, servers: Server[]): Promise<Result> {
  const s = await startServer(c.name, c.cmd, c.args);
  servers.push(s);
  try {
    wrk(s.port, 1); // warm-up (JIT, connections)
    const c0 = cpuTimes(s.child.pid!);
    const r = wrk(s.port, SECONDS);
    const c1 = cpuTimes(s.child.pid!);
    const cpu = c1.user + c1.system - c0.user - c0.system;
    return { rps: r.rps, cpuUs: (cpu * 1e6) / r.requests, userUs: ((c1.user - c0.user) * 1e6) / r.requests, errors: r.errors };
  } finally {
    await stopServer(s);
  }
}

async function main(): Promise<void> {
  if (!haveWrk()) {
    console.log('## http\n\nwrk is not installed and could not be installed: skipped');
    return;
  }
  const servers: Server[] = [];
  killOnExit(servers);
  const rows: { name: string; r: Result | null; note?: string }[] = [];
  for (const c of contenders) {
    if (!existsSync(c.args[0] ?? c.cmd)) {
      rows.push({ name: c.name, r: null, note: 'not built' });
      continue;
    }
    const results: Result[] = [];
    for (let i = 0; i < RUNS; i++) results.push(await once(c, servers));
    rows.push({ name: c.name, r: median(results, (x) => x.rps) });
  }
  const base = rows.find((x) => x.name === 'node:http')?.r;
  console.log(`\n## http: wrk -t1 -c${CONNS} -d${SECONDS}s, keep-alive hello world (median of ${RUNS})\n`);
  console.log('| server | requests/s | server CPU µs/request | of which user | rate vs node:http | CPU vs node:http | wrk errors |');
  console.log('|---|---:|---:|---:|---:|---:|---|');
  for (const { name, r, note } of rows) {
    if (r === null) {
      console.log(`| ${name} | ${note} | | | | | |`);
      continue;
    }
    const ratio = base ? (r.rps / base.rps).toFixed(2) + '×' : '';
    const cpu = base ? (r.cpuUs / base.cpuUs).toFixed(2) + '×' : '';
    console.log(`| ${name} | ${Math.round(r.rps).toLocaleString('en-US')} | ${r.cpuUs.toFixed(2)} | ${r.userUs.toFixed(2)} | ${ratio} | ${cpu} | ${r.errors || 'none'} |`);
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
