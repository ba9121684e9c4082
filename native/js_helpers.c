/*
 * js_helpers.c: the synchronous static helpers of UringMachine (UM.pipe,
 * UM.socketpair, ...). Each returns its result, or -errno as a number that
 * src/machine.ts turns into a UMError.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "js.h"

static napi_value pair(napi_env env, int a, int b) {
  napi_value arr;
  if (napi_create_array_with_length(env, 2, &arr) != napi_ok) return NULL;
  napi_set_element(env, arr, 0, js_int(env, a));
  napi_set_element(env, arr, 1, js_int(env, b));
  return arr;
}

static napi_value h_pipe(napi_env env, napi_callback_info info) {
  (void)info;
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) < 0) return js_int(env, -errno);
  return pair(env, fds[0], fds[1]);
}

static napi_value h_socketpair(napi_env env, napi_callback_info info) {
  JS_ARGS(env, info, 3);
  int fds[2];
  int domain = js_to_i32(env, argv[0], AF_UNIX);
  int type = js_to_i32(env, argv[1], SOCK_STREAM);
  int protocol = js_to_i32(env, argv[2], 0);
  if (socketpair(domain, type | SOCK_CLOEXEC, protocol, fds) < 0) return js_int(env, -errno);
  return pair(env, fds[0], fds[1]);
}

static napi_value h_kernel_version(napi_env env, napi_callback_info info) {
  (void)info;
  return js_int(env, um_kernel_version());
}

static napi_value h_pidfd_open(napi_env env, napi_callback_info info) {
  JS_ARGS(env, info, 1);
  long ret = syscall(UM_NR_pidfd_open, js_to_i32(env, argv[0], -1), 0);
  return js_int(env, ret < 0 ? -errno : ret);
}

static napi_value h_pidfd_send_signal(napi_env env, napi_callback_info info) {
  JS_ARGS(env, info, 2);
  long ret = syscall(UM_NR_pidfd_send_signal, js_to_i32(env, argv[0], -1), js_to_i32(env, argv[1], 0), NULL, 0);
  return js_int(env, ret < 0 ? -errno : 0);
}

static napi_value h_io_nonblock(napi_env env, napi_callback_info info) {
  JS_ARGS(env, info, 1);
  int fl = fcntl(js_to_i32(env, argv[0], -1), F_GETFL);
  if (fl < 0) return js_int(env, -errno);
  return js_int(env, (fl & O_NONBLOCK) ? 1 : 0);
}

static napi_value h_set_nonblock(napi_env env, napi_callback_info info) {
  JS_ARGS(env, info, 2);
  int fd = js_to_i32(env, argv[0], -1);
  bool on = false;
  napi_get_value_bool(env, argv[1], &on);
  int fl = fcntl(fd, F_GETFL);
  if (fl < 0) return js_int(env, -errno);
  fl = on ? (fl | O_NONBLOCK) : (fl & ~O_NONBLOCK);
  if (fcntl(fd, F_SETFL, fl) < 0) return js_int(env, -errno);
  return js_int(env, 0);
}

/* socketDomain(fd): SO_DOMAIN of a socket (AF_UNIX...), or -errno
 * (-ENOTSOCK for anything else). The multishot fd ops need it: on Linux
 * 6.18 a multishot recv/read on an AF_UNIX stream socket can miss the EOF
 * that arrives while it is working through a backlog (liburing issue
 * #1549), so those sockets are read with one-shot ops instead. */
static napi_value h_socket_domain(napi_env env, napi_callback_info info) {
  JS_ARGS(env, info, 1);
  int domain = 0;
  socklen_t len = sizeof(domain);
  if (getsockopt(js_to_i32(env, argv[0], -1), SOL_SOCKET, SO_DOMAIN, &domain, &len) < 0) return js_int(env, -errno);
  return js_int(env, domain);
}

/* Plain close(2), for cleanup paths that must not wait on the ring (an fd an
 * op produced after its fiber was cancelled). */
static napi_value h_close_sync(napi_env env, napi_callback_info info) {
  JS_ARGS(env, info, 1);
  return js_int(env, close(js_to_i32(env, argv[0], -1)) < 0 ? -errno : 0);
}

/* addressOf(view): the address of the first byte of view's ArrayBuffer, as a
 * number (user-space addresses fit in 53 bits). Asking V8 for the buffer
 * moves an on-heap typed array's contents off-heap first, so the address is
 * stable for the life of the (non-detached) buffer; JS caches it per
 * ArrayBuffer. */
