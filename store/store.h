/*
 * store: rotad's durable state - secret versions, rotation runs, schedule
 * state and the event spool - behind one backend-neutral interface.
 *
 * Today's backend is an SQLite file (WAL, synchronous=FULL); a PostgreSQL
 * backend for several nodes will implement the same calls.  Nothing in this
 * header is SQL.
 *
 * Secrets are encrypted in the store with AES-256-GCM under one random data
 * key (DEK) per store; the DEK is kept wrapped under the master key, which
 * lives outside the store (a key file or a systemd credential).  A value is
 * bound to its user and version, so a ciphertext moved to another row does
 * not decrypt.
 *
 * Conventions: every function returns 0 or a negative errno.  Times are
 * seconds since the epoch, given by the caller (the store never reads the
 * clock).  Every write is one transaction and is durable when the call
 * returns, unless it runs inside store_begin() ... store_commit(), where
 * it is durable when store_commit() returns.  A store is used by one thread
 * at a time.  On failure, store_last_error() says why in words.
 */
#ifndef ROTAD_STORE_H
#define ROTAD_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct secret;
struct store;

#define STORE_DEFAULT_PATH "/var/lib/rotad/rotad.db"
#define STORE_DEFAULT_KEY_PATH "/etc/rotad/master.key"
/* The name of the systemd credential, under $CREDENTIALS_DIRECTORY. */
#define STORE_KEY_CREDENTIAL "master.key"

#define STORE_KEY_LEN 32        /* master key and DEK: AES-256 */
#define STORE_USER_MAX 255      /* bytes in a user name, NUL excluded */
#define STORE_RUN_ID_LEN 36     /* a UUID, lowercase, with dashes */
#define STORE_MESSAGE_MAX 255   /* bytes in a run message, NUL excluded */
#define STORE_SECRET_MAX 65536  /* bytes in a stored secret value */
#define STORE_EVENT_MAX 1048576 /* bytes in an event payload */

/* ---- key files ---- */

/*
 * Create a new master key at PATH: 32 bytes from the OpenSSL CSPRNG, mode
 * 0600 whatever the umask, file and directory fsynced before returning.
 * Never overwrites: -EEXIST if PATH exists (even as a dangling symlink).
 * On any failure nothing is left at PATH.  ERR (may be NULL) gets a
 * message naming PATH.
 */
int store_key_create(const char *path, char *err, size_t errlen);

/*
 * Load the master key from PATH into a new secret *ret (owned by the
 * caller).  Refuses, with a message in ERR:
 *   -EPERM   a file writable by group or others, or readable by others
 *            (the message gives the mode and the chmod to run), or owned
 *            by a user other than root or the effective user;
 *   -ELOOP   a symbolic link;
 *   -EINVAL  not a regular file, or not exactly 32 bytes;
 *   -errno   from open() or read().
 */
int store_key_load(
    const char *path, struct secret **ret, char *err, size_t errlen);

/*
 * Which key file to use, into BUF: EXPLICIT_PATH when not NULL (the
 * configuration's key_file), else $CREDENTIALS_DIRECTORY/master.key when
 * that file exists (a systemd credential), else STORE_DEFAULT_KEY_PATH.
 * Returns 0 or -ENAMETOOLONG.
 */
int store_key_path(char *buf, size_t size, const char *explicit_path);

/* ---- store files ---- */

/*
 * Whether the store file at PATH may be used, as every open of one and
 * `rotad -n` check it: no one else may write in its directory (but in
 * root's sticky ones, as /tmp); PATH, and its -wal and -shm files when
 * there, are regular files (not symbolic links) that group and others
 * may not write nor others read (as the master key), owned by root or by
 * the effective user -- or, for root, by the directory's owner (rotad -n,
 * --init and --rekey work as root on the store of the daemon's user).
 * Returns 0, or, with a message in ERR naming the file and the fix:
 *   -EPERM    a mode or an owner as above;
 *   -ELOOP    a symbolic link;
 *   -EINVAL   not a regular file;
 *   -ENOTDIR  its directory is not one;
 *   -errno    from open() or stat() (-ENOENT: PATH or its directory is
 *             missing).
 */
int store_file_check(const char *path, char *err, size_t errlen);

