/**
 * m.readFiles(): read many whole files through the ring, many in flight at
 * once but bounded.
 *
 * Per file, in two round trips:
 * 1. IORING_OP_OPENAT and IORING_OP_STATX (by path) side by side: statx
 *    cannot take the fd openat is about to create (that would need fixed
 *    files), but by path it runs in parallel, so the size is known when the
 *    fd is.
 * 2. One chain of three SQEs, joined with IOSQE_IO_HARDLINK so that each
 *    runs whatever the previous one returned: READ of the whole size into a
 *    buffer of that size, READ of one byte at the end offset (must return 0:
 *    EOF is seen, the statx size is not trusted), CLOSE. The close is in the
 *    chain, so no fd outlives its file whatever fails, and it is not linked
 *    to the fiber's scope, so cancelling the fiber cannot skip it.
 * A file whose first read is short or whose EOF probe returns data (it
 * changed size while read), or that is not a regular file with a size
 * (/proc files, pipes, directories), is read by a plain loop instead: read
 * until a read returns 0, growing the buffer, then close.
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
 * @internal
 */
import type { Core } from './core.js';
import type { Scope } from './op.js';
import { UMError } from './errors.js';
import { native } from './native.js';
import { OP_KINDS, OPCODES } from './op-kinds.js';
import { argTypeError, encodePath, validateFunction, validateInt32 } from './validate.js';

/** Options of {@link UringMachine.readFiles}. */
export interface ReadFilesOptions {
  /** Files open at once (default 256; also bounded by the ring size / 3). */
  concurrency?: number;
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
/** Per-worker buffer of the speculative first read: files smaller than this need no statx. */
const SCRATCH = 32 * 1024;
/** Size of the slabs small files' contents are carved from. */
const SLAB = 1024 * 1024;

/** A worker's own buffers, reused from file to file (each op on them has completed before reuse). */
interface Worker {
  scratch: Buffer;
  stx: Buffer;
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
  constructor(core: Core) {
    this.#core = core;
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

  /** READ of len bytes at buf[off] from file offset pos (-1: the file position). */
  #read(fd: number, buf: Buffer, off: number, len: number, pos: number, sqeFlags: number, scope: Scope | undefined): Promise<number> {
    const core = this.#core;
    const op = core.acquire(OP_KINDS.read, scope);
    const t = core.tmpl;
    t[0] = OPCODES.READ | (sqeFlags << 8);
    t[1] = fd;
    if (pos < 0) {
      t[2] = -1;
      t[3] = -1;
    } else {
      t[2] = pos % 4294967296 | 0;
      t[3] = Math.floor(pos / 4294967296) | 0;
    }
    t[4] = off;
    t[6] = len;
    op.pin0 = buf;
    return core.promise(op, buf);
  }

  /** CLOSE, outside any scope: a cancelled fiber must not skip it. */
  #close(fd: number): Promise<number> {
    const core = this.#core;
    const op = core.acquire(OP_KINDS.close, undefined);
    const t = core.tmpl;
    t[0] = OPCODES.CLOSE;
    t[1] = fd;
    return core.promise(op);
  }

  /** Make sure the SQ has `n` free slots, so the next n SQEs go in one submit. */
  #room(n: number): void {
    const core = this.#core;
    for (let i = 0; i < 100; i++) {
      if (core.size - core.metrics().opsUnsubmitted >= n) return;
      if (i === 0) core.ring.submit(core.tail);
      else core.reap();
    }
  }

  /**
   * One hardlinked chain on fd: READ of len bytes into buf, READ of 1 byte
   * (0 means EOF was reached), CLOSE; both reads at the file position. The
   * fd is closed whatever happens; a close error rejects.
   */
  async #chain(fd: number, buf: Buffer, len: number, key: string): Promise<[Settled<number>, Settled<number>]> {
    let scope: Scope | undefined;
    try {
      // Checked once for the whole chain: a pending cancel must throw before
      // its first SQE is queued, never between two (an fd would leak, or the
      // link flag would join a stranger's SQE to the chain).
      scope = this.#core.enterScope();
    } catch (e) {
      await settle(this.#close(fd));
      throw e;
    }
    this.#room(3);
    const pa = settle(this.#read(fd, buf, 0, len, -1, IOSQE_IO_HARDLINK, scope));
    const pb = settle(this.#read(fd, this.#probe, 0, 1, -1, IOSQE_IO_HARDLINK, scope));
    const pc = settle(this.#close(fd));
    const a = await pa;
    const b = await pb;
    const c = await pc;
    if (!c.ok) throw named(c.error, key);
    return [a, b];
  }

  /** Read one whole file. Every op it issued has completed when it settles. */
  async read(path: Buffer, key: string, w: Worker): Promise<Buffer> {
    const o = await settle(this.#open(path, this.#core.enterScope()));
    if (!o.ok) throw named(o.error, key);
    // Speculative first: most files fit the worker's scratch buffer, and then
    // no statx is needed (IORING_OP_STATX always runs on an io-wq thread:
    // measured, it cost two thirds of the time on 4 KiB files).
    const scratch = w.scratch;
    const [a, b] = await this.#chain(o.value, scratch, scratch.length, key);
    if (!a.ok) throw named(a.error, key);
    if (!b.ok) throw named(b.error, key);
    if (a.value < scratch.length && b.value === 0) {
      const data = this.#alloc(a.value);
      scratch.copy(data, 0, 0, a.value);
      return data;
    }
    return this.#sized(path, key, w.stx);
  }

  /** A file larger than the scratch buffer: size it with statx, read it in one go. */
  async #sized(path: Buffer, key: string, stx: Buffer): Promise<Buffer> {
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
    const buf = Buffer.allocUnsafe(size);
    const [a, b] = await this.#chain(fd, buf, size, key);
    if (!a.ok) throw named(a.error, key);
    if (!b.ok) throw named(b.error, key);
    if (a.value === size && b.value === 0) return buf;
    // It changed size while read: start over with the plain loop.
    const r = await settle(this.#open(path, this.#core.enterScope()));
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
  const results: Buffer[] | null = fn === undefined ? new Array<Buffer>(n) : null;
  const reader = new Reader(core);
  let next = 0;
  let failure: unknown = NONE;

  const width = Math.max(1, Math.min(concurrency, Math.floor(core.size / 3), n));
  // One allocation for every worker's scratch buffer.
  const scratch = Buffer.allocUnsafeSlow(width * SCRATCH);
  let started = 0;
  const worker = async (): Promise<void> => {
    const i = started++;
    const w: Worker = { scratch: scratch.subarray(i * SCRATCH, (i + 1) * SCRATCH), stx: Buffer.alloc(L.statxSize!) };
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
  if (failure !== NONE) throw failure;
  if (results === null) return;
  const map = new Map<string, Buffer>();
  for (let k = 0; k < n; k++) map.set(keys[k]!, results[k]!);
  return map;
}
