/**
 * TLS over the ring (issue 11): m.tls(fd, opts), m.sslRead, m.sslWrite,
 * t.close(), m.stream(t), and the adapters' Transport over a connection.
 *
 * OpenSSL (the copy inside node, native/tls.c) never touches the socket. Its
 * BIO reads ciphertext from this connection's network-in buffer and writes
 * ciphertext to its network-out buffer; both are JS memory, owned here:
 *
 * - network-in is filled by a RECV op into its free tail. When an SSL call
 *   says WANT_READ (it consumed everything), the calling fiber issues that
 *   recv and parks on it like on any op, then calls again. A recv that
 *   completed before a cancel took effect still feeds its bytes (the core
 *   returns its result and raises the cancel at the next op), so no
 *   ciphertext, hence no plaintext, is lost.
 * - network-out is drained by SEND ops after every SSL call that produced
 *   output (handshake flights, records, alerts, close_notify), before the
 *   fiber waits for the peer. When it is full, OpenSSL holds the record and
 *   says WANT_WRITE: it is sent, then the call repeated.
 *
 * Both buffers are pinned by their op until its final CQE (op.ts), so a
 * cancelled or abandoned op never sees freed memory. C keeps their
 * addresses (they live as long as this object) and only uses them inside a
 * native call. One recv and one send at a time per connection: a fiber that
 * needs input while another's recv is in flight waits for it (Gate below),
 * so a reader and a writer can use one connection at once.
 * Internal module (not exported by the package, except TlsConnection and the
 * option types through index.ts).
 */
import { rootCertificates } from 'node:tls';
import { isIP } from 'node:net';

import { als, shortOnCancel, type Core } from './core.js';
import { UMError, UnsupportedError } from './errors.js';
import type { ParkWait } from './fiber.js';
import type { UringMachine } from './machine.js';
import { native } from './native.js';
import { OP_KINDS, OPCODES } from './op-kinds.js';
import { NONE, Task, type Op } from './op.js';
import { kTransport, type ReadSink, type Transport, type TransportSource } from './adapters.js';
import { argTypeError, invalidArgValue, rangeError, toBytes, validateBuffer, validateFd, validateInteger } from './validate.js';

const C = native.constants;
const MSG_NOSIGNAL = C.MSG_NOSIGNAL ?? 0x4000;
const SHUT_WR = C.SHUT_WR ?? 1;
const MSG_DONTWAIT = C.MSG_DONTWAIT ?? 0x40;
const AF_INET = C.AF_INET ?? 2;
const AF_INET6 = C.AF_INET6 ?? 10;
const ECONNRESET = 104;
const EIO = 5;

// Status codes of native/um_tls.h.
const WANT_READ = -1;
const WANT_WRITE = -2;
const ERR_SSL = -3;
const ERR_TRUNCATED = -4;
const ERR_EOF = -5;
const ERR_NOMEM = -6;
const ERR_CLOSED = -7;
const F_EOF = 1;

/**
 * Network-in / network-out start at 64 KiB (a few full records of 16 KiB +
 * 256 per recv or send) and grow, when a transfer keeps filling them, up to
 * 256 KiB: a bulk transfer then costs a quarter of the ops (measured: about
 * 1.3-1.7x the throughput of 64 KiB buffers on a 512 MiB loopback copy),
 * while an idle or request/response connection keeps 128 KiB.
 */
const IN_SIZE = 65536;
const OUT_SIZE = 65536;
const MAX_BUF = 262144;
/** Plaintext handed to one native write call (encrypted into network-out, piece by piece). */
const WRITE_SLICE = 1 << 20;

const VERSIONS = { 'TLSv1.2': 0x0303, 'TLSv1.3': 0x0304 } as const;
type TlsVersion = keyof typeof VERSIONS;

// ---- Errors -----------------------------------------------------------------------

/**
 * A TLS failure: a protocol error (`code` 'ERR_SSL_<REASON>', from
 * OpenSSL's reason string, as node:tls), a certificate that failed
 * verification (`code` the X509 name Node uses too: 'CERT_HAS_EXPIRED',
 * 'DEPTH_ZERO_SELF_SIGNED_CERT', 'HOSTNAME_MISMATCH', ...; `verifyError` the
 * OpenSSL text), a stream cut in the middle of a record
 * ('ERR_TLS_TRUNCATED'), bad PEM ('ERR_TLS_INVALID_CERT' / '_KEY' / '_CA'),
 * or an op on a closed connection ('ERR_TLS_CLOSED'). See docs/errors.md.
 */
export class TLSError extends Error {
  readonly code: string;
  /** OpenSSL's reason string, when there is one. */
  readonly reason: string | undefined;
  /** X509 verification result code (X509_V_ERR_*), for certificate failures. */
  readonly verifyCode: number | undefined;
  /** X509_verify_cert_error_string() of verifyCode. */
  readonly verifyError: string | undefined;

