/**
 * One-shot socket ops (issue 3): socket, bind, listen, connect, accept,
 * send, sendv, sendto, recv, recvfrom, shutdown, getsockopt, setsockopt, and
 * the tcpListen / tcpConnect conveniences. The facade methods in machine.ts
 * (section "Sockets (one-shot)") delegate here.
 *
 * Addresses: a host is an IPv4 literal, an IPv6 literal (optionally in
 * brackets, with a numeric `%scope`), or a unix socket path (a string
 * starting with '/' or '.', or a Buffer; a Buffer whose first byte is 0 names
 * an abstract socket) with the port omitted. The sockaddr is encoded here, in
 * JS, into a Buffer laid out as the C headers say (native/js_constants.c,
 * `layout.sin_*`, `sin6_*`, `sun_path`) and pinned on the op until its final
 * CQE, like every buffer the kernel reads.
 *
 * Sends always add MSG_NOSIGNAL: a peer that went away is an EPIPE /
 * ECONNRESET UMError, never a SIGPIPE.
 *
 * SQE field use follows the liburing prep helpers (io_uring_prep_socket(3),
 * io_uring_prep_bind(3), io_uring_prep_cmd_sock(3), ...): see each function.
 * Internal module (not exported by the package).
 */
import { isIPv4, isIPv6 } from 'node:net';

import { addressOf, als, fillIovecs, shortOnCancel, type Core } from './core.js';
import { begin, KERNEL_VERSION, MAX_RW_COUNT, mapVoid, noop, rwLength, setU64 } from './prep.js';
import { UMError } from './errors.js';
import { native } from './native.js';
import { OP_KINDS, OPCODES, type OpKind } from './op-kinds.js';
import { takeFd } from './pool-ops.js';
import type { Op } from './op.js';
import { argTypeError, rangeError, toBytes, toBytesList, validateBuffer, validateFd, validateInt32, validateInteger } from './validate.js';

const L = native.layout;
const C = native.constants;
const AF_UNIX = C.AF_UNIX ?? 1;
const AF_INET = C.AF_INET ?? 2;
const AF_INET6 = C.AF_INET6 ?? 10;
const SOCK_STREAM = C.SOCK_STREAM ?? 1;
const SOCK_CLOEXEC = C.SOCK_CLOEXEC ?? 0o2000000;
const SOL_SOCKET = C.SOL_SOCKET ?? 1;
const SO_REUSEADDR = C.SO_REUSEADDR ?? 2;
const MSG_NOSIGNAL = C.MSG_NOSIGNAL ?? 0x4000;
/** sizeof(sun_path): 108 on Linux. */
const SUN_PATH_MAX = L.sockaddrUn! - L.sun_path!;
/** UIO_MAXIOV: the most iovecs one sendmsg takes. */
const IOV_MAX = 1024;
/** SOCKET_URING_OP_* (native/uring_abi.h). */
const SOCKET_URING_OP_GETSOCKOPT = 2;
const SOCKET_URING_OP_SETSOCKOPT = 3;
const EOPNOTSUPP = 95;
const EIO = 5;
/** Socket commands through IORING_OP_URING_CMD: Linux 6.7. */
const URING_CMD_SOCK_FLOOR = 607;

/** What `m.recvfrom()` resolves. */
export interface RecvfromResult {
  /** Bytes received (0: an empty datagram, or EOF on a stream socket). */
  bytes: number;
  /** The sender's address: an IP literal, or a unix path ('' for an unbound unix peer). */
  host: string;
  /** The sender's port (0 for a unix socket). */
  port: number;
}

/** A socket address encoded for the kernel. */
export interface SockAddr {
  /** The struct sockaddr_{in,in6,un} bytes (pinned while an op uses them). */
  readonly buf: Buffer;
  /** addrlen: the bytes of buf the kernel reads. */
  readonly len: number;
  /** AF_INET, AF_INET6 or AF_UNIX. */
  readonly family: number;
  /** For messages: "127.0.0.1:80", "[::1]:80", "/tmp/sock". */
  readonly text: string;
}

// ---- Addresses ---------------------------------------------------------------

function addressError(host: unknown, why: string): TypeError & { code: string } {
  const e = new TypeError(`Invalid address ${JSON.stringify(String(host))}: ${why}`) as TypeError & { code: string };
  e.code = 'ERR_INVALID_ADDRESS';
  return e;
}

