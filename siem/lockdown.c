/*
 * lockdown: privileges dropped, then a seccomp filter (lockdown.h).
 *
 * The filter lists what rotad-siem and libmicrohttpd's polling thread (an
 * epoll loop with GnuTLS inside) were seen to use under `strace -f`
 * (docs/security.md): memory, threads, epoll, the accepted TCP sockets
 * and one AF_UNIX socket per request to rotad's control socket.  No
 * file is opened after the lockdown, nothing is exec'd, no socket of
 * another family is made.  Anything else fails with EPERM, which the
 * libraries handle as an ordinary error; a foreign system call table
 * kills the process.
 */
#include <errno.h>
#include <grp.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <seccomp.h>

#include "lockdown.h"
#include "scmp.h"
#include "why.h"

int
lockdown_drop(const char *user, uid_t uid, gid_t gid, char *why, size_t size)
{
	if (user == NULL)
		return 0;
	if (initgroups(user, gid) < 0)
		return why_fail(why, size, -errno, "initgroups %s: %s", user,
		    strerror(errno));
	if (setresgid(gid, gid, gid) < 0 || setresuid(uid, uid, uid) < 0)
		return why_fail(why, size, -errno, "cannot become %s: %s", user,
		    strerror(errno));
	if (uid != 0 && (setuid(0) == 0 || seteuid(0) == 0))
		return why_fail(why, size, -EPERM, "root could be regained");
	return 0;
}

static const char *const allowed[] = {
	/* memory and threads */
	"brk",
	"mmap",
	"munmap",
	"mremap",
	"mprotect",
	"madvise",
	"futex",
	"set_robust_list",
	"rseq",
	"gettid",
	"getpid",
	"getuid",
	"geteuid",
	"getgid",
	"getegid",
	"exit",
	"exit_group",
	"sched_yield",
	"sched_getaffinity",
	"membarrier",
	"mlock",
	"munlock",
	/* signals (the main thread waits in sigwait) */
	"rt_sigprocmask",
	"rt_sigaction",
	"rt_sigreturn",
	"rt_sigtimedwait",
	"sigaltstack",
	"restart_syscall",
	/* time and randomness (GnuTLS) */
	"clock_gettime",
	"clock_nanosleep",
	"nanosleep",
	"gettimeofday",
	"getrandom",
	/* file descriptors already open, and the loop */
	"read",
	"write",
	"readv",
	"writev",
	"close",
	"fstat",
	"newfstatat",
	"fcntl",
	"lseek",
	"dup",
	"epoll_create1",
	"epoll_ctl",
	"epoll_wait",
	"epoll_pwait",
	"eventfd2",
	"pipe2",
	"poll",
	"ppoll",
	"select",
	"pselect6",
	/* the sockets: accepted TCP ones, the control socket */
	"accept",
	"accept4",
	"connect",
	"shutdown",
	"recvfrom",
	"sendto",
	"recvmsg",
	"sendmsg",
	"setsockopt",
	"getsockopt",
	"getsockname",
	"getpeername",
	NULL,
};

int
lockdown_apply(char *why, size_t size)
{
	struct rlimit no = { 0, 0 };
	scmp_filter_ctx ctx;
	const char *what = "set up";
	int r;

	if (setrlimit(RLIMIT_CORE, &no) < 0 ||
	    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		return why_fail(
		    why, size, -errno, "no core: %s", strerror(errno));
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return why_fail(
		    why, size, -errno, "no_new_privs: %s", strerror(errno));
	ctx = scmp_new(SCMP_ACT_ERRNO(EPERM));
	if (ctx == NULL)
		return why_fail(
		    why, size, -ENOMEM, "cannot create seccomp filter");
	if ((r = scmp_add_names(ctx, SCMP_ACT_ALLOW, allowed, &what)) < 0)
		goto out;
	what = "socket";
	/* One family: the control socket's. */
	if ((r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1,
		 SCMP_A0(SCMP_CMP_EQ, AF_UNIX, 0))) < 0)
		goto out;
	what = "clone";
	/*
	 * Threads, never processes: clone3's flags are in memory seccomp
	 * cannot read, so it answers ENOSYS and glibc falls back to
	 * clone(), whose flags it can.
	 */
	if ((r = seccomp_rule_add(
		 ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0)) < 0 ||
	    (r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(clone), 1,
		 SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, CLONE_THREAD))) < 0)
		goto out;
	what = "prctl";
	/* libmicrohttpd names its thread; nothing else. */
	if ((r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(prctl), 1,
		 SCMP_A0(SCMP_CMP_EQ, PR_SET_NAME, 0))) < 0)
		goto out;
	what = "prlimit64";
	/* Read a limit (pthread_create asks), never set one. */
	if ((r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(prlimit64), 1,
		 SCMP_A2(SCMP_CMP_EQ, 0, 0))) < 0)
		goto out;
	what = "load";
	r = seccomp_load(ctx);
out:
	seccomp_release(ctx);
	if (r < 0)
		return why_fail(
		    why, size, r, "seccomp (%s): %s", what, strerror(-r));
	return 0;
}
