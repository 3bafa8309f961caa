/*
 * tz: IANA time zones from TZif files (RFC 8536, RFC 9636), libc only.
 *
 * At load time a zone is boiled down to what the queries need: the instants
 * at which the UT offset changes (transitions that only change the
 * abbreviation or the isdst flag are dropped), the offset before the first
 * of them, the POSIX TZ footer that governs from the file's last transition
 * on, and the set of distinct offsets the zone can ever yield.  All of it
 * lives in one allocation that is never written after load, so queries are
 * pure functions and a zone can be shared between threads without locks.
 *
 * Leap-second records are skipped: rotad counts POSIX seconds, like the
 * zones Debian installs outside right/.
 */
#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tz.h"
#include "tz-internal.h"

#define TZ_DEFAULT_DIR "/usr/share/zoneinfo"
#define TZ_NAME_MAX 255
#define TZ_FILE_MAX (256 * 1024) /* real zones are under 10 KiB */

#define TZIF_HDR_LEN 44
#define TZIF_MAX_TYPES 256 /* transition type indices are one byte */
#define TZIF_TYPE_LEN 6    /* int32 utoff, uint8 isdst, uint8 idx */

#define SECS_PER_HOUR 3600
#define SECS_PER_DAY 86400
/* The Gregorian calendar, weekdays included, repeats every 400 years. */
#define DAYS_PER_CYCLE 146097
#define SECS_PER_CYCLE ((int64_t)DAYS_PER_CYCLE * SECS_PER_DAY)

enum rule_kind {
	RULE_JULIAN, /* Jn: day 1..365, February 29 never counted */
	RULE_YDAY,   /* n: day 0..365, February 29 counted */
	RULE_MWD,    /* Mm.w.d: weekday d of week w (5: last) of month m */
};

struct rule_date {
	enum rule_kind kind;
	int day;
	int month;
	int week;
	int wday;     /* 0 is Sunday */
	int32_t secs; /* local time of day, -167 h .. 167 h */
};

/* A POSIX TZ string such as "EST5EDT,M3.2.0,M11.1.0", offsets east. */
struct posix_tz {
	int32_t std_off;
	int32_t dst_off;
	bool has_dst;
	bool tame;              /* see footer_is_tame() */
	struct rule_date start; /* DST starts; time in standard time */
	struct rule_date end;   /* DST ends; time in daylight time */
};

struct tz {
	const char *name;
	size_t ntrans;
	int64_t *trans;     /* ascending */
	int32_t *trans_off; /* offset in force from trans[i] on */
	int32_t off_before; /* offset before trans[0] */
	bool has_footer;
	int64_t footer_from; /* the footer governs t >= this */
	struct posix_tz footer;
	size_t noffs;
	int32_t *offs; /* distinct offsets, descending */
	/* Sharing: see tz_load().  A cached zone is in cache[] under its
	 * name while its file is the one it was read from, last seen so in
	 * epoch "epoch". */
	unsigned refs;
	bool cached;
	uint64_t epoch;
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime;
	struct tz *next; /* in its cache bucket */
};

/*
 * Loaded zones by name: 100k schedules share a few hundred zones.
 *
 * Whether a cached zone's file is still the one it was read from is
 * asked once per epoch, not at every load, which would be a stat() per
 * schedule (100k of them for 100k users).  tz_cache_expire() starts a new
 * epoch, and so does a change of zone directory (TZDIR), which makes
 * every file a different one.
 */
#define TZ_CACHE_BUCKETS 256
/* The cache and every cached zone's refs: a reload loads zones on
 * libuv's pool while the loop frees an old generation's. */
static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static struct tz *cache[TZ_CACHE_BUCKETS];
static uint64_t cache_epoch = 1;
static char cache_dir[PATH_MAX]; /* the zone directory of the last load */

static size_t
cache_bucket(const char *name)
{
	size_t h = 5381;

	while (*name != '\0')
		h = h * 33 + (unsigned char)*name++;
	return h % TZ_CACHE_BUCKETS;
}

