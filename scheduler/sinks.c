/*
 * sinks.c: the local sinks, from the spool to syslog's socket and files.
 *
 * A sink's life, on the daemon's loop:
 *
 *   open ──kick──> deliver ──all written──> idle ──kick──> deliver ...
 *                     │
 *                     └──a write failed──> waiting (timer: 1 s, 2 s, ...,
 *                                          60 s) ──timer──> deliver
 *
 * deliver() reads the spool after the sink's cursor, a batch at a time,
 * and handles each event in order: one that does not decode is skipped
 * (it never will: counted as a failure), one the filter refuses is
 * passed over, the others are formatted and written.  The cursor is
 * stored past the last event handled once what was written is durable:
 * a datagram accepted by the socket, a file's batch written and fsynced.
 * A failed write keeps the cursor where it is, so delivery is in order
 * and at least once: a file sink whose fsync fails may write a batch
 * again.
 *
 * A kick while a sink waits does nothing for it: its timer retries, and
 * the doubling keeps a dead syslog from costing a system call per event.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "config.h"
#include "delivery.h"
#include "event.h"
#include "event_format.h"
#include "jobs.h"
#include "log.h"
#include "secret.h"
#include "sinks.h"
#include "store.h"
#include "storeq.h"

struct sink {
	struct sinks *owner;
	char *name;
	enum job_sink_type type;
	char *target; /* the socket's path or the file's */
	enum event_format fmt;
	struct event_format_options opt;
	char *sd_id; /* opt.sd_id's storage, or NULL */
	struct event_filter filter;
	char **users; /* filter.users' storage */
	char *config; /* the settings, as one string, for reconfigure */
	int fd;       /* -1: not open */
	int64_t cursor;
	uint64_t seen, delivered, filtered, failures;
	uint64_t dropped; /* trimmed by the spool's bound before it had them */
	int64_t retry_ms; /* the last delay; 0: the last write worked */
	bool waiting;     /* on the timer */
	uv_timer_t timer; /* data: the sink; it is freed in the close cb */
	/* The spool is read off the loop (storeq.h), a batch at a time,
	 * and a local sink's batch written there too: the job in flight,
	 * which alone touches fd meanwhile; whether the sink was kicked,
	 * reopened (SIGHUP) or closed meanwhile, and its timer closed. */
	struct sink_read *reading;
	bool again, reopen, closed, timer_closed;

	/* A network sink: its settings (for its SINK message, read again
	 * when it could not be), and its batch in rotad-deliver. */
	struct job_sink *conf; /* copied: host, url, files */
	bool opened;           /* rotad-deliver has its settings */
	bool inflight;
	uint64_t token;
	int64_t upto;  /* the last id the batch in flight handled */
	int64_t *ids;  /* each of its frames' */
	size_t nframes;
	bool failing; /* said so in the log; said again when it delivers */
};

struct sinks {
	struct store *st;
	struct storeq *q; /* the spool's reads */
	uv_loop_t *loop;
	int64_t spool_max;
	struct sink **v;
	size_t n;
	char *delivery_path; /* NULL: the installed rotad-deliver */
	char *user;          /* rotad-deliver's: the workers' */
	struct delivery *dl; /* started with the first network sink */
	uint64_t token;      /* the last batch's */
	int64_t trimmed;     /* the spool's bound deleted ids up to this */
	int64_t ceiling;     /* no event after this id is sent (on disk) */
};

static const char *const type_names[] = { "syslog", "file", "udp", "tcp",
	"tls", "http" };

/* One event of a batch, copied out of store_event_since()'s callback. */
struct item {
	int64_t id;
	char *payload;
	size_t len;
};

struct batch {
	struct item v[SINKS_BATCH];
	int64_t ceiling; /* the sinks' when it was filled */
	size_t n;
};

/* What a batch came to, counted where it was written. */
struct tally {
	uint64_t seen, filtered, failures, delivered;
};

/* A batch of the spool after FROM read for K on libuv's pool; a local
 * sink's written there as well, as far as UPTO. */
struct sink_read {
	struct storeq_job job;
	struct sink *k;
	int64_t from, upto;
	int rc;
	struct tally t;
	struct batch b;
};

/* ---- the configuration ---- */

static const struct {
	const char *name;
	int code;
} facilities[] = { { "kern", 0 }, { "user", 1 }, { "mail", 2 }, { "daemon", 3 },
	{ "auth", 4 }, { "syslog", 5 }, { "lpr", 6 }, { "news", 7 },
	{ "uucp", 8 }, { "cron", 9 }, { "authpriv", 10 }, { "ftp", 11 },
	{ "local0", 16 }, { "local1", 17 }, { "local2", 18 }, { "local3", 19 },
	{ "local4", 20 }, { "local5", 21 }, { "local6", 22 },
	{ "local7", 23 } };

