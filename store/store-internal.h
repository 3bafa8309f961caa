/*
 * store-internal.h: what a store backend implements.
 *
 * store.c owns everything that must be the same whatever the database:
 * argument checks, encryption, and the secret-version state machine.  A
 * backend only keeps rows: it never sees a plaintext or a key, and its
 * calls are small enough that a PostgreSQL backend is a matter of SQL.
 *
 * Backend calls return 0 or a negative errno and, on failure, write a
 * message into the buffer given to open().  Reads may run outside a
 * transaction; store.c wraps every write, and every read-then-write, in
 * begin() ... commit() or rollback(), which nest.
 */
#ifndef ROTAD_STORE_INTERNAL_H
#define ROTAD_STORE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"
#include "why.h" /* why_fail(): printf into ERR, return R */

/* Bytes the backend keeps for us: ciphertexts, payloads.  Not secret. */
struct store_blob {
	unsigned char *data; /* malloc()ed when a backend returns it */
	size_t len;
};

struct store_event {
	int64_t id, time;
	struct store_blob payload;
};

/* A run output as a backend returns it: every field of O but output and
 * output_len, which store.c points at OUTPUT before the callback. */
struct store_output_row {
	struct store_run_output o;
	struct store_blob output; /* data NULL when empty */
};

struct store_backend;

struct store_backend_ops {
	/* The URL scheme ("postgresql"); NULL for the default, file paths. */
	const char *scheme;

	/* Open LOCATION (CREATE: or create it), check its integrity,
	 * migrate its schema.  ERR must outlive the backend: later failures
	 * are described there too. */
	int (*open)(const char *location, bool create, char *err, size_t errlen,
	    struct store_backend **ret);
	void (*close)(struct store_backend *b);
	/* A second connection to B's store for store_reader(): reads
	 * only, for another thread; its messages go to ERR.  May be NULL. */
	int (*reader)(struct store_backend *b, char *err, size_t errlen,
	    struct store_backend **ret);

	int (*begin)(struct store_backend *b);
	int (*commit)(struct store_backend *b);
	int (*rollback)(struct store_backend *b);
	/* A read-only snapshot (store_read_begin()); may be NULL. */
	int (*read_begin)(struct store_backend *b);
	void (*read_end)(struct store_backend *b);
	/* Best effort, outside a transaction: drop the superseded copies of
	 * rewritten rows (after a rekey, the DEK under the old key). */
	void (*scrub)(struct store_backend *b);

	/* Group commit (store.h): commits durable at flush(), which may
	 * run on another thread; written() counts the outermost commits
	 * that changed something; settle() makes the commits since the
	 * last one the ones a flush() begun next covers.  group_commit,
	 * settle and flush may be NULL: a backend whose commits are durable
	 * as they return. */
	int (*group_commit)(struct store_backend *b);
	int (*settle)(struct store_backend *b);
	uint64_t (*written)(const struct store_backend *b);
	int (*flush)(struct store_backend *b);

	/* The wrapped DEK; -ENOENT in a new store. */
	int (*dek_get)(struct store_backend *b, struct store_blob *ret);
	int (*dek_put)(struct store_backend *b, const struct store_blob *dek);

	/* The highest version USER ever had, 0 if none. */
	int (*secret_last_version)(
	    struct store_backend *b, const char *user, int64_t *ret);
	/* -EEXIST if the version or the (unique) state is taken. */
	int (*secret_insert)(struct store_backend *b, const char *user,
	    const struct store_secret_info *info,
	    const struct store_blob *value);
	/* USER's version in STATE (unique for pending, current, previous);
	 * VALUE may be NULL.  -ENOENT if none. */
	int (*secret_by_state)(struct store_backend *b, const char *user,
	    enum store_secret_state state, struct store_secret_info *ret,
	    struct store_blob *value);
	int (*secret_by_version)(struct store_backend *b, const char *user,
	    int64_t version, struct store_secret_info *ret,
	    struct store_blob *value);
	/* -ENOENT if no such version. */
	int (*secret_set_state)(struct store_backend *b, const char *user,
	    int64_t version, enum store_secret_state state, int64_t now);
	/* All of USER's versions, newest first, into a malloc()ed array. */
	int (*secret_list)(struct store_backend *b, const char *user,
	    struct store_secret_info **ret, size_t *ret_n);

	int (*run_insert)(struct store_backend *b, const struct store_run *r);
	int (*run_update)(struct store_backend *b, const struct store_run *r);
	int (*run_get)(
	    struct store_backend *b, const char *id, struct store_run *ret);
	/* UNFINISHED: oldest first, USER and LIMIT ignored; else newest
	 * first.  Into a malloc()ed array. */
	int (*run_list)(struct store_backend *b, const char *user, int limit,
	    bool unfinished, struct store_run **ret, size_t *ret_n);

	/* -EEXIST if RUN_ID has O->seq already.  Whether the run exists is
	 * store.c's check, in the same transaction (foreign keys may be
	 * off). */
	int (*run_output_insert)(struct store_backend *b, const char *run_id,
	    const struct store_run_output *o);
	/* RUN_ID's outputs by seq, into a malloc()ed array; the caller frees
	 * each output and the array.  None for an unknown run. */
	int (*run_output_list)(struct store_backend *b, const char *run_id,
	    struct store_output_row **ret, size_t *ret_n);

	int (*schedule_get)(struct store_backend *b, const char *user,
	    struct store_schedule *ret);
	int (*schedule_put)(struct store_backend *b, const char *user,
	    const struct store_schedule *s);

	int (*event_put)(struct store_backend *b, int64_t now,
	    const struct store_blob *payload, int64_t *ret_id);
	/* Up to LIMIT undelivered events, oldest first; the caller frees
	 * each payload and the array. */
	int (*event_list)(struct store_backend *b, int limit,
	    struct store_event **ret, size_t *ret_n);
	int (*event_ack)(struct store_backend *b, int64_t id);
	int (*event_purge)(struct store_backend *b, int64_t before);
	/* Up to LIMIT events after id SINCE, delivered or not. */
	int (*event_since)(struct store_backend *b, int64_t since, int limit,
	    struct store_event **ret, size_t *ret_n);
	int (*event_last)(struct store_backend *b, int64_t *ret);
	int (*event_trim)(struct store_backend *b, int64_t upto, int64_t *ret);
	/* A sink's cursor: -ENOENT for a sink never seen. */
	int (*cursor_get)(
	    struct store_backend *b, const char *sink, int64_t *ret);
	int (*cursor_put)(
	    struct store_backend *b, const char *sink, int64_t id);
};

extern const struct store_backend_ops store_sqlite_ops;

/* Names shared by backends that store enums as text (stable on disk). */
int store_secret_state_from_name(const char *name);
int store_run_state_from_name(const char *name);
int store_error_class_from_name(const char *name);

/* Whether S is a lowercase UUID, as store_run_id_new() makes. */
bool store_run_id_valid(const char *s);

#endif
