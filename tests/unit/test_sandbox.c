/*
 * Unit tests of the sandbox's extra system calls (a catalog entry's
 * sandbox.syscalls): a name libseccomp does not know is refused before
 * anything changes, and a known one is allowed on top of the base list
 * while what is not listed still fails with EPERM.  Each lock-down runs
 * in a forked child, which reports by its exit status and leaves with
 * _exit(): a sanitizer's exit-time work would need calls the filter
 * refuses.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

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
		prof.user = "nobody"; /* when root */
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

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_unknown_name_refused),
		cmocka_unit_test(test_extra_allowed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
