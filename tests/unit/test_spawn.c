/*
 * test_spawn: scheduler/spawn.c against stand-in workers (/bin/sh), on a
 * real libuv loop: an answer is decoded, silence and garbage are
 * refused, the deadline ends a worker that hangs, faults kill it, and
 * every handle is closed before the callback (the loop closes clean); a
 * batch's answers each reach their own callback, the ones the worker
 * never wrote get its end; a request held for the store's sync goes
 * out at its release, not before.
 *
 * Then the same through the worker template (scheduler/template.c, the
 * real rotad-worker --template of this build and its test provider): the
 * worker is the template's child, not ours; its deadline and the faults
 * reach it through its pidfd; a template killed mid-step ends the step
 * with its worker, starts go on by fork and exec, and another template
 * starts; and a start with no idle child falls back to fork and exec.
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <pwd.h>
#include <unistd.h>

#include <cmocka.h>
#include <uv.h>

#include "secret.h"
#include "spawn.h"
#include "template.h"
#include "wire.h"

struct outcome {
	int calls;
	int status;
	int exit_code;
	enum wire_class class;
	char message[WIRE_MESSAGE_MAX];
};

static void
done(int status, const struct wire_response *res, int exit_code, void *arg)
{
	struct outcome *o = arg;

	o->calls++;
	o->status = status;
	o->exit_code = exit_code;
	if (res != NULL) {
		o->class = res->class;
		snprintf(o->message, sizeof(o->message), "%s", res->message);
	}
}

/* A request for the test provider doing ACTION (NULL: nothing); the
 * stand-ins ignore it. */
static struct secret *
request_for(const char *action)
{
	struct wire_request q = { 0 };
	struct secret *s = NULL;

	q.op = WIRE_OP_VERIFY;
	q.provider = "test";
	q.login = "someone";
	q.test_action = (char *)action;
	q.tls_verify = true;
	assert_int_equal(secret_new("candidate", 9, &q.new_secret), 0);
	assert_int_equal(wire_request_encode(&q, &s), 0);
	secret_free(q.new_secret);
	return s;
}

static struct secret *
request(void)
{
	return request_for(NULL);
}

/* Run SCRIPT (sh -c) as the worker; return what the callback saw. */
static struct outcome
run(const char *script, uint64_t deadline_ms, enum spawn_fault fault)
{
	const char *argv[] = { "/bin/sh", "-c", script, NULL };
	struct spawn_args a = { 0 };
	struct outcome o = { 0 };
	uv_loop_t loop;

	assert_int_equal(uv_loop_init(&loop), 0);
	a.argv = argv;
	a.request = request();
	a.deadline_ms = deadline_ms;
	a.grace_ms = 200;
	a.fault = fault;
	assert_int_equal(spawn_start(&loop, &a, done, &o, NULL), 0);
	uv_run(&loop, UV_RUN_DEFAULT);
	/* Every handle spawn made is closed by now. */
	assert_int_equal(uv_loop_close(&loop), 0);
	assert_int_equal(o.calls, 1);
	return o;
}

static char answer_file[64];

/* A held request (spawn_args.hold): released by a timer, or never. */
struct held_run {
	uint64_t release_at_ms; /* 0: never */
	uint64_t gen;           /* released with this */
	size_t held_seen;       /* spawn_held() when the timer fired */
};

static void
release_cb(uv_timer_t *t)
{
	struct held_run *h = t->data;

	h->held_seen = spawn_held();
	spawn_release(h->gen);
	uv_close((uv_handle_t *)t, NULL);
}

