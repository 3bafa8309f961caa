/*
 * Unit tests for cronspec/tz.c.
 *
 * Zones come from the system database (/usr/share/zoneinfo, tzdata) and
 * from tests/unit/data/tz (see the README there).
 * Offsets are cross-checked against glibc's localtime_r() in a forked child,
 * so that setting TZ cannot leak into the other tests.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tz.h"
#include "tz-internal.h"

/* meson passes TEST_DATA_DIR; by hand, run from the top of the tree. */
#ifdef TEST_DATA_DIR
#define TZ_TEST_DATA TEST_DATA_DIR "/tz"
#else
#define TZ_TEST_DATA "tests/unit/data/tz"
#endif

#define H 3600
#define M 60

/* Zones cross-checked against libc, and fed to the robustness test. */
static const char *const zones[] = { "America/New_York", "Europe/London",
	"Australia/Lord_Howe", "Australia/Sydney", "Asia/Kolkata",
	"Asia/Kathmandu", "Pacific/Chatham", "America/Nuuk", "Europe/Dublin",
	"Antarctica/Troll", "America/Sao_Paulo", "Africa/Casablanca", NULL };

/* The instant Y-MO-D H:MI:S UTC, from libc so as not to test tz.c by tz.c. */
static int64_t
utc(int y, int mo, int d, int h, int mi, int s)
{
	struct tm tm = {
		.tm_year = y - 1900,
		.tm_mon = mo - 1,
		.tm_mday = d,
		.tm_hour = h,
		.tm_min = mi,
		.tm_sec = s,
	};

	return (int64_t)timegm(&tm);
}

static struct tz *
load(const char *name)
{
	struct tz *tz = NULL;
	int r;

	r = tz_load(name, &tz);
	if (r < 0)
		fail_msg("tz_load(%s): %s", name, strerror(-r));
	assert_non_null(tz);
	assert_string_equal(tz_name(tz), name);
	return tz;
}

static uint8_t *
read_file(const char *path, size_t *ret_len)
{
	uint8_t *buf = NULL;
	size_t cap = 0, len = 0, n;
	FILE *f;

	f = fopen(path, "rb");
	if (!f)
		fail_msg("%s: %s", path, strerror(errno));
	do {
		if (len == cap) {
			cap = cap ? cap * 2 : 4096;
			buf = realloc(buf, cap);
			assert_non_null(buf);
		}
		n = fread(buf + len, 1, cap - len, f);
		len += n;
	} while (n > 0);
	fclose(f);
	*ret_len = len;
	return buf;
}

/* Run with TZDIR set to DIR, or unset for NULL. */
static void
set_tzdir(const char *dir)
{
	if (dir)
		assert_int_equal(setenv("TZDIR", dir, 1), 0);
	else
		assert_int_equal(unsetenv("TZDIR"), 0);
}

static void
put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/*
 * Write to BUF a TZif file of VERSION with no transitions, a single type
 * of offset OFF, and footer FOOTER; returns its length.
 */
static size_t
make_tzif(uint8_t buf[256], char version, int32_t off, const char *footer)
{
	size_t pos = 0, i, n;

	for (i = 0; i < 2; i++) {
		memset(buf + pos, 0, 44);
		memcpy(buf + pos, "TZif", 4);
		buf[pos + 4] = (uint8_t)version;
		put_be32(buf + pos + 36, 1); /* typecnt */
		put_be32(buf + pos + 40, 4); /* charcnt */
		pos += 44;
		put_be32(buf + pos, (uint32_t)off);
		buf[pos + 4] = 0;
		buf[pos + 5] = 0;
		memcpy(buf + pos + 6, "ZZZ", 4);
		pos += 10;
	}
	n = strlen(footer);
	assert_true(pos + n + 2 <= 256);
	buf[pos++] = '\n';
	memcpy(buf + pos, footer, n);
	pos += n;
	buf[pos++] = '\n';
	return pos;
}

static int
footer_zone(const char *footer, struct tz **ret)
{
	uint8_t buf[256];
	size_t len;

	len = make_tzif(buf, '3', 0, footer);
	return tz_from_buffer(footer, buf, len, ret);
}

/* Check the instants tz_local_to_utc() gives for WALL. */
static void
assert_local(const struct tz *tz, int64_t wall, int n, int64_t a, int64_t b)
{
	int64_t at[2] = { -1, -1 };

	assert_int_equal(tz_local_to_utc(tz, wall, at), n);
	if (n >= 1)
		assert_int_equal(at[0], a);
	if (n >= 2)
		assert_int_equal(at[1], b);
}

/* Offset OLD just before instant T, NEW from T on. */
static void
assert_transition(const struct tz *tz, int64_t t, int32_t old, int32_t new)
{
	assert_int_equal(tz_offset_at(tz, t - 1), old);
	assert_int_equal(tz_offset_at(tz, t), new);
}

