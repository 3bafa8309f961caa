/*
 * fire.c: the schedule.
 *
 * Every managed user's next fire instant sits in one min-heap; one timerfd
 * on CLOCK_REALTIME (absolute, cancelled when the clock is set) is armed
 * for the earliest.  A wall-clock timer rather than libuv's monotonic one
 * means a suspend, a resume or an NTP step cannot make a fire late or
 * early; the cancel tells us the clock jumped so the heap can be
 * recomputed.  A fire makes a run (run_new), or joins the one the user
 * has.
 */
#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "daemon-internal.h"
#include "log.h"
#include "schedule.h"
#include "xalloc.h"

static struct ustate *
node_user(struct heap_node *n)
{
	return (struct ustate *)((char *)n - offsetof(struct ustate, node));
}

bool
fire_rotates(const struct job_user *u, enum cred c)
{
	if (c == CRED_PRIVATE_KEY)
		return (u->settings.rotate & JOB_ROTATE_PRIVATE_KEY) &&
		    u->settings.private_key_rotate;
	return (u->settings.rotate & JOB_ROTATE_PASSWORD) != 0;
}

bool
fire_schedulable(const struct ustate *us)
{
	return us->user != NULL && us->user->managed &&
	    fire_rotates(us->user, us->cred);
}

/* ---- the schedule ---- */

/* Put US at its next fire after AFTER, or out of the heap if none. */
void
fire_reschedule(struct daemon *d, struct ustate *us, int64_t after)
{
	int64_t next, taken = us->last_fire;

	/* After the clock went back (an NTP step, a corrected RTC) a fire
	 * already taken is not taken again, as cron does for jumps of up to
	 * 3 h.  A bigger jump back starts from the new time rather than
	 * waiting, perhaps for years, for a fire that a wrong clock took. */
	if (us->run != NULL && us->run->fire > taken)
		taken = us->run->fire;
	if (taken > after && taken - after <= CLOCK_BACK_MAX)
		after = taken;
	if (!fire_schedulable(us) ||
	    schedule_next(us->user->settings.schedule, after, &next) < 0) {
		heap_remove(&d->heap, &us->node);
		return;
	}
	if (us->node.index == HEAP_NONE) {
		us->node.key = next;
		if (heap_insert(&d->heap, &us->node) < 0)
			xalloc_fail(); /* the heap's only error */
	} else {
		heap_update(&d->heap, &us->node, next);
	}
}

int64_t
fire_next(const struct ustate *us)
{
	return us->node.index == HEAP_NONE ? 0 : us->node.key;
}

/*
 * Persist US's schedule state.  A fire taken but whose run has not started
 * stays recorded as the next fire (it is due), so that a restart runs it;
 * a pause is kept with it, so that a restart does not undo it.
 */
int
fire_persist(struct daemon *d, struct ustate *us)
{
	struct store_schedule s = { 0 };
	int r;

	s.next_fire = us->run != NULL && us->run->fire != 0 ? us->run->fire
							    : fire_next(us);
	s.last_fire = us->last_fire;
	s.last_outcome = us->last_outcome;
	snprintf(s.last_run_id, sizeof(s.last_run_id), "%s", us->last_run);
	s.paused = us->paused;
	r = store_schedule_put(d->store, us->name, &s);
	if (r < 0)
		log_msg(LOG_ERR, MSG_STORE, "schedule state of %s: %s",
		    us->name, store_last_error(d->store));
	return r;
}

void
fire_arm(struct daemon *d)
{
	struct heap_node *top = heap_top(&d->heap);
	struct itimerspec its = { 0 };

	if (top == NULL) {
		/* Nothing due ever: still watch the clock being set. */
		its.it_value.tv_sec = (time_t)INT32_MAX * 2;
	} else {
		its.it_value.tv_sec = (time_t)top->key;
	}
	if (d->armed == its.it_value.tv_sec)
		return;
	if (timerfd_settime(d->tfd, TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET,
		&its, NULL) < 0)
		log_msg(LOG_ERR, MSG_INTERNAL, "timerfd_settime: %s",
		    strerror(errno));
	d->armed = its.it_value.tv_sec;
}

/* ---- fires ---- */

/* A fire taken: whose, when due, and how late it was taken (us). */
struct taken {
	struct ustate *us;
	int64_t at;
	int64_t late;
};

/* The rest of a fire once taken: its next instant, then a run (or the
 * one running), unless the user is paused. */
