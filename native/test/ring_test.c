/*
 * ring_test.c: plain-C checks of the ring layer (native/ring.c, native/prep.c),
 * no N-API. Built and run by scripts/test-c.sh (also under AddressSanitizer by
 * scripts/test-native.sh).
 *
 * Exit status: 0 when every check passed, 1 when one failed, 77 when none
 * failed but a check was skipped because its kernel feature is missing (the
 * automake convention for "skipped"), 77 as well when io_uring itself is not
 * available (disabled by sysctl or seccomp).
 *
 * Expected values of the ABI checks are the layouts printed in
 * io_uring_setup(2) and io_uring_enter(2); when the build machine has
 * <linux/io_uring.h>, the fields it knows are cross-checked against it too.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "../um.h"

#if defined(__has_include)
#if __has_include(<linux/io_uring.h>)
#include <linux/io_uring.h>
#define HAVE_SYS_IO_URING_H 1
#endif
#endif

/* ---- check macros ---------------------------------------------------------- */

static const char *current_test = "";
static int test_failed, test_skipped;
static int n_checks, n_failed_tests, n_skipped_tests;

#define CHECK(cond)                                                                         \
  do {                                                                                      \
    n_checks++;                                                                             \
    if (!(cond)) {                                                                          \
      test_failed = 1;                                                                      \
      fprintf(stderr, "%s:%d: [%s] CHECK(%s) failed\n", __FILE__, __LINE__, current_test, #cond); \
    }                                                                                       \
  } while (0)

#define CHECK_EQ(a, b)                                                                      \
  do {                                                                                      \
    long long a_ = (long long)(a), b_ = (long long)(b);                                     \
    n_checks++;                                                                             \
    if (a_ != b_) {                                                                         \
      test_failed = 1;                                                                      \
      fprintf(stderr, "%s:%d: [%s] CHECK_EQ(%s, %s) failed: %lld != %lld\n", __FILE__, __LINE__, \
              current_test, #a, #b, a_, b_);                                                \
    }                                                                                       \
  } while (0)

/* A failed precondition: report it and leave the test function. cond is
 * evaluated once (it often gets an SQE). */
#define REQUIRE(cond)                                                                       \
  do {                                                                                      \
    int ok_ = !!(cond);                                                                     \
    n_checks++;                                                                             \
    if (!ok_) {                                                                             \
      test_failed = 1;                                                                      \
      fprintf(stderr, "%s:%d: [%s] REQUIRE(%s) failed\n", __FILE__, __LINE__, current_test, #cond); \
      return;                                                                               \
    }                                                                                       \
  } while (0)

#define SKIP(...)                                                                           \
  do {                                                                                      \
    test_skipped = 1;                                                                       \
    printf("  skip: ");                                                                     \
    printf(__VA_ARGS__);                                                                    \
    printf("\n");                                                                           \
    return;                                                                                 \
  } while (0)

/* ---- helpers --------------------------------------------------------------- */

struct cqe {
  uint64_t user_data;
  int32_t res;
  uint32_t flags;
};

static uint64_t ud_of(const int32_t *c) { return (uint64_t)(uint32_t)c[0] | ((uint64_t)(uint32_t)c[1] << 32); }

/* Reap exactly n CQEs, entering the kernel (wait for the missing ones, with a
 * timeout) when fewer are ready. Returns how many were reaped. */
static unsigned reap(struct um_ring *r, struct cqe *out, unsigned n, int64_t timeout_ms) {
  unsigned got = 0;
  int idle_rounds = 0;
  while (got < n) {
    int32_t buf[4 * 16];
    unsigned want = n - got < 16 ? n - got : 16;
    unsigned k = um_ring_copy_cqes(r, buf, want);
    for (unsigned i = 0; i < k; i++) {
      out[got + i].user_data = ud_of(buf + 4 * i);
      out[got + i].res = buf[4 * i + 2];
      out[got + i].flags = (uint32_t)buf[4 * i + 3];
    }
    got += k;
    if (got == n) break;
    if (k) continue;
    if (idle_rounds++ > 3) break;
    int ret = um_ring_enter(r, n - got, 1, timeout_ms);
    if (ret < 0 && ret != -EBUSY && ret != -EAGAIN) break;
  }
  return got;
}

static struct um_sqe *nop(struct um_ring *r, uint64_t ud) {
  struct um_sqe *s = um_ring_get_sqe(r);
  if (!s) return NULL;
  um_prep_nop(s);
  s->user_data = ud;
  return s;
}

static double now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static int open_ring(struct um_ring *r, unsigned entries) {
  int ret = um_ring_init(r, entries, 0, 0);
  if (ret < 0) fprintf(stderr, "[%s] um_ring_init(%u): %s\n", current_test, entries, strerror(-ret));
  return ret;
}

static int readable(int fd, int timeout_ms) {
  struct pollfd p = {.fd = fd, .events = POLLIN};
  int ret = poll(&p, 1, timeout_ms);
  return ret > 0 && (p.revents & POLLIN);
}

/* ---- ABI ----------------------------------------------------------------- */

/* io_uring_enter(2): struct io_uring_sqe / io_uring_cqe. */
_Static_assert(offsetof(struct um_sqe, opcode) == 0, "sqe.opcode");
_Static_assert(offsetof(struct um_sqe, flags) == 1, "sqe.flags");
_Static_assert(offsetof(struct um_sqe, ioprio) == 2, "sqe.ioprio");
_Static_assert(offsetof(struct um_sqe, fd) == 4, "sqe.fd");
_Static_assert(offsetof(struct um_sqe, off) == 8, "sqe.off");
_Static_assert(offsetof(struct um_sqe, addr) == 16, "sqe.addr");
_Static_assert(offsetof(struct um_sqe, len) == 24, "sqe.len");
_Static_assert(offsetof(struct um_sqe, op_flags) == 28, "sqe.op_flags");
_Static_assert(offsetof(struct um_sqe, user_data) == 32, "sqe.user_data");
_Static_assert(offsetof(struct um_sqe, buf_index) == 40, "sqe.buf_index");
_Static_assert(offsetof(struct um_sqe, personality) == 42, "sqe.personality");
_Static_assert(offsetof(struct um_sqe, splice_fd_in) == 44, "sqe.splice_fd_in");
_Static_assert(offsetof(struct um_sqe, addr3) == 48, "sqe.addr3");
_Static_assert(sizeof(struct um_sqe) == 64, "sqe size");
_Static_assert(offsetof(struct um_cqe, user_data) == 0, "cqe.user_data");
_Static_assert(offsetof(struct um_cqe, res) == 8, "cqe.res");
_Static_assert(offsetof(struct um_cqe, flags) == 12, "cqe.flags");
_Static_assert(sizeof(struct um_cqe) == 16, "cqe size");
/* io_uring_setup(2): struct io_uring_params and the ring offsets. */
_Static_assert(offsetof(struct um_uring_params, sq_off) == 40, "params.sq_off");
_Static_assert(offsetof(struct um_uring_params, cq_off) == 80, "params.cq_off");
_Static_assert(sizeof(struct um_uring_params) == 120, "params size");
_Static_assert(sizeof(struct um_sqring_offsets) == 40, "sq_off size");
_Static_assert(sizeof(struct um_cqring_offsets) == 40, "cq_off size");
_Static_assert(sizeof(struct um_getevents_arg) == 24, "getevents_arg size");
_Static_assert(sizeof(struct um_kernel_timespec) == 16, "kernel_timespec size");
_Static_assert(sizeof(struct um_probe) == 16, "probe header size");
_Static_assert(sizeof(struct um_probe_op) == 8, "probe op size");

struct field {
  const char *name;
  size_t got, want;
};
#define F(type, member, want) {#type "." #member, offsetof(struct type, member), want}

static void test_abi(void) {
  /* The same facts at run time, so that a mismatch is reported by name
   * (a _Static_assert stops the build before any other check runs). */
  static const struct field fields[] = {
      F(um_sqe, opcode, 0),          F(um_sqe, flags, 1),           F(um_sqe, ioprio, 2),
      F(um_sqe, fd, 4),              F(um_sqe, off, 8),             F(um_sqe, addr, 16),
      F(um_sqe, len, 24),            F(um_sqe, op_flags, 28),       F(um_sqe, user_data, 32),
      F(um_sqe, buf_index, 40),      F(um_sqe, personality, 42),    F(um_sqe, splice_fd_in, 44),
      F(um_sqe, addr3, 48),          F(um_sqe, pad2, 56),           F(um_cqe, user_data, 0),
      F(um_cqe, res, 8),             F(um_cqe, flags, 12),          F(um_uring_params, sq_entries, 0),
      F(um_uring_params, cq_entries, 4), F(um_uring_params, flags, 8), F(um_uring_params, sq_thread_cpu, 12),
      F(um_uring_params, sq_thread_idle, 16), F(um_uring_params, features, 20), F(um_uring_params, wq_fd, 24),
      F(um_uring_params, resv, 28),  F(um_uring_params, sq_off, 40), F(um_uring_params, cq_off, 80),
      F(um_sqring_offsets, head, 0), F(um_sqring_offsets, tail, 4), F(um_sqring_offsets, ring_mask, 8),
      F(um_sqring_offsets, ring_entries, 12), F(um_sqring_offsets, flags, 16), F(um_sqring_offsets, dropped, 20),
      F(um_sqring_offsets, array, 24), F(um_sqring_offsets, resv1, 28), F(um_sqring_offsets, user_addr, 32),
      F(um_cqring_offsets, head, 0), F(um_cqring_offsets, tail, 4), F(um_cqring_offsets, ring_mask, 8),
      F(um_cqring_offsets, ring_entries, 12), F(um_cqring_offsets, overflow, 16), F(um_cqring_offsets, cqes, 20),
      F(um_cqring_offsets, flags, 24), F(um_cqring_offsets, resv1, 28), F(um_cqring_offsets, user_addr, 32),
      F(um_getevents_arg, sigmask, 0), F(um_getevents_arg, sigmask_sz, 8), F(um_getevents_arg, min_wait_usec, 12),
      F(um_getevents_arg, ts, 16),   F(um_kernel_timespec, tv_sec, 0), F(um_kernel_timespec, tv_nsec, 8),
      F(um_probe, last_op, 0),       F(um_probe, ops_len, 1),       F(um_probe, ops, 16),
      F(um_probe_op, op, 0),         F(um_probe_op, flags, 2),
  };
  for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
    n_checks++;
    if (fields[i].got != fields[i].want) {
      test_failed = 1;
      fprintf(stderr, "[abi] offsetof(%s) = %zu, the ABI says %zu\n", fields[i].name, fields[i].got, fields[i].want);
    }
  }
  CHECK_EQ(UM_NR_io_uring_setup, 425);
  CHECK_EQ(UM_NR_io_uring_enter, 426);
  CHECK_EQ(UM_NR_io_uring_register, 427);
  CHECK_EQ(UM_OFF_CQ_RING, 0x8000000);
  CHECK_EQ(UM_OFF_SQES, 0x10000000);

#ifdef HAVE_SYS_IO_URING_H
  /* Cross-check with the distribution header for what it knows (it may be
   * older than uring_abi.h: only fields and values present since 5.x). */
  CHECK_EQ(sizeof(struct io_uring_sqe), sizeof(struct um_sqe));
  CHECK_EQ(sizeof(struct io_uring_cqe), sizeof(struct um_cqe));
  CHECK_EQ(sizeof(struct io_uring_params), sizeof(struct um_uring_params));
  CHECK_EQ(offsetof(struct io_uring_sqe, off), offsetof(struct um_sqe, off));
  CHECK_EQ(offsetof(struct io_uring_sqe, addr), offsetof(struct um_sqe, addr));
  CHECK_EQ(offsetof(struct io_uring_sqe, len), offsetof(struct um_sqe, len));
  CHECK_EQ(offsetof(struct io_uring_sqe, rw_flags), offsetof(struct um_sqe, op_flags));
  CHECK_EQ(offsetof(struct io_uring_sqe, user_data), offsetof(struct um_sqe, user_data));
  CHECK_EQ(offsetof(struct io_uring_sqe, personality), offsetof(struct um_sqe, personality));
  CHECK_EQ(offsetof(struct io_uring_sqe, splice_fd_in), offsetof(struct um_sqe, splice_fd_in));
  CHECK_EQ(offsetof(struct io_uring_cqe, res), offsetof(struct um_cqe, res));
  CHECK_EQ(offsetof(struct io_uring_params, features), offsetof(struct um_uring_params, features));
  CHECK_EQ(offsetof(struct io_uring_params, sq_off.array), offsetof(struct um_uring_params, sq_off.array));
  CHECK_EQ(offsetof(struct io_uring_params, cq_off.cqes), offsetof(struct um_uring_params, cq_off.cqes));
  CHECK_EQ(offsetof(struct io_uring_params, cq_off.flags), offsetof(struct um_uring_params, cq_off.flags));
  CHECK_EQ(IORING_OP_READ, UM_OP_READ);
  CHECK_EQ(IORING_OP_WRITE, UM_OP_WRITE);
  CHECK_EQ(IORING_OP_TIMEOUT, UM_OP_TIMEOUT);
  CHECK_EQ(IORING_OP_ASYNC_CANCEL, UM_OP_ASYNC_CANCEL);
  CHECK_EQ(IORING_OP_OPENAT, UM_OP_OPENAT);
  CHECK_EQ(IORING_OP_STATX, UM_OP_STATX);
  CHECK_EQ(IORING_OP_SEND, UM_OP_SEND);
  CHECK_EQ(IORING_OP_SOCKET, UM_OP_SOCKET);
  CHECK_EQ(IORING_SETUP_SUBMIT_ALL, UM_SETUP_SUBMIT_ALL);
  CHECK_EQ(IORING_FEAT_NODROP, UM_FEAT_NODROP);
  CHECK_EQ(IORING_FEAT_EXT_ARG, UM_FEAT_EXT_ARG);
  CHECK_EQ(IORING_ENTER_EXT_ARG, UM_ENTER_EXT_ARG);
  CHECK_EQ(IORING_REGISTER_EVENTFD, UM_REGISTER_EVENTFD);
  CHECK_EQ(IORING_REGISTER_PROBE, UM_REGISTER_PROBE);
  CHECK_EQ(IORING_OFF_SQES, UM_OFF_SQES);
#else
  printf("  note: no <linux/io_uring.h>, cross-check skipped\n");
#endif
}

/* ---- ring life cycle ---------------------------------------------------- */

static const struct {
  uint32_t bit;
  const char *name;
} setup_names[] = {
    {UM_SETUP_SQPOLL, "SQPOLL"},           {UM_SETUP_CQSIZE, "CQSIZE"},
    {UM_SETUP_CLAMP, "CLAMP"},             {UM_SETUP_SUBMIT_ALL, "SUBMIT_ALL"},
    {UM_SETUP_COOP_TASKRUN, "COOP_TASKRUN"}, {UM_SETUP_TASKRUN_FLAG, "TASKRUN_FLAG"},
    {UM_SETUP_SINGLE_ISSUER, "SINGLE_ISSUER"}, {UM_SETUP_DEFER_TASKRUN, "DEFER_TASKRUN"},
    {UM_SETUP_NO_SQARRAY, "NO_SQARRAY"},
};

static void print_setup_flags(uint32_t flags) {
  printf("  setup flags accepted: 0x%x =", flags);
  for (size_t i = 0; i < sizeof(setup_names) / sizeof(setup_names[0]); i++)
    if (flags & setup_names[i].bit) printf(" %s", setup_names[i].name);
  printf("\n");
}

static void test_init(void) {
  struct um_ring r;
  int ret = open_ring(&r, 8);
  REQUIRE(ret == 0);
  print_setup_flags(r.setup_flags);
  CHECK(r.fd >= 0);
  CHECK_EQ(r.event_fd, -1);
  CHECK_EQ(r.sq_entries, 8);
  CHECK_EQ(r.sq_mask, 7);
  /* Every rung of the setup ladder asks for CQSIZE = 4 x entries. */
  CHECK(r.setup_flags & UM_SETUP_CQSIZE);
  CHECK_EQ(r.cq_entries, 32);
  CHECK_EQ(r.cq_mask, 31);
  CHECK(r.features & UM_FEAT_SINGLE_MMAP);
  CHECK(r.features & UM_FEAT_NODROP);
  CHECK(r.sqes != NULL);
  CHECK(r.sq_ring_ptr != NULL);
  CHECK_EQ(*r.sq_head, 0);
  CHECK_EQ(*r.sq_tail, 0);
  CHECK_EQ(*r.cq_head, 0);
  CHECK_EQ(*r.cq_tail, 0);
  CHECK_EQ(um_ring_sq_ready(&r), 0);
  CHECK_EQ(um_ring_cq_ready(&r), 0);
  if (r.sq_array) {
    for (uint32_t i = 0; i < r.sq_entries; i++) CHECK_EQ(r.sq_array[i], i);
  } else {
    CHECK(r.setup_flags & UM_SETUP_NO_SQARRAY);
  }
  /* Nothing to submit, nothing to wait for: no syscall, 0. */
  CHECK_EQ(um_ring_submit(&r), 0);
  um_ring_exit(&r);
  CHECK_EQ(r.fd, -1);
  CHECK(r.sqes == NULL);
  um_ring_exit(&r); /* idempotent */
  CHECK_EQ(um_ring_enter(&r, 0, 1, -1), -EBADF);

  /* A non-power-of-two size is rounded up by the kernel. */
  ret = open_ring(&r, 5);
  REQUIRE(ret == 0);
  CHECK_EQ(r.sq_entries, 8);
  um_ring_exit(&r);

  /* 0 entries: EINVAL on every rung, returned as -EINVAL, ring left closed. */
  ret = um_ring_init(&r, 0, 0, 0);
  CHECK_EQ(ret, -EINVAL);
  CHECK_EQ(r.fd, -1);
  um_ring_exit(&r);
}

static void test_nop(void) {
  struct um_ring r;
  REQUIRE(open_ring(&r, 8) == 0);
  const uint64_t ud = 0xfedcba9876543210ULL; /* both halves must survive */
  REQUIRE(nop(&r, ud) != NULL);
  CHECK_EQ(um_ring_sq_ready(&r), 1);
  CHECK_EQ(um_ring_submit(&r), 1);
  CHECK_EQ(um_ring_sq_ready(&r), 0);
  struct cqe c;
  CHECK_EQ(reap(&r, &c, 1, 1000), 1);
  CHECK(c.user_data == ud);
  CHECK_EQ(c.res, 0);
  CHECK_EQ(c.flags, 0);
  CHECK_EQ(um_ring_cq_ready(&r), 0);
  CHECK_EQ(*r.cq_head, *r.cq_tail);
  um_ring_exit(&r);
}

static void test_sq_full(void) {
  struct um_ring r;
  REQUIRE(open_ring(&r, 8) == 0);
  for (unsigned i = 0; i < r.sq_entries; i++) CHECK(nop(&r, 100 + i) != NULL);
  CHECK_EQ(um_ring_sq_ready(&r), r.sq_entries);
  CHECK(um_ring_get_sqe(&r) == NULL);
  CHECK(um_ring_get_sqe(&r) == NULL); /* and it did not advance the tail */
  CHECK_EQ(um_ring_sq_ready(&r), r.sq_entries);
  CHECK_EQ(um_ring_submit(&r), (int)r.sq_entries);
  CHECK_EQ(um_ring_sq_ready(&r), 0);
  CHECK(nop(&r, 100 + r.sq_entries) != NULL);
  CHECK_EQ(um_ring_submit(&r), 1);
  struct cqe c[16];
  unsigned n = r.sq_entries + 1;
  CHECK_EQ(reap(&r, c, n, 1000), n);
  /* NOPs complete inline, in submission order. */
  for (unsigned i = 0; i < n; i++) {
    CHECK_EQ(c[i].user_data, 100 + i);
    CHECK_EQ(c[i].res, 0);
  }
  um_ring_exit(&r);
}

static void test_copy_max(void) {
  struct um_ring r;
  REQUIRE(open_ring(&r, 8) == 0);
  for (unsigned i = 0; i < 3; i++) REQUIRE(nop(&r, i) != NULL);
  CHECK_EQ(um_ring_submit(&r), 3);
  if (um_ring_cq_ready(&r) < 3) um_ring_enter(&r, 3 - um_ring_cq_ready(&r), 1, 1000);
  CHECK_EQ(um_ring_cq_ready(&r), 3);
  int32_t buf[4 * 3];
  CHECK_EQ(um_ring_copy_cqes(&r, buf, 1), 1);
  CHECK_EQ(ud_of(buf), 0);
  CHECK_EQ(um_ring_cq_ready(&r), 2);
  CHECK_EQ(um_ring_copy_cqes(&r, buf, 0), 0);
  CHECK_EQ(um_ring_copy_cqes(&r, buf, 3), 2);
  CHECK_EQ(ud_of(buf), 1);
  CHECK_EQ(ud_of(buf + 4), 2);
  CHECK_EQ(um_ring_copy_cqes(&r, buf, 3), 0);
  um_ring_exit(&r);
}

/* More than 10 x the ring size, in batches of varying size so that the SQ and
 * CQ indices wrap at every offset; every user_data must come back once. */
static void test_wraparound(void) {
  struct um_ring r;
  REQUIRE(open_ring(&r, 8) == 0);
  enum { TOTAL = 8 * 4 * 13 + 5 }; /* > 10 x cq_entries (32), > 50 x sq_entries */
  static unsigned char seen[TOTAL];
  memset(seen, 0, sizeof(seen));
  const uint64_t tag = 0xabcdULL << 40;
  unsigned sent = 0, done = 0, batch = 1, dup = 0, bad = 0;
  while (sent < TOTAL) {
    unsigned k = 0;
    while (k < batch && sent < TOTAL && nop(&r, tag | sent)) {
      sent++;
      k++;
    }
    int ret = um_ring_submit(&r);
    if (ret != (int)k) {
      CHECK_EQ(ret, k);
      break;
    }
    struct cqe c[8];
    unsigned n = reap(&r, c, k, 1000);
    CHECK_EQ(n, k);
    for (unsigned i = 0; i < n; i++) {
      uint64_t id = c[i].user_data & ~tag;
      if ((c[i].user_data & tag) != tag || id >= TOTAL || c[i].res != 0)
        bad++;
      else if (seen[id]++)
        dup++;
    }
    done += n;
    batch = batch % 8 + 1 == 8 ? 3 : batch % 8 + 1; /* 1..7, 3..7, ...: never aligned to 8 for long */
  }
  CHECK_EQ(sent, TOTAL);
  CHECK_EQ(done, TOTAL);
  CHECK_EQ(bad, 0);
  CHECK_EQ(dup, 0);
  unsigned missing = 0;
  for (unsigned i = 0; i < TOTAL; i++) missing += seen[i] != 1;
  CHECK_EQ(missing, 0);
  /* The 32-bit indices went around the ring many times. */
  CHECK_EQ(*r.sq_head, TOTAL);
  CHECK_EQ(*r.cq_head, TOTAL);
  CHECK(*r.cq_head > 10 * r.cq_entries);
  um_ring_exit(&r);
}

/* Submit more NOPs than the CQ holds without reaping: with IORING_FEAT_NODROP
 * the surplus waits on the kernel's overflow list (IORING_SQ_CQ_OVERFLOW set)
 * and comes back once we reap and enter again. None may be lost. */
static void test_cq_overflow(void) {
  struct um_ring r;
  REQUIRE(open_ring(&r, 8) == 0);
  const unsigned total = r.cq_entries + 3 * r.sq_entries; /* 56 */
  unsigned char seen[64] = {0};
  REQUIRE(total <= sizeof(seen));
  unsigned sent = 0;
  while (sent < total) {
    unsigned k = 0;
    while (sent < total && nop(&r, sent)) {
      sent++;
      k++;
    }
    int ret = um_ring_submit(&r);
    if (ret == -EBUSY) {
      /* Pre-5.19 kernels refuse to submit while overflowed CQEs are pending. */
      SKIP("submit returned EBUSY with an overflowed CQ (old kernel)");
    }
    CHECK_EQ(ret, k);
    if (ret != (int)k) break;
  }
  CHECK_EQ(um_ring_cq_ready(&r), r.cq_entries); /* full, nothing reaped */
  CHECK(*r.sq_flags & UM_SQ_CQ_OVERFLOW);
  CHECK(um_ring_needs_enter(&r));
  unsigned got = 0, dup = 0, rounds = 0;
  while (got < total && rounds++ < 100) {
    int32_t buf[4 * 8];
    unsigned n = um_ring_copy_cqes(&r, buf, 8);
    for (unsigned i = 0; i < n; i++) {
      uint64_t id = ud_of(buf + 4 * i);
      if (id >= total || seen[id]++) dup++;
      CHECK_EQ(buf[4 * i + 2], 0);
    }
    got += n;
    if (!n || um_ring_needs_enter(&r)) {
      /* Room in the CQ again: entering with GETEVENTS flushes the overflow
       * list into it. */
      int ret = um_ring_enter(&r, 0, 1, -1);
      CHECK(ret >= 0 || ret == -EBUSY || ret == -EAGAIN);
    }
  }
  CHECK_EQ(got, total);
  CHECK_EQ(dup, 0);
  CHECK_EQ(*r.cq_overflow, 0); /* the kernel's count of dropped CQEs */
  CHECK(!(*r.sq_flags & UM_SQ_CQ_OVERFLOW));
  CHECK_EQ(um_ring_cq_ready(&r), 0);
  um_ring_exit(&r);
}

/* ---- -errno results -------------------------------------------------------- */

static void test_read_ebadf(void) {
  struct um_ring r;
  REQUIRE(open_ring(&r, 8) == 0);
  int p[2];
  REQUIRE(pipe2(p, O_CLOEXEC) == 0);
  close(p[0]);
  close(p[1]);
  /* p[0] is now a closed descriptor (nothing else opens fds here). */
  char buf[16];
  struct um_sqe *s = um_ring_get_sqe(&r);
  REQUIRE(s != NULL);
  um_prep_rw(s, UM_OP_READ, p[0], buf, sizeof(buf), (uint64_t)-1);
  s->user_data = 7;
  CHECK_EQ(um_ring_submit(&r), 1); /* the error is the CQE's, not submit's */
  struct cqe c;
  CHECK_EQ(reap(&r, &c, 1, 1000), 1);
  CHECK_EQ(c.user_data, 7);
  CHECK_EQ(c.res, -EBADF);
  um_ring_exit(&r);
}

static void test_rw_pipe(void) {
  struct um_ring r;
  REQUIRE(open_ring(&r, 8) == 0);
  int p[2];
  REQUIRE(pipe2(p, O_CLOEXEC) == 0);
  char out[] = "hello, ring", in[32] = {0};
  struct um_sqe *s = um_ring_get_sqe(&r);
  REQUIRE(s != NULL);
  um_prep_rw(s, UM_OP_READ, p[0], in, sizeof(in), (uint64_t)-1);
  s->user_data = 1;
  s = um_ring_get_sqe(&r);
  REQUIRE(s != NULL);
  um_prep_rw(s, UM_OP_WRITE, p[1], out, sizeof(out), (uint64_t)-1);
  s->user_data = 2;
  CHECK_EQ(um_ring_submit(&r), 2);
  struct cqe c[2];
  CHECK_EQ(reap(&r, c, 2, 1000), 2);
  for (int i = 0; i < 2; i++) {
    CHECK(c[i].user_data == 1 || c[i].user_data == 2);
    CHECK_EQ(c[i].res, sizeof(out));
  }
  CHECK(memcmp(in, out, sizeof(out)) == 0);
  close(p[0]);
  close(p[1]);
  um_ring_exit(&r);
}

static void test_timeout_etime(void) {
  struct um_ring r;
  REQUIRE(open_ring(&r, 8) == 0);
  struct um_kernel_timespec ts = {.tv_sec = 0, .tv_nsec = 20 * 1000000};
  struct um_sqe *s = um_ring_get_sqe(&r);
  REQUIRE(s != NULL);
  um_prep_timeout(s, &ts, 0, 0);
  s->user_data = 9;
  CHECK_EQ(um_ring_submit(&r), 1);
  ts.tv_sec = 1000; /* copied at prep: must not matter any more */
  double t0 = now_ms();
  struct cqe c;
  CHECK_EQ(reap(&r, &c, 1, 5000), 1);
  double dt = now_ms() - t0;
  CHECK_EQ(c.user_data, 9);
  CHECK_EQ(c.res, -ETIME);
  CHECK(dt < 4000); /* it was the 20 ms, not the 1000 s written afterwards */

  /* count = 1: the timeout completes with 0 when one other CQE is posted. */
  ts.tv_sec = 10;
  s = um_ring_get_sqe(&r);
  REQUIRE(s != NULL);
  um_prep_timeout(s, &ts, 1, 0);
  s->user_data = 10;
  CHECK_EQ(um_ring_submit(&r), 1);
  REQUIRE(nop(&r, 11) != NULL);
  CHECK_EQ(um_ring_submit(&r), 1);
  struct cqe c2[2];
  CHECK_EQ(reap(&r, c2, 2, 5000), 2);
  int seen_timeout = 0;
  for (int i = 0; i < 2; i++)
    if (c2[i].user_data == 10) {
      seen_timeout = 1;
      CHECK_EQ(c2[i].res, 0);
    }
  CHECK(seen_timeout);
  um_ring_exit(&r);
}

static void test_cancel_read(void) {
  struct um_ring r;
  REQUIRE(open_ring(&r, 8) == 0);
  int p[2];
  REQUIRE(pipe2(p, O_CLOEXEC) == 0);
  char buf[64];
  struct um_sqe *s = um_ring_get_sqe(&r);
  REQUIRE(s != NULL);
  um_prep_rw(s, UM_OP_READ, p[0], buf, sizeof(buf), (uint64_t)-1);
  s->user_data = 0x100000001ULL;
  CHECK_EQ(um_ring_submit(&r), 1);
  /* Run task work and give it a moment: the read must still be pending. */
  CHECK_EQ(um_ring_enter(&r, 1, 1, 20), 0);
  CHECK_EQ(um_ring_cq_ready(&r), 0);
  s = um_ring_get_sqe(&r);
  REQUIRE(s != NULL);
  um_prep_cancel(s, 0x100000001ULL, 0);
  s->user_data = 2;
  CHECK_EQ(um_ring_submit(&r), 1);
  struct cqe c[2];
  CHECK_EQ(reap(&r, c, 2, 5000), 2);
  int saw_read = 0, saw_cancel = 0;
  for (int i = 0; i < 2; i++) {
    if (c[i].user_data == 0x100000001ULL) {
      saw_read = 1;
      CHECK_EQ(c[i].res, -ECANCELED);
    } else if (c[i].user_data == 2) {
      saw_cancel = 1;
      CHECK_EQ(c[i].res, 0); /* found and cancelled */
    }
  }
  CHECK(saw_read);
  CHECK(saw_cancel);

  /* Cancelling what is not there: -ENOENT. */
  s = um_ring_get_sqe(&r);
  REQUIRE(s != NULL);
  um_prep_cancel(s, 0x100000001ULL, 0);
  s->user_data = 3;
  CHECK_EQ(um_ring_submit(&r), 1);
  CHECK_EQ(reap(&r, c, 1, 1000), 1);
  CHECK_EQ(c[0].user_data, 3);
  CHECK_EQ(c[0].res, -ENOENT);
  close(p[0]);
  close(p[1]);
  um_ring_exit(&r);
}

/* ---- waiting ------------------------------------------------------------- */

static void test_enter_timeout(void) {
  struct um_ring r;
  REQUIRE(open_ring(&r, 8) == 0);
  if (!(r.features & UM_FEAT_EXT_ARG)) {
    um_ring_exit(&r);
    SKIP("IORING_FEAT_EXT_ARG missing (Linux < 5.11)");
  }
  double t0 = now_ms();
  int ret = um_ring_enter(&r, 1, 1, 50);
  double dt = now_ms() - t0;
  CHECK_EQ(ret, 0); /* ETIME is not an error for the caller */
  CHECK_EQ(um_ring_cq_ready(&r), 0);
  /* A timeout never fires early: it did wait (causality, not speed). */
  CHECK(dt >= 45);
  /* With a CQE already there, the wait returns at once with it. */
  REQUIRE(nop(&r, 5) != NULL);
  CHECK(um_ring_enter(&r, 1, 1, 10000) >= 0);
  CHECK_EQ(um_ring_cq_ready(&r), 1);
  um_ring_exit(&r);
}

/* ---- probe, version ------------------------------------------------------ */

static void test_probe(void) {
  struct um_ring r;
  REQUIRE(open_ring(&r, 8) == 0);
  uint8_t sup[256];
  memset(sup, 0xee, sizeof(sup));
  int ret = um_ring_probe(&r, sup, sizeof(sup));
  if (ret == -EINVAL) {
    um_ring_exit(&r);
    SKIP("IORING_REGISTER_PROBE missing (Linux < 5.6)");
  }
  CHECK(ret > UM_OP_TIMEOUT);
  CHECK(ret > UM_OP_WRITE);
  CHECK_EQ(sup[UM_OP_NOP], 1);
  CHECK_EQ(sup[UM_OP_READ], 1);
  CHECK_EQ(sup[UM_OP_WRITE], 1);
  CHECK_EQ(sup[UM_OP_TIMEOUT], 1);
  CHECK_EQ(sup[UM_OP_ASYNC_CANCEL], 1);
  unsigned junk = 0;
  for (unsigned i = 0; i < sizeof(sup); i++) junk += sup[i] > 1;
  CHECK_EQ(junk, 0);      /* every entry written, 0 or 1 */
  CHECK_EQ(sup[255], 0);  /* beyond last_op */
  /* A short output array is respected. */
  uint8_t small[4];
  CHECK_EQ(um_ring_probe(&r, small, sizeof(small)), ret);
  CHECK_EQ(small[UM_OP_NOP], 1);
  printf("  kernel knows %d opcodes\n", ret);
  um_ring_exit(&r);
}

static void test_kernel_version(void) {
  int v = um_kernel_version();
  CHECK(v > 0);
  struct utsname u;
  REQUIRE(uname(&u) == 0);
  int major = 0, minor = 0;
  REQUIRE(sscanf(u.release, "%d.%d", &major, &minor) == 2);
  CHECK_EQ(v, major * 100 + minor);
  CHECK(v >= 505); /* below 5.5 um_ring_init fails anyway */
  printf("  kernel %s -> %d\n", u.release, v);
}

/* ---- eventfd ------------------------------------------------------------- */

static void drain_eventfd(int fd) {
  uint64_t v;
  while (read(fd, &v, sizeof(v)) == (ssize_t)sizeof(v)) {
  }
}

static void test_eventfd(void) {
  struct um_ring r;
  REQUIRE(open_ring(&r, 8) == 0);
  int efd = um_ring_register_eventfd(&r);
  if (efd == -EINVAL) {
    um_ring_exit(&r);
    SKIP("IORING_REGISTER_EVENTFD refused");
  }
  REQUIRE(efd >= 0);
  CHECK_EQ(r.event_fd, efd);
  CHECK(fcntl(efd, F_GETFD) & FD_CLOEXEC);
  CHECK(fcntl(efd, F_GETFL) & O_NONBLOCK);
  CHECK(!readable(efd, 0));

  /* Immediate case: a NOP completes during submission and signals. */
  REQUIRE(nop(&r, 1) != NULL);
  CHECK_EQ(um_ring_submit(&r), 1);
  CHECK(readable(efd, 0));
  drain_eventfd(efd);
  CHECK(!readable(efd, 0));
  struct cqe c;
  CHECK_EQ(reap(&r, &c, 1, 1000), 1);
  CHECK_EQ(c.user_data, 1);

  /* Deferred case: a timeout fires later, with no thread of ours in the
   * kernel. The eventfd must become readable by itself (this is what wakes
   * libuv in the addon), and at that point either the CQE is visible or
   * um_ring_needs_enter() says to enter for it (DEFER_TASKRUN: the
   * completion is task work until we enter). */
  /* Long enough that the "not yet readable" check cannot race the timer. */
  struct um_kernel_timespec ts = {.tv_sec = 0, .tv_nsec = 250 * 1000000};
  struct um_sqe *s = um_ring_get_sqe(&r);
  REQUIRE(s != NULL);
  um_prep_timeout(s, &ts, 0, 0);
  s->user_data = 2;
  CHECK_EQ(um_ring_submit(&r), 1);
  drain_eventfd(efd);
  CHECK(!readable(efd, 0));
  CHECK(readable(efd, 5000));
  CHECK(um_ring_cq_ready(&r) > 0 || um_ring_needs_enter(&r));
  if (!um_ring_cq_ready(&r)) CHECK(um_ring_enter(&r, 0, 1, -1) >= 0);
  CHECK_EQ(um_ring_cq_ready(&r), 1); /* no wait needed any more */
  CHECK_EQ(reap(&r, &c, 1, 0), 1);
  CHECK_EQ(c.user_data, 2);
  CHECK_EQ(c.res, -ETIME);
  um_ring_exit(&r);
  CHECK_EQ(r.event_fd, -1);
  CHECK_EQ(fcntl(efd, F_GETFD), -1); /* closed by um_ring_exit */
}

/* ---- SQPOLL -------------------------------------------------------------- */

static void test_sqpoll_nop(void) {
  struct um_ring r;
  int ret = um_ring_init(&r, 8, UM_RING_WANT_SQPOLL, 10);
  if (ret == -EPERM || ret == -EINVAL) SKIP("SQPOLL refused: %s", strerror(-ret));
  REQUIRE(ret == 0);
  print_setup_flags(r.setup_flags);
  CHECK(r.setup_flags & UM_SETUP_SQPOLL);
  /* Let the SQ thread go idle so that the wakeup path runs too. */
  usleep(30 * 1000);
  for (unsigned round = 0; round < 3; round++) {
    for (unsigned i = 0; i < 4; i++) REQUIRE(nop(&r, round * 10 + i) != NULL);
    CHECK(um_ring_submit(&r) >= 0);
    struct cqe c[4];
    CHECK_EQ(reap(&r, c, 4, 2000), 4);
    for (unsigned i = 0; i < 4; i++) CHECK_EQ(c[i].res, 0);
  }
  um_ring_exit(&r);
}

/* ---- runner -------------------------------------------------------------- */

static const struct {
  const char *name;
  void (*fn)(void);
} tests[] = {
    {"abi", test_abi},
    {"init", test_init},
    {"nop", test_nop},
    {"sq_full", test_sq_full},
    {"copy_max", test_copy_max},
    {"wraparound", test_wraparound},
    {"cq_overflow", test_cq_overflow},
    {"read_ebadf", test_read_ebadf},
    {"rw_pipe", test_rw_pipe},
    {"timeout_etime", test_timeout_etime},
    {"cancel_read", test_cancel_read},
    {"enter_timeout", test_enter_timeout},
    {"probe", test_probe},
    {"kernel_version", test_kernel_version},
    {"eventfd", test_eventfd},
    {"sqpoll_nop", test_sqpoll_nop},
};

int main(int argc, char **argv) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  /* io_uring at all? (kernel.io_uring_disabled, seccomp, no CONFIG_IO_URING) */
  struct um_ring probe_ring;
  int ret = um_ring_init(&probe_ring, 8, 0, 0);
  if (ret == -ENOSYS || ret == -EPERM) {
    printf("io_uring unavailable (%s): all checks skipped\n", strerror(-ret));
    return 77;
  }
  if (ret == 0) um_ring_exit(&probe_ring);

  const size_t n = sizeof(tests) / sizeof(tests[0]);
  printf("1..%zu\n", n);
  for (size_t i = 0; i < n; i++) {
    if (argc > 1 && strcmp(argv[1], tests[i].name) != 0) continue;
    current_test = tests[i].name;
    test_failed = test_skipped = 0;
    tests[i].fn();
    if (test_failed) {
      n_failed_tests++;
      printf("not ok %zu - %s\n", i + 1, tests[i].name);
    } else if (test_skipped) {
      n_skipped_tests++;
      printf("ok %zu - %s # SKIP\n", i + 1, tests[i].name);
    } else {
      printf("ok %zu - %s\n", i + 1, tests[i].name);
    }
  }
  printf("# %d checks, %d tests failed, %d skipped\n", n_checks, n_failed_tests, n_skipped_tests);
  if (n_failed_tests) return 1;
  return n_skipped_tests ? 77 : 0;
}
