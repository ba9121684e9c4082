/*
 * bench/c/bench_common.h: small helpers every C benchmark program uses
 * (environment parameters, a monotonic clock, an SQE that submits when the
 * SQ is full). Header-only: bench/c/build.sh builds each .c on its own.
 */
#ifndef BENCH_COMMON_H
#define BENCH_COMMON_H

#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "um.h"

static inline long env_long(const char *name, long dflt) {
  const char *v = getenv(name);
  return v && *v ? atol(v) : dflt;
}

static inline double now_sec(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec / 1e9;
}

static inline void die(const char *what, int err) {
  fprintf(stderr, "%s: %s\n", what, strerror(err < 0 ? -err : err));
  exit(1);
}

/* An SQE, submitting what is queued when the SQ is full. */
static inline struct um_sqe *get_sqe(struct um_ring *ring) {
  struct um_sqe *s = um_ring_get_sqe(ring);
  if (!s) {
    int r = um_ring_submit(ring);
    if (r < 0) die("submit", r);
    s = um_ring_get_sqe(ring);
  }
  if (!s) die("no SQE", EBUSY);
  return s;
}

#endif
