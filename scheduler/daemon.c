/*
 * daemon.c: the scheduler: start, stop, and (for now) the runs.
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
 *
 * This file starts and stops the daemon and, for now, holds the runs and
 * their steps; the schedule is in fire.c, reload in reload.c, the control
 * commands in command.c (daemon-internal.h lists them all).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
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
#include "daemon.h"
#include "daemon-internal.h"
#include "heap.h"
#include "jobs.h"
#include "keys.h"
#include "log.h"
#include "policy.h"
#include "protocol.h"
#include "secret.h"
#include "script_input.h"
#include "spawn.h"
#include "store.h"
#include "wire.h"

static void run_step(struct run *r);
static struct run *run_alloc(
    struct daemon *d, struct ustate *us, enum run_kind kind, int64_t fire);
static void maybe_finish_stop(struct daemon *d);

/* ---- runs ---- */

const char *
kind_name(enum run_kind k)
{
	return k == RUN_VERIFY ? "verify" : "rotate";
}

/* A verify run that succeeded is stored committed (finished) and shown
 * as verified. */
const char *
state_shown(const char *kind, enum store_run_state state)
{
	if (strcmp(kind, "verify") == 0 && state == STORE_RUN_COMMITTED)
		return "verified";
	return store_run_state_name(state);
}

const char *
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

json_t *
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
struct run *
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
	us->run = r;
	return r;
}

static void
step_timer(uv_timer_t *t)
{
	run_step(t->data);
}

/* Go on to STEP, after the test provider's delay if it has one. */
static void
next_step(struct run *r, enum step step)
{
	const struct job_resource *res = r->user->resource;
	uint64_t ms = res != NULL ? (uint64_t)res->test_delay * 1000 : 0;

	r->step = step;
	uv_timer_start(&r->timer, step_timer, ms, 0);
}

static void
start_run(struct daemon *d, struct run *r)
{
	TAILQ_REMOVE(&d->queue, r, queue);
	d->nqueued--;
	d->nrunning++;
	r->rs->running++;
	r->phase = PHASE_RUNNING;
	log_msg(LOG_INFO, MSG_RUN_START, "run %s %s %s attempt %d", r->rec.id,
	    kind_name(r->kind), r->us->name, r->rec.attempts);
	next_step(r,
	    r->resume != STEP_START     ? r->resume
		: r->kind == RUN_VERIFY ? STEP_APPLY
					: STEP_PREPARE);
}

void
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
	if (r->resume == STEP_PROBE_PENDING)
		run_finish(r, STORE_RUN_OUT_OF_SYNC, r->rec.error_class,
		    "stopped while waiting to recover; recovery resumes at "
		    "the next start");
	else
		run_finish(r, STORE_RUN_FAILED, r->rec.error_class,
		    "stopped while waiting to retry");
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
 * A step failed with CLASS.  Decide by class whether and when to try
 * again; see the comment at the top of the file.
 */
