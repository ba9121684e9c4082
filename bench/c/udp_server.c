/*
 * bench/c/udp_server.c: UDP echo server on the project's own ring layer, no
 * JavaScript: the ceiling for bench/scenarios/udp.ts. One ring, one thread,
 * one multishot IORING_OP_RECVMSG on a provided-buffer ring. The kernel
 * writes each datagram into one buffer as struct io_uring_recvmsg_out
 * (16 bytes: namelen, controllen, payloadlen, flags), the peer's address
 * (msg_namelen bytes reserved), then the payload; the reply is an
 * IORING_OP_SEND with a destination (Linux 6.0: addr2 = the sockaddr,
 * addr_len = its length) whose data and address both point into that
 * buffer, so nothing is copied; the buffer goes back to the kernel at the
 * send's CQE.
 *
 * Binds 127.0.0.1:$PORT (0 or unset: an ephemeral port) and prints
 * `listening <port>` when ready. Exits on SIGTERM/SIGINT (a signalfd read on
 * the ring) and when its parent dies. Env: PORT (0), BUFS (1024, a power of
 * two), BUF_SIZE (2048).
 */
#include <signal.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>

#include "net_common.h"

enum { T_RECV = 1, T_SEND, T_SIGNAL };
#define OUT_HDR 16 /* sizeof(struct io_uring_recvmsg_out) */
#define NAME_ROOM ((uint32_t)sizeof(struct sockaddr_in6))

static struct um_ring ring;
static struct pbuf_ring pb;
static struct msghdr tmpl; /* the multishot recvmsg's template: only msg_namelen counts */

static void arm_recv(int fd) {
  struct um_sqe *s = get_sqe(&ring);
  um_prep_rw(s, UM_OP_RECVMSG, fd, &tmpl, 1, 0);
  s->ioprio = UM_RECV_MULTISHOT;
  s->flags = UM_IOSQE_BUFFER_SELECT;
  s->buf_index = pb.bgid;
  s->user_data = (uint64_t)T_RECV << 32;
}

int main(void) {
  prctl(PR_SET_PDEATHSIG, SIGTERM);
  long port = env_long("PORT", 0), nbufs = env_long("BUFS", 1024), bsize = env_long("BUF_SIZE", 2048);
  if (nbufs < 1 || nbufs > 32768 || (nbufs & (nbufs - 1)) || bsize < 64) {
    fprintf(stderr, "BUFS must be a power of two <= 32768, BUF_SIZE >= 64\n");
    return 1;
  }
  int ret = um_ring_init(&ring, 1024, 0, 0);
  if (ret < 0) die("um_ring_init", ret);
  ret = pbuf_setup(&ring, &pb, (uint32_t)nbufs, (uint32_t)bsize, 1);
  if (ret < 0) die("IORING_REGISTER_PBUF_RING", ret);
  tmpl.msg_namelen = NAME_ROOM;

  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGTERM);
  sigaddset(&mask, SIGINT);
  sigprocmask(SIG_BLOCK, &mask, NULL);
  int sfd = signalfd(-1, &mask, SFD_CLOEXEC);
  if (sfd < 0) die("signalfd", errno);
  struct signalfd_siginfo si;
  struct um_sqe *s = get_sqe(&ring);
  um_prep_rw(s, UM_OP_READ, sfd, &si, sizeof(si), (uint64_t)-1);
  s->user_data = (uint64_t)T_SIGNAL << 32;

  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) die("socket", errno);
  struct sockaddr_in a;
  memset(&a, 0, sizeof(a));
  a.sin_family = AF_INET;
  a.sin_port = htons((uint16_t)port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0) die("bind", errno);
  socklen_t alen = sizeof(a);
  getsockname(fd, (struct sockaddr *)&a, &alen);
  arm_recv(fd);
  ret = um_ring_submit(&ring);
  if (ret < 0) die("submit", ret);
  printf("listening %d\n", ntohs(a.sin_port));
  fflush(stdout);

  int32_t out[4 * 256];
  int stop = 0;
  while (!stop) {
    ret = um_ring_enter(&ring, 1, 1, -1);
    if (ret < 0) die("io_uring_enter", ret);
    unsigned n;
    while ((n = um_ring_copy_cqes(&ring, out, 256)) > 0) {
      for (unsigned i = 0; i < n; i++) {
        int type = out[4 * i + 1], res = out[4 * i + 2];
        uint32_t flags = (uint32_t)out[4 * i + 3];
        switch (type) {
          case T_RECV: {
            if (flags & UM_CQE_F_BUFFER) {
              uint16_t bid = (uint16_t)(flags >> UM_CQE_BUFFER_SHIFT);
              char *b = pbuf_data(&pb, bid);
              uint32_t namelen, payloadlen;
              memcpy(&namelen, b, 4);
              memcpy(&payloadlen, b + 8, 4);
              uint32_t at = OUT_HDR + NAME_ROOM; /* controllen is 0: no control room reserved */
              uint32_t len = payloadlen;
              if (res >= 0 && at + len > (uint32_t)res) len = (uint32_t)res > at ? (uint32_t)res - at : 0;
              struct um_sqe *q = get_sqe(&ring);
              um_prep_rw(q, UM_OP_SEND, fd, b + at, len, 0);
              q->off = (uint64_t)(uintptr_t)(b + OUT_HDR); /* addr2: destination */
              q->splice_fd_in = (int32_t)(namelen < NAME_ROOM ? namelen : NAME_ROOM); /* addr_len (u16) */
              q->op_flags = MSG_NOSIGNAL;
              q->user_data = ((uint64_t)T_SEND << 32) | bid;
            }
            if (!(flags & UM_CQE_F_MORE)) arm_recv(fd); /* ENOBUFS or an early end: buffers come back at the sends */
            break;
          }
          case T_SEND:
            pbuf_add(&pb, (uint16_t)out[4 * i]);
            break;
          case T_SIGNAL:
            stop = 1;
            break;
        }
      }
    }
    pbuf_publish(&pb);
  }
  um_ring_exit(&ring);
  close(fd);
  close(sfd);
  pbuf_free(&pb);
  return 0;
}
