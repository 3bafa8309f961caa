/*
 * emit: the daemon's events (events/event.h) into the store's spool, to
 * the connections that follow them (`rotactl events --follow`), and on to
 * the sinks.
 *
 * An event is spooled in the transaction of the caller when one is open
 * (the store nests it), else in its own; its seq is the spool's id, which
 * only grows, across restarts too.  Spooling never fails silently: an
 * event the store refuses is logged (ROTAD-0030) with its name.
 */
#ifndef ROTAD_EMIT_H
#define ROTAD_EMIT_H

#include <stdbool.h>

#include "event.h"

struct daemon;
struct run;
struct control_conn;

/* Once, at start: the host name events carry. */
void emit_init(struct daemon *d);

/* Spool EV (its time and host are set here), tell the followers, kick the
 * sinks.  0 or -errno (logged). */
int emit(struct daemon *d, struct event *ev);

/* An event NAME about run R: its id, attempt, user, resource, provider
 * and trigger filled in; MSG (may be NULL) made valid UTF-8. */
void emit_run(struct run *r, enum event_name name, const char *msg);

/* A new event NAME with every field absent, for the caller to fill. */
void emit_new(struct daemon *d, struct event *ev, enum event_name name);

/*
 * C follows the events (of USER, if not NULL) spooled from now on, until
 * it closes (emit_unfollow); they are kept back until emit_follow_from()
 * tells where its backlog, read off the loop meanwhile, ends.
 */
void emit_follow(struct daemon *d, struct control_conn *c, const char *user);

/* C's backlog, BACKLOG (a JSON array of events with their "seq", oldest
 * first, stolen): it goes out, then what C was kept back that is after
 * its last, then each event as spooled. */
void emit_follow_from(
    struct daemon *d, struct control_conn *c, json_t *backlog);

/*
 * The caller's transaction (d->in_tx) has ended: COMMITTED, the events
 * spooled in it go to the followers and the sinks are kicked; else they
 * were rolled back with it and are forgotten, never shown.
 */
void emit_tx_end(struct daemon *d, bool committed);
void emit_unfollow(struct daemon *d, struct control_conn *c);

#endif
