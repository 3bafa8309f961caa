/*
 * test_sinks: the local sinks (scheduler/sinks.c) against a real store in
 * a temp directory: a file sink writes exactly the formatted events, in
 * order; its cursor moves and a restart resumes from it with no gap and
 * no duplicate; a new sink does not replay history; the filter drops
 * what it should; SIGHUP's reopen follows a rotated file; the bound
 * trims; a syslog sink whose socket is missing waits and catches up once
 * a socket (bound here, in the test) answers; a network sink's cursor
 * follows what the delivery process answers, through a partial batch and
 * the process's crash (tests/unit/fake_deliver.c stands in for it).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>
#include <uv.h>

#include "event.h"
#include "event_format.h"
#include "event_samples.h"
#include "jobs.h"
#include "secret.h"
#include "sinks.h"
#include "store.h"
#include "storeq.h"

struct fixture {
	char dir[64], db[96], out[96], sock[96];
	struct secret *key;
	struct store *st;
	uv_loop_t loop;
	struct job_events cfg;
	struct job_sink sink;
	struct sinks *s;
	struct storeq *q; /* the spool's reads: at once, no group commit */
};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	unsigned char k[STORE_KEY_LEN];
	char err[256];

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/test_sinks.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->db, sizeof(f->db), "%s/rotad.db", f->dir);
	snprintf(f->out, sizeof(f->out), "%s/events.jsonl", f->dir);
	snprintf(f->sock, sizeof(f->sock), "%s/log", f->dir);
	memset(k, 0x22, sizeof(k));
	assert_int_equal(secret_new(k, sizeof(k), &f->key), 0);
	assert_int_equal(store_open(f->db, f->key, STORE_OPEN_CREATE, &f->st,
			     err, sizeof(err)),
	    0);
	assert_int_equal(uv_loop_init(&f->loop), 0);
	assert_int_equal(storeq_open(&f->loop, f->st, &f->q), 0);
	storeq_direct(f->q);
	f->cfg.spool_max = JOB_SPOOL_MAX_DEFAULT;
	f->cfg.sinks = &f->sink;
	f->cfg.nsinks = 1;
	f->sink.name = "audit";
	f->sink.type = JOB_SINK_FILE;
	f->sink.path = f->out;
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];

	storeq_close(f->q);
	sinks_close(f->s);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&f->loop), 0);
	store_close(f->st);
	secret_free(f->key);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

/* The sinks' reads of the spool (off the loop) done, and what they
 * read written or sent. */
static void
drain(struct fixture *f)
{
	while (!storeq_idle(f->q))
		uv_run(&f->loop, UV_RUN_ONCE);
}

/* Spool the sample of NAME, encoded as the daemon does (seq 0: the
 * spool's id becomes it); its id in *ret_id when not NULL. */
static void
spool(struct fixture *f, enum event_name name, int64_t *ret_id)
{
	struct event ev;
	char *json;
	int64_t id;

	event_sample(name, &ev);
	ev.seq = 0;
	assert_int_equal(event_encode_json(&ev, &json), 0);
	assert_int_equal(
	    store_event_put(f->st, 1718000000, json, strlen(json), &id), 0);
	free(json);
	if (ret_id != NULL)
		*ret_id = id;
}

/* What the sink should have written for the sample of NAME at ID. */
static void
expect(FILE *m, enum event_name name, int64_t id, enum event_format fmt)
{
	struct event ev;
	char *s;
	size_t len;

	event_sample(name, &ev);
	ev.seq = id;
	assert_int_equal(event_format(&ev, fmt, NULL, &s, &len), 0);
	fwrite(s, 1, len, m);
	if (s[len - 1] != '\n')
		fputc('\n', m);
	free(s);
}

static char *
slurp(const char *path)
{
	FILE *in = fopen(path, "r");
	char *buf = NULL;
	size_t len = 0, n;
	char chunk[4096];
	FILE *m;

	m = open_memstream(&buf, &len);
	assert_non_null(m);
	if (in != NULL) {
		while ((n = fread(chunk, 1, sizeof(chunk), in)) > 0)
			fwrite(chunk, 1, n, m);
		fclose(in);
	}
	fclose(m);
	return buf;
}

