/**
 * serveHttp (issue 10): serve a `node:http` Server (and so express, fastify
 * or any framework built on it) over connections accepted on the ring. An
 * acceptEach loop (one multishot accept) runs in a fiber of the machine;
 * each accepted fd becomes a Duplex (adapters.ts: pool reads, ring writes)
 * handed to the server with `server.emit('connection', duplex)`, which is
 * the documented way to give an http.Server a connection it did not accept
 * itself. Node's own HTTP parser and response code then run unchanged.
 * Internal module (not exported by the package).
 */
import type { EventEmitter } from 'node:events';

import { FdTransport, UMSocket } from './adapters.js';
import { als } from './core.js';
import type { Fiber } from './fiber.js';
import type { UringMachine } from './machine.js';
import { native } from './native.js';
import { argTypeError, validateFd } from './validate.js';

const AF_INET = native.constants.AF_INET ?? 2;
const AF_INET6 = native.constants.AF_INET6 ?? 10;

/** What serveHttp returns. */
export interface HttpServing {
  /** The accept loop's fiber. */
  readonly fiber: Fiber<void>;
  /** Connections handed to the server and not closed yet. */
  readonly connections: ReadonlySet<import('node:stream').Duplex>;
  /**
   * Stop accepting (the multishot accept is cancelled), destroy the open
   * connections and wait until their fds are closed. The listening fd stays
   * open: it is the caller's.
   */
  close(): Promise<void>;
}

/** The server-side options serveHttp reads from the server, as net.Server does. */
interface HttpServerLike extends EventEmitter {
  noDelay?: boolean;
  keepAlive?: boolean;
  keepAliveInitialDelay?: number;
}

export function serveHttp(m: UringMachine, server: unknown, listenerFd: unknown): HttpServing {
  if (server === null || typeof server !== 'object' || typeof (server as EventEmitter).emit !== 'function') {
    throw argTypeError('server', 'an http.Server (an EventEmitter)', server);
  }
  validateFd(listenerFd, 'listenerFd');
  const srv = server as HttpServerLike;
  // Every accepted socket is of the listener's family: ask once.
  const d = native.socketDomain(listenerFd);
  const kind = d === AF_INET || d === AF_INET6 ? 'tcp' : 'socket';
  const sockets = new Set<UMSocket>();
  const emit = (s: UMSocket): void => {
    srv.emit('connection', s);
  };
  const fiber = m.spin(async () => {
    for await (const fd of m.acceptEach(listenerFd)) {
      // As net.Server: http.Server is created with allowHalfOpen true and
      // ends the connection itself after the peer's EOF.
      const s = new UMSocket(new FdTransport(m, fd, null, 65536, kind), { allowHalfOpen: true });
      if (srv.noDelay) s.setNoDelay(true);
      if (srv.keepAlive) s.setKeepAlive(true, srv.keepAliveInitialDelay ?? 0);
      sockets.add(s);
      s.once('close', () => sockets.delete(s));
      // The server's code runs in no fiber's scope (its ops must not be
      // cancelled with the accept loop).
      als.exit(emit, s);
    }
  });
  let closing: Promise<void> | null = null;
  return {
    fiber,
    connections: sockets,
    close(): Promise<void> {
      return (closing ??= (async () => {
        m.terminate(fiber);
        await m.join(fiber);
        const waits: Promise<void>[] = [];
        // A socket is in the set until its 'close' event (which comes a tick
        // after `closed` turns true), so waiting for that event is safe.
        for (const s of sockets) {
          waits.push(new Promise<void>((r) => s.once('close', () => r())));
          s.destroy();
        }
        await Promise.all(waits);
      })());
    },
  };
}
