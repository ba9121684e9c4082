/**
 * bench/sweep-echo: the cost curve of a TCP echo server on loopback as the
 * number of connections grows, CONNS in SIZES (10, 100, 1,000, 10,000), for
 * the three servers of bench/scenarios/echo.ts (node:net, uringmachine's
 * examples/echo-server.ts, C on the project's ring layer), every one driven
 * by bench/bin/echo_client (each connection in lockstep, 64 B round trips).
 * RLIMIT_NOFILE of every server and the client is raised to its hard limit
 * at spawn (`ulimit -n $(ulimit -Hn)`); a size that does not fit it is
 * skipped.
 *
 * Per server and size: a fresh server process, one warm-up load, then RUNS
 * (3) pairs of loads: a short one (ROUNDS/5 round trips per connection) and
 * a long one (ROUNDS = max(MIN_ROUNDS, TOTAL/CONNS)). Reported: the server's
 * CPU time (utime + stime, /proc/<pid>/stat) per round trip as the
 * difference of the pair — (cpu_long − cpu_short) / (rt_long − rt_short) —
 * which cancels the per-connection costs (connect, accept, the fiber or
 * socket object, close) that a load of few rounds per connection would
 * otherwise spread over its round trips; and the client's round trips/s of
 * the long load (its timed phase starts after every connection is up).
 * Medians over the runs. Env: SIZES, TOTAL (100,000), MIN_ROUNDS (10), RUNS
 * (3), PLOT (bench/sweep-echo.png). About 160–190 s on the 2-core machine;
 * opt-in (BENCH=sweep-echo or BENCH=sweeps).
 */
import { readFileSync } from 'node:fs';

import { binServer, cpuTimes, exists, nodeServer, runLoad, startServer, stopServer, type ServerSpec } from '../lib/net.js';
import type { CurvePoint } from '../lib/plot.js';
import { fmt, loadavg, median, report, root, sizes, smoke } from '../lib/sweep.js';

const SIZES = sizes(smoke ? [2, 10] : [10, 100, 1000, 10_000]);
const TOTAL = Number(process.env.TOTAL ?? (smoke ? 2000 : 100_000));
const MIN_ROUNDS = Number(process.env.MIN_ROUNDS ?? 10);
const RUNS = Number(process.env.RUNS ?? (smoke ? 1 : 3));
const SIZE = 64;
const PLOT = process.env.PLOT ?? `${root}${smoke ? 'out/bench/sweep-echo-smoke.png' : 'bench/sweep-echo.png'}`;

/** Runs `spec` with RLIMIT_NOFILE at its hard limit (the exec keeps the pid, so its CPU times are the server's). */
function raised(spec: ServerSpec): ServerSpec {
  return { ...spec, cmd: 'bash', args: ['-c', 'ulimit -n "$(ulimit -Hn)" && exec "$0" "$@"', spec.cmd, ...spec.args] };
}

const servers = [
  nodeServer('node:net', 'out/bench/servers/net-echo.js'),
  nodeServer('uringmachine', 'out/examples/echo-server.js'),
  binServer('C, own ring layer', 'bench/bin/echo_server'),
];
const client = `${root}bench/bin/echo_client`;

function hardNofile(): number {
  const line = readFileSync('/proc/self/limits', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('Max open files'))!;
  const hard = line.trim().split(/\s+/)[4]!;
  return hard === 'unlimited' ? Infinity : Number(hard);
}

type Point = { cpuUs: number; rps: number; grossUs: number };

async function measure(spec: ServerSpec, conns: number): Promise<Point> {
  const s = await startServer(raised(spec));
  try {
    const load = async (rounds: number) => {
      const env = { PORT: String(s.port), CONNS: String(conns), ROUNDS: String(rounds), SIZE: String(SIZE), WARMUP: '0' };
      const c0 = cpuTimes(s.proc.pid!);
      const out = JSON.parse(await runLoad('bash', ['-c', 'ulimit -n "$(ulimit -Hn)" && exec "$0"', client], env, 300_000)) as {
        roundTrips: number;
        rps: number;
      };
      const c1 = cpuTimes(s.proc.pid!);
      return { rt: out.roundTrips, rps: out.rps, cpu: c1.user + c1.system - c0.user - c0.system };
    };
    const rounds = Math.max(MIN_ROUNDS, Math.ceil(TOTAL / conns));
    const short = Math.max(1, Math.round(rounds / 5));
    await load(short); // warm-up
    const cpu: number[] = [];
    const rps: number[] = [];
    const gross: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      const a = await load(short);
      const b = await load(rounds);
      cpu.push(((b.cpu - a.cpu) / (b.rt - a.rt)) * 1e6);
      gross.push((b.cpu / b.rt) * 1e6);
      rps.push(b.rps);
    }
    return { cpuUs: median(cpu), rps: median(rps), grossUs: median(gross) };
  } finally {
    await stopServer(s);
  }
}

async function main(): Promise<void> {
  const load = loadavg();
  const t0 = Date.now();
  const hard = hardNofile();
  const points: CurvePoint[] = [];
  const rates: CurvePoint[] = [];
  const extra = new Map<string, string>();
  const gross: string[] = [];
  for (const conns of SIZES) {
    if (conns + 64 > hard) {
      console.error(`sweep-echo: ${conns} connections skipped (RLIMIT_NOFILE hard limit ${hard})`);
      continue;
    }
    for (const spec of servers) {
      if (!exists(spec)) {
        console.error(`sweep-echo: ${spec.name} not built (${spec.file}): left out`);
        continue;
      }
      try {
        const p = await measure(spec, conns);
        points.push({ series: spec.name, x: conns, y: p.cpuUs });
        rates.push({ series: spec.name, x: conns, y: p.rps });
        extra.set(`${spec.name}@${conns}`, `${fmt(p.rps / 1000, 1)} k rt/s`);
        gross.push(`${spec.name} @ ${conns}: ${p.grossUs.toFixed(1)}`);
      } catch (e) {
        console.error(`sweep-echo: ${spec.name} at ${conns} connections failed:`, e);
        process.exitCode = 1;
      }
    }
  }
  const secs = (Date.now() - t0) / 1000;
  await report({
    title:
      `### sweep-echo — C client, N connections × 64 B round trips in lockstep, ` +
      `server CPU µs per round trip (marginal: long − short load) and round trips/s ` +
      `(node ${process.version}; ${TOTAL.toLocaleString('en-US')} round trips per load, ≥ ${MIN_ROUNDS} per connection; ` +
      `median of ${RUNS}; load average ${load} at start; ${secs.toFixed(0)} s)`,
    sizeName: 'connections',
    cost: 'server CPU µs/round trip',
    points,
    extra,
    plotFile: PLOT,
    plotTitle: 'echo over N connections: server CPU µs per round trip',
  });
  const rateFlat = new Map<string, number>();
  for (const s of new Set(rates.map((r) => r.series))) {
    const ys = rates.filter((r) => r.series === s).map((r) => r.y);
    rateFlat.set(s, Math.max(...ys) / Math.min(...ys));
  }
  console.log(`\nrate, fastest size over slowest: ${[...rateFlat].map(([s, f]) => `${s} ${f.toFixed(2)}×`).join(', ')}`);
  console.log(`gross server CPU µs per round trip of the long load (connection setup included): ${gross.join('; ')}`);
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
