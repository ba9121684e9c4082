/**
 * bench/echo: TCP echo on loopback, every server driven by the same C load
 * generator (bench/bin/echo_client: CONNS connections x ROUNDS round trips of
 * SIZE bytes, each connection in lockstep, bytes checked). Servers, each its
 * own child process started in turn:
 *   - node:net (bench/servers/net-echo.ts),
 *   - uringmachine (examples/echo-server.ts, when out/examples/echo-server.js
 *     is built),
 *   - C on the project's ring layer (bench/bin/echo_server: multishot accept,
 *     multishot recv on a provided-buffer ring, send),
 *   - uringmachine with fixed files, before/after (bench/servers/um-echo-direct.ts):
 *     the same accept loop and per-connection recv/send fiber on regular fds
 *     and on direct descriptors (m.acceptDirect, IOSQE_FIXED_FILE).
 * Per server: one warm-up load (WARMUP round trips per connection, not
 * measured), then RUNS measured loads; reported are the medians of round
 * trips/s and of the server's CPU time (utime + stime from /proc/<pid>/stat)
 * per round trip (and its user-space part: JavaScript, libuv, the addon; the
 * rest is the kernel's). The load generator shares the machine's cores, so CPU per
 * round trip is the fairer figure.
 * Env: CONNS (50), ROUNDS (2000), SIZE (64), WARMUP (200), RUNS (3);
 * BENCH_SMOKE=1: 10 x 200, warm-up 20, 1 run; CLIENT (uring | epoll) goes
 * through to echo_client. A contender that fails shows "(failed: ...)" in its
 * row, the others still run, and the exit code is 1.
 */
import { existsSync } from 'node:fs';

import {
  binServer,
  cpuTimes,
  exists,
  fmt,
  loadavg,
  median,
  nodeServer,
  root,
  runLoad,
  smoke,
  startServer,
  stopServer,
  table,
  type ServerSpec,
} from '../lib/net.js';

const CONNS = Number(process.env.CONNS ?? (smoke ? 10 : 50));
const ROUNDS = Number(process.env.ROUNDS ?? (smoke ? 200 : 2000));
const SIZE = Number(process.env.SIZE ?? 64);
const WARMUP = Number(process.env.WARMUP ?? (smoke ? 20 : 200));
const RUNS = Number(process.env.RUNS ?? (smoke ? 1 : 3));

const client = `${root}bench/bin/echo_client`;
const servers = [
  nodeServer('node:net', 'out/bench/servers/net-echo.js'),
  nodeServer('uringmachine (examples/echo-server.ts)', 'out/examples/echo-server.js'),
  binServer('C, own ring layer (bench/c/echo_server.c)', 'bench/bin/echo_server'),
  directServer('uringmachine, recv/send loop on fds (um-echo-direct.ts fd)', 'fd'),
  directServer('uringmachine, recv/send loop on direct descriptors (um-echo-direct.ts direct)', 'direct'),
];

function directServer(name: string, mode: string): ServerSpec {
  const spec = nodeServer(name, 'out/bench/servers/um-echo-direct.js');
  return { ...spec, args: [...spec.args, mode] };
}

type Result = { rps: number; cpuUs: number; userUs: number; clientUs: number } | { missing: string };

async function measure(spec: (typeof servers)[number]): Promise<Result> {
  if (!exists(spec)) {
    return { missing: spec.file.endsWith('.js') ? '(uringmachine server not built yet)' : '(not built: run bench/c/build.sh)' };
  }
  const s = await startServer(spec);
  try {
    const env = (rounds: number) => ({ PORT: String(s.port), CONNS: String(CONNS), ROUNDS: String(rounds), SIZE: String(SIZE), WARMUP: '0' });
    const limit = 120_000;
    if (WARMUP > 0) await runLoad(client, [], env(WARMUP), limit);
    const rps: number[] = [];
    const cpu: number[] = [];
    const user: number[] = [];
    const ccpu: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      const c0 = cpuTimes(s.proc.pid!);
      const out = JSON.parse(await runLoad(client, [], env(ROUNDS), limit)) as { roundTrips: number; rps: number; clientCpuSeconds: number };
      const c1 = cpuTimes(s.proc.pid!);
      rps.push(out.rps);
      cpu.push(((c1.user + c1.system - c0.user - c0.system) / out.roundTrips) * 1e6);
      user.push(((c1.user - c0.user) / out.roundTrips) * 1e6);
      ccpu.push((out.clientCpuSeconds / out.roundTrips) * 1e6);
    }
    return { rps: median(rps), cpuUs: median(cpu), userUs: median(user), clientUs: median(ccpu) };
  } finally {
    await stopServer(s);
  }
}

async function main(): Promise<void> {
  if (!existsSync(client)) throw new Error(`${client} missing: run bench/c/build.sh`);
  const load = loadavg();
  const results: Result[] = [];
  for (const spec of servers) {
    try {
      results.push(await measure(spec));
    } catch (e) {
      // One broken contender must not hide the others' figures.
      console.error(`${spec.name}:`, e);
      results.push({ missing: `(failed: ${String((e as Error)?.message ?? e).split('\n')[0]})` });
      process.exitCode = 1;
    }
  }
  const base = results[0]!;
  const baseRps = 'rps' in base ? base.rps : NaN;
  const baseCpu = 'rps' in base ? base.cpuUs : NaN;
  console.log(
    `\n### echo — ${CONNS} connections × ${fmt(ROUNDS)} round trips of ${SIZE} B (node ${process.version}; median of ${RUNS}; load average ${load} at start)\n`,
  );
  const rows = servers.map((spec, i) => {
    const r = results[i]!;
    if ('missing' in r) return [spec.name, r.missing, '', '', '', '', ''];
    return [
      spec.name,
      fmt(r.rps),
      `${(r.rps / baseRps).toFixed(2)}×`,
      r.cpuUs.toFixed(1),
      r.userUs.toFixed(1),
      `${(r.cpuUs / baseCpu).toFixed(2)}×`,
      r.clientUs.toFixed(1),
    ];
  });
  const head = ['server', 'round trips/s', 'vs node:net', 'server CPU µs/round trip', 'of which user', 'CPU vs node:net', 'client CPU µs/round trip'];
  console.log(table(head, rows));
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
