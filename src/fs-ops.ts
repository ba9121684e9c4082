/**
 * Filesystem and process ops (issue 5): mkdirat, linkat, unlinkat,
 * symlinkat, renameat, the xattr family, fadvise, madvise, splice, tee and
 * waitid. Each function validates its arguments (rejecting, never throwing),
 * checks that the kernel has the opcode (IORING_REGISTER_PROBE), fills the
 * SQE template and pins every buffer the kernel reads or writes until the
 * op's final CQE. The facade methods in machine.ts delegate here.
 *
 * SQE field use follows the liburing prep helpers (io_uring_prep_mkdirat(3),
 * io_uring_prep_splice(3), io_uring_prep_waitid(3), ...): see the comment
 * on each function.
 * Internal module (not exported by the package).
 */
import { addressOf, type Core } from './core.js';
import { begin as beginOp, mapVoid, requireOp, rwLength, setU64 } from './prep.js';
import { UMError } from './errors.js';
import { native } from './native.js';
import { exitedStatus, guardWaitid } from './waitid-guard.js';
import { OP_KINDS, OPCODES, type OpKind } from './op-kinds.js';
import type { Op } from './op.js';
import {
  argTypeError,
  encodePath,
  rangeError,
  toBytes,
  validateBuffer,
  validateFd,
  validateInt32,
  validateInteger,
} from './validate.js';

const L = native.layout;
const C = native.constants;
const ERANGE = 34;
const WEXITED = C.WEXITED ?? 4;
const U32_MAX = 0xffffffff;

/** What `m.waitid()` resolves. */
export interface WaitidResult {
  /** The child's pid (0 with WNOHANG when no child changed state). */
  pid: number;
  /** The exit code (si_code CLD_EXITED), or the signal number that killed/stopped/continued it. */
  status: number;
  /** si_code: CLD_EXITED, CLD_KILLED, CLD_DUMPED, CLD_STOPPED, CLD_TRAPPED or CLD_CONTINUED. */
  code: number;
}

/**
 * madvise advices that only hint or tune (the memory's contents stay as they
 * are), so they are safe on memory V8 owns. Anything else is rejected:
 * MADV_DONTNEED, MADV_FREE, MADV_REMOVE (and DONTNEED_LOCKED, WIPEONFORK,
 * HWPOISON, SOFT_OFFLINE, ...) zero or discard pages under live JavaScript
 * objects.
 */
export const SAFE_MADVICE: ReadonlySet<number> = new Set(
  [
    'MADV_NORMAL',
    'MADV_RANDOM',
    'MADV_SEQUENTIAL',
    'MADV_WILLNEED',
    'MADV_HUGEPAGE',
    'MADV_NOHUGEPAGE',
    'MADV_DONTDUMP',
    'MADV_DODUMP',
    'MADV_MERGEABLE',
    'MADV_UNMERGEABLE',
    'MADV_COLD',
    'MADV_PAGEOUT',
    'MADV_POPULATE_READ',
    'MADV_POPULATE_WRITE',
  ]
    .map((n) => C[n])
    .filter((v): v is number => v !== undefined),
);


function pathString(p: string | Uint8Array): string {
  return typeof p === 'string' ? p : Buffer.from(p).toString();
}

/** Check the kernel has kind's op, then acquire it in the current scope. */
function begin(core: Core, kind: OpKind): Op {
  requireOp(core, kind);
  return beginOp(core, kind);
}

/** Promise of op, with `path` (and `dest`) named on a UMError. */
function withPaths<T>(p: Promise<T>, path?: string | Uint8Array, dest?: string | Uint8Array): Promise<T> {
  if (path === undefined) return p;
  return p.catch((e: unknown) => {
    if (e instanceof UMError) {
      e.path = pathString(path);
      e.message = `${e.message} '${e.path}'`;
      if (dest !== undefined) {
        const d = pathString(dest);
        (e as UMError & { dest?: string }).dest = d;
        e.message = `${e.message} -> '${d}'`;
      }
    }
    throw e;
  });
}

// ---- Directory entries -------------------------------------------------------

/** mkdirat(2): fd = dirfd, addr = path, len = mode. */
export async function mkdirat(core: Core, dirfd: number, path: string | Uint8Array, mode: number): Promise<void> {
  validateInt32(dirfd, 'dirfd');
  const p = encodePath(path);
  validateInt32(mode, 'mode', 0, 0o7777);
  const op = begin(core, OP_KINDS.mkdirat);
  const t = core.tmpl;
  t[0] = OPCODES.MKDIRAT;
  t[1] = dirfd;
  t[6] = mode;
  op.pin0 = p;
  op.map = mapVoid;
  return withPaths(core.promise(op, p), path);
}

