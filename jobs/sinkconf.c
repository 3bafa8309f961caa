/*
 * sinkconf.c: rotad.yaml's events: section, the spool's bound and the
 * local sinks (struct job_events in jobs.h).
 *
 *   events:
 *     spool_max: 100000
 *     sinks:
 *       - {name: local, type: syslog, socket: /dev/log, format: rfc5424,
 *          facility: authpriv, sd_id: rotad@32473,
 *          filter: {min_severity: info, events: [...], users: [...]}}
 *       - {name: audit, type: file, path: /var/log/rotad/events.jsonl}
 *
 * The values stay as written: format, facility, severity and event names
 * are events/'s vocabulary, which jobs/ does not include; the scheduler
 * checks them (sinks_check()) at the origins kept here.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>

#include "jobs-internal.h"

static const char *const events_keys[] = { "spool_max", "sinks", NULL };
static const char *const sink_keys[] = { "name", "type", "socket", "path",
	"format", "facility", "sd_id", "filter", NULL };
static const char *const filter_keys[] = { "min_severity", "events", "users",
	NULL };
static const char *const sink_types[] = { "syslog", "file", NULL };

/* A sink's name: it names the sink's cursor in the store and its metrics
 * label, so it is kept to a-z, 0-9, '_' and '-'. */
static bool
valid_sink_name(const char *s)
{
	size_t i;

	if (*s == '\0' || strlen(s) > 64)
		return false;
	for (i = 0; s[i] != '\0'; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
			(s[i] >= '0' && s[i] <= '9') || s[i] == '_' ||
			s[i] == '-'))
			return false;
	return true;
}

/* A list of non-empty strings into *RET, *N, and each one's origin into
 * *ORIGINS when it is not NULL. */
static void
parse_list(struct job_loader *l, yaml_node_t *v, const char *shape, char ***ret,
    size_t *n, struct job_origin **origins)
{
	yaml_node_item_t *it;
	yaml_node_t *e;
	size_t no = 0;
	char *s;

	if (node_want(l, v, YAML_SEQUENCE_NODE, shape) < 0)
		return;
	for (it = v->data.sequence.items.start; it < v->data.sequence.items.top;
	     it++) {
		e = node_get(l, *it);
		s = NULL;
		if (node_string(l, e, &s) < 0)
			continue;
		*PUSH(*ret, *n) = s;
		if (origins != NULL)
			*PUSH(*origins, no) =
			    node_origin(l, e, JOB_LEVEL_DAEMON, NULL);
	}
}

static void
parse_filter(struct job_loader *l, yaml_node_t *v, struct job_sink *k)
{
	yaml_node_t *kk, *vv;
	const char *t;

	if (node_want(l, v, YAML_MAPPING_NODE,
		"a mapping {min_severity, events, users}") < 0)
		return;
	for (MAP_EACH(l, v, pair, kk, vv)) {
		if (node_duplicate_key(l, v, pair, kk))
			continue;
		t = node_scalar(kk);
		if (t != NULL && strcmp(t, "min_severity") == 0) {
			if (node_string(l, vv, &k->min_severity) == 0)
				k->min_severity_origin =
				    node_origin(l, vv, JOB_LEVEL_DAEMON, NULL);
		} else if (t != NULL && strcmp(t, "events") == 0)
			parse_list(l, vv, "a list of event names", &k->events,
			    &k->nevents, &k->events_origin);
		else if (t != NULL && strcmp(t, "users") == 0)
			parse_list(l, vv, "a list of user names", &k->users,
			    &k->nusers, NULL);
		else
			node_unknown_key(l, kk, "filter", filter_keys);
	}
}

/* A string key of a sink into *RET, its origin into *AT (may be NULL). */
static void
sink_string(
    struct job_loader *l, yaml_node_t *v, char **ret, struct job_origin *at)
{
	if (node_string(l, v, ret) == 0 && at != NULL)
		*at = node_origin(l, v, JOB_LEVEL_DAEMON, NULL);
}

