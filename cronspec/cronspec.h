/*
 * cronspec: Keeper cron specs (Quartz 2.3.2 CronExpression syntax) and
 * Keeper's structured schedules, parsed, validated and evaluated.
 *
 * libc only.  Parsing is strict where Quartz is lax: text Quartz would
 * silently ignore is an error here, so that a schedule never differs from
 * the one its author thinks they wrote.
 */
#ifndef ROTAD_CRONSPEC_H
#define ROTAD_CRONSPEC_H

#include <stddef.h>
#include <stdint.h>

struct tz;

/* Years a cron spec can name; nothing fires outside them. */
#define CRONSPEC_YEAR_MIN 1970
#define CRONSPEC_YEAR_MAX 2099

/* Where and why a parse failed.  column is 1-based within the expression. */
struct cronspec_error {
	int column;
	const char *field; /* "seconds", ..., "year", or "expression" */
	char message[192];
};

struct cronspec;

/*
 * Parse EXPR (6 or 7 fields).  On success stores a new cronspec in *ret and
 * returns 0.  On a syntax error returns -EINVAL and, when err is not NULL,
 * fills it in.  -ENOMEM on allocation failure.
 */
int cronspec_parse(
    const char *expr, struct cronspec **ret, struct cronspec_error *err);

/* NULL-safe. */
void cronspec_free(struct cronspec *cs);

/*
 * The first fire instant strictly after AFTER (seconds since the epoch),
 * matching the fields on the wall clock of TZ (NULL means UTC).  Quartz's
 * rules for daylight-saving time: a wall time in a spring-forward gap does
 * not fire; one that occurs twice fires once, at the later instant.
 * Returns 0 and stores the instant, or -ENOENT when nothing fires before
 * 2100-01-01 local time.
 */
int cronspec_next(const struct cronspec *cs, const struct tz *tz, int64_t after,
    int64_t *ret_next);

/*
 * The shortest gap, in seconds, between two fires of CS on the wall clock,
 * from its seconds, minutes and hours alone (the days are taken to be
 * consecutive, so this is a lower bound; 86400 for one fire a day).  On
 * the UTC clock a fire can come closer by the zone's offset change.
 */
int64_t cronspec_min_wall_gap(const struct cronspec *cs);

/*
 * Broken-down civil time helpers shared with callers that format times.
 * Days are counted from 1970-01-01 in the proleptic Gregorian calendar.
 */
struct cronspec_tm {
	int year, month, day; /* month 1-12, day 1-31 */
	int hour, minute, second;
	int wday; /* 1 = Sunday ... 7 = Saturday, as in Quartz */
};

int64_t cronspec_days_from_civil(int year, int month, int day);
void cronspec_civil_from_seconds(int64_t wall, struct cronspec_tm *ret);
int64_t cronspec_seconds_from_civil(const struct cronspec_tm *tm);

#endif
