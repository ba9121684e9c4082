/**
 * Socket names: getsockname/getpeername (plain syscalls through the addon's
 * sockName helper: there is no io_uring op for them, and they never block),
 * and the peer address of accepted connections when asked for.
 * Internal module (not exported by the package).
 */
import type { Core } from './core.js';
import { UMError } from './errors.js';
import { native } from './native.js';
import { decodeAddress } from './net-ops.js';
import * as netOps from './net-ops.js';
import * as poolOps from './pool-ops.js';
import { argTypeError, validateFd } from './validate.js';

const L = native.layout;
const AF_INET = native.constants.AF_INET ?? 2;
const AF_INET6 = native.constants.AF_INET6 ?? 10;

/** A socket address as getsockname/getpeername report it (node:net's `address()` shape). */
export interface SocketAddress {
  /** An IP literal ('127.0.0.1', '::1'), or a unix socket path ('' when unbound). */
  address: string;
  /** The port (0 for a unix socket). */
  port: number;
  family: 'IPv4' | 'IPv6' | 'unix';
}

/** An accepted connection with its peer's address (`accept(fd, { peer: true })`, `acceptEach`). */
export interface AcceptedConnection extends SocketAddress {
  fd: number;
}

/** Options of accept / acceptEach. */
export interface AcceptOptions {
  /** Resolve `{ fd, address, port, family }` (the peer) instead of the bare fd. */
  peer?: boolean;
}

function familyName(buf: Buffer): SocketAddress['family'] {
  const f = buf.readUInt16LE(L.sockaddr_family!);
  return f === AF_INET ? 'IPv4' : f === AF_INET6 ? 'IPv6' : 'unix';
}

/** getsockname(2) / getpeername(2) of fd; UMError on failure (ENOTCONN, ENOTSOCK, EBADF). */
export function sockName(fd: unknown, peer: boolean): SocketAddress {
  validateFd(fd);
  const buf = Buffer.alloc(L.sockaddrStorage!);
  const n = native.sockName(fd, peer, buf);
  if (n < 0) throw new UMError(n, peer ? 'getpeername' : 'getsockname');
  const { host, port } = decodeAddress(buf, n);
  return { address: host, port, family: n < 2 ? 'unix' : familyName(buf) };
}

/**
 * The peer of a just-accepted fd. A connection reset before we ask has no
 * peer any more (ENOTCONN): it is reported with address '' and port 0, and
 * its first read will fail.
 */
function withPeer(fd: number): AcceptedConnection {
  try {
    return { fd, ...sockName(fd, true) };
  } catch {
    return { fd, address: '', port: 0, family: 'unix' };
  }
}

export function validateAcceptOptions(opts: unknown): boolean {
  if (opts === undefined) return false;
  if (opts === null || typeof opts !== 'object') throw argTypeError('opts', 'of type object', opts);
  const peer = (opts as AcceptOptions).peer;
  if (peer !== undefined && typeof peer !== 'boolean') throw argTypeError('opts.peer', 'of type boolean', peer);
  return peer === true;
}

export async function accept(core: Core, fd: number, opts: unknown): Promise<number | AcceptedConnection> {
  const peer = validateAcceptOptions(opts);
  const conn = await netOps.accept(core, fd);
  return peer ? withPeer(conn) : conn;
}

/** acceptEach with peers: the multishot accept's fds, each with getpeername's answer. */
class PeerIterator implements AsyncIterableIterator<AcceptedConnection> {
  readonly #inner: AsyncIterableIterator<number>;
  constructor(inner: AsyncIterableIterator<number>) {
    this.#inner = inner;
  }
  async next(): Promise<IteratorResult<AcceptedConnection>> {
    const r = await this.#inner.next();
    return r.done ? { done: true, value: undefined } : { done: false, value: withPeer(r.value) };
  }
  async return(): Promise<IteratorResult<AcceptedConnection>> {
    await this.#inner.return?.();
    return { done: true, value: undefined };
  }
  [Symbol.asyncIterator](): this {
    return this;
  }
}

export function acceptEach(core: Core, fd: number, opts: unknown): AsyncIterableIterator<number> | AsyncIterableIterator<AcceptedConnection> {
  const peer = validateAcceptOptions(opts);
  const it = poolOps.acceptEach(core, fd);
  return peer ? new PeerIterator(it) : it;
}
