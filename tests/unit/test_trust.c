/*
 * test_trust: trust_check_path() on files and directories it makes under
 * a private temporary directory, with chmod and chown (the tests run as
 * root; without root the ownership cases are skipped).  Every check is
 * also made through a trust_memo, which must give the same answer in the
 * same words.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "trust.h"

#define NOBODY 65534

static char base[PATH_MAX];
static char why[1024];

/* BASE/NAME in a static buffer (one at a time). */
static const char *
at(const char *name)
{
	static char buf[2 * PATH_MAX];

	snprintf(buf, sizeof(buf), "%s/%s", base, name);
	return buf;
}

static void
make_file(const char *name, mode_t mode, uid_t uid)
{
	const char *p = at(name);
	int fd;

	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(chmod(p, mode), 0);
	assert_int_equal(chown(p, uid, (gid_t)-1), 0);
}

static void
make_dir(const char *name, mode_t mode, uid_t uid)
{
	const char *p = at(name);

	assert_int_equal(mkdir(p, 0700), 0);
	assert_int_equal(chmod(p, mode), 0);
	assert_int_equal(chown(p, uid, (gid_t)-1), 0);
}

/* What trust_check_path_memo() says of P with MEMO: the same as R and
 * WHY, trust_check_path()'s. */
static void
same_with_memo(const char *p, struct trust_memo *memo, int r)
{
	char why2[sizeof(why)] = "";

	assert_int_equal(
	    trust_check_path_memo(p, geteuid(), memo, why2, sizeof(why2)), r);
	if (r != 0)
		assert_string_equal(why2, why);
}

static int
check(const char *name)
{
	static struct trust_memo memo;
	const char *p = at(name);
	int r;

	why[0] = '\0';
	r = trust_check_path(p, geteuid(), why, sizeof(why));
	/* A fresh memo, then the one it left. */
	memset(&memo, 0, sizeof(memo));
	same_with_memo(p, &memo, r);
	same_with_memo(p, &memo, r);
	return r;
}

/* WHY, with the temporary directory's path written as "T". */
static const char *
why_t(void)
{
	static char buf[2048];
	const char *s = why;
	size_t n = 0, blen = strlen(base);

	while (*s != '\0' && n + 2 < sizeof(buf)) {
		if (strncmp(s, base, blen) == 0) {
			buf[n++] = 'T';
			s += blen;
		} else {
			buf[n++] = *s++;
		}
	}
	buf[n] = '\0';
	return buf;
}

static int
setup(void **state)
{
	char tmpl[] = "/tmp/test_trust.XXXXXX";

	(void)state;
	if (geteuid() != 0)
		return 0;
	assert_non_null(mkdtemp(tmpl));
	/* The directories above must pass themselves: resolve them. */
	assert_non_null(realpath(tmpl, base));
	return 0;
}

static int
teardown(void **state)
{
	char cmd[PATH_MAX + 16];

	(void)state;
	if (base[0] != '\0') {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", base);
		assert_int_equal(system(cmd), 0);
	}
	return 0;
}

#define NEED_ROOT()                                                            \
	do {                                                                   \
		if (geteuid() != 0)                                            \
			skip();                                                \
	} while (0)

static void
test_good_file(void **state)
{
	(void)state;
	NEED_ROOT();
	make_file("good", 0644, 0);
	assert_int_equal(check("good"), 0);
	make_file("private", 0600, 0);
	assert_int_equal(check("private"), 0);
	/* The temporary directory itself, and / above it. */
	assert_int_equal(trust_check_path(base, 0, why, sizeof(why)), 0);
}

static void
test_writable_by_others(void **state)
{
	(void)state;
	NEED_ROOT();
	make_file("w666", 0666, 0);
	assert_int_equal(check("w666"), -EPERM);
	assert_string_equal(
	    why_t(), "mode 0666 is writable by others; fix: chmod go-w T/w666");
	make_file("w602", 0602, 0);
	assert_int_equal(check("w602"), -EPERM);
	assert_string_equal(
	    why_t(), "mode 0602 is writable by others; fix: chmod go-w T/w602");
}

