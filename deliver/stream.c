/*
 * stream.c: the TCP and TLS transports: frames octet-counted (RFC 6587,
 * "LEN SP MSG"), over TLS per RFC 5425, on one connection kept open
 * between batches.
 *
 * A sink's connection, per batch:
 *
 *   DOWN ──batch──> RESOLVING ──> CONNECTING (each address in turn)
 *     ^                               │ TLS: HANDSHAKE (driven by reads)
 *     │                               v
 *     └── EOF, an error, a timeout ── UP ──> frames written; UP again
 *
 * The receiver never sends us data, yet the connection is read all the
 * time: end of file or an error there means the peer closed, and the
 * connection is dropped at once, so that the next batch reconnects.
 * Without it a write to a half-closed connection would appear to succeed
 * and its frames would be lost (rsyslog stopped, then started again).
 * Over TLS what arrives goes through OpenSSL (session tickets, a
 * close_notify, which drops the connection too).
 *
 * A frame is delivered when the write carrying its last byte has
 * completed: each frame is its own uv_write (over TLS, the records
 * SSL_write made of it), and writes complete in order.  The sink's
 * timeout bounds each step: resolving, each connection attempt, the
 * handshake, the batch's writes.  On timeout the connection goes too.
 *
 * A connection (struct conn) lives until its handle is closed and its
 * last write request has come back, which may be after the sink moved
 * on or went; requests carry the batch's sequence number, so a late
 * reply is recognised and passed over.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netdb.h>

#include <openssl/ssl.h>

#include "tls.h"
#include "transport.h"
#include "xalloc.h"

enum state {
	DOWN,
	RESOLVING,
	CONNECTING,
	HANDSHAKE,
	UP,
};

struct stream;

struct conn {
	uv_tcp_t tcp;
	uv_connect_t creq;
	struct stream *owner; /* NULL once dropped */
	SSL *ssl;             /* TLS only */
	int refs;             /* the handle, the connect and the writes */
};

struct stream {
	struct transport base;
	bool tls;
	SSL_CTX *ctx;
	char config_error[TRANSPORT_ERROR_MAX]; /* "": none */
	uv_timer_t timer;
	enum state st;
	struct conn *c;
	struct addrinfo *ai, *ai_next; /* the addresses, those left */
	char last_error[TRANSPORT_ERROR_MAX];
	const struct batch *b;
	uint64_t seq;
	uint32_t done;
	int refs; /* the timer, a resolution in flight */
	bool closing;
	char where[DELIVER_HOST_MAX + 16];
};

struct resolve_req {
	uv_getaddrinfo_t req;
	struct stream *owner;
	uint64_t seq;
};

/* A write: a frame (its header here, its bytes the batch's), or TLS
 * records (their bytes after the struct). */
struct write_req {
	uv_write_t req;
	struct conn *c;
	uint64_t seq;
	long frame; /* -1: not a frame's last bytes */
	char hdr[16];
	unsigned char data[];
};

/* One read buffer for every connection: each read is consumed at once. */
static char read_buf[64 * 1024];

static void write_batch(struct stream *s);

static void
stream_maybe_free(struct stream *s)
{
	if (!s->closing || s->refs > 0)
		return;
	SSL_CTX_free(s->ctx);
	s->base.closed(&s->base);
	free(s);
}

static void
conn_maybe_free(struct conn *c)
{
	if (c->owner != NULL || c->refs > 0)
		return;
	SSL_free(c->ssl);
	free(c);
}

static void
on_conn_closed(uv_handle_t *h)
{
	struct conn *c = h->data;

	c->refs--;
	conn_maybe_free(c);
}

/* The connection goes: its pending connect and writes come back
 * cancelled, and are passed over. */
static void
drop_conn(struct stream *s)
{
	struct conn *c = s->c;

	s->st = DOWN;
	if (c == NULL)
		return;
	s->c = NULL;
	c->owner = NULL;
	uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
}

