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

#endif
