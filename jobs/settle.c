/*
 * settle.c: pass 2 of loading, checks across files.
 *
 * Drop every file with an error, then check names across files
 * (duplicates), references (resource, configuration, admin_user), and each
 * user's resolved settings; a problem marks the file that holds it, and
 * the pass repeats until no new file fails, because dropping one file can
 * break another's references (the message then names the file at fault).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catalog.h"
#include "jobs-internal.h"
#include "schedule.h"
#include "xalloc.h"

/* How far ahead min_interval is checked: enough fires to see every daily,
 * weekly and DST pattern, few enough to stay fast with 100k users. */
#define INTERVAL_CHECK_FIRES 400

/*
 * The shortest gap between fires of S, or INT64_MAX: over the next fires
 * from NOW and from half a year later, so that both of a year's
 * daylight-saving changes (which can bring fires closer) are seen.
 */
static int64_t
shortest_gap(const struct schedule *s, int64_t now)
{
	int64_t t, prev, gap = INT64_MAX;
	int i, half;

	for (half = 0; half < 2; half++) {
		t = now + half * 182 * 86400;
		if (schedule_next(s, t, &t) < 0)
			continue;
		for (i = 0; i < INTERVAL_CHECK_FIRES / 2; i++) {
			prev = t;
			if (schedule_next(s, prev, &t) < 0)
				break;
			if (t - prev < gap)
				gap = t - prev;
		}
	}
	return gap;
}

/* ---- finding objects by name ---- */

static const char *
object_name(const struct object *o)
{
	return o->type == OBJ_CONFIGURATION
	    ? ((struct job_configuration *)o->p)->name
	    : o->type == OBJ_RESOURCE ? ((struct job_resource *)o->p)->name
				      : ((struct job_user *)o->p)->name;
}

static size_t
name_hash(int type, const char *name)
{
	return jobs_hash((size_t)type, name);
}

/* The slot of (TYPE, NAME): its first object + 1, or 0 when absent. */
static size_t
slot_find(const struct job_loader *l, int type, const char *name)
{
	size_t i, o;

	if (l->nslots == 0)
		return 0;
	for (i = name_hash(type, name) & (l->nslots - 1);
	     (o = l->slots[i]) != 0; i = (i + 1) & (l->nslots - 1))
		if ((int)l->objs[o - 1].type == type &&
		    strcmp(object_name(&l->objs[o - 1]), name) == 0)
			return o;
	return 0;
}

static void
slot_put(struct job_loader *l, size_t o)
{
	const struct object *obj = &l->objs[o - 1];
	size_t i, last;

	for (i = name_hash((int)obj->type, object_name(obj)) & (l->nslots - 1);
	     l->slots[i] != 0; i = (i + 1) & (l->nslots - 1)) {
		const struct object *f = &l->objs[l->slots[i] - 1];

		if (f->type == obj->type &&
		    strcmp(object_name(f), object_name(obj)) == 0) {
			/* Same name: chain it after the others. */
			for (last = l->slots[i]; l->same_next[last - 1] != 0;
			     last = l->same_next[last - 1])
				;
			l->same_next[last - 1] = o;
			return;
		}
	}
	l->slots[i] = o;
}

/* Index the objects parsed since the last find(). */
static void
index_objects(struct job_loader *l)
{
	size_t i, cap;

	if (l->nindexed == l->nobjs)
		return;
	if (l->same_cap < l->nobjs) {
		cap = l->nobjs * 2;
		l->same_next = xreallocarray(l->same_next, cap, sizeof(size_t));
		l->same_cap = cap;
	}
	if (l->nslots < l->nobjs * 2) {
		for (cap = 64; cap < l->nobjs * 4; cap *= 2)
			;
		free(l->slots);
		l->slots = xcalloc(cap, sizeof(size_t));
		l->nslots = cap;
		l->nindexed = 0; /* rehash everything */
	}
	for (i = l->nindexed; i < l->nobjs; i++) {
		l->same_next[i] = 0;
		slot_put(l, i + 1);
	}
	l->nindexed = l->nobjs;
}

/*
 * The shortest gap between fires of S, written TEXT (see shortest_gap()),
 * computed once per text: many users share a schedule.
 */
