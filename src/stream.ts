/**
 * Stream: a buffered reader over an fd, on the machine's buffer pool.
 *
 * Bytes arrive through one multishot read (or recv) whose completions are
 * kept as segments: (buffer id, start, end) references into pool buffers,
 * with no copy. Parsing (getLine, getString, readToEof, skip) looks at the
 * segments in place and copies each byte at most once, straight into the
 * value it returns (a string decoded from the pool buffer, or the caller's
 * or a new Buffer). A pool buffer goes back to the kernel as soon as the
 * stream has consumed its bytes and the kernel is done filling it.
 *
 * Backpressure: while nobody waits and more than `highWaterMark` bytes are
 * buffered, the kernel op is cancelled (what it already delivered is kept);
 * the next read that needs bytes starts it again. A fiber cancelled while
 * waiting (timeout, terminate) cancels the kernel op too, so no op is left
 * behind; bytes already received stay in the stream, none is lost.
 */
import { als, shortOnCancel, type Core } from './core.js';
import { F_BUFFER, type BufferGroup } from './buffer-pool.js';
import { LineTooLongError, MachineClosedError, UMError } from './errors.js';
import type { ParkWait } from './fiber.js';
import { oneShotOnly, startPoolRead, stashLeftover, takeLeftover } from './pool-ops.js';
import {
  parseDouble,
  parseBigInt,
  parseInteger,
  parseIntLine,
  RESP_MAX_BULK,
  RESP_MAX_COUNT,
  RESP_MAX_LINE,
  RESP_PUSH,
  RESPError,
  RESPProtocolError,
  respEncode,
  respEncodeCmd,
} from './resp.js';
import { NONE, type MultishotListener, type Op } from './op.js';
import { argTypeError, rangeError, validateBuffer, validateInteger } from './validate.js';

const ENOBUFS = 105;
const EBADFD = 77;
const EINVAL = 22;
const ECANCELED = 125;
const NL = 10;
/** RESP types with a count after the type byte: bulk strings ($ ! =) and aggregates (* > ~ % |). */
const RESP_COUNTED = new Set([36, 33, 61, 42, 62, 126, 37, 124]);
const CR = 13;

export interface StreamOptions {
  /** 'read' (any fd; a multishot read, or plain reads on regular files) or 'recv' (sockets). */
  mode?: 'read' | 'recv';
  /** Bytes buffered before the kernel op is paused (default 1 MiB). */
  highWaterMark?: number;
}

const decoder = new TextDecoder('utf-8');

/**
 * Where a Stream's bytes come from when it is not an fd's pool read: a TLS
 * connection (m.stream(t), src/tls.ts). read() resolves a chunk of the
 * stream's own, or null at EOF; it is cancellable like any op and loses
 * nothing when cancelled. unread() takes back what release() leaves over.
 * @internal
 */
export interface StreamSource {
  read(): Promise<Buffer | null>;
  unread(b: Buffer): void;
}

// A MultishotListener structurally (its listener methods are internal, stripped from the .d.ts).
export class Stream {
  readonly fd: number;
  readonly #core: Core;
  readonly #g: BufferGroup;
  readonly #recv: boolean;
  readonly #hwm: number;
  #oneShot = false;
  // Segments [head, bids.length): pool buffer id (-1: memory of our own),
  // the buffer, start and end offsets.
  #bids: number[] = [];
  #bufs: Buffer[] = [];
  #starts: number[] = [];
  #ends: number[] = [];
  #head = 0;
  #avail = 0;
  /** Bytes at the front already scanned for "\n" without finding one. */
  #scanned = 0;
  #op: Op | null = null;
  #eof = false;
  #error: unknown = NONE;
  #waiter: ParkWait | null = null;
  #finalWaiters: (() => void)[] = [];
  #restartWanted = false;
  #released = false;
  readonly #source: StreamSource | null;

  /** @internal */
  constructor(core: Core, fd: number, opts: StreamOptions, source: StreamSource | null = null) {
    this.#core = core;
    this.fd = fd;
    this.#g = core.pool;
    this.#recv = opts.mode === 'recv';
    this.#hwm = opts.highWaterMark ?? 1 << 20;
    this.#source = source;
    if (source !== null) return;
    this.#oneShot = oneShotOnly(fd);
    // Bytes an earlier reader of this fd received but did not consume come first.
    for (let c = takeLeftover(core, fd); c !== undefined; c = takeLeftover(core, fd)) this.#own(c);
  }

