/*
 * Unit tests of the retry backoff: the cap, full jitter, no overflow.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "backoff.h"

/* A "random" source that records the bound and returns a fixed pick. */
struct fake {
	uint64_t last_bound;
	int pick; /* 0: lowest, 1: highest */
};

static uint64_t
fake_rand(void *arg, uint64_t bound)
{
	struct fake *f = arg;

	f->last_bound = bound;
	return f->pick ? bound - 1 : 0;
}

static void
test_cap_doubles_then_stops(void **state)
{
	/* retry: {initial: 30s, max: 1h}, the default */
	assert_int_equal(backoff_cap(30, 3600, 1), 30);
	assert_int_equal(backoff_cap(30, 3600, 2), 60);
	assert_int_equal(backoff_cap(30, 3600, 3), 120);
	assert_int_equal(backoff_cap(30, 3600, 7), 1920);
	assert_int_equal(backoff_cap(30, 3600, 8), 3600);
	assert_int_equal(backoff_cap(30, 3600, 9), 3600);
	assert_int_equal(backoff_cap(30, 3600, 1000000), 3600);
	assert_int_equal(backoff_cap(INT64_MAX / 2, INT64_MAX, 64), INT64_MAX);
	assert_int_equal(backoff_cap(100, 10, 1), 10);
	assert_int_equal(backoff_cap(30, 3600, 0), 30);
}

static void
test_full_jitter_range(void **state)
{
	struct fake f = { 0, 0 };

	assert_int_equal(backoff_delay(30, 3600, 3, fake_rand, &f), 0);
	assert_int_equal(f.last_bound, 121); /* uniform over [0, 120] */
	f.pick = 1;
	assert_int_equal(backoff_delay(30, 3600, 3, fake_rand, &f), 120);
	assert_int_equal(backoff_delay(30, 3600, 50, fake_rand, &f), 3600);
	assert_int_equal(f.last_bound, 3601);
}

static void
test_crypto_rand_is_in_range_and_spread(void **state)
{
	int counts[10] = { 0 }, i;
	uint64_t v;

	for (i = 0; i < 10000; i++) {
		v = backoff_rand_crypto(NULL, 10);
		assert_true(v < 10);
		counts[v]++;
	}
	/* Each bucket expects 1000; a fair source lands within +-200 with
	 * probability far above 1 - 1e-9. */
	for (i = 0; i < 10; i++)
		assert_in_range(counts[i], 800, 1200);
	assert_int_equal(backoff_rand_crypto(NULL, 1), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cap_doubles_then_stops),
		cmocka_unit_test(test_full_jitter_range),
		cmocka_unit_test(test_crypto_rand_is_in_range_and_spread),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