static void
test_writable_by_group(void **state)
{
	(void)state;
	NEED_ROOT();
	make_file("w664", 0664, 0);
	assert_int_equal(check("w664"), -EPERM);
	assert_string_equal(why_t(),
	    "mode 0664 is writable by its group; fix: chmod go-w T/w664");
}

static void
test_owner(void **state)
{
	(void)state;
	NEED_ROOT();
	make_file("theirs", 0644, NOBODY);
	assert_int_equal(check("theirs"), -EPERM);
	assert_string_equal(why_t(),
	    "owned by nobody (uid 65534), not root or the daemon's user; "
	    "fix: chown root T/theirs");
	/* The daemon's own user may own it. */
	make_file("mine", 0600, 4321);
	assert_int_equal(
	    trust_check_path(at("mine"), 4321, why, sizeof(why)), 0);
	/* ... and then root still may. */
	assert_int_equal(
	    trust_check_path(at("good2"), 4321, why, sizeof(why)), 0);
	/* An unnamed uid. */
	make_file("unnamed", 0644, 54321);
	assert_int_equal(check("unnamed"), -EPERM);
	assert_string_equal(why_t(),
	    "owned by uid 54321, not root or the daemon's user; "
	    "fix: chown root T/unnamed");
}

static void
test_directory_above(void **state)
{
	(void)state;
	NEED_ROOT();
	make_dir("open", 0777, 0);
	make_file("open/f", 0644, 0);
	assert_int_equal(check("open/f"), -EPERM);
	assert_string_equal(why_t(),
	    "T/open: mode 0777 is writable by others; fix: chmod go-w T/open");
	/* The directory itself, asked about, is named without a prefix. */
	assert_int_equal(check("open"), -EPERM);
	assert_string_equal(
	    why_t(), "mode 0777 is writable by others; fix: chmod go-w T/open");

	make_dir("theirs.d", 0755, NOBODY);
	make_file("theirs.d/f", 0644, 0);
	assert_int_equal(check("theirs.d/f"), -EPERM);
	assert_string_equal(why_t(),
	    "T/theirs.d: owned by nobody (uid 65534), not root or the "
	    "daemon's user; fix: chown root T/theirs.d");
}

static void
test_sticky(void **state)
{
	(void)state;
	NEED_ROOT();
	/* Root's sticky directory, like /tmp: accepted. */
	make_dir("sticky", 01777, 0);
	make_file("sticky/f", 0644, 0);
	assert_int_equal(check("sticky/f"), 0);
	/* Sticky but not root's: whoever owns it may replace entries. */
	make_dir("sticky2", 01777, NOBODY);
	make_file("sticky2/f", 0644, 0);
	assert_int_equal(check("sticky2/f"), -EPERM);
	assert_non_null(strstr(why_t(), "T/sticky2: owned by nobody"));
	/* A file in root's sticky directory is still judged itself. */
	make_file("sticky/g", 0644, NOBODY);
	assert_int_equal(check("sticky/g"), -EPERM);
}

