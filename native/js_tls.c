/*
 * js_tls.c: the N-API surface of native/tls.c (conversions only). Contexts
 * and connections are external values whose finalizer frees what an
 * explicit tlsCtxFree/tlsFree did not: each OpenSSL object is freed exactly
 * once, whichever comes first. Status codes (um_tls.h) are returned as
 * numbers; src/tls.ts turns them into errors.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "js.h"
#include "um_tls.h"

typedef struct {
  struct um_tls_ctx *c;
} ctx_box;

typedef struct {
  struct um_tls *t;
} conn_box;

static void ctx_finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  ctx_box *b = data;
  um_tls_ctx_unref(b->c);
  free(b);
}

static void conn_finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  conn_box *b = data;
  um_tls_free(b->t);
  free(b);
}

static void *external(napi_env env, napi_value v) {
  void *p = NULL;
  if (napi_get_value_external(env, v, &p) != napi_ok) return NULL;
  return p;
}

static struct um_tls_ctx *ctx_of(napi_env env, napi_value v) {
  ctx_box *b = external(env, v);
  return b ? b->c : NULL;
}

static struct um_tls *conn_of(napi_env env, napi_value v) {
  conn_box *b = external(env, v);
  return b ? b->t : NULL;
}

/* Bytes of a typed array (or Buffer). */
static void *bytes(napi_env env, napi_value v, size_t *len) {
  napi_typedarray_type type;
  size_t n = 0;
  void *data = NULL;
  napi_value ab;
  size_t off;
  if (napi_get_typedarray_info(env, v, &type, &n, &data, &ab, &off) != napi_ok) {
    *len = 0;
    return NULL;
  }
  size_t unit = type == napi_int32_array || type == napi_uint32_array || type == napi_float32_array ? 4
                : type == napi_int16_array || type == napi_uint16_array                        ? 2
                : type == napi_float64_array || type == napi_bigint64_array || type == napi_biguint64_array ? 8
                                                                                                  : 1;
  *len = n * unit;
  return data;
}

static napi_value str_or_null(napi_env env, const char *s, size_t len) {
  napi_value v;
  if (!s) {
    napi_get_null(env, &v);
    return v;
  }
  napi_create_string_utf8(env, s, len, &v);
  return v;
}

/* A JS string argument as a malloc'd C string, or NULL (null/undefined). */
static char *c_string(napi_env env, napi_value v) {
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_string) return NULL;
  size_t n = 0;
  napi_get_value_string_utf8(env, v, NULL, 0, &n);
  char *s = malloc(n + 1);
  if (!s) return NULL;
  napi_get_value_string_utf8(env, v, s, n + 1, &n);
  return s;
}

/* tlsSupported(): null, or the name of the first OpenSSL function the running node lacks. */
static napi_value t_supported(napi_env env, napi_callback_info info) {
  (void)info;
  const char *m = um_tls_missing_symbol();
  return str_or_null(env, m, NAPI_AUTO_LENGTH);
}

/* tlsLive(): [contexts, connections] alive in the process. */
static napi_value t_live(napi_env env, napi_callback_info info) {
  (void)info;
  long c = 0, n = 0;
  um_tls_live(&c, &n);
  napi_value arr;
  NAPI_CALL(env, napi_create_array_with_length(env, 2, &arr));
  napi_set_element(env, arr, 0, js_int(env, c));
  napi_set_element(env, arr, 1, js_int(env, n));
  return arr;
}

/* ---- Contexts ---- */

static napi_value t_ctx_new(napi_env env, napi_callback_info info) {
  JS_ARGS(env, info, 1);
  bool server = false;
  napi_get_value_bool(env, argv[0], &server);
  ctx_box *b = malloc(sizeof *b);
  if (!b) return js_int(env, -ENOMEM);
  b->c = um_tls_ctx_new(server);
  if (!b->c) {
    free(b);
    return js_int(env, -ENOMEM);
  }
  napi_value v;
  if (napi_create_external(env, b, ctx_finalize, NULL, &v) != napi_ok) {
    um_tls_ctx_unref(b->c);
    free(b);
    return NULL;
  }
  return v;
}

static napi_value t_ctx_free(napi_env env, napi_callback_info info) {
  JS_ARGS(env, info, 1);
  ctx_box *b = external(env, argv[0]);
  if (b) {
    um_tls_ctx_unref(b->c);
    b->c = NULL;
  }
  return js_int(env, 0);
}

