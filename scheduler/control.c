/*
 * control.c: the daemon's end of the control socket, on libuv.
 *
 * A connection's life, one request at a time:
 *
 *   +-> reading --- a whole line ---> busy: decode, check the right,
 *   |                                 dispatch; progress lines may go
 *   |                                 out, then one final answer
 *   |                                        |
 *   +---- the final answer is queued <-------+
 *         (take the next line already buffered, or read again)
 *
 * Answers go out in order because libuv writes a stream's queue in order,
 * so the next buffered request is taken as soon as the previous answer is
 * queued, not when it is written: waiting for the write callback made one
 * request per loop turn, and a loop turn is slow when the daemon is busy
 * (a worker spawned, a flood of connections accepted), which is how 500
 * pipelined triggers once took 40 s.  Fairness instead comes from a budget:
 * at most BATCH requests of one connection per turn, then the connection
 * waits its turn on the ready list, served round-robin by an idle handle.
 *
 * Backpressure: no reading while a request is in progress, while lines are
 * buffered, or while more than WRITE_HIGH bytes of answers wait for the
 * client to read them.  A client that pipelines waits in the kernel, not
 * in our memory.  Progress lines are the daemon's, not the client's
 * doing, and may come without end (events --follow): a client that leaves
 * more than progress_max bytes of them unread gets no more, and is closed
 * (too_slow()).
 *
 * Every connection has a timer (see arm_timer()): one that sends nothing
 * for idle_ms while none of its requests is in progress, or whose request
 * line is not complete line_ms after its first byte, is closed.  A request
 * in progress (rotate --wait) is the daemon's wait, not the client's.
 *
 * Who may connect: each uid but root and the daemon's own has at most
 * per_uid connections, and the last `reserve` of max_conns slots are kept
 * for root, the daemon's uid and peers with the admin right, so that a
 * flood by anyone who may connect cannot lock the administrator out.  A
 * connection over a limit gets one busy line and is closed.
 *
 * A line longer than CONTROL_LINE_MAX loses the framing, so it is answered
 * with too_large and the connection closed once that answer is written.
 * At EOF the lines already received are still answered, then the
 * connection closes once its answers are written; a client may half-close
 * after sending.
 *
 * The daemon may answer from inside its dispatch callback or later.  It is
 * told through on_close only when a connection closes with its request
 * unanswered (by the daemon: too_slow()'s last line is ours), and never
 * from inside a control_*() call it made itself
 * (except control_stop()), so it can call control_progress() while it
 * walks its own list of waiters: a failure to send there only marks the
 * connection broken, and the final answer then closes it.  Likewise an
 * answer given later never takes the next request from inside the call:
 * the connection goes on the ready list.
 *
 * Every byte that came in or went out may be a secret (secret_set,
 * secret_get), so the read buffer is wiped as lines are consumed and on
 * growth, and every written line is wiped before it is freed.
 */
#include <errno.h>
#include <grp.h>
#include <libgen.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "control.h"
#include "protocol.h"
#include "why.h"

_Static_assert(CONTROL_LINE_MAX == PROTOCOL_LINE_MAX, "line limits differ");
_Static_assert((int)CONTROL_RIGHT_READ == (int)PROTOCOL_RIGHT_READ &&
	(int)CONTROL_RIGHT_TRIGGER == (int)PROTOCOL_RIGHT_TRIGGER &&
	(int)CONTROL_RIGHT_SECRETS == (int)PROTOCOL_RIGHT_SECRETS &&
	(int)CONTROL_RIGHT_ADMIN == (int)PROTOCOL_RIGHT_ADMIN &&
	(int)CONTROL_RIGHT_ALL == (int)PROTOCOL_RIGHT_ALL,
    "rights differ");

#define BUF_MIN 4096
/* Room in the kernel for connects while the loop is busy; connections
 * over the limits are still accepted, answered and closed. */
#define BACKLOG 256
/* Requests of one connection per loop turn: enough that a pipelining
 * client is not slowed by the loop, few enough that it cannot keep the
 * others waiting. */
#define BATCH 8
/* Answers waiting for the client beyond which no request is taken. */
#define WRITE_HIGH (64 * 1024)

struct control {
	uv_loop_t *loop;
	uv_pipe_t server;
	char *path;
	dev_t dev; /* the socket file we bound, so that we unlink only it */
	ino_t ino;
	const struct control_acl *acl;
	control_dispatch_fn *dispatch;
	control_close_fn *on_close;
	control_denied_fn *on_denied;
	void *daemon;
	uint64_t (*hold)(void *daemon);
	uint64_t released;          /* control_release()'s last */
	struct control_conn *conns; /* admitted connections not yet freed */
	size_t nconns;   /* those that count: admitted and not closing */
	size_t nhandles; /* open handles: the server, the idle handle,
			    the sink and every connection */
	uv_idle_t idle;  /* serves the ready list */
	TAILQ_HEAD(, control_conn) ready; /* connections with lines to take */
	size_t nready;
	uv_pipe_t sink; /* accepts and drops what we have no memory for */
	bool sink_busy;
	bool accept_waiting; /* libuv holds an accepted fd for us */
	bool stopping;
	void (*stop_cb)(void *arg);
	void *stop_arg;
	unsigned max_conns, reserve, per_uid, idle_ms, line_ms;
	size_t progress_max;
};

