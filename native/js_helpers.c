/*
 * js_helpers.c: the synchronous static helpers of UringMachine (UM.pipe,
 * UM.socketpair, ...). Each returns its result, or -errno as a number that
 * src/machine.ts turns into a UMError.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
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
  };
  return napi_define_properties(env, exports, sizeof(fns) / sizeof(fns[0]), fns);
}
