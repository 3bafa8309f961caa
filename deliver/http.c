/*
 * http.c: the HTTP transport: POST to the sink's URL with libcurl's
 * multi interface, driven by the process's libuv loop.
 *
 * Each sink has a multi handle of its own (its connection cache, so one
 * keeps its connection between batches and no sink waits on another's),
 * a uv_timer for curl's timeouts and a uv_poll per socket curl asks to
 * watch: the well-known pairing of CURLMOPT_SOCKETFUNCTION and
 * CURLMOPT_TIMERFUNCTION with libuv.  One request at a time:
 *
 *   http_batch: one POST, the frames joined by '\n'; done = all on a
 *               2xx, else 0;
 *   otherwise:  one POST per frame, in order; done = the 2xx answers
 *               before the first other outcome.
 *
 * Each request is bounded by the sink's timeout (CURLOPT_TIMEOUT_MS),
 * follows no redirect, speaks only http and https, verifies the peer and
 * its name.  The Authorization header is built in a struct secret, and
 * curl's list copy of it is wiped once the request is over; it is never
 * logged, and an error names the status or curl's reason, never the
 * header nor the URL's path and query (a webhook's URL often holds its
 * token).  A server_name other than the URL's host goes into the URL
 * (the name the certificate must carry, and the Host header), and the
 * connection goes to the URL's host (CURLOPT_CONNECT_TO).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "config.h"
#include "secret.h"
#include "transport.h"
#include "xalloc.h"

#define AUTH_PREFIX "Authorization: "

struct http_sock {
	uv_poll_t poll;
	struct http *owner;
	curl_socket_t fd;
	struct http_sock *next; /* the owner's list */
};

struct http {
	struct transport base;
	CURLM *multi;
	uv_timer_t timer;
	struct http_sock *socks;
	int refs; /* the timer and the polls */
	bool closing;
	char *url;                     /* server_name's, or NULL */
	struct curl_slist *connect_to; /* for server_name */
	char where[DELIVER_URL_MAX];   /* scheme://host:port, for errors */
	char config_error[TRANSPORT_ERROR_MAX];
	/* The request in flight. */
	CURL *easy;
	struct curl_slist *headers;
	char errbuf[CURL_ERROR_SIZE];
	char *body; /* http_batch's joined frames */
	/* The batch. */
	const struct batch *b;
	size_t next;
	uint32_t done;
};

static void start_request(struct http *h);

static void
maybe_free(struct http *h)
{
	if (!h->closing || h->refs > 0)
		return;
	curl_slist_free_all(h->connect_to);
	curl_free(h->url);
	h->base.closed(&h->base);
	free(h);
}

static void
on_handle_closed(uv_handle_t *handle)
{
	struct http *h;

	if (handle->type == UV_POLL) {
		h = ((struct http_sock *)handle->data)->owner;
		free(handle->data);
	} else
		h = handle->data;
	h->refs--;
	maybe_free(h);
}

static void
forget_sock(struct http *h, struct http_sock *hs)
{
	struct http_sock **pp;

	for (pp = &h->socks; *pp != NULL; pp = &(*pp)->next)
		if (*pp == hs) {
			*pp = hs->next;
			break;
		}
	uv_close((uv_handle_t *)&hs->poll, on_handle_closed);
}

/* The headers' list goes, the Authorization's copy wiped first. */
static void
free_headers(struct http *h)
{
	struct curl_slist *l;

	for (l = h->headers; l != NULL; l = l->next)
		if (strncmp(l->data, AUTH_PREFIX, strlen(AUTH_PREFIX)) == 0)
			explicit_bzero(l->data, strlen(l->data));
	curl_slist_free_all(h->headers);
	h->headers = NULL;
}

static void
end_request(struct http *h)
{
	if (h->easy != NULL) {
		curl_multi_remove_handle(h->multi, h->easy);
		curl_easy_cleanup(h->easy);
		h->easy = NULL;
	}
	free_headers(h);
	free(h->body);
	h->body = NULL;
}

