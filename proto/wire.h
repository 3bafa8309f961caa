/*
 * wire: the one request the daemon sends a worker, and the one response
 * the worker sends back, over a pipe.
 *
 * A message is a 4-byte big-endian length, then that many bytes of fields;
 * each field is a 1-byte tag, a 4-byte big-endian length and the value.
 * Integers are 4-byte big-endian.  Strings hold no NUL.  Secrets are bytes.
 * What only one provider takes (postgresql's database, ...) travels as a
 * generic key/value parameter, which the worker checks against the
 * provider's catalog entry: the wire itself names no provider's settings.
 * The tag numbers and each string's bound are tabled in wire.c (a stable
 * contract: tests/lib/wire.py speaks it too).  A message over WIRE_MAX, a
 * field running past the end, a repeated or unknown tag, a string with a
 * NUL or over its bound, an integer of the wrong size or out of range, or
 * a required field missing (or, for a string, empty) is refused with
 * -EBADMSG: neither side trusts a field it has not checked.  An absent
 * optional field decodes as NULL, 0, false, or true for tls_verify.  Both
 * decoders are fuzzed (tests/fuzz/fuzz_wire.c).
 *
 * Secrets decode straight into struct secret (mlock'ed, wiped on free);
 * the encoded request itself is built in a struct secret, and the
 * encoder's caller frees it once written.
 *
 * libc and common/secret.c only.
 */
#ifndef ROTAD_WIRE_H
#define ROTAD_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct secret;

/* The largest message either way (a script's captured output included). */
#define WIRE_MAX (1024 * 1024)
/*
 * A worker of a provider with CATALOG_CAP_BATCH takes up to this many
 * requests on its fd 0, one message after the other until EOF, and
 * writes one response per request, in order, each as soon as it is done
 * (so that a batch cut short by a deadline or a kill still tells how the
 * ones before went).  Any other worker takes one.
 */
#define WIRE_BATCH_MAX 64
/* Bounds of the response's texts, NUL included. */
#define WIRE_MESSAGE_MAX 1024
#define WIRE_FACTS_MAX 1024
#define WIRE_OUTPUT_MAX (64 * 1024)
/* Bounds of the parameters (NUL not counted): keys are [a-z0-9_]. */
#define WIRE_PARAMS_MAX 32
#define WIRE_PARAM_KEY_MAX 63
#define WIRE_PARAM_VALUE_MAX 4095

enum wire_op {
	WIRE_OP_APPLY = 1, /* set new_secret on the target */
	WIRE_OP_VERIFY,    /* log in with new_secret (a probe: any candidate) */
	WIRE_OP_SCRIPT,    /* run a post-rotation script */
	WIRE_OP__MAX,
};

/* Error classes, numbered as store.h's enum store_error_class. */
enum wire_class {
	WIRE_CLASS_NONE,
	WIRE_CLASS_TRANSIENT,
	WIRE_CLASS_AUTH,
	WIRE_CLASS_POLICY,
	WIRE_CLASS_FATAL,
	WIRE_CLASS__MAX,
};

/* One provider-specific setting: a catalog key of the provider flagged
 * CATALOG_KEY_WORKER, and its value as the job file wrote it. */
struct wire_param {
	char *key;   /* 1..WIRE_PARAM_KEY_MAX bytes of [a-z0-9_] */
	char *value; /* at most WIRE_PARAM_VALUE_MAX bytes */
};

struct wire_request {
	enum wire_op op;
	char *provider;    /* a catalog name: "postgresql", "script", ... */
	char *host;        /* NULL for none */
	int port;          /* 0: the provider's default */
	char *login;       /* the account whose secret changes */
	char *dn;          /* directories */
	char *admin_login; /* NULL: the login changes its own secret */
	char *tls_ca_file; /* NULL for the system's */
	bool tls_verify;   /* default true */
	bool tls_disabled; /* no TLS at all (tls: {enabled: false}) */
	/* The secrets are OpenSSH private keys: the user's SSH key rotates
	 * (ssh's rotate: private_key), not its password. */
	bool private_key;
	struct secret *passphrase; /* the current key's, may be NULL */
	int timeout; /* seconds the step may take (the daemon enforces) */
	struct secret *current;    /* may be NULL */
	struct secret *new_secret; /* the candidate to set or to log in with */
	struct secret *admin;      /* the admin credential, may be NULL */
	/* WIRE_OP_SCRIPT */
	char *script_path;
	char *script_command;        /* the interpreter, NULL: exec the path */
	struct secret *script_input; /* base64(JSON) line, Keeper's contract */
	/* Test builds only (the test provider): what to do, e.g. "exec". */
	char *test_action;
	/* The provider's own settings, no key twice, in the order sent;
	 * at most WIRE_PARAMS_MAX.  Decoded: owned by the request. */
	struct wire_param *params;
	size_t nparams;
};

struct wire_response {
	enum wire_class class; /* WIRE_CLASS_NONE: the step succeeded */
	char message[WIRE_MESSAGE_MAX]; /* scrubbed */
	char facts[WIRE_FACTS_MAX];     /* "key=value" lines, scrubbed */
	char *output; /* a script's stdout+stderr, scrubbed, or NULL */
	size_t output_len;
	/*
	 * A failed apply that the provider knows changed nothing on the
	 * target: the server refused the statement, or it was never sent.
	 * Without it a failed apply is uncertain (it may still land), and
	 * recovery waits for its appliers before dropping the candidate.
	 */
	bool untouched;
};

/* Frees every member of REQ (secrets wiped, each parameter and the array)
 * and zeroes it: for a request whose members are all malloc'ed, as the
 * decoder fills one. */
void wire_request_clear(struct wire_request *req);
void wire_response_clear(struct wire_response *res);

/*
 * REQ as one message, length prefix included, in *out (a struct secret,
 * since it carries secrets; the caller frees it).  Returns 0, -EINVAL (a
 * required field missing or empty, an int out of range, or a string
 * longer than its bound, a parameter that breaks a rule of the table in
 * wire.c), -EMSGSIZE (the whole
 * message over WIRE_MAX) or -ENOMEM.
 */
int wire_request_encode(const struct wire_request *req, struct secret **out);

/*
 * Decode the fields of one message (BUF, LEN: the bytes after the length
 * prefix) into *req, which the caller clears.  Returns 0 or -EBADMSG /
 * -ENOMEM; on error *req holds nothing.
 */
int wire_request_decode(const void *buf, size_t len, struct wire_request *req);

/* The same for a response; *out is malloc'ed, length prefix included. */
int wire_response_encode(
    const struct wire_response *res, uint8_t **out, size_t *len);
int wire_response_decode(
    const void *buf, size_t len, struct wire_response *res);

/*
 * Read one whole message from FD (blocking): the length prefix, checked
 * against WIRE_MAX, then the fields into a struct secret in *out.
 * Returns 0, -ENODATA when FD ends before the message's first byte (the
 * end of a batch), -EBADMSG (cut short or too long) or -errno.  For the
 * worker.
 */
int wire_read_fd(int fd, struct secret **out);

/* Write all of BUF to FD (blocking, EINTR retried).  0 or -errno. */
int wire_write_fd(int fd, const void *buf, size_t len);

/* The value of REQ's parameter KEY, or NULL when it was not sent. */
const char *wire_param(const struct wire_request *req, const char *key);

const char *wire_op_name(enum wire_op op);
const char *wire_class_name(enum wire_class c);

#endif
