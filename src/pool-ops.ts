/**
 * Ops on the automatic buffer pool and the multishot fd ops (issue 3):
 * recvEach, readEach, acceptEach, acceptIntoQueue, pollEach, poll, the fd
 * form of select, recvBundle and sendBundle. The facade methods in
 * machine.ts delegate here.
 *
 * SQE fields (io_uring_enter(2), io_uring_prep_recv_multishot(3),
 * io_uring_prep_read_multishot(3), io_uring_prep_multishot_accept(3),
 * io_uring_prep_poll_multishot(3)): buffer selection is IOSQE_BUFFER_SELECT
 * in sqe->flags with the group in sqe->buf_group (the low half of word 10);
 * multishot recv is IORING_RECV_MULTISHOT and bundles IORING_RECVSEND_BUNDLE
 * in sqe->ioprio; multishot accept is IORING_ACCEPT_MULTISHOT in ioprio;
 * multishot poll is IORING_POLL_ADD_MULTI in sqe->len with the mask in
 * poll32_events (word 7).
 * Internal module (not exported by the package).
 */
import { addressOf, als, shortOnCancel, type Core } from './core.js';
import { requireOp, rwLength } from './prep.js';
import { F_BUFFER, type BufferGroup } from './buffer-pool.js';
import { UMError } from './errors.js';
import { MultishotIterator } from './multishot.js';
import { native } from './native.js';
import { OP_KINDS, OPCODES } from './op-kinds.js';
import { NONE, type MultishotListener, type Op } from './op.js';
import { argTypeError, toBytesList, validateFd, validateInt32 } from './validate.js';

const SQE_BUFFER_SELECT = 1 << 5;
const RECV_MULTISHOT = 1 << 1;
const RECVSEND_BUNDLE = 1 << 4;
const ACCEPT_MULTISHOT = 1 << 0;
const POLL_ADD_MULTI = 1 << 0;
const MSG_NOSIGNAL = 0x4000;
const SOCK_CLOEXEC = 0o2000000;
const ENOBUFS = 105;
const EBADFD = 77;
const EINVAL = 22;
const POLLIN = 0x1;
const POLLPRI = 0x2;
const POLLOUT = 0x4;


/**
 * What a consumer of an fd received but did not take, per machine and fd,
 * oldest first, for the fd's next consumer: the kernel delivered it, so it
 * is never dropped while the fd is open.
 */
class Leftovers<T> {
  readonly #byCore = new WeakMap<Core, Map<number, T[]>>();

  stash(core: Core, fd: number, v: T): void {
    let m = this.#byCore.get(core);
    if (m === undefined) this.#byCore.set(core, (m = new Map()));
    const list = m.get(fd);
    if (list === undefined) m.set(fd, [v]);
    else list.push(v);
  }

  /** The oldest item left for `fd`, if any. */
  take(core: Core, fd: number): T | undefined {
    const m = this.#byCore.get(core);
    const list = m?.get(fd);
    if (list === undefined) return undefined;
    const v = list.shift();
    if (list.length === 0) m!.delete(fd);
    return v;
  }

  /** Every item left for `fd`, oldest first (and forget them), or undefined. */
  takeAll(core: Core, fd: number): T[] | undefined {
    const m = this.#byCore.get(core);
    const list = m?.get(fd);
    if (list !== undefined) m!.delete(fd);
    return list;
  }

  /** Every item left on any fd of `core` (and forget them). */
  drain(core: Core): T[] {
    const m = this.#byCore.get(core);
    this.#byCore.delete(core);
    return m === undefined ? [] : [...m.values()].flat();
  }
}

/** Bytes read from an fd that no consumer took (see RecvIterator.discard). */
const chunks = new Leftovers<Buffer>();
/** Datagrams received that no loop took (RecvmsgIterator in src/udp.ts): the next recvmsgEach / recvmsgBatches hands them out first. */
const datagrams = new Leftovers<unknown>();
/**
 * Connections accepted on a listener that no loop took (AcceptIterator.discard):
 * the next accept / acceptEach / acceptIntoQueue on the listener gets them
 * before asking the kernel. They are open fds: closing the listener
 * (dropLeftovers) or the machine (closeLeftoverFds) closes them.
 */
