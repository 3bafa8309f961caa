/*
 * forkserver: `rotad-worker --template`, the process the daemon's
 * workers are forked from (the messages: proto/tmplwire.h).
 *
 *   rotad-worker --template --parent PID [--pool N]
 *
 * Why: an exec'd worker spends most of its start mapping and relocating
 * the provider libraries (libpq, libmariadb, libldap and GnuTLS, libssh2:
 * about thirty), and a daemon that forks itself pays for its own size
 * at every step.  The template is exec'd once, early, by a daemon that
 * has read no secret yet; it is linked and its libraries are relocated
 * and initialised, and a fork of it is a worker that has only its
 * sandbox and its request left to do.
 *
 * What it holds: nothing of the daemon's (it was exec'd: a fresh image,
 * an empty environment, fds 0, 1 and 2 only, then every other closed),
 * no secret, no request (it passes a step's pipes on, and never reads or
 * writes them), no configuration; its libraries set up as each worker's
 * first TLS connection would (registry_warm(): OpenSSL, libmariadb).  It keeps
 * POOL children idle, each a fork made before any step was known, waiting on a
 * socket of its own for the one START it will get; the daemon learns of each
 * (READY, with a pidfd) before it needs one, so that starting a step never
 * waits for a fork.  It reaps its children and tells the daemon how each ended
 * (EXITED).  Before it forks, once a second at most, it reads its own
 * /proc/self/maps, and tells the daemon (STALE, once) when a file it
 * runs code of was unlinked since it mapped it: a package upgrade of a
 * library, or of rotad-worker itself, whose fix its children would
 * otherwise miss until the daemon restarts; the daemon starts another
 * template.  It is not dumpable, sets no_new_privs (it never executes
 * anything, and what its children execute gains nothing), loads a
 * seccomp deny-list its children inherit (sandbox_template_filter()),
 * and keeps the ids and capabilities the daemon gave it, which its
 * children need to switch to the worker user.
 *
 * Death: the template dies with the daemon (PR_SET_PDEATHSIG, set by
 * main() first of all, and the daemon's pid checked), and exits when the
 * daemon closes its socket; each child dies with the template
 * (PR_SET_PDEATHSIG again, since a fork does not inherit it, and the
 * template's pid checked), and exits when the template closes its socket
 * before a START came.  So no worker outlives the daemon by more than
 * the kernel's delivery of two signals.
 *
 * A child, once it has its START: its fds 0, 1 and 2 are the step's
 * (nothing else of the template's is open: it closed every other fd as
 * it was forked), and it goes on exactly as an exec'd worker with the
 * START's arguments would: argv, the catalog, sandbox_enter() (fds,
 * environment, limits, ids, dumpable, no_new_privs, Landlock, seccomp),
 * and only then the request.
 */
#ifndef ROTAD_FORKSERVER_H
#define ROTAD_FORKSERVER_H

/* Exit statuses of the template. */
#define FORKSERVER_EXIT_USAGE 2    /* its arguments are wrong */
#define FORKSERVER_EXIT_ORPHAN 4   /* the daemon was gone at its start */
#define FORKSERVER_EXIT_NO_PIDFD 5 /* the kernel has no pidfd_open() */
#define FORKSERVER_EXIT_PROTOCOL 6 /* the daemon sent what it must not */

/* What a child of the template runs: the worker's command line, as if
 * it had been exec'd with it. */
struct forkserver_child {
	int argc;
	char **argv; /* argv[0] the template's; NULL-terminated */
	long parent; /* the template's pid, the child's parent */
};

/*
 * The template (ARGV: "--template" and its options).  In the template it
 * returns only to end it: 0, with its exit status in *RET_EXIT.  In each
 * child it returns 1, with *RET filled and fds 0, 1, 2 the step's.
 */
int forkserver_run(
    int argc, char **argv, struct forkserver_child *ret, int *ret_exit);

#endif
