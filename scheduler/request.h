/*
 * request: the one request a worker gets, built from the job and the
 * store.
 *
 * The daemon's side of the process boundary: everything a worker will
 * know of a step is chosen here, and nothing else reaches it.  The
 * secrets are decrypted from the store straight into struct secret, and
 * wiped as soon as they are encoded; the encoded request is a struct
 * secret too, which the caller frees once it is written to the worker.
 */
#ifndef ROTAD_REQUEST_H
#define ROTAD_REQUEST_H

#include <stdbool.h>
#include <stddef.h>

#include "jobs.h"
#include "store.h"
#include "wire.h"

struct secret;

/*
 * Whose secret a request carries: user U's password, stored under U's
 * name, or its SSH key, stored under NAME (U's name and "/private_key"),
 * with the key's passphrase (NAME's "_passphrase") when the store has one.
 */
struct request_subject {
	const struct job_user *u;
	const char *name;
	bool private_key;
};

/*
 * For user U's provider: OP (apply or verify) with the secret in SLOT as
 * the one to set or log in with.  An apply also carries the current secret
 * (for a self-change) and, when the resource names one, the admin user's
 * identity (ADMIN_LOGIN: its DN when it has one, else its login; NULL
 * when that user is not loaded) and its current secret.  The provider's worker
 * keys go as parameters.  TEST_ACTION is the test builds' fault hook, or NULL.
 * Returns 0 with the encoded request in *ret, or -errno with the reason
 * in MSG.
 */
int request_step(struct store *st, const struct request_subject *who,
    const char *admin_login, enum wire_op op, enum store_slot slot,
    const char *test_action, struct secret **ret, char *msg, size_t size);

/*
 * Script SC for user U, run by worker PROVIDER, with Keeper's input: the
 * secret in NEW_SLOT as newPassword, OLD_SLOT's (if any) as oldPassword
 * (for a key: newPrivateKey and oldPrivateKey),
 * and the user's, resource's and configuration's records.  0 or -errno
 * with the reason in MSG.
 */
int request_script(struct store *st, const struct request_subject *who,
    const char *provider, const struct job_script *sc, enum store_slot new_slot,
    enum store_slot old_slot, struct secret **ret, char *msg, size_t size);

/*
 * A worker of resource RES answered with FACTS: when RES learns its host
 * key on first use (ssh's host_key_policy: tofu) and has none recorded
 * yet, record the host_key=SHA256:... fact FACTS hold, its value into FP.
 * 1 when recorded, 0 when there was nothing to record, -EINVAL for a
 * malformed fingerprint, or a store error.
 */
int request_tofu_learnt(struct store *st, const struct job_resource *res,
    const char *facts, char *fp, size_t size);

/* "pending", "current" or "previous". */
const char *request_slot_name(enum store_slot slot);

#endif
