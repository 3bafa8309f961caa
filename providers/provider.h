/*
 * provider: one kind of target behind one small vtable.  Providers run
 * only inside rotad-worker, after the sandbox is up: they may block, and
 * they never log (the result carries the message, which the worker
 * scrubs).
 *
 * What a provider is (its keys, its capabilities, what its sandbox must
 * allow) is its descriptor in catalog/catalog.c; this is only how it
 * works.  The worker finds the descriptor by the name on its command
 * line, takes the sandbox profile from it, checks the request's
 * parameters against its keys, and only then asks this registry for the
 * implementation.  A provider reads its own settings with wire_param(),
 * already checked.
 *
 * One process, one or more operations.  A worker runs one request, or,
 * for a provider with CATALOG_CAP_BATCH, a batch of up to WIRE_BATCH_MAX
 * for one resource, in order, one call each; then finish() once.  Such a
 * provider may keep what the batch's applies share between its calls
 * (postgresql and mysql keep the admin session, keyed by
 * provider_admin_key, and the admin logins the server refused, which
 * are not tried again: a batch must not become a storm of failed logins
 * that locks the admin account out).  Every call still answers for
 * itself alone: its class, its message, its facts, its `untouched`.
 *
 * Server-side work ends before the step's deadline, which runs from the
 * WORKER's start (provider_clock_start()), not from the call: in a batch
 * the daemon bounds the whole worker by one request's timeout, ends it
 * then, and counts on nothing of any of its applies landing after the
 * worker's start + timeout + 1 s.  A statement the worker sent lives on
 * the server, and an apply that landed after the daemon had given it up
 * would set a secret the daemon may have dropped.  So a provider bounds
 * what it asks of the target with provider_left_ms() (postgresql:
 * lock_timeout and statement_timeout, a second under what is left;
 * mysql: lock_wait_timeout and max_statement_time), again before each
 * apply on a kept session, and the worker starts no request after the
 * first once half of its timeout has passed.  A provider that cannot
 * bound it must say so in its catalog entry.
 */
#ifndef ROTAD_PROVIDER_H
#define ROTAD_PROVIDER_H

#include "catalog.h"
#include "wire.h"

struct provider {
	const char *name; /* the catalog name of the provider it implements */
	/*
	 * Set req->new_secret for req->login on the target, with the admin
	 * credential when req->admin_login is set, else as the login itself
	 * with req->current.  0, or a negative errno with res->class and
	 * res->message filled in.
	 */
	int (*apply)(const struct wire_request *req, struct wire_response *res);
	/* Log in as req->login with req->new_secret: 0 when it works. */
	int (*verify)(
	    const struct wire_request *req, struct wire_response *res);
	/*
	 * Optional: called once after the last request of the worker,
	 * answered or not, to end what the provider kept between calls
	 * (a session closed cleanly, the secrets it kept wiped).
	 */
	void (*finish)(void);
	/*
	 * Optional: the library set-up every worker of this provider would
	 * do at its first call, done once in the worker template before it
	 * forks (registry_warm()), so that each fork starts with it done.
	 * It must hold nothing of a step: no request, secret, file of a job
	 * or connection; an exec'd worker never calls it.
	 */
	void (*warm)(void);
};

/*
 * The worker's start on CLOCK_MONOTONIC, noted once by the worker before
 * it reads anything, and the milliseconds since.  A provider that never
 * had the clock started (a unit test) starts it at its first question.
 */
void provider_clock_start(void);
long long provider_elapsed_ms(void);

/* What is left, in milliseconds (negative once past), of a deadline of
 * TIMEOUT seconds from the worker's start. */
long long provider_left_ms(int timeout);

/*
 * What an admin session was opened with, to tell whether a later apply
 * of the batch may use it: the host, the port, the database parameter,
 * the TLS settings (tls_ca_file, tls_verify, tls_disabled), the admin
 * login and the admin secret's bytes, copied into a struct secret that
 * provider_admin_key_free() wipes.
 *
 * provider_admin_key_new(): REQ's (which has an admin_login and an
 * admin) in *RET.  0 or -ENOMEM.
 * provider_admin_key_match(): whether REQ would open the same session.
 */
struct provider_admin_key;

int provider_admin_key_new(
    const struct wire_request *req, struct provider_admin_key **ret);
bool provider_admin_key_match(
    const struct provider_admin_key *k, const struct wire_request *req);
