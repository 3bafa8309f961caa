/*
 * batch: runs of one resource that share one worker a step.
 *
 * A provider whose catalog entry has CATALOG_CAP_BATCH can take many
 * requests in one worker and keeps one admin session for their applies
 * (proto/wire.h, WIRE_BATCH_MAX).  The queue (run.c) starts up to the
 * resource's `batch:` runs of it together, as one batch: they hold one
 * worker slot overall and on the resource, and each keeps its own
 * rotation, its own persisted state and its own secrets.  When a member
 * needs a worker its request is parked here; once every member still
 * running waits on one (and no worker of the batch runs), the parked
 * requests go to one worker, those of the batch's provider all together
 * (a post-rotation script, another provider, goes alone).  Each member
 * gets its own answer; the ones a worker never wrote (its deadline, a
 * crash, a kill) get "no answer", which the engine treats as it always
 * does: an apply without an answer is uncertain, and recovery settles
 * each member on its own.
 *
 * A member leaves its batch when it stops running (it finished, or waits
 * to retry: it comes back through the queue, perhaps in another batch).
 * The batch is freed with its last member.
 */
#ifndef ROTAD_BATCH_H
#define ROTAD_BATCH_H

#include <stdbool.h>
#include <stddef.h>

struct batch;
struct daemon;
struct run;
struct secret;

/*
 * Start R, the first of the queue the limits let start, and up to its
 * resource's batch: - 1 more queued runs of the same resource (same
 * generation, same timeout, a password each) in one batch, in queue
 * order.  Returns how many were started (at least R).  START starts one
 * run, as the queue would.
 */
int batch_start(struct daemon *d, struct run *r,
    void (*start)(struct daemon *, struct run *));

/* Whether R may be started in a batch (its provider can take one). */
bool batch_eligible(const struct run *r);

/* R starts running: true when it takes its batch's slot (the first
 * member to run), or when it has no batch. */
bool batch_enter(struct run *r);

/* R stops running (finished, or waits to retry) and leaves its batch:
 * true when the batch's slot is free now (R was its last member running),
 * or when it had none. */
bool batch_exit(struct run *r);

/*
 * R's worker for its current step: PROVIDER (the catalog name), REQUEST
 * (owned from now on) and EXTRA, the worker's extra argument pairs
 * (NULL-terminated, at most 6 strings that outlive the run's step), APPLY
 * when the step may change the target.  Sent with the batch's next
 * worker; R's answer comes to run_step_done().
 */
void batch_park(struct run *r, const char *provider, struct secret *request,
    const char *const *extra, bool apply);

/* The daemon stops and forgets R: its parked request is wiped, and it is
 * no member any more (the slot is not counted: the stop is). */
void batch_abandon(struct run *r);

#endif