static struct outcome
run_held(const char *script, uint64_t hold, struct held_run *h)
{
	const char *argv[] = { "/bin/sh", "-c", script, NULL };
	struct spawn_args a = { 0 };
	struct outcome o = { 0 };
	uv_timer_t timer;
	uv_loop_t loop;

	assert_int_equal(uv_loop_init(&loop), 0);
	a.argv = argv;
	a.request = request();
	a.deadline_ms = 1500;
	a.grace_ms = 200;
	a.hold = hold;
	assert_int_equal(spawn_start(&loop, &a, done, &o, NULL), 0);
	assert_int_equal(spawn_held(), 1);
	if (h->release_at_ms > 0) {
		uv_timer_init(&loop, &timer);
		timer.data = h;
		uv_timer_start(&timer, release_cb, h->release_at_ms, 0);
	}
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&loop), 0);
	assert_int_equal(o.calls, 1);
	assert_int_equal(spawn_held(), 0);
	return o;
}

/* An encoded response in a file, for `cat` to play the worker. */
static int
setup(void **state)
{
	struct wire_response res = { 0 };
	uint8_t *buf = NULL;
	size_t len = 0;
	FILE *f;
	int fd;

	(void)state;
	signal(SIGPIPE, SIG_IGN);
	snprintf(answer_file, sizeof(answer_file), "/tmp/test_spawn.XXXXXX");
	fd = mkstemp(answer_file);
	assert_true(fd >= 0);
	res.class = WIRE_CLASS_AUTH;
	snprintf(res.message, sizeof(res.message), "refused, as asked");
	assert_int_equal(wire_response_encode(&res, &buf, &len), 0);
	f = fdopen(fd, "w");
	assert_non_null(f);
	assert_int_equal(fwrite(buf, 1, len, f), len);
	fclose(f);
	free(buf);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	unlink(answer_file);
	return 0;
}

static void
test_answer(void **state)
{
	char script[128];
	struct outcome o;

	(void)state;
	/* Read the request to its end, then answer. */
	snprintf(script, sizeof(script), "cat >/dev/null; cat %s", answer_file);
	o = run(script, 5000, SPAWN_FAULT_NONE);
	assert_int_equal(o.status, 0);
	assert_int_equal(o.exit_code, 0);
	assert_int_equal(o.class, WIRE_CLASS_AUTH);
	assert_string_equal(o.message, "refused, as asked");
}

/*
 * A request held for the store's sync (spawn_args.hold): the worker runs
 * but reads nothing until spawn_release() of that generation or more; a
 * release of less keeps it; a worker ended while held (its deadline) is
 * off the list, its request never sent.
 */
static void
test_hold(void **state)
{
	struct held_run h = { 0 };
	char script[160];
	struct outcome o;

	(void)state;
	/* Answers only when the request came whole: bytes, then EOF. */
	snprintf(script, sizeof(script),
	    "n=$(wc -c); [ \"$n\" -gt 0 ] && cat %s", answer_file);
	h.release_at_ms = 100;
	h.gen = 7;
	o = run_held(script, 7, &h);
	assert_int_equal(h.held_seen, 1);
	assert_int_equal(o.status, 0);
	assert_int_equal(o.class, WIRE_CLASS_AUTH);

	/* Released up to 7 only: a hold of 9 waits on to its deadline. */
	h.gen = 8;
	o = run_held(script, 9, &h);
	assert_int_equal(h.held_seen, 1);
	assert_int_equal(o.status, -ETIMEDOUT);

	/* Never released: the deadline ends it, nothing left held. */
	h.release_at_ms = 0;
	o = run_held(script, 20, &h);
	assert_int_equal(o.status, -ETIMEDOUT);

	/* A hold already covered goes out at once. */
	o = run(script, 5000, SPAWN_FAULT_NONE);
	assert_int_equal(o.status, 0);
}

static void
test_answer_without_reading(void **state)
{
	char script[128];
	struct outcome o;

	(void)state;
	/* A worker that answers at once and never reads: the request write
	 * may fail (EPIPE), the answer still counts. */
	snprintf(script, sizeof(script), "cat %s", answer_file);
	o = run(script, 5000, SPAWN_FAULT_NONE);
	assert_int_equal(o.status, 0);
	assert_int_equal(o.class, WIRE_CLASS_AUTH);
}

