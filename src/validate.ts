/**
 * Node-style argument checks, run before anything is submitted. Each throws
 * a TypeError/RangeError with `code` ERR_INVALID_ARG_TYPE / ERR_OUT_OF_RANGE;
 * Promise-returning methods turn the throw into a rejection.
 * Internal module (not exported by the package).
 */

type CodedError = Error & { code: string };

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (v === undefined) return 'undefined';
  if (typeof v === 'function') return `function ${v.name || '<anonymous>'}`;
  if (typeof v === 'object') return `an instance of ${v.constructor?.name ?? 'Object'}`;
  let s = String(v);
  if (s.length > 28) s = `${s.slice(0, 25)}...`;
  return `type ${typeof v} (${typeof v === 'string' ? `'${s}'` : s})`;
}

export function argTypeError(name: string, expected: string, actual: unknown): CodedError {
  const e = new TypeError(`The "${name}" argument must be ${expected}. Received ${describe(actual)}`) as CodedError;
  e.code = 'ERR_INVALID_ARG_TYPE';
  return e;
}

export function rangeError(name: string, expected: string, actual: unknown): CodedError {
  const e = new RangeError(`The value of "${name}" is out of range. It must be ${expected}. Received ${String(actual)}`) as CodedError;
  e.code = 'ERR_OUT_OF_RANGE';
  return e;
}

/** A value of the right type that cannot be used (code ERR_INVALID_ARG_VALUE, as in Node). */
export function invalidArgValue(name: string, reason: string, actual: unknown): CodedError {
  const e = new TypeError(`The argument '${name}' ${reason}. Received ${describe(actual)}`) as CodedError;
  e.code = 'ERR_INVALID_ARG_VALUE';
  return e;
}

/** An Error of class `C` with a stable `code` (docs/errors.md). */
export function codedError(C: new (message: string) => Error, code: string, message: string): CodedError {
  const e = new C(message) as CodedError;
  e.code = code;
  return e;
}

/** A file descriptor: an integer in [0, 2^31). */
export function validateFd(fd: unknown, name = 'fd'): asserts fd is number {
  if (typeof fd !== 'number') throw argTypeError(name, 'of type number', fd);
  if (!Number.isInteger(fd) || fd < 0 || fd > 0x7fffffff) throw rangeError(name, '>= 0 and <= 2147483647', fd);
}

/** A 32-bit signed integer. */
export function validateInt32(v: unknown, name: string, min = -0x80000000, max = 0x7fffffff): asserts v is number {
  if (typeof v !== 'number') throw argTypeError(name, 'of type number', v);
  if (!Number.isInteger(v) || v < min || v > max) throw rangeError(name, `an integer >= ${min} and <= ${max}`, v);
}

/** A safe integer (file offsets, lengths). */
export function validateInteger(v: unknown, name: string, min = Number.MIN_SAFE_INTEGER, max = Number.MAX_SAFE_INTEGER): asserts v is number {
  if (typeof v !== 'number') throw argTypeError(name, 'of type number', v);
  if (!Number.isInteger(v) || v < min || v > max) throw rangeError(name, `an integer >= ${min} and <= ${max}`, v);
}

/** A finite number of milliseconds. */
export function validateMs(v: unknown, name = 'ms'): asserts v is number {
  if (typeof v !== 'number') throw argTypeError(name, 'of type number', v);
  if (Number.isNaN(v)) throw rangeError(name, 'a number', v);
}

export function validateBuffer(v: unknown, name = 'buffer'): asserts v is Uint8Array {
  if (!(v instanceof Uint8Array)) throw argTypeError(name, 'an instance of Buffer or Uint8Array', v);
}

export function validateFunction(v: unknown, name: string): asserts v is (...args: never[]) => unknown {
  if (typeof v !== 'function') throw argTypeError(name, 'of type function', v);
}

/** A path: a string or bytes, without NUL bytes. Returns the NUL-terminated encoding. */
export function encodePath(v: unknown, name = 'path'): Buffer {
  if (typeof v === 'string') {
    if (v.includes('\0')) throw argTypeError(name, 'a string without null bytes', v);
    return Buffer.from(`${v}\0`, 'utf8');
  }
  if (v instanceof Uint8Array) {
    if (v.includes(0)) throw argTypeError(name, 'bytes without null bytes', v);
    const b = Buffer.allocUnsafe(v.length + 1);
    b.set(v, 0);
    b[v.length] = 0;
    return b;
  }
  throw argTypeError(name, 'of type string or an instance of Buffer or Uint8Array', v);
}

/**
 * An array of writable data (writev, sendv, sendBundle): each element bytes
 * or a string. A hole in a sparse array is an element of type undefined
 * (Array#map would skip it and leave the hole for later code to trip on).
 */
export function toBytesList(v: unknown, name = 'bufs'): Uint8Array[] {
  if (!Array.isArray(v)) throw argTypeError(name, 'an Array of Buffer, Uint8Array or string', v);
  const out = new Array<Uint8Array>(v.length);
  for (let i = 0; i < v.length; i++) out[i] = toBytes(v[i], `${name}[${i}]`);
  return out;
}

/** Writable data: bytes, or a string encoded as UTF-8. */
export function toBytes(v: unknown, name = 'data'): Uint8Array {
  if (v instanceof Uint8Array) return v;
  if (typeof v === 'string') return Buffer.from(v, 'utf8');
  throw argTypeError(name, 'of type string or an instance of Buffer or Uint8Array', v);
}
