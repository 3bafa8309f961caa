/*
 * Unit tests of cronspec: parsing, errors, and next() in several zones.
 *
 * Expected fire times are written out as local ISO-8601 times with their
 * offsets, so that a failure reads like the documentation it checks.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "cronspec.h"
#include "tz.h"

/* Parse "YYYY-MM-DDTHH:MM:SS+HH:MM" into an instant; fails the test if bad. */
static int64_t
iso(const char *s)
{
	struct cronspec_tm tm = { 0 };
	int oh, om, n = 0;
	char sign;

	if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%c%2d:%2d%n", &tm.year, &tm.month,
		&tm.day, &tm.hour, &tm.minute, &tm.second, &sign, &oh, &om,
		&n) != 9 ||
	    (size_t)n != strlen(s))
		fail_msg("bad test time '%s'", s);
	return cronspec_seconds_from_civil(&tm) -
	    (sign == '-' ? -1 : 1) * (oh * 3600 + om * 60);
}

static void
format(int64_t t, const struct tz *tz, char *buf, size_t size)
{
	int32_t off = tz == NULL ? 0 : tz_offset_at(tz, t);
	int32_t a = off < 0 ? -off : off;
	struct cronspec_tm tm;

	cronspec_civil_from_seconds(t + off, &tm);
	snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d%c%02d:%02d", tm.year,
	    tm.month, tm.day, tm.hour, tm.minute, tm.second,
	    off < 0 ? '-' : '+', a / 3600, a / 60 % 60);
}

/*
 * Check that EXPR in ZONE, searched from FROM, fires at the listed times
 * and, when the list ends with "END", at nothing after them.
 */
static void
expect(const char *expr, const char *zone, const char *from, ...)
{
	struct cronspec_error err = { 0 };
	struct cronspec *cs = NULL;
	struct tz *tz = NULL;
	const char *want;
	char got[64];
	int64_t t;
	va_list ap;
	int r;

	if (cronspec_parse(expr, &cs, &err) != 0)
		fail_msg("'%s': column %d (%s): %s", expr, err.column,
		    err.field, err.message);
	assert_int_equal(tz_load(zone, &tz), 0);
	t = iso(from);
	va_start(ap, from);
	while ((want = va_arg(ap, const char *)) != NULL) {
		r = cronspec_next(cs, tz, t, &t);
		if (strcmp(want, "END") == 0) {
			if (r != -ENOENT) {
				format(t, tz, got, sizeof(got));
				fail_msg("'%s' in %s: expected no more fires, "
					 "got %s",
				    expr, zone, got);
			}
			break;
		}
		if (r != 0)
			fail_msg("'%s' in %s: expected %s, got nothing (%d)",
			    expr, zone, want, r);
		format(t, tz, got, sizeof(got));
		if (strcmp(got, want) != 0)
			fail_msg("'%s' in %s from %s: expected %s, got %s",
			    expr, zone, from, want, got);
	}
	va_end(ap);
	cronspec_free(cs);
	tz_free(tz);
}

#define EXPECT(expr, zone, from, ...)                                          \
	expect(expr, zone, from, __VA_ARGS__, (const char *)NULL)

