/*
 * tls.c: OpenSSL driven through a BIO that only moves bytes between the SSL
 * object and two JavaScript-owned buffers (see um_tls.h). The socket side is
 * recv/send ring ops issued from src/tls.ts; nothing here does I/O.
 *
 * Which OpenSSL: the one statically linked into node. Node 20 (OpenSSL
 * 3.0.x) and Node 24 (3.5.x) export SSL_*, BIO_*, X509_*, PEM_* and ERR_*
 * from the node binary itself, and Node's headers ship the openssl headers, so this
 * file is compiled against those headers and links against nothing: the
 * symbols stay undefined in um.node and the dynamic linker binds them to the
 * running node. Only functions present since OpenSSL 3.0 are used (the 3.x
 * ABI is stable).
 *
 * Every one of them is declared weak (UM_TLS_SYMBOLS below): a node built
 * against a shared or absent OpenSSL without these exports still loads the
 * addon (the references resolve to NULL instead of failing dlopen), and
 * um_tls_missing_symbol() names the first missing one, so m.tls() rejects
 * with an UnsupportedError instead of the process crashing.
 */
#define _GNU_SOURCE
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include "um_tls.h"

/* Every OpenSSL function this file calls (macros such as SSL_CTX_set_mode
 * expand to SSL_CTX_ctrl, which is listed instead). */
#define UM_TLS_SYMBOLS(X)                                                                            \
  X(TLS_method) X(SSL_CTX_new) X(SSL_CTX_free) X(SSL_CTX_ctrl) X(SSL_CTX_set_options)                   \
  X(SSL_CTX_use_certificate) X(SSL_CTX_use_PrivateKey) X(SSL_CTX_check_private_key)                 \
  X(SSL_CTX_get_cert_store) X(SSL_CTX_set1_cert_store) X(SSL_CTX_set_verify) X(SSL_CTX_set_alpn_protos) \
  X(SSL_CTX_set_alpn_select_cb) X(SSL_select_next_proto) X(SSL_new) X(SSL_free) X(SSL_set_bio)        \
  X(SSL_set_connect_state) X(SSL_set_accept_state) X(SSL_ctrl) X(SSL_set1_host) X(SSL_get0_param)      \
  X(X509_VERIFY_PARAM_set1_ip_asc) X(SSL_do_handshake) X(SSL_read) X(SSL_write) X(SSL_shutdown)        \
  X(SSL_get_error) X(SSL_get_verify_result) X(SSL_get_version) X(SSL_get_current_cipher)              \
  X(SSL_CIPHER_get_name) X(SSL_get_servername) X(SSL_get0_alpn_selected) X(SSL_pending)                \
  X(SSL_get1_peer_certificate) X(X509_free) X(PEM_read_bio_X509)               \
  X(PEM_read_bio_X509_AUX) X(PEM_read_bio_PrivateKey) X(EVP_PKEY_free) X(X509_STORE_new)               \
  X(X509_STORE_free) X(X509_STORE_add_cert) X(X509_verify_cert_error_string) X(BIO_new_mem_buf)      \
  X(BIO_new) X(BIO_free) X(BIO_meth_new) X(BIO_meth_set_write) X(BIO_meth_set_read)                   \
  X(BIO_meth_set_ctrl) X(BIO_meth_set_create) X(BIO_meth_set_destroy) X(BIO_get_new_index)            \
  X(BIO_set_data) X(BIO_get_data) X(BIO_set_init) X(BIO_set_flags) X(BIO_clear_flags)                 \
  X(ERR_clear_error) X(ERR_get_error) X(ERR_peek_error) X(ERR_reason_error_string)

#define UM_PRAGMA(x) _Pragma(#x)
#define UM_WEAK(name) UM_PRAGMA(weak name)
UM_TLS_SYMBOLS(UM_WEAK)

const char *um_tls_missing_symbol(void) {
#define UM_CHECK(name) \
  if ((void *)&name == NULL) return #name;
  UM_TLS_SYMBOLS(UM_CHECK)
#undef UM_CHECK
  return NULL;
}

/* ---- Live objects ---------------------------------------------------------- */

static long live_ctxs, live_conns;

