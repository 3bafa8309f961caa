/*
 * udp.c: the UDP transport: one datagram per frame, on a connected
 * socket kept between batches.
 *
 *   no socket ──batch──> resolving ──addresses──> a socket connected to
 *   the first that takes it ──> sending, one frame at a time ──> idle
 *
 * "Delivered" is "the kernel took it": UDP has no acknowledgement.  A
 * connected socket learns of an ICMP port unreachable for an earlier
 * datagram as ECONNREFUSED on a later send, which did not go: that frame
 * is sent once more (the receiver may be back) before the batch stops.
 * Any other failure stops the batch and drops the socket, so the next
 * batch resolves the host again; a frame too large for a datagram stops
 * it too, and keeps the socket.  The sink's timeout bounds each batch.
 *
 * Requests (the resolution, each send) are on the heap with the batch's
 * sequence number: a reply for a batch that timed out, or for a socket
 * already dropped, is recognised and passed over.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netdb.h>

#include "transport.h"
#include "xalloc.h"

struct udp {
	struct transport base;
	uv_timer_t timer; /* bounds a batch */
	uv_udp_t *sock;   /* NULL: none; freed in its close callback */
	const struct batch *b;
	uint64_t seq; /* the batch's, in every request */
	size_t next;  /* the frame being sent */
	bool retried; /* that frame met ECONNREFUSED once */
	int refs;     /* the timer, the sockets, requests in flight */
	bool closing;
	char where[DELIVER_HOST_MAX + 16];
};

struct udp_req {
	union {
		uv_getaddrinfo_t gai;
		uv_udp_send_t send;
	} u;
	struct udp *owner;
	uint64_t seq;
};

static void send_next(struct udp *u);

static void
maybe_free(struct udp *u)
{
	if (u->closing && u->refs == 0) {
		u->base.closed(&u->base);
		free(u);
	}
}

static void
on_handle_closed(uv_handle_t *h)
{
	struct udp *u = h->data;

	if (h->type == UV_UDP)
		free(h);
	u->refs--;
	maybe_free(u);
}

static void
drop_socket(struct udp *u)
{
	if (u->sock == NULL)
		return;
	uv_close((uv_handle_t *)u->sock, on_handle_closed);
	u->sock = NULL;
}