static void
test_utc(void **state)
{
	static const char *const names[] = { "UTC", "Etc/UTC", "GMT" };
	static const int64_t ts[] = { INT64_MIN, -5000000000LL, 0, 1700000000,
		INT64_MAX };
	int64_t at[2];
	struct tz *tz;
	size_t i, j;

	(void)state;
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		tz = load(names[i]);
		assert_true(tz_is_fixed(tz));
		for (j = 0; j < sizeof(ts) / sizeof(ts[0]); j++)
			assert_int_equal(tz_offset_at(tz, ts[j]), 0);
		assert_int_equal(tz_local_to_utc(tz, 1700000000, at), 1);
		assert_int_equal(at[0], 1700000000);
		tz_free(tz);
	}
	tz_free(NULL);
}

static void
test_utc_builtin(void **state)
{
	struct tz *tz = NULL;

	(void)state;
	set_tzdir("/nonexistent/zoneinfo");
	assert_int_equal(tz_load("UTC", &tz), 0);
	assert_string_equal(tz_name(tz), "UTC");
	assert_true(tz_is_fixed(tz));
	assert_int_equal(tz_offset_at(tz, 1700000000), 0);
	assert_local(tz, 1700000000, 1, 1700000000, 0);
	tz_free(tz);
	assert_int_equal(tz_load("Etc/UTC", &tz), -ENOENT);
	assert_int_equal(tz_load("Europe/London", &tz), -ENOENT);
	set_tzdir(NULL);
}

static void
test_invalid_names(void **state)
{
	static const char *const bad[] = {
		"",
		"/etc/passwd",
		"../x",
		"a/../b",
		"..",
		"Europe/..",
		"Europe/London ",
		"Europe\\London",
		"Europe/Lon\ndon",
		"Europe/Lon\001don",
		"Europe/Lond\xc3\xb6n",
		"UTC;",
	};
	char name[300];
	struct tz *tz = NULL;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(tz_load(bad[i], &tz), -EINVAL);
	assert_int_equal(tz_load(NULL, &tz), -EINVAL);

	memset(name, 'a', sizeof(name));
	name[256] = '\0';
	assert_int_equal(tz_load(name, &tz), -EINVAL);
	name[255] = '\0';
	assert_int_equal(tz_load(name, &tz), -ENOENT);
	assert_null(tz);
}

static void
test_unknown(void **state)
{
	struct tz *tz = NULL;

	(void)state;
	assert_int_equal(tz_load("Nowhere/Atlantis", &tz), -ENOENT);
	assert_int_equal(tz_load("Europe/London/x", &tz), -ENOENT);
	/* A directory and a file that is not TZif. */
	assert_int_equal(tz_load("America", &tz), -EINVAL);
	assert_int_equal(tz_load("zone1970.tab", &tz), -EINVAL);
	assert_null(tz);
}

static void
test_new_york(void **state)
{
	struct tz *tz;

	(void)state;
	tz = load("America/New_York");
	assert_false(tz_is_fixed(tz));

	/* 2024-03-10 02:00 EST -> 03:00 EDT */
	assert_transition(tz, utc(2024, 3, 10, 7, 0, 0), -5 * H, -4 * H);
	assert_local(tz, utc(2024, 3, 10, 2, 30, 0), 0, 0, 0);
	assert_local(tz, utc(2024, 3, 10, 2, 0, 0), 0, 0, 0);
	assert_local(
	    tz, utc(2024, 3, 10, 1, 59, 59), 1, utc(2024, 3, 10, 6, 59, 59), 0);
	assert_local(
	    tz, utc(2024, 3, 10, 3, 0, 0), 1, utc(2024, 3, 10, 7, 0, 0), 0);
	assert_local(
	    tz, utc(2024, 3, 10, 3, 30, 0), 1, utc(2024, 3, 10, 7, 30, 0), 0);

	/* 2024-11-03 02:00 EDT -> 01:00 EST */
	assert_transition(tz, utc(2024, 11, 3, 6, 0, 0), -4 * H, -5 * H);
	assert_local(tz, utc(2024, 11, 3, 1, 30, 0), 2,
	    utc(2024, 11, 3, 5, 30, 0), utc(2024, 11, 3, 6, 30, 0));
	assert_local(
	    tz, utc(2024, 11, 3, 0, 59, 59), 1, utc(2024, 11, 3, 4, 59, 59), 0);
	assert_local(
	    tz, utc(2024, 11, 3, 2, 0, 0), 1, utc(2024, 11, 3, 7, 0, 0), 0);

	/* Local mean time before 1883, and the 2100s from the footer. */
	assert_int_equal(tz_offset_at(tz, utc(1850, 1, 1, 0, 0, 0)), -17762);
	assert_transition(tz, utc(1883, 11, 18, 17, 0, 0), -17762, -5 * H);
	assert_transition(tz, utc(2150, 3, 8, 7, 0, 0), -5 * H, -4 * H);
	tz_free(tz);
}

