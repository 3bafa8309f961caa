/*
 * daemon.c: the scheduler.
 *
 * One libuv loop, no threads.  The big picture:
 *
 *   schedule:  every managed user's next fire instant sits in one min-heap;
 *              one timerfd on CLOCK_REALTIME (absolute, cancelled when the
 *              clock is set) is armed for the earliest.  A wall-clock timer
 *              rather than libuv's monotonic one means a suspend, a resume
 *              or an NTP step cannot make a fire late or early; the cancel
 *              tells us the clock jumped so the heap can be recomputed.
 *              Idle, the daemon sleeps in epoll: no polling.
 *   queue:     a fire or a trigger makes a run; runs wait in a FIFO until
 *              a worker slot is free overall (max_workers) and on the
 *              resource (max_concurrent).  A user has at most one run:
 *              another trigger joins it (coalesced).
 *   run:       prepare (new secret stored pending with its run row) ->
 *              apply -> verify -> commit -> scripts, each step persisted;
 *              apply, verify and each script in a fresh sandboxed
 *              rotad-worker (spawn.c); unsure outcomes go through
 *              recovery (see the steps comment below).
 *   retry:     by error class: transient -> exponential backoff with full
 *              jitter up to `retry.attempts`; auth -> reconcile once;
 *              policy -> regenerate once; fatal -> stop.  A cycle that
 *              runs out of attempts fails; the next fire tries again.
 *   persist:   a fire is written to the store when its run starts, in the
 *              same transaction as the run row and the pending secret; a
 *              fire not yet started stays recorded as due, so a restart
 *              runs it (misfire: run_once) instead of losing it.
 *   reload:    SIGHUP or `rotactl reload`: load everything, swap only if
 *              there is no error.  Runs in flight keep the generation they
 *              started with (refcounted).
 *   stop:      SIGTERM: no new runs; runs in flight finish or reach a safe
 *              state before a deadline (their workers are then killed and
 *              recovery finishes them at the next start); queued fires
 *              stay due in the store.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <systemd/sd-daemon.h>
#include <uv.h>

#include "backoff.h"
#include "config.h"
#include "control.h"
#include "cronspec.h"
#include "daemon.h"
#include "heap.h"
#include "jobs.h"
#include "keys.h"
#include "log.h"
#include "policy.h"
#include "protocol.h"
#include "rotation.h"
#include "schedule.h"
#include "secret.h"
#include "script_input.h"
#include "spawn.h"
#include "store.h"
#include "tz.h"
#include "wire.h"

/* glibc's sys/queue.h lacks the _SAFE walks of the BSDs. */
#ifndef TAILQ_FOREACH_SAFE
#define TAILQ_FOREACH_SAFE(var, head, field, tvar)                             \
	for ((var) = TAILQ_FIRST((head));                                      \
	     (var) && ((tvar) = TAILQ_NEXT((var), field), 1); (var) = (tvar))
#endif
#ifndef LIST_FOREACH_SAFE
#define LIST_FOREACH_SAFE(var, head, field, tvar)                              \
	for ((var) = LIST_FIRST((head));                                       \
	     (var) && ((tvar) = LIST_NEXT((var), field), 1); (var) = (tvar))
#endif

#define STOP_DEADLINE_MS 30000
#define CLOCK_BACK_MAX (3 * 3600)
#define METRICS_PERIOD_MS 15000
#define RUNS_KEPT 64 /* finished runs kept in memory for `rotactl run` */

/* A configuration generation, shared by the runs that started under it. */
struct gen {
	struct job_set *set;
	int refs;
	int number;
};

struct run;

/* Runtime state of a resource: how many runs it has going. */
struct rstate {
	char *name;
	int running;
};

/* Runtime state of a user; survives reloads, matched by name. */
struct ustate {
	char *name;
	struct job_user *user; /* in the current generation; NULL: removed */
	struct heap_node node; /* next fire, when scheduled */
	int64_t last_fire;
	int64_t last_success;
	enum store_run_state last_outcome;
	char last_run[STORE_RUN_ID_LEN + 1];
	bool paused;
	struct run *run; /* at most one */
	int test_calls;  /* the test provider's calls so far */
};

enum run_kind {
	RUN_ROTATE,
	RUN_VERIFY,
};

enum run_phase {
	PHASE_QUEUED,
	PHASE_RUNNING,
	PHASE_RETRY_WAIT,
	PHASE_DONE,
};

/* Where a run found unfinished at start resumes (recover_one()); the
 * steps themselves are the engine's (rotation.h). */
enum step {
	STEP_START, /* not a recovered run: from the start */
	STEP_COMMIT,
	STEP_PROBE_PENDING,
};

struct waiter {
	struct control_conn *conn;
	LIST_ENTRY(waiter) link;
};

struct run {
	struct daemon *d;
	enum run_kind kind;
	enum run_phase phase;
	struct rotation rot; /* the protocol's state: rotation.c decides */
	struct ustate *us;
	struct rstate *rs;
	struct gen *gen;
	struct job_user *user; /* in gen */
	int64_t fire;          /* the scheduled instant; 0 when triggered */
	int64_t version;       /* the pending secret's, or 0 */
	bool created;          /* the store has its row */
	/* Set by recover_one() for a run found unfinished: where it resumes
	 * and why recovery began, handed to the engine at its first start. */
	enum step resume;
	enum store_error_class fail_class;
	char fail_msg[STORE_MESSAGE_MAX + 1];
	struct spawn *sp;   /* the step's worker, while one runs */
	bool abandoned;     /* the stop deadline passed while sp ran */
	bool scripted_fail; /* the test provider was told to fail */
	int outputs;        /* script outputs kept so far */
	const struct job_script *cur_script; /* the one a worker runs */
	struct store_run rec;
	uv_timer_t timer;
	LIST_HEAD(, waiter) waiters;
	TAILQ_ENTRY(run) queue;
	TAILQ_ENTRY(run) done;
};

struct daemon {
	uv_loop_t *loop;
	const char *config;
	bool foreground;
	struct gen *gen;
	int generations;
	struct store *store;
	struct control *control;
	struct control_acl acl;

	struct heap heap;
	int tfd;
	uv_poll_t tfd_poll;
	int64_t armed; /* the instant the timerfd is set for, 0: none */

	struct ustate **users; /* open-addressing hash by name */
	size_t users_cap, nusers;
	struct rstate **resources;
	size_t resources_cap, nresources;

	TAILQ_HEAD(, run) queue;
	TAILQ_HEAD(, run) finished;
	int nqueued, nrunning, nfinished;

	uv_signal_t sighup, sigterm, sigint;
	uv_timer_t stop_timer, watchdog, metrics_timer;
	bool stopping;
	int exit_status;
	int64_t started;

	/* metrics */
	uint64_t runs_committed, runs_failed, runs_verified, retries, fires,
	    misfires, coalesced;
};

static void run_step(struct run *r);
static void recover_unfinished(struct daemon *d);
static struct run *run_alloc(
    struct daemon *d, struct ustate *us, enum run_kind kind, int64_t fire);
static void dispatch_queue(struct daemon *d);
static void arm(struct daemon *d);
static void maybe_finish_stop(struct daemon *d);

/* ---- small helpers ---- */

static int64_t
now_s(void)
{
	return (int64_t)time(NULL);
}

static void
iso(int64_t t, const struct tz *tz, char *buf, size_t size)
{
	int32_t off = tz != NULL ? tz_offset_at(tz, t) : 0;
	int32_t a = off < 0 ? -off : off;
	struct cronspec_tm tm;

	cronspec_civil_from_seconds(t + off, &tm);
	snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d%c%02d:%02d", tm.year,
	    tm.month, tm.day, tm.hour, tm.minute, tm.second,
	    off < 0 ? '-' : '+', a / 3600, a / 60 % 60);
}

static json_t *
json_time(int64_t t)
{
	char buf[40];

	if (t == 0)
		return json_null();
	iso(t, NULL, buf, sizeof(buf));
	return json_string(buf);
}

