/*
 * rotad-deliver: the network side of the event sinks, in a process of
 * its own (proto/deliver.h).
 *
 *   rotad-deliver [--user NAME]
 *   rotad-deliver --help | --version
 *
 * The daemon starts it with fd 0 a connected Unix stream socket (both
 * ways), fd 2 the daemon's stderr and an empty environment, and keeps it
 * running.  It holds no store, no key, no configuration file: what it
 * knows arrives as SINK messages, and what it sends are BATCHes' frames,
 * answered with one RESULT each.  It prints nothing on start.  Each log
 * line on fd 2 starts "rotad-deliver: "; none holds a secret or an
 * event.
 *
 * The order of main() is the point of the file: die with the daemon,
 * parse argv, lock down (confine.h: ids, capabilities, no new privileges),
 * start the libraries and the loop, load the seccomp filter, and only
 * then read a message.  Everything runs on one libuv loop, one sink's
 * waiting never holding up another's (sink.h).
 *
 * It lives as long as the daemon, so a library upgraded meanwhile would
 * go on running old, in the process that speaks TLS to the network.  On
 * each BATCH, once a second at most, it reads its own /proc/self/maps
 * (common/maps.h); a file it runs code of that was unlinked since it
 * mapped it makes it log the file, answer what it holds, and exit
 * DELIVER_EXIT_STALE once no batch is in flight and every RESULT is
 * written.  The daemon starts a new one at the next batch, which runs
 * what is on disk.  Nothing is lost on the way: a batch the daemon sent
 * meanwhile is answered "exited" and sent again.
 *
 * Exit status: 0 when the daemon closes its end (everything is closed,
 * batches in flight are dropped unanswered); 1 on a malformed message
 * (the daemon restarts it), a lockdown that failed, or an I/O error on
 * fd 0; 2 on a bad command line; 3 (DELIVER_EXIT_STALE) as above.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>

#include <curl/curl.h>
#include <openssl/ssl.h>
#include <uv.h>

#include "config.h"
#include "confine.h"
#include "deliver.h"
#include "maps.h"
#include "sink.h"
#include "xalloc.h"

#define SYNOPSIS                                                               \
	"usage: rotad-deliver [--user NAME]\n"                                 \
	"       rotad-deliver --help | --version\n"

#define READ_CHUNK (64 * 1024)
#define STALE_CHECK_MS 1000 /* the least time between two looks */

struct link {
	uv_loop_t loop;
	uv_pipe_t pipe; /* fd 0: the daemon */
	uint8_t *in;    /* what arrived and is not handled yet */
	size_t have, cap;
	struct sink **sinks;
	size_t nsinks;
	bool quitting;
	int status;
	unsigned inflight; /* batches not answered yet */
	unsigned writing;  /* RESULTs not written yet */
	bool stale;        /* it runs code replaced on disk: ending */
	uint64_t checked_at;
};

struct result_write {
	uv_write_t req;
	struct link *l;
	uint8_t *buf;
};

static void logx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* One line on fd 2.  Never given a secret nor an event. */
static void
logx(const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	fprintf(stderr, "rotad-deliver: %s\n", line);
}

/* Everything closes; uv_run() returns once the last handle has. */
static void
quit(struct link *l, int status)
{
	size_t i;

	if (l->quitting)
		return;
	l->quitting = true;
	l->status = status;
	for (i = 0; i < l->nsinks; i++) {
		sink_mute(l->sinks[i]);
		sink_close(l->sinks[i], "shutting down");
	}
	l->nsinks = 0;
	uv_close((uv_handle_t *)&l->pipe, NULL);
}

/* A stale process ends once nothing it was asked is left unanswered. */
static void
maybe_end_stale(struct link *l)
{
	if (l->stale && !l->quitting && l->inflight == 0 && l->writing == 0)
		quit(l, DELIVER_EXIT_STALE);
}

/* Whether a file this process runs code of was replaced on disk; a look
 * a second at most (a BATCH may come every few milliseconds). */
static void
check_stale(struct link *l)
{
	char path[512];
	struct timespec ts;
	uint64_t now;

	if (l->stale)
		return;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	now = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
	if (l->checked_at != 0 && now - l->checked_at < STALE_CHECK_MS)
		return;
	l->checked_at = now;
	if (maps_self_replaced(path, sizeof(path)) != 1)
		return;
	l->stale = true;
	logx("%s was replaced on disk since this process started: ending "
	     "once its batches are answered, for the daemon to start it "
	     "afresh",
	    path);
}