static void
test_london(void **state)
{
	struct tz *tz;

	(void)state;
	tz = load("Europe/London");
	assert_transition(tz, utc(2024, 3, 31, 1, 0, 0), 0, H);
	assert_transition(tz, utc(2024, 10, 27, 1, 0, 0), H, 0);
	assert_local(tz, utc(2024, 3, 31, 1, 30, 0), 0, 0, 0);
	assert_local(tz, utc(2024, 10, 27, 1, 30, 0), 2,
	    utc(2024, 10, 27, 0, 30, 0), utc(2024, 10, 27, 1, 30, 0));

	/* Far past the table: only the footer knows 2350. */
	assert_transition(tz, utc(2350, 3, 26, 1, 0, 0), 0, H);
	assert_transition(tz, utc(2350, 10, 29, 1, 0, 0), H, 0);
	assert_int_equal(utc(2350, 3, 26, 1, 0, 0), 11998890000LL);
	assert_local(tz, utc(2350, 3, 26, 1, 59, 0), 0, 0, 0);
	assert_local(tz, utc(2350, 10, 29, 1, 0, 0), 2,
	    utc(2350, 10, 29, 0, 0, 0), utc(2350, 10, 29, 1, 0, 0));
	assert_local(
	    tz, utc(2350, 7, 1, 12, 0, 0), 1, utc(2350, 7, 1, 11, 0, 0), 0);

	/* Local mean time until 1847, and long before. */
	assert_int_equal(tz_offset_at(tz, utc(1800, 1, 1, 0, 0, 0)), -75);
	assert_int_equal(tz_offset_at(tz, INT64_MIN), -75);
	tz_free(tz);
}

static void
test_lord_howe(void **state)
{
	const int32_t std = 10 * H + 30 * M, dst = 11 * H;
	struct tz *tz;

	(void)state;
	tz = load("Australia/Lord_Howe");
	/* 2024-04-07 02:00 +11 -> 01:30 +1030: 01:30..02:00 twice. */
	assert_transition(tz, utc(2024, 4, 6, 15, 0, 0), dst, std);
	assert_local(tz, utc(2024, 4, 7, 1, 45, 0), 2,
	    utc(2024, 4, 6, 14, 45, 0), utc(2024, 4, 6, 15, 15, 0));
	assert_local(
	    tz, utc(2024, 4, 7, 1, 29, 59), 1, utc(2024, 4, 6, 14, 29, 59), 0);
	assert_local(
	    tz, utc(2024, 4, 7, 2, 0, 0), 1, utc(2024, 4, 6, 15, 30, 0), 0);
	/* 2024-10-06 02:00 +1030 -> 02:30 +11: 02:00..02:30 never. */
	assert_transition(tz, utc(2024, 10, 5, 15, 30, 0), std, dst);
	assert_local(tz, utc(2024, 10, 6, 2, 15, 0), 0, 0, 0);
	assert_local(
	    tz, utc(2024, 10, 6, 2, 30, 0), 1, utc(2024, 10, 5, 15, 30, 0), 0);
	/* DST over the year end, from the footer. */
	assert_int_equal(tz_offset_at(tz, utc(2300, 1, 1, 0, 0, 0)), dst);
	assert_transition(tz, utc(2300, 3, 31, 15, 0, 0), dst, std);
	assert_transition(tz, utc(2300, 10, 6, 15, 30, 0), std, dst);
	assert_local(tz, utc(2300, 4, 1, 1, 45, 0), 2,
	    utc(2300, 3, 31, 14, 45, 0), utc(2300, 3, 31, 15, 15, 0));
	assert_local(tz, utc(2300, 10, 7, 2, 15, 0), 0, 0, 0);
	assert_int_equal(tz_offset_at(tz, utc(2300, 12, 31, 23, 0, 0)), dst);
	tz_free(tz);
}

