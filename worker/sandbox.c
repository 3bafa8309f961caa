/*
 * sandbox.c: rotad-worker locks itself down, in the order of sandbox.h,
 * before it reads a single byte of its request.
 *
 * Two layers confine what a provider can reach.  Landlock decides which
 * files may be read or executed (nothing may be written), and a seccomp
 * allow-list decides which system calls exist at all, with socket()
 * filtered by address family and clone() by flags.  Either alone would
 * leave a gap: seccomp cannot see paths, and Landlock does not cover
 * ptrace, namespaces, module loading and the like.
 *
 * Landlock is driven through raw system calls because Debian's headers
 * stop at ABI 2 while the kernels we run on have more; the newer rights
 * are defined here, and only those the running kernel's ABI knows are
 * handled (the kernel refuses a ruleset that names rights it does not
 * know).
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <dirent.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <asm/prctl.h>
#include <linux/capability.h>
#include <linux/landlock.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include <seccomp.h>

#include "config.h"
#include "catalog.h"
#include "privdrop.h"
#include "sandbox.h"
#include "scmp.h"
#include "why.h"

/* Landlock rights newer than Debian 12's <linux/landlock.h>. */
#define LL_FS_TRUNCATE (1ULL << 14)  /* ABI 3 */
#define LL_FS_IOCTL_DEV (1ULL << 15) /* ABI 5 */
#define LL_NET_BIND_TCP (1ULL << 0)  /* ABI 4 */
#define LL_NET_CONNECT_TCP (1ULL << 1)
#define LL_SCOPE_ABSTRACT_UNIX (1ULL << 0) /* ABI 6 */
#define LL_SCOPE_SIGNAL (1ULL << 1)
/* The newest ABI whose rights this file knows; a newer kernel is asked
 * for these only (its extra rights stay unhandled, i.e. allowed). */
#define LL_ABI_KNOWN 7

/* struct landlock_ruleset_attr as of ABI 6; the kernel accepts a larger
 * struct than it knows as long as the extra fields are zero. */
struct ll_ruleset_attr {
	uint64_t handled_access_fs;
	uint64_t handled_access_net;
	uint64_t scoped;
};

/* The rights that make sense on a file, as opposed to a directory: a rule
 * on a file naming any other right is refused with EINVAL. */
#define LL_FS_FILE_RIGHTS                                                      \
	(LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_WRITE_FILE |          \
	    LANDLOCK_ACCESS_FS_READ_FILE | LL_FS_TRUNCATE | LL_FS_IOCTL_DEV)
#define LL_READ (LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR)

/* A sanitizer's shadow memory needs terabytes of address space. */
#if defined(__SANITIZE_ADDRESS__)
#define SANDBOX_LIMIT_AS 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SANDBOX_LIMIT_AS 0
#endif
#endif
#ifndef SANDBOX_LIMIT_AS
#define SANDBOX_LIMIT_AS 1
#endif

#define SANDBOX_AS_BYTES (1024UL * 1024 * 1024)
#define SANDBOX_NOFILE 64
#define SANDBOX_CPU_DEFAULT 60

/*
 * What every worker may read: the loader and libraries (and the time
 * zones, under /usr), and of /etc only the files glibc and the libraries
 * linked in open for any provider, as strace shows them: never /etc
 * whole, where rotad.yaml, conf.d and often the master key live.  Each is
 * optional: a host without one loses nothing by its absence (a symbolic
 * link, /etc/localtime say, is followed to its target).
 */
static const char *const base_read_paths[] = {
	"/usr",
	"/lib",
	"/lib64",
	"/dev/urandom",
	"/etc/ld.so.cache",   /* the loader: where libraries are */
	"/etc/nsswitch.conf", /* NSS: where users and hosts come from */
	"/etc/passwd",        /* libpq's and scripts' user lookups */
	"/etc/group",         /* their group lookups */
	"/etc/localtime",     /* the local time zone */
	"/etc/gnutls/config", /* GnuTLS (under libpq's libldap) policy */
	NULL,
};

