// A minimal HTTP/1.1 server on uringmachine with keep-alive: per connection
// a fiber reads requests with m.stream + getLine (request line, headers,
// Content-Length body skipped) and answers "Hello, World!".
//
//   node out/examples/http-server.js            # 127.0.0.1:1234
//   curl -v http://127.0.0.1:1234/
//
// Prints "listening <port>" (PORT=0: a free port, read back with
// getsockname). It parses what it
// needs and rejects what it cannot handle (400 for a malformed request,
// 431 for a header line over 8 KiB, 501 for chunked request bodies), and
// closes the connection after `Connection: close` or an HTTP/1.0 request
// without keep-alive.
//
// WORKERS=N and WORKER_MODE=reuseport|queue spread the connections over N
// worker threads, a machine each, as in examples/echo-server.ts (the loop
// is examples/workers.ts).

import { constants, LineTooLongError, Terminate, UringMachine, UMError, type Stream } from 'uringmachine';

import { run } from './workers.js';

const MAX_LINE = 8192;
const BODY = 'Hello, World!';
const OK = Buffer.from(`HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: ${BODY.length}\r\n\r\n${BODY}`);
const OK_CLOSE = Buffer.from(
  `HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: ${BODY.length}\r\nConnection: close\r\n\r\n${BODY}`,
);

function status(code: number, text: string): Buffer {
  return Buffer.from(`HTTP/1.1 ${code} ${text}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`);
}
const BAD_REQUEST = status(400, 'Bad Request');
const TOO_LARGE = status(431, 'Request Header Fields Too Large');
const NOT_IMPLEMENTED = status(501, 'Not Implemented');

async function sendAll(m: UringMachine, fd: number, data: Buffer): Promise<void> {
  let off = 0;
  while (off < data.length) off += await m.send(fd, off === 0 ? data : data.subarray(off));
}

interface Request {
  method: string;
  target: string;
  keepAlive: boolean;
}

/**
 * Read one request head; null at EOF (or an error response to send).
 * Header names are matched case-insensitively without building a map.
 */
async function readRequest(s: Stream): Promise<Request | Buffer | null> {
  try {
    return await readHead(s);
  } catch (e) {
    if (e instanceof LineTooLongError) return TOO_LARGE;
    throw e;
  }
}

async function readHead(s: Stream): Promise<Request | Buffer | null> {
  let line = await s.getLine(null, MAX_LINE);
  while (line === '') line = await s.getLine(null, MAX_LINE); // tolerate stray CRLFs
  if (line === null) return null;
  const sp1 = line.indexOf(' ');
  const sp2 = line.lastIndexOf(' ');
  if (sp1 <= 0 || sp2 <= sp1) return BAD_REQUEST;
  const method = line.slice(0, sp1);
  const target = line.slice(sp1 + 1, sp2);
  const version = line.slice(sp2 + 1);
  if (version !== 'HTTP/1.1' && version !== 'HTTP/1.0') return BAD_REQUEST;
  let keepAlive = version === 'HTTP/1.1';
  let length = 0;
  for (;;) {
    const h = await s.getLine(null, MAX_LINE);
    if (h === null) return null;
    if (h === '') break;
    const colon = h.indexOf(':');
    if (colon <= 0) return BAD_REQUEST;
    const c = h.charCodeAt(0) | 0x20;
    // Only three headers matter here: look at the first letter first.
    if (c === 0x63 /* c */ && colon === 10 && h.slice(0, 10).toLowerCase() === 'connection') {
      const v = h.slice(11).trim().toLowerCase();
      if (v === 'close') keepAlive = false;
      else if (v === 'keep-alive') keepAlive = true;
    } else if (c === 0x63 && colon === 14 && h.slice(0, 14).toLowerCase() === 'content-length') {
      const v = h.slice(15).trim();
      if (!/^\d{1,15}$/.test(v)) return BAD_REQUEST;
      length = Number(v);
    } else if (c === 0x74 /* t */ && colon === 17 && h.slice(0, 17).toLowerCase() === 'transfer-encoding') {
      return NOT_IMPLEMENTED;
    }
  }
  if (length > 0) await s.skip(length);
  return { method, target, keepAlive };
}

async function serve(m: UringMachine, conn: number): Promise<void> {
  const s = m.stream(conn, { mode: 'recv' });
  try {
    // Small replies go out at once (no Nagle delay waiting for an ACK).
    await m.setsockopt(conn, constants.IPPROTO_TCP!, constants.TCP_NODELAY!, 1);
    for (;;) {
      const req = await readRequest(s);
      if (req === null) break;
      if (Buffer.isBuffer(req)) {
        await sendAll(m, conn, req);
        break;
      }
      await sendAll(m, conn, req.keepAlive ? OK : OK_CLOSE);
      if (!req.keepAlive) break;
    }
  } catch (e) {
    const gone = e instanceof UMError && (e.code === 'ECONNRESET' || e.code === 'EPIPE');
    if (!gone && !(e instanceof Terminate)) console.error(e);
  } finally {
    await s.release();
    m.closeAsync(conn); // also in a terminated fiber, whose later ops raise Terminate
  }
}

run(import.meta.url, serve);
