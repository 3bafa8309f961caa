/*
 * Unit tests of storeq: the store's reads on libuv's pool, through a
 * read handle (store_reader()), against a real store with group commit
 * in a directory of its own from mkdtemp().
 *
 *   - a job asked before a settle does not start until storeq_settled(),
 *     and then sees every commit made before it was asked;
 *   - jobs run one at a time, in the order asked, on another thread,
 *     those ready together in one trip to the pool (at most
 *     STOREQ_GROUP_MAX);
 *   - the read handle reads runs, events and secrets, and refuses every
 *     write;
 *   - closing tells the jobs not started, cancelled, and the running ones
 *     when they return, done.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* nftw() */
#endif
#include <errno.h>
#include <ftw.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <uv.h>

#include "secret.h"
#include "store.h"
#include "storeq.h"

#define T0 1700000000

struct fixture {
	char dir[64];
	char db[128];
	struct store *st;
	struct storeq *q;
	uv_loop_t loop;
};

/* A job that reads run ID and the spool's last event. */
struct job {
	struct storeq_job j;
	pthread_t thread;
	char id[STORE_RUN_ID_LEN + 1];
	int get_rc, secret_rc, write_rc;
	bool secret_ok;
	int64_t last;
	struct store_run got;
	int *order, *norder, n; /* where DONE writes its number */
	struct job *all;        /* DONE counts those of ALL that ran */
	int nall, *ran_before_done;
	struct storeq *q; /* DONE asks it for NEXT */
	struct job *next;
	int ndone;
	bool ran, done, cancelled;
	pthread_mutex_t *gate; /* held by the test: the job waits on it */
};

