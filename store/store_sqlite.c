/*
 * store_sqlite.c: the embedded store backend, one SQLite file.
 *
 * Durability: WAL with synchronous=FULL, so a transaction is on disk (the
 * WAL fsynced) when COMMIT returns, and a crash at any point leaves the
 * last committed state.  Group commit (the daemon's, store.h) is WAL
 * with synchronous=NORMAL instead, and every outermost begin() ...
 * commit() a savepoint inside one open transaction (the batch), which
 * settle() commits: one COMMIT appends the pages the batch changed to
 * the WAL once (a page many runs touched, once), without a sync; flush()
 * is one fdatasync() of the WAL for every COMMIT before it, on a
 * descriptor of our own (so that it may run on another thread), and,
 * once the WAL is long, a checkpoint on a connection of our own in place
 * of SQLite's automatic one on the owning thread.  A checkpoint syncs the
 * WAL before and the database after, so a power loss takes back at most
 * the commits since the last flush, whole and in order.  Every write runs
 * in BEGIN IMMEDIATE, which takes the write lock up front: a
 * read-then-write (the state machine in store.c) cannot be overtaken by
 * another writer, and contention shows up as a busy wait at BEGIN, never
 * as a failure half-way (with group commit, at the turn's first begin).
 *
 * Hardening: the file is created 0600 before SQLite sees it (SQLite would
 * use 0644, and gives the -wal and -shm files the database's mode), an
 * existing one is refused unless only rotad's user may change it
 * (store_file_check()), symbolic links are refused, secure_delete zeroes the
 * space of deleted rows (a re-wrapped DEK must not linger), defensive mode
 * forbids writes to the schema, and an integrity check (quick_check) runs at
 * every open.
 *
 * Schema: the meta table holds schema_version and the wrapped DEK.  The
 * migrations[] array holds one step per schema version; opening applies
 * the missing steps in one transaction, and refuses a store newer than
 * this code.  Enums are stored as text, so a row reads the same to an
 * operator with sqlite3(1) and to a future rotad.
 *
 * Statements are prepared once per store, on first use, and kept.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "fsutil.h"
#include "store-internal.h"

/* SQLite 3.31 and later; older ones cannot refuse links themselves. */
#ifndef SQLITE_OPEN_NOFOLLOW
#define SQLITE_OPEN_NOFOLLOW 0
#endif
/* SQLite 3.37 and later: extended result codes from open itself. */
#ifndef SQLITE_OPEN_EXRESCODE
#define SQLITE_OPEN_EXRESCODE 0
#endif

/* "rota", in the database header: tells our files from other programs'. */
#define APPLICATION_ID 0x726f7461

#define BUSY_TIMEOUT_MS 5000
/* Group commit: flush() checkpoints once the WAL has this many frames
 * (SQLite's own automatic checkpoint threshold). */
#define CHECKPOINT_FRAMES 1000

/*
 * The runs that recovery looks at, as a partial index's predicate and
 * the query that uses the index (the same text, so that the planner sees
 * the one imply the other).  Not "state IN (...)": see migration 5.
 */
#define UNFINISHED_WHERE                                                       \
	"state = 'prepared' OR state = 'applied' OR state = 'verified'"        \
	" OR state = 'out_of_sync'"

static const char *const migrations[] = {
	/* 1: the first schema. */
	"CREATE TABLE meta ("
	"  key TEXT PRIMARY KEY NOT NULL,"
	"  value ANY NOT NULL"
	") STRICT;"
	"CREATE TABLE secrets ("
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
	/* The invariant the protocol rests on, kept by the database too. */
	"CREATE UNIQUE INDEX secrets_pending ON secrets (user_name)"
	"  WHERE state = 'pending';"
	"CREATE UNIQUE INDEX secrets_current ON secrets (user_name)"
	"  WHERE state = 'current';"
	"CREATE UNIQUE INDEX secrets_previous ON secrets (user_name)"
	"  WHERE state = 'previous';"
	"CREATE TABLE runs ("
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
	"CREATE INDEX runs_user ON runs (user_name, created);"
	"CREATE INDEX runs_created ON runs (created);"
	"CREATE INDEX runs_unfinished ON runs (created)"
	"  WHERE state IN ('prepared', 'applied', 'verified', 'out_of_sync');"
	"CREATE TABLE schedule ("
	"  user_name TEXT PRIMARY KEY NOT NULL,"
	"  next_fire INTEGER NOT NULL,"
	"  last_fire INTEGER NOT NULL,"
	"  last_outcome TEXT NOT NULL,"
	"  last_run_id TEXT"
	") STRICT, WITHOUT ROWID;"
	/* AUTOINCREMENT: an id is never reused, even after a purge, so a
	 * sink that remembers ids cannot confuse two events. */
	"CREATE TABLE events ("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  time INTEGER NOT NULL,"
	"  payload BLOB NOT NULL,"
	"  delivered INTEGER NOT NULL DEFAULT 0 CHECK (delivered IN (0, 1))"
	") STRICT;"
	"CREATE INDEX events_undelivered ON events (id) WHERE delivered = 0;",
	/* 2: what post-rotation scripts left with their runs.  The foreign
	 * key documents the link; the connection does not enforce foreign
	 * keys, so store.c checks the run exists. */
	"CREATE TABLE run_outputs ("
	"  run_id TEXT NOT NULL REFERENCES runs (id),"
	"  seq INTEGER NOT NULL CHECK (seq > 0),"
	"  script TEXT NOT NULL,"
	"  ok INTEGER NOT NULL CHECK (ok IN (0, 1)),"
	"  message TEXT NOT NULL,"
	"  output BLOB NOT NULL,"
	"  PRIMARY KEY (run_id, seq)"
	") STRICT, WITHOUT ROWID;",
	/* 3: a pause outlives the daemon (`rotactl pause`).  Rows of users
	 * that were running keep running: the default is 0. */
	("ALTER TABLE schedule ADD COLUMN"
	 "  paused INTEGER NOT NULL DEFAULT 0 CHECK (paused IN (0, 1));"),
	/* 4: how far each event sink has acknowledged the spool (the id of
	 * its last event delivered, in order). */
	("CREATE TABLE event_cursors ("
	 "  sink TEXT PRIMARY KEY,"
	 "  id INTEGER NOT NULL CHECK (id >= 0)"
	 ") STRICT, WITHOUT ROWID;"),
	/* 5: the same constraints, without IN lists.  SQLite builds an
	 * ephemeral index from an IN list of more than two constants every
	 * time a statement runs: four for each update of a run (its two
	 * CHECKs, and the partial index's predicate on the old row and the
	 * new), one for each write of a secret.  That made an update of a
	 * run 8 us of the loop's time instead of 2 (perf: a quarter of
	 * the store's share of a MariaDB wave).  A CHECK changes only with
	 * its table, so secrets and runs are rebuilt, rows and rowids
	 * kept (SQLite's twelve steps; the connection enforces no foreign
	 * key, and run_outputs names runs by name). */
	("CREATE TABLE secrets_v5 ("
	 "  user_name TEXT NOT NULL,"
	 "  version INTEGER NOT NULL CHECK (version > 0),"
	 "  state TEXT NOT NULL CHECK (state = 'pending' OR state = 'current'"
	 "    OR state = 'previous' OR state = 'history'"
	 "    OR state = 'discarded'),"
	 "  run_id TEXT,"
	 "  created INTEGER NOT NULL,"
	 "  changed INTEGER NOT NULL,"
	 "  value BLOB NOT NULL,"
	 "  PRIMARY KEY (user_name, version)"
	 ") STRICT, WITHOUT ROWID;"
	 "INSERT INTO secrets_v5 SELECT user_name, version, state, run_id,"
	 "  created, changed, value FROM secrets;"
	 "DROP TABLE secrets;"
	 "ALTER TABLE secrets_v5 RENAME TO secrets;"
	 "CREATE UNIQUE INDEX secrets_pending ON secrets (user_name)"
	 "  WHERE state = 'pending';"
	 "CREATE UNIQUE INDEX secrets_current ON secrets (user_name)"
	 "  WHERE state = 'current';"
	 "CREATE UNIQUE INDEX secrets_previous ON secrets (user_name)"
	 "  WHERE state = 'previous';"
	 "CREATE TABLE runs_v5 ("
	 "  id TEXT PRIMARY KEY NOT NULL,"
	 "  user_name TEXT NOT NULL,"
	 "  state TEXT NOT NULL CHECK (state = 'prepared' OR state = 'applied'"
	 "    OR state = 'verified' OR state = 'committed' OR state = 'failed'"
	 "    OR state = 'out_of_sync'),"
	 "  attempts INTEGER NOT NULL CHECK (attempts >= 0),"
	 "  error_class TEXT NOT NULL CHECK (error_class = 'none'"
	 "    OR error_class = 'transient' OR error_class = 'auth'"
	 "    OR error_class = 'policy' OR error_class = 'fatal'),"
	 "  created INTEGER NOT NULL,"
	 "  updated INTEGER NOT NULL,"
	 "  message TEXT NOT NULL"
	 ") STRICT;"
	 "INSERT INTO runs_v5 (rowid, id, user_name, state, attempts,"
	 "  error_class, created, updated, message)"
	 "  SELECT rowid, id, user_name, state, attempts, error_class,"
	 "  created, updated, message FROM runs;"
	 "DROP TABLE runs;"
	 "ALTER TABLE runs_v5 RENAME TO runs;"
	 "CREATE INDEX runs_user ON runs (user_name, created);"
	 "CREATE INDEX runs_created ON runs (created);"
	 "CREATE INDEX runs_unfinished ON runs (created)"
	 "  WHERE " UNFINISHED_WHERE ";"),
	/* 6: what a run does, rotate or verify, kept rather than guessed
	 * from its message, which a retry or a failure replaces.  Rows from
	 * before are given the guess they were shown by (a message that
	 * starts with "verify"), less the rows the data says are rotations:
	 * one in state verified (a verify run never is), or one a secret
	 * version names (a verify run makes none). */
	("ALTER TABLE runs ADD COLUMN kind TEXT NOT NULL DEFAULT 'rotate'"
	 "  CHECK (kind = 'rotate' OR kind = 'verify');"
	 "UPDATE runs SET kind = 'verify'"
	 "  WHERE substr(message, 1, 6) = 'verify' AND state <> 'verified'"
	 "  AND NOT EXISTS (SELECT 1 FROM secrets"
	 "    WHERE secrets.run_id = runs.id);"),
};