/* The examples of the Quartz CronTrigger tutorial that Keeper links to. */
static void
test_quartz_examples(void **state)
{
	EXPECT("0 0 12 * * ?", "UTC", "2024-01-01T00:00:00+00:00",
	    "2024-01-01T12:00:00+00:00", "2024-01-02T12:00:00+00:00");
	EXPECT("0 15 10 ? * *", "UTC", "2024-01-01T10:15:00+00:00",
	    "2024-01-02T10:15:00+00:00");
	EXPECT("0 15 10 * * ? 2005", "UTC", "2005-12-30T12:00:00+00:00",
	    "2005-12-31T10:15:00+00:00", "END");
	EXPECT("0 15 10 * * ? 2005", "UTC", "2024-01-01T00:00:00+00:00", "END");
	EXPECT("0 * 14 * * ?", "UTC", "2024-01-01T14:58:30+00:00",
	    "2024-01-01T14:59:00+00:00", "2024-01-02T14:00:00+00:00");
	EXPECT("0 0/5 14 * * ?", "UTC", "2024-01-01T14:50:00+00:00",
	    "2024-01-01T14:55:00+00:00", "2024-01-02T14:00:00+00:00");
	EXPECT("0 0/5 14,18 * * ?", "UTC", "2024-01-01T14:55:00+00:00",
	    "2024-01-01T18:00:00+00:00", "2024-01-01T18:05:00+00:00");
	EXPECT("0 0-5 14 * * ?", "UTC", "2024-01-01T14:04:00+00:00",
	    "2024-01-01T14:05:00+00:00", "2024-01-02T14:00:00+00:00");
	EXPECT("0 10,44 14 ? 3 WED", "UTC", "2024-01-01T00:00:00+00:00",
	    "2024-03-06T14:10:00+00:00", "2024-03-06T14:44:00+00:00",
	    "2024-03-13T14:10:00+00:00");
	EXPECT("0 15 10 ? * MON-FRI", "UTC", "2024-01-05T11:00:00+00:00",
	    "2024-01-08T10:15:00+00:00");
	EXPECT("0 15 10 15 * ?", "UTC", "2024-01-15T10:15:00+00:00",
	    "2024-02-15T10:15:00+00:00");
	EXPECT("0 15 10 L * ?", "UTC", "2024-01-01T00:00:00+00:00",
	    "2024-01-31T10:15:00+00:00", "2024-02-29T10:15:00+00:00",
	    "2024-03-31T10:15:00+00:00", "2024-04-30T10:15:00+00:00");
	EXPECT("0 15 10 L-2 * ?", "UTC", "2024-01-01T00:00:00+00:00",
	    "2024-01-29T10:15:00+00:00", "2024-02-27T10:15:00+00:00");
	EXPECT("0 15 10 ? * 6L", "UTC", "2024-01-01T00:00:00+00:00",
	    "2024-01-26T10:15:00+00:00", "2024-02-23T10:15:00+00:00",
	    "2024-03-29T10:15:00+00:00");
	EXPECT("0 15 10 ? * 6L 2002-2005", "UTC", "2005-11-30T00:00:00+00:00",
	    "2005-12-30T10:15:00+00:00", "END");
	EXPECT("0 15 10 ? * 6#3", "UTC", "2024-01-01T00:00:00+00:00",
	    "2024-01-19T10:15:00+00:00", "2024-02-16T10:15:00+00:00");
	EXPECT("0 0 12 1/5 * ?", "UTC", "2024-01-25T00:00:00+00:00",
	    "2024-01-26T12:00:00+00:00", "2024-01-31T12:00:00+00:00",
	    "2024-02-01T12:00:00+00:00");
	EXPECT("0 11 11 11 11 ?", "UTC", "2024-01-01T00:00:00+00:00",
	    "2024-11-11T11:11:00+00:00", "2025-11-11T11:11:00+00:00");
	/* The example of Keeper's Cron Spec page. */
	EXPECT("0 28 17 ? * *", "America/New_York", "2023-12-31T23:59:59-05:00",
	    "2024-01-01T17:28:00-05:00", "2024-01-02T17:28:00-05:00");
}

static void
test_names_case_and_space(void **state)
{
	EXPECT("0 0 12 ? jan,Feb mon-FRI", "UTC", "2024-01-31T13:00:00+00:00",
	    "2024-02-01T12:00:00+00:00", "2024-02-02T12:00:00+00:00",
	    "2024-02-05T12:00:00+00:00");
	EXPECT("  0\t0  12\t*\t*  ?  ", "UTC", "2024-01-01T00:00:00+00:00",
	    "2024-01-01T12:00:00+00:00");
	EXPECT("0 0 0 ? * SUN", "UTC", "2024-01-01T00:00:00+00:00",
	    "2024-01-07T00:00:00+00:00");
	EXPECT("0 0 0 ? * 1", "UTC", "2024-01-01T00:00:00+00:00",
	    "2024-01-07T00:00:00+00:00");
	/* L alone in day-of-week is 7, Saturday. */
	EXPECT("0 0 0 ? * L", "UTC", "2024-01-01T00:00:00+00:00",
	    "2024-01-06T00:00:00+00:00", "2024-01-13T00:00:00+00:00");
}

