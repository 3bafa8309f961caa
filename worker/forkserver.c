/*
 * forkserver.c: the worker template (forkserver.h).
 *
 * One thread, one poll() over two fds: the daemon's socket (fd 0) and a
 * signalfd for SIGCHLD.  The children it keeps are in one small table:
 * idle ones with their socket's template end, started ones with -1 there.
 * The loop: a START goes to the idle child it names, whose socket is then
 * closed; a SIGCHLD reaps every child that exited and tells the daemon;
 * then the pool is filled up again.  A fork returns through the same
 * stack in the child, which is why the functions below hand "in a child"
 * (1) back up to forkserver_run() instead of calling the worker.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <seccomp.h>

#include "forkserver.h"
#include "maps.h"
#include "registry.h"
#include "sandbox.h"
#include "tmplwire.h"

#define POOL_DEFAULT 4
#define POOL_MAX 64
/* An idle child that died is replaced no sooner than this after: a child
 * that cannot even wait must not make the template fork in a loop. */
#define REFILL_PAUSE_MS 100
/* How often, at most, the template looks for code of its own replaced on
 * disk: before it forks, so that a library upgrade is seen when workers
 * are wanted, and at no other time. */
#define STALE_CHECK_MS 1000

struct child {
	uint64_t id;
	pid_t pid;
	int sock; /* idle: the template's end of its socket; else -1 */
};

struct server {
	int sock; /* the daemon's: fd 0 */
	int sigfd;
	pid_t self;
	char *argv0;
	unsigned pool, nidle;
	struct child *v;
	size_t n, cap;
	uint64_t next_id;
	uint64_t pause_until; /* ms, CLOCK_MONOTONIC: no refill before */
	uint64_t checked_at;  /* ms: the last look at its own maps */
	bool stale_told;      /* STALE sent: it is not sent twice */
};

