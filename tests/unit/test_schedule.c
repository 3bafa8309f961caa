/*
 * Unit tests of Keeper's structured schedules.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "cronspec.h"
#include "schedule.h"
#include "tz.h"

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
	int32_t off = tz_offset_at(tz, t), a = off < 0 ? -off : off;
	struct cronspec_tm tm;

	cronspec_civil_from_seconds(t + off, &tm);
	snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d%c%02d:%02d", tm.year,
	    tm.month, tm.day, tm.hour, tm.minute, tm.second,
	    off < 0 ? '-' : '+', a / 3600, a / 60 % 60);
}

/* Schedule from "key=value" strings, or fail. */
static struct schedule *
make(const char *const *kv)
{
	struct schedule_fields f = { 0 };
	struct schedule_error err = { 0 };
	struct schedule *s = NULL;
	char key[64];
	int i, k;

	for (i = 0; kv[i] != NULL; i++) {
		const char *eq = strchr(kv[i], '=');

		assert_non_null(eq);
		snprintf(key, sizeof(key), "%.*s", (int)(eq - kv[i]), kv[i]);
		k = schedule_key_from_name(key);
		assert_true(k >= 0);
		f.value[k] = eq + 1;
	}
	if (schedule_new(&f, &s, &err) != 0)
		fail_msg("%s: %s", schedule_key_name(err.key), err.message);
	return s;
}

/*
 * Build a schedule from "key=value" strings (NULL-terminated), and check
 * its cron spec and fire times from FROM (shown in the display zone).
 */
static void
expect(const char *const *kv, const char *cron, const char *from,
    const char *const *want)
{
	struct schedule *s = make(kv);
	char got[64];
	int64_t t;
	int i, r;

	assert_string_equal(schedule_cron(s), cron);
	t = iso(from);
	for (i = 0; want[i] != NULL; i++) {
		r = schedule_next(s, t, &t);
		if (strcmp(want[i], "END") == 0) {
			assert_int_equal(r, -ENOENT);
			break;
		}
		assert_int_equal(r, 0);
		format(t, schedule_display_tz(s), got, sizeof(got));
		if (strcmp(got, want[i]) != 0)
			fail_msg("%s: expected %s, got %s", cron, want[i], got);
	}
	schedule_free(s);
}

#define KV(...) ((const char *const[]){ __VA_ARGS__, NULL })

static void
test_cron_type(void **state)
{
	expect(KV("type=CRON", "cron=0 0 3 ? * SUN", "tz=Europe/London"),
	    "0 0 3 ? * SUN", "2024-01-01T00:00:00+00:00",
	    KV("2024-01-07T03:00:00+00:00", "2024-01-14T03:00:00+00:00"));
	/* type may be left out when cron is given. */
	expect(KV("cron=0 0 12 * * ?"), "0 0 12 * * ?",
	    "2024-01-01T00:00:00+00:00", KV("2024-01-01T12:00:00+00:00"));
}

static void
test_daily(void **state)
{
	expect(KV("type=DAILY", "time=03:30", "tz=America/New_York"),
	    "0 30 3 * * ?", "2024-03-09T12:00:00-05:00",
	    KV("2024-03-10T03:30:00-04:00", "2024-03-11T03:30:00-04:00"));
	/* utcTime: on the UTC clock, shown in tz. */
	expect(KV("type=DAILY", "utcTime=18:00:30", "tz=Asia/Kolkata"),
	    "30 0 18 * * ?", "2024-01-01T00:00:00+00:00",
	    KV("2024-01-01T23:30:30+05:30", "2024-01-02T23:30:30+05:30"));
	/* Every 3 days: days whose number since 1970-01-01 is a multiple
	 * of 3.  2024-01-03 is day 19725 = 3 * 6575. */
	expect(KV("type=DAILY", "time=00:00", "intervalCount=3"), "0 0 0 * * ?",
	    "2024-01-01T00:00:00+00:00",
	    KV("2024-01-03T00:00:00+00:00", "2024-01-06T00:00:00+00:00",
		"2024-01-09T00:00:00+00:00"));
}

