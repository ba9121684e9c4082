/*
 * js_machine.c: the N-API surface of the core, conversions only.
 *
 * class Ring {
 *   constructor(entries, sqpollIdleMs, template: Int32Array(16), cqes: Int32Array, wake: () => void)
 *   map(): object                the SQE array and SQ ring header as external ArrayBuffers
 *   flush(tail, getevents): number   publish SQEs up to tail, submit, run task work,
 *                                copy CQEs out; count or -errno
 *   wait(tail, min, timeoutMs): number block for completions (close() only), copy them out
 *   submit(tail): number         submit without reaping
 *   setActive(bool)              keep-alive switch (js_loop.c)
 *   wakeup()                     signal the eventfd
 *   probe(): Uint8Array          opcode support, index = opcode
 *   info(): object               ring parameters
 *   close()
 * }
 *
 * Submission without a native call per op: JS fills SQEs directly in the
 * mmapped SQE array (exposed by map() as an external ArrayBuffer, detached
 * on close) and counts its own tail; flush/submit/wait receive that tail and
 * publish it with a store-release before entering the kernel. Buffer
 * addresses come from addressOf() (js_helpers.c), cached per ArrayBuffer in
 * JS. The buffers themselves are pinned by the TS Op until the final CQE
 * (src/op.ts).
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "js.h"

static napi_value undefined(napi_env env) {
  napi_value v;
  napi_get_undefined(env, &v);
  return v;
}

napi_value js_int(napi_env env, int64_t v) {
  napi_value out;
  if (napi_create_int64(env, v, &out) != napi_ok) return NULL;
  return out;
}

int32_t js_to_i32(napi_env env, napi_value v, int32_t dflt) {
  int32_t out;
  if (napi_get_value_int32(env, v, &out) != napi_ok) return dflt;
  return out;
}

int64_t js_to_i64(napi_env env, napi_value v, int64_t dflt) {
  int64_t out;
  if (napi_get_value_int64(env, v, &out) != napi_ok) return dflt;
  return out;
}

static void throw_errno(napi_env env, int err, const char *syscall) {
  napi_value msg, code, e, num, sc;
  char buf[32];
  snprintf(buf, sizeof(buf), "%d", err);
  napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &msg);
  napi_create_string_utf8(env, buf, NAPI_AUTO_LENGTH, &code);
  napi_create_error(env, NULL, msg, &e);
  napi_create_int32(env, err, &num);
  napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &sc);
  napi_set_named_property(env, e, "errno", num);
  napi_set_named_property(env, e, "syscall", sc);
  napi_throw(env, e);
}

/* Detach the buffer behind ref (if it is still alive) and drop the ref. */
static void detach_ref(napi_env env, napi_ref *ref) {
  if (!*ref) return;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) == napi_ok) {
    napi_value v = NULL;
    if (napi_get_reference_value(env, *ref, &v) == napi_ok && v) napi_detach_arraybuffer(env, v);
    napi_close_handle_scope(env, scope);
  }
  napi_delete_reference(env, *ref);
  *ref = NULL;
}

/* detach: JS must never touch the mapping after it is gone, so its views
 * are detached (they then read as empty). Not at environment teardown: no
 * JS runs any more and V8 must not be asked for handles then. */
static void ring_close(js_ring *r, int detach) {
  if (r->closed) return;
  r->closed = 1;
  if (detach) {
    detach_ref(r->env, &r->sqes_ab_ref);
    detach_ref(r->env, &r->sqring_ab_ref);
  }
  js_loop_close(r);
  for (js_region *g = r->regions; g; g = g->next) {
    if (detach) detach_ref(r->env, &g->ab_ref);
  }
  um_ring_exit(&r->ring);
  /* Pool slabs may still be written by ops the drain gave up on (state[0]
   * is the pending count JS keeps): leak them rather than free memory the
   * kernel may write. Buffer-ring memory is pinned by the kernel itself. */
  int leak = r->state && r->state[0] > 0;
  js_region *g = r->regions;
  r->regions = NULL;
  while (g) {
    js_region *next = g->next;
    if (!leak || g->bgid >= 0) munmap(g->p, g->size);
    if (g->ab_ref && detach) napi_delete_reference(r->env, g->ab_ref);
    free(g);
    g = next;
  }
}

