/*
 * ring.c: io_uring setup, submission and completion with raw syscalls.
 *
 * Facts used here come from io_uring_setup(2), io_uring_enter(2),
 * io_uring_register(2) and io_uring(7). Memory ordering follows io_uring(7):
 * the application publishes the SQ tail with a store-release after filling
 * SQEs, reads the CQ tail with a load-acquire before reading CQEs, and
 * releases the CQ head after it is done with them.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "um.h"

#define load_acquire(p) __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define store_release(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)

static int sys_setup(unsigned entries, struct um_uring_params *p) {
  int ret = (int)syscall(UM_NR_io_uring_setup, entries, p);
  return ret < 0 ? -errno : ret;
}

static int sys_enter(int fd, unsigned to_submit, unsigned min_complete, unsigned flags, void *arg,
                     size_t argsz) {
  int ret = (int)syscall(UM_NR_io_uring_enter, fd, to_submit, min_complete, flags, arg, argsz);
  return ret < 0 ? -errno : ret;
}

static int sys_register(int fd, unsigned opcode, const void *arg, unsigned nr_args) {
  int ret = (int)syscall(UM_NR_io_uring_register, fd, opcode, arg, nr_args);
  return ret < 0 ? -errno : ret;
}

/* Try setup flag sets from the most capable to the most portable. EINVAL
 * means "this kernel does not know one of these flags"; anything else
 * (EPERM from the io_uring_disabled sysctl, ENOSYS from seccomp, ENOMEM from
 * locked-memory limits) is final and goes back to the caller. */
static int setup_with_fallback(unsigned entries, unsigned want, unsigned sqpoll_idle_ms,
                               struct um_uring_params *out) {
  const uint32_t common = UM_SETUP_SUBMIT_ALL | UM_SETUP_CLAMP | UM_SETUP_CQSIZE;
  uint32_t ladder[5];
  int n = 0;
  if (want & UM_RING_WANT_SQPOLL) {
    ladder[n++] = UM_SETUP_SQPOLL | common | UM_SETUP_NO_SQARRAY;
    ladder[n++] = UM_SETUP_SQPOLL | common;
  } else {
    /* One machine per thread: the creating thread is the only submitter,
     * and completions are run when that thread asks for them (DEFER_TASKRUN,
     * 6.1), which batches task work and avoids IPIs. */
    const uint32_t single = UM_SETUP_SINGLE_ISSUER | UM_SETUP_DEFER_TASKRUN | UM_SETUP_TASKRUN_FLAG;
    ladder[n++] = single | common | UM_SETUP_NO_SQARRAY;
    ladder[n++] = single | common;
    ladder[n++] = UM_SETUP_COOP_TASKRUN | UM_SETUP_TASKRUN_FLAG | common;
    ladder[n++] = UM_SETUP_CLAMP | UM_SETUP_CQSIZE;
  }
  int ret = -EINVAL;
  for (int i = 0; i < n; i++) {
    memset(out, 0, sizeof(*out));
    out->flags = ladder[i];
    out->cq_entries = entries * 4;
    if (ladder[i] & UM_SETUP_SQPOLL) out->sq_thread_idle = sqpoll_idle_ms;
    ret = sys_setup(entries, out);
    if (ret >= 0) {
      out->flags = ladder[i];
      return ret;
    }
    if (ret != -EINVAL) return ret;
  }
  return ret;
}

