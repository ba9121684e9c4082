/*
 * bench/c/net_common.h: helpers shared by the C network benchmarks
 * (echo_server.c, http_server.c, echo_client.c) on the project's own ring
 * layer (native/ring.c, native/prep.c, native/uring_abi.h). Header-only
 * (static functions) because bench/c/build.sh builds each .c on its own.
 *
 * The provided-buffer ring ABI (struct um_buf, UM_REGISTER_PBUF_RING, the
 * tail at byte 14 of entry 0) is stated in native/uring_abi.h and the ring
 * is registered by um_pbuf_ring_register (native/ring.c), as the addon does.
 * Multishot accept/recv: IORING_ACCEPT_MULTISHOT / IORING_RECV_MULTISHOT in
 * sqe->ioprio, buffer select in sqe->flags, the group in sqe->buf_group;
 * each shot's CQE has IORING_CQE_F_MORE while the request stays armed (the
 * last one does not: EOF, error, or -ENOBUFS when the ring ran dry).
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
#include <time.h>
#include <unistd.h>

#include "bench_common.h"

/* A provided-buffer ring: nbufs buffers of size bytes each, group bgid. */
struct pbuf_ring {
  struct um_buf *bufs;    /* the shared ring (page aligned) */
  size_t ring_bytes;      /* its mapping */
  char *mem;              /* nbufs * size bytes of buffers */
  uint32_t nbufs, mask, size;
  uint16_t bgid, tail;
};

/* Hands buffer bid back to the kernel (published by pbuf_publish). */
static inline void pbuf_add(struct pbuf_ring *p, uint16_t bid) {
  struct um_buf *b = &p->bufs[p->tail & p->mask];
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
  p->mem = malloc((size_t)nbufs * size);
  if (!p->mem) return -ENOMEM;
  void *r;
  int ret = um_pbuf_ring_register(ring, nbufs, bgid, 0, &r, &p->ring_bytes);
  if (ret < 0) {
    free(p->mem);
    p->mem = NULL;
    return ret;
  }
  p->bufs = r;
  p->nbufs = nbufs;
  p->mask = nbufs - 1;
  p->size = size;
  p->bgid = bgid;
  for (uint32_t i = 0; i < nbufs; i++) pbuf_add(p, (uint16_t)i);
  pbuf_publish(p);
  return 0;
}

static inline void pbuf_free(struct pbuf_ring *p) {
  if (p->bufs) munmap(p->bufs, p->ring_bytes);
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
