/**
 * m.readFiles(): read many whole files through the ring, many in flight at
 * once but bounded.
 *
 * Per file (docs/ARCHITECTURE.md, "readFiles"):
 * 1. IORING_OP_OPENAT.
 * 2. One chain of three SQEs, joined with IOSQE_IO_HARDLINK so that each
 *    runs whatever the previous one returned: READ of up to 32 KiB into the
 *    worker's scratch buffer, READ of one byte (must return 0: EOF is seen,
 *    no size is trusted), CLOSE. The close is in the chain, so no fd
 *    outlives its file whatever fails, and it is not linked to the fiber's
 *    scope, so cancelling the fiber cannot skip it. A file that fit is
 *    copied out of scratch: done in two round trips, without STATX (which
 *    always runs on an io-wq thread).
 * 3. A larger file: OPENAT and STATX (by path) side by side, then the same
 *    chain with a READ of the statx size into a buffer of that size.
 * A file whose read is short or whose EOF probe returns data (it changed
 * size while read), or that is not a regular file with a size (/proc
 * files, pipes), is read by a plain loop instead: read until a read returns
 * 0, growing the buffer, then close.
 *
 * Bounds: at most `concurrency` files (default 256) are open at once, and at
 * most 3 SQEs per file are outstanding, so never more than the ring holds;
 * a chain is only queued when the SQ has room for all of it (a chain split
 * across two submits would not be a chain).
 *
 * Failure: the first error is remembered, no new file is started, every
 * file in flight runs to its end (so every op's final CQE has arrived and
 * every fd is closed), then the promise rejects; a UMError carries the file
 * as `err.path`.
 * Internal module (not exported by the package).
 */
import type { Core } from './core.js';
import type { Scope } from './op.js';
import { MachineClosedError, UMError } from './errors.js';
import { native } from './native.js';
import { OP_KINDS, OPCODES } from './op-kinds.js';
import { argTypeError, encodePath, validateFunction, validateInt32 } from './validate.js';
import { ensureTable } from './direct.js';
import { KERNEL_VERSION } from './prep.js';

/** Options of {@link UringMachine.readFiles}. */
export interface ReadFilesOptions {
  /** Files open at once (default 256; also bounded by the ring size / 3). */
  concurrency?: number;
  /**
   * Open the files as direct descriptors, in the ring's file table
   * (IORING_FILE_INDEX_ALLOC, Linux >= 5.19; the table is created with 1024
   * slots if the machine has none) instead of the process's fd table
   * (default false). A full table falls back to fds. On older kernels: fds.
   */
  direct?: boolean;
}

const AT_FDCWD = -100;
const O_CLOEXEC = native.constants.O_CLOEXEC ?? 0o2000000;
const IOSQE_IO_HARDLINK = 1 << 3;
const STATX_TYPE = 0x1;
const STATX_SIZE = 0x200;
const S_IFMT = 0o170000;
const S_IFREG = 0o100000;
/** Largest read the kernel does in one go (MAX_RW_COUNT). */
const MAX_READ = 0x7ffff000;
const L = native.layout;
const NONE: unique symbol = Symbol('none');
const IOSQE_FIXED_FILE = 1 << 0;
/** IORING_FILE_INDEX_ALLOC (~0U) in the u32 at SQE byte 44. */
const FILE_INDEX_ALLOC = -1;
const ENFILE = 23;

/*
 * A file handle `h` below is an fd (h >= 0) or a direct descriptor, slot
 * ~h (h < 0): sqe->fd is the slot with IOSQE_FIXED_FILE, and CLOSE takes
 * file_index = slot + 1. Direct descriptors skip the fd-table install and
 * close and the per-op fd lookup and file reference (fdget/fdput, atomic in
 * a threaded process such as Node).
 */
function sqeFd(h: number): number {
  return h >= 0 ? h : ~h;
}
function fixedFlag(h: number): number {
  return h >= 0 ? 0 : IOSQE_FIXED_FILE;
}
/** CLOSE of h into the template. */
function fillClose(t: Int32Array, h: number): void {
  t[0] = OPCODES.CLOSE;
  if (h >= 0) t[1] = h;
  else {
    t[1] = 0;
    t[11] = ~h + 1;
  }
}
function toHandle(slot: number): number {
  return ~slot;
}
/** Per-worker buffer of the speculative first read: files smaller than this need no statx. */
const SCRATCH = 32 * 1024;
/** Size of the slabs small files' contents are carved from. */
const SLAB = 1024 * 1024;

