/**
 * bench/servers/um-echo-direct: the uringmachine echo server of the
 * fixed-files rows (bench/scenarios/fixed.ts, bench/scenarios/echo.ts), one
 * structure in three modes (argv[2]) so that only the descriptors differ:
 *   - fd: a loop of one-shot m.accept on the listener, per connection a fiber
 *     doing m.recv into its own buffer and m.send of what came, on regular fds;
 *   - direct: the same with m.acceptDirect (the connection goes straight into
 *     the ring's file table, IORING_FILE_INDEX_ALLOC) and recv/send on the
 *     DirectFd (IOSQE_FIXED_FILE: no fd-table lookup and file reference per
 *     op), m.closeDirect at the end;
 *   - direct-zc-fixed: direct, and every reply sent with m.sendZcFixed from a
 *     registered buffer the connection received into (two halves used in
 *     turn, so a reply's pages are not received into again while the next
 *     one is in flight).
 * No TCP_NODELAY in any mode (the client sets it; in lockstep Nagle never
 * holds a reply). Listens on 127.0.0.1:$PORT (0: ephemeral), prints
 * `listening <port>`, exits on SIGTERM/SIGINT or when stdin ends.
 */
import { fstatSync } from 'node:fs';

import { DirectFd, UringMachine, UMError } from 'uringmachine';

const MODE = process.argv[2] ?? 'fd';
if (!['fd', 'direct', 'direct-zc-fixed'].includes(MODE)) throw new Error(`mode ${MODE}: fd | direct | direct-zc-fixed`);
const SLOTS = 4096;
/** Per connection: the receive buffer (two halves of it in direct-zc-fixed). */
const CHUNK = 16 * 1024;
/** Connections with a registered region at once in direct-zc-fixed (the rest wait for one). */
const ZC_CONNS = 256;

const m = new UringMachine();
const zc = MODE === 'direct-zc-fixed';
const region = zc ? Buffer.alloc(ZC_CONNS * 2 * CHUNK) : null;
const freeRegions = zc ? Array.from({ length: ZC_CONNS }, (_, i) => i) : [];

function expected(e: unknown): boolean {
  return e instanceof UMError && (e.code === 'ECONNRESET' || e.code === 'EPIPE');
}

async function serve(conn: number | DirectFd): Promise<void> {
  const buf = Buffer.allocUnsafe(CHUNK);
  try {
    for (;;) {
      const n = await m.recv(conn, buf);
      if (n === 0) return;
      let off = 0;
      while (off < n) off += await m.send(conn, off === 0 ? buf : buf.subarray(off), n - off);
    }
  } catch (e) {
    if (!expected(e)) console.error(`connection ${String(conn)}:`, e);
  } finally {
    if (conn instanceof DirectFd) await m.closeDirect(conn);
    else m.closeAsync(conn);
  }
}

async function serveZc(conn: DirectFd): Promise<void> {
  const r = freeRegions.pop();
  if (r === undefined) throw new Error(`more than ${ZC_CONNS} connections at once`);
  const base = r * 2 * CHUNK;
  let half = 0;
  try {
    for (;;) {
      const off = base + half * CHUNK;
      const n = await m.recv(conn, region!.subarray(off, off + CHUNK));
      if (n === 0) return;
      let sent = 0;
      while (sent < n) sent += await m.sendZcFixed(conn, 0, n - sent, off + sent);
      half ^= 1;
    }
  } catch (e) {
    if (!expected(e)) console.error(`connection ${String(conn)}:`, e);
  } finally {
    freeRegions.push(r);
    await m.closeDirect(conn);
  }
}

async function main(): Promise<void> {
  const listener = await m.tcpListen('127.0.0.1', Number(process.env.PORT ?? 0), 1024);
  if (MODE !== 'fd') m.registerFiles(SLOTS);
  if (region !== null) await m.registerBuffers([region]);
  const stop = (): never => process.exit(0);
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  const st = fstatSync(0);
  if (st.isFIFO() || st.isSocket()) {
    process.stdin.on('end', stop);
    process.stdin.on('error', stop);
    process.stdin.resume();
  }
  console.log(`listening ${m.getsockname(listener).port}`);
  for (;;) {
    if (MODE === 'fd') {
      const c = await m.accept(listener);
      m.spin(() => serve(c));
    } else {
      const d = await m.acceptDirect(listener);
      m.spin(() => (zc ? serveZc(d) : serve(d)));
    }
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
