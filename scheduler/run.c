/*
 * run.c: the runs: queue and limits, and the executor of the rotation
 * engine's decisions.
 *
 * A fire or a trigger makes a run (run_new); runs wait in one FIFO until a
 * worker slot is free overall (max_workers) and on the resource
 * (max_concurrent).  A running run asks rotation.c what to do next and
 * carries the answer out here: store transactions (prepare, commit,
 * discard, undo), a fresh sandboxed worker per step (spawn.c) with the
 * request built from the job and the store, post-rotation scripts with
 * Keeper's input, timers for the backoff, log lines, and the waiters of
 * `rotactl rotate --wait`.  The test builds' fault hooks (ROTAD_FAULT)
 * live here too, around the points the engine marks as boundaries.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <uv.h>

#include "backoff.h"
#include "batch.h"
#include "catalog.h"
#include "config.h"
#include "control.h"
#include "daemon-internal.h"
#include "durable.h"
#include "emit.h"
#include "fault.h"
#include "sinks.h"
#include "jobs.h"
#include "keygen.h"
#include "log.h"
#include "policy.h"
#include "protocol.h"
#include "request.h"
#include "rotation.h"
#include "secret.h"
#include "spawn.h"
#include "store.h"
#include "storeq.h"
#include "wire.h"
#include "workers.h"
#include "xalloc.h"

static void run_step(struct run *r);
static void recover_again(struct run *done);
static void retry_timer(uv_timer_t *t);
static void dispatch_idle(uv_idle_t *h);
static void then_start(struct run *v);
static void verify_cut(
    struct run *v, enum store_error_class class, const char *why);

/*
 * Slack on the bound of an apply's server-side work: the provider keeps
 * its statements a second under the deadline already, and the loop's
 * clock is read at the turn, not at the spawn.
 */
#define APPLY_SLACK_MS 1000

/* ---- runs ---- */

/*
 * R stops running (it finished, or waits to retry): its worker slot, or
 * its batch's once the last member stops, is free again.
 */
static void
slot_free(struct run *r)
{
	if (batch_exit(r)) {
		r->d->nrunning--;
		r->rs->running--;
	}
}

static void run_do(struct run *r, struct rotation_actions *acts);
static void run_settings(const struct ustate *us, struct rotation_caps *caps,
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
	case ROTATION_UNTOUCHED:
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

const char *
run_kind_name(enum run_kind k)
{
	return k == RUN_VERIFY ? "verify" : "rotate";
}

/* A verify run that succeeded is stored committed (finished) and shown
 * as verified. */
const char *
run_state_shown(const char *kind, enum store_run_state state)
{
	if (strcmp(kind, "verify") == 0 && state == STORE_RUN_COMMITTED)
		return "verified";
	return store_run_state_name(state);
}

const char *
run_phase_name(const struct run *r)
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
	return run_state_shown(run_kind_name(r->kind), r->rec.state);
}

json_t *
run_json(const struct store_run *rec, const char *kind, const char *state)
{
	return json_pack("{s:s, s:s, s:s, s:s, s:i, s:s, s:o, s:o, s:s}", "id",
	    rec->id, "user", rec->user, "kind", kind, "state", state,
	    "attempts", rec->attempts, "error_class",
	    store_error_class_name(rec->error_class), "created",
	    command_json_time(rec->created), "updated",
	    command_json_time(rec->updated), "message", rec->message);
}

