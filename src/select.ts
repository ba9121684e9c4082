/**
 * select(): wait for the first ready case among queues, fibers, AsyncOps and
 * fd readiness (API.md "Select (polyvalent)"), Go-style.
 *
 * Exactly one case wins. Queue and fiber cases register a waiter object on
 * the queue / fiber; the first waiter woken wins and withdraws the others, so
 * a losing queue never gives up an item. fd cases are IORING_OP_POLL_ADD ops
 * (io_uring_prep_poll_add(3)); losing ones are cancelled and select settles
 * only once their final CQEs have arrived (no op outlives the call).
 * Cancelling the selecting fiber withdraws every case; if a queue item had
 * already been taken for the winner, it is given back to the front of its
 * queue (or to the queue's next waiter).
 * Internal module (not exported by the package).
 */
import type { AsyncOp } from './async-op.js';
import type { Core } from './core.js';
import { noop } from './prep.js';
import { QueueClosedError, UMError } from './errors.js';
import { Fiber, type ParkWait } from './fiber.js';
import type { OpKind } from './op-kinds.js';
import { NONE, type MultishotListener, type Op } from './op.js';
import { EMPTY, SharedQueue, sharedPut, sharedTryTake, watchShared } from './shared.js';
import { Queue } from './sync.js';
import { argTypeError, invalidArgValue, validateFd } from './validate.js';

const ECANCELED = 125;
const POLLIN = 0x1;
const POLLOUT = 0x4;
/** POLL_ADD (opcode 6), kept local to this module. */
const POLL_KIND: OpKind = Object.freeze({ opcode: 6, syscall: 'poll', floor: 501, multishot: false, createsFd: false });

export type SelectCase = Queue<any> | SharedQueue | Fiber<any> | AsyncOp | { readable: number } | { writable: number };

/** What a select case yields when it wins: a Queue's item, a SharedQueue's, a Fiber's result, an AsyncOp's result, an fd's revents. */
export type SelectCaseValue<C> =
  C extends Queue<infer T> ? T : C extends SharedQueue ? Buffer | string : C extends Fiber<infer T> ? T : C extends AsyncOp ? number : number;

/**
 * `m.select(cases)`'s result typed by the cases: for a tuple of cases, a
 * union of `{ index: i; value: <case i's value> }`, so checking `index`
 * narrows `value`.
 */
export type SelectResultOf<Cs extends readonly SelectCase[]> = {
  [K in keyof Cs]: K extends `${infer I extends number}`
    ? { index: I; value: SelectCaseValue<Cs[K]> }
    : { index: number; value: SelectCaseValue<Cs[K]> };
}[number];

export interface SelectResult {
  /** Index of the winning case in the array. */
  index: number;
  /** Queue: the item; Fiber: its result; AsyncOp: its result; fd: the poll revents. */
  value: unknown;
}

type Kind = 0 | 1 | 2 | 3 | 4; // queue, fiber, asyncop, poll, shared queue

class Selection {
  readonly core: Core;
  readonly cases: SelectCase[];
  readonly kinds: Kind[];
  readonly waiters: (CaseWaiter | null)[] = [];
  readonly ops: (Op | null)[] = [];
  w: ParkWait | null = null;
  settled = false;
  finished = false;
  index = -1;
  value: unknown = undefined;
  isError = false;
  cancelError: unknown = NONE;
  pendingOps = 0;
  parked = false;

  constructor(core: Core, cases: SelectCase[], kinds: Kind[]) {
    this.core = core;
    this.cases = cases;
    this.kinds = kinds;
  }

  win(i: number, v: unknown, isError: boolean): boolean {
    if (this.settled) return false;
    this.settled = true;
    this.index = i;
    this.value = v;
    this.isError = isError;
    this.withdraw(i);
    this.finish();
    return true;
  }

  withdraw(except: number): void {
    const { cases, kinds, waiters, ops } = this;
    for (let j = 0; j < cases.length; j++) {
      if (j === except) continue;
      const cw = waiters[j];
      switch (kinds[j]) {
        case 0:
          if (cw) (cases[j] as Queue).waiters.remove(cw);
          break;
        case 1:
          if (cw) {
            const js = (cases[j] as Fiber).joiners;
            const k = js.indexOf(cw as unknown as ParkWait);
            if (k >= 0) js.splice(k, 1);
          }
          break;
        case 2:
          if (cw) (cases[j] as AsyncOp)._removeWaiter(cw as unknown as ParkWait);
          break;
        case 3:
        case 4: {
          const op = ops[j];
          if (op) this.core.cancelOp(op, NONE);
          break;
        }
      }
    }
  }

  finish(): void {
    if (!this.settled || this.pendingOps > 0 || this.finished || !this.parked) return;
    this.finished = true;
    const w = this.w!;
    if (this.cancelError !== NONE) {
      // Cancelled after a queue item was taken for the winner: give it back.
      if (this.index >= 0 && this.kinds[this.index] === 0 && !this.isError) {
        const q = this.cases[this.index] as Queue;
        if (!q.handOff(this.value)) q.items.unshift(this.value);
      } else if (this.index >= 0 && this.kinds[this.index] === 4 && !this.isError) {
        sharedPut(this.core, this.cases[this.index] as SharedQueue, this.value, true).catch(noop);
      }
      w.fail(this.cancelError);
    } else if (this.isError) w.fail(this.value);
    else w.wake({ index: this.index, value: this.value });
  }
}

/** A select case's registration on a queue, fiber or AsyncOp. */
class CaseWaiter {
  readonly sel: Selection;
  readonly i: number;

  constructor(sel: Selection, i: number) {
    this.sel = sel;
    this.i = i;
  }

