/*
 * command.c: the control commands.
 *
 * The control module (control.c) owns the socket, the framing, the peer's
 * credentials and the ACL; a request that gets here is well-formed JSON
 * and allowed.  Each command has one handler, found by name in a table;
 * the handler answers with control_reply() or control_error(), now, or
 * (rotate --wait) when the run ends.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "config.h"
#include "cronspec.h"
#include "daemon-internal.h"
#include "emit.h"
#include "log.h"
#include "maps.h"
#include "policy.h"
#include "protocol.h"
#include "schedule.h"
#include "secret.h"
#include "storeq.h"
#include "tz.h"
#include "xalloc.h"

/* The caller of C, as audit lines name it: what the kernel said. */
#define CALLER_FMT "uid %u pid %d"
#define CALLER(c) (unsigned)control_conn_uid(c), (int)control_conn_pid(c)

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

json_t *
command_json_time(int64_t t)
{
	char buf[40];

	if (t == 0)
		return json_null();
	iso(t, NULL, buf, sizeof(buf));
	return json_string(buf);
}

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
	us = users_find(d, name);
	if (us == NULL || us->user == NULL) {
		control_error(c, "not_found",
		    "no user %s (rotactl list shows the users)", name);
		return NULL;
	}
	return us;
}

/*
 * The state of the SSH key credential (USER/private_key) of US, a user's
 * password, when the user rotates its key; else NULL.  The key is a
 * credential of its own: its own secret, runs and schedule.
 */
static struct ustate *
key_cred(struct daemon *d, const struct ustate *us)
{
	char name[STORE_USER_MAX + 1];
	struct ustate *k;

	if (us->cred == CRED_PRIVATE_KEY ||
	    !fire_rotates(us->user, CRED_PRIVATE_KEY))
		return NULL;
	snprintf(name, sizeof(name), "%s%s", us->name, CRED_KEY_SUFFIX);
	k = users_find(d, name);
	return k != NULL && k->user != NULL ? k : NULL;
}

/* Whether the store has a current secret for credential NAME: true,
 * false, or null when the store cannot say. */
static json_t *
has_secret(struct daemon *d, const char *name)
{
	int r = store_secret_version(d->store, name, STORE_CURRENT, NULL);

	return r == 0 ? json_true() : r == -ENOENT ? json_false() : json_null();
}

/*
 * The secret named in REQ into NAME (STORE_USER_MAX + 1 bytes): a loaded
 * user's (its password, or its key when it rotates one), or a user's SSH
 * key or key passphrase (USER/private_key, USER/private_key_passphrase)
 * even when the user does not rotate its key: an admin's key, a key or a
 * passphrase seeded before rotation is turned on.  Its state, if it has
 * one, in *RET_US (else NULL).  False after answering not_found /
 * bad_request.
 */
static bool
req_secret(struct daemon *d, struct control_conn *c, json_t *req, char *name,
    struct ustate **ret_us)
{
	static const char *const suffixes[] = { CRED_KEY_SUFFIX,
		CRED_PASSPHRASE_SUFFIX };
	const char *arg = str_arg(req, "user"), *slash;
	struct ustate *us;
	size_t i;

	*ret_us = NULL;
	if (arg == NULL) {
		control_error(
		    c, "bad_request", "\"user\" (a string) is required");
		return false;
	}
	us = users_find(d, arg);
	if (us != NULL && us->user != NULL) {
		snprintf(name, STORE_USER_MAX + 1, "%s", us->name);
		*ret_us = us;
		return true;
	}
	slash = strchr(arg, '/');
	for (i = 0; slash != NULL && i < 2; i++) {
		char base[STORE_USER_MAX + 1];

		if (strcmp(slash, suffixes[i]) != 0 ||
		    (size_t)(slash - arg) >= sizeof(base))
			continue;
		snprintf(base, sizeof(base), "%.*s", (int)(slash - arg), arg);
		us = users_find(d, base);
		if (us == NULL || us->user == NULL)
			break;
		snprintf(name, STORE_USER_MAX + 1, "%s", arg);
		return true;
	}
	control_error(
	    c, "not_found", "no user %s (rotactl list shows the users)", arg);
	return false;
}

