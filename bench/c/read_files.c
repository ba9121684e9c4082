/*
 * bench/c/read_files.c: the read-files benchmark's limit on the project's own
 * ring layer, no JavaScript. Reads DIR/s0..s(SMALL-1) and DIR/l0..l(LARGE-1)
 * whole with the op pattern of m.readFiles (src/read-files.ts): per file
 * OPENAT, then one hardlinked chain READ of up to 32 KiB into the slot's
 * scratch buffer / READ of 1 byte (EOF check) / CLOSE; a file that filled
 * the scratch buffer is opened again with STATX (by path) beside the OPENAT,
 * and read by a chain READ of the statx size / READ of 1 byte / CLOSE. At most
 * CONCURRENCY (256) files in flight. Contents go to a malloc'd buffer of the
 * file's size (copied from scratch for small files), as readFiles returns
 * one buffer per file (all kept until the run ends, then freed). RUNS (5)
 * timed runs after one untimed one (malloc's free lists warm up as node's
 * heap does); prints the median as one JSON line. MODE=sync reads them
 * with plain syscalls instead (run_sync), for comparison.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bench_common.h"

#define HARDLINK (1U << 3)

static struct um_ring ring;

static struct um_sqe *sqe(void) { return get_sqe(&ring); }

/* user_data: slot index * 8 + step */
enum { OPEN, STATX, READ, PROBE, CLOSE };
#define SCRATCH (32 * 1024)

struct slot {
  int fd, pending, sized;
  char path[512];
  struct statx stx;
  char *buf;
  char probe;
  long size, got, probed, index;
  char scratch[SCRATCH];
};

static long small, next_file, nfiles;
static const char *dir;
static struct slot *slots;
static char **kept;

static void submit_open(long k, int with_statx) {
  struct slot *s = &slots[k];
  struct um_sqe *q = sqe();
  q->opcode = UM_OP_OPENAT;
  q->fd = AT_FDCWD;
  q->addr = (uint64_t)(uintptr_t)s->path;
  q->op_flags = O_RDONLY | O_CLOEXEC;
  q->user_data = k * 8 + OPEN;
  s->pending = 1;
  if (!with_statx) return;
  q = sqe();
  q->opcode = UM_OP_STATX;
  q->fd = AT_FDCWD;
  q->addr = (uint64_t)(uintptr_t)s->path;
  q->len = STATX_SIZE | STATX_TYPE;
  q->off = (uint64_t)(uintptr_t)&s->stx;
  q->user_data = k * 8 + STATX;
  s->pending = 2;
}

static void start(long k) {
  struct slot *s = &slots[k];
  long idx = next_file++;
  s->sized = 0;
  s->index = idx;
  if (idx < small) snprintf(s->path, sizeof s->path, "%s/s%ld", dir, idx);
  else snprintf(s->path, sizeof s->path, "%s/l%ld", dir, idx - small);
  submit_open(k, 0);
}

static void chain(long k, char *buf, uint32_t len) {
  struct slot *s = &slots[k];
  /* The three SQEs must go in one submit to stay one chain. */
  if (um_ring_sq_ready(&ring) + 3 > 4096) um_ring_submit(&ring);
  struct um_sqe *q = sqe();
  um_prep_rw(q, UM_OP_READ, s->fd, buf, len, (uint64_t)-1);
  q->flags = HARDLINK;
  q->user_data = k * 8 + READ;
  q = sqe();
  um_prep_rw(q, UM_OP_READ, s->fd, &s->probe, 1, (uint64_t)-1);
  q->flags = HARDLINK;
  q->user_data = k * 8 + PROBE;
  q = sqe();
  q->opcode = UM_OP_CLOSE;
  q->fd = s->fd;
  q->user_data = k * 8 + CLOSE;
  s->pending = 3;
}

