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

/*
 * Every fire due now, in two passes.  First each is taken: out of the
 * heap, its instant noted, nothing else (a few hundred nanoseconds), so
 * that 10,000 fires due at one second are all taken within milliseconds
 * of it.  Then each is rescheduled, logged and queued, in the order
 * taken; and only then are runs started, RUN_DISPATCH_TURN a turn of the
 * loop, in queue order (run_dispatch_queue()).  Log lines of the burst
 * are written in one go (log_hold()).
 */
void
fire_process_due(struct daemon *d)
{
	struct heap_node *top;
	struct taken *v = NULL;
	struct timespec ts;
	int64_t now = now_s();
	size_t n = 0, cap = 0, i;

	while ((top = heap_top(&d->heap)) != NULL && top->key <= now &&
	    !d->stopping) {
		if (n == cap) {
			cap = cap == 0 ? 64 : cap * 2;
			v = xreallocarray(v, cap, sizeof(*v));
		}
		clock_gettime(CLOCK_REALTIME, &ts);
		v[n].us = node_user(top);
		v[n].at = top->key;
		v[n].late = ((int64_t)ts.tv_sec - top->key) * 1000000 +
		    ts.tv_nsec / 1000;
		heap_remove(&d->heap, top);
		n++;
	}
	if (n > 0) {
		d->taking = true;
		log_hold(true);
		for (i = 0; i < n; i++)
			fire(d, &v[i]);
		log_hold(false);
		d->taking = false;
		run_dispatch_queue(d);
	}
	free(v);
	fire_arm(d);
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
		fire_process_due(d);
		recompute_all(d);
	}
	d->armed = 0;
	fire_process_due(d);
}
