/**
 * Direct descriptors (issue 15): files that live only in the ring's file
 * table, never in the process's fd table (io_uring_register(2)
 * IORING_REGISTER_FILES2 with a sparse table, IORING_FILE_INDEX_ALLOC,
 * IOSQE_FIXED_FILE; io_uring_prep_openat_direct(3),
 * io_uring_prep_accept_direct(3), io_uring_prep_socket_direct_alloc(3),
 * io_uring_prep_close_direct(3), io_uring_prep_fixed_fd_install(3)).
 *
 * A direct descriptor is a {@link DirectFd}, not a number, so it cannot reach
 * a syscall-based helper by mistake (every fd argument is validated as a
 * number: a DirectFd is a TypeError there). The ops that take one (read,
 * write, send, recv) start their usual op with the slot in sqe->fd, then set
 * IOSQE_FIXED_FILE on the SQE just pushed (it is not submitted before the
 * next flush, see src/link.ts).
 *
 * The table is created on first use (`DEFAULT_SLOTS` slots, or
 * `m.registerFiles(n)` before), and goes away with the ring.
 * Internal module (not exported by the package).
 */
import type { Core } from './core.js';
import { argTypeError, codedError, encodePath, validateInt32, validateInteger } from './validate.js';
import { MachineClosedError, UMError } from './errors.js';
import { native } from './native.js';
import { OP_KINDS, OPCODES } from './op-kinds.js';
import { begin, requireOp, setU64 } from './prep.js';

const IOSQE_FIXED_FILE = 1 << 0;
/** IORING_FILE_INDEX_ALLOC (~0U) in the u32 at SQE byte 44. */
const FILE_INDEX_ALLOC = -1;
const AT_FDCWD = -100;
const O_CLOEXEC = native.constants.O_CLOEXEC ?? 0o2000000;
const SOCK_CLOEXEC = native.constants.SOCK_CLOEXEC ?? 0o2000000;
const EBADF = 9;
const DEFAULT_SLOTS = 1024;
/** IORING_MAX_FIXED_FILES. */
const MAX_SLOTS = 1 << 20;

/** A descriptor in one machine's ring file table (a direct descriptor). */
export class DirectFd {
  /** The slot in the ring's file table. */
  readonly index: number;
  /** @internal */
  readonly core: Core;
  /** True after closeDirect() (or install with close). */
  closed = false;

  /** @internal */
  constructor(core: Core, index: number) {
    this.core = core;
    this.index = index;
  }

  toString(): string {
    return `DirectFd(${this.index})`;
  }
}

const tables = new WeakMap<Core, number>();

/** Create the sparse table (IORING_REGISTER_FILES2 + RSRC_REGISTER_SPARSE, 5.19) if the ring has none. */
export function registerFiles(core: Core, n: number): void {
  validateInteger(n, 'count', 1, MAX_SLOTS);
  if (core.closed) throw new MachineClosedError();
  if (tables.has(core)) {
    throw new UMError(
      -16,
      'io_uring_register',
      'a file table is already registered (the direct ops and readFiles make one of 1024 slots on first use: call registerFiles() before them)',
    );
  }
  const ret = core.ring.registerFilesSparse(n);
  if (ret < 0) throw new UMError(ret, 'io_uring_register');
  tables.set(core, n);
}

/** Create the default table if the ring has none (readFiles uses direct descriptors too). */
export function ensureTable(core: Core): void {
  if (!tables.has(core)) registerFiles(core, DEFAULT_SLOTS);
}

/** The slot of d, checked to belong to this machine and to be open. */
function slotOf(core: Core, d: unknown, name = 'fd'): DirectFd {
  if (!(d instanceof DirectFd)) throw argTypeError(name, 'a DirectFd', d);
  if (d.core !== core) throw codedError(TypeError, 'ERR_INVALID_ARG_VALUE', `${name}: a DirectFd of another machine`);
  if (d.closed) throw new UMError(-EBADF, 'direct', `DirectFd(${d.index}) is closed`);
  return d;
}

function toDirect(core: Core): (res: number) => DirectFd {
  return (res: number) => new DirectFd(core, res);
}

/**
 * Run `start(slot)` (an op call that pushes its SQE synchronously) and set
 * IOSQE_FIXED_FILE on that SQE: the op's own one, before a linked timeout
 * if start pushed one behind it.
 */
export function on<T>(core: Core, d: DirectFd, start: (slot: number) => Promise<T>): Promise<T> {
  try {
    slotOf(core, d);
    if (core.sqSpace() < 2) core.ring.submit(core.tail);
  } catch (e) {
    return Promise.reject(e);
  }
  const tail = core.tail;
  const p = start(d.index);
  const pushed = (core.tail - tail) >>> 0;
  if (pushed === 1 && core.lastUnsubmitted() >= 0) core.orSqeFlags(0, IOSQE_FIXED_FILE);
  else if (pushed === 2 && core.lastUnsubmitted() < 0) core.orSqeFlags(1, IOSQE_FIXED_FILE); // op + link timeout
  return p;
}

