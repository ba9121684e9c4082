/*
 * js.h: N-API helpers shared by the binding files (js_*.c). Only js_*.c and
 * addon.c include node_api.h; the C core stays free of it.
 */
#ifndef UM_JS_H
#define UM_JS_H

#define NAPI_VERSION 8
#include <node_api.h>
#include <uv.h>

#include "um.h"

/* Evaluate an N-API call; on failure throw (if nothing is pending) and
 * return NULL from the binding function. */
#define NAPI_CALL(env, call)                                                   \
  do {                                                                         \
    napi_status status_ = (call);                                              \
    if (status_ != napi_ok) {                                                  \
      bool pending_;                                                           \
      napi_is_exception_pending((env), &pending_);                             \
      if (!pending_) napi_throw_error((env), "ERR_UM_NATIVE", #call " failed"); \
      return NULL;                                                             \
    }                                                                          \
  } while (0)

#define JS_ARGS(env, info, n)                                                  \
  size_t argc = (n);                                                           \
  napi_value argv[(n) > 0 ? (n) : 1];                                          \
  napi_value self;                                                             \
  NAPI_CALL(env, napi_get_cb_info((env), (info), &argc, argv, &self, NULL))

napi_value js_int(napi_env env, int64_t v);
int32_t js_to_i32(napi_env env, napi_value v, int32_t dflt);
int64_t js_to_i64(napi_env env, napi_value v, int64_t dflt);

/* One machine's ring as seen by the binding. Freed by the wrapper's
 * finalizer; closed (ring unmapped, poll handle closed) by close(), by the
 * finalizer or by the environment's cleanup hook, whichever comes first. */
/* Memory the ring hands to JS as an external ArrayBuffer and frees itself:
 * provided-buffer rings (bgid >= 0) and buffer-pool slabs (bgid < 0). */
typedef struct js_region {
  struct js_region *next;
  void *p;
  size_t size;
  int bgid;
  napi_ref ab_ref; /* weak */
} js_region;

typedef struct js_ring {
  struct um_ring ring;
  napi_env env;
  int closed;
  int active;         /* pending ops: poll handle ref'd, wake callback strong */
  uint32_t serial;    /* process-wide ring number (1..2^24-1), names the ring in MSG_RING user_data */
  int32_t *tmpl;      /* 16 x int32: the SQE template JS fills */
  int32_t *cqes;      /* 4 x int32 per CQE, batch copied out to JS */
  unsigned cqe_cap;   /* CQEs that fit in cqes */
  int32_t *state;     /* 4 words after the CQEs: [0] ops pending, [1] SQ tail (kept by JS);
                         [2] 1 while a batch of CQEs is out and JS has not finished it;
                         [3] zero-copy sends waiting for their notification (JS) */
  unsigned batch_n;   /* CQEs in the batch last copied out */
  napi_ref tmpl_ref;
  napi_ref cqes_ref;
  napi_ref wake_ref;  /* JS function called when the eventfd fires */
  napi_ref sqes_ab_ref;   /* weak: external ArrayBuffer over the SQE array */
  napi_ref sqring_ab_ref; /* weak: external ArrayBuffer over the SQ ring header */
  napi_async_context async_ctx;
  uv_poll_t *poll;    /* heap: outlives us until its close callback */
  js_region *regions; /* buffer rings and pool slabs, freed at close */
  struct js_ring *next_all; /* the process's list of rings (js_env_busy) */
} js_ring;

/* libuv glue (js_loop.c). */
int js_loop_start(js_ring *r);
void js_loop_set_active(js_ring *r, int active);
void js_loop_close(js_ring *r);

/* Whether a ring of env that is not closed has ops in flight
 * (js_machine.c); js_helpers.c's result memory asks before reusing a
 * buffer its finalizer gave back. */
int js_env_busy(napi_env env);
/* A ring of env gave up waiting for its ops at teardown (js_machine.c):
 * the result memory that teardown deferred is leaked, never reused. */
void js_huge_undrained(napi_env env);

/* Exports of the binding files, called from addon.c. */
napi_status js_machine_init(napi_env env, napi_value exports);
napi_status js_helpers_init(napi_env env, napi_value exports);
napi_status js_constants_init(napi_env env, napi_value exports);
napi_status js_tls_init(napi_env env, napi_value exports);

#endif
