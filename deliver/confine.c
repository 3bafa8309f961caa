/*
 * confine.c: rotad-deliver's lockdown (confine.h).
 *
 * The ids are dropped by the mechanism rotad-worker uses
 * (common/privdrop.c).  The seccomp allow-list is what the
 * process was seen to use under `strace -f` delivering to every kind of
 * sink: libuv's loop and its thread pool (uv_getaddrinfo), glibc's
 * resolver, OpenSSL, and libcurl, whose threaded resolver starts a thread
 * per name and wakes the loop through a socket pair.  So:
 *
 *   - threads, never processes: clone() only with CLONE_THREAD; clone3
 *     answers ENOSYS (its flags are in memory seccomp cannot read), and
 *     glibc falls back to clone().  No execve, fork, ptrace, mount,
 *     namespaces, kill of another process;
 *   - sockets of AF_INET and AF_INET6 only (AF_UNIX only as a socket
 *     pair, curl's wake-up; not as socket(): glibc's nscd client then
 *     finds no nscd and the resolver reads the files itself).  No
 *     listen() or accept(); bind() stays, for a UDP socket's local
 *     address;
 *   - files opened read-only, and only that: the resolver reads
 *     /etc/hosts, resolv.conf, nsswitch.conf, gai.conf; OpenSSL the
 *     system's certificates (/etc/ssl/certs, looked up lazily by hash).
 *     open and openat with O_WRONLY, O_RDWR, O_CREAT, O_TRUNC, O_APPEND
 *     or O_TMPFILE are refused; openat2, whose flags seccomp cannot
 *     read, answers ENOSYS and glibc falls back to openat.
 *
 * Anything else fails with EPERM, which the libraries handle as an
 * ordinary error; a foreign system call table kills the process.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/capability.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>

#include <seccomp.h>

#include "confine.h"
#include "privdrop.h"
#include "scmp.h"
#include "why.h"

/* The daemon: the process that made fd 0's socket pair, which must be
 * our parent.  Its pid, or 0 when fd 0 is no Unix socket. */
static pid_t
daemon_pid(void)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);

	if (getsockopt(0, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 ||
	    len != sizeof(cred))
		return 0;
	return cred.pid;
}

/* Step c.  close_range(), and fd 1 onto /dev/null. */
static int
close_fds(char *why, size_t size)
{
	int fd;

	if (close_range(3, ~0U, 0) < 0)
		return why_fail(why, size, -errno,
		    "cannot close file descriptors: %s", strerror(errno));
	(void)close(1);
	fd = open("/dev/null", O_WRONLY | O_NOCTTY);
	if (fd < 0)
		return why_fail(why, size, -errno, "cannot open /dev/null: %s",
		    strerror(errno));
	if (fd != 1) {
		if (dup2(fd, 1) < 0)
			return why_fail(why, size, -errno,
			    "cannot set fd 1: %s", strerror(errno));
		close(fd);
	}
	return 0;
}

int
confine_begin(const char *user, char *why, size_t size)
{
	struct rlimit no = { 0, 0 };
	struct passwd *pw;
	pid_t parent;
	uid_t uid;
	gid_t gid;
	int r;

	/* a */
	parent = daemon_pid();
	if (parent == 0)
		return why_fail(why, size, -ENOTSOCK,
		    "fd 0 is not a Unix socket to the daemon");
	if (getppid() != parent)
		return why_fail(why, size, -ESRCH,
		    "the daemon (pid %ld) is gone, or is not our parent",
		    (long)parent);
	/* b */
	errno = 0;
	if ((pw = getpwnam(user)) == NULL)
		return why_fail(why, size, errno != 0 ? -errno : -ESRCH,
		    "unknown user %s", user);
	uid = pw->pw_uid;
	gid = pw->pw_gid;
	/* c, d */
	if ((r = close_fds(why, size)) < 0)
		return r;
	if (clearenv() != 0)
		return why_fail(
		    why, size, -ENOMEM, "cannot clear the environment");
	if (setrlimit(RLIMIT_CORE, &no) < 0)
		return why_fail(
		    why, size, -errno, "RLIMIT_CORE: %s", strerror(errno));
	/* e, f */
	if ((r = privdrop_become("user", user, uid, gid, "", why, size)) < 0)
		return r;
	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0 ||
	    getppid() != parent)
		return why_fail(
		    why, size, -ESRCH, "the daemon went away while we started");
	/* g */
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		return why_fail(why, size, -errno, "cannot clear dumpable: %s",
		    strerror(errno));
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return why_fail(why, size, -errno,
		    "cannot set no_new_privs: %s", strerror(errno));
	return 0;
}

