/*
 * yamldoc.c: a YAML document composed from libyaml's events, the tree
 * yaml_parser_load() makes, in memory the loader keeps from one file to
 * the next.
 *
 * libyaml's composer allocates for every node (its tag, a copy of the
 * default tag even when none is written; each collection's stack of
 * children) and yaml_document_delete() frees it all again, one call at
 * a time: at 100k users, a tenth of `rotad -n`'s time.  Here the nodes
 * go in one array and the rest in one arena, both reused, and the same
 * tree comes out: the nodes in document order (a collection before its
 * children), their marks, a scalar's text, length and style, a
 * collection's children in order and its style, an alias as the index of
 * its anchor's node.  The composer's errors are libyaml 0.2.5's, in its
 * words and at its marks (parser->problem, ->context and their marks).
 * Tags are not kept (node->tag is NULL; nothing reads them), and such a
 * document is never given to yaml_document_delete().
 */
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "jobs-internal.h"
#include "xalloc.h"

#define ARENA_BLOCK (64 * 1024)

/* A piece of the arena: BLOCK bytes, or one large request on its own. */
struct yamldoc_block {
	struct yamldoc_block *next;
	size_t used, size;
	max_align_t data[];
};

/* An open collection: its node, and where its children start in kids. */
struct yamldoc_open {
	int index;
	size_t base;
};

struct yamldoc_anchor {
	const char *name; /* in the arena */
	int index;
	yaml_mark_t mark;
};

/* N bytes of the arena, aligned for the children arrays. */
static void *
arena_alloc(struct yamldoc *d, size_t n)
{
	struct yamldoc_block *b = d->blocks;
	size_t size;

	n = (n + 7) & ~(size_t)7;
	if (b == NULL || b->size - b->used < n) {
		size = n > ARENA_BLOCK / 4 ? n : ARENA_BLOCK;
		b = xmalloc(sizeof(*b) + size);
		b->size = size;
		b->used = 0;
		/* A block with room left stays first; a large request's own
		 * block goes behind it. */
		if (size == ARENA_BLOCK || d->blocks == NULL) {
			b->next = d->blocks;
			d->blocks = b;
		} else {
			b->next = d->blocks->next;
			d->blocks->next = b;
		}
	}
	b->used += n;
	return (char *)b->data + b->used - n;
}

/* Forget the document, keeping the memory of one block for the next. */
static void
reset(struct yamldoc *d)
{
	struct yamldoc_block *b, *next;

	if (d->blocks != NULL) {
		for (b = d->blocks->next; b != NULL; b = next) {
			next = b->next;
			free(b);
		}
		d->blocks->next = NULL;
		d->blocks->used = 0;
	}
	d->doc.nodes.top = d->doc.nodes.start;
	d->nopen = d->nkids = d->nanchors = 0;
	memset(&d->doc.start_mark, 0, sizeof(d->doc.start_mark));
	memset(&d->doc.end_mark, 0, sizeof(d->doc.end_mark));
}

void
yamldoc_free(struct yamldoc *d)
{
	reset(d);
	free(d->blocks);
	free(d->doc.nodes.start);
	free(d->open);
	free(d->kids);
	free(d->anchors);
	memset(d, 0, sizeof(*d));
}

/* A composer error, as libyaml sets it: CONTEXT NULL leaves the parser's
 * context as it was. */
static int
composer_error(yaml_parser_t *parser, const char *context,
    yaml_mark_t context_mark, const char *problem, yaml_mark_t problem_mark)
{
	parser->error = YAML_COMPOSER_ERROR;
	if (context != NULL) {
		parser->context = context;
		parser->context_mark = context_mark;
	}
	parser->problem = problem;
	parser->problem_mark = problem_mark;
	return 0;
}

/* Add NODE to the document, its index in *RET; 0 on a composer error. */
static int
add_node(struct yamldoc *d, yaml_parser_t *parser, const yaml_node_t *node,
    const yaml_char_t *anchor, int *ret)
{
	yaml_node_t *n;
	size_t count = (size_t)(d->doc.nodes.top - d->doc.nodes.start), i, len;

	if (count == d->nodes_cap) {
		d->nodes_cap = count == 0 ? 256 : count * 2;
		d->doc.nodes.start =
		    xreallocarray(d->doc.nodes.start, d->nodes_cap, sizeof(*n));
		d->doc.nodes.top = d->doc.nodes.start + count;
		d->doc.nodes.end = d->doc.nodes.start + d->nodes_cap;
	}
	n = d->doc.nodes.top++;
	*n = *node;
	*ret = (int)(count + 1);
	if (anchor == NULL)
		return 1;
	for (i = 0; i < d->nanchors; i++)
		if (strcmp(d->anchors[i].name, (const char *)anchor) == 0)
			return composer_error(parser,
			    "found duplicate anchor; first occurrence",
			    d->anchors[i].mark, "second occurrence",
			    n->start_mark);
	if (d->nanchors == d->anchors_cap) {
		d->anchors_cap = d->anchors_cap == 0 ? 16 : d->anchors_cap * 2;
		d->anchors = xreallocarray(
		    d->anchors, d->anchors_cap, sizeof(*d->anchors));
	}
	len = strlen((const char *)anchor) + 1;
	d->anchors[d->nanchors++] =
	    (struct yamldoc_anchor){ memcpy(arena_alloc(d, len), anchor, len),
		    *ret, n->start_mark };
	return 1;
}

/* Node INDEX is the next child of the innermost open collection, if any. */
static void
add_child(struct yamldoc *d, int index)
{
	if (d->nopen == 0)
		return; /* the root */
	if (d->nkids == d->kids_cap) {
		d->kids_cap *= 2;
		d->kids = xreallocarray(d->kids, d->kids_cap, sizeof(*d->kids));
	}
	d->kids[d->nkids++] = index;
}

