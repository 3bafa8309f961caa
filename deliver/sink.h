/*
 * sink: one named destination of rotad-deliver, with its queue.
 *
 * A sink holds the SINK message that made it (secrets included, wiped
 * when it goes) and one transport instance (transport.h).  Batches queue
 * in arrival order and go to the transport one at a time; each ends in
 * exactly one call of the result callback, in order.  Sinks are
 * independent: one waiting on a dead host holds up no other.
 *
 * Closing a sink (replaced by a SINK of its name, or dropped) reports its
 * batch in flight with what was delivered so far and the reason, and
 * every queued one with 0 and the reason; the sink is freed once its
 * transport has closed its handles.
 */
#ifndef ROTAD_SINK_H
#define ROTAD_SINK_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "deliver.h"

struct sink;

/* A batch's outcome: the sink's name, the batch's token, the frames
 * delivered from the first, and why it stopped short (NULL when it did
 * not). */
typedef void sink_result_cb(void *arg, const char *name, uint64_t token,
    uint32_t done, const char *error);

/*
 * A sink for the SINK message *M, whose members it takes over (*M is
 * zeroed).  Results go to CB(ARG, ...).  Never fails: out of memory ends
 * the process (xalloc.h), and a configuration the transport cannot use
 * fails each batch with the reason.
 */
struct sink *sink_new(
    uv_loop_t *loop, struct deliver_msg *m, sink_result_cb *cb, void *arg);

const char *sink_name(const struct sink *s);

/* Queue the frames of the BATCH message M (copied: M's buffer may go). */
void sink_submit(struct sink *s, const struct deliver_msg *m);

/* Close S (see the top); WHY is the error its batches get.  S must not
 * be used again. */
void sink_close(struct sink *s, const char *why);

/* From now on S's results are dropped (the daemon has gone). */
void sink_mute(struct sink *s);

#endif
