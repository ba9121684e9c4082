/**
 * The only importer of the native addon: loads `build/Release/um.node` and
 * gives it types. Everything else talks to the kernel through this module.
 * @internal
 */
import { createRequire } from 'node:module';
import { resolve } from 'node:path';

/** The ring as the binding exposes it: see native/js_machine.c. */
export interface NativeRing {
  map(): RingMap;
  flush(tail: number, getevents: boolean): number;
  wait(tail: number, min: number, timeoutMs: number): number;
  submit(tail: number): number;
  /** Withdraw the SQEs past `tail` (the kernel's head) after a failed enter; -EINVAL with SQPOLL. */
  rewind(tail: number): number;
  setActive(on: boolean): void;
  wakeup(): void;
  probe(): Uint8Array;
  info(): RingInfo;
  close(): void;
  /** Register a provided-buffer ring (bgid, entries, IOU_PBUF_RING_* flags): its entries. */
  bufRing(bgid: number, entries: number, flags: number): ArrayBuffer;
  /** Unregister a buffer ring and free its memory; 0 or -errno. */
  bufRingFree(bgid: number): number;
  /** IORING_REGISTER_BUFFERS of n iovecs (u64 base, u64 len each); 0 or -errno. */
  registerBuffers(iovecs: Int32Array, n: number): number;
  /** IORING_UNREGISTER_BUFFERS; 0 or -errno. */
  unregisterBuffers(): number;
  /** IORING_REGISTER_FILES2 with RSRC_REGISTER_SPARSE: n empty direct-descriptor slots; 0 or -errno. */
  registerFilesSparse(n: number): number;
  /** Anonymous memory for pool buffers, freed by the ring at close. */
  bufAlloc(size: number): ArrayBuffer;
}

/** The SQE array and SQ ring header, mapped for JS (detached on close). */
export interface RingMap {
  sqes: ArrayBuffer;
  sqRing: ArrayBuffer;
  sqHead: number;
  sqFlags: number;
  cqFlags: number;
  cqHead: number;
  cqTail: number;
  sqMask: number;
  sqEntries: number;
  tail: number;
}

export interface RingInfo {
  fd: number;
  eventFd: number;
  sqEntries: number;
  cqEntries: number;
  setupFlags: number;
  features: number;
  cqOverflow: number;
}

export interface NativeAddon {
  Ring: new (
    entries: number,
    sqpollIdleMs: number,
    template: Int32Array,
    cqes: Int32Array,
    wake: () => void,
  ) => NativeRing;
  pipe(): [number, number] | number;
  socketpair(domain: number, type: number, protocol: number): [number, number] | number;
  kernelVersion(): number;
  pidfdOpen(pid: number): number;
  pidfdSendSignal(pidfd: number, sig: number): number;
  ioNonblock(fd: number): number;
  setNonblock(fd: number, on: boolean): number;
  closeSync(fd: number): number;
  socketDomain(fd: number): number;
  addressOf(view: ArrayBufferView): number;
  // ---- Sockets (issue 3): plain-syscall fallbacks, 0 or -errno ----
  bindSync(fd: number, sockaddr: Uint8Array, addrlen: number): number;
  /** inotify_init1(IN_NONBLOCK | IN_CLOEXEC): fd or -errno. */
  inotifyInit(): number;
  /** inotify_add_watch(fd, path, mask), path NUL-terminated: wd or -errno. */
  inotifyAddWatch(fd: number, path: Uint8Array, mask: number): number;
  listenSync(fd: number, backlog: number): number;
  getsockoptSync(fd: number, level: number, opt: number, out: Int32Array): number;
  setsockoptSync(fd: number, level: number, opt: number, value: number): number;
  // ---- end (issue 3) ----
  /** getpeername(2) (peer) or getsockname(2) into out: the length, or -errno (issue 10). */
  sockName(fd: number, peer: boolean, out: Uint8Array): number;
  constants: Record<string, number>;
  layout: Record<string, number>;
}

const require = createRequire(import.meta.url);

function load(): NativeAddon {
  // UM_ADDON: an alternative build, e.g. the AddressSanitizer one of
  // scripts/test-native.sh. A relative path is taken from the current
  // directory (require() alone would treat `build-asan/um.node` as a package).
  if (process.env.UM_ADDON) return require(resolve(process.env.UM_ADDON)) as NativeAddon;
  const candidates = ['../build/Release/um.node', '../build/Debug/um.node'];
  let lastError: unknown;
  for (const path of candidates) {
    try {
      return require(path) as NativeAddon;
    } catch (e) {
      lastError = e;
      if ((e as NodeJS.ErrnoException).code !== 'MODULE_NOT_FOUND') throw e;
    }
  }
  throw Object.assign(
    new Error(
      'uringmachine: the native addon is not built (build/Release/um.node). ' +
        'Run `npm install` (or `npm run build:native`) in the package folder.',
      { cause: lastError },
    ),
    { code: 'ERR_UM_NO_ADDON' },
  );
}

export const native: NativeAddon = load();
