/**
 * The engine: owns the ring, the op table and the runqueue, and runs the
 * machine's turn: submit prepared SQEs and reap CQEs in one native call,
 * settle the ops they complete, then resume at most `maxSwitches` entries of
 * the runqueue before turning to I/O again.
 *
 * When turns run (docs/ARCHITECTURE.md, "Event loop"):
 * - as a microtask, after code that prepared an op or made a fiber ready, so
 *   every op issued in one synchronous stretch (and by every fiber resumed
 *   from one batch) is submitted with one io_uring_enter;
 * - after CHAIN_LIMIT consecutive microtask turns, as a setImmediate, so
 *   timers, node:net and node:fs get their turn of the event loop;
 * - when libuv reports the ring's eventfd readable (completions or deferred
 *   task work are waiting).
 * Internal module (not exported by the package).
 */
import { AsyncLocalStorage } from 'node:async_hooks';

import { MachineClosedError, Terminate, UMError } from './errors.js';
import { Fiber, ParkWait, type Scheduler } from './fiber.js';
import { native, type NativeRing } from './native.js';
import { OPCODES, type OpKind } from './op-kinds.js';
import { NONE, Op, OpState, Task, type MultishotListener, type Scope } from './op.js';
import { RunQueue, type Resume } from './runqueue.js';
import { KERNEL_VERSION } from './prep.js';
import { BufferGroup, type BufferPoolOptions } from './buffer-pool.js';

const F_MORE = 1 << 1;
const ETIME = 62;
const EBUSY = 16;
const ENOENT = 2;
const EALREADY = 114;
const ECANCELED = 125;
/**
 * user_data high word for internal SQEs (cancels): the low byte is the tag,
 * bits 8-31 the target op's generation (a targeted cancel's low word is the
 * op id), so a missed cancel can be told apart from a record reused since.
 */
const TAG_INTERNAL = 1;
const GEN_MASK = 0xffffff;
/**
 * user_data high word low bytes of CQEs another ring posted to this one with
 * IORING_OP_MSG_RING (src/msg-ring.ts): a value (MSG_DATA) or a direct
 * descriptor (MSG_SEND_FD); bits 8-31 are the serial of the ring the sender
 * meant. Never 0, so never taken for an op id (high word 0).
 */
export const TAG_MSG = 2;
export const TAG_MSG_FD = 3;
/** CQEs copied out per native call. */
const BATCH = 1024;
/** Consecutive microtask turns before yielding to the event loop. */
const CHAIN_LIMIT = 64;
const CANCEL_ANY = 1 << 2;
const CANCEL_ALL = 1 << 0;
const CANCEL_FD = 1 << 1;
const TIMEOUT_MULTISHOT = 1 << 6;
const CQ_EVENTFD_DISABLED = 1 << 0;
/** The idle check's first and longest delays (Core.#armIdleWatch). */
const IDLE_WATCH_MIN_MS = 1;
const IDLE_WATCH_MAX_MS = 64;
const SQ_CQ_OVERFLOW = 1 << 1;
const SQ_TASKRUN = 1 << 2;
const IOSQE_IO_LINK = 1 << 2;

/** Buffers pinned by ops the kernel did not finish before their ring was closed. */
const graveyard: unknown[] = [];

/** The fiber/scope context of running code. */
export const als = new AsyncLocalStorage<Scope>();

/** Base address of each ArrayBuffer handed to the kernel (stable while not detached). */
const addresses = new WeakMap<ArrayBufferLike, number>();
let lastBuffer: ArrayBufferLike | null = null;
let lastBase = 0;

/** The address of view's first byte. */
export function addressOf(view: ArrayBufferView): number {
  const ab = view.buffer;
  if (ab === lastBuffer) return lastBase + view.byteOffset;
  let base = addresses.get(ab);
  if (base === undefined) {
    base = native.addressOf(view);
    addresses.set(ab, base);
  }
  lastBuffer = ab;
  lastBase = base;
  return base + view.byteOffset;
}

/** Add view's address to the u64 template field at words i, i+1. */
function addAddress(t: Int32Array, i: number, view: ArrayBufferView): void {
  const v = (t[i]! >>> 0) + (t[i + 1]! >>> 0) * 4294967296 + addressOf(view);
  t[i] = v % 4294967296 | 0;
  t[i + 1] = (v / 4294967296) | 0;
}

/**
 * Write struct iovec entries (u64 base, u64 len) for bufs into out, skipping
 * the first `skip` bytes of their concatenation (what a short write already
 * wrote), at most `max` entries. Returns the number written. The caller pins
 * out and bufs until the op's final CQE.
 */
export function fillIovecs(out: Int32Array, bufs: readonly Uint8Array[], skip: number, max: number): number {
  let n = 0;
  for (let i = 0; i < bufs.length && n < max; i++) {
    const b = bufs[i]!;
    let len = b.length;
    if (skip >= len) {
      skip -= len;
      continue;
    }
    const base = addressOf(b) + skip;
    len -= skip;
    skip = 0;
    const o = n << 2;
    out[o] = base % 4294967296 | 0;
    out[o + 1] = (base / 4294967296) | 0;
    // iov_len is a u64: a chunk of 4 GiB or more must not wrap (the kernel
    // caps the whole transfer at MAX_RW_COUNT and reports a short count).
    out[o + 2] = len % 4294967296 | 0;
    out[o + 3] = (len / 4294967296) | 0;
    n++;
  }
  return n;
}

// The executors below receive their target through a module-level slot (a
// closure per promise would cost an allocation per op); each slot is cleared
// as soon as the promise is made, or it would keep the last machine (its
// ring fd, eventfd and pool) reachable after the user dropped it.
let executorOp: Op | null = null;
function opExecutor(resolve: (v: unknown) => void, reject: (e: unknown) => void): void {
  executorOp!.resolve = resolve;
  executorOp!.reject = reject;
}
let executorWait: ParkWait | null = null;
let executorCore: Core | null = null;
function yieldExecutor(resolve: (v: void) => void): void {
  executorCore!.schedule(resolve as (v: unknown) => void, undefined);
}
function waitExecutor(resolve: (v: unknown) => void, reject: (e: unknown) => void): void {
  executorWait!.resolve = resolve;
  executorWait!.reject = reject;
}

/**
 * How many runqueue resumptions a turn runs before it turns to I/O again
 * (validated by the facade, src/balance.ts):
 * - fixed: always `limit`;
 * - share: `ceil(share * runqueue length)` within [min, max], and `min` while
 *   completions or deferred task work already wait in the ring;
 * - latency: steered so that the CPU time between two I/O passes, measured
 *   over sampled windows of turns, approaches `targetMs` (the default).
 */
export type SwitchPolicy =
  | { kind: 'fixed'; limit: number }
  | { kind: 'share'; share: number; min: number; max: number }
  | { kind: 'latency'; targetMs: number; min: number; max: number };

export interface CoreOptions {
  entries: number;
  sqpollIdleMs: number;
  maxSwitches: SwitchPolicy;
  bufferPool?: BufferPoolOptions;
  /** Capture the submitting caller's stack for each op (UringMachineOptions.stackTraces). */
  stackTraces?: boolean;
}

