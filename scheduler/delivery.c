/*
 * delivery.c: rotad-deliver's process, its socket and its messages.
 *
 * The sinks are kept here by name with their SINK message, so that a
 * rotad-deliver started again gets them all before any batch.  A process
 * is a struct proc of its own: when it dies, the delivery forgets it at
 * once (the next batch may start another) while its handles close on the
 * loop.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "delivery.h"
#include "jobs.h"
#include "log.h"
#include "secret.h"

#define START_INTERVAL_MS 1000 /* at most one start a second */

struct dsink {
	char *name;
	struct secret *msg; /* its SINK message */
	uint64_t token;     /* the batch in flight, 0: none */
};

struct proc {
	struct delivery *owner; /* NULL once the delivery forgot it */
	uv_process_t process;
	uv_pipe_t pipe;
	int handles; /* open; freed at 0 */
	uint8_t *in; /* what was read, not yet a whole message */
	size_t inlen, incap;
	bool say_exit; /* lost for its socket: its exit is still news */
};

struct delivery {
	uv_loop_t *loop;
	char *path, *user;
	delivery_cb *cb;
	void *arg;
	struct dsink **v;
	size_t n;
	struct proc *p;
	uint64_t started; /* uv_now() of the last start; 0: never */
};

/* A write in flight: the bytes are its own (wiped when it ends). */
struct wreq {
	uv_write_t req;
	struct secret *s; /* a SINK message's copy, or NULL */
	uint8_t *buf;     /* or a plain message */
};

/* ---- the process ---- */

static void
proc_unref(uv_handle_t *h)
{
	struct proc *p = h->data;

	if (--p->handles > 0)
		return;
	free(p->in);
	free(p);
}

/*
 * The delivery loses P: every batch in flight is answered (nothing
 * delivered as far as anyone knows), P is killed and left to close.
 */
static void
proc_lose(struct delivery *d, const char *why)
{
	struct proc *p = d->p;
	uint64_t token;
	size_t i;

	if (p == NULL)
		return;
	d->p = NULL;
	p->owner = NULL;
	uv_read_stop((uv_stream_t *)&p->pipe);
	if (!uv_is_closing((uv_handle_t *)&p->pipe))
		uv_close((uv_handle_t *)&p->pipe, proc_unref);
	/* Already gone, or soon: the exit callback closes the process. */
	uv_process_kill(&p->process, SIGKILL);
	for (i = 0; i < d->n; i++) {
		token = d->v[i]->token;
		if (token == 0)
			continue;
		d->v[i]->token = 0;
		d->cb(d->arg, d->v[i]->name, token, 0, why);
	}
}

static void
on_exit_(uv_process_t *h, int64_t status, int sig)
{
	struct proc *p = h->data;
	char why[96];

	if (sig != 0)
		snprintf(why, sizeof(why), "rotad-deliver was killed by "
		    "signal %d", sig);
	else
		snprintf(why, sizeof(why), "rotad-deliver exited with "
		    "status %lld", (long long)status);
	if (sig == 0 && status == DELIVER_EXIT_STALE)
		/* Its own line named the file; nothing was in flight. */
		log_msg(LOG_NOTICE, MSG_DELIVERY,
		    "rotad-deliver ended to run the code now on disk (a "
		    "library it runs was replaced); the next batch starts "
		    "it again");
	else if (p->owner != NULL || p->say_exit)
		log_msg(LOG_WARNING, MSG_DELIVERY,
		    "%s; the network sinks send their batches again", why);
	if (p->owner != NULL)
		proc_lose(p->owner, why);
	uv_close((uv_handle_t *)h, proc_unref);
}

static void
on_written(uv_write_t *req, int status)
{
	struct wreq *w = (struct wreq *)req;

	(void)status; /* a failed write: the process is lost, and said */
	secret_free(w->s);
	free(w->buf);
	free(w);
}

/* Queue BUF (LEN bytes) to P; takes S or BUF (one of them). */
static int
proc_write(struct proc *p, struct secret *s, uint8_t *buf, size_t len)
{
	struct wreq *w;
	uv_buf_t b;
	int r;

	w = calloc(1, sizeof(*w));
	if (w == NULL) {
		secret_free(s);
		free(buf);
		return -ENOMEM;
	}
	w->s = s;
	w->buf = buf;
	b = uv_buf_init(s != NULL ? (char *)secret_data(s) : (char *)buf,
	    (unsigned)len);
	r = uv_write(&w->req, (uv_stream_t *)&p->pipe, &b, 1, on_written);
	if (r < 0)
		on_written(&w->req, r);
	return r;
}