static void
test_steps(void **state)
{
	EXPECT("*/20 * * * * ?", "UTC", "2024-01-01T00:00:00+00:00",
	    "2024-01-01T00:00:20+00:00", "2024-01-01T00:00:40+00:00",
	    "2024-01-01T00:01:00+00:00");
	EXPECT("5/20 * * * * ?", "UTC", "2024-01-01T00:00:00+00:00",
	    "2024-01-01T00:00:05+00:00", "2024-01-01T00:00:25+00:00",
	    "2024-01-01T00:00:45+00:00", "2024-01-01T00:01:05+00:00");
	EXPECT("0 0 5-20/5 * * ?", "UTC", "2024-01-01T05:00:00+00:00",
	    "2024-01-01T10:00:00+00:00", "2024-01-01T15:00:00+00:00",
	    "2024-01-01T20:00:00+00:00", "2024-01-02T05:00:00+00:00");
	/* Every 2nd day-of-week: 1, 3, 5, 7 = SUN, TUE, THU, SAT. */
	EXPECT("0 0 0 ? * */2", "UTC", "2024-01-01T00:00:00+00:00",
	    "2024-01-02T00:00:00+00:00", "2024-01-04T00:00:00+00:00",
	    "2024-01-06T00:00:00+00:00", "2024-01-07T00:00:00+00:00");
	EXPECT("0 0 0 1 3/4 ?", "UTC", "2024-01-01T00:00:00+00:00",
	    "2024-03-01T00:00:00+00:00", "2024-07-01T00:00:00+00:00",
	    "2024-11-01T00:00:00+00:00", "2025-03-01T00:00:00+00:00");
	EXPECT("0 0 0 1 1 ? 2030/20", "UTC", "2024-01-01T00:00:00+00:00",
	    "2030-01-01T00:00:00+00:00", "2050-01-01T00:00:00+00:00",
	    "2070-01-01T00:00:00+00:00", "2090-01-01T00:00:00+00:00", "END");
	/* An increment as large as Quartz allows fires once per period. */
	EXPECT("0 0/59 * * * ?", "UTC", "2024-01-01T00:00:00+00:00",
	    "2024-01-01T00:59:00+00:00", "2024-01-01T01:00:00+00:00");
}

static void
test_wrapping_ranges(void **state)
{
	EXPECT("0 0 22-2 * * ?", "UTC", "2024-01-01T00:00:00+00:00",
	    "2024-01-01T01:00:00+00:00", "2024-01-01T02:00:00+00:00",
	    "2024-01-01T22:00:00+00:00", "2024-01-01T23:00:00+00:00",
	    "2024-01-02T00:00:00+00:00");
	EXPECT("0 0 22-2/2 * * ?", "UTC", "2024-01-01T00:00:00+00:00",
	    "2024-01-01T02:00:00+00:00", "2024-01-01T22:00:00+00:00",
	    "2024-01-02T00:00:00+00:00");
	EXPECT("0 0 12 ? * FRI-MON", "UTC", "2024-01-03T00:00:00+00:00",
	    "2024-01-05T12:00:00+00:00", "2024-01-06T12:00:00+00:00",
	    "2024-01-07T12:00:00+00:00", "2024-01-08T12:00:00+00:00",
	    "2024-01-12T12:00:00+00:00");
	EXPECT("0 0 0 1 NOV-FEB ?", "UTC", "2024-03-01T00:00:00+00:00",
	    "2024-11-01T00:00:00+00:00", "2024-12-01T00:00:00+00:00",
	    "2025-01-01T00:00:00+00:00", "2025-02-01T00:00:00+00:00",
	    "2025-11-01T00:00:00+00:00");
	EXPECT("0 0 0 28-3 * ?", "UTC", "2024-02-01T00:00:00+00:00",
	    "2024-02-02T00:00:00+00:00", "2024-02-03T00:00:00+00:00",
	    "2024-02-28T00:00:00+00:00", "2024-02-29T00:00:00+00:00",
	    "2024-03-01T00:00:00+00:00", "2024-03-02T00:00:00+00:00",
	    "2024-03-03T00:00:00+00:00", "2024-03-28T00:00:00+00:00");
	EXPECT("50-10 0 0 * * ?", "UTC", "2024-01-01T00:00:08+00:00",
	    "2024-01-01T00:00:09+00:00", "2024-01-01T00:00:10+00:00",
	    "2024-01-01T00:00:50+00:00");
}