/* ---- opening ---- */

/* store_open()'s flags. */
enum {
	/* Create a missing store (rotad --init, tests).  Without it a
	 * missing or empty store is an error: the daemon never makes a new
	 * store in place of one it cannot find. */
	STORE_OPEN_CREATE = 1 << 0,
	/* Commits durable at store_flush(), not as they return (the
	 * daemon's group commit, below). */
	STORE_OPEN_GROUP_COMMIT = 1 << 1,
};

/*
 * Open the store at LOCATION (a file path; NULL means STORE_DEFAULT_PATH)
 * with MASTER_KEY (32 bytes, still owned by the caller, not kept).  With
 * STORE_OPEN_CREATE in FLAGS a missing file is created, mode 0600, with
 * the current schema and a new DEK; without it, a missing or empty file
 * is -ENOENT or -ENODATA.  An older schema is migrated in one transaction.
 * The file must pass store_file_check() before SQLite reads it.  Every
 * open runs an integrity check.
 *
 * Returns 0 and stores the store in *ret, or, with a message in ERR:
 *   -EKEYREJECTED  the master key does not open this store;
 *   -EPROTO        the store was written by a newer rotad (schema version
 *                  above this code's);
 *   -EIO           the integrity check failed (the message has SQLite's
 *                  report), or an I/O error;
 *   -EINVAL        LOCATION is a database of another program, or a bad key;
 *   -EPROTONOSUPPORT  a URL for a backend not built in;
 *   -ENOENT, -ENODATA  missing or empty, without STORE_OPEN_CREATE;
 *   -EPERM, -ELOOP  the file, its -wal or -shm, or its directory, as
 *                  store_file_check() refuses them;
 *   -EBUSY, -ENOMEM, -EACCES, ...
 */
int store_open(const char *location, const struct secret *master_key,
    unsigned flags, struct store **ret, char *err, size_t errlen);

/* NULL-safe.  Wipes the DEK. */
void store_close(struct store *st);

/*
 * A second handle on ST's store, for reads on another thread while ST's
 * owner goes on (one thread at a time uses it; store_close() it before
 * ST).  It reads what ST has committed -- with group commit, what ST's
 * last store_settle() committed -- and blocks no writer: in a snapshot of
 * its own with store_read_begin(), else a statement at a time.  It holds
 * a copy of ST's data key, and reads secrets as ST does; the backend
 * refuses every write through it.  -EOPNOTSUPP for a backend without
 * read handles.
 */
int store_reader(struct store *st, struct store **ret);

/* Why the last failing call on ST failed, in words; "" if none did. */
const char *store_last_error(const struct store *st);

/*
 * Re-wrap the DEK under NEW_MASTER_KEY, in one transaction, and scrub the
 * old wrapping from the file.  Secrets are not re-encrypted: they are under
 * the DEK, which does not change.  So rekeying protects against a master
 * key that leaked (alone); it does not help if the DEK itself leaked, and
 * copies of the store taken before the rekey still open with the old key.
 * Other processes that have the store open keep working (they hold the
 * DEK); they need the new key at their next open.
 */
int store_rekey(struct store *st, const struct secret *new_master_key);

/*
 * Group several writes into one transaction, e.g. creating a run, writing
 * its pending secret and advancing the schedule, so that a crash leaves
 * all or none of them.  Calls nest (inner ones become savepoints).  Inside,
 * a failing call undoes only its own writes; the caller decides whether
 * to store_rollback() or store_commit() the rest.  Durable when the
 * outermost store_commit() returns (with group commit: at the first
 * store_flush() after the next store_settle()).
 */
int store_begin(struct store *st);
int store_commit(struct store *st);
int store_rollback(struct store *st);

