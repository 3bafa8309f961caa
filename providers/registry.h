/*
 * registry: which provider implementation serves a catalog entry, in
 * rotad-worker.
 */
#ifndef ROTAD_REGISTRY_H
#define ROTAD_REGISTRY_H

struct catalog_provider;
struct provider;

/* The implementation of catalog provider DESC, or NULL when this worker
 * has none (the test provider exists only in builds configured with
 * -Dtest_hooks=true, in the catalog and here alike). */
const struct provider *registry_find(const struct catalog_provider *desc);

/*
 * In the worker template, before its first fork (worker/forkserver.h):
 * what each worker's first TLS connection and its provider's library
 * would otherwise set up afresh — OpenSSL's configuration, its providers
 * and the algorithms an SSL_CTX fetches (cached in OpenSSL's default
 * library context), then each provider's warm().  Nothing of a step is
 * in it.  OpenSSL is told not to clean up at exit (a fork's exit would
 * otherwise free all of it again, page by copied page).  An SSL_CTX draws from OpenSSL's random generators, which are
 * then seeded in the template: OpenSSL reseeds them in a process whose
 * pid is not theirs before it gives a byte, so that no two forks draw the
 * same (test_warm checks it).  0, or -EIO when OpenSSL refused (the
 * forks then do it themselves, as an exec'd worker does).
 */
int registry_warm(void);

#endif