static void
test_silence_and_garbage(void **state)
{
	struct outcome o;

	(void)state;
	o = run("cat >/dev/null", 5000, SPAWN_FAULT_NONE);
	assert_int_equal(o.status, -EBADMSG);
	o = run("cat >/dev/null; echo not a response", 5000, SPAWN_FAULT_NONE);
	assert_int_equal(o.status, -EBADMSG);
	/* A valid length prefix, then less than it promised. */
	o = run("printf '\\000\\000\\000\\020abc'", 5000, SPAWN_FAULT_NONE);
	assert_int_equal(o.status, -EBADMSG);
}

static void
test_answer_then_failure(void **state)
{
	char script[128];
	struct outcome o;

	(void)state;
	/* An answer from a worker that then exits non-zero is not trusted. */
	snprintf(script, sizeof(script), "cat %s; exit 3", answer_file);
	o = run(script, 5000, SPAWN_FAULT_NONE);
	assert_int_equal(o.status, -EBADMSG);
	assert_int_equal(o.exit_code, 3);
}

/* Run SCRIPT as the worker of a batch of N requests; OUT[i] is what
 * the callback saw of request i. */
static void
run_batch(const char *script, uint64_t deadline_ms, enum spawn_fault fault,
    struct outcome *out, size_t n)
{
	const char *argv[] = { "/bin/sh", "-c", script, NULL };
	struct spawn_args a = { 0 };
	struct secret *one = request(), *all = NULL;
	void *args[8];
	uv_loop_t loop;
	size_t i, len = secret_len(one);

	assert_true(n <= 8);
	assert_int_equal(secret_new(NULL, n * len, &all), 0);
	for (i = 0; i < n; i++) {
		memcpy((char *)secret_buf(all) + i * len, secret_data(one), len);
		memset(&out[i], 0, sizeof(out[i]));
		args[i] = &out[i];
	}
	secret_free(one);
	assert_int_equal(uv_loop_init(&loop), 0);
	a.argv = argv;
	a.request = all;
	a.n = n;
	a.args = args;
	a.deadline_ms = deadline_ms;
	a.grace_ms = 200;
	a.fault = fault;
	assert_int_equal(spawn_start(&loop, &a, done, NULL, NULL), 0);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&loop), 0);
	for (i = 0; i < n; i++)
		assert_int_equal(out[i].calls, 1);
}

static void
test_batch(void **state)
{
	struct secret *one = request();
	size_t len = secret_len(one);
	struct outcome o[3];
	char script[256];
	int i;

	(void)state;
	secret_free(one);
	/* Three requests arrive one after the other, three answers go
	 * back, each to its own callback. */
	snprintf(script, sizeof(script),
	    "[ \"$(wc -c)\" = %zu ] && cat %s %s %s", 3 * len, answer_file,
	    answer_file, answer_file);
	run_batch(script, 5000, SPAWN_FAULT_NONE, o, 3);
	for (i = 0; i < 3; i++) {
		assert_int_equal(o[i].status, 0);
		assert_int_equal(o[i].class, WIRE_CLASS_AUTH);
	}
	/* Two answers, then the worker fails: the third has none. */
	snprintf(script, sizeof(script), "cat >/dev/null; cat %s %s; exit 3",
	    answer_file, answer_file);
	run_batch(script, 5000, SPAWN_FAULT_NONE, o, 3);
	assert_int_equal(o[0].status, 0);
	assert_int_equal(o[1].status, 0);
	assert_int_equal(o[2].status, -EBADMSG);
	assert_int_equal(o[2].exit_code, 3);
	/* One answer, then it hangs past the deadline: the answer counts,
	 * the others end with the deadline. */
	snprintf(script, sizeof(script), "cat >/dev/null; cat %s; exec sleep 10",
	    answer_file);
	run_batch(script, 300, SPAWN_FAULT_NONE, o, 3);
	assert_int_equal(o[0].status, 0);
	assert_int_equal(o[1].status, -ETIMEDOUT);
	assert_int_equal(o[2].status, -ETIMEDOUT);
	/* Half an answer: it and the rest have none. */
	run_batch("cat >/dev/null; printf '\\000\\000\\000\\020abc'", 5000,
	    SPAWN_FAULT_NONE, o, 2);
	assert_int_equal(o[0].status, -EBADMSG);
	assert_int_equal(o[1].status, -EBADMSG);
	/* Killed as it answers (the fault hook): every answer is lost. */
	snprintf(script, sizeof(script), "cat >/dev/null; cat %s %s; sleep 1",
	    answer_file, answer_file);
	run_batch(script, 5000, SPAWN_FAULT_KILL_LATE, o, 2);
	assert_int_equal(o[0].status, -EPIPE);
	assert_int_equal(o[1].status, -EPIPE);
}