static uint64_t
hash(const char *s)
{
	uint64_t h = 1469598103934665603ull;

	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

/* Find NAME in an open-addressing table of structs whose first member is
 * the name; returns the slot (empty or matching). */
static size_t
slot_of(void **table, size_t cap, const char *name)
{
	size_t i = hash(name) & (cap - 1);

	while (table[i] != NULL && strcmp(*(char **)table[i], name) != 0)
		i = (i + 1) & (cap - 1);
	return i;
}

static void
table_grow(void ***table, size_t *cap, size_t n)
{
	void **old = *table, **t;
	size_t oldcap = *cap, ncap, i;

	if ((n + 1) * 2 <= oldcap)
		return;
	ncap = oldcap == 0 ? 64 : oldcap * 2;
	t = calloc(ncap, sizeof(*t));
	if (t == NULL)
		abort();
	for (i = 0; i < oldcap; i++)
		if (old[i] != NULL)
			t[slot_of(t, ncap, *(char **)old[i])] = old[i];
	free(old);
	*table = t;
	*cap = ncap;
}

static struct ustate *
user_find(struct daemon *d, const char *name)
{
	if (d->users_cap == 0)
		return NULL;
	return d->users[slot_of((void **)d->users, d->users_cap, name)];
}

static struct ustate *
user_get(struct daemon *d, const char *name)
{
	struct ustate *us = user_find(d, name);

	if (us != NULL)
		return us;
	table_grow((void ***)&d->users, &d->users_cap, d->nusers);
	us = calloc(1, sizeof(*us));
	if (us == NULL || (us->name = strdup(name)) == NULL)
		abort();
	heap_node_init(&us->node);
	d->users[slot_of((void **)d->users, d->users_cap, name)] = us;
	d->nusers++;
	return us;
}

static struct rstate *
resource_get(struct daemon *d, const char *name)
{
	struct rstate *rs;
	size_t i;

	if (d->resources_cap > 0) {
		rs = d->resources[slot_of(
		    (void **)d->resources, d->resources_cap, name)];
		if (rs != NULL)
			return rs;
	}
	table_grow((void ***)&d->resources, &d->resources_cap, d->nresources);
	rs = calloc(1, sizeof(*rs));
	if (rs == NULL || (rs->name = strdup(name)) == NULL)
		abort();
	i = slot_of((void **)d->resources, d->resources_cap, name);
	d->resources[i] = rs;
	d->nresources++;
	return rs;
}

static struct ustate *
node_user(struct heap_node *n)
{
	return (struct ustate *)((char *)n - offsetof(struct ustate, node));
}

static void
gen_put(struct gen *g)
{
	if (g == NULL || --g->refs > 0)
		return;
	jobs_free(g->set);
	free(g);
}

static bool
schedulable(const struct job_user *u)
{
	return u != NULL && u->managed;
}

/* ---- the schedule ---- */

/* Put US at its next fire after AFTER, or out of the heap if none. */
static void
reschedule(struct daemon *d, struct ustate *us, int64_t after)
{
	int64_t next, taken = us->last_fire;

	/* After the clock went back (an NTP step, a corrected RTC) a fire
	 * already taken is not taken again, as cron does for jumps of up to
	 * 3 h.  A bigger jump back starts from the new time rather than
	 * waiting, perhaps for years, for a fire that a wrong clock took. */
	if (us->run != NULL && us->run->fire > taken)
		taken = us->run->fire;
	if (taken > after && taken - after <= CLOCK_BACK_MAX)
		after = taken;
	if (!schedulable(us->user) ||
	    schedule_next(us->user->settings.schedule, after, &next) < 0) {
		heap_remove(&d->heap, &us->node);
		return;
	}
	if (us->node.index == HEAP_NONE) {
		us->node.key = next;
		if (heap_insert(&d->heap, &us->node) < 0)
			abort();
	} else {
		heap_update(&d->heap, &us->node, next);
	}
}

static int64_t
next_fire(const struct ustate *us)
{
	return us->node.index == HEAP_NONE ? 0 : us->node.key;
}

/*
 * Persist US's schedule state.  A fire taken but whose run has not started
 * stays recorded as the next fire (it is due), so that a restart runs it.
 */
static void
persist_schedule(struct daemon *d, struct ustate *us)
{
	struct store_schedule s = { 0 };

	s.next_fire = us->run != NULL && us->run->fire != 0 ? us->run->fire
							    : next_fire(us);
	s.last_fire = us->last_fire;
	s.last_outcome = us->last_outcome;
	snprintf(s.last_run_id, sizeof(s.last_run_id), "%s", us->last_run);
	if (store_schedule_put(d->store, us->name, &s) < 0)
		log_msg(LOG_ERR, MSG_STORE, "schedule state of %s: %s",
		    us->name, store_last_error(d->store));
}

static void
arm(struct daemon *d)
{
	struct heap_node *top = heap_top(&d->heap);
	struct itimerspec its = { 0 };

	if (top == NULL) {
		/* Nothing due ever: still watch the clock being set. */
		its.it_value.tv_sec = (time_t)INT32_MAX * 2;
	} else {
		its.it_value.tv_sec = (time_t)top->key;
	}
	if (d->armed == its.it_value.tv_sec)
		return;
	if (timerfd_settime(d->tfd, TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET,
		&its, NULL) < 0)
		log_msg(LOG_ERR, MSG_INTERNAL, "timerfd_settime: %s",
		    strerror(errno));
	d->armed = its.it_value.tv_sec;
}

/* ---- runs ---- */

static void run_do(struct run *r, struct rotation_actions *acts);
static void run_settings(const struct job_user *u, struct rotation_caps *caps,
    struct rotation_flags *flags);

/* The engine's classes and states are the store's, by name. */
static enum rotation_class
class_of(enum store_error_class c)
{
	switch (c) {
	case STORE_ERROR_NONE:
		return ROTATION_OK;
	case STORE_ERROR_TRANSIENT:
		return ROTATION_TRANSIENT;
	case STORE_ERROR_AUTH:
		return ROTATION_AUTH;
	case STORE_ERROR_POLICY:
		return ROTATION_POLICY;
	case STORE_ERROR_FATAL:
		break;
	}
	return ROTATION_FATAL;
}

static enum store_error_class
store_class(enum rotation_class c)
{
	switch (c) {
	case ROTATION_OK:
		return STORE_ERROR_NONE;
	case ROTATION_TRANSIENT:
		return STORE_ERROR_TRANSIENT;
	case ROTATION_AUTH:
		return STORE_ERROR_AUTH;
	case ROTATION_POLICY:
		return STORE_ERROR_POLICY;
	case ROTATION_FATAL:
		break;
	}
	return STORE_ERROR_FATAL;
}

static enum store_run_state
store_state(enum rotation_state s)
{
	switch (s) {
	case ROTATION_PREPARED:
		return STORE_RUN_PREPARED;
	case ROTATION_APPLIED:
		return STORE_RUN_APPLIED;
	case ROTATION_VERIFIED:
		return STORE_RUN_VERIFIED;
	case ROTATION_COMMITTED:
		return STORE_RUN_COMMITTED;
	case ROTATION_FAILED:
		return STORE_RUN_FAILED;
	case ROTATION_OUT_OF_SYNC:
		break;
	}
	return STORE_RUN_OUT_OF_SYNC;
}

static const char *
kind_name(enum run_kind k)
{
	return k == RUN_VERIFY ? "verify" : "rotate";
}

/* A verify run that succeeded is stored committed (finished) and shown
 * as verified. */
static const char *
state_shown(const char *kind, enum store_run_state state)
{
	if (strcmp(kind, "verify") == 0 && state == STORE_RUN_COMMITTED)
		return "verified";
	return store_run_state_name(state);
}

static const char *
phase_name(const struct run *r)
{
	switch (r->phase) {
	case PHASE_QUEUED:
		return "queued";
	case PHASE_RETRY_WAIT:
		return "retry_wait";
	case PHASE_RUNNING:
		/* A worker has it; nothing is stored yet. */
		if (r->rec.state == STORE_RUN_NONE)
			return "started";
		return store_run_state_name(r->rec.state);
	case PHASE_DONE:
		break;
	}
	return state_shown(kind_name(r->kind), r->rec.state);
}

static json_t *
run_json(const struct store_run *rec, const char *kind, const char *state)
{
	return json_pack("{s:s, s:s, s:s, s:s, s:i, s:s, s:o, s:o, s:s}", "id",
	    rec->id, "user", rec->user, "kind", kind, "state", state,
	    "attempts", rec->attempts, "error_class",
	    store_error_class_name(rec->error_class), "created",
	    json_time(rec->created), "updated", json_time(rec->updated),
	    "message", rec->message);
}

static void
notify(struct run *r)
{
	struct waiter *w;

	LIST_FOREACH(w, &r->waiters, link)
	control_progress(w->conn,
	    json_pack("{s:s, s:s, s:i, s:s}", "run", r->rec.id, "state",
		phase_name(r), "attempt", r->rec.attempts, "message",
		r->rec.message));
}

static void
run_update(struct run *r)
{
	r->rec.updated = now_s();
	if (r->created && store_run_update(r->d->store, &r->rec) < 0)
		log_msg(LOG_ERR, MSG_STORE, "run %s: %s", r->rec.id,
		    store_last_error(r->d->store));
	notify(r);
}

static void
run_closed(uv_handle_t *h)
{
	struct run *r = h->data;

	free(r);
}

/* Forget the oldest finished runs beyond RUNS_KEPT. */
static void
trim_finished(struct daemon *d)
{
	struct run *r;

	while (d->nfinished > RUNS_KEPT) {
		r = TAILQ_FIRST(&d->finished);
		TAILQ_REMOVE(&d->finished, r, done);
		d->nfinished--;
		uv_close((uv_handle_t *)&r->timer, run_closed);
	}
}

static void
run_finish(struct run *r, enum store_run_state state,
    enum store_error_class class, const char *msg)
{
	struct daemon *d = r->d;
	struct ustate *us = r->us;
	struct waiter *w;

	if (r->phase == PHASE_RUNNING) {
		d->nrunning--;
		r->rs->running--;
	}
	r->phase = PHASE_DONE;
	r->rec.state = state;
	r->rec.error_class = class;
	snprintf(r->rec.message, sizeof(r->rec.message), "%s", msg);
	run_update(r);

	us->run = NULL;
	if (r->kind == RUN_ROTATE || state != STORE_RUN_COMMITTED) {
		us->last_outcome = state;
		snprintf(us->last_run, sizeof(us->last_run), "%s", r->rec.id);
	}
	if (state == STORE_RUN_COMMITTED) {
		if (r->kind == RUN_ROTATE) {
			us->last_success = r->rec.updated;
			d->runs_committed++;
		} else {
			d->runs_verified++;
		}
		log_msg(LOG_INFO, MSG_RUN_DONE, "run %s %s %s: %s", r->rec.id,
		    kind_name(r->kind), us->name, msg);
	} else {
		d->runs_failed++;
		log_msg(LOG_WARNING, MSG_RUN_FAILED,
		    "run %s %s %s failed "
		    "(%s) after %d attempt%s: %s",
		    r->rec.id, kind_name(r->kind), us->name,
		    store_error_class_name(class), r->rec.attempts,
		    r->rec.attempts == 1 ? "" : "s", msg);
	}
	if (r->created && us->user != NULL)
		persist_schedule(d, us);

	while ((w = LIST_FIRST(&r->waiters)) != NULL) {
		LIST_REMOVE(w, link);
		control_reply(w->conn,
		    json_pack("{s:o}", "run",
			run_json(&r->rec, kind_name(r->kind),
			    state_shown(kind_name(r->kind), state))));
		free(w);
	}
	gen_put(r->gen);
	r->gen = NULL;
	TAILQ_INSERT_TAIL(&d->finished, r, done);
	d->nfinished++;
	trim_finished(d);
	dispatch_queue(d);
	maybe_finish_stop(d);
}

/*
 * Make a run for US.  A user with a run already gets that run back
 * (coalesced).  FIRE is the scheduled instant, 0 for a trigger.
 */
static struct run *
run_new(struct daemon *d, struct ustate *us, enum run_kind kind, int64_t fire,
    bool *ret_coalesced)
{
	struct run *r;

	if (us->run != NULL) {
		*ret_coalesced = true;
		d->coalesced++;
		log_msg(LOG_INFO, MSG_COALESCED, "%s %s joins run %s",
		    fire != 0 ? "fire of" : "trigger for", us->name,
		    us->run->rec.id);
		return us->run;
	}
	*ret_coalesced = false;
	r = run_alloc(d, us, kind, fire);
	TAILQ_INSERT_TAIL(&d->queue, r, queue);
	d->nqueued++;
	dispatch_queue(d);
	return r;
}

/* A new run for US, not yet queued: the user's one run from now on. */
static struct run *
run_alloc(struct daemon *d, struct ustate *us, enum run_kind kind, int64_t fire)
{
	struct rotation_caps caps;
	struct rotation_flags flags;
	struct run *r;

	r = calloc(1, sizeof(*r));
	if (r == NULL)
		abort();
	r->d = d;
	r->kind = kind;
	r->us = us;
	r->gen = d->gen;
	d->gen->refs++;
	r->user = us->user;
	r->rs = resource_get(
	    d, us->user->resource_name != NULL ? us->user->resource_name : "");
	r->fire = fire;
	LIST_INIT(&r->waiters);
	uv_timer_init(d->loop, &r->timer);
	r->timer.data = r;
	if (store_run_id_new(r->rec.id) < 0)
		abort();
	snprintf(r->rec.user, sizeof(r->rec.user), "%s", us->name);
	r->rec.state = STORE_RUN_NONE;
	r->rec.attempts = 1;
	r->rec.created = r->rec.updated = now_s();
	snprintf(r->rec.message, sizeof(r->rec.message), "queued");
	r->phase = PHASE_QUEUED;
	run_settings(r->user, &caps, &flags);
	rotation_init(&r->rot, &caps, &flags, kind == RUN_VERIFY);
	us->run = r;
	return r;
}

static void
step_timer(uv_timer_t *t)
{
	run_step(t->data);
}

/* Go on to the step the engine is at, after the test provider's delay
 * if it has one. */
static void
next_step(struct run *r)
{
	const struct job_resource *res = r->user->resource;
	uint64_t ms = res != NULL ? (uint64_t)res->test_delay * 1000 : 0;

	uv_timer_start(&r->timer, step_timer, ms, 0);
}

static void
start_run(struct daemon *d, struct run *r)
{
	struct rotation_actions acts;

	TAILQ_REMOVE(&d->queue, r, queue);
	d->nqueued--;
	d->nrunning++;
	r->rs->running++;
	r->phase = PHASE_RUNNING;
	log_msg(LOG_INFO, MSG_RUN_START, "run %s %s %s attempt %d", r->rec.id,
	    kind_name(r->kind), r->us->name, r->rec.attempts);
	if (r->resume != STEP_START) {
		/* Found unfinished by recover_one(): the engine resumes it
		 * with the attempts it had. */
		rotation_recover(&r->rot, r->rec.attempts,
		    r->resume == STEP_COMMIT, class_of(r->fail_class),
		    r->fail_msg);
		r->resume = STEP_START;
	}
	rotation_start(&r->rot, &acts);
	run_do(r, &acts);
}

static void
dispatch_queue(struct daemon *d)
{
	struct run *r, *tmp;
	int max = d->gen->set->daemon.max_workers;

	if (d->stopping)
		return;
	TAILQ_FOREACH_SAFE(r, &d->queue, queue, tmp)
	{
		if (d->nrunning >= max)
			break;
		/* A noop user has no resource to spare: max_workers only. */
		if (r->user->resource != NULL &&
		    r->rs->running >= r->user->resource->max_concurrent)
			continue;
		start_run(d, r);
	}
}

/*
 * A run waiting to retry when the daemon stops ends now.  One waiting to
 * recover still has a pending secret the target may hold: it ends
 * out_of_sync, so that the next start (or the next run) recovers it.
 */
static void
stop_waiting(struct run *r)
{
	struct rotation_actions acts;

	rotation_stop(&r->rot, &acts);
	run_do(r, &acts);
}

static void
retry_timer(uv_timer_t *t)
{
	struct run *r = t->data;
	struct daemon *d = r->d;

	if (d->stopping) {
		stop_waiting(r);
		return;
	}
	r->phase = PHASE_QUEUED;
	snprintf(r->rec.message, sizeof(r->rec.message),
	    "queued for "
	    "attempt %d",
	    r->rec.attempts);
	TAILQ_INSERT_TAIL(&d->queue, r, queue);
	d->nqueued++;
	dispatch_queue(d);
}

/* The pending secret will not be used: the target did not take it. */
static void
discard_pending(struct run *r)
{
	if (r->version == 0)
		return;
	if (store_secret_discard_pending(
		r->d->store, r->us->name, r->version, now_s()) < 0)
		log_msg(LOG_ERR, MSG_STORE, "run %s: discarding pending: %s",
		    r->rec.id, store_last_error(r->d->store));
	r->version = 0;
}

/*
 * The engine says to try again (see rotation.c): attempt A->attempt,
 * after a delay drawn here (the engine has no randomness), from the start
 * or, for A->recovery, from recovery.
 */
static void
retry_later(struct run *r, const struct rotation_action *a)
{
	struct daemon *d = r->d;
	const struct job_retry *rp = &r->user->settings.retry;
	int64_t delay = 0;

	if (a->backoff)
		delay = backoff_delay(rp->initial, rp->max, a->attempt - 1,
		    backoff_rand_crypto, NULL);
	d->retries++;
	d->nrunning--;
	r->rs->running--;
	if (a->oos)
		r->rec.state = STORE_RUN_OUT_OF_SYNC;
	r->rec.error_class = store_class(a->class);
	r->rec.attempts = a->attempt;
	r->phase = PHASE_RETRY_WAIT;
	if (a->recovery) {
		snprintf(r->rec.message, sizeof(r->rec.message),
		    "%s (%.200s); recovery again in %" PRId64 "s",
		    a->oos ? "out of sync" : "recovery: no answer", a->msg,
		    delay);
	} else {
		/* A new attempt: the test provider's script starts over. */
		r->scripted_fail = false;
		snprintf(r->rec.message, sizeof(r->rec.message),
		    "%.200s; attempt %d in "
		    "%" PRId64 "s",
		    a->msg, r->rec.attempts, delay);
		log_msg(LOG_NOTICE, MSG_RUN_RETRY, "run %s %s: %s (%s)",
		    r->rec.id, r->us->name, r->rec.message,
		    store_error_class_name(r->rec.error_class));
	}
	run_update(r);
	uv_timer_start(&r->timer, retry_timer, (uint64_t)delay * 1000, 0);
	dispatch_queue(d);
}

/* Prepare: a new secret per policy, stored pending with the run row and
 * the fire it serves, in one transaction, before the target is touched. */
static int
prepare(struct run *r, char *msg, size_t size)
{
	struct daemon *d = r->d;
	struct ustate *us = r->us;
	struct secret *value = NULL;
	char pw[POLICY_LENGTH_MAX + 1];
	int rc;

	rc = policy_generate(r->user->settings.complexity, pw, sizeof(pw));
	if (rc == 0)
		rc = secret_new(pw, strlen(pw), &value);
	OPENSSL_cleanse(pw, sizeof(pw));
	if (rc < 0) {
		snprintf(
		    msg, size, "generating the new secret: %s", strerror(-rc));
		return rc;
	}
	r->rec.state = STORE_RUN_PREPARED;
	r->rec.updated = now_s();
	snprintf(r->rec.message, sizeof(r->rec.message), "prepared");
	rc = store_begin(d->store);
	if (rc == 0 && !r->created)
		rc = store_run_create(d->store, &r->rec);
	else if (rc == 0)
		rc = store_run_update(d->store, &r->rec);
	if (rc == 0)
		rc = store_secret_put_pending(
		    d->store, us->name, value, r->rec.id, now_s(), &r->version);
	if (rc == 0 && r->fire != 0) {
		struct store_schedule s = { 0 };

		us->last_fire = r->fire;
		s.next_fire = next_fire(us);
		s.last_fire = us->last_fire;
		s.last_outcome = us->last_outcome;
		snprintf(s.last_run_id, sizeof(s.last_run_id), "%s", r->rec.id);
		rc = store_schedule_put(d->store, us->name, &s);
		r->fire = 0;
	}
	if (rc == 0)
		rc = store_commit(d->store);
	else
		store_rollback(d->store);
	secret_free(value);
	if (rc < 0) {
		snprintf(msg, size, "store: %s", store_last_error(d->store));
		r->version = 0;
		return rc;
	}
	r->created = true;
	notify(r);
	return 0;
}

/*
 * ---- steps ----
 *
 * The protocol's decisions are the engine's (rotation.c has the table of
 * states and transitions); what follows carries them out: workers, store
 * transactions, timers, log lines, waiters.  Each engine call fills a
 * short list of actions, run_do() performs them in order, and an outcome
 * goes back to the engine: at once for a store operation or a worker that
 * could not start, from step_done() for a worker's answer.
 */

#if ROTAD_TEST_HOOKS
/*
 * Fault injection, test builds only: ROTAD_FAULT=WHAT:STEP, read once at
 * start.  WHAT is `daemon` (SIGKILL the daemon right after STEP is
 * persisted), `daemon-mid` (SIGKILL it when STEP's worker has answered,
 * before the answer is read), `worker-early` or `worker-late` (SIGKILL
 * the STEP's worker
 * as it starts, or once it has answered and before the answer is read),
 * `hang`, `fail` or `auth` (the worker is told to hang, to fail
 * transient, or to fail as a refused login).
 * Worker faults fire once, so that recovery can then proceed.
 */
static struct {
	char what[16];
	char step[24];
} fault;

static void
fault_init(void)
{
	const char *s = getenv("ROTAD_FAULT");

	if (s == NULL || sscanf(s, "%15[^:]:%23s", fault.what, fault.step) != 2)
		fault.what[0] = '\0';
}

static bool
fault_is(const char *what, const char *step)
{
	if (strcmp(fault.what, what) != 0 || strcmp(fault.step, step) != 0)
		return false;
	if (strcmp(what, "daemon") != 0)
		fault.what[0] = '\0'; /* once */
	return true;
}
#else
static void
fault_init(void)
{
}

static bool
fault_is(const char *what, const char *step)
{
	(void)what;
	(void)step;
	return false;
}
#endif

/* The name of the step R is at, for logs and fault hooks. */
static const char *
step_name(const struct run *r)
{
	return rotation_step_name(r->rot.step);
}

/* A step is persisted: the crash test may kill the daemon here. */
static void
boundary(struct run *r, enum rotation_step done)
{
	if (fault_is("daemon", rotation_step_name(done))) {
		log_msg(LOG_NOTICE, MSG_INTERNAL,
		    "fault injection: killing the daemon after %s",
		    rotation_step_name(done));
		raise(SIGKILL);
	}
	(void)r;
}

static enum store_slot
cand_slot(enum rotation_cand cand)
{
	return cand == ROTATION_CAND_PENDING ? STORE_PENDING
	    : cand == ROTATION_CAND_CURRENT  ? STORE_CURRENT
					     : STORE_PREVIOUS;
}

static const char *
slot_name(enum store_slot slot)
{
	return slot == STORE_PENDING ? "pending"
	    : slot == STORE_CURRENT  ? "current"
				     : "previous";
}

/* How an operation the engine asked for went, when it is known at once. */
struct outcome {
	enum rotation_class class;
	const char *msg;
	char buf[ROTATION_MESSAGE_MAX + 1];
};

/* The operation failed (RC, -errno) with CLASS, the reason in O->buf. */
static int
failed(struct outcome *o, enum rotation_class class, int rc)
{
	o->class = class;
	o->msg = o->buf;
	return rc;
}

/*
 * The encoded request for the worker of R's current step: the target from
 * the job, the secrets from the store (decrypted here, wiped as soon as
 * they are encoded).  Returns 0, or -errno with a reason in MSG.
 */
static int
step_request(struct run *r, enum wire_op op, enum rotation_cand cand,
    struct secret **ret, char *msg, size_t size)
{
	struct daemon *d = r->d;
	const struct job_user *u = r->user;
	const struct job_resource *res = u->resource;
	struct wire_request q;
	struct ustate *admin;
	char action[64];
	int rc;

	memset(&q, 0, sizeof(q));
	q.op = op;
	q.provider = res->protocol;
	q.host = res->host;
	q.port = res->port;
	q.database = res->database;
	q.login = u->login;
	q.dn = u->dn;
	q.tls_ca_file = res->tls_ca_file;
	q.tls_verify = res->tls_verify;
	q.timeout = (int)u->settings.timeout;
	rc = store_secret_get(
	    d->store, u->name, cand_slot(cand), &q.new_secret, NULL);
	if (rc < 0) {
		snprintf(msg, size, "no %s secret for %s",
		    slot_name(cand_slot(cand)), u->name);
		goto out;
	}
	if (op == WIRE_OP_APPLY) {
		/* For a self-change; absent for a new account. */
		(void)store_secret_get(
		    d->store, u->name, STORE_CURRENT, &q.current, NULL);
		if (res->admin_user != NULL) {
			admin = user_find(d, res->admin_user);
			if (admin == NULL || admin->user == NULL) {
				rc = -ENOENT;
				snprintf(msg, size,
				    "admin user %s is not loaded",
				    res->admin_user);
				goto out;
			}
			q.admin_login = admin->user->login;
			rc = store_secret_get(d->store, res->admin_user,
			    STORE_CURRENT, &q.admin, NULL);
			if (rc < 0) {
				snprintf(msg, size,
				    "no current secret for admin user %s",
				    res->admin_user);
				goto out;
			}
		}
	}
	if (strcmp(res->protocol, "test") == 0 && op == WIRE_OP_APPLY &&
	    r->rot.step == ROTATION_APPLY &&
	    r->us->test_calls++ < res->test_fail) {
		snprintf(action, sizeof(action), "fail:%s",
		    res->test_error != NULL ? res->test_error : "transient");
		q.test_action = action;
		r->scripted_fail = true;
	} else if (r->scripted_fail && r->rot.step == ROTATION_PROBE_PENDING) {
		/* The test provider keeps no target: after a scripted
		 * failure, the target is one that did not take the new
		 * secret. */
		q.test_action = "fail:auth";
	}
	if (fault_is("hang", step_name(r)))
		q.test_action = "fault:hang";
	else if (fault_is("fail", step_name(r)))
		q.test_action = "fault:fail";
	else if (fault_is("auth", step_name(r)))
		q.test_action = "fault:auth";
	rc = wire_request_encode(&q, ret);
	if (rc < 0)
		snprintf(msg, size, "encoding the request: %s", strerror(-rc));
out:
	secret_free(q.new_secret);
	secret_free(q.current);
	secret_free(q.admin);
	return rc;
}

static bool
has_secret(struct daemon *d, const char *user, enum store_slot slot)
{
	struct secret *s = NULL;
	int rc = store_secret_get(d->store, user, slot, &s, NULL);

	secret_free(s);
	return rc == 0;
}

/*
 * If R's user has a pending secret (an earlier run that ended out of
 * sync, or one recovery left), make it R's: its row is created now, and
 * 0 is returned.  -ENOENT when there is none.
 */
static int
adopt_pending(struct run *r)
{
	struct daemon *d = r->d;
	struct secret *s = NULL;
	int64_t v;

	if (r->kind != RUN_ROTATE ||
	    store_secret_get(d->store, r->us->name, STORE_PENDING, &s, &v) < 0)
		return -ENOENT;
	secret_free(s);
	r->version = v;
	r->rec.state = STORE_RUN_PREPARED;
	snprintf(r->rec.message, sizeof(r->rec.message),
	    "recovering a pending secret from an earlier run");
	if (!r->created && store_run_create(d->store, &r->rec) == 0)
		r->created = true;
	return 0;
}

static void step_done(
    int status, const struct wire_response *res, int exit_code, void *arg);
static void script_output(struct run *r, const struct wire_response *res);
static const struct job_script *script_at(const struct job_user *u, size_t i);
static int spawn_script(struct run *r, const char *provider,
    const struct job_script *sc, enum store_slot new_slot,
    enum store_slot old_slot, struct outcome *o);

#define WORKER_GRACE_MS 5000

/*
 * Spawn a worker for R's current step with REQUEST (owned, freed here in
 * any case): PROVIDER and the command-line arguments in EXTRA (pairs,
 * NULL-terminated, at most 4).  0: it runs, and step_done() has its
 * answer.  A failure to start is a transient outcome, in O.
 */
static int
spawn_worker(struct run *r, const char *provider, struct secret *request,
    const char *const *extra, struct outcome *o)
{
	const struct job_daemon *jd = &r->gen->set->daemon;
	const char *argv[12];
	struct spawn_args a;
	int n = 0, rc;

	memset(&a, 0, sizeof(a));
	argv[n++] = jd->worker_path != NULL ? jd->worker_path
					    : ROTAD_LIBEXECDIR "/rotad-worker";
	argv[n++] = "--provider";
	argv[n++] = provider;
	argv[n++] = "--user";
	argv[n++] = jd->worker_user != NULL ? jd->worker_user : "rotad";
	while (*extra != NULL && n < 11)
		argv[n++] = *extra++;
	argv[n] = NULL;
	a.argv = argv;
	a.request = request;
	a.deadline_ms = (uint64_t)r->user->settings.timeout * 1000;
	a.grace_ms = WORKER_GRACE_MS;
	if (fault_is("worker-early", step_name(r)))
		a.fault = SPAWN_FAULT_KILL_EARLY;
	else if (fault_is("worker-late", step_name(r)))
		a.fault = SPAWN_FAULT_KILL_LATE;
	rc = spawn_start(r->d->loop, &a, step_done, r, &r->sp);
	if (rc < 0) {
		r->sp = NULL;
		r->cur_script = NULL;
		snprintf(o->buf, STORE_MESSAGE_MAX + 1, "starting %s: %s",
		    argv[0], uv_strerror(rc));
		return failed(o, ROTATION_TRANSIENT, rc);
	}
	return 0;
}

/* Start a worker for R's current step: OP with the CAND secret.  0, or
 * -errno with the outcome in O when it could not start. */
static int
start_worker(struct run *r, enum rotation_op rop, enum rotation_cand cand,
    struct outcome *o)
{
	const struct job_resource *res = r->user->resource;
	enum wire_op op =
	    rop == ROTATION_OP_APPLY ? WIRE_OP_APPLY : WIRE_OP_VERIFY;
	const char *extra[3] = { NULL };
	struct secret *request = NULL;
	int rc;

	if (strcmp(res->protocol, "script") == 0) {
		/* The generic provider: the resource's own scripts set the
		 * candidate, or log in with it; the other secret goes as
		 * oldPassword. */
		return spawn_script(r, "script-rotation",
		    op == WIRE_OP_APPLY ? &res->rotate_script
					: &res->verify_script,
		    cand_slot(cand),
		    cand == ROTATION_CAND_CURRENT ? STORE_PREVIOUS
						  : STORE_CURRENT,
		    o);
	}
	rc = step_request(r, op, cand, &request, o->buf, STORE_MESSAGE_MAX + 1);
	if (rc < 0)
		return failed(o, ROTATION_FATAL, rc);
	if (res->tls_ca_file != NULL) {
		extra[0] = "--ca-file";
		extra[1] = res->tls_ca_file;
	}
	return spawn_worker(r, res->protocol, request, extra, o);
}

/* The outcome of R's current operation, to the engine: CLASS NONE is
 * success. */
static void
step_result(struct run *r, enum store_error_class class, const char *msg)
{
	struct rotation_actions acts;

	rotation_result(&r->rot, class_of(class), msg, r->d->stopping, &acts);
	run_do(r, &acts);
}

static void
step_done(int status, const struct wire_response *res, int exit_code, void *arg)
{
	struct run *r = arg;
	char msg[STORE_MESSAGE_MAX + 1];

	r->sp = NULL;
	if (fault_is("daemon-mid", step_name(r))) {
		/* The worker has done its step; the daemon dies before it
		 * learns how it went. */
		raise(SIGKILL);
	}
	if (r->abandoned) {
		/* The stop deadline passed while this worker ran. */
		uv_close((uv_handle_t *)&r->timer, run_closed);
		return;
	}
	if (status < 0) {
		snprintf(msg, sizeof(msg),
		    "%s: the worker gave no answer (%s, exit %d)", step_name(r),
		    status == -ETIMEDOUT ? "deadline passed"
					 : strerror(-status),
		    exit_code);
		step_result(r, STORE_ERROR_TRANSIENT, msg);
		return;
	}
	if (r->cur_script != NULL)
		script_output(r, res);
	r->cur_script = NULL;
	step_result(r, (enum store_error_class)res->class,
	    res->class == WIRE_CLASS_NONE ? "ok" : res->message);
}

/*
 * ---- post-rotation scripts ----
 *
 * After the commit, the user's scripts, then its resource's, then its
 * configuration's, one worker each (the script provider: its own sandbox
 * profile, which may exec the script's interpreter and nothing else).
 * Each gets Keeper's input line (providers/script_input.h) with the new
 * and the old password; its output comes back scrubbed and is kept with
 * the run.  A failing script does not undo the rotation: the new secret
 * is committed and works; the run says which script failed.
 */

/* The Ith script of U's chain, or NULL past the end. */
static const struct job_script *
script_at(const struct job_user *u, size_t i)
{
	const struct job_scripts *chain[3];
	size_t n = 0, k;

	chain[n++] = &u->scripts;
	if (u->resource != NULL)
		chain[n++] = &u->resource->scripts;
	if (u->configuration != NULL)
		chain[n++] = &u->configuration->scripts;
	for (k = 0; k < n; i -= chain[k]->n, k++)
		if (i < chain[k]->n)
			return &chain[k]->v[i];
	return NULL;
}
/* Keeper's records: the user, its resource, its configuration. */
static int
script_request(struct run *r, const char *provider, const struct job_script *sc,
    enum store_slot new_slot, enum store_slot old_slot, struct secret **ret,
    char *msg, size_t size)
{
	struct daemon *d = r->d;
	const struct job_user *u = r->user;
	const struct job_resource *res = u->resource;
	const struct job_configuration *conf = u->configuration;
	static const char *const user_labels[] = { "login", "dn" };
	static const char *const res_labels[] = { "host", "port", "database" };
	const char *user_values[2], *res_values[3];
	struct script_record rec[3];
	struct script_input in;
	struct wire_request q;
	char port[16];
	size_t nrec = 0;
	int rc;

	memset(&q, 0, sizeof(q));
	memset(&in, 0, sizeof(in));
	rc = store_secret_get(d->store, u->name, new_slot, &q.new_secret, NULL);
	if (rc < 0) {
		snprintf(msg, size, "no %s secret for %s", slot_name(new_slot),
		    u->name);
		goto out;
	}
	(void)store_secret_get(d->store, u->name, old_slot, &q.current, NULL);
	user_values[0] = u->login != NULL ? u->login : "";
	user_values[1] = u->dn != NULL ? u->dn : "";
	rec[nrec++] = (struct script_record){ u->name, u->name, user_labels,
		user_values, 2 };
	if (res != NULL) {
		snprintf(port, sizeof(port), "%d", res->port);
		res_values[0] = res->host != NULL ? res->host : "";
		res_values[1] = port;
		res_values[2] = res->database != NULL ? res->database : "";
		rec[nrec++] = (struct script_record){ res->name, res->name,
			res_labels, res_values, 3 };
	}
	if (conf != NULL)
		rec[nrec++] = (struct script_record){ conf->name, conf->name,
			NULL, NULL, 0 };
	in.provider_uid = conf != NULL ? conf->name : "";
	in.resource_uid = res != NULL ? res->name : "";
	in.user_uid = u->name;
	in.user = u->login != NULL ? u->login : "";
	in.new_password = q.new_secret;
	in.old_password = q.current;
	in.records = rec;
	in.nrecords = nrec;
	rc = script_input_build(&in, &q.script_input);
	if (rc < 0) {
		snprintf(msg, size, "the script's input: %s", strerror(-rc));
		goto out;
	}
	q.op = WIRE_OP_SCRIPT;
	q.provider = (char *)provider;
	q.login = u->login;
	q.script_path = sc->path;
	q.script_command = sc->command;
	q.timeout = (int)u->settings.timeout;
	rc = wire_request_encode(&q, ret);
	if (rc < 0)
		snprintf(msg, size, "encoding the request: %s", strerror(-rc));
out:
	secret_free(q.new_secret);
	secret_free(q.current);
	secret_free(q.script_input);
	return rc;
}

/*
 * Run script SC in a worker of the script profile, its input built with
 * NEW_SLOT's secret as newPassword and OLD_SLOT's as oldPassword.  0, or
 * -errno with the outcome in O when it could not start.
 */
static int
spawn_script(struct run *r, const char *provider, const struct job_script *sc,
    enum store_slot new_slot, enum store_slot old_slot, struct outcome *o)
{
	const char *extra[5] = { NULL };
	struct secret *request = NULL;
	int rc;

	rc = script_request(r, provider, sc, new_slot, old_slot, &request,
	    o->buf, STORE_MESSAGE_MAX + 1);
	if (rc < 0)
		return failed(o, ROTATION_FATAL, rc);
	/* The script's profile may execute its interpreter, or the script
	 * itself, and nothing else. */
	extra[0] = "--exec";
	extra[1] = sc->command != NULL ? sc->command : sc->path;
	if (sc->command != NULL) {
		extra[2] = "--read";
		extra[3] = sc->path;
	}
	r->cur_script = sc; /* its output is kept with the run */
	return spawn_worker(r, provider, request, extra, o);
}

/* Post-rotation script I: the new secret is current now. */
static int
start_script(struct run *r, size_t i, struct outcome *o)
{
	return spawn_script(r, "script", script_at(r->user, i), STORE_CURRENT,
	    STORE_PREVIOUS, o);
}

/* Keep what the script printed (scrubbed by the worker) with the run. */
static void
script_output(struct run *r, const struct wire_response *res)
{
	const struct job_script *sc = r->cur_script;
	struct store_run_output o;

	memset(&o, 0, sizeof(o));
	o.seq = ++r->outputs;
	snprintf(o.script, sizeof(o.script), "%s", sc->path);
	o.ok = res->class == WIRE_CLASS_NONE;
	snprintf(o.message, sizeof(o.message), "%.*s",
	    (int)sizeof(o.message) - 1, o.ok ? "exit 0" : res->message);
	o.output = res->output;
	o.output_len = res->output_len > STORE_OUTPUT_MAX ? STORE_OUTPUT_MAX
							  : res->output_len;
	if (store_run_output_add(r->d->store, r->rec.id, &o) < 0)
		log_msg(LOG_ERR, MSG_STORE, "run %s: script output: %s",
		    r->rec.id, store_last_error(r->d->store));
}

/*
 * ---- carrying out the engine's actions ----
 */

/*
 * What the engine needs to know of user U: its provider's capabilities
 * and the user's settings.
 */
static void
run_settings(const struct job_user *u, struct rotation_caps *caps,
    struct rotation_flags *flags)
{
	const struct job_resource *res = u->resource;
	size_t n = 0;

	memset(caps, 0, sizeof(*caps));
	caps->has_admin = res != NULL && res->admin_user != NULL;
	/*
	 * The generic script provider sets a secret with the resource's own
	 * rotate script, which needs no admin credential.  The provider
	 * catalog (catalog/, in progress) will supply this capability; until
	 * then this is the one place that tells it by the protocol's name.
	 */
	caps->reconcile_without_admin =
	    res != NULL && strcmp(res->protocol, "script") == 0;
	caps->noop = u->noop;
	memset(flags, 0, sizeof(*flags));
	flags->rollback_on_password_fail =
	    u->settings.rollback_on_password_fail;
	flags->rollback_on_post_rotation_fail =
	    u->settings.rollback_on_post_rotation_fail;
	flags->rerun_on_post_rotation_fail =
	    u->settings.rerun_on_post_rotation_fail;
	flags->attempts = u->settings.retry.attempts;
	while (script_at(u, n) != NULL)
		n++;
	flags->scripts = n;
}

/*
 * Rolling a committed rotation back, in the store: the old value becomes
 * current again, as a new version, and the rolled-back one previous.
 */
static int
undo_commit(struct run *r)
{
	struct daemon *d = r->d;
	struct secret *old = NULL;
	int rc;

	rc =
	    store_secret_get(d->store, r->us->name, STORE_PREVIOUS, &old, NULL);
	if (rc == 0)
		rc = store_secret_seed(
		    d->store, r->us->name, old, now_s(), NULL);
	secret_free(old);
	return rc;
}

/* Carry out store operation OP for R; its outcome into O. */
static void
store_op(struct run *r, enum rotation_store op, struct outcome *o)
{
	struct daemon *d = r->d;
	int rc;

	o->class = ROTATION_OK;
	o->msg = "ok";
	o->buf[0] = '\0';
	switch (op) {
	case ROTATION_STORE_ADOPT:
		if (adopt_pending(r) < 0)
			failed(o, ROTATION_FATAL, -ENOENT); /* none */
		return;
	case ROTATION_STORE_PREPARE:
		rc = prepare(r, o->buf, STORE_MESSAGE_MAX + 1);
		if (rc < 0)
			failed(o, ROTATION_FATAL, rc);
		return;
	case ROTATION_STORE_COMMIT:
		if (store_secret_commit(
			d->store, r->us->name, r->version, now_s()) < 0) {
			o->class = ROTATION_FATAL;
			o->msg = store_last_error(d->store);
			return;
		}
		r->version = 0;
		return;
	case ROTATION_STORE_HAS_CURRENT:
		if (!has_secret(d, r->us->name, STORE_CURRENT))
			failed(o, ROTATION_FATAL, -ENOENT); /* none */
		return;
	case ROTATION_STORE_UNDO_COMMIT:
		rc = undo_commit(r);
		if (rc < 0)
			failed(o, ROTATION_FATAL, rc);
		return;
	case ROTATION_STORE_NONE:
		break;
	}
}

/* Log the engine's event A, in the daemon's words and ids. */
static void
log_event(struct run *r, const struct rotation_action *a)
{
	const char *id = r->rec.id, *user = r->us->name;
	const struct job_script *sc;

	switch (a->event) {
	case ROTATION_EV_ADOPTED:
		log_msg(LOG_NOTICE, MSG_RECOVER, "run %s %s: %s", id, user,
		    r->rec.message);
		return;
	case ROTATION_EV_PENDING_WORKS:
		log_msg(LOG_NOTICE, MSG_RECOVER,
		    "run %s %s: the new secret logs in; committing", id, user);
		return;
	case ROTATION_EV_CURRENT_WORKS:
		log_msg(LOG_NOTICE, MSG_RECOVER,
		    "run %s %s: the old secret still logs in; the new "
		    "one is dropped",
		    id, user);
		return;
	case ROTATION_EV_ROLLED_BACK:
		log_msg(LOG_NOTICE, MSG_RECOVER,
		    "run %s %s: the old secret was restored on the "
		    "target (rollback_on_password_fail)",
		    id, user);
		return;
	case ROTATION_EV_OUT_OF_SYNC:
		log_msg(LOG_ERR, MSG_OUT_OF_SYNC,
		    "run %s %s: out of sync: neither the new nor the old "
		    "secret logs in (%s); both are kept",
		    id, user, a->msg);
		return;
	case ROTATION_EV_SCRIPT_OK:
	case ROTATION_EV_SCRIPT_FAILED:
		sc = script_at(r->user, a->script);
		if (a->event == ROTATION_EV_SCRIPT_FAILED)
			log_msg(LOG_WARNING, MSG_SCRIPT,
			    "run %s %s: post-rotation script %s failed: %s", id,
			    user, sc->path, a->msg);
		else
			log_msg(LOG_INFO, MSG_SCRIPT,
			    "run %s %s: post-rotation script %s succeeded", id,
			    user, sc->path);
		return;
	case ROTATION_EV_UNDONE:
		log_msg(LOG_NOTICE, MSG_RECOVER,
		    "run %s %s: a post-rotation script failed; the previous "
		    "secret is back on the target and current in the store",
		    id, user);
		return;
	case ROTATION_EV_UNEXPECTED:
		log_msg(LOG_ERR, MSG_INTERNAL, "run %s: result in step %s", id,
		    step_name(r));
		return;
	}
}

/*
 * Carry out action A for R.  True when the action was an operation whose
 * outcome is known now, in O: a store operation, or a worker that could
 * not start.  A worker that runs answers later, in step_done().
 */
static bool
act(struct run *r, const struct rotation_action *a, struct outcome *o)
{
	switch (a->act) {
	case ROTATION_ACT_LOG:
		log_event(r, a);
		return false;
	case ROTATION_ACT_PERSIST:
		r->rec.state = store_state(a->state);
		snprintf(r->rec.message, sizeof(r->rec.message), "%s", a->msg);
		run_update(r);
		return false;
	case ROTATION_ACT_RECORD:
		if (!r->created) {
			r->rec.state = store_state(a->state);
			snprintf(r->rec.message, sizeof(r->rec.message), "%s",
			    a->msg);
			if (store_run_create(r->d->store, &r->rec) == 0)
				r->created = true;
		}
		return false;
	case ROTATION_ACT_BOUNDARY:
		boundary(r, a->step);
		return false;
	case ROTATION_ACT_NEXT:
		next_step(r);
		return false;
	case ROTATION_ACT_DISCARD:
		discard_pending(r);
		return false;
	case ROTATION_ACT_WORKER:
		return start_worker(r, a->op, a->cand, o) < 0;
	case ROTATION_ACT_SCRIPT:
		return start_script(r, a->script, o) < 0;
	case ROTATION_ACT_STORE:
		store_op(r, a->store, o);
		return true;
	case ROTATION_ACT_RETRY:
		retry_later(r, a);
		return false;
	case ROTATION_ACT_FINISH:
		run_finish(
		    r, store_state(a->state), store_class(a->class), a->msg);
		return false;
	}
	return false;
}

/*
 * Carry out the engine's ACTS for R, in order, feeding each outcome known
 * at once back to the engine, until what is left waits on a worker or a
 * timer, or the run has finished.  An operation is always the engine's
 * last action, so nothing of ACTS is needed once it has an outcome.
 */
static void
run_do(struct run *r, struct rotation_actions *acts)
{
	struct outcome o;
	size_t i;
	bool now;

	for (;;) {
		now = false;
		for (i = 0; i < acts->n && !now; i++)
			now = act(r, &acts->v[i], &o);
		if (!now)
			return;
		rotation_result(&r->rot, o.class, o.msg, r->d->stopping, acts);
	}
}

/* R's step is due (its delay, if any, has passed): the engine says how. */
static void
run_step(struct run *r)
{
	struct rotation_actions acts;

	rotation_enter(&r->rot, r->d->stopping, &acts);
	run_do(r, &acts);
}

/* ---- fires ---- */

static void
fire(struct daemon *d, struct ustate *us, int64_t at)
{
	struct timespec ts;
	bool coalesced;
	int64_t late;

	d->fires++;
	reschedule(d, us, now_s() > at ? now_s() : at);
	if (us->paused) {
		log_msg(
		    LOG_INFO, MSG_FIRE, "%s: fire skipped: paused", us->name);
		us->last_fire = at;
		persist_schedule(d, us);
		return;
	}
	/* How late the daemon takes the fire: the scheduler's precision,
	 * which bench/scheduler measures from these lines. */
	clock_gettime(CLOCK_REALTIME, &ts);
	late = ((int64_t)ts.tv_sec - at) * 1000000 + ts.tv_nsec / 1000;
	log_msg(LOG_INFO, MSG_FIRE, "%s: due, taken %" PRId64 " us late",
	    us->name, late);
	run_new(d, us, RUN_ROTATE, at, &coalesced);
	if (coalesced) {
		/* The running one serves this fire. */
		us->last_fire = at;
		persist_schedule(d, us);
	}
}

static void
process_due(struct daemon *d)
{
	struct heap_node *top;
	int64_t now = now_s();

	while ((top = heap_top(&d->heap)) != NULL && top->key <= now &&
	    !d->stopping)
		fire(d, node_user(top), top->key);
	arm(d);
}

static void
recompute_all(struct daemon *d)
{
	size_t i;
	int64_t now = now_s();

	for (i = 0; i < d->users_cap; i++)
		if (d->users[i] != NULL && d->users[i]->user != NULL)
			reschedule(d, d->users[i], now);
}

static void
on_timerfd(uv_poll_t *p, int status, int events)
{
	struct daemon *d = p->data;
	uint64_t n;

	if (read(d->tfd, &n, sizeof(n)) < 0 && errno == ECANCELED) {
		/* The wall clock was set: fires now due run once (as
		 * misfires would), and the rest move to their new times. */
		log_msg(LOG_NOTICE, MSG_CLOCK,
		    "the system clock was set; "
		    "recomputing the schedule");
		d->armed = 0;
		process_due(d);
		recompute_all(d);
	}
	d->armed = 0;
	process_due(d);
}

/* ---- configuration ---- */

static void
acl_build(struct daemon *d, const struct job_daemon *jd)
{
	struct control_acl_entry *v;
	size_t i, n = 0;

	v = calloc(jd->nacl + 1, sizeof(*v));
	if (v == NULL)
		abort();
	for (i = 0; i < jd->nacl; i++) {
		const struct job_acl *a = &jd->acl[i];
		struct control_acl_entry *e = &v[n];

		e->is_group = a->is_group;
		e->rights = a->rights;
		if (a->name == NULL) {
			e->uid = a->id;
			e->gid = a->id;
		} else if (a->is_group) {
			struct group *g = getgrnam(a->name);

			if (g == NULL) {
				log_msg(LOG_WARNING, MSG_CONFIG,
				    "control.acl: "
				    "no group %s; entry ignored",
				    a->name);
				continue;
			}
			e->gid = g->gr_gid;
		} else {
			struct passwd *pw = getpwnam(a->name);

			if (pw == NULL) {
				log_msg(LOG_WARNING, MSG_CONFIG,
				    "control.acl: "
				    "no user %s; entry ignored",
				    a->name);
				continue;
			}
			e->uid = pw->pw_uid;
		}
		n++;
	}
	free(d->acl.v);
	d->acl.v = v;
	d->acl.n = n;
}

/*
 * Make SET the current generation: match users by name, carry their
 * runtime state, recompute schedules that changed.  Persisting at start
 * is one transaction (the store's speed for 100k users).
 */
static void
adopt(struct daemon *d, struct job_set *set, bool at_start)
{
	struct gen *g = calloc(1, sizeof(*g)), *old;
	struct ustate *us;
	int64_t now = now_s(), before;
	size_t i;

	if (g == NULL)
		abort();
	g->set = set;
	g->refs = 1;
	g->number = ++d->generations;
	old = d->gen;
	d->gen = g;

	for (i = 0; i < d->users_cap; i++)
		if (d->users[i] != NULL)
			d->users[i]->user = NULL;
	if (at_start) {
		for (i = 0; i < set->nusers; i++)
			user_get(d, set->users[i]->name)->user = set->users[i];
		recover_unfinished(d);
	}
	store_begin(d->store);
	for (i = 0; i < set->nusers; i++) {
		struct job_user *u = set->users[i];
		struct store_schedule s;

		us = user_get(d, u->name);
		us->user = u;
		if (!at_start) {
			/* Persist only what moved: 100k users reload fast. */
			before = next_fire(us);
			reschedule(d, us, now);
			if (next_fire(us) != before)
				persist_schedule(d, us);
			continue;
		}
		if (store_schedule_get(d->store, u->name, &s) == 0) {
			us->last_fire = s.last_fire;
			us->last_outcome = s.last_outcome;
			snprintf(us->last_run, sizeof(us->last_run), "%s",
			    s.last_run_id);
		} else {
			s.next_fire = 0;
		}
		reschedule(d, us, now);
		if (!schedulable(u))
			continue;
		/* A fire missed while the daemon was down. */
		if (s.next_fire != 0 && s.next_fire <= now) {
			d->misfires++;
			if (u->settings.misfire == JOB_MISFIRE_RUN_ONCE) {
				bool c;

				log_msg(LOG_NOTICE, MSG_MISFIRE,
				    "%s: fire "
				    "due at %" PRId64 " was missed; running "
				    "it once now",
				    u->name, s.next_fire);
				run_new(d, us, RUN_ROTATE, s.next_fire, &c);
				persist_schedule(d, us);
				continue;
			}
			log_msg(LOG_NOTICE, MSG_MISFIRE,
			    "%s: fire due at "
			    "%" PRId64 " was missed; skipped (misfire: "
			    "skip)",
			    u->name, s.next_fire);
			us->last_fire = s.next_fire;
		}
		if (s.next_fire != next_fire(us))
			persist_schedule(d, us);
	}
	if (store_commit(d->store) < 0)
		log_msg(LOG_ERR, MSG_STORE, "schedule state: %s",
		    store_last_error(d->store));
	/* Users gone from the configuration: out of the schedule; a run in
	 * flight finishes under its own generation. */
	for (i = 0; i < d->users_cap; i++)
		if (d->users[i] != NULL && d->users[i]->user == NULL)
			heap_remove(&d->heap, &d->users[i]->node);
	gen_put(old);
	acl_build(d, &set->daemon);
	if (d->control != NULL)
		control_set_acl(d->control, &d->acl);
	arm(d);
}

/* Reload: everything parsed first; any error keeps the old config. */
static int
reload(struct daemon *d, json_t **ret_errors)
{
	struct job_set *set = NULL;
	size_t i;
	int r;

	sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%" PRIu64,
	    (uint64_t)uv_hrtime() / 1000);
	r = jobs_load(d->config, now_s(), &set);
	if (r == -ENOMEM)
		abort();
	if (set->nerrors > 0) {
		log_msg(LOG_ERR, MSG_RELOAD_FAILED,
		    "reload refused, %zu "
		    "error%s; keeping generation %d",
		    set->nerrors, set->nerrors == 1 ? "" : "s", d->gen->number);
		if (ret_errors != NULL)
			*ret_errors = json_array();
		/* One log line per error: a syslog message has no lines. */
		for (i = 0; i < set->nerrors; i++) {
			const struct job_error *e = &set->errors[i];
			char *line;

			if (asprintf(&line, "%s:%d:%d: %s",
				e->file != NULL ? e->file : "", e->line,
				e->column, e->message) < 0)
				abort();
			log_msg(LOG_ERR, MSG_RELOAD_FAILED, "%s", line);
			if (ret_errors != NULL)
				json_array_append_new(
				    *ret_errors, json_string(line));
			free(line);
		}
		jobs_free(set);
		sd_notify(0, "READY=1");
		return -EINVAL;
	}
	if (strcmp(set->daemon.socket_path, d->gen->set->daemon.socket_path) !=
		0 ||
	    strcmp(set->daemon.store_path, d->gen->set->daemon.store_path) != 0)
		log_msg(LOG_WARNING, MSG_RELOAD,
		    "store and control.socket "
		    "changes take effect at the next start");
	r = keys_import(set, d->store, now_s());
	if (r > 0)
		log_msg(LOG_INFO, MSG_RELOAD, "imported %d secret%s", r,
		    r == 1 ? "" : "s");
	adopt(d, set, false);
	log_msg(LOG_INFO, MSG_RELOAD,
	    "configuration generation %d: %zu "
	    "users, %zu files",
	    d->gen->number, set->nusers, set->nfiles_loaded);
	sd_notifyf(0, "READY=1\nSTATUS=generation %d, %zu users",
	    d->gen->number, set->nusers);
	dispatch_queue(d);
	return 0;
}

