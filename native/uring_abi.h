/*
 * uring_abi.h: our own statement of the io_uring kernel ABI that uringmachine
 * uses. Written here from the kernel's documented interface (io_uring_setup(2),
 * io_uring_enter(2), io_uring_register(2) and the uapi header of Linux 6.18);
 * the values are facts of the kernel ABI. We do not include <linux/io_uring.h>
 * because the distribution headers on the build machine may be older than the
 * kernel we run on: everything new is detected at run time instead.
 */
#ifndef UM_URING_ABI_H
#define UM_URING_ABI_H

#include <stdint.h>

/* Syscall numbers are the same on every architecture since 5.1 (the io_uring
 * syscalls were added to the unified table). */
#define UM_NR_io_uring_setup 425
#define UM_NR_io_uring_enter 426
#define UM_NR_io_uring_register 427
#define UM_NR_pidfd_send_signal 424
#define UM_NR_pidfd_open 434

/* ---- Submission queue entry (64 bytes) ---------------------------------- */
struct um_sqe {
  uint8_t opcode;
  uint8_t flags;     /* IOSQE_* */
  uint16_t ioprio;   /* also: recv/send/accept/poll sub-flags */
  int32_t fd;
  uint64_t off;      /* also: addr2 */
  uint64_t addr;     /* also: splice_off_in */
  uint32_t len;
  uint32_t op_flags; /* rw_flags, fsync_flags, timeout_flags, open_flags ... */
  uint64_t user_data;
  uint16_t buf_index; /* also: buf_group */
  uint16_t personality;
  int32_t splice_fd_in; /* also: file_index, optlen, addr_len */
  uint64_t addr3;
  uint64_t pad2;
};

/* ---- Completion queue entry (16 bytes) ---------------------------------- */
struct um_cqe {
  uint64_t user_data;
  int32_t res;
  uint32_t flags;
};

_Static_assert(sizeof(struct um_sqe) == 64, "SQE is 64 bytes");
_Static_assert(sizeof(struct um_cqe) == 16, "CQE is 16 bytes");

struct um_sqring_offsets {
  uint32_t head, tail, ring_mask, ring_entries, flags, dropped, array, resv1;
  uint64_t user_addr;
};

struct um_cqring_offsets {
  uint32_t head, tail, ring_mask, ring_entries, overflow, cqes, flags, resv1;
  uint64_t user_addr;
};

struct um_uring_params {
  uint32_t sq_entries;
  uint32_t cq_entries;
  uint32_t flags;
  uint32_t sq_thread_cpu;
  uint32_t sq_thread_idle;
  uint32_t features;
  uint32_t wq_fd;
  uint32_t resv[3];
  struct um_sqring_offsets sq_off;
  struct um_cqring_offsets cq_off;
};
_Static_assert(sizeof(struct um_uring_params) == 120, "io_uring_params is 120 bytes");

struct um_probe_op {
  uint8_t op;
  uint8_t resv;
  uint16_t flags; /* UM_IO_URING_OP_SUPPORTED */
  uint32_t resv2;
};

struct um_probe {
  uint8_t last_op;
  uint8_t ops_len;
  uint16_t resv;
  uint32_t resv2[3];
  struct um_probe_op ops[];
};
#define UM_IO_URING_OP_SUPPORTED (1U << 0)

struct um_kernel_timespec {
  int64_t tv_sec;
  int64_t tv_nsec;
};

struct um_getevents_arg {
  uint64_t sigmask;
  uint32_t sigmask_sz;
  uint32_t min_wait_usec;
  uint64_t ts;
};

/* Provided-buffer rings (io_uring_register(2), IORING_REGISTER_PBUF_RING,
 * 5.19). The ring is an array of struct io_uring_buf; the tail the
 * application advances is the 16-bit field at offset 14 of entry 0 (it
 * overlays that entry's resv). */
struct um_buf {
  uint64_t addr;
  uint32_t len;
  uint16_t bid;
  uint16_t resv; /* entry 0: the ring tail */
};
_Static_assert(sizeof(struct um_buf) == 16, "io_uring_buf is 16 bytes");

struct um_buf_reg {
  uint64_t ring_addr;    /* page-aligned ring memory (unless PBUF_RING_MMAP) */
  uint32_t ring_entries; /* power of two, <= 32768 */
  uint16_t bgid;
  uint16_t flags; /* UM_PBUF_RING_* */
  uint64_t resv[3];
};
_Static_assert(sizeof(struct um_buf_reg) == 40, "io_uring_buf_reg is 40 bytes");

#define UM_PBUF_RING_MMAP 1U /* 6.4: the kernel allocates the ring */
#define UM_PBUF_RING_INC 2U  /* 6.12: buffers consumed incrementally */