static void
test_deadline(void **state)
{
	struct outcome o;

	(void)state;
	/* SIGTERM at the deadline ends it. */
	o = run("exec sleep 30", 200, SPAWN_FAULT_NONE);
	assert_int_equal(o.status, -ETIMEDOUT);
	assert_int_equal(o.exit_code, 128 + SIGTERM);
	/* One that ignores SIGTERM gets SIGKILL after the grace period. */
	o = run(
	    "trap '' TERM; while :; do sleep 1; done", 200, SPAWN_FAULT_NONE);
	assert_int_equal(o.status, -ETIMEDOUT);
}

static void
test_faults(void **state)
{
	char script[128];
	struct outcome o;

	(void)state;
	o = run("exec sleep 30", 5000, SPAWN_FAULT_KILL_EARLY);
	assert_int_not_equal(o.status, 0);
	assert_int_equal(o.exit_code, 128 + SIGKILL);
	/* Killed once its answer has begun: the answer is lost. */
	snprintf(script, sizeof(script), "cat %s; exec sleep 30", answer_file);
	o = run(script, 5000, SPAWN_FAULT_KILL_LATE);
	assert_int_equal(o.status, -EPIPE);
	assert_int_equal(o.exit_code, 128 + SIGKILL);
}

struct order {
	struct outcome o;
	int seq, timer_seq, done_seq;
	uint64_t start, timer_at, done_at;
	uv_loop_t *loop;
	struct spawn *sp;
	bool alive; /* the worker, when the timer fired */
};

static void
order_done(
    int status, const struct wire_response *res, int exit_code, void *arg)
{
	struct order *w = arg;

	done(status, res, exit_code, &w->o);
	w->done_seq = ++w->seq;
	w->done_at = uv_now(w->loop) - w->start;
}

static void
order_timer(uv_timer_t *t)
{
	struct order *w = t->data;

	siginfo_t si;
	int r;

	w->timer_seq = ++w->seq;
	w->timer_at = uv_now(w->loop) - w->start;
	/* Look without reaping: that stays spawn's (libuv's) to do. */
	memset(&si, 0, sizeof(si));
	r = waitid(
	    P_PID, (id_t)spawn_pid(w->sp), &si, WEXITED | WNOHANG | WNOWAIT);
	w->alive = r == 0 && si.si_pid == 0;
}

/*
 * The loop never waits for a worker: one that closes its output at once
 * but exits only a second later must not hold up a 50 ms timer, as a
 * blocking wait for its exit at EOF would.  The order is asserted (the
 * timer fires while the worker still runs, then the callback comes), the
 * times only printed.
 */