/** Holds a stack captured at submission (Error.captureStackTrace). */
class Site {
  declare stack: string;
}

/** A kernel error whose stack is the one captured where the op was submitted. */
function withSite(err: UMError, site: Site): UMError {
  const frames = site.stack.slice(site.stack.indexOf('\n') + 1);
  err.stack = `${err.name}: ${err.message}\n${frames}`;
  return err;
}

const POLICY_FIXED = 0;
const POLICY_SHARE = 1;
const POLICY_LATENCY = 2;
/** Busy turns (the limit was used up) per clock sample of the latency policy. */
const SAMPLE_TURNS = 16;
/**
 * The latency policy's clock: the process's CPU time in ms (getrusage, about
 * 1 µs a read, so once per SAMPLE_TURNS busy turns), not wall time. Time the
 * process spends preempted by others is no runqueue work a smaller limit
 * could cut, and counting it made the limit swing on a shared machine
 * (bench/RESULTS.md, "Balancing").
 */
function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

/** Buffer group ids: the main pool, and plain (non-incremental) buffers for bundles. */
const BGID_POOL = 0;
const BGID_BUNDLE = 1;

/** Where a machine's MSG_RING CQEs go (src/msg-ring.ts). */
export interface Inbox {
  /**
   * A CQE tagged TAG_MSG / TAG_MSG_FD: its user_data words and res. Called
   * inside the CQE batch. False if the message is not for this ring (the
   * core then frees a descriptor's slot).
   */
  post(lo: number, hi: number, res: number): boolean;
}

/**
 * A completed op's result that nobody will see (its op is rejected with its
 * cancel error): close the fd it created, or let its kind undo what else it
 * delivered (OpKind.reclaim: recvFd's received descriptor).
 */
function reclaim(kind: OpKind, res: number, op: Op): boolean {
  if (kind.createsFd) native.closeSync(res);
  else if (kind.reclaim !== undefined) kind.reclaim(res, op);
  else return false; // a count (bytes): nothing to undo
  return true;
}

export class Core implements Scheduler {
  readonly ring: NativeRing;
  readonly tmpl = new Int32Array(16);
  /** CQE batch (4 words each), then 4 state words the native side reads at teardown. */
  readonly cqes = new Int32Array(4 * BATCH + 4);
  /** [0] ops pending, [1] SQ tail: what native/js_machine.c needs to drain at env teardown. */
  readonly #state = new Int32Array(this.cqes.buffer, 4 * 4 * BATCH, 4);
  readonly size: number;
  readonly probe: Uint8Array;
  readonly runq = new RunQueue();
  /**
   * Resumptions made while a CQE batch is settled (a multishot shot waking
   * its iterator's fiber, ...): run at the start of the next turn's runqueue
   * step, ahead of the runqueue and outside its limit, like the one-shot
   * completions that resolve their promises directly. Behind a long
   * runqueue they would wait for all of it however small the limit.
   */
  readonly #ioq = new RunQueue(64);
  readonly fibers = new Set<Fiber>();
  /** The owner of waits made outside any fiber or scope (top-level shift, select...). */
  readonly orphans = new Task();
  /** Tasks of scopes opened outside fibers (timeout/cancellable at top level), while they run. */
  readonly tasks = new Set<Task>();

  /** The mmapped SQE array (16 x int32 per SQE) and the kernel's SQ head. */
  readonly #sqes: Int32Array;
  readonly #sqHead: Uint32Array;
  readonly #sqMask: number;
  readonly #sqEntries: number;
  /** SQEs filled by us; published to the kernel by the next native enter. */
  tail: number;
  /** The kernel's SQ head as last read: it only moves forward, so a stale value is safe. */
  #headSeen = 0;
  /** The SQ tail handed to the last native flush. */
  #flushedTail = -1;
  /** sq_flags, cq_flags, CQ head and tail words of the mapped ring (eventfd switch). */
  readonly #sqFlags: Uint32Array;
  readonly #cqFlags: Uint32Array | null;
  readonly #cqHead: Uint32Array;
  readonly #cqTail: Uint32Array;
  #eventfdOff = false;
  /** True while a CQE batch is being settled (the batch array is in use). */
  #processing = false;
  /** Cancels that found no SQ slot; queued again after the current batch. */
  #deferredCancels: (Op | number)[] = [];
  /** Slots of unreceived MSG_SEND_FD descriptors the SQ had no room to close yet (see #closeSlot). */
  #deferredSlotCloses: number[] = [];
  readonly #cancelTmpl = new Int32Array(16);
  readonly #sqpoll: boolean;

  #ops: Op[] = [];
  #free: number[] = [];
  /** Ops prepared or submitted whose final CQE has not been reaped. */
  pending = 0;
  closed = false;
  #active = false;
  #flushScheduled = false;
  #chain = 0;
  #idleCheckScheduled = false;
  #finishSeq = 0;

  /** The switch limit the last turn used (the fixed limit, or the policy's current value). */
  maxSwitches: number;
  readonly #policy: number;
  readonly #share: number;
  readonly #minSwitches: number;
  readonly #maxSwitches: number;
  readonly #targetMs: number;
  /** Latency policy: busy turns and the CPU clock (ms) since the sample window opened (-1: closed). */
  #windowTurns = 0;
  #windowStart = -1;
  /** Turns run (I/O passes) since the machine was created. */
  totalTurns = 0;

  totalOps = 0;
  totalSwitches = 0;
  totalWaits = 0;
  transient = 0;
  /** Cancels that lost the race to their op's successful completion. */
  cancelRaces = 0;
  /** Idle checks that found completions or task work the eventfd had not announced. */
  wakeupsMissed = 0;
  /** The idle check's timer (armed while ops are pending and no turn is coming), and its delay. */
  #idleWatch: ReturnType<typeof setTimeout> | null = null;
  #idleWatchMs = IDLE_WATCH_MIN_MS;
  /** True while close() cancels and drains: cancelled ops then always reject. */
  #closing = false;

  onUnhandledFiberError: (error: unknown, fiber: Fiber) => void = defaultUnhandled;

  /** This ring's process-wide serial (native/js_machine.c), for MSG_RING addresses. */
  readonly serial: number;
  /** Set by src/msg-ring.ts once the machine can be messaged: MSG_RING CQEs go there. */
  inbox: Inbox | null = null;
  /** Waits that are not ops but keep the event loop alive (a pending m.receive()). */
  holds = 0;

  readonly #poolOptions: BufferPoolOptions;
  #pool: BufferGroup | null = null;
  #bundlePool: BufferGroup | null = null;

  /** The machine's buffer pool, created on first use. */
  get pool(): BufferGroup {
    if (this.#pool === null) {
      if (this.closed) throw new MachineClosedError();
      const kv = KERNEL_VERSION;
      const inc = this.#poolOptions.incremental !== false && kv >= 612;
      this.#pool = new BufferGroup(this.ring, BGID_POOL, this.#poolOptions, inc);
    }
    return this.#pool;
  }

