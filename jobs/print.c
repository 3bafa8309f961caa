/*
 * print.c: the error list, and the normalised model `rotad -nv` prints:
 * stable and diffable, every inherited value with its origin.
 */
#include <stdio.h>

#include "catalog.h"
#include "jobs-internal.h"
#include "policy.h"

void
jobs_print_errors(const struct job_set *set, FILE *f)
{
	size_t i;

	for (i = 0; i < set->nerrors; i++) {
		const struct job_error *e = &set->errors[i];

		if (e->file == NULL)
			fprintf(f, "%s\n", e->message);
		else if (e->line == 0)
			fprintf(f, "%s: %s\n", e->file, e->message);
		else
			fprintf(f, "%s:%d:%d: %s\n", e->file, e->line,
			    e->column, e->message);
	}
}

void
jobs_print_warnings(const struct job_set *set, FILE *f)
{
	size_t i;

	for (i = 0; i < set->nwarnings; i++) {
		const struct job_error *w = &set->warnings[i];

		if (w->line == 0)
			fprintf(f, "%s: warning: %s\n", w->file, w->message);
		else
			fprintf(f, "%s:%d:%d: warning: %s\n", w->file, w->line,
			    w->column, w->message);
	}
}

static void
print_origin(FILE *f, const struct job_origin *o)
{
	switch (o->level) {
	case JOB_LEVEL_BUILTIN:
		fprintf(f, "  # built-in default\n");
		return;
	case JOB_LEVEL_DAEMON:
		fprintf(f, "  # rotad.yaml defaults");
		break;
	case JOB_LEVEL_CONFIGURATION:
		fprintf(f, "  # configuration %s",
		    o->owner != NULL ? o->owner : "");
		break;
	case JOB_LEVEL_RESOURCE:
		fprintf(f, "  # resource %s", o->owner != NULL ? o->owner : "");
		break;
	case JOB_LEVEL_USER:
		fprintf(f, "  #");
		break;
	}
	if (o->file != NULL)
		fprintf(f, " %s:%d:%d", o->file, o->line, o->column);
	fprintf(f, "\n");
}

/* Where an object was defined. */
static void
print_where(FILE *f, const struct job_origin *o)
{
	fprintf(f, "  # %s:%d:%d\n", o->file, o->line, o->column);
}

static const char *
yes(bool b)
{
	return b ? "true" : "false";
}

static void
print_settings(FILE *f, const struct job_settings *st)
{
	char buf[512], a[32], b[32];
	size_t i;

	fprintf(f, "    schedule: %s", st->schedule_text);
	print_origin(f, &st->schedule_origin);
	policy_format(st->complexity, buf, sizeof(buf));
	fprintf(f, "    complexity: \"%s\"", buf);
	print_origin(f, &st->complexity_origin);
	fprintf(f, "    rotate: %s",
	    st->rotate == JOB_ROTATE_PASSWORD          ? "password"
		: st->rotate == JOB_ROTATE_PRIVATE_KEY ? "private_key"
						       : "both");
	print_origin(f, &st->rotate_origin);
	jobs_format_duration(st->retry.initial, a, sizeof(a));
	jobs_format_duration(st->retry.max, b, sizeof(b));
	fprintf(f, "    retry: {attempts: %d, initial: %s, max: %s}",
	    st->retry.attempts, a, b);
	print_origin(f, &st->retry_origin);
	fprintf(f, "    misfire: %s",
	    st->misfire == JOB_MISFIRE_SKIP ? "skip" : "run_once");
	print_origin(f, &st->misfire_origin);
	jobs_format_duration(st->timeout, a, sizeof(a));
	fprintf(f, "    timeout: %s", a);
	print_origin(f, &st->timeout_origin);
	fprintf(f, "    private_key_type: %s", st->private_key_type);
	print_origin(f, &st->private_key_type_origin);
	for (i = 0; i < jobs_nbool_settings; i++) {
		const struct job_bool_setting *bs = &jobs_bool_settings[i];

		fprintf(f, "    %s: %s", bs->name,
		    yes(*(const bool *)((const char *)st + bs->value)));
		print_origin(f,
		    (const struct job_origin *)((const char *)st + bs->origin));
	}
}

