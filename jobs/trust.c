/*
 * trust.c: sshd's StrictModes for rotad's files (trust.h says the rule).
 *
 * The walk is over the resolved path (realpath), as sshd's safe_path()
 * does: a symlink is judged by its target and the directories above the
 * target.  Every link met on the way is judged too, at the end of the
 * path or in its directories, the second of a chain as the first: by its
 * owner and the directories above it, since whoever owns it or may write
 * beside it can point it elsewhere.
 */
#include <errno.h>
#include <limits.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "trust.h"

/* "nobody (uid 65534)", or "uid 1234" when it has no name. */
static void
owner_name(uid_t uid, char *buf, size_t size)
{
	struct passwd pw, *res = NULL;
	char tmp[1024];

	if (getpwuid_r(uid, &pw, tmp, sizeof(tmp), &res) == 0 && res != NULL)
		snprintf(buf, size, "%s (uid %u)", res->pw_name, (unsigned)uid);
	else
		snprintf(buf, size, "uid %u", (unsigned)uid);
}

/*
 * Judge one object AT (resolved), whose status is SB, for SELF.  The
 * message names AT first unless it is BARE (the file asked about itself).
 * A link (LINK) is judged by its owner only.
 */
static int
judge(const char *bare, const char *at, const struct stat *sb, uid_t self,
    bool link, char *why, size_t size)
{
	const char *pre = strcmp(at, bare) == 0 ? "" : at;
	const char *sep = *pre != '\0' ? ": " : "";
	char who[128];

	if (sb->st_uid != 0 && sb->st_uid != self) {
		owner_name(sb->st_uid, who, sizeof(who));
		snprintf(why, size,
		    "%s%s%sowned by %s, not root or the daemon's user; fix: "
		    "chown %sroot %s",
		    pre, sep, link ? "symlink " : "", who, link ? "-h " : "",
		    at);
		return -EPERM;
	}
	if (link)
		return 0;
	/* Others may write in /tmp, but cannot replace what is not
	 * theirs there. */
	if (S_ISDIR(sb->st_mode) && (sb->st_mode & S_ISVTX) && sb->st_uid == 0)
		return 0;
	if (sb->st_mode & (S_IWGRP | S_IWOTH)) {
		snprintf(why, size,
		    "%s%smode %04o is writable by %s; fix: chmod go-w %s", pre,
		    sep, (unsigned)(sb->st_mode & 07777),
		    sb->st_mode & S_IWOTH ? "others" : "its group", at);
		return -EPERM;
	}
	return 0;
}

/* Cut the last component off the absolute path P, in place: "/a/b" is
 * "/a", "/a" is "/".  False when P is already "/". */
static bool
parent(char *p)
{
	char *slash = strrchr(p, '/');

	if (slash == NULL || strcmp(p, "/") == 0)
		return false;
	if (slash == p)
		slash[1] = '\0';
	else
		*slash = '\0';
	return true;
}

/* Judge REAL (a resolved path) and every directory above it; BARE as
 * judge()'s. */
static int
chain(const char *bare, const char *real, uid_t self, char *why, size_t size)
{
	char p[PATH_MAX];
	struct stat sb;
	int r;

	if (strlen(real) >= sizeof(p)) {
		snprintf(why, size, "cannot check: path too long");
		return -ENAMETOOLONG;
	}
	strcpy(p, real);
	do {
		if (stat(p, &sb) < 0) {
			r = -errno;
			snprintf(why, size, "cannot check %s: %s", p,
			    strerror(errno));
			return r;
		}
		if ((r = judge(bare, p, &sb, self, false, why, size)) < 0)
			return r;
	} while (parent(p));
	return 0;
}

/* Links followed at most, as the kernel's MAXSYMLINKS. */
#define HOPS_MAX 40

/*
 * Every symlink met while resolving the absolute path ABS, component by
 * component as the kernel does, judged by its owner and by the (real)
 * directories above it.  A component that cannot be looked at ends the
 * walk with 0: the caller judges what is missing or unresolvable.  0, or
 * a negative errno with WHY.
 */
static int
links(const char *abs, uid_t self, char *why, size_t size)
{
	char left[PATH_MAX], done[PATH_MAX], at[PATH_MAX], to[PATH_MAX];
	char rest[PATH_MAX];
	struct stat sb;
	char *c, *end;
	int hops = 0, r;
	ssize_t n;

	if (strlen(abs) >= sizeof(left))
		goto long_;
	strcpy(left, abs);
	strcpy(done, "/");
	for (c = left;;) {
		while (*c == '/')
			c++;
		if (*c == '\0')
			return 0;
		if ((end = strchr(c, '/')) != NULL)
			*end = '\0';
		if (strcmp(c, "..") == 0) {
			(void)parent(done);
		} else if (strcmp(c, ".") != 0) {
			if ((size_t)snprintf(at, sizeof(at), "%s/%s",
				strcmp(done, "/") == 0 ? "" : done,
				c) >= sizeof(at))
				goto long_;
			if (lstat(at, &sb) < 0)
				return 0;
			if (!S_ISLNK(sb.st_mode)) {
				strcpy(done, at);
			} else {
				if (++hops > HOPS_MAX) {
					snprintf(why, size,
					    "cannot resolve: %s",
					    strerror(ELOOP));
					return -ELOOP;
				}
				if ((r = judge("", at, &sb, self, true, why,
					 size)) < 0 ||
				    (r = chain("", done, self, why, size)) < 0)
					return r;
				if ((n = readlink(at, to, sizeof(to) - 1)) < 0)
					return 0;
				to[n] = '\0';
				/* What is left after the link, under its
				 * target, from the root or from where the
				 * link is. */
				snprintf(rest, sizeof(rest), "%s",
				    end != NULL ? end + 1 : "");
				if ((size_t)snprintf(left, sizeof(left),
					"%s/%s", to, rest) >= sizeof(left))
					goto long_;
				if (to[0] == '/')
					strcpy(done, "/");
				c = left;
				continue;
			}
		}
		if (end == NULL)
			return 0;
		c = end + 1;
	}
long_:
	snprintf(why, size, "cannot check: path too long");
	return -ENAMETOOLONG;
}

