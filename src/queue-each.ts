/**
 * m.each(queue): a Queue as an async iterator. Each step is a `shift`
 * (waiting while the queue is empty); the loop ends when the queue is
 * closed and drained (QueueClosedError is the end, not an error). `break`
 * leaves nothing behind: no take is pending between steps.
 * Internal module (not exported by the package).
 */
import type { Core } from './core.js';
import { QueueClosedError } from './errors.js';
import { Queue, take } from './sync.js';
import { argTypeError } from './validate.js';

class QueueIterator<T> implements AsyncIterableIterator<T> {
  readonly #core: Core;
  readonly #q: Queue<T>;
  #done = false;
  constructor(core: Core, q: Queue<T>) {
    this.#core = core;
    this.#q = q;
  }
  async next(): Promise<IteratorResult<T>> {
    if (this.#done) return { done: true, value: undefined };
    try {
      return { done: false, value: await take(this.#core, this.#q, false) };
    } catch (e) {
      if (!(e instanceof QueueClosedError)) throw e;
      this.#done = true;
      return { done: true, value: undefined };
    }
  }
  async return(): Promise<IteratorResult<T>> {
    this.#done = true;
    return { done: true, value: undefined };
  }
  [Symbol.asyncIterator](): this {
    return this;
  }
}

export function each<T>(core: Core, q: Queue<T>): AsyncIterableIterator<T> {
  if (!(q instanceof Queue)) throw argTypeError('queue', 'an instance of Queue', q);
  return new QueueIterator(core, q);
}