static json_t *
user_json(struct daemon *d, struct ustate *us, bool full)
{
	const struct job_user *u = us->user;
	const struct tz *tz = schedule_display_tz(u->settings.schedule);
	struct ustate *key;
	json_t *o;

	o = json_pack("{s:s, s:s?, s:s, s:s, s:o, s:o, s:o, s:b, s:b}", "name",
	    us->name, "resource", u->resource_name, "schedule",
	    u->settings.schedule_text, "tz", tz_name(tz), "next_fire",
	    command_json_time(fire_next(us)), "last_fire",
	    command_json_time(us->last_fire), "last_outcome",
	    us->last_outcome == STORE_RUN_NONE
		? json_null()
		: json_string(store_run_state_name(us->last_outcome)),
	    "paused", us->paused, "running", us->run != NULL);
	/* Whether rotad has a secret to rotate from or to verify: a user
	 * without one needs `rotactl secret set` first. */
	json_object_set_new(o, "credential",
	    json_string(
		us->cred == CRED_PRIVATE_KEY ? "private_key" : "password"));
	json_object_set_new(o, "secret", has_secret(d, us->name));
	if ((key = key_cred(d, us)) != NULL)
		json_object_set_new(
		    o, "key_credential", json_string(key->name));
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
		    o, "last_success", command_json_time(us->last_success));
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
	struct ustate **v = xcalloc(d->nusers + 1, sizeof(*v));
	size_t i, n = 0;

	for (i = 0; i < d->users_cap; i++)
		if (d->users[i] != NULL && d->users[i]->user != NULL)
			v[n++] = d->users[i];
	qsort(v, n, sizeof(*v), name_cmp);
	*ret_n = n;
	return v;
}

/*
 * The job files the current generation left out, each with its first
 * error.  Only a start leaves any out (a reload with an error is refused
 * whole), and a reload that passes loads them all.
 */
static json_t *
skipped_json(const struct job_set *set)
{
	const struct job_error *e;
	json_t *arr = json_array();
	size_t i = 0;

	char *line;

	while ((e = reload_next_skipped(set, &i)) != NULL) {
		line = xasprintf(
		    "%s:%d:%d: %s", e->file, e->line, e->column, e->message);
		json_array_append_new(arr,
		    json_pack("{s:s, s:s}", "file", e->file, "error", line));
		free(line);
	}
	return arr;
}

/*
 * A file the daemon runs code of that was replaced on disk since it
 * started (a library upgraded: the daemon goes on with the old code
 * until it restarts, unlike its workers, whose template is replaced),
 * or NULL.  /proc/self/maps is read once a second at most, and not
 * again once a file is found.
 */
static const char *
replaced_code(struct daemon *d)
{
	int64_t now = now_s();

	if (d->replaced[0] == '\0' && now != d->replaced_checked) {
		d->replaced_checked = now;
		if (maps_self_replaced(d->replaced, sizeof(d->replaced)) != 1)
			d->replaced[0] = '\0';
	}
	return d->replaced[0] != '\0' ? d->replaced : NULL;
}

static void
cmd_status(struct daemon *d, struct control_conn *c, json_t *req)
{
	json_t *skipped = skipped_json(d->gen->set);
	const char *replaced = replaced_code(d);

	control_reply(c,
	    json_pack("{s:s, s:o, s:s, s:i, s:I, s:i, s:s, s:i, s:i, "
		      "s:i, s:i, s:i, s:s, s:b, s:s?}",
		"health",
		d->gen->set->nfiles_skipped > 0 || json_array_size(skipped) > 0
		    ? "degraded"
		    : "ok",
		"skipped", skipped, "version", ROTAD_VERSION, "pid",
		(int)getpid(), "uptime", (json_int_t)(now_s() - d->started),
		"generation", d->gen->number, "config", d->config, "users",
		(int)d->gen->set->nusers, "paused", (int)d->npaused, "queued",
		d->nqueued, "running", d->nrunning, "max_workers",
		d->gen->set->daemon.max_workers, "state",
		d->stopping ? "stopping" : "running", "reloading",
		d->reloading != NULL, "replaced", replaced));
}

