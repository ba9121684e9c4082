/*
 * bench/c/echo_server.c: the TCP echo benchmark's reference server on the
 * project's own ring layer (native/ring.c), no JavaScript: one multishot
 * accept, per connection a multishot recv on a provided-buffer ring, and a
 * send of each received buffer straight from the ring's memory; the buffer
 * goes back to the ring when its send completes. The same op pattern as
 * examples/echo-server.ts, minus the copy out of the pool.
 *
 * Prints "listening <port>" when ready. Env: PORT (0 = any free port), HOST
 * is always 127.0.0.1. Stops on SIGTERM/SIGINT.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "um.h"

#define BUFS 4096 /* power of two */
#define BUF_SIZE 4096
#define BGID 7

enum { T_ACCEPT = 1, T_RECV = 2, T_SEND = 3 };
#define UD(type, bid, fd) (((uint64_t)(type) << 56) | ((uint64_t)(bid) << 32) | (uint32_t)(fd))

static struct um_ring ring;
static struct um_buf *br; /* the buffer ring */
static unsigned br_tail;
static char *bufs;
static uint32_t sent_off[BUFS];
static uint32_t buf_len[BUFS];
static volatile sig_atomic_t stop;

static void on_signal(int s) {
  (void)s;
  stop = 1;
}

static struct um_sqe *sqe(void) {
  struct um_sqe *s = um_ring_get_sqe(&ring);
  if (!s) {
    um_ring_submit(&ring);
    s = um_ring_get_sqe(&ring);
  }
  if (!s) {
    fprintf(stderr, "echo_server: no SQE\n");
    exit(1);
  }
  return s;
}

static void recycle(unsigned bid) {
  struct um_buf *b = &br[br_tail & (BUFS - 1)];
  b->addr = (uint64_t)(uintptr_t)(bufs + (size_t)bid * BUF_SIZE);
  b->len = BUF_SIZE;
  b->bid = (uint16_t)bid;
  br_tail++;
  __atomic_store_n(&br[0].resv, (uint16_t)br_tail, __ATOMIC_RELEASE);
}

static void arm_recv(int fd) {
  struct um_sqe *s = sqe();
  s->opcode = UM_OP_RECV;
  s->fd = fd;
  s->flags = UM_IOSQE_BUFFER_SELECT;
  s->ioprio = UM_RECV_MULTISHOT;
  s->buf_index = BGID;
  s->user_data = UD(T_RECV, 0, fd);
}

static void arm_accept(int lfd) {
  struct um_sqe *s = sqe();
  s->opcode = UM_OP_ACCEPT;
  s->fd = lfd;
  s->ioprio = UM_ACCEPT_MULTISHOT;
  s->op_flags = SOCK_CLOEXEC;
  s->user_data = UD(T_ACCEPT, 0, lfd);
}

static void send_buf(int fd, unsigned bid) {
  struct um_sqe *s = sqe();
  s->opcode = UM_OP_SEND;
  s->fd = fd;
  s->addr = (uint64_t)(uintptr_t)(bufs + (size_t)bid * BUF_SIZE + sent_off[bid]);
  s->len = buf_len[bid] - sent_off[bid];
  s->op_flags = MSG_NOSIGNAL;
  s->user_data = UD(T_SEND, bid, fd);
}

int main(void) {
  const char *ps = getenv("PORT");
  int port = ps && *ps ? atoi(ps) : 0;
  signal(SIGTERM, on_signal);
  signal(SIGINT, on_signal);
  int ret = um_ring_init(&ring, 4096, 0, 0);
  if (ret < 0) {
    fprintf(stderr, "echo_server: um_ring_init: %s\n", strerror(-ret));
    return 1;
  }
  void *ringmem;
  size_t ringsize;
  ret = um_pbuf_ring_register(&ring, BUFS, BGID, 0, &ringmem, &ringsize);
  if (ret < 0) {
    fprintf(stderr, "echo_server: buffer ring: %s\n", strerror(-ret));
    return 1;
  }
  br = ringmem;
  bufs = malloc((size_t)BUFS * BUF_SIZE);
  if (!bufs) return 1;
  for (unsigned i = 0; i < BUFS; i++) recycle(i);

  int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  struct sockaddr_in a;
  memset(&a, 0, sizeof(a));
  a.sin_family = AF_INET;
  a.sin_port = htons((uint16_t)port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(lfd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(lfd, 1024) < 0) {
    perror("echo_server: bind/listen");
    return 1;
  }
  socklen_t al = sizeof(a);
  getsockname(lfd, (struct sockaddr *)&a, &al);
  printf("listening %d\n", ntohs(a.sin_port));
  fflush(stdout);
  arm_accept(lfd);

  int32_t cq[4 * 1024];
  while (!stop) {
    ret = um_ring_enter(&ring, 1, 1, 200);
    if (ret < 0 && ret != -ETIME && ret != -EINTR) {
      fprintf(stderr, "echo_server: io_uring_enter: %s\n", strerror(-ret));
      break;
    }
    unsigned n;
    while ((n = um_ring_copy_cqes(&ring, cq, 1024)) > 0) {
      for (unsigned i = 0; i < n; i++) {
        const int32_t *c = cq + 4 * i;
        uint64_t ud = (uint32_t)c[0] | ((uint64_t)(uint32_t)c[1] << 32);
        int type = (int)(ud >> 56);
        unsigned bid = (unsigned)((ud >> 32) & 0xffffff);
        int fd = (int)(uint32_t)ud;
        int res = c[2];
        uint32_t flags = (uint32_t)c[3];
        if (type == T_ACCEPT) {
          if (res >= 0) {
            setsockopt(res, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
            arm_recv(res);
          }
          if (!(flags & UM_CQE_F_MORE)) arm_accept(lfd);
        } else if (type == T_RECV) {
          if (res > 0 && (flags & UM_CQE_F_BUFFER)) {
            unsigned b = flags >> UM_CQE_BUFFER_SHIFT;
            buf_len[b] = (uint32_t)res;
            sent_off[b] = 0;
            send_buf(fd, b);
          }
          if (!(flags & UM_CQE_F_MORE)) {
            if (res > 0 || res == -ENOBUFS) arm_recv(fd);
            else close(fd);
          }
        } else if (type == T_SEND) {
          if (res > 0 && sent_off[bid] + (uint32_t)res < buf_len[bid]) {
            sent_off[bid] += (uint32_t)res;
            send_buf(fd, bid);
          } else {
            recycle(bid);
          }
        }
      }
    }
  }
  um_ring_exit(&ring);
  munmap(ringmem, ringsize);
  close(lfd);
  free(bufs);
  return 0;
}
