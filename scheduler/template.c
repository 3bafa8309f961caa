/*
 * template.c: the worker template from the daemon's side (template.h).
 *
 * One struct tproc per template process the daemon started: its
 * uv_process, its socket (a uv_poll on the daemon's end of a
 * SOCK_SEQPACKET pair, the template's fd 0), the idle children it
 * announced (READY: id, pid, pidfd) and the children running steps.
 * struct template holds the one that serves (cur), the one a reload
 * started and that serves once ready (next), every process still alive,
 * and the restart timer.
 *
 * A process is *lost* when its socket fails or it exits: no message can
 * come any more, so each child running a step is SIGKILLed through its
 * pidfd and watched there until it has exited (a pidfd becomes readable
 * when its process exits, whoever its parent is).  A process is
 * *retiring* when a newer one serves or the daemon stops: it gets no
 * step, and once its last child has exited its socket is closed and it is
 * killed (it holds nothing; its idle children die with it).  A struct
 * tproc is freed when its handles are closed and it has no child left.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "template.h"
#include "tmplwire.h"

#define POOL_MAX 64
#define RESTART_MIN_MS 1000  /* one start a second at most */
#define RESTART_MAX_MS 60000 /* while each dies young */
#define YOUNG_MS 10000       /* a template that dies sooner is young */
#define EXIT_NO_PIDFD 5      /* forkserver.h FORKSERVER_EXIT_NO_PIDFD */

struct idle {
	uint64_t id;
	int pid;
	int pidfd;
};

struct tproc;

struct template_child {
	struct tproc *p;
	uint64_t id;
	int pid;
	int pidfd;
	template_exit_cb *cb;
	void *arg;
	uv_poll_t watch; /* its pidfd, once its template is lost */
	bool watching;
	LIST_ENTRY(template_child) link;
};

struct tproc {
	struct template *t;
	char *path;
	struct stat st; /* PATH when it was started; st_ino 0: unknown */
	uv_process_t proc;
	uv_poll_t poll;
	int sock; /* -1 once closed */
	int pid;
	uint64_t started; /* uv_now() */
	struct idle *idle;
	size_t nidle, idle_cap;
	LIST_HEAD(, template_child) busy;
	bool lost, retiring, exited;
	bool stale;  /* it runs code replaced on disk (STALE) */
	bool told;   /* its end is logged already */
	int handles; /* proc, poll: open until their close callbacks */
	LIST_ENTRY(tproc) link;
};

struct template
{
	uv_loop_t *loop;
	char *path;
	unsigned pool;
	struct tproc *cur, *next;
	LIST_HEAD(, tproc) procs;
	uv_timer_t timer;
	uint64_t last_start;
	unsigned young_deaths;
	bool stopping, disabled, timer_open;
};

static void schedule_restart(struct template *t);

static void
maybe_free_template(struct template *t)
{
	if (!t->stopping || t->timer_open || !LIST_EMPTY(&t->procs))
		return;
	free(t->path);
	free(t);
}

static void
maybe_free_proc(struct tproc *p)
{
	struct template *t = p->t;

	if (p->handles > 0 || !LIST_EMPTY(&p->busy))
		return;
	LIST_REMOVE(p, link);
	free(p->idle);
	free(p->path);
	free(p);
	maybe_free_template(t);
}

static void
proc_closed(uv_handle_t *h)
{
	struct tproc *p = h->data;

	p->handles--;
	maybe_free_proc(p);
}

/* The idle children's pidfds: they are of no use once P serves no more
 * (they die with it). */
static void
drop_idle(struct tproc *p)
{
	size_t i;

	for (i = 0; i < p->nidle; i++)
		close(p->idle[i].pidfd);
	p->nidle = 0;
}

static void
close_socket(struct tproc *p)
{
	if (p->sock < 0)
		return;
	/* Closed for libuv first: it stops polling before the fd goes. */
	uv_close((uv_handle_t *)&p->poll, proc_closed);
	close(p->sock);
	p->sock = -1;
}

/* A retiring or lost P with no step left: end it. */
static void
maybe_end(struct tproc *p)
{
	if (!(p->retiring || p->lost) || !LIST_EMPTY(&p->busy))
		return;
	drop_idle(p);
	close_socket(p);
	if (!p->exited)
		(void)uv_process_kill(&p->proc, SIGKILL);
}

static void
retire(struct tproc *p)
{
	struct template *t = p->t;

	if (t->cur == p)
		t->cur = NULL;
	if (t->next == p)
		t->next = NULL;
	p->retiring = true;
	drop_idle(p);
	maybe_end(p);
}

