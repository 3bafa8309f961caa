/*
 * jobs.c: load rotad.yaml and conf.d/NAME.yaml into the job model.
 *
 * Loading runs in passes, so that one bad file costs only itself:
 *
 *   1. parse:   each file into its own objects; YAML, type and key errors
 *               are recorded against the file.
 *   2. settle:  drop every file with an error, then check names across
 *               files (duplicates), references (resource, configuration,
 *               admin_user), and each user's resolved settings; a problem
 *               marks the file that holds it, and the pass repeats until
 *               no new file fails.
 *
 * Values keep the file:line:column they were written at; inheritance
 * (user -> resource -> configuration -> rotad.yaml -> built-in) copies the
 * origin along with the value.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include <yaml.h>

#include "jobs.h"
#include "schedule.h"

#define DEFAULT_STORE "/var/lib/rotad/rotad.db"
#define DEFAULT_SOCKET "/run/rotad/rotad.sock"
#define DEFAULT_MIN_INTERVAL 3600
#define DEFAULT_MAX_WORKERS 16
#define MAX_FILE_SIZE (4 << 20)
#define MAX_FILES 10000
/* How far ahead min_interval is checked: enough fires to see every daily,
 * weekly and DST pattern, few enough to stay fast with 100k users. */
#define INTERVAL_CHECK_FIRES 400
/* The most a zone's UTC offset grows at one transition, by which fires can
 * come closer on the UTC clock than on the wall clock: daylight saving
 * moves 1 h (Antarctica/Troll 2 h); 3 h leaves room. */
#define DST_SLACK (3 * 3600)

struct object {
	enum {
		OBJ_CONFIGURATION,
		OBJ_RESOURCE,
		OBJ_USER
	} type;
	void *p;
	size_t file;
	bool dropped;
	bool reported; /* its errors are out: not checked again */
};

struct job_loader {
	struct job_set *set;
	int64_t now;
	/* The file being parsed: index in set->files, or SIZE_MAX. */
	size_t file;
	yaml_document_t *doc;
	bool *file_bad; /* per file: has an error */
	struct object *objs;
	size_t nobjs;
	/* find()'s index: open addressing on (type, name), each slot the
	 * first object of that name + 1; same_next chains the others in
	 * file order.  Objects are indexed lazily, up to nindexed. */
	size_t *slots, nslots, nindexed, *same_next, same_cap;
	/* Exact shortest gaps computed so far, by schedule text (open
	 * addressing; the text names the zone too). */
	struct gap_memo {
		const char *text;
		int64_t gap;
	} * gaps;
	size_t ngaps, gaps_cap;
	/* Users' own settings, needed only until collect(): in mapped slabs
	 * of their own, so that freeing them gives the memory back to the
	 * system instead of leaving holes between what the set keeps. */
	struct own_slab *own_slabs;
	/* The port map in force for the configuration being parsed. */
};

/* ---- small helpers ---- */

#define OWN_SLAB_SIZE (1 << 20)

struct own_slab {
	struct own_slab *next;
	size_t used, cap;
	struct job_settings v[];
};

static void *
xcalloc(size_t n, size_t size)
{
	void *p = calloc(n, size);

	if (p == NULL)
		abort(); /* see jobs_load(): allocation failure is fatal */
	return p;
}

static char *
xstrdup(const char *s)
{
	char *p;

	if (s == NULL)
		return NULL;
	p = strdup(s);
	if (p == NULL)
		abort();
	return p;
}

/* A zeroed job_settings from the loader's slabs (see own_slabs). */
static struct job_settings *
own_alloc(struct job_loader *l)
{
	struct own_slab *sl = l->own_slabs;

	if (sl == NULL || sl->used == sl->cap) {
		sl = mmap(NULL, OWN_SLAB_SIZE, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (sl == MAP_FAILED)
			abort(); /* as xcalloc */
		sl->next = l->own_slabs;
		sl->used = 0;
		sl->cap = (OWN_SLAB_SIZE - sizeof(*sl)) / sizeof(sl->v[0]);
		l->own_slabs = sl;
	}
	return &sl->v[sl->used++]; /* fresh anonymous pages are zero */
}

static void
own_free_all(struct job_loader *l)
{
	struct own_slab *sl, *next;

	for (sl = l->own_slabs; sl != NULL; sl = next) {
		next = sl->next;
		munmap(sl, OWN_SLAB_SIZE);
	}
	l->own_slabs = NULL;
}

static void *
xgrow(void *v, size_t *n, size_t size)
{
	/* Grow by one, doubling capacity at powers of two. */
	size_t cap = *n == 0 ? 0 : 1;

	while (cap != 0 && cap < *n)
		cap <<= 1;
	if (*n == cap) {
		size_t ncap = cap == 0 ? 4 : cap * 2;

		v = realloc(v, ncap * size);
		if (v == NULL)
			abort();
	}
	memset((char *)v + *n * size, 0, size);
	(*n)++;
	return v;
}

#define PUSH(arr, n) ((arr) = xgrow((arr), &(n), sizeof(*(arr))), &(arr)[(n)-1])

static void __attribute__((format(printf, 5, 6))) error_at(struct job_loader *l,
    size_t file, int line, int column, const char *fmt, ...)
{
	struct job_error *e;
	va_list ap;
	char *msg;

	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		abort();
	va_end(ap);
	e = PUSH(l->set->errors, l->set->nerrors);
	e->file = file == SIZE_MAX ? NULL : xstrdup(l->set->files[file]);
	e->order = file == SIZE_MAX ? 0 : file + 1;
	e->line = line;
	e->column = column;
	e->message = msg;
	if (file != SIZE_MAX)
		l->file_bad[file] = true;
}

/* An error at node N of the file being parsed. */
#define ERR(l, n, ...)                                                         \
	error_at((l), (l)->file, (int)(n)->start_mark.line + 1,                \
	    (int)(n)->start_mark.column + 1, __VA_ARGS__)

static struct job_origin
origin_of(struct job_loader *l, const yaml_node_t *n, enum job_level level,
    const char *owner)
{
	return (struct job_origin){ .file = l->set->files[l->file],
		.line = (int)n->start_mark.line + 1,
		.column = (int)n->start_mark.column + 1,
		.level = level,
		.owner = owner };
}

static yaml_node_t *
node(struct job_loader *l, int index)
{
	return yaml_document_get_node(l->doc, index);
}

static const char *
scalar(const yaml_node_t *n)
{
	return n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value
					   : NULL;
}

static const char *
node_type_name(const yaml_node_t *n)
{
	switch (n->type) {
	case YAML_SCALAR_NODE:
		return "a scalar";
	case YAML_SEQUENCE_NODE:
		return "a list";
	case YAML_MAPPING_NODE:
		return "a mapping";
	default:
		return "nothing";
	}
}

static int
want(struct job_loader *l, const yaml_node_t *n, yaml_node_type_t type,
    const char *what)
{
	if (n->type == type)
		return 0;
	ERR(l, n, "expected %s, found %s", what, node_type_name(n));
	return -EINVAL;
}

static int
get_string(struct job_loader *l, const yaml_node_t *n, char **ret)
{
	const char *s = scalar(n);

	if (s == NULL || *s == '\0') {
		ERR(l, n, "expected a non-empty string, found %s",
		    s == NULL ? node_type_name(n) : "an empty one");
		return -EINVAL;
	}
	free(*ret);
	*ret = xstrdup(s);
	return 0;
}

static int
get_bool(struct job_loader *l, const yaml_node_t *n, bool *ret)
{
	const char *s = scalar(n);

	if (s != NULL && strcmp(s, "true") == 0)
		*ret = true;
	else if (s != NULL && strcmp(s, "false") == 0)
		*ret = false;
	else {
		ERR(l, n, "expected true or false, found '%s'",
		    s != NULL ? s : node_type_name(n));
		return -EINVAL;
	}
	return 0;
}

static int
get_int(
    struct job_loader *l, const yaml_node_t *n, long min, long max, int *ret)
{
	const char *s = scalar(n);
	char *end;
	long v;

	if (s == NULL || *s == '\0')
		goto bad;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		goto bad;
	*ret = (int)v;
	return 0;
bad:
	ERR(l, n, "expected a whole number %ld-%ld, found '%s'", min, max,
	    s != NULL ? s : node_type_name(n));
	return -EINVAL;
}

/*
 * A duration: a number of seconds, or numbers with units s, m, h, d in
 * decreasing order ("90s", "1h30m", "2d").
 */
static int
parse_duration(const char *s, int64_t *ret)
{
	static const char units[] = "dhms";
	static const int64_t secs[] = { 86400, 3600, 60, 1 };
	int64_t total = 0, v;
	int last = -1, u;
	const char *p = s;

	if (*s == '\0')
		return -EINVAL;
	while (*p != '\0') {
		if (*p < '0' || *p > '9')
			return -EINVAL;
		for (v = 0; *p >= '0' && *p <= '9'; p++) {
			v = v * 10 + (*p - '0');
			if (v > 100000000)
				return -EINVAL;
		}
		if (*p == '\0') {
			if (last >= 0)
				return -EINVAL; /* "1h30" */
			total = v;
			break;
		}
		u = (int)(strchr(units, *p) != NULL ? strchr(units, *p) - units
						    : -1);
		if (u < 0 || u <= last)
			return -EINVAL;
		last = u;
		total += v * secs[u];
		p++;
	}
	*ret = total;
	return 0;
}

static int
get_duration(
    struct job_loader *l, const yaml_node_t *n, int64_t min, int64_t *ret)
{
	const char *s = scalar(n);

	if (s == NULL || parse_duration(s, ret) < 0) {
		ERR(l, n,
		    "expected a duration such as 30s, 15m, 1h30m or 2d, "
		    "found '%s'",
		    s != NULL ? s : node_type_name(n));
		return -EINVAL;
	}
	if (*ret < min) {
		ERR(l, n, "duration '%s' is too short: at least %llds", s,
		    (long long)min);
		return -EINVAL;
	}
	return 0;
}

/* Levenshtein distance, for did-you-mean; short strings only. */
static size_t
distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), i, j, prev, cur, tmp;
	size_t row[64];

	if (la >= 64 || lb >= 64)
		return SIZE_MAX;
	for (j = 0; j <= lb; j++)
		row[j] = j;
	for (i = 1; i <= la; i++) {
		prev = row[0];
		row[0] = i;
		for (j = 1; j <= lb; j++) {
			cur = row[j];
			tmp = prev + (a[i - 1] != b[j - 1]);
			if (row[j] + 1 < tmp)
				tmp = row[j] + 1;
			if (row[j - 1] + 1 < tmp)
				tmp = row[j - 1] + 1;
			row[j] = tmp;
			prev = cur;
		}
	}
	return row[lb];
}

/* The closest of NAMES (NULL-terminated) to S, if it is close enough. */
static const char *
did_you_mean(const char *s, const char *const *names)
{
	const char *best = NULL;
	size_t d, bestd = SIZE_MAX, len = strlen(s);

	for (; *names != NULL; names++) {
		d = distance(s, *names);
		if (d < bestd) {
			bestd = d;
			best = *names;
		}
	}
	/* One edit per three letters, at least one. */
	return bestd <= (len < 3 ? 1 : len / 3) ? best : NULL;
}

static void
unknown_key(struct job_loader *l, const yaml_node_t *k, const char *what,
    const char *const *names)
{
	const char *s = scalar(k), *m;

	if (s == NULL) {
		ERR(l, k, "expected a key (a string) in %s", what);
		return;
	}
	m = did_you_mean(s, names);
	if (m != NULL)
		ERR(l, k, "unknown key '%s' in %s (did you mean '%s'?)", s,
		    what, m);
	else
		ERR(l, k, "unknown key '%s' in %s", s, what);
}

/* Iterate over a mapping's pairs: for (MAP_EACH(l, map, k, v)) ... */
#define MAP_EACH(l, map, pair, k, v)                                           \
	yaml_node_pair_t *pair = (map)->data.mapping.pairs.start;              \
	pair < (map)->data.mapping.pairs.top &&                                \
	    ((k) = node((l), pair->key), (v) = node((l), pair->value), 1);     \
	pair++

/* Complain about a key given twice in one mapping (YAML forbids it, and
 * libyaml keeps both). */
