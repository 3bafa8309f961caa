/*
 * worker_user: the user rotad's workers run as (worker.user), checked
 * before the daemon starts or adopts a configuration.
 *
 * A worker runs what a target or a script makes of it, so it must hold
 * nothing the daemon holds: it runs under a uid of its own, never root
 * and never the daemon's (which owns the master key, the store and the
 * control socket, and has every right on that socket).  The daemon
 * refuses to start, and a reload is refused, when worker.user breaks
 * that; `rotad -n` checks what it can without knowing who will run the
 * daemon.  The worker itself switches to the user (worker/sandbox.c).
 *
 * A leaf of the scheduler: libc only, no logging (the caller logs).
 */
#ifndef ROTAD_WORKER_USER_H
#define ROTAD_WORKER_USER_H

#include <stddef.h>
#include <sys/types.h>

/* No daemon uid to compare with (rotad -n). */
#define WORKER_USER_NO_SELF ((uid_t)-1)

/*
 * Look NAME up (NULL: JOB_WORKER_USER_DEFAULT) and check it: it exists,
 * its uid and primary group are not root's, and its uid is not SELF (the
 * daemon's effective uid, or WORKER_USER_NO_SELF).  0 with its uid in
 * *RET_UID (when not NULL); -ENOENT or -EPERM with a sentence in WHY
 * that starts "worker.user NAME".
 */
int worker_user_check(
    const char *name, uid_t self, uid_t *ret_uid, char *why, size_t size);

/*
 * Whether a daemon running as a non-root uid can switch its workers to
 * another user and end them at their deadline: CAP_SETUID, CAP_SETGID and
 * CAP_KILL in its effective set (and its ambient set, so that the exec'd
 * worker has them too).  0 (also for root), or -EPERM with the missing
 * capabilities named in WHY.
 */
int worker_user_caps(char *why, size_t size);

#endif