static int
exit_code(int status)
{
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return 128;
}

static void
child_closed(uv_handle_t *h)
{
	struct template_child *c = h->data;

	close(c->pidfd);
	free(c);
}

/* C has exited: tell its owner, and forget it. */
static void
child_exited(struct template_child *c, int code)
{
	struct tproc *p = c->p;

	LIST_REMOVE(c, link);
	c->cb(code, c->arg);
	if (c->watching) {
		uv_close((uv_handle_t *)&c->watch, child_closed);
	} else {
		close(c->pidfd);
		free(c);
	}
	maybe_end(p);
	maybe_free_proc(p);
}

/* The pidfd of a child whose template is lost: readable once it has
 * exited.  Its status went with the template; SIGKILL is what it got. */
static void
child_gone(uv_poll_t *w, int status, int events)
{
	(void)status;
	(void)events;
	uv_poll_stop(w);
	child_exited(w->data, 128 + SIGKILL);
}

/* Another template in P's place, through the restart timer: backing off
 * while each is replaced young (it died, or runs replaced code, soon
 * after its start). */
static void
replace(struct tproc *p)
{
	struct template *t = p->t;

	uv_update_time(t->loop);
	if (uv_now(t->loop) - p->started < YOUNG_MS)
		t->young_deaths++;
	else
		t->young_deaths = 0;
	schedule_restart(t);
}

/*
 * No message can come from P any more (its socket failed, or it exited).
 * WHY, when not NULL, is logged: a failure the exit status will not
 * tell.  Its steps' children are killed and watched through their
 * pidfds; another template is started when P was the one serving.
 */
static void
proc_lost(struct tproc *p, const char *why)
{
	struct template *t = p->t;
	struct template_child *c, *next;
	bool serving = t->cur == p || t->next == p;

	if (p->lost)
		return;
	p->lost = true;
	if (why != NULL) {
		log_msg(LOG_ERR, MSG_TEMPLATE,
		    "worker template (pid %d): %s; ending it", p->pid, why);
		p->told = true;
	}
	drop_idle(p);
	close_socket(p);
	if (!p->exited)
		(void)uv_process_kill(&p->proc, SIGKILL);
	/* P's handles are closing, not closed: P outlives this walk even
	 * when a child is told at once. */
	for (c = LIST_FIRST(&p->busy); c != NULL; c = next) {
		next = LIST_NEXT(c, link);
		(void)template_child_kill(c, SIGKILL);
		if (uv_poll_init(t->loop, &c->watch, c->pidfd) == 0) {
			c->watch.data = c;
			c->watching = true;
			uv_poll_start(&c->watch, UV_READABLE, child_gone);
		} else {
			/* Not to be watched: it was sent SIGKILL, which
			 * it cannot refuse. */
			child_exited(c, 128 + SIGKILL);
		}
	}
	if (t->cur == p)
		t->cur = NULL;
	if (t->next == p)
		t->next = NULL;
	if (serving && !t->stopping)
		replace(p);
	maybe_end(p);
}

static void
proc_exited(uv_process_t *h, int64_t exit_status, int term_signal)
{
	struct tproc *p = h->data;
	struct template *t = p->t;
	bool quiet = p->retiring || t->stopping;

	p->exited = true;
	if (term_signal == 0 && exit_status == EXIT_NO_PIDFD) {
		t->disabled = true;
		log_msg(LOG_WARNING, MSG_TEMPLATE,
		    "no worker template on this kernel (it lacks pidfd_open, "
		    "Linux 5.3): every worker is a fork and exec of the "
		    "daemon");
	} else if (!quiet && !p->told) {
		if (term_signal != 0)
			log_msg(LOG_WARNING, MSG_TEMPLATE,
			    "worker template (pid %d) killed by signal %d; "
			    "workers start by fork and exec until another "
			    "runs",
			    p->pid, term_signal);
		else
			log_msg(LOG_WARNING, MSG_TEMPLATE,
			    "worker template (pid %d) exited with status "
			    "%lld; workers start by fork and exec until "
			    "another runs",
			    p->pid, (long long)exit_status);
	}
	proc_lost(p, NULL);
	uv_close((uv_handle_t *)&p->proc, proc_closed);
}

/* Its first READY: a NEXT started by a reload takes over. */
static void
promote(struct tproc *p)
{
	struct template *t = p->t;
	struct tproc *old = t->cur;

	if (t->next != p)
		return;
	t->cur = p;
	t->next = NULL;
	if (old != NULL)
		retire(old);
	if (p->stale)
		schedule_restart(t);
}