function ignore(): void {}

/**
 * A worker's own buffers, reused from file to file (each op on them has
 * completed before reuse), and the state of its current chain: the
 * callbacks the chain's ops settle through are made once per worker.
 */
class Worker {
  readonly scratch: Buffer;
  readonly stx = Buffer.alloc(L.statxSize!);
  a = 0;
  b = 0;
  ea: unknown = NONE;
  eb: unknown = NONE;
  ec: unknown = NONE;
  left = 0;
  #resolve: () => void = ignore;
  constructor(scratch: Buffer) {
    this.scratch = scratch;
  }
  readonly arm = (resolve: () => void): void => {
    this.#resolve = resolve;
  };
  #done(): void {
    if (--this.left === 0) this.#resolve();
  }
  readonly okA = (v: unknown): void => {
    this.a = v as number;
    this.#done();
  };
  readonly failA = (e: unknown): void => {
    this.ea = e;
    this.#done();
  };
  readonly okB = (v: unknown): void => {
    this.b = v as number;
    this.#done();
  };
  readonly failB = (e: unknown): void => {
    this.eb = e;
    this.#done();
  };
  readonly okC = (): void => {
    this.#done();
  };
  readonly failC = (e: unknown): void => {
    this.ec = e;
    this.#done();
  };
}

type Settled<T> = { ok: true; value: T } | { ok: false; error: unknown };

function settle<T>(p: Promise<T>): Promise<Settled<T>> {
  return p.then(
    (value) => ({ ok: true, value }),
    (error: unknown) => ({ ok: false, error }),
  );
}

function named(e: unknown, path: string): unknown {
  if (e instanceof UMError && e.path === undefined) {
    e.path = path;
    e.message = `${e.message} '${path}'`;
  }
  return e;
}

class Reader {
  readonly #core: Core;
  readonly #probe = Buffer.alloc(1);
  #slab: ArrayBuffer | null = null;
  #slabUsed = 0;
  /** Open into the ring's file table (until it is found full). */
  #direct: boolean;
  constructor(core: Core, direct: boolean) {
    this.#core = core;
    this.#direct = direct;
  }

  /**
   * A buffer for a small file's contents, carved out of a shared slab (as
   * Buffer.allocUnsafe does from its 8 KiB pool): one ArrayBuffer per
   * file cost more than the reads themselves (allocation and GC, measured).
   */
  #alloc(n: number): Buffer {
    if (n > SLAB / 8) return Buffer.allocUnsafe(n);
    if (this.#slab === null || this.#slabUsed + n > SLAB) {
      this.#slab = new ArrayBuffer(SLAB);
      this.#slabUsed = 0;
    }
    const b = Buffer.from(this.#slab, this.#slabUsed, n);
    this.#slabUsed = (this.#slabUsed + n + 7) & ~7;
    return b;
  }