struct control_conn {
	struct control *c;
	struct control_conn *prev, *next;
	TAILQ_ENTRY(control_conn) rlink; /* on c->ready */
	uv_pipe_t pipe;
	uv_timer_t timer; /* idle and line deadlines */
	int nopen;        /* of pipe and timer, not yet closed */
	uid_t uid;
	gid_t gid;
	pid_t pid;
	gid_t *groups; /* the uid's groups, from the user database */
	int ngroups;
	char *buf; /* received bytes; those before off are consumed */
	size_t off, len, cap;
	size_t scanned;      /* bytes from off known to hold no '\n' */
	uint64_t line_start; /* loop time of the first byte after off */
	size_t nwrites;      /* writes not yet called back, held ones too */
	/* Lines held until the store is on disk (control_config.hold), in
	 * order; once one is held, every later one waits behind it. */
	TAILQ_HEAD(, held_line) held;
	size_t held_bytes;
	json_t *id;      /* the current request's "id" */
	unsigned right;  /* the right it needed, 0 if it never got that far */
	bool linked;     /* on c->conns: admitted */
	bool counted;    /* in c->nconns: admitted and not closing */
	bool ready;      /* on c->ready */
	bool processing; /* inside process(): it takes the next line */
	bool reading;
	bool eof;
	bool busy;   /* a request is taken, until its final answer is queued */
	bool broken; /* a send failed inside a daemon call */
	bool too_slow; /* progress_max unread: closes once its last line is
			  written, or idle (too_slow()) */
	bool unheld; /* this request's lines need not wait (control_unheld) */
	bool close_after_write;
	bool closing;
};

struct write_req {
	uv_write_t req;
	struct control_conn *conn;
	char *buf;
	size_t len;
};

struct held_line {
	TAILQ_ENTRY(held_line) link;
	char *buf;
	size_t len;
	uint64_t hold;
};

static void process(struct control_conn *conn);
static void drop_held(struct control_conn *conn);
static unsigned conn_rights(const struct control_conn *conn);

/* ---- closing ---- */

static void
handle_closed(struct control *c)
{
	void (*cb)(void *arg);
	void *arg;

	if (--c->nhandles > 0 || !c->stopping)
		return;
	cb = c->stop_cb;
	arg = c->stop_arg;
	free(c->path);
	free(c);
	if (cb != NULL)
		cb(arg);
}

static void
server_close_cb(uv_handle_t *h)
{
	handle_closed(h->data);
}

/* For the pipe and the timer: the connection goes with the last. */
static void
conn_close_cb(uv_handle_t *h)
{
	struct control_conn *conn = h->data;
	struct control *c = conn->c;

	if (--conn->nopen > 0)
		return;
	if (conn->linked) {
		if (conn->prev != NULL)
			conn->prev->next = conn->next;
		else
			c->conns = conn->next;
		if (conn->next != NULL)
			conn->next->prev = conn->prev;
	}
	drop_held(conn);
	protocol_free_wiped(conn->buf, conn->cap);
	free(conn->groups);
	json_decref(conn->id);
	free(conn);
	handle_closed(c);
}

static void
unready(struct control_conn *conn)
{
	if (!conn->ready)
		return;
	TAILQ_REMOVE(&conn->c->ready, conn, rlink);
	conn->ready = false;
	conn->c->nready--;
}

/*
 * Close CONN; it is freed in the close callbacks.  A daemon still holding
 * the connection for an unanswered request is told now, so that it never
 * answers a freed one.  Writes in flight are cancelled by libuv, and their
 * callbacks run before the close callback.  The connection stops counting
 * against the limits at once: its fd is closed now.
 */
static void
conn_close(struct control_conn *conn)
{
	struct control *c = conn->c;

	if (conn->closing)
		return;
	conn->closing = true;
	if (conn->counted) {
		conn->counted = false;
		c->nconns--;
	}
	unready(conn);
	if (conn->busy) {
		conn->busy = false;
		if (c->on_close != NULL)
			c->on_close(c->daemon, conn);
	}
	uv_close((uv_handle_t *)&conn->pipe, conn_close_cb);
	uv_close((uv_handle_t *)&conn->timer, conn_close_cb);
}

/* ---- the ready list ---- */

/*
 * Serve each connection on the ready list once (a budget of BATCH
 * requests), in the order they were put there; one that still has lines
 * puts itself back at the end.
 */
static void
idle_cb(uv_idle_t *h)
{
	struct control *c = h->data;
	struct control_conn *conn;
	size_t n = c->nready;

	while (n-- > 0 && !c->stopping &&
	    (conn = TAILQ_FIRST(&c->ready)) != NULL) {
		unready(conn);
		process(conn);
	}
	if (TAILQ_EMPTY(&c->ready))
		uv_idle_stop(&c->idle);
}

/* Take CONN's next request on a later loop turn. */
static void
schedule(struct control_conn *conn)
{
	struct control *c = conn->c;

	if (conn->ready || conn->closing || c->stopping)
		return;
	TAILQ_INSERT_TAIL(&c->ready, conn, rlink);
	conn->ready = true;
	c->nready++;
	uv_idle_start(&c->idle, idle_cb);
}

/* ---- deadlines ---- */

static void
timer_cb(uv_timer_t *t)
{
	/* Idle, or too slow with its line: nothing to answer. */
	conn_close(t->data);
}

/*
 * Restart CONN's deadline after anything happened on it.  While a request
 * is in progress there is none: the daemon, not the client, is working.
 * While a line is incomplete it is line_ms from the line's first byte, so
 * that a byte now and then does not keep it open; otherwise idle_ms from
 * now (answers the client does not read count as its idleness).
 */
