/*
 * trust: may rotad believe a file it reads or runs?  sshd's StrictModes,
 * for every file that decides what rotad runs or whom it gives a secret:
 * rotad.yaml, conf_dir, the job files, password and key files, scripts
 * and their interpreters, the worker binary, CA files.
 *
 * A path is trusted when the file (a symlink judged by its target, the
 * link itself by its owner) and every directory above it up to / are
 * owned by root or by SELF (the daemon's own uid) and writable by neither
 * group nor others.  A directory owned by root with the sticky bit (/tmp)
 * may be writable: others cannot replace what is in it.  A path that
 * does not exist is judged by the nearest directory above it that does
 * (whoever can write there could create it), and passes when that one
 * does; whoever reads it later reports that it is missing.
 *
 * A leaf of jobs/: libc only, no logging, no allocation it keeps.
 */
#ifndef ROTAD_TRUST_H
#define ROTAD_TRUST_H

#include <limits.h>
#include <stddef.h>
#include <sys/types.h>

/*
 * Check PATH (absolute, or relative to the working directory) for SELF.
 * 0 when it is trusted.  -EPERM when it is not, with WHY (SIZE bytes)
 * saying what and how to fix it, naming the offending path first unless
 * it is PATH itself:
 *
 *   mode 0666 is writable by others; fix: chmod go-w /etc/rotad/a.yaml
 *   /srv/x: owned by nobody (uid 65534), not root or the daemon's user;
 *   fix: chown root /srv/x
 *
 * Another -errno when it cannot be checked (a dangling symlink, a loop,
 * a directory it may not search), with WHY saying so.
 */
int trust_check_path(const char *path, uid_t self, char *why, size_t size);

/*
 * What trust_check_path_memo() found of the last directory it was asked
 * about: a load may name 100k password files in one directory, and each
 * then costs one lstat() instead of a stat() and a readlink() per
 * component.  The caller zeroes it, and keeps it for one load only.
 */
struct trust_memo {
	char dir[PATH_MAX];  /* as named (absolute); "" when empty */
	char real[PATH_MAX]; /* resolved */
	int verdict;         /* of real and every directory above it */
	char why[2 * PATH_MAX + 256];
};

/* trust_check_path(), the same answer and words, with MEMO. */
int trust_check_path_memo(const char *path, uid_t self, struct trust_memo *memo,
    char *why, size_t size);

#endif