static bool
same_file(const struct tz *tz, const struct stat *st)
{
	return tz->dev == st->st_dev && tz->ino == st->st_ino &&
	    tz->size == st->st_size && tz->mtime.tv_sec == st->st_mtim.tv_sec &&
	    tz->mtime.tv_nsec == st->st_mtim.tv_nsec;
}

static void
cache_remove(struct tz *tz)
{
	struct tz **pp;

	for (pp = &cache[cache_bucket(tz->name)]; *pp != NULL;
	     pp = &(*pp)->next)
		if (*pp == tz) {
			*pp = tz->next;
			break;
		}
	tz->cached = false;
}

/*
 * The cached zone NAME, or NULL when there is none or its file at PATH
 * is no longer the one it was read from.  The file is looked at (one
 * stat()) only the first time in an epoch.
 */
static struct tz *
cache_get(const char *name, const char *path)
{
	struct stat st;
	struct tz *tz;

	for (tz = cache[cache_bucket(name)]; tz != NULL; tz = tz->next)
		if (strcmp(tz->name, name) == 0)
			break;
	if (tz == NULL || tz->epoch == cache_epoch)
		return tz;
	if (stat(path, &st) < 0 || !S_ISREG(st.st_mode) || !same_file(tz, &st))
		return NULL;
	tz->epoch = cache_epoch;
	return tz;
}

/* Cache TZ, read from the file ST describes, replacing an older one. */
static void
cache_put(struct tz *tz, const struct stat *st)
{
	struct tz *old;
	size_t b = cache_bucket(tz->name);

	for (old = cache[b]; old != NULL; old = old->next)
		if (strcmp(old->name, tz->name) == 0) {
			/* Its holders keep it; new loads get TZ. */
			cache_remove(old);
			break;
		}
	tz->dev = st->st_dev;
	tz->ino = st->st_ino;
	tz->size = st->st_size;
	tz->mtime = st->st_mtim;
	tz->epoch = cache_epoch;
	tz->cached = true;
	tz->next = cache[b];
	cache[b] = tz;
}

struct tzif_hdr {
	uint8_t version; /* 0, '2', '3' or '4' */
	uint32_t isutcnt;
	uint32_t isstdcnt;
	uint32_t leapcnt;
	uint32_t timecnt;
	uint32_t typecnt;
	uint32_t charcnt;
};

/* Bounds-checked reading position in a POSIX TZ string. */
struct cursor {
	const char *p;
	const char *end;
};

static const int16_t month_start[13] = { 0, 31, 59, 90, 120, 151, 181, 212, 243,
	273, 304, 334, 365 };

static int64_t
floor_div(int64_t a, int64_t b)
{
	return a / b - (a % b < 0);
}

static int64_t
floor_mod(int64_t a, int64_t b)
{
	int64_t m = a % b;

	return m < 0 ? m + b : m;
}

static bool
is_leap(int64_t y)
{
	return y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
}

/*
 * Days from 1970-01-01 to Y-M-D in the proleptic Gregorian calendar, after
 * Howard Hinnant's days_from_civil(): years are counted from March so that
 * the leap day falls at the end, and in 400-year eras so that the divisions
 * only see non-negative numbers.
 */
static int64_t
days_from_civil(int64_t y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * DAYS_PER_CYCLE + doe - 719468;
}

/* The Gregorian year of day DAYS since 1970-01-01 (Hinnant). */
static int64_t
year_from_days(int64_t days)
{
	int64_t z, era, doe, yoe, doy, mp;

	z = days + 719468;
	era = (z >= 0 ? z : z - (DAYS_PER_CYCLE - 1)) / DAYS_PER_CYCLE;
	doe = z - era * DAYS_PER_CYCLE;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	return yoe + era * 400 + (mp >= 10);
}

/*
 * Day of the year (0 is January 1) on which rule date D falls in a year
 * that is LEAP and whose January 1 is weekday JAN1_WDAY.  Day 365 of a
 * common year is January 1 of the next one, as POSIX arithmetic has it.
 */
