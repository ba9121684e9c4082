/*
 * bench/c/nop_write.c: the kernel's share of micro/nop's op round trip, on
 * the project's own ring, no JavaScript. FIBERS "fibers" each keep one op in
 * flight, N times: a 1-byte WRITE to /dev/null (what bench/micro/nop.ts
 * awaits) and, separately, a NOP (the ring's own floor). Each completion
 * queues that slot's next op, and one io_uring_enter submits the batch and
 * waits for one CQE, as the machine's turn does. Ring set up like a machine's
 * (um_ring_init with no extra wants: the same setup flags). Prints one JSON
 * line: ns per op for both.
 *
 * Env: FIBERS (64), N (5000).
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <unistd.h>

#include "bench_common.h"

static struct um_ring ring;

static double run(long fibers, long n, int fd, int write) {
  static const char one = 'x';
  long left = fibers * n, queued = 0;
  int32_t out[4 * 1024];
  double t0 = now_sec();
  for (long f = 0; f < fibers; f++, queued++) {
    struct um_sqe *s = get_sqe(&ring);
    if (write) um_prep_rw(s, UM_OP_WRITE, fd, &one, 1, (uint64_t)-1);
    else um_prep_nop(s);
    s->user_data = (uint64_t)f;
  }
  while (left > 0) {
    int ret = um_ring_enter(&ring, 1, 1, -1);
    if (ret < 0 && ret != -EBUSY && ret != -EAGAIN) die("enter", ret);
    unsigned got = um_ring_copy_cqes(&ring, out, 1024);
    for (unsigned i = 0; i < got; i++) {
      if (out[4 * i + 2] < 0) die("op", out[4 * i + 2]);
      left--;
      if (queued < fibers * n) {
        struct um_sqe *s = get_sqe(&ring);
        if (write) um_prep_rw(s, UM_OP_WRITE, fd, &one, 1, (uint64_t)-1);
        else um_prep_nop(s);
        s->user_data = (uint64_t)(uint32_t)out[4 * i];
        queued++;
      }
    }
  }
  return (now_sec() - t0) * 1e9 / (double)(fibers * n);
}

int main(void) {
  long fibers = env_long("FIBERS", 64), n = env_long("N", 5000);
  if (fibers < 1 || fibers > 1024 || n < 1) {
    fprintf(stderr, "FIBERS must be 1..1024, N >= 1\n");
    return 1;
  }
  int ret = um_ring_init(&ring, 4096, 0, 0);
  if (ret < 0) die("um_ring_init", ret);
  int fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
  if (fd < 0) die("open /dev/null", errno);
  run(fibers, n / 10 + 1, fd, 1); /* warm up */
  double w = run(fibers, n, fd, 1);
  double z = run(fibers, n, fd, 0);
  printf("{\"fibers\":%ld,\"n\":%ld,\"write_ns\":%.1f,\"nop_ns\":%.1f}\n", fibers, n, w, z);
  um_ring_exit(&ring);
  return 0;
}