/** The 16 bytes of an IPv6 literal (already checked by net.isIPv6). */
function ipv6Bytes(s: string, out: Buffer, off: number): void {
  let head = s;
  let tail = '';
  const dbl = s.indexOf('::');
  if (dbl >= 0) {
    head = s.slice(0, dbl);
    tail = s.slice(dbl + 2);
  }
  const words = (part: string): number[] => {
    if (part === '') return [];
    const out: number[] = [];
    for (const g of part.split(':')) {
      if (g.includes('.')) {
        const b = g.split('.').map(Number);
        out.push((b[0]! << 8) | b[1]!, (b[2]! << 8) | b[3]!);
      } else out.push(parseInt(g, 16));
    }
    return out;
  };
  const h = words(head);
  const t = words(tail);
  const all = [...h, ...new Array<number>(8 - h.length - t.length).fill(0), ...t];
  for (let i = 0; i < 8; i++) out.writeUInt16BE(all[i]!, off + 2 * i);
}

/** RFC 5952 text of the 16 bytes at buf[off]: lower case, longest zero run as "::". */
function ipv6Text(buf: Uint8Array, off: number): string {
  const w: number[] = [];
  for (let i = 0; i < 8; i++) w.push((buf[off + 2 * i]! << 8) | buf[off + 2 * i + 1]!);
  // IPv4-mapped: ::ffff:a.b.c.d
  if (w[0] === 0 && w[1] === 0 && w[2] === 0 && w[3] === 0 && w[4] === 0 && w[5] === 0xffff) {
    return `::ffff:${buf[off + 12]}.${buf[off + 13]}.${buf[off + 14]}.${buf[off + 15]}`;
  }
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (w[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && w[j] === 0) j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (a: number[]): string => a.map((x) => x.toString(16)).join(':');
  if (best < 0) return hex(w);
  return `${hex(w.slice(0, best))}::${hex(w.slice(best + bestLen))}`;
}

/**
 * Encode (host, port) as a sockaddr. Throws TypeError ERR_INVALID_ARG_TYPE
 * (host not a string/Buffer, port not a number), ERR_INVALID_ADDRESS (not an
 * IP literal or path, a port given with a unix path), RangeError
 * ERR_OUT_OF_RANGE (port outside 0..65535, path too long).
 */
export function encodeAddress(host: unknown, port: unknown): SockAddr {
  if (host instanceof Uint8Array) return encodeUnix(host, port, host);
  if (typeof host !== 'string') throw argTypeError('host', 'of type string or an instance of Buffer or Uint8Array', host);
  if (host.startsWith('/') || host.startsWith('.')) return encodeUnix(Buffer.from(host, 'utf8'), port, host);
  if (port === undefined) throw argTypeError('port', 'of type number (an IP host needs a port)', port);
  validateInt32(port, 'port', 0, 65535);
  if (isIPv4(host)) {
    const buf = Buffer.alloc(L.sockaddrIn!);
    buf.writeUInt16LE(AF_INET, L.sockaddr_family!); // sa_family_t: host order (x86-64, arm64: LE)
    buf.writeUInt16BE(port, L.sin_port!);
    const b = host.split('.');
    for (let i = 0; i < 4; i++) buf[L.sin_addr! + i] = Number(b[i]);
    return { buf, len: L.sockaddrIn!, family: AF_INET, text: `${host}:${port}` };
  }
  let s = host;
  if (s.startsWith('[') && s.endsWith(']')) s = s.slice(1, -1);
  let scope = 0;
  const pct = s.indexOf('%');
  if (pct >= 0) {
    const z = s.slice(pct + 1);
    if (!/^\d+$/.test(z) || Number(z) > 0xffffffff) throw addressError(host, 'only a numeric IPv6 scope id (interface index) is accepted');
    scope = Number(z);
    s = s.slice(0, pct);
  }
  if (isIPv6(s)) {
    const buf = Buffer.alloc(L.sockaddrIn6!);
    buf.writeUInt16LE(AF_INET6, L.sockaddr_family!);
    buf.writeUInt16BE(port, L.sin6_port!);
    ipv6Bytes(s, buf, L.sin6_addr!);
    buf.writeUInt32LE(scope, L.sin6_scope_id!);
    return { buf, len: L.sockaddrIn6!, family: AF_INET6, text: `[${host}]:${port}` };
  }
  throw addressError(
    host,
    'expected an IPv4 or IPv6 literal, or a unix socket path starting with "/" or "." (host names are not resolved)',
  );
}

function encodeUnix(path: Uint8Array, port: unknown, original: string | Uint8Array): SockAddr {
  if (port !== undefined) throw addressError(original, 'a unix socket path takes no port (omit it)');
  const abstract = path.length > 0 && path[0] === 0;
  if (!abstract && path.includes(0)) throw argTypeError('host', 'a path without null bytes', original);
  if (path.length === 0) throw addressError(original, 'empty unix socket path');
  // A pathname needs its terminating NUL inside sun_path; an abstract name is length-delimited.
  const max = abstract ? SUN_PATH_MAX : SUN_PATH_MAX - 1;
  if (path.length > max) throw rangeError('host', `a unix socket path of at most ${max} bytes`, `${path.length} bytes`);
  const buf = Buffer.alloc(L.sockaddrUn!);
  buf.writeUInt16LE(AF_UNIX, L.sockaddr_family!);
  buf.set(path, L.sun_path!);
  const len = L.sun_path! + path.length + (abstract ? 0 : 1);
  const text = typeof original === 'string' ? original : Buffer.from(path).toString('utf8');
  return { buf, len, family: AF_UNIX, text };
}

/** Decode the sockaddr at buf[0, len): host and port. */
export function decodeAddress(buf: Buffer, len: number): { host: string; port: number } {
  if (len < 2) return { host: '', port: 0 };
  const family = buf.readUInt16LE(L.sockaddr_family!);
  if (family === AF_INET) {
    const a = L.sin_addr!;
    return { host: `${buf[a]}.${buf[a + 1]}.${buf[a + 2]}.${buf[a + 3]}`, port: buf.readUInt16BE(L.sin_port!) };
  }
  if (family === AF_INET6) {
    const scope = buf.readUInt32LE(L.sin6_scope_id!);
    const host = ipv6Text(buf, L.sin6_addr!) + (scope !== 0 ? `%${scope}` : '');
    return { host, port: buf.readUInt16BE(L.sin6_port!) };
  }
  if (family === AF_UNIX) {
    let end = Math.min(len, L.sockaddrUn!);
    const start = L.sun_path!;
    if (end > start && buf[start] !== 0) {
      const nul = buf.indexOf(0, start);
      if (nul >= 0 && nul < end) end = nul;
    }
    return { host: buf.toString('utf8', start, Math.max(start, end)), port: 0 };
  }
  return { host: '', port: 0 };
}

// ---- Helpers -------------------------------------------------------------------


/** Write a pointer (a safe integer) at byte offset off of buf. */
function putU64(buf: Buffer, off: number, v: number): void {
  buf.writeUInt32LE(v % 4294967296, off);
  buf.writeUInt32LE(Math.floor(v / 4294967296), off + 4);
}


/** Name the address on a UMError (like node:net's `address` and `port`). */
function nameAddress(e: unknown, addr: SockAddr, host: unknown, port: unknown): unknown {
  if (e instanceof UMError) {
    const x = e as UMError & { address?: string; port?: number };
    x.address = typeof host === 'string' ? host : addr.text;
    if (typeof port === 'number') x.port = port;
    x.message = `${x.message} ${addr.text}`;
  }
  return e;
}

function withAddress<T>(p: Promise<T>, addr: SockAddr, host: unknown, port: unknown): Promise<T> {
  return p.catch((e: unknown) => {
    throw nameAddress(e, addr, host, port);
  });
}

/** A syscall fallback's result: -errno becomes a UMError. */
function check(ret: number, syscall: string): void {
  if (ret < 0) throw new UMError(ret, syscall);
}

function hasOp(core: Core, opcode: number): boolean {
  return core.probe[opcode] === 1;
}

// ---- Ops ---------------------------------------------------------------------------

/**
 * socket(2): IORING_OP_SOCKET, fd = domain, off = type, len = protocol.
 * The kernel takes SOCK_NONBLOCK / SOCK_CLOEXEC only inside `type` (its
 * rw_flags must be 0), so `flags` is OR'ed into type, and SOCK_CLOEXEC is
 * always added.
 */
export async function socket(core: Core, domain: number, type: number, protocol: number, flags: number): Promise<number> {
  validateInt32(domain, 'domain', 0);
  validateInt32(type, 'type', 0);
  validateInt32(protocol, 'protocol', 0);
  validateInt32(flags, 'flags', 0);
  const op = begin(core, OP_KINDS.socket);
  const t = core.tmpl;
  t[0] = OPCODES.SOCKET;
  t[1] = domain;
  setU64(t, 2, (type | flags | SOCK_CLOEXEC) >>> 0);
  t[6] = protocol;
  return core.promise(op);
}

/**
 * bind(2): IORING_OP_BIND (Linux 6.11: fd, addr = sockaddr, addr2 =
 * addrlen); before 6.11, the plain bind(2) syscall (it never blocks).
 */
export async function bind(core: Core, fd: number, host: unknown, port: unknown): Promise<void> {
  validateFd(fd);
  const addr = encodeAddress(host, port);
  return bindAddr(core, fd, addr, host, port);
}

export async function bindAddr(core: Core, fd: number, addr: SockAddr, host: unknown, port: unknown): Promise<void> {
  if (!hasOp(core, OPCODES.BIND)) {
    core.enterScope();
    const ret = native.bindSync(fd, addr.buf, addr.len);
    if (ret < 0) throw nameAddress(new UMError(ret, 'bind'), addr, host, port);
    return;
  }
  const op = begin(core, OP_KINDS.bind);
  const t = core.tmpl;
  t[0] = OPCODES.BIND;
  t[1] = fd;
  setU64(t, 2, addr.len);
  op.pin0 = addr.buf;
  op.map = mapVoid;
  return withAddress(core.promise(op, addr.buf), addr, host, port);
}

/** listen(2): IORING_OP_LISTEN (Linux 6.11: fd, len = backlog); before 6.11, the plain syscall. */
export async function listen(core: Core, fd: number, backlog: number): Promise<void> {
  validateFd(fd);
  validateInt32(backlog, 'backlog', 0);
  if (!hasOp(core, OPCODES.LISTEN)) {
    core.enterScope();
    check(native.listenSync(fd, backlog), 'listen');
    return;
  }
  const op = begin(core, OP_KINDS.listen);
  const t = core.tmpl;
  t[0] = OPCODES.LISTEN;
  t[1] = fd;
  t[6] = backlog;
  op.map = mapVoid;
  return core.promise(op);
}

/** connect(2): IORING_OP_CONNECT, fd, addr = sockaddr, addr2 = addrlen (io_uring_prep_connect(3)). */
export async function connect(core: Core, fd: number, host: unknown, port: unknown): Promise<void> {
  validateFd(fd);
  const addr = encodeAddress(host, port);
  return connectAddr(core, fd, addr, host, port);
}

export function connectAddr(core: Core, fd: number, addr: SockAddr, host: unknown, port: unknown): Promise<void> {
  const op = begin(core, OP_KINDS.connect);
  const t = core.tmpl;
  t[0] = OPCODES.CONNECT;
  t[1] = fd;
  setU64(t, 2, addr.len);
  op.pin0 = addr.buf;
  op.map = mapVoid;
  return withAddress(core.promise(op, addr.buf), addr, host, port);
}

/**
 * accept4(2) with SOCK_CLOEXEC: IORING_OP_ACCEPT, fd, no peer address
 * (io_uring_prep_accept(3)). A connection an earlier acceptEach accepted
 * but did not hand out comes first. The kind creates an fd: if the
 * machine closes while the accept is pending and it completes anyway, the
 * new fd is closed (a cancel it beat resolves with the fd: completion wins).
 */
export async function accept(core: Core, fd: number): Promise<number> {
  validateFd(fd);
  core.enterScope(); // a cancelled scope throws before a connection is taken
  const left = takeFd(core, fd);
  if (left !== undefined) return left;
  const op = begin(core, OP_KINDS.accept);
  const t = core.tmpl;
  t[0] = OPCODES.ACCEPT;
  t[1] = fd;
  t[7] = SOCK_CLOEXEC;
  return core.promise(op);
}

/** send(2): IORING_OP_SEND, addr = data, len, msg_flags = flags | MSG_NOSIGNAL. */
export function send(core: Core, fd: number, data: unknown, len: number | undefined, flags: number): Promise<number> {
  // Not an async function: on the hot path of every server, the op's own
  // promise is returned as is (one promise and one microtask fewer).
  try {
    validateFd(fd);
    const bytes = toBytes(data);
    let n = bytes.length;
    if (len !== undefined) {
      validateInteger(len, 'len', 0, bytes.length);
      n = len;
    }
    validateInt32(flags, 'flags');
    const op = begin(core, OP_KINDS.send);
    const t = core.tmpl;
    t[0] = OPCODES.SEND;
    t[1] = fd;
    t[6] = rwLength(n);
    t[7] = flags | MSG_NOSIGNAL;
    op.pin0 = bytes;
    return core.promise(op, bytes);
  } catch (e) {
    return Promise.reject(e);
  }
}

/**
 * sendto(2): IORING_OP_SEND with a destination (Linux 6.0): addr = data,
 * addr2 = sockaddr, addr_len (u16 at byte 44) = its length.
 */
export async function sendto(core: Core, fd: number, data: unknown, host: unknown, port: unknown, flags: number): Promise<number> {
  validateFd(fd);
  const bytes = toBytes(data);
  // One datagram: it cannot be sent in part, and SQE len is a u32.
  if (bytes.length > MAX_RW_COUNT) throw rangeError('data.length', `<= ${MAX_RW_COUNT}`, bytes.length);
  const addr = encodeAddress(host, port);
  validateInt32(flags, 'flags');
  const op = begin(core, OP_KINDS.sendto);
  const t = core.tmpl;
  t[0] = OPCODES.SEND;
  t[1] = fd;
  t[6] = bytes.length;
  t[7] = flags | MSG_NOSIGNAL;
  t[11] = addr.len; // addr_len: the low half of the word (little-endian)
  op.pin0 = bytes;
  op.pin1 = addr.buf;
  return withAddress(core.promise(op, bytes, addr.buf), addr, host, port);
}

/**
 * Send all of `bufs`: IORING_OP_SENDMSG with a struct msghdr whose iovec
 * array holds at most 1024 (UIO_MAXIOV) entries, resubmitting the rest after
 * a short send, like writev. msg_flags = MSG_NOSIGNAL.
 */
export async function sendv(core: Core, fd: number, bufs: unknown): Promise<number> {
  validateFd(fd);
  const list = toBytesList(bufs);
  let total = 0;
  for (const b of list) total += b.length;
  if (total === 0) return 0;
  const iov = new Int32Array(4 * Math.min(list.length, IOV_MAX));
  const msg = Buffer.alloc(L.msghdrSize!);
  putU64(msg, L.msg_iov!, addressOf(iov));
  let sent = 0;
  while (sent < total) {
    const count = fillIovecs(iov, list, sent, IOV_MAX);
    putU64(msg, L.msg_iovlen!, count);
    // Cancelled after a short send: report it (see shortOnCancel).
    if (sent > 0 && als.getStore()?.interrupted === true) return sent;
    const scope = als.getStore();
    const op = begin(core, OP_KINDS.sendmsg);
    const t = core.tmpl;
    t[0] = OPCODES.SENDMSG;
    t[1] = fd;
    t[6] = 1;
    t[7] = MSG_NOSIGNAL;
    op.pin0 = msg;
    op.pin1 = iov;
    op.pin2 = list;
    let n: number;
    try {
      n = await core.promise(op, msg);
    } catch (e) {
      if (shortOnCancel(scope, e, sent)) return sent;
      throw e;
    }
    if (n === 0) throw new UMError(-EIO, 'sendmsg'); // no progress
    sent += n;
  }
  return sent;
}

/** The room in buf for a receive: maxlen (validated) or buf.length. */
function recvLength(buf: Uint8Array, maxlen: number | undefined): number {
  if (maxlen === undefined) return buf.length;
  validateInteger(maxlen, 'maxlen', 0);
  if (maxlen > buf.length) throw rangeError('maxlen', `<= ${buf.length} (the buffer's length)`, maxlen);
  return maxlen;
}

/** recv(2): IORING_OP_RECV, addr = buf, len = maxlen, msg_flags = flags. Resolves the bytes received, 0 at EOF. */
export function recv(core: Core, fd: number, buf: unknown, maxlen: number | undefined, flags: number): Promise<number> {
  try {
    validateFd(fd);
    validateBuffer(buf, 'buf');
    const len = recvLength(buf, maxlen);
    validateInt32(flags, 'flags');
    const op = begin(core, OP_KINDS.recv);
    const t = core.tmpl;
    t[0] = OPCODES.RECV;
    t[1] = fd;
    t[6] = rwLength(len);
    t[7] = flags;
    op.pin0 = buf;
    return core.promise(op, buf);
  } catch (e) {
    return Promise.reject(e);
  }
}

/** msghdr, then one iovec, then a sockaddr_storage: one pinned allocation per recvfrom. */
const RF_IOV = L.msghdrSize!;
const RF_NAME = RF_IOV + L.iovecSize!;
const RF_SIZE = RF_NAME + L.sockaddrStorage!;

function mapRecvfrom(res: number, op: Op): RecvfromResult {
  const m = op.pin1 as Buffer;
  const namelen = m.readUInt32LE(L.msg_namelen!); // written back by the kernel
  const { host, port } = decodeAddress(m.subarray(RF_NAME), namelen);
  return { bytes: res, host, port };
}

/**
 * recvfrom(2): IORING_OP_RECVMSG with a struct msghdr naming a
 * sockaddr_storage (msg_name) and one iovec over buf; the sender's address
 * is decoded from what the kernel wrote there.
 */
export async function recvfrom(core: Core, fd: number, buf: unknown, maxlen: number | undefined, flags: number): Promise<RecvfromResult> {
  validateFd(fd);
  validateBuffer(buf, 'buf');
  const len = recvLength(buf, maxlen);
  validateInt32(flags, 'flags');
  const m = Buffer.alloc(RF_SIZE);
  const base = addressOf(m);
  putU64(m, L.msg_name!, base + RF_NAME);
  m.writeUInt32LE(L.sockaddrStorage!, L.msg_namelen!);
  putU64(m, L.msg_iov!, base + RF_IOV);
  putU64(m, L.msg_iovlen!, 1);
  putU64(m, RF_IOV, addressOf(buf));
  putU64(m, RF_IOV + 8, len);
  const op = begin(core, OP_KINDS.recvfrom);
  const t = core.tmpl;
  t[0] = OPCODES.RECVMSG;
  t[1] = fd;
  t[6] = 1;
  t[7] = flags;
  op.pin0 = buf;
  op.pin1 = m;
  op.map = mapRecvfrom;
  return core.promise(op, m);
}

function validateHow(how: unknown): asserts how is number {
  validateInt32(how, 'how', 0, 2);
}

/** shutdown(2): IORING_OP_SHUTDOWN, fd, len = how (SHUT_RD, SHUT_WR, SHUT_RDWR). */
export async function shutdown(core: Core, fd: number, how: number): Promise<void> {
  validateFd(fd);
  validateHow(how);
  const op = begin(core, OP_KINDS.shutdown);
  const t = core.tmpl;
  t[0] = OPCODES.SHUTDOWN;
  t[1] = fd;
  t[6] = how;
  op.map = mapVoid;
  return core.promise(op);
}

/** Fire-and-forget shutdown: throws on bad arguments, ignores the result. */
export function shutdownAsync(core: Core, fd: number, how: number): void {
  validateFd(fd);
  validateHow(how);
  const op = core.acquire(OP_KINDS.shutdown, undefined);
  const t = core.tmpl;
  t[0] = OPCODES.SHUTDOWN;
  t[1] = fd;
  t[6] = how;
  op.resolve = noop;
  op.reject = noop;
  core.submit(op);
}


function mapOptval(_res: number, op: Op): number {
  return (op.pin0 as Int32Array)[0]!;
}

/**
 * A socket option through IORING_OP_URING_CMD (io_uring_prep_cmd_sock(3),
 * Linux 6.7): fd, cmd_op (word 2), level and optname (words 4, 5), optlen
 * (word 11), optval pointer (addr3, words 12-13).
 */
function sockCmd(core: Core, kind: OpKind, cmd: number, fd: number, level: number, opt: number, val: Int32Array): Promise<number> {
  const op = begin(core, kind);
  const t = core.tmpl;
  t[0] = OPCODES.URING_CMD;
  t[1] = fd;
  t[2] = cmd;
  t[4] = level;
  t[5] = opt;
  t[11] = 4;
  op.pin0 = val;
  op.map = mapOptval;
  return core.promise(op, null, null, val);
}

function uringCmdSock(core: Core): boolean {
  return KERNEL_VERSION >= URING_CMD_SOCK_FLOOR && hasOp(core, OPCODES.URING_CMD);
}

/**
 * getsockopt(2) of an int-valued option. Through IORING_OP_URING_CMD
 * (SOCKET_URING_OP_GETSOCKOPT) at level SOL_SOCKET; the kernel (6.7 to at
 * least 6.18) refuses every other level with EOPNOTSUPP, and sockets whose
 * protocol has no ioctl (AF_UNIX) refuse commands altogether: those, and
 * kernels before 6.7, use the plain syscall, which never blocks.
 */
export async function getsockopt(core: Core, fd: number, level: number, opt: number): Promise<number> {
  validateFd(fd);
  validateInt32(level, 'level');
  validateInt32(opt, 'opt');
  const val = new Int32Array(1);
  if (level === SOL_SOCKET && uringCmdSock(core)) {
    try {
      return await sockCmd(core, OP_KINDS.getsockopt, SOCKET_URING_OP_GETSOCKOPT, fd, level, opt, val);
    } catch (e) {
      if (!(e instanceof UMError) || e.errno !== EOPNOTSUPP) throw e;
    }
  }
  core.enterScope();
  check(native.getsockoptSync(fd, level, opt, val), 'getsockopt');
  return val[0]!;
}

/**
 * setsockopt(2) of an int-valued option: IORING_OP_URING_CMD
 * (SOCKET_URING_OP_SETSOCKOPT, any level); on EOPNOTSUPP (AF_UNIX, not a
 * socket) and before 6.7, the plain syscall.
 */
export async function setsockopt(core: Core, fd: number, level: number, opt: number, value: number | boolean): Promise<void> {
  validateFd(fd);
  validateInt32(level, 'level');
  validateInt32(opt, 'opt');
  if (typeof value === 'boolean') value = value ? 1 : 0;
  validateInt32(value, 'value');
  const val = new Int32Array(1);
  val[0] = value;
  if (uringCmdSock(core)) {
    try {
      await sockCmd(core, OP_KINDS.setsockopt, SOCKET_URING_OP_SETSOCKOPT, fd, level, opt, val);
      return;
    } catch (e) {
      if (!(e instanceof UMError) || e.errno !== EOPNOTSUPP) throw e;
    }
  }
  core.enterScope();
  check(native.setsockoptSync(fd, level, opt, value), 'setsockopt');
}

function ipAddress(host: unknown, port: unknown): SockAddr {
  const addr = encodeAddress(host, port);
  if (addr.family === AF_UNIX) throw addressError(host, 'a TCP socket needs an IPv4 or IPv6 literal');
  return addr;
}

/**
 * A listening TCP socket: socket + SO_REUSEADDR + bind + listen. The fd is
 * closed if any step fails (or the fiber is cancelled).
 */
export async function tcpListen(core: Core, host: unknown, port: unknown, backlog: number): Promise<number> {
  const addr = ipAddress(host, port);
  validateInt32(backlog, 'backlog', 0);
  const fd = await socket(core, addr.family, SOCK_STREAM, 0, 0);
  try {
    await setsockopt(core, fd, SOL_SOCKET, SO_REUSEADDR, 1);
    await bindAddr(core, fd, addr, host, port);
    await listen(core, fd, backlog);
  } catch (e) {
    native.closeSync(fd);
    throw e;
  }
  return fd;
}

/** A connected TCP socket: socket + connect. The fd is closed if connect fails (or is cancelled). */
export async function tcpConnect(core: Core, host: unknown, port: unknown): Promise<number> {
  const addr = ipAddress(host, port);
  const fd = await socket(core, addr.family, SOCK_STREAM, 0, 0);
  try {
    await connectAddr(core, fd, addr, host, port);
  } catch (e) {
    native.closeSync(fd);
    throw e;
  }
  return fd;
}