void um_tls_live(long *ctxs, long *conns) {
  *ctxs = __atomic_load_n(&live_ctxs, __ATOMIC_RELAXED);
  *conns = __atomic_load_n(&live_conns, __ATOMIC_RELAXED);
}

/* ---- Contexts ---------------------------------------------------------------- */

struct um_tls_ctx {
  SSL_CTX *ctx;
  int refs; /* the JS context object + one per connection; one thread only */
  int is_server;
  uint8_t *alpn; /* server: the protocols it selects from, wire format */
  unsigned alpn_len;
  char err[160];
};

/* Reason of the first error in the thread's OpenSSL queue (then cleared). */
static void take_error(char *out, size_t size) {
  unsigned long e = ERR_get_error(), first = e;
  while (e != 0) e = ERR_get_error();
  const char *r = first ? ERR_reason_error_string(first) : NULL;
  snprintf(out, size, "%s", r ? r : (first ? "unknown OpenSSL error" : "no OpenSSL error reported"));
}

struct um_tls_ctx *um_tls_ctx_new(int is_server) {
  struct um_tls_ctx *c = calloc(1, sizeof *c);
  if (!c) return NULL;
  ERR_clear_error();
  c->ctx = SSL_CTX_new(TLS_method());
  if (!c->ctx) {
    ERR_clear_error();
    free(c);
    return NULL;
  }
  c->refs = 1;
  c->is_server = is_server;
  SSL_CTX_set_min_proto_version(c->ctx, TLS1_2_VERSION);
  /* Renegotiation is refused: a TLS 1.2 peer asking for it gets a
   * no_renegotiation alert and the connection goes on as it was. */
  SSL_CTX_set_options(c->ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
  /* Partial writes: SSL_write returns after each record, so a big write is
   * encrypted into network-out piece by piece. A moving buffer: after
   * WANT_WRITE the rest of the data is passed again from a new subarray. */
  SSL_CTX_set_mode(c->ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  __atomic_add_fetch(&live_ctxs, 1, __ATOMIC_RELAXED);
  return c;
}

void um_tls_ctx_unref(struct um_tls_ctx *c) {
  if (!c || --c->refs > 0) return;
  SSL_CTX_free(c->ctx);
  free(c->alpn);
  free(c);
  __atomic_sub_fetch(&live_ctxs, 1, __ATOMIC_RELAXED);
}

const char *um_tls_ctx_error(struct um_tls_ctx *c) { return c->err; }

static int ctx_fail(struct um_tls_ctx *c) {
  take_error(c->err, sizeof c->err);
  return UM_TLS_ERR_SSL;
}

int um_tls_ctx_use_cert(struct um_tls_ctx *c, const char *pem, size_t len) {
  ERR_clear_error();
  BIO *b = BIO_new_mem_buf(pem, (int)len);
  if (!b) return ctx_fail(c);
  X509 *leaf = PEM_read_bio_X509_AUX(b, NULL, NULL, NULL);
  int rc = leaf && SSL_CTX_use_certificate(c->ctx, leaf) == 1 ? 0 : UM_TLS_ERR_SSL;
  X509_free(leaf);
  /* The rest of the PEM is the chain sent after the leaf. */
  for (X509 *x; rc == 0 && (x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL;) {
    if (!SSL_CTX_add1_chain_cert(c->ctx, x)) rc = UM_TLS_ERR_SSL;
    X509_free(x);
  }
  BIO_free(b);
  if (rc != 0) return ctx_fail(c);
  ERR_clear_error(); /* the PEM loop ends with a "no start line" error */
  return 0;
}

int um_tls_ctx_use_key(struct um_tls_ctx *c, const char *pem, size_t len) {
  ERR_clear_error();
  BIO *b = BIO_new_mem_buf(pem, (int)len);
  if (!b) return ctx_fail(c);
  EVP_PKEY *k = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
  BIO_free(b);
  if (!k) return ctx_fail(c);
  int ok = SSL_CTX_use_PrivateKey(c->ctx, k) == 1 && SSL_CTX_check_private_key(c->ctx) == 1;
  EVP_PKEY_free(k);
  return ok ? 0 : ctx_fail(c);
}

static int add_pem_certs(X509_STORE *store, const char *pem, size_t len) {
  BIO *b = BIO_new_mem_buf(pem, (int)len);
  if (!b) return -1;
  int n = 0;
  for (X509 *x; (x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL; n++) {
    int ok = X509_STORE_add_cert(store, x);
    X509_free(x);
    if (!ok) {
      BIO_free(b);
      return -1;
    }
  }
  BIO_free(b);
  return n;
}

int um_tls_ctx_add_ca(struct um_tls_ctx *c, const char *pem, size_t len) {
  ERR_clear_error();
  int n = add_pem_certs(SSL_CTX_get_cert_store(c->ctx), pem, len);
  if (n <= 0) return ctx_fail(c);
  ERR_clear_error();
  return 0;
}

static pthread_mutex_t roots_lock = PTHREAD_MUTEX_INITIALIZER;
static X509_STORE *roots;

int um_tls_ctx_use_default_roots(struct um_tls_ctx *c, const char *pem, size_t len) {
  pthread_mutex_lock(&roots_lock);
  if (!roots) {
    ERR_clear_error();
    X509_STORE *s = X509_STORE_new();
    if (s && add_pem_certs(s, pem, len) > 0) roots = s;
    else X509_STORE_free(s);
    ERR_clear_error();
  }
  X509_STORE *s = roots;
  pthread_mutex_unlock(&roots_lock);
  if (!s) return ctx_fail(c);
  SSL_CTX_set1_cert_store(c->ctx, s); /* takes its own reference */
  return 0;
}

void um_tls_ctx_set_verify(struct um_tls_ctx *c, int verify_peer, int require_peer_cert) {
  int mode = verify_peer ? SSL_VERIFY_PEER : SSL_VERIFY_NONE;
  if (verify_peer && require_peer_cert) mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
  SSL_CTX_set_verify(c->ctx, mode, NULL);
}

int um_tls_ctx_set_versions(struct um_tls_ctx *c, int min, int max) {
  ERR_clear_error();
  if (min && !SSL_CTX_set_min_proto_version(c->ctx, min)) return ctx_fail(c);
  if (max && !SSL_CTX_set_max_proto_version(c->ctx, max)) return ctx_fail(c);
  return 0;
}

/* Server preference: the first of our protocols the client also offers. A
 * client that offers ALPN and shares none gets no_application_protocol
 * (RFC 7301, 3.2). */
static int alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen, const unsigned char *in,
                       unsigned inlen, void *arg) {
  (void)ssl;
  struct um_tls_ctx *c = arg;
  unsigned char *o = NULL;
  if (SSL_select_next_proto(&o, outlen, c->alpn, c->alpn_len, in, inlen) != OPENSSL_NPN_NEGOTIATED)
    return SSL_TLSEXT_ERR_ALERT_FATAL;
  *out = o;
  return SSL_TLSEXT_ERR_OK;
}

int um_tls_ctx_set_alpn(struct um_tls_ctx *c, const uint8_t *wire, size_t len) {
  if (!c->is_server) {
    ERR_clear_error();
    /* Returns 0 on success, unlike most of OpenSSL. */
    return SSL_CTX_set_alpn_protos(c->ctx, wire, (unsigned)len) == 0 ? 0 : ctx_fail(c);
  }
  uint8_t *copy = malloc(len ? len : 1);
  if (!copy) return UM_TLS_ERR_NOMEM;
  memcpy(copy, wire, len);
  free(c->alpn);
  c->alpn = copy;
  c->alpn_len = (unsigned)len;
  /* The callback's argument is this struct, which every connection holds a
   * reference on: it outlives any handshake that can call back. */
  SSL_CTX_set_alpn_select_cb(c->ctx, alpn_select, c);
  return 0;
}

/* ---- The BIO ------------------------------------------------------------------ */

struct um_tls {
  SSL *ssl;
  struct um_tls_ctx *ctx;
  uint8_t *in, *out;
  uint32_t in_cap, out_cap;
  int32_t *st;
  /* TLS record framing of the ciphertext read so far (5-byte headers:
   * type, version, length), to tell an EOF between records from one in the
   * middle of a record, which OpenSSL reports alike. */
  uint8_t hdr[5];
  uint32_t hdr_have;
  uint32_t body_left;
  int failed;  /* a sticky error status, once a call failed */
  int eof_bare; /* the peer closed between records without close_notify */
  int hs_done;  /* the handshake completed (SSL_in_init is true again while
                 * TLS 1.3 post-handshake messages are processed) */
  long verify;
  char err[160];
};

static BIO_METHOD *method;
static pthread_once_t method_once = PTHREAD_ONCE_INIT;

static void frame(struct um_tls *t, const uint8_t *p, uint32_t n) {
  while (n > 0) {
    if (t->body_left > 0) {
      uint32_t k = n < t->body_left ? n : t->body_left;
      t->body_left -= k;
      p += k;
      n -= k;
      continue;
    }
    t->hdr[t->hdr_have++] = *p++;
    n--;
    if (t->hdr_have == 5) {
      t->body_left = (uint32_t)t->hdr[3] << 8 | t->hdr[4];
      t->hdr_have = 0;
    }
  }
}

static int bio_read(BIO *b, char *dst, int len) {
  struct um_tls *t = BIO_get_data(b);
  BIO_clear_flags(b, BIO_FLAGS_READ | BIO_FLAGS_SHOULD_RETRY);
  int32_t *st = t->st;
  int32_t avail = st[1] - st[0];
  if (avail <= 0) {
    if (st[3] & UM_TLS_F_EOF) return 0; /* the peer closed: no retry */
    BIO_set_flags(b, BIO_FLAGS_READ | BIO_FLAGS_SHOULD_RETRY);
    return -1;
  }
  int n = len < avail ? len : avail;
  memcpy(dst, t->in + st[0], (size_t)n);
  frame(t, t->in + st[0], (uint32_t)n);
  st[0] += n;
  return n;
}

static int bio_write(BIO *b, const char *src, int len) {
  struct um_tls *t = BIO_get_data(b);
  BIO_clear_flags(b, BIO_FLAGS_WRITE | BIO_FLAGS_SHOULD_RETRY);
  int32_t *st = t->st;
  int32_t room = (int32_t)t->out_cap - st[2];
  if (room <= 0) {
    BIO_set_flags(b, BIO_FLAGS_WRITE | BIO_FLAGS_SHOULD_RETRY);
    return -1;
  }
  int n = len < room ? len : room;
  memcpy(t->out + st[2], src, (size_t)n);
  st[2] += n;
  return n;
}

static long bio_ctrl(BIO *b, int cmd, long num, void *ptr) {
  (void)num;
  (void)ptr;
  struct um_tls *t = BIO_get_data(b);
  switch (cmd) {
  case BIO_CTRL_FLUSH:
    return 1; /* JS sends network-out after every call */
  case BIO_CTRL_EOF:
    return t && (t->st[3] & UM_TLS_F_EOF) && t->st[1] == t->st[0];
  case BIO_CTRL_PENDING:
    return t ? t->st[1] - t->st[0] : 0;
  default:
    return 0;
  }
}

static int bio_create(BIO *b) {
  BIO_set_init(b, 1);
  return 1;
}

static int bio_destroy(BIO *b) {
  BIO_set_data(b, NULL);
  return 1;
}

static void method_init(void) {
  BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "uringmachine ring");
  if (!m) return;
  BIO_meth_set_read(m, bio_read);
  BIO_meth_set_write(m, bio_write);
  BIO_meth_set_ctrl(m, bio_ctrl);
  BIO_meth_set_create(m, bio_create);
  BIO_meth_set_destroy(m, bio_destroy);
  method = m; /* process-wide, never freed */
}

/* ---- Connections ---------------------------------------------------------------- */

struct um_tls *um_tls_new(struct um_tls_ctx *c, uint8_t *in, uint32_t in_cap, uint8_t *out, uint32_t out_cap,
                          int32_t *st) {
  pthread_once(&method_once, method_init);
  if (!method) return NULL;
  struct um_tls *t = calloc(1, sizeof *t);
  if (!t) return NULL;
  ERR_clear_error();
  t->ssl = SSL_new(c->ctx);
  BIO *b = t->ssl ? BIO_new(method) : NULL;
  if (!b) {
    SSL_free(t->ssl);
    ERR_clear_error();
    free(t);
    return NULL;
  }
  BIO_set_data(b, t);
  SSL_set_bio(t->ssl, b, b); /* one reference, for both directions */
  if (c->is_server) SSL_set_accept_state(t->ssl);
  else SSL_set_connect_state(t->ssl);
  t->ctx = c;
  c->refs++;
  t->in = in;
  t->in_cap = in_cap;
  t->out = out;
  t->out_cap = out_cap;
  t->st = st;
  __atomic_add_fetch(&live_conns, 1, __ATOMIC_RELAXED);
  return t;
}

void um_tls_set_buffers(struct um_tls *t, uint8_t *in, uint32_t in_cap, uint8_t *out, uint32_t out_cap) {
  t->in = in;
  t->in_cap = in_cap;
  t->out = out;
  t->out_cap = out_cap;
}

void um_tls_free(struct um_tls *t) {
  if (!t) return;
  SSL_free(t->ssl); /* frees the BIO; neither writes to the buffers */
  um_tls_ctx_unref(t->ctx);
  free(t);
  __atomic_sub_fetch(&live_conns, 1, __ATOMIC_RELAXED);
}

int um_tls_set_host(struct um_tls *t, const char *sni, const char *verify_name) {
  ERR_clear_error();
  if (sni && !SSL_set_tlsext_host_name(t->ssl, sni)) goto fail;
  if (verify_name) {
    /* An IP literal is matched against the certificate's IP SANs. */
    if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(t->ssl), verify_name) != 1) {
      ERR_clear_error();
      if (SSL_set1_host(t->ssl, verify_name) != 1) goto fail;
    }
  }
  return 0;
fail:
  take_error(t->err, sizeof t->err);
  return UM_TLS_ERR_SSL;
}

