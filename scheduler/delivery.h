/*
 * delivery: the daemon's side of rotad-deliver, the process that takes
 * the network sinks' events to the network (proto/deliver.h says why it
 * is a process of its own and what crosses).
 *
 * One rotad-deliver for all network sinks, started on the first batch
 * (not before: a daemon with local sinks only never starts it), as
 * `rotad-deliver --user USER` (the workers' user: it switches to it
 * itself, as a worker does), with an empty environment, its fd 0 a Unix
 * stream socket to the daemon and its stderr the daemon's.  The daemon
 * sends each sink's settings (SINK: what it read of the sink's CA,
 * certificate, key and token files; rotad-deliver opens no file), then
 * batches; each batch's RESULT comes back through the callback.
 *
 * If rotad-deliver exits (killed, a bug, a malformed message), every
 * batch in flight is answered "rotad-deliver exited" (nothing delivered,
 * as far as the daemon knows: the sinks send them again, at least once),
 * and the next batch starts a new one, at most one start a second, which
 * gets every sink's settings again first.
 *
 * Functions return 0 or a negative errno and log nothing but
 * rotad-deliver's exits.
 */
#ifndef ROTAD_DELIVERY_H
#define ROTAD_DELIVERY_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "deliver.h"

struct delivery;
struct job_sink;
struct secret;

/*
 * A batch's answer: DONE of its frames delivered, from the first, and
 * ERROR (NULL when all were; the delivery process's text otherwise,
 * valid during the call).
 */
typedef void delivery_cb(void *arg, const char *name, uint64_t token,
    uint32_t done, const char *error);

/* PATH: rotad-deliver; USER: what it runs as (NULL: the default worker
 * user).  Both copied.  Starts nothing yet. */
int delivery_new(uv_loop_t *loop, const char *path, const char *user,
    delivery_cb *cb, void *arg, struct delivery **ret);

/*
 * K's settings as a SINK message into *RET (a struct secret: it holds the
 * key and the token), reading its files.  0, -ENOMEM, or the -errno of a
 * file that cannot be read, with WHY (SIZE bytes) naming it.
 */
int delivery_sink_message(
    const struct job_sink *k, struct secret **ret, char *why, size_t size);

/*
 * Open the sink NAME with MSG (from delivery_sink_message(); taken, also
 * on error), or replace its settings.  Kept: a new rotad-deliver gets it
 * again.
 */
int delivery_open(struct delivery *d, const char *name, struct secret *msg);

/* Close the sink NAME (an answer to its batch in flight is dropped). */
void delivery_drop(struct delivery *d, const char *name);

/*
 * Send N frames of the sink NAME (opened) under TOKEN.  The callback is
 * called once for it, later, whatever happens (0 returned); -EAGAIN when
 * rotad-deliver is down and was started less than a second ago (try
 * later), -ENOENT for a sink not opened, or the -errno of a start.
 */
int delivery_batch(struct delivery *d, const char *name, uint64_t token,
    const struct deliver_frame *frames, size_t n);

/* The process's pid, 0 when none runs (tests). */
int delivery_pid(const struct delivery *d);

/* Stop rotad-deliver and free everything (the handles are closed by the
 * loop: run it once more).  No callback is called after.  NULL-safe. */
void delivery_close(struct delivery *d);

#endif