/* PATH made absolute against the working directory, in ABS. */
static int
absolute(const char *path, char *abs, size_t size, char *why, size_t wsize)
{
	char cwd[PATH_MAX];
	int r;

	if (path[0] == '/') {
		if ((size_t)snprintf(abs, size, "%s", path) >= size)
			goto long_;
		return 0;
	}
	if (getcwd(cwd, sizeof(cwd)) == NULL) {
		r = -errno;
		snprintf(why, wsize, "cannot check: %s", strerror(errno));
		return r;
	}
	if ((size_t)snprintf(abs, size, "%s/%s", cwd, path) < size)
		return 0;
long_:
	snprintf(why, wsize, "cannot check: path too long");
	return -ENAMETOOLONG;
}

/* Whether absolute path P names its file plainly: no empty, "." or ".."
 * component, no trailing slash; its real path is then its directory's
 * real path and its last component, when that is not a symlink. */
static bool
plain(const char *p)
{
	const char *c = p, *end;

	while (*c == '/') {
		c++;
		end = strchr(c, '/');
		if (end == NULL)
			end = c + strlen(c);
		if (end == c || (end - c == 1 && c[0] == '.') ||
		    (end - c == 2 && c[0] == '.' && c[1] == '.'))
			return false;
		c = end;
	}
	return true;
}

/*
 * ABS (plain, not a symlink; SB its lstat()) as trust_check_path() would
 * judge it, its directory's chain from MEMO.  1 when MEMO cannot say
 * (the directory does not resolve): the caller then checks as always.
 */
static int
in_memo(const char *abs, const struct stat *sb, uid_t self,
    struct trust_memo *memo, char *why, size_t size)
{
	char dir[PATH_MAX], real[PATH_MAX];
	const char *base = strrchr(abs, '/') + 1;
	int r;

	strcpy(dir, abs);
	parent(dir);
	if (strcmp(memo->dir, dir) != 0) {
		if (realpath(dir, memo->real) == NULL) {
			memo->dir[0] = '\0';
			return 1;
		}
		/* links() and chain() as they go on above the file: a
		 * directory's words do not depend on which file asked. */
		memo->verdict = links(dir, self, memo->why, sizeof(memo->why));
		if (memo->verdict == 0)
			memo->verdict = chain(
			    "", memo->real, self, memo->why, sizeof(memo->why));
		strcpy(memo->dir, dir);
	}
	if ((size_t)snprintf(real, sizeof(real), "%s/%s",
		strcmp(memo->real, "/") == 0 ? "" : memo->real,
		base) >= sizeof(real)) {
		snprintf(why, size, "cannot check: path too long");
		return -ENAMETOOLONG;
	}
	/* The file, as chain()'s first step: not a link, so its lstat() is
	 * the stat() of its real path. */
	r = judge(strcmp(real, abs) == 0 ? real : "", real, sb, self, false,
	    why, size);
	if (r == 0 && memo->verdict < 0) {
		snprintf(why, size, "%s", memo->why);
		r = memo->verdict;
	}
	return r;
}

int
trust_check_path(const char *path, uid_t self, char *why, size_t size)
{
	return trust_check_path_memo(path, self, NULL, why, size);
}

int
trust_check_path_memo(const char *path, uid_t self, struct trust_memo *memo,
    char *why, size_t size)
{
	char abs[PATH_MAX], real[PATH_MAX], dir[PATH_MAX];
	struct stat sb;
	int r;

	if ((r = absolute(path, abs, sizeof(abs), why, size)) < 0)
		return r;
	if (lstat(abs, &sb) < 0) {
		if (errno != ENOENT) {
			r = -errno;
			snprintf(
			    why, size, "cannot check: %s", strerror(errno));
			return r;
		}
		/* Missing: whoever may write where it would be could
		 * create it, or point a link on the way elsewhere. */
		if ((r = links(abs, self, why, size)) < 0)
			return r;
		strcpy(dir, abs);
		while (parent(dir))
			if (realpath(dir, real) != NULL)
				return chain("", real, self, why, size);
		return 0;
	}
	if (memo != NULL && !S_ISLNK(sb.st_mode) && plain(abs) &&
	    (r = in_memo(abs, &sb, self, memo, why, size)) != 1)
		return r;
	/* The links on the way: their owners, and where they live. */
	if ((r = links(abs, self, why, size)) < 0)
		return r;
	if (realpath(abs, real) == NULL) {
		r = -errno;
		snprintf(why, size, "cannot resolve: %s", strerror(errno));
		return r;
	}
	/* Named in the message unless it is the file asked about. */
	return chain(strcmp(real, abs) == 0 ? real : "", real, self, why, size);
}