/* ---- metrics ---- */

static char *
metrics_text(struct daemon *d)
{
	char *text = NULL;
	size_t len = 0, i;
	FILE *f = open_memstream(&text, &len);

	if (f == NULL)
		return NULL;
	fprintf(f,
	    "# HELP rotad_runs_total Runs finished, by outcome.\n"
	    "# TYPE rotad_runs_total counter\n");
	fprintf(f, "rotad_runs_total{outcome=\"committed\"} %" PRIu64 "\n",
	    d->runs_committed);
	fprintf(f, "rotad_runs_total{outcome=\"verified\"} %" PRIu64 "\n",
	    d->runs_verified);
	fprintf(f, "rotad_runs_total{outcome=\"failed\"} %" PRIu64 "\n",
	    d->runs_failed);
	fprintf(f,
	    "# HELP rotad_retries_total Attempts retried.\n"
	    "# TYPE rotad_retries_total counter\n"
	    "rotad_retries_total %" PRIu64 "\n",
	    d->retries);
	fprintf(f,
	    "# HELP rotad_fires_total Scheduled fires taken.\n"
	    "# TYPE rotad_fires_total counter\n"
	    "rotad_fires_total %" PRIu64 "\n",
	    d->fires);
	fprintf(f,
	    "# HELP rotad_misfires_total Fires missed while down.\n"
	    "# TYPE rotad_misfires_total counter\n"
	    "rotad_misfires_total %" PRIu64 "\n",
	    d->misfires);
	fprintf(f,
	    "# HELP rotad_queue_depth Runs waiting for a worker.\n"
	    "# TYPE rotad_queue_depth gauge\n"
	    "rotad_queue_depth %d\n",
	    d->nqueued);
	fprintf(f,
	    "# HELP rotad_workers Runs in progress.\n"
	    "# TYPE rotad_workers gauge\n"
	    "rotad_workers %d\n",
	    d->nrunning);
	fprintf(f,
	    "# HELP rotad_last_success_timestamp_seconds Last "
	    "committed rotation per user.\n"
	    "# TYPE rotad_last_success_timestamp_seconds gauge\n");
	for (i = 0; i < d->users_cap; i++) {
		struct ustate *us = d->users[i];

		if (us != NULL && us->user != NULL && us->last_success != 0)
			fprintf(f,
			    "rotad_last_success_timestamp_seconds"
			    "{user=\"%s\"} %" PRId64 "\n",
			    us->name, us->last_success);
	}
	fprintf(f,
	    "# HELP rotad_next_fire_timestamp_seconds Next scheduled "
	    "rotation per user.\n"
	    "# TYPE rotad_next_fire_timestamp_seconds gauge\n");
	for (i = 0; i < d->users_cap; i++) {
		struct ustate *us = d->users[i];

		if (us != NULL && us->user != NULL && next_fire(us) != 0)
			fprintf(f,
			    "rotad_next_fire_timestamp_seconds"
			    "{user=\"%s\"} %" PRId64 "\n",
			    us->name, next_fire(us));
	}
	fclose(f);
	return text;
}

