/*
 * keygen.c: new SSH key pairs, chosen like the current key and made on
 * libuv's thread pool (see keygen.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keygen.h"
#include "secret.h"
#include "xalloc.h"

struct job {
	uv_work_t work;
	struct keygen_args args;
	char *comment;
	struct secret *key;
	enum sshkey_type type;
	int bits;
	const char *why;
	int rc;
	keygen_cb *cb;
	void *arg;
};

/* The type and size of the key to make (keygen.h's rules). */
static void
choose(struct job *j)
{
	struct sshkey_info info;

	j->bits = 0;
	if (j->args.forced != SSHKEY_UNKNOWN) {
		j->type = j->args.forced;
		j->why = "private_key_type";
	} else if (j->args.current != NULL &&
	    sshkey_inspect(j->args.current, j->args.passphrase, &info) == 0) {
		j->type = info.type;
		if (info.type == SSHKEY_RSA)
			j->bits = info.bits < SSHKEY_RSA_BITS_MIN
			    ? SSHKEY_RSA_BITS_MIN
			    : info.bits;
		j->why = "the current key's type and size";
		sshkey_info_clear(&info);
	} else {
		j->type = j->args.fallback;
		j->why = j->args.current == NULL
		    ? "no current key: the default private_key_type"
		    : "the current key's type cannot be read: the default "
		      "private_key_type";
	}
	if (j->type == SSHKEY_RSA && j->bits == 0)
		j->bits = SSHKEY_RSA_BITS_DEFAULT;
}

/* On a pool thread: only the job's own fields. */
static void
generate(uv_work_t *w)
{
	struct job *j = w->data;

	choose(j);
	j->rc = sshkey_generate(j->type, j->bits, j->comment, &j->key);
}

static void
job_free(struct job *j)
{
	secret_free(j->args.current);
	secret_free(j->args.passphrase);
	free(j->comment);
	free(j);
}

static void
generated(uv_work_t *w, int status)
{
	struct job *j = w->data;

	if (status < 0 && j->rc == 0) {
		/* Cancelled: never the case today (nothing cancels). */
		secret_free(j->key);
		j->key = NULL;
		j->rc = status;
	}
	j->cb(j->arg, j->key, j->type, j->bits, j->why, j->rc);
	job_free(j);
}

int
keygen_start(
    uv_loop_t *loop, struct keygen_args *args, keygen_cb *cb, void *arg)
{
	struct job *j = xcalloc(1, sizeof(*j));
	int rc;

	j->work.data = j;
	j->args = *args;
	j->comment = xstrdup(args->comment);
	j->args.comment = NULL;
	j->cb = cb;
	j->arg = arg;
	args->current = args->passphrase = NULL; /* the job's now */
	rc = uv_queue_work(loop, &j->work, generate, generated);
	if (rc < 0)
		job_free(j);
	return rc;
}
