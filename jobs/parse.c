/*
 * parse.c: pass 1 of loading, YAML into objects.
 *
 * libyaml's document API keeps each node's line and column, so every error
 * is file:line:column.  A file is parsed to its end whatever it holds:
 * each type, key and value error is recorded against the file (which
 * settle.c then leaves out), and parsing goes on with the next key.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <yaml.h>

#include "catalog.h"
#include "jobs-internal.h"
#include "schedule.h"
#include "xalloc.h"

#define MAX_FILE_SIZE (4 << 20)
/* ---- protocols and the port map ---- */

/*
 * Protocol V must be one a provider of this build speaks: an unknown one
 * (or one whose provider is not built) is refused now, not when it fires.
 */
static int
check_protocol(struct job_loader *l, const yaml_node_t *v)
{
	const char *s = node_scalar(v), *m;

	if (s != NULL && *s != '\0' && catalog_find_protocol(s, NULL) != NULL)
		return 0;
	m = s != NULL ? node_did_you_mean(s, jobs_protocol_names()) : NULL;
	ERR(l, v, "unknown protocol '%s'%s%s%s: this build has %s",
	    s != NULL ? s : node_type_name(v),
	    m != NULL ? " (did you mean '" : "", m != NULL ? m : "",
	    m != NULL ? "'?)" : "", jobs_protocol_list());
	return -EINVAL;
}

static int
parse_port_map(
    struct job_loader *l, yaml_node_t *n, struct job_configuration *c)
{
	yaml_node_t *k, *v;
	struct job_port *p;

	if (node_want(l, n, YAML_MAPPING_NODE, "a mapping of port: protocol") <
	    0)
		return -EINVAL;
	for (MAP_EACH(l, n, pair, k, v)) {
		p = PUSH(c->ports, c->nports);
		if (node_int(l, k, 1, 65535, &p->port) < 0)
			return -EINVAL;
		if (check_protocol(l, v) < 0)
			return -EINVAL;
		p->protocol = xstrdup(node_scalar(v));
	}
	return 0;
}

/* ---- objects ---- */

static bool
valid_name(const char *s)
{
	size_t i;

	if (*s == '\0' || strlen(s) > 128)
		return false;
	for (i = 0; s[i] != '\0'; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
			(s[i] >= 'A' && s[i] <= 'Z') ||
			(s[i] >= '0' && s[i] <= '9') || s[i] == '-' ||
			s[i] == '_' || s[i] == '.' || s[i] == '@'))
			return false;
	return true;
}

static int
get_name(struct job_loader *l, yaml_node_t *k, char **ret)
{
	const char *s = node_scalar(k);

	if (s == NULL || !valid_name(s)) {
		ERR(l, k,
		    "invalid name '%s': use 1-128 letters, digits and "
		    "- _ . @",
		    s != NULL ? s : node_type_name(k));
		return -EINVAL;
	}
	*ret = xstrdup(s);
	return 0;
}

static const char *const configuration_keys[] = { "schedule", "complexity",
	"rotate", "retry", "misfire", "timeout", "private_key_type",
	"private_key_rotate", "rollback_on_password_fail",
	"rollback_on_private_key_fail", "rollback_on_post_rotation_fail",
	"rerun_on_post_rotation_fail", "port_map", "scripts", NULL };

static void
parse_configuration(struct job_loader *l, yaml_node_t *k, yaml_node_t *n)
{
	struct job_configuration *c = xcalloc(1, sizeof(*c));
	struct object *o;
	yaml_node_t *kk, *v;
	const char *s;

	o = PUSH(l->objs, l->nobjs);
	o->type = OBJ_CONFIGURATION;
	o->p = c;
	o->file = l->file;
	c->origin = node_origin(l, k, JOB_LEVEL_CONFIGURATION, NULL);
	if (get_name(l, k, &c->name) < 0)
		c->name = xstrdup("?");
	if (node_want(l, n, YAML_MAPPING_NODE,
		"a mapping of configuration "
		"settings") < 0)
		return;
	for (MAP_EACH(l, n, pair, kk, v)) {
		if (node_duplicate_key(l, n, pair, kk))
			continue;
		if (setting_parse(l, kk, v, &c->settings,
			JOB_LEVEL_CONFIGURATION, c->name))
			continue;
		s = node_scalar(kk);
		if (s != NULL && strcmp(s, "port_map") == 0)
			parse_port_map(l, v, c);
		else if (s != NULL && strcmp(s, "scripts") == 0)
			setting_parse_scripts(l, v, &c->scripts,
			    JOB_LEVEL_CONFIGURATION, c->name);
		else
			node_unknown_key(
			    l, kk, "a configuration", configuration_keys);
	}
}