static void
parse_sink(struct job_loader *l, yaml_node_t *e, struct job_sink *k)
{
	yaml_node_t *kk, *vv, *type_at = NULL, *path_at = NULL,
			      *socket_at = NULL;
	const char *t;
	int i, type = -1;

	k->origin = node_origin(l, e, JOB_LEVEL_DAEMON, NULL);
	for (MAP_EACH(l, e, pair, kk, vv)) {
		if (node_duplicate_key(l, e, pair, kk))
			continue;
		t = node_scalar(kk);
		for (i = 0; sink_keys[i] != NULL; i++)
			if (t != NULL && strcmp(t, sink_keys[i]) == 0)
				break;
		switch (i) {
		case 0:
			if (node_string(l, vv, &k->name) == 0 &&
			    !valid_sink_name(k->name))
				ERR(l, vv,
				    "invalid sink name '%s': use 1-64 of "
				    "a-z, 0-9, _ and -",
				    k->name);
			break;
		case 1:
			type_at = vv;
			for (i = 0; sink_types[i] != NULL; i++)
				if (node_scalar(vv) != NULL &&
				    strcmp(node_scalar(vv), sink_types[i]) == 0)
					type = i;
			if (type < 0)
				ERR(l, vv,
				    "unknown sink type '%s': expected syslog "
				    "or file",
				    node_scalar(vv) != NULL ? node_scalar(vv)
							    : "");
			else
				k->type = type;
			break;
		case 2:
			socket_at = vv;
			sink_string(l, vv, &k->socket, NULL);
			break;
		case 3:
			path_at = vv;
			sink_string(l, vv, &k->path, NULL);
			break;
		case 4:
			sink_string(l, vv, &k->format, &k->format_origin);
			break;
		case 5:
			sink_string(l, vv, &k->facility, &k->facility_origin);
			break;
		case 6:
			sink_string(l, vv, &k->sd_id, &k->sd_id_origin);
			break;
		case 7:
			parse_filter(l, vv, k);
			break;
		default:
			node_unknown_key(l, kk, "a sink", sink_keys);
		}
	}
	if (k->name == NULL)
		ERR(l, e, "a sink needs a name");
	if (type_at == NULL)
		ERR(l, e, "a sink needs a type: syslog or file");
	if (k->type == JOB_SINK_FILE && path_at == NULL)
		ERR(l, e, "a file sink needs a path");
	if (k->type == JOB_SINK_FILE && socket_at != NULL)
		ERR(l, socket_at, "socket is for a syslog sink, not a file");
	if (k->type == JOB_SINK_SYSLOG && path_at != NULL)
		ERR(l, path_at,
		    "path is for a file sink; a syslog sink names its socket");
	if (k->path != NULL && k->path[0] != '/')
		ERR(l, path_at, "path '%s' is not absolute", k->path);
	if (k->socket != NULL && k->socket[0] != '/')
		ERR(l, socket_at, "socket '%s' is not absolute", k->socket);
}

static void
parse_sinks(struct job_loader *l, yaml_node_t *v, struct job_events *ev)
{
	yaml_node_item_t *it;
	yaml_node_t *e;
	struct job_sink *k;
	size_t i;

	if (node_want(l, v, YAML_SEQUENCE_NODE,
		"a list of sinks {name, type, ...}") < 0)
		return;
	for (it = v->data.sequence.items.start; it < v->data.sequence.items.top;
	     it++) {
		e = node_get(l, *it);
		if (node_want(l, e, YAML_MAPPING_NODE,
			"a sink {name, type, ...}") < 0)
			continue;
		k = PUSH(ev->sinks, ev->nsinks);
		parse_sink(l, e, k);
		for (i = 0; k->name != NULL && i + 1 < ev->nsinks; i++)
			if (ev->sinks[i].name != NULL &&
			    strcmp(ev->sinks[i].name, k->name) == 0) {
				ERR(l, e,
				    "sink '%s' is already defined at %d:%d",
				    k->name, ev->sinks[i].origin.line,
				    ev->sinks[i].origin.column);
				break;
			}
	}
}

