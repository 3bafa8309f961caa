/*
 * bench/worker_start: what a worker's start costs, seen from the daemon,
 * through scheduler/spawn.c exactly as the daemon drives it.
 *
 *   worker_start WORKER [--template] [--steps N] [--burst K]
 *       [--ballast MB] [--user USER]
 *
 * WORKER is a rotad-worker of a test_hooks build (the test provider).
 * Each step is a real one: spawn_start() with a verify request for the
 * test provider whose action, "clock", answers with the instant the
 * worker ran it (CLOCK_MONOTONIC, one clock for every process of the
 * host), so that nothing but the start is measured.  Per start:
 *
 *   start to request   from the instant before spawn_start() (the
 *                      daemon's decision) to the worker running its
 *                      request: the fork, the exec or not, the libraries,
 *                      the sandbox, reading and decoding the request
 *   spawn_start()      how long the call holds the loop (the daemon's
 *                      fork happens here when it forks itself)
 *   loop busy          the loop's time not spent waiting in epoll
 *                      (libuv's idle-time metric) over the whole step,
 *                      divided by the starts: every callback a worker
 *                      costs the daemon, its exit and answer included
 *   start to done      to spawn's callback: answered, exited, reaped
 *
 * --template starts the template (rotad-worker --template) first, as the
 * daemon does, and the workers are forks of it; without it each is a
 * fork and exec of this process.  --ballast MB allocates and touches
 * that much memory first: the daemon holds about 170 MB with 100k users,
 * and a fork's cost grows with the size of the process that forks.
 * --burst K starts K workers in one loop turn (max_workers' worth at
 * once) and waits for all of them, STEPS / K times.  Prints one JSON
 * line: each measure's median, p99 and max in microseconds.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <uv.h>

#include "secret.h"
#include "spawn.h"
#include "template.h"
#include "wire.h"

struct sample {
	uint64_t t0, t_call, t_read, t_done; /* ns, CLOCK_MONOTONIC */
	int status;
};

struct bench {
	uv_loop_t *loop;
	const char *argv[10];
	struct sample *v;
	size_t n, done, wave_left;
	int failures;
};

struct step {
	struct bench *b;
	struct sample *s;
};

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static struct secret *
request(void)
{
	struct wire_request q = { 0 };
	struct secret *s = NULL;

	q.op = WIRE_OP_VERIFY;
	q.provider = (char *)"test";
	q.login = (char *)"bench";
	q.test_action = (char *)"clock";
	q.tls_verify = true;
	if (secret_new("candidate", 9, &q.new_secret) < 0 ||
	    wire_request_encode(&q, &s) < 0) {
		fprintf(stderr, "worker_start: cannot encode a request\n");
		exit(1);
	}
	secret_free(q.new_secret);
	return s;
}

static void start_wave(struct bench *b, size_t k);

static void
step_done(int status, const struct wire_response *res, int exit_code, void *arg)
{
	struct step *st = arg;
	struct bench *b = st->b;
	const char *p;

	st->s->t_done = now_ns();
	st->s->status = status;
	if (status == 0 && (p = strstr(res->facts, "clock=")) != NULL)
		st->s->t_read = strtoull(p + 6, NULL, 10);
	else {
		b->failures++;
		fprintf(stderr, "worker_start: step failed: %d (exit %d)%s%s\n",
		    status, exit_code, res != NULL ? ": " : "",
		    res != NULL ? res->message : "");
	}
	free(st);
	b->done++;
	b->wave_left--;
}

static void
start_one(struct bench *b, struct sample *s)
{
	struct spawn_args a;
	struct step *st = calloc(1, sizeof(*st));
	int rc;

	if (st == NULL)
		exit(1);
	st->b = b;
	st->s = s;
	memset(&a, 0, sizeof(a));
	a.argv = b->argv;
	a.request = request();
	a.deadline_ms = 10000;
	a.grace_ms = 1000;
	s->t0 = now_ns();
	rc = spawn_start(b->loop, &a, step_done, st, NULL);
	s->t_call = now_ns();
	if (rc < 0) {
		fprintf(
		    stderr, "worker_start: spawn_start: %s\n", uv_strerror(rc));
		exit(1);
	}
}