static napi_value h_address_of(napi_env env, napi_callback_info info) {
  JS_ARGS(env, info, 1);
  void *data;
  size_t len, off;
  napi_typedarray_type type;
  if (napi_get_typedarray_info(env, argv[0], &type, &len, &data, NULL, &off) != napi_ok) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "addressOf takes a typed array");
    return NULL;
  }
  napi_value out;
  NAPI_CALL(env, napi_create_double(env, (double)((uintptr_t)data - off), &out));
  return out;
}

/* ---- Sockets (issue 3): plain-syscall fallbacks ----
 * bind(2) and listen(2) for kernels without IORING_OP_BIND / IORING_OP_LISTEN
 * (before 6.11), and getsockopt(2) / setsockopt(2) for what IORING_OP_URING_CMD
 * cannot do (before 6.7; getsockopt at a level other than SOL_SOCKET). All are
 * non-blocking by nature. Each returns 0 or -errno. */

/* The bytes of a typed array argument, or NULL. */
static void *view_bytes(napi_env env, napi_value v, size_t *len) {
  napi_typedarray_type type;
  size_t n, off;
  void *data;
  napi_value ab;
  if (napi_get_typedarray_info(env, v, &type, &n, &data, &ab, &off) != napi_ok) return NULL;
  size_t width = type == napi_int32_array || type == napi_uint32_array || type == napi_float32_array ? 4
                 : type == napi_int16_array || type == napi_uint16_array                             ? 2
                 : type == napi_float64_array || type == napi_bigint64_array || type == napi_biguint64_array ? 8
                                                                                                   : 1;
  *len = n * width;
  return data;
}

/* bindSync(fd, sockaddr: Uint8Array, addrlen) */
static napi_value h_bind_sync(napi_env env, napi_callback_info info) {
  JS_ARGS(env, info, 3);
  size_t len = 0;
  void *addr = view_bytes(env, argv[1], &len);
  int32_t addrlen = js_to_i32(env, argv[2], -1);
  if (addr == NULL || addrlen < 0 || (size_t)addrlen > len) return js_int(env, -EINVAL);
  int ret = bind(js_to_i32(env, argv[0], -1), (const struct sockaddr *)addr, (socklen_t)addrlen);
  return js_int(env, ret < 0 ? -errno : 0);
}

/* inotifyInit(): inotify_init1(IN_NONBLOCK | IN_CLOEXEC): an fd or -errno.
 * Non-blocking so that a read through the ring waits by poll, not on an
 * io-wq thread. */
static napi_value h_inotify_init(napi_env env, napi_callback_info info) {
  (void)info;
  int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  return js_int(env, fd < 0 ? -errno : fd);
}

/* inotifyAddWatch(fd, path (NUL-terminated bytes), mask): a watch descriptor or -errno. */
static napi_value h_inotify_add_watch(napi_env env, napi_callback_info info) {
  JS_ARGS(env, info, 3);
  size_t len = 0;
  char *path = view_bytes(env, argv[1], &len);
  if (path == NULL || len == 0 || path[len - 1] != 0) return js_int(env, -EINVAL);
  uint32_t mask = (uint32_t)js_to_i32(env, argv[2], 0);
  int wd = inotify_add_watch(js_to_i32(env, argv[0], -1), path, mask);
  return js_int(env, wd < 0 ? -errno : wd);
}

/* listenSync(fd, backlog) */
static napi_value h_listen_sync(napi_env env, napi_callback_info info) {
  JS_ARGS(env, info, 2);
  int ret = listen(js_to_i32(env, argv[0], -1), js_to_i32(env, argv[1], 0));
  return js_int(env, ret < 0 ? -errno : 0);
}

/* getsockoptSync(fd, level, opt, out: Int32Array(1)): an int-valued option into out[0]. */
static napi_value h_getsockopt_sync(napi_env env, napi_callback_info info) {
  JS_ARGS(env, info, 4);
  size_t len = 0;
  int *out = view_bytes(env, argv[3], &len);
  if (out == NULL || len < sizeof(int)) return js_int(env, -EINVAL);
  int v = 0;
  socklen_t optlen = sizeof v;
  int ret = getsockopt(js_to_i32(env, argv[0], -1), js_to_i32(env, argv[1], 0), js_to_i32(env, argv[2], 0), &v, &optlen);
  if (ret < 0) return js_int(env, -errno);
  *out = v;
  return js_int(env, 0);
}