int um_ring_init(struct um_ring *ring, unsigned entries, unsigned want, unsigned sqpoll_idle_ms) {
  memset(ring, 0, sizeof(*ring));
  ring->fd = -1;
  ring->event_fd = -1;

  struct um_uring_params p;
  int fd = setup_with_fallback(entries, want, sqpoll_idle_ms, &p);
  if (fd < 0) return fd;
  if (!(p.features & UM_FEAT_SINGLE_MMAP) || !(p.features & UM_FEAT_NODROP)) {
    /* 5.4 / 5.5 features; anything older is below our floor anyway. */
    close(fd);
    return -ENOSYS;
  }
  ring->fd = fd;
  ring->setup_flags = p.flags;
  ring->features = p.features;

  size_t sq_size = p.sq_off.array + p.sq_entries * sizeof(uint32_t);
  size_t cq_size = p.cq_off.cqes + p.cq_entries * sizeof(struct um_cqe);
  size_t size = sq_size > cq_size ? sq_size : cq_size;
  void *ptr = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, UM_OFF_SQ_RING);
  if (ptr == MAP_FAILED) {
    int err = -errno;
    close(fd);
    ring->fd = -1;
    return err;
  }
  ring->sq_ring_ptr = ring->cq_ring_ptr = ptr;
  ring->sq_ring_size = ring->cq_ring_size = size;

  ring->sqes_size = p.sq_entries * sizeof(struct um_sqe);
  void *sqes = mmap(NULL, ring->sqes_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, UM_OFF_SQES);
  if (sqes == MAP_FAILED) {
    int err = -errno;
    munmap(ptr, size);
    close(fd);
    ring->fd = -1;
    return err;
  }
  ring->sqes = sqes;

  char *sq = ptr;
  ring->sq_head = (uint32_t *)(sq + p.sq_off.head);
  ring->sq_tail = (uint32_t *)(sq + p.sq_off.tail);
  ring->sq_flags = (uint32_t *)(sq + p.sq_off.flags);
  ring->sq_mask = *(uint32_t *)(sq + p.sq_off.ring_mask);
  ring->sq_entries = *(uint32_t *)(sq + p.sq_off.ring_entries);
  ring->sqe_tail = *ring->sq_tail;
  if (!(p.flags & UM_SETUP_NO_SQARRAY)) {
    /* SQEs are always used in ring order, so the indirection array is the
     * identity map, written once. */
    ring->sq_array = (uint32_t *)(sq + p.sq_off.array);
    for (uint32_t i = 0; i < ring->sq_entries; i++) ring->sq_array[i] = i;
  }

  char *cq = ptr;
  ring->cq_head = (uint32_t *)(cq + p.cq_off.head);
  ring->cq_tail = (uint32_t *)(cq + p.cq_off.tail);
  ring->cq_flags = p.cq_off.flags ? (uint32_t *)(cq + p.cq_off.flags) : NULL;
  ring->cq_overflow = (uint32_t *)(cq + p.cq_off.overflow);
  ring->cq_mask = *(uint32_t *)(cq + p.cq_off.ring_mask);
  ring->cq_entries = *(uint32_t *)(cq + p.cq_off.ring_entries);
  ring->cqes = (struct um_cqe *)(cq + p.cq_off.cqes);
  return 0;
}

void um_ring_exit(struct um_ring *ring) {
  if (ring->fd < 0) return;
  if (ring->sqes) munmap(ring->sqes, ring->sqes_size);
  if (ring->sq_ring_ptr) munmap(ring->sq_ring_ptr, ring->sq_ring_size);
  close(ring->fd);
  if (ring->event_fd >= 0) close(ring->event_fd);
  ring->fd = -1;
  ring->event_fd = -1;
  ring->sqes = NULL;
  ring->sq_ring_ptr = ring->cq_ring_ptr = NULL;
}

/* The eventfd is how libuv learns that completions (or, with DEFER_TASKRUN,
 * task work that will produce them) are waiting. The kernel signals it both
 * when it posts CQEs and when it queues deferred task work for the ring
 * (io_req_local_work_add), which is exactly the wake-up we need. */
int um_ring_register_eventfd(struct um_ring *ring) {
  int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (efd < 0) return -errno;
  int ret = sys_register(ring->fd, UM_REGISTER_EVENTFD, &efd, 1);
  if (ret < 0) {
    close(efd);
    return ret;
  }
  ring->event_fd = efd;
  return efd;
}

struct um_sqe *um_ring_get_sqe(struct um_ring *ring) {
  uint32_t head = load_acquire(ring->sq_head);
  if (ring->sqe_tail - head >= ring->sq_entries) return NULL;
  struct um_sqe *sqe = &ring->sqes[ring->sqe_tail & ring->sq_mask];
  ring->sqe_tail++;
  memset(sqe, 0, sizeof(*sqe));
  return sqe;
}