/** unlinkat(2): fd = dirfd, addr = path, unlink_flags = flags (AT_REMOVEDIR). */
export async function unlinkat(core: Core, dirfd: number, path: string | Uint8Array, flags: number): Promise<void> {
  validateInt32(dirfd, 'dirfd');
  const p = encodePath(path);
  validateInt32(flags, 'flags');
  const op = begin(core, OP_KINDS.unlinkat);
  const t = core.tmpl;
  t[0] = OPCODES.UNLINKAT;
  t[1] = dirfd;
  t[7] = flags;
  op.pin0 = p;
  op.map = mapVoid;
  return withPaths(core.promise(op, p), path);
}

/** renameat2(2): fd = olddirfd, addr = old, len = newdirfd, addr2 = new, rename_flags = flags. */
export function renameat(
  core: Core,
  olddirfd: number,
  oldPath: string | Uint8Array,
  newdirfd: number,
  newPath: string | Uint8Array,
  flags: number,
): Promise<void> {
  return twoPaths(core, OP_KINDS.renameat, olddirfd, oldPath, newdirfd, newPath, flags);
}

/** linkat(2): fd = olddirfd, addr = old, len = newdirfd, addr2 = new, hardlink_flags = flags. */
export function linkat(
  core: Core,
  olddirfd: number,
  oldPath: string | Uint8Array,
  newdirfd: number,
  newPath: string | Uint8Array,
  flags: number,
): Promise<void> {
  return twoPaths(core, OP_KINDS.linkat, olddirfd, oldPath, newdirfd, newPath, flags);
}

/** renameat and linkat share their SQE layout. */
async function twoPaths(
  core: Core,
  kind: OpKind,
  olddirfd: number,
  oldPath: string | Uint8Array,
  newdirfd: number,
  newPath: string | Uint8Array,
  flags: number,
): Promise<void> {
  validateInt32(olddirfd, 'olddirfd');
  const o = encodePath(oldPath, 'oldPath');
  validateInt32(newdirfd, 'newdirfd');
  const n = encodePath(newPath, 'newPath');
  validateInt32(flags, 'flags');
  const op = begin(core, kind);
  const t = core.tmpl;
  t[0] = kind.opcode;
  t[1] = olddirfd;
  t[6] = newdirfd;
  t[7] = flags;
  op.pin0 = o;
  op.pin1 = n;
  op.map = mapVoid;
  return withPaths(core.promise(op, o, n), oldPath, newPath);
}

/** symlinkat(2): fd = newdirfd, addr = target, addr2 = linkpath. */
export async function symlinkat(core: Core, target: string | Uint8Array, newdirfd: number, path: string | Uint8Array): Promise<void> {
  const tg = encodePath(target, 'target');
  validateInt32(newdirfd, 'newdirfd');
  const p = encodePath(path);
  const op = begin(core, OP_KINDS.symlinkat);
  const t = core.tmpl;
  t[0] = OPCODES.SYMLINKAT;
  t[1] = newdirfd;
  op.pin0 = tg;
  op.pin1 = p;
  op.map = mapVoid;
  return withPaths(core.promise(op, tg, p), path);
}

// ---- Extended attributes -------------------------------------------------------

/**
 * One (f)getxattr op: fd (fgetxattr) or addr3 = path (getxattr), addr =
 * name, addr2 = value, len = its size. Resolves the value's size.
 */
function getxattrOp(core: Core, fd: number, path: Buffer | null, name: Buffer, value: Buffer | null): Promise<number> {
  const kind = path === null ? OP_KINDS.fgetxattr : OP_KINDS.getxattr;
  const op = begin(core, kind);
  const t = core.tmpl;
  t[0] = kind.opcode;
  t[1] = path === null ? fd : 0;
  t[6] = value === null ? 0 : value.length;
  op.pin0 = name;
  op.pin1 = value;
  op.pin2 = path;
  return core.promise(op, name, value !== null && value.length > 0 ? value : null, path);
}

/**
 * The value's size is asked first (size 0), then the value is read into a
 * buffer of that size; if it grew meanwhile (ERANGE), ask again.
 */
async function getxattrValue(core: Core, fd: number, path: Buffer | null, name: Buffer): Promise<Buffer> {
  for (let attempt = 0; ; attempt++) {
    const size = await getxattrOp(core, fd, path, name, null);
    if (size === 0) return Buffer.alloc(0);
    const value = Buffer.allocUnsafe(size);
    try {
      const n = await getxattrOp(core, fd, path, name, value);
      return n === size ? value : value.subarray(0, n);
    } catch (e) {
      if (!(e instanceof UMError) || e.errno !== ERANGE || attempt >= 16) throw e;
    }
  }
}