/*
 * What a worker that reaches the network (CATALOG_NEEDS_NET) reads
 * besides: the resolver's configuration for getaddrinfo(), and OpenSSL's
 * configuration and the system's certificates for TLS.
 */
static const char *const net_read_paths[] = {
	"/etc/hosts",
	"/etc/resolv.conf",
	"/etc/host.conf",
	"/etc/gai.conf",
	"/etc/services",  /* a port given by name */
	"/etc/protocols", /* getprotobyname() */
	"/etc/ssl",       /* openssl.cnf, certs/ (links into /usr) */
	NULL,
};

/* The ELF interpreter, which execve opens for execution too. */
static const char *const elf_interp_paths[] = {
	"/lib64/ld-linux-x86-64.so.2",
	"/usr/lib64/ld-linux-x86-64.so.2",
	"/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2",
	NULL,
};

/*
 * The seccomp allow-list, by name (resolved by libseccomp, so a name this
 * architecture lacks is skipped rather than a build error).  What glibc,
 * libpq and OpenSSL call was found by running the worker under strace.
 */
/* clang-format off */
static const char *const sys_base[] = {
	/* I/O on the fds it has and the files Landlock lets it open */
	"read", "write", "readv", "writev", "pread64", "close", "lseek",
	"open", "openat", "fstat", "newfstatat", "stat", "lstat", "statx",
	"fcntl", "dup", "dup3", "pipe2", "getdents64", "readlink",
	"readlinkat", "access", "faccessat", "faccessat2", "fadvise64",
	"poll", "ppoll", "select", "pselect6", "epoll_create1",
	"epoll_ctl", "epoll_wait", "epoll_pwait",
	/* memory; struct secret locks its pages (RLIMIT_MEMLOCK caps it) */
	"mmap", "munmap", "mprotect", "brk", "mremap", "madvise",
	"mlock", "mlock2", "munlock",
	/* signals, threads, time */
	"rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "rt_sigsuspend",
	"sigaltstack", "restart_syscall", "exit", "exit_group", "futex",
	"set_robust_list", "rseq", "sched_yield", "sched_getaffinity",
	"clock_gettime", "clock_getres", "gettimeofday", "time",
	"clock_nanosleep", "nanosleep", "getrandom",
	/* who am I */
	"getpid", "gettid", "getppid", "getuid", "geteuid", "getgid",
	"getegid", "getresuid", "getresgid", "getgroups", "uname",
	"sysinfo", "getrlimit", "getcwd", "getrusage",
	NULL,
};

/* Socket operations, for NEEDS_NET or NEEDS_UNIX (socket() itself is
 * filtered by family below). */
static const char *const sys_socket[] = {
	"connect", "getsockopt", "setsockopt", "getsockname", "getpeername",
	"sendto", "recvfrom", "sendmsg", "recvmsg", "sendmmsg", "recvmmsg",
	"shutdown",
	NULL,
};

/* The script runner: start the interpreter, feed it, wait for it.  The
 * exec'd interpreter inherits this filter, so the loader's and a shell's
 * needs are here too; but not setpgid() nor setsid(), so that nothing a
 * script starts leaves the step's process group, which ends with the
 * step (worker/forkserver.c).  A shell without job control calls
 * neither. */
static const char *const sys_exec[] = {
	"execve", "execveat", "fork", "vfork", "wait4", "waitid", "tgkill",
	"pipe", "dup2", "getpgid", "getpgrp", "getsid",
	"set_tid_address", "chdir", "fchdir", "umask", "times", "alarm",
	"pause", "rt_sigtimedwait",
	NULL,
};
/*
 * The worker template's own filter (sandbox_template_filter()): what
 * neither the template nor any of its children, of any profile, ever
 * calls, and what would matter most to code running as the template --
 * root or the daemon's uid with CAP_SETUID -- or as a child before its
 * own lock-down: other processes' memory, mounts and namespaces, the
 * kernel's modules, bpf, keyrings, raw devices and files by handle, the
 * clock, and io_uring (whose operations seccomp does not see).
 */
