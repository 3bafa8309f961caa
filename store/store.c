/*
 * store.c: the store's public calls, its encryption, and the secret-version
 * state machine, the same for every backend.
 *
 * Envelope encryption.  The master key (outside the store) wraps one random
 * data key (DEK) per store; the DEK encrypts every secret value.  Both use
 * AES-256-GCM with a fresh random 96-bit nonce per encryption, stored as
 * nonce || ciphertext || tag.  Random nonces are safe here: one DEK sees a
 * few encryptions per user and rotation, far below the 2^32 messages after
 * which random GCM nonces may collide.
 *
 * The associated data binds each ciphertext to its place:
 *   the DEK:    "rotad store data key" NUL, then the key format (be32 1);
 *   a value:    the user name, NUL, then the version (be64).
 * A user name holds no NUL, so no two places share associated data, and a
 * value copied to another user or version fails authentication (-EBADMSG)
 * like any other tampering.
 *
 * Secret versions.  At any instant a user has at most one pending, one
 * current and one previous version; older ones are history (were current)
 * or discarded (were pending, never committed).  Each transition below is
 * one transaction, so a crash leaves either the old or the new states:
 *
 *   seed:     previous -> history, current -> previous, new -> current
 *   prepare:  new -> pending                     (refused if one pends)
 *   commit:   previous -> history, current -> previous, pending -> current
 *   discard:  pending -> discarded
 *
 * The rotation protocol (DESIGN.md) relies on this: a pending version is
 * durable before the target changes, and commit moves it to current in one
 * step, so the store always holds the secret the target accepts, or the run
 * says it does not know which.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "secret.h"
#include "store-internal.h"

#define NONCE_LEN 12
#define TAG_LEN 16
#define SEALED_LEN(n) (NONCE_LEN + (n) + TAG_LEN)

/* The key format is part of the DEK's associated data, so a future
 * format cannot be confused with this one. */
static const unsigned char dek_aad[] = "rotad store data key\0\0\0\0\1";
#define DEK_AAD_LEN (sizeof(dek_aad) - 1)

/* user NUL be64(version) */
#define VALUE_AAD_MAX (STORE_USER_MAX + 1 + 8)

struct store {
	const struct store_backend_ops *ops;
	struct store_backend *be;
	struct secret *dek;
	char err[512];
};

static const struct store_backend_ops *const backends[] = {
	&store_sqlite_ops,
	NULL,
};

static const char *const secret_state_names[] = {
	[STORE_SECRET_PENDING] = "pending",
	[STORE_SECRET_CURRENT] = "current",
	[STORE_SECRET_PREVIOUS] = "previous",
	[STORE_SECRET_HISTORY] = "history",
	[STORE_SECRET_DISCARDED] = "discarded",
};

static const char *const run_state_names[] = {
	[STORE_RUN_NONE] = "none",
	[STORE_RUN_PREPARED] = "prepared",
	[STORE_RUN_APPLIED] = "applied",
	[STORE_RUN_VERIFIED] = "verified",
	[STORE_RUN_COMMITTED] = "committed",
	[STORE_RUN_FAILED] = "failed",
	[STORE_RUN_OUT_OF_SYNC] = "out_of_sync",
};

static const char *const error_class_names[] = {
	[STORE_ERROR_NONE] = "none",
	[STORE_ERROR_TRANSIENT] = "transient",
	[STORE_ERROR_AUTH] = "auth",
	[STORE_ERROR_POLICY] = "policy",
	[STORE_ERROR_FATAL] = "fatal",
};

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

#define fail(st, r, ...) why_fail((st)->err, sizeof((st)->err), r, __VA_ARGS__)

/* ---- names ---- */

static const char *
name_of(const char *const *names, size_t n, int v)
{
	return v >= 0 && (size_t)v < n ? names[v] : NULL;
}

static int
from_name(const char *const *names, size_t n, const char *name)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(names[i], name) == 0)
			return (int)i;
	return -EINVAL;
}

const char *
store_secret_state_name(enum store_secret_state state)
{
	return name_of(
	    secret_state_names, NELEM(secret_state_names), (int)state);
}

const char *
store_run_state_name(enum store_run_state state)
{
	return name_of(run_state_names, NELEM(run_state_names), (int)state);
}

const char *
store_error_class_name(enum store_error_class ec)
{
	return name_of(error_class_names, NELEM(error_class_names), (int)ec);
}

int
store_secret_state_from_name(const char *name)
{
	return from_name(secret_state_names, NELEM(secret_state_names), name);
}

int
store_run_state_from_name(const char *name)
{
	return from_name(run_state_names, NELEM(run_state_names), name);
}

