/*
 * Unit tests of the scheduler's min-heap: order under random inserts,
 * removals and re-keys, checked against a brute-force minimum.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "heap.h"

#define N 2000

static void
check_invariant(const struct heap *h)
{
	size_t i;

	for (i = 0; i < h->n; i++) {
		assert_int_equal(h->v[i]->index, i);
		if (i > 0)
			assert_true(h->v[(i - 1) / 2]->key <= h->v[i]->key);
	}
}

static void
test_random_operations(void **state)
{
	static struct heap_node nodes[N];
	struct heap h = { 0 };
	struct heap_node *top;
	int64_t min;
	size_t i, k;

	srand(12345);
	for (i = 0; i < N; i++) {
		heap_node_init(&nodes[i]);
		nodes[i].key = rand() % 100000;
		assert_int_equal(heap_insert(&h, &nodes[i]), 0);
	}
	check_invariant(&h);
	for (k = 0; k < 5 * N; k++) {
		i = (size_t)rand() % N;
		switch (rand() % 3) {
		case 0:
			heap_remove(&h, &nodes[i]);
			heap_remove(&h, &nodes[i]); /* twice is harmless */
			assert_int_equal(nodes[i].index, HEAP_NONE);
			break;
		case 1:
			if (nodes[i].index == HEAP_NONE)
				assert_int_equal(heap_insert(&h, &nodes[i]), 0);
			break;
		default:
			heap_update(&h, &nodes[i], rand() % 100000);
			break;
		}
		if (k % 97 == 0)
			check_invariant(&h);
		top = heap_top(&h);
		min = INT64_MAX;
		for (i = 0; i < N; i++)
			if (nodes[i].index != HEAP_NONE && nodes[i].key < min)
				min = nodes[i].key;
		if (top == NULL)
			assert_int_equal(min, INT64_MAX);
		else
			assert_int_equal(top->key, min);
	}
	heap_free(&h);
	for (i = 0; i < N; i++)
		assert_int_equal(nodes[i].index, HEAP_NONE);
}

static void
test_empty(void **state)
{
	struct heap h = { 0 };
	struct heap_node n;

	heap_node_init(&n);
	assert_null(heap_top(&h));
	heap_remove(&h, &n);
	assert_int_equal(heap_insert(&h, &n), 0);
	assert_ptr_equal(heap_top(&h), &n);
	heap_remove(&h, &n);
	assert_null(heap_top(&h));
	heap_free(&h);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_random_operations),
		cmocka_unit_test(test_empty),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