static int
rule_yday(const struct rule_date *d, bool leap, int jan1_wday)
{
	int first, len, mday;

	switch (d->kind) {
	case RULE_JULIAN:
		return d->day - 1 + (leap && d->day >= 60);
	case RULE_YDAY:
		return d->day;
	case RULE_MWD:
		break;
	}
	first = month_start[d->month - 1] + (leap && d->month > 2);
	len = month_start[d->month] - month_start[d->month - 1] +
	    (leap && d->month == 2);
	mday = (d->wday - (jan1_wday + first) % 7 + 7) % 7 + (d->week - 1) * 7;
	if (mday >= len)
		mday -= 7; /* week 5 means the last one */
	return first + mday;
}

/*
 * The instants at which DST starts (*RET_S) and ends (*RET_E) in year Y,
 * whose January 1 is day JAN1.
 */
static void
year_rules(const struct posix_tz *f, int64_t y, int64_t jan1, int64_t *ret_s,
    int64_t *ret_e)
{
	bool leap = is_leap(y);
	int wday = (int)floor_mod(jan1 + 4, 7); /* 1970-01-01: Thursday */

	*ret_s = (jan1 + rule_yday(&f->start, leap, wday)) * SECS_PER_DAY +
	    f->start.secs - f->std_off;
	*ret_e = (jan1 + rule_yday(&f->end, leap, wday)) * SECS_PER_DAY +
	    f->end.secs - f->dst_off;
}

/*
 * The offset footer F gives at instant T, in general.
 *
 * DST starts and ends once a year, each at a local time that v3 lets
 * stray up to 167 hours from its day, so the transitions of year k lie
 * within a few weeks of local year k.  The state at T is that of the last
 * transition at or before T; it belongs to one of the years y-2 .. y+1
 * around T's local year y, and year y-2 always has one unless DST lasts
 * all of it.  Like tzcode, a year whose DST period spans a whole year
 * ("EST5EDT,0/0,J365/25") has no transitions, which makes DST permanent.
 */
static int32_t
footer_offset_slow(const struct posix_tz *f, int64_t t, int64_t y)
{
	int64_t k, jan1, s, e, yearsecs, best = INT64_MIN;
	bool dst = true;

	jan1 = days_from_civil(y - 2, 1, 1);
	for (k = y - 2; k <= y + 1; k++) {
		year_rules(f, k, jan1, &s, &e);
		yearsecs = (365 + is_leap(k)) * SECS_PER_DAY;
		if (e < s || (s < e && e - s < yearsecs)) {
			if (s <= t && s >= best) {
				best = s;
				dst = true;
			}
			if (e <= t && e >= best) {
				best = e;
				dst = false;
			}
		}
		jan1 += 365 + is_leap(k);
	}
	return dst ? f->dst_off : f->std_off;
}

/*
 * The offset footer F gives at instant T.  The usual rules are tame: each
 * year's transitions fall within that local year, so only the year of T
 * matters, and the year before only when T precedes both transitions.
 */
static int32_t
footer_offset(const struct posix_tz *f, int64_t t)
{
	int64_t y, jan1, s, e;

	if (!f->has_dst)
		return f->std_off;

	/*
	 * The rules repeat every 400 years: fold T into 1970..2370, which
	 * also keeps all the arithmetic far from overflow.
	 */
	t = floor_mod(t, SECS_PER_CYCLE);
	y = year_from_days(floor_div(t + f->std_off, SECS_PER_DAY));
	if (!f->tame)
		return footer_offset_slow(f, t, y);
	jan1 = days_from_civil(y, 1, 1);
	year_rules(f, y, jan1, &s, &e);
	if (s > t && e > t) {
		jan1 -= 365 + is_leap(y - 1);
		year_rules(f, y - 1, jan1, &s, &e);
	} else if (s > t) {
		return f->std_off;
	} else if (e > t) {
		return f->dst_off;
	}
	/* Both passed: the later one rules.  A tie is no transition. */
	if (s == e)
		return footer_offset_slow(f, t, y);
	return s > e ? f->dst_off : f->std_off;
}