static int64_t now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* user_data of the drain's cancel-all: a high word no JS tag uses. */
#define DRAIN_CANCEL ((uint64_t)0xfffffffeu << 32 | 0xfffffffeu)

/* The environment is going away (a worker thread terminated, or the process
 * exiting) with ops possibly in flight. Their buffers are about to be freed
 * with the isolate, and closing the ring does not stop io-wq workers at once
 * (ring teardown is asynchronous), so cancel everything and wait, bounded,
 * for the final CQEs of the ops JS counted as pending. */
static void drain_for_teardown(js_ring *r) {
  int32_t pending = r->state[0];
  /* JS stopped (terminated) in the middle of a batch: its final CQEs have
   * arrived but are still in the count it writes at the end of a batch. */
  if (r->state[2] == 1) {
    for (unsigned i = 0; i < r->batch_n; i++) {
      const int32_t *c = r->cqes + 4 * i;
      if (c[1] == 0 && !((uint32_t)c[3] & UM_CQE_F_MORE)) pending--;
    }
    r->state[2] = 0;
  }
  if (pending <= 0 || r->ring.fd < 0) {
    r->state[0] = pending > 0 ? pending : 0;
    return;
  }
  r->ring.sqe_tail = (uint32_t)r->state[1];
  /* A multishot op between two shots can miss a cancel (a multishot timeout
   * is off the timeout list until its task work re-arms it), so the cancel
   * is sent again when 100 ms brought no final CQE. Not after every such
   * round: the cancel's own CQE ends the wait at once, and 50 rounds of
   * that gave up within a millisecond while io-wq was still copying into
   * the buffers of reads that cannot be cancelled mid-copy (seen when a
   * worker was terminated during readFiles). The bound is time: 5 s. */
  int64_t deadline = now_ms() + 5000;
  int64_t last_cancel = deadline - 1000000;
  int progress = 0;
  int empty_cancels = 0;
  while (pending > 0) {
    int64_t now = now_ms();
    if (now >= deadline) break;
    if (!progress && now - last_cancel >= 100) {
      struct um_sqe *sqe = um_ring_get_sqe(&r->ring);
      if (!sqe) {
        um_ring_submit(&r->ring);
        sqe = um_ring_get_sqe(&r->ring);
      }
      if (sqe) {
        um_prep_cancel(sqe, 0, UM_ASYNC_CANCEL_ANY | UM_ASYNC_CANCEL_ALL);
        sqe->user_data = DRAIN_CANCEL; /* no JS tag has this high word */
      }
      last_cancel = now;
    }
    progress = 0;
    int nothing_left = 0;
    int64_t wait = deadline - now < 100 ? deadline - now : 100;
    if (um_ring_enter(&r->ring, 1, 1, wait) < 0) break;
    unsigned n;
    while ((n = um_ring_copy_cqes(&r->ring, r->cqes, r->cqe_cap)) > 0) {
      for (unsigned i = 0; i < n; i++) {
        const int32_t *c = r->cqes + 4 * i;
        if (c[1] == 0 && !((uint32_t)c[3] & UM_CQE_F_MORE)) {
          pending--;
          progress = 1;
        } else if ((uint32_t)c[0] == (uint32_t)DRAIN_CANCEL && (uint32_t)c[1] == (uint32_t)(DRAIN_CANCEL >> 32)) {
          nothing_left = c[2] == 0 || c[2] == -ENOENT; /* with CANCEL_ALL: the count cancelled */
        }
      }
    }
    /* Two cancel-alls in a row, 100 ms apart, found no request at all
     * (0 cancelled, or -ENOENT) and no final CQE came meanwhile: nothing of
     * ours is in the kernel any more, so nothing will write into a buffer;
     * what the count
     * still holds was never submitted (an op counted just before JS was
     * stopped) or already completed. A request io-wq is running is found
     * (and reported), so a copy in progress never ends the wait; a
     * multishot op between two shots can be missed by one cancel (see
     * above), not by two that far apart without posting a CQE. Not while
     * a zero-copy send waits for its notification (state[3], kept by JS):
     * no cancel finds a notification, and the kernel holds its pages. */
    if (progress) empty_cancels = 0;
    else if (nothing_left && ++empty_cancels >= 2 && r->state[3] <= 0) pending = 0;
  }
  r->state[0] = pending;
}

