/**
 * m.readFiles(): read many whole files through the ring, many in flight at
 * once but bounded.
 *
 * Per file (docs/ARCHITECTURE.md, "readFiles"), by default each worker
 * reads through one slot of its own in the ring's file table:
 * 1. One chain of three SQEs, one round trip: OPENAT into the worker's slot
 *    (replacing the file it held), IOSQE_IO_LINK to a READ of up to 32 KiB
 *    into the worker's scratch buffer, IOSQE_IO_HARDLINK to a READ of one
 *    byte (must return 0: EOF is seen, no size is trusted). A failed open
 *    cancels both reads; a short read does not cut the probe off. A file
 *    that fit is copied out of scratch, without STATX (which always runs on
 *    an io-wq thread). The worker's first file takes its slot
 *    (IORING_FILE_INDEX_ALLOC); a full table sends the worker to fds.
 * 2. A larger file: STATX by path, then on the same slot a READ of the rest
 *    into a buffer of that size (IOSQE_ASYNC: io-wq copies it on another
 *    core) and the probe again.
 * With fds (direct: false, a full table): OPENAT, then READ / probe / CLOSE
 * hardlinked; a larger file OPENAT and STATX side by side, then the same
 * chain with a READ of the statx size.
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
 * every fd and slot is closed), then the promise rejects; a UMError carries the file
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
import { CHUNK, hugeArrayBuffer, resultBuffer } from './result-memory.js';

/** Options of {@link UringMachine.readFiles}. */
export interface ReadFilesOptions {
  /** Files open at once (default 256; also bounded by the ring size / 3). */
  concurrency?: number;
  /**
   * Read through slots of the ring's file table, one per worker (Linux >=
   * 5.19; the default table of 1024 slots is created if the machine has
   * none, so call registerFiles() first for another size), never the
   * process's fd table: open, read and EOF check go as one linked chain
   * (default true). A full table sends the workers that found it full to
   * fds. false, or an older kernel: fds, with a close in each chain.
   */
  direct?: boolean;
}

const AT_FDCWD = -100;
const O_CLOEXEC = native.constants.O_CLOEXEC ?? 0o2000000;
const IOSQE_FIXED_FILE = 1 << 0;
const IOSQE_IO_LINK = 1 << 2;
const IOSQE_IO_HARDLINK = 1 << 3;
const IOSQE_ASYNC = 1 << 4;
const STATX_TYPE = 0x1;
const STATX_SIZE = 0x200;
const S_IFMT = 0o170000;
const S_IFREG = 0o100000;
/** Largest read the kernel does in one go (MAX_RW_COUNT). */
const MAX_READ = 0x7ffff000;
const L = native.layout;
const NONE: unique symbol = Symbol('none');
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
/** A worker's share of the scratch allocation: scratch, the probe byte after it, padding. */
const STRIDE = SCRATCH + 64;

function ignore(): void {}
/** Worker.slot before the worker's first file. */
const NEW_SLOT = -1;
/** Worker.slot of a worker that uses fds (direct: false, or the table was full). */
const NO_SLOT = -2;

/**
 * A worker's own buffers, reused from file to file (each op on them has
 * completed before reuse), and the state of its current chain: the
 * callbacks the chain's ops settle through are made once per worker.
 */
class Worker {
  /** The worker's share of the call's scratch allocation. */
  readonly scratch: Buffer;
  /** The EOF probe's byte (after scratch in the call's allocation). */
  readonly probe: Buffer;
  readonly stx = Buffer.alloc(L.statxSize!);
  /** The worker's own slot in the ring's file table (NEW_SLOT: none yet; NO_SLOT: fds). */
  slot = NEW_SLOT;
  eo: unknown = NONE;
  a = 0;
  b = 0;
  ea: unknown = NONE;
  eb: unknown = NONE;
  ec: unknown = NONE;
  left = 0;
  #resolve: () => void = ignore;
  constructor(scratch: Buffer, probe: Buffer) {
    this.scratch = scratch;
    this.probe = probe;
  }
  readonly arm = (resolve: () => void): void => {
    this.#resolve = resolve;
  };
  #done(): void {
    if (--this.left === 0) this.#resolve();
  }
  readonly okO = (): void => {
    this.#done();
  };
  readonly failO = (e: unknown): void => {
    this.eo = e;
    this.#done();
  };
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

/**
 * After a slot chain: throw its first error, named after the file, in chain
 * order (the open's, the read's, the probe's, the slot close's).
 */