static void
start_wave(struct bench *b, size_t k)
{
	size_t i, first = b->done;

	b->wave_left = k;
	for (i = 0; i < k; i++)
		start_one(b, &b->v[first + i]);
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* "name": {"p50": .., "p99": .., "max": ..} of V (N values, ns), in µs. */
static void
print_stats(const char *name, uint64_t *v, size_t n, bool last)
{
	qsort(v, n, sizeof(*v), cmp_u64);
	printf("\"%s\": {\"p50\": %.1f, \"p99\": %.1f, \"max\": %.1f}%s", name,
	    v[n / 2] / 1000.0,
	    v[(n * 99) / 100 < n ? (n * 99) / 100 : n - 1] / 1000.0,
	    v[n - 1] / 1000.0, last ? "" : ", ");
}

static void
usage(void)
{
	fprintf(stderr,
	    "usage: worker_start WORKER [--template] [--steps N] "
	    "[--burst K] [--ballast MB] [--user USER]\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "template", no_argument, NULL, 't' },
		{ "steps", required_argument, NULL, 'n' },
		{ "burst", required_argument, NULL, 'k' },
		{ "ballast", required_argument, NULL, 'b' },
		{ "user", required_argument, NULL, 'u' },
		{ NULL, 0, NULL, 0 },
	};
	struct bench b = { 0 };
	struct template *tmpl = NULL;
	const char *user = geteuid() == 0 ? "nobody" : getlogin();
	size_t steps = 200, burst = 1, ballast = 0, i;
	uint64_t *read, *call, *busy, *done, idle0, t0, waves;
	bool use_template = false;
	char parent[24];
	char *mem = NULL;
	int c;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 't':
			use_template = true;
			break;
		case 'n':
			steps = strtoul(optarg, NULL, 10);
			break;
		case 'k':
			burst = strtoul(optarg, NULL, 10);
			break;
		case 'b':
			ballast = strtoul(optarg, NULL, 10);
			break;
		case 'u':
			user = optarg;
			break;
		default:
			usage();
		}
	}
	if (optind + 1 != argc || steps == 0 || burst == 0 || user == NULL)
		usage();
	steps -= steps % burst;
	if (steps == 0)
		usage();

	/* The daemon's size: a heap it has written to. */
	if (ballast > 0) {
		mem = malloc(ballast << 20);
		if (mem == NULL)
			return 1;
		memset(mem, 1, ballast << 20);
	}
	b.loop = uv_default_loop();
	uv_loop_configure(b.loop, UV_METRICS_IDLE_TIME);
	snprintf(parent, sizeof(parent), "%ld", (long)getpid());
	b.argv[0] = argv[optind];
	b.argv[1] = "--provider";
	b.argv[2] = "test";
	b.argv[3] = "--user";
	b.argv[4] = user;
	b.argv[5] = "--parent";
	b.argv[6] = parent;
	b.argv[7] = NULL;
	b.n = steps;
	b.v = calloc(steps, sizeof(*b.v));
	read = calloc(steps, sizeof(*read));
	call = calloc(steps, sizeof(*call));
	done = calloc(steps, sizeof(*done));
	waves = steps / burst;
	busy = calloc(waves, sizeof(*busy));
	if (b.v == NULL || read == NULL || call == NULL || done == NULL ||
	    busy == NULL)
		return 1;

	if (use_template) {
		if (template_start(
			b.loop, argv[optind], (unsigned)burst, &tmpl) < 0) {
			fprintf(stderr,
			    "worker_start: the template did not "
			    "start\n");
			return 1;
		}
		spawn_set_template(tmpl);
		/* Until its pool is full: the daemon starts it long before
		 * the first step. */
		while (!template_ready(tmpl, argv[optind], burst))
			uv_run(b.loop, UV_RUN_ONCE);
	}

	for (i = 0; i < waves; i++) {
		idle0 = uv_metrics_idle_time(b.loop);
		t0 = now_ns();
		start_wave(&b, burst);
		while (b.wave_left > 0)
			uv_run(b.loop, UV_RUN_ONCE);
		busy[i] =
		    (now_ns() - t0) - (uv_metrics_idle_time(b.loop) - idle0);
		busy[i] /= burst;
		/* The next wave starts from a refilled pool, as a daemon's
		 * next fire would find it. */
		while (
		    use_template && !template_ready(tmpl, argv[optind], burst))
			uv_run(b.loop, UV_RUN_ONCE);
	}
	if (b.failures > 0)
		return 1;
	for (i = 0; i < steps; i++) {
		read[i] = b.v[i].t_read - b.v[i].t0;
		call[i] = b.v[i].t_call - b.v[i].t0;
		done[i] = b.v[i].t_done - b.v[i].t0;
	}
	printf("{\"mode\": \"%s\", \"ballast_mb\": %zu, \"steps\": %zu, "
	       "\"burst\": %zu, ",
	    use_template ? "template" : "exec", ballast, steps, burst);
	print_stats("start_to_request_us", read, steps, false);
	print_stats("spawn_start_us", call, steps, false);
	print_stats("loop_busy_per_start_us", busy, waves, false);
	print_stats("start_to_done_us", done, steps, true);
	printf("}\n");
	if (tmpl != NULL) {
		spawn_set_template(NULL);
		template_stop(tmpl);
		uv_run(b.loop, UV_RUN_DEFAULT);
	}
	free(mem);
	return 0;
}
