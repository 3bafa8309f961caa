/*
 * spawn.c: run one rotad-worker step from the loop.
 *
 * Four handles per step: the process, the pipe to its fd 0, the pipe from
 * its fd 1, and the deadline timer.  The step is over when the process has
 * exited AND its output has reached EOF (either can come first); then
 * every handle is closed and, when the last close callback has run, the
 * callback is called and the struct freed.  Keeping that one exit path
 * is what lets spawn_cancel() and the deadline share it.
 *
 * The process is one of two kinds, and only start, kill and exit differ:
 * a child of the worker template (template.h: the daemon made the pipes
 * and handed their worker ends over; it kills through the child's pidfd
 * and learns of its exit from the template), with no process handle, so
 * three handles; or, when the template cannot serve, a uv_spawn()ed
 * child of the daemon (a fork and exec of it).
 */
#include <sys/queue.h>

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "secret.h"
#include "spawn.h"
#include "template.h"

#define LEN_PREFIX 4

/* The daemon's one template (spawn_set_template()): one loop, one
 * template, as one daemon. */
static struct template *tmpl;
/* Workers started each way, for the metrics. */
static uint64_t started_forked, started_exec;

struct spawn {
	uv_loop_t *loop;
	uv_process_t proc;            /* a fork and exec of ours */
	struct template_child *child; /* or the template's, until it exits */
	bool forked;                  /* which of the two */
	int pid;
	uv_pipe_t in, out;
	uv_timer_t timer;
	uv_write_t wreq;
	struct secret *request;
	spawn_cb *cb;
	void *arg;
	size_t n;         /* requests: 1, or a batch's */
	void **args;      /* a batch's callback arguments */
	enum spawn_fault fault;
	uint64_t grace_ms;

	uint8_t *buf; /* what the worker wrote */
	size_t len, cap;

	int status; /* the outcome once known, else 1 */
	int exit_code;
	bool exited, eof, killed_late;
	int open; /* handles not yet closed */

	uint64_t hold; /* the request waits for spawn_release(hold) */
	bool held;     /* on the held list */
	TAILQ_ENTRY(spawn) hlink;
};

/* Workers whose request waits for the store (spawn_args.hold), in the
 * order they started, and the last generation released. */
static TAILQ_HEAD(, spawn) held = TAILQ_HEAD_INITIALIZER(held);
static uint64_t released;

static void
wipe_request(struct spawn *sp)
{
	secret_free(sp->request);
	sp->request = NULL;
}

static uint32_t
be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
}

/*
 * A batch's answers: each response that arrived whole and decodes is its
 * request's answer, whatever became of the worker afterwards (it wrote
 * it once that request was done); the rest get the step's status, or
 * -EBADMSG.  Only a late kill (the fault hook) loses all of them, as it
 * stands for answers lost on the way.
 */
static void
batch_done(struct spawn *sp)
{
	struct wire_response res;
	size_t off = 0, i;
	int status, rest = sp->status == 1 ? -EBADMSG : sp->status;
	bool whole = !sp->killed_late;

	for (i = 0; i < sp->n; i++) {
		uint32_t len;

		memset(&res, 0, sizeof(res));
		status = rest;
		if (whole && sp->len - off >= LEN_PREFIX &&
		    (len = be32(sp->buf + off)) <= sp->len - off - LEN_PREFIX &&
		    wire_response_decode(sp->buf + off + LEN_PREFIX, len,
			&res) == 0) {
			status = 0;
			off += LEN_PREFIX + len;
		} else
			whole = false;
		sp->cb(status, status == 0 ? &res : NULL, sp->exit_code,
		    sp->args[i]);
		wire_response_clear(&res);
	}
}