/*
 * Whether the transitions of footer F always fall within the local
 * standard year they belong to: a rule date's day of the year varies by
 * at most a month, its time and the offset change shift it further.
 */
static bool
footer_is_tame(const struct posix_tz *f)
{
	const struct rule_date *d;
	int64_t lo, hi, shift;
	int i;

	for (i = 0; i < 2; i++) {
		d = i == 0 ? &f->start : &f->end;
		shift = d->secs + (i == 0 ? 0 : f->std_off - f->dst_off);
		switch (d->kind) {
		case RULE_JULIAN:
			lo = d->day - 1;
			hi = d->day;
			break;
		case RULE_YDAY:
			lo = hi = d->day;
			break;
		default:
			lo = month_start[d->month - 1];
			hi = month_start[d->month];
			break;
		}
		if (lo * SECS_PER_DAY + shift < 0 ||
		    hi * SECS_PER_DAY + shift >= 365 * SECS_PER_DAY)
			return false;
	}
	return true;
}

static bool
cursor_accept(struct cursor *c, char ch)
{
	if (c->p < c->end && *c->p == ch) {
		c->p++;
		return true;
	}
	return false;
}

static bool
cursor_at_digit(const struct cursor *c)
{
	return c->p < c->end && *c->p >= '0' && *c->p <= '9';
}

static bool
is_alpha(char ch)
{
	return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z');
}

static bool
is_alnum(char ch)
{
	return is_alpha(ch) || (ch >= '0' && ch <= '9');
}

/* A decimal of 1 to MAXDIGITS digits, not above MAX, into *RET. */
static int
parse_uint(struct cursor *c, int maxdigits, int max, int *ret)
{
	int v = 0, n = 0;

	while (n < maxdigits && cursor_at_digit(c)) {
		v = v * 10 + (*c->p++ - '0');
		n++;
	}
	if (n == 0 || v > max || cursor_at_digit(c))
		return -EINVAL;
	*ret = v;
	return 0;
}

/*
 * A zone abbreviation: at least three letters, or at least three of
 * letters, digits, '+' and '-' between angle brackets ("<+0530>").  Its
 * text is of no use to rotad, so it is only skipped.
 */
static int
parse_name(struct cursor *c)
{
	const char *start;

	if (cursor_accept(c, '<')) {
		start = c->p;
		while (c->p < c->end &&
		    (is_alnum(*c->p) || *c->p == '+' || *c->p == '-'))
			c->p++;
		if (c->p - start < 3 || !cursor_accept(c, '>'))
			return -EINVAL;
		return 0;
	}
	start = c->p;
	while (c->p < c->end && is_alpha(*c->p))
		c->p++;
	return c->p - start < 3 ? -EINVAL : 0;
}

/* [+-]h[:mm[:ss]] with h <= MAXH, as seconds into *RET. */
static int
parse_hms(struct cursor *c, int maxh, int32_t *ret)
{
	int sign = 1, h, m = 0, s = 0;

	if (cursor_accept(c, '-'))
		sign = -1;
	else
		cursor_accept(c, '+');
	if (parse_uint(c, 3, maxh, &h) < 0)
		return -EINVAL;
	if (cursor_accept(c, ':')) {
		if (parse_uint(c, 2, 59, &m) < 0)
			return -EINVAL;
		if (cursor_accept(c, ':') && parse_uint(c, 2, 59, &s) < 0)
			return -EINVAL;
	}
	*ret = sign * (h * SECS_PER_HOUR + m * 60 + s);
	return 0;
}

