/*
 * Unit tests of the control socket: a real libuv loop runs control.c with
 * a fake daemon, and the test talks to it the way rotactl or socat would,
 * over a blocking Unix socket.
 *
 * The loop runs in a thread of its own so that the test thread can block
 * in recv() and use cmocka's asserts; the two share only the fixture's
 * record of what the fake daemon saw (under a mutex) and a uv_async_t to
 * stop the loop.  Peers with other credentials are forked children that
 * drop to nobody (when the test runs as root) and report through their
 * exit status, never through cmocka.
 *
 * The fake daemon's commands:
 *   status      answers at once, echoing the cmd, "user" and the peer uid
 *   show        the same
 *   rotate      a progress line at once, the answer 20 ms later
 *   verify      never answers (until the connection closes)
 *   events      a follow: never answers, sends FEED_LINE-byte progress
 *               lines, feed_burst a millisecond, up to feed_max bytes
 *   reload      an "invalid" error with an "errors" array
 *   secret_get  a base64 value
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>
#include <uv.h>

#include "control.h"

#define NOBODY 65534
#define SLOW_MS 20
#define FEED_LINE 1024
#define FOLLOW_CAP (256 * 1024) /* the tests' progress_max */

struct fixture {
	char dir[64];
	char path[128];
	uv_loop_t loop;
	uv_async_t stop;
	uv_timer_t slow;
	pthread_t thread;
	bool running;
	struct control *c;
	struct control_acl acl;
	struct control_acl_entry entries[4];
	struct control_config limits; /* only its limits are used */

	/* Written by the loop thread; read under the lock. */
	pthread_mutex_t lock;
	char log[1024];
	int denied;
	uid_t denied_uid;
	char denied_cmd[32];
	int closed;
	bool stopped;
	atomic_int slow_over; /* the slow request answered or was dropped */

	/* Loop thread only. */
	struct control_conn *slow_conn;

	/* The follow (events): its feed, what it was sent, and how its
	 * connection closed (follow_over once on_close told). */
	uv_timer_t feed;
	struct control_conn *follow_conn;
	size_t feed_max;
	int feed_burst;
	atomic_size_t fed;
	atomic_int follow_over;
	atomic_bool follow_too_slow;

	/* The store's sync, faked (control_config.hold): lines wait for
	 * HOLD until control_release(RELEASE_TO), sent through REL; a
	 * status that says it wrote nothing (control_unheld) when
	 * STATUS_UNHELD. */
	bool use_hold;
	atomic_uint_fast64_t hold, release_to;
	atomic_bool status_unheld;
	uv_async_t rel;
};

/* ---- the fake daemon (loop thread) ---- */

static void __attribute__((format(printf, 2, 3)))
note(struct fixture *f, const char *fmt, ...)
{
	size_t n;
	va_list ap;

	pthread_mutex_lock(&f->lock);
	n = strlen(f->log);
	va_start(ap, fmt);
	vsnprintf(f->log + n, sizeof(f->log) - n, fmt, ap);
	va_end(ap);
	pthread_mutex_unlock(&f->lock);
}

static void
slow_done(uv_timer_t *t)
{
	struct fixture *f = t->data;

	if (f->slow_conn != NULL) {
		note(f, "rotate-done;");
		control_reply(
		    f->slow_conn, json_pack("{s:s}", "state", "committed"));
		f->slow_conn = NULL;
	}
	atomic_store(&f->slow_over, 1);
}

/* Progress lines for the follow, feed_burst a tick, while it is open
 * and feed_max is not reached. */
static void
feed_cb(uv_timer_t *t)
{
	struct fixture *f = t->data;
	char text[FEED_LINE];
	int i;

	memset(text, 'e', sizeof(text) - 1);
	text[sizeof(text) - 1] = '\0';
	for (i = 0; i < f->feed_burst; i++) {
		if (f->follow_conn == NULL ||
		    atomic_load(&f->fed) >= f->feed_max) {
			uv_timer_stop(t);
			return;
		}
		control_progress(
		    f->follow_conn, json_pack("{s:s}", "event", text));
		atomic_fetch_add(&f->fed, sizeof(text));
	}
}

static void
dispatch(void *daemon, struct control_conn *conn, const char *cmd, json_t *req)
{
	struct fixture *f = daemon;

	note(f, "%s;", cmd);
	if (strcmp(cmd, "status") == 0 && atomic_load(&f->status_unheld))
		control_unheld(conn);
	if (strcmp(cmd, "status") == 0 || strcmp(cmd, "show") == 0) {
		control_reply(conn,
		    json_pack("{s:s, s:O?, s:i}", "cmd", cmd, "user",
			json_object_get(req, "user"), "uid",
			(int)control_conn_uid(conn)));
	} else if (strcmp(cmd, "rotate") == 0) {
		control_progress(conn, json_pack("{s:s}", "state", "prepared"));
		f->slow_conn = conn;
		uv_timer_start(&f->slow, slow_done, SLOW_MS, 0);
	} else if (strcmp(cmd, "verify") == 0) {
		/* Hangs: only on_close will tell. */
	} else if (strcmp(cmd, "events") == 0) {
		f->follow_conn = conn;
		uv_timer_start(&f->feed, feed_cb, 0, 1);
	} else if (strcmp(cmd, "reload") == 0) {
		control_error_extra(conn,
		    json_pack("{s:[s,s]}", "errors", "a.yaml:1:2: bad",
			"b.yaml:3:4: worse"),
		    "invalid", "the configuration has %d errors", 2);
	} else if (strcmp(cmd, "secret_get") == 0) {
		control_reply(conn,
		    json_pack(
			"{s:i, s:s}", "version", 3, "value_b64", "c2VjcmV0"));
	} else {
		control_error(conn, "not_found", "no fake for %s", cmd);
	}
}

static uint64_t
fake_hold(void *daemon)
{
	struct fixture *f = daemon;

	return atomic_load(&f->hold);
}

static void
rel_cb(uv_async_t *a)
{
	struct fixture *f = a->data;

	control_release(f->c, atomic_load(&f->release_to));
}

static void
on_close(void *daemon, struct control_conn *conn)
{
	struct fixture *f = daemon;

	pthread_mutex_lock(&f->lock);
	f->closed++;
	pthread_mutex_unlock(&f->lock);
	if (conn == f->slow_conn) {
		f->slow_conn = NULL;
		uv_timer_stop(&f->slow);
		atomic_store(&f->slow_over, 1);
	}
	if (conn == f->follow_conn) {
		f->follow_conn = NULL;
		uv_timer_stop(&f->feed);
		atomic_store(&f->follow_too_slow, control_conn_too_slow(conn));
		atomic_store(&f->follow_over, 1);
	}
}

