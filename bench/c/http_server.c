/*
 * bench/c/http_server.c: minimal HTTP/1.1 keep-alive hello-world responder on
 * the project's own ring layer: the C reference for bench/scenarios/http.ts.
 * Same ring structure as echo_server.c (multishot accept, multishot recv on a
 * provided-buffer ring registered here, see net_common.h). It does not parse
 * requests: every "\r\n\r\n" ends one (bodies are not supported: GET-style
 * requests only, which is what wrk sends), and each is answered with the same
 * fixed 200 response with a Content-Length. Pipelined requests are counted
 * and answered in one send; a request split across reads is kept in a
 * per-connection carry-over buffer (bounded: MAX_HEAD bytes, beyond that the
 * connection is closed). One send in flight per connection; responses owed
 * meanwhile are counted and sent together when it completes.
 *
 * Listens on 127.0.0.1:$PORT (0 or unset: ephemeral) and prints
 * `listening <port>` on stdout when ready. Exits cleanly on SIGTERM/SIGINT
 * and when its parent dies. Env: PORT (0), BUFS (1024), BUF_SIZE (4096).
 */
#include <signal.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>

#include "net_common.h"

#define MAX_FD 65536
#define MAX_HEAD 65536
#define RESP_BATCH 64 /* responses per send at most */
enum { T_ACCEPT = 1, T_RECV, T_SEND, T_SIGNAL };
#define UD(type, fd) (((uint64_t)(type) << 32) | (uint32_t)(fd))

static const char RESPONSE[] =
    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\nHello, world!";
#define RESP_LEN (sizeof(RESPONSE) - 1)

struct conn {
  int open, recv_done, sending, broken, starved;
  long owed;          /* responses not yet handed to a send */
  uint32_t in_flight; /* bytes of the send in flight (from resp_buf) */
  uint32_t sent;      /* of those, bytes already sent (short sends) */
  char *carry;        /* bytes of an incomplete request head */
  uint32_t carry_len;
  uint8_t match;      /* how many of "\r\n\r\n" the carry ends with */
};

static struct um_ring ring;
static struct pbuf_ring pb;
static struct conn *conns;
static int *starved;
static int nstarved;
static char resp_buf[RESP_LEN * RESP_BATCH];

static void start_send(int fd) {
  struct conn *c = &conns[fd];
  long k = c->owed < RESP_BATCH ? c->owed : RESP_BATCH;
  c->owed -= k;
  c->in_flight = (uint32_t)(k * RESP_LEN);
  c->sent = 0;
  c->sending = 1;
  prep_send(&ring, fd, resp_buf, c->in_flight, UD(T_SEND, fd));
}

static void maybe_close(int fd) {
  struct conn *c = &conns[fd];
  if (c->open && c->recv_done && !c->sending) {
    free(c->carry);
    close(fd);
    memset(c, 0, sizeof(*c));
  }
}

/* Counts the request heads ended in data[0..len), continuing the partial
 * "\r\n\r\n" match of the previous read; keeps the bytes after the last
 * complete head in the carry buffer. Returns -1 when a head is too long. */
static long scan(struct conn *c, const char *data, uint32_t len) {
  static const char END[4] = {'\r', '\n', '\r', '\n'};
  long count = 0;
  uint32_t start = 0; /* first byte of the current (incomplete) head in data */
  uint8_t m = c->match;
  for (uint32_t i = 0; i < len; i++) {
    char ch = data[i];
    if (ch == END[m]) {
      if (++m == 4) {
        count++;
        m = 0;
        start = i + 1;
        c->carry_len = 0;
      }
    } else {
      m = ch == '\r' ? 1 : 0;
    }
  }
  c->match = m;
  uint32_t rest = len - start;
  if (rest) {
    /* Only the length matters for the limit (we never parse the head), but
     * keep the bytes as a real server would have to. */
    if (c->carry_len + rest > MAX_HEAD) return -1;
    if (!c->carry) c->carry = malloc(MAX_HEAD);
    memcpy(c->carry + c->carry_len, data + start, rest);
    c->carry_len += rest;
  }
  return count;
}

static void on_recv(int fd, int res, uint32_t flags) {
  struct conn *c = &conns[fd];
  if (res > 0 && (flags & UM_CQE_F_BUFFER)) {
    uint16_t bid = (uint16_t)(flags >> UM_CQE_BUFFER_SHIFT);
    if (!c->broken) {
      long k = scan(c, pbuf_data(&pb, bid), (uint32_t)res);
      if (k < 0) {
        c->broken = 1;
        shutdown(fd, SHUT_RDWR); /* the recv ends with EOF, then we close */
      } else {
        c->owed += k;
        if (c->owed && !c->sending) start_send(fd);
      }
    }
    pbuf_add(&pb, bid);
    if (!(flags & UM_CQE_F_MORE)) prep_recv_multishot(&ring, fd, pb.bgid, UD(T_RECV, fd));
    return;
  }
  if (flags & UM_CQE_F_MORE) return;
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
    c->owed = 0;
    maybe_close(fd);
    return;
  }
  c->sent += (uint32_t)res;
  if (c->sent < c->in_flight) {
    c->sending = 1;
    prep_send(&ring, fd, resp_buf + c->sent, c->in_flight - c->sent, UD(T_SEND, fd));
    return;
  }
  if (c->owed && !c->broken)
    start_send(fd);
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
  for (int i = 0; i < RESP_BATCH; i++) memcpy(resp_buf + i * RESP_LEN, RESPONSE, RESP_LEN);
  int ret = um_ring_init(&ring, 1024, 0, 0);
  if (ret < 0) die("um_ring_init", ret);
  ret = pbuf_setup(&ring, &pb, (uint32_t)nbufs, (uint32_t)bsize, 1);
  if (ret < 0) die("IORING_REGISTER_PBUF_RING", ret);
  conns = calloc(MAX_FD, sizeof(*conns));
  starved = calloc(MAX_FD, sizeof(int));

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
  um_ring_exit(&ring);
  for (int fd = 0; fd < MAX_FD; fd++) {
    if (conns[fd].open) {
      free(conns[fd].carry);
      close(fd);
    }
  }
  close(lfd);
  close(sfd);
  pbuf_free(&pb);
  free(conns);
  free(starved);
  return 0;
}
