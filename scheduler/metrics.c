/*
 * metrics.c: the daemon's figures in the Prometheus text format, for
 * `rotactl metrics` and for the node exporter's textfile collector.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon-internal.h"
#include "sinks.h"
#include "log.h"
#include "spawn.h"
#include "storeq.h"

static void
counter(FILE *f, const char *name, const char *help, uint64_t value)
{
	fprintf(f,
	    "# HELP %s %s\n"
	    "# TYPE %s counter\n"
	    "%s %" PRIu64 "\n",
	    name, help, name, name, value);
}

static void
gauge(FILE *f, const char *name, const char *help, int value)
{
	fprintf(f,
	    "# HELP %s %s\n"
	    "# TYPE %s gauge\n"
	    "%s %d\n",
	    name, help, name, name, value);
}

static int64_t
last_success(const struct ustate *us)
{
	return us->last_success;
}

/* A gauge with one sample per loaded user whose VALUE is not 0. */
static void
user_gauge(FILE *f, struct daemon *d, const char *name, const char *help,
    int64_t (*value)(const struct ustate *))
{
	size_t i;

	fprintf(f,
	    "# HELP %s %s\n"
	    "# TYPE %s gauge\n",
	    name, help, name);
	for (i = 0; i < d->users_cap; i++) {
		struct ustate *us = d->users[i];

		if (us != NULL && us->user != NULL && value(us) != 0)
			fprintf(f, "%s{user=\"%s\"} %" PRId64 "\n", name,
			    us->name, value(us));
	}
}

static int64_t
never_succeeded(const struct ustate *us)
{
	return us->last_success == 0 && us->last_outcome != STORE_RUN_NONE &&
	    us->last_outcome != STORE_RUN_COMMITTED;
}

/* The outcome of each user's last run, one sample per user with its
 * outcome as a label: out_of_sync apart from failed. */
static void
last_outcomes(FILE *f, struct daemon *d)
{
	size_t i;

	fprintf(f,
	    "# HELP rotad_last_run_outcome The outcome of each user's last "
	    "run (1).\n"
	    "# TYPE rotad_last_run_outcome gauge\n");
	for (i = 0; i < d->users_cap; i++) {
		struct ustate *us = d->users[i];

		if (us == NULL || us->user == NULL ||
		    us->last_outcome == STORE_RUN_NONE)
			continue;
		fprintf(f,
		    "rotad_last_run_outcome{user=\"%s\",outcome=\"%s\"} 1\n",
		    us->name, store_run_state_name(us->last_outcome));
	}
}

/* Per sink: delivered, filtered out, failures, its cursor. */
static void
sink_metrics(FILE *f, struct daemon *d)
{
	struct sinks_metric m[64];
	size_t i, n;

	if (d->sinks == NULL)
		return;
	n = sinks_metrics(d->sinks, m, 64);
	if (n > 64)
		n = 64;
	fprintf(f,
	    "# HELP rotad_sink_events_total Events per sink, by fate.\n"
	    "# TYPE rotad_sink_events_total counter\n");
	for (i = 0; i < n; i++) {
		fprintf(f,
		    "rotad_sink_events_total{sink=\"%s\",fate=\"delivered\"} "
		    "%" PRIu64 "\n",
		    m[i].name, m[i].delivered);
		fprintf(f,
		    "rotad_sink_events_total{sink=\"%s\",fate=\"filtered\"} "
		    "%" PRIu64 "\n",
		    m[i].name, m[i].filtered);
		fprintf(f,
		    "rotad_sink_events_total{sink=\"%s\",fate=\"failed\"} "
		    "%" PRIu64 "\n",
		    m[i].name, m[i].failures);
		fprintf(f,
		    "rotad_sink_events_total{sink=\"%s\",fate=\"dropped\"} "
		    "%" PRIu64 "\n",
		    m[i].name, m[i].dropped);
	}
	fprintf(f,
	    "# HELP rotad_sink_retrying 1 while a sink waits to try again.\n"
	    "# TYPE rotad_sink_retrying gauge\n");
	for (i = 0; i < n; i++)
		fprintf(f, "rotad_sink_retrying{sink=\"%s\",type=\"%s\"} %d\n",
		    m[i].name, m[i].type, m[i].retrying);
	fprintf(f,
	    "# HELP rotad_sink_cursor The last event id each sink has.\n"
	    "# TYPE rotad_sink_cursor gauge\n");
	for (i = 0; i < n; i++)
		fprintf(f, "rotad_sink_cursor{sink=\"%s\"} %" PRId64 "\n",
		    m[i].name, m[i].cursor);
}

