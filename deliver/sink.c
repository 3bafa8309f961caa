/*
 * sink.c: a sink's queue, in front of its transport (sink.h).
 *
 *   idle ──submit──> busy (the queue's head at the transport) ──done──>
 *   the head reported and freed; the next one, or idle
 *
 * The transport may report a batch before its send() returns (a
 * configuration it refused fails every batch at once); kick() loops
 * rather than recursing, so a long queue of such batches does not grow
 * the stack.
 */
#include <stdlib.h>
#include <string.h>

#include "secret.h"
#include "sink.h"
#include "transport.h"
#include "xalloc.h"

struct sink {
	struct deliver_msg cfg; /* the SINK message, owned */
	struct transport *t;
	struct batch *head, *tail; /* head: at the transport when busy */
	bool busy;
	bool kicking; /* in kick(): done() must not call it again */
	bool closing;
	sink_result_cb *cb; /* NULL: muted */
	void *arg;
};

static void
batch_free(struct batch *b)
{
	if (b == NULL)
		return;
	free(b->frames);
	free(b);
}

static void
report(struct sink *s, struct batch *b, uint32_t done, const char *error)
{
	if (s->cb != NULL)
		s->cb(s->arg, s->cfg.name, b->token, done, error);
	batch_free(b);
}

/* Hand the queue's head to the transport, as long as it reports them at
 * once. */
static void
kick(struct sink *s)
{
	s->kicking = true;
	while (!s->busy && !s->closing && s->head != NULL) {
		s->busy = true;
		s->t->ops->send(s->t, s->head);
	}
	s->kicking = false;
}

static void
on_done(struct transport *t, uint32_t done, const char *error)
{
	struct sink *s = t->data;
	struct batch *b = s->head;

	s->head = b->next;
	if (s->head == NULL)
		s->tail = NULL;
	s->busy = false;
	report(s, b, done, error);
	if (!s->kicking)
		kick(s);
}

static void
on_closed(struct transport *t)
{
	struct sink *s = t->data;

	/* The transport is gone; the secrets go with the message. */
	deliver_msg_clear(&s->cfg);
	free(s);
}

struct sink *
sink_new(uv_loop_t *loop, struct deliver_msg *m, sink_result_cb *cb, void *arg)
{
	const struct transport_ops *ops = transport_for(m->kind);
	struct sink *s = xcalloc(1, sizeof(*s));

	s->cfg = *m;
	memset(m, 0, sizeof(*m));
	s->cb = cb;
	s->arg = arg;
	/* The decoder let only a known kind through. */
	if (ops == NULL || ops->open(loop, &s->cfg, &s->t) < 0)
		xalloc_fail();
	s->t->ops = ops;
	s->t->loop = loop;
	s->t->cfg = &s->cfg;
	s->t->done = on_done;
	s->t->closed = on_closed;
	s->t->data = s;
	return s;
}

const char *
sink_name(const struct sink *s)
{
	return s->cfg.name;
}

void
sink_submit(struct sink *s, const struct deliver_msg *m)
{
	struct batch *b = xcalloc(1, sizeof(*b));
	uint8_t *p;
	size_t i, total = 0;

	for (i = 0; i < m->nframes; i++)
		total += m->frames[i].len;
	/* The frame table and the bytes in one block. */
	b->frames = xmalloc(m->nframes * sizeof(*b->frames) + total);
	p = (uint8_t *)(b->frames + m->nframes);
	for (i = 0; i < m->nframes; i++) {
		memcpy(p, m->frames[i].data, m->frames[i].len);
		b->frames[i].data = p;
		b->frames[i].len = m->frames[i].len;
		p += m->frames[i].len;
	}
	b->nframes = m->nframes;
	b->token = m->token;
	if (s->tail != NULL)
		s->tail->next = b;
	else
		s->head = b;
	s->tail = b;
	kick(s);
}

void
sink_close(struct sink *s, const char *why)
{
	struct batch *b;

	s->closing = true;
	/* The batch in flight first (the transport reports it at once),
	 * then those it has not seen: results in the batches' order. */
	s->t->ops->close(s->t, why);
	while ((b = s->head) != NULL) {
		s->head = b->next;
		report(s, b, 0, why);
	}
	s->tail = NULL;
}

void
sink_mute(struct sink *s)
{
	s->cb = NULL;
}