static int
add_idle(struct tproc *p, const struct tmplwire_msg *m, int pidfd)
{
	if (p->nidle == p->idle_cap) {
		size_t cap = p->idle_cap == 0 ? 8 : p->idle_cap * 2;
		struct idle *v = reallocarray(p->idle, cap, sizeof(*v));

		if (v == NULL)
			return -ENOMEM;
		p->idle = v;
		p->idle_cap = cap;
	}
	p->idle[p->nidle].id = m->id;
	p->idle[p->nidle].pid = m->pid;
	p->idle[p->nidle++].pidfd = pidfd;
	return 0;
}

/* An EXITED: a child's step is over, or an idle child died. */
static void
on_exited(struct tproc *p, const struct tmplwire_msg *m)
{
	struct template_child *c;
	size_t i;

	LIST_FOREACH(c, &p->busy, link)
	if (c->id == m->id) {
		child_exited(c, exit_code(m->status));
		return;
	}
	for (i = 0; i < p->nidle; i++)
		if (p->idle[i].id == m->id) {
			close(p->idle[i].pidfd);
			p->idle[i] = p->idle[--p->nidle];
			return;
		}
}

/*
 * A STALE: P runs code of a file replaced on disk since it started (a
 * library upgraded), which each worker forked from it would run too.
 * Another template is started, through the restart timer: one a second
 * at most, and backing off while each reports this young (a file
 * replaced again and again, or one a new template still finds old).
 * P serves until the new one has a child ready.
 */
static void
on_stale(struct tproc *p, const struct tmplwire_msg *m)
{
	struct template *t = p->t;

	if (p->stale || p->retiring || t->stopping)
		return;
	p->stale = true;
	log_msg(LOG_NOTICE, MSG_TEMPLATE,
	    "worker template (pid %d) runs %s, replaced on disk since it "
	    "started: starting another, for its workers to run the new one",
	    p->pid, m->argv[0]);
	if (t->cur != p || t->next != NULL)
		return; /* a newer one is starting; promote() looks again */
	replace(p);
}

static void
on_readable(uv_poll_t *h, int status, int events)
{
	struct tproc *p = h->data;
	struct tmplwire_msg m;
	int fds[TMPLWIRE_FDS_MAX], r;
	char why[128];

	(void)events;
	/* libuv reports POLLERR as a status, and polls no more: what is
	 * left to read is read, and then the process is lost either way (a
	 * template that died shows as EOF, and its exit says how). */
	while (!p->lost) {
		r = tmplwire_recv(p->sock, &m, fds);
		if (r == -EAGAIN && status < 0) {
			snprintf(why, sizeof(why), "its socket: %s",
			    uv_strerror(status));
			proc_lost(p, why);
			return;
		}
		if (r == -EAGAIN)
			return;
		if (r == -EPIPE) {
			proc_lost(p, NULL); /* it exited: its exit says how */
			return;
		}
		if (r < 0) {
			snprintf(why, sizeof(why), "a message refused: %s",
			    strerror(-r));
			proc_lost(p, why);
			return;
		}
		switch (m.type) {
		case TMPLWIRE_READY:
			if (p->retiring || p->t->stopping ||
			    add_idle(p, &m, fds[0]) < 0) {
				close(fds[0]);
				break;
			}
			promote(p);
			break;
		case TMPLWIRE_EXITED:
			on_exited(p, &m);
			break;
		case TMPLWIRE_STALE:
			on_stale(p, &m);
			break;
		default:
			proc_lost(p, "a START from the template");
			break;
		}
		tmplwire_msg_clear(&m);
	}
}

