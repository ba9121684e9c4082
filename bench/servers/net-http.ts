/**
 * bench/servers/net-http: a minimal HTTP/1.1 keep-alive responder on node:net
 * for bench/scenarios/http.ts. No parsing: every "\r\n\r\n" ends a request
 * (GET-style requests only, bodies unsupported) and is answered with one fixed
 * 200 response with a Content-Length; pipelined requests in one chunk get
 * their responses in one write, and a request split across chunks is carried
 * over (a head longer than 64 KiB closes the connection). Listens on
 * 127.0.0.1:$PORT (0 or unset: ephemeral) and prints `listening <port>` when
 * ready. Exits on SIGTERM/SIGINT and when stdin closes.
 */
import net from 'node:net';

import { serve } from './common.js';

const RESPONSE = Buffer.from('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\nHello, world!');
const MAX_HEAD = 65536;
const batches: Buffer[] = [RESPONSE];

function responses(n: number): Buffer {
  while (batches.length < n) batches.push(Buffer.concat(Array(batches.length + 1).fill(RESPONSE)));
  return batches[n - 1]!;
}

serve(
  net.createServer({ noDelay: true }, (sock) => {
    let carry: Buffer | null = null;
    sock.on('data', (chunk: Buffer) => {
      // Search from 3 bytes before the new data so a terminator split across
      // chunks is found.
      let buf = chunk;
      let from = 0;
      if (carry) {
        from = Math.max(0, carry.length - 3);
        buf = Buffer.concat([carry, chunk]);
      }
      let n = 0;
      let end = 0;
      for (let i = buf.indexOf('\r\n\r\n', from); i >= 0; i = buf.indexOf('\r\n\r\n', end)) {
        n++;
        end = i + 4;
      }
      carry = end < buf.length ? buf.subarray(end) : null;
      if (carry && carry.length > MAX_HEAD) {
        sock.destroy();
        return;
      }
      for (; n > 0; n -= 64) sock.write(responses(Math.min(n, 64)));
    });
    sock.on('error', () => sock.destroy());
  }),
);