static void
print_scripts(FILE *f, const struct job_scripts *sc)
{
	size_t i;

	for (i = 0; i < sc->n; i++) {
		fprintf(f, "      - {path: %s", sc->v[i].path);
		if (sc->v[i].command != NULL)
			fprintf(f, ", command: %s", sc->v[i].command);
		fprintf(f, "}");
		print_origin(f, &sc->v[i].origin);
	}
}

static void
print_opt(FILE *f, const char *key, const char *value)
{
	if (value != NULL)
		fprintf(f, "    %s: %s\n", key, value);
}

/* The provider's keys, in the order of its descriptor. */
static void
print_params(const struct job_resource *r, FILE *f)
{
	const struct catalog_key *k;
	const struct job_param *p;

	if (r->provider == NULL)
		return;
	for (k = r->provider->keys; k->name != NULL; k++) {
		p = jobs_param(r, k->name);
		if (p == NULL)
			continue;
		if (p->script.command != NULL)
			fprintf(f, "    %s: {path: %s, command: %s}\n", k->name,
			    p->value, p->script.command);
		else
			fprintf(f, "    %s: %s\n", k->name, p->value);
	}
}

static void
print_daemon(const struct job_set *set, FILE *f)
{
	const struct job_daemon *d = &set->daemon;
	char buf[32];
	size_t i, j;

	fprintf(f, "daemon:\n");
	fprintf(f, "  config_file: %s\n", d->config_file);
	fprintf(f, "  conf_dir: %s\n", d->conf_dir);
	fprintf(f, "  store: %s\n", d->store_path);
	fprintf(f, "  key_file: %s\n",
	    d->key_file != NULL
		? d->key_file
		: "(default: $CREDENTIALS_DIRECTORY/master.key, else "
		  "/etc/rotad/master.key)");
	jobs_format_duration(d->min_interval, buf, sizeof(buf));
	fprintf(f, "  min_interval: %s\n", buf);
	fprintf(f, "  max_workers: %d\n", d->max_workers);
	fprintf(f, "  control: {socket: %s, group: %s}\n", d->socket_path,
	    d->socket_group != NULL ? d->socket_group : "(the daemon's)");
	for (i = 0; i < d->nacl; i++) {
		const struct job_acl *a = &d->acl[i];

		fprintf(f, "    acl: %s ", a->is_group ? "group" : "user");
		if (a->name != NULL)
			fprintf(f, "%s", a->name);
		else
			fprintf(f, "#%u", a->id);
		for (j = 0; jobs_right_names[j] != NULL; j++)
			if (a->rights & (1u << j))
				fprintf(f, " %s", jobs_right_names[j]);
		fprintf(f, "\n");
	}
	if (d->metrics_textfile != NULL)
		fprintf(f, "  metrics: {textfile: %s}\n", d->metrics_textfile);
	if (d->worker_path != NULL || d->worker_user != NULL)
		fprintf(f, "  worker: {path: %s, user: %s}\n",
		    d->worker_path != NULL ? d->worker_path : "(installed)",
		    d->worker_user != NULL ? d->worker_user
					   : JOB_WORKER_USER_DEFAULT);
	sinkconf_print(&d->events, f);
	fprintf(f, "  files: %zu loaded, %zu skipped\n", set->nfiles_loaded,
	    set->nfiles_skipped);
}

static void
print_configuration(const struct job_configuration *c, FILE *f)
{
	size_t j;

	fprintf(f, "  %s:", c->name);
	print_where(f, &c->origin);
	for (j = 0; j < c->nports; j++)
		fprintf(f, "    port_map: %d=%s\n", c->ports[j].port,
		    c->ports[j].protocol);
	if (c->scripts.n > 0)
		fprintf(f, "    scripts:\n");
	print_scripts(f, &c->scripts);
}

