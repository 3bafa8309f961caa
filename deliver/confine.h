/*
 * confine: how rotad-deliver locks itself down before it reads a single
 * message.  The order is fixed and visible in main():
 *
 *   0. PR_SET_PDEATHSIG SIGKILL, first of all: it dies with the daemon;
 *   1. confine_begin():
 *      a. the daemon, fd 0's peer (SO_PEERCRED: the process that made
 *         the socket pair), must still be our parent: a death before
 *         the prctl is seen here;
 *      b. the service user looked up (while NSS may still open files);
 *      c. every fd closed but 0 (the daemon) and 2 (its stderr); fd 1
 *         becomes /dev/null, so that no socket can take that number;
 *      d. the environment cleared; RLIMIT_CORE 0;
 *      e. become the service user, when root or holding CAP_SETUID and
 *         CAP_SETGID: no supplementary groups, setresgid, setresuid,
 *         checked; every capability dropped (the bounding set too,
 *         where CAP_SETPCAP allows); root cannot be regained.  Without
 *         the right to switch, a process that is not already that user
 *         refuses to run (as rotad-worker does): it would otherwise run
 *         as whoever started it, perhaps the daemon's own uid, which
 *         owns the store and the key.  The user must not be root;
 *      f. the parent-death signal set again (a change of ids clears
 *         it), and the parent checked again;
 *      g. PR_SET_DUMPABLE 0, PR_SET_NO_NEW_PRIVS 1;
 *   2. (main) the libraries initialised: OpenSSL reads its
 *      configuration, curl its own, libuv makes its loop;
 *   3. confine_seccomp(): the system call allow-list (confine.c says
 *      what and why).
 */
#ifndef ROTAD_CONFINE_H
#define ROTAD_CONFINE_H

#include <stddef.h>

/* The service user's default, as the worker's (sandbox.h). */
#define CONFINE_USER_DEFAULT "rotad-worker"

/* Step 1.  0, or a negative errno with the reason in WHY: -ESRCH when
 * the daemon is gone, -EPERM when the ids cannot be made right. */
int confine_begin(const char *user, char *why, size_t size);

/* Step 3.  0, or a negative errno with the reason in WHY. */
int confine_seccomp(char *why, size_t size);

#endif
