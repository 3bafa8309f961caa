/*
 * The store's crash test: a child process rotates secrets as fast as it
 * can - a run and its pending secret in one transaction, then the commit
 * (or a discard), its run's new state and an event in another, with seeds
 * and spooled events in between - and is killed with SIGKILL at a random
 * moment, 20 times.  After each kill the parent opens the store (which runs
 * quick_check), runs a full integrity_check, and checks that what it finds
 * is exactly what whole transactions produce:
 *
 *   - each user's versions are 1..N with no gap, exactly one current, at
 *     most one pending and one previous; a pending version is the newest;
 *     the committed versions, newest first, are current, previous, then
 *     history;
 *   - every version decrypts to the value written for it;
 *   - each run has its version, in the matching state (prepared/pending,
 *     committed/current-previous-history, failed/discarded), and each
 *     committed run has exactly one "commit" event.
 *
 * Then it plays recovery (commits or discards what the child left pending)
 * and starts the next child.  Set CRASH_SEED to replay a sequence.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* nftw(), pipe2() */
#endif
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "secret.h"
#include "store.h"

#define ITERATIONS 20
#define MAX_DELAY_MS 20
#define NUSERS 4
#define T0 1700000000

static const char *const users[NUSERS] = { "alice", "bob", "carol", "dave" };

struct crash {
	char dir[64];
	char db[128];
	char keyfile[128];
	pid_t child; /* alive, for teardown to kill if a check fails */
};

static int
rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/*
 * The value written for a version: a seed's is named after its time (the
 * child makes every time unique), a rotation's after its run.
 */
static void
value_for(const char *user, const char *run_id, int64_t created, char *buf,
    size_t size)
{
	if (run_id[0] != '\0')
		snprintf(buf, size, "%s:%s", user, run_id);
	else
		snprintf(buf, size, "%s:seed@%lld", user, (long long)created);
}

static struct secret *
secret_of(const char *s)
{
	struct secret *v = NULL;

	if (secret_new(s, strlen(s), &v) < 0)
		_exit(20);
	return v;
}

/* ---- the child ---- */

static void __attribute__((noreturn))
die(struct store *st, const char *what, int r)
{
	fprintf(stderr, "child: %s: %s (%s)\n", what, strerror(-r),
	    st != NULL ? store_last_error(st) : "");
	_exit(10);
}

static void
rotate(struct store *st, const char *user, int64_t now, bool discard)
{
	struct store_run run = { 0 };
	struct secret *v;
	char value[128], ev[64];
	int64_t version;
	int r;

	if ((r = store_run_id_new(run.id)) < 0)
		die(st, "run id", r);
	snprintf(run.user, sizeof(run.user), "%s", user);
	run.state = STORE_RUN_PREPARED;
	run.created = run.updated = now;
	value_for(user, run.id, now, value, sizeof(value));
	v = secret_of(value);

	/* prepare: the run and its pending secret, together */
	if ((r = store_begin(st)) < 0 || (r = store_run_create(st, &run)) < 0 ||
	    (r = store_secret_put_pending(st, user, v, run.id, now, &version)) <
		0 ||
	    (r = store_commit(st)) < 0)
		die(st, "prepare", r);
	secret_free(v);

	/* commit (or give up): secret, run and event, together */
	run.updated = now + 1;
	if ((r = store_begin(st)) < 0)
		die(st, "begin", r);
	if (discard) {
		run.state = STORE_RUN_FAILED;
		run.error_class = STORE_ERROR_POLICY;
		snprintf(run.message, sizeof(run.message), "refused");
		r = store_secret_discard_pending(st, user, version, now + 1);
	} else {
		run.state = STORE_RUN_COMMITTED;
		r = store_secret_commit(st, user, version, now + 1);
		snprintf(ev, sizeof(ev), "commit %s", run.id);
		if (r == 0)
			r = store_event_put(st, now + 1, ev, strlen(ev), NULL);
	}
	if (r == 0)
		r = store_run_update(st, &run);
	if (r == 0)
		r = store_commit(st);
	if (r < 0)
		die(st, "commit", r);
}