/* Start a template process of PATH.  NULL when it could not be (logged). */
static struct tproc *
proc_start(struct template *t, const char *path, unsigned pool)
{
	static char *empty_env[] = { NULL };
	char parent[24], npool[16];
	const char *argv[8];
	uv_process_options_t o;
	uv_stdio_container_t stdio[3];
	struct tproc *p;
	int sv[2] = { -1, -1 }, rc;

	uv_update_time(t->loop);
	t->last_start = uv_now(t->loop);
	p = calloc(1, sizeof(*p));
	if (p == NULL || (p->path = strdup(path)) == NULL) {
		rc = UV_ENOMEM;
		goto fail;
	}
	/* Which file it runs, for template_restart() to tell whether a
	 * reload changed it. */
	if (stat(path, &p->st) < 0)
		memset(&p->st, 0, sizeof(p->st));
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0 ||
	    fcntl(sv[0], F_SETFL, O_NONBLOCK) < 0) {
		rc = -errno;
		goto fail;
	}
	snprintf(parent, sizeof(parent), "%ld", (long)getpid());
	snprintf(npool, sizeof(npool), "%u", pool);
	argv[0] = path;
	argv[1] = "--template";
	argv[2] = "--parent";
	argv[3] = parent;
	argv[4] = "--pool";
	argv[5] = npool;
	argv[6] = NULL;
	memset(&o, 0, sizeof(o));
	stdio[0].flags = UV_INHERIT_FD;
	stdio[0].data.fd = sv[1];
	stdio[1].flags = UV_IGNORE;
	stdio[2].flags = UV_INHERIT_FD;
	stdio[2].data.fd = 2;
	o.file = path;
	o.args = (char **)argv;
	o.env = empty_env;
	o.stdio = stdio;
	o.stdio_count = 3;
	o.exit_cb = proc_exited;
	p->t = t;
	p->sock = -1;
	p->proc.data = p;
	LIST_INIT(&p->busy);
	LIST_INSERT_HEAD(&t->procs, p, link);
	rc = uv_spawn(t->loop, &p->proc, &o);
	close(sv[1]);
	sv[1] = -1;
	if (rc < 0) {
		/* libuv has initialised the handle all the same. */
		close(sv[0]);
		p->lost = p->exited = true;
		p->handles = 1;
		uv_close((uv_handle_t *)&p->proc, proc_closed);
		p = NULL;
		goto fail;
	}
	p->pid = p->proc.pid;
	p->started = t->last_start;
	p->sock = sv[0];
	uv_poll_init(t->loop, &p->poll, p->sock);
	p->poll.data = p;
	p->handles = 2;
	uv_poll_start(&p->poll, UV_READABLE, on_readable);
	log_msg(LOG_INFO, MSG_TEMPLATE,
	    "worker template started: pid %d, %s, %u worker%s kept ready",
	    p->pid, path, pool, pool == 1 ? "" : "s");
	return p;
fail:
	if (sv[0] >= 0)
		close(sv[0]);
	if (sv[1] >= 0)
		close(sv[1]);
	if (p != NULL) {
		free(p->path);
		free(p);
	}
	log_msg(LOG_ERR, MSG_TEMPLATE,
	    "cannot start the worker template %s: %s; workers start by "
	    "fork and exec until it starts",
	    path, uv_strerror(rc));
	return NULL;
}

static void
restart_due(uv_timer_t *h)
{
	struct template *t = h->data;
	struct tproc *p;

	if (t->stopping || t->disabled || t->next != NULL ||
	    (t->cur != NULL && !t->cur->stale &&
		strcmp(t->cur->path, t->path) == 0))
		return;
	if ((p = proc_start(t, t->path, t->pool)) == NULL) {
		t->young_deaths++;
		schedule_restart(t);
		return;
	}
	/* One of an older path serves until this one is ready. */
	if (t->cur == NULL)
		t->cur = p;
	else
		t->next = p;
}

/* Another start, one a second at most, backing off to one a minute
 * while each dies young. */
static void
schedule_restart(struct template *t)
{
	uint64_t delay = RESTART_MIN_MS, now, at;
	unsigned i;

	if (t->stopping || t->disabled ||
	    uv_is_active((uv_handle_t *)&t->timer))
		return;
	for (i = 0; i < t->young_deaths && delay < RESTART_MAX_MS; i++)
		delay *= 2;
	if (delay > RESTART_MAX_MS)
		delay = RESTART_MAX_MS;
	uv_update_time(t->loop);
	now = uv_now(t->loop);
	at = t->last_start + delay;
	uv_timer_start(&t->timer, restart_due, at > now ? at - now : 0, 0);
}

static unsigned
pool_size(unsigned pool)
{
	return pool == 0 ? 1 : pool > POOL_MAX ? POOL_MAX : pool;
}

int
template_start(
    uv_loop_t *loop, const char *path, unsigned pool, struct template **ret)
{
	struct template *t = calloc(1, sizeof(*t));

	if (t == NULL || (t->path = strdup(path)) == NULL) {
		free(t);
		return -ENOMEM;
	}
	t->loop = loop;
	t->pool = pool_size(pool);
	LIST_INIT(&t->procs);
	uv_timer_init(loop, &t->timer);
	t->timer.data = t;
	t->timer_open = true;
	t->cur = proc_start(t, path, t->pool);
	if (t->cur == NULL) {
		t->young_deaths++;
		schedule_restart(t);
	}
	*ret = t;
	return 0;
}

