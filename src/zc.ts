/**
 * Zero-copy sends (issue 15): IORING_OP_SEND_ZC (Linux 6.0) and
 * IORING_OP_SENDMSG_ZC (6.1), io_uring_prep_send_zc(3).
 *
 * A zero-copy send has two CQEs with the op's user_data: the first carries
 * the send's result and, when it has IORING_CQE_F_MORE, a *notification*
 * (IORING_CQE_F_NOTIF) follows once the kernel no longer references the
 * pages. The op is submitted through the multishot path of the core (a
 * listener), so:
 *
 * - the first CQE (F_MORE) goes to `shot()`: the promise settles with the
 *   result (bytes, or the UMError / the cancel error), and the op is taken
 *   off its task's wait list (a later timeout or terminate of the fiber has
 *   nothing left to cancel: the send is over from the fiber's side);
 * - the notification is the op's final CQE: only then does the core release
 *   the record and drop its pins (`op.pin0` = the bytes), so the buffer stays
 *   referenced for as long as the kernel may read it, also when the fiber was
 *   cancelled; `metrics().opsPending` counts the op until then;
 * - a first CQE without F_MORE (the op failed before a notification was
 *   set up) is final by itself.
 *
 * IORING_SEND_ZC_REPORT_USAGE is always set: the notification's res has bit
 * 31 (IORING_NOTIF_USAGE_ZC_COPIED) set when the kernel copied the data
 * after all, which is what loopback delivery does; `zcStats()` counts both
 * outcomes so that a benchmark can say which one it measured.
 * Internal module (not exported by the package).
 */
import { addressOf, als, fillIovecs, shortOnCancel, type Core } from './core.js';
import { MachineClosedError, UMError } from './errors.js';
import { native } from './native.js';
import { OP_KINDS, OPCODES } from './op-kinds.js';
import { NONE, OpState, type MultishotListener, type Op } from './op.js';
import { fixedSlice, hold } from './fixed.js';
import { begin, requireOp, rwLength, setU64 } from './prep.js';
import { toBytes, toBytesList, validateFd, validateInt32, validateInteger } from './validate.js';

const C = native.constants;
const L = native.layout;
const MSG_NOSIGNAL = C.MSG_NOSIGNAL ?? 0x4000;
/** cqe->flags (native/uring_abi.h). */
const F_MORE = 1 << 1;
const F_NOTIF = 1 << 3;
/** sqe->ioprio sub-flag, and the notification's res bit (native/uring_abi.h). */
const SEND_ZC_REPORT_USAGE = 1 << 3;
const RECVSEND_FIXED_BUF = 1 << 2;
const NOTIF_USAGE_ZC_COPIED = 1 << 31;
const IOV_MAX = 1024;
const EIO = 5;

/** Zero-copy send counters of one machine (`m.zcStats()`). */
export interface ZcStats {
  /** Zero-copy sends submitted. */
  sends: number;
  /** Notifications received (the kernel released the pages). */
  notifications: number;
  /** Notifications that reported the data was copied, not sent from the user pages (loopback does this). */
  copied: number;
  /** Sends whose notification has not arrived yet (their buffers are still pinned). */
  inFlight: number;
}

const stats = new WeakMap<Core, ZcStats>();

export function zcStats(core: Core): ZcStats {
  let s = stats.get(core);
  if (s === undefined) {
    s = { sends: 0, notifications: 0, copied: 0, inFlight: 0 };
    stats.set(core, s);
  }
  return s;
}

/** Settles a zero-copy send at its first CQE; the record lives on until the notification. */
class ZcListener implements MultishotListener {
  #settled = false;
  readonly #core: Core;
  readonly #op: Op;
  readonly #stats: ZcStats;
  readonly #resolve: (n: number) => void;
  readonly #reject: (e: unknown) => void;
  readonly #syscall: string;
  readonly #onFinal: (() => void) | undefined;

  constructor(core: Core, op: Op, resolve: (n: number) => void, reject: (e: unknown) => void, onFinal?: () => void) {
    this.#core = core;
    this.#onFinal = onFinal;
    this.#op = op;
    this.#stats = zcStats(core);
    this.#resolve = resolve;
    this.#reject = reject;
    this.#syscall = op.kind!.syscall;
  }

  shot(res: number, flags: number): void {
    if ((flags & F_NOTIF) !== 0) return; // notifications are never F_MORE; defensive
    const op = this.#op;
    const cancelError = op.cancelError;
    // The send is over for the fiber: nothing of it is left to cancel, and a
    // missed cancel must not be retried until the notification comes.
    op.task?.unlink(op);
    if (op.state === OpState.CANCELLING) op.state = OpState.SUBMITTED;
    this.#settle(res, cancelError);
  }