/*
 * tls: {ca_file, verify, enabled}.  Verification against ca_file (else
 * the system's bundle) is the default; verify: false and enabled: false
 * are opt-outs, which finish() warns about.  A CA file decides whom the
 * credentials go to: it must be trusted like a script.
 */
static int
parse_tls(struct job_loader *l, yaml_node_t *n, struct job_resource *r)
{
	static const char *const keys[] = { "ca_file", "verify", "enabled",
		NULL };
	yaml_node_t *k, *v, *ca = NULL, *verify = NULL, *enabled = NULL;
	struct job_origin o;
	const char *s;

	if (node_want(l, n, YAML_MAPPING_NODE,
		"a mapping {ca_file, verify, enabled}") < 0)
		return -EINVAL;
	for (MAP_EACH(l, n, pair, k, v)) {
		s = node_scalar(k);
		if (node_duplicate_key(l, n, pair, k))
			return -EINVAL;
		if (s != NULL && strcmp(s, "ca_file") == 0) {
			ca = v;
			if (node_string(l, v, &r->tls_ca_file) < 0)
				return -EINVAL;
			if (r->tls_ca_file[0] != '/') {
				ERR(l, v, "ca_file must be an absolute path");
				return -EINVAL;
			}
			o = node_origin(l, v, JOB_LEVEL_RESOURCE, r->name);
			if (!jobs_trusted(
				l, &o, l->file, "ca_file", r->tls_ca_file))
				return -EINVAL;
		} else if (s != NULL && strcmp(s, "verify") == 0) {
			verify = v;
			if (node_bool(l, v, &r->tls_verify) < 0)
				return -EINVAL;
		} else if (s != NULL && strcmp(s, "enabled") == 0) {
			enabled = v;
			if (node_bool(l, v, &r->tls_enabled) < 0)
				return -EINVAL;
		} else {
			node_unknown_key(l, k, "tls", keys);
			return -EINVAL;
		}
	}
	if (!r->tls_enabled && (ca != NULL || verify != NULL)) {
		ERR(l, ca != NULL ? ca : verify,
		    "tls: enabled: false means no TLS: drop ca_file and "
		    "verify");
		return -EINVAL;
	}
	if (!r->tls_enabled)
		r->tls_origin =
		    node_origin(l, enabled, JOB_LEVEL_RESOURCE, NULL);
	else if (!r->tls_verify)
		r->tls_origin =
		    node_origin(l, verify, JOB_LEVEL_RESOURCE, NULL);
	return 0;
}

static void
parse_kind(struct job_loader *l, yaml_node_t *v, struct job_resource *r,
    bool *have_kind)
{
	int i;

	for (i = 0; jobs_kind_names[i] != NULL; i++)
		if (node_scalar(v) != NULL &&
		    strcmp(node_scalar(v), jobs_kind_names[i]) == 0)
			break;
	if (jobs_kind_names[i] == NULL) {
		ERR(l, v,
		    "kind: expected machine, database, "
		    "directory, cloud or api, found '%s'",
		    node_scalar(v) != NULL ? node_scalar(v)
					   : node_type_name(v));
		return;
	}
	r->kind = i;
	*have_kind = true;
}