static void
arm_timer(struct control_conn *conn)
{
	struct control *c = conn->c;
	uint64_t now = uv_now(c->loop), due;

	if (conn->closing)
		return;
	if (conn->too_slow) {
		/* The client has idle_ms to take a line, and none is left
		 * to take when a send failed. */
		uv_timer_start(&conn->timer, timer_cb,
		    conn->nwrites == 0 ? 0 : c->idle_ms, 0);
		return;
	}
	if (conn->busy) {
		uv_timer_stop(&conn->timer);
		return;
	}
	if (conn->len > conn->off && !conn->eof && !conn->close_after_write)
		due = conn->line_start + c->line_ms;
	else
		due = now + c->idle_ms;
	uv_timer_start(&conn->timer, timer_cb, due > now ? due - now : 0, 0);
}

/* ---- writing ---- */

static void
write_cb(uv_write_t *req, int status)
{
	struct write_req *w = (struct write_req *)req;
	struct control_conn *conn = w->conn;

	protocol_free_wiped(w->buf, w->len);
	free(w);
	conn->nwrites--;
	if (conn->closing)
		return;
	if (status < 0) {
		conn_close(conn);
		return;
	}
	if (conn->close_after_write) {
		if (conn->nwrites == 0)
			conn_close(conn);
		else
			arm_timer(conn);
		return;
	}
	/* Requests held back by WRITE_HIGH go on, but on the ready list:
	 * taking them here would give the connection a new budget for
	 * every answer written. */
	if (conn->len > conn->off && !conn->busy)
		schedule(conn);
	else
		arm_timer(conn);
}

/* Write LINE (taken over) on CONN.  0 or a negative errno. */
static int
write_line(struct control_conn *conn, char *line, size_t len)
{
	struct write_req *w;
	uv_buf_t b;
	int r;

	w = calloc(1, sizeof(*w));
	if (w == NULL) {
		protocol_free_wiped(line, len);
		return -ENOMEM;
	}
	w->conn = conn;
	w->buf = line;
	w->len = len;
	b = uv_buf_init(line, (unsigned)len);
	r = uv_write(&w->req, (uv_stream_t *)&conn->pipe, &b, 1, write_cb);
	if (r < 0) {
		protocol_free_wiped(line, len);
		free(w);
		return r;
	}
	conn->nwrites++;
	return 0;
}

/*
 * Queue LINE (taken over) on CONN: written now, or held until the store
 * has on disk what it had when the line was made (the daemon's group
 * commit, control_config.hold), behind any line held before it.  0 or a
 * negative errno.
 */
static int
send_line(struct control_conn *conn, char *line, size_t len)
{
	struct control *c = conn->c;
	struct held_line *h;
	uint64_t hold =
	    c->hold != NULL && !conn->unheld ? c->hold(c->daemon) : 0;

	if (hold <= c->released && TAILQ_EMPTY(&conn->held))
		return write_line(conn, line, len);
	h = calloc(1, sizeof(*h));
	if (h == NULL) {
		protocol_free_wiped(line, len);
		return -ENOMEM;
	}
	h->buf = line;
	h->len = len;
	h->hold = hold;
	TAILQ_INSERT_TAIL(&conn->held, h, link);
	conn->held_bytes += len;
	conn->nwrites++;
	return 0;
}

/* Write CONN's held lines that the store now covers, in order. */
static void
write_held(struct control_conn *conn)
{
	struct held_line *h;
	int r;

	while ((h = TAILQ_FIRST(&conn->held)) != NULL &&
	    h->hold <= conn->c->released) {
		TAILQ_REMOVE(&conn->held, h, link);
		conn->held_bytes -= h->len;
		conn->nwrites--; /* write_line() counts it again */
		r = write_line(conn, h->buf, h->len);
		free(h);
		if (r < 0) {
			conn_close(conn);
			return;
		}
	}
}

static void
drop_held(struct control_conn *conn)
{
	struct held_line *h;

	while ((h = TAILQ_FIRST(&conn->held)) != NULL) {
		TAILQ_REMOVE(&conn->held, h, link);
		protocol_free_wiped(h->buf, h->len);
		free(h);
	}
	conn->held_bytes = 0;
}

void
control_unheld(struct control_conn *conn)
{
	conn->unheld = true;
}

void
control_release(struct control *c, uint64_t gen)
{
	struct control_conn *conn, *next;

	if (c == NULL)
		return;
	if (gen > c->released)
		c->released = gen;
	for (conn = c->conns; conn != NULL; conn = next) {
		next = conn->next;
		if (!conn->closing && !TAILQ_EMPTY(&conn->held))
			write_held(conn);
	}
}

/* Whether a final answer may go out now; closes a broken connection. */
static bool
may_answer(struct control_conn *conn)
{
	if (conn == NULL || !conn->busy || conn->closing)
		return false;
	if (conn->broken) {
		conn->busy = false;
		conn_close(conn);
		return false;
	}
	return true;
}

/*
 * Send the final answer encoded as R, LINE, LEN; on failure try a short
 * internal error, and failing that close.  The request is over: the next
 * one is taken by process() if we are inside it, else on a later turn.
 */
static void
send_final(struct control_conn *conn, int r, char *line, size_t len)
{
	if (r < 0)
		r = protocol_encode_error(conn->id, PROTOCOL_E_INTERNAL,
		    "cannot encode the answer", NULL, &line, &len);
	if (r == 0)
		r = send_line(conn, line, len);
	conn->busy = false;
	conn->unheld = false;
	json_decref(conn->id);
	conn->id = NULL;
	if (r < 0)
		conn_close(conn);
	else if (!conn->processing && !conn->close_after_write)
		schedule(conn);
}

void
control_reply(struct control_conn *conn, json_t *result)
{
	char *line = NULL;
	size_t len = 0;
	int r;

	if (!may_answer(conn)) {
		json_decref(result);
		return;
	}
	json_incref(result);
	r = protocol_encode_result(conn->id, result, &line, &len);
	/* secret_get's answer holds a secret in base64. */
	if (result != NULL && conn->right == CONTROL_RIGHT_SECRETS &&
	    result->refcount == 1)
		protocol_wipe_json(result);
	json_decref(result);
	send_final(conn, r, line, len);
}

