/**
 * bench/http: HTTP/1.1 hello world with keep-alive on loopback, every server
 * driven by the same `wrk -t1 -c<CONNS> -d<DURATION>s` (the Debian package
 * wrk; installed here with apt-get when missing and running as root).
 * Servers, each its own child process started in turn:
 *   - node:http (bench/servers/http-node.ts),
 *   - a minimal node:net responder (bench/servers/net-http.ts: finds
 *     "\r\n\r\n", writes a fixed response),
 *   - uringmachine (examples/http-server.ts, real request-line and header
 *     parsing, when out/examples/http-server.js is built),
 *   - C on the project's ring layer (bench/bin/http_server: the minimal
 *     responder, multishot accept + recv on a provided-buffer ring).
 * Per server: one warm-up wrk run of WARMUP seconds (not measured), then RUNS
 * measured runs; reported are the medians of requests/s and of the server's
 * CPU time (utime + stime from /proc/<pid>/stat) per request, and its
 * user-space part. wrk shares the
 * machine's cores, so CPU per request is the fairer figure.
 * Env: CONNS (50), DURATION (5 s), WARMUP (2 s), RUNS (3);
 * BENCH_SMOKE=1: 1 s, no warm-up, 1 run. A contender that fails (wrk socket
 * errors or non-2xx responses count as failures) shows "(failed: ...)" in its
 * row, the others still run, and the exit code is 1.
 */
import {
  binServer,
  cpuTimes,
  ensureWrk,
  exists,
  fmt,
  loadavg,
  median,
  nodeServer,
  runLoad,
  smoke,
  startServer,
  stopServer,
  table,
} from '../lib/net.js';

const CONNS = Number(process.env.CONNS ?? 50);
const DURATION = Number(process.env.DURATION ?? (smoke ? 1 : 5));
const WARMUP = Number(process.env.WARMUP ?? (smoke ? 0 : 2));
const RUNS = Number(process.env.RUNS ?? (smoke ? 1 : 3));

const servers = [
  nodeServer('node:http', 'out/bench/servers/http-node.js'),
  nodeServer('minimal node:net responder', 'out/bench/servers/net-http.js'),
  nodeServer('uringmachine (examples/http-server.ts)', 'out/examples/http-server.js'),
  binServer('C, own ring layer (bench/c/http_server.c)', 'bench/bin/http_server'),
];

type Wrk = { requests: number; rps: number };

function parseWrk(out: string): Wrk {
  const total = /(\d+) requests in ([\d.]+)(\w+)/.exec(out);
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(out);
  if (!total || !rps) throw new Error(`cannot read wrk's output:\n${out}`);
  const errors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  if (errors && errors.slice(1).some((n) => Number(n) > 0)) throw new Error(`wrk: ${errors[0]}`);
  const bad = /Non-2xx or 3xx responses: (\d+)/.exec(out);
  if (bad) throw new Error(`wrk: ${bad[0]}`);
  return { requests: Number(total[1]), rps: Number(rps[1]) };
}

type Result = { rps: number; cpuUs: number; userUs: number } | { missing: string };

async function measure(spec: (typeof servers)[number]): Promise<Result> {
  if (!exists(spec)) {
    return { missing: spec.file.endsWith('.js') ? '(uringmachine server not built yet)' : '(not built: run bench/c/build.sh)' };
  }
  const s = await startServer(spec);
  try {
    const wrk = (secs: number) =>
      runLoad('wrk', ['-t1', `-c${CONNS}`, `-d${secs}s`, `http://127.0.0.1:${s.port}/`], {}, (secs + 30) * 1000);
    if (WARMUP > 0) parseWrk(await wrk(WARMUP));
    const rps: number[] = [];
    const cpu: number[] = [];
    const user: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      const c0 = cpuTimes(s.proc.pid!);
      const w = parseWrk(await wrk(DURATION));
      const c1 = cpuTimes(s.proc.pid!);
      rps.push(w.rps);
      cpu.push(((c1.user + c1.system - c0.user - c0.system) / w.requests) * 1e6);
      user.push(((c1.user - c0.user) / w.requests) * 1e6);
    }
    return { rps: median(rps), cpuUs: median(cpu), userUs: median(user) };
  } finally {
    await stopServer(s);
  }
}

async function main(): Promise<void> {
  ensureWrk();
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
    `\n### http — wrk -t1 -c${CONNS} -d${DURATION}s, keep-alive hello world (node ${process.version}; median of ${RUNS}; load average ${load} at start)\n`,
  );
  const rows = servers.map((spec, i) => {
    const r = results[i]!;
    if ('missing' in r) return [spec.name, r.missing, '', '', '', ''];
    return [
      spec.name,
      fmt(r.rps),
      `${(r.rps / baseRps).toFixed(2)}×`,
      r.cpuUs.toFixed(1),
      r.userUs.toFixed(1),
      `${(r.cpuUs / baseCpu).toFixed(2)}×`,
    ];
  });
  console.log(table(['server', 'requests/s', 'vs node:http', 'server CPU µs/request', 'of which user', 'CPU vs node:http'], rows));
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