/* setsockoptSync(fd, level, opt, value): an int-valued option. */
static napi_value h_setsockopt_sync(napi_env env, napi_callback_info info) {
  JS_ARGS(env, info, 4);
  int v = js_to_i32(env, argv[3], 0);
  int ret = setsockopt(js_to_i32(env, argv[0], -1), js_to_i32(env, argv[1], 0), js_to_i32(env, argv[2], 0), &v, sizeof v);
  return js_int(env, ret < 0 ? -errno : 0);
}
/* ---- end (issue 3) ---- */

/* ---- Node stream adapters (issue 10) ----
 * sockName(fd, peer, out: Uint8Array): getpeername(2) (peer true) or
 * getsockname(2) into out; the address length, or -errno. No io_uring op
 * exists for these on the kernels we support, and neither call blocks. */
static napi_value h_sock_name(napi_env env, napi_callback_info info) {
  JS_ARGS(env, info, 3);
  size_t len = 0;
  void *out = view_bytes(env, argv[2], &len);
  if (out == NULL) return js_int(env, -EINVAL);
  bool peer = false;
  napi_get_value_bool(env, argv[1], &peer);
  socklen_t alen = (socklen_t)len;
  int fd = js_to_i32(env, argv[0], -1);
  int ret = peer ? getpeername(fd, (struct sockaddr *)out, &alen) : getsockname(fd, (struct sockaddr *)out, &alen);
  return js_int(env, ret < 0 ? -errno : (int)alen);
}
/* ---- end (issue 10) ---- */

/* ---- Result memory for readFiles (issue 13) ----
 * hugeBuffer(size): an ArrayBuffer of `size` bytes over an anonymous
 * mapping (rounded up to 4 KiB) aligned to 2 MiB and, where that pays,
 * marked MADV_HUGEPAGE, or null if none can be had (the caller then
 * allocates as usual).
 *
 * Fresh memory is what reading files costs most here: each first touch of
 * a 4 KiB page is a fault, and on a VM that reports free memory to its
 * host (virtio-balloon free page reporting, as on this VM class) memory
 * freed and taken again faults on the host too. Two answers:
 * - Huge pages: where transparent huge pages are on ("always" or
 *   "madvise"), each 2 MiB faults in as one page (measured: 100 MiB
 *   touched in ~5 ms instead of ~35 ms); not on a VM that reports free
 *   pages to its host (want_huge_pages below).
 * - Reuse: when V8 collects the buffer, its finalizer keeps the mapping
 *   for the next hugeBuffer of the same size, up to POOL_MAX bytes in all
 *   (the rest is unmapped). A reused mapping holds an earlier result's
 *   bytes, as Buffer.allocUnsafe's memory may: readFiles only hands out
 *   bytes a read wrote. Mappings are process-wide (a mutex: finalizers and
 *   calls may come from any worker thread's environment).
 * A read into the buffer pins its view until the final CQE, as for any
 * other buffer, so the finalizer never runs while the kernel may write
 * (teardown aside: see huge_env). */

#define HUGE_ALIGN ((size_t)2 << 20)
#define POOL_MAX ((size_t)256 << 20)
#define POOL_SLOTS 256

static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
  void *p;
  size_t size;
  int old;      /* in the pool at the last trim */
  uint64_t seq; /* when it came in: the oldest make room for a new one */
} pool[POOL_SLOTS];
static unsigned pool_n;
static size_t pool_bytes;
static uint64_t pool_seq;
static double stat_reused, stat_mapped, stat_unmapped, stat_live;

static void *pool_take(size_t size) {
  void *p = NULL;
  pthread_mutex_lock(&pool_lock);
  for (unsigned i = pool_n; i-- > 0;) {
    if (pool[i].size == size) {
      p = pool[i].p;
      pool_bytes -= size;
      pool[i] = pool[--pool_n];
      stat_reused++;
      break;
    }
  }
  pthread_mutex_unlock(&pool_lock);
  return p;
}