/*
 * Group commit.  Opened with STORE_OPEN_GROUP_COMMIT, an outermost
 * store_commit() is atomic and ordered as ever, and seen at once by this
 * store's own reads, but it is one step inside a larger transaction (a
 * batch): store_settle() commits every commit made since the last
 * settle in one, and a store_flush() begun after that settle has
 * returned 0 makes them durable (one fdatasync() of SQLite's WAL).  So
 * many runs' transitions cost one database transaction and one sync.  A
 * crash of the process takes back the commits since the last settle, a
 * power loss those since the last good flush: whole and in order, never
 * a part of one.  store_written() counts the outermost commits that
 * changed something, so that the caller knows which ones a flush covers:
 * those counted when the settle before it returned.
 *
 * store_settle() runs on the owning thread, outside store_begin(), and
 * fails (-EIO, ...) when the batch could not be committed or SQLite rolled
 * it back by itself after an error (disk full, I/O): its commits are
 * gone and nothing may act on them; every later settle and begin fails
 * alike.  store_flush() is the one call that may run on another thread
 * while the owning thread goes on with the others, one flush at a time;
 * a failure means the commits since the last good flush may be lost.
 * store_close() settles.  Without the flag every commit is durable as it
 * returns, and store_settle() and store_flush() return 0 at once.
 */
int store_settle(struct store *st);
uint64_t store_written(const struct store *st);
int store_flush(struct store *st);

/*
 * Read what follows from one snapshot, in one transaction that blocks no
 * writer: a scan of every user then costs one transaction, not one per
 * read.  Reads only, and not inside store_begin(); store_read_end() ends
 * it.  A backend without snapshots reads as before.
 */
int store_read_begin(struct store *st);
void store_read_end(struct store *st);

/* ---- secret versions ---- */

/*
 * Each user's secrets are numbered versions 1, 2, ... (never reused), in
 * one of these states.  At most one version per user is pending, one is
 * current and one is previous, at any instant.
 *
 *   seed:     new -> current, current -> previous, previous -> history
 *   prepare:  new -> pending
 *   commit:   pending -> current, current -> previous, previous -> history
 *   discard:  pending -> discarded
 */
enum store_secret_state {
	STORE_SECRET_PENDING,
	STORE_SECRET_CURRENT,
	STORE_SECRET_PREVIOUS,
	STORE_SECRET_HISTORY,   /* was current once, retired */
	STORE_SECRET_DISCARDED, /* was pending, never committed */
};

/* "pending", "current", ...; NULL for a value out of range. */
const char *store_secret_state_name(enum store_secret_state state);

/* What store_secret_history() reports of a version: never its value. */
struct store_secret_info {
	int64_t version;
	enum store_secret_state state;
	int64_t created;                   /* when written */
	int64_t changed;                   /* when it last changed state */
	char run_id[STORE_RUN_ID_LEN + 1]; /* "" for a seeded version */
};

/*
 * Import VALUE (1 to STORE_SECRET_MAX bytes) as USER's current secret
 * (`rotactl secret set`): a new version becomes current, the old current
 * becomes previous, the old previous history.  -EBUSY if USER has a
 * pending version: a rotation is in flight and must commit or be discarded
 * first.  *ret_version (may be NULL) gets the new version.
 */
int store_secret_seed(struct store *st, const char *user,
    const struct secret *value, int64_t now, int64_t *ret_version);

/*
 * The prepare step: store VALUE as USER's pending version for run RUN_ID,
 * durably, before the target is touched.  The run must exist and be
 * USER's (-ENOENT, -EINVAL otherwise), so that recovery, which starts from
 * the unfinished runs, always finds it: create both in one store_begin()
 * transaction.  -EEXIST if USER already has a pending version (it may be
 * what the target holds now; recover it, do not overwrite it).
 */
int store_secret_put_pending(struct store *st, const char *user,
    const struct secret *value, const char *run_id, int64_t now,
    int64_t *ret_version);

enum store_slot {
	STORE_PENDING,
	STORE_CURRENT,
	STORE_PREVIOUS,
};

/*
 * Decrypt USER's secret in SLOT into a new secret *ret (owned by the
 * caller); *ret_version (may be NULL) gets its version.  -ENOENT if the
 * slot is empty; -EBADMSG if the stored value does not decrypt (tampered
 * with, or moved from another row).
 */
int store_secret_get(struct store *st, const char *user, enum store_slot slot,
    struct secret **ret, int64_t *ret_version);

/*
 * Whether USER has a secret in SLOT, without decrypting it: 0 with its
 * version in *ret_version (may be NULL), -ENOENT if the slot is empty.
 */