static void
test_month_ends_and_leap_years(void **state)
{
	EXPECT("0 0 0 29 2 ?", "UTC", "2024-03-01T00:00:00+00:00",
	    "2028-02-29T00:00:00+00:00", "2032-02-29T00:00:00+00:00");
	EXPECT("0 0 0 29 FEB ? 2025-2027", "UTC", "2024-03-01T00:00:00+00:00",
	    "END");
	EXPECT("0 0 0 L 2 ?", "UTC", "2023-01-01T00:00:00+00:00",
	    "2023-02-28T00:00:00+00:00", "2024-02-29T00:00:00+00:00",
	    "2025-02-28T00:00:00+00:00");
	/* 2096 is a leap year; 2100 would not be, and is out of range. */
	EXPECT("0 0 0 29 2 ?", "UTC", "2095-01-01T00:00:00+00:00",
	    "2096-02-29T00:00:00+00:00", "END");
	EXPECT("0 0 0 31 * ?", "UTC", "2024-01-31T00:00:00+00:00",
	    "2024-03-31T00:00:00+00:00", "2024-05-31T00:00:00+00:00");
	/* L-n before the 1st: no fire that month (L-30 fits only 31-day
	 * months). */
	EXPECT("0 0 0 L-30 * ?", "UTC", "2024-01-01T00:00:00+00:00",
	    "2024-03-01T00:00:00+00:00", "2024-05-01T00:00:00+00:00");
	EXPECT("0 0 0 L-29 * ?", "UTC", "2024-01-02T00:00:00+00:00",
	    "2024-03-02T00:00:00+00:00", "2024-04-01T00:00:00+00:00");
	EXPECT("0 0 0 L-28 2 ?", "UTC", "2023-01-01T00:00:00+00:00",
	    "2024-02-01T00:00:00+00:00", "2028-02-01T00:00:00+00:00");
	/* The last instant a spec can name. */
	EXPECT("59 59 23 31 12 ?", "UTC", "2099-12-30T00:00:00+00:00",
	    "2099-12-31T23:59:59+00:00", "END");
	/* Nothing before 2100 is no fire at all, found quickly. */
	EXPECT("0 0 0 30 FEB ?", "UTC", "2024-01-01T00:00:00+00:00", "END");
	EXPECT("0 0 0 31 4 ?", "UTC", "1970-01-01T00:00:00+00:00", "END");
	EXPECT("0 0 0 ? 2 5#5", "UTC", "2024-01-01T00:00:00+00:00",
	    "2024-02-29T00:00:00+00:00", "2052-02-29T00:00:00+00:00");
}

static void
test_nearest_weekday(void **state)
{
	/* 2024-06-15 is a Saturday: Friday the 14th. */
	EXPECT("0 0 0 15W * ?", "UTC", "2024-06-01T00:00:00+00:00",
	    "2024-06-14T00:00:00+00:00", "2024-07-15T00:00:00+00:00");
	/* 2024-06-01 is a Saturday: not May 31 but Monday the 3rd. */
	EXPECT("0 0 0 1W * ?", "UTC", "2024-05-15T00:00:00+00:00",
	    "2024-06-03T00:00:00+00:00", "2024-07-01T00:00:00+00:00",
	    "2024-08-01T00:00:00+00:00", "2024-09-02T00:00:00+00:00");
	/* 2024-03-31 is a Sunday and the last day: Friday the 29th.
	 * 2024-08-31 is a Saturday: Friday the 30th.  30-day months and
	 * February lack day 31 and do not fire. */
	EXPECT("0 0 0 31W * ?", "UTC", "2024-01-01T00:00:00+00:00",
	    "2024-01-31T00:00:00+00:00", "2024-03-29T00:00:00+00:00",
	    "2024-05-31T00:00:00+00:00", "2024-07-31T00:00:00+00:00",
	    "2024-08-30T00:00:00+00:00");
	EXPECT("0 0 0 30W 2 ?", "UTC", "2024-01-01T00:00:00+00:00", "END");
	/* LW: June 30 2024 is a Sunday, November 30 a Saturday. */
	EXPECT("0 0 0 LW * ?", "UTC", "2024-06-01T00:00:00+00:00",
	    "2024-06-28T00:00:00+00:00", "2024-07-31T00:00:00+00:00",
	    "2024-08-30T00:00:00+00:00", "2024-09-30T00:00:00+00:00",
	    "2024-10-31T00:00:00+00:00", "2024-11-29T00:00:00+00:00");
	/* L-1W: June 29 2024 is a Saturday. */
	EXPECT("0 0 0 L-1W 6 ?", "UTC", "2024-01-01T00:00:00+00:00",
	    "2024-06-28T00:00:00+00:00");
	/* 2024-09-01 is a Sunday. */
	EXPECT("0 0 0 1W 9 ?", "UTC", "2024-01-01T00:00:00+00:00",
	    "2024-09-02T00:00:00+00:00");
}

