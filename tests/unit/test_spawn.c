/*
 * test_spawn: scheduler/spawn.c against stand-in workers (/bin/sh), on a
 * real libuv loop: an answer is decoded, silence and garbage are
 * refused, the deadline ends a worker that hangs, faults kill it, and
 * every handle is closed before the callback (the loop closes clean).
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
#include <unistd.h>

#include <cmocka.h>
#include <uv.h>

#include "secret.h"
#include "spawn.h"
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

/* A request worth sending: the stand-ins ignore it. */
static struct secret *
request(void)
{
	struct wire_request q = { 0 };
	struct secret *s = NULL;

	q.op = WIRE_OP_VERIFY;
	q.provider = "test";
	q.login = "someone";
	assert_int_equal(secret_new("candidate", 9, &q.new_secret), 0);
	assert_int_equal(wire_request_encode(&q, &s), 0);
	secret_free(q.new_secret);
	return s;
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

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_answer),
		cmocka_unit_test(test_answer_without_reading),
		cmocka_unit_test(test_silence_and_garbage),
		cmocka_unit_test(test_answer_then_failure),
		cmocka_unit_test(test_deadline),
		cmocka_unit_test(test_faults),
		cmocka_unit_test(test_reap_does_not_block),
		cmocka_unit_test(test_no_such_worker),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
