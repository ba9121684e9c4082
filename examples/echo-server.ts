// A TCP echo server on uringmachine: one multishot accept, and per
// connection a fiber with a multishot recv on the buffer pool, echoing every
// chunk back with send.
//
//   node out/examples/echo-server.js            # 127.0.0.1:1234
//   HOST=::1 PORT=7000 node out/examples/echo-server.js
//   WORKERS=2 node out/examples/echo-server.js  # two worker threads, a machine each
//   WORKERS=2 WORKER_MODE=queue node out/examples/echo-server.js
//
// Prints "listening <port>" once it accepts connections (PORT=0: the kernel
// picks a free port, read back with getsockname). WORKERS=N (default 0: one
// machine on the main thread) serves on N worker threads, each with its own
// machine: WORKER_MODE=reuseport (default) gives each worker its own
// SO_REUSEPORT listener, WORKER_MODE=queue has the main thread accept and
// hand the fds round robin to the workers over SharedQueues (examples/workers.ts).
// Stops on SIGINT/SIGTERM: the accept loop's fiber and then the connections'
// fibers are terminated, which cancels their kernel ops; with workers, each
// prints "worker <i> served <n> connections" once it has stopped.

import { constants, Terminate, UringMachine, UMError } from 'uringmachine';

import { run } from './workers.js';

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

run(import.meta.url, serve);