void
sinkconf_parse(struct job_loader *l, yaml_node_t *v)
{
	struct job_events *ev = &l->set->daemon.events;
	yaml_node_t *k, *vv;
	const char *t;
	int n;

	if (node_want(l, v, YAML_MAPPING_NODE, "a mapping {spool_max, sinks}") <
	    0)
		return;
	for (MAP_EACH(l, v, pair, k, vv)) {
		if (node_duplicate_key(l, v, pair, k))
			continue;
		t = node_scalar(k);
		if (t != NULL && strcmp(t, "spool_max") == 0) {
			if (node_int(l, vv, 1, INT_MAX, &n) == 0)
				ev->spool_max = n;
		} else if (t != NULL && strcmp(t, "sinks") == 0)
			parse_sinks(l, vv, ev);
		else
			node_unknown_key(l, k, "events", events_keys);
	}
}

void
sinkconf_free(struct job_events *ev)
{
	struct job_sink *k;
	size_t i, j;

	for (i = 0; i < ev->nsinks; i++) {
		k = &ev->sinks[i];
		free(k->name);
		free(k->socket);
		free(k->path);
		free(k->format);
		free(k->facility);
		free(k->sd_id);
		free(k->min_severity);
		for (j = 0; j < k->nevents; j++)
			free(k->events[j]);
		free(k->events);
		free(k->events_origin);
		for (j = 0; j < k->nusers; j++)
			free(k->users[j]);
		free(k->users);
	}
	free(ev->sinks);
	ev->sinks = NULL;
	ev->nsinks = 0;
}

static void
print_list(FILE *f, const char *key, char *const *v, size_t n)
{
	size_t i;

	fprintf(f, ", %s: [", key);
	for (i = 0; i < n; i++)
		fprintf(f, "%s%s", i > 0 ? ", " : "", v[i]);
	fprintf(f, "]");
}

/* -nv: defaults in parentheses, as the scheduler will apply them.  A
 * rotad.yaml without events: prints nothing. */
void
sinkconf_print(const struct job_events *ev, FILE *f)
{
	const struct job_sink *k;
	size_t i;

	if (ev->nsinks == 0 && ev->spool_max == JOB_SPOOL_MAX_DEFAULT)
		return;
	fprintf(f, "  events: {spool_max: %lld}\n", (long long)ev->spool_max);
	for (i = 0; i < ev->nsinks; i++) {
		k = &ev->sinks[i];
		fprintf(
		    f, "    sink %s: {type: %s", k->name, sink_types[k->type]);
		if (k->type == JOB_SINK_SYSLOG)
			fprintf(f, ", socket: %s",
			    k->socket != NULL ? k->socket
					      : JOB_SINK_SOCKET_DEFAULT);
		else
			fprintf(f, ", path: %s", k->path);
		fprintf(f, ", format: %s",
		    k->format != NULL                ? k->format
			: k->type == JOB_SINK_SYSLOG ? "(rfc5424)"
						     : "(json)");
		fprintf(f, ", facility: %s",
		    k->facility != NULL ? k->facility : "(authpriv)");
		fprintf(f, ", sd_id: %s",
		    k->sd_id != NULL ? k->sd_id : "(rotad@32473)");
		fprintf(f, "}\n");
		if (k->min_severity == NULL && k->nevents == 0 &&
		    k->nusers == 0)
			continue;
		fprintf(f, "      filter: {min_severity: %s",
		    k->min_severity != NULL ? k->min_severity : "(debug)");
		if (k->nevents > 0)
			print_list(f, "events", k->events, k->nevents);
		if (k->nusers > 0)
			print_list(f, "users", k->users, k->nusers);
		fprintf(f, "}\n");
	}
}
