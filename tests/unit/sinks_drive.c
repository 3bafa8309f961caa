/*
 * sinks-drive: the daemon's part of event delivery, without the daemon,
 * for tests/integration/events_local.sh until the daemon spools events
 * itself (scheduler/emit.c).  Each run is one "daemon lifetime": open the
 * store DIR/rotad.db, open two sinks (syslog "local" on DIR/log in
 * FORMAT, file "audit" at DIR/events.jsonl), spool N sample events as the
 * daemon would (encoded, seq 0; the one that gets seq S is the sample of
 * name (S - 1) mod the number of names), kick, and run the loop until every sink
 * has the spool's last event or MS milliseconds have passed.
 *
 *   sinks-drive DIR FORMAT N MS
 *
 * Prints "last=L local=C audit=C".  Exit 0: every sink caught up; 2: not
 * (yet); 1: an error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "event.h"
#include "event_samples.h"
#include "jobs.h"
#include "secret.h"
#include "sinks.h"
#include "store.h"
#include "storeq.h"

struct drive {
	struct store *st;
	struct storeq *q;
	struct sinks *s;
	uint64_t deadline;
	int done;
};

static int
caught_up(struct drive *d)
{
	struct sinks_metric m[2];
	int64_t last;
	size_t i;

	if (store_event_last(d->st, &last) < 0)
		return 0;
	sinks_metrics(d->s, m, 2);
	for (i = 0; i < 2; i++)
		if (m[i].cursor != last)
			return 0;
	return 1;
}

static void
tick(uv_timer_t *t)
{
	struct drive *d = t->data;

	if (caught_up(d) || uv_now(t->loop) >= d->deadline) {
		d->done = caught_up(d);
		uv_stop(t->loop);
	}
}

int
main(int argc, char **argv)
{
	char db[512], sock[512], out[512], err[256];
	unsigned char key[STORE_KEY_LEN];
	struct job_sink sinks[2] = { { 0 } };
	struct job_events cfg = { 0 };
	struct sinks_metric m[2];
	struct secret *k = NULL;
	struct drive d = { 0 };
	struct event ev;
	uv_loop_t loop;
	uv_timer_t t;
	int64_t last, id;
	char *json;
	long i, n;

	if (argc != 5) {
		fprintf(stderr, "usage: sinks-drive DIR FORMAT N MS\n");
		return 1;
	}
	snprintf(db, sizeof(db), "%s/rotad.db", argv[1]);
	snprintf(sock, sizeof(sock), "%s/log", argv[1]);
	snprintf(out, sizeof(out), "%s/events.jsonl", argv[1]);
	n = atol(argv[3]);
	memset(key, 0x5a, sizeof(key));
	if (secret_new(key, sizeof(key), &k) < 0 ||
	    store_open(db, k, STORE_OPEN_CREATE, &d.st, err, sizeof(err)) < 0) {
		fprintf(stderr, "sinks-drive: store: %s\n", err);
		return 1;
	}
	sinks[0].name = "local";
	sinks[0].type = JOB_SINK_SYSLOG;
	sinks[0].socket = sock;
	sinks[0].format = argv[2];
	sinks[1].name = "audit";
	sinks[1].type = JOB_SINK_FILE;
	sinks[1].path = out;
	cfg.spool_max = JOB_SPOOL_MAX_DEFAULT;
	cfg.sinks = sinks;
	cfg.nsinks = 2;
	uv_loop_init(&loop);
	/* The spool's reads, as the daemon makes them (no group commit
	 * here: each as asked). */
	if (storeq_open(&loop, d.st, &d.q) < 0) {
		fprintf(stderr, "sinks-drive: storeq_open failed\n");
		return 1;
	}
	storeq_direct(d.q);
	if (sinks_open(&cfg, NULL, d.st, d.q, &loop, &d.s) < 0) {
		fprintf(stderr, "sinks-drive: sinks_open failed\n");
		return 1;
	}
	/* The event with seq S is the sample of name (S - 1) % EVENT__MAX,
	 * whichever run spooled it. */
	if (store_event_last(d.st, &last) < 0)
		return 1;
	for (i = 0; i < n; i++) {
		event_sample((enum event_name)((last + i) % EVENT__MAX), &ev);
		ev.seq = 0;
		if (event_encode_json(&ev, &json) < 0 ||
		    store_event_put(d.st, 1718000000, json, strlen(json), &id) <
			0) {
			fprintf(stderr, "sinks-drive: spool failed\n");
			return 1;
		}
		free(json);
		sinks_kick(d.s);
	}
	sinks_kick(d.s);
	d.deadline = uv_now(&loop) + (uint64_t)atol(argv[4]);
	uv_timer_init(&loop, &t);
	t.data = &d;
	uv_timer_start(&t, tick, 0, 50);
	uv_run(&loop, UV_RUN_DEFAULT);
	store_event_last(d.st, &last);
	sinks_metrics(d.s, m, 2);
	printf("last=%lld local=%lld audit=%lld\n", (long long)last,
	    (long long)m[0].cursor, (long long)m[1].cursor);
	uv_close((uv_handle_t *)&t, NULL);
	storeq_close(d.q);
	sinks_close(d.s);
	uv_run(&loop, UV_RUN_DEFAULT);
	uv_loop_close(&loop);
	store_close(d.st);
	secret_free(k);
	return d.done ? 0 : 2;
}
