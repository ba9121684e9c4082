// A plain node:http app served over uringmachine: the app below is ordinary
// http.Server code (it would run the same on server.listen()); serveHttp
// accepts the connections on the ring (multishot accept) and hands each one
// to the server as a Duplex whose reads come from the machine's buffer pool
// and whose writes are ring ops. Express, fastify & co. sit on exactly such a
// server, so they run unchanged.
//
//   node out/examples/http-node-server.js          # 127.0.0.1:1234
//   curl http://127.0.0.1:1234/                    # Hello, World!
//   curl --data-binary @somefile http://127.0.0.1:1234/echo
//
// Routes: `/` answers "Hello, World!"; `/echo` (POST) streams the request
// body back; `/bytes/<n>` streams n bytes of 'x'. Prints "listening <port>"
// (PORT=0 picks a free port); stops on SIGINT/SIGTERM.
import http from 'node:http';
import { createServer } from 'node:net';

import { serveHttp, UringMachine } from 'uringmachine';

const host = process.env.HOST ?? '127.0.0.1';
const BODY = Buffer.from('Hello, World!');
const CHUNK = Buffer.alloc(65536, 'x');

const app = http.createServer({ keepAliveTimeout: 60_000 }, (req, res) => {
  if (req.url === '/echo' && req.method === 'POST') {
    res.writeHead(200, { 'Content-Type': 'application/octet-stream' });
    req.pipe(res);
    return;
  }
  const bytes = /^\/bytes\/(\d+)$/.exec(req.url ?? '');
  if (bytes) {
    let left = Number(bytes[1]);
    res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': left });
    const more = (): void => {
      while (left > 0) {
        const n = Math.min(left, CHUNK.length);
        left -= n;
        if (!res.write(n === CHUNK.length ? CHUNK : CHUNK.subarray(0, n))) {
          res.once('drain', more);
          return;
        }
      }
      res.end();
    };
    more();
    return;
  }
  res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': BODY.length });
  res.end(BODY);
});

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.on('error', reject);
    s.listen(0, host, () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

async function main(): Promise<void> {
  const m = new UringMachine();
  let port = Number(process.env.PORT ?? 1234);
  if (port === 0) port = await freePort();
  const listener = await m.tcpListen(host, port, 1024);
  const serving = serveHttp(m, app, listener);
  const stop = (): void => {
    serving.close().catch((e: unknown) => console.error(e));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  console.log(`listening ${port}`);
  await m.join(serving.fiber).catch(() => {});
  await serving.close();
  await m.close(listener);
  m.close();
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