static int at_boundary(const struct um_tls *t) { return t->hdr_have == 0 && t->body_left == 0; }

/* Map a failed SSL_* call to a status code. */
static int status(struct um_tls *t, int ret) {
  int e = SSL_get_error(t->ssl, ret);
  switch (e) {
  case SSL_ERROR_WANT_READ:
    return UM_TLS_WANT_READ;
  case SSL_ERROR_WANT_WRITE:
    return UM_TLS_WANT_WRITE;
  case SSL_ERROR_ZERO_RETURN:
    return 0; /* close_notify */
  default:
    break;
  }
  int32_t *st = t->st;
  int eof = (st[3] & UM_TLS_F_EOF) && st[1] == st[0];
  unsigned long first = ERR_peek_error();
  int eof_error = e == SSL_ERROR_SYSCALL ? first == 0
                                        : ERR_GET_LIB(first) == ERR_LIB_SSL &&
                                              ERR_GET_REASON(first) == SSL_R_UNEXPECTED_EOF_WHILE_READING;
  if (eof && eof_error) {
    ERR_clear_error();
    if (!t->hs_done) return t->failed = UM_TLS_ERR_EOF;
    /* A peer that closes between records without close_notify (common for
     * HTTP servers) ends the stream; in the middle of one it truncated it. */
    if (!at_boundary(t)) return t->failed = UM_TLS_ERR_TRUNCATED;
    t->eof_bare = 1; /* OpenSSL counts it as fatal: no more SSL_read */
    return 0;
  }
  t->verify = SSL_get_verify_result(t->ssl);
  take_error(t->err, sizeof t->err);
  return t->failed = UM_TLS_ERR_SSL;
}