/* IORING_REGISTER_FILES2 / BUFFERS2 argument. */
struct um_rsrc_register {
  uint32_t nr;
  uint32_t flags; /* UM_RSRC_REGISTER_SPARSE */
  uint64_t resv2;
  uint64_t data; /* array of nr fds (or iovecs); 0 when sparse */
  uint64_t tags;
};
_Static_assert(sizeof(struct um_rsrc_register) == 32, "io_uring_rsrc_register is 32 bytes");
#define UM_RSRC_REGISTER_SPARSE (1U << 0) /* 5.19: nr empty slots */

/* Direct descriptors: sqe->file_index (the u32 at offset 44) of OPENAT,
 * ACCEPT, SOCKET is slot + 1, or FILE_INDEX_ALLOC for "any free slot" (the
 * CQE's res is then the slot); CLOSE with file_index = slot + 1 and fd 0
 * closes a slot; other ops name a slot in sqe->fd with IOSQE_FIXED_FILE.
 * FIXED_FD_INSTALL (6.8): fd = slot, IOSQE_FIXED_FILE, install_fd_flags
 * (op_flags) 0 for O_CLOEXEC or FIXED_FD_NO_CLOEXEC; res = the new fd. */
#define UM_FILE_INDEX_ALLOC (~0U)
#define UM_FIXED_FD_NO_CLOEXEC (1U << 0)
#define UM_ASYNC_CANCEL_FD_FIXED (1U << 3)

/* ---- sqe->flags ---------------------------------------------------------- */
#define UM_IOSQE_FIXED_FILE (1U << 0)
#define UM_IOSQE_IO_DRAIN (1U << 1)
#define UM_IOSQE_IO_LINK (1U << 2)
#define UM_IOSQE_IO_HARDLINK (1U << 3)
#define UM_IOSQE_ASYNC (1U << 4)
#define UM_IOSQE_BUFFER_SELECT (1U << 5)
#define UM_IOSQE_CQE_SKIP_SUCCESS (1U << 6)

/* ---- io_uring_setup() flags --------------------------------------------- */
#define UM_SETUP_IOPOLL (1U << 0)
#define UM_SETUP_SQPOLL (1U << 1)
#define UM_SETUP_SQ_AFF (1U << 2)
#define UM_SETUP_CQSIZE (1U << 3)
#define UM_SETUP_CLAMP (1U << 4)
#define UM_SETUP_ATTACH_WQ (1U << 5)
#define UM_SETUP_R_DISABLED (1U << 6)
#define UM_SETUP_SUBMIT_ALL (1U << 7)          /* 5.18 */
#define UM_SETUP_COOP_TASKRUN (1U << 8)        /* 5.19 */
#define UM_SETUP_TASKRUN_FLAG (1U << 9)        /* 5.19 */
#define UM_SETUP_SQE128 (1U << 10)
#define UM_SETUP_CQE32 (1U << 11)
#define UM_SETUP_SINGLE_ISSUER (1U << 12)      /* 6.0 */
#define UM_SETUP_DEFER_TASKRUN (1U << 13)      /* 6.1 */
#define UM_SETUP_NO_MMAP (1U << 14)            /* 6.5 */
#define UM_SETUP_REGISTERED_FD_ONLY (1U << 15) /* 6.5 */
#define UM_SETUP_NO_SQARRAY (1U << 16)         /* 6.6 */

/* ---- io_uring_params->features ------------------------------------------ */
#define UM_FEAT_SINGLE_MMAP (1U << 0)
#define UM_FEAT_NODROP (1U << 1)
#define UM_FEAT_SUBMIT_STABLE (1U << 2)
#define UM_FEAT_RW_CUR_POS (1U << 3)
#define UM_FEAT_CUR_PERSONALITY (1U << 4)
#define UM_FEAT_FAST_POLL (1U << 5)
#define UM_FEAT_POLL_32BITS (1U << 6)
#define UM_FEAT_SQPOLL_NONFIXED (1U << 7)
#define UM_FEAT_EXT_ARG (1U << 8)
#define UM_FEAT_NATIVE_WORKERS (1U << 9)
#define UM_FEAT_RSRC_TAGS (1U << 10)
#define UM_FEAT_CQE_SKIP (1U << 11)
#define UM_FEAT_LINKED_FILE (1U << 12)
#define UM_FEAT_REG_REG_RING (1U << 13)
#define UM_FEAT_RECVSEND_BUNDLE (1U << 14)
#define UM_FEAT_MIN_TIMEOUT (1U << 15)

/* ---- mmap offsets --------------------------------------------------------- */
#define UM_OFF_SQ_RING 0ULL
#define UM_OFF_CQ_RING 0x8000000ULL
#define UM_OFF_SQES 0x10000000ULL
#define UM_OFF_PBUF_RING 0x80000000ULL
#define UM_OFF_PBUF_SHIFT 16

