/*
 * bench/c/echo_client.c: the load generator of bench/scenarios/echo.ts.
 * CONNS connections to HOST:PORT, each doing ROUNDS round trips in lockstep:
 * send SIZE bytes, wait until all SIZE bytes have come back, check them,
 * repeat. One thread, epoll (level-triggered, non-blocking sockets); every
 * connection's payload has its own byte pattern per round so that a mixed-up
 * or stale echo is caught. WARMUP round trips per connection run first and are
 * not timed. Prints one JSON line: {"roundTrips","seconds","rps",...,
 * "clientCpuSeconds"} (this client's own user+system CPU time in the timed
 * phase, to show it is not the bottleneck).
 *
 * Env: PORT (required, or the first argument), HOST (127.0.0.1), CONNS (50),
 * ROUNDS (2000), SIZE (64), WARMUP (100).
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

static void fill(char *buf, int ci, uint32_t round) {
  for (long i = 0; i < size; i++) buf[i] = (char)(ci * 31 + round * 7 + i);
}

static void send_round(struct cconn *c, int ci) {
  fill(sendbuf, ci, c->round);
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
      ssize_t r = recv(c->fd, recvbuf + c->got, size - c->got, 0);
      if (r < 0) {
        if (errno == EAGAIN) continue;
        die("recv", errno);
      }
      if (r == 0) die("echo_client: server closed the connection", ECONNRESET);
      c->got += (uint32_t)r;
      if (c->got < size) continue;
      fill(expect, ci, c->round);
      if (memcmp(expect, recvbuf, size) != 0) die("echo_client: echoed bytes differ", EPROTO);
      c->round++;
      if (--c->left > 0)
        send_round(c, ci);
      else
        active--;
    }
  }
  free(expect);
  return now_sec() - t0;
}

int main(int argc, char **argv) {
  long port = argc > 1 ? atol(argv[1]) : env_long("PORT", 0);
  const char *host = getenv("HOST") && *getenv("HOST") ? getenv("HOST") : "127.0.0.1";
  conns_n = env_long("CONNS", 50);
  long rounds = env_long("ROUNDS", 2000), warmup = env_long("WARMUP", 100);
  size = env_long("SIZE", 64);
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
  if (warmup > 0) phase(cs, ep, warmup);
  struct rusage r0, r1;
  getrusage(RUSAGE_SELF, &r0);
  double secs = phase(cs, ep, rounds);
  getrusage(RUSAGE_SELF, &r1);
  double cpu = (r1.ru_utime.tv_sec - r0.ru_utime.tv_sec) + (r1.ru_utime.tv_usec - r0.ru_utime.tv_usec) / 1e6 +
               (r1.ru_stime.tv_sec - r0.ru_stime.tv_sec) + (r1.ru_stime.tv_usec - r0.ru_stime.tv_usec) / 1e6;
  long total = conns_n * rounds;
  printf("{\"roundTrips\":%ld,\"seconds\":%.6f,\"rps\":%.0f,\"conns\":%ld,\"rounds\":%ld,\"size\":%ld,"
         "\"clientCpuSeconds\":%.6f}\n",
         total, secs, total / secs, conns_n, rounds, size, cpu);
  for (long i = 0; i < conns_n; i++) close(cs[i].fd);
  close(ep);
  free(cs);
  free(sendbuf);
  free(recvbuf);
  return 0;
}
