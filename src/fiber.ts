/**
 * Fibers: async functions the machine starts, tracks and can cancel.
 */
import { NONE, Task, Wait } from './op.js';

/** A runqueue scheduler, as ParkWait needs it (internal: not exported by the package). */
export interface Scheduler {
  schedule(fn: (arg: any) => void, arg: unknown): void;
}

/**
 * A wait that is not a kernel op: the fiber is parked until something else
 * (a schedule, a fiber ending, an item arriving) wakes it through the
 * runqueue. Cancelling it removes it from whatever it was parked on.
 * (Internal: not exported by the package; referenced by the engine's declarations.)
 */
export class ParkWait extends Wait {
  settled = false;
  resolve: ((v: unknown) => void) | null = null;
  reject: ((e: unknown) => void) | null = null;
  /** Called on cancel; returning true means "I will fail this wait myself later". */
  onCancel: ((w: ParkWait, error: unknown) => boolean | void) | null = null;
  /** Join bookkeeping: fibers still to finish. */
  count = 0;
  /** What the wait is parked on, for a shared onCancel (saves a closure per wait). */
  ctx: unknown = null;
  readonly sched: Scheduler;

  constructor(sched: Scheduler) {
    super();
    this.sched = sched;
  }

  /** Resume the parked fiber with `value` (through the runqueue). */
  wake(value: unknown): boolean {
    if (this.settled) return false;
    this.settled = true;
    this.task?.unlink(this);
    this.sched.schedule(this.resolve!, value);
    return true;
  }

  /** Raise `error` in the parked fiber (through the runqueue). */
  fail(error: unknown): boolean {
    if (this.settled) return false;
    this.settled = true;
    this.task?.unlink(this);
    this.sched.schedule(this.reject!, error);
    return true;
  }

  cancel(error: unknown): void {
    if (this.settled) return;
    if (this.onCancel !== null && this.onCancel(this, error) === true) return;
    this.fail(error);
  }
}

/**
 * A fiber: an async function started by `m.spin()`. `done`, `result` and
 * `error` describe how it ended.
 *
 * Port of UM's fibers (UM#spin, ext/um/um.c), with async functions in place
 * of Ruby fibers.
 */
export class Fiber<T = unknown> extends Task {
  /** True once the fiber's function has returned or thrown. */
  done = false;
  /** The value the function returned. */
  result?: T;
  /** The error the function threw (not set for a terminated fiber). */
  error?: unknown;
  /** @internal */ fn: (() => T | Promise<T>) | null;
  /** @internal */ started = false;
  /** @internal */ terminated = false;
  /** @internal */ joiners: ParkWait[] = [];
  /** @internal */ yieldWait: ParkWait | null = null;
  /** @internal */ resumeValue: unknown = NONE;
  /** @internal A joiner has seen or will see this fiber's outcome. */
  observed = false;
  /** @internal */ finishSeq = 0;

  /** @internal */
  constructor(fn: () => T | Promise<T>) {
    super();
    this.fn = fn;
  }
}
