/**
 * Cross-ring messages (issue 15): one machine posts a completion straight
 * into another machine's ring with IORING_OP_MSG_RING (Linux 5.18;
 * io_uring_prep_msg_ring(3), io_uring_prep_msg_ring_fd(3)), typically
 * between machines on different worker threads of one process.
 *
 * Addressing. `m.address()` is plain data, `{ fd, serial, pid }`: the ring's
 * fd (worker threads share the process's fd table, so the number names the
 * same ring in every thread), the ring's process-wide serial (a counter in
 * the addon, native/js_machine.c: the number of a ring closed since and
 * reused by another one must not reach the newcomer), and the process id (a
 * token carried to another process is refused before anything is
 * submitted). It survives postMessage / structured clone.
 *
 * What travels. The target CQE is all a message is: `res` (32 bits) and
 * `user_data` (64). We keep the high word of user_data for ourselves, as
 * the core tells CQEs apart by it (0: an op; 1: internal; see src/core.ts):
 *   user_data high word = TAG_MSG (2) or TAG_MSG_FD (3) | serial << 8
 *   user_data low word  = `data`, 32 bits unsigned, the caller's
 *   res                 = `value`, 32 bits signed (MSG_DATA: sqe->len), or
 *                         the slot the kernel gave the descriptor (MSG_SEND_FD)
 * So a message is an int32 `value` plus a uint32 `data` — enough for an
 * index into shared memory, a command, a sequence number. A CQE carrying a
 * serial other than the ring's own (an address that outlived its machine)
 * is counted in `msgStats().stray` and dropped; the sender cannot be told.
 * A dropped MSG_SEND_FD descriptor still took a slot of this ring's table:
 * the core closes that slot (Core.#closeSlot) instead of leaking it.
 *
 * Receiving. The core hands tagged CQEs to the machine's Inbox (created by
 * the first address(), receive() or messages()) inside its completion loop
 * — one branch on the high word, which the op path takes anyway. A waiting
 * receive() gets the message through the runqueue; otherwise it is queued
 * (no limit: the kernel already delivered it, dropping it is not ours to
 * do). receive() is a ParkWait: timeout, terminate, AbortSignal and
 * m.close() cancel it like any wait; a message handed to a wait wins over a
 * cancel that comes after it (the wait is settled, the cancel finds
 * nothing), and one that comes after the cancel goes to the next waiter or
 * the queue, so no message the kernel posted is lost to a cancel. While a
 * receive() waits, the machine keeps its event loop alive (Core.hold()).
 *
 * Our rings are SINGLE_ISSUER | DEFER_TASKRUN (native/ring.c): the kernel
 * cannot post into such a ring from another task, so it queues the post as
 * task work on the target (io_uring/msg_ring.c, the "remote" path), which
 * signals the target's eventfd; libuv wakes the target's loop, the turn
 * enters with GETEVENTS, the task work posts the CQE and the batch
 * delivers it. Core.reap() checks IORING_SQ_TASKRUN / the CQ words before
 * skipping the kernel when nothing of its own is pending, as soon as the
 * machine has an Inbox.
 * Internal module (not exported by the package).
 */
import { TAG_MSG, TAG_MSG_FD, type Core, type Inbox } from './core.js';
import { DirectFd } from './direct.js';
import { MachineClosedError, UMError } from './errors.js';
import type { ParkWait } from './fiber.js';
import { OP_KINDS, OPCODES } from './op-kinds.js';
import type { Op } from './op.js';
import { begin, requireOp } from './prep.js';
import { Deque } from './sync.js';
import { argTypeError, codedError, validateInt32, validateInteger } from './validate.js';

/** sqe->addr commands and sqe->msg_ring_flags (native/uring_abi.h, UM_MSG_*). */
export const MSG_DATA = 0;
export const MSG_SEND_FD = 1;
/** sqe->file_index FILE_INDEX_ALLOC (~0U): the target picks a free slot. */
const FILE_INDEX_ALLOC = -1;
const EBADF = 9;
const SERIAL_MASK = 0xffffff;