static void
notify(struct run *r)
{
	struct waiter *w;

	LIST_FOREACH(w, &r->waiters, link)
	control_progress(w->conn,
	    json_pack("{s:s, s:s, s:i, s:s}", "run", r->rec.id, "state",
		run_phase_name(r), "attempt", r->rec.attempts, "message",
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

/* R's row and event NAME about it, in one transaction: the event is
 * spooled with the state change it reports. */
static void
update_with_event(struct run *r, enum event_name name, const char *msg)
{
	struct daemon *d = r->d;
	struct store *st = d->store;
	bool tx = store_begin(st) == 0;

	/* The sinks read the spool once the event is committed: an event
	 * rolled back with its row must never have been sent. */
	d->in_tx = tx;
	run_update(r);
	emit_run(r, name, msg);
	d->in_tx = false;
	if (tx && store_commit(st) < 0) {
		log_msg(LOG_ERR, MSG_STORE, "run %s: %s", r->rec.id,
		    store_last_error(st));
		emit_tx_end(d, false);
	} else
		emit_tx_end(d, true);
}

/* The event that reports R's end, as Keeper names it for a rotation. */
static enum event_name
finish_event(const struct run *r, enum store_run_state state)
{
	bool ok = state == STORE_RUN_COMMITTED;

	if (r->kind == RUN_VERIFY)
		return ok ? EVENT_VERIFY_OK : EVENT_VERIFY_FAIL;
	if (r->trigger == EVENT_TRIGGER_SCHEDULED)
		return ok ? EVENT_RECORD_ROTATION_SCHEDULED_OK
			  : EVENT_RECORD_ROTATION_SCHEDULED_FAIL;
	return ok ? EVENT_RECORD_ROTATION_ON_DEMAND_OK
		  : EVENT_RECORD_ROTATION_ON_DEMAND_FAIL;
}

void
run_closed(uv_handle_t *h)
{
	struct run *r = h->data;

	then_start(r); /* a stop: the rotation behind it never starts */
	users_run_remove(r->d, r);
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

	if (r->phase == PHASE_RUNNING)
		slot_free(r);
	r->phase = PHASE_DONE;
	r->rec.state = state;
	r->rec.error_class = class;
	snprintf(r->rec.message, sizeof(r->rec.message), "%s", msg);
	update_with_event(r, finish_event(r, state), msg);

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
		    run_kind_name(r->kind), us->name, msg);
	} else {
		d->runs_failed++;
		log_msg(LOG_WARNING, MSG_RUN_FAILED,
		    "run %s %s %s failed "
		    "(%s) after %d attempt%s: %s",
		    r->rec.id, run_kind_name(r->kind), us->name,
		    store_error_class_name(class), r->rec.attempts,
		    r->rec.attempts == 1 ? "" : "s", msg);
	}
	if (r->created && us->user != NULL)
		fire_persist(d, us);

	while ((w = LIST_FIRST(&r->waiters)) != NULL) {
		LIST_REMOVE(w, link);
		waiters_done(w,
		    run_json(&r->rec, run_kind_name(r->kind),
			run_state_shown(run_kind_name(r->kind), state)));
	}
	reload_gen_drop(d, r->gen);
	r->gen = NULL;
	if (state != STORE_RUN_OUT_OF_SYNC)
		us->recoveries = 0;
	if (state == STORE_RUN_OUT_OF_SYNC && !d->stopping &&
	    r->kind == RUN_ROTATE && r->created &&
	    (r->version != 0 || r->rot.undoing) && us->user != NULL &&
	    us->user->resource != NULL) {
		/* Its row lives on in the run that recovers it again: this
		 * one is not kept, `rotactl run` shows that one. */
		recover_again(r);
		uv_close((uv_handle_t *)&r->timer, run_closed);
	} else {
		TAILQ_INSERT_TAIL(&d->finished, r, done);
		d->nfinished++;
	}
	then_start(r);
	trim_finished(d);
	run_dispatch_queue(d);
	daemon_maybe_finish_stop(d);
}

/*
 * Run DONE ended out of sync with its pending secret kept, or with its
 * undo unsettled (the previous secret and the current one kept): recovery
 * must settle it without waiting for the next fire (or the next start).
 * A new run for the user takes DONE's row and pending secret, and
 * recovers them after a backoff that grows with each out-of-sync end in a
 * row, bounded by retry.max; it is the user's run meanwhile (a trigger
 * joins it, a stop ends it out of sync again, for the next start).
 */
static void
recover_again(struct run *done)
{
	struct daemon *d = done->d;
	struct ustate *us = done->us;
	const struct job_retry *rp = &us->user->settings.retry;
	struct run *r;
	int64_t delay;

	delay = backoff_delay(
	    rp->initial, rp->max, ++us->recoveries, backoff_rand_crypto, NULL);
	if (delay < 1)
		delay = 1; /* never a loop without a pause */
	r = run_alloc(d, us, RUN_ROTATE, 0);
	r->trigger = EVENT_TRIGGER_RECOVERY;
	r->rec = done->rec;
	r->created = true;
	r->version = done->version;
	/* Why recovery began, for when it gives up: the first reason. */
	if (done->rot.undoing)
		rotation_recover_undo(&r->rot, r->rec.attempts);
	else if (done->rot.fail_msg[0] != '\0')
		rotation_recover(&r->rot, r->rec.attempts, false,
		    done->rot.fail_class, done->rot.fail_msg);
	else
		rotation_recover(&r->rot, r->rec.attempts, false,
		    class_of(done->rec.error_class), done->rec.message);
	r->phase = PHASE_RETRY_WAIT;
	snprintf(r->rec.message, sizeof(r->rec.message),
	    "out of sync (%.200s); recovery again in %" PRId64 "s",
	    done->rec.message, delay);
	log_msg(LOG_NOTICE, MSG_RECOVER, "run %s %s: %s", r->rec.id, us->name,
	    r->rec.message);
	run_update(r);
	uv_timer_start(&r->timer, retry_timer, (uint64_t)delay * 1000, 0);
}

/* A new run for US, not yet queued, and not yet the user's run. */
static struct run *
run_make(struct daemon *d, struct ustate *us, enum run_kind kind, int64_t fire)
{
	struct rotation_caps caps;
	struct rotation_flags flags;
	struct run *r;

	r = xcalloc(1, sizeof(*r));
	r->d = d;
	r->kind = kind;
	r->us = us;
	r->gen = d->gen;
	d->gen->refs++;
	r->user = us->user;
	r->rs = users_resource(
	    d, us->user->resource_name != NULL ? us->user->resource_name : "");
	r->fire = fire;
	r->trigger =
	    fire != 0 ? EVENT_TRIGGER_SCHEDULED : EVENT_TRIGGER_ON_DEMAND;
	if (d->alert_id != NULL) {
		r->trigger = EVENT_TRIGGER_SIEM_ALERT;
		snprintf(r->alert_id, sizeof(r->alert_id), "%s", d->alert_id);
	}
	LIST_INIT(&r->waiters);
	uv_timer_init(d->loop, &r->timer);
	r->timer.data = r;
	if (store_run_id_new(r->rec.id) < 0) {
		/* OpenSSL's CSPRNG failed: no secret can be generated
		 * either.  Stop, as for memory; the store keeps the rest. */
		log_msg(LOG_CRIT, MSG_INTERNAL, "the random generator failed");
		_exit(EX_SOFTWARE);
	}
	users_run_add(d, r);
	snprintf(r->rec.user, sizeof(r->rec.user), "%s", us->name);
	r->rec.verify = kind == RUN_VERIFY; /* the store keeps it */
	r->rec.state = STORE_RUN_NONE;
	r->rec.attempts = 1;
	r->rec.created = r->rec.updated = now_s();
	snprintf(r->rec.message, sizeof(r->rec.message), "queued");
	r->phase = PHASE_QUEUED;
	run_settings(us, &caps, &flags);
	rotation_init(&r->rot, &caps, &flags, kind == RUN_VERIFY);
	return r;
}

/* A new run for US, not yet queued: the user's one run from now on. */
struct run *
run_alloc(struct daemon *d, struct ustate *us, enum run_kind kind, int64_t fire)
{
	struct run *r = run_make(d, us, kind, fire);

	us->run = r;
	return r;
}

static void
queue_run(struct daemon *d, struct run *r)
{
	TAILQ_INSERT_TAIL(&d->queue, r, queue);
	d->nqueued++;
	if (!d->stopping)
		uv_idle_start(&d->dispatch_idle, dispatch_idle);
}

/* Verify run V ends, failed, without another attempt: the rotation
 * waiting behind it (run_new()) logs in with the target itself. */
static void
verify_cut(struct run *v, enum store_error_class class, const char *why)
{
	char msg[STORE_MESSAGE_MAX + 1];

	snprintf(msg, sizeof(msg),
	    "not retried: rotation run %s follows (%.180s)", v->then->rec.id,
	    why);
	run_finish(v, STORE_RUN_FAILED, class, msg);
}

static void
verify_cut_timer(uv_timer_t *t)
{
	struct run *v = t->data;

	if (v->d->stopping)
		run_stop_waiting(v);
	else
		verify_cut(v, v->rec.error_class, v->rec.message);
}

/*
 * V, a run of the user's that ended (or is freed at a stop), had a
 * rotation waiting behind it: that one is the user's run now, queued; or,
 * once the daemon stops, it never starts (its fire stays due, as a queued
 * run's does), and its waiters are told.
 */
static void
then_start(struct run *v)
{
	struct daemon *d = v->d;
	struct run *r = v->then;
	struct waiter *w;
	char msg[96];

	if (r == NULL)
		return;
	v->then = NULL;
	if (!d->stopping && r->us->run == NULL) {
		r->us->run = r;
		snprintf(r->rec.message, sizeof(r->rec.message), "queued");
		queue_run(d, r);
		return;
	}
	snprintf(
	    msg, sizeof(msg), "rotad stopped before run %s started", r->rec.id);
	while ((w = LIST_FIRST(&r->waiters)) != NULL) {
		LIST_REMOVE(w, link);
		waiters_error(w, msg);
	}
	reload_gen_put(r->gen);
	uv_close((uv_handle_t *)&r->timer, run_closed);
}

/*
 * A rotation for US, whose run V is a verify.  Joining V would answer
 * "ok" and rotate nothing: a verify logs in with the current secret and
 * changes none, however long it retries (with the default retry, up to
 * an hour between attempts), while a SIEM's alert, a scheduled fire or
 * an operator asked for a new secret.  A user still has one run at a
 * time, so the rotation waits behind V, and V ends soon: the attempt it
 * has queued or running goes on (a step's deadline bounds it), but it is
 * not retried while a rotation waits (retry_later()); if it waits to
 * retry now, it ends at once -- from a timer of 0 ms rather than here,
 * so that, as any new run, the rotation starts at the end of the turn,
 * after its caller has put its waiters on it.
 */
static struct run *
behind_verify(struct daemon *d, struct run *v, int64_t fire)
{
	struct run *r = run_make(d, v->us, RUN_ROTATE, fire);

	v->then = r;
	snprintf(r->rec.message, sizeof(r->rec.message),
	    "queued behind verify run %s", v->rec.id);
	log_msg(LOG_INFO, MSG_COALESCED,
	    "%s %s: rotation run %s waits for verify run %s to end",
	    fire != 0 ? "fire of" : "trigger for", v->us->name, r->rec.id,
	    v->rec.id);
	if (v->phase == PHASE_RETRY_WAIT) {
		uv_timer_stop(&v->timer);
		uv_timer_start(&v->timer, verify_cut_timer, 0, 0);
	}
	return r;
}

/*
 * Make a run for US.  A user with a run already gets that run back
 * (coalesced), unless a rotation is asked for while that run is a
 * verify: the rotation waits behind it (behind_verify()), and later
 * rotations join the waiting one.  A verify joins whatever run there is:
 * a rotation ends in a login with the new current secret.  FIRE is the
 * scheduled instant, 0 for a trigger.  The run starts at the end of this
 * turn (the dispatch's idle handle), not here: the other triggers of the
 * turn (a burst read off the control socket) queue first, and a batch
 * takes them all.
 */
struct run *
run_new(struct daemon *d, struct ustate *us, enum run_kind kind, int64_t fire,
    bool *ret_coalesced)
{
	struct run *r = us->run;

	if (r != NULL && kind == RUN_ROTATE && r->kind == RUN_VERIFY) {
		if (r->then == NULL) {
			*ret_coalesced = false;
			return behind_verify(d, r, fire);
		}
		r = r->then;
	}
	if (r != NULL) {
		*ret_coalesced = true;
		d->coalesced++;
		log_msg(LOG_INFO, MSG_COALESCED, "%s %s joins run %s",
		    fire != 0 ? "fire of" : "trigger for", us->name, r->rec.id);
		return r;
	}
	*ret_coalesced = false;
	r = run_alloc(d, us, kind, fire);
	queue_run(d, r);
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
	int64_t delay = res != NULL ? jobs_param_int(res, "test_delay", 0) : 0;
	uint64_t ms = (uint64_t)delay * 1000;

	uv_timer_start(&r->timer, step_timer, ms, 0);
}

static void
start_run(struct daemon *d, struct run *r)
{
	struct rotation_actions acts;

	TAILQ_REMOVE(&d->queue, r, queue);
	d->nqueued--;
	if (batch_enter(r)) {
		d->nrunning++;
		r->rs->running++;
	}
	r->phase = PHASE_RUNNING;
	/* Waiters see it leave the queue: "started", without the
	 * "queued" message it had. */
	r->rec.message[0] = '\0';
	notify(r);
	log_msg(LOG_INFO, MSG_RUN_START, "run %s %s %s attempt %d", r->rec.id,
	    run_kind_name(r->kind), r->us->name, r->rec.attempts);
	if (r->kind == RUN_ROTATE)
		emit_run(r, EVENT_ROTATION_STARTED, NULL);
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

void
run_turn_end(uv_check_t *h)
{
	struct daemon *d = h->data;

	d->turn_started = 0;
}

static void
dispatch_idle(uv_idle_t *h)
{
	uv_idle_stop(h);
	run_dispatch_queue(h->data);
}

/*
 * Start what the limits allow, in queue order, at most RUN_DISPATCH_TURN
 * runs this turn of the loop, and none once the turn has spent
 * RUN_DISPATCH_TURN_NS starting them (a start writes to the store: a
 * burst of them would hold the control socket up); the rest from the idle
 * handle, next turn.
 * The count is the turn's, not the call's (run_turn_end() resets it once
 * the loop has polled): runs that end on a timer of 0 ms (a noop user)
 * end in the same timer phase of libuv, each calling back in here, and
 * without it a burst of them would run to the last before the loop read
 * its sockets again.  A call made while the queue
 * is walked (a run that ends at once) only asks for another pass.
 */
void
run_dispatch_queue(struct daemon *d)
{
	struct run *r, *tmp;
	int max = d->gen->set->daemon.max_workers;

	if (d->stopping || d->taking)
		return;
	if (d->turn_started == 0)
		d->turn_t0 = uv_hrtime();
	if (d->dispatching) {
		d->dispatch_again = true;
		return;
	}
	d->dispatching = true;
	do {
		d->dispatch_again = false;
		TAILQ_FOREACH_SAFE(r, &d->queue, queue, tmp)
		{
			if (d->nrunning >= max || d->stopping)
				break;
			/* A noop user has no resource to spare:
			 * max_workers only. */
			if (r->user->resource != NULL &&
			    r->rs->running >=
				r->user->resource->max_concurrent)
				continue;
			if (d->turn_started >= RUN_DISPATCH_TURN ||
			    (d->turn_started > 0 &&
				uv_hrtime() - d->turn_t0 >
				    RUN_DISPATCH_TURN_NS)) {
				uv_idle_start(&d->dispatch_idle,
				    dispatch_idle);
				d->dispatch_again = false;
				break;
			}
			if (batch_eligible(r))
				d->turn_started += batch_start(d, r, start_run);
			else {
				start_run(d, r);
				d->turn_started++;
			}
			/* START_RUN may have ended runs and so changed the
			 * queue behind TMP: walk it again. */
			d->dispatch_again = true;
			break;
		}
	} while (d->dispatch_again);
	d->dispatching = false;
}

/*
 * A run waiting to retry when the daemon stops ends now.  One waiting to
 * recover still has a pending secret the target may hold: it ends
 * out_of_sync, so that the next start (or the next run) recovers it.
 */
void
run_stop_waiting(struct run *r)
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
		run_stop_waiting(r);
		return;
	}
	r->phase = PHASE_QUEUED;
	snprintf(r->rec.message, sizeof(r->rec.message),
	    "queued for "
	    "attempt %d",
	    r->rec.attempts);
	TAILQ_INSERT_TAIL(&d->queue, r, queue);
	d->nqueued++;
	run_dispatch_queue(d);
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

	if (r->then != NULL) {
		verify_cut(r, store_class(a->class), a->msg);
		return;
	}
	if (a->backoff)
		delay = backoff_delay(rp->initial, rp->max, a->attempt - 1,
		    backoff_rand_crypto, NULL);
	d->retries++;
	slot_free(r);
	if (a->oos)
		r->rec.state = STORE_RUN_OUT_OF_SYNC;
	r->rec.error_class = store_class(a->class);
	r->rec.attempts = a->attempt;
	r->phase = PHASE_RETRY_WAIT;
	if (a->recovery) {
		snprintf(r->rec.message, sizeof(r->rec.message),
		    "%s (%.200s); recovery again in %" PRId64 "s",
		    a->oos           ? "out of sync"
			: a->waiting ? "recovery: waiting"
				     : "recovery: no answer",
		    a->msg, delay);
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
	update_with_event(r, EVENT_ROTATION_RETRY_SCHEDULED, r->rec.message);
	uv_timer_start(&r->timer, retry_timer, (uint64_t)delay * 1000, 0);
	run_dispatch_queue(d);
}

/* Prepare: the new secret VALUE stored pending with the run row and the
 * fire it serves, in one transaction, before the target is touched.
 * VALUE is freed. */
static int
prepare_store(struct run *r, struct secret *value, char *msg, size_t size)
{
	struct daemon *d = r->d;
	struct ustate *us = r->us;
	int rc;

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
		s.next_fire = fire_next(us);
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

/* A new password per the user's complexity policy, stored pending. */
static int
prepare(struct run *r, char *msg, size_t size)
{
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
	return prepare_store(r, value, msg, size);
}

/*
 * ---- steps ----
 *
 * The protocol's decisions are the engine's (rotation.c has the table of
 * states and transitions); what follows carries them out: workers, store
 * transactions, timers, log lines, waiters.  Each engine call fills a
 * short list of actions, run_do() performs them in order, and an outcome
 * goes back to the engine: at once for a store operation or a worker that
 * could not start, from run_step_done() for a worker's answer.
 */

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
		/* Persisted: committed, not just a step of the turn's batch
		 * (durable.h), which the kill would take back. */
		(void)store_settle(r->d->store);
		raise(SIGKILL);
	}
}