static void
test_odd_offsets(void **state)
{
	int64_t now = utc(2025, 6, 1, 12, 0, 0), winter;
	struct tz *tz;

	(void)state;
	tz = load("Asia/Kolkata");
	assert_false(tz_is_fixed(tz));
	assert_int_equal(tz_offset_at(tz, now), 5 * H + 30 * M);
	assert_int_equal(tz_offset_at(tz, utc(1850, 1, 1, 0, 0, 0)), 21208);
	assert_local(tz, now, 1, now - (5 * H + 30 * M), 0);
	tz_free(tz);

	tz = load("Asia/Kathmandu");
	assert_int_equal(tz_offset_at(tz, now), 5 * H + 45 * M);
	assert_int_equal(
	    tz_offset_at(tz, utc(2400, 1, 1, 0, 0, 0)), 5 * H + 45 * M);
	assert_local(tz, now, 1, now - (5 * H + 45 * M), 0);
	tz_free(tz);

	tz = load("Pacific/Chatham");
	winter = utc(2024, 7, 1, 0, 0, 0);
	assert_int_equal(tz_offset_at(tz, winter), 12 * H + 45 * M);
	assert_int_equal(
	    tz_offset_at(tz, utc(2024, 1, 1, 0, 0, 0)), 13 * H + 45 * M);
	/* 2024-09-29 02:45 +1245 -> 03:45 +1345 */
	assert_transition(
	    tz, utc(2024, 9, 28, 14, 0, 0), 12 * H + 45 * M, 13 * H + 45 * M);
	assert_local(tz, utc(2024, 9, 29, 3, 0, 0), 0, 0, 0);
	tz_free(tz);

	tz = load("Etc/GMT+5");
	assert_true(tz_is_fixed(tz));
	assert_int_equal(tz_offset_at(tz, now), -5 * H);
	tz_free(tz);
}

/* Footers alone, in otherwise empty v3 files. */
static void
test_footers(void **state)
{
	static const char *const bad[] = {
		"EST",
		"EST5EDT",
		"ES5",
		"<+05>",
		"<+0>-5",
		"EST5x",
		"EST25",
		"EST5EDT,M3.2.0",
		"EST5EDT,M13.2.0,M11.1.0",
		"EST5EDT,M3.6.0,M11.1.0",
		"EST5EDT,M3.2.7,M11.1.0",
		"EST5EDT,M3.2.0/168,M11.1.0",
		"EST5EDT,J0,J365",
		"EST5EDT,366,1",
		"EST5EDT,M3.2.0,M11.1.0,",
		"EST5:60",
		"EST5EDT,M3.2.0/2:00:60,M11.1.0",
		"<+05",
	};
	static const char *const perm[] = {
		"EST5EDT,0/0,J365/25",
		"EST5EDT,0/0,J365/26",
	};
	int64_t t, at[2];
	struct tz *tz;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (footer_zone(bad[i], &tz) != -EINVAL)
			fail_msg("footer \"%s\" accepted", bad[i]);

	assert_int_equal(footer_zone("EST5", &tz), 0);
	assert_true(tz_is_fixed(tz));
	assert_int_equal(tz_offset_at(tz, 0), -5 * H);
	tz_free(tz);

	assert_int_equal(footer_zone("<+0530>-5:30", &tz), 0);
	assert_true(tz_is_fixed(tz));
	assert_int_equal(tz_offset_at(tz, INT64_MAX), 5 * H + 30 * M);
	assert_int_equal(tz_offset_at(tz, INT64_MIN), 5 * H + 30 * M);
	tz_free(tz);

	/*
	 * RFC 8536 3.3.1: DST all year, as zic writes it.  As in tzcode, a
	 * DST period longer than the year is permanent DST too.
	 */
	for (i = 0; i < sizeof(perm) / sizeof(perm[0]); i++) {
		assert_int_equal(footer_zone(perm[i], &tz), 0);
		for (t = utc(1960, 1, 1, 0, 0, 0); t < utc(2440, 1, 1, 0, 0, 0);
		     t += 7 * 3600 + 13)
			assert_int_equal(tz_offset_at(tz, t), -4 * H);
		assert_int_equal(tz_offset_at(tz, INT64_MIN), -4 * H);
		assert_int_equal(tz_offset_at(tz, INT64_MAX), -4 * H);
		tz_free(tz);
	}

	/* Jn skips February 29, n counts it. */
	assert_int_equal(footer_zone("AAA0BBB,J60/0,300/0", &tz), 0);
	assert_transition(tz, utc(2024, 3, 1, 0, 0, 0), 0, H);
	assert_transition(tz, utc(2023, 3, 1, 0, 0, 0), 0, H);
	assert_transition(tz, utc(2024, 10, 26, 23, 0, 0), H, 0);
	assert_transition(tz, utc(2023, 10, 27, 23, 0, 0), H, 0);
	tz_free(tz);

	/* v3 rule times beyond the day, both ways. */
	assert_int_equal(footer_zone("AAA0BBB,M3.5.0/-1,M10.5.0/167", &tz), 0);
	assert_transition(tz, utc(2024, 3, 30, 23, 0, 0), 0, H);
	assert_transition(tz, utc(2024, 11, 2, 22, 0, 0), H, 0);
	tz_free(tz);

	/* Extremes do not overflow. */
	assert_int_equal(
	    footer_zone("AAA-24:59:59BBB24:59:59,0/-167,365/167", &tz), 0);
	(void)tz_offset_at(tz, INT64_MIN);
	(void)tz_offset_at(tz, INT64_MAX);
	(void)tz_local_to_utc(tz, INT64_MIN, at);
	(void)tz_local_to_utc(tz, INT64_MAX, at);
	tz_free(tz);
}