/* Jn, n or Mm.w.d, then an optional /time (v3: -167 h .. 167 h). */
static int
parse_date(struct cursor *c, struct rule_date *d)
{
	int r;

	if (cursor_accept(c, 'J')) {
		d->kind = RULE_JULIAN;
		r = parse_uint(c, 3, 365, &d->day);
		if (r == 0 && d->day < 1)
			r = -EINVAL;
	} else if (cursor_accept(c, 'M')) {
		d->kind = RULE_MWD;
		r = parse_uint(c, 2, 12, &d->month);
		if (r == 0 && (d->month < 1 || !cursor_accept(c, '.')))
			r = -EINVAL;
		if (r == 0)
			r = parse_uint(c, 1, 5, &d->week);
		if (r == 0 && (d->week < 1 || !cursor_accept(c, '.')))
			r = -EINVAL;
		if (r == 0)
			r = parse_uint(c, 1, 6, &d->wday);
	} else {
		d->kind = RULE_YDAY;
		r = parse_uint(c, 3, 365, &d->day);
	}
	if (r < 0)
		return r;
	d->secs = 2 * SECS_PER_HOUR;
	if (cursor_accept(c, '/'))
		return parse_hms(c, 167, &d->secs);
	return 0;
}

/*
 * Parse the LEN bytes at S as a POSIX TZ string with the RFC 8536 v3
 * extensions.  A DST zone must spell its rule out: POSIX leaves the default
 * implementation-defined and zic always writes one.  Returns 0 or -EINVAL.
 */
static int
parse_posix_tz(const char *s, size_t len, struct posix_tz *ret)
{
	struct cursor c = { s, s + len };
	struct posix_tz f = { 0 };
	int32_t off;

	/* POSIX offsets count west and stay within 24:59:59. */
	if (parse_name(&c) < 0 || parse_hms(&c, 24, &off) < 0)
		return -EINVAL;
	f.std_off = -off;
	if (c.p < c.end) {
		if (parse_name(&c) < 0)
			return -EINVAL;
		f.has_dst = true;
		f.dst_off = f.std_off + SECS_PER_HOUR;
		if (c.p < c.end && *c.p != ',') {
			if (parse_hms(&c, 24, &off) < 0)
				return -EINVAL;
			f.dst_off = -off;
		}
		if (!cursor_accept(&c, ',') || parse_date(&c, &f.start) < 0 ||
		    !cursor_accept(&c, ',') || parse_date(&c, &f.end) < 0)
			return -EINVAL;
	}
	if (c.p != c.end)
		return -EINVAL;
	f.tame = f.has_dst && footer_is_tame(&f);
	*ret = f;
	return 0;
}

static uint32_t
get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
}

/* A transition time: signed 32 bits in v1 data, 64 bits in v2+ data. */
static int64_t
get_time(const uint8_t *p, size_t tsize)
{
	if (tsize == 4)
		return (int32_t)get_be32(p);
	return (int64_t)((uint64_t)get_be32(p) << 32 | get_be32(p + 4));
}

/*
 * Decode and check the header at POS of BUF.  The counts are only checked
 * against one another here; tzif_block_len() sizes what they describe.
 */
static int
tzif_header(const uint8_t *buf, size_t len, size_t pos, struct tzif_hdr *h)
{
	const uint8_t *p;

	if (len - pos < TZIF_HDR_LEN)
		return -EINVAL;
	p = buf + pos;
	if (memcmp(p, "TZif", 4) != 0)
		return -EINVAL;
	h->version = p[4];
	if (h->version != 0 && (h->version < '2' || h->version > '4'))
		return -EINVAL;
	h->isutcnt = get_be32(p + 20);
	h->isstdcnt = get_be32(p + 24);
	h->leapcnt = get_be32(p + 28);
	h->timecnt = get_be32(p + 32);
	h->typecnt = get_be32(p + 36);
	h->charcnt = get_be32(p + 40);
	if (h->typecnt == 0 || h->typecnt > TZIF_MAX_TYPES || h->charcnt == 0 ||
	    (h->isutcnt != 0 && h->isutcnt != h->typecnt) ||
	    (h->isstdcnt != 0 && h->isstdcnt != h->typecnt))
		return -EINVAL;
	return 0;
}

/* Bytes of the data block H describes; 64 bits cannot overflow here. */
static uint64_t
tzif_block_len(const struct tzif_hdr *h, size_t tsize)
{
	return (uint64_t)h->timecnt * (tsize + 1) +
	    (uint64_t)h->typecnt * TZIF_TYPE_LEN + h->charcnt +
	    (uint64_t)h->leapcnt * (tsize + 4) + h->isstdcnt + h->isutcnt;
}

