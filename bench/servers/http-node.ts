// node:http hello world with keep-alive, the reference contender of
// bench/scenarios/http.ts. Prints "listening <port>" (PORT=0: any free port).
import { createServer } from 'node:http';

const BODY = 'Hello, World!';
const server = createServer((req, res) => {
  res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': BODY.length });
  res.end(BODY);
});
server.keepAliveTimeout = 60_000;
server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
  console.log(`listening ${(server.address() as { port: number }).port}`);
});
process.on('SIGTERM', () => process.exit(0));
