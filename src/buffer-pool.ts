/**
 * The automatic buffer pool: provided-buffer rings (IORING_REGISTER_PBUF_RING)
 * that the machine creates, fills, grows and refills by itself, for the ops
 * that pick their buffer at completion time (multishot recv and read,
 * bundles, streams).
 *
 * Memory: the ring of `struct io_uring_buf` entries and the buffers are
 * anonymous mappings made by the native Ring (bufRing, bufAlloc) and handed
 * to JS as external ArrayBuffers. They are freed by the Ring at close, after
 * the ops that could write them have completed (or never, if the drain gave
 * up), and their JS views are detached first. Nothing here depends on GC.
 *
 * A buffer is in one of three places: in the ring (the kernel may pick it),
 * held by the kernel (picked, and with incremental consumption still being
 * filled: CQEs carry IORING_CQE_F_BUF_MORE), or out (its bytes handed to a
 * consumer that has not released them yet). It goes back to the ring as soon
 * as the kernel is done with it and every consumer released it.
 *
 * Incremental consumption (IOU_PBUF_RING_INC, Linux 6.12): the kernel fills
 * one buffer across several completions, each CQE's data starting where the
 * previous one for that buffer ended, so small messages do not each take a
 * whole buffer. Without it (older kernels) each completion takes a whole
 * buffer, and buffers are smaller.
 *
 * Growth: when a multishot op ends with ENOBUFS, the pool adds a slab of
 * buffers (doubling) until `maxBytes`; at the limit the op restarts as soon
 * as a buffer comes back. Memory is reported in metrics().
 * Internal module (not exported by the package).
 */
import { addressOf } from './core.js';
import type { NativeRing } from './native.js';
import { argTypeError, validateInt32 } from './validate.js';

export const F_BUFFER = 1 << 0;
export const F_BUF_MORE = 1 << 4;
const BUFFER_SHIFT = 16;
const PBUF_RING_INC = 2;
const EINVAL = 22;

export interface BufferPoolOptions {
  /** Bytes per buffer. Default 64 KiB with incremental consumption, 16 KiB without. */
  bufferSize?: number;
  /** Buffers in the first slab. Default 16. */
  initialBuffers?: number;
  /** Upper bound of buffer memory for this machine. Default 64 MiB. */
  maxBytes?: number;
  /** Use incremental consumption where the kernel has it. Default true. */
  incremental?: boolean;
}

export interface PoolMetrics {
  /** Bytes of buffer memory allocated. */
  bufferPoolBytes: number;
  /** Buffers allocated. */
  bufferPoolBuffers: number;
  /** Buffers in the ring or held by the kernel (not handed out). */
  bufferPoolFree: number;
  /** Buffers whose bytes a consumer has not released yet. */
  bufferPoolInUse: number;
  /** Times the pool grew or an op restarted for lack of buffers. */
  bufferPoolEnobufs: number;
}

export function validatePoolOptions(o: unknown): BufferPoolOptions {
  if (o === undefined) return {};
  if (o === null || typeof o !== 'object') throw argTypeError('opts.bufferPool', 'of type object', o);
  const p = o as BufferPoolOptions;
  if (p.bufferSize !== undefined) validateInt32(p.bufferSize, 'opts.bufferPool.bufferSize', 1, 1 << 24);
  if (p.initialBuffers !== undefined) validateInt32(p.initialBuffers, 'opts.bufferPool.initialBuffers', 1, 32768);
  if (p.maxBytes !== undefined) validateInt32(p.maxBytes, 'opts.bufferPool.maxBytes', 1, 2 ** 31 - 1);
  return p;
}

function pow2(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}

/** One provided-buffer ring (buffer group) and its buffers. */
export class BufferGroup {
  readonly bgid: number;
  readonly incremental: boolean;
  readonly bufferSize: number;
  readonly #ring: NativeRing;
  readonly #entries: number;
  readonly #mask: number;
  #ringU32: Uint32Array;
  #ringU16: Uint16Array;
  #tail = 0;
  readonly #maxBuffers: number;
  readonly #initial: number;
  /** Per buffer id: a view of its memory, the consumed offset, holders. */
  readonly views: Buffer[] = [];
  readonly #lo: number[] = [];
  readonly #hi: number[] = [];
  readonly #off: number[] = [];
  /** 1 while in the ring or held by the kernel. */
  readonly #inKernel: Uint8Array;
  /** Consumer references (stream segments not yet consumed). */
  readonly #refs: Int32Array;
  /** Ring position each buffer was last placed at (for bundles). */
  readonly #placedAt: Int32Array;
  /** bid placed at each ring position (for bundles). */
  readonly #atPos: Int32Array;
  #free = 0;
  #inUse = 0;
  enobufs = 0;
  #waiters: (() => void)[] = [];
  #closed = false;

