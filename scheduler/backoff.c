/*
 * backoff.c: exponential backoff with full jitter.
 */
#include <openssl/rand.h>

#include "backoff.h"

int64_t
backoff_cap(int64_t initial, int64_t max, int attempt)
{
	int64_t cap = initial;
	int i;

	if (attempt < 1 || initial <= 0)
		return initial < max ? initial : max;
	/* Doubling stops as soon as the cap reaches max: no overflow. */
	for (i = 1; i < attempt && cap < max; i++)
		cap = cap > max / 2 ? max : cap * 2;
	return cap < max ? cap : max;
}

int64_t
backoff_delay(
    int64_t initial, int64_t max, int attempt, backoff_rand_fn *rnd, void *arg)
{
	int64_t cap = backoff_cap(initial, max, attempt);

	if (cap <= 0)
		return 0;
	return (int64_t)rnd(arg, (uint64_t)cap + 1);
}

uint64_t
backoff_rand_crypto(void *arg, uint64_t bound)
{
	uint64_t v, limit;

	(void)arg;
	if (bound <= 1)
		return 0;
	/* Reject the top sliver that would bias v % bound. */
	limit = UINT64_MAX - UINT64_MAX % bound;
	do {
		if (RAND_bytes((unsigned char *)&v, sizeof(v)) != 1)
			return 0; /* no randomness: retry at once, not never */
	} while (v >= limit);
	return v % bound;
}