int
store_error_class_from_name(const char *name)
{
	return from_name(error_class_names, NELEM(error_class_names), name);
}

/* ---- run ids ---- */

int
store_run_id_new(char buf[STORE_RUN_ID_LEN + 1])
{
	unsigned char b[16];
	int i, n = 0;

	if (RAND_bytes(b, sizeof(b)) != 1)
		return -EIO;
	b[6] = (b[6] & 0x0f) | 0x40; /* version 4 */
	b[8] = (b[8] & 0x3f) | 0x80; /* RFC 4122 variant */
	for (i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			buf[n++] = '-';
		buf[n++] = "0123456789abcdef"[b[i] >> 4];
		buf[n++] = "0123456789abcdef"[b[i] & 15];
	}
	buf[n] = '\0';
	return 0;
}

bool
store_run_id_valid(const char *s)
{
	int i;

	for (i = 0; i < STORE_RUN_ID_LEN; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-')
				return false;
		} else if (!((s[i] >= '0' && s[i] <= '9') ||
			       (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	}
	return s[i] == '\0';
}

/* ---- AES-256-GCM ---- */

/*
 * Encrypt PLAIN (LEN bytes) under KEY with associated data AAD into a new
 * blob: nonce || ciphertext || tag.  0, -ENOMEM or -EIO.
 */
static int
seal(const struct secret *key, const void *aad, size_t aadlen,
    const void *plain, size_t len, struct store_blob *ret)
{
	EVP_CIPHER_CTX *ctx = NULL;
	unsigned char *out = NULL;
	int n, r;

	ret->data = NULL;
	ret->len = 0;
	if (len > INT_MAX - SEALED_LEN(0) || aadlen > INT_MAX)
		return -EINVAL;
	out = malloc(SEALED_LEN(len));
	ctx = EVP_CIPHER_CTX_new();
	if (out == NULL || ctx == NULL) {
		r = -ENOMEM;
		goto out;
	}
	if (RAND_bytes(out, NONCE_LEN) != 1 ||
	    EVP_EncryptInit_ex(
		ctx, EVP_aes_256_gcm(), NULL, secret_data(key), out) != 1 ||
	    EVP_EncryptUpdate(ctx, NULL, &n, aad, (int)aadlen) != 1 ||
	    (len > 0 &&
		EVP_EncryptUpdate(ctx, out + NONCE_LEN, &n, plain, (int)len) !=
		    1) ||
	    EVP_EncryptFinal_ex(ctx, out + NONCE_LEN + len, &n) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, TAG_LEN,
		out + NONCE_LEN + len) != 1) {
		r = -EIO;
		goto out;
	}
	ret->data = out;
	ret->len = SEALED_LEN(len);
	out = NULL;
	r = 0;
out:
	EVP_CIPHER_CTX_free(ctx); /* cleanses the key schedule */
	free(out);
	return r;
}

/*
 * Decrypt and authenticate IN under KEY and AAD into a new secret *ret.
 * -EBADMSG if it does not authenticate (wrong key, tampered, moved).
 */
static int
unseal(const struct secret *key, const void *aad, size_t aadlen,
    const struct store_blob *in, struct secret **ret)
{
	EVP_CIPHER_CTX *ctx = NULL;
	struct secret *plain = NULL;
	unsigned char tag[TAG_LEN];
	size_t len;
	int n, r;

	*ret = NULL;
	if (in->len < SEALED_LEN(0) || in->len > INT_MAX || aadlen > INT_MAX)
		return -EBADMSG;
	len = in->len - SEALED_LEN(0);
	/* The plaintext goes straight into locked memory; on failure it is
	 * wiped with it (GCM writes before it can authenticate). */
	r = secret_new(NULL, len, &plain);
	if (r < 0)
		goto out;
	ctx = EVP_CIPHER_CTX_new();
	if (ctx == NULL) {
		r = -ENOMEM;
		goto out;
	}
	memcpy(tag, in->data + NONCE_LEN + len, TAG_LEN);
	if (EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, secret_data(key),
		in->data) != 1 ||
	    EVP_DecryptUpdate(ctx, NULL, &n, aad, (int)aadlen) != 1 ||
	    (len > 0 &&
		EVP_DecryptUpdate(ctx, secret_buf(plain), &n,
		    in->data + NONCE_LEN, (int)len) != 1) ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, TAG_LEN, tag) != 1) {
		r = -EIO;
		goto out;
	}
	if (EVP_DecryptFinal_ex(ctx, tag, &n) != 1) {
		r = -EBADMSG;
		goto out;
	}
	*ret = plain;
	plain = NULL;
	r = 0;
out:
	EVP_CIPHER_CTX_free(ctx);
	secret_free(plain);
	return r;
}