/* A copy of K's SINK message to P. */
static int
proc_send_sink(struct proc *p, const struct dsink *k)
{
	struct secret *s;
	int r;

	r = secret_new(secret_data(k->msg), secret_len(k->msg), &s);
	if (r < 0)
		return r;
	return proc_write(p, s, NULL, secret_len(k->msg));
}

static struct dsink *
find(const struct delivery *d, const char *name, size_t *ret_i)
{
	size_t i;

	for (i = 0; i < d->n; i++)
		if (strcmp(d->v[i]->name, name) == 0) {
			if (ret_i != NULL)
				*ret_i = i;
			return d->v[i];
		}
	return NULL;
}

/* One message from rotad-deliver: a RESULT, or it is lost. */
static int
proc_message(struct delivery *d, const uint8_t *buf, size_t len)
{
	struct deliver_msg m = { 0 };
	struct dsink *k;
	uint64_t token;
	int r;

	r = deliver_decode(buf, len, &m);
	if (r == 0 && m.type != DELIVER_RESULT)
		r = -EBADMSG;
	if (r < 0)
		goto out;
	k = find(d, m.name, NULL);
	/* A sink dropped or a batch given up: nobody waits for it. */
	if (k == NULL || k->token != m.token)
		goto out;
	token = k->token;
	k->token = 0;
	d->cb(d->arg, k->name, token, m.done, m.error);
out:
	deliver_msg_clear(&m);
	return r;
}

static void
on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	struct proc *p = h->data;
	size_t want = p->inlen + 65536;
	uint8_t *n;

	(void)hint;
	if (want > p->incap) {
		n = realloc(p->in, want);
		if (n == NULL) {
			*buf = uv_buf_init(NULL, 0);
			return;
		}
		p->in = n;
		p->incap = want;
	}
	*buf = uv_buf_init((char *)p->in + p->inlen,
	    (unsigned)(p->incap - p->inlen));
}

static void
on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct proc *p = s->data;
	struct delivery *d = p->owner;
	size_t len, off = 0;
	int r = 0;

	(void)buf;
	if (d == NULL)
		return;
	if (nread < 0) {
		p->say_exit = true;
		proc_lose(d, nread == UV_EOF ? "rotad-deliver closed its socket"
					     : "rotad-deliver's socket failed");
		return;
	}
	p->inlen += (size_t)nread;
	while (r == 0 && d->p == p) {
		r = deliver_frame_len(p->in + off, p->inlen - off, &len);
		if (r < 0)
			break;
		r = proc_message(d, p->in + off + 4, len - 4);
		off += len;
	}
	if (r == -EAGAIN) {
		memmove(p->in, p->in + off, p->inlen - off);
		p->inlen -= off;
		return;
	}
	if (d->p == p) {
		log_msg(LOG_ERR, MSG_DELIVERY,
		    "rotad-deliver sent a message that does not decode: "
		    "stopped");
		p->say_exit = true;
		proc_lose(d, "rotad-deliver sent a malformed message");
	}
}

/* Start rotad-deliver and give it every sink. */
static int
proc_start(struct delivery *d)
{
	uv_process_options_t o = { 0 };
	uv_stdio_container_t io[3];
	char *args[4], *env[1] = { NULL };
	struct proc *p;
	size_t i;
	int r;

	p = calloc(1, sizeof(*p));
	if (p == NULL)
		return -ENOMEM;
	uv_pipe_init(d->loop, &p->pipe, 0);
	p->pipe.data = p;
	p->process.data = p;
	args[0] = d->path;
	args[1] = (char *)"--user";
	args[2] = d->user;
	args[3] = NULL;
	/* UV_CREATE_PIPE is a socketpair: one duplex stream on fd 0. */
	io[0].flags = UV_CREATE_PIPE | UV_READABLE_PIPE | UV_WRITABLE_PIPE;
	io[0].data.stream = (uv_stream_t *)&p->pipe;
	io[1].flags = UV_IGNORE;
	io[2].flags = UV_INHERIT_FD;
	io[2].data.fd = 2;
	o.file = d->path;
	o.args = args;
	o.env = env;
	o.stdio = io;
	o.stdio_count = 3;
	o.exit_cb = on_exit_;
	r = uv_spawn(d->loop, &p->process, &o);
	d->started = uv_now(d->loop);
	if (r < 0) {
		log_msg(LOG_ERR, MSG_DELIVERY,
		    "rotad-deliver (%s) could not be started: %s; the "
		    "network sinks wait",
		    d->path, uv_strerror(r));
		/* Both handles are closed, the process's too, though
		 * uv_spawn() failed (libuv asks it). */
		p->handles = 2;
		uv_close((uv_handle_t *)&p->process, proc_unref);
		uv_close((uv_handle_t *)&p->pipe, proc_unref);
		return r;
	}
	p->handles = 2;
	p->owner = d;
	d->p = p;
	uv_read_start((uv_stream_t *)&p->pipe, on_alloc, on_read);
	for (i = 0; i < d->n && d->p == p; i++) {
		r = proc_send_sink(p, d->v[i]);
		if (r < 0) {
			proc_lose(d, "rotad-deliver could not be given its "
				     "sinks");
			return r;
		}
	}
	return d->p == p ? 0 : -EPIPE;
}

