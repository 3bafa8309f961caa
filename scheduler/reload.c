/*
 * reload.c: configuration generations.
 *
 * SIGHUP or `rotactl reload`: load everything, swap only if there is no
 * error.  Runs in flight keep the generation they started with
 * (refcounted).  Adopting a generation matches users by name, carries
 * their runtime state over, and recomputes the schedules that changed; the
 * first one, at start, also reads the stored schedule back, recovers
 * unfinished runs and takes the fires missed while the daemon was down.
 */
#include <errno.h>
#include <grp.h>
#include <inttypes.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "daemon-internal.h"
#include "emit.h"
#include "fault.h"
#include "sinks.h"
#include "keys.h"
#include "log.h"
#include "schedule.h"
#include "worker_user.h"
#include "xalloc.h"

void
reload_gen_put(struct gen *g)
{
	if (g == NULL || --g->refs > 0)
		return;
	jobs_free(g->set);
	free(g);
}

/* A generation's job set freed on libuv's pool: no one refers to it any
 * more, and the zones it frees are the zone cache's to lock. */
struct set_free {
	uv_work_t work;
	struct job_set *set;
};

static void
set_free_work(uv_work_t *w)
{
	jobs_free(((struct set_free *)w->data)->set);
}

static void
set_free_done(uv_work_t *w, int status)
{
	(void)status;
	free(w->data);
}

void
reload_gen_drop(struct daemon *d, struct gen *g)
{
	struct set_free *f;

	if (g == NULL || g->refs > 1 || d->stopping) {
		reload_gen_put(g);
		return;
	}
	f = xcalloc(1, sizeof(*f));
	f->set = g->set;
	f->work.data = f;
	free(g);
	if (uv_queue_work(d->loop, &f->work, set_free_work, set_free_done) <
	    0) {
		jobs_free(f->set);
		free(f);
	}
}

static void
acl_build(struct daemon *d, const struct job_daemon *jd)
{
	struct control_acl_entry *v;
	char why[512];
	size_t i, n = 0;

	v = xcalloc(jd->nacl + 1, sizeof(*v));
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
	/* Checked before the generation was adopted; the control socket
	 * refuses its uid outright. */
	d->acl.refuse_worker =
	    worker_user_check(jd->worker_user, WORKER_USER_NO_SELF,
		&d->acl.worker_uid, why, sizeof(why)) == 0;
}

/*
 * User US, U in the first generation, at start: its stored schedule state
 * (and pause) back, then its next fire; a fire missed while the daemon was
 * down runs once or is skipped, per U's misfire setting (always skipped
 * while paused).  Inside adopt's transaction.
 */
static void
adopt_stored(
    struct daemon *d, struct ustate *us, struct job_user *u, int64_t now)
{
	struct store_schedule s;

	if (store_schedule_get(d->store, us->name, &s) == 0) {
		us->last_fire = s.last_fire;
		us->last_outcome = s.last_outcome;
		us->paused = s.paused;
		snprintf(
		    us->last_run, sizeof(us->last_run), "%s", s.last_run_id);
	} else {
		s.next_fire = 0;
	}
	fire_reschedule(d, us, now);
	if (!fire_schedulable(us))
		return;
	/* A fire missed while the daemon was down. */
	if (s.next_fire != 0 && s.next_fire <= now) {
		d->misfires++;
		/* A paused user's is recorded, not run, as a fire taken
		 * while it is paused. */
		if (!us->paused &&
		    u->settings.misfire == JOB_MISFIRE_RUN_ONCE) {
			bool c;

			log_msg(LOG_NOTICE, MSG_MISFIRE,
			    "%s: fire "
			    "due at %" PRId64 " was missed; running "
			    "it once now",
			    us->name, s.next_fire);
			run_new(d, us, RUN_ROTATE, s.next_fire, &c);
			fire_persist(d, us);
			return;
		}
		log_msg(LOG_NOTICE, MSG_MISFIRE,
		    "%s: fire due at %" PRId64 " was missed; skipped (%s)",
		    us->name, s.next_fire,
		    us->paused ? "paused" : "misfire: skip");
		us->last_fire = s.next_fire;
	}
	if (s.next_fire != fire_next(us))
		fire_persist(d, us);
}

/*
 * Whether US, just given its new user, fires as it did in the generation
 * before: then its place in the schedule stands as it is.  Computing it
 * again from now would give the same instant, but for a fire due and not
 * yet taken (its timer's callback still to come), which it would skip.
 */
static bool
same_fires(const struct ustate *us)
{
	const struct job_user *was = us->was;

	return was != NULL && was->managed && fire_rotates(was, us->cred) &&
	    fire_schedulable(us) &&
	    schedule_same(was->settings.schedule, us->user->settings.schedule);
}