static bool
duplicate_key(struct job_loader *l, const yaml_node_t *map,
    const yaml_node_pair_t *upto, const yaml_node_t *k)
{
	const yaml_node_pair_t *p;
	const char *s = scalar(k), *t;

	if (s == NULL)
		return false;
	for (p = map->data.mapping.pairs.start; p < upto; p++) {
		t = scalar(node(l, p->key));
		if (t != NULL && strcmp(s, t) == 0) {
			ERR(l, k,
			    "key '%s' given twice in one mapping "
			    "(first at line %d)",
			    s, (int)node(l, p->key)->start_mark.line + 1);
			return true;
		}
	}
	return false;
}

/* ---- settings shared by defaults, configurations, resources, users ---- */

static const char *const setting_keys[] = { "schedule", "complexity", "rotate",
	"retry", "misfire", "timeout", "private_key_type", "private_key_rotate",
	"rollback_on_password_fail", "rollback_on_private_key_fail",
	"rollback_on_post_rotation_fail", "rerun_on_post_rotation_fail", NULL };

static const char *const key_types[] = { "ssh-ed25519", "ecdsa-sha2-nistp256",
	"ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521", "ssh-rsa", NULL };

/*
 * Column of a cron-spec error inside scalar node N: the node starts at
 * its opening quote, if any.
 */
static int
cron_column(const yaml_node_t *n, int col)
{
	int quote = n->data.scalar.style == YAML_SINGLE_QUOTED_SCALAR_STYLE ||
	    n->data.scalar.style == YAML_DOUBLE_QUOTED_SCALAR_STYLE;

	return (int)n->start_mark.column + 1 + quote + col - 1;
}

/*
 * The shortest gap between fires of S, or INT64_MAX: over the next fires
 * from NOW and from half a year later, so that both of a year's
 * daylight-saving changes (which can bring fires closer) are seen.
 */
static int64_t
shortest_gap(const struct schedule *s, int64_t now)
{
	int64_t t, prev, gap = INT64_MAX;
	int i, half;

	for (half = 0; half < 2; half++) {
		t = now + half * 182 * 86400;
		if (schedule_next(s, t, &t) < 0)
			continue;
		for (i = 0; i < INTERVAL_CHECK_FIRES / 2; i++) {
			prev = t;
			if (schedule_next(s, prev, &t) < 0)
				break;
			if (t - prev < gap)
				gap = t - prev;
		}
	}
	return gap;
}

static int
parse_schedule(struct job_loader *l, yaml_node_t *n, struct job_settings *st)
{
	struct schedule_fields f = { 0 };
	struct schedule_error err;
	yaml_node_t *k, *v, *at[SCHEDULE_KEY_COUNT] = { 0 };
	const char *s;
	char *text = NULL;
	size_t len = 0;
	FILE *mem;
	int64_t gap;
	int key, r;

	if (n->type == YAML_SCALAR_NODE) {
		f.value[SCHEDULE_KEY_CRON] = scalar(n);
		at[SCHEDULE_KEY_CRON] = n;
	} else if (n->type == YAML_MAPPING_NODE) {
		for (MAP_EACH(l, n, pair, k, v)) {
			s = scalar(k);
			key = s != NULL ? schedule_key_from_name(s) : -1;
			if (key < 0) {
				static const char
				    *names[SCHEDULE_KEY_COUNT + 1];

				for (key = 0; key < SCHEDULE_KEY_COUNT; key++)
					names[key] = schedule_key_name(key);
				unknown_key(l, k, "a schedule", names);
				return -EINVAL;
			}
			if (scalar(v) == NULL) {
				ERR(l, v,
				    "schedule key %s: expected a scalar, "
				    "found %s",
				    s, node_type_name(v));
				return -EINVAL;
			}
			f.value[key] = scalar(v);
			at[key] = v;
		}
	} else {
		ERR(l, n,
		    "schedule: expected a cron spec or a mapping, found "
		    "%s",
		    node_type_name(n));
		return -EINVAL;
	}

	r = schedule_new(&f, &st->schedule, &err);
	if (r == -ENOMEM)
		abort();
	if (r < 0) {
		yaml_node_t *where =
		    err.key < SCHEDULE_KEY_COUNT && at[err.key] != NULL
		    ? at[err.key]
		    : n;

		if (err.column > 0 && where->type == YAML_SCALAR_NODE)
			error_at(l, l->file, (int)where->start_mark.line + 1,
			    cron_column(where, err.column), "cron spec, %s: %s",
			    err.cron_field, err.message);
		else
			ERR(l, where, "schedule: %s", err.message);
		return -EINVAL;
	}

	/* Keep the text as written, for -nv. */
	mem = open_memstream(&text, &len);
	if (mem == NULL)
		abort();
	if (f.value[SCHEDULE_KEY_TYPE] == NULL)
		fprintf(mem, "%s", f.value[SCHEDULE_KEY_CRON]);
	else
		fprintf(mem, "type=%s", f.value[SCHEDULE_KEY_TYPE]);
	for (key = 0; key < SCHEDULE_KEY_COUNT; key++)
		if (f.value[key] != NULL && key != SCHEDULE_KEY_TYPE &&
		    (key != SCHEDULE_KEY_CRON ||
			f.value[SCHEDULE_KEY_TYPE] != NULL))
			fprintf(mem, " %s=%s", schedule_key_name(key),
			    f.value[key]);
	fclose(mem);
	st->schedule_text = text;
	/* A bound for now; exact_gap() only when it is below min_interval
	 * (which is not known yet when rotad.yaml's defaults are parsed). */
	gap = schedule_min_wall_gap(st->schedule);
	st->schedule_gap = gap == INT64_MAX ? gap
	    : gap > DST_SLACK               ? gap - DST_SLACK
					    : 0;
	return 0;
}

static int
parse_complexity(struct job_loader *l, yaml_node_t *n, struct policy *p)
{
	static const char *const keys[] = { "length", "upper", "lower",
		"digits", "special", "special_chars", NULL };
	char err[256];
	yaml_node_t *k, *v;
	const char *s;
	int i, *field;

	policy_default(p);
	if (n->type == YAML_SCALAR_NODE) {
		if (policy_parse(scalar(n), p, err, sizeof(err)) < 0) {
			ERR(l, n, "complexity: %s", err);
			return -EINVAL;
		}
	} else if (n->type == YAML_MAPPING_NODE) {
		for (MAP_EACH(l, n, pair, k, v)) {
			s = scalar(k);
			for (i = 0; keys[i] != NULL; i++)
				if (s != NULL && strcmp(s, keys[i]) == 0)
					break;
			if (keys[i] == NULL) {
				unknown_key(l, k, "complexity", keys);
				return -EINVAL;
			}
			if (i == 5) {
				s = scalar(v);
				if (s == NULL ||
				    strlen(s) >= sizeof(p->special_chars)) {
					ERR(l, v,
					    "special_chars: expected a "
					    "string of at most %zu characters",
					    sizeof(p->special_chars) - 1);
					return -EINVAL;
				}
				strcpy(p->special_chars, s);
				continue;
			}
			field = i == 0 ? &p->length
			    : i == 1   ? &p->upper
			    : i == 2   ? &p->lower
			    : i == 3   ? &p->digits
				       : &p->special;
			if (get_int(l, v, i == 0 ? 1 : -256, 256, field) < 0)
				return -EINVAL;
		}
	} else {
		ERR(l, n,
		    "complexity: expected \"len,upper,lower,digits,"
		    "special[,chars]\" or a mapping, found %s",
		    node_type_name(n));
		return -EINVAL;
	}
	if (policy_validate(p, err, sizeof(err)) < 0) {
		ERR(l, n, "complexity: %s", err);
		return -EINVAL;
	}
	return 0;
}

static int
parse_rotate(struct job_loader *l, yaml_node_t *n, unsigned *ret)
{
	const char *s = scalar(n);

	if (s != NULL && strcmp(s, "password") == 0)
		*ret = JOB_ROTATE_PASSWORD;
	else if (s != NULL && strcmp(s, "private_key") == 0)
		*ret = JOB_ROTATE_PRIVATE_KEY;
	else if (s != NULL && strcmp(s, "both") == 0)
		*ret = JOB_ROTATE_PASSWORD | JOB_ROTATE_PRIVATE_KEY;
	else {
		ERR(l, n,
		    "rotate: expected password, private_key or both, "
		    "found '%s'",
		    s != NULL ? s : node_type_name(n));
		return -EINVAL;
	}
	return 0;
}

static int
parse_retry(struct job_loader *l, yaml_node_t *n, struct job_retry *r)
{
	static const char *const keys[] = { "attempts", "initial", "max",
		NULL };
	yaml_node_t *k, *v;
	const char *s;

	if (want(l, n, YAML_MAPPING_NODE,
		"a mapping {attempts, initial, "
		"max}") < 0)
		return -EINVAL;
	for (MAP_EACH(l, n, pair, k, v)) {
		s = scalar(k);
		if (s != NULL && strcmp(s, "attempts") == 0) {
			if (get_int(l, v, 1, 100, &r->attempts) < 0)
				return -EINVAL;
		} else if (s != NULL && strcmp(s, "initial") == 0) {
			if (get_duration(l, v, 1, &r->initial) < 0)
				return -EINVAL;
		} else if (s != NULL && strcmp(s, "max") == 0) {
			if (get_duration(l, v, 1, &r->max) < 0)
				return -EINVAL;
		} else {
			unknown_key(l, k, "retry", keys);
			return -EINVAL;
		}
	}
	if (r->max < r->initial) {
		ERR(l, n, "retry: max (%llds) is shorter than initial (%llds)",
		    (long long)r->max, (long long)r->initial);
		return -EINVAL;
	}
	return 0;
}

/* The boolean settings, by name: where each lives in job_settings. */
static const struct bool_setting {
	const char *name;
	unsigned bit;
	size_t value, origin;
} bool_settings[] = {
#define B(name, bit)                                                           \
	{                                                                      \
#name, bit, offsetof(struct job_settings, name),               \
		    offsetof(struct job_settings, name##_origin)               \
	}
	B(private_key_rotate, JOB_SET_PRIVATE_KEY_ROTATE),
	B(rollback_on_password_fail, JOB_SET_ROLLBACK_PASSWORD),
	B(rollback_on_private_key_fail, JOB_SET_ROLLBACK_PRIVATE_KEY),
	B(rollback_on_post_rotation_fail, JOB_SET_ROLLBACK_POST_ROTATION),
	B(rerun_on_post_rotation_fail, JOB_SET_RERUN_POST_ROTATION),
#undef B
};

static const struct bool_setting *
bool_setting(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(bool_settings) / sizeof(bool_settings[0]); i++)
		if (strcmp(name, bool_settings[i].name) == 0)
			return &bool_settings[i];
	return NULL;
}

/*
 * If key K names a rotation setting, parse V into ST, record where it came
 * from, and return 1; return 0 for keys that are not settings.
 */
static int
parse_setting(struct job_loader *l, yaml_node_t *k, yaml_node_t *v,
    struct job_settings *st, enum job_level level, const char *owner)
{
	const char *s = scalar(k);
	struct job_origin o = origin_of(l, v, level, owner);
	const struct bool_setting *b;
	unsigned bit;
	int r = 0, i;