static const char *const sys_never[] = {
	"ptrace", "process_vm_readv", "process_vm_writev", "pidfd_getfd",
	"process_madvise", "kcmp",
	"mount", "umount2", "pivot_root", "chroot", "move_mount",
	"open_tree", "fsopen", "fsconfig", "fsmount", "fspick",
	"mount_setattr", "unshare", "setns",
	"init_module", "finit_module", "delete_module", "kexec_load",
	"kexec_file_load", "reboot", "swapon", "swapoff", "acct",
	"bpf", "perf_event_open", "userfaultfd", "lookup_dcookie",
	"keyctl", "add_key", "request_key",
	"mknod", "mknodat", "name_to_handle_at", "open_by_handle_at",
	"quotactl", "quotactl_fd", "fanotify_init", "syslog", "vhangup",
	"iopl", "ioperm", "uselib",
	"settimeofday", "clock_settime", "clock_adjtime", "adjtimex",
	"sethostname", "setdomainname",
	"io_uring_setup", "io_uring_enter", "io_uring_register",
	NULL,
};
/* clang-format on */

static int landlock_abi;

int
sandbox_landlock_abi(void)
{
	return landlock_abi;
}

/* Step 1.  close_range() first; kernels before 5.9 lack it, so fall back
 * to the fds /proc lists (collected first, since closing while reading
 * the directory would close the directory's own fd). */
int
sandbox_close_fds(char *why, size_t size)
{
	DIR *d;
	struct dirent *e;
	int fds[256], n = 0, i, dfd;
	long fd;
	char *end;

	if (close_range(3, ~0U, 0) == 0)
		return 0;
	for (;;) {
		d = opendir("/proc/self/fd");
		if (d == NULL)
			return why_fail(why, size, -errno,
			    "cannot list open file descriptors: %s",
			    strerror(errno));
		dfd = dirfd(d);
		n = 0;
		while ((e = readdir(d)) != NULL &&
		    n < (int)(sizeof(fds) / sizeof(fds[0]))) {
			fd = strtol(e->d_name, &end, 10);
			if (*end != '\0' || end == e->d_name || fd <= 2 ||
			    fd == dfd)
				continue;
			fds[n++] = (int)fd;
		}
		closedir(d);
		if (n == 0)
			return 0;
		for (i = 0; i < n; i++)
			close(fds[i]);
	}
}

/*
 * Step 2.  clearenv() only forgets the strings: they stay on the initial
 * stack, where /proc/PID/environ shows them.  So they are wiped first and,
 * while we are still root, the kernel's record of the area is shrunk to
 * nothing (PR_SET_MM needs CAP_SYS_RESOURCE; without it the area reads as
 * NUL bytes, which says nothing either).
 */
static int
clear_environment(char *why, size_t size)
{
	char *start = NULL, *end = NULL;
	size_t i, len;

	for (i = 0; environ != NULL && environ[i] != NULL; i++) {
		len = strlen(environ[i]) + 1;
		if (i == 0)
			start = environ[i];
		if (end != NULL && environ[i] != end)
			start = NULL; /* not the kernel's block: no PR_SET_MM */
		end = environ[i] + len;
		explicit_bzero(environ[i], len);
	}
	if (start != NULL && geteuid() == 0)
		(void)prctl(
		    PR_SET_MM, PR_SET_MM_ENV_END, (unsigned long)start, 0, 0);
	if (clearenv() != 0)
		return why_fail(
		    why, size, -ENOMEM, "cannot clear the environment");
	return 0;
}

/* Step 3. */
static int
set_limits(const struct sandbox_profile *p, char *why, size_t size)
{
	struct rlimit rl;
	rlim_t cpu = p->cpu_seconds != 0 ? p->cpu_seconds : SANDBOX_CPU_DEFAULT;

	rl.rlim_cur = rl.rlim_max = 0;
	if (setrlimit(RLIMIT_CORE, &rl) < 0)
		goto err;
	rl.rlim_cur = rl.rlim_max = SANDBOX_NOFILE;
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
		goto err;
	if (SANDBOX_LIMIT_AS) {
		rl.rlim_cur = rl.rlim_max = SANDBOX_AS_BYTES;
		if (setrlimit(RLIMIT_AS, &rl) < 0)
			goto err;
	}
	/* SIGXCPU at the soft limit, SIGKILL a little later. */
	rl.rlim_cur = cpu;
	rl.rlim_max = cpu + 5;
	if (setrlimit(RLIMIT_CPU, &rl) < 0)
		goto err;
	return 0;
err:
	return why_fail(why, size, -errno, "cannot set resource limits: %s",
	    strerror(errno));
}