static void __attribute__((format(printf, 4, 0)))
verror(struct control_conn *conn, json_t *extra, const char *code,
    const char *fmt, va_list ap)
{
	char msg[1024], *line = NULL;
	size_t len = 0;
	int r;

	if (!may_answer(conn)) {
		json_decref(extra);
		return;
	}
	vsnprintf(msg, sizeof(msg), fmt, ap);
	r = protocol_encode_error(conn->id, code, msg, extra, &line, &len);
	send_final(conn, r, line, len);
}

void
control_error(struct control_conn *conn, const char *code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	verror(conn, NULL, code, fmt, ap);
	va_end(ap);
}

void
control_error_extra(struct control_conn *conn, json_t *extra, const char *code,
    const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	verror(conn, extra, code, fmt, ap);
	va_end(ap);
}

/* Bytes CONN's client has yet to take: queued in libuv, or held. */
static size_t
unread(const struct control_conn *conn)
{
	return uv_stream_get_write_queue_size(
		   (const uv_stream_t *)&conn->pipe) +
	    conn->held_bytes;
}

/*
 * CONN's client left more than progress_max bytes of progress lines
 * unread (a follower that stopped reading, or reads slower than events
 * come): no more lines are made for it, and a last one says why, behind
 * what it has not read.  The connection closes once that is written, or
 * when the client has taken nothing for idle_ms (arm_timer()): its memory
 * is bounded either way.  It stays busy until then, so that the daemon
 * is told when it closes (on_close) -- not now: it may be walking its
 * followers or waiters, which is why we are here.
 */
static void
too_slow(struct control_conn *conn)
{
	char msg[160], *line = NULL;
	size_t len = 0;

	conn->broken = true;
	conn->too_slow = true;
	conn->close_after_write = true;
	snprintf(msg, sizeof(msg),
	    "more than %zu bytes of progress unread: the client is too slow; "
	    "closing the connection",
	    conn->c->progress_max);
	if (protocol_encode_error(
		conn->id, CONTROL_E_TOO_SLOW, msg, NULL, &line, &len) == 0)
		(void)send_line(conn, line, len);
	arm_timer(conn);
}

void
control_progress(struct control_conn *conn, json_t *obj)
{
	char *line;
	size_t len;

	if (conn == NULL || !conn->busy || conn->closing || conn->broken) {
		json_decref(obj);
		return;
	}
	if (protocol_encode_progress(conn->id, obj, &line, &len) < 0) {
		conn->broken = true;
		return;
	}
	if (unread(conn) + len > conn->c->progress_max) {
		protocol_free_wiped(line, len);
		too_slow(conn);
		return;
	}
	if (send_line(conn, line, len) < 0)
		conn->broken = true;
}

/* ---- reading ---- */

/* Move the unconsumed bytes to the front, wiping what they leave. */
static void
compact(struct control_conn *conn)
{
	size_t n = conn->len - conn->off;

	if (conn->off == 0)
		return;
	memmove(conn->buf, conn->buf + conn->off, n);
	OPENSSL_cleanse(conn->buf + n, conn->len - n);
	conn->off = 0;
	conn->len = n;
}

static void
alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *ret)
{
	struct control_conn *conn = h->data;
	size_t cap;
	char *buf;

	(void)suggested;
	/* Once per read, not once per line: a pipelined burst is not moved
	 * again for every request taken from its front. */
	compact(conn);
	if (conn->len == conn->cap) {
		/* Grow by hand rather than realloc(), which would leave an
		 * unwiped copy of what we have read behind. */
		cap = conn->cap == 0 ? BUF_MIN : conn->cap * 2;
		if (cap > CONTROL_LINE_MAX + 1)
			cap = CONTROL_LINE_MAX + 1;
		buf = cap > conn->cap ? malloc(cap) : NULL;
		if (buf == NULL) {
			*ret = uv_buf_init(NULL, 0); /* read_cb: UV_ENOBUFS */
			return;
		}
		if (conn->len > 0)
			memcpy(buf, conn->buf, conn->len);
		protocol_free_wiped(conn->buf, conn->cap);
		conn->buf = buf;
		conn->cap = cap;
	}
	*ret = uv_buf_init(conn->buf + conn->len, conn->cap - conn->len);
}

static void
read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct control_conn *conn = s->data;

	(void)buf;
	if (nread > 0) {
		if (conn->len == conn->off)
			conn->line_start = uv_now(conn->c->loop);
		conn->len += (size_t)nread;
		process(conn);
	} else if (nread == UV_EOF) {
		/* libuv has stopped reading. */
		conn->reading = false;
		conn->eof = true;
		process(conn);
	} else if (nread < 0) {
		conn->reading = false;
		conn_close(conn);
	}
}

static void
set_reading(struct control_conn *conn, bool on)
{
	if (on && !conn->reading && !conn->eof && !conn->closing) {
		if (uv_read_start(
			(uv_stream_t *)&conn->pipe, alloc_cb, read_cb) < 0)
			conn_close(conn);
		else
			conn->reading = true;
	} else if (!on && conn->reading) {
		uv_read_stop((uv_stream_t *)&conn->pipe);
		conn->reading = false;
	}
}

/* Drop the first N unconsumed bytes, wiping them. */
static void
consume(struct control_conn *conn, size_t n)
{
	OPENSSL_cleanse(conn->buf + conn->off, n);
	conn->off += n;
	conn->scanned = 0;
	if (conn->off == conn->len)
		conn->off = conn->len = 0;
	else
		/* The rest arrived earlier, but it is a new line's start
		 * for the deadline from now on. */
		conn->line_start = uv_now(conn->c->loop);
}