/*
 * Make SET the current generation: match users by name, carry their
 * runtime state, recompute schedules that changed.  Persisting at start
 * is one transaction (the store's speed for 100k users).
 */
void
reload_adopt(struct daemon *d, struct job_set *set, bool at_start)
{
	struct gen *g = xcalloc(1, sizeof(*g)), *old;
	struct ustate *us;
	int64_t now = now_s(), before;
	size_t i;

	/* A fire taken under the old generation is queued under it. */
	fire_queue_all(d);
	g->set = set;
	g->refs = 1;
	g->number = ++d->generations;
	old = d->gen;
	d->gen = g;

	for (i = 0; i < d->users_cap; i++)
		if (d->users[i] != NULL) {
			d->users[i]->was = d->users[i]->user;
			d->users[i]->user = NULL;
		}
	if (at_start) {
		for (i = 0; i < set->nusers; i++) {
			struct job_user *u = set->users[i];

			users_cred(d, u, CRED_PASSWORD)->user = u;
			if (fire_rotates(u, CRED_PRIVATE_KEY))
				users_cred(d, u, CRED_PRIVATE_KEY)->user = u;
		}
		daemon_recover_unfinished(d);
	}
	store_begin(d->store);
	d->npaused = 0;
	for (i = 0; i < set->nusers * 2; i++) {
		struct job_user *u = set->users[i / 2];
		enum cred c = i % 2 == 0 ? CRED_PASSWORD : CRED_PRIVATE_KEY;

		/* The password's state always (an admin's secret, a user
		 * that rotates only its key), the key's when it rotates. */
		if (c == CRED_PRIVATE_KEY && !fire_rotates(u, c))
			continue;
		us = users_cred(d, u, c);
		us->user = u;
		if (at_start)
			adopt_stored(d, us, u, now);
		else if (!same_fires(us)) {
			/* Persist only what moved: 100k users reload
			 * fast. */
			before = fire_next(us);
			fire_reschedule(d, us, now);
			if (fire_next(us) != before)
				fire_persist(d, us);
		}
		us->was = NULL;
		d->npaused += us->paused;
	}
	if (store_commit(d->store) < 0)
		log_msg(LOG_ERR, MSG_STORE, "schedule state: %s",
		    store_last_error(d->store));
	/* Users gone from the configuration: out of the schedule; a run in
	 * flight finishes under its own generation. */
	for (i = 0; i < d->users_cap; i++)
		if (d->users[i] != NULL && d->users[i]->user == NULL) {
			d->users[i]->was = NULL;
			heap_remove(&d->heap, &d->users[i]->node);
		}
	reload_gen_drop(d, old);
	acl_build(d, &set->daemon);
	if (d->control != NULL)
		control_set_acl(d->control, &d->acl);
	fire_arm(d);
}

const struct job_error *
reload_next_skipped(const struct job_set *set, size_t *i)
{
	const struct job_error *e;
	size_t j;

	/* A file counts once, by its first error: the errors come sorted by
	 * file and line, but a file seen before is looked for all the same
	 * (a handful of errors, and only at start and on `status`). */
	for (; *i < set->nerrors; (*i)++) {
		e = &set->errors[*i];
		if (e->file == NULL)
			continue;
		for (j = 0; j < *i; j++)
			if (set->errors[j].file != NULL &&
			    strcmp(set->errors[j].file, e->file) == 0)
				break;
		if (j == *i) {
			(*i)++;
			return e;
		}
	}
	return NULL;
}

/* Event NAME about configuration SET: its error count, and the first
 * error E (may be NULL) as its message. */
static void
config_event(struct daemon *d, enum event_name name, const struct job_set *set,
    const struct job_error *e)
{
	char msg[512];
	struct event ev;

	emit_new(d, &ev, name);
	ev.count = (int64_t)set->nerrors;
	if (e != NULL)
		snprintf(msg, sizeof(msg), "%s:%d:%d: %s",
		    e->file != NULL ? e->file : "", e->line, e->column,
		    e->message);
	else
		snprintf(msg, sizeof(msg), "generation %d, %zu users",
		    d->generations, set->nusers);
	ev.message = msg;
	(void)emit(d, &ev);
}

void
reload_skipped_events(struct daemon *d, const struct job_set *set)
{
	const struct job_error *e;
	char msg[512];
	struct event ev;
	size_t i = 0;

	while ((e = reload_next_skipped(set, &i)) != NULL) {
		emit_new(d, &ev, EVENT_JOB_FILE_SKIPPED);
		snprintf(msg, sizeof(msg), "%s:%d:%d: %s", e->file, e->line,
		    e->column, e->message);
		ev.message = msg;
		(void)emit(d, &ev);
	}
}

/* Whether SET's sinks are refused (sinks_check()): each problem logged
 * and, if RET_ERRORS, in it. */
