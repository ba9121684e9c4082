/**
 * Whether io_uring works on this system, and why not: the constructor's
 * set-up (kernel floor, io_uring_setup / register / enter) with its error
 * diagnosis, shared by `new UringMachine()` (throws) and
 * `UringMachine.probe()` (reports).
 * Internal module (not exported by the package).
 */
import { readFileSync } from 'node:fs';
import { release } from 'node:os';
import { Core, type CoreOptions } from './core.js';
import { UMError } from './errors.js';
import { OP_KINDS, type OpKind } from './op-kinds.js';
import { KERNEL_VERSION } from './prep.js';
import { validatePoolOptions } from './buffer-pool.js';

const MIN_KERNEL = 601;

/** What this kernel's io_uring can do, as the features of the API that depend on it. */
export interface ProbeFeatures {
  /** Multishot timeouts: `periodically`, `interval`, `prepTimeoutMultishot` (Linux 6.4). */
  multishotTimeout: boolean;
  /** Multishot read on pipes/ttys for `readEach` and streams (6.7; else one-shot reads). */
  multishotRead: boolean;
  /** Futex ops: `SharedMutex`, `SharedQueue` (6.7). */
  futex: boolean;
  /** `waitid` (6.7). */
  waitid: boolean;
  /** `getsockopt`/`setsockopt` as ring ops (6.7). */
  sockopt: boolean;
  /** Bind and listen as ring ops (6.11; else plain syscalls, same API). */
  bindListen: boolean;
  /** Bundles: `recvBundle`, `sendBundle` (6.10). */
  bundles: boolean;
  /** Incremental buffer consumption for the buffer pool (6.12; else smaller buffers). */
  incrementalBuffers: boolean;
}

/** The result of {@link UringMachine.probe}. */
export interface ProbeResult {
  /** True when `new UringMachine()` works here. */
  ok: boolean;
  /** Why not: the message the constructor would throw (cause and fix); null when ok. */
  reason: string | null;
  /** The errno code of the refused syscall (e.g. 'EPERM'); null when ok. */
  code: string | null;
  /** The refused syscall (io_uring_setup, io_uring_register, io_uring_enter); null when ok. */
  syscall: string | null;
  /** The kernel release (uname -r). */
  kernel: string;
  /** What the kernel supports; all false when not ok. */
  features: ProbeFeatures;
}

/** A file's first line, or null where it cannot be read. */
function readLine(path: string): string | null {
  try {
    return readFileSync(path, 'utf8').split('\n')[0]!.trim();
  } catch {
    return null;
  }
}

/** The Seccomp mode of this process (0 none, 1 strict, 2 filter) from /proc/self/status, or -1. */
function seccompMode(): number {
  try {
    const m = /^Seccomp:\s*(\d+)/m.exec(readFileSync('/proc/self/status', 'utf8'));
    return m ? Number(m[1]) : -1;
  } catch {
    return -1;
  }
}

const SECCOMP_FIX =
  'Fix: allow io_uring_setup, io_uring_enter and io_uring_register in the seccomp profile ' +
  '(Docker >= 25 and containerd 2 deny them by default: see the README, "io_uring in containers").';

/**
 * The constructor's error: the native error of io_uring_setup, or of the
 * first io_uring_register / io_uring_enter (a seccomp policy may allow setup
 * and deny the others), with the actual cause read from the system: the
 * kernel.io_uring_disabled sysctl, and this process's seccomp mode.
 */
export function setupError(e: unknown): Error {
  const errno = (e as { errno?: number }).errno;
  if (typeof errno !== 'number') return e as Error;
  const syscall = (e as { syscall?: string }).syscall ?? 'io_uring_setup';
  const err = new UMError(-errno, syscall);
  (err as { message: string }).message = `${err.message}: ${whySetupFailed(errno, syscall)}`;
  return err;
}