static void
on_denied(void *daemon, uid_t uid, pid_t pid, const char *cmd)
{
	struct fixture *f = daemon;

	(void)pid;
	pthread_mutex_lock(&f->lock);
	f->denied++;
	f->denied_uid = uid;
	snprintf(f->denied_cmd, sizeof(f->denied_cmd), "%s", cmd);
	pthread_mutex_unlock(&f->lock);
}

static void
stopped(void *arg)
{
	struct fixture *f = arg;

	pthread_mutex_lock(&f->lock);
	f->stopped = true;
	pthread_mutex_unlock(&f->lock);
}

static void
stop_cb(uv_async_t *a)
{
	struct fixture *f = a->data;

	control_stop(f->c, stopped, f);
	uv_close((uv_handle_t *)&f->stop, NULL);
	uv_close((uv_handle_t *)&f->slow, NULL);
	uv_close((uv_handle_t *)&f->feed, NULL);
	uv_close((uv_handle_t *)&f->rel, NULL);
}

static void *
run_loop(void *arg)
{
	struct fixture *f = arg;

	uv_run(&f->loop, UV_RUN_DEFAULT);
	return NULL;
}

/* ---- the test thread ---- */

static int
rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static uid_t
peer_uid(void)
{
	return getuid() == 0 ? NOBODY : getuid();
}

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/test_control.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/rotad.sock", f->dir);
	pthread_mutex_init(&f->lock, NULL);
	f->acl.v = f->entries;
	/* Root has every right anyway; anyone else needs an entry. */
	if (getuid() != 0) {
		f->entries[0] = (struct control_acl_entry){ .uid = getuid(),
			.rights = CONTROL_RIGHT_ALL };
		f->acl.n = 1;
	}
	*state = f;
	return 0;
}

/* Start the server with GROUP; returns control_start()'s result. */
static int
try_start(struct fixture *f, const char *group, char *err, size_t errlen)
{
	struct control_config cfg = {
		.path = f->path,
		.group = group,
		.acl = &f->acl,
		.dispatch = dispatch,
		.on_close = on_close,
		.on_denied = on_denied,
		.daemon = f,
		.max_conns = f->limits.max_conns,
		.reserve = f->limits.reserve,
		.per_uid = f->limits.per_uid,
		.idle_ms = f->limits.idle_ms,
		.line_ms = f->limits.line_ms,
		.progress_max = f->limits.progress_max,
		.hold = f->use_hold ? fake_hold : NULL,
	};
	int r;

	assert_int_equal(uv_loop_init(&f->loop), 0);
	r = control_start(&f->loop, &cfg, &f->c, err, errlen);
	if (r < 0) {
		/* A failed start may leave a handle closing on the loop. */
		uv_run(&f->loop, UV_RUN_DEFAULT);
		assert_int_equal(uv_loop_close(&f->loop), 0);
		return r;
	}
	uv_async_init(&f->loop, &f->stop, stop_cb);
	f->stop.data = f;
	uv_timer_init(&f->loop, &f->slow);
	f->slow.data = f;
	uv_timer_init(&f->loop, &f->feed);
	f->feed.data = f;
	uv_async_init(&f->loop, &f->rel, rel_cb);
	f->rel.data = f;
	assert_int_equal(pthread_create(&f->thread, NULL, run_loop, f), 0);
	f->running = true;
	return 0;
}

static void
start(struct fixture *f, const char *group)
{
	char err[256] = "";

	if (try_start(f, group, err, sizeof(err)) < 0)
		fail_msg("control_start: %s", err);
}