static void env_cleanup(void *arg) {
  js_ring *r = arg;
  if (!r->closed) drain_for_teardown(r);
  if (r->state && r->state[0] > 0) js_huge_undrained(r->env);
  ring_close(r, 0);
}

/* Every ring that got as far as its cleanup hook, for js_env_busy. Rings
 * live on their environment's thread; the list is the process's. */
static pthread_mutex_t all_lock = PTHREAD_MUTEX_INITIALIZER;
static js_ring *all_rings;

static void all_add(js_ring *r) {
  pthread_mutex_lock(&all_lock);
  r->next_all = all_rings;
  all_rings = r;
  pthread_mutex_unlock(&all_lock);
}

static void all_remove(js_ring *r) {
  pthread_mutex_lock(&all_lock);
  for (js_ring **p = &all_rings; *p; p = &(*p)->next_all) {
    if (*p == r) {
      *p = r->next_all;
      break;
    }
  }
  pthread_mutex_unlock(&all_lock);
}

int js_env_busy(napi_env env) {
  int busy = 0;
  pthread_mutex_lock(&all_lock);
  for (js_ring *r = all_rings; r && !busy; r = r->next_all) {
    if (r->env == env && !r->closed && r->state && r->state[0] > 0) busy = 1;
  }
  pthread_mutex_unlock(&all_lock);
  return busy;
}

static void ring_finalize(napi_env env, void *data, void *hint) {
  (void)hint;
  js_ring *r = data;
  all_remove(r);
  napi_remove_env_cleanup_hook(env, env_cleanup, r);
  ring_close(r, 1);
  if (r->tmpl_ref) napi_delete_reference(env, r->tmpl_ref);
  if (r->cqes_ref) napi_delete_reference(env, r->cqes_ref);
  if (r->wake_ref) napi_delete_reference(env, r->wake_ref);
  if (r->sqes_ab_ref) napi_delete_reference(env, r->sqes_ab_ref);
  if (r->sqring_ab_ref) napi_delete_reference(env, r->sqring_ab_ref);
  if (r->async_ctx) napi_async_destroy(env, r->async_ctx);
  free(r);
}

static void set_int(napi_env env, napi_value obj, const char *name, int64_t v);

/* Ring serials: one counter for the process (the addon is loaded once and
 * shared by every worker thread), so a serial names one ring among all the
 * rings of all threads. 24 bits, as MSG_RING user_data carries them
 * (src/msg-ring.ts); 0 is never used. */
static uint32_t next_serial;

static uint32_t new_serial(void) {
  for (;;) {
    uint32_t s = __atomic_add_fetch(&next_serial, 1, __ATOMIC_RELAXED) & 0xffffffu;
    if (s != 0) return s;
  }
}

static js_ring *unwrap(napi_env env, napi_value self) {
  js_ring *r = NULL;
  if (napi_unwrap(env, self, (void **)&r) != napi_ok || !r) {
    napi_throw_type_error(env, "ERR_INVALID_THIS", "not a Ring");
    return NULL;
  }
  return r;
}

