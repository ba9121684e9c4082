/*
 * bench/c/echo_server.c: TCP echo server on the project's own ring layer, no
 * JavaScript: the C reference for bench/scenarios/echo.ts. One ring, one
 * thread: a multishot accept on the listening socket; per connection a
 * multishot recv taking buffers from a provided-buffer ring registered here
 * (see net_common.h for the ABI values), and sends straight from those
 * buffers, one send in flight per connection (later data waits in a FIFO of
 * buffer ids, so the echo keeps the byte order); a buffer goes back to the
 * kernel as soon as its bytes are sent.
 *
 * Listens on 127.0.0.1:$PORT (0 or unset: an ephemeral port) and prints
 * `listening <port>` on stdout when ready. Exits cleanly on SIGTERM/SIGINT
 * (read through a signalfd on the ring) and when its parent dies.
 * Env: PORT (0), BUFS (1024 buffers, a power of two), BUF_SIZE (4096).
 */
#include <signal.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>

#include "net_common.h"

#define MAX_FD 65536
enum { T_ACCEPT = 1, T_RECV, T_SEND, T_SIGNAL };
#define UD(type, fd) (((uint64_t)(type) << 32) | (uint32_t)(fd))

struct conn {
  int open;
  int recv_done; /* the multishot recv has ended (EOF or error) */
  int sending;   /* a send is in flight for the head of the queue */
  int broken;    /* a send failed: drop what comes */
  int starved;   /* the recv ended with ENOBUFS: re-arm when buffers return */
  int32_t qhead, qtail; /* FIFO of buffer ids to send, linked by next_bid */
  uint32_t sent; /* bytes of the head buffer already sent */
};

static struct um_ring ring;
static struct pbuf_ring pb;
static struct conn *conns;
static int32_t *next_bid;
static uint32_t *blen;
static int *starved;
static int nstarved;
static long nconns;

static void send_head(int fd) {
  struct conn *c = &conns[fd];
  int32_t bid = c->qhead;
  c->sending = 1;
  prep_send(&ring, fd, pbuf_data(&pb, (uint16_t)bid) + c->sent, blen[bid] - c->sent, UD(T_SEND, fd));
}

static void maybe_close(int fd) {
  struct conn *c = &conns[fd];
  if (c->open && c->recv_done && !c->sending) {
    while (c->qhead >= 0) {
      int32_t b = c->qhead;
      c->qhead = next_bid[b];
      pbuf_add(&pb, (uint16_t)b);
    }
    close(fd);
    memset(c, 0, sizeof(*c));
    c->qhead = c->qtail = -1;
    nconns--;
  }
}

static void on_recv(int fd, int res, uint32_t flags) {
  struct conn *c = &conns[fd];
  if (res > 0 && (flags & UM_CQE_F_BUFFER)) {
    int32_t bid = (int32_t)(flags >> UM_CQE_BUFFER_SHIFT);
    if (c->broken) {
      pbuf_add(&pb, (uint16_t)bid);
    } else {
      blen[bid] = (uint32_t)res;
      next_bid[bid] = -1;
      if (c->qtail >= 0)
        next_bid[c->qtail] = bid;
      else
        c->qhead = bid;
      c->qtail = bid;
      if (!c->sending) {
        c->sent = 0;
        send_head(fd);
      }
    }
    if (!(flags & UM_CQE_F_MORE)) prep_recv_multishot(&ring, fd, pb.bgid, UD(T_RECV, fd));
    return;
  }
  if (flags & UM_CQE_F_MORE) return; /* not expected: nothing to do */
  if (res == -ENOBUFS) {
    c->starved = 1;
    starved[nstarved++] = fd;
    return;
  }
  c->recv_done = 1;
  maybe_close(fd);
}

