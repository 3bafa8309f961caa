/*
 * store_file.c: whether a store file may be used (store.h).
 *
 * Encryption keeps the secrets from whoever reads a copy of the store; it
 * does not keep the rows from whoever may write the file.  A value is
 * bound to its user and version, not to its state: a writer could make a
 * stale version current again, or delete rows, and rotad would use what it
 * found.  So a store file is held to the master key's rule (store_key.c)
 * wherever it is opened, and rotad -n says the same: no one but its owner
 * may write it, no one outside its group may read it, its owner is root
 * or rotad's user, and no one else may write in its directory, where they
 * could put a file of their own in its place.  SQLite gives the -wal and
 * -shm files the database's mode when it makes them, but one left from
 * before (a copy, a chmod) is checked as the database is: the WAL holds
 * the latest commits.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store-internal.h"

/* The master key's rule: a rotad group may read, nobody else may, and
 * nobody but the owner may write. */
#define FILE_MODE_FORBIDDEN (S_IWGRP | S_IWOTH | S_IROTH)

/* The directory of PATH, into DIR (PATH_MAX). */
static void
dir_of(const char *path, char *dir, size_t size)
{
	char *slash;

	snprintf(dir, size, "%s", path);
	slash = strrchr(dir, '/');
	if (slash == NULL)
		snprintf(dir, size, ".");
	else if (slash == dir)
		dir[1] = '\0';
	else
		*slash = '\0';
}

/* PATH's directory DIR, its status into SB: no one but its owner may
 * write there, but in a directory of root's with the sticky bit (/tmp),
 * where no one may replace what is not theirs. */
static int
check_dir(const char *path, const char *dir, struct stat *sb, char *err,
    size_t errlen)
{
	unsigned mode;
	int r;

	if (stat(dir, sb) < 0) {
		r = -errno;
		return why_fail(err, errlen, r, "%s: its directory %s: %s",
		    path, dir, strerror(-r));
	}
	mode = sb->st_mode & 07777;
	if (!S_ISDIR(sb->st_mode))
		return why_fail(err, errlen, -ENOTDIR,
		    "%s: %s is not a directory", path, dir);
	if ((mode & (S_IWGRP | S_IWOTH)) &&
	    !((mode & S_ISVTX) && sb->st_uid == 0))
		return why_fail(err, errlen, -EPERM,
		    "%s: its directory %s has mode %04o, writable by %s; fix: "
		    "chmod go-w %s",
		    path, dir, mode, mode & S_IWOTH ? "others" : "its group",
		    dir);
	return 0;
}

/*
 * FILE: the store, or its -wal or -shm (OPTIONAL: which may be missing),
 * in a directory that DIR_UID owns.  Looked at through a descriptor of
 * its own that reads nothing (O_PATH: no permission needed, and a FIFO or
 * a device in its place is not opened).  Root, which runs rotad -n,
 * --init and --rekey on the daemon's store, also takes the owner of the
 * directory, which could replace the store anyway: the daemon's user.
 */
static int
check_file(
    const char *file, bool optional, uid_t dir_uid, char *err, size_t errlen)
{
	uid_t self = geteuid();
	struct stat sb;
	unsigned mode;
	int fd, r;

	fd = open(file, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		if (r == -ENOENT && optional)
			return 0;
		return why_fail(
		    err, errlen, r, "cannot open %s: %s", file, strerror(-r));
	}
	r = fstat(fd, &sb) < 0 ? -errno : 0;
	close(fd);
	if (r < 0)
		return why_fail(
		    err, errlen, r, "cannot stat %s: %s", file, strerror(-r));
	mode = sb.st_mode & 07777;
	if (S_ISLNK(sb.st_mode))
		return why_fail(err, errlen, -ELOOP,
		    optional ? "%s is a symbolic link; remove it"
			     : "%s is a symbolic link; name the store file "
			       "itself",
		    file);
	if (!S_ISREG(sb.st_mode))
		return why_fail(
		    err, errlen, -EINVAL, "%s is not a regular file", file);
	if (mode & FILE_MODE_FORBIDDEN)
		return why_fail(err, errlen, -EPERM,
		    "%s has mode %04o: the store must not be writable by "
		    "group or others, nor readable by others; fix: chmod 0600 "
		    "%s",
		    file, mode, file);
	if (sb.st_uid == 0 || sb.st_uid == self ||
	    (self == 0 && sb.st_uid == dir_uid))
		return 0;
	if (self == 0)
		return why_fail(err, errlen, -EPERM,
		    "%s is owned by uid %u, not root or its directory's owner "
		    "(uid %u); fix: chown %u %s",
		    file, (unsigned)sb.st_uid, (unsigned)dir_uid,
		    (unsigned)dir_uid, file);
	return why_fail(err, errlen, -EPERM,
	    "%s is owned by uid %u, not root or uid %u, which runs rotad; fix: "
	    "chown %u %s",
	    file, (unsigned)sb.st_uid, (unsigned)self, (unsigned)self, file);
}

int
store_file_check(const char *path, char *err, size_t errlen)
{
	char dir[PATH_MAX], file[PATH_MAX];
	struct stat sb;
	int r;

	if (strlen(path) + sizeof("-wal") > sizeof(file))
		return why_fail(
		    err, errlen, -ENAMETOOLONG, "%s: path too long", path);
	dir_of(path, dir, sizeof(dir));
	if ((r = check_dir(path, dir, &sb, err, errlen)) < 0 ||
	    (r = check_file(path, false, sb.st_uid, err, errlen)) < 0)
		return r;
	snprintf(file, sizeof(file), "%s-wal", path);
	if ((r = check_file(file, true, sb.st_uid, err, errlen)) < 0)
		return r;
	snprintf(file, sizeof(file), "%s-shm", path);
	return check_file(file, true, sb.st_uid, err, errlen);
}