static void logx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* One diagnostic line on fd 2 (the daemon's stderr). */
static void
logx(const char *fmt, ...)
{
	va_list ap;

	fputs("rotad-worker: template: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* --template --parent PID [--pool N], by hand: getopt's state must stay
 * fresh for the worker each child becomes.  0 or -EINVAL. */
static int
parse(int argc, char **argv, long *ret_parent, unsigned *ret_pool)
{
	char *end;
	long v;
	int i;

	*ret_parent = 0;
	*ret_pool = POOL_DEFAULT;
	if (argc < 2 || strcmp(argv[1], "--template") != 0)
		return -EINVAL;
	for (i = 2; i < argc; i += 2) {
		if (i + 1 >= argc)
			return -EINVAL;
		errno = 0;
		v = strtol(argv[i + 1], &end, 10);
		if (errno != 0 || end == argv[i + 1] || *end != '\0' || v <= 0)
			return -EINVAL;
		if (strcmp(argv[i], "--parent") == 0)
			*ret_parent = v;
		else if (strcmp(argv[i], "--pool") == 0 && v <= POOL_MAX)
			*ret_pool = (unsigned)v;
		else
			return -EINVAL;
	}
	return *ret_parent != 0 ? 0 : -EINVAL;
}

/*
 * What the template is, once: nothing open but the daemon's socket (0),
 * /dev/null (1) and the daemon's stderr (2); no core, not dumpable, no
 * new privileges; SIGCHLD blocked, read from a signalfd; its own seccomp
 * filter (sandbox_template_filter()).  0, or -errno (with a reason in
 * WHY when the filter failed).
 */
static int
set_up(struct server *s, char *why, size_t size)
{
	struct rlimit rl = { 0, 0 };
	sigset_t set;
	int r;

	if ((r = sandbox_close_fds(NULL, 0)) < 0)
		return r;
	if (setrlimit(RLIMIT_CORE, &rl) < 0 ||
	    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0 ||
	    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return -errno;
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
		return -errno;
	s->sigfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (s->sigfd < 0)
		return -errno;
	s->sock = 0;
	s->self = getpid();
	/* What every child does first, done once here for all of them:
	 * glibc reads nsswitch.conf at its first lookup (each child looks
	 * its worker user up), and libseccomp asks the kernel what it
	 * supports at its first filter.  Neither holds anything of a step. */
	(void)getpwnam("root");
	(void)seccomp_api_get();
	/* And OpenSSL's and the providers' libraries' set-up, which each
	 * child's first TLS connection would otherwise do (3 to 4 ms). */
	if (registry_warm() < 0)
		logx("OpenSSL's set-up failed; each worker does its own");
	/* Last, once the set-up needs nothing more: the filter every child
	 * inherits, under its own. */
	return sandbox_template_filter(why, size);
}

static struct child *
find_id(struct server *s, uint64_t id)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		if (s->v[i].id == id)
			return &s->v[i];
	return NULL;
}

static void
remove_child(struct server *s, struct child *c)
{
	if (c->sock >= 0) {
		close(c->sock);
		s->nidle--;
	}
	*c = s->v[--s->n];
}

/*
 * In a fresh child, on SOCK: become nothing but a child of the template
 * waiting for its step, then take it.  Returns 1 with *RET filled and the
 * step's fds as 0, 1, 2; exits when no START comes.
 */
static int
child_wait(struct server *s, int sock, struct forkserver_child *ret)
{
	struct tmplwire_msg m;
	int fds[TMPLWIRE_FDS_MAX];
	sigset_t none;
	size_t i;

	/* A process group of its own, set on both sides of the fork so that
	 * it holds before either goes on (reap() ends the group). */
	(void)setpgid(0, 0);
	/* A fork does not inherit the parent-death signal: ask for it, then
	 * make sure the template did not die before we did. */
	(void)prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
	if (getppid() != s->self)
		_exit(FORKSERVER_EXIT_ORPHAN);
	/* Nothing of the template's: its socket to the daemon (0) goes under
	 * ours, and every other (the signalfd, the idle siblings' sockets)
	 * is closed. */
	if (dup2(sock, 0) < 0 || sandbox_close_fds(NULL, 0) < 0)
		_exit(1);
	/* The signal state of an exec'd process: nothing blocked. */
	sigemptyset(&none);
	(void)sigprocmask(SIG_SETMASK, &none, NULL);
	free(s->v);
	s->v = NULL;

	if (tmplwire_recv(0, &m, fds) < 0 || m.type != TMPLWIRE_START)
		_exit(0); /* the template closed our socket: not needed */
	if (dup2(fds[0], 0) < 0 || dup2(fds[1], 1) < 0 || dup2(fds[2], 2) < 0)
		_exit(1);
	for (i = 0; i < TMPLWIRE_FDS_MAX; i++)
		close(fds[i]);
	ret->argv = calloc(m.argc + 2, sizeof(*ret->argv));
	if (ret->argv == NULL)
		_exit(1);
	ret->argv[0] = s->argv0;
	for (i = 0; i < m.argc; i++)
		ret->argv[i + 1] = m.argv[i]; /* m's allocation, kept */
	ret->argc = (int)m.argc + 1;
	ret->parent = (long)s->self;
	return 1;
}

/*
 * One more idle child, announced to the daemon.  0, 1 in the child (*RET
 * filled), or -errno (nothing forked, or the child killed again).
 */
static int
fork_idle(struct server *s, struct forkserver_child *ret)
{
	struct tmplwire_msg m;
	struct child *c;
	int sv[2], pidfd, r;
	pid_t pid;

	if (s->n == s->cap) {
		size_t cap = s->cap == 0 ? 16 : s->cap * 2;
		struct child *v = reallocarray(s->v, cap, sizeof(*v));

		if (v == NULL)
			return -ENOMEM;
		s->v = v;
		s->cap = cap;
	}
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	pid = fork();
	if (pid < 0) {
		r = -errno;
		close(sv[0]);
		close(sv[1]);
		return r;
	}
	if (pid == 0)
		return child_wait(s, sv[1], ret);
	(void)setpgid(pid, pid);
	close(sv[1]);
	pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (pidfd < 0) {
		r = -errno;
		(void)kill(pid, SIGKILL);
		close(sv[0]);
		return r; /* reaped unannounced: never in the table */
	}
	c = &s->v[s->n++];
	c->id = ++s->next_id;
	c->pid = pid;
	c->sock = sv[0];
	s->nidle++;
	memset(&m, 0, sizeof(m));
	m.type = TMPLWIRE_READY;
	m.id = c->id;
	m.pid = pid;
	r = tmplwire_send(s->sock, &m, &pidfd);
	close(pidfd);
	return r;
}

/*
 * Whether a file the template runs code of was replaced on disk since it
 * mapped it (maps.h), told to the daemon once (STALE, with the path): a
 * package upgrade of a library it links, or of rotad-worker.  Every
 * child is a copy of this process, so until another template runs, each
 * worker would run the old code, security fixes missing; an exec'd
 * worker never did.  The daemon starts another template, which serves
 * once it has a child ready.  0, or -errno from the socket.
 */
static int
check_stale(struct server *s)
{
	struct tmplwire_msg m;
	char path[TMPLWIRE_ARG_MAX + 1], *argv[2] = { path, NULL };

	if (s->stale_told || now_ms() - s->checked_at < STALE_CHECK_MS)
		return 0;
	s->checked_at = now_ms();
	if (maps_self_replaced(path, sizeof(path)) != 1)
		return 0;
	s->stale_told = true;
	memset(&m, 0, sizeof(m));
	m.type = TMPLWIRE_STALE;
	m.argv = argv;
	m.argc = 1;
	/* The path fits: maps_replaced() cut it to TMPLWIRE_ARG_MAX. */
	return tmplwire_send(s->sock, &m, NULL);
}

/* Fill the pool.  0, 1 in a child, or -errno: the daemon is gone, or
 * forks fail (then the next try is after a pause). */
static int
fill(struct server *s, struct forkserver_child *ret)
{
	int r;

	if (s->nidle < s->pool && (r = check_stale(s)) < 0)
		return r;
	while (s->nidle < s->pool && now_ms() >= s->pause_until) {
		r = fork_idle(s, ret);
		if (r == 1)
			return 1;
		if (r == -EPIPE || r == -ECONNRESET)
			return r;
		if (r == -ENOSYS)
			return r;
		if (r < 0) {
			logx("cannot fork an idle worker: %s; trying again "
			     "in a second",
			    strerror(-r));
			s->pause_until = now_ms() + 1000;
		}
	}
	return 0;
}

/*
 * Reap every child that has exited and tell the daemon.  Each child leads
 * a process group, which its step's script and whatever the script
 * started in the background are in too (a worker's filter lets none of
 * them leave it); what is left of the group dies with the child, killed
 * while the child is still a zombie: until it is reaped its pid, and so
 * the group's id, cannot name anyone else.  0 or -errno.
 */
static int
reap(struct server *s)
{
	struct signalfd_siginfo si;
	struct tmplwire_msg m;
	struct child *c;
	siginfo_t info;
	int status, r;
	pid_t pid;
	size_t i;

	while (read(s->sigfd, &si, sizeof(si)) == sizeof(si))
		;
	for (;;) {
		info.si_pid = 0;
		if (waitid(P_ALL, 0, &info, WEXITED | WNOHANG | WNOWAIT) < 0 ||
		    info.si_pid <= 0)
			break;
		(void)kill(-info.si_pid, SIGKILL);
		pid = waitpid(info.si_pid, &status, WNOHANG);
		if (pid <= 0)
			break;
		for (i = 0, c = NULL; i < s->n; i++)
			if (s->v[i].pid == pid)
				c = &s->v[i];
		if (c == NULL)
			continue; /* never announced */
		if (c->sock >= 0)
			s->pause_until = now_ms() + REFILL_PAUSE_MS;
		memset(&m, 0, sizeof(m));
		m.type = TMPLWIRE_EXITED;
		m.id = c->id;
		m.pid = pid;
		m.status = status;
		remove_child(s, c);
		if ((r = tmplwire_send(s->sock, &m, NULL)) < 0)
			return r;
	}
	return 0;
}

/* A START from the daemon: on to its child, whose socket then closes.
 * 0, or -EBADMSG for what the daemon must not send. */
static int
start(struct server *s)
{
	struct tmplwire_msg m;
	struct child *c;
	int fds[TMPLWIRE_FDS_MAX], r;
	size_t i;

	r = tmplwire_recv(s->sock, &m, fds);
	if (r == -EAGAIN)
		return 0;
	if (r < 0)
		return r;
	if (m.type != TMPLWIRE_START) {
		r = -EBADMSG;
		goto out;
	}
	/* Gone already (its EXITED is on its way): the daemon learns it
	 * from that; the step's pipes just close. */
	c = find_id(s, m.id);
	if (c != NULL && c->sock >= 0) {
		if (tmplwire_send(c->sock, &m, fds) < 0)
			(void)kill(c->pid, SIGKILL);
		close(c->sock);
		c->sock = -1;
		s->nidle--;
	}
out:
	for (i = 0; i < TMPLWIRE_FDS_MAX; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	tmplwire_msg_clear(&m);
	return r;
}

int
forkserver_run(
    int argc, char **argv, struct forkserver_child *ret, int *ret_exit)
{
	struct server s;
	struct pollfd pfd[2];
	char why[256] = "";
	long parent;
	int r, timeout;

	memset(&s, 0, sizeof(s));
	memset(ret, 0, sizeof(*ret));
	s.argv0 = argv[0];
	if (parse(argc, argv, &parent, &s.pool) < 0) {
		logx("usage: rotad-worker --template --parent PID [--pool N]");
		*ret_exit = FORKSERVER_EXIT_USAGE;
		return 0;
	}
	/* main() asked for SIGKILL at the daemon's death; it may have died
	 * before. */
	if (getppid() != (pid_t)parent) {
		logx("the daemon (pid %ld) is gone; exiting", parent);
		*ret_exit = FORKSERVER_EXIT_ORPHAN;
		return 0;
	}
	if ((r = set_up(&s, why, sizeof(why))) < 0) {
		logx("cannot set up: %s", why[0] != '\0' ? why : strerror(-r));
		*ret_exit = 1;
		return 0;
	}
	for (;;) {
		r = fill(&s, ret);
		if (r == 1)
			return 1;
		if (r < 0)
			break;
		pfd[0].fd = s.sock;
		pfd[0].events = POLLIN;
		pfd[1].fd = s.sigfd;
		pfd[1].events = POLLIN;
		timeout = s.nidle < s.pool ? REFILL_PAUSE_MS : -1;
		if (poll(pfd, 2, timeout) < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			break;
		}
		if ((pfd[1].revents & POLLIN) && (r = reap(&s)) < 0)
			break;
		if (pfd[0].revents & (POLLIN | POLLHUP | POLLERR) &&
		    (r = start(&s)) < 0)
			break;
	}
	/* The daemon has gone (its socket closed), or it broke the
	 * protocol: the children die with us (their parent-death signal),
	 * the idle ones sooner still, at their socket's EOF. */
	if (r == -ENOSYS) {
		logx("this kernel has no pidfd_open() (Linux 5.3); the "
		     "daemon starts its workers by fork and exec");
		*ret_exit = FORKSERVER_EXIT_NO_PIDFD;
	} else if (r == -EPIPE || r == -ECONNRESET) {
		*ret_exit = 0;
	} else {
		logx("%s; exiting", strerror(-r));
		*ret_exit = r == -EBADMSG ? FORKSERVER_EXIT_PROTOCOL : 1;
	}
	return 0;
}