static bool
in_groups(const struct control_conn *conn, gid_t gid)
{
	int i;

	if (conn->gid == gid)
		return true;
	for (i = 0; i < conn->ngroups; i++)
		if (conn->groups[i] == gid)
			return true;
	return false;
}

/* root, and the daemon's own uid, which can read the store and its key
 * anyway: refusing it would protect nothing. */
static bool
is_owner(uid_t uid)
{
	return uid == 0 || uid == geteuid();
}

/* The peer's rights under the current ACL: a reload may change them
 * between two requests on one connection. */
static unsigned
conn_rights(const struct control_conn *conn)
{
	const struct control_acl *acl = conn->c->acl;
	const struct control_acl_entry *e;
	unsigned rights = 0;
	size_t i;

	if (is_owner(conn->uid))
		return CONTROL_RIGHT_ALL;
	for (i = 0; acl != NULL && i < acl->n; i++) {
		e = &acl->v[i];
		if (e->is_group ? in_groups(conn, e->gid) : e->uid == conn->uid)
			rights |= e->rights;
	}
	return rights;
}

/*
 * Take the request in the LEN bytes at the buffer's offset (CONSUMED with
 * its '\n'): decode, check, dispatch.  Every path ends in an answer, now or
 * (for a dispatched request) whenever the daemon gives it.
 */
static void
handle_line(struct control_conn *conn, size_t len, size_t consumed)
{
	struct control *c = conn->c;
	const char *code = NULL, *cmd;
	char msg[256];
	json_t *req = NULL;
	unsigned right = 0;
	int r;

	conn->busy = true;
	conn->right = 0;
	r = protocol_decode(
	    conn->buf + conn->off, len, &req, &code, msg, sizeof(msg));
	conn->id = json_incref(protocol_request_id(req));
	consume(conn, consumed);
	if (r < 0) {
		control_error(conn, code, "%s", msg);
		goto out;
	}
	cmd = json_string_value(json_object_get(req, "cmd"));
	right = control_command_right(cmd);
	if (right == 0) {
		control_error(conn, PROTOCOL_E_UNKNOWN_COMMAND,
		    "unknown command \"%.64s\"", cmd);
		goto out;
	}
	conn->right = right;
	if ((conn_rights(conn) & right) != right) {
		control_error(conn, PROTOCOL_E_DENIED,
		    "\"%s\" needs the %s right", cmd,
		    protocol_right_name(right));
		if (c->on_denied != NULL)
			c->on_denied(c->daemon, conn->uid, conn->pid, cmd);
		goto out;
	}
	c->dispatch(c->daemon, conn, cmd, req);
out:
	/* secret_set's value; unless the daemon kept the request. */
	if (right == CONTROL_RIGHT_SECRETS && req != NULL && req->refcount == 1)
		protocol_wipe_json(req);
	json_decref(req);
}

static void
too_large(struct control_conn *conn)
{
	conn->busy = true;
	conn->close_after_write = true;
	consume(conn, conn->len - conn->off);
	control_error(conn, PROTOCOL_E_TOO_LARGE,
	    "request line longer than %d bytes; closing the connection",
	    CONTROL_LINE_MAX);
}

/*
 * Take the next buffered request, if there is one.  Returns whether one
 * was taken (or the connection dealt with); false when more bytes are
 * needed.  The search for '\n' resumes where the last one stopped, so a
 * line that arrives a byte at a time costs its length, not its square.
 */
static bool
take_line(struct control_conn *conn)
{
	size_t n = conn->len - conn->off;
	char *nl = NULL;

	if (n > conn->scanned)
		nl = memchr(conn->buf + conn->off + conn->scanned, '\n',
		    n - conn->scanned);
	if (nl != NULL) {
		n = (size_t)(nl - (conn->buf + conn->off));
		handle_line(conn, n, n + 1);
		return true;
	}
	conn->scanned = n;
	if (n > CONTROL_LINE_MAX) {
		too_large(conn);
		return true;
	}
	if (!conn->eof)
		return false;
	if (n > 0) {
		/* A last line without its '\n'. */
		handle_line(conn, n, n);
		return true;
	}
	/* Everything answered: close once it is written. */
	if (conn->nwrites == 0)
		conn_close(conn);
	else
		conn->close_after_write = true;
	return true;
}

/*
 * Take CONN's buffered requests, one at a time, up to BATCH of them, then
 * decide whether to read: only when nothing is in progress, no line is
 * buffered and the client takes its answers.
 */
static void
process(struct control_conn *conn)
{
	size_t backlog;
	bool need_bytes = false;
	int n;

	if (conn->processing || conn->closing)
		return;
	conn->processing = true;
	for (n = 0; !conn->closing && !conn->busy && !conn->close_after_write;
	     n++) {
		/* Held answers count: a client that pipelines must not
		 * pile them up while the store syncs. */
		backlog = unread(conn);
		if (backlog > WRITE_HIGH)
			break; /* write_cb() comes back */
		if (n == BATCH) {
			schedule(conn);
			break;
		}
		if (!take_line(conn)) {
			need_bytes = true;
			break;
		}
	}
	conn->processing = false;
	if (conn->closing)
		return;
	set_reading(conn, need_bytes);
	arm_timer(conn);
}

/* ---- accepting ---- */

/*
 * The groups of the peer's uid from the user database, which ACL group
 * entries match besides the primary gid SO_PEERCRED gave.  Without a
 * passwd entry the peer has that gid only.  NSS may block; on a daemon's
 * host it is files.
 */