/* enum readq's, as rotad_store_reads_total labels them. */
static const char *const readq_names[READQ_COUNT] = { "runs", "sinks",
	"control" };

char *
metrics_text(struct daemon *d)
{
	char *text = NULL;
	size_t len = 0;
	uint64_t forked, exec;
	FILE *f = open_memstream(&text, &len);
	int i;

	if (f == NULL)
		return NULL;
	fprintf(f,
	    "# HELP rotad_runs_total Runs finished, by outcome.\n"
	    "# TYPE rotad_runs_total counter\n");
	fprintf(f, "rotad_runs_total{outcome=\"committed\"} %" PRIu64 "\n",
	    d->runs_committed);
	fprintf(f, "rotad_runs_total{outcome=\"verified\"} %" PRIu64 "\n",
	    d->runs_verified);
	fprintf(f, "rotad_runs_total{outcome=\"failed\"} %" PRIu64 "\n",
	    d->runs_failed);
	counter(f, "rotad_retries_total", "Attempts retried.", d->retries);
	counter(f, "rotad_fires_total", "Scheduled fires taken.", d->fires);
	counter(
	    f, "rotad_misfires_total", "Fires missed while down.", d->misfires);
	spawn_counts(&forked, &exec);
	fprintf(f,
	    "# HELP rotad_worker_starts_total Workers started: as forks of "
	    "the worker template, or by fork and exec of the daemon (no "
	    "template, or none of its children idle).\n"
	    "# TYPE rotad_worker_starts_total counter\n"
	    "rotad_worker_starts_total{how=\"template\"} %" PRIu64 "\n"
	    "rotad_worker_starts_total{how=\"exec\"} %" PRIu64 "\n",
	    forked, exec);
	counter(f, "rotad_batches_total",
	    "Batches started: runs of one resource sharing a worker a step.",
	    d->batches);
	counter(f, "rotad_batched_runs_total", "Runs started in a batch.",
	    d->batched);
	counter(f, "rotad_store_commits_total",
	    "Store transactions that wrote (since the start).",
	    store_written(d->store));
	counter(f, "rotad_store_flushes_total",
	    "Syncs of the store to disk: each covers every commit before it "
	    "(group commit).",
	    d->flushes);
	fprintf(f,
	    "# HELP rotad_store_reads_total Reads of the store made off the "
	    "loop, on libuv's pool, by queue: the runs' worker requests, the "
	    "sinks' batches, the control socket's listings.\n"
	    "# TYPE rotad_store_reads_total counter\n");
	for (i = 0; i < READQ_COUNT; i++)
		fprintf(f, "rotad_store_reads_total{queue=\"%s\"} %" PRIu64 "\n",
		    readq_names[i],
		    d->readq[i] != NULL ? storeq_done(d->readq[i]) : 0);
	gauge(f, "rotad_held_worker_requests",
	    "Workers started whose request waits for the store's sync.",
	    (int)spawn_held());
	gauge(f, "rotad_queue_depth", "Runs waiting for a worker.", d->nqueued);
	gauge(f, "rotad_workers",
	    "Worker slots in use (runs in progress, a batch counting one).",
	    d->nrunning);
	user_gauge(f, d, "rotad_last_success_timestamp_seconds",
	    "Last committed rotation per user.", last_success);
	user_gauge(f, d, "rotad_next_fire_timestamp_seconds",
	    "Next scheduled rotation per user.", fire_next);
	user_gauge(f, d, "rotad_never_succeeded",
	    "1 for a user whose rotation never committed since the daemon "
	    "started and whose last run did not succeed.",
	    never_succeeded);
	last_outcomes(f, d);
	counter(f, "rotad_events_spooled_total", "Events written to the spool.",
	    d->events_spooled);
	counter(f, "rotad_events_dropped_total",
	    "Events dropped over events.spool_max.", d->events_dropped);
	sink_metrics(f, d);
	fclose(f);
	return text;
}

/* Write the textfile atomically: a reader never sees half a file. */
void
metrics_write(uv_timer_t *t)
{
	struct daemon *d = t->data;
	const char *path = d->gen->set->daemon.metrics_textfile;
	char tmp[4096];
	char *text;
	FILE *f;

	if (path == NULL)
		return;
	text = metrics_text(d);
	if (text == NULL)
		return;
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "we");
	if (f != NULL) {
		fputs(text, f);
		if (fclose(f) == 0 && rename(tmp, path) == 0) {
			free(text);
			return;
		}
	}
	log_msg(LOG_WARNING, MSG_INTERNAL, "metrics textfile %s: %s", path,
	    strerror(errno));
	unlink(tmp);
	free(text);
}