  constructor(code: string, message: string, reason?: string, verifyCode?: number, verifyError?: string) {
    super(message);
    this.name = 'TLSError';
    this.code = code;
    this.reason = reason;
    this.verifyCode = verifyCode;
    this.verifyError = verifyError;
  }
}

function reasonCode(reason: string): string {
  return 'ERR_SSL_' + reason.toUpperCase().replace(/[^A-Z0-9]+/g, '_').replace(/^_|_$/g, '');
}

function closedError(): TLSError {
  return new TLSError('ERR_TLS_CLOSED', 'the TLS connection is closed');
}

let supportChecked: string | null | undefined;

/** UnsupportedError when the running node does not export the OpenSSL functions we use. */
function requireTls(): void {
  if (supportChecked === undefined) supportChecked = native.tlsSupported();
  if (supportChecked !== null) {
    throw new UnsupportedError(
      `TLS needs the OpenSSL built into node, but this node binary does not export ${supportChecked} ` +
        '(a node built with a shared or no OpenSSL); use node:tls instead',
    );
  }
}

// ---- Options and contexts -----------------------------------------------------------

type Pem = string | Uint8Array;

/** Options of {@link createSecureContext} (and of m.tls without a secureContext). */
export interface SecureContextOptions {
  /** Server side (default false). */
  isServer?: boolean;
  /** Trusted CA certificates (PEM); default for clients: Node's bundled roots (tls.rootCertificates). */
  ca?: Pem | Pem[];
  /** Certificate chain (PEM: the leaf first). Required for servers. */
  cert?: Pem;
  /** Private key (PEM, unencrypted). Required for servers. */
  key?: Pem;
  /** Clients: fail the handshake when the server's certificate does not verify (default true). */
  rejectUnauthorized?: boolean;
  /** ALPN protocols, in order of preference (clients offer them; servers select from them). */
  alpn?: string[];
  minVersion?: TlsVersion;
  maxVersion?: TlsVersion;
}

/** Options of m.tls(fd, opts). */
export interface TlsOptions extends SecureContextOptions {
  /** Clients: the SNI name sent, and the identity the certificate is checked against. */
  servername?: string;
  /** A reusable context (a server should not parse its PEM per connection). */
  secureContext?: SecureContext;
}

type NativeCtx = object;
type NativeConn = object;

/**
 * Certificates, key, trust and protocol settings, parsed once and shared by
 * any number of connections (an SSL_CTX). Made by {@link createSecureContext}.
 */
export class SecureContext {
  /** @internal */ readonly h: NativeCtx;
  readonly isServer: boolean;
  readonly rejectUnauthorized: boolean;

  /** @internal */
  constructor(o: SecureContextOptions) {
    requireTls();
    this.isServer = o.isServer === true;
    this.rejectUnauthorized = o.rejectUnauthorized !== false;
    const h = native.tlsCtxNew(this.isServer);
    if (typeof h === 'number') throw new UMError(h, 'SSL_CTX_new');
    this.h = h;
    const fail = (code: string, what: string): never => {
      const reason = native.tlsCtxError(h) ?? 'unknown';
      throw new TLSError(code, `${what}: ${reason}`, reason);
    };
    if (o.minVersion !== undefined || o.maxVersion !== undefined) {
      const min = o.minVersion ? VERSIONS[o.minVersion] : 0;
      const max = o.maxVersion ? VERSIONS[o.maxVersion] : 0;
      if (native.tlsCtxVersions(h, min, max) !== 0) fail('ERR_TLS_INVALID_PROTOCOL_VERSION', 'bad TLS version range');
    }
    if (o.cert !== undefined && native.tlsCtxCert(h, pemBytes(o.cert)) !== 0) fail('ERR_TLS_INVALID_CERT', 'bad certificate');
    if (o.key !== undefined && native.tlsCtxKey(h, pemBytes(o.key)) !== 0) fail('ERR_TLS_INVALID_KEY', 'bad private key');
    if (o.ca !== undefined) {
      for (const c of Array.isArray(o.ca) ? o.ca : [o.ca]) if (native.tlsCtxCa(h, pemBytes(c)) !== 0) fail('ERR_TLS_INVALID_CA', 'bad CA certificate');
    } else if (!this.isServer) {
      if (native.tlsCtxRoots(h, defaultRoots()) !== 0) fail('ERR_TLS_INVALID_CA', 'default root certificates');
    }
    native.tlsCtxVerify(h, !this.isServer && this.rejectUnauthorized, false);
    if (o.alpn !== undefined && o.alpn.length > 0 && native.tlsCtxAlpn(h, alpnWire(o.alpn)) !== 0) fail('ERR_TLS_INVALID_ALPN', 'bad ALPN list');
  }
}

let rootsPem: Buffer | null = null;
function defaultRoots(): Buffer {
  return (rootsPem ??= Buffer.from(rootCertificates.join('\n')));
}

function pemBytes(p: Pem): Uint8Array {
  return typeof p === 'string' ? Buffer.from(p) : p;
}

function alpnWire(list: string[]): Buffer {
  const parts: Buffer[] = [];
  for (const name of list) {
    const b = Buffer.from(name);
    parts.push(Buffer.from([b.length]), b);
  }
  return Buffer.concat(parts);
}