/* One allocation for the zone, its tables and its name; NULL on ENOMEM. */
static struct tz *
tz_alloc(const char *name, size_t ntrans, size_t noffs)
{
	size_t namelen = strlen(name) + 1;
	struct tz *tz;
	char *p;

	/*
	 * The counts are bounded by the input length, the name by the
	 * caller's memory: the sum cannot wrap.  sizeof(*tz) is a multiple
	 * of the alignment of int64_t, so the arrays are aligned.
	 */
	tz = calloc(1,
	    sizeof(*tz) + ntrans * sizeof(int64_t) +
		(ntrans + noffs) * sizeof(int32_t) + namelen);
	if (!tz)
		return NULL;
	tz->refs = 1;
	p = (char *)(tz + 1);
	tz->trans = (int64_t *)(void *)p;
	p += ntrans * sizeof(int64_t);
	tz->trans_off = (int32_t *)(void *)p;
	p += ntrans * sizeof(int32_t);
	tz->offs = (int32_t *)(void *)p;
	p += noffs * sizeof(int32_t);
	memcpy(p, name, namelen);
	tz->name = p;
	return tz;
}

/* Add OFF to the descending set OFFS of *N elements, unless present. */
static void
offs_add(int32_t *offs, size_t *n, int32_t off)
{
	size_t i;

	for (i = 0; i < *n && offs[i] > off; i++)
		;
	if (i < *n && offs[i] == off)
		return;
	memmove(offs + i + 1, offs + i, (*n - i) * sizeof(*offs));
	offs[i] = off;
	(*n)++;
}

/*
 * The TZif layout (RFC 9636 section 3): a v1 header and data block with
 * 32-bit times; from v2 on, a second header and data block with 64-bit
 * times, then a footer "\n<POSIX TZ string>\n".  v2+ readers skip the v1
 * block.  Times before the first transition use type 0; times from the
 * last transition on use the footer when there is one (with no
 * transitions at all, everywhere, as tzcode does), else the last type.
 */
