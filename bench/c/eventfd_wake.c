/*
 * bench/c/eventfd_wake.c: how late the kernel signals the ring's eventfd
 * for deferred task work (the wake-up a machine sleeps on in Node's loop).
 *
 * The ring is set up as src/core.ts's is (native/ring.c: SINGLE_ISSUER |
 * DEFER_TASKRUN | TASKRUN_FLAG), with an eventfd registered. N times: arm
 * one RECV (READ for a pipe), let a second thread write one byte 0.5 ms
 * later, and time from that write to the eventfd turning readable (poll).
 * Prints one JSON line: mean and worst latency in µs, how many were later
 * than 2 ms and which iterations. Env: N (300), KIND (unix | tcp | pipe).
 * Used for bench/RESULTS.md, "The eventfd wake-up on Linux 6.18.44".
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "um.h"
#include "uring_abi.h"

static int fds[2];
static atomic_int turn; /* 1: write now; 0: done; -1: stop */
static _Atomic double sent_us;

static double now_us(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

static void *writer(void *arg) {
  (void)arg;
  for (;;) {
    int g;
    while ((g = atomic_load(&turn)) == 0) {
    }
    if (g < 0) return NULL;
    usleep(500);
    atomic_store(&sent_us, now_us());
    if (write(fds[1], "x", 1) != 1) abort();
    atomic_store(&turn, 0);
  }
}

static int open_pair(const char *kind) {
  if (!strcmp(kind, "pipe")) return pipe(fds);
  if (!strcmp(kind, "unix")) return socketpair(AF_UNIX, SOCK_STREAM, 0, fds);
  int l = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t al = sizeof a;
  if (l < 0 || bind(l, (void *)&a, sizeof a) || listen(l, 1) || getsockname(l, (void *)&a, &al)) return -1;
  fds[1] = socket(AF_INET, SOCK_STREAM, 0);
  if (fds[1] < 0 || connect(fds[1], (void *)&a, sizeof a)) return -1;
  fds[0] = accept(l, NULL, NULL);
  int one = 1;
  setsockopt(fds[1], IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  close(l);
  return fds[0] < 0 ? -1 : 0;
}

int main(void) {
  const char *kind = getenv("KIND") ? getenv("KIND") : "unix";
  int n = getenv("N") ? atoi(getenv("N")) : 300;
  struct um_ring r;
  if (um_ring_init(&r, 64, 0, 0) < 0 || um_ring_register_eventfd(&r) < 0 || open_pair(kind) < 0) {
    fprintf(stderr, "eventfd_wake: set-up failed\n");
    return 1;
  }
  pthread_t th;
  pthread_create(&th, NULL, writer, NULL);
  int is_pipe = !strcmp(kind, "pipe");
  char buf[16];
  double sum = 0, worst = 0;
  int slow = 0;
  char slow_list[512] = "";
  for (int i = 0; i < n; i++) {
    struct um_sqe *s = um_ring_get_sqe(&r);
    um_prep_rw(s, is_pipe ? UM_OP_READ : UM_OP_RECV, fds[0], buf, sizeof buf, is_pipe ? (uint64_t)-1 : 0);
    s->user_data = 1;
    um_ring_submit(&r);
    atomic_store(&turn, 1);
    struct pollfd p = {.fd = r.event_fd, .events = POLLIN};
    int pr;
    while ((pr = poll(&p, 1, 5000)) < 0) {
    }
    if (pr == 0) {
      printf("{\"kind\":\"%s\",\"lost\":%d}\n", kind, i);
      return 1;
    }
    double lat = now_us() - atomic_load(&sent_us);
    uint64_t count;
    if (read(r.event_fd, &count, sizeof count) < 0) abort();
    int32_t cqe[4];
    for (unsigned got = 0; got == 0;) {
      um_ring_enter(&r, 0, 1, -1);
      got = um_ring_copy_cqes(&r, cqe, 1);
    }
    while (atomic_load(&turn) != 0) {
    }
    sum += lat;
    if (lat > worst) worst = lat;
    if (lat > 2000) {
      slow++;
      size_t len = strlen(slow_list);
      if (len < sizeof slow_list - 16) snprintf(slow_list + len, sizeof slow_list - len, "%s%d", len ? "," : "", i);
    }
  }
  atomic_store(&turn, -1);
  pthread_join(th, NULL);
  printf("{\"kind\":\"%s\",\"n\":%d,\"meanUs\":%.0f,\"worstUs\":%.0f,\"over2ms\":%d,\"slowIterations\":[%s]}\n", kind, n,
         sum / n, worst, slow, slow_list);
  return 0;
}