static size_t
value_aad(const char *user, int64_t version, unsigned char *buf)
{
	size_t n = strlen(user), i;

	memcpy(buf, user, n + 1);
	for (i = 0; i < 8; i++)
		buf[n + 1 + i] =
		    (unsigned char)((uint64_t)version >> (56 - 8 * i));
	return n + 1 + 8;
}

static void
blob_free(struct store_blob *b)
{
	free(b->data);
	b->data = NULL;
	b->len = 0;
}

/* ---- opening ---- */

static int
find_backend(const char *location, const struct store_backend_ops **ret,
    char *err, size_t errlen)
{
	size_t n = strspn(location,
	    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+."
	    "-");
	bool url = n > 0 && strncmp(location + n, "://", 3) == 0;
	size_t i;

	for (i = 0; backends[i] != NULL; i++) {
		const char *scheme = backends[i]->scheme;

		if (url ? scheme != NULL && strlen(scheme) == n &&
			    strncmp(scheme, location, n) == 0
			: scheme == NULL) {
			*ret = backends[i];
			return 0;
		}
	}
	return why_fail(err, errlen, -EPROTONOSUPPORT,
	    "%.*s: this rotad has no such store backend", (int)n, location);
}

/*
 * Unwrap the store's DEK with MASTER_KEY, or make one if the store is new.
 * One transaction, so two processes creating a store agree on one DEK.
 */
static int
load_dek(
    struct store *st, const char *location, const struct secret *master_key)
{
	struct store_blob wrapped = { 0 };
	struct secret *dek = NULL;
	int r;

	r = st->ops->begin(st->be);
	if (r < 0)
		return r;
	r = st->ops->dek_get(st->be, &wrapped);
	if (r == -ENOENT) {
		r = secret_new(NULL, STORE_KEY_LEN, &dek);
		if (r < 0)
			goto out;
		if (RAND_bytes(secret_buf(dek), STORE_KEY_LEN) != 1) {
			r = fail(st, -EIO, "the random generator failed");
			goto out;
		}
		r = seal(master_key, dek_aad, DEK_AAD_LEN, secret_data(dek),
		    STORE_KEY_LEN, &wrapped);
		if (r < 0) {
			r = fail(st, r, "cannot wrap the data key");
			goto out;
		}
		r = st->ops->dek_put(st->be, &wrapped);
	} else if (r == 0) {
		r = unseal(master_key, dek_aad, DEK_AAD_LEN, &wrapped, &dek);
		if (r == -EBADMSG)
			r = fail(st, -EKEYREJECTED,
			    "%s: the master key does not open this store",
			    location);
		else if (r == 0 && secret_len(dek) != STORE_KEY_LEN)
			r = fail(st, -EIO, "%s: the data key is %zu bytes",
			    location, secret_len(dek));
	}
out:
	if (r == 0)
		r = st->ops->commit(st->be);
	else
		st->ops->rollback(st->be);
	if (r == 0) {
		st->dek = dek;
		dek = NULL;
	}
	secret_free(dek);
	blob_free(&wrapped);
	return r;
}

int
store_open(const char *location, const struct secret *master_key,
    unsigned flags, struct store **ret, char *err, size_t errlen)
{
	struct store *st = NULL;
	int r;

	*ret = NULL;
	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (location == NULL)
		location = STORE_DEFAULT_PATH;
	if (master_key == NULL || secret_len(master_key) != STORE_KEY_LEN)
		return why_fail(err, errlen, -EINVAL,
		    "a master key is %d bytes", STORE_KEY_LEN);
	st = calloc(1, sizeof(*st));
	if (st == NULL)
		return why_fail(err, errlen, -ENOMEM, "out of memory");
	r = find_backend(location, &st->ops, st->err, sizeof(st->err));
	if (r < 0)
		goto out;
	r = st->ops->open(location, (flags & STORE_OPEN_CREATE) != 0, st->err,
	    sizeof(st->err), &st->be);
	if (r < 0)
		goto out;
	r = load_dek(st, location, master_key);
	if (r == 0 && (flags & STORE_OPEN_GROUP_COMMIT) &&
	    st->ops->group_commit != NULL)
		r = st->ops->group_commit(st->be);
	if (r < 0)
		goto out;
	*ret = st;
	st = NULL;
out:
	if (st != NULL)
		why_fail(err, errlen, r, "%s", st->err);
	store_close(st);
	return r;
}