static void
closed(uv_handle_t *h)
{
	struct spawn *sp = h->data;
	struct wire_response res;
	int status;

	if (--sp->open > 0)
		return;
	if (sp->held) {
		TAILQ_REMOVE(&held, sp, hlink);
		sp->held = false;
	}
	if (sp->cb == NULL) { /* uv_spawn() failed: nobody to tell */
		wipe_request(sp);
		free(sp->args);
		free(sp);
		return;
	}
	if (sp->n > 1) {
		batch_done(sp);
		goto out;
	}
	memset(&res, 0, sizeof(res));
	status = sp->status;
	if (status == 1) {
		/* Exited with all of its output read: decode it. */
		status = -EBADMSG;
		if (sp->exit_code == 0 && sp->len >= LEN_PREFIX) {
			uint32_t n = be32(sp->buf);

			if (n == sp->len - LEN_PREFIX &&
			    wire_response_decode(
				sp->buf + LEN_PREFIX, n, &res) == 0)
				status = 0;
		}
	}
	sp->cb(status, status == 0 ? &res : NULL, sp->exit_code, sp->arg);
	wire_response_clear(&res);
out:
	wipe_request(sp);
	free(sp->args);
	free(sp->buf);
	free(sp);
}

static void
close_one(struct spawn *sp, uv_handle_t *h)
{
	if (!uv_is_closing(h))
		uv_close(h, closed);
}

/* Done when the process has exited and its output is all in. */
static void
maybe_done(struct spawn *sp)
{
	if (!sp->exited || !sp->eof)
		return;
	close_one(sp, (uv_handle_t *)&sp->timer);
	close_one(sp, (uv_handle_t *)&sp->in);
	close_one(sp, (uv_handle_t *)&sp->out);
	if (!sp->forked)
		close_one(sp, (uv_handle_t *)&sp->proc);
}

/* SIG to the worker, until it has exited (then its pid may be
 * another's: a template child's pidfd is gone with it). */
static void
kill_worker(struct spawn *sp, int sig)
{
	if (sp->exited)
		return;
	if (sp->forked)
		(void)template_child_kill(sp->child, sig);
	else
		(void)uv_process_kill(&sp->proc, sig);
}

static void
worker_exited(struct spawn *sp, int exit_code)
{
	sp->exit_code = exit_code;
	sp->exited = true;
	uv_timer_stop(&sp->timer);
	/* A late kill is an answer lost on its way, whatever was read. */
	if (sp->killed_late && sp->status == 1)
		sp->status = -EPIPE;
	maybe_done(sp);
}

static void
proc_exited(uv_process_t *p, int64_t exit_status, int term_signal)
{
	worker_exited(
	    p->data, term_signal != 0 ? 128 + term_signal : (int)exit_status);
}

static void
child_exited(int exit_code, void *arg)
{
	struct spawn *sp = arg;

	sp->child = NULL;
	worker_exited(sp, exit_code);
}

static void
alloc_cb(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
	struct spawn *sp = h->data;
	size_t want = sp->len + 64 * 1024;

	(void)hint;
	if (want > LEN_PREFIX + WIRE_MAX)
		want = LEN_PREFIX + WIRE_MAX;
	if (want > sp->cap) {
		uint8_t *n = realloc(sp->buf, want);

		if (n == NULL) {
			*b =
			    uv_buf_init(NULL, 0); /* libuv reports UV_ENOBUFS */
			return;
		}
		sp->buf = n;
		sp->cap = want;
	}
	*b = uv_buf_init(
	    (char *)sp->buf + sp->len, (unsigned)(sp->cap - sp->len));
}

static void
on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
	struct spawn *sp = s->data;

	(void)b;
	if (n > 0) {
		sp->len += (size_t)n;
		if (sp->len >= LEN_PREFIX + WIRE_MAX && sp->status == 1) {
			/* More than any answer may be: stop listening. */
			sp->status = -EBADMSG;
			kill_worker(sp, SIGKILL);
		}
		if (sp->fault == SPAWN_FAULT_KILL_LATE && !sp->killed_late &&
		    sp->len >= LEN_PREFIX) {
			/* The worker has done its work and is answering:
			 * lose the answer, as a crash at this point would. */
			sp->killed_late = true;
			kill_worker(sp, SIGKILL);
		}
		return;
	}
	if (n == 0)
		return;
	uv_read_stop(s);
	sp->eof = true;
	if (n != UV_EOF && sp->status == 1)
		sp->status = -EIO;
	maybe_done(sp);
}

