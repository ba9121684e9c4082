/**
 * Linked ops (issue 15): the `timeout` option of read/recv
 * (IORING_OP_LINK_TIMEOUT, Linux 5.5, io_uring_prep_link_timeout(3)) and
 * `m.chain()`, a batch of ops joined with IOSQE_IO_LINK / IOSQE_IO_HARDLINK.
 *
 * Both work on the SQE an op call has just pushed: every op method writes
 * its SQE synchronously, and nothing reaches the kernel before the next
 * flush, so the flags of the last SQE can still be changed
 * (`core.lastUnsubmitted()`, `core.orSqeFlags()`). Room for every SQE of a
 * chain (or op + timeout) is made first, so no submit can cut it in two.
 * Internal module (not exported by the package).
 */
import type { Core } from './core.js';
import { TimeoutError, UMError } from './errors.js';
import { OP_KINDS } from './op-kinds.js';
import { requireOp } from './prep.js';
import { argTypeError, codedError, rangeError, validateMs } from './validate.js';

const IOSQE_IO_LINK = 1 << 2;
const IOSQE_IO_HARDLINK = 1 << 3;
const ECANCELED = 125;

/** Options of read/recv. */
export interface LinkTimeoutOptions {
  /** Milliseconds the op may take; then it rejects with TimeoutError (a linked IORING_OP_LINK_TIMEOUT). */
  timeout?: number;
}

/** Options of m.chain(). */
export interface ChainOptions {
  /** IOSQE_IO_HARDLINK: a member that fails does not cancel the members after it (default false). */
  hard?: boolean;
}

/** One member's outcome, as Promise.allSettled reports it. */
export type ChainResult<T = unknown> = PromiseSettledResult<T>;

/** Make room in the SQ for n SQEs without splitting them over two submissions. */
function room(core: Core, n: number): void {
  for (let i = 0; i < 100; i++) {
    if (core.sqSpace() >= n) return;
    if (i === 0) core.ring.submit(core.tail);
    else core.reap();
  }
}

function timeoutOf(opts: unknown): number | undefined {
  if (opts === undefined) return undefined;
  if (opts === null || typeof opts !== 'object') throw argTypeError('opts', 'of type object', opts);
  const ms = (opts as LinkTimeoutOptions).timeout;
  if (ms === undefined) return undefined;
  validateMs(ms, 'opts.timeout');
  if (ms < 0) throw rangeError('opts.timeout', '>= 0', ms);
  return ms;
}

function toTimeout(e: unknown): never {
  if (e instanceof UMError && e.errno === ECANCELED) throw new TimeoutError();
  throw e;
}

/**
 * Run `start` (one op call that pushes exactly one SQE) with a linked
 * timeout of opts.timeout ms. The op's -ECANCELED (what the link timeout
 * makes of it) becomes a TimeoutError; a completion before the timer
 * settles it as usual, and the timer is then cancelled by the kernel (its
 * CQE, -ECANCELED, is internal).
 */
export function withTimeout<T>(core: Core, opts: unknown, start: () => Promise<T>): Promise<T> {
  let ms: number | undefined;
  try {
    ms = timeoutOf(opts);
    if (ms !== undefined) requireOp(core, OP_KINDS.linkTimeout, 'the timeout option (IORING_OP_LINK_TIMEOUT) needs');
  } catch (e) {
    return Promise.reject(e);
  }
  if (ms === undefined) return start();
  if (!core.closed) room(core, 2);
  const tail = core.tail;
  const p = start();
  if (core.tail === ((tail + 1) >>> 0)) {
    const id = core.lastUnsubmitted();
    if (id >= 0) core.linkTimeout(id, ms);
  }
  return p.catch(toTimeout);
}

/**
 * m.chain(members): each member a function that starts one op (`() =>
 * m.write(fd, buf)`); their SQEs are joined with IOSQE_IO_LINK (hard:
 * IOSQE_IO_HARDLINK) and submitted together, so each runs only after the
 * previous one completed (a soft link: successfully; a failure cancels the
 * rest with ECANCELED). Resolves every member's outcome, in order.
 */
export async function chain(core: Core, members: unknown, opts: unknown): Promise<ChainResult[]> {
  if (!Array.isArray(members)) throw argTypeError('members', 'an array of functions', members);
  for (let i = 0; i < members.length; i++) {
    if (typeof members[i] !== 'function') throw argTypeError(`members[${i}]`, 'of type function', members[i]);
  }
  let hard = false;
  if (opts !== undefined) {
    if (opts === null || typeof opts !== 'object') throw argTypeError('opts', 'of type object', opts);
    const h = (opts as ChainOptions).hard;
    if (h !== undefined && typeof h !== 'boolean') throw argTypeError('opts.hard', 'of type boolean', h);
    hard = h === true;
  }
  const n = members.length;
  if (n > core.size) throw rangeError('members.length', `<= ${core.size} (the ring's SQ size)`, n);
  core.enterScope();
  room(core, n);
  const flag = hard ? IOSQE_IO_HARDLINK : IOSQE_IO_LINK;
  const promises: Promise<unknown>[] = [];
  let linked = false; // the previous member's SQE is the last one and may be linked on
  for (let i = 0; i < n; i++) {
    const tail = core.tail;
    let p: Promise<unknown>;
    try {
      p = Promise.resolve((members[i] as () => unknown)());
    } catch (e) {
      p = Promise.reject(e);
    }
    promises.push(p);
    const pushed = (core.tail - tail) >>> 0;
    const ok = pushed === 1 && core.lastUnsubmitted() >= 0;
    // Link the previous SQE to this one only now that this one is known to
    // be a single op SQE right behind it.
    if (ok && linked) core.orSqeFlags(1, flag);
    if (!ok) {
      // A member that started no op (bad arguments, a cancelled scope) or
      // more than one SQE ends the chain here: the members before it run as
      // the chain, the ones after it are not started.
      const err = codedError(
        TypeError,
        'ERR_INVALID_ARG_VALUE',
        `chain member ${i} did not start exactly one op, so members ${i + 1}..${n - 1} were not started`,
      );
      for (let k = i + 1; k < n; k++) promises.push(Promise.reject(err));
      if (pushed !== 0) p.catch(() => {});
      break;
    }
    linked = true;
  }
  return Promise.allSettled(promises);
}
