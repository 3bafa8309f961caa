/*
 * daemon.c: the scheduler: start and stop.
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
 *              recovery.  rotation.c decides each transition (its table
 *              is there); run.c carries the decisions out.
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
 * This file starts and stops the daemon and recovers the runs a previous
 * life left unfinished; the runs are in run.c, the schedule in fire.c,
 * reload in reload.c, the control commands in command.c
 * (daemon-internal.h lists them all).
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
#include "catalog.h"
#include "config.h"
#include "control.h"
#include "daemon.h"
#include "batch.h"
#include "daemon-internal.h"
#include "durable.h"
#include "emit.h"
#include "fault.h"
#include "sinks.h"
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
#include "storeq.h"
#include "template.h"
#include "wire.h"
#include "workers.h"
#include "worker_user.h"

/* ---- the worker template ---- */

/* The worker binary JD names, as run.c starts it. */
static const char *
worker_path(const struct job_daemon *jd)
{
	return jd->worker_path != NULL ? jd->worker_path
				       : ROTAD_LIBEXECDIR "/rotad-worker";
}

/*
 * The worker template (template.h): exec'd now, while the daemon holds
 * its configuration and nothing else (no store, no key, no secret), and
 * from then on every step's worker is one of its forks.  Its idle pool
 * is max_workers: as many workers as may start at once.  A template that
 * cannot start is logged, and workers are fork and exec'd meanwhile.
 */
static void
start_template(struct daemon *d, const struct job_set *set)
{
	if (template_start(d->loop, worker_path(&set->daemon),
		(unsigned)set->daemon.max_workers, &d->tmpl) < 0) {
		log_msg(LOG_ERR, MSG_TEMPLATE,
		    "no worker template (out of memory); workers start by "
		    "fork and exec");
		return;
	}
	spawn_set_template(d->tmpl);
}

void
daemon_template_reload(struct daemon *d, const struct job_set *set)
{
	if (d->tmpl != NULL)
		template_restart(d->tmpl, worker_path(&set->daemon),
		    (unsigned)set->daemon.max_workers);
}

static void
stop_template(struct daemon *d)
{
	spawn_set_template(NULL);
	template_stop(d->tmpl);
	d->tmpl = NULL;
}

/* ---- signals and stop ---- */

static void
close_all(struct daemon *d)
{
	int i;

	/* Its processes exit once their last steps have ended. */
	stop_template(d);
	uv_close((uv_handle_t *)&d->tfd_poll, NULL);
	uv_close((uv_handle_t *)&d->sighup, NULL);
	uv_close((uv_handle_t *)&d->sigterm, NULL);
	uv_close((uv_handle_t *)&d->sigint, NULL);
	uv_close((uv_handle_t *)&d->stop_timer, NULL);
	uv_close((uv_handle_t *)&d->dispatch_idle, NULL);
	uv_close((uv_handle_t *)&d->fire_idle, NULL);
	uv_close((uv_handle_t *)&d->turn_check, NULL);
	uv_close((uv_handle_t *)&d->watchdog, NULL);
	uv_close((uv_handle_t *)&d->metrics_timer, NULL);
	/* First: the jobs not started are told now, while their sinks
	 * and connections still are. */
	for (i = 0; i < READQ_COUNT; i++) {
		storeq_close(d->readq[i]);
		d->readq[i] = NULL;
	}
	if (d->sinks != NULL) {
		sinks_close(d->sinks);
		d->sinks = NULL;
	}
}

static void
control_stopped(void *arg)
{
	(void)arg;
}

void
daemon_maybe_finish_stop(struct daemon *d)
{
	struct run *r;

	if (!d->stopping || d->nrunning > 0)
		return;
	/* What the last runs wrote goes to disk, and their answers out,
	 * before the socket closes (a flush running calls back here). */
	if (durable_stop(d) < 0)
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
			char msg[96];

			LIST_REMOVE(w, link);
			snprintf(msg, sizeof(msg),
			    "rotad stopped during run %s", r->rec.id);
			waiters_error(w, msg);
		}
		/* Possibly the generation's last reference: a request in
		 * flight holds one of its own (run.c, ask_request()). */
		reload_gen_put(r->gen);
		r->gen = NULL;
		uv_timer_stop(&r->timer);
		if (r->sp != NULL || r->generating || r->requesting) {
			/* step_done() (key_made(), req_done()) closes it once
			 * the worker (the key, the request) is done; the run
			 * stays as persisted, for recovery. */
			r->abandoned = true;
			if (r->sp != NULL)
				spawn_cancel(r->sp);
			continue;
		}
		/* Waiting in its batch for a worker, or between two: out of
		 * it, its parked request wiped. */
		batch_abandon(r);
		uv_close((uv_handle_t *)&r->timer, run_closed);
	}
	d->nrunning = 0;
	d->exit_status = 1;
	daemon_maybe_finish_stop(d);
}

