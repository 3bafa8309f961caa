/*
 * sinkconf.c: rotad.yaml's events: section, the spool's bound and the
 * sinks (struct job_events in jobs.h).
 *
 *   events:
 *     spool_max: 100000
 *     delivery_path: /usr/libexec/rotad/rotad-deliver
 *     sinks:
 *       - {name: local, type: syslog, socket: /dev/log, format: rfc5424,
 *          facility: authpriv, sd_id: rotad@32473,
 *          filter: {min_severity: info, events: [...], users: [...]}}
 *       - {name: audit, type: file, path: /var/log/rotad/events.jsonl}
 *       - {name: siem, type: tls, host: siem.example, port: 6514,
 *          ca_file: /etc/rotad/siem-ca.pem, format: cef}
 *       - {name: splunk, type: http, url: https://splunk:8088/...,
 *          token_file: /etc/rotad/hec.token, format: hec}
 *
 * The values stay as written: format, facility, severity and event names
 * are events/'s vocabulary, which jobs/ does not include; the scheduler
 * checks them (sinks_check()) at the origins kept here.
 */
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "jobs-internal.h"

static const char *const events_keys[] = { "spool_max", "delivery_path",
	"sinks", NULL };
static const char *const filter_keys[] = { "min_severity", "events", "users",
	NULL };
/* As enum job_sink_type. */
static const char *const sink_types[] = { "syslog", "file", "udp", "tcp",
	"tls", "http", NULL };

/*
 * A sink's string keys: where each goes, and the types that take it (a
 * bit per enum job_sink_type).  name, type, port, timeout and filter are
 * parsed apart.
 */
#define T(x) (1u << (x))
#define NET (T(JOB_SINK_UDP) | T(JOB_SINK_TCP) | T(JOB_SINK_TLS))
#define SECURE (T(JOB_SINK_TLS) | T(JOB_SINK_HTTP))
#define ANY 0x3fu
/* K_PATH: absolute; K_TRUST: and trusted (trust.h): a CA decides whom
 * events go to, a key or a token is the sink's credential, so whoever may
 * replace them steers the sink. */