static void report(FILE *f, size_t *nerr, const struct job_origin *at,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void
report(FILE *f, size_t *nerr, const struct job_origin *at, const char *fmt, ...)
{
	va_list ap;

	(*nerr)++;
	if (f == NULL)
		return;
	fprintf(f, "%s:%d:%d: ", at->file != NULL ? at->file : "rotad.yaml",
	    at->line, at->column);
	va_start(ap, fmt);
	vfprintf(f, fmt, ap);
	va_end(ap);
	fputc('\n', f);
}

/*
 * Turn K into OUT (when OUT is not NULL), checking each name against
 * events/'s tables; errors go to F as file:line:column and are counted
 * in *NERR.  OUT's strings are its own.
 */
static void
convert(const struct job_sink *k, struct sink *out, FILE *f, size_t *nerr)
{
	struct event_format_options opt;
	enum event_format fmt;
	enum event_name name;
	const char *why;
	int fac = EVENT_FORMAT_FACILITY, sev = 7;
	uint32_t names = 0;
	size_t i;

	event_format_options_init(&opt);
	fmt = k->type == JOB_SINK_FILE ? EVENT_FORMAT_JSON
	    : k->type == JOB_SINK_HTTP ? EVENT_FORMAT_HEC
				       : EVENT_FORMAT_RFC5424;
	if (k->format != NULL && event_format_from_string(k->format, &fmt) < 0)
		report(f, nerr, &k->format_origin, "unknown format '%s'%s",
		    k->format,
		    ": expected rfc5424, cef, leef, json, hec, slack or "
		    "journal");
	else if (fmt == EVENT_FORMAT_SLACK && k->type != JOB_SINK_HTTP)
		report(f, nerr, &k->format_origin,
		    "format slack is a chat webhook's: for an http sink");
	else if (fmt == EVENT_FORMAT_JOURNAL && k->type != JOB_SINK_SYSLOG)
		report(f, nerr, &k->format_origin,
		    "format journal is journald's native protocol: for a "
		    "syslog sink (its socket %s by default)",
		    JOB_SINK_JOURNAL_SOCKET);
	if (k->template != NULL && fmt != EVENT_FORMAT_SLACK)
		report(f, nerr, &k->origin,
		    "template is for format slack, not %s",
		    event_format_to_string(fmt));
	opt.template = k->template;
	if (k->template != NULL &&
	    event_format_check_options(&opt, &why) < 0)
		report(f, nerr, &k->origin, "bad template: %s", why);
	if (k->facility != NULL) {
		fac = -1;
		for (i = 0; i < sizeof(facilities) / sizeof(facilities[0]); i++)
			if (strcmp(k->facility, facilities[i].name) == 0)
				fac = facilities[i].code;
		if (fac < 0)
			report(f, nerr, &k->facility_origin,
			    "unknown facility '%s'%s", k->facility,
			    ": expected authpriv, auth, daemon, user, "
			    "local0 to local7, ...");
	}
	opt.facility = fac < 0 ? EVENT_FORMAT_FACILITY : fac;
	if (k->sd_id != NULL) {
		opt.sd_id = k->sd_id;
		if (event_format_check_options(&opt, &why) < 0)
			report(f, nerr, &k->sd_id_origin, "bad sd_id '%s': %s",
			    k->sd_id, why);
	}
	if (k->min_severity != NULL &&
	    event_severity_from_string(k->min_severity, &sev) < 0)
		report(f, nerr, &k->min_severity_origin,
		    "unknown severity '%s'%s", k->min_severity,
		    ": expected emerg, alert, crit, err, warning, notice, "
		    "info or debug");
	for (i = 0; i < k->nevents; i++) {
		if (event_name_from_string(k->events[i], &name) == 0)
			names |= UINT32_C(1) << name;
		else
			report(f, nerr, &k->events_origin[i],
			    "unknown event '%s'%s", k->events[i],
			    ": docs/events.md lists the names");
	}
	if (k->socket != NULL &&
	    strlen(k->socket) >= sizeof(((struct sockaddr_un *)0)->sun_path))
		report(f, nerr, &k->origin, "socket '%s'%s", k->socket,
		    " is too long for a unix socket's path");
	if (out == NULL)
		return;
	out->type = k->type;
	out->fmt = fmt;
	out->opt = opt;
	out->opt.template = NULL; /* k's: set from out->conf by sink_new() */
	if (k->sd_id != NULL) {
		out->sd_id = strdup(k->sd_id);
		out->opt.sd_id = out->sd_id;
	}
	event_filter_init(&out->filter);
	out->filter.min_severity = sev;
	out->filter.names = names;
	if (k->nusers > 0) {
		out->users = calloc(k->nusers, sizeof(*out->users));
		for (i = 0; out->users != NULL && i < k->nusers; i++)
			out->users[i] = strdup(k->users[i]);
		out->filter.users = (const char *const *)out->users;
		out->filter.nusers = k->nusers;
	}
}

size_t
sinks_check(const struct job_events *cfg, FILE *f)
{
	size_t i, nerr = 0;

	for (i = 0; i < cfg->nsinks; i++)
		convert(&cfg->sinks[i], NULL, f, &nerr);
	return nerr;
}

/* K's settings as one string: two sinks with the same one need no
 * reopening on a reload.  Each part is length-prefixed. */
static char *
fingerprint(const struct job_sink *k)
{
	const char *parts[] = { type_names[k->type], k->socket, k->path,
		k->format, k->facility, k->sd_id, k->min_severity, k->host,
		k->url, k->ca_file, k->cert_file, k->key_file, k->server_name,
		k->token_file, k->template };
	char *buf = NULL;
	size_t len = 0, i;
	FILE *f;

	f = open_memstream(&buf, &len);
	if (f == NULL)
		return NULL;
	for (i = 0; i < sizeof(parts) / sizeof(parts[0]); i++)
		fprintf(f, "%zu:%s;", parts[i] != NULL ? strlen(parts[i]) : 0,
		    parts[i] != NULL ? parts[i] : "");
	fprintf(f, "p%d;t%d;", k->port, k->timeout);
	for (i = 0; i < k->nevents; i++)
		fprintf(f, "e%zu:%s;", strlen(k->events[i]), k->events[i]);
	for (i = 0; i < k->nusers; i++)
		fprintf(f, "u%zu:%s;", strlen(k->users[i]), k->users[i]);
	if (fclose(f) != 0) {
		free(buf);
		return NULL;
	}
	return buf;
}

/* ---- one sink ---- */

/* What a network sink keeps of its settings, for its SINK message. */
static void
conf_free(struct job_sink *c)
{
	if (c == NULL)
		return;
	free(c->name);
	free(c->format);
	free(c->host);
	free(c->url);
	free(c->ca_file);
	free(c->cert_file);
	free(c->key_file);
	free(c->server_name);
	free(c->token_file);
	free(c->template);
	free(c);
}

static struct job_sink *
conf_dup(const struct job_sink *k)
{
	struct job_sink *c;
	bool ok = true;

	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return NULL;
	c->type = k->type;
	c->port = k->port;
	c->timeout = k->timeout;
#define DUP(f)                                                                 \
	do {                                                                   \
		if (k->f != NULL && (c->f = strdup(k->f)) == NULL)             \
			ok = false;                                            \
	} while (0)
	DUP(name);
	DUP(format);
	DUP(host);
	DUP(url);
	DUP(ca_file);
	DUP(cert_file);
	DUP(key_file);
	DUP(server_name);
	DUP(token_file);
	DUP(template);
#undef DUP
	if (!ok) {
		conf_free(c);
		return NULL;
	}
	return c;
}

static bool
is_network(const struct sink *k)
{
	return k->type >= JOB_SINK_UDP;
}

static void
sink_free(struct sink *k)
{
	size_t i;

	conf_free(k->conf);
	free(k->ids);
	if (k->fd >= 0)
		close(k->fd);
	for (i = 0; k->users != NULL && i < k->filter.nusers; i++)
		free(k->users[i]);
	free(k->users);
	free(k->sd_id);
	free(k->config);
	free(k->target);
	free(k->name);
	free(k);
}

/* Freed once its timer is closed and no job of its runs. */
static void
on_close(uv_handle_t *h)
{
	struct sink *k = h->data;

	k->timer_closed = true;
	if (k->reading == NULL)
		sink_free(k);
}

static void
sink_close(struct sink *k)
{
	if (k == NULL)
		return;
	if (k->opened && k->owner->dl != NULL)
		delivery_drop(k->owner->dl, k->name);
	k->closed = true;
	uv_timer_stop(&k->timer);
	uv_close((uv_handle_t *)&k->timer, on_close);
}

/* A new sink for K, its cursor from the store (a sink never seen starts
 * at the spool's last id, stored at once so that a restart does not move
 * it). */
static int
sink_new(struct sinks *s, const struct job_sink *k, struct sink **ret)
{
	struct sink *n;
	size_t nerr = 0;
	int r;

	n = calloc(1, sizeof(*n));
	if (n == NULL)
		return -ENOMEM;
	n->owner = s;
	n->fd = -1;
	uv_timer_init(s->loop, &n->timer);
	n->timer.data = n;
	n->name = strdup(k->name);
	n->target = strdup(k->type == JOB_SINK_SYSLOG
		? (k->socket != NULL ? k->socket
		      : k->format != NULL && strcmp(k->format, "journal") == 0
		      ? JOB_SINK_JOURNAL_SOCKET
		      : JOB_SINK_SOCKET_DEFAULT)
		: k->type == JOB_SINK_FILE ? k->path
		: k->type == JOB_SINK_HTTP ? k->url
					   : k->host);
	n->config = fingerprint(k);
	convert(k, n, NULL, &nerr);
	if (k->type >= JOB_SINK_UDP) {
		n->conf = conf_dup(k);
		if (n->conf != NULL)
			n->opt.template = n->conf->template;
	}
	if (n->name == NULL || n->target == NULL || n->config == NULL ||
	    (k->sd_id != NULL && n->sd_id == NULL) ||
	    (k->nusers > 0 && n->users == NULL) ||
	    (k->type >= JOB_SINK_UDP && n->conf == NULL)) {
		r = -ENOMEM;
		goto out;
	}
	r = store_event_cursor_get(s->st, n->name, &n->cursor);
	if (r == -ENOENT) {
		r = store_event_last(s->st, &n->cursor);
		if (r == 0)
			r = store_event_cursor_put(s->st, n->name, n->cursor);
	}
out:
	if (r < 0) {
		sink_close(n);
		return r;
	}
	*ret = n;
	return 0;
}

/* Open the file or connect the socket: 0 or -errno. */
static int
sink_connect(struct sink *k)
{
	struct sockaddr_un sa;
	int fd;

	if (k->fd >= 0)
		return 0;
	if (k->type == JOB_SINK_FILE) {
		/* O_NOFOLLOW: the daemon may run as root, and a symlink
		 * planted at the path would have it append elsewhere. */
		fd = open(k->target,
		    O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY |
			O_NOFOLLOW,
		    0640);
		if (fd < 0)
			return -errno;
		k->fd = fd;
		return 0;
	}
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	strncpy(sa.sun_path, k->target, sizeof(sa.sun_path) - 1);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int r = -errno;

		close(fd);
		return r;
	}
	k->fd = fd;
	return 0;
}

