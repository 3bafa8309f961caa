/*
 * control.c: the daemon's end of the control socket, on libuv.
 *
 * A connection's life, one request at a time:
 *
 *   +-> reading --- a whole line ---> busy: reading stopped; decode, check
 *   |                                 the right, dispatch; progress lines
 *   |                                 may go out, then one final answer
 *   |                                        |
 *   +---- the final answer is written <------+
 *         (take the next line already buffered, or read again)
 *
 * Not reading while busy is what makes requests one at a time, and it is
 * the backpressure: a client that pipelines waits in the kernel, not in
 * our memory.
 *
 * A line longer than CONTROL_LINE_MAX loses the framing, so it is answered
 * with too_large and the connection closed once that answer is written.
 * At EOF the lines already received are still answered, then the
 * connection closes; a client may half-close after sending.
 *
 * The daemon may answer from inside its dispatch callback or later.  It is
 * told through on_close only when a connection closes with its request
 * unanswered, and never from inside a control_*() call it made itself
 * (except control_stop()), so it can call control_progress() while it
 * walks its own list of waiters: a failure to send there only marks the
 * connection broken, and the final answer then closes it.
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
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "control.h"
#include "protocol.h"

_Static_assert(CONTROL_LINE_MAX == PROTOCOL_LINE_MAX, "line limits differ");
_Static_assert((int)CONTROL_RIGHT_READ == (int)PROTOCOL_RIGHT_READ &&
	(int)CONTROL_RIGHT_TRIGGER == (int)PROTOCOL_RIGHT_TRIGGER &&
	(int)CONTROL_RIGHT_SECRETS == (int)PROTOCOL_RIGHT_SECRETS &&
	(int)CONTROL_RIGHT_ADMIN == (int)PROTOCOL_RIGHT_ADMIN &&
	(int)CONTROL_RIGHT_ALL == (int)PROTOCOL_RIGHT_ALL,
    "rights differ");

/* Connections beyond this get a busy answer and are closed: a peer in the
 * socket's group must not be able to take all of the daemon's fds. */
#define CONN_MAX 64
#define BUF_MIN 4096
#define BACKLOG 64

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
	struct control_conn *conns;
	size_t nconns;
	size_t nhandles; /* open handles: the server and every connection */
	uv_pipe_t sink;  /* accepts and drops what we have no memory for */
	bool sink_busy;
	bool accept_waiting; /* libuv holds an accepted fd for us */
	bool stopping;
	void (*stop_cb)(void *arg);
	void *stop_arg;
};

struct control_conn {
	struct control *c;
	struct control_conn *prev, *next;
	uv_pipe_t pipe;
	uid_t uid;
	gid_t gid;
	pid_t pid;
	gid_t *groups; /* the uid's groups, from the user database */
	int ngroups;
	char *buf; /* received bytes not yet consumed */
	size_t len, cap;
	json_t *id;     /* the current request's "id" */
	unsigned right; /* the right it needed, 0 if it never got that far */
	bool reading;
	bool eof;
	bool busy;     /* a request is taken, until its answer is written */
	bool answered; /* its final answer is queued */
	bool broken;   /* a send failed inside a daemon call */
	bool close_after_write;
	bool closing;
};

struct write_req {
	uv_write_t req;
	struct control_conn *conn;
	char *buf;
	size_t len;
	bool final;
};

static void process_lines(struct control_conn *conn);

static int __attribute__((format(printf, 4, 5)))
errf(char *err, size_t errlen, int r, const char *fmt, ...)
{
	va_list ap;

	if (err != NULL && errlen > 0) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return r;
}

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

static void
conn_close_cb(uv_handle_t *h)
{
	struct control_conn *conn = h->data;
	struct control *c = conn->c;

	if (conn->prev != NULL)
		conn->prev->next = conn->next;
	else
		c->conns = conn->next;
	if (conn->next != NULL)
		conn->next->prev = conn->prev;
	c->nconns--;
	protocol_free_wiped(conn->buf, conn->cap);
	free(conn->groups);
	json_decref(conn->id);
	free(conn);
	handle_closed(c);
}

/*
 * Close CONN; it is freed in the close callback.  A daemon still holding
 * the connection for an unanswered request is told now, so that it never
 * answers a freed one.  Writes in flight are cancelled by libuv, and their
 * callbacks run before the close callback.
 */
static void
conn_close(struct control_conn *conn)
{
	struct control *c = conn->c;

	if (conn->closing)
		return;
	conn->closing = true;
	if (conn->busy && !conn->answered) {
		conn->answered = true;
		if (c->on_close != NULL)
			c->on_close(c->daemon, conn);
	}
	uv_close((uv_handle_t *)&conn->pipe, conn_close_cb);
}

/* ---- writing ---- */

static void
write_cb(uv_write_t *req, int status)
{
	struct write_req *w = (struct write_req *)req;
	struct control_conn *conn = w->conn;
	bool final = w->final;

	protocol_free_wiped(w->buf, w->len);
	free(w);
	if (status < 0) {
		conn_close(conn);
		return;
	}
	if (!final || conn->closing)
		return;
	conn->busy = false;
	json_decref(conn->id);
	conn->id = NULL;
	if (conn->close_after_write)
		conn_close(conn);
	else
		process_lines(conn);
}