static void
resolve_groups(struct control_conn *conn)
{
	struct passwd pw, *res = NULL;
	size_t size = 1024;
	gid_t *groups = NULL;
	char *buf = NULL;
	int n = 32, m, r;

	for (;;) {
		buf = malloc(size);
		if (buf == NULL)
			goto out;
		r = getpwuid_r(conn->uid, &pw, buf, size, &res);
		if (r != ERANGE || size >= 1024 * 1024)
			break;
		free(buf);
		size *= 4;
	}
	if (r != 0 || res == NULL)
		goto out;
	for (;;) {
		groups = calloc((size_t)n, sizeof(*groups));
		if (groups == NULL)
			goto out;
		m = n;
		if (getgrouplist(pw.pw_name, pw.pw_gid, groups, &m) >= 0) {
			conn->groups = groups;
			conn->ngroups = m;
			groups = NULL;
			break;
		}
		free(groups);
		groups = NULL;
		/* m is now the number needed. */
		if (m <= n || m > 65536)
			break;
		n = m;
	}
out:
	free(groups);
	free(buf);
}

static void accept_one(struct control *c);

/* Whether UID is the workers' (worker.user). */
static bool
is_worker(const struct control *c, uid_t uid)
{
	return c->acl != NULL && c->acl->refuse_worker &&
	    uid == c->acl->worker_uid;
}

/*
 * A worker runs what a target or a script makes of it: whatever the ACL
 * says, its uid gets no command at all.  Refused before a byte is read,
 * logged through on_denied, told why, then closed.
 */
static void refuse_now(
    struct control_conn *conn, const char *code, const char *msg);

static void
refuse_worker(struct control_conn *conn)
{
	struct control *c = conn->c;
	char msg[128];

	if (c->on_denied != NULL)
		c->on_denied(c->daemon, conn->uid, conn->pid,
		    "the connection: it is the workers' uid (worker.user)");
	snprintf(msg, sizeof(msg),
	    "uid %u is the workers' (worker.user): no command is taken "
	    "from it",
	    (unsigned)conn->uid);
	refuse_now(conn, PROTOCOL_E_DENIED, msg);
}

static void
sink_close_cb(uv_handle_t *h)
{
	struct control *c = h->data;

	c->sink_busy = false;
	if (c->accept_waiting && !c->stopping) {
		c->accept_waiting = false;
		accept_one(c);
	}
	handle_closed(c);
}

/*
 * Drop the connection libuv has accepted for us.  Until someone calls
 * uv_accept() libuv stops polling the listener, so a connection we cannot
 * afford must still be taken, into a handle that needs no allocation.
 */
static void
refuse(struct control *c)
{
	if (c->sink_busy) {
		c->accept_waiting = true; /* again from sink_close_cb() */
		return;
	}
	uv_pipe_init(c->loop, &c->sink, 0);
	c->sink.data = c;
	c->sink_busy = true;
	c->nhandles++;
	(void)uv_accept((uv_stream_t *)&c->server, (uv_stream_t *)&c->sink);
	uv_close((uv_handle_t *)&c->sink, sink_close_cb);
}

static void
link_conn(struct control_conn *conn)
{
	struct control *c = conn->c;

	conn->next = c->conns;
	if (c->conns != NULL)
		c->conns->prev = conn;
	c->conns = conn;
	conn->linked = true;
	conn->counted = true;
	c->nconns++;
}

/*
 * Whether CONN may have a slot; if not, MSG says why.  Root and the
 * daemon's own uid have no per-uid cap and may take the reserve; a peer
 * with the admin right may take the reserve within its cap.  The per-uid
 * count comes first because it needs no lookup in the user database: a
 * flood over its cap is refused cheaply.
 */
static bool
admit(struct control_conn *conn, char *msg, size_t msglen)
{
	struct control *c = conn->c;
	const struct control_conn *o;
	size_t mine = 0, limit = c->max_conns;

	if (!is_owner(conn->uid)) {
		for (o = c->conns; o != NULL; o = o->next)
			if (o->counted && o->uid == conn->uid)
				mine++;
		if (mine >= c->per_uid) {
			snprintf(msg, msglen,
			    "too many connections from uid %u (%u)",
			    (unsigned)conn->uid, c->per_uid);
			return false;
		}
	}
	resolve_groups(conn);
	if ((conn_rights(conn) & CONTROL_RIGHT_ADMIN) == 0)
		limit -= c->reserve;
	if (c->nconns >= limit) {
		snprintf(
		    msg, msglen, "too many connections (%u)", c->max_conns);
		return false;
	}
	return true;
}

/* Tell CONN why it is refused (CODE, MSG), if the socket takes the line
 * at once, and close it: a refused peer gets no memory of ours to hold. */
static void
refuse_now(struct control_conn *conn, const char *code, const char *msg)
{
	char *line = NULL;
	size_t len = 0;
	uv_buf_t b;

	if (protocol_encode_error(NULL, code, msg, NULL, &line, &len) == 0) {
		b = uv_buf_init(line, (unsigned)len);
		(void)uv_try_write((uv_stream_t *)&conn->pipe, &b, 1);
		free(line);
	}
	conn_close(conn);
}

/* CONN has no slot: refused, busy. */
static void
refuse_busy(struct control_conn *conn, const char *msg)
{
	refuse_now(conn, PROTOCOL_E_BUSY, msg);
}