  constructor(ring: NativeRing, bgid: number, opts: BufferPoolOptions, incremental: boolean) {
    this.#ring = ring;
    this.bgid = bgid;
    this.bufferSize = opts.bufferSize ?? (incremental ? 65536 : 16384);
    const maxBytes = opts.maxBytes ?? 64 * 1024 * 1024;
    this.#maxBuffers = Math.max(1, Math.min(32768, Math.floor(maxBytes / this.bufferSize)));
    this.#initial = Math.min(opts.initialBuffers ?? 16, this.#maxBuffers);
    this.#entries = pow2(this.#maxBuffers);
    this.#mask = this.#entries - 1;
    let ab: ArrayBuffer;
    try {
      ab = ring.bufRing(bgid, this.#entries, incremental ? PBUF_RING_INC : 0);
    } catch (e) {
      if (!incremental || (e as { errno?: number }).errno !== EINVAL) throw e;
      // The kernel does not know IOU_PBUF_RING_INC (< 6.12): plain buffers.
      incremental = false;
      this.bufferSize = opts.bufferSize ?? 16384;
      ab = ring.bufRing(bgid, this.#entries, 0);
    }
    this.incremental = incremental;
    this.#ringU32 = new Uint32Array(ab);
    this.#ringU16 = new Uint16Array(ab);
    this.#inKernel = new Uint8Array(this.#maxBuffers);
    this.#refs = new Int32Array(this.#maxBuffers);
    this.#placedAt = new Int32Array(this.#maxBuffers);
    this.#atPos = new Int32Array(this.#entries);
    this.#grow(this.#initial);
  }

  get buffers(): number {
    return this.views.length;
  }
  get bytes(): number {
    return this.views.length * this.bufferSize;
  }
  get free(): number {
    return this.#free;
  }
  get inUse(): number {
    return this.#inUse;
  }

  /** Add `n` buffers (one slab) and put them in the ring. */
  #grow(n: number): number {
    n = Math.min(n, this.#maxBuffers - this.views.length);
    if (n <= 0) return 0;
    const slab = Buffer.from(this.#ring.bufAlloc(n * this.bufferSize));
    const base = addressOf(slab);
    for (let i = 0; i < n; i++) {
      const bid = this.views.length;
      const addr = base + i * this.bufferSize;
      this.views.push(slab.subarray(i * this.bufferSize, (i + 1) * this.bufferSize));
      this.#lo.push(addr % 4294967296);
      this.#hi.push(Math.floor(addr / 4294967296));
      this.#off.push(0);
      this.#place(bid);
    }
    this.#publish();
    return n;
  }

  #place(bid: number): void {
    const pos = this.#tail & this.#mask;
    const o = pos * 4;
    const r = this.#ringU32;
    r[o] = this.#lo[bid]!;
    r[o + 1] = this.#hi[bid]!;
    r[o + 2] = this.bufferSize;
    this.#ringU16[pos * 8 + 6] = bid;
    this.#atPos[pos] = bid;
    this.#placedAt[bid] = this.#tail;
    this.#off[bid] = 0;
    this.#inKernel[bid] = 1;
    this.#free++;
    this.#tail = (this.#tail + 1) & 0xffff;
  }

  /** Make placed entries visible to the kernel (store-release of the tail). */
  #publish(): void {
    Atomics.store(this.#ringU16, 7, this.#tail);
  }

  /**
   * Account for a completion that used a buffer: returns the buffer id and
   * sets `this.start` to where its `res` bytes begin. The buffer leaves the
   * kernel unless the CQE says it is still filling it (F_BUF_MORE).
   */
  start = 0;
  take(res: number, flags: number): number {
    const bid = flags >>> BUFFER_SHIFT;
    if (this.incremental) {
      this.start = this.#off[bid]!;
      this.#off[bid] = this.start + (res > 0 ? res : 0);
      if ((flags & F_BUF_MORE) !== 0) return bid;
    } else this.start = 0;
    this.#inKernel[bid] = 0;
    this.#free--;
    return bid;
  }

  /** A consumer keeps a reference to bytes of `bid` (stream segments). */
  ref(bid: number): void {
    if (this.#refs[bid]++ === 0) this.#inUse++;
  }

  /** A consumer is done with bytes of `bid`. */
  unref(bid: number): void {
    if (--this.#refs[bid]! === 0) {
      this.#inUse--;
      this.recycle(bid);
    }
  }

  /** Return `bid` to the ring if the kernel and every consumer are done with it. */
  recycle(bid: number): void {
    if (this.#closed || this.#inKernel[bid] === 1 || this.#refs[bid]! > 0) return;
    this.#place(bid);
    this.#publish();
    if (this.#waiters.length > 0) {
      const ws = this.#waiters;
      this.#waiters = [];
      for (const w of ws) w();
    }
  }

  /**
   * A multishot op ended with ENOBUFS. Grow if the ring is empty and the
   * limit allows; then call `restart` now if the ring has a buffer, or as
   * soon as one comes back.
   */
  starved(restart: () => void): void {
    this.enobufs++;
    // The ring ran dry: demand outran supply, so grow (doubling) while the
    // limit allows, even if buffers have come back since.
    this.#grow(Math.max(this.views.length, this.#initial));
    if (this.#free > 0) restart();
    else this.#waiters.push(restart);
  }

  /**
   * The buffer ids a bundle completion of `res` bytes took: consecutive ring
   * positions starting where `bid` was placed. Each leaves the kernel.
   */
  takeBundle(res: number, flags: number, out: number[]): void {
    const first = flags >>> BUFFER_SHIFT;
    let pos = this.#placedAt[first]!;
    let left = res;
    while (left > 0) {
      const bid = this.#atPos[pos & this.#mask]!;
      out.push(bid);
      this.#inKernel[bid] = 0;
      this.#free--;
      left -= this.bufferSize;
      pos = (pos + 1) & 0xffff;
    }
  }

  close(): void {
    this.#closed = true;
    this.#waiters = [];
  }
}