typedef int (*pem_fn)(struct um_tls_ctx *, const char *, size_t);

static napi_value ctx_pem(napi_env env, napi_callback_info info, pem_fn fn) {
  JS_ARGS(env, info, 2);
  struct um_tls_ctx *c = ctx_of(env, argv[0]);
  if (!c) return js_int(env, UM_TLS_ERR_CLOSED);
  size_t len = 0;
  const char *pem = bytes(env, argv[1], &len);
  if (!pem) return js_int(env, -EINVAL);
  return js_int(env, fn(c, pem, len));
}

static napi_value t_ctx_cert(napi_env env, napi_callback_info info) { return ctx_pem(env, info, um_tls_ctx_use_cert); }
static napi_value t_ctx_key(napi_env env, napi_callback_info info) { return ctx_pem(env, info, um_tls_ctx_use_key); }
static napi_value t_ctx_ca(napi_env env, napi_callback_info info) { return ctx_pem(env, info, um_tls_ctx_add_ca); }
static napi_value t_ctx_roots(napi_env env, napi_callback_info info) {
  return ctx_pem(env, info, um_tls_ctx_use_default_roots);
}

static napi_value t_ctx_alpn(napi_env env, napi_callback_info info) {
  JS_ARGS(env, info, 2);
  struct um_tls_ctx *c = ctx_of(env, argv[0]);
  if (!c) return js_int(env, UM_TLS_ERR_CLOSED);
  size_t len = 0;
  const uint8_t *wire = bytes(env, argv[1], &len);
  if (!wire) return js_int(env, -EINVAL);
  return js_int(env, um_tls_ctx_set_alpn(c, wire, len));
}

/* tlsCtxVerify(ctx, verifyPeer, requirePeerCert) */
static napi_value t_ctx_verify(napi_env env, napi_callback_info info) {
  JS_ARGS(env, info, 3);
  struct um_tls_ctx *c = ctx_of(env, argv[0]);
  if (!c) return js_int(env, UM_TLS_ERR_CLOSED);
  bool v = false, r = false;
  napi_get_value_bool(env, argv[1], &v);
  napi_get_value_bool(env, argv[2], &r);
  um_tls_ctx_set_verify(c, v, r);
  return js_int(env, 0);
}

/* tlsCtxVersions(ctx, min, max): protocol version numbers (0x0303 TLS 1.2, 0x0304 TLS 1.3; 0 = default). */
static napi_value t_ctx_versions(napi_env env, napi_callback_info info) {
  JS_ARGS(env, info, 3);
  struct um_tls_ctx *c = ctx_of(env, argv[0]);
  if (!c) return js_int(env, UM_TLS_ERR_CLOSED);
  return js_int(env, um_tls_ctx_set_versions(c, js_to_i32(env, argv[1], 0), js_to_i32(env, argv[2], 0)));
}

static napi_value t_ctx_error(napi_env env, napi_callback_info info) {
  JS_ARGS(env, info, 1);
  struct um_tls_ctx *c = ctx_of(env, argv[0]);
  return str_or_null(env, c ? um_tls_ctx_error(c) : NULL, NAPI_AUTO_LENGTH);
}

/* ---- Connections ---- */

/* tlsNew(ctx, in: Uint8Array, out: Uint8Array, state: Int32Array(4)): an
 * external, or a negative status. The three arrays are the JS connection's
 * for its whole life (it keeps them referenced); C keeps their addresses and
 * touches them only inside the calls below. */
static napi_value t_new(napi_env env, napi_callback_info info) {
  JS_ARGS(env, info, 4);
  struct um_tls_ctx *c = ctx_of(env, argv[0]);
  if (!c) return js_int(env, UM_TLS_ERR_CLOSED);
  size_t in_len = 0, out_len = 0, st_len = 0;
  uint8_t *in = bytes(env, argv[1], &in_len);
  uint8_t *out = bytes(env, argv[2], &out_len);
  int32_t *st = bytes(env, argv[3], &st_len);
  if (!in || !out || !st || st_len < 16 || in_len > INT32_MAX || out_len > INT32_MAX) return js_int(env, -EINVAL);
  conn_box *b = malloc(sizeof *b);
  if (!b) return js_int(env, -ENOMEM);
  b->t = um_tls_new(c, in, (uint32_t)in_len, out, (uint32_t)out_len, st);
  if (!b->t) {
    free(b);
    return js_int(env, -ENOMEM);
  }
  napi_value v;
  if (napi_create_external(env, b, conn_finalize, NULL, &v) != napi_ok) {
    um_tls_free(b->t);
    free(b);
    return NULL;
  }
  return v;
}

