/*
 * storeq.c: the store's reads, off the loop (see storeq.h).
 *
 * One read handle, so one job at a time: a job's reads are short (a
 * page of a listing, a batch of the spool), and one connection keeps the
 * order of the answers that of the asking.  The jobs ready when the
 * handle is free go to the pool together, up to STOREQ_GROUP_MAX, and
 * run there one after the other: one thread's wake-up and one answer to
 * the loop for the group, not each (a batch's sixteen requests are
 * asked in one turn).  Each still reads its own snapshot, taken when it
 * starts, and the DONEs run on the loop in the order asked.
 */
#include <errno.h>
#include <stdlib.h>

#include <uv.h>

#include "store.h"
#include "storeq.h"

TAILQ_HEAD(storeq_jobs, storeq_job);

struct storeq {
	uv_loop_t *loop;
	struct store *rd;
	struct storeq_jobs asked; /* wait for the next settle */
	struct storeq_jobs ready; /* may start */
	struct storeq_jobs running; /* on the pool, as one group */
	uv_work_t work;
	uint64_t ndone;
	bool direct;
	bool closing;
	bool answering; /* in after_cb: no group starts, Q is not freed */
};

static void start(struct storeq *q);

static void
free_queue(struct storeq *q)
{
	store_close(q->rd);
	free(q);
}

static void
work_cb(uv_work_t *w)
{
	struct storeq *q = w->data;
	struct storeq_job *j;

	for (j = TAILQ_FIRST(&q->running); j != NULL; j = TAILQ_NEXT(j, link))
		j->work(j, q->rd);
}

static void
after_cb(uv_work_t *w, int status)
{
	struct storeq *q = w->data;
	struct storeq_job *j;

	/* No group starts until every DONE of this one is told: a DONE may
	 * ask for another job (with no settle awaited, it is ready at
	 * once), which must not be answered before the rest of this group. */
	q->answering = true;
	while ((j = TAILQ_FIRST(&q->running)) != NULL) {
		TAILQ_REMOVE(&q->running, j, link);
		q->ndone++;
		j->done(j, status < 0);
	}
	q->answering = false;
	if (q->closing)
		free_queue(q);
	else
		start(q);
}

static void
start(struct storeq *q)
{
	struct storeq_job *j;
	int n;

	if (q->answering || !TAILQ_EMPTY(&q->running) || q->closing ||
	    TAILQ_EMPTY(&q->ready))
		return;
	for (n = 0;
	     n < STOREQ_GROUP_MAX && (j = TAILQ_FIRST(&q->ready)) != NULL;
	     n++) {
		TAILQ_REMOVE(&q->ready, j, link);
		TAILQ_INSERT_TAIL(&q->running, j, link);
	}
	q->work.data = q;
	if (uv_queue_work(q->loop, &q->work, work_cb, after_cb) < 0) {
		/* Not on this loop's pool: on the loop, then. */
		work_cb(&q->work);
		after_cb(&q->work, 0);
	}
}

int
storeq_open(uv_loop_t *loop, struct store *st, struct storeq **ret)
{
	struct storeq *q;
	int r;

	*ret = NULL;
	q = calloc(1, sizeof(*q));
	if (q == NULL)
		return -ENOMEM;
	r = store_reader(st, &q->rd);
	if (r < 0) {
		free(q);
		return r;
	}
	q->loop = loop;
	TAILQ_INIT(&q->asked);
	TAILQ_INIT(&q->ready);
	TAILQ_INIT(&q->running);
	*ret = q;
	return 0;
}

void
storeq_submit(struct storeq *q, struct storeq_job *j)
{
	if (q->closing) {
		j->done(j, true);
		return;
	}
	if (q->direct) {
		TAILQ_INSERT_TAIL(&q->ready, j, link);
		start(q);
	} else
		TAILQ_INSERT_TAIL(&q->asked, j, link);
}

void
storeq_settled(struct storeq *q)
{
	if (q == NULL || TAILQ_EMPTY(&q->asked))
		return;
	TAILQ_CONCAT(&q->ready, &q->asked, link);
	start(q);
}

void
storeq_direct(struct storeq *q)
{
	if (q == NULL)
		return;
	q->direct = true;
	storeq_settled(q);
}

uint64_t
storeq_done(const struct storeq *q)
{
	return q->ndone;
}

bool
storeq_idle(const struct storeq *q)
{
	return TAILQ_EMPTY(&q->running) && TAILQ_EMPTY(&q->ready) &&
	    TAILQ_EMPTY(&q->asked);
}

static void
cancel_all(struct storeq_jobs *h)
{
	struct storeq_job *j;

	while ((j = TAILQ_FIRST(h)) != NULL) {
		TAILQ_REMOVE(h, j, link);
		j->done(j, true);
	}
}

void
storeq_close(struct storeq *q)
{
	if (q == NULL || q->closing)
		return;
	q->closing = true;
	cancel_all(&q->ready);
	cancel_all(&q->asked);
	if (TAILQ_EMPTY(&q->running) && !q->answering)
		free_queue(q);
}