/** openat(2) into a free slot: OPENAT with file_index = FILE_INDEX_ALLOC (Linux 5.19). */
export async function openDirect(core: Core, path: unknown, flags: number, mode: number): Promise<DirectFd> {
  const bytes = encodePath(path);
  validateInt32(flags, 'flags');
  validateInt32(mode, 'mode', 0, 0o7777);
  requireOp(core, OP_KINDS.openDirect, 'm.openDirect() (IORING_FILE_INDEX_ALLOC) needs');
  ensureTable(core);
  const op = begin(core, OP_KINDS.openDirect);
  const t = core.tmpl;
  t[0] = OPCODES.OPENAT;
  t[1] = AT_FDCWD;
  t[6] = mode;
  // O_CLOEXEC is EINVAL with a file slot (a slot has no close-on-exec):
  // installFd() chooses it for the regular fd it makes.
  t[7] = flags & ~O_CLOEXEC;
  t[11] = FILE_INDEX_ALLOC;
  op.pin0 = bytes;
  op.map = toDirect(core);
  return core.promise(op, bytes);
}

/** accept4(2) into a free slot: ACCEPT with file_index = FILE_INDEX_ALLOC (5.19); the listener may be a DirectFd. */
export function acceptDirect(core: Core, fd: unknown): Promise<DirectFd> {
  try {
    requireOp(core, OP_KINDS.acceptDirect, 'm.acceptDirect() (IORING_FILE_INDEX_ALLOC) needs');
    ensureTable(core);
  } catch (e) {
    return Promise.reject(e);
  }
  const start = (lfd: number): Promise<DirectFd> => {
    try {
      validateInt32(lfd, 'fd', 0);
      const op = begin(core, OP_KINDS.acceptDirect);
      const t = core.tmpl;
      t[0] = OPCODES.ACCEPT;
      t[1] = lfd;
      t[11] = FILE_INDEX_ALLOC; // no SOCK_CLOEXEC: EINVAL with a slot
      op.map = toDirect(core);
      return core.promise(op);
    } catch (e) {
      return Promise.reject(e);
    }
  };
  if (fd instanceof DirectFd) return on(core, fd, start);
  return start(fd as number);
}

/** socket(2) into a free slot: SOCKET with file_index = FILE_INDEX_ALLOC (5.19). */
export async function socketDirect(core: Core, domain: number, type: number, protocol: number): Promise<DirectFd> {
  validateInt32(domain, 'domain', 0);
  validateInt32(type, 'type', 0);
  validateInt32(protocol, 'protocol', 0);
  requireOp(core, OP_KINDS.socketDirect, 'm.socketDirect() (IORING_FILE_INDEX_ALLOC) needs');
  ensureTable(core);
  const op = begin(core, OP_KINDS.socketDirect);
  const t = core.tmpl;
  t[0] = OPCODES.SOCKET;
  t[1] = domain;
  setU64(t, 2, (type & ~SOCK_CLOEXEC) >>> 0); // SOCK_CLOEXEC: EINVAL with a slot
  t[6] = protocol;
  t[11] = FILE_INDEX_ALLOC;
  op.map = toDirect(core);
  return core.promise(op);
}

/** Free the slot: CLOSE with fd 0 and file_index = slot + 1 (5.15). */
export async function closeDirect(core: Core, d: unknown): Promise<void> {
  const dfd = slotOf(core, d);
  const op = core.acquire(OP_KINDS.closeDirect, undefined); // runs even in a cancelled scope, like close(fd)
  if (core.closed) throw new MachineClosedError();
  const t = core.tmpl;
  t[0] = OPCODES.CLOSE;
  t[1] = 0;
  t[11] = dfd.index + 1;
  dfd.closed = true;
  await core.promise(op);
}

/**
 * A regular fd for the file in the slot (IORING_OP_FIXED_FD_INSTALL, 6.8):
 * fd = slot with IOSQE_FIXED_FILE; O_CLOEXEC unless cloexec is false. The
 * slot stays open.
 */
export function installFd(core: Core, d: unknown, cloexec: boolean): Promise<number> {
  try {
    const dfd = slotOf(core, d);
    if (typeof cloexec !== 'boolean') throw argTypeError('cloexec', 'of type boolean', cloexec);
    requireOp(core, OP_KINDS.fixedFdInstall, 'm.installFd() (IORING_OP_FIXED_FD_INSTALL) needs');
    const op = begin(core, OP_KINDS.fixedFdInstall);
    const t = core.tmpl;
    t[0] = OPCODES.FIXED_FD_INSTALL | (IOSQE_FIXED_FILE << 8);
    t[1] = dfd.index;
    t[7] = cloexec ? 0 : 1; // IORING_FIXED_FD_NO_CLOEXEC
    return core.promise(op);
  } catch (e) {
    return Promise.reject(e);
  }
}

