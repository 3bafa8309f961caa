/*
 * Unit tests of struct secret: copies, bounds, page alignment, locking
 * (and its graceful failure under RLIMIT_MEMLOCK) and exclusion from core
 * dumps, checked in /proc/self/smaps; the pool of freed pages (reuse,
 * its bound, a fork, threads).
 */
#include <errno.h>
#include <pthread.h>
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

/* A new secret holding DATA; the case is skipped when it is not locked
 * (RLIMIT_MEMLOCK): the pool keeps locked pages only. */
static struct secret *
locked_secret(const char *data)
{
	struct secret *s = NULL;

	assert_int_equal(secret_new(data, strlen(data), &s), 0);
	if (!secret_is_locked(s)) {
		secret_free(s);
		skip();
	}
	return s;
}

/* Child PID exited 0. */
static void
wait_clean(pid_t pid)
{
	int status;

	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

/* With no memory-lock allowance a secret still works, unlocked. */
static void
test_memlock_limit(void **state)
{
	struct rlimit rl = { 0, 0 };
	struct secret *s = NULL;
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
	wait_clean(pid);
}

/* A freed small secret's page serves the next one, zeroed; a larger one
 * is its own mapping. */
static void
test_pool_reuse(void **state)
{
	struct secret *a, *b = NULL, *big = NULL;
	const unsigned char *p;
	unsigned char zero[64] = { 0 };

	(void)state;
	a = locked_secret("pool-secret-one");
	p = secret_data(a);
	memset(secret_buf(a), 0x5a, 64); /* past len: wiped all the same */
	secret_free(a);
	assert_int_equal(secret_new(NULL, 10, &b), 0);
	assert_ptr_equal(secret_data(b), p);
	assert_true(secret_is_locked(b));
	assert_memory_equal(secret_data(b), zero, sizeof(zero));
	assert_int_equal(secret_new(NULL, 5000, &big), 0);
	assert_ptr_not_equal(secret_data(big), p);
	secret_free(b);
	secret_free(big);
}

/* The kB of locked memory, from /proc/self/status. */
static long
vmlck_kb(void)
{
	char line[128];
	long kb = -1;
	FILE *f = fopen("/proc/self/status", "r");

	assert_non_null(f);
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "VmLck: %ld kB", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

/* Of 100 one-page secrets freed, the pool keeps exactly 32 pages, still
 * locked, and gives the other 68 back (unlocked, unmapped). */
static void
test_pool_bounded(void **state)
{
	struct secret *v[100];
	long page = sysconf(_SC_PAGESIZE) / 1024;
	long held, after;
	size_t i;

	(void)state;
	if (!MLOCK_IS_REAL)
		skip();
	for (i = 0; i < 100; i++)
		assert_int_equal(secret_new("x", 1, &v[i]), 0);
	if (!secret_is_locked(v[0])) {
		for (i = 0; i < 100; i++)
			secret_free(v[i]);
		skip();
	}
	/* Every page of the pool is in use now: none is counted twice. */
	held = vmlck_kb();
	for (i = 0; i < 100; i++)
		secret_free(v[i]);
	after = vmlck_kb();
	assert_int_equal(held - after, 68 * page);
}

/* A fork does not reuse its parent's pooled pages, which the kernel
 * did not lock in it: its secrets are locked pages of its own; and a
 * secret it inherited does not go into its pool when it frees it. */
static void
test_pool_fork(void **state)
{
	struct secret *a, *b = NULL, *c = NULL;
	const void *p;
	pid_t pid;

	(void)state;
	a = locked_secret("k");
	p = secret_data(a);
	secret_free(a); /* into the pool */
	assert_int_equal(secret_new("inherited", 9, &c), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		char flags[256];
		struct secret *d = NULL;

		if (secret_new("k", 1, &b) != 0 || secret_data(b) == p)
			_exit(3);
		vmflags(secret_data(b), flags, sizeof(flags));
		if (MLOCK_IS_REAL && strstr(flags, " lo") == NULL)
			_exit(4);
		/* What it inherited is not locked here: not pooled, so the
		 * next secret is a page locked here too. */
		secret_free(c);
		if (secret_new("m", 1, &d) != 0)
			_exit(5);
		vmflags(secret_data(d), flags, sizeof(flags));
		_exit(MLOCK_IS_REAL && strstr(flags, " lo") == NULL ? 6 : 0);
	}
	secret_free(c);
	wait_clean(pid);
}

/* Secrets made and freed on several threads at once keep their own
 * bytes. */
#define THREADS 4
static void *
churn(void *arg)
{
	unsigned char mark = (unsigned char)(uintptr_t)arg, buf[32];
	struct secret *v[16];
	int round, i;

	memset(buf, mark, sizeof(buf));
	for (round = 0; round < 500; round++) {
		for (i = 0; i < 16; i++)
			if (secret_new(buf, sizeof(buf), &v[i]) != 0)
				return (void *)1;
		for (i = 0; i < 16; i++) {
			if (memcmp(secret_data(v[i]), buf, sizeof(buf)) != 0)
				return (void *)2;
			secret_free(v[i]);
		}
	}
	return NULL;
}

static void
test_pool_threads(void **state)
{
	pthread_t t[THREADS];
	void *res;
	int i;

	(void)state;
	for (i = 0; i < THREADS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, churn,
				     (void *)(uintptr_t)(i + 1)),
		    0);
	for (i = 0; i < THREADS; i++) {
		assert_int_equal(pthread_join(t[i], &res), 0);
		assert_null(res);
	}
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
		cmocka_unit_test(test_pool_reuse),
		cmocka_unit_test(test_pool_bounded),
		cmocka_unit_test(test_pool_fork),
		cmocka_unit_test(test_pool_threads),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
