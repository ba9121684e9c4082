/**
 * SharedMutex and SharedQueue: synchronisation across worker threads
 * (API.md "Synchronisation"). State lives in a SharedArrayBuffer; a fiber
 * that must wait submits IORING_OP_FUTEX_WAIT on a 32-bit word of it
 * (io_uring_prep_futex_wait(3), Linux ≥ 6.7), so neither its thread nor its
 * event loop blocks; the side that changes the state submits
 * IORING_OP_FUTEX_WAKE (io_uring_prep_futex_wake(3)). Fast paths use Atomics
 * only and submit nothing.
 *
 * Memory layout and protocol: docs/ARCHITECTURE.md, "Synchronisation across threads".
 *
 * Futex flags: FUTEX2_SIZE_U32 | FUTEX2_PRIVATE. A SharedArrayBuffer can only
 * be shared between threads of one process (worker_threads), which share
 * one mm, so process-private futexes are valid and skip the inode/page
 * lookup of shared ones (futex2(2)).
 *
 * Port of UM's Mutex/Queue idea (ext/um/um_sync.c) to shared memory; the
 * lock word protocol is the classic three-state futex mutex (0 free,
 * 1 locked, 2 locked with possible waiters; Drepper, "Futexes Are Tricky").
 */
import type { Core } from './core.js';
import { noop } from './prep.js';
import { UMError } from './errors.js';
import type { OpKind } from './op-kinds.js';
import { NONE, type MultishotListener, type Op } from './op.js';
import { rangeError, argTypeError } from './validate.js';

const EAGAIN = 11;
const EINTR = 4;
const FUTEX2_SIZE_U32 = 0x02;
const FUTEX2_PRIVATE = 128;
const FUTEX_FLAGS = FUTEX2_SIZE_U32 | FUTEX2_PRIVATE;
/** FUTEX_WAIT (51) and FUTEX_WAKE (52), kept local to this module. */
const WAIT_KIND: OpKind = Object.freeze({ opcode: 51, syscall: 'futex_wait', floor: 607, multishot: false, createsFd: false });
const WAKE_KIND: OpKind = Object.freeze({ opcode: 52, syscall: 'futex_wake', floor: 607, multishot: false, createsFd: false });
/** Fast-path attempts at the queue's inner lock before parking on its futex. */
const SPIN = 2000;
/**
 * Runqueue yields an empty (full) queue's taker (putter) makes, re-checking
 * the count, before it registers as a sleeper: between two busy threads the
 * other side usually acts within that window, and a taker that never
 * registers costs the other side no FUTEX_WAKE (one io_uring_enter each).
 */
const SPIN_YIELDS = 16;

/** Let the machine's other ready fibers run (like m.snooze()). */
function snooze(core: Core): Promise<void> {
  core.enterScope();
  return core.yieldTurn();
}

// ---- futex ops ---------------------------------------------------------------

class WaitListener implements MultishotListener {
  resolve: (v: void) => void = noop;
  reject: (e: unknown) => void = noop;
  readonly core: Core;
  readonly word: Int32Array;

  constructor(core: Core, word: Int32Array) {
    this.core = core;
    this.word = word;
  }

  shot(): void {}

  final(res: number, _flags: number, cancelError: unknown): void {
    if (cancelError !== NONE) {
      // Woken and cancelled at once: if the wake was meant for one waiter
      // (a SharedMutex unlock), pass it on rather than lose it.
      if (res === 0) futexWake(this.core, this.word, 1);
      this.reject(cancelError);
    } else if (res >= 0 || res === -EAGAIN || res === -EINTR) this.resolve();
    else this.reject(new UMError(res, 'futex_wait'));
  }
}

/**
 * Wait until `word[0]` is woken, if it still holds `expected` (else resolve
 * at once: EAGAIN). Callers re-check their condition in a loop. The op
 * belongs to the current scope, so timeout/terminate cancel it.
 * @internal
 */
export function futexWait(core: Core, word: Int32Array, expected: number): Promise<void> {
  const scope = core.enterScope();
  const op = core.acquire(WAIT_KIND, scope);
  const l = new WaitListener(core, word);
  const p = new Promise<void>((res, rej) => {
    l.resolve = res;
    l.reject = rej;
  });
  const t = core.tmpl;
  t[0] = WAIT_KIND.opcode;
  t[1] = FUTEX_FLAGS; // the fd field carries the futex2 flags
  t[2] = expected; // addr2: the value (u32, high word 0)
  t[12] = -1; // addr3: mask FUTEX_BITSET_MATCH_ANY (0xffffffff, high word 0)
  op.pin0 = word;
  core.multishot(op, l, word); // addr = &word[0]
  return p;
}