static void finish(struct http *h, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
finish(struct http *h, const char *fmt, ...)
{
	va_list ap;

	end_request(h);
	h->b = NULL;
	va_start(ap, fmt);
	transport_vreport(&h->base, h->done, fmt, ap);
	va_end(ap);
}

/* A request is over: on to the next frame, or the batch is. */
static void
request_done(struct http *h, CURLcode rc)
{
	long status = 0;

	if (rc != CURLE_OK) {
		finish(h, "POST %s: %s", h->where,
		    h->errbuf[0] != '\0' ? h->errbuf : curl_easy_strerror(rc));
		return;
	}
	curl_easy_getinfo(h->easy, CURLINFO_RESPONSE_CODE, &status);
	if (status < 200 || status > 299) {
		finish(h, "POST %s: HTTP %ld", h->where, status);
		return;
	}
	if (h->base.cfg->http_batch) {
		h->done = (uint32_t)h->b->nframes;
		finish(h, NULL);
		return;
	}
	h->done++;
	if (++h->next == h->b->nframes) {
		finish(h, NULL);
		return;
	}
	end_request(h);
	start_request(h);
}

static void
check_done(struct http *h)
{
	CURLMsg *msg;
	int left;

	while (!h->closing &&
	    (msg = curl_multi_info_read(h->multi, &left)) != NULL)
		if (msg->msg == CURLMSG_DONE && msg->easy_handle == h->easy)
			request_done(h, msg->data.result);
}

static void
on_poll(uv_poll_t *p, int status, int events)
{
	struct http_sock *hs = p->data;
	struct http *h = hs->owner;
	int flags = 0, running;

	if (status < 0)
		flags = CURL_CSELECT_ERR;
	if (events & UV_READABLE)
		flags |= CURL_CSELECT_IN;
	if (events & UV_WRITABLE)
		flags |= CURL_CSELECT_OUT;
	curl_multi_socket_action(h->multi, hs->fd, flags, &running);
	check_done(h);
}

static void
on_timeout(uv_timer_t *t)
{
	struct http *h = t->data;
	int running;

	curl_multi_socket_action(h->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	check_done(h);
}

/* CURLMOPT_SOCKETFUNCTION: watch FD for WHAT, or no longer. */
static int
on_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
	struct http *h = userp;
	struct http_sock *hs = socketp;
	int events = 0;

	if (what == CURL_POLL_REMOVE) {
		if (hs != NULL) {
			curl_multi_assign(h->multi, fd, NULL);
			forget_sock(h, hs);
		}
		return 0;
	}
	if (hs == NULL) {
		hs = xcalloc(1, sizeof(*hs));
		if (uv_poll_init_socket(h->base.loop, &hs->poll, fd) < 0) {
			free(hs);
			return -1; /* curl fails the transfer */
		}
		hs->poll.data = hs;
		hs->owner = h;
		hs->fd = fd;
		hs->next = h->socks;
		h->socks = hs;
		h->refs++;
		curl_multi_assign(h->multi, fd, hs);
	}
	if (what & CURL_POLL_IN)
		events |= UV_READABLE;
	if (what & CURL_POLL_OUT)
		events |= UV_WRITABLE;
	uv_poll_start(&hs->poll, events, on_poll);
	return 0;
}

/* CURLMOPT_TIMERFUNCTION: call back in TIMEOUT_MS, or never (-1). */
static int
on_curl_timer(CURLM *multi, long timeout_ms, void *userp)
{
	struct http *h = userp;

	if (h->closing)
		return 0;
	if (timeout_ms < 0)
		uv_timer_stop(&h->timer);
	else
		uv_timer_start(&h->timer, on_timeout, (uint64_t)timeout_ms, 0);
	return 0;
}

static size_t
discard(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	return size * nmemb; /* the answer's body is not ours to keep */
}

/* The request's headers: the Content-Type, the Authorization (built in
 * a secret; curl's list keeps a copy, wiped by free_headers()), no
 * "Expect: 100-continue". */
static void
build_headers(struct http *h)
{
	const struct deliver_msg *cfg = h->base.cfg;
	struct curl_slist *l;
	struct secret *line;
	size_t plen = strlen(AUTH_PREFIX), alen;
	char *ct;

	ct = xasprintf("Content-Type: %s",
	    cfg->content_type != NULL ? cfg->content_type : "application/json");
	h->headers = curl_slist_append(NULL, ct);
	free(ct);
	if (h->headers == NULL ||
	    curl_slist_append(h->headers, "Expect:") == NULL)
		xalloc_fail();
	if (cfg->auth == NULL)
		return;
	alen = secret_len(cfg->auth);
	if (secret_new(NULL, plen + alen + 1, &line) < 0)
		xalloc_fail();
	memcpy(secret_buf(line), AUTH_PREFIX, plen);
	memcpy((char *)secret_buf(line) + plen, secret_data(cfg->auth), alen);
	((char *)secret_buf(line))[plen + alen] = '\0';
	l = curl_slist_append(h->headers, secret_data(line));
	secret_free(line);
	if (l == NULL)
		xalloc_fail();
}

static void
start_request(struct http *h)
{
	const struct deliver_msg *cfg = h->base.cfg;
	struct curl_blob ca, cert, key;
	const struct deliver_frame *f;
	const void *body;
	size_t len, i;
	CURL *e;

	if (cfg->http_batch) {
		for (len = 0, i = 0; i < h->b->nframes; i++)
			len += h->b->frames[i].len + 1;
		h->body = xmalloc(len);
		for (len = 0, i = 0; i < h->b->nframes; i++) {
			f = &h->b->frames[i];
			if (i > 0)
				h->body[len++] = '\n';
			memcpy(h->body + len, f->data, f->len);
			len += f->len;
		}
		body = h->body;
	} else {
		body = h->b->frames[h->next].data;
		len = h->b->frames[h->next].len;
	}
	if ((e = h->easy = curl_easy_init()) == NULL)
		xalloc_fail();
	build_headers(h);
	h->errbuf[0] = '\0';
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, h->errbuf);
	curl_easy_setopt(e, CURLOPT_URL, h->url != NULL ? h->url : cfg->url);
	curl_easy_setopt(e, CURLOPT_CONNECT_TO, h->connect_to);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(e, CURLOPT_PROXY, ""); /* none, from anywhere */
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)cfg->timeout_ms);
	curl_easy_setopt(e, CURLOPT_USERAGENT, "rotad-deliver/" ROTAD_VERSION);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, h->headers);
	curl_easy_setopt(e, CURLOPT_POST, 1L);
	curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard);
	curl_easy_setopt(e, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
	if (cfg->ca_pem != NULL) {
		/* This bundle only: not the system's besides. */
		ca.data = cfg->ca_pem;
		ca.len = strlen(cfg->ca_pem);
		ca.flags = CURL_BLOB_NOCOPY;
		curl_easy_setopt(e, CURLOPT_CAINFO_BLOB, &ca);
		curl_easy_setopt(e, CURLOPT_CAINFO, NULL);
		curl_easy_setopt(e, CURLOPT_CAPATH, NULL);
	}
	if (cfg->cert_pem != NULL) {
		/* The key is read from the secret's pages, not copied. */
		cert.data = cfg->cert_pem;
		cert.len = strlen(cfg->cert_pem);
		cert.flags = CURL_BLOB_NOCOPY;
		key.data = (void *)secret_data(cfg->key_pem);
		key.len = secret_len(cfg->key_pem);
		key.flags = CURL_BLOB_NOCOPY;
		curl_easy_setopt(e, CURLOPT_SSLCERT_BLOB, &cert);
		curl_easy_setopt(e, CURLOPT_SSLCERTTYPE, "PEM");
		curl_easy_setopt(e, CURLOPT_SSLKEY_BLOB, &key);
		curl_easy_setopt(e, CURLOPT_SSLKEYTYPE, "PEM");
	}
	if (curl_multi_add_handle(h->multi, e) != CURLM_OK)
		finish(h, "POST %s: cannot start the request", h->where);
}

