/*
 * Unit tests of the scheduler's hash tables (table.h): random inserts and
 * removals checked against a plain array -- every entry present is found
 * in its slot, every one removed is gone -- in tables small enough that
 * probe runs collide and wrap around the end.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

#include "table.h"

#define N 3000

struct entry {
	char key[16];
	int in;
};

static const char *
key_of(const void *p)
{
	return ((const struct entry *)p)->key;
}

/* Every entry in: found; every other: its slot is empty.  And the table
 * holds exactly the entries in. */
static void
check(void **t, size_t cap, struct entry *e, size_t ne, size_t n)
{
	size_t i, seen = 0;

	for (i = 0; i < ne; i++) {
		void *got = t[table_slot(t, cap, e[i].key, key_of)];

		if (e[i].in)
			assert_ptr_equal(got, &e[i]);
		else
			assert_null(got);
	}
	for (i = 0; i < cap; i++)
		seen += t[i] != NULL;
	assert_int_equal(seen, n);
}

static void
churn(size_t ne, size_t rounds)
{
	struct entry *e = calloc(ne, sizeof(*e));
	void **t = NULL;
	size_t cap = 0, n = 0, i, k, s;

	assert_non_null(e);
	for (i = 0; i < ne; i++)
		snprintf(e[i].key, sizeof(e[i].key), "k%zx", i * 7919);
	for (k = 0; k < rounds; k++) {
		i = (size_t)rand() % ne;
		if (!e[i].in) {
			table_grow(&t, &cap, n, key_of);
			s = table_slot(t, cap, e[i].key, key_of);
			assert_null(t[s]);
			t[s] = &e[i];
			e[i].in = 1;
			n++;
		} else {
			s = table_slot(t, cap, e[i].key, key_of);
			assert_ptr_equal(t[s], &e[i]);
			table_remove(t, cap, s, key_of);
			e[i].in = 0;
			n--;
		}
		assert_true(2 * n <= cap);
		if (k % 97 == 0)
			check(t, cap, e, ne, n);
	}
	check(t, cap, e, ne, n);
	/* Empty it: removal leaves nothing behind. */
	for (i = 0; i < ne; i++)
		if (e[i].in) {
			s = table_slot(t, cap, e[i].key, key_of);
			table_remove(t, cap, s, key_of);
			e[i].in = 0;
		}
	check(t, cap, e, ne, 0);
	free(t);
	free(e);
}

/* 40 keys in a table of 64 at most half full: long runs, wrap-around. */
static void
test_small(void **state)
{
	(void)state;
	srand(1);
	churn(40, 20000);
}

static void
test_large(void **state)
{
	(void)state;
	srand(2);
	churn(N, 20 * N);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_small),
		cmocka_unit_test(test_large),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
