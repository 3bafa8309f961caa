/*
 * privdrop: become another user for good, as rotad's child processes do
 * before they read anything (rotad-worker's sandbox, rotad-deliver's
 * confinement): one mechanism, so that its checks are the same wherever
 * a process gives up the daemon's ids.
 *
 * With the right to switch (root, or CAP_SETUID and CAP_SETGID: a non-
 * root daemon's ambient capabilities, passed on through the exec) every
 * id is set, then checked; the bounding set is emptied while CAP_SETPCAP
 * lasts; every capability goes, checked; and root must not be had back.
 * Without the right, a process that is not the user already refuses: it
 * would otherwise run as the daemon's own uid, which owns the key, the
 * store and the control socket.
 *
 * libc and the capability system calls (no libcap); logs nothing.
 */
#ifndef ROTAD_PRIVDROP_H
#define ROTAD_PRIVDROP_H

#include <stddef.h>
#include <sys/types.h>

/*
 * Become NAME (UID, GID), which must not be root.  WHAT names it in a
 * reason ("worker user", "user"); HINT (may be "") follows "without
 * CAP_SETUID and CAP_SETGID" in the reason a switch cannot be made for.
 * 0, or a negative errno with a sentence in WHY (SIZE bytes).
 */
int privdrop_become(const char *what, const char *name, uid_t uid, gid_t gid,
    const char *hint, char *why, size_t size);

#endif
