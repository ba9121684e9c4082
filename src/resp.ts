/**
 * The Redis serialization protocol (RESP2 and RESP3): the encoder and the
 * decoder's value mapping. The decoder itself reads from a Stream
 * (`s.respDecode()`, src/stream.ts), line by line and bulk by bulk, straight
 * out of the pool buffers.
 *
 * RESP value -> JavaScript value (decode):
 *
 * | RESP | prefix | JS |
 * |---|---|---|
 * | simple string | `+` | string |
 * | simple error | `-` | `RESPError` (thrown at top level, an element inside aggregates) |
 * | integer | `:` | number, or bigint beyond Number.MAX_SAFE_INTEGER |
 * | bulk string | `$` | string (UTF-8); `$-1` is null |
 * | array | `*` | Array; `*-1` is null |
 * | null (3) | `_` | null |
 * | boolean (3) | `#` | boolean |
 * | double (3) | `,` | number (`inf`, `-inf`, `nan` too) |
 * | big number (3) | `(` | bigint |
 * | bulk error (3) | `!` | `RESPError`, like `-` |
 * | verbatim string (3) | `=` | string without its `txt:` / `mkd:` prefix |
 * | map (3) | `%` | Map |
 * | set (3) | `~` | Set |
 * | push (3) | `>` | Array (with `RESP_PUSH` set to true on it) |
 * | attribute (3) | `\|` | read and dropped; the value that follows is returned |
 *
 * Encoding (respEncode) goes the other way: string and Uint8Array -> bulk
 * string, integer number -> `:`, other number -> `,` double, bigint -> `(`,
 * boolean -> `#`, null/undefined -> `$-1`, Array -> `*`, Set -> `~`, Map and
 * plain objects -> `%`, RESPError -> `-`.
 */

import { argTypeError, codedError } from './validate.js';

/** An error reply (`-ERR ...` or a RESP3 bulk error). */
export class RESPError extends Error {
  readonly code = 'ERR_RESP_REPLY';
  /** The first word of the message, e.g. 'ERR', 'WRONGTYPE'. */
  readonly kind: string;
  constructor(message: string) {
    super(message);
    this.name = 'RESPError';
    const sp = message.indexOf(' ');
    this.kind = sp < 0 ? message : message.slice(0, sp);
  }
}

/** Set (true) on arrays decoded from RESP3 push messages (`>`). */
export const RESP_PUSH: unique symbol = Symbol('RESP push');

/** Limits against hostile input. */
export const RESP_MAX_LINE = 64 * 1024;
export const RESP_MAX_BULK = 512 * 1024 * 1024;
export const RESP_MAX_COUNT = 1 << 24;

export class RESPProtocolError extends Error {
  readonly code = 'ERR_RESP_PROTOCOL';
  constructor(message: string) {
    super(message);
    this.name = 'RESPProtocolError';
  }
}

/** Parse a RESP length/integer line body (after the type byte), without a regex. */
export function parseIntLine(s: string, from: number): number {
  const n = s.length;
  let i = from;
  let neg = false;
  if (i < n && (s.charCodeAt(i) === 45 || s.charCodeAt(i) === 43)) {
    neg = s.charCodeAt(i) === 45;
    i++;
  }
  if (i === n) throw new RESPProtocolError(`bad integer ${JSON.stringify(s)}`);
  let v = 0;
  for (; i < n; i++) {
    const c = s.charCodeAt(i) - 48;
    if (c < 0 || c > 9) throw new RESPProtocolError(`bad integer ${JSON.stringify(s)}`);
    v = v * 10 + c;
  }
  return neg ? -v : v;
}

/** An integer reply: number when exact, bigint beyond 2^53. */
export function parseInteger(s: string): number | bigint {
  if (s.length < 17) return parseIntLine(s, 1);
  const b = parseBigInt(s, 'integer');
  return b >= BigInt(Number.MIN_SAFE_INTEGER) && b <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(b) : b;
}

/**
 * The decimal integer after the type byte as a bigint. Strictly
 * [+-]digits: BigInt() alone would throw a SyntaxError on garbage and accept
 * what RESP does not ("0x1f", " 12", "" as 0n).
 */
export function parseBigInt(s: string, what: string): bigint {
  if (!/^[+-]?[0-9]+$/.test(s.slice(1))) throw new RESPProtocolError(`bad ${what} ${JSON.stringify(s)}`);
  return BigInt(s.slice(1));
}

export function parseDouble(s: string): number {
  const t = s.slice(1);
  if (t === 'inf' || t === '+inf') return Infinity;
  if (t === '-inf') return -Infinity;
  if (t === 'nan' || t === '-nan') return NaN;
  const v = Number(t);
  if (t.length === 0 || Number.isNaN(v)) throw new RESPProtocolError(`bad double ${JSON.stringify(s)}`);
  return v;
}

// ---- Encoding --------------------------------------------------------------

const CRLF = 0x0a0d; // "\r\n" as a little-endian u16

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (v === null || typeof v !== 'object') return false;
  const p = Object.getPrototypeOf(v);
  return p === Object.prototype || p === null;
}

function digits(n: number): number {
  // Length of the decimal form of a non-negative integer.
  let d = 1;
  while (n >= 10) {
    n = Math.floor(n / 10);
    d++;
  }
  return d;
}