#define SCHEMA_VERSION ((int)(sizeof(migrations) / sizeof(migrations[0])))

#define SECRET_COLUMNS "version, state, run_id, created, changed, value"
#define RUN_COLUMNS                                                            \
	"id, user_name, state, attempts, error_class, created, updated, "      \
	"message, kind"
enum stmt_id {
	ST_BEGIN,
	ST_BEGIN_READ,
	ST_COMMIT,
	ST_ROLLBACK,
	ST_SAVEPOINT,
	ST_RELEASE,
	ST_ROLLBACK_TO,
	ST_META_GET,
	ST_META_PUT,
	ST_SECRET_LAST,
	ST_SECRET_INSERT,
	ST_SECRET_PENDING, /* by state: in the order of store_secret_state */
	ST_SECRET_CURRENT,
	ST_SECRET_PREVIOUS,
	ST_SECRET_HISTORY,
	ST_SECRET_DISCARDED,
	ST_SECRET_BY_VERSION,
	ST_SECRET_SET_STATE,
	ST_SECRET_LIST,
	ST_RUN_INSERT,
	ST_RUN_UPDATE,
	ST_RUN_GET,
	ST_RUN_LIST_USER,
	ST_RUN_LIST_ALL,
	ST_RUN_LIST_UNFINISHED,
	ST_RUN_OUTPUT_INSERT,
	ST_RUN_OUTPUT_LIST,
	ST_SCHEDULE_GET,
	ST_SCHEDULE_PUT,
	ST_EVENT_PUT,
	ST_EVENT_LIST,
	ST_EVENT_ACK,
	ST_EVENT_PURGE,
	ST_EVENT_SINCE,
	ST_EVENT_LAST,
	ST_EVENT_TRIM,
	ST_CURSOR_GET,
	ST_CURSOR_PUT,
	ST_COUNT
};

_Static_assert(ST_SECRET_DISCARDED - ST_SECRET_PENDING ==
	STORE_SECRET_DISCARDED - STORE_SECRET_PENDING,
    "a statement per secret state, in the enum's order");

static const char *const sql[ST_COUNT] = {
	[ST_BEGIN] = "BEGIN IMMEDIATE",
	/* Deferred: the first read takes a snapshot (WAL: a read mark),
	 * no lock a writer waits for. */
	[ST_BEGIN_READ] = "BEGIN DEFERRED",
	[ST_COMMIT] = "COMMIT",
	[ST_ROLLBACK] = "ROLLBACK",
	[ST_SAVEPOINT] = "SAVEPOINT nested",
	[ST_RELEASE] = "RELEASE nested",
	[ST_ROLLBACK_TO] = "ROLLBACK TO nested",
	[ST_META_GET] = "SELECT value FROM meta WHERE key = ?1",
	[ST_META_PUT] =
	    "INSERT INTO meta (key, value) VALUES (?1, ?2)"
	    " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
	[ST_SECRET_LAST] = "SELECT coalesce(max(version), 0) FROM secrets"
			   " WHERE user_name = ?1",
	[ST_SECRET_INSERT] = "INSERT INTO secrets (user_name, " SECRET_COLUMNS
			     ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
/* The state written in, not bound: the partial indexes name it,
 * and SQLite compiles a statement again at every new value bound
 * where one is compared with a partial index's WHERE.  A state with a
 * unique index holds one version at most: no ORDER BY, which sorts in
 * a temporary b-tree at every lookup. */
#define SECRET_BY_STATE(state)                                                 \
	"SELECT " SECRET_COLUMNS " FROM secrets"                               \
	" WHERE user_name = ?1 AND state = '" state "'"
#define LATEST " ORDER BY version DESC LIMIT 1"
	[ST_SECRET_PENDING] = SECRET_BY_STATE("pending"),
	[ST_SECRET_CURRENT] = SECRET_BY_STATE("current"),
	[ST_SECRET_PREVIOUS] = SECRET_BY_STATE("previous"),
	[ST_SECRET_HISTORY] = SECRET_BY_STATE("history") LATEST,
	[ST_SECRET_DISCARDED] = SECRET_BY_STATE("discarded") LATEST,
#undef SECRET_BY_STATE
#undef LATEST
	[ST_SECRET_BY_VERSION] = "SELECT " SECRET_COLUMNS " FROM secrets"
				 " WHERE user_name = ?1 AND version = ?2",
	[ST_SECRET_SET_STATE] = "UPDATE secrets SET state = ?3, changed = ?4"
				" WHERE user_name = ?1 AND version = ?2",
	[ST_SECRET_LIST] = "SELECT version, state, run_id, created, changed,"
			   " NULL FROM secrets WHERE user_name = ?1"
			   " ORDER BY version DESC",
	[ST_RUN_INSERT] = "INSERT INTO runs (" RUN_COLUMNS ")"
			  " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
	[ST_RUN_UPDATE] = "UPDATE runs SET state = ?3, attempts = ?4,"
			  " error_class = ?5, updated = ?7, message = ?8"
			  " WHERE id = ?1",
	[ST_RUN_GET] = "SELECT " RUN_COLUMNS " FROM runs WHERE id = ?1",
	[ST_RUN_LIST_USER] = "SELECT " RUN_COLUMNS " FROM runs"
			     " WHERE user_name = ?1"
			     " ORDER BY created DESC, rowid DESC LIMIT ?2",
	[ST_RUN_LIST_ALL] = "SELECT " RUN_COLUMNS " FROM runs"
			    " ORDER BY created DESC, rowid DESC LIMIT ?2",
	[ST_RUN_LIST_UNFINISHED] =
	    "SELECT " RUN_COLUMNS " FROM runs"
	    " WHERE " UNFINISHED_WHERE " ORDER BY created, rowid",
	[ST_RUN_OUTPUT_INSERT] = "INSERT INTO run_outputs (run_id, seq, script,"
				 " ok, message, output)"
				 " VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
	[ST_RUN_OUTPUT_LIST] = "SELECT seq, script, ok, message, output"
			       " FROM run_outputs WHERE run_id = ?1"
			       " ORDER BY seq",
	[ST_SCHEDULE_GET] = "SELECT next_fire, last_fire, last_outcome,"
			    " last_run_id, paused FROM schedule"
			    " WHERE user_name = ?1",
	[ST_SCHEDULE_PUT] = "INSERT INTO schedule (user_name, next_fire,"
			    " last_fire, last_outcome, last_run_id, paused)"
			    " VALUES (?1, ?2, ?3, ?4, ?5, ?6)"
			    " ON CONFLICT (user_name) DO UPDATE SET"
			    " next_fire = excluded.next_fire,"
			    " last_fire = excluded.last_fire,"
			    " last_outcome = excluded.last_outcome,"
			    " last_run_id = excluded.last_run_id,"
			    " paused = excluded.paused",
	[ST_EVENT_PUT] = "INSERT INTO events (time, payload) VALUES (?1, ?2)",
	[ST_EVENT_LIST] = "SELECT id, time, payload FROM events"
			  " WHERE delivered = 0 ORDER BY id LIMIT ?1",
	[ST_EVENT_ACK] = "UPDATE events SET delivered = 1 WHERE id = ?1",
	[ST_EVENT_SINCE] = "SELECT id, time, payload FROM events"
			   " WHERE id > ?2 ORDER BY id LIMIT ?1",
	[ST_EVENT_LAST] = "SELECT seq FROM sqlite_sequence"
			  " WHERE name = 'events'",
	[ST_EVENT_TRIM] = "DELETE FROM events WHERE id <= ?1",
	[ST_CURSOR_GET] = "SELECT id FROM event_cursors WHERE sink = ?1",
	[ST_CURSOR_PUT] = "INSERT INTO event_cursors (sink, id) VALUES (?1, ?2)"
			  " ON CONFLICT (sink) DO UPDATE SET id = excluded.id",
	[ST_EVENT_PURGE] = "DELETE FROM events"
			   " WHERE delivered = 1 AND time < ?1",
};