static enum store_slot
cand_slot(enum rotation_cand cand)
{
	return cand == ROTATION_CAND_PENDING ? STORE_PENDING
	    : cand == ROTATION_CAND_CURRENT  ? STORE_CURRENT
					     : STORE_PREVIOUS;
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
 * The test builds' word to the worker of R's current step, in ACTION (64
 * bytes), or NULL: the test provider's scripted failures (test_fail
 * applies fail, then, as a target that did not take the new secret, its
 * probe refuses), and ROTAD_FAULT's hang, fail and auth.
 */
static const char *
test_action(struct run *r, enum wire_op op, char *action, size_t size)
{
	const struct job_resource *res = r->user->resource;
	const char *what = NULL, *err;

	if (res->provider == catalog_find("test") && op == WIRE_OP_APPLY &&
	    r->rot.step == ROTATION_APPLY &&
	    r->us->test_calls++ < jobs_param_int(res, "test_fail", 0)) {
		err = jobs_param_value(res, "test_error");
		snprintf(
		    action, size, "fail:%s", err != NULL ? err : "transient");
		what = action;
		r->scripted_fail = true;
	} else if (r->scripted_fail && r->rot.step == ROTATION_PROBE_PENDING) {
		what = "fail:auth";
	}
	if (fault_is("hang", step_name(r)))
		what = "fault:hang";
	else if (fault_is("fail", step_name(r)))
		what = "fault:fail";
	else if (fault_is("auth", step_name(r)))
		what = "fault:auth";
	return what;
}