static void
test_reap_does_not_block(void **state)
{
	const char *argv[] = { "/bin/sh", "-c", "exec >&-; exec sleep 1",
		NULL };
	struct spawn_args a = { 0 };
	struct order w = { 0 };
	uv_timer_t timer;
	uv_loop_t loop;

	(void)state;
	assert_int_equal(uv_loop_init(&loop), 0);
	w.loop = &loop;
	w.start = uv_now(&loop);
	a.argv = argv;
	a.request = request();
	a.deadline_ms = 5000;
	a.grace_ms = 200;
	assert_int_equal(spawn_start(&loop, &a, order_done, &w, &w.sp), 0);
	assert_int_equal(uv_timer_init(&loop, &timer), 0);
	timer.data = &w;
	assert_int_equal(uv_timer_start(&timer, order_timer, 50, 0), 0);
	uv_run(&loop, UV_RUN_DEFAULT);
	uv_close((uv_handle_t *)&timer, NULL);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&loop), 0);
	print_message("timer at %llu ms, worker done at %llu ms\n",
	    (unsigned long long)w.timer_at, (unsigned long long)w.done_at);
	assert_int_equal(w.o.calls, 1);
	assert_int_equal(w.o.status, -EBADMSG); /* it never answered */
	assert_int_equal(w.o.exit_code, 0);
	assert_true(w.alive);
	assert_int_equal(w.timer_seq, 1);
	assert_int_equal(w.done_seq, 2);
}

static void
test_no_such_worker(void **state)
{
	const char *argv[] = { "/nonexistent/rotad-worker", NULL };
	struct spawn_args a = { 0 };
	struct outcome o = { 0 };
	uv_loop_t loop;

	(void)state;
	assert_int_equal(uv_loop_init(&loop), 0);
	a.argv = argv;
	a.request = request();
	a.deadline_ms = 1000;
	assert_int_equal(spawn_start(&loop, &a, done, &o, NULL), UV_ENOENT);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&loop), 0);
	assert_int_equal(o.calls, 0); /* and the request was freed */
}

/* ---- through the worker template ---- */

struct tctx {
	uv_loop_t loop;
	uv_timer_t tick; /* so that UV_RUN_ONCE returns now and then */
	struct template *t;
	const char *argv[8];
	char parent[24];
};

static void
tick(uv_timer_t *t)
{
	(void)t;
}

/* The worker user: nobody as root; else ourselves (the worker then has
 * nothing to switch, and accepts). */
static const char *
worker_user(void)
{
	struct passwd *pw;

	if (geteuid() == 0)
		return "nobody";
	pw = getpwuid(geteuid());
	return pw != NULL ? pw->pw_name : "nobody";
}

/* Run C's loop until *CALLS is not 0 or, CALLS NULL, until T has READY
 * children idle; 20 s at most. */
static void
run_until(
    struct tctx *c, const int *calls, const struct template *t, size_t ready)
{
	uint64_t end = uv_hrtime() + 20000000000ULL;

	while (calls != NULL ? *calls == 0
			     : !template_ready(t, ROTAD_WORKER, ready)) {
		assert_true(uv_hrtime() < end);
		uv_run(&c->loop, UV_RUN_ONCE);
	}
}

static void
tstart(struct tctx *c, unsigned pool)
{
	memset(c, 0, sizeof(*c));
	assert_int_equal(uv_loop_init(&c->loop), 0);
	uv_timer_init(&c->loop, &c->tick);
	uv_timer_start(&c->tick, tick, 20, 20);
	assert_int_equal(
	    template_start(&c->loop, ROTAD_WORKER, pool, &c->t), 0);
	spawn_set_template(c->t);
	run_until(c, NULL, c->t, pool);
	snprintf(c->parent, sizeof(c->parent), "%ld", (long)getpid());
	c->argv[0] = ROTAD_WORKER;
	c->argv[1] = "--provider";
	c->argv[2] = "test";
	c->argv[3] = "--user";
	c->argv[4] = worker_user();
	c->argv[5] = "--parent";
	c->argv[6] = c->parent;
	c->argv[7] = NULL;
}