static void
cmd_list(struct daemon *d, struct control_conn *c, json_t *req)
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
	/* protocol_decode() has checked the range; checked again here
	 * because a wrong count would cost a long loop. */
	if (count != NULL) {
		if (!json_is_integer(count) || json_integer_value(count) < 1 ||
		    json_integer_value(count) > PROTOCOL_COUNT_MAX) {
			control_error(c, "bad_request",
			    "\"count\" must be from 1 to %d",
			    PROTOCOL_COUNT_MAX);
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

/*
 * The credentials a trigger of US covers, into V (two): US itself when it
 * names a key (USER/private_key); for a user's name, each credential it
 * rotates, its password alone when it rotates none.
 */
static size_t
trigger_creds(struct daemon *d, struct ustate *us, struct ustate **v)
{
	size_t n = 0;

	v[0] = us;
	if (us->cred == CRED_PRIVATE_KEY)
		return 1;
	if (fire_rotates(us->user, CRED_PASSWORD))
		v[n++] = us;
	if ((v[n] = key_cred(d, us)) != NULL)
		n++;
	if (n == 0)
		v[n++] = us;
	return n;
}

/*
 * The user a SIEM names by its account: LOGIN on a resource whose host is
 * HOST (the model's, as written).  NULL after answering not_found, or
 * conflict when two users match (name the user then).
 */
static struct ustate *
user_by_login(struct daemon *d, struct control_conn *c, const char *login,
    const char *host)
{
	struct ustate *found = NULL;
	size_t i;

	for (i = 0; i < d->users_cap; i++) {
		struct ustate *us = d->users[i];
		const struct job_user *u;

		if (us == NULL || (u = us->user) == NULL ||
		    us->cred != CRED_PASSWORD || u->login == NULL ||
		    u->resource == NULL || u->resource->host == NULL ||
		    strcmp(u->login, login) != 0 ||
		    strcmp(u->resource->host, host) != 0)
			continue;
		if (found != NULL) {
			control_error(c, "conflict",
			    "login %s on %s is users %s and %s: name the user",
			    login, host, found->name, us->name);
			return NULL;
		}
		found = us;
	}
	if (found == NULL)
		control_error(
		    c, "not_found", "no user has login %s on %s", login, host);
	return found;
}

/* An alert id: 1 to EVENT_ID_MAX of [A-Za-z0-9._:-]. */
static bool
alert_id_ok(const char *s)
{
	size_t i, n = strlen(s);

	if (n == 0 || n > EVENT_ID_MAX)
		return false;
	for (i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) &&
		    strchr("._:-", s[i]) == NULL)
			return false;
	return true;
}

static void
cmd_trigger(
    struct daemon *d, struct control_conn *c, json_t *req, enum run_kind kind)
{
	const char *login = str_arg(req, "login"), *host = str_arg(req, "host");
	const char *alert = str_arg(req, "alert_id");
	struct ustate *us, *creds[2];
	struct wait_group *g;
	json_t *ids;
	struct run *r[2];
	bool coalesced[2], wait;
	size_t i, n;

	if (alert != NULL && !alert_id_ok(alert)) {
		control_error(c, "bad_request",
		    "\"alert_id\": 1 to %d of letters, digits, '.', '_', ':', "
		    "'-'",
		    EVENT_ID_MAX);
		return;
	}
	/* A SIEM may name the account instead of rotad's user. */
	if (str_arg(req, "user") == NULL && login != NULL && host != NULL)
		us = user_by_login(d, c, login, host);
	else
		us = req_user(d, c, req);
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
	n = trigger_creds(d, us, creds);
	ids = json_array();
	for (i = 0; i < n; i++) {
		/* A new run is a SIEM's (run_alloc() reads it); a run
		 * already under way keeps what started it. */
		d->alert_id = alert;
		r[i] = run_new(d, creds[i], kind, 0, &coalesced[i]);
		d->alert_id = NULL;
		json_array_append_new(ids, json_string(r[i]->rec.id));
		/* Audited, one line per credential: who asked for which. */
		log_msg(LOG_NOTICE, MSG_TRIGGER,
		    "%s of %s requested by " CALLER_FMT ": run %s%s",
		    run_kind_name(kind), creds[i]->name, CALLER(c),
		    r[i]->rec.id, coalesced[i] ? " (coalesced)" : "");
	}
	wait = json_is_true(json_object_get(req, "wait"));
	if (!wait) {
		control_reply(c,
		    json_pack("{s:s, s:b, s:o}", "run", r[0]->rec.id,
			"coalesced", coalesced[0], "runs", ids));
		return;
	}
	json_decref(ids);
	g = waiters_group(n);
	for (i = 0; i < n; i++) {
		waiters_add(r[i], c, g);
		control_progress(c,
		    json_pack("{s:s, s:s, s:s, s:b}", "run", r[i]->rec.id,
			"user", creds[i]->name, "state", run_phase_name(r[i]),
			"coalesced", coalesced[i]));
	}
}

/*
 * ---- reads off the loop ----
 *
 * What reads the store's history -- runs, their outputs, versions, the
 * spool -- reads it on libuv's pool (storeq.h): the arguments are copied
 * out of the request here, on the loop; the job's FN reads through the
 * read handle and builds the answer there, from the store alone (no
 * daemon state); the answer goes out on the loop, unless the connection
 * closed meanwhile (command_on_close()).
 */
struct cmd_read {
	struct storeq_job job;
	LIST_ENTRY(cmd_read) link;
	struct daemon *d;
	struct control_conn *c; /* NULL: it closed */
	void (*fn)(struct cmd_read *rq, struct store *rd);
	/* the arguments */
	char *user; /* NULL: none */
	char *id;
	int limit;
	bool has_since, follow;
	int64_t since;
	/* the answer: RESULT, or CODE and MSG */
	json_t *result;
	const char *code;
	char msg[512];
};

static void
read_work(struct storeq_job *j, struct store *rd)
{
	struct cmd_read *rq = (struct cmd_read *)j;

	rq->fn(rq, rd);
}

/* RQ failed with CODE; the message is the read handle's. */
static void
read_fail(struct cmd_read *rq, const char *code, struct store *rd)
{
	rq->code = code;
	snprintf(rq->msg, sizeof(rq->msg), "%s", store_last_error(rd));
}

static void
read_done(struct storeq_job *j, bool cancelled)
{
	struct cmd_read *rq = (struct cmd_read *)j;
	struct control_conn *c = rq->c;

	LIST_REMOVE(rq, link);
	/* A follow that ends in an error answer follows no more: what it
	 * kept back would otherwise grow for as long as it stays open. */
	if (c != NULL && rq->follow && (cancelled || rq->code != NULL))
		emit_unfollow(rq->d, c);
	if (c == NULL)
		;
	else if (cancelled)
		control_error(c, "internal", "the daemon is stopping");
	else if (rq->code != NULL)
		control_error(c, rq->code, "%s", rq->msg);
	else if (rq->follow) {
		/* The backlog, then what was spooled since the request. */
		emit_follow_from(rq->d, c,
		    json_incref(json_object_get(rq->result, "events")));
	} else {
		control_reply(c, rq->result);
		rq->result = NULL;
	}
	json_decref(rq->result);
	free(rq->user);
	free(rq->id);
	free(rq);
}

/* A read of C's for FN, its arguments for the caller to fill. */
static struct cmd_read *
read_new(struct daemon *d, struct control_conn *c,
    void (*fn)(struct cmd_read *rq, struct store *rd))
{
	struct cmd_read *rq = xcalloc(1, sizeof(*rq));

	rq->job.work = read_work;
	rq->job.done = read_done;
	rq->d = d;
	rq->c = c;
	rq->fn = fn;
	return rq;
}

static void
read_submit(struct cmd_read *rq)
{
	LIST_INSERT_HEAD(&rq->d->reads, rq, link);
	storeq_submit(rq->d->readq[READQ_CONTROL], &rq->job);
}

/* A run read back from the store: its kind is stored with it (for runs
 * from before schema 6, as the message suggested: store_sqlite.c). */
static const char *
stored_kind(const struct store_run *rec)
{
	return run_kind_name(rec->verify ? RUN_VERIFY : RUN_ROTATE);
}

static int
collect_run(const struct store_run *rec, void *arg)
{
	json_t *arr = arg;

	json_array_append_new(arr,
	    run_json(rec, stored_kind(rec),
		run_state_shown(stored_kind(rec), rec->state)));
	return 0;
}

static void
runs_read(struct cmd_read *rq, struct store *rd)
{
	json_t *arr = json_array();

	if (store_run_list(rd, rq->user, rq->limit, collect_run, arr) < 0) {
		json_decref(arr);
		read_fail(rq, "internal", rd);
		return;
	}
	rq->result = json_pack("{s:o}", "runs", arr);
}

static void
cmd_runs(struct daemon *d, struct control_conn *c, json_t *req)
{
	const char *user = str_arg(req, "user");
	json_t *lim = json_object_get(req, "limit");
	struct cmd_read *rq;
	int limit = 20;

	/* protocol_decode() has checked it; again here, before the cast. */
	if (lim != NULL) {
		if (!json_is_integer(lim) || json_integer_value(lim) < 1 ||
		    json_integer_value(lim) > PROTOCOL_COUNT_MAX) {
			control_error(c, "bad_request",
			    "\"limit\" must be from 1 to %d",
			    PROTOCOL_COUNT_MAX);
			return;
		}
		limit = (int)json_integer_value(lim);
	}
	rq = read_new(d, c, runs_read);
	rq->user = user != NULL ? xstrdup(user) : NULL;
	rq->limit = limit;
	read_submit(rq);
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

/* The run's JSON, RUN, with its scripts' outputs, when it has any. */
static json_t *
with_outputs(struct store *rd, json_t *run, const char *id)
{
	json_t *arr = json_array();

	if (store_run_outputs(rd, id, collect_output, arr) == 0 &&
	    json_array_size(arr) > 0)
		json_object_set_new(run, "scripts", arr);
	else
		json_decref(arr);
	return run;
}

/* A run: RQ->result holds it when it is in memory, else it is read. */
static void
run_read(struct cmd_read *rq, struct store *rd)
{
	struct store_run rec;

	if (rq->result != NULL) {
		with_outputs(rd, json_object_get(rq->result, "run"), rq->id);
		return;
	}
	if (store_run_get(rd, rq->id, &rec) < 0) {
		rq->code = "not_found";
		snprintf(rq->msg, sizeof(rq->msg), "no run %s", rq->id);
		return;
	}
	rq->result = json_pack("{s:o}", "run",
	    with_outputs(rd,
		run_json(&rec, stored_kind(&rec),
		    run_state_shown(stored_kind(&rec), rec.state)),
		rq->id));
}

static void
cmd_run(struct daemon *d, struct control_conn *c, json_t *req)
{
	const char *id = str_arg(req, "run");
	struct cmd_read *rq;
	struct run *r;

	if (id == NULL) {
		control_error(
		    c, "bad_request", "\"run\" (a string) is required");
		return;
	}
	rq = read_new(d, c, run_read);
	rq->id = xstrdup(id);
	r = users_run_find(d, id);
	if (r != NULL)
		rq->result = json_pack("{s:o}", "run",
		    run_json(
			&r->rec, run_kind_name(r->kind), run_phase_name(r)));
	read_submit(rq);
}

/*
 * Pause (or resume) the N credentials in V, in memory and in the store,
 * in one transaction: a pause outlives the daemon.  0; or -errno, and
 * nothing changed.
 */
static int
set_paused(struct daemon *d, struct ustate **v, size_t n, bool pause)
{
	bool *was = xcalloc(n + 1, sizeof(*was));
	size_t i, j;
	int r;

	r = store_begin(d->store);
	for (i = 0; r == 0 && i < n; i++) {
		was[i] = v[i]->paused;
		v[i]->paused = pause;
		r = fire_persist(d, v[i]);
	}
	if (r == 0)
		r = store_commit(d->store);
	else
		store_rollback(d->store);
	for (j = 0; j < i; j++) {
		if (r < 0)
			v[j]->paused = was[j];
		else if (was[j] != pause && v[j]->user != NULL && pause)
			d->npaused++;
		else if (was[j] != pause && v[j]->user != NULL)
			d->npaused--;
	}
	free(was);
	return r;
}

/* pause and resume.  USER covers the user's SSH key as well (its own
 * credential, USER/private_key): a paused user has no fire at all. */
static void
cmd_pause(struct daemon *d, struct control_conn *c, json_t *req, bool pause)
{
	bool all = json_is_true(json_object_get(req, "all"));
	struct ustate **v, *one[2];
	json_t *names;
	size_t i, n;
	char list[512];
	int len = 0;

	if (all) {
		v = sorted_users(d, &n);
	} else {
		if ((one[0] = req_user(d, c, req)) == NULL)
			return;
		one[1] = key_cred(d, one[0]);
		n = one[1] != NULL ? 2 : 1;
		v = one;
	}
	if (set_paused(d, v, n, pause) < 0) {
		control_error(
		    c, "internal", "the store: %s", store_last_error(d->store));
		goto out;
	}
	names = json_array();
	list[0] = '\0';
	for (i = 0; i < n; i++) {
		json_array_append_new(names, json_string(v[i]->name));
		if (!all && len >= 0 && (size_t)len < sizeof(list))
			len += snprintf(list + len, sizeof(list) - (size_t)len,
			    "%s%s", i > 0 ? ", " : "", v[i]->name);
	}
	/* Audited.  --all names no one: there may be 100k of them. */
	if (all)
		log_msg(LOG_NOTICE, MSG_PAUSE,
		    "%s all %zu credential%s by " CALLER_FMT,
		    pause ? "paused" : "resumed", n, n == 1 ? "" : "s",
		    CALLER(c));
	else
		log_msg(LOG_NOTICE, MSG_PAUSE, "%s %s by " CALLER_FMT,
		    pause ? "paused" : "resumed", list, CALLER(c));
	control_reply(c, json_pack("{s:o}", "users", names));
out:
	if (v != one)
		free(v);
}

static void
cmd_reload(struct daemon *d, struct control_conn *c, json_t *req)
{
	(void)req;
	/* Audited; the outcome follows as ROTAD-0003 or ROTAD-0004, and
	 * the answer once the files are loaded (reload_request()). */
	log_msg(LOG_NOTICE, MSG_RELOAD_BY, "reload requested by " CALLER_FMT,
	    CALLER(c));
	reload_request(d, c);
}

/* An audit event NAME: the caller C did it to the secret NAME. */
static void
access_event(struct daemon *d, struct control_conn *c, enum event_name name,
    const char *user)
{
	struct event ev;

	emit_new(d, &ev, name);
	ev.uid = (int64_t)control_conn_uid(c);
	ev.user = user;
	(void)emit(d, &ev);
}

/* The spool's events after "since" (default: the last 20), for "user"
 * only if given; with "follow", new ones as progress lines until the
 * client closes. */
struct events_out {
	json_t *arr;
	const char *user;
	int64_t last;
};

static int
collect_event(
    int64_t id, int64_t time, const void *payload, size_t len, void *arg)
{
	struct events_out *o = arg;
	struct event ev;
	json_t *j;

	(void)time;
	o->last = id;
	if (event_decode_json(payload, len, &ev) < 0)
		return 0; /* not ours to judge here: skip it */
	if (o->user == NULL ||
	    (ev.user != NULL && strcmp(ev.user, o->user) == 0)) {
		j = json_loadb(payload, len, 0, NULL);
		if (j != NULL) {
			json_object_set_new(j, "seq", json_integer(id));
			json_array_append_new(o->arr, j);
		}
	}
	event_clear(&ev);
	return 0;
}

/* The spool's events after RQ->since (or the last RQ->limit), of
 * RQ->user only if set, and its last id, from one snapshot. */
static void
events_read(struct cmd_read *rq, struct store *rd)
{
	struct events_out o = { json_array(), rq->user, 0 };
	int64_t last = 0;
	int r;

	r = store_read_begin(rd);
	if (r < 0 || store_event_last(rd, &last) < 0) {
		read_fail(rq, "internal", rd);
		if (r == 0)
			store_read_end(rd);
		json_decref(o.arr);
		return;
	}
	o.last = rq->has_since ? rq->since
			       : (last > rq->limit ? last - rq->limit : 0);
	/* A user filter reads on until LIMIT events of the user or the
	 * end of the spool. */
	while (json_array_size(o.arr) < (size_t)rq->limit && o.last < last) {
		int64_t before = o.last;

		if (store_event_since(
			rd, o.last, rq->limit, collect_event, &o) < 0 ||
		    o.last == before)
			break;
	}
	store_read_end(rd);
	while (json_array_size(o.arr) > (size_t)rq->limit)
		json_array_remove(o.arr, json_array_size(o.arr) - 1);
	rq->result =
	    json_pack("{s:o, s:I}", "events", o.arr, "last", (json_int_t)last);
}

static void
cmd_events(struct daemon *d, struct control_conn *c, json_t *req)
{
	json_t *js = json_object_get(req, "since"),
	       *jl = json_object_get(req, "limit");
	const char *user = str_arg(req, "user");
	struct cmd_read *rq = read_new(d, c, events_read);

	rq->user = user != NULL ? xstrdup(user) : NULL;
	rq->limit = jl != NULL ? (int)json_integer_value(jl) : 20;
	rq->has_since = js != NULL;
	rq->since = js != NULL ? json_integer_value(js) : 0;
	rq->follow = json_is_true(json_object_get(req, "follow"));
	/* Followed from now: what is spooled while the backlog is read
	 * waits for it (emit_follow_from()). */
	if (rq->follow)
		emit_follow(d, c, rq->user);
	read_submit(rq);
}

static void
cmd_secret_set(struct daemon *d, struct control_conn *c, json_t *req)
{
	const char *b64 = str_arg(req, "value_b64");
	char name[STORE_USER_MAX + 1];
	struct secret *value = NULL;
	struct ustate *us;
	int64_t version;
	int r;

	if (!req_secret(d, c, req, name, &us))
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
	r = store_secret_seed(d->store, name, value, now_s(), &version);
	secret_free(value);
	if (r < 0) {
		control_error(c, r == -EBUSY ? "busy" : "internal", "%s",
		    store_last_error(d->store));
		return;
	}
	log_msg(LOG_NOTICE, MSG_SECRET_SET,
	    "secret of %s set to version %" PRId64 " by " CALLER_FMT, name,
	    version, CALLER(c));
	access_event(d, c, EVENT_SECRET_SET, name);
	control_reply(c, json_pack("{s:I}", "version", (json_int_t)version));
}

/*
 * Whether US's target may not hold its current secret: its last run ended
 * out of sync, or the run it has now is in recovery out of sync.  Its
 * other candidate (the pending secret) is kept then, and `rotactl run`
 * says why.
 */
static bool
out_of_sync(const struct ustate *us)
{
	if (us == NULL)
		return false;
	return us->last_outcome == STORE_RUN_OUT_OF_SYNC ||
	    (us->run != NULL && us->run->rec.state == STORE_RUN_OUT_OF_SYNC);
}

static void
cmd_secret_get(struct daemon *d, struct control_conn *c, json_t *req)
{
	char name[STORE_USER_MAX + 1];
	struct secret *value = NULL;
	struct ustate *us;
	int64_t version;
	char *b64;
	int r;

	if (!req_secret(d, c, req, name, &us))
		return;
	r = store_secret_get(d->store, name, STORE_CURRENT, &value, &version);
	if (r == -ENOENT) {
		control_error(c, "not_found",
		    "user %s has no secret yet (set one with rotactl secret "
		    "set %s)",
		    name, name);
		return;
	}
	if (r < 0) {
		control_error(c, "internal", "%s", store_last_error(d->store));
		return;
	}
	/* Audited: who read which version. */
	log_msg(LOG_NOTICE, MSG_SECRET_READ,
	    "secret of %s (version %" PRId64 ") read by " CALLER_FMT, name,
	    version, CALLER(c));
	access_event(d, c, EVENT_SECRET_READ, name);
	b64 = protocol_secret_encode(value);
	secret_free(value);
	if (b64 == NULL) {
		control_error(c, "internal", "out of memory");
		return;
	}
	control_reply(c,
	    json_pack("{s:I, s:s, s:b}", "version", (json_int_t)version,
		"value_b64", b64, "out_of_sync", out_of_sync(us)));
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
		command_json_time(in->created), "changed",
		command_json_time(in->changed), "run", in->run_id));
	return 0;
}