/* Write the textfile atomically: a reader never sees half a file. */
static void
metrics_write(uv_timer_t *t)
{
	struct daemon *d = t->data;
	const char *path = d->gen->set->daemon.metrics_textfile;
	char tmp[4096];
	char *text;
	FILE *f;

	if (path == NULL)
		return;
	text = metrics_text(d);
	if (text == NULL)
		return;
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "we");
	if (f != NULL) {
		fputs(text, f);
		if (fclose(f) == 0 && rename(tmp, path) == 0) {
			free(text);
			return;
		}
	}
	log_msg(LOG_WARNING, MSG_INTERNAL, "metrics textfile %s: %s", path,
	    strerror(errno));
	unlink(tmp);
	free(text);
}

/* ---- control commands ---- */

static const char *
str_arg(json_t *req, const char *key)
{
	json_t *v = json_object_get(req, key);

	return json_is_string(v) ? json_string_value(v) : NULL;
}

/* The user named in REQ, or NULL after answering not_found / bad_request. */
static struct ustate *
req_user(struct daemon *d, struct control_conn *c, json_t *req)
{
	const char *name = str_arg(req, "user");
	struct ustate *us;

	if (name == NULL) {
		control_error(c, "bad_request",
		    "\"user\" (a string) is "
		    "required");
		return NULL;
	}
	us = user_find(d, name);
	if (us == NULL || us->user == NULL) {
		control_error(c, "not_found", "no user %s", name);
		return NULL;
	}
	return us;
}

