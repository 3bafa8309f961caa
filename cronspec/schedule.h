/*
 * schedule: a rotation schedule as Keeper stores it: a cron spec with a
 * zone, or one of Keeper Commander's structured types (DAILY, WEEKLY,
 * MONTHLY_BY_DAY, MONTHLY_BY_WEEKDAY, YEARLY, RUN_ONCE, ON_DEMAND).
 *
 * Structured types compile to a cron spec plus an interval filter, so one
 * evaluator (cronspec_next) with one set of DST rules serves them all.
 * intervalCount counts whole days, weeks (Sunday to Saturday), months or
 * years from 1970-01-01 on the schedule's wall clock: "every 3 days" fires
 * on the days whose number since 1970-01-01 is a multiple of 3.  That anchor
 * keeps the answer the same across restarts, reloads and nodes.
 */
#ifndef ROTAD_SCHEDULE_H
#define ROTAD_SCHEDULE_H

#include <stdbool.h>
#include <stdint.h>

#include "cronspec.h"

struct tz;

enum schedule_type {
	SCHEDULE_CRON,
	SCHEDULE_DAILY,
	SCHEDULE_WEEKLY,
	SCHEDULE_MONTHLY_BY_DAY,
	SCHEDULE_MONTHLY_BY_WEEKDAY,
	SCHEDULE_YEARLY,
	SCHEDULE_RUN_ONCE,
	SCHEDULE_ON_DEMAND,
};

/*
 * The keys of a structured schedule, as strings straight from JSON or YAML.
 * NULL means absent.  The strings are borrowed, not copied.
 */
enum schedule_key {
	SCHEDULE_KEY_TYPE,
	SCHEDULE_KEY_CRON,
	SCHEDULE_KEY_TZ,
	SCHEDULE_KEY_UTC_TIME,
	SCHEDULE_KEY_TIME,
	SCHEDULE_KEY_INTERVAL_COUNT,
	SCHEDULE_KEY_WEEKDAY,
	SCHEDULE_KEY_MONTH_DAY,
	SCHEDULE_KEY_OCCURRENCE,
	SCHEDULE_KEY_MONTH,
	SCHEDULE_KEY_DATE,
	SCHEDULE_KEY_COUNT
};

struct schedule_fields {
	const char *value[SCHEDULE_KEY_COUNT];
};

/* The key's spelling ("utcTime", ...) and back; -ENOENT for unknown. */
const char *schedule_key_name(enum schedule_key key);
int schedule_key_from_name(const char *name);

/*
 * What went wrong.  key is the offending key (SCHEDULE_KEY_COUNT for the
 * schedule as a whole); for a bad cron spec, column is its 1-based column
 * within the expression and cron_field names the cron field, else 0/NULL.
 */
struct schedule_error {
	enum schedule_key key;
	int column;
	const char *cron_field;
	char message[256];
};

struct schedule;

/*
 * Build a schedule from FIELDS.  Returns 0, -EINVAL with *err filled in,
 * -ENOENT when tz names no known zone (also with *err), or -ENOMEM.
 */
int schedule_new(const struct schedule_fields *fields, struct schedule **ret,
    struct schedule_error *err);

/* Shorthand for {type: CRON, cron: EXPR, tz: TZ}; TZ NULL means UTC. */
int schedule_new_cron(const char *expr, const char *tz, struct schedule **ret,
    struct schedule_error *err);

void schedule_free(struct schedule *s);

enum schedule_type schedule_type(const struct schedule *s);
const char *schedule_type_name(enum schedule_type type);

/* The zone times are evaluated in (UTC for utcTime) and the one to show. */
const struct tz *schedule_tz(const struct schedule *s);
const struct tz *schedule_display_tz(const struct schedule *s);

/* The cron spec the schedule compiles to ("" for ON_DEMAND). */
const char *schedule_cron(const struct schedule *s);

/* intervalCount (1 when not given). */
int schedule_interval(const struct schedule *s);

/*
 * A lower bound of the gap between two fires on the wall clock
 * (cronspec_min_wall_gap()); INT64_MAX when it never fires.
 */
int64_t schedule_min_wall_gap(const struct schedule *s);

/*
 * Whether A and B fire at the same instants: the same type, cron spec,
 * intervalCount and zones.  Zones are the zone cache's (tz.h): the same
 * file gives the same one, a changed file (a tzdata upgrade) another, so
 * that a schedule whose zone changed is not the same.
 */
bool schedule_same(const struct schedule *a, const struct schedule *b);

/*
 * The first fire instant strictly after AFTER.  Returns 0, or -ENOENT when
 * the schedule never fires again (ON_DEMAND, a past RUN_ONCE, or nothing
 * before 2100).
 */
int schedule_next(const struct schedule *s, int64_t after, int64_t *ret);

#endif