static void
tstop(struct tctx *c)
{
	spawn_set_template(NULL);
	template_stop(c->t);
	uv_close((uv_handle_t *)&c->tick, NULL);
	uv_run(&c->loop, UV_RUN_DEFAULT);
	/* Every handle the template and spawn made is closed. */
	assert_int_equal(uv_loop_close(&c->loop), 0);
}

/* PID's parent, from /proc/PID/stat; 0 when it is gone. */
static int
parent_of(int pid)
{
	char path[64], buf[512], *p;
	int ppid = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	if ((f = fopen(path, "re")) == NULL)
		return 0;
	if (fgets(buf, sizeof(buf), f) != NULL &&
	    (p = strrchr(buf, ')')) != NULL)
		(void)sscanf(p + 2, "%*c %d", &ppid);
	fclose(f);
	return ppid;
}

/* One step of the test provider doing ACTION; *RET_PPID (may be NULL) the
 * worker's parent as it started. */
static struct outcome
tstep(struct tctx *c, const char *action, uint64_t deadline_ms,
    enum spawn_fault fault, int *ret_ppid)
{
	struct spawn_args a = { 0 };
	struct outcome o = { 0 };
	struct spawn *sp = NULL;

	a.argv = c->argv;
	a.request = request_for(action);
	a.deadline_ms = deadline_ms;
	a.grace_ms = 200;
	a.fault = fault;
	assert_int_equal(spawn_start(&c->loop, &a, done, &o, &sp), 0);
	if (ret_ppid != NULL)
		*ret_ppid = parent_of(spawn_pid(sp));
	run_until(c, &o.calls, NULL, 0);
	assert_int_equal(o.calls, 1);
	return o;
}

/* After a failed test: its template is on a loop that is gone. */
static int
forget(void **state)
{
	(void)state;
	spawn_set_template(NULL);
	return 0;
}

/* Without test_hooks the worker has no test provider: nothing to run. */
static bool
have_test_provider(const struct outcome *o)
{
	return !(o->status == 0 && o->class == WIRE_CLASS_FATAL &&
	    strstr(o->message, "unknown provider") != NULL);
}

static void
test_template_answer(void **state)
{
	struct outcome o;
	struct tctx c;
	int ppid = 0;

	(void)state;
	tstart(&c, 2);
	o = tstep(&c, "clock", 10000, SPAWN_FAULT_NONE, &ppid);
	if (!have_test_provider(&o)) {
		tstop(&c);
		skip();
	}
	assert_int_equal(o.status, 0);
	assert_int_equal(o.exit_code, 0);
	assert_int_equal(o.class, WIRE_CLASS_NONE);
	/* A fork of the template, not of this process. */
	assert_true(ppid != 0 && ppid != getpid());
	assert_int_equal(parent_of(ppid), getpid());
	tstop(&c);
}

static void
test_template_deadline_and_faults(void **state)
{
	struct outcome o;
	struct tctx c;

	(void)state;
	tstart(&c, 2);
	o = tstep(&c, "hang", 300, SPAWN_FAULT_NONE, NULL);
	if (!have_test_provider(&o)) {
		tstop(&c);
		skip();
	}
	assert_int_equal(o.status, -ETIMEDOUT);
	assert_int_equal(o.exit_code, 128 + SIGTERM);
	o = tstep(&c, "clock", 10000, SPAWN_FAULT_KILL_EARLY, NULL);
	assert_int_not_equal(o.status, 0);
	assert_int_equal(o.exit_code, 128 + SIGKILL);
	/* Killed once its answer has begun: the answer is lost. */
	o = tstep(&c, "clock", 10000, SPAWN_FAULT_KILL_LATE, NULL);
	assert_int_equal(o.status, -EPIPE);
	tstop(&c);
}

