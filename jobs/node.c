/*
 * node.c: typed values out of YAML nodes, each error recorded at the
 * node's file:line:column (see ERR in jobs-internal.h).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catalog.h"
#include "jobs-internal.h"

struct job_origin
node_origin(struct job_loader *l, const yaml_node_t *n, enum job_level level,
    const char *owner)
{
	return (struct job_origin){ .file = l->set->files[l->file],
		.line = (int)n->start_mark.line + 1,
		.column = (int)n->start_mark.column + 1,
		.level = level,
		.owner = owner };
}

yaml_node_t *
node_get(struct job_loader *l, int index)
{
	return yaml_document_get_node(l->doc, index);
}

const char *
node_scalar(const yaml_node_t *n)
{
	return n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value
					   : NULL;
}

const char *
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

int
node_want(struct job_loader *l, const yaml_node_t *n, yaml_node_type_t type,
    const char *what)
{
	if (n->type == type)
		return 0;
	ERR(l, n, "expected %s, found %s", what, node_type_name(n));
	return -EINVAL;
}

int
node_string(struct job_loader *l, const yaml_node_t *n, char **ret)
{
	const char *s = node_scalar(n);

	if (s == NULL || *s == '\0') {
		ERR(l, n, "expected a non-empty string, found %s",
		    s == NULL ? node_type_name(n) : "an empty one");
		return -EINVAL;
	}
	free(*ret);
	*ret = xstrdup(s);
	return 0;
}

int
node_bool(struct job_loader *l, const yaml_node_t *n, bool *ret)
{
	const char *s = node_scalar(n);

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

int
node_int(
    struct job_loader *l, const yaml_node_t *n, long min, long max, int *ret)
{
	const char *s = node_scalar(n);
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

int
node_duration(
    struct job_loader *l, const yaml_node_t *n, int64_t min, int64_t *ret)
{
	const char *s = node_scalar(n);

	if (s == NULL || catalog_parse_duration(s, ret) < 0) {
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
const char *
node_did_you_mean(const char *s, const char *const *names)
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

void
node_unknown_key(struct job_loader *l, const yaml_node_t *k, const char *what,
    const char *const *names)
{
	const char *s = node_scalar(k), *m;

	if (s == NULL) {
		ERR(l, k, "expected a key (a string) in %s", what);
		return;
	}
	m = node_did_you_mean(s, names);
	if (m != NULL)
		ERR(l, k, "unknown key '%s' in %s (did you mean '%s'?)", s,
		    what, m);
	else
		ERR(l, k, "unknown key '%s' in %s", s, what);
}

/*
 * A key given twice.  Each key is checked against the ones before it in
 * its mapping: by a scan in a small mapping, and through l->dups in a
 * large one, which a job file's users: is (scanning would cost the square
 * of its size).  The table holds every scalar key of each large mapping
 * met in the document, with its first pair, until node_done().
 */
#define DUP_SCAN_MAX 32

/* The slot of (MAP, KEY) in l->dups: its entry, or the empty slot where
 * it would go. */
static size_t
dup_slot(const struct job_loader *l, const yaml_node_t *map, const char *key)
{
	const struct dup_key *d;
	size_t mask = l->ndup_slots - 1, i;

	for (i = jobs_hash((uintptr_t)map, key != NULL ? key : "") & mask;
	     (d = &l->dups[i])->map != NULL; i = (i + 1) & mask)
		if (d->map == map &&
		    (key == NULL ? d->key == NULL
				 : d->key != NULL && strcmp(d->key, key) == 0))
			break;
	return i;
}

/* Add (MAP, KEY) at pair FIRST, unless it is there. */
static void
dup_put(
    struct job_loader *l, const yaml_node_t *map, const char *key, size_t first)
{
	struct dup_key *old = l->dups;
	size_t n = l->ndup_slots, i;

	if ((l->ndups + 1) * 2 > l->ndup_slots) {
		l->ndup_slots = n == 0 ? 256 : n * 2;
		l->dups = xcalloc(l->ndup_slots, sizeof(*l->dups));
		for (i = 0; i < n; i++)
			if (old[i].map != NULL)
				l->dups[dup_slot(l, old[i].map, old[i].key)] =
				    old[i];
		free(old);
	}
	i = dup_slot(l, map, key);
	if (l->dups[i].map != NULL)
		return;
	l->dups[i] = (struct dup_key){ map, key, first };
	l->ndups++;
}

/* The first pair of MAP whose key is S, if it comes before UPTO. */
static const yaml_node_pair_t *
first_with_key(struct job_loader *l, const yaml_node_t *map,
    const yaml_node_pair_t *upto, const char *s)
{
	const yaml_node_pair_t *p, *start = map->data.mapping.pairs.start;
	const struct dup_key *d;
	const char *t;

	if (map->data.mapping.pairs.top - start <= DUP_SCAN_MAX) {
		for (p = start; p < upto; p++) {
			t = node_scalar(node_get(l, p->key));
			if (t != NULL && strcmp(s, t) == 0)
				return p;
		}
		return NULL;
	}
	if (l->ndup_slots == 0 || l->dups[dup_slot(l, map, NULL)].map == NULL) {
		dup_put(l, map, NULL, 0);
		for (p = start; p < map->data.mapping.pairs.top; p++) {
			t = node_scalar(node_get(l, p->key));
			if (t != NULL)
				dup_put(l, map, t, (size_t)(p - start));
		}
	}
	d = &l->dups[dup_slot(l, map, s)];
	return d->map != NULL && start + d->first < upto ? start + d->first
							 : NULL;
}

bool
node_duplicate_key(struct job_loader *l, const yaml_node_t *map,
    const yaml_node_pair_t *upto, const yaml_node_t *k)
{
	const yaml_node_pair_t *p;
	const char *s = node_scalar(k);

	if (s == NULL || (p = first_with_key(l, map, upto, s)) == NULL)
		return false;
	ERR(l, k, "key '%s' given twice in one mapping (first at line %d)", s,
	    (int)node_get(l, p->key)->start_mark.line + 1);
	return true;
}

void
node_done(struct job_loader *l)
{
	free(l->dups);
	l->dups = NULL;
	l->ndups = l->ndup_slots = 0;
}