int
tz_from_buffer(
    const char *name, const uint8_t *buf, size_t len, struct tz **ret)
{
	int32_t type_off[TZIF_MAX_TYPES], offs[TZIF_MAX_TYPES + 2];
	bool used[TZIF_MAX_TYPES] = { false };
	const uint8_t *times, *idx, *types, *foot, *nl;
	struct posix_tz footer = { 0 };
	bool has_footer = false;
	int64_t t, prev_t, footer_from = INT64_MIN;
	int32_t prev_off;
	size_t pos = TZIF_HDR_LEN, tsize = 4, i, n, ntrans, noffs = 0;
	struct tzif_hdr h;
	uint8_t version;
	uint64_t blen;
	struct tz *tz;
	int r;

	if (!name || !ret || (!buf && len > 0))
		return -EINVAL;
	r = tzif_header(buf, len, 0, &h);
	if (r < 0)
		return r;
	if (h.version != 0) {
		version = h.version;
		blen = tzif_block_len(&h, 4);
		if (blen > len - pos)
			return -EINVAL;
		pos += blen;
		r = tzif_header(buf, len, pos, &h);
		if (r < 0)
			return r;
		if (h.version != version)
			return -EINVAL;
		pos += TZIF_HDR_LEN;
		tsize = 8;
	}
	blen = tzif_block_len(&h, tsize);
	if (blen > len - pos)
		return -EINVAL;
	times = buf + pos;
	idx = times + (size_t)h.timecnt * tsize;
	types = idx + h.timecnt;

	for (i = 0; i < h.typecnt; i++) {
		const uint8_t *p = types + i * TZIF_TYPE_LEN;

		type_off[i] = (int32_t)get_be32(p);
		if (type_off[i] == INT32_MIN || p[4] > 1 || p[5] >= h.charcnt)
			return -EINVAL;
	}

	if (h.version != 0 && len - pos > blen) {
		foot = buf + pos + blen;
		n = len - pos - blen;
		nl = n > 1 ? memchr(foot + 1, '\n', n - 1) : NULL;
		if (foot[0] != '\n' || !nl)
			return -EINVAL;
		n = (size_t)(nl - foot - 1);
		if (n > 0) {
			r = parse_posix_tz((const char *)foot + 1, n, &footer);
			if (r < 0)
				return r;
			has_footer = true;
		}
	}
	if (has_footer && h.timecnt > 0)
		footer_from = get_time(times + (h.timecnt - 1) * tsize, tsize);

	/*
	 * Check the transitions and count those that change the offset
	 * before the footer takes over; note which types can be in force.
	 */
	ntrans = 0;
	prev_t = INT64_MIN;
	prev_off = type_off[0];
	for (i = 0; i < h.timecnt; i++) {
		t = get_time(times + i * tsize, tsize);
		if ((i > 0 && t <= prev_t) || idx[i] >= h.typecnt)
			return -EINVAL;
		prev_t = t;
		if (has_footer && t >= footer_from)
			continue;
		used[idx[i]] = true;
		if (type_off[idx[i]] != prev_off)
			ntrans++;
		prev_off = type_off[idx[i]];
	}

	/* Type 0 rules before the first transition, if anything is. */
	if (h.timecnt > 0 ? get_time(times, tsize) > INT64_MIN : !has_footer)
		offs_add(offs, &noffs, type_off[0]);
	for (i = 0; i < h.typecnt; i++)
		if (used[i])
			offs_add(offs, &noffs, type_off[i]);
	if (has_footer) {
		offs_add(offs, &noffs, footer.std_off);
		if (footer.has_dst)
			offs_add(offs, &noffs, footer.dst_off);
	}

	tz = tz_alloc(name, ntrans, noffs);
	if (!tz)
		return -ENOMEM;
	tz->off_before = type_off[0];
	tz->has_footer = has_footer;
	tz->footer_from = footer_from;
	tz->footer = footer;
	memcpy(tz->offs, offs, noffs * sizeof(*offs));
	tz->noffs = noffs;
	prev_off = type_off[0];
	for (i = 0; i < h.timecnt; i++) {
		t = get_time(times + i * tsize, tsize);
		if (has_footer && t >= footer_from)
			break;
		if (type_off[idx[i]] == prev_off)
			continue;
		prev_off = type_off[idx[i]];
		tz->trans[tz->ntrans] = t;
		tz->trans_off[tz->ntrans] = prev_off;
		tz->ntrans++;
	}
	*ret = tz;
	return 0;
}

/* UTC for a system without a zone database, e.g. a minimal container. */
static int
tz_utc(struct tz **ret)
{
	struct tz *tz;

	tz = tz_alloc("UTC", 0, 1);
	if (!tz)
		return -ENOMEM;
	tz->noffs = 1;
	*ret = tz;
	return 0;
}

/*
 * Zone names are relative paths of letters, digits and "/_-+." without
 * "..": whatever a configuration says, only files under the zone
 * directory can be read.
 */
static bool
valid_name(const char *name)
{
	size_t len = strnlen(name, TZ_NAME_MAX + 1), i;
	char ch;

	if (len == 0 || len > TZ_NAME_MAX || name[0] == '/' ||
	    strstr(name, ".."))
		return false;
	for (i = 0; i < len; i++) {
		ch = name[i];
		if (!is_alnum(ch) && !strchr("/_-+.", ch))
			return false;
	}
	return true;
}