static void
open_collection(struct yamldoc *d, int index)
{
	if (d->nopen == d->open_cap) {
		d->open_cap = d->open_cap == 0 ? 16 : d->open_cap * 2;
		d->open = xreallocarray(d->open, d->open_cap, sizeof(*d->open));
	}
	/* kids exists once a collection is open, even an empty one. */
	if (d->kids == NULL) {
		d->kids_cap = 256;
		d->kids = xreallocarray(NULL, d->kids_cap, sizeof(*d->kids));
	}
	d->open[d->nopen++] = (struct yamldoc_open){ index, d->nkids };
}

/* The innermost open collection ends at END: its children move from kids
 * into the arena. */
static void
close_collection(struct yamldoc *d, yaml_mark_t end)
{
	struct yamldoc_open o = d->open[--d->nopen];
	yaml_node_t *n = &d->doc.nodes.start[o.index - 1];
	size_t nkids = d->nkids - o.base, i;
	const int *kids = d->kids + o.base;

	n->end_mark = end;
	if (n->type == YAML_SEQUENCE_NODE) {
		yaml_node_item_t *items =
		    arena_alloc(d, (nkids + 1) * sizeof(*items));

		memcpy(items, kids, nkids * sizeof(*items));
		n->data.sequence.items.start = items;
		n->data.sequence.items.top = n->data.sequence.items.end =
		    items + nkids;
	} else {
		/* The parser gives a mapping's keys and values in turn. */
		yaml_node_pair_t *pairs =
		    arena_alloc(d, (nkids / 2 + 1) * sizeof(*pairs));

		for (i = 0; i + 1 < nkids; i += 2)
			pairs[i / 2] =
			    (yaml_node_pair_t){ kids[i], kids[i + 1] };
		n->data.mapping.pairs.start = pairs;
		n->data.mapping.pairs.top = n->data.mapping.pairs.end =
		    pairs + nkids / 2;
	}
	d->nkids = o.base;
}

/* One event of a document's body; 0 on a composer error. */
static int
compose(struct yamldoc *d, yaml_parser_t *parser, const yaml_event_t *ev)
{
	yaml_node_t node = { .start_mark = ev->start_mark,
		.end_mark = ev->end_mark };
	const yaml_char_t *anchor;
	int index;
	size_t i;

	switch (ev->type) {
	case YAML_ALIAS_EVENT:
		for (i = 0; i < d->nanchors; i++)
			if (strcmp(d->anchors[i].name,
				(const char *)ev->data.alias.anchor) == 0)
				break;
		if (i == d->nanchors)
			return composer_error(parser, NULL, node.start_mark,
			    "found undefined alias", ev->start_mark);
		add_child(d, d->anchors[i].index);
		return 1;
	case YAML_SCALAR_EVENT:
		node.type = YAML_SCALAR_NODE;
		node.data.scalar.length = ev->data.scalar.length;
		node.data.scalar.style = ev->data.scalar.style;
		node.data.scalar.value =
		    arena_alloc(d, ev->data.scalar.length + 1);
		memcpy(node.data.scalar.value, ev->data.scalar.value,
		    ev->data.scalar.length + 1);
		anchor = ev->data.scalar.anchor;
		break;
	case YAML_SEQUENCE_START_EVENT:
		node.type = YAML_SEQUENCE_NODE;
		node.data.sequence.style = ev->data.sequence_start.style;
		anchor = ev->data.sequence_start.anchor;
		break;
	case YAML_MAPPING_START_EVENT:
		node.type = YAML_MAPPING_NODE;
		node.data.mapping.style = ev->data.mapping_start.style;
		anchor = ev->data.mapping_start.anchor;
		break;
	case YAML_SEQUENCE_END_EVENT:
	case YAML_MAPPING_END_EVENT:
		close_collection(d, ev->end_mark);
		return 1;
	default:
		return 1; /* the parser gives nothing else inside a document */
	}
	if (!add_node(d, parser, &node, anchor, &index))
		return 0;
	add_child(d, index);
	if (node.type != YAML_SCALAR_NODE)
		open_collection(d, index);
	return 1;
}

int
yamldoc_load(struct yamldoc *d, yaml_parser_t *parser)
{
	yaml_event_t ev;
	int ok = 1;

	reset(d);
	if (!parser->stream_start_produced) {
		if (!yaml_parser_parse(parser, &ev))
			return 0;
		yaml_event_delete(&ev); /* STREAM-START */
	}
	if (parser->stream_end_produced)
		return 1;
	if (!yaml_parser_parse(parser, &ev))
		return 0;
	if (ev.type == YAML_STREAM_END_EVENT) {
		yaml_event_delete(&ev);
		return 1;
	}
	/* DOCUMENT-START; its directives are not kept. */
	d->doc.start_mark = ev.start_mark;
	d->doc.start_implicit = ev.data.document_start.implicit;
	yaml_event_delete(&ev);
	for (;;) {
		if (!yaml_parser_parse(parser, &ev)) {
			ok = 0;
			break;
		}
		if (ev.type == YAML_DOCUMENT_END_EVENT) {
			d->doc.end_implicit = ev.data.document_end.implicit;
			d->doc.end_mark = ev.end_mark;
			yaml_event_delete(&ev);
			break;
		}
		ok = compose(d, parser, &ev);
		yaml_event_delete(&ev);
		if (!ok)
			break;
	}
	if (!ok)
		reset(d); /* as libyaml: no document after an error */
	return ok;
}