static json_t *
user_json(struct daemon *d, struct ustate *us, bool full)
{
	const struct job_user *u = us->user;
	const struct tz *tz = schedule_display_tz(u->settings.schedule);
	json_t *o;

	o = json_pack("{s:s, s:s?, s:s, s:s, s:o, s:o, s:o, s:b, s:b}", "name",
	    us->name, "resource", u->resource_name, "schedule",
	    u->settings.schedule_text, "tz", tz_name(tz), "next_fire",
	    json_time(next_fire(us)), "last_fire", json_time(us->last_fire),
	    "last_outcome",
	    us->last_outcome == STORE_RUN_NONE
		? json_null()
		: json_string(store_run_state_name(us->last_outcome)),
	    "paused", us->paused, "running", us->run != NULL);
	if (full) {
		char cx[POLICY_FORMAT_SIZE];

		policy_format(u->settings.complexity, cx, sizeof(cx));
		json_object_set_new(o, "login",
		    u->login != NULL ? json_string(u->login) : json_null());
		json_object_set_new(o, "configuration",
		    u->configuration != NULL
			? json_string(u->configuration->name)
			: json_null());
		json_object_set_new(o, "managed", json_boolean(u->managed));
		json_object_set_new(o, "settings",
		    json_pack("{s:s, s:i, s:I, s:I, s:s, s:I}", "complexity",
			cx, "retry_attempts", u->settings.retry.attempts,
			"retry_initial", (json_int_t)u->settings.retry.initial,
			"retry_max", (json_int_t)u->settings.retry.max,
			"misfire",
			u->settings.misfire == JOB_MISFIRE_SKIP ? "skip"
								: "run_once",
			"timeout", (json_int_t)u->settings.timeout));
		json_object_set_new(
		    o, "last_success", json_time(us->last_success));
		json_object_set_new(o, "last_run",
		    us->last_run[0] != '\0' ? json_string(us->last_run)
					    : json_null());
	}
	return o;
}

