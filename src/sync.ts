/**
 * Mutex and Queue for the fibers of one machine (API.md "Synchronisation").
 *
 * Both keep a FIFO list of waiters. A waiter is anything with
 * `wake(value): boolean` — a fiber's ParkWait, or a select() case. Handing
 * the lock or an item over calls wake(), which goes through the machine's
 * runqueue; it returns false if the waiter was already settled, and then
 * the next waiter is tried. A waiter cancelled while parked (timeout,
 * terminate) removes itself from the list at once, so it never takes an
 * item nor holds the lock.
 *
 * Port of UM's Mutex / Queue (ext/um/um_sync.c, um_queue.c), with async
 * functions in place of Ruby fibers.
 */
import type { Core } from './core.js';
import type { ParkWait } from './fiber.js';
import { QueueClosedError } from './errors.js';

/** Something an item or the lock can be handed to. @internal */
export interface Waiter {
  wake(value: unknown): boolean;
  fail(error: unknown): boolean;
}

/** A FIFO of values with O(1) push/shift at both ends (amortised). @internal */
export class Deque<T> {
  #a: (T | undefined)[] = [];
  #head = 0;

  get length(): number {
    return this.#a.length - this.#head;
  }

  push(v: T): void {
    this.#a.push(v);
  }

  unshift(v: T): void {
    if (this.#head > 0) this.#a[--this.#head] = v;
    else this.#a.unshift(v);
  }

  shift(): T | undefined {
    if (this.#head >= this.#a.length) return undefined;
    const v = this.#a[this.#head];
    this.#a[this.#head++] = undefined;
    if (this.#head === this.#a.length) {
      this.#a.length = 0;
      this.#head = 0;
    } else if (this.#head > 1024 && this.#head * 2 > this.#a.length) {
      this.#a = this.#a.slice(this.#head);
      this.#head = 0;
    }
    return v;
  }

  pop(): T | undefined {
    if (this.#head >= this.#a.length) return undefined;
    const v = this.#a.pop();
    if (this.#head === this.#a.length) {
      this.#a.length = 0;
      this.#head = 0;
    }
    return v;
  }

  /** Remove the first occurrence of `v`; true if found. */
  remove(v: T): boolean {
    const i = this.#a.indexOf(v, this.#head);
    if (i < 0) return false;
    if (i === this.#head) this.shift();
    else this.#a.splice(i, 1);
    return true;
  }

  clear(): void {
    this.#a.length = 0;
    this.#head = 0;
  }
}

/** A lock for the fibers of one machine; FIFO among waiters. Use `m.synchronize(mu, fn)`. */
export class Mutex {
  // Nominal typing: the internals are stripped from the .d.ts, and without a
  // private member any object with `isLocked` would type-check as a Mutex.
  declare private readonly _mutexBrand: never;
  /** @internal */ locked = false;
  /** @internal */ readonly waiters = new Deque<Waiter>();

  /** True while some fiber holds the lock. */
  get isLocked(): boolean {
    return this.locked;
  }

  /** @internal Hand the lock to the next live waiter, or release it. */
  unlock(): void {
    for (;;) {
      const w = this.waiters.shift();
      if (w === undefined) {
        this.locked = false;
        return;
      }
      if (w.wake(undefined)) return;
    }
  }
}

/** A FIFO queue for the fibers of one machine. Use `m.push/unshift/shift/pop`. */
export class Queue<T = unknown> {
  // Nominal typing (see Mutex): a SharedQueue must not pass for a Queue.
  declare private readonly _queueBrand: never;
  /** @internal */ readonly items = new Deque<T>();
  /** @internal */ readonly waiters = new Deque<Waiter>();
  /** @internal */ closed = false;

  /** Items in the queue. */
  get count(): number {
    return this.items.length;
  }

  /** True once close() was called. */
  get isClosed(): boolean {
    return this.closed;
  }

  /**
   * No more items: waiting takers (shift, pop, select) reject with a
   * QueueClosedError, and so do later takes once the items left are taken;
   * push/unshift throw it. `for await (const x of m.each(queue))` ends.
   */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (let w = this.waiters.shift(); w !== undefined; w = this.waiters.shift()) w.fail(new QueueClosedError());
  }

  /** @internal Give `v` to the first live waiter; false if nobody took it. */
  handOff(v: T): boolean {
    for (;;) {
      const w = this.waiters.shift();
      if (w === undefined) return false;
      if (w.wake(v)) return true;
    }
  }
}

/** Lock `mu` for the current fiber (parks while another holds it). @internal */
export function lock(core: Core, mu: Mutex): Promise<void> | undefined {
  const scope = core.enterScope();
  if (!mu.locked) {
    mu.locked = true;
    return undefined;
  }
  const w = core.lineWait(scope);
  mu.waiters.push(w);
  w.ctx = mu.waiters;
  w.onCancel = leaveLine;
  return core.park(w, scope);
}

/**
 * m.synchronize on a Mutex: one async function for lock, run and unlock.
 */
export async function synchronize<T>(core: Core, mu: Mutex, fn: () => T | Promise<T>): Promise<T> {
  const p = lock(core, mu);
  if (p !== undefined) await p;
  try {
    return await fn();
  } finally {
    mu.unlock();
  }
}

/** A cancelled waiter leaves the line it was in (w.ctx). */
function leaveLine(w: ParkWait): void {
  (w.ctx as Deque<Waiter>).remove(w);
}

/** Take an item from the front (shift) or the back (pop), parking while empty. @internal */
export function take<T>(core: Core, q: Queue<T>, back: boolean): Promise<T> {
  try {
    const scope = core.enterScope();
    if (q.items.length > 0) return Promise.resolve((back ? q.items.pop() : q.items.shift()) as T);
    if (q.closed) return Promise.reject(new QueueClosedError());
    const w = core.lineWait(scope);
    q.waiters.push(w);
    w.ctx = q.waiters;
    w.onCancel = leaveLine;
    return core.park(w, scope);
  } catch (e) {
    return Promise.reject(e);
  }
}
