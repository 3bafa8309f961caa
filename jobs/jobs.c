/*
 * jobs.c: the job model, and loading rotad.yaml and conf.d/NAME.yaml into it.
 *
 * Loading runs in passes, so that one bad file costs only itself:
 *
 *   1. parse:   each file into its own objects; YAML, type and key errors
 *               are recorded against the file (parse.c).
 *   2. settle:  drop every file with an error, then check names across
 *               files (duplicates), references (resource, configuration,
 *               admin_user), and each user's resolved settings; a problem
 *               marks the file that holds it, and the pass repeats until
 *               no new file fails (settle.c).
 *   3. collect: the surviving objects move into the job set, the others
 *               are freed (here).
 *
 * Values keep the file:line:column they were written at; inheritance
 * (user -> resource -> configuration -> rotad.yaml -> built-in) copies the
 * origin along with the value.
 */
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "catalog.h"
#include "config.h"
#include "jobs-internal.h"
#include "schedule.h"
#include "trust.h"
#include "tz.h"
#include "xalloc.h"

#define DEFAULT_STORE "/var/lib/rotad/rotad.db"
#define DEFAULT_SOCKET "/run/rotad/rotad.sock"
#define DEFAULT_MIN_INTERVAL 3600
#define DEFAULT_MAX_WORKERS 16

void
jobs_error_at(struct job_loader *l, size_t file, int line, int column,
    const char *fmt, ...)
{
	struct job_error *e;
	va_list ap;
	char *msg;

	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		xalloc_fail();
	va_end(ap);
	e = PUSH(l->set->errors, l->set->nerrors);
	e->file = file == SIZE_MAX ? NULL : xstrdup(l->set->files[file]);
	e->order = file == SIZE_MAX ? 0 : file + 1;
	e->line = line;
	e->column = column;
	e->message = msg;
	if (file != SIZE_MAX)
		l->file_bad[file] = true;
}

bool
jobs_trusted(struct job_loader *l, const struct job_origin *origin, size_t file,
    const char *what, const char *path)
{
	char why[2 * 4096 + 256];

	if (!l->trust || path == NULL ||
	    trust_check_path_memo(
		path, l->self, &l->trust_memo, why, sizeof(why)) == 0)
		return true;
	jobs_error_at(l, file, origin != NULL ? origin->line : 0,
	    origin != NULL ? origin->column : 0, "%s%s%s%s%s",
	    what != NULL ? what : "", what != NULL ? " " : "",
	    what != NULL ? path : "", what != NULL ? ": " : "", why);
	return false;
}

/* ---- the model's tables ---- */

