/**
 * Registered (fixed) buffers (issue 15): IORING_REGISTER_BUFFERS through
 * the native Ring (io_uring_register(2) in native/ring.c), and
 * IORING_OP_READ_FIXED / WRITE_FIXED (io_uring_prep_read_fixed(3), Linux
 * 5.1) on them. The kernel pins the registered pages once, instead of
 * looking them up and pinning them on every op.
 *
 * The lifetime rule, enforced:
 * - the machine holds every registered buffer (strong references) until
 *   `unregisterBuffers()` or `close()`, so it cannot be collected while the
 *   kernel has its pages pinned;
 * - each buffer's ArrayBuffer is marked untransferable
 *   (`worker_threads.markAsUntransferable`, permanent), so `postMessage`,
 *   `structuredClone` and `ArrayBuffer#transfer` cannot detach it (on Node
 *   20 a transfer list then copies instead);
 * - `unregisterBuffers()` rejects (`ERR_UM_BUFFERS_IN_USE`) while a fixed op
 *   is in flight, and a fixed op on a table that is not registered rejects
 *   before anything is submitted.
 * Internal module (not exported by the package).
 */
import { markAsUntransferable } from 'node:worker_threads';

import { fillIovecs, type Core } from './core.js';
import { MachineClosedError, UMError } from './errors.js';
import { OP_KINDS, OPCODES } from './op-kinds.js';
import { begin, requireOp, rwLength, setU64 } from './prep.js';
import { argTypeError, codedError, rangeError, validateBuffer, validateFd, validateInteger } from './validate.js';

/** IORING_MAX_REG_BUFFERS and the per-buffer limit (SZ_1G), io_uring/rsrc.c. */
const MAX_BUFFERS = 1 << 14;
const MAX_BUFFER_BYTES = 1 << 30;

interface FixedState {
  bufs: readonly Uint8Array[] | null;
  /** Fixed ops whose final CQE has not been reaped. */
  inFlight: number;
}

const states = new WeakMap<Core, FixedState>();

function state(core: Core): FixedState {
  let s = states.get(core);
  if (s === undefined) {
    s = { bufs: null, inFlight: 0 };
    states.set(core, s);
  }
  return s;
}

/** The number of buffers registered (0: none). */
export function registeredCount(core: Core): number {
  return states.get(core)?.bufs?.length ?? 0;
}

export async function registerBuffers(core: Core, bufs: unknown): Promise<void> {
  if (!Array.isArray(bufs)) throw argTypeError('bufs', 'an array of Uint8Array', bufs);
  if (bufs.length === 0 || bufs.length > MAX_BUFFERS) throw rangeError('bufs.length', `>= 1 and <= ${MAX_BUFFERS}`, bufs.length);
  for (let i = 0; i < bufs.length; i++) {
    const b: unknown = bufs[i];
    validateBuffer(b, `bufs[${i}]`);
    if (b.length === 0 || b.length > MAX_BUFFER_BYTES) throw rangeError(`bufs[${i}].length`, `>= 1 and <= ${MAX_BUFFER_BYTES}`, b.length);
  }
  if (core.closed) throw new MachineClosedError();
  core.enterScope();
  const s = state(core);
  if (s.bufs !== null) throw new UMError(-16, 'io_uring_register', 'buffers already registered: unregisterBuffers() first');
  const list = (bufs as Uint8Array[]).slice();
  const iov = new Int32Array(4 * list.length);
  // fillIovecs takes each buffer's address (moving an on-heap typed array
  // off-heap for good: the address stays valid while it is referenced).
  fillIovecs(iov, list, 0, list.length);
  const ret = core.ring.registerBuffers(iov, list.length);
  if (ret < 0) throw new UMError(ret, 'io_uring_register');
  for (const b of list) markAsUntransferable(b.buffer);
  s.bufs = list;
}

export async function unregisterBuffers(core: Core): Promise<void> {
  if (core.closed) throw new MachineClosedError();
  const s = state(core);
  if (s.bufs === null) return;
  if (s.inFlight > 0) {
    throw codedError(Error, 'ERR_UM_BUFFERS_IN_USE', `${s.inFlight} fixed-buffer op(s) in flight: the registered buffers cannot be unregistered before they complete`);
  }
  const ret = core.ring.unregisterBuffers();
  if (ret < 0) throw new UMError(ret, 'io_uring_register');
  s.bufs = null;
}

/** Drop the table without a syscall: the ring is closed (its teardown unpins the pages). */
export function forget(core: Core): void {
  states.delete(core);
}

/**
 * Registered buffer `index` and the byte count of an op on it: `len` bytes
 * (default: the rest of the buffer) from `bufOffset`, checked against the
 * table before anything is submitted. `what` names the call in the error
 * for an unregistered table.
 */
export function fixedSlice(core: Core, what: string, index: number, len: number | undefined, bufOffset: number): { buf: Uint8Array; n: number } {
  const s = state(core);
  validateInteger(index, 'index', 0);
  if (s.bufs === null) throw codedError(Error, 'ERR_UM_NO_BUFFERS', `${what}(): no buffers are registered (m.registerBuffers())`);
  if (index >= s.bufs.length) throw rangeError('index', `< ${s.bufs.length} (registered buffers)`, index);
  const buf = s.bufs[index]!;
  validateInteger(bufOffset, 'bufOffset', 0, buf.length);
  let n = buf.length - bufOffset;
  if (len !== undefined) {
    validateInteger(len, 'len', 0, n);
    n = len;
  }
  return { buf, n };
}

/**
 * Count a fixed op as in flight (unregisterBuffers refuses meanwhile) until
 * the returned function is called, at the op's final CQE: for a zero-copy
 * send that is the notification, not the first CQE.
 */
export function hold(core: Core): () => void {
  const s = state(core);
  s.inFlight++;
  let held = true;
  return () => {
    if (!held) return;
    held = false;
    s.inFlight--;
  };
}

/**
 * READ_FIXED / WRITE_FIXED on registered buffer `index`: fd, off =
 * fileOffset (-1: current position), addr = the buffer's address +
 * bufOffset, len, buf_index = index.
 */
export function rwFixed(core: Core, write: boolean, fd: number, index: number, len: number | undefined, bufOffset: number, fileOffset: number): Promise<number> {
  try {
    validateFd(fd);
    const { buf, n } = fixedSlice(core, write ? 'writeFixed' : 'readFixed', index, len, bufOffset);
    validateInteger(fileOffset, 'fileOffset', -1);
    const kind = write ? OP_KINDS.writeFixed : OP_KINDS.readFixed;
    requireOp(core, kind);
    const op = begin(core, kind);
    const t = core.tmpl;
    t[0] = write ? OPCODES.WRITE_FIXED : OPCODES.READ_FIXED;
    t[1] = fd;
    setU64(t, 2, fileOffset);
    setU64(t, 4, bufOffset); // an offset into buf: the core adds its address
    t[6] = rwLength(n);
    t[10] = index; // buf_index (u16 at byte 40)
    op.pin0 = buf;
    const p = core.promise(op, buf);
    const done = hold(core);
    p.then(done, done);
    return p;
  } catch (e) {
    return Promise.reject(e);
  }
}