/* Compare tz's offset to libc's at T; report and count mismatches. */
static int
check_libc(const struct tz *tz, const char *what, int64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (!localtime_r(&tt, &tm)) {
		fprintf(stderr, "%s: localtime_r(%lld) failed\n", what,
		    (long long)t);
		return 1;
	}
	if (tm.tm_gmtoff == tz_offset_at(tz, t))
		return 0;
	fprintf(stderr, "%s: at %lld libc says %ld, tz says %d\n", what,
	    (long long)t, tm.tm_gmtoff, tz_offset_at(tz, t));
	return 1;
}

/*
 * Sample [FROM, TO) every STEP seconds; where tz's offset changes between
 * samples, find the exact transition by bisection and check both sides.
 */
static int
scan_libc(const struct tz *tz, const char *what, int64_t from, int64_t to,
    int64_t step)
{
	int64_t t, lo, hi, mid;
	int bad = 0;

	for (t = from; t < to && bad < 10; t += step) {
		bad += check_libc(tz, what, t);
		if (tz_offset_at(tz, t) == tz_offset_at(tz, t + step))
			continue;
		lo = t;
		hi = t + step;
		while (hi - lo > 1) {
			mid = lo + (hi - lo) / 2;
			if (tz_offset_at(tz, mid) == tz_offset_at(tz, t))
				lo = mid;
			else
				hi = mid;
		}
		bad += check_libc(tz, what, hi - 1);
		bad += check_libc(tz, what, hi);
	}
	return bad;
}

/* Run FN in a child, whose TZ changes stay its own; expect it to pass. */
static void
in_child(int (*fn)(void))
{
	int status;
	pid_t pid;

	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(fn() == 0 ? 0 : 1);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	if (WEXITSTATUS(status) != 0)
		fail_msg("mismatches with libc, listed above");
}

static int
libc_zones(void)
{
	int64_t y1900 = utc(1900, 1, 1, 0, 0, 0), y2100, y2500;
	struct tz *tz;
	int bad = 0, r;
	size_t i;

	y2100 = utc(2100, 1, 1, 0, 0, 0);
	y2500 = utc(2500, 1, 1, 0, 0, 0);
	for (i = 0; zones[i]; i++) {
		r = tz_load(zones[i], &tz);
		if (r < 0) {
			fprintf(stderr, "%s: %s\n", zones[i], strerror(-r));
			bad++;
			continue;
		}
		setenv("TZ", zones[i], 1);
		tzset();
		bad += scan_libc(tz, zones[i], y1900, y2100, 6 * H);
		bad += scan_libc(tz, zones[i], y2100, y2500, 5 * 86400);
		tz_free(tz);
	}
	return bad;
}

static void
test_libc_zones(void **state)
{
	(void)state;
	in_child(libc_zones);
}

/*
 * glibc reads the same strings from TZ.  It applies their rules only from
 * 1970 on, per UT year, so rules whose DST spans the new year or whose
 * transitions stray into the next year are left to test_zic_footers.
 */
static int
libc_footers(void)
{
	static const char *const footers[] = {
		"EST5EDT,M3.2.0,M11.1.0",
		"GMT0BST,M3.5.0/1,M10.5.0",
		"<+1030>-10:30<+11>-11,M10.1.0,M4.1.0",
		"<+1245>-12:45<+1345>,M9.5.0/2:45,M4.1.0/3:45",
		"<-02>2<-01>,M3.5.0/-1,M10.5.0/0",
		"IST-1GMT0,M10.5.0,M3.5.0/1",
		"XXX3YYY,J60/167,300/-167",
		"<+0530>-5:30",
		"EST5",
		"AAA+3:15:30BBB2:15:30,59/3,J59/3",
	};
	struct tz *tz;
	int bad = 0;
	size_t i;

	for (i = 0; i < sizeof(footers) / sizeof(footers[0]); i++) {
		if (footer_zone(footers[i], &tz) < 0) {
			fprintf(stderr, "%s: rejected\n", footers[i]);
			bad++;
			continue;
		}
		setenv("TZ", footers[i], 1);
		tzset();
		bad += scan_libc(tz, footers[i], utc(1970, 1, 1, 0, 0, 0),
		    utc(2450, 1, 1, 0, 0, 0), 2 * 86400 + 7 * H);
		tz_free(tz);
	}
	return bad;
}

