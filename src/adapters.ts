/**
 * Node ecosystem adapters (issue 10): an fd (or a Stream, or later a TLS
 * connection) as a Node `stream.Readable` / `Writable` / `Duplex`, or as a
 * pair of WHATWG streams. The facade methods m.toReadable, m.toWritable,
 * m.toDuplex and m.toWebStreams delegate here.
 *
 * Everything goes through a {@link Transport}: read (start/stop delivering
 * chunks to a sink), write (all of a list of chunks), shutdown, close. The
 * fd transport below reads from the machine's buffer pool with the read
 * that recvEach, readEach and streams share (`startPoolRead`: multishot
 * where the fd allows, one-shot on AF_UNIX), and reads regular files with
 * plain READs straight into the chunk it hands on. A TLS connection plugs in
 * by implementing `[kTransport]()` and returning its own Transport.
 *
 * Who owns what:
 * - A chunk handed to a sink (pushed into a Readable, enqueued into a
 *   ReadableStream) is a Buffer of its own, copied once out of its pool
 *   buffer (which goes straight back to the kernel), or, for a regular file,
 *   the very buffer the kernel read into (after the op's final CQE). The
 *   consumer keeps it as long as it likes.
 * - Chunks being written are pinned by their op until its final CQE (op.ts),
 *   also when the stream is destroyed meanwhile.
 * - Read ops belong to no fiber (a Node stream outlives the code that made
 *   it); write and shutdown ops belong to the transport's own Task. destroy()
 *   cancels both, waits for every final CQE, and only then closes the fd.
 * Internal module (not exported by the package).
 */
import { fstatSync } from 'node:fs';
import { Duplex, Readable, Writable, type DuplexOptions, type ReadableOptions, type WritableOptions } from 'node:stream';
import { ReadableStream, WritableStream, ByteLengthQueuingStrategy, type ReadableByteStreamController } from 'node:stream/web';

import { F_BUFFER, type BufferGroup } from './buffer-pool.js';
import { als, type Core } from './core.js';
import { UMError } from './errors.js';
import type { UringMachine } from './machine.js';
import { native } from './native.js';
import { decodeAddress } from './net-ops.js';
import { OP_KINDS, OPCODES } from './op-kinds.js';
import { NONE, Task, type MultishotListener, type Op } from './op.js';
import { copyOut, oneShotOnly, startPoolRead, stashLeftover, takeLeftover } from './pool-ops.js';
import { setU64 } from './prep.js';
import { Stream } from './stream.js';
import { argTypeError, validateFd, validateInteger } from './validate.js';

const C = native.constants;
const L = native.layout;
const ENOBUFS = 105;
const EBADFD = 77;
const EINVAL = 22;
const EBADF = 9;
const ECANCELED = 125;
const EIO = 5;
const AF_INET = C.AF_INET ?? 2;
const AF_INET6 = C.AF_INET6 ?? 10;
const SHUT_WR = C.SHUT_WR ?? 1;
const DEFAULT_READ_SIZE = 65536;
/**
 * Chunks the sink must accept in a row (push() returning true) before a pool
 * read goes multishot. A multishot recv drains whatever the socket holds
 * (megabytes on TCP) before its cancel lands, so after backpressure, and at
 * the start, reads are one-shot (one pool buffer each): the consumer has to
 * show it keeps up before a burst may overshoot the highWaterMark.
 */
const MULTISHOT_STREAK = 4;
/** Queued chunks totalling at most this many bytes are copied into one send/write instead of a writev. */
const SMALL_WRITEV = 16384;

// ---- The transport interface ---------------------------------------------------

/** Where a transport delivers what it reads. */
export interface ReadSink {
  /** A chunk, the sink's to keep. false: the sink wants no more for now (the transport stops reading). */
  data(chunk: Buffer): boolean;
  /** End of input (EOF, or the peer's shutdown). */
  end(): void;
  /** A read failed; nothing more comes. */
  error(e: unknown): void;
}

/**
 * A byte connection the adapters can drive: an fd today, a TLS connection
 * (issue 9) tomorrow. Sinks are called from a microtask after the turn that
 * reaped the completions, never from inside the machine's CQE processing.
 */