/** Where another machine can post messages: plain data (survives postMessage). See `m.address()`. */
export interface RingAddress {
  /** The ring's file descriptor (shared by every thread of the process). */
  readonly fd: number;
  /** The ring's process-wide serial (1..2^24-1): tells a ring from a later one on the same fd. */
  readonly serial: number;
  /** The process the address is valid in. */
  readonly pid: number;
}

/** A message `m.receive()` resolves. */
export interface RingMessage {
  /** int32: the sender's `value` (sendTo), or the slot of `fd` (sendFdTo). */
  readonly value: number;
  /** uint32: the sender's `data`. */
  readonly data: number;
  /** The direct descriptor sent with sendFdTo, now in this machine's file table; null for sendTo. */
  readonly fd: DirectFd | null;
}

/** Message counters of one machine (`m.msgStats()`). */
export interface MsgStats {
  /** Messages posted by this machine (sendTo / sendFdTo that completed). */
  sent: number;
  /** Messages received into the inbox. */
  received: number;
  /** Messages waiting in the inbox for a receive(). */
  queued: number;
  /** CQEs tagged as messages but meant for another ring (a stale address): dropped. */
  stray: number;
}

class Mailbox implements Inbox {
  readonly core: Core;
  readonly items = new Deque<RingMessage>();
  readonly waiters = new Deque<ParkWait>();
  received = 0;
  stray = 0;

  constructor(core: Core) {
    this.core = core;
  }

  post(lo: number, hi: number, res: number): boolean {
    if (hi >>> 8 !== this.core.serial) {
      this.stray++;
      return false;
    }
    const fd = (hi & 0xff) === TAG_MSG_FD ? new DirectFd(this.core, res) : null;
    const msg: RingMessage = { value: res, data: lo >>> 0, fd };
    this.received++;
    for (;;) {
      const w = this.waiters.shift();
      if (w === undefined) break;
      this.core.unhold();
      if (w.wake(msg)) return true;
    }
    this.items.push(msg);
    return true;
  }
}

const boxes = new WeakMap<Core, Mailbox>();

function mailbox(core: Core): Mailbox {
  let b = boxes.get(core);
  if (b === undefined) {
    if (core.closed) throw new MachineClosedError();
    b = new Mailbox(core);
    boxes.set(core, b);
    core.inbox = b;
  }
  return b;
}

/** UnsupportedError unless the kernel has MSG_RING (5.18), or MSG_SEND_FD (6.0) with fds. */
function requireMsgRing(core: Core, fds: boolean): void {
  if (fds) requireOp(core, OP_KINDS.msgRingFd, 'passing a direct descriptor to another ring (IORING_MSG_SEND_FD) needs');
  else requireOp(core, OP_KINDS.msgRing, 'cross-ring messages (IORING_OP_MSG_RING) need');
}

/** This machine's address; opens its inbox (messages sent to it from now on are kept). */
export function address(core: Core): RingAddress {
  requireMsgRing(core, false);
  mailbox(core);
  const info = core.ring.info();
  return Object.freeze({ fd: info.fd, serial: core.serial, pid: process.pid });
}

function validateAddress(a: unknown, name = 'address'): asserts a is RingAddress {
  if (a === null || typeof a !== 'object') throw argTypeError(name, 'a ring address (m.address())', a);
  const r = a as Record<string, unknown>;
  validateInt32(r.fd, `${name}.fd`, 0);
  validateInteger(r.serial, `${name}.serial`, 1, SERIAL_MASK);
  if (r.pid !== process.pid) {
    throw codedError(TypeError, 'ERR_INVALID_ARG_VALUE', `${name}: an address of another process (pid ${String(r.pid)}, this is ${process.pid})`);
  }
}