function throwFirst(w: Worker, key: string): void {
  if (w.eo !== NONE) throw named(w.eo, key);
  if (w.ea !== NONE) throw named(w.ea, key);
  if (w.eb !== NONE) throw named(w.eb, key);
  if (w.ec !== NONE) throw named(w.ec, key);
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
  /** Each worker reads through its own slot in the ring's file table (else fds). */
  readonly #slots: boolean;
  readonly #encoded: Buffer[];
  readonly #keys: string[];
  readonly #results: Buffer[] | null;
  readonly #fn: ((path: string, data: Buffer) => void) | undefined;
  #next = 0;
  /** The first error (NONE: none): no new file is started after it. */
  failure: unknown = NONE;
  constructor(
    core: Core,
    slots: boolean,
    encoded: Buffer[],
    keys: string[],
    results: Buffer[] | null,
    fn: ((path: string, data: Buffer) => void) | undefined,
  ) {
    this.#core = core;
    this.#slots = slots;
    this.#encoded = encoded;
    this.#keys = keys;
    this.#results = results;
    this.#fn = fn;
  }

  /**
   * A worker: takes the next file until none is left or one failed, then
   * frees its slot. A method rather than a closure made per call: its
   * optimised code and type feedback carry over from call to call.
   */
  async run(w: Worker): Promise<void> {
    const n = this.#keys.length;
    try {
      while (this.failure === NONE && this.#next < n) {
        const k = this.#next++;
        try {
          const data = await this.read(this.#encoded[k]!, this.#keys[k]!, w);
          if (this.#results !== null) this.#results[k] = data;
          else if (this.failure === NONE) this.#fn!(this.#keys[k]!, data);
        } catch (e) {
          if (this.failure === NONE) this.failure = e;
        }
      }
    } finally {
      await this.#releaseSlot(w);
    }
  }

  /** Read one whole file. Every op it issued has completed when it settles. */
  async read(path: Buffer, key: string, w: Worker): Promise<Buffer> {
    if (!this.#slots || w.slot === NO_SLOT) return this.#readFd(path, key, w);
    if (w.slot >= 0) await this.#slotChain(path, key, w);
    else if (!(await this.#firstSlot(path, key, w))) return this.#readFd(path, key, w);
    const scratch = w.scratch;
    if (w.a < scratch.length && w.b === 0) return this.#copyOut(w);
    // Larger: the rest on the slot, or through an fd if the chain closed it.
    if (w.a === scratch.length && w.b === 1) return w.slot >= 0 ? this.#rest(path, key, w) : this.#sized(path, key, w);
    // Short, then more data: it grew while read.
    return this.#reloop(path, key, w.a);
  }

  /** The contents of a file that fit the scratch buffer, copied out. */
  #copyOut(w: Worker): Buffer {
    const data = resultBuffer(w.a);
    w.scratch.copy(data, 0, 0, w.a);
    return data;
  }

  // ---- Through the worker's slot (the default) ---------------------------

  /**
   * One round trip per file: OPENAT into the worker's slot (replacing the
   * file it held), IOSQE_IO_LINK to a READ of up to scratch.length bytes,
   * IOSQE_IO_HARDLINK to the 1-byte EOF probe. A plain link after the open,
   * so an open that fails cancels both reads (they would read the slot's
   * old file); a hard one after the read, which a short read must not cut.
   */
  async #slotChain(path: Buffer, key: string, w: Worker): Promise<void> {
    const core = this.#core;
    const scope = core.enterScope(); // a pending cancel throws before the first SQE
    const last = this.#lastFile();
    this.#room(last ? 4 : 3);
    const t = core.tmpl;
    w.eo = w.ea = w.eb = w.ec = NONE;
    w.left = last ? 4 : 3;
    const done = new Promise<void>(w.arm);
    const op = core.acquire(OP_KINDS.openDirect, scope);
    t[0] = OPCODES.OPENAT | (IOSQE_IO_LINK << 8);
    t[1] = AT_FDCWD;
    t[11] = w.slot + 1; // file_index: slot + 1; O_RDONLY, no O_CLOEXEC (EINVAL with a slot)
    op.pin0 = path;
    op.resolve = w.okO;
    op.reject = w.failO;
    core.submit(op, path);
    this.#pushReads(toHandle(w.slot), w.scratch, 0, w.scratch.length, false, w, scope);
    if (last) this.#pushClose(w);
    await done;
    if (last) this.#closed(w);
    throwFirst(w, key);
  }

  /**
   * No file is left for any worker to take: the one a worker is about to
   * read is its last, and its chain can close the slot too (one round trip
   * fewer: with as many workers as files, each reads one).
   */
  #lastFile(): boolean {
    return this.#next >= this.#keys.length;
  }

  /**
   * CLOSE of the worker's slot behind the SQEs just pushed (hardlinked from
   * the probe, outside any scope), settling into w.ec. An open that failed
   * before it cancels it too (the slot then still holds its old file).
   */
  #pushClose(w: Worker): void {
    const core = this.#core;
    core.orSqeFlags(0, IOSQE_IO_HARDLINK);
    const op = core.acquire(OP_KINDS.closeDirect, undefined);
    fillClose(core.tmpl, toHandle(w.slot));
    op.resolve = w.okC;
    op.reject = w.failC;
    core.submit(op);
  }

  /** After a chain with #pushClose: the slot is free if the close ran (else the worker's end closes it). */
  #closed(w: Worker): void {
    if (w.ec === NONE) w.slot = NO_SLOT;
    else if (w.eo !== NONE) w.ec = NONE; // cancelled by the failed open: not the file's error
  }

  /**
   * The worker's first file: OPENAT into a free slot (IORING_FILE_INDEX_ALLOC),
   * which the worker keeps for the rest of the call, then the reads. False:
   * the table is full (ENFILE), the worker uses fds from now on.
   */
  async #firstSlot(path: Buffer, key: string, w: Worker): Promise<boolean> {
    const core = this.#core;
    let h: number;
    try {
      const op = core.acquire(OP_KINDS.openDirect, core.enterScope());
      const t = core.tmpl;
      t[0] = OPCODES.OPENAT;
      t[1] = AT_FDCWD;
      t[11] = FILE_INDEX_ALLOC;
      op.map = toHandle;
      op.pin0 = path;
      h = await core.promise(op, path);
    } catch (e) {
      if (e instanceof UMError && e.errno === ENFILE) {
        w.slot = NO_SLOT;
        return false;
      }
      throw named(e, key);
    }
    w.slot = ~h;
    await this.#reads(h, w.scratch, 0, w.scratch.length, false, key, w, this.#lastFile());
    return true;
  }

  /**
   * A file larger than the scratch buffer, read through the slot up to
   * scratch.length + 1 bytes (the last one by the probe): STATX by
   * path for the size, then a READ of the rest into a buffer of that size,
   * at the file position, and the probe again.
   */
  async #rest(path: Buffer, key: string, w: Worker): Promise<Buffer> {
    const have = w.scratch.length + 1;
    try {
      await this.#statx(path, w.stx, this.#core.enterScope());
    } catch (e) {
      throw named(e, key);
    }
    const size = Number(w.stx.readBigUInt64LE(L.statx_size!));
    const mode = w.stx.readUInt16LE(L.statx_mode!);
    if ((mode & S_IFMT) !== S_IFREG || size <= have || size > MAX_READ) return this.#reloop(path, key, size);
    const buf = resultBuffer(size);
    w.scratch.copy(buf, 0, 0, have - 1);
    buf[have - 1] = w.probe[0]!; // the probe's byte
    await this.#reads(toHandle(w.slot), buf, have, size - have, true, key, w);
    if (w.a === size - have && w.b === 0) return buf;
    return this.#reloop(path, key, size); // it changed size while read
  }

  /** Close the worker's slot (outside any scope); a closed machine's table went with its ring. */
  async #releaseSlot(w: Worker): Promise<void> {
    if (w.slot < 0) return;
    const h = toHandle(w.slot);
    w.slot = NO_SLOT;
    if (this.#core.closed) return;
    await settle(this.#close(h));
  }

  // ---- Shared steps --------------------------------------------------------

  /**
   * Push READ of len bytes into buf[off] hardlinked to the 1-byte EOF probe
   * into w.probe, both on handle h at the file position; they settle into
   * w.a / w.b (w.ea / w.eb). `punt`: IOSQE_ASYNC on the read, so io-wq copies
   * (and faults in) a large result on another core than the JavaScript's.
   */
  #pushReads(h: number, buf: Buffer, off: number, len: number, punt: boolean, w: Worker, scope: Scope | undefined): void {
    const core = this.#core;
    const t = core.tmpl;
    let op = core.acquire(OP_KINDS.read, scope);
    t[0] = OPCODES.READ | ((IOSQE_IO_HARDLINK | fixedFlag(h) | (punt ? IOSQE_ASYNC : 0)) << 8);
    t[1] = sqeFd(h);
    t[2] = -1; // the file position
    t[3] = -1;
    // addr: a byte offset into buf, which may pass 4 GiB for a huge file
    t[4] = off % 4294967296 | 0;
    t[5] = Math.floor(off / 4294967296) | 0;
    t[6] = len;
    op.pin0 = buf;
    op.resolve = w.okA;
    op.reject = w.failA;
    core.submit(op, buf);
    op = core.acquire(OP_KINDS.read, scope);
    t[0] = OPCODES.READ | (fixedFlag(h) << 8);
    t[1] = sqeFd(h);
    t[2] = -1;
    t[3] = -1;
    t[6] = 1;
    op.pin0 = w.probe;
    op.resolve = w.okB;
    op.reject = w.failB;
    core.submit(op, w.probe);
  }

  /**
   * #pushReads as one round trip of its own (`close`: and the slot's CLOSE
   * behind them); rejects with the read's error, else the probe's, else the
   * close's.
   */
  async #reads(h: number, buf: Buffer, off: number, len: number, punt: boolean, key: string, w: Worker, close = false): Promise<void> {
    const scope = this.#core.enterScope();
    this.#room(close ? 3 : 2);
    w.eo = w.ea = w.eb = w.ec = NONE;
    w.left = close ? 3 : 2;
    const done = new Promise<void>(w.arm);
    this.#pushReads(h, buf, off, len, punt, w, scope);
    if (close) this.#pushClose(w);
    await done;
    if (close) this.#closed(w);
    throwFirst(w, key);
  }

  /** A file the one-read path cannot take: a fresh fd and the plain loop. */
  async #reloop(path: Buffer, key: string, hint: number): Promise<Buffer> {
    return this.#loop(await this.#openFd(path, key), key, hint);
  }

  /** #open in the caller's scope, its error named after the file. */
  async #openFd(path: Buffer, key: string): Promise<number> {
    try {
      return await this.#open(path, this.#core.enterScope());
    } catch (e) {
      throw named(e, key);
    }
  }

  /** OPENAT of path into the process's fd table. */
  #open(path: Buffer, scope: Scope | undefined): Promise<number> {
    const core = this.#core;
    const op = core.acquire(OP_KINDS.openat, scope);
    const t = core.tmpl;
    t[0] = OPCODES.OPENAT;
    t[1] = AT_FDCWD;
    t[7] = O_CLOEXEC; // O_RDONLY
    op.pin0 = path;
    return core.promise(op, path);
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

  /** READ of len bytes at buf[off] from the file position. */
  #read(h: number, buf: Buffer, off: number, len: number, scope: Scope | undefined): Promise<number> {
    const core = this.#core;
    const op = core.acquire(OP_KINDS.read, scope);
    const t = core.tmpl;
    t[0] = OPCODES.READ | (fixedFlag(h) << 8);
    t[1] = sqeFd(h);
    t[2] = -1;
    t[3] = -1;
    t[4] = off % 4294967296 | 0;
    t[5] = Math.floor(off / 4294967296) | 0;
    t[6] = len;
    op.pin0 = buf;
    return core.promise(op, buf);
  }

  /** CLOSE of an fd or a slot, outside any scope: a cancelled fiber must not skip it. */
  #close(h: number): Promise<number> {
    const core = this.#core;
    const op = core.acquire(h >= 0 ? OP_KINDS.close : OP_KINDS.closeDirect, undefined);
    fillClose(core.tmpl, h);
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

  // ---- Through fds (direct: false, a full table, kernels before 5.19) -----

  /** OPENAT, then READ / probe / CLOSE hardlinked; a larger file again, sized. */
  async #readFd(path: Buffer, key: string, w: Worker): Promise<Buffer> {
    const fd = await this.#openFd(path, key);
    await this.#chain(fd, w.scratch, w.scratch.length, key, w);
    if (w.a < w.scratch.length && w.b === 0) return this.#copyOut(w);
    return this.#sized(path, key, w);
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
      // The machine was closed after this fd was opened: nothing can be queued.
      native.closeSync(fd);
      throw new MachineClosedError();
    }
    this.#room(3);
    w.ea = w.eb = w.ec = NONE;
    w.left = 3;
    const done = new Promise<void>(w.arm);
    this.#pushReads(fd, buf, 0, len, len > SCRATCH, w, scope);
    core.orSqeFlags(0, IOSQE_IO_HARDLINK); // the probe, to the close
    // Outside any scope: cancelling the fiber must not skip the close.
    const op = core.acquire(OP_KINDS.close, undefined);
    fillClose(core.tmpl, fd);
    op.resolve = w.okC;
    op.reject = w.failC;
    core.submit(op);
    await done;
    if (w.ec !== NONE) throw named(w.ec, key);
    if (w.ea !== NONE) throw named(w.ea, key);
    if (w.eb !== NONE) throw named(w.eb, key);
  }

  /** A file larger than the scratch buffer: size it with statx, read it in one go. */
  async #sized(path: Buffer, key: string, w: Worker): Promise<Buffer> {
    const stx = w.stx;
    const scope = this.#core.enterScope();
    const [o, s] = await Promise.all([settle(this.#open(path, scope)), settle(this.#statx(path, stx, scope))]);
    if (!o.ok) throw named(o.error, key);
    const fd = o.value;
    if (!s.ok) {
      await settle(this.#close(fd));
      throw named(s.error, key);
    }
    const size = Number(stx.readBigUInt64LE(L.statx_size!));
    const mode = stx.readUInt16LE(L.statx_mode!);
    if ((mode & S_IFMT) !== S_IFREG || size === 0 || size > MAX_READ) return this.#loop(fd, key, size);
    const buf = resultBuffer(size);
    await this.#chain(fd, buf, size, key, w);
    if (w.a === size && w.b === 0) return buf;
    // It changed size while read: start over with the plain loop.
    return this.#reloop(path, key, size);
  }

  /** Read h until a read returns 0, growing the buffer; then close it. */
  async #loop(h: number, key: string, hint: number): Promise<Buffer> {
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
        const n = await this.#read(h, buf, len, Math.min(buf.length - len, MAX_READ), this.#core.enterScope());
        if (n === 0) break;
        len += n;
      }
    } catch (e) {
      error = e;
    }
    const c = await settle(this.#close(h));
    if (error !== NONE) throw named(error, key);
    if (!c.ok) throw named(c.error, key);
    return buf.subarray(0, len);
  }
}