static int
rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	unsigned char k[STORE_KEY_LEN];
	struct secret *key = NULL;
	char err[512];

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/test_storeq.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->db, sizeof(f->db), "%s/store.db", f->dir);
	memset(k, 7, sizeof(k));
	assert_int_equal(secret_new(k, sizeof(k), &key), 0);
	assert_int_equal(
	    store_open(f->db, key, STORE_OPEN_CREATE | STORE_OPEN_GROUP_COMMIT,
		&f->st, err, sizeof(err)),
	    0);
	secret_free(key);
	assert_int_equal(uv_loop_init(&f->loop), 0);
	assert_int_equal(storeq_open(&f->loop, f->st, &f->q), 0);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	storeq_close(f->q);
	assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
	assert_int_equal(uv_loop_close(&f->loop), 0);
	store_close(f->st);
	nftw(f->dir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

static void
work(struct storeq_job *sj, struct store *rd)
{
	struct job *j = (struct job *)sj;
	struct secret *s = NULL;
	struct store_run r = { 0 };

	if (j->gate != NULL) {
		pthread_mutex_lock(j->gate);
		pthread_mutex_unlock(j->gate);
	}
	j->thread = pthread_self();
	j->ran = true;
	j->get_rc = store_run_get(rd, j->id, &j->got);
	(void)store_event_last(rd, &j->last);
	j->secret_rc = store_secret_get(rd, "alice", STORE_CURRENT, &s, NULL);
	j->secret_ok = j->secret_rc == 0 && secret_len(s) == 4 &&
	    memcmp(secret_data(s), "pw-1", 4) == 0;
	secret_free(s);
	memcpy(r.id, j->id, sizeof(r.id));
	snprintf(r.user, sizeof(r.user), "mallory");
	r.state = STORE_RUN_PREPARED;
	r.created = r.updated = T0;
	j->write_rc = store_run_update(rd, &r);
}

static void
done(struct storeq_job *sj, bool cancelled)
{
	struct job *j = (struct job *)sj;
	int i;

	/* Told once, and as done only after it ran. */
	assert_false(j->done);
	assert_true(cancelled || j->ran);
	j->done = true;
	j->ndone++;
	j->cancelled = cancelled;
	if (j->all != NULL) {
		*j->ran_before_done = 0;
		for (i = 0; i < j->nall; i++)
			*j->ran_before_done += j->all[i].ran;
	}
	if (j->order != NULL)
		j->order[(*j->norder)++] = j->n;
	if (j->next != NULL)
		storeq_submit(j->q, &j->next->j);
}

static void
job_init(struct job *j, const char *id)
{
	memset(j, 0, sizeof(*j));
	j->j.work = work;
	j->j.done = done;
	snprintf(j->id, sizeof(j->id), "%s", id);
}

/* N jobs reading run ID, each writing its number into ORDER (*NORDER
 * told so far) when DONE. */
static void
jobs_init(struct job *j, int n, const char *id, int *order, int *norder)
{
	int i;

	for (i = 0; i < n; i++) {
		job_init(&j[i], id);
		j[i].order = order;
		j[i].norder = norder;
		j[i].n = i;
	}
}

/* A run of alice's, committed (in the batch, not settled). */
static void
new_run(struct fixture *f, char id[STORE_RUN_ID_LEN + 1])
{
	struct store_run r = { 0 };
	int64_t ev;

	assert_int_equal(store_run_id_new(r.id), 0);
	snprintf(r.user, sizeof(r.user), "alice");
	r.state = STORE_RUN_PREPARED;
	r.created = r.updated = T0;
	assert_int_equal(store_begin(f->st), 0);
	assert_int_equal(store_run_create(f->st, &r), 0);
	assert_int_equal(store_event_put(f->st, T0, "{}", 2, &ev), 0);
	assert_int_equal(store_commit(f->st), 0);
	memcpy(id, r.id, STORE_RUN_ID_LEN + 1);
}

static void
seed_alice(struct fixture *f)
{
	struct secret *v = NULL;

	assert_int_equal(secret_new("pw-1", 4, &v), 0);
	assert_int_equal(store_secret_seed(f->st, "alice", v, T0, NULL), 0);
	secret_free(v);
}

/* Asked before the settle, a job waits for it, then sees the commits
 * (a secret's too, decrypted); it ran on another thread; the read handle
 * refuses writes. */
static void
test_waits_for_the_settle(void **state)
{
	struct fixture *f = *state;
	char id[STORE_RUN_ID_LEN + 1];
	struct job j;
	int i;

	seed_alice(f);
	new_run(f, id);
	job_init(&j, id);
	storeq_submit(f->q, &j.j);
	for (i = 0; i < 20; i++)
		uv_run(&f->loop, UV_RUN_NOWAIT);
	assert_false(j.ran);
	assert_false(j.done);
	assert_int_equal(storeq_done(f->q), 0);
	assert_int_equal(store_settle(f->st), 0);
	storeq_settled(f->q);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	assert_true(j.done);
	assert_false(j.cancelled);
	assert_int_equal(storeq_done(f->q), 1);
	assert_int_equal(j.get_rc, 0);
	assert_string_equal(j.got.user, "alice");
	assert_true(j.last >= 1);
	assert_false(pthread_equal(j.thread, pthread_self()));
	assert_int_equal(j.secret_rc, 0);
	assert_true(j.secret_ok);
	assert_true(j.write_rc < 0);
}

/* Without the settle the read handle does not see the batch: what the
 * wait above is for. */
static void
test_unsettled_unseen(void **state)
{
	struct fixture *f = *state;
	char id[STORE_RUN_ID_LEN + 1];
	struct job j;

	new_run(f, id);
	job_init(&j, id);
	storeq_direct(f->q);
	storeq_submit(f->q, &j.j);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	assert_true(j.done);
	assert_int_equal(j.get_rc, -ENOENT);
}

/* One at a time, in the order asked. */
static void
test_order(void **state)
{
	struct fixture *f = *state;
	char id[STORE_RUN_ID_LEN + 1];
	struct job j[5];
	int order[5], n = 0, i;

	new_run(f, id);
	assert_int_equal(store_settle(f->st), 0);
	jobs_init(j, 5, id, order, &n);
	for (i = 0; i < 5; i++)
		storeq_submit(f->q, &j[i].j);
	storeq_settled(f->q);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	assert_int_equal(n, 5);
	for (i = 0; i < 5; i++) {
		assert_int_equal(order[i], i);
		assert_int_equal(j[i].get_rc, 0);
	}
}

/*
 * The jobs ready when the handle is free go to the pool together: when
 * the first one's DONE runs, the whole group has run (one at a time
 * they would not have), and no more than STOREQ_GROUP_MAX of them; the
 * rest follow, in order.
 */
static void
test_grouped(void **state)
{
	struct fixture *f = *state;
	enum {
		N = STOREQ_GROUP_MAX + 8
	};
	char id[STORE_RUN_ID_LEN + 1];
	struct job j[N];
	int order[N], n = 0, ran = -1, i;

	new_run(f, id);
	assert_int_equal(store_settle(f->st), 0);
	jobs_init(j, N, id, order, &n);
	for (i = 0; i < N; i++)
		storeq_submit(f->q, &j[i].j);
	j[0].all = j;
	j[0].nall = N;
	j[0].ran_before_done = &ran;
	storeq_settled(f->q);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	assert_int_equal(ran, STOREQ_GROUP_MAX);
	assert_int_equal(n, N);
	assert_int_equal(storeq_done(f->q), N);
	for (i = 0; i < N; i++) {
		assert_int_equal(order[i], i);
		assert_int_equal(j[i].get_rc, 0);
		assert_false(j[i].cancelled);
	}
}

/*
 * A DONE that asks for another job, with no settle to wait for (a
 * queue direct, as the daemon stops): the new job is ready at once, but
 * starts a group of its own only once every DONE of the group before is
 * told; each runs before its DONE, and each DONE comes once, in order.
 */
static void
test_asked_from_done(void **state)
{
	struct fixture *f = *state;
	char id[STORE_RUN_ID_LEN + 1];
	struct job j[4];
	int order[4], n = 0, i;

	new_run(f, id);
	assert_int_equal(store_settle(f->st), 0);
	jobs_init(j, 4, id, order, &n);
	for (i = 0; i < 4; i++)
		j[i].q = f->q;
	/* 0 and 1 go as one group; 1's DONE asks for 2, whose asks for 3. */
	j[1].next = &j[2];
	j[2].next = &j[3];
	storeq_submit(f->q, &j[0].j);
	storeq_submit(f->q, &j[1].j);
	storeq_direct(f->q);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	assert_int_equal(n, 4);
	for (i = 0; i < 4; i++) {
		assert_int_equal(order[i], i);
		assert_int_equal(j[i].ndone, 1);
		assert_true(j[i].ran);
		assert_int_equal(j[i].get_rc, 0);
	}
}

/* Closing: the queued jobs are told at once, cancelled, without
 * running; the running one when it returns, as done. */
static void
test_close(void **state)
{
	struct fixture *f = *state;
	pthread_mutex_t gate = PTHREAD_MUTEX_INITIALIZER;
	char id[STORE_RUN_ID_LEN + 1];
	struct job j[3];
	int i;

	new_run(f, id);
	assert_int_equal(store_settle(f->st), 0);
	for (i = 0; i < 3; i++)
		job_init(&j[i], id);
	j[0].gate = &gate;
	pthread_mutex_lock(&gate);
	storeq_submit(f->q, &j[0].j);
	storeq_settled(f->q); /* j[0] starts, and waits on the gate */
	storeq_submit(f->q, &j[1].j);
	storeq_submit(f->q, &j[2].j);
	storeq_settled(f->q); /* ready, behind the running j[0] */
	storeq_close(f->q);
	f->q = NULL;
	assert_false(j[0].done);
	for (i = 1; i < 3; i++) {
		assert_true(j[i].done);
		assert_true(j[i].cancelled);
		assert_false(j[i].ran);
	}
	pthread_mutex_unlock(&gate);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	assert_true(j[0].ran);
	assert_true(j[0].done);
	assert_false(j[0].cancelled);
	assert_int_equal(j[0].get_rc, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
		    test_waits_for_the_settle, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_unsettled_unseen, setup, teardown),
		cmocka_unit_test_setup_teardown(test_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_grouped, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_asked_from_done, setup, teardown),
		cmocka_unit_test_setup_teardown(test_close, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