/* Back to the pool (or unmapped if it is full). */
static void huge_release(void *data, size_t size) {
  /* Full: the mappings that came in first go, as long as that makes room
   * (a newly freed mapping is the likelier to be asked for again: a large
   * file's own size is only reused if that size is read again). */
  void *gone[POOL_SLOTS];
  size_t gone_size[POOL_SLOTS];
  unsigned ng = 0;
  pthread_mutex_lock(&pool_lock);
  stat_live--;
  int kept = size <= POOL_MAX;
  while (kept && (pool_n == POOL_SLOTS || pool_bytes + size > POOL_MAX)) {
    unsigned oldest = 0;
    for (unsigned i = 1; i < pool_n; i++) {
      if (pool[i].seq < pool[oldest].seq) oldest = i;
    }
    gone[ng] = pool[oldest].p;
    gone_size[ng++] = pool[oldest].size;
    pool_bytes -= pool[oldest].size;
    pool[oldest] = pool[--pool_n];
    stat_unmapped++;
  }
  if (kept) {
    pool[pool_n].p = data;
    pool[pool_n].size = size;
    pool[pool_n].old = 0;
    pool[pool_n].seq = ++pool_seq;
    pool_n++;
    pool_bytes += size;
  } else {
    stat_unmapped++;
  }
  pthread_mutex_unlock(&pool_lock);
  for (unsigned i = 0; i < ng; i++) munmap(gone[i], gone_size[i]);
  if (!kept) munmap(data, size);
}

/* When a finalizer may not give its buffer back at once. At environment
 * teardown (a worker thread ending, the process exiting) Node runs the
 * finalizers of external buffers first, before any cleanup hook, so also
 * before the hook that cancels a machine's ops and waits for them: a buffer
 * finalized then may still be written by a read in flight, and must not be
 * handed to another thread. A finalizer cannot tell teardown from a GC, so
 * while a ring of its environment has ops in flight it defers the buffer to
 * a per-environment list instead; the next hugeBuffer call there (JS is
 * running: it was no teardown, and a buffer a GC collected was pinned by
 * no op) gives the list back, and so does the end of the teardown (the
 * addon's instance data finalizer, which runs after every cleanup hook),
 * unless a ring gave up waiting for its ops: then the list is leaked. */
typedef struct huge_env {
  struct {
    void *p;
    size_t size;
  } *deferred;
  size_t n, cap;
  int undrained; /* a ring of this environment gave up waiting for its ops */
} huge_env;

static double stat_deferred, stat_leaked;

static huge_env *huge_env_of(napi_env env) {
  void *d = NULL;
  if (napi_get_instance_data(env, &d) != napi_ok) return NULL;
  return d;
}

static void huge_leak(size_t count) {
  pthread_mutex_lock(&pool_lock);
  stat_live -= (double)count;
  stat_leaked += (double)count;
  pthread_mutex_unlock(&pool_lock);
}

static void huge_give_back(huge_env *he) {
  for (size_t i = 0; i < he->n; i++) huge_release(he->deferred[i].p, he->deferred[i].size);
  he->n = 0;
}

void js_huge_undrained(napi_env env) {
  huge_env *he = huge_env_of(env);
  if (he) he->undrained = 1;
}

static void huge_env_finalize(napi_env env, void *data, void *hint) {
  (void)hint;
  huge_env *he = data;
  /* Every ring's cleanup hook has run by now. */
  if (he->undrained || js_env_busy(env)) huge_leak(he->n);
  else huge_give_back(he);
  free(he->deferred);
  free(he);
}

static void huge_free(napi_env env, void *data, void *hint) {
  size_t size = (size_t)(uintptr_t)hint;
  if (!js_env_busy(env)) {
    huge_release(data, size);
    return;
  }
  huge_env *he = huge_env_of(env);
  if (he == NULL) {
    huge_leak(1);
    return;
  }
  if (he->n == he->cap) {
    size_t cap = he->cap ? he->cap * 2 : 64;
    void *grown = realloc(he->deferred, cap * sizeof(*he->deferred));
    if (grown == NULL) {
      huge_leak(1); /* rather than reuse it too early */
      return;
    }
    he->deferred = grown;
    he->cap = cap;
  }
  he->deferred[he->n].p = data;
  he->deferred[he->n].size = size;
  he->n++;
  pthread_mutex_lock(&pool_lock);
  stat_deferred++;
  pthread_mutex_unlock(&pool_lock);
}

/* Whether to ask for huge pages. Not where a virtio balloon reports free
 * pages to the host (VIRTIO_BALLOON_F_REPORTING, feature bit 5): it reports
 * free blocks from 128 KiB up, so a fresh huge page is always memory the
 * host discarded, and faulting one in costs the host's faults for all of
 * it: measured on such a VM, 108 MiB of fresh results in 330-380 ms with
 * huge pages against 80-100 ms with 4 KiB pages (which mostly come from
 * small free blocks the host still backs). Elsewhere huge pages fault
 * 100 MiB in ~5 ms instead of ~35. UM_HUGEPAGES=0 or 1 overrides. */
