/*
 * waiters.c: the control connections waiting for runs to end (`rotate
 * --wait`), one run each or a group (a user's password and key): one
 * answer each, however the runs end or the daemon stops.
 *
 * The caller takes a waiter off its run's list before it hands it here;
 * this file takes it off its group's.  Once a request is answered none of
 * its waiters is left anywhere: the connection is no longer busy then, so
 * control.c would not tell the daemon when it closes, and a waiter left
 * on a run still in flight would write that run's progress to a freed
 * connection, or under the connection's next request.
 */
#include <stdlib.h>
#include <string.h>

#include "daemon-internal.h"
#include "xalloc.h"

struct wait_group *
waiters_group(size_t n)
{
	struct wait_group *g;

	if (n < 2)
		return NULL;
	g = xcalloc(1, sizeof(*g));
	g->runs = json_array();
	LIST_INIT(&g->members);
	return g;
}

void
waiters_add(struct run *r, struct control_conn *c, struct wait_group *g)
{
	struct waiter *w = xcalloc(1, sizeof(*w));

	w->conn = c;
	w->group = g;
	LIST_INSERT_HEAD(&r->waiters, w, link);
	if (g != NULL) {
		LIST_INSERT_HEAD(&g->members, w, glink);
		g->left++;
	}
}

/* W, off its run's list, goes: off its group's too, and the group with
 * its last waiter. */
static void
waiter_free(struct waiter *w)
{
	struct wait_group *g = w->group;

	if (g != NULL)
		LIST_REMOVE(w, glink);
	free(w);
	if (g == NULL || --g->left > 0)
		return;
	json_decref(g->runs);
	free(g);
}

void
waiters_done(struct waiter *w, json_t *run)
{
	struct wait_group *g = w->group;
	const char *state;

	if (g == NULL) {
		control_reply(w->conn, json_pack("{s:o}", "run", run));
		waiter_free(w);
		return;
	}
	json_array_append_new(g->runs, run);
	state = json_string_value(json_object_get(run, "state"));
	if (g->worst == NULL && state != NULL &&
	    strcmp(state, "committed") != 0 && strcmp(state, "verified") != 0)
		g->worst = run;
	/* The answer shows the run that decides how the command went: the
	 * first that did not succeed, else the last; and all of them. */
	if (g->left == 1)
		control_reply(w->conn,
		    json_pack("{s:O, s:O}", "run",
			g->worst != NULL ? g->worst : run, "runs", g->runs));
	waiter_free(w);
}

void
waiters_error(struct waiter *w, const char *msg)
{
	struct wait_group *g = w->group;
	struct waiter *m, *tmp;

	control_error(w->conn, "unavailable", "%s", msg);
	/* The request is answered: the group's other runs, still queued or
	 * in flight, must not reach its connection any more.  W keeps the
	 * group alive until it goes last. */
	if (g != NULL) {
		LIST_FOREACH_SAFE(m, &g->members, glink, tmp)
		{
			if (m == w)
				continue;
			LIST_REMOVE(m, link);
			waiter_free(m);
		}
	}
	waiter_free(w);
}

void
waiters_drop(struct waiter *w)
{
	waiter_free(w);
}
