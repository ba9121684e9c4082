/**
 * Error classes. Kernel failures are {@link UMError}; library conditions have
 * their own classes with stable `code`s (see docs/errors.md).
 */
import { constants as osConstants } from 'node:os';
import { getSystemErrorMap, getSystemErrorName } from 'node:util';

const errorMap = getSystemErrorMap();

/**
 * A kernel error from an io_uring op or a syscall, shaped like Node's fs
 * errors: `code` ('EBADF'), positive `errno`, `syscall` (the op name) and a
 * message such as `EBADF: bad file descriptor, read`.
 */
export class UMError extends Error {
  readonly code: string;
  readonly errno: number;
  readonly syscall: string;
  path?: string;

  constructor(errno: number, syscall: string, detail?: string) {
    const e = Math.abs(errno);
    const entry = errorMap.get(-e);
    const code = entry ? entry[0] : safeName(-e);
    const desc = entry ? entry[1] : 'unknown error';
    super(`${code}: ${desc}, ${syscall}${detail ? ` '${detail}'` : ''}`);
    this.name = 'UMError';
    this.code = code;
    this.errno = e;
    this.syscall = syscall;
    if (detail !== undefined) this.path = detail;
  }
}

/** Name `path` on a kernel error as node:fs does: `err.path`, and `..., open '/nope/x'` in the message. */
export function namePath(e: unknown, path: string | Uint8Array): unknown {
  if (e instanceof UMError && e.path === undefined) {
    const p = typeof path === 'string' ? path : Buffer.from(path).toString();
    e.path = p;
    const before = e.message;
    const stack = e.stack; // formatted (V8 does it lazily) with the old message
    e.message = `${before} '${p}'`;
    if (typeof stack === 'string' && stack.startsWith(`${e.name}: ${before}`)) {
      e.stack = `${e.name}: ${e.message}${stack.slice(e.name.length + 2 + before.length)}`;
    }
  }
  return e;
}

function safeName(n: number): string {
  // libuv's map lacks some Linux errnos (ECHILD from waitid, ...); Node's
  // os.constants.errno has their names (issue 5).
  const name = errnoNames.get(-n);
  if (name !== undefined) return name;
  try {
    return getSystemErrorName(n);
  } catch {
    return `E${-n}`;
  }
}

const errnoNames = new Map<number, string>();
for (const [name, v] of Object.entries(osConstants.errno)) if (!errnoNames.has(v)) errnoNames.set(v, name);

/** Raised at a fiber's pending op when `m.timeout()` expires (code `UM_TIMEOUT`). */
export class TimeoutError extends Error {
  readonly code = 'UM_TIMEOUT' as const;
  constructor(message = 'operation timed out') {
    super(message);
    this.name = 'TimeoutError';
  }
}

/**
 * Raised at a fiber's pending op by `m.terminate()` (code `UM_TERMINATE`).
 * `finally` blocks run; `join()` of a terminated fiber resolves `undefined`.
 */
export class Terminate extends Error {
  readonly code = 'UM_TERMINATE' as const;
  constructor() {
    super('fiber terminated');
    this.name = 'Terminate';
  }
}

/** The machine was closed while the op was pending (code `ERR_UM_CLOSED`). */
export class MachineClosedError extends Error {
  readonly code = 'ERR_UM_CLOSED' as const;
  constructor(message = 'the machine is closed') {
    super(message);
    this.name = 'MachineClosedError';
  }
}

/** A feature the running kernel lacks (code `ERR_UM_UNSUPPORTED`). */
export class UnsupportedError extends Error {
  readonly code = 'ERR_UM_UNSUPPORTED' as const;
  constructor(message: string) {
    super(message);
    this.name = 'UnsupportedError';
  }
}

/** A call that needs a current fiber was made outside one (code `ERR_UM_NO_FIBER`). */
export class NoFiberError extends Error {
  readonly code = 'ERR_UM_NO_FIBER' as const;
  constructor(what: string) {
    super(`${what} must be called from inside a fiber`);
    this.name = 'NoFiberError';
  }
}

/**
 * `stream.getLine(buf, limit)`: the next line is longer than `limit` (or
 * than `buf`); code `ERR_UM_LINE_TOO_LONG`. Nothing was consumed: the
 * stream is still at the start of that line (skip it, read it with a
 * larger limit, or give up). EOF stays `null`.
 */
export class LineTooLongError extends RangeError {
  readonly code = 'ERR_UM_LINE_TOO_LONG';
  /** The limit the line exceeded (bytes, without the line end). */
  readonly limit: number;
  constructor(limit: number) {
    super(`the line is longer than ${limit} bytes`);
    this.name = 'LineTooLongError';
    this.limit = limit;
  }
}

/** A Queue was closed: `m.shift`/`m.pop` of a closed queue with no items left, `m.push` onto it (code `ERR_UM_QUEUE_CLOSED`). */
export class QueueClosedError extends Error {
  readonly code = 'ERR_UM_QUEUE_CLOSED';
  constructor(message = 'the queue is closed') {
    super(message);
    this.name = 'QueueClosedError';
  }
}