export async function getxattr(core: Core, path: string | Uint8Array, name: string): Promise<Buffer> {
  const p = encodePath(path);
  const nm = encodeName(name);
  requireOp(core, OP_KINDS.getxattr);
  return withPaths(getxattrValue(core, 0, p, nm), path);
}

export async function fgetxattr(core: Core, fd: number, name: string): Promise<Buffer> {
  validateFd(fd);
  const nm = encodeName(name);
  requireOp(core, OP_KINDS.fgetxattr);
  return getxattrValue(core, fd, null, nm);
}

/** (f)setxattr: fd or addr3 = path, addr = name, addr2 = value, len = size, xattr_flags = flags. */
function setxattrOp(core: Core, fd: number, path: Buffer | null, name: Buffer, value: Uint8Array, flags: number): Promise<void> {
  const kind = path === null ? OP_KINDS.fsetxattr : OP_KINDS.setxattr;
  const op = begin(core, kind);
  const t = core.tmpl;
  t[0] = kind.opcode;
  t[1] = path === null ? fd : 0;
  t[6] = value.length; // <= U32_MAX (checked by the callers)
  t[7] = flags;
  op.pin0 = name;
  op.pin1 = value;
  op.pin2 = path;
  op.map = mapVoid;
  return core.promise(op, name, value.length > 0 ? value : null, path);
}

export async function setxattr(core: Core, path: string | Uint8Array, name: string, value: Uint8Array | string, flags: number): Promise<void> {
  const p = encodePath(path);
  const nm = encodeName(name);
  const v = xattrValue(value);
  validateInt32(flags, 'flags');
  return withPaths(setxattrOp(core, 0, p, nm, v, flags), path);
}

export async function fsetxattr(core: Core, fd: number, name: string, value: Uint8Array | string, flags: number): Promise<void> {
  validateFd(fd);
  const nm = encodeName(name);
  const v = xattrValue(value);
  validateInt32(flags, 'flags');
  return setxattrOp(core, fd, null, nm, v, flags);
}

/** An xattr value: SQE len is a u32, so a longer value would be set truncated (the kernel refuses > 64 KiB, E2BIG). */
function xattrValue(value: unknown): Uint8Array {
  const v = toBytes(value, 'value');
  if (v.length > U32_MAX) throw rangeError('value.length', `<= ${U32_MAX}`, v.length);
  return v;
}

function encodeName(name: unknown): Buffer {
  if (typeof name !== 'string') throw argTypeError('name', 'of type string', name);
  if (name.length === 0) throw argTypeError('name', 'a non-empty string', name);
  return encodePath(name, 'name');
}

// ---- Advice ------------------------------------------------------------------------

/** posix_fadvise(2): fd, off = offset, len = len (u32; 0 = to the end), fadvise_advice = advice. */
export async function fadvise(core: Core, fd: number, offset: number, len: number, advice: number): Promise<void> {
  validateFd(fd);
  validateInteger(offset, 'offset', 0);
  validateInteger(len, 'len', 0, U32_MAX);
  validateInt32(advice, 'advice', 0);
  const op = begin(core, OP_KINDS.fadvise);
  const t = core.tmpl;
  t[0] = OPCODES.FADVISE;
  t[1] = fd;
  setU64(t, 2, offset);
  t[6] = len | 0;
  t[7] = advice;
  op.map = mapVoid;
  return core.promise(op);
}

/**
 * madvise(2) on the pages that lie wholly inside `buf`: the range is aligned
 * inward to page boundaries (madvise needs a page-aligned start, and advice
 * must not spill onto memory next to the buffer). If no whole page lies
 * inside, nothing is submitted and the promise resolves. Only advices that
 * leave the contents intact are accepted (SAFE_MADVICE).
 * Fields: addr = start, len = length, fadvise_advice = advice.
 */