export interface Transport {
  /** 'socket' ('tcp' for AF_INET/AF_INET6 stream sockets), 'pipe', 'file' or 'other'. */
  readonly kind: 'tcp' | 'socket' | 'pipe' | 'file' | 'other';
  /** The fd (for socket options and addresses), or -1. */
  readonly fd: number;
  readonly bytesRead: number;
  readonly bytesWritten: number;
  /** Start (or resume) delivering chunks to `sink`. Idempotent. */
  readStart(sink: ReadSink): void;
  /** Stop reading: the kernel read is cancelled (multishot) or not re-armed (one-shot). */
  readStop(): void;
  /** Write every byte of `chunks` (short writes are retried). */
  write(chunks: readonly Uint8Array[]): Promise<void>;
  /** No more writes: shutdown(SHUT_WR) on a socket, nothing otherwise. */
  shutdown(): Promise<void>;
  /**
   * Cancel pending reads and writes, wait for their final CQEs, then close
   * the fd (unless `keepOpen`: then bytes read but not delivered are kept
   * for the next reader of the fd).
   */
  close(keepOpen: boolean): Promise<void>;
}

/**
 * An object that can act as a transport (a future TLS connection object):
 * `obj[kTransport](m)` returns its Transport.
 */
export const kTransport: unique symbol = Symbol('uringmachine.transport');

export interface TransportSource {
  [kTransport](m: UringMachine): Transport;
}

/** The error pending writes fail with when their stream is destroyed. */
function destroyedError(): Error {
  const e = new Error('Cannot call write after a stream was destroyed') as Error & { code: string };
  e.code = 'ERR_STREAM_DESTROYED';
  return e;
}

// ---- The fd transport ------------------------------------------------------------

type Kind = Transport['kind'];

function fdKind(fd: number): Kind {
  let st;
  try {
    st = fstatSync(fd);
  } catch {
    return 'other'; // a bad fd: the first op reports EBADF as a UMError
  }
  if (st.isFile()) return 'file';
  if (st.isFIFO()) return 'pipe';
  if (st.isSocket()) {
    const d = native.socketDomain(fd);
    return d === AF_INET || d === AF_INET6 ? 'tcp' : 'socket';
  }
  return 'other';
}

const END: unique symbol = Symbol('end');
type Delivery = Buffer | typeof END | { error: unknown };

// MultishotListener structurally (its methods are internal, stripped from the .d.ts).
export class FdTransport implements Transport {
  readonly fd: number;
  readonly kind: Kind;
  bytesRead = 0;
  bytesWritten = 0;
  readonly #m: UringMachine;
  readonly #core: Core;
  readonly #recv: boolean;
  #oneShot: boolean;
  readonly #readSize: number;
  /** The read op in flight (pool read, or a plain READ into #fileBuf). */
  #op: Op | null = null;
  /** #op is a multishot op (readStop cancels it). */
  #opMultishot = false;
  /** Chunks accepted by the sink in a row (see MULTISHOT_STREAK). */
  #streak = 0;
  #fileBuf: Buffer | null = null;
  #sink: ReadSink | null = null;
  /** The sink wants data. */
  #reading = false;
  /** Waiting for the pool to have a buffer again (ENOBUFS). */
  #starving = false;
  #ended = false;
  #closed = false;
  #closing: Promise<void> | null = null;
  /** A Stream whose release() must finish (its bytes become leftovers) before the first read. */
  #ready: Promise<void> | null;
  #queue: Delivery[] = [];
  #spare: Delivery[] = [];
  #scheduled = false;
  #finalWaiters: (() => void)[] = [];
  /** Owns the write and shutdown ops: destroy cancels them all at once. */
  readonly #task = new Task();
  #writes = 0;
  #writeWaiters: (() => void)[] = [];