const wakeListener: MultishotListener = { shot: noop, final: noop };

/** Wake up to `n` waiters of `word[0]`. Fire and forget; tracked as a pending op. @internal */
export function futexWake(core: Core, word: Int32Array, n: number): void {
  if (core.closed) return;
  const op = core.acquire(WAKE_KIND, undefined);
  const t = core.tmpl;
  t[0] = WAKE_KIND.opcode;
  t[1] = FUTEX_FLAGS;
  t[2] = n; // addr2: how many to wake
  t[12] = -1;
  op.pin0 = word;
  core.multishot(op, wakeListener, word);
}

// ---- SharedMutex ---------------------------------------------------------------

function checkPlace(sab: unknown, byteOffset: unknown, bytes: number): asserts sab is SharedArrayBuffer {
  if (!(sab instanceof SharedArrayBuffer)) throw argTypeError('sab', 'an instance of SharedArrayBuffer', sab);
  if (typeof byteOffset !== 'number') throw argTypeError('byteOffset', 'of type number', byteOffset);
  if (!Number.isInteger(byteOffset) || byteOffset < 0 || byteOffset % 4 !== 0 || byteOffset + bytes > sab.byteLength) {
    throw rangeError('byteOffset', `a multiple of 4 in [0, ${sab.byteLength - bytes}]`, byteOffset);
  }
}

/**
 * A lock shared by the fibers of several worker threads: one 32-bit word of
 * a SharedArrayBuffer (0 free, 1 locked, 2 locked with waiters). Use
 * `m.synchronize(mu, fn)`. Not FIFO; not reentrant.
 * Kernel floor: Linux ≥ 6.7 (io_uring futex ops) when contended.
 * @example
 * const mu = new SharedMutex();
 * worker.postMessage({ sab: mu.buffer, off: mu.byteOffset });
 * // in the worker: const mu = SharedMutex.from(sab, off);
 * await m.synchronize(mu, async () => { ... });
 */
export class SharedMutex {
  /** Bytes a SharedMutex takes in a SharedArrayBuffer. */
  static readonly BYTES = 4;
  /** @internal the lock word */ readonly word: Int32Array;

  constructor() {
    this.word = new Int32Array(new SharedArrayBuffer(SharedMutex.BYTES), 0, 1);
  }

  /** The mutex at `byteOffset` of `sab` (zeroed memory is an unlocked mutex). Throws RangeError if misaligned. */
  static from(sab: SharedArrayBuffer, byteOffset = 0): SharedMutex {
    checkPlace(sab, byteOffset, SharedMutex.BYTES);
    const mu = Object.create(SharedMutex.prototype) as SharedMutex;
    (mu as { word: Int32Array }).word = new Int32Array(sab, byteOffset, 1);
    return mu;
  }

  /** The SharedArrayBuffer holding the lock word (send it to a worker). */
  get buffer(): SharedArrayBuffer {
    return this.word.buffer as SharedArrayBuffer;
  }

  get byteOffset(): number {
    return this.word.byteOffset;
  }

  /** True while some fiber (of any thread) holds the lock. */
  get isLocked(): boolean {
    return Atomics.load(this.word, 0) !== 0;
  }
}

/** Lock `mu`; undefined if taken at once, else a promise. @internal */
export function sharedLock(core: Core, mu: SharedMutex): Promise<void> | undefined {
  core.enterScope();
  if (Atomics.compareExchange(mu.word, 0, 0, 1) === 0) return undefined;
  return lockWord(core, mu.word);
}

async function lockWord(core: Core, w: Int32Array): Promise<void> {
  // Holders keep the lock briefly: yield a few times before sleeping, which
  // would make every unlock submit a FUTEX_WAKE.
  for (let i = 0; i < SPIN_YIELDS; i++) {
    await snooze(core);
    if (Atomics.load(w, 0) === 0 && Atomics.compareExchange(w, 0, 0, 1) === 0) return;
  }
  for (;;) {
    if (Atomics.exchange(w, 0, 2) === 0) return;
    await futexWait(core, w, 2);
  }
}