static void
run_failed_step(struct run *r, enum store_error_class class, const char *why)
{
	struct daemon *d = r->d;
	const struct job_retry *rp = &r->user->settings.retry;
	char msg[STORE_MESSAGE_MAX + 1];
	int64_t delay = -1;

	/* WHY may be r->fail_msg, which is cleared below. */
	snprintf(msg, sizeof(msg), "%s", why);
	discard_pending(r);
	r->resume = STEP_START;
	r->fail_msg[0] = '\0';
	r->scripted_fail = false;
	switch (class) {
	case STORE_ERROR_TRANSIENT:
		if (r->rec.attempts < rp->attempts)
			delay = backoff_delay(rp->initial, rp->max,
			    r->rec.attempts, backoff_rand_crypto, NULL);
		break;
	case STORE_ERROR_AUTH:
		if (!r->reconciled && r->kind == RUN_ROTATE) {
			r->reconciled = true;
			delay = 0;
		}
		break;
	case STORE_ERROR_POLICY:
		if (!r->regenerated && r->kind == RUN_ROTATE) {
			r->regenerated = true;
			delay = 0;
		}
		break;
	default:
		break;
	}
	if (delay < 0 || d->stopping) {
		run_finish(r, STORE_RUN_FAILED, class, msg);
		return;
	}
	d->retries++;
	d->nrunning--;
	r->rs->running--;
	r->rec.error_class = class;
	r->rec.attempts++;
	r->phase = PHASE_RETRY_WAIT;
	snprintf(r->rec.message, sizeof(r->rec.message),
	    "%.200s; attempt %d in "
	    "%" PRId64 "s",
	    msg, r->rec.attempts, delay);
	log_msg(LOG_NOTICE, MSG_RUN_RETRY, "run %s %s: %s (%s)", r->rec.id,
	    r->us->name, r->rec.message, store_error_class_name(class));
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
 * A rotation, as docs/ARCHITECTURE.md draws it:
 *
 *   prepare -> apply -> verify -> commit
 *
 * prepare and commit are store transactions here; apply and verify each
 * run in a fresh rotad-worker (spawn.c).  A step whose outcome is unsure
 * (apply that got no answer or a transient error, any failed verify, a
 * run found unfinished at start) goes through recovery, which asks the
 * target rather than guessing:
 *
 *   probe_pending   the new secret logs in  -> commit
 *   probe_current   the old one does        -> drop pending; retry by class
 *   reconcile       with the admin credential set the new secret again
 *                   (or, with rollback_on_password_fail, the old one),
 *   reconcile_verify  and log in with it    -> commit (or drop pending)
 *   else            out_of_sync: both kept, retried with backoff.
 *
 * An apply the provider says the target refused (auth, policy, fatal)
 * leaves the target as it was: pending is dropped and the class decides.
 */

/* Which stored secret a worker is handed as the one to set or log in
 * with. */
enum cand {
	CAND_PENDING,
	CAND_CURRENT,
	CAND_PREVIOUS, /* rolling a committed rotation back */
};

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

static const char *
step_name(enum step s)
{
	static const char *const names[] = {
		[STEP_START] = "start",
		[STEP_PREPARE] = "prepare",
		[STEP_APPLY] = "apply",
		[STEP_VERIFY] = "verify",
		[STEP_COMMIT] = "commit",
		[STEP_PROBE_PENDING] = "probe_pending",
		[STEP_PROBE_CURRENT] = "probe_current",
		[STEP_RECONCILE] = "reconcile",
		[STEP_RECONCILE_VERIFY] = "reconcile_verify",
		[STEP_SCRIPTS] = "scripts",
		[STEP_UNDO] = "undo",
		[STEP_UNDO_VERIFY] = "undo_verify",
		[STEP_UNDO_KEEP] = "undo_keep",
	};

	return names[s];
}

/* A step is persisted: the crash test may kill the daemon here. */
static void
boundary(struct run *r, enum step done)
{
	if (fault_is("daemon", step_name(done))) {
		log_msg(LOG_NOTICE, MSG_INTERNAL,
		    "fault injection: killing the daemon after %s",
		    step_name(done));
		raise(SIGKILL);
	}
	(void)r;
}

static enum store_slot
cand_slot(enum cand cand)
{
	return cand == CAND_PENDING ? STORE_PENDING
	    : cand == CAND_CURRENT  ? STORE_CURRENT
				    : STORE_PREVIOUS;
}

static const char *
slot_name(enum store_slot slot)
{
	return slot == STORE_PENDING ? "pending"
	    : slot == STORE_CURRENT  ? "current"
				     : "previous";
}

/*
 * The encoded request for the worker of R's current step: the target from
 * the job, the secrets from the store (decrypted here, wiped as soon as
 * they are encoded).  Returns 0, or -errno with a reason in MSG.
 */
static int
step_request(struct run *r, enum wire_op op, enum cand cand,
    struct secret **ret, char *msg, size_t size)
{
	struct daemon *d = r->d;
	const struct job_user *u = r->user;
	const struct job_resource *res = u->resource;
	struct wire_request q;
	struct wire_param params[1];
	struct ustate *admin;
	char action[64];
	int rc;

	memset(&q, 0, sizeof(q));
	q.op = op;
	q.provider = res->protocol;
	q.host = res->host;
	q.port = res->port;
	/* The provider's own settings travel as parameters. */
	if (res->database != NULL) {
		params[0].key = (char *)"database";
		params[0].value = res->database;
		q.params = params;
		q.nparams = 1;
	}
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
	    r->step == STEP_APPLY && r->us->test_calls++ < res->test_fail) {
		snprintf(action, sizeof(action), "fail:%s",
		    res->test_error != NULL ? res->test_error : "transient");
		q.test_action = action;
		r->scripted_fail = true;
	} else if (r->scripted_fail && r->step == STEP_PROBE_PENDING) {
		/* The test provider keeps no target: after a scripted
		 * failure, the target is one that did not take the new
		 * secret. */
		q.test_action = "fail:auth";
	}
	if (fault_is("hang", step_name(r->step)))
		q.test_action = "fault:hang";
	else if (fault_is("fail", step_name(r->step)))
		q.test_action = "fault:fail";
	else if (fault_is("auth", step_name(r->step)))
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
	log_msg(LOG_NOTICE, MSG_RECOVER, "run %s %s: %s", r->rec.id,
	    r->us->name, r->rec.message);
	return 0;
}