static void
parse_protocol(struct job_loader *l, yaml_node_t *v, struct job_resource *r)
{
	/* Kept even when unknown: settle.c then checks nothing that needs
	 * the provider, and does not ask for a protocol again. */
	if (node_string(l, v, &r->protocol) == 0)
		check_protocol(l, v);
	r->protocol_origin = node_origin(l, v, JOB_LEVEL_USER, NULL);
}

/*
 * A key of the resource's provider, kept as written for settle.c: a
 * scalar, or a script's {path, command}.
 */
static void
parse_raw_param(struct job_loader *l, yaml_node_t *kk, yaml_node_t *v,
    struct object *o, const struct job_resource *r)
{
	static const char *const keys[] = { "path", "command", NULL };
	struct raw_param *p;
	yaml_node_t *k, *vv;
	const char *t;

	if (v->type == YAML_SEQUENCE_NODE) {
		ERR(l, v, "%s: expected a value, found a list",
		    node_scalar(kk));
		return;
	}
	if (v->type == YAML_MAPPING_NODE)
		for (MAP_EACH(l, v, pair, k, vv)) {
			t = node_scalar(k);
			if (t == NULL ||
			    (strcmp(t, "path") != 0 &&
				strcmp(t, "command") != 0)) {
				node_unknown_key(l, k, "a script", keys);
				return;
			}
		}
	p = PUSH(o->raw, o->nraw);
	p->name = xstrdup(node_scalar(kk));
	p->key_at = node_origin(l, kk, JOB_LEVEL_RESOURCE, r->name);
	p->origin = node_origin(l, v, JOB_LEVEL_RESOURCE, r->name);
	if (v->type == YAML_SCALAR_NODE) {
		p->value = xstrdup(node_scalar(v));
		return;
	}
	p->mapping = true;
	for (MAP_EACH(l, v, pair, k, vv)) {
		if (strcmp(node_scalar(k), "path") == 0)
			node_string(l, vv, &p->value);
		else
			node_string(l, vv, &p->command);
	}
}

/* One key K: V of resource R, which is object O. */
static void
resource_key(struct job_loader *l, yaml_node_t *kk, yaml_node_t *v,
    struct object *o, bool *have_kind)
{
	struct job_resource *r = o->p;
	const char *s = node_scalar(kk);

	if (s == NULL)
		node_unknown_key(l, kk, "a resource", jobs_resource_keys);
	else if (strcmp(s, "kind") == 0)
		parse_kind(l, v, r, have_kind);
	else if (strcmp(s, "host") == 0)
		node_string(l, v, &r->host);
	else if (strcmp(s, "port") == 0)
		node_int(l, v, 1, 65535, &r->port);
	else if (strcmp(s, "protocol") == 0)
		parse_protocol(l, v, r);
	else if (strcmp(s, "tls") == 0)
		parse_tls(l, v, r);
	else if (strcmp(s, "admin_user") == 0)
		node_string(l, v, &r->admin_user);
	else if (strcmp(s, "max_concurrent") == 0)
		node_int(l, v, 1, 1000, &r->max_concurrent);
	else if (strcmp(s, "batch") == 0)
		node_int(l, v, 1, JOB_BATCH_MAX, &r->batch);
	else if (strcmp(s, "configuration") == 0)
		node_string(l, v, &r->configuration_name);
	else if (strcmp(s, "scripts") == 0)
		setting_parse_scripts(
		    l, v, &r->scripts, JOB_LEVEL_RESOURCE, r->name);
	else
		parse_raw_param(l, kk, v, o, r);
}

static void
parse_resource(struct job_loader *l, yaml_node_t *k, yaml_node_t *n)
{
	struct job_resource *r = xcalloc(1, sizeof(*r));
	bool have_kind = false;
	struct object *o;
	yaml_node_t *kk, *v;

	o = PUSH(l->objs, l->nobjs);
	o->type = OBJ_RESOURCE;
	o->p = r;
	o->file = l->file;
	r->origin = node_origin(l, k, JOB_LEVEL_RESOURCE, NULL);
	r->tls_verify = true;
	r->tls_enabled = true;
	if (get_name(l, k, &r->name) < 0)
		r->name = xstrdup("?");
	if (node_want(
		l, n, YAML_MAPPING_NODE, "a mapping of resource settings") < 0)
		return;
	for (MAP_EACH(l, n, pair, kk, v)) {
		if (node_duplicate_key(l, n, pair, kk))
			continue;
		if (setting_parse(
			l, kk, v, &r->settings, JOB_LEVEL_RESOURCE, r->name))
			continue;
		resource_key(l, kk, v, o, &have_kind);
	}
	if (!have_kind)
		ERR(l, k,
		    "resource %s needs kind: machine, database, directory, "
		    "cloud or api",
		    r->name);
}