static napi_value ring_new(napi_env env, napi_callback_info info) {
  JS_ARGS(env, info, 5);
  if (argc < 5) {
    napi_throw_type_error(env, "ERR_MISSING_ARGS", "Ring(entries, sqpollIdleMs, template, cqes, wake)");
    return NULL;
  }
  int32_t entries = js_to_i32(env, argv[0], 4096);
  int32_t sqpoll_idle = js_to_i32(env, argv[1], -1);

  js_ring *r = calloc(1, sizeof(*r));
  if (!r) {
    throw_errno(env, ENOMEM, "io_uring_setup");
    return NULL;
  }
  r->env = env;
  r->ring.fd = -1;
  r->ring.event_fd = -1;
  r->serial = new_serial();

  void *data;
  size_t len;
  napi_typedarray_type type;
  if (napi_get_typedarray_info(env, argv[2], &type, &len, &data, NULL, NULL) != napi_ok ||
      type != napi_int32_array || len < 16 ||
      napi_get_typedarray_info(env, argv[3], &type, &len, (void **)&r->cqes, NULL, NULL) != napi_ok ||
      type != napi_int32_array || len < 4) {
    free(r);
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "template and cqes must be Int32Arrays");
    return NULL;
  }
  r->tmpl = data;
  if (len < 8) {
    free(r);
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "cqes must hold at least one CQE and the state words");
    return NULL;
  }
  r->cqe_cap = (unsigned)((len - 4) / 4);
  r->state = r->cqes + 4 * r->cqe_cap;

  int ret = um_ring_init(&r->ring, (unsigned)entries, sqpoll_idle >= 0 ? UM_RING_WANT_SQPOLL : 0,
                         sqpoll_idle >= 0 ? (unsigned)sqpoll_idle : 0);
  if (ret < 0) {
    free(r);
    throw_errno(env, -ret, "io_uring_setup");
    return NULL;
  }
  ret = um_ring_register_eventfd(&r->ring);
  if (ret < 0) {
    um_ring_exit(&r->ring);
    free(r);
    throw_errno(env, -ret, "io_uring_register");
    return NULL;
  }
  /* A seccomp policy can allow io_uring_setup and deny io_uring_enter (or
   * deny only some calls): find out now, so that new UringMachine() fails
   * with the cause instead of every op hanging. Nothing is queued yet: this
   * enter submits nothing and waits for nothing. */
  ret = um_ring_enter(&r->ring, 0, 1, -1);
  if (ret < 0 && ret != -EBUSY && ret != -EAGAIN) {
    um_ring_exit(&r->ring);
    free(r);
    throw_errno(env, -ret, "io_uring_enter");
    return NULL;
  }
  ret = js_loop_start(r);
  if (ret < 0) {
    um_ring_exit(&r->ring);
    free(r);
    throw_errno(env, EINVAL, "uv_poll_start");
    return NULL;
  }
  napi_value resource_name;
  napi_create_string_utf8(env, "UringMachine", NAPI_AUTO_LENGTH, &resource_name);
  if (napi_create_reference(env, argv[2], 1, &r->tmpl_ref) != napi_ok ||
      napi_create_reference(env, argv[3], 1, &r->cqes_ref) != napi_ok ||
      napi_create_reference(env, argv[4], 0, &r->wake_ref) != napi_ok ||
      napi_async_init(env, self, resource_name, &r->async_ctx) != napi_ok ||
      napi_wrap(env, self, r, ring_finalize, NULL, NULL) != napi_ok) {
    ring_finalize(env, r, NULL);
    return NULL;
  }
  napi_add_env_cleanup_hook(env, env_cleanup, r);
  all_add(r);
  return self;
}

/* JS owns the SQE tail between native calls; take it before entering. */
static void take_tail(napi_env env, js_ring *r, napi_value v) {
  uint32_t tail;
  if (napi_get_value_uint32(env, v, &tail) == napi_ok) r->ring.sqe_tail = tail;
}