	if (s == NULL)
		return 0;
	if (strcmp(s, "schedule") == 0) {
		if (st->set & JOB_SET_SCHEDULE)
			return 1;
		r = parse_schedule(l, v, st);
		bit = JOB_SET_SCHEDULE;
		st->schedule_origin = o;
	} else if (strcmp(s, "complexity") == 0) {
		struct policy pol;

		r = parse_complexity(l, v, &pol);
		if (r == 0) {
			/* A pointer: most settings inherit it, and 100k users
			 * must not carry a policy each. */
			free(st->complexity);
			st->complexity = xcalloc(1, sizeof(pol));
			*st->complexity = pol;
		}
		bit = JOB_SET_COMPLEXITY;
		st->complexity_origin = o;
	} else if (strcmp(s, "rotate") == 0) {
		r = parse_rotate(l, v, &st->rotate);
		bit = JOB_SET_ROTATE;
		st->rotate_origin = o;
	} else if (strcmp(s, "retry") == 0) {
		st->retry = (struct job_retry){ 5, 30, 3600 };
		r = parse_retry(l, v, &st->retry);
		bit = JOB_SET_RETRY;
		st->retry_origin = o;
	} else if (strcmp(s, "misfire") == 0) {
		const char *m = scalar(v);

		if (m != NULL && strcmp(m, "run_once") == 0)
			st->misfire = JOB_MISFIRE_RUN_ONCE;
		else if (m != NULL && strcmp(m, "skip") == 0)
			st->misfire = JOB_MISFIRE_SKIP;
		else {
			ERR(l, v,
			    "misfire: expected run_once or skip, found "
			    "'%s'",
			    m != NULL ? m : node_type_name(v));
			r = -EINVAL;
		}
		bit = JOB_SET_MISFIRE;
		st->misfire_origin = o;
	} else if (strcmp(s, "timeout") == 0) {
		r = get_duration(l, v, 1, &st->timeout);
		bit = JOB_SET_TIMEOUT;
		st->timeout_origin = o;
	} else if (strcmp(s, "private_key_type") == 0) {
		const char *t = scalar(v);

		for (i = 0; key_types[i] != NULL; i++)
			if (t != NULL && strcmp(t, key_types[i]) == 0)
				break;
		if (key_types[i] == NULL) {
			const char *m =
			    t != NULL ? did_you_mean(t, key_types) : NULL;

			ERR(l, v,
			    "private_key_type: expected ssh-ed25519, "
			    "ecdsa-sha2-nistp256, ecdsa-sha2-nistp384, "
			    "ecdsa-sha2-nistp521 or ssh-rsa, found '%s'%s%s%s",
			    t != NULL ? t : node_type_name(v),
			    m != NULL ? " (did you mean '" : "",
			    m != NULL ? m : "", m != NULL ? "'?)" : "");
			r = -EINVAL;
		} else {
			free(st->private_key_type);
			st->private_key_type = xstrdup(t);
		}
		bit = JOB_SET_PRIVATE_KEY_TYPE;
		st->private_key_type_origin = o;
	} else if ((b = bool_setting(s)) != NULL) {
		r = get_bool(l, v, (bool *)((char *)st + b->value));
		bit = b->bit;
		*(struct job_origin *)((char *)st + b->origin) = o;
	} else {
		return 0;
	}
	if (r == 0)
		st->set |= bit;
	return 1;
}

static void
settings_free(struct job_settings *st)
{
	schedule_free(st->schedule);
	free(st->schedule_text);
	free(st->private_key_type);
	free(st->complexity);
	memset(st, 0, sizeof(*st));
}

/* One script: an absolute path, or {path, command}. */
static int
parse_one_script(struct job_loader *l, yaml_node_t *e, struct job_script *s,
    enum job_level level, const char *owner)
{
	static const char *const keys[] = { "path", "command", NULL };
	yaml_node_t *k, *v;
	const char *key;

	s->origin = origin_of(l, e, level, owner);
	if (e->type == YAML_SCALAR_NODE) {
		if (get_string(l, e, &s->path) < 0)
			return -EINVAL;
	} else if (e->type == YAML_MAPPING_NODE) {
		for (MAP_EACH(l, e, pair, k, v)) {
			key = scalar(k);
			if (key != NULL && strcmp(key, "path") == 0) {
				if (get_string(l, v, &s->path) < 0)
					return -EINVAL;
			} else if (key != NULL && strcmp(key, "command") == 0) {
				if (get_string(l, v, &s->command) < 0)
					return -EINVAL;
			} else {
				unknown_key(l, k, "a script", keys);
				return -EINVAL;
			}
		}
	} else {
		ERR(l, e, "expected a script path or {path, command}");
		return -EINVAL;
	}
	if (s->path == NULL) {
		ERR(l, e, "a script needs path");
		return -EINVAL;
	}
	if (s->path[0] != '/') {
		ERR(l, e, "script path '%s' must be absolute", s->path);
		return -EINVAL;
	}
	return 0;
}

static int
parse_scripts(struct job_loader *l, yaml_node_t *n, struct job_scripts *sc,
    enum job_level level, const char *owner)
{
	yaml_node_item_t *it;

	if (want(l, n, YAML_SEQUENCE_NODE, "a list of scripts") < 0)
		return -EINVAL;
	for (it = n->data.sequence.items.start; it < n->data.sequence.items.top;
	     it++)
		if (parse_one_script(
			l, node(l, *it), PUSH(sc->v, sc->n), level, owner) < 0)
			return -EINVAL;
	return 0;
}

static void
scripts_free(struct job_scripts *sc)
{
	size_t i;

	for (i = 0; i < sc->n; i++) {
		free(sc->v[i].path);
		free(sc->v[i].command);
	}
	free(sc->v);
	memset(sc, 0, sizeof(*sc));
}

/* ---- protocols and the port map ---- */

static const struct protocol {
	const char *name;
	int port;
	enum job_kind kind;
} protocols[] = {
	{ "ssh", 22, JOB_MACHINE },
	{ "ldap", 389, JOB_DIRECTORY },
	{ "ldaps", 636, JOB_DIRECTORY },
	{ "postgresql", 5432, JOB_DATABASE },
	{ "mysql", 3306, JOB_DATABASE },
	{ "mssql", 1433, JOB_DATABASE },
	{ "mongodb", 27017, JOB_DATABASE },
	{ "https", 443, JOB_API },
	{ "aws_iam", 443, JOB_CLOUD },
	{ "script", 0, JOB_MACHINE },
	{ "test", 0, JOB_MACHINE },
	{ NULL, 0, 0 },
};

static const char *const protocol_names[] = { "ssh", "ldap", "ldaps",
	"postgresql", "mysql", "mssql", "mongodb", "https", "aws_iam", "script",
	"test", NULL };

static const char *const kind_names[] = { [JOB_MACHINE] = "machine",
	[JOB_DATABASE] = "database",
	[JOB_DIRECTORY] = "directory",
	[JOB_CLOUD] = "cloud",
	[JOB_API] = "api",
	NULL };

const char *
jobs_kind_name(enum job_kind kind)
{
	return kind_names[kind];
}

static const struct protocol *
protocol_find(const char *name)
{
	const struct protocol *p;

	for (p = protocols; p->name != NULL; p++)
		if (strcmp(p->name, name) == 0)
			return p;
	return NULL;
}

static int
parse_port_map(
    struct job_loader *l, yaml_node_t *n, struct job_configuration *c)
{
	yaml_node_t *k, *v;
	struct job_port *p;

	if (want(l, n, YAML_MAPPING_NODE, "a mapping of port: protocol") < 0)
		return -EINVAL;
	for (MAP_EACH(l, n, pair, k, v)) {
		p = PUSH(c->ports, c->nports);
		if (get_int(l, k, 1, 65535, &p->port) < 0)
			return -EINVAL;
		if (scalar(v) == NULL || protocol_find(scalar(v)) == NULL) {
			const char *m = scalar(v) != NULL
			    ? did_you_mean(scalar(v), protocol_names)
			    : NULL;

			ERR(l, v, "unknown protocol '%s'%s%s%s",
			    scalar(v) != NULL ? scalar(v) : node_type_name(v),
			    m != NULL ? " (did you mean '" : "",
			    m != NULL ? m : "", m != NULL ? "'?)" : "");
			return -EINVAL;
		}
		p->protocol = xstrdup(scalar(v));
	}
	return 0;
}

/* ---- objects ---- */

static void
configuration_free(struct job_configuration *c)
{
	size_t i;

	if (c == NULL)
		return;
	free(c->name);
	settings_free(&c->settings);
	for (i = 0; i < c->nports; i++)
		free(c->ports[i].protocol);
	free(c->ports);
	scripts_free(&c->scripts);
	free(c);
}

static void
resource_free(struct job_resource *r)
{
	if (r == NULL)
		return;
	free(r->name);
	free(r->host);
	free(r->protocol);
	free(r->tls_ca_file);
	free(r->admin_user);
	free(r->os);
	free(r->directory_type);
	free(r->domain);
	free(r->database);
	free(r->user_host);
	free(r->region);
	free(r->url);
	free(r->test_error);
	free(r->configuration_name);
	settings_free(&r->settings);
	scripts_free(&r->scripts);
	free(r->rotate_script.path);
	free(r->rotate_script.command);
	free(r->verify_script.path);
	free(r->verify_script.command);
	free(r);
}

static void
user_free(struct job_user *u)
{
	if (u == NULL)
		return;
	free(u->name);
	free(u->login);
	free(u->dn);
	free(u->resource_name);
	free(u->configuration_name);
	free(u->password_file);
	free(u->private_key_file);
	/* A resolved user's settings borrow the schedule and key type from
	 * wherever they were inherited; only its own are freed. */
	if (u->own != NULL) {
		settings_free(u->own); /* the struct is the loader's */
	} else {
		if (u->settings.schedule_origin.level == JOB_LEVEL_USER) {
			schedule_free(u->settings.schedule);
			free(u->settings.schedule_text);
		}
		if (u->settings.complexity_origin.level == JOB_LEVEL_USER)
			free(u->settings.complexity);
		if (u->settings.private_key_type_origin.level == JOB_LEVEL_USER)
			free(u->settings.private_key_type);
	}
	scripts_free(&u->scripts);
	free(u);
}

/*
 * A kept user no longer needs what was written on it apart from what its
 * resolved settings took: free the rest (values set but superseded cannot
 * happen, as the user is first in its chain, but a value parsed with an
 * error and left unset can).  collect() then unmaps the structs, which a
 * large estate would otherwise carry once per user.
 */
static void
user_release_own(struct job_user *u)
{
	struct job_settings *o = u->own;

	if (o->schedule != u->settings.schedule) {
		schedule_free(o->schedule);
		free(o->schedule_text);
	}
	if (o->complexity != u->settings.complexity)
		free(o->complexity);
	if (o->private_key_type != u->settings.private_key_type)
		free(o->private_key_type);
	u->own = NULL; /* the struct is the loader's */
}

static bool
valid_name(const char *s)
{
	size_t i;

	if (*s == '\0' || strlen(s) > 128)
		return false;
	for (i = 0; s[i] != '\0'; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
			(s[i] >= 'A' && s[i] <= 'Z') ||
			(s[i] >= '0' && s[i] <= '9') || s[i] == '-' ||
			s[i] == '_' || s[i] == '.' || s[i] == '@'))
			return false;
	return true;
}

static int
get_name(struct job_loader *l, yaml_node_t *k, char **ret)
{
	const char *s = scalar(k);

	if (s == NULL || !valid_name(s)) {
		ERR(l, k,
		    "invalid name '%s': use 1-128 letters, digits and "
		    "- _ . @",
		    s != NULL ? s : node_type_name(k));
		return -EINVAL;
	}
	*ret = xstrdup(s);
	return 0;
}

static const char *const configuration_keys[] = { "schedule", "complexity",
	"rotate", "retry", "misfire", "timeout", "private_key_type",
	"private_key_rotate", "rollback_on_password_fail",
	"rollback_on_private_key_fail", "rollback_on_post_rotation_fail",
	"rerun_on_post_rotation_fail", "port_map", "scripts", NULL };

static void
parse_configuration(struct job_loader *l, yaml_node_t *k, yaml_node_t *n)
{
	struct job_configuration *c = xcalloc(1, sizeof(*c));
	struct object *o;
	yaml_node_t *kk, *v;
	const char *s;

	o = PUSH(l->objs, l->nobjs);
	o->type = OBJ_CONFIGURATION;
	o->p = c;
	o->file = l->file;
	c->origin = origin_of(l, k, JOB_LEVEL_CONFIGURATION, NULL);
	if (get_name(l, k, &c->name) < 0)
		c->name = xstrdup("?");
	if (want(l, n, YAML_MAPPING_NODE,
		"a mapping of configuration "
		"settings") < 0)
		return;
	for (MAP_EACH(l, n, pair, kk, v)) {
		if (duplicate_key(l, n, pair, kk))
			continue;
		if (parse_setting(l, kk, v, &c->settings,
			JOB_LEVEL_CONFIGURATION, c->name))
			continue;
		s = scalar(kk);
		if (s != NULL && strcmp(s, "port_map") == 0)
			parse_port_map(l, v, c);
		else if (s != NULL && strcmp(s, "scripts") == 0)
			parse_scripts(l, v, &c->scripts,
			    JOB_LEVEL_CONFIGURATION, c->name);
		else
			unknown_key(
			    l, kk, "a configuration", configuration_keys);
	}
}

