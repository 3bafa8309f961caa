/*
 * script.c: the post-rotation script runner, with Keeper's gateway
 * contract.
 *
 * The script gets no arguments and one line on stdin: the base64 JSON the
 * daemon built (scheduler/script_input.h), then a newline and EOF.  Exit
 * status 0 is success.  Its stdout and stderr share one pipe, so that the
 * kept output reads in the order it was written; at most
 * WIRE_OUTPUT_MAX - 1 bytes are kept (the rest is read and dropped, so the
 * script never blocks on a full pipe), and the output is scrubbed of every
 * secret of the request before it leaves.
 *
 * It runs inside rotad-worker's sandbox, which allows execve only of the
 * configured interpreter (or script), fork without namespace flags, kill
 * of a positive pid, the script's parent-death signal, and the pipe and
 * wait calls used here.  There is no timeout: the daemon kills the worker
 * at the step's deadline, and the worker's SIGTERM handler takes the
 * script down with it.  A worker that dies without it (SIGKILL: the
 * daemon's death, the OOM killer) takes the script down by the
 * parent-death signal the child sets before exec.
 *
 * Two providers share this runner, and run only scripts (WIRE_OP_SCRIPT):
 * post-rotation (Keeper's post-rotation scripts) and script (protocol:
 * script, whose rotate and verify scripts do the rotation itself).  They
 * differ in their sandbox profiles, which the catalog holds.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "provider.h"
#include "scrub.h"
#include "secret.h"

#define TRUNCATED_NOTE "\n[rotad: output truncated]\n"
#define TRUNCATED_NOTE_LEN (sizeof(TRUNCATED_NOTE) - 1)

/* How often to look whether the script has exited while its output pipe
 * is still open (a background child of it may hold the pipe). */
#define POLL_MS 100

/* The script's pid, for the SIGTERM handler; 0 when none runs. */
/*
 * A script's exit status as an error class, after sysexits(3): 75
 * (EX_TEMPFAIL) is worth retrying, 77 (EX_NOPERM) is a refused
 * credential, 65 (EX_DATAERR) a refused new secret; anything else is
 * fatal.  A rotation script (protocol: script) says this way what
 * happened; a post-rotation script's failure is reported the same way.
 */
static enum wire_class
exit_class(int status)
{
	switch (status) {
	case 75:
		return WIRE_CLASS_TRANSIENT;
	case 77:
		return WIRE_CLASS_AUTH;
	case 65:
		return WIRE_CLASS_POLICY;
	default:
		return WIRE_CLASS_FATAL;
	}
}

static volatile sig_atomic_t child;

static void
on_term(int sig)
{
	(void)sig;
	if (child > 0)
		kill((pid_t)child, SIGKILL);
}

/* What the run gathered. */
struct run {
	char *buf; /* WIRE_OUTPUT_MAX bytes */
	size_t len;
	bool truncated;
	int status; /* from waitpid */
};

/*
 * In the child: wire the pipes to fds 0, 1 and 2, and exec.  On failure
 * the errno goes down ERR_W (close-on-exec, so the parent reads EOF when
 * the exec worked) and the child exits 127.  PARENT is the worker's pid.
 */
