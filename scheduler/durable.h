/*
 * durable: the daemon's group commit.
 *
 * The daemon opens its store with STORE_OPEN_GROUP_COMMIT (store.h): a
 * commit is atomic and ordered at once, but committed to the database
 * only at the next store_settle() and on disk only at the flush after
 * it.  This module settles, flushes, and holds back what must not go out
 * before.  Before the loop waits for I/O (a prepare handle) the turn's
 * commits are settled, one transaction for all of them, and, when the
 * store was written since the last flush, one flush goes to libuv's
 * thread pool, and the loop goes on; what is committed meanwhile waits
 * for the next flush, started as soon as this one returns.  One COMMIT
 * and one fdatasync() so cover every transition of every run that a
 * turn of the loop, or a flush's time, made: six or seven transactions
 * and syncs a rotation became one per turn for all of them, the syncs
 * off the loop.
 *
 * Held until the flush that covers what the store had when they were
 * made:
 *   - each worker's request (spawn.h's hold): nothing reaches a target
 *     before the state that allows it, the pending secret above all, is
 *     on disk (the protocol's rule: durable before each target change);
 *   - every line to a control client (control.h's hold): answers,
 *     progress, followed events; but the answers of commands that write
 *     nothing (command.c's READ), which need not wait;
 *   - events to the sinks (sinks_set_ceiling()).
 * The log is not held: a line may tell of a transition that a power loss
 * then takes back; the store, recovery and the events stay right.
 *
 * A flush that fails leaves nothing the daemon can trust (the kernel may
 * have dropped the pages it could not write, and a second fdatasync()
 * would then succeed on a hole), and a settle that fails has lost the
 * turn's commits, which the daemon's memory has acted on: either logs and
 * exits at once, releasing nothing, and the next start recovers from
 * what is on disk (what a crash of the process at that instant would
 * have left).
 */
#ifndef ROTAD_DURABLE_H
#define ROTAD_DURABLE_H

#include <stdint.h>

struct daemon;

/* The store just opened: flush what an earlier life left unsynced
 * (synchronously, before anything acts on it), then start flushing at
 * the turns' ends.  0, or -errno (logged): do not start. */
int durable_start(struct daemon *d);

/* What a worker request or a line queued now waits for: the store's
 * commits so far when some of them are not on disk yet, else 0. */
uint64_t durable_hold(struct daemon *d);

/* The daemon stops: flush now, on the loop, and release everything
 * held; no flush after this, and the prepare handle closed.  0, or -EAGAIN
 * while a flush runs: its end calls daemon_maybe_finish_stop() again. */
int durable_stop(struct daemon *d);

#endif