static const char *const resource_keys[] = { "kind", "host", "port", "protocol",
	"tls", "admin_user", "os", "directory_type", "domain", "database",
	"user_host", "region", "url", "max_concurrent", "configuration",
	"scripts", "rotate_script", "verify_script", "test_fail", "test_error",
	"test_delay", "schedule", "complexity", "rotate", "retry", "misfire",
	"timeout", "private_key_type", "private_key_rotate",
	"rollback_on_password_fail", "rollback_on_private_key_fail",
	"rollback_on_post_rotation_fail", "rerun_on_post_rotation_fail", NULL };

static int
parse_tls(struct job_loader *l, yaml_node_t *n, struct job_resource *r)
{
	static const char *const keys[] = { "ca_file", "verify", NULL };
	yaml_node_t *k, *v;
	const char *s;

	if (want(l, n, YAML_MAPPING_NODE, "a mapping {ca_file, verify}") < 0)
		return -EINVAL;
	for (MAP_EACH(l, n, pair, k, v)) {
		s = scalar(k);
		if (s != NULL && strcmp(s, "ca_file") == 0) {
			if (get_string(l, v, &r->tls_ca_file) < 0)
				return -EINVAL;
			if (r->tls_ca_file[0] != '/') {
				ERR(l, v, "ca_file must be an absolute path");
				return -EINVAL;
			}
		} else if (s != NULL && strcmp(s, "verify") == 0) {
			if (get_bool(l, v, &r->tls_verify) < 0)
				return -EINVAL;
		} else {
			unknown_key(l, k, "tls", keys);
			return -EINVAL;
		}
	}
	return 0;
}

static void
parse_resource(struct job_loader *l, yaml_node_t *k, yaml_node_t *n)
{
	struct job_resource *r = xcalloc(1, sizeof(*r));
	bool have_kind = false;
	struct object *o;
	yaml_node_t *kk, *v;
	const char *s;
	int i;

	o = PUSH(l->objs, l->nobjs);
	o->type = OBJ_RESOURCE;
	o->p = r;
	o->file = l->file;
	r->origin = origin_of(l, k, JOB_LEVEL_RESOURCE, NULL);
	r->tls_verify = true;
	if (get_name(l, k, &r->name) < 0)
		r->name = xstrdup("?");
	if (want(l, n, YAML_MAPPING_NODE, "a mapping of resource settings") < 0)
		return;
	for (MAP_EACH(l, n, pair, kk, v)) {
		if (duplicate_key(l, n, pair, kk))
			continue;
		if (parse_setting(
			l, kk, v, &r->settings, JOB_LEVEL_RESOURCE, r->name))
			continue;
		s = scalar(kk);
		if (s == NULL) {
			unknown_key(l, kk, "a resource", resource_keys);
		} else if (strcmp(s, "kind") == 0) {
			for (i = 0; kind_names[i] != NULL; i++)
				if (scalar(v) != NULL &&
				    strcmp(scalar(v), kind_names[i]) == 0)
					break;
			if (kind_names[i] == NULL)
				ERR(l, v,
				    "kind: expected machine, database, "
				    "directory, cloud or api, found '%s'",
				    scalar(v) != NULL ? scalar(v)
						      : node_type_name(v));
			else {
				r->kind = i;
				have_kind = true;
			}
		} else if (strcmp(s, "host") == 0) {
			get_string(l, v, &r->host);
		} else if (strcmp(s, "port") == 0) {
			get_int(l, v, 1, 65535, &r->port);
		} else if (strcmp(s, "protocol") == 0) {
			if (get_string(l, v, &r->protocol) == 0 &&
			    protocol_find(r->protocol) == NULL) {
				const char *m =
				    did_you_mean(r->protocol, protocol_names);

				ERR(l, v, "unknown protocol '%s'%s%s%s",
				    r->protocol,
				    m != NULL ? " (did you mean '" : "",
				    m != NULL ? m : "", m != NULL ? "'?)" : "");
			}
			r->protocol_origin =
			    origin_of(l, v, JOB_LEVEL_USER, NULL);
		} else if (strcmp(s, "tls") == 0) {
			parse_tls(l, v, r);
		} else if (strcmp(s, "admin_user") == 0) {
			get_string(l, v, &r->admin_user);
		} else if (strcmp(s, "os") == 0) {
			get_string(l, v, &r->os);
		} else if (strcmp(s, "directory_type") == 0) {
			if (get_string(l, v, &r->directory_type) == 0 &&
			    strcmp(r->directory_type, "openldap") != 0 &&
			    strcmp(r->directory_type, "active_directory") != 0)
				ERR(l, v,
				    "directory_type: expected openldap or "
				    "active_directory, found '%s'",
				    r->directory_type);
		} else if (strcmp(s, "domain") == 0) {
			get_string(l, v, &r->domain);
		} else if (strcmp(s, "database") == 0) {
			get_string(l, v, &r->database);
		} else if (strcmp(s, "user_host") == 0) {
			get_string(l, v, &r->user_host);
		} else if (strcmp(s, "region") == 0) {
			get_string(l, v, &r->region);
		} else if (strcmp(s, "url") == 0) {
			if (get_string(l, v, &r->url) == 0 &&
			    strncmp(r->url, "https://", 8) != 0)
				ERR(l, v, "url: expected an https:// URL");
		} else if (strcmp(s, "max_concurrent") == 0) {
			get_int(l, v, 1, 1000, &r->max_concurrent);
		} else if (strcmp(s, "test_fail") == 0) {
			get_int(l, v, 0, 1000000, &r->test_fail);
		} else if (strcmp(s, "test_error") == 0) {
			if (get_string(l, v, &r->test_error) == 0 &&
			    strcmp(r->test_error, "transient") != 0 &&
			    strcmp(r->test_error, "auth") != 0 &&
			    strcmp(r->test_error, "policy") != 0 &&
			    strcmp(r->test_error, "fatal") != 0)
				ERR(l, v,
				    "test_error: expected transient, "
				    "auth, policy or fatal");
		} else if (strcmp(s, "test_delay") == 0) {
			get_duration(l, v, 0, &r->test_delay);
		} else if (strcmp(s, "configuration") == 0) {
			get_string(l, v, &r->configuration_name);
		} else if (strcmp(s, "scripts") == 0) {
			parse_scripts(
			    l, v, &r->scripts, JOB_LEVEL_RESOURCE, r->name);
		} else if (strcmp(s, "rotate_script") == 0 ||
		    strcmp(s, "verify_script") == 0) {
			struct job_script *sc =
			    s[0] == 'r' ? &r->rotate_script : &r->verify_script;

			if (sc->path != NULL)
				ERR(l, kk, "%s given twice", s);
			else
				parse_one_script(
				    l, v, sc, JOB_LEVEL_RESOURCE, r->name);
		} else {
			unknown_key(l, kk, "a resource", resource_keys);
		}
	}
	if (!have_kind)
		ERR(l, k,
		    "resource %s needs kind: machine, database, "
		    "directory, cloud or api",
		    r->name);
	else if (r->protocol != NULL && strcmp(r->protocol, "script") == 0 &&
	    (r->rotate_script.path == NULL || r->verify_script.path == NULL))
		/* Recovery must be able to ask the target which secret it
		 * holds: a script rotation without a verify is not safe. */
		ERR(l, k,
		    "resource %s: protocol script needs rotate_script and "
		    "verify_script",
		    r->name);
	else if ((r->rotate_script.path != NULL ||
		     r->verify_script.path != NULL) &&
	    (r->protocol == NULL || strcmp(r->protocol, "script") != 0))
		ERR(l, k,
		    "resource %s: rotate_script and verify_script are for "
		    "protocol: script",
		    r->name);
	else if (r->host == NULL && r->kind != JOB_CLOUD &&
	    (r->protocol == NULL ||
		(strcmp(r->protocol, "script") != 0 &&
		    strcmp(r->protocol, "test") != 0)) &&
	    r->url == NULL)
		ERR(l, k, "resource %s needs host", r->name);
}

static const char *const user_keys[] = { "login", "dn", "resource",
	"configuration", "managed", "noop", "password_file", "private_key_file",
	"scripts", "schedule", "complexity", "rotate", "retry", "misfire",
	"timeout", "private_key_type", "private_key_rotate",
	"rollback_on_password_fail", "rollback_on_private_key_fail",
	"rollback_on_post_rotation_fail", "rerun_on_post_rotation_fail", NULL };

static void
parse_user(struct job_loader *l, yaml_node_t *k, yaml_node_t *n)
{
	struct job_user *u = xcalloc(1, sizeof(*u));
	struct object *o;
	yaml_node_t *kk, *v;
	const char *s;

	o = PUSH(l->objs, l->nobjs);
	o->type = OBJ_USER;
	o->p = u;
	o->file = l->file;
	u->origin = origin_of(l, k, JOB_LEVEL_USER, NULL);
	u->own = own_alloc(l);
	u->managed = true;
	if (get_name(l, k, &u->name) < 0)
		u->name = xstrdup("?");
	if (want(l, n, YAML_MAPPING_NODE, "a mapping of user settings") < 0)
		return;
	for (MAP_EACH(l, n, pair, kk, v)) {
		if (duplicate_key(l, n, pair, kk))
			continue;
		if (parse_setting(l, kk, v, u->own, JOB_LEVEL_USER, NULL))
			continue;
		s = scalar(kk);
		if (s == NULL) {
			unknown_key(l, kk, "a user", user_keys);
		} else if (strcmp(s, "login") == 0) {
			get_string(l, v, &u->login);
		} else if (strcmp(s, "dn") == 0) {
			get_string(l, v, &u->dn);
		} else if (strcmp(s, "resource") == 0) {
			get_string(l, v, &u->resource_name);
		} else if (strcmp(s, "configuration") == 0) {
			get_string(l, v, &u->configuration_name);
		} else if (strcmp(s, "managed") == 0) {
			get_bool(l, v, &u->managed);
		} else if (strcmp(s, "noop") == 0) {
			get_bool(l, v, &u->noop);
		} else if (strcmp(s, "password_file") == 0) {
			if (get_string(l, v, &u->password_file) == 0 &&
			    u->password_file[0] != '/')
				ERR(l, v,
				    "password_file must be an absolute "
				    "path");
		} else if (strcmp(s, "private_key_file") == 0) {
			if (get_string(l, v, &u->private_key_file) == 0 &&
			    u->private_key_file[0] != '/')
				ERR(l, v,
				    "private_key_file must be an "
				    "absolute path");
		} else if (strcmp(s, "scripts") == 0) {
			parse_scripts(l, v, &u->scripts, JOB_LEVEL_USER, NULL);
		} else if (strcmp(s, "password") == 0 ||
		    strcmp(s, "private_key") == 0 || strcmp(s, "secret") == 0) {
			ERR(l, kk,
			    "secrets never go in job files: seed user "
			    "%s's %s with `rotactl secret set %s` (it reads "
			    "stdin), or name a file with %s_file: that rotad "
			    "imports once",
			    u->name,
			    strcmp(s, "private_key") == 0 ? "private key"
							  : "password",
			    u->name,
			    strcmp(s, "private_key") == 0 ? "private_key"
							  : "password");
		} else {
			unknown_key(l, kk, "a user", user_keys);
		}
	}
	if (u->resource_name == NULL && !u->noop)
		ERR(l, k,
		    "user %s needs resource (or noop: true for a "
		    "scripts-only user)",
		    u->name);
	if (u->login == NULL && !u->noop)
		ERR(l, k, "user %s needs login", u->name);
}

/* Parse a section (configurations, resources, users): a mapping by name. */
static void
parse_section(struct job_loader *l, yaml_node_t *n,
    void (*fn)(struct job_loader *, yaml_node_t *, yaml_node_t *),
    const char *what)
{
	yaml_node_t *k, *v;

	if (n->type == YAML_SCALAR_NODE && scalar(n)[0] == '\0')
		return; /* "users:" with nothing under it */
	if (n->type != YAML_MAPPING_NODE) {
		ERR(l, n, "%s: expected a mapping of names to %s, found %s",
		    what, what, node_type_name(n));
		return;
	}
	for (MAP_EACH(l, n, pair, k, v)) {
		if (duplicate_key(l, n, pair, k))
			continue;
		fn(l, k, v);
	}
}