  constructor(m: UringMachine, fd: number, ready: Promise<void> | null, readSize: number, kind?: Kind) {
    this.#m = m;
    this.#core = m._core;
    this.fd = fd;
    this.kind = kind ?? fdKind(fd);
    this.#recv = this.kind === 'tcp' || this.kind === 'socket';
    this.#oneShot = this.kind === 'socket' ? oneShotOnly(fd) : false;
    this.#readSize = readSize;
    this.#ready = ready;
    if (ready !== null) {
      ready.then(
        () => {
          this.#ready = null;
          this.#pump();
        },
        (e: unknown) => {
          this.#ready = null;
          this.#deliver({ error: e });
        },
      );
    }
  }

  // ---- Reading ------------------------------------------------------------------

  readStart(sink: ReadSink): void {
    this.#sink = sink;
    if (this.#queue.length > 0 && !this.#scheduled) {
      // Something (an error from a Stream's release) waited for a sink.
      this.#scheduled = true;
      queueMicrotask(this.#flush);
    }
    if (this.#reading) return;
    this.#reading = true;
    this.#pump();
  }

  readStop(): void {
    this.#reading = false;
    // A multishot op would go on filling pool buffers: cancel it (what it
    // delivers before the cancel lands is still handed on). A one-shot op is
    // simply not re-armed when it completes.
    this.#streak = 0;
    const op = this.#op;
    if (op !== null && this.#opMultishot) this.#core.cancelOp(op, NONE);
  }

  /** Start the next read if the sink wants data and nothing is in flight. */
  #pump(): void {
    if (!this.#reading || this.#op !== null || this.#starving || this.#ended || this.#closed || this.#ready !== null) return;
    // Bytes an earlier reader of this fd received but did not consume come first.
    for (let c = takeLeftover(this.#core, this.fd); c !== undefined; c = takeLeftover(this.#core, this.fd)) this.#deliver(c);
    try {
      if (this.kind === 'file') this.#startFileRead();
      else {
        const one = this.#oneShot || this.#streak < MULTISHOT_STREAK;
        this.#op = startPoolRead(this.#core, this.#core.pool, this.fd, this.#recv, one, 0, this);
        this.#opMultishot = !one;
      }
    } catch (e) {
      this.#ended = true;
      this.#deliver({ error: e });
    }
  }

  /** A regular file: a plain READ at the file position into a buffer that becomes the chunk. */
  #startFileRead(): void {
    const core = this.#core;
    const buf = Buffer.allocUnsafeSlow(this.#readSize);
    const op = core.acquire(OP_KINDS.read, undefined);
    const t = core.tmpl;
    t[0] = OPCODES.READ;
    t[1] = this.fd;
    setU64(t, 2, -1);
    t[6] = buf.length;
    op.pin0 = buf;
    this.#fileBuf = buf;
    this.#op = op;
    core.multishot(op, this, buf);
  }

  /** @internal A pool read's CQE with more to come. */
  shot(res: number, flags: number): void {
    if ((flags & F_BUFFER) === 0) return;
    const chunk = copyOut(this.#core.pool, res, flags);
    if (res > 0) this.#deliver(chunk);
  }

  /** @internal The read op's final CQE. */
  final(res: number, flags: number, _cancelError: unknown): void {
    this.#op = null;
    if (this.kind === 'file') {
      const buf = this.#fileBuf!;
      this.#fileBuf = null;
      if (res > 0) this.#deliver(res === buf.length ? buf : buf.subarray(0, res));
    } else if ((flags & F_BUFFER) !== 0) {
      const chunk = copyOut(this.#core.pool, res > 0 ? res : 0, flags);
      if (res > 0) this.#deliver(chunk);
    }
    const fw = this.#finalWaiters;
    if (fw.length > 0) {
      this.#finalWaiters = [];
      for (const f of fw) f();
    }
    if (this.#closed) return;
    if (res === 0) {
      this.#ended = true;
      this.#deliver(END);
    } else if (res > 0 || res === -ECANCELED) {
      this.#pump(); // a one-shot read, an op that ended early, or our own pause
    } else if (res === -ENOBUFS) {
      this.#starving = true;
      (this.#core.pool as BufferGroup).starved(() => {
        this.#starving = false;
        this.#pump();
      });
    } else if (!this.#recv && !this.#oneShot && (res === -EBADFD || res === -EINVAL) && this.kind !== 'file') {
      this.#oneShot = true; // not pollable: one buffer at a time
      this.#pump();
    } else {
      this.#ended = true;
      this.#deliver({ error: new UMError(res, this.#recv ? 'recv' : 'read') });
    }
  }

  /** Queue for the sink; delivered in a microtask, outside the machine's CQE processing. */
  #deliver(d: Delivery): void {
    this.#queue.push(d);
    if (!this.#scheduled) {
      this.#scheduled = true;
      queueMicrotask(this.#flush);
    }
  }

  readonly #flush = (): void => {
    this.#scheduled = false;
    // Sinks run user code ('data' handlers): not in the scope of whatever
    // fiber happened to trigger the turn.
    als.exit(this.#flushNow);
  };

  readonly #flushNow = (): void => {
    if (this.#sink === null && !this.#closed) return; // kept until readStart gives a sink
    const q = this.#queue;
    this.#queue = this.#spare;
    const sink = this.#sink;
    for (let i = 0; i < q.length; i++) {
      const d = q[i]!;
      if (this.#closed || sink === null) {
        // Destroyed meanwhile: data goes back to the fd's leftovers (close()
        // decides whether they are kept).
        if (d instanceof Buffer) stashLeftover(this.#core, this.fd, d);
        continue;
      }
      if (d instanceof Buffer) {
        this.bytesRead += d.length;
        if (sink.data(d)) {
          if (this.#streak < MULTISHOT_STREAK) this.#streak++;
        } else if (this.#reading) this.readStop();
      } else if (d === END) sink.end();
      else sink.error((d as { error: unknown }).error);
    }
    q.length = 0;
    this.#spare = q;
  };

  // ---- Writing ------------------------------------------------------------------

  write(chunks: readonly Uint8Array[]): Promise<void> {
    this.#writes++;
    let p: Promise<void>;
    try {
      p = als.run(this.#task.scope, () => this.#writeAll(chunks));
    } catch (e) {
      p = Promise.reject(e);
    }
    return p.finally(this.#writeDone);
  }

  readonly #writeDone = (): void => {
    if (--this.#writes === 0 && this.#writeWaiters.length > 0) {
      const ws = this.#writeWaiters;
      this.#writeWaiters = [];
      for (const w of ws) w();
    }
  };

  async #writeAll(chunks: readonly Uint8Array[]): Promise<void> {
    const m = this.#m;
    const fd = this.fd;
    const sock = this.#recv;
    let one: Uint8Array | null = chunks.length === 1 ? chunks[0]! : null;
    if (one === null) {
      let total = 0;
      for (const c of chunks) total += c.length;
      // A few small chunks (an HTTP response's head and body): one copy into
      // one buffer and a plain send is cheaper than a msghdr and an iovec
      // array whose fresh ArrayBuffers each need their address from native
      // code (measured: 8% of a node:http server's profile).
      if (total <= SMALL_WRITEV) one = Buffer.concat(chunks, total);
    }
    if (one !== null) {
      let b = one;
      while (b.length > 0) {
        const n = sock ? await m.send(fd, b) : await m.write(fd, b);
        if (n <= 0) throw new UMError(-EIO, sock ? 'send' : 'write'); // no progress
        this.bytesWritten += n;
        b = b.subarray(n);
      }
      return;
    }
    // sendv/writev retry short writes themselves.
    const n = sock ? await m.sendv(fd, chunks as Uint8Array[]) : await m.writev(fd, chunks as Uint8Array[]);
    this.bytesWritten += n;
  }

  shutdown(): Promise<void> {
    if (!this.#recv) return Promise.resolve();
    try {
      return als.run(this.#task.scope, () => this.#m.shutdown(this.fd, SHUT_WR));
    } catch (e) {
      return Promise.reject(e);
    }
  }

  // ---- Closing ------------------------------------------------------------------

  close(keepOpen: boolean): Promise<void> {
    return (this.#closing ??= this.#close(keepOpen));
  }

  async #close(keepOpen: boolean): Promise<void> {
    this.#closed = true;
    this.#reading = false;
    this.#sink = null;
    // Pending writes and shutdown fail with ERR_STREAM_DESTROYED, at their final CQE.
    const err = destroyedError();
    const scope = this.#task.scope;
    scope.cancelled = true;
    scope.error = err;
    this.#task.cancelWaits(null, err);
    if (this.#op !== null) {
      const done = new Promise<void>((r) => this.#finalWaiters.push(r));
      this.#core.cancelOp(this.#op, NONE);
      await done;
    }
    if (this.#writes > 0) await new Promise<void>((r) => this.#writeWaiters.push(r));
    if (this.#ready !== null) await this.#ready.catch(() => {});
    // Chunks read but not yet handed to the sink become leftovers of the fd.
    for (const d of this.#queue) if (d instanceof Buffer) stashLeftover(this.#core, this.fd, d);
    this.#queue.length = 0;
    if (keepOpen) return;
    if (this.#m.closed) {
      native.closeSync(this.fd);
      return;
    }
    try {
      await this.#m.close(this.fd);
    } catch (e) {
      // A bad fd was already reported by the read or write that met it.
      if (!(e instanceof UMError && e.errno === EBADF)) throw e;
    }
  }
}

// ---- Options and the target -----------------------------------------------------

/** Options of m.toReadable / toWritable / toDuplex / toWebStreams. */
export interface AdapterOptions {
  /** Close the fd when the stream is destroyed (default true); false leaves it open. */
  autoClose?: boolean;
  /** The Node stream's highWaterMark (both sides of a Duplex), and the read size for regular files. */
  highWaterMark?: number;
  /** Duplex only: keep the writable side open after EOF (default false, like node:net). */
  allowHalfOpen?: boolean;
}

/** What the adapters accept: an fd, a Stream (its buffered bytes come first), or a TransportSource. */
export type AdapterTarget = number | Stream | TransportSource;

function validateOptions(o: unknown): AdapterOptions {
  if (o === undefined) return {};
  if (o === null || typeof o !== 'object') throw argTypeError('opts', 'of type object', o);
  const opts = o as AdapterOptions;
  if (opts.highWaterMark !== undefined) validateInteger(opts.highWaterMark, 'opts.highWaterMark', 1, 2 ** 31 - 1);
  if (opts.autoClose !== undefined && typeof opts.autoClose !== 'boolean') throw argTypeError('opts.autoClose', 'of type boolean', opts.autoClose);
  if (opts.allowHalfOpen !== undefined && typeof opts.allowHalfOpen !== 'boolean') {
    throw argTypeError('opts.allowHalfOpen', 'of type boolean', opts.allowHalfOpen);
  }
  return opts;
}

/** The transport for `target` (validated). `streamOk`: a Stream may be given (readers only). */
export function transportFor(m: UringMachine, target: unknown, opts: AdapterOptions, streamOk: boolean, kind?: Kind): Transport {
  const readSize = opts.highWaterMark ?? DEFAULT_READ_SIZE;
  if (typeof target === 'number') {
    validateFd(target, 'target');
    return new FdTransport(m, target, null, readSize, kind);
  }
  if (target instanceof Stream) {
    if (!streamOk) throw argTypeError('target', 'an fd or a TLS connection', target);
    const src = target.source as Partial<TransportSource> | null;
    if (src !== null && typeof src[kTransport] === 'function') {
      // A Stream over a TLS connection: release() gives its unconsumed
      // plaintext back to the connection (synchronously: it has no op to
      // wait for), whose transport returns it first.
      void target.release();
      return src[kTransport](m);
    }
    // The Stream stops reading; what it buffered becomes the fd's leftovers,
    // which the transport hands on first.
    return new FdTransport(m, target.fd, target.release(), readSize);
  }
  if (target !== null && typeof target === 'object' && typeof (target as TransportSource)[kTransport] === 'function') {
    return (target as TransportSource)[kTransport](m);
  }
  throw argTypeError('target', streamOk ? 'an fd, a Stream or a TLS connection' : 'an fd or a TLS connection', target);
}

// ---- Node streams ------------------------------------------------------------------

function readSink(r: Readable, onActivity: (() => void) | null): ReadSink {
  return {
    data: (chunk) => {
      onActivity?.();
      return r.push(chunk);
    },
    end: () => {
      r.push(null);
    },
    error: (e) => {
      r.destroy(e as Error);
    },
  };
}

function callback(p: Promise<void>, cb: (e?: Error | null) => void): void {
  p.then(
    () => cb(),
    (e: Error) => cb(e),
  );
}

/** The Readable of m.toReadable. */
export class UMReadable extends Readable {
  readonly #t: Transport;
  readonly #autoClose: boolean;
  readonly #sink: ReadSink;

  /** @internal */
  constructor(t: Transport, opts: AdapterOptions) {
    const o: ReadableOptions = {};
    if (opts.highWaterMark !== undefined) o.highWaterMark = opts.highWaterMark;
    super(o);
    this.#t = t;
    this.#autoClose = opts.autoClose ?? true;
    this.#sink = readSink(this, null);
  }

  get fd(): number {
    return this.#t.fd;
  }

  get bytesRead(): number {
    return this.#t.bytesRead;
  }

  override _read(): void {
    this.#t.readStart(this.#sink);
  }

  override _destroy(err: Error | null, cb: (e?: Error | null) => void): void {
    this.#t.close(!this.#autoClose).then(
      () => cb(err),
      (e: Error) => cb(err ?? e),
    );
  }
}

/** The Writable of m.toWritable. */
export class UMWritable extends Writable {
  readonly #t: Transport;
  readonly #autoClose: boolean;

  /** @internal */
  constructor(t: Transport, opts: AdapterOptions) {
    const o: WritableOptions = {};
    if (opts.highWaterMark !== undefined) o.highWaterMark = opts.highWaterMark;
    super(o);
    this.#t = t;
    this.#autoClose = opts.autoClose ?? true;
  }

  get fd(): number {
    return this.#t.fd;
  }

  get bytesWritten(): number {
    return this.#t.bytesWritten;
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (e?: Error | null) => void): void {
    callback(this.#t.write([chunk]), cb);
  }

  /** Chunks queued while a write was in flight: one writev/sendmsg. */
  override _writev(chunks: { chunk: Buffer }[], cb: (e?: Error | null) => void): void {
    callback(this.#t.write(chunks.map((c) => c.chunk)), cb);
  }

  override _final(cb: (e?: Error | null) => void): void {
    callback(this.#t.shutdown(), cb);
  }

  override _destroy(err: Error | null, cb: (e?: Error | null) => void): void {
    this.#t.close(!this.#autoClose).then(
      () => cb(err),
      (e: Error) => cb(err ?? e),
    );
  }
}

const noDelayOpt = [C.IPPROTO_TCP ?? 6, C.TCP_NODELAY ?? 1] as const;

/**
 * The Duplex of m.toDuplex. On a socket it also has the parts of the
 * net.Socket surface that node:http and frameworks use: setTimeout (an
 * idle timer, like net's), setNoDelay and setKeepAlive (TCP), the
 * addresses, destroySoon, bytesRead/bytesWritten.
 */
export class UMSocket extends Duplex {
  readonly #t: Transport;
  readonly #autoClose: boolean;
  readonly #sink: ReadSink;
  #timer: NodeJS.Timeout | null = null;
  #peer: { address: string; family: string; port: number } | null | undefined;
  #local: { address: string; family: string; port: number } | null | undefined;
  /** Properties node:http and others set on a connection (net.Socket has them too). */
  server: unknown = null;
  readonly connecting = false;
  readonly pending = false;

  /** @internal */
  constructor(t: Transport, opts: AdapterOptions) {
    const o: DuplexOptions = { allowHalfOpen: opts.allowHalfOpen ?? false };
    if (opts.highWaterMark !== undefined) o.highWaterMark = opts.highWaterMark;
    super(o);
    this.#t = t;
    this.#autoClose = opts.autoClose ?? true;
    this.#sink = readSink(this, this.#activity);
  }

  get fd(): number {
    return this.#t.fd;
  }

  get bytesRead(): number {
    return this.#t.bytesRead;
  }

  get bytesWritten(): number {
    return this.#t.bytesWritten;
  }

  // ---- stream.Duplex ------------------------------------------------------------

  override _read(): void {
    this.#t.readStart(this.#sink);
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (e?: Error | null) => void): void {
    this.#activity();
    callback(this.#t.write([chunk]), cb);
  }

  override _writev(chunks: { chunk: Buffer }[], cb: (e?: Error | null) => void): void {
    this.#activity();
    callback(this.#t.write(chunks.map((c) => c.chunk)), cb);
  }

  /** end(): shutdown(SHUT_WR) on a socket once everything is written. */
  override _final(cb: (e?: Error | null) => void): void {
    callback(this.#t.shutdown(), cb);
  }

  override _destroy(err: Error | null, cb: (e?: Error | null) => void): void {
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    this.#t.close(!this.#autoClose).then(
      () => cb(err),
      (e: Error) => cb(err ?? e),
    );
  }

  // ---- The net.Socket parts ---------------------------------------------------------

  readonly #activity = (): void => {
    this.#timer?.refresh();
  };

  /**
   * Emit 'timeout' after `ms` without reads or writes (0 disables), like
   * net.Socket#setTimeout; `cb` is added as a one-time 'timeout' listener.
   * The stream is not destroyed: that is the listener's decision.
   */
  setTimeout(ms: number, cb?: () => void): this {
    validateInteger(ms, 'ms', 0);
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    if (ms === 0) {
      if (cb) this.removeListener('timeout', cb);
    } else {
      if (cb) this.once('timeout', cb);
      if (!this.destroyed) this.#timer = setTimeout(() => this.emit('timeout'), ms).unref();
    }
    return this;
  }

  /** TCP_NODELAY on a TCP socket (nothing on other fds, as net.Socket). */
  setNoDelay(noDelay = true): this {
    if (this.#t.kind === 'tcp' && !this.destroyed) native.setsockoptSync(this.fd, noDelayOpt[0], noDelayOpt[1], noDelay ? 1 : 0);
    return this;
  }

  /** SO_KEEPALIVE (and TCP_KEEPIDLE, in ms rounded to seconds) on a TCP socket. */
  setKeepAlive(enable = false, initialDelay = 0): this {
    if (this.#t.kind === 'tcp' && !this.destroyed) {
      native.setsockoptSync(this.fd, C.SOL_SOCKET ?? 1, C.SO_KEEPALIVE ?? 9, enable ? 1 : 0);
      if (enable && initialDelay > 0) native.setsockoptSync(this.fd, C.IPPROTO_TCP ?? 6, C.TCP_KEEPIDLE ?? 4, Math.max(1, Math.floor(initialDelay / 1000)));
    }
    return this;
  }

  /** end(), then destroy() once everything is written (net.Socket#destroySoon). */
  destroySoon(): void {
    if (this.writable) this.end();
    if (this.writableFinished) this.destroy();
    else this.once('finish', () => this.destroy());
  }

  #name(peer: boolean): { address: string; family: string; port: number } | null {
    if (this.#t.fd < 0 || (this.#t.kind !== 'tcp' && this.#t.kind !== 'socket')) return null;
    const buf = Buffer.alloc(L.sockaddrStorage!);
    const n = native.sockName(this.#t.fd, peer, buf);
    if (n < 0) return null;
    const family = buf.readUInt16LE(L.sockaddr_family!);
    const { host, port } = decodeAddress(buf, n);
    return { address: host, family: family === AF_INET ? 'IPv4' : family === AF_INET6 ? 'IPv6' : 'unix', port };
  }

  #peerName(): { address: string; family: string; port: number } | null {
    if (this.#peer === undefined || this.#peer === null) this.#peer = this.#name(true);
    return this.#peer;
  }

  #localName(): { address: string; family: string; port: number } | null {
    if (this.#local === undefined || this.#local === null) this.#local = this.#name(false);
    return this.#local;
  }

  get remoteAddress(): string | undefined {
    return this.#peerName()?.address;
  }
  get remotePort(): number | undefined {
    const p = this.#peerName();
    return p && p.family !== 'unix' ? p.port : undefined;
  }
  get remoteFamily(): string | undefined {
    return this.#peerName()?.family;
  }
  get localAddress(): string | undefined {
    return this.#localName()?.address;
  }
  get localPort(): number | undefined {
    const p = this.#localName();
    return p && p.family !== 'unix' ? p.port : undefined;
  }
  get localFamily(): string | undefined {
    return this.#localName()?.family;
  }
  /** The local address, as net.Socket#address(): `{ address, family, port }` ({} if unknown). */
  address(): { address: string; family: string; port: number } | Record<string, never> {
    return this.#localName() ?? {};
  }

  /** As net.Socket#readyState. */
  get readyState(): 'open' | 'readOnly' | 'writeOnly' | 'closed' {
    if (this.readable && this.writable) return 'open';
    if (this.readable) return 'readOnly';
    if (this.writable) return 'writeOnly';
    return 'closed';
  }
}

export function toReadable(m: UringMachine, target: unknown, opts: unknown): Readable {
  const o = validateOptions(opts);
  return new UMReadable(transportFor(m, target, o, true), o);
}

export function toWritable(m: UringMachine, target: unknown, opts: unknown): Writable {
  const o = validateOptions(opts);
  return new UMWritable(transportFor(m, target, o, false), o);
}

export function toDuplex(m: UringMachine, target: unknown, opts: unknown): UMSocket {
  const o = validateOptions(opts);
  return new UMSocket(transportFor(m, target, o, false), o);
}

// ---- Web streams ----------------------------------------------------------------------

/**
 * m.toWebStreams: a byte ReadableStream and a WritableStream over one
 * transport; the fd is closed once both are done (the readable ended,
 * errored or was cancelled, and the writable closed or aborted).
 */
export function toWebStreams(m: UringMachine, target: unknown, opts: unknown): { readable: ReadableStream<Uint8Array>; writable: WritableStream<Uint8Array> } {
  const o = validateOptions(opts);
  const t = transportFor(m, target, o, false);
  const keepOpen = !(o.autoClose ?? true);
  let open = 2;
  const release = (): Promise<void> => (--open === 0 ? t.close(keepOpen) : Promise.resolve());
  const hwm = o.highWaterMark ?? DEFAULT_READ_SIZE;
  let ctrl!: ReadableByteStreamController;
  let readDone = false;
  const finishRead = (): void => {
    if (readDone) return;
    readDone = true;
    t.readStop();
    release().catch(() => {});
  };
  const sink: ReadSink = {
    data: (chunk) => {
      if (readDone) return false;
      // A byte stream transfers (detaches) the chunk's ArrayBuffer: only a
      // buffer that is the chunk's alone may go in as it is (a small Buffer
      // lives in Node's shared allocation pool).
      const own = chunk.byteOffset === 0 && chunk.byteLength === chunk.buffer.byteLength;
      ctrl.enqueue(own ? chunk : new Uint8Array(chunk));
      // The queue's own highWaterMark is 0 (no read before somebody asks);
      // reading goes on until hwm bytes wait in it.
      return (ctrl.desiredSize ?? 0) > -hwm;
    },
    end: () => {
      if (readDone) return;
      ctrl.close();
      ctrl.byobRequest?.respond(0);
      finishRead();
    },
    error: (e) => {
      if (readDone) return;
      ctrl.error(e);
      finishRead();
    },
  };
  const readable = new ReadableStream(
    {
      type: 'bytes',
      start(c) {
        ctrl = c;
      },
      pull() {
        t.readStart(sink);
      },
      cancel() {
        finishRead();
      },
    },
    { highWaterMark: 0 },
  );
  const writable = new WritableStream<Uint8Array>(
    {
      write(chunk) {
        if (!(chunk instanceof Uint8Array)) throw argTypeError('chunk', 'a Uint8Array', chunk);
        return t.write([chunk]);
      },
      async close() {
        try {
          await t.shutdown();
        } finally {
          await release();
        }
      },
      abort() {
        return release();
      },
    },
    new ByteLengthQueuingStrategy({ highWaterMark: hwm }),
  );
  return { readable: readable as ReadableStream<Uint8Array>, writable };
}
