/*
 * spawn: one rotad-worker process per step, driven from the daemon's
 * loop.  The request goes to the worker's fd 0 through a pipe and is
 * freed (wiped) as soon as it is written; the one response is read from
 * its fd 1, at most 4 + WIRE_MAX bytes, and decoded with the checks of
 * wire.c.  The worker gets an empty environment; its stderr is the
 * daemon's (it writes no secret there).
 *
 * A batch (a provider with CATALOG_CAP_BATCH, proto/wire.h's
 * WIRE_BATCH_MAX) is the same with N requests one after the other on fd
 * 0 and N responses on fd 1, the callback called once per request, in
 * order: a response that arrived whole counts even when the worker was
 * then ended (its deadline, a crash), and those it never wrote get the
 * step's status.  All of the output is at most 4 + WIRE_MAX bytes either
 * way.
 *
 * At the deadline the worker gets SIGTERM, then SIGKILL after a grace
 * period; the step then ends with -ETIMEDOUT, which the daemon classes
 * transient like any step that got no answer.
 *
 * The worker is a fork of the worker template when one is set and can
 * serve (template.h): the daemon then never forks for a step.  Otherwise
 * it is a fork and exec of the daemon (uv_spawn).  Either way the worker
 * runs the same code from its argv on, and nothing here differs for the
 * caller.
 */
#ifndef ROTAD_SPAWN_H
#define ROTAD_SPAWN_H

#include <stdint.h>

#include <uv.h>

#include "wire.h"

struct secret;
struct spawn;
struct template;

/*
 * Called once per spawn_start() (once per request of a batch), after the
 * process has exited and every handle is closed.  STATUS is 0 when the worker answered (RES is its
 * decoded response, valid during the call), or -ETIMEDOUT (the deadline),
 * -ECANCELED (spawn_cancel()), -EBADMSG (no or a malformed answer), or
 * another negative errno; then RES is NULL.  EXIT is the exit status, or
 * 128 + the signal that ended it.
 */
typedef void spawn_cb(
    int status, const struct wire_response *res, int exit_code, void *arg);

/* Test builds: what to do to the worker (fault injection). */
enum spawn_fault {
	SPAWN_FAULT_NONE,
	SPAWN_FAULT_KILL_EARLY, /* SIGKILL as soon as it runs */
	SPAWN_FAULT_KILL_LATE,  /* SIGKILL once it has answered, unread */
};

struct spawn_args {
	const char *const *argv; /* argv[0] is the executable's path */
	struct secret *request;  /* encoded request(s); spawn owns it */
	/* A batch: REQUEST holds N > 1 requests, and the callback is
	 * called for each with ARGS[i] instead of the one ARG. */
	size_t n;
	void *const *args;
	uint64_t deadline_ms;
	uint64_t grace_ms;
	enum spawn_fault fault;
	/* Nonzero: the worker starts, but its request waits until
	 * spawn_release() of HOLD or later (the daemon's group commit: what
	 * the store wrote before the step is on disk before the worker can
	 * touch a target).  Its deadline runs from the start all the same. */
	uint64_t hold;
};

/*
 * Start the worker.  On success the callback will be called exactly once
 * and *ret (may be NULL) is a handle valid until then.  On failure (-errno
 * from uv_spawn, e.g. -ENOENT) nothing is called, and the request has
 * been freed all the same.
 */
int spawn_start(uv_loop_t *loop, const struct spawn_args *a, spawn_cb *cb,
    void *arg, struct spawn **ret);

/*
 * From now on start workers whose argv[0] is T's worker path as forks of
 * T, whenever it can (NULL: always by fork and exec).  T stays the
 * caller's; set NULL before stopping it.
 */
void spawn_set_template(struct template *t);

/* Send their requests to the workers held for GEN or less (and for
 * any later start that asks no more). */
void spawn_release(uint64_t gen);

/* Workers whose request is held (tests, metrics). */
size_t spawn_held(void);

/* End the worker now (SIGKILL); the callback gets -ECANCELED. */
void spawn_cancel(struct spawn *sp);

int spawn_pid(const struct spawn *sp);

/* Workers started so far as forks of the template, and by fork and exec
 * (no template, none idle, another worker path): the second growing
 * while a template runs says its pool runs dry. */
void spawn_counts(uint64_t *forked, uint64_t *exec);

#endif