  /** OPENAT of path: resolves a handle (an fd, or ~slot of a direct descriptor). */
  #open(path: Buffer, scope: Scope | undefined): Promise<number> {
    const core = this.#core;
    const t = core.tmpl;
    let op;
    if (this.#direct) {
      op = core.acquire(OP_KINDS.openDirect, scope);
      t[7] = 0; // O_RDONLY; O_CLOEXEC is EINVAL with a slot
      t[11] = FILE_INDEX_ALLOC;
      op.map = toHandle;
    } else {
      op = core.acquire(OP_KINDS.openat, scope);
      t[7] = O_CLOEXEC; // O_RDONLY
    }
    t[0] = OPCODES.OPENAT;
    t[1] = AT_FDCWD;
    op.pin0 = path;
    return core.promise(op, path);
  }

  /**
   * A direct open (`wasDirect`: the attempt was one) that found the table
   * full (ENFILE): from now on regular fds. True: open again. The other
   * direct opens in flight meanwhile fail alike and are retried too.
   */
  #tableFull(e: unknown, wasDirect: boolean): boolean {
    if (!wasDirect || !(e instanceof UMError) || e.errno !== ENFILE) return false;
    this.#direct = false;
    return true;
  }

  /** #open, falling back to an fd when the ring's file table is full. */
  async #openAny(path: Buffer, scope: Scope | undefined): Promise<number> {
    const wasDirect = this.#direct;
    try {
      return await this.#open(path, scope);
    } catch (e) {
      // Again through enterScope: a cancel that came meanwhile rejects here.
      if (this.#tableFull(e, wasDirect)) return this.#open(path, this.#core.enterScope());
      throw e;
    }
  }

  #statx(path: Buffer, out: Buffer, scope: Scope | undefined): Promise<number> {
    const core = this.#core;
    const op = core.acquire(OP_KINDS.statx, scope);
    const t = core.tmpl;
    t[0] = OPCODES.STATX;
    t[1] = AT_FDCWD;
    t[6] = STATX_TYPE | STATX_SIZE;
    op.pin0 = path;
    op.pin1 = out;
    return core.promise(op, path, out);
  }

  /** READ of len bytes at buf[off] from file offset pos (-1: the file position). */
  #read(fd: number, buf: Buffer, off: number, len: number, pos: number, sqeFlags: number, scope: Scope | undefined): Promise<number> {
    const core = this.#core;
    const op = core.acquire(OP_KINDS.read, scope);
    const t = core.tmpl;
    t[0] = OPCODES.READ | ((sqeFlags | fixedFlag(fd)) << 8);
    t[1] = sqeFd(fd);
    if (pos < 0) {
      t[2] = -1;
      t[3] = -1;
    } else {
      t[2] = pos % 4294967296 | 0;
      t[3] = Math.floor(pos / 4294967296) | 0;
    }
    // addr: a byte offset into buf, which may pass 4 GiB for a huge file
    t[4] = off % 4294967296 | 0;
    t[5] = Math.floor(off / 4294967296) | 0;
    t[6] = len;
    op.pin0 = buf;
    return core.promise(op, buf);
  }

  /** CLOSE, outside any scope: a cancelled fiber must not skip it. */
  #close(fd: number): Promise<number> {
    const core = this.#core;
    const op = core.acquire(fd >= 0 ? OP_KINDS.close : OP_KINDS.closeDirect, undefined);
    fillClose(core.tmpl, fd);
    return core.promise(op);
  }

  /** Make sure the SQ has `n` free slots, so the next n SQEs go in one submit. */
  #room(n: number): void {
    const core = this.#core;
    for (let i = 0; i < 100; i++) {
      if (core.sqSpace() >= n) return;
      if (i === 0) core.ring.submit(core.tail);
      else core.reap();
    }
  }

  /**
   * One hardlinked chain on fd: READ of len bytes into buf, READ of 1 byte
   * (0 means EOF was reached), CLOSE; both reads at the file position. The
   * fd is closed whatever happens. One promise for the three ops: their
   * CQEs settle into the worker's fields (w.a, w.b, w.ea, w.eb, w.ec), the
   * last one resolves it. Rejects with the close error, else the first
   * read's, else the probe's, named after the file.
   */
  async #chain(fd: number, buf: Buffer, len: number, key: string, w: Worker): Promise<void> {
    let scope: Scope | undefined;
    try {
      // Checked once for the whole chain: a pending cancel must throw before
      // its first SQE is queued, never between two (an fd would leak, or the
      // link flag would join a stranger's SQE to the chain).
      scope = this.#core.enterScope();
    } catch (e) {
      await this.#close(fd).catch(ignore);
      throw e;
    }
    const core = this.#core;
    if (core.closed) {
      // The machine was closed after this fd was opened: nothing can be
      // queued (a direct descriptor went away with the ring's table).
      if (fd >= 0) native.closeSync(fd);
      throw new MachineClosedError();
    }
    this.#room(3);
    const t = core.tmpl;
    w.ea = w.eb = w.ec = NONE;
    w.left = 3;
    const done = new Promise<void>(w.arm);
    const sfd = sqeFd(fd);
    const readFlags = (IOSQE_IO_HARDLINK | fixedFlag(fd)) << 8;
    let op = core.acquire(OP_KINDS.read, scope);
    t[0] = OPCODES.READ | readFlags;
    t[1] = sfd;
    t[2] = -1; // the file position
    t[3] = -1;
    t[6] = len;
    op.pin0 = buf;
    op.resolve = w.okA;
    op.reject = w.failA;
    core.submit(op, buf);
    op = core.acquire(OP_KINDS.read, scope);
    t[0] = OPCODES.READ | readFlags;
    t[1] = sfd;
    t[2] = -1;
    t[3] = -1;
    t[6] = 1;
    op.pin0 = this.#probe;
    op.resolve = w.okB;
    op.reject = w.failB;
    core.submit(op, this.#probe);
    // Outside any scope: cancelling the fiber must not skip the close.
    op = core.acquire(fd >= 0 ? OP_KINDS.close : OP_KINDS.closeDirect, undefined);
    fillClose(t, fd);
    op.resolve = w.okC;
    op.reject = w.failC;
    core.submit(op);
    await done;
    if (w.ec !== NONE) throw named(w.ec, key);
    if (w.ea !== NONE) throw named(w.ea, key);
    if (w.eb !== NONE) throw named(w.eb, key);
  }

  /** Read one whole file. Every op it issued has completed when it settles. */
  async read(path: Buffer, key: string, w: Worker): Promise<Buffer> {
    let fd: number;
    try {
      fd = await this.#openAny(path, this.#core.enterScope());
    } catch (e) {
      throw named(e, key);
    }
    // Speculative first: most files fit the worker's scratch buffer, and then
    // no statx is needed (IORING_OP_STATX always runs on an io-wq thread:
    // measured, it cost two thirds of the time on 4 KiB files).
    const scratch = w.scratch;
    await this.#chain(fd, scratch, scratch.length, key, w);
    if (w.a < scratch.length && w.b === 0) {
      const data = this.#alloc(w.a);
      scratch.copy(data, 0, 0, w.a);
      return data;
    }
    return this.#sized(path, key, w);
  }

  /** A file larger than the scratch buffer: size it with statx, read it in one go. */
  async #sized(path: Buffer, key: string, w: Worker): Promise<Buffer> {
    const stx = w.stx;
    const scope = this.#core.enterScope();
    const [o, s] = await Promise.all([settle(this.#openAny(path, scope)), settle(this.#statx(path, stx, scope))]);
    if (!o.ok) throw named(o.error, key);
    const fd = o.value;
    if (!s.ok) {
      await settle(this.#close(fd));
      throw named(s.error, key);
    }
    const size = Number(stx.readBigUInt64LE(L.statx_size!));
    const mode = stx.readUInt16LE(L.statx_mode!);
    if ((mode & S_IFMT) !== S_IFREG || size === 0 || size > MAX_READ) return this.#loop(fd, key, size);
    const buf = Buffer.allocUnsafe(size);
    await this.#chain(fd, buf, size, key, w);
    if (w.a === size && w.b === 0) return buf;
    // It changed size while read: start over with the plain loop.
    const r = await settle(this.#openAny(path, this.#core.enterScope()));
    if (!r.ok) throw named(r.error, key);
    return this.#loop(r.value, key, size);
  }

  /** Read fd until a read returns 0, growing the buffer; then close it. */
  async #loop(fd: number, key: string, hint: number): Promise<Buffer> {
    let buf = Buffer.allocUnsafe(Math.max(hint + 1, 16384));
    let len = 0;
    let error: unknown = NONE;
    try {
      for (;;) {
        if (len === buf.length) {
          const bigger = Buffer.allocUnsafe(Math.min(buf.length * 2, len + MAX_READ));
          buf.copy(bigger, 0, 0, len);
          buf = bigger;
        }
        const n = await this.#read(fd, buf, len, Math.min(buf.length - len, MAX_READ), -1, 0, this.#core.enterScope());
        if (n === 0) break;
        len += n;
      }
    } catch (e) {
      error = e;
    }
    const c = await settle(this.#close(fd));
    if (error !== NONE) throw named(error, key);
    if (!c.ok) throw named(c.error, key);
    return buf.subarray(0, len);
  }
}

/** The last call's scratch buffer, free for the next one (one at a time: taken at start). */
let spareScratch: WeakRef<Buffer> | undefined;

/** m.readFiles(paths[, fn][, opts]). */
export async function readFiles(
  core: Core,
  paths: Iterable<string | Uint8Array>,
  fnOrOpts?: ((path: string, data: Buffer) => void) | ReadFilesOptions,
  opts?: ReadFilesOptions,
): Promise<Map<string, Buffer> | void> {
  if (paths === null || typeof paths !== 'object' || !(Symbol.iterator in paths)) {
    throw argTypeError('paths', 'an iterable of strings, Buffers or Uint8Arrays', paths);
  }
  let fn: ((path: string, data: Buffer) => void) | undefined;
  if (typeof fnOrOpts === 'function') fn = fnOrOpts;
  else if (fnOrOpts !== undefined) {
    if (opts !== undefined) validateFunction(fnOrOpts, 'fn');
    opts = fnOrOpts;
  }
  if (opts !== undefined && (opts === null || typeof opts !== 'object')) throw argTypeError('opts', 'of type object', opts);
  const concurrency = opts?.concurrency ?? 256;
  validateInt32(concurrency, 'opts.concurrency', 1);
  // Not the default: alternating runs showed no CPU or time gain on the
  // read-files bench (bench/RESULTS.md, "fixed"), and it claims the table.
  const wantDirect = opts?.direct ?? false;
  if (typeof wantDirect !== 'boolean') throw argTypeError('opts.direct', 'of type boolean', wantDirect);

  const keys: string[] = [];
  const encoded: Buffer[] = [];
  let i = 0;
  for (const p of paths) {
    encoded.push(encodePath(p, `paths[${i}]`));
    keys.push(typeof p === 'string' ? p : Buffer.from(p).toString());
    i++;
  }
  core.enterScope(); // a pending cancel error rejects before anything starts
  const n = keys.length;
  // Direct descriptors where the kernel has IORING_FILE_INDEX_ALLOC (5.19).
  let direct = wantDirect && n > 0 && core.probe[OPCODES.OPENAT] === 1 && KERNEL_VERSION >= 519;
  if (direct) {
    try {
      ensureTable(core);
    } catch {
      direct = false; // no table to be had (e.g. ENOMEM): fds, as before
    }
  }
  const results: Buffer[] | null = fn === undefined ? new Array<Buffer>(n) : null;
  const reader = new Reader(core, direct);
  let next = 0;
  let failure: unknown = NONE;

  const width = Math.max(1, Math.min(concurrency, Math.floor(core.size / 3), n));
  // One allocation for every worker's scratch buffer, reused by the next
  // call if it comes before a GC (8 MiB of fresh memory per call cost page
  // faults and GC pressure, measured).
  let scratch = spareScratch?.deref();
  spareScratch = undefined;
  if (scratch === undefined || scratch.length < width * SCRATCH) scratch = Buffer.allocUnsafeSlow(width * SCRATCH);
  const scratchAll = scratch;
  let started = 0;
  const worker = async (): Promise<void> => {
    const i = started++;
    const w = new Worker(scratchAll.subarray(i * SCRATCH, (i + 1) * SCRATCH));
    while (failure === NONE && next < n) {
      const k = next++;
      try {
        const data = await reader.read(encoded[k]!, keys[k]!, w);
        if (results !== null) results[k] = data;
        else if (failure === NONE) fn!(keys[k]!, data);
      } catch (e) {
        if (failure === NONE) failure = e;
      }
    }
  };
  const workers: Promise<void>[] = [];
  for (let w = 0; w < width; w++) workers.push(worker());
  await Promise.all(workers);
  // Every op on it has completed: the next call may have it.
  spareScratch = new WeakRef(scratchAll);
  if (failure !== NONE) throw failure;
  if (results === null) return;
  const map = new Map<string, Buffer>();
  for (let k = 0; k < n; k++) map.set(keys[k]!, results[k]!);
  return map;
}