enum { K_PATH = 1, K_TRUST = 2 };
static const struct {
	const char *key;
	size_t off;    /* in struct job_sink */
	size_t at;     /* its origin's, or SIZE_MAX */
	unsigned types;
	unsigned flags;
} sink_strings[] = {
#define S(k, types, flags)                                                     \
	{ #k, offsetof(struct job_sink, k), SIZE_MAX, types, flags }
#define SO(k, types)                                                           \
	{ #k, offsetof(struct job_sink, k),                                   \
		offsetof(struct job_sink, k##_origin), types, 0 }
	S(socket, T(JOB_SINK_SYSLOG), K_PATH),
	S(path, T(JOB_SINK_FILE), K_PATH),
	SO(format, ANY),
	SO(facility, ANY),
	SO(sd_id, ANY),
	S(host, NET, 0),
	S(url, T(JOB_SINK_HTTP), 0),
	S(ca_file, SECURE, K_PATH | K_TRUST),
	S(cert_file, SECURE, K_PATH | K_TRUST),
	S(key_file, SECURE, K_PATH | K_TRUST),
	S(server_name, T(JOB_SINK_TLS), 0),
	S(token_file, T(JOB_SINK_HTTP), K_PATH | K_TRUST),
	S(template, T(JOB_SINK_HTTP), 0),
#undef S
#undef SO
};
#define NSTRINGS (sizeof(sink_strings) / sizeof(sink_strings[0]))
static const char *const sink_keys[] = { "name", "type", "socket", "path",
	"format", "facility", "sd_id", "host", "url", "ca_file", "cert_file",
	"key_file", "server_name", "token_file", "template", "port", "timeout",
	"filter", NULL };

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

/* The sink's types that take a key, for an error: "udp, tcp or tls". */
static void
types_text(unsigned types, char *buf, size_t size)
{
	size_t i, n = 0, len = 0;

	for (i = 0; sink_types[i] != NULL; i++)
		n += (types >> i) & 1;
	buf[0] = '\0';
	for (i = 0; sink_types[i] != NULL && len < size; i++) {
		if (!((types >> i) & 1))
			continue;
		n--;
		len += (size_t)snprintf(buf + len, size - len, "%s%s",
		    sink_types[i], n == 0 ? "" : n == 1 ? " or " : ", ");
	}
}

static void
parse_sink(struct job_loader *l, yaml_node_t *e, struct job_sink *k)
{
	yaml_node_t *kk, *vv, *type_at = NULL, *at[NSTRINGS] = { NULL },
			      *port_at = NULL, *timeout_at = NULL;
	struct job_origin o;
	char text[64], **field;
	const char *t;
	size_t i;
	int type = -1;

	k->origin = node_origin(l, e, JOB_LEVEL_DAEMON, NULL);
	k->timeout = JOB_SINK_TIMEOUT_DEFAULT;
	for (MAP_EACH(l, e, pair, kk, vv)) {
		if (node_duplicate_key(l, e, pair, kk))
			continue;
		t = node_scalar(kk);
		if (t == NULL) {
			node_unknown_key(l, kk, "a sink", sink_keys);
			continue;
		}
		for (i = 0; i < NSTRINGS; i++)
			if (strcmp(t, sink_strings[i].key) == 0)
				break;
		if (i < NSTRINGS) {
			at[i] = vv;
			field = (char **)((char *)k + sink_strings[i].off);
			if (node_string(l, vv, field) == 0 &&
			    sink_strings[i].at != SIZE_MAX)
				*(struct job_origin *)((char *)k +
				    sink_strings[i].at) =
				    node_origin(l, vv, JOB_LEVEL_DAEMON, NULL);
		} else if (strcmp(t, "name") == 0) {
			if (node_string(l, vv, &k->name) == 0 &&
			    !valid_sink_name(k->name))
				ERR(l, vv,
				    "invalid sink name '%s': use 1-64 of "
				    "a-z, 0-9, _ and -",
				    k->name);
		} else if (strcmp(t, "type") == 0) {
			type_at = vv;
			for (i = 0; sink_types[i] != NULL; i++)
				if (node_scalar(vv) != NULL &&
				    strcmp(node_scalar(vv), sink_types[i]) == 0)
					type = (int)i;
			if (type < 0)
				ERR(l, vv,
				    "unknown sink type '%s': expected syslog, "
				    "file, udp, tcp, tls or http",
				    node_scalar(vv) != NULL ? node_scalar(vv)
							    : "");
			else
				k->type = type;
		} else if (strcmp(t, "port") == 0) {
			port_at = vv;
			node_int(l, vv, 1, 65535, &k->port);
		} else if (strcmp(t, "timeout") == 0) {
			timeout_at = vv;
			node_int(l, vv, 1, 600, &k->timeout);
		} else if (strcmp(t, "filter") == 0)
			parse_filter(l, vv, k);
		else
			node_unknown_key(l, kk, "a sink", sink_keys);
	}
	if (k->name == NULL)
		ERR(l, e, "a sink needs a name");
	if (type_at == NULL) {
		ERR(l, e,
		    "a sink needs a type: syslog, file, udp, tcp, tls or http");
		return;
	}
	if (type < 0)
		return;
	for (i = 0; i < NSTRINGS; i++) {
		field = (char **)((char *)k + sink_strings[i].off);
		if (at[i] == NULL || *field == NULL)
			continue;
		if (!((sink_strings[i].types >> type) & 1)) {
			types_text(sink_strings[i].types, text, sizeof(text));
			ERR(l, at[i], "%s is for %s sinks, not %s sinks",
			    sink_strings[i].key, text, sink_types[type]);
			continue;
		}
		if (!(sink_strings[i].flags & K_PATH))
			continue;
		if ((*field)[0] != '/') {
			ERR(l, at[i], "%s '%s' is not absolute",
			    sink_strings[i].key, *field);
			continue;
		}
		if (sink_strings[i].flags & K_TRUST) {
			o = node_origin(l, at[i], JOB_LEVEL_DAEMON, NULL);
			jobs_trusted(
			    l, &o, l->file, sink_strings[i].key, *field);
		}
	}
	if ((port_at != NULL || timeout_at != NULL) && !((NET >> type) & 1) &&
	    type != JOB_SINK_HTTP)
		ERR(l, port_at != NULL ? port_at : timeout_at,
		    "%s is for network sinks (udp, tcp, tls or http)",
		    port_at != NULL ? "port" : "timeout");
	if (port_at != NULL && type == JOB_SINK_HTTP)
		ERR(l, port_at, "an http sink's port is in its url");
	if (type == JOB_SINK_FILE && k->path == NULL)
		ERR(l, e, "a file sink needs a path");
	if (((NET >> type) & 1) && (k->host == NULL || port_at == NULL))
		ERR(l, e, "a %s sink needs a host and a port", sink_types[type]);
	if (type == JOB_SINK_HTTP && k->url == NULL)
		ERR(l, e, "an http sink needs a url");
	if (k->url != NULL && strncmp(k->url, "http://", 7) != 0 &&
	    strncmp(k->url, "https://", 8) != 0)
		ERR(l, e, "url '%s' is not http:// or https://", k->url);
	if (k->url != NULL && strncmp(k->url, "http://", 7) == 0 &&
	    (k->ca_file != NULL || k->cert_file != NULL))
		ERR(l, e, "ca_file and cert_file need an https:// url");
	if ((k->cert_file == NULL) != (k->key_file == NULL))
		ERR(l, e, "cert_file and key_file go together: both or "
			  "neither");
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
		} else if (t != NULL && strcmp(t, "delivery_path") == 0) {
			if (node_string(l, vv, &ev->delivery_path) < 0)
				continue;
			ev->delivery_path_origin =
			    node_origin(l, vv, JOB_LEVEL_DAEMON, NULL);
			if (ev->delivery_path[0] != '/')
				ERR(l, vv, "delivery_path '%s' is not absolute",
				    ev->delivery_path);
			else
				jobs_trusted(l, &ev->delivery_path_origin,
				    l->file, "events.delivery_path",
				    ev->delivery_path);
		} else if (t != NULL && strcmp(t, "sinks") == 0)
			parse_sinks(l, vv, ev);
		else
			node_unknown_key(l, k, "events", events_keys);
	}
	/* The installed rotad-deliver, when a network sink needs it. */
	for (n = 0; ev->delivery_path == NULL && (size_t)n < ev->nsinks; n++)
		if (ev->sinks[n].type >= JOB_SINK_UDP) {
			jobs_trusted(l, NULL, l->file, "events.delivery_path",
			    ROTAD_LIBEXECDIR "/rotad-deliver");
			break;
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
		free(k->host);
		free(k->url);
		free(k->ca_file);
		free(k->cert_file);
		free(k->key_file);
		free(k->server_name);
		free(k->token_file);
		free(k->template);
		for (j = 0; j < k->nevents; j++)
			free(k->events[j]);
		free(k->events);
		free(k->events_origin);
		for (j = 0; j < k->nusers; j++)
			free(k->users[j]);
		free(k->users);
	}
	free(ev->sinks);
	free(ev->delivery_path);
	ev->delivery_path = NULL;
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

	if (ev->nsinks == 0 && ev->spool_max == JOB_SPOOL_MAX_DEFAULT &&
	    ev->delivery_path == NULL)
		return;
	fprintf(f, "  events: {spool_max: %lld", (long long)ev->spool_max);
	if (ev->delivery_path != NULL)
		fprintf(f, ", delivery_path: %s", ev->delivery_path);
	fprintf(f, "}\n");
	for (i = 0; i < ev->nsinks; i++) {
		k = &ev->sinks[i];
		fprintf(
		    f, "    sink %s: {type: %s", k->name, sink_types[k->type]);
		if (k->type == JOB_SINK_SYSLOG)
			fprintf(f, ", socket: %s",
			    k->socket != NULL ? k->socket
			    : k->format != NULL &&
				    strcmp(k->format, "journal") == 0
				? JOB_SINK_JOURNAL_SOCKET
				: JOB_SINK_SOCKET_DEFAULT);
		else if (k->type == JOB_SINK_FILE)
			fprintf(f, ", path: %s", k->path);
		else if (k->type == JOB_SINK_HTTP)
			fprintf(f, ", url: %s", k->url);
		else
			fprintf(f, ", host: %s, port: %d", k->host, k->port);
		if (k->ca_file != NULL)
			fprintf(f, ", ca_file: %s", k->ca_file);
		if (k->cert_file != NULL)
			fprintf(f, ", cert_file: %s, key_file: %s",
			    k->cert_file, k->key_file);
		if (k->server_name != NULL)
			fprintf(f, ", server_name: %s", k->server_name);
		if (k->token_file != NULL)
			fprintf(f, ", token_file: %s", k->token_file);
		if (k->type >= JOB_SINK_UDP)
			fprintf(f, ", timeout: %d", k->timeout);
		fprintf(f, ", format: %s",
		    k->format != NULL ? k->format
			: k->type == JOB_SINK_FILE || k->type == JOB_SINK_HTTP
			? (k->type == JOB_SINK_HTTP ? "(hec)" : "(json)")
			: "(rfc5424)");
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