static int
name_cmp(const void *a, const void *b)
{
	return strcmp((*(struct ustate *const *)a)->name,
	    (*(struct ustate *const *)b)->name);
}

/* Current users, sorted by name, for stable listings. */
static struct ustate **
sorted_users(struct daemon *d, size_t *ret_n)
{
	struct ustate **v = calloc(d->nusers + 1, sizeof(*v));
	size_t i, n = 0;

	if (v == NULL)
		abort();
	for (i = 0; i < d->users_cap; i++)
		if (d->users[i] != NULL && d->users[i]->user != NULL)
			v[n++] = d->users[i];
	qsort(v, n, sizeof(*v), name_cmp);
	*ret_n = n;
	return v;
}

static void
cmd_status(struct daemon *d, struct control_conn *c)
{
	size_t i, paused = 0;

	for (i = 0; i < d->users_cap; i++)
		if (d->users[i] != NULL && d->users[i]->user != NULL &&
		    d->users[i]->paused)
			paused++;
	control_reply(c,
	    json_pack("{s:s, s:i, s:I, s:i, s:s, s:i, s:i, "
		      "s:i, s:i, s:i, s:s}",
		"version", ROTAD_VERSION, "pid", (int)getpid(), "uptime",
		(json_int_t)(now_s() - d->started), "generation",
		d->gen->number, "config", d->config, "users",
		(int)d->gen->set->nusers, "paused", (int)paused, "queued",
		d->nqueued, "running", d->nrunning, "max_workers",
		d->gen->set->daemon.max_workers, "state",
		d->stopping ? "stopping" : "running"));
}

static void
cmd_list(struct daemon *d, struct control_conn *c)
{
	json_t *arr = json_array();
	struct ustate **v;
	size_t i, n;

	v = sorted_users(d, &n);
	for (i = 0; i < n; i++)
		json_array_append_new(arr, user_json(d, v[i], false));
	free(v);
	control_reply(c, json_pack("{s:o}", "users", arr));
}

static void
cmd_next(struct daemon *d, struct control_conn *c, json_t *req)
{
	struct ustate *us = req_user(d, c, req);
	json_t *count = json_object_get(req, "count"), *arr;
	const struct schedule *s;
	int64_t t;
	int i, n = 5;
	char buf[40];

	if (us == NULL)
		return;
	if (count != NULL) {
		if (!json_is_integer(count) || json_integer_value(count) < 1 ||
		    json_integer_value(count) > 1000) {
			control_error(c, "bad_request",
			    "\"count\" must be "
			    "1-1000");
			return;
		}
		n = (int)json_integer_value(count);
	}
	s = us->user->settings.schedule;
	arr = json_array();
	t = now_s();
	for (i = 0; i < n && schedule_next(s, t, &t) == 0; i++) {
		iso(t, schedule_display_tz(s), buf, sizeof(buf));
		json_array_append_new(arr, json_string(buf));
	}
	control_reply(c,
	    json_pack("{s:s, s:s, s:o}", "user", us->name, "tz",
		tz_name(schedule_display_tz(s)), "next", arr));
}

static void
cmd_trigger(
    struct daemon *d, struct control_conn *c, json_t *req, enum run_kind kind)
{
	struct ustate *us = req_user(d, c, req);
	struct waiter *w;
	struct run *r;
	bool coalesced;

	if (us == NULL)
		return;
	if (d->stopping) {
		control_error(c, "unavailable", "rotad is stopping");
		return;
	}
	if (!us->user->managed && kind == RUN_ROTATE) {
		control_error(c, "invalid",
		    "user %s is not managed "
		    "(managed: false): rotad does not rotate it",
		    us->name);
		return;
	}
	r = run_new(d, us, kind, 0, &coalesced);
	if (!json_is_true(json_object_get(req, "wait"))) {
		control_reply(c,
		    json_pack("{s:s, s:b}", "run", r->rec.id, "coalesced",
			coalesced));
		return;
	}
	w = calloc(1, sizeof(*w));
	if (w == NULL)
		abort();
	w->conn = c;
	LIST_INSERT_HEAD(&r->waiters, w, link);
	control_progress(c,
	    json_pack("{s:s, s:s, s:b}", "run", r->rec.id, "state",
		phase_name(r), "coalesced", coalesced));
}

static struct run *
find_run(struct daemon *d, const char *id)
{
	struct run *r;
	size_t i;

	for (i = 0; i < d->users_cap; i++)
		if (d->users[i] != NULL && d->users[i]->run != NULL &&
		    strcmp(d->users[i]->run->rec.id, id) == 0)
			return d->users[i]->run;
	TAILQ_FOREACH(r, &d->finished, done)
	if (strcmp(r->rec.id, id) == 0)
		return r;
	return NULL;
}