unsigned um_ring_sq_ready(const struct um_ring *ring) {
  return ring->sqe_tail - load_acquire(ring->sq_head);
}

int um_ring_needs_enter(const struct um_ring *ring) {
  /* With TASKRUN_FLAG the kernel tells us in sq_flags when task work is
   * waiting to be run (and so completions to be posted); without it, a
   * DEFER_TASKRUN ring must always enter to find out. */
  if ((ring->setup_flags & UM_SETUP_DEFER_TASKRUN) && !(ring->setup_flags & UM_SETUP_TASKRUN_FLAG)) return 1;
  return (load_acquire(ring->sq_flags) & (UM_SQ_CQ_OVERFLOW | UM_SQ_TASKRUN)) != 0;
}

int um_ring_taskrun_pending(const struct um_ring *ring) {
  if (!(ring->setup_flags & UM_SETUP_TASKRUN_FLAG)) return 0;
  return (load_acquire(ring->sq_flags) & (UM_SQ_CQ_OVERFLOW | UM_SQ_TASKRUN)) != 0;
}

int um_ring_enter(struct um_ring *ring, unsigned wait_nr, int getevents, int64_t timeout_ms) {
  if (ring->fd < 0) return -EBADF;
  /* Publish every SQE filled so far; release orders the SQE stores before
   * the tail store the kernel reads. */
  store_release(ring->sq_tail, ring->sqe_tail);
  unsigned to_submit = ring->sqe_tail - load_acquire(ring->sq_head);
  unsigned flags = 0;

  if (ring->setup_flags & UM_SETUP_SQPOLL) {
    /* The SQ thread picks up the new tail by itself unless it went to sleep.
     * A full barrier orders the tail store before the flags load
     * (io_uring(7), "SQPOLL"). */
    if (to_submit) {
      __atomic_thread_fence(__ATOMIC_SEQ_CST);
      if (load_acquire(ring->sq_flags) & UM_SQ_NEED_WAKEUP) flags |= UM_ENTER_SQ_WAKEUP;
    }
    if (to_submit == ring->sq_entries) flags |= UM_ENTER_SQ_WAIT;
  }
  if (getevents || wait_nr) flags |= UM_ENTER_GETEVENTS;
  if (!flags && (ring->setup_flags & UM_SETUP_SQPOLL)) return 0;
  if (!flags && !to_submit) return 0;

  struct um_kernel_timespec ts;
  struct um_getevents_arg arg;
  void *argp = NULL;
  size_t argsz = 0;
  if (wait_nr && timeout_ms >= 0) {
    ts.tv_sec = timeout_ms / 1000;
    ts.tv_nsec = (timeout_ms % 1000) * 1000000;
    memset(&arg, 0, sizeof(arg));
    arg.ts = (uint64_t)(uintptr_t)&ts;
    argp = &arg;
    argsz = sizeof(arg);
    flags |= UM_ENTER_EXT_ARG;
  }
  for (;;) {
    int ret = sys_enter(ring->fd, to_submit, wait_nr, flags, argp, argsz);
    if (ret == -EINTR) {
      /* Anything submitted before the signal was consumed: recompute. */
      to_submit = ring->sqe_tail - load_acquire(ring->sq_head);
      continue;
    }
    /* ETIME: the wait timed out, which is not an error for the caller. */
    if (ret == -ETIME) return 0;
    return ret;
  }
}

int um_ring_submit(struct um_ring *ring) { return um_ring_enter(ring, 0, 0, -1); }

unsigned um_ring_cq_ready(const struct um_ring *ring) {
  return load_acquire(ring->cq_tail) - *ring->cq_head;
}

unsigned um_ring_copy_cqes(struct um_ring *ring, int32_t *out, unsigned max) {
  uint32_t head = *ring->cq_head;
  uint32_t tail = load_acquire(ring->cq_tail);
  unsigned n = tail - head;
  if (n > max) n = max;
  for (unsigned i = 0; i < n; i++) {
    const struct um_cqe *cqe = &ring->cqes[(head + i) & ring->cq_mask];
    out[0] = (int32_t)(uint32_t)(cqe->user_data & 0xffffffffu);
    out[1] = (int32_t)(uint32_t)(cqe->user_data >> 32);
    out[2] = cqe->res;
    out[3] = (int32_t)cqe->flags;
    out += 4;
  }
  /* Release: our reads of these CQEs happen before the kernel may reuse
   * the slots. */
  if (n) store_release(ring->cq_head, head + n);
  return n;
}

