// A TCP echo server on uringmachine: one multishot accept, and per
// connection a fiber with a multishot recv on the buffer pool, echoing every
// chunk back with send.
//
//   node out/examples/echo-server.js            # 127.0.0.1:1234
//   HOST=::1 PORT=7000 node out/examples/echo-server.js
//
// Prints "listening <port>" once it accepts connections (PORT=0: the kernel
// picks a free port, read back with getsockname). Stops on SIGINT/SIGTERM:
// the accept loop's fiber and then the connections' fibers are terminated,
// which cancels their kernel ops.

import { constants, Terminate, UringMachine, UMError } from 'uringmachine';

const host = process.env.HOST ?? '127.0.0.1';

/** Errors that just mean "the peer went away" or "the server is stopping". */
function expected(e: unknown): boolean {
  return (e instanceof UMError && (e.code === 'ECONNRESET' || e.code === 'EPIPE')) || e instanceof Terminate;
}

async function serve(m: UringMachine, conn: number): Promise<void> {
  try {
    // Small replies go out at once (no Nagle delay waiting for an ACK).
    await m.setsockopt(conn, constants.IPPROTO_TCP!, constants.TCP_NODELAY!, 1);
    for await (const chunk of m.recvEach(conn)) {
      let off = 0;
      while (off < chunk.length) off += await m.send(conn, off === 0 ? chunk : chunk.subarray(off));
    }
  } catch (e) {
    if (!expected(e)) console.error(`connection ${conn}:`, e);
  } finally {
    // closeAsync: a terminated fiber's later ops raise Terminate again, and
    // the socket must be closed whatever happened.
    m.closeAsync(conn);
  }
}

async function main(): Promise<void> {
  const m = new UringMachine();
  const wanted = Number(process.env.PORT ?? 1234);
  const listener = await m.tcpListen(host, wanted, 1024);
  const port = m.getsockname(listener).port; // the kernel's pick for PORT=0
  const acceptor = m.spin(async () => {
    for await (const conn of m.acceptEach(listener)) m.spin(() => serve(m, conn));
  });
  const stop = () => m.terminate(acceptor);
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  console.log(`listening ${port}`);
  await m.join(acceptor);
  // Stop the connections still open: each fiber's pending op is cancelled
  // and its finally block closes its socket.
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