/* Step 7: the rights each ABI handles. */
static uint64_t
ll_fs_rights(int abi)
{
	uint64_t r = (LANDLOCK_ACCESS_FS_MAKE_SYM << 1) - 1; /* ABI 1 */

	if (abi >= 2)
		r |= LANDLOCK_ACCESS_FS_REFER;
	if (abi >= 3)
		r |= LL_FS_TRUNCATE;
	if (abi >= 5)
		r |= LL_FS_IOCTL_DEV;
	return r;
}

/* Allow ACCESS beneath PATH (masked to the handled rights, and to file
 * rights when PATH is a file).  A path that does not exist is skipped
 * unless REQUIRED: /lib64 may be absent, but a CA file, a read path or an
 * exec path that was asked for may not. */
static int
ll_allow(int rfd, const char *path, uint64_t access, uint64_t handled,
    bool required, char *why, size_t size)
{
	struct landlock_path_beneath_attr pb;
	struct stat st;
	int fd, r = 0;

	fd = open(path, O_PATH | O_CLOEXEC);
	if (fd < 0) {
		if (!required && (errno == ENOENT || errno == ENOTDIR))
			return 0;
		return why_fail(why, size, -errno,
		    "cannot open %s for Landlock: %s", path, strerror(errno));
	}
	if (fstat(fd, &st) < 0) {
		r = why_fail(why, size, -errno, "cannot stat %s: %s", path,
		    strerror(errno));
		goto out;
	}
	memset(&pb, 0, sizeof(pb));
	pb.allowed_access = access & handled;
	if (!S_ISDIR(st.st_mode))
		pb.allowed_access &= LL_FS_FILE_RIGHTS;
	pb.parent_fd = fd;
	if (pb.allowed_access != 0 &&
	    syscall(SYS_landlock_add_rule, rfd, LANDLOCK_RULE_PATH_BENEATH, &pb,
		0) < 0)
		r = why_fail(why, size, -errno,
		    "cannot add Landlock rule for %s: %s", path,
		    strerror(errno));
out:
	close(fd);
	return r;
}

static int
ll_allow_list(int rfd, const char *const *paths, uint64_t access,
    uint64_t handled, bool required, char *why, size_t size)
{
	int r;

	for (; paths != NULL && *paths != NULL; paths++)
		if ((r = ll_allow(rfd, *paths, access, handled, required, why,
			 size)) < 0)
			return r;
	return 0;
}

/*
 * A script executed directly makes the kernel open its "#!" interpreter
 * for execution too, so the interpreter of each exec path that is a
 * script is allowed as well (one level, as written: "#!/usr/bin/env x"
 * allows env, not x).  A file we cannot read is skipped: its execve
 * would fail the same way.
 */
static int
allow_shebangs(int rfd, const char *const *paths, uint64_t access,
    uint64_t handled, char *why, size_t size)
{
	char line[256], *interp, *end;
	ssize_t n;
	int fd, r;

	for (; paths != NULL && *paths != NULL; paths++) {
		fd = open(*paths, O_RDONLY | O_CLOEXEC | O_NOCTTY);
		if (fd < 0)
			continue;
		n = read(fd, line, sizeof(line) - 1);
		close(fd);
		if (n < 3 || line[0] != '#' || line[1] != '!')
			continue;
		line[n] = '\0';
		interp = line + 2 + strspn(line + 2, " \t");
		end = interp + strcspn(interp, " \t\n");
		*end = '\0';
		if (*interp != '/')
			continue;
		if ((r = ll_allow(
			 rfd, interp, access, handled, false, why, size)) < 0)
			return r;
	}
	return 0;
}