static int
load_yaml(
    struct job_loader *l, const char *text, size_t len, yaml_document_t *doc)
{
	yaml_parser_t parser;
	yaml_document_t extra;
	int r = 0;

	if (!yaml_parser_initialize(&parser))
		abort();
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	if (!yaml_parser_load(&parser, doc)) {
		error_at(l, l->file, (int)parser.problem_mark.line + 1,
		    (int)parser.problem_mark.column + 1, "YAML: %s%s%s",
		    parser.problem != NULL ? parser.problem : "syntax error",
		    parser.context != NULL ? " " : "",
		    parser.context != NULL ? parser.context : "");
		r = -EINVAL;
		goto out;
	}
	/* One document per file: a second one would be silently ignored. */
	if (yaml_document_get_root_node(doc) != NULL) {
		if (!yaml_parser_load(&parser, &extra)) {
			error_at(l, l->file, (int)parser.problem_mark.line + 1,
			    (int)parser.problem_mark.column + 1, "YAML: %s",
			    parser.problem != NULL ? parser.problem
						   : "syntax error");
			yaml_document_delete(doc);
			r = -EINVAL;
			goto out;
		}
		if (yaml_document_get_root_node(&extra) != NULL) {
			error_at(l, l->file, (int)extra.start_mark.line + 1,
			    (int)extra.start_mark.column + 1,
			    "a job file holds one YAML document; found a "
			    "second one here");
			r = -EINVAL;
		}
		yaml_document_delete(&extra);
		if (r < 0)
			yaml_document_delete(doc);
	}
out:
	yaml_parser_delete(&parser);
	return r;
}

static size_t
intern_file(struct job_set *set, const char *name)
{
	char **f = PUSH(set->files, set->nfiles);

	*f = xstrdup(name);
	return set->nfiles - 1;
}

static void
parse_job_text(struct job_loader *l, const char *text, size_t len)
{
	static const char *const keys[] = { "configurations", "resources",
		"users", NULL };
	yaml_document_t doc;
	yaml_node_t *root, *k, *v;
	const char *s;

	if (load_yaml(l, text, len, &doc) < 0)
		return;
	l->doc = &doc;
	root = yaml_document_get_root_node(&doc);
	if (root == NULL)
		goto out; /* an empty file is fine: nothing in it */
	if (root->type != YAML_MAPPING_NODE) {
		ERR(l, root,
		    "a job file is a mapping with configurations:, "
		    "resources: and users:, found %s",
		    node_type_name(root));
		goto out;
	}
	for (MAP_EACH(l, root, pair, k, v)) {
		if (duplicate_key(l, root, pair, k))
			continue;
		s = scalar(k);
		if (s != NULL && strcmp(s, "configurations") == 0)
			parse_section(
			    l, v, parse_configuration, "configurations");
		else if (s != NULL && strcmp(s, "resources") == 0)
			parse_section(l, v, parse_resource, "resources");
		else if (s != NULL && strcmp(s, "users") == 0)
			parse_section(l, v, parse_user, "users");
		else
			unknown_key(l, k, "a job file", keys);
	}
out:
	l->doc = NULL;
	yaml_document_delete(&doc);
}

/* Read a whole file, refusing anything odd; errors recorded for FILE. */
static int
read_file(struct job_loader *l, const char *path, char **ret, size_t *len)
{
	struct stat sb;
	FILE *f;
	char *buf = NULL;
	int r = -EIO;

	f = fopen(path, "re");
	if (f == NULL) {
		r = -errno;
		error_at(l, l->file, 0, 0, "cannot open: %s", strerror(-r));
		return r;
	}
	if (fstat(fileno(f), &sb) < 0 || !S_ISREG(sb.st_mode)) {
		error_at(l, l->file, 0, 0, "not a regular file");
		goto out;
	}
	if (sb.st_size > MAX_FILE_SIZE) {
		error_at(
		    l, l->file, 0, 0, "larger than %d bytes", MAX_FILE_SIZE);
		goto out;
	}
	buf = xcalloc(1, (size_t)sb.st_size + 1);
	*len = fread(buf, 1, (size_t)sb.st_size, f);
	if (ferror(f)) {
		error_at(l, l->file, 0, 0, "read error");
		goto out;
	}
	*ret = buf;
	buf = NULL;
	r = 0;
out:
	free(buf);
	fclose(f);
	return r;
}

/* ---- rotad.yaml ---- */

static const char *const daemon_keys[] = { "conf_dir", "store", "min_interval",
	"max_workers", "control", "metrics", "worker", "defaults", NULL };

static const char *const right_names[] = { "read", "trigger", "secrets",
	"admin", NULL };

/* control.acl: [{user|uid|group|gid: ..., rights: [read, ...]}] */
static void
parse_acl(struct job_loader *l, yaml_node_t *n)
{
	static const char *const keys[] = { "user", "uid", "group", "gid",
		"rights", NULL };
	struct job_daemon *d = &l->set->daemon;
	yaml_node_item_t *it, *rt;
	yaml_node_t *e, *k, *v, *rn;
	struct job_acl *a;
	const char *s;
	int i, id, who;

	if (want(l, n, YAML_SEQUENCE_NODE,
		"a list of {user|uid|group|gid, "
		"rights}") < 0)
		return;
	for (it = n->data.sequence.items.start; it < n->data.sequence.items.top;
	     it++) {
		e = node(l, *it);
		if (want(l, e, YAML_MAPPING_NODE,
			"a mapping {user|uid|group|"
			"gid, rights}") < 0)
			continue;
		a = PUSH(d->acl, d->nacl);
		who = 0;
		for (MAP_EACH(l, e, pair, k, v)) {
			s = scalar(k);
			for (i = 0; keys[i] != NULL; i++)
				if (s != NULL && strcmp(s, keys[i]) == 0)
					break;
			if (keys[i] == NULL) {
				unknown_key(l, k, "an acl entry", keys);
				continue;
			}
			if (i == 4) {
				if (want(l, v, YAML_SEQUENCE_NODE,
					"a list of rights") < 0)
					continue;
				for (rt = v->data.sequence.items.start;
				     rt < v->data.sequence.items.top; rt++) {
					int b;

					rn = node(l, *rt);
					for (b = 0; right_names[b] != NULL; b++)
						if (scalar(rn) != NULL &&
						    strcmp(scalar(rn),
							right_names[b]) == 0)
							break;
					if (right_names[b] == NULL)
						ERR(l, rn,
						    "unknown right '%s': "
						    "expected read, trigger, "
						    "secrets or admin",
						    scalar(rn) != NULL
							? scalar(rn)
							: "");
					else
						a->rights |= 1u << b;
				}
				continue;
			}
			who++;
			a->is_group = i == 2 || i == 3;
			if (i == 1 || i == 3) {
				if (get_int(l, v, 0, INT_MAX, &id) == 0)
					a->id = (unsigned)id;
			} else {
				get_string(l, v, &a->name);
			}
		}
		if (who != 1)
			ERR(l, e,
			    "an acl entry names exactly one of user, uid, "
			    "group, gid");
	}
}

static void
parse_daemon(struct job_loader *l, yaml_node_t *root, const char *dir)
{
	static const char *const store_keys[] = { "path", "key_file", NULL };
	struct job_daemon *d = &l->set->daemon;
	yaml_node_t *k, *v, *kk, *vv;
	const char *s;

	if (root->type != YAML_MAPPING_NODE) {
		ERR(l, root,
		    "rotad.yaml is a mapping of daemon settings, "
		    "found %s",
		    node_type_name(root));
		return;
	}
	for (MAP_EACH(l, root, pair, k, v)) {
		if (duplicate_key(l, root, pair, k))
			continue;
		s = scalar(k);
		if (s != NULL && strcmp(s, "conf_dir") == 0) {
			char *c = NULL;

			if (get_string(l, v, &c) == 0) {
				free(d->conf_dir);
				if (c[0] == '/' || dir == NULL) {
					d->conf_dir = c;
				} else {
					if (asprintf(&d->conf_dir, "%s/%s", dir,
						c) < 0)
						abort();
					free(c);
				}
			}
		} else if (s != NULL && strcmp(s, "store") == 0) {
			if (want(l, v, YAML_MAPPING_NODE,
				"a mapping {path, "
				"key_file}") < 0)
				continue;
			for (MAP_EACH(l, v, pair2, kk, vv)) {
				const char *t = scalar(kk);

				if (t != NULL && strcmp(t, "path") == 0)
					get_string(l, vv, &d->store_path);
				else if (t != NULL &&
				    strcmp(t, "key_file") == 0)
					get_string(l, vv, &d->key_file);
				else
					unknown_key(l, kk, "store", store_keys);
			}
		} else if (s != NULL && strcmp(s, "min_interval") == 0) {
			get_duration(l, v, 1, &d->min_interval);
		} else if (s != NULL && strcmp(s, "max_workers") == 0) {
			get_int(l, v, 1, 1024, &d->max_workers);
		} else if (s != NULL && strcmp(s, "control") == 0) {
			static const char *const ckeys[] = { "socket", "group",
				"acl", NULL };

			if (want(l, v, YAML_MAPPING_NODE,
				"a mapping {socket, "
				"group, acl}") < 0)
				continue;
			for (MAP_EACH(l, v, pair2, kk, vv)) {
				const char *t = scalar(kk);

				if (t != NULL && strcmp(t, "socket") == 0)
					get_string(l, vv, &d->socket_path);
				else if (t != NULL && strcmp(t, "group") == 0)
					get_string(l, vv, &d->socket_group);
				else if (t != NULL && strcmp(t, "acl") == 0)
					parse_acl(l, vv);
				else
					unknown_key(l, kk, "control", ckeys);
			}
		} else if (s != NULL && strcmp(s, "metrics") == 0) {
			static const char *const mkeys[] = { "textfile", NULL };

			if (want(l, v, YAML_MAPPING_NODE,
				"a mapping "
				"{textfile}") < 0)
				continue;
			for (MAP_EACH(l, v, pair2, kk, vv)) {
				const char *t = scalar(kk);

				if (t != NULL && strcmp(t, "textfile") == 0)
					get_string(l, vv, &d->metrics_textfile);
				else
					unknown_key(l, kk, "metrics", mkeys);
			}
		} else if (s != NULL && strcmp(s, "worker") == 0) {
			static const char *const wkeys[] = { "path", "user",
				NULL };

			if (want(l, v, YAML_MAPPING_NODE,
				"a mapping {path, user}") < 0)
				continue;
			for (MAP_EACH(l, v, pair2, kk, vv)) {
				const char *t = scalar(kk);

				if (t != NULL && strcmp(t, "path") == 0)
					get_string(l, vv, &d->worker_path);
				else if (t != NULL && strcmp(t, "user") == 0)
					get_string(l, vv, &d->worker_user);
				else
					unknown_key(l, kk, "worker", wkeys);
			}
		} else if (s != NULL && strcmp(s, "defaults") == 0) {
			if (want(l, v, YAML_MAPPING_NODE,
				"a mapping of "
				"rotation settings") < 0)
				continue;
			for (MAP_EACH(l, v, pair2, kk, vv))
				if (!parse_setting(l, kk, vv, &d->defaults,
					JOB_LEVEL_DAEMON, NULL))
					unknown_key(
					    l, kk, "defaults", setting_keys);
		} else {
			unknown_key(l, k, "rotad.yaml", daemon_keys);
		}
	}
}