static void
test_nth_and_last_weekday(void **state)
{
	/* Fifth Fridays of 2024: March, May, August, November. */
	EXPECT("0 0 0 ? * 6#5", "UTC", "2024-01-01T00:00:00+00:00",
	    "2024-03-29T00:00:00+00:00", "2024-05-31T00:00:00+00:00",
	    "2024-08-30T00:00:00+00:00", "2024-11-29T00:00:00+00:00");
	EXPECT("0 0 0 ? * MON#1", "UTC", "2024-01-02T00:00:00+00:00",
	    "2024-02-05T00:00:00+00:00", "2024-03-04T00:00:00+00:00");
	EXPECT("0 0 0 ? * SUNL", "UTC", "2024-01-01T00:00:00+00:00",
	    "2024-01-28T00:00:00+00:00", "2024-02-25T00:00:00+00:00",
	    "2024-03-31T00:00:00+00:00");
	EXPECT("0 0 0 ? * 1#1", "UTC", "2024-08-31T00:00:00+00:00",
	    "2024-09-01T00:00:00+00:00", "2024-10-06T00:00:00+00:00");
}

static void
test_years(void **state)
{
	EXPECT("0 0 0 1 1 ? 2030,2035", "UTC", "2024-01-01T00:00:00+00:00",
	    "2030-01-01T00:00:00+00:00", "2035-01-01T00:00:00+00:00", "END");
	EXPECT("0 0 0 1 1 ? 2098-2099", "UTC", "2024-01-01T00:00:00+00:00",
	    "2098-01-01T00:00:00+00:00", "2099-01-01T00:00:00+00:00", "END");
	EXPECT("0 0 0 1 1 ? 1970", "UTC", "1969-06-01T00:00:00+00:00",
	    "1970-01-01T00:00:00+00:00", "END");
	/* A year in the past fires never. */
	EXPECT("0 0 0 * * ? 2020", "UTC", "2024-01-01T00:00:00+00:00", "END");
}

/* The four DST rules of the issue, in America/New_York. */
static void
test_dst_new_york(void **state)
{
	/* 1: 02:30 does not exist on 2024-03-10. */
	EXPECT("0 30 2 * * ?", "America/New_York", "2024-03-09T12:00:00-05:00",
	    "2024-03-11T02:30:00-04:00");
	EXPECT("0 0 2 * * ?", "America/New_York", "2024-03-09T03:00:00-05:00",
	    "2024-03-11T02:00:00-04:00");
	EXPECT("0 0 3 * * ?", "America/New_York", "2024-03-09T12:00:00-05:00",
	    "2024-03-10T03:00:00-04:00");
	EXPECT("0 */30 * * * ?", "America/New_York",
	    "2024-03-10T01:00:00-05:00", "2024-03-10T01:30:00-05:00",
	    "2024-03-10T03:00:00-04:00");
	/* 2: the repeated hour of 2024-11-03 fires once, at standard time. */
	EXPECT("0 0/30 * * * ?", "America/New_York",
	    "2024-11-03T00:00:00-04:00", "2024-11-03T00:30:00-04:00",
	    "2024-11-03T01:00:00-05:00", "2024-11-03T01:30:00-05:00",
	    "2024-11-03T02:00:00-05:00");
	EXPECT("0 0 1 * * ?", "America/New_York", "2024-11-02T12:00:00-04:00",
	    "2024-11-03T01:00:00-05:00", "2024-11-04T01:00:00-05:00");
	/* 3: from 01:45 EDT, 01:30 EST is earlier on the wall clock. */
	EXPECT("0 0/30 * * * ?", "America/New_York",
	    "2024-11-03T01:45:00-04:00", "2024-11-03T02:00:00-05:00");
	EXPECT("0 0/30 * * * ?", "America/New_York",
	    "2024-11-03T01:15:00-05:00", "2024-11-03T01:30:00-05:00");
	/* 4: never is found fast. */
	EXPECT("0 0 0 30 FEB ?", "America/New_York",
	    "2024-01-01T00:00:00-05:00", "END");
}