static long run_once(long conc) {
  int32_t out[4 * 1024];
  long done = 0, bytes = 0;
  next_file = 0;
  for (long k = 0; k < conc; k++) start(k);
  while (done < nfiles) {
    int ret = um_ring_enter(&ring, 1, 1, -1);
    if (ret < 0) {
      fprintf(stderr, "enter: %s\n", strerror(-ret));
      return -1;
    }
    unsigned n = um_ring_copy_cqes(&ring, out, 1024);
    for (unsigned i = 0; i < n; i++) {
      uint64_t ud = (uint32_t)out[4 * i];
      long k = (long)(ud / 8), step = (long)(ud % 8), res = out[4 * i + 2];
      struct slot *s = &slots[k];
      if (res < 0 && step != CLOSE) {
        fprintf(stderr, "op %ld on %s: %s\n", step, s->path, strerror(-res));
        return -1;
      }
      if (step == OPEN) s->fd = (int)res;
      else if (step == READ) s->got = res;
      else if (step == PROBE) s->probed = res;
      if (--s->pending > 0) continue;
      if (step == OPEN || step == STATX) {
        if (!s->sized) {
          chain(k, s->scratch, SCRATCH);
        } else {
          s->size = (long)s->stx.stx_size;
          s->buf = malloc(s->size ? s->size : 1);
          chain(k, s->buf, (uint32_t)s->size);
        }
        continue;
      }
      /* The chain is done (its close too). */
      if (!s->sized) {
        if (s->got < SCRATCH && s->probed == 0) {
          s->buf = malloc(s->got ? s->got : 1);
          memcpy(s->buf, s->scratch, s->got);
          s->size = s->got;
        } else {
          s->sized = 1;
          submit_open(k, 1);
          continue;
        }
      } else if (s->got != s->size || s->probed != 0) {
        fprintf(stderr, "%s changed size\n", s->path);
        return -1;
      }
      bytes += s->size;
      kept[s->index] = s->buf; /* handed to the caller, as readFiles' Map holds them */
      done++;
      if (next_file < nfiles) start(k);
    }
  }
  return bytes;
}

/* MODE=sync: the same files, buffers and kept/free pattern through plain
 * open / fstat / read / read (EOF probe) / close, one file at a time: what
 * the ring version is measured against (issue 13: "within 1.2x of the C
 * sync loop"). */
static long run_sync(void) {
  long bytes = 0;
  char path[512];
  for (long i = 0; i < nfiles; i++) {
    if (i < small) snprintf(path, sizeof path, "%s/s%ld", dir, i);
    else snprintf(path, sizeof path, "%s/l%ld", dir, i - small);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      perror(path);
      return -1;
    }
    struct stat st;
    if (fstat(fd, &st) < 0) {
      perror("fstat");
      return -1;
    }
    char *buf = malloc(st.st_size ? (size_t)st.st_size : 1);
    ssize_t n = read(fd, buf, (size_t)st.st_size);
    char probe;
    ssize_t m = read(fd, &probe, 1);
    close(fd);
    if (n != st.st_size || m != 0) {
      fprintf(stderr, "%s changed size\n", path);
      return -1;
    }
    kept[i] = buf;
    bytes += n;
  }
  return bytes;
}

int main(int argc, char **argv) {
  dir = argc > 1 ? argv[1] : getenv("DIR");
  if (!dir) {
    fprintf(stderr, "usage: read_files DIR (SMALL, LARGE, CONCURRENCY from env)\n");
    return 2;
  }
  small = env_long("SMALL", 2000);
  long large = env_long("LARGE", 100), conc = env_long("CONCURRENCY", 256);
  nfiles = small + large;
  int ret = um_ring_init(&ring, 4096, 0, 0);
  if (ret < 0) {
    fprintf(stderr, "um_ring_init: %s\n", strerror(-ret));
    return 1;
  }
  if (conc > nfiles) conc = nfiles;
  slots = calloc(conc, sizeof *slots);
  kept = calloc(nfiles, sizeof *kept);
  long runs = env_long("RUNS", 5), bytes = 0;
  const char *mode = getenv("MODE");
  int sync_mode = mode && strcmp(mode, "sync") == 0;
  double *secs = calloc(runs, sizeof *secs);
  /* One untimed run first (the heap's free lists warm up, as node's do);
   * then the median of RUNS. Buffers are freed after each run. */
  for (long r = -1; r < runs; r++) {
    double t0 = now_sec();
    bytes = sync_mode ? run_sync() : run_once(conc);
    if (bytes < 0) return 1;
    if (r >= 0) secs[r] = now_sec() - t0;
    for (long i = 0; i < nfiles; i++) free(kept[i]);
  }
  for (long i = 1; i < runs; i++)
    for (long j = i; j > 0 && secs[j] < secs[j - 1]; j--) {
      double t = secs[j];
      secs[j] = secs[j - 1];
      secs[j - 1] = t;
    }
  printf("{\"contender\":\"%s\",\"files\":%ld,\"bytes\":%ld,\"seconds\":%.6f,\"runs\":%ld}\n", sync_mode ? "c-sync" : "c-ring", nfiles, bytes, secs[runs / 2], runs);
  um_ring_exit(&ring);
  return 0;
}
