/*
 * keys.c: the master key's life cycle and the import of first secrets.
 *
 * The master key wraps the store's data key (store/).  `rotad --init`
 * creates both; `rotad --rekey` replaces the master key without touching
 * a secret: a new key file is written beside the old one, the data key is
 * re-wrapped under it in one store transaction, and only then does the new
 * file take the old one's name.  A crash between the two leaves the new
 * key at KEY.new, and the message below says so.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "fsutil.h"
#include "jobs.h"
#include "keys.h"
#include "secret.h"
#include "store.h"

/* Load the configuration; only rotad.yaml must be sound for key work. */
static int
load_config(const char *config, struct job_set **ret)
{
	int r = jobs_load(config, (int64_t)time(NULL), ret);

	if (r == -EINVAL) {
		jobs_print_errors(*ret, stderr);
		fprintf(stderr, "rotad: %s has errors\n", config);
		return r;
	}
	if (r < 0)
		fprintf(
		    stderr, "rotad: loading %s: %s\n", config, strerror(-r));
	return r;
}

static int
open_store(const struct job_set *set, const char *key_path, unsigned flags,
    struct store **ret)
{
	struct secret *key = NULL;
	char err[512];
	int r;

	r = store_key_load(key_path, &key, err, sizeof(err));
	if (r < 0) {
		fprintf(stderr, "rotad: %s\n", err);
		return r;
	}
	r = store_open(
	    set->daemon.store_path, key, flags, ret, err, sizeof(err));
	if (r < 0)
		fprintf(stderr, "rotad: %s\n", err);
	secret_free(key);
	return r;
}

/*
 * Read a secret file whole.  It must be a regular file of at most
 * STORE_SECRET_MAX bytes; one trailing newline is dropped from a password,
 * as editors add it.
 */
static int
read_secret_file(const char *path, bool password, struct secret **ret)
{
	char *buf = NULL;
	struct stat sb;
	size_t len = 0;
	ssize_t n;
	int fd, r;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &sb) < 0) {
		r = -errno;
		goto out;
	}
	if (!S_ISREG(sb.st_mode) || sb.st_size <= 0 ||
	    sb.st_size > STORE_SECRET_MAX) {
		r = -EINVAL;
		goto out;
	}
	buf = malloc((size_t)sb.st_size);
	if (buf == NULL) {
		r = -ENOMEM;
		goto out;
	}
	while (len < (size_t)sb.st_size) {
		n = read(fd, buf + len, (size_t)sb.st_size - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			r = n < 0 ? -errno : -EIO;
			goto out;
		}
		len += (size_t)n;
	}
	if (password && len > 0 && buf[len - 1] == '\n')
		len--;
	if (password && len > 0 && buf[len - 1] == '\r')
		len--;
	r = len == 0 ? -EINVAL : secret_new(buf, len, ret);
out:
	if (buf != NULL)
		OPENSSL_cleanse(buf, (size_t)sb.st_size);
	free(buf);
	close(fd);
	return r;
}

static int
import_one(struct store *st, const char *slot, const char *user,
    const char *path, bool password, int64_t now)
{
	struct secret *cur = NULL, *value = NULL;
	int r;

	r = store_secret_get(st, slot, STORE_CURRENT, &cur, NULL);
	secret_free(cur);
	if (r == 0)
		return 0; /* imported before, or seeded: once only */
	if (r != -ENOENT) {
		fprintf(
		    stderr, "rotad: user %s: %s\n", user, store_last_error(st));
		return r;
	}
	r = read_secret_file(path, password, &value);
	if (r < 0) {
		fprintf(stderr, "rotad: user %s: cannot import %s: %s\n", user,
		    path,
		    r == -EINVAL ? "not a non-empty regular file "
				   "within the size limit"
				 : strerror(-r));
		return 0;
	}
	r = store_secret_seed(st, slot, value, now, NULL);
	secret_free(value);
	if (r < 0) {
		fprintf(
		    stderr, "rotad: user %s: %s\n", user, store_last_error(st));
		return r;
	}
	return 1;
}