static void
accept_one(struct control *c)
{
	struct control_conn *conn;
	struct ucred cred;
	socklen_t credlen = sizeof(cred);
	uv_os_fd_t fd;
	char msg[128];

	conn = calloc(1, sizeof(*conn));
	if (conn == NULL) {
		refuse(c);
		return;
	}
	conn->c = c;
	TAILQ_INIT(&conn->held);
	uv_pipe_init(c->loop, &conn->pipe, 0);
	uv_timer_init(c->loop, &conn->timer);
	conn->pipe.data = conn;
	conn->timer.data = conn;
	conn->nopen = 2;
	c->nhandles++;
	if (uv_accept((uv_stream_t *)&c->server, (uv_stream_t *)&conn->pipe) <
		0 ||
	    uv_fileno((uv_handle_t *)&conn->pipe, &fd) < 0 ||
	    getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &credlen) < 0) {
		conn_close(conn);
		return;
	}
	conn->uid = cred.uid;
	conn->gid = cred.gid;
	conn->pid = cred.pid;
	if (is_worker(c, conn->uid)) {
		refuse_worker(conn);
		return;
	}
	if (!admit(conn, msg, sizeof(msg))) {
		refuse_busy(conn, msg);
		return;
	}
	link_conn(conn);
	process(conn);
}

static void
connection_cb(uv_stream_t *server, int status)
{
	struct control *c = server->data;

	if (status < 0 || c->stopping)
		return;
	accept_one(c);
}

/*
 * Make sure PATH is free to bind: nothing there, or a socket nobody
 * listens on (a daemon that died without unlinking it).  A live daemon
 * answering there, or a file that is not a socket, is left alone.
 */
static int
clear_stale(const struct sockaddr_un *sa, char *err, size_t errlen)
{
	const char *path = sa->sun_path;
	struct stat st;
	int fd, r, e;

	if (lstat(path, &st) < 0) {
		if (errno == ENOENT)
			return 0;
		return why_fail(err, errlen, -errno, "cannot stat %s: %s", path,
		    strerror(errno));
	}
	if (!S_ISSOCK(st.st_mode))
		return why_fail(err, errlen, -EEXIST,
		    "%s exists and is not a socket; refusing to replace it",
		    path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return why_fail(
		    err, errlen, -errno, "socket: %s", strerror(errno));
	r = connect(fd, (const struct sockaddr *)sa, sizeof(*sa));
	e = errno;
	close(fd);
	/* EAGAIN: a listener whose backlog is full is alive all the same. */
	if (r == 0 || e == EAGAIN || e == EINPROGRESS)
		return why_fail(err, errlen, -EADDRINUSE,
		    "another rotad is running on %s", path);
	if (e != ECONNREFUSED)
		return why_fail(
		    err, errlen, -e, "cannot check %s: %s", path, strerror(e));
	if (unlink(path) < 0 && errno != ENOENT)
		return why_fail(err, errlen, -errno,
		    "cannot remove the stale socket %s: %s", path,
		    strerror(errno));
	return 0;
}

static int
lookup_group(const char *name, gid_t *ret)
{
	struct group gr, *res = NULL;
	size_t size = 1024;
	char *buf;
	int r;

	for (;;) {
		buf = malloc(size);
		if (buf == NULL)
			return -ENOMEM;
		r = getgrnam_r(name, &gr, buf, size, &res);
		if (r != ERANGE || size >= 1024 * 1024)
			break;
		free(buf);
		size *= 4;
	}
	if (r == 0 && res != NULL)
		*ret = gr.gr_gid;
	free(buf);
	if (r != 0)
		return -r;
	return res != NULL ? 0 : -ENOENT;
}

/*
 * Create the socket file at SA with mode 0660 and group GID ((gid_t)-1:
 * keep), and return the listening-to-be fd.  The umask is tightened around
 * bind() so that the file is never, even for an instant, more open than
 * 0660; chmod() then makes the mode independent of the inherited umask.
 */
static int
bind_socket(const struct sockaddr_un *sa, gid_t gid, struct stat *ret_st,
    char *err, size_t errlen)
{
	const char *path = sa->sun_path;
	char dir[sizeof(sa->sun_path)];
	mode_t old;
	int fd, r;

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return why_fail(
		    err, errlen, -errno, "socket: %s", strerror(errno));
	old = umask(0117);
	r = bind(fd, (const struct sockaddr *)sa, sizeof(*sa));
	umask(old);
	if (r < 0) {
		r = -errno;
		if (r == -ENOENT) {
			snprintf(dir, sizeof(dir), "%s", path);
			why_fail(err, errlen, r,
			    "cannot bind %s: directory %s does not exist "
			    "(systemd's RuntimeDirectory= creates it)",
			    path, dirname(dir));
		} else if (r == -EADDRINUSE) {
			why_fail(err, errlen, r,
			    "another rotad is running on %s", path);
		} else {
			why_fail(err, errlen, r, "cannot bind %s: %s", path,
			    strerror(-r));
		}
		goto fail;
	}
	if (chmod(path, 0660) < 0) {
		r = why_fail(err, errlen, -errno, "cannot chmod %s: %s", path,
		    strerror(errno));
		goto fail_unlink;
	}
	if (gid != (gid_t)-1 && lchown(path, (uid_t)-1, gid) < 0) {
		r = why_fail(err, errlen, -errno,
		    "cannot give %s to group %u: %s", path, (unsigned)gid,
		    strerror(errno));
		goto fail_unlink;
	}
	if (lstat(path, ret_st) < 0) {
		r = why_fail(err, errlen, -errno, "cannot stat %s: %s", path,
		    strerror(errno));
		goto fail_unlink;
	}
	return fd;
fail_unlink:
	unlink(path);
fail:
	close(fd);
	return r;
}

/* Unlink the socket file if it is still the one we bound. */
static void
unlink_ours(const struct control *c)
{
	struct stat st;

	if (lstat(c->path, &st) == 0 && st.st_dev == c->dev &&
	    st.st_ino == c->ino)
		unlink(c->path);
}

/*
 * libuv writes with write(2), so a client that hangs up while we answer
 * would kill the daemon with SIGPIPE.  Ignore it unless the daemon has
 * already chosen what to do with it.
 */
static void
ignore_sigpipe(void)
{
	struct sigaction sa;

	if (sigaction(SIGPIPE, NULL, &sa) < 0 ||
	    (sa.sa_flags & SA_SIGINFO) != 0 || sa.sa_handler != SIG_DFL)
		return;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGPIPE, &sa, NULL);
}