static void __attribute__((noreturn))
child(const struct crash *c, unsigned seed, int ready, int64_t clock)
{
	struct secret *key = NULL, *v;
	struct store *st = NULL;
	char err[512], value[128];
	int64_t id, last = 0;
	int r;

	srand(seed);
	if ((r = store_key_load(c->keyfile, &key, err, sizeof(err))) < 0 ||
	    (r = store_open(
		 c->db, key, STORE_OPEN_CREATE, &st, err, sizeof(err))) < 0) {
		fprintf(stderr, "child: %s\n", err);
		_exit(11);
	}
	secret_free(key);
	/* One whole rotation before saying so, so that every child after a
	 * ready signal has written, however slow the disk's fsync is. */
	clock += 10;
	rotate(st, users[rand() % NUSERS], clock, false);
	if (write(ready, "r", 1) != 1)
		_exit(12);
	close(ready);
	for (;;) {
		const char *user = users[rand() % NUSERS];
		int op = rand() % 10;

		clock += 10;
		if (op < 7) {
			rotate(st, user, clock, op == 0);
		} else if (op == 7) {
			value_for(user, "", clock, value, sizeof(value));
			v = secret_of(value);
			if ((r = store_secret_seed(st, user, v, clock, NULL)) <
			    0)
				die(st, "seed", r);
			secret_free(v);
		} else {
			/* Spool noise, and deliver some of it. */
			if ((r = store_event_put(st, clock, "noise", 5, &id)) <
			    0)
				die(st, "event", r);
			if (last != 0 && (r = store_event_ack(st, last)) < 0)
				die(st, "ack", r);
			last = id;
		}
	}
}

/* ---- the parent's checks ---- */

struct versions {
	int n;
	struct store_secret_info v[512];
};

static int
collect_version(const struct store_secret_info *info, void *arg)
{
	struct versions *vs = arg;

	assert_true(vs->n < 512);
	vs->v[vs->n++] = *info;
	return 0;
}

struct check {
	struct store *st;
	int runs, committed, unfinished;
};

static int
check_run(const struct store_run *r, void *arg)
{
	struct check *c = arg;
	struct versions vs = { 0 };
	const struct store_secret_info *found = NULL;
	enum store_secret_state s;
	int i;

	c->runs++;
	assert_int_equal(
	    store_secret_history(c->st, r->user, collect_version, &vs), 0);
	for (i = 0; i < vs.n; i++)
		if (strcmp(vs.v[i].run_id, r->id) == 0) {
			assert_null(found);
			found = &vs.v[i];
		}
	/* The run and its pending secret were written together. */
	if (found == NULL)
		fail_msg("run %s of %s has no secret version", r->id, r->user);
	s = found->state;
	switch (r->state) {
	case STORE_RUN_PREPARED:
		c->unfinished++;
		assert_int_equal(s, STORE_SECRET_PENDING);
		break;
	case STORE_RUN_COMMITTED:
		c->committed++;
		assert_true(s == STORE_SECRET_CURRENT ||
		    s == STORE_SECRET_PREVIOUS || s == STORE_SECRET_HISTORY);
		break;
	case STORE_RUN_FAILED:
		assert_int_equal(s, STORE_SECRET_DISCARDED);
		break;
	default:
		fail_msg("run %s in state %s", r->id,
		    store_run_state_name(r->state));
	}
	return 0;
}

static int64_t
sql_int(const char *db, const char *q, const char *arg)
{
	sqlite3 *h = NULL;
	sqlite3_stmt *s = NULL;
	int64_t v;

	assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(h, q, -1, &s, NULL), SQLITE_OK);
	if (arg != NULL)
		sqlite3_bind_text(s, 1, arg, -1, SQLITE_STATIC);
	assert_int_equal(sqlite3_step(s), SQLITE_ROW);
	v = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	sqlite3_close(h);
	return v;
}

