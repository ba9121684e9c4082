/**
 * bench/servers/common: the protocol shared by the benchmark servers: listen
 * on 127.0.0.1:$PORT (0 or unset: an ephemeral port), print `listening <port>`
 * on stdout when ready, exit on SIGTERM/SIGINT and when stdin (a pipe from the
 * parent) ends, so a server never outlives the scenario that spawned it.
 */
import { fstatSync } from 'node:fs';
import type net from 'node:net';

export function serve(server: net.Server): void {
  const port = Number(process.env.PORT ?? 0);
  server.listen({ host: '127.0.0.1', port, backlog: 1024 }, () => {
    const addr = server.address() as net.AddressInfo;
    process.stdout.write(`listening ${addr.port}\n`);
  });
  const stop = (): void => process.exit(0);
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  // Only a pipe from the parent (child_process makes it a socketpair): a
  // terminal or /dev/null on stdin is no parent to watch.
  const st = fstatSync(0);
  if (st.isFIFO() || st.isSocket()) {
    process.stdin.on('end', stop);
    process.stdin.on('error', stop);
    process.stdin.resume();
  }
}
