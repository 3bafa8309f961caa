/*
 * Unit tests of struct secret: copies, bounds, page alignment, locking
 * (and its graceful failure under RLIMIT_MEMLOCK) and exclusion from core
 * dumps, checked in /proc/self/smaps.
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

#include "secret.h"

/* AddressSanitizer replaces mlock() with a no-op that succeeds, so what
 * secret_is_locked() says cannot be checked under it. */
#if defined(__SANITIZE_ADDRESS__)
#define MLOCK_IS_REAL 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define MLOCK_IS_REAL 0
#endif
#endif
#ifndef MLOCK_IS_REAL
#define MLOCK_IS_REAL 1
#endif

static void
test_copy(void **state)
{
	struct secret *s = NULL, *t = NULL;
	char data[] = "hunter2\0with a NUL";

	(void)state;
	assert_int_equal(secret_new(data, sizeof(data), &s), 0);
	assert_int_equal(secret_len(s), sizeof(data));
	assert_memory_equal(secret_data(s), data, sizeof(data));
	/* A copy: changing the source does not change the secret. */
	data[0] = 'H';
	assert_int_equal(((const char *)secret_data(s))[0], 'h');
	assert_true((uintptr_t)secret_data(s) % (uintptr_t)getpagesize() == 0);

	assert_int_equal(secret_new(NULL, 5, &t), 0);
	assert_memory_equal(secret_data(t), "\0\0\0\0\0", 5);
	memcpy(secret_buf(t), "abcde", 5);
	assert_memory_equal(secret_data(t), "abcde", 5);
	secret_free(s);
	secret_free(t);
	secret_free(NULL);
}

static void
test_bounds(void **state)
{
	struct secret *s = NULL;
	size_t big = 3 * (size_t)getpagesize() + 1;

	(void)state;
	assert_int_equal(secret_new(NULL, 0, &s), 0);
	assert_int_equal(secret_len(s), 0);
	secret_free(s);
	assert_int_equal(secret_new(NULL, big, &s), 0);
	memset(secret_buf(s), 0xff, big);
	secret_free(s);
	assert_int_equal(secret_new(NULL, SECRET_MAX + 1, &s), -EINVAL);
	assert_null(s);
}

static void
test_equal(void **state)
{
	struct secret *a = NULL, *b = NULL, *c = NULL, *d = NULL;

	(void)state;
	assert_int_equal(secret_new("abc", 3, &a), 0);
	assert_int_equal(secret_new("abc", 3, &b), 0);
	assert_int_equal(secret_new("abd", 3, &c), 0);
	assert_int_equal(secret_new("ab", 2, &d), 0);
	assert_true(secret_equal(a, b));
	assert_false(secret_equal(a, c));
	assert_false(secret_equal(a, d));
	secret_free(a);
	secret_free(b);
	secret_free(c);
	secret_free(d);
}

/* The VmFlags of the mapping at ADDR, from /proc/self/smaps. */
static void
vmflags(const void *addr, char *buf, size_t size)
{
	char line[512];
	bool in = false;
	FILE *fp;

	buf[0] = '\0';
	fp = fopen("/proc/self/smaps", "re");
	assert_non_null(fp);
	while (fgets(line, sizeof(line), fp) != NULL) {
		unsigned long lo, hi;

		if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 &&
		    strchr(line, '-') < strchr(line, ' '))
			in = (uintptr_t)addr >= lo && (uintptr_t)addr < hi;
		else if (in && strncmp(line, "VmFlags:", 8) == 0) {
			snprintf(buf, size, "%.200s", line + 8);
			break;
		}
	}
	fclose(fp);
}

static void
test_dontdump_and_lock(void **state)
{
	struct secret *s = NULL;
	char flags[256];

	(void)state;
	assert_int_equal(secret_new("k", 1, &s), 0);
	vmflags(secret_data(s), flags, sizeof(flags));
	assert_non_null(strstr(flags, " dd")); /* MADV_DONTDUMP */
	if (MLOCK_IS_REAL && secret_is_locked(s))
		assert_non_null(strstr(flags, " lo")); /* VM_LOCKED */
	secret_free(s);
}

/* With no memory-lock allowance a secret still works, unlocked. */
static void
test_memlock_limit(void **state)
{
	struct rlimit rl = { 0, 0 };
	struct secret *s = NULL;
	int status;
	pid_t pid;

	(void)state;
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		/* Root ignores the limit: become nobody first. */
		if (setrlimit(RLIMIT_MEMLOCK, &rl) < 0 ||
		    (geteuid() == 0 && setuid(65534) < 0))
			_exit(2);
		if (secret_new("k", 1, &s) != 0)
			_exit(3);
		if ((MLOCK_IS_REAL && secret_is_locked(s)) ||
		    memcmp(secret_data(s), "k", 1) != 0)
			_exit(4);
		secret_free(s);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

/* A copy with a NUL after it, for C APIs; a NUL inside or nothing at all
 * is refused rather than cut short. */
static void
test_cstring(void **state)
{
	struct secret *s = NULL, *c = (struct secret *)1;

	(void)state;
	assert_int_equal(secret_cstring(NULL, &c), -EINVAL);
	assert_null(c);
	assert_int_equal(secret_new("pw", 2, &s), 0);
	assert_int_equal(secret_cstring(s, &c), 0);
	assert_int_equal(secret_len(c), 3);
	assert_memory_equal(secret_data(c), "pw", 3);
	secret_free(c);
	secret_free(s);
	assert_int_equal(secret_new("p\0w", 3, &s), 0);
	assert_int_equal(secret_cstring(s, &c), -EINVAL);
	assert_null(c);
	secret_free(s);
	assert_int_equal(secret_new(NULL, 0, &s), 0);
	assert_int_equal(secret_cstring(s, &c), -EINVAL);
	secret_free(s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_copy),
		cmocka_unit_test(test_bounds),
		cmocka_unit_test(test_equal),
		cmocka_unit_test(test_dontdump_and_lock),
		cmocka_unit_test(test_memlock_limit),
		cmocka_unit_test(test_cstring),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
