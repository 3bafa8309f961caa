/*
 * store_key.c: the master key file - making one, finding it, loading it.
 *
 * The master key is 32 raw bytes in a file of their own.  The file is the
 * only thing between a copy of the store and its secrets, so loading is
 * strict in the way OpenSSH is with private keys: a key others could read
 * or replace is refused, with the command that fixes it, rather than used.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* secure_getenv() */
#endif
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "fsutil.h"
#include "secret.h"
#include "store-internal.h"

/* Group may read (a rotad group); nobody else may, and nobody but the
 * owner may write. */
#define KEY_MODE_FORBIDDEN (S_IWGRP | S_IWOTH | S_IROTH)

int
store_key_create(const char *path, char *err, size_t errlen)
{
	struct secret *key = NULL;
	const unsigned char *p;
	bool created = false;
	size_t left;
	ssize_t n;
	int fd = -1, r;

	/* O_EXCL also refuses a symlink, even a dangling one. */
	fd = open(path,
	    O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY,
	    0600);
	if (fd < 0) {
		r = -errno;
		if (r == -EEXIST)
			r = why_fail(err, errlen, r,
			    "%s exists; refusing to overwrite a master key",
			    path);
		else
			r = why_fail(err, errlen, r, "cannot create %s: %s",
			    path, strerror(-r));
		goto out;
	}
	created = true;
	/* The umask may have taken bits away (making the key unreadable
	 * to its owner with umask 0277, say): set the mode exactly. */
	if (fchmod(fd, 0600) < 0) {
		r = -errno;
		why_fail(
		    err, errlen, r, "cannot chmod %s: %s", path, strerror(-r));
		goto out;
	}
	r = secret_new(NULL, STORE_KEY_LEN, &key);
	if (r < 0) {
		why_fail(err, errlen, r, "out of memory");
		goto out;
	}
	if (RAND_bytes(secret_buf(key), STORE_KEY_LEN) != 1) {
		r = why_fail(err, errlen, -EIO, "the random generator failed");
		goto out;
	}
	for (p = secret_data(key), left = STORE_KEY_LEN; left > 0;) {
		n = write(fd, p, left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			r = n < 0 ? -errno : -EIO;
			why_fail(err, errlen, r, "cannot write %s: %s", path,
			    strerror(-r));
			goto out;
		}
		p += n;
		left -= (size_t)n;
	}
	/* The key must be on disk before the store is encrypted under it:
	 * a store whose key was lost in a crash is lost with it. */
	if (fsync(fd) < 0) {
		r = -errno;
		why_fail(
		    err, errlen, r, "cannot fsync %s: %s", path, strerror(-r));
		goto out;
	}
	r = close(fd) < 0 ? -errno : 0;
	fd = -1;
	if (r == 0)
		r = fsutil_fsync_dir(path);
	if (r < 0)
		why_fail(
		    err, errlen, r, "cannot sync %s: %s", path, strerror(-r));
out:
	if (fd >= 0)
		close(fd);
	if (r < 0 && created)
		unlink(path);
	secret_free(key);
	return r;
}

int
store_key_load(const char *path, struct secret **ret, char *err, size_t errlen)
{
	struct secret *key = NULL;
	unsigned char *p, extra;
	struct stat sb;
	size_t got = 0;
	unsigned mode;
	ssize_t n = 0;
	int fd, r;

	*ret = NULL;
	/* O_NONBLOCK: a FIFO put in the key's place must not hang us. */
	fd = open(
	    path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		r = -errno;
		if (r == -ELOOP)
			return why_fail(err, errlen, r,
			    "%s is a symbolic link; name the key file itself",
			    path);
		return why_fail(
		    err, errlen, r, "cannot open %s: %s", path, strerror(-r));
	}
	if (fstat(fd, &sb) < 0) {
		r = -errno;
		why_fail(
		    err, errlen, r, "cannot stat %s: %s", path, strerror(-r));
		goto out;
	}
	mode = sb.st_mode & 07777;
	if (!S_ISREG(sb.st_mode)) {
		r = why_fail(
		    err, errlen, -EINVAL, "%s is not a regular file", path);
		goto out;
	}
	if (mode & KEY_MODE_FORBIDDEN) {
		r = why_fail(err, errlen, -EPERM,
		    "%s has mode %04o: a master key must not be writable by "
		    "group or others, nor readable by others; run: "
		    "chmod 0600 %s",
		    path, mode, path);
		goto out;
	}
	if (sb.st_uid != 0 && sb.st_uid != geteuid()) {
		r = why_fail(err, errlen, -EPERM,
		    "%s is owned by uid %u: a master key must be owned by "
		    "root or by uid %u, which runs rotad",
		    path, (unsigned)sb.st_uid, (unsigned)geteuid());
		goto out;
	}
	if (sb.st_size != STORE_KEY_LEN) {
		r = why_fail(err, errlen, -EINVAL,
		    "%s is %lld bytes; a master key is exactly %d (rotad "
		    "--init makes one)",
		    path, (long long)sb.st_size, STORE_KEY_LEN);
		goto out;
	}
	r = secret_new(NULL, STORE_KEY_LEN, &key);
	if (r < 0) {
		why_fail(err, errlen, r, "out of memory");
		goto out;
	}
	/* Read straight into locked memory; then make sure nothing follows,
	 * in case the file grew since fstat(). */
	for (p = secret_buf(key); got < STORE_KEY_LEN;) {
		n = read(fd, p + got, STORE_KEY_LEN - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	if (n < 0) {
		r = -errno;
		why_fail(
		    err, errlen, r, "cannot read %s: %s", path, strerror(-r));
		goto out;
	}
	do
		n = read(fd, &extra, 1);
	while (n < 0 && errno == EINTR);
	if (got != STORE_KEY_LEN || n != 0) {
		explicit_bzero(&extra, sizeof(extra));
		r = why_fail(
		    err, errlen, -EINVAL, "%s changed while being read", path);
		goto out;
	}
	*ret = key;
	key = NULL;
	r = 0;
out:
	secret_free(key);
	close(fd);
	return r;
}

int
store_key_path(char *buf, size_t size, const char *explicit_path)
{
	const char *dir;
	struct stat sb;
	int n;

	if (explicit_path != NULL) {
		n = snprintf(buf, size, "%s", explicit_path);
		return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
	}
	/* secure_getenv: a set-id program must not take its key's location
	 * from whoever runs it. */
	dir = secure_getenv("CREDENTIALS_DIRECTORY");
	if (dir != NULL && dir[0] != '\0') {
		n = snprintf(buf, size, "%s/%s", dir, STORE_KEY_CREDENTIAL);
		if (n < 0 || (size_t)n >= size)
			return -ENAMETOOLONG;
		if (lstat(buf, &sb) == 0)
			return 0;
	}
	n = snprintf(buf, size, "%s", STORE_DEFAULT_KEY_PATH);
	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}
