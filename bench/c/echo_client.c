/*
 * bench/c/echo_client.c: the TCP echo load generator. CONNS connections to
 * 127.0.0.1:PORT, each sending a SIZE-byte message and waiting for all of it
 * to come back before sending the next, ROUNDS times (lockstep, like a
 * request/response client). One thread, epoll, blocking-free sockets with
 * TCP_NODELAY. Every echoed byte is checked. A first pass of WARMUP round
 * trips per connection is not timed. Prints one JSON line:
 *   {"roundTrips":..,"seconds":..,"rps":..}
 *
 * Env: PORT (required), CONNS (50), ROUNDS (2000), SIZE (64), WARMUP (100).
 * It uses plain epoll rather than the project's ring so that the client is
 * the same for every server measured.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static long env_long(const char *name, long dflt) {
  const char *v = getenv(name);
  return v && *v ? atol(v) : dflt;
}

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec / 1e9;
}

struct conn {
  int fd;
  long left; /* round trips still to do */
  long got;  /* bytes of the current echo received */
  long sent; /* bytes of the current message sent */
};

static int fill(struct conn *c, const char *msg, long size) {
  while (c->sent < size) {
    ssize_t n = send(c->fd, msg + c->sent, (size_t)(size - c->sent), MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EAGAIN) return 0; /* rare with 64 B; finished on EPOLLOUT-less retry below */
      return -1;
    }
    c->sent += n;
  }
  return 0;
}

/* Run `rounds` lockstep round trips on every connection; 0 or -1. */
static int run(int ep, struct conn *cs, long conns, long rounds, const char *msg, long size, char *buf) {
  long active = conns;
  for (long i = 0; i < conns; i++) {
    cs[i].left = rounds;
    cs[i].got = cs[i].sent = 0;
    if (fill(&cs[i], msg, size) < 0) return -1;
  }
  struct epoll_event evs[256];
  while (active > 0) {
    int n = epoll_wait(ep, evs, 256, 10000);
    if (n <= 0) {
      fprintf(stderr, "echo_client: no progress for 10 s (%ld connections still active)\n", active);
      return -1;
    }
    for (int k = 0; k < n; k++) {
      struct conn *c = &cs[evs[k].data.u32];
      if (c->left == 0) continue;
      if (c->sent < size && fill(c, msg, size) < 0) return -1;
      for (;;) {
        ssize_t r = recv(c->fd, buf, 65536, MSG_DONTWAIT);
        if (r < 0 && errno == EAGAIN) break;
        if (r <= 0) {
          fprintf(stderr, "echo_client: connection closed by the server\n");
          return -1;
        }
        for (ssize_t j = 0; j < r; j++) {
          if (buf[j] != msg[(c->got + j) % size]) {
            fprintf(stderr, "echo_client: wrong byte echoed\n");
            return -1;
          }
        }
        c->got += r;
        if (c->got > size) {
          fprintf(stderr, "echo_client: more bytes than sent\n");
          return -1;
        }
        if (c->got == size) {
          c->got = c->sent = 0;
          if (--c->left == 0) {
            active--;
            break;
          }
          if (fill(c, msg, size) < 0) return -1;
        }
      }
    }
  }
  return 0;
}

int main(void) {
  long port = env_long("PORT", 0), conns = env_long("CONNS", 50), rounds = env_long("ROUNDS", 2000);
  long size = env_long("SIZE", 64), warmup = env_long("WARMUP", 100);
  if (port <= 0 || port > 65535 || conns < 1 || conns > 100000 || rounds < 1 || size < 1 || size > 65536 || warmup < 0) {
    fprintf(stderr, "echo_client: PORT (1-65535), CONNS >= 1, ROUNDS >= 1, 1 <= SIZE <= 65536 required\n");
    return 2;
  }
  char *msg = malloc((size_t)size), *buf = malloc(65536);
  struct conn *cs = calloc((size_t)conns, sizeof(*cs));
  if (!msg || !buf || !cs) return 2;
  for (long i = 0; i < size; i++) msg[i] = (char)('a' + i % 26);
  int ep = epoll_create1(EPOLL_CLOEXEC);
  struct sockaddr_in a;
  memset(&a, 0, sizeof(a));
  a.sin_family = AF_INET;
  a.sin_port = htons((uint16_t)port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  for (long i = 0; i < conns; i++) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
      perror("echo_client: connect");
      return 1;
    }
    cs[i].fd = fd;
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
  }
  if (warmup > 0 && run(ep, cs, conns, warmup, msg, size, buf) < 0) return 1;
  double t0 = now();
  if (run(ep, cs, conns, rounds, msg, size, buf) < 0) return 1;
  double dt = now() - t0;
  for (long i = 0; i < conns; i++) close(cs[i].fd);
  close(ep);
  printf("{\"roundTrips\":%ld,\"seconds\":%.6f,\"rps\":%.0f}\n", conns * rounds, dt, conns * rounds / dt);
  free(msg);
  free(buf);
  free(cs);
  return 0;
}
