/*
 * cronspec.c: Keeper cron specs, Quartz 2.3.2 syntax, strict parsing.
 *
 * A parsed spec is a set of bitmaps, one per field, in the spirit of
 * OpenBSD cron's entry.c: a bit per allowed value.  The day is the only
 * field that cannot be a plain bitmap, because L, W, nL and n#k depend on
 * the month; those are kept as small rules and turned into a bitmap of the
 * month's matching days (day_mask()) when the search reaches that month.
 *
 * next() works on the local wall clock, as Quartz does with its Calendar:
 * find the first wall time after the wall time of `after`, then map it to an
 * instant through the zone.  Wall times in a spring-forward gap are skipped;
 * a wall time that occurs twice maps to its later instant.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cronspec.h"
#include "tz.h"

enum field {
	F_SEC,
	F_MIN,
	F_HOUR,
	F_DOM,
	F_MONTH,
	F_DOW,
	F_YEAR,
	F_COUNT
};

static const struct field_info {
	const char *name;
	int min, max;
	/* A wrapping range a-b with b < a continues through max + 1 == min. */
	int wrap;
	/* The largest step Quartz accepts. */
	int max_step;
} fields[F_COUNT] = {
	[F_SEC] = { "seconds", 0, 59, 60, 59 },
	[F_MIN] = { "minutes", 0, 59, 60, 59 },
	[F_HOUR] = { "hours", 0, 23, 24, 23 },
	[F_DOM] = { "day-of-month", 1, 31, 31, 31 },
	[F_MONTH] = { "month", 1, 12, 12, 12 },
	[F_DOW] = { "day-of-week", 1, 7, 7, 7 },
	[F_YEAR] = { "year", CRONSPEC_YEAR_MIN, CRONSPEC_YEAR_MAX, 0,
	    CRONSPEC_YEAR_MAX - CRONSPEC_YEAR_MIN },
};

static const char *const month_names[] = { "JAN", "FEB", "MAR", "APR", "MAY",
	"JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC" };
static const char *const day_names[] = { "SUN", "MON", "TUE", "WED", "THU",
	"FRI", "SAT" };

enum dom_kind {
	DOM_NONE,    /* '?': the day-of-week field decides */
	DOM_SET,     /* plain values in cs->dom */
	DOM_LAST,    /* L, L-n, LW, L-nW */
	DOM_NEAREST, /* nW */
};

enum dow_kind {
	DOW_NONE, /* '?': the day-of-month field decides */
	DOW_SET,  /* plain values in cs->dow */
	DOW_LAST, /* nL: the last weekday n of the month */
	DOW_NTH,  /* n#k: the k-th weekday n of the month */
};

#define YEAR_WORDS ((CRONSPEC_YEAR_MAX - CRONSPEC_YEAR_MIN + 64) / 64)

struct cronspec {
	uint64_t sec;              /* bits 0-59 */
	uint64_t min;              /* bits 0-59 */
	uint32_t hour;             /* bits 0-23 */
	uint32_t dom;              /* bits 1-31 */
	uint32_t month;            /* bits 1-12 */
	uint32_t dow;              /* bits 1-7 */
	uint64_t year[YEAR_WORDS]; /* bit y - CRONSPEC_YEAR_MIN */
	enum dom_kind dom_kind;
	enum dow_kind dow_kind;
	int dom_day;      /* nW: n; L-n: n */
	bool dom_weekday; /* LW, L-nW */
	int dow_day;      /* nL, n#k: n (1 = SUN) */
	int dow_nth;      /* n#k: k */
};

/* ---- civil calendar (proleptic Gregorian, after H. Hinnant) ---- */

int64_t
cronspec_days_from_civil(int year, int month, int day)
{
	int64_t y = (int64_t)year - (month <= 2);
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t mp = (month + 9) % 12;
	int64_t doy = (153 * mp + 2) / 5 + day - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

	return era * 146097 + doe - 719468;
}

static void
civil_from_days(int64_t z, int *ret_y, int *ret_m, int *ret_d)
{
	int64_t era, doe, yoe, doy, mp, y;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	y = yoe + era * 400;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*ret_d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*ret_m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*ret_y = (int)(y + (*ret_m <= 2));
}