static int huge_pages_wanted;
static pthread_once_t huge_pages_once = PTHREAD_ONCE_INIT;

static void decide_huge_pages(void) {
  const char *env = getenv("UM_HUGEPAGES");
  if (env != NULL && (env[0] == '0' || env[0] == '1')) {
    huge_pages_wanted = env[0] == '1';
    return;
  }
  int reporting = 0;
  for (int i = 0; i < 64 && !reporting; i++) {
    char path[96], buf[160];
    snprintf(path, sizeof path, "/sys/bus/virtio/devices/virtio%d/device", i);
    FILE *f = fopen(path, "r");
    if (f == NULL) continue;
    int is_balloon = fgets(buf, sizeof buf, f) != NULL && strtol(buf, NULL, 16) == 5;
    fclose(f);
    if (!is_balloon) continue;
    snprintf(path, sizeof path, "/sys/bus/virtio/devices/virtio%d/features", i);
    f = fopen(path, "r");
    if (f == NULL) continue;
    /* One '0'/'1' per feature bit, bit 0 first. */
    if (fgets(buf, sizeof buf, f) != NULL && strlen(buf) > 5 && buf[5] == '1') reporting = 1;
    fclose(f);
  }
  huge_pages_wanted = !reporting;
}

/* Decided once per process (threads may ask at once). */
static int want_huge_pages(void) {
  pthread_once(&huge_pages_once, decide_huge_pages);
  return huge_pages_wanted;
}