struct store_backend {
	sqlite3 *db;
	char *path;
	char *err; /* the store's message buffer */
	size_t errlen;
	int depth; /* nesting of begin() */
	sqlite3_stmt *stmt[ST_COUNT];
	/* Group commit: the WAL, open for flush() alone (-1: every commit
	 * durable as it returns); the outermost commits that changed
	 * something, and the change count at the outermost begin. */
	int walfd;
	uint64_t written;
	int64_t changes0;
	/* Group commit settles too: an outermost begin() opens a savepoint
	 * inside one transaction (the batch: BEGIN IMMEDIATE at the first,
	 * open until settle() commits it); broken once SQLite has rolled
	 * the batch back by itself, losing commits it held. */
	bool open;
	bool broken;
	/* Group commit checkpoints in flush(), off the owning thread, on a
	 * connection of its own; the WAL's length in frames after the last
	 * COMMIT, from SQLite's WAL hook (which replaces its automatic
	 * checkpoint, otherwise run by the COMMIT, two syncs included). */
	sqlite3 *ckdb;
	atomic_int wal_frames;
};

/* ---- errors ---- */

static int
errno_of(struct store_backend *b, int rc)
{
	/* The extended codes that mean something more precise. */
	switch (rc) {
	case SQLITE_CANTOPEN_SYMLINK:
		return -ELOOP;
	case SQLITE_CONSTRAINT_CHECK:
	case SQLITE_CONSTRAINT_NOTNULL:
		return -EINVAL;
	}
	switch (rc & 0xff) {
	case SQLITE_OK:
	case SQLITE_ROW:
	case SQLITE_DONE:
		return 0;
	case SQLITE_NOMEM:
		return -ENOMEM;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return -EBUSY;
	case SQLITE_CONSTRAINT:
		return -EEXIST;
	case SQLITE_FULL:
		return -ENOSPC;
	case SQLITE_READONLY:
		return -EROFS;
	case SQLITE_PERM:
	case SQLITE_AUTH:
		return -EACCES;
	case SQLITE_TOOBIG:
		return -E2BIG;
	case SQLITE_CANTOPEN:
		return b->db != NULL && sqlite3_system_errno(b->db) > 0
		    ? -sqlite3_system_errno(b->db)
		    : -EACCES;
	default:
		return -EIO;
	}
}

/* Describe a failed SQLite call: "PATH: WHAT: SQLite's message". */
static int
db_fail(struct store_backend *b, int rc, const char *what)
{
	return why_fail(b->err, b->errlen, errno_of(b, rc), "%s: %s: %s",
	    b->path, what,
	    b->db != NULL ? sqlite3_errmsg(b->db) : sqlite3_errstr(rc));
}

static int
corrupt(struct store_backend *b, const char *what)
{
	return why_fail(
	    b->err, b->errlen, -EIO, "%s: corrupt %s", b->path, what);
}

/* ---- statements ---- */

static int
prepare(struct store_backend *b, enum stmt_id id, sqlite3_stmt **ret)
{
	int rc;

	if (b->stmt[id] == NULL) {
		rc = sqlite3_prepare_v3(b->db, sql[id], -1,
		    SQLITE_PREPARE_PERSISTENT, &b->stmt[id], NULL);
		if (rc != SQLITE_OK)
			return db_fail(b, rc, "preparing a statement");
	}
	*ret = b->stmt[id];
	return 0;
}

/* Make S ready for its next use, and drop pointers to the caller's
 * bound data (bound SQLITE_STATIC). */
static void
done(sqlite3_stmt *s)
{
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
}

/* Run a statement that returns no rows. */
static int
run(struct store_backend *b, sqlite3_stmt *s, const char *what)
{
	int rc = sqlite3_step(s), r = 0;

	if (rc != SQLITE_DONE)
		r = db_fail(b, rc, what);
	done(s);
	return r;
}

static int
run_id(struct store_backend *b, enum stmt_id id, const char *what)
{
	sqlite3_stmt *s = NULL;
	int r;

	r = prepare(b, id, &s);
	return r < 0 ? r : run(b, s, what);
}

static int
bind_text(sqlite3_stmt *s, int i, const char *t)
{
	return t == NULL || t[0] == '\0'
	    ? sqlite3_bind_null(s, i)
	    : sqlite3_bind_text(s, i, t, -1, SQLITE_STATIC);
}

static int
bind_blob(sqlite3_stmt *s, int i, const struct store_blob *v)
{
	return sqlite3_bind_blob64(s, i, v->data, v->len, SQLITE_STATIC);
}

/* Copy text column COL into BUF; NULL becomes "" when NULLABLE. */
static int
column_text(struct store_backend *b, sqlite3_stmt *s, int col, char *buf,
    size_t size, bool nullable, const char *what)
{
	const unsigned char *t;
	int n;

	if (sqlite3_column_type(s, col) == SQLITE_NULL) {
		if (!nullable)
			return corrupt(b, what);
		buf[0] = '\0';
		return 0;
	}
	t = sqlite3_column_text(s, col);
	n = sqlite3_column_bytes(s, col);
	if (t == NULL)
		return db_fail(b, sqlite3_errcode(b->db), what);
	if ((size_t)n >= size || memchr(t, '\0', (size_t)n) != NULL)
		return corrupt(b, what);
	memcpy(buf, t, (size_t)n);
	buf[n] = '\0';
	return 0;
}

/* Copy blob column COL into a new blob. */
static int
column_blob(struct store_backend *b, sqlite3_stmt *s, int col,
    struct store_blob *ret, const char *what)
{
	const void *v = sqlite3_column_blob(s, col);
	int n = sqlite3_column_bytes(s, col);

	ret->data = NULL;
	ret->len = 0;
	if (sqlite3_column_type(s, col) != SQLITE_BLOB || n <= 0)
		return corrupt(b, what);
	if (v == NULL)
		return db_fail(b, sqlite3_errcode(b->db), what);
	ret->data = malloc((size_t)n);
	if (ret->data == NULL)
		return why_fail(b->err, b->errlen, -ENOMEM, "out of memory");
	memcpy(ret->data, v, (size_t)n);
	ret->len = (size_t)n;
	return 0;
}

/* Column COL, text, as an enum through FROM_NAME. */
static int
column_enum(struct store_backend *b, sqlite3_stmt *s, int col,
    int (*from_name)(const char *), int *ret, const char *what)
{
	char name[32];
	int r;

	r = column_text(b, s, col, name, sizeof(name), false, what);
	if (r < 0)
		return r;
	r = from_name(name);
	if (r < 0)
		return corrupt(b, what);
	*ret = r;
	return 0;
}

/*
 * V (N elements used, *CAP allocated, of SIZE bytes each) with room for
 * one more: V itself, or a larger copy.  NULL when out of memory, with V
 * still valid.
 */
static void *
grow(struct store_backend *b, void *v, size_t *cap, size_t n, size_t size)
{
	size_t ncap;
	void *p;

	if (n < *cap)
		return v;
	ncap = *cap == 0 ? 16 : *cap * 2;
	p = reallocarray(v, ncap, size);
	if (p == NULL) {
		why_fail(b->err, b->errlen, -ENOMEM, "out of memory");
		return NULL;
	}
	*cap = ncap;
	return p;
}

/* What reads one row of a listing into the element at ELEM. */
typedef int row_reader(struct store_backend *b, sqlite3_stmt *s, void *elem);

/*
 * Every row of S (prepared and bound; done() here) into a new array of
 * SIZE-byte elements, each filled by READ_ROW; CLEAR, if not NULL,
 * frees what READ_ROW left in an element.  0 with the array in *RET (NULL for
 * none) and its length in *RET_N; or -errno, nothing kept, and WHAT
 * naming the listing in the error.
 */
static int
rows(struct store_backend *b, sqlite3_stmt *s, size_t size,
    row_reader *read_row, void (*clear)(void *elem), const char *what,
    void **ret, size_t *ret_n)
{
	size_t i, n = 0, cap = 0;
	char *v = NULL, *p;
	int r = 0, rc;

	*ret = NULL;
	*ret_n = 0;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if ((p = grow(b, v, &cap, n, size)) == NULL) {
			r = -ENOMEM;
			goto out;
		}
		v = p;
		if ((r = read_row(b, s, v + n * size)) < 0)
			goto out;
		n++;
	}
	if (rc != SQLITE_DONE)
		r = db_fail(b, rc, what);
out:
	done(s);
	if (r < 0) {
		for (i = 0; clear != NULL && i < n; i++)
			clear(v + i * size);
		free(v);
		return r;
	}
	*ret = v;
	*ret_n = n;
	return 0;
}

/* ---- transactions ---- */

/*
 * SQLite rolls a whole transaction back by itself after some errors
 * (disk full, I/O, out of memory).  Then we are no longer in a transaction
 * although depth says so; every later begin() and commit() in it must
 * fail, or the caller's remaining writes would each commit on their own.
 */
