/*
 * storeq: the store's reads, off the loop.
 *
 * A job reads the store on a thread of libuv's pool, through a read
 * handle of its own (store_reader()), and its answer comes back on the
 * loop: the control socket's listings of runs, outputs, versions and
 * events, and the sinks' reads of the spool.  These are the reads that
 * can block -- history read back from pages long out of memory, and,
 * with a store across the network, a round trip each -- while what the
 * loop itself writes and reads is the turn's own (durable.h).
 *
 * A queue's jobs run one at a time, in the order asked, those ready
 * together sent to the pool as one group (the daemon keeps
 * three: the runs' requests, the sinks', the control socket's listings').  A
 * job sees every commit made before it was asked: the read handle sees what the
 * store's last settle committed, so a job asked during a turn starts after the
 * settle that ends the turn (storeq_settled(), called by durable.c).  It may
 * see later commits too: it reads a snapshot of when it starts, no earlier.
 */
#ifndef ROTAD_STOREQ_H
#define ROTAD_STOREQ_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>

#include <uv.h>

struct store;
struct storeq;

/* At most this many ready jobs go to the pool together: the first one's
 * DONE waits for the others' reads. */
#define STOREQ_GROUP_MAX 32

/*
 * A job, inside the caller's own struct.  WORK runs on the pool with the
 * read handle and what the job alone holds (no loop state, no daemon
 * memory another callback may change meanwhile); DONE runs on the loop
 * after it, with CANCELLED true when WORK did not run, and frees the job
 * either way.
 */
struct storeq_job {
	void (*work)(struct storeq_job *j, struct store *rd);
	void (*done)(struct storeq_job *j, bool cancelled);
	/* storeq's */
	TAILQ_ENTRY(storeq_job) link;
};

/* A queue on LOOP reading ST's store (a read handle of it is opened
 * now).  0, or -errno with ST's message (store_last_error()). */
int storeq_open(uv_loop_t *loop, struct store *st, struct storeq **ret);

/* Run J once the store's commits so far are settled. */
void storeq_submit(struct storeq *q, struct storeq_job *j);

/* The store has settled: the jobs asked so far may start. */
void storeq_settled(struct storeq *q);

/* No settle comes any more (the daemon stops): jobs start as asked. */
void storeq_direct(struct storeq *q);

/* The jobs done so far, for tests and metrics. */
uint64_t storeq_done(const struct storeq *q);

/* Whether no job is asked, waiting or running. */
bool storeq_idle(const struct storeq *q);

/* Cancel the jobs not started (their DONE runs now, cancelled); the
 * running ones' DONEs run when they return (the loop must run until then),
 * and then the read handle is closed and Q freed.  NULL-safe. */
void storeq_close(struct storeq *q);

#endif
