/*
 * lockdown: rotad-siem's sandbox, applied once, in main(), after the
 * listening socket is bound and the key, token, certificate files are
 * read, and before libmicrohttpd starts reading requests:
 *
 *   drop to --user (when started as root) -> no core, not dumpable ->
 *   PR_SET_NO_NEW_PRIVS -> seccomp (this file's list)
 *
 * Logs nothing; returns 0 or a negative errno with a reason in WHY.
 */
#ifndef ROTAD_SIEM_LOCKDOWN_H
#define ROTAD_SIEM_LOCKDOWN_H

#include <stddef.h>
#include <sys/types.h>

/*
 * Become UID:GID with GID's and USER's supplementary groups (USER NULL:
 * no change of ids, for a process not started as root).  Checks that
 * root cannot be regained.
 */
int lockdown_drop(
    const char *user, uid_t uid, gid_t gid, char *why, size_t size);

/* No core, not dumpable, no new privileges, then the seccomp filter. */
int lockdown_apply(char *why, size_t size);

#endif