/* ---- the sinks' settings ---- */

/* Read PATH, at most MAX bytes, into a NUL-terminated secret. */
static int
read_file(const char *path, size_t max, struct secret **ret, char *why,
    size_t size)
{
	struct secret *s = NULL;
	struct stat sb;
	ssize_t got;
	size_t len = 0;
	int fd, r = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		r = -errno;
		snprintf(why, size, "%s: %s", path, strerror(-r));
		return r;
	}
	if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode) ||
	    (size_t)sb.st_size > max) {
		r = -EFBIG;
		snprintf(why, size, "%s: not a regular file of at most %zu "
		    "bytes", path, max);
		goto out;
	}
	r = secret_new(NULL, (size_t)sb.st_size + 1, &s);
	if (r < 0)
		goto out;
	while (len < (size_t)sb.st_size) {
		got = read(fd, (char *)secret_buf(s) + len,
		    (size_t)sb.st_size - len);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0) {
			r = got < 0 ? -errno : -EIO;
			snprintf(why, size, "%s: %s", path, strerror(-r));
			goto out;
		}
		len += (size_t)got;
	}
	((char *)secret_buf(s))[len] = '\0';
out:
	close(fd);
	if (r < 0)
		secret_free(s);
	else
		*ret = s;
	return r;
}

/* The token file's first line as "SCHEME TOKEN", an Authorization value. */
static int
read_token(const char *path, const char *scheme, struct secret **ret,
    char *why, size_t size)
{
	struct secret *file = NULL, *s = NULL;
	const char *t;
	size_t len, n;
	int r;

	r = read_file(path, DELIVER_AUTH_MAX / 2, &file, why, size);
	if (r < 0)
		return r;
	t = secret_data(file);
	len = strcspn(t, "\r\n");
	while (len > 0 && (t[len - 1] == ' ' || t[len - 1] == '\t'))
		len--;
	if (len == 0) {
		snprintf(why, size, "%s: empty", path);
		r = -EINVAL;
		goto out;
	}
	n = strlen(scheme) + 1 + len;
	r = secret_new(NULL, n, &s);
	if (r < 0)
		goto out;
	memcpy(secret_buf(s), scheme, strlen(scheme));
	((char *)secret_buf(s))[strlen(scheme)] = ' ';
	memcpy((char *)secret_buf(s) + strlen(scheme) + 1, t, len);
	*ret = s;
out:
	secret_free(file);
	return r;
}

static const enum deliver_kind kinds[] = {
	[JOB_SINK_UDP] = DELIVER_UDP,
	[JOB_SINK_TCP] = DELIVER_TCP,
	[JOB_SINK_TLS] = DELIVER_TLS,
	[JOB_SINK_HTTP] = DELIVER_HTTP,
};

int
delivery_sink_message(
    const struct job_sink *k, struct secret **ret, char *why, size_t size)
{
	struct secret *ca = NULL, *cert = NULL;
	struct deliver_msg m = { 0 };
	bool hec, http;
	int r = 0;

	*why = '\0';
	if (k->type < JOB_SINK_UDP || k->type > JOB_SINK_HTTP)
		return -EINVAL;
	http = k->type == JOB_SINK_HTTP;
	hec = http && (k->format == NULL || strcmp(k->format, "hec") == 0);
	m.type = DELIVER_SINK;
	m.name = k->name;
	m.kind = kinds[k->type];
	m.host = k->host;
	m.port = k->port;
	m.url = k->url;
	m.server_name = k->server_name;
	m.timeout_ms = (uint32_t)k->timeout * 1000;
	/* HEC takes events one after another in a body, and JSON lines is
	 * lines; a chat message is one POST each, and so are the syslog
	 * formats (a webhook wants one event per request). */
	m.http_batch = hec ||
	    (http && k->format != NULL && strcmp(k->format, "json") == 0);
	if (k->ca_file != NULL &&
	    (r = read_file(k->ca_file, DELIVER_PEM_MAX, &ca, why, size)) < 0)
		goto out;
	if (k->cert_file != NULL &&
	    (r = read_file(k->cert_file, DELIVER_PEM_MAX, &cert, why, size)) <
		0)
		goto out;
	if (k->key_file != NULL &&
	    (r = read_file(k->key_file, DELIVER_PEM_MAX, &m.key_pem, why,
		 size)) < 0)
		goto out;
	if (k->token_file != NULL &&
	    (r = read_token(k->token_file, hec ? "Splunk" : "Bearer", &m.auth,
		 why, size)) < 0)
		goto out;
	m.ca_pem = ca != NULL ? (char *)secret_data(ca) : NULL;
	m.cert_pem = cert != NULL ? (char *)secret_data(cert) : NULL;
	r = deliver_encode(&m, ret, NULL, NULL);
	if (r < 0 && *why == '\0')
		snprintf(why, size, "its settings do not fit rotad-deliver's "
		    "bounds: %s", strerror(-r));
out:
	secret_free(ca);
	secret_free(cert);
	secret_free(m.key_pem);
	secret_free(m.auth);
	return r;
}

