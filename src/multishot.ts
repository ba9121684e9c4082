/**
 * Multishot ops as async iterators. One kernel op produces many CQEs; the
 * iterator queues what arrives while the loop body runs, parks the fiber
 * when nothing is queued, restarts the op when the kernel ends it early
 * (the subclass decides when that is), and cancels it on break, return,
 * an exception in the body, or cancellation of the waiting fiber. The loop
 * never exits before the op's final CQE: `next()` and `return()` wait for it.
 * Internal module (not exported by the package).
 */
import type { Core } from './core.js';
import type { ParkWait } from './fiber.js';
import { NONE, type MultishotListener, type Op } from './op.js';

export const ECANCELED = 125;

export abstract class MultishotIterator<T> implements AsyncIterableIterator<T>, MultishotListener {
  protected readonly core: Core;
  #queue: T[] = [];
  #op: Op | null = null;
  #waiter: ParkWait | null = null;
  #finalWaiters: (() => void)[] = [];
  #error: unknown = NONE;
  #ended = false;
  /** Error to raise once the op's final CQE arrives (the waiter was cancelled). */
  #pendingCancel: unknown = NONE;

  constructor(core: Core) {
    this.core = core;
  }

  /** Submit a fresh kernel op with `this` as listener; return it. */
  protected abstract start(): Op;
  /** Turn a CQE into an item, or undefined to skip it. Throw to end with an error. */
  protected abstract item(res: number, flags: number): T | undefined;
  /**
   * The op ended without cancel: true to restart it now, false to end, or
   * 'later' when the subclass will call restartNow() itself (e.g. once the
   * buffer pool has a buffer again).
   */
  protected restartOn(res: number): boolean | 'later' {
    void res;
    return false;
  }
  /** An item that will never reach the loop body (cancelled, returned): release it. */
  protected discard(v: T): void {
    void v;
  }
  /**
   * Before the iterator's first kernel op: an item an earlier loop on the
   * same fd received and did not take (what discard() kept), handed out
   * before anything newer; undefined when there is none.
   */
  protected leftover(): T | undefined {
    return undefined;
  }
  #started = false;
  /** True once the first kernel op was submitted. */
  protected get started(): boolean {
    return this.#started;
  }

  /**
   * The final CQE of an op the loop no longer wants (cancelled, returned)
   * carried a result >= 0: keep what it delivered from being lost (data goes
   * to discard(), which may stash it for the next reader). `cancelError` is
   * NONE when the loop ended by itself (break/return).
   */
  protected salvage(res: number, flags: number, cancelError: unknown): void {
    void cancelError;
    const v = this.finalItem(res, flags);
    if (v !== undefined) this.discard(v);
  }

