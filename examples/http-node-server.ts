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
// (PORT=0 picks a free port, read back with getsockname); stops on SIGINT/SIGTERM.
import http from 'node:http';

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

async function main(): Promise<void> {
  const m = new UringMachine();
  const wanted = Number(process.env.PORT ?? 1234);
  const listener = await m.tcpListen(host, wanted, 1024);
  const port = m.getsockname(listener).port; // the kernel's pick for PORT=0
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
