/**
 * The Op record and its state machine, and the cancellation tree it lives in.
 *
 * Every blocking point of a fiber is a {@link Wait}: a kernel {@link Op}, or
 * a park on the runqueue (yield, join, queue shift...). A Wait belongs to the
 * {@link Task} (fiber) that issued it and to the {@link Scope} it was issued
 * in; cancelling a scope cancels the task's waits inside it.
 *
 * Op states (docs/ARCHITECTURE.md):
 *
 *   FREE -> PREPPED (SQE written, not yet entered) -> SUBMITTED
 *        -> [multishot: SUBMITTED on each CQE with F_MORE]
 *        -> CANCELLING (async cancel queued; still waiting for the final CQE)
 *        -> FREE (final CQE seen: settled, pins released, id reused)
 *
 * The pins (pin0..pin2) are the buffers the kernel may read or write. They
 * are dropped only when the final CQE for the op has been reaped, whatever
 * happened to the fiber meanwhile: this file is the one place that rule
 * lives.
 * Internal module (not exported by the package).
 */
import type { OpKind } from './op-kinds.js';

export const OpState = {
  FREE: 0,
  PREPPED: 1,
  SUBMITTED: 2,
  CANCELLING: 3,
} as const;

/** Marker: no pending error. */
export const NONE: unique symbol = Symbol('none');

/** A cancellation context: the AsyncLocalStorage store of a fiber's code. */
export class Scope {
  readonly task: Task;
  readonly parent: Scope | null;
  cancelled = false;
  error: unknown = undefined;

  constructor(task: Task, parent: Scope | null) {
    this.task = task;
    this.parent = parent;
  }

  /** The error pending for code running in this scope, consuming a one-shot raise. */
  pendingError(): unknown {
    const task = this.task;
    if (task.raise !== NONE) {
      const e = task.raise;
      task.raise = NONE;
      return e;
    }
    for (let s: Scope | null = this; s !== null; s = s.parent) if (s.cancelled) return s.error;
    return NONE;
  }

  /** True if code in this scope would be interrupted by its next op (nothing is consumed). */
  get interrupted(): boolean {
    if (this.task.raise !== NONE) return true;
    for (let s: Scope | null = this; s !== null; s = s.parent) if (s.cancelled) return true;
    return false;
  }

  /** True if `inner` is this scope or nested inside it. */
  contains(inner: Scope | null): boolean {
    for (let s = inner; s !== null; s = s.parent) if (s === this) return true;
    return false;
  }
}

/** The owner of waits: a Fiber, or an anonymous task for a scope opened outside fibers. */
export class Task {
  waitHead: Wait | null = null;
  /** A wait record the task reuses for mutex and queue waits once settled (Core.lineWait). */
  spare: Wait | null = null;
  /** One-shot error to raise at the next wait (schedule(fiber, error) while not waiting). */
  raise: unknown = NONE;
  readonly scope: Scope;

  constructor() {
    this.scope = new Scope(this, null);
  }

  get waiting(): boolean {
    return this.waitHead !== null;
  }

  link(w: Wait): void {
    w.task = this;
    w.wprev = null;
    w.wnext = this.waitHead;
    if (this.waitHead) this.waitHead.wprev = w;
    this.waitHead = w;
  }

  unlink(w: Wait): void {
    if (w.task !== this) return;
    if (w.wprev) w.wprev.wnext = w.wnext;
    else this.waitHead = w.wnext;
    if (w.wnext) w.wnext.wprev = w.wprev;
    w.wnext = w.wprev = null;
    w.task = null;
  }

  /** Cancel every wait issued in `scope` (or below it) with `error`. */
  cancelWaits(scope: Scope | null, error: unknown): number {
    let n = 0;
    const list: Wait[] = [];
    for (let w = this.waitHead; w; w = w.wnext) if (scope === null || scope.contains(w.scope)) list.push(w);
    for (const w of list) {
      w.cancel(error);
      n++;
    }
    return n;
  }
}

/** A blocking point of a task. */
export abstract class Wait {
  task: Task | null = null;
  scope: Scope | null = null;
  wnext: Wait | null = null;
  wprev: Wait | null = null;
  abstract cancel(error: unknown): void;
}

/** Receives the CQEs of a multishot op. */
export interface MultishotListener {
  /** A CQE with IORING_CQE_F_MORE: the op goes on. */
  shot(res: number, flags: number): void;
  /** The final CQE; `cancelError` is the error the op was cancelled with, or NONE. */
  final(res: number, flags: number, cancelError: unknown): void;
}

export interface OpOwner {
  cancelOp(op: Op, error: unknown): void;
}

/** One kernel op: a pooled record, identified in user_data by `id`. */
export class Op extends Wait {
  readonly id: number;
  readonly owner: OpOwner;
  kind: OpKind | null = null;
  state: number = OpState.FREE;
  resolve: ((v: unknown) => void) | null = null;
  reject: ((e: unknown) => void) | null = null;
  /** Turns a successful res into the promise's value. */
  map: ((res: number, op: Op) => unknown) | null = null;
  listener: MultishotListener | null = null;
  /** Where the op was submitted (a captured stack), with UringMachineOptions.stackTraces. */
  site: object | null = null;
  pin0: unknown = undefined;
  pin1: unknown = undefined;
  pin2: unknown = undefined;
  cancelError: unknown = NONE;
  /** Scratch for the op's own use (e.g. the ms a sleep returns). */
  value = 0;
  /** The final CQE's flags, set just before `map` runs (buffer ids). */
  cflags = 0;
  /** Incremented each time the record is released: tells its lives apart. */
  gen = 0;
  /** A timespec owned by this record, reused across its lives. */
  ts: BigInt64Array | null = null;

  constructor(id: number, owner: OpOwner) {
    super();
    this.id = id;
    this.owner = owner;
  }

  cancel(error: unknown): void {
    this.owner.cancelOp(this, error);
  }

  /** The record's own timespec, set to `ms`. */
  timespec(ms: number): BigInt64Array {
    const ts = (this.ts ??= new BigInt64Array(2));
    if (ms < 0 || !Number.isFinite(ms) || ms > 9e15) {
      ts[0] = 0x7fffffffffffffffn / 1000000000n; // saturates to KTIME_MAX in the kernel
      ts[1] = 0n;
    } else {
      const whole = Math.floor(ms);
      ts[0] = BigInt(Math.floor(whole / 1000));
      ts[1] = BigInt((whole % 1000) * 1e6 + Math.round((ms - whole) * 1e6));
    }
    return ts;
  }

  /** Drop everything but the id and the reusable scratch. */
  reset(): void {
    this.gen++;
    this.kind = null;
    this.state = OpState.FREE;
    this.resolve = this.reject = null;
    this.map = null;
    this.listener = null;
    this.pin0 = this.pin1 = this.pin2 = undefined;
    this.site = null;
    this.cancelError = NONE;
    this.scope = null;
    this.value = 0;
  }
}