static int64_t
cursor(struct fixture *f, const char *name)
{
	int64_t c = -1;

	assert_int_equal(store_event_cursor_get(f->st, name, &c), 0);
	return c;
}

/* A file sink writes exactly the formatted events, in order, and its
 * cursor follows; a restart resumes from the cursor. */
static void
test_file_order_and_restart(void **state)
{
	struct fixture *f = *state;
	char *want = NULL, *got;
	size_t wlen = 0;
	FILE *m = open_memstream(&want, &wlen);
	int64_t id, first = 0;
	int i;

	assert_int_equal(
	    sinks_open(&f->cfg, NULL, f->st, f->q, &f->loop, &f->s), 0);
	assert_int_equal(cursor(f, "audit"), 0);
	for (i = 0; i < 300; i++) { /* more than a batch */
		spool(f, i % EVENT__MAX, &id);
		if (i == 0)
			first = id;
		expect(m, i % EVENT__MAX, id, EVENT_FORMAT_JSON);
	}
	sinks_kick(f->s);
	drain(f);
	assert_int_equal(cursor(f, "audit"), id);

	/* A restart: three more spooled while closed, then two after. */
	sinks_close(f->s);
	f->s = NULL;
	uv_run(&f->loop, UV_RUN_DEFAULT);
	for (i = 0; i < 3; i++) {
		spool(f, EVENT_VERIFY_FAIL, &id);
		expect(m, EVENT_VERIFY_FAIL, id, EVENT_FORMAT_JSON);
	}
	assert_int_equal(
	    sinks_open(&f->cfg, NULL, f->st, f->q, &f->loop, &f->s), 0);
	spool(f, EVENT_SECRET_READ, &id);
	expect(m, EVENT_SECRET_READ, id, EVENT_FORMAT_JSON);
	sinks_kick(f->s);
	drain(f);
	fclose(m);
	got = slurp(f->out);
	assert_string_equal(got, want);
	assert_int_equal(cursor(f, "audit"), id);
	assert_int_equal(id - first + 1, 304);
	free(got);
	free(want);
}

/* A sink seen for the first time starts at the spool's last id. */
static void
test_no_replay(void **state)
{
	struct fixture *f = *state;
	struct sinks_metric mt;
	int64_t id;
	char *got;

	spool(f, EVENT_DAEMON_STARTED, &id);
	spool(f, EVENT_DAEMON_STOPPING, &id);
	assert_int_equal(
	    sinks_open(&f->cfg, NULL, f->st, f->q, &f->loop, &f->s), 0);
	assert_int_equal(cursor(f, "audit"), id);
	sinks_kick(f->s);
	drain(f);
	got = slurp(f->out);
	assert_string_equal(got, "");
	free(got);
	spool(f, EVENT_CONFIG_RELOADED, &id);
	sinks_kick(f->s);
	drain(f);
	assert_int_equal(sinks_metrics(f->s, &mt, 1), 1);
	assert_string_equal(mt.name, "audit");
	assert_int_equal(mt.seen, 1);
	assert_int_equal(mt.delivered, 1);
	assert_int_equal(mt.cursor, id);
}

/* The ceiling (the daemon's group commit): nothing after it is sent,
 * however often kicked; raising it sends the rest, in order. */
