/*
 * setting.c: the rotation settings and the post-rotation scripts that
 * rotad.yaml's defaults, configurations, resources and users share.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jobs-internal.h"
#include "schedule.h"
#include "xalloc.h"

/* The most a zone's UTC offset grows at one transition, by which fires can
 * come closer on the UTC clock than on the wall clock: daylight saving
 * moves 1 h (Antarctica/Troll 2 h); 3 h leaves room. */
#define DST_SLACK (3 * 3600)

const char *const setting_names[] = { "schedule", "complexity", "rotate",
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
 * Gather schedule N's values into F, and the node of each into AT: a
 * scalar is a cron spec, a mapping gives the keys of struct
 * schedule_fields by name.
 */
static int
schedule_fields_of(struct job_loader *l, yaml_node_t *n,
    struct schedule_fields *f, yaml_node_t **at)
{
	yaml_node_t *k, *v;
	const char *s;
	int key;

	if (n->type == YAML_SCALAR_NODE) {
		f->value[SCHEDULE_KEY_CRON] = node_scalar(n);
		at[SCHEDULE_KEY_CRON] = n;
		return 0;
	}
	if (n->type != YAML_MAPPING_NODE) {
		ERR(l, n,
		    "schedule: expected a cron spec or a mapping, found "
		    "%s",
		    node_type_name(n));
		return -EINVAL;
	}
	for (MAP_EACH(l, n, pair, k, v)) {
		s = node_scalar(k);
		key = s != NULL ? schedule_key_from_name(s) : -1;
		if (key < 0) {
			static const char *names[SCHEDULE_KEY_COUNT + 1];

			for (key = 0; key < SCHEDULE_KEY_COUNT; key++)
				names[key] = schedule_key_name(key);
			node_unknown_key(l, k, "a schedule", names);
			return -EINVAL;
		}
		if (node_scalar(v) == NULL) {
			ERR(l, v,
			    "schedule key %s: expected a scalar, found %s", s,
			    node_type_name(v));
			return -EINVAL;
		}
		f->value[key] = node_scalar(v);
		at[key] = v;
	}
	return 0;
}

/* S at P, returning the end: schedule_text()'s pieces. */
static char *
append(char *p, const char *s)
{
	size_t n = strlen(s);

	memcpy(p, s, n);
	return p + n;
}

/* Whether schedule_text() shows KEY of F as " key=value". */
static bool
key_shown(const struct schedule_fields *f, int key)
{
	return f->value[key] != NULL && key != SCHEDULE_KEY_TYPE &&
	    (key != SCHEDULE_KEY_CRON || f->value[SCHEDULE_KEY_TYPE] != NULL);
}

/*
 * The schedule F as written, for -nv: the cron spec, or type=TYPE, then
 * " key=value" for each other key.  Made once per user: no stdio.
 */
static char *
schedule_text(const struct schedule_fields *f)
{
	const char *type = f->value[SCHEDULE_KEY_TYPE];
	const char *first = type != NULL ? type : f->value[SCHEDULE_KEY_CRON];
	char *text, *p;
	size_t len;
	int key;

	/* FIRST is not NULL: schedule_new() took F. */
	len = (type != NULL ? strlen("type=") : 0) + strlen(first);
	for (key = 0; key < SCHEDULE_KEY_COUNT; key++)
		if (key_shown(f, key))
			len += 2 + strlen(schedule_key_name(key)) +
			    strlen(f->value[key]);
	text = p = xmalloc(len + 1);
	if (type != NULL)
		p = append(p, "type=");
	p = append(p, first);
	for (key = 0; key < SCHEDULE_KEY_COUNT; key++)
		if (key_shown(f, key)) {
			p = append(p, " ");
			p = append(p, schedule_key_name(key));
			p = append(p, "=");
			p = append(p, f->value[key]);
		}
	*p = '\0';
	return text;
}

/* ---- schedules, parsed once per set ---- */

/*
 * Every schedule of a set is parsed once, kept in the set's table by what
 * was written (all its keys), and shared by every setting written alike:
 * 100k users have a few thousand distinct schedules, and each costs a
 * cron parse, a zone lookup, its text and some 300 bytes.  The set owns
 * them (jobs_free()); the settings that point at one never free it.
 */
struct setting_schedule {
	char *key; /* the fields as fields_key() writes them; NULL: empty */
	size_t keylen;
	struct schedule *schedule;
	char *text;
	int64_t gap;
};

struct job_schedules {
	struct setting_schedule *slots;
	size_t n, nslots;
};

/*
 * F's values one after the other, each key as 1 when it is not given,
 * else 2, its value and a NUL: no two schedules written differently
 * share one.  In BUF (SIZE bytes) when it fits, else allocated; its
 * length in *LEN.
 */
static char *
fields_key(const struct schedule_fields *f, char *buf, size_t size, size_t *len)
{
	size_t n = 0, vlen;
	char *key = buf;
	int k, pass;

	for (pass = 0; pass < 2; pass++) {
		if (pass == 1 && n > size)
			key = xmalloc(n);
		for (k = 0, n = 0; k < SCHEDULE_KEY_COUNT; k++) {
			if (f->value[k] == NULL) {
				if (pass == 1)
					key[n] = 1;
				n++;
				continue;
			}
			vlen = strlen(f->value[k]) + 1;
			if (pass == 1) {
				key[n] = 2;
				memcpy(key + n + 1, f->value[k], vlen);
			}
			n += 1 + vlen;
		}
	}
	*len = n;
	return key;
}

/* The slot of KEY in T: its entry, or the empty slot it would take. */
static struct setting_schedule *
schedule_slot(const struct job_schedules *t, const char *key, size_t len)
{
	struct setting_schedule *e;
	size_t mask = t->nslots - 1, i;

	for (i = jobs_hash_mem(0, key, len) & mask;
	     (e = &t->slots[i])->key != NULL; i = (i + 1) & mask)
		if (e->keylen == len && memcmp(e->key, key, len) == 0)
			break;
	return e;
}

/* Room in T for one more. */
static void
schedules_grow(struct job_schedules *t)
{
	struct setting_schedule *old = t->slots;
	size_t n = t->nslots, i;

	if ((t->n + 1) * 2 <= t->nslots)
		return;
	t->nslots = n == 0 ? 256 : n * 2;
	t->slots = xcalloc(t->nslots, sizeof(*t->slots));
	for (i = 0; i < n; i++)
		if (old[i].key != NULL)
			*schedule_slot(t, old[i].key, old[i].keylen) = old[i];
	free(old);
}

int
setting_schedule(struct job_set *set, const struct schedule_fields *f,
    struct job_settings *st, struct schedule_error *err)
{
	struct job_schedules *t = set->schedules;
	struct setting_schedule *e;
	struct schedule *s;
	char buf[256], *key;
	size_t len;
	int64_t gap;
	int r = 0;

	if (t == NULL)
		t = set->schedules = xcalloc(1, sizeof(*t));
	schedules_grow(t);
	key = fields_key(f, buf, sizeof(buf), &len);
	e = schedule_slot(t, key, len);
	if (e->key == NULL) {
		r = schedule_new(f, &s, err);
		if (r < 0)
			goto out;
		e->key = key != buf ? key : memcpy(xmalloc(len), key, len);
		key = buf; /* the entry's now */
		e->keylen = len;
		e->schedule = s;
		e->text = schedule_text(f);
		/* A bound for now; settle.c's exact_gap() only when it is
		 * below min_interval (which is not known yet when
		 * rotad.yaml's defaults are parsed). */
		gap = schedule_min_wall_gap(s);
		e->gap = gap == INT64_MAX ? gap
		    : gap > DST_SLACK     ? gap - DST_SLACK
					  : 0;
		t->n++;
	}
	st->schedule = e->schedule;
	st->schedule_text = e->text;
	st->schedule_gap = e->gap;
out:
	if (key != buf)
		free(key);
	return r;
}

void
setting_schedules_free(struct job_set *set)
{
	struct job_schedules *t = set->schedules;
	size_t i;

	if (t == NULL)
		return;
	for (i = 0; i < t->nslots; i++)
		if (t->slots[i].key != NULL) {
			free(t->slots[i].key);
			schedule_free(t->slots[i].schedule);
			free(t->slots[i].text);
		}
	free(t->slots);
	free(t);
	set->schedules = NULL;
}

static int
parse_schedule(struct job_loader *l, yaml_node_t *n, struct job_settings *st)
{
	struct schedule_fields f = { 0 };
	struct schedule_error err;
	yaml_node_t *at[SCHEDULE_KEY_COUNT] = { 0 };
	int r;

	if (schedule_fields_of(l, n, &f, at) < 0)
		return -EINVAL;
	r = setting_schedule(l->set, &f, st, &err);
	if (r == -ENOMEM)
		xalloc_fail();
	if (r < 0) {
		yaml_node_t *where =
		    err.key < SCHEDULE_KEY_COUNT && at[err.key] != NULL
		    ? at[err.key]
		    : n;

		if (err.column > 0 && where->type == YAML_SCALAR_NODE)
			jobs_error_at(l, l->file,
			    (int)where->start_mark.line + 1,
			    cron_column(where, err.column), "cron spec, %s: %s",
			    err.cron_field, err.message);
		else
			ERR(l, where, "schedule: %s", err.message);
		return -EINVAL;
	}
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
		if (policy_parse(node_scalar(n), p, err, sizeof(err)) < 0) {
			ERR(l, n, "complexity: %s", err);
			return -EINVAL;
		}
	} else if (n->type == YAML_MAPPING_NODE) {
		for (MAP_EACH(l, n, pair, k, v)) {
			s = node_scalar(k);
			for (i = 0; keys[i] != NULL; i++)
				if (s != NULL && strcmp(s, keys[i]) == 0)
					break;
			if (keys[i] == NULL) {
				node_unknown_key(l, k, "complexity", keys);
				return -EINVAL;
			}
			if (i == 5) {
				s = node_scalar(v);
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
			if (node_int(l, v, i == 0 ? 1 : -256, 256, field) < 0)
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

/* One word of rotate: into *RET's bits; BOTH says whether "both" is one. */
static int
rotate_word(struct job_loader *l, yaml_node_t *n, bool both, unsigned *ret)
{
	const char *s = node_scalar(n);

	if (s != NULL && strcmp(s, "password") == 0)
		*ret |= JOB_ROTATE_PASSWORD;
	else if (s != NULL && strcmp(s, "private_key") == 0)
		*ret |= JOB_ROTATE_PRIVATE_KEY;
	else if (both && s != NULL && strcmp(s, "both") == 0)
		*ret |= JOB_ROTATE_PASSWORD | JOB_ROTATE_PRIVATE_KEY;
	else {
		ERR(l, n,
		    "rotate: expected password, private_key%s, found '%s'",
		    both ? ", both or a list of the first two" : "",
		    s != NULL ? s : node_type_name(n));
		return -EINVAL;
	}
	return 0;
}

/* rotate: password, private_key, both, or a list: [password,
 * private_key]. */
static int
parse_rotate(struct job_loader *l, yaml_node_t *n, unsigned *ret)
{
	yaml_node_item_t *it;

	*ret = 0;
	if (n->type != YAML_SEQUENCE_NODE)
		return rotate_word(l, n, true, ret);
	for (it = n->data.sequence.items.start; it < n->data.sequence.items.top;
	     it++)
		if (rotate_word(l, node_get(l, *it), false, ret) < 0)
			return -EINVAL;
	if (*ret == 0) {
		ERR(l, n, "rotate: the list is empty");
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

	if (node_want(l, n, YAML_MAPPING_NODE,
		"a mapping {attempts, initial, "
		"max}") < 0)
		return -EINVAL;
	for (MAP_EACH(l, n, pair, k, v)) {
		s = node_scalar(k);
		if (s != NULL && strcmp(s, "attempts") == 0) {
			if (node_int(l, v, 1, 100, &r->attempts) < 0)
				return -EINVAL;
		} else if (s != NULL && strcmp(s, "initial") == 0) {
			if (node_duration(l, v, 1, &r->initial) < 0)
				return -EINVAL;
		} else if (s != NULL && strcmp(s, "max") == 0) {
			if (node_duration(l, v, 1, &r->max) < 0)
				return -EINVAL;
		} else {
			node_unknown_key(l, k, "retry", keys);
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

static const struct job_bool_setting *
bool_setting(const char *name)
{
	size_t i;

	for (i = 0; i < jobs_nbool_settings; i++)
		if (strcmp(name, jobs_bool_settings[i].name) == 0)
			return &jobs_bool_settings[i];
	return NULL;
}

static int
parse_misfire(struct job_loader *l, yaml_node_t *v, enum job_misfire *ret)
{
	const char *m = node_scalar(v);

	if (m != NULL && strcmp(m, "run_once") == 0)
		*ret = JOB_MISFIRE_RUN_ONCE;
	else if (m != NULL && strcmp(m, "skip") == 0)
		*ret = JOB_MISFIRE_SKIP;
	else {
		ERR(l, v, "misfire: expected run_once or skip, found '%s'",
		    m != NULL ? m : node_type_name(v));
		return -EINVAL;
	}
	return 0;
}

static int
parse_key_type(struct job_loader *l, yaml_node_t *v, char **ret)
{
	const char *t = node_scalar(v), *m;
	int i;

	for (i = 0; key_types[i] != NULL; i++)
		if (t != NULL && strcmp(t, key_types[i]) == 0)
			break;
	if (key_types[i] == NULL) {
		m = t != NULL ? node_did_you_mean(t, key_types) : NULL;
		ERR(l, v,
		    "private_key_type: expected ssh-ed25519, "
		    "ecdsa-sha2-nistp256, ecdsa-sha2-nistp384, "
		    "ecdsa-sha2-nistp521 or ssh-rsa, found '%s'%s%s%s",
		    t != NULL ? t : node_type_name(v),
		    m != NULL ? " (did you mean '" : "", m != NULL ? m : "",
		    m != NULL ? "'?)" : "");
		return -EINVAL;
	}
	free(*ret);
	*ret = xstrdup(t);
	return 0;
}

/*
 * If key K names a rotation setting, parse V into ST, record where it came
 * from, and return 1; return 0 for keys that are not settings.
 */
int
setting_parse(struct job_loader *l, yaml_node_t *k, yaml_node_t *v,
    struct job_settings *st, enum job_level level, const char *owner)
{
	const char *s = node_scalar(k);
	struct job_origin o = node_origin(l, v, level, owner);
	const struct job_bool_setting *b;
	unsigned bit;
	int r = 0;

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
		r = parse_misfire(l, v, &st->misfire);
		bit = JOB_SET_MISFIRE;
		st->misfire_origin = o;
	} else if (strcmp(s, "timeout") == 0) {
		r = node_duration(l, v, 1, &st->timeout);
		bit = JOB_SET_TIMEOUT;
		st->timeout_origin = o;
	} else if (strcmp(s, "private_key_type") == 0) {
		r = parse_key_type(l, v, &st->private_key_type);
		bit = JOB_SET_PRIVATE_KEY_TYPE;
		st->private_key_type_origin = o;
	} else if ((b = bool_setting(s)) != NULL) {
		r = node_bool(l, v, (bool *)((char *)st + b->value));
		bit = b->bit;
		*(struct job_origin *)((char *)st + b->origin) = o;
	} else {
		return 0;
	}
	if (r == 0)
		st->set |= bit;
	return 1;
}

/* One script: an absolute path, or {path, command}. */
int
setting_parse_script(struct job_loader *l, yaml_node_t *e, struct job_script *s,
    enum job_level level, const char *owner)
{
	static const char *const keys[] = { "path", "command", NULL };
	yaml_node_t *k, *v;
	const char *key;

	s->origin = node_origin(l, e, level, owner);
	if (e->type == YAML_SCALAR_NODE) {
		if (node_string(l, e, &s->path) < 0)
			return -EINVAL;
	} else if (e->type == YAML_MAPPING_NODE) {
		for (MAP_EACH(l, e, pair, k, v)) {
			key = node_scalar(k);
			if (key != NULL && strcmp(key, "path") == 0) {
				if (node_string(l, v, &s->path) < 0)
					return -EINVAL;
			} else if (key != NULL && strcmp(key, "command") == 0) {
				if (node_string(l, v, &s->command) < 0)
					return -EINVAL;
			} else {
				node_unknown_key(l, k, "a script", keys);
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
	/* It runs with the new secret on its stdin: only root (or rotad)
	 * may change what it is. */
	if (!jobs_trusted(l, &s->origin, l->file, "script", s->path) ||
	    !jobs_trusted(l, &s->origin, l->file, "command", s->command))
		return -EINVAL;
	return 0;
}

int
setting_parse_scripts(struct job_loader *l, yaml_node_t *n,
    struct job_scripts *sc, enum job_level level, const char *owner)
{
	yaml_node_item_t *it;

	if (node_want(l, n, YAML_SEQUENCE_NODE, "a list of scripts") < 0)
		return -EINVAL;
	for (it = n->data.sequence.items.start; it < n->data.sequence.items.top;
	     it++)
		if (setting_parse_script(l, node_get(l, *it),
			PUSH(sc->v, sc->n), level, owner) < 0)
			return -EINVAL;
	return 0;
}
