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
	ret = 0;
out:
	store_close(st);
	jobs_free(set);
	return ret;
}

int
keys_rekey(const char *config)
{
	struct job_set *set = NULL;
	struct secret *key = NULL;
	struct store *st = NULL;
	char path[PATH_MAX], next[PATH_MAX + 8], err[512];
	const char *creds = getenv("CREDENTIALS_DIRECTORY");
	int r, ret = 1;

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
	r = store_key_load(next, &key, err, sizeof(err));
	if (r == 0)
		r = store_rekey(st, key);
	if (r < 0) {
		fprintf(stderr, "rotad: rekey: %s\n",
		    r == -EKEYREJECTED || store_last_error(st)[0] == '\0'
			? err
			: store_last_error(st));
		unlink(next);
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
	printf(
	    "rekeyed %s; new master key in %s\n", set->daemon.store_path, path);
	ret = 0;
out:
	secret_free(key);
	store_close(st);
	jobs_free(set);
	return ret;
}
