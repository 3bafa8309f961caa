/*
 * Unit tests of the store: every call's round trip, the secret-version
 * state machine, the encryption's refusals (wrong key, tampering, moved
 * ciphertexts), rekeying, schema versions and the master key file.
 *
 * Each test runs in a directory of its own from mkdtemp(), removed after.
 * Tests that tamper with the file use SQLite directly, so they know the
 * SQLite backend's table names.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* nftw() */
#endif
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "secret.h"
#include "store.h"

#define T0 1700000000 /* a fixed "now" */
#define SCHEMA_NOW 6  /* store_sqlite.c's migrations */

struct fixture {
	char dir[64];
	char db[128];
	char keyfile[128];
	struct secret *key;
	struct store *st;
	char err[512];
};

static int
rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static struct secret *
make_secret(const char *s)
{
	struct secret *v = NULL;

	assert_int_equal(secret_new(s, strlen(s), &v), 0);
	return v;
}

/* A key of 32 copies of byte C. */
static struct secret *
make_key(unsigned char c)
{
	unsigned char k[STORE_KEY_LEN];
	struct secret *v = NULL;

	memset(k, c, sizeof(k));
	assert_int_equal(secret_new(k, sizeof(k), &v), 0);
	return v;
}

static void
assert_secret(const struct secret *v, const char *want)
{
	assert_non_null(v);
	assert_int_equal(secret_len(v), strlen(want));
	assert_memory_equal(secret_data(v), want, strlen(want));
}

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/test_store.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->db, sizeof(f->db), "%s/rotad.db", f->dir);
	snprintf(f->keyfile, sizeof(f->keyfile), "%s/master.key", f->dir);
	f->key = make_key(0x11);
	*state = f;
	return 0;
}