int
keys_import(const struct job_set *set, struct store *st, int64_t now)
{
	char slot[STORE_USER_MAX + 1];
	size_t i;
	int r, n = 0;

	for (i = 0; i < set->nusers; i++) {
		const struct job_user *u = set->users[i];

		if (u->password_file != NULL) {
			r = import_one(
			    st, u->name, u->name, u->password_file, true, now);
			if (r < 0)
				return r;
			n += r;
		}
		if (u->private_key_file != NULL) {
			snprintf(slot, sizeof(slot), "%s/private_key", u->name);
			r = import_one(
			    st, slot, u->name, u->private_key_file, false, now);
			if (r < 0)
				return r;
			n += r;
		}
	}
	return n;
}

/* Whether NAME is in the sorted list NAMES of N. */
static bool
is_admin(const char *const *names, size_t n, const char *name)
{
	size_t lo = 0, hi = n, mid;
	int c;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		c = strcmp(names[mid], name);
		if (c == 0)
			return true;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

static int
compare_strings(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* 1 when ST holds a current secret in SLOT, 0 when not, or -errno. */
static int
seeded(struct store *st, const char *slot)
{
	struct secret *cur = NULL;
	int r = store_secret_get(st, slot, STORE_CURRENT, &cur, NULL);

	secret_free(cur);
	return r == 0 ? 1 : r == -ENOENT ? 0 : r;
}

int
keys_unseeded(const struct job_set *set, struct store *st, bool files,
    keys_unseeded_fn *fn, void *arg)
{
	char slot[STORE_USER_MAX + 1];
	const char **admins;
	size_t i, nadmins = 0;
	int r = 0, n = 0;

	/* The admin credentials: a missing one fails every rotation on
	 * its resource, managed or not. */
	admins = calloc(set->nresources + 1, sizeof(*admins));
	if (admins == NULL)
		return -ENOMEM;
	for (i = 0; i < set->nresources; i++)
		if (set->resources[i]->admin_user != NULL)
			admins[nadmins++] = set->resources[i]->admin_user;
	qsort(admins, nadmins, sizeof(*admins), compare_strings);
	/* One snapshot for the lot: a read each is a transaction each. */
	if ((r = store_read_begin(st)) < 0)
		goto out;
	for (i = 0; i < set->nusers; i++) {
		const struct job_user *u = set->users[i];
		bool admin = is_admin(admins, nadmins, u->name);
		bool key = u->managed &&
		    u->settings.rotate & JOB_ROTATE_PRIVATE_KEY &&
		    u->settings.private_key_rotate;
		bool pw = admin ||
		    (u->managed && u->settings.rotate & JOB_ROTATE_PASSWORD);

		if (u->noop)
			continue;
		if (pw && !(files && u->password_file != NULL)) {
			if ((r = seeded(st, u->name)) < 0)
				break;
			if (r == 0) {
				fn(u->name, u, arg);
				n++;
			}
		}
		if (key && !(files && u->private_key_file != NULL)) {
			snprintf(slot, sizeof(slot), "%s/private_key", u->name);
			if ((r = seeded(st, slot)) < 0)
				break;
			if (r == 0) {
				fn(slot, u, arg);
				n++;
			}
		}
	}
	store_read_end(st);
out:
	free(admins);
	return r < 0 ? r : n;
}

int
keys_lock_store(const char *store_path, char *why, size_t size)
{
	char path[PATH_MAX], pid[32];
	struct stat sb, lsb;
	ssize_t n;
	int fd, r;

	if ((size_t)snprintf(path, sizeof(path), "%s.lock", store_path) >=
	    sizeof(path)) {
		snprintf(why, size, "%s.lock: path too long", store_path);
		return -ENAMETOOLONG;
	}
	fd = open(
	    path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0600);
	if (fd < 0) {
		r = -errno;
		snprintf(why, size, "cannot open the store's lock %s: %s", path,
		    strerror(errno));
		return r;
	}
	/* Made by root (rotad --rekey), it must stay the daemon's to open:
	 * give it the store's owner. */
	if (geteuid() == 0 && stat(store_path, &sb) == 0 &&
	    fstat(fd, &lsb) == 0 &&
	    (lsb.st_uid != sb.st_uid || lsb.st_gid != sb.st_gid) &&
	    fchown(fd, sb.st_uid, sb.st_gid) < 0) {
		r = -errno;
		snprintf(
		    why, size, "cannot chown %s: %s", path, strerror(errno));
		close(fd);
		return r;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		r = errno == EWOULDBLOCK ? -EBUSY : -errno;
		n = pread(fd, pid, sizeof(pid) - 1, 0);
		pid[n > 0 ? n : 0] = '\0';
		pid[strcspn(pid, "\n")] = '\0';
		if (r == -EBUSY)
			snprintf(why, size,
			    "%s is in use: another rotad is running (%s%s "
			    "holds %s)",
			    store_path, pid[0] != '\0' ? "pid " : "a process",
			    pid, path);
		else
			snprintf(why, size, "cannot lock %s: %s", path,
			    strerror(-r));
		close(fd);
		return r;
	}
	/* The pid is for the message above only: not writing it changes
	 * nothing. */
	n = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) == 0 && pwrite(fd, pid, (size_t)n, 0) != n)
		pid[0] = '\0';
	return fd;
}

