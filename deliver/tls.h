/*
 * tls: OpenSSL for the TLS transport (RFC 5425), without any I/O of its
 * own: a client SSL on two memory BIOs, which stream.c feeds with what
 * the connection reads and drains into what it writes.
 *
 * The peer is always verified: against the sink's CA bundle (PEM, loaded
 * from memory) or else the system's store, and for the name the sink
 * gives (server_name, else host): a host name through SSL_set1_host(),
 * also sent as SNI, or an IP address through X509_VERIFY_PARAM.  TLS 1.2
 * at least.  The client certificate and its key come from memory too.
 */
#ifndef ROTAD_TLS_H
#define ROTAD_TLS_H

#include <stddef.h>

#include <openssl/ssl.h>

#include "deliver.h"

/*
 * A context for the sink CFG (its CA, certificate and key) in *RET.  0,
 * or -EINVAL with the reason in WHY (a PEM that does not parse, a key
 * that does not match the certificate), -ENOMEM.
 */
int tls_ctx_new(
    const struct deliver_msg *cfg, SSL_CTX **ret, char *why, size_t size);

/*
 * A client SSL of CTX in *RET, on memory BIOs, checking NAME.  0, or
 * -ENOMEM / -EINVAL with the reason in WHY.
 */
int tls_new(SSL_CTX *ctx, const char *name, SSL **ret, char *why, size_t size);

/*
 * Why the handshake (or a read) of SSL stopped with return value RC: the
 * certificate check's verdict when that failed ("certificate verify
 * failed: hostname mismatch"), else OpenSSL's reason.  Empties the
 * thread's error queue.
 */
void tls_reason(SSL *ssl, int rc, char *buf, size_t size);

/* Bytes the connection read, for SSL to take in. */
int tls_feed(SSL *ssl, const void *data, size_t len);

/* What SSL has for the connection to write: its length, and the bytes
 * in a malloc'ed *RET (NULL when there are none). */
size_t tls_take(SSL *ssl, void **ret);

#endif
