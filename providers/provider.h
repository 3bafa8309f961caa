/*
 * provider: one kind of target behind one small vtable.  Providers run
 * only inside rotad-worker, after the sandbox is up, one operation per
 * process: they may block, and they never log (the result carries the
 * message, which the worker scrubs).
 *
 * What a provider is (its keys, its capabilities, what its sandbox must
 * allow) is its descriptor in catalog/catalog.c; this is only how it
 * works.  The worker finds the descriptor by the name on its command
 * line, takes the sandbox profile from it, checks the request's
 * parameters against its keys, and only then asks this registry for the
 * implementation.  A provider reads its own settings with wire_param(),
 * already checked.
 *
 * Server-side work ends before the step's deadline (req->timeout, from
 * the worker's start).  The daemon ends a worker at the deadline, but a
 * statement the worker sent lives on the server: an apply that landed
 * after the daemon had given it up would set a secret the daemon may
 * have dropped.  So a provider bounds what it asks of the target
 * (postgresql: lock_timeout and statement_timeout, a second under what
 * is left of the deadline), and the daemon counts on that bound: after
 * the deadline has passed since an apply's worker started, nothing of
 * that apply can land.  A provider that cannot bound it must say so in
 * its catalog entry.
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
};

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