/** Release a lock word; wake one waiter if there may be some. @internal */
export function unlockWord(core: Core, w: Int32Array): void {
  if (Atomics.exchange(w, 0, 0) === 2) futexWake(core, w, 1);
}

// ---- SharedQueue ----------------------------------------------------------------

/** Header words (Int32 index from the queue's byteOffset). */
const LOCK = 0;
const COUNT = 1;
const HEAD = 2;
const TAIL = 3;
const USED = 4;
const NOT_EMPTY = 5;
const NOT_FULL = 6;
const CAPACITY = 9;
const SIZE = 10;
const MAGIC = 11;
const HEADER_BYTES = 64;
const MAGIC_VALUE = 0x554d5131; // 'UMQ1'

export interface SharedQueueOptions {
  /** Most items held at once (default 1024). */
  capacity?: number;
  /** Bytes of item storage (default 256 KiB); an item takes its length + 8, rounded up to 4. */
  bytes?: number;
}

function recordBytes(len: number): number {
  return 8 + ((len + 3) & ~3);
}

const EMPTY: unique symbol = Symbol('empty');

/**
 * A bounded FIFO of `Uint8Array | string` items shared by the fibers of
 * several worker threads (a string comes out a string, bytes come out a
 * Buffer). `m.push/unshift` return a Promise for a SharedQueue: it waits
 * while the queue is full. `m.shift/pop` wait while it is empty.
 * Kernel floor: Linux ≥ 6.7 (io_uring futex ops) when waiting.
 * @example
 * const q = new SharedQueue({ capacity: 256 });
 * new Worker(url, { workerData: { sab: q.buffer, off: q.byteOffset } });
 * await m.push(q, 'hello');
 * // in the worker: const q = SharedQueue.from(sab, off); await m.shift(q);
 */
export class SharedQueue {
  /** @internal */ readonly h: Int32Array;
  /** @internal */ readonly lockWord: Int32Array;
  /** @internal */ readonly notEmpty: Int32Array;
  /** @internal */ readonly notFull: Int32Array;
  /** @internal */ readonly u8: Uint8Array;
  /** @internal */ readonly i32: Int32Array;
  /** @internal */ readonly size: number;

  constructor(opts: SharedQueueOptions | number = {}) {
    const o = typeof opts === 'number' ? { capacity: opts } : opts;
    const bytes = SharedQueue.byteLength(o);
    const sab = new SharedArrayBuffer(bytes);
    SharedQueue.#init(sab, 0, o);
    this.h = new Int32Array(sab, 0, HEADER_BYTES / 4);
    this.lockWord = new Int32Array(sab, 0, 1);
    this.notEmpty = new Int32Array(sab, NOT_EMPTY * 4, 1);
    this.notFull = new Int32Array(sab, NOT_FULL * 4, 1);
    this.size = this.h[SIZE]!;
    this.u8 = new Uint8Array(sab, HEADER_BYTES, this.size);
    this.i32 = new Int32Array(sab, HEADER_BYTES, this.size / 4);
  }

  /** Bytes a queue with these options takes in a SharedArrayBuffer. */
  static byteLength(opts: SharedQueueOptions = {}): number {
    const { size } = SharedQueue.#check(opts);
    return HEADER_BYTES + size;
  }

