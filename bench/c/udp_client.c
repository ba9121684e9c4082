/*
 * bench/c/udp_client.c: the load generator of bench/scenarios/udp.ts.
 * SOCKS connected UDP sockets to HOST:PORT, each keeping WINDOW datagrams of
 * SIZE bytes outstanding: every echo that comes back is checked and replaced
 * by a new datagram, so the server always has work queued (SOCKS x WINDOW
 * datagrams in flight) and its speed, not the round-trip latency, sets the
 * rate. One thread, level-triggered epoll, recvmmsg/sendmmsg batches of up
 * to 64 datagrams per socket and wake-up: a few syscalls serve many
 * datagrams, so the client's CPU per datagram stays below any server's
 * (reported as clientCpuSeconds, to show it is not the bottleneck).
 *
 * Each datagram carries its socket's index and a sequence number in its
 * first 8 bytes and a fixed pattern after; an echo of the wrong length,
 * socket or pattern counts as "bad" (the run then fails in udp.ts). A socket
 * that got nothing back for LOSS_MS while it had datagrams out counts them as
 * lost (a datagram dropped under load) and sends a fresh window; an echo that
 * arrives after that is still counted, never over the window.
 *
 * WARMUP seconds run first, untimed; then DURATION seconds are timed. Prints
 * one JSON line: {"datagrams","seconds","rate","lost","bad",
 * "allDatagrams" (warm-up included: what the server's CPU time covers),
 * "clientCpuSeconds" (timed phase)}.
 *
 * Env: PORT (required, or the first argument), HOST (127.0.0.1), SOCKS (16),
 * WINDOW (4), SIZE (64, >= 8), DURATION (3), WARMUP (0.5), LOSS_MS (200).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "bench_common.h"

#define BATCH 64

struct usock {
  int fd;
  int inflight;
  uint32_t seq;
  double last; /* when this socket last got an echo (or sent a fresh window) */
};

static long size, window;
static char *pattern;
static char rbuf[BATCH][2048];
static char sbuf[BATCH][2048];

static double cpu_sec(void) {
  struct timespec t;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return t.tv_sec + t.tv_nsec / 1e9;
}

/* Send up to WINDOW - inflight datagrams; what the socket refuses now (EAGAIN) is sent on a later wake-up. */
static void refill(struct usock *s, int i) {
  int want = (int)window - s->inflight;
  if (want <= 0) return;
  if (want > BATCH) want = BATCH;
  struct mmsghdr mm[BATCH];
  struct iovec iov[BATCH];
  for (int k = 0; k < want; k++) {
    char *b = sbuf[k];
    memcpy(b + 8, pattern + 8, (size_t)size - 8);
    uint32_t idx = (uint32_t)i, seq = s->seq++;
    memcpy(b, &idx, 4);
    memcpy(b + 4, &seq, 4);
    iov[k].iov_base = b;
    iov[k].iov_len = (size_t)size;
    memset(&mm[k], 0, sizeof(mm[k]));
    mm[k].msg_hdr.msg_iov = &iov[k];
    mm[k].msg_hdr.msg_iovlen = 1;
  }
  int n = sendmmsg(s->fd, mm, (unsigned)want, MSG_DONTWAIT);
  if (n < 0) {
    if (errno == EAGAIN || errno == ENOBUFS) return;
    die("sendmmsg", errno);
  }
  s->inflight += n;
}