/* ---- sq_ring->flags / cq_ring->flags ---------------------------------------- */
#define UM_SQ_NEED_WAKEUP (1U << 0)
#define UM_SQ_CQ_OVERFLOW (1U << 1)
#define UM_SQ_TASKRUN (1U << 2)
#define UM_CQ_EVENTFD_DISABLED (1U << 0)

/* ---- io_uring_enter() flags ---------------------------------------------- */
#define UM_ENTER_GETEVENTS (1U << 0)
#define UM_ENTER_SQ_WAKEUP (1U << 1)
#define UM_ENTER_SQ_WAIT (1U << 2)
#define UM_ENTER_EXT_ARG (1U << 3)

/* ---- io_uring_register() opcodes ----------------------------------------- */
#define UM_REGISTER_BUFFERS 0   /* arg: struct iovec[nr_args], at most 16384, each <= 1 GiB */
#define UM_UNREGISTER_BUFFERS 1 /* arg: NULL, nr_args 0 */
#define UM_REGISTER_EVENTFD 4
#define UM_REGISTER_FILES2 13 /* arg: struct um_rsrc_register, nr_args = its size (5.13) */
#define UM_UNREGISTER_EVENTFD 5
#define UM_REGISTER_PROBE 8
#define UM_REGISTER_PBUF_RING 22
#define UM_UNREGISTER_PBUF_RING 23

/* ---- cqe->flags ------------------------------------------------------------ */
#define UM_CQE_F_BUFFER (1U << 0)
#define UM_CQE_F_MORE (1U << 1)
#define UM_CQE_F_SOCK_NONEMPTY (1U << 2)
#define UM_CQE_F_NOTIF (1U << 3)
#define UM_CQE_F_BUF_MORE (1U << 4)
#define UM_CQE_BUFFER_SHIFT 16

/* IORING_OP_READ_FIXED / WRITE_FIXED (5.1): addr/len must lie inside the
 * registered buffer sqe->buf_index (the u16 at offset 40). */

/* ---- per-opcode sub-flags ------------------------------------------------- */
#define UM_FSYNC_DATASYNC (1U << 0)
#define UM_TIMEOUT_ABS (1U << 0)
#define UM_TIMEOUT_ETIME_SUCCESS (1U << 5) /* 5.16 */
#define UM_TIMEOUT_MULTISHOT (1U << 6)     /* 6.4 */
#define UM_POLL_ADD_MULTI (1U << 0)        /* in sqe->len */
#define UM_ASYNC_CANCEL_ALL (1U << 0)
#define UM_ASYNC_CANCEL_FD (1U << 1)
#define UM_ASYNC_CANCEL_ANY (1U << 2)
#define UM_ASYNC_CANCEL_USERDATA (1U << 4)
#define UM_RECV_MULTISHOT (1U << 1) /* in sqe->ioprio */
#define UM_RECVSEND_BUNDLE (1U << 4)
#define UM_ACCEPT_MULTISHOT (1U << 0) /* in sqe->ioprio */
/* IORING_OP_SEND_ZC (6.0) / SENDMSG_ZC (6.1): zero-copy sub-flags in
 * sqe->ioprio. The first CQE carries the send's result and, when
 * IORING_CQE_F_MORE is set on it, a second CQE with IORING_CQE_F_NOTIF and
 * the same user_data follows once the kernel no longer references the pages.
 * With REPORT_USAGE the notification's res has bit 31 set if the data was
 * copied after all (loopback delivery copies it). */
#define UM_RECVSEND_POLL_FIRST (1U << 0)
#define UM_RECVSEND_FIXED_BUF (1U << 2)
#define UM_SEND_ZC_REPORT_USAGE (1U << 3)
#define UM_NOTIF_USAGE_ZC_COPIED (1U << 31)

/* IORING_OP_URING_CMD on a socket (Linux 6.7, io_uring/cmd_net.c): the
 * command goes in sqe->cmd_op (the u32 at offset 8, overlaying off), the
 * option level and name in the two u32 at offset 16 (overlaying addr), the
 * option length in the u32 at offset 44 (overlaying splice_fd_in) and the
 * option value pointer in the u64 at offset 48 (overlaying addr3).
 * GETSOCKOPT completes with the option length; as of 6.18 it only takes
 * level SOL_SOCKET (other levels: -EOPNOTSUPP), SETSOCKOPT takes any level. */
