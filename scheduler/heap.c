/*
 * heap.c: binary min-heap with back-pointers, so that a node can be found
 * and moved without a search.
 */
#include <errno.h>
#include <stdlib.h>

#include "heap.h"

void
heap_node_init(struct heap_node *n)
{
	n->key = 0;
	n->index = HEAP_NONE;
}

static void
place(struct heap *h, size_t i, struct heap_node *n)
{
	h->v[i] = n;
	n->index = i;
}

static void
sift_up(struct heap *h, size_t i)
{
	struct heap_node *n = h->v[i];

	while (i > 0 && h->v[(i - 1) / 2]->key > n->key) {
		place(h, i, h->v[(i - 1) / 2]);
		i = (i - 1) / 2;
	}
	place(h, i, n);
}

static void
sift_down(struct heap *h, size_t i)
{
	struct heap_node *n = h->v[i];
	size_t c;

	for (;;) {
		c = 2 * i + 1;
		if (c >= h->n)
			break;
		if (c + 1 < h->n && h->v[c + 1]->key < h->v[c]->key)
			c++;
		if (h->v[c]->key >= n->key)
			break;
		place(h, i, h->v[c]);
		i = c;
	}
	place(h, i, n);
}

int
heap_insert(struct heap *h, struct heap_node *n)
{
	if (h->n == h->cap) {
		size_t cap = h->cap == 0 ? 64 : h->cap * 2;
		struct heap_node **v = realloc(h->v, cap * sizeof(*v));

		if (v == NULL)
			return -ENOMEM;
		h->v = v;
		h->cap = cap;
	}
	place(h, h->n++, n);
	sift_up(h, n->index);
	return 0;
}

void
heap_remove(struct heap *h, struct heap_node *n)
{
	size_t i = n->index;
	struct heap_node *last;

	if (i == HEAP_NONE || i >= h->n || h->v[i] != n)
		return;
	last = h->v[--h->n];
	n->index = HEAP_NONE;
	if (last == n)
		return;
	place(h, i, last);
	sift_up(h, i);
	sift_down(h, last->index);
}

void
heap_update(struct heap *h, struct heap_node *n, int64_t key)
{
	int64_t old = n->key;

	n->key = key;
	if (n->index == HEAP_NONE)
		return;
	if (key < old)
		sift_up(h, n->index);
	else
		sift_down(h, n->index);
}

struct heap_node *
heap_top(const struct heap *h)
{
	return h->n > 0 ? h->v[0] : NULL;
}

void
heap_free(struct heap *h)
{
	size_t i;

	for (i = 0; i < h->n; i++)
		h->v[i]->index = HEAP_NONE;
	free(h->v);
	h->v = NULL;
	h->n = h->cap = 0;
}