static void
test_libc_footers(void **state)
{
	(void)state;
	in_child(libc_footers);
}

/* Every instant maps back from its own wall time, with any companions. */
static void
test_roundtrip(void **state)
{
	int64_t t, wall, at[2];
	struct tz *tz;
	size_t i;
	int n, j;

	(void)state;
	for (i = 0; zones[i]; i++) {
		tz = load(zones[i]);
		for (t = utc(1850, 1, 1, 0, 0, 0); t < utc(2200, 1, 1, 0, 0, 0);
		     t += 86400 + 3 * H + 17 * M) {
			wall = t + tz_offset_at(tz, t);
			n = tz_local_to_utc(tz, wall, at);
			assert_in_range(n, 1, 2);
			assert_true(at[0] == t || (n == 2 && at[1] == t));
			for (j = 0; j < n; j++)
				assert_int_equal(
				    at[j] + tz_offset_at(tz, at[j]), wall);
			if (n == 2)
				assert_true(at[0] < at[1]);
		}
		tz_free(tz);
	}
}

/*
 * The first instant in (T, T + STEP] at which TZ's offset differs from
 * that at T, or T when there is none.
 */
static int64_t
next_change(const struct tz *tz, int64_t t, int64_t step)
{
	int64_t lo = t, hi = t + step, mid;

	if (tz_offset_at(tz, hi) == tz_offset_at(tz, t))
		return t;
	while (hi - lo > 1) {
		mid = lo + (hi - lo) / 2;
		if (tz_offset_at(tz, mid) == tz_offset_at(tz, t))
			lo = mid;
		else
			hi = mid;
	}
	return hi;
}

/*
 * Fail unless zones A and B agree over [FROM, TO), sampled every STEP
 * seconds and on both sides of every transition either has in between.
 */
static void
assert_same_offsets(const struct tz *a, const struct tz *b, const char *what,
    int64_t from, int64_t to, int64_t step)
{
	int64_t t, c[4];
	size_t i;

	for (t = from; t < to; t += step) {
		c[0] = t;
		c[1] = next_change(a, t, step);
		c[2] = next_change(b, t, step);
		c[3] = c[1] - 1;
		for (i = 0; i < 4; i++)
			if (tz_offset_at(a, c[i]) != tz_offset_at(b, c[i]))
				fail_msg("%s at %lld: %d vs %d", what,
				    (long long)c[i], tz_offset_at(a, c[i]),
				    tz_offset_at(b, c[i]));
	}
}

/*
 * Slim files (few transitions, the footer does the rest) agree with fat
 * ones, both compiled from the same sources and kept with the tests.
 */
static void
test_slim(void **state)
{
	static const char *const names[] = {
		"America/New_York",
		"Australia/Lord_Howe",
		"Europe/London",
		"Pacific/Chatham",
		"America/Nuuk",
	};
	struct tz *fat, *slim;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		set_tzdir(TZ_TEST_DATA "/fat");
		fat = load(names[i]);
		set_tzdir(TZ_TEST_DATA "/slim");
		slim = load(names[i]);
		set_tzdir(NULL);
		assert_same_offsets(fat, slim, names[i],
		    utc(1800, 1, 1, 0, 0, 0), utc(2100, 1, 1, 0, 0, 0), 6 * H);
		assert_same_offsets(fat, slim, names[i],
		    utc(2100, 1, 1, 0, 0, 0), utc(2500, 1, 1, 0, 0, 0),
		    3 * 86400 + 5 * H);
		tz_free(fat);
		tz_free(slim);
	}
}

/*
 * zic computed the transitions of the synthetic zones up to 2037 from the
 * same rules it wrote their footers from: evaluated alone, each footer
 * must reproduce them.
 */
static void
test_zic_footers(void **state)
{
	static const char *const names[] = {
		"Test/YearEnd",
		"Test/Leapy",
		"Test/South",
		"Test/Hours",
		"Test/West",
		"Test/Negative",
	};
	char path[512], footer[128];
	struct tz *fat, *alone;
	const uint8_t *nl;
	uint8_t *buf;
	size_t i, len;

	(void)state;
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(path, sizeof(path), TZ_TEST_DATA "/fat/%s", names[i]);
		buf = read_file(path, &len);
		assert_true(len > 2 && buf[len - 1] == '\n');
		for (nl = buf + len - 2; *nl != '\n'; nl--)
			;
		assert_true((size_t)(buf + len - 2 - nl) < sizeof(footer));
		memcpy(footer, nl + 1, (size_t)(buf + len - 2 - nl));
		footer[buf + len - 2 - nl] = '\0';
		free(buf);

		set_tzdir(TZ_TEST_DATA "/fat");
		fat = load(names[i]);
		set_tzdir(NULL);
		assert_int_equal(footer_zone(footer, &alone), 0);
		assert_same_offsets(fat, alone, footer,
		    utc(1973, 1, 1, 0, 0, 0), utc(2037, 1, 1, 0, 0, 0), 6 * H);
		tz_free(fat);
		tz_free(alone);
	}
}