/** Post `value` (int32) and `data` (uint32) to the ring at `addr` (MSG_DATA); resolves once the kernel posted it. */
export function sendTo(core: Core, addr: unknown, value: unknown, data: unknown): Promise<void> {
  try {
    validateAddress(addr);
    validateInt32(value, 'value');
    validateInteger(data, 'data', 0, 0xffffffff);
    requireMsgRing(core, false);
    const op = begin(core, OP_KINDS.msgRing);
    const t = core.tmpl;
    t[0] = OPCODES.MSG_RING;
    t[1] = addr.fd;
    t[2] = data | 0; // off: the target CQE's user_data
    t[3] = TAG_MSG | (addr.serial << 8);
    t[4] = MSG_DATA; // addr: the command
    t[6] = value; // len: the target CQE's res
    op.map = mapSent;
    return core.promise(op);
  } catch (e) {
    return Promise.reject(e);
  }
}

/**
 * Install this machine's direct descriptor `d` in the file table of the
 * ring at `addr`, in a free slot (MSG_SEND_FD with FILE_INDEX_ALLOC); the
 * receiver's message has it as `fd` (and its slot as `value`). `d` stays
 * open here: both tables now hold the file.
 */
export function sendFdTo(core: Core, addr: unknown, d: unknown, data: unknown): Promise<void> {
  try {
    validateAddress(addr);
    if (!(d instanceof DirectFd)) throw argTypeError('fd', 'a DirectFd', d);
    if (d.core !== core) throw codedError(TypeError, 'ERR_INVALID_ARG_VALUE', 'fd: a DirectFd of another machine');
    if (d.closed) throw new UMError(-EBADF, 'msg_ring', `DirectFd(${d.index}) is closed`);
    validateInteger(data, 'data', 0, 0xffffffff);
    if (addr.serial === core.serial) {
      throw codedError(TypeError, 'ERR_INVALID_ARG_VALUE', 'address: a machine cannot send a direct descriptor to itself (the kernel refuses: EINVAL)');
    }
    requireMsgRing(core, true);
    const op = begin(core, OP_KINDS.msgRingFd);
    const t = core.tmpl;
    t[0] = OPCODES.MSG_RING;
    t[1] = addr.fd;
    t[2] = data | 0;
    t[3] = TAG_MSG_FD | (addr.serial << 8);
    t[4] = MSG_SEND_FD;
    t[11] = FILE_INDEX_ALLOC; // target slot: any free one, named by the target CQE's res
    t[12] = d.index; // addr3: our slot
    op.map = mapSent;
    return core.promise(op);
  } catch (e) {
    return Promise.reject(e);
  }
}
/** An op's map: count the message (the owner is the sending Core). */
function mapSent(_res: number, op: Op): undefined {
  const core = op.owner as Core;
  sent.set(core, (sent.get(core) ?? 0) + 1);
  return undefined;
}
/** Messages each machine has sent (with or without an inbox of its own). */
const sent = new WeakMap<Core, number>();

/** A cancelled receive leaves the line (and stops keeping the loop alive). */
function leave(w: ParkWait): void {
  const b = w.ctx as Mailbox;
  if (b.waiters.remove(w)) b.core.unhold();
}

/** The next message: at once if one is queued, else park until one arrives. */
export function receive(core: Core): Promise<RingMessage> {
  try {
    const scope = core.enterScope();
    requireMsgRing(core, false);
    const b = mailbox(core);
    const msg = b.items.shift();
    if (msg !== undefined) return Promise.resolve(msg);
    const w = core.lineWait(scope);
    w.ctx = b;
    w.onCancel = leave;
    b.waiters.push(w);
    core.hold();
    return core.park(w, scope);
  } catch (e) {
    return Promise.reject(e);
  }
}

/** Messages as an async iterator: each step a receive(); ends when the machine closes. */
export async function* messages(core: Core): AsyncGenerator<RingMessage, void, undefined> {
  for (;;) {
    let msg: RingMessage;
    try {
      msg = await receive(core);
    } catch (e) {
      if (e instanceof MachineClosedError) return;
      throw e;
    }
    yield msg;
  }
}

export function msgStats(core: Core): MsgStats {
  const b = boxes.get(core);
  return { sent: sent.get(core) ?? 0, received: b?.received ?? 0, queued: b?.items.length ?? 0, stray: b?.stray ?? 0 };
}
