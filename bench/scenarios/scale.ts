/**
 * bench/scale: beyond one core. The echo and HTTP examples with WORKERS=1 and
 * WORKERS=2 in both worker modes (WORKER_MODE=reuseport: a SO_REUSEPORT
 * listener per worker thread; WORKER_MODE=queue: one acceptor on the main
 * thread handing fds over SharedQueues; examples/workers.ts), against
 * node:cluster with the same worker count (bench/servers/cluster.ts: the
 * node:net echo server / node:http hello world of bench/echo and bench/http
 * in each cluster worker), plus the single-process servers (WORKERS=0, and
 * plain node:net / node:http) as the one-core reference. Same loads as
 * bench/echo and bench/http:
 *   echo        bench/bin/echo_client, CONNS connections x ROUNDS round trips of 64 B
 *   http        wrk -t1 -cCONNS -dDURATION, keep-alive
 *   http-close  the same with `Connection: close`: a new connection per
 *               request, so the accept path (and its hand-over) is in every request
 * Every server of a load is started once; then RUNS rounds, each running
 * the load once against every server, in an order rotated by one each round
 * (alternating, so a change in the machine's load hits all alike); reported
 * are medians: rate, server CPU per operation (all its threads, and for
 * node:cluster the primary and its workers), the cores the server used
 * (CPU seconds / wall seconds), the ratio to node:cluster with the same
 * count, and 2 workers over 1 of the same kind.
 *
 * The load generators are single-threaded and share the machine's cores with
 * the server: on a 2-core machine, 2 server workers plus the client have 3
 * busy threads for 2 cores, so the rate cannot double; read the cores column.
 *
 * Env: LOADS (echo,http,http-close), CONNS (50), ROUNDS (4000), DURATION
 * (3 s), RUNS (3); BENCH_SMOKE=1: 10 x 200 round trips, 1 s of wrk, 1 run.
 */
import { existsSync } from 'node:fs';

import {
  CLK_TCK,
  ensureWrk,
  exists,
  fmt,
  loadavg,
  median,
  nodeServer,
  root,
  runLoad,
  type Server,
  type ServerSpec,
  smoke,
  startServer,
  stopServer,
  table,
  treeCpuTimes,
} from '../lib/net.js';

const LOADS = (process.env.LOADS ?? 'echo,http,http-close').split(',');
const CONNS = Number(process.env.CONNS ?? (smoke ? 10 : 50));
const ROUNDS = Number(process.env.ROUNDS ?? (smoke ? 200 : 4000));
const DURATION = Number(process.env.DURATION ?? (smoke ? 1 : 3));
const RUNS = Number(process.env.RUNS ?? (smoke ? 1 : 3));
const client = `${root}bench/bin/echo_client`;

type Kind = 'single' | 'reuseport' | 'queue' | 'cluster';
type Contender = { spec: ServerSpec; kind: Kind; workers: number };
type Sample = { ops: number; seconds: number; cpu: number; clientCpu?: number };
type Load = {
  name: string;
  unit: string;
  contenders: Contender[];
  run: (s: Server) => Promise<Sample>;
  warm: (s: Server) => Promise<unknown>;
};

function contenders(example: string, single: [string, string], clusterKind: string): Contender[] {
  const list: Contender[] = [
    { spec: nodeServer(single[0], single[1]), kind: 'single', workers: 0 },
    { spec: nodeServer(`uringmachine, main thread (WORKERS=0)`, example), kind: 'single', workers: 0 },
  ];
  for (const n of [1, 2]) {
    for (const mode of ['reuseport', 'queue'] as const) {
      list.push({ spec: nodeServer(`uringmachine ${mode}`, example, { WORKERS: String(n), WORKER_MODE: mode }), kind: mode, workers: n });
    }
    const cluster = nodeServer('node:cluster', 'out/bench/servers/cluster.js', { KIND: clusterKind, WORKERS: String(n) });
    list.push({ spec: cluster, kind: 'cluster', workers: n });
  }
  return list;
}

