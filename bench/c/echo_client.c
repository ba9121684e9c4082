/*
 * bench/c/echo_client.c: the load generator of bench/scenarios/echo.ts.
 * CONNS connections to HOST:PORT, each doing ROUNDS round trips in lockstep:
 * send SIZE bytes, wait until all SIZE bytes have come back, check them,
 * repeat. One thread; CLIENT=uring (the default) drives it with its own
 * io_uring on the project's ring layer (a send SQE per round, a multishot
 * recv per connection on a provided-buffer ring), CLIENT=epoll with
 * level-triggered epoll and non-blocking send/recv. Measured against
 * echo_server.c (50 x 4,000 x 64 B, three alternating runs on the busy 2-core
 * machine): ~5.5 µs of client CPU per round trip with io_uring against ~7.2
 * with epoll, for ~5.5-7 µs of server CPU: the client costs about what the
 * fastest server does, and less than any Node server. Every
 * connection's payload has its own byte pattern per round so that a mixed-up
 * or stale echo is caught. WARMUP round trips per connection run first and are
 * not timed. Prints one JSON line: {"roundTrips","seconds","rps",...,
 * "clientCpuSeconds"} (this client's own user+system CPU time in the timed
 * phase, to show it is not the bottleneck).
 *
 * Latency (bench/scenarios/balancing.ts): every round trip is timed, from
 * just before its send to the completion that brings its last byte back
 * (CLOCK_MONOTONIC); the JSON line then also has "p50Us", "p99Us", "p999Us",
 * "maxUs" and "meanUs" over the timed phase. DURATION (seconds, 0 = off)
 * turns ROUNDS into a maximum: once DURATION has passed, no connection
 * starts another round trip, and the phase ends when the ones in flight are
 * back (WARMUP_DURATION does the same for the warm-up). RLIMIT_NOFILE is
 * raised to its hard limit so that thousands of connections fit.
 *
 * Env: PORT (required, or the first argument), HOST (127.0.0.1), CONNS (50),
 * ROUNDS (2000), SIZE (64; keep it <= 64 KiB: a round's bytes must fit the
 * socket buffers), WARMUP (100), CLIENT (uring | epoll), DURATION (0),
 * WARMUP_DURATION (0).
 */
#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/resource.h>

#include "net_common.h"

struct cconn {
  int fd;
  long left; /* round trips still to do in this phase */
  uint32_t got;
  uint32_t round;
};

static long conns_n, size;
static char *sendbuf, *recvbuf;

/* Round-trip timing: when each connection's current round was sent, and
 * every latency of the timed phase (seconds), grown as needed. */
static double *sent_at, *lats, deadline;
static size_t lats_n, lats_cap;
static int timing;

static void round_done(int ci, double now) {
  if (!timing) return;
  if (lats_n == lats_cap) {
    lats_cap = lats_cap ? lats_cap * 2 : 1 << 16;
    lats = realloc(lats, lats_cap * sizeof(double));
    if (!lats) die("realloc", ENOMEM);
  }
  lats[lats_n++] = now - sent_at[ci];
}

