/**
 * UringMachine: the public facade, in the order of docs/API.md. Each method
 * validates its arguments, then makes one call into the engine (core.ts).
 *
 * Port of UringMachine (digital-fabric/uringmachine, ext/um/um_class.c).
 */
import { AsyncOp } from './async-op.js';
import { als, Core, fillIovecs, shortOnCancel, type Metrics } from './core.js';
import { mapVoid, noop, requireOp, rwLength, setU64 } from './prep.js';
import { MachineClosedError, namePath, QueueClosedError, NoFiberError, TimeoutError, UMError } from './errors.js';
import { Fiber } from './fiber.js';
import { MultishotIterator } from './multishot.js';
import { native } from './native.js';
import { OP_KINDS, OPCODES } from './op-kinds.js';
import { NONE, Scope, Task, type MultishotListener, type Op } from './op.js';
import {
  argTypeError,
  encodePath,
  rangeError,
  toBytes,
  toBytesList,
  validateBuffer,
  validateFd,
  validateFunction,
  validateInt32,
  validateInteger,
  validateMs,
} from './validate.js';
// ---- Synchronisation, select, actors, debounce (issue 4): imports ----
import { debounce as makeDebounce, type Debounced } from './debounce.js';
import { checkCases, select as selectCases, type SelectCase, type SelectResult, type SelectResultOf } from './select.js';
import { Mutex, Queue, synchronize as syncMutex, take as takeItem } from './sync.js';
import { SharedMutex, SharedQueue, sharedLock, sharedPut, sharedTake, unlockWord } from './shared.js';
import { Actor, spinActor as makeActor, spinWorkerActor as makeWorkerActor, type ActorTarget } from './actor.js';
// ---- end (issue 4) ----
// ---- Files and descriptors (issue 5): imports ----
import * as fsOps from './fs-ops.js';
import * as poolOps from './pool-ops.js';
import { Stream, validateStreamOptions, type StreamOptions } from './stream.js';
import { validatePoolOptions, type BufferPoolOptions } from './buffer-pool.js';
import { switchPolicy, type MaxSwitchesOption } from './balance.js';
import type { WaitidResult } from './fs-ops.js';
import { readFiles as readFilesImpl, type ReadFilesOptions } from './read-files.js';
import * as writeQueue from './write-queue.js';
import type { WriteAsyncErrorHandler } from './write-queue.js';
// ---- end (issue 5) ----
// ---- Sockets, one-shot (issue 3): imports ----
import * as netOps from './net-ops.js';
import * as zc from './zc.js';
import * as fixed from './fixed.js';
import * as direct from './direct.js';
import * as fdOps from './fd-ops.js';
import * as udp from './udp.js';
import * as watchOps from './watch.js';
import type { WatchEvent } from './watch.js';
import type { Datagram, OutDatagram, SendResult } from './udp.js';
import { DirectFd } from './direct.js';
import * as linkOps from './link.js';
import type { ChainOptions, ChainResult, LinkTimeoutOptions } from './link.js';
import type { ZcStats } from './zc.js';
import * as msgRing from './msg-ring.js';
import type { MsgStats, RingAddress, RingMessage } from './msg-ring.js';
import type { RecvfromResult } from './net-ops.js';
// ---- end (issue 3) ----
// ---- Adoption (issue 12): imports ----
import { createCore, probe as probeImpl, type ProbeResult } from './probe.js';
import * as dnsConnect from './dns-connect.js';
import type { ConnectOptions, ListenOptions } from './dns-connect.js';
import * as netNames from './net-names.js';
import { each as queueEach } from './queue-each.js';
import { uncancellable as shield, type UncancellableOptions } from './shield.js';
import type { AcceptedConnection, AcceptOptions, SocketAddress } from './net-names.js';
// ---- end (issue 12) ----
// ---- Node ecosystem adapters (issue 10): imports ----
import type { Duplex, Readable, Writable } from 'node:stream';
import type { ReadableStream, WritableStream } from 'node:stream/web';
import * as adapters from './adapters.js';
import type { AdapterOptions } from './adapters.js';
import * as tls from './tls.js';
// ---- end (issue 10) ----

export type { Metrics } from './core.js';
export type { ProbeFeatures, ProbeResult } from './probe.js';
export type { ConnectOptions, ListenOptions, LookupAddress, LookupFunction } from './dns-connect.js';
export type { AcceptedConnection, AcceptOptions, SocketAddress } from './net-names.js';
export type { UncancellableOptions } from './shield.js';
export type { MaxSwitchesOption } from './balance.js';

/** Options of `new UringMachine()`. */
export interface UringMachineOptions {
  /** SQ size (rounded up to a power of two by the kernel), default 4096. */
  entries?: number;
  /** Use a kernel SQ polling thread (off by default). */
  sqpoll?: boolean | { idleMs: number };
  /**
   * How many runqueue resumptions a turn runs before I/O is processed again
   * (docs/API.md, "Balancing I/O with the runqueue"): a fixed number,
   * `{ runqueueShare, min?, max? }`, or `'adaptive'` (the default: a 1 ms
   * target) / `{ targetLatencyMs?, min?, max? }`.
   */
  maxSwitches?: MaxSwitchesOption;
  /**
   * The automatic buffer pool used by recvEach, readEach, streams and
   * bundles (created on first use): `bufferSize` (default 64 KiB with
   * incremental consumption on Linux >= 6.12, else 16 KiB),
   * `initialBuffers` (16), `maxBytes` (64 MiB), `incremental` (true).
   */
  bufferPool?: BufferPoolOptions;
  /**
   * Kernel errors (UMError) carry the stack of the call that submitted the
   * op (`m.read(...)` in your function) instead of the machine's completion
   * handler. Off by default: it captures a stack per op, several times the
   * cost of a cheap op (see docs/API.md).
   */
  stackTraces?: boolean;
}

/** File status from {@link UringMachine.statx}; times in ms since the epoch. */
export interface Statx {
  dev: number;
  ino: number;
  mode: number;
  nlink: number;
  uid: number;
  gid: number;
  rdev: number;
  size: number;
  blksize: number;
  blocks: number;
  atime: number;
  btime: number;
  ctime: number;
  mtime: number;
}

const AT_FDCWD = -100;
const O_CLOEXEC = native.constants.O_CLOEXEC ?? 0o2000000;
const L = native.layout;


function check(ret: number, syscall: string): number {
  if (ret < 0) throw new UMError(ret, syscall);
  return ret;
}

function errorFrom(error: Error | (new () => Error) | undefined): Error {
  if (error === undefined) return new TimeoutError();
  if (typeof error === 'function') return new error();
  return error;
}

function mapSleep(_res: number, op: Op): number {
  return op.value;
}

/** Multishot timeout as an async iterator of tick counts. */
class IntervalIterator extends MultishotIterator<number> {
  readonly #ms: number;
  #ticks = 0;
  constructor(core: Core, ms: number) {
    super(core);
    this.#ms = ms;
  }
  protected start(): Op {
    const core = this.core;
    const op = core.acquire(OP_KINDS.timeoutMultishot, undefined);
    const ts = op.timespec(this.#ms);
    const t = core.tmpl;
    t[0] = OPCODES.TIMEOUT;
    t[1] = -1;
    t[6] = 1;
    t[7] = Core.TIMEOUT_MULTISHOT;
    op.pin0 = ts;
    core.multishot(op, this, ts);
    return op;
  }
  protected item(): number {
    return ++this.#ticks;
  }
  protected error(res: number): unknown {
    return new UMError(res, 'timeout');
  }
}

/**
 * One io_uring, its fibers and its runqueue. Create one per thread; every
 * blocking call submits an op and parks the calling fiber until the kernel
 * completes it.
 *
 * @example
 * ```ts
 * const m = new UringMachine();
 * const f = m.spin(async () => { await m.sleep(10); return 42; });
 * console.log(await m.join(f)); // 42
 * m.close();
 * ```
 */
export class UringMachine {
  readonly #core: Core;
  readonly #sqpoll: boolean;

  /**
   * Set up the ring. Throws a UMError naming the cause and the fix where
   * io_uring is unavailable (disabled by sysctl, filtered by seccomp) or the
   * kernel is older than 6.1.
   */
  constructor(opts: UringMachineOptions = {}) {
    if (opts === null || typeof opts !== 'object') throw argTypeError('opts', 'of type object', opts);
    const entries = opts.entries ?? 4096;
    validateInt32(entries, 'opts.entries', 1, 32768);
    let sqpollIdleMs = -1;
    if (opts.sqpoll !== undefined && opts.sqpoll !== false) {
      if (opts.sqpoll === true) sqpollIdleMs = 1000;
      else if (typeof opts.sqpoll === 'object' && opts.sqpoll !== null) {
        validateInt32(opts.sqpoll.idleMs, 'opts.sqpoll.idleMs', 0);
        sqpollIdleMs = opts.sqpoll.idleMs;
      } else throw argTypeError('opts.sqpoll', 'a boolean or { idleMs }', opts.sqpoll);
    }
    const maxSwitches = switchPolicy(opts.maxSwitches);
    const bufferPool = validatePoolOptions(opts.bufferPool);
    if (opts.stackTraces !== undefined && typeof opts.stackTraces !== 'boolean') throw argTypeError('opts.stackTraces', 'of type boolean', opts.stackTraces);
    this.#core = createCore({ entries, sqpollIdleMs, maxSwitches, bufferPool, stackTraces: opts.stackTraces });
    this.#sqpoll = sqpollIdleMs >= 0;
  }

  /**
   * Whether io_uring works here, without throwing: sets up a small ring
   * (as the constructor would, io_uring_setup, register and enter) and
   * releases it. `reason` is the constructor's error message when not.
   * Lets an app pick node:net / node:fs where io_uring is blocked.
   */
  static probe(): ProbeResult {
    return probeImpl();
  }

  // ---- Machine -------------------------------------------------------------

  /** Effective SQ entries. */
  get size(): number {
    return this.#core.size;
  }

  /** Counters and gauges; `opsPending` counts ops awaiting their final completion. */
  metrics(): Metrics {
    return this.#core.metrics();
  }