static void
sink_disconnect(struct sink *k)
{
	if (k->fd >= 0)
		close(k->fd);
	k->fd = -1;
}

static int
collect(int64_t id, int64_t time, const void *payload, size_t len, void *arg)
{
	struct batch *b = arg;
	struct item *it = &b->v[b->n];

	(void)time;
	if (id > b->ceiling)
		return 0; /* not on disk yet: a later kick sends it */
	it->payload = malloc(len + 1);
	if (it->payload == NULL)
		return -ENOMEM;
	memcpy(it->payload, payload, len);
	it->payload[len] = '\0';
	it->len = len;
	it->id = id;
	b->n++;
	return 0;
}

static void
batch_clear(struct batch *b)
{
	size_t i;

	for (i = 0; i < b->n; i++)
		free(b->v[i].payload);
	b->n = 0;
}

/* Write all of BUF to FD: 0 or -errno. */
static int
write_all(int fd, const char *buf, size_t len)
{
	ssize_t w;

	while (len > 0) {
		w = write(fd, buf, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		buf += w;
		len -= (size_t)w;
	}
	return 0;
}

/*
 * Handle batch B in order.  The events handled are those up to *RET_UPTO
 * (an id; the cursor when none was), with their counts added to K's.
 * Returns 0, or -errno of the write that stopped it.
 */
static int
sink_write(struct sink *k, const struct batch *b, int64_t from, struct tally *t,
    int64_t *ret_upto)
{
	uint64_t seen = 0, filtered = 0, bad = 0, sent = 0;
	struct event ev = { 0 };
	char *msg = NULL, *buf = NULL;
	size_t len, blen = 0, i;
	int64_t upto = from;
	FILE *mf = NULL;
	off_t size = -1;
	struct stat sb;
	int r = 0;

	r = sink_connect(k);
	if (r < 0)
		goto out;
	if (k->type == JOB_SINK_FILE) {
		mf = open_memstream(&buf, &blen);
		if (mf == NULL) {
			r = -ENOMEM;
			goto out;
		}
	}
	for (i = 0; i < b->n; i++) {
		seen++;
		if (event_decode_json(b->v[i].payload, b->v[i].len, &ev) < 0) {
			bad++; /* it never will: skip it */
			goto next;
		}
		/* The spool's id is the sequence number: the event was
		 * encoded before it had one. */
		ev.seq = b->v[i].id;
		if (!event_filter_match(&k->filter, &ev)) {
			filtered++;
			goto next;
		}
		r = event_format(&ev, k->fmt, &k->opt, &msg, &len);
		if (r < 0) {
			bad++;
			r = 0;
			goto next;
		}
		if (mf != NULL) {
			fwrite(msg, 1, len, mf);
			/* Only JSON lines ends in a newline (event_format.h).
			 */
			if (len == 0 || msg[len - 1] != '\n')
				fputc('\n', mf);
		} else if (send(k->fd, msg, len, MSG_DONTWAIT | MSG_NOSIGNAL) <
		    0) {
			r = -errno;
			if (r == -EMSGSIZE) {
				/* Too big for this socket, now and later. */
				bad++;
				r = 0;
				goto next;
			}
			/* The receiver may have restarted on a new
			 * socket: connect again next time. */
			sink_disconnect(k);
			seen--;
			free(msg);
			msg = NULL;
			event_clear(&ev);
			goto out;
		}
		sent++;
	next:
		free(msg);
		msg = NULL;
		event_clear(&ev);
		upto = b->v[i].id;
	}
	if (mf != NULL) {
		if (fclose(mf) != 0) {
			mf = NULL;
			r = -ENOMEM;
			goto undo;
		}
		mf = NULL;
		if (blen > 0) {
			if (fstat(k->fd, &sb) == 0)
				size = sb.st_size;
			r = write_all(k->fd, buf, blen);
			if (r == 0 && fsync(k->fd) < 0)
				r = -errno;
			if (r < 0) {
				/* Leave no partial line: the batch is
				 * written again whole (if that fails, a
				 * partial line stays: counted). */
				if (size >= 0 && ftruncate(k->fd, size) < 0)
					t->failures++;
				sink_disconnect(k);
				goto undo;
			}
		}
	}
out:
	t->seen += seen;
	t->filtered += filtered;
	t->failures += bad;
	t->delivered += sent;
	*ret_upto = upto;
	if (mf != NULL)
		fclose(mf);
	free(buf);
	return r;
undo:
	*ret_upto = from;
	free(buf);
	return r;
}

static void on_retry(uv_timer_t *t);

static void
sink_retry_later(struct sink *k)
{
	k->failures++;
	k->retry_ms = k->retry_ms == 0 ? SINKS_RETRY_FIRST_MS : k->retry_ms * 2;
	if (k->retry_ms > SINKS_RETRY_MAX_MS)
		k->retry_ms = SINKS_RETRY_MAX_MS;
	k->waiting = true;
	uv_timer_start(&k->timer, on_retry, (uint64_t)k->retry_ms, 0);
}

static void written(struct sink *k, struct batch *b, int r, int64_t upto);
static void send_batch(struct sink *k, struct batch *b);
static int net_open(struct sink *k);
static void net_failed(struct sink *k, const char *why);

/*
 * On the pool: the batch after the cursor, as far as the ceiling; a
 * local sink's written there too (an fsync of a file is no wait for the
 * loop), through its fd, which the loop leaves alone meanwhile, and its
 * settings, which do not change while the sink lives.
 */
static void
read_work(struct storeq_job *j, struct store *rd)
{
	struct sink_read *rq = (struct sink_read *)j;

	rq->upto = rq->from;
	rq->rc = store_event_since(rd, rq->from, SINKS_BATCH, collect, &rq->b);
	if (rq->rc == 0 && rq->b.n > 0 && !is_network(rq->k))
		rq->rc = sink_write(rq->k, &rq->b, rq->from, &rq->t, &rq->upto);
}

static void
read_done(struct storeq_job *j, bool cancelled)
{
	struct sink_read *rq = (struct sink_read *)j;
	struct sink *k = rq->k;

	k->reading = NULL;
	k->seen += rq->t.seen;
	k->filtered += rq->t.filtered;
	k->failures += rq->t.failures;
	k->delivered += rq->t.delivered;
	if (k->closed) {
		if (k->timer_closed)
			sink_free(k);
		goto out;
	}
	/* SIGHUP while it wrote: the path is opened again for the next
	 * batch (the kick that came with it reads on). */
	if (k->reopen) {
		k->reopen = false;
		sink_disconnect(k);
	}
	if (cancelled)
		;
	else if (is_network(k) && rq->rc < 0)
		sink_retry_later(k); /* the spool could not be read */
	else if (is_network(k))
		send_batch(k, &rq->b);
	else
		written(k, &rq->b, rq->rc, rq->upto);
out:
	batch_clear(&rq->b);
	free(rq);
}

/* Catch K up with the spool: a batch read off the loop, then written
 * or sent (its end reads the next while the batches come full, or the
 * sink was kicked meanwhile). */
static void
deliver(struct sink *k)
{
	struct sink_read *rq;

	if (k->reading != NULL) {
		k->again = true;
		return;
	}
	if (k->waiting || k->inflight)
		return;
	if (is_network(k) && !k->opened && net_open(k) < 0) {
		if (!k->waiting)
			net_failed(k, "its settings could not be made");
		return;
	}
	rq = calloc(1, sizeof(*rq));
	if (rq == NULL) {
		sink_retry_later(k);
		return;
	}
	rq->job.work = read_work;
	rq->job.done = read_done;
	rq->k = k;
	rq->from = k->cursor;
	rq->b.ceiling = k->owner->ceiling;
	k->reading = rq;
	k->again = false;
	storeq_submit(k->owner->q, &rq->job);
}

/* The batch after it was read: more to read (a full batch, or a kick
 * since the read began), read it. */
static void
read_on(struct sink *k, size_t n)
{
	if (n == SINKS_BATCH || k->again)
		deliver(k);
}

/* A local sink's batch B was written as far as UPTO (R: how it went):
 * the cursor moves past it. */
static void
written(struct sink *k, struct batch *b, int r, int64_t upto)
{
	size_t n = b->n;
	int rc;

	if (r == 0 && n == 0) {
		k->retry_ms = 0;
		read_on(k, n);
		return;
	}
	if (upto > k->cursor) {
		rc = store_event_cursor_put(k->owner->st, k->name, upto);
		if (rc < 0 && r == 0)
			r = rc;
		else if (rc == 0)
			k->cursor = upto;
	}
	if (r < 0) {
		sink_retry_later(k);
		return;
	}
	k->retry_ms = 0;
	read_on(k, n);
}

static void
on_retry(uv_timer_t *t)
{
	struct sink *k = t->data;

	k->waiting = false;
	deliver(k);
}

/* ---- network sinks, through rotad-deliver ---- */

static void on_result(void *arg, const char *name, uint64_t token,
    uint32_t done, const char *error);

/* A network sink's failure, said once until it delivers again. */
static void
net_failed(struct sink *k, const char *why)
{
	if (!k->failing)
		log_msg(LOG_WARNING, MSG_DELIVERY,
		    "events: sink %s (%s %s): %s; its events wait in the "
		    "spool, and it tries again",
		    k->name, type_names[k->type], k->target, why);
	k->failing = true;
	sink_retry_later(k);
}

/* Give rotad-deliver K's settings, reading its files (again). */
static int
net_open(struct sink *k)
{
	struct sinks *s = k->owner;
	struct secret *msg;
	char why[512];
	int r;

	if (s->dl == NULL) {
		r = delivery_new(s->loop,
		    s->delivery_path != NULL ? s->delivery_path
					     : ROTAD_LIBEXECDIR "/rotad-deliver",
		    s->user, on_result, s, &s->dl);
		if (r < 0)
			return r;
	}
	r = delivery_sink_message(k->conf, &msg, why, sizeof(why));
	if (r < 0) {
		net_failed(k, why);
		return r;
	}
	r = delivery_open(s->dl, k->name, msg);
	if (r == 0)
		k->opened = true;
	return r;
}

/*
 * A network sink's batch B, filtered and formatted here, sent as one
 * batch; one that the filter refuses or that does not format moves the
 * cursor without a batch.  One batch in flight at a time: on_result()
 * goes on.
 */
static void
send_batch(struct sink *k, struct batch *b)
{
	struct deliver_frame fr[SINKS_BATCH];
	struct event ev = { 0 };
	char *msg[SINKS_BATCH];
	size_t n = 0, len, i, nread = b->n;
	int64_t upto = k->cursor;
	int r = 0;

	if (nread == 0) {
		k->retry_ms = 0;
		read_on(k, nread);
		return;
	}
	free(k->ids);
	k->ids = calloc(SINKS_BATCH, sizeof(*k->ids));
	if (k->ids == NULL) {
		r = -ENOMEM;
		goto out;
	}
	for (i = 0; i < b->n; i++) {
		k->seen++;
		upto = b->v[i].id;
		if (event_decode_json(b->v[i].payload, b->v[i].len, &ev) < 0) {
			k->failures++; /* never will: skip it */
			continue;
		}
		ev.seq = b->v[i].id;
		if (!event_filter_match(&k->filter, &ev))
			k->filtered++;
		else if (event_format(&ev, k->fmt, &k->opt, &msg[n], &len) < 0)
			k->failures++;
		else if (len <= 1 || len > DELIVER_FRAME_MAX) {
			free(msg[n]);
			k->failures++;
		} else {
			/* JSON lines' newline is the transport's. */
			if (msg[n][len - 1] == '\n')
				len--;
			fr[n].data = (const uint8_t *)msg[n];
			fr[n].len = len;
			k->ids[n++] = b->v[i].id;
		}
		event_clear(&ev);
	}
	if (n == 0) {
		/* Nothing to send in this batch: past it. */
		r = store_event_cursor_put(k->owner->st, k->name, upto);
		if (r == 0) {
			k->cursor = upto;
			k->retry_ms = 0;
			read_on(k, nread);
		}
		goto out;
	}
	k->token = ++k->owner->token;
	k->upto = upto;
	k->nframes = n;
	r = delivery_batch(k->owner->dl, k->name, k->token, fr, n);
	if (r == 0) {
		k->inflight = true;
		k->again = false; /* on_result() reads on */
	}
out:
	for (i = 0; i < n; i++)
		free(msg[i]);
	if (r == -EAGAIN)
		sink_retry_later(k);
	else if (r < 0)
		net_failed(k,
		    r == -ENOENT       ? "not open in rotad-deliver"
			: r == -ENOMEM ? "out of memory"
				       : "rotad-deliver could not be run");
}

/* rotad-deliver's answer to a batch: the cursor moves past what it
 * delivered; short of all, the sink waits and sends the rest again. */
static void
on_result(void *arg, const char *name, uint64_t token, uint32_t done,
    const char *error)
{
	struct sinks *s = arg;
	struct sink *k = NULL;
	int64_t to;
	size_t i;

	for (i = 0; i < s->n && k == NULL; i++)
		if (s->v[i] != NULL && strcmp(s->v[i]->name, name) == 0)
			k = s->v[i];
	if (k == NULL || !k->inflight || k->token != token)
		return;
	k->inflight = false;
	if (done > k->nframes)
		done = (uint32_t)k->nframes;
	to = done == k->nframes ? k->upto : done > 0 ? k->ids[done - 1]
						       : k->cursor;
	k->delivered += done;
	if (to > k->cursor && store_event_cursor_put(s->st, k->name, to) == 0)
		k->cursor = to;
	if (done < k->nframes) {
		net_failed(k, error != NULL ? error : "not delivered");
		return;
	}
	if (k->failing)
		log_msg(LOG_NOTICE, MSG_DELIVERY,
		    "events: sink %s delivers again (cursor %lld)", k->name,
		    (long long)k->cursor);
	k->failing = false;
	k->retry_ms = 0;
	deliver(k);
}

/* ---- the set ---- */

static struct sink *
take(struct sinks *s, const char *name)
{
	struct sink *k;
	size_t i;

	for (i = 0; i < s->n; i++)
		if (s->v[i] != NULL && strcmp(s->v[i]->name, name) == 0) {
			k = s->v[i];
			s->v[i] = NULL;
			return k;
		}
	return NULL;
}

/* The sinks of CFG into a new array, reusing those of S whose settings
 * are the same (taken out of S->v). */
static int
build(struct sinks *s, const struct job_events *cfg, struct sink ***ret)
{
	struct sink **v, *k;
	char *fp;
	size_t i;
	int r = 0;

	v = calloc(cfg->nsinks + 1, sizeof(*v));
	if (v == NULL)
		return -ENOMEM;
	for (i = 0; i < cfg->nsinks && r == 0; i++) {
		fp = fingerprint(&cfg->sinks[i]);
		if (fp == NULL) {
			r = -ENOMEM;
			break;
		}
		k = take(s, cfg->sinks[i].name);
		if (k != NULL && strcmp(k->config, fp) != 0) {
			sink_close(k);
			k = NULL;
		}
		free(fp);
		if (k == NULL)
			r = sink_new(s, &cfg->sinks[i], &k);
		v[i] = k;
	}
	if (r < 0) {
		for (i = 0; i < cfg->nsinks; i++)
			sink_close(v[i]);
		free(v);
		return r;
	}
	*ret = v;
	return 0;
}

static int
first_id(int64_t id, int64_t time, const void *payload, size_t len, void *arg)
{
	(void)time;
	(void)payload;
	(void)len;
	*(int64_t *)arg = id;
	return 0;
}

/* The id before the spool's oldest (what an earlier life's bound
 * deleted): a sink behind it lost those, counted then, not again. */
static int
spool_start(struct store *st, int64_t *ret)
{
	int64_t first = 0;
	int r;

	r = store_event_since(st, 0, 1, first_id, &first);
	if (r == 0 && first == 0)
		r = store_event_last(st, &first);
	else if (r == 0)
		first--;
	if (r == 0)
		*ret = first;
	return r;
}

/* Where rotad-deliver is and whom it runs as, from CFG and USER. */
static int
set_delivery(struct sinks *s, const struct job_events *cfg, const char *user)
{
	char *path = NULL, *u = NULL;

	if ((cfg->delivery_path != NULL &&
		(path = strdup(cfg->delivery_path)) == NULL) ||
	    (user != NULL && (u = strdup(user)) == NULL)) {
		free(path);
		return -ENOMEM;
	}
	free(s->delivery_path);
	free(s->user);
	s->delivery_path = path;
	s->user = u;
	return 0;
}

int
sinks_open(const struct job_events *cfg, const char *user, struct store *st,
    struct storeq *q, uv_loop_t *loop, struct sinks **ret)
{
	struct sinks *s;
	int r;

	if (sinks_check(cfg, NULL) > 0)
		return -EINVAL;
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return -ENOMEM;
	s->st = st;
	s->q = q;
	s->loop = loop;
	s->spool_max = cfg->spool_max;
	s->ceiling = INT64_MAX;
	r = set_delivery(s, cfg, user);
	if (r == 0)
		r = spool_start(st, &s->trimmed);
	if (r == 0)
		r = build(s, cfg, &s->v);
	if (r < 0) {
		free(s->delivery_path);
		free(s->user);
		free(s);
		return r;
	}
	s->n = cfg->nsinks;
	*ret = s;
	return 0;
}

int
sinks_reconfigure(
    struct sinks *s, const struct job_events *cfg, const char *user)
{
	struct sink **v;
	size_t i;
	int r;

	if (sinks_check(cfg, NULL) > 0)
		return -EINVAL;
	/* A new path or user is for the next rotad-deliver: the one
	 * running is stopped when either changes. */
	if ((cfg->delivery_path == NULL) != (s->delivery_path == NULL) ||
	    (cfg->delivery_path != NULL &&
		strcmp(cfg->delivery_path, s->delivery_path) != 0) ||
	    (user == NULL) != (s->user == NULL) ||
	    (user != NULL && strcmp(user, s->user) != 0)) {
		r = set_delivery(s, cfg, user);
		if (r < 0)
			return r;
		for (i = 0; i < s->n; i++)
			if (s->v[i] != NULL) {
				s->v[i]->opened = false;
				s->v[i]->inflight = false;
			}
		delivery_close(s->dl);
		s->dl = NULL;
	}
	/* A failed build has already closed sinks it took out of S:
	 * a reload that fails for memory loses them until the next. */
	r = build(s, cfg, &v);
	if (r < 0)
		return r;
	for (i = 0; i < s->n; i++)
		sink_close(s->v[i]);
	free(s->v);
	s->v = v;
	s->n = cfg->nsinks;
	s->spool_max = cfg->spool_max;
	sinks_kick(s);
	return 0;
}

void
sinks_set_ceiling(struct sinks *s, int64_t id)
{
	if (s == NULL || id == s->ceiling)
		return;
	s->ceiling = id;
	sinks_kick(s);
}

void
sinks_kick(struct sinks *s)
{
	size_t i;

	if (s == NULL)
		return;
	for (i = 0; i < s->n; i++)
		deliver(s->v[i]);
}

void
sinks_reopen(struct sinks *s)
{
	struct sink *k;
	size_t i;

	if (s == NULL)
		return;
	for (i = 0; i < s->n; i++) {
		k = s->v[i];
		/* A network sink reads its CA, certificate, key and token
		 * again (renewed), with its batch in flight left to end. */
		if (is_network(k) && k->opened && !k->inflight)
			k->opened = false;
		if (k->type != JOB_SINK_FILE)
			continue;
		uv_timer_stop(&k->timer);
		k->waiting = false;
		/* Its batch being written: when that ends (read_done()). */
		if (k->reading != NULL)
			k->reopen = true;
		else
			sink_disconnect(k);
	}
	sinks_kick(s);
}

int
sinks_bound(struct sinks *s, int64_t last_id, int64_t *ret_dropped)
{
	int64_t upto = last_id - s->spool_max, from;
	size_t i;
	int r;

	*ret_dropped = 0;
	/* Ids are dense (the spool never reuses one and only its oldest
	 * go), so the events kept are those after last_id - spool_max. */
	if (upto <= 0)
		return 0;
	r = store_event_trim(s->st, upto, ret_dropped);
	if (r < 0 || *ret_dropped == 0)
		return r;
	/* Each sink behind loses what it had not had of them. */
	for (i = 0; i < s->n; i++) {
		from = s->v[i]->cursor > s->trimmed ? s->v[i]->cursor
						    : s->trimmed;
		if (from < upto)
			s->v[i]->dropped += (uint64_t)(upto - from);
	}
	s->trimmed = upto;
	return 0;
}

void
sinks_close(struct sinks *s)
{
	size_t i;

	if (s == NULL)
		return;
	for (i = 0; i < s->n; i++)
		sink_close(s->v[i]);
	delivery_close(s->dl);
	free(s->delivery_path);
	free(s->user);
	free(s->v);
	free(s);
}

size_t
sinks_metrics(const struct sinks *s, struct sinks_metric *ret, size_t n)
{
	const struct sink *k;
	size_t i;

	for (i = 0; i < s->n && i < n; i++) {
		k = s->v[i];
		ret[i].name = k->name;
		ret[i].type = type_names[k->type];
		ret[i].seen = k->seen;
		ret[i].delivered = k->delivered;
		ret[i].filtered = k->filtered;
		ret[i].failures = k->failures;
		ret[i].dropped = k->dropped;
		ret[i].cursor = k->cursor;
		ret[i].retrying = k->waiting;
	}
	return s->n;
}