/* Built-in defaults, the last link of every inheritance chain. */
static void
builtin_defaults(struct job_settings *st)
{
	struct job_origin o = { .level = JOB_LEVEL_BUILTIN };
	struct schedule_error err;

	/* Keeper's rotation default is on demand only. */
	if (!(st->set & JOB_SET_SCHEDULE)) {
		static const struct schedule_fields f = {
			.value = { [SCHEDULE_KEY_TYPE] = "ON_DEMAND" }
		};

		if (schedule_new(&f, &st->schedule, &err) < 0)
			abort();
		st->schedule_text = xstrdup("type=ON_DEMAND");
		st->schedule_gap = INT64_MAX;
		st->schedule_origin = o;
	}
	if (!(st->set & JOB_SET_COMPLEXITY)) {
		free(st->complexity);
		st->complexity = xcalloc(1, sizeof(*st->complexity));
		policy_default(st->complexity);
		st->complexity_origin = o;
	}
	if (!(st->set & JOB_SET_ROTATE)) {
		st->rotate = JOB_ROTATE_PASSWORD;
		st->rotate_origin = o;
	}
	if (!(st->set & JOB_SET_RETRY)) {
		st->retry = (struct job_retry){ 5, 30, 3600 };
		st->retry_origin = o;
	}
	if (!(st->set & JOB_SET_MISFIRE)) {
		st->misfire = JOB_MISFIRE_RUN_ONCE;
		st->misfire_origin = o;
	}
	if (!(st->set & JOB_SET_TIMEOUT)) {
		st->timeout = 60;
		st->timeout_origin = o;
	}
	if (!(st->set & JOB_SET_PRIVATE_KEY_TYPE)) {
		st->private_key_type = xstrdup("ssh-ed25519");
		st->private_key_type_origin = o;
	}
	if (!(st->set & JOB_SET_PRIVATE_KEY_ROTATE)) {
		st->private_key_rotate = false;
		st->private_key_rotate_origin = o;
	}
	if (!(st->set & JOB_SET_ROLLBACK_PASSWORD)) {
		st->rollback_on_password_fail = true;
		st->rollback_on_password_fail_origin = o;
	}
	if (!(st->set & JOB_SET_ROLLBACK_PRIVATE_KEY)) {
		st->rollback_on_private_key_fail = true;
		st->rollback_on_private_key_fail_origin = o;
	}
	if (!(st->set & JOB_SET_ROLLBACK_POST_ROTATION)) {
		st->rollback_on_post_rotation_fail = false;
		st->rollback_on_post_rotation_fail_origin = o;
	}
	if (!(st->set & JOB_SET_RERUN_POST_ROTATION)) {
		st->rerun_on_post_rotation_fail = false;
		st->rerun_on_post_rotation_fail_origin = o;
	}
	/* Every field now holds a value; the set bits still say which ones
	 * rotad.yaml gave. */
}

/* ---- settle: names, references, inheritance, checks ---- */

/*
 * Fill in OUT field by field from the first of CHAIN (most specific
 * first) that set it.  Pointers are borrowed, not copied: the user's
 * resolved settings are a view of its chain.
 */
static void
inherit(struct job_settings *out, struct job_settings *const *chain, size_t n)
{
	size_t i;

#define TAKE(bit, field)                                                       \
	for (i = 0; i < n; i++) {                                              \
		if (chain[i]->set & (bit) || i == n - 1) {                     \
			out->field = chain[i]->field;                          \
			out->field##_origin = chain[i]->field##_origin;        \
			break;                                                 \
		}                                                              \
	}
	TAKE(JOB_SET_SCHEDULE, schedule);
	for (i = 0; i < n; i++)
		if (chain[i]->set & JOB_SET_SCHEDULE || i == n - 1) {
			out->schedule_text = chain[i]->schedule_text;
			out->schedule_gap = chain[i]->schedule_gap;
			break;
		}
	TAKE(JOB_SET_COMPLEXITY, complexity);
	TAKE(JOB_SET_ROTATE, rotate);
	TAKE(JOB_SET_RETRY, retry);
	TAKE(JOB_SET_MISFIRE, misfire);
	TAKE(JOB_SET_TIMEOUT, timeout);
	TAKE(JOB_SET_PRIVATE_KEY_TYPE, private_key_type);
	TAKE(JOB_SET_PRIVATE_KEY_ROTATE, private_key_rotate);
	TAKE(JOB_SET_ROLLBACK_PASSWORD, rollback_on_password_fail);
	TAKE(JOB_SET_ROLLBACK_PRIVATE_KEY, rollback_on_private_key_fail);
	TAKE(JOB_SET_ROLLBACK_POST_ROTATION, rollback_on_post_rotation_fail);
	TAKE(JOB_SET_RERUN_POST_ROTATION, rerun_on_post_rotation_fail);
#undef TAKE
	out->set = 0;
}

/*
 * The object of TYPE called NAME: a live one if there is one, else one in
 * a file that has been left out (so that a reference to it can say why it
 * does not resolve, rather than that it does not exist).
 */
static const char *
object_name(const struct object *o)
{
	return o->type == OBJ_CONFIGURATION
	    ? ((struct job_configuration *)o->p)->name
	    : o->type == OBJ_RESOURCE ? ((struct job_resource *)o->p)->name
				      : ((struct job_user *)o->p)->name;
}

static size_t
name_hash(int type, const char *name)
{
	size_t h = 14695981039346656037ULL ^ (size_t)type;

	for (; *name != '\0'; name++)
		h = (h ^ (unsigned char)*name) * 1099511628211ULL;
	return h;
}

/* The slot of (TYPE, NAME): its first object + 1, or 0 when absent. */
static size_t
slot_find(const struct job_loader *l, int type, const char *name)
{
	size_t i, o;

	if (l->nslots == 0)
		return 0;
	for (i = name_hash(type, name) & (l->nslots - 1);
	     (o = l->slots[i]) != 0; i = (i + 1) & (l->nslots - 1))
		if ((int)l->objs[o - 1].type == type &&
		    strcmp(object_name(&l->objs[o - 1]), name) == 0)
			return o;
	return 0;
}

static void
slot_put(struct job_loader *l, size_t o)
{
	const struct object *obj = &l->objs[o - 1];
	size_t i, last;

	for (i = name_hash((int)obj->type, object_name(obj)) & (l->nslots - 1);
	     l->slots[i] != 0; i = (i + 1) & (l->nslots - 1)) {
		const struct object *f = &l->objs[l->slots[i] - 1];

		if (f->type == obj->type &&
		    strcmp(object_name(f), object_name(obj)) == 0) {
			/* Same name: chain it after the others. */
			for (last = l->slots[i]; l->same_next[last - 1] != 0;
			     last = l->same_next[last - 1])
				;
			l->same_next[last - 1] = o;
			return;
		}
	}
	l->slots[i] = o;
}

/* Index the objects parsed since the last find(). */
static void
index_objects(struct job_loader *l)
{
	size_t i, cap;

	if (l->nindexed == l->nobjs)
		return;
	if (l->same_cap < l->nobjs) {
		cap = l->nobjs * 2;
		l->same_next = realloc(l->same_next, cap * sizeof(size_t));
		if (l->same_next == NULL)
			abort();
		l->same_cap = cap;
	}
	if (l->nslots < l->nobjs * 2) {
		for (cap = 64; cap < l->nobjs * 4; cap *= 2)
			;
		free(l->slots);
		l->slots = xcalloc(cap, sizeof(size_t));
		l->nslots = cap;
		l->nindexed = 0; /* rehash everything */
	}
	for (i = l->nindexed; i < l->nobjs; i++) {
		l->same_next[i] = 0;
		slot_put(l, i + 1);
	}
	l->nindexed = l->nobjs;
}

/*
 * The shortest gap between fires of S, written TEXT (see shortest_gap()),
 * computed once per text: many users share a schedule.
 */
static int64_t
exact_gap(struct job_loader *l, const struct schedule *s, const char *text)
{
	struct gap_memo *old = l->gaps;
	size_t i, j, cap = l->gaps_cap;

	if (l->ngaps * 2 >= l->gaps_cap) {
		l->gaps_cap = cap == 0 ? 64 : cap * 2;
		l->gaps = xcalloc(l->gaps_cap, sizeof(*l->gaps));
		for (i = 0; i < cap; i++) {
			if (old[i].text == NULL)
				continue;
			for (j = name_hash(0, old[i].text) & (l->gaps_cap - 1);
			     l->gaps[j].text != NULL;
			     j = (j + 1) & (l->gaps_cap - 1))
				;
			l->gaps[j] = old[i];
		}
		free(old);
	}
	for (j = name_hash(0, text) & (l->gaps_cap - 1);
	     l->gaps[j].text != NULL; j = (j + 1) & (l->gaps_cap - 1))
		if (strcmp(l->gaps[j].text, text) == 0)
			return l->gaps[j].gap;
	l->gaps[j].text = text;
	l->gaps[j].gap = shortest_gap(s, l->now);
	l->ngaps++;
	return l->gaps[j].gap;
}

static struct object *
find(struct job_loader *l, int type, const char *name)
{
	struct object *dropped = NULL;
	size_t i;

	index_objects(l);
	for (i = slot_find(l, type, name); i != 0; i = l->same_next[i - 1]) {
		struct object *o = &l->objs[i - 1];

		if (!o->dropped)
			return o;
		if (dropped == NULL)
			dropped = o;
	}
	return dropped;
}

/*
 * Whether object O may refer to TARGET.  A live object may not refer to a
 * left-out one: that is an error, which names the file at fault.  A
 * left-out object is only being checked for its own mistakes.
 */
static bool
reference_ok(struct job_loader *l, const struct object *o,
    const struct object *target, const struct job_origin *at, const char *what,
    const char *name)
{
	const char *kind = o->type == OBJ_USER ? "user" : "resource";
	const char *self = o->type == OBJ_USER
	    ? ((struct job_user *)o->p)->name
	    : ((struct job_resource *)o->p)->name;

	if (target == NULL) {
		error_at(l, o->file, at->line, at->column,
		    "%s %s: no %s "
		    "named '%s'",
		    kind, self, what, name);
		return false;
	}
	if (target->dropped && !o->dropped) {
		error_at(l, o->file, at->line, at->column,
		    "%s %s: %s '%s' is "
		    "in %s, which is left out for its errors",
		    kind, self, what, name, l->set->files[target->file]);
		return false;
	}
	return true;
}