/* Whether a connection whose round just finished starts another one. */
static int more(struct cconn *c, double now) {
  return --c->left > 0 && !(deadline > 0 && now >= deadline);
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double pct(double q) {
  if (lats_n == 0) return 0;
  size_t i = (size_t)(q * (double)(lats_n - 1) + 0.5);
  return lats[i] * 1e6;
}

static void fill(char *buf, int ci, uint32_t round) {
  for (long i = 0; i < size; i++) buf[i] = (char)(ci * 31 + round * 7 + i);
}

static void send_round(struct cconn *c, int ci) {
  fill(sendbuf, ci, c->round);
  sent_at[ci] = now_sec();
  long off = 0;
  while (off < size) {
    ssize_t w = send(c->fd, sendbuf + off, size - off, MSG_NOSIGNAL);
    if (w < 0) {
      if (errno == EAGAIN) continue; /* only when SIZE exceeds the socket buffers (keep SIZE <= 64 KiB) */
      die("send", errno);
    }
    off += w;
  }
  c->got = 0;
}

/* Runs `rounds` round trips on every connection; returns the seconds taken. */
static double phase(struct cconn *cs, int ep, long rounds) {
  long active = 0;
  double t0 = now_sec();
  for (long i = 0; i < conns_n; i++) {
    cs[i].left = rounds;
    if (rounds > 0) {
      send_round(&cs[i], (int)i);
      active++;
    }
  }
  struct epoll_event evs[256];
  char *expect = malloc(size);
  while (active > 0) {
    int n = epoll_wait(ep, evs, 256, 10000);
    if (n < 0) {
      if (errno == EINTR) continue;
      die("epoll_wait", errno);
    }
    if (n == 0) die("echo_client: no reply within 10 s", ETIMEDOUT);
    for (int e = 0; e < n; e++) {
      int ci = (int)evs[e].data.u32;
      struct cconn *c = &cs[ci];
      if (c->left == 0) {
        die("echo_client: unexpected data", EPROTO);
      }
      /* recvbuf is shared by all connections: check the bytes as they come. */
      ssize_t r = recv(c->fd, recvbuf, size - c->got, 0);
      if (r < 0) {
        if (errno == EAGAIN) continue;
        die("recv", errno);
      }
      if (r == 0) die("echo_client: server closed the connection", ECONNRESET);
      fill(expect, ci, c->round);
      if (memcmp(expect + c->got, recvbuf, r) != 0) die("echo_client: echoed bytes differ", EPROTO);
      c->got += (uint32_t)r;
      if (c->got < size) continue;
      c->round++;
      double now = now_sec();
      round_done(ci, now);
      if (more(c, now))
        send_round(c, ci);
      else
        active--;
    }
  }
  free(expect);
  return now_sec() - t0;
}

/* ---- io_uring mode: the same lockstep on the project's ring layer ---------
 * One send SQE per round (from a per-connection buffer, which must stay put
 * until the send completes) and one multishot recv per connection on a
 * provided-buffer ring, armed once for the whole run; all the sends prepared
 * while handling a batch of completions go to the kernel in one enter. */
enum { U_SEND = 1, U_RECV = 2 };
#define UUD(type, ci) (((uint64_t)(type) << 32) | (uint32_t)(ci))

static struct um_ring uring;
static struct pbuf_ring upb;
static char *usend; /* conns_n * size bytes */
static uint32_t *usent;

static void uring_send(struct cconn *c, int ci) {
  char *b = usend + (size_t)ci * size;
  fill(b, ci, c->round);
  sent_at[ci] = now_sec();
  c->got = 0;
  usent[ci] = 0;
  prep_send(&uring, c->fd, b, (uint32_t)size, UUD(U_SEND, ci));
}

static double uring_phase(struct cconn *cs, long rounds) {
  long active = 0;
  double t0 = now_sec();
  for (long i = 0; i < conns_n; i++) {
    cs[i].left = rounds;
    if (rounds > 0) {
      uring_send(&cs[i], (int)i);
      active++;
    }
  }
  int32_t out[4 * 256];
  while (active > 0) {
    int ret = um_ring_enter(&uring, 1, 1, 10000);
    if (ret < 0) die("io_uring_enter", ret);
    unsigned n = um_ring_copy_cqes(&uring, out, 256);
    if (n == 0 && um_ring_cq_ready(&uring) == 0) die("echo_client: no reply within 10 s", ETIMEDOUT);
    for (unsigned k = 0; k < n; k++) {
      int type = out[4 * k + 1], ci = out[4 * k], res = out[4 * k + 2];
      uint32_t flags = (uint32_t)out[4 * k + 3];
      struct cconn *c = &cs[ci];
      if (type == U_SEND) {
        if (res < 0) die("send", res);
        usent[ci] += (uint32_t)res;
        if (usent[ci] < size) /* short send: the rest */
          prep_send(&uring, c->fd, usend + (size_t)ci * size + usent[ci], (uint32_t)(size - usent[ci]), UUD(U_SEND, ci));
        continue;
      }
      if (res > 0 && (flags & UM_CQE_F_BUFFER)) {
        uint16_t bid = (uint16_t)(flags >> UM_CQE_BUFFER_SHIFT);
        const char *d = pbuf_data(&upb, bid);
        if (c->left == 0 || c->got + (uint32_t)res > size) die("echo_client: unexpected data", EPROTO);
        for (int i = 0; i < res; i++)
          if (d[i] != (char)(ci * 31 + c->round * 7 + c->got + i)) die("echo_client: echoed bytes differ", EPROTO);
        pbuf_add(&upb, bid);
        c->got += (uint32_t)res;
        if (c->got == size) {
          c->round++;
          double now = now_sec();
          round_done(ci, now);
          if (more(c, now))
            uring_send(c, ci);
          else
            active--;
        }
        if (!(flags & UM_CQE_F_MORE)) prep_recv_multishot(&uring, c->fd, upb.bgid, UUD(U_RECV, ci));
        continue;
      }
      if (flags & UM_CQE_F_MORE) continue;
      if (res == -ENOBUFS) {
        prep_recv_multishot(&uring, c->fd, upb.bgid, UUD(U_RECV, ci)); /* buffers are back after this batch */
        continue;
      }
      if (res == 0) die("echo_client: server closed the connection", ECONNRESET);
      die("recv", res);
    }
    pbuf_publish(&upb);
  }
  return now_sec() - t0;
}

static void uring_start(struct cconn *cs) {
  int ret = um_ring_init(&uring, 1024, 0, 0);
  if (ret < 0) die("um_ring_init", ret);
  uint32_t nbufs = 64;
  while (nbufs < 2 * conns_n && nbufs < 32768) nbufs *= 2;
  ret = pbuf_setup(&uring, &upb, nbufs, 4096, 1);
  if (ret < 0) die("IORING_REGISTER_PBUF_RING", ret);
  usend = malloc((size_t)conns_n * size);
  usent = calloc(conns_n, sizeof(uint32_t));
  for (long i = 0; i < conns_n; i++) prep_recv_multishot(&uring, cs[i].fd, upb.bgid, UUD(U_RECV, i));
}

static void uring_stop(void) {
  um_ring_exit(&uring);
  pbuf_free(&upb);
  free(usend);
  free(usent);
}

int main(int argc, char **argv) {
  long port = argc > 1 ? atol(argv[1]) : env_long("PORT", 0);
  const char *host = getenv("HOST") && *getenv("HOST") ? getenv("HOST") : "127.0.0.1";
  conns_n = env_long("CONNS", 50);
  long rounds = env_long("ROUNDS", 2000), warmup = env_long("WARMUP", 100);
  size = env_long("SIZE", 64);
  double duration = atof(getenv("DURATION") ? getenv("DURATION") : "0");
  double warmup_duration = atof(getenv("WARMUP_DURATION") ? getenv("WARMUP_DURATION") : "0");
  struct rlimit nofile;
  if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < nofile.rlim_max) {
    nofile.rlim_cur = nofile.rlim_max;
    setrlimit(RLIMIT_NOFILE, &nofile);
  }
  if (port <= 0 || port > 65535 || conns_n < 1 || rounds < 1 || size < 1 || warmup < 0) {
    fprintf(stderr, "usage: PORT=<port> [CONNS=50 ROUNDS=2000 SIZE=64 WARMUP=100 HOST=127.0.0.1] echo_client\n");
    return 1;
  }
  struct sockaddr_in a;
  memset(&a, 0, sizeof(a));
  a.sin_family = AF_INET;
  a.sin_port = htons((uint16_t)port);
  if (inet_pton(AF_INET, host, &a.sin_addr) != 1) die("HOST must be an IPv4 address", EINVAL);

  sendbuf = malloc(size);
  recvbuf = malloc(size);
  struct cconn *cs = calloc(conns_n, sizeof(*cs));
  sent_at = calloc(conns_n, sizeof(double));
  int ep = epoll_create1(EPOLL_CLOEXEC);
  if (ep < 0) die("epoll_create1", errno);
  for (long i = 0; i < conns_n; i++) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) die("socket", errno);
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) die("connect", errno);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) die("epoll_ctl", errno);
    cs[i].fd = fd;
  }
  const char *mode = getenv("CLIENT") && *getenv("CLIENT") ? getenv("CLIENT") : "uring";
  int use_uring = strcmp(mode, "epoll") != 0;
  if (use_uring) uring_start(cs);
  if (warmup > 0) {
    deadline = warmup_duration > 0 ? now_sec() + warmup_duration : 0;
    use_uring ? uring_phase(cs, warmup) : phase(cs, ep, warmup);
  }
  struct rusage r0, r1;
  getrusage(RUSAGE_SELF, &r0);
  timing = 1;
  deadline = duration > 0 ? now_sec() + duration : 0;
  double secs = use_uring ? uring_phase(cs, rounds) : phase(cs, ep, rounds);
  getrusage(RUSAGE_SELF, &r1);
  qsort(lats, lats_n, sizeof(double), cmp_double);
  double sum = 0;
  for (size_t i = 0; i < lats_n; i++) sum += lats[i];
  double cpu = (r1.ru_utime.tv_sec - r0.ru_utime.tv_sec) + (r1.ru_utime.tv_usec - r0.ru_utime.tv_usec) / 1e6 +
               (r1.ru_stime.tv_sec - r0.ru_stime.tv_sec) + (r1.ru_stime.tv_usec - r0.ru_stime.tv_usec) / 1e6;
  long total = (long)lats_n;
  printf("{\"roundTrips\":%ld,\"seconds\":%.6f,\"rps\":%.0f,\"conns\":%ld,\"rounds\":%ld,\"size\":%ld,"
         "\"clientCpuSeconds\":%.6f,\"client\":\"%s\",\"p50Us\":%.1f,\"p99Us\":%.1f,\"p999Us\":%.1f,"
         "\"maxUs\":%.1f,\"meanUs\":%.1f}\n",
         total, secs, total / secs, conns_n, rounds, size, cpu, use_uring ? "uring" : "epoll", pct(0.5), pct(0.99),
         pct(0.999), lats_n ? lats[lats_n - 1] * 1e6 : 0, lats_n ? sum / (double)lats_n * 1e6 : 0);
  if (use_uring) uring_stop();
  for (long i = 0; i < conns_n; i++) close(cs[i].fd);
  close(ep);
  free(cs);
  free(sent_at);
  free(lats);
  free(sendbuf);
  free(recvbuf);
  return 0;
}