int
control_start(uv_loop_t *loop, const struct control_config *cfg,
    struct control **ret, char *err, size_t errlen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct control *c = NULL;
	gid_t gid = (gid_t)-1;
	struct stat st;
	int fd = -1, r;

	*ret = NULL;
	if (cfg->path == NULL || cfg->path[0] == '\0' || cfg->dispatch == NULL)
		return why_fail(err, errlen, -EINVAL,
		    "control socket: no path or no handler");
	if (strlen(cfg->path) >= sizeof(sa.sun_path))
		return why_fail(err, errlen, -ENAMETOOLONG,
		    "socket path %s is longer than %zu bytes", cfg->path,
		    sizeof(sa.sun_path) - 1);
	memcpy(sa.sun_path, cfg->path, strlen(cfg->path) + 1);
	if (cfg->group != NULL) {
		r = lookup_group(cfg->group, &gid);
		if (r == -ENOENT)
			return why_fail(err, errlen, -EINVAL,
			    "socket group '%s' does not exist", cfg->group);
		if (r < 0)
			return why_fail(err, errlen, r,
			    "cannot look up group '%s': %s", cfg->group,
			    strerror(-r));
	}

	c = calloc(1, sizeof(*c));
	if (c == NULL || (c->path = strdup(cfg->path)) == NULL) {
		r = why_fail(err, errlen, -ENOMEM, "out of memory");
		goto out;
	}
	r = clear_stale(&sa, err, errlen);
	if (r < 0)
		goto out;
	fd = bind_socket(&sa, gid, &st, err, errlen);
	if (fd < 0) {
		r = fd;
		goto out;
	}
	c->loop = loop;
	c->dev = st.st_dev;
	c->ino = st.st_ino;
	c->acl = cfg->acl;
	c->dispatch = cfg->dispatch;
	c->on_close = cfg->on_close;
	c->on_denied = cfg->on_denied;
	c->daemon = cfg->daemon;
	c->hold = cfg->hold;
	c->max_conns =
	    cfg->max_conns != 0 ? cfg->max_conns : CONTROL_DEFAULT_MAX_CONNS;
	c->reserve = cfg->reserve != 0 ? cfg->reserve : CONTROL_DEFAULT_RESERVE;
	if (c->reserve >= c->max_conns)
		c->reserve = c->max_conns - 1;
	c->per_uid = cfg->per_uid != 0 ? cfg->per_uid : CONTROL_DEFAULT_PER_UID;
	c->idle_ms = cfg->idle_ms != 0 ? cfg->idle_ms : CONTROL_DEFAULT_IDLE_MS;
	c->line_ms = cfg->line_ms != 0 ? cfg->line_ms : CONTROL_DEFAULT_LINE_MS;
	c->progress_max = cfg->progress_max != 0 ? cfg->progress_max
						 : CONTROL_DEFAULT_PROGRESS_MAX;
	TAILQ_INIT(&c->ready);

	uv_pipe_init(loop, &c->server, 0);
	c->server.data = c;
	c->nhandles = 1;
	r = uv_pipe_open(&c->server, fd);
	if (r == 0) {
		fd = -1; /* the handle's now */
		r = uv_listen(
		    (uv_stream_t *)&c->server, BACKLOG, connection_cb);
	}
	if (r < 0) {
		why_fail(err, errlen, r, "cannot listen on %s: %s", c->path,
		    uv_strerror(r));
		if (fd >= 0)
			close(fd);
		unlink_ours(c);
		/* The handle exists: it goes away through its close
		 * callback, which frees C once the loop runs. */
		c->stopping = true;
		uv_close((uv_handle_t *)&c->server, server_close_cb);
		return r;
	}
	uv_idle_init(loop, &c->idle);
	c->idle.data = c;
	c->nhandles++;
	ignore_sigpipe();
	*ret = c;
	c = NULL;
	r = 0;
out:
	if (c != NULL) {
		free(c->path);
		free(c);
	}
	return r;
}

void
control_stop(struct control *c, void (*cb)(void *arg), void *arg)
{
	struct control_conn *conn, *next;

	if (c == NULL) {
		if (cb != NULL)
			cb(arg);
		return;
	}
	if (c->stopping)
		return;
	c->stopping = true;
	c->stop_cb = cb;
	c->stop_arg = arg;
	unlink_ours(c);
	uv_close((uv_handle_t *)&c->server, server_close_cb);
	uv_close((uv_handle_t *)&c->idle, server_close_cb);
	/* conn_close() only starts closing: the list stays intact until
	 * the close callbacks run. */
	for (conn = c->conns; conn != NULL; conn = next) {
		next = conn->next;
		conn_close(conn);
	}
}

void
control_set_acl(struct control *c, const struct control_acl *acl)
{
	if (c != NULL)
		c->acl = acl;
}

uid_t
control_conn_uid(const struct control_conn *conn)
{
	return conn->uid;
}

pid_t
control_conn_pid(const struct control_conn *conn)
{
	return conn->pid;
}

bool
control_conn_too_slow(const struct control_conn *conn)
{
	return conn->too_slow;
}

unsigned
control_command_right(const char *cmd)
{
	return protocol_command_right(cmd);
}
