/*
 * cron.c: `rotactl cron`, an offline preview of when a schedule fires,
 * modelled on `systemd-analyze calendar`.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "ctl.h"
#include "cronspec.h"
#include "schedule.h"
#include "tz.h"

#define COUNT_MAX 1000

/*
 * ISO-8601 local time with a numeric offset, whole seconds:
 * 2024-01-01T17:28:00-05:00.  Offsets of historic local mean time that are
 * not whole minutes get seconds (-04:56:02) rather than being rounded.
 */
static void
format_iso(int64_t t, int32_t off, char *buf, size_t size)
{
	struct cronspec_tm tm;
	int32_t a = off < 0 ? -off : off;

	cronspec_civil_from_seconds(t + off, &tm);
	if (a % 60 != 0)
		snprintf(buf, size,
		    "%04d-%02d-%02dT%02d:%02d:%02d%c%02d:%02d:%02d", tm.year,
		    tm.month, tm.day, tm.hour, tm.minute, tm.second,
		    off < 0 ? '-' : '+', a / 3600, a / 60 % 60, a % 60);
	else
		snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d%c%02d:%02d",
		    tm.year, tm.month, tm.day, tm.hour, tm.minute, tm.second,
		    off < 0 ? '-' : '+', a / 3600, a / 60 % 60);
}

static int
digits(const char *s, int n, int *ret)
{
	int v = 0, i;

	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		v = v * 10 + (s[i] - '0');
	}
	*ret = v;
	return 0;
}

/* Parse YYYY-MM-DDTHH:MM:SS followed by Z or +HH:MM / -HH:MM. */
static int
parse_iso(const char *s, int64_t *ret)
{
	struct cronspec_tm tm = { 0 }, back;
	int oh = 0, om = 0, sign = 1;
	size_t len = strlen(s);

	if (len < 20 || s[4] != '-' || s[7] != '-' ||
	    (s[10] != 'T' && s[10] != 't') || s[13] != ':' || s[16] != ':')
		return -EINVAL;
	if (digits(s, 4, &tm.year) < 0 || digits(s + 5, 2, &tm.month) < 0 ||
	    digits(s + 8, 2, &tm.day) < 0 || digits(s + 11, 2, &tm.hour) < 0 ||
	    digits(s + 14, 2, &tm.minute) < 0 ||
	    digits(s + 17, 2, &tm.second) < 0)
		return -EINVAL;
	if (len == 20 && (s[19] == 'Z' || s[19] == 'z')) {
		/* UTC */
	} else if (len == 25 && (s[19] == '+' || s[19] == '-') &&
	    s[22] == ':') {
		sign = s[19] == '-' ? -1 : 1;
		if (digits(s + 20, 2, &oh) < 0 || digits(s + 23, 2, &om) < 0 ||
		    oh > 23 || om > 59)
			return -EINVAL;
	} else {
		return -EINVAL;
	}
	if (tm.month < 1 || tm.month > 12 || tm.day < 1 || tm.hour > 23 ||
	    tm.minute > 59 || tm.second > 59)
		return -EINVAL;
	cronspec_civil_from_seconds(cronspec_seconds_from_civil(&tm), &back);
	if (back.day != tm.day)
		return -EINVAL;
	*ret = cronspec_seconds_from_civil(&tm) - sign * (oh * 3600 + om * 60);
	return 0;
}

static void
format_distance(int64_t d, char *buf, size_t size)
{
	int64_t days = d / 86400, h = d / 3600 % 24, m = d / 60 % 60,
		s = d % 60;
	size_t n = 0;

	n += snprintf(buf + n, size - n, "in");
	if (days > 0)
		n += snprintf(buf + n, size - n, " %" PRId64 "d", days);
	if (h > 0)
		n += snprintf(buf + n, size - n, " %" PRId64 "h", h);
	if (m > 0)
		n += snprintf(buf + n, size - n, " %" PRId64 "min", m);
	if (s > 0 || d == 0)
		snprintf(buf + n, size - n, " %" PRId64 "s", s);
}