/** Bytes `v` takes once encoded. */
function size(v: unknown, depth: number): number {
  if (depth > 512) throw codedError(RangeError, 'ERR_INVALID_ARG_VALUE', 'respEncode: value nested too deeply (or cyclic)');
  if (typeof v === 'string') {
    const n = Buffer.byteLength(v, 'utf8');
    return 1 + digits(n) + 2 + n + 2;
  }
  if (v instanceof Uint8Array) return 1 + digits(v.length) + 2 + v.length + 2;
  if (typeof v === 'number') {
    if (Number.isSafeInteger(v)) return 1 + String(v).length + 2;
    return 1 + doubleText(v).length + 2;
  }
  if (typeof v === 'bigint') return 1 + String(v).length + 2;
  if (typeof v === 'boolean') return 4;
  if (v === null || v === undefined) return 5;
  if (v instanceof RESPError) return 1 + Buffer.byteLength(errorText(v), 'utf8') + 2;
  if (Array.isArray(v)) {
    let n = 1 + digits(v.length) + 2;
    for (const x of v) n += size(x, depth + 1);
    return n;
  }
  if (v instanceof Set) {
    let n = 1 + digits(v.size) + 2;
    for (const x of v) n += size(x, depth + 1);
    return n;
  }
  if (v instanceof Map) {
    let n = 1 + digits(v.size) + 2;
    for (const [k, x] of v) n += size(k, depth + 1) + size(x, depth + 1);
    return n;
  }
  if (isPlainObject(v)) {
    const keys = Object.keys(v);
    let n = 1 + digits(keys.length) + 2;
    for (const k of keys) n += size(k, depth + 1) + size(v[k], depth + 1);
    return n;
  }
  throw codedError(
    TypeError,
    'ERR_INVALID_ARG_TYPE',
    `respEncode: cannot encode ${typeof v === 'object' ? Object.prototype.toString.call(v) : typeof v}`,
  );
}

function doubleText(v: number): string {
  if (v === Infinity) return 'inf';
  if (v === -Infinity) return '-inf';
  if (Number.isNaN(v)) return 'nan';
  return String(v);
}

function errorText(e: RESPError): string {
  return e.message.replace(/[\r\n]+/g, ' ');
}

/** Write `v` into `b` at `o`; returns the new offset. */
function put(b: Buffer, o: number, v: unknown): number {
  if (typeof v === 'string') {
    const n = Buffer.byteLength(v, 'utf8');
    o = header(b, o, 36 /* $ */, n);
    o += b.write(v, o, 'utf8');
    b.writeUInt16LE(CRLF, o);
    return o + 2;
  }
  if (v instanceof Uint8Array) {
    o = header(b, o, 36, v.length);
    b.set(v, o);
    o += v.length;
    b.writeUInt16LE(CRLF, o);
    return o + 2;
  }
  if (typeof v === 'number') {
    if (Number.isSafeInteger(v)) return line(b, o, 58 /* : */, String(v));
    return line(b, o, 44 /* , */, doubleText(v));
  }
  if (typeof v === 'bigint') return line(b, o, 40 /* ( */, String(v));
  if (typeof v === 'boolean') return line(b, o, 35 /* # */, v ? 't' : 'f');
  if (v === null || v === undefined) return line(b, o, 36, '-1');
  if (v instanceof RESPError) return line(b, o, 45 /* - */, errorText(v));
  if (Array.isArray(v)) {
    o = header(b, o, 42 /* * */, v.length);
    for (const x of v) o = put(b, o, x);
    return o;
  }
  if (v instanceof Set) {
    o = header(b, o, 126 /* ~ */, v.size);
    for (const x of v) o = put(b, o, x);
    return o;
  }
  if (v instanceof Map) {
    o = header(b, o, 37 /* % */, v.size);
    for (const [k, x] of v) o = put(b, put(b, o, k), x);
    return o;
  }
  const obj = v as Record<string, unknown>;
  const keys = Object.keys(obj);
  o = header(b, o, 37, keys.length);
  for (const k of keys) o = put(b, put(b, o, k), obj[k]);
  return o;
}

function header(b: Buffer, o: number, type: number, n: number): number {
  b[o++] = type;
  o += b.write(String(n), o, 'latin1');
  b.writeUInt16LE(CRLF, o);
  return o + 2;
}

function line(b: Buffer, o: number, type: number, text: string): number {
  b[o++] = type;
  o += b.write(text, o, 'utf8');
  b.writeUInt16LE(CRLF, o);
  return o + 2;
}

/** One RESP value, encoded in one Buffer (sized first, written once). */
export function respEncode(value: unknown): Buffer {
  const b = Buffer.allocUnsafe(size(value, 0));
  const end = put(b, 0, value);
  return end === b.length ? b : b.subarray(0, end);
}

/**
 * A command as RESP: an array of bulk strings. Strings are UTF-8, Buffers
 * and Uint8Arrays are sent as they are, numbers and bigints in decimal.
 */
export function respEncodeCmd(...args: unknown[]): Buffer {
  let n = 1 + digits(args.length) + 2;
  const parts: (string | Uint8Array)[] = new Array(args.length);
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    let p: string | Uint8Array;
    if (typeof a === 'string' || a instanceof Uint8Array) p = a;
    else if (typeof a === 'number' || typeof a === 'bigint') p = String(a);
    else throw argTypeError(`args[${i}]`, 'of type string, number or bigint, or a Uint8Array', a);
    parts[i] = p;
    n += size(p, 0);
  }
  const b = Buffer.allocUnsafe(n);
  let o = header(b, 0, 42, args.length);
  for (const p of parts) o = put(b, o, p);
  return b;
}
