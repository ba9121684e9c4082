/**
 * Datagrams (issue 15): `recvmsgEach(fd)` and `recvmsgBatches(fd)`, a
 * multishot IORING_OP_RECVMSG (Linux 6.0, io_uring_prep_recvmsg_multishot(3))
 * on provided buffers, and `sendtoBatch(fd, datagrams)`, one IORING_OP_SEND
 * with a destination per datagram and one promise for the lot.
 *
 * A multishot recvmsg takes a template struct msghdr (only msg_namelen and
 * msg_controllen are used: the room to reserve for the peer's address and
 * control data; pinned on the op) and writes each datagram into one
 * provided buffer as:
 *
 *   struct io_uring_recvmsg_out { u32 namelen; u32 controllen;
 *                                 u32 payloadlen; u32 flags; }   16 bytes
 *   name     (msg_namelen bytes reserved; namelen of them used)
 *   control  (msg_controllen bytes reserved; 0 here)
 *   payload  (payloadlen bytes, cut to what the buffer holds: MSG_TRUNC in flags)
 *
 * It uses the plain (non-incremental) buffer group the bundles use: one
 * buffer per datagram. Each item is a copy of the payload and a copy of the
 * peer's sockaddr bytes (`addr`, decoded into host/port only when asked);
 * the buffer goes straight back to the kernel. `recvmsgBatches` gathers the
 * datagrams of one completion batch into one array (one wake-up of the loop
 * per batch, not per datagram), and `sendtoBatch` sends a batch back to the
 * `addr` bytes as they are: no address is decoded or encoded on the echo
 * path, and the loop costs one promise per batch.
 * Internal module (not exported by the package).
 */
import type { Core } from './core.js';
import { F_BUFFER, type BufferGroup } from './buffer-pool.js';
import { MachineClosedError, UMError } from './errors.js';
import { MultishotIterator } from './multishot.js';
import { native } from './native.js';
import { decodeAddress } from './net-ops.js';
import { stashDatagram, takeDatagram as takeLeftDatagram, takeDatagrams } from './pool-ops.js';
import { NONE, type MultishotListener } from './op.js';
import { OP_KINDS, OPCODES } from './op-kinds.js';
import type { Op } from './op.js';
import { MAX_RW_COUNT, requireOp } from './prep.js';
import { argTypeError, codedError, rangeError, toBytes, validateFd, validateInt32 } from './validate.js';

const L = native.layout;
const SQE_BUFFER_SELECT = 1 << 5;
const RECV_MULTISHOT = 1 << 1;
const ENOBUFS = 105;
const EIO = 5;
const MSG_TRUNC = native.constants.MSG_TRUNC ?? 0x20;
const MSG_NOSIGNAL = native.constants.MSG_NOSIGNAL ?? 0x4000;
const AF_INET = native.constants.AF_INET!;
const AF_INET6 = native.constants.AF_INET6!;
/** sizeof(struct io_uring_recvmsg_out). */
const OUT = 16;
/** Room reserved for the peer's address: a sockaddr_in6 (IPv4 and IPv6 peers). */
const NAME_ROOM = L.sockaddrIn6!;

/**
 * One datagram from recvmsgEach() / recvmsgBatches(). `data` and `addr` are
 * copies (the loop body's to keep); `host` and `port` are decoded from
 * `addr` on first use.
 */
export class Datagram {
  /** The payload. */
  readonly data: Buffer;
  /** The sender's struct sockaddr (sockaddr_in or sockaddr_in6) as the kernel wrote it: pass it to sendtoBatch to reply. */
  readonly addr: Buffer;
  /** True if the datagram was longer than a pool buffer and was cut (MSG_TRUNC). */
  readonly truncated: boolean;
  #host: string | undefined = undefined;
  #port = 0;

  constructor(data: Buffer, addr: Buffer, truncated: boolean) {
    this.data = data;
    this.addr = addr;
    this.truncated = truncated;
  }

