/*
 * um.h: the plain-C core of uringmachine: one io_uring per machine, set up and
 * driven with raw syscalls. No N-API here: functions return -errno and never
 * throw or format messages. Used by the addon (js_*.c), by native/test and by
 * the C benchmarks in bench/.
 */
#ifndef UM_H
#define UM_H

#include <stddef.h>
#include <stdint.h>

#include "uring_abi.h"

/* Setup modes the caller may ask for. */
#define UM_RING_WANT_SQPOLL (1U << 0)

struct um_ring {
  int fd;
  int event_fd;        /* registered eventfd, or -1 */
  uint32_t setup_flags; /* flags the kernel accepted */
  uint32_t features;    /* IORING_FEAT_* */

  /* Submission queue. sqe_tail counts SQEs we have filled; it is published
   * to *sq_tail by um_ring_flush_sq(). */
  uint32_t *sq_head;
  uint32_t *sq_tail;
  uint32_t *sq_flags;
  uint32_t *sq_array; /* NULL with IORING_SETUP_NO_SQARRAY */
  uint32_t sq_mask;
  uint32_t sq_entries;
  uint32_t sqe_tail;
  struct um_sqe *sqes;

  /* Completion queue. */
  uint32_t *cq_head;
  uint32_t *cq_tail;
  uint32_t *cq_flags;
  uint32_t *cq_overflow;
  uint32_t cq_mask;
  uint32_t cq_entries;
  struct um_cqe *cqes;

  void *sq_ring_ptr;
  size_t sq_ring_size;
  void *cq_ring_ptr; /* == sq_ring_ptr with IORING_FEAT_SINGLE_MMAP */
  size_t cq_ring_size;
  size_t sqes_size;
};

/* Ring life cycle (ring.c). */
int um_ring_init(struct um_ring *ring, unsigned entries, unsigned want, unsigned sqpoll_idle_ms);
void um_ring_exit(struct um_ring *ring);
int um_ring_register_eventfd(struct um_ring *ring);

/* Submission (ring.c). um_ring_get_sqe returns a zeroed SQE or NULL when the
 * SQ is full (call um_ring_submit and retry). */
struct um_sqe *um_ring_get_sqe(struct um_ring *ring);
unsigned um_ring_sq_ready(const struct um_ring *ring);
/* Publish filled SQEs and enter the kernel: submit them, and with getevents,
 * run deferred task work so that completions are posted. wait_nr > 0 blocks
 * until that many CQEs are ready (timeout_ms < 0: no timeout). Returns the
 * number submitted or -errno; EINTR is retried here. */
int um_ring_enter(struct um_ring *ring, unsigned wait_nr, int getevents, int64_t timeout_ms);
int um_ring_submit(struct um_ring *ring);

/* Completion (ring.c). Copies up to max CQEs into out as 4 x int32 each:
 * user_data low, user_data high, res, flags; advances the CQ head. */
unsigned um_ring_copy_cqes(struct um_ring *ring, int32_t *out, unsigned max);
unsigned um_ring_cq_ready(const struct um_ring *ring);
int um_ring_needs_enter(const struct um_ring *ring);
/* True if IORING_SQ_TASKRUN (or CQ_OVERFLOW) says an enter with GETEVENTS
 * would post more completions. 0 when the ring cannot tell (no TASKRUN_FLAG). */
int um_ring_taskrun_pending(const struct um_ring *ring);

/* Provided-buffer rings (ring.c). um_pbuf_ring_register maps page-aligned
 * memory for `entries` (a power of two) struct um_buf and registers it as
 * buffer group bgid with flags (UM_PBUF_RING_INC...). Returns 0 and the
 * mapping in *out / *size, or -errno (nothing left mapped). The kernel pins
 * the ring's pages, so unmapping after unregistering is always safe. */
int um_pbuf_ring_register(struct um_ring *ring, unsigned entries, uint16_t bgid, uint16_t flags, void **out,
                          size_t *size);
int um_pbuf_ring_unregister(struct um_ring *ring, uint16_t bgid);

/* Registered buffers (ring.c): n struct iovec at iov; 0 or -errno. */
int um_ring_register_buffers(struct um_ring *ring, const void *iov, unsigned n);
int um_ring_unregister_buffers(struct um_ring *ring);
/* Direct descriptors (ring.c): a sparse file table of n slots; 0 or -errno. */
int um_ring_register_files_sparse(struct um_ring *ring, unsigned n);

/* Opcode probe (ring.c): fills supported[op] = 1 for each supported opcode,
 * for op < n. Returns the number of opcodes known to the kernel or -errno. */
int um_ring_probe(struct um_ring *ring, uint8_t *supported, unsigned n);

/* Kernel version as major * 100 + minor (618 for 6.18), or -errno. */
int um_kernel_version(void);

/* SQE preparation (prep.c): plain C arguments into an SQE. */
void um_prep_rw(struct um_sqe *sqe, uint8_t op, int fd, const void *addr, uint32_t len, uint64_t off);
void um_prep_nop(struct um_sqe *sqe);
void um_prep_timeout(struct um_sqe *sqe, struct um_kernel_timespec *ts, unsigned count, unsigned flags);
void um_prep_cancel(struct um_sqe *sqe, uint64_t user_data, unsigned flags);

#endif