/*
 * Step 7.  Reads as the profile says, executes only the exec paths and
 * the ELF interpreter, writes only /dev/null; no TCP bind, and TCP
 * connect only for NEEDS_NET (the port is not known yet: seccomp and
 * the provider decide the rest); signals and abstract unix sockets only
 * within the worker's own domain.
 */
static int
confine_files(const struct sandbox_profile *p, char *why, size_t size)
{
	struct ll_ruleset_attr attr;
	uint64_t fs, read = LL_READ, exec;
	int abi, rfd = -1, r = 0;

	abi = (int)syscall(SYS_landlock_create_ruleset, NULL, 0,
	    LANDLOCK_CREATE_RULESET_VERSION);
	if (abi < 0) {
		if (errno == ENOSYS || errno == EOPNOTSUPP) {
			/* Told to the daemon in the facts, and logged. */
			landlock_abi = 0;
			fprintf(stderr,
			    "rotad-worker: Landlock is not "
			    "available; the file system is not "
			    "confined\n");
			return 0;
		}
		return why_fail(why, size, -errno, "cannot query Landlock: %s",
		    strerror(errno));
	}
	if (abi > LL_ABI_KNOWN)
		abi = LL_ABI_KNOWN;
	landlock_abi = abi;

	memset(&attr, 0, sizeof(attr));
	fs = attr.handled_access_fs = ll_fs_rights(abi);
	if (abi >= 4) {
		attr.handled_access_net = LL_NET_BIND_TCP;
		if (!(p->needs & CATALOG_NEEDS_NET))
			attr.handled_access_net |= LL_NET_CONNECT_TCP;
	}
	if (abi >= 6)
		attr.scoped = LL_SCOPE_ABSTRACT_UNIX | LL_SCOPE_SIGNAL;
	rfd = (int)syscall(SYS_landlock_create_ruleset, &attr, sizeof(attr), 0);
	if (rfd < 0)
		return why_fail(why, size, -errno,
		    "cannot create Landlock ruleset: %s", strerror(errno));

	if ((r = ll_allow_list(
		 rfd, base_read_paths, read, fs, false, why, size)) < 0)
		goto out;
	if (p->needs & CATALOG_NEEDS_NET &&
	    (r = ll_allow_list(
		 rfd, net_read_paths, read, fs, false, why, size)) < 0)
		goto out;
	if ((r = ll_allow(rfd, "/dev/null",
		 read | LANDLOCK_ACCESS_FS_WRITE_FILE, fs, true, why, size)) <
	    0)
		goto out;
	/* Optional, and bound to this process's own /proc entry. */
	(void)ll_allow(rfd, "/proc/self", read, fs, false, NULL, 0);
	if (p->tls_ca_file != NULL &&
	    (r = ll_allow(rfd, p->tls_ca_file, read, fs, true, why, size)) < 0)
		goto out;
	if ((r = ll_allow_list(rfd, p->read_paths, read, fs, true, why, size)) <
	    0)
		goto out;
	if (p->needs & CATALOG_NEEDS_EXEC) {
		exec =
		    LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_READ_FILE;
		if ((r = ll_allow_list(
			 rfd, p->exec_paths, exec, fs, true, why, size)) < 0 ||
		    (r = ll_allow_list(rfd, elf_interp_paths, exec, fs, false,
			 why, size)) < 0 ||
		    (r = allow_shebangs(
			 rfd, p->exec_paths, exec, fs, why, size)) < 0)
			goto out;
	}
	if (syscall(SYS_landlock_restrict_self, rfd, 0) < 0)
		r = why_fail(why, size, -errno, "cannot enforce Landlock: %s",
		    strerror(errno));
out:
	close(rfd);
	return r;
}

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

/* ARG & MASK == 0. */
static struct scmp_arg_cmp
arg_masked_zero(unsigned arg, scmp_datum_t mask)
{
	struct scmp_arg_cmp c = { .arg = arg,
		.op = SCMP_CMP_MASKED_EQ,
		.datum_a = mask,
		.datum_b = 0 };

	return c;
}

static int
allow_names(scmp_filter_ctx ctx, const char *const *names)
{
	const char *failed;

	return scmp_add_names(ctx, SCMP_ACT_ALLOW, names, &failed);
}