export async function madvise(core: Core, buf: Uint8Array, advice: number): Promise<void> {
  validateBuffer(buf, 'buf');
  validateInt32(advice, 'advice', 0);
  if (!SAFE_MADVICE.has(advice)) {
    const e = new TypeError(
      `The "advice" argument ${advice} is not allowed on JavaScript memory: only advices that keep the ` +
        'contents (MADV_NORMAL, MADV_RANDOM, MADV_SEQUENTIAL, MADV_WILLNEED, MADV_COLD, MADV_PAGEOUT, ' +
        'MADV_HUGEPAGE, ...) are accepted; MADV_DONTNEED, MADV_FREE and MADV_REMOVE would zero or discard ' +
        'memory V8 owns',
    ) as TypeError & { code: string };
    e.code = 'ERR_INVALID_ARG_VALUE';
    throw e;
  }
  const page = L.pageSize ?? 4096;
  if (buf.length === 0) return;
  const addr = addressOf(buf);
  const start = Math.ceil(addr / page) * page;
  const end = Math.floor((addr + buf.length) / page) * page;
  if (end <= start) return;
  const len = end - start;
  const op = begin(core, OP_KINDS.madvise);
  const t = core.tmpl;
  t[0] = OPCODES.MADVISE;
  t[1] = -1;
  t[4] = start - addr; // byte offset into buf; the core adds buf's address
  if (len <= U32_MAX) t[6] = len | 0;
  else setU64(t, 2, len); // madvise64: a length that does not fit len goes in off
  t[7] = advice;
  op.pin0 = buf;
  op.map = mapVoid;
  return core.promise(op, buf);
}

// ---- Zero-copy ---------------------------------------------------------------------

/**
 * splice(2): fd = fdOut, off = offOut, splice_off_in (addr) = offIn,
 * splice_fd_in = fdIn, len, splice_flags. An offset of -1 means "none" (a
 * pipe, or the file's position). Resolves the bytes moved (0 at EOF).
 */
export async function splice(core: Core, fdIn: number, offIn: number, fdOut: number, offOut: number, len: number, flags: number): Promise<number> {
  validateFd(fdIn, 'fdIn');
  validateInteger(offIn, 'offIn', -1);
  validateFd(fdOut, 'fdOut');
  validateInteger(offOut, 'offOut', -1);
  validateInteger(len, 'len', 0);
  validateInt32(flags, 'flags');
  const op = begin(core, OP_KINDS.splice);
  const t = core.tmpl;
  t[0] = OPCODES.SPLICE;
  t[1] = fdOut;
  setU64(t, 2, offOut);
  setU64(t, 4, offIn);
  t[6] = rwLength(len); // resolves the bytes moved: a longer len moves at most MAX_RW_COUNT
  t[7] = flags;
  t[11] = fdIn;
  return core.promise(op);
}

/** tee(2): fd = fdOut, splice_fd_in = fdIn, len, splice_flags. */
export async function tee(core: Core, fdIn: number, fdOut: number, len: number, flags: number): Promise<number> {
  validateFd(fdIn, 'fdIn');
  validateFd(fdOut, 'fdOut');
  validateInteger(len, 'len', 0);
  validateInt32(flags, 'flags');
  const op = begin(core, OP_KINDS.tee);
  const t = core.tmpl;
  t[0] = OPCODES.TEE;
  t[1] = fdOut;
  t[6] = rwLength(len);
  t[7] = flags;
  t[11] = fdIn;
  return core.promise(op);
}

// ---- Processes ---------------------------------------------------------------------

function mapWaitid(_res: number, op: Op): WaitidResult {
  const info = op.pin0 as Buffer;
  return {
    pid: info.readInt32LE(L.siginfo_pid!),
    status: info.readInt32LE(L.siginfo_status!),
    code: info.readInt32LE(L.siginfo_code!),
  };
}

/**
 * waitid(2) (Linux >= 6.7): fd = id, len = idtype, file_index = options,
 * addr2 = the siginfo_t the kernel fills (offsets from native/js_constants.c).
 */
export async function waitid(core: Core, idtype: number, id: number, options: number): Promise<WaitidResult> {
  validateInt32(idtype, 'idtype', 0);
  validateInt32(id, 'id', 0);
  validateInt32(options, 'options');
  if (options === 0) throw rangeError('options', 'a combination of WEXITED, WSTOPPED, WCONTINUED (and WNOHANG, WNOWAIT)', options);
  const guard = guardWaitid(idtype, id, options);
  const op = begin(core, OP_KINDS.waitid);
  const info = Buffer.alloc(L.siginfoSize!);
  const t = core.tmpl;
  t[0] = OPCODES.WAITID;
  t[1] = id;
  t[6] = idtype;
  t[11] = guard.options;
  op.pin0 = info;
  op.map = mapWaitid;
  const child = guard.child;
  if (child === null || (options & WEXITED) === 0) return core.promise(op, null, info);
  try {
    return await core.promise(op, null, info);
  } catch (e) {
    // Node reaped its child between the exit and the waitid's check (see
    // src/waitid-guard.ts): the status is Node's.
    const r = e instanceof UMError && e.code === 'ECHILD' ? exitedStatus(child) : null;
    if (r === null) throw e;
    return r;
  }
}