/*
 * Who the admin logs in as: its DN when it has one (a directory's admin
 * binds by DN), else its login; NULL when the admin user is not loaded.
 */
static const char *
admin_identity(const struct ustate *admin)
{
	if (admin == NULL || admin->user == NULL)
		return NULL;
	return admin->user->dn != NULL ? admin->user->dn : admin->user->login;
}

/*
 * ---- requests, built off the loop ----
 *
 * A step's request carries secrets the store decrypts (the candidate,
 * the current one, the admin's): it is built on libuv's pool through the
 * store's read handle (storeq.h), after the settle that ends this turn --
 * which commits what the step stands on, the pending secret above all --
 * while the loop goes on.  The run waits for it as it waits for its
 * worker.  What the request is built from is copied here, on the loop,
 * or is the run's generation's, which the job holds a reference to of
 * its own until req_done(): the stop deadline lets go of the run's while
 * the job may still wait in the queue or run on the pool, and after a
 * reload that was the last reference (daemon.c).  The worker
 * then waits, as ever, for the flush that covers the store's commits when
 * it started (run_spawn()).
 */
struct step_req {
	struct storeq_job job;
	struct run *r;
	struct gen *gen; /* WHO.u, SC and EXTRA are its */
	struct request_subject who;
	char *admin; /* its identity, or NULL */
	enum wire_op op;
	enum store_slot slot, old_slot;
	const struct job_script *sc; /* a script's input, else NULL */
	const char *provider;
	char action[64]; /* the test builds' word, or "" */
	const char *extra[7];
	bool apply;
	bool gate; /* a test's fault: held until ROTAD_FAULT_GATE exists */
	/* out */
	struct secret *request;
	int rc;
	char msg[STORE_MESSAGE_MAX + 1];
};