  /**
   * Hand `v` to the loop (or queue it) outside shot(): for a subclass that
   * gathers several CQEs into one item (a batch) and delivers it later. An
   * item for a loop that has ended is discarded.
   */
  protected deliver(v: T): void {
    if (this.#ended) this.discard(v);
    else this.#push(v);
  }

  /** Resume after restartOn() said 'later'. */
  protected restartNow(): void {
    if (this.#ended || this.#op !== null) return;
    try {
      this.#op = this.start();
    } catch (e) {
      this.#error = e;
      this.#ended = true;
      this.#wake();
    }
  }

  #dropQueue(): void {
    const q = this.#queue;
    this.#queue = [];
    for (const v of q) this.discard(v);
  }
  /** A final CQE with a result >= 0 may carry one last item (e.g. data before EOF). */
  protected finalItem(res: number, flags: number): T | undefined {
    void res;
    void flags;
    return undefined;
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  shot(res: number, flags: number): void {
    try {
      const v = this.item(res, flags);
      if (v !== undefined) {
        if (this.#ended) this.discard(v);
        else this.#push(v);
      }
    } catch (e) {
      this.#error = e;
      if (this.#op) this.core.cancelOp(this.#op, NONE);
      this.#wake();
    }
  }

  final(res: number, flags: number, cancelError: unknown): void {
    this.#op = null;
    if (res >= 0 && (cancelError !== NONE || this.#ended || this.#pendingCancel !== NONE)) {
      try {
        this.salvage(res, flags, cancelError);
      } catch {
        // nothing to salvage
      }
    }
    const waiters = this.#finalWaiters;
    this.#finalWaiters = [];
    for (const w of waiters) w();
    if (this.#pendingCancel !== NONE) {
      const e = this.#pendingCancel;
      this.#pendingCancel = NONE;
      this.#ended = true;
      this.#dropQueue();
      const w = this.#waiter;
      this.#waiter = null;
      w?.fail(e);
      return;
    }
    if (cancelError !== NONE && !this.#ended) {
      // Cancelled from outside the loop (the machine closed): the loop
      // raises that error after any items already queued.
      this.#ended = true;
      this.#error = cancelError;
      this.#wake();
      return;
    }
    if (this.#ended) {
      this.#wake();
      return;
    }
    try {
      if (res >= 0) {
        const v = this.finalItem(res, flags);
        if (v !== undefined) this.#push(v);
      }
      const again = this.restartOn(res);
      if (again === 'later') return;
      if (again) {
        this.#op = this.start();
        return;
      }
      if (res < 0 && res !== -ECANCELED) this.#error = this.error(res);
    } catch (e) {
      this.#error = e;
    }
    this.#ended = true;
    this.#wake();
  }

  protected abstract error(res: number): unknown;

  #push(v: T): void {
    const w = this.#waiter;
    // A waiter whose cancel is pending fails at the final CQE: it takes no item.
    if (w !== null && this.#pendingCancel === NONE) {
      this.#waiter = null;
      w.wake({ value: v, done: false });
    } else this.#queue.push(v);
  }

  #wake(): void {
    const w = this.#waiter;
    if (w === null) return;
    this.#waiter = null;
    if (this.#queue.length > 0) w.wake({ value: this.#queue.shift()!, done: false });
    else if (this.#error !== NONE) {
      const e = this.#error;
      this.#error = NONE;
      w.fail(e);
    } else w.wake({ value: undefined, done: true });
  }

  next(): Promise<IteratorResult<T>> {
    if (!this.#started) {
      const v = this.leftover();
      if (v !== undefined) return Promise.resolve({ value: v, done: false });
    }
    // Check for cancellation first: with items always queued (a producer
    // faster than the loop body) a cancelled loop would otherwise never end.
    let scope;
    try {
      scope = this.core.enterScope();
    } catch (e) {
      this.#ended = true;
      this.#dropQueue();
      if (this.#op !== null) this.core.cancelOp(this.#op, NONE);
      return this.#afterFinal().then(() => Promise.reject(e));
    }
    if (this.#queue.length > 0) return Promise.resolve({ value: this.#queue.shift()!, done: false });
    if (this.#error !== NONE) {
      const e = this.#error;
      this.#error = NONE;
      this.#ended = true;
      return this.#afterFinal().then(() => Promise.reject(e));
    }
    if (this.#ended) return this.#afterFinal().then(() => ({ value: undefined, done: true }) as IteratorResult<T>);
    try {
      if (this.#op === null) {
        this.#started = true;
        this.#op = this.start();
      }
    } catch (e) {
      this.#ended = true;
      return Promise.reject(e);
    }
    // One wait object per iterator, reused for every park: a loop parks
    // once per item, so this saves two allocations per item.
    let w = this.#wait;
    if (w === null) {
      w = this.#wait = this.core.newWait();
      w.onCancel = this.#onCancel;
    }
    w.settled = false;
    this.#waiter = w;
    return this.core.park(w, scope);
  }

  #wait: ParkWait | null = null;
  readonly #onCancel = (w: ParkWait, error: unknown): boolean => {
    // Cancel the kernel op and fail the waiter only at its final CQE, so
    // the loop exits after the kernel is done with the op's buffers.
    this.#waiter = null;
    w.settled = false;
    if (this.#op !== null) {
      this.#pendingCancel = error;
      this.#waiter = w;
      this.core.cancelOp(this.#op, error);
      return true;
    }
    this.#ended = true; // no op in flight (waiting to restart): fail now
    this.#dropQueue();
    return false;
  };

  /** Resolves once no kernel op of this iterator is in flight. */
  #afterFinal(): Promise<void> {
    if (this.#op === null) return Promise.resolve();
    return new Promise((r) => this.#finalWaiters.push(r));
  }

  return(): Promise<IteratorResult<T>> {
    this.#ended = true;
    this.#dropQueue();
    const op = this.#op;
    if (op !== null) this.core.cancelOp(op, NONE);
    return this.#afterFinal().then(() => ({ value: undefined, done: true }) as IteratorResult<T>);
  }

  throw(e?: unknown): Promise<IteratorResult<T>> {
    return this.return().then(() => Promise.reject(e));
  }
}
