/**
 * The machine's runqueue: a power-of-two ring-buffer FIFO of resumptions.
 * Each entry is a callback and its argument (a promise's resolve with the
 * value to resume with, a fiber start, a reject with an error). Pushing and
 * shifting allocate nothing once the buffer has grown to its working size.
 * Internal module (not exported by the package).
 */
export type Resume = (arg: any) => void;

export class RunQueue {
  #fns: (Resume | undefined)[];
  #args: unknown[];
  #head = 0;
  #tail = 0;
  #mask: number;

  constructor(capacity = 1024) {
    let cap = 16;
    while (cap < capacity) cap <<= 1;
    this.#fns = new Array(cap).fill(undefined);
    this.#args = new Array(cap).fill(undefined);
    this.#mask = cap - 1;
  }

  get length(): number {
    return (this.#tail - this.#head) & 0x7fffffff;
  }

  push(fn: Resume, arg: unknown): void {
    if (this.length > this.#mask) this.#grow();
    const i = this.#tail & this.#mask;
    this.#fns[i] = fn;
    this.#args[i] = arg;
    this.#tail = (this.#tail + 1) & 0x7fffffff;
  }

  /** Runs the oldest entry; returns false if the queue was empty. */
  runOne(): boolean {
    if (this.#head === this.#tail) return false;
    const i = this.#head & this.#mask;
    const fn = this.#fns[i]!;
    const arg = this.#args[i];
    this.#fns[i] = undefined;
    this.#args[i] = undefined;
    this.#head = (this.#head + 1) & 0x7fffffff;
    fn(arg);
    return true;
  }

  #grow(): void {
    const n = this.length;
    const cap = (this.#mask + 1) * 2;
    const fns = new Array<Resume | undefined>(cap).fill(undefined);
    const args = new Array<unknown>(cap).fill(undefined);
    for (let k = 0; k < n; k++) {
      const i = (this.#head + k) & this.#mask;
      fns[k] = this.#fns[i];
      args[k] = this.#args[i];
    }
    this.#fns = fns;
    this.#args = args;
    this.#head = 0;
    this.#tail = n;
    this.#mask = cap - 1;
  }
}