static void
test_weekly(void **state)
{
	expect(KV("type=WEEKLY", "weekday=WEDNESDAY", "time=15:28"),
	    "0 28 15 ? * 4", "2024-01-01T00:00:00+00:00",
	    KV("2024-01-03T15:28:00+00:00", "2024-01-10T15:28:00+00:00"));
	/* Every 2 weeks, weeks counted from Sunday 1969-12-28: the week of
	 * Sunday 2023-12-31 is week 2818, even. */
	expect(KV("type=WEEKLY", "weekday=monday", "time=09:00",
		   "intervalCount=2"),
	    "0 0 9 ? * 2", "2023-12-30T00:00:00+00:00",
	    KV("2024-01-01T09:00:00+00:00", "2024-01-15T09:00:00+00:00",
		"2024-01-29T09:00:00+00:00"));
}

static void
test_monthly(void **state)
{
	expect(KV("type=MONTHLY_BY_DAY", "monthDay=31", "time=01:00"),
	    "0 0 1 31 * ?", "2024-01-31T02:00:00+00:00",
	    KV("2024-03-31T01:00:00+00:00", "2024-05-31T01:00:00+00:00"));
	expect(KV("type=MONTHLY_BY_WEEKDAY", "weekday=FRIDAY",
		   "occurrence=LAST", "time=22:00"),
	    "0 0 22 ? * 6L", "2024-01-01T00:00:00+00:00",
	    KV("2024-01-26T22:00:00+00:00", "2024-02-23T22:00:00+00:00"));
	expect(KV("type=MONTHLY_BY_WEEKDAY", "weekday=TUESDAY",
		   "occurrence=SECOND", "time=10:00", "intervalCount=3"),
	    "0 0 10 ? * 3#2", "2024-01-01T00:00:00+00:00",
	    KV("2024-01-09T10:00:00+00:00", "2024-04-09T10:00:00+00:00",
		"2024-07-09T10:00:00+00:00"));
}

static void
test_yearly_once_demand(void **state)
{
	expect(KV("type=YEARLY", "month=FEBRUARY", "monthDay=29", "time=12:00"),
	    "0 0 12 29 2 ?", "2024-03-01T00:00:00+00:00",
	    KV("2028-02-29T12:00:00+00:00"));
	expect(KV("type=RUN_ONCE", "date=2030-06-01", "time=08:00",
		   "tz=Europe/London"),
	    "0 0 8 1 6 ? 2030", "2024-01-01T00:00:00+00:00",
	    KV("2030-06-01T08:00:00+01:00", "END"));
	expect(
	    KV("type=ON_DEMAND"), "", "2024-01-01T00:00:00+00:00", KV("END"));
}

struct bad {
	const char *kv[6];
	enum schedule_key key;
	const char *words;
};

static const struct bad bad[] = {
	{ { "type=HOURLY" }, SCHEDULE_KEY_TYPE, "unknown type HOURLY" },
	{ { "tz=UTC" }, SCHEDULE_KEY_TYPE, "missing type" },
	{ { "type=DAILY" }, SCHEDULE_KEY_TIME, "needs a time" },
	{ { "type=DAILY", "time=24:00" }, SCHEDULE_KEY_TIME, "HH:MM" },
	{ { "type=DAILY", "time=3:00" }, SCHEDULE_KEY_TIME, "HH:MM" },
	{ { "type=DAILY", "time=03:00", "utcTime=03:00" }, SCHEDULE_KEY_TIME,
	    "not both" },
	{ { "type=DAILY", "time=03:00", "weekday=MONDAY" },
	    SCHEDULE_KEY_WEEKDAY, "does not apply to a DAILY" },
	{ { "type=DAILY", "time=03:00", "intervalCount=0" },
	    SCHEDULE_KEY_INTERVAL_COUNT, "1-365" },
	{ { "type=WEEKLY", "time=03:00", "intervalCount=53", "weekday=MONDAY" },
	    SCHEDULE_KEY_INTERVAL_COUNT, "1-52" },
	{ { "type=WEEKLY", "time=03:00" }, SCHEDULE_KEY_WEEKDAY, "SUNDAY" },
	{ { "type=WEEKLY", "time=03:00", "weekday=MON" }, SCHEDULE_KEY_WEEKDAY,
	    "SUNDAY to SATURDAY" },
	{ { "type=MONTHLY_BY_DAY", "time=03:00", "monthDay=32" },
	    SCHEDULE_KEY_MONTH_DAY, "1-31" },
	{ { "type=MONTHLY_BY_WEEKDAY", "time=03:00", "weekday=MONDAY",
	      "occurrence=FIFTH" },
	    SCHEDULE_KEY_OCCURRENCE, "FOURTH or LAST" },
	{ { "type=YEARLY", "time=03:00", "month=APRIL", "monthDay=31" },
	    SCHEDULE_KEY_MONTH_DAY, "APRIL has no day 31" },
	{ { "type=RUN_ONCE", "time=03:00", "date=2025-02-29" },
	    SCHEDULE_KEY_DATE, "a real date" },
	{ { "type=CRON" }, SCHEDULE_KEY_CRON, "needs cron" },
	{ { "type=CRON", "cron=0 0 0 * * *" }, SCHEDULE_KEY_CRON, "both set" },
	{ { "type=CRON", "cron=0 0 0 * * ?", "tz=Mars/Olympus" },
	    SCHEDULE_KEY_TZ, "unknown time zone" },
	{ { "type=CRON", "cron=0 0 0 * * ?", "tz=../../etc/passwd" },
	    SCHEDULE_KEY_TZ, "invalid time zone" },
};