async function measured<T>(s: Server, load: () => Promise<T>): Promise<{ out: T; cpu: number }> {
  const c0 = treeCpuTimes(s.proc.pid!);
  const out = await load();
  const c1 = treeCpuTimes(s.proc.pid!);
  return { out, cpu: c1.user + c1.system - c0.user - c0.system };
}

function echoLoad(): Load {
  const env = (s: Server, rounds: number) => ({
    PORT: String(s.port),
    CONNS: String(CONNS),
    ROUNDS: String(rounds),
    SIZE: '64',
    WARMUP: '0',
  });
  return {
    name: `echo — ${CONNS} connections × ${fmt(ROUNDS)} round trips of 64 B (bench/bin/echo_client)`,
    unit: 'round trips/s',
    contenders: contenders('out/examples/echo-server.js', ['node:net (one process)', 'out/bench/servers/net-echo.js'], 'echo'),
    warm: (s) => runLoad(client, [], env(s, Math.max(20, ROUNDS / 10)), 120_000),
    run: async (s) => {
      const { out, cpu } = await measured(s, () => runLoad(client, [], env(s, ROUNDS), 120_000));
      const r = JSON.parse(out) as { roundTrips: number; seconds: number; clientCpuSeconds: number };
      return { ops: r.roundTrips, seconds: r.seconds, cpu, clientCpu: r.clientCpuSeconds };
    },
  };
}

function parseWrk(out: string): { requests: number; seconds: number } {
  const total = /(\d+) requests in ([\d.]+)(m?s)/.exec(out);
  if (!total) throw new Error(`cannot read wrk's output:\n${out}`);
  const errors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  if (errors && errors.slice(1).some((n) => Number(n) > 0)) throw new Error(`wrk: ${errors[0]}`);
  const bad = /Non-2xx or 3xx responses: (\d+)/.exec(out);
  if (bad) throw new Error(`wrk: ${bad[0]}`);
  return { requests: Number(total[1]), seconds: Number(total[2]) / (total[3] === 'ms' ? 1000 : 1) };
}

function httpLoad(close: boolean): Load {
  const args = (s: Server, secs: number) => [
    '-t1',
    `-c${CONNS}`,
    `-d${secs}s`,
    ...(close ? ['-H', 'Connection: close'] : []),
    `http://127.0.0.1:${s.port}/`,
  ];
  return {
    name: close
      ? `http-close — wrk -t1 -c${CONNS} -d${DURATION}s -H 'Connection: close' (a new connection per request)`
      : `http — wrk -t1 -c${CONNS} -d${DURATION}s, keep-alive hello world`,
    unit: 'requests/s',
    contenders: contenders('out/examples/http-server.js', ['node:http (one process)', 'out/bench/servers/http-node.js'], 'http'),
    warm: async (s) => parseWrk(await runLoad('wrk', args(s, 1), {}, 30_000)),
    run: async (s) => {
      // wrk under a shell that prints its children's CPU time once wrk has
      // been waited for (fields 16 and 17 of /proc/<shell>/stat: cutime,
      // cstime), so wrk's own CPU is reported as the echo client's is.
      const script = 'wrk "$@" || exit $?; read -r -a f < /proc/$$/stat; echo "client ticks $((f[15] + f[16]))"';
      const wrk = () => runLoad('bash', ['-c', script, 'wrk', ...args(s, DURATION)], {}, (DURATION + 30) * 1000);
      const { out, cpu } = await measured(s, wrk);
      const w = parseWrk(out);
      const ticks = /client ticks (\d+)/.exec(out);
      return { ops: w.requests, seconds: w.seconds, cpu, clientCpu: ticks ? Number(ticks[1]) / CLK_TCK : undefined };
    },
  };
}

type Result = { rate: number; cpuUs: number; cores: number; clientCores?: number } | { missing: string };

