/*
 * sandbox: how rotad-worker locks itself down before it reads a request.
 * The order is fixed and visible in sandbox_enter():
 *
 *   0. (worker.c, before this) PR_SET_PDEATHSIG SIGKILL: the worker dies
 *      with the daemon; then a check that the daemon has not died yet;
 *   1. close every fd but 0 (the request), 1 (the response) and 2 (a log
 *      pipe or /dev/null);
 *   2. clear the environment;
 *   3. rlimits: CORE 0, NOFILE, AS, CPU;
 *   4. become the worker user (setgroups, setresgid, setresuid;
 *      checked), when started as root or with CAP_SETUID and
 *      CAP_SETGID (a non-root daemon's ambient capabilities); then
 *      drop every capability (the bounding set too, where CAP_SETPCAP
 *      allows).  Without the right to switch, a worker that is not
 *      already that user refuses to run.  The parent-death signal, which
 *      the kernel clears when the ids change, is set again, and the
 *      parent checked to be still the one that started it;
 *   5. PR_SET_DUMPABLE 0;
 *   6. PR_SET_NO_NEW_PRIVS 1;
 *   7. Landlock: read-only access to what the provider needs, no writes,
 *      execute only the exec paths (with a script's "#!" interpreter and
 *      the ELF loader); skipped, and said so, on a kernel without it;
 *   8. seccomp allow-list (libseccomp), per provider needs: no ptrace,
 *      mount, namespaces, module loading, ...; execve and fork only in
 *      the script profile (NEEDS_EXEC), where Landlock decides what may
 *      be executed, since seccomp cannot see paths; and the extra system
 *      calls the provider's catalog entry names.
 *
 * The profile's needs, read paths and extra system calls come from the
 * provider's catalog entry (catalog.h, struct catalog_sandbox).
 */
#ifndef ROTAD_SANDBOX_H
#define ROTAD_SANDBOX_H

/* worker.user's default, as the daemon's (jobs.h JOB_WORKER_USER_DEFAULT). */
#define SANDBOX_USER_DEFAULT "rotad-worker"

struct sandbox_profile {
	unsigned needs;                /* CATALOG_NEEDS_* */
	const char *const *read_paths; /* NULL-terminated, may be NULL */
	/* Allowed besides the base list, by libseccomp's name; NULL-
	 * terminated, may be NULL.  A name libseccomp does not know on this
	 * architecture is refused: a profile is never quietly smaller than
	 * its provider needs, nor a typo quietly ignored. */
	const char *const *syscalls;
	const char *const *exec_paths; /* NEEDS_EXEC: what may be execve'd */
	const char *tls_ca_file;       /* NULL for none */
	/* The worker user: never root, never the daemon's; NULL:
	 * SANDBOX_USER_DEFAULT. */
	const char *user;
	unsigned cpu_seconds; /* RLIMIT_CPU; 0: 60 */
};

/*
 * Steps 1-8.  Returns 0, or a negative errno with a reason in WHY (which
 * the worker reports as a fatal error): a worker that cannot lock itself
 * down does not run.
 */
int sandbox_enter(const struct sandbox_profile *p, char *why, size_t size);

/* Step 1 alone: close every fd but 0, 1 and 2.  0, or a negative errno
 * with a reason in WHY (may be NULL).  The template (forkserver.h) does
 * it at its start, and each of its children as it is forked. */
int sandbox_close_fds(char *why, size_t size);

/* The worker template's own seccomp filter (forkserver.h), which its
 * children inherit: a deny-list of what none of them ever calls (ptrace,
 * mounts and namespaces, modules, bpf, keyrings, io_uring, ...).  Needs
 * no_new_privs set.  0, or a negative errno with a reason in WHY. */
int sandbox_template_filter(char *why, size_t size);

/* The Landlock ABI sandbox_enter() used, 0 when the kernel has none (the
 * worker then says so in its facts: the file system was not confined). */
int sandbox_landlock_abi(void);

#endif