static void
test_errors(void **state)
{
	struct schedule_error err;
	struct schedule *s;
	size_t i, j;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct schedule_fields f = { 0 };

		for (j = 0; j < 6 && bad[i].kv[j] != NULL; j++) {
			const char *eq = strchr(bad[i].kv[j], '=');
			char key[32];
			int k;

			snprintf(key, sizeof(key), "%.*s",
			    (int)(eq - bad[i].kv[j]), bad[i].kv[j]);
			k = schedule_key_from_name(key);
			assert_true(k >= 0);
			f.value[k] = eq + 1;
		}
		memset(&err, 0, sizeof(err));
		if (schedule_new(&f, &s, &err) == 0)
			fail_msg("case %zu was accepted", i);
		assert_null(s);
		if (err.key != bad[i].key ||
		    strstr(err.message, bad[i].words) == NULL)
			fail_msg("case %zu: got %s: %s; expected %s with '%s'",
			    i, schedule_key_name(err.key), err.message,
			    schedule_key_name(bad[i].key), bad[i].words);
	}
}

static void
test_cron_error_position(void **state)
{
	struct schedule_error err = { 0 };
	struct schedule *s;

	assert_int_equal(
	    schedule_new_cron("0 0 0 ? * MON/2", NULL, &s, &err), -EINVAL);
	assert_int_equal(err.key, SCHEDULE_KEY_CRON);
	assert_int_equal(err.column, 14);
	assert_string_equal(err.cron_field, "day-of-week");
	assert_int_equal(schedule_key_from_name("nope"), -ENOENT);
	assert_string_equal(
	    schedule_key_name(SCHEDULE_KEY_UTC_TIME), "utcTime");
}

/* A reload keeps a user's place in the schedule when its schedule is the
 * same: the same spec in the same zone (read from the same file) is; a
 * change of any part is not. */
static void
test_same(void **state)
{
	const char *const *const other[] = {
		KV("type=DAILY", "time=03:31", "tz=Europe/Paris"),
		KV("type=DAILY", "time=03:30", "tz=Europe/Berlin"),
		KV("type=DAILY", "time=03:30", "tz=Europe/Paris",
		    "intervalCount=2"),
		KV("type=CRON", "cron=0 30 3 * * ?", "tz=Europe/Paris"),
		KV("type=DAILY", "utcTime=03:30", "tz=Europe/Paris"),
	};
	struct schedule *a, *b;
	size_t i;

	(void)state;
	a = make(KV("type=DAILY", "time=03:30", "tz=Europe/Paris"));
	b = make(KV("type=DAILY", "time=03:30", "tz=Europe/Paris"));
	assert_true(schedule_same(a, b));
	assert_true(schedule_same(a, a));
	assert_false(schedule_same(a, NULL));
	assert_true(schedule_same(NULL, NULL));
	for (i = 0; i < sizeof(other) / sizeof(other[0]); i++) {
		schedule_free(b);
		b = make(other[i]);
		if (schedule_same(a, b))
			fail_msg("case %zu is taken for the same schedule", i);
	}
	schedule_free(b);
	/* A new load of the zone database (a tzdata upgrade may have come)
	 * gives the same zone while its file is the same. */
	tz_cache_expire();
	b = make(KV("type=DAILY", "time=03:30", "tz=Europe/Paris"));
	assert_true(schedule_same(a, b));
	schedule_free(b);
	schedule_free(a);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cron_type),
		cmocka_unit_test(test_daily),
		cmocka_unit_test(test_weekly),
		cmocka_unit_test(test_monthly),
		cmocka_unit_test(test_yearly_once_demand),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_cron_error_position),
		cmocka_unit_test(test_same),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