static void
check_user(struct store *st, const char *user)
{
	struct versions vs = { 0 };
	int i, committed = 0, pending = 0;

	assert_int_equal(
	    store_secret_history(st, user, collect_version, &vs), 0);
	assert_true(vs.n >= 1);
	for (i = 0; i < vs.n; i++) {
		const struct store_secret_info *in = &vs.v[i];
		enum store_secret_state got;
		struct secret *v = NULL;
		char want[128];

		/* 1..N, newest first, no gap: no half-written version. */
		assert_int_equal(in->version, vs.n - i);
		switch (in->state) {
		case STORE_SECRET_PENDING:
			assert_int_equal(i, 0);
			pending++;
			break;
		case STORE_SECRET_DISCARDED:
			break;
		default:
			/* current, previous, history, in that order */
			assert_int_equal(in->state,
			    committed == 0       ? STORE_SECRET_CURRENT
				: committed == 1 ? STORE_SECRET_PREVIOUS
						 : STORE_SECRET_HISTORY);
			committed++;
		}
		/* Every version decrypts to what was written for it. */
		if (store_secret_get_version(st, user, in->version, &v, &got) !=
		    0)
			fail_msg("%s", store_last_error(st));
		assert_int_equal(got, in->state);
		value_for(user, in->run_id, in->created, want, sizeof(want));
		assert_int_equal(secret_len(v), strlen(want));
		assert_memory_equal(secret_data(v), want, strlen(want));
		secret_free(v);
	}
	assert_true(committed >= 1);
	assert_true(pending <= 1);
}

/* Recovery's part: settle what the killed child left pending. */
static int
recover(const struct store_run *r, void *arg)
{
	struct check *c = arg;
	struct store_run u = *r;
	char ev[64];
	int64_t version;
	struct secret *v = NULL;

	assert_int_equal(
	    store_secret_get(c->st, r->user, STORE_PENDING, &v, &version), 0);
	secret_free(v);
	u.updated = r->updated + 1;
	assert_int_equal(store_begin(c->st), 0);
	if (c->unfinished++ % 2 == 0) {
		u.state = STORE_RUN_COMMITTED;
		assert_int_equal(
		    store_secret_commit(c->st, r->user, version, u.updated), 0);
		snprintf(ev, sizeof(ev), "commit %s", r->id);
		assert_int_equal(
		    store_event_put(c->st, u.updated, ev, strlen(ev), NULL), 0);
	} else {
		u.state = STORE_RUN_FAILED;
		assert_int_equal(store_secret_discard_pending(
				     c->st, r->user, version, u.updated),
		    0);
	}
	assert_int_equal(store_run_update(c->st, &u), 0);
	assert_int_equal(store_commit(c->st), 0);
	return 0;
}

static int
verify(const struct crash *c, const struct secret *key, int *ret_committed,
    int *ret_recovered)
{
	struct check chk = { 0 };
	struct store *st = NULL;
	char err[512];
	int i;

	if (store_open(c->db, key, STORE_OPEN_CREATE, &st, err, sizeof(err)) !=
	    0)
		fail_msg("open after a kill: %s", err);
	assert_int_equal(sql_int(c->db,
			     "SELECT count(*) FROM pragma_integrity_check"
			     " WHERE integrity_check != 'ok'",
			     NULL),
	    0);
	for (i = 0; i < NUSERS; i++)
		check_user(st, users[i]);
	chk.st = st;
	assert_int_equal(store_run_list(st, NULL, 0, check_run, &chk), 0);
	assert_true(chk.unfinished <= NUSERS);
	/* Exactly one event per committed run, written with its commit. */
	assert_int_equal(sql_int(c->db,
			     "SELECT count(*) FROM events"
			     " WHERE CAST(payload AS TEXT) LIKE 'commit %'",
			     NULL),
	    chk.committed);
	assert_int_equal(sql_int(c->db,
			     "SELECT count(DISTINCT payload) FROM events"
			     " WHERE CAST(payload AS TEXT) LIKE 'commit %'",
			     NULL),
	    chk.committed);
	*ret_committed = chk.committed;
	chk.unfinished = 0;
	assert_int_equal(store_run_list_unfinished(st, recover, &chk), 0);
	*ret_recovered += chk.unfinished;
	store_close(st);
	return chk.runs;
}

