/*
 * test_maps: reading /proc/PID/maps lines (common/maps.c), as the worker
 * template and rotad-deliver read their own to learn that a library they
 * run was upgraded: lines the kernel writes, for code replaced and code
 * not, and lines that are not of that form; and this process's own maps,
 * where nothing is replaced, then a copy of a library this test maps and
 * unlinks.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "maps.h"

#define LIB "/usr/lib/x86_64-linux-gnu/libssl.so.3"
#define PAD "                    "

static int
replaced(const char *line, char *path, size_t size)
{
	memset(path, 'x', size);
	return maps_replaced(line, path, size);
}

/* Lines that are not of the kernel's form, each but for one thing. */
static const char *const malformed[] = {
	"1-2 r-xp 0 08:01 /x (deleted)",
	"1 r-xp 0 08:01 7 /x (deleted)",
	"1-2 r-xpq 0 08:01 7 /x (deleted)",
	"1-2 r-x 0 08:01 7 /x (deleted)",
	"1-2 r-xp 0 0801 7 /x (deleted)",
	"1-2 r-xp 0 08:01 0 /x (deleted)",
	"1-2 r-xp 0 08:01 7 x (deleted)",
	"1-2 r-xp 0 08:01 7a /x (deleted)",
	"",
};

static void
test_lines(void **state)
{
	char path[256];
	size_t i;

	(void)state;
	/* Code of an unlinked file: its path without the suffix, with or
	 * without the newline. */
	assert_int_equal(replaced("7f5c79c00000-7f5c79c28000 r-xp 00028000 "
				  "08:01 1835046" PAD LIB " (deleted)\n",
			     path, sizeof(path)),
	    1);
	assert_string_equal(path, LIB);
	assert_int_equal(replaced("7f5c79c00000-7f5c79c28000 r-xp 00028000 "
				  "fd:00 9" PAD "/opt/a b/c.so (deleted)",
			     path, sizeof(path)),
	    1);
	assert_string_equal(path, "/opt/a b/c.so");
	/* Cut short to the buffer. */
	assert_int_equal(
	    replaced("1-2 r-xp 0 08:01 7 " LIB " (deleted)", path, 8), 1);
	assert_string_equal(path, "/usr/li");

	/* The same file current; its data, not code; a memfd; anonymous
	 * memory; the vDSO; a name that only ends in "(deleted)". */
	assert_int_equal(replaced("7f5c79c00000-7f5c79c28000 r-xp 00028000 "
				  "08:01 1835046" PAD LIB "\n",
			     path, sizeof(path)),
	    0);
	assert_int_equal(replaced("7f5c79c00000-7f5c79c28000 rw-p 00028000 "
				  "08:01 1835046" PAD LIB " (deleted)\n",
			     path, sizeof(path)),
	    0);
	assert_int_equal(replaced("7f0000000000-7f0000001000 r-xs 00000000 "
				  "00:01 2050" PAD "/memfd:jit (deleted)\n",
			     path, sizeof(path)),
	    0);
	assert_int_equal(replaced("7f5c79c00000-7f5c79c28000 r-xp 00000000 "
				  "00:00 0 \n",
			     path, sizeof(path)),
	    0);
	assert_int_equal(replaced("7ffd1c9e4000-7ffd1c9e6000 r-xp 00000000 "
				  "00:00 0" PAD "[vdso]\n",
			     path, sizeof(path)),
	    0);
	assert_int_equal(
	    replaced("1-2 r-xp 0 08:01 7 /x(deleted)", path, sizeof(path)), 0);

	/* Not the form: a field missing or of other characters, an inode
	 * 0, a relative path; and an empty line. */
	for (i = 0; i < sizeof(malformed) / sizeof(malformed[0]); i++)
		assert_int_equal(replaced(malformed[i], path, sizeof(path)), 0);
	/* The well-formed line again, into no room at all. */
	assert_int_equal(
	    replaced("1-2 r-xp 0 08:01 7 /x (deleted)", path, 0), 0);
}

/* The library copy test_self makes, removed by the group's teardown
 * whatever became of the test. */
static char copy[] = "/tmp/test_maps.XXXXXX";

static int
remove_copy(void **state)
{
	(void)state;
	if (strchr(copy, 'X') == NULL)
		(void)unlink(copy);
	return 0;
}

static void
test_self(void **state)
{
	char *tmpl = copy, path[4096], cmd[512];
	void *h;
	int fd, mfd;

	(void)state;
	/* This process runs no replaced code. */
	assert_int_equal(maps_self_replaced(path, sizeof(path)), 0);
	/* Opened once, as rotad-siem opens it before its filter. */
	mfd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
	assert_true(mfd >= 0);
	assert_int_equal(maps_fd_replaced(mfd, path, sizeof(path)), 0);

	/* A library of its own, loaded from a file then unlinked, as dpkg
	 * unlinks the file a new version is renamed over. */
	fd = mkstemp(tmpl);
	assert_true(fd >= 0);
	close(fd);
	snprintf(cmd, sizeof(cmd), "cp %s %s",
	    "/usr/lib/x86_64-linux-gnu/"
	    "libz.so.1",
	    tmpl);
	assert_int_equal(system(cmd), 0);
	h = dlopen(tmpl, RTLD_NOW | RTLD_LOCAL);
	assert_non_null(h);
	assert_int_equal(maps_self_replaced(path, sizeof(path)), 0);
	assert_int_equal(unlink(tmpl), 0);
	assert_int_equal(maps_self_replaced(path, sizeof(path)), 1);
	assert_string_equal(path, tmpl);
	/* The descriptor opened before the library came, read again. */
	path[0] = '\0';
	assert_int_equal(maps_fd_replaced(mfd, path, sizeof(path)), 1);
	assert_string_equal(path, tmpl);
	assert_int_equal(maps_fd_replaced(mfd, path, sizeof(path)), 1);
	close(mfd);
	dlclose(h);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lines),
		cmocka_unit_test(test_self),
	};

	return cmocka_run_group_tests(tests, NULL, remove_copy);
}
