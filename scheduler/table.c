/*
 * table.c: open-addressing hash tables (table.h).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "table.h"
#include "xalloc.h"

static uint64_t
hash(const char *s)
{
	uint64_t h = 1469598103934665603ull;

	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

size_t
table_slot(void *const *t, size_t cap, const char *key, table_key_fn *kf)
{
	size_t i = hash(key) & (cap - 1);

	while (t[i] != NULL && strcmp(kf(t[i]), key) != 0)
		i = (i + 1) & (cap - 1);
	return i;
}

void
table_grow(void ***t, size_t *cap, size_t n, table_key_fn *kf)
{
	void **old = *t, **nt;
	size_t oldcap = *cap, ncap, i;

	if ((n + 1) * 2 <= oldcap)
		return;
	ncap = oldcap == 0 ? 64 : oldcap * 2;
	nt = xcalloc(ncap, sizeof(*nt));
	for (i = 0; i < oldcap; i++)
		if (old[i] != NULL)
			nt[table_slot(nt, ncap, kf(old[i]), kf)] = old[i];
	free(old);
	*t = nt;
	*cap = ncap;
}

/*
 * Knuth's algorithm R: each entry after the gap, up to the next empty
 * slot, moves back into the gap unless its home slot lies cyclically in
 * (gap, entry] -- a lookup from its home would not pass the gap.
 */
void
table_remove(void **t, size_t cap, size_t i, table_key_fn *kf)
{
	size_t mask = cap - 1, j = i, home;

	t[i] = NULL;
	for (;;) {
		j = (j + 1) & mask;
		if (t[j] == NULL)
			return;
		home = hash(kf(t[j])) & mask;
		if (i < j ? i < home && home <= j : i < home || home <= j)
			continue;
		t[i] = t[j];
		t[j] = NULL;
		i = j;
	}
}
