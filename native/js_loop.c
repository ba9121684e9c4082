/*
 * js_loop.c: how a machine lives inside Node's event loop.
 *
 * The ring's registered eventfd is watched by a uv_poll_t on the thread's own
 * libuv loop. When the kernel posts CQEs, or queues deferred task work that
 * will post them (IORING_SETUP_DEFER_TASKRUN), it signals the eventfd; libuv
 * sees it readable and we call the machine's JS wake function once. That one
 * crossing submits, reaps and settles a whole batch (see src/core.ts).
 *
 * Keep-alive: the poll handle is unref'd while the machine has no pending op,
 * so an idle machine never keeps the process alive, and ref'd while it has
 * one, like a pending setTimeout. The same switch makes the reference to the
 * wake function strong or weak, so an idle, unreachable machine can be
 * collected (its finalizer closes the ring).
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "js.h"

static void on_poll_closed(uv_handle_t *h) { free(h); }

static void on_readable(uv_poll_t *handle, int status, int events) {
  (void)events;
  js_ring *r = handle->data;
  if (!r || r->closed) return;
  /* Reset the counter first: a signal that arrives while JS runs below
   * makes the fd readable again and we come back, so nothing is missed. */
  uint64_t count;
  ssize_t rd = read(r->ring.event_fd, &count, sizeof(count));
  (void)rd;
  (void)status;

  napi_env env = r->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value fn = NULL;
  if (r->wake_ref) napi_get_reference_value(env, r->wake_ref, &fn);
  if (fn) {
    napi_value recv, result;
    napi_get_global(env, &recv);
    /* make_callback runs the microtask queue and nextTicks afterwards, which
     * is where resumed fibers run and issue their next ops. */
    napi_status st = napi_make_callback(env, r->async_ctx, recv, fn, 0, NULL, &result);
    if (st == napi_pending_exception) {
      napi_value err;
      napi_get_and_clear_last_exception(env, &err);
      napi_fatal_exception(env, err);
    }
  }
  napi_close_handle_scope(env, scope);
}

int js_loop_start(js_ring *r) {
  uv_loop_t *loop;
  if (napi_get_uv_event_loop(r->env, &loop) != napi_ok) return -EINVAL;
  uv_poll_t *p = calloc(1, sizeof(*p));
  if (!p) return -ENOMEM;
  int ret = uv_poll_init(loop, p, r->ring.event_fd);
  if (ret < 0) {
    free(p);
    return ret;
  }
  p->data = r;
  ret = uv_poll_start(p, UV_READABLE, on_readable);
  if (ret < 0) {
    p->data = NULL;
    uv_close((uv_handle_t *)p, on_poll_closed);
    return ret;
  }
  uv_unref((uv_handle_t *)p);
  r->poll = p;
  return 0;
}

void js_loop_set_active(js_ring *r, int active) {
  if (r->closed || active == r->active) return;
  r->active = active;
  if (active) {
    uv_ref((uv_handle_t *)r->poll);
    napi_reference_ref(r->env, r->wake_ref, NULL);
  } else {
    uv_unref((uv_handle_t *)r->poll);
    napi_reference_unref(r->env, r->wake_ref, NULL);
  }
}

void js_loop_close(js_ring *r) {
  if (!r->poll) return;
  uv_poll_t *p = r->poll;
  r->poll = NULL;
  p->data = NULL;
  uv_poll_stop(p);
  uv_close((uv_handle_t *)p, on_poll_closed);
}
