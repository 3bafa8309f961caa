/*
 * users.c: the daemon's tables of user and resource state, by name.
 *
 * Two open-addressing hash tables (FNV-1a, linear probing, at most half
 * full) of structs whose first member is the name.  A user's state
 * outlives the generations that name it: a reload finds it here by name
 * and carries its schedule, pause and run over.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon-internal.h"
#include "xalloc.h"

static uint64_t
hash(const char *s)
{
	uint64_t h = 1469598103934665603ull;

	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

/* Find NAME in an open-addressing table of structs whose first member is
 * the name; returns the slot (empty or matching). */
static size_t
slot_of(void **table, size_t cap, const char *name)
{
	size_t i = hash(name) & (cap - 1);

	while (table[i] != NULL && strcmp(*(char **)table[i], name) != 0)
		i = (i + 1) & (cap - 1);
	return i;
}

static void
table_grow(void ***table, size_t *cap, size_t n)
{
	void **old = *table, **t;
	size_t oldcap = *cap, ncap, i;

	if ((n + 1) * 2 <= oldcap)
		return;
	ncap = oldcap == 0 ? 64 : oldcap * 2;
	t = xcalloc(ncap, sizeof(*t));
	for (i = 0; i < oldcap; i++)
		if (old[i] != NULL)
			t[slot_of(t, ncap, *(char **)old[i])] = old[i];
	free(old);
	*table = t;
	*cap = ncap;
}

struct ustate *
users_find(struct daemon *d, const char *name)
{
	if (d->users_cap == 0)
		return NULL;
	return d->users[slot_of((void **)d->users, d->users_cap, name)];
}

struct ustate *
users_get(struct daemon *d, const char *name)
{
	struct ustate *us = users_find(d, name);

	if (us != NULL)
		return us;
	table_grow((void ***)&d->users, &d->users_cap, d->nusers);
	us = xcalloc(1, sizeof(*us));
	us->name = xstrdup(name);
	heap_node_init(&us->node);
	d->users[slot_of((void **)d->users, d->users_cap, name)] = us;
	d->nusers++;
	return us;
}

struct ustate *
users_cred(struct daemon *d, const struct job_user *u, enum cred c)
{
	char name[STORE_USER_MAX + 1];
	struct ustate *us;

	if (c == CRED_PASSWORD)
		return users_get(d, u->name);
	/* jobs/ bounds names to 128 bytes: the suffix fits. */
	snprintf(name, sizeof(name), "%s%s", u->name, CRED_KEY_SUFFIX);
	us = users_get(d, name);
	us->cred = CRED_PRIVATE_KEY;
	return us;
}

struct rstate *
users_resource(struct daemon *d, const char *name)
{
	struct rstate *rs;
	size_t i;

	if (d->resources_cap > 0) {
		rs = d->resources[slot_of(
		    (void **)d->resources, d->resources_cap, name)];
		if (rs != NULL)
			return rs;
	}
	table_grow((void ***)&d->resources, &d->resources_cap, d->nresources);
	rs = xcalloc(1, sizeof(*rs));
	rs->name = xstrdup(name);
	i = slot_of((void **)d->resources, d->resources_cap, name);
	d->resources[i] = rs;
	d->nresources++;
	return rs;
}

void
users_free(struct daemon *d)
{
	size_t i;

	for (i = 0; i < d->users_cap; i++) {
		if (d->users[i] != NULL) {
			free(d->users[i]->name);
			free(d->users[i]);
		}
	}
	free(d->users);
	for (i = 0; i < d->resources_cap; i++) {
		if (d->resources[i] != NULL) {
			free(d->resources[i]->name);
			free(d->resources[i]);
		}
	}
	free(d->resources);
}