static void finish(struct stream *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Report the batch: the frames done so far, an error when FMT is set. */
static void
finish(struct stream *s, const char *fmt, ...)
{
	va_list ap;

	s->b = NULL;
	uv_timer_stop(&s->timer);
	if (s->ai != NULL) {
		uv_freeaddrinfo(s->ai);
		s->ai = s->ai_next = NULL;
	}
	va_start(ap, fmt);
	transport_vreport(&s->base, s->done, fmt, ap);
	va_end(ap);
}

/* Stop the batch on a failure of the connection, which goes. */
static void
fail_conn(struct stream *s, const char *what, const char *reason)
{
	drop_conn(s);
	if (s->b != NULL)
		finish(s, "%s %s: %s", what, s->where, reason);
}

static void
restart_timer(struct stream *s, uv_timer_cb cb)
{
	uv_timer_start(&s->timer, cb, s->base.cfg->timeout_ms, 0);
}

/* Queue BUFS on the connection under W, which the callback frees (and
 * which is freed here on failure).  0 or a libuv error. */
static int queue_write(
    struct stream *s, struct write_req *w, uv_buf_t *bufs, unsigned nbufs);

static void
on_written(uv_write_t *req, int status)
{
	struct write_req *w = (struct write_req *)req;
	struct conn *c = w->c;
	struct stream *s = c->owner;
	bool current = s != NULL && s->b != NULL && w->seq == s->seq;
	long frame = w->frame;

	c->refs--;
	free(w);
	if (!current) {
		conn_maybe_free(c);
		return;
	}
	if (status < 0) {
		fail_conn(s, "write", uv_strerror(status));
		return;
	}
	if (frame >= 0) {
		s->done = (uint32_t)frame + 1;
		if (s->done == s->b->nframes)
			finish(s, NULL);
	}
}

static int
queue_write(
    struct stream *s, struct write_req *w, uv_buf_t *bufs, unsigned nbufs)
{
	int r;

	w->c = s->c;
	w->seq = s->seq;
	r = uv_write(
	    &w->req, (uv_stream_t *)&s->c->tcp, bufs, nbufs, on_written);
	if (r < 0) {
		free(w);
		return r;
	}
	s->c->refs++;
	return 0;
}

/* What OpenSSL has to send, as one write; FRAME as write_req's. */
static int
flush_tls(struct stream *s, long frame)
{
	struct write_req *w;
	void *bytes;
	size_t n;
	uv_buf_t buf;

	if ((n = tls_take(s->c->ssl, &bytes)) == 0)
		return 0;
	w = xmalloc(sizeof(*w) + n);
	memcpy(w->data, bytes, n);
	free(bytes);
	w->frame = frame;
	buf = uv_buf_init((char *)w->data, (unsigned)n);
	return queue_write(s, w, &buf, 1);
}

/* What OpenSSL has to send, if the socket takes it now; for a
 * connection about to go, nothing being queued before. */
static void
send_now(struct conn *c)
{
	void *bytes;
	size_t n;
	uv_buf_t buf;

	if ((n = tls_take(c->ssl, &bytes)) == 0)
		return;
	buf = uv_buf_init(bytes, (unsigned)n);
	(void)uv_try_write((uv_stream_t *)&c->tcp, &buf, 1);
	free(bytes);
}

static void
on_write_timeout(uv_timer_t *t)
{
	struct stream *s = t->data;

	fail_conn(s, "write", "timed out");
}

/* Frame I over TCP, "LEN SP MSG": its header and the batch's bytes,
 * one write. */
static int
write_frame_tcp(struct stream *s, size_t i)
{
	const struct deliver_frame *f = &s->b->frames[i];
	struct write_req *w = xmalloc(sizeof(*w));
	uv_buf_t bufs[2];
	int n;

	w->frame = (long)i;
	n = snprintf(w->hdr, sizeof(w->hdr), "%zu ", f->len);
	bufs[0] = uv_buf_init(w->hdr, (unsigned)n);
	bufs[1] = uv_buf_init((char *)f->data, (unsigned)f->len);
	return queue_write(s, w, bufs, 2);
}

/* Frame I over TLS: the records SSL_write() makes of "LEN SP MSG", one
 * write.  A memory BIO takes all: SSL_write() does not come back short. */
static int
write_frame_tls(struct stream *s, size_t i)
{
	const struct deliver_frame *f = &s->b->frames[i];
	unsigned char *msg;
	char hdr[16];
	int n, r = 0;

	n = snprintf(hdr, sizeof(hdr), "%zu ", f->len);
	msg = xmalloc((size_t)n + f->len);
	memcpy(msg, hdr, (size_t)n);
	memcpy(msg + n, f->data, f->len);
	if (SSL_write(s->c->ssl, msg, n + (int)f->len) <= 0)
		r = UV_EPROTO;
	free(msg);
	return r < 0 ? r : flush_tls(s, (long)i);
}

/* The batch's frames, in order, each its own write (see the top). */
static void
write_batch(struct stream *s)
{
	size_t i;
	int r = 0;

	restart_timer(s, on_write_timeout);
	for (i = 0; i < s->b->nframes && r == 0; i++)
		r = s->tls ? write_frame_tls(s, i) : write_frame_tcp(s, i);
	if (r < 0)
		fail_conn(s, "write", uv_strerror(r));
}

static void
on_handshake_timeout(uv_timer_t *t)
{
	struct stream *s = t->data;

	fail_conn(s, "TLS", "handshake timed out");
}

/* One step of the handshake, after a read; on to the batch once done. */
static void
handshake(struct stream *s)
{
	char reason[TRANSPORT_ERROR_MAX];
	int rc, err;

	rc = SSL_do_handshake(s->c->ssl);
	if (rc == 1) {
		s->st = UP;
		if (flush_tls(s, -1) < 0)
			fail_conn(s, "TLS", "write failed");
		else
			write_batch(s);
		return;
	}
	err = SSL_get_error(s->c->ssl, rc);
	if (err == SSL_ERROR_WANT_READ) {
		if (flush_tls(s, -1) < 0)
			fail_conn(s, "TLS", "write failed");
		return;
	}
	tls_reason(s->c->ssl, rc, reason, sizeof(reason));
	/* Our alert (bad certificate, ...) goes if the socket takes it at
	 * once: the receiver learns why, and we do not wait. */
	send_now(s->c);
	fail_conn(s, "TLS", reason);
}

/* Records that came while UP: tickets, a close_notify, an alert. */
static void
tls_drain(struct stream *s)
{
	char reason[TRANSPORT_ERROR_MAX];
	char junk[4096];
	int rc, err;

	while ((rc = SSL_read(s->c->ssl, junk, sizeof(junk))) > 0)
		continue; /* the receiver has nothing to say to us */
	err = SSL_get_error(s->c->ssl, rc);
	if (err == SSL_ERROR_WANT_READ) {
		if (flush_tls(s, -1) < 0)
			fail_conn(s, "TLS", "write failed");
		return;
	}
	tls_reason(s->c->ssl, rc, reason, sizeof(reason));
	fail_conn(s, "TLS", reason);
}

static void
on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	*buf = uv_buf_init(read_buf, sizeof(read_buf));
}

