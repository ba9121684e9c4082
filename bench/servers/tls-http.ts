/**
 * bench/servers/tls-http: the minimal HTTP/1.1 responder of net-http.ts on
 * node:tls, for bench/scenarios/tls.ts: no parsing, every "\r\n\r\n" ends a
 * request and gets one fixed 200 response; a head containing
 * "Connection: close" (what wrk sends with -H 'Connection: close') is
 * answered (with "Connection: close") and the connection ended. Certificate and key from $CERT and
 * $KEY. Listens on 127.0.0.1:$PORT and prints `listening <port>`.
 */
import { readFileSync } from 'node:fs';
import type net from 'node:net';
import tls from 'node:tls';

import { serve } from './common.js';

const RESPONSE = Buffer.from('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\nHello, world!');
const RESPONSE_CLOSE = Buffer.from('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\nConnection: close\r\n\r\nHello, world!');
const MAX_HEAD = 65536;

serve(
  tls.createServer({ cert: readFileSync(process.env.CERT!), key: readFileSync(process.env.KEY!) }, (sock) => {
    sock.setNoDelay(true);
    let carry: Buffer | null = null;
    sock.on('data', (chunk: Buffer) => {
      const buf = carry ? Buffer.concat([carry, chunk]) : chunk;
      const from = carry ? Math.max(0, carry.length - 3) : 0;
      let n = 0;
      let end = 0;
      for (let i = buf.indexOf('\r\n\r\n', from); i >= 0; i = buf.indexOf('\r\n\r\n', end)) {
        n++;
        end = i + 4;
      }
      const close = n > 0 && buf.subarray(0, end).includes('Connection: close');
      carry = end < buf.length ? buf.subarray(end) : null;
      if (carry && carry.length > MAX_HEAD) {
        sock.destroy();
        return;
      }
      if (close) sock.end(RESPONSE_CLOSE);
      else if (n > 0) sock.write(n === 1 ? RESPONSE : Buffer.concat(Array(n).fill(RESPONSE)));
    });
    sock.on('error', () => sock.destroy());
  }) as unknown as net.Server,
);
