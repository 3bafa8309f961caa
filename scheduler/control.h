/*
 * control: the daemon's side of the control socket.
 *
 * A Unix stream socket speaking one JSON object per line (see
 * docs/control-protocol.md).  This module owns the socket: binding it
 * safely (tight umask, mode 0660, group, stale-socket replacement, refusal
 * when a live daemon answers), accepting connections, reading lines of at
 * most CONTROL_LINE_MAX bytes, the peer's credentials (SO_PEERCRED), the
 * ACL check of each command's right, and writing responses.  What a
 * command does is the daemon's business: each well-formed, authorised
 * request is handed to the dispatch callback.
 */
#ifndef ROTAD_CONTROL_H
#define ROTAD_CONTROL_H

#include <stdbool.h>
#include <sys/types.h>

#include <jansson.h>
#include <uv.h>

#define CONTROL_LINE_MAX (64 * 1024)

/* Rights, as control.acl grants them. */
enum {
	CONTROL_RIGHT_READ = 1
	    << 0, /* status list show next runs run metrics */
	CONTROL_RIGHT_TRIGGER = 1 << 1, /* rotate verify */
	CONTROL_RIGHT_SECRETS = 1 << 2, /* secret_get secret_set */
	CONTROL_RIGHT_ADMIN = 1 << 3,   /* reload pause resume */
	CONTROL_RIGHT_ALL = 0xf,
};

/* One ACL entry: a uid or a gid (the peer's primary or supplementary
 * groups) and the rights it grants.  root (uid 0) and the daemon's own
 * uid have every right; the workers' uid none (struct control_acl). */
struct control_acl_entry {
	bool is_group;
	uid_t uid;
	gid_t gid;
	unsigned rights;
};

struct control_acl {
	struct control_acl_entry *v;
	size_t n;
	/* The workers' uid (worker.user), refused at connect whatever the
	 * entries say: a subverted worker must not reach the daemon. */
	bool refuse_worker;
	uid_t worker_uid;
};

struct control;
struct control_conn;

/*
 * The daemon's command handler.  CMD is the request's "cmd" (already
 * checked to be a known command the peer has the right for), REQ the whole
 * request object (borrowed).  The handler answers with control_reply() or
 * control_error() -- now, or later for commands that wait (the connection
 * stays valid until the handler is told it closed, see on_close) -- and
 * may send control_progress() lines before the final answer.
 */
typedef void control_dispatch_fn(
    void *daemon, struct control_conn *conn, const char *cmd, json_t *req);

/* Told when a connection closes, so a waiting handler forgets it. */
typedef void control_close_fn(void *daemon, struct control_conn *conn);

/* Told of every refused request (for the log and an event). */
typedef void control_denied_fn(
    void *daemon, uid_t uid, pid_t pid, const char *cmd);

struct control_config {
	const char *path;              /* socket path */
	const char *group;             /* group owning the socket, NULL: keep */
	const struct control_acl *acl; /* borrowed; swap with control_set_acl */
	control_dispatch_fn *dispatch;
	control_close_fn *on_close;
	control_denied_fn *on_denied;
	void *daemon;
	/* May be NULL.  What a line queued now must wait for (the daemon's
	 * group commit: the store's commits so far), 0 for nothing; such a
	 * line, and every later one of its connection, goes out at
	 * control_release() of that or more. */
	uint64_t (*hold)(void *daemon);

	/*
	 * Limits, each 0 for its default (CONTROL_DEFAULT_*): the daemon
	 * keeps the defaults, tests shorten them.
	 */
	unsigned max_conns; /* connections served at once */
	unsigned reserve;   /* of those, kept for root, the daemon's uid and
			       peers with the admin right */
	unsigned per_uid;   /* connections of one uid (not root, not the
			       daemon's uid) */
	unsigned idle_ms;   /* a connection that sends nothing this long,
			       while no request of it is in progress */
	unsigned line_ms;   /* a request line not complete this long after
			       its first byte */
	size_t progress_max; /* bytes of progress lines a client may leave
				unread (events --follow) */
};