int main(int argc, char **argv) {
  long port = argc > 1 ? atol(argv[1]) : env_long("PORT", 0);
  if (port <= 0) die("PORT", EINVAL);
  const char *host = getenv("HOST") ? getenv("HOST") : "127.0.0.1";
  long socks_n = env_long("SOCKS", 16);
  window = env_long("WINDOW", 4);
  size = env_long("SIZE", 64);
  double duration = (double)env_long("DURATION_MS", 0) / 1000;
  if (duration <= 0) duration = getenv("DURATION") ? atof(getenv("DURATION")) : 3;
  double warmup = getenv("WARMUP") ? atof(getenv("WARMUP")) : 0.5;
  double loss = (double)env_long("LOSS_MS", 200) / 1000;
  if (size < 8 || size > 2048) die("SIZE (8..2048)", EINVAL);
  if (socks_n < 1 || window < 1) die("SOCKS, WINDOW", EINVAL);

  pattern = malloc((size_t)size);
  for (long k = 0; k < size; k++) pattern[k] = (char)('a' + k % 26);

  struct sockaddr_in to;
  memset(&to, 0, sizeof(to));
  to.sin_family = AF_INET;
  to.sin_port = htons((uint16_t)port);
  if (inet_pton(AF_INET, host, &to.sin_addr) != 1) die("HOST (an IPv4 literal)", EINVAL);

  int ep = epoll_create1(EPOLL_CLOEXEC);
  if (ep < 0) die("epoll_create1", errno);
  struct usock *s = calloc((size_t)socks_n, sizeof(*s));
  double t = now_sec();
  for (long i = 0; i < socks_n; i++) {
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) die("socket", errno);
    if (connect(fd, (struct sockaddr *)&to, sizeof(to)) < 0) die("connect", errno);
    s[i].fd = fd;
    s[i].last = t;
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) die("epoll_ctl", errno);
  }
  for (long i = 0; i < socks_n; i++) refill(&s[i], (int)i);

  long got = 0, all = 0, lost = 0, bad = 0;
  int timed = 0;
  double t0 = now_sec(), start = t0, cpu0 = 0, last_check = t0;
  struct mmsghdr mm[BATCH];
  struct iovec iov[BATCH];
  struct epoll_event evs[64];
  for (;;) {
    int n = epoll_wait(ep, evs, 64, 20);
    if (n < 0) {
      if (errno == EINTR) continue;
      die("epoll_wait", errno);
    }
    double now = now_sec();
    for (int e = 0; e < n; e++) {
      int i = (int)evs[e].data.u32;
      struct usock *u = &s[i];
      for (int k = 0; k < BATCH; k++) {
        iov[k].iov_base = rbuf[k];
        iov[k].iov_len = sizeof(rbuf[k]);
        memset(&mm[k], 0, sizeof(mm[k]));
        mm[k].msg_hdr.msg_iov = &iov[k];
        mm[k].msg_hdr.msg_iovlen = 1;
      }
      int r = recvmmsg(u->fd, mm, BATCH, MSG_DONTWAIT, NULL);
      if (r < 0) {
        if (errno == EAGAIN) continue;
        if (errno == ECONNREFUSED) die("recvmmsg (the server is gone)", errno);
        die("recvmmsg", errno);
      }
      for (int k = 0; k < r; k++) {
        uint32_t idx;
        memcpy(&idx, rbuf[k], 4);
        if (mm[k].msg_len != (unsigned)size || idx != (uint32_t)i || memcmp(rbuf[k] + 8, pattern + 8, (size_t)size - 8) != 0) {
          bad++;
          continue;
        }
        got++;
        all++;
        if (u->inflight > 0) u->inflight--;
      }
      if (r > 0) u->last = now;
      refill(u, i);
    }
    if (now - last_check > loss / 4) {
      last_check = now;
      for (long i = 0; i < socks_n; i++) {
        struct usock *u = &s[i];
        if (u->inflight < window) refill(u, (int)i);
        if (u->inflight > 0 && now - u->last > loss) {
          lost += u->inflight;
          u->inflight = 0;
          u->last = now;
          refill(u, (int)i);
        }
      }
    }
    if (!timed && now - start >= warmup) {
      timed = 1;
      got = 0;
      lost = 0;
      t0 = now;
      cpu0 = cpu_sec();
    } else if (timed && now - t0 >= duration) {
      double secs = now - t0;
      double cpu = cpu_sec() - cpu0;
      printf("{\"datagrams\":%ld,\"seconds\":%.4f,\"rate\":%.1f,\"lost\":%ld,\"bad\":%ld,\"allDatagrams\":%ld,\"clientCpuSeconds\":%.4f}\n", got,
             secs, (double)got / secs, lost, bad, all, cpu);
      break;
    }
  }
  for (long i = 0; i < socks_n; i++) close(s[i].fd);
  close(ep);
  free(s);
  free(pattern);
  return bad > 0 ? 2 : 0;
}