static void
test_dst_london(void **state)
{
	EXPECT("0 30 1 * * ?", "Europe/London", "2024-03-30T12:00:00+00:00",
	    "2024-04-01T01:30:00+01:00");
	EXPECT("0 30 1 * * ?", "Europe/London", "2024-10-26T12:00:00+01:00",
	    "2024-10-27T01:30:00+00:00", "2024-10-28T01:30:00+00:00");
	EXPECT("0 0/30 * * * ?", "Europe/London", "2024-10-27T00:45:00+01:00",
	    "2024-10-27T01:00:00+00:00", "2024-10-27T01:30:00+00:00",
	    "2024-10-27T02:00:00+00:00");
	EXPECT("0 0/30 * * * ?", "Europe/London", "2024-10-27T01:45:00+01:00",
	    "2024-10-27T02:00:00+00:00");
	/* Past the zone file's table: the POSIX TZ footer's rule. */
	EXPECT("0 30 1 ? 10 SUNL", "Europe/London", "2090-01-01T00:00:00+00:00",
	    "2090-10-29T01:30:00+00:00");
	/* ... where 01:30 on the last Sunday of March never exists. */
	EXPECT("0 30 1 ? 3 SUNL", "Europe/London", "2090-01-01T00:00:00+00:00",
	    "END");
}

/* Lord Howe Island: +10:30 standard, +11 summer, a 30-minute shift. */
static void
test_dst_lord_howe(void **state)
{
	/* Summer time ends 2024-04-07 at 02:00 +11 -> 01:30 +10:30. */
	EXPECT("0 0/15 * * * ?", "Australia/Lord_Howe",
	    "2024-04-07T01:00:00+11:00", "2024-04-07T01:15:00+11:00",
	    "2024-04-07T01:30:00+10:30", "2024-04-07T01:45:00+10:30",
	    "2024-04-07T02:00:00+10:30");
	EXPECT("0 0/15 * * * ?", "Australia/Lord_Howe",
	    "2024-04-07T01:50:00+11:00", "2024-04-07T02:00:00+10:30");
	/* Summer time starts 2024-10-06 at 02:00 +10:30 -> 02:30 +11. */
	EXPECT("0 15 2 * * ?", "Australia/Lord_Howe",
	    "2024-10-05T12:00:00+10:30", "2024-10-07T02:15:00+11:00");
	EXPECT("0 30 2 * * ?", "Australia/Lord_Howe",
	    "2024-10-05T12:00:00+10:30", "2024-10-06T02:30:00+11:00");
	EXPECT("0 0 12 * * ?", "Australia/Lord_Howe",
	    "2024-07-01T00:00:00+10:30", "2024-07-01T12:00:00+10:30");
}

static void
test_odd_offsets(void **state)
{
	EXPECT("0 0 9 * * ?", "Asia/Kolkata", "2024-01-01T00:00:00+05:30",
	    "2024-01-01T09:00:00+05:30", "2024-01-02T09:00:00+05:30");
	EXPECT("0 0 0 1 1 ?", "Asia/Kolkata", "2024-06-01T00:00:00+05:30",
	    "2025-01-01T00:00:00+05:30");
}

/* The zone must not come from the process's TZ. */
static void
test_process_tz_ignored(void **state)
{
	setenv("TZ", "Asia/Tokyo", 1);
	tzset();
	EXPECT("0 0 12 * * ?", "UTC", "2024-01-01T00:00:00+00:00",
	    "2024-01-01T12:00:00+00:00");
	unsetenv("TZ");
}