/* Queue LINE (taken over) on CONN.  0 or a negative errno. */
static int
send_line(struct control_conn *conn, char *line, size_t len, bool final)
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
	w->final = final;
	b = uv_buf_init(line, (unsigned)len);
	r = uv_write(&w->req, (uv_stream_t *)&conn->pipe, &b, 1, write_cb);
	if (r < 0) {
		protocol_free_wiped(line, len);
		free(w);
	}
	return r;
}

/* Whether a final answer may go out now; closes a broken connection. */
static bool
may_answer(struct control_conn *conn)
{
	if (!conn->busy || conn->answered || conn->closing)
		return false;
	conn->answered = true;
	if (conn->broken) {
		conn_close(conn);
		return false;
	}
	return true;
}

/* Send the final answer encoded as R, LINE, LEN; on failure try a short
 * internal error, and failing that close. */
static void
send_final(struct control_conn *conn, int r, char *line, size_t len)
{
	if (r < 0)
		r = protocol_encode_error(conn->id, PROTOCOL_E_INTERNAL,
		    "cannot encode the answer", NULL, &line, &len);
	if (r == 0)
		r = send_line(conn, line, len, true);
	if (r < 0)
		conn_close(conn);
}

void
control_reply(struct control_conn *conn, json_t *result)
{
	char *line = NULL;
	size_t len = 0;
	int r;

	if (conn == NULL || !may_answer(conn)) {
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

	if (conn == NULL || !may_answer(conn)) {
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

void
control_progress(struct control_conn *conn, json_t *obj)
{
	char *line;
	size_t len;

	if (conn == NULL || !conn->busy || conn->answered || conn->closing ||
	    conn->broken) {
		json_decref(obj);
		return;
	}
	if (protocol_encode_progress(conn->id, obj, &line, &len) < 0 ||
	    send_line(conn, line, len, false) < 0)
		conn->broken = true;
}

/* ---- reading ---- */

static void
alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *ret)
{
	struct control_conn *conn = h->data;
	size_t cap;
	char *buf;

	(void)suggested;
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
		conn->len += (size_t)nread;
		process_lines(conn);
	} else if (nread == UV_EOF) {
		/* libuv has stopped reading. */
		conn->reading = false;
		conn->eof = true;
		process_lines(conn);
	} else if (nread < 0) {
		conn->reading = false;
		conn_close(conn);
	}
}

static void
start_reading(struct control_conn *conn)
{
	if (conn->reading || conn->eof || conn->closing)
		return;
	if (uv_read_start((uv_stream_t *)&conn->pipe, alloc_cb, read_cb) < 0)
		conn_close(conn);
	else
		conn->reading = true;
}

static void
stop_reading(struct control_conn *conn)
{
	if (!conn->reading)
		return;
	uv_read_stop((uv_stream_t *)&conn->pipe);
	conn->reading = false;
}

/* Drop the first N bytes of the buffer, wiping what they leave behind. */
static void
consume(struct control_conn *conn, size_t n)
{
	memmove(conn->buf, conn->buf + n, conn->len - n);
	OPENSSL_cleanse(conn->buf + conn->len - n, n);
	conn->len -= n;
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

/* The peer's rights under the current ACL: a reload may change them
 * between two requests on one connection. */
static unsigned
conn_rights(const struct control_conn *conn)
{
	const struct control_acl *acl = conn->c->acl;
	const struct control_acl_entry *e;
	unsigned rights = 0;
	size_t i;

	/* root, and the daemon's own uid, which can read the store and its
	 * key anyway: refusing it would protect nothing. */
	if (conn->uid == 0 || conn->uid == geteuid())
		return CONTROL_RIGHT_ALL;
	for (i = 0; acl != NULL && i < acl->n; i++) {
		e = &acl->v[i];
		if (e->is_group ? in_groups(conn, e->gid) : e->uid == conn->uid)
			rights |= e->rights;
	}
	return rights;
}

/*
 * Take the request in the first LEN bytes of the buffer (CONSUMED with its
 * '\n'): decode, check, dispatch.  Every path ends in an answer, now or
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
	conn->answered = false;
	conn->right = 0;
	stop_reading(conn);
	r = protocol_decode(conn->buf, len, &req, &code, msg, sizeof(msg));
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
	conn->answered = false;
	conn->close_after_write = true;
	stop_reading(conn);
	consume(conn, conn->len);
	control_error(conn, PROTOCOL_E_TOO_LARGE,
	    "request line longer than %d bytes; closing the connection",
	    CONTROL_LINE_MAX);
}

/* Take the next request if there is one and none is pending; else read. */
static void
process_lines(struct control_conn *conn)
{
	char *nl;

	if (conn->closing || conn->busy)
		return;
	nl = conn->len > 0 ? memchr(conn->buf, '\n', conn->len) : NULL;
	if (nl != NULL)
		handle_line(conn, (size_t)(nl - conn->buf),
		    (size_t)(nl - conn->buf) + 1);
	else if (conn->len > CONTROL_LINE_MAX)
		too_large(conn);
	else if (conn->eof && conn->len > 0)
		/* A last line without its '\n'. */
		handle_line(conn, conn->len, conn->len);
	else if (conn->eof)
		conn_close(conn);
	else
		start_reading(conn);
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
static void
refuse_worker(struct control_conn *conn)
{
	struct control *c = conn->c;

	conn->busy = true;
	conn->close_after_write = true;
	if (c->on_denied != NULL)
		c->on_denied(c->daemon, conn->uid, conn->pid,
		    "the connection: it is the workers' uid (worker.user)");
	control_error(conn, PROTOCOL_E_DENIED,
	    "uid %u is the workers' (worker.user): no command is taken "
	    "from it",
	    (unsigned)conn->uid);
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
accept_one(struct control *c)
{
	struct control_conn *conn;
	struct ucred cred;
	socklen_t credlen = sizeof(cred);
	uv_os_fd_t fd;

	conn = calloc(1, sizeof(*conn));
	if (conn == NULL) {
		refuse(c);
		return;
	}
	conn->c = c;
	uv_pipe_init(c->loop, &conn->pipe, 0);
	conn->pipe.data = conn;
	conn->next = c->conns;
	if (c->conns != NULL)
		c->conns->prev = conn;
	c->conns = conn;
	c->nconns++;
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
	resolve_groups(conn);
	if (c->nconns > CONN_MAX) {
		conn->busy = true;
		conn->close_after_write = true;
		control_error(conn, PROTOCOL_E_BUSY,
		    "too many connections (%d)", CONN_MAX);
		return;
	}
	process_lines(conn);
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
		return errf(err, errlen, -errno, "cannot stat %s: %s", path,
		    strerror(errno));
	}
	if (!S_ISSOCK(st.st_mode))
		return errf(err, errlen, -EEXIST,
		    "%s exists and is not a socket; refusing to replace it",
		    path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return errf(err, errlen, -errno, "socket: %s", strerror(errno));
	r = connect(fd, (const struct sockaddr *)sa, sizeof(*sa));
	e = errno;
	close(fd);
	/* EAGAIN: a listener whose backlog is full is alive all the same. */
	if (r == 0 || e == EAGAIN || e == EINPROGRESS)
		return errf(err, errlen, -EADDRINUSE,
		    "another rotad is running on %s", path);
	if (e != ECONNREFUSED)
		return errf(
		    err, errlen, -e, "cannot check %s: %s", path, strerror(e));
	if (unlink(path) < 0 && errno != ENOENT)
		return errf(err, errlen, -errno,
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
		return errf(err, errlen, -errno, "socket: %s", strerror(errno));
	old = umask(0117);
	r = bind(fd, (const struct sockaddr *)sa, sizeof(*sa));
	umask(old);
	if (r < 0) {
		r = -errno;
		if (r == -ENOENT) {
			snprintf(dir, sizeof(dir), "%s", path);
			errf(err, errlen, r,
			    "cannot bind %s: directory %s does not exist "
			    "(systemd's RuntimeDirectory= creates it)",
			    path, dirname(dir));
		} else if (r == -EADDRINUSE) {
			errf(err, errlen, r, "another rotad is running on %s",
			    path);
		} else {
			errf(err, errlen, r, "cannot bind %s: %s", path,
			    strerror(-r));
		}
		goto fail;
	}
	if (chmod(path, 0660) < 0) {
		r = errf(err, errlen, -errno, "cannot chmod %s: %s", path,
		    strerror(errno));
		goto fail_unlink;
	}
	if (gid != (gid_t)-1 && lchown(path, (uid_t)-1, gid) < 0) {
		r = errf(err, errlen, -errno, "cannot give %s to group %u: %s",
		    path, (unsigned)gid, strerror(errno));
		goto fail_unlink;
	}
	if (lstat(path, ret_st) < 0) {
		r = errf(err, errlen, -errno, "cannot stat %s: %s", path,
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
		return errf(err, errlen, -EINVAL,
		    "control socket: no path or no handler");
	if (strlen(cfg->path) >= sizeof(sa.sun_path))
		return errf(err, errlen, -ENAMETOOLONG,
		    "socket path %s is longer than %zu bytes", cfg->path,
		    sizeof(sa.sun_path) - 1);
	memcpy(sa.sun_path, cfg->path, strlen(cfg->path) + 1);
	if (cfg->group != NULL) {
		r = lookup_group(cfg->group, &gid);
		if (r == -ENOENT)
			return errf(err, errlen, -EINVAL,
			    "socket group '%s' does not exist", cfg->group);
		if (r < 0)
			return errf(err, errlen, r,
			    "cannot look up group '%s': %s", cfg->group,
			    strerror(-r));
	}

	c = calloc(1, sizeof(*c));
	if (c == NULL || (c->path = strdup(cfg->path)) == NULL) {
		r = errf(err, errlen, -ENOMEM, "out of memory");
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
		errf(err, errlen, r, "cannot listen on %s: %s", c->path,
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

unsigned
control_command_right(const char *cmd)
{
	return protocol_command_right(cmd);
}