  wake(v: unknown): boolean {
    const sel = this.sel;
    if (sel.kinds[this.i] === 1) {
      const f = v as Fiber;
      if (sel.settled) return false;
      f.observed = true;
      return f.error !== undefined ? sel.win(this.i, f.error, true) : sel.win(this.i, f.result, false);
    }
    return sel.win(this.i, v, false);
  }

  fail(e: unknown): boolean {
    return this.sel.win(this.i, e, true);
  }
}

function classify(c: unknown, i: number): Kind {
  if (c instanceof Queue) return 0;
  if (c instanceof SharedQueue) return 4;
  if (c instanceof Fiber) return 1;
  if (c !== null && typeof c === 'object') {
    if (typeof (c as AsyncOp)._addWaiter === 'function') return 2;
    const r = (c as { readable?: unknown }).readable;
    const fd = r ?? (c as { writable?: unknown }).writable;
    if (fd !== undefined) {
      validateFd(fd, `cases[${i}].${r !== undefined ? 'readable' : 'writable'}`);
      return 3;
    }
  }
  throw argTypeError(`cases[${i}]`, 'a Queue, SharedQueue, Fiber, AsyncOp, { readable: fd } or { writable: fd }', c);
}

/** Validate select's cases (throws a coded TypeError/RangeError); returns their kinds. */
export function checkCases(cases: unknown): Kind[] {
  if (!Array.isArray(cases)) throw argTypeError('cases', 'an Array', cases);
  // Nothing could ever win: settle now rather than never.
  if (cases.length === 0) throw invalidArgValue('cases', 'must not be empty (nothing could ever be selected)', cases);
  // A loop, not Array#map: a hole in a sparse array is a bad case too.
  const kinds = new Array<Kind>(cases.length);
  for (let i = 0; i < cases.length; i++) kinds[i] = classify(cases[i], i);
  return kinds;
}

export function select(core: Core, cases: SelectCase[]): Promise<SelectResult> {
  try {
    const kinds = checkCases(cases);
    const scope = core.enterScope();
    // Fast path: the first case already ready, in array order (fd cases are
    // only known to be ready through the kernel).
    for (let i = 0; i < cases.length; i++) {
      const c = cases[i]!;
      switch (kinds[i]) {
        case 0:
          if ((c as Queue).items.length > 0) return Promise.resolve({ index: i, value: (c as Queue).items.shift() });
          if ((c as Queue).closed) return Promise.reject(new QueueClosedError());
          break;
        case 1: {
          const f = c as Fiber;
          if (f.done) {
            f.observed = true;
            if (f.error !== undefined) return Promise.reject(f.error);
            return Promise.resolve({ index: i, value: f.result });
          }
          break;
        }
        case 2: {
          const a = c as AsyncOp;
          if (a.done) {
            if (a.error !== undefined) return Promise.reject(a.error);
            return Promise.resolve({ index: i, value: a.result });
          }
          break;
        }
        case 4: {
          const v = sharedTryTake(core, c as SharedQueue);
          if (v !== EMPTY) return Promise.resolve({ index: i, value: v });
          break;
        }
      }
    }
    const sel = new Selection(core, cases, kinds);
    const w = core.newWait();
    sel.w = w;
    w.onCancel = (_w, err) => {
      sel.cancelError = err;
      if (!sel.settled) {
        sel.settled = true;
        sel.withdraw(-1);
      }
      sel.finish();
      return true;
    };
    try {
      register(core, sel);
    } catch (e) {
      sel.settled = true;
      sel.withdraw(-1);
      throw e;
    }
    const p = core.park(w, scope);
    sel.parked = true;
    sel.finish();
    return p;
  } catch (e) {
    return Promise.reject(e);
  }
}

function register(core: Core, sel: Selection): void {
    const { cases, kinds } = sel;
    for (let i = 0; i < cases.length; i++) {
      const c = cases[i]!;
      sel.waiters.push(null);
      sel.ops.push(null);
      if (sel.settled) continue; // a poll submit reaped a completion already
      switch (kinds[i]) {
        case 0: {
          const cw = new CaseWaiter(sel, i);
          sel.waiters[i] = cw;
          (c as Queue).waiters.push(cw);
          break;
        }
        case 1: {
          const cw = new CaseWaiter(sel, i);
          sel.waiters[i] = cw;
          (c as Fiber).joiners.push(cw as unknown as ParkWait);
          break;
        }
        case 2: {
          const cw = new CaseWaiter(sel, i);
          sel.waiters[i] = cw;
          (c as AsyncOp)._addWaiter(cw as unknown as ParkWait);
          break;
        }
        case 3: {
          const readable = (c as { readable?: number }).readable;
          const fd = readable ?? (c as { writable: number }).writable;
          const listener: MultishotListener = {
            shot: noop,
            final: (res, _flags, cancelError) => {
              sel.ops[i] = null;
              sel.pendingOps--;
              if (cancelError !== NONE) sel.win(i, cancelError, true);
              else if (res >= 0) sel.win(i, res, false);
              else if (res !== -ECANCELED) sel.win(i, new UMError(res, 'poll'), true);
              sel.finish();
            },
          };
          const op = core.acquire(POLL_KIND, undefined);
          const t = core.tmpl;
          t[0] = POLL_KIND.opcode;
          t[1] = fd;
          t[7] = readable !== undefined ? POLLIN : POLLOUT;
          core.multishot(op, listener);
          sel.ops[i] = op;
          sel.pendingOps++;
          break;
        }
        case 4:
          watchShared(core, sel, i, c as SharedQueue);
          break;
      }
    }
}