static void step_done(
    int status, const struct wire_response *res, int exit_code, void *arg);
static void script_output(struct run *r, const struct wire_response *res);
static void script_done(struct run *r, bool ok, const char *msg);
static void spawn_script(struct run *r, const char *provider,
    const struct job_script *sc, enum store_slot new_slot,
    enum store_slot old_slot);
static void undo_commit(struct run *r);
static void step_result(
    struct run *r, enum store_error_class class, const char *msg);

#define WORKER_GRACE_MS 5000

/*
 * Spawn a worker for R's current step with REQUEST (owned, freed here in
 * any case): PROVIDER and the command-line arguments in EXTRA (pairs,
 * NULL-terminated, at most 4).  A failure to start is a transient result.
 */
static void
spawn_worker(struct run *r, const char *provider, struct secret *request,
    const char *const *extra)
{
	const struct job_daemon *jd = &r->gen->set->daemon;
	const char *argv[12];
	struct spawn_args a;
	char msg[STORE_MESSAGE_MAX + 1];
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
	if (fault_is("worker-early", step_name(r->step)))
		a.fault = SPAWN_FAULT_KILL_EARLY;
	else if (fault_is("worker-late", step_name(r->step)))
		a.fault = SPAWN_FAULT_KILL_LATE;
	rc = spawn_start(r->d->loop, &a, step_done, r, &r->sp);
	if (rc < 0) {
		r->sp = NULL;
		r->cur_script = NULL;
		snprintf(msg, sizeof(msg), "starting %s: %s", argv[0],
		    uv_strerror(rc));
		step_result(r, STORE_ERROR_TRANSIENT, msg);
	}
}

/* Start a worker for R's current step: OP with the CAND secret. */
static void
start_worker(struct run *r, enum wire_op op, enum cand cand)
{
	const struct job_resource *res = r->user->resource;
	const char *extra[3] = { NULL };
	struct secret *request = NULL;
	char msg[STORE_MESSAGE_MAX + 1];

	if (strcmp(res->protocol, "script") == 0) {
		/* The generic provider: the resource's own scripts set the
		 * candidate, or log in with it; the other secret goes as
		 * oldPassword. */
		spawn_script(r, "script",
		    op == WIRE_OP_APPLY ? &res->rotate_script
					: &res->verify_script,
		    cand_slot(cand),
		    cand == CAND_CURRENT ? STORE_PREVIOUS : STORE_CURRENT);
		return;
	}
	if (step_request(r, op, cand, &request, msg, sizeof(msg)) < 0) {
		step_result(r, STORE_ERROR_FATAL, msg);
		return;
	}
	if (res->tls_ca_file != NULL) {
		extra[0] = "--ca-file";
		extra[1] = res->tls_ca_file;
	}
	spawn_worker(r, res->protocol, request, extra);
}