static void
on_result_written(uv_write_t *req, int status)
{
	struct result_write *w = (struct result_write *)req;
	struct link *l = w->l;

	l->writing--;
	if (status < 0 && !l->quitting) {
		logx("cannot write to the daemon: %s", uv_strerror(status));
		quit(l, 1);
	}
	free(w->buf);
	free(w);
	maybe_end_stale(l);
}

/* sink_result_cb: one RESULT to the daemon. */
static void
send_result(void *arg, const char *name, uint64_t token, uint32_t done,
    const char *error)
{
	struct link *l = arg;
	struct deliver_msg m;
	struct result_write *w;
	char text[DELIVER_ERROR_MAX + 1];
	uv_buf_t buf;
	size_t len, i;
	int r;

	if (l->quitting)
		return;
	if (l->inflight > 0)
		l->inflight--;
	memset(&m, 0, sizeof(m));
	m.type = DELIVER_RESULT;
	m.name = (char *)name;
	m.token = token;
	m.done = done;
	if (error != NULL && error[0] != '\0') {
		/* A peer's words may be in it: one printable line. */
		snprintf(text, sizeof(text), "%s", error);
		for (i = 0; text[i] != '\0'; i++)
			if ((unsigned char)text[i] < 0x20 || text[i] == 0x7f)
				text[i] = '?';
		m.error = text;
	}
	w = xcalloc(1, sizeof(*w));
	w->l = l;
	if ((r = deliver_encode(&m, NULL, &w->buf, &len)) < 0) {
		free(w);
		logx("cannot encode a result for sink %s: %s", name,
		    strerror(-r));
		quit(l, 1);
		return;
	}
	buf = uv_buf_init((char *)w->buf, (unsigned)len);
	if ((r = uv_write(&w->req, (uv_stream_t *)&l->pipe, &buf, 1,
		 on_result_written)) < 0) {
		free(w->buf);
		free(w);
		logx("cannot write to the daemon: %s", uv_strerror(r));
		quit(l, 1);
		return;
	}
	l->writing++;
}

static size_t
find_sink(const struct link *l, const char *name)
{
	size_t i;

	for (i = 0; i < l->nsinks; i++)
		if (strcmp(sink_name(l->sinks[i]), name) == 0)
			return i;
	return l->nsinks;
}

/* One decoded message from the daemon. */
static void
dispatch(struct link *l, struct deliver_msg *m)
{
	size_t i = find_sink(l, m->name);

	switch (m->type) {
	case DELIVER_SINK:
		if (i < l->nsinks) {
			sink_close(l->sinks[i], "replaced");
			l->sinks[i] = sink_new(&l->loop, m, send_result, l);
			return;
		}
		l->sinks =
		    xreallocarray(l->sinks, l->nsinks + 1, sizeof(*l->sinks));
		l->sinks[l->nsinks++] = sink_new(&l->loop, m, send_result, l);
		return;
	case DELIVER_DROP:
		if (i == l->nsinks)
			return; /* gone already: nothing to do */
		sink_close(l->sinks[i], "dropped");
		l->sinks[i] = l->sinks[--l->nsinks];
		return;
	case DELIVER_BATCH:
		l->inflight++;
		check_stale(l);
		if (i == l->nsinks)
			send_result(l, m->name, m->token, 0, "no such sink");
		else
			sink_submit(l->sinks[i], m);
		return;
	default:
		logx("a RESULT from the daemon; exiting");
		quit(l, 1);
		return;
	}
}

/* Every whole message in the input, in order. */
static void
handle_input(struct link *l)
{
	struct deliver_msg m;
	size_t len, off = 0;
	int r;

	while (!l->quitting) {
		r = deliver_frame_len(l->in + off, l->have - off, &len);
		if (r == -EAGAIN)
			break;
		if (r < 0) {
			logx("a message of a bad length from the daemon; "
			     "exiting");
			quit(l, 1);
			break;
		}
		r = deliver_decode(l->in + off + 4, len - 4, &m);
		if (r < 0) {
			logx("a malformed message from the daemon (%s); "
			     "exiting",
			    strerror(-r));
			quit(l, 1);
			break;
		}
		dispatch(l, &m);
		deliver_msg_clear(&m);
		off += len;
	}
	memmove(l->in, l->in + off, l->have - off);
	l->have -= off;
}