static void *huge_map(size_t size) {
  /* Map one alignment more, then trim the head and the tail. */
  char *p = mmap(NULL, size + HUGE_ALIGN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return NULL;
  pthread_mutex_lock(&pool_lock);
  stat_mapped++;
  pthread_mutex_unlock(&pool_lock);
  char *a = (char *)(((uintptr_t)p + HUGE_ALIGN - 1) & ~(uintptr_t)(HUGE_ALIGN - 1));
  if (a > p) munmap(p, (size_t)(a - p));
  size_t tail = (size_t)(p + size + HUGE_ALIGN - (a + size));
  if (tail > 0) munmap(a + size, tail);
#ifdef MADV_HUGEPAGE
  if (want_huge_pages()) madvise(a, size, MADV_HUGEPAGE); /* advice: no error matters */
#endif
  return a;
}

static napi_value h_huge_buffer(napi_env env, napi_callback_info info) {
  JS_ARGS(env, info, 1);
  napi_value out;
  NAPI_CALL(env, napi_get_null(env, &out));
  int64_t want = js_to_i64(env, argv[0], -1);
  if (want <= 0 || want > ((int64_t)1 << 40)) return out;
  size_t size = ((size_t)want + 4095) & ~(size_t)4095;
  huge_env *he = huge_env_of(env);
  if (he == NULL) {
    he = calloc(1, sizeof(*he));
    if (he == NULL) return out;
    if (napi_set_instance_data(env, he, huge_env_finalize, NULL) != napi_ok) {
      free(he);
      return out;
    }
  }
  huge_give_back(he); /* JS runs: what finalizers deferred is safe now */
  void *a = pool_take(size);
  if (a == NULL) a = huge_map(size);
  if (a == NULL) return out;
  napi_value ab;
  if (napi_create_external_arraybuffer(env, a, (size_t)want, huge_free, (void *)(uintptr_t)size, &ab) != napi_ok) {
    munmap(a, size);
    bool pending;
    napi_is_exception_pending(env, &pending);
    if (pending) {
      napi_value e;
      napi_get_and_clear_last_exception(env, &e);
    }
    return out;
  }
  pthread_mutex_lock(&pool_lock);
  stat_live++;
  pthread_mutex_unlock(&pool_lock);
  return ab;
}

/* hugeTrim(): unmap what has sat in the pool since the last trim, mark the
 * rest; returns the bytes still kept, or -1 if none are kept but buffers
 * are live (they will come back to the pool). JS calls it from an unref'd
 * timer while either holds, so memory no call reused is given back within
 * two periods of its buffer being collected. */
static napi_value h_huge_trim(napi_env env, napi_callback_info info) {
  (void)info;
  void *gone[POOL_SLOTS];
  size_t sizes[POOL_SLOTS];
  unsigned n = 0;
  pthread_mutex_lock(&pool_lock);
  for (unsigned i = 0; i < pool_n;) {
    if (pool[i].old) {
      gone[n] = pool[i].p;
      sizes[n++] = pool[i].size;
      pool_bytes -= pool[i].size;
      stat_unmapped++;
      pool[i] = pool[--pool_n];
    } else {
      pool[i++].old = 1;
    }
  }
  double kept = pool_bytes > 0 ? (double)pool_bytes : stat_live > 0 ? -1 : 0;
  pthread_mutex_unlock(&pool_lock);
  for (unsigned i = 0; i < n; i++) munmap(gone[i], sizes[i]);
  napi_value out;
  NAPI_CALL(env, napi_create_double(env, kept, &out));
  return out;
}

/* hugeStats(): [mappings reused, mapped, unmapped, bytes kept now, buffers
 * live, 1 if huge pages are asked for, frees deferred to the end of an
 * environment's teardown, mappings leaked] (tests, benches). */
static napi_value h_huge_stats(napi_env env, napi_callback_info info) {
  (void)info;
  double v[8];
  pthread_mutex_lock(&pool_lock);
  v[0] = stat_reused;
  v[1] = stat_mapped;
  v[2] = stat_unmapped;
  v[3] = (double)pool_bytes;
  v[4] = stat_live;
  v[6] = stat_deferred;
  v[7] = stat_leaked;
  pthread_mutex_unlock(&pool_lock);
  v[5] = want_huge_pages();
  napi_value arr;
  NAPI_CALL(env, napi_create_array_with_length(env, 8, &arr));
  for (uint32_t i = 0; i < 8; i++) {
    napi_value x;
    NAPI_CALL(env, napi_create_double(env, v[i], &x));
    NAPI_CALL(env, napi_set_element(env, arr, i, x));
  }
  return arr;
}
/* ---- end (issue 13) ---- */

napi_status js_helpers_init(napi_env env, napi_value exports) {
  napi_property_descriptor fns[] = {
      {"pipe", NULL, h_pipe, NULL, NULL, NULL, napi_enumerable, NULL},
      {"socketpair", NULL, h_socketpair, NULL, NULL, NULL, napi_enumerable, NULL},
      {"kernelVersion", NULL, h_kernel_version, NULL, NULL, NULL, napi_enumerable, NULL},
      {"pidfdOpen", NULL, h_pidfd_open, NULL, NULL, NULL, napi_enumerable, NULL},
      {"pidfdSendSignal", NULL, h_pidfd_send_signal, NULL, NULL, NULL, napi_enumerable, NULL},
      {"ioNonblock", NULL, h_io_nonblock, NULL, NULL, NULL, napi_enumerable, NULL},
      {"setNonblock", NULL, h_set_nonblock, NULL, NULL, NULL, napi_enumerable, NULL},
      {"addressOf", NULL, h_address_of, NULL, NULL, NULL, napi_enumerable, NULL},
      {"closeSync", NULL, h_close_sync, NULL, NULL, NULL, napi_enumerable, NULL},
      {"socketDomain", NULL, h_socket_domain, NULL, NULL, NULL, napi_enumerable, NULL},
      {"bindSync", NULL, h_bind_sync, NULL, NULL, NULL, napi_enumerable, NULL},
      {"inotifyInit", NULL, h_inotify_init, NULL, NULL, NULL, napi_enumerable, NULL},
      {"inotifyAddWatch", NULL, h_inotify_add_watch, NULL, NULL, NULL, napi_enumerable, NULL},
      {"listenSync", NULL, h_listen_sync, NULL, NULL, NULL, napi_enumerable, NULL},
      {"getsockoptSync", NULL, h_getsockopt_sync, NULL, NULL, NULL, napi_enumerable, NULL},
      {"setsockoptSync", NULL, h_setsockopt_sync, NULL, NULL, NULL, napi_enumerable, NULL},
      {"sockName", NULL, h_sock_name, NULL, NULL, NULL, napi_enumerable, NULL},
      {"hugeBuffer", NULL, h_huge_buffer, NULL, NULL, NULL, napi_enumerable, NULL},
      {"hugeStats", NULL, h_huge_stats, NULL, NULL, NULL, napi_enumerable, NULL},
      {"hugeTrim", NULL, h_huge_trim, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  return napi_define_properties(env, exports, sizeof(fns) / sizeof(fns[0]), fns);
}