  static #check(opts: SharedQueueOptions): { capacity: number; size: number } {
    if (opts === null || typeof opts !== 'object') throw argTypeError('opts', 'of type object', opts);
    const capacity = opts.capacity ?? 1024;
    const bytes = opts.bytes ?? 256 * 1024;
    if (!Number.isInteger(capacity) || capacity < 1 || capacity > 0x3fffffff) {
      throw rangeError('opts.capacity', 'an integer >= 1', capacity);
    }
    if (!Number.isInteger(bytes) || bytes < 16 || bytes > 0x3fffffff) {
      throw rangeError('opts.bytes', 'an integer >= 16 and < 2^30', bytes);
    }
    return { capacity, size: (bytes + 3) & ~3 };
  }

  static #init(sab: SharedArrayBuffer, off: number, opts: SharedQueueOptions): void {
    const { capacity, size } = SharedQueue.#check(opts);
    const h = new Int32Array(sab, off, HEADER_BYTES / 4);
    h[CAPACITY] = capacity;
    h[SIZE] = size;
    // Publish last: a thread attaching with from() reads MAGIC first.
    Atomics.store(h, MAGIC, MAGIC_VALUE);
  }

  /**
   * The queue at `byteOffset` of `sab`. If that memory holds no queue yet
   * (all zero), one is created there with `opts` — call that from one
   * thread before sharing. Throws RangeError if `byteOffset` is not a
   * multiple of 4 or the queue does not fit.
   */
  static from(sab: SharedArrayBuffer, byteOffset = 0, opts: SharedQueueOptions = {}): SharedQueue {
    checkPlace(sab, byteOffset, HEADER_BYTES);
    const h = new Int32Array(sab, byteOffset, HEADER_BYTES / 4);
    if (Atomics.load(h, MAGIC) !== MAGIC_VALUE) {
      checkPlace(sab, byteOffset, SharedQueue.byteLength(opts));
      SharedQueue.#init(sab, byteOffset, opts);
    }
    const size = h[SIZE]!;
    checkPlace(sab, byteOffset, HEADER_BYTES + size);
    const q = Object.create(SharedQueue.prototype) as SharedQueue;
    const w = q as unknown as Record<string, unknown>;
    w.h = h;
    w.lockWord = new Int32Array(sab, byteOffset, 1);
    w.notEmpty = new Int32Array(sab, byteOffset + NOT_EMPTY * 4, 1);
    w.notFull = new Int32Array(sab, byteOffset + NOT_FULL * 4, 1);
    w.size = size;
    w.u8 = new Uint8Array(sab, byteOffset + HEADER_BYTES, size);
    w.i32 = new Int32Array(sab, byteOffset + HEADER_BYTES, size / 4);
    return q;
  }

  /** The SharedArrayBuffer holding the queue (send it to a worker). */
  get buffer(): SharedArrayBuffer {
    return this.h.buffer as SharedArrayBuffer;
  }

  get byteOffset(): number {
    return this.h.byteOffset;
  }

  /** Items in the queue now (other threads may change it at any time). */
  get count(): number {
    return Atomics.load(this.h, COUNT);
  }

  /** Most items held at once. */
  get capacity(): number {
    return this.h[CAPACITY]!;
  }

  /** @internal Try to take the inner lock without waiting. */
  tryLock(): boolean {
    const w = this.lockWord;
    for (let i = 0; i < SPIN; i++) {
      if (Atomics.load(w, 0) === 0 && Atomics.compareExchange(w, 0, 0, 1) === 0) return true;
    }
    return false;
  }

  // The methods below run with the inner lock held and never await.

  /** @internal Append (or prepend) one record if there is room; false if full. */
  putLocked(bytes: Uint8Array, isString: boolean, front: boolean): boolean {
    const h = this.h;
    const rec = recordBytes(bytes.length);
    if (h[COUNT]! >= h[CAPACITY]! || h[USED]! + rec > this.size) return false;
    const size = this.size;
    const hdr = (bytes.length << 1) | (isString ? 1 : 0);
    let start: number;
    if (front) {
      start = (h[HEAD]! - rec + size) % size;
      h[HEAD] = start;
    } else {
      start = h[TAIL]!;
      h[TAIL] = (start + rec) % size;
    }
    this.i32[start >> 2] = hdr;
    this.copyIn((start + 4) % size, bytes);
    this.i32[((start + rec - 4) % size) >> 2] = hdr;
    h[USED] = h[USED]! + rec;
    Atomics.store(h, COUNT, h[COUNT]! + 1);
    return true;
  }

  /** @internal Take the first (or last) item; EMPTY if none. */
  takeLocked(back: boolean): Buffer | string | typeof EMPTY {
    const h = this.h;
    if (h[COUNT]! === 0) return EMPTY;
    const size = this.size;
    let start: number;
    let hdr: number;
    if (back) {
      hdr = this.i32[((h[TAIL]! - 4 + size) % size) >> 2]!;
      start = (h[TAIL]! - recordBytes(hdr >>> 1) + size) % size;
      h[TAIL] = start;
    } else {
      start = h[HEAD]!;
      hdr = this.i32[start >> 2]!;
      h[HEAD] = (start + recordBytes(hdr >>> 1)) % size;
    }
    const len = hdr >>> 1;
    const out = this.copyOut((start + 4) % size, len);
    h[USED] = h[USED]! - recordBytes(len);
    Atomics.store(h, COUNT, h[COUNT]! - 1);
    return (hdr & 1) !== 0 ? out.toString('utf8') : out;
  }

  /** @internal */ copyIn(pos: number, src: Uint8Array): void {
    const first = Math.min(src.length, this.size - pos);
    if (src.length <= 128) {
      const u8 = this.u8;
      for (let i = 0; i < first; i++) u8[pos + i] = src[i]!;
      for (let i = first; i < src.length; i++) u8[i - first] = src[i]!;
    } else if (first === src.length) this.u8.set(src, pos);
    else {
      this.u8.set(src.subarray(0, first), pos);
      this.u8.set(src.subarray(first), 0);
    }
  }

  /** @internal */ copyOut(pos: number, len: number): Buffer {
    const out = Buffer.allocUnsafe(len);
    const u8 = this.u8;
    const first = Math.min(len, this.size - pos);
    if (len <= 128) {
      // Small items: a plain loop beats both Buffer#copy and set(subarray()).
      for (let i = 0; i < first; i++) out[i] = u8[pos + i]!;
      for (let i = first; i < len; i++) out[i] = u8[i - first]!;
      return out;
    }
    out.set(u8.subarray(pos, pos + first), 0);
    if (first < len) out.set(u8.subarray(0, len - first), first);
    return out;
  }
}

