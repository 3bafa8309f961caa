/*
 * Unit tests of the sandbox's extra system calls (a catalog entry's
 * sandbox.syscalls): a name libseccomp does not know is refused before
 * anything changes, and a known one is allowed on top of the base list
 * while what is not listed still fails with EPERM.  And of the switch to
 * the worker user from a non-root uid: with CAP_SETUID and CAP_SETGID
 * (a non-root daemon's ambient capabilities) it happens and leaves no
 * capability; without them a worker refuses to run unless it is that
 * user already.  And of the worker template's own filter, under which
 * a worker's loads.  Each lock-down runs in a forked child, which reports by
 * its exit status and leaves with _exit(): a sanitizer's exit-time work
 * would need calls the filter refuses.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <grp.h>
#include <pwd.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/capability.h>

#include <cmocka.h>

#include "sandbox.h"

/* getpriority: harmless, and in none of sandbox.c's lists. */
#define EXTRA "getpriority"

/* Lock down with EXTRA_CALLS, then try getpriority(); the exit status:
 * 0 it worked, 1 EPERM, 2 another error, 3 the sandbox failed. */
static int
child_status(const char *const *extra_calls)
{
	struct sandbox_profile prof;
	char why[256];
	int status;
	pid_t pid;

	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		memset(&prof, 0, sizeof(prof));
		prof.syscalls = extra_calls;
		/* Root switches to nobody; anyone else is the user already. */
		prof.user =
		    geteuid() == 0 ? "nobody" : getpwuid(geteuid())->pw_name;
		if (sandbox_enter(&prof, why, sizeof(why)) < 0) {
			fprintf(stderr, "# sandbox: %s\n", why);
			_exit(3);
		}
		errno = 0;
		if (getpriority(PRIO_PROCESS, 0) == -1 && errno != 0)
			_exit(errno == EPERM ? 1 : 2);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	return WEXITSTATUS(status);
}

static void
test_unknown_name_refused(void **state)
{
	static const char *const calls[] = { EXTRA, "no_such_call", NULL };
	struct sandbox_profile prof;
	char why[256];

	(void)state;
	/* Refused before step 1: safe to try in this very process. */
	memset(&prof, 0, sizeof(prof));
	prof.syscalls = calls;
	assert_int_equal(sandbox_enter(&prof, why, sizeof(why)), -EINVAL);
	assert_non_null(strstr(why, "no_such_call"));
	/* Nothing changed here: no filter refuses what was allowed. */
	errno = 0;
	assert_false(getpriority(PRIO_PROCESS, 0) == -1 && errno == EPERM);
}

static void
test_extra_allowed(void **state)
{
	static const char *const calls[] = { EXTRA, NULL };

	(void)state;
	assert_int_equal(child_status(NULL), 1);
	assert_int_equal(child_status(calls), 0);
}

/*
 * The worker template's filter, in a forked child: unshare(0), which
 * any process may make without it, and io_uring_setup() are refused with
 * EPERM; what it does not list works; and a worker's own filter loads
 * over it, its extra call allowed.  The exit status: 0 all as said; 1-6
 * the step that went wrong.
 */
static int
template_child(void)
{
	static const char *const calls[] = { EXTRA, NULL };
	struct sandbox_profile prof;
	char why[256];

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
	    sandbox_template_filter(why, sizeof(why)) < 0)
		return 1;
	errno = 0;
	if (syscall(SYS_unshare, 0) != -1 || errno != EPERM)
		return 2;
	errno = 0;
	if (syscall(SYS_io_uring_setup, 1, NULL) != -1 || errno != EPERM)
		return 3;
	errno = 0;
	if (getpriority(PRIO_PROCESS, 0) == -1 && errno != 0)
		return 4;
	memset(&prof, 0, sizeof(prof));
	prof.syscalls = calls;
	prof.user = geteuid() == 0 ? "nobody" : getpwuid(geteuid())->pw_name;
	if (sandbox_enter(&prof, why, sizeof(why)) < 0) {
		fprintf(stderr, "# sandbox: %s\n", why);
		return 5;
	}
	errno = 0;
	if (getpriority(PRIO_PROCESS, 0) == -1 && errno != 0)
		return 6;
	return 0;
}