  /** Submit prepared SQEs now; returns how many the kernel took. */
  submit(): number {
    if (this.#core.closed) return 0;
    return check(this.#core.ring.submit(this.#core.tail), 'io_uring_enter');
  }

  /** Wake the machine's event-loop watcher (signals its eventfd). */
  wakeup(): void {
    if (!this.#core.closed) this.#core.ring.wakeup();
  }

  /** Whether `opcode` (a number, or a name such as 'READ_MULTISHOT') is supported by this kernel. */
  supports(opcode: number | keyof typeof OPCODES): boolean {
    const n = typeof opcode === 'number' ? opcode : OPCODES[opcode];
    return n !== undefined && this.#core.probe[n] === 1;
  }

  /** True if the machine was created with SQPOLL. */
  get sqpoll(): boolean {
    return this.#sqpoll;
  }

  /**
   * `m.close()`: cancel every pending op, wait (synchronously) for the
   * kernel's final completion of each, release the ring. Pending ops reject
   * with a MachineClosedError. `m.close(fd)`: close a file descriptor
   * (IORING_OP_CLOSE, io_uring_prep_close(3)). It is never cancelled and
   * also runs in a cancelled scope, so a terminated or timed-out fiber can
   * still close its fds in a `finally` block.
   */
  close(): void;
  close(fd: number): Promise<void>;
  close(fd?: number): void | Promise<void> {
    if (arguments.length === 0) {
      writeQueue.closeWrites(this.#core);
      this.#core.close();
      tls.closeAll(this.#core); // their ops are done: free the OpenSSL objects
      poolOps.closeLeftoverFds(this.#core); // connections accepted and never handed out
      return;
    }
    try {
      validateFd(fd);
      // writeAsync data still queued for fd goes out first.
      const later = writeQueue.closeAfterWritesAwait(this.#core, fd, () => this.close(fd));
      if (later !== null) return later;
      // Never cancelled, and runs in a cancelled scope too: closing is what
      // a terminated or timed-out fiber's finally block must still be able
      // to do (the op cannot block, so there is nothing to interrupt).
      poolOps.dropLeftovers(this.#core, fd);
      // Ops still pending on fd (a read in another fiber) end with ECANCELED.
      this.#core.cancelFd(fd);
      const op = this.#core.acquire(OP_KINDS.close, undefined);
      const t = this.#core.tmpl;
      t[0] = OPCODES.CLOSE;
      t[1] = fd;
      op.map = mapVoid;
      return this.#core.promise(op);
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /** Same as `close()`. */
  [Symbol.dispose](): void {
    this.close();
  }

  /** True once `close()` was called. */
  get closed(): boolean {
    return this.#core.closed;
  }

  // ---- Static helpers ------------------------------------------------------

  /** Kernel version as major * 100 + minor (618 for 6.18). */
  static kernelVersion(): number {
    return check(native.kernelVersion(), 'uname');
  }

  /** pipe2(O_CLOEXEC): [readFd, writeFd]. */
  static pipe(): [readFd: number, writeFd: number] {
    const r = native.pipe();
    if (typeof r === 'number') throw new UMError(r, 'pipe');
    return r;
  }

  /** socketpair(2) with SOCK_CLOEXEC. */
  static socketpair(domain: number, type: number, protocol: number): [number, number] {
    validateInt32(domain, 'domain');
    validateInt32(type, 'type');
    validateInt32(protocol ?? 0, 'protocol');
    const r = native.socketpair(domain, type, protocol ?? 0);
    if (typeof r === 'number') throw new UMError(r, 'socketpair');
    return r;
  }

  /** pidfd_open(2). */
  static pidfdOpen(pid: number): number {
    validateInt32(pid, 'pid', 1);
    return check(native.pidfdOpen(pid), 'pidfd_open');
  }

  /** pidfd_send_signal(2). */
  static pidfdSendSignal(pidfd: number, sig: number): void {
    validateFd(pidfd, 'pidfd');
    validateInt32(sig, 'sig', 0, 64);
    check(native.pidfdSendSignal(pidfd, sig), 'pidfd_send_signal');
  }

  /** Whether O_NONBLOCK is set on fd. */
  static ioNonblock(fd: number): boolean {
    validateFd(fd);
    return check(native.ioNonblock(fd), 'fcntl') === 1;
  }

  /** Set or clear O_NONBLOCK on fd. */
  static setNonblock(fd: number, on: boolean): void {
    validateFd(fd);
    if (typeof on !== 'boolean') throw argTypeError('on', 'of type boolean', on);
    check(native.setNonblock(fd, on), 'fcntl');
  }

  // ---- Fibers and scheduling -------------------------------------------------

  /** Start `fn` as a fiber on the next turn of the machine. */
  spin<T>(fn: () => T | Promise<T>): Fiber<T> {
    validateFunction(fn, 'fn');
    return this.#core.spin(fn);
  }

  /**
   * Wait for fibers. One fiber: its value, or its error. Several (or an
   * iterable): all values in order; rejects as soon as one fails, with the
   * earliest error. A terminated fiber's value is undefined.
   */
  join<T>(fiber: Fiber<T>): Promise<T>;
  join<const Fs extends readonly Fiber<unknown>[]>(...fibers: Fs): Promise<{ -readonly [K in keyof Fs]: Fs[K] extends Fiber<infer V> ? V : never }>;
  join(...fibers: (Fiber | Iterable<Fiber>)[]): Promise<unknown[]>;
  async join(...args: unknown[]): Promise<unknown> {
    const single = args.length === 1 && args[0] instanceof Fiber;
    const fibers = this.#fiberList(args);
    for (const f of fibers) f.observed = true;
    await this.#waitFibers(fibers, true);
    if (single) return fibers[0]!.result;
    return fibers.map((f) => f.result);
  }

  /** Wait until all the fibers are done; never rejects. Returns how many. */
  async await(...args: (Fiber | Iterable<Fiber>)[]): Promise<number> {
    const fibers = this.#fiberList(args);
    for (const f of fibers) f.observed = true;
    await this.#waitFibers(fibers, false);
    return fibers.length;
  }

  #fiberList(args: unknown[]): Fiber[] {
    const out: Fiber[] = [];
    const add = (v: unknown): void => {
      if (!(v instanceof Fiber)) throw argTypeError('fiber', 'an instance of Fiber', v);
      out.push(v);
    };
    for (const a of args) {
      if (a instanceof Fiber) add(a);
      else if (a !== null && typeof a === 'object' && Symbol.iterator in a) for (const v of a as Iterable<unknown>) add(v);
      else add(a);
    }
    return out;
  }

  async #waitFibers(fibers: Fiber[], failFast: boolean): Promise<void> {
    const core = this.#core;
    for (;;) {
      let pending = 0;
      let failed: Fiber | null = null;
      for (const f of fibers) {
        if (!f.done) pending++;
        else if (failFast && f.error !== undefined && (failed === null || f.finishSeq < failed.finishSeq)) failed = f;
      }
      if (failed !== null) throw failed.error;
      if (pending === 0) return;
      const scope = core.enterScope();
      const w = core.newWait();
      w.count = failFast ? 1 : pending;
      const waitingOn = fibers.filter((f) => !f.done);
      for (const f of waitingOn) f.joiners.push(w);
      w.onCancel = () => {
        for (const f of waitingOn) {
          const i = f.joiners.indexOf(w);
          if (i >= 0) f.joiners.splice(i, 1);
        }
      };
      try {
        await core.park(w, scope);
      } finally {
        w.onCancel(w, undefined);
      }
    }
  }

  /**
   * Raise Terminate at each fiber's pending op (the op is cancelled in the
   * kernel); its finally blocks run and join() resolves undefined.
   */
  terminate(...fibers: Fiber[]): void {
    for (const f of this.#fiberList(fibers)) this.#core.terminate(f);
  }

  /**
   * `schedule(fiber, value)` resumes a fiber parked in `m.yield()` with value
   * (or the next yield, if it is not parked yet). `schedule(fiber, error)`
   * with an Error raises it at the fiber's pending op, which is cancelled
   * (or at its next op).
   */
  schedule(fiber: Fiber, value?: unknown): void {
    if (!(fiber instanceof Fiber)) throw argTypeError('fiber', 'an instance of Fiber', fiber);
    if (value instanceof Error) this.#core.raise(fiber, value);
    else this.#core.resume(fiber, value);
  }

  /** Let other ready fibers and completions run, then continue. */
  snooze(): Promise<void> {
    // A yield through the runqueue: nothing can cancel it half-way (a
    // pending cancel is raised here, or at the fiber's next op), so no wait
    // record is needed, only the resumption.
    const core = this.#core;
    try {
      core.enterScope();
      return core.yieldTurn();
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /** Park the current fiber until `m.schedule(fiber, value)`; returns value. */
  yield(): Promise<unknown> {
    const core = this.#core;
    try {
      const scope = core.enterScope();
      const fiber = scope?.task;
      if (!(fiber instanceof Fiber)) throw new NoFiberError('m.yield()');
      if (fiber.resumeValue !== NONE) {
        const v = fiber.resumeValue;
        fiber.resumeValue = NONE;
        return Promise.resolve(v);
      }
      const w = core.newWait();
      fiber.yieldWait = w;
      w.onCancel = () => {
        if (fiber.yieldWait === w) fiber.yieldWait = null;
      };
      return core.park(w, scope);
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /** The fiber whose code is running, if any. */
  get currentFiber(): Fiber | undefined {
    const t = als.getStore()?.task;
    return t instanceof Fiber ? t : undefined;
  }

  /** Fibers started and not yet done. */
  get fibers(): ReadonlySet<Fiber> {
    return this.#core.fibers;
  }

  /** Fibers currently waiting on an op or a park. */
  get pendingFibers(): ReadonlySet<Fiber> {
    const s = new Set<Fiber>();
    for (const f of this.#core.fibers) if (f.waiting) s.add(f);
    return s;
  }

  /** Called with (error, fiber) when a fiber fails and nobody joined it. Default: print to stderr. */
  get onUnhandledFiberError(): (error: unknown, fiber: Fiber) => void {
    return this.#core.onUnhandledFiberError;
  }
  set onUnhandledFiberError(fn: (error: unknown, fiber: Fiber) => void) {
    validateFunction(fn, 'onUnhandledFiberError');
    this.#core.onUnhandledFiberError = fn;
  }

  // ---- Time --------------------------------------------------------------------

  /**
   * Sleep `ms` milliseconds (IORING_OP_TIMEOUT, io_uring_prep_timeout(3));
   * resolves `ms`. `ms <= 0` resolves after one pass of the machine (a
   * timeout op of 0, like setTimeout(0)), so `sleep(deadline - Date.now())`
   * never hangs; only `Infinity` sleeps until cancelled.
   */
  sleep(ms: number): Promise<number> {
    const core = this.#core;
    try {
      validateMs(ms);
      const scope = core.enterScope();
      const op = core.acquire(OP_KINDS.timeout, scope);
      // Infinity saturates to KTIME_MAX (until cancelled); <= 0 fires at once.
      const ts = op.timespec(ms <= 0 ? 0 : ms);
      const t = core.tmpl;
      t[0] = OPCODES.TIMEOUT;
      t[1] = -1;
      t[6] = 1;
      op.value = ms;
      op.map = mapSleep;
      op.pin0 = ts;
      return core.promise(op, ts);
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /**
   * Call `fn` every `ms` on one multishot timeout (Linux >= 6.4) until fn
   * throws (rejects with its error) or the fiber is cancelled.
   */
  async periodically(ms: number, fn: () => unknown): Promise<void> {
    validateMs(ms);
    validateFunction(fn, 'fn');
    for await (const _ of this.interval(ms)) await fn();
  }

  /**
   * The multishot timer as an async iterator of tick counts (1, 2, ...).
   * `break` cancels the kernel op. Linux >= 6.4.
   */
  interval(ms: number): AsyncIterableIterator<number> {
    validateMs(ms);
    if (ms <= 0) throw rangeError('ms', '> 0', ms);
    requireOp(this.#core, OP_KINDS.timeoutMultishot, 'multishot timeouts need');
    return new IntervalIterator(this.#core, ms);
  }


  /**
   * Run `fn`; if it is not done after `ms`, cancel its pending op with
   * `error` (an instance, a class, or TimeoutError by default), and raise
   * that error at any op it issues later. Nested: the first to expire wins.
   */
  async timeout<T>(ms: number, fn: () => Promise<T> | T, error?: Error | (new () => Error)): Promise<T> {
    validateMs(ms);
    validateFunction(fn, 'fn');
    if (error !== undefined && typeof error !== 'function' && !(error instanceof Error)) {
      throw argTypeError('error', 'an Error instance or class', error);
    }
    const core = this.#core;
    const parent = core.enterScope();
    const task = parent?.task ?? core.newTask();
    const scope = new Scope(task, parent ?? null);
    let finished = false;
    let timerFinal: (() => void) | null = null;
    let timerDone = false;
    const listener: MultishotListener = {
      shot: noop,
      final: (res) => {
        timerDone = true;
        if (!finished && (res === -62 || res === 0)) {
          // User code (an error class's constructor) runs here, inside the
          // completion loop: what it throws becomes the cancel error.
          let err: unknown;
          try {
            err = errorFrom(error);
          } catch (e) {
            err = e;
          }
          scope.cancelled = true;
          scope.error = err;
          scope.task.cancelWaits(scope, err);
        }
        timerFinal?.();
      },
    };
    const op = core.acquire(OP_KINDS.timeout, undefined);
    const ts = op.timespec(Math.max(ms, 0));
    const t = core.tmpl;
    t[0] = OPCODES.TIMEOUT;
    t[1] = -1;
    t[6] = 1;
    op.pin0 = ts;
    core.multishot(op, listener, ts);
    try {
      return await als.run(scope, fn);
    } finally {
      if (parent === undefined) core.tasks.delete(task);
      finished = true;
      if (!timerDone) {
        core.cancelOp(op, NONE);
        await new Promise<void>((r) => (timerFinal = r));
      }
    }
  }

  /**
   * Run `fn` shielded from the caller's cancellation: in the `finally` of a
   * timed-out, terminated or aborted scope every op raises again, but ops
   * inside `m.uncancellable(fn)` run (e.g. sending a "timed out" reply).
   * `opts.timeout` bounds the section (TimeoutError). Inside it there is no
   * current fiber (m.yield() is a NoFiberError); the caller's cancellation
   * applies again at its next op after the section.
   */
  uncancellable<T>(fn: () => Promise<T> | T, opts?: UncancellableOptions): Promise<T> {
    return shield(this.#core, fn, opts);
  }

  /**
   * Run `fn`; when `signal` aborts, cancel its pending op with
   * `signal.reason` (and raise it at any later op).
   */
  async cancellable<T>(signal: AbortSignal, fn: () => Promise<T> | T): Promise<T> {
    if (!(signal instanceof AbortSignal)) throw argTypeError('signal', 'an instance of AbortSignal', signal);
    validateFunction(fn, 'fn');
    const core = this.#core;
    const parent = core.enterScope();
    const task = parent?.task ?? core.newTask();
    const scope = new Scope(task, parent ?? null);
    const abort = (): void => {
      scope.cancelled = true;
      scope.error = signal.reason;
      scope.task.cancelWaits(scope, signal.reason);
    };
    if (signal.aborted) abort();
    else signal.addEventListener('abort', abort, { once: true });
    try {
      return await als.run(scope, fn);
    } finally {
      if (parent === undefined) core.tasks.delete(task);
      signal.removeEventListener('abort', abort);
    }
  }

  /** A timeout op running independently of fibers (AsyncOp kind 'timeout'). */
  prepTimeout(ms: number): AsyncOp {
    validateMs(ms);
    return this.#prepTimeout(ms, false);
  }

  /** A multishot timeout firing every `ms` until cancelled (Linux >= 6.4). */
  prepTimeoutMultishot(ms: number): AsyncOp {
    validateMs(ms);
    if (ms <= 0) throw rangeError('ms', '> 0', ms);
    requireOp(this.#core, OP_KINDS.timeoutMultishot, 'multishot timeouts need');
    return this.#prepTimeout(ms, true);
  }

  #prepTimeout(ms: number, multishot: boolean): AsyncOp {
    const core = this.#core;
    return new AsyncOp(core, 'timeout', multishot, (listener) => {
      const op = core.acquire(multishot ? OP_KINDS.timeoutMultishot : OP_KINDS.timeout, undefined);
      const ts = op.timespec(Math.max(ms, 0));
      const t = core.tmpl;
      t[0] = OPCODES.TIMEOUT;
      t[1] = -1;
      t[6] = 1;
      if (multishot) t[7] = Core.TIMEOUT_MULTISHOT;
      op.pin0 = ts;
      core.multishot(op, listener, ts);
      return op;
    });
  }

  // ---- Files and descriptors -------------------------------------------------------

  /**
   * Open a file (IORING_OP_OPENAT, io_uring_prep_openat(3)); O_CLOEXEC is
   * always added. With `fn`, the fd is passed to fn and closed after it.
   * Note: the kernel tries the open without blocking first, so opening a
   * FIFO for reading does not wait for a writer (unlike open(2)).
   */
  open(path: string | Uint8Array, flags?: number, mode?: number): Promise<number>;
  open<T>(path: string | Uint8Array, flags: number, mode: number, fn: (fd: number) => Promise<T> | T): Promise<T>;
  open<T>(path: string | Uint8Array, flags = 0, mode = 0o666, fn?: (fd: number) => Promise<T> | T): Promise<number | T> {
    const core = this.#core;
    let p: Promise<number>;
    try {
      const bytes = encodePath(path);
      validateInt32(flags, 'flags');
      validateInt32(mode, 'mode', 0, 0o7777);
      if (fn !== undefined) validateFunction(fn, 'fn');
      const scope = core.enterScope();
      const op = core.acquire(OP_KINDS.openat, scope);
      const t = core.tmpl;
      t[0] = OPCODES.OPENAT;
      t[1] = AT_FDCWD;
      t[6] = mode;
      t[7] = flags | O_CLOEXEC;
      op.pin0 = bytes;
      p = core.promise(op, bytes);
    } catch (e) {
      return Promise.reject(e);
    }
    p = p.catch((e: unknown) => {
      throw namePath(e, path);
    });
    if (fn === undefined) return p;
    return p.then(async (fd) => {
      try {
        return await fn(fd);
      } finally {
        await this.close(fd).catch(noop);
      }
    });
  }

  /**
   * Read into `buf` (IORING_OP_READ, io_uring_prep_read(3)): at most
   * `maxlen` bytes (default: the room left after bufOffset) at `bufOffset`
   * (negative: from buf.length + 1, so -1 is the end) from `fileOffset`
   * (-1: the current position). Resolves the bytes read, 0 at EOF.
   * `opts.timeout` (ms): a linked IORING_OP_LINK_TIMEOUT; rejects with
   * TimeoutError if the read has not completed by then.
   */
  read(fd: number | DirectFd, buf: Uint8Array, maxlen?: number, bufOffset = 0, fileOffset = -1, opts?: LinkTimeoutOptions): Promise<number> {
    if (fd instanceof DirectFd) return direct.on(this.#core, fd, (i) => this.read(i, buf, maxlen, bufOffset, fileOffset, opts));
    if (opts !== undefined) return linkOps.withTimeout(this.#core, opts, () => this.read(fd, buf, maxlen, bufOffset, fileOffset));
    const core = this.#core;
    try {
      validateFd(fd);
      validateBuffer(buf, 'buf');
      validateInteger(bufOffset, 'bufOffset');
      validateInteger(fileOffset, 'fileOffset', -1);
      const off = bufOffset < 0 ? buf.length + 1 + bufOffset : bufOffset;
      if (off < 0 || off > buf.length) throw rangeError('bufOffset', `>= ${-buf.length - 1} and <= ${buf.length}`, bufOffset);
      let len = buf.length - off;
      if (maxlen !== undefined) {
        validateInteger(maxlen, 'maxlen', 0);
        if (maxlen > len) throw rangeError('maxlen', `<= ${len} (room in buf after bufOffset)`, maxlen);
        len = maxlen;
      }
      const scope = core.enterScope();
      const op = core.acquire(OP_KINDS.read, scope);
      const t = core.tmpl;
      t[0] = OPCODES.READ;
      t[1] = fd;
      setU64(t, 2, fileOffset);
      setU64(t, 4, off); // byte offset into buf (the core adds its address)
      t[6] = rwLength(len);
      op.pin0 = buf;
      return core.promise(op, buf);
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /**
   * Write `data` (bytes, or a string as UTF-8): its first `len` bytes
   * (default all) at `fileOffset` (-1: current position) (IORING_OP_WRITE,
   * io_uring_prep_write(3)). Resolves the bytes written (one write: may be
   * short on pipes and sockets; writev() completes short writes).
   */
  write(fd: number | DirectFd, data: Uint8Array | string, len?: number, fileOffset = -1): Promise<number> {
    if (fd instanceof DirectFd) return direct.on(this.#core, fd, (i) => this.write(i, data, len, fileOffset));
    try {
      const op = this.#prepWrite(fd, data, len, fileOffset);
      return op === null ? Promise.resolve(0) : this.#core.promise(op, op.pin0 as Uint8Array);
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /**
   * Validate a write and fill its SQE template (the op is owned by the
   * current scope). Returns null for zero bytes (nothing to submit).
   */
  #prepWrite(fd: number, data: Uint8Array | string, len: number | undefined, fileOffset: number): Op | null {
    validateFd(fd);
    const bytes = toBytes(data);
    let n = bytes.length;
    if (len !== undefined) {
      validateInteger(len, 'len', 0, bytes.length);
      n = len;
    }
    validateInteger(fileOffset, 'fileOffset', -1);
    if (n === 0) return null;
    const core = this.#core;
    const op = core.acquire(OP_KINDS.write, core.enterScope());
    const t = core.tmpl;
    t[0] = OPCODES.WRITE;
    t[1] = fd;
    setU64(t, 2, fileOffset);
    t[6] = rwLength(n);
    op.pin0 = bytes;
    return op;
  }

  /**
   * Write all of `bufs` (IORING_OP_WRITEV, io_uring_prep_writev(3)),
   * resubmitting the rest after a short write. Resolves the total written.
   */
  async writev(fd: number, bufs: (Uint8Array | string)[], fileOffset = -1): Promise<number> {
    validateFd(fd);
    const list = toBytesList(bufs);
    validateInteger(fileOffset, 'fileOffset', -1);
    let total = 0;
    for (const b of list) total += b.length;
    if (total === 0) return 0;
    const core = this.#core;
    const iov = new Int32Array(4 * Math.min(list.length, 1024));
    let written = 0;
    while (written < total) {
      const count = fillIovecs(iov, list, written, 1024);
      // Cancelled after a short write: report what was written (the cancel
      // is raised at the next op), so that a retry does not duplicate it.
      if (written > 0 && als.getStore()?.interrupted === true) return written;
      const scope = core.enterScope();
      const op = core.acquire(OP_KINDS.writev, scope);
      const t = core.tmpl;
      t[0] = OPCODES.WRITEV;
      t[1] = fd;
      setU64(t, 2, fileOffset < 0 ? -1 : fileOffset + written);
      t[6] = count;
      op.pin0 = iov;
      op.pin1 = list;
      let n: number;
      try {
        n = await core.promise(op, iov);
      } catch (e) {
        if (shortOnCancel(scope, e, written)) return written;
        throw e;
      }
      if (n === 0) throw new UMError(-5, 'writev'); // EIO: no progress
      written += n;
    }
    return written;
  }

  /**
   * Fire-and-forget write of `data` (its first `len` bytes) at `fileOffset`
   * (-1: the current position). Chunks to one fd are written whole and in
   * call order: while a write is in flight later chunks queue, and go out
   * merged in one IORING_OP_WRITEV (io_uring_prep_writev(3)); short writes
   * are resumed, EAGAIN waits for POLLOUT. `data` stays pinned until
   * written. A failure drops the fd's queue and is reported to
   * `onWriteAsyncError`; `close(fd)` waits for the queue (logic in
   * src/write-queue.ts).
   * @example
   * for (const line of lines) m.writeAsync(fd, line);
   * await m.close(fd); // after every line was written
   */
  writeAsync(fd: number, data: Uint8Array | string, len?: number, fileOffset = -1): void {
    validateFd(fd);
    const bytes = toBytes(data);
    let n = bytes.length;
    if (len !== undefined) {
      validateInteger(len, 'len', 0, bytes.length);
      n = len;
    }
    validateInteger(fileOffset, 'fileOffset', -1);
    if (this.#core.closed) throw new MachineClosedError();
    if (n === 0) return;
    writeQueue.writeAsync(this.#core, fd, n === bytes.length ? bytes : bytes.subarray(0, n), fileOffset);
  }

  /**
   * Called when a writeAsync() failed, with the error, the fd and the bytes
   * dropped (the failed chunk's unwritten rest and every chunk queued behind
   * it for that fd). Default: print to stderr.
   */
  get onWriteAsyncError(): WriteAsyncErrorHandler {
    return writeQueue.writeQueues(this.#core).onError;
  }
  set onWriteAsyncError(fn: WriteAsyncErrorHandler) {
    validateFunction(fn, 'onWriteAsyncError');
    writeQueue.writeQueues(this.#core).onError = fn;
  }

  /** Fire-and-forget close(fd); after the fd's queued writeAsync data, if any. */
  closeAsync(fd: number): void {
    validateFd(fd);
    const core = this.#core;
    if (core.closed) throw new MachineClosedError();
    if (writeQueue.closeAfterWrites(core, fd, () => this.closeAsync(fd))) return;
    poolOps.dropLeftovers(core, fd);
    core.cancelFd(fd);
    const op = core.acquire(OP_KINDS.close, undefined);
    const t = core.tmpl;
    t[0] = OPCODES.CLOSE;
    t[1] = fd;
    op.resolve = noop;
    op.reject = noop;
    core.submit(op);
  }

  /**
   * File status (IORING_OP_STATX, io_uring_prep_statx(3)). `dirfd` may be
   * AT_FDCWD; with AT_EMPTY_PATH and path '' it stats dirfd itself.
   */
  async statx(dirfd: number, path: string | Uint8Array, flags = 0, mask = 0xfff): Promise<Statx> {
    validateInt32(dirfd, 'dirfd');
    const bytes = encodePath(path);
    validateInt32(flags, 'flags');
    validateInt32(mask, 'mask');
    const core = this.#core;
    const scope = core.enterScope();
    const op = core.acquire(OP_KINDS.statx, scope);
    const out = Buffer.alloc(L.statxSize!);
    const t = core.tmpl;
    t[0] = OPCODES.STATX;
    t[1] = dirfd;
    t[6] = mask;
    t[7] = flags;
    op.pin0 = bytes;
    op.pin1 = out;
    try {
      await core.promise(op, bytes, out);
    } catch (e) {
      if (path !== '') throw namePath(e, path);
      throw e;
    }
    return parseStatx(out);
  }

  /** fsync(2) / fdatasync(2) through the ring (IORING_OP_FSYNC). */
  fsync(fd: number, opts: { datasync?: boolean } = {}): Promise<void> {
    const core = this.#core;
    try {
      validateFd(fd);
      const scope = core.enterScope();
      const op = core.acquire(OP_KINDS.fsync, scope);
      const t = core.tmpl;
      t[0] = OPCODES.FSYNC;
      t[1] = fd;
      t[7] = opts?.datasync ? 1 : 0;
      op.map = mapVoid;
      return core.promise(op);
    } catch (e) {
      return Promise.reject(e);
    }
  }

  // ---- Files and descriptors (issue 5) ----
  /**
   * A buffered reader over `fd` on the machine's buffer pool (see Stream):
   * `mode` 'read' (default; any fd) or 'recv' (sockets).
   */
  stream(fd: number | tls.TlsConnection, opts?: StreamOptions): Stream {
    if (fd instanceof tls.TlsConnection) {
      const o = validateStreamOptions(opts);
      if (this.#core.closed) throw new MachineClosedError();
      return new Stream(this.#core, fd.fd, o, new tls.TlsStreamSource(fd));
    }
    validateFd(fd);
    const o = validateStreamOptions(opts);
    if (this.#core.closed) throw new MachineClosedError();
    return new Stream(this.#core, fd, o);
  }

  // ---- TLS (issue 11; logic in tls.ts) ----

  /**
   * A TLS connection over socket `fd`, once the handshake is done (client,
   * or server with `isServer`). OpenSSL (the one inside node) runs over a
   * BIO whose reads and writes are recv/send ops on this machine, parked on
   * the calling fiber: cancellable by timeout, terminate and AbortSignal.
   * Clients verify the server's certificate (against `ca`, default Node's
   * root certificates, and `servername`) unless `rejectUnauthorized: false`;
   * a failure rejects with a TLSError whose code names it
   * ('CERT_HAS_EXPIRED', 'HOSTNAME_MISMATCH', ...). Pass `secureContext`
   * (createSecureContext()) to share parsed PEM between connections. On
   * failure the fd stays open (the caller's). Ops: IORING_OP_RECV / SEND
   * (io_uring_prep_recv(3), io_uring_prep_send(3)), Linux >= 5.6. Port of the
   * original's plan (UringMachine TODO "OpenSSL": a BIO whose reads and
   * writes are machine ops, plus ssl_read/ssl_write); docs/API.md "TLS".
   *
   * @example
   * const t = await m.tls(fd, { servername: 'example.com', alpn: ['http/1.1'] });
   * await m.sslWrite(t, 'GET / HTTP/1.1\r\nHost: example.com\r\n\r\n');
   */
  tls(fd: number, opts?: tls.TlsOptions): Promise<tls.TlsConnection> {
    return tls.connect(this, this.#core, fd, opts);
  }

  /** Decrypted bytes of `t` into `buf` (at most `maxlen`); 0 at close_notify or EOF. Cancelling it loses no byte. */
  sslRead(t: tls.TlsConnection, buf: Uint8Array, maxlen?: number): Promise<number> {
    return tls.sslRead(t, buf, maxlen);
  }

  /** Encrypt and send all of `data` (or its first `len` bytes) on `t`; resolves the count. */
  sslWrite(t: tls.TlsConnection, data: Uint8Array | string, len?: number): Promise<number> {
    return tls.sslWrite(t, data, len);
  }

  // ---- Node ecosystem adapters (issue 10; logic in adapters.ts) ----

  /**
   * `target` as a Node `stream.Readable`. Reads come from the machine's
   * buffer pool (a multishot recv/read where the fd allows; one-shot on
   * AF_UNIX sockets), regular files are read with plain READs at the file
   * position straight into the pushed chunk. Each pushed chunk is the
   * consumer's to keep. `_read` starts or resumes the kernel read; when
   * `push()` returns false the read is stopped (a multishot op cancelled), so
   * at most about `highWaterMark` plus one batch of completions is buffered.
   * A Stream's already buffered bytes come first. Errors are UMErrors emitted
   * as 'error'. `destroy()` cancels the pending op, awaits its final CQE,
   * then closes the fd (`autoClose: false` leaves it open).
   *
   * @example
   * await pipeline(m.toReadable(fd), zlib.createGzip(), m.toWritable(out));
   */
  toReadable(target: number | Stream | tls.TlsConnection, opts?: AdapterOptions): Readable {
    return adapters.toReadable(this, target, opts);
  }

  /**
   * `target` as a Node `stream.Writable`: each write is a ring op (send on
   * sockets, write on other fds), chunks queued while one is in flight go
   * out together in one writev/sendmsg (`_writev`), short writes are
   * retried. `end()` on a socket is shutdown(SHUT_WR) once all is written.
   * Errors (UMError) reach the write's callback and 'error'.
   */
  toWritable(target: number | tls.TlsConnection, opts?: AdapterOptions): Writable {
    return adapters.toWritable(this, target, opts);
  }

  /**
   * `target` as a Node `stream.Duplex` (both of the above on one fd). EOF
   * and half-close behave like node:net (`allowHalfOpen` default false: the
   * writable side ends after EOF). On sockets it has the net.Socket parts
   * node:http uses: setTimeout, setNoDelay, setKeepAlive, remoteAddress &
   * co, destroySoon.
   */
  toDuplex(target: number | tls.TlsConnection, opts?: AdapterOptions): Duplex {
    return adapters.toDuplex(this, target, opts);
  }

  /**
   * `target` as WHATWG streams: a byte `ReadableStream` (type 'bytes') and a
   * `WritableStream`, on the same transport as toDuplex; the fd is closed
   * once both sides are done (`autoClose: false` leaves it open).
   */
  toWebStreams(target: number | tls.TlsConnection, opts?: AdapterOptions): { readable: ReadableStream<Uint8Array>; writable: WritableStream<Uint8Array> } {
    return adapters.toWebStreams(this, target, opts);
  }

  // ---- Multishot fd ops and the buffer pool (issue 3; logic in pool-ops.ts) ----

  /**
   * The bytes arriving on `fd`, chunk by chunk, from a multishot read on the
   * machine's buffer pool (Linux >= 6.7). Ends at EOF. A file that cannot be
   * polled (a regular file) is read one pool buffer at a time instead. Each
   * chunk is the loop body's to keep; `break`, `return`, an exception in the
   * body and cancellation of the fiber cancel the kernel op first.
   */
  readEach(fd: number): AsyncIterableIterator<Buffer> {
    return poolOps.readEach(this.#core, fd);
  }

  /**
   * The bytes arriving on socket `fd` from a multishot recv on the buffer
   * pool. Restarted transparently when the pool runs dry (ENOBUFS: the pool
   * grows, up to its limit) or the kernel ends it early: no byte lost or
   * repeated, order kept. Ends at EOF.
   */
  recvEach(fd: number, flags = 0): AsyncIterableIterator<Buffer> {
    return poolOps.recvEach(this.#core, fd, flags);
  }

  /**
   * Each connection accepted on listening socket `fd` (one multishot accept;
   * fds are O_CLOEXEC). With `{ peer: true }`, each is `{ fd, address, port,
   * family }` (getpeername of the new fd).
   */
  acceptEach(fd: number): AsyncIterableIterator<number>;
  acceptEach(fd: number, opts: AcceptOptions & { peer: true }): AsyncIterableIterator<AcceptedConnection>;
  acceptEach(fd: number, opts?: AcceptOptions): AsyncIterableIterator<number> | AsyncIterableIterator<AcceptedConnection>;
  acceptEach(fd: number, opts?: AcceptOptions): AsyncIterableIterator<number> | AsyncIterableIterator<AcceptedConnection> {
    return netNames.acceptEach(this.#core, fd, opts);
  }

  /** Push each connection accepted on `fd` into `queue` until cancelled or an error. */
  acceptIntoQueue(fd: number, queue: Queue<number> | SharedQueue): Promise<void> {
    try {
      validateFd(fd);
      if (!(queue instanceof Queue) && !(queue instanceof SharedQueue)) {
        throw argTypeError('queue', 'a Queue or SharedQueue', queue);
      }
    } catch (e) {
      return Promise.reject(e);
    }
    if (queue instanceof SharedQueue) {
      return poolOps.acceptIntoQueue(this.#core, fd, (c) => this.push(queue, String(c)));
    }
    return poolOps.acceptIntoQueue(this.#core, fd, (c) => this.push(queue, c));
  }

  /** Wait until `fd` has one of the events in `mask` (POLLIN...); resolves revents. */
  poll(fd: number, mask: number): Promise<number> {
    return poolOps.poll(this.#core, fd, mask);
  }

  /** Each revents of a multishot poll on `fd` for `mask`. */
  pollEach(fd: number, mask: number): AsyncIterableIterator<number> {
    return poolOps.pollEach(this.#core, fd, mask);
  }

  /**
   * One bundled recv (Linux >= 6.10): whatever is available, in one or more
   * pool buffers, returned as one Buffer per pool buffer, in order. [] at EOF.
   */
  recvBundle(fd: number, flags = 0): Promise<Buffer[]> {
    return poolOps.recvBundle(this.#core, fd, flags);
  }

  /**
   * Send every buffer of `bufs`, in order, with bundled sends (Linux >=
   * 6.10): one kernel op for the whole array, repeated only for what a short
   * send left. Resolves the total bytes sent. MSG_NOSIGNAL always.
   */
  sendBundle(fd: number, bufs: (Uint8Array | string)[]): Promise<number> {
    return poolOps.sendBundle(this.#core, fd, bufs);
  }

  // Filesystem and process ops; the logic lives in fs-ops.ts and
  // read-files.ts. Each rejects (never throws) on bad arguments, before
  // anything is submitted, and with UnsupportedError when the kernel lacks
  // the opcode.

  /** mkdir(2) relative to the cwd (IORING_OP_MKDIRAT, io_uring_prep_mkdirat(3), Linux >= 5.15). */
  mkdir(path: string | Uint8Array, mode = 0o777): Promise<void> {
    return fsOps.mkdirat(this.#core, AT_FDCWD, path, mode);
  }

  /** mkdirat(2) (IORING_OP_MKDIRAT, io_uring_prep_mkdirat(3), Linux >= 5.15). */
  mkdirat(dirfd: number, path: string | Uint8Array, mode = 0o777): Promise<void> {
    return fsOps.mkdirat(this.#core, dirfd, path, mode);
  }

  /** link(2) (IORING_OP_LINKAT, io_uring_prep_link(3), Linux >= 5.15). */
  link(oldPath: string | Uint8Array, newPath: string | Uint8Array): Promise<void> {
    return fsOps.linkat(this.#core, AT_FDCWD, oldPath, AT_FDCWD, newPath, 0);
  }

  /** linkat(2); flags: AT_SYMLINK_FOLLOW, AT_EMPTY_PATH (IORING_OP_LINKAT, Linux >= 5.15). */
  linkat(olddirfd: number, oldPath: string | Uint8Array, newdirfd: number, newPath: string | Uint8Array, flags = 0): Promise<void> {
    return fsOps.linkat(this.#core, olddirfd, oldPath, newdirfd, newPath, flags);
  }

  /** unlink(2) (IORING_OP_UNLINKAT, io_uring_prep_unlink(3), Linux >= 5.11). */
  unlink(path: string | Uint8Array): Promise<void> {
    return fsOps.unlinkat(this.#core, AT_FDCWD, path, 0);
  }

  /** unlinkat(2); AT_REMOVEDIR removes a directory (IORING_OP_UNLINKAT, Linux >= 5.11). */
  unlinkat(dirfd: number, path: string | Uint8Array, flags = 0): Promise<void> {
    return fsOps.unlinkat(this.#core, dirfd, path, flags);
  }

  /** symlink(2): a link at `path` pointing to `target` (IORING_OP_SYMLINKAT, Linux >= 5.15). */
  symlink(target: string | Uint8Array, path: string | Uint8Array): Promise<void> {
    return fsOps.symlinkat(this.#core, target, AT_FDCWD, path);
  }

  /** symlinkat(2) (IORING_OP_SYMLINKAT, io_uring_prep_symlinkat(3), Linux >= 5.15). */
  symlinkat(target: string | Uint8Array, newdirfd: number, path: string | Uint8Array): Promise<void> {
    return fsOps.symlinkat(this.#core, target, newdirfd, path);
  }

  /** rename(2) (IORING_OP_RENAMEAT, io_uring_prep_rename(3), Linux >= 5.11). */
  rename(oldPath: string | Uint8Array, newPath: string | Uint8Array): Promise<void> {
    return fsOps.renameat(this.#core, AT_FDCWD, oldPath, AT_FDCWD, newPath, 0);
  }

  /** renameat2(2); flags: RENAME_NOREPLACE, RENAME_EXCHANGE, RENAME_WHITEOUT (Linux >= 5.11). */
  renameat(olddirfd: number, oldPath: string | Uint8Array, newdirfd: number, newPath: string | Uint8Array, flags = 0): Promise<void> {
    return fsOps.renameat(this.#core, olddirfd, oldPath, newdirfd, newPath, flags);
  }

  /**
   * getxattr(2): the whole value, however large (its size is asked first,
   * and asked again if it grew). IORING_OP_GETXATTR, Linux >= 5.19.
   */
  getxattr(path: string | Uint8Array, name: string): Promise<Buffer> {
    return fsOps.getxattr(this.#core, path, name);
  }

  /** setxattr(2); flags: XATTR_CREATE, XATTR_REPLACE (IORING_OP_SETXATTR, Linux >= 5.19). */
  setxattr(path: string | Uint8Array, name: string, value: Uint8Array | string, flags = 0): Promise<void> {
    return fsOps.setxattr(this.#core, path, name, value, flags);
  }

  /** fgetxattr(2), like getxattr() (IORING_OP_FGETXATTR, Linux >= 5.19). */
  fgetxattr(fd: number, name: string): Promise<Buffer> {
    return fsOps.fgetxattr(this.#core, fd, name);
  }

  /** fsetxattr(2) (IORING_OP_FSETXATTR, Linux >= 5.19). */
  fsetxattr(fd: number, name: string, value: Uint8Array | string, flags = 0): Promise<void> {
    return fsOps.fsetxattr(this.#core, fd, name, value, flags);
  }

  /** posix_fadvise(2); len 0 means to the end of the file (IORING_OP_FADVISE, Linux >= 5.6). */
  fadvise(fd: number, offset: number, len: number, advice: number): Promise<void> {
    return fsOps.fadvise(this.#core, fd, offset, len, advice);
  }

  /**
   * madvise(2) on the whole pages inside `buf` (the range is aligned inward;
   * a buffer holding no whole page is a no-op). Only content-preserving
   * advices are accepted: MADV_NORMAL, RANDOM, SEQUENTIAL, WILLNEED, COLD,
   * PAGEOUT, (NO)HUGEPAGE, DONTDUMP/DODUMP, (UN)MERGEABLE, POPULATE_*.
   * MADV_DONTNEED, MADV_FREE, MADV_REMOVE (and the like) would zero or
   * discard memory V8 owns: they reject with ERR_INVALID_ARG_VALUE.
   * IORING_OP_MADVISE, Linux >= 5.6.
   */
  madvise(buf: Uint8Array, advice: number): Promise<void> {
    return fsOps.madvise(this.#core, buf, advice);
  }

  /**
   * splice(2): move up to `len` bytes from fdIn to fdOut through the kernel,
   * one of them a pipe; an offset of -1 means none (pipes) or the file
   * position. Resolves the bytes moved, 0 at EOF. IORING_OP_SPLICE, Linux >= 5.7.
   */
  splice(fdIn: number, offIn: number, fdOut: number, offOut: number, len: number, flags = 0): Promise<number> {
    return fsOps.splice(this.#core, fdIn, offIn, fdOut, offOut, len, flags);
  }

  /** tee(2): duplicate up to `len` bytes from pipe fdIn to pipe fdOut (IORING_OP_TEE, Linux >= 5.8). */
  tee(fdIn: number, fdOut: number, len: number, flags = 0): Promise<number> {
    return fsOps.tee(this.#core, fdIn, fdOut, len, flags);
  }

  /**
   * waitid(2) (IORING_OP_WAITID, io_uring_prep_waitid(3), Linux >= 6.7):
   * idtype P_PID, P_PIDFD, P_PGID or P_ALL; options WEXITED, WSTOPPED,
   * WCONTINUED, WNOHANG, WNOWAIT. Resolves { pid, status, code }: status is
   * the exit code, or the signal number if killed; code is si_code (CLD_*).
   */
  waitid(idtype: number, id: number, options: number): Promise<WaitidResult> {
    return fsOps.waitid(this.#core, idtype, id, options);
  }

  /**
   * Read whole files, many at once through the ring (openat, then read, EOF
   * check and close as one hardlinked chain; files over 32 KiB are sized
   * with statx and read in one go; files whose size lies or changes are read
   * until EOF), at most `opts.concurrency` (default 256, and at most a third
   * of the ring's entries) files open at a time. Without `fn`,
   * resolves a Map from path to contents; with `fn`, calls fn(path, data) as
   * each file is read. A failure rejects with a UMError naming `err.path`,
   * after every op in flight finished and every fd opened was closed.
   */
  readFiles(paths: Iterable<string | Uint8Array>, opts?: ReadFilesOptions): Promise<Map<string, Buffer>>;
  readFiles(paths: Iterable<string | Uint8Array>, fn: (path: string, data: Buffer) => void, opts?: ReadFilesOptions): Promise<void>;
  readFiles(
    paths: Iterable<string | Uint8Array>,
    fnOrOpts?: ((path: string, data: Buffer) => void) | ReadFilesOptions,
    opts?: ReadFilesOptions,
  ): Promise<Map<string, Buffer> | void> {
    return readFilesImpl(this.#core, paths, fnOrOpts, opts);
  }
  // ---- end Files and descriptors (issue 5) ----

  // ---- Sockets (one-shot) (issue 3) ----
  // The logic lives in net-ops.ts. `host` is an IPv4 or IPv6 literal, or a
  // unix socket path (a string starting with '/' or '.', or a Buffer; a
  // leading 0 byte names an abstract socket) with the port omitted. Every
  // Promise method rejects (never throws) on bad arguments, before anything
  // is submitted. Sends always add MSG_NOSIGNAL: no SIGPIPE, ever.

  /**
   * socket(2) (IORING_OP_SOCKET, io_uring_prep_socket(3), Linux >= 5.19).
   * `flags` (SOCK_NONBLOCK, SOCK_CLOEXEC) is OR'ed into `type`; SOCK_CLOEXEC
   * is always added. Resolves the new fd.
   * @example
   * const fd = await m.socket(constants.AF_INET, constants.SOCK_DGRAM);
   */
  socket(domain: number, type: number, protocol = 0, flags = 0): Promise<number> {
    return netOps.socket(this.#core, domain, type, protocol, flags);
  }

  /**
   * bind(2) (IORING_OP_BIND, io_uring_prep_bind(3), Linux >= 6.11; on older
   * kernels the plain bind(2) syscall, which never blocks).
   */
  bind(fd: number, host: string | Uint8Array, port?: number): Promise<void> {
    return netOps.bind(this.#core, fd, host, port);
  }

  /** listen(2) (IORING_OP_LISTEN, Linux >= 6.11; on older kernels the plain syscall). */
  listen(fd: number, backlog = 511): Promise<void> {
    return netOps.listen(this.#core, fd, backlog);
  }

  /**
   * connect(2) (IORING_OP_CONNECT, io_uring_prep_connect(3), Linux >= 5.5).
   * A host name is looked up (node:dns, off the loop; the first address of
   * the socket's family). `opts.timeout`: cancel the kernel connect after
   * that many ms with a TimeoutError.
   */
  connect(fd: number, host: string | Uint8Array, port?: number, opts?: ConnectOptions): Promise<void> {
    return dnsConnect.connect(this.#core, fd, host, port, opts);
  }

  /**
   * accept4(2) with SOCK_CLOEXEC (IORING_OP_ACCEPT, io_uring_prep_accept(3));
   * resolves the connection's fd, or with `{ peer: true }` `{ fd, address,
   * port, family }`. A cancelled accept that completes anyway closes the fd
   * it got.
   */
  accept(fd: number): Promise<number>;
  accept(fd: number, opts: AcceptOptions & { peer: true }): Promise<AcceptedConnection>;
  accept(fd: number, opts?: AcceptOptions): Promise<number | AcceptedConnection>;
  accept(fd: number, opts?: AcceptOptions): Promise<number | AcceptedConnection> {
    return netNames.accept(this.#core, fd, opts);
  }

  /** getsockname(2): the socket's own address, e.g. the port `tcpListen(host, 0)` got. Throws a UMError. */
  getsockname(fd: number): SocketAddress {
    return netNames.sockName(fd, false);
  }

  /** getpeername(2): the connected peer's address. Throws a UMError (ENOTCONN if not connected). */
  getpeername(fd: number): SocketAddress {
    return netNames.sockName(fd, true);
  }

  /**
   * send(2) of `data` (bytes, or a string as UTF-8), its first `len` bytes
   * (default all), flags | MSG_NOSIGNAL (IORING_OP_SEND). Resolves the bytes
   * sent (may be short on a stream socket; sendv() sends everything).
   */
  send(fd: number | DirectFd, data: Uint8Array | string, len?: number, flags = 0): Promise<number> {
    if (fd instanceof DirectFd) return direct.on(this.#core, fd, (i) => this.send(i, data, len, flags));
    return netOps.send(this.#core, fd, data, len, flags);
  }

  /**
   * Send all of `bufs` (IORING_OP_SENDMSG with an iovec array, MSG_NOSIGNAL),
   * resubmitting the rest after a short send. Resolves the total sent.
   */
  sendv(fd: number, bufs: (Uint8Array | string)[]): Promise<number> {
    return netOps.sendv(this.#core, fd, bufs);
  }

  /**
   * Zero-copy send(2) of `data` (IORING_OP_SEND_ZC, io_uring_prep_send_zc(3),
   * Linux >= 6.0): like send(), but the kernel sends from `data`'s own pages.
   * Resolves the bytes sent at the op's first completion; the op (and its
   * pin on `data`) lives on until the kernel's notification CQE, so do not
   * write into `data` before `zcStats().inFlight` drops (on loopback the
   * data has been copied by then anyway). Flags | MSG_NOSIGNAL.
   */
  sendZc(fd: number | DirectFd, data: Uint8Array | string, len?: number, flags = 0): Promise<number> {
    if (fd instanceof DirectFd) return direct.on(this.#core, fd, (i) => this.sendZc(i, data, len, flags));
    return zc.sendZc(this.#core, fd, data, len, flags);
  }

  /**
   * sendZc() from registered buffer `index` (m.registerBuffers()): `len`
   * bytes (default: the rest of the buffer) at `bufOffset`
   * (IORING_OP_SEND_ZC with IORING_RECVSEND_FIXED_BUF,
   * io_uring_prep_send_zc_fixed(3), Linux >= 6.0): the kernel sends from the
   * pages it pinned at registration, with no per-send page lookup. Resolves
   * the bytes sent at the first completion; the op counts as a fixed op in
   * flight (unregisterBuffers() refuses) until its notification CQE. Plain
   * send and recv take no registered buffer on Linux 6.x (EINVAL): only the
   * zero-copy sends do.
   */
  sendZcFixed(fd: number | DirectFd, index: number, len?: number, bufOffset = 0, flags = 0): Promise<number> {
    if (fd instanceof DirectFd) return direct.on(this.#core, fd, (i) => this.sendZcFixed(i, index, len, bufOffset, flags));
    return zc.sendZcFixed(this.#core, fd, index, len, bufOffset, flags);
  }

  /**
   * Zero-copy sendv(): every buffer of `bufs` with IORING_OP_SENDMSG_ZC
   * (Linux >= 6.1), resubmitting the rest after a short send. Resolves the
   * total sent; each op's buffers stay pinned until its notification.
   */
  sendvZc(fd: number, bufs: (Uint8Array | string)[]): Promise<number> {
    return zc.sendvZc(this.#core, fd, bufs);
  }

  /**
   * Run ops as one linked chain (IOSQE_IO_LINK, io_uring_enter(2) "linked
   * SQEs"; `hard: true`: IOSQE_IO_HARDLINK): each member is a function that
   * starts exactly one op (`() => m.write(fd, buf)`); the kernel runs each
   * after the previous one completed, and with a soft link a failure (or a
   * short read/write) cancels the rest (ECANCELED). All SQEs go to the
   * kernel in one submission. Resolves every member's outcome, in order, as
   * Promise.allSettled does. Cancelling the fiber cancels every member. A
   * member that starts no op or several SQEs ends the chain there; the ones
   * after it reject (ERR_INVALID_ARG_VALUE) without starting.
   */
  chain(members: (() => Promise<unknown>)[], opts?: ChainOptions): Promise<ChainResult[]> {
    return linkOps.chain(this.#core, members, opts);
  }

  /**
   * Register `bufs` as the ring's fixed buffers (io_uring_register(2)
   * IORING_REGISTER_BUFFERS, Linux >= 5.1): the kernel pins their pages once
   * for readFixed/writeFixed. While registered, the machine holds them, and
   * each buffer's ArrayBuffer is marked untransferable for good
   * (worker_threads.markAsUntransferable). One table at a time (EBUSY);
   * at most 16384 buffers of at most 1 GiB. Locked-memory limits apply
   * (ENOMEM).
   */
  registerBuffers(bufs: Uint8Array[]): Promise<void> {
    return fixed.registerBuffers(this.#core, bufs);
  }

  /** Unregister the fixed buffers; rejects with ERR_UM_BUFFERS_IN_USE while a readFixed/writeFixed/sendZcFixed is in flight (a sendZcFixed until its notification). */
  unregisterBuffers(): Promise<void> {
    return fixed.unregisterBuffers(this.#core);
  }

  /**
   * read(2) into registered buffer `index` (IORING_OP_READ_FIXED,
   * io_uring_prep_read_fixed(3)): at most `maxlen` bytes (default: the rest
   * of the buffer) at `bufOffset`, from `fileOffset` (-1: current position).
   * Resolves the bytes read, 0 at EOF.
   */
  readFixed(fd: number | DirectFd, index: number, maxlen?: number, bufOffset = 0, fileOffset = -1): Promise<number> {
    if (fd instanceof DirectFd) return direct.on(this.#core, fd, (i) => this.readFixed(i, index, maxlen, bufOffset, fileOffset));
    return fixed.rwFixed(this.#core, false, fd, index, maxlen, bufOffset, fileOffset);
  }

  /** write(2) from registered buffer `index` (IORING_OP_WRITE_FIXED): `len` bytes (default: the rest) at `bufOffset`, at `fileOffset` (-1: current position). */
  writeFixed(fd: number | DirectFd, index: number, len?: number, bufOffset = 0, fileOffset = -1): Promise<number> {
    if (fd instanceof DirectFd) return direct.on(this.#core, fd, (i) => this.writeFixed(i, index, len, bufOffset, fileOffset));
    return fixed.rwFixed(this.#core, true, fd, index, len, bufOffset, fileOffset);
  }

  /**
   * Create the ring's direct-descriptor table with `count` empty slots
   * (IORING_REGISTER_FILES2, sparse, Linux >= 5.19). Optional: the first
   * openDirect/acceptDirect/socketDirect creates one of 1024 slots.
   */
  registerFiles(count: number): void {
    direct.registerFiles(this.#core, count);
  }

  /**
   * open(2) straight into the ring's file table (io_uring_prep_openat_direct(3),
   * IORING_FILE_INDEX_ALLOC, Linux >= 5.19): resolves a DirectFd, which
   * read/write/send/recv take in place of an fd (IOSQE_FIXED_FILE) and no
   * syscall-based call accepts. O_CLOEXEC is dropped (a slot is never
   * inherited by exec; the kernel refuses the flag with a slot).
   */
  openDirect(path: string | Uint8Array, flags = 0, mode = 0o666): Promise<DirectFd> {
    return direct.openDirect(this.#core, path, flags, mode);
  }

  /** accept4(2) into the ring's file table (io_uring_prep_accept_direct(3), 5.19); `fd` may itself be a DirectFd. */
  acceptDirect(fd: number | DirectFd): Promise<DirectFd> {
    return direct.acceptDirect(this.#core, fd);
  }

  /** socket(2) into the ring's file table (io_uring_prep_socket_direct_alloc(3), 5.19). */
  socketDirect(domain: number, type: number, protocol = 0): Promise<DirectFd> {
    return direct.socketDirect(this.#core, domain, type, protocol);
  }

  /** Close a direct descriptor (IORING_OP_CLOSE with file_index, io_uring_prep_close_direct(3)); runs even in a cancelled scope. */
  closeDirect(fd: DirectFd): Promise<void> {
    return direct.closeDirect(this.#core, fd);
  }

  /**
   * A regular fd for a direct descriptor's file (IORING_OP_FIXED_FD_INSTALL,
   * io_uring_prep_fixed_fd_install(3), Linux >= 6.8), O_CLOEXEC unless
   * `cloexec` is false. The direct descriptor stays open.
   */
  installFd(fd: DirectFd, cloexec = true): Promise<number> {
    return direct.installFd(this.#core, fd, cloexec);
  }

  /** ftruncate(2) through the ring (IORING_OP_FTRUNCATE, io_uring_prep_ftruncate(3), Linux >= 6.9). */
  ftruncate(fd: number, length = 0): Promise<void> {
    return fdOps.ftruncate(this.#core, fd, length);
  }

  /**
   * Send a copy of `fd` over the unix socket `sock` (SCM_RIGHTS ancillary
   * data with one zero byte, IORING_OP_SENDMSG). The caller still owns `fd`.
   */
  sendFd(sock: number, fd: number): Promise<void> {
    return fdOps.sendFd(this.#core, sock, fd);
  }

  /**
   * Receive an fd sent with sendFd() (or any SCM_RIGHTS sender) on unix
   * socket `sock` (IORING_OP_RECVMSG, MSG_CMSG_CLOEXEC); resolves the new
   * fd, which the caller must close. Rejects ERR_UM_NO_FD at EOF or when the
   * data came without a descriptor.
   */
  recvFd(sock: number): Promise<number> {
    return fdOps.recvFd(this.#core, sock);
  }

  /**
   * Each datagram received on `fd` (a UDP socket): one multishot recvmsg
   * (IORING_OP_RECVMSG with IORING_RECV_MULTISHOT on provided buffers,
   * io_uring_prep_recvmsg_multishot(3), Linux >= 6.0) yielding `{ data,
   * host, port, truncated }`. A datagram longer than a pool buffer (16 KiB
   * by default, `bufferPool.bufferSize`) is cut (`truncated`). Reply with
   * `m.sendto(fd, data, host, port)`.
   */
  recvmsgEach(fd: number, flags = 0): AsyncIterableIterator<Datagram> {
    return udp.recvmsgEach(this.#core, fd, flags);
  }

  /**
   * recvmsgEach, but each item is the array of datagrams that one
   * completion batch brought (in arrival order): the loop wakes once per
   * batch, not once per datagram. Reply with `m.sendtoBatch(fd, batch)`.
   */
  recvmsgBatches(fd: number, flags = 0): AsyncIterableIterator<Datagram[]> {
    return udp.recvmsgBatches(this.#core, fd, flags);
  }

  /**
   * One sendto per datagram (IORING_OP_SEND with a destination, Linux >=
   * 6.0; MSG_NOSIGNAL), each to its `addr` (a raw sockaddr_in/sockaddr_in6,
   * e.g. a received Datagram's `addr`), all submitted together, one
   * promise for the lot: resolves with each datagram's bytes sent or its
   * UMError (failures are reported per datagram, not thrown). Every datagram
   * is checked before any is queued.
   */
  sendtoBatch(fd: number, datagrams: readonly OutDatagram[], flags = 0): Promise<SendResult[]> {
    return udp.sendtoBatch(this.#core, fd, datagrams, flags);
  }

  /**
   * inotify(7) events for `path` (a file, or a directory's entries) as an
   * async iterator of `{ name, mask, cookie, isDir }`; `mask` is IN_* bits
   * (`IN`, exported by the package; default: modify, close-write, create, delete, moves, and the
   * path's own deletion or move). Events are read through the ring; the loop
   * ends when the watch goes away (the path was deleted: IN_IGNORED), and
   * break, return or cancellation end it too. The inotify fd is closed then.
   */
  watch(path: string | Uint8Array, mask?: number): AsyncGenerator<WatchEvent, void, undefined> {
    return watchOps.watch(this.#core, path, mask, (fd, buf) => this.read(fd, buf), (fd) => this.close(fd));
  }

  /**
   * This machine's address for cross-ring messages: `{ fd, serial, pid }`,
   * plain data to hand to another thread (postMessage, workerData). Opens
   * the machine's inbox: messages sent to it from now on are kept until
   * received. IORING_OP_MSG_RING, Linux >= 5.18.
   */
  address(): RingAddress {
    return msgRing.address(this.#core);
  }

  /**
   * Post a message to the machine at `address` (IORING_OP_MSG_RING with
   * IORING_MSG_DATA, io_uring_prep_msg_ring(3)): `value` (int32) and `data`
   * (uint32) arrive as one completion in the target's ring. Resolves once
   * the kernel posted it; a closed target rejects (UMError EBADF).
   */
  sendTo(address: RingAddress, value: number, data = 0): Promise<void> {
    return msgRing.sendTo(this.#core, address, value, data);
  }

  /**
   * Install this machine's direct descriptor `fd` in the file table of the
   * machine at `address` (IORING_MSG_SEND_FD, io_uring_prep_msg_ring_fd_alloc(3),
   * Linux >= 6.0); the receiver's message has the new DirectFd as `fd`. `fd`
   * stays open here. The target needs a file table (`m.registerFiles(n)`,
   * or any direct op before): else the kernel's UMError (ENFILE on 6.18).
   */
  sendFdTo(address: RingAddress, fd: DirectFd, data = 0): Promise<void> {
    return msgRing.sendFdTo(this.#core, address, fd, data);
  }

  /**
   * The next message sent to this machine (`{ value, data, fd }`), waiting
   * while none is queued. Cancellable like any wait (timeout, terminate,
   * AbortSignal, m.close()); a pending receive keeps the event loop alive.
   */
  receive(): Promise<RingMessage> {
    return msgRing.receive(this.#core);
  }

  /** Messages as an async iterator (each step a receive()); ends when the machine is closed. */
  messages(): AsyncGenerator<RingMessage, void, undefined> {
    return msgRing.messages(this.#core);
  }

  /** Cross-ring message counters: sent, received, queued (not yet received), stray (stale address, dropped). */
  msgStats(): MsgStats {
    return msgRing.msgStats(this.#core);
  }

  /** Zero-copy send counters: sends, notifications, how many were copied after all, and notifications still due. */
  zcStats(): ZcStats {
    return { ...zc.zcStats(this.#core) };
  }

  /** sendto(2): one datagram to host:port (IORING_OP_SEND with a destination, Linux >= 6.0; MSG_NOSIGNAL). */
  sendto(fd: number, data: Uint8Array | string, host: string | Uint8Array, port?: number, flags = 0): Promise<number> {
    return netOps.sendto(this.#core, fd, data, host, port, flags);
  }

  /** recv(2) into `buf`, at most `maxlen` bytes (IORING_OP_RECV). Resolves the bytes received, 0 at EOF; `opts.timeout` (ms) links an IORING_OP_LINK_TIMEOUT (TimeoutError). */
  recv(fd: number | DirectFd, buf: Uint8Array, maxlen?: number, flags = 0, opts?: LinkTimeoutOptions): Promise<number> {
    if (fd instanceof DirectFd) return direct.on(this.#core, fd, (i) => this.recv(i, buf, maxlen, flags, opts));
    if (opts !== undefined) return linkOps.withTimeout(this.#core, opts, () => netOps.recv(this.#core, fd, buf, maxlen, flags));
    return netOps.recv(this.#core, fd, buf, maxlen, flags);
  }

  /**
   * recvfrom(2) into `buf` (IORING_OP_RECVMSG): resolves `{ bytes, host,
   * port }`, the sender's address decoded from the sockaddr the kernel
   * wrote (host '' and port 0 for an unbound unix peer).
   */
  recvfrom(fd: number, buf: Uint8Array, maxlen?: number, flags = 0): Promise<RecvfromResult> {
    return netOps.recvfrom(this.#core, fd, buf, maxlen, flags);
  }

  /** shutdown(2); how: SHUT_RD, SHUT_WR or SHUT_RDWR (IORING_OP_SHUTDOWN, Linux >= 5.11). */
  shutdown(fd: number, how: number): Promise<void> {
    return netOps.shutdown(this.#core, fd, how);
  }

  /** Fire-and-forget shutdown(2): throws on bad arguments; the result is not reported. */
  shutdownAsync(fd: number, how: number): void {
    netOps.shutdownAsync(this.#core, fd, how);
  }

  /**
   * getsockopt(2) of an int-valued option (IORING_OP_URING_CMD,
   * SOCKET_URING_OP_GETSOCKOPT, Linux >= 6.7, at level SOL_SOCKET; other
   * levels, AF_UNIX sockets and older kernels use the plain syscall).
   */
  getsockopt(fd: number, level: number, opt: number): Promise<number> {
    return netOps.getsockopt(this.#core, fd, level, opt);
  }

  /**
   * setsockopt(2) of an int-valued option (a boolean is 1/0)
   * (IORING_OP_URING_CMD, SOCKET_URING_OP_SETSOCKOPT, Linux >= 6.7; AF_UNIX
   * sockets and older kernels use the plain syscall).
   */
  setsockopt(fd: number, level: number, opt: number, value: number | boolean): Promise<void> {
    return netOps.setsockopt(this.#core, fd, level, opt, value);
  }

  /**
   * A listening TCP socket on host:port: socket + SO_REUSEADDR + bind +
   * listen. Resolves its fd; port 0 picks a free one (`m.getsockname(fd).port`).
   * A host name is looked up (node:dns) and its first address used.
   */
  tcpListen(host: string, port: number, backlog = 511, opts?: ListenOptions): Promise<number> {
    return dnsConnect.tcpListen(this.#core, host, port, backlog, opts);
  }

  /**
   * A TCP connection to host:port: socket + connect. Resolves its fd. A host
   * name is looked up (node:dns, off the loop) and its addresses raced
   * happy-eyeballs style (RFC 8305: families alternated, the next attempt
   * 250 ms after the last or when it fails; the losers cancelled and closed).
   * `opts.timeout`: give up after that many ms with a TimeoutError.
   */
  tcpConnect(host: string, port: number, opts?: ConnectOptions): Promise<number> {
    return dnsConnect.tcpConnect(this.#core, host, port, opts, (ms) => this.sleep(ms));
  }
  // ---- end Sockets (one-shot) (issue 3) ----

  /** @internal the engine, for the other modules of this package. */
  get _core(): Core {
    return this.#core;
  }

  // ---- Synchronisation, select, actors, debounce (issue 4) ----

  /**
   * Run `fn` holding `mu` (FIFO among waiting fibers); the lock is released
   * when fn settles, also if it throws or its fiber is cancelled. A fiber
   * cancelled while waiting for the lock leaves the line without holding it.
   */
  synchronize<T>(mu: Mutex | SharedMutex, fn: () => T | Promise<T>): Promise<T> {
    const core = this.#core;
    try {
      validateFunction(fn, 'fn');
      if (mu instanceof Mutex) return syncMutex(core, mu, fn);
      if (!(mu instanceof SharedMutex)) throw argTypeError('mutex', 'an instance of Mutex or SharedMutex', mu);
      const p = sharedLock(core, mu);
      const release = (): void => unlockWord(core, mu.word);
      if (p === undefined) return runLocked(release, fn);
      return p.then(() => runLocked(release, fn));
    } catch (e) {
      return Promise.reject(e);
    }
  }


  /**
   * Append `value` to `queue` (or hand it to its first waiting fiber).
   * Never blocks on a Queue. On a SharedQueue (items `Uint8Array | string`)
   * it returns a Promise that waits while the queue is full.
   */
  push<T>(queue: Queue<T>, value: T): void;
  push(queue: SharedQueue, value: Uint8Array | string): Promise<void>;
  push(queue: Queue | SharedQueue, value: unknown): void | Promise<void> {
    if (queue instanceof SharedQueue) return sharedPut(this.#core, queue, value, false);
    if (!(queue instanceof Queue)) throw argTypeError('queue', 'an instance of Queue or SharedQueue', queue);
    if (this.#core.closed) throw new MachineClosedError();
    if (queue.closed) throw new QueueClosedError();
    if (!queue.handOff(value)) queue.items.push(value);
  }

  /** Prepend `value` to `queue` (or hand it to its first waiting fiber). Like push() for a SharedQueue. */
  unshift<T>(queue: Queue<T>, value: T): void;
  unshift(queue: SharedQueue, value: Uint8Array | string): Promise<void>;
  unshift(queue: Queue | SharedQueue, value: unknown): void | Promise<void> {
    if (queue instanceof SharedQueue) return sharedPut(this.#core, queue, value, true);
    if (!(queue instanceof Queue)) throw argTypeError('queue', 'an instance of Queue or SharedQueue', queue);
    if (this.#core.closed) throw new MachineClosedError();
    if (queue.closed) throw new QueueClosedError();
    if (!queue.handOff(value)) queue.items.unshift(value);
  }

  /** Take the first item of `queue`, waiting while it is empty (FIFO among waiters of a Queue). */
  shift<T>(queue: Queue<T>): Promise<T>;
  shift(queue: SharedQueue): Promise<Buffer | string>;
  shift(queue: Queue | SharedQueue): Promise<unknown> {
    if (queue instanceof SharedQueue) return sharedTake(this.#core, queue, false);
    if (!(queue instanceof Queue)) return Promise.reject(argTypeError('queue', 'an instance of Queue or SharedQueue', queue));
    return takeItem(this.#core, queue, false);
  }

  /**
   * The items of `queue` as an async iterator (each a `shift`, waiting while
   * it is empty); ends once the queue is closed (`queue.close()`) and drained.
   */
  each<T>(queue: Queue<T>): AsyncIterableIterator<T> {
    return queueEach(this.#core, queue);
  }

  /** Take the last item of `queue`, waiting while it is empty. */
  pop<T>(queue: Queue<T>): Promise<T>;
  pop(queue: SharedQueue): Promise<Buffer | string>;
  pop(queue: Queue | SharedQueue): Promise<unknown> {
    if (queue instanceof SharedQueue) return sharedTake(this.#core, queue, true);
    if (!(queue instanceof Queue)) return Promise.reject(argTypeError('queue', 'an instance of Queue or SharedQueue', queue));
    return takeItem(this.#core, queue, true);
  }

  /**
   * Wait for the first ready case (Queue: an item; Fiber: done; AsyncOp:
   * done; `{ readable: fd }` / `{ writable: fd }`: POLL_ADD revents).
   * Resolves `{ index, value }`; exactly one case wins, losing queues keep
   * their items, losing poll ops are cancelled and their completions awaited
   * before select settles. A failed fiber / AsyncOp case rejects with its
   * error. `opts.timeout` (ms): rejects with TimeoutError if nothing wins.
   */
  select<const Cs extends readonly SelectCase[]>(cases: Cs, opts?: { timeout?: number }): Promise<SelectResultOf<Cs>>;
  /**
   * The fd form: wait until at least one fd is ready for reading (rfds),
   * writing (wfds) or has an exceptional condition (efds); resolves the
   * ready fds of each set. One poll op per fd; the others are cancelled at
   * the first completion and their completions awaited before it settles.
   */
  select(rfds: number[], wfds?: number[], efds?: number[]): Promise<[number[], number[], number[]]>;
  select(
    cases: readonly SelectCase[] | number[],
    opts?: { timeout?: number } | number[],
    efds?: number[],
  ): Promise<SelectResult | [number[], number[], number[]]> {
    if (
      Array.isArray(opts) ||
      efds !== undefined ||
      (Array.isArray(cases) && cases.length > 0 && cases.every((c) => typeof c === 'number'))
    ) {
      return poolOps.selectFds(this.#core, cases as number[], opts, efds);
    }
    return this.#selectCases(cases as SelectCase[], opts as { timeout?: number } | undefined);
  }

  #selectCases(cases: SelectCase[], opts?: { timeout?: number }): Promise<SelectResult> {
    if (opts !== undefined && (opts === null || typeof opts !== 'object')) {
      return Promise.reject(argTypeError('opts', 'an object ({ timeout })', opts));
    }
    const ms = opts?.timeout;
    if (ms === undefined) return selectCases(this.#core, cases);
    try {
      validateMs(ms, 'opts.timeout');
      checkCases(cases); // before the timer is armed
    } catch (e) {
      return Promise.reject(e);
    }
    return this.timeout(ms, () => selectCases(this.#core, cases));
  }

  /**
   * A debounced `fn`: `d(...args)` runs fn once, `ms` after the last call,
   * with the last call's arguments, in a new fiber of this machine (timed by
   * a kernel timeout op, see src/debounce.ts). `d.flush()` runs a pending
   * call now and resolves when fn is done; `d.cancel()` drops it.
   */
  debounce<A extends unknown[]>(ms: number, fn: (...args: A) => unknown): Debounced<A> {
    validateMs(ms);
    validateFunction(fn, 'fn');
    return makeDebounce(this, ms, fn);
  }

  /**
   * Start an actor: a fiber that runs `target.setup(...setupArgs)`, then
   * handles the messages sent with `cast`/`call` one at a time by calling
   * `target[name](...args)`, and runs `target.teardown()` when stopped.
   * Port of UM#spin_actor (lib/uringmachine/actor.rb).
   * @example
   * const counter = m.spinActor({ n: 0, setup(n) { this.n = n; }, add(k) { return (this.n += k); } }, 10);
   * await counter.call('add', 5); // 15
   * await counter.stop();
   */
  spinActor(target: ActorTarget, ...setupArgs: unknown[]): Actor {
    if (target === null || typeof target !== 'object') throw argTypeError('target', 'of type object', target);
    return makeActor(this, target, setupArgs);
  }

  /**
   * Start an actor in a worker thread with its own machine: the target is
   * export `exportName` of the module at `moduleUrl` (an object like
   * spinActor's target). Arguments and results must be structured-cloneable;
   * messages travel as v8.serialize() bytes through two SharedQueues.
   * A handler's error rejects the call with an Error rebuilt from its
   * name/message/stack/code.
   */
  spinWorkerActor(moduleUrl: string | URL, exportName: string, ...setupArgs: unknown[]): Actor {
    if (moduleUrl instanceof URL) moduleUrl = moduleUrl.href;
    if (typeof moduleUrl !== 'string') throw argTypeError('moduleUrl', 'of type string or an instance of URL', moduleUrl);
    if (typeof exportName !== 'string') throw argTypeError('exportName', 'of type string', exportName);
    return makeWorkerActor(this, moduleUrl, exportName, setupArgs);
  }
  // ---- end Synchronisation, select, actors, debounce (issue 4) ----
}

/** makedev(3) for the numbers fs.Stats reports. */
function makedev(major: number, minor: number): number {
  return (major & 0xfff) * 256 + (minor & 0xff) + Math.floor(minor / 256) * 1048576 + Math.floor(major / 4096) * 2 ** 44;
}

function ts(buf: Buffer, off: number): number {
  return Number(buf.readBigInt64LE(off)) * 1000 + buf.readUInt32LE(off + 8) / 1e6;
}

function parseStatx(b: Buffer): Statx {
  return {
    dev: makedev(b.readUInt32LE(L.statx_dev_major!), b.readUInt32LE(L.statx_dev_minor!)),
    ino: Number(b.readBigUInt64LE(L.statx_ino!)),
    mode: b.readUInt16LE(L.statx_mode!),
    nlink: b.readUInt32LE(L.statx_nlink!),
    uid: b.readUInt32LE(L.statx_uid!),
    gid: b.readUInt32LE(L.statx_gid!),
    rdev: makedev(b.readUInt32LE(L.statx_rdev_major!), b.readUInt32LE(L.statx_rdev_minor!)),
    size: Number(b.readBigUInt64LE(L.statx_size!)),
    blksize: b.readUInt32LE(L.statx_blksize!),
    blocks: Number(b.readBigUInt64LE(L.statx_blocks!)),
    atime: ts(b, L.statx_atime!),
    btime: ts(b, L.statx_btime!),
    ctime: ts(b, L.statx_ctime!),
    mtime: ts(b, L.statx_mtime!),
  };
}

// ---- Synchronisation (issue 4): helper ----
async function runLocked<T>(release: () => void, fn: () => T | Promise<T>): Promise<T> {
  try {
    return await fn();
  } finally {
    release();
  }
}
// ---- end (issue 4) ----

/** Alias: `UM === UringMachine`. */
export const UM = UringMachine;