static void
test_ceiling(void **state)
{
	struct fixture *f = *state;
	char *want = NULL, *got, *p;
	size_t wlen = 0;
	FILE *m = open_memstream(&want, &wlen);
	int64_t id, mid = 0;
	int i;

	assert_int_equal(
	    sinks_open(&f->cfg, NULL, f->st, f->q, &f->loop, &f->s), 0);
	for (i = 0; i < 6; i++) {
		spool(f, EVENT_VERIFY_FAIL, &id);
		expect(m, EVENT_VERIFY_FAIL, id, EVENT_FORMAT_JSON);
		if (i == 2)
			mid = id;
	}
	fflush(m);
	sinks_set_ceiling(f->s, mid);
	drain(f);
	sinks_kick(f->s);
	drain(f);
	assert_int_equal(cursor(f, "audit"), mid);
	got = slurp(f->out);
	/* The first three lines, and not one more. */
	for (i = 0, p = want; i < 3; i++)
		p = strchr(p, '\n') + 1;
	assert_int_equal(strlen(got), (size_t)(p - want));
	assert_memory_equal(got, want, strlen(got));
	free(got);
	sinks_set_ceiling(f->s, INT64_MAX);
	drain(f);
	fclose(m);
	got = slurp(f->out);
	assert_string_equal(got, want);
	assert_int_equal(cursor(f, "audit"), id);
	free(got);
	free(want);
}

/* min_severity, names and users, and the counters. */
static void
test_filter(void **state)
{
	struct fixture *f = *state;
	char *events[] = { "record_rotation_scheduled_fail", "verify_fail",
		"config_reloaded" };
	struct job_origin at[3] = { { 0 } };
	char *users[] = { "app_reader" };
	char *want = NULL, *got;
	size_t wlen = 0;
	FILE *m = open_memstream(&want, &wlen);
	struct sinks_metric mt;
	int64_t id;
	int i;

	f->sink.min_severity = "warning";
	f->sink.events = events;
	f->sink.nevents = 3;
	f->sink.events_origin = at;
	f->sink.users = users;
	f->sink.nusers = 1;
	f->sink.format = "cef";
	assert_int_equal(
	    sinks_open(&f->cfg, NULL, f->st, f->q, &f->loop, &f->s), 0);
	for (i = 0; i < EVENT__MAX; i++) {
		struct event ev;

		spool(f, i, &id);
		event_sample(i, &ev);
		/* config_reloaded has no user: refused by a user list. */
		if (ev.severity <= 4 && ev.user != NULL &&
		    strcmp(ev.user, "app_reader") == 0 &&
		    (i == EVENT_RECORD_ROTATION_SCHEDULED_FAIL ||
			i == EVENT_VERIFY_FAIL))
			expect(m, i, id, EVENT_FORMAT_CEF);
	}
	sinks_kick(f->s);
	drain(f);
	fclose(m);
	got = slurp(f->out);
	assert_string_equal(got, want);
	assert_int_equal(sinks_metrics(f->s, &mt, 1), 1);
	assert_int_equal(mt.seen, EVENT__MAX);
	assert_int_equal(mt.delivered, 2);
	assert_int_equal(mt.filtered, EVENT__MAX - 2);
	assert_int_equal(mt.cursor, id);
	free(got);
	free(want);
}

/* A bad name in the configuration is refused; sinks_check says where. */
static void
test_check(void **state)
{
	struct fixture *f = *state;
	char *events[] = { "verify_fial" };
	struct job_origin at[1] = { { "rotad.yaml", 7, 9, 0, NULL } };
	char *buf = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&buf, &len);

	f->sink.events = events;
	f->sink.nevents = 1;
	f->sink.events_origin = at;
	assert_int_equal(sinks_check(&f->cfg, m), 1);
	fclose(m);
	assert_non_null(
	    strstr(buf, "rotad.yaml:7:9: unknown event 'verify_fial'"));
	free(buf);
	assert_int_equal(
	    sinks_open(&f->cfg, NULL, f->st, f->q, &f->loop, &f->s), -EINVAL);
	f->s = NULL;
}

/* SIGHUP after logrotate moved the file: the next events go to a new
 * file at the path, none lost. */
