/*
 * durable.c: the daemon's group commit (see durable.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <uv.h>

#include "control.h"
#include "daemon-internal.h"
#include "durable.h"
#include "log.h"
#include "sinks.h"
#include "spawn.h"
#include "store.h"
#include "storeq.h"

static void flush_start(struct daemon *d);

/* Everything held for what is on disk now goes out. */
static void
release(struct daemon *d)
{
	spawn_release(d->durable_gen);
	if (d->control != NULL)
		control_release(d->control, d->durable_gen);
	if (d->sinks != NULL)
		sinks_set_ceiling(d->sinks, d->durable_event);
}

/* A sync failed: exit now, releasing nothing (durable.h says why). */
static _Noreturn void
sync_failed(int r)
{
	log_msg(LOG_CRIT, MSG_STORE,
	    "store: cannot sync it to disk (%s): exiting now, nothing "
	    "released; the next start recovers from what is on disk",
	    strerror(-r));
	_exit(EXIT_FAILURE);
}

/* The batch could not be committed: its commits are gone, and what was
 * held for them must never go out.  Exit as a failed sync does. */
static _Noreturn void
settle_failed(struct daemon *d, int r)
{
	log_msg(LOG_CRIT, MSG_STORE,
	    "store: cannot commit to it (%s: %s): exiting now, nothing "
	    "released; the next start recovers from what is on disk",
	    strerror(-r), store_last_error(d->store));
	_exit(EXIT_FAILURE);
}

/* The commits so far into one transaction: a flush begun next covers
 * them. */
static void
settle(struct daemon *d)
{
	int r = store_settle(d->store), i;

	if (r < 0)
		settle_failed(d, r);
	for (i = 0; i < READQ_COUNT; i++)
		storeq_settled(d->readq[i]);
}

/* A flush of flush_gen and flush_event returned R. */
static void
flushed(struct daemon *d, int r)
{
	if (r < 0)
		sync_failed(r);
	d->durable_gen = d->flush_gen;
	d->durable_event = d->flush_event;
	d->flushes++;
	release(d);
}

/* On a thread of libuv's pool: the store's one call that may. */
static void
flush_work(uv_work_t *w)
{
	struct daemon *d = w->data;

	d->flush_rc = store_flush(d->store);
}

static void
flush_done(uv_work_t *w, int status)
{
	struct daemon *d = w->data;

	d->flushing = false;
	if (status < 0) /* cancelled: never asked; flush again */
		d->flush_rc = store_flush(d->store);
	flushed(d, d->flush_rc);
	if (d->durable_stop_wait) {
		d->durable_stop_wait = false;
		daemon_maybe_finish_stop(d);
		return;
	}
	flush_start(d);
}

/* A flush about to begin covers W commits and the spool's last event
 * now: no transaction is open between callbacks, so it is committed. */
static void
mark(struct daemon *d, uint64_t w)
{
	d->flush_gen = w;
	if (store_event_last(d->store, &d->flush_event) < 0)
		d->flush_event = d->durable_event;
}

/* What the store has now goes to disk, unless a flush runs already (its
 * end starts the next). */
static void
flush_start(struct daemon *d)
{
	uint64_t w;

	settle(d);
	w = store_written(d->store);
	if (d->flushing || d->durable_stopped || w <= d->durable_gen)
		return;
	mark(d, w);
	d->flushing = true;
	d->durable_work.data = d;
	if (uv_queue_work(d->loop, &d->durable_work, flush_work, flush_done) <
	    0) {
		/* Not on this loop's pool: on the loop, then. */
		d->flushing = false;
		flushed(d, store_flush(d->store));
	}
}

/* Before the loop waits for I/O: whatever any phase wrote (the close
 * callbacks too, where a worker's end is told) is committed, in one
 * transaction for the whole turn, and flushed before the loop can block
 * with it unsynced and its holders waiting.  A flush under way settles
 * now and flushes at its end. */
static void
before_poll(uv_prepare_t *h)
{
	flush_start(h->data);
}

int
durable_start(struct daemon *d)
{
	int r;

	r = store_settle(d->store);
	if (r < 0) {
		log_msg(LOG_ERR, MSG_STORE, "store: cannot commit to it: %s",
		    store_last_error(d->store));
		return r;
	}
	r = store_flush(d->store);
	if (r < 0) {
		log_msg(LOG_ERR, MSG_STORE, "store: cannot sync it to disk: %s",
		    strerror(-r));
		return r;
	}
	d->durable_gen = store_written(d->store);
	if (store_event_last(d->store, &d->durable_event) < 0)
		d->durable_event = 0;
	uv_prepare_init(d->loop, &d->durable_prepare);
	d->durable_prepare.data = d;
	uv_prepare_start(&d->durable_prepare, before_poll);
	uv_unref((uv_handle_t *)&d->durable_prepare);
	return 0;
}

uint64_t
durable_hold(struct daemon *d)
{
	uint64_t w = store_written(d->store);

	return w > d->durable_gen ? w : 0;
}

int
durable_stop(struct daemon *d)
{
	uint64_t w;
	int i;

	if (d->durable_stopped)
		return 0;
	if (d->flushing) {
		d->durable_stop_wait = true;
		return -EAGAIN;
	}
	settle(d);
	w = store_written(d->store);
	if (w > d->durable_gen) {
		mark(d, w);
		flushed(d, store_flush(d->store));
	} else
		release(d);
	d->durable_stopped = true;
	for (i = 0; i < READQ_COUNT; i++)
		storeq_direct(d->readq[i]);
	uv_close((uv_handle_t *)&d->durable_prepare, NULL);
	return 0;
}
