/*
 * tls.c: OpenSSL contexts and memory-BIO sessions (tls.h).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "secret.h"
#include "tls.h"
#include "xalloc.h"

static int fail(char *why, size_t size, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* WHY: FMT's sentence, then OpenSSL's first reason when it has one. */
static int
fail(char *why, size_t size, int rc, const char *fmt, ...)
{
	unsigned long e = ERR_peek_error();
	const char *reason = e != 0 ? ERR_reason_error_string(e) : NULL;
	size_t len;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, size, fmt, ap);
	va_end(ap);
	len = strlen(why);
	if (reason != NULL && len < size)
		snprintf(why + len, size - len, ": %s", reason);
	ERR_clear_error();
	return rc;
}

/* Every certificate of the PEM bundle CA into the context's store. */
static int
load_ca(SSL_CTX *ctx, const char *ca, char *why, size_t size)
{
	X509_STORE *store = SSL_CTX_get_cert_store(ctx);
	BIO *bio;
	X509 *x;
	int n = 0, r = 0;

	if ((bio = BIO_new_mem_buf(ca, -1)) == NULL)
		return fail(why, size, -ENOMEM, "CA bundle");
	while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
		if (X509_STORE_add_cert(store, x) != 1) {
			X509_free(x);
			r = fail(why, size, -EINVAL, "CA bundle");
			goto out;
		}
		X509_free(x);
		n++;
	}
	/* The loop ends on "no start line" after the last one. */
	ERR_clear_error();
	if (n == 0)
		r = fail(why, size, -EINVAL, "CA bundle: no certificate");
out:
	BIO_free(bio);
	return r;
}

/* The client certificate (the first of CERT, the rest its chain) and the
 * key, from memory; the key is read straight from the secret's pages. */
static int
load_client(SSL_CTX *ctx, const char *cert, const struct secret *key, char *why,
    size_t size)
{
	BIO *bio = NULL;
	EVP_PKEY *pk = NULL;
	X509 *x = NULL;
	int r = -EINVAL;

	if ((bio = BIO_new_mem_buf(cert, -1)) == NULL ||
	    (x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) == NULL ||
	    SSL_CTX_use_certificate(ctx, x) != 1) {
		r = fail(why, size, -EINVAL, "client certificate");
		goto out;
	}
	X509_free(x);
	while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL)
		if (SSL_CTX_add0_chain_cert(ctx, x) != 1) {
			r = fail(
			    why, size, -EINVAL, "client certificate chain");
			goto out;
		}
	ERR_clear_error();
	BIO_free(bio);
	bio = BIO_new_mem_buf(secret_data(key), (int)secret_len(key));
	/* No passphrase callback: an encrypted key is refused, not
	 * prompted for. */
	if (bio == NULL ||
	    (pk = PEM_read_bio_PrivateKey(bio, NULL, NULL, (void *)"")) ==
		NULL ||
	    SSL_CTX_use_PrivateKey(ctx, pk) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1) {
		r = fail(why, size, -EINVAL, "client key");
		goto out;
	}
	r = 0;
out:
	X509_free(x);
	EVP_PKEY_free(pk);
	BIO_free(bio);
	return r;
}

int
tls_ctx_new(
    const struct deliver_msg *cfg, SSL_CTX **ret, char *why, size_t size)
{
	SSL_CTX *ctx;
	int r;

	*ret = NULL;
	if ((ctx = SSL_CTX_new(TLS_client_method())) == NULL)
		return fail(why, size, -ENOMEM, "TLS context");
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	/* No renegotiation, no compression: what RFC 5425 needs. */
	SSL_CTX_set_options(
	    ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
	if (cfg->ca_pem != NULL)
		r = load_ca(ctx, cfg->ca_pem, why, size);
	else if (SSL_CTX_set_default_verify_paths(ctx) != 1)
		r = fail(why, size, -EINVAL, "the system's CA store");
	else
		r = 0;
	if (r == 0 && cfg->cert_pem != NULL)
		r = load_client(ctx, cfg->cert_pem, cfg->key_pem, why, size);
	if (r < 0) {
		SSL_CTX_free(ctx);
		return r;
	}
	*ret = ctx;
	return 0;
}

int
tls_new(SSL_CTX *ctx, const char *name, SSL **ret, char *why, size_t size)
{
	X509_VERIFY_PARAM *param;
	BIO *rbio = NULL, *wbio = NULL;
	SSL *ssl;
	int ok;

	*ret = NULL;
	if ((ssl = SSL_new(ctx)) == NULL ||
	    (rbio = BIO_new(BIO_s_mem())) == NULL ||
	    (wbio = BIO_new(BIO_s_mem())) == NULL) {
		BIO_free(rbio);
		SSL_free(ssl);
		return fail(why, size, -ENOMEM, "TLS session");
	}
	/* An empty read BIO says "retry", not "end of file". */
	BIO_set_mem_eof_return(rbio, -1);
	SSL_set_bio(ssl, rbio, wbio);
	SSL_set_connect_state(ssl);
	param = SSL_get0_param(ssl);
	/* An IP literal is checked against the certificate's IP
	 * addresses and sends no SNI (RFC 6066 forbids one); a name
	 * against its DNS names, and goes as SNI. */
	if (X509_VERIFY_PARAM_set1_ip_asc(param, name) == 1)
		ok = 1;
	else
		ok = SSL_set1_host(ssl, name) == 1 &&
		    SSL_set_tlsext_host_name(ssl, name) == 1;
	if (!ok) {
		SSL_free(ssl);
		return fail(why, size, -EINVAL, "TLS name %s", name);
	}
	ERR_clear_error();
	*ret = ssl;
	return 0;
}

void
tls_reason(SSL *ssl, int rc, char *buf, size_t size)
{
	long v = SSL_get_verify_result(ssl);
	int err = SSL_get_error(ssl, rc);

	if (v != X509_V_OK) {
		snprintf(buf, size, "certificate verify failed: %s",
		    X509_verify_cert_error_string(v));
		ERR_clear_error();
	} else if (err == SSL_ERROR_ZERO_RETURN)
		snprintf(buf, size, "closed by the peer (close_notify)");
	else if (ERR_peek_error() != 0)
		fail(buf, size, 0, "TLS error");
	else
		snprintf(buf, size, "TLS error %d", err);
}

int
tls_feed(SSL *ssl, const void *data, size_t len)
{
	return BIO_write(SSL_get_rbio(ssl), data, (int)len) == (int)len
	    ? 0
	    : -ENOMEM;
}

size_t
tls_take(SSL *ssl, void **ret)
{
	BIO *wbio = SSL_get_wbio(ssl);
	size_t n = BIO_ctrl_pending(wbio);

	*ret = NULL;
	if (n == 0)
		return 0;
	*ret = xmalloc(n);
	/* A memory BIO hands over all it holds at once. */
	if (BIO_read(wbio, *ret, (int)n) != (int)n)
		xalloc_fail();
	return n;
}