static void
test_symlink(void **state)
{
	char target[2 * PATH_MAX];

	(void)state;
	NEED_ROOT();
	/* A link to a file owned by nobody: judged by its target. */
	make_file("evil", 0644, NOBODY);
	snprintf(target, sizeof(target), "%s", at("evil"));
	assert_int_equal(symlink(target, at("link")), 0);
	assert_int_equal(check("link"), -EPERM);
	assert_string_equal(why_t(),
	    "T/evil: owned by nobody (uid 65534), not root or the daemon's "
	    "user; fix: chown root T/evil");
	/* A link to a good file through a writable directory. */
	make_dir("w", 0777, 0);
	make_file("w/good", 0644, 0);
	assert_int_equal(symlink("w/good", at("link2")), 0);
	assert_int_equal(check("link2"), -EPERM);
	assert_string_equal(why_t(),
	    "T/w: mode 0777 is writable by others; fix: chmod go-w T/w");
	/* A good link to a good file. */
	make_file("fine", 0644, 0);
	assert_int_equal(symlink("fine", at("link3")), 0);
	assert_int_equal(check("link3"), 0);
	/* A link owned by nobody, whatever it points at. */
	snprintf(target, sizeof(target), "%s", at("fine"));
	assert_int_equal(symlink(target, at("link4")), 0);
	assert_int_equal(lchown(at("link4"), NOBODY, (gid_t)-1), 0);
	assert_int_equal(check("link4"), -EPERM);
	assert_string_equal(why_t(),
	    "T/link4: symlink owned by nobody (uid 65534), not root or the "
	    "daemon's user; fix: chown -h root T/link4");
	/* A link that points nowhere cannot be checked. */
	assert_int_equal(symlink("nowhere", at("dangling")), 0);
	assert_int_equal(check("dangling"), -ENOENT);
	assert_string_equal(why, "cannot resolve: No such file or directory");
}

/* A symlink NAME, owned by nobody, to the absolute path of TO. */
static void
their_link(const char *to, const char *name)
{
	char target[2 * PATH_MAX];

	snprintf(target, sizeof(target), "%s", at(to));
	assert_int_equal(symlink(target, at(name)), 0);
	assert_int_equal(lchown(at(name), NOBODY, (gid_t)-1), 0);
}

/*
 * Every link of a chain, and every link in a path's directories, is
 * judged as the first: whoever owns the second link, or its directory,
 * can point it elsewhere as well.
 */
static void
test_symlink_chain(void **state)
{
	char target[2 * PATH_MAX];

	(void)state;
	NEED_ROOT();
	make_file("c-real", 0644, 0);
	make_dir("c-real.d", 0755, 0);
	make_file("c-real.d/f", 0644, 0);
	make_dir("c-theirs", 0755, NOBODY);
	/* root's link -> nobody's link -> root's file. */
	their_link("c-real", "c-theirs/mid");
	snprintf(target, sizeof(target), "%s", at("c-theirs/mid"));
	assert_int_equal(symlink(target, at("c-first")), 0);
	assert_int_equal(check("c-first"), -EPERM);
	assert_string_equal(why_t(),
	    "T/c-theirs/mid: symlink owned by nobody (uid 65534), not root or "
	    "the daemon's user; fix: chown -h root T/c-theirs/mid");
	/* root's link in nobody's directory, in the middle of a chain. */
	assert_int_equal(symlink("../c-real", at("c-theirs/rootmid")), 0);
	assert_int_equal(symlink("c-theirs/rootmid", at("c-second")), 0);
	assert_int_equal(check("c-second"), -EPERM);
	assert_string_equal(why_t(),
	    "T/c-theirs: owned by nobody (uid 65534), not root or the "
	    "daemon's user; fix: chown root T/c-theirs");
	/* A directory of the path reached through nobody's link. */
	their_link("c-real.d", "c-theirs/dirlink");
	snprintf(target, sizeof(target), "%s", at("c-theirs/dirlink"));
	assert_int_equal(symlink(target, at("c-conf.d")), 0);
	assert_int_equal(check("c-conf.d/f"), -EPERM);
	assert_string_equal(why_t(),
	    "T/c-theirs/dirlink: symlink owned by nobody (uid 65534), not root "
	    "or the daemon's user; fix: chown -h root T/c-theirs/dirlink");
	assert_int_equal(check("c-conf.d/absent"), -EPERM);
	/* The same chains of root's links in root's directories pass. */
	assert_int_equal(symlink("c-real.d", at("c-ok.d")), 0);
	assert_int_equal(symlink("c-ok.d/f", at("c-ok1")), 0);
	assert_int_equal(symlink("c-ok1", at("c-ok2")), 0);
	assert_int_equal(check("c-ok2"), 0);
	assert_int_equal(check("c-ok.d/f"), 0);
	/* A loop is refused, not followed. */
	assert_int_equal(symlink("c-loop2", at("c-loop1")), 0);
	assert_int_equal(symlink("c-loop1", at("c-loop2")), 0);
	assert_true(check("c-loop1") < 0);
}

