/*
 * heap: a binary min-heap of nodes embedded in the caller's structs, keyed
 * by an instant, with O(log n) insert, remove and re-key.  The scheduler
 * keeps every user's next fire in one, and arms one timer for the top.
 */
#ifndef ROTAD_HEAP_H
#define ROTAD_HEAP_H

#include <stddef.h>
#include <stdint.h>

#define HEAP_NONE ((size_t)-1)

struct heap_node {
	int64_t key;
	size_t index; /* position in the heap, HEAP_NONE when out of it */
};

struct heap {
	struct heap_node **v;
	size_t n, cap;
};

/* Node N starts out of any heap. */
void heap_node_init(struct heap_node *n);
/* -ENOMEM, or 0.  N must not be in a heap. */
int heap_insert(struct heap *h, struct heap_node *n);
/* No-op when N is not in the heap. */
void heap_remove(struct heap *h, struct heap_node *n);
/* Change N's key in place (N must be in the heap). */
void heap_update(struct heap *h, struct heap_node *n, int64_t key);
/* The smallest key's node, or NULL. */
struct heap_node *heap_top(const struct heap *h);
void heap_free(struct heap *h);

#endif
