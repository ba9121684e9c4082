/**
 * Op kinds as data: the io_uring opcode each API op submits, whether it is
 * multishot, the kernel floor (major * 100 + minor) and the name used as
 * `syscall` in errors. native/uring_abi.h states the same opcodes; a test
 * keeps the two equal.
 * Internal module (not exported by the package).
 */
import type { Op } from './op.js';

export const OPCODES = {
  NOP: 0,
  READV: 1,
  WRITEV: 2,
  FSYNC: 3,
  READ_FIXED: 4,
  WRITE_FIXED: 5,
  POLL_ADD: 6,
  POLL_REMOVE: 7,
  SENDMSG: 9,
  RECVMSG: 10,
  TIMEOUT: 11,
  TIMEOUT_REMOVE: 12,
  ACCEPT: 13,
  ASYNC_CANCEL: 14,
  LINK_TIMEOUT: 15,
  CONNECT: 16,
  OPENAT: 18,
  CLOSE: 19,
  STATX: 21,
  READ: 22,
  WRITE: 23,
  FADVISE: 24,
  MADVISE: 25,
  SEND: 26,
  RECV: 27,
  SPLICE: 30,
  TEE: 33,
  SHUTDOWN: 34,
  RENAMEAT: 35,
  UNLINKAT: 36,
  MKDIRAT: 37,
  SYMLINKAT: 38,
  LINKAT: 39,
  MSG_RING: 40,
  FSETXATTR: 41,
  SETXATTR: 42,
  FGETXATTR: 43,
  GETXATTR: 44,
  SOCKET: 45,
  URING_CMD: 46,
  SEND_ZC: 47,
  SENDMSG_ZC: 48,
  READ_MULTISHOT: 49,
  WAITID: 50,
  FUTEX_WAIT: 51,
  FUTEX_WAKE: 52,
  FIXED_FD_INSTALL: 54,
  FTRUNCATE: 55,
  BIND: 56,
  LISTEN: 57,
} as const;

export type OpcodeName = keyof typeof OPCODES;

export interface OpKind {
  readonly opcode: number;
  readonly multishot: boolean;
  /** Kernel floor, major * 100 + minor. */
  readonly floor: number;
  /** Name reported as `syscall` in a UMError. */
  readonly syscall: string;
  /** The op creates a file descriptor (closed if its fiber was cancelled). */
  readonly createsFd: boolean;
  /**
   * Undo what a successful result holds beyond its number, when nobody will
   * see it: called with res >= 0 when the op completed but is rejected
   * anyway (the machine is closing). recvFd's result is a byte count, and
   * the descriptor the kernel installed is in the op's msghdr: this closes it.
   */
  readonly reclaim?: (res: number, op: Op) => void;
}

function kind(opcode: number, syscall: string, floor: number, multishot = false, createsFd = false): OpKind {
  return Object.freeze({ opcode, syscall, floor, multishot, createsFd });
}

