/*
 * users.c: the daemon's tables of user and resource state, by name, and
 * of its runs in memory, by id.
 *
 * Open-addressing hash tables (table.h).  A user's state outlives the
 * generations that name it: a reload finds it here by name and carries
 * its schedule, pause and run over.
 * A run is in the runs' table from run_alloc() until it is freed
 * (run_closed()): `rotactl run ID` finds a live or recently finished run
 * without walking every user.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon-internal.h"
#include "table.h"
#include "xalloc.h"

/* An entry's key: the users' and resources' structs begin with their
 * name; a run's is its id. */
static const char *
name_key(const void *p)
{
	return *(char *const *)p;
}

static const char *
run_key(const void *p)
{
	return ((const struct run *)p)->rec.id;
}

struct ustate *
users_find(struct daemon *d, const char *name)
{
	if (d->users_cap == 0)
		return NULL;
	return d->users[table_slot(
	    (void **)d->users, d->users_cap, name, name_key)];
}

struct ustate *
users_get(struct daemon *d, const char *name)
{
	struct ustate *us = users_find(d, name);

	if (us != NULL)
		return us;
	table_grow((void ***)&d->users, &d->users_cap, d->nusers, name_key);
	us = xcalloc(1, sizeof(*us));
	us->name = xstrdup(name);
	heap_node_init(&us->node);
	d->users[table_slot((void **)d->users, d->users_cap, name, name_key)] =
	    us;
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
		rs = d->resources[table_slot(
		    (void **)d->resources, d->resources_cap, name, name_key)];
		if (rs != NULL)
			return rs;
	}
	table_grow((void ***)&d->resources, &d->resources_cap, d->nresources,
	    name_key);
	rs = xcalloc(1, sizeof(*rs));
	rs->name = xstrdup(name);
	i = table_slot((void **)d->resources, d->resources_cap, name, name_key);
	d->resources[i] = rs;
	d->nresources++;
	return rs;
}

void
users_run_add(struct daemon *d, struct run *r)
{
	table_grow((void ***)&d->runs, &d->runs_cap, d->nruns, run_key);
	d->runs[table_slot((void **)d->runs, d->runs_cap, r->rec.id, run_key)] =
	    r;
	d->nruns++;
}

void
users_run_remove(struct daemon *d, struct run *r)
{
	size_t i =
	    table_slot((void **)d->runs, d->runs_cap, r->rec.id, run_key);

	if (d->runs[i] == r) {
		table_remove((void **)d->runs, d->runs_cap, i, run_key);
		d->nruns--;
	}
}

struct run *
users_run_find(struct daemon *d, const char *id)
{
	if (d->runs_cap == 0)
		return NULL;
	return d->runs[table_slot((void **)d->runs, d->runs_cap, id, run_key)];
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
	free(d->runs);
}