int um_tls_handshake(struct um_tls *t) {
  if (t->failed) return t->failed;
  ERR_clear_error();
  int r = SSL_do_handshake(t->ssl);
  if (r != 1) return status(t, r);
  t->hs_done = 1;
  return 0;
}

int um_tls_read(struct um_tls *t, uint8_t *dst, size_t len) {
  if (t->failed) return t->failed;
  if (t->eof_bare) return 0;
  if (len > INT_MAX) len = INT_MAX;
  size_t got = 0;
  ERR_clear_error();
  /* As many records as fit: one call from JS for many records. */
  while (got < len) {
    int n = SSL_read(t->ssl, dst + got, (int)(len - got));
    if (n > 0) {
      got += (size_t)n;
      continue;
    }
    int s = status(t, n);
    /* Bytes first; an error is sticky and comes with the next call. */
    return got > 0 ? (int)got : s;
  }
  return (int)got;
}

int um_tls_write(struct um_tls *t, const uint8_t *src, size_t len) {
  if (t->failed) return t->failed;
  if (t->eof_bare) return UM_TLS_ERR_CLOSED;
  if (len > INT_MAX) len = INT_MAX;
  size_t done = 0;
  ERR_clear_error();
  while (done < len) {
    int n = SSL_write(t->ssl, src + done, (int)(len - done));
    if (n > 0) {
      done += (size_t)n;
      continue;
    }
    int s = status(t, n);
    if (s == 0) s = UM_TLS_ERR_CLOSED; /* the connection was shut down */
    return done > 0 ? (int)done : s;
  }
  return (int)done;
}

