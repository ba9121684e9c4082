/**
 * Descriptor ops of issue 15 (the upstream gem's ops missing here):
 * ftruncate (IORING_OP_FTRUNCATE, Linux 6.9, io_uring_prep_ftruncate(3)),
 * and passing an fd over a unix socket with SCM_RIGHTS ancillary data
 * (sendFd: IORING_OP_SENDMSG, recvFd: IORING_OP_RECVMSG with
 * MSG_CMSG_CLOEXEC; unix(7), cmsg(3)).
 *
 * The msghdr, its one iovec, the one payload byte and the control buffer are
 * laid out in one Buffer (offsets from native/js_constants.c `layout`:
 * msghdr, cmsghdr and CMSG_SPACE/CMSG_LEN/CMSG_DATA of one int), whose
 * pointers are absolute addresses; it is pinned on the op until its final
 * CQE. A stream socket carries ancillary data only with at least one byte
 * of data, so each fd travels with one zero byte.
 * Internal module (not exported by the package).
 */
import { addressOf, type Core } from './core.js';
import { native } from './native.js';
import { OP_KINDS, OPCODES, type OpKind } from './op-kinds.js';
import type { Op } from './op.js';
import { begin, mapVoid, requireOp, setU64 } from './prep.js';
import { codedError, validateFd, validateInteger } from './validate.js';

const L = native.layout;
const C = native.constants;
const SOL_SOCKET = C.SOL_SOCKET ?? 1;
const SCM_RIGHTS = C.SCM_RIGHTS ?? 1;
const MSG_NOSIGNAL = C.MSG_NOSIGNAL ?? 0x4000;
const MSG_CMSG_CLOEXEC = C.MSG_CMSG_CLOEXEC ?? 0x40000000;
const MSG_CTRUNC = C.MSG_CTRUNC ?? 0x8;

/** ftruncate(2): IORING_OP_FTRUNCATE (Linux 6.9): fd, off = length. */
export function ftruncate(core: Core, fd: number, length: number): Promise<void> {
  try {
    validateFd(fd);
    validateInteger(length, 'length', 0);
    requireOp(core, OP_KINDS.ftruncate, 'm.ftruncate() (IORING_OP_FTRUNCATE) needs');
    const op = begin(core, OP_KINDS.ftruncate);
    const t = core.tmpl;
    t[0] = OPCODES.FTRUNCATE;
    t[1] = fd;
    setU64(t, 2, length);
    op.map = mapVoid;
    return core.promise(op);
  } catch (e) {
    return Promise.reject(e);
  }
}

// Layout of the one Buffer: [msghdr][iovec][payload byte, padded to 8][control]
const MSG = 0;
const IOV = L.msghdrSize!;
const BYTE = IOV + L.iovecSize!;
const CTRL = BYTE + 8;
const SIZE = CTRL + L.cmsgSpace1Fd!;

function putU64(b: Buffer, off: number, v: number): void {
  b.writeUInt32LE(v % 4294967296, off);
  b.writeUInt32LE(Math.floor(v / 4294967296), off + 4);
}

function msghdr(withFd: number): Buffer {
  const b = Buffer.alloc(SIZE);
  const base = addressOf(b);
  putU64(b, MSG + L.msg_iov!, base + IOV);
  putU64(b, MSG + L.msg_iovlen!, 1);
  putU64(b, MSG + L.msg_control!, base + CTRL);
  putU64(b, MSG + L.msg_controllen!, L.cmsgSpace1Fd!);
  putU64(b, IOV, base + BYTE);
  putU64(b, IOV + 8, 1);
  if (withFd >= 0) {
    putU64(b, CTRL + L.cmsg_len!, L.cmsgLen1Fd!);
    b.writeInt32LE(SOL_SOCKET, CTRL + L.cmsg_level!);
    b.writeInt32LE(SCM_RIGHTS, CTRL + L.cmsg_type!);
    b.writeInt32LE(withFd, CTRL + L.cmsgData!);
  }
  return b;
}

/** Send a copy of `fd` over unix socket `sock` (SCM_RIGHTS, with one zero byte of data). */
export function sendFd(core: Core, sock: number, fd: number): Promise<void> {
  try {
    validateFd(sock, 'sock');
    validateFd(fd);
    const msg = msghdr(fd);
    const op = begin(core, OP_KINDS.sendmsg);
    const t = core.tmpl;
    t[0] = OPCODES.SENDMSG;
    t[1] = sock;
    t[6] = 1;
    t[7] = MSG_NOSIGNAL;
    op.pin0 = msg;
    op.map = mapVoid;
    return core.promise(op, msg);
  } catch (e) {
    return Promise.reject(e);
  }
}

/** The descriptor a completed RECVMSG installed, or -1 if none came. */
function receivedFd(res: number, op: Op): number {
  const b = op.pin0 as Buffer;
  const ctrlLen = b.readUInt32LE(MSG + L.msg_controllen!);
  if (res > 0 && ctrlLen >= L.cmsgLen1Fd! && b.readInt32LE(CTRL + L.cmsg_level!) === SOL_SOCKET && b.readInt32LE(CTRL + L.cmsg_type!) === SCM_RIGHTS) {
    return b.readInt32LE(CTRL + L.cmsgData!);
  }
  return -1;
}

/**
 * recvFd's kind: a RECVMSG whose received descriptor is closed when the op
 * completed but is rejected anyway (m.close() raced it), since no caller
 * will ever see it (OpKind.reclaim).
 */
const RECV_FD_KIND: OpKind = Object.freeze({
  ...OP_KINDS.recvFd,
  reclaim(res: number, op: Op): void {
    const fd = receivedFd(res, op);
    if (fd >= 0) native.closeSync(fd);
  },
});

function mapRecvFd(res: number, op: Op): number {
  // More than one fd was sent: the kernel closed the ones that did not fit
  // (MSG_CTRUNC); the first one is still ours.
  const fd = receivedFd(res, op);
  if (fd >= 0) return fd;
  const flags = (op.pin0 as Buffer).readInt32LE(MSG + L.msg_flags!);
  if (res === 0) throw codedError(Error, 'ERR_UM_NO_FD', 'recvFd(): end of stream, no descriptor received');
  throw codedError(Error, 'ERR_UM_NO_FD', `recvFd(): ${res} byte(s) of data without a descriptor${(flags & MSG_CTRUNC) !== 0 ? ' (control data truncated)' : ''}`);
}

/**
 * Receive one fd sent with SCM_RIGHTS on unix socket `sock` (O_CLOEXEC);
 * resolves it. The byte it came with is consumed.
 */
export function recvFd(core: Core, sock: number): Promise<number> {
  try {
    validateFd(sock, 'sock');
    const msg = msghdr(-1);
    const op = begin(core, RECV_FD_KIND);
    const t = core.tmpl;
    t[0] = OPCODES.RECVMSG;
    t[1] = sock;
    t[6] = 1;
    t[7] = MSG_CMSG_CLOEXEC;
    op.pin0 = msg;
    op.map = mapRecvFd;
    return core.promise(op, msg);
  } catch (e) {
    return Promise.reject(e);
  }
}