export const OP_KINDS = {
  nop: kind(OPCODES.NOP, 'nop', 501),
  read: kind(OPCODES.READ, 'read', 506),
  write: kind(OPCODES.WRITE, 'write', 506),
  writev: kind(OPCODES.WRITEV, 'writev', 501),
  readv: kind(OPCODES.READV, 'readv', 501),
  fsync: kind(OPCODES.FSYNC, 'fsync', 501),
  timeout: kind(OPCODES.TIMEOUT, 'timeout', 504),
  timeoutMultishot: kind(OPCODES.TIMEOUT, 'timeout', 604, true),
  cancel: kind(OPCODES.ASYNC_CANCEL, 'cancel', 505),
  openat: kind(OPCODES.OPENAT, 'open', 506, false, true),
  close: kind(OPCODES.CLOSE, 'close', 506),
  statx: kind(OPCODES.STATX, 'statx', 506),
  // ---- Files and descriptors (issue 5) ----
  fadvise: kind(OPCODES.FADVISE, 'fadvise', 506),
  madvise: kind(OPCODES.MADVISE, 'madvise', 506),
  splice: kind(OPCODES.SPLICE, 'splice', 507),
  tee: kind(OPCODES.TEE, 'tee', 508),
  renameat: kind(OPCODES.RENAMEAT, 'rename', 511),
  unlinkat: kind(OPCODES.UNLINKAT, 'unlink', 511),
  mkdirat: kind(OPCODES.MKDIRAT, 'mkdir', 515),
  symlinkat: kind(OPCODES.SYMLINKAT, 'symlink', 515),
  linkat: kind(OPCODES.LINKAT, 'link', 515),
  getxattr: kind(OPCODES.GETXATTR, 'getxattr', 519),
  setxattr: kind(OPCODES.SETXATTR, 'setxattr', 519),
  fgetxattr: kind(OPCODES.FGETXATTR, 'fgetxattr', 519),
  fsetxattr: kind(OPCODES.FSETXATTR, 'fsetxattr', 519),
  waitid: kind(OPCODES.WAITID, 'waitid', 607),
  futexWait: kind(OPCODES.FUTEX_WAIT, 'futex_wait', 607),
  futexWake: kind(OPCODES.FUTEX_WAKE, 'futex_wake', 607),
  // ---- end (issue 5) ----
  // ---- Buffer-pool and multishot network ops (issue 3) ----
  recvMultishot: kind(OPCODES.RECV, 'recv', 600, true),
  readMultishot: kind(OPCODES.READ_MULTISHOT, 'read', 607, true),
  readSelect: kind(OPCODES.READ, 'read', 519),
  recvSelect: kind(OPCODES.RECV, 'recv', 519),
  acceptMultishot: kind(OPCODES.ACCEPT, 'accept', 519, true, true),
  pollMultishot: kind(OPCODES.POLL_ADD, 'poll', 513, true),
  pollOnce: kind(OPCODES.POLL_ADD, 'poll', 501),
  recvBundle: kind(OPCODES.RECV, 'recv', 610),
  sendBundle: kind(OPCODES.SEND, 'send', 610),
  // ---- end (issue 3, pool) ----
  // ---- Sockets, one-shot (issue 3) ----
  socket: kind(OPCODES.SOCKET, 'socket', 519, false, true),
  bind: kind(OPCODES.BIND, 'bind', 611),
  listen: kind(OPCODES.LISTEN, 'listen', 611),
  connect: kind(OPCODES.CONNECT, 'connect', 505),
  accept: kind(OPCODES.ACCEPT, 'accept', 505, false, true),
  send: kind(OPCODES.SEND, 'send', 506),
  sendto: kind(OPCODES.SEND, 'sendto', 600),
  sendmsg: kind(OPCODES.SENDMSG, 'sendmsg', 503),
  recv: kind(OPCODES.RECV, 'recv', 506),
  recvfrom: kind(OPCODES.RECVMSG, 'recvfrom', 503),
  shutdown: kind(OPCODES.SHUTDOWN, 'shutdown', 511),
  getsockopt: kind(OPCODES.URING_CMD, 'getsockopt', 607),
  setsockopt: kind(OPCODES.URING_CMD, 'setsockopt', 607),
  // ---- end (issue 3) ----
  // ---- Kernel features (issue 15) ----
  sendZc: kind(OPCODES.SEND_ZC, 'send_zc', 600),
  sendmsgZc: kind(OPCODES.SENDMSG_ZC, 'sendmsg_zc', 601),
  linkTimeout: kind(OPCODES.LINK_TIMEOUT, 'link_timeout', 505),
  readFixed: kind(OPCODES.READ_FIXED, 'read_fixed', 501),
  writeFixed: kind(OPCODES.WRITE_FIXED, 'write_fixed', 501),
  // Direct descriptors: res is a slot, not an fd (never closeSync'd by the core).
  openDirect: kind(OPCODES.OPENAT, 'open', 519),
  acceptDirect: kind(OPCODES.ACCEPT, 'accept', 519),
  socketDirect: kind(OPCODES.SOCKET, 'socket', 519),
  closeDirect: kind(OPCODES.CLOSE, 'close', 515),
  recvmsgMultishot: kind(OPCODES.RECVMSG, 'recvmsg', 600, true),
  ftruncate: kind(OPCODES.FTRUNCATE, 'ftruncate', 609),
  // res is the byte count, not the fd: never createsFd (the core would close(res)).
  recvFd: kind(OPCODES.RECVMSG, 'recvmsg', 503),
  fixedFdInstall: kind(OPCODES.FIXED_FD_INSTALL, 'fixed_fd_install', 608, false, true),
  // Cross-ring messages (src/msg-ring.ts): IORING_MSG_DATA 5.18, IORING_MSG_SEND_FD 6.0.
  msgRing: kind(OPCODES.MSG_RING, 'msg_ring', 518),
  msgRingFd: kind(OPCODES.MSG_RING, 'msg_ring', 600),
  // ---- end (issue 15) ----
} as const satisfies Record<string, OpKind>;

export type OpKindName = keyof typeof OP_KINDS;