static void error_origin(struct job_loader *l, const struct job_origin *o,
    size_t file, const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void
error_origin(struct job_loader *l, const struct job_origin *o, size_t file,
    const char *fmt, ...)
{
	va_list ap;
	char *msg;

	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		abort();
	va_end(ap);
	error_at(l, file, o->line, o->column, "%s", msg);
	free(msg);
}

static void
format_duration(int64_t s, char *buf, size_t size)
{
	if (s == 0)
		snprintf(buf, size, "0s");
	else if (s % 86400 == 0)
		snprintf(buf, size, "%lldd", (long long)(s / 86400));
	else if (s % 3600 == 0)
		snprintf(buf, size, "%lldh", (long long)(s / 3600));
	else if (s % 60 == 0)
		snprintf(buf, size, "%lldm", (long long)(s / 60));
	else
		snprintf(buf, size, "%llds", (long long)s);
}

/* Check one file's objects across files; returns true if any failed. */
static void
settle_object(struct job_loader *l, struct object *o)
{
	struct job_set *set = l->set;
	struct object *other;
	char a[32], b[32];

	switch (o->type) {
	case OBJ_CONFIGURATION: {
		struct job_configuration *c = o->p;

		other = find(l, OBJ_CONFIGURATION, c->name);
		if (other != NULL && other != o && !other->dropped)
			error_origin(l, &c->origin, o->file,
			    "configuration "
			    "'%s' is already defined at %s:%d:%d",
			    c->name,
			    ((struct job_configuration *)other->p)->origin.file,
			    ((struct job_configuration *)other->p)->origin.line,
			    ((struct job_configuration *)other->p)
				->origin.column);
		break;
	}
	case OBJ_RESOURCE: {
		struct job_resource *r = o->p;
		const struct protocol *p = NULL;
		size_t i;

		other = find(l, OBJ_RESOURCE, r->name);
		if (other != NULL && other != o && !other->dropped) {
			struct job_resource *r2 = other->p;

			error_origin(l, &r->origin, o->file,
			    "resource '%s' is "
			    "already defined at %s:%d:%d",
			    r->name, r2->origin.file, r2->origin.line,
			    r2->origin.column);
			break;
		}
		r->configuration = NULL;
		if (r->configuration_name != NULL) {
			other =
			    find(l, OBJ_CONFIGURATION, r->configuration_name);
			if (!reference_ok(l, o, other, &r->origin,
				"configuration", r->configuration_name))
				break;
			r->configuration = other->p;
		}
		if (r->admin_user != NULL &&
		    !reference_ok(l, o, find(l, OBJ_USER, r->admin_user),
			&r->origin, "user (admin_user)", r->admin_user))
			break;
		/* The protocol: explicit, else the port map. */
		if (r->protocol != NULL) {
			p = protocol_find(r->protocol);
		} else if (r->port != 0) {
			const char *name = NULL;
			bool mapped = false;

			if (r->configuration != NULL)
				for (i = 0; i < r->configuration->nports; i++)
					if (r->configuration->ports[i].port ==
					    r->port) {
						name =
						    r->configuration->ports[i]
							.protocol;
						mapped = true;
					}
			for (p = protocols; name == NULL && p->name != NULL;
			     p++)
				if (p->port == r->port && p->kind == r->kind)
					name = p->name;
			if (name == NULL) {
				error_origin(l, &r->origin, o->file,
				    "resource "
				    "%s: cannot tell the protocol of port %d: "
				    "set protocol:, or map the port in its "
				    "configuration's port_map",
				    r->name, r->port);
				break;
			}
			p = protocol_find(name);
			r->protocol = xstrdup(name);
			r->protocol_origin = (struct job_origin){
				.level = mapped ? JOB_LEVEL_CONFIGURATION
						: JOB_LEVEL_BUILTIN,
				.owner = mapped ? r->configuration->name : NULL
			};
		} else {
			error_origin(l, &r->origin, o->file,
			    "resource %s "
			    "needs port or protocol",
			    r->name);
			break;
		}
		if (p != NULL && strcmp(p->name, "script") != 0 &&
		    strcmp(p->name, "test") != 0 && p->kind != r->kind) {
			error_origin(l,
			    r->protocol_origin.file != NULL
				? &r->protocol_origin
				: &r->origin,
			    o->file,
			    "resource %s: protocol %s does not fit kind %s "
			    "(it is for a %s)",
			    r->name, p->name, kind_names[r->kind],
			    kind_names[p->kind]);
			break;
		}
		if (r->port == 0 && p != NULL)
			r->port = p->port;
		if (r->max_concurrent == 0)
			r->max_concurrent = r->kind == JOB_MACHINE ? 8 : 2;
		if ((r->test_fail != 0 || r->test_error != NULL ||
			r->test_delay != 0) &&
		    (p == NULL || strcmp(p->name, "test") != 0)) {
			error_origin(l, &r->origin, o->file,
			    "resource %s: "
			    "test_fail, test_error and test_delay belong to "
			    "protocol test",
			    r->name);
			break;
		}
		(void)a;
		(void)b;
		break;
	}
	case OBJ_USER: {
		struct job_user *u = o->p;
		struct job_settings *chain[5];
		size_t n = 0;

		other = find(l, OBJ_USER, u->name);
		if (other != NULL && other != o && !other->dropped) {
			struct job_user *u2 = other->p;

			error_origin(l, &u->origin, o->file,
			    "user '%s' is "
			    "already defined at %s:%d:%d",
			    u->name, u2->origin.file, u2->origin.line,
			    u2->origin.column);
			break;
		}
		u->resource = NULL;
		u->configuration = NULL;
		if (u->resource_name != NULL) {
			other = find(l, OBJ_RESOURCE, u->resource_name);
			if (!reference_ok(l, o, other, &u->origin, "resource",
				u->resource_name))
				break;
			u->resource = other->p;
		}
		if (u->configuration_name != NULL) {
			other =
			    find(l, OBJ_CONFIGURATION, u->configuration_name);
			if (!reference_ok(l, o, other, &u->origin,
				"configuration", u->configuration_name))
				break;
			u->configuration = other->p;
		} else if (u->resource != NULL) {
			u->configuration = u->resource->configuration;
		}
		chain[n++] = u->own;
		if (u->resource != NULL)
			chain[n++] = &u->resource->settings;
		if (u->configuration != NULL)
			chain[n++] = &u->configuration->settings;
		chain[n++] = &set->daemon.defaults;
		inherit(&u->settings, chain, n);

		if (u->settings.rotate & JOB_ROTATE_PRIVATE_KEY &&
		    u->resource != NULL && u->resource->kind != JOB_MACHINE)
			error_origin(l, &u->settings.rotate_origin,
			    u->settings.rotate_origin.file == NULL ? o->file
								   : o->file,
			    "user %s: private keys rotate on machines only, "
			    "and resource %s is a %s",
			    u->name, u->resource->name,
			    kind_names[u->resource->kind]);
		if (u->managed) {
			int64_t gap = u->settings.schedule_gap;

			if (gap < set->daemon.min_interval)
				gap = exact_gap(l, u->settings.schedule,
				    u->settings.schedule_text);
			if (gap < set->daemon.min_interval) {
				format_duration(gap, a, sizeof(a));
				format_duration(
				    set->daemon.min_interval, b, sizeof(b));
				error_origin(l,
				    u->settings.schedule_origin.file != NULL
					? &u->settings.schedule_origin
					: &u->origin,
				    o->file,
				    "user %s: schedule fires every %s "
				    "at times, more often than min_interval %s "
				    "(lower min_interval in rotad.yaml to "
				    "allow "
				    "it)",
				    u->name, a, b);
			}
		}
		break;
	}
	}
}

static size_t
count_bad(const struct job_loader *l)
{
	size_t i, n = 0;

	for (i = 0; i < l->set->nfiles; i++)
		n += l->file_bad[i];
	return n;
}

/* Repeat until no new file fails: dropping one may break another's
 * references. */
static void
settle(struct job_loader *l)
{
	size_t i, before;

	do {
		for (i = 0; i < l->nobjs; i++)
			if (l->file_bad[l->objs[i].file])
				l->objs[i].dropped = true;
		before = count_bad(l);
		for (i = 0; i < l->nobjs; i++) {
			struct object *o = &l->objs[i];

			size_t n = l->set->nerrors;

			/* A dropped object is still checked once, so that
			 * `rotad -n` reports all of a bad file's errors; an
			 * object that has reported is not checked again. */
			if (o->reported)
				continue;
			settle_object(l, o);
			if (o->dropped || l->set->nerrors != n)
				o->reported = true;
		}
	} while (count_bad(l) != before);
}

/* Move the surviving objects into the set; free the dropped ones. */
static void
collect(struct job_loader *l)
{
	struct job_set *set = l->set;
	size_t i;

	for (i = 0; i < l->nobjs; i++) {
		struct object *o = &l->objs[i];

		switch (o->type) {
		case OBJ_CONFIGURATION:
			if (o->dropped)
				configuration_free(o->p);
			else
				*PUSH(set->configurations,
				    set->nconfigurations) = o->p;
			break;
		case OBJ_RESOURCE:
			if (o->dropped)
				resource_free(o->p);
			else
				*PUSH(set->resources, set->nresources) = o->p;
			break;
		case OBJ_USER:
			if (o->dropped) {
				user_free(o->p);
			} else {
				user_release_own(o->p);
				*PUSH(set->users, set->nusers) = o->p;
			}
			break;
		}
	}
	free(l->objs);
	l->objs = NULL;
	l->nobjs = 0;
	own_free_all(l);
	free(l->slots);
	free(l->same_next);
	free(l->gaps);
	l->slots = l->same_next = NULL;
	l->gaps = NULL;
	l->nslots = l->nindexed = l->same_cap = l->ngaps = l->gaps_cap = 0;
}

static int
compare_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static struct job_set *
set_new(struct job_loader *l, int64_t now)
{
	struct job_set *set = xcalloc(1, sizeof(*set));

	memset(l, 0, sizeof(*l));
	l->set = set;
	l->now = now;
	l->file = SIZE_MAX;
	set->daemon.min_interval = DEFAULT_MIN_INTERVAL;
	set->daemon.max_workers = DEFAULT_MAX_WORKERS;
	set->daemon.store_path = xstrdup(DEFAULT_STORE);
	set->daemon.socket_path = xstrdup(DEFAULT_SOCKET);
	return set;
}

static void
mark_bad_grow(struct job_loader *l)
{
	l->file_bad = realloc(l->file_bad, l->set->nfiles * sizeof(bool));
	if (l->file_bad == NULL)
		abort();
	l->file_bad[l->set->nfiles - 1] = false;
}

/* Errors in file order, then by position, whatever pass found them. */
static int
compare_errors(const void *a, const void *b)
{
	const struct job_error *x = a, *y = b;

	if (x->order != y->order)
		return x->order < y->order ? -1 : 1;
	if (x->line != y->line)
		return x->line < y->line ? -1 : 1;
	if (x->column != y->column)
		return x->column < y->column ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static void
finish(struct job_loader *l)
{
	size_t i, nbad = 0;

	builtin_defaults(&l->set->daemon.defaults);
	settle(l);
	collect(l);
	for (i = 0; i < l->set->nerrors; i++)
		l->set->errors[i].seq = i;
	if (l->set->nerrors > 1)
		qsort(l->set->errors, l->set->nerrors, sizeof(*l->set->errors),
		    compare_errors);
	for (i = 0; i < l->set->nfiles; i++)
		nbad += l->file_bad[i];
	l->set->nfiles_skipped = nbad;
	free(l->file_bad);
	l->file_bad = NULL;
}

int
jobs_load_buffer(const char *name, const char *text, size_t len, int64_t now,
    struct job_set **ret)
{
	struct job_loader l;
	struct job_set *set = set_new(&l, now);

	set->daemon.config_file = xstrdup("(built-in)");
	set->daemon.conf_dir = xstrdup("conf.d");
	l.file = intern_file(set, name);
	mark_bad_grow(&l);
	parse_job_text(&l, text, len);
	set->nfiles_loaded = 1;
	finish(&l);
	*ret = set;
	return 0;
}

int
jobs_load(const char *path, int64_t now, struct job_set **ret)
{
	struct job_loader l;
	struct job_set *set = set_new(&l, now);
	struct job_daemon *d = &set->daemon;
	char *text = NULL, *dir = NULL, *slash, **names = NULL, *fpath;
	size_t len = 0, nnames = 0, i, nf;
	yaml_document_t doc;
	struct dirent *de;
	DIR *dh;
	int r = 0;

	d->config_file = xstrdup(path);
	/* Job files live beside rotad.yaml unless it says otherwise. */
	dir = xstrdup(path);
	slash = strrchr(dir, '/');
	if (slash != NULL) {
		*slash = '\0';
	} else {
		free(dir);
		dir = NULL;
	}

	l.file = intern_file(set, path);
	mark_bad_grow(&l);
	if (read_file(&l, path, &text, &len) == 0 &&
	    load_yaml(&l, text, len, &doc) == 0) {
		yaml_node_t *root = yaml_document_get_root_node(&doc);

		l.doc = &doc;
		if (root != NULL)
			parse_daemon(&l, root, dir);
		l.doc = NULL;
		yaml_document_delete(&doc);
	}
	free(text);
	text = NULL;
	if (set->nerrors > 0) {
		/* A broken rotad.yaml: nothing else is loaded. */
		l.file = SIZE_MAX;
		builtin_defaults(&d->defaults);
		free(l.file_bad);
		r = -EINVAL;
		goto out;
	}
	if (d->conf_dir == NULL) {
		if (dir == NULL)
			d->conf_dir = xstrdup("conf.d");
		else if (asprintf(&d->conf_dir, "%s/conf.d", dir) < 0)
			abort();
	}

	dh = opendir(d->conf_dir);
	if (dh == NULL) {
		if (errno != ENOENT)
			error_at(&l, SIZE_MAX, 0, 0, "%s: %s", d->conf_dir,
			    strerror(errno));
	} else {
		while ((de = readdir(dh)) != NULL) {
			size_t n = strlen(de->d_name);

			if (de->d_name[0] == '.' || n < 6 ||
			    strcmp(de->d_name + n - 5, ".yaml") != 0)
				continue;
			if (nnames == MAX_FILES)
				break;
			*PUSH(names, nnames) = xstrdup(de->d_name);
		}
		closedir(dh);
	}
	if (nnames > 1)
		qsort(names, nnames, sizeof(*names), compare_names);
	nf = 0;
	for (i = 0; i < nnames; i++) {
		if (asprintf(&fpath, "%s/%s", d->conf_dir, names[i]) < 0)
			abort();
		l.file = intern_file(set, fpath);
		mark_bad_grow(&l);
		free(fpath);
		if (read_file(&l, set->files[l.file], &text, &len) == 0)
			parse_job_text(&l, text, len);
		free(text);
		text = NULL;
		nf++;
	}
	set->nfiles_loaded = nf;
	finish(&l);
	set->nfiles_loaded = nf - set->nfiles_skipped;
out:
	for (i = 0; i < nnames; i++)
		free(names[i]);
	free(names);
	free(dir);
	*ret = set;
	return r;
}

void
jobs_free(struct job_set *set)
{
	size_t i;

	if (set == NULL)
		return;
	for (i = 0; i < set->nusers; i++)
		user_free(set->users[i]);
	for (i = 0; i < set->nresources; i++)
		resource_free(set->resources[i]);
	for (i = 0; i < set->nconfigurations; i++)
		configuration_free(set->configurations[i]);
	free(set->users);
	free(set->resources);
	free(set->configurations);
	settings_free(&set->daemon.defaults);
	free(set->daemon.config_file);
	free(set->daemon.conf_dir);
	free(set->daemon.store_path);
	free(set->daemon.key_file);
	free(set->daemon.socket_path);
	free(set->daemon.socket_group);
	free(set->daemon.metrics_textfile);
	free(set->daemon.worker_path);
	free(set->daemon.worker_user);
	for (i = 0; i < set->daemon.nacl; i++)
		free(set->daemon.acl[i].name);
	free(set->daemon.acl);
	for (i = 0; i < set->nerrors; i++) {
		free(set->errors[i].file);
		free(set->errors[i].message);
	}
	free(set->errors);
	for (i = 0; i < set->nfiles; i++)
		free(set->files[i]);
	free(set->files);
	free(set);
}

struct job_user *
jobs_find_user(const struct job_set *set, const char *name)
{
	size_t i;

	for (i = 0; i < set->nusers; i++)
		if (strcmp(set->users[i]->name, name) == 0)
			return set->users[i];
	return NULL;
}

void
jobs_print_errors(const struct job_set *set, FILE *f)
{
	size_t i;

	for (i = 0; i < set->nerrors; i++) {
		const struct job_error *e = &set->errors[i];

		if (e->file == NULL)
			fprintf(f, "%s\n", e->message);
		else if (e->line == 0)
			fprintf(f, "%s: %s\n", e->file, e->message);
		else
			fprintf(f, "%s:%d:%d: %s\n", e->file, e->line,
			    e->column, e->message);
	}
}

/* ---- rotad -nv ---- */

static void
print_origin(FILE *f, const struct job_origin *o)
{
	switch (o->level) {
	case JOB_LEVEL_BUILTIN:
		fprintf(f, "  # built-in default\n");
		return;
	case JOB_LEVEL_DAEMON:
		fprintf(f, "  # rotad.yaml defaults");
		break;
	case JOB_LEVEL_CONFIGURATION:
		fprintf(f, "  # configuration %s",
		    o->owner != NULL ? o->owner : "");
		break;
	case JOB_LEVEL_RESOURCE:
		fprintf(f, "  # resource %s", o->owner != NULL ? o->owner : "");
		break;
	case JOB_LEVEL_USER:
		fprintf(f, "  #");
		break;
	}
	if (o->file != NULL)
		fprintf(f, " %s:%d:%d", o->file, o->line, o->column);
	fprintf(f, "\n");
}

/* Where an object was defined. */
static void
print_where(FILE *f, const struct job_origin *o)
{
	fprintf(f, "  # %s:%d:%d\n", o->file, o->line, o->column);
}

static const char *
yes(bool b)
{
	return b ? "true" : "false";
}

static void
print_settings(FILE *f, const struct job_settings *st)
{
	char buf[512], a[32], b[32];
	size_t i;

	fprintf(f, "    schedule: %s", st->schedule_text);
	print_origin(f, &st->schedule_origin);
	policy_format(st->complexity, buf, sizeof(buf));
	fprintf(f, "    complexity: \"%s\"", buf);
	print_origin(f, &st->complexity_origin);
	fprintf(f, "    rotate: %s",
	    st->rotate == JOB_ROTATE_PASSWORD          ? "password"
		: st->rotate == JOB_ROTATE_PRIVATE_KEY ? "private_key"
						       : "both");
	print_origin(f, &st->rotate_origin);
	format_duration(st->retry.initial, a, sizeof(a));
	format_duration(st->retry.max, b, sizeof(b));
	fprintf(f, "    retry: {attempts: %d, initial: %s, max: %s}",
	    st->retry.attempts, a, b);
	print_origin(f, &st->retry_origin);
	fprintf(f, "    misfire: %s",
	    st->misfire == JOB_MISFIRE_SKIP ? "skip" : "run_once");
	print_origin(f, &st->misfire_origin);
	format_duration(st->timeout, a, sizeof(a));
	fprintf(f, "    timeout: %s", a);
	print_origin(f, &st->timeout_origin);
	fprintf(f, "    private_key_type: %s", st->private_key_type);
	print_origin(f, &st->private_key_type_origin);
	for (i = 0; i < sizeof(bool_settings) / sizeof(bool_settings[0]); i++) {
		const struct bool_setting *bs = &bool_settings[i];

		fprintf(f, "    %s: %s", bs->name,
		    yes(*(const bool *)((const char *)st + bs->value)));
		print_origin(f,
		    (const struct job_origin *)((const char *)st + bs->origin));
	}
}

static void
print_scripts(FILE *f, const struct job_scripts *sc)
{
	size_t i;

	for (i = 0; i < sc->n; i++) {
		fprintf(f, "      - {path: %s", sc->v[i].path);
		if (sc->v[i].command != NULL)
			fprintf(f, ", command: %s", sc->v[i].command);
		fprintf(f, "}");
		print_origin(f, &sc->v[i].origin);
	}
}

static void
print_opt(FILE *f, const char *key, const char *value)
{
	if (value != NULL)
		fprintf(f, "    %s: %s\n", key, value);
}

static void
print_script(FILE *f, const char *key, const struct job_script *sc)
{
	if (sc->path == NULL)
		return;
	if (sc->command != NULL)
		fprintf(f, "    %s: {path: %s, command: %s}\n", key, sc->path,
		    sc->command);
	else
		fprintf(f, "    %s: %s\n", key, sc->path);
}

void
jobs_print(const struct job_set *set, FILE *f)
{
	const struct job_daemon *d = &set->daemon;
	char buf[32];
	size_t i, j;

	fprintf(f, "daemon:\n");
	fprintf(f, "  config_file: %s\n", d->config_file);
	fprintf(f, "  conf_dir: %s\n", d->conf_dir);
	fprintf(f, "  store: %s\n", d->store_path);
	fprintf(f, "  key_file: %s\n",
	    d->key_file != NULL
		? d->key_file
		: "(default: $CREDENTIALS_DIRECTORY/master.key, else "
		  "/etc/rotad/master.key)");
	format_duration(d->min_interval, buf, sizeof(buf));
	fprintf(f, "  min_interval: %s\n", buf);
	fprintf(f, "  max_workers: %d\n", d->max_workers);
	fprintf(f, "  control: {socket: %s, group: %s}\n", d->socket_path,
	    d->socket_group != NULL ? d->socket_group : "(the daemon's)");
	for (i = 0; i < d->nacl; i++) {
		const struct job_acl *a = &d->acl[i];

		fprintf(f, "    acl: %s ", a->is_group ? "group" : "user");
		if (a->name != NULL)
			fprintf(f, "%s", a->name);
		else
			fprintf(f, "#%u", a->id);
		for (j = 0; right_names[j] != NULL; j++)
			if (a->rights & (1u << j))
				fprintf(f, " %s", right_names[j]);
		fprintf(f, "\n");
	}
	if (d->metrics_textfile != NULL)
		fprintf(f, "  metrics: {textfile: %s}\n", d->metrics_textfile);
	if (d->worker_path != NULL || d->worker_user != NULL)
		fprintf(f, "  worker: {path: %s, user: %s}\n",
		    d->worker_path != NULL ? d->worker_path : "(installed)",
		    d->worker_user != NULL ? d->worker_user : "rotad");
	fprintf(f, "  files: %zu loaded, %zu skipped\n", set->nfiles_loaded,
	    set->nfiles_skipped);

	fprintf(f, "configurations:\n");
	for (i = 0; i < set->nconfigurations; i++) {
		const struct job_configuration *c = set->configurations[i];

		fprintf(f, "  %s:", c->name);
		print_where(f, &c->origin);
		for (j = 0; j < c->nports; j++)
			fprintf(f, "    port_map: %d=%s\n", c->ports[j].port,
			    c->ports[j].protocol);
		if (c->scripts.n > 0)
			fprintf(f, "    scripts:\n");
		print_scripts(f, &c->scripts);
	}

	fprintf(f, "resources:\n");
	for (i = 0; i < set->nresources; i++) {
		const struct job_resource *r = set->resources[i];

		fprintf(f, "  %s:", r->name);
		print_where(f, &r->origin);
		fprintf(f, "    kind: %s\n", kind_names[r->kind]);
		print_opt(f, "host", r->host);
		if (r->port != 0)
			fprintf(f, "    port: %d\n", r->port);
		fprintf(f, "    protocol: %s", r->protocol);
		if (r->protocol_origin.file != NULL)
			print_origin(f, &r->protocol_origin);
		else if (r->protocol_origin.owner != NULL)
			fprintf(f,
			    "  # port %d in the port_map of configuration "
			    "%s\n",
			    r->port, r->protocol_origin.owner);
		else
			fprintf(f, "  # port %d in the built-in port map\n",
			    r->port);
		fprintf(f, "    tls: {verify: %s%s%s}\n", yes(r->tls_verify),
		    r->tls_ca_file != NULL ? ", ca_file: " : "",
		    r->tls_ca_file != NULL ? r->tls_ca_file : "");
		print_opt(f, "admin_user", r->admin_user);
		print_opt(f, "os", r->os);
		print_opt(f, "directory_type", r->directory_type);
		print_opt(f, "domain", r->domain);
		print_opt(f, "database", r->database);
		print_opt(f, "user_host", r->user_host);
		print_opt(f, "region", r->region);
		print_opt(f, "url", r->url);
		fprintf(f, "    max_concurrent: %d\n", r->max_concurrent);
		print_script(f, "rotate_script", &r->rotate_script);
		print_script(f, "verify_script", &r->verify_script);
		if (r->test_fail != 0 || r->test_error != NULL ||
		    r->test_delay != 0)
			fprintf(f,
			    "    test: {fail: %d, error: %s, delay: %llds}"
			    "\n",
			    r->test_fail,
			    r->test_error != NULL ? r->test_error : "transient",
			    (long long)r->test_delay);
		print_opt(f, "configuration", r->configuration_name);
		if (r->scripts.n > 0)
			fprintf(f, "    scripts:\n");
		print_scripts(f, &r->scripts);
	}

	fprintf(f, "users:\n");
	for (i = 0; i < set->nusers; i++) {
		const struct job_user *u = set->users[i];

		fprintf(f, "  %s:", u->name);
		print_where(f, &u->origin);
		print_opt(f, "login", u->login);
		print_opt(f, "dn", u->dn);
		print_opt(f, "resource", u->resource_name);
		if (u->configuration != NULL)
			fprintf(f, "    configuration: %s%s\n",
			    u->configuration->name,
			    u->configuration_name == NULL
				? "  # from the resource"
				: "");
		fprintf(f, "    managed: %s\n", yes(u->managed));
		if (u->noop)
			fprintf(f, "    noop: true\n");
		print_opt(f, "password_file", u->password_file);
		print_opt(f, "private_key_file", u->private_key_file);
		print_settings(f, &u->settings);
		/* Scripts run user -> resource -> configuration. */
		if (u->scripts.n > 0 ||
		    (u->resource != NULL && u->resource->scripts.n > 0) ||
		    (u->configuration != NULL &&
			u->configuration->scripts.n > 0))
			fprintf(f, "    scripts:  # in this order\n");
		print_scripts(f, &u->scripts);
		if (u->resource != NULL)
			print_scripts(f, &u->resource->scripts);
		if (u->configuration != NULL)
			print_scripts(f, &u->configuration->scripts);
	}
}