/*
 * Turn a JSON object of Keeper's structured schedule into fields.  Numbers
 * are accepted where Keeper writes them (intervalCount, monthDay) and are
 * turned into the text the schedule module reads; the strings live in
 * `store` until the caller frees it.
 */
static int
fields_from_json(const char *text, struct schedule_fields *f, json_t **store)
{
	json_error_t jerr;
	const char *key;
	json_t *obj, *val;
	int k;

	obj = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
	if (obj == NULL) {
		fprintf(stderr,
		    "rotactl: --schedule: invalid JSON at column "
		    "%d: %s\n",
		    jerr.column, jerr.text);
		return -EINVAL;
	}
	*store = obj;
	if (!json_is_object(obj)) {
		fprintf(stderr,
		    "rotactl: --schedule: expected a JSON object "
		    "such as {\"type\":\"WEEKLY\",\"weekday\":\"SUNDAY\","
		    "\"time\":\"03:00\",\"tz\":\"Europe/London\"}\n");
		return -EINVAL;
	}
	json_object_foreach(obj, key, val)
	{
		k = schedule_key_from_name(key);
		if (k < 0) {
			fprintf(stderr,
			    "rotactl: --schedule: unknown key "
			    "'%s'\n",
			    key);
			return -EINVAL;
		}
		if (json_is_integer(val)) {
			char buf[32];

			snprintf(buf, sizeof(buf), "%" JSON_INTEGER_FORMAT,
			    json_integer_value(val));
			if (json_object_set_new(obj, key, json_string(buf)))
				return -ENOMEM;
			val = json_object_get(obj, key);
		}
		if (!json_is_string(val)) {
			fprintf(stderr,
			    "rotactl: --schedule: %s must be a "
			    "string\n",
			    key);
			return -EINVAL;
		}
		f->value[k] = json_string_value(val);
	}
	return 0;
}

static void
cron_usage(FILE *f)
{
	fprintf(f,
	    "usage: rotactl cron EXPR [--tz ZONE] [--from ISO8601] "
	    "[-n COUNT] [--json]\n"
	    "       rotactl cron --schedule JSON [--from ISO8601] [-n COUNT] "
	    "[--json]\n"
	    "\n"
	    "Show when a Keeper cron spec (Quartz syntax: sec min hour dom "
	    "month dow [year])\n"
	    "or a structured schedule fires.  Defaults: --tz UTC, --from now, "
	    "-n 5.\n");
}

static void
report_error(const char *expr, const struct schedule_error *e)
{
	if (e->column > 0 && expr != NULL) {
		fprintf(stderr,
		    "rotactl: invalid cron spec, column %d (%s): "
		    "%s\n",
		    e->column, e->cron_field, e->message);
		fprintf(stderr, "  %s\n  %*s^\n", expr, e->column - 1, "");
	} else {
		fprintf(stderr, "rotactl: invalid schedule: %s: %s\n",
		    schedule_key_name(e->key), e->message);
	}
}