static napi_value ring_map(napi_env env, napi_callback_info info) {
  JS_ARGS(env, info, 0);
  js_ring *r = unwrap(env, self);
  if (!r) return NULL;
  if (r->closed) {
    throw_errno(env, EBADF, "io_uring_map");
    return NULL;
  }
  napi_value obj, sqes = NULL, sqring = NULL;
  NAPI_CALL(env, napi_create_object(env, &obj));
  /* The same buffers for every call while they live. */
  if (r->sqes_ab_ref) napi_get_reference_value(env, r->sqes_ab_ref, &sqes);
  if (r->sqring_ab_ref) napi_get_reference_value(env, r->sqring_ab_ref, &sqring);
  if (!sqes || !sqring) {
    /* No finalizer: the memory belongs to the ring mapping, and close()
     * detaches these buffers before unmapping it. */
    NAPI_CALL(env, napi_create_external_arraybuffer(env, r->ring.sqes, r->ring.sq_entries * sizeof(struct um_sqe),
                                                    NULL, NULL, &sqes));
    NAPI_CALL(env, napi_create_external_arraybuffer(env, r->ring.sq_ring_ptr, r->ring.sq_ring_size, NULL, NULL,
                                                    &sqring));
    if (r->sqes_ab_ref) napi_delete_reference(env, r->sqes_ab_ref);
    if (r->sqring_ab_ref) napi_delete_reference(env, r->sqring_ab_ref);
    NAPI_CALL(env, napi_create_reference(env, sqes, 0, &r->sqes_ab_ref));
    NAPI_CALL(env, napi_create_reference(env, sqring, 0, &r->sqring_ab_ref));
  }
  napi_set_named_property(env, obj, "sqes", sqes);
  napi_set_named_property(env, obj, "sqRing", sqring);
  set_int(env, obj, "sqHead", (char *)r->ring.sq_head - (char *)r->ring.sq_ring_ptr);
  set_int(env, obj, "sqFlags", (char *)r->ring.sq_flags - (char *)r->ring.sq_ring_ptr);
  set_int(env, obj, "cqFlags", r->ring.cq_flags ? (char *)r->ring.cq_flags - (char *)r->ring.sq_ring_ptr : -1);
  set_int(env, obj, "cqHead", (char *)r->ring.cq_head - (char *)r->ring.sq_ring_ptr);
  set_int(env, obj, "cqTail", (char *)r->ring.cq_tail - (char *)r->ring.sq_ring_ptr);
  set_int(env, obj, "sqMask", r->ring.sq_mask);
  set_int(env, obj, "sqEntries", r->ring.sq_entries);
  set_int(env, obj, "tail", r->ring.sqe_tail);
  return obj;
}

/* n CQEs copied out for JS, which clears state[2] when it has settled them
 * all (Core.#process): a teardown drain that finds it set knows which final
 * CQEs JS received but did not count. */
static unsigned batch_out(js_ring *r, unsigned n) {
  r->batch_n = n;
  if (n > 0) r->state[2] = 1;
  return n;
}

static napi_value ring_flush(napi_env env, napi_callback_info info) {
  JS_ARGS(env, info, 2);
  js_ring *r = unwrap(env, self);
  if (!r) return NULL;
  if (r->closed) return js_int(env, -EBADF);
  if (argc > 0) take_tail(env, r, argv[0]);
  bool getevents = false;
  if (argc > 1) napi_get_value_bool(env, argv[1], &getevents);
  unsigned sq = um_ring_sq_ready(&r->ring);
  int need = um_ring_needs_enter(&r->ring);
  if (sq || need || getevents) {
    int ret = um_ring_enter(&r->ring, 0, need || getevents, -1);
    /* EBUSY/EAGAIN: the kernel wants us to reap first; we do just below. */
    if (ret < 0 && ret != -EBUSY && ret != -EAGAIN) return js_int(env, ret);
  }
  unsigned n = um_ring_copy_cqes(&r->ring, r->cqes, r->cqe_cap);
  /* A GETEVENTS enter runs a bounded amount of deferred task work (with
   * min_complete 0, IO_LOCAL_TW_DEFAULT_MAX = 20 items since Linux 6.13,
   * io_uring/io_uring.c __io_run_local_work) and leaves the rest on the
   * ring's retry list with IORING_SQ_TASKRUN set again, but without
   * signalling the eventfd: nothing will wake us for it. Linked chains on
   * tmpfs make such work (each link's successor is queued as task work),
   * and readFiles of 63 empty files in /dev/shm stalled forever in about 3
   * runs of 20. So keep entering while the flag says work is left and the
   * batch has room; what does not fit is seen by the turn (Core.reap checks
   * the flag too). */
  for (int k = 0; k < 64 && n < r->cqe_cap && um_ring_taskrun_pending(&r->ring); k++) {
    int ret = um_ring_enter(&r->ring, 0, 1, -1);
    if (ret < 0 && ret != -EBUSY && ret != -EAGAIN) break;
    n += um_ring_copy_cqes(&r->ring, r->cqes + 4 * n, r->cqe_cap - n);
  }
  return js_int(env, batch_out(r, n));
}