/* setup, and an open store */
static int
setup_open(void **state)
{
	struct fixture *f;

	setup(state);
	f = *state;
	assert_int_equal(store_open(f->db, f->key, STORE_OPEN_CREATE, &f->st,
			     f->err, sizeof(f->err)),
	    0);
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	store_close(f->st);
	secret_free(f->key);
	nftw(f->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

static void
reopen_with(struct fixture *f, int flags)
{
	store_close(f->st);
	f->st = NULL;
	assert_int_equal(
	    store_open(f->db, f->key, flags, &f->st, f->err, sizeof(f->err)),
	    0);
}

static void
reopen(struct fixture *f)
{
	reopen_with(f, 0);
}

/*
 * Only STORE_OPEN_CREATE makes a store: without it a missing or empty
 * file is refused with a message that says what to do, and nothing is
 * created in its place.
 */
static void
test_open_never_creates(void **state)
{
	struct fixture *f = *state;
	struct stat sb;
	int fd;

	assert_int_equal(
	    store_open(f->db, f->key, 0, &f->st, f->err, sizeof(f->err)),
	    -ENOENT);
	assert_null(f->st);
	assert_non_null(strstr(f->err, "rotad --init"));
	assert_int_equal(stat(f->db, &sb), -1);

	fd = open(f->db, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(
	    store_open(f->db, f->key, 0, &f->st, f->err, sizeof(f->err)),
	    -ENODATA);
	assert_non_null(strstr(f->err, "is empty"));
	assert_int_equal(stat(f->db, &sb), 0);
	assert_int_equal(sb.st_size, 0);

	/* A real store opens without the flag. */
	assert_int_equal(unlink(f->db), 0);
	assert_int_equal(store_open(f->db, f->key, STORE_OPEN_CREATE, &f->st,
			     f->err, sizeof(f->err)),
	    0);
	reopen(f);
	assert_non_null(f->st);
}

/* Run SQL on the store's file directly, as an attacker or a test would. */
static void
sql(struct fixture *f, const char *q)
{
	sqlite3 *db = NULL;
	char *msg = NULL;

	assert_int_equal(sqlite3_open(f->db, &db), SQLITE_OK);
	if (sqlite3_exec(db, q, NULL, NULL, &msg) != SQLITE_OK)
		fail_msg("%s: %s", q, msg);
	sqlite3_close(db);
}

static int64_t
sql_int(struct fixture *f, const char *q)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *s = NULL;
	int64_t v;

	assert_int_equal(sqlite3_open(f->db, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, q, -1, &s, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(s), SQLITE_ROW);
	v = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	sqlite3_close(db);
	return v;
}

static int64_t
schema_version(struct fixture *f)
{
	return sql_int(
	    f, "SELECT value FROM meta WHERE key = 'schema_version'");
}

static void
new_run(struct fixture *f, const char *user, char id[STORE_RUN_ID_LEN + 1])
{
	struct store_run r = { 0 };

	assert_int_equal(store_run_id_new(r.id), 0);
	snprintf(r.user, sizeof(r.user), "%s", user);
	r.state = STORE_RUN_PREPARED;
	r.created = r.updated = T0;
	assert_int_equal(store_run_create(f->st, &r), 0);
	memcpy(id, r.id, sizeof(r.id));
}

static void
seed(struct fixture *f, const char *user, const char *value)
{
	struct secret *v = make_secret(value);

	assert_int_equal(store_secret_seed(f->st, user, v, T0, NULL), 0);
	secret_free(v);
}

static int64_t
pending(struct fixture *f, const char *user, const char *value, int64_t now)
{
	char id[STORE_RUN_ID_LEN + 1];
	struct secret *v = make_secret(value);
	int64_t version = 0;

	new_run(f, user, id);
	assert_int_equal(
	    store_secret_put_pending(f->st, user, v, id, now, &version), 0);
	secret_free(v);
	return version;
}

static void
expect_slot(struct fixture *f, const char *user, enum store_slot slot,
    const char *value, int64_t version)
{
	struct secret *v = NULL;
	int64_t got = -1;
	int r;

	r = store_secret_get(f->st, user, slot, &v, &got);
	if (value == NULL) {
		assert_int_equal(r, -ENOENT);
		assert_null(v);
		return;
	}
	if (r != 0)
		fail_msg("%s: %s", user, store_last_error(f->st));
	assert_int_equal(got, version);
	assert_secret(v, value);
	secret_free(v);
}

/* ---- opening and the schema ---- */

static void
test_open_creates(void **state)
{
	struct fixture *f = *state;
	char wal[160];
	struct stat sb;

	umask(022);
	assert_int_equal(store_open(f->db, f->key, STORE_OPEN_CREATE, &f->st,
			     f->err, sizeof(f->err)),
	    0);
	assert_int_equal(stat(f->db, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	/* The WAL exists while the store is open, with the same mode. */
	seed(f, "alice", "pw");
	snprintf(wal, sizeof(wal), "%s-wal", f->db);
	assert_int_equal(stat(wal, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	assert_int_equal(sql_int(f, "PRAGMA journal_mode = WAL"), 0);
	assert_int_equal(schema_version(f), SCHEMA_NOW);
	assert_int_equal(sql_int(f, "PRAGMA application_id"), 0x726f7461);
	reopen(f);
	expect_slot(f, "alice", STORE_CURRENT, "pw", 1);
	assert_string_equal(store_last_error(f->st), "");
}

/* Migrations from an empty file, as a package's tmpfiles.d might make. */
static void
test_open_empty_file(void **state)
{
	struct fixture *f = *state;
	int fd;

	fd = open(f->db, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(store_open(f->db, f->key, STORE_OPEN_CREATE, &f->st,
			     f->err, sizeof(f->err)),
	    0);
	assert_int_equal(schema_version(f), SCHEMA_NOW);
	assert_int_equal(sql_int(f,
			     "SELECT count(*) FROM sqlite_schema"
			     " WHERE name IN ('secrets', 'runs',"
			     " 'schedule', 'events', 'meta', 'run_outputs')"),
	    6);
	assert_int_equal(sql_int(f,
			     "SELECT length(value) FROM meta"
			     " WHERE key = 'dek'"),
	    12 + 32 + 16);
}

static void
test_open_newer_schema(void **state)
{
	struct fixture *f = *state;

	reopen(f);
	store_close(f->st);
	f->st = NULL;
	sql(f, "UPDATE meta SET value = 99 WHERE key = 'schema_version'");
	assert_int_equal(store_open(f->db, f->key, STORE_OPEN_CREATE, &f->st,
			     f->err, sizeof(f->err)),
	    -EPROTO);
	assert_null(f->st);
	assert_non_null(strstr(f->err, "schema version 99"));
}

static void
test_open_foreign_db(void **state)
{
	struct fixture *f = *state;

	sql(f, "CREATE TABLE accounts (id INTEGER PRIMARY KEY)");
	chmod(f->db, 0600);
	assert_int_equal(store_open(f->db, f->key, STORE_OPEN_CREATE, &f->st,
			     f->err, sizeof(f->err)),
	    -EINVAL);
	assert_non_null(strstr(f->err, "not a rotad store"));
	/* Left as it was. */
	assert_int_equal(sql_int(f, "SELECT count(*) FROM sqlite_schema"), 1);
}

static void
test_open_not_a_database(void **state)
{
	struct fixture *f = *state;
	int fd;

	fd = open(f->db, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(
	    write(fd, "root:x:0:0:root:/root:/bin/bash\n", 32), 32);
	close(fd);
	assert_int_equal(store_open(f->db, f->key, STORE_OPEN_CREATE, &f->st,
			     f->err, sizeof(f->err)),
	    -EIO);
	assert_non_null(strstr(f->err, f->db));
}

/* A damaged page: quick_check at open must refuse the store. */
static void
test_open_corrupt(void **state)
{
	struct fixture *f = *state;
	unsigned char junk[64];
	int64_t page, size;
	int fd, i;

	for (i = 0; i < 200; i++) {
		char user[32];

		snprintf(user, sizeof(user), "user%03d", i);
		seed(f, user, "some password of a decent length");
	}
	store_close(f->st); /* checkpoints the WAL into the file */
	f->st = NULL;
	page = sql_int(f,
	    "SELECT rootpage FROM sqlite_schema"
	    " WHERE name = 'secrets_current'");
	size = sql_int(f, "PRAGMA page_size");
	memset(junk, 0xa5, sizeof(junk));
	fd = open(f->db, O_WRONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	/* The index's root page, past its header: cell pointers and
	 * content become nonsense. */
	assert_int_equal(
	    pwrite(fd, junk, sizeof(junk), (off_t)((page - 1) * size + 16)),
	    (ssize_t)sizeof(junk));
	close(fd);
	assert_int_equal(store_open(f->db, f->key, STORE_OPEN_CREATE, &f->st,
			     f->err, sizeof(f->err)),
	    -EIO);
	assert_non_null(strstr(f->err, "integrity check failed"));
}

static void
test_open_wrong_key(void **state)
{
	struct fixture *f = *state;
	struct secret *other = make_key(0x22);

	store_close(f->st);
	f->st = NULL;
	assert_int_equal(store_open(f->db, other, STORE_OPEN_CREATE, &f->st,
			     f->err, sizeof(f->err)),
	    -EKEYREJECTED);
	assert_null(f->st);
	assert_non_null(
	    strstr(f->err, "the master key does not open this store"));
	secret_free(other);
}

static void
test_open_bad_arguments(void **state)
{
	struct fixture *f = *state;
	struct secret *short_key = make_secret("0123456789");
	char link[160];

	assert_int_equal(store_open(f->db, short_key, STORE_OPEN_CREATE, &f->st,
			     f->err, sizeof(f->err)),
	    -EINVAL);
	assert_int_equal(
	    store_open(f->db, NULL, STORE_OPEN_CREATE, &f->st, NULL, 0),
	    -EINVAL);
	assert_int_equal(store_open("postgresql://db.example/rotad", f->key,
			     STORE_OPEN_CREATE, &f->st, f->err, sizeof(f->err)),
	    -EPROTONOSUPPORT);
	assert_int_equal(store_open("", f->key, STORE_OPEN_CREATE, &f->st,
			     f->err, sizeof(f->err)),
	    -EINVAL);
	/* A store that is a symbolic link is refused. */
	assert_int_equal(store_open(f->db, f->key, STORE_OPEN_CREATE, &f->st,
			     f->err, sizeof(f->err)),
	    0);
	store_close(f->st);
	f->st = NULL;
	snprintf(link, sizeof(link), "%s/link.db", f->dir);
	assert_int_equal(symlink(f->db, link), 0);
	assert_int_equal(store_open(link, f->key, STORE_OPEN_CREATE, &f->st,
			     f->err, sizeof(f->err)),
	    -ELOOP);
	secret_free(short_key);
	store_close(NULL);
}

/* ---- secret versions ---- */

struct history {
	int n;
	struct store_secret_info v[16];
};

static int
collect_history(const struct store_secret_info *info, void *arg)
{
	struct history *h = arg;

	assert_true(h->n < 16);
	h->v[h->n++] = *info;
	return 0;
}

static void
test_secret_versions(void **state)
{
	struct fixture *f = *state;
	struct history h = { 0 };
	struct secret *v = NULL;
	enum store_secret_state st;
	int64_t v2, v3;

	expect_slot(f, "alice", STORE_CURRENT, NULL, 0);
	seed(f, "alice", "first");
	expect_slot(f, "alice", STORE_CURRENT, "first", 1);
	expect_slot(f, "alice", STORE_PREVIOUS, NULL, 0);
	expect_slot(f, "alice", STORE_PENDING, NULL, 0);

	/* One rotation. */
	v2 = pending(f, "alice", "second", T0 + 10);
	assert_int_equal(v2, 2);
	expect_slot(f, "alice", STORE_PENDING, "second", 2);
	expect_slot(f, "alice", STORE_CURRENT, "first", 1);
	assert_int_equal(store_secret_commit(f->st, "alice", v2, T0 + 20), 0);
	expect_slot(f, "alice", STORE_PENDING, NULL, 0);
	expect_slot(f, "alice", STORE_CURRENT, "second", 2);
	expect_slot(f, "alice", STORE_PREVIOUS, "first", 1);

	/* Another: the first becomes history. */
	v3 = pending(f, "alice", "third", T0 + 30);
	assert_int_equal(store_secret_commit(f->st, "alice", v3, T0 + 40), 0);
	expect_slot(f, "alice", STORE_CURRENT, "third", 3);
	expect_slot(f, "alice", STORE_PREVIOUS, "second", 2);

	assert_int_equal(
	    store_secret_history(f->st, "alice", collect_history, &h), 0);
	assert_int_equal(h.n, 3);
	assert_int_equal(h.v[0].version, 3);
	assert_int_equal(h.v[0].state, STORE_SECRET_CURRENT);
	assert_int_equal(h.v[0].created, T0 + 30);
	assert_int_equal(h.v[0].changed, T0 + 40);
	assert_int_equal(strlen(h.v[0].run_id), STORE_RUN_ID_LEN);
	assert_int_equal(h.v[1].version, 2);
	assert_int_equal(h.v[1].state, STORE_SECRET_PREVIOUS);
	assert_int_equal(h.v[2].version, 1);
	assert_int_equal(h.v[2].state, STORE_SECRET_HISTORY);
	assert_string_equal(h.v[2].run_id, ""); /* seeded */
	assert_int_equal(h.v[2].created, T0);
	assert_int_equal(h.v[2].changed, T0 + 40);

	/* History values stay readable by version. */
	assert_int_equal(
	    store_secret_get_version(f->st, "alice", 1, &v, &st), 0);
	assert_secret(v, "first");
	assert_int_equal(st, STORE_SECRET_HISTORY);
	secret_free(v);
	assert_int_equal(
	    store_secret_get_version(f->st, "alice", 9, &v, &st), -ENOENT);

	/* A repeated commit (recovery) is a no-op; a stale one is not. */
	assert_int_equal(store_secret_commit(f->st, "alice", v3, T0 + 50), 0);
	assert_int_equal(
	    store_secret_commit(f->st, "alice", v2, T0 + 50), -ENOENT);
	assert_int_equal(
	    store_secret_commit(f->st, "alice", 42, T0 + 50), -ENOENT);
	expect_slot(f, "alice", STORE_CURRENT, "third", 3);
	expect_slot(f, "alice", STORE_PREVIOUS, "second", 2);

	/* Users do not see each other's versions. */
	expect_slot(f, "bob", STORE_CURRENT, NULL, 0);
	h.n = 0;
	assert_int_equal(
	    store_secret_history(f->st, "bob", collect_history, &h), 0);
	assert_int_equal(h.n, 0);
}

/*
 * A read snapshot: reads inside see the store as at its first read, a
 * writer on another connection is not held up by it, and it is refused
 * inside a transaction.
 */
static void
test_read_snapshot(void **state)
{
	struct fixture *f = *state;
	struct store *other = NULL;
	struct secret *v = make_secret("b");

	seed(f, "alice", "a");
	assert_int_equal(store_open(f->db, f->key, 0, &other, f->err,
			     sizeof(f->err)),
	    0);
	assert_int_equal(store_read_begin(f->st), 0);
	expect_slot(f, "alice", STORE_CURRENT, "a", 1);
	assert_int_equal(store_secret_seed(other, "bob", v, T0, NULL), 0);
	expect_slot(f, "bob", STORE_CURRENT, NULL, 0);
	store_read_end(f->st);
	expect_slot(f, "bob", STORE_CURRENT, "b", 1);
	store_read_end(f->st); /* ending none is harmless */

	assert_int_equal(store_begin(f->st), 0);
	assert_int_equal(store_read_begin(f->st), -EINVAL);
	assert_int_equal(store_rollback(f->st), 0);
	store_close(other);
	secret_free(v);
}

static void
test_secret_discard(void **state)
{
	struct fixture *f = *state;
	struct history h = { 0 };
	int64_t v2, v3;

	seed(f, "alice", "first");
	v2 = pending(f, "alice", "second", T0 + 10);
	assert_int_equal(
	    store_secret_discard_pending(f->st, "alice", v2, T0 + 20), 0);
	expect_slot(f, "alice", STORE_PENDING, NULL, 0);
	expect_slot(f, "alice", STORE_CURRENT, "first", 1);
	/* Idempotent; but a current version is not pending. */
	assert_int_equal(
	    store_secret_discard_pending(f->st, "alice", v2, T0 + 20), 0);
	assert_int_equal(
	    store_secret_discard_pending(f->st, "alice", 1, T0 + 20), -ENOENT);
	assert_int_equal(
	    store_secret_commit(f->st, "alice", v2, T0 + 20), -ENOENT);
	/* Versions are never reused. */
	v3 = pending(f, "alice", "third", T0 + 30);
	assert_int_equal(v3, 3);
	assert_int_equal(store_secret_commit(f->st, "alice", v3, T0 + 40), 0);
	expect_slot(f, "alice", STORE_PREVIOUS, "first", 1);
	assert_int_equal(
	    store_secret_history(f->st, "alice", collect_history, &h), 0);
	assert_int_equal(h.n, 3);
	assert_int_equal(h.v[1].state, STORE_SECRET_DISCARDED);
	assert_string_equal(store_secret_state_name(h.v[1].state), "discarded");
}

static void
test_secret_refusals(void **state)
{
	struct fixture *f = *state;
	struct secret *v = make_secret("x"), *empty = NULL;
	char id[STORE_RUN_ID_LEN + 1], other[STORE_RUN_ID_LEN + 1];
	char longname[STORE_USER_MAX + 2];

	seed(f, "alice", "first");
	new_run(f, "alice", id);
	new_run(f, "bob", other);
	/* The run must exist and be the user's. */
	assert_int_equal(store_secret_put_pending(f->st, "alice", v,
			     "00000000-0000-4000-8000-000000000000", T0, NULL),
	    -ENOENT);
	assert_int_equal(
	    store_secret_put_pending(f->st, "alice", v, other, T0, NULL),
	    -EINVAL);
	assert_int_equal(
	    store_secret_put_pending(f->st, "alice", v, "nope", T0, NULL),
	    -EINVAL);
	/* One pending at a time; no seed while one pends. */
	assert_int_equal(
	    store_secret_put_pending(f->st, "alice", v, id, T0, NULL), 0);
	assert_int_equal(
	    store_secret_put_pending(f->st, "alice", v, id, T0, NULL), -EEXIST);
	assert_non_null(strstr(store_last_error(f->st), "already has pending"));
	assert_int_equal(
	    store_secret_seed(f->st, "alice", v, T0, NULL), -EBUSY);
	expect_slot(f, "alice", STORE_CURRENT, "first", 1);
	/* Bad users and values. */
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	assert_int_equal(
	    store_secret_seed(f->st, longname, v, T0, NULL), -EINVAL);
	assert_int_equal(store_secret_seed(f->st, "", v, T0, NULL), -EINVAL);
	assert_int_equal(store_secret_seed(f->st, NULL, v, T0, NULL), -EINVAL);
	assert_int_equal(secret_new(NULL, 0, &empty), 0);
	assert_int_equal(
	    store_secret_seed(f->st, "bob", empty, T0, NULL), -EINVAL);
	assert_int_equal(
	    store_secret_seed(f->st, "bob", NULL, T0, NULL), -EINVAL);
	secret_free(empty);
	secret_free(v);
}

/* Values are bytes, not strings: NUL and high bytes survive. */
static void
test_secret_binary(void **state)
{
	struct fixture *f = *state;
	unsigned char raw[3000];
	struct secret *v = NULL, *got = NULL;
	size_t i;

	for (i = 0; i < sizeof(raw); i++)
		raw[i] = (unsigned char)(i * 7);
	assert_int_equal(secret_new(raw, sizeof(raw), &v), 0);
	assert_int_equal(store_secret_seed(f->st, "key-user", v, T0, NULL), 0);
	reopen(f);
	assert_int_equal(
	    store_secret_get(f->st, "key-user", STORE_CURRENT, &got, NULL), 0);
	assert_true(secret_equal(v, got));
	secret_free(v);
	secret_free(got);
}

/* ---- tampering ---- */

/* Flip one bit of USER's VERSION's stored value at OFFSET (from the end
 * if negative), as an attacker with write access to the file could. */
static void
flip(struct fixture *f, const char *user, int version, int offset)
{
	unsigned char buf[1024];
	sqlite3 *db = NULL;
	sqlite3_stmt *s = NULL;
	int n;

	assert_int_equal(sqlite3_open(f->db, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db,
			     "SELECT value FROM secrets"
			     " WHERE user_name = ?1 AND version = ?2",
			     -1, &s, NULL),
	    SQLITE_OK);
	sqlite3_bind_text(s, 1, user, -1, SQLITE_STATIC);
	sqlite3_bind_int(s, 2, version);
	assert_int_equal(sqlite3_step(s), SQLITE_ROW);
	n = sqlite3_column_bytes(s, 0);
	assert_true(n > 0 && (size_t)n <= sizeof(buf));
	memcpy(buf, sqlite3_column_blob(s, 0), (size_t)n);
	sqlite3_finalize(s);
	if (offset < 0)
		offset += n;
	buf[offset] ^= 0x01;
	assert_int_equal(sqlite3_prepare_v2(db,
			     "UPDATE secrets SET value = ?3"
			     " WHERE user_name = ?1 AND version = ?2",
			     -1, &s, NULL),
	    SQLITE_OK);
	sqlite3_bind_text(s, 1, user, -1, SQLITE_STATIC);
	sqlite3_bind_int(s, 2, version);
	sqlite3_bind_blob(s, 3, buf, n, SQLITE_STATIC);
	assert_int_equal(sqlite3_step(s), SQLITE_DONE);
	sqlite3_finalize(s);
	sqlite3_close(db);
}

static void
test_tampered_ciphertext(void **state)
{
	struct fixture *f = *state;
	static const int offsets[] = { 0, 11, 12, 15, -17, -1 };
	struct secret *v = NULL;
	size_t i;

	for (i = 0; i < sizeof(offsets) / sizeof(offsets[0]); i++) {
		char user[16];

		snprintf(user, sizeof(user), "u%zu", i);
		seed(f, user, "correct horse battery staple");
		/* nonce, ciphertext, tag: any flipped bit is caught */
		flip(f, user, 1, offsets[i]);
		assert_int_equal(
		    store_secret_get(f->st, user, STORE_CURRENT, &v, NULL),
		    -EBADMSG);
		assert_null(v);
		assert_non_null(
		    strstr(store_last_error(f->st), "does not decrypt"));
		flip(f, user, 1, offsets[i]); /* and back */
		assert_int_equal(
		    store_secret_get(f->st, user, STORE_CURRENT, &v, NULL), 0);
		assert_secret(v, "correct horse battery staple");
		secret_free(v);
		v = NULL;
	}
	/* A truncated value. */
	sql(f, "UPDATE secrets SET value = x'00' WHERE user_name = 'u0'");
	assert_int_equal(
	    store_secret_get(f->st, "u0", STORE_CURRENT, &v, NULL), -EBADMSG);
}

/* A ciphertext copied to another user's row, or another version's. */
static void
test_ciphertext_moved(void **state)
{
	struct fixture *f = *state;
	struct secret *v = NULL;

	seed(f, "alice", "alice's password");
	seed(f, "bob", "bob's password");
	seed(f, "bob", "bob's next password");
	sql(f,
	    "UPDATE secrets SET value = (SELECT value FROM secrets"
	    " WHERE user_name = 'alice' AND version = 1)"
	    " WHERE user_name = 'bob' AND version = 1");
	assert_int_equal(
	    store_secret_get(f->st, "bob", STORE_PREVIOUS, &v, NULL), -EBADMSG);
	assert_null(v);
	/* Same user, another version. */
	sql(f,
	    "UPDATE secrets SET value = (SELECT value FROM secrets"
	    " WHERE user_name = 'alice' AND version = 1)"
	    " WHERE user_name = 'alice' AND version = 1;"
	    "UPDATE secrets SET value = (SELECT value FROM secrets"
	    " WHERE user_name = 'bob' AND version = 2)"
	    " WHERE user_name = 'alice' AND version = 1");
	assert_int_equal(
	    store_secret_get(f->st, "alice", STORE_CURRENT, &v, NULL),
	    -EBADMSG);
	/* Renaming the row's user does not help either. */
	sql(f,
	    "UPDATE secrets SET user_name = 'carol' WHERE user_name = 'bob'"
	    " AND version = 2");
	assert_int_equal(
	    store_secret_get(f->st, "carol", STORE_CURRENT, &v, NULL),
	    -EBADMSG);
}

/* ---- rekey ---- */

/* Whether the bytes NEEDLE appear in file PATH. */
static bool
file_contains(const char *path, const unsigned char *needle, size_t n)
{
	unsigned char *buf;
	struct stat sb;
	bool found = false;
	size_t i;
	FILE *fp;

	fp = fopen(path, "rbe");
	if (fp == NULL)
		return false;
	assert_int_equal(fstat(fileno(fp), &sb), 0);
	buf = malloc((size_t)sb.st_size + 1);
	assert_non_null(buf);
	assert_int_equal(
	    fread(buf, 1, (size_t)sb.st_size, fp), (size_t)sb.st_size);
	fclose(fp);
	for (i = 0; !found && i + n <= (size_t)sb.st_size; i++)
		found = memcmp(buf + i, needle, n) == 0;
	free(buf);
	return found;
}

static void
test_rekey(void **state)
{
	struct fixture *f = *state;
	struct secret *newkey = make_key(0x33), *v = NULL;
	unsigned char old_dek[60];
	sqlite3 *db = NULL;
	sqlite3_stmt *s = NULL;
	char wal[160];

	seed(f, "alice", "first");
	seed(f, "alice", "second");
	reopen(f); /* the old wrapping now in the main file, not the WAL */
	assert_int_equal(sqlite3_open(f->db, &db), SQLITE_OK);
	assert_int_equal(
	    sqlite3_prepare_v2(
		db, "SELECT value FROM meta WHERE key = 'dek'", -1, &s, NULL),
	    SQLITE_OK);
	assert_int_equal(sqlite3_step(s), SQLITE_ROW);
	assert_int_equal(sqlite3_column_bytes(s, 0), sizeof(old_dek));
	memcpy(old_dek, sqlite3_column_blob(s, 0), sizeof(old_dek));
	sqlite3_finalize(s);
	sqlite3_close(db);

	assert_int_equal(store_rekey(f->st, newkey), 0);
	/* The open store keeps working: the DEK did not change. */
	expect_slot(f, "alice", STORE_CURRENT, "second", 2);
	/* The old wrapping is gone from the file and its WAL. */
	snprintf(wal, sizeof(wal), "%s-wal", f->db);
	assert_false(file_contains(f->db, old_dek, sizeof(old_dek)));
	assert_false(file_contains(wal, old_dek, sizeof(old_dek)));

	store_close(f->st);
	f->st = NULL;
	assert_int_equal(store_open(f->db, f->key, STORE_OPEN_CREATE, &f->st,
			     f->err, sizeof(f->err)),
	    -EKEYREJECTED);
	secret_free(f->key);
	f->key = newkey;
	reopen(f);
	expect_slot(f, "alice", STORE_CURRENT, "second", 2);
	expect_slot(f, "alice", STORE_PREVIOUS, "first", 1);
	assert_int_equal(store_rekey(f->st, NULL), -EINVAL);
	assert_int_equal(secret_new("short", 5, &v), 0);
	assert_int_equal(store_rekey(f->st, v), -EINVAL);
	secret_free(v);
}

/* ---- runs ---- */

struct runs {
	int n;
	struct store_run v[16];
	struct store *st; /* to call back into */
	int stop_at;
};

static int
collect_runs(const struct store_run *r, void *arg)
{
	struct runs *rs = arg;

	assert_true(rs->n < 16);
	rs->v[rs->n++] = *r;
	if (rs->st != NULL) {
		/* Callbacks may write: recovery marks runs as it goes. */
		struct store_run u = *r;

		u.state = STORE_RUN_FAILED;
		assert_int_equal(store_run_update(rs->st, &u), 0);
	}
	return rs->n == rs->stop_at ? 7 : 0;
}

static void
make_run(struct store_run *r, const char *user, enum store_run_state state,
    int64_t created)
{
	memset(r, 0, sizeof(*r));
	assert_int_equal(store_run_id_new(r->id), 0);
	snprintf(r->user, sizeof(r->user), "%s", user);
	r->state = state;
	r->created = r->updated = created;
}

static void
test_runs(void **state)
{
	struct fixture *f = *state;
	struct store_run a, b, c, got;
	struct runs rs = { 0 };

	make_run(&a, "alice", STORE_RUN_PREPARED, T0);
	make_run(&b, "bob", STORE_RUN_COMMITTED, T0 + 1);
	make_run(&c, "alice", STORE_RUN_APPLIED, T0 + 2);
	assert_int_equal(store_run_create(f->st, &a), 0);
	assert_int_equal(store_run_create(f->st, &b), 0);
	assert_int_equal(store_run_create(f->st, &c), 0);
	assert_int_equal(store_run_create(f->st, &a), -EEXIST);

	assert_int_equal(store_run_get(f->st, a.id, &got), 0);
	assert_memory_equal(&got, &a, sizeof(a));

	a.state = STORE_RUN_OUT_OF_SYNC;
	a.attempts = 3;
	a.error_class = STORE_ERROR_AUTH;
	a.updated = T0 + 100;
	snprintf(a.message, sizeof(a.message),
	    "neither 'pending' nor "
	    "'current' logs in: Permission denied (publickey,password)");
	assert_int_equal(store_run_update(f->st, &a), 0);
	reopen(f);
	assert_int_equal(store_run_get(f->st, a.id, &got), 0);
	assert_memory_equal(&got, &a, sizeof(a));
	assert_string_equal(store_run_state_name(got.state), "out_of_sync");
	assert_string_equal(store_error_class_name(got.error_class), "auth");

	/* Newest first, per user or all, with a limit. */
	assert_int_equal(
	    store_run_list(f->st, "alice", 0, collect_runs, &rs), 0);
	assert_int_equal(rs.n, 2);
	assert_string_equal(rs.v[0].id, c.id);
	assert_string_equal(rs.v[1].id, a.id);
	rs.n = 0;
	assert_int_equal(store_run_list(f->st, NULL, 2, collect_runs, &rs), 0);
	assert_int_equal(rs.n, 2);
	assert_string_equal(rs.v[0].id, c.id);
	assert_string_equal(rs.v[1].id, b.id);
	rs.n = 0;
	rs.stop_at = 1;
	assert_int_equal(store_run_list(f->st, NULL, 0, collect_runs, &rs), 7);
	assert_int_equal(rs.n, 1);

	/* Unfinished: not committed, not failed; oldest first.  The
	 * callback fails each one as it goes. */
	memset(&rs, 0, sizeof(rs));
	rs.st = f->st;
	assert_int_equal(
	    store_run_list_unfinished(f->st, collect_runs, &rs), 0);
	assert_int_equal(rs.n, 2);
	assert_string_equal(rs.v[0].id, a.id);
	assert_string_equal(rs.v[1].id, c.id);
	memset(&rs, 0, sizeof(rs));
	assert_int_equal(
	    store_run_list_unfinished(f->st, collect_runs, &rs), 0);
	assert_int_equal(rs.n, 0);

	/* Refusals. */
	make_run(&got, "carol", STORE_RUN_APPLIED, T0);
	assert_int_equal(store_run_update(f->st, &got), -ENOENT);
	assert_int_equal(store_run_get(f->st, got.id, &got), -ENOENT);
	assert_int_equal(store_run_get(f->st, "not-an-id", &got), -EINVAL);
	got.state = STORE_RUN_NONE;
	assert_int_equal(store_run_create(f->st, &got), -EINVAL);
	got.state = (enum store_run_state)42;
	assert_int_equal(store_run_create(f->st, &got), -EINVAL);
	got.state = STORE_RUN_PREPARED;
	got.attempts = -1;
	assert_int_equal(store_run_create(f->st, &got), -EINVAL);
	got.attempts = 0;
	memset(got.message, 'x', sizeof(got.message));
	assert_int_equal(store_run_create(f->st, &got), -EINVAL);
	assert_int_equal(
	    store_run_list(f->st, "alice", -1, collect_runs, &rs), -EINVAL);
}

static void
test_run_id_new(void **state)
{
	char a[STORE_RUN_ID_LEN + 1], b[STORE_RUN_ID_LEN + 1];
	int i;

	(void)state;
	for (i = 0; i < 100; i++) {
		assert_int_equal(store_run_id_new(a), 0);
		assert_int_equal(store_run_id_new(b), 0);
		assert_int_equal(strlen(a), 36);
		assert_string_not_equal(a, b);
		assert_true(a[8] == '-' && a[13] == '-' && a[18] == '-' &&
		    a[23] == '-');
		assert_int_equal(a[14], '4');
		assert_non_null(strchr("89ab", a[19]));
		assert_int_equal(strspn(a, "0123456789abcdef-"), 36);
	}
}

/* ---- run outputs ---- */

struct outputs {
	int n;
	int seq[8];
	bool ok[8];
	char script[8][STORE_SCRIPT_MAX + 1];
	char message[8][STORE_MESSAGE_MAX + 1];
	unsigned char *output[8]; /* malloc()ed copies */
	size_t len[8];
	struct store *st; /* to call back into */
	const char *other_run;
	int stop_at;
};

static int
collect_outputs(const struct store_run_output *o, void *arg)
{
	struct outputs *c = arg;
	int i = c->n;

	assert_true(i < 8);
	c->seq[i] = o->seq;
	c->ok[i] = o->ok;
	snprintf(c->script[i], sizeof(c->script[i]), "%s", o->script);
	snprintf(c->message[i], sizeof(c->message[i]), "%s", o->message);
	c->len[i] = o->output_len;
	if (o->output_len > 0) {
		assert_non_null(o->output);
		c->output[i] = malloc(o->output_len);
		assert_non_null(c->output[i]);
		memcpy(c->output[i], o->output, o->output_len);
	}
	c->n++;
	if (c->st != NULL) {
		/* The same statement, re-entered: the first walk must not
		 * be reading rows from it any more. */
		struct outputs inner = { 0 };
		int k;

		assert_int_equal(store_run_outputs(c->st, c->other_run,
				     collect_outputs, &inner),
		    0);
		assert_int_equal(inner.n, 1);
		for (k = 0; k < inner.n; k++)
			free(inner.output[k]);
	}
	return c->n == c->stop_at ? 7 : 0;
}

static void
outputs_reset(struct outputs *c)
{
	int i;

	for (i = 0; i < c->n; i++)
		free(c->output[i]);
	memset(c, 0, sizeof(*c));
}

static void
add_output(struct fixture *f, const char *run_id, int seq, const char *script,
    bool ok, const char *message, const void *output, size_t len)
{
	struct store_run_output o = { 0 };

	o.seq = seq;
	snprintf(o.script, sizeof(o.script), "%s", script);
	o.ok = ok;
	snprintf(o.message, sizeof(o.message), "%s", message);
	o.output = output;
	o.output_len = len;
	if (store_run_output_add(f->st, run_id, &o) != 0)
		fail_msg("seq %d: %s", seq, store_last_error(f->st));
}

static void
test_run_outputs(void **state)
{
	struct fixture *f = *state;
	char a[STORE_RUN_ID_LEN + 1], b[STORE_RUN_ID_LEN + 1];
	char unknown[STORE_RUN_ID_LEN + 1];
	static const char nuls[] = "a\0b\0\0c\0";
	struct outputs c = { 0 };
	unsigned char *big;
	size_t i;

	/* Every byte value, NULs included, over exactly the maximum. */
	big = malloc(STORE_OUTPUT_MAX);
	assert_non_null(big);
	for (i = 0; i < STORE_OUTPUT_MAX; i++)
		big[i] = (unsigned char)(i % 251);

	new_run(f, "alice", a);
	new_run(f, "bob", b);
	/* Added out of order: listed by seq. */
	add_output(f, a, 3, "/etc/rotad/hooks/3-big", true, "exit 0", big,
	    STORE_OUTPUT_MAX);
	add_output(f, a, 1, "/etc/rotad/hooks/1-reload", true, "exit 0",
	    "reloaded\n", 9);
	add_output(f, a, 2, "/etc/rotad/hooks/2-nuls", false, "exit status 1",
	    nuls, sizeof(nuls) - 1);
	add_output(f, a, 4, "/etc/rotad/hooks/4-quiet", true, "", NULL, 0);
	add_output(f, b, 1, "/etc/rotad/hooks/other", false,
	    "killed by "
	    "signal 9",
	    "other run", 9);
	reopen(f);

	c.st = f->st;
	c.other_run = b;
	assert_int_equal(store_run_outputs(f->st, a, collect_outputs, &c), 0);
	assert_int_equal(c.n, 4);
	for (i = 0; i < 4; i++)
		assert_int_equal(c.seq[i], (int)i + 1);
	assert_string_equal(c.script[0], "/etc/rotad/hooks/1-reload");
	assert_true(c.ok[0]);
	assert_string_equal(c.message[0], "exit 0");
	assert_int_equal(c.len[0], 9);
	assert_memory_equal(c.output[0], "reloaded\n", 9);

	assert_string_equal(c.script[1], "/etc/rotad/hooks/2-nuls");
	assert_false(c.ok[1]);
	assert_string_equal(c.message[1], "exit status 1");
	assert_int_equal(c.len[1], sizeof(nuls) - 1);
	assert_memory_equal(c.output[1], nuls, sizeof(nuls) - 1);

	assert_string_equal(c.script[2], "/etc/rotad/hooks/3-big");
	assert_int_equal(c.len[2], STORE_OUTPUT_MAX);
	assert_memory_equal(c.output[2], big, STORE_OUTPUT_MAX);

	assert_string_equal(c.script[3], "/etc/rotad/hooks/4-quiet");
	assert_string_equal(c.message[3], "");
	assert_int_equal(c.len[3], 0);
	assert_null(c.output[3]);

	/* Another run's outputs are its own. */
	outputs_reset(&c);
	assert_int_equal(store_run_outputs(f->st, b, collect_outputs, &c), 0);
	assert_int_equal(c.n, 1);
	assert_int_equal(c.seq[0], 1);
	assert_string_equal(c.message[0], "killed by signal 9");
	assert_memory_equal(c.output[0], "other run", 9);

	/* A run without outputs, and a run that does not exist. */
	outputs_reset(&c);
	new_run(f, "carol", unknown);
	assert_int_equal(
	    store_run_outputs(f->st, unknown, collect_outputs, &c), 0);
	assert_int_equal(store_run_id_new(unknown), 0);
	assert_int_equal(
	    store_run_outputs(f->st, unknown, collect_outputs, &c), 0);
	assert_int_equal(c.n, 0);

	/* The callback's non-zero return stops the walk and is returned. */
	c.stop_at = 2;
	assert_int_equal(store_run_outputs(f->st, a, collect_outputs, &c), 7);
	assert_int_equal(c.n, 2);
	assert_int_equal(c.seq[1], 2);
	outputs_reset(&c);
	free(big);
}

static void
test_run_output_refusals(void **state)
{
	struct fixture *f = *state;
	char a[STORE_RUN_ID_LEN + 1], unknown[STORE_RUN_ID_LEN + 1];
	struct store_run_output o = { 0 };
	struct outputs c = { 0 };
	char *big;

	big = calloc(1, STORE_OUTPUT_MAX + 1);
	assert_non_null(big);
	new_run(f, "alice", a);
	assert_int_equal(store_run_id_new(unknown), 0);
	o.seq = 1;
	snprintf(o.script, sizeof(o.script), "/etc/rotad/hooks/reload");
	snprintf(o.message, sizeof(o.message), "exit 0");
	o.output = "first";
	o.output_len = 5;

	/* One byte too many. */
	o.output = big;
	o.output_len = STORE_OUTPUT_MAX + 1;
	assert_int_equal(store_run_output_add(f->st, a, &o), -EINVAL);
	assert_non_null(strstr(store_last_error(f->st), "at most 65536"));
	o.output = NULL;
	o.output_len = 3;
	assert_int_equal(store_run_output_add(f->st, a, &o), -EINVAL);
	assert_non_null(strstr(store_last_error(f->st), "no run output"));
	assert_int_equal(sql_int(f, "SELECT count(*) FROM run_outputs"), 0);

	o.output = "first";
	o.output_len = 5;
	assert_int_equal(store_run_output_add(f->st, unknown, &o), -ENOENT);
	assert_non_null(strstr(store_last_error(f->st), unknown));
	assert_int_equal(store_run_output_add(f->st, a, &o), 0);
	/* A seq is written once: the first output stays. */
	o.output = "second";
	o.output_len = 6;
	assert_int_equal(store_run_output_add(f->st, a, &o), -EEXIST);
	assert_non_null(
	    strstr(store_last_error(f->st), "already has output 1"));
	assert_int_equal(store_run_outputs(f->st, a, collect_outputs, &c), 0);
	assert_int_equal(c.n, 1);
	assert_int_equal(c.len[0], 5);
	assert_memory_equal(c.output[0], "first", 5);
	outputs_reset(&c);

	/* Inside a transaction, a refused add undoes only itself. */
	assert_int_equal(store_begin(f->st), 0);
	o.seq = 2;
	assert_int_equal(store_run_output_add(f->st, a, &o), 0);
	assert_int_equal(store_run_output_add(f->st, a, &o), -EEXIST);
	assert_int_equal(store_commit(f->st), 0);
	assert_int_equal(sql_int(f, "SELECT count(*) FROM run_outputs"), 2);

	/* Arguments. */
	o.seq = 0;
	assert_int_equal(store_run_output_add(f->st, a, &o), -EINVAL);
	assert_non_null(strstr(store_last_error(f->st), "seq"));
	o.seq = -1;
	assert_int_equal(store_run_output_add(f->st, a, &o), -EINVAL);
	o.seq = 3;
	o.script[0] = '\0';
	assert_int_equal(store_run_output_add(f->st, a, &o), -EINVAL);
	assert_non_null(strstr(store_last_error(f->st), "script path"));
	memset(o.script, 'x', sizeof(o.script));
	assert_int_equal(store_run_output_add(f->st, a, &o), -EINVAL);
	/* The longest path that fits is fine. */
	o.script[STORE_SCRIPT_MAX] = '\0';
	assert_int_equal(store_run_output_add(f->st, a, &o), 0);
	o.seq = 4;
	memset(o.message, 'x', sizeof(o.message));
	assert_int_equal(store_run_output_add(f->st, a, &o), -EINVAL);
	assert_non_null(strstr(store_last_error(f->st), "message"));
	o.message[0] = '\0';
	assert_int_equal(store_run_output_add(f->st, a, NULL), -EINVAL);
	assert_int_equal(store_run_output_add(f->st, NULL, &o), -EINVAL);
	assert_int_equal(store_run_output_add(f->st, "bogus", &o), -EINVAL);
	assert_non_null(strstr(store_last_error(f->st), "not a run id"));
	assert_int_equal(
	    store_run_outputs(f->st, NULL, collect_outputs, &c), -EINVAL);
	assert_int_equal(
	    store_run_outputs(f->st, "bogus", collect_outputs, &c), -EINVAL);
	assert_int_equal(c.n, 0);
	assert_int_equal(sql_int(f, "SELECT count(*) FROM run_outputs"), 3);
	free(big);
}

/* A store written by the schema-1 code gains run_outputs at its next
 * open, and keeps what it had. */
static void
test_run_outputs_migration(void **state)
{
	struct fixture *f = *state;
	char id[STORE_RUN_ID_LEN + 1];
	struct outputs c = { 0 };
	struct store_run run;

	assert_int_equal(store_open(f->db, f->key, STORE_OPEN_CREATE, &f->st,
			     f->err, sizeof(f->err)),
	    0);
	seed(f, "alice", "pw");
	new_run(f, "alice", id);
	store_close(f->st);
	f->st = NULL;
	/* Step 1 is unchanged, so this is what schema-1 code left. */
	sql(f,
	    "DROP TABLE run_outputs;"
	    "DROP TABLE event_cursors;"
	    "ALTER TABLE schedule DROP COLUMN paused;"
	    "UPDATE meta SET value = 1 WHERE key = 'schema_version'");
	assert_int_equal(sql_int(f,
			     "SELECT count(*) FROM sqlite_schema"
			     " WHERE name = 'run_outputs'"),
	    0);

	reopen(f);
	assert_int_equal(schema_version(f), SCHEMA_NOW);
	assert_int_equal(sql_int(f,
			     "SELECT count(*) FROM sqlite_schema"
			     " WHERE name = 'run_outputs'"),
	    1);
	expect_slot(f, "alice", STORE_CURRENT, "pw", 1);
	assert_int_equal(store_run_get(f->st, id, &run), 0);
	assert_int_equal(store_run_outputs(f->st, id, collect_outputs, &c), 0);
	assert_int_equal(c.n, 0);
	add_output(
	    f, id, 1, "/etc/rotad/hooks/reload", true, "exit 0", "ok", 2);

	/* At the current version, an open changes nothing. */
	reopen(f);
	assert_int_equal(store_run_outputs(f->st, id, collect_outputs, &c), 0);
	assert_int_equal(c.n, 1);
	assert_memory_equal(c.output[0], "ok", 2);
	outputs_reset(&c);
}

/* Whether the schedule table has a column named COL. */
static int64_t
schedule_has(struct fixture *f, const char *col)
{
	char q[160];

	snprintf(q, sizeof(q),
	    "SELECT count(*) FROM pragma_table_info('schedule')"
	    " WHERE name = '%s'",
	    col);
	return sql_int(f, q);
}

/*
 * Schema 3 adds schedule.paused.  A store that schema-2 code left, with
 * schedule rows, opens: its rows keep their values and read as not
 * paused, and a pause written then survives a reopen.
 */
static void
test_schedule_paused_migration(void **state)
{
	struct fixture *f = *state;
	struct store_schedule s = { 0 }, got;

	assert_int_equal(store_open(f->db, f->key, STORE_OPEN_CREATE, &f->st,
			     f->err, sizeof(f->err)),
	    0);
	seed(f, "alice", "pw");
	s.next_fire = T0 + 3600;
	s.last_fire = T0;
	s.last_outcome = STORE_RUN_COMMITTED;
	assert_int_equal(store_schedule_put(f->st, "alice", &s), 0);
	assert_int_equal(store_schedule_put(f->st, "bob", &s), 0);
	store_close(f->st);
	f->st = NULL;
	/* Steps 1 and 2 are unchanged: this is what schema-2 code left. */
	sql(f,
	    "DROP TABLE event_cursors;"
	    "ALTER TABLE schedule DROP COLUMN paused;"
	    "UPDATE meta SET value = 2 WHERE key = 'schema_version'");
	assert_int_equal(schedule_has(f, "paused"), 0);

	reopen(f);
	assert_int_equal(schema_version(f), SCHEMA_NOW);
	assert_int_equal(schedule_has(f, "paused"), 1);
	assert_int_equal(store_schedule_get(f->st, "alice", &got), 0);
	assert_int_equal(got.next_fire, T0 + 3600);
	assert_int_equal(got.last_fire, T0);
	assert_int_equal(got.last_outcome, STORE_RUN_COMMITTED);
	assert_false(got.paused);
	expect_slot(f, "alice", STORE_CURRENT, "pw", 1);

	s.paused = true;
	assert_int_equal(store_schedule_put(f->st, "alice", &s), 0);
	reopen(f);
	assert_int_equal(store_schedule_get(f->st, "alice", &got), 0);
	assert_true(got.paused);
	assert_int_equal(got.next_fire, T0 + 3600);
	assert_int_equal(store_schedule_get(f->st, "bob", &got), 0);
	assert_false(got.paused);
	/* And back: a resume is stored as such. */
	s.paused = false;
	assert_int_equal(store_schedule_put(f->st, "alice", &s), 0);
	reopen(f);
	assert_int_equal(store_schedule_get(f->st, "alice", &got), 0);
	assert_false(got.paused);

	/* The column takes nothing but 0 and 1, as the others check. */
	store_close(f->st);
	f->st = NULL;
	{
		sqlite3 *db = NULL;

		assert_int_equal(sqlite3_open(f->db, &db), SQLITE_OK);
		assert_int_not_equal(
		    sqlite3_exec(
			db, "UPDATE schedule SET paused = 2", NULL, NULL, NULL),
		    SQLITE_OK);
		sqlite3_close(db);
	}
}

/* Whether Q, run on the store's file directly, is refused. */
static bool
sql_fails(struct fixture *f, const char *q)
{
	sqlite3 *db = NULL;
	int rc;

	assert_int_equal(sqlite3_open(f->db, &db), SQLITE_OK);
	rc = sqlite3_exec(db, q, NULL, NULL, NULL);
	sqlite3_close(db);
	return rc != SQLITE_OK;
}

/* A run's kind, rotate or verify: kept at create, read back by get and
 * by the listings, unchanged by an update. */
static void
test_run_kind(void **state)
{
	struct fixture *f = *state;
	struct store_run v = { 0 }, r;
	struct runs rs = { 0 };
	char rot[STORE_RUN_ID_LEN + 1];

	assert_int_equal(store_open(f->db, f->key, STORE_OPEN_CREATE, &f->st,
			     f->err, sizeof(f->err)),
	    0);
	new_run(f, "alice", rot);
	assert_int_equal(store_run_id_new(v.id), 0);
	snprintf(v.user, sizeof(v.user), "alice");
	v.verify = true;
	v.state = STORE_RUN_PREPARED;
	v.created = v.updated = T0 + 1;
	snprintf(v.message, sizeof(v.message), "verify: logging in");
	assert_int_equal(store_run_create(f->st, &v), 0);
	/* Its message no longer says so: a retry's, a target's. */
	v.verify = false;
	v.state = STORE_RUN_FAILED;
	snprintf(v.message, sizeof(v.message), "timed out; attempt 2 in 9s");
	assert_int_equal(store_run_update(f->st, &v), 0);

	assert_int_equal(store_run_get(f->st, v.id, &r), 0);
	assert_true(r.verify);
	assert_int_equal(store_run_get(f->st, rot, &r), 0);
	assert_false(r.verify);
	assert_int_equal(
	    store_run_list(f->st, "alice", 0, collect_runs, &rs), 0);
	assert_int_equal(rs.n, 2);
	assert_string_equal(rs.v[0].id, v.id);
	assert_true(rs.v[0].verify);
	assert_false(rs.v[1].verify);
}

/*
 * Schema 6 keeps a run's kind.  Rows schema-5 code left are given the
 * kind their message suggested (what `rotactl runs` showed them as),
 * except where the data says rotation: the state verified, or a secret
 * version made by the run.
 */
static void
test_run_kind_migration(void **state)
{
	struct fixture *f = *state;
	char id[3][STORE_RUN_ID_LEN + 1];
	struct store_run r;
	int i;

	assert_int_equal(store_open(f->db, f->key, STORE_OPEN_CREATE, &f->st,
			     f->err, sizeof(f->err)),
	    0);
	seed(f, "alice", "pw");
	for (i = 0; i < 3; i++)
		new_run(f, "alice", id[i]);
	assert_int_equal(pending(f, "alice", "next", T0 + 10), 2);
	store_close(f->st);
	f->st = NULL;
	sql(f,
	    "UPDATE runs SET message = 'verify: the current secret logs in',"
	    " state = 'committed' WHERE rowid = 1;"
	    "UPDATE runs SET message = 'verified', state = 'verified'"
	    " WHERE rowid = 2;"
	    "UPDATE runs SET message = 'injected failure; attempt 2 in 9s'"
	    " WHERE rowid = 3;"
	    "UPDATE runs SET message = 'verify: a rotation''s own' WHERE"
	    " id = (SELECT run_id FROM secrets WHERE state = 'pending');"
	    "ALTER TABLE runs DROP COLUMN kind;"
	    "UPDATE meta SET value = 5 WHERE key = 'schema_version'");

	reopen(f);
	assert_int_equal(schema_version(f), SCHEMA_NOW);
	assert_int_equal(store_run_get(f->st, id[0], &r), 0);
	assert_true(r.verify);
	assert_int_equal(store_run_get(f->st, id[1], &r), 0);
	assert_false(r.verify);
	assert_int_equal(store_run_get(f->st, id[2], &r), 0);
	assert_false(r.verify);
	assert_int_equal(
	    sql_int(f, "SELECT count(*) FROM runs WHERE kind = 'verify'"), 1);
	assert_int_equal(sql_int(f, "SELECT count(*) FROM runs"), 4);
	store_close(f->st);
	f->st = NULL;
	assert_true(sql_fails(f, "UPDATE runs SET kind = 'reboot'"));
}

#define IN_LISTS                                                               \
	"SELECT count(*) FROM sqlite_schema WHERE name IN ('secrets',"         \
	" 'runs', 'runs_unfinished') AND sql LIKE '% IN (%'"

/*
 * Schema 5 writes the CHECKs of secrets and runs, and the predicate of
 * the unfinished runs' index, without IN lists (store_sqlite.c: SQLite
 * built an index of each list for every write).  A store that schema-4
 * code left, with those tables as step 1 made them, opens: every row is
 * kept (and each run's rowid, the listings' tie-break), no IN list is
 * left, the unfinished runs list as before, and the constraints refuse
 * what they refused.
 */
static void
test_constraints_migration(void **state)
{
	struct fixture *f = *state;
	char id[STORE_RUN_ID_LEN + 1];
	struct store_run r;
	struct runs rs = { 0 };

	assert_int_equal(store_open(f->db, f->key, STORE_OPEN_CREATE, &f->st,
			     f->err, sizeof(f->err)),
	    0);
	seed(f, "alice", "pw");
	seed(f, "bob", "pw-b");
	assert_int_equal(pending(f, "alice", "next", T0 + 10), 2);
	new_run(f, "bob", id);
	assert_int_equal(store_run_get(f->st, id, &r), 0);
	r.state = STORE_RUN_COMMITTED;
	r.updated = T0 + 20;
	assert_int_equal(store_run_update(f->st, &r), 0);
	store_close(f->st);
	f->st = NULL;
	sql(f,
	    "CREATE TABLE snap_secrets AS SELECT * FROM secrets;"
	    "CREATE TABLE snap_runs AS SELECT rowid AS rid, * FROM runs;"
	    "CREATE TABLE s4 ("
	    "  user_name TEXT NOT NULL,"
	    "  version INTEGER NOT NULL CHECK (version > 0),"
	    "  state TEXT NOT NULL CHECK (state IN ('pending', 'current',"
	    "    'previous', 'history', 'discarded')),"
	    "  run_id TEXT,"
	    "  created INTEGER NOT NULL,"
	    "  changed INTEGER NOT NULL,"
	    "  value BLOB NOT NULL,"
	    "  PRIMARY KEY (user_name, version)"
	    ") STRICT, WITHOUT ROWID;"
	    "INSERT INTO s4 SELECT * FROM secrets;"
	    "DROP TABLE secrets;"
	    "ALTER TABLE s4 RENAME TO secrets;"
	    "CREATE UNIQUE INDEX secrets_pending ON secrets (user_name)"
	    "  WHERE state = 'pending';"
	    "CREATE UNIQUE INDEX secrets_current ON secrets (user_name)"
	    "  WHERE state = 'current';"
	    "CREATE UNIQUE INDEX secrets_previous ON secrets (user_name)"
	    "  WHERE state = 'previous';"
	    "CREATE TABLE r4 ("
	    "  id TEXT PRIMARY KEY NOT NULL,"
	    "  user_name TEXT NOT NULL,"
	    "  state TEXT NOT NULL CHECK (state IN ('prepared', 'applied',"
	    "    'verified', 'committed', 'failed', 'out_of_sync')),"
	    "  attempts INTEGER NOT NULL CHECK (attempts >= 0),"
	    "  error_class TEXT NOT NULL CHECK (error_class IN ('none',"
	    "    'transient', 'auth', 'policy', 'fatal')),"
	    "  created INTEGER NOT NULL,"
	    "  updated INTEGER NOT NULL,"
	    "  message TEXT NOT NULL"
	    ") STRICT;"
	    "INSERT INTO r4 (rowid, id, user_name, state, attempts,"
	    "  error_class, created, updated, message)"
	    "  SELECT rid, id, user_name, state, attempts, error_class,"
	    "  created, updated, message FROM snap_runs;"
	    "DROP TABLE runs;"
	    "ALTER TABLE r4 RENAME TO runs;"
	    "CREATE INDEX runs_user ON runs (user_name, created);"
	    "CREATE INDEX runs_created ON runs (created);"
	    "CREATE INDEX runs_unfinished ON runs (created)"
	    "  WHERE state IN ('prepared', 'applied', 'verified',"
	    "  'out_of_sync');"
	    "UPDATE meta SET value = 4 WHERE key = 'schema_version'");
	assert_int_equal(sql_int(f, IN_LISTS), 3);

	reopen(f);
	assert_int_equal(schema_version(f), SCHEMA_NOW);
	assert_int_equal(sql_int(f, IN_LISTS), 0);
	assert_int_equal(sql_int(f, "SELECT count(*) FROM secrets"), 3);
	assert_int_equal(sql_int(f,
			     "SELECT count(*) FROM (SELECT * FROM snap_secrets"
			     " EXCEPT SELECT * FROM secrets)"),
	    0);
	assert_int_equal(sql_int(f, "SELECT count(*) FROM runs"), 2);
	assert_int_equal(sql_int(f,
			     "SELECT count(*) FROM (SELECT * FROM snap_runs"
			     " EXCEPT SELECT rowid, * FROM runs)"),
	    0);
	assert_int_equal(sql_int(f,
			     "SELECT count(*) FROM sqlite_schema"
			     " WHERE type = 'index' AND name IN"
			     " ('secrets_pending', 'secrets_current',"
			     " 'secrets_previous', 'runs_user',"
			     " 'runs_created', 'runs_unfinished')"),
	    6);
	expect_slot(f, "alice", STORE_CURRENT, "pw", 1);
	expect_slot(f, "alice", STORE_PENDING, "next", 2);
	expect_slot(f, "bob", STORE_CURRENT, "pw-b", 1);
	assert_int_equal(
	    store_run_list_unfinished(f->st, collect_runs, &rs), 0);
	assert_int_equal(rs.n, 1);
	assert_string_equal(rs.v[0].user, "alice");
	assert_int_equal(rs.v[0].state, STORE_RUN_PREPARED);

	store_close(f->st);
	f->st = NULL;
	assert_true(sql_fails(f, "UPDATE runs SET state = 'done'"));
	assert_true(sql_fails(f, "UPDATE runs SET error_class = 'oops'"));
	assert_true(sql_fails(f, "UPDATE secrets SET state = 'stale'"));
	assert_false(sql_fails(f,
	    "UPDATE runs SET state = 'failed',"
	    " error_class = 'policy'"));
	assert_true(sql_fails(f,
	    "INSERT INTO secrets SELECT user_name,"
	    " 9, 'pending', NULL, 0, 0, x'00'"
	    " FROM secrets WHERE user_name = 'alice'"
	    " AND version = 1"));
}

/* store_secret_version: whether a slot holds a secret, not decrypted. */
static void
test_secret_version(void **state)
{
	struct fixture *f = *state;
	int64_t v = -1;

	assert_int_equal(
	    store_secret_version(f->st, "alice", STORE_CURRENT, &v), -ENOENT);
	assert_int_equal(v, -1);
	assert_non_null(strstr(store_last_error(f->st), "no current secret"));
	seed(f, "alice", "one");
	seed(f, "alice", "two");
	assert_int_equal(
	    store_secret_version(f->st, "alice", STORE_CURRENT, &v), 0);
	assert_int_equal(v, 2);
	assert_int_equal(
	    store_secret_version(f->st, "alice", STORE_PREVIOUS, NULL), 0);
	assert_int_equal(
	    store_secret_version(f->st, "alice", STORE_PENDING, &v), -ENOENT);
	assert_int_equal(
	    store_secret_version(f->st, "bob", STORE_CURRENT, &v), -ENOENT);
	assert_int_equal(store_secret_version(f->st, "alice", 7, &v), -EINVAL);
	/* A value that no longer decrypts is still a secret that exists:
	 * nothing is decrypted. */
	sql(f, "UPDATE secrets SET value = x'00' WHERE version = 2");
	assert_int_equal(
	    store_secret_version(f->st, "alice", STORE_CURRENT, &v), 0);
	assert_int_equal(v, 2);
}

/* ---- schedule state ---- */

static void
test_schedule(void **state)
{
	struct fixture *f = *state;
	struct store_schedule s = { 0 }, got;
	char id[STORE_RUN_ID_LEN + 1];

	assert_int_equal(store_schedule_get(f->st, "alice", &got), -ENOENT);
	s.next_fire = T0 + 3600;
	assert_int_equal(store_schedule_put(f->st, "alice", &s), 0);
	assert_int_equal(store_schedule_get(f->st, "alice", &got), 0);
	assert_memory_equal(&got, &s, sizeof(s));
	assert_int_equal(got.last_outcome, STORE_RUN_NONE);

	assert_int_equal(store_run_id_new(id), 0);
	s.last_fire = s.next_fire;
	s.next_fire += 86400;
	s.last_outcome = STORE_RUN_COMMITTED;
	memcpy(s.last_run_id, id, sizeof(id));
	assert_int_equal(store_schedule_put(f->st, "alice", &s), 0);
	reopen(f);
	assert_int_equal(store_schedule_get(f->st, "alice", &got), 0);
	assert_memory_equal(&got, &s, sizeof(s));
	assert_int_equal(store_schedule_get(f->st, "bob", &got), -ENOENT);

	memcpy(s.last_run_id, "bogus", 6);
	assert_int_equal(store_schedule_put(f->st, "alice", &s), -EINVAL);
}

/* ---- events ---- */

struct events {
	int n;
	int64_t id[8], time[8];
	char payload[8][32];
};

static int
collect_events(
    int64_t id, int64_t time, const void *payload, size_t len, void *arg)
{
	struct events *e = arg;

	assert_true(e->n < 8 && len < 32);
	e->id[e->n] = id;
	e->time[e->n] = time;
	memcpy(e->payload[e->n], payload, len);
	e->payload[e->n][len] = '\0';
	e->n++;
	return 0;
}

/* The spool as sinks see it: after an id, the last id, cursors, trim. */
static void
test_event_cursors(void **state)
{
	struct fixture *f = *state;
	struct events e = { 0 };
	int64_t id[4], last = -1, cur = -1, n = -1;
	int i;

	assert_int_equal(store_event_last(f->st, &last), 0);
	assert_int_equal(last, 0);
	for (i = 0; i < 4; i++)
		assert_int_equal(
		    store_event_put(f->st, T0 + i, "e", 1, &id[i]), 0);
	assert_int_equal(store_event_last(f->st, &last), 0);
	assert_int_equal(last, id[3]);
	/* Delivered or not, after an id. */
	assert_int_equal(store_event_ack(f->st, id[1]), 0);
	assert_int_equal(
	    store_event_since(f->st, id[0], 2, collect_events, &e), 0);
	assert_int_equal(e.n, 2);
	assert_int_equal(e.id[0], id[1]);
	assert_int_equal(e.id[1], id[2]);
	assert_int_equal(
	    store_event_since(f->st, 0, 0, collect_events, &e), -EINVAL);
	/* Cursors: none for a new sink, then kept across a reopen. */
	assert_int_equal(store_event_cursor_get(f->st, "siem", &cur), -ENOENT);
	assert_int_equal(store_event_cursor_put(f->st, "siem", id[2]), 0);
	assert_int_equal(store_event_cursor_put(f->st, "file", id[0]), 0);
	reopen(f);
	assert_int_equal(store_event_cursor_get(f->st, "siem", &cur), 0);
	assert_int_equal(cur, id[2]);
	assert_int_equal(store_event_cursor_put(f->st, "", 1), -EINVAL);
	/* Trim: the oldest go, delivered or not; the last id stays. */
	assert_int_equal(store_event_trim(f->st, id[1], &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(sql_int(f, "SELECT count(*) FROM events"), 2);
	assert_int_equal(store_event_trim(f->st, id[3], &n), 0);
	assert_int_equal(store_event_last(f->st, &last), 0);
	assert_int_equal(last, id[3]);
}

static void
test_events(void **state)
{
	struct fixture *f = *state;
	struct events e = { 0 };
	int64_t id[4];
	int i;

	for (i = 0; i < 3; i++) {
		char p[16];

		snprintf(p, sizeof(p), "event %d", i);
		assert_int_equal(
		    store_event_put(f->st, T0 + i, p, strlen(p), &id[i]), 0);
		if (i > 0)
			assert_true(id[i] > id[i - 1]);
	}
	assert_int_equal(store_event_peek(f->st, 2, collect_events, &e), 0);
	assert_int_equal(e.n, 2);
	assert_int_equal(e.id[0], id[0]);
	assert_int_equal(e.time[1], T0 + 1);
	assert_string_equal(e.payload[0], "event 0");
	assert_string_equal(e.payload[1], "event 1");

	assert_int_equal(store_event_ack(f->st, id[0]), 0);
	assert_int_equal(store_event_ack(f->st, id[0]), 0);
	assert_int_equal(store_event_ack(f->st, 12345), -ENOENT);
	reopen(f);
	e.n = 0;
	assert_int_equal(store_event_peek(f->st, 10, collect_events, &e), 0);
	assert_int_equal(e.n, 2);
	assert_int_equal(e.id[0], id[1]);
	assert_int_equal(e.id[1], id[2]);

	/* Purge drops delivered events only; ids are never reused. */
	assert_int_equal(store_event_ack(f->st, id[2]), 0);
	assert_int_equal(store_event_purge(f->st, T0 + 100), 0);
	assert_int_equal(sql_int(f, "SELECT count(*) FROM events"), 1);
	assert_int_equal(store_event_put(f->st, T0 + 5, "x", 1, &id[3]), 0);
	assert_true(id[3] > id[2]);

	assert_int_equal(store_event_put(f->st, T0, "", 0, NULL), -EINVAL);
	assert_int_equal(
	    store_event_peek(f->st, 0, collect_events, &e), -EINVAL);
}

/* ---- transactions ---- */

static void
test_transactions(void **state)
{
	struct fixture *f = *state;
	struct store_schedule s = { .next_fire = T0 + 60 }, got;
	struct secret *v = make_secret("new");
	struct store_run r, rr;

	seed(f, "alice", "old");
	/* A fire: run, pending secret and schedule, all or nothing. */
	make_run(&r, "alice", STORE_RUN_PREPARED, T0);
	assert_int_equal(store_begin(f->st), 0);
	assert_int_equal(store_run_create(f->st, &r), 0);
	assert_int_equal(
	    store_secret_put_pending(f->st, "alice", v, r.id, T0, NULL), 0);
	assert_int_equal(store_schedule_put(f->st, "alice", &s), 0);
	assert_int_equal(store_rollback(f->st), 0);
	assert_int_equal(store_run_get(f->st, r.id, &rr), -ENOENT);
	expect_slot(f, "alice", STORE_PENDING, NULL, 0);
	assert_int_equal(store_schedule_get(f->st, "alice", &got), -ENOENT);

	assert_int_equal(store_begin(f->st), 0);
	assert_int_equal(store_run_create(f->st, &r), 0);
	assert_int_equal(
	    store_secret_put_pending(f->st, "alice", v, r.id, T0, NULL), 0);
	/* A failing call inside undoes only itself. */
	assert_int_equal(
	    store_secret_put_pending(f->st, "alice", v, r.id, T0, NULL),
	    -EEXIST);
	assert_int_equal(store_schedule_put(f->st, "alice", &s), 0);
	/* Nesting. */
	assert_int_equal(store_begin(f->st), 0);
	assert_int_equal(store_event_put(f->st, T0, "ev", 2, NULL), 0);
	assert_int_equal(store_rollback(f->st), 0);
	assert_int_equal(store_commit(f->st), 0);
	reopen(f);
	assert_int_equal(store_run_get(f->st, r.id, &rr), 0);
	expect_slot(f, "alice", STORE_PENDING, "new", 2);
	assert_int_equal(store_schedule_get(f->st, "alice", &got), 0);
	assert_int_equal(got.next_fire, T0 + 60);
	assert_int_equal(sql_int(f, "SELECT count(*) FROM events"), 0);

	assert_int_equal(store_commit(f->st), -EINVAL);
	assert_int_equal(store_rollback(f->st), -EINVAL);
	secret_free(v);
}

/*
 * Group commit: store_written() counts the outermost commits that wrote
 * (not a rollback, not an empty transaction, a nested one once), with
 * the flag or without; store_flush() succeeds either way, and what was
 * committed under group commit reads back after a reopen.
 */
static void
test_group_commit(void **state)
{
	struct fixture *f = *state;
	uint64_t w0;
	int pass;

	for (pass = 0; pass < 2; pass++) {
		if (pass == 1)
			reopen_with(f, STORE_OPEN_GROUP_COMMIT);
		w0 = store_written(f->st);
		assert_int_equal(store_event_put(f->st, T0, "e1", 2, NULL), 0);
		assert_int_equal(store_written(f->st), w0 + 1);
		assert_int_equal(store_begin(f->st), 0);
		assert_int_equal(store_event_put(f->st, T0, "e2", 2, NULL), 0);
		assert_int_equal(store_rollback(f->st), 0);
		assert_int_equal(store_begin(f->st), 0);
		assert_int_equal(store_commit(f->st), 0);
		assert_int_equal(store_written(f->st), w0 + 1);
		assert_int_equal(store_begin(f->st), 0);
		assert_int_equal(store_begin(f->st), 0);
		assert_int_equal(store_event_put(f->st, T0, "e3", 2, NULL), 0);
		assert_int_equal(store_commit(f->st), 0);
		assert_int_equal(store_written(f->st), w0 + 1);
		assert_int_equal(store_commit(f->st), 0);
		assert_int_equal(store_written(f->st), w0 + 2);
		assert_int_equal(store_flush(f->st), 0);
	}
	reopen(f);
	assert_int_equal(sql_int(f, "SELECT count(*) FROM events"), 4);
}

/*
 * Group commit settles: the commits between two store_settle()s are one
 * transaction, seen at once by the store's own reads (a read snapshot
 * inside the batch too) and by another connection only once settled; a
 * rollback in the batch undoes its own writes alone; closing settles.
 */
static void
test_group_commit_settle(void **state)
{
	struct fixture *f = *state;
	int64_t last = 0, before;
	uint64_t w0;

	reopen_with(f, STORE_OPEN_GROUP_COMMIT);
	before = sql_int(f, "SELECT count(*) FROM events");
	w0 = store_written(f->st);
	assert_int_equal(store_event_put(f->st, T0, "e1", 2, NULL), 0);
	assert_int_equal(store_begin(f->st), 0);
	assert_int_equal(store_event_put(f->st, T0, "e2", 2, NULL), 0);
	assert_int_equal(store_rollback(f->st), 0);
	assert_int_equal(store_event_put(f->st, T0, "e3", 2, NULL), 0);
	assert_int_equal(store_written(f->st), w0 + 2);
	/* Ours to read, a snapshot too; not another connection's. */
	assert_int_equal(store_read_begin(f->st), 0);
	assert_int_equal(store_event_last(f->st, &last), 0);
	store_read_end(f->st);
	assert_int_equal(last, 2); /* e2's id was rolled back too */
	assert_int_equal(sql_int(f, "SELECT count(*) FROM events"), before);
	/* Not inside a transaction. */
	assert_int_equal(store_begin(f->st), 0);
	assert_int_equal(store_settle(f->st), -EINVAL);
	assert_int_equal(store_commit(f->st), 0);
	assert_int_equal(store_settle(f->st), 0);
	assert_int_equal(
	    sql_int(f, "SELECT count(*) FROM events"), before + 2);
	assert_int_equal(sql_int(f, "SELECT count(*) FROM events"
				    " WHERE payload = CAST('e2' AS BLOB)"),
	    0);
	assert_int_equal(store_settle(f->st), 0); /* nothing to settle */
	assert_int_equal(store_flush(f->st), 0);
	/* Closing settles what is left. */
	assert_int_equal(store_event_put(f->st, T0, "e4", 2, NULL), 0);
	assert_int_equal(
	    sql_int(f, "SELECT count(*) FROM events"), before + 2);
	reopen(f);
	assert_int_equal(
	    sql_int(f, "SELECT count(*) FROM events"), before + 3);
	/* Without the flag, settling has nothing to do. */
	assert_int_equal(store_settle(f->st), 0);
}

/*
 * Group commit checkpoints in store_flush() (another thread's call in
 * the daemon), never in a settle: the database file stays as it was
 * however long the WAL grows, until a flush copies it in.
 */
static void
test_group_commit_checkpoint(void **state)
{
	struct fixture *f = *state;
	struct stat sb0, sb1;
	char big[400];
	int i;

	reopen_with(f, STORE_OPEN_GROUP_COMMIT);
	memset(big, 'x', sizeof(big));
	assert_int_equal(stat(f->db, &sb0), 0);
	for (i = 0; i < 1500; i++) {
		assert_int_equal(
		    store_event_put(f->st, T0, big, sizeof(big), NULL), 0);
		assert_int_equal(store_settle(f->st), 0);
	}
	assert_int_equal(stat(f->db, &sb1), 0);
	assert_int_equal(sb1.st_size, sb0.st_size);
	assert_int_equal(store_flush(f->st), 0);
	assert_int_equal(stat(f->db, &sb1), 0);
	assert_true(sb1.st_size > sb0.st_size + 1500 * (off_t)sizeof(big));
	reopen(f);
	assert_int_equal(sql_int(f, "SELECT count(*) FROM events"
				    " WHERE length(payload) = 400"),
	    1500);
}

/* ---- key files ---- */

static void
write_file(const char *path, const void *data, size_t len, mode_t mode)
{
	int fd;

	unlink(path);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
}

static void
test_key_create(void **state)
{
	struct fixture *f = *state;
	struct secret *k1 = NULL, *k2 = NULL;
	char other[160], link[160];
	struct stat sb;
	mode_t old;

	old = umask(0277); /* would make the key unreadable */
	assert_int_equal(
	    store_key_create(f->keyfile, f->err, sizeof(f->err)), 0);
	umask(old);
	assert_int_equal(lstat(f->keyfile, &sb), 0);
	assert_true(S_ISREG(sb.st_mode));
	assert_int_equal(sb.st_mode & 07777, 0600);
	assert_int_equal(sb.st_size, STORE_KEY_LEN);
	assert_int_equal(
	    store_key_load(f->keyfile, &k1, f->err, sizeof(f->err)), 0);
	/* Never overwrites. */
	assert_int_equal(
	    store_key_create(f->keyfile, f->err, sizeof(f->err)), -EEXIST);
	assert_non_null(strstr(f->err, "refusing to overwrite"));
	assert_int_equal(
	    store_key_load(f->keyfile, &k2, f->err, sizeof(f->err)), 0);
	assert_true(secret_equal(k1, k2));
	secret_free(k2);
	k2 = NULL;
	/* Two keys differ. */
	snprintf(other, sizeof(other), "%s/other.key", f->dir);
	assert_int_equal(store_key_create(other, NULL, 0), 0);
	assert_int_equal(store_key_load(other, &k2, NULL, 0), 0);
	assert_false(secret_equal(k1, k2));
	/* Not through a symlink, not even a dangling one. */
	snprintf(link, sizeof(link), "%s/link.key", f->dir);
	assert_int_equal(symlink("/nonexistent/target.key", link), 0);
	assert_int_equal(store_key_create(link, NULL, 0), -EEXIST);
	assert_int_equal(lstat("/nonexistent/target.key", &sb), -1);
	/* A missing directory leaves nothing behind. */
	snprintf(other, sizeof(other), "%s/no/such.key", f->dir);
	assert_int_equal(
	    store_key_create(other, f->err, sizeof(f->err)), -ENOENT);
	secret_free(k1);
	secret_free(k2);
}

/* The modes of a key file, and of a store file (store_file_check()),
 * and whether they are taken: the same rule for both. */
static const struct mode_case {
	mode_t mode;
	int want;
} mode_cases[] = {
	{ 0600, 0 },
	{ 0400, 0 },
	{ 0640, 0 }, /* a rotad group may read it */
	{ 0644, -EPERM },
	{ 0620, -EPERM },
	{ 0660, -EPERM },
	{ 0602, -EPERM },
	{ 0604, -EPERM },
	{ 0666, -EPERM },
};
#define NMODE_CASES (sizeof(mode_cases) / sizeof(mode_cases[0]))

static void
test_key_load_modes(void **state)
{
	struct fixture *f = *state;
	const struct mode_case *cases = mode_cases;
	unsigned char k[STORE_KEY_LEN];
	struct secret *key = NULL;
	char want[64];
	size_t i;

	memset(k, 0x5a, sizeof(k));
	for (i = 0; i < NMODE_CASES; i++) {
		write_file(f->keyfile, k, sizeof(k), cases[i].mode);
		f->err[0] = '\0';
		assert_int_equal(
		    store_key_load(f->keyfile, &key, f->err, sizeof(f->err)),
		    cases[i].want);
		if (cases[i].want == 0) {
			assert_int_equal(secret_len(key), STORE_KEY_LEN);
			assert_memory_equal(secret_data(key), k, sizeof(k));
			secret_free(key);
			key = NULL;
			continue;
		}
		assert_null(key);
		snprintf(
		    want, sizeof(want), "mode %04o", (unsigned)cases[i].mode);
		assert_non_null(strstr(f->err, want));
		assert_non_null(strstr(f->err, "chmod 0600"));
		assert_non_null(strstr(f->err, f->keyfile));
	}
}

static void
test_key_load_refusals(void **state)
{
	struct fixture *f = *state;
	unsigned char k[STORE_KEY_LEN + 1];
	struct secret *key = NULL;
	char link[160], fifo[160], dir[160];

	memset(k, 0x5a, sizeof(k));
	write_file(f->keyfile, k, STORE_KEY_LEN - 1, 0600);
	assert_int_equal(
	    store_key_load(f->keyfile, &key, f->err, sizeof(f->err)), -EINVAL);
	assert_non_null(strstr(f->err, "is 31 bytes"));
	write_file(f->keyfile, k, STORE_KEY_LEN + 1, 0600);
	assert_int_equal(
	    store_key_load(f->keyfile, &key, f->err, sizeof(f->err)), -EINVAL);
	write_file(f->keyfile, k, 0, 0600);
	assert_int_equal(
	    store_key_load(f->keyfile, &key, f->err, sizeof(f->err)), -EINVAL);

	write_file(f->keyfile, k, STORE_KEY_LEN, 0600);
	snprintf(link, sizeof(link), "%s/link.key", f->dir);
	assert_int_equal(symlink(f->keyfile, link), 0);
	assert_int_equal(
	    store_key_load(link, &key, f->err, sizeof(f->err)), -ELOOP);

	snprintf(fifo, sizeof(fifo), "%s/fifo.key", f->dir);
	assert_int_equal(mkfifo(fifo, 0600), 0);
	assert_int_equal(
	    store_key_load(fifo, &key, f->err, sizeof(f->err)), -EINVAL);
	assert_non_null(strstr(f->err, "not a regular file"));

	snprintf(dir, sizeof(dir), "%s/dir.key", f->dir);
	assert_int_equal(mkdir(dir, 0700), 0);
	assert_int_equal(
	    store_key_load(dir, &key, f->err, sizeof(f->err)), -EINVAL);

	snprintf(dir, sizeof(dir), "%s/missing.key", f->dir);
	assert_int_equal(
	    store_key_load(dir, &key, f->err, sizeof(f->err)), -ENOENT);

	/* Owned by someone else (only root can arrange that). */
	if (geteuid() == 0) {
		assert_int_equal(chown(f->keyfile, 12345, 0), 0);
		assert_int_equal(
		    store_key_load(f->keyfile, &key, f->err, sizeof(f->err)),
		    -EPERM);
		assert_non_null(strstr(f->err, "owned by uid 12345"));
	}
	assert_null(key);
}

static void
test_key_path(void **state)
{
	struct fixture *f = *state;
	char buf[256], cred[160], small[8];

	unsetenv("CREDENTIALS_DIRECTORY");
	assert_int_equal(store_key_path(buf, sizeof(buf), NULL), 0);
	assert_string_equal(buf, STORE_DEFAULT_KEY_PATH);
	assert_int_equal(store_key_path(buf, sizeof(buf), "/srv/k.key"), 0);
	assert_string_equal(buf, "/srv/k.key");

	/* A credentials directory without our credential: the default. */
	setenv("CREDENTIALS_DIRECTORY", f->dir, 1);
	assert_int_equal(store_key_path(buf, sizeof(buf), NULL), 0);
	assert_string_equal(buf, STORE_DEFAULT_KEY_PATH);
	/* With it. */
	snprintf(cred, sizeof(cred), "%s/master.key", f->dir);
	assert_int_equal(store_key_create(cred, NULL, 0), 0);
	assert_int_equal(store_key_path(buf, sizeof(buf), NULL), 0);
	assert_string_equal(buf, cred);
	/* An explicit path wins. */
	assert_int_equal(store_key_path(buf, sizeof(buf), "/srv/k.key"), 0);
	assert_string_equal(buf, "/srv/k.key");
	unsetenv("CREDENTIALS_DIRECTORY");

	assert_int_equal(
	    store_key_path(small, sizeof(small), NULL), -ENAMETOOLONG);
	assert_int_equal(
	    store_key_path(small, sizeof(small), "/srv/k.key"), -ENAMETOOLONG);
}

/* ---- store files: every open holds them to the key's rule ---- */

/* Open F's store without creating it: its status, ST closed again. */
static int
open_store_file(struct fixture *f, unsigned flags)
{
	int r;

	f->err[0] = '\0';
	r = store_open(f->db, f->key, flags, &f->st, f->err, sizeof(f->err));
	store_close(f->st);
	f->st = NULL;
	return r;
}

/* F->err says each of the NULL-terminated strings. */
static void
assert_err_has(struct fixture *f, ...)
{
	const char *want;
	va_list ap;

	va_start(ap, f);
	while ((want = va_arg(ap, const char *)) != NULL)
		if (strstr(f->err, want) == NULL)
			fail_msg("\"%s\" not in \"%s\"", want, f->err);
	va_end(ap);
}

/*
 * A store that others could change is refused by the open itself, with
 * or without STORE_OPEN_CREATE (the daemon's, --init's), with the
 * message and the fix rotad -n gives, and left as it was.
 */
static void
test_store_file_modes(void **state)
{
	struct fixture *f = *state;
	const struct mode_case *cases = mode_cases;
	char want[PATH_MAX];
	struct stat sb;
	size_t i;

	store_close(f->st);
	f->st = NULL;
	for (i = 0; i < NMODE_CASES; i++) {
		if (!(cases[i].mode & S_IWUSR))
			continue; /* SQLite would open it read only */
		assert_int_equal(chmod(f->db, cases[i].mode), 0);
		assert_int_equal(open_store_file(f, 0), cases[i].want);
		assert_int_equal(
		    open_store_file(f, STORE_OPEN_CREATE), cases[i].want);
		assert_int_equal(stat(f->db, &sb), 0);
		assert_int_equal(sb.st_mode & 07777, cases[i].mode);
		if (cases[i].want == 0)
			continue;
		snprintf(want, sizeof(want),
		    "%s has mode %04o: the store "
		    "must not be writable by group or others, nor readable "
		    "by others; fix: chmod 0600 %s",
		    f->db, (unsigned)cases[i].mode, f->db);
		assert_string_equal(f->err, want);
	}
}

/* The -wal and -shm: the WAL holds the latest commits. */
static void
test_store_file_wal_shm(void **state)
{
	struct fixture *f = *state;
	static const char *const suffix[] = { "-wal", "-shm" };
	char path[160], want[256];
	size_t i;

	store_close(f->st);
	f->st = NULL;
	for (i = 0; i < 2; i++) {
		snprintf(path, sizeof(path), "%s%s", f->db, suffix[i]);
		write_file(path, "", 0, 0666);
		assert_int_equal(open_store_file(f, 0), -EPERM);
		snprintf(want, sizeof(want), "%s has mode 0666", path);
		assert_err_has(f, want, "chmod 0600", path, NULL);
		assert_int_equal(chmod(path, 0604), 0);
		assert_int_equal(open_store_file(f, 0), -EPERM);
		assert_int_equal(chmod(path, 0600), 0);
		assert_int_equal(open_store_file(f, 0), 0);
		unlink(path);
		assert_int_equal(symlink(f->db, path), 0);
		assert_int_equal(open_store_file(f, 0), -ELOOP);
		assert_err_has(f, path, "is a symbolic link", NULL);
		assert_int_equal(unlink(path), 0);
	}
	assert_int_equal(open_store_file(f, 0), 0);
}

/* Whoever may write in its directory may put a store of theirs in its
 * place; not a regular file, or a link, is no store. */
static void
test_store_file_dir(void **state)
{
	struct fixture *f = *state;
	char other[PATH_MAX];

	store_close(f->st);
	f->st = NULL;
	assert_int_equal(chmod(f->dir, 0770), 0);
	assert_int_equal(open_store_file(f, 0), -EPERM);
	assert_err_has(f, "its directory",
	    "has mode 0770, writable by its group", "fix: chmod go-w", NULL);
	assert_int_equal(chmod(f->dir, 0703), 0);
	assert_int_equal(open_store_file(f, 0), -EPERM);
	assert_err_has(f, "writable by others", NULL);
	if (geteuid() == 0) {
		/* Root's and sticky, as /tmp: no one replaces what is not
		 * theirs there. */
		assert_int_equal(chmod(f->dir, 01777), 0);
		assert_int_equal(open_store_file(f, 0), 0);
	}
	assert_int_equal(chmod(f->dir, 0700), 0);
	assert_int_equal(open_store_file(f, 0), 0);

	snprintf(other, sizeof(other), "%s/real.db", f->dir);
	assert_int_equal(rename(f->db, other), 0);
	assert_int_equal(mkfifo(f->db, 0600), 0);
	assert_int_equal(open_store_file(f, 0), -EINVAL);
	assert_err_has(f, "is not a regular file", NULL);
	assert_int_equal(unlink(f->db), 0);
	assert_int_equal(symlink(other, f->db), 0);
	assert_int_equal(open_store_file(f, 0), -ELOOP);
	assert_err_has(
	    f, "is a symbolic link; name the store file itself", NULL);
	assert_int_equal(rename(other, f->db), 0);

	/* A store --init would make there is not made. */
	assert_int_equal(unlink(f->db), 0);
	assert_int_equal(chmod(f->dir, 0770), 0);
	assert_int_equal(open_store_file(f, STORE_OPEN_CREATE), -EPERM);
	assert_int_equal(access(f->db, F_OK), -1);
	assert_int_equal(chmod(f->dir, 0700), 0);
}

/* The owner: root or the effective user; root also takes the store's
 * directory's owner, the daemon's user it runs -n or --rekey for. */
static void
test_store_file_owner(void **state)
{
	struct fixture *f = *state;
	char want[PATH_MAX];

	if (geteuid() != 0)
		skip(); /* chown */
	store_close(f->st);
	f->st = NULL;
	assert_int_equal(chown(f->db, 65534, (gid_t)-1), 0);
	assert_int_equal(open_store_file(f, 0), -EPERM);
	snprintf(want, sizeof(want), "fix: chown 0 %s", f->db);
	assert_err_has(f, "is owned by uid 65534", want, NULL);
	assert_int_equal(chown(f->dir, 65534, (gid_t)-1), 0);
	assert_int_equal(open_store_file(f, 0), 0);
	/* The directory's owner does not make its -wal someone else's. */
	snprintf(want, sizeof(want), "%s-wal", f->db);
	write_file(want, "", 0, 0600);
	assert_int_equal(chown(want, 1, (gid_t)-1), 0);
	assert_int_equal(open_store_file(f, 0), -EPERM);
	assert_err_has(f, "-wal is owned by uid 1", NULL);
	assert_int_equal(unlink(want), 0);
	assert_int_equal(chown(f->dir, 0, (gid_t)-1), 0);
	assert_int_equal(chown(f->db, 0, (gid_t)-1), 0);
	assert_int_equal(open_store_file(f, 0), 0);
}

/* The whole ceremony: rotad --init, then a daemon start. */
static void
test_key_and_store(void **state)
{
	struct fixture *f = *state;
	struct secret *key = NULL;

	assert_int_equal(store_key_create(f->keyfile, NULL, 0), 0);
	assert_int_equal(
	    store_key_load(f->keyfile, &key, f->err, sizeof(f->err)), 0);
	assert_int_equal(store_open(f->db, key, STORE_OPEN_CREATE, &f->st,
			     f->err, sizeof(f->err)),
	    0);
	seed(f, "alice", "pw");
	store_close(f->st);
	f->st = NULL;
	secret_free(key);
	key = NULL;
	assert_int_equal(store_key_load(f->keyfile, &key, NULL, 0), 0);
	assert_int_equal(
	    store_open(f->db, key, STORE_OPEN_CREATE, &f->st, NULL, 0), 0);
	expect_slot(f, "alice", STORE_CURRENT, "pw", 1);
	secret_free(key);
}

static void
test_names(void **state)
{
	(void)state;
	assert_string_equal(
	    store_secret_state_name(STORE_SECRET_PENDING), "pending");
	assert_null(store_secret_state_name((enum store_secret_state)99));
	assert_string_equal(
	    store_run_state_name(STORE_RUN_VERIFIED), "verified");
	assert_null(store_run_state_name((enum store_run_state) - 1));
	assert_string_equal(
	    store_error_class_name(STORE_ERROR_TRANSIENT), "transient");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
		    test_open_never_creates, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_open_creates, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_open_empty_file, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_open_newer_schema, setup_open, teardown),
		cmocka_unit_test_setup_teardown(
		    test_open_foreign_db, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_open_not_a_database, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_open_corrupt, setup_open, teardown),
		cmocka_unit_test_setup_teardown(
		    test_open_wrong_key, setup_open, teardown),
		cmocka_unit_test_setup_teardown(
		    test_open_bad_arguments, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_secret_versions, setup_open, teardown),
		cmocka_unit_test_setup_teardown(
		    test_read_snapshot, setup_open, teardown),
		cmocka_unit_test_setup_teardown(
		    test_secret_discard, setup_open, teardown),
		cmocka_unit_test_setup_teardown(
		    test_secret_refusals, setup_open, teardown),
		cmocka_unit_test_setup_teardown(
		    test_secret_binary, setup_open, teardown),
		cmocka_unit_test_setup_teardown(
		    test_tampered_ciphertext, setup_open, teardown),
		cmocka_unit_test_setup_teardown(
		    test_ciphertext_moved, setup_open, teardown),
		cmocka_unit_test_setup_teardown(
		    test_rekey, setup_open, teardown),
		cmocka_unit_test_setup_teardown(
		    test_runs, setup_open, teardown),
		cmocka_unit_test(test_run_id_new),
		cmocka_unit_test_setup_teardown(
		    test_run_outputs, setup_open, teardown),
		cmocka_unit_test_setup_teardown(
		    test_run_output_refusals, setup_open, teardown),
		cmocka_unit_test_setup_teardown(
		    test_run_outputs_migration, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_schedule, setup_open, teardown),
		cmocka_unit_test_setup_teardown(
		    test_schedule_paused_migration, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_constraints_migration, setup, teardown),
		cmocka_unit_test_setup_teardown(test_run_kind, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_run_kind_migration, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_secret_version, setup_open, teardown),
		cmocka_unit_test_setup_teardown(
		    test_events, setup_open, teardown),
		cmocka_unit_test_setup_teardown(
		    test_event_cursors, setup_open, teardown),
		cmocka_unit_test_setup_teardown(
		    test_transactions, setup_open, teardown),
		cmocka_unit_test_setup_teardown(
		    test_group_commit, setup_open, teardown),
		cmocka_unit_test_setup_teardown(
		    test_group_commit_settle, setup_open, teardown),
		cmocka_unit_test_setup_teardown(
		    test_group_commit_checkpoint, setup_open, teardown),
		cmocka_unit_test_setup_teardown(
		    test_key_create, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_key_load_modes, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_key_load_refusals, setup, teardown),
		cmocka_unit_test_setup_teardown(test_key_path, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_store_file_modes, setup_open, teardown),
		cmocka_unit_test_setup_teardown(
		    test_store_file_wal_shm, setup_open, teardown),
		cmocka_unit_test_setup_teardown(
		    test_store_file_dir, setup_open, teardown),
		cmocka_unit_test_setup_teardown(
		    test_store_file_owner, setup_open, teardown),
		cmocka_unit_test_setup_teardown(
		    test_key_and_store, setup, teardown),
		cmocka_unit_test(test_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