async function runScenario(load: Load): Promise<Result[]> {
  const cs = load.contenders;
  const servers: (Server | string)[] = [];
  for (const c of cs) {
    if (!exists(c.spec)) servers.push('(not built)');
    else {
      try {
        servers.push(await startServer(c.spec));
      } catch (e) {
        servers.push(`(failed: ${String((e as Error).message).split('\n')[0]})`);
        process.exitCode = 1;
      }
    }
  }
  const samples: Sample[][] = cs.map(() => []);
  const failed: (string | undefined)[] = cs.map(() => undefined);
  try {
    for (let i = 0; i < cs.length; i++) {
      const s = servers[i]!;
      if (typeof s === 'string') continue;
      await load.warm(s).catch((e: unknown) => (failed[i] = `(failed: ${String((e as Error).message).split('\n')[0]})`));
    }
    for (let r = 0; r < RUNS; r++) {
      for (let k = 0; k < cs.length; k++) {
        const i = (k + r) % cs.length; // rotated: each round starts one server later
        const s = servers[i]!;
        if (typeof s === 'string' || failed[i]) continue;
        try {
          samples[i]!.push(await load.run(s));
        } catch (e) {
          console.error(`${cs[i]!.spec.name}:`, e);
          failed[i] = `(failed: ${String((e as Error).message).split('\n')[0]})`;
          process.exitCode = 1;
        }
      }
    }
  } finally {
    for (const s of servers) if (typeof s !== 'string') await stopServer(s);
  }
  return cs.map((_, i) => {
    const s = servers[i]!;
    if (typeof s === 'string') return { missing: s };
    if (failed[i]) return { missing: failed[i]! };
    const xs = samples[i]!;
    return {
      rate: median(xs.map((x) => x.ops / x.seconds)),
      cpuUs: median(xs.map((x) => (x.cpu / x.ops) * 1e6)),
      cores: median(xs.map((x) => x.cpu / x.seconds)),
      clientCores: xs.some((x) => x.clientCpu === undefined) ? undefined : median(xs.map((x) => x.clientCpu! / x.seconds)),
    };
  });
}

function report(load: Load, results: Result[], startLoad: string): void {
  const cs = load.contenders;
  const rate = (i: number) => {
    const r = results[i];
    return r && 'rate' in r ? r.rate : NaN;
  };
  const find = (kind: Kind, workers: number) => cs.findIndex((c) => c.kind === kind && c.workers === workers);
  const ratio = (a: number, b: number) => (Number.isFinite(a / b) ? `${(a / b).toFixed(2)}×` : '');
  console.log(`\n### scale: ${load.name} (node ${process.version}; median of ${RUNS}, alternating; load average ${startLoad} at start)\n`);
  const rows = cs.map((c, i) => {
    const r = results[i]!;
    const workers = c.kind === 'single' ? 'one thread' : String(c.workers);
    if ('missing' in r) return [c.spec.name, workers, r.missing, '', '', '', '', ''];
    const vsCluster = c.kind === 'single' ? '' : ratio(rate(i), rate(find('cluster', c.workers)));
    const scaling = c.kind !== 'single' && c.workers === 2 ? ratio(rate(i), rate(find(c.kind, 1))) : '';
    return [
      c.spec.name,
      workers,
      fmt(r.rate),
      vsCluster,
      scaling,
      r.cpuUs.toFixed(1),
      r.cores.toFixed(2),
      r.clientCores === undefined ? '' : r.clientCores.toFixed(2),
    ];
  });
  const head = ['server', 'workers', load.unit, 'vs node:cluster, same workers', '2 workers vs 1', 'server CPU µs/op'];
  head.push('server cores used', 'client cores used');
  console.log(table(head, rows));
}

async function main(): Promise<void> {
  const loads: Load[] = [];
  for (const l of LOADS) {
    if (l === 'echo') {
      if (!existsSync(client)) throw new Error(`${client} missing: run bench/c/build.sh`);
      loads.push(echoLoad());
    } else if (l === 'http' || l === 'http-close') {
      ensureWrk();
      loads.push(httpLoad(l === 'http-close'));
    } else throw new RangeError(`LOADS: unknown load ${l} (echo, http, http-close)`);
  }
  console.log(`\nscale: ${(await import('node:os')).cpus().length} cores, shared by the servers and the load generator`);
  for (const load of loads) {
    const startLoad = loadavg();
    report(load, await runScenario(load), startLoad);
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
