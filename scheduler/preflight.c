/*
 * preflight.c: `rotad -n`'s checks of this host (preflight.h).
 *
 * The configuration can be sound and still fail at the first fire: the
 * worker binary not where worker.path says, worker.user missing, no
 * store, a key others can read, a managed user nobody seeded.  Each is
 * found here, before the daemon runs, and said against the rotad.yaml key
 * (or the user) to fix.  A missing store or key is a warning, not an
 * error: -n comes before `rotad --init` on a new host, and --init needs a
 * configuration that passes.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "delivery.h"
#include "jobs.h"
#include "keys.h"
#include "preflight.h"
#include "secret.h"
#include "store.h"
#include "worker_user.h"

struct preflight {
	const struct job_set *set;
	FILE *f;
	size_t *nerrors, *nwarnings;
	size_t unseeded;
	bool noted; /* the "cannot read" note is out */
};

/* One problem, at rotad.yaml's key O (or rotad.yaml when not written). */
static void problem(struct preflight *p, bool warning,
    const struct job_origin *o, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void
problem(struct preflight *p, bool warning, const struct job_origin *o,
    const char *fmt, ...)
{
	va_list ap;

	if (o != NULL && o->file != NULL)
		fprintf(p->f, "%s:%d:%d: ", o->file, o->line, o->column);
	else
		fprintf(p->f, "%s: ", p->set->daemon.config_file);
	if (warning)
		fprintf(p->f, "warning: ");
	va_start(ap, fmt);
	vfprintf(p->f, fmt, ap);
	va_end(ap);
	fputc('\n', p->f);
	if (warning)
		(*p->nwarnings)++;
	else
		(*p->nerrors)++;
}

/* -n as a user who may not read the key or the store: said once, as a
 * note, since the daemon's user may well read them. */
static void
unreadable(struct preflight *p, const char *path)
{
	if (p->noted)
		return;
	p->noted = true;
	fprintf(p->f,
	    "rotad: note: uid %u cannot read %s (%s): the master key, the "
	    "store and the secrets are not checked; run rotad -n as root for "
	    "them\n",
	    (unsigned)geteuid(), path, strerror(EACCES));
}

static void
check_worker(struct preflight *p)
{
	const struct job_daemon *d = &p->set->daemon;
	const char *path = d->worker_path != NULL ? d->worker_path
						  : ROTAD_LIBEXECDIR
	    "/rotad-worker";
	const char *fix = d->worker_path != NULL
	    ? "fix worker.path, or install rotad-worker there"
	    : "set worker.path to where rotad-worker is installed";
	const char *dflt = d->worker_path != NULL ? "" : " (the default)";
	struct stat sb;

	if (stat(path, &sb) < 0)
		problem(p, false, &d->worker_path_origin,
		    "worker.path %s%s: %s: every rotation would fail; %s", path,
		    dflt, strerror(errno), fix);
	else if (!S_ISREG(sb.st_mode))
		problem(p, false, &d->worker_path_origin,
		    "worker.path %s%s is not a regular file: every rotation "
		    "would fail; %s",
		    path, dflt, fix);
	else if (!(sb.st_mode & 0111) || access(path, X_OK) < 0)
		problem(p, false, &d->worker_path_origin,
		    "worker.path %s%s is not executable: every rotation would "
		    "fail; fix: chmod 0755 %s",
		    path, dflt, path);
}

/* worker.user: it exists, is not root, and is not the daemon's user,
 * which -n takes to be the store's owner when there is a store. */
static void
check_worker_user(struct preflight *p, uid_t daemon_uid)
{
	const struct job_daemon *d = &p->set->daemon;
	char why[512];

	if (worker_user_check(
		d->worker_user, daemon_uid, NULL, why, sizeof(why)) < 0)
		problem(p, false, &d->worker_user_origin, "%s", why);
}

/*
 * The store file's directory, then the file; true when it exists and may
 * be used.  Whether it is missing is said here, as -n says it before
 * `rotad --init`; whether it may be trusted is store_file_check()'s, the
 * check every open of the store makes.
 */
static bool
check_store_file(struct preflight *p, const char *key, bool have_key)
{
	const struct job_daemon *d = &p->set->daemon;
	const struct job_origin *at = &d->store_path_origin;
	const char *path = d->store_path;
	char dir[PATH_MAX], err[PATH_MAX + 256], *slash;
	struct stat sb;
	bool exists;
	int r;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (slash == NULL)
		snprintf(dir, sizeof(dir), ".");
	else if (slash == dir)
		dir[1] = '\0';
	else
		*slash = '\0';
	if (stat(dir, &sb) < 0) {
		if (errno == EACCES) {
			unreadable(p, dir);
			return false;
		}
		problem(p, false, at,
		    "store.path %s: its directory %s: %s (create it, mode "
		    "0700, owned by the daemon's user; then run rotad --init)",
		    path, dir, strerror(errno));
		return false;
	}
	/* Missing, or under a file that is not a directory: the check
	 * below says which, after what it says of the directory. */
	exists = lstat(path, &sb) == 0;
	if (!exists && errno != ENOENT && errno != ENOTDIR) {
		if (errno == EACCES)
			unreadable(p, path);
		else
			problem(p, false, at, "store.path %s: %s", path,
			    strerror(errno));
		return false;
	}
	r = store_file_check(path, err, sizeof(err));
	if (r == -EACCES) {
		unreadable(p, path);
		return false;
	}
	if (r < 0 && (exists || r != -ENOENT)) {
		problem(p, false, at, "store.path %s", err);
		return false;
	}
	if (!exists && !have_key)
		problem(p, true, at,
		    "store.path %s and store.key_file %s do not exist yet: run "
		    "rotad --init to create them",
		    path, key);
	else if (!exists)
		problem(p, true, at,
		    "store.path %s does not exist yet: run rotad --init to "
		    "create it (restore it from a backup if it held secrets)",
		    path);
	else if (sb.st_size == 0)
		problem(p, false, at,
		    "store.path %s is empty; restore it from a backup, or "
		    "remove it and run rotad --init",
		    path);
	else
		return true;
	return false;
}

static void
on_unseeded(const char *slot, const struct job_user *u, void *arg)
{
	struct preflight *p = arg;
	bool key = strchr(slot, '/') != NULL;

	if (++p->unseeded > PREFLIGHT_UNSEEDED_MAX)
		return;
	fprintf(p->f,
	    "%s:%d:%d: warning: %s %s has no %s yet: %s; seed it with "
	    "`rotactl secret set %s` (it reads stdin) once rotad runs, or "
	    "name a %s\n",
	    u->origin.file, u->origin.line, u->origin.column,
	    u->managed ? "user" : "admin_user", u->name,
	    key ? "SSH key" : "secret",
	    u->managed ? "its first rotation would fail"
		       : "rotations on its resources would fail",
	    slot, key ? "private_key_file" : "password_file");
	(*p->nwarnings)++;
}

/* The key, the store, and the secrets in it. */
static void
check_store(struct preflight *p, uid_t *ret_daemon_uid)
{
	const struct job_daemon *d = &p->set->daemon;
	struct secret *key = NULL;
	struct store *st = NULL;
	char path[PATH_MAX], err[512];
	bool have_key = false, have_store;
	struct stat sb;
	int r;

	*ret_daemon_uid = WORKER_USER_NO_SELF;
	if (store_key_path(path, sizeof(path), d->key_file) < 0) {
		problem(p, false, &d->key_file_origin,
		    "store.key_file: path too long");
		return;
	}
	r = store_key_load(path, &key, err, sizeof(err));
	have_key = r == 0 || (r != -ENOENT && r != -EACCES);
	have_store = check_store_file(p, path, have_key);
	/* Even a store refused for its owner: who owns it is who will run
	 * the daemon, as far as worker.user's check goes. */
	if (stat(d->store_path, &sb) == 0)
		*ret_daemon_uid = sb.st_uid;
	if (r == -EACCES)
		unreadable(p, path);
	else if (r == -ENOENT && have_store)
		problem(p, false, &d->key_file_origin,
		    "store.key_file %s does not exist, but the store %s does: "
		    "it opens with no other key; restore the key from its "
		    "backup",
		    path, d->store_path);
	else if (r < 0 && r != -ENOENT)
		problem(
		    p, false, &d->key_file_origin, "store.key_file: %s", err);
	if (key == NULL || !have_store)
		goto out;
	r = store_open(d->store_path, key, 0, &st, err, sizeof(err));
	if (r == -EACCES) {
		unreadable(p, d->store_path);
		goto out;
	}
	if (r < 0) {
		problem(p, false, &d->store_path_origin, "store.path: %s", err);
		goto out;
	}
	r = keys_unseeded(p->set, st, true, on_unseeded, p);
	if (r < 0)
		problem(p, false, &d->store_path_origin, "store.path: %s",
		    store_last_error(st));
	else if (p->unseeded > PREFLIGHT_UNSEEDED_MAX)
		fprintf(p->f,
		    "rotad: warning: %zu more secrets to seed; rotad --init "
		    "lists them all\n",
		    p->unseeded - PREFLIGHT_UNSEEDED_MAX);
out:
	store_close(st);
	secret_free(key);
}

/* The network sinks: rotad-deliver is there, and each sink's CA,
 * certificate, key and token files can be read as it will send them. */
static void
check_sinks(struct preflight *p)
{
	const struct job_events *ev = &p->set->daemon.events;
	const char *path = ev->delivery_path != NULL
	    ? ev->delivery_path
	    : ROTAD_LIBEXECDIR "/rotad-deliver";
	struct secret *msg;
	bool binary = false;
	char why[512];
	struct stat sb;
	size_t i;
	int r;

	for (i = 0; i < ev->nsinks; i++) {
		if (ev->sinks[i].type < JOB_SINK_UDP)
			continue;
		if (!binary &&
		    (stat(path, &sb) < 0 || !S_ISREG(sb.st_mode) ||
			access(path, X_OK) < 0))
			problem(p, false, &ev->delivery_path_origin,
			    "events.delivery_path %s%s is not an executable "
			    "file: the network sinks would deliver nothing; "
			    "install rotad-deliver there or set "
			    "events.delivery_path",
			    path, ev->delivery_path != NULL ? ""
							    : " (the default)");
		binary = true;
		r = delivery_sink_message(&ev->sinks[i], &msg, why, sizeof(why));
		if (r == 0)
			secret_free(msg);
		else if (r == -EACCES && geteuid() != 0)
			unreadable(p, why);
		else
			problem(p, false, &ev->sinks[i].origin,
			    "sink %s: %s: it would deliver nothing",
			    ev->sinks[i].name, why);
	}
}

void
preflight_check(
    const struct job_set *set, FILE *f, size_t *nerrors, size_t *nwarnings)
{
	struct preflight p = {
		.set = set, .f = f, .nerrors = nerrors, .nwarnings = nwarnings
	};
	uid_t daemon_uid;

	check_worker(&p);
	check_store(&p, &daemon_uid);
	check_worker_user(&p, daemon_uid);
	check_sinks(&p);
}