/*
 * The provider's extra system calls must all exist.  Unlike the base
 * lists, which name calls some architectures lack and skip those, these
 * were asked for by one provider: a name that does not resolve is a
 * mistake in its catalog entry, refused before anything changes.
 */
static int
check_extra(const char *const *names, char *why, size_t size)
{
	for (; names != NULL && *names != NULL; names++)
		if (seccomp_syscall_resolve_name(*names) == __NR_SCMP_ERROR)
			return why_fail(why, size, -EINVAL,
			    "unknown system call %s in the provider's "
			    "profile",
			    *names);
	return 0;
}

/* Load CTX unless building it failed (R < 0), and release it; WHOSE
 * names the filter in WHY. */
static int
filter_load(
    scmp_filter_ctx ctx, int r, const char *whose, char *why, size_t size)
{
	const char *what = "set up";

	if (r >= 0) {
		what = "load";
		r = seccomp_load(ctx);
	}
	seccomp_release(ctx);
	if (r < 0)
		return why_fail(why, size, r, "cannot %s %s seccomp filter: %s",
		    what, whose, strerror(-r));
	return 0;
}

/* Namespace flags clone() must not carry. */
#define CLONE_NEW_ANY                                                          \
	(CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC |         \
	    CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET)

/*
 * Step 8.  Anything not listed fails with EPERM, which libraries handle
 * as an ordinary error (a KILL would leave no answer to read); ptrace,
 * mount, namespaces, module loading, bpf, keyrings, setuid and the rest
 * are simply absent from the list.  clone3 answers ENOSYS because its
 * flags live in memory seccomp cannot read: glibc then falls back to
 * clone(), whose flags it can.
 */
static int
filter_syscalls(const struct sandbox_profile *p, char *why, size_t size)
{
	scmp_filter_ctx ctx;
	int r;

	ctx = scmp_new(SCMP_ACT_ERRNO(EPERM));
	if (ctx == NULL)
		return why_fail(
		    why, size, -ENOMEM, "cannot create seccomp filter");
	if ((r = allow_names(ctx, sys_base)) < 0)
		goto out;
	/* Read a limit, never set one. */
	if ((r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(prlimit64), 1,
		 arg_eq(2, 0))) < 0)
		goto out;
	/* raise() and abort() signal only this very process. */
	if (!(p->needs & CATALOG_NEEDS_EXEC) &&
	    (r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(tgkill), 1,
		 arg_eq(0, (scmp_datum_t)getpid()))) < 0)
		goto out;
	/* Asking is harmless; setting anything is not allowed. */
	if ((r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(prctl), 1,
		 arg_eq(0, PR_GET_DUMPABLE))) < 0)
		goto out;
	/* Terminal and byte-count queries only. */
	static const unsigned long ioctls[] = { TCGETS, TIOCGWINSZ, FIONREAD,
		FIONBIO, FIOCLEX, FIONCLEX };
	for (size_t i = 0; i < sizeof(ioctls) / sizeof(ioctls[0]); i++)
		if ((r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl),
			 1, arg_eq(1, ioctls[i]))) < 0)
			goto out;

	if (p->needs & (CATALOG_NEEDS_NET | CATALOG_NEEDS_UNIX) &&
	    (r = allow_names(ctx, sys_socket)) < 0)
		goto out;
	if (p->needs & CATALOG_NEEDS_NET &&
	    ((r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1,
		  arg_eq(0, AF_INET))) < 0 ||
		(r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1,
		     arg_eq(0, AF_INET6))) < 0))
		goto out;
	if (p->needs & CATALOG_NEEDS_UNIX &&
	    (r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1,
		 arg_eq(0, AF_UNIX))) < 0)
		goto out;

	if (p->needs & CATALOG_NEEDS_EXEC) {
		if ((r = allow_names(ctx, sys_exec)) < 0)
			goto out;
		if ((r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(clone),
			 1, arg_masked_zero(0, CLONE_NEW_ANY))) < 0)
			goto out;
		if ((r = seccomp_rule_add(
			 ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0)) < 0)
			goto out;
		/* A process or the step's own group (pid 0), never every
		 * process (pid -1) or another group: the sign bit of the
		 * pid must be clear. */
		if ((r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(kill),
			 1, arg_masked_zero(0, 0x80000000U))) < 0)
			goto out;
		/* A script's parent-death signal, set before its exec
		 * (providers/script.c): SIGKILL and nothing else. */
		if ((r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(prctl),
			 2, arg_eq(0, PR_SET_PDEATHSIG), arg_eq(1, SIGKILL))) <
		    0)
			goto out;
		/* The loader sets the thread pointer of what it starts. */
		if ((r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW,
			 SCMP_SYS(arch_prctl), 1, arg_eq(0, ARCH_SET_FS))) < 0)
			goto out;
	}

	/* Checked by sandbox_enter(): every name resolves. */
	if (p->syscalls != NULL)
		r = allow_names(ctx, p->syscalls);