static napi_value ring_wait(napi_env env, napi_callback_info info) {
  JS_ARGS(env, info, 3);
  js_ring *r = unwrap(env, self);
  if (!r) return NULL;
  if (r->closed) return js_int(env, -EBADF);
  if (argc > 0) take_tail(env, r, argv[0]);
  int32_t min = argc > 1 ? js_to_i32(env, argv[1], 1) : 1;
  int64_t timeout = argc > 2 ? js_to_i64(env, argv[2], -1) : -1;
  unsigned ready = um_ring_cq_ready(&r->ring);
  if (ready < (unsigned)min) {
    int ret = um_ring_enter(&r->ring, (unsigned)min - ready, 1, timeout);
    if (ret < 0 && ret != -EBUSY && ret != -EAGAIN) return js_int(env, ret);
  }
  return js_int(env, batch_out(r, um_ring_copy_cqes(&r->ring, r->cqes, r->cqe_cap)));
}

static napi_value ring_submit(napi_env env, napi_callback_info info) {
  JS_ARGS(env, info, 1);
  js_ring *r = unwrap(env, self);
  if (!r) return NULL;
  if (r->closed) return js_int(env, -EBADF);
  if (argc > 0) take_tail(env, r, argv[0]);
  return js_int(env, um_ring_submit(&r->ring));
}

/* rewind(tail): the last enter failed without taking anything (a failed
 * io_uring_enter consumes no SQE: a partial submit returns its count), so
 * the SQEs from the kernel's head to the old tail are withdrawn: the
 * published tail goes back to `tail` (the kernel's head), and a later enter
 * cannot run SQEs whose ops JS has already failed. Not for SQPOLL rings,
 * whose kernel thread takes SQEs by itself. */
static napi_value ring_rewind(napi_env env, napi_callback_info info) {
  JS_ARGS(env, info, 1);
  js_ring *r = unwrap(env, self);
  if (!r) return NULL;
  if (r->closed || (r->ring.setup_flags & UM_SETUP_SQPOLL)) return js_int(env, -EINVAL);
  take_tail(env, r, argv[0]);
  __atomic_store_n(r->ring.sq_tail, r->ring.sqe_tail, __ATOMIC_RELEASE);
  return js_int(env, 0);
}

static napi_value ring_set_active(napi_env env, napi_callback_info info) {
  JS_ARGS(env, info, 1);
  js_ring *r = unwrap(env, self);
  if (!r) return NULL;
  bool on = false;
  napi_get_value_bool(env, argv[0], &on);
  js_loop_set_active(r, on);
  return undefined(env);
}

static napi_value ring_wakeup(napi_env env, napi_callback_info info) {
  JS_ARGS(env, info, 0);
  js_ring *r = unwrap(env, self);
  if (!r) return NULL;
  if (!r->closed) {
    uint64_t one = 1;
    ssize_t w = write(r->ring.event_fd, &one, sizeof(one));
    (void)w;
  }
  return undefined(env);
}

static napi_value ring_probe(napi_env env, napi_callback_info info) {
  JS_ARGS(env, info, 0);
  js_ring *r = unwrap(env, self);
  if (!r) return NULL;
  napi_value ab, out;
  void *data;
  NAPI_CALL(env, napi_create_arraybuffer(env, 256, &data, &ab));
  int ret = r->closed ? -EBADF : um_ring_probe(&r->ring, data, 256);
  if (ret < 0) {
    throw_errno(env, -ret, "io_uring_register");
    return NULL;
  }
  NAPI_CALL(env, napi_create_typedarray(env, napi_uint8_array, 256, ab, 0, &out));
  return out;
}

static void set_int(napi_env env, napi_value obj, const char *name, int64_t v) {
  napi_set_named_property(env, obj, name, js_int(env, v));
}

static napi_value ring_info(napi_env env, napi_callback_info info) {
  JS_ARGS(env, info, 0);
  js_ring *r = unwrap(env, self);
  if (!r) return NULL;
  napi_value obj;
  NAPI_CALL(env, napi_create_object(env, &obj));
  set_int(env, obj, "fd", r->ring.fd);
  set_int(env, obj, "eventFd", r->ring.event_fd);
  set_int(env, obj, "sqEntries", r->ring.sq_entries);
  set_int(env, obj, "cqEntries", r->ring.cq_entries);
  set_int(env, obj, "setupFlags", r->ring.setup_flags);
  set_int(env, obj, "features", r->ring.features);
  set_int(env, obj, "cqOverflow", r->closed ? 0 : *r->ring.cq_overflow);
  set_int(env, obj, "serial", r->serial);
  return obj;
}

