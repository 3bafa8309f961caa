/*
 * backoff: when to try again, as pure functions.
 *
 * The clock and the random source are the caller's, so tests never sleep
 * and never depend on luck.
 */
#ifndef ROTAD_BACKOFF_H
#define ROTAD_BACKOFF_H

#include <stdint.h>

/* A uniformly random integer in [0, bound), bound > 0. */
typedef uint64_t backoff_rand_fn(void *arg, uint64_t bound);

/*
 * The delay before retry number ATTEMPT (1 for the first retry), with
 * "full jitter": uniform in [0, min(MAX, INITIAL * 2^(ATTEMPT-1))], in
 * seconds.  Full jitter spreads retries of many runs that failed together
 * (one target went down) instead of bringing them back in lockstep.  The
 * cap is computed without overflow for any attempt number.
 */
int64_t backoff_delay(
    int64_t initial, int64_t max, int attempt, backoff_rand_fn *rnd, void *arg);

/* The cap itself, min(MAX, INITIAL * 2^(ATTEMPT-1)). */
int64_t backoff_cap(int64_t initial, int64_t max, int attempt);

/* A backoff_rand_fn drawing from OpenSSL's CSPRNG, unbiased. */
uint64_t backoff_rand_crypto(void *arg, uint64_t bound);

#endif