void provider_admin_key_free(struct provider_admin_key *k);

/*
 * The admin logins the server refused, for the worker's life: an apply
 * whose admin login was refused before is failed the same way (auth,
 * untouched) without another attempt.
 *
 * provider_refusal_note(): remember REQ's admin login as refused, with
 * RES's message.  0 or -ENOMEM (then it is merely tried again).
 * provider_refusal_recall(): when REQ's was refused before, RES failed
 * as then and true.  provider_refusals_free(): forget them all (finish).
 */
int provider_refusal_note(
    const struct wire_request *req, const struct wire_response *res);
bool provider_refusal_recall(
    const struct wire_request *req, struct wire_response *res);
void provider_refusals_free(void);

/*
 * A new admin session for REQ: LOGIN (the provider's, given REQ, the
 * admin password as a C string from secret_cstring() and SESSION, where
 * it puts the session) is called unless REQ's admin login was refused
 * before; a refusal now (class auth) is remembered.  0 with the session's
 * key in *RET_KEY (the caller's), or RES filled and -EIO.
 */
int provider_admin_login(const struct wire_request *req,
    int (*login)(const struct wire_request *req, const struct secret *pw,
	void *session, struct wire_response *res),
    void *session, struct provider_admin_key **ret_key,
    struct wire_response *res);

/*
 * TEXT (from a library or the server) made fit for one line of a message:
 * control characters become spaces, runs of spaces collapse, the ends
 * are trimmed.  At most SIZE bytes to OUT.  TEXT may be NULL.
 */
void provider_one_line(const char *text, char *out, size_t size);

/* Append "KEY=VALUE\n" to RES's facts, VALUE made one line; a NULL VALUE,
 * or one that does not fit, is left out. */
void provider_fact(
    struct wire_response *res, const char *key, const char *value);

/* Fill RES with CLASS and a formatted message; returns -EIO for
 * `return provider_fail(...)`. */
int provider_fail(struct wire_response *res, enum wire_class class,
    const char *fmt, ...) __attribute__((format(printf, 3, 4)));

extern const struct provider provider_postgresql;
extern const struct provider provider_mysql;
extern const struct provider provider_ssh;
extern const struct provider provider_ldap;
extern const struct provider provider_script;
extern const struct provider provider_post_rotation;
extern const struct provider provider_test;

/*
 * mysql.c's pure parts, for tests/unit/test_mysql.c.
 *
 * mysql_classify(): the class of a client or server error number
 * (mysql_errno()), its SQLSTATE (may be NULL) the fallback for numbers it
 * does not table: a refused login is auth, a password the server's policy
 * refuses is policy, a connection that failed or broke, a lock wait, a
 * deadlock or a statement timeout is transient, anything else fatal.
 *
 * mysql_auth_parse(): the authentication of an account from the text of
 * SHOW CREATE USER (MariaDB's "IDENTIFIED BY PASSWORD '*...'", "IDENTIFIED
 * VIA a USING '...' OR b", MySQL's "IDENTIFIED WITH 'p' AS '...'"; none:
 * native with no password).  0, or -EINVAL for text it cannot read.
 *
 * mysql_native_hash(): '*' and the upper-case hex of SHA1(SHA1(PW)), what
 * mysql_native_password stores, NUL-terminated in OUT (SIZE >= 42).  0,
 * -ENOBUFS or -EIO.
 */
#define MYSQL_AUTH_MAX 4

enum mysql_auth_kind {
	MYSQL_AUTH_UNKNOWN,      /* not readable: no privilege */
	MYSQL_AUTH_NATIVE,       /* mysql_native_password alone */
	MYSQL_AUTH_NATIVE_CHAIN, /* native OR plugins that hold no string */
	MYSQL_AUTH_PASSWORD,     /* one plugin that takes a password as text */
	MYSQL_AUTH_OTHER,        /* anything else: no password to set */
};

struct mysql_auth {
	enum mysql_auth_kind kind;
	char plugins[MYSQL_AUTH_MAX][64]; /* in order; "" is native */
	bool has_string[MYSQL_AUTH_MAX];  /* a USING / AS string follows */
	size_t nplugins;
};

enum wire_class mysql_classify(unsigned err, const char *sqlstate);
int mysql_auth_parse(const char *text, struct mysql_auth *ret);
int mysql_native_hash(const void *pw, size_t len, char *out, size_t size);

#endif