int store_secret_version(struct store *st, const char *user,
    enum store_slot slot, int64_t *ret_version);

/*
 * Decrypt USER's VERSION whatever its state (going back to an older
 * secret; trying both candidates of an out-of-sync run) into a new secret
 * *ret; *ret_state (may be NULL) gets its state.  -ENOENT, -EBADMSG.
 */
int store_secret_get_version(struct store *st, const char *user,
    int64_t version, struct secret **ret, enum store_secret_state *ret_state);

/*
 * The commit step, one transaction: pending VERSION -> current, current ->
 * previous, previous -> history.  Idempotent: 0 if VERSION is already
 * current (a recovery that repeats a commit).  -ENOENT if VERSION is
 * neither pending nor current.
 */
int store_secret_commit(
    struct store *st, const char *user, int64_t version, int64_t now);

/*
 * Give up pending VERSION: it becomes discarded (kept, for the record).
 * Idempotent: 0 if already discarded.  -ENOENT if VERSION is not pending.
 */
int store_secret_discard_pending(
    struct store *st, const char *user, int64_t version, int64_t now);

/*
 * Call CB for each of USER's versions, newest first, without values.  CB
 * may call into the store; a non-zero return from CB stops the walk and is
 * returned.  0 (no calls) for an unknown user.
 */
typedef int store_secret_cb(const struct store_secret_info *info, void *arg);
int store_secret_history(
    struct store *st, const char *user, store_secret_cb *cb, void *arg);

/* ---- runs ---- */

/*
 * The rotation protocol's state, one row per run.  prepared (the pending
 * secret is stored) -> applied (the target has it) -> verified (it logs
 * in) -> committed.  failed: given up with the target unchanged or rolled
 * back.  out_of_sync: neither candidate logs in; both are kept and an
 * operator must act.
 */
enum store_run_state {
	STORE_RUN_NONE, /* only in store_schedule: never fired */
	STORE_RUN_PREPARED,
	STORE_RUN_APPLIED,
	STORE_RUN_VERIFIED,
	STORE_RUN_COMMITTED,
	STORE_RUN_FAILED,
	STORE_RUN_OUT_OF_SYNC,
};

enum store_error_class {
	STORE_ERROR_NONE,
	STORE_ERROR_TRANSIENT, /* retry later */
	STORE_ERROR_AUTH,      /* a credential was refused */
	STORE_ERROR_POLICY,    /* the target refused the new secret */
	STORE_ERROR_FATAL,     /* retrying will not help */
};

const char *store_run_state_name(enum store_run_state state);
const char *store_error_class_name(enum store_error_class ec);

struct store_run {
	char id[STORE_RUN_ID_LEN + 1];
	char user[STORE_USER_MAX + 1];
	/* A verify run (it logs in with the current secret and changes
	 * nothing), not a rotation.  Set at create, never updated. */
	bool verify;
	enum store_run_state state;
	int attempts;
	enum store_error_class error_class;
	int64_t created, updated;
	char message[STORE_MESSAGE_MAX + 1];
};

/* A new random (version 4) UUID into BUF, lowercase.  0 or -EIO. */
int store_run_id_new(char buf[STORE_RUN_ID_LEN + 1]);

/* Insert run R (id from store_run_id_new()).  -EEXIST for a known id. */
int store_run_create(struct store *st, const struct store_run *r);

/*
 * Overwrite the state, attempts, error class, message and updated time of
 * run R->id (its user and created time never change).  -ENOENT if none.
 */
int store_run_update(struct store *st, const struct store_run *r);

/* Run ID into *ret.  -ENOENT if none. */
int store_run_get(struct store *st, const char *id, struct store_run *ret);

/*
 * Call CB for USER's runs (all users' when USER is NULL), newest first, at
 * most LIMIT of them (0: no limit).  CB may call into the store; non-zero
 * from CB stops the walk and is returned.
 */
typedef int store_run_cb(const struct store_run *r, void *arg);
int store_run_list(
    struct store *st, const char *user, int limit, store_run_cb *cb, void *arg);

/*
 * Call CB for every run that is neither committed nor failed (prepared,
 * applied, verified, out_of_sync), oldest first: what recovery looks at
 * on start.
 */
