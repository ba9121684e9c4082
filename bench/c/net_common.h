/*
 * bench/c/net_common.h: helpers shared by the C network benchmarks
 * (echo_server.c, http_server.c, echo_client.c) on the project's own ring
 * layer (native/ring.c, native/prep.c, native/uring_abi.h). Header-only
 * (static functions) because bench/c/build.sh builds each .c on its own.
 *
 * Provided-buffer ring ABI, stated here from io_uring_register(2) and
 * io_uring_setup_buf_ring(3) (Linux 5.19+; the values are facts of the
 * kernel ABI, written out because native/uring_abi.h does not carry them):
 *   - io_uring_register(fd, IORING_REGISTER_PBUF_RING = 22, &reg, 1) with
 *     struct io_uring_buf_reg (40 bytes): u64 ring_addr, u32 ring_entries
 *     (a power of two), u16 bgid, u16 flags (0: the application allocates
 *     the ring memory, page aligned), u32 min_left, u32 resv[5].
 *   - The ring is an array of struct io_uring_buf (16 bytes): u64 addr,
 *     u32 len, u16 bid, u16 resv. The producer tail (u16) overlays the resv
 *     field of entry 0, i.e. lives at byte offset 14; the application
 *     publishes it with a store-release, the kernel consumes from its head.
 *   - An SQE picks a buffer with IOSQE_BUFFER_SELECT (1 << 5) in sqe->flags
 *     and the group id in sqe->buf_group (the buf_index field); the CQE then
 *     has IORING_CQE_F_BUFFER (1 << 0) and the buffer id in flags >> 16.
 *   - Multishot accept: IORING_ACCEPT_MULTISHOT (1 << 0) in sqe->ioprio
 *     (5.19). Multishot recv: IORING_RECV_MULTISHOT (1 << 1) in sqe->ioprio,
 *     with buffer select, len 0 (6.0). Each shot's CQE has IORING_CQE_F_MORE
 *     (1 << 1) while the request stays armed; the last one does not (EOF,
 *     error, or -ENOBUFS when the buffer ring ran dry: re-arm then).
 */
#ifndef BENCH_NET_COMMON_H
#define BENCH_NET_COMMON_H

#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "um.h"

struct bench_buf {
  uint64_t addr;
  uint32_t len;
  uint16_t bid;
  uint16_t resv;
};
_Static_assert(sizeof(struct bench_buf) == 16, "io_uring_buf is 16 bytes");

struct bench_buf_reg {
  uint64_t ring_addr;
  uint32_t ring_entries;
  uint16_t bgid;
  uint16_t flags;
  uint32_t min_left;
  uint32_t resv[5];
};
_Static_assert(sizeof(struct bench_buf_reg) == 40, "io_uring_buf_reg is 40 bytes");

/* A provided-buffer ring: nbufs buffers of size bytes each, group bgid. */
struct pbuf_ring {
  struct bench_buf *bufs; /* the shared ring (page aligned) */
  char *mem;              /* nbufs * size bytes of buffers */
  uint32_t nbufs, mask, size;
  uint16_t bgid, tail;
};

static inline long env_long(const char *name, long dflt) {
  const char *v = getenv(name);
  return v && *v ? atol(v) : dflt;
}

static inline double now_sec(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec / 1e9;
}

static inline void die(const char *what, int err) {
  fprintf(stderr, "%s: %s\n", what, strerror(err < 0 ? -err : err));
  exit(1);
}

/* An SQE, submitting what is queued when the SQ is full. */
static inline struct um_sqe *get_sqe(struct um_ring *ring) {
  struct um_sqe *s = um_ring_get_sqe(ring);
  if (!s) {
    int r = um_ring_submit(ring);
    if (r < 0) die("submit", r);
    s = um_ring_get_sqe(ring);
  }
  if (!s) die("no SQE", EBUSY);
  return s;
}