const struct job_bool_setting jobs_bool_settings[] = {
#define B(name, bit)                                                           \
	{                                                                      \
#name, bit, offsetof(struct job_settings, name),               \
		    offsetof(struct job_settings, name##_origin)               \
	}
	B(private_key_rotate, JOB_SET_PRIVATE_KEY_ROTATE),
	B(rollback_on_password_fail, JOB_SET_ROLLBACK_PASSWORD),
	B(rollback_on_private_key_fail, JOB_SET_ROLLBACK_PRIVATE_KEY),
	B(rollback_on_post_rotation_fail, JOB_SET_ROLLBACK_POST_ROTATION),
	B(rerun_on_post_rotation_fail, JOB_SET_RERUN_POST_ROTATION),
#undef B
};

const size_t jobs_nbool_settings =
    sizeof(jobs_bool_settings) / sizeof(jobs_bool_settings[0]);

/* ---- protocols and the port map ---- */

const char *const jobs_kind_names[] = { [JOB_MACHINE] = "machine",
	[JOB_DATABASE] = "database",
	[JOB_DIRECTORY] = "directory",
	[JOB_CLOUD] = "cloud",
	[JOB_API] = "api",
	NULL };

const char *
jobs_kind_name(enum job_kind kind)
{
	return jobs_kind_names[kind];
}

const char *const jobs_resource_keys[] = { "kind", "host", "port", "protocol",
	"tls", "admin_user", "max_concurrent", "batch", "configuration", "scripts",
	"schedule", "complexity", "rotate", "retry", "misfire", "timeout",
	"private_key_type", "private_key_rotate", "rollback_on_password_fail",
	"rollback_on_private_key_fail", "rollback_on_post_rotation_fail",
	"rerun_on_post_rotation_fail", NULL };

const char *const jobs_right_names[] = { "read", "trigger", "secrets", "admin",
	NULL };

/* ---- settings ---- */

void
jobs_settings_free(struct job_settings *st)
{
	/* The schedule and its text are the set's. */
	free(st->private_key_type);
	free(st->complexity);
	memset(st, 0, sizeof(*st));
}

static void
scripts_free(struct job_scripts *sc)
{
	size_t i;

	for (i = 0; i < sc->n; i++) {
		free(sc->v[i].path);
		free(sc->v[i].command);
	}
	free(sc->v);
	memset(sc, 0, sizeof(*sc));
}

/* Built-in defaults, the last link of every inheritance chain: what
 * rotad.yaml's defaults do not set. */
static void
builtin_defaults(struct job_set *set)
{
	struct job_settings *st = &set->daemon.defaults;
	struct job_origin o = { .level = JOB_LEVEL_BUILTIN };
	struct schedule_error err;

	/* Keeper's rotation default is on demand only. */
	if (!(st->set & JOB_SET_SCHEDULE)) {
		static const struct schedule_fields f = {
			.value = { [SCHEDULE_KEY_TYPE] = "ON_DEMAND" }
		};

		if (setting_schedule(set, &f, st, &err) < 0)
			xalloc_fail(); /* a constant: only memory can fail */
		st->schedule_origin = o;
	}
	if (!(st->set & JOB_SET_COMPLEXITY)) {
		free(st->complexity);
		st->complexity = xcalloc(1, sizeof(*st->complexity));
		policy_default(st->complexity);
		st->complexity_origin = o;
	}
	if (!(st->set & JOB_SET_ROTATE)) {
		st->rotate = JOB_ROTATE_PASSWORD;
		st->rotate_origin = o;
	}
	if (!(st->set & JOB_SET_RETRY)) {
		st->retry = (struct job_retry){ 5, 30, 3600 };
		st->retry_origin = o;
	}
	if (!(st->set & JOB_SET_MISFIRE)) {
		st->misfire = JOB_MISFIRE_RUN_ONCE;
		st->misfire_origin = o;
	}
	if (!(st->set & JOB_SET_TIMEOUT)) {
		st->timeout = 60;
		st->timeout_origin = o;
	}
	if (!(st->set & JOB_SET_PRIVATE_KEY_TYPE)) {
		st->private_key_type = xstrdup("ssh-ed25519");
		st->private_key_type_origin = o;
	}
	if (!(st->set & JOB_SET_PRIVATE_KEY_ROTATE)) {
		/* rotate: decides; false is Keeper's "leave the key". */
		st->private_key_rotate = true;
		st->private_key_rotate_origin = o;
	}
	if (!(st->set & JOB_SET_ROLLBACK_PASSWORD)) {
		st->rollback_on_password_fail = true;
		st->rollback_on_password_fail_origin = o;
	}
	if (!(st->set & JOB_SET_ROLLBACK_PRIVATE_KEY)) {
		st->rollback_on_private_key_fail = true;
		st->rollback_on_private_key_fail_origin = o;
	}
	if (!(st->set & JOB_SET_ROLLBACK_POST_ROTATION)) {
		st->rollback_on_post_rotation_fail = false;
		st->rollback_on_post_rotation_fail_origin = o;
	}
	if (!(st->set & JOB_SET_RERUN_POST_ROTATION)) {
		st->rerun_on_post_rotation_fail = false;
		st->rerun_on_post_rotation_fail_origin = o;
	}
	/* Every field now holds a value; the set bits still say which ones
	 * rotad.yaml gave. */
}

void
jobs_inherit(
    struct job_settings *st, struct job_settings *const *chain, size_t n)
{
	size_t i;

#define TAKE(bit, field)                                                       \
	for (i = 0; !(st->set & (bit)) && i < n; i++) {                        \
		if (chain[i]->set & (bit) || i == n - 1) {                     \
			st->field = chain[i]->field;                           \
			st->field##_origin = chain[i]->field##_origin;         \
			break;                                                 \
		}                                                              \
	}
	TAKE(JOB_SET_SCHEDULE, schedule);
	for (i = 0; !(st->set & JOB_SET_SCHEDULE) && i < n; i++)
		if (chain[i]->set & JOB_SET_SCHEDULE || i == n - 1) {
			st->schedule_text = chain[i]->schedule_text;
			st->schedule_gap = chain[i]->schedule_gap;
			break;
		}
	TAKE(JOB_SET_COMPLEXITY, complexity);
	TAKE(JOB_SET_ROTATE, rotate);
	TAKE(JOB_SET_RETRY, retry);
	TAKE(JOB_SET_MISFIRE, misfire);
	TAKE(JOB_SET_TIMEOUT, timeout);
	TAKE(JOB_SET_PRIVATE_KEY_TYPE, private_key_type);
	TAKE(JOB_SET_PRIVATE_KEY_ROTATE, private_key_rotate);
	TAKE(JOB_SET_ROLLBACK_PASSWORD, rollback_on_password_fail);
	TAKE(JOB_SET_ROLLBACK_PRIVATE_KEY, rollback_on_private_key_fail);
	TAKE(JOB_SET_ROLLBACK_POST_ROTATION, rollback_on_post_rotation_fail);
	TAKE(JOB_SET_RERUN_POST_ROTATION, rerun_on_post_rotation_fail);
#undef TAKE
}
void
jobs_format_duration(int64_t s, char *buf, size_t size)
{
	if (s == 0)
		snprintf(buf, size, "0s");
	else if (s % 86400 == 0)
		snprintf(buf, size, "%lldd", (long long)(s / 86400));
	else if (s % 3600 == 0)
		snprintf(buf, size, "%lldh", (long long)(s / 3600));
	else if (s % 60 == 0)
		snprintf(buf, size, "%lldm", (long long)(s / 60));
	else
		snprintf(buf, size, "%llds", (long long)s);
}

/* Check one file's objects across files; returns true if any failed. */
/* ---- objects ---- */

static void
configuration_free(struct job_configuration *c)
{
	size_t i;

	if (c == NULL)
		return;
	free(c->name);
	jobs_settings_free(&c->settings);
	for (i = 0; i < c->nports; i++)
		free(c->ports[i].protocol);
	free(c->ports);
	scripts_free(&c->scripts);
	free(c);
}

static void
resource_free(struct job_resource *r)
{
	size_t i;

	if (r == NULL)
		return;
	free(r->name);
	free(r->host);
	free(r->protocol);
	free(r->tls_ca_file);
	free(r->admin_user);
	for (i = 0; i < r->nparams; i++) {
		free(r->params[i].value);
		free(r->params[i].script.command);
	}
	free(r->params);
	free(r->configuration_name);
	jobs_settings_free(&r->settings);
	scripts_free(&r->scripts);
	free(r);
}

static void
user_free(struct job_user *u)
{
	if (u == NULL)
		return;
	free(u->name);
	free(u->login);
	free(u->dn);
	free(u->resource_name);
	free(u->configuration_name);
	free(u->password_file);
	free(u->private_key_file);
	/* A user's settings borrow what they inherit (the policy, the key
	 * type) from the chain; only its own are freed.  A value that failed
	 * to parse left its field NULL, with the user's origin.  Schedules
	 * are the set's. */
	if (u->settings.complexity_origin.level == JOB_LEVEL_USER)
		free(u->settings.complexity);
	if (u->settings.private_key_type_origin.level == JOB_LEVEL_USER)
		free(u->settings.private_key_type);
	scripts_free(&u->scripts);
	free(u);
}

static size_t
intern_file(struct job_set *set, const char *name)
{
	char **f = PUSH(set->files, set->nfiles);

	*f = xstrdup(name);
	return set->nfiles - 1;
}

static void
collect(struct job_loader *l)
{
	struct job_set *set = l->set;
	size_t i;

	for (i = 0; i < l->nobjs; i++) {
		struct object *o = &l->objs[i];

		jobs_raw_params_free(o);
		switch (o->type) {
		case OBJ_CONFIGURATION:
			if (o->dropped)
				configuration_free(o->p);
			else
				*PUSH(set->configurations,
				    set->nconfigurations) = o->p;
			break;
		case OBJ_RESOURCE:
			if (o->dropped)
				resource_free(o->p);
			else
				*PUSH(set->resources, set->nresources) = o->p;
			break;
		case OBJ_USER:
			if (o->dropped)
				user_free(o->p);
			else
				*PUSH(set->users, set->nusers) = o->p;
			break;
		}
	}
	free(l->objs);
	l->objs = NULL;
	l->nobjs = 0;
	settle_done(l);
}

static int
compare_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static struct job_set *
set_new(struct job_loader *l, int64_t now)
{
	struct job_set *set = xcalloc(1, sizeof(*set));

	/* A new load sees the zone database as it is now (a tzdata
	 * upgrade), once per zone rather than once per schedule. */
	tz_cache_expire();
	memset(l, 0, sizeof(*l));
	l->set = set;
	l->now = now;
	l->file = SIZE_MAX;
	set->daemon.min_interval = DEFAULT_MIN_INTERVAL;
	set->daemon.max_workers = DEFAULT_MAX_WORKERS;
	set->daemon.events.spool_max = JOB_SPOOL_MAX_DEFAULT;
	set->daemon.store_path = xstrdup(DEFAULT_STORE);
	set->daemon.socket_path = xstrdup(DEFAULT_SOCKET);
	return set;
}

static void
mark_bad_grow(struct job_loader *l)
{
	l->file_bad = xreallocarray(l->file_bad, l->set->nfiles, sizeof(bool));
	l->file_bad[l->set->nfiles - 1] = false;
}

/* Errors in file order, then by position, whatever pass found them. */
static int
compare_errors(const void *a, const void *b)
{
	const struct job_error *x = a, *y = b;

	if (x->order != y->order)
		return x->order < y->order ? -1 : 1;
	if (x->line != y->line)
		return x->line < y->line ? -1 : 1;
	if (x->column != y->column)
		return x->column < y->column ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/*
 * A warning for each resource that loaded with its TLS turned off: it
 * loads (the operator said so), but the credentials then go to whoever
 * answers, or cross the network in clear.
 */
static void
warn_tls(struct job_set *set)
{
	struct job_resource *r;
	struct job_error *w;
	size_t i;

	for (i = 0; i < set->nresources; i++) {
		r = set->resources[i];
		if (r->provider == NULL ||
		    !(r->provider->caps & CATALOG_CAP_TLS) ||
		    (r->tls_enabled && r->tls_verify))
			continue;
		w = PUSH(set->warnings, set->nwarnings);
		w->file = xstrdup(r->tls_origin.file);
		w->line = r->tls_origin.line;
		w->column = r->tls_origin.column;
		w->message = r->tls_enabled
		    ? xasprintf("resource %s: tls verify: false: the server's "
				"certificate is not checked, so the "
				"credentials go to whoever answers at %s:%d",
			  r->name, r->host != NULL ? r->host : "", r->port)
		    : xasprintf("resource %s: tls enabled: false: no TLS, so "
				"the credentials cross the network in clear "
				"to whoever answers at %s:%d",
			  r->name, r->host != NULL ? r->host : "", r->port);
	}
}

static void
finish(struct job_loader *l)
{
	size_t i, nbad = 0;

	builtin_defaults(l->set);
	settle_run(l);
	collect(l);
	warn_tls(l->set);
	for (i = 0; i < l->set->nerrors; i++)
		l->set->errors[i].seq = i;
	if (l->set->nerrors > 1)
		qsort(l->set->errors, l->set->nerrors, sizeof(*l->set->errors),
		    compare_errors);
	for (i = 0; i < l->set->nfiles; i++)
		nbad += l->file_bad[i];
	l->set->nfiles_skipped = nbad;
	free(l->file_bad);
	l->file_bad = NULL;
	yamldoc_free(&l->yaml);
}

int
jobs_load_buffer(const char *name, const char *text, size_t len, int64_t now,
    struct job_set **ret)
{
	struct job_loader l;
	struct job_set *set = set_new(&l, now);

	set->daemon.config_file = xstrdup("(built-in)");
	set->daemon.conf_dir = xstrdup("conf.d");
	l.file = intern_file(set, name);
	mark_bad_grow(&l);
	parse_job_text(&l, text, len);
	set->nfiles_loaded = 1;
	finish(&l);
	*ret = set;
	return 0;
}

int
jobs_load_daemon_buffer(
    const char *text, size_t len, int64_t now, struct job_set **ret)
{
	struct job_loader l;
	struct job_set *set = set_new(&l, now);

	set->daemon.config_file = xstrdup("rotad.yaml");
	l.file = intern_file(set, "rotad.yaml");
	mark_bad_grow(&l);
	parse_daemon_text(&l, text, len, NULL);
	if (set->daemon.conf_dir == NULL)
		set->daemon.conf_dir = xstrdup("conf.d");
	finish(&l);
	*ret = set;
	return set->nerrors > 0 ? -EINVAL : 0;
}

/* Parse rotad.yaml at PATH, whose directory is DIR (or NULL). */
static void
load_daemon(struct job_loader *l, const char *path, const char *dir)
{
	char *text = NULL;
	size_t len = 0;

	l->file = intern_file(l->set, path);
	mark_bad_grow(l);
	/* Whoever may write it decides what runs as root: not read. */
	if (!jobs_trusted(l, NULL, l->file, NULL, path))
		return;
	if (parse_read_file(l, path, &text, &len) == 0)
		parse_daemon_text(l, text, len, dir);
	free(text);
}

/*
 * What rotad.yaml names that decides what runs: the job files' directory
 * and the worker binary, each trusted or the whole configuration is
 * refused (errors against rotad.yaml, file index 0).
 */
static void
trust_daemon(struct job_loader *l)
{
	const struct job_daemon *d = &l->set->daemon;

	jobs_trusted(l, NULL, 0, "conf_dir", d->conf_dir);
	jobs_trusted(l, NULL, 0, "worker.path",
	    d->worker_path != NULL ? d->worker_path
				   : ROTAD_LIBEXECDIR "/rotad-worker");
}

/* A warning, tied to FILE (a path, not an interned index) at LINE:COLUMN
 * (0: the file as a whole). */
static void warning_at(struct job_set *set, const char *file, int line,
    int column, const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void
warning_at(struct job_set *set, const char *file, int line, int column,
    const char *fmt, ...)
{
	struct job_error *w = PUSH(set->warnings, set->nwarnings);
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(&w->message, fmt, ap) < 0)
		xalloc_fail();
	va_end(ap);
	w->file = xstrdup(file);
	w->line = line;
	w->column = column;
}

/* Whether NAME ends in SUFFIX, in any case. */
static bool
ends_with(const char *name, const char *suffix)
{
	size_t n = strlen(name), k = strlen(suffix);

	return n >= k && strcasecmp(name + n - k, suffix) == 0;
}

/*
 * NAME in conf_dir is not a job file but looks like one was meant: a.yml,
 * A.YAML, or a job file's backup (a.yaml~, a.yaml.bak, a.yaml.dpkg-old).
 * Left unread it would be a job the operator believes in and rotad never
 * runs, so it is said, once per load.
 */
static void
warn_stray(struct job_loader *l, const char *dir, const char *name)
{
	char *path = xasprintf("%s/%s", dir, name);
	size_t len = strlen(name);

	if (ends_with(name, ".yml") || ends_with(name, ".yaml"))
		warning_at(l->set, path, 0, 0,
		    "not read: job files in conf_dir end in .yaml, in lower "
		    "case (rename it: mv %s %s/%.*s.yaml)",
		    path, dir, (int)(len - (ends_with(name, ".yml") ? 4 : 5)),
		    name);
	else
		warning_at(l->set, path, 0, 0,
		    "not read: job files in conf_dir end in .yaml (a copy "
		    "or a backup? move it out of conf_dir)");
	free(path);
}

/* Whether NAME looks like a job file that was meant to be read. */
static bool
looks_like_job_file(const char *name)
{
	return strcasestr(name, ".yml") != NULL ||
	    strcasestr(name, ".yaml") != NULL;
}

/* The names of the job files in DIR (*.yaml, no dot files), sorted.  No
 * cap on their number: a file left out must be an error that names it,
 * never a silent skip, and every file costs only what it holds.  A name
 * that looks like a job file but does not end in .yaml is a warning; a
 * missing DIR is one too (no job is read: rotad runs, rotating nothing). */
static void
list_job_files(struct job_loader *l, const char *dir, char ***ret, size_t *n)
{
	const struct job_daemon *d = &l->set->daemon;
	char **stray = NULL;
	size_t nstray = 0, i;
	struct dirent *de;
	DIR *dh;

	dh = opendir(dir);
	if (dh == NULL) {
		if (errno != ENOENT)
			jobs_error_at(
			    l, SIZE_MAX, 0, 0, "%s: %s", dir, strerror(errno));
		else
			warning_at(l->set, d->config_file,
			    d->conf_dir_origin.line, d->conf_dir_origin.column,
			    "conf_dir %s does not exist: no job file is read "
			    "(create it: mkdir -m 0755 %s, or fix conf_dir)",
			    dir, dir);
		return;
	}
	while ((de = readdir(dh)) != NULL) {
		size_t len = strlen(de->d_name);

		if (de->d_name[0] == '.')
			continue; /* editors' and tools' own files */
		if (len >= 6 && strcmp(de->d_name + len - 5, ".yaml") == 0)
			*PUSH(*ret, *n) = xstrdup(de->d_name);
		else if (looks_like_job_file(de->d_name))
			*PUSH(stray, nstray) = xstrdup(de->d_name);
	}
	closedir(dh);
	if (*n > 1)
		qsort(*ret, *n, sizeof(**ret), compare_names);
	if (nstray > 1)
		qsort(stray, nstray, sizeof(*stray), compare_names);
	for (i = 0; i < nstray; i++) {
		warn_stray(l, dir, stray[i]);
		free(stray[i]);
	}
	free(stray);
}

/* Parse each of the NNAMES job files in conf_dir. */
static void
load_job_files(struct job_loader *l, char *const *names, size_t nnames)
{
	struct job_set *set = l->set;
	char *text, *fpath;
	size_t len, i;

	for (i = 0; i < nnames; i++) {
		fpath = xasprintf("%s/%s", set->daemon.conf_dir, names[i]);
		l->file = intern_file(set, fpath);
		mark_bad_grow(l);
		free(fpath);
		text = NULL;
		len = 0;
		/* A file others may write is left out unread, like one
		 * with any other error. */
		if (!jobs_trusted(l, NULL, l->file, NULL, set->files[l->file]))
			continue;
		if (parse_read_file(l, set->files[l->file], &text, &len) == 0)
			parse_job_text(l, text, len);
		free(text);
	}
}

int
jobs_load(const char *path, int64_t now, struct job_set **ret)
{
	struct job_loader l;
	struct job_set *set = set_new(&l, now);
	struct job_daemon *d = &set->daemon;
	char *dir = NULL, *slash, **names = NULL;
	size_t nnames = 0, i;
	int r = 0;

	d->config_file = xstrdup(path);
	l.trust = true;
	l.self = geteuid();
	/* Job files live beside rotad.yaml unless it says otherwise. */
	dir = xstrdup(path);
	slash = strrchr(dir, '/');
	if (slash != NULL) {
		*slash = '\0';
	} else {
		free(dir);
		dir = NULL;
	}

	load_daemon(&l, path, dir);
	if (set->nerrors == 0) {
		if (d->conf_dir == NULL)
			d->conf_dir = dir == NULL ? xstrdup("conf.d")
						  : xasprintf("%s/conf.d", dir);
		trust_daemon(&l);
	}
	if (set->nerrors > 0) {
		/* A broken rotad.yaml: nothing else is loaded. */
		l.file = SIZE_MAX;
		builtin_defaults(set);
		free(l.file_bad);
		yamldoc_free(&l.yaml);
		r = -EINVAL;
		goto out;
	}
	list_job_files(&l, d->conf_dir, &names, &nnames);
	load_job_files(&l, names, nnames);
	set->nfiles_loaded = nnames;
	finish(&l);
	set->nfiles_loaded = nnames - set->nfiles_skipped;
out:
	for (i = 0; i < nnames; i++)
		free(names[i]);
	free(names);
	free(dir);
	*ret = set;
	return r;
}

void
jobs_free(struct job_set *set)
{
	size_t i;

	if (set == NULL)
		return;
	for (i = 0; i < set->nusers; i++)
		user_free(set->users[i]);
	for (i = 0; i < set->nresources; i++)
		resource_free(set->resources[i]);
	for (i = 0; i < set->nconfigurations; i++)
		configuration_free(set->configurations[i]);
	free(set->users);
	free(set->resources);
	free(set->configurations);
	jobs_settings_free(&set->daemon.defaults);
	free(set->daemon.config_file);
	free(set->daemon.conf_dir);
	free(set->daemon.store_path);
	free(set->daemon.key_file);
	free(set->daemon.socket_path);
	free(set->daemon.socket_group);
	free(set->daemon.metrics_textfile);
	free(set->daemon.worker_path);
	free(set->daemon.worker_user);
	for (i = 0; i < set->daemon.nacl; i++)
		free(set->daemon.acl[i].name);
	free(set->daemon.acl);
	sinkconf_free(&set->daemon.events);
	for (i = 0; i < set->nerrors; i++) {
		free(set->errors[i].file);
		free(set->errors[i].message);
	}
	free(set->errors);
	for (i = 0; i < set->nwarnings; i++) {
		free(set->warnings[i].file);
		free(set->warnings[i].message);
	}
	free(set->warnings);
	for (i = 0; i < set->nfiles; i++)
		free(set->files[i]);
	free(set->files);
	setting_schedules_free(set);
	free(set);
}

struct job_user *
jobs_find_user(const struct job_set *set, const char *name)
{
	size_t i;

	for (i = 0; i < set->nusers; i++)
		if (strcmp(set->users[i]->name, name) == 0)
			return set->users[i];
	return NULL;
}

void
jobs_raw_params_free(struct object *o)
{
	size_t i;

	for (i = 0; i < o->nraw; i++) {
		free(o->raw[i].name);
		free(o->raw[i].value);
		free(o->raw[i].command);
	}
	free(o->raw);
	o->raw = NULL;
	o->nraw = 0;
}

const struct job_param *
jobs_param(const struct job_resource *r, const char *name)
{
	size_t i;

	for (i = 0; i < r->nparams; i++)
		if (strcmp(r->params[i].key->name, name) == 0)
			return &r->params[i];
	return NULL;
}

const char *
jobs_param_value(const struct job_resource *r, const char *name)
{
	const struct job_param *p = jobs_param(r, name);

	return p != NULL ? p->value : NULL;
}

int64_t
jobs_param_int(const struct job_resource *r, const char *name, int64_t def)
{
	const struct job_param *p = jobs_param(r, name);
	int64_t v;

	if (p == NULL)
		return def;
	/* Checked when loaded (catalog_check_value()). */
	if (p->key->type == CATALOG_DURATION)
		return catalog_parse_duration(p->value, &v) == 0 ? v : def;
	return strtoll(p->value, NULL, 10);
}

const struct job_script *
jobs_param_script(const struct job_resource *r, const char *name)
{
	const struct job_param *p = jobs_param(r, name);

	return p != NULL && p->key->type == CATALOG_SCRIPT ? &p->script : NULL;
}

/* The catalog is fixed at build time: both lists are made once. */
#define MAX_PROTOCOLS 64

const char *const *
jobs_protocol_names(void)
{
	static const char *names[MAX_PROTOCOLS + 1];
	const struct catalog_provider *const *p;
	const struct catalog_protocol *pr;
	size_t n = 0;

	if (names[0] != NULL)
		return names;
	for (p = catalog_list(); *p != NULL; p++)
		for (pr = (*p)->protocols; !(*p)->internal && pr->name != NULL;
		     pr++)
			if (n < MAX_PROTOCOLS)
				names[n++] = pr->name;
	names[n] = NULL;
	return names;
}

const char *
jobs_protocol_list(void)
{
	static char list[1024];
	const char *const *names;
	size_t len = 0;

	if (list[0] != '\0')
		return list;
	for (names = jobs_protocol_names(); *names != NULL; names++)
		if (len < sizeof(list))
			len += (size_t)snprintf(list + len, sizeof(list) - len,
			    "%s%s", len == 0 ? "" : ", ", *names);
	return list;
}
