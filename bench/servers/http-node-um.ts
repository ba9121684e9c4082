/**
 * bench/servers/http-node-um: the same node:http app as http-node.ts (same
 * body, headers and server options), served over uringmachine: serveHttp
 * accepts on the ring and hands each connection to the http.Server as a
 * Duplex (pool reads, ring writes). For bench/scenarios/adapters.ts. Listens
 * on 127.0.0.1:$PORT (0 or unset: ephemeral), prints `listening <port>`,
 * exits on SIGTERM/SIGINT and when stdin (a pipe from the parent) ends.
 */
import { fstatSync, readFileSync, readlinkSync } from 'node:fs';
import http from 'node:http';

import { serveHttp, UringMachine } from 'uringmachine';

const body = Buffer.from('Hello, world!');

const server = http.createServer({ noDelay: true, keepAliveTimeout: 60_000 }, (_req, res) => {
  res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': body.length });
  res.end(body);
});

/** The port a listening socket got, from /proc/net/tcp (the API has no getsockname). */
function boundPort(fd: number): number {
  const inode = /socket:\[(\d+)\]/.exec(readlinkSync(`/proc/self/fd/${fd}`))![1];
  for (const line of readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f[9] === inode) return parseInt(f[1]!.split(':')[1]!, 16);
  }
  throw new Error('listening socket not found in /proc/net/tcp');
}

async function main(): Promise<void> {
  const m = new UringMachine();
  const listener = await m.tcpListen('127.0.0.1', Number(process.env.PORT ?? 0), 1024);
  serveHttp(m, server, listener);
  process.stdout.write(`listening ${boundPort(listener)}\n`);
  const stop = (): void => process.exit(0);
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  const st = fstatSync(0);
  if (st.isFIFO() || st.isSocket()) {
    process.stdin.on('end', stop);
    process.stdin.on('error', stop);
    process.stdin.resume();
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