static void on_send(int fd, int res) {
  struct conn *c = &conns[fd];
  c->sending = 0;
  if (res < 0) {
    c->broken = 1;
    while (c->qhead >= 0) {
      int32_t b = c->qhead;
      c->qhead = next_bid[b];
      pbuf_add(&pb, (uint16_t)b);
    }
    c->qtail = -1;
    maybe_close(fd);
    return;
  }
  int32_t bid = c->qhead;
  c->sent += (uint32_t)res;
  if (c->sent < blen[bid]) {
    send_head(fd); /* short send: the rest of the same buffer */
    return;
  }
  c->qhead = next_bid[bid];
  if (c->qhead < 0) c->qtail = -1;
  pbuf_add(&pb, (uint16_t)bid);
  c->sent = 0;
  if (c->qhead >= 0)
    send_head(fd);
  else
    maybe_close(fd);
}

int main(void) {
  prctl(PR_SET_PDEATHSIG, SIGTERM);
  long port = env_long("PORT", 0), nbufs = env_long("BUFS", 1024), bsize = env_long("BUF_SIZE", 4096);
  if (nbufs < 1 || nbufs > 32768 || (nbufs & (nbufs - 1)) || bsize < 1) {
    fprintf(stderr, "BUFS must be a power of two <= 32768, BUF_SIZE >= 1\n");
    return 1;
  }
  int ret = um_ring_init(&ring, 1024, 0, 0);
  if (ret < 0) die("um_ring_init", ret);
  ret = pbuf_setup(&ring, &pb, (uint32_t)nbufs, (uint32_t)bsize, 1);
  if (ret < 0) die("IORING_REGISTER_PBUF_RING", ret);
  conns = calloc(MAX_FD, sizeof(*conns));
  starved = calloc(MAX_FD, sizeof(int));
  next_bid = calloc(nbufs, sizeof(int32_t));
  blen = calloc(nbufs, sizeof(uint32_t));
  for (int i = 0; i < MAX_FD; i++) conns[i].qhead = conns[i].qtail = -1;

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
  s->user_data = UD(T_SIGNAL, sfd);

  int bound;
  int lfd = listen_loopback((int)port, &bound);
  prep_accept_multishot(&ring, lfd, UD(T_ACCEPT, lfd));
  ret = um_ring_submit(&ring);
  if (ret < 0) die("submit", ret);
  printf("listening %d\n", bound);
  fflush(stdout);

  int32_t out[4 * 256];
  int stop = 0;
  while (!stop) {
    ret = um_ring_enter(&ring, 1, 1, -1);
    if (ret < 0) die("io_uring_enter", ret);
    unsigned n;
    while ((n = um_ring_copy_cqes(&ring, out, 256)) > 0) {
      for (unsigned i = 0; i < n; i++) {
        int type = out[4 * i + 1], fd = out[4 * i], res = out[4 * i + 2];
        uint32_t flags = (uint32_t)out[4 * i + 3];
        switch (type) {
          case T_ACCEPT:
            if (res >= 0) {
              if (res >= MAX_FD) {
                close(res);
              } else {
                int one = 1;
                setsockopt(res, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
                conns[res].open = 1;
                nconns++;
                prep_recv_multishot(&ring, res, pb.bgid, UD(T_RECV, res));
              }
            }
            if (!(flags & UM_CQE_F_MORE)) prep_accept_multishot(&ring, lfd, UD(T_ACCEPT, lfd));
            break;
          case T_RECV:
            on_recv(fd, res, flags);
            break;
          case T_SEND:
            on_send(fd, res);
            break;
          case T_SIGNAL:
            stop = 1;
            break;
        }
      }
    }
    pbuf_publish(&pb);
    if (nstarved) {
      for (int i = 0; i < nstarved; i++) {
        int fd = starved[i];
        if (conns[fd].starved) {
          conns[fd].starved = 0;
          prep_recv_multishot(&ring, fd, pb.bgid, UD(T_RECV, fd));
        }
      }
      nstarved = 0;
    }
  }
  /* Exit: closing the ring cancels what is in flight; then the buffers. */
  um_ring_exit(&ring);
  for (int fd = 0; fd < MAX_FD; fd++)
    if (conns[fd].open) close(fd);
  close(lfd);
  close(sfd);
  pbuf_free(&pb);
  free(conns);
  free(starved);
  free(next_bid);
  free(blen);
  return 0;
}