/* tlsBuffers(conn, in, out): swap the network buffers (see um_tls_set_buffers). */
static napi_value t_buffers(napi_env env, napi_callback_info info) {
  JS_ARGS(env, info, 3);
  struct um_tls *t = conn_of(env, argv[0]);
  if (!t) return js_int(env, UM_TLS_ERR_CLOSED);
  size_t in_len = 0, out_len = 0;
  uint8_t *in = bytes(env, argv[1], &in_len);
  uint8_t *out = bytes(env, argv[2], &out_len);
  if (!in || !out || in_len > INT32_MAX || out_len > INT32_MAX) return js_int(env, -EINVAL);
  um_tls_set_buffers(t, in, (uint32_t)in_len, out, (uint32_t)out_len);
  return js_int(env, 0);
}

static napi_value t_free(napi_env env, napi_callback_info info) {
  JS_ARGS(env, info, 1);
  conn_box *b = external(env, argv[0]);
  if (b) {
    um_tls_free(b->t);
    b->t = NULL;
  }
  return js_int(env, 0);
}

/* tlsHost(conn, sni | null, verifyName | null) */
static napi_value t_host(napi_env env, napi_callback_info info) {
  JS_ARGS(env, info, 3);
  struct um_tls *t = conn_of(env, argv[0]);
  if (!t) return js_int(env, UM_TLS_ERR_CLOSED);
  char *sni = c_string(env, argv[1]);
  char *name = c_string(env, argv[2]);
  int rc = um_tls_set_host(t, sni, name);
  free(sni);
  free(name);
  return js_int(env, rc);
}

static napi_value t_handshake(napi_env env, napi_callback_info info) {
  JS_ARGS(env, info, 1);
  struct um_tls *t = conn_of(env, argv[0]);
  return js_int(env, t ? um_tls_handshake(t) : UM_TLS_ERR_CLOSED);
}

/* tlsRead(conn, dst, off, len) / tlsWrite(conn, src, off, len): bytes or a status. */
static napi_value rw(napi_env env, napi_callback_info info, int write) {
  JS_ARGS(env, info, 4);
  struct um_tls *t = conn_of(env, argv[0]);
  if (!t) return js_int(env, UM_TLS_ERR_CLOSED);
  size_t len = 0;
  uint8_t *p = bytes(env, argv[1], &len);
  int64_t off = js_to_i64(env, argv[2], 0), n = js_to_i64(env, argv[3], 0);
  if (!p || off < 0 || n < 0 || (uint64_t)(off + n) > len) return js_int(env, -EINVAL);
  return js_int(env, write ? um_tls_write(t, p + off, (size_t)n) : um_tls_read(t, p + off, (size_t)n));
}

static napi_value t_read(napi_env env, napi_callback_info info) { return rw(env, info, 0); }
static napi_value t_write(napi_env env, napi_callback_info info) { return rw(env, info, 1); }

static napi_value t_shutdown(napi_env env, napi_callback_info info) {
  JS_ARGS(env, info, 1);
  struct um_tls *t = conn_of(env, argv[0]);
  return js_int(env, t ? um_tls_shutdown(t) : 0);
}

static void set_str(napi_env env, napi_value obj, const char *key, const char *s, size_t len) {
  napi_set_named_property(env, obj, key, str_or_null(env, s, len));
}

/* tlsError(conn): { reason, verify, verifyText, verifyName } after UM_TLS_ERR_SSL. */
static napi_value t_error(napi_env env, napi_callback_info info) {
  JS_ARGS(env, info, 1);
  struct um_tls *t = conn_of(env, argv[0]);
  napi_value o;
  NAPI_CALL(env, napi_create_object(env, &o));
  if (!t) return o;
  long verify = 0;
  const char *vtext = NULL;
  const char *reason = um_tls_error(t, &verify, &vtext);
  set_str(env, o, "reason", reason, NAPI_AUTO_LENGTH);
  napi_set_named_property(env, o, "verify", js_int(env, verify));
  set_str(env, o, "verifyText", vtext, NAPI_AUTO_LENGTH);
  set_str(env, o, "verifyName", verify ? um_tls_verify_name(verify) : NULL, NAPI_AUTO_LENGTH);
  return o;
}