static const char *
stored_kind(const struct store_run *rec)
{
	return strncmp(rec->message, "verify", 6) == 0 ? "verify" : "rotate";
}

static int
collect_run(const struct store_run *rec, void *arg)
{
	json_t *arr = arg;

	json_array_append_new(arr,
	    run_json(rec, stored_kind(rec),
		state_shown(stored_kind(rec), rec->state)));
	return 0;
}

static void
cmd_runs(struct daemon *d, struct control_conn *c, json_t *req)
{
	const char *user = str_arg(req, "user");
	json_t *lim = json_object_get(req, "limit"), *arr = json_array();
	int limit = 20;

	if (json_is_integer(lim) && json_integer_value(lim) > 0)
		limit = (int)json_integer_value(lim);
	if (store_run_list(d->store, user, limit, collect_run, arr) < 0) {
		json_decref(arr);
		control_error(c, "internal", "%s", store_last_error(d->store));
		return;
	}
	control_reply(c, json_pack("{s:o}", "runs", arr));
}

/* A script's output as a JSON string: bytes that are not UTF-8 become
 * '?' (it is for reading, not for copying back). */
static json_t *
output_string(const char *p, size_t len)
{
	json_t *j = json_stringn(p != NULL ? p : "", len);
	char *copy;
	size_t i;

	if (j != NULL)
		return j;
	copy = malloc(len + 1);
	if (copy == NULL)
		return json_string("");
	for (i = 0; i < len; i++)
		copy[i] =
		    (unsigned char)p[i] < 0x80 && p[i] != '\0' ? p[i] : '?';
	j = json_stringn(copy, len);
	free(copy);
	return j != NULL ? j : json_string("");
}

static int
collect_output(const struct store_run_output *o, void *arg)
{
	json_array_append_new(arg,
	    json_pack("{s:i, s:s, s:b, s:s, s:o}", "seq", o->seq, "script",
		o->script, "ok", o->ok, "message", o->message, "output",
		output_string(o->output, o->output_len)));
	return 0;
}

/* The run's JSON with its scripts' outputs, when it has any. */
static json_t *
with_outputs(struct daemon *d, json_t *run, const char *id)
{
	json_t *arr = json_array();

	if (store_run_outputs(d->store, id, collect_output, arr) == 0 &&
	    json_array_size(arr) > 0)
		json_object_set_new(run, "scripts", arr);
	else
		json_decref(arr);
	return run;
}

static void
cmd_run(struct daemon *d, struct control_conn *c, json_t *req)
{
	const char *id = str_arg(req, "run");
	struct store_run rec;
	struct run *r;

	if (id == NULL) {
		control_error(
		    c, "bad_request", "\"run\" (a string) is required");
		return;
	}
	r = find_run(d, id);
	if (r != NULL) {
		control_reply(c,
		    json_pack("{s:o}", "run",
			with_outputs(d,
			    run_json(
				&r->rec, kind_name(r->kind), phase_name(r)),
			    id)));
		return;
	}
	if (store_run_get(d->store, id, &rec) < 0) {
		control_error(c, "not_found", "no run %s", id);
		return;
	}
	control_reply(c,
	    json_pack("{s:o}", "run",
		with_outputs(d,
		    run_json(&rec, stored_kind(&rec),
			state_shown(stored_kind(&rec), rec.state)),
		    id)));
}

static void
cmd_pause(struct daemon *d, struct control_conn *c, json_t *req, bool pause)
{
	json_t *names = json_array();
	struct ustate **v;
	size_t i, n;

	if (json_is_true(json_object_get(req, "all"))) {
		v = sorted_users(d, &n);
		for (i = 0; i < n; i++) {
			v[i]->paused = pause;
			json_array_append_new(names, json_string(v[i]->name));
		}
		free(v);
	} else {
		struct ustate *us = req_user(d, c, req);

		if (us == NULL) {
			json_decref(names);
			return;
		}
		us->paused = pause;
		json_array_append_new(names, json_string(us->name));
	}
	log_msg(LOG_NOTICE, MSG_PAUSE, "%s %zu user%s",
	    pause ? "paused" : "resumed", json_array_size(names),
	    json_array_size(names) == 1 ? "" : "s");
	control_reply(c, json_pack("{s:o}", "users", names));
}

static void
cmd_reload(struct daemon *d, struct control_conn *c)
{
	json_t *errors = NULL;

	if (reload(d, &errors) < 0) {
		size_t n = json_array_size(errors);

		control_error_extra(c, json_pack("{s:o}", "errors", errors),
		    "invalid",
		    "the configuration has %zu error%s; "
		    "generation %d stays",
		    n, n == 1 ? "" : "s", d->gen->number);
		return;
	}
	control_reply(c, json_pack("{s:i}", "generation", d->gen->number));
}

static void
cmd_secret_set(struct daemon *d, struct control_conn *c, json_t *req)
{
	struct ustate *us = req_user(d, c, req);
	const char *b64 = str_arg(req, "value_b64");
	struct secret *value = NULL;
	int64_t version;
	int r;

	if (us == NULL)
		return;
	if (b64 == NULL) {
		control_error(c, "bad_request", "\"value_b64\" is required");
		return;
	}
	r = protocol_secret_decode(b64, &value);
	if (r < 0) {
		control_error(c, "bad_request",
		    "\"value_b64\" is not valid, "
		    "non-empty base64");
		return;
	}
	r = store_secret_seed(d->store, us->name, value, now_s(), &version);
	secret_free(value);
	if (r < 0) {
		control_error(c, r == -EBUSY ? "busy" : "internal", "%s",
		    store_last_error(d->store));
		return;
	}
	log_msg(LOG_NOTICE, MSG_SECRET_SET,
	    "secret of %s set to version "
	    "%" PRId64 " by uid %u",
	    us->name, version, (unsigned)control_conn_uid(c));
	control_reply(c, json_pack("{s:I}", "version", (json_int_t)version));
}

static void
cmd_secret_get(struct daemon *d, struct control_conn *c, json_t *req)
{
	struct ustate *us = req_user(d, c, req);
	struct secret *value = NULL;
	int64_t version;
	char *b64;
	int r;

	if (us == NULL)
		return;
	r = store_secret_get(
	    d->store, us->name, STORE_CURRENT, &value, &version);
	if (r == -ENOENT) {
		control_error(
		    c, "not_found", "user %s has no secret yet", us->name);
		return;
	}
	if (r < 0) {
		control_error(c, "internal", "%s", store_last_error(d->store));
		return;
	}
	/* Audited: who read which version. */
	log_msg(LOG_NOTICE, MSG_SECRET_READ,
	    "secret of %s (version "
	    "%" PRId64 ") read by uid %u pid %d",
	    us->name, version, (unsigned)control_conn_uid(c),
	    (int)control_conn_pid(c));
	b64 = protocol_secret_encode(value);
	secret_free(value);
	if (b64 == NULL) {
		control_error(c, "internal", "out of memory");
		return;
	}
	control_reply(c,
	    json_pack("{s:I, s:s}", "version", (json_int_t)version, "value_b64",
		b64));
	OPENSSL_cleanse(b64, strlen(b64));
	free(b64);
}

static int
collect_version(const struct store_secret_info *in, void *arg)
{
	json_array_append_new(arg,
	    json_pack("{s:I, s:s, s:o, s:o, s:s}", "version",
		(json_int_t)in->version, "state",
		store_secret_state_name(in->state), "created",
		json_time(in->created), "changed", json_time(in->changed),
		"run", in->run_id));
	return 0;
}

static void
cmd_secret_history(struct daemon *d, struct control_conn *c, json_t *req)
{
	struct ustate *us = req_user(d, c, req);
	json_t *arr;

	if (us == NULL)
		return;
	arr = json_array();
	if (store_secret_history(d->store, us->name, collect_version, arr) <
	    0) {
		json_decref(arr);
		control_error(c, "internal", "%s", store_last_error(d->store));
		return;
	}
	control_reply(c, json_pack("{s:o}", "versions", arr));
}

static void
on_command(void *arg, struct control_conn *c, const char *cmd, json_t *req)
{
	struct daemon *d = arg;
	char *text;

	if (strcmp(cmd, "status") == 0)
		cmd_status(d, c);
	else if (strcmp(cmd, "list") == 0)
		cmd_list(d, c);
	else if (strcmp(cmd, "show") == 0) {
		struct ustate *us = req_user(d, c, req);

		if (us != NULL)
			control_reply(c,
			    json_pack("{s:o}", "user", user_json(d, us, true)));
	} else if (strcmp(cmd, "next") == 0)
		cmd_next(d, c, req);
	else if (strcmp(cmd, "rotate") == 0)
		cmd_trigger(d, c, req, RUN_ROTATE);
	else if (strcmp(cmd, "verify") == 0)
		cmd_trigger(d, c, req, RUN_VERIFY);
	else if (strcmp(cmd, "runs") == 0)
		cmd_runs(d, c, req);
	else if (strcmp(cmd, "run") == 0)
		cmd_run(d, c, req);
	else if (strcmp(cmd, "pause") == 0)
		cmd_pause(d, c, req, true);
	else if (strcmp(cmd, "resume") == 0)
		cmd_pause(d, c, req, false);
	else if (strcmp(cmd, "reload") == 0)
		cmd_reload(d, c);
	else if (strcmp(cmd, "secret_set") == 0)
		cmd_secret_set(d, c, req);
	else if (strcmp(cmd, "secret_get") == 0)
		cmd_secret_get(d, c, req);
	else if (strcmp(cmd, "secret_history") == 0)
		cmd_secret_history(d, c, req);
	else if (strcmp(cmd, "metrics") == 0) {
		text = metrics_text(d);
		control_reply(
		    c, json_pack("{s:s}", "text", text != NULL ? text : ""));
		free(text);
	} else
		control_error(c, "unknown_command", "unknown command %s", cmd);
}

/* A waiting client went away: forget it, the run goes on. */
static void
on_conn_close(void *arg, struct control_conn *c)
{
	struct daemon *d = arg;
	struct waiter *w, *tmp;
	size_t i;

	for (i = 0; i < d->users_cap; i++) {
		struct run *r;

		if (d->users[i] == NULL || (r = d->users[i]->run) == NULL)
			continue;
		LIST_FOREACH_SAFE(w, &r->waiters, link, tmp)
		{
			if (w->conn == c) {
				LIST_REMOVE(w, link);
				free(w);
			}
		}
	}
}

static void
on_denied(void *arg, uid_t uid, pid_t pid, const char *cmd)
{
	log_msg(LOG_WARNING, MSG_DENIED, "control: uid %u pid %d denied %s",
	    (unsigned)uid, (int)pid, cmd);
}

/* ---- signals and stop ---- */

static void
close_all(struct daemon *d)
{
	uv_close((uv_handle_t *)&d->tfd_poll, NULL);
	uv_close((uv_handle_t *)&d->sighup, NULL);
	uv_close((uv_handle_t *)&d->sigterm, NULL);
	uv_close((uv_handle_t *)&d->sigint, NULL);
	uv_close((uv_handle_t *)&d->stop_timer, NULL);
	uv_close((uv_handle_t *)&d->watchdog, NULL);
	uv_close((uv_handle_t *)&d->metrics_timer, NULL);
}

static void
control_stopped(void *arg)
{
	(void)arg;
}

static void
maybe_finish_stop(struct daemon *d)
{
	struct run *r;

	if (!d->stopping || d->nrunning > 0)
		return;
	/* Runs in retry-wait stop here; queued fires stay due. */
	uv_timer_stop(&d->stop_timer);
	log_msg(LOG_INFO, MSG_STOP, "stopped");
	if (d->control != NULL) {
		control_stop(d->control, control_stopped, NULL);
		d->control = NULL;
	}
	while ((r = TAILQ_FIRST(&d->finished)) != NULL) {
		TAILQ_REMOVE(&d->finished, r, done);
		uv_close((uv_handle_t *)&r->timer, run_closed);
	}
	close_all(d);
}

static void
stop_deadline(uv_timer_t *t)
{
	struct daemon *d = t->data;
	struct waiter *w;
	struct run *r;
	size_t i;

	log_msg(LOG_WARNING, MSG_STOP,
	    "%d run%s still in progress at the "
	    "deadline; recovery will finish them at the next start",
	    d->nrunning, d->nrunning == 1 ? "" : "s");
	for (i = 0; i < d->users_cap; i++) {
		if (d->users[i] == NULL || (r = d->users[i]->run) == NULL)
			continue;
		d->users[i]->run = NULL;
		while ((w = LIST_FIRST(&r->waiters)) != NULL) {
			LIST_REMOVE(w, link);
			control_error(w->conn, "unavailable",
			    "rotad stopped "
			    "during run %s",
			    r->rec.id);
			free(w);
		}
		gen_put(r->gen);
		uv_timer_stop(&r->timer);
		if (r->sp != NULL) {
			/* step_done() closes it once the worker is gone;
			 * the run stays as persisted, for recovery. */
			r->abandoned = true;
			spawn_cancel(r->sp);
			continue;
		}
		uv_close((uv_handle_t *)&r->timer, run_closed);
	}
	d->nrunning = 0;
	d->exit_status = 1;
	maybe_finish_stop(d);
}