static void
on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
	struct conn *c = st->data;
	struct stream *s = c->owner;

	if (s == NULL || nread == 0)
		return;
	if (nread < 0) {
		fail_conn(s, "connection",
		    nread == UV_EOF ? "closed by the peer"
				    : uv_strerror((int)nread));
		return;
	}
	if (!s->tls)
		return; /* a receiver that talks: ignored */
	if (tls_feed(c->ssl, buf->base, (size_t)nread) < 0)
		xalloc_fail();
	if (s->st == HANDSHAKE)
		handshake(s);
	else
		tls_drain(s);
}

static void connect_next(struct stream *s);

static void
on_connect_timeout(uv_timer_t *t)
{
	struct stream *s = t->data;

	snprintf(s->last_error, sizeof(s->last_error), "timed out");
	drop_conn(s);
	connect_next(s);
}

static void
on_connected(uv_connect_t *req, int status)
{
	struct conn *c = req->data;
	struct stream *s = c->owner;
	char why[TRANSPORT_ERROR_MAX];
	const char *name;

	c->refs--;
	if (s == NULL) {
		conn_maybe_free(c);
		return;
	}
	if (status < 0) {
		snprintf(s->last_error, sizeof(s->last_error), "%s",
		    uv_strerror(status));
		drop_conn(s);
		connect_next(s);
		return;
	}
	uv_freeaddrinfo(s->ai);
	s->ai = s->ai_next = NULL;
	uv_tcp_nodelay(&c->tcp, 1);
	uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
	if (!s->tls) {
		s->st = UP;
		write_batch(s);
		return;
	}
	name = s->base.cfg->server_name != NULL ? s->base.cfg->server_name
						: s->base.cfg->host;
	if (tls_new(s->ctx, name, &c->ssl, why, sizeof(why)) < 0) {
		fail_conn(s, "TLS", why);
		return;
	}
	s->st = HANDSHAKE;
	restart_timer(s, on_handshake_timeout);
	handshake(s);
}