/** Why io_uring setup failed with errno in syscall: the cause read from the system, and the fix. */
function whySetupFailed(errno: number, syscall: string): string {
  const sysctl = readLine('/proc/sys/kernel/io_uring_disabled');
  const group = readLine('/proc/sys/kernel/io_uring_group');
  const seccomp = seccompMode();
  const filtered = seccomp === 2 ? ' This process runs under a seccomp filter (Seccomp: 2 in /proc/self/status).' : '';
  let why: string;
  if (syscall !== 'io_uring_setup' && (errno === 1 || errno === 38 || errno === 13)) {
    why =
      `io_uring_setup worked but ${syscall} is denied: a seccomp policy filters it` +
      `${seccomp === 2 ? ' (this process runs under a seccomp filter, Seccomp: 2 in /proc/self/status)' : ''}. ${SECCOMP_FIX}`;
  } else if (errno === 1 || errno === 13) {
    // EPERM: the sysctl (2, or 1 for a user outside io_uring_group) or seccomp.
    if (sysctl === '2') {
      why = 'io_uring is disabled on this system: the sysctl kernel.io_uring_disabled is 2. Fix: `sysctl -w kernel.io_uring_disabled=0`.';
    } else if (sysctl === '1' && process.getuid?.() !== 0) {
      why =
        `io_uring is restricted on this system: kernel.io_uring_disabled is 1 and this user is not in kernel.io_uring_group (${group ?? '?'}).` +
        ' Fix: add the user to that group, or `sysctl -w kernel.io_uring_disabled=0`.';
    } else if (seccomp === 2) {
      why = `a seccomp policy denies io_uring_setup (the sysctl kernel.io_uring_disabled is ${sysctl ?? 'unreadable'}).${filtered} ${SECCOMP_FIX}`;
    } else {
      why = `io_uring_setup was refused (kernel.io_uring_disabled is ${sysctl ?? 'unreadable'}, no seccomp filter seen): check the security modules (SELinux, AppArmor) and the container runtime.`;
    }
  } else if (errno === 38) {
    why =
      seccomp === 2
        ? `io_uring_setup is filtered by a seccomp policy (ENOSYS).${filtered} ${SECCOMP_FIX}`
        : 'the kernel has no io_uring (CONFIG_IO_URING off). Fix: run on Linux >= 6.1 with io_uring enabled.';
  } else if (errno === 12) {
    why = 'the kernel could not allocate the ring (locked-memory limit). Fix: use a smaller `entries`, or raise RLIMIT_MEMLOCK (`ulimit -l`).';
  } else if (errno === 22 && syscall === 'io_uring_setup') {
    why = 'the kernel rejected every setup flag set we know: it is older than Linux 5.19. Fix: run on Linux >= 6.1.';
  } else {
    why = `${syscall} failed.`;
  }
  return why;
}


/** Set up the engine, or throw the UMError that names the cause and the fix. */
export function createCore(opts: CoreOptions): Core {
  const kv = KERNEL_VERSION;
  if (kv > 0 && kv < MIN_KERNEL) {
    const err = new UMError(-38, 'io_uring_setup');
    (err as { message: string }).message =
      `${err.message}: uringmachine needs Linux >= 6.1 (this is ${Math.floor(kv / 100)}.${kv % 100}). Fix: upgrade the kernel.`;
    throw err;
  }
  try {
    return new Core(opts);
  } catch (e) {
    throw setupError(e);
  }
}

const NO_FEATURES: ProbeFeatures = Object.freeze({
  multishotTimeout: false,
  multishotRead: false,
  futex: false,
  waitid: false,
  sockopt: false,
  bindListen: false,
  bundles: false,
  incrementalBuffers: false,
});

/** UringMachine.probe(): a small ring set up and released; never throws. */
export function probe(): ProbeResult {
  const kernel = release();
  let core: Core;
  try {
    core = createCore({ entries: 8, sqpollIdleMs: -1, maxSwitches: { kind: 'fixed', limit: 64 }, bufferPool: validatePoolOptions(undefined) });
  } catch (e) {
    const err = e as { message?: unknown; code?: unknown; syscall?: unknown };
    return {
      ok: false,
      reason: typeof err.message === 'string' ? err.message : String(e),
      code: typeof err.code === 'string' ? err.code : null,
      syscall: typeof err.syscall === 'string' ? err.syscall : null,
      kernel,
      features: { ...NO_FEATURES },
    };
  }
  try {
    const has = (k: OpKind): boolean => core.probe[k.opcode] === 1 && KERNEL_VERSION >= k.floor;
    return {
      ok: true,
      reason: null,
      code: null,
      syscall: null,
      kernel,
      features: {
        multishotTimeout: has(OP_KINDS.timeoutMultishot),
        multishotRead: has(OP_KINDS.readMultishot),
        futex: has(OP_KINDS.futexWait) && has(OP_KINDS.futexWake),
        waitid: has(OP_KINDS.waitid),
        sockopt: has(OP_KINDS.getsockopt),
        bindListen: has(OP_KINDS.bind) && has(OP_KINDS.listen),
        bundles: has(OP_KINDS.recvBundle),
        incrementalBuffers: KERNEL_VERSION >= 612,
      },
    };
  } finally {
    core.close();
  }
}
