/*
 * table: open-addressing hash tables of pointers keyed by a string each
 * entry holds (FNV-1a, linear probing, at most half full).  The caller
 * owns the array and the entries; KEY reads an entry's key.  The daemon
 * keeps its users and resources by name and its runs by id in them
 * (users.c).  Part of the daemon's bookkeeping: table_grow() allocates
 * through xalloc.h, which ends the process on failure.
 */
#ifndef ROTAD_TABLE_H
#define ROTAD_TABLE_H

#include <stddef.h>

typedef const char *table_key_fn(const void *entry);

/* The slot of KEY in T (CAP a power of two, T not full): the entry whose
 * key it is, or the empty slot where it would go. */
size_t table_slot(
    void *const *t, size_t cap, const char *key, table_key_fn *kf);
/* Make room for an (N+1)th entry: doubles *CAP (64 at first) and rehashes
 * when N+1 would fill more than half. */
void table_grow(void ***t, size_t *cap, size_t n, table_key_fn *kf);
/* Empty slot I, keeping every other entry reachable (no tombstones). */
void table_remove(void **t, size_t cap, size_t i, table_key_fn *kf);

#endif