function encode(v: unknown): [Uint8Array, boolean] {
  if (typeof v === 'string') return [Buffer.from(v, 'utf8'), true];
  if (v instanceof Uint8Array) return [v, false];
  throw argTypeError('value', 'of type string or an instance of Uint8Array', v);
}

/**
 * Condition words (NOT_EMPTY, NOT_FULL): bit 0 says "someone sleeps (or is
 * about to) on this word", bits 1-31 are an epoch. A sleeper sets bit 0
 * with the inner lock held, after finding the queue empty (full), and waits
 * for the word to still hold that value. A state change clears the bit and
 * advances the epoch with one compare-exchange, and only the thread that
 * wins it submits FUTEX_WAKE, for all sleepers: one wake per sleep, however
 * many items move meanwhile. A sleeper the wake misses (not yet in the
 * kernel) sees a changed word: EAGAIN, and it looks again.
 */
function prepareSleep(word: Int32Array): number {
  return Atomics.or(word, 0, 1) | 1;
}

function signal(core: Core, word: Int32Array): void {
  const old = Atomics.load(word, 0);
  if ((old & 1) !== 0 && Atomics.compareExchange(word, 0, old, (old + 2) & ~1) === old) {
    futexWake(core, word, 0x7fffffff);
  }
}

/** Release the inner lock, then wake the sleepers the change concerns. */
function release(core: Core, q: SharedQueue, put: boolean): void {
  unlockWord(core, q.lockWord);
  signal(core, put ? q.notEmpty : q.notFull);
}

/** m.push / m.unshift on a SharedQueue. @internal */
export function sharedPut(core: Core, q: SharedQueue, value: unknown, front: boolean): Promise<void> {
  try {
    const [bytes, isString] = encode(value);
    if (recordBytes(bytes.length) > q.size) {
      throw rangeError('value', `at most ${q.size - 8} bytes long for this queue`, bytes.length);
    }
    core.enterScope();
    if (q.tryLock()) {
      if (q.putLocked(bytes, isString, front)) {
        release(core, q, true);
        return Promise.resolve();
      }
      unlockWord(core, q.lockWord);
    }
    return putSlow(core, q, bytes, isString, front);
  } catch (e) {
    return Promise.reject(e);
  }
}

async function putSlow(core: Core, q: SharedQueue, bytes: Uint8Array, isString: boolean, front: boolean): Promise<void> {
  let spun = false;
  for (;;) {
    core.enterScope();
    if (!q.tryLock()) await lockWord(core, q.lockWord);
    if (q.putLocked(bytes, isString, front)) {
      release(core, q, true);
      return;
    }
    if (!spun) {
      spun = true;
      unlockWord(core, q.lockWord);
      const c = Atomics.load(q.h, COUNT);
      for (let i = 0; i < SPIN_YIELDS && Atomics.load(q.h, COUNT) >= c; i++) await snooze(core);
      continue;
    }
    spun = false;
    const seq = prepareSleep(q.notFull);
    unlockWord(core, q.lockWord);
    await futexWait(core, q.notFull, seq);
  }
}