/* Length of the v1 header and data block at the start of BUF. */
static size_t
v1_len(const uint8_t *buf)
{
	uint32_t c[6];
	size_t i;

	for (i = 0; i < 6; i++)
		c[i] = (uint32_t)buf[20 + 4 * i] << 24 |
		    (uint32_t)buf[21 + 4 * i] << 16 |
		    (uint32_t)buf[22 + 4 * i] << 8 | buf[23 + 4 * i];
	/* isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt */
	return 44 + c[3] * 5 + c[4] * 6 + c[5] + c[2] * 8 + c[1] + c[0];
}

/* A v1 file is the v1 part of a fat v2 file; v4 only adds meaning. */
static void
test_versions(void **state)
{
	struct tz *v1, *v2, *v4;
	uint8_t *buf;
	size_t len;
	int64_t t;

	(void)state;
	buf = read_file(TZ_TEST_DATA "/fat/America/New_York", &len);
	assert_int_equal(tz_from_buffer("v2", buf, len, &v2), 0);
	buf[4] = 0;
	assert_int_equal(tz_from_buffer("v1", buf, v1_len(buf), &v1), 0);
	assert_false(tz_is_fixed(v1));
	for (t = INT32_MIN; t < INT32_MAX - 6 * H; t += 6 * H + 1)
		assert_int_equal(tz_offset_at(v1, t), tz_offset_at(v2, t));
	tz_free(v1);
	tz_free(v2);
	free(buf);

	buf = read_file(TZ_TEST_DATA "/fat/America/Nuuk", &len);
	assert_int_equal(tz_from_buffer("v3", buf, len, &v2), 0);
	assert_int_equal(buf[4], '3');
	buf[4] = '4';
	buf[v1_len(buf) + 4] = '4';
	assert_int_equal(tz_from_buffer("v4", buf, len, &v4), 0);
	for (t = utc(1900, 1, 1, 0, 0, 0); t < utc(2400, 1, 1, 0, 0, 0);
	     t += 6 * H + 1)
		assert_int_equal(tz_offset_at(v4, t), tz_offset_at(v2, t));
	tz_free(v4);
	/* Versions must agree, and be known. */
	buf[4] = '3';
	assert_int_equal(tz_from_buffer("x", buf, len, &v4), -EINVAL);
	buf[4] = '5';
	buf[v1_len(buf) + 4] = '5';
	assert_int_equal(tz_from_buffer("x", buf, len, &v4), -EINVAL);
	tz_free(v2);
	free(buf);
}

/* right/ zones carry leap-second records, which are skipped. */
static void
test_leap_records(void **state)
{
	struct tz *tz;

	(void)state;
	tz = load("right/UTC");
	assert_true(tz_is_fixed(tz));
	assert_int_equal(tz_offset_at(tz, 1700000000), 0);
	tz_free(tz);
	tz = load("right/Europe/London");
	assert_int_equal(tz_offset_at(tz, utc(2024, 7, 1, 0, 0, 0)), H);
	tz_free(tz);
}

/* Exercise a zone built from damaged bytes; it may say anything. */
static void
poke(const uint8_t *buf, size_t len)
{
	static const int64_t ts[] = { INT64_MIN, -(1LL << 59), -2208988800LL, 0,
		1700000000, 1LL << 40, INT64_MAX };
	int64_t at[2];
	struct tz *tz;
	size_t i;

	if (tz_from_buffer("fuzz", buf, len, &tz) < 0)
		return;
	(void)tz_is_fixed(tz);
	for (i = 0; i < sizeof(ts) / sizeof(ts[0]); i++) {
		(void)tz_offset_at(tz, ts[i]);
		assert_in_range(tz_local_to_utc(tz, ts[i], at), 0, 2);
	}
	tz_free(tz);
}

/*
 * Truncated and bit-flipped copies of real files must not crash nor read
 * out of bounds; each copy lives in a buffer of its exact length, so ASan
 * catches any overread.
 */