static void
history_read(struct cmd_read *rq, struct store *rd)
{
	json_t *arr = json_array();

	if (store_secret_history(rd, rq->user, collect_version, arr) < 0) {
		json_decref(arr);
		read_fail(rq, "internal", rd);
		return;
	}
	rq->result = json_pack("{s:o}", "versions", arr);
}

static void
cmd_secret_history(struct daemon *d, struct control_conn *c, json_t *req)
{
	char name[STORE_USER_MAX + 1];
	struct cmd_read *rq;
	struct ustate *us;

	if (!req_secret(d, c, req, name, &us))
		return;
	rq = read_new(d, c, history_read);
	rq->user = xstrdup(name);
	read_submit(rq);
}

static void
cmd_show(struct daemon *d, struct control_conn *c, json_t *req)
{
	struct ustate *us = req_user(d, c, req);

	if (us != NULL)
		control_reply(
		    c, json_pack("{s:o}", "user", user_json(d, us, true)));
}

static void
cmd_rotate(struct daemon *d, struct control_conn *c, json_t *req)
{
	cmd_trigger(d, c, req, RUN_ROTATE);
}

static void
cmd_verify(struct daemon *d, struct control_conn *c, json_t *req)
{
	cmd_trigger(d, c, req, RUN_VERIFY);
}