function validatePem(v: unknown, name: string): void {
  if (typeof v !== 'string' && !(v instanceof Uint8Array)) throw argTypeError(name, 'a string or a Buffer (PEM)', v);
}

function validateContextOptions(o: SecureContextOptions, ctxGiven: boolean): void {
  if (o.isServer !== undefined && typeof o.isServer !== 'boolean') throw argTypeError('opts.isServer', 'of type boolean', o.isServer);
  if (o.rejectUnauthorized !== undefined && typeof o.rejectUnauthorized !== 'boolean') {
    throw argTypeError('opts.rejectUnauthorized', 'of type boolean', o.rejectUnauthorized);
  }
  for (const k of ['cert', 'key'] as const) if (o[k] !== undefined) validatePem(o[k], `opts.${k}`);
  if (o.ca !== undefined) {
    if (Array.isArray(o.ca)) o.ca.forEach((c, i) => validatePem(c, `opts.ca[${i}]`));
    else validatePem(o.ca, 'opts.ca');
  }
  if (o.alpn !== undefined) {
    if (!Array.isArray(o.alpn)) throw argTypeError('opts.alpn', 'an array of strings', o.alpn);
    o.alpn.forEach((p, i) => {
      if (typeof p !== 'string') throw argTypeError(`opts.alpn[${i}]`, 'of type string', p);
      const n = Buffer.byteLength(p);
      if (n < 1 || n > 255) throw rangeError(`opts.alpn[${i}]`, '1 to 255 bytes long', p);
    });
  }
  for (const k of ['minVersion', 'maxVersion'] as const) {
    if (o[k] !== undefined && !(o[k] in VERSIONS)) throw invalidArgValue(`opts.${k}`, "must be 'TLSv1.2' or 'TLSv1.3'", o[k]);
  }
  if (ctxGiven) {
    for (const k of ['ca', 'cert', 'key', 'alpn', 'minVersion', 'maxVersion', 'rejectUnauthorized'] as const) {
      if (o[k] !== undefined) throw invalidArgValue(`opts.${k}`, 'cannot be given with opts.secureContext (set it on the context)', o[k]);
    }
  } else if (o.isServer === true && (o.cert === undefined || o.key === undefined)) {
    throw argTypeError(o.cert === undefined ? 'opts.cert' : 'opts.key', 'a PEM string or Buffer (a server needs a certificate and its key)', undefined);
  }
}

/**
 * A reusable TLS context: PEM parsed once, shared by every connection made
 * with `m.tls(fd, { secureContext })`.
 */
export function createSecureContext(opts: SecureContextOptions): SecureContext {
  if (opts === null || typeof opts !== 'object') throw argTypeError('opts', 'of type object', opts);
  validateContextOptions(opts, false);
  return new SecureContext(opts);
}

/**
 * Contexts made for m.tls calls without a secureContext, keyed by the
 * options object: a server that passes the same options to every m.tls
 * does not parse its PEM per connection. Reused only if every field is the
 * very same value.
 */
const implicit = new WeakMap<object, { fields: unknown[]; ctx: SecureContext }>();
const CTX_FIELDS = ['isServer', 'ca', 'cert', 'key', 'rejectUnauthorized', 'alpn', 'minVersion', 'maxVersion'] as const;

function contextFor(o: TlsOptions): SecureContext {
  if (o.secureContext !== undefined) return o.secureContext;
  const fields = CTX_FIELDS.map((k) => o[k]);
  const hit = implicit.get(o);
  if (hit !== undefined && hit.fields.every((v, i) => v === fields[i])) return hit.ctx;
  const ctx = new SecureContext(o);
  implicit.set(o, { fields, ctx });
  return ctx;
}

// ---- Gate: one owner of a direction at a time ---------------------------------------

/**
 * Mutual exclusion for one direction of a connection (the recv side, the
 * send side, the readers, the writers). Taking a free gate is synchronous;
 * waiting for a busy one parks the fiber like any wait (timeout, terminate
 * and AbortSignal cancel it). Release hands the gate to the next waiter.
 */
class Gate {
  busy = false;
  readonly #core: Core;
  #waiters: ParkWait[] = [];
  #idle: (() => void)[] = [];

  constructor(core: Core) {
    this.#core = core;
  }

  /** null if taken at once; else a promise resolved once it is ours. */
  take(): Promise<void> | null {
    if (!this.busy) {
      this.busy = true;
      return null;
    }
    const scope = this.#core.enterScope();
    const w = this.#core.newWait();
    this.#waiters.push(w);
    return this.#core.park(w, scope);
  }