static int64_t
exact_gap(struct job_loader *l, const struct schedule *s, const char *text)
{
	struct gap_memo *old = l->gaps;
	size_t i, j, cap = l->gaps_cap;

	if (l->ngaps * 2 >= l->gaps_cap) {
		l->gaps_cap = cap == 0 ? 64 : cap * 2;
		l->gaps = xcalloc(l->gaps_cap, sizeof(*l->gaps));
		for (i = 0; i < cap; i++) {
			if (old[i].text == NULL)
				continue;
			for (j = name_hash(0, old[i].text) & (l->gaps_cap - 1);
			     l->gaps[j].text != NULL;
			     j = (j + 1) & (l->gaps_cap - 1))
				;
			l->gaps[j] = old[i];
		}
		free(old);
	}
	for (j = name_hash(0, text) & (l->gaps_cap - 1);
	     l->gaps[j].text != NULL; j = (j + 1) & (l->gaps_cap - 1))
		if (strcmp(l->gaps[j].text, text) == 0)
			return l->gaps[j].gap;
	l->gaps[j].text = text;
	l->gaps[j].gap = shortest_gap(s, l->now);
	l->ngaps++;
	return l->gaps[j].gap;
}

/*
 * The object of TYPE called NAME: a live one if there is one, else one in
 * a file that has been left out (so that a reference to it can say why it
 * does not resolve, rather than that it does not exist).
 */
static struct object *
find(struct job_loader *l, int type, const char *name)
{
	struct object *dropped = NULL;
	size_t i;

	index_objects(l);
	for (i = slot_find(l, type, name); i != 0; i = l->same_next[i - 1]) {
		struct object *o = &l->objs[i - 1];

		if (!o->dropped)
			return o;
		if (dropped == NULL)
			dropped = o;
	}
	return dropped;
}

/*
 * Whether object O may refer to TARGET.  A live object may not refer to a
 * left-out one: that is an error, which names the file at fault.  A
 * left-out object is only being checked for its own mistakes.
 */
static bool
reference_ok(struct job_loader *l, const struct object *o,
    const struct object *target, const struct job_origin *at, const char *what,
    const char *name)
{
	const char *kind = o->type == OBJ_USER ? "user" : "resource";
	const char *self = o->type == OBJ_USER
	    ? ((struct job_user *)o->p)->name
	    : ((struct job_resource *)o->p)->name;

	if (target == NULL) {
		jobs_error_at(l, o->file, at->line, at->column,
		    "%s %s: no %s "
		    "named '%s'",
		    kind, self, what, name);
		return false;
	}
	if (target->dropped && !o->dropped) {
		jobs_error_at(l, o->file, at->line, at->column,
		    "%s %s: %s '%s' is "
		    "in %s, which is left out for its errors",
		    kind, self, what, name, l->set->files[target->file]);
		return false;
	}
	return true;
}