static bool
sinks_refused(struct daemon *d, const struct job_set *set, json_t **ret_errors)
{
	char *text = NULL, *line, *save = NULL;
	size_t len = 0, n;
	FILE *f = open_memstream(&text, &len);

	if (f == NULL)
		return false;
	n = sinks_check(&set->daemon.events, f);
	fclose(f);
	if (n > 0) {
		log_msg(LOG_ERR, MSG_RELOAD_FAILED,
		    "reload refused: events: %zu error%s; keeping generation "
		    "%d",
		    n, n == 1 ? "" : "s", d->gen->number);
		if (ret_errors != NULL)
			*ret_errors = json_array();
		for (line = strtok_r(text, "\n", &save); line != NULL;
		     line = strtok_r(NULL, "\n", &save)) {
			log_msg(LOG_ERR, MSG_RELOAD_FAILED, "%s", line);
			if (ret_errors != NULL)
				json_array_append_new(
				    *ret_errors, json_string(line));
		}
	}
	free(text);
	return n > 0;
}

/*
 * Adopt SET (owned), loaded by a reload: any error keeps the old
 * configuration.  0, or -EINVAL with the errors in *RET_ERRORS (if not
 * NULL) as a JSON array.
 */
static int
reload_config(struct daemon *d, struct job_set *set, json_t **ret_errors)
{
	char why[512];
	size_t i;
	int r;

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
			char *line = xasprintf("%s:%d:%d: %s",
			    e->file != NULL ? e->file : "", e->line, e->column,
			    e->message);

			log_msg(LOG_ERR, MSG_RELOAD_FAILED, "%s", line);
			if (ret_errors != NULL)
				json_array_append_new(
				    *ret_errors, json_string(line));
			free(line);
		}
		config_event(d, EVENT_CONFIG_REJECTED, set, set->errors);
		jobs_free(set);
		sd_notify(0, "READY=1");
		return -EINVAL;
	}
	/* Workers must never become root or this daemon (worker_user.h). */
	if (worker_user_check(set->daemon.worker_user, geteuid(), NULL, why,
		sizeof(why)) < 0) {
		char *line = xasprintf("%s: %s", set->daemon.config_file, why);

		log_msg(LOG_ERR, MSG_RELOAD_FAILED,
		    "reload refused: %s; keeping generation %d", line,
		    d->gen->number);
		if (ret_errors != NULL) {
			*ret_errors = json_array();
			json_array_append_new(*ret_errors, json_string(line));
		}
		free(line);
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
	for (i = 0; i < set->nwarnings; i++)
		log_msg(LOG_WARNING, MSG_RELOAD, "%s:%d:%d: warning: %s",
		    set->warnings[i].file, set->warnings[i].line,
		    set->warnings[i].column, set->warnings[i].message);
	/* The sinks' settings (names, formats) are checked here, not by
	 * jobs/: refused as the loader's errors are. */
	if (sinks_refused(d, set, ret_errors)) {
		jobs_free(set);
		sd_notify(0, "READY=1");
		return -EINVAL;
	}
	/* Only now, with nothing left to refuse it: a refused reload must
	 * import nothing, since a file is read only while its slot is
	 * empty, and the operator's corrected file would then be ignored. */
	r = keys_import(set, d->store, now_s());
	if (r > 0)
		log_msg(LOG_INFO, MSG_RELOAD, "imported %d secret%s", r,
		    r == 1 ? "" : "s");
	else if (r < 0)
		log_msg(LOG_ERR, MSG_RELOAD,
		    "importing password and key files: %s",
		    store_last_error(d->store));
	/* A reload is refused while any file has an error, so one that
	 * passes ends a start's degraded state: say so where it was said. */
	if (d->gen->set->nfiles_skipped > 0)
		log_msg(LOG_NOTICE, MSG_FILE_SKIPPED,
		    "every job file loads again; no longer degraded");
	reload_adopt(d, set, false);
	/* A new worker binary, or worker.path, takes effect now. */
	daemon_template_reload(d, set);
	if (d->sinks != NULL)
		(void)sinks_reconfigure(d->sinks, &set->daemon.events,
		    set->daemon.worker_user);
	else if (sinks_open(&set->daemon.events, set->daemon.worker_user,
		     d->store, d->readq[READQ_SINKS], d->loop,
		     &d->sinks) == 0)
		sinks_set_ceiling(d->sinks, d->durable_event);
	log_msg(LOG_INFO, MSG_RELOAD,
	    "configuration generation %d: %zu "
	    "users, %zu files",
	    d->gen->number, set->nusers, set->nfiles_loaded);
	config_event(d, EVENT_CONFIG_RELOADED, set, NULL);
	sd_notifyf(0, "READY=1\nSTATUS=generation %d, %zu users",
	    d->gen->number, set->nusers);
	run_dispatch_queue(d);
	return 0;
}