static void
test_template_filter(void **state)
{
	int status;
	pid_t pid;

	(void)state;
	/* Without the filter unshare(0) works: the test means something. */
	assert_int_equal(syscall(SYS_unshare, 0), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(template_child());
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

/* A non-root user other than nobody, for the switches below. */
static const struct passwd *
other_user(void)
{
	static struct passwd copy;
	static char name[64];
	struct passwd *pw = getpwnam("daemon");

	if (pw == NULL || pw->pw_uid == 0 || pw->pw_gid == 0)
		return NULL;
	/* The name too: the next getpwnam() reuses libc's buffer. */
	copy = *pw;
	snprintf(name, sizeof(name), "%s", pw->pw_name);
	copy.pw_name = name;
	return &copy;
}

/* Become UID with only CAP_SETUID and CAP_SETGID, in every set but the
 * bounding one, as systemd's AmbientCapabilities= leaves a non-root
 * daemon (WITH_CAPS), or with no capability at all.  0, or -1. */
static int
become(uid_t uid, gid_t gid, bool with_caps)
{
	struct __user_cap_header_struct h = {
		.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0
	};
	struct __user_cap_data_struct data[2];
	const unsigned set = (1U << CAP_SETUID) | (1U << CAP_SETGID);

	if (prctl(PR_SET_KEEPCAPS, with_caps ? 1 : 0, 0, 0, 0) < 0 ||
	    setgroups(0, NULL) < 0 || setresgid(gid, gid, gid) < 0 ||
	    setresuid(uid, uid, uid) < 0)
		return -1;
	if (!with_caps)
		return 0;
	memset(data, 0, sizeof(data));
	data[0].effective = data[0].permitted = data[0].inheritable = set;
	if (syscall(SYS_capset, &h, data) < 0 ||
	    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_SETUID, 0, 0) < 0 ||
	    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_SETGID, 0, 0) < 0)
		return -1;
	return 0;
}

/* Whether /proc/self/status shows no capability in the permitted,
 * effective, inheritable and ambient sets. */
static bool
no_caps_left(void)
{
	char line[256];
	unsigned long long v;
	int zero = 0;
	FILE *f = fopen("/proc/self/status", "r");

	if (f == NULL)
		return false;
	while (fgets(line, sizeof(line), f) != NULL)
		if ((sscanf(line, "CapInh: %llx", &v) == 1 ||
			sscanf(line, "CapPrm: %llx", &v) == 1 ||
			sscanf(line, "CapEff: %llx", &v) == 1 ||
			sscanf(line, "CapAmb: %llx", &v) == 1) &&
		    v == 0)
			zero++;
	fclose(f);
	return zero == 4;
}

/*
 * In a child: become FROM (with or without the two capabilities), then
 * lock down as worker user TO.  Exit status: 0 locked down as TO with no
 * capability left, 1 refused with "CAP_SETUID" in the reason, 2 refused
 * otherwise, 3 locked down but not as TO or with a capability, 4 the set-up
 * failed.
 */
static int
switch_status(const struct passwd *from, bool with_caps, const char *to)
{
	struct sandbox_profile prof;
	struct passwd *pw = getpwnam(to);
	char why[512];
	uid_t ru, eu, su, want;
	int status;
	pid_t pid;

	assert_non_null(pw);
	want = pw->pw_uid;
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (become(from->pw_uid, from->pw_gid, with_caps) < 0)
			_exit(4);
		memset(&prof, 0, sizeof(prof));
		prof.user = to;
		if (sandbox_enter(&prof, why, sizeof(why)) < 0) {
			fprintf(stderr, "# sandbox: %s\n", why);
			_exit(strstr(why, "CAP_SETUID") != NULL ? 1 : 2);
		}
		if (getresuid(&ru, &eu, &su) < 0 || ru != want || eu != want ||
		    su != want || !no_caps_left())
			_exit(3);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	return WEXITSTATUS(status);
}

static void
test_switch_with_caps(void **state)
{
	const struct passwd *from = other_user();

	(void)state;
	if (geteuid() != 0 || from == NULL)
		skip();
	assert_int_equal(switch_status(from, true, "nobody"), 0);
}

static void
test_no_switch_without_caps(void **state)
{
	const struct passwd *from = other_user();

	(void)state;
	if (geteuid() != 0 || from == NULL)
		skip();
	/* Never run as the uid that started us... */
	assert_int_equal(switch_status(from, false, "nobody"), 1);
	/* ...unless that is the worker user already. */
	assert_int_equal(switch_status(from, false, from->pw_name), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_unknown_name_refused),
		cmocka_unit_test(test_extra_allowed),
		cmocka_unit_test(test_template_filter),
		cmocka_unit_test(test_switch_with_caps),
		cmocka_unit_test(test_no_switch_without_caps),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