static void
test_null_zone_is_utc(void **state)
{
	struct cronspec *cs;
	int64_t t;

	assert_int_equal(cronspec_parse("0 0 12 * * ?", &cs, NULL), 0);
	assert_int_equal(cronspec_next(cs, NULL, 0, &t), 0);
	assert_int_equal(t, 12 * 3600);
	cronspec_free(cs);
	cronspec_free(NULL);
}

struct bad {
	const char *expr;
	int column;
	const char *field;
	const char *words;
};

static const struct bad bad[] = {
	{ "", 1, "expression", "empty expression" },
	{ "   ", 4, "expression", "empty expression" },
	{ "0 0 12 * *", 11, "expression", "found 5" },
	{ "0 0 12 * * ? 2024 x", 19, "expression", "8th field" },
	{ "60 * * ? * *", 1, "seconds", "0-59" },
	{ "0 60 * ? * *", 3, "minutes", "0-59" },
	{ "0 0 24 * * ?", 5, "hours", "0-23" },
	{ "0 0 0 32 * ?", 7, "day-of-month", "1-31" },
	{ "0 0 0 0 * ?", 7, "day-of-month", "1-31" },
	{ "0 0 0 ? 13 *", 9, "month", "1-12" },
	{ "0 0 0 ? * 8", 11, "day-of-week", "1-7" },
	{ "0 0 0 ? * 0", 11, "day-of-week", "1 = SUN" },
	{ "0 0 0 1 1 ? 1969", 13, "year", "1970-2099" },
	{ "0 0 0 1 1 ? 2100", 13, "year", "1970-2099" },
	{ "0 0 0 ? * MON/2", 14, "day-of-week", "write 2/2" },
	{ "0 0 0 1 JAN/3 ?", 12, "month", "write 1/3" },
	{ "0 0 9 ? * MON-FRI/2", 18, "day-of-week", "2-6/2" },
	{ "0 0 9 1 OCT-MAR/2 ?", 16, "month", "10-3/2" },
	{ "0 0 9 ? * 2-FRI/2", 16, "day-of-week", "2-6/2" },
	{ "0 0 0 ? * L-2", 11, "day-of-week", "belong in day-of-month" },
	{ "0 0 0 ? * MONDAY", 11, "day-of-week", "write MON" },
	{ "0 0 0 ? JANUARY *", 9, "month", "write JAN" },
	{ "0 0 0 15W,20 * ?", 10, "day-of-month", "stand alone" },
	{ "0 0 0 1-15W * ?", 8, "day-of-month", "not a range" },
	{ "0 0 0 ? * MON#1,FRI", 16, "day-of-week", "stand alone" },
	{ "0 0 0 ? * 2-6L", 12, "day-of-week", "not a range" },
	{ "0 0 0 L,15 * ?", 8, "day-of-month", "stand alone" },
	{ "0 0 0 ? * 6#3/2", 14, "day-of-week", "step" },
	{ "0 0 0 * * *", 11, "day-of-week", "both set" },
	{ "0 0 0 1 * 2", 11, "day-of-week", "both set" },
	{ "0 0 0 ? * ?", 11, "day-of-week", "both" },
	{ "*/0 * * ? * *", 3, "seconds", "step of 0" },
	{ "*/60 * * ? * *", 3, "seconds", "1-59" },
	{ "0 0 */24 ? * *", 7, "hours", "1-23" },
	{ "0 0 0 */32 * ?", 9, "day-of-month", "1-31" },
	{ "0 0 0 ? */13 *", 11, "month", "1-12" },
	{ "0 0 0 ? * */8", 13, "day-of-week", "1-7" },
	{ "0 0 0 L-31 * ?", 9, "day-of-month", "0-30" },
	{ "0 0 0 ? * 6#6", 13, "day-of-week", "1-5" },
	{ "0 0 0 ? * 6#0", 13, "day-of-week", "1-5" },
	{ "0 0 0 ? FOO *", 9, "month", "JAN-DEC" },
	{ "0 0 0 ? * FOO", 11, "day-of-week", "SUN-SAT" },
	{ "? 0 0 1 * ?", 1, "seconds", "only allowed in day-of-month" },
	{ "0 0 0 1 * ? ?", 13, "year", "only allowed" },
	{ "0 0 0 1 * ? 2030-2020", 17, "year", "cannot wrap" },
	{ "0 0 L * * ?", 5, "hours", "only allowed in day-of-month" },
	{ "0 0 0 1,,2 * ?", 9, "day-of-month", "expected a value" },
	{ "0 0 0 1, * ?", 9, "day-of-month", "after ','" },
	{ "0 0 0 5x * ?", 8, "day-of-month", "unexpected" },
	{ "0 0 0 W * ?", 7, "day-of-month", "expected" },
	{ "0 0 0 3 * ? 20", 13, "year", "1970-2099" },
	{ "0 0-", 5, "minutes", "expected a value" },
	{ "0/ * * ? * *", 3, "seconds", "expected a step" },
	{ "0 0 0 LX * ?", 8, "day-of-month", "unexpected" },
	{ "0 0 0 ? * 3X", 12, "day-of-week", "unexpected" },
	{ "0 0 0 ? * 3W", 12, "day-of-week", "unexpected" },
	{ "0 0 0 1 * ? 2030/200", 18, "year", "1-129" },
	{ "0 0 0 1 \x01 ?", 9, "month", "0x01" },
};