/*
 * ---- a reload's load, off the loop ----
 *
 * Parsing every job file and loading their zones (jobs_load()) takes
 * about 0.6 s for 100k users; on libuv's pool it holds neither the fires
 * nor the control socket.  It reads files and the zone cache only
 * (cronspec/tz.c locks that cache: the loop frees zones while it loads),
 * and builds a job set no one else sees until the loop adopts it.
 */
struct reload_waiter {
	LIST_ENTRY(reload_waiter) link;
	struct control_conn *c; /* NULL: it closed */
};

struct reload_load {
	uv_work_t work;
	struct daemon *d;
	int64_t now;
	bool gate; /* a test's fault: wait for ROTAD_FAULT_GATE (fault.h) */
	struct job_set *set;
	struct reload_waiters waiters; /* the ones it answers */
};

static void
load_work(uv_work_t *w)
{
	struct reload_load *l = w->data;

	if (l->gate)
		fault_gate_wait();
	(void)jobs_load(l->d->config, l->now, &l->set);
}

/* Tell C how the reload it asked for went: RC from reload_config(), or
 * -ECANCELED when the daemon stops first. */
static void
answer(struct daemon *d, struct control_conn *c, int rc, json_t *errors)
{
	size_t n = json_array_size(errors);

	if (rc == -ECANCELED)
		control_error(c, "internal", "the daemon is stopping");
	else if (rc == 0)
		control_reply(
		    c, json_pack("{s:i}", "generation", d->gen->number));
	else
		control_error_extra(c,
		    errors != NULL ? json_pack("{s:O}", "errors", errors)
				   : json_pack("{s:[]}", "errors"),
		    "invalid",
		    "the configuration has %zu error%s; "
		    "generation %d stays (fix them, check with rotad -n, "
		    "then rotactl reload)",
		    n, n == 1 ? "" : "s", d->gen->number);
}

/* Answer every waiter of LIST (those still connected) and free them. */
static void
answer_all(struct daemon *d, struct reload_waiters *list, int rc,
    json_t *errors)
{
	struct reload_waiter *rw;

	while ((rw = LIST_FIRST(list)) != NULL) {
		LIST_REMOVE(rw, link);
		if (rw->c != NULL)
			answer(d, rw->c, rc, errors);
		free(rw);
	}
}

static void start_load(struct daemon *d);

static void
load_done(uv_work_t *w, int status)
{
	struct reload_load *l = w->data;
	struct daemon *d = l->d;
	json_t *errors = NULL;
	int rc = -ECANCELED;

	(void)status;
	d->reloading = NULL;
	if (!d->stopping)
		rc = reload_config(d, l->set, &errors);
	else
		jobs_free(l->set);
	answer_all(d, &l->waiters, rc, errors);
	json_decref(errors);
	free(l);
	if (d->stopping)
		answer_all(d, &d->reload_next, -ECANCELED, NULL);
	else if (d->reload_again)
		start_load(d);
}

/* Start a load for the reloads asked since the last one started. */
static void
start_load(struct daemon *d)
{
	struct reload_load *l = xcalloc(1, sizeof(*l));
	struct reload_waiter *rw;

	l->d = d;
	l->now = now_s();
	l->gate = fault_is("gate", "reload");
	l->work.data = l;
	LIST_INIT(&l->waiters);
	while ((rw = LIST_FIRST(&d->reload_next)) != NULL) {
		LIST_REMOVE(rw, link);
		LIST_INSERT_HEAD(&l->waiters, rw, link);
	}
	d->reload_again = false;
	d->reloading = l;
	sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%" PRIu64,
	    (uint64_t)uv_hrtime() / 1000);
	/* libuv's pool takes any work; should it ever refuse, the load runs
	 * here, as it did before it had a pool. */
	if (uv_queue_work(d->loop, &l->work, load_work, load_done) < 0) {
		load_work(&l->work);
		load_done(&l->work, 0);
	}
}

void
reload_request(struct daemon *d, struct control_conn *c)
{
	struct reload_waiter *rw;

	if (d->stopping) {
		if (c != NULL)
			answer(d, c, -ECANCELED, NULL);
		return;
	}
	if (c != NULL) {
		rw = xcalloc(1, sizeof(*rw));
		rw->c = c;
		LIST_INSERT_HEAD(&d->reload_next, rw, link);
	}
	d->reload_again = true;
	if (d->reloading == NULL)
		start_load(d);
}

void
reload_forget(struct daemon *d, struct control_conn *c)
{
	struct reload_waiter *rw;

	LIST_FOREACH(rw, &d->reload_next, link)
	if (rw->c == c)
		rw->c = NULL;
	if (d->reloading == NULL)
		return;
	LIST_FOREACH(rw, &d->reloading->waiters, link)
	if (rw->c == c)
		rw->c = NULL;
}
