/**
 * writeAsync: fire-and-forget writes, kept in order and written whole.
 *
 * One queue per machine and fd. While a write to the fd is in flight, later
 * chunks wait in the queue; when it completes, everything queued behind it
 * goes out merged in one IORING_OP_WRITEV (io_uring_prep_writev(3)), at most
 * IOV_MAX chunks at a time. A short write (a pipe or socket with less room
 * than asked, or a length beyond the kernel's MAX_RW_COUNT) is resubmitted
 * from where it stopped, so nothing is truncated and, with one op per fd in
 * flight, nothing is reordered. Before this, every chunk was its own WRITE
 * op: the kernel completes independent writes to a pipe in any order and
 * short, so 4 x 256 KiB arrived as 256 KiB in the order A D B C.
 *
 * Positional chunks (fileOffset >= 0) keep their offsets: a batch only
 * merges chunks that are contiguous in the file (or all at the current
 * position, fileOffset -1), and a short write resumes at offset + written.
 * A non-blocking fd that says EAGAIN is polled for POLLOUT, then written
 * again.
 *
 * A failed write drops the chunk and everything queued behind it for that
 * fd (they cannot be written in order any more) and reports the error to
 * the machine's `onWriteAsyncError(error, fd, droppedBytes)`. `m.close(fd)`
 * and `m.closeAsync(fd)` wait until the queue of the fd is empty (written or
 * dropped) before the CLOSE is submitted; a writeAsync to an fd whose close
 * is waiting is dropped and reported (EBADF). `m.close()` drops what is
 * still queued and reports MachineClosedError.
 *
 * Buffers: each op pins the chunks it hands the kernel (pin0 the chunk or
 * the iovec array, pin1 the batch's chunks) until its final CQE, like every
 * op (op.ts). The iovec array is reused only after that CQE: one op per fd
 * is in flight at a time.
 * Internal module (not exported by the package).
 */
import { als, type Core, fillIovecs } from './core.js';
import { MachineClosedError, UMError } from './errors.js';
import { OP_KINDS, OPCODES } from './op-kinds.js';
import { NONE, type Op } from './op.js';
import { rwLength, setU64 } from './prep.js';

/** Called when a fire-and-forget write failed: its bytes and those queued behind it were dropped. */
export type WriteAsyncErrorHandler = (error: unknown, fd: number, droppedBytes: number) => void;

/** UIO_MAXIOV: the most iovecs one writev takes. */
const IOV_MAX = 1024;
/** Bounds of the adaptive batch size (bytes). */
const MIN_CAP = 16 * 1024;
const MAX_CAP = 4 * 1024 * 1024;
const EAGAIN = 11;
const EIO = 5;
const EBUSY = 16;
const EBADF = 9;
const POLLOUT = 0x4;

function defaultHandler(error: unknown, fd: number, dropped: number): void {
  process.stderr.write(
    `uringmachine: writeAsync to fd ${fd} failed, ${dropped} bytes dropped: ${(error as Error)?.message ?? String(error)}\n`,
  );
}

/** The writeAsync state of one machine. */
export class WriteQueues {
  readonly core: Core;
  readonly fds = new Map<number, FdWrites>();
  onError: WriteAsyncErrorHandler = defaultHandler;
  /** Set by m.close() before the ring is closed: nothing more is submitted. */
  closed = false;
  constructor(core: Core) {
    this.core = core;
  }

  report(error: unknown, fd: number, dropped: number): void {
    try {
      this.onError(error, fd, dropped);
    } catch (e) {
      queueMicrotask(() => {
        throw e;
      });
    }
  }
}

const machines = new WeakMap<Core, WriteQueues>();

export function writeQueues(core: Core): WriteQueues {
  let w = machines.get(core);
  if (w === undefined) machines.set(core, (w = new WriteQueues(core)));
  return w;
}

/** The queue of one fd: chunks[head..] are not yet (fully) written; `skip` bytes of chunks[head] are. */
class FdWrites {
  readonly #wq: WriteQueues;
  readonly fd: number;
  chunks: Uint8Array[] = [];
  offsets: number[] = [];
  head = 0;
  skip = 0;
  /** An op (write, writev or the EAGAIN poll) is in flight, or a retry is scheduled. */
  busy = false;
  /** The op in flight, if any (cancelled by abort()). */
  #op: Op | null = null;
  /** Closes waiting for the queue to drain (m.close(fd) / closeAsync). */
  closers: (() => void)[] | null = null;
  #iov: Int32Array | null = null;
  /** Bytes to put in the next batch (at least one chunk), and in the last one. */
  #cap = MAX_CAP;
  #asked = 0;

  constructor(wq: WriteQueues, fd: number) {
    this.#wq = wq;
    this.fd = fd;
  }

  get idle(): boolean {
    return !this.busy && this.head >= this.chunks.length;
  }