const connections = new Leftovers<number>();

export function stashLeftover(core: Core, fd: number, chunk: Buffer): void {
  chunks.stash(core, fd, chunk);
}
/** The next chunk some earlier consumer of `fd` left behind, if any. */
export function takeLeftover(core: Core, fd: number): Buffer | undefined {
  return chunks.take(core, fd);
}
export function stashDatagram(core: Core, fd: number, d: unknown): void {
  datagrams.stash(core, fd, d);
}
export function takeDatagram(core: Core, fd: number): unknown {
  return datagrams.take(core, fd);
}
export function takeDatagrams(core: Core, fd: number): unknown[] | undefined {
  return datagrams.takeAll(core, fd);
}
export function stashFd(core: Core, listener: number, fd: number): void {
  connections.stash(core, listener, fd);
}
/** The oldest connection left on `listener`, if any. */
export function takeFd(core: Core, listener: number): number | undefined {
  return connections.take(core, listener);
}

/** m.close(): close every connection still left on any listener. */
export function closeLeftoverFds(core: Core): void {
  for (const fd of connections.drain(core)) native.closeSync(fd);
}

/** Forget what was left for `fd` (it is being closed); connections left on a listener are closed. */
export function dropLeftovers(core: Core, fd: number): void {
  chunks.takeAll(core, fd);
  datagrams.takeAll(core, fd);
  for (const c of connections.takeAll(core, fd) ?? []) native.closeSync(c);
}

const AF_UNIX = 1;
/**
 * True when `fd` must be read with one-shot ops: an AF_UNIX socket, where a
 * multishot recv/read can miss an EOF that arrives while it drains a backlog
 * (seen on Linux 6.18, liburing issue #1549; test/ops/pool.test.ts has the
 * case). Pipes and TCP sockets keep multishot.
 */
export function oneShotOnly(fd: number): boolean {
  return native.socketDomain(fd) === AF_UNIX;
}

/** Copy `len` bytes of buffer `bid` (from the group's last take()) out, and recycle it. */
export function copyOut(g: BufferGroup, res: number, flags: number): Buffer {
  const bid = g.take(res, flags);
  const start = g.start;
  const out = Buffer.allocUnsafe(res);
  g.views[bid]!.copy(out, 0, start, start + res);
  g.recycle(bid);
  return out;
}

/**
 * Submit the read of `fd` into pool buffers that recvEach, readEach and
 * streams share: recv or read, multishot (one op, many CQEs) or one-shot
 * (one buffer per op: AF_UNIX sockets and files that cannot be polled).
 * The listener gets every CQE; returns the op.
 */
export function startPoolRead(
  core: Core,
  g: BufferGroup,
  fd: number,
  recv: boolean,
  oneShot: boolean,
  flags: number,
  listener: MultishotListener,
): Op {
  const t = core.tmpl;
  let op: Op;
  if (recv && oneShot) {
    op = core.acquire(OP_KINDS.recvSelect, undefined);
    t[0] = OPCODES.RECV | (SQE_BUFFER_SELECT << 8);
    t[6] = g.bufferSize;
  } else if (recv) {
    op = core.acquire(OP_KINDS.recvMultishot, undefined);
    t[0] = OPCODES.RECV | (SQE_BUFFER_SELECT << 8) | (RECV_MULTISHOT << 16);
  } else if (oneShot) {
    op = core.acquire(OP_KINDS.readSelect, undefined);
    t[0] = OPCODES.READ | (SQE_BUFFER_SELECT << 8);
    t[2] = -1; // the file position
    t[3] = -1;
    t[6] = g.bufferSize;
  } else {
    op = core.acquire(OP_KINDS.readMultishot, undefined);
    t[0] = OPCODES.READ_MULTISHOT | (SQE_BUFFER_SELECT << 8);
  }
  t[1] = fd;
  t[7] = recv ? flags : 0;
  t[10] = g.bgid;
  core.multishot(op, listener);
  return op;
}