static void error_origin(struct job_loader *l, const struct job_origin *o,
    size_t file, const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void
error_origin(struct job_loader *l, const struct job_origin *o, size_t file,
    const char *fmt, ...)
{
	va_list ap;
	char *msg;

	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		xalloc_fail();
	va_end(ap);
	jobs_error_at(l, file, o->line, o->column, "%s", msg);
	free(msg);
}

/* ---- the checks ---- */

static void
settle_configuration(struct job_loader *l, struct object *o)
{
	struct job_configuration *c = o->p, *c2;
	struct object *other;

	other = find(l, OBJ_CONFIGURATION, c->name);
	if (other != NULL && other != o && !other->dropped) {
		c2 = other->p;
		error_origin(l, &c->origin, o->file,
		    "configuration '%s' is already defined at %s:%d:%d",
		    c->name, c2->origin.file, c2->origin.line,
		    c2->origin.column);
	}
}

/*
 * Resource R's protocol when it gives none: its port in its
 * configuration's port map, else in the built-in one (the default ports
 * of the protocols whose provider serves R's kind).  -EINVAL, with the
 * error recorded, when neither knows the port.
 */
static int
resource_mapped_protocol(
    struct job_loader *l, struct object *o, struct job_resource *r)
{
	const struct catalog_provider *const *p;
	const struct catalog_protocol *pr;
	const struct job_configuration *c = r->configuration;
	const char *name = NULL;
	bool mapped = false;
	size_t i;

	if (c != NULL)
		for (i = 0; i < c->nports; i++)
			if (c->ports[i].port == r->port) {
				name = c->ports[i].protocol;
				mapped = true;
			}
	for (p = catalog_list(); name == NULL && *p != NULL; p++)
		for (pr = (*p)->protocols; !(*p)->internal && pr->name != NULL;
		     pr++)
			if (pr->port == r->port &&
			    (*p)->kinds & (1u << r->kind) && name == NULL)
				name = pr->name;
	if (name == NULL) {
		error_origin(l, &r->origin, o->file,
		    "resource %s: cannot tell the protocol of port %d: set "
		    "protocol:, or map the port in its configuration's "
		    "port_map",
		    r->name, r->port);
		return -EINVAL;
	}
	r->protocol = xstrdup(name);
	r->protocol_origin =
	    (struct job_origin){ .level = mapped ? JOB_LEVEL_CONFIGURATION
						 : JOB_LEVEL_BUILTIN,
		    .owner = mapped ? c->name : NULL };
	return 0;
}

/* Resource R's references: its configuration and its admin user. */
static int
resource_references(
    struct job_loader *l, struct object *o, struct job_resource *r)
{
	struct object *other;

	r->configuration = NULL;
	if (r->configuration_name != NULL) {
		other = find(l, OBJ_CONFIGURATION, r->configuration_name);
		if (!reference_ok(l, o, other, &r->origin, "configuration",
			r->configuration_name))
			return -EINVAL;
		r->configuration = other->p;
	}
	if (r->admin_user != NULL &&
	    !reference_ok(l, o, find(l, OBJ_USER, r->admin_user), &r->origin,
		"user (admin_user)", r->admin_user))
		return -EINVAL;
	return 0;
}

/* The provider, other than P, that takes key NAME, or NULL. */
static const struct catalog_provider *
key_owner(const struct catalog_provider *p, const char *name)
{
	const struct catalog_provider *const *q;

	for (q = catalog_list(); *q != NULL; q++)
		if (*q != p && !(*q)->internal && catalog_key_find(*q, name))
			return *q;
	return NULL;
}

/* Complain about key RAW, which R's provider does not take. */
static void
unknown_param(struct job_loader *l, struct object *o,
    const struct job_resource *r, const struct raw_param *raw)
{
	const char *names[128], *m;
	const struct catalog_provider *owner;
	const struct catalog_key *k;
	size_t n = 0, i;

	owner = key_owner(r->provider, raw->name);
	if (owner != NULL) {
		error_origin(l, &raw->key_at, o->file,
		    "resource %s: %s is for protocol %s, not %s", r->name,
		    raw->name, owner->protocols[0].name, r->protocol);
		return;
	}
	for (i = 0; jobs_resource_keys[i] != NULL && n < 96; i++)
		names[n++] = jobs_resource_keys[i];
	for (k = r->provider->keys; k->name != NULL && n < 127; k++)
		names[n++] = k->name;
	names[n] = NULL;
	m = node_did_you_mean(raw->name, names);
	error_origin(l, &raw->key_at, o->file,
	    "unknown key '%s' in a resource of protocol %s%s%s%s", raw->name,
	    r->protocol, m != NULL ? " (did you mean '" : "",
	    m != NULL ? m : "", m != NULL ? "'?)" : "");
}

/* Check RAW against its key K and keep it as one of R's params. */
static int
take_param(struct job_loader *l, struct object *o, struct job_resource *r,
    struct raw_param *raw, const struct catalog_key *k)
{
	struct job_param *p;
	char why[256];

	if (raw->mapping && k->type != CATALOG_SCRIPT) {
		error_origin(l, &raw->origin, o->file,
		    "%s: expected a value, found a mapping", k->name);
		return -EINVAL;
	}
	if (raw->value == NULL) {
		error_origin(l, &raw->origin, o->file, "a script needs path");
		return -EINVAL;
	}
	if (catalog_check_value(k, raw->value, why, sizeof(why)) < 0) {
		error_origin(l, &raw->origin, o->file, "%s: %s", k->name, why);
		return -EINVAL;
	}
	if (k->type == CATALOG_SCRIPT &&
	    (!jobs_trusted(l, &raw->origin, o->file, k->name, raw->value) ||
		!jobs_trusted(
		    l, &raw->origin, o->file, "command", raw->command)))
		return -EINVAL;
	p = PUSH(r->params, r->nparams);
	p->key = k;
	p->value = raw->value;
	p->origin = raw->origin;
	p->script.path = raw->value;
	p->script.command = raw->command;
	p->script.origin = raw->origin;
	raw->value = raw->command = NULL; /* the param's now */
	return 0;
}

/*
 * Check object O's keys as written against its provider's descriptor,
 * and keep them as resource R's params; then its required keys.  Done
 * once: the raw keys are gone afterwards.
 */
/*
 * The provider's CATALOG_KEY_ONE_OF keys: exactly one given.  0, or
 * -EINVAL with the error reported, naming the set ("known_hosts or
 * host_key").
 */
static int
one_of(struct job_loader *l, struct object *o, struct job_resource *r)
{
	const struct catalog_key *k;
	const char *wk = r->provider->one_of_waiver_key, *wv;
	char names[256];
	size_t len = 0, nset = 0, ngiven = 0, i = 0;

	for (k = r->provider->keys; k->name != NULL; k++)
		if (k->flags & CATALOG_KEY_ONE_OF) {
			nset++;
			ngiven += jobs_param(r, k->name) != NULL;
		}
	wv = wk != NULL ? jobs_param_value(r, wk) : NULL;
	if (wv != NULL && strcmp(wv, r->provider->one_of_waiver_value) == 0) {
		if (ngiven == 0)
			return 0;
		error_origin(l, &r->origin, o->file,
		    "resource %s: %s: %s takes none of the keys it learns "
		    "(%zu given)",
		    r->name, wk, wv, ngiven);
		return -EINVAL;
	}
	if (nset == 0 || ngiven == 1)
		return 0;
	for (k = r->provider->keys; k->name != NULL; k++)
		if (k->flags & CATALOG_KEY_ONE_OF && len < sizeof(names))
			len += (size_t)snprintf(names + len,
			    sizeof(names) - len, "%s%s",
			    i++ == 0 ? "" : (i == nset ? " or " : ", "),
			    k->name);
	error_origin(l, &r->origin, o->file,
	    "resource %s: protocol %s needs exactly one of %s (%zu given)",
	    r->name, r->protocol, names, ngiven);
	return -EINVAL;
}

static int
resource_params(struct job_loader *l, struct object *o, struct job_resource *r)
{
	const struct catalog_key *k;
	char missing[256];
	size_t i, len = 0;
	int rc = 0, nmissing = 0;

	for (i = 0; i < o->nraw; i++) {
		k = catalog_key_find(r->provider, o->raw[i].name);
		if (k == NULL) {
			unknown_param(l, o, r, &o->raw[i]);
			rc = -EINVAL;
		} else if (take_param(l, o, r, &o->raw[i], k) < 0) {
			rc = -EINVAL;
		}
	}
	jobs_raw_params_free(o);
	if (rc < 0)
		return rc;
	/* "a", "a and b", "a, b and c" */
	for (k = r->provider->keys; k->name != NULL; k++)
		if (k->flags & CATALOG_KEY_REQUIRED &&
		    jobs_param(r, k->name) == NULL)
			nmissing++;
	for (k = r->provider->keys; k->name != NULL && nmissing > 0; k++)
		if (k->flags & CATALOG_KEY_REQUIRED &&
		    jobs_param(r, k->name) == NULL && len < sizeof(missing)) {
			nmissing--;
			len += (size_t)snprintf(missing + len,
			    sizeof(missing) - len, "%s%s", k->name,
			    nmissing == 0       ? ""
				: nmissing == 1 ? " and "
						: ", ");
		}
	if (len == 0)
		return one_of(l, o, r);
	error_origin(l, &r->origin, o->file,
	    "resource %s: protocol %s needs %s", r->name, r->protocol, missing);
	return -EINVAL;
}

/* Resource R's provider, from its protocol, and its params checked.
 * An unknown protocol has been reported by parse.c. */
static int
resource_provider(
    struct job_loader *l, struct object *o, struct job_resource *r)
{
	r->provider = catalog_find_protocol(r->protocol, &r->default_port);
	if (r->provider == NULL)
		return 0;
	return resource_params(l, o, r);
}

/* "machine", "database or directory", ... of the kinds in KINDS. */
static void
kinds_text(unsigned kinds, char *buf, size_t size)
{
	size_t i, len = 0, n = 0, left;

	buf[0] = '\0';
	for (i = 0; jobs_kind_names[i] != NULL; i++)
		n += (kinds >> i) & 1;
	left = n;
	for (i = 0; jobs_kind_names[i] != NULL && len < size; i++)
		if (kinds & (1u << i)) {
			left--;
			len += (size_t)snprintf(buf + len, size - len, "%s%s",
			    jobs_kind_names[i],
			    left == 0       ? ""
				: left == 1 ? " or "
					    : ", ");
		}
}

/* What a resource with a provider must be. */
static void
resource_fit(struct job_loader *l, struct object *o, struct job_resource *r)
{
	const struct catalog_provider *p = r->provider;
	char kinds[128];

	if (!(p->kinds & (1u << r->kind))) {
		kinds_text(p->kinds, kinds, sizeof(kinds));
		error_origin(l,
		    r->protocol_origin.file != NULL ? &r->protocol_origin
						    : &r->origin,
		    o->file,
		    "resource %s: protocol %s does not fit kind %s (it is for "
		    "a %s)",
		    r->name, r->protocol, jobs_kind_names[r->kind], kinds);
		return;
	}
	if (r->host == NULL && !(p->caps & CATALOG_CAP_NO_HOST)) {
		error_origin(
		    l, &r->origin, o->file, "resource %s needs host", r->name);
		return;
	}
	if (r->port == 0)
		r->port = r->default_port;
	if (r->max_concurrent == 0)
		r->max_concurrent = r->kind == JOB_MACHINE ? 8 : 2;
	if (!(p->caps & CATALOG_CAP_BATCH)) {
		if (r->batch > 1) {
			error_origin(l, &r->origin, o->file,
			    "resource %s: batch: %d, but provider %s takes one "
			    "user a worker (batch: 1 or none)",
			    r->name, r->batch, p->name);
			return;
		}
		r->batch = 1;
	} else if (r->batch == 0)
		r->batch = JOB_BATCH_DEFAULT;
}

static void
settle_resource(struct job_loader *l, struct object *o)
{
	struct job_resource *r = o->p, *r2;
	struct object *other;

	other = find(l, OBJ_RESOURCE, r->name);
	if (other != NULL && other != o && !other->dropped) {
		r2 = other->p;
		error_origin(l, &r->origin, o->file,
		    "resource '%s' is already defined at %s:%d:%d", r->name,
		    r2->origin.file, r2->origin.line, r2->origin.column);
		return;
	}
	/* An explicit protocol's keys are checked before the references,
	 * which they do not need, so that -n reports both. */
	if (r->protocol != NULL && resource_provider(l, o, r) < 0)
		return;
	if (resource_references(l, o, r) < 0)
		return;
	if (r->protocol == NULL) {
		if (r->port == 0) {
			error_origin(l, &r->origin, o->file,
			    "resource %s needs port or protocol", r->name);
			return;
		}
		if (resource_mapped_protocol(l, o, r) < 0 ||
		    resource_provider(l, o, r) < 0)
			return;
	}
	if (r->provider != NULL)
		resource_fit(l, o, r);
}

/* User U's references, and its settings resolved along its chain. */
static int
user_resolve(struct job_loader *l, struct object *o, struct job_user *u)
{
	struct job_settings *chain[4];
	struct object *other;
	size_t n = 0;

	u->resource = NULL;
	u->configuration = NULL;
	if (u->resource_name != NULL) {
		other = find(l, OBJ_RESOURCE, u->resource_name);
		if (!reference_ok(
			l, o, other, &u->origin, "resource", u->resource_name))
			return -EINVAL;
		u->resource = other->p;
	}
	if (u->configuration_name != NULL) {
		other = find(l, OBJ_CONFIGURATION, u->configuration_name);
		if (!reference_ok(l, o, other, &u->origin, "configuration",
			u->configuration_name))
			return -EINVAL;
		u->configuration = other->p;
	} else if (u->resource != NULL) {
		u->configuration = u->resource->configuration;
	}
	if (u->resource != NULL)
		chain[n++] = &u->resource->settings;
	if (u->configuration != NULL)
		chain[n++] = &u->configuration->settings;
	chain[n++] = &l->set->daemon.defaults;
	jobs_inherit(&u->settings, chain, n);
	return 0;
}

/* A managed user's schedule must not fire more often than min_interval. */
static void
user_interval(struct job_loader *l, struct object *o, struct job_user *u)
{
	int64_t gap = u->settings.schedule_gap,
		min = l->set->daemon.min_interval;
	char a[32], b[32];

	if (gap < min)
		gap = exact_gap(
		    l, u->settings.schedule, u->settings.schedule_text);
	if (gap >= min)
		return;
	jobs_format_duration(gap, a, sizeof(a));
	jobs_format_duration(min, b, sizeof(b));
	error_origin(l,
	    u->settings.schedule_origin.file != NULL
		? &u->settings.schedule_origin
		: &u->origin,
	    o->file,
	    "user %s: schedule fires every %s at times, more often than "
	    "min_interval %s (lower min_interval in rotad.yaml to allow it)",
	    u->name, a, b);
}

static void
settle_user(struct job_loader *l, struct object *o)
{
	struct job_user *u = o->p, *u2;
	struct object *other;

	other = find(l, OBJ_USER, u->name);
	if (other != NULL && other != o && !other->dropped) {
		u2 = other->p;
		error_origin(l, &u->origin, o->file,
		    "user '%s' is already defined at %s:%d:%d", u->name,
		    u2->origin.file, u2->origin.line, u2->origin.column);
		return;
	}
	if (user_resolve(l, o, u) < 0)
		return;
	if (u->settings.rotate & JOB_ROTATE_PRIVATE_KEY &&
	    u->resource != NULL && u->resource->kind != JOB_MACHINE)
		error_origin(l, &u->settings.rotate_origin, o->file,
		    "user %s: private keys rotate on machines only, and "
		    "resource %s is a %s",
		    u->name, u->resource->name,
		    jobs_kind_names[u->resource->kind]);
	else if (u->settings.rotate & JOB_ROTATE_PRIVATE_KEY &&
	    u->settings.private_key_rotate && u->resource != NULL &&
	    u->resource->provider != NULL &&
	    !(u->resource->provider->caps & CATALOG_CAP_KEY_MATERIAL))
		error_origin(l, &u->settings.rotate_origin, o->file,
		    "user %s: provider %s rotates passwords only, not SSH "
		    "keys (rotate: private_key needs protocol: ssh)",
		    u->name, u->resource->provider->name);
	if (u->managed)
		user_interval(l, o, u);
}

/* ---- one account, one user ---- */

/*
 * Two users that manage one account undo each other: each rotation sets a
 * password the other's stored one no longer matches, and the next
 * rotation of the other fails (or, with an admin credential, silently
 * takes the account back).  An account is a login, or a directory's dn,
 * on a server: the same resource, or two resources naming the same host,
 * port and protocol.  The second user in load order is refused, naming
 * the first.
 */

/* The accounts' keys of one pass, each NUL-terminated, one after the
 * other: no allocation per user. */
struct account_keys {
	char *text;
	size_t len, cap;
};

struct account_slot {
	size_t key; /* offset in account_keys.text; SIZE_MAX: empty */
	struct object *o;
};

static void
keys_append(struct account_keys *k, const char *s, size_t n)
{
	if (k->len + n > k->cap) {
		while (k->len + n > k->cap)
			k->cap = k->cap == 0 ? 4096 : k->cap * 2;
		k->text = xrealloc(k->text, k->cap);
	}
	memcpy(k->text + k->len, s, n);
	k->len += n;
}

static void
keys_puts(struct account_keys *k, const char *s)
{
	keys_append(k, s, strlen(s));
}

/*
 * U's account, its login or (DN) its dn, as a key appended to K:
 * "l<host>:<port>/<protocol>/<login>", or "l<resource>//<login>" for a
 * resource with no host ('d' and the dn for a dn, all in lower case).
 * The key's offset, or SIZE_MAX when U has no such account.
 */
static size_t
account_key(const struct job_user *u, bool dn, struct account_keys *k)
{
	const struct job_resource *r = u->resource;
	const char *who = dn ? u->dn : u->login;
	size_t start = k->len, i;
	char port[16];

	if (r == NULL || who == NULL || u->noop)
		return SIZE_MAX;
	keys_puts(k, dn ? "d" : "l");
	if (r->host != NULL) {
		keys_puts(k, r->host);
		keys_append(k, port,
		    (size_t)snprintf(port, sizeof(port), ":%d/", r->port));
		keys_puts(k, r->protocol != NULL ? r->protocol : "");
		keys_puts(k, "/");
	} else {
		keys_puts(k, r->name);
		keys_puts(k, "//");
	}
	keys_append(k, who, strlen(who) + 1);
	/* A dn is compared without case, as directories do. */
	if (dn)
		for (i = start; i < k->len; i++)
			if (k->text[i] >= 'A' && k->text[i] <= 'Z')
				k->text[i] = (char)(k->text[i] - 'A' + 'a');
	return start;
}

static void
account_conflicts(struct job_loader *l)
{
	struct account_keys keys = { 0 };
	struct account_slot *slots;
	struct job_user *u, *first;
	size_t i, n = 0, nslots = 16, h, key;
	int dn;

	for (i = 0; i < l->nobjs; i++)
		n += l->objs[i].type == OBJ_USER;
	while (nslots < 4 * n + 16)
		nslots <<= 1;
	slots = xreallocarray(NULL, nslots, sizeof(*slots));
	for (i = 0; i < nslots; i++)
		slots[i].key = SIZE_MAX;
	for (i = 0; i < l->nobjs; i++) {
		struct object *o = &l->objs[i];

		if (o->type != OBJ_USER || o->dropped || o->reported)
			continue;
		u = o->p;
		for (dn = 0; dn < 2; dn++) {
			if ((key = account_key(u, dn, &keys)) == SIZE_MAX)
				continue;
			h = name_hash(0, keys.text + key) & (nslots - 1);
			while (slots[h].key != SIZE_MAX &&
			    strcmp(keys.text + slots[h].key, keys.text + key) !=
				0)
				h = (h + 1) & (nslots - 1);
			if (slots[h].key == SIZE_MAX) {
				slots[h].key = key;
				slots[h].o = o;
				continue;
			}
			keys.len = key; /* the first one's is kept */
			first = slots[h].o->p;
			error_origin(l, &u->origin, o->file,
			    "user %s manages the same account as user %s at "
			    "%s:%d:%d (%s %s on resource %s%s%s): two users "
			    "rotating one account undo each other; keep one",
			    u->name, first->name, first->origin.file,
			    first->origin.line, first->origin.column,
			    dn ? "dn" : "login", dn ? u->dn : u->login,
			    u->resource->name,
			    u->resource != first->resource
				? ", the same server as "
				: "",
			    u->resource != first->resource
				? first->resource->name
				: "");
			o->reported = true;
			break;
		}
	}
	free(keys.text);
	free(slots);
}

static size_t
count_bad(const struct job_loader *l)
{
	size_t i, n = 0;

	for (i = 0; i < l->set->nfiles; i++)
		n += l->file_bad[i];
	return n;
}

/* Repeat until no new file fails: dropping one may break another's
 * references. */
void
settle_run(struct job_loader *l)
{
	struct object *o;
	size_t i, before, n;

	do {
		for (i = 0; i < l->nobjs; i++)
			if (l->file_bad[l->objs[i].file])
				l->objs[i].dropped = true;
		before = count_bad(l);
		for (i = 0; i < l->nobjs; i++) {
			o = &l->objs[i];
			n = l->set->nerrors;
			/* A dropped object is still checked once, so that
			 * `rotad -n` reports all of a bad file's errors; an
			 * object that has reported is not checked again. */
			if (o->reported)
				continue;
			if (o->type == OBJ_CONFIGURATION)
				settle_configuration(l, o);
			else if (o->type == OBJ_RESOURCE)
				settle_resource(l, o);
			else
				settle_user(l, o);
			if (o->dropped || l->set->nerrors != n)
				o->reported = true;
		}
		account_conflicts(l);
	} while (count_bad(l) != before);
}

void
settle_done(struct job_loader *l)
{
	free(l->slots);
	free(l->same_next);
	free(l->gaps);
	l->slots = l->same_next = NULL;
	l->gaps = NULL;
	l->nslots = l->nindexed = l->same_cap = l->ngaps = l->gaps_cap = 0;
}