static void
test_missing(void **state)
{
	(void)state;
	NEED_ROOT();
	/* Judged by where it would be. */
	assert_int_equal(check("absent"), 0);
	assert_int_equal(check("no/such/dir/absent"), 0);
	make_dir("open2", 0757, 0);
	assert_int_equal(check("open2/absent"), -EPERM);
	assert_string_equal(why_t(),
	    "T/open2: mode 0757 is writable by "
	    "others; fix: chmod go-w T/open2");
}

static void
test_relative(void **state)
{
	char cwd[PATH_MAX];

	(void)state;
	NEED_ROOT();
	make_file("rel", 0646, 0);
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_int_equal(chdir(base), 0);
	why[0] = '\0';
	assert_int_equal(trust_check_path("rel", 0, why, sizeof(why)), -EPERM);
	assert_int_equal(chdir(cwd), 0);
	assert_string_equal(
	    why_t(), "mode 0646 is writable by others; fix: chmod go-w T/rel");
}

/*
 * One memo for many files, in good and bad directories, one reached
 * through a symlink, taken in turn: each answer is the one without it.
 */
static void
test_memo(void **state)
{
	static const char *const names[] = { "m/good", "m/w666", "m/theirs",
		"m/sub", "m/absent", "mw/good", "mw/w666", "ml/good", "ml/w666",
		"m/good", "m/./good", "m/../m/good", "m//good", "m/sub/",
		"ml/../m/good", "m/link", "m/good", "mw/good" };
	struct trust_memo memo;
	char p[2 * PATH_MAX];
	size_t i, round;
	int r;

	(void)state;
	NEED_ROOT();
	make_dir("m", 0755, 0);
	make_file("m/good", 0644, 0);
	make_file("m/w666", 0666, 0);
	make_file("m/theirs", 0644, NOBODY);
	make_dir("m/sub", 0755, 0);
	make_dir("mw", 0777, 0);
	make_file("mw/good", 0644, 0);
	make_file("mw/w666", 0666, 0);
	assert_int_equal(symlink("mw", at("ml")), 0);
	assert_int_equal(symlink("good", at("m/link")), 0);
	memset(&memo, 0, sizeof(memo));
	for (round = 0; round < 2; round++)
		for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
			snprintf(p, sizeof(p), "%s", at(names[i]));
			why[0] = '\0';
			r = trust_check_path(p, geteuid(), why, sizeof(why));
			same_with_memo(p, &memo, r);
		}
	/* A sample of what was said. */
	assert_int_equal(check("ml/good"), -EPERM);
	assert_string_equal(why_t(),
	    "T/mw: mode 0777 is writable by others; fix: chmod go-w "
	    "T/mw");
	assert_int_equal(check("ml/w666"), -EPERM);
	assert_string_equal(why_t(),
	    "T/mw/w666: mode 0666 is writable by others; fix: chmod go-w "
	    "T/mw/w666");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good_file),
		cmocka_unit_test(test_writable_by_others),
		cmocka_unit_test(test_writable_by_group),
		cmocka_unit_test(test_owner),
		cmocka_unit_test(test_directory_above),
		cmocka_unit_test(test_sticky),
		cmocka_unit_test(test_symlink),
		cmocka_unit_test(test_symlink_chain),
		cmocka_unit_test(test_missing),
		cmocka_unit_test(test_relative),
		cmocka_unit_test(test_memo),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