static const char *const user_keys[] = { "login", "dn", "resource",
	"configuration", "managed", "noop", "password_file", "private_key_file",
	"scripts", "schedule", "complexity", "rotate", "retry", "misfire",
	"timeout", "private_key_type", "private_key_rotate",
	"rollback_on_password_fail", "rollback_on_private_key_fail",
	"rollback_on_post_rotation_fail", "rerun_on_post_rotation_fail", NULL };

/* A secret written in a job file: say where it goes instead. */
static void
secret_in_file(struct job_loader *l, yaml_node_t *kk, const char *s,
    const struct job_user *u)
{
	bool key = strcmp(s, "private_key") == 0;

	ERR(l, kk,
	    "secrets never go in job files: seed user %s's %s with `rotactl "
	    "secret set %s` (it reads stdin), or name a file with %s_file: "
	    "that rotad imports once",
	    u->name, key ? "private key" : "password", u->name,
	    key ? "private_key" : "password");
}

/* An absolute path in *RET, of a file only root (or rotad) may write. */
static void
get_path(struct job_loader *l, yaml_node_t *v, const char *what, char **ret)
{
	struct job_origin o;

	if (node_string(l, v, ret) < 0)
		return;
	if ((*ret)[0] != '/') {
		ERR(l, v, "%s must be an absolute path", what);
		return;
	}
	o = node_origin(l, v, JOB_LEVEL_USER, NULL);
	jobs_trusted(l, &o, l->file, what, *ret);
}

/*
 * An account's name (login, dn) in *RET: a non-empty string without
 * control characters (bytes below 0x20, DEL).  The name reaches the
 * target's tools, and some read lines: chpasswd takes "login:password" a
 * line, so a login "app\nroot" would set root's password.  Refused for
 * every provider, before a worker sees it; an admin_user's login and dn
 * are its user's, checked here too.  The error says which byte, since a
 * block scalar's trailing line break is invisible in the file.
 */
static void
get_account(struct job_loader *l, yaml_node_t *v, const char *what, char **ret)
{
	const unsigned char *p;
	char other[32];

	if (node_string(l, v, ret) < 0)
		return;
	for (p = (const unsigned char *)*ret; *p != '\0'; p++)
		if (*p < 0x20 || *p == 0x7f)
			break;
	if (*p == '\0')
		return;
	snprintf(other, sizeof(other), "control character 0x%02x", *p);
	ERR(l, v,
	    "%s: expected a name without control characters, found %s at "
	    "byte %zu",
	    what,
	    *p == '\n'       ? "a line break"
		: *p == '\t' ? "a tab"
			     : other,
	    (size_t)(p - (const unsigned char *)*ret) + 1);
}

/* One key K: V of user U. */
static void
user_key(
    struct job_loader *l, yaml_node_t *kk, yaml_node_t *v, struct job_user *u)
{
	const char *s = node_scalar(kk);