/* ---- the delivery ---- */

int
delivery_new(uv_loop_t *loop, const char *path, const char *user,
    delivery_cb *cb, void *arg, struct delivery **ret)
{
	struct delivery *d;

	d = calloc(1, sizeof(*d));
	if (d == NULL)
		return -ENOMEM;
	d->loop = loop;
	d->cb = cb;
	d->arg = arg;
	d->path = strdup(path);
	d->user = strdup(user != NULL ? user : JOB_WORKER_USER_DEFAULT);
	if (d->path == NULL || d->user == NULL) {
		delivery_close(d);
		return -ENOMEM;
	}
	*ret = d;
	return 0;
}

int
delivery_open(struct delivery *d, const char *name, struct secret *msg)
{
	struct dsink *k, **v;

	k = find(d, name, NULL);
	if (k == NULL) {
		v = realloc(d->v, (d->n + 1) * sizeof(*v));
		k = calloc(1, sizeof(*k));
		if (v != NULL)
			d->v = v;
		if (v == NULL || k == NULL ||
		    (k->name = strdup(name)) == NULL) {
			free(k);
			secret_free(msg);
			return -ENOMEM;
		}
		d->v[d->n++] = k;
	}
	secret_free(k->msg);
	k->msg = msg;
	if (d->p != NULL && proc_send_sink(d->p, k) < 0)
		proc_lose(d, "rotad-deliver could not be given a sink");
	return 0;
}

void
delivery_drop(struct delivery *d, const char *name)
{
	struct deliver_msg m = { .type = DELIVER_DROP };
	struct dsink *k;
	uint8_t *buf;
	size_t i, len;

	k = find(d, name, &i);
	if (k == NULL)
		return;
	m.name = k->name;
	if (d->p != NULL && deliver_encode(&m, NULL, &buf, &len) == 0)
		(void)proc_write(d->p, NULL, buf, len);
	d->v[i] = d->v[--d->n];
	secret_free(k->msg);
	free(k->name);
	free(k);
}

int
delivery_batch(struct delivery *d, const char *name, uint64_t token,
    const struct deliver_frame *frames, size_t n)
{
	struct deliver_msg m = { .type = DELIVER_BATCH };
	struct dsink *k;
	uint8_t *buf;
	size_t len;
	int r;

	k = find(d, name, NULL);
	if (k == NULL)
		return -ENOENT;
	if (d->p == NULL) {
		if (d->started != 0 &&
		    uv_now(d->loop) - d->started < START_INTERVAL_MS)
			return -EAGAIN;
		r = proc_start(d);
		if (r < 0)
			return r;
	}
	m.name = k->name;
	m.token = token;
	m.frames = (struct deliver_frame *)frames;
	m.nframes = n;
	r = deliver_encode(&m, NULL, &buf, &len);
	if (r < 0)
		return r;
	r = proc_write(d->p, NULL, buf, len);
	if (r < 0) {
		proc_lose(d, "rotad-deliver's socket failed");
		return r;
	}
	k->token = token;
	return 0;
}

int
delivery_pid(const struct delivery *d)
{
	return d != NULL && d->p != NULL ? d->p->process.pid : 0;
}

void
delivery_close(struct delivery *d)
{
	size_t i;

	if (d == NULL)
		return;
	for (i = 0; i < d->n; i++)
		d->v[i]->token = 0; /* no callback from here on */
	proc_lose(d, "closed");
	for (i = 0; i < d->n; i++) {
		secret_free(d->v[i]->msg);
		free(d->v[i]->name);
		free(d->v[i]);
	}
	free(d->v);
	free(d->path);
	free(d->user);
	free(d);
}