int um_ring_probe(struct um_ring *ring, uint8_t *supported, unsigned n) {
  const unsigned nops = 256;
  size_t size = sizeof(struct um_probe) + nops * sizeof(struct um_probe_op);
  struct um_probe *probe = calloc(1, size);
  if (!probe) return -ENOMEM;
  int ret = sys_register(ring->fd, UM_REGISTER_PROBE, probe, nops);
  if (ret < 0) {
    free(probe);
    return ret;
  }
  memset(supported, 0, n);
  for (unsigned i = 0; i < probe->ops_len && i < nops; i++) {
    unsigned op = probe->ops[i].op;
    if (op < n && (probe->ops[i].flags & UM_IO_URING_OP_SUPPORTED)) supported[op] = 1;
  }
  ret = probe->last_op + 1;
  free(probe);
  return ret;
}

int um_kernel_version(void) {
  struct utsname u;
  if (uname(&u) < 0) return -errno;
  int major = 0, minor = 0;
  if (sscanf(u.release, "%d.%d", &major, &minor) < 2) return -EINVAL;
  return major * 100 + minor;
}

int um_pbuf_ring_register(struct um_ring *ring, unsigned entries, uint16_t bgid, uint16_t flags, void **out,
                          size_t *size) {
  if (entries == 0 || entries > 32768 || (entries & (entries - 1)) != 0) return -EINVAL;
  size_t len = (size_t)entries * sizeof(struct um_buf);
  long page = sysconf(_SC_PAGESIZE);
  len = (len + (size_t)page - 1) & ~((size_t)page - 1);
  void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return -errno;
  struct um_buf_reg reg;
  memset(&reg, 0, sizeof(reg));
  reg.ring_addr = (uint64_t)(uintptr_t)p;
  reg.ring_entries = entries;
  reg.bgid = bgid;
  reg.flags = flags;
  int ret = sys_register(ring->fd, UM_REGISTER_PBUF_RING, &reg, 1);
  if (ret < 0) {
    munmap(p, len);
    return ret;
  }
  *out = p;
  *size = len;
  return 0;
}

int um_pbuf_ring_unregister(struct um_ring *ring, uint16_t bgid) {
  struct um_buf_reg reg;
  memset(&reg, 0, sizeof(reg));
  reg.bgid = bgid;
  return sys_register(ring->fd, UM_UNREGISTER_PBUF_RING, &reg, 1);
}

/* Registered (fixed) buffers, io_uring_register(2) IORING_REGISTER_BUFFERS:
 * iov points to n struct iovec (u64 base, u64 len). The kernel pins the
 * pages until IORING_UNREGISTER_BUFFERS or ring teardown; the caller keeps
 * the memory alive for as long. */
int um_ring_register_buffers(struct um_ring *ring, const void *iov, unsigned n) {
  return sys_register(ring->fd, UM_REGISTER_BUFFERS, iov, n);
}

int um_ring_unregister_buffers(struct um_ring *ring) {
  return sys_register(ring->fd, UM_UNREGISTER_BUFFERS, NULL, 0);
}

/* A sparse direct-descriptor table of n empty slots (IORING_REGISTER_FILES2
 * with IORING_RSRC_REGISTER_SPARSE, 5.19): ops then create files in it with
 * IORING_FILE_INDEX_ALLOC. nr_args is the size of the struct. */
int um_ring_register_files_sparse(struct um_ring *ring, unsigned n) {
  struct um_rsrc_register reg;
  memset(&reg, 0, sizeof(reg));
  reg.nr = n;
  reg.flags = UM_RSRC_REGISTER_SPARSE;
  return sys_register(ring->fd, UM_REGISTER_FILES2, &reg, sizeof(reg));
}
