/*
 * schedule.c: Keeper's structured schedules, compiled to cron specs.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cronspec.h"
#include "schedule.h"
#include "tz.h"

struct schedule {
	enum schedule_type type;
	struct cronspec *cs; /* NULL for ON_DEMAND */
	struct tz *tz;       /* evaluation zone */
	struct tz *display;  /* zone to show times in (may equal tz) */
	int interval;
	char cron[96];
};

static const char *const key_names[SCHEDULE_KEY_COUNT] = {
	[SCHEDULE_KEY_TYPE] = "type",
	[SCHEDULE_KEY_CRON] = "cron",
	[SCHEDULE_KEY_TZ] = "tz",
	[SCHEDULE_KEY_UTC_TIME] = "utcTime",
	[SCHEDULE_KEY_TIME] = "time",
	[SCHEDULE_KEY_INTERVAL_COUNT] = "intervalCount",
	[SCHEDULE_KEY_WEEKDAY] = "weekday",
	[SCHEDULE_KEY_MONTH_DAY] = "monthDay",
	[SCHEDULE_KEY_OCCURRENCE] = "occurrence",
	[SCHEDULE_KEY_MONTH] = "month",
	[SCHEDULE_KEY_DATE] = "date",
};

static const char *const type_names[] = {
	[SCHEDULE_CRON] = "CRON",
	[SCHEDULE_DAILY] = "DAILY",
	[SCHEDULE_WEEKLY] = "WEEKLY",
	[SCHEDULE_MONTHLY_BY_DAY] = "MONTHLY_BY_DAY",
	[SCHEDULE_MONTHLY_BY_WEEKDAY] = "MONTHLY_BY_WEEKDAY",
	[SCHEDULE_YEARLY] = "YEARLY",
	[SCHEDULE_RUN_ONCE] = "RUN_ONCE",
	[SCHEDULE_ON_DEMAND] = "ON_DEMAND",
};

/* Which keys each type takes, besides type and tz which all take. */
#define K(k) (1u << (k))
#define TIME_KEYS (K(SCHEDULE_KEY_UTC_TIME) | K(SCHEDULE_KEY_TIME))
static const unsigned type_keys[] = {
	[SCHEDULE_CRON] = K(SCHEDULE_KEY_CRON),
	[SCHEDULE_DAILY] = TIME_KEYS | K(SCHEDULE_KEY_INTERVAL_COUNT),
	[SCHEDULE_WEEKLY] = TIME_KEYS | K(SCHEDULE_KEY_INTERVAL_COUNT) |
	    K(SCHEDULE_KEY_WEEKDAY),
	[SCHEDULE_MONTHLY_BY_DAY] = TIME_KEYS | K(SCHEDULE_KEY_INTERVAL_COUNT) |
	    K(SCHEDULE_KEY_MONTH_DAY),
	[SCHEDULE_MONTHLY_BY_WEEKDAY] = TIME_KEYS |
	    K(SCHEDULE_KEY_INTERVAL_COUNT) | K(SCHEDULE_KEY_WEEKDAY) |
	    K(SCHEDULE_KEY_OCCURRENCE),
	[SCHEDULE_YEARLY] = TIME_KEYS | K(SCHEDULE_KEY_INTERVAL_COUNT) |
	    K(SCHEDULE_KEY_MONTH) | K(SCHEDULE_KEY_MONTH_DAY),
	[SCHEDULE_RUN_ONCE] = TIME_KEYS | K(SCHEDULE_KEY_DATE),
	[SCHEDULE_ON_DEMAND] = 0,
};

/* The largest intervalCount per type: a year's worth of each unit. */
static const int max_interval[] = {
	[SCHEDULE_DAILY] = 365,
	[SCHEDULE_WEEKLY] = 52,
	[SCHEDULE_MONTHLY_BY_DAY] = 12,
	[SCHEDULE_MONTHLY_BY_WEEKDAY] = 12,
	[SCHEDULE_YEARLY] = 10,
};

static const char *const weekdays[] = { "SUNDAY", "MONDAY", "TUESDAY",
	"WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY" };
static const char *const months[] = { "JANUARY", "FEBRUARY", "MARCH", "APRIL",
	"MAY", "JUNE", "JULY", "AUGUST", "SEPTEMBER", "OCTOBER", "NOVEMBER",
	"DECEMBER" };