static void
cmd_pause_users(struct daemon *d, struct control_conn *c, json_t *req)
{
	cmd_pause(d, c, req, true);
}

static void
cmd_resume_users(struct daemon *d, struct control_conn *c, json_t *req)
{
	cmd_pause(d, c, req, false);
}

static void
cmd_metrics(struct daemon *d, struct control_conn *c, json_t *req)
{
	char *text = metrics_text(d);

	control_reply(c, json_pack("{s:s}", "text", text != NULL ? text : ""));
	free(text);
}

/*
 * The commands by name.  The right each needs is the protocol's
 * (protocol_command_right()): the control module has checked it before
 * a request gets here.
 */
/*
 * READ: the command writes nothing to the store, so its answer need not
 * wait for the store's sync (durable.h); it may tell of a transition a
 * power loss then takes back, as any read of a running system can.  The
 * rest are held: a write's answer, a waiter's, events followed, and
 * secret_get's (the read is audited: its event is on disk before the
 * secret leaves).
 */
static const struct command {
	const char *name;
	void (*fn)(struct daemon *d, struct control_conn *c, json_t *req);
	bool read;
} commands[] = {
	{ "status", cmd_status, true },
	{ "list", cmd_list, true },
	{ "show", cmd_show, true },
	{ "next", cmd_next, true },
	{ "rotate", cmd_rotate, false },
	{ "verify", cmd_verify, false },
	{ "runs", cmd_runs, true },
	{ "run", cmd_run, true },
	{ "pause", cmd_pause_users, false },
	{ "resume", cmd_resume_users, false },
	{ "reload", cmd_reload, false },
	{ "secret_set", cmd_secret_set, false },
	{ "secret_get", cmd_secret_get, false },
	{ "secret_history", cmd_secret_history, true },
	{ "events", cmd_events, false },
	{ "metrics", cmd_metrics, true },
};

