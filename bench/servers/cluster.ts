/**
 * bench/servers/cluster: the node:cluster contender of bench/scenarios/scale.ts.
 * The primary forks WORKERS (1) worker processes, each running one of the
 * single-process servers unchanged: KIND=echo runs bench/servers/net-echo.js
 * (node:net, one write per read), KIND=http runs bench/servers/http-node.js
 * (node:http hello world, keep-alive). All listen on the one port the
 * primary holds (listen(0) in cluster workers shares one ephemeral port);
 * the primary accepts and hands connections round robin to the workers
 * (cluster.schedulingPolicy's Linux default, SCHED_RR). Prints
 * `listening <port>` once every worker listens. SIGTERM/SIGINT, or the end of
 * stdin (the parent went away), kill the workers; the primary exits once
 * they have. The workers' stdout is piped to the primary and dropped (their
 * own `listening` lines), their stdin is a pipe from the primary, so they
 * exit with it.
 */
import cluster, { type Worker } from 'node:cluster';
import { fstatSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const kind = process.env.KIND ?? 'echo';
const scripts: Record<string, string> = { echo: './net-echo.js', http: './http-node.js' };
if (!(kind in scripts)) throw new RangeError(`KIND must be echo or http, got ${kind}`);
const count = Number(process.env.WORKERS ?? 1);
if (!Number.isInteger(count) || count < 1) throw new RangeError(`WORKERS must be an integer >= 1, got ${process.env.WORKERS}`);

// stdout piped (and dropped below), stderr shared, stdin a pipe the worker watches.
cluster.setupPrimary({ exec: fileURLToPath(new URL(scripts[kind]!, import.meta.url)), stdio: ['pipe', 'pipe', 'inherit', 'ipc'] });
const workers: Worker[] = [];
let listening = 0;
cluster.on('listening', (_w, address) => {
  if (++listening === count) process.stdout.write(`listening ${address.port}\n`);
});
for (let i = 0; i < count; i++) {
  const w = cluster.fork({ PORT: process.env.PORT ?? '0' });
  w.process.stdout?.resume();
  workers.push(w);
}

let stopping = false;
function stop(): void {
  if (stopping) return;
  stopping = true;
  const alive = workers.filter((w) => w.process.exitCode === null && w.process.signalCode === null);
  let left = alive.length;
  if (left === 0) process.exit(0);
  for (const w of alive) {
    w.process.once('exit', () => {
      if (--left === 0) process.exit(0);
    });
    w.process.kill('SIGTERM');
  }
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
cluster.on('exit', (w, code, signal) => {
  if (!stopping) {
    console.error(`cluster worker ${w.process.pid} died (${code ?? signal})`);
    process.exitCode = 1;
    stop();
  }
});
const st = fstatSync(0);
if (st.isFIFO() || st.isSocket()) {
  process.stdin.on('end', stop);
  process.stdin.on('error', stop);
  process.stdin.resume();
}