/**
 * recvEach / readEach: a multishot recv (or read) on the buffer pool; each
 * chunk is copied once out of its pool buffer, which goes straight back to
 * the kernel. ENOBUFS and an early end are restarts; 0 is EOF.
 */
export class RecvIterator extends MultishotIterator<Buffer> {
  readonly #fd: number;
  readonly #flags: number;
  readonly #read: boolean;
  /** readEach on a file that cannot be polled: one buffer-select read at a time. */
  #oneShot = false;
  readonly #g: BufferGroup;

  constructor(core: Core, fd: number, flags: number, read: boolean) {
    super(core);
    this.#fd = fd;
    this.#flags = flags;
    this.#read = read;
    this.#g = core.pool;
    this.#oneShot = oneShotOnly(fd);
  }

  protected start(): Op {
    return startPoolRead(this.core, this.#g, this.#fd, !this.#read, this.#oneShot, this.#flags, this);
  }


  protected item(res: number, flags: number): Buffer | undefined {
    if ((flags & F_BUFFER) === 0) return undefined;
    return copyOut(this.#g, res, flags);
  }

  /**
   * Bytes received but not handed to the loop (it broke out, or was
   * cancelled, while they were queued or in flight) are kept for the next
   * reader of this fd, so no byte is lost.
   */
  protected override discard(chunk: Buffer): void {
    stashLeftover(this.core, this.#fd, chunk);
  }

  protected override leftover(): Buffer | undefined {
    return takeLeftover(this.core, this.#fd);
  }

  protected override finalItem(res: number, flags: number): Buffer | undefined {
    if ((flags & F_BUFFER) === 0) return undefined;
    if (res === 0) {
      copyOut(this.#g, 0, flags);
      return undefined;
    }
    return copyOut(this.#g, res, flags);
  }

  protected override restartOn(res: number): boolean | 'later' {
    if (res > 0) return true; // ended early (or a one-shot read): go on
    if (res === -ENOBUFS) {
      this.#g.starved(() => this.restartNow());
      return 'later';
    }
    // READ_MULTISHOT needs a pollable file: on a regular file, read one
    // buffer at a time instead.
    if (this.#read && !this.#oneShot && (res === -EBADFD || res === -EINVAL) && this.started) {
      this.#oneShot = true;
      return true;
    }
    return false;
  }

  protected error(res: number): unknown {
    return new UMError(res, this.#read ? 'read' : 'recv');
  }
}

export function recvEach(core: Core, fd: number, flags: number): AsyncIterableIterator<Buffer> {
  validateFd(fd);
  validateInt32(flags, 'flags');
  requireOp(core, OP_KINDS.recvMultishot, 'recvEach (multishot recv with provided buffers) needs');
  return new RecvIterator(core, fd, flags, false);
}

export function readEach(core: Core, fd: number): AsyncIterableIterator<Buffer> {
  validateFd(fd);
  requireOp(core, OP_KINDS.readMultishot, 'readEach (multishot read) needs');
  return new RecvIterator(core, fd, 0, true);
}

/**
 * accept(2) errors that are about one connection, not the listener: the
 * connection is gone, accept again at once. Linux passes a new socket's
 * pending network errors to accept ("treat them like EAGAIN by retrying",
 * accept(2) NOTES): ECONNABORTED, EPROTO, ENOPROTOOPT, ENETDOWN, ENONET,
 * EHOSTDOWN, EHOSTUNREACH, ENETUNREACH; EINTR too.
 */
const ACCEPT_RETRY = new Set([103, 71, 92, 100, 64, 112, 113, 101, 4]);
/**
 * Out of descriptors or memory (EMFILE, ENFILE, ENOBUFS, ENOMEM): the
 * connection stays in the listen backlog; accepting again at once would
 * fail again. Wait on the ring, then retry, as nginx does (it stops
 * accepting for accept_mutex_delay, 500 ms, on EMFILE/ENFILE).
 */
const ACCEPT_BACKOFF = new Set([24, 23, 105, 12]);
/** Backoff after a resource error: 10 ms, doubling up to 500 ms, reset by a successful accept. */
const BACKOFF_FIRST_MS = 10;
const BACKOFF_MAX_MS = 500;
/** Consecutive per-connection errors retried at once before backing off too (no hot loop). */
const RETRY_BURST = 16;

/**
 * acceptEach: one multishot accept; fds not handed to the loop body are
 * closed. Resource errors (EMFILE...) and per-connection errors
 * (ECONNABORTED...) do not end the loop: the first sleep on a timeout op of
 * the ring, then accept again; the second accept again at once. The sleep
 * is the iterator's op meanwhile, so break, return and cancellation stop it
 * like the accept.
 */
class AcceptIterator extends MultishotIterator<number> {
  readonly #fd: number;
  /** >0: the next start() sleeps that long instead of accepting. */
  #sleepNext = 0;
  /** The op in flight is a backoff sleep, not the accept. */
  #sleeping = false;
  #delay = 0;
  #retries = 0;
  constructor(core: Core, fd: number) {
    super(core);
    this.#fd = fd;
  }
  protected start(): Op {
    const core = this.core;
    const t = core.tmpl;
    if (this.#sleepNext > 0) {
      const op = core.acquire(OP_KINDS.timeout, undefined);
      const ts = op.timespec(this.#sleepNext);
      t[0] = OPCODES.TIMEOUT;
      t[1] = -1;
      t[6] = 1;
      op.pin0 = ts;
      this.#sleepNext = 0;
      this.#sleeping = true;
      core.multishot(op, this, ts);
      return op;
    }
    this.#sleeping = false;
    const op = core.acquire(OP_KINDS.acceptMultishot, undefined);
    t[0] = OPCODES.ACCEPT | (ACCEPT_MULTISHOT << 16);
    t[1] = this.#fd;
    t[7] = SOCK_CLOEXEC;
    core.multishot(op, this);
    return op;
  }
  protected item(res: number): number | undefined {
    if (this.#sleeping) return undefined;
    this.#delay = 0;
    this.#retries = 0;
    return res;
  }
  protected override finalItem(res: number): number | undefined {
    return res >= 0 && !this.#sleeping ? this.item(res) : undefined;
  }
  protected override restartOn(res: number): boolean {
    if (this.#sleeping) return true; // slept (ETIME): accept again
    // The kernel ends a multishot accept on its own only in corner cases
    // (e.g. CQ overflow), delivering the last fd in the final CQE.
    if (res >= 0) return true;
    if (ACCEPT_RETRY.has(-res) && ++this.#retries <= RETRY_BURST) return true;
    if (ACCEPT_BACKOFF.has(-res) || ACCEPT_RETRY.has(-res)) {
      this.#retries = 0;
      this.#delay = this.#delay === 0 ? BACKOFF_FIRST_MS : Math.min(BACKOFF_MAX_MS, this.#delay * 2);
      this.#sleepNext = this.#delay;
      return true;
    }
    return false;
  }
  /**
   * A connection accepted but not handed to the loop (it broke out,
   * returned, or was cancelled while the fd was queued or in the op's final
   * CQE) is kept open for the next accept on the listener: the client is
   * not hung up on.
   */
  protected override discard(fd: number): void {
    stashFd(this.core, this.#fd, fd);
  }
  protected override salvage(res: number, _flags: number, _cancelError: unknown): void {
    // The core leaves a multishot op's fd to its listener (Core.#complete);
    // one it closed itself (the machine closing) arrives as -ECANCELED.
    if (res >= 0 && !this.#sleeping) stashFd(this.core, this.#fd, res);
  }
  protected override leftover(): number | undefined {
    return takeFd(this.core, this.#fd);
  }
  protected error(res: number): unknown {
    return new UMError(res, 'accept');
  }
}

export function acceptEach(core: Core, fd: number): AsyncIterableIterator<number> {
  validateFd(fd);
  requireOp(core, OP_KINDS.acceptMultishot, 'acceptEach (multishot accept) needs');
  return new AcceptIterator(core, fd);
}

/** pollEach: a multishot poll; each item is the revents mask. */
class PollIterator extends MultishotIterator<number> {
  readonly #fd: number;
  readonly #mask: number;
  constructor(core: Core, fd: number, mask: number) {
    super(core);
    this.#fd = fd;
    this.#mask = mask;
  }
  protected start(): Op {
    const core = this.core;
    const op = core.acquire(OP_KINDS.pollMultishot, undefined);
    const t = core.tmpl;
    t[0] = OPCODES.POLL_ADD;
    t[1] = this.#fd;
    t[6] = POLL_ADD_MULTI;
    t[7] = this.#mask;
    core.multishot(op, this);
    return op;
  }
  protected item(res: number): number {
    return res;
  }
  protected override finalItem(res: number): number | undefined {
    return res > 0 ? res : undefined;
  }
  protected override restartOn(res: number): boolean {
    return res > 0; // ended early with one last event: poll on
  }
  protected error(res: number): unknown {
    return new UMError(res, 'poll');
  }
}

export function pollEach(core: Core, fd: number, mask: number): AsyncIterableIterator<number> {
  validateFd(fd);
  validateInt32(mask, 'mask', 0, 0xffff);
  return new PollIterator(core, fd, mask);
}

export async function poll(core: Core, fd: number, mask: number): Promise<number> {
  validateFd(fd);
  validateInt32(mask, 'mask', 0, 0xffff);
  const scope = core.enterScope();
  const op = core.acquire(OP_KINDS.pollOnce, scope);
  const t = core.tmpl;
  t[0] = OPCODES.POLL_ADD;
  t[1] = fd;
  t[7] = mask;
  return core.promise(op);
}

function validateFdList(v: unknown, name: string): number[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw argTypeError(name, 'an array of fds', v);
  for (const fd of v) validateFd(fd, `${name}[]`);
  return v as number[];
}

/**
 * select(rfds, wfds, efds): a one-shot poll per fd (POLLIN, POLLOUT,
 * POLLPRI); at the first completion the others are cancelled, and every fd
 * whose poll completed before its cancel took effect is reported ready.
 */
export async function selectFds(core: Core, r: unknown, w: unknown, e: unknown): Promise<[number[], number[], number[]]> {
  const rfds = validateFdList(r, 'rfds');
  const wfds = validateFdList(w, 'wfds');
  const efds = validateFdList(e, 'efds');
  const out: [number[], number[], number[]] = [[], [], []];
  const n = rfds.length + wfds.length + efds.length;
  if (n === 0) return out;
  const scope = core.enterScope();
  const ops: Op[] = [];
  const gens: number[] = [];
  const fds: number[] = [];
  const sets: number[] = [];
  const done: boolean[] = [];
  let first!: () => void;
  const firstDone = new Promise<void>((res) => (first = res));
  let left = n;
  let allDone!: () => void;
  const all = new Promise<void>((res) => (allDone = res));
  let cancelError: unknown = NONE;
  const submitOne = (fd: number, mask: number, set: number): void => {
    const i = ops.length;
    const listener: MultishotListener = {
      shot: () => {},
      final: (res, _flags, cerr) => {
        done[i] = true;
        if (res > 0 && cerr === NONE) out[set]!.push(fd);
        else if (cerr !== NONE && cancelError === NONE) cancelError = cerr;
        else if (res < 0 && res !== -125 && cancelError === NONE) cancelError = new UMError(res, 'poll');
        first();
        if (--left === 0) allDone();
      },
    };
    const op = core.acquire(OP_KINDS.pollOnce, scope);
    const t = core.tmpl;
    t[0] = OPCODES.POLL_ADD;
    t[1] = fd;
    t[7] = mask;
    ops.push(op);
    gens.push(op.gen);
    fds.push(fd);
    sets.push(set);
    done.push(false);
    core.multishot(op, listener);
  };
  try {
    for (const fd of rfds) submitOne(fd, POLLIN, 0);
    for (const fd of wfds) submitOne(fd, POLLOUT, 1);
    for (const fd of efds) submitOne(fd, POLLPRI, 2);
  } catch (err) {
    left -= n - ops.length;
    for (let i = 0; i < ops.length; i++) if (!done[i] && ops[i]!.gen === gens[i]) core.cancelOp(ops[i]!, NONE);
    if (left === 0) allDone();
    await all;
    throw err;
  }
  await firstDone;
  for (let i = 0; i < ops.length; i++) if (!done[i] && ops[i]!.gen === gens[i]) core.cancelOp(ops[i]!, NONE);
  await all;
  if (out[0].length + out[1].length + out[2].length === 0 && cancelError !== NONE) throw cancelError;
  return out;
}

/** acceptIntoQueue(fd, push): each accepted fd is pushed; runs until cancelled or an error. */
export async function acceptIntoQueue(core: Core, fd: number, push: (fd: number) => unknown): Promise<void> {
  for await (const c of acceptEach(core, fd)) {
    try {
      await push(c);
    } catch (e) {
      // Not pushed (a full queue's push was cancelled, or the queue closed):
      // the connection stays open for the next accept on the listener.
      stashFd(core, fd, c);
      throw e;
    }
  }
}

/**
 * recvBundle: one recv that may fill several plain pool buffers (Linux >=
 * 6.10); each buffer's bytes come back as one Buffer, in order. [] at EOF.
 */
export async function recvBundle(core: Core, fd: number, flags: number): Promise<Buffer[]> {
  validateFd(fd);
  validateInt32(flags, 'flags');
  requireOp(core, OP_KINDS.recvBundle, 'bundled send/recv need');
  const g = core.bundlePool;
  for (;;) {
    const scope = core.enterScope();
    const op = core.acquire(OP_KINDS.recvBundle, scope);
    const t = core.tmpl;
    t[0] = OPCODES.RECV | (SQE_BUFFER_SELECT << 8) | (RECVSEND_BUNDLE << 16);
    t[1] = fd;
    t[7] = flags;
    t[10] = g.bgid;
    op.map = bundleMap;
    op.pin0 = g;
    try {
      return (await core.promise(op)) as Buffer[];
    } catch (e) {
      if (!(e instanceof UMError) || e.errno !== ENOBUFS) throw e;
      await new Promise<void>((res) => g.starved(res));
    }
  }
}

const bids: number[] = [];
function bundleMap(res: number, op: Op): Buffer[] {
  const g = op.pin0 as BufferGroup;
  const flags = op.cflags;
  const out: Buffer[] = [];
  if (res <= 0 || (flags & F_BUFFER) === 0) return out;
  bids.length = 0;
  g.takeBundle(res, flags, bids);
  let left = res;
  for (const bid of bids) {
    const n = Math.min(left, g.bufferSize);
    const b = Buffer.allocUnsafe(n);
    g.views[bid]!.copy(b, 0, 0, n);
    out.push(b);
    left -= n;
  }
  for (const bid of bids) g.recycle(bid);
  return out;
}


/**
 * Send rings: a provided-buffer ring per sendBundle in flight, holding the
 * caller's buffers (pinned by the op). A ring whose send completed whole is
 * empty again and is reused; after a short send or an error it may hold
 * entries the kernel skipped, so it is unregistered instead.
 */
class SendRing {
  readonly bgid: number;
  readonly entries: number;
  readonly u32: Uint32Array;
  readonly u16: Uint16Array;
  tail = 0;
  constructor(bgid: number, entries: number, ab: ArrayBuffer) {
    this.bgid = bgid;
    this.entries = entries;
    this.u32 = new Uint32Array(ab);
    this.u16 = new Uint16Array(ab);
  }
}
const SEND_RING_ENTRIES = 256;
const sendRings = new WeakMap<Core, { free: SendRing[]; next: number }>();

function takeSendRing(core: Core): SendRing {
  let s = sendRings.get(core);
  if (s === undefined) sendRings.set(core, (s = { free: [], next: 16 }));
  const r = s.free.pop();
  if (r !== undefined) return r;
  const bgid = s.next++;
  return new SendRing(bgid, SEND_RING_ENTRIES, core.ring.bufRing(bgid, SEND_RING_ENTRIES, 0));
}

/**
 * sendBundle(fd, bufs): one bundled send of all `bufs` (Linux >= 6.10),
 * repeated for what a short send left; resolves the total bytes sent.
 */
export async function sendBundle(core: Core, fd: number, bufs: unknown): Promise<number> {
  validateFd(fd);
  const parts = toBytesList(bufs);
  requireOp(core, OP_KINDS.sendBundle, 'bundled send/recv need');
  let total = 0;
  let idx = 0;
  let skip = 0;
  while (idx < parts.length) {
    // Cancelled after a short send: report it (see shortOnCancel).
    if (total > 0 && als.getStore()?.interrupted === true) return total;
    const scope = core.enterScope();
    const ring = takeSendRing(core);
    // Fill the ring with what is left (up to its size), from byte `skip` of parts[idx].
    const pinned: Uint8Array[] = [];
    let batch = 0;
    let i = idx;
    let off = skip;
    while (i < parts.length && pinned.length < ring.entries) {
      const p = parts[i]!;
      // A ring entry's len is a u32: a part of 4 GiB or more would wrap.
      // Place at most MAX_RW_COUNT of it and end the batch there; the rest
      // goes in the next one.
      const whole = p.length - off;
      const len = rwLength(whole);
      if (len > 0) {
        const view = off === 0 ? p : p.subarray(off);
        const addr = addressOf(view);
        const pos = ring.tail & (ring.entries - 1);
        ring.u32[pos * 4] = addr % 4294967296;
        ring.u32[pos * 4 + 1] = Math.floor(addr / 4294967296);
        ring.u32[pos * 4 + 2] = len;
        ring.u16[pos * 8 + 6] = pinned.length;
        ring.tail = (ring.tail + 1) & 0xffff;
        pinned.push(view);
        batch += len;
        if (len < whole) break;
      }
      i++;
      off = 0;
    }
    if (batch === 0) break;
    Atomics.store(ring.u16, 7, ring.tail);
    const op = core.acquire(OP_KINDS.sendBundle, scope);
    const t = core.tmpl;
    t[0] = OPCODES.SEND | (SQE_BUFFER_SELECT << 8) | (RECVSEND_BUNDLE << 16);
    t[1] = fd;
    t[7] = MSG_NOSIGNAL;
    t[10] = ring.bgid;
    op.pin0 = pinned;
    op.pin1 = ring;
    let n: number;
    try {
      n = (await core.promise(op)) as number;
    } catch (e) {
      core.ring.bufRingFree(ring.bgid);
      if (shortOnCancel(scope, e, total)) return total;
      throw e;
    }
    if (n === batch) sendRings.get(core)?.free.push(ring);
    else core.ring.bufRingFree(ring.bgid);
    total += n;
    // Advance (idx, skip) by n bytes.
    let left = n + skip;
    skip = 0;
    while (idx < parts.length && left >= parts[idx]!.length) {
      left -= parts[idx]!.length;
      idx++;
    }
    skip = left;
    if (n === 0) break;
  }
  return total;
}