/* daemon_started or daemon_stopping, with what the daemon holds. */
static void
daemon_event(struct daemon *d, enum event_name name)
{
	char msg[160];
	struct event ev;

	emit_new(d, &ev, name);
	snprintf(msg, sizeof(msg),
	    "rotad %s: generation %d, %zu users, %d runs in progress",
	    ROTAD_VERSION, d->gen != NULL ? d->gen->number : 0,
	    d->gen != NULL ? d->gen->set->nusers : 0, d->nrunning);
	ev.message = msg;
	(void)emit(d, &ev);
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
	daemon_event(d, EVENT_DAEMON_STOPPING);
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
			char msg[96];

			LIST_REMOVE(w, link);
			snprintf(msg, sizeof(msg),
			    "rotad stopped before run %s started", r->rec.id);
			waiters_error(w, msg);
		}
		reload_gen_put(r->gen);
		uv_close((uv_handle_t *)&r->timer, run_closed);
	}
	/* Runs waiting to retry end now, failed; their next fire retries. */
	for (i = 0; i < d->users_cap; i++)
		if (d->users[i] != NULL && d->users[i]->run != NULL &&
		    d->users[i]->run->phase == PHASE_RETRY_WAIT) {
			uv_timer_stop(&d->users[i]->run->timer);
			run_stop_waiting(d->users[i]->run);
		}
	uv_timer_start(&d->stop_timer, stop_deadline, STOP_DEADLINE_MS, 0);
	daemon_maybe_finish_stop(d);
}