static bool
lost(struct store_backend *b)
{
	if (!sqlite3_get_autocommit(b->db))
		return false;
	if (b->open)
		b->broken = true;
	return b->depth > 0 || b->open;
}

/* Whether begin() opens a savepoint in the batch (group commit). */
static bool
batching(const struct store_backend *b)
{
	return b->walfd >= 0;
}

static int
broken_fail(struct store_backend *b)
{
	return why_fail(b->err, b->errlen, -EIO,
	    "%s: SQLite rolled back the commits since the last settle after "
	    "an error",
	    b->path);
}

static int
sqlite_begin(struct store_backend *b)
{
	int r;

	if (lost(b))
		return why_fail(b->err, b->errlen, -EIO,
		    "%s: the transaction was rolled back after an error",
		    b->path);
	if (b->broken)
		return broken_fail(b);
	if (batching(b) && !b->open) {
		r = run_id(b, ST_BEGIN, "starting a transaction");
		if (r < 0)
			return r;
		b->open = true;
	}
	r = run_id(b, b->depth == 0 && !batching(b) ? ST_BEGIN : ST_SAVEPOINT,
	    "starting a transaction");
	if (r == 0 && b->depth++ == 0)
		b->changes0 = sqlite3_total_changes64(b->db);
	return r;
}

static int
sqlite_rollback(struct store_backend *b)
{
	int r;

	if (b->depth == 0)
		return why_fail(
		    b->err, b->errlen, -EINVAL, "no transaction to roll back");
	if (lost(b))
		r = 0;
	else if (b->depth == 1 && !batching(b))
		r = run_id(b, ST_ROLLBACK, "rolling back");
	else {
		r = run_id(b, ST_ROLLBACK_TO, "rolling back");
		if (r == 0)
			r = run_id(b, ST_RELEASE, "rolling back");
	}
	b->depth--;
	return r;
}

static int
sqlite_commit(struct store_backend *b)
{
	int r;

	if (b->depth == 0)
		return why_fail(
		    b->err, b->errlen, -EINVAL, "no transaction to commit");
	if (lost(b)) {
		b->depth--;
		return why_fail(b->err, b->errlen, -EIO,
		    "%s: the transaction was rolled back after an error",
		    b->path);
	}
	r = run_id(b, b->depth == 1 && !batching(b) ? ST_COMMIT : ST_RELEASE,
	    "committing");
	if (r == 0 && b->depth == 1 &&
	    sqlite3_total_changes64(b->db) != b->changes0)
		b->written++;
	if (r < 0) {
		/* A failed COMMIT may leave the transaction open; end it,
		 * keeping the first error's message. */
		if (b->depth == 1 && !batching(b) &&
		    !sqlite3_get_autocommit(b->db))
			sqlite3_exec(b->db, "ROLLBACK", NULL, NULL, NULL);
		else if (!sqlite3_get_autocommit(b->db))
			sqlite3_exec(b->db,
			    "ROLLBACK TO nested; RELEASE nested", NULL, NULL,
			    NULL);
	}
	b->depth--;
	return r;
}

static int
sqlite_read_begin(struct store_backend *b)
{
	if (b->depth > 0 || (!b->open && !sqlite3_get_autocommit(b->db)))
		return why_fail(b->err, b->errlen, -EINVAL,
		    "a read snapshot inside a transaction");
	/* The batch is a snapshot already: no other connection writes
	 * while it is open. */
	if (b->open)
		return 0;
	return run_id(b, ST_BEGIN_READ, "starting a read");
}

static void
sqlite_read_end(struct store_backend *b)
{
	/* Nothing was written: ending it cannot lose anything. */
	if (b->depth == 0 && !b->open && !sqlite3_get_autocommit(b->db))
		sqlite3_exec(b->db, "COMMIT", NULL, NULL, NULL);
}

/*
 * Group commit: the batch's commits, made since the last settle() as
 * savepoints released, become one COMMIT, appended to the WAL (not
 * synced: flush() does that).  After a failure here, or once SQLite has
 * rolled the batch back by itself, those commits are gone, and every
 * settle() says so until the store is closed.
 */
static int
sqlite_settle(struct store_backend *b)
{
	int r;

	if (b->depth > 0)
		return why_fail(b->err, b->errlen, -EINVAL,
		    "settling inside a transaction");
	(void)lost(b);
	if (b->broken) {
		if (!sqlite3_get_autocommit(b->db))
			sqlite3_exec(b->db, "ROLLBACK", NULL, NULL, NULL);
		b->open = false;
		return broken_fail(b);
	}
	if (!b->open)
		return 0;
	r = run_id(b, ST_COMMIT, "committing");
	if (r < 0) {
		if (!sqlite3_get_autocommit(b->db))
			sqlite3_exec(b->db, "ROLLBACK", NULL, NULL, NULL);
		b->broken = true;
	}
	b->open = false;
	return r;
}