int
store_reader(struct store *st, struct store **ret)
{
	struct store *rd;
	int r;

	*ret = NULL;
	if (st->ops->reader == NULL)
		return fail(st, -EOPNOTSUPP, "this store has no read handles");
	rd = calloc(1, sizeof(*rd));
	if (rd == NULL)
		return fail(st, -ENOMEM, "out of memory");
	rd->ops = st->ops;
	/* The data key, copied: the worker requests built off the loop
	 * decrypt through it (the master key is long gone). */
	r = secret_new(secret_data(st->dek), secret_len(st->dek), &rd->dek);
	if (r < 0)
		snprintf(rd->err, sizeof(rd->err), "out of memory");
	else
		r = st->ops->reader(st->be, rd->err, sizeof(rd->err), &rd->be);
	if (r < 0) {
		fail(st, r, "%s", rd->err);
		store_close(rd);
		return r;
	}
	*ret = rd;
	return 0;
}

void
store_close(struct store *st)
{
	if (st == NULL)
		return;
	if (st->be != NULL)
		st->ops->close(st->be);
	secret_free(st->dek);
	free(st);
}

const char *
store_last_error(const struct store *st)
{
	return st->err;
}

/* ---- transactions ---- */

int
store_begin(struct store *st)
{
	return st->ops->begin(st->be);
}

int
store_commit(struct store *st)
{
	return st->ops->commit(st->be);
}

int
store_rollback(struct store *st)
{
	return st->ops->rollback(st->be);
}

int
store_settle(struct store *st)
{
	return st->ops->settle != NULL ? st->ops->settle(st->be) : 0;
}

uint64_t
store_written(const struct store *st)
{
	return st->ops->written != NULL ? st->ops->written(st->be) : 0;
}

int
store_flush(struct store *st)
{
	return st->ops->flush != NULL ? st->ops->flush(st->be) : 0;
}

int
store_read_begin(struct store *st)
{
	return st->ops->read_begin != NULL ? st->ops->read_begin(st->be) : 0;
}

void
store_read_end(struct store *st)
{
	if (st->ops->read_end != NULL)
		st->ops->read_end(st->be);
}

/* End the transaction a call began: commit if R is 0, else undo. */
static int
end(struct store *st, int r)
{
	if (r == 0)
		return st->ops->commit(st->be);
	st->ops->rollback(st->be);
	return r;
}

int
store_rekey(struct store *st, const struct secret *new_master_key)
{
	struct store_blob wrapped = { 0 };
	int r;

	if (new_master_key == NULL ||
	    secret_len(new_master_key) != STORE_KEY_LEN)
		return fail(
		    st, -EINVAL, "a master key is %d bytes", STORE_KEY_LEN);
	/*
	 * Only the DEK is re-wrapped: the secrets stay encrypted under the
	 * DEK, which does not change, so a rekey is one small write however
	 * many secrets there are, and it is atomic.
	 */
	r = seal(new_master_key, dek_aad, DEK_AAD_LEN, secret_data(st->dek),
	    STORE_KEY_LEN, &wrapped);
	if (r < 0)
		return fail(st, r, "cannot wrap the data key");
	r = st->ops->begin(st->be);
	if (r < 0)
		goto out;
	r = end(st, st->ops->dek_put(st->be, &wrapped));
	if (r == 0)
		st->ops->scrub(st->be);
out:
	blob_free(&wrapped);
	return r;
}

/* ---- secret versions ---- */

static int
check_user(struct store *st, const char *user)
{
	size_t n;

	if (user == NULL)
		return fail(st, -EINVAL, "no user name");
	n = strnlen(user, STORE_USER_MAX + 1);
	if (n == 0 || n > STORE_USER_MAX)
		return fail(st, -EINVAL, "a user name has 1 to %d bytes",
		    STORE_USER_MAX);
	return 0;
}

static int
check_value(struct store *st, const struct secret *value)
{
	if (value == NULL || secret_len(value) == 0 ||
	    secret_len(value) > STORE_SECRET_MAX)
		return fail(st, -EINVAL, "a secret has 1 to %d bytes",
		    STORE_SECRET_MAX);
	return 0;
}

/*
 * Within a transaction: insert VALUE as USER's next version in STATE.
 * The version is chosen before sealing because it is part of the
 * associated data.
 */
static int
insert_version(struct store *st, const char *user, const struct secret *value,
    enum store_secret_state state, const char *run_id, int64_t now,
    int64_t *ret_version)
{
	struct store_secret_info info = { 0 };
	unsigned char aad[VALUE_AAD_MAX];
	struct store_blob sealed = { 0 };
	int64_t last;
	int r;

	r = st->ops->secret_last_version(st->be, user, &last);
	if (r < 0)
		return r;
	info.version = last + 1;
	info.state = state;
	info.created = info.changed = now;
	if (run_id != NULL)
		memcpy(info.run_id, run_id, sizeof(info.run_id));
	r = seal(st->dek, aad, value_aad(user, info.version, aad),
	    secret_data(value), secret_len(value), &sealed);
	if (r < 0)
		return fail(st, r, "cannot encrypt the secret");
	r = st->ops->secret_insert(st->be, user, &info, &sealed);
	if (r == 0 && ret_version != NULL)
		*ret_version = info.version;
	blob_free(&sealed);
	return r;
}