static void
on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct link *l = h->data;

	/* At most one message and a chunk are ever held. */
	if (l->cap - l->have < READ_CHUNK) {
		l->cap = l->have + READ_CHUNK;
		l->in = xrealloc(l->in, l->cap);
	}
	*buf =
	    uv_buf_init((char *)l->in + l->have, (unsigned)(l->cap - l->have));
}

static void
on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
	struct link *l = st->data;

	if (nread == UV_EOF) {
		quit(l, 0);
		return;
	}
	if (nread < 0) {
		logx(
		    "cannot read from the daemon: %s", uv_strerror((int)nread));
		quit(l, 1);
		return;
	}
	l->have += (size_t)nread;
	handle_input(l);
}

/* 1 when argv asked for --help or --version (answered), 0 to run, -1 on
 * a bad command line (said). */
static int
parse_args(int argc, char **argv, const char **user)
{
	static const struct option longopts[] = {
		{ "user", required_argument, NULL, 'u' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;

	*user = CONFINE_USER_DEFAULT;
	while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'u':
			*user = optarg;
			break;
		case 'h':
			fputs(SYNOPSIS
			    "\n"
			    "The network side of rotad's event sinks (remote "
			    "syslog over UDP, TCP and\n"
			    "TLS; HTTP POST), in a locked-down process.  Only "
			    "the daemon runs it: fd 0\n"
			    "is a Unix stream socket to the daemon, which "
			    "sends the sinks and their\n"
			    "batches; each batch is answered with how far it "
			    "got.\n"
			    "\n"
			    "  --user NAME  the user to switch to "
			    "(default " CONFINE_USER_DEFAULT ")\n"
			    "  -h, --help   this text\n"
			    "  --version    the version\n"
			    "\n"
			    "Exit status: 0 the daemon closed its end, 1 an "
			    "error (logged), 2 usage.\n",
			    stdout);
			return 1;
		case 'V':
			printf("rotad-deliver %s\n", ROTAD_VERSION);
			return 1;
		default:
			fputs(SYNOPSIS, stderr);
			return -1;
		}
	}
	if (optind != argc) {
		fputs(SYNOPSIS, stderr);
		return -1;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	struct link l;
	const char *user;
	char why[512];
	int r;

	/* Die with the daemon, first of all (confine.h). */
	(void)prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
	/* A write to a connection the peer closed is an error to handle,
	 * not a signal. */
	signal(SIGPIPE, SIG_IGN);
	if ((r = parse_args(argc, argv, &user)) != 0)
		return r > 0 ? (fflush(stdout) == 0 ? 0 : 1) : 2;

	if (confine_begin(user, why, sizeof(why)) < 0) {
		logx("%s", why);
		return 1;
	}
	if (OPENSSL_init_ssl(OPENSSL_INIT_LOAD_CONFIG, NULL) != 1 ||
	    curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		logx("cannot initialise OpenSSL and libcurl");
		return 1;
	}
	memset(&l, 0, sizeof(l));
	if ((r = uv_loop_init(&l.loop)) < 0 ||
	    (r = uv_pipe_init(&l.loop, &l.pipe, 0)) < 0 ||
	    (r = uv_pipe_open(&l.pipe, 0)) < 0) {
		logx("cannot set up the loop: %s", uv_strerror(r));
		return 1;
	}
	l.pipe.data = &l;
	if (confine_seccomp(why, sizeof(why)) < 0) {
		logx("%s", why);
		return 1;
	}

	/* Only now the daemon's messages. */
	if ((r = uv_read_start((uv_stream_t *)&l.pipe, on_alloc, on_read)) <
	    0) {
		logx("cannot read from the daemon: %s", uv_strerror(r));
		return 1;
	}
	uv_run(&l.loop, UV_RUN_DEFAULT);
	uv_loop_close(&l.loop);
	curl_global_cleanup();
	free(l.sinks);
	free(l.in);
	return l.status;
}
