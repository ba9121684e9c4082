/**
 * bench/servers/balancing-net: the node:net reference of
 * bench/scenarios/balancing.ts: the same echo server as net-echo.ts in a
 * process that also runs WORKERS async loops, each a CPU burst
 * (balancing-common.ts) then a setImmediate for the next one: the plain-Node way
 * for CPU-bound work to let I/O in. Protocol: `listening <port>`, `stats`.
 */
import net from 'node:net';

import { burster, connected, statsProtocol, whenConnected, WORKERS } from './balancing-common.js';

const server = net.createServer({ noDelay: true }, (sock) => {
  connected();
  sock.on('data', (chunk) => sock.write(chunk));
  sock.on('error', () => sock.destroy());
});
server.listen({ host: '127.0.0.1', port: Number(process.env.PORT ?? 0), backlog: 4096 }, () => {
  process.stdout.write(`listening ${(server.address() as net.AddressInfo).port}\n`);
});
whenConnected(() => {
  for (let i = 0; i < WORKERS; i++) {
    const burst = burster(i);
    const loop = (): void => {
      burst();
      setImmediate(loop);
    };
    setImmediate(loop);
  }
});
statsProtocol(() => ({}));