int store_run_list_unfinished(struct store *st, store_run_cb *cb, void *arg);

/*
 * What a post-rotation script left with its run: which script (its path),
 * how it ended, a message, and its stdout and stderr as captured by the
 * worker (already scrubbed of secrets, at most STORE_OUTPUT_MAX bytes).
 * SEQ numbers the scripts of one run from 1, in the order they ran.
 */
#define STORE_OUTPUT_MAX (64 * 1024)
#define STORE_SCRIPT_MAX 4096

struct store_run_output {
	int seq;
	char script[STORE_SCRIPT_MAX + 1];
	bool ok;
	char message[STORE_MESSAGE_MAX + 1];
	const char *output; /* not NUL-terminated; may be NULL when len 0 */
	size_t output_len;
};

/*
 * Add O to run RUN_ID's outputs.  -ENOENT for an unknown run, -EEXIST for
 * a seq it has, -EINVAL for an output over STORE_OUTPUT_MAX (or NULL with
 * a length), a seq below 1, an empty script path, or a script path or
 * message not NUL-terminated within its array.
 */
int store_run_output_add(
    struct store *st, const char *run_id, const struct store_run_output *o);

/*
 * Call CB for each output of RUN_ID, by seq; O and its output are valid
 * during the call.  Non-zero from CB stops the walk and is returned.  0
 * (no calls) for a run without outputs or an unknown run.
 */
typedef int store_run_output_cb(const struct store_run_output *o, void *arg);
int store_run_outputs(
    struct store *st, const char *run_id, store_run_output_cb *cb, void *arg);

/* ---- schedule state ---- */

/*
 * Per user: the instant the next fire is due, the last fire taken and how
 * it ended, and whether an operator paused it.  Times are 0 for "none".  The
 * scheduler writes the fire it takes (last_fire, next_fire) in the same
 * transaction as the run it creates, so a restart neither repeats nor loses a
 * fire.
 */
struct store_schedule {
	int64_t next_fire;
	int64_t last_fire;
	enum store_run_state last_outcome; /* STORE_RUN_NONE: never fired */
	char last_run_id[STORE_RUN_ID_LEN + 1]; /* "" if none */
	bool paused; /* `rotactl pause`: its fires are skipped (schema 3) */
};

/* -ENOENT if USER has no schedule state yet. */
int store_schedule_get(
    struct store *st, const char *user, struct store_schedule *ret);
/* Insert or replace. */
int store_schedule_put(
    struct store *st, const char *user, const struct store_schedule *s);

/* ---- event spool ---- */

/*
 * Events wait here until every sink has them.  put spools a payload
 * (1 to STORE_EVENT_MAX bytes, opaque to the store) and gives its id
 * (increasing, never reused); peek calls CB for up to LIMIT undelivered
 * events, oldest first (CB's payload pointer is valid during the call);
 * ack marks one delivered (idempotent; -ENOENT for an unknown id); purge
 * deletes delivered events spooled before BEFORE.
 */
typedef int store_event_cb(
    int64_t id, int64_t time, const void *payload, size_t len, void *arg);
int store_event_put(struct store *st, int64_t now, const void *payload,
    size_t len, int64_t *ret_id);
int store_event_peek(
    struct store *st, int limit, store_event_cb *cb, void *arg);
int store_event_ack(struct store *st, int64_t id);
int store_event_purge(struct store *st, int64_t before);

/*
 * The spool as sinks and readers see it.  since calls CB for up to LIMIT
 * events after id SINCE, delivered or not, oldest first; last gives the id
 * of the last event ever spooled (0: none); trim deletes every event up to
 * id UPTO (the spool's bound), the count in *RET_N.  A sink's cursor is
 * the id of the last event it has, in order: get answers -ENOENT for a
 * sink never seen.
 */
int store_event_since(
    struct store *st, int64_t since, int limit, store_event_cb *cb, void *arg);
int store_event_last(struct store *st, int64_t *ret);
int store_event_trim(struct store *st, int64_t upto, int64_t *ret_n);
int store_event_cursor_get(struct store *st, const char *sink, int64_t *ret);
int store_event_cursor_put(struct store *st, const char *sink, int64_t id);

#endif
