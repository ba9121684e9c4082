// An HTTPS/1.1 server on uringmachine with keep-alive: examples/http-server.ts
// over TLS. Per connection a fiber runs the handshake (m.tls with one shared
// SecureContext), reads requests with m.stream(t) + getLine (request line,
// headers, Content-Length body skipped) and answers "Hello, World!" with
// m.sslWrite.
//
//   CERT=server.pem KEY=server.key node out/examples/https-server.js   # 127.0.0.1:1235
//   curl -k https://127.0.0.1:1235/
//
// Without CERT/KEY it makes a throwaway self-signed ECDSA P-256 certificate
// for localhost with the openssl CLI. Prints "listening <port>" (PORT=0
// picks a free port). Same parsing and error answers as the HTTP example.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { constants, createSecureContext, Terminate, TLSError, UringMachine, UMError, type Stream, type TlsConnection } from 'uringmachine';

const host = process.env.HOST ?? '127.0.0.1';
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

/** CERT and KEY (PEM files), or a fresh self-signed pair for localhost. */
function loadCert(): { cert: string; key: string } {
  if (process.env.CERT && process.env.KEY) return { cert: readFileSync(process.env.CERT, 'utf8'), key: readFileSync(process.env.KEY, 'utf8') };
  const dir = mkdtempSync(join(tmpdir(), 'um-https-'));
  try {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', 'k.pem', '-out', 'c.pem',
      '-days', '7', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1'], { cwd: dir, stdio: 'ignore' });
    return { cert: readFileSync(join(dir, 'c.pem'), 'utf8'), key: readFileSync(join(dir, 'k.pem'), 'utf8') };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
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
  let line = (await s.getLine(null, MAX_LINE)) as string | null;
  while (line === '') line = (await s.getLine(null, MAX_LINE)) as string | null; // tolerate stray CRLFs
  if (line === null) return s.buffered > MAX_LINE ? TOO_LARGE : null;
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
    const h = (await s.getLine(null, MAX_LINE)) as string | null;
    if (h === null) return s.buffered > MAX_LINE ? TOO_LARGE : null;
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

async function serve(m: UringMachine, conn: number, ctx: ReturnType<typeof createSecureContext>): Promise<void> {
  let t: TlsConnection | null = null;
  let s: Stream | null = null;
  try {
    await m.setsockopt(conn, constants.IPPROTO_TCP!, constants.TCP_NODELAY!, 1);
    t = await m.tls(conn, { secureContext: ctx });
    s = m.stream(t);
    for (;;) {
      const req = await readRequest(s);
      if (req === null) break;
      if (Buffer.isBuffer(req)) {
        await m.sslWrite(t, req);
        break;
      }
      await m.sslWrite(t, req.keepAlive ? OK : OK_CLOSE);
      if (!req.keepAlive) break;
    }
  } catch (e) {
    const gone = (e instanceof UMError && (e.code === 'ECONNRESET' || e.code === 'EPIPE')) || e instanceof TLSError;
    if (!gone && !(e instanceof Terminate)) console.error(e);
  } finally {
    await s?.release();
    // close_notify, then close(fd); a failed handshake leaves the fd to us.
    if (t !== null) await t.close().catch(() => {});
    else m.closeAsync(conn);
  }
}

async function main(): Promise<void> {
  const m = new UringMachine();
  const ctx = createSecureContext({ isServer: true, ...loadCert(), alpn: ['http/1.1'] });
  let port = Number(process.env.PORT ?? 1235);
  if (port === 0) port = await freePort();
  const listener = await m.tcpListen(host, port, 1024);
  const acceptor = m.spin(async () => {
    for await (const conn of m.acceptEach(listener)) m.spin(() => serve(m, conn, ctx));
  });
  const stop = () => m.terminate(acceptor);
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  console.log(`listening ${port}`);
  await m.join(acceptor);
  const open = [...m.fibers];
  for (const f of open) m.terminate(f);
  await m.join(open);
  await m.close(listener);
  m.close();
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