	if (s == NULL)
		node_unknown_key(l, kk, "a user", user_keys);
	else if (strcmp(s, "login") == 0)
		get_account(l, v, "login", &u->login);
	else if (strcmp(s, "dn") == 0)
		get_account(l, v, "dn", &u->dn);
	else if (strcmp(s, "resource") == 0)
		node_string(l, v, &u->resource_name);
	else if (strcmp(s, "configuration") == 0)
		node_string(l, v, &u->configuration_name);
	else if (strcmp(s, "managed") == 0)
		node_bool(l, v, &u->managed);
	else if (strcmp(s, "noop") == 0)
		node_bool(l, v, &u->noop);
	else if (strcmp(s, "password_file") == 0)
		get_path(l, v, "password_file", &u->password_file);
	else if (strcmp(s, "private_key_file") == 0)
		get_path(l, v, "private_key_file", &u->private_key_file);
	else if (strcmp(s, "scripts") == 0)
		setting_parse_scripts(l, v, &u->scripts, JOB_LEVEL_USER, NULL);
	else if (strcmp(s, "password") == 0 || strcmp(s, "private_key") == 0 ||
	    strcmp(s, "secret") == 0)
		secret_in_file(l, kk, s, u);
	else
		node_unknown_key(l, kk, "a user", user_keys);
}

static void
parse_user(struct job_loader *l, yaml_node_t *k, yaml_node_t *n)
{
	struct job_user *u = xcalloc(1, sizeof(*u));
	struct object *o;
	yaml_node_t *kk, *v;

	o = PUSH(l->objs, l->nobjs);
	o->type = OBJ_USER;
	o->p = u;
	o->file = l->file;
	u->origin = node_origin(l, k, JOB_LEVEL_USER, NULL);
	u->managed = true;
	if (get_name(l, k, &u->name) < 0)
		u->name = xstrdup("?");
	if (node_want(l, n, YAML_MAPPING_NODE, "a mapping of user settings") <
	    0)
		return;
	for (MAP_EACH(l, n, pair, kk, v)) {
		if (node_duplicate_key(l, n, pair, kk))
			continue;
		if (setting_parse(l, kk, v, &u->settings, JOB_LEVEL_USER, NULL))
			continue;
		user_key(l, kk, v, u);
	}
	if (u->resource_name == NULL && !u->noop)
		ERR(l, k,
		    "user %s needs resource (or noop: true for a "
		    "scripts-only user)",
		    u->name);
	if (u->login == NULL && !u->noop)
		ERR(l, k, "user %s needs login", u->name);
}

/* Parse a section (configurations, resources, users): a mapping by name. */
static void
parse_section(struct job_loader *l, yaml_node_t *n,
    void (*fn)(struct job_loader *, yaml_node_t *, yaml_node_t *),
    const char *what)
{
	yaml_node_t *k, *v;

	if (n->type == YAML_SCALAR_NODE && node_scalar(n)[0] == '\0')
		return; /* "users:" with nothing under it */
	if (n->type != YAML_MAPPING_NODE) {
		ERR(l, n, "%s: expected a mapping of names to %s, found %s",
		    what, what, node_type_name(n));
		return;
	}
	for (MAP_EACH(l, n, pair, k, v)) {
		if (node_duplicate_key(l, n, pair, k))
			continue;
		fn(l, k, v);
	}
}

/*
 * TEXT's one YAML document into l->yaml, with l->doc pointing at it; -EINVAL
 * with the error recorded, and no document.
 */
static int
load_yaml(struct job_loader *l, const char *text, size_t len)
{
	yaml_parser_t parser;
	struct yamldoc extra = { 0 };
	yaml_document_t *doc = &l->yaml.doc;
	int r = 0;

	if (!yaml_parser_initialize(&parser))
		xalloc_fail(); /* libyaml fails here only for memory */
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	if (!yamldoc_load(&l->yaml, &parser)) {
		jobs_error_at(l, l->file, (int)parser.problem_mark.line + 1,
		    (int)parser.problem_mark.column + 1, "YAML: %s%s%s",
		    parser.problem != NULL ? parser.problem : "syntax error",
		    parser.context != NULL ? " " : "",
		    parser.context != NULL ? parser.context : "");
		r = -EINVAL;
		goto out;
	}
	/* One document per file: a second one would be silently ignored. */
	if (yaml_document_get_root_node(doc) != NULL) {
		if (!yamldoc_load(&extra, &parser)) {
			jobs_error_at(l, l->file,
			    (int)parser.problem_mark.line + 1,
			    (int)parser.problem_mark.column + 1, "YAML: %s",
			    parser.problem != NULL ? parser.problem
						   : "syntax error");
			r = -EINVAL;
			goto out;
		}
		if (yaml_document_get_root_node(&extra.doc) != NULL) {
			jobs_error_at(l, l->file,
			    (int)extra.doc.start_mark.line + 1,
			    (int)extra.doc.start_mark.column + 1,
			    "a job file holds one YAML document; found a "
			    "second one here");
			r = -EINVAL;
		}
	}
out:
	yamldoc_free(&extra);
	yaml_parser_delete(&parser);
	if (r == 0)
		l->doc = doc;
	return r;
}