  release(): void {
    while (this.#waiters.length > 0) if (this.#waiters.shift()!.wake(undefined)) return; // handed over
    this.busy = false;
    const idle = this.#idle;
    if (idle.length > 0) {
      this.#idle = [];
      for (const f of idle) f();
    }
  }

  /** Fail every waiter (the connection is closing). */
  failAll(e: unknown): void {
    const ws = this.#waiters;
    this.#waiters = [];
    for (const w of ws) w.fail(e);
  }

  /** Resolves once nobody holds the gate (not cancellable: used by close). */
  whenIdle(): Promise<void> {
    if (!this.busy) return Promise.resolve();
    return new Promise((r) => this.#idle.push(r));
  }
}

// ---- The connection ---------------------------------------------------------------------

/** Every open connection of a machine: m.close() frees their OpenSSL objects. */
const registry = new WeakMap<Core, Set<TlsConnection>>();

/**
 * A TLS connection over a socket fd, made by `m.tls(fd, opts)` once the
 * handshake is done. Read and write it with `m.sslRead` / `m.sslWrite`,
 * `m.stream(t)`, or the adapters (`m.toDuplex(t)`, ...); `t.close()` sends
 * close_notify and closes the fd.
 */
export class TlsConnection implements TransportSource {
  readonly fd: number;
  readonly isServer: boolean;
  /** Negotiated protocol version ('TLSv1.3'). */
  protocol: string | null = null;
  /** Negotiated cipher suite. */
  cipher: string | null = null;
  /** The SNI name the client sent (servers), or the one we sent (clients). */
  servername: string | null = null;
  /** The ALPN protocol selected, or false. */
  alpnProtocol: string | false = false;
  /** The peer's certificate verified (clients; false with rejectUnauthorized: false and a bad certificate). */
  authorized = false;
  /** Why it did not ('CERT_HAS_EXPIRED', ...), or null. */
  authorizationError: string | null = null;

  readonly #m: UringMachine;
  readonly #core: Core;
  #h: NativeConn | null;
  readonly #ctx: SecureContext;
  #in = Buffer.allocUnsafeSlow(IN_SIZE);
  #out = Buffer.allocUnsafeSlow(OUT_SIZE);
  /** Recvs in a row that filled all the room they had (network-in grows after 2). */
  #fullRecvs = 0;
  /** [0] in_start, [1] in_end, [2] out_end, [3] flags (see native/um_tls.h). */
  readonly #st = new Int32Array(4);
  /** First byte of network-out not sent yet. */
  #outStart = 0;
  /** Recvs that fed network-in (a waiter for the in-gate checks it to skip its own). */
  #feeds = 0;
  readonly #inGate: Gate;
  readonly #outGate: Gate;
  readonly #readers: Gate;
  readonly #writers: Gate;
  #recvOp: Op | null = null;
  #recvGen = 0;
  #sendOp: Op | null = null;
  #sendGen = 0;
  #handshaken = false;
  /** A failure that must not cost the bytes a read already decrypted: raised at the next op. */
  #deferred: unknown = NONE;
  /** Plaintext given back by a Stream (release) or a cancelled adapter read: returned first. */
  #unread: Buffer[] = [];
  #closing: Promise<void> | null = null;
  #closed = false;

  /** @internal */
  constructor(m: UringMachine, core: Core, fd: number, ctx: SecureContext) {
    this.#m = m;
    this.#core = core;
    this.fd = fd;
    this.isServer = ctx.isServer;
    this.#ctx = ctx;
    this.#inGate = new Gate(core);
    this.#outGate = new Gate(core);
    this.#readers = new Gate(core);
    this.#writers = new Gate(core);
    const h = native.tlsNew(ctx.h, this.#in, this.#out, this.#st);
    if (typeof h === 'number') throw new UMError(h === ERR_NOMEM ? -12 : h, 'SSL_new');
    this.#h = h;
    let set = registry.get(core);
    if (set === undefined) registry.set(core, (set = new Set()));
    set.add(this);
  }

  /** True once close() has begun (or the machine closed). */
  get closed(): boolean {
    return this.#closed;
  }

  // ---- Ciphertext side: recv into network-in, send from network-out ----------------

  /** Wait for more ciphertext: recv into network-in (or wait for the recv another fiber has in flight). */
  async #fill(): Promise<void> {
    const gen = this.#feeds;
    const p = this.#inGate.take();
    if (p !== null) await p;
    try {
      if (this.#feeds !== gen || this.#closed) return; // someone else's recv fed it meanwhile
      const st = this.#st;
      if (st[3]! & F_EOF) throw new UMError(-ECONNRESET, 'recv');
      if (st[0] === st[1]) {
        st[0] = st[1] = 0;
        // Empty, and no op uses it (we hold the recv side): it may be replaced.
        if (this.#fullRecvs >= 2 && this.#in.length < MAX_BUF) this.#grow(this.#in.length * 2, this.#out.length);
      } else if (st[1] === this.#in.length) {
        // Not reached with OpenSSL's BIO use (WANT_READ means it read all),
        // but never recv into a full buffer.
        this.#in.copyWithin(0, st[0]!, st[1]!);
        st[1] = st[1]! - st[0]!;
        st[0] = 0;
      }
      const room = this.#in.length - st[1]!;
      const n = await this.#recv(st[1]!);
      this.#fullRecvs = n === room ? this.#fullRecvs + 1 : 0;
      if (n === 0) st[3] = st[3]! | F_EOF;
      else st[1] = st[1]! + n;
      this.#feeds++;
    } finally {
      this.#inGate.release();
    }
  }

  #recv(at: number, flags = 0): Promise<number> {
    const core = this.#core;
    const scope = core.enterScope();
    const op = core.acquire(OP_KINDS.recv, scope);
    const t = core.tmpl;
    t[0] = OPCODES.RECV;
    t[1] = this.fd;
    t[6] = this.#in.length - at;
    t[7] = flags;
    const view = this.#in.subarray(at);
    op.pin0 = view;
    this.#recvOp = op;
    this.#recvGen = op.gen;
    return core.promise(op, view);
  }

  #send(from: number, to: number): Promise<number> {
    const core = this.#core;
    const scope = core.enterScope();
    const op = core.acquire(OP_KINDS.send, scope);
    const t = core.tmpl;
    t[0] = OPCODES.SEND;
    t[1] = this.fd;
    t[6] = to - from;
    t[7] = MSG_NOSIGNAL;
    const view = this.#out.subarray(from, to);
    op.pin0 = view;
    this.#sendOp = op;
    this.#sendGen = op.gen;
    return core.promise(op, view);
  }

  /**
   * Replace the network buffers by bigger ones. Only when what is replaced
   * is empty and no op uses it: network-in from #fill (recv side held,
   * empty), network-out from write() (send side idle, empty). The old ones
   * stay pinned by any op that still references them (none by then).
   */
  #grow(inSize: number, outSize: number): void {
    if (inSize !== this.#in.length) this.#in = Buffer.allocUnsafeSlow(inSize);
    if (outSize !== this.#out.length) this.#out = Buffer.allocUnsafeSlow(outSize);
    native.tlsBuffers(this.#h!, this.#in, this.#out);
  }

  /** Ciphertext waiting in network-out. */
  get #outPending(): boolean {
    return this.#st[2]! > this.#outStart;
  }

  /** Send everything in network-out (or wait for the fiber that is sending it). */
  async #flush(): Promise<void> {
    const p = this.#outGate.take();
    if (p !== null) await p;
    try {
      const st = this.#st;
      while (this.#outStart < st[2]!) {
        const n = await this.#send(this.#outStart, st[2]!);
        if (n <= 0) throw new UMError(-EIO, 'send');
        this.#outStart += n;
      }
      // Empty: start over at the front. Nothing can append between the last
      // send's completion and here (no await).
      this.#outStart = 0;
      st[2] = 0;
    } finally {
      this.#outGate.release();
    }
  }

  // ---- Errors -------------------------------------------------------------------------

  #error(status: number, what: string): Error {
    if (status === ERR_CLOSED || this.#h === null) return closedError();
    if (status === ERR_EOF) return new UMError(-ECONNRESET, what);
    if (status === ERR_TRUNCATED) {
      return new TLSError('ERR_TLS_TRUNCATED', 'the peer closed the connection in the middle of a TLS record (truncated stream)');
    }
    if (status === ERR_NOMEM) return new UMError(-12, what);
    if (status !== ERR_SSL) return new UMError(status, what);
    const e = native.tlsError(this.#h);
    if (e.verify !== 0 && e.verifyText !== null) {
      const name = e.verifyName ?? 'ERR_TLS_CERT_VERIFY';
      return new TLSError(name, `TLS certificate verification failed: ${e.verifyText} (${name})`, e.reason ?? undefined, e.verify, e.verifyText);
    }
    const reason = e.reason ?? 'unknown error';
    return new TLSError(reasonCode(reason), `TLS error in ${what}: ${reason}`, reason);
  }

  #check(): void {
    if (this.#closed || this.#h === null) throw closedError();
    if (this.#deferred !== NONE) {
      const e = this.#deferred;
      this.#deferred = NONE;
      throw e;
    }
  }

  // ---- Handshake, read, write -----------------------------------------------------------

  /** @internal */
  async handshake(servername: string | undefined): Promise<void> {
    if (servername !== undefined) {
      // SNI is never an IP literal (RFC 6066, 3); the identity check still is.
      const rc = native.tlsHost(this.#h!, isIP(servername) === 0 ? servername : null, servername);
      if (rc !== 0) throw this.#error(rc, 'handshake');
      this.servername = servername;
    }
    for (;;) {
      this.#check();
      const r = native.tlsHandshake(this.#h!);
      if (this.#outPending) {
        if (r < 0 && r !== WANT_READ && r !== WANT_WRITE) {
          // The alert that tells the peer why: best effort, the error is ours.
          await this.#flush().catch(() => {});
        } else await this.#flush();
      }
      if (r === 0) break;
      if (r === WANT_READ) await this.#fill();
      else if (r !== WANT_WRITE) throw this.#error(r, 'handshake');
    }
    this.#handshaken = true;
    const info = native.tlsInfo(this.#h!);
    this.protocol = info.version;
    this.cipher = info.cipher;
    if (this.isServer) this.servername = info.servername;
    this.alpnProtocol = info.alpn ?? false;
    if (!this.isServer) {
      this.authorized = info.verify === 0;
      this.authorizationError = info.verify === 0 ? null : (info.verifyName ?? (info.verify < 0 ? 'NO_PEER_CERTIFICATE' : `X509_V_ERR_${info.verify}`));
    }
  }

  /** @internal m.sslRead */
  async read(buf: Uint8Array, off: number, maxlen: number): Promise<number> {
    this.#check();
    if (maxlen === 0) return 0;
    const p = this.#readers.take();
    if (p !== null) await p;
    try {
      if (this.#unread.length > 0) return this.#takeUnread(buf, off, maxlen);
      for (;;) {
        this.#check();
        const n = native.tlsRead(this.#h!, buf, off, maxlen);
        if (this.#outPending) {
          // An alert or a key update answer went into network-out.
          if (n > 0) {
            try {
              await this.#flush();
            } catch (e) {
              this.#deferred = e; // the decrypted bytes are the caller's now
            }
            return n;
          }
          await this.#flush();
        }
        if (n >= 0) return n;
        if (n === WANT_READ) await this.#fill();
        else if (n !== WANT_WRITE) throw this.#error(n, 'sslRead');
      }
    } finally {
      this.#readers.release();
    }
  }

  #takeUnread(buf: Uint8Array, off: number, maxlen: number): number {
    const c = this.#unread[0]!;
    const n = Math.min(c.length, maxlen);
    buf.set(n === c.length ? c : c.subarray(0, n), off);
    if (n === c.length) this.#unread.shift();
    else this.#unread[0] = c.subarray(n);
    return n;
  }

  /** @internal Give decrypted bytes back: the next read returns them first. */
  unread(b: Buffer): void {
    if (b.length > 0) this.#unread.unshift(b);
  }

  /** @internal m.sslWrite: resolves once every byte is encrypted and handed to the kernel. */
  async write(data: Uint8Array, len: number): Promise<number> {
    this.#check();
    if (len === 0) return 0;
    const p = this.#writers.take();
    if (p !== null) await p;
    let done = 0;
    try {
      while (done < len) {
        this.#check();
        // A big write with network-out empty and idle: let it carry more per send.
        if (len - done > this.#out.length && this.#out.length < MAX_BUF && this.#st[2] === 0 && !this.#outGate.busy) {
          this.#grow(this.#in.length, this.#out.length * 2);
        }
        const n = native.tlsWrite(this.#h!, data, done, Math.min(len - done, WRITE_SLICE));
        if (n > 0) done += n;
        // Network-out full (WANT_WRITE) or a slice encrypted: send it.
        if (this.#outPending) await this.#flush();
        if (n > 0 || n === WANT_WRITE) continue;
        if (n === WANT_READ) await this.#fill();
        else throw this.#error(n, 'sslWrite');
      }
      return done;
    } catch (e) {
      // Cancelled with plaintext already taken by OpenSSL: those bytes are
      // committed (their records go out before anything else at the next
      // op): report them like a short write, the cancel comes at the next op.
      if (!(e instanceof TLSError) && shortOnCancel(als.getStore(), e, done)) return done;
      throw e;
    } finally {
      this.#writers.release();
    }
  }

  /** @internal Queue close_notify and send it (the adapters' end()). */
  async shutdownWrite(): Promise<void> {
    this.#check();
    const p = this.#writers.take();
    if (p !== null) await p;
    try {
      const rc = native.tlsShutdown(this.#h!);
      if (this.#outPending) await this.#flush();
      if (rc !== 0) throw this.#error(rc, 'shutdown');
    } finally {
      this.#writers.release();
    }
  }

  /** @internal */
  get machine(): UringMachine {
    return this.#m;
  }

  // ---- Closing -------------------------------------------------------------------------------

  /** Send close_notify (if the connection is healthy), free the OpenSSL objects, close the fd. */
  close(): Promise<void> {
    return (this.#closing ??= this.#close());
  }

  async #close(): Promise<void> {
    const err = closedError();
    this.#closed = true;
    const core = this.#core;
    // A fiber parked in a recv that will never complete, or in a send the
    // peer never reads: cancel them and wait for their final CQEs.
    const r = this.#recvOp;
    if (r !== null && r.gen === this.#recvGen) core.cancelOp(r, err);
    const s = this.#sendOp;
    if (s !== null && s.gen === this.#sendGen) core.cancelOp(s, err);
    for (const g of [this.#readers, this.#writers, this.#inGate, this.#outGate]) g.failAll(err);
    await this.#inGate.whenIdle();
    await this.#outGate.whenIdle();
    const h = this.#h;
    if (h !== null && this.#handshaken && !core.closed) {
      // First the records of bytes a write had committed when its send was
      // cancelled (the write reported them as written), then close_notify.
      // From a cancelled scope the sends cannot run: the records are then
      // lost with the connection, as on a reset, and so is the alert.
      const clean = (!this.#outPending && this.#st[2] === 0) || (await this.#flushClosing());
      if (clean) {
        if (native.tlsShutdown(h) === 0 && this.#outPending) await this.#flushClosing();
        await this.#drain();
      }
    }
    this.#free();
    if (this.#m.closed) {
      native.closeSync(this.fd);
      return;
    }
    await this.#m.close(this.fd);
  }

  /** #flush() from #close (which has marked the connection closed): false if it could not send. */
  async #flushClosing(): Promise<boolean> {
    this.#closed = false;
    try {
      await this.#flush();
      return true;
    } catch {
      return false; // a peer that is gone, or a cancelled scope
    } finally {
      this.#closed = true;
    }
  }

  /**
   * Read (and drop) what the peer already sent and nobody read: closing a
   * TCP socket with unread bytes makes the kernel send RST instead of FIN,
   * and the peer would get ECONNRESET, maybe before our close_notify. A TLS
   * 1.3 client that never reads after the handshake has the server's session
   * tickets there. MSG_DONTWAIT: only what is already queued.
   */
  async #drain(): Promise<void> {
    if (this.#st[3]! & F_EOF) return;
    try {
      for (let i = 0; i < 8; i++) {
        this.#st[0] = this.#st[1] = 0;
        if ((await this.#recv(0, MSG_DONTWAIT)) <= 0) return;
      }
    } catch {
      // EAGAIN (nothing queued), a reset or a cancelled scope: done.
    }
  }

  /** @internal Free the SSL object (once). */
  free(): void {
    this.#closed = true;
    this.#free();
  }

  #free(): void {
    if (this.#h === null) return;
    native.tlsFree(this.#h);
    this.#h = null;
    registry.get(this.#core)?.delete(this);
  }

  // ---- Adapters ----------------------------------------------------------------------------

  /** The adapters' transport (m.toReadable(t), m.toDuplex(t), ...); keyed by a symbol the package does not export. */
  [kTransport](m: UringMachine): Transport {
    if (m._core !== this.#core) throw invalidArgValue('target', 'belongs to another machine', this);
    // One per adapter, like an fd's: destroying it closes the connection.
    return new TlsTransport(this);
  }
}

// ---- Facade functions -------------------------------------------------------------------------

/** m.tls(fd, opts): validate, make the connection, run the handshake. */
export async function connect(m: UringMachine, core: Core, fd: unknown, opts: unknown): Promise<TlsConnection> {
  validateFd(fd);
  if (opts === undefined) opts = {};
  if (opts === null || typeof opts !== 'object') throw argTypeError('opts', 'of type object', opts);
  const o = opts as TlsOptions;
  if (o.secureContext !== undefined && !(o.secureContext instanceof SecureContext)) {
    throw argTypeError('opts.secureContext', 'a SecureContext (createSecureContext())', o.secureContext);
  }
  validateContextOptions(o, o.secureContext !== undefined);
  if (o.servername !== undefined && (typeof o.servername !== 'string' || o.servername.length === 0)) {
    throw argTypeError('opts.servername', 'a non-empty string', o.servername);
  }
  if (o.secureContext !== undefined && o.isServer !== undefined && o.isServer !== o.secureContext.isServer) {
    throw invalidArgValue('opts.isServer', 'does not match opts.secureContext.isServer', o.isServer);
  }
  requireTls();
  const ctx = contextFor(o);
  const t = new TlsConnection(m, core, fd, ctx);
  try {
    await t.handshake(ctx.isServer ? undefined : o.servername);
  } catch (e) {
    t.free(); // the fd stays the caller's, as after a failed connect
    throw e;
  }
  return t;
}

function validateConn(t: unknown): asserts t is TlsConnection {
  if (!(t instanceof TlsConnection)) throw argTypeError('t', 'a TLS connection (from m.tls())', t);
}

/** m.sslRead(t, buf, maxlen): decrypted bytes into buf; 0 at close_notify or EOF. */
export function sslRead(t: unknown, buf: unknown, maxlen: unknown): Promise<number> {
  try {
    validateConn(t);
    validateBuffer(buf, 'buf');
    let n = buf.length;
    if (maxlen !== undefined) {
      validateInteger(maxlen, 'maxlen', 0, buf.length);
      n = maxlen;
    }
    return t.read(buf, 0, n);
  } catch (e) {
    return Promise.reject(e);
  }
}

/** m.sslWrite(t, data, len?): all of data (or its first len bytes); resolves the count. */
export function sslWrite(t: unknown, data: unknown, len: unknown): Promise<number> {
  try {
    validateConn(t);
    const bytes = toBytes(data);
    let n = bytes.length;
    if (len !== undefined) {
      validateInteger(len, 'len', 0, bytes.length);
      n = len;
    }
    return t.write(bytes, n);
  } catch (e) {
    return Promise.reject(e);
  }
}

/** m.close(): free the OpenSSL objects of the machine's connections (their ops are done by now). */
export function closeAll(core: Core): void {
  const set = registry.get(core);
  if (set === undefined) return;
  for (const t of [...set]) t.free();
  registry.delete(core);
}

/** Live OpenSSL objects in the process (tests): contexts and connections. */
export function liveObjects(): { contexts: number; connections: number } {
  const [contexts, connections] = native.tlsLive();
  return { contexts: contexts!, connections: connections! };
}

/** For m.stream(t): reads decrypted chunks; gives back what the Stream did not consume. */
export class TlsStreamSource {
  readonly #t: TlsConnection;
  readonly #scratch = Buffer.allocUnsafe(IN_SIZE);
  constructor(t: TlsConnection) {
    this.#t = t;
  }
  async read(): Promise<Buffer | null> {
    const n = await this.#t.read(this.#scratch, 0, this.#scratch.length);
    return n === 0 ? null : Buffer.from(this.#scratch.subarray(0, n));
  }
  unread(b: Buffer): void {
    this.#t.unread(b);
  }
  /** m.toReadable(m.stream(t)): the connection's transport. */
  [kTransport](m: UringMachine): Transport {
    return this.#t[kTransport](m);
  }
}

// ---- The adapters' transport --------------------------------------------------------------------

/**
 * Transport (src/adapters.ts) over a TLS connection: a read loop of
 * sslRead into chunks of its own, writes through sslWrite, shutdown as
 * close_notify then SHUT_WR, close as t.close(). Its ops belong to its own
 * Task, so destroy() cancels them all.
 */
class TlsTransport implements Transport {
  readonly kind: Transport['kind'];
  readonly fd: number;
  bytesRead = 0;
  bytesWritten = 0;
  readonly #t: TlsConnection;
  readonly #task = new Task();
  #sink: ReadSink | null = null;
  #reading = false;
  #loop: Promise<void> | null = null;
  #ended = false;
  #closing: Promise<void> | null = null;
  #writes = 0;
  #writeWaiters: (() => void)[] = [];

  constructor(t: TlsConnection) {
    this.#t = t;
    this.fd = t.fd;
    const d = native.socketDomain(t.fd);
    this.kind = d === AF_INET || d === AF_INET6 ? 'tcp' : 'socket';
  }

  readStart(sink: ReadSink): void {
    this.#sink = sink;
    this.#reading = true;
    if (this.#loop === null && !this.#ended && this.#closing === null) {
      this.#loop = als.run(this.#task.scope, () => this.#readLoop()).finally(() => {
        this.#loop = null;
      });
    }
  }

  readStop(): void {
    // The sslRead in flight finishes (its chunk is delivered); no next one.
    this.#reading = false;
  }

  async #readLoop(): Promise<void> {
    const buf = Buffer.allocUnsafe(IN_SIZE);
    while (this.#reading && this.#closing === null) {
      let n: number;
      try {
        n = await this.#t.read(buf, 0, buf.length);
      } catch (e) {
        if (this.#closing !== null) return;
        this.#ended = true;
        const sink = this.#sink;
        als.exit(() => sink?.error(e));
        return;
      }
      const sink = this.#sink;
      if (n === 0) {
        this.#ended = true;
        als.exit(() => sink?.end());
        return;
      }
      const chunk = Buffer.from(buf.subarray(0, n));
      if (this.#closing !== null || sink === null) {
        this.#t.unread(chunk);
        return;
      }
      this.bytesRead += n;
      // User code ('data' handlers) runs outside the transport's scope.
      if (!als.exit(() => sink.data(chunk))) this.#reading = false;
    }
  }

  write(chunks: readonly Uint8Array[]): Promise<void> {
    this.#writes++;
    let p: Promise<void>;
    try {
      p = als.run(this.#task.scope, async () => {
        const one = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
        this.bytesWritten += await this.#t.write(one, one.length);
      });
    } catch (e) {
      p = Promise.reject(e);
    }
    return p.finally(() => {
      if (--this.#writes === 0) for (const w of this.#writeWaiters.splice(0)) w();
    });
  }

  shutdown(): Promise<void> {
    // TLS has no half-close of its own: close_notify, then FIN.
    try {
      return als.run(this.#task.scope, async () => {
        await this.#t.shutdownWrite();
        await this.#t.machine.shutdown(this.fd, SHUT_WR);
      });
    } catch (e) {
      return Promise.reject(e);
    }
  }

  close(keepOpen: boolean): Promise<void> {
    return (this.#closing ??= this.#close(keepOpen));
  }

  async #close(keepOpen: boolean): Promise<void> {
    this.#reading = false;
    this.#sink = null;
    const e = new Error('Cannot call write after a stream was destroyed') as Error & { code: string };
    e.code = 'ERR_STREAM_DESTROYED';
    const scope = this.#task.scope;
    scope.cancelled = true;
    scope.error = e;
    this.#task.cancelWaits(null, e);
    if (this.#loop !== null) await this.#loop;
    if (this.#writes > 0) await new Promise<void>((r) => this.#writeWaiters.push(r));
    if (!keepOpen) await this.#t.close();
  }
}