static const char *const occurrences[] = { "FIRST", "SECOND", "THIRD", "FOURTH",
	"LAST" };

const char *
schedule_key_name(enum schedule_key key)
{
	return key < SCHEDULE_KEY_COUNT ? key_names[key] : "schedule";
}

int
schedule_key_from_name(const char *name)
{
	int i;

	for (i = 0; i < SCHEDULE_KEY_COUNT; i++)
		if (strcmp(name, key_names[i]) == 0)
			return i;
	return -ENOENT;
}

const char *
schedule_type_name(enum schedule_type type)
{
	return type <= SCHEDULE_ON_DEMAND ? type_names[type] : "?";
}

static int __attribute__((format(printf, 3, 4)))
fail(struct schedule_error *err, enum schedule_key key, const char *fmt, ...)
{
	va_list ap;

	if (err != NULL) {
		err->key = key;
		err->column = 0;
		err->cron_field = NULL;
		va_start(ap, fmt);
		vsnprintf(err->message, sizeof(err->message), fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

/* Index of S in NAMES (case-insensitive), or -1. */
static int
lookup(const char *s, const char *const *names, int n)
{
	int i;

	for (i = 0; i < n; i++)
		if (strcasecmp(s, names[i]) == 0)
			return i;
	return -1;
}

/* A decimal integer in [min, max] and nothing else. */
static int
parse_int(const char *s, int min, int max, int *ret)
{
	long v = 0;

	if (*s == '\0')
		return -EINVAL;
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9')
			return -EINVAL;
		v = v * 10 + (*s - '0');
		if (v > max)
			return -EINVAL;
	}
	if (v < min)
		return -EINVAL;
	*ret = (int)v;
	return 0;
}

/* "HH:MM" or "HH:MM:SS", 24-hour clock, two digits each. */
static int
parse_time(const char *s, int *h, int *m, int *sec)
{
	char buf[3] = { 0 };
	size_t len = strlen(s);

	if (len != 5 && len != 8)
		return -EINVAL;
	if (s[2] != ':' || (len == 8 && s[5] != ':'))
		return -EINVAL;
	memcpy(buf, s, 2);
	if (parse_int(buf, 0, 23, h) < 0)
		return -EINVAL;
	memcpy(buf, s + 3, 2);
	if (parse_int(buf, 0, 59, m) < 0)
		return -EINVAL;
	*sec = 0;
	if (len == 8) {
		memcpy(buf, s + 6, 2);
		if (parse_int(buf, 0, 59, sec) < 0)
			return -EINVAL;
	}
	return 0;
}

/* "YYYY-MM-DD", a real calendar date within the cron spec's years. */
static int
parse_date(const char *s, int *y, int *mo, int *d)
{
	char buf[5] = { 0 };
	struct cronspec_tm tm;

	if (strlen(s) != 10 || s[4] != '-' || s[7] != '-')
		return -EINVAL;
	memcpy(buf, s, 4);
	if (parse_int(buf, CRONSPEC_YEAR_MIN, CRONSPEC_YEAR_MAX, y) < 0)
		return -EINVAL;
	buf[2] = '\0';
	memcpy(buf, s + 5, 2);
	if (parse_int(buf, 1, 12, mo) < 0)
		return -EINVAL;
	memcpy(buf, s + 8, 2);
	if (parse_int(buf, 1, 31, d) < 0)
		return -EINVAL;
	/* Reject 2025-02-30 by a round trip through the day count. */
	cronspec_civil_from_seconds(
	    cronspec_days_from_civil(*y, *mo, *d) * 86400, &tm);
	return tm.month == *mo && tm.day == *d ? 0 : -EINVAL;
}

static int
load_zone(const char *name, struct tz **ret, struct schedule_error *err)
{
	int r = tz_load(name, ret);

	if (r == -ENOENT) {
		fail(err, SCHEDULE_KEY_TZ,
		    "unknown time zone '%s': expected "
		    "an IANA zone such as Europe/London",
		    name);
		return -ENOENT;
	}
	if (r == -EINVAL)
		return fail(err, SCHEDULE_KEY_TZ,
		    "invalid time zone name "
		    "'%s': expected an IANA zone such as America/New_York",
		    name);
	return r;
}

/*
 * Turn the keys of a structured type into the equivalent cron spec text.
 * The caller has checked that only keys of this type are present.
 */
static int
compile(enum schedule_type type, const struct schedule_fields *f, char *buf,
    size_t size, struct schedule_error *err)
{
	const char *const *v = f->value;
	enum schedule_key tkey;
	int h, m, s, i, day, y, mo;
	int n;

	if (v[SCHEDULE_KEY_UTC_TIME] != NULL && v[SCHEDULE_KEY_TIME] != NULL)
		return fail(err, SCHEDULE_KEY_TIME,
		    "give either utcTime (in "
		    "UTC) or time (in tz), not both");
	tkey = v[SCHEDULE_KEY_UTC_TIME] != NULL ? SCHEDULE_KEY_UTC_TIME
						: SCHEDULE_KEY_TIME;
	if (v[tkey] == NULL)
		return fail(err, SCHEDULE_KEY_TIME,
		    "%s needs a time of day: "
		    "time (in tz) or utcTime, as \"HH:MM\" or \"HH:MM:SS\"",
		    type_names[type]);
	if (parse_time(v[tkey], &h, &m, &s) < 0)
		return fail(err, tkey,
		    "invalid %s '%s': expected \"HH:MM\" "
		    "or \"HH:MM:SS\" on a 24-hour clock",
		    key_names[tkey], v[tkey]);

	switch (type) {
	case SCHEDULE_DAILY:
		n = snprintf(buf, size, "%d %d %d * * ?", s, m, h);
		break;
	case SCHEDULE_WEEKLY:
		if (v[SCHEDULE_KEY_WEEKDAY] == NULL)
			return fail(err, SCHEDULE_KEY_WEEKDAY,
			    "WEEKLY needs "
			    "weekday: SUNDAY to SATURDAY");
		i = lookup(v[SCHEDULE_KEY_WEEKDAY], weekdays, 7);
		if (i < 0)
			return fail(err, SCHEDULE_KEY_WEEKDAY,
			    "invalid "
			    "weekday '%s': expected SUNDAY to SATURDAY",
			    v[SCHEDULE_KEY_WEEKDAY]);
		n = snprintf(buf, size, "%d %d %d ? * %d", s, m, h, i + 1);
		break;
	case SCHEDULE_MONTHLY_BY_DAY:
		if (v[SCHEDULE_KEY_MONTH_DAY] == NULL ||
		    parse_int(v[SCHEDULE_KEY_MONTH_DAY], 1, 31, &day) < 0)
			return fail(err, SCHEDULE_KEY_MONTH_DAY,
			    "%s needs "
			    "monthDay 1-31 (a month without that day is "
			    "skipped; for the last day use cron \"0 0 0 L * "
			    "?\")",
			    type_names[type]);
		n = snprintf(buf, size, "%d %d %d %d * ?", s, m, h, day);
		break;
	case SCHEDULE_MONTHLY_BY_WEEKDAY:
		if (v[SCHEDULE_KEY_WEEKDAY] == NULL ||
		    (i = lookup(v[SCHEDULE_KEY_WEEKDAY], weekdays, 7)) < 0)
			return fail(err, SCHEDULE_KEY_WEEKDAY,
			    "%s needs "
			    "weekday: SUNDAY to SATURDAY",
			    type_names[type]);
		if (v[SCHEDULE_KEY_OCCURRENCE] == NULL ||
		    (day = lookup(v[SCHEDULE_KEY_OCCURRENCE], occurrences, 5)) <
			0)
			return fail(err, SCHEDULE_KEY_OCCURRENCE,
			    "%s needs "
			    "occurrence: FIRST, SECOND, THIRD, FOURTH or LAST",
			    type_names[type]);
		if (day == 4)
			n = snprintf(
			    buf, size, "%d %d %d ? * %dL", s, m, h, i + 1);
		else
			n = snprintf(buf, size, "%d %d %d ? * %d#%d", s, m, h,
			    i + 1, day + 1);
		break;
	case SCHEDULE_YEARLY:
		if (v[SCHEDULE_KEY_MONTH] == NULL ||
		    (mo = lookup(v[SCHEDULE_KEY_MONTH], months, 12)) < 0)
			return fail(err, SCHEDULE_KEY_MONTH,
			    "YEARLY needs "
			    "month: JANUARY to DECEMBER");
		if (v[SCHEDULE_KEY_MONTH_DAY] == NULL ||
		    parse_int(v[SCHEDULE_KEY_MONTH_DAY], 1, 31, &day) < 0)
			return fail(err, SCHEDULE_KEY_MONTH_DAY,
			    "YEARLY needs "
			    "monthDay 1-31");
		if (day > (mo == 1 ? 29
				  : mo == 3 || mo == 5 || mo == 8 || mo == 10
				  ? 30
				  : 31))
			return fail(err, SCHEDULE_KEY_MONTH_DAY,
			    "%s has no "
			    "day %d",
			    months[mo], day);
		n = snprintf(
		    buf, size, "%d %d %d %d %d ?", s, m, h, day, mo + 1);
		break;
	case SCHEDULE_RUN_ONCE:
		if (v[SCHEDULE_KEY_DATE] == NULL ||
		    parse_date(v[SCHEDULE_KEY_DATE], &y, &mo, &day) < 0)
			return fail(err, SCHEDULE_KEY_DATE,
			    "RUN_ONCE needs "
			    "date: \"YYYY-MM-DD\", a real date in %d-%d",
			    CRONSPEC_YEAR_MIN, CRONSPEC_YEAR_MAX);
		n = snprintf(
		    buf, size, "%d %d %d %d %d ? %d", s, m, h, day, mo, y);
		break;
	default:
		abort();
	}
	return n > 0 && (size_t)n < size ? 0 : -EINVAL;
}

int
schedule_new(const struct schedule_fields *f, struct schedule **ret,
    struct schedule_error *err)
{
	const char *const *v = f->value;
	struct cronspec_error cerr;
	struct schedule *s = NULL;
	const char *zone_name;
	int type, i, r;
	bool utc;

	*ret = NULL;
	if (v[SCHEDULE_KEY_TYPE] == NULL)
		type = v[SCHEDULE_KEY_CRON] != NULL ? SCHEDULE_CRON : -1;
	else
		type = lookup(
		    v[SCHEDULE_KEY_TYPE], type_names, SCHEDULE_ON_DEMAND + 1);
	if (type < 0)
		return fail(err, SCHEDULE_KEY_TYPE,
		    "%s type%s%s: expected "
		    "CRON, DAILY, WEEKLY, MONTHLY_BY_DAY, MONTHLY_BY_WEEKDAY, "
		    "YEARLY, RUN_ONCE or ON_DEMAND",
		    v[SCHEDULE_KEY_TYPE] == NULL ? "missing" : "unknown",
		    v[SCHEDULE_KEY_TYPE] == NULL ? "" : " ",
		    v[SCHEDULE_KEY_TYPE] == NULL ? "" : v[SCHEDULE_KEY_TYPE]);

	for (i = 0; i < SCHEDULE_KEY_COUNT; i++) {
		if (v[i] == NULL || i == SCHEDULE_KEY_TYPE ||
		    i == SCHEDULE_KEY_TZ)
			continue;
		if (!(type_keys[type] & K(i)))
			return fail(err, i,
			    "%s does not apply to a %s "
			    "schedule",
			    key_names[i], type_names[type]);
	}

	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return -ENOMEM;
	s->type = type;
	s->interval = 1;

	zone_name = v[SCHEDULE_KEY_TZ] != NULL ? v[SCHEDULE_KEY_TZ] : "UTC";
	r = load_zone(zone_name, &s->display, err);
	if (r < 0)
		goto out;
	/* utcTime puts the whole schedule on the UTC clock; tz is then only
	 * the zone in which times are shown. */
	utc = v[SCHEDULE_KEY_UTC_TIME] != NULL;
	if (utc && strcmp(zone_name, "UTC") != 0) {
		r = load_zone("UTC", &s->tz, err);
		if (r < 0)
			goto out;
	}

	if (v[SCHEDULE_KEY_INTERVAL_COUNT] != NULL &&
	    parse_int(v[SCHEDULE_KEY_INTERVAL_COUNT], 1, max_interval[type],
		&s->interval) < 0) {
		r = fail(err, SCHEDULE_KEY_INTERVAL_COUNT,
		    "invalid "
		    "intervalCount '%s': expected 1-%d",
		    v[SCHEDULE_KEY_INTERVAL_COUNT], max_interval[type]);
		goto out;
	}

	switch (type) {
	case SCHEDULE_ON_DEMAND:
		r = 0;
		goto done;
	case SCHEDULE_CRON:
		if (v[SCHEDULE_KEY_CRON] == NULL) {
			r = fail(err, SCHEDULE_KEY_CRON,
			    "CRON needs cron: a "
			    "cron spec such as \"0 0 3 ? * SUN\"");
			goto out;
		}
		if (strlen(v[SCHEDULE_KEY_CRON]) >= sizeof(s->cron)) {
			r = fail(err, SCHEDULE_KEY_CRON,
			    "cron spec longer "
			    "than %zu characters",
			    sizeof(s->cron) - 1);
			goto out;
		}
		strcpy(s->cron, v[SCHEDULE_KEY_CRON]);
		break;
	default:
		r = compile(type, f, s->cron, sizeof(s->cron), err);
		if (r < 0)
			goto out;
	}

	r = cronspec_parse(s->cron, &s->cs, &cerr);
	if (r == -EINVAL) {
		fail(err, SCHEDULE_KEY_CRON, "%s", cerr.message);
		if (err != NULL) {
			err->column = cerr.column;
			err->cron_field = cerr.field;
		}
		goto out;
	}
	if (r < 0)
		goto out;
done:
	*ret = s;
	s = NULL;
out:
	schedule_free(s);
	return r;
}

int
schedule_new_cron(const char *expr, const char *zone_name,
    struct schedule **ret, struct schedule_error *err)
{
	struct schedule_fields f = { 0 };

	f.value[SCHEDULE_KEY_TYPE] = "CRON";
	f.value[SCHEDULE_KEY_CRON] = expr;
	f.value[SCHEDULE_KEY_TZ] = zone_name;
	return schedule_new(&f, ret, err);
}

void
schedule_free(struct schedule *s)
{
	if (s == NULL)
		return;
	cronspec_free(s->cs);
	tz_free(s->tz);
	tz_free(s->display);
	free(s);
}

enum schedule_type
schedule_type(const struct schedule *s)
{
	return s->type;
}

const struct tz *
schedule_tz(const struct schedule *s)
{
	return s->tz != NULL ? s->tz : s->display;
}

const struct tz *
schedule_display_tz(const struct schedule *s)
{
	return s->display;
}

const char *
schedule_cron(const struct schedule *s)
{
	return s->cron;
}

int
schedule_interval(const struct schedule *s)
{
	return s->interval;
}

/* Whether the wall-clock date of instant T lies in an interval period. */
static bool
in_period(const struct schedule *s, int64_t t)
{
	const struct tz *tz = schedule_tz(s);
	struct cronspec_tm tm;
	int64_t days, n;

	if (s->interval == 1)
		return true;
	cronspec_civil_from_seconds(t + tz_offset_at(tz, t), &tm);
	switch (s->type) {
	case SCHEDULE_DAILY:
		n = cronspec_days_from_civil(tm.year, tm.month, tm.day);
		break;
	case SCHEDULE_WEEKLY:
		/* Weeks run Sunday to Saturday; week 0 holds 1970-01-01, a
		 * Thursday, and began on Sunday 1969-12-28. */
		days = cronspec_days_from_civil(tm.year, tm.month, tm.day);
		n = (days + 4) / 7;
		break;
	case SCHEDULE_MONTHLY_BY_DAY:
	case SCHEDULE_MONTHLY_BY_WEEKDAY:
		n = (int64_t)(tm.year - 1970) * 12 + tm.month - 1;
		break;
	case SCHEDULE_YEARLY:
		n = tm.year - 1970;
		break;
	default:
		return true;
	}
	return n % s->interval == 0;
}

int64_t
schedule_min_wall_gap(const struct schedule *s)
{
	/* intervalCount only drops fires, which widens gaps. */
	return s->cs == NULL ? INT64_MAX : cronspec_min_wall_gap(s->cs);
}

bool
schedule_same(const struct schedule *a, const struct schedule *b)
{
	/* The cron text is all a schedule compiled from, structured types
	 * included (too long a spec is refused, never cut). */
	if (a == NULL || b == NULL)
		return a == b;
	return a->type == b->type && a->interval == b->interval &&
	    a->tz == b->tz && a->display == b->display &&
	    strcmp(a->cron, b->cron) == 0;
}

int
schedule_next(const struct schedule *s, int64_t after, int64_t *ret)
{
	int r;

	if (s->cs == NULL)
		return -ENOENT;
	/* Each round moves past one fire; the cron spec's end in 2099
	 * bounds the loop. */
	for (;;) {
		r = cronspec_next(s->cs, schedule_tz(s), after, ret);
		if (r < 0 || in_period(s, *ret))
			return r;
		after = *ret;
	}
}