/*
 * Within a transaction: make room for a new current version.  The order
 * matters: each state is unique per user at every statement, not just
 * at commit.
 */
static int
retire_current(struct store *st, const char *user, int64_t now)
{
	struct store_secret_info info;
	int r;

	r = st->ops->secret_by_state(
	    st->be, user, STORE_SECRET_PREVIOUS, &info, NULL);
	if (r == 0)
		r = st->ops->secret_set_state(
		    st->be, user, info.version, STORE_SECRET_HISTORY, now);
	if (r < 0 && r != -ENOENT)
		return r;
	r = st->ops->secret_by_state(
	    st->be, user, STORE_SECRET_CURRENT, &info, NULL);
	if (r == 0)
		r = st->ops->secret_set_state(
		    st->be, user, info.version, STORE_SECRET_PREVIOUS, now);
	return r == -ENOENT ? 0 : r;
}

int
store_secret_seed(struct store *st, const char *user,
    const struct secret *value, int64_t now, int64_t *ret_version)
{
	struct store_secret_info info;
	int r;

	r = check_user(st, user);
	if (r == 0)
		r = check_value(st, value);
	if (r == 0)
		r = st->ops->begin(st->be);
	if (r < 0)
		return r;
	r = st->ops->secret_by_state(
	    st->be, user, STORE_SECRET_PENDING, &info, NULL);
	if (r == 0) {
		r = fail(st, -EBUSY,
		    "%s has pending version %lld (run %s): let the rotation "
		    "finish or discard it first",
		    user, (long long)info.version, info.run_id);
		goto out;
	}
	if (r != -ENOENT)
		goto out;
	r = retire_current(st, user, now);
	if (r == 0)
		r = insert_version(st, user, value, STORE_SECRET_CURRENT, NULL,
		    now, ret_version);
out:
	return end(st, r);
}

int
store_secret_put_pending(struct store *st, const char *user,
    const struct secret *value, const char *run_id, int64_t now,
    int64_t *ret_version)
{
	struct store_secret_info info;
	struct store_run run;
	int r;

	r = check_user(st, user);
	if (r == 0)
		r = check_value(st, value);
	if (r == 0 && (run_id == NULL || !store_run_id_valid(run_id)))
		r = fail(st, -EINVAL, "not a run id");
	if (r == 0)
		r = st->ops->begin(st->be);
	if (r < 0)
		return r;
	r = st->ops->run_get(st->be, run_id, &run);
	if (r < 0)
		goto out;
	if (strcmp(run.user, user) != 0) {
		r = fail(st, -EINVAL, "run %s belongs to %s, not %s", run_id,
		    run.user, user);
		goto out;
	}
	r = st->ops->secret_by_state(
	    st->be, user, STORE_SECRET_PENDING, &info, NULL);
	if (r == 0) {
		r = fail(st, -EEXIST,
		    "%s already has pending version %lld (run %s)", user,
		    (long long)info.version, info.run_id);
		goto out;
	}
	if (r != -ENOENT)
		goto out;
	r = insert_version(
	    st, user, value, STORE_SECRET_PENDING, run_id, now, ret_version);
out:
	return end(st, r);
}

/* Decrypt SEALED, USER's version INFO->version, into *ret. */
static int
open_value(struct store *st, const char *user,
    const struct store_secret_info *info, const struct store_blob *sealed,
    struct secret **ret)
{
	unsigned char aad[VALUE_AAD_MAX];
	int r;

	r = unseal(
	    st->dek, aad, value_aad(user, info->version, aad), sealed, ret);
	if (r == -EBADMSG)
		return fail(st, r,
		    "%s version %lld does not decrypt: the stored value was "
		    "altered or moved",
		    user, (long long)info->version);
	if (r < 0)
		return fail(st, r, "cannot decrypt %s version %lld", user,
		    (long long)info->version);
	return 0;
}

/*
 * USER's version in SLOT into *INFO, and its sealed value into *SEALED
 * unless SEALED is NULL.  One statement reads the version and its value
 * together, so no transaction is needed.
 */
static int
by_slot(struct store *st, const char *user, enum store_slot slot,
    struct store_secret_info *info, struct store_blob *sealed)
{
	static const enum store_secret_state states[] = {
		[STORE_PENDING] = STORE_SECRET_PENDING,
		[STORE_CURRENT] = STORE_SECRET_CURRENT,
		[STORE_PREVIOUS] = STORE_SECRET_PREVIOUS,
	};
	int r;