void
parse_job_text(struct job_loader *l, const char *text, size_t len)
{
	static const char *const keys[] = { "configurations", "resources",
		"users", NULL };
	yaml_node_t *root, *k, *v;
	const char *s;

	if (load_yaml(l, text, len) < 0)
		return;
	root = yaml_document_get_root_node(l->doc);
	if (root == NULL)
		goto out; /* an empty file is fine: nothing in it */
	if (root->type != YAML_MAPPING_NODE) {
		ERR(l, root,
		    "a job file is a mapping with configurations:, "
		    "resources: and users:, found %s",
		    node_type_name(root));
		goto out;
	}
	for (MAP_EACH(l, root, pair, k, v)) {
		if (node_duplicate_key(l, root, pair, k))
			continue;
		s = node_scalar(k);
		if (s != NULL && strcmp(s, "configurations") == 0)
			parse_section(
			    l, v, parse_configuration, "configurations");
		else if (s != NULL && strcmp(s, "resources") == 0)
			parse_section(l, v, parse_resource, "resources");
		else if (s != NULL && strcmp(s, "users") == 0)
			parse_section(l, v, parse_user, "users");
		else
			node_unknown_key(l, k, "a job file", keys);
	}
out:
	node_done(l);
	l->doc = NULL;
}

int
parse_read_file(struct job_loader *l, const char *path, char **ret, size_t *len)
{
	struct stat sb;
	FILE *f;
	char *buf = NULL;
	int r = -EIO;

	f = fopen(path, "re");
	if (f == NULL) {
		r = -errno;
		jobs_error_at(
		    l, l->file, 0, 0, "cannot open: %s", strerror(-r));
		return r;
	}
	if (fstat(fileno(f), &sb) < 0 || !S_ISREG(sb.st_mode)) {
		jobs_error_at(l, l->file, 0, 0, "not a regular file");
		goto out;
	}
	if (sb.st_size > MAX_FILE_SIZE) {
		jobs_error_at(
		    l, l->file, 0, 0, "larger than %d bytes", MAX_FILE_SIZE);
		goto out;
	}
	buf = xcalloc(1, (size_t)sb.st_size + 1);
	*len = fread(buf, 1, (size_t)sb.st_size, f);
	if (ferror(f)) {
		jobs_error_at(l, l->file, 0, 0, "read error");
		goto out;
	}
	*ret = buf;
	buf = NULL;
	r = 0;
out:
	free(buf);
	fclose(f);
	return r;
}

/* ---- rotad.yaml ---- */

static const char *const daemon_keys[] = { "conf_dir", "store", "min_interval",
	"max_workers", "control", "metrics", "worker", "defaults", "events",
	NULL };

/* An acl entry's rights: [read, trigger, ...]. */
static void
parse_rights(struct job_loader *l, yaml_node_t *v, struct job_acl *a)
{
	yaml_node_item_t *rt;
	yaml_node_t *rn;
	int b;

	if (node_want(l, v, YAML_SEQUENCE_NODE, "a list of rights") < 0)
		return;
	for (rt = v->data.sequence.items.start; rt < v->data.sequence.items.top;
	     rt++) {
		rn = node_get(l, *rt);
		for (b = 0; jobs_right_names[b] != NULL; b++)
			if (node_scalar(rn) != NULL &&
			    strcmp(node_scalar(rn), jobs_right_names[b]) == 0)
				break;
		if (jobs_right_names[b] == NULL)
			ERR(l, rn,
			    "unknown right '%s': expected read, trigger, "
			    "secrets or admin",
			    node_scalar(rn) != NULL ? node_scalar(rn) : "");
		else
			a->rights |= 1u << b;
	}
}