int um_tls_shutdown(struct um_tls *t) {
  if (t->failed || t->eof_bare || !t->hs_done) return 0; /* nothing to say to a failed peer */
  ERR_clear_error();
  int r = SSL_shutdown(t->ssl);
  if (r >= 0) return 0;
  int s = status(t, r);
  if (s == UM_TLS_WANT_READ) return 0; /* close_notify is out; we do not wait for the peer's */
  return s;
}

const char *um_tls_error(struct um_tls *t, long *verify, const char **verify_text) {
  *verify = t->verify;
  *verify_text = t->verify != X509_V_OK ? X509_verify_cert_error_string(t->verify) : NULL;
  return t->err;
}

/* ---- After the handshake --------------------------------------------------------- */

const char *um_tls_version(struct um_tls *t) { return SSL_get_version(t->ssl); }

const char *um_tls_cipher(struct um_tls *t) {
  const SSL_CIPHER *c = SSL_get_current_cipher(t->ssl);
  return c ? SSL_CIPHER_get_name(c) : NULL;
}

const char *um_tls_servername(struct um_tls *t) { return SSL_get_servername(t->ssl, TLSEXT_NAMETYPE_host_name); }

void um_tls_alpn(struct um_tls *t, const uint8_t **p, unsigned *len) {
  *p = NULL;
  *len = 0;
  SSL_get0_alpn_selected(t->ssl, p, len);
}

