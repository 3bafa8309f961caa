/*
 * keygen: a new SSH key pair for a run's prepare step, made off the loop.
 *
 * The daemon makes every new secret itself, before the target is touched
 * (the pending secret is stored first: the crash-safe protocol).  A
 * password takes microseconds; an RSA key of 4096 bits takes up to
 * seconds of CPU, and reading an encrypted PEM key costs what its own KDF
 * parameters say.  So the choice of type (which reads the current key)
 * and the key itself are made on libuv's thread pool, and the run waits
 * for them as it waits for a worker.  The thread touches nothing but its
 * own job: the store stays the loop's, which reads the secrets the job
 * takes before it starts.
 */
#ifndef ROTAD_KEYGEN_H
#define ROTAD_KEYGEN_H

#include <stddef.h>

#include <uv.h>

#include "sshkey.h"

struct secret;

/* What the new key is chosen from. */
struct keygen_args {
	/* private_key_type when written anywhere (not the built-in
	 * default), else SSHKEY_UNKNOWN: follow the current key. */
	enum sshkey_type forced;
	/* The type when there is no current key to follow. */
	enum sshkey_type fallback;
	struct secret *current;    /* the current key, or NULL; taken */
	struct secret *passphrase; /* its passphrase, or NULL; taken */
	const char *comment;       /* copied */
};

/* The new key: RC 0 with KEY (the callee's to free), of TYPE and BITS (0
 * but for RSA), WHY the rule that chose them; or -errno and KEY NULL. */
typedef void keygen_cb(void *arg, struct secret *key, enum sshkey_type type,
    int bits, const char *why, int rc);

/*
 * Choose and make a key per ARGS on LOOP's thread pool: FORCED if set;
 * else the algorithm and size of the current key (an RSA key under
 * SSHKEY_RSA_BITS_MIN gets that); else FALLBACK.  CB is called on the
 * loop with ARG.  0, or -errno when the work could not be queued (CB is
 * not called; ARGS' secrets are freed either way).
 */
int keygen_start(
    uv_loop_t *loop, struct keygen_args *args, keygen_cb *cb, void *arg);

#endif