/* One acl entry: {user|uid|group|gid: ..., rights: [...]}. */
static void
parse_acl_entry(struct job_loader *l, yaml_node_t *e, struct job_acl *a)
{
	static const char *const keys[] = { "user", "uid", "group", "gid",
		"rights", NULL };
	yaml_node_t *k, *v;
	const char *s;
	int i, id, who = 0;

	for (MAP_EACH(l, e, pair, k, v)) {
		s = node_scalar(k);
		for (i = 0; keys[i] != NULL; i++)
			if (s != NULL && strcmp(s, keys[i]) == 0)
				break;
		if (keys[i] == NULL) {
			node_unknown_key(l, k, "an acl entry", keys);
			continue;
		}
		if (i == 4) {
			parse_rights(l, v, a);
			continue;
		}
		who++;
		a->is_group = i == 2 || i == 3;
		if (i == 1 || i == 3) {
			if (node_int(l, v, 0, INT_MAX, &id) == 0)
				a->id = (unsigned)id;
		} else {
			node_string(l, v, &a->name);
		}
	}
	if (who != 1)
		ERR(l, e,
		    "an acl entry names exactly one of user, uid, group, gid");
}

/* control.acl: [{user|uid|group|gid: ..., rights: [read, ...]}] */
static void
parse_acl(struct job_loader *l, yaml_node_t *n)
{
	struct job_daemon *d = &l->set->daemon;
	yaml_node_item_t *it;
	yaml_node_t *e;

	if (node_want(l, n, YAML_SEQUENCE_NODE,
		"a list of {user|uid|group|gid, rights}") < 0)
		return;
	for (it = n->data.sequence.items.start; it < n->data.sequence.items.top;
	     it++) {
		e = node_get(l, *it);
		if (node_want(l, e, YAML_MAPPING_NODE,
			"a mapping {user|uid|group|gid, rights}") < 0)
			continue;
		parse_acl_entry(l, e, PUSH(d->acl, d->nacl));
	}
}

static void
parse_conf_dir(struct job_loader *l, yaml_node_t *v, const char *dir)
{
	struct job_daemon *d = &l->set->daemon;
	char *c = NULL;

	if (node_string(l, v, &c) < 0)
		return;
	d->conf_dir_origin = node_origin(l, v, JOB_LEVEL_DAEMON, NULL);
	free(d->conf_dir);
	if (c[0] == '/' || dir == NULL) {
		d->conf_dir = c;
	} else {
		d->conf_dir = xasprintf("%s/%s", dir, c);
		free(c);
	}
}

/*
 * A mapping V of strings, each key one of KEYS (NULL-terminated) and
 * stored in the matching RETS; SHAPE says what V should be, and WHAT
 * names it for unknown keys ("store", "worker", ...).
 */
static void
parse_strings(struct job_loader *l, yaml_node_t *v, const char *what,
    const char *shape, const char *const *keys, char **const *rets,
    struct job_origin *const *origins)
{
	yaml_node_t *k, *vv;
	const char *t;
	size_t i;

	if (node_want(l, v, YAML_MAPPING_NODE, shape) < 0)
		return;
	for (MAP_EACH(l, v, pair, k, vv)) {
		t = node_scalar(k);
		for (i = 0; keys[i] != NULL; i++)
			if (t != NULL && strcmp(t, keys[i]) == 0)
				break;
		if (keys[i] != NULL && node_string(l, vv, rets[i]) == 0 &&
		    origins != NULL)
			*origins[i] =
			    node_origin(l, vv, JOB_LEVEL_DAEMON, NULL);
		else if (keys[i] == NULL)
			node_unknown_key(l, k, what, keys);
	}
}

