/*
 * batch.c: runs of one resource sharing one worker a step (batch.h).
 *
 * The rule that keeps it simple: a batch has at most one worker at a
 * time, and sends one only when every member still running waits on a
 * worker.  Members move together, then: all parked, all in the worker,
 * each on its own (store transactions, timers) until it parks again or
 * leaves.  No member waits on another's progress (each is another user),
 * so every member that does not leave parks again, and the batch never
 * stalls.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include "batch.h"
#include "catalog.h"
#include "daemon-internal.h"
#include "secret.h"
#include "spawn.h"
#include "wire.h"
#include "workers.h"
#include "xalloc.h"

_Static_assert(JOB_BATCH_MAX <= WIRE_BATCH_MAX,
    "a resource's batch: must fit in one worker");

/* Queued runs looked at past the first for its batch's other members:
 * a bound on the walk when the queue is long and mixed. */
#define BATCH_SCAN 4096

struct batch {
	struct daemon *d;
	int refs;     /* members, and batch_start() while it starts them */
	int active;   /* members running: 0, and the slot is free */
	int parked;   /* members whose request waits in PARKED */
	int inflight; /* members whose request is in the worker */
	struct spawn *sp;
	int pid;
	TAILQ_HEAD(, run) parked_q;
};

static void flush(struct batch *b);

static void
put(struct batch *b)
{
	if (--b->refs == 0)
		free(b);
}

bool
batch_eligible(const struct run *r)
{
	const struct job_resource *res = r->user->resource;

	return res != NULL && res->batch > 1 &&
	    (res->provider->caps & CATALOG_CAP_BATCH) &&
	    r->us->cred == CRED_PASSWORD;
}

/* Whether Q may share R's batch: the same resource of the same
 * generation (so the same target, admin credential and trust), and the
 * same deadline, the worker's. */
static bool
fits(const struct run *r, const struct run *q)
{
	return q->user->resource == r->user->resource &&
	    q->user->settings.timeout == r->user->settings.timeout &&
	    q->us->cred == CRED_PASSWORD;
}

int
batch_start(struct daemon *d, struct run *r,
    void (*start)(struct daemon *, struct run *))
{
	struct run *members[JOB_BATCH_MAX], *q;
	struct batch *b;
	int max = r->user->resource->batch, n = 0, scanned = 0, i;

	members[n++] = r;
	for (q = TAILQ_NEXT(r, queue); q != NULL && n < max &&
	     scanned < BATCH_SCAN;
	     q = TAILQ_NEXT(q, queue), scanned++)
		if (fits(r, q))
			members[n++] = q;
	if (n == 1) {
		start(d, r);
		return 1;
	}
	d->batches++;
	d->batched += (uint64_t)n;
	b = xcalloc(1, sizeof(*b));
	b->d = d;
	TAILQ_INIT(&b->parked_q);
	/* Every member is the batch's before the first starts: one that
	 * ends at once must not free it under the others. */
	b->refs = n + 1;
	for (i = 0; i < n; i++)
		members[i]->batch = b;
	for (i = 0; i < n; i++)
		start(d, members[i]);
	put(b);
	return n;
}

bool
batch_enter(struct run *r)
{
	if (r->batch == NULL)
		return true;
	return r->batch->active++ == 0;
}

bool
batch_exit(struct run *r)
{
	struct batch *b = r->batch;
	bool last;

	if (b == NULL)
		return true;
	r->batch = NULL;
	last = --b->active == 0;
	/* The others may all be waiting on a worker now. */
	if (!last)
		flush(b);
	put(b);
	return last;
}

void
batch_park(struct run *r, const char *provider, struct secret *request,
    const char *const *extra, bool apply)
{
	struct batch *b = r->batch;
	size_t i;

	r->park_req = request;
	r->park_provider = provider;
	for (i = 0; extra[i] != NULL && i + 1 < BATCH_EXTRA_MAX; i++)
		r->park_extra[i] = extra[i];
	r->park_extra[i] = NULL;
	r->park_apply = apply;
	TAILQ_INSERT_TAIL(&b->parked_q, r, park);
	b->parked++;
	flush(b);
}