/* Hand a region to JS as an external ArrayBuffer (no finalizer: the ring
 * frees it at close, after detaching the buffer). */
static napi_value region_buffer(napi_env env, js_ring *r, void *p, size_t size, size_t visible, int bgid) {
  js_region *g = calloc(1, sizeof(*g));
  if (!g) {
    munmap(p, size);
    napi_throw_error(env, "ENOMEM", "out of memory");
    return NULL;
  }
  g->p = p;
  g->size = size;
  g->bgid = bgid;
  g->next = r->regions;
  r->regions = g;
  napi_value ab;
  NAPI_CALL(env, napi_create_external_arraybuffer(env, p, visible, NULL, NULL, &ab));
  NAPI_CALL(env, napi_create_reference(env, ab, 0, &g->ab_ref));
  return ab;
}

/* bufRing(bgid, entries, flags): ArrayBuffer over a registered provided-buffer ring. */
static napi_value ring_buf_ring(napi_env env, napi_callback_info info) {
  JS_ARGS(env, info, 3);
  js_ring *r = unwrap(env, self);
  if (!r) return NULL;
  if (r->closed) {
    throw_errno(env, EBADF, "io_uring_register");
    return NULL;
  }
  int32_t bgid = js_to_i32(env, argv[0], -1);
  int32_t entries = js_to_i32(env, argv[1], 0);
  int32_t flags = js_to_i32(env, argv[2], 0);
  if (bgid < 0 || bgid > 0xffff || entries <= 0) {
    throw_errno(env, EINVAL, "io_uring_register");
    return NULL;
  }
  void *p;
  size_t size;
  int ret = um_pbuf_ring_register(&r->ring, (unsigned)entries, (uint16_t)bgid, (uint16_t)flags, &p, &size);
  if (ret < 0) {
    throw_errno(env, -ret, "io_uring_register");
    return NULL;
  }
  return region_buffer(env, r, p, size, (size_t)entries * sizeof(struct um_buf), bgid);
}

/* bufRingFree(bgid): unregister a buffer ring and release its memory. */
static napi_value ring_buf_ring_free(napi_env env, napi_callback_info info) {
  JS_ARGS(env, info, 1);
  js_ring *r = unwrap(env, self);
  if (!r) return NULL;
  int32_t bgid = js_to_i32(env, argv[0], -1);
  if (r->closed || bgid < 0) return js_int(env, -EBADF);
  int ret = um_pbuf_ring_unregister(&r->ring, (uint16_t)bgid);
  for (js_region **pg = &r->regions; *pg; pg = &(*pg)->next) {
    js_region *g = *pg;
    if (g->bgid != bgid) continue;
    detach_ref(env, &g->ab_ref);
    *pg = g->next;
    munmap(g->p, g->size);
    free(g);
    break;
  }
  return js_int(env, ret);
}

/* bufAlloc(size): ArrayBuffer over a fresh anonymous mapping for pool buffers. */
static napi_value ring_buf_alloc(napi_env env, napi_callback_info info) {
  JS_ARGS(env, info, 1);
  js_ring *r = unwrap(env, self);
  if (!r) return NULL;
  if (r->closed) {
    throw_errno(env, EBADF, "mmap");
    return NULL;
  }
  int64_t size = js_to_i64(env, argv[0], 0);
  if (size <= 0 || size > ((int64_t)1 << 40)) {
    throw_errno(env, EINVAL, "mmap");
    return NULL;
  }
  void *p = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) {
    throw_errno(env, errno, "mmap");
    return NULL;
  }
  return region_buffer(env, r, p, (size_t)size, (size_t)size, -1);
}