/* Where a resource's protocol came from. */
static void
print_protocol(const struct job_resource *r, FILE *f)
{
	fprintf(f, "    protocol: %s", r->protocol);
	if (r->protocol_origin.file != NULL)
		print_origin(f, &r->protocol_origin);
	else if (r->protocol_origin.owner != NULL)
		fprintf(f, "  # port %d in the port_map of configuration %s\n",
		    r->port, r->protocol_origin.owner);
	else
		fprintf(f, "  # port %d in the built-in port map\n", r->port);
}

/* What the provider really does, for those that use tls:. */
static void
print_tls(const struct job_resource *r, FILE *f)
{
	if (r->provider == NULL || !(r->provider->caps & CATALOG_CAP_TLS))
		return;
	if (!r->tls_enabled)
		fprintf(f, "    tls: {enabled: false}  # no TLS: plaintext\n");
	else if (!r->tls_verify)
		fprintf(f,
		    "    tls: {verify: false}  # TLS, the server's certificate "
		    "not checked\n");
	else if (r->tls_ca_file != NULL)
		fprintf(f, "    tls: {verify: true, ca_file: %s}\n",
		    r->tls_ca_file);
	else
		fprintf(f,
		    "    tls: {verify: true, ca_file: %s}  # the system's CA "
		    "bundle\n",
		    CATALOG_SYSTEM_CA_FILE);
}

static void
print_resource(const struct job_resource *r, FILE *f)
{
	fprintf(f, "  %s:", r->name);
	print_where(f, &r->origin);
	fprintf(f, "    kind: %s\n", jobs_kind_names[r->kind]);
	print_opt(f, "host", r->host);
	if (r->port != 0)
		fprintf(f, "    port: %d\n", r->port);
	print_protocol(r, f);
	if (r->provider != NULL)
		fprintf(f, "    provider: %s\n", r->provider->name);
	print_tls(r, f);
	print_opt(f, "admin_user", r->admin_user);
	print_params(r, f);
	fprintf(f, "    max_concurrent: %d\n", r->max_concurrent);
	if (r->provider != NULL && (r->provider->caps & CATALOG_CAP_BATCH))
		fprintf(f, "    batch: %d\n", r->batch);
	print_opt(f, "configuration", r->configuration_name);
	if (r->scripts.n > 0)
		fprintf(f, "    scripts:\n");
	print_scripts(f, &r->scripts);
}

static void
print_user(const struct job_user *u, FILE *f)
{
	fprintf(f, "  %s:", u->name);
	print_where(f, &u->origin);
	print_opt(f, "login", u->login);
	print_opt(f, "dn", u->dn);
	print_opt(f, "resource", u->resource_name);
	if (u->configuration != NULL)
		fprintf(f, "    configuration: %s%s\n", u->configuration->name,
		    u->configuration_name == NULL ? "  # from the resource"
						  : "");
	fprintf(f, "    managed: %s\n", yes(u->managed));
	if (u->noop)
		fprintf(f, "    noop: true\n");
	print_opt(f, "password_file", u->password_file);
	print_opt(f, "private_key_file", u->private_key_file);
	print_settings(f, &u->settings);
	/* Scripts run user -> resource -> configuration. */
	if (u->scripts.n > 0 ||
	    (u->resource != NULL && u->resource->scripts.n > 0) ||
	    (u->configuration != NULL && u->configuration->scripts.n > 0))
		fprintf(f, "    scripts:  # in this order\n");
	print_scripts(f, &u->scripts);
	if (u->resource != NULL)
		print_scripts(f, &u->resource->scripts);
	if (u->configuration != NULL)
		print_scripts(f, &u->configuration->scripts);
}

void
jobs_print(const struct job_set *set, FILE *f)
{
	size_t i;

	print_daemon(set, f);
	fprintf(f, "configurations:\n");
	for (i = 0; i < set->nconfigurations; i++)
		print_configuration(set->configurations[i], f);
	fprintf(f, "resources:\n");
	for (i = 0; i < set->nresources; i++)
		print_resource(set->resources[i], f);
	fprintf(f, "users:\n");
	for (i = 0; i < set->nusers; i++)
		print_user(set->users[i], f);
}