out:
	return filter_load(ctx, r, "the", why, size);
}

/*
 * A deny-list, not an allow-list: every child inherits it under its own
 * filter, so it must let through all that any child does before and
 * after it locks down (the setuid family, Landlock, seccomp, the script
 * profile's exec).  EPERM, as the workers' own filter answers, since
 * where both filters answer an error the kernel returns the smaller
 * errno: a KILL here would kill a worker whose library only asks (a
 * Kerberos library trying a keyring), where its own filter says EPERM.
 */
int
sandbox_template_filter(char *why, size_t size)
{
	scmp_filter_ctx ctx;
	const char *failed;
	int r;

	ctx = scmp_new(SCMP_ACT_ALLOW);
	if (ctx == NULL)
		return why_fail(
		    why, size, -ENOMEM, "cannot create seccomp filter");
	/* Some are absent on some architectures: nothing to deny. */
	r = scmp_add_names(ctx, SCMP_ACT_ERRNO(EPERM), sys_never, &failed);
	return filter_load(ctx, r, "the template's", why, size);
}

int
sandbox_enter(const struct sandbox_profile *p, char *why, size_t size)
{
	const char *user = p->user != NULL ? p->user : SANDBOX_USER_DEFAULT;
	struct passwd *pw;
	uid_t uid;
	gid_t gid;
	pid_t parent = getppid();
	int r, pdeath = 0;

	/* A profile that cannot be built is refused before step 1. */
	if ((r = check_extra(p->syscalls, why, size)) < 0)
		return r;
	/* NSS needs its files: look the user up before anything closes.
	 * Whoever started us, we end up as this user or not at all. */
	errno = 0;
	pw = getpwnam(user);
	if (pw == NULL)
		return why_fail(why, size, errno != 0 ? -errno : -ESRCH,
		    "unknown service user %s", user);
	uid = pw->pw_uid;
	gid = pw->pw_gid;
	/* A change of ids clears the parent-death signal: keep it. */
	(void)prctl(PR_GET_PDEATHSIG, &pdeath, 0, 0, 0);

	if ((r = sandbox_close_fds(why, size)) < 0) /* 1 */
		return r;
	if ((r = clear_environment(why, size)) < 0) /* 2 */
		return r;
	if ((r = set_limits(p, why, size)) < 0) /* 3 */
		return r;
	/* 4: common/privdrop.c, shared with rotad-deliver. */
	if ((r = privdrop_become("worker user", user, uid, gid,
		 " (a non-root rotad needs them as ambient capabilities: "
		 "AmbientCapabilities=CAP_SETUID CAP_SETGID CAP_KILL)",
		 why, size)) < 0)
		return r;
	if (pdeath != 0 &&
	    (prctl(PR_SET_PDEATHSIG, pdeath, 0, 0, 0) < 0 ||
		getppid() != parent))
		return why_fail(why, size, -ESRCH,
		    "the daemon went away while the worker started");
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0) /* 5 */
		return why_fail(why, size, -errno, "cannot clear dumpable: %s",
		    strerror(errno));
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) /* 6 */
		return why_fail(why, size, -errno,
		    "cannot set no_new_privs: %s", strerror(errno));
	if ((r = confine_files(p, why, size)) < 0) /* 7 */
		return r;
	return filter_syscalls(p, why, size); /* 8 */
}