static void
sqlite_scrub(struct store_backend *b)
{
	/*
	 * secure_delete has zeroed the old row in the database file, but
	 * the WAL may still hold the page as it was.  Checkpoint and
	 * truncate it.  Best effort: another connection reading the store
	 * makes this a partial checkpoint, and the next full one finishes
	 * the job.
	 */
	if (b->depth == 0 && sqlite_settle(b) == 0)
		sqlite3_wal_checkpoint_v2(
		    b->db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
}

/* ---- opening ---- */

static int
exec(struct store_backend *b, const char *q, const char *what)
{
	int rc = sqlite3_exec(b->db, q, NULL, NULL, NULL);

	return rc == SQLITE_OK ? 0 : db_fail(b, rc, what);
}

/* A one-row, one-column query: its text into BUF, or its integer. */
static int
query(struct store_backend *b, const char *q, char *buf, size_t size,
    int64_t *ret_int)
{
	sqlite3_stmt *s = NULL;
	const unsigned char *t;
	int rc, r = 0;

	rc = sqlite3_prepare_v2(b->db, q, -1, &s, NULL);
	if (rc != SQLITE_OK)
		return db_fail(b, rc, q);
	rc = sqlite3_step(s);
	if (rc != SQLITE_ROW) {
		r = rc == SQLITE_DONE ? corrupt(b, q) : db_fail(b, rc, q);
		goto out;
	}
	if (ret_int != NULL)
		*ret_int = sqlite3_column_int64(s, 0);
	if (buf != NULL) {
		t = sqlite3_column_text(s, 0);
		snprintf(buf, size, "%s", t != NULL ? (const char *)t : "");
	}
out:
	sqlite3_finalize(s);
	return r;
}

/*
 * Without STORE_OPEN_CREATE the store must be there and hold something: a
 * missing or empty file is a store lost (a wrong path, a volume not
 * mounted, a restore gone wrong), and making a new one would silently
 * forget every secret.  Only `rotad --init` creates a store.
 */
static int
must_exist(struct store_backend *b)
{
	struct stat sb;
	int r;

	if (lstat(b->path, &sb) < 0) {
		r = -errno;
		if (r == -ENOENT)
			return why_fail(b->err, b->errlen, r,
			    "%s does not exist; rotad --init creates a store "
			    "(restore it from a backup if it held secrets)",
			    b->path);
		return why_fail(b->err, b->errlen, r, "cannot stat %s: %s",
		    b->path, strerror(-r));
	}
	if (S_ISREG(sb.st_mode) && sb.st_size == 0)
		return why_fail(b->err, b->errlen, -ENODATA,
		    "%s is empty; restore it from a backup, or remove it and "
		    "run rotad --init for a new store",
		    b->path);
	return 0;
}

/*
 * Create PATH, empty, mode 0600, unless it exists.  *ret_created tells
 * whether we did.  SQLite would create it 0644 & ~umask and give that
 * mode to the -wal and -shm files too; changing the process's umask
 * instead would race with other threads.
 */
static int
precreate(struct store_backend *b, bool *ret_created)
{
	int fd, r = 0;

	*ret_created = false;
	fd = open(b->path,
	    O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY,
	    0600);
	if (fd < 0) {
		if (errno == EEXIST)
			return 0;
		r = -errno;
		return why_fail(b->err, b->errlen, r, "cannot create %s: %s",
		    b->path, strerror(-r));
	}
	*ret_created = true;
	if (fchmod(fd, 0600) < 0)
		r = -errno;
	close(fd);
	if (r < 0) {
		unlink(b->path);
		return why_fail(b->err, b->errlen, r, "cannot chmod %s: %s",
		    b->path, strerror(-r));
	}
	return 0;
}

static int
fsync_dir(struct store_backend *b)
{
	int r = fsutil_fsync_dir(b->path);

	if (r < 0)
		why_fail(b->err, b->errlen, r,
		    "cannot sync the directory of %s: %s", b->path,
		    strerror(-r));
	return r;
}

/* PRAGMA quick_check: the first complaint, if any, is the message. */
static int
check(struct store_backend *b)
{
	char result[256];
	int r;

	r = query(b, "PRAGMA quick_check", result, sizeof(result), NULL);
	if (r < 0)
		return r;
	if (strcmp(result, "ok") != 0)
		return why_fail(b->err, b->errlen, -EIO,
		    "%s: the integrity check failed: %s", b->path, result);
	return 0;
}

/*
 * Bring the schema up to SCHEMA_VERSION, all steps in one transaction
 * (SQLite's DDL is transactional), under the write lock so that two
 * processes opening a new store do not both create it.
 */
static int
migrate(struct store_backend *b)
{
	int64_t app, version = 0, tables;
	sqlite3_stmt *s = NULL;
	char q[64];
	int r, v = 0;

	r = sqlite_begin(b);
	if (r < 0)
		return r;
	r = query(b, "PRAGMA application_id", NULL, 0, &app);
	if (r < 0)
		goto out;
	r = query(b,
	    "SELECT count(*) FROM sqlite_schema WHERE type = 'table'"
	    " AND name = 'meta'",
	    NULL, 0, &tables);
	if (r == 0 && tables > 0)
		r = query(b,
		    "SELECT value FROM meta"
		    " WHERE key = 'schema_version'",
		    NULL, 0, &version);
	else if (r == 0)
		r = query(
		    b, "SELECT count(*) FROM sqlite_schema", NULL, 0, &tables);
	if (r < 0)
		goto out;
	/* A database of another program: do not add our tables to it. */
	if ((app != 0 && app != APPLICATION_ID) || (version == 0 && tables)) {
		r = why_fail(b->err, b->errlen, -EINVAL,
		    "%s is not a rotad store", b->path);
		goto out;
	}
	if (version > SCHEMA_VERSION) {
		r = why_fail(b->err, b->errlen, -EPROTO,
		    "%s has schema version %lld, newer than this rotad's %d; "
		    "run a newer rotad",
		    b->path, (long long)version, SCHEMA_VERSION);
		goto out;
	}
	if (version == SCHEMA_VERSION)
		goto out;
	for (v = (int)version; v < SCHEMA_VERSION; v++) {
		r = exec(b, migrations[v], "migrating the schema");
		if (r < 0)
			goto out;
	}
	snprintf(q, sizeof(q), "PRAGMA application_id = %d", APPLICATION_ID);
	r = exec(b, q, "setting the application id");
	if (r == 0)
		r = prepare(b, ST_META_PUT, &s);
	if (r == 0) {
		sqlite3_bind_text(s, 1, "schema_version", -1, SQLITE_STATIC);
		sqlite3_bind_int(s, 2, SCHEMA_VERSION);
		r = run(b, s, "migrating the schema");
	}
out:
	if (r == 0)
		return sqlite_commit(b);
	sqlite_rollback(b);
	return r;
}

static void
sqlite_close(struct store_backend *b)
{
	int i;

	if (b == NULL)
		return;
	/* The batch's commits were made: they stay (unless broken). */
	if (b->open && b->depth == 0)
		(void)sqlite_settle(b);
	/* Ours first, so that the store's own connection closes last and
	 * checkpoints. */
	sqlite3_close_v2(b->ckdb);
	/* Another process may hold the store open, and then closing
	 * checkpoints nothing: what group commit left unsynced goes now. */
	if (b->walfd >= 0) {
		(void)fdatasync(b->walfd);
		close(b->walfd);
	}
	for (i = 0; i < ST_COUNT; i++)
		sqlite3_finalize(b->stmt[i]);
	/* Rolls back a transaction left open; the last connection to close
	 * checkpoints the WAL and removes it. */
	sqlite3_close_v2(b->db);
	free(b->path);
	free(b);
}

/* A connection of ours: extended codes, a busy wait, and the file
 * trusted for nothing (no schema-defined functions, defensive mode). */
static void
harden(sqlite3 *db)
{
	sqlite3_extended_result_codes(db, 1);
	sqlite3_busy_timeout(db, BUSY_TIMEOUT_MS);
	sqlite3_db_config(db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
	sqlite3_db_config(db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, NULL);
}

static int
sqlite_open(const char *location, bool create, char *err, size_t errlen,
    struct store_backend **ret)
{
	struct store_backend *b = NULL;
	bool created = false;
	char mode[16];
	int rc, r;

	*ret = NULL;
	if (location[0] == '\0')
		return why_fail(err, errlen, -EINVAL, "no store path");
	b = calloc(1, sizeof(*b));
	if (b == NULL)
		return why_fail(err, errlen, -ENOMEM, "out of memory");
	b->err = err;
	b->errlen = errlen;
	b->walfd = -1;
	b->path = strdup(location);
	if (b->path == NULL) {
		r = why_fail(err, errlen, -ENOMEM, "out of memory");
		goto out;
	}
	r = create ? precreate(b, &created) : must_exist(b);
	/* Before SQLite reads a byte of it or makes its -wal and -shm. */
	if (r == 0 && (r = store_file_check(b->path, err, errlen)) < 0 &&
	    created)
		unlink(b->path);
	if (r < 0)
		goto out;
	/* No SQLITE_OPEN_CREATE: precreate() made the file, and should it
	 * vanish since, SQLite must not make it again with its own mode. */
	rc = sqlite3_open_v2(location, &b->db,
	    SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOFOLLOW | SQLITE_OPEN_NOMUTEX |
		SQLITE_OPEN_EXRESCODE,
	    NULL);
	if (rc == SQLITE_CANTOPEN_SYMLINK) {
		r = why_fail(err, errlen, -ELOOP,
		    "%s is a symbolic link; name the store file itself",
		    b->path);
		goto out;
	}
	if (rc != SQLITE_OK) {
		r = db_fail(b, rc, "cannot open");
		goto out;
	}
	harden(b->db);
	r = query(b, "PRAGMA journal_mode = WAL", mode, sizeof(mode), NULL);
	if (r == 0 && strcmp(mode, "wal") != 0)
		r = why_fail(err, errlen, -EIO,
		    "%s: cannot use a write-ahead log (journal mode %s)",
		    b->path, mode);
	if (r == 0)
		r = exec(b,
		    "PRAGMA synchronous = FULL;"
		    "PRAGMA secure_delete = ON;"
		    "PRAGMA cell_size_check = ON;",
		    "setting up");
	if (r == 0)
		r = check(b);
	if (r == 0)
		r = migrate(b);
	if (r == 0 && created)
		r = fsync_dir(b);
	if (r < 0)
		goto out;
	*ret = b;
	b = NULL;
out:
	sqlite_close(b);
	return r;
}

/*
 * store_reader(): a connection of its own on B's file, read only (SQLite
 * refuses every write on it), without B's check and migration, which
 * B's open has made.  In WAL mode it reads beside B's writes, each
 * statement or read_begin() a snapshot of what B had committed then.
 */
static int
sqlite_reader(struct store_backend *b, char *err, size_t errlen,
    struct store_backend **ret)
{
	struct store_backend *rd;
	int rc, r = 0;

	*ret = NULL;
	rd = calloc(1, sizeof(*rd));
	if (rd == NULL)
		return why_fail(err, errlen, -ENOMEM, "out of memory");
	rd->err = err;
	rd->errlen = errlen;
	rd->walfd = -1;
	rd->path = strdup(b->path);
	if (rd->path == NULL) {
		r = why_fail(err, errlen, -ENOMEM, "out of memory");
		goto out;
	}
	rc = sqlite3_open_v2(rd->path, &rd->db,
	    SQLITE_OPEN_READONLY | SQLITE_OPEN_NOFOLLOW | SQLITE_OPEN_NOMUTEX |
		SQLITE_OPEN_EXRESCODE,
	    NULL);
	if (rc != SQLITE_OK) {
		r = db_fail(rd, rc, "cannot open a read connection");
		goto out;
	}
	harden(rd->db);
	r = exec(rd, "PRAGMA query_only = ON", "setting up a read connection");
	if (r < 0)
		goto out;
	*ret = rd;
	rd = NULL;
out:
	sqlite_close(rd);
	return r;
}

/* ---- rows ---- */

/* Step S expecting at most one row: 0 (on the row), -ENOENT, or an error.
 * The caller calls done(S). */
static int
step_row(struct store_backend *b, sqlite3_stmt *s, const char *what)
{
	int rc = sqlite3_step(s);

	if (rc == SQLITE_ROW)
		return 0;
	if (rc == SQLITE_DONE)
		return -ENOENT;
	return db_fail(b, rc, what);
}

/* A write changing one row: -ENOENT if it changed none. */
static int
run_one(struct store_backend *b, sqlite3_stmt *s, const char *what)
{
	int r = run(b, s, what);

	if (r == 0 && sqlite3_changes(b->db) == 0)
		r = -ENOENT;
	return r;
}

static int
bind_fail(struct store_backend *b, sqlite3_stmt *s, int rc)
{
	done(s);
	return db_fail(b, rc, "binding a value");
}

/* ---- the data key ---- */

static int
sqlite_dek_get(struct store_backend *b, struct store_blob *ret)
{
	sqlite3_stmt *s = NULL;
	int r;

	r = prepare(b, ST_META_GET, &s);
	if (r < 0)
		return r;
	sqlite3_bind_text(s, 1, "dek", -1, SQLITE_STATIC);
	r = step_row(b, s, "reading the data key");
	if (r == 0)
		r = column_blob(b, s, 0, ret, "data key");
	done(s);
	return r;
}

static int
sqlite_dek_put(struct store_backend *b, const struct store_blob *dek)
{
	sqlite3_stmt *s = NULL;
	int r, rc;

	r = prepare(b, ST_META_PUT, &s);
	if (r < 0)
		return r;
	sqlite3_bind_text(s, 1, "dek", -1, SQLITE_STATIC);
	rc = bind_blob(s, 2, dek);
	if (rc != SQLITE_OK)
		return bind_fail(b, s, rc);
	return run(b, s, "writing the data key");
}

/* ---- secrets ---- */

static int
read_secret(struct store_backend *b, sqlite3_stmt *s,
    struct store_secret_info *ret, struct store_blob *value)
{
	int state = 0, r;

	ret->version = sqlite3_column_int64(s, 0);
	r = column_enum(
	    b, s, 1, store_secret_state_from_name, &state, "secret state");
	if (r < 0)
		return r;
	ret->state = (enum store_secret_state)state;
	r = column_text(
	    b, s, 2, ret->run_id, sizeof(ret->run_id), true, "secret run id");
	if (r < 0)
		return r;
	ret->created = sqlite3_column_int64(s, 3);
	ret->changed = sqlite3_column_int64(s, 4);
	return value != NULL ? column_blob(b, s, 5, value, "secret value") : 0;
}

static int
sqlite_secret_last_version(
    struct store_backend *b, const char *user, int64_t *ret)
{
	sqlite3_stmt *s = NULL;
	int r;

	r = prepare(b, ST_SECRET_LAST, &s);
	if (r < 0)
		return r;
	sqlite3_bind_text(s, 1, user, -1, SQLITE_STATIC);
	r = step_row(b, s, "reading secret versions");
	if (r == 0)
		*ret = sqlite3_column_int64(s, 0);
	else if (r == -ENOENT)
		r = corrupt(b, "secret versions");
	done(s);
	return r;
}

static int
sqlite_secret_insert(struct store_backend *b, const char *user,
    const struct store_secret_info *info, const struct store_blob *value)
{
	sqlite3_stmt *s = NULL;
	int r, rc;

	r = prepare(b, ST_SECRET_INSERT, &s);
	if (r < 0)
		return r;
	if ((rc = sqlite3_bind_text(s, 1, user, -1, SQLITE_STATIC)) ||
	    (rc = sqlite3_bind_int64(s, 2, info->version)) ||
	    (rc = sqlite3_bind_text(s, 3, store_secret_state_name(info->state),
		 -1, SQLITE_STATIC)) ||
	    (rc = bind_text(s, 4, info->run_id)) ||
	    (rc = sqlite3_bind_int64(s, 5, info->created)) ||
	    (rc = sqlite3_bind_int64(s, 6, info->changed)) ||
	    (rc = bind_blob(s, 7, value)))
		return bind_fail(b, s, rc);
	return run(b, s, "writing a secret");
}

/* USER's secret by statement ID: by state (no ?2), or by version KEY. */
static int
secret_one(struct store_backend *b, enum stmt_id id, const char *user,
    int64_t key, struct store_secret_info *ret, struct store_blob *value)
{
	sqlite3_stmt *s = NULL;
	int r;

	r = prepare(b, id, &s);
	if (r < 0)
		return r;
	sqlite3_bind_text(s, 1, user, -1, SQLITE_STATIC);
	if (id == ST_SECRET_BY_VERSION)
		sqlite3_bind_int64(s, 2, key);
	r = step_row(b, s, "reading a secret");
	if (r == 0)
		r = read_secret(b, s, ret, value);
	done(s);
	return r;
}

static int
sqlite_secret_by_state(struct store_backend *b, const char *user,
    enum store_secret_state state, struct store_secret_info *ret,
    struct store_blob *value)
{
	if ((unsigned)state > STORE_SECRET_DISCARDED)
		return why_fail(b->err, b->errlen, -EINVAL, "no such state");
	return secret_one(
	    b, ST_SECRET_PENDING + (int)state, user, 0, ret, value);
}

static int
sqlite_secret_by_version(struct store_backend *b, const char *user,
    int64_t version, struct store_secret_info *ret, struct store_blob *value)
{
	return secret_one(b, ST_SECRET_BY_VERSION, user, version, ret, value);
}

static int
sqlite_secret_set_state(struct store_backend *b, const char *user,
    int64_t version, enum store_secret_state state, int64_t now)
{
	sqlite3_stmt *s = NULL;
	int r;

	r = prepare(b, ST_SECRET_SET_STATE, &s);
	if (r < 0)
		return r;
	sqlite3_bind_text(s, 1, user, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, version);
	sqlite3_bind_text(
	    s, 3, store_secret_state_name(state), -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 4, now);
	return run_one(b, s, "changing a secret's state");
}

static int
secret_info_row(struct store_backend *b, sqlite3_stmt *s, void *elem)
{
	return read_secret(b, s, elem, NULL);
}

static int
sqlite_secret_list(struct store_backend *b, const char *user,
    struct store_secret_info **ret, size_t *ret_n)
{
	sqlite3_stmt *s = NULL;
	void *v = NULL;
	int r;

	*ret = NULL;
	*ret_n = 0;
	r = prepare(b, ST_SECRET_LIST, &s);
	if (r < 0)
		return r;
	sqlite3_bind_text(s, 1, user, -1, SQLITE_STATIC);
	r = rows(b, s, sizeof(**ret), secret_info_row, NULL, "listing secrets",
	    &v, ret_n);
	*ret = v;
	return r;
}

/* ---- runs ---- */

static int
bind_run(sqlite3_stmt *s, const struct store_run *r)
{
	int rc;

	if ((rc = sqlite3_bind_text(s, 1, r->id, -1, SQLITE_STATIC)) ||
	    (rc = sqlite3_bind_text(s, 2, r->user, -1, SQLITE_STATIC)) ||
	    (rc = sqlite3_bind_text(
		 s, 3, store_run_state_name(r->state), -1, SQLITE_STATIC)) ||
	    (rc = sqlite3_bind_int(s, 4, r->attempts)) ||
	    (rc = sqlite3_bind_text(s, 5,
		 store_error_class_name(r->error_class), -1, SQLITE_STATIC)) ||
	    (rc = sqlite3_bind_int64(s, 6, r->created)) ||
	    (rc = sqlite3_bind_int64(s, 7, r->updated)))
		return rc;
	return sqlite3_bind_text(s, 8, r->message, -1, SQLITE_STATIC);
}

static int
read_run(struct store_backend *b, sqlite3_stmt *s, struct store_run *ret)
{
	int v = 0, r;

	memset(ret, 0, sizeof(*ret));
	r = column_text(b, s, 0, ret->id, sizeof(ret->id), false, "run id");
	if (r == 0)
		r = column_text(
		    b, s, 1, ret->user, sizeof(ret->user), false, "run user");
	if (r == 0)
		r = column_enum(
		    b, s, 2, store_run_state_from_name, &v, "run state");
	if (r < 0)
		return r;
	ret->state = (enum store_run_state)v;
	ret->attempts = sqlite3_column_int(s, 3);
	r = column_enum(
	    b, s, 4, store_error_class_from_name, &v, "run error class");
	if (r < 0)
		return r;
	ret->error_class = (enum store_error_class)v;
	ret->created = sqlite3_column_int64(s, 5);
	ret->updated = sqlite3_column_int64(s, 6);
	ret->verify = sqlite3_column_type(s, 8) == SQLITE_TEXT &&
	    strcmp((const char *)sqlite3_column_text(s, 8), "verify") == 0;
	return column_text(
	    b, s, 7, ret->message, sizeof(ret->message), false, "run message");
}

static int
sqlite_run_insert(struct store_backend *b, const struct store_run *run)
{
	sqlite3_stmt *s = NULL;
	int r, rc;

	r = prepare(b, ST_RUN_INSERT, &s);
	if (r < 0)
		return r;
	rc = bind_run(s, run);
	/* The kind only here: an update never changes it. */
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_text(
		    s, 9, run->verify ? "verify" : "rotate", -1, SQLITE_STATIC);
	if (rc != SQLITE_OK)
		return bind_fail(b, s, rc);
	return run_one(b, s, "creating a run");
}

static int
sqlite_run_update(struct store_backend *b, const struct store_run *run)
{
	sqlite3_stmt *s = NULL;
	int r, rc;

	r = prepare(b, ST_RUN_UPDATE, &s);
	if (r < 0)
		return r;
	rc = bind_run(s, run);
	if (rc != SQLITE_OK)
		return bind_fail(b, s, rc);
	r = run_one(b, s, "updating a run");
	if (r == -ENOENT)
		r = why_fail(b->err, b->errlen, r, "no run %s", run->id);
	return r;
}

static int
sqlite_run_get(struct store_backend *b, const char *id, struct store_run *ret)
{
	sqlite3_stmt *s = NULL;
	int r;

	r = prepare(b, ST_RUN_GET, &s);
	if (r < 0)
		return r;
	sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
	r = step_row(b, s, "reading a run");
	if (r == 0)
		r = read_run(b, s, ret);
	else if (r == -ENOENT)
		r = why_fail(b->err, b->errlen, r, "no run %s", id);
	done(s);
	return r;
}

static int
run_row(struct store_backend *b, sqlite3_stmt *s, void *elem)
{
	return read_run(b, s, elem);
}

static int
sqlite_run_list(struct store_backend *b, const char *user, int limit,
    bool unfinished, struct store_run **ret, size_t *ret_n)
{
	sqlite3_stmt *s = NULL;
	void *v = NULL;
	int r;

	*ret = NULL;
	*ret_n = 0;
	r = prepare(b,
	    unfinished         ? ST_RUN_LIST_UNFINISHED
		: user != NULL ? ST_RUN_LIST_USER
			       : ST_RUN_LIST_ALL,
	    &s);
	if (r < 0)
		return r;
	if (!unfinished) {
		if (user != NULL)
			sqlite3_bind_text(s, 1, user, -1, SQLITE_STATIC);
		/* LIMIT -1: no limit. */
		sqlite3_bind_int(s, 2, limit > 0 ? limit : -1);
	}
	r = rows(b, s, sizeof(**ret), run_row, NULL, "listing runs", &v, ret_n);
	*ret = v;
	return r;
}

/* ---- run outputs ---- */

static int
sqlite_run_output_insert(struct store_backend *b, const char *run_id,
    const struct store_run_output *o)
{
	sqlite3_stmt *s = NULL;
	int r, rc;

	r = prepare(b, ST_RUN_OUTPUT_INSERT, &s);
	if (r < 0)
		return r;
	/* A NULL pointer would bind SQL NULL; an empty output is an empty
	 * blob. */
	if ((rc = sqlite3_bind_text(s, 1, run_id, -1, SQLITE_STATIC)) ||
	    (rc = sqlite3_bind_int(s, 2, o->seq)) ||
	    (rc = sqlite3_bind_text(s, 3, o->script, -1, SQLITE_STATIC)) ||
	    (rc = sqlite3_bind_int(s, 4, o->ok ? 1 : 0)) ||
	    (rc = sqlite3_bind_text(s, 5, o->message, -1, SQLITE_STATIC)) ||
	    (rc = o->output_len > 0 ? sqlite3_bind_blob64(s, 6, o->output,
					  o->output_len, SQLITE_STATIC)
				    : sqlite3_bind_zeroblob(s, 6, 0)))
		return bind_fail(b, s, rc);
	return run(b, s, "writing a run output");
}

static int
read_run_output(
    struct store_backend *b, sqlite3_stmt *s, struct store_output_row *ret)
{
	const void *v;
	int n, r;

	memset(ret, 0, sizeof(*ret));
	ret->o.seq = sqlite3_column_int(s, 0);
	r = column_text(b, s, 1, ret->o.script, sizeof(ret->o.script), false,
	    "run output script");
	if (r < 0)
		return r;
	ret->o.ok = sqlite3_column_int(s, 2) != 0;
	r = column_text(b, s, 3, ret->o.message, sizeof(ret->o.message), false,
	    "run output message");
	if (r < 0)
		return r;
	/* column_blob() refuses an empty blob, which is a valid output.
	 * The type first: reading the value could convert it. */
	if (sqlite3_column_type(s, 4) != SQLITE_BLOB)
		return corrupt(b, "run output");
	v = sqlite3_column_blob(s, 4);
	n = sqlite3_column_bytes(s, 4);
	if (n < 0 || n > STORE_OUTPUT_MAX)
		return corrupt(b, "run output");
	if (n == 0)
		return 0;
	if (v == NULL)
		return db_fail(b, sqlite3_errcode(b->db), "run output");
	ret->output.data = malloc((size_t)n);
	if (ret->output.data == NULL)
		return why_fail(b->err, b->errlen, -ENOMEM, "out of memory");
	memcpy(ret->output.data, v, (size_t)n);
	ret->output.len = (size_t)n;
	return 0;
}

static int
output_row(struct store_backend *b, sqlite3_stmt *s, void *elem)
{
	return read_run_output(b, s, elem);
}

static void
output_clear(void *elem)
{
	free(((struct store_output_row *)elem)->output.data);
}

static int
sqlite_run_output_list(struct store_backend *b, const char *run_id,
    struct store_output_row **ret, size_t *ret_n)
{
	sqlite3_stmt *s = NULL;
	void *v = NULL;
	int r;

	*ret = NULL;
	*ret_n = 0;
	r = prepare(b, ST_RUN_OUTPUT_LIST, &s);
	if (r < 0)
		return r;
	sqlite3_bind_text(s, 1, run_id, -1, SQLITE_STATIC);
	r = rows(b, s, sizeof(**ret), output_row, output_clear,
	    "listing run outputs", &v, ret_n);
	*ret = v;
	return r;
}

/* ---- schedule state ---- */

static int
sqlite_schedule_get(
    struct store_backend *b, const char *user, struct store_schedule *ret)
{
	sqlite3_stmt *s = NULL;
	int r, v = 0;

	r = prepare(b, ST_SCHEDULE_GET, &s);
	if (r < 0)
		return r;
	sqlite3_bind_text(s, 1, user, -1, SQLITE_STATIC);
	r = step_row(b, s, "reading a schedule");
	if (r == -ENOENT)
		r = why_fail(
		    b->err, b->errlen, r, "%s has no schedule state", user);
	if (r < 0)
		goto out;
	memset(ret, 0, sizeof(*ret));
	ret->next_fire = sqlite3_column_int64(s, 0);
	ret->last_fire = sqlite3_column_int64(s, 1);
	r = column_enum(
	    b, s, 2, store_run_state_from_name, &v, "schedule outcome");
	if (r == 0)
		r = column_text(b, s, 3, ret->last_run_id,
		    sizeof(ret->last_run_id), true, "schedule run id");
	ret->last_outcome = (enum store_run_state)v;
	ret->paused = sqlite3_column_int(s, 4) != 0;
out:
	done(s);
	return r;
}

static int
sqlite_schedule_put(
    struct store_backend *b, const char *user, const struct store_schedule *sc)
{
	sqlite3_stmt *s = NULL;
	int r, rc;

	r = prepare(b, ST_SCHEDULE_PUT, &s);
	if (r < 0)
		return r;
	if ((rc = sqlite3_bind_text(s, 1, user, -1, SQLITE_STATIC)) ||
	    (rc = sqlite3_bind_int64(s, 2, sc->next_fire)) ||
	    (rc = sqlite3_bind_int64(s, 3, sc->last_fire)) ||
	    (rc = sqlite3_bind_text(s, 4,
		 store_run_state_name(sc->last_outcome), -1, SQLITE_STATIC)) ||
	    (rc = bind_text(s, 5, sc->last_run_id)) ||
	    (rc = sqlite3_bind_int(s, 6, sc->paused ? 1 : 0)))
		return bind_fail(b, s, rc);
	return run(b, s, "writing a schedule");
}

/* ---- events ---- */

static int
sqlite_event_put(struct store_backend *b, int64_t now,
    const struct store_blob *payload, int64_t *ret_id)
{
	sqlite3_stmt *s = NULL;
	int r, rc;

	r = prepare(b, ST_EVENT_PUT, &s);
	if (r < 0)
		return r;
	if ((rc = sqlite3_bind_int64(s, 1, now)) ||
	    (rc = bind_blob(s, 2, payload)))
		return bind_fail(b, s, rc);
	r = run(b, s, "spooling an event");
	if (r == 0 && ret_id != NULL)
		*ret_id = sqlite3_last_insert_rowid(b->db);
	return r;
}

/* Up to LIMIT events: undelivered ones when SINCE is negative, else
 * those after id SINCE; oldest first. */
static int
event_row(struct store_backend *b, sqlite3_stmt *s, void *elem)
{
	struct store_event *e = elem;

	e->id = sqlite3_column_int64(s, 0);
	e->time = sqlite3_column_int64(s, 1);
	return column_blob(b, s, 2, &e->payload, "event payload");
}

static void
event_clear(void *elem)
{
	free(((struct store_event *)elem)->payload.data);
}

static int
event_rows(struct store_backend *b, int64_t since, int limit,
    struct store_event **ret, size_t *ret_n)
{
	sqlite3_stmt *s = NULL;
	void *v = NULL;
	int r;

	*ret = NULL;
	*ret_n = 0;
	r = prepare(b, since < 0 ? ST_EVENT_LIST : ST_EVENT_SINCE, &s);
	if (r < 0)
		return r;
	sqlite3_bind_int(s, 1, limit);
	if (since >= 0)
		sqlite3_bind_int64(s, 2, since);
	r = rows(b, s, sizeof(**ret), event_row, event_clear, "reading events",
	    &v, ret_n);
	*ret = v;
	return r;
}

static int
sqlite_event_list(
    struct store_backend *b, int limit, struct store_event **ret, size_t *ret_n)
{
	return event_rows(b, -1, limit, ret, ret_n);
}

static int
sqlite_event_since(struct store_backend *b, int64_t since, int limit,
    struct store_event **ret, size_t *ret_n)
{
	return event_rows(b, since, limit, ret, ret_n);
}

/* The id of the last event ever spooled (AUTOINCREMENT's record), 0 for
 * none: what a new sink starts after. */
static int
sqlite_event_last(struct store_backend *b, int64_t *ret)
{
	sqlite3_stmt *s = NULL;
	int r, rc;

	*ret = 0;
	r = prepare(b, ST_EVENT_LAST, &s);
	if (r < 0)
		return r;
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		*ret = sqlite3_column_int64(s, 0);
	else if (rc != SQLITE_DONE)
		r = db_fail(b, rc, "reading the last event id");
	done(s);
	return r;
}

/* Delete every event up to id UPTO, delivered or not (the spool's bound):
 * the count into *RET. */
static int
sqlite_event_trim(struct store_backend *b, int64_t upto, int64_t *ret)
{
	sqlite3_stmt *s = NULL;
	int r;

	r = prepare(b, ST_EVENT_TRIM, &s);
	if (r < 0)
		return r;
	sqlite3_bind_int64(s, 1, upto);
	r = run(b, s, "trimming the event spool");
	*ret = r == 0 ? sqlite3_changes64(b->db) : 0;
	return r;
}

static int
sqlite_cursor_get(struct store_backend *b, const char *sink, int64_t *ret)
{
	sqlite3_stmt *s = NULL;
	int r, rc;

	r = prepare(b, ST_CURSOR_GET, &s);
	if (r < 0)
		return r;
	sqlite3_bind_text(s, 1, sink, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		*ret = sqlite3_column_int64(s, 0);
	else if (rc == SQLITE_DONE)
		r = -ENOENT;
	else
		r = db_fail(b, rc, "reading an event cursor");
	done(s);
	return r;
}

static int
sqlite_cursor_put(struct store_backend *b, const char *sink, int64_t id)
{
	sqlite3_stmt *s = NULL;
	int r, rc;

	r = prepare(b, ST_CURSOR_PUT, &s);
	if (r < 0)
		return r;
	if ((rc = sqlite3_bind_text(s, 1, sink, -1, SQLITE_STATIC)) ||
	    (rc = sqlite3_bind_int64(s, 2, id)))
		return bind_fail(b, s, rc);
	return run(b, s, "writing an event cursor");
}

static int
sqlite_event_ack(struct store_backend *b, int64_t id)
{
	sqlite3_stmt *s = NULL;
	int r;

	r = prepare(b, ST_EVENT_ACK, &s);
	if (r < 0)
		return r;
	sqlite3_bind_int64(s, 1, id);
	r = run_one(b, s, "acknowledging an event");
	if (r == -ENOENT)
		r = why_fail(
		    b->err, b->errlen, r, "no event %lld", (long long)id);
	return r;
}

static int
sqlite_event_purge(struct store_backend *b, int64_t before)
{
	sqlite3_stmt *s = NULL;
	int r;

	r = prepare(b, ST_EVENT_PURGE, &s);
	if (r < 0)
		return r;
	sqlite3_bind_int64(s, 1, before);
	return run(b, s, "purging events");
}

/* ---- group commit ---- */

/* On the owning thread, after each COMMIT: the WAL's length, for
 * flush() (instead of a checkpoint here). */
static int
wal_hook(void *arg, sqlite3 *db, const char *name, int frames)
{
	struct store_backend *b = arg;

	(void)db;
	(void)name;
	atomic_store_explicit(&b->wal_frames, frames, memory_order_relaxed);
	return SQLITE_OK;
}

/*
 * The checkpoint's connection.  It reads once, so that its pager knows
 * the WAL, and never writes: a PASSIVE checkpoint on it copies what the
 * readers allow into the database, syncing the WAL before and the
 * database after, and waits for no one, the owning thread's writes
 * going on meanwhile (WAL lets one checkpointer run beside the writer).
 */
static int
checkpointer_open(struct store_backend *b)
{
	int rc;

	rc = sqlite3_open_v2(b->path, &b->ckdb,
	    SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOFOLLOW | SQLITE_OPEN_NOMUTEX |
		SQLITE_OPEN_EXRESCODE,
	    NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(b->ckdb, "SELECT count(*) FROM sqlite_schema",
		    NULL, NULL, NULL);
	if (rc != SQLITE_OK) {
		why_fail(b->err, b->errlen, -EIO,
		    "%s: opening the checkpoint's connection: %s", b->path,
		    b->ckdb != NULL ? sqlite3_errmsg(b->ckdb)
				    : sqlite3_errstr(rc));
		sqlite3_close_v2(b->ckdb);
		b->ckdb = NULL;
		return -EIO;
	}
	sqlite3_wal_hook(b->db, wal_hook, b);
	return 0;
}

static int
sqlite_group_commit(struct store_backend *b)
{
	char wal[4096];
	int r;

	if (b->walfd >= 0)
		return 0;
	if ((size_t)snprintf(wal, sizeof(wal), "%s-wal", b->path) >=
	    sizeof(wal))
		return why_fail(b->err, b->errlen, -ENAMETOOLONG,
		    "%s: path too long", b->path);
	/* Every commit so far is durable (FULL); the WAL exists since the
	 * connection has read (the integrity check).  The descriptor is
	 * only ever synced. */
	b->walfd = open(wal, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (b->walfd < 0)
		return why_fail(
		    b->err, b->errlen, -errno, "%s: %s", wal, strerror(errno));
	/* The batch makes every outermost transaction a savepoint, whose
	 * undo copies (the sub-journal) SQLite would spill past 64 KiB to a
	 * temporary file (/var/tmp: a reload of 100k users' schedules is one
	 * such transaction); in memory instead. */
	r = exec(b,
	    "PRAGMA synchronous = NORMAL;"
	    "PRAGMA temp_store = MEMORY;",
	    "setting up group commit");
	if (r == 0)
		r = checkpointer_open(b);
	if (r < 0) {
		close(b->walfd);
		b->walfd = -1;
	}
	return r;
}

static uint64_t
sqlite_written(const struct store_backend *b)
{
	return b->written;
}

/*
 * Any thread: only the descriptor and the checkpoint's connection are
 * touched, and only this call uses them.  SQLite unlinks the WAL when its
 * last connection closes, ours being one; should another program have
 * done so (its own connection set another journal mode), the WAL was
 * checkpointed and synced first, and the next one is opened anew.
 */
static int
sqlite_flush(struct store_backend *b)
{
	char wal[4096];
	struct stat sb;
	int fd;

	if (b->walfd < 0)
		return 0;
	if (fstat(b->walfd, &sb) == 0 && sb.st_nlink == 0) {
		snprintf(wal, sizeof(wal), "%s-wal", b->path);
		fd = open(wal, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		if (fd >= 0) {
			close(b->walfd);
			b->walfd = fd;
		}
	}
	if (fdatasync(b->walfd) < 0)
		return -errno;
	/* Best effort, as SQLite's own: what is not copied now stays in the
	 * WAL, synced, and the next flush tries again. */
	if (atomic_load_explicit(&b->wal_frames, memory_order_relaxed) >=
	    CHECKPOINT_FRAMES)
		(void)sqlite3_wal_checkpoint_v2(
		    b->ckdb, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
	return 0;
}

const struct store_backend_ops store_sqlite_ops = {
	.scheme = NULL,
	.open = sqlite_open,
	.close = sqlite_close,
	.reader = sqlite_reader,
	.begin = sqlite_begin,
	.commit = sqlite_commit,
	.rollback = sqlite_rollback,
	.read_begin = sqlite_read_begin,
	.read_end = sqlite_read_end,
	.scrub = sqlite_scrub,
	.group_commit = sqlite_group_commit,
	.settle = sqlite_settle,
	.written = sqlite_written,
	.flush = sqlite_flush,
	.dek_get = sqlite_dek_get,
	.dek_put = sqlite_dek_put,
	.secret_last_version = sqlite_secret_last_version,
	.secret_insert = sqlite_secret_insert,
	.secret_by_state = sqlite_secret_by_state,
	.secret_by_version = sqlite_secret_by_version,
	.secret_set_state = sqlite_secret_set_state,
	.secret_list = sqlite_secret_list,
	.run_insert = sqlite_run_insert,
	.run_update = sqlite_run_update,
	.run_get = sqlite_run_get,
	.run_list = sqlite_run_list,
	.run_output_insert = sqlite_run_output_insert,
	.run_output_list = sqlite_run_output_list,
	.schedule_get = sqlite_schedule_get,
	.schedule_put = sqlite_schedule_put,
	.event_put = sqlite_event_put,
	.event_list = sqlite_event_list,
	.event_ack = sqlite_event_ack,
	.event_purge = sqlite_event_purge,
	.event_since = sqlite_event_since,
	.event_last = sqlite_event_last,
	.event_trim = sqlite_event_trim,
	.cursor_get = sqlite_cursor_get,
	.cursor_put = sqlite_cursor_put,
};
