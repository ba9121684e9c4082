/**
 * AsyncOp: a kernel op running independently of any fiber (prepTimeout,
 * prepTimeoutMultishot). Await its result from any fiber, or cancel it.
 *
 * Port of UM::AsyncOp (ext/um/um_async_op.c).
 */
import type { Core } from './core.js';
import { UMError } from './errors.js';
import type { ParkWait } from './fiber.js';
import { NONE, type MultishotListener, type Op } from './op.js';

const ETIME = 62;
const ECANCELED = 125;

// A MultishotListener structurally (shot/final are internal, stripped from the .d.ts).
export class AsyncOp {
  /** The op kind, e.g. 'timeout'. */
  readonly kind: string;
  /** True once the op's final completion has arrived. */
  done = false;
  /** The op's result (>= 0), or undefined while pending or after an error. */
  result: number | undefined = undefined;
  /** True if the op was cancelled before it completed. */
  cancelled = false;
  /** Multishot: expirations so far. */
  count = 0;
  /** @internal */ error: unknown = undefined;

  readonly #core: Core;
  readonly #multishot: boolean;
  #op: Op | null;
  #waiters: ParkWait[] = [];

  /** @internal */
  constructor(core: Core, kind: string, multishot: boolean, start: (l: MultishotListener) => Op) {
    this.#core = core;
    this.kind = kind;
    this.#multishot = multishot;
    this.#op = start(this);
  }

  /** @internal */
  shot(res: number, flags: number): void {
    void flags;
    if (res === -ETIME) res = 0;
    this.count++;
    this.result = res;
    this.#wakeAll();
  }

  /** @internal */
  final(res: number, flags: number, cancelError: unknown): void {
    void flags;
    this.#op = null;
    this.done = true;
    if (res === -ETIME) res = 0;
    if (cancelError !== NONE || res === -ECANCELED) {
      this.cancelled = true;
      this.error = new UMError(-ECANCELED, this.kind);
    } else if (res < 0) {
      this.error = new UMError(res, this.kind);
    } else {
      this.count++;
      this.result = res;
    }
    this.#wakeAll();
  }

  #wakeAll(): void {
    const ws = this.#waiters;
    this.#waiters = [];
    for (const w of ws) {
      if (this.done && this.error !== undefined) w.fail(this.error);
      else w.wake(this.result);
    }
  }

  /**
   * Wait for the op: its result when it completes (at once if it already
   * has); for a multishot op, the next expiration. Rejects with a UMError
   * (ECANCELED after cancel()). Cancelling the waiting fiber withdraws the
   * wait, not the op.
   */
  await(): Promise<number> {
    if (this.done && (!this.#multishot || this.#op === null)) {
      return this.error !== undefined ? Promise.reject(this.error) : Promise.resolve(this.result!);
    }
    let scope;
    try {
      scope = this.#core.enterScope();
    } catch (e) {
      return Promise.reject(e);
    }
    const w = this.#core.newWait();
    w.onCancel = () => {
      const i = this.#waiters.indexOf(w);
      if (i >= 0) this.#waiters.splice(i, 1);
    };
    this.#waiters.push(w);
    return this.#core.park(w, scope);
  }

  /** Alias of {@link AsyncOp.await}. */
  join(): Promise<number> {
    return this.await();
  }

  /** Cancel the op; waiters reject with ECANCELED once the kernel confirms. */
  cancel(): void {
    if (this.#op !== null) this.#core.cancelOp(this.#op, NONE);
  }

  /** @internal for select(): register a waiter woken like await()'s (wake/fail). */
  _addWaiter(w: ParkWait): void {
    this.#waiters.push(w);
  }

  /** @internal for select(): withdraw a waiter registered by _addWaiter. */
  _removeWaiter(w: ParkWait): void {
    const i = this.#waiters.indexOf(w);
    if (i >= 0) this.#waiters.splice(i, 1);
  }

  /** @internal for select: whether the op has completed (or fired, if multishot). */
  get ready(): boolean {
    return this.done;
  }
}