static void
test_reopen(void **state)
{
	struct fixture *f = *state;
	char moved[128], *got;
	int64_t a, b;

	snprintf(moved, sizeof(moved), "%s.1", f->out);
	assert_int_equal(
	    sinks_open(&f->cfg, NULL, f->st, f->q, &f->loop, &f->s), 0);
	spool(f, EVENT_VERIFY_OK, &a);
	sinks_kick(f->s);
	drain(f);
	assert_int_equal(rename(f->out, moved), 0);
	spool(f, EVENT_VERIFY_FAIL, &b);
	sinks_reopen(f->s);
	drain(f);
	got = slurp(moved);
	assert_non_null(strstr(got, "\"name\":\"verify_ok\""));
	assert_null(strstr(got, "verify_fail"));
	free(got);
	got = slurp(f->out);
	assert_non_null(strstr(got, "\"name\":\"verify_fail\""));
	assert_null(strstr(got, "verify_ok"));
	free(got);
	assert_int_equal(cursor(f, "audit"), b);
}

/* Count the lines of PATH that hold NEEDLE. */
static int
count_in(const char *path, const char *needle)
{
	char *got = slurp(path), *p = got;
	int n = 0;

	while ((p = strstr(p, needle)) != NULL) {
		n++;
		p += strlen(needle);
	}
	free(got);
	return n;
}

/* SIGHUP while a batch is written off the loop: its fd is left to it,
 * the path opened again after; each event lands once, in one file or
 * the other, and the cursor reaches the last. */
static void
test_reopen_while_writing(void **state)
{
	struct fixture *f = *state;
	char moved[128];
	int64_t a, b;

	snprintf(moved, sizeof(moved), "%s.1", f->out);
	assert_int_equal(
	    sinks_open(&f->cfg, NULL, f->st, f->q, &f->loop, &f->s), 0);
	spool(f, EVENT_VERIFY_OK, &a);
	sinks_kick(f->s); /* its batch in flight: not drained */
	assert_false(storeq_idle(f->q));
	(void)rename(f->out, moved);
	spool(f, EVENT_VERIFY_FAIL, &b);
	sinks_reopen(f->s);
	drain(f);
	assert_int_equal(count_in(moved, "\"name\":\"verify_ok\"") +
		count_in(f->out, "\"name\":\"verify_ok\""),
	    1);
	assert_int_equal(count_in(moved, "\"name\":\"verify_fail\"") +
		count_in(f->out, "\"name\":\"verify_fail\""),
	    1);
	assert_int_equal(cursor(f, "audit"), b);
	(void)a;
}

/* Closed while its batch is written: freed when the write ends, not
 * before (the sanitizers' build would see a use after free). */
static void
test_close_while_writing(void **state)
{
	struct fixture *f = *state;
	int64_t a;

	assert_int_equal(
	    sinks_open(&f->cfg, NULL, f->st, f->q, &f->loop, &f->s), 0);
	spool(f, EVENT_VERIFY_OK, &a);
	sinks_kick(f->s);
	assert_false(storeq_idle(f->q));
	sinks_close(f->s);
	f->s = NULL;
	drain(f);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	assert_int_equal(count_in(f->out, "\"name\":\"verify_ok\""), 1);
}

/* The bound trims the oldest and says how many. */
static void
test_bound(void **state)
{
	struct fixture *f = *state;
	struct sinks_metric mt;
	int64_t id, dropped, last;
	int i;

	f->cfg.spool_max = 10;
	assert_int_equal(
	    sinks_open(&f->cfg, NULL, f->st, f->q, &f->loop, &f->s), 0);
	for (i = 0; i < 25; i++)
		spool(f, EVENT_SECRET_READ, &id);
	assert_int_equal(sinks_bound(f->s, id, &dropped), 0);
	assert_int_equal(dropped, 15);
	assert_int_equal(sinks_bound(f->s, id, &dropped), 0);
	assert_int_equal(dropped, 0);
	/* The sink was behind all of them: it lost 15, said once. */
	assert_int_equal(sinks_metrics(f->s, &mt, 1), 1);
	assert_int_equal(mt.dropped, 15);
	/* A new life counts nothing again for what the last one deleted;
	 * five more spooled and deleted are five more lost. */
	sinks_close(f->s);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	assert_int_equal(
	    sinks_open(&f->cfg, NULL, f->st, f->q, &f->loop, &f->s), 0);
	for (i = 0; i < 5; i++)
		spool(f, EVENT_SECRET_READ, &id);
	assert_int_equal(sinks_bound(f->s, id, &dropped), 0);
	assert_int_equal(dropped, 5);
	sinks_metrics(f->s, &mt, 1);
	assert_int_equal(mt.dropped, 5);
	assert_int_equal(store_event_last(f->st, &last), 0);
	assert_int_equal(last, id);
	/* The sink, behind, gets the ten kept. */
	sinks_kick(f->s);
	drain(f);
	assert_int_equal(cursor(f, "audit"), id);
}