void
batch_abandon(struct run *r)
{
	struct batch *b = r->batch;

	if (b == NULL)
		return;
	if (r->park_req != NULL) {
		TAILQ_REMOVE(&b->parked_q, r, park);
		b->parked--;
		secret_free(r->park_req);
		r->park_req = NULL;
	}
	r->batch = NULL;
	put(b);
}

/* Whether Q's parked worker is the same worker as R's: the same
 * provider, one that takes batches, and the same arguments. */
static bool
same_worker(const struct run *r, const struct run *q)
{
	const struct catalog_provider *p = catalog_find(r->park_provider);
	size_t i;

	if (p == NULL || !(p->caps & CATALOG_CAP_BATCH) ||
	    strcmp(r->park_provider, q->park_provider) != 0)
		return false;
	for (i = 0; r->park_extra[i] != NULL || q->park_extra[i] != NULL; i++)
		if (r->park_extra[i] == NULL || q->park_extra[i] == NULL ||
		    strcmp(r->park_extra[i], q->park_extra[i]) != 0)
			return false;
	return true;
}

/* A member's answer: it is its own again, then the run goes on. */
static void
answered(int status, const struct wire_response *res, int exit_code, void *arg)
{
	struct run *r = arg;
	struct batch *b = r->batch;

	b->refs++;
	b->inflight--;
	if (b->inflight == 0) {
		workers_remove(b->d->workers, b->pid);
		b->sp = NULL;
		b->pid = 0;
	}
	run_step_done(status, res, exit_code, r);
	flush(b);
	put(b);
}

/*
 * Send the parked requests to a worker, once every member running waits
 * on one and none runs: those of the first's worker together, in the
 * order they parked (another provider's, a script, waits for the next).
 */
static void
flush(struct batch *b)
{
	struct run *members[WIRE_BATCH_MAX], *r, *q, *tmp;
	struct secret *req = NULL;
	size_t n = 0, len = 0, off = 0, i;
	int rc;

	if (b->inflight > 0 || b->parked == 0 || b->parked < b->active)
		return;
	r = TAILQ_FIRST(&b->parked_q);
	TAILQ_FOREACH_SAFE(q, &b->parked_q, park, tmp)
	{
		if (n == WIRE_BATCH_MAX || (n > 0 && !same_worker(r, q)))
			continue;
		TAILQ_REMOVE(&b->parked_q, q, park);
		b->parked--;
		members[n++] = q;
		len += secret_len(q->park_req);
		if (n == 1 && !same_worker(r, r))
			break; /* one that cannot batch goes alone */
	}
	/* The requests one after the other, in one wiped buffer. */
	rc = secret_new(NULL, len, &req);
	for (i = 0; i < n; i++) {
		q = members[i];
		if (rc == 0)
			memcpy((char *)secret_buf(req) + off,
			    secret_data(q->park_req), secret_len(q->park_req));
		off += secret_len(q->park_req);
		secret_free(q->park_req);
		q->park_req = NULL;
	}
	if (rc == 0)
		rc = run_spawn(members[0], members[0]->park_provider, req,
		    members[0]->park_extra, n, (void *const *)members,
		    answered, &b->sp);
	if (rc < 0) {
		/* No worker ran: nothing reached the target.  Each member
		 * is told so, as a run whose worker could not start. */
		b->refs++;
		for (i = 0; i < n; i++)
			run_step_unstarted(members[i], rc);
		flush(b);
		put(b);
		return;
	}
	b->pid = spawn_pid(b->sp);
	workers_add(b->d->workers, b->pid);
	for (i = 0; i < n; i++) {
		q = members[i];
		q->sp = b->sp;
		b->inflight++;
		/* From the worker's start, not the park: its deadline bounds
		 * what an apply may still do on the target. */
		if (q->park_apply)
			run_apply_bound(b->d, q->us,
			    (uint64_t)q->user->settings.timeout * 1000);
	}
}