/* From the URL: where errors say it went (no path, no query), and for a
 * server_name, the URL naming it and the connection to the URL's host. */
static int
parse_url(struct http *h)
{
	const struct deliver_msg *cfg = h->base.cfg;
	char *scheme = NULL, *host = NULL, *port = NULL, *ct;
	CURLU *u;
	int r = -1;

	if ((u = curl_url()) == NULL)
		xalloc_fail();
	if (curl_url_set(u, CURLUPART_URL, cfg->url, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) !=
		CURLUE_OK) {
		snprintf(h->config_error, sizeof(h->config_error),
		    "the URL does not parse");
		goto out;
	}
	snprintf(h->where, sizeof(h->where), "%s://%s:%s", scheme, host, port);
	if (cfg->server_name != NULL) {
		if (curl_url_set(u, CURLUPART_HOST, cfg->server_name, 0) !=
			CURLUE_OK ||
		    curl_url_get(u, CURLUPART_URL, &h->url, 0) != CURLUE_OK) {
			snprintf(h->config_error, sizeof(h->config_error),
			    "server name %s does not fit in the URL",
			    cfg->server_name);
			goto out;
		}
		ct = xasprintf(
		    "%s:%s:%s:%s", cfg->server_name, port, host, port);
		h->connect_to = curl_slist_append(NULL, ct);
		free(ct);
		if (h->connect_to == NULL)
			xalloc_fail();
	}
	r = 0;
out:
	curl_free(scheme);
	curl_free(host);
	curl_free(port);
	curl_url_cleanup(u);
	return r;
}

static int
http_open(
    uv_loop_t *loop, const struct deliver_msg *cfg, struct transport **ret)
{
	struct http *h = xcalloc(1, sizeof(*h));

	h->base.cfg = cfg; /* parse_url() reads it */
	h->base.loop = loop;
	if ((h->multi = curl_multi_init()) == NULL)
		xalloc_fail();
	curl_multi_setopt(h->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
	curl_multi_setopt(h->multi, CURLMOPT_SOCKETDATA, h);
	curl_multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION, on_curl_timer);
	curl_multi_setopt(h->multi, CURLMOPT_TIMERDATA, h);
	uv_timer_init(loop, &h->timer);
	h->timer.data = h;
	h->refs = 1;
	snprintf(h->where, sizeof(h->where), "(URL)");
	(void)parse_url(h);
	*ret = &h->base;
	return 0;
}

static void
http_send(struct transport *t, const struct batch *b)
{
	struct http *h = (struct http *)t;

	h->b = b;
	h->next = 0;
	h->done = 0;
	if (h->config_error[0] != '\0')
		finish(h, "%s", h->config_error);
	else
		start_request(h);
}

static void
http_close(struct transport *t, const char *why)
{
	struct http *h = (struct http *)t;

	if (h->b != NULL)
		finish(h, "%s", why);
	h->closing = true;
	/* Its connections close, and their sockets are forgotten
	 * (CURL_POLL_REMOVE); any left are closed here. */
	curl_multi_cleanup(h->multi);
	h->multi = NULL;
	while (h->socks != NULL)
		forget_sock(h, h->socks);
	uv_close((uv_handle_t *)&h->timer, on_handle_closed);
}

const struct transport_ops transport_http = {
	.open = http_open,
	.send = http_send,
	.close = http_close,
};
