/*
 * sinks: the sinks that take events from the store's spool to syslog's
 * socket, to files, and through rotad-deliver to the network (issue 14;
 * docs/events.md, "Sinks").
 *
 * Every event is spooled first (store_event_put(), in the transaction of
 * the state change it reports); the daemon then calls sinks_kick().  Each
 * sink keeps a cursor in the store, the id of the last event it has in
 * order, and on a kick reads the events after it (store_event_since(), in
 * batches of SINKS_BATCH), decodes each, drops what its filter refuses,
 * formats the rest and writes them; the cursor moves only past what was
 * delivered (a file: written and fsynced; a network sink: what
 * rotad-deliver answers it delivered, proto/deliver.h).  A sink that
 * cannot deliver keeps its cursor and tries again on a timer, 1 s
 * doubling to 60 s, so what was spooled while its receiver was down
 * arrives afterwards, in order, across daemon restarts too.
 *
 * A sink seen for the first time (no cursor in the store under its name)
 * starts at the spool's last id: it does not replay history.
 *
 * The spool is read off the loop, a batch at a time (storeq.h: the read
 * sees what was spooled before the kick).  Local sinks write on the
 * daemon's loop, synchronously: a datagram to a local socket
 * (non-blocking) or a small append and an fsync per batch.
 * Network sinks (udp, tcp, tls, http) are formatted here and handed, a
 * batch at a time, to rotad-deliver (delivery.h), which holds no store
 * and no key, runs as the workers' user, and answers on the loop: the
 * daemon itself opens no network connection.
 *
 * Functions return 0 or a negative errno; sinks_check() prints the
 * configuration's errors for `rotad -n`; a network sink that cannot
 * deliver is logged once (ROTAD-0050) until it delivers again.
 */
#ifndef ROTAD_SINKS_H
#define ROTAD_SINKS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <uv.h>

struct job_events;
struct store;
struct storeq;
struct sinks;

#define SINKS_BATCH 256           /* events read from the spool at a time */
#define SINKS_RETRY_FIRST_MS 1000 /* backoff after a failed write ... */
#define SINKS_RETRY_MAX_MS 60000  /* ... doubling up to this */

/*
 * Check what jobs/ keeps as written against events/'s tables: format,
 * facility, sd_id, min_severity, event names.  Each error is printed to
 * F (may be NULL) as "file:line:column: message"; the count is returned
 * (0: CFG can be opened).
 */
size_t sinks_check(const struct job_events *cfg, FILE *f);

/*
 * Open the sinks CFG describes on LOOP, reading ST's spool through Q
 * (all borrowed: they outlive the sinks); USER (NULL: the default worker
 * user) is what rotad-deliver runs as, should a network sink need it.  Each
 * sink's cursor is read from ST, or, for a sink never seen, set to the spool's
 * last id.  Opening a file or connecting a socket may fail: the sink then
 * retries on its timer, and sinks_open() still succeeds.  Nothing is sent until
 * the first sinks_kick().  0; -EINVAL (sinks_check() refuses CFG); -ENOMEM; or
 * the store's error.
 */
int sinks_open(const struct job_events *cfg, const char *user, struct store *st,
    struct storeq *q, uv_loop_t *loop, struct sinks **ret);

/* New events were spooled: each sink not waiting on its retry timer
 * catches up now.  NULL-safe. */
void sinks_kick(struct sinks *s);

/* Send no event after ID (the daemon's group commit: the last on disk;
 * INT64_MAX, the default, for no limit), and catch up to it now.
 * NULL-safe. */
void sinks_set_ceiling(struct sinks *s, int64_t id);

/* SIGHUP: file sinks close and reopen their path (logrotate moved the
 * file), then catch up.  NULL-safe. */
void sinks_reopen(struct sinks *s);

/*
 * A reload: sinks are matched by name.  One whose settings are the same
 * keeps running; a new or changed one is opened (from its cursor in the
 * store, so a changed sink goes on where it was); one no longer named is
 * closed, its cursor left in the store.  A new events.delivery_path or
 * USER stops rotad-deliver, for the next batch to start it anew.  0, or
 * -EINVAL (sinks_check()
 * refuses CFG: nothing changed), -ENOMEM.
 */
int sinks_reconfigure(
    struct sinks *s, const struct job_events *cfg, const char *user);

/*
 * The spool's bound: when LAST_ID, the id just spooled, is more than the
 * configured spool_max past the oldest kept, delete the oldest
 * (store_event_trim()) and give how many in *RET_DROPPED (0: none), for
 * the caller to raise events_dropped and its metric.  Sinks whose cursor
 * was behind see a gap in seq.  0 or the store's error.
 */
int sinks_bound(struct sinks *s, int64_t last_id, int64_t *ret_dropped);

/* Close every sink (their timers are freed by the loop, so run it once
 * more after).  NULL-safe. */
void sinks_close(struct sinks *s);

/* One sink's counters, since it was opened, for metrics. */
struct sinks_metric {
	const char *name;   /* the sink's; valid until the next reconfigure */
	const char *type;   /* "syslog", "file", "udp", "tcp", "tls", "http" */
	uint64_t seen;      /* events read from the spool */
	uint64_t delivered; /* written (a file: and fsynced) */
	uint64_t filtered;  /* refused by the filter */
	uint64_t failures;  /* failed writes (each retried) and events
			     * that did not decode (skipped) */
	uint64_t dropped;   /* deleted by the spool's bound before it had
			     * them */
	int64_t cursor;     /* the last event it has */
	int retrying;       /* 1: waiting on its retry timer */
};

/*
 * Up to N sinks' counters into RET, in configuration order; returns how
 * many sinks there are (more than N: call again with more room).
 */
size_t sinks_metrics(const struct sinks *s, struct sinks_metric *ret, size_t n);

#endif