void
command_dispatch(
    void *arg, struct control_conn *c, const char *cmd, json_t *req)
{
	struct daemon *d = arg;
	size_t i;

	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (strcmp(cmd, commands[i].name) == 0) {
			if (commands[i].read)
				control_unheld(c);
			commands[i].fn(d, c, req);
			return;
		}
	}
	control_error(c, "unknown_command", "unknown command %s", cmd);
}

/* A waiting client went away: forget it, the run goes on. */
void
command_on_close(void *arg, struct control_conn *c)
{
	struct daemon *d = arg;
	struct waiter *w, *tmp;
	struct cmd_read *rq;
	size_t i;

	if (control_conn_too_slow(c))
		log_msg(LOG_WARNING, MSG_DENIED,
		    "control: " CALLER_FMT " closed: it left more than %d "
		    "KiB of progress lines (events --follow, rotate --wait) "
		    "unread",
		    CALLER(c), CONTROL_DEFAULT_PROGRESS_MAX / 1024);
	emit_unfollow(d, c);
	reload_forget(d, c);
	LIST_FOREACH(rq, &d->reads, link)
	if (rq->c == c)
		rq->c = NULL;
	/* Every run in memory, not just the users' current ones: a
	 * rotation waiting behind a verify (run_new()), a run a stop has
	 * taken off its user, may have waiters too. */
	for (i = 0; i < d->runs_cap; i++) {
		struct run *r = d->runs[i];

		if (r == NULL)
			continue;
		LIST_FOREACH_SAFE(w, &r->waiters, link, tmp)
		{
			if (w->conn == c) {
				LIST_REMOVE(w, link);
				waiters_drop(w);
			}
		}
	}
}

