/**
 * bench/tls (issue 11): TLS on loopback, ECDSA P-256 certificate made with
 * the openssl CLI at start, every figure a median of RUNS.
 *
 * (a) HTTPS hello keep-alive: the same `wrk -t1 -c<CONNS> -d<DURATION>s`
 *     against node:https (bench/servers/https-node.ts), a minimal node:tls
 *     responder (bench/servers/tls-http.ts) and uringmachine
 *     (examples/https-server.ts), each a child process started in turn;
 *     requests/s and the server's CPU time per request (/proc/<pid>/stat).
 * (b) Handshakes/s: the same servers with `wrk -H 'Connection: close'`, so
 *     every request is a new TCP connection and a full TLS handshake.
 * (c) Bulk: BULK_MIB MiB from a server to a client in one process over one
 *     loopback connection, both ends ours (m.sslWrite 1 MiB at a time,
 *     m.sslRead into 1 MiB) vs both ends node:tls (write with backpressure,
 *     'data' events); MiB/s and process CPU per MiB.
 * Env: CONNS (50), DURATION (5 s), WARMUP (1 s), RUNS (3), BULK_MIB (256);
 * BENCH_SMOKE=1: 1 s, no warm-up, 1 run, 8 MiB.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';

import { UringMachine, createSecureContext } from 'uringmachine';

import { cpuTimes, exists, fmt, loadavg, median, nodeServer, runLoad, smoke, startServer, stopServer, table } from '../lib/net.js';

const CONNS = Number(process.env.CONNS ?? 50);
const DURATION = Number(process.env.DURATION ?? (smoke ? 1 : 5));
const WARMUP = Number(process.env.WARMUP ?? (smoke ? 0 : 1));
const RUNS = Number(process.env.RUNS ?? (smoke ? 1 : 3));
const BULK_MIB = Number(process.env.BULK_MIB ?? (smoke ? 8 : 256));

const servers = [
  nodeServer('node:https', 'out/bench/servers/https-node.js'),
  nodeServer('minimal node:tls responder', 'out/bench/servers/tls-http.js'),
  nodeServer('uringmachine (examples/https-server.ts)', 'out/examples/https-server.js'),
];

function makeCert(dir: string): { cert: string; key: string } {
  execFileSync(
    'openssl',
    ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', 'key.pem', '-out', 'cert.pem', '-days', '7', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1'],
    { cwd: dir, stdio: 'ignore' },
  );
  return { cert: join(dir, 'cert.pem'), key: join(dir, 'key.pem') };
}

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

type Result = { rps: number; cpuUs: number } | { missing: string };

async function measure(spec: (typeof servers)[number], extra: string[], conns: number): Promise<Result> {
  if (!exists(spec)) return { missing: '(not built)' };
  const s = await startServer(spec);
  try {
    const wrk = (secs: number) => runLoad('wrk', ['-t1', `-c${conns}`, `-d${secs}s`, ...extra, `https://127.0.0.1:${s.port}/`], {}, (secs + 30) * 1000);
    if (WARMUP > 0) parseWrk(await wrk(WARMUP));
    const rps: number[] = [];
    const cpu: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      const c0 = cpuTimes(s.proc.pid!);
      const w = parseWrk(await wrk(DURATION));
      const c1 = cpuTimes(s.proc.pid!);
      rps.push(w.rps);
      cpu.push(((c1.user + c1.system - c0.user - c0.system) / w.requests) * 1e6);
    }
    return { rps: median(rps), cpuUs: median(cpu) };
  } finally {
    await stopServer(s);
  }
}

async function wrkTable(title: string, extra: string[], conns: number, unit: string): Promise<void> {
  const load = loadavg();
  const results: Result[] = [];
  for (const spec of servers) {
    try {
      results.push(await measure(spec, extra, conns));
    } catch (e) {
      console.error(`${spec.name}:`, e);
      results.push({ missing: `(failed: ${String((e as Error)?.message ?? e).split('\n')[0]})` });
      process.exitCode = 1;
    }
  }
  const base = results[0]!;
  const baseRps = 'rps' in base ? base.rps : NaN;
  const baseCpu = 'rps' in base ? base.cpuUs : NaN;
  console.log(`\n### tls — ${title} (node ${process.version}; median of ${RUNS}; load average ${load} at start)\n`);
  const rows = servers.map((spec, i) => {
    const r = results[i]!;
    if ('missing' in r) return [spec.name, r.missing, '', '', ''];
    return [spec.name, fmt(r.rps), `${(r.rps / baseRps).toFixed(2)}×`, r.cpuUs.toFixed(1), `${(r.cpuUs / baseCpu).toFixed(2)}×`];
  });
  console.log(table(['server', unit, 'vs node:https', 'server CPU µs/req', 'CPU vs node:https'], rows));
}

// ---- (c) bulk -------------------------------------------------------------------------------

const MiB = 1 << 20;

async function bulkOurs(cert: string, key: string, total: number): Promise<{ secs: number; cpu: number }> {
  const m = new UringMachine();
  const l = await m.tcpListen('127.0.0.1', 0);
  const port = await portOf(l);
  const [a, b] = await Promise.all([m.accept(l), m.tcpConnect('127.0.0.1', port)]);
  const sctx = createSecureContext({ isServer: true, cert: readFileSync(cert), key: readFileSync(key) });
  const cctx = createSecureContext({ ca: readFileSync(cert) });
  const [s, c] = await Promise.all([m.tls(a, { secureContext: sctx }), m.tls(b, { secureContext: cctx, servername: 'localhost' })]);
  const chunk = Buffer.alloc(MiB, 120);
  const t0 = process.hrtime.bigint();
  const u0 = process.cpuUsage();
  const w = m.spin(async () => {
    for (let sent = 0; sent < total; sent += MiB) await m.sslWrite(s, chunk);
  });
  const buf = Buffer.allocUnsafe(MiB);
  let got = 0;
  while (got < total) {
    const n = await m.sslRead(c, buf);
    if (n === 0) throw new Error('early EOF');
    got += n;
  }
  await m.join(w);
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  const u = process.cpuUsage(u0);
  await Promise.all([s.close(), c.close()]);
  await m.close(l);
  m.close();
  return { secs, cpu: (u.user + u.system) / 1e6 };
}

async function portOf(fd: number): Promise<number> {
  const { readlinkSync } = await import('node:fs');
  const inode = /socket:\[(\d+)\]/.exec(readlinkSync(`/proc/self/fd/${fd}`))![1];
  for (const line of readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f[9] === inode) return parseInt(f[1]!.split(':')[1]!, 16);
  }
  throw new Error('listener not found');
}

async function bulkNode(cert: string, key: string, total: number): Promise<{ secs: number; cpu: number }> {
  const chunk = Buffer.alloc(MiB, 120);
  const srv = tls.createServer({ cert: readFileSync(cert), key: readFileSync(key) }, (sock) => {
    let sent = 0;
    const pump = (): void => {
      while (sent < total) {
        sent += MiB;
        if (!sock.write(chunk)) {
          sock.once('drain', pump);
          return;
        }
      }
      sock.end();
    };
    pump();
    sock.on('error', () => {});
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  const sock = tls.connect({ port, host: '127.0.0.1', servername: 'localhost', ca: readFileSync(cert) });
  await new Promise<void>((r, j) => sock.once('secureConnect', r).once('error', j));
  const t0 = process.hrtime.bigint();
  const u0 = process.cpuUsage();
  let got = 0;
  await new Promise<void>((r) => {
    sock.on('data', (d: Buffer) => {
      got += d.length;
      if (got >= total) r();
    });
  });
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  const u = process.cpuUsage(u0);
  sock.destroy();
  await new Promise((r) => srv.close(r));
  return { secs, cpu: (u.user + u.system) / 1e6 };
}

async function bulk(cert: string, key: string): Promise<void> {
  const total = BULK_MIB * MiB;
  const load = loadavg();
  const rows: string[][] = [];
  let base = NaN;
  for (const [name, fn] of [
    ['node:tls both ends', bulkNode],
    ['uringmachine both ends (sslWrite/sslRead)', bulkOurs],
  ] as const) {
    const secs: number[] = [];
    const cpu: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      const r = await fn(cert, key, total);
      secs.push(r.secs);
      cpu.push(r.cpu);
    }
    const mibs = BULK_MIB / median(secs);
    if (Number.isNaN(base)) base = mibs;
    rows.push([name, fmt(mibs), `${(mibs / base).toFixed(2)}×`, ((median(cpu) / BULK_MIB) * 1e3).toFixed(2)]);
  }
  console.log(`\n### tls — bulk ${BULK_MIB} MiB server → client, one process, one loopback connection (node ${process.version}; median of ${RUNS}; load average ${load} at start)\n`);
  console.log(table(['ends', 'MiB/s', 'vs node:tls', 'CPU ms/MiB'], rows));
}

async function main(): Promise<void> {
  if (spawnSync('wrk', ['-v'], { stdio: 'ignore' }).error) throw new Error('wrk not found (apt-get install wrk)');
  const dir = mkdtempSync(join(tmpdir(), 'um-bench-tls-'));
  try {
    const { cert, key } = makeCert(dir);
    process.env.CERT = cert;
    process.env.KEY = key;
    await wrkTable(`HTTPS hello keep-alive, wrk -t1 -c${CONNS} -d${DURATION}s`, [], CONNS, 'requests/s');
    await wrkTable(`handshakes/s: a new connection per request (wrk -t1 -c${Math.min(CONNS, 16)} -H 'Connection: close'), ECDSA P-256`, ['-H', 'Connection: close'], Math.min(CONNS, 16), 'handshakes/s');
    await bulk(cert, key);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