static void
fire(struct daemon *d, const struct taken *t)
{
	struct ustate *us = t->us;
	bool coalesced;

	d->fires++;
	fire_reschedule(d, us, now_s() > t->at ? now_s() : t->at);
	if (us->paused) {
		log_msg(
		    LOG_INFO, MSG_FIRE, "%s: fire skipped: paused", us->name);
		us->last_fire = t->at;
		fire_persist(d, us);
		return;
	}
	/* How late the daemon took the fire: the scheduler's precision,
	 * which bench/run-scheduler and run-burst read from these lines. */
	log_msg(LOG_INFO, MSG_FIRE, "%s: due, taken %" PRId64 " us late",
	    us->name, t->late);
	run_new(d, us, RUN_ROTATE, t->at, &coalesced);
	if (coalesced) {
		/* The running one serves this fire. */
		us->last_fire = t->at;
		fire_persist(d, us);
	}
}

static void fire_idle_cb(uv_idle_t *h);

/*
 * Queue the fires taken and not yet queued, in the order taken: all of
 * them, or (ALL false) FIRE_TURN_NS' worth, the rest from the idle
 * handle, next turn.  Queueing 10,000 fires (their next instants, their
 * log lines, their runs) takes tens of milliseconds, which the loop's
 * sockets would otherwise wait for.  Runs start in between, in queue
 * order (run_dispatch_queue()), after each turn's share is queued.  A
 * stopping daemon queues no more: those fires stay due in the store, a
 * misfire at the next start, as a queued run's does.
 */
static void
queue_taken(struct daemon *d, bool all)
{
	uint64_t t0 = uv_hrtime();
	size_t done = 0;

	d->taking = true;
	log_hold(true);
	while (d->taken_off < d->ntaken && !d->stopping) {
		/* The clock read every 16 fires: a few hundred ns each. */
		if (!all && done > 0 && done % 16 == 0 &&
		    uv_hrtime() - t0 > FIRE_TURN_NS)
			break;
		fire(d, &d->taken[d->taken_off++]);
		done++;
	}
	log_hold(false);
	d->taking = false;
	if (d->taken_off < d->ntaken && !d->stopping)
		uv_idle_start(&d->fire_idle, fire_idle_cb);
	else {
		d->taken_off = d->ntaken = 0;
		uv_idle_stop(&d->fire_idle);
	}
	run_dispatch_queue(d);
}

static void
fire_idle_cb(uv_idle_t *h)
{
	queue_taken(h->data, false);
}

void
fire_queue_all(struct daemon *d)
{
	if (d->taken_off < d->ntaken)
		queue_taken(d, true);
}

/*
 * Every fire due now, in two passes.  First each is taken: out of the
 * heap, its instant noted, nothing else (a few hundred nanoseconds), so
 * that 10,000 fires due at one second are all taken within milliseconds
 * of it.  Then each is rescheduled, logged and queued, in the order
 * taken, FIRE_TURN_NS' worth a turn (queue_taken()); and runs are
 * started, RUN_DISPATCH_TURN a turn of the loop, in queue order
 * (run_dispatch_queue()).  Log lines of the burst are written a turn's
 * share in one go (log_hold()).  ALL queues every one now: the clock was
 * set, and the schedule is recomputed right after.
 */
static void
process_due(struct daemon *d, bool all)
{
	struct heap_node *top;
	struct timespec ts;
	int64_t now = now_s();
	size_t n0 = d->ntaken;

	while ((top = heap_top(&d->heap)) != NULL && top->key <= now &&
	    !d->stopping) {
		if (d->ntaken == d->taken_cap) {
			d->taken_cap =
			    d->taken_cap == 0 ? 64 : d->taken_cap * 2;
			d->taken = xreallocarray(
			    d->taken, d->taken_cap, sizeof(*d->taken));
		}
		clock_gettime(CLOCK_REALTIME, &ts);
		d->taken[d->ntaken].us = node_user(top);
		d->taken[d->ntaken].at = top->key;
		d->taken[d->ntaken].late =
		    ((int64_t)ts.tv_sec - top->key) * 1000000 +
		    ts.tv_nsec / 1000;
		heap_remove(&d->heap, top);
		d->ntaken++;
	}
	if (d->ntaken > n0 || (all && d->taken_off < d->ntaken))
		queue_taken(d, all);
	fire_arm(d);
}

void
fire_process_due(struct daemon *d)
{
	process_due(d, false);
}

static void
recompute_all(struct daemon *d)
{
	size_t i;
	int64_t now = now_s();

	for (i = 0; i < d->users_cap; i++)
		if (d->users[i] != NULL && d->users[i]->user != NULL)
			fire_reschedule(d, d->users[i], now);
}

void
fire_on_timerfd(uv_poll_t *p, int status, int events)
{
	struct daemon *d = p->data;
	uint64_t n;

	if (read(d->tfd, &n, sizeof(n)) < 0 && errno == ECANCELED) {
		/* The wall clock was set: fires now due run once (as
		 * misfires would), and the rest move to their new times. */
		log_msg(LOG_NOTICE, MSG_CLOCK,
		    "the system clock was set; "
		    "recomputing the schedule");
		d->armed = 0;
		process_due(d, true);
		recompute_all(d);
	}
	d->armed = 0;
	fire_process_due(d);
}