static void
req_work(struct storeq_job *j, struct store *rd)
{
	struct step_req *q = (struct step_req *)j;

	if (q->gate)
		fault_gate_wait();
	if (q->sc != NULL)
		q->rc = request_script(rd, &q->who, q->provider, q->sc, q->slot,
		    q->old_slot, &q->request, q->msg, sizeof(q->msg));
	else
		q->rc = request_step(rd, &q->who, q->admin, q->op, q->slot,
		    q->action[0] != '\0' ? q->action : NULL, &q->request,
		    q->msg, sizeof(q->msg));
}

static void resume(struct run *r, enum rotation_class c, const char *msg);
static void step_result(struct run *r, enum store_error_class class,
    bool untouched, const char *msg);
static int spawn_worker(struct run *r, const char *provider,
    struct secret *request, const char *const *extra, bool apply,
    struct outcome *o);

static void
req_done(struct storeq_job *j, bool cancelled)
{
	struct step_req *q = (struct step_req *)j;
	struct run *r = q->r;
	struct daemon *d = r->d;
	struct outcome o;

	r->requesting = false;
	if (r->abandoned) {
		/* The stop deadline passed meanwhile: no worker starts. */
		secret_free(q->request);
		batch_abandon(r);
		uv_close((uv_handle_t *)&r->timer, run_closed);
	} else if (cancelled) {
		step_result(r, STORE_ERROR_TRANSIENT, true,
		    "the daemon is stopping: no worker started");
	} else if (q->rc < 0) {
		step_result(r, STORE_ERROR_FATAL, false, q->msg);
	} else {
		if (q->sc != NULL)
			r->cur_script = q->sc; /* its output is kept */
		if (spawn_worker(
			r, q->provider, q->request, q->extra, q->apply, &o) < 0)
			resume(r, o.class, o.msg);
	}
	reload_gen_drop(d, q->gen);
	free(q->admin);
	free(q);
}