/* clang-format off */
static const char *const allowed[] = {
	/* the fds it has and the files it may read */
	"read", "write", "readv", "writev", "pread64", "close", "lseek",
	"fstat", "newfstatat", "stat", "lstat", "statx", "fcntl", "dup",
	"access", "faccessat", "faccessat2", "readlink", "readlinkat",
	"getdents64",
	/* the loop */
	"epoll_create1", "epoll_ctl", "epoll_wait", "epoll_pwait",
	"eventfd2", "pipe2", "poll", "ppoll", "select", "pselect6",
	/* memory; struct secret locks its pages */
	"brk", "mmap", "munmap", "mremap", "mprotect", "madvise", "mlock",
	"mlock2", "munlock",
	/* threads, signals, time */
	"futex", "set_robust_list", "rseq", "sched_yield",
	"sched_getaffinity", "exit", "exit_group", "rt_sigaction",
	"rt_sigprocmask", "rt_sigreturn", "sigaltstack", "restart_syscall",
	"clock_gettime", "clock_getres", "gettimeofday", "time",
	"clock_nanosleep", "nanosleep", "getrandom",
	/* who am I */
	"getpid", "gettid", "getppid", "getuid", "geteuid", "getgid",
	"getegid", "getresuid", "getresgid", "getgroups", "uname", "sysinfo",
	"getrlimit", "getrusage",
	/* the sockets socket() and socketpair() let it make */
	"connect", "bind", "getsockopt", "setsockopt", "getsockname",
	"getpeername", "sendto", "recvfrom", "sendmsg", "recvmsg",
	"sendmmsg", "recvmmsg", "shutdown",
	NULL,
};
/* clang-format on */

/* Whole comparisons: libseccomp's SCMP_A* macros leave datum_b to the
 * compiler, which clang warns about. */
static struct scmp_arg_cmp
arg_eq(unsigned arg, scmp_datum_t v)
{
	struct scmp_arg_cmp c = {
		.arg = arg, .op = SCMP_CMP_EQ, .datum_a = v, .datum_b = 0
	};

	return c;
}

/* ARG & MASK == WANT. */
static struct scmp_arg_cmp
arg_masked(unsigned arg, scmp_datum_t mask, scmp_datum_t want)
{
	struct scmp_arg_cmp c = { .arg = arg,
		.op = SCMP_CMP_MASKED_EQ,
		.datum_a = mask,
		.datum_b = want };

	return c;
}

/* Flags that open a file for anything but reading.  O_TMPFILE holds
 * O_DIRECTORY, which reading a directory needs (OpenSSL lists its
 * certificates directory): only its own bit is refused. */
#define OPEN_WRITING                                                           \
	(O_WRONLY | O_RDWR | O_CREAT | O_TRUNC | O_APPEND |                    \
	    (O_TMPFILE & ~O_DIRECTORY))

int
confine_seccomp(char *why, size_t size)
{
	static const unsigned long ioctls[] = { FIONBIO, FIOCLEX, FIONCLEX,
		FIONREAD, TCGETS };
	scmp_filter_ctx ctx;
	const char *what = "set up";
	size_t i;
	int r;

	if ((ctx = scmp_new(SCMP_ACT_ERRNO(EPERM))) == NULL)
		return why_fail(
		    why, size, -ENOMEM, "cannot create seccomp filter");
	if ((r = scmp_add_names(ctx, SCMP_ACT_ALLOW, allowed, &what)) < 0)
		goto out;
	what = "open";
	if ((r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(openat), 1,
		 arg_masked(2, OPEN_WRITING, 0))) < 0 ||
	    (r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(open), 1,
		 arg_masked(1, OPEN_WRITING, 0))) < 0 ||
	    (r = seccomp_rule_add(
		 ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(openat2), 0)) < 0)
		goto out;
	what = "socket";
	if ((r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1,
		 arg_eq(0, AF_INET))) < 0 ||
	    (r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1,
		 arg_eq(0, AF_INET6))) < 0 ||
	    (r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socketpair), 1,
		 arg_eq(0, AF_UNIX))) < 0)
		goto out;
	what = "clone";
	if ((r = seccomp_rule_add(
		 ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0)) < 0 ||
	    (r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(clone), 1,
		 arg_masked(0, CLONE_THREAD, CLONE_THREAD))) < 0)
		goto out;
	what = "prlimit64";
	/* Read a limit (pthread_create asks), never set one. */
	if ((r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(prlimit64), 1,
		 arg_eq(2, 0))) < 0)
		goto out;
	what = "tgkill";
	/* raise() and abort(): this very process only. */
	if ((r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(tgkill), 1,
		 arg_eq(0, (scmp_datum_t)getpid()))) < 0)
		goto out;
	what = "ioctl";
	for (i = 0; i < sizeof(ioctls) / sizeof(ioctls[0]); i++)
		if ((r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl),
			 1, arg_eq(1, ioctls[i]))) < 0)
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