static void __attribute__((noreturn)) child_exec(const struct wire_request *req,
    pid_t parent, int in_r, int out_w, int err_w, const sigset_t *mask)
{
	static char *const envp[] = { "PATH=/usr/bin:/bin", "LANG=C.UTF-8",
		NULL };
	char *argv[3];
	const char *path;
	int e;

	/* The worker ignores SIGPIPE; an ignored signal stays ignored
	 * across execve, and a script expects the default. */
	signal(SIGPIPE, SIG_DFL);
	sigprocmask(SIG_SETMASK, mask, NULL);
	/* A script must not outlive its worker: the daemon, which decides
	 * the run once the worker is gone, would not see it change the
	 * target afterwards.  fork() cleared the worker's own setting; it
	 * survives the exec.  If the worker is gone already, no script. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
		goto fail;
	if (getppid() != parent) {
		errno = ESRCH;
		goto fail;
	}
	if (dup2(in_r, 0) < 0 || dup2(out_w, 1) < 0 || dup2(out_w, 2) < 0)
		goto fail;
	if (req->script_command != NULL) {
		path = req->script_command;
		argv[0] = req->script_command;
		argv[1] = req->script_path;
		argv[2] = NULL;
	} else {
		path = req->script_path;
		argv[0] = req->script_path;
		argv[1] = NULL;
	}
	execve(path, argv, envp);
fail:
	e = errno;
	(void)!write(err_w, &e, sizeof(e));
	_exit(127);
}

/* Keep what fits of N bytes just read, note the rest as dropped. */
static void
keep(struct run *run, const char *data, size_t n)
{
	size_t room = WIRE_OUTPUT_MAX - 1 - run->len;

	if (n > room) {
		run->truncated = true;
		n = room;
	}
	memcpy(run->buf + run->len, data, n);
	run->len += n;
}

/* Read what is there on FD (after poll said so).  0 at EOF, 1 when more
 * may come, or a negative errno. */
static int
drain_once(struct run *run, int fd)
{
	char chunk[4096];
	ssize_t n;

	n = read(fd, chunk, sizeof(chunk));
	if (n < 0)
		return errno == EINTR || errno == EAGAIN ? 1 : -errno;
	if (n == 0)
		return 0;
	keep(run, chunk, (size_t)n);
	explicit_bzero(chunk, (size_t)n);
	return 1;
}

/*
 * Feed INPUT and a newline to IN_W, gather OUT_R, and reap PID, all in one
 * poll loop, so that neither side can block the other on a full pipe.
 * Ends at EOF on OUT_R, or when the script has exited and what it left
 * in the pipe is read.  0 or a negative errno.
 */
static int
supervise(
    pid_t pid, const struct secret *input, int in_w, int out_r, struct run *run)
{
	const char *line = secret_data(input);
	size_t line_len = secret_len(input), off = 0, n;
	struct pollfd fds[2];
	bool reaped = false;
	pid_t w;
	ssize_t k;
	int r;

	for (;;) {
		fds[0] = (struct pollfd){ .fd = out_r, .events = POLLIN };
		fds[1] = (struct pollfd){ .fd = in_w, .events = POLLOUT };
		r = poll(fds, in_w >= 0 ? 2 : 1, reaped ? 0 : POLL_MS);
		if (r < 0 && errno != EINTR)
			return -errno;
		if (r > 0 && fds[0].revents != 0) {
			if ((r = drain_once(run, out_r)) < 0)
				return r;
			if (r == 0)
				break;
			continue;
		}
		if (reaped)
			break; /* exited, and the pipe holds nothing more */
		if (r > 0 && in_w >= 0 && fds[1].revents != 0) {
			/* At most PIPE_BUF when POLLOUT: never blocks. */
			if (off < line_len) {
				n = line_len - off < PIPE_BUF ? line_len - off
							      : PIPE_BUF;
				k = write(in_w, line + off, n);
			} else
				k = write(in_w, "\n", 1);
			if (k > 0)
				off += (size_t)k;
			/* EPIPE: the script does not read its stdin. */
			if ((k < 0 && errno != EINTR && errno != EAGAIN) ||
			    off > line_len) {
				close(in_w);
				in_w = -1;
			}
			continue;
		}
		if (r == 0) {
			w = waitpid(pid, &run->status, WNOHANG);
			if (w < 0 && errno != EINTR)
				return -errno;
			reaped = w == pid;
		}
	}
	if (in_w >= 0)
		close(in_w);
	while (!reaped) {
		w = waitpid(pid, &run->status, 0);
		if (w < 0 && errno != EINTR)
			return -errno;
		reaped = w == pid;
	}
	return 0;
}

/* The scrubbed output, truncation noted, into RES. */
static int
set_output(const struct wire_request *req, const struct run *run,
    struct wire_response *res)
{
	struct secret *const secrets[] = { req->new_secret, req->current,
		req->admin, req->script_input };
	const size_t max = WIRE_OUTPUT_MAX - 1;
	bool truncated = run->truncated;
	size_t len = 0;
	char *out = NULL, *p;
	int r;

	if ((r = scrub(run->buf, run->len, secrets,
		 sizeof(secrets) / sizeof(secrets[0]), &out, &len)) < 0)
		return r;
	/* "[REDACTED]" can be longer than what it replaced. */
	if (len > max)
		truncated = true;
	if (truncated) {
		if (len > max - TRUNCATED_NOTE_LEN)
			len = max - TRUNCATED_NOTE_LEN;
		/* scrub() left room for its NUL only: grow for the note. */
		p = realloc(out, len + TRUNCATED_NOTE_LEN + 1);
		if (p == NULL) {
			free(out);
			return -ENOMEM;
		}
		out = p;
		memcpy(out + len, TRUNCATED_NOTE, TRUNCATED_NOTE_LEN);
		len += TRUNCATED_NOTE_LEN;
		out[len] = '\0';
	}
	res->output = out;
	res->output_len = len;
	return 0;
}

static int
script_apply(const struct wire_request *req, struct wire_response *res)
{
	struct sigaction sa, old_term, old_pipe;
	sigset_t term, old_mask;
	struct run run = { 0 };
	int in[2] = { -1, -1 }, out[2] = { -1, -1 }, err[2] = { -1, -1 };
	int r, e = 0;
	ssize_t n;
	pid_t pid, self;

	if (req->op != WIRE_OP_SCRIPT)
		return provider_fail(res, WIRE_CLASS_FATAL,
		    "the script provider only runs scripts");
	if (req->script_path == NULL || req->script_input == NULL)
		return provider_fail(
		    res, WIRE_CLASS_FATAL, "no script or no script input");
	run.buf = malloc(WIRE_OUTPUT_MAX);
	if (run.buf == NULL)
		return -ENOMEM;

	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = on_term;
	sigaction(SIGTERM, &sa, &old_term);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, &old_pipe);

	if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0 ||
	    pipe2(err, O_CLOEXEC) < 0) {
		r = -errno;
		goto out;
	}
	/* SIGTERM waits until the handler knows whom to kill. */
	sigemptyset(&term);
	sigaddset(&term, SIGTERM);
	sigprocmask(SIG_BLOCK, &term, &old_mask);
	self = getpid();
	pid = fork();
	if (pid == 0)
		child_exec(req, self, in[0], out[1], err[1], &old_mask);
	e = errno;
	if (pid > 0)
		child = pid;
	sigprocmask(SIG_SETMASK, &old_mask, NULL);
	if (pid < 0) {
		r = -e;
		goto out;
	}
	e = 0;
	close(in[0]);
	close(out[1]);
	close(err[1]);
	in[0] = out[1] = err[1] = -1;

	/* EOF: the exec worked; an int: its errno. */
	do
		n = read(err[0], &e, sizeof(e));
	while (n < 0 && errno == EINTR);

	r = supervise(pid, req->script_input, in[1], out[0], &run);
	in[1] = -1; /* closed by supervise() */
	if (r < 0)
		goto out;
	child = 0; /* reaped */
	if ((r = set_output(req, &run, res)) < 0)
		goto out;
	if (n == (ssize_t)sizeof(e))
		r = provider_fail(res, WIRE_CLASS_FATAL, "cannot exec %s: %s",
		    req->script_command != NULL ? req->script_command
						: req->script_path,
		    strerror(e));
	else if (WIFEXITED(run.status) && WEXITSTATUS(run.status) == 0)
		r = 0;
	else if (WIFEXITED(run.status))
		r = provider_fail(res, exit_class(WEXITSTATUS(run.status)),
		    "script %s exited %d", req->script_path,
		    WEXITSTATUS(run.status));
	else
		r = provider_fail(res, WIRE_CLASS_FATAL,
		    "script %s killed by signal %d", req->script_path,
		    WIFSIGNALED(run.status) ? WTERMSIG(run.status) : 0);