static void
parse_control(struct job_loader *l, yaml_node_t *v)
{
	static const char *const keys[] = { "socket", "group", "acl", NULL };
	struct job_daemon *d = &l->set->daemon;
	yaml_node_t *k, *vv;
	const char *t;

	if (node_want(
		l, v, YAML_MAPPING_NODE, "a mapping {socket, group, acl}") < 0)
		return;
	for (MAP_EACH(l, v, pair, k, vv)) {
		t = node_scalar(k);
		if (t != NULL && strcmp(t, "socket") == 0)
			node_string(l, vv, &d->socket_path);
		else if (t != NULL && strcmp(t, "group") == 0)
			node_string(l, vv, &d->socket_group);
		else if (t != NULL && strcmp(t, "acl") == 0)
			parse_acl(l, vv);
		else
			node_unknown_key(l, k, "control", keys);
	}
}

static void
parse_defaults(struct job_loader *l, yaml_node_t *v)
{
	yaml_node_t *k, *vv;

	if (node_want(
		l, v, YAML_MAPPING_NODE, "a mapping of rotation settings") < 0)
		return;
	for (MAP_EACH(l, v, pair, k, vv))
		if (!setting_parse(l, k, vv, &l->set->daemon.defaults,
			JOB_LEVEL_DAEMON, NULL))
			node_unknown_key(l, k, "defaults", setting_names);
}

static void
parse_daemon(struct job_loader *l, yaml_node_t *root, const char *dir)
{
	static const char *const store_keys[] = { "path", "key_file", NULL };
	static const char *const metrics_keys[] = { "textfile", NULL };
	static const char *const worker_keys[] = { "path", "user", NULL };
	struct job_daemon *d = &l->set->daemon;
	char **const store_rets[] = { &d->store_path, &d->key_file };
	char **const metrics_rets[] = { &d->metrics_textfile };
	char **const worker_rets[] = { &d->worker_path, &d->worker_user };
	struct job_origin *const store_at[] = { &d->store_path_origin,
		&d->key_file_origin };
	struct job_origin *const worker_at[] = { &d->worker_path_origin,
		&d->worker_user_origin };
	yaml_node_t *k, *v;
	const char *s;

	if (root->type != YAML_MAPPING_NODE) {
		ERR(l, root,
		    "rotad.yaml is a mapping of daemon settings, found %s",
		    node_type_name(root));
		return;
	}
	for (MAP_EACH(l, root, pair, k, v)) {
		if (node_duplicate_key(l, root, pair, k))
			continue;
		s = node_scalar(k);
		if (s == NULL)
			node_unknown_key(l, k, "rotad.yaml", daemon_keys);
		else if (strcmp(s, "conf_dir") == 0)
			parse_conf_dir(l, v, dir);
		else if (strcmp(s, "store") == 0)
			parse_strings(l, v, "store",
			    "a mapping {path, key_file}", store_keys,
			    store_rets, store_at);
		else if (strcmp(s, "min_interval") == 0)
			node_duration(l, v, 1, &d->min_interval);
		else if (strcmp(s, "max_workers") == 0)
			node_int(l, v, 1, 1024, &d->max_workers);
		else if (strcmp(s, "control") == 0)
			parse_control(l, v);
		else if (strcmp(s, "metrics") == 0)
			parse_strings(l, v, "metrics", "a mapping {textfile}",
			    metrics_keys, metrics_rets, NULL);
		else if (strcmp(s, "worker") == 0)
			parse_strings(l, v, "worker", "a mapping {path, user}",
			    worker_keys, worker_rets, worker_at);
		else if (strcmp(s, "defaults") == 0)
			parse_defaults(l, v);
		else if (strcmp(s, "events") == 0)
			sinkconf_parse(l, v);
		else
			node_unknown_key(l, k, "rotad.yaml", daemon_keys);
	}
}

void
parse_daemon_text(
    struct job_loader *l, const char *text, size_t len, const char *dir)
{
	yaml_node_t *root;

	if (load_yaml(l, text, len) < 0)
		return;
	root = yaml_document_get_root_node(l->doc);
	if (root != NULL)
		parse_daemon(l, root, dir);
	node_done(l);
	l->doc = NULL;
}