void
command_on_denied(void *arg, uid_t uid, pid_t pid, const char *cmd)
{
	/* A caller without rights must not make the spool write without
	 * bound: at most DENIED_PER_MINUTE events a minute, the rest said
	 * as a count in the next one. */
	enum {
		DENIED_PER_MINUTE = 30
	};
	static int64_t minute;
	static int n, suppressed;
	struct daemon *d = arg;
	char msg[128];
	struct event ev;
	size_t i;

	log_msg(LOG_WARNING, MSG_DENIED, "control: uid %u pid %d denied %s",
	    (unsigned)uid, (int)pid, cmd);
	if (now_s() / 60 != minute) {
		minute = now_s() / 60;
		n = 0;
	}
	if (++n > DENIED_PER_MINUTE) {
		suppressed++;
		return;
	}
	emit_new(d, &ev, EVENT_CONTROL_DENIED);
	ev.uid = (int64_t)uid;
	snprintf(msg, sizeof(msg), "pid %d denied %.40s (%d more not spooled)",
	    (int)pid, cmd, suppressed);
	/* The command is the caller's text: ASCII only in the event. */
	for (i = 0; msg[i] != '\0'; i++)
		if ((unsigned char)msg[i] < ' ' || (unsigned char)msg[i] > '~')
			msg[i] = '?';
	suppressed = 0;
	ev.message = msg;
	(void)emit(d, &ev);
}
