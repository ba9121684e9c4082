/*
 * um_tls.h: TLS on top of the ring, plain-C side (native/tls.c). OpenSSL is
 * the one inside the running node binary (its SSL_* symbols are resolved at
 * load time; see tls.c for what happens when one is missing). No N-API here.
 *
 * A connection never touches its socket. Its BIO reads ciphertext from a
 * network-in buffer and writes ciphertext to a network-out buffer; both
 * buffers belong to JavaScript (src/tls.ts), which fills the first with recv
 * ops and drains the second with send ops on the ring. Four int32 state
 * words, also JS memory, say where the bytes are:
 *   st[0] in_start  first ciphertext byte OpenSSL has not read yet
 *   st[1] in_end    end of the received ciphertext
 *   st[2] out_end   end of the ciphertext OpenSSL has produced
 *   st[3] flags     UM_TLS_F_EOF: the peer closed its side (recv returned 0)
 * C advances in_start and out_end; JS advances in_end, sets the flags and
 * resets the words when a buffer is empty. All calls happen on the thread
 * that owns the connection, never while JS is inside a call, so no locking.
 */
#ifndef UM_TLS_H
#define UM_TLS_H

#include <stddef.h>
#include <stdint.h>

#define UM_TLS_F_EOF 1

/* Status codes (n >= 0 is a byte count; read: 0 = end of stream). */
#define UM_TLS_WANT_READ (-1)  /* feed more ciphertext (recv), then call again */
#define UM_TLS_WANT_WRITE (-2) /* network-out is full: send it, then call again */
#define UM_TLS_ERR_SSL (-3)    /* protocol or verification error: um_tls_error() */
#define UM_TLS_ERR_TRUNCATED (-4) /* the peer closed in the middle of a record */
#define UM_TLS_ERR_EOF (-5)    /* the peer closed before the handshake finished */
#define UM_TLS_ERR_NOMEM (-6)
#define UM_TLS_ERR_CLOSED (-7) /* the connection was freed */

struct um_tls_ctx;
struct um_tls;

/* NULL if every OpenSSL function we use is present, else the first missing name. */
const char *um_tls_missing_symbol(void);

/* Live object counts (all threads): contexts and connections not yet freed. */
void um_tls_live(long *ctxs, long *conns);

/* Contexts. Setters return 0 or UM_TLS_ERR_SSL (reason in *err / um_tls_ctx_error). */
struct um_tls_ctx *um_tls_ctx_new(int is_server);
void um_tls_ctx_unref(struct um_tls_ctx *c);
int um_tls_ctx_use_cert(struct um_tls_ctx *c, const char *pem, size_t len);
int um_tls_ctx_use_key(struct um_tls_ctx *c, const char *pem, size_t len);
int um_tls_ctx_add_ca(struct um_tls_ctx *c, const char *pem, size_t len);
/* The process-wide store of default roots (built once from pem, kept forever). */
int um_tls_ctx_use_default_roots(struct um_tls_ctx *c, const char *pem, size_t len);
void um_tls_ctx_set_verify(struct um_tls_ctx *c, int verify_peer, int require_peer_cert);
int um_tls_ctx_set_versions(struct um_tls_ctx *c, int min, int max);
/* ALPN list in wire format (length-prefixed names). */
int um_tls_ctx_set_alpn(struct um_tls_ctx *c, const uint8_t *wire, size_t len);
/* The reason string of the last failed context call. */
const char *um_tls_ctx_error(struct um_tls_ctx *c);

/* Connections. */
struct um_tls *um_tls_new(struct um_tls_ctx *c, uint8_t *in, uint32_t in_cap, uint8_t *out, uint32_t out_cap,
                          int32_t *st);
void um_tls_free(struct um_tls *t);
/* New network buffers (JS grows them for bulk transfers; the old ones must
 * hold nothing the connection still needs: JS swaps them only when empty). */
void um_tls_set_buffers(struct um_tls *t, uint8_t *in, uint32_t in_cap, uint8_t *out, uint32_t out_cap);
/* Client: SNI name (not sent for an IP literal) and the identity to verify (NULL: none). */
int um_tls_set_host(struct um_tls *t, const char *sni, const char *verify_name);
int um_tls_handshake(struct um_tls *t);
int um_tls_read(struct um_tls *t, uint8_t *dst, size_t len);
int um_tls_write(struct um_tls *t, const uint8_t *src, size_t len);
/* Queue close_notify into network-out. 0, or a status code. */
int um_tls_shutdown(struct um_tls *t);

/* After UM_TLS_ERR_SSL: the reason, and the certificate verification result
 * (0 = X509_V_OK) with its text. */
const char *um_tls_error(struct um_tls *t, long *verify, const char **verify_text);
/* Symbolic name of an X509_V_ERR_* code without the prefix ("CERT_HAS_EXPIRED"), or NULL. */
const char *um_tls_verify_name(long code);

/* After the handshake. Strings are owned by OpenSSL (valid until free). */
const char *um_tls_version(struct um_tls *t);
const char *um_tls_cipher(struct um_tls *t);
const char *um_tls_servername(struct um_tls *t);
/* Selected ALPN protocol (not NUL-terminated), len 0 if none. */
void um_tls_alpn(struct um_tls *t, const uint8_t **p, unsigned *len);
/* Verification result of the peer's certificate (X509_V_OK = 0), or -1 if the peer sent none. */
long um_tls_verify_result(struct um_tls *t);
/* Bytes of decrypted data OpenSSL holds (SSL_pending). */
int um_tls_pending(struct um_tls *t);

#endif