static void
on_signal(uv_signal_t *s, int signum)
{
	struct daemon *d = s->data;

	if (signum == SIGHUP) {
		/* logrotate's signal too: file sinks open their path again. */
		if (d->sinks != NULL)
			sinks_reopen(d->sinks);
		reload_request(d, NULL);
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

/* Whether US can take a run that recovers one of its rows now: it is in
 * the configuration, with a target, and has no run yet. */
static bool
recoverable(const struct ustate *us)
{
	return us != NULL && us->user != NULL && us->run == NULL &&
	    us->user->resource != NULL;
}

/* A run for US that recovers REC, queued to start with the others. */
static struct run *
recovery_run(struct daemon *d, struct ustate *us, const struct store_run *rec)
{
	struct run *r;

	/* Its apply may have been in flight when the daemon died: its
	 * worker was ended at start (workers.h), but what it asked of the
	 * server may land until its deadline, at most this much from now. */
	run_apply_bound(d, us, (uint64_t)us->user->settings.timeout * 1000);
	r = run_alloc(d, us, RUN_ROTATE, 0);
	r->trigger = EVENT_TRIGGER_RECOVERY;
	r->rec = *rec;
	r->created = true;
	TAILQ_INSERT_TAIL(&d->queue, r, queue);
	d->nqueued++;
	return r;
}

/*
 * Run REC of US, found out_of_sync at start with no pending secret: it
 * had committed, and then set the previous secret back, or was about to
 * (rollback_on_post_rotation_fail), and that undo had not settled.  The
 * target is asked which of the two logs in, the undo's apply being
 * uncertain; the verdict is never rewritten without asking.  A run whose
 * secret is no longer current (one was set or committed since) has been
 * superseded: it ends failed, its verdict kept in its message.
 */
static void
recover_undo(struct daemon *d, struct ustate *us, const struct store_run *rec)
{
	struct current_of cur = { rec->id, false };
	struct store_run fin = *rec;
	struct run *r;

	(void)store_secret_history(d->store, rec->user, current_is_cb, &cur);
	if (!cur.match) {
		fin.state = STORE_RUN_FAILED;
		fin.updated = now_s();
		snprintf(fin.message, sizeof(fin.message),
		    "superseded while out of sync, a later secret is current "
		    "(%.190s)",
		    rec->message);
		store_run_update(d->store, &fin);
		log_msg(LOG_NOTICE, MSG_RECOVER, "run %s %s: %s", fin.id,
		    fin.user, fin.message);
		return;
	}
	if (!recoverable(us)) {
		log_msg(LOG_WARNING, MSG_RECOVER,
		    "run %s %s: out of sync after its commit, and its user is "
		    "not in the configuration (or has no target, or a run); "
		    "left as it is, its previous secret kept",
		    rec->id, rec->user);
		return;
	}
	r = recovery_run(d, us, rec);
	/* Handed to the engine now: a run's resume (struct run) names only
	 * where a pending secret's recovery starts. */
	rotation_recover_undo(&r->rot, rec->attempts);
	log_msg(LOG_NOTICE, MSG_RECOVER,
	    "run %s %s: out of sync after its commit (%s); asking the target "
	    "whether the previous or the current secret logs in",
	    rec->id, rec->user, rec->message);
}

/*
 * A run found unfinished at start (the daemon or its host died, or a stop
 * outlived its deadline).  With a pending secret it goes through recovery
 * (see the steps comment): the target is asked, nothing is assumed.
 * Without one, a run that had not committed yet (prepared, applied,
 * verified) ended as the store says: committed if its secret is current
 * (its commit was made, its row's last update lost), else failed before
 * the target was changed.  An out_of_sync run without one had committed,
 * and its undo had not settled: recover_undo().
 */
static int
recover_one(const struct store_run *rec, void *arg)
{
	struct daemon *d = arg;
	struct ustate *us = users_find(d, rec->user);
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
	if (version == 0 && rec->state == STORE_RUN_OUT_OF_SYNC) {
		recover_undo(d, us, rec);
		return 0;
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
	if (!recoverable(us)) {
		log_msg(LOG_WARNING, MSG_RECOVER,
		    "run %s %s: unfinished in state %s, and the user is not "
		    "in the configuration; its pending secret is kept",
		    rec->id, rec->user, store_run_state_name(rec->state));
		return 0;
	}
	r = recovery_run(d, us, rec);
	r->version = version;
	r->resume =
	    rec->state == STORE_RUN_VERIFIED ? STEP_COMMIT : STEP_PROBE_PENDING;
	r->fail_class = STORE_ERROR_TRANSIENT;
	snprintf(r->fail_msg, sizeof(r->fail_msg), "interrupted in state %s",
	    store_run_state_name(rec->state));
	log_msg(LOG_NOTICE, MSG_RECOVER,
	    "run %s %s: unfinished in state %s; recovering", rec->id, rec->user,
	    store_run_state_name(rec->state));
	return 0;
}

void
daemon_recover_unfinished(struct daemon *d)
{
	if (store_run_list_unfinished(d->store, recover_one, d) < 0)
		log_msg(LOG_ERR, MSG_STORE, "unfinished runs: %s",
		    store_last_error(d->store));
	run_dispatch_queue(d);
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
	const struct job_error *e;
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
		e = &set->errors[i];
		log_msg(LOG_ERR, MSG_CONFIG, "%s:%d:%d: %s",
		    e->file != NULL ? e->file : "", e->line, e->column,
		    e->message);
	}
	/* One line per file left out, with what to do: the daemon runs
	 * degraded (rotactl status) until a reload loads every file. */
	i = 0;
	while ((e = reload_next_skipped(set, &i)) != NULL)
		log_msg(LOG_WARNING, MSG_FILE_SKIPPED,
		    "job file %s skipped, its users not loaded: %d:%d: %s; "
		    "fix it (rotad -n lists every error), then rotactl reload",
		    e->file, e->line, e->column, e->message);
	if (set->nfiles_skipped > 0)
		log_msg(LOG_WARNING, MSG_FILE_SKIPPED,
		    "%zu job file%s skipped for "
		    "errors; the others are loaded; degraded",
		    set->nfiles_skipped, set->nfiles_skipped == 1 ? "" : "s");
	/* Loaded as asked, but unsafe: said at every start. */
	for (i = 0; i < set->nwarnings; i++)
		log_msg(LOG_WARNING, MSG_CONFIG, "%s:%d:%d: warning: %s",
		    set->warnings[i].file, set->warnings[i].line,
		    set->warnings[i].column, set->warnings[i].message);
	*ret = set;
	return 0;
}

/*
 * worker.user must be the workers' own user: never root, never ours
 * (worker_user.h).  A non-root daemon without the capabilities to switch
 * its workers to it starts, and says that every worker will refuse.
 */
static int
check_worker_user(const struct job_set *set)
{
	char why[512];
	int r;

	r = worker_user_check(
	    set->daemon.worker_user, geteuid(), NULL, why, sizeof(why));
	if (r < 0) {
		log_msg(LOG_ERR, MSG_CONFIG, "%s: %s; not starting",
		    set->daemon.config_file, why);
		return r;
	}
	if (worker_user_caps(why, sizeof(why)) < 0)
		log_msg(LOG_WARNING, MSG_START, "%s", why);
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
	r = store_open(set->daemon.store_path, key, STORE_OPEN_GROUP_COMMIT,
	    &d->store, err, sizeof(err));
	secret_free(key);
	if (r < 0) {
		log_msg(LOG_ERR, MSG_STORE, "store: %s", err);
		return r;
	}
	/* Held for life, never closed: `rotad --rekey` refuses while it is. */
	if (keys_lock_store(set->daemon.store_path, err, sizeof(err)) < 0) {
		log_msg(LOG_ERR, MSG_STORE, "store: %s", err);
		return -EBUSY;
	}
	r = keys_import(set, d->store, now_s());
	if (r > 0)
		log_msg(LOG_INFO, MSG_START, "imported %d secret%s", r,
		    r == 1 ? "" : "s");
	return 0;
}

/* The store's reads off the loop (storeq.h): the daemon's, the control
 * socket's. */
static int
open_reads(struct daemon *d)
{
	int i, r = 0;

	for (i = 0; i < READQ_COUNT && r == 0; i++)
		r = storeq_open(d->loop, d->store, &d->readq[i]);
	if (r < 0) {
		log_msg(LOG_ERR, MSG_STORE, "store: %s",
		    store_last_error(d->store));
		for (i = 0; i < READQ_COUNT; i++) {
			/* Nothing asked yet: freed now. */
			storeq_close(d->readq[i]);
			d->readq[i] = NULL;
		}
	}
	return r;
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
	uv_idle_init(d->loop, &d->dispatch_idle);
	d->dispatch_idle.data = d;
	uv_idle_init(d->loop, &d->fire_idle);
	d->fire_idle.data = d;
	uv_check_init(d->loop, &d->turn_check);
	d->turn_check.data = d;
	uv_check_start(&d->turn_check, run_turn_end);
	uv_unref((uv_handle_t *)&d->turn_check);
	uv_timer_init(d->loop, &d->watchdog);
	uv_timer_init(d->loop, &d->metrics_timer);
	d->metrics_timer.data = d;

	uv_signal_init(d->loop, &d->sighup);
	uv_signal_init(d->loop, &d->sigterm);
	uv_signal_init(d->loop, &d->sigint);
	d->sighup.data = d->sigterm.data = d->sigint.data = d;
	return 0;
}

static uint64_t
control_hold(void *daemon)
{
	return durable_hold(daemon);
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
	cc.hold = control_hold;
	cc.daemon = d;
	r = control_start(d->loop, &cc, &d->control, err, sizeof(err));
	if (r < 0) {
		log_msg(LOG_ERR, MSG_START, "control socket: %s", err);
		stop_template(d);
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

	/* Sinks before the first event: they deliver from their cursors,
	 * what was spooled while the daemon was down included. */
	if (sinks_open(&d->gen->set->daemon.events,
		d->gen->set->daemon.worker_user, d->store,
		d->readq[READQ_SINKS], d->loop,
		&d->sinks) == 0)
		sinks_set_ceiling(d->sinks, d->durable_event);
	else
		log_msg(LOG_ERR, MSG_CONFIG,
		    "events: the sinks could not be opened (rotad -n says "
		    "why); events are spooled, and delivered once a reload "
		    "fixes them");
	log_msg(LOG_INFO, MSG_START,
	    "rotad %s started: generation %d, %zu "
	    "users, %zu job files, socket %s",
	    ROTAD_VERSION, d->gen->number, d->gen->set->nusers,
	    d->gen->set->nfiles_loaded, d->gen->set->daemon.socket_path);
	daemon_event(d, EVENT_DAEMON_STARTED);
	reload_skipped_events(d, d->gen->set);
	sd_notifyf(0, "READY=1\nSTATUS=generation %d, %zu users%s",
	    d->gen->number, d->gen->set->nusers,
	    d->gen->set->nfiles_skipped > 0
		? "; degraded: job files skipped (rotactl status)"
		: "");
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
	free(d->taken);
	users_free(d);
	workers_free(d->workers);
	free(d->acl.v);
	if (d->gen != NULL)
		reload_gen_put(d->gen);
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
	emit_init(&d);

	if (load_config(config, &set) < 0 || check_worker_user(set) < 0)
		goto out;
	if (init_loop(&d) < 0)
		goto out;
	/* Before the store is opened and any secret read: what the
	 * template is exec'd from holds none (template.h). */
	start_template(&d, set);
	if (open_store(&d, set) < 0 || durable_start(&d) < 0 ||
	    open_reads(&d) < 0) {
		stop_template(&d);
		abandon_loop(&d);
		goto out;
	}
	/* Recovery never runs beside a worker of the previous life. */
	d.workers = workers_new(set->daemon.store_path);
	if (workers_end_previous(d.workers) < 0) {
		stop_template(&d);
		abandon_loop(&d);
		goto out;
	}
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