int
cron_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "tz", required_argument, NULL, 'z' },
		{ "from", required_argument, NULL, 'f' },
		{ "schedule", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *zone_name = NULL, *from_text = NULL, *json_text = NULL;
	const char *expr = NULL;
	struct schedule_fields fields = { 0 };
	struct schedule_error err = { 0 };
	struct schedule *sched = NULL;
	json_t *store = NULL, *out = NULL, *next = NULL;
	const struct tz *disp;
	int64_t from, t;
	char buf[48], when[48];
	int count = 5, json = 0, c, r, i, ret = CTL_EXIT_USAGE;
	long n;
	char *end;

	optind = 1;
	while ((c = getopt_long(argc, argv, "n:h", opts, NULL)) != -1) {
		switch (c) {
		case 'z':
			zone_name = optarg;
			break;
		case 'f':
			from_text = optarg;
			break;
		case 's':
			json_text = optarg;
			break;
		case 'j':
			json = 1;
			break;
		case 'n':
			/* Checked as the long strtol() gives: cast
			 * first, 4294967297 would pass as 1. */
			errno = 0;
			n = strtol(optarg, &end, 10);
			if (errno != 0 || *end != '\0' || end == optarg ||
			    n < 1 || n > COUNT_MAX) {
				fprintf(stderr,
				    "rotactl: -n: expected a count "
				    "1-%d\n",
				    COUNT_MAX);
				goto out;
			}
			count = (int)n;
			break;
		case 'h':
			cron_usage(stdout);
			ret = CTL_EXIT_OK;
			goto out;
		default:
			cron_usage(stderr);
			goto out;
		}
	}
	if (json_text == NULL && optind + 1 == argc)
		expr = argv[optind];
	else if (json_text == NULL || optind != argc) {
		cron_usage(stderr);
		goto out;
	}

	if (from_text == NULL)
		from = (int64_t)time(NULL);
	else if (parse_iso(from_text, &from) < 0) {
		fprintf(stderr,
		    "rotactl: --from: expected "
		    "YYYY-MM-DDTHH:MM:SS with an offset (+HH:MM, -HH:MM or "
		    "Z), got '%s'\n",
		    from_text);
		goto out;
	}

	if (json_text != NULL) {
		if (fields_from_json(json_text, &fields, &store) < 0)
			goto out;
		if (zone_name != NULL) {
			if (fields.value[SCHEDULE_KEY_TZ] != NULL) {
				fprintf(stderr,
				    "rotactl: give the zone either "
				    "with --tz or as tz in the schedule\n");
				goto out;
			}
			fields.value[SCHEDULE_KEY_TZ] = zone_name;
		}
		r = schedule_new(&fields, &sched, &err);
		expr = fields.value[SCHEDULE_KEY_CRON];
	} else {
		r = schedule_new_cron(expr, zone_name, &sched, &err);
	}
	if (r == -ENOMEM) {
		fprintf(stderr, "rotactl: out of memory\n");
		ret = CTL_EXIT_FAILED;
		goto out;
	}
	if (r < 0) {
		report_error(expr, &err);
		goto out;
	}

	disp = schedule_display_tz(sched);
	ret = CTL_EXIT_FAILED;
	if (json) {
		out = json_object();
		next = json_array();
		if (out == NULL || next == NULL)
			goto out;
		format_iso(from, tz_offset_at(disp, from), buf, sizeof(buf));
		if (json_object_set_new(
			out, "expr", json_string(schedule_cron(sched))) ||
		    (json_text != NULL &&
			json_object_set_new(out, "type",
			    json_string(
				schedule_type_name(schedule_type(sched))))) ||
		    json_object_set_new(
			out, "tz", json_string(tz_name(disp))) ||
		    json_object_set_new(out, "from", json_string(buf)))
			goto out;
	} else {
		format_iso(from, tz_offset_at(disp, from), buf, sizeof(buf));
		printf("  Schedule: %s", schedule_cron(sched));
		if (json_text != NULL)
			printf(
			    "  (%s)", schedule_type_name(schedule_type(sched)));
		printf(
		    "\n Time zone: %s\n      From: %s\n", tz_name(disp), buf);
	}

	t = from;
	for (i = 0; i < count; i++) {
		if (schedule_next(sched, t, &t) < 0)
			break;
		format_iso(t, tz_offset_at(disp, t), buf, sizeof(buf));
		if (json) {
			if (json_array_append_new(next, json_string(buf)))
				goto out;
			continue;
		}
		format_iso(t, 0, when, sizeof(when));
		when[19] = '\0';
		when[10] = ' ';
		printf("  %-25s  %s UTC  ", buf, when);
		format_distance(t - from, when, sizeof(when));
		printf("%s\n", when);
	}

	if (json) {
		char *text;

		if (json_object_set(out, "next", next))
			goto out;
		text = json_dumps(out, JSON_COMPACT | JSON_PRESERVE_ORDER);
		if (text == NULL)
			goto out;
		printf("%s\n", text);
		free(text);
	} else if (i == 0) {
		printf("  (never fires after %s)\n",
		    from_text != NULL ? from_text : "now");
	}
	ret = fflush(stdout) == 0 ? CTL_EXIT_OK : CTL_EXIT_FAILED;
out:
	json_decref(next);
	json_decref(out);
	json_decref(store);
	schedule_free(sched);
	return ret;
}
