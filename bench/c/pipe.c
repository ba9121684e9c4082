/*
 * bench/c/pipe.c: the pipe benchmark's physical limit on the project's own
 * ring layer, no JavaScript. GROUPS pipes; per pipe a writer with one WRITE of
 * CHUNK bytes in flight at a time (COUNT of them) and a reader keeping one
 * READ in flight into a 64 KiB buffer until it has COUNT * CHUNK bytes: the
 * same op pattern as contender (a) of bench/scenarios/pipe.ts. Prints one
 * JSON line.
 *
 * Env: GROUPS (48), COUNT (10000), CHUNK (1024). Note that bash ignores
 * `GROUPS=8 cmd` (GROUPS is one of its special variables): use
 * `env GROUPS=8 bench/bin/pipe`.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench_common.h"

#define READ_BUF 65536
#define MAX_GROUPS 1024 /* 64 MiB of BSS, touched only as far as GROUPS reaches (bench/sweep-pipe goes to 1,000) */

static struct um_ring ring;

static struct um_sqe *sqe(void) { return get_sqe(&ring); }

int main(void) {
  long groups = env_long("GROUPS", 48), count = env_long("COUNT", 10000), chunk = env_long("CHUNK", 1024);
  if (groups < 1 || count < 1 || chunk < 1) {
    fprintf(stderr, "GROUPS, COUNT and CHUNK must be >= 1\n");
    return 1;
  }
  int ret = um_ring_init(&ring, 4096, 0, 0);
  if (ret < 0) {
    fprintf(stderr, "um_ring_init: %s\n", strerror(-ret));
    return 1;
  }
  int(*fds)[2] = calloc(groups, sizeof(*fds));
  /* Read buffers in BSS: measured ~1.0 M chunks/s against ~0.65 M with the
   * same 3 MiB from malloc (the kernel's copy into them is the hot path, and
   * this placement is the faster one here); the limit should use the best. */
  static char rbufs_static[MAX_GROUPS * READ_BUF];
  if (groups > MAX_GROUPS) {
    fprintf(stderr, "GROUPS > %d\n", MAX_GROUPS);
    return 1;
  }
  char *rbufs = rbufs_static;
  char *wbuf = malloc(chunk);
  long *written = calloc(groups, sizeof(long)), *got = calloc(groups, sizeof(long));
  long *wpos = calloc(groups, sizeof(long)); /* bytes of the current chunk written */
  memset(wbuf, 'a', chunk);
  for (long g = 0; g < groups; g++) {
    if (pipe2(fds[g], O_CLOEXEC) < 0) {
      perror("pipe2");
      return 1;
    }
  }
  const long total = count * chunk;
  long done = 0;
  double t0 = now_sec();
  for (long g = 0; g < groups; g++) {
    struct um_sqe *s = sqe();
    um_prep_rw(s, UM_OP_WRITE, fds[g][1], wbuf, chunk, (uint64_t)-1);
    s->user_data = g * 2;
    s = sqe();
    um_prep_rw(s, UM_OP_READ, fds[g][0], rbufs + g * READ_BUF, READ_BUF, (uint64_t)-1);
    s->user_data = g * 2 + 1;
  }
  int32_t out[4 * 1024];
  while (done < 2 * groups) {
    ret = um_ring_enter(&ring, 1, 1, -1);
    if (ret < 0) {
      fprintf(stderr, "enter: %s\n", strerror(-ret));
      return 1;
    }
    unsigned n = um_ring_copy_cqes(&ring, out, 1024);
    {
      for (unsigned i = 0; i < n; i++) {
        long ud = (uint32_t)out[4 * i], res = out[4 * i + 2], g = ud / 2;
        if (res < 0) {
          fprintf(stderr, "op %ld: %s\n", ud, strerror(-res));
          return 1;
        }
        if (ud % 2 == 0) {
          if (wpos[g] + res < chunk) {
            /* Short write (only with CHUNK > pipe capacity): write the rest
             * of the same chunk. */
            wpos[g] += res;
            struct um_sqe *s = sqe();
            um_prep_rw(s, UM_OP_WRITE, fds[g][1], wbuf + wpos[g], chunk - wpos[g], (uint64_t)-1);
            s->user_data = ud;
            continue;
          }
          wpos[g] = 0;
          if (++written[g] < count) {
            struct um_sqe *s = sqe();
            um_prep_rw(s, UM_OP_WRITE, fds[g][1], wbuf, chunk, (uint64_t)-1);
            s->user_data = ud;
          } else
            done++;
        } else {
          if (res == 0) {
            fprintf(stderr, "early EOF\n");
            return 1;
          }
          got[g] += res;
          if (got[g] < total) {
            struct um_sqe *s = sqe();
            um_prep_rw(s, UM_OP_READ, fds[g][0], rbufs + g * READ_BUF, READ_BUF, (uint64_t)-1);
            s->user_data = ud;
          } else
            done++;
        }
      }
    }
  }
  double secs = now_sec() - t0;
  for (long g = 0; g < groups; g++) {
    if (got[g] != total || written[g] != count) {
      fprintf(stderr, "group %ld: got %ld of %ld\n", g, got[g], total);
      return 1;
    }
  }
  printf("{\"contender\":\"c-ring\",\"groups\":%ld,\"chunks\":%ld,\"chunkSize\":%ld,\"seconds\":%.6f,\"chunksPerSec\":%.0f}\n",
         groups, groups * count, chunk, secs, groups * count / secs);
  um_ring_exit(&ring);
  for (long g = 0; g < groups; g++) {
    close(fds[g][0]);
    close(fds[g][1]);
  }
  free(fds);
  free(wbuf);
  free(written);
  free(got);
  free(wpos);
  return 0;
}