static void
print_unseeded(const char *slot, const struct job_user *u, void *arg)
{
	(void)arg;
	printf("no secret: %-24s rotactl secret set %s < FILE  # %s:%d:%d\n",
	    slot, slot, u->origin.file, u->origin.line, u->origin.column);
}

int
keys_init(const char *config)
{
	struct job_set *set = NULL;
	struct store *st = NULL;
	char path[PATH_MAX], err[512];
	int r, ret = 1;

	if (load_config(config, &set) < 0)
		goto out;
	if (store_key_path(path, sizeof(path), set->daemon.key_file) < 0) {
		fprintf(stderr, "rotad: key file path too long\n");
		goto out;
	}
	r = store_key_create(path, err, sizeof(err));
	if (r == 0)
		printf("created master key %s\n", path);
	else if (r == -EEXIST)
		printf("master key %s exists; kept\n", path);
	else {
		fprintf(stderr, "rotad: %s\n", err);
		goto out;
	}
	if (open_store(set, path, STORE_OPEN_CREATE, &st) < 0)
		goto out;
	printf("store %s ready\n", set->daemon.store_path);
	r = keys_import(set, st, (int64_t)time(NULL));
	if (r < 0)
		goto out;
	printf("imported %d secret%s\n", r, r == 1 ? "" : "s");
	r = keys_unseeded(set, st, false, print_unseeded, NULL);
	if (r < 0) {
		fprintf(stderr, "rotad: %s\n", store_last_error(st));
		goto out;
	}
	if (r > 0)
		printf("%d secret%s still to seed, each with rotactl secret "
		       "set (it reads stdin) once the daemon runs\n",
		    r, r == 1 ? "" : "s");
	ret = 0;
out:
	store_close(st);
	jobs_free(set);
	return ret;
}

/*
 * Keep the key at PATH as PATH.YYYYmmddTHHMMSSZ (a hard link: the same
 * file, its owner kept), into BACKUP.  The old key still opens every copy
 * of the store taken before the rekey, so it is kept rather than lost:
 * the operator decides when those backups, and it, may go.
 */
static int
backup_key(const char *path, char *backup, size_t size)
{
	char stamp[32];
	time_t now = time(NULL);
	struct tm tm;
	int i;

	if (gmtime_r(&now, &tm) == NULL ||
	    strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm) == 0)
		return -EINVAL;
	for (i = 0; i < 100; i++) {
		if ((size_t)(i == 0
			    ? snprintf(backup, size, "%s.%s", path, stamp)
			    : snprintf(backup, size, "%s.%s.%d", path, stamp,
				  i)) >= size)
			return -ENAMETOOLONG;
		if (link(path, backup) == 0)
			return 0;
		if (errno != EEXIST)
			return -errno;
	}
	return -EEXIST;
}