int
tz_load(const char *name, struct tz **ret)
{
	char path[PATH_MAX];
	const char *dir;
	struct tz *tz;
	uint8_t *buf = NULL;
	struct stat st;
	size_t size, got = 0;
	ssize_t n;
	int fd = -1, r;

	if (!name || !ret || !valid_name(name))
		return -EINVAL;
	dir = getenv("TZDIR");
	if (!dir || !*dir)
		dir = TZ_DEFAULT_DIR;
	r = snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (r < 0 || (size_t)r >= sizeof(path))
		return -EINVAL;

	/* Already loaded from this very file: share it.  The lock is held
	 * to the end: a zone read twice at once would be cached twice. */
	pthread_mutex_lock(&cache_lock);
	if (strcmp(dir, cache_dir) != 0) {
		/* Shorter than path: it fits. */
		snprintf(cache_dir, sizeof(cache_dir), "%s", dir);
		cache_epoch++;
	}
	if ((tz = cache_get(name, path)) != NULL) {
		tz->refs++;
		*ret = tz;
		r = 0;
		goto out;
	}

	/*
	 * No O_NOFOLLOW: the database itself is made of symlinks (UTC ->
	 * Etc/UTC).  O_NONBLOCK keeps a FIFO from hanging the daemon; the
	 * regular-file check below then rejects it.
	 */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		r = errno == ENOTDIR ? -ENOENT : -errno;
		if (r == -ENOENT && strcmp(name, "UTC") == 0)
			r = tz_utc(ret);
		goto out;
	}
	if (fstat(fd, &st) < 0) {
		r = -errno;
		goto out;
	}
	if (!S_ISREG(st.st_mode) || st.st_size > TZ_FILE_MAX) {
		r = -EINVAL;
		goto out;
	}
	size = (size_t)st.st_size;
	buf = malloc(size > 0 ? size : 1);
	if (!buf) {
		r = -ENOMEM;
		goto out;
	}
	while (got < size) {
		n = read(fd, buf + got, size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			goto out;
		}
		if (n == 0)
			break; /* shrunk under us: parse what is there */
		got += (size_t)n;
	}
	r = tz_from_buffer(name, buf, got, ret);
	if (r == 0)
		cache_put(*ret, &st);
out:
	pthread_mutex_unlock(&cache_lock);
	free(buf);
	if (fd >= 0)
		close(fd);
	return r;
}

void
tz_cache_expire(void)
{
	pthread_mutex_lock(&cache_lock);
	cache_epoch++;
	pthread_mutex_unlock(&cache_lock);
}

void
tz_free(struct tz *tz)
{
	bool last;

	if (tz == NULL)
		return;
	pthread_mutex_lock(&cache_lock);
	last = --tz->refs == 0;
	if (last && tz->cached)
		cache_remove(tz);
	pthread_mutex_unlock(&cache_lock);
	if (last)
		free(tz);
}

const char *
tz_name(const struct tz *tz)
{
	return tz->name;
}

bool
tz_is_fixed(const struct tz *tz)
{
	return tz->noffs == 1;
}

int32_t
tz_offset_at(const struct tz *tz, int64_t t)
{
	const int64_t *base;
	size_t n, half;

	if (tz->has_footer && t >= tz->footer_from)
		return footer_offset(&tz->footer, t);
	if (tz->ntrans == 0 || t < tz->trans[0])
		return tz->off_before;
	/*
	 * The last transition at or before t.  Halving without a data
	 * dependent branch lets the compiler use a conditional move, which
	 * beats the mispredictions of a classic binary search.
	 */
	base = tz->trans;
	for (n = tz->ntrans; n > 1; n -= half) {
		half = n / 2;
		base = base[half] <= t ? base + half : base;
	}
	return tz->trans_off[base - tz->trans];
}

/*
 * An instant c shows wall time WALL iff c = WALL - o where o is the offset
 * in force at c.  o can only be one of the zone's offsets, so trying each
 * of them finds every such instant, however many transitions crowd around
 * WALL; trying them in descending order yields the instants ascending.
 * Should contrived data map WALL to more than two instants, the earliest
 * two are given.
 */
int
tz_local_to_utc(const struct tz *tz, int64_t wall, int64_t ret_at[2])
{
	int64_t c;
	size_t i;
	int n = 0;

	for (i = 0; i < tz->noffs && n < 2; i++) {
		if (__builtin_sub_overflow(wall, (int64_t)tz->offs[i], &c))
			continue;
		if (tz_offset_at(tz, c) == tz->offs[i])
			ret_at[n++] = c;
	}
	return n;
}