/* tlsInfo(conn): { version, cipher, servername, alpn, verify, verifyName } after the handshake. */
static napi_value t_info(napi_env env, napi_callback_info info) {
  JS_ARGS(env, info, 1);
  struct um_tls *t = conn_of(env, argv[0]);
  napi_value o;
  NAPI_CALL(env, napi_create_object(env, &o));
  if (!t) return o;
  set_str(env, o, "version", um_tls_version(t), NAPI_AUTO_LENGTH);
  set_str(env, o, "cipher", um_tls_cipher(t), NAPI_AUTO_LENGTH);
  set_str(env, o, "servername", um_tls_servername(t), NAPI_AUTO_LENGTH);
  const uint8_t *alpn;
  unsigned alen;
  um_tls_alpn(t, &alpn, &alen);
  set_str(env, o, "alpn", alen ? (const char *)alpn : NULL, alen);
  long v = um_tls_verify_result(t);
  napi_set_named_property(env, o, "verify", js_int(env, v));
  set_str(env, o, "verifyName", v > 0 ? um_tls_verify_name(v) : NULL, NAPI_AUTO_LENGTH);
  return o;
}

static napi_value t_pending(napi_env env, napi_callback_info info) {
  JS_ARGS(env, info, 1);
  struct um_tls *t = conn_of(env, argv[0]);
  return js_int(env, t ? um_tls_pending(t) : 0);
}

napi_status js_tls_init(napi_env env, napi_value exports) {
  napi_property_descriptor fns[] = {
      {"tlsSupported", NULL, t_supported, NULL, NULL, NULL, napi_enumerable, NULL},
      {"tlsLive", NULL, t_live, NULL, NULL, NULL, napi_enumerable, NULL},
      {"tlsCtxNew", NULL, t_ctx_new, NULL, NULL, NULL, napi_enumerable, NULL},
      {"tlsCtxFree", NULL, t_ctx_free, NULL, NULL, NULL, napi_enumerable, NULL},
      {"tlsCtxCert", NULL, t_ctx_cert, NULL, NULL, NULL, napi_enumerable, NULL},
      {"tlsCtxKey", NULL, t_ctx_key, NULL, NULL, NULL, napi_enumerable, NULL},
      {"tlsCtxCa", NULL, t_ctx_ca, NULL, NULL, NULL, napi_enumerable, NULL},
      {"tlsCtxRoots", NULL, t_ctx_roots, NULL, NULL, NULL, napi_enumerable, NULL},
      {"tlsCtxAlpn", NULL, t_ctx_alpn, NULL, NULL, NULL, napi_enumerable, NULL},
      {"tlsCtxVerify", NULL, t_ctx_verify, NULL, NULL, NULL, napi_enumerable, NULL},
      {"tlsCtxVersions", NULL, t_ctx_versions, NULL, NULL, NULL, napi_enumerable, NULL},
      {"tlsCtxError", NULL, t_ctx_error, NULL, NULL, NULL, napi_enumerable, NULL},
      {"tlsNew", NULL, t_new, NULL, NULL, NULL, napi_enumerable, NULL},
      {"tlsFree", NULL, t_free, NULL, NULL, NULL, napi_enumerable, NULL},
      {"tlsBuffers", NULL, t_buffers, NULL, NULL, NULL, napi_enumerable, NULL},
      {"tlsHost", NULL, t_host, NULL, NULL, NULL, napi_enumerable, NULL},
      {"tlsHandshake", NULL, t_handshake, NULL, NULL, NULL, napi_enumerable, NULL},
      {"tlsRead", NULL, t_read, NULL, NULL, NULL, napi_enumerable, NULL},
      {"tlsWrite", NULL, t_write, NULL, NULL, NULL, napi_enumerable, NULL},
      {"tlsShutdown", NULL, t_shutdown, NULL, NULL, NULL, napi_enumerable, NULL},
      {"tlsError", NULL, t_error, NULL, NULL, NULL, napi_enumerable, NULL},
      {"tlsInfo", NULL, t_info, NULL, NULL, NULL, napi_enumerable, NULL},
      {"tlsPending", NULL, t_pending, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  return napi_define_properties(env, exports, sizeof(fns) / sizeof(fns[0]), fns);
}