#define UM_SOCKET_URING_OP_SIOCINQ 0
#define UM_SOCKET_URING_OP_SIOCOUTQ 1
#define UM_SOCKET_URING_OP_GETSOCKOPT 2
#define UM_SOCKET_URING_OP_SETSOCKOPT 3
/* IORING_OP_SEND with a destination (sendto, Linux 6.0): the sockaddr
 * pointer in addr2 (offset 8), its length in the u16 addr_len at offset 44. */

/* IORING_OP_MSG_RING (5.18; io_uring_prep_msg_ring(3), _msg_ring_fd(3)):
 * post a CQE to the ring whose fd is sqe->fd. The command is sqe->addr:
 *   MSG_DATA (0): the target CQE gets res = sqe->len and user_data =
 *     sqe->off (offset 8); cqe->flags 0 unless MSG_RING_FLAGS_PASS (6.3),
 *     which copies sqe->file_index into them.
 *   MSG_SEND_FD (1, 6.0): install the sender's direct descriptor
 *     sqe->addr3 (offset 48) in the target's file table at sqe->file_index
 *     (offset 44): slot + 1, or FILE_INDEX_ALLOC for any free slot, which the
 *     target CQE's res then names; user_data = sqe->off. -EINVAL if the
 *     target is the sending ring itself.
 * sqe->msg_ring_flags is the u32 at offset 28 (op_flags). The sender's own
 * CQE has res 0 or -errno (EBADF: fd not open; EBADFD: not an io_uring or a
 * disabled one; EOVERFLOW: the target CQ could not take the CQE; ENFILE:
 * target table full). Values checked against liburing's
 * src/include/liburing/io_uring.h (enum io_uring_msg_ring_flags and the
 * IORING_MSG_RING_* defines) at commit 27255f4 (August 2026). */
#define UM_MSG_DATA 0U
#define UM_MSG_SEND_FD 1U
#define UM_MSG_RING_CQE_SKIP (1U << 0)
#define UM_MSG_RING_FLAGS_PASS (1U << 1)

/* ---- opcodes ------------------------------------------------------------- */
enum um_opcode {
  UM_OP_NOP = 0,
  UM_OP_READV = 1,
  UM_OP_WRITEV = 2,
  UM_OP_FSYNC = 3,
  UM_OP_READ_FIXED = 4,
  UM_OP_WRITE_FIXED = 5,
  UM_OP_POLL_ADD = 6,
  UM_OP_POLL_REMOVE = 7,
  UM_OP_SYNC_FILE_RANGE = 8,
  UM_OP_SENDMSG = 9,
  UM_OP_RECVMSG = 10,
  UM_OP_TIMEOUT = 11,
  UM_OP_TIMEOUT_REMOVE = 12,
  UM_OP_ACCEPT = 13,
  UM_OP_ASYNC_CANCEL = 14,
  UM_OP_LINK_TIMEOUT = 15,
  UM_OP_CONNECT = 16,
  UM_OP_FALLOCATE = 17,
  UM_OP_OPENAT = 18,
  UM_OP_CLOSE = 19,
  UM_OP_FILES_UPDATE = 20,
  UM_OP_STATX = 21,
  UM_OP_READ = 22,
  UM_OP_WRITE = 23,
  UM_OP_FADVISE = 24,
  UM_OP_MADVISE = 25,
  UM_OP_SEND = 26,
  UM_OP_RECV = 27,
  UM_OP_OPENAT2 = 28,
  UM_OP_EPOLL_CTL = 29,
  UM_OP_SPLICE = 30,
  UM_OP_PROVIDE_BUFFERS = 31,
  UM_OP_REMOVE_BUFFERS = 32,
  UM_OP_TEE = 33,
  UM_OP_SHUTDOWN = 34,
  UM_OP_RENAMEAT = 35,
  UM_OP_UNLINKAT = 36,
  UM_OP_MKDIRAT = 37,
  UM_OP_SYMLINKAT = 38,
  UM_OP_LINKAT = 39,
  UM_OP_MSG_RING = 40,
  UM_OP_FSETXATTR = 41,
  UM_OP_SETXATTR = 42,
  UM_OP_FGETXATTR = 43,
  UM_OP_GETXATTR = 44,
  UM_OP_SOCKET = 45,
  UM_OP_URING_CMD = 46,
  UM_OP_SEND_ZC = 47,
  UM_OP_SENDMSG_ZC = 48,
  UM_OP_READ_MULTISHOT = 49,
  UM_OP_WAITID = 50,
  UM_OP_FUTEX_WAIT = 51,
  UM_OP_FUTEX_WAKE = 52,
  UM_OP_FUTEX_WAITV = 53,
  UM_OP_FIXED_FD_INSTALL = 54,
  UM_OP_FTRUNCATE = 55,
  UM_OP_BIND = 56,
  UM_OP_LISTEN = 57,
  UM_OP_LAST_KNOWN = 58
};

#endif