/* A connection to the next address; the batch fails after the last. */
static void
connect_next(struct stream *s)
{
	struct addrinfo *ai = s->ai_next;
	struct conn *c;
	int r;

	if (ai == NULL) {
		finish(s, "connect %s: %s", s->where, s->last_error);
		return;
	}
	s->ai_next = ai->ai_next;
	c = xcalloc(1, sizeof(*c));
	uv_tcp_init(s->base.loop, &c->tcp);
	c->tcp.data = c;
	c->creq.data = c;
	c->owner = s;
	c->refs = 1; /* the handle */
	s->c = c;
	s->st = CONNECTING;
	r = uv_tcp_connect(&c->creq, &c->tcp, ai->ai_addr, on_connected);
	if (r < 0) {
		snprintf(
		    s->last_error, sizeof(s->last_error), "%s", uv_strerror(r));
		drop_conn(s);
		connect_next(s);
		return;
	}
	c->refs++;
	restart_timer(s, on_connect_timeout);
}

static void
on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
	struct resolve_req *rr = (struct resolve_req *)req;
	struct stream *s = rr->owner;
	bool current = !s->closing && s->b != NULL && rr->seq == s->seq;

	free(rr);
	s->refs--;
	if (!current) {
		uv_freeaddrinfo(res);
		stream_maybe_free(s);
		return;
	}
	if (status < 0) {
		s->st = DOWN;
		finish(s, "resolve %s: %s", s->base.cfg->host,
		    uv_strerror(status));
		return;
	}
	s->ai = s->ai_next = res;
	snprintf(s->last_error, sizeof(s->last_error), "no address");
	connect_next(s);
}

static void
on_resolve_timeout(uv_timer_t *t)
{
	struct stream *s = t->data;

	/* The resolution's late reply is passed over. */
	s->st = DOWN;
	finish(s, "resolve %s: timed out", s->base.cfg->host);
}

static void
resolve(struct stream *s)
{
	struct resolve_req *rr = xcalloc(1, sizeof(*rr));
	struct addrinfo hints;
	char port[8];
	int r;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	snprintf(port, sizeof(port), "%d", s->base.cfg->port);
	rr->owner = s;
	rr->seq = s->seq;
	s->st = RESOLVING;
	r = uv_getaddrinfo(s->base.loop, &rr->req, on_resolved,
	    s->base.cfg->host, port, &hints);
	if (r < 0) {
		free(rr);
		s->st = DOWN;
		finish(s, "resolve %s: %s", s->base.cfg->host, uv_strerror(r));
		return;
	}
	s->refs++;
	restart_timer(s, on_resolve_timeout);
}

static void
on_timer_closed(uv_handle_t *h)
{
	struct stream *s = h->data;

	s->refs--;
	stream_maybe_free(s);
}

static int
stream_open(
    uv_loop_t *loop, const struct deliver_msg *cfg, struct transport **ret)
{
	struct stream *s = xcalloc(1, sizeof(*s));

	s->tls = cfg->kind == DELIVER_TLS;
	uv_timer_init(loop, &s->timer);
	s->timer.data = s;
	s->refs = 1;
	transport_where(cfg, s->where, sizeof(s->where));
	if (s->tls &&
	    tls_ctx_new(
		cfg, &s->ctx, s->config_error, sizeof(s->config_error)) < 0 &&
	    s->config_error[0] == '\0')
		snprintf(s->config_error, sizeof(s->config_error),
		    "TLS configuration refused");
	*ret = &s->base;
	return 0;
}

static void
stream_send(struct transport *t, const struct batch *b)
{
	struct stream *s = (struct stream *)t;

	s->b = b;
	s->seq++;
	s->done = 0;
	if (s->config_error[0] != '\0')
		finish(s, "%s", s->config_error);
	else if (s->st == UP)
		write_batch(s);
	else
		resolve(s);
}

/*
 * A connection at rest (up, nothing in flight) says goodbye before it
 * goes: over TLS a close_notify, so that the receiver sees an orderly
 * end, not a truncation.  Best effort and without waiting.
 */
static void
goodbye(struct stream *s)
{
	struct conn *c = s->c;

	if (c == NULL || s->st != UP || c->refs != 1 || c->ssl == NULL)
		return;
	(void)SSL_shutdown(c->ssl);
	send_now(c);
}

static void
stream_close(struct transport *t, const char *why)
{
	struct stream *s = (struct stream *)t;

	if (s->b != NULL)
		finish(s, "%s", why);
	else
		goodbye(s);
	s->closing = true;
	drop_conn(s);
	uv_close((uv_handle_t *)&s->timer, on_timer_closed);
}

const struct transport_ops transport_stream = {
	.open = stream_open,
	.send = stream_send,
	.close = stream_close,
};
