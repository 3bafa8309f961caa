/*
 * waiters.c: the control connections waiting for runs to end (`rotate
 * --wait`), one run each or a group (a user's password and key): one
 * answer each, however the runs end or the daemon stops.
 */
#include <stdlib.h>
#include <string.h>

#include "daemon-internal.h"

/* The last waiter of group G is gone: free it. */
static void
group_put(struct wait_group *g)
{
	if (--g->left > 0)
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
		free(w);
		return;
	}
	json_array_append_new(g->runs, run);
	state = json_string_value(json_object_get(run, "state"));
	if (g->worst == NULL && state != NULL &&
	    strcmp(state, "committed") != 0 && strcmp(state, "verified") != 0)
		g->worst = run;
	/* The answer shows the run that decides how the command went: the
	 * first that did not succeed, else the last; and all of them. */
	if (g->left == 1 && !g->answered)
		control_reply(w->conn,
		    json_pack("{s:O, s:O}", "run",
			g->worst != NULL ? g->worst : run, "runs", g->runs));
	free(w);
	group_put(g);
}

void
waiters_error(struct waiter *w, const char *msg)
{
	struct wait_group *g = w->group;

	if (g == NULL || !g->answered)
		control_error(w->conn, "unavailable", "%s", msg);
	if (g != NULL) {
		g->answered = true;
		group_put(g);
	}
	free(w);
}

void
waiters_drop(struct waiter *w)
{
	if (w->group != NULL)
		group_put(w->group);
	free(w);
}