static void finish(struct udp *u, uint32_t done, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Report the batch: DONE frames, and an error when FMT is not NULL. */
static void
finish(struct udp *u, uint32_t done, const char *fmt, ...)
{
	va_list ap;

	u->b = NULL;
	uv_timer_stop(&u->timer);
	va_start(ap, fmt);
	transport_vreport(&u->base, done, fmt, ap);
	va_end(ap);
}

/* Whether REQ's reply is for the batch in flight (and frees it). */
static bool
current(struct udp_req *req)
{
	struct udp *u = req->owner;
	bool cur = !u->closing && u->b != NULL && req->seq == u->seq;

	free(req);
	u->refs--;
	return cur;
}

static void
on_sent(uv_udp_send_t *r, int status)
{
	struct udp *u = ((struct udp_req *)r)->owner;

	if (!current((struct udp_req *)r)) {
		maybe_free(u);
		return;
	}
	if (status == 0) {
		u->next++;
		u->retried = false;
	} else if (status == UV_ECONNREFUSED && !u->retried) {
		u->retried = true; /* an earlier datagram's ICMP: again */
	} else {
		if (status != UV_EMSGSIZE)
			drop_socket(u);
		finish(u, (uint32_t)u->next, "send %s: %s", u->where,
		    uv_strerror(status));
		return;
	}
	send_next(u);
}

static void
send_next(struct udp *u)
{
	struct udp_req *req;
	uv_buf_t buf;
	int r;

	if (u->next == u->b->nframes) {
		finish(u, (uint32_t)u->next, NULL);
		return;
	}
	req = xcalloc(1, sizeof(*req));
	req->owner = u;
	req->seq = u->seq;
	buf = uv_buf_init((char *)u->b->frames[u->next].data,
	    (unsigned)u->b->frames[u->next].len);
	r = uv_udp_send(&req->u.send, u->sock, &buf, 1, NULL, on_sent);
	if (r < 0) {
		free(req);
		drop_socket(u);
		finish(u, (uint32_t)u->next, "send %s: %s", u->where,
		    uv_strerror(r));
		return;
	}
	u->refs++;
}

static void
on_resolved(uv_getaddrinfo_t *r, int status, struct addrinfo *res)
{
	struct udp *u = ((struct udp_req *)r)->owner;
	struct addrinfo *ai;
	int rc = UV_EADDRNOTAVAIL;

	if (!current((struct udp_req *)r)) {
		uv_freeaddrinfo(res);
		maybe_free(u);
		return;
	}
	if (status < 0) {
		finish(u, 0, "resolve %s: %s", u->base.cfg->host,
		    uv_strerror(status));
		return;
	}
	u->sock = xmalloc(sizeof(*u->sock));
	uv_udp_init(u->base.loop, u->sock);
	u->sock->data = u;
	u->refs++;
	/* The first address a socket connects to: UDP's connect only
	 * fixes the peer, so this is the first the system can route. */
	for (ai = res; ai != NULL; ai = ai->ai_next)
		if ((rc = uv_udp_connect(u->sock, ai->ai_addr)) == 0)
			break;
	uv_freeaddrinfo(res);
	if (rc < 0) {
		drop_socket(u);
		finish(u, 0, "connect %s: %s", u->where, uv_strerror(rc));
		return;
	}
	send_next(u);
}

static void
on_timeout(uv_timer_t *t)
{
	struct udp *u = t->data;

	/* A send the kernel holds up (a full buffer): the socket goes, and
	 * its pending send with it. */
	drop_socket(u);
	finish(u, (uint32_t)u->next, "%s: timed out after %u ms", u->where,
	    u->base.cfg->timeout_ms);
}

static int
udp_open(uv_loop_t *loop, const struct deliver_msg *cfg, struct transport **ret)
{
	struct udp *u = xcalloc(1, sizeof(*u));

	uv_timer_init(loop, &u->timer);
	u->timer.data = u;
	u->refs = 1;
	transport_where(cfg, u->where, sizeof(u->where));
	*ret = &u->base;
	return 0;
}

static void
udp_send(struct transport *t, const struct batch *b)
{
	struct udp *u = (struct udp *)t;
	struct addrinfo hints;
	struct udp_req *req;
	char port[8];
	int r;

	u->b = b;
	u->seq++;
	u->next = 0;
	u->retried = false;
	uv_timer_start(&u->timer, on_timeout, t->cfg->timeout_ms, 0);
	if (u->sock != NULL) {
		send_next(u);
		return;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_DGRAM;
	hints.ai_flags = AI_NUMERICSERV;
	snprintf(port, sizeof(port), "%d", t->cfg->port);
	req = xcalloc(1, sizeof(*req));
	req->owner = u;
	req->seq = u->seq;
	r = uv_getaddrinfo(
	    t->loop, &req->u.gai, on_resolved, t->cfg->host, port, &hints);
	if (r < 0) {
		free(req);
		finish(u, 0, "resolve %s: %s", t->cfg->host, uv_strerror(r));
		return;
	}
	u->refs++;
}

static void
udp_close(struct transport *t, const char *why)
{
	struct udp *u = (struct udp *)t;

	if (u->b != NULL)
		finish(u, (uint32_t)u->next, "%s", why);
	u->closing = true;
	drop_socket(u);
	uv_close((uv_handle_t *)&u->timer, on_handle_closed);
}

const struct transport_ops transport_udp = {
	.open = udp_open,
	.send = udp_send,
	.close = udp_close,
};