/* Whether P runs PATH as it is now: the same path, and the same file
 * unchanged since P started (inode, size, times: a rebuilt, replaced,
 * written or chmod'ed binary is not). */
static bool
runs_current(const struct tproc *p, const char *path)
{
	struct stat st;

	return p->st.st_ino != 0 && strcmp(p->path, path) == 0 &&
	    stat(path, &st) == 0 && st.st_dev == p->st.st_dev &&
	    st.st_ino == p->st.st_ino && st.st_size == p->st.st_size &&
	    st.st_mtim.tv_sec == p->st.st_mtim.tv_sec &&
	    st.st_mtim.tv_nsec == p->st.st_mtim.tv_nsec &&
	    st.st_ctim.tv_sec == p->st.st_ctim.tv_sec &&
	    st.st_ctim.tv_nsec == p->st.st_ctim.tv_nsec;
}

void
template_restart(struct template *t, const char *path, unsigned pool)
{
	char *copy;

	if (t->stopping || t->disabled)
		return;
	/* Nothing would take effect: the template serving runs this very
	 * binary with the same pool.  A new one is a uv_spawn(), a fork of
	 * the daemon on the loop (110 MB of it at 100k users), at every
	 * reload. */
	if (t->cur != NULL && t->next == NULL && t->pool == pool_size(pool) &&
	    !t->cur->stale && runs_current(t->cur, path))
		return;
	if ((copy = strdup(path)) == NULL)
		return;
	free(t->path);
	t->path = copy;
	t->pool = pool_size(pool);
	uv_timer_stop(&t->timer);
	if (t->next != NULL)
		retire(t->next);
	t->young_deaths = 0;
	t->next = proc_start(t, path, t->pool);
	/* Nothing serves: the new one does at once. */
	if (t->next != NULL && t->cur == NULL) {
		t->cur = t->next;
		t->next = NULL;
	}
	if (t->cur == NULL && t->next == NULL)
		schedule_restart(t);
}

static void
timer_closed(uv_handle_t *h)
{
	struct template *t = h->data;

	t->timer_open = false;
	maybe_free_template(t);
}

void
template_stop(struct template *t)
{
	struct tproc *p, *tmp;

	if (t == NULL || t->stopping)
		return;
	t->stopping = true;
	uv_close((uv_handle_t *)&t->timer, timer_closed);
	/* retire() may free a process with nothing left: walk safely. */
	for (p = LIST_FIRST(&t->procs); p != NULL; p = tmp) {
		tmp = LIST_NEXT(p, link);
		retire(p);
	}
}

bool
template_ready(const struct template *t, const char *path, size_t n)
{
	return t != NULL && t->cur != NULL && !t->cur->lost &&
	    strcmp(t->cur->path, path) == 0 && t->cur->nidle >= n;
}

int
template_fork(struct template *t, const char *const *argv, const int fds[3],
    template_exit_cb *cb, void *arg, struct template_child **ret)
{
	struct tproc *p = t->cur;
	struct template_child *c;
	struct tmplwire_msg m;
	size_t argc;
	char why[128];
	int r;

	if (t->stopping || p == NULL || p->lost || p->retiring ||
	    p->nidle == 0 || strcmp(argv[0], p->path) != 0)
		return -EAGAIN;
	for (argc = 0; argv[argc] != NULL; argc++)
		;
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return -ENOMEM;
	memset(&m, 0, sizeof(m));
	m.type = TMPLWIRE_START;
	m.id = p->idle[0].id;
	m.argv = (char **)argv + 1;
	m.argc = argc - 1;
	r = tmplwire_send(p->sock, &m, fds);
	if (r < 0) {
		free(c);
		if (r != -EAGAIN && r != -EINVAL && r != -EMSGSIZE) {
			snprintf(why, sizeof(why), "cannot write to it: %s",
			    strerror(-r));
			proc_lost(p, why);
		}
		return r;
	}
	/* The oldest idle child: the pool is a queue. */
	c->p = p;
	c->id = p->idle[0].id;
	c->pid = p->idle[0].pid;
	c->pidfd = p->idle[0].pidfd;
	c->cb = cb;
	c->arg = arg;
	memmove(&p->idle[0], &p->idle[1], --p->nidle * sizeof(*p->idle));
	LIST_INSERT_HEAD(&p->busy, c, link);
	*ret = c;
	return 0;
}

int
template_child_kill(struct template_child *c, int sig)
{
	if (syscall(SYS_pidfd_send_signal, c->pidfd, sig, NULL, 0) < 0)
		return -errno;
	return 0;
}

int
template_child_pid(const struct template_child *c)
{
	return c->pid;
}