/** Take an item now if there is one (for select's fast path). @internal */
export function sharedTryTake(core: Core, q: SharedQueue): Buffer | string | typeof EMPTY {
  if (Atomics.load(q.h, COUNT) === 0 || !q.tryLock()) return EMPTY;
  const v = q.takeLocked(false);
  if (v === EMPTY) unlockWord(core, q.lockWord);
  else release(core, q, false);
  return v;
}

/** m.shift / m.pop on a SharedQueue. @internal */
export function sharedTake(core: Core, q: SharedQueue, back: boolean): Promise<Buffer | string> {
  try {
    core.enterScope();
    if (q.tryLock()) {
      const v = q.takeLocked(back);
      if (v !== EMPTY) {
        release(core, q, false);
        return Promise.resolve(v);
      }
      unlockWord(core, q.lockWord);
    }
    return takeSlow(core, q, back);
  } catch (e) {
    return Promise.reject(e);
  }
}

async function takeSlow(core: Core, q: SharedQueue, back: boolean): Promise<Buffer | string> {
  let spun = false;
  for (;;) {
    core.enterScope();
    if (!q.tryLock()) await lockWord(core, q.lockWord);
    const v = q.takeLocked(back);
    if (v !== EMPTY) {
      release(core, q, false);
      return v;
    }
    if (!spun) {
      spun = true;
      unlockWord(core, q.lockWord);
      for (let i = 0; i < SPIN_YIELDS && Atomics.load(q.h, COUNT) === 0; i++) await snooze(core);
      continue;
    }
    spun = false;
    const seq = prepareSleep(q.notEmpty);
    unlockWord(core, q.lockWord);
    await futexWait(core, q.notEmpty, seq);
  }
}

/**
 * For select(): a futex wait on NOT_EMPTY that is not linked to any scope
 * (select withdraws it itself with cancelOp). `onOp` receives the op while
 * it is in flight; the promise resolves with the raw CQE result (0 if woken,
 * even when cancelled at the same time) and never rejects.
 */
function waitRaw(core: Core, word: Int32Array, expected: number, onOp: (op: Op | null) => void): Promise<number> {
  return new Promise<number>((resolve) => {
    const op = core.acquire(WAIT_KIND, undefined);
    const t = core.tmpl;
    t[0] = WAIT_KIND.opcode;
    t[1] = FUTEX_FLAGS;
    t[2] = expected;
    t[12] = -1;
    op.pin0 = word;
    core.multishot(op, { shot: noop, final: (res) => {
      onOp(null);
      resolve(res);
    } }, word);
    onOp(op);
  });
}

/** The parts of a select() a SharedQueue case needs. @internal */
export interface SharedSelection {
  settled: boolean;
  pendingOps: number;
  ops: (Op | null)[];
  win(i: number, v: unknown, isError: boolean): boolean;
  finish(): void;
}

/**
 * Case `i` of a select(): take an item if there is one, else wait on
 * NOT_EMPTY (as a registered consumer) and try again, until this or another
 * case wins. A wake consumed after another case won is passed on, and the
 * selection counts this watcher among its pending ops, so select settles
 * only once its futex wait has completed. @internal
 */
export function watchShared(core: Core, sel: SharedSelection, i: number, q: SharedQueue): void {
  sel.pendingOps++;
  const setOp = (op: Op | null): void => {
    sel.ops[i] = op;
  };
  void (async () => {
    try {
      for (;;) {
        if (sel.settled) return;
        if (!q.tryLock()) await lockWord(core, q.lockWord);
        if (sel.settled) {
          unlockWord(core, q.lockWord);
          return;
        }
        const v = q.takeLocked(false);
        if (v !== EMPTY) {
          release(core, q, false);
          sel.win(i, v, false);
          return;
        }
        const seq = prepareSleep(q.notEmpty);
        unlockWord(core, q.lockWord);
        await waitRaw(core, q.notEmpty, seq, setOp);
      }
    } catch (e) {
      sel.win(i, e, true);
    } finally {
      sel.pendingOps--;
      sel.finish();
    }
  })();
}

export { EMPTY };