static void
test_template_dies(void **state)
{
	struct spawn_args a = { 0 };
	struct outcome o = { 0 };
	struct spawn *sp = NULL;
	struct tctx c;
	uint64_t t0;
	int tpid;

	(void)state;
	tstart(&c, 1);
	o = tstep(&c, "clock", 10000, SPAWN_FAULT_NONE, NULL);
	if (!have_test_provider(&o)) {
		tstop(&c);
		skip();
	}
	run_until(&c, NULL, c.t, 1);
	/* Mid-step, the template is killed: the step ends at once (not at
	 * its deadline), its worker killed. */
	memset(&o, 0, sizeof(o));
	a.argv = c.argv;
	a.request = request_for("hang");
	a.deadline_ms = 15000;
	a.grace_ms = 200;
	assert_int_equal(spawn_start(&c.loop, &a, done, &o, &sp), 0);
	tpid = parent_of(spawn_pid(sp));
	assert_true(tpid > 0 && tpid != getpid());
	t0 = uv_hrtime();
	assert_int_equal(kill(tpid, SIGKILL), 0);
	run_until(&c, &o.calls, NULL, 0);
	assert_true(uv_hrtime() - t0 < 5000000000ULL);
	assert_int_not_equal(o.status, 0);
	assert_int_equal(o.exit_code, 128 + SIGKILL);
	/* Meanwhile, fork and exec: the worker is our child. */
	{
		int ppid = 0;

		o = tstep(&c, "clock", 10000, SPAWN_FAULT_NONE, &ppid);
		assert_int_equal(o.status, 0);
		assert_int_equal(ppid, getpid());
	}
	/* Then another template serves. */
	run_until(&c, NULL, c.t, 1);
	{
		int ppid = 0;

		o = tstep(&c, "clock", 10000, SPAWN_FAULT_NONE, &ppid);
		assert_int_equal(o.status, 0);
		assert_true(ppid != getpid() && ppid != tpid);
	}
	tstop(&c);
}

static void
test_template_pool_empty(void **state)
{
	struct spawn_args a = { 0 };
	struct outcome o[2] = { { 0 } };
	struct spawn *sp[2];
	struct tctx c;
	int i, ppid[2];

	(void)state;
	tstart(&c, 1);
	o[0] = tstep(&c, "clock", 10000, SPAWN_FAULT_NONE, NULL);
	if (!have_test_provider(&o[0])) {
		tstop(&c);
		skip();
	}
	run_until(&c, NULL, c.t, 1);
	memset(o, 0, sizeof(o));
	/* Two at once from a pool of one: the second is fork and exec'd. */
	for (i = 0; i < 2; i++) {
		a.argv = c.argv;
		a.request = request_for("clock");
		a.deadline_ms = 10000;
		a.grace_ms = 200;
		assert_int_equal(
		    spawn_start(&c.loop, &a, done, &o[i], &sp[i]), 0);
		ppid[i] = parent_of(spawn_pid(sp[i]));
	}
	run_until(&c, &o[0].calls, NULL, 0);
	run_until(&c, &o[1].calls, NULL, 0);
	assert_int_equal(o[0].status, 0);
	assert_int_equal(o[1].status, 0);
	assert_true(ppid[0] != getpid());
	assert_int_equal(ppid[1], getpid());
	tstop(&c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_answer),
		cmocka_unit_test(test_answer_without_reading),
		cmocka_unit_test(test_hold),
		cmocka_unit_test(test_silence_and_garbage),
		cmocka_unit_test(test_answer_then_failure),
		cmocka_unit_test(test_deadline),
		cmocka_unit_test(test_batch),
		cmocka_unit_test(test_faults),
		cmocka_unit_test(test_reap_does_not_block),
		cmocka_unit_test(test_no_such_worker),
		cmocka_unit_test_teardown(test_template_answer, forget),
		cmocka_unit_test_teardown(
		    test_template_deadline_and_faults, forget),
		cmocka_unit_test_teardown(test_template_dies, forget),
		cmocka_unit_test_teardown(test_template_pool_empty, forget),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
