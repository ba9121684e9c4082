/*
 * js_helpers.c: the synchronous static helpers of UringMachine (UM.pipe,
 * UM.socketpair, ...). Each returns its result, or -errno as a number that
 * src/machine.ts turns into a UMError.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sys/inotify.h>
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
  };
  return napi_define_properties(env, exports, sizeof(fns) / sizeof(fns[0]), fns);
}