  /** Copy every buffered byte out of the pool into one buffer of our own. */
  #spill(): void {
    let pooled = false;
    for (let h = this.#head; h < this.#bids.length; h++) if (this.#bids[h]! >= 0) pooled = true;
    if (!pooled) return;
    const scanned = this.#scanned;
    const b = Buffer.allocUnsafe(this.#avail);
    this.#copy(b, 0, b.length);
    this.#consume(b.length);
    this.#own(b);
    this.#scanned = scanned;
  }

  /** Append bytes in memory of our own (not a pool buffer). */
  #own(c: Buffer): void {
    if (c.length === 0) return;
    this.#bids.push(-1);
    this.#bufs.push(c);
    this.#starts.push(0);
    this.#ends.push(c.length);
    this.#avail += c.length;
  }

  /** @internal Where the bytes come from, when not the fd's pool read (a TLS connection). */
  get source(): StreamSource | null {
    return this.#source;
  }

  /** Bytes buffered and not yet consumed. */
  get buffered(): number {
    return this.#avail;
  }

  // ---- Kernel side -----------------------------------------------------------

  #start(): void {
    this.#op = startPoolRead(this.#core, this.#g, this.fd, this.#recv, this.#oneShot, 0, this);
  }


  #add(res: number, flags: number): void {
    if ((flags & F_BUFFER) === 0) return;
    const g = this.#g;
    const bid = g.take(res, flags);
    if (res > 0) {
      g.ref(bid);
      this.#bids.push(bid);
      this.#bufs.push(g.views[bid]!);
      this.#starts.push(g.start);
      this.#ends.push(g.start + res);
      this.#avail += res;
    } else g.recycle(bid);
  }

  /** @internal A completion with more to come. */
  shot(res: number, flags: number): void {
    this.#add(res, flags);
    if (this.#waiter !== null) this.#wake();
    else if (this.#avail > this.#hwm && this.#op !== null) this.#core.cancelOp(this.#op, NONE);
  }

  /** @internal The op's last completion. */
  final(res: number, flags: number, cancelError: unknown): void {
    this.#op = null;
    if (res >= 0) this.#add(res, flags);
    const fw = this.#finalWaiters;
    this.#finalWaiters = [];
    for (const f of fw) f();
    if (this.#released) return;
    if (cancelError === NONE) {
      if (res === 0) this.#eof = true;
      else if (res === -ENOBUFS) {
        // The pool ran dry. If it is this stream that holds its buffers
        // (a long line, a big value), move those bytes into memory of its
        // own so the pool can serve the restart: without this, a value
        // larger than the pool's limit would wait forever.
        this.#spill();
        this.#restartWanted = true;
        this.#g.starved(() => {
          this.#restartWanted = false;
          if (this.#waiter !== null && this.#op === null && !this.#released) this.#start();
        });
        return;
      } else if (!this.#recv && !this.#oneShot && (res === -EBADFD || res === -EINVAL)) {
        this.#oneShot = true; // not pollable (a regular file): plain reads
      } else if (res < 0 && res !== -ECANCELED) this.#error = new UMError(res, this.#recv ? 'recv' : 'read');
    }
    if (this.#waiter !== null) {
      // A one-shot read that returned data, an op ended early: go on if
      // the waiter still needs bytes (#wake decides).
      this.#wake();
    }
  }

  #wake(): void {
    const w = this.#waiter;
    if (w === null) return;
    this.#waiter = null;
    w.wake(true);
  }

  /**
   * Wait until more bytes arrive (true) or EOF (false). Starts the kernel
   * op if it is not running.
   */
  #fill(): Promise<boolean> {
    if (this.#released) return Promise.reject(new UMError(-9, this.#recv ? 'recv' : 'read'));
    if (this.#error !== NONE) {
      const e = this.#error;
      this.#error = NONE;
      return Promise.reject(e);
    }
    if (this.#eof) return Promise.resolve(false);
    if (this.#source !== null) return this.#fillFromSource(this.#source);
    let scope;
    try {
      scope = this.#core.enterScope();
    } catch (e) {
      // Cancelled before parking (e.g. the timeout fired while this fiber
      // was being resumed with data): stop the kernel op as a cancelled
      // wait does, and raise once its final CQE is in.
      const op = this.#op;
      if (op === null) return Promise.reject(e);
      const done = new Promise<void>((r) => this.#finalWaiters.push(r));
      this.#core.cancelOp(op, NONE);
      return done.then(() => Promise.reject(e));
    }
    try {
      if (this.#op === null && !this.#restartWanted) this.#start();
    } catch (e) {
      return Promise.reject(e);
    }
    const w = this.#core.newWait();
    w.onCancel = (_w, error) => {
      // Stop the kernel op too; bytes it already delivered stay buffered.
      this.#waiter = null;
      if (this.#op !== null) {
        w.settled = false;
        const op = this.#op;
        this.#finalWaiters.push(() => w.fail(error));
        this.#core.cancelOp(op, NONE);
        return true;
      }
      return false;
    };
    this.#waiter = w;
    return this.#core.park(w, scope);
  }

  async #fillFromSource(source: StreamSource): Promise<boolean> {
    const c = await source.read();
    if (c === null) {
      this.#eof = true;
      return false;
    }
    this.#own(c);
    return true;
  }

  /** Wait until at least `n` bytes are buffered; false if EOF comes first. */
  async #need(n: number): Promise<boolean> {
    while (this.#avail < n) {
      const before = this.#avail;
      if (!(await this.#fill()) && this.#avail === before) return this.#avail >= n;
    }
    return true;
  }

  // ---- Consuming ---------------------------------------------------------------

  /** Drop `n` bytes from the front, releasing pool buffers whose bytes are all consumed. */
  #consume(n: number): void {
    this.#avail -= n;
    this.#scanned = Math.max(0, this.#scanned - n);
    const g = this.#g;
    let h = this.#head;
    while (n > 0) {
      const len = this.#ends[h]! - this.#starts[h]!;
      if (n >= len) {
        n -= len;
        const bid = this.#bids[h]!;
        if (bid >= 0) g.unref(bid);
        h++;
      } else {
        this.#starts[h] = this.#starts[h]! + n;
        n = 0;
      }
    }
    if (h === this.#bids.length) {
      this.#bids.length = this.#bufs.length = this.#starts.length = this.#ends.length = 0;
      h = 0;
    } else if (h > 64) {
      this.#bids.splice(0, h);
      this.#bufs.splice(0, h);
      this.#starts.splice(0, h);
      this.#ends.splice(0, h);
      h = 0;
    }
    this.#head = h;
  }

  /** Copy `n` bytes from the front into `dst` at `at` (no consume). */
  #copy(dst: Uint8Array, at: number, n: number): void {
    for (let h = this.#head; n > 0; h++) {
      const s = this.#starts[h]!;
      const len = Math.min(n, this.#ends[h]! - s);
      const v = this.#bufs[h]!;
      if (len === 1) dst[at] = v[s]!;
      else dst.set(v.subarray(s, s + len), at);
      at += len;
      n -= len;
    }
  }

  /** Decode `n` bytes from the front as UTF-8 (no consume). */
  #decode(n: number): string {
    const h = this.#head;
    const s = this.#starts[h]!;
    if (n === 0) return '';
    if (this.#ends[h]! - s >= n) return this.#bufs[h]!.toString('utf8', s, s + n);
    // Spread over several pool buffers: decode them in sequence (a stateful
    // decoder carries a character split between two buffers).
    let out = '';
    for (let i = h; n > 0; i++) {
      const st = this.#starts[i]!;
      const len = Math.min(n, this.#ends[i]! - st);
      n -= len;
      out += decoder.decode(this.#bufs[i]!.subarray(st, st + len), { stream: n > 0 });
    }
    return out;
  }

  /** Offset of the first "\n" at or after `from`, or -1. */
  #indexOfNl(from: number): number {
    let base = 0;
    for (let h = this.#head; h < this.#bids.length; h++) {
      const s = this.#starts[h]!;
      const e = this.#ends[h]!;
      const len = e - s;
      if (from < base + len) {
        const v = this.#bufs[h]!;
        const i = v.indexOf(NL, s + Math.max(0, from - base));
        if (i !== -1 && i < e) return base + (i - s);
      }
      base += len;
    }
    return -1;
  }

  /** The byte at offset `i` from the front. */
  #byteAt(i: number): number {
    for (let h = this.#head; ; h++) {
      const len = this.#ends[h]! - this.#starts[h]!;
      if (i < len) return this.#bufs[h]![this.#starts[h]! + i]!;
      i -= len;
    }
  }

  // ---- Public API -----------------------------------------------------------------

  /**
   * The next line without its "\n" or "\r\n". `limit > 0` (or < 0: |limit|)
   * caps its length: a longer line rejects with a LineTooLongError (code
   * ERR_UM_LINE_TOO_LONG) and the stream position is unchanged. Without
   * `buf` the line is a string (UTF-8); with `buf` it is written there and a
   * subarray of `buf` is returned (a line longer than `buf` counts as over
   * the limit). At EOF an unterminated last line is returned, then null:
   * null always means EOF.
   */
  getLine(buf?: null, limit?: number): Promise<string | null>;
  getLine(buf: Buffer, limit?: number): Promise<Buffer | null>;
  getLine(buf: Buffer | null, limit?: number): Promise<string | Buffer | null>;
  async getLine(buf: Buffer | null = null, limit = 0): Promise<string | Buffer | null> {
    if (this.#core.closed) throw new MachineClosedError();
    if (buf !== null && buf !== undefined) validateBuffer(buf, 'buf');
    validateInteger(limit, 'limit');
    let max = limit === 0 ? Infinity : Math.abs(limit);
    if (buf) max = Math.min(max, buf.length);
    for (;;) {
      const nl = this.#indexOfNl(this.#scanned);
      if (nl !== -1) {
        const len = nl > 0 && this.#byteAt(nl - 1) === CR ? nl - 1 : nl;
        if (len > max) throw new LineTooLongError(max);
        return this.#takeLine(len, nl + 1, buf);
      }
      this.#scanned = this.#avail;
      // No "\n" yet: a line already longer than the limit (plus "\r") fails now.
      if (this.#avail > max + 1) throw new LineTooLongError(max);
      const before = this.#avail;
      if (!(await this.#fill()) && this.#avail === before) {
        if (this.#avail === 0) return null;
        const len = this.#avail;
        if (len > max) throw new LineTooLongError(max);
        return this.#takeLine(len, len, buf);
      }
    }
  }

  #takeLine(len: number, consume: number, buf: Buffer | null): string | Buffer {
    let out: string | Buffer;
    if (buf) {
      this.#copy(buf, 0, len);
      out = buf.subarray(0, len);
    } else out = this.#decode(len);
    this.#scanned = 0;
    this.#consume(consume);
    return out;
  }

  /**
   * `len >= 0`: exactly len bytes, or null if EOF comes first (nothing is
   * consumed then). `len < 0`: up to |len| bytes, whatever is available
   * (waiting for at least one), null at EOF. Into `buf` (a subarray of it is
   * returned) or a new Buffer.
   */
  async getString(len: number, buf: Buffer | null = null): Promise<Buffer | null> {
    if (this.#core.closed) throw new MachineClosedError();
    validateInteger(len, 'len');
    if (buf !== null && buf !== undefined) validateBuffer(buf, 'buf');
    const want = Math.abs(len);
    if (buf && want > buf.length) throw rangeError('len', `<= buf.length (${buf.length})`, len);
    if (len >= 0) {
      if (!(await this.#need(len))) return null;
    } else if (this.#avail === 0 && !(await this.#need(1))) return null;
    const n = len >= 0 ? len : Math.min(want, this.#avail);
    const out = buf ? buf.subarray(0, n) : Buffer.allocUnsafe(n);
    this.#copy(out, 0, n);
    this.#consume(n);
    return out;
  }

  /**
   * Everything until EOF. Pool buffers are held (the pool grows) and copied
   * once into the result at EOF; past `highWaterMark` buffered bytes they
   * are first moved into memory of the stream's own, so a long stream does
   * not pin the pool (those bytes are then copied twice). With `buf` the
   * bytes go into it (RangeError if it is too small) and a subarray is
   * returned.
   */
  async readToEof(buf: Buffer | null = null): Promise<Buffer> {
    if (this.#core.closed) throw new MachineClosedError();
    if (buf !== null && buf !== undefined) validateBuffer(buf, 'buf');
    const spilled: Buffer[] = [];
    let spilledLen = 0;
    try {
      for (;;) {
        if (this.#avail > this.#hwm / 2) {
          const b = Buffer.allocUnsafe(this.#avail);
          this.#copy(b, 0, b.length);
          this.#consume(b.length);
          spilled.push(b);
          spilledLen += b.length;
        }
        const before = this.#avail;
        if (!(await this.#fill()) && this.#avail === before) break;
      }
      const total = spilledLen + this.#avail;
      if (buf && total > buf.length) throw rangeError('buf', `at least ${total} bytes`, buf.length);
    } catch (e) {
      // Cancelled (timeout, terminate, ...), failed or buf too small: the
      // bytes moved out of the pool so far go back to the front, unconsumed.
      this.#unshiftOwn(spilled);
      throw e;
    }
    const total = spilledLen + this.#avail;
    const out = buf ? buf.subarray(0, total) : Buffer.allocUnsafe(total);
    let at = 0;
    for (const b of spilled) {
      out.set(b, at);
      at += b.length;
    }
    this.#copy(out, at, this.#avail);
    this.#consume(this.#avail);
    return out;
  }

  /** Put bytes of our own back in front of the buffered ones (in order). */
  #unshiftOwn(bufs: Buffer[]): void {
    const h = this.#head;
    const bs = bufs.filter((b) => b.length > 0);
    if (bs.length === 0) return;
    this.#bids.splice(h, 0, ...bs.map(() => -1));
    this.#bufs.splice(h, 0, ...bs);
    this.#starts.splice(h, 0, ...bs.map(() => 0));
    this.#ends.splice(h, 0, ...bs.map((b) => b.length));
    for (const b of bs) this.#avail += b.length;
    this.#scanned = 0;
  }

  // ---- RESP (src/resp.ts has the value mapping) ------------------------------

  /**
   * The next RESP2/RESP3 value (see src/resp.ts for how each type maps to a
   * JS value). An error reply rejects with `Stream.RESPError` (inside an
   * aggregate it is an element instead, so the rest of the reply is still
   * read). `undefined` at EOF before a value; EOF inside one, or malformed
   * input, rejects with a RESPProtocolError (code ERR_RESP_PROTOCOL).
   */
  async respDecode(): Promise<unknown> {
    if (this.#core.closed) throw new MachineClosedError();
    // Wait (cancellably) until the whole value is buffered, consuming
    // nothing: a decode cancelled half way through a value must not leave
    // the stream in the middle of it. The parse below then never waits.
    // A one-line value needs no scan: getLine waits for its whole line
    // before it consumes anything.
    if ((this.#avail > 0 || (await this.#need(1))) && RESP_COUNTED.has(this.#byteAt(0))) {
      for (let want = this.#respScan(); want > 0; want = this.#respScan()) {
        if (!(await this.#need(want))) break; // EOF: the parser reports it
      }
    }
    const line = await this.#respLine(true);
    if (line === null) return undefined;
    const v = await this.#respValue(line, 0);
    if (v instanceof RESPError) throw v;
    return v;
  }

  /**
   * 0 if a whole RESP value is buffered (or the bytes are malformed: the
   * parser then reports it), else how many bytes must be buffered before
   * it can be (at least one more; a bulk string's full length once its
   * header is in). Walks the buffered segments, consuming nothing.
   */
  #respScan(): number {
    const avail = this.#avail;
    const bufs = this.#bufs;
    const starts = this.#starts;
    const ends = this.#ends;
    let h = this.#head;
    let s = h < bufs.length ? starts[h]! : 0;
    let i = 0; // bytes walked
    let pending = 1; // values still to walk
    while (pending > 0) {
      pending--;
      // The value's first line: type byte, then an integer for the counted kinds.
      let type = -1;
      let num = 0;
      let neg = false;
      let digits = 0;
      let bad = false;
      let lineLen = 0;
      for (;;) {
        if (i >= avail) return avail + 1;
        while (s >= ends[h]!) {
          h++;
          s = starts[h]!;
        }
        const c = bufs[h]![s++]!;
        i++;
        if (c === NL) break;
        if (++lineLen > RESP_MAX_LINE + 1) return 0;
        if (type < 0) type = c;
        else if (c === 45 && digits === 0 && !neg) neg = true;
        else if (c >= 48 && c <= 57) {
          num = num * 10 + (c - 48);
          digits++;
        } else if (c !== CR) bad = true;
      }
      if (RESP_COUNTED.has(type)) {
        if (bad || digits === 0 || digits > 12) return 0; // the parser rejects it
        if (neg) num = -num;
        if (num < 0) continue; // null bulk / aggregate
        if (type === 36 || type === 33 || type === 61) {
          // bulk: num bytes and CRLF
          const end = i + num + 2;
          if (end > avail) return end;
          for (let k = num + 2; k > 0; ) {
            const room = ends[h]! - s;
            if (k < room) {
              s += k;
              k = 0;
            } else {
              k -= room;
              h++;
              s = h < bufs.length ? starts[h]! : 0;
            }
          }
          i = end;
        } else if (type === 37) pending += 2 * num;
        else if (type === 124) pending += 2 * num + 1;
        else pending += num;
        if (pending > RESP_MAX_COUNT * 4) return 0;
      }
    }
    return 0;
  }

  async #respLine(eofOk: boolean): Promise<string | null> {
    let line: string | null;
    try {
      line = await this.getLine(null, RESP_MAX_LINE);
    } catch (e) {
      if (e instanceof LineTooLongError) throw new RESPProtocolError(`line longer than ${RESP_MAX_LINE} bytes`);
      throw e;
    }
    if (line === null && !eofOk) throw new RESPProtocolError('EOF inside a value');
    if (line === '') throw new RESPProtocolError('empty line');
    return line;
  }

  async #respBulk(len: number): Promise<string> {
    if (!(await this.#need(len + 2))) throw new RESPProtocolError('EOF inside a bulk string');
    if (this.#byteAt(len) !== CR || this.#byteAt(len + 1) !== NL) throw new RESPProtocolError('bulk string not followed by CRLF');
    const v = this.#decode(len);
    this.#scanned = 0;
    this.#consume(len + 2);
    return v;
  }

  async #respCount(line: string, what: string): Promise<number> {
    const n = parseIntLine(line, 1);
    if (n < -1 || n > (what === 'bulk' ? RESP_MAX_BULK : RESP_MAX_COUNT)) throw new RESPProtocolError(`bad ${what} length ${n}`);
    return n;
  }

  async #respValue(line: string, depth: number): Promise<unknown> {
    if (depth > 128) throw new RESPProtocolError('aggregates nested too deeply');
    switch (line.charCodeAt(0)) {
      case 43: // + simple string
        return line.slice(1);
      case 45: // - error
        return new RESPError(line.slice(1));
      case 58: // : integer
        return parseInteger(line);
      case 36: {
        // $ bulk string
        const n = await this.#respCount(line, 'bulk');
        return n < 0 ? null : this.#respBulk(n);
      }
      case 42: // * array
      case 62: {
        // > push
        const n = await this.#respCount(line, 'array');
        if (n < 0) return null;
        const out: unknown[] = new Array(n);
        for (let i = 0; i < n; i++) out[i] = await this.#respValue((await this.#respLine(false))!, depth + 1);
        if (line.charCodeAt(0) === 62) (out as unknown as Record<symbol, boolean>)[RESP_PUSH] = true;
        return out;
      }
      case 95: // _ null
        return null;
      case 35: // # boolean
        if (line === '#t') return true;
        if (line === '#f') return false;
        throw new RESPProtocolError(`bad boolean ${JSON.stringify(line)}`);
      case 44: // , double
        return parseDouble(line);
      case 40: // ( big number
        return parseBigInt(line, 'big number');
      case 33: {
        // ! bulk error
        const n = await this.#respCount(line, 'bulk');
        return new RESPError(n < 0 ? '' : await this.#respBulk(n));
      }
      case 61: {
        // = verbatim string: "txt:" + text
        const n = await this.#respCount(line, 'bulk');
        if (n < 0) return null;
        const v = await this.#respBulk(n);
        return v.length >= 4 && v.charCodeAt(3) === 58 ? v.slice(4) : v;
      }
      case 37: {
        // % map
        const n = await this.#respCount(line, 'map');
        const m = new Map<unknown, unknown>();
        for (let i = 0; i < n; i++) {
          const k = await this.#respValue((await this.#respLine(false))!, depth + 1);
          m.set(k, await this.#respValue((await this.#respLine(false))!, depth + 1));
        }
        return m;
      }
      case 126: {
        // ~ set
        const n = await this.#respCount(line, 'set');
        const set = new Set<unknown>();
        for (let i = 0; i < n; i++) set.add(await this.#respValue((await this.#respLine(false))!, depth + 1));
        return set;
      }
      case 124: {
        // | attributes: read and drop, then the value they describe
        const n = await this.#respCount(line, 'attribute');
        for (let i = 0; i < 2 * n; i++) await this.#respValue((await this.#respLine(false))!, depth + 1);
        return this.#respValue((await this.#respLine(false))!, depth);
      }
      default:
        throw new RESPProtocolError(`unknown RESP type ${JSON.stringify(line[0])}`);
    }
  }

  /** Error replies decoded by respDecode. */
  static readonly RESPError = RESPError;
  /** Encode one value as RESP (see src/resp.ts for the mapping). */
  static readonly respEncode = respEncode;
  /** Encode a command (an array of bulk strings). */
  static readonly respEncodeCmd = respEncodeCmd;

  /**
   * Drop the next `n` bytes (fewer at EOF); resolves how many were dropped.
   * Up to highWaterMark bytes it waits until all `n` are buffered and drops
   * them at once, so a cancelled skip dropped nothing and can be retried.
   * A longer skip drops as it goes (it does not buffer `n` bytes): cancelled
   * after it dropped some, it resolves that short count and the cancel is
   * raised at the next op (completion wins, as for writev).
   */
  async skip(n: number): Promise<number> {
    if (this.#core.closed) throw new MachineClosedError();
    validateInteger(n, 'n', 0);
    if (n <= this.#hwm) {
      await this.#need(n);
      const k = Math.min(n, this.#avail);
      this.#consume(k);
      return k;
    }
    const scope = als.getStore();
    let done = 0;
    try {
      while (done < n) {
        if (this.#avail === 0 && !(await this.#need(1))) break;
        const k = Math.min(n - done, this.#avail);
        this.#consume(k);
        done += k;
      }
    } catch (e) {
      if (shortOnCancel(scope, e, done)) return done;
      throw e;
    }
    return done;
  }

  /**
   * Stop reading: cancel the kernel op (awaiting its final completion) and
   * return every buffered pool buffer. Bytes received but not consumed are
   * kept for the next stream or recvEach/readEach on the fd. The fd stays
   * open (it is the caller's).
   */
  async release(): Promise<void> {
    this.#released = true;
    if (this.#op !== null) {
      const op = this.#op;
      const done = new Promise<void>((r) => this.#finalWaiters.push(r));
      this.#core.cancelOp(op, NONE);
      await done;
    }
    if (this.#avail > 0) {
      // Unconsumed bytes are kept for the next reader of the fd (one copy out
      // of the pool), so no byte is lost.
      const rest = Buffer.allocUnsafe(this.#avail);
      this.#copy(rest, 0, rest.length);
      this.#consume(rest.length);
      if (this.#source !== null) this.#source.unread(rest);
      else stashLeftover(this.#core, this.fd, rest);
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.release();
  }
}

export function validateStreamOptions(opts: unknown): StreamOptions {
  if (opts === undefined) return {};
  if (opts === null || typeof opts !== 'object') throw argTypeError('opts', 'of type object', opts);
  const o = opts as StreamOptions;
  if (o.mode !== undefined && o.mode !== 'read' && o.mode !== 'recv') {
    throw argTypeError('opts.mode', "'read' or 'recv'", o.mode);
  }
  if (o.highWaterMark !== undefined) validateInteger(o.highWaterMark, 'opts.highWaterMark', 1);
  return o;
}