static void
stop_loop(uv_timer_t *t)
{
	uv_stop(t->loop);
}

/* Run the loop for MS milliseconds. */
static void
run_for(struct fixture *f, uint64_t ms)
{
	uv_timer_t t;

	uv_timer_init(&f->loop, &t);
	uv_timer_start(&t, stop_loop, ms, 0);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	uv_close((uv_handle_t *)&t, NULL);
	uv_run(&f->loop, UV_RUN_NOWAIT);
}

/* A syslog sink whose socket is not there yet keeps its cursor, retries
 * on its timer, and delivers everything in order once it is. */
static void
test_syslog_waits(void **state)
{
	struct fixture *f = *state;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct sinks_metric mt;
	int64_t ids[5];
	char buf[8192], want[64];
	ssize_t n;
	int fd, i;

	f->sink.type = JOB_SINK_SYSLOG;
	f->sink.path = NULL;
	f->sink.socket = f->sock;
	assert_int_equal(
	    sinks_open(&f->cfg, NULL, f->st, f->q, &f->loop, &f->s), 0);
	for (i = 0; i < 5; i++)
		spool(f, EVENT_VERIFY_FAIL, &ids[i]);
	sinks_kick(f->s);
	drain(f);
	assert_int_equal(sinks_metrics(f->s, &mt, 1), 1);
	assert_int_equal(mt.retrying, 1);
	assert_int_equal(mt.delivered, 0);
	assert_true(mt.failures >= 1);
	assert_int_equal(cursor(f, "audit"), ids[0] - 1);

	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	strcpy(sa.sun_path, f->sock);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	run_for(f, 1500); /* the first retry is at 1 s */
	for (i = 0; i < 5; i++) {
		n = recv(fd, buf, sizeof(buf) - 1, MSG_DONTWAIT);
		assert_true(n > 0);
		buf[n] = '\0';
		/* RFC 5424 by default, authpriv, warning: PRI 10*8+4. */
		assert_memory_equal(buf, "<84>1 ", 6);
		snprintf(
		    want, sizeof(want), " seq=\"%lld\"", (long long)ids[i]);
		assert_non_null(strstr(buf, want));
	}
	assert_true(recv(fd, buf, sizeof(buf), MSG_DONTWAIT) < 0);
	assert_int_equal(cursor(f, "audit"), ids[4]);
	sinks_metrics(f->s, &mt, 1);
	assert_int_equal(mt.delivered, 5);
	assert_int_equal(mt.retrying, 0);
	close(fd);
}

/* A syslog sink in format journal: one datagram an event, each field a
 * KEY=VALUE line of journald's native protocol. */
static void
test_journal(void **state)
{
	struct fixture *f = *state;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char buf[8192], want[64];
	int64_t id;
	ssize_t n;
	int fd;

	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	strcpy(sa.sun_path, f->sock);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	f->sink.type = JOB_SINK_SYSLOG;
	f->sink.path = NULL;
	f->sink.socket = f->sock;
	f->sink.format = "journal";
	assert_int_equal(
	    sinks_open(&f->cfg, NULL, f->st, f->q, &f->loop, &f->s), 0);
	spool(f, EVENT_VERIFY_FAIL, &id);
	sinks_kick(f->s);
	drain(f);
	n = recv(fd, buf, sizeof(buf) - 1, MSG_DONTWAIT);
	assert_true(n > 0);
	buf[n] = '\0';
	assert_memory_equal(buf, "MESSAGE=", 8);
	assert_non_null(strstr(buf, "\nPRIORITY=4\nSYSLOG_FACILITY=10\n"
				    "SYSLOG_IDENTIFIER=rotad\n"
				    "ROTAD_EVENT=verify_fail\n"));
	snprintf(want, sizeof(want), "\nROTAD_SEQ=%lld\n", (long long)id);
	assert_non_null(strstr(buf, want));
	assert_int_equal(buf[n - 1], '\n');
	assert_int_equal(cursor(f, "audit"), id);
	close(fd);
}