  final(res: number, flags: number, cancelError: unknown): void {
    const s = this.#stats;
    s.inFlight--;
    this.#core.setZcInFlight(s.inFlight);
    this.#onFinal?.();
    if ((flags & F_NOTIF) !== 0) {
      s.notifications++;
      if ((res & NOTIF_USAGE_ZC_COPIED) !== 0) s.copied++;
      // A notification without a first CQE cannot happen (the kernel posts
      // it after the result); settle anyway rather than hang.
      if (!this.#settled) this.#settle(0, cancelError);
      return;
    }
    if (!this.#settled) this.#settle(res, cancelError);
  }

  #settle(res: number, cancelError: unknown): void {
    if (this.#settled) return;
    this.#settled = true;
    if (cancelError !== NONE) {
      // Completion wins (docs/ARCHITECTURE.md): bytes that went out are
      // reported and the cancel is raised at the fiber's next op.
      if (res > 0 && !(cancelError instanceof MachineClosedError) && shortOnCancel(this.#op.scope ?? undefined, cancelError, res)) {
        this.#core.cancelRaces++;
        this.#resolve(res);
      } else this.#reject(cancelError);
      return;
    }
    if (res < 0) this.#reject(new UMError(res, this.#syscall));
    else this.#resolve(res);
  }
}

/** `onFinal` runs at the op's final CQE (the notification), or at once if it could not be submitted. */
function submitZc(core: Core, op: Op, a: Uint8Array | Buffer, onFinal?: () => void): Promise<number> {
  const s = zcStats(core);
  return new Promise<number>((resolve, reject) => {
    try {
      core.multishot(op, new ZcListener(core, op, resolve, reject, onFinal), a);
    } catch (e) {
      onFinal?.();
      throw e;
    }
    s.sends++;
    s.inFlight++;
    core.setZcInFlight(s.inFlight);
  });
}

/**
 * send(2) without copying: IORING_OP_SEND_ZC, addr = data, len,
 * msg_flags = flags | MSG_NOSIGNAL, ioprio = IORING_SEND_ZC_REPORT_USAGE.
 */
export function sendZc(core: Core, fd: number, data: unknown, len: number | undefined, flags: number): Promise<number> {
  try {
    validateFd(fd);
    const bytes = toBytes(data);
    let n = bytes.length;
    if (len !== undefined) {
      validateInteger(len, 'len', 0, bytes.length);
      n = len;
    }
    validateInt32(flags, 'flags');
    requireOp(core, OP_KINDS.sendZc, 'm.sendZc() (IORING_OP_SEND_ZC) needs');
    const op = begin(core, OP_KINDS.sendZc);
    const t = core.tmpl;
    t[0] = OPCODES.SEND_ZC | (SEND_ZC_REPORT_USAGE << 16);
    t[1] = fd;
    t[6] = rwLength(n);
    t[7] = flags | MSG_NOSIGNAL;
    op.pin0 = bytes;
    return submitZc(core, op, bytes);
  } catch (e) {
    return Promise.reject(e);
  }
}

/**
 * sendZc() from registered buffer `index` (m.registerBuffers()): SEND_ZC
 * with IORING_RECVSEND_FIXED_BUF in ioprio and buf_index = index, addr =
 * the buffer's address + bufOffset (io_uring_prep_send_zc_fixed(3), Linux
 * 6.0). The kernel uses the pages it pinned at registration: no per-send
 * pinning. The op counts as a fixed op in flight (unregisterBuffers()
 * refuses) until its notification CQE, when the kernel has let go of the
 * pages.
 */
export function sendZcFixed(core: Core, fd: number, index: number, len: number | undefined, bufOffset: number, flags: number): Promise<number> {
  try {
    validateFd(fd);
    const { buf, n } = fixedSlice(core, 'sendZcFixed', index, len, bufOffset);
    validateInt32(flags, 'flags');
    requireOp(core, OP_KINDS.sendZc, 'm.sendZcFixed() (IORING_OP_SEND_ZC) needs');
    const op = begin(core, OP_KINDS.sendZc);
    const t = core.tmpl;
    t[0] = OPCODES.SEND_ZC | ((SEND_ZC_REPORT_USAGE | RECVSEND_FIXED_BUF) << 16);
    t[1] = fd;
    setU64(t, 4, bufOffset); // an offset into buf: the core adds its address
    t[6] = rwLength(n);
    t[7] = flags | MSG_NOSIGNAL;
    t[10] = index; // buf_index (u16 at byte 40)
    op.pin0 = buf;
    return submitZc(core, op, buf, hold(core));
  } catch (e) {
    return Promise.reject(e);
  }
}

function putU64(b: Buffer, off: number, v: number): void {
  b.writeUInt32LE(v % 4294967296, off);
  b.writeUInt32LE(Math.floor(v / 4294967296), off + 4);
}

/**
 * Send all of `bufs` without copying: IORING_OP_SENDMSG_ZC with a struct
 * msghdr (at most 1024 iovecs per op), resubmitting the rest after a short
 * send, like sendv. Each op keeps its msghdr, iovecs and buffers pinned
 * until its own notification.
 */
export async function sendvZc(core: Core, fd: number, bufs: unknown): Promise<number> {
  validateFd(fd);
  const list = toBytesList(bufs);
  requireOp(core, OP_KINDS.sendmsgZc, 'm.sendvZc() (IORING_OP_SENDMSG_ZC) needs');
  let total = 0;
  for (const b of list) total += b.length;
  if (total === 0) return 0;
  let sent = 0;
  while (sent < total) {
    // One msghdr and iovec array per op: a resubmitted op must not rewrite
    // the ones an earlier op's pages may still be referenced through.
    const iov = new Int32Array(4 * Math.min(list.length, IOV_MAX));
    const msg = Buffer.alloc(L.msghdrSize!);
    putU64(msg, L.msg_iov!, addressOf(iov));
    const count = fillIovecs(iov, list, sent, IOV_MAX);
    putU64(msg, L.msg_iovlen!, count);
    const scope = als.getStore();
    if (sent > 0 && scope?.interrupted === true) return sent;
    const op = begin(core, OP_KINDS.sendmsgZc);
    const t = core.tmpl;
    t[0] = OPCODES.SENDMSG_ZC | (SEND_ZC_REPORT_USAGE << 16);
    t[1] = fd;
    t[6] = 1;
    t[7] = MSG_NOSIGNAL;
    op.pin0 = msg;
    op.pin1 = iov;
    op.pin2 = list;
    let n: number;
    try {
      n = await submitZc(core, op, msg);
    } catch (e) {
      if (shortOnCancel(scope, e, sent)) return sent;
      throw e;
    }
    if (n === 0) throw new UMError(-EIO, 'sendmsg_zc');
    sent += n;
  }
  return sent;
}