/**
 * Scratch for `bytes`: from whole result-memory chunks (huge pages, reused
 * once collected) when it is large, else plain.
 */
function scratchBuffer(bytes: number): Buffer {
  if (bytes < CHUNK / 2) return Buffer.allocUnsafeSlow(bytes);
  const ab = hugeArrayBuffer(Math.ceil(bytes / CHUNK) * CHUNK);
  return ab === null ? Buffer.allocUnsafeSlow(bytes) : Buffer.from(ab);
}

/**
 * A Worker and a Reader that live as long as the module. V8 holds the maps
 * (hidden classes) of a class's instances only weakly, through the class's
 * transition tree: with no instance left between two calls, a full GC
 * dropped them, and every optimised function of this module that checks
 * them was deoptimised ("weak objects", 14 of them after each mark-compact
 * in the read-files bench) and compiled again on the next call. These two
 * are never used; they keep the maps alive.
 */
export const mapAnchors: readonly unknown[] = [
  new Worker(Buffer.alloc(0), Buffer.alloc(1)),
  new Reader(null as unknown as Core, false, [], [], null, undefined),
];

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
  const wantDirect = opts?.direct ?? true;
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
  // A slot per worker where the kernel has IORING_FILE_INDEX_ALLOC (5.19)
  // and the machine has a file table or can make one.
  let slots = wantDirect && n > 0 && core.probe[OPCODES.OPENAT] === 1 && KERNEL_VERSION >= 519;
  if (slots) {
    try {
      ensureTable(core);
    } catch {
      slots = false; // no table to be had (e.g. ENOMEM): fds
    }
  }
  const results: Buffer[] | null = fn === undefined ? new Array<Buffer>(n) : null;
  const reader = new Reader(core, slots, encoded, keys, results, fn);

  const width = Math.max(1, Math.min(concurrency, Math.floor(core.size / 3), n));
  // One allocation for every worker's scratch buffer, reused by the next
  // call if it comes before a GC (8 MiB of fresh memory per call cost page
  // faults and GC pressure, measured).
  let scratch = spareScratch?.deref();
  spareScratch = undefined;
  if (scratch === undefined || scratch.length < width * STRIDE) scratch = scratchBuffer(width * STRIDE);
  const workers: Promise<void>[] = [];
  for (let i = 0; i < width; i++) {
    const base = i * STRIDE;
    workers.push(reader.run(new Worker(scratch.subarray(base, base + SCRATCH), scratch.subarray(base + SCRATCH, base + SCRATCH + 1))));
  }
  await Promise.all(workers);
  // Every op on it has completed: the next call may have it.
  spareScratch = new WeakRef(scratch);
  if (reader.failure !== NONE) throw reader.failure;
  if (results === null) return;
  const map = new Map<string, Buffer>();
  for (let k = 0; k < n; k++) map.set(keys[k]!, results[k]!);
  return map;
}