  readonly onWritten = (n: unknown): void => {
    this.busy = false;
    this.#op = null;
    const res = n as number;
    if (res === 0) {
      // No progress on a non-empty write: do not spin on it.
      this.fail(new UMError(-EIO, this.chunks.length - this.head > 1 ? 'writev' : 'write'));
      return;
    }
    // Size the next batch by what the fd took: a pipe or socket with 64 KiB
    // of room writes 64 KiB of a 1 MiB writev, and the other iovecs were
    // built for nothing.
    if (res < this.#asked) this.#cap = Math.max(MIN_CAP, 2 * res);
    else if (this.#cap < MAX_CAP) this.#cap *= 2;
    let left = res + this.skip;
    const chunks = this.chunks;
    while (this.head < chunks.length && left >= chunks[this.head]!.length) {
      left -= chunks[this.head]!.length;
      chunks[this.head] = EMPTY; // let it be collected: the op's pin is gone too
      this.head++;
    }
    this.skip = left;
    // A writer that never lets the queue drain: drop the written entries
    // now and then instead of only when it is empty.
    if (this.head >= 4096 && this.head * 2 >= chunks.length) {
      chunks.splice(0, this.head);
      this.offsets.splice(0, this.head);
      this.head = 0;
    }
    if (this.#abortError !== NONE) {
      const e = this.#abortError;
      this.#abortError = NONE;
      this.fail(e);
      return;
    }
    this.next();
  };

  readonly onFailed = (e: unknown): void => {
    this.busy = false;
    this.#op = null;
    if (this.#abortError !== NONE) {
      e = this.#abortError;
      this.#abortError = NONE;
      this.fail(e);
      return;
    }
    if (e instanceof UMError && e.errno === EAGAIN && !this.#wq.closed && !this.#wq.core.closed) {
      // A non-blocking fd that is full: wait until it is writable, then go on.
      try {
        this.#pollOut();
        return;
      } catch (err) {
        e = err;
      }
    }
    this.fail(e);
  };

  readonly onWritable = (): void => {
    this.busy = false;
    this.#op = null;
    if (this.#abortError !== NONE) {
      const e = this.#abortError;
      this.#abortError = NONE;
      this.fail(e);
      return;
    }
    this.next();
  };

  readonly #retry = (): void => {
    this.busy = false;
    this.next();
  };

  /** Submit what is queued, or, when nothing is, run the closes waiting for that. */
  next(): void {
    if (this.head < this.chunks.length) {
      const wq = this.#wq;
      if (wq.closed || wq.core.closed) {
        this.fail(new MachineClosedError());
        return;
      }
      try {
        this.#submit();
      } catch (e) {
        if (e instanceof UMError && e.errno === EBUSY) {
          // No SQ slot right now (the SQ is full while a CQE batch is being
          // settled): try again once the event loop has turned.
          this.busy = true;
          setImmediate(this.#retry);
          return;
        }
        this.fail(e);
      }
      return;
    }
    this.chunks.length = 0;
    this.offsets.length = 0;
    this.head = 0;
    this.skip = 0;
    const closers = this.closers;
    if (closers !== null) {
      this.closers = null;
      this.#wq.fds.delete(this.fd);
      for (const c of closers) {
        try {
          c();
        } catch {
          // closeAsync after m.close(): nothing left to close it with
        }
      }
    }
  }

  /**
   * Give up on what is queued (a close from a cancelled scope): the op in
   * flight is cancelled, and once its final CQE is in, everything left is
   * dropped and reported with `error`, then the closes run.
   */
  abort(error: unknown): void {
    if (this.#op !== null) {
      this.#wq.core.cancelOp(this.#op, error);
      this.#abortError = error;
    } else if (this.head < this.chunks.length) this.fail(error);
  }
  #abortError: unknown = NONE;

  /** Drop everything queued and report `error`. */
  fail(error: unknown): void {
    let dropped = -this.skip;
    for (let i = this.head; i < this.chunks.length; i++) dropped += this.chunks[i]!.length;
    this.chunks = [];
    this.offsets = [];
    this.head = 0;
    this.skip = 0;
    this.#wq.report(error, this.fd, dropped);
    this.next();
  }

  #submit(): void {
    const core = this.#wq.core;
    const chunks = this.chunks;
    const offsets = this.offsets;
    const h = this.head;
    const first = chunks[h]!;
    const off0 = offsets[h]!;
    // Chunks that can go in one op: all at the current position, or
    // contiguous in the file from the first one's offset.
    let count = 1;
    let pos = off0 + first.length;
    let bytes = first.length - this.skip;
    const cap = this.#cap;
    while (h + count < chunks.length && count < IOV_MAX && bytes < cap) {
      const o = offsets[h + count]!;
      if (off0 < 0 ? o >= 0 : o !== pos) break;
      const len = chunks[h + count]!.length;
      if (off0 >= 0) pos += len;
      bytes += len;
      count++;
    }
    this.#asked = bytes;
    const skip = this.skip;
    const t = core.tmpl;
    if (count === 1) {
      const op = core.acquire(OP_KINDS.write, undefined);
      t[0] = OPCODES.WRITE;
      t[1] = this.fd;
      setU64(t, 2, off0 < 0 ? -1 : off0 + skip);
      setU64(t, 4, skip);
      t[6] = rwLength(first.length - skip);
      op.pin0 = first;
      op.resolve = this.onWritten;
      op.reject = this.onFailed;
      this.busy = true;
      try {
        core.submit(op, first);
      } catch (e) {
        this.busy = false;
        throw e;
      }
      this.#op = op;
      return;
    }
    const batch = chunks.slice(h, h + count);
    let iov = this.#iov;
    if (iov === null || iov.length < 4 * count) iov = this.#iov = new Int32Array(4 * Math.max(count, 16));
    const n = fillIovecs(iov, batch, skip, count);
    const op = core.acquire(OP_KINDS.writev, undefined);
    t[0] = OPCODES.WRITEV;
    t[1] = this.fd;
    setU64(t, 2, off0 < 0 ? -1 : off0 + skip);
    t[6] = n;
    op.pin0 = iov;
    op.pin1 = batch;
    op.resolve = this.onWritten;
    op.reject = this.onFailed;
    this.busy = true;
    try {
      core.submit(op, iov);
    } catch (e) {
      this.busy = false;
      throw e;
    }
    this.#op = op;
    // The iovec array is in the kernel's hands until the final CQE: a later
    // batch of this fd reuses it only after onWritten/onFailed.
  }

  #pollOut(): void {
    const core = this.#wq.core;
    const op = core.acquire(OP_KINDS.pollOnce, undefined);
    const t = core.tmpl;
    t[0] = OPCODES.POLL_ADD;
    t[1] = this.fd;
    t[7] = POLLOUT;
    op.resolve = this.onWritable;
    op.reject = this.onFailed;
    this.busy = true;
    try {
      core.submit(op);
    } catch (e) {
      this.busy = false;
      throw e;
    }
    this.#op = op;
  }
}