int
keys_rekey(const char *config)
{
	struct job_set *set = NULL;
	struct secret *key = NULL;
	struct store *st = NULL;
	char path[PATH_MAX], next[PATH_MAX + 8], backup[PATH_MAX + 40];
	char err[512];
	const char *creds = getenv("CREDENTIALS_DIRECTORY");
	int r, ret = 1, lock = -1;

	backup[0] = '\0';
	if (load_config(config, &set) < 0)
		goto out;
	if (store_key_path(path, sizeof(path), set->daemon.key_file) < 0) {
		fprintf(stderr, "rotad: key file path too long\n");
		goto out;
	}
	if (creds != NULL && strncmp(path, creds, strlen(creds)) == 0) {
		fprintf(stderr,
		    "rotad: the master key is a systemd credential "
		    "(%s); rekey a key file named by store.key_file, then "
		    "install it as the credential\n",
		    path);
		goto out;
	}
	/* A running daemon keeps the data key in memory and would go on,
	 * but its next start needs the new key: one that is half installed
	 * (rekeyed store, old credential) would not start.  Refused. */
	lock = keys_lock_store(set->daemon.store_path, err, sizeof(err));
	if (lock < 0) {
		fprintf(stderr, "rotad: %s%s\n", err,
		    lock == -EBUSY ? "; stop it first (systemctl stop rotad), "
				     "rekey, then start it"
				   : "");
		goto out;
	}
	if (open_store(set, path, 0, &st) < 0)
		goto out;
	snprintf(next, sizeof(next), "%s.new", path);
	r = store_key_create(next, err, sizeof(err));
	if (r < 0) {
		fprintf(stderr, "rotad: %s%s\n", err,
		    r == -EEXIST
			? " (left by an interrupted rekey? if the store opens "
			  "with "
			  "it, rename it over the key file; else remove it)"
			: "");
		goto out;
	}
	r = backup_key(path, backup, sizeof(backup));
	if (r < 0) {
		fprintf(stderr, "rotad: cannot keep the old key as %s: %s\n",
		    backup[0] != '\0' ? backup : path, strerror(-r));
		backup[0] = '\0';
		unlink(next);
		goto out;
	}
	r = store_key_load(next, &key, err, sizeof(err));
	if (r == 0)
		r = store_rekey(st, key);
	if (r < 0) {
		fprintf(stderr, "rotad: rekey: %s\n",
		    r == -EKEYREJECTED || store_last_error(st)[0] == '\0'
			? err
			: store_last_error(st));
		unlink(next);
		unlink(backup); /* the key file is still the old key */
		goto out;
	}
	/* The store now opens only with the new key: give it the name. */
	if (rename(next, path) < 0 || fsutil_fsync_dir(path) < 0) {
		fprintf(stderr,
		    "rotad: the store was rekeyed, but renaming "
		    "%s to %s failed (%s): rename it by hand, the old key no "
		    "longer opens the store\n",
		    next, path, strerror(errno));
		goto out;
	}
	/* Only the backup has the old key now; a key file may be 0640
	 * (for a rotad group), a backup need not be. */
	if (chmod(backup, 0600) < 0)
		fprintf(stderr, "rotad: chmod 0600 %s: %s\n", backup,
		    strerror(errno));
	printf(
	    "rekeyed %s; new master key in %s\n", set->daemon.store_path, path);
	printf("the old key is kept as %s: it opens copies of the store taken "
	       "before now; store it with them, or shred it\n",
	    backup);
	ret = 0;
out:
	if (lock >= 0)
		close(lock);
	secret_free(key);
	store_close(st);
	jobs_free(set);
	return ret;
}