static void
on_written(uv_write_t *w, int status)
{
	struct spawn *sp = w->data;

	wipe_request(sp);
	/* Closing our end is the worker's EOF; an error here (EPIPE: it
	 * died early) shows again as its exit. */
	(void)status;
	close_one(sp, (uv_handle_t *)&sp->in);
}

static void
grace_over(uv_timer_t *t)
{
	struct spawn *sp = t->data;

	kill_worker(sp, SIGKILL);
}

static void
deadline(uv_timer_t *t)
{
	struct spawn *sp = t->data;

	if (sp->status == 1)
		sp->status = -ETIMEDOUT;
	kill_worker(sp, SIGTERM);
	uv_timer_start(&sp->timer, grace_over, sp->grace_ms, 0);
}

/* The request(s) to the worker's fd 0; closing our end after is its
 * EOF.  A worker already ended (its pipe closing) gets nothing. */
static void
send_request(struct spawn *sp)
{
	uv_buf_t b;

	if (!uv_is_closing((uv_handle_t *)&sp->in)) {
		b = uv_buf_init((char *)secret_data(sp->request),
		    (unsigned)secret_len(sp->request));
		if (uv_write(&sp->wreq, (uv_stream_t *)&sp->in, &b, 1,
			on_written) == 0)
			return;
	}
	wipe_request(sp);
	close_one(sp, (uv_handle_t *)&sp->in);
}

void
spawn_release(uint64_t gen)
{
	struct spawn *sp, *tmp;

	if (gen > released)
		released = gen;
	/* glibc's sys/queue.h has no TAILQ_FOREACH_SAFE. */
	for (sp = TAILQ_FIRST(&held); sp != NULL; sp = tmp) {
		tmp = TAILQ_NEXT(sp, hlink);
		if (sp->hold > released)
			continue;
		TAILQ_REMOVE(&held, sp, hlink);
		sp->held = false;
		send_request(sp);
	}
}

size_t
spawn_held(void)
{
	struct spawn *sp;
	size_t n = 0;

	TAILQ_FOREACH(sp, &held, hlink)
		n++;
	return n;
}

void
spawn_set_template(struct template *t)
{
	tmpl = t;
}

/*
 * The worker as a child of the template: two pipes made here, their
 * worker ends handed over with fd 2 and closed, ours opened in the pipe
 * handles.  0, or -errno when the template cannot (then nothing is left
 * open, and the handles are as they were).
 */
static int
start_forked(struct spawn *sp, const struct spawn_args *a)
{
	uv_file in[2] = { -1, -1 }, out[2] = { -1, -1 };
	int fds[3], rc;

	/* The daemon's ends non-blocking, for the loop; the worker's as an
	 * exec'd worker gets them. */
	if ((rc = uv_pipe(in, 0, UV_NONBLOCK_PIPE)) < 0)
		return rc;
	if ((rc = uv_pipe(out, UV_NONBLOCK_PIPE, 0)) < 0)
		goto out;
	fds[0] = in[0];
	fds[1] = out[1];
	fds[2] = 2;
	rc = template_fork(tmpl, a->argv, fds, child_exited, sp, &sp->child);
	if (rc < 0)
		goto out;
	close(in[0]);
	close(out[1]);
	sp->forked = true;
	sp->pid = template_child_pid(sp->child);
	/* Cannot fail with fresh pipes; should it, the worker is ended and
	 * the step has no answer, as with any worker that died. */
	if (uv_pipe_open(&sp->in, in[1]) < 0) {
		close(in[1]);
		sp->status = -EIO;
		kill_worker(sp, SIGKILL);
	}
	if (uv_pipe_open(&sp->out, out[0]) < 0) {
		close(out[0]);
		sp->status = -EIO;
		sp->eof = true;
		kill_worker(sp, SIGKILL);
	}
	return 0;
out:
	for (int i = 0; i < 2; i++) {
		if (in[i] >= 0)
			close(in[i]);
		if (out[i] >= 0)
			close(out[i]);
	}
	return rc;
}