static void
test_damaged(void **state)
{
	static const char *const files[] = {
		TZ_TEST_DATA "/fat/America/New_York",
		TZ_TEST_DATA "/fat/America/Nuuk",
		TZ_TEST_DATA "/slim/Australia/Lord_Howe",
	};
	uint64_t rnd = 0x9e3779b97f4a7c15ULL;
	uint8_t *buf, *copy;
	size_t f, len, i, k;

	(void)state;
	assert_int_equal(
	    tz_from_buffer("x", NULL, 0, &(struct tz *){ 0 }), -EINVAL);
	for (f = 0; f < sizeof(files) / sizeof(files[0]); f++) {
		buf = read_file(files[f], &len);
		for (i = 0; i <= len; i++) {
			copy = malloc(i > 0 ? i : 1);
			assert_non_null(copy);
			memcpy(copy, buf, i);
			poke(copy, i);
			free(copy);
		}
		copy = malloc(len);
		assert_non_null(copy);
		for (i = 0; i < len * 8; i++) {
			memcpy(copy, buf, len);
			copy[i / 8] ^= (uint8_t)(1u << (i % 8));
			poke(copy, len);
		}
		for (i = 0; i < 20000; i++) {
			memcpy(copy, buf, len);
			for (k = 0; k < 4; k++) {
				rnd ^= rnd << 13;
				rnd ^= rnd >> 7;
				rnd ^= rnd << 17;
				copy[(rnd >> 8) % len] = (uint8_t)rnd;
			}
			poke(copy, len);
		}
		free(copy);
		free(buf);
	}
}

/* Put a one-offset zone NAME of offset OFF into DIR, as tzdata's
 * packages do: a new file renamed over the old one. */
static void
put_zone(const char *dir, const char *name, int32_t off, const char *footer)
{
	char tmp[256], path[256];
	uint8_t buf[256];
	size_t len;
	FILE *f;

	len = make_tzif(buf, '2', off, footer);
	snprintf(tmp, sizeof(tmp), "%s/.new", dir);
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(tmp, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(buf, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(rename(tmp, path), 0);
}

/*
 * The zone cache looks at a file once per epoch: within one, a load is
 * served from the cache even when the file has changed; the first load
 * after tz_cache_expire() (or in another TZDIR) reads the new file, and
 * those holding the old zone keep it.
 */
static void
test_cache_epoch(void **state)
{
	char dir[2][64];
	struct tz *a, *b, *c, *d;
	size_t i;

	(void)state;
	for (i = 0; i < 2; i++) {
		snprintf(dir[i], sizeof(dir[i]), "/tmp/test_tz.XXXXXX");
		assert_non_null(mkdtemp(dir[i]));
	}
	put_zone(dir[0], "Zone", 3600, "<+01>-1");
	set_tzdir(dir[0]);
	a = load("Zone");
	assert_int_equal(tz_offset_at(a, 1700000000), 3600);

	/* Changed, same epoch: the cached zone, file unread. */
	put_zone(dir[0], "Zone", 7200, "<+02>-2");
	b = load("Zone");
	assert_ptr_equal(b, a);
	tz_free(b);

	/* A new epoch reads the new file; the old zone lives on. */
	tz_cache_expire();
	b = load("Zone");
	assert_ptr_not_equal(b, a);
	assert_int_equal(tz_offset_at(b, 1700000000), 7200);
	assert_int_equal(tz_offset_at(a, 1700000000), 3600);
	c = load("Zone");
	assert_ptr_equal(c, b);
	tz_free(c);

	/* An unchanged file is shared across epochs. */
	tz_cache_expire();
	c = load("Zone");
	assert_ptr_equal(c, b);

	/* Another TZDIR is another file, without an expiry. */
	put_zone(dir[1], "Zone", -3600, "<-01>1");
	set_tzdir(dir[1]);
	d = load("Zone");
	assert_int_equal(tz_offset_at(d, 1700000000), -3600);
	set_tzdir(NULL);

	tz_free(a);
	tz_free(b);
	tz_free(c);
	tz_free(d);
	for (i = 0; i < 2; i++) {
		char path[256];

		snprintf(path, sizeof(path), "%s/Zone", dir[i]);
		assert_int_equal(unlink(path), 0);
		assert_int_equal(rmdir(dir[i]), 0);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_utc),
		cmocka_unit_test(test_utc_builtin),
		cmocka_unit_test(test_invalid_names),
		cmocka_unit_test(test_unknown),
		cmocka_unit_test(test_new_york),
		cmocka_unit_test(test_london),
		cmocka_unit_test(test_lord_howe),
		cmocka_unit_test(test_odd_offsets),
		cmocka_unit_test(test_footers),
		cmocka_unit_test(test_libc_zones),
		cmocka_unit_test(test_libc_footers),
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_slim),
		cmocka_unit_test(test_zic_footers),
		cmocka_unit_test(test_versions),
		cmocka_unit_test(test_leap_records),
		cmocka_unit_test(test_damaged),
		cmocka_unit_test(test_cache_epoch),
	};

	/* The tests pick their zone directory themselves. */
	unsetenv("TZDIR");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
