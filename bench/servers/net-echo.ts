// node:net echo server, the reference contender of bench/scenarios/echo.ts.
// Prints "listening <port>" (PORT=0: any free port).
import { createServer } from 'node:net';

const server = createServer({ noDelay: true }, (s) => {
  s.on('data', (d) => s.write(d));
  s.on('error', () => s.destroy());
});
server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
  console.log(`listening ${(server.address() as { port: number }).port}`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