static void
test_parse_errors(void **state)
{
	struct cronspec_error err;
	struct cronspec *cs;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&err, 0, sizeof(err));
		cs = (struct cronspec *)&err; /* must be reset to NULL */
		if (cronspec_parse(bad[i].expr, &cs, &err) != -EINVAL)
			fail_msg("'%s' was accepted", bad[i].expr);
		assert_null(cs);
		if (err.column != bad[i].column ||
		    strcmp(err.field, bad[i].field) != 0 ||
		    strstr(err.message, bad[i].words) == NULL)
			fail_msg("'%s': got column %d (%s): %s; expected "
				 "column %d (%s) with '%s'",
			    bad[i].expr, err.column, err.field, err.message,
			    bad[i].column, bad[i].field, bad[i].words);
	}
}

/* Every accepted expression re-parses; and next() is monotonic. */
static void
test_next_is_increasing(void **state)
{
	static const char *const exprs[] = { "* * * ? * *", "0 0 0 LW * ?",
		"0 0 0 ? * 2#5", "0 30 2 ? * SUNL", "0 0/7 * * * ?" };
	static const char *const zones[] = { "UTC", "America/New_York",
		"Europe/London", "Australia/Lord_Howe" };
	struct cronspec *cs;
	struct tz *tz;
	int64_t t, prev, end = iso("2099-01-01T00:00:00+00:00");
	size_t i, j;
	int k, r;

	for (i = 0; i < sizeof(exprs) / sizeof(exprs[0]); i++) {
		assert_int_equal(cronspec_parse(exprs[i], &cs, NULL), 0);
		for (j = 0; j < sizeof(zones) / sizeof(zones[0]); j++) {
			assert_int_equal(tz_load(zones[j], &tz), 0);
			prev = t = iso("2024-03-01T00:00:00+00:00");
			for (k = 0; k < 2000; k++) {
				r = cronspec_next(cs, tz, t, &t);
				if (r == -ENOENT && prev >= end)
					break;
				if (r != 0)
					fail_msg("'%s' in %s: no fire after "
						 "%lld",
					    exprs[i], zones[j],
					    (long long)prev);
				assert_true(t > prev);
				prev = t;
			}
			tz_free(tz);
		}
		cronspec_free(cs);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_quartz_examples),
		cmocka_unit_test(test_names_case_and_space),
		cmocka_unit_test(test_steps),
		cmocka_unit_test(test_wrapping_ranges),
		cmocka_unit_test(test_month_ends_and_leap_years),
		cmocka_unit_test(test_nearest_weekday),
		cmocka_unit_test(test_nth_and_last_weekday),
		cmocka_unit_test(test_years),
		cmocka_unit_test(test_dst_new_york),
		cmocka_unit_test(test_dst_london),
		cmocka_unit_test(test_dst_lord_howe),
		cmocka_unit_test(test_odd_offsets),
		cmocka_unit_test(test_process_tz_ignored),
		cmocka_unit_test(test_null_zone_is_utc),
		cmocka_unit_test(test_parse_errors),
		cmocka_unit_test(test_next_is_increasing),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