static void
begin_stop(struct daemon *d)
{
	struct run *r, *tmp;
	size_t i;

	if (d->stopping)
		return;
	d->stopping = true;
	sd_notify(0, "STOPPING=1");
	log_msg(LOG_INFO, MSG_STOP,
	    "stopping: %d run%s in progress, %d "
	    "queued",
	    d->nrunning, d->nrunning == 1 ? "" : "s", d->nqueued);
	/* Queued runs never started: their fires stay due in the store (a
	 * misfire at the next start), their waiters are told. */
	TAILQ_FOREACH_SAFE(r, &d->queue, queue, tmp)
	{
		struct waiter *w;

		TAILQ_REMOVE(&d->queue, r, queue);
		d->nqueued--;
		r->us->run = NULL;
		while ((w = LIST_FIRST(&r->waiters)) != NULL) {
			LIST_REMOVE(w, link);
			control_error(w->conn, "unavailable",
			    "rotad stopped "
			    "before run %s started",
			    r->rec.id);
			free(w);
		}
		gen_put(r->gen);
		uv_close((uv_handle_t *)&r->timer, run_closed);
	}
	/* Runs waiting to retry end now, failed; their next fire retries. */
	for (i = 0; i < d->users_cap; i++)
		if (d->users[i] != NULL && d->users[i]->run != NULL &&
		    d->users[i]->run->phase == PHASE_RETRY_WAIT) {
			uv_timer_stop(&d->users[i]->run->timer);
			stop_waiting(d->users[i]->run);
		}
	uv_timer_start(&d->stop_timer, stop_deadline, STOP_DEADLINE_MS, 0);
	maybe_finish_stop(d);
}

static void
on_signal(uv_signal_t *s, int signum)
{
	struct daemon *d = s->data;

	if (signum == SIGHUP) {
		if (!d->stopping)
			reload(d, NULL);
		return;
	}
	begin_stop(d);
}

static void
watchdog_ping(uv_timer_t *t)
{
	(void)t;
	sd_notify(0, "WATCHDOG=1");
}

static void
close_any(uv_handle_t *h, void *arg)
{
	(void)arg;
	if (!uv_is_closing(h))
		uv_close(h, NULL);
}

/* Start-up failed after the loop had handles: close them all and let
 * the close callbacks run, so the loop can be closed. */
static void
abandon_loop(struct daemon *d)
{
	uv_walk(d->loop, close_any, NULL);
	uv_run(d->loop, UV_RUN_DEFAULT);
}

struct current_of {
	const char *run_id;
	bool match;
};

static int
current_is_cb(const struct store_secret_info *info, void *arg)
{
	struct current_of *c = arg;

	if (info->state != STORE_SECRET_CURRENT)
		return 0;
	c->match = strcmp(info->run_id, c->run_id) == 0;
	return 1;
}

/*
 * A run found unfinished at start (the daemon or its host died, or a stop
 * outlived its deadline).  With a pending secret it goes through recovery
 * (see the steps comment): the target is asked, nothing is assumed.
 * Without one, the store already says how it ended.
 */
static int
recover_one(const struct store_run *rec, void *arg)
{
	struct daemon *d = arg;
	struct ustate *us = user_find(d, rec->user);
	struct secret *pending = NULL;
	struct store_run fin = *rec;
	struct current_of cur = { rec->id, false };
	int64_t version = 0;
	struct run *r;

	if (store_secret_get(
		d->store, rec->user, STORE_PENDING, &pending, &version) == 0) {
		secret_free(pending);
	} else {
		version = 0;
	}
	if (version == 0) {
		(void)store_secret_history(
		    d->store, rec->user, current_is_cb, &cur);
		fin.state = cur.match ? STORE_RUN_COMMITTED : STORE_RUN_FAILED;
		fin.error_class =
		    cur.match ? STORE_ERROR_NONE : STORE_ERROR_TRANSIENT;
		fin.updated = now_s();
		snprintf(fin.message, sizeof(fin.message), "%s",
		    cur.match ? "recovered: committed before the interruption"
			      : "interrupted before the target was changed");
		store_run_update(d->store, &fin);
		log_msg(LOG_NOTICE, MSG_RECOVER, "run %s %s: %s", fin.id,
		    fin.user, fin.message);
		return 0;
	}
	if (us == NULL || us->user == NULL || us->run != NULL ||
	    us->user->resource == NULL) {
		log_msg(LOG_WARNING, MSG_RECOVER,
		    "run %s %s: unfinished in state %s, and the user is not "
		    "in the configuration; its pending secret is kept",
		    rec->id, rec->user, store_run_state_name(rec->state));
		return 0;
	}
	r = run_alloc(d, us, RUN_ROTATE, 0);
	r->rec = *rec;
	r->created = true;
	r->version = version;
	r->resume =
	    rec->state == STORE_RUN_VERIFIED ? STEP_COMMIT : STEP_PROBE_PENDING;
	r->fail_class = STORE_ERROR_TRANSIENT;
	snprintf(r->fail_msg, sizeof(r->fail_msg), "interrupted in state %s",
	    store_run_state_name(rec->state));
	log_msg(LOG_NOTICE, MSG_RECOVER,
	    "run %s %s: unfinished in state %s; recovering", rec->id, rec->user,
	    store_run_state_name(rec->state));
	TAILQ_INSERT_TAIL(&d->queue, r, queue);
	d->nqueued++;
	return 0;
}

static void
recover_unfinished(struct daemon *d)
{
	if (store_run_list_unfinished(d->store, recover_one, d) < 0)
		log_msg(LOG_ERR, MSG_STORE, "unfinished runs: %s",
		    store_last_error(d->store));
	dispatch_queue(d);
}

/* ---- start ---- */

int
daemon_main(const char *config, bool foreground)
{
	struct daemon d = { 0 };
	struct job_set *set = NULL;
	struct control_config cc = { 0 };
	struct secret *key = NULL;
	char path[4096], err[512];
	uint64_t wd_usec;
	int r, ret = 1;
	size_t i;

	/* Before any JSON exists: secret_set/secret_get carry values in
	 * jansson strings, which must be wiped when freed.  A client that
	 * hangs up must not kill the daemon with SIGPIPE. */
	protocol_json_wipe_on_free();
	signal(SIGPIPE, SIG_IGN);
	log_open(foreground, LOG_INFO);
	d.config = config;
	d.foreground = foreground;
	d.tfd = -1;
	d.exit_status = 0;
	TAILQ_INIT(&d.queue);
	TAILQ_INIT(&d.finished);

	r = jobs_load(config, now_s(), &set);
	if (r < 0) {
		if (set != NULL) {
			jobs_print_errors(set, stderr);
			jobs_free(set);
		}
		log_msg(
		    LOG_ERR, MSG_CONFIG, "%s is broken; not starting", config);
		return 1;
	}
	for (i = 0; i < set->nerrors; i++) {
		const struct job_error *e = &set->errors[i];

		log_msg(LOG_ERR, MSG_CONFIG, "%s:%d:%d: %s",
		    e->file != NULL ? e->file : "", e->line, e->column,
		    e->message);
	}
	if (set->nfiles_skipped > 0)
		log_msg(LOG_WARNING, MSG_CONFIG,
		    "%zu job file%s skipped for "
		    "errors; the others are loaded",
		    set->nfiles_skipped, set->nfiles_skipped == 1 ? "" : "s");

	if (store_key_path(path, sizeof(path), set->daemon.key_file) < 0 ||
	    store_key_load(path, &key, err, sizeof(err)) < 0) {
		log_msg(LOG_ERR, MSG_STORE,
		    "master key: %s (create it with "
		    "rotad --init)",
		    err);
		goto out;
	}
	r = store_open(set->daemon.store_path, key, &d.store, err, sizeof(err));
	secret_free(key);
	if (r < 0) {
		log_msg(LOG_ERR, MSG_STORE, "store: %s", err);
		goto out;
	}
	r = keys_import(set, d.store, now_s());
	if (r > 0)
		log_msg(LOG_INFO, MSG_START, "imported %d secret%s", r,
		    r == 1 ? "" : "s");

	if (!foreground && daemon(0, 0) < 0) {
		log_msg(LOG_ERR, MSG_START, "daemon: %s", strerror(errno));
		goto out;
	}

	d.loop = uv_default_loop();
	d.started = now_s();
	d.tfd = timerfd_create(CLOCK_REALTIME, TFD_NONBLOCK | TFD_CLOEXEC);
	if (d.tfd < 0) {
		log_msg(LOG_ERR, MSG_START, "timerfd: %s", strerror(errno));
		goto out;
	}
	uv_poll_init(d.loop, &d.tfd_poll, d.tfd);
	d.tfd_poll.data = &d;
	uv_timer_init(d.loop, &d.stop_timer);
	d.stop_timer.data = &d;
	uv_timer_init(d.loop, &d.watchdog);
	uv_timer_init(d.loop, &d.metrics_timer);
	d.metrics_timer.data = &d;

	uv_signal_init(d.loop, &d.sighup);
	uv_signal_init(d.loop, &d.sigterm);
	uv_signal_init(d.loop, &d.sigint);
	d.sighup.data = d.sigterm.data = d.sigint.data = &d;

	fault_init();
	/* The first generation; unfinished runs recover first, then fires
	 * missed while down queue up (or join the recovering run). */
	adopt(&d, set, true);
	set = NULL; /* owned by the generation now */

	cc.path = d.gen->set->daemon.socket_path;
	cc.group = d.gen->set->daemon.socket_group;
	cc.acl = &d.acl;
	cc.dispatch = on_command;
	cc.on_close = on_conn_close;
	cc.on_denied = on_denied;
	cc.daemon = &d;
	r = control_start(d.loop, &cc, &d.control, err, sizeof(err));
	if (r < 0) {
		log_msg(LOG_ERR, MSG_START, "control socket: %s", err);
		abandon_loop(&d);
		goto out;
	}
	uv_poll_start(&d.tfd_poll, UV_READABLE, on_timerfd);
	uv_signal_start(&d.sighup, on_signal, SIGHUP);
	uv_signal_start(&d.sigterm, on_signal, SIGTERM);
	uv_signal_start(&d.sigint, on_signal, SIGINT);

	if (sd_watchdog_enabled(0, &wd_usec) > 0)
		uv_timer_start(
		    &d.watchdog, watchdog_ping, wd_usec / 2000, wd_usec / 2000);
	if (d.gen->set->daemon.metrics_textfile != NULL) {
		metrics_write(&d.metrics_timer);
		uv_timer_start(&d.metrics_timer, metrics_write,
		    METRICS_PERIOD_MS, METRICS_PERIOD_MS);
	}

	log_msg(LOG_INFO, MSG_START,
	    "rotad %s started: generation %d, %zu "
	    "users, %zu job files, socket %s",
	    ROTAD_VERSION, d.gen->number, d.gen->set->nusers,
	    d.gen->set->nfiles_loaded, d.gen->set->daemon.socket_path);
	sd_notifyf(0, "READY=1\nSTATUS=generation %d, %zu users", d.gen->number,
	    d.gen->set->nusers);

	process_due(&d);
	uv_run(d.loop, UV_RUN_DEFAULT);
	ret = d.exit_status;
out:
	if (d.loop != NULL && uv_loop_close(d.loop) != 0)
		log_msg(LOG_DEBUG, MSG_INTERNAL, "loop closed with handles");
	if (d.tfd >= 0)
		close(d.tfd);
	heap_free(&d.heap);
	for (i = 0; i < d.users_cap; i++) {
		if (d.users[i] != NULL) {
			free(d.users[i]->name);
			free(d.users[i]);
		}
	}
	free(d.users);
	for (i = 0; i < d.resources_cap; i++) {
		if (d.resources[i] != NULL) {
			free(d.resources[i]->name);
			free(d.resources[i]);
		}
	}
	free(d.resources);
	free(d.acl.v);
	if (d.gen != NULL)
		gen_put(d.gen);
	else
		jobs_free(set);
	store_close(d.store);
	log_close();
	return ret;
}
