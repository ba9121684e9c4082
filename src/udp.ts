/**
 * Datagrams (issue 15): `recvmsgEach(fd)`, a multishot IORING_OP_RECVMSG
 * (Linux 6.0, io_uring_prep_recvmsg_multishot(3)) on provided buffers, and
 * `sendmsgTo` is the existing sendto.
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
 * buffer per datagram. Each item is a copy of the payload with the peer's
 * address decoded; the buffer goes straight back to the kernel.
 * Internal module (not exported by the package).
 */
import type { Core } from './core.js';
import { F_BUFFER, type BufferGroup } from './buffer-pool.js';
import { UMError } from './errors.js';
import { MultishotIterator } from './multishot.js';
import { native } from './native.js';
import { decodeAddress } from './net-ops.js';
import { OP_KINDS, OPCODES } from './op-kinds.js';
import type { Op } from './op.js';
import { requireOp } from './prep.js';
import { validateFd, validateInt32 } from './validate.js';

const L = native.layout;
const SQE_BUFFER_SELECT = 1 << 5;
const RECV_MULTISHOT = 1 << 1;
const ENOBUFS = 105;
const MSG_TRUNC = native.constants.MSG_TRUNC ?? 0x20;
/** sizeof(struct io_uring_recvmsg_out). */
const OUT = 16;
/** Room reserved for the peer's address: a sockaddr_in6 (IPv4 and IPv6 peers). */
const NAME_ROOM = L.sockaddrIn6!;

/** One datagram from recvmsgEach(). */
export interface Datagram {
  /** The payload (a copy: the loop body's to keep). */
  data: Buffer;
  /** The sender's IP literal. */
  host: string;
  /** The sender's port. */
  port: number;
  /** True if the datagram was longer than a pool buffer and was cut (MSG_TRUNC). */
  truncated: boolean;
}

class RecvmsgIterator extends MultishotIterator<Datagram> {
  readonly #fd: number;
  readonly #flags: number;
  readonly #g: BufferGroup;
  readonly #msg: Buffer;

  constructor(core: Core, fd: number, flags: number) {
    super(core);
    this.#fd = fd;
    this.#flags = flags;
    this.#g = core.bundlePool;
    this.#msg = Buffer.alloc(L.msghdrSize!);
    this.#msg.writeUInt32LE(NAME_ROOM, L.msg_namelen!);
  }

  protected start(): Op {
    const core = this.core;
    const op = core.acquire(OP_KINDS.recvmsgMultishot, undefined);
    const t = core.tmpl;
    t[0] = OPCODES.RECVMSG | (SQE_BUFFER_SELECT << 8) | (RECV_MULTISHOT << 16);
    t[1] = this.#fd;
    t[6] = 1;
    t[7] = this.#flags;
    t[10] = this.#g.bgid;
    op.pin0 = this.#msg;
    core.multishot(op, this, this.#msg);
    return op;
  }

  protected item(res: number, flags: number): Datagram | undefined {
    if ((flags & F_BUFFER) === 0) return undefined;
    const g = this.#g;
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
      const name = b.subarray(OUT, OUT + Math.min(namelen, NAME_ROOM));
      const { host, port } = decodeAddress(name, name.length);
      return { data, host, port, truncated: (mflags & MSG_TRUNC) !== 0 };
    } finally {
      g.recycle(bid);
    }
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

export function recvmsgEach(core: Core, fd: number, flags: number): AsyncIterableIterator<Datagram> {
  validateFd(fd);
  validateInt32(flags, 'flags');
  requireOp(core, OP_KINDS.recvmsgMultishot, 'recvmsgEach (multishot recvmsg with provided buffers) needs');
  return new RecvmsgIterator(core, fd, flags);
}
