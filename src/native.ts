/**
 * The only importer of the native addon: loads it with node-gyp-build (a
 * source build in build/, else the fitting prebuild in prebuilds/) and gives
 * it types. Everything else talks to the kernel through this module.
 * Internal module (not exported by the package).
 */
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

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
  /** Process-wide ring number, 1..2^24-1 (native/js_machine.c): names the ring in MSG_RING user_data. */
  serial: number;
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
  /** An ArrayBuffer over a 2 MiB-aligned MADV_HUGEPAGE mapping, unmapped when collected; null if none (issue 13). */
  hugeBuffer(size: number): ArrayBuffer | null;
  /** [mappings reused, mapped, unmapped, bytes kept for reuse now, buffers live, 1 if huge pages are asked for, frees deferred to the end of a teardown, mappings leaked] (issue 13). */
  hugeStats(): [number, number, number, number, number, number, number, number];
  /** Unmap what sat in the reuse pool since the last trim: the bytes still kept, -1 if none but buffers are live (issue 13). */
  hugeTrim(): number;
  // ---- TLS (issue 11): native/js_tls.c; handles are externals, statuses in native/um_tls.h ----
  tlsSupported(): string | null;
  tlsLive(): [number, number];
  tlsCtxNew(isServer: boolean): object | number;
  tlsCtxFree(ctx: object): number;
  tlsCtxCert(ctx: object, pem: Uint8Array): number;
  tlsCtxKey(ctx: object, pem: Uint8Array): number;
  tlsCtxCa(ctx: object, pem: Uint8Array): number;
  tlsCtxRoots(ctx: object, pem: Uint8Array): number;
  tlsCtxAlpn(ctx: object, wire: Uint8Array): number;
  tlsCtxVerify(ctx: object, verifyPeer: boolean, requirePeerCert: boolean): number;
  tlsCtxVersions(ctx: object, min: number, max: number): number;
  tlsCtxError(ctx: object): string | null;
  tlsNew(ctx: object, netIn: Uint8Array, netOut: Uint8Array, state: Int32Array): object | number;
  tlsFree(conn: object): number;
  tlsBuffers(conn: object, netIn: Uint8Array, netOut: Uint8Array): number;
  tlsHost(conn: object, sni: string | null, verifyName: string | null): number;
  tlsHandshake(conn: object): number;
  tlsRead(conn: object, dst: Uint8Array, off: number, len: number): number;
  tlsWrite(conn: object, src: Uint8Array, off: number, len: number): number;
  tlsShutdown(conn: object): number;
  tlsError(conn: object): { reason: string | null; verify: number; verifyText: string | null; verifyName: string | null };
  tlsInfo(conn: object): { version: string | null; cipher: string | null; servername: string | null; alpn: string | null; verify: number; verifyName: string | null };
  tlsPending(conn: object): number;
  // ---- end (issue 11) ----
  constants: Record<string, number>;
  layout: Record<string, number>;
}

const require = createRequire(import.meta.url);
const nodeGypBuild = require('node-gyp-build') as { resolve(dir: string): string };

/** The package folder: this file is dist/native.js. */
const packageRoot = (): string => join(dirname(fileURLToPath(import.meta.url)), '..');

function noAddon(what: string, cause: unknown): Error {
  return Object.assign(
    new Error(
      `uringmachine: ${what}. ` +
        'Run `npm rebuild uringmachine` in your project (it builds the addon from source: ' +
        'needs Python 3, make and a C compiler); in a checkout of uringmachine itself, `npm install`.',
      { cause },
    ),
    { code: 'ERR_UM_NO_ADDON' },
  );
}

function load(): NativeAddon {
  // UM_ADDON: an alternative build, e.g. the AddressSanitizer one of
  // scripts/test-native.sh. A relative path is taken from the current
  // directory (require() alone would treat `build-asan/um.node` as a package).
  if (process.env.UM_ADDON) return require(resolve(process.env.UM_ADDON)) as NativeAddon;
  // node-gyp-build: a source build (build/Release, build/Debug) wins, else
  // the prebuild in prebuilds/<platform>-<arch>/ that fits (libc too).
  const root = packageRoot();
  let path: string;
  try {
    path = nodeGypBuild.resolve(root);
  } catch (e) {
    throw noAddon(`no native addon for ${process.platform}-${process.arch} (no prebuild fits and none was built in ${root})`, e);
  }
  try {
    return require(path) as NativeAddon;
  } catch (e) {
    throw noAddon(`the native addon ${path} does not load (${(e as Error).message.split('\n')[0]})`, e);
  }
}

export const native: NativeAddon = load();
