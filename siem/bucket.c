/*
 * bucket: token buckets (bucket.h).
 *
 * Tokens are kept in thousandths so that a rate of a few a minute refills
 * smoothly with integer arithmetic: RATE tokens a minute is RATE * 1000
 * milli-tokens per 60000 ms, that is RATE milli-tokens a millisecond / 60.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bucket.h"

#define MILLI 1000

struct bucket {
	int64_t tokens; /* milli-tokens */
	int64_t last;   /* ms of the last refill */
};

struct source {
	char name[BUCKET_SOURCE_MAX];
	struct bucket b;
	int used;
};

struct bucket_table {
	unsigned per_source, overall;
	struct bucket all;
	size_t n;
	struct source s[];
};

int
bucket_table_new(unsigned per_source, unsigned overall, size_t sources,
    struct bucket_table **ret)
{
	struct bucket_table *t;

	if (per_source == 0 || overall == 0 || sources == 0 ||
	    per_source > 1000000 || overall > 1000000 || sources > 1 << 20)
		return -EINVAL;
	t = calloc(1, sizeof(*t) + sources * sizeof(t->s[0]));
	if (t == NULL)
		return -ENOMEM;
	t->per_source = per_source;
	t->overall = overall;
	t->n = sources;
	t->all.tokens = (int64_t)overall * MILLI;
	t->all.last = INT64_MIN;
	*ret = t;
	return 0;
}

void
bucket_table_free(struct bucket_table *t)
{
	free(t);
}

static void
refill(struct bucket *b, unsigned rate, int64_t now)
{
	int64_t cap = (int64_t)rate * MILLI, dt;

	if (b->last == INT64_MIN) {
		/* First use: full. */
		b->last = now;
		b->tokens = cap;
		return;
	}
	if (now < b->last) {
		/* The clock went back: count from now, add nothing. */
		b->last = now;
		return;
	}
	dt = now - b->last;
	if (dt > 60000)
		dt = 60000;
	b->tokens += dt * rate * MILLI / 60000;
	if (b->tokens > cap)
		b->tokens = cap;
	b->last = now;
}

/* SOURCE's entry, made (full) when it has none. */
static struct bucket *
lookup(struct bucket_table *t, const char *name)
{
	struct source *free_slot = NULL, *oldest = NULL, *s;
	size_t i;

	for (i = 0; i < t->n; i++) {
		s = &t->s[i];
		if (!s->used) {
			if (free_slot == NULL)
				free_slot = s;
			continue;
		}
		if (strcmp(s->name, name) == 0)
			return &s->b;
		if (oldest == NULL || s->b.last < oldest->b.last)
			oldest = s;
	}
	s = free_slot != NULL ? free_slot : oldest;
	memset(s, 0, sizeof(*s));
	s->used = 1;
	memcpy(s->name, name, strlen(name) + 1);
	s->b.tokens = (int64_t)t->per_source * MILLI;
	s->b.last = INT64_MIN;
	return &s->b;
}

bool
bucket_take(struct bucket_table *t, const char *source, int64_t now_ms,
    bool *ret_overall)
{
	char name[BUCKET_SOURCE_MAX];
	struct bucket *b;

	snprintf(name, sizeof(name), "%s", source);
	b = lookup(t, name);
	refill(b, t->per_source, now_ms);
	refill(&t->all, t->overall, now_ms);
	*ret_overall = false;
	if (b->tokens < MILLI)
		return false;
	if (t->all.tokens < MILLI) {
		*ret_overall = true;
		return false;
	}
	b->tokens -= MILLI;
	t->all.tokens -= MILLI;
	return true;
}
