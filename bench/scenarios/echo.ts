/**
 * bench/echo: TCP echo, CONNS connections × ROUNDS lockstep round trips of
 * SIZE bytes over loopback, driven by the C load client bench/bin/echo_client
 * (a Node client saturates at about 125 k round trips/s whatever the server).
 * Servers, each a separate process, each run RUNS times (median by rate):
 *   uringmachine: examples/echo-server.ts (acceptEach + recvEach + send)
 *   node:net:     bench/servers/net-echo.ts
 *   C:            bench/bin/echo_server (the project's own ring layer)
 * Reported: round trips/s, and the server's CPU time per round trip (user +
 * system, all threads, from /proc): the load client shares the machine's
 * cores, so CPU per op is the fairer figure.
 * Env: CONNS (50), ROUNDS (2000), SIZE (64), RUNS (3), BENCH_SMOKE=1 (tiny).
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import { cpuTimes, killOnExit, median, startServer, stopServer, type Server } from '../lib/servers.js';

const smoke = process.env.BENCH_SMOKE === '1';
const CONNS = Number(process.env.CONNS ?? 50);
const ROUNDS = Number(process.env.ROUNDS ?? (smoke ? 100 : 2000));
const SIZE = Number(process.env.SIZE ?? 64);
const RUNS = Number(process.env.RUNS ?? (smoke ? 1 : 3));

const root = fileURLToPath(new URL('../../../', import.meta.url));
const out = fileURLToPath(new URL('../../', import.meta.url));
const client = `${root}bench/bin/echo_client`;

interface Contender {
  name: string;
  cmd: string;
  args: string[];
}
const contenders: Contender[] = [
  { name: 'uringmachine (examples/echo-server)', cmd: process.execPath, args: [`${out}examples/echo-server.js`] },
  { name: 'node:net', cmd: process.execPath, args: [`${out}bench/servers/net-echo.js`] },
  { name: 'C on the ring layer', cmd: `${root}bench/bin/echo_server`, args: [] },
];

interface Result {
  rps: number;
  cpuUs: number;
  /** Of which in user space (JavaScript, libuv, the addon); the rest is the kernel's. */
  userUs: number;
}

async function once(c: Contender, servers: Server[]): Promise<Result> {
  const s = await startServer(c.name, c.cmd, c.args);
  servers.push(s);
  try {
    const env = { ...process.env, PORT: String(s.port), CONNS: String(CONNS), SIZE: String(SIZE) };
    execFileSync(client, { env: { ...env, ROUNDS: String(Math.max(10, ROUNDS / 10)), WARMUP: '0' } }); // warm-up (JIT)
    const c0 = cpuTimes(s.child.pid!);
    const r = JSON.parse(execFileSync(client, { env: { ...env, ROUNDS: String(ROUNDS), WARMUP: '0' } }).toString()) as {
      roundTrips: number;
      rps: number;
    };
    const c1 = cpuTimes(s.child.pid!);
    const cpu = c1.user + c1.system - c0.user - c0.system;
    return { rps: r.rps, cpuUs: (cpu * 1e6) / r.roundTrips, userUs: ((c1.user - c0.user) * 1e6) / r.roundTrips };
  } finally {
    await stopServer(s);
  }
}

async function main(): Promise<void> {
  if (!existsSync(client)) {
    console.log('## echo\n\nbench/bin/echo_client missing (bench/c/build.sh failed?): skipped');
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
  const base = rows.find((x) => x.name === 'node:net')?.r;
  console.log(`\n## echo: ${CONNS} connections × ${ROUNDS} round trips of ${SIZE} B (median of ${RUNS})\n`);
  console.log('| server | round trips/s | server CPU µs/round trip | of which user | rate vs node:net | CPU vs node:net |');
  console.log('|---|---:|---:|---:|---:|---:|');
  for (const { name, r, note } of rows) {
    if (r === null) {
      console.log(`| ${name} | ${note} | | | | |`);
      continue;
    }
    const ratio = base ? (r.rps / base.rps).toFixed(2) + '×' : '';
    const cpu = base ? (r.cpuUs / base.cpuUs).toFixed(2) + '×' : '';
    console.log(`| ${name} | ${Math.round(r.rps).toLocaleString('en-US')} | ${r.cpuUs.toFixed(2)} | ${r.userUs.toFixed(2)} | ${ratio} | ${cpu} |`);
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