  /** Plain buffers (whole buffer per completion) for bundled recv. */
  get bundlePool(): BufferGroup {
    if (this.#bundlePool === null) {
      if (this.closed) throw new MachineClosedError();
      this.#bundlePool = new BufferGroup(this.ring, BGID_BUNDLE, this.#poolOptions, false);
    }
    return this.#bundlePool;
  }

  readonly #flushTask = (): void => {
    this.#flushScheduled = false;
    this.turn();
  };
  readonly #immediateTask = (): void => {
    this.#chain = 0;
    this.#flushScheduled = false;
    this.turn();
  };
  /**
   * Called by libuv when the eventfd fires. The native side holds it weakly
   * while the machine is idle, so the machine itself must own it: a closure
   * held by nothing else was collected by an early GC and every later
   * wake-up was lost (test/process.test.ts, other-process-writes).
   */
  readonly #onWake = (): void => {
    this.#chain = 0;
    this.turn();
  };
  readonly #idleCheck = (): void => {
    this.#idleCheckScheduled = false;
    if (this.pending === 0 && this.holds === 0 && this.#active && !this.closed) {
      this.#active = false;
      this.ring.setActive(false);
    }
  };

  /** Capture each op's submitting stack for its UMError (costs a stack capture per op). */
  readonly stackTraces: boolean;

  constructor(opts: CoreOptions) {
    this.stackTraces = opts.stackTraces === true;
    this.#poolOptions = opts.bufferPool ?? {};
    this.#sqpoll = opts.sqpollIdleMs >= 0;
    this.ring = new native.Ring(opts.entries, opts.sqpollIdleMs, this.tmpl, this.cqes, this.#onWake);
    const info = this.ring.info();
    this.size = info.sqEntries;
    this.serial = info.serial;
    const map = this.ring.map();
    this.#sqes = new Int32Array(map.sqes);
    this.#sqHead = new Uint32Array(map.sqRing, map.sqHead, 1);
    this.#sqMask = map.sqMask;
    this.#sqEntries = map.sqEntries;
    this.tail = map.tail;
    this.#state[1] = this.tail;
    this.#headSeen = Atomics.load(this.#sqHead, 0);
    this.#sqFlags = new Uint32Array(map.sqRing, map.sqFlags, 1);
    this.#cqHead = new Uint32Array(map.sqRing, map.cqHead, 1);
    this.#cqTail = new Uint32Array(map.sqRing, map.cqTail, 1);
    // The eventfd switch relies on the lock-prefixed RMW ordering of x86-64
    // on both sides (see #eventfdOn); elsewhere the eventfd just stays on.
    this.#cqFlags = map.cqFlags > 0 && process.arch === 'x64' ? new Uint32Array(map.sqRing, map.cqFlags, 1) : null;
    this.probe = this.ring.probe();
    const p = opts.maxSwitches;
    if (p.kind === 'fixed') {
      this.#policy = POLICY_FIXED;
      this.#share = 0;
      this.#minSwitches = this.#maxSwitches = p.limit;
      this.#targetMs = 0;
    } else {
      this.#policy = p.kind === 'share' ? POLICY_SHARE : POLICY_LATENCY;
      this.#share = p.kind === 'share' ? p.share : 0;
      this.#minSwitches = p.min;
      this.#maxSwitches = p.max;
      this.#targetMs = p.kind === 'latency' ? p.targetMs : 0;
    }
    this.maxSwitches = p.kind === 'fixed' ? p.limit : Math.min(p.max, Math.max(p.min, 64));
  }

  // ---- Scheduler -----------------------------------------------------------

  schedule(fn: Resume, arg: unknown): void {
    (this.#processing ? this.#ioq : this.runq).push(fn, arg);
    this.#scheduleFlush();
  }

  #scheduleFlush(): void {
    if (this.#flushScheduled || this.closed) return;
    this.#flushScheduled = true;
    // A turn is coming that will enter the kernel anyway: spare the kernel
    // the eventfd signal (and libuv the wake-up) for every completion batch.
    if (!this.#eventfdOff && this.#cqFlags !== null) {
      Atomics.or(this.#cqFlags, 0, CQ_EVENTFD_DISABLED);
      this.#eventfdOff = true;
    }
    if (this.#chain < CHAIN_LIMIT) {
      this.#chain++;
      queueMicrotask(this.#flushTask);
    } else {
      setImmediate(this.#immediateTask);
    }
  }

  /** One turn of the machine: I/O, then at most maxSwitches resumptions. */
  turn(): void {
    if (this.closed) return;
    this.reap();
    this.totalTurns++;
    const policy = this.#policy;
    let limit = this.maxSwitches;
    if (policy === POLICY_SHARE) limit = this.#shareLimit();
    let io = 0;
    while (this.#ioq.runOne()) io++;
    let k = 0;
    while (k < limit && this.runq.runOne()) k++;
    this.totalSwitches += k + io;
    if (policy === POLICY_LATENCY) {
      // Only turns that used up their budget say anything about the cost of
      // a switch; a turn that emptied the runqueue ends the window (what
      // follows it may be idle time, not work).
      if (k === limit && this.runq.length > 0) {
        if (this.#windowStart < 0) {
          this.#windowStart = cpuMs();
          this.#windowTurns = 0;
        } else if (++this.#windowTurns === SAMPLE_TURNS) this.#steer();
      } else this.#windowStart = -1;
    }
    if (this.runq.length > 0) this.#scheduleFlush();
    else if (this.#eventfdOff && !this.#flushScheduled) this.#eventfdOn();
    if (!this.#flushScheduled && this.#idleWatch === null && (this.pending > 0 || this.holds > 0)) this.#armIdleWatch();
    if (this.pending === 0 && this.holds === 0 && this.#active && !this.#idleCheckScheduled) {
      // Deactivate later, not now: a fiber resumed by this turn is likely to
      // issue its next op in a microtask, and ref/unref would thrash.
      this.#idleCheckScheduled = true;
      setImmediate(this.#idleCheck);
    }
  }

  /**
   * The share policy's limit: a share of the runqueue as it stands, within
   * [min, max]; only `min` while the ring already holds completions or
   * deferred task work (both free loads of the mapped ring words), so that a
   * long runqueue does not hold back I/O that is ready.
   */
  #shareLimit(): number {
    if (
      (Atomics.load(this.#sqFlags, 0) & SQ_TASKRUN) !== 0 ||
      Atomics.load(this.#cqTail, 0) !== Atomics.load(this.#cqHead, 0)
    ) {
      return (this.maxSwitches = this.#minSwitches);
    }
    const n = Math.ceil(this.runq.length * this.#share);
    return (this.maxSwitches = n < this.#minSwitches ? this.#minSwitches : n > this.#maxSwitches ? this.#maxSwitches : n);
  }

  /**
   * The latency policy, once per SAMPLE_TURNS busy turns: the mean (CPU)
   * time between two I/O passes over the window against the target; the limit is
   * scaled by their ratio (at most 2x either way per window, so that one
   * noisy window, a GC pause, cannot swing it), within [min, max].
   */
  #steer(): void {
    const now = cpuMs();
    const interval = (now - this.#windowStart) / SAMPLE_TURNS;
    this.#windowStart = now;
    this.#windowTurns = 0;
    let ratio = interval > 0 ? this.#targetMs / interval : 2;
    if (ratio > 2) ratio = 2;
    else if (ratio < 0.5) ratio = 0.5;
    const next = Math.round(this.maxSwitches * ratio);
    this.maxSwitches = next < this.#minSwitches ? this.#minSwitches : next > this.#maxSwitches ? this.#maxSwitches : next;
  }

  /**
   * Re-enable eventfd notifications, then look for work that arrived while
   * they were off: the kernel sets IORING_SQ_TASKRUN before it checks
   * IORING_CQ_EVENTFD_DISABLED, we clear the flag before we check TASKRUN and
   * the CQ, and both are locked RMWs/loads on x86-64, so one of the two sides
   * sees the other: either the eventfd fires or we schedule a turn.
   */
  #eventfdOn(): void {
    Atomics.and(this.#cqFlags!, 0, ~CQ_EVENTFD_DISABLED);
    this.#eventfdOff = false;
    if (this.#workWaiting()) this.#scheduleFlush();
  }

  /** Completions in the CQ, deferred task work or an overflow: free loads of the mapped ring words. */
  #workWaiting(): boolean {
    return (
      (Atomics.load(this.#sqFlags, 0) & (SQ_TASKRUN | SQ_CQ_OVERFLOW)) !== 0 ||
      Atomics.load(this.#cqTail, 0) !== Atomics.load(this.#cqHead, 0)
    );
  }

  /**
   * The idle check: a machine that waits with ops in flight relies on the
   * ring's eventfd to be woken, and the kernel does not always signal it at
   * once. io_uring/eventfd.c defers a signal raised where eventfd signals
   * are not allowed (current->in_eventfd) to an RCU callback, a grace period
   * later (measured on Linux 6.18.44: 15-20 ms per wake-up, on most round
   * trips of an echo server whose client is a Node process). The flag
   * words it sets first (IORING_SQ_TASKRUN, the CQ tail) are reliable, so
   * a timer looks at them: after IDLE_WATCH_MIN_MS, then doubling to
   * IDLE_WATCH_MAX_MS while it finds nothing; what it finds runs a turn and
   * is counted (metrics().wakeupsMissed), and the delay starts over.
   */
  #armIdleWatch(): void {
    const t = setTimeout(this.#idleWatchTask, this.#idleWatchMs);
    t.unref(); // the poll handle keeps the loop alive while ops are pending
    this.#idleWatch = t;
  }

  readonly #idleWatchTask = (): void => {
    this.#idleWatch = null;
    if (this.closed || (this.pending === 0 && this.holds === 0)) {
      this.#idleWatchMs = IDLE_WATCH_MIN_MS;
      return;
    }
    if (this.#flushScheduled) return; // a turn is coming: it arms the watch again
    if (this.#workWaiting()) {
      this.wakeupsMissed++;
      this.#idleWatchMs = IDLE_WATCH_MIN_MS;
      this.#chain = 0;
      this.turn(); // arms the watch again if ops are still pending
      return;
    }
    if (this.#idleWatchMs < IDLE_WATCH_MAX_MS) this.#idleWatchMs *= 2;
    this.#armIdleWatch();
  };

  /**
   * Keep the event loop alive for a wait that is not an op (a receive()
   * waiting for another ring's message): the eventfd that will announce it
   * must stay ref'd. unhold() when the wait ends.
   */
  hold(): void {
    this.holds++;
    if (!this.#active && !this.closed) {
      this.#active = true;
      this.ring.setActive(true);
    }
  }

  unhold(): void {
    if (this.holds > 0) this.holds--;
    if (this.holds === 0 && this.pending === 0 && this.#active && !this.#idleCheckScheduled && !this.closed) {
      this.#idleCheckScheduled = true;
      setImmediate(this.#idleCheck);
    }
  }

  // ---- Ops -----------------------------------------------------------------

  /** The current scope, checked for a pending error. Throws it if there is one. */
  enterScope(): Scope | undefined {
    if (this.closed) throw new MachineClosedError();
    const scope = als.getStore();
    if (scope !== undefined) {
      const e = scope.pendingError();
      if (e !== NONE) throw e;
    }
    return scope;
  }

  /** Take a free op record for `kind`, owned by the current scope. */
  acquire(kind: OpKind, scope: Scope | undefined): Op {
    let op: Op;
    const id = this.#free.pop();
    if (id !== undefined) op = this.#ops[id]!;
    else {
      op = new Op(this.#ops.length, this);
      this.#ops.push(op);
    }
    op.kind = kind;
    op.state = OpState.PREPPED;
    if (scope !== undefined) {
      op.scope = scope;
      scope.task.link(op);
    }
    return op;
  }

  /**
   * Copy the template (filled by the caller) into an SQE for `op`, with the
   * buffers' addresses patched in, and schedule the submit.
   */
  submit(op: Op, a?: ArrayBufferView | null, b?: ArrayBufferView | null, c?: ArrayBufferView | null): void {
    const t = this.tmpl;
    if (this.closed) {
      t.fill(0);
      this.#release(op);
      throw new MachineClosedError();
    }
    t[8] = op.id;
    t[9] = 0;
    if (a) addAddress(t, 4, a);
    if (b) addAddress(t, 2, b);
    if (c) addAddress(t, 12, c);
    if (!this.#push()) {
      t.fill(0);
      this.#release(op);
      throw new UMError(-EBUSY, op.kind!.syscall);
    }
    this.#state[0] = ++this.pending;
    this.totalOps++;
    if (!this.#active) {
      this.#active = true;
      this.ring.setActive(true);
    }
    this.#scheduleFlush();
  }

  /**
   * Copy the template into the next SQE slot of the mapped SQ and zero it.
   * When the SQ is full, submit (and, if the kernel still holds every slot,
   * reap) first. Returns false only if no slot could be had.
   */
  #push(src: Int32Array = this.tmpl): boolean {
    if (((this.tail - this.#headSeen) >>> 0) >= this.#sqEntries && !this.#makeRoom()) return false;
    // Read the tail only now: making room may have settled ops that queued SQEs.
    const tail = this.tail;
    // A plain copy loop: 2-3x faster than TypedArray#set + fill for 16 words.
    const q = this.#sqes;
    const o = (tail & this.#sqMask) << 4;
    for (let i = 0; i < 16; i++) {
      q[o + i] = src[i]!;
      src[i] = 0;
    }
    this.tail = (tail + 1) >>> 0;
    this.#state[1] = this.tail;
    return true;
  }

  /** The SQ looked full: re-read the kernel's head, submit, reap if need be. */
  #makeRoom(): boolean {
    const full = (): boolean => {
      this.#headSeen = Atomics.load(this.#sqHead, 0);
      return ((this.tail - this.#headSeen) >>> 0) >= this.#sqEntries;
    };
    if (!full()) return true;
    this.ring.submit(this.tail);
    if (!full()) return true;
    // Reaping would overwrite the CQE batch being processed: not from inside it.
    if (this.#processing) return false;
    // Settling ops may queue SQEs (cancels, multishot restarts) through the
    // template, which holds the SQE being pushed: keep it aside meanwhile.
    const saved = this.tmpl.slice();
    this.reap();
    this.tmpl.set(saved);
    return !full();
  }

  /**
   * Zero-copy sends whose notification has not come (src/zc.ts), for the
   * teardown drain (native/js_machine.c): the kernel holds their pages, and
   * a notification is no request a cancel can find.
   */
  setZcInFlight(n: number): void {
    this.#state[3] = n;
  }

  /** Free SQ slots now (the kernel's head re-read): SQEs that can be queued without a submit. */
  sqSpace(): number {
    this.#headSeen = Atomics.load(this.#sqHead, 0);
    return this.#sqEntries - ((this.tail - this.#headSeen) >>> 0);
  }

  // ---- Linked SQEs (issue 15, src/link.ts) --------------------------------

  /**
   * The op id in the SQE pushed last, if that SQE is still ours to change
   * (not taken by the kernel yet: the tail is published only by a flush),
   * else -1. Linked chains and link timeouts patch its flags.
   */
  lastUnsubmitted(): number {
    if (this.tail === (this.#flushedTail >>> 0) || (this.tail - Atomics.load(this.#sqHead, 0)) >>> 0 === 0) return -1;
    const o = ((this.tail - 1) & this.#sqMask) << 4;
    return this.#sqes[o + 9] === 0 ? this.#sqes[o + 8]! : -1;
  }

  /** OR sqe->flags bits (IOSQE_IO_LINK / HARDLINK) into the SQE `back` slots before the tail (0: the last one). */
  orSqeFlags(back: number, flags: number): void {
    const o = ((this.tail - 1 - back) & this.#sqMask) << 4;
    this.#sqes[o] = this.#sqes[o]! | (flags << 8);
  }

  /**
   * Link an IORING_OP_LINK_TIMEOUT of `ms` to the op in the last SQE (see
   * lastUnsubmitted()): IOSQE_IO_LINK on it, then the timeout SQE. The
   * timeout is an internal SQE like a cancel (user_data high word
   * TAG_INTERNAL | generation, counted in `transient`), its timespec the op
   * record's own (`op.ts`, kept with the record). The caller made room for
   * both SQEs first (sqSpace() >= 2), so they reach the kernel in one
   * submission. Returns false, changing nothing, if there was no room.
   */
  linkTimeout(id: number, ms: number): boolean {
    const op = this.#ops[id]!;
    if (this.sqSpace() < 1) return false;
    this.orSqeFlags(0, IOSQE_IO_LINK);
    const ts = op.timespec(ms);
    const t = this.#cancelTmpl;
    t.fill(0);
    t[0] = OPCODES.LINK_TIMEOUT;
    t[1] = -1;
    t[6] = 1;
    addAddress(t, 4, ts);
    t[8] = id;
    t[9] = TAG_INTERNAL | ((op.gen & GEN_MASK) << 8);
    this.#push(t);
    this.transient++;
    return true;
  }

  /** Submit `op` and return a promise for its result. */
  promise(op: Op, a?: ArrayBufferView | null, b?: ArrayBufferView | null, c?: ArrayBufferView | null): Promise<any> {
    if (this.stackTraces) {
      const site = new Site();
      Error.captureStackTrace(site, this.promise);
      op.site = site;
    }
    this.submit(op, a, b, c);
    executorOp = op;
    const p = new Promise(opExecutor);
    executorOp = null;
    return p;
  }

  /** Submit `op` as multishot: CQEs go to `listener`. */
  multishot(op: Op, listener: MultishotListener, a?: ArrayBufferView | null): void {
    op.listener = listener;
    this.submit(op, a);
  }

  /** Queue an async cancel for `op`; its final CQE will settle it with `error`. */
  cancelOp(op: Op, error: unknown): void {
    if (op.state !== OpState.PREPPED && op.state !== OpState.SUBMITTED) {
      if (op.state === OpState.CANCELLING && op.cancelError === NONE) op.cancelError = error;
      return;
    }
    op.state = OpState.CANCELLING;
    op.cancelError = error;
    op.task?.unlink(op);
    if (this.closed) return;
    // Its own template: a cancel can be queued while the main one is half filled.
    const t = this.#cancelTmpl;
    t.fill(0);
    t[0] = OPCODES.ASYNC_CANCEL;
    t[1] = -1;
    t[4] = op.id; // addr = target user_data (low word; high word 0)
    t[8] = op.id;
    t[9] = TAG_INTERNAL | ((op.gen & GEN_MASK) << 8);
    if (!this.#push(t)) {
      t.fill(0);
      this.#deferredCancels.push(op, op.gen); // retried by reap() once the batch is settled
      return;
    }
    this.transient++;
    this.#scheduleFlush();
  }

  /**
   * Free slot `slot` of the ring's file table with an internal CLOSE
   * (file_index = slot + 1; user_data TAG_INTERNAL, counted in `transient`,
   * its CQE just counted down). Retried by reap() if the SQ is full now.
   */
  #closeSlot(slot: number): void {
    if (this.closed) return;
    const t = this.#cancelTmpl;
    t.fill(0);
    t[0] = OPCODES.CLOSE;
    t[11] = slot + 1;
    t[8] = -1; // no target op
    t[9] = TAG_INTERNAL;
    if (!this.#push(t)) {
      t.fill(0);
      this.#deferredSlotCloses.push(slot);
      return;
    }
    this.transient++;
    this.#scheduleFlush();
  }

  /**
   * Cancel every op in flight on `fd` (IORING_OP_ASYNC_CANCEL with
   * IORING_ASYNC_CANCEL_FD | ALL), before the fd is closed: closing an fd
   * does not end the ops that hold its file, so a read pending on it would
   * wait forever. The ops complete with -ECANCELED (or their result, if
   * they finished first). Nothing is queued while no op is in flight.
   */
  cancelFd(fd: number): void {
    if (this.closed || this.pending === 0) return;
    const t = this.#cancelTmpl;
    t.fill(0);
    t[0] = OPCODES.ASYNC_CANCEL;
    t[1] = fd;
    t[7] = CANCEL_FD | CANCEL_ALL;
    t[8] = -1; // no target op
    t[9] = TAG_INTERNAL;
    if (!this.#push(t)) {
      t.fill(0);
      return;
    }
    this.transient++;
    this.#scheduleFlush();
  }

  /** Submit and reap; settle completed ops. Returns the number of CQEs. */
  reap(): number {
    // Nothing in flight and nothing new to submit: no CQE can be waiting,
    // so skip the native call (fibers handing work to each other through
    // the runqueue turn many times without any I/O).
    // A machine that can be messaged (MSG_RING) may have CQEs it did not ask
    // for: then look at the ring words first (with DEFER_TASKRUN the message
    // waits as task work, announced by IORING_SQ_TASKRUN).
    if (
      this.pending === 0 &&
      this.transient === 0 &&
      this.tail === this.#flushedTail &&
      (this.inbox === null || !this.#workWaiting())
    ) {
      return 0;
    }
    let total = 0;
    for (;;) {
      this.#flushedTail = this.tail;
      const n = this.ring.flush(this.tail, false);
      if (n < 0) {
        this.#enterFailed(n);
        break;
      }
      if (n === 0) break;
      this.#processing = true;
      try {
        this.#process(n);
      } finally {
        this.#processing = false;
      }
      total += n;
      if (n < BATCH) break;
    }
    // Deferred task work left over (the native flush enters again while the
    // flag is set, but only so often): it will not signal the eventfd, so
    // come back for it.
    if ((Atomics.load(this.#sqFlags, 0) & (SQ_TASKRUN | SQ_CQ_OVERFLOW)) !== 0) this.#scheduleFlush();
    if (this.#deferredSlotCloses.length > 0) {
      const slots = this.#deferredSlotCloses;
      this.#deferredSlotCloses = [];
      for (const slot of slots) this.#closeSlot(slot);
    }
    if (this.#deferredCancels.length > 0) {
      const ops = this.#deferredCancels;
      this.#deferredCancels = [];
      for (let i = 0; i < ops.length; i += 2) {
        const op = ops[i] as Op;
        // Skip it if it completed meanwhile (its record may even be reused).
        if (op.gen !== ops[i + 1] || op.state !== OpState.CANCELLING) continue;
        op.state = OpState.SUBMITTED; // let cancelOp queue it again
        this.cancelOp(op, op.cancelError);
      }
    }
    return total;
  }

  /**
   * io_uring_enter failed (a seccomp policy that denies it, a kernel out of
   * memory...): the SQEs it was to submit were not taken (a failed enter
   * consumes none; a partial submit returns its count), so withdraw them
   * and fail their ops with the enter's error instead of letting them wait
   * forever. Ops already in the kernel stay pending: their buffers are the
   * kernel's until their CQEs come.
   */
  #enterFailed(res: number): void {
    if (this.#sqpoll) return; // the SQ thread takes SQEs by itself: nothing to withdraw
    const head = Atomics.load(this.#sqHead, 0);
    const tail = this.tail;
    if (tail === head || this.ring.rewind(head) < 0) return;
    const q = this.#sqes;
    const failed: Op[] = [];
    for (let i = head; i !== tail; i = (i + 1) >>> 0) {
      const o = (i & this.#sqMask) << 4;
      const id = q[o + 8]!;
      const hi = q[o + 9]!;
      q.fill(0, o, o + 16);
      if (hi !== 0) {
        this.transient--; // an internal cancel
        continue;
      }
      // One SQE per op (internal SQEs, such as link timeouts, are tagged above).
      const op = this.#ops[id];
      if (op !== undefined && op.state !== OpState.FREE) failed.push(op);
    }
    this.tail = head;
    this.#state[1] = head;
    this.#flushedTail = head;
    for (const op of failed) {
      this.pending--;
      this.#settleFailed(op, res);
    }
    this.#state[0] = this.pending;
  }

  /** Settle an op that never reached the kernel with the enter's error `res`. */
  #settleFailed(op: Op, res: number): void {
    op.task?.unlink(op);
    const err = new UMError(res, 'io_uring_enter');
    if (op.listener !== null) {
      const l = op.listener;
      const cancelError = op.cancelError;
      this.#release(op);
      l.final(res, 0, cancelError);
      return;
    }
    const reject = op.reject!;
    const cancelError = op.cancelError;
    this.#release(op);
    reject(cancelError !== NONE ? cancelError : err);
  }

  #process(n: number): void {
    const c = this.cqes;
    const ops = this.#ops;
    for (let i = 0, j = 0; i < n; i++, j += 4) {
      const hi = c[j + 1]!;
      if (hi !== 0) {
        const tag = hi & 0xff;
        if (tag === TAG_MSG || tag === TAG_MSG_FD) {
          // Posted by another ring (MSG_RING): not ours, not counted anywhere.
          // The inbox wakes a waiter: guarded like the op path below.
          let taken = false;
          if (this.inbox !== null) {
            try {
              taken = this.inbox.post(c[j]!, hi, c[j + 2]!);
            } catch (e) {
              taken = true; // the inbox took the message; only the wake-up threw
              queueMicrotask(() => {
                throw e;
              });
            }
          }
          // A descriptor nobody receives (meant for a ring that had this fd
          // before us, or sent before we had an inbox) still holds a slot of
          // our table: free it rather than leak it until close().
          if (!taken && tag === TAG_MSG_FD && c[j + 2]! >= 0) this.#closeSlot(c[j + 2]!);
          continue;
        }
        this.transient--; // internal SQE (cancel): nothing waits on it
        const r = c[j + 2]!;
        if (r === -ENOENT || r === -EALREADY) this.#missedCancel(c[j]!, hi);
        continue;
      }
      const op = ops[c[j]!]!;
      const res = c[j + 2]!;
      const flags = c[j + 3]!;
      // Listeners and maps are library code, but some call out (a timeout's
      // error class, a writeAsync error hook): whatever throws, the rest of
      // the batch is settled, and the error surfaces after it.
      try {
        if (flags & F_MORE) {
          if (op.listener) op.listener.shot(res, flags);
          continue;
        }
        this.pending--;
        this.#complete(op, res, flags);
      } catch (e) {
        queueMicrotask(() => {
          throw e;
        });
      }
    }
    this.#state[0] = this.pending;
    this.#state[2] = 0; // the batch is settled (native/js_machine.c, drain_for_teardown)
  }

  /**
   * A targeted cancel found nothing to cancel. For a one-shot op that means
   * its CQE is on the way. A multishot op can be between two shots, though:
   * a multishot timeout whose timer fired is off the kernel's timeout list
   * until its task work re-arms it (with DEFER_TASKRUN, at our next
   * getevents, after the cancel SQE was already processed), so the cancel
   * misses and the op would go on forever. Retry it after this batch, as
   * long as the same op is still waiting for its cancel.
   */
  #missedCancel(id: number, hi: number): void {
    const op = this.#ops[id];
    if (op === undefined || op.listener === null || op.state !== OpState.CANCELLING) return;
    if ((op.gen & GEN_MASK) !== hi >>> 8) return;
    this.#deferredCancels.push(op, op.gen);
  }

  #complete(op: Op, res: number, flags: number): void {
    const kind = op.kind!;
    op.task?.unlink(op);
    const cancelError = op.cancelError;
    if (op.listener) {
      const l = op.listener;
      // A multishot op's last result goes to its listener's salvage (a
      // multishot accept keeps the fd for the next accept), unless the
      // machine is closing. What the core reclaimed (an fd it closed) the
      // listener must not see: it would keep, or close again, a number the
      // process may already have reused.
      if (cancelError !== NONE && res >= 0 && (this.#closing || !kind.multishot) && reclaim(kind, res, op)) res = -ECANCELED;
      this.#release(op);
      l.final(res, flags, cancelError);
      return;
    }
    const resolve = op.resolve!;
    const reject = op.reject!;
    if (res === -ETIME && kind.opcode === OPCODES.TIMEOUT) res = 0;
    if (cancelError !== NONE) {
      if (res < 0 || this.#closing) {
        if (res >= 0) reclaim(kind, res, op);
        this.#release(op);
        reject(cancelError);
        return;
      }
      // The kernel finished the op before the cancel took effect: what it
      // delivered (bytes read or written, an fd, a child's status) is the
      // op's result, and the cancellation is not lost either: it is raised
      // at the fiber's next op (docs/ARCHITECTURE.md, "Completion wins").
      this.cancelRaces++;
      if (op.scope !== null) rearm(op.scope, cancelError);
    }
    if (res < 0) {
      const site = op.site as Site | null;
      this.#release(op);
      const err = new UMError(res, kind.syscall);
      reject(site === null ? err : withSite(err, site));
      return;
    }
    const map = op.map;
    op.cflags = flags;
    let value: unknown = res;
    if (map !== null) {
      try {
        value = map(res, op);
      } catch (e) {
        this.#release(op);
        reject(e);
        return;
      }
    }
    this.#release(op);
    resolve(value);
  }

  #release(op: Op): void {
    op.task?.unlink(op);
    op.reset();
    this.#free.push(op.id);
  }

  // ---- Fibers ----------------------------------------------------------------

  spin<T>(fn: () => T | Promise<T>): Fiber<T> {
    if (this.closed) throw new MachineClosedError();
    const f = new Fiber<T>(fn);
    this.fibers.add(f as Fiber);
    this.schedule(this.#startFiber, f);
    return f;
  }

  readonly #startFiber = (f: Fiber): void => {
    f.started = true;
    const fn = f.fn!;
    f.fn = null;
    if (f.terminated) {
      this.#finishFiber(f, undefined, f.scope.error, true);
      return;
    }
    let p: unknown;
    try {
      p = als.run(f.scope, fn);
    } catch (e) {
      this.#finishFiber(f, undefined, e, true);
      return;
    }
    if (p instanceof Promise) {
      p.then(
        (v) => this.#finishFiber(f, v, undefined, false),
        (e) => this.#finishFiber(f, undefined, e, true),
      );
    } else {
      this.#finishFiber(f, p, undefined, false);
    }
  };

  #finishFiber(f: Fiber, value: unknown, error: unknown, failed: boolean): void {
    if (f.done) return;
    f.done = true;
    f.finishSeq = ++this.#finishSeq;
    this.fibers.delete(f);
    if (failed) {
      if (f.terminated && error === f.scope.error) {
        f.result = undefined;
      } else {
        f.error = error;
      }
    } else {
      f.result = value;
    }
    const joiners = f.joiners;
    f.joiners = [];
    for (const w of joiners) w.wake(f);
    if (f.yieldWait) f.yieldWait = null;
    // A fiber stopped by m.close() is like a terminated one (its owner ended it): not reported.
    if (failed && f.error !== undefined && joiners.length === 0 && !f.observed && !(f.error instanceof MachineClosedError)) {
      try {
        this.onUnhandledFiberError(f.error, f);
      } catch (e) {
        queueMicrotask(() => {
          throw e;
        });
      }
    }
  }

  /** Park the current fiber (or scope task) on `w` until woken or cancelled. */
  park(w: ParkWait, scope: Scope | undefined): Promise<any> {
    if (this.closed) return Promise.reject(new MachineClosedError());
    if (scope !== undefined) {
      w.scope = scope;
      scope.task.link(w);
    } else {
      // A wait outside any fiber or scope: close() must still reach it.
      this.orphans.link(w);
    }
    this.totalWaits++;
    executorWait = w;
    const p = new Promise(waitExecutor);
    executorWait = null;
    return p;
  }

  /** A promise resolved from the runqueue (a yield to the fibers queued before). */
  yieldTurn(): Promise<void> {
    if (this.closed) return Promise.reject(new MachineClosedError());
    this.totalWaits++;
    executorCore = this;
    const p = new Promise<void>(yieldExecutor);
    executorCore = null;
    return p;
  }

  /**
   * A wait for one line (a Mutex's or a Queue's waiters): the task's spare
   * record when its last wait has settled, else a new one (then kept as the
   * spare). A settled wait is referenced by nothing any more: the line
   * dropped it before waking it, the task unlinked it, and the runqueue holds
   * only the resolve function it was woken with.
   */
  lineWait(scope: Scope | undefined): ParkWait {
    const task = scope?.task;
    if (task === undefined) return new ParkWait(this);
    const w = task.spare as ParkWait | null;
    if (w !== null && w.settled) {
      w.settled = false;
      w.scope = null;
      return w;
    }
    const n = new ParkWait(this);
    task.spare = n;
    return n;
  }

  /** A task for a scope opened outside fibers; close() cancels its waits. Delete it from `tasks` when done. */
  newTask(): Task {
    const t = new Task();
    this.tasks.add(t);
    return t;
  }

  newWait(): ParkWait {
    return new ParkWait(this);
  }

  terminate(f: Fiber): void {
    if (f.done || f.terminated) return;
    f.terminated = true;
    f.scope.cancelled = true;
    f.scope.error = new Terminate();
    // A fiber not started yet ends as soon as its start comes up.
    f.cancelWaits(null, f.scope.error);
  }

  /** schedule(fiber, error): raise at the pending wait, or at the next one. */
  raise(f: Fiber, error: unknown): void {
    if (f.done) return;
    if (f.cancelWaits(null, error) === 0) f.raise = error;
  }

  /** schedule(fiber, value): resume a fiber parked in yield(). */
  resume(f: Fiber, value: unknown): void {
    if (f.done) return;
    const w = f.yieldWait;
    if (w !== null) {
      f.yieldWait = null;
      w.wake(value);
    } else {
      f.resumeValue = value;
    }
  }

  // ---- Teardown ----------------------------------------------------------------

  close(): void {
    if (this.closed) return;
    this.#closing = true;
    if (this.#idleWatch !== null) {
      clearTimeout(this.#idleWatch);
      this.#idleWatch = null;
    }
    const err = new MachineClosedError();
    // Every pending op is cancelled and its final CQE awaited here, so that
    // no buffer is released while the kernel may still write it.
    for (const op of this.#ops) {
      if (op.state === OpState.PREPPED || op.state === OpState.SUBMITTED) {
        op.state = OpState.CANCELLING;
        op.cancelError = err;
        op.task?.unlink(op);
      } else if (op.state === OpState.CANCELLING && op.cancelError === NONE) {
        op.cancelError = err;
      }
    }
    if (this.pending > 0) {
      const t = this.#cancelTmpl;
      const cancelAll = (): void => {
        t.fill(0);
        t[0] = OPCODES.ASYNC_CANCEL;
        t[1] = -1;
        t[7] = CANCEL_ANY | CANCEL_ALL;
        t[8] = -1; // no target op
        t[9] = TAG_INTERNAL;
        if (this.#push(t)) this.transient++;
      };
      cancelAll();
      const deadline = Date.now() + 5000;
      let lastCancel = Date.now();
      while (this.pending > 0 && Date.now() < deadline) {
        const before = this.pending;
        const n = this.ring.wait(this.tail, 1, 100);
        if (n < 0) break;
        if (n > 0) this.#process(n);
        // A multishot op between two shots can miss a cancel (see
        // #missedCancel): ask again when 100 ms brought no final CQE (a
        // multishot timer that missed it goes on posting F_MORE CQEs). Not
        // after every such round: the cancel's own CQE ends the next wait at
        // once, and the loop would spin asking while io-wq finishes a copy.
        if (this.pending === before && Date.now() - lastCancel >= 100) {
          cancelAll();
          lastCancel = Date.now();
        }
      }
      this.#deferredCancels.length = 0;
      this.#deferredSlotCloses.length = 0;
      if (this.pending > 0) {
        // The kernel still owns these buffers: keep them alive forever
        // rather than let them be collected under an in-flight op.
        for (const op of this.#ops) {
          if (op.state !== OpState.FREE) graveyard.push(op.pin0, op.pin1, op.pin2, op.ts);
        }
      }
    }
    this.closed = true;
    this.#pool?.close();
    this.#bundlePool?.close();
    this.ring.close();
    // Parked fibers (yield, join, ...) cannot be resumed by a closed machine;
    // fibers not started yet end at their start, like terminated ones.
    for (const f of this.fibers) {
      if (!f.started) {
        f.terminated = true;
        f.scope.cancelled = true;
        f.scope.error = err;
      }
      f.cancelWaits(null, err);
    }
    // Waits outside fibers: at top level, and in scopes opened there.
    this.orphans.cancelWaits(null, err);
    for (const task of this.tasks) task.cancelWaits(null, err);
    while (this.#ioq.runOne() || this.runq.runOne()) this.totalSwitches++;
  }

  // ---- Metrics -------------------------------------------------------------

  metrics(): Metrics {
    return {
      size: this.size,
      totalOps: this.totalOps,
      totalSwitches: this.totalSwitches,
      totalWaits: this.totalWaits,
      totalTurns: this.totalTurns,
      switchLimit: this.maxSwitches,
      opsPending: this.pending,
      opsUnsubmitted: this.closed ? 0 : (this.tail - Atomics.load(this.#sqHead, 0)) >>> 0,
      opsRunqueue: this.runq.length + this.#ioq.length,
      opsFree: this.#free.length,
      opsTransient: this.transient,
      cancelsRaced: this.cancelRaces,
      wakeupsMissed: this.wakeupsMissed,
      bufferPoolBytes: (this.#pool?.bytes ?? 0) + (this.#bundlePool?.bytes ?? 0),
      bufferPoolBuffers: (this.#pool?.buffers ?? 0) + (this.#bundlePool?.buffers ?? 0),
      bufferPoolFree: (this.#pool?.free ?? 0) + (this.#bundlePool?.free ?? 0),
      bufferPoolInUse: (this.#pool?.inUse ?? 0) + (this.#bundlePool?.inUse ?? 0),
      bufferPoolEnobufs: (this.#pool?.enobufs ?? 0) + (this.#bundlePool?.enobufs ?? 0),
    };
  }

  /** IORING_TIMEOUT_MULTISHOT, for the facade's timer ops. */
  static readonly TIMEOUT_MULTISHOT = TIMEOUT_MULTISHOT;
}

export interface Metrics {
  /** Effective SQ entries. */
  size: number;
  /** Ops submitted since the machine was created. */
  totalOps: number;
  /** Runqueue resumptions performed. */
  totalSwitches: number;
  /** Times a fiber parked on something other than a kernel op. */
  totalWaits: number;
  /** Turns run: I/O passes (submit + reap), each followed by at most switchLimit resumptions. */
  totalTurns: number;
  /** The runqueue resumptions the last turn was allowed (fixed, or the balancing policy's current value). */
  switchLimit: number;
  /** Ops submitted (or prepared) whose final completion has not arrived, including ops being cancelled. */
  opsPending: number;
  /** SQEs prepared but not yet taken by the kernel. */
  opsUnsubmitted: number;
  /** Entries waiting in the runqueue. */
  opsRunqueue: number;
  /** Bytes of buffer-pool memory allocated (provided buffers). */
  bufferPoolBytes: number;
  /** Provided buffers allocated. */
  bufferPoolBuffers: number;
  /** Provided buffers the kernel may use (in the ring or being filled). */
  bufferPoolFree: number;
  /** Provided buffers whose bytes a consumer (a stream) still holds. */
  bufferPoolInUse: number;
  /** Times a multishot op ran out of provided buffers (ENOBUFS) and was restarted. */
  bufferPoolEnobufs: number;
  /** Op records ready for reuse. */
  opsFree: number;
  /** Internal ops (cancels) in flight. */
  opsTransient: number;
  /**
   * Cancels (timeout, terminate, abort, schedule) that came too late: the
   * kernel completed the op first, and its result was returned.
   */
  cancelsRaced: number;
  /**
   * Times the machine found completions or task work waiting that the
   * ring's eventfd had not announced (the idle check: docs/ARCHITECTURE.md,
   * "When the eventfd is late").
   */
  wakeupsMissed: number;
}

/**
 * For ops that loop until everything is transferred (writev, sendv,
 * sendBundle): `e` interrupted the loop after `done` bytes had gone out. If
 * `e` is a cancellation (not the kernel's UMError) and some bytes were
 * transferred, the caller returns the short count instead of throwing, like
 * write(2) interrupted by a signal, and the cancellation is raised at the
 * next op. Returns true when the caller should return `done`.
 */
export function shortOnCancel(scope: Scope | undefined, e: unknown, done: number): boolean {
  if (done === 0 || scope === undefined || e instanceof UMError) return false;
  rearm(scope, e);
  return true;
}

/**
 * A cancel that lost to its op's completion: make sure `error` still reaches
 * the task. A cancelled scope raises it at every later op anyway; a one-shot
 * error (schedule(fiber, error)) is kept for the task's next wait.
 */
function rearm(scope: Scope, error: unknown): void {
  for (let s: Scope | null = scope; s !== null; s = s.parent) if (s.cancelled && s.error === error) return;
  const task = scope.task;
  if (task.raise === NONE) task.raise = error;
}

/**
 * Without an onUnhandledFiberError handler a fiber's unhandled error is an
 * unhandled promise rejection, so Node's policy applies as it would to an
 * async function nobody awaited: under the default
 * --unhandled-rejections=throw the process exits non-zero, 'warn' prints it,
 * process.on('unhandledRejection') sees it.
 */
function defaultUnhandled(error: unknown, fiber: Fiber): void {
  void fiber;
  void Promise.reject(error);
}
