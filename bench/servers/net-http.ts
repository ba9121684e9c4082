// A minimal node:net HTTP responder: answers every "\r\n\r\n" it sees (also
// split between reads) with a fixed 200 response. Not an HTTP server: the
// floor under node:http on Node's own event loop, for bench/scenarios/http.ts.
// Prints "listening <port>" (PORT=0: any free port).
import { createServer } from 'node:net';

const BODY = 'Hello, World!';
const RESPONSE = Buffer.from(`HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: ${BODY.length}\r\n\r\n${BODY}`);
const TERM = [13, 10, 13, 10];

const server = createServer({ noDelay: true }, (s) => {
  let matched = 0;
  s.on('data', (d: Buffer) => {
    let count = 0;
    for (let i = 0; i < d.length; i++) {
      const c = d[i]!;
      if (c === TERM[matched]) matched++;
      else matched = c === 13 ? 1 : 0;
      if (matched === 4) {
        count++;
        matched = 0;
      }
    }
    if (count === 1) s.write(RESPONSE);
    else if (count > 1) s.write(Buffer.concat(Array(count).fill(RESPONSE)));
  });
  s.on('error', () => s.destroy());
});
server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
  console.log(`listening ${(server.address() as { port: number }).port}`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