const EMPTY = new Uint8Array(0);

/**
 * Queue `chunk` (bytes, already validated, length > 0) for `fd` at
 * `fileOffset` (-1: the current position) and start writing if nothing is
 * in flight for the fd.
 */
export function writeAsync(core: Core, fd: number, chunk: Uint8Array, fileOffset: number): void {
  if (core.closed) throw new MachineClosedError();
  const wq = writeQueues(core);
  let q = wq.fds.get(fd);
  if (q === undefined) wq.fds.set(fd, (q = new FdWrites(wq, fd)));
  if (q.closers !== null) {
    // Closing: in program order this write comes after close(fd).
    wq.report(new UMError(-EBADF, 'write'), fd, chunk.length);
    return;
  }
  q.chunks.push(chunk);
  q.offsets.push(fileOffset);
  if (!q.busy) q.next();
}

/**
 * If writeAsync data is still queued or in flight for `fd`, run `close`
 * once it is all written (or dropped) and return true; else forget the fd's
 * queue and return false.
 */
export function closeAfterWrites(core: Core, fd: number, close: () => void): boolean {
  const wq = machines.get(core);
  const q = wq?.fds.get(fd);
  if (q === undefined) return false;
  if (q.idle && q.closers === null) {
    wq!.fds.delete(fd);
    return false;
  }
  (q.closers ??= []).push(close);
  // A terminated or timed-out fiber closing its fd in `finally` must not
  // wait for a peer that may never read: drop the data instead.
  const cancelled = scopeError();
  if (cancelled !== NONE) q.abort(cancelled);
  return true;
}

/** The error of the current scope if it (or a parent) was cancelled, else NONE. */
function scopeError(): unknown {
  for (let s = als.getStore() ?? null; s !== null; s = s.parent) if (s.cancelled) return s.error;
  return NONE;
}

/** closeAfterWrites for m.close(fd): null if nothing is queued, else a promise of `close()`'s result once it ran. */
export function closeAfterWritesAwait(core: Core, fd: number, close: () => Promise<void>): Promise<void> | null {
  if (core.closed || !hasWrites(core, fd)) return null;
  return new Promise<void>((resolve) => closeAfterWrites(core, fd, () => resolve(close())));
}

function hasWrites(core: Core, fd: number): boolean {
  const q = machines.get(core)?.fds.get(fd);
  return q !== undefined && (!q.idle || q.closers !== null);
}

/** m.close(): stop submitting writeAsync data; ops in flight are cancelled by the core. */
export function closeWrites(core: Core): void {
  const wq = machines.get(core);
  if (wq !== undefined) wq.closed = true;
}