static int
setup(void **state)
{
	struct crash *c = calloc(1, sizeof(*c));

	assert_non_null(c);
	snprintf(c->dir, sizeof(c->dir), "/tmp/test_store_crash.XXXXXX");
	assert_non_null(mkdtemp(c->dir));
	snprintf(c->db, sizeof(c->db), "%s/rotad.db", c->dir);
	snprintf(c->keyfile, sizeof(c->keyfile), "%s/master.key", c->dir);
	*state = c;
	return 0;
}

static int
teardown(void **state)
{
	struct crash *c = *state;

	if (c->child > 0) {
		kill(c->child, SIGKILL);
		waitpid(c->child, NULL, 0);
	}
	nftw(c->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(c);
	return 0;
}

static void
test_crash(void **state)
{
	struct crash *c = *state;
	struct secret *key = NULL, *v;
	struct store *st = NULL;
	char err[512], value[128];
	const char *env = getenv("CRASH_SEED");
	unsigned seed = env != NULL ? (unsigned)strtoul(env, NULL, 10)
				    : (unsigned)time(NULL) ^ (unsigned)getpid();
	int i, runs = 0, committed = 0, recovered = 0, kills_mid_open = 0;

	(void)state;
	print_message("# CRASH_SEED=%u\n", seed);
	srand(seed);
	assert_int_equal(store_key_create(c->keyfile, err, sizeof(err)), 0);
	assert_int_equal(store_key_load(c->keyfile, &key, err, sizeof(err)), 0);

	/* Every user starts with a current secret. */
	assert_int_equal(
	    store_open(c->db, key, STORE_OPEN_CREATE, &st, err, sizeof(err)),
	    0);
	for (i = 0; i < NUSERS; i++) {
		value_for(users[i], "", T0, value, sizeof(value));
		v = secret_of(value);
		assert_int_equal(
		    store_secret_seed(st, users[i], v, T0, NULL), 0);
		secret_free(v);
	}
	store_close(st);

	for (i = 0; i < ITERATIONS; i++) {
		int fds[2], status;
		char b;
		pid_t pid;

		assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
		pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			close(fds[0]);
			/* Times keep growing across children, so that
			 * seeds' values stay unique. */
			child(c, (unsigned)rand(), fds[1],
			    T0 + (int64_t)(i + 1) * 100000000);
		}
		c->child = pid;
		close(fds[1]);
		/* Most kills land while writing; every fifth may land in
		 * the open (WAL recovery, checks). */
		if (i % 5 != 4)
			assert_int_equal(read(fds[0], &b, 1), 1);
		else
			kills_mid_open++;
		usleep((useconds_t)(rand() % (MAX_DELAY_MS + 1)) * 1000);
		assert_int_equal(kill(pid, SIGKILL), 0);
		assert_int_equal(waitpid(pid, &status, 0), pid);
		c->child = 0;
		close(fds[0]); /* only now: the child must not get SIGPIPE */
		/* Killed, not dead of an error of its own. */
		if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL)
			fail_msg("child ended with %s %d, not SIGKILL",
			    WIFEXITED(status) ? "exit status" : "signal",
			    WIFEXITED(status) ? WEXITSTATUS(status)
					      : WTERMSIG(status));
		runs = verify(c, key, &committed, &recovered);
	}
	print_message("# %d kills (%d possibly mid-open), %d runs, %d "
		      "committed, %d left prepared and recovered\n",
	    ITERATIONS, kills_mid_open, runs, committed, recovered);
	/* The test means nothing if the children never got to write. */
	assert_true(runs >= ITERATIONS - kills_mid_open);
	secret_free(key);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_crash, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