/* Build Q's request off the loop; req_done() goes on. */
static void
ask_request(struct run *r, struct step_req *q)
{
	q->job.work = req_work;
	q->job.done = req_done;
	q->r = r;
	q->gen = r->gen;
	q->gen->refs++;
	q->who = (struct request_subject){ r->user, r->us->name,
		r->us->cred == CRED_PRIVATE_KEY };
	q->gate = fault_is("gate", "request");
	r->requesting = true;
	storeq_submit(r->d->readq[READQ_RUNS], &q->job);
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

static void script_output(struct run *r, const struct wire_response *res);
static const struct job_script *script_at(const struct job_user *u, size_t i);
static int spawn_script(struct run *r, const char *provider,
    const struct job_script *sc, enum store_slot new_slot,
    enum store_slot old_slot, bool apply, struct outcome *o);

#define WORKER_GRACE_MS 5000

int
run_spawn(struct run *r, const char *provider, struct secret *request,
    const char *const *extra, size_t nreq, void *const *args,
    void (*cb)(int, const struct wire_response *, int, void *),
    struct spawn **ret)
{
	const struct job_daemon *jd = &r->gen->set->daemon;
	const char *argv[14];
	char parent[24];
	struct spawn_args a;
	size_t i;
	int n = 0;

	memset(&a, 0, sizeof(a));
	/* Nothing reaches a target before what the store has now is on
	 * disk (durable.h): the worker waits for its request till then.
	 * Its step's commits were made before the request was asked, so
	 * before now; holding for all of now's is simpler to reason about
	 * (and to watch: durable.sh) than for just those. */
	a.hold = durable_hold(r->d);
	/* The worker dies with us (PR_SET_PDEATHSIG), and leaves at once
	 * if we died before it could ask for that: it checks this pid. */
	snprintf(parent, sizeof(parent), "%ld", (long)getpid());
	argv[n++] = jd->worker_path != NULL ? jd->worker_path
					    : ROTAD_LIBEXECDIR "/rotad-worker";
	argv[n++] = "--provider";
	argv[n++] = provider;
	argv[n++] = "--user";
	argv[n++] =
	    jd->worker_user != NULL ? jd->worker_user : JOB_WORKER_USER_DEFAULT;
	argv[n++] = "--parent";
	argv[n++] = parent;
	while (*extra != NULL && n < 13)
		argv[n++] = *extra++;
	argv[n] = NULL;
	a.argv = argv;
	a.request = request;
	a.n = nreq;
	a.args = args;
	a.deadline_ms = (uint64_t)r->user->settings.timeout * 1000;
	a.grace_ms = WORKER_GRACE_MS;
	/* A batch's worker: the fault hook of any member's step, one fault
	 * for the one worker (each fires once). */
	for (i = 0; i < nreq && a.fault == SPAWN_FAULT_NONE; i++) {
		const struct run *m = nreq > 1 ? args[i] : r;

		if (fault_is("worker-early", step_name(m)))
			a.fault = SPAWN_FAULT_KILL_EARLY;
		else if (fault_is("worker-late", step_name(m)))
			a.fault = SPAWN_FAULT_KILL_LATE;
	}
	return spawn_start(r->d->loop, &a, cb, r, ret);
}

/* Why R's worker did not start (RC), in BUF. */
static void
unstarted_msg(const struct run *r, int rc, char *buf, size_t size)
{
	const struct job_daemon *jd = &r->gen->set->daemon;

	snprintf(buf, size, "starting %s: %s",
	    jd->worker_path != NULL ? jd->worker_path
				    : ROTAD_LIBEXECDIR "/rotad-worker",
	    uv_strerror(rc));
}

/*
 * Spawn a worker for R's current step with REQUEST (owned, freed here in
 * any case): PROVIDER and the command-line arguments in EXTRA (pairs,
 * NULL-terminated, at most 6), APPLY when the step may change the target.
 * 0: it runs (or waits in R's batch for the batch's worker), and
 * run_step_done() has its answer.  A failure to start is a transient
 * outcome, in O.
 */
static int
spawn_worker(struct run *r, const char *provider, struct secret *request,
    const char *const *extra, bool apply, struct outcome *o)
{
	int rc;

	if (r->batch != NULL) {
		batch_park(r, provider, request, extra, apply);
		return 0;
	}
	rc = run_spawn(
	    r, provider, request, extra, 1, NULL, run_step_done, &r->sp);
	if (rc < 0) {
		r->sp = NULL;
		r->cur_script = NULL;
		unstarted_msg(r, rc, o->buf, STORE_MESSAGE_MAX + 1);
		/* No worker ran: nothing can have reached the target. */
		return failed(o, ROTATION_UNTOUCHED, rc);
	}
	/* On disk before anything else can happen: a next life of the
	 * daemon ends it if this one dies (workers.h). */
	r->pid = spawn_pid(r->sp);
	workers_add(r->d->workers, r->pid);
	/* From now until its deadline has passed, this apply may land,
	 * whatever becomes of the worker.  From the worker's start, not
	 * the ask (as batch.c): the provider bounds its server-side work
	 * from there, and the request may have waited for the pool. */
	if (apply)
		run_apply_bound(
		    r->d, r->us, (uint64_t)r->user->settings.timeout * 1000);
	return 0;
}

void
run_apply_bound(struct daemon *d, struct ustate *us, uint64_t deadline_ms)
{
	uint64_t until;

	uv_update_time(d->loop);
	until = uv_now(d->loop) + deadline_ms + APPLY_SLACK_MS;
	if (until > us->apply_until)
		us->apply_until = until;
}

/* What the engine is told with each call for R (rotation.h). */
static void
env_of(const struct run *r, struct rotation_env *env)
{
	memset(env, 0, sizeof(*env));
	env->stopping = r->d->stopping;
	uv_update_time(r->d->loop);
	env->appliers_gone =
	    r->sp == NULL && uv_now(r->d->loop) >= r->us->apply_until;
}

/*
 * The test builds' fault slow-request:STEP: R's request for STEP waits
 * behind a read that outlasts the step's deadline by two seconds, as it
 * would behind a long queue of requests or a pool busy with keys and
 * flushes.  Nothing else changes, so that a test sees what an apply's
 * bound is timed from.
 */
struct slow_read {
	struct storeq_job job;
	unsigned int seconds;
};

static void
slow_work(struct storeq_job *j, struct store *rd)
{
	(void)rd;
	sleep(((struct slow_read *)j)->seconds);
}

static void
slow_done(struct storeq_job *j, bool cancelled)
{
	(void)cancelled;
	free(j);
}

static void
slow_request(struct run *r)
{
	struct slow_read *s = xcalloc(1, sizeof(*s));

	s->job.work = slow_work;
	s->job.done = slow_done;
	s->seconds = (unsigned int)r->user->settings.timeout + 2;
	log_msg(LOG_NOTICE, MSG_INTERNAL,
	    "fault injection: the request of run %s's %s waits %us", r->rec.id,
	    step_name(r), s->seconds);
	storeq_submit(r->d->readq[READQ_RUNS], &s->job);
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
	struct ustate *admin = NULL;
	struct step_req *q;
	const char *ta, *id;
	size_t i, n = 0;

	if (fault_is("slow-request", step_name(r)))
		slow_request(r);
	if (res->provider->caps & CATALOG_CAP_KEEPER_INPUT) {
		/* The generic provider: the resource's own scripts set the
		 * candidate, or log in with it; the other secret goes as
		 * oldPassword. */
		return spawn_script(r, res->provider->name,
		    jobs_param_script(res,
			op == WIRE_OP_APPLY ? "rotate_script"
					    : "verify_script"),
		    cand_slot(cand),
		    cand == ROTATION_CAND_CURRENT ? STORE_PREVIOUS
						  : STORE_CURRENT,
		    rop == ROTATION_OP_APPLY, o);
	}
	q = xcalloc(1, sizeof(*q));
	if (res->admin_user != NULL)
		admin = users_find(r->d, res->admin_user);
	id = admin_identity(admin);
	q->admin = id != NULL ? xstrdup(id) : NULL;
	ta = test_action(r, op, q->action, sizeof(q->action));
	if (ta != NULL && ta != q->action)
		snprintf(q->action, sizeof(q->action), "%s", ta);
	q->op = op;
	q->slot = cand_slot(cand);
	q->provider = res->provider->name;
	q->apply = rop == ROTATION_OP_APPLY;
	if (res->tls_ca_file != NULL) {
		q->extra[n++] = "--ca-file";
		q->extra[n++] = res->tls_ca_file;
	}
	/* A file the provider reads (ssh's known_hosts) must be open to
	 * its sandbox: each path its worker is sent, at most two. */
	for (i = 0;
	     i < res->nparams && n + 2 < sizeof(q->extra) / sizeof(*q->extra);
	     i++)
		if (res->params[i].key->type == CATALOG_PATH &&
		    (res->params[i].key->flags & CATALOG_KEY_WORKER)) {
			q->extra[n++] = "--read";
			q->extra[n++] = res->params[i].value;
		}
	ask_request(r, q);
	return 0;
}

/* The outcome of R's current operation, to the engine: CLASS NONE is
 * success; UNTOUCHED, the worker says the target was not changed. */
static void
step_result(struct run *r, enum store_error_class class, bool untouched,
    const char *msg)
{
	enum rotation_class c = class_of(class);

	if (untouched && c == ROTATION_TRANSIENT)
		c = ROTATION_UNTOUCHED;
	resume(r, c, msg);
}

/* R's operation ended with class C (MSG): the engine goes on. */
static void
resume(struct run *r, enum rotation_class c, const char *msg)
{
	struct rotation_actions acts;
	struct rotation_env env;

	env_of(r, &env);
	rotation_result(&r->rot, c, msg, &env, &acts);
	run_do(r, &acts);
}

/* A host key R's worker saw first (host_key_policy: tofu) is recorded. */
static void
tofu_learnt(struct run *r, const struct wire_response *res)
{
	char fp[64];
	int rc;

	rc = request_tofu_learnt(
	    r->d->store, r->user->resource, res->facts, fp, sizeof(fp));
	if (rc > 0)
		log_msg(LOG_NOTICE, MSG_RUN_START,
		    "run %s %s: resource %s: host key %s recorded "
		    "(host_key_policy: tofu); it is required from now on",
		    r->rec.id, r->us->name, r->user->resource->name, fp);
	else if (rc < 0)
		log_msg(LOG_ERR, MSG_STORE,
		    "run %s %s: resource %s: the host key seen first was not "
		    "recorded: %s",
		    r->rec.id, r->us->name, r->user->resource->name,
		    rc == -EINVAL ? "malformed"
				  : store_last_error(r->d->store));
}

/*
 * A worker's failure MESSAGE, in BUF when the daemon knows what to do
 * next: a self-change refused because no current secret was seeded (the
 * worker cannot name the command; the daemon can).  Else MESSAGE.
 */
static const char *
with_hint(struct run *r, const char *message, char *buf, size_t size)
{
	if (r->rot.step != ROTATION_APPLY || r->user->resource == NULL ||
	    r->user->resource->admin_user != NULL ||
	    has_secret(r->d, r->us->name, STORE_CURRENT))
		return message;
	/* The hint first: a long message loses its own end, not the hint. */
	if (snprintf(buf, size,
		"no current secret to change it from (set it with rotactl "
		"secret set %s): %s",
		r->us->name, message) < 0)
		return message;
	return buf;
}

void
run_step_done(
    int status, const struct wire_response *res, int exit_code, void *arg)
{
	struct run *r = arg;
	char msg[STORE_MESSAGE_MAX + 1];

	r->sp = NULL;
	if (r->pid != 0) /* a batch's worker is the batch's */
		workers_remove(r->d->workers, r->pid);
	r->pid = 0;
	if (fault_is("daemon-mid", step_name(r))) {
		/* The worker has done its step; the daemon dies before it
		 * learns how it went. */
		raise(SIGKILL);
	}
	if (r->abandoned) {
		/* The stop deadline passed while this worker ran. */
		batch_abandon(r);
		uv_close((uv_handle_t *)&r->timer, run_closed);
		return;
	}
	if (status < 0) {
		snprintf(msg, sizeof(msg),
		    "%s: the worker gave no answer (%s, exit %d)", step_name(r),
		    status == -ETIMEDOUT ? "deadline passed"
					 : strerror(-status),
		    exit_code);
		step_result(r, STORE_ERROR_TRANSIENT, false, msg);
		return;
	}
	if (r->cur_script != NULL)
		script_output(r, res);
	else
		tofu_learnt(r, res);
	r->cur_script = NULL;
	step_result(r, (enum store_error_class)res->class, res->untouched,
	    res->class == WIRE_CLASS_NONE
		? "ok"
		: with_hint(r, res->message, msg, sizeof(msg)));
}

void
run_step_unstarted(struct run *r, int rc)
{
	char msg[STORE_MESSAGE_MAX + 1];

	r->cur_script = NULL;
	unstarted_msg(r, rc, msg, sizeof(msg));
	step_result(r, STORE_ERROR_TRANSIENT, true, msg);
}

/*
 * ---- post-rotation scripts ----
 *
 * After the commit, the user's scripts, then its resource's, then its
 * configuration's, one worker each (the script provider: its own sandbox
 * profile, which may exec the script's interpreter and nothing else).
 * Each gets Keeper's input line (script_input.h) with the new
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
/*
 * Run script SC in a worker of the script profile, its input built with
 * NEW_SLOT's secret as newPassword and OLD_SLOT's as oldPassword; APPLY
 * when it may change the target (a generic provider's rotate script).
 * 0, or -errno with the outcome in O when it could not start.
 */
static int
spawn_script(struct run *r, const char *provider, const struct job_script *sc,
    enum store_slot new_slot, enum store_slot old_slot, bool apply,
    struct outcome *o)
{
	struct step_req *q = xcalloc(1, sizeof(*q));

	(void)o; /* the outcome comes from req_done() */
	q->sc = sc;
	q->provider = provider;
	q->slot = new_slot;
	q->old_slot = old_slot;
	/* The script's profile may execute its interpreter, or the script
	 * itself, and nothing else. */
	q->extra[0] = "--exec";
	q->extra[1] = sc->command != NULL ? sc->command : sc->path;
	if (sc->command != NULL) {
		q->extra[2] = "--read";
		q->extra[3] = sc->path;
	}
	/* A generic provider's rotate script may change the target: its
	 * apply bound is set as its worker starts (spawn_worker()).  Its
	 * provider takes no batches. */
	q->apply = apply;
	ask_request(r, q);
	return 0;
}

/* Post-rotation script I: the new secret is current now. */
static int
start_script(struct run *r, size_t i, struct outcome *o)
{
	return spawn_script(r, "post-rotation", script_at(r->user, i),
	    STORE_CURRENT, STORE_PREVIOUS, false, o);
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
	r->scripts_failed |= !o.ok;
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
run_settings(const struct ustate *us, struct rotation_caps *caps,
    struct rotation_flags *flags)
{
	const struct job_user *u = us->user;
	const struct job_resource *res = u->resource;
	size_t n = 0;

	memset(caps, 0, sizeof(*caps));
	caps->has_admin = res != NULL && res->admin_user != NULL;
	/* The catalog says whether the provider can set a secret again
	 * without an admin credential (the generic script provider's own
	 * rotate script can). */
	caps->reconcile_without_admin = res != NULL &&
	    (res->provider->caps & CATALOG_CAP_RECONCILE_WITHOUT_ADMIN);
	caps->noop = u->noop;
	memset(flags, 0, sizeof(*flags));
	/* The engine's one rollback flag is the credential's own. */
	flags->rollback_on_password_fail = us->cred == CRED_PRIVATE_KEY
	    ? u->settings.rollback_on_private_key_fail
	    : u->settings.rollback_on_password_fail;
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

/* The new key of R is made (keygen.h): store it pending, and tell the
 * engine how its prepare went. */
static void
key_made(void *arg, struct secret *key, enum sshkey_type type, int bits,
    const char *why, int rc)
{
	struct run *r = arg;
	char msg[STORE_MESSAGE_MAX + 1];

	r->generating = false;
	if (r->abandoned) {
		/* The stop deadline passed meanwhile: nothing was stored. */
		secret_free(key);
		uv_close((uv_handle_t *)&r->timer, run_closed);
		return;
	}
	if (rc < 0) {
		snprintf(msg, sizeof(msg), "generating the new key: %s",
		    strerror(-rc));
		step_result(r, STORE_ERROR_FATAL, false, msg);
		return;
	}
	log_msg(LOG_INFO, MSG_RUN_START,
	    "run %s %s: a new %s key of %d bits (%s)", r->rec.id, r->us->name,
	    sshkey_type_name(type),
	    bits != 0                       ? bits
		: type == SSHKEY_ED25519    ? 256
		: type == SSHKEY_ECDSA_P256 ? 256
		: type == SSHKEY_ECDSA_P384 ? 384
					    : 521,
	    why);
	if (prepare_store(r, key, msg, sizeof(msg)) < 0) {
		step_result(r, STORE_ERROR_FATAL, false, msg);
		return;
	}
	step_result(r, STORE_ERROR_NONE, false, "ok");
}

/*
 * Prepare for an SSH key: a key pair like the current one, made with its
 * choice on the thread pool (keygen.h); key_made() goes on.  0, or -errno
 * with the outcome in O when the work could not start.
 */
static int
prepare_key(struct run *r, struct outcome *o)
{
	const struct job_settings *st = &r->user->settings;
	struct keygen_args a;
	char comment[STORE_USER_MAX + 8], pname[STORE_USER_MAX + 1];
	int rc;

	memset(&a, 0, sizeof(a));
	if (sshkey_type_from_name(st->private_key_type, &a.fallback) < 0)
		a.fallback = SSHKEY_ED25519; /* jobs/ checked it */
	a.forced = st->private_key_type_origin.level != JOB_LEVEL_BUILTIN
	    ? a.fallback
	    : SSHKEY_UNKNOWN;
	(void)store_secret_get(
	    r->d->store, r->us->name, STORE_CURRENT, &a.current, NULL);
	if (snprintf(pname, sizeof(pname), "%s%s", r->user->name,
		CRED_PASSPHRASE_SUFFIX) < (int)sizeof(pname))
		(void)store_secret_get(
		    r->d->store, pname, STORE_CURRENT, &a.passphrase, NULL);
	snprintf(comment, sizeof(comment), "rotad-%s",
	    r->user->login != NULL ? r->user->login : r->user->name);
	a.comment = comment;
	rc = keygen_start(r->d->loop, &a, key_made, r);
	if (rc < 0) {
		snprintf(o->buf, sizeof(o->buf), "generating the new key: %s",
		    uv_strerror(rc));
		return failed(o, ROTATION_FATAL, rc);
	}
	r->generating = true;
	return 0;
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
		emit_run(r, EVENT_ROTATION_RECOVERED,
		    "the new secret logs in; committing");
		return;
	case ROTATION_EV_CURRENT_WORKS:
		log_msg(LOG_NOTICE, MSG_RECOVER,
		    "run %s %s: the old secret still logs in; the new "
		    "one is dropped",
		    id, user);
		emit_run(r, EVENT_ROTATION_RECOVERED,
		    "the old secret still logs in; the new one is dropped");
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
		emit_run(r, EVENT_ROTATION_OUT_OF_SYNC, a->msg);
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
	case ROTATION_EV_MAY_LAND:
		log_msg(LOG_NOTICE, MSG_RECOVER,
		    "run %s %s: %s; both are kept and probed again later", id,
		    user, a->msg);
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
 * not start.  A worker that runs answers later, in run_step_done().
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
		if (a->store == ROTATION_STORE_PREPARE &&
		    r->us->cred == CRED_PRIVATE_KEY)
			return prepare_key(r, o) < 0;
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
	struct rotation_env env;
	struct outcome o;
	size_t i;
	bool now;

	for (;;) {
		now = false;
		for (i = 0; i < acts->n && !now; i++)
			now = act(r, &acts->v[i], &o);
		if (!now)
			return;
		env_of(r, &env);
		rotation_result(&r->rot, o.class, o.msg, &env, acts);
	}
}

/* R's step is due (its delay, if any, has passed): the engine says how. */
static void
run_step(struct run *r)
{
	struct rotation_actions acts;
	struct rotation_env env;

	env_of(r, &env);
	rotation_enter(&r->rot, &env, &acts);
	run_do(r, &acts);
}