	r = check_user(st, user);
	if (r < 0)
		return r;
	if ((unsigned)slot >= NELEM(states))
		return fail(st, -EINVAL, "no such slot");
	r = st->ops->secret_by_state(st->be, user, states[slot], info, sealed);
	if (r == -ENOENT)
		r = fail(st, r, "%s has no %s secret", user,
		    store_secret_state_name(states[slot]));
	return r;
}

int
store_secret_version(struct store *st, const char *user, enum store_slot slot,
    int64_t *ret_version)
{
	struct store_secret_info info;
	int r;

	/* No value asked, so nothing is decrypted: cheap enough for a
	 * listing of every user. */
	r = by_slot(st, user, slot, &info, NULL);
	if (r == 0 && ret_version != NULL)
		*ret_version = info.version;
	return r;
}

int
store_secret_get(struct store *st, const char *user, enum store_slot slot,
    struct secret **ret, int64_t *ret_version)
{
	struct store_secret_info info;
	struct store_blob sealed = { 0 };
	int r;

	*ret = NULL;
	r = by_slot(st, user, slot, &info, &sealed);
	if (r == 0)
		r = open_value(st, user, &info, &sealed, ret);
	if (r == 0 && ret_version != NULL)
		*ret_version = info.version;
	blob_free(&sealed);
	return r;
}

int
store_secret_get_version(struct store *st, const char *user, int64_t version,
    struct secret **ret, enum store_secret_state *ret_state)
{
	struct store_secret_info info;
	struct store_blob sealed = { 0 };
	int r;

	*ret = NULL;
	r = check_user(st, user);
	if (r < 0)
		return r;
	r = st->ops->secret_by_version(st->be, user, version, &info, &sealed);
	if (r == -ENOENT)
		r = fail(
		    st, r, "%s has no version %lld", user, (long long)version);
	if (r == 0)
		r = open_value(st, user, &info, &sealed, ret);
	if (r == 0 && ret_state != NULL)
		*ret_state = info.state;
	blob_free(&sealed);
	return r;
}

int
store_secret_commit(
    struct store *st, const char *user, int64_t version, int64_t now)
{
	struct store_secret_info info;
	int r;

	r = check_user(st, user);
	if (r == 0)
		r = st->ops->begin(st->be);
	if (r < 0)
		return r;
	r = st->ops->secret_by_state(
	    st->be, user, STORE_SECRET_PENDING, &info, NULL);
	if (r == 0 && info.version == version) {
		r = retire_current(st, user, now);
		if (r == 0)
			r = st->ops->secret_set_state(
			    st->be, user, version, STORE_SECRET_CURRENT, now);
		goto out;
	}
	if (r < 0 && r != -ENOENT)
		goto out;
	/* A recovery may repeat a commit that did happen. */
	r = st->ops->secret_by_version(st->be, user, version, &info, NULL);
	if (r == 0 && info.state == STORE_SECRET_CURRENT)
		goto out;
	if (r == 0 || r == -ENOENT)
		r = fail(st, -ENOENT, "%s has no pending version %lld", user,
		    (long long)version);
out:
	return end(st, r);
}

int
store_secret_discard_pending(
    struct store *st, const char *user, int64_t version, int64_t now)
{
	struct store_secret_info info;
	int r;

	r = check_user(st, user);
	if (r == 0)
		r = st->ops->begin(st->be);
	if (r < 0)
		return r;
	r = st->ops->secret_by_version(st->be, user, version, &info, NULL);
	if (r == 0 && info.state == STORE_SECRET_PENDING)
		r = st->ops->secret_set_state(
		    st->be, user, version, STORE_SECRET_DISCARDED, now);
	else if (r == 0 && info.state != STORE_SECRET_DISCARDED)
		r = -ENOENT;
	if (r == -ENOENT)
		r = fail(st, r, "%s has no pending version %lld", user,
		    (long long)version);
	return end(st, r);
}

int
store_secret_history(
    struct store *st, const char *user, store_secret_cb *cb, void *arg)
{
	struct store_secret_info *v = NULL;
	size_t i, n = 0;
	int r;

	r = check_user(st, user);
	if (r < 0)
		return r;
	/* The rows are read in full before the first callback, so that it
	 * may call into the store. */
	r = st->ops->secret_list(st->be, user, &v, &n);
	for (i = 0; r == 0 && i < n; i++)
		r = cb(&v[i], arg);
	free(v);
	return r;
}

/* ---- runs ---- */