/* registerBuffers(iovecs: Int32Array of n x {u64 base, u64 len}, n): 0 or -errno. */
static napi_value ring_register_buffers(napi_env env, napi_callback_info info) {
  JS_ARGS(env, info, 2);
  js_ring *r = unwrap(env, self);
  if (!r) return NULL;
  if (r->closed) return js_int(env, -EBADF);
  napi_typedarray_type type;
  size_t length = 0;
  void *data = NULL;
  if (napi_get_typedarray_info(env, argv[0], &type, &length, &data, NULL, NULL) != napi_ok || type != napi_int32_array) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "iovecs must be an Int32Array");
    return NULL;
  }
  int32_t n = js_to_i32(env, argv[1], -1);
  if (n < 0 || (size_t)n * 4 > length) return js_int(env, -EINVAL);
  return js_int(env, um_ring_register_buffers(&r->ring, data, (unsigned)n));
}

static napi_value ring_unregister_buffers(napi_env env, napi_callback_info info) {
  JS_ARGS(env, info, 0);
  js_ring *r = unwrap(env, self);
  if (!r) return NULL;
  if (r->closed) return js_int(env, -EBADF);
  return js_int(env, um_ring_unregister_buffers(&r->ring));
}

/* registerFilesSparse(n): a sparse direct-descriptor table; 0 or -errno. */
static napi_value ring_register_files_sparse(napi_env env, napi_callback_info info) {
  JS_ARGS(env, info, 1);
  js_ring *r = unwrap(env, self);
  if (!r) return NULL;
  if (r->closed) return js_int(env, -EBADF);
  int32_t n = js_to_i32(env, argv[0], -1);
  if (n <= 0) return js_int(env, -EINVAL);
  return js_int(env, um_ring_register_files_sparse(&r->ring, (unsigned)n));
}

static napi_value ring_close_js(napi_env env, napi_callback_info info) {
  JS_ARGS(env, info, 0);
  js_ring *r = unwrap(env, self);
  if (!r) return NULL;
  js_loop_set_active(r, 0);
  ring_close(r, 1);
  return undefined(env);
}

napi_status js_machine_init(napi_env env, napi_value exports) {
  napi_property_descriptor methods[] = {
      {"map", NULL, ring_map, NULL, NULL, NULL, napi_default_method, NULL},
      {"flush", NULL, ring_flush, NULL, NULL, NULL, napi_default_method, NULL},
      {"wait", NULL, ring_wait, NULL, NULL, NULL, napi_default_method, NULL},
      {"submit", NULL, ring_submit, NULL, NULL, NULL, napi_default_method, NULL},
      {"rewind", NULL, ring_rewind, NULL, NULL, NULL, napi_default_method, NULL},
      {"setActive", NULL, ring_set_active, NULL, NULL, NULL, napi_default_method, NULL},
      {"wakeup", NULL, ring_wakeup, NULL, NULL, NULL, napi_default_method, NULL},
      {"probe", NULL, ring_probe, NULL, NULL, NULL, napi_default_method, NULL},
      {"info", NULL, ring_info, NULL, NULL, NULL, napi_default_method, NULL},
      {"close", NULL, ring_close_js, NULL, NULL, NULL, napi_default_method, NULL},
      {"bufRing", NULL, ring_buf_ring, NULL, NULL, NULL, napi_default_method, NULL},
      {"bufRingFree", NULL, ring_buf_ring_free, NULL, NULL, NULL, napi_default_method, NULL},
      {"bufAlloc", NULL, ring_buf_alloc, NULL, NULL, NULL, napi_default_method, NULL},
      {"registerBuffers", NULL, ring_register_buffers, NULL, NULL, NULL, napi_default_method, NULL},
      {"unregisterBuffers", NULL, ring_unregister_buffers, NULL, NULL, NULL, napi_default_method, NULL},
      {"registerFilesSparse", NULL, ring_register_files_sparse, NULL, NULL, NULL, napi_default_method, NULL},
  };
  napi_value cls;
  napi_status st = napi_define_class(env, "Ring", NAPI_AUTO_LENGTH, ring_new, NULL,
                                     sizeof(methods) / sizeof(methods[0]), methods, &cls);
  if (st != napi_ok) return st;
  return napi_set_named_property(env, exports, "Ring", cls);
}