/* Stop the loop once the sink's cursor reaches WANT, or after 20 s. */
struct until {
	struct fixture *f;
	int64_t want;
	uv_timer_t poll, deadline;
};

static void
on_poll(uv_timer_t *t)
{
	struct until *u = t->data;

	if (cursor(u->f, "siem") >= u->want)
		uv_stop(&u->f->loop);
}

static void
on_deadline(uv_timer_t *t)
{
	uv_stop(t->loop);
}

/*
 * A tcp sink through the fake delivery process: its first batch is
 * delivered only in part (the cursor moves past the first frame, no
 * further), the next kills the process (nothing moves), and a process
 * started again delivers the rest: every frame once, in order, and the
 * cursor at the last event.
 */
static void
test_network_partial_and_crash(void **state)
{
	struct fixture *f = *state;
	char *want = NULL, *got, path[128];
	struct sinks_metric met;
	size_t wlen = 0;
	FILE *m = open_memstream(&want, &wlen);
	int64_t id[5];
	struct until u = { .f = f };
	int i;

	snprintf(path, sizeof(path), "%s/delivered", f->dir);
	f->sink.name = "siem";
	f->sink.type = JOB_SINK_TCP;
	f->sink.path = NULL;
	f->sink.host = "127.0.0.1";
	f->sink.port = 9;
	f->sink.timeout = 10;
	f->cfg.delivery_path = FAKE_DELIVER;
	/* The fake takes its output file as --user's value. */
	assert_int_equal(
	    sinks_open(&f->cfg, path, f->st, f->q, &f->loop, &f->s), 0);
	for (i = 0; i < 5; i++) {
		spool(f, i % 2 ? EVENT_VERIFY_FAIL : EVENT_VERIFY_OK, &id[i]);
		expect(m, i % 2 ? EVENT_VERIFY_FAIL : EVENT_VERIFY_OK, id[i],
		    EVENT_FORMAT_RFC5424);
	}
	fclose(m);
	sinks_kick(f->s);
	drain(f);
	u.want = id[4];
	uv_timer_init(&f->loop, &u.poll);
	uv_timer_init(&f->loop, &u.deadline);
	u.poll.data = &u;
	uv_timer_start(&u.poll, on_poll, 20, 20);
	uv_timer_start(&u.deadline, on_deadline, 20000, 0);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	uv_close((uv_handle_t *)&u.poll, NULL);
	uv_close((uv_handle_t *)&u.deadline, NULL);
	uv_run(&f->loop, UV_RUN_NOWAIT); /* U is on the stack */
	assert_int_equal(cursor(f, "siem"), id[4]);
	got = slurp(path);
	assert_string_equal(got, want);
	assert_int_equal(sinks_metrics(f->s, &met, 1), 1);
	assert_string_equal(met.type, "tcp");
	assert_int_equal(met.delivered, 5);
	/* One partial batch and one lost process, each retried. */
	assert_true(met.failures >= 2);
	free(got);
	free(want);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
		    test_file_order_and_restart, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ceiling, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_no_replay, setup, teardown),
		cmocka_unit_test_setup_teardown(test_filter, setup, teardown),
		cmocka_unit_test_setup_teardown(test_check, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reopen, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_reopen_while_writing, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_close_while_writing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bound, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_syslog_waits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_journal, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_network_partial_and_crash, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