static int
check_run(struct store *st, const struct store_run *r)
{
	if (!store_run_id_valid(r->id))
		return fail(st, -EINVAL, "not a run id");
	if (memchr(r->user, '\0', sizeof(r->user)) == NULL ||
	    check_user(st, r->user) < 0)
		return fail(st, -EINVAL, "a run's user has 1 to %d bytes",
		    STORE_USER_MAX);
	if (r->state == STORE_RUN_NONE ||
	    store_run_state_name(r->state) == NULL)
		return fail(st, -EINVAL, "not a run state");
	if (store_error_class_name(r->error_class) == NULL)
		return fail(st, -EINVAL, "not an error class");
	if (r->attempts < 0)
		return fail(st, -EINVAL, "negative attempts");
	if (memchr(r->message, '\0', sizeof(r->message)) == NULL)
		return fail(st, -EINVAL, "run message not terminated");
	return 0;
}

int
store_run_create(struct store *st, const struct store_run *run)
{
	int r;

	r = check_run(st, run);
	if (r == 0)
		r = st->ops->begin(st->be);
	if (r < 0)
		return r;
	return end(st, st->ops->run_insert(st->be, run));
}

int
store_run_update(struct store *st, const struct store_run *run)
{
	int r;

	r = check_run(st, run);
	if (r == 0)
		r = st->ops->begin(st->be);
	if (r < 0)
		return r;
	return end(st, st->ops->run_update(st->be, run));
}

int
store_run_get(struct store *st, const char *id, struct store_run *ret)
{
	if (id == NULL || !store_run_id_valid(id))
		return fail(st, -EINVAL, "not a run id");
	return st->ops->run_get(st->be, id, ret);
}

static int
list_runs(struct store *st, const char *user, int limit, bool unfinished,
    store_run_cb *cb, void *arg)
{
	struct store_run *v = NULL;
	size_t i, n = 0;
	int r;

	r = st->ops->run_list(st->be, user, limit, unfinished, &v, &n);
	for (i = 0; r == 0 && i < n; i++)
		r = cb(&v[i], arg);
	free(v);
	return r;
}

int
store_run_list(
    struct store *st, const char *user, int limit, store_run_cb *cb, void *arg)
{
	int r;

	if (user != NULL) {
		r = check_user(st, user);
		if (r < 0)
			return r;
	}
	if (limit < 0)
		return fail(st, -EINVAL, "negative limit");
	return list_runs(st, user, limit, false, cb, arg);
}

int
store_run_list_unfinished(struct store *st, store_run_cb *cb, void *arg)
{
	return list_runs(st, NULL, 0, true, cb, arg);
}

/* ---- run outputs ---- */

/*
 * A post-rotation script's output is scrubbed by the worker before it
 * gets here, so it is kept in clear, like a run's message.  The fixed-size
 * fields must be terminated within their arrays: a caller that filled one
 * to the brim has lost the end of it, and a truncated script path would
 * name another file.
 */
static int
check_output(struct store *st, const struct store_run_output *o)
{
	size_t n;

	if (o == NULL)
		return fail(st, -EINVAL, "no run output");
	if (o->seq <= 0)
		return fail(st, -EINVAL, "a run output's seq starts at 1");
	n = strnlen(o->script, sizeof(o->script));
	if (n == 0 || n == sizeof(o->script))
		return fail(st, -EINVAL, "a script path has 1 to %d bytes",
		    STORE_SCRIPT_MAX);
	if (memchr(o->message, '\0', sizeof(o->message)) == NULL)
		return fail(st, -EINVAL, "run output message not terminated");
	if (o->output_len > STORE_OUTPUT_MAX)
		return fail(st, -EINVAL, "a run output has at most %d bytes",
		    STORE_OUTPUT_MAX);
	if (o->output == NULL && o->output_len > 0)
		return fail(st, -EINVAL, "no run output bytes");
	return 0;
}

int
store_run_output_add(
    struct store *st, const char *run_id, const struct store_run_output *o)
{
	struct store_run run;
	int r;

	if (run_id == NULL || !store_run_id_valid(run_id))
		return fail(st, -EINVAL, "not a run id");
	r = check_output(st, o);
	if (r == 0)
		r = st->ops->begin(st->be);
	if (r < 0)
		return r;
	/* Checked here, not left to a foreign key, so that every backend
	 * refuses an unknown run the same way. */
	r = st->ops->run_get(st->be, run_id, &run);
	if (r == 0)
		r = st->ops->run_output_insert(st->be, run_id, o);
	if (r == -EEXIST)
		r = fail(st, r, "run %s already has output %d", run_id, o->seq);
	return end(st, r);
}

int
store_run_outputs(
    struct store *st, const char *run_id, store_run_output_cb *cb, void *arg)
{
	struct store_output_row *v = NULL;
	size_t i, n = 0;
	int r;