  #decode(): void {
    const { host, port } = decodeAddress(this.addr, this.addr.length);
    this.#host = host;
    this.#port = port;
  }

  /** The sender's IP literal. */
  get host(): string {
    if (this.#host === undefined) this.#decode();
    return this.#host!;
  }

  /** The sender's port. */
  get port(): number {
    if (this.#host === undefined) this.#decode();
    return this.#port;
  }
}

/** The datagram in pool buffer `bid` (a completion of `res` bytes); the buffer is recycled. */
function takeDatagram(g: BufferGroup, res: number, flags: number): Datagram {
  const bid = g.take(res, flags);
  try {
    const b = g.views[bid]!;
    const namelen = b.readUInt32LE(0);
    const controllen = b.readUInt32LE(4);
    const payloadlen = b.readUInt32LE(8);
    const mflags = b.readUInt32LE(12);
    const payloadAt = OUT + NAME_ROOM + controllen;
    const n = Math.min(payloadlen, Math.max(0, res - payloadAt));
    const data = Buffer.allocUnsafe(n);
    b.copy(data, 0, payloadAt, payloadAt + n);
    const an = Math.min(namelen, NAME_ROOM);
    const addr = Buffer.allocUnsafe(an);
    b.copy(addr, 0, OUT, OUT + an);
    return new Datagram(data, addr, (mflags & MSG_TRUNC) !== 0);
  } finally {
    g.recycle(bid);
  }
}

/** The multishot recvmsg template: msg_namelen = the room for a sockaddr_in6. */
function msgTemplate(): Buffer {
  const msg = Buffer.alloc(L.msghdrSize!);
  msg.writeUInt32LE(NAME_ROOM, L.msg_namelen!);
  return msg;
}

function startRecvmsg(core: Core, fd: number, flags: number, g: BufferGroup, msg: Buffer, l: MultishotListener): Op {
  const op = core.acquire(OP_KINDS.recvmsgMultishot, undefined);
  const t = core.tmpl;
  t[0] = OPCODES.RECVMSG | (SQE_BUFFER_SELECT << 8) | (RECV_MULTISHOT << 16);
  t[1] = fd;
  t[6] = 1;
  t[7] = flags;
  t[10] = g.bgid;
  op.pin0 = msg;
  core.multishot(op, l, msg);
  return op;
}

/**
 * Datagrams a loop will not get (it broke out, returned, or was cancelled
 * while they were queued or in flight) were still delivered by the kernel:
 * they are kept for the next recvmsgEach / recvmsgBatches on the fd, which
 * hands them out before anything newer, so none is lost. m.close(fd) drops
 * them.
 */
class RecvmsgIterator extends MultishotIterator<Datagram> {
  readonly #fd: number;
  readonly #flags: number;
  readonly #g: BufferGroup;
  readonly #msg = msgTemplate();

  constructor(core: Core, fd: number, flags: number) {
    super(core);
    this.#fd = fd;
    this.#flags = flags;
    this.#g = core.bundlePool;
  }

  protected start(): Op {
    return startRecvmsg(this.core, this.#fd, this.#flags, this.#g, this.#msg, this);
  }

  protected override discard(d: Datagram): void {
    stashDatagram(this.core, this.#fd, d);
  }

  protected override leftover(): Datagram | undefined {
    return takeLeftDatagram(this.core, this.#fd) as Datagram | undefined;
  }

  protected item(res: number, flags: number): Datagram | undefined {
    if ((flags & F_BUFFER) === 0) return undefined;
    return takeDatagram(this.#g, res, flags);
  }

  protected override finalItem(res: number, flags: number): Datagram | undefined {
    return res > 0 ? this.item(res, flags) : undefined;
  }

  protected override restartOn(res: number): boolean | 'later' {
    if (res >= 0) return true; // the kernel ended it early: go on
    if (res === -ENOBUFS) {
      this.#g.starved(() => this.restartNow());
      return 'later';
    }
    return false;
  }

  protected error(res: number): unknown {
    return new UMError(res, 'recvmsg');
  }
}

/**
 * recvmsgBatches: the same op, but the datagrams of one completion batch
 * (one reap) go to the loop as one array. The first datagram of a batch
 * opens the array and schedules its delivery after the batch (the core's
 * I/O queue runs once the CQEs are settled); later ones join it. An
 * op's final CQE delivers the open array at once, so that an error or the
 * end of the loop comes after the datagrams received before it.
 */
class RecvmsgBatchIterator extends MultishotIterator<Datagram[]> {
  readonly #fd: number;
  readonly #flags: number;
  readonly #g: BufferGroup;
  readonly #msg = msgTemplate();
  #open: Datagram[] | null = null;
  readonly #flush = (): void => {
    const b = this.#open;
    this.#open = null;
    if (b !== null) this.deliver(b);
  };

  constructor(core: Core, fd: number, flags: number) {
    super(core);
    this.#fd = fd;
    this.#flags = flags;
    this.#g = core.bundlePool;
  }

  protected start(): Op {
    return startRecvmsg(this.core, this.#fd, this.#flags, this.#g, this.#msg, this);
  }

  /** As RecvmsgIterator: a batch the loop will not get is kept for the next loop on the fd. */
  protected override discard(batch: Datagram[]): void {
    for (const d of batch) stashDatagram(this.core, this.#fd, d);
  }

  /** What earlier loops left, as one batch. */
  protected override leftover(): Datagram[] | undefined {
    return takeDatagrams(this.core, this.#fd) as Datagram[] | undefined;
  }

  protected item(res: number, flags: number): Datagram[] | undefined {
    if ((flags & F_BUFFER) === 0) return undefined;
    const d = takeDatagram(this.#g, res, flags);
    if (this.#open === null) {
      this.#open = [d];
      this.core.schedule(this.#flush, undefined);
    } else this.#open.push(d);
    return undefined;
  }

  protected override finalItem(res: number, flags: number): Datagram[] | undefined {
    if (res > 0 && (flags & F_BUFFER) !== 0) this.item(res, flags);
    const b = this.#open;
    this.#open = null;
    return b ?? undefined;
  }

  override final(res: number, flags: number, cancelError: unknown): void {
    // What this batch gathered before the final CQE goes first.
    if (res <= 0 || (flags & F_BUFFER) === 0) this.#flush();
    super.final(res, flags, cancelError);
  }

  protected override restartOn(res: number): boolean | 'later' {
    if (res >= 0) return true;
    if (res === -ENOBUFS) {
      this.#g.starved(() => this.restartNow());
      return 'later';
    }
    return false;
  }

  protected error(res: number): unknown {
    return new UMError(res, 'recvmsg');
  }
}

export function recvmsgEach(core: Core, fd: number, flags: number): AsyncIterableIterator<Datagram> {
  validateFd(fd);
  validateInt32(flags, 'flags');
  requireOp(core, OP_KINDS.recvmsgMultishot, 'recvmsgEach (multishot recvmsg with provided buffers) needs');
  return new RecvmsgIterator(core, fd, flags);
}

export function recvmsgBatches(core: Core, fd: number, flags: number): AsyncIterableIterator<Datagram[]> {
  validateFd(fd);
  validateInt32(flags, 'flags');
  requireOp(core, OP_KINDS.recvmsgMultishot, 'recvmsgBatches (multishot recvmsg with provided buffers) needs');
  return new RecvmsgBatchIterator(core, fd, flags);
}

/** What sendtoBatch takes per datagram: a Datagram from recvmsgEach/recvmsgBatches fits. */
export interface OutDatagram {
  data: Uint8Array | string;
  /** A struct sockaddr_in (16 bytes, AF_INET) or sockaddr_in6 (28 bytes, AF_INET6), e.g. a Datagram's `addr`. */
  addr: Uint8Array;
}

/** sendtoBatch's result per datagram: the bytes sent, or the UMError the kernel gave for it. */
export type SendResult = number | UMError;

/** The sockaddr length of `addr` (validated): 16 for AF_INET, 28 for AF_INET6. */
function addrLength(addr: unknown, name: string): number {
  if (!(addr instanceof Uint8Array)) throw argTypeError(name, 'an instance of Buffer or Uint8Array (a struct sockaddr)', addr);
  const family = addr.length >= 2 ? addr[0]! | (addr[1]! << 8) : -1;
  const len = family === AF_INET ? L.sockaddrIn! : family === AF_INET6 ? L.sockaddrIn6! : -1;
  if (len < 0) throw codedError(TypeError, 'ERR_INVALID_ADDRESS', `The "${name}" argument must be a sockaddr_in or sockaddr_in6 (family AF_INET or AF_INET6)`);
  if (addr.length < len) throw rangeError(`${name}.length`, `>= ${len} (sizeof(struct ${family === AF_INET ? 'sockaddr_in' : 'sockaddr_in6'}))`, addr.length);
  return len;
}

/** One sendtoBatch call: settles once every member's CQE is in. */
class SendBatch {
  readonly results: SendResult[];
  left: number;
  cancelError: unknown = NONE;
  resolve!: (v: SendResult[]) => void;
  reject!: (e: unknown) => void;

  constructor(n: number) {
    this.results = new Array<SendResult>(n);
    this.left = n;
  }

  done(i: number, res: number, cancelError: unknown): void {
    if (res < 0 && cancelError !== NONE && this.cancelError === NONE) this.cancelError = cancelError;
    this.results[i] = res >= 0 ? res : new UMError(res, 'sendto');
    if (--this.left === 0) this.settle();
  }

  /**
   * Completion wins, per batch: if any datagram went out, the caller must
   * learn which (a retry would send it twice), so the batch resolves with
   * every slot's result, the cancelled ones as UMError ECANCELED, and the
   * cancellation is raised at the fiber's next op. Only a batch of which
   * nothing was sent rejects with the cancel's error; m.close() rejects
   * every pending call with MachineClosedError, result or not.
   */
  settle(): void {
    const e = this.cancelError;
    if (e !== NONE && (e instanceof MachineClosedError || !this.results.some((r) => typeof r === 'number'))) this.reject(e);
    else this.resolve(this.results);
  }
}

/** A member's listener: its final CQE reports to the batch under its index. */
class SendSlot implements MultishotListener {
  readonly #batch: SendBatch;
  readonly #i: number;

  constructor(batch: SendBatch, i: number) {
    this.#batch = batch;
    this.#i = i;
  }

  shot(): void {}

  final(res: number, _flags: number, cancelError: unknown): void {
    this.#batch.done(this.#i, res, cancelError);
  }
}

/**
 * sendto for many datagrams at once: one IORING_OP_SEND with a destination
 * (Linux 6.0; addr2 = the sockaddr bytes as given, addr_len its length)
 * per datagram, all queued now and submitted together by the next flush;
 * one promise, settled when every send's CQE is in, with each datagram's
 * result (bytes sent, or its UMError: a datagram that could not be sent is
 * reported, not thrown). Every datagram is checked before the first SQE is
 * queued. Each data and addr buffer is held by its op until its CQE.
 * A batch cancelled in flight (its fiber's scope) settles once every
 * member is final: with the results if any datagram was sent (completion
 * wins; the cancelled members hold UMError ECANCELED), else it rejects with
 * the cancel's error.
 */
export function sendtoBatch(core: Core, fd: number, datagrams: unknown, flags: number): Promise<SendResult[]> {
  try {
    validateFd(fd);
    validateInt32(flags, 'flags');
    if (!Array.isArray(datagrams)) throw argTypeError('datagrams', 'an Array of { data, addr }', datagrams);
    requireOp(core, OP_KINDS.sendto, 'sendtoBatch (IORING_OP_SEND with a destination) needs');
    const n = datagrams.length;
    const bytes = new Array<Uint8Array>(n);
    const lens = new Array<number>(n);
    // Each field is read once: what is submitted is what was checked (a getter cannot swap in a shorter addr).
    const addrs = new Array<Uint8Array>(n);
    for (let i = 0; i < n; i++) {
      const d = datagrams[i] as OutDatagram | null | undefined;
      if (d === null || typeof d !== 'object') throw argTypeError(`datagrams[${i}]`, 'an object { data, addr }', d);
      const b = toBytes(d.data, `datagrams[${i}].data`);
      if (b.length > MAX_RW_COUNT) throw rangeError(`datagrams[${i}].data.length`, `<= ${MAX_RW_COUNT}`, b.length);
      bytes[i] = b;
      const a = d.addr;
      lens[i] = addrLength(a, `datagrams[${i}].addr`);
      addrs[i] = a;
    }
    if (n === 0) return Promise.resolve([]);
    const batch = new SendBatch(n);
    const p = new Promise<SendResult[]>((resolve, reject) => {
      batch.resolve = resolve;
      batch.reject = reject;
    });
    const scope = core.enterScope(); // a cancelled scope rejects here, before any SQE
    const t = core.tmpl;
    for (let i = 0; i < n; i++) {
      try {
        const op = core.acquire(OP_KINDS.sendto, scope);
        const addr = addrs[i]!;
        t[0] = OPCODES.SEND;
        t[1] = fd;
        t[6] = bytes[i]!.length;
        t[7] = flags | MSG_NOSIGNAL;
        t[11] = lens[i]!; // addr_len: the low half of the word (little-endian)
        op.pin0 = bytes[i];
        op.pin1 = addr;
        op.listener = new SendSlot(batch, i);
        core.submit(op, bytes[i], addr);
      } catch (e) {
        // The machine closed, or no SQ slot (inside a completion batch with
        // the SQ full): this and the remaining datagrams are not sent; the
        // ones queued before still report at their CQEs.
        t.fill(0);
        for (let j = i; j < n; j++) batch.results[j] = e instanceof UMError ? e : new UMError(-EIO, 'sendto');
        if (batch.cancelError === NONE && !(e instanceof UMError)) batch.cancelError = e;
        batch.left -= n - i;
        if (batch.left === 0) batch.settle();
        break;
      }
    }
    return p;
  } catch (e) {
    return Promise.reject(e);
  }
}
