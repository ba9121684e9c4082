/**
 * m.debounce(ms, fn) (API.md "Concurrency tools").
 *
 * One kernel timeout (an AsyncOp from m.prepTimeout) is armed at the first
 * call of a burst; each later call only records its arguments and the new
 * deadline (performance.now() + ms, the monotonic clock the kernel timeout
 * also uses). When the timeout fires before the deadline it is re-armed for
 * the remainder, so a burst of N calls costs about one op per `ms`, not N.
 * At the deadline fn runs in a new fiber of the machine, with the last
 * call's arguments: it may use the machine's ops, and an error it throws
 * goes to m.onUnhandledFiberError (or rejects flush()).
 * Internal module (not exported by the package).
 */
import type { AsyncOp } from './async-op.js';
import type { Fiber } from './fiber.js';

/** The parts of UringMachine a debouncer needs. */
export interface DebounceHost {
  prepTimeout(ms: number): AsyncOp;
  spin<T>(fn: () => T | Promise<T>): Fiber<T>;
  join(f: Fiber): Promise<unknown>;
}

export interface Debounced<A extends unknown[]> {
  (...args: A): void;
  /** Run a pending call now (cancelling its timer); resolves when fn has returned. */
  flush(): Promise<void>;
  /** Drop the pending call, if any, and cancel its timer. */
  cancel(): void;
}

export function debounce<A extends unknown[]>(host: DebounceHost, ms: number, fn: (...args: A) => unknown): Debounced<A> {
  let pending = false;
  let args: A | null = null;
  let deadline = 0;
  let timer: AsyncOp | null = null;

  const run = (): Fiber => {
    const a = args!;
    pending = false;
    args = null;
    return host.spin(() => fn(...a));
  };

  const arm = (delay: number): void => {
    const t = host.prepTimeout(delay);
    timer = t;
    t.await().then(
      () => {
        if (timer !== t) return;
        timer = null;
        if (!pending) return;
        const left = deadline - performance.now();
        if (left > 0) arm(left);
        else run();
      },
      () => {
        if (timer === t) timer = null;
      },
    );
  };

  const d = ((...a: A): void => {
    args = a;
    pending = true;
    deadline = performance.now() + ms;
    if (timer === null) arm(ms);
  }) as Debounced<A>;

  const stopTimer = (): void => {
    const t = timer;
    timer = null;
    t?.cancel();
  };

  d.cancel = (): void => {
    pending = false;
    args = null;
    stopTimer();
  };

  d.flush = async (): Promise<void> => {
    if (!pending) return;
    stopTimer();
    await host.join(run());
  };

  return d;
}
