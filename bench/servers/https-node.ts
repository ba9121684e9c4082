/**
 * bench/servers/https-node: node:https hello world with keep-alive, for
 * bench/scenarios/tls.ts (the HTTPS counterpart of http-node.ts; same body
 * and headers). Certificate and key from the PEM files $CERT and $KEY.
 * Listens on 127.0.0.1:$PORT and prints `listening <port>`; exits on
 * SIGTERM/SIGINT and when stdin closes.
 */
import { readFileSync } from 'node:fs';
import https from 'node:https';
import type net from 'node:net';

import { serve } from './common.js';

const body = Buffer.from('Hello, world!');

serve(
  https.createServer(
    { cert: readFileSync(process.env.CERT!), key: readFileSync(process.env.KEY!), noDelay: true, keepAliveTimeout: 60_000 },
    (_req, res) => {
      res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': body.length });
      res.end(body);
    },
  ) as unknown as net.Server,
);