int
spawn_start(uv_loop_t *loop, const struct spawn_args *a, spawn_cb *cb,
    void *arg, struct spawn **ret)
{
	static char *empty_env[] = { NULL };
	uv_process_options_t o;
	uv_stdio_container_t stdio[3];
	struct spawn *sp;
	int rc;

	sp = calloc(1, sizeof(*sp));
	if (sp == NULL) {
		secret_free(a->request);
		return -ENOMEM;
	}
	sp->loop = loop;
	sp->request = a->request;
	sp->cb = cb;
	sp->arg = arg;
	sp->n = 1;
	if (a->n > 1) {
		sp->args = calloc(a->n, sizeof(*sp->args));
		if (sp->args == NULL) {
			secret_free(a->request);
			free(sp);
			return -ENOMEM;
		}
		memcpy(sp->args, a->args, a->n * sizeof(*sp->args));
		sp->n = a->n;
	}
	sp->fault = a->fault;
	sp->grace_ms = a->grace_ms;
	sp->status = 1;
	uv_pipe_init(loop, &sp->in, 0);
	uv_pipe_init(loop, &sp->out, 0);
	uv_timer_init(loop, &sp->timer);
	sp->in.data = sp->out.data = sp->timer.data = sp->proc.data = sp;
	sp->wreq.data = sp;
	sp->open = 4;

	if (tmpl != NULL && start_forked(sp, a) == 0) {
		sp->open = 3; /* no process handle */
		started_forked++;
		goto started;
	}
	memset(&o, 0, sizeof(o));
	stdio[0].flags = UV_CREATE_PIPE | UV_READABLE_PIPE;
	stdio[0].data.stream = (uv_stream_t *)&sp->in;
	stdio[1].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
	stdio[1].data.stream = (uv_stream_t *)&sp->out;
	stdio[2].flags = UV_INHERIT_FD;
	stdio[2].data.fd = 2;
	o.file = a->argv[0];
	o.args = (char **)a->argv;
	o.env = empty_env;
	o.stdio = stdio;
	o.stdio_count = 3;
	o.exit_cb = proc_exited;
	/* A session, and so a process group, of its own, as a template's
	 * child has: a script's kill(0) reaches its own step only. */
	o.flags = UV_PROCESS_DETACHED;
	rc = uv_spawn(loop, &sp->proc, &o);
	if (rc < 0) {
		/* libuv has initialised the process handle all the same:
		 * close the four, and free without a callback. */
		sp->cb = NULL;
		wipe_request(sp);
		uv_close((uv_handle_t *)&sp->proc, closed);
		uv_close((uv_handle_t *)&sp->in, closed);
		uv_close((uv_handle_t *)&sp->out, closed);
		uv_close((uv_handle_t *)&sp->timer, closed);
		return rc;
	}
	sp->pid = sp->proc.pid;
	started_exec++;
started:
	if (a->fault == SPAWN_FAULT_KILL_EARLY)
		kill_worker(sp, SIGKILL);
	uv_read_start((uv_stream_t *)&sp->out, alloc_cb, on_read);
	if (a->hold > released) {
		sp->hold = a->hold;
		sp->held = true;
		TAILQ_INSERT_TAIL(&held, sp, hlink);
	} else
		send_request(sp);
	uv_timer_start(&sp->timer, deadline, a->deadline_ms, 0);
	if (ret != NULL)
		*ret = sp;
	return 0;
}

void
spawn_cancel(struct spawn *sp)
{
	if (sp->status == 1)
		sp->status = -ECANCELED;
	kill_worker(sp, SIGKILL);
}

void
spawn_counts(uint64_t *forked, uint64_t *exec)
{
	*forked = started_forked;
	*exec = started_exec;
}

int
spawn_pid(const struct spawn *sp)
{
	return sp->pid;
}