long um_tls_verify_result(struct um_tls *t) {
  X509 *peer = SSL_get1_peer_certificate(t->ssl);
  if (!peer) return -1;
  X509_free(peer);
  return SSL_get_verify_result(t->ssl);
}

int um_tls_pending(struct um_tls *t) { return SSL_pending(t->ssl); }

/* The names Node gives these codes too (err.code of a node:tls verify error). */
const char *um_tls_verify_name(long code) {
  switch (code) {
#define N(x)        \
  case X509_V_ERR_##x: \
    return #x;
    N(UNABLE_TO_GET_ISSUER_CERT)
    N(UNABLE_TO_GET_CRL)
    N(UNABLE_TO_DECRYPT_CERT_SIGNATURE)
    N(UNABLE_TO_DECRYPT_CRL_SIGNATURE)
    N(UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY)
    N(CERT_SIGNATURE_FAILURE)
    N(CRL_SIGNATURE_FAILURE)
    N(CERT_NOT_YET_VALID)
    N(CERT_HAS_EXPIRED)
    N(CRL_NOT_YET_VALID)
    N(CRL_HAS_EXPIRED)
    N(ERROR_IN_CERT_NOT_BEFORE_FIELD)
    N(ERROR_IN_CERT_NOT_AFTER_FIELD)
    N(OUT_OF_MEM)
    N(DEPTH_ZERO_SELF_SIGNED_CERT)
    N(SELF_SIGNED_CERT_IN_CHAIN)
    N(UNABLE_TO_GET_ISSUER_CERT_LOCALLY)
    N(UNABLE_TO_VERIFY_LEAF_SIGNATURE)
    N(CERT_CHAIN_TOO_LONG)
    N(CERT_REVOKED)
    N(INVALID_CA)
    N(PATH_LENGTH_EXCEEDED)
    N(INVALID_PURPOSE)
    N(CERT_UNTRUSTED)
    N(CERT_REJECTED)
    N(HOSTNAME_MISMATCH)
    N(IP_ADDRESS_MISMATCH)
    N(EE_KEY_TOO_SMALL)
    N(CA_KEY_TOO_SMALL)
    N(CA_MD_TOO_WEAK)
#undef N
  default:
    return NULL;
  }
}
