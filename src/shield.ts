/**
 * m.uncancellable(fn, { timeout }): a shield for cleanup ops. Code in a
 * timed-out, terminated or aborted scope has every later op raise again
 * (that is what stops it); a server's `finally` could then not send its
 * "timed out" reply. fn runs in a scope of its own, outside the caller's
 * cancellation tree (a fresh task, so neither the caller's cancelled scopes
 * nor a terminate's one-shot raise reach its ops), bounded by its own
 * optional timeout. The caller's cancellation is still there when it
 * returns: its next op raises.
 * Internal module (not exported by the package).
 */
import { als, type Core } from './core.js';
import { TimeoutError } from './errors.js';
import { Scope, Task } from './op.js';
import { argTypeError, rangeError, validateFunction, validateMs } from './validate.js';

export interface UncancellableOptions {
  /** Cancel the shielded ops after this many ms with a TimeoutError (default: none). */
  timeout?: number;
}

export async function uncancellable<T>(core: Core, fn: () => Promise<T> | T, opts?: UncancellableOptions): Promise<T> {
  void core; // the scope needs no engine state: the signature matches the other ops
  validateFunction(fn, 'fn');
  let ms: number | undefined;
  if (opts !== undefined) {
    if (opts === null || typeof opts !== 'object') throw argTypeError('opts', 'of type object', opts);
    if (opts.timeout !== undefined && opts.timeout !== Infinity) {
      validateMs(opts.timeout, 'opts.timeout');
      if (opts.timeout < 0 || opts.timeout > 0x7fffffff) throw rangeError('opts.timeout', '>= 0 and <= 2147483647, or Infinity', opts.timeout);
      ms = opts.timeout;
    }
  }
  const scope = new Scope(new Task(), null);
  let timer: ReturnType<typeof setTimeout> | undefined;
  if (ms !== undefined) {
    timer = setTimeout(() => {
      const err = new TimeoutError(`uncancellable section timed out after ${ms} ms`);
      scope.cancelled = true;
      scope.error = err;
      scope.task.cancelWaits(scope, err);
    }, ms);
  }
  try {
    return await als.run(scope, fn);
  } finally {
    clearTimeout(timer);
  }
}