static void
step_done(int status, const struct wire_response *res, int exit_code, void *arg)
{
	struct run *r = arg;
	char msg[STORE_MESSAGE_MAX + 1];

	r->sp = NULL;
	if (fault_is("daemon-mid", step_name(r->step))) {
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
		    "%s: the worker gave no answer (%s, exit %d)",
		    step_name(r->step),
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

/* Remember why the run is in recovery, for when recovery gives up. */
static void
keep_failure(struct run *r, enum store_error_class class, const char *msg)
{
	r->fail_class = class;
	snprintf(r->fail_msg, sizeof(r->fail_msg), "%s: %s", step_name(r->step),
	    msg);
}

/* Persist state STATE with MSG and go on to NEXT. */
static void
advance(
    struct run *r, enum store_run_state state, const char *msg, enum step next)
{
	enum step done = r->step;

	r->rec.state = state;
	snprintf(r->rec.message, sizeof(r->rec.message), "%s", msg);
	run_update(r);
	boundary(r, done);
	next_step(r, next);
}

/*
 * Recovery cannot finish now: the target did not answer (STATE_OOS
 * false), or neither candidate logs in and the admin credential could
 * not set one (out of sync).  Both candidates stay in the store; recovery
 * starts again after a backoff, and when the attempts are spent the run
 * ends out_of_sync, to be recovered at the next start or the next run.
 */
static void
recovery_later(struct run *r, bool oos, const char *msg)
{
	struct daemon *d = r->d;
	const struct job_retry *rp = &r->user->settings.retry;
	int64_t delay;

	if (oos)
		log_msg(LOG_ERR, MSG_OUT_OF_SYNC,
		    "run %s %s: out of sync: neither the new nor the old "
		    "secret logs in (%s); both are kept",
		    r->rec.id, r->us->name, msg);
	if (r->rec.attempts >= rp->attempts || d->stopping) {
		run_finish(r, STORE_RUN_OUT_OF_SYNC,
		    oos ? STORE_ERROR_AUTH : STORE_ERROR_TRANSIENT, msg);
		return;
	}
	delay = backoff_delay(
	    rp->initial, rp->max, r->rec.attempts, backoff_rand_crypto, NULL);
	d->retries++;
	d->nrunning--;
	r->rs->running--;
	if (oos)
		r->rec.state = STORE_RUN_OUT_OF_SYNC;
	r->rec.error_class = oos ? STORE_ERROR_AUTH : STORE_ERROR_TRANSIENT;
	r->rec.attempts++;
	r->phase = PHASE_RETRY_WAIT;
	r->resume = STEP_PROBE_PENDING;
	snprintf(r->rec.message, sizeof(r->rec.message),
	    "%s (%.200s); recovery again in %" PRId64 "s",
	    oos ? "out of sync" : "recovery: no answer", msg, delay);
	run_update(r);
	uv_timer_start(&r->timer, retry_timer, (uint64_t)delay * 1000, 0);
	dispatch_queue(d);
}

/* The outcome of R's current worker step: CLASS NONE is success. */
static void
step_result(struct run *r, enum store_error_class class, const char *msg)
{
	const struct job_user *u = r->user;
	bool ok = class == STORE_ERROR_NONE;
	bool rollback = u->settings.rollback_on_password_fail;

	switch (r->step) {
	case STEP_APPLY:
		if (r->kind == RUN_VERIFY) {
			if (ok)
				run_finish(r, STORE_RUN_COMMITTED,
				    STORE_ERROR_NONE,
				    "verify: the current secret logs in");
			else
				run_failed_step(r, class, msg);
			return;
		}
		if (ok) {
			advance(r, STORE_RUN_APPLIED, "applied", STEP_VERIFY);
			return;
		}
		if (class != STORE_ERROR_TRANSIENT) {
			/* The target refused: it still has the old one. */
			run_failed_step(r, class, msg);
			return;
		}
		keep_failure(r, class, msg);
		next_step(r, STEP_PROBE_PENDING);
		return;
	case STEP_VERIFY:
		if (ok) {
			advance(r, STORE_RUN_VERIFIED, "verified", STEP_COMMIT);
			return;
		}
		keep_failure(r, class, msg);
		next_step(r, STEP_PROBE_PENDING);
		return;
	case STEP_PROBE_PENDING:
		if (ok) {
			log_msg(LOG_NOTICE, MSG_RECOVER,
			    "run %s %s: the new secret logs in; committing",
			    r->rec.id, r->us->name);
			advance(r, STORE_RUN_VERIFIED,
			    "recovered: the new secret logs in", STEP_COMMIT);
			return;
		}
		if (class == STORE_ERROR_TRANSIENT) {
			/* No answer is not a refusal: ask again later. */
			recovery_later(r, false, msg);
			return;
		}
		next_step(r, STEP_PROBE_CURRENT);
		return;
	case STEP_PROBE_CURRENT:
		if (!ok && class == STORE_ERROR_TRANSIENT) {
			recovery_later(r, false, msg);
			return;
		}
		if (ok) {
			log_msg(LOG_NOTICE, MSG_RECOVER,
			    "run %s %s: the old secret still logs in; the new "
			    "one is dropped",
			    r->rec.id, r->us->name);
			run_failed_step(r, r->fail_class, r->fail_msg);
			return;
		}
		r->rolled_back = rollback && r->has_current;
		next_step(r, STEP_RECONCILE);
		return;
	case STEP_RECONCILE:
		if (ok) {
			next_step(r, STEP_RECONCILE_VERIFY);
			return;
		}
		recovery_later(r, true, msg);
		return;
	case STEP_RECONCILE_VERIFY:
		if (!ok) {
			recovery_later(r, true, msg);
			return;
		}
		if (r->rolled_back) {
			log_msg(LOG_NOTICE, MSG_RECOVER,
			    "run %s %s: the old secret was restored on the "
			    "target (rollback_on_password_fail)",
			    r->rec.id, r->us->name);
			run_failed_step(r, r->fail_class, r->fail_msg);
			return;
		}
		advance(r, STORE_RUN_VERIFIED,
		    "reconciled: the new secret was set again and logs in",
		    STEP_COMMIT);
		return;
	case STEP_SCRIPTS:
		script_done(r, ok, msg);
		return;
	case STEP_UNDO:
		next_step(r, ok ? STEP_UNDO_VERIFY : STEP_UNDO_KEEP);
		if (!ok)
			keep_failure(r, class, msg);
		return;
	case STEP_UNDO_VERIFY:
		if (!ok) {
			keep_failure(r, class, msg);
			next_step(r, STEP_UNDO_KEEP);
			return;
		}
		undo_commit(r);
		return;
	case STEP_UNDO_KEEP:
		if (ok) {
			run_finish(r, STORE_RUN_COMMITTED, STORE_ERROR_FATAL,
			    "a post-rotation script failed and the rollback "
			    "did not take: the new secret is kept, and works");
			return;
		}
		/* Neither the old secret (after an undo that failed) nor
		 * the new one logs in: say so, keep both. */
		run_finish(
		    r, STORE_RUN_OUT_OF_SYNC, STORE_ERROR_AUTH, r->fail_msg);
		return;
	default:
		log_msg(LOG_ERR, MSG_INTERNAL, "run %s: result in step %s",
		    r->rec.id, step_name(r->step));
		return;
	}
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
 * NEW_SLOT's secret as newPassword and OLD_SLOT's as oldPassword.
 */
static void
spawn_script(struct run *r, const char *provider, const struct job_script *sc,
    enum store_slot new_slot, enum store_slot old_slot)
{
	const char *extra[5] = { NULL };
	struct secret *request = NULL;
	char msg[STORE_MESSAGE_MAX + 1];

	if (script_request(r, provider, sc, new_slot, old_slot, &request, msg,
		sizeof(msg)) < 0) {
		step_result(r, STORE_ERROR_FATAL, msg);
		return;
	}
	/* The script's profile may execute its interpreter, or the script
	 * itself, and nothing else. */
	extra[0] = "--exec";
	extra[1] = sc->command != NULL ? sc->command : sc->path;
	if (sc->command != NULL) {
		extra[2] = "--read";
		extra[3] = sc->path;
	}
	r->cur_script = sc; /* its output is kept with the run */
	spawn_worker(r, provider, request, extra);
}

/* The post-rotation script R is at: the new secret is current now. */
static void
start_script(struct run *r)
{
	spawn_script(r, "post-rotation", script_at(r->user, r->script),
	    STORE_CURRENT, STORE_PREVIOUS);
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

static void
script_done(struct run *r, bool ok, const char *msg)
{
	const struct job_script *sc = script_at(r->user, r->script);
	char text[STORE_MESSAGE_MAX + 1];

	if (!ok) {
		r->scripts_failed++;
		log_msg(LOG_WARNING, MSG_SCRIPT,
		    "run %s %s: post-rotation script %s failed: %s", r->rec.id,
		    r->us->name, sc->path, msg);
	} else {
		log_msg(LOG_INFO, MSG_SCRIPT,
		    "run %s %s: post-rotation script %s succeeded", r->rec.id,
		    r->us->name, sc->path);
	}
	r->script++;
	if (script_at(r->user, r->script) != NULL) {
		next_step(r, STEP_SCRIPTS);
		return;
	}
	if (r->undone) {
		/* The scripts ran again after the rollback, with the old
		 * secret as the new one (rerun_on_post_rotation_fail). */
		run_finish(r, STORE_RUN_FAILED, STORE_ERROR_FATAL, r->fail_msg);
		return;
	}
	if (r->scripts_failed > 0 &&
	    r->user->settings.rollback_on_post_rotation_fail) {
		snprintf(r->fail_msg, sizeof(r->fail_msg),
		    "%d post-rotation script%s failed; rolled back to the "
		    "previous secret",
		    r->scripts_failed, r->scripts_failed == 1 ? "" : "s");
		next_step(r, STEP_UNDO);
		return;
	}
	if (r->scripts_failed == 0) {
		run_finish(r, STORE_RUN_COMMITTED, STORE_ERROR_NONE,
		    "committed; post-rotation scripts succeeded");
		return;
	}
	snprintf(text, sizeof(text),
	    "committed; %d post-rotation script%s failed (rotactl run shows "
	    "the output)",
	    r->scripts_failed, r->scripts_failed == 1 ? "" : "s");
	run_finish(r, STORE_RUN_COMMITTED, STORE_ERROR_FATAL, text);
}

/*
 * The target has the old secret again and it logs in: make the store
 * agree (the old value becomes current again, as a new version, and the
 * rolled-back one previous), then, with rerun_on_post_rotation_fail, run
 * the scripts again, which now see the old secret as the new one.
 */
static void
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
	if (rc < 0) {
		/* The target has the old one, the store the new one as
		 * current and the old as previous: both are kept. */
		run_finish(r, STORE_RUN_OUT_OF_SYNC, STORE_ERROR_FATAL,
		    "rolled back on the target, but the store could not "
		    "follow; the previous secret is the one that works");
		return;
	}
	log_msg(LOG_NOTICE, MSG_RECOVER,
	    "run %s %s: a post-rotation script failed; the previous secret "
	    "is back on the target and current in the store",
	    r->rec.id, r->us->name);
	r->undone = true;
	if (r->user->settings.rerun_on_post_rotation_fail) {
		r->script = 0;
		r->scripts_failed = 0;
		next_step(r, STEP_SCRIPTS);
		return;
	}
	run_finish(r, STORE_RUN_FAILED, STORE_ERROR_FATAL, r->fail_msg);
}

static void
run_step(struct run *r)
{
	struct daemon *d = r->d;
	char msg[STORE_MESSAGE_MAX + 1];
	int rc;

	switch (r->step) {
	case STEP_START:
	case STEP_PREPARE:
		r->step = STEP_PREPARE;
		if (adopt_pending(r) == 0) {
			/* An earlier run left a pending secret the target
			 * may hold: settle that first, through recovery. */
			keep_failure(r, STORE_ERROR_TRANSIENT,
			    "a pending secret from an earlier run");
			next_step(r, STEP_PROBE_PENDING);
			return;
		}
		if (prepare(r, msg, sizeof(msg)) < 0) {
			run_finish(r, STORE_RUN_FAILED, STORE_ERROR_FATAL, msg);
			return;
		}
		boundary(r, STEP_PREPARE);
		/* A noop user has no target: only its scripts run. */
		next_step(r, r->user->noop ? STEP_COMMIT : STEP_APPLY);
		return;
	case STEP_APPLY:
		if (r->kind == RUN_VERIFY) {
			if (!r->created) {
				r->rec.state = STORE_RUN_PREPARED;
				snprintf(r->rec.message, sizeof(r->rec.message),
				    "verify: logging in with the current "
				    "secret");
				if (store_run_create(d->store, &r->rec) == 0)
					r->created = true;
			}
			start_worker(r, WIRE_OP_VERIFY, CAND_CURRENT);
			return;
		}
		start_worker(r, WIRE_OP_APPLY, CAND_PENDING);
		return;
	case STEP_VERIFY:
	case STEP_PROBE_PENDING:
		start_worker(r, WIRE_OP_VERIFY, CAND_PENDING);
		return;
	case STEP_PROBE_CURRENT:
		r->has_current = has_secret(d, r->us->name, STORE_CURRENT);
		if (!r->has_current) {
			/* A first rotation, and the target refused the new
			 * secret: it never took it, and there is no old one
			 * to lose. */
			run_failed_step(r, r->fail_class, r->fail_msg);
			return;
		}
		start_worker(r, WIRE_OP_VERIFY, CAND_CURRENT);
		return;
	case STEP_RECONCILE:
		if (r->user->resource->admin_user == NULL &&
		    strcmp(r->user->resource->protocol, "script") != 0) {
			/* Without an admin credential nothing can set a
			 * secret that neither candidate logs in with. */
			recovery_later(
			    r, true, "no admin credential to reconcile with");
			return;
		}
		start_worker(r, WIRE_OP_APPLY,
		    r->rolled_back ? CAND_CURRENT : CAND_PENDING);
		return;
	case STEP_RECONCILE_VERIFY:
		start_worker(r, WIRE_OP_VERIFY,
		    r->rolled_back ? CAND_CURRENT : CAND_PENDING);
		return;
	case STEP_COMMIT:
		rc = store_secret_commit(
		    d->store, r->us->name, r->version, now_s());
		if (rc < 0) {
			/* The target has the new secret and the store could
			 * not say so: keep both; recovery commits. */
			run_finish(r, STORE_RUN_OUT_OF_SYNC, STORE_ERROR_FATAL,
			    store_last_error(d->store));
			return;
		}
		r->version = 0;
		if (script_at(r->user, 0) != NULL) {
			advance(r, STORE_RUN_COMMITTED,
			    "committed; running post-rotation scripts",
			    STEP_SCRIPTS);
			return;
		}
		r->rec.state = STORE_RUN_COMMITTED;
		boundary(r, STEP_COMMIT);
		run_finish(
		    r, STORE_RUN_COMMITTED, STORE_ERROR_NONE, "committed");
		return;
	case STEP_SCRIPTS:
		start_script(r);
		return;
	case STEP_UNDO:
		if (r->user->noop) { /* no target: the store alone */
			undo_commit(r);
			return;
		}
		start_worker(r, WIRE_OP_APPLY, CAND_PREVIOUS);
		return;
	case STEP_UNDO_VERIFY:
		start_worker(r, WIRE_OP_VERIFY, CAND_PREVIOUS);
		return;
	case STEP_UNDO_KEEP:
		start_worker(r, WIRE_OP_VERIFY, CAND_CURRENT);
		return;
	}
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
			reload_config(d, NULL);
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

void
daemon_recover_unfinished(struct daemon *d)
{
	if (store_run_list_unfinished(d->store, recover_one, d) < 0)
		log_msg(LOG_ERR, MSG_STORE, "unfinished runs: %s",
		    store_last_error(d->store));
	dispatch_queue(d);
}

/* ---- start ---- */

/*
 * Load CONFIG for the first generation into *RET.  Errors are logged; a
 * job file with errors is skipped and the others load, but a broken
 * configuration (a negative errno) starts nothing.
 */
static int
load_config(const char *config, struct job_set **ret)
{
	struct job_set *set = NULL;
	size_t i;
	int r;

	r = jobs_load(config, now_s(), &set);
	if (r < 0) {
		if (set != NULL) {
			jobs_print_errors(set, stderr);
			jobs_free(set);
		}
		log_msg(
		    LOG_ERR, MSG_CONFIG, "%s is broken; not starting", config);
		return r;
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
	*ret = set;
	return 0;
}

/* Open the store with the master key, and import SET's key files. */
static int
open_store(struct daemon *d, const struct job_set *set)
{
	struct secret *key = NULL;
	char path[4096], err[512];
	int r;

	if (store_key_path(path, sizeof(path), set->daemon.key_file) < 0 ||
	    store_key_load(path, &key, err, sizeof(err)) < 0) {
		log_msg(LOG_ERR, MSG_STORE,
		    "master key: %s (create it with "
		    "rotad --init)",
		    err);
		return -ENOKEY;
	}
	r = store_open(
	    set->daemon.store_path, key, &d->store, err, sizeof(err));
	secret_free(key);
	if (r < 0) {
		log_msg(LOG_ERR, MSG_STORE, "store: %s", err);
		return r;
	}
	r = keys_import(set, d->store, now_s());
	if (r > 0)
		log_msg(LOG_INFO, MSG_START, "imported %d secret%s", r,
		    r == 1 ? "" : "s");
	return 0;
}

/* The loop and its handles, none started yet. */
static int
init_loop(struct daemon *d)
{
	int r;

	d->loop = uv_default_loop();
	d->started = now_s();
	d->tfd = timerfd_create(CLOCK_REALTIME, TFD_NONBLOCK | TFD_CLOEXEC);
	if (d->tfd < 0) {
		r = -errno;
		log_msg(LOG_ERR, MSG_START, "timerfd: %s", strerror(errno));
		return r;
	}
	uv_poll_init(d->loop, &d->tfd_poll, d->tfd);
	d->tfd_poll.data = d;
	uv_timer_init(d->loop, &d->stop_timer);
	d->stop_timer.data = d;
	uv_timer_init(d->loop, &d->watchdog);
	uv_timer_init(d->loop, &d->metrics_timer);
	d->metrics_timer.data = d;

	uv_signal_init(d->loop, &d->sighup);
	uv_signal_init(d->loop, &d->sigterm);
	uv_signal_init(d->loop, &d->sigint);
	d->sighup.data = d->sigterm.data = d->sigint.data = d;
	return 0;
}

/*
 * Open the control socket and start the handles: from here on the daemon
 * answers.  On failure every handle is closed.
 */
static int
start_serving(struct daemon *d)
{
	struct control_config cc = { 0 };
	char err[512];
	uint64_t wd_usec;
	int r;

	cc.path = d->gen->set->daemon.socket_path;
	cc.group = d->gen->set->daemon.socket_group;
	cc.acl = &d->acl;
	cc.dispatch = command_dispatch;
	cc.on_close = command_on_close;
	cc.on_denied = command_on_denied;
	cc.daemon = d;
	r = control_start(d->loop, &cc, &d->control, err, sizeof(err));
	if (r < 0) {
		log_msg(LOG_ERR, MSG_START, "control socket: %s", err);
		abandon_loop(d);
		return r;
	}
	uv_poll_start(&d->tfd_poll, UV_READABLE, fire_on_timerfd);
	uv_signal_start(&d->sighup, on_signal, SIGHUP);
	uv_signal_start(&d->sigterm, on_signal, SIGTERM);
	uv_signal_start(&d->sigint, on_signal, SIGINT);

	if (sd_watchdog_enabled(0, &wd_usec) > 0)
		uv_timer_start(&d->watchdog, watchdog_ping, wd_usec / 2000,
		    wd_usec / 2000);
	if (d->gen->set->daemon.metrics_textfile != NULL) {
		metrics_write(&d->metrics_timer);
		uv_timer_start(&d->metrics_timer, metrics_write,
		    METRICS_PERIOD_MS, METRICS_PERIOD_MS);
	}

	log_msg(LOG_INFO, MSG_START,
	    "rotad %s started: generation %d, %zu "
	    "users, %zu job files, socket %s",
	    ROTAD_VERSION, d->gen->number, d->gen->set->nusers,
	    d->gen->set->nfiles_loaded, d->gen->set->daemon.socket_path);
	sd_notifyf(0, "READY=1\nSTATUS=generation %d, %zu users",
	    d->gen->number, d->gen->set->nusers);
	return 0;
}

/* Free what D holds, however far the start got; SET if no generation
 * owns it yet. */
static void
teardown(struct daemon *d, struct job_set *set)
{
	if (d->loop != NULL && uv_loop_close(d->loop) != 0)
		log_msg(LOG_DEBUG, MSG_INTERNAL, "loop closed with handles");
	if (d->tfd >= 0)
		close(d->tfd);
	heap_free(&d->heap);
	users_free(d);
	free(d->acl.v);
	if (d->gen != NULL)
		gen_put(d->gen);
	else
		jobs_free(set);
	store_close(d->store);
	log_close();
}

int
daemon_main(const char *config, bool to_syslog)
{
	struct daemon d = { 0 };
	struct job_set *set = NULL;
	int ret = 1;

	/* Before any JSON exists: secret_set/secret_get carry values in
	 * jansson strings, which must be wiped when freed.  A client that
	 * hangs up must not kill the daemon with SIGPIPE. */
	protocol_json_wipe_on_free();
	signal(SIGPIPE, SIG_IGN);
	log_open(!to_syslog, LOG_INFO);
	d.config = config;
	d.tfd = -1;
	d.exit_status = 0;
	TAILQ_INIT(&d.queue);
	TAILQ_INIT(&d.finished);

	if (load_config(config, &set) < 0 || open_store(&d, set) < 0)
		goto out;
	if (init_loop(&d) < 0)
		goto out;
	fault_init();
	/* The first generation; unfinished runs recover first, then fires
	 * missed while down queue up (or join the recovering run). */
	reload_adopt(&d, set, true);
	set = NULL; /* owned by the generation now */
	if (start_serving(&d) < 0)
		goto out;

	fire_process_due(&d);
	uv_run(d.loop, UV_RUN_DEFAULT);
	ret = d.exit_status;
out:
	teardown(&d, set);
	return ret;
}