out:
	if (child > 0) {
		/* supervise() failed: take the script down, reap it. */
		kill((pid_t)child, SIGKILL);
		waitpid((pid_t)child, NULL, 0);
		child = 0;
	}
	for (int i = 0; i < 2; i++) {
		if (in[i] >= 0)
			close(in[i]);
		if (out[i] >= 0)
			close(out[i]);
		if (err[i] >= 0)
			close(err[i]);
	}
	sigaction(SIGTERM, &old_term, NULL);
	sigaction(SIGPIPE, &old_pipe, NULL);
	explicit_bzero(run.buf, WIRE_OUTPUT_MAX);
	free(run.buf);
	return r;
}

static int
script_verify(const struct wire_request *req, struct wire_response *res)
{
	(void)req;
	/* A post-rotation script has nothing to log in to; the generic
	 * provider runs its verify script as a script step. */
	return provider_fail(res, WIRE_CLASS_FATAL, "script has no verify");
}

/* Keeper's post-rotation scripts (catalog: post-rotation): run after the
 * commit, fed the new credential; its profile reaches nothing. */
const struct provider provider_post_rotation = {
	.name = "post-rotation",
	.apply = script_apply,
	.verify = script_verify,
};

/*
 * protocol: script, the generic rotation provider (catalog: script): the
 * resource's rotate_script sets the new secret on a target rotad has no
 * provider for, and its verify_script logs in with a candidate; both
 * through the same runner (the daemon sends them as WIRE_OP_SCRIPT).
 * Unlike a post-rotation script it must reach its target, so its catalog
 * profile adds the network; it still executes nothing but its interpreter
 * and writes nothing.
 */
const struct provider provider_script = {
	.name = "script",
	.apply = script_apply,
	.verify = script_verify,
};