/*
 * The defaults.  A peer in the socket's group must not be able to take
 * the daemon's fds, nor lock root out: whoever may connect gets at most
 * CONTROL_DEFAULT_PER_UID connections, and the last CONTROL_DEFAULT_RESERVE
 * of CONTROL_DEFAULT_MAX_CONNS are for administrators only.  Connections
 * are cheap for the daemon (a few KiB each), so the total is about fds;
 * the per-uid cap is about fairness between peers.  Idle and slow
 * connections are closed so that holding a slot costs a client work.
 */
#define CONTROL_DEFAULT_MAX_CONNS 64
#define CONTROL_DEFAULT_RESERVE 8
#define CONTROL_DEFAULT_PER_UID 8
#define CONTROL_DEFAULT_IDLE_MS (30 * 1000)
#define CONTROL_DEFAULT_LINE_MS (10 * 1000)

/*
 * A request with no final answer for a long time (`events --follow`, and
 * `rotate --wait`) sends progress lines whenever the daemon has them,
 * whether or not the client reads them.  More than this many bytes of
 * them waiting for the client (written to libuv or held for the store)
 * and no more are made: the client gets a last line, the error
 * CONTROL_E_TOO_SLOW, behind what it has not read, and the connection is
 * closed once that is written, or when the client has taken nothing for
 * idle_ms.  The daemon hears of the close (on_close) and may ask
 * control_conn_too_slow() why.  4 MiB holds the largest backlog a follow
 * sends at once (1000 events) several times over.
 */
#define CONTROL_DEFAULT_PROGRESS_MAX (4 * 1024 * 1024)
#define CONTROL_E_TOO_SLOW "too_slow"

/*
 * Bind and listen on LOOP.  -EADDRINUSE when a live daemon answers on the
 * path; a stale socket file is replaced.  ERR gets a message.
 */
int control_start(uv_loop_t *loop, const struct control_config *cfg,
    struct control **ret, char *err, size_t errlen);

/* Stop listening, close every connection, unlink the socket; CB runs once
 * every handle is closed (then free nothing: control_stop frees). */
void control_stop(struct control *c, void (*cb)(void *arg), void *arg);

/* CONN's current request wrote nothing: its lines need not wait for
 * control_config.hold (though still behind any held before them). */
void control_unheld(struct control_conn *conn);

/* Write the lines held for GEN or less (control_config.hold). */
void control_release(struct control *c, uint64_t gen);

/* A reload may change the ACL. */
void control_set_acl(struct control *c, const struct control_acl *acl);

/* The peer of a connection. */
uid_t control_conn_uid(const struct control_conn *conn);
pid_t control_conn_pid(const struct control_conn *conn);
/* Whether CONN was closed, or is closing, for leaving more than
 * progress_max bytes of progress lines unread. */
bool control_conn_too_slow(const struct control_conn *conn);

/* Final answers: {"v":1,"ok":true,"result":RESULT} (RESULT stolen; NULL
 * for {}) or {"v":1,"ok":false,"error":{"code":CODE,"message":MSG}}. */
void control_reply(struct control_conn *conn, json_t *result);
void control_error(struct control_conn *conn, const char *code, const char *fmt,
    ...) __attribute__((format(printf, 3, 4)));

/* control_error() with more members in the error object: EXTRA's (stolen,
 * NULL for none), e.g. reload's {"errors":["file:line:col: msg", ...]}. */
void control_error_extra(struct control_conn *conn, json_t *extra,
    const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* An intermediate line {"v":1,"progress":OBJ} (OBJ stolen). */
void control_progress(struct control_conn *conn, json_t *obj);

/* The right a command needs, or 0 for an unknown command. */
unsigned control_command_right(const char *cmd);

#endif
