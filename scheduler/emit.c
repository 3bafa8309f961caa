/*
 * emit.c: events spooled, followed and sent on (see emit.h).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include <jansson.h>

#include "catalog.h"
#include "daemon-internal.h"
#include "emit.h"
#include "log.h"
#include "sinks.h"
#include "utf8.h"
#include "xalloc.h"

/* A connection following the events, with its user filter. */
struct follower {
	struct control_conn *conn;
	char *user; /* NULL: every event */
	/* Until its backlog is read (emit_follow_from()): the events
	 * spooled since it asked, kept back in order. */
	bool catching_up;
	json_t *kept;
	LIST_ENTRY(follower) link;
};

static int64_t
now_ms(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

void
emit_init(struct daemon *d)
{
	char h[256];
	size_t i;

	if (gethostname(h, sizeof(h)) < 0 || h[0] == '\0')
		snprintf(h, sizeof(h), "localhost");
	h[sizeof(h) - 1] = '\0';
	/* RFC 5424's HOSTNAME: printable US-ASCII, no space. */
	for (i = 0; h[i] != '\0'; i++)
		if (h[i] <= ' ' || h[i] > '~')
			h[i] = '-';
	snprintf(d->hostname, sizeof(d->hostname), "%s", h);
	LIST_INIT(&d->followers);
}

void
emit_new(struct daemon *d, struct event *ev, enum event_name name)
{
	event_init(ev, name, now_ms(), d->hostname);
}

/* An event spooled in a transaction not yet committed: followers must
 * not see what a rollback could take back. */
struct held_event {
	int64_t seq;
	char *user; /* NULL: none */
	char *json;
};

/* The followers of the event SEQ of USER (JSON) get it as a progress
 * line. */
static void
follow_now(
    struct daemon *d, int64_t seq, const char *user, const char *json)
{
	struct follower *f;
	json_t *o;

	LIST_FOREACH(f, &d->followers, link)
	{
		if (f->user != NULL &&
		    (user == NULL || strcmp(user, f->user) != 0))
			continue;
		o = json_loads(json, 0, NULL);
		if (o == NULL)
			continue;
		json_object_set_new(o, "seq", json_integer(seq));
		if (f->catching_up)
			json_array_append_new(f->kept, o);
		else
			control_progress(
			    f->conn, json_pack("{s:o}", "event", o));
	}
}

static void
follow(struct daemon *d, const struct event *ev, const char *json)
{
	struct held_event *h;

	if (LIST_EMPTY(&d->followers))
		return;
	if (!d->in_tx) {
		follow_now(d, ev->seq, ev->user, json);
		return;
	}
	d->held = xreallocarray(d->held, d->nheld + 1, sizeof(*d->held));
	h = &d->held[d->nheld++];
	h->seq = ev->seq;
	h->user = ev->user != NULL ? xstrdup(ev->user) : NULL;
	h->json = xstrdup(json);
}

void
emit_tx_end(struct daemon *d, bool committed)
{
	size_t i;

	for (i = 0; i < d->nheld; i++) {
		if (committed)
			follow_now(d, d->held[i].seq, d->held[i].user,
			    d->held[i].json);
		free(d->held[i].user);
		free(d->held[i].json);
	}
	free(d->held);
	d->held = NULL;
	d->nheld = 0;
	if (committed && d->sinks != NULL)
		sinks_kick(d->sinks);
}

int
emit(struct daemon *d, struct event *ev)
{
	const char *why = NULL;
	char *json = NULL;
	int64_t id = 0;
	int rc;

	ev->host = d->hostname;
	if (ev->time == 0)
		ev->time = now_ms();
	rc = event_check(ev, &why);
	if (rc == 0)
		rc = event_encode_json(ev, &json);
	if (rc < 0) {
		log_msg(LOG_ERR, MSG_INTERNAL, "event %s not spooled: %s",
		    event_name_to_string(ev->name),
		    why != NULL ? why : strerror(-rc));
		return rc;
	}
	rc =
	    store_event_put(d->store, ev->time / 1000, json, strlen(json), &id);
	if (rc < 0) {
		log_msg(LOG_ERR, MSG_STORE, "event %s not spooled: %s",
		    event_name_to_string(ev->name), store_last_error(d->store));
		free(json);
		return rc;
	}
	ev->seq = id;
	d->events_spooled++;
	follow(d, ev, json);
	free(json);
	if (d->sinks != NULL) {
		int64_t dropped = 0;

		/* The spool's bound: the oldest go, and that is an event. */
		if (ev->name != EVENT_EVENTS_DROPPED &&
		    sinks_bound(d->sinks, id, &dropped) == 0 && dropped > 0) {
			struct event de;
			char msg[96];

			d->events_dropped += (uint64_t)dropped;
			log_msg(LOG_ERR, MSG_STORE,
			    "event spool over events.spool_max: the oldest "
			    "%" PRId64 " dropped",
			    dropped);
			emit_new(d, &de, EVENT_EVENTS_DROPPED);
			de.count = dropped;
			snprintf(msg, sizeof(msg),
			    "the spool is over events.spool_max: %" PRId64
			    " oldest events dropped",
			    dropped);
			de.message = msg;
			(void)emit(d, &de);
		}
		/* Inside a caller's transaction the caller kicks them once
		 * it has committed. */
		if (!d->in_tx)
			sinks_kick(d->sinks);
	}
	return 0;
}

/* MSG as valid UTF-8 (each bad byte a '?'), at most EVENT_MESSAGE_MAX
 * bytes, cut on a character, into BUF. */
static const char *
clean(const char *msg, char *buf, size_t size)
{
	size_t i = 0, o = 0, n, len;

	if (msg == NULL || msg[0] == '\0')
		return NULL;
	len = strlen(msg);
	while (i < len && o + 4 < size) {
		n = utf8_seq(msg + i, len - i);
		if (n == 0 || msg[i] == '\0') {
			buf[o++] = '?';
			i++;
			continue;
		}
		memcpy(buf + o, msg + i, n);
		o += n;
		i += n;
	}
	buf[o] = '\0';
	return buf;
}

void
emit_run(struct run *r, enum event_name name, const char *msg)
{
	const struct job_user *u = r->user;
	char text[EVENT_MESSAGE_MAX / 4];
	struct event ev;
	unsigned allowed = event_fields(name, NULL);

	emit_new(r->d, &ev, name);
	if (allowed & EVENT_F_RUN_ID)
		ev.run_id = r->rec.id;
	if (allowed & EVENT_F_ATTEMPT)
		ev.attempt = r->rec.attempts > 0 ? r->rec.attempts : 1;
	if (allowed & EVENT_F_USER)
		ev.user = r->us->name;
	if ((allowed & EVENT_F_RESOURCE) && u->resource != NULL)
		ev.resource = u->resource->name;
	if ((allowed & EVENT_F_PROVIDER) && u->resource != NULL)
		ev.provider = u->resource->provider->name;
	if (allowed & EVENT_F_TRIGGER)
		ev.trigger = r->trigger;
	if (allowed & EVENT_F_ALERT_ID)
		ev.alert_id = r->alert_id[0] != '\0' ? r->alert_id : NULL;
	if (allowed & EVENT_F_MESSAGE)
		ev.message = clean(msg, text, sizeof(text));
	if ((allowed & EVENT_F_ERROR_CLASS) &&
	    r->rec.error_class != STORE_ERROR_NONE)
		ev.error_class = store_error_class_name(r->rec.error_class);
	if (allowed & EVENT_F_DURATION)
		ev.duration_ms = (now_s() - r->rec.created) * 1000;
	if (allowed & EVENT_F_ROTATION_STATUS)
		ev.rotation_status = store_run_state_name(r->rec.state);
	if (allowed & EVENT_F_OUTCOME)
		ev.outcome =
		    r->rec.state == STORE_RUN_COMMITTED ? "success" : "failure";
	if ((allowed & EVENT_F_POST_ROTATION_STATUS) && r->outputs > 0)
		ev.post_rotation_status = r->scripts_failed ? "failed" : "ok";
	(void)emit(r->d, &ev);
}

void
emit_follow(struct daemon *d, struct control_conn *c, const char *user)
{
	struct follower *f = xcalloc(1, sizeof(*f));

	f->conn = c;
	f->user = user != NULL ? xstrdup(user) : NULL;
	f->catching_up = true;
	f->kept = json_array();
	LIST_INSERT_HEAD(&d->followers, f, link);
}

/* The events of ARR (stolen) after AFTER, as C's progress lines. */
static void
send_after(struct control_conn *c, json_t *arr, int64_t after)
{
	json_t *o;
	size_t i;

	json_array_foreach(arr, i, o)
	{
		if (json_integer_value(json_object_get(o, "seq")) <= after)
			continue;
		control_progress(c, json_pack("{s:O}", "event", o));
	}
	json_decref(arr);
}

void
emit_follow_from(struct daemon *d, struct control_conn *c, json_t *backlog)
{
	struct follower *f;
	int64_t last = 0;
	size_t n = json_array_size(backlog);

	if (n > 0)
		last = json_integer_value(
		    json_object_get(json_array_get(backlog, n - 1), "seq"));
	LIST_FOREACH(f, &d->followers, link)
	{
		if (f->conn != c || !f->catching_up)
			continue;
		send_after(c, backlog, 0);
		backlog = NULL;
		/* A kept event up to the backlog's last is in it: the
		 * backlog is every event of the filter from its first on
		 * (then read up to the snapshot's end, or cut at the
		 * limit). */
		send_after(c, f->kept, last);
		f->kept = NULL;
		f->catching_up = false;
		break;
	}
	json_decref(backlog);
}

void
emit_unfollow(struct daemon *d, struct control_conn *c)
{
	struct follower *f, *tmp;

	LIST_FOREACH_SAFE(f, &d->followers, link, tmp)
	{
		if (f->conn != c)
			continue;
		LIST_REMOVE(f, link);
		json_decref(f->kept);
		free(f->user);
		free(f);
	}
}