/* 1 = Sunday ... 7 = Saturday; 1970-01-01 was a Thursday (5). */
static int
weekday_from_days(int64_t z)
{
	int64_t w = (z + 4) % 7;

	return (int)(w < 0 ? w + 7 : w) + 1;
}

void
cronspec_civil_from_seconds(int64_t wall, struct cronspec_tm *ret)
{
	int64_t days = wall / 86400, rem = wall % 86400;

	if (rem < 0) {
		rem += 86400;
		days--;
	}
	civil_from_days(days, &ret->year, &ret->month, &ret->day);
	ret->hour = (int)(rem / 3600);
	ret->minute = (int)(rem / 60 % 60);
	ret->second = (int)(rem % 60);
	ret->wday = weekday_from_days(days);
}

int64_t
cronspec_seconds_from_civil(const struct cronspec_tm *tm)
{
	return cronspec_days_from_civil(tm->year, tm->month, tm->day) * 86400 +
	    tm->hour * 3600 + tm->minute * 60 + tm->second;
}

static bool
is_leap(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int
days_in_month(int y, int m)
{
	static const int n[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30,
		31 };

	return m == 2 && is_leap(y) ? 29 : n[m - 1];
}

/* ---- parser ---- */

struct parser {
	const char *expr;
	struct cronspec *cs;
	struct cronspec_error *err;
	enum field field;
	const char *tok; /* the current field's text */
	size_t len;      /* its length */
	bool dom_question, dow_question;
};

static int __attribute__((format(printf, 3, 4)))
fail(struct parser *p, const char *at, const char *fmt, ...)
{
	va_list ap;

	if (p->err != NULL) {
		p->err->column = (int)(at - p->expr) + 1;
		p->err->field =
		    p->field < F_COUNT ? fields[p->field].name : "expression";
		va_start(ap, fmt);
		vsnprintf(p->err->message, sizeof(p->err->message), fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

static bool
is_alpha(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

static bool
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static char
upper(char c)
{
	return c >= 'a' && c <= 'z' ? (char)(c - 'a' + 'A') : c;
}

static const char *
field_end(const struct parser *p)
{
	return p->tok + p->len;
}

/* Length of the run of letters at s, stopping at the end of the field. */
static size_t
alpha_run(const struct parser *p, const char *s)
{
	const char *e = field_end(p), *q = s;

	while (q < e && is_alpha(*q))
		q++;
	return (size_t)(q - s);
}

static void
set_bit(struct cronspec *cs, enum field f, int v)
{
	switch (f) {
	case F_SEC:
		cs->sec |= UINT64_C(1) << v;
		break;
	case F_MIN:
		cs->min |= UINT64_C(1) << v;
		break;
	case F_HOUR:
		cs->hour |= UINT32_C(1) << v;
		break;
	case F_DOM:
		cs->dom |= UINT32_C(1) << v;
		break;
	case F_MONTH:
		cs->month |= UINT32_C(1) << v;
		break;
	case F_DOW:
		cs->dow |= UINT32_C(1) << v;
		break;
	case F_YEAR:
		v -= CRONSPEC_YEAR_MIN;
		cs->year[v / 64] |= UINT64_C(1) << (v % 64);
		break;
	default:
		abort();
	}
}

static const char *
expected_values(enum field f)
{
	switch (f) {
	case F_MONTH:
		return "1-12 or JAN-DEC";
	case F_DOW:
		return "1-7 (1 = SUN) or SUN-SAT";
	case F_SEC:
		return "0-59";
	case F_MIN:
		return "0-59";
	case F_HOUR:
		return "0-23";
	case F_DOM:
		return "1-31";
	default:
		return "1970-2099";
	}
}

/*
 * Parse one value (a number, or a 3-letter name in the month and
 * day-of-week fields) at *s.  On success advance *s past it and report
 * whether it was a name, so that callers can refuse what Quartz ignores
 * after names.
 */
static int
parse_value(struct parser *p, const char **s, int *ret, bool *ret_name)
{
	const struct field_info *fi = &fields[p->field];
	const char *start = *s, *e = field_end(p);
	const char *const *names = NULL;
	size_t n, i, nnames = 0;
	long v = 0;

	*ret_name = false;
	if (p->field == F_MONTH) {
		names = month_names;
		nnames = 12;
	} else if (p->field == F_DOW) {
		names = day_names;
		nnames = 7;
	}

	if (start < e && is_alpha(*start)) {
		n = alpha_run(p, start);
		/* FRIL: a day name with the L of "last" stuck to it. */
		if (p->field == F_DOW && n == 4 && upper(start[3]) == 'L')
			n = 3;
		if (names == NULL)
			return fail(p, start,
			    "unexpected '%.*s': expected a number %s", (int)n,
			    start, expected_values(p->field));
		if (n > 3) {
			for (i = 0; i < nnames; i++)
				if (strncasecmp(start, names[i], 3) == 0)
					return fail(p, start,
					    "'%.*s': names are 3 letters; "
					    "write %s",
					    (int)n, start, names[i]);
		}
		if (n >= 3) {
			for (i = 0; i < nnames; i++) {
				if (strncasecmp(start, names[i], 3) == 0) {
					*ret = (int)i + 1;
					*ret_name = true;
					*s = start + 3;
					return 0;
				}
			}
		}
		return fail(p, start, "unknown name '%.*s': expected %s",
		    (int)n, start, expected_values(p->field));
	}

	if (start >= e || !is_digit(*start))
		return fail(p, start, "expected a value %s%s",
		    expected_values(p->field),
		    p->field == F_DOM || p->field == F_DOW ? ", '*', '?' or 'L'"
							   : " or '*'");
	for (*s = start; *s < e && is_digit(**s); (*s)++) {
		v = v * 10 + (**s - '0');
		if (v > 100000)
			break;
	}
	if (v < fi->min || v > fi->max)
		return fail(p, start,
		    "%.*s is out of range for %s: "
		    "expected %s",
		    (int)(*s - start), start, fi->name,
		    expected_values(p->field));
	*ret = (int)v;
	return 0;
}

/* Parse a step after '/' at *s (pointing past the '/'). */
static int
parse_step(struct parser *p, const char **s, int *ret)
{
	const struct field_info *fi = &fields[p->field];
	const char *start = *s, *e = field_end(p);
	long v = 0;

	if (start >= e || !is_digit(*start))
		return fail(p, start,
		    "expected a step (a number 1-%d) "
		    "after '/'",
		    fi->max_step);
	for (; *s < e && is_digit(**s); (*s)++) {
		v = v * 10 + (**s - '0');
		if (v > 100000)
			break;
	}
	if (v == 0)
		return fail(p, start,
		    "a step of 0 never advances: "
		    "expected 1-%d",
		    fi->max_step);
	if (v > fi->max_step)
		return fail(p, start,
		    "step %.*s is larger than the %s field "
		    "allows: expected 1-%d",
		    (int)(*s - start), start, fi->name, fi->max_step);
	*ret = (int)v;
	return 0;
}

/*
 * Add start..stop by step, wrapping through the field's maximum when stop <
 * start, exactly as Quartz's addToSet() does.
 */
static void
add_range(struct parser *p, int start, int stop, int step)
{
	const struct field_info *fi = &fields[p->field];
	int i, v;

	if (stop < start)
		stop += fi->wrap;
	for (i = start; i <= stop; i += step) {
		v = i;
		if (v > fi->max)
			v -= fi->wrap;
		set_bit(p->cs, p->field, v);
	}
}

/*
 * Whether the field uses '?', 'L', 'W' or '#'.  No day name contains an L
 * and only WED a W, so in day-of-week an L is always special; in the month
 * field letters are names (JUL), and elsewhere any of them is an error that
 * parse_field() words better than "unknown name".
 */
static bool
has_special(const struct parser *p)
{
	size_t i;

	for (i = 0; i < p->len; i++) {
		char c = upper(p->tok[i]);

		if (c == '#' || c == '?')
			return true;
		if (p->field == F_MONTH)
			continue;
		if (c == 'L')
			return true;
		if (c == 'W' && p->field != F_DOW)
			return true;
	}
	return false;
}

/*
 * Quartz keeps only part of a list or range that holds a special value
 * ("15W,20" is 15W, "MON#1,FRI" is MON#1, "1-15W" is 1-15, "2-6L" is 2-6).
 * rotad refuses them all, naming the first ',', '-' or '/' that Quartz
 * would have dropped along with what follows.
 */
static int
refuse_mixed_special(struct parser *p)
{
	const char *s = p->tok, *e = field_end(p), *q;

	/* L-n is the one legitimate '-' next to a special. */
	if (p->field == F_DOM && upper(*s) == 'L' && s + 1 < e && s[1] == '-')
		s += 2;
	for (q = s; q < e; q++) {
		if (*q == ',')
			return fail(p, q,
			    "'%.*s': L, W and # must stand "
			    "alone in %s; Quartz would silently drop part of "
			    "this list: write the special value alone",
			    (int)p->len, p->tok, fields[p->field].name);
		if (*q == '-')
			return fail(p, q,
			    "'%.*s': L, W and # apply to one "
			    "day, not a range; Quartz would silently ignore "
			    "them: write one day (such as 15W, 6L or 2#1) or "
			    "the plain range",
			    (int)p->len, p->tok);
		if (*q == '/')
			return fail(p, q,
			    "'%.*s': L, W and # cannot take a "
			    "step; Quartz would silently ignore it: write the "
			    "special value alone",
			    (int)p->len, p->tok);
	}
	return 0;
}

/*
 * Day-of-month specials: L, L-n, LW, L-nW, nW.  Each must be the whole
 * field; Quartz keeps only the first value of a list with W in it, and
 * ignores a W after a range, which rotad refuses.
 */
static int
parse_dom_special(struct parser *p)
{
	const char *s = p->tok, *e = field_end(p);
	struct cronspec *cs = p->cs;
	bool name;
	int v;

	if (refuse_mixed_special(p) < 0)
		return -EINVAL;
	if (upper(*s) == 'L') {
		cs->dom_kind = DOM_LAST;
		s++;
		if (s < e && *s == '-') {
			const char *n = ++s;
			long off = 0;

			if (s >= e || !is_digit(*s))
				return fail(p, s,
				    "expected a number of days "
				    "0-30 after 'L-'");
			for (; s < e && is_digit(*s); s++) {
				off = off * 10 + (*s - '0');
				if (off > 1000)
					break;
			}
			if (off > 30)
				return fail(p, n,
				    "offset %.*s is too large: "
				    "'L-n' takes 0-30",
				    (int)(s - n), n);
			cs->dom_day = (int)off;
		}
		if (s < e && upper(*s) == 'W') {
			cs->dom_weekday = true;
			s++;
		}
		if (s < e)
			return fail(p, s,
			    "unexpected '%.*s' after '%.*s': "
			    "expected L, L-n, LW or L-nW alone",
			    (int)(e - s), s, (int)(s - p->tok), p->tok);
		return 0;
	}

	if (parse_value(p, &s, &v, &name) < 0)
		return -EINVAL;
	if (s >= e || upper(*s) != 'W')
		return fail(p, s,
		    "expected 'W' after %d (nW: the weekday "
		    "nearest day %d)",
		    v, v);
	s++;
	if (s < e)
		return fail(
		    p, s, "unexpected '%.*s' after %dW", (int)(e - s), s, v);
	cs->dom_kind = DOM_NEAREST;
	cs->dom_day = v;
	return 0;
}

/* Day-of-week specials: L (= 7), nL, n#k. */
static int
parse_dow_special(struct parser *p)
{
	const char *s = p->tok, *e = field_end(p);
	struct cronspec *cs = p->cs;
	bool name;
	int v, k;

	if (upper(*s) == 'L' && p->len > 1)
		return fail(p, s,
		    "'%.*s': L-n and LW belong in day-of-month; "
		    "in day-of-week write L alone (Saturday) or nL (the last "
		    "weekday n of the month, such as 6L)",
		    (int)p->len, s);
	if (refuse_mixed_special(p) < 0)
		return -EINVAL;
	if (p->len == 1 && upper(*s) == 'L') {
		cs->dow_kind = DOW_SET;
		set_bit(cs, F_DOW, 7);
		return 0;
	}
	if (parse_value(p, &s, &v, &name) < 0)
		return -EINVAL;
	if (s < e && upper(*s) == 'L') {
		s++;
		if (s < e)
			return fail(p, s, "unexpected '%.*s' after %dL",
			    (int)(e - s), s, v);
		cs->dow_kind = DOW_LAST;
		cs->dow_day = v;
		return 0;
	}
	if (s < e && *s == '#') {
		const char *n = ++s;

		if (s >= e || !is_digit(*s))
			return fail(p, s, "expected 1-5 after '#'");
		k = 0;
		for (; s < e && is_digit(*s) && k < 100; s++)
			k = k * 10 + (*s - '0');
		if (k < 1 || k > 5)
			return fail(p, n,
			    "'#%.*s': a month has at most 5 of "
			    "each weekday: expected 1-5",
			    (int)(s - n), n);
		if (s < e)
			return fail(p, s, "unexpected '%.*s' after %d#%d",
			    (int)(e - s), s, v, k);
		cs->dow_kind = DOW_NTH;
		cs->dow_day = v;
		cs->dow_nth = k;
		return 0;
	}
	return fail(p, s,
	    "expected 'L' or '#' after %d (nL: the last "
	    "weekday n of the month; n#k: the k-th weekday n)",
	    v);
}

static const char *
ordinal_suffix(int n)
{
	if (n % 100 >= 11 && n % 100 <= 13)
		return "th";
	return n % 10 == 1 ? "st"
	    : n % 10 == 2  ? "nd"
	    : n % 10 == 3  ? "rd"
			   : "th";
}

/* One element of a list: '*', 'a', 'a-b', each with an optional '/n'. */
static int
parse_item(struct parser *p, const char **s)
{
	const struct field_info *fi = &fields[p->field];
	const char *e = field_end(p), *at = *s;
	int start, stop, step = 1;
	bool name = false, name2 = false, ranged = false;

	if (*s < e && **s == '*') {
		(*s)++;
		start = fi->min;
		stop = fi->max;
		ranged = true;
	} else {
		if (parse_value(p, s, &start, &name) < 0)
			return -EINVAL;
		stop = start;
		if (*s < e && **s == '-') {
			const char *dash = (*s)++;

			if (parse_value(p, s, &stop, &name2) < 0)
				return -EINVAL;
			if (stop < start && fi->wrap == 0)
				return fail(p, dash,
				    "a %s range cannot wrap: "
				    "write %d-%d",
				    fi->name, stop, start);
			ranged = true;
		}
	}
	if (*s < e && **s == '/') {
		const char *slash = (*s)++;

		if (parse_step(p, s, &step) < 0)
			return -EINVAL;
		/* Quartz reads no step after a name, alone or in a range:
		 * MON/2 runs as MON, MON-FRI/2 as MON-FRI. */
		if (name || name2) {
			if (!ranged)
				return fail(p, slash,
				    "a step after a name is "
				    "ignored by Quartz: write %d/%d for every "
				    "%d%s from %.*s",
				    start, step, step, ordinal_suffix(step),
				    (int)(slash - at), at);
			return fail(p, slash,
			    "a step after a name is ignored "
			    "by Quartz: write the range in numbers, %d-%d/%d",
			    start, stop, step);
		}
		/* a/n runs from a to the field's maximum. */
		if (!ranged)
			stop = fi->max;
	}
	add_range(p, start, stop, step);
	return 0;
}

static int
parse_plain(struct parser *p)
{
	const char *s = p->tok, *e = field_end(p);

	for (;;) {
		if (parse_item(p, &s) < 0)
			return -EINVAL;
		if (s >= e)
			return 0;
		if (*s != ',')
			return fail(p, s,
			    "unexpected '%.*s': expected ',', "
			    "'-' or '/' or the end of the field",
			    (int)(e - s), s);
		s++;
		if (s >= e)
			return fail(p, s, "expected a value after ','");
	}
}

static int
parse_field(struct parser *p)
{
	struct cronspec *cs = p->cs;

	if (p->len == 1 && p->tok[0] == '?') {
		if (p->field == F_DOM) {
			p->dom_question = true;
			cs->dom_kind = DOM_NONE;
			return 0;
		}
		if (p->field == F_DOW) {
			p->dow_question = true;
			cs->dow_kind = DOW_NONE;
			return 0;
		}
		return fail(p, p->tok,
		    "'?' is only allowed in day-of-month "
		    "or day-of-week");
	}

	if (has_special(p)) {
		const char *q = memchr(p->tok, '?', p->len);

		if (q != NULL)
			return fail(p, q,
			    "'?' must stand alone, and only in "
			    "day-of-month or day-of-week");
		if (p->field == F_DOM)
			return parse_dom_special(p);
		if (p->field == F_DOW)
			return parse_dow_special(p);
		for (q = p->tok; q < field_end(p); q++)
			if (*q == '#' || upper(*q) == 'L' || upper(*q) == 'W')
				break;
		return fail(p, q,
		    "'%c' is only allowed in day-of-month or "
		    "day-of-week",
		    *q);
	}

	if (p->field == F_DOM)
		cs->dom_kind = DOM_SET;
	else if (p->field == F_DOW)
		cs->dow_kind = DOW_SET;
	return parse_plain(p);
}

static bool
is_space(char c)
{
	return c == ' ' || c == '\t';
}

int
cronspec_parse(
    const char *expr, struct cronspec **ret, struct cronspec_error *err)
{
	struct parser p = { .expr = expr, .err = err, .field = F_COUNT };
	const char *s = expr, *dow_at = expr;
	struct cronspec *cs;
	int r, n = 0;

	*ret = NULL;
	cs = calloc(1, sizeof(*cs));
	if (cs == NULL)
		return -ENOMEM;
	p.cs = cs;

	for (;;) {
		while (is_space(*s))
			s++;
		if (*s == '\0')
			break;
		if (n == F_COUNT) {
			p.field = F_COUNT;
			r = fail(&p, s,
			    "unexpected 8th field: expected 6 or "
			    "7 fields (seconds minutes hours day-of-month "
			    "month day-of-week [year])");
			goto out;
		}
		p.field = n;
		p.tok = s;
		while (*s != '\0' && !is_space(*s)) {
			if ((unsigned char)*s < 0x20 ||
			    (unsigned char)*s >= 0x7f) {
				r = fail(&p, s, "unexpected character 0x%02x",
				    (unsigned char)*s);
				goto out;
			}
			s++;
		}
		p.len = (size_t)(s - p.tok);
		if (n == F_DOW)
			dow_at = p.tok;
		r = parse_field(&p);
		if (r < 0)
			goto out;
		n++;
	}
	p.field = F_COUNT;
	if (n < 6) {
		r = fail(&p, s,
		    "%s: expected 6 or 7 fields (seconds "
		    "minutes hours day-of-month month day-of-week [year]), "
		    "found %d",
		    n == 0 ? "empty expression" : "too few fields", n);
		goto out;
	}
	if (n == 6)
		for (int y = CRONSPEC_YEAR_MIN; y <= CRONSPEC_YEAR_MAX; y++)
			set_bit(cs, F_YEAR, y);

	if (p.dom_question && p.dow_question) {
		p.field = F_DOW;
		r = fail(&p, dow_at,
		    "'?' in both day-of-month and "
		    "day-of-week: exactly one of them must be '?'");
		goto out;
	}
	if (!p.dom_question && !p.dow_question) {
		p.field = F_DOW;
		r = fail(&p, dow_at,
		    "day-of-month and day-of-week are both "
		    "set: Quartz requires '?' in one of them; write '?' here "
		    "to use day-of-month, or '?' in day-of-month");
		goto out;
	}

	*ret = cs;
	cs = NULL;
	r = 0;
out:
	cronspec_free(cs);
	return r;
}

void
cronspec_free(struct cronspec *cs)
{
	free(cs);
}

/* ---- evaluation ---- */

/* The lowest set bit at or above `from`, or -1. */
static int
next_bit64(uint64_t mask, int from)
{
	if (from >= 64)
		return -1;
	mask &= ~UINT64_C(0) << from;
	return mask == 0 ? -1 : __builtin_ctzll(mask);
}

static int
next_bit32(uint32_t mask, int from)
{
	if (from >= 32)
		return -1;
	mask &= ~UINT32_C(0) << from;
	return mask == 0 ? -1 : __builtin_ctz(mask);
}

static int
next_year(const struct cronspec *cs, int y)
{
	int i;

	for (i = y - CRONSPEC_YEAR_MIN;
	     i <= CRONSPEC_YEAR_MAX - CRONSPEC_YEAR_MIN;) {
		uint64_t w = cs->year[i / 64] & (~UINT64_C(0) << (i % 64));

		if (w != 0) {
			i = (i / 64) * 64 + __builtin_ctzll(w);
			return i + CRONSPEC_YEAR_MIN > CRONSPEC_YEAR_MAX
			    ? -1
			    : i + CRONSPEC_YEAR_MIN;
		}
		i = (i / 64 + 1) * 64;
	}
	return -1;
}

/* Quartz's W rule: move off a weekend without leaving the month. */
static int
nearest_weekday(int day, int ndays, int wday)
{
	if (wday == 7) /* Saturday: Friday, or Monday the 3rd */
		return day == 1 ? 3 : day - 1;
	if (wday == 1) /* Sunday: Monday, or Friday at the month's end */
		return day == ndays ? day - 2 : day + 1;
	return day;
}

/* Bitmap (bits 1-31) of the days of y-m on which the spec fires. */
static uint32_t
day_mask(const struct cronspec *cs, int y, int m)
{
	int ndays = days_in_month(y, m);
	uint32_t valid = (uint32_t)((UINT64_C(1) << (ndays + 1)) - 2);
	int64_t first = cronspec_days_from_civil(y, m, 1);
	int w1 = weekday_from_days(first); /* weekday of the 1st */
	uint32_t mask = 0;
	int d, k;

	switch (cs->dom_kind) {
	case DOM_SET:
		return cs->dom & valid;
	case DOM_LAST:
		d = ndays - cs->dom_day;
		if (d < 1)
			return 0;
		if (cs->dom_weekday)
			d = nearest_weekday(d, ndays, (w1 + d - 2) % 7 + 1);
		return UINT32_C(1) << d;
	case DOM_NEAREST:
		d = cs->dom_day;
		if (d > ndays)
			return 0;
		d = nearest_weekday(d, ndays, (w1 + d - 2) % 7 + 1);
		return UINT32_C(1) << d;
	case DOM_NONE:
		break;
	}

	switch (cs->dow_kind) {
	case DOW_SET:
		/* Day 1 + k falls on weekday (w1 - 1 + k) % 7 + 1. */
		for (k = 0; k < 7; k++)
			if (cs->dow & (UINT32_C(1) << ((w1 - 1 + k) % 7 + 1)))
				mask |= UINT32_C(0x10204081) << (1 + k);
		return mask & valid;
	case DOW_LAST:
		d = ndays - ((w1 + ndays - 2) % 7 + 1 - cs->dow_day + 7) % 7;
		return UINT32_C(1) << d;
	case DOW_NTH:
		d = 1 + (cs->dow_day - w1 + 7) % 7 + 7 * (cs->dow_nth - 1);
		return d > ndays ? 0 : UINT32_C(1) << d;
	case DOW_NONE:
		break;
	}
	return 0;
}

/*
 * The first wall-clock second at or after FROM that matches the spec.
 * Field by field, like an odometer: when a field has no match left, the
 * next larger unit advances and the smaller ones restart at their minimum.
 * Every path either returns or moves forward by at least a month, or
 * within a month, so the search ends after at most 130 years of months.
 */
static int
next_wall(const struct cronspec *cs, int64_t from, int64_t *ret)
{
	struct cronspec_tm tm;
	int y, mo, d, h, mi, s, r, cached_y = 0, cached_mo = 0;
	uint32_t mask = 0;

	cronspec_civil_from_seconds(from, &tm);
	y = tm.year;
	mo = tm.month;
	d = tm.day;
	h = tm.hour;
	mi = tm.minute;
	s = tm.second;
	if (y < CRONSPEC_YEAR_MIN) {
		y = CRONSPEC_YEAR_MIN;
		mo = d = 1;
		h = mi = s = 0;
	}

	for (;;) {
		r = next_year(cs, y);
		if (r < 0)
			return -ENOENT;
		if (r != y) {
			y = r;
			mo = d = 1;
			h = mi = s = 0;
		}
		r = next_bit32(cs->month, mo);
		if (r < 0) {
			y++;
			mo = d = 1;
			h = mi = s = 0;
			continue;
		}
		if (r != mo) {
			mo = r;
			d = 1;
			h = mi = s = 0;
		}
		if (y != cached_y || mo != cached_mo) {
			mask = day_mask(cs, y, mo);
			cached_y = y;
			cached_mo = mo;
		}
		r = next_bit32(mask, d);
		if (r < 0) {
			if (++mo > 12) {
				y++;
				mo = 1;
			}
			d = 1;
			h = mi = s = 0;
			continue;
		}
		if (r != d) {
			d = r;
			h = mi = s = 0;
		}
		r = next_bit32(cs->hour, h);
		if (r < 0) {
			d++;
			h = mi = s = 0;
			continue;
		}
		if (r != h) {
			h = r;
			mi = s = 0;
		}
		r = next_bit64(cs->min, mi);
		if (r < 0) {
			h++;
			mi = s = 0;
			continue;
		}
		if (r != mi) {
			mi = r;
			s = 0;
		}
		r = next_bit64(cs->sec, s);
		if (r < 0) {
			mi++;
			s = 0;
			continue;
		}
		s = r;
		break;
	}
	tm = (struct cronspec_tm){ .year = y,
		.month = mo,
		.day = d,
		.hour = h,
		.minute = mi,
		.second = s };
	*ret = cronspec_seconds_from_civil(&tm);
	return 0;
}

int64_t
cronspec_min_wall_gap(const struct cronspec *cs)
{
	int64_t t, first = -1, prev = -1, gap = 86400;
	int h, m, sec;

	/* Every time of day in order; a gap of one second cannot shrink. */
	for (h = 0; h < 24; h++) {
		if (!(cs->hour >> h & 1))
			continue;
		for (m = 0; m < 60; m++) {
			if (!(cs->min >> m & 1))
				continue;
			for (sec = 0; sec < 60; sec++) {
				if (!(cs->sec >> sec & 1))
					continue;
				t = h * 3600 + m * 60 + sec;
				if (first < 0)
					first = t;
				else if (t - prev < gap)
					gap = t - prev;
				if (gap == 1)
					return 1;
				prev = t;
			}
		}
	}
	/* The last fire of a day to the first of the next. */
	if (first >= 0 && first + 86400 - prev < gap)
		gap = first + 86400 - prev;
	return gap;
}

int
cronspec_next(const struct cronspec *cs, const struct tz *tz, int64_t after,
    int64_t *ret_next)
{
	int64_t wall, at[2];
	int32_t off;
	int r, n;

	/* Instants outside what any spec can name end the search early. */
	if (after >= INT64_C(4102444800) + 86400)
		return -ENOENT;
	if (after < INT64_C(-86400))
		after = -86400;

	if (tz == NULL || tz_is_fixed(tz)) {
		off = tz == NULL ? 0 : tz_offset_at(tz, after);
		r = next_wall(cs, after + off + 1, &wall);
		if (r < 0)
			return r;
		*ret_next = wall - off;
		return 0;
	}

	wall = after + tz_offset_at(tz, after);
	for (;;) {
		r = next_wall(cs, wall + 1, &wall);
		if (r < 0)
			return r;
		n = tz_local_to_utc(tz, wall, at);
		/* A wall time in a gap does not fire; nor does the first
		 * pass of a repeated one.  The later instant can lie before
		 * `after` only in zones whose offset jumps by more than the
		 * overlap (never in practice); keep searching then. */
		if (n > 0 && at[n - 1] > after) {
			*ret_next = at[n - 1];
			return 0;
		}
	}
}