	if (run_id == NULL || !store_run_id_valid(run_id))
		return fail(st, -EINVAL, "not a run id");
	/* The rows are read in full before the first callback, so that it
	 * may call into the store. */
	r = st->ops->run_output_list(st->be, run_id, &v, &n);
	for (i = 0; r == 0 && i < n; i++) {
		v[i].o.output = (const char *)v[i].output.data;
		v[i].o.output_len = v[i].output.len;
		r = cb(&v[i].o, arg);
	}
	for (i = 0; i < n; i++)
		blob_free(&v[i].output);
	free(v);
	return r;
}

/* ---- schedule state ---- */

int
store_schedule_get(
    struct store *st, const char *user, struct store_schedule *ret)
{
	int r;

	r = check_user(st, user);
	if (r < 0)
		return r;
	return st->ops->schedule_get(st->be, user, ret);
}

int
store_schedule_put(
    struct store *st, const char *user, const struct store_schedule *s)
{
	int r;

	r = check_user(st, user);
	if (r < 0)
		return r;
	if (store_run_state_name(s->last_outcome) == NULL)
		return fail(st, -EINVAL, "not a run state");
	if (s->last_run_id[0] != '\0' && !store_run_id_valid(s->last_run_id))
		return fail(st, -EINVAL, "not a run id");
	r = st->ops->begin(st->be);
	if (r < 0)
		return r;
	return end(st, st->ops->schedule_put(st->be, user, s));
}

/* ---- event spool ---- */

int
store_event_put(struct store *st, int64_t now, const void *payload, size_t len,
    int64_t *ret_id)
{
	struct store_blob b = { (unsigned char *)(uintptr_t)payload, len };
	int r;

	if (payload == NULL || len == 0 || len > STORE_EVENT_MAX)
		return fail(
		    st, -EINVAL, "an event has 1 to %d bytes", STORE_EVENT_MAX);
	r = st->ops->begin(st->be);
	if (r < 0)
		return r;
	return end(st, st->ops->event_put(st->be, now, &b, ret_id));
}

int
store_event_peek(struct store *st, int limit, store_event_cb *cb, void *arg)
{
	struct store_event *v = NULL;
	size_t i, n = 0;
	int r;

	if (limit <= 0)
		return fail(st, -EINVAL, "peek needs a positive limit");
	r = st->ops->event_list(st->be, limit, &v, &n);
	for (i = 0; r == 0 && i < n; i++)
		r = cb(v[i].id, v[i].time, v[i].payload.data, v[i].payload.len,
		    arg);
	for (i = 0; i < n; i++)
		blob_free(&v[i].payload);
	free(v);
	return r;
}

int
store_event_since(
    struct store *st, int64_t since, int limit, store_event_cb *cb, void *arg)
{
	struct store_event *v = NULL;
	size_t i, n = 0;
	int r;

	if (limit <= 0 || since < 0)
		return fail(st, -EINVAL, "a positive limit and id are needed");
	r = st->ops->event_since(st->be, since, limit, &v, &n);
	for (i = 0; r == 0 && i < n; i++)
		r = cb(v[i].id, v[i].time, v[i].payload.data, v[i].payload.len,
		    arg);
	for (i = 0; i < n; i++)
		blob_free(&v[i].payload);
	free(v);
	return r;
}

int
store_event_last(struct store *st, int64_t *ret)
{
	return st->ops->event_last(st->be, ret);
}

int
store_event_trim(struct store *st, int64_t upto, int64_t *ret_n)
{
	int r;

	r = st->ops->begin(st->be);
	if (r < 0)
		return r;
	return end(st, st->ops->event_trim(st->be, upto, ret_n));
}

int
store_event_cursor_get(struct store *st, const char *sink, int64_t *ret)
{
	return st->ops->cursor_get(st->be, sink, ret);
}

int
store_event_cursor_put(struct store *st, const char *sink, int64_t id)
{
	int r;

	if (sink == NULL || sink[0] == '\0' || id < 0)
		return fail(st, -EINVAL, "a cursor needs a sink and an id");
	r = st->ops->begin(st->be);
	if (r < 0)
		return r;
	return end(st, st->ops->cursor_put(st->be, sink, id));
}

int
store_event_ack(struct store *st, int64_t id)
{
	int r;

	r = st->ops->begin(st->be);
	if (r < 0)
		return r;
	return end(st, st->ops->event_ack(st->be, id));
}

int
store_event_purge(struct store *st, int64_t before)
{
	int r;

	r = st->ops->begin(st->be);
	if (r < 0)
		return r;
	return end(st, st->ops->event_purge(st->be, before));
}