/* Hands buffer bid back to the kernel (published by pbuf_publish). */
static inline void pbuf_add(struct pbuf_ring *p, uint16_t bid) {
  struct bench_buf *b = &p->bufs[p->tail & p->mask];
  b->addr = (uint64_t)(uintptr_t)(p->mem + (size_t)bid * p->size);
  b->len = p->size;
  b->bid = bid;
  p->tail++;
}

static inline void pbuf_publish(struct pbuf_ring *p) {
  uint16_t *tailp = (uint16_t *)((char *)p->bufs + 14);
  __atomic_store_n(tailp, p->tail, __ATOMIC_RELEASE);
}

static inline char *pbuf_data(struct pbuf_ring *p, uint16_t bid) { return p->mem + (size_t)bid * p->size; }

static inline int pbuf_setup(struct um_ring *ring, struct pbuf_ring *p, uint32_t nbufs, uint32_t size, uint16_t bgid) {
  memset(p, 0, sizeof(*p));
  size_t ring_bytes = nbufs * sizeof(struct bench_buf);
  void *r = mmap(NULL, ring_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (r == MAP_FAILED) return -errno;
  p->bufs = r;
  p->mem = malloc((size_t)nbufs * size);
  if (!p->mem) return -ENOMEM;
  p->nbufs = nbufs;
  p->mask = nbufs - 1;
  p->size = size;
  p->bgid = bgid;
  struct bench_buf_reg reg;
  memset(&reg, 0, sizeof(reg));
  reg.ring_addr = (uint64_t)(uintptr_t)r;
  reg.ring_entries = nbufs;
  reg.bgid = bgid;
  int ret = (int)syscall(UM_NR_io_uring_register, ring->fd, UM_REGISTER_PBUF_RING, &reg, 1);
  if (ret < 0) return -errno;
  for (uint32_t i = 0; i < nbufs; i++) pbuf_add(p, (uint16_t)i);
  pbuf_publish(p);
  return 0;
}

static inline void pbuf_free(struct pbuf_ring *p) {
  if (p->bufs) munmap(p->bufs, p->nbufs * sizeof(struct bench_buf));
  free(p->mem);
  p->bufs = NULL;
  p->mem = NULL;
}

/* A listening TCP socket on 127.0.0.1:port (0: ephemeral); *bound gets the port. */
static inline int listen_loopback(int port, int *bound) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) die("socket", errno);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  struct sockaddr_in a;
  memset(&a, 0, sizeof(a));
  a.sin_family = AF_INET;
  a.sin_port = htons((uint16_t)port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0) die("bind", errno);
  if (listen(fd, 1024) < 0) die("listen", errno);
  socklen_t len = sizeof(a);
  getsockname(fd, (struct sockaddr *)&a, &len);
  *bound = ntohs(a.sin_port);
  return fd;
}

/* Multishot accept on the listening socket. */
static inline void prep_accept_multishot(struct um_ring *ring, int lfd, uint64_t ud) {
  struct um_sqe *s = get_sqe(ring);
  um_prep_rw(s, UM_OP_ACCEPT, lfd, NULL, 0, 0);
  s->ioprio = UM_ACCEPT_MULTISHOT;
  s->op_flags = SOCK_CLOEXEC;
  s->user_data = ud;
}

/* Multishot recv into buffers of group bgid. */
static inline void prep_recv_multishot(struct um_ring *ring, int fd, uint16_t bgid, uint64_t ud) {
  struct um_sqe *s = get_sqe(ring);
  um_prep_rw(s, UM_OP_RECV, fd, NULL, 0, 0);
  s->ioprio = UM_RECV_MULTISHOT;
  s->flags = UM_IOSQE_BUFFER_SELECT;
  s->buf_index = bgid;
  s->user_data = ud;
}

static inline void prep_send(struct um_ring *ring, int fd, const void *buf, uint32_t len, uint64_t ud) {
  struct um_sqe *s = get_sqe(ring);
  um_prep_rw(s, UM_OP_SEND, fd, buf, len, 0);
  s->op_flags = MSG_NOSIGNAL;
  s->user_data = ud;
}

#endif