/* Stop the server and check that control_stop() closed every handle. */
static void
stop(struct fixture *f)
{
	if (!f->running)
		return;
	uv_async_send(&f->stop);
	pthread_join(f->thread, NULL);
	f->running = false;
	assert_true(f->stopped);
	assert_int_equal(uv_loop_close(&f->loop), 0);
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	stop(f);
	nftw(f->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	pthread_mutex_destroy(&f->lock);
	free(f);
	return 0;
}

/* A client socket that gives up reading after 5 s rather than hang. */
static int
try_connect(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct timeval tv = { .tv_sec = 5 };
	int fd;

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static int
client(const struct fixture *f)
{
	int fd = try_connect(f->path);

	assert_true(fd >= 0);
	return fd;
}

static bool
send_all(int fd, const char *p, size_t n)
{
	ssize_t w;

	while (n > 0) {
		w = send(fd, p, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return false;
		p += w;
		n -= (size_t)w;
	}
	return true;
}

static void
say(int fd, const char *text)
{
	assert_true(send_all(fd, text, strlen(text)));
}

/*
 * One line into BUF, byte by byte so that nothing after it is consumed.
 * Its length, or -1 at EOF, a reset or the timeout.
 */
static ssize_t
read_line(int fd, char *buf, size_t size)
{
	size_t n = 0;
	ssize_t r;

	while (n + 1 < size) {
		r = recv(fd, buf + n, 1, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		if (buf[n] == '\n') {
			buf[n] = '\0';
			return (ssize_t)n;
		}
		n++;
	}
	return -1;
}

/* The next line, parsed; fails the test at EOF. */
static json_t *
answer(int fd)
{
	char buf[4096];
	json_t *obj;

	if (read_line(fd, buf, sizeof(buf)) < 0)
		fail_msg("no answer (EOF, reset or timeout)");
	obj = json_loads(buf, JSON_REJECT_DUPLICATES, NULL);
	assert_non_null(obj);
	assert_int_equal(json_integer_value(json_object_get(obj, "v")), 1);
	return obj;
}

/* The next line is a final ok answer; returns its result (borrowed
 * from *ret_obj, which the caller decrefs). */
static json_t *
expect_ok(int fd, json_t **ret_obj)
{
	json_t *obj = answer(fd);

	if (!json_is_true(json_object_get(obj, "ok"))) {
		char *s = json_dumps(obj, JSON_COMPACT);

		fail_msg("expected ok, got %s", s);
	}
	*ret_obj = obj;
	return json_object_get(obj, "result");
}

/* The next line is an error with CODE; returns the whole line. */
static json_t *
expect_error(int fd, const char *code)
{
	json_t *obj = answer(fd), *err = json_object_get(obj, "error");

	assert_true(json_is_false(json_object_get(obj, "ok")));
	assert_non_null(json_string_value(json_object_get(err, "message")));
	assert_string_equal(
	    json_string_value(json_object_get(err, "code")), code);
	return obj;
}

/* Whether the peer has closed: EOF or a reset, not a timeout. */
static bool
at_eof(int fd)
{
	char c;
	ssize_t r;

	do
		r = recv(fd, &c, 1, 0);
	while (r < 0 && errno == EINTR);
	return r == 0 || (r < 0 && errno == ECONNRESET);
}

/*
 * Run requests as another user, in a child: nobody when we are root
 * (after dropping groups and gid too), else ourselves.  Each answer must
 * contain the matching WANTS text.  Returns the child's exit status: 0,
 * or 10 + the index of the first answer that did not match.
 */
static int
as_peer(const struct fixture *f, const char *const *reqs,
    const char *const *wants, int n)
{
	char buf[4096];
	pid_t pid;
	int status, fd, i;

	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (getuid() == 0 &&
		    (setgroups(0, NULL) < 0 || setgid(NOBODY) < 0 ||
			setuid(NOBODY) < 0))
			_exit(2);
		fd = try_connect(f->path);
		if (fd < 0)
			_exit(3);
		for (i = 0; i < n; i++) {
			if (!send_all(fd, reqs[i], strlen(reqs[i])) ||
			    read_line(fd, buf, sizeof(buf)) < 0 ||
			    strstr(buf, wants[i]) == NULL)
				_exit(10 + i);
		}
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	return WEXITSTATUS(status);
}

/* Make the socket reachable by nobody when the test runs as root: the
 * directory searchable, the socket in nobody's group. */
static const char *
peer_group(struct fixture *f)
{
	struct group *g;

	if (getuid() != 0)
		return NULL;
	g = getgrgid(NOBODY);
	if (g == NULL)
		return NULL;
	assert_int_equal(chmod(f->dir, 0711), 0);
	return g->gr_name;
}

static void
wait_for(atomic_int *flag)
{
	struct timespec ms = { .tv_nsec = 1000 * 1000 };
	int i;

	for (i = 0; i < 5000 && atomic_load(flag) == 0; i++)
		nanosleep(&ms, NULL);
	assert_int_equal(atomic_load(flag), 1);
}

/* Wait (5 s at most) until the fake daemon's log holds TEXT. */
static void
wait_log(struct fixture *f, const char *text)
{
	struct timespec ms = { .tv_nsec = 1000 * 1000 };
	bool seen = false;
	int i;

	for (i = 0; i < 5000 && !seen; i++) {
		pthread_mutex_lock(&f->lock);
		seen = strstr(f->log, text) != NULL;
		pthread_mutex_unlock(&f->lock);
		if (!seen)
			nanosleep(&ms, NULL);
	}
	assert_true(seen);
}

/* ---- tests ---- */

static void
test_reply_and_id(void **state)
{
	struct fixture *f = *state;
	json_t *obj, *res;
	int fd;

	start(f, NULL);
	fd = client(f);

	say(fd, "{\"v\":1,\"cmd\":\"status\",\"id\":\"abc\"}\n");
	res = expect_ok(fd, &obj);
	assert_string_equal(
	    json_string_value(json_object_get(obj, "id")), "abc");
	assert_string_equal(
	    json_string_value(json_object_get(res, "cmd")), "status");
	assert_int_equal(
	    json_integer_value(json_object_get(res, "uid")), getuid());
	json_decref(obj);

	say(fd, "{\"v\":1,\"cmd\":\"status\",\"id\":42}\n");
	expect_ok(fd, &obj);
	assert_int_equal(json_integer_value(json_object_get(obj, "id")), 42);
	json_decref(obj);

	/* No id, no "id"; a null id is echoed as null. */
	say(fd, "{\"v\":1,\"cmd\":\"status\"}\n");
	expect_ok(fd, &obj);
	assert_null(json_object_get(obj, "id"));
	json_decref(obj);
	say(fd, "{\"v\":1,\"cmd\":\"show\",\"user\":\"alice\",\"id\":null}\n");
	res = expect_ok(fd, &obj);
	assert_true(json_is_null(json_object_get(obj, "id")));
	assert_string_equal(
	    json_string_value(json_object_get(res, "user")), "alice");
	json_decref(obj);

	/* The answer to a secrets command is wiped only after it is sent. */
	say(fd, "{\"v\":1,\"cmd\":\"secret_get\",\"user\":\"a\",\"id\":7}\n");
	res = expect_ok(fd, &obj);
	assert_string_equal(
	    json_string_value(json_object_get(res, "value_b64")), "c2VjcmV0");
	assert_int_equal(json_integer_value(json_object_get(obj, "id")), 7);
	json_decref(obj);

	/* Errors carry the id too, and extra members. */
	say(fd, "{\"v\":1,\"cmd\":\"reload\",\"id\":\"r\"}\n");
	obj = expect_error(fd, "invalid");
	assert_string_equal(json_string_value(json_object_get(obj, "id")), "r");
	assert_int_equal(json_array_size(json_object_get(
			     json_object_get(obj, "error"), "errors")),
	    2);
	json_decref(obj);
	close(fd);
}

/* Whether a line arrives on FD within MS milliseconds (not read). */
static bool
readable_within(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	return poll(&p, 1, ms) == 1;
}

/*
 * Held lines (the daemon's group commit): an answer waits for
 * control_release() of what hold() said when it was made, a release of
 * less keeps it, and a later answer waits behind it in order; a request
 * that wrote nothing (control_unheld) is answered at once.
 */
static void
test_hold(void **state)
{
	struct fixture *f = *state;
	json_t *obj, *res;
	int fd;

	f->use_hold = true;
	atomic_store(&f->hold, 5);
	start(f, NULL);
	fd = client(f);

	say(fd, "{\"v\":1,\"cmd\":\"show\",\"user\":\"a\"}\n");
	assert_false(readable_within(fd, 300));
	atomic_store(&f->release_to, 4);
	uv_async_send(&f->rel);
	assert_false(readable_within(fd, 300));
	/* A read behind it waits too: answers keep their order. */
	atomic_store(&f->status_unheld, true);
	say(fd, "{\"v\":1,\"cmd\":\"status\"}\n");
	assert_false(readable_within(fd, 300));
	atomic_store(&f->release_to, 5);
	uv_async_send(&f->rel);
	res = expect_ok(fd, &obj);
	assert_string_equal(
	    json_string_value(json_object_get(res, "cmd")), "show");
	json_decref(obj);
	res = expect_ok(fd, &obj);
	assert_string_equal(
	    json_string_value(json_object_get(res, "cmd")), "status");
	json_decref(obj);

	/* Nothing held now: a read goes out at once, hold or not. */
	atomic_store(&f->hold, 9);
	say(fd, "{\"v\":1,\"cmd\":\"status\"}\n");
	assert_true(readable_within(fd, 2000));
	expect_ok(fd, &obj);
	json_decref(obj);
	/* A write's answer waits for 9. */
	say(fd, "{\"v\":1,\"cmd\":\"show\",\"user\":\"b\"}\n");
	assert_false(readable_within(fd, 300));
	atomic_store(&f->release_to, 9);
	uv_async_send(&f->rel);
	expect_ok(fd, &obj);
	json_decref(obj);
	close(fd);
}

static void
test_one_at_a_time(void **state)
{
	struct fixture *f = *state;
	json_t *obj;
	int fd;

	start(f, NULL);
	fd = client(f);
	/* Both requests in one write: the second must wait in the buffer
	 * until the first, answered by a timer, is done. */
	say(fd,
	    "{\"v\":1,\"cmd\":\"rotate\",\"user\":\"a\",\"id\":1}\n"
	    "{\"v\":1,\"cmd\":\"status\",\"id\":2}\n");

	obj = answer(fd);
	assert_string_equal(json_string_value(json_object_get(
				json_object_get(obj, "progress"), "state")),
	    "prepared");
	assert_int_equal(json_integer_value(json_object_get(obj, "id")), 1);
	assert_null(json_object_get(obj, "ok"));
	json_decref(obj);

	expect_ok(fd, &obj);
	assert_int_equal(json_integer_value(json_object_get(obj, "id")), 1);
	assert_string_equal(json_string_value(json_object_get(
				json_object_get(obj, "result"), "state")),
	    "committed");
	json_decref(obj);

	expect_ok(fd, &obj);
	assert_int_equal(json_integer_value(json_object_get(obj, "id")), 2);
	json_decref(obj);
	close(fd);

	stop(f);
	/* The daemon never saw status while rotate was pending. */
	assert_string_equal(f->log, "rotate;rotate-done;status;");
}

static void
test_backpressure(void **state)
{
	struct fixture *f = *state;
	enum {
		N = 3000
	}; /* about 90 KiB of requests behind a slow one */
	char *buf, *p;
	json_t *obj;
	int fd, i;

	start(f, NULL);
	fd = client(f);
	buf = malloc((size_t)N * 48 + 64);
	assert_non_null(buf);
	p = buf + sprintf(buf, "{\"v\":1,\"cmd\":\"rotate\",\"id\":-1}\n");
	for (i = 0; i < N; i++)
		p += sprintf(p, "{\"v\":1,\"cmd\":\"status\",\"id\":%d}\n", i);
	/* More than the server's buffer: while the first is pending, the
	 * rest must wait in the socket, not overflow the connection. */
	assert_true(p - buf > CONTROL_LINE_MAX + 1);
	assert_true(send_all(fd, buf, (size_t)(p - buf)));
	free(buf);

	json_decref(answer(fd)); /* progress */
	expect_ok(fd, &obj);
	assert_int_equal(json_integer_value(json_object_get(obj, "id")), -1);
	json_decref(obj);
	for (i = 0; i < N; i++) {
		expect_ok(fd, &obj);
		assert_int_equal(
		    json_integer_value(json_object_get(obj, "id")), i);
		json_decref(obj);
	}
	close(fd);
}

static void
test_bad_requests_keep_connection(void **state)
{
	struct fixture *f = *state;
	json_t *obj;
	int fd;

	start(f, NULL);
	fd = client(f);
	say(fd, "not json\n");
	json_decref(expect_error(fd, "bad_request"));
	say(fd, "[1]\n");
	json_decref(expect_error(fd, "bad_request"));
	say(fd, "\n");
	json_decref(expect_error(fd, "bad_request"));
	say(fd, "{\"cmd\":\"status\"}\n");
	json_decref(expect_error(fd, "bad_request"));
	say(fd, "{\"v\":1,\"cmd\":[]}\n");
	json_decref(expect_error(fd, "bad_request"));
	say(fd, "{\"v\":1,\"cmd\":\"status\",\"x\":\"\xff\"}\n");
	json_decref(expect_error(fd, "bad_request"));

	/* A version error still echoes a valid id. */
	say(fd, "{\"v\":2,\"cmd\":\"status\",\"id\":5}\n");
	obj = expect_error(fd, "version");
	assert_int_equal(json_integer_value(json_object_get(obj, "id")), 5);
	json_decref(obj);

	say(fd, "{\"v\":1,\"cmd\":\"shutdown\",\"id\":6}\n");
	obj = expect_error(fd, "unknown_command");
	assert_int_equal(json_integer_value(json_object_get(obj, "id")), 6);
	json_decref(obj);

	/* Still open and working. */
	say(fd, "{\"v\":1,\"cmd\":\"status\"}\n");
	expect_ok(fd, &obj);
	json_decref(obj);
	close(fd);
	stop(f);
	/* Only the good one reached the daemon. */
	assert_string_equal(f->log, "status;");
}

static void
test_too_large(void **state)
{
	struct fixture *f = *state;
	size_t max = CONTROL_LINE_MAX;
	json_t *obj;
	char *big;
	int fd;

	start(f, NULL);
	fd = client(f);
	big = malloc(max + 4096);
	assert_non_null(big);

	/* Exactly CONTROL_LINE_MAX bytes before the '\n' is allowed. */
	memset(big, ' ', max);
	memcpy(big, "{\"v\":1,\"cmd\":\"status\"}", 22);
	big[max] = '\n';
	assert_true(send_all(fd, big, max + 1));
	expect_ok(fd, &obj);
	json_decref(obj);

	/* One more is not, and the framing is lost: closed after the
	 * answer, whatever else was sent. */
	memset(big, 'x', max + 4096);
	big[max + 4095] = '\n';
	assert_true(send_all(fd, big, max + 4096));
	json_decref(expect_error(fd, "too_large"));
	assert_true(at_eof(fd));
	close(fd);
	free(big);

	/* The server is fine. */
	fd = client(f);
	say(fd, "{\"v\":1,\"cmd\":\"status\"}\n");
	expect_ok(fd, &obj);
	json_decref(obj);
	close(fd);
}

static void
test_half_close(void **state)
{
	struct fixture *f = *state;
	json_t *obj;
	int fd;

	start(f, NULL);
	fd = client(f);
	/* As `echo ... | socat` does: send, shut the write side, read.
	 * The last line may lack its '\n'. */
	say(fd,
	    "{\"v\":1,\"cmd\":\"status\",\"id\":1}\n"
	    "{\"v\":1,\"cmd\":\"status\",\"id\":2}");
	assert_int_equal(shutdown(fd, SHUT_WR), 0);
	expect_ok(fd, &obj);
	assert_int_equal(json_integer_value(json_object_get(obj, "id")), 1);
	json_decref(obj);
	expect_ok(fd, &obj);
	assert_int_equal(json_integer_value(json_object_get(obj, "id")), 2);
	json_decref(obj);
	assert_true(at_eof(fd));
	close(fd);
}

static void
test_socket_file(void **state)
{
	struct fixture *f = *state;
	struct group *g = getgrgid(getegid());
	struct stat st;

	assert_non_null(g);
	/* The umask must not matter. */
	umask(0);
	start(f, g->gr_name);
	umask(022);
	assert_int_equal(lstat(f->path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0660);
	assert_int_equal(st.st_gid, getegid());
	stop(f);
	/* Stopping removes it. */
	assert_int_equal(lstat(f->path, &st), -1);
	assert_int_equal(errno, ENOENT);
}

static void
test_bad_group(void **state)
{
	struct fixture *f = *state;
	char err[256] = "";

	assert_int_equal(
	    try_start(f, "no-such-group-rotad", err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "no-such-group-rotad"));
	assert_int_equal(access(f->path, F_OK), -1);
}

static void
test_second_daemon(void **state)
{
	struct fixture *f = *state;
	struct control_config cfg = { .path = f->path, .dispatch = dispatch };
	struct control *c2 = NULL;
	uv_loop_t loop2;
	json_t *obj;
	char err[256] = "";
	int fd;

	start(f, NULL);
	assert_int_equal(uv_loop_init(&loop2), 0);
	assert_int_equal(
	    control_start(&loop2, &cfg, &c2, err, sizeof(err)), -EADDRINUSE);
	assert_null(c2);
	assert_non_null(strstr(err, "another rotad"));
	assert_int_equal(uv_loop_close(&loop2), 0);

	/* The first still owns the path and answers. */
	fd = client(f);
	say(fd, "{\"v\":1,\"cmd\":\"status\"}\n");
	expect_ok(fd, &obj);
	json_decref(obj);
	close(fd);
}

static void
test_stale_socket(void **state)
{
	struct fixture *f = *state;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	json_t *obj;
	int fd;

	/* A daemon that died: bound, even listened, closed, not unlinked. */
	assert_true(strlen(f->path) < sizeof(sa.sun_path));
	memcpy(sa.sun_path, f->path, strlen(f->path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(fd, 1), 0);
	close(fd);
	assert_int_equal(access(f->path, F_OK), 0);

	start(f, NULL);
	fd = client(f);
	say(fd, "{\"v\":1,\"cmd\":\"status\"}\n");
	expect_ok(fd, &obj);
	json_decref(obj);
	close(fd);
}

static void
test_not_a_socket(void **state)
{
	struct fixture *f = *state;
	char err[256] = "", buf[16] = "";
	int fd;

	fd = open(f->path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "keep", 4), 4);
	close(fd);

	assert_int_equal(try_start(f, NULL, err, sizeof(err)), -EEXIST);
	assert_non_null(strstr(err, "not a socket"));
	/* Untouched. */
	fd = open(f->path, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(read(fd, buf, sizeof(buf)), 4);
	assert_string_equal(buf, "keep");
	close(fd);
}

static void
test_bad_paths(void **state)
{
	struct fixture *f = *state;
	char err[256] = "";

	snprintf(f->path, sizeof(f->path), "%s/missing/rotad.sock", f->dir);
	assert_int_equal(try_start(f, NULL, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "does not exist"));

	memset(f->path, 'a', sizeof(f->path) - 1);
	f->path[0] = '/';
	f->path[sizeof(f->path) - 1] = '\0';
	assert_int_equal(try_start(f, NULL, err, sizeof(err)), -ENAMETOOLONG);
}

static void
test_denied_empty_acl(void **state)
{
	static const char *const reqs[] = {
		"{\"v\":1,\"cmd\":\"status\"}\n",
		"{\"v\":1,\"cmd\":\"secret_set\",\"user\":\"a\","
		"\"value_b64\":\"eA==\"}\n",
	};
	static const char *const wants[] = {
		"\"code\":\"denied\"",
		"needs the secrets right",
	};
	struct fixture *f = *state;
	const char *group = peer_group(f);

	if (getuid() == 0 && group == NULL)
		skip();
	f->acl.n = 0;
	start(f, group);
	assert_int_equal(as_peer(f, reqs, wants, 2), 0);
	stop(f);
	assert_int_equal(f->denied, 2);
	assert_int_equal(f->denied_uid, peer_uid());
	assert_string_equal(f->denied_cmd, "secret_set");
	assert_string_equal(f->log, "");
}

static void
test_acl_read_only(void **state)
{
	static const char *const reqs[] = {
		"{\"v\":1,\"cmd\":\"status\"}\n",
		"{\"v\":1,\"cmd\":\"rotate\",\"user\":\"a\"}\n",
		"{\"v\":1,\"cmd\":\"status\",\"id\":3}\n",
	};
	static const char *const wants[] = {
		"\"ok\":true",
		"\"rotate\\\" needs the trigger right",
		"\"id\":3",
	};
	struct fixture *f = *state;
	const char *group = peer_group(f);

	if (getuid() == 0 && group == NULL)
		skip();
	f->entries[0] = (struct control_acl_entry){ .uid = peer_uid(),
		.rights = CONTROL_RIGHT_READ };
	f->acl.n = 1;
	start(f, group);
	assert_int_equal(as_peer(f, reqs, wants, 3), 0);
	stop(f);
	assert_int_equal(f->denied, 1);
	assert_string_equal(f->denied_cmd, "rotate");
	assert_string_equal(f->log, "status;status;");
}

static void
test_acl_group(void **state)
{
	static const char *const reqs[] = {
		"{\"v\":1,\"cmd\":\"rotate\",\"user\":\"a\"}\n",
		"",
		"{\"v\":1,\"cmd\":\"reload\"}\n",
	};
	static const char *const wants[] = {
		"\"progress\"",
		"\"committed\"",
		"needs the admin right",
	};
	struct fixture *f = *state;
	const char *group = peer_group(f);

	if (getuid() == 0 && group == NULL)
		skip();
	/* Granted by group only: the peer's gid from SO_PEERCRED. */
	f->entries[0] = (struct control_acl_entry){ .is_group = true,
		.uid = 12345,
		.gid = getuid() == 0 ? NOBODY : getegid(),
		.rights = CONTROL_RIGHT_READ | CONTROL_RIGHT_TRIGGER };
	f->acl.n = 1;
	start(f, group);
	assert_int_equal(as_peer(f, reqs, wants, 3), 0);
	stop(f);
	assert_int_equal(f->denied, 1);
	assert_string_equal(f->log, "rotate;rotate-done;");
}

static void
test_stop_with_pending(void **state)
{
	struct fixture *f = *state;
	int fd;

	start(f, NULL);
	fd = client(f);
	say(fd, "{\"v\":1,\"cmd\":\"verify\",\"user\":\"a\"}\n");
	/* A second, idle connection is closed without telling the daemon. */
	close(client(f));
	/* Stop only once the request is dispatched. */
	wait_log(f, "verify;");
	stop(f);
	assert_string_equal(f->log, "verify;");
	assert_int_equal(f->closed, 1);
	assert_true(at_eof(fd));
	close(fd);
}

static void
test_client_gone(void **state)
{
	struct fixture *f = *state;
	json_t *obj;
	int fd;

	start(f, NULL);
	/* The client leaves while its request is pending; the answer has
	 * nowhere to go, which must cost neither a crash nor a SIGPIPE. */
	fd = client(f);
	say(fd, "{\"v\":1,\"cmd\":\"rotate\",\"user\":\"a\"}\n");
	close(fd);
	wait_for(&f->slow_over);

	fd = client(f);
	say(fd, "{\"v\":1,\"cmd\":\"status\"}\n");
	expect_ok(fd, &obj);
	json_decref(obj);
	close(fd);
}

static void
test_connection_limit(void **state)
{
	struct fixture *f = *state;
	int fds[65], i;
	json_t *obj;

	start(f, NULL);
	for (i = 0; i < 65; i++)
		fds[i] = client(f);
	/* The one over the limit is told and closed. */
	json_decref(expect_error(fds[64], "busy"));
	assert_true(at_eof(fds[64]));
	/* The others work. */
	say(fds[0], "{\"v\":1,\"cmd\":\"status\"}\n");
	expect_ok(fds[0], &obj);
	json_decref(obj);
	for (i = 0; i < 65; i++)
		close(fds[i]);
}

/*
 * A peer that holds connections: a child, as nobody when we are root,
 * opens up to MAX connections, each proven served by an answer to status
 * (ok, or denied when its ACL gives it nothing),
 * and stops at the first that is refused.  It reports how many it holds
 * and whether the refusal was a busy line, then holds them until the
 * parent calls release().
 */
struct holder {
	pid_t pid;
	int release; /* the parent's end: closing it lets the child go */
	int held;
	int busy; /* 1: the last one got a busy answer; 0: MAX reached */
};

static void
hold_as_peer(const struct fixture *f, int max, struct holder *h)
{
	int up[2], down[2], fd, report[2] = { 0, 0 };
	char buf[512], c;
	pid_t pid;

	assert_int_equal(pipe(up), 0);
	assert_int_equal(pipe(down), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(up[0]);
		close(down[1]);
		if (getuid() == 0 &&
		    (setgroups(0, NULL) < 0 || setgid(NOBODY) < 0 ||
			setuid(NOBODY) < 0))
			_exit(2);
		while (report[0] < max) {
			fd = try_connect(f->path);
			if (fd < 0)
				_exit(3);
			/* A refused connection may be closed before the
			 * request is sent: its busy line is there all the
			 * same. */
			(void)send_all(
			    fd, "{\"v\":1,\"cmd\":\"status\"}\n", 23);
			if (read_line(fd, buf, sizeof(buf)) < 0)
				_exit(4);
			if (strstr(buf, "\"busy\"") != NULL) {
				report[1] = 1;
				close(fd);
				break;
			}
			/* Served, if only to be denied. */
			if (strstr(buf, "\"v\":1") == NULL)
				_exit(5);
			report[0]++;
		}
		if (write(up[1], report, sizeof(report)) != sizeof(report))
			_exit(6);
		if (read(down[0], &c, 1) < 0)
			_exit(7);
		_exit(0);
	}
	close(up[1]);
	close(down[0]);
	h->pid = pid;
	h->release = down[1];
	if (read(up[0], report, sizeof(report)) != sizeof(report))
		fail_msg("the holding child failed");
	close(up[0]);
	h->held = report[0];
	h->busy = report[1];
}

static void
release(struct holder *h)
{
	int status;

	close(h->release);
	assert_int_equal(waitpid(h->pid, &status, 0), h->pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

/* As root: N more connections served, the next (if any) refused busy. */
static int
root_connections(const struct fixture *f, int *fds, int max)
{
	char buf[512];
	int n;

	for (n = 0; n < max; n++) {
		fds[n] = client(f);
		/* As in hold_as_peer(): a refused one may be closed first. */
		(void)send_all(fds[n], "{\"v\":1,\"cmd\":\"status\"}\n", 23);
		assert_true(read_line(fds[n], buf, sizeof(buf)) > 0);
		if (strstr(buf, "\"busy\"") != NULL) {
			close(fds[n]);
			break;
		}
		assert_non_null(strstr(buf, "\"ok\":true"));
	}
	return n;
}

static void
test_per_uid_cap(void **state)
{
	struct fixture *f = *state;
	const char *group = peer_group(f);
	struct holder h;
	json_t *obj;
	int fd;

	if (getuid() != 0 || group == NULL)
		skip(); /* needs a second uid */
	f->acl.n = 0;   /* no rights at all: connecting is enough */
	start(f, group);
	/* 1000 tries: the uid gets its cap and then a busy line. */
	hold_as_peer(f, 1000, &h);
	assert_int_equal(h.held, CONTROL_DEFAULT_PER_UID);
	assert_int_equal(h.busy, 1);
	/* Root is not held by it. */
	fd = client(f);
	say(fd, "{\"v\":1,\"cmd\":\"status\"}\n");
	expect_ok(fd, &obj);
	json_decref(obj);
	close(fd);
	release(&h);
}

static void
test_reserve(void **state)
{
	struct fixture *f = *state;
	const char *group = peer_group(f);
	int fds[CONTROL_DEFAULT_MAX_CONNS + 1], n, i;
	struct holder h;

	if (getuid() != 0 || group == NULL)
		skip();
	/* No per-uid cap to speak of: one uid floods the whole socket. */
	f->limits.per_uid = 1000;
	f->acl.n = 0;
	start(f, group);
	hold_as_peer(f, 1000, &h);
	assert_int_equal(
	    h.held, CONTROL_DEFAULT_MAX_CONNS - CONTROL_DEFAULT_RESERVE);
	assert_int_equal(h.busy, 1);
	/* The reserve is root's, and then the total is reached. */
	n = root_connections(f, fds, CONTROL_DEFAULT_MAX_CONNS + 1);
	assert_int_equal(n, CONTROL_DEFAULT_RESERVE);
	for (i = 0; i < n; i++)
		close(fds[i]);
	release(&h);
}

static void
test_reserve_admin(void **state)
{
	struct fixture *f = *state;
	const char *group = peer_group(f);
	struct holder h;

	if (getuid() != 0 || group == NULL)
		skip();
	/* A peer with the admin right may use the reserve. */
	f->limits.per_uid = 1000;
	f->entries[0] = (struct control_acl_entry){ .uid = NOBODY,
		.rights = CONTROL_RIGHT_READ | CONTROL_RIGHT_ADMIN };
	f->acl.n = 1;
	start(f, group);
	hold_as_peer(f, 1000, &h);
	assert_int_equal(h.held, CONTROL_DEFAULT_MAX_CONNS);
	assert_int_equal(h.busy, 1);
	release(&h);
}

/* Whether FD is still open: nothing to read yet, no EOF. */
static bool
still_open(int fd)
{
	char c;
	ssize_t r = recv(fd, &c, 1, MSG_DONTWAIT);

	return r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

static void
test_idle_timeout(void **state)
{
	struct fixture *f = *state;
	struct timespec ms300 = { .tv_nsec = 300 * 1000 * 1000 };
	int silent, done, waiting;
	json_t *obj;

	f->limits.idle_ms = 100;
	start(f, NULL);
	silent = client(f);
	done = client(f);
	waiting = client(f);
	say(done, "{\"v\":1,\"cmd\":\"status\"}\n");
	expect_ok(done, &obj);
	json_decref(obj);
	/* A request in progress is the daemon's wait, not idleness. */
	say(waiting, "{\"v\":1,\"cmd\":\"verify\",\"user\":\"a\"}\n");
	wait_log(f, "verify;");

	assert_true(at_eof(silent));
	assert_true(at_eof(done));
	nanosleep(&ms300, NULL);
	assert_true(still_open(waiting));
	stop(f);
	assert_true(at_eof(waiting));
	/* Only the waiting one had something to tell the daemon. */
	assert_int_equal(f->closed, 1);
	close(silent);
	close(done);
	close(waiting);
}

static void
test_slow_line(void **state)
{
	struct fixture *f = *state;
	struct timespec ms20 = { .tv_nsec = 20 * 1000 * 1000 };
	const char *req = "{\"v\":1,\"cmd\":\"status\"}\n";
	bool closed = false;
	json_t *obj;
	size_t i;
	int fd;

	f->limits.line_ms = 200;
	f->limits.idle_ms = 60 * 1000;
	start(f, NULL);

	/* A whole line sent a byte at a time, but in time, is served. */
	fd = client(f);
	for (i = 0; req[i] != '\0'; i++)
		assert_true(send_all(fd, req + i, 1));
	expect_ok(fd, &obj);
	json_decref(obj);
	close(fd);

	/* A byte every 20 ms is activity, but the line never ends: cut
	 * off, long before the 5 s this gives it. */
	fd = client(f);
	say(fd, "{");
	for (i = 0; i < 250 && !closed; i++) {
		nanosleep(&ms20, NULL);
		closed = !send_all(fd, " ", 1) || !still_open(fd);
	}
	assert_true(closed);
	close(fd);
	stop(f);
	assert_string_equal(f->log, "status;");
}

static void
test_pipelined_in_order(void **state)
{
	struct fixture *f = *state;
	enum {
		N = 5000
	};
	char *buf, *p;
	json_t *obj;
	int fd, other, i;

	start(f, NULL);
	fd = client(f);
	other = client(f);
	buf = malloc((size_t)N * 64);
	assert_non_null(buf);
	p = buf;
	for (i = 0; i < N; i++)
		p += sprintf(p,
		    i % 7 == 3 ? "{\"v\":1,\"cmd\":\"nope\",\"id\":%d}\n"
			       : "{\"v\":1,\"cmd\":\"show\",\"id\":%d}\n",
		    i);
	assert_true(send_all(fd, buf, (size_t)(p - buf)));
	free(buf);
	/* Another connection is served meanwhile. */
	say(other, "{\"v\":1,\"cmd\":\"status\",\"id\":\"other\"}\n");
	expect_ok(other, &obj);
	json_decref(obj);
	close(other);
	/* Every request answered, in order, errors included. */
	for (i = 0; i < N; i++) {
		obj = answer(fd);
		assert_int_equal(
		    json_integer_value(json_object_get(obj, "id")), i);
		assert_true(json_is_boolean(json_object_get(obj, "ok")));
		assert_int_equal(
		    json_is_true(json_object_get(obj, "ok")), i % 7 != 3);
		json_decref(obj);
	}
	close(fd);
}

static void
test_number_bounds(void **state)
{
	static const struct {
		const char *req, *arg;
	} bad[] = {
		{ "{\"v\":1,\"cmd\":\"runs\",\"limit\":2147483648}",
		    "\"limit\"" },
		{ "{\"v\":1,\"cmd\":\"runs\",\"limit\":0}", "\"limit\"" },
		{ "{\"v\":1,\"cmd\":\"runs\",\"limit\":-1}", "\"limit\"" },
		{ "{\"v\":1,\"cmd\":\"runs\",\"limit\":1001}", "\"limit\"" },
		{ "{\"v\":1,\"cmd\":\"runs\",\"limit\":1.5}", "\"limit\"" },
		{ "{\"v\":1,\"cmd\":\"runs\",\"limit\":\"5\"}", "\"limit\"" },
		{ "{\"v\":1,\"cmd\":\"runs\",\"limit\":-9223372036854775808}",
		    "\"limit\"" },
		{ "{\"v\":1,\"cmd\":\"next\",\"user\":\"a\",\"count\":1001}",
		    "\"count\"" },
		{ "{\"v\":1,\"cmd\":\"next\",\"user\":\"a\",\"count\":0}",
		    "\"count\"" },
		{ "{\"v\":1,\"cmd\":\"rotate\",\"user\":\"a\",\"wait\":1}",
		    "\"wait\"" },
		{ "{\"v\":1,\"cmd\":\"pause\",\"all\":\"yes\"}", "\"all\"" },
	};
	struct fixture *f = *state;
	const char *msg;
	char line[256];
	json_t *obj;
	size_t i;
	int fd;

	start(f, NULL);
	fd = client(f);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(line, sizeof(line), "%.*s,\"id\":%zu}\n",
		    (int)strlen(bad[i].req) - 1, bad[i].req, i);
		say(fd, line);
		obj = expect_error(fd, "bad_request");
		assert_int_equal(
		    json_integer_value(json_object_get(obj, "id")), (int)i);
		msg = json_string_value(
		    json_object_get(json_object_get(obj, "error"), "message"));
		/* The message names the argument, and a number its range. */
		assert_non_null(strstr(msg, bad[i].arg));
		if (strstr(bad[i].req, "wait") == NULL &&
		    strstr(bad[i].req, "all") == NULL)
			assert_non_null(strstr(msg, "1 to 1000"));
		json_decref(obj);
	}
	/* The bounds themselves are fine: the daemon gets those. */
	say(fd, "{\"v\":1,\"cmd\":\"runs\",\"limit\":1000}\n");
	json_decref(expect_error(fd, "not_found"));
	say(fd, "{\"v\":1,\"cmd\":\"runs\",\"limit\":1}\n");
	json_decref(expect_error(fd, "not_found"));
	close(fd);
	stop(f);
	assert_string_equal(f->log, "runs;runs;");
}

/*
 * The workers' uid is refused at connect, whatever the ACL gives it and
 * before any command: told why, closed, logged once.  Our own uid stands
 * in for it, with every right in the ACL, which must not matter.
 */
static void
test_worker_uid_refused(void **state)
{
	struct fixture *f = *state;
	json_t *obj, *err;
	int fd;

	f->entries[0] = (struct control_acl_entry){ .uid = getuid(),
		.rights = CONTROL_RIGHT_ALL };
	f->acl.n = 1;
	f->acl.refuse_worker = true;
	f->acl.worker_uid = getuid();
	start(f, NULL);
	fd = client(f);
	say(fd, "{\"v\":1,\"cmd\":\"secret_get\",\"user\":\"a\"}\n");
	obj = expect_error(fd, "denied");
	err = json_object_get(obj, "error");
	assert_non_null(strstr(
	    json_string_value(json_object_get(err, "message")), "worker"));
	json_decref(obj);
	assert_true(at_eof(fd));
	close(fd);
	stop(f);
	assert_int_equal(f->denied, 1);
	assert_int_equal(f->denied_uid, getuid());
	assert_non_null(strstr(f->denied_cmd, "the connection"));
	/* No command reached the daemon. */
	assert_string_equal(f->log, "");
}

/*
 * Start the server with progress_max FOLLOW_CAP, IDLE_MS and a feed of
 * BURST lines a millisecond, and follow as a client that keeps little in
 * the kernel (the daemon's queue grows); the client's fd.  16 times the
 * cap is offered, so that without the cap a test ends, failed, with its
 * memory bounded all the same.
 */
static int
follow(struct fixture *f, unsigned idle_ms, int burst)
{
	int fd, small = 4096;

	f->limits.progress_max = FOLLOW_CAP;
	f->limits.idle_ms = idle_ms;
	f->feed_max = 16 * FOLLOW_CAP;
	f->feed_burst = burst;
	start(f, NULL);
	fd = client(f);
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
	say(fd, "{\"v\":1,\"cmd\":\"events\",\"follow\":true,\"id\":7}\n");
	return fd;
}

/* A follower whose client reads nothing while the daemon sends and sends
 * (events --follow): it gets no more than progress_max unread, and is
 * closed idle_ms later; the daemon is told, and told why. */
static void
test_follow_not_reading(void **state)
{
	struct fixture *f = *state;
	int fd = follow(f, 200, 64);

	wait_for(&f->follow_over);
	assert_true(atomic_load(&f->follow_too_slow));
	close(fd);
}

static void
test_follow_reads_late(void **state)
{
	struct fixture *f = *state;
	struct timespec ms300 = { .tv_nsec = 300 * 1000 * 1000 };
	char buf[FEED_LINE + 256];
	json_t *obj = NULL;
	size_t lines = 0;
	ssize_t r;
	int fd = follow(f, 5000, 64);

	nanosleep(&ms300, NULL);
	/* It reads at last: every line it was sent, then why it gets no
	 * more, then EOF. */
	while ((r = read_line(fd, buf, sizeof(buf))) >= 0) {
		json_decref(obj);
		obj = json_loads(buf, 0, NULL);
		assert_non_null(obj);
		lines++;
	}
	assert_non_null(obj);
	assert_true(json_is_false(json_object_get(obj, "ok")));
	assert_int_equal(json_integer_value(json_object_get(obj, "id")), 7);
	assert_string_equal(json_string_value(json_object_get(
				json_object_get(obj, "error"), "code")),
	    CONTROL_E_TOO_SLOW);
	json_decref(obj);
	assert_true(lines > FOLLOW_CAP / (FEED_LINE + 64));
	wait_for(&f->follow_over);
	assert_true(atomic_load(&f->follow_too_slow));
	close(fd);
}

/* Read WANT lines off FD in large reads, failing at an "ok" (a final
 * answer) or EOF; how many came. */
static size_t
progress_lines(int fd, size_t want)
{
	char buf[65536];
	size_t got = 0, i;
	ssize_t r;

	while (got < want) {
		r = recv(fd, buf, sizeof(buf), 0);
		assert_true(r > 0);
		assert_null(memmem(buf, (size_t)r, "\"ok\"", 4));
		for (i = 0; i < (size_t)r; i++)
			got += buf[i] == '\n';
	}
	return got;
}

/* A client that keeps up (8 MB/s offered) takes many times the cap,
 * every line a progress line, and stays. */
static void
test_follow_reading(void **state)
{
	struct fixture *f = *state;
	int fd = follow(f, 100, 8);

	assert_int_equal(progress_lines(fd, 16 * FOLLOW_CAP / FEED_LINE),
	    16 * FOLLOW_CAP / FEED_LINE);
	assert_true(still_open(fd));
	assert_int_equal(atomic_load(&f->follow_over), 0);
	stop(f);
	assert_false(atomic_load(&f->follow_too_slow));
	close(fd);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_hold, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_reply_and_id, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_one_at_a_time, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_backpressure, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_bad_requests_keep_connection, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_too_large, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_half_close, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_socket_file, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_bad_group, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_second_daemon, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_stale_socket, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_not_a_socket, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_bad_paths, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_denied_empty_acl, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_acl_read_only, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_acl_group, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_stop_with_pending, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_client_gone, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_connection_limit, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_per_uid_cap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reserve, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_reserve_admin, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_idle_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_slow_line, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_pipelined_in_order, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_number_bounds, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_worker_uid_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_follow_not_reading, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_follow_reads_late, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_follow_reading, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
