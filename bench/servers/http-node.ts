/**
 * bench/servers/http-node: node:http hello world, keep-alive (the default of
 * HTTP/1.1 clients such as wrk), for bench/scenarios/http.ts. The same body
 * and headers as the other contenders. Listens on 127.0.0.1:$PORT (0 or
 * unset: ephemeral) and prints `listening <port>` when ready. Exits on
 * SIGTERM/SIGINT and when stdin closes.
 */
import http from 'node:http';

import { serve } from './common.js';

const body = Buffer.from('Hello, world!');

serve(
  http.createServer({ noDelay: true, keepAliveTimeout: 60_000 }, (_req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': body.length });
    res.end(body);
  }),
);
