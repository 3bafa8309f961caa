/*
 * provider: one kind of target behind one small vtable.  Providers run
 * only inside rotad-worker, after the sandbox is up, one operation per
 * process: they may block, and they never log (the result carries the
 * message, which the worker scrubs).
 */
#ifndef ROTAD_PROVIDER_H
#define ROTAD_PROVIDER_H

#include "wire.h"

/* What the sandbox must let a provider do (worker/sandbox.c). */
enum {
	PROVIDER_NEEDS_NET = 1 << 0,  /* TCP/UDP over IPv4/IPv6, and DNS */
	PROVIDER_NEEDS_UNIX = 1 << 1, /* AF_UNIX sockets */
	PROVIDER_NEEDS_EXEC = 1 << 2, /* execve of the configured interpreter */
};

struct provider {
	const char *name;
	unsigned needs;
	/* Extra read-only paths for Landlock (NULL-terminated), besides
	 * the request's tls_ca_file and the ones every worker gets. */
	const char *const *read_paths;
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

/* The provider called NAME, or NULL.  The test provider exists only in
 * builds configured with -Dtest_hooks=true. */
const struct provider *provider_find(const char *name);

/* Fill RES with CLASS and a formatted message; returns -EIO for
 * `return provider_fail(...)`. */
int provider_fail(struct wire_response *res, enum wire_class class,
    const char *fmt, ...) __attribute__((format(printf, 3, 4)));

extern const struct provider provider_postgresql;
extern const struct provider provider_script;
extern const struct provider provider_script_rotation;
extern const struct provider provider_test;

#endif
