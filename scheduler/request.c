/*
 * request.c: what a worker is told (see request.h).
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "catalog.h"
#include "jobs.h"
#include "request.h"
#include "script_input.h"
#include "secret.h"
#include "store.h"
#include "wire.h"

const char *
request_slot_name(enum store_slot slot)
{
	return slot == STORE_PENDING ? "pending"
	    : slot == STORE_CURRENT  ? "current"
				     : "previous";
}

/*
 * The admin's login and current secret into Q, for an apply: its password
 * (which, for ssh, may itself be a private key an operator seeded), else
 * the SSH key it rotates (NAME/private_key).
 */
static int
add_admin(struct store *st, const struct job_resource *res,
    const char *admin_login, struct wire_request *q, char *msg, size_t size)
{
	char key[STORE_USER_MAX + 1];

	if (admin_login == NULL) {
		snprintf(
		    msg, size, "admin user %s is not loaded", res->admin_user);
		return -ENOENT;
	}
	q->admin_login = (char *)admin_login; /* only read, encoding */
	if (store_secret_get(
		st, res->admin_user, STORE_CURRENT, &q->admin, NULL) == 0)
		return 0;
	snprintf(key, sizeof(key), "%s/private_key", res->admin_user);
	if (store_secret_get(st, key, STORE_CURRENT, &q->admin, NULL) == 0)
		return 0;
	snprintf(msg, size,
	    "no current secret for admin user %s (set it with rotactl secret "
	    "set %s)",
	    res->admin_user, res->admin_user);
	return -ENOENT;
}

/* The passphrase of WHO's current key into Q, when the store has one. */
static void
add_passphrase(
    struct store *st, const struct request_subject *who, struct wire_request *q)
{
	char name[STORE_USER_MAX + 1];

	q->private_key = true;
	if (snprintf(name, sizeof(name), "%s_passphrase", who->name) >=
	    (int)sizeof(name))
		return;
	(void)store_secret_get(st, name, STORE_CURRENT, &q->passphrase, NULL);
}

/*
 * The resource's settings that its provider's worker takes (the catalog's
 * CATALOG_KEY_WORKER keys) into Q's parameters, V holding
 * WIRE_PARAMS_MAX.  jobs/ checked each against the catalog, and the worker
 * checks them again.  0, or -E2BIG when a descriptor declares more worker
 * keys than the wire carries.
 */
static int
worker_params(const struct job_resource *res, struct wire_param *v,
    struct wire_request *q)
{
	size_t i, n = 0;

	for (i = 0; i < res->nparams; i++) {
		if (!(res->params[i].key->flags & CATALOG_KEY_WORKER))
			continue;
		if (n == WIRE_PARAMS_MAX)
			return -E2BIG;
		v[n].key = (char *)res->params[i].key->name;
		v[n].value = res->params[i].value;
		n++;
	}
	q->params = v;
	q->nparams = n;
	return 0;
}

/* Whether RES learns its host key on first use (ssh's tofu). */
static bool
tofu(const struct job_resource *res)
{
	const char *wk = res->provider->one_of_waiver_key, *v;

	if (wk == NULL || (v = jobs_param_value(res, wk)) == NULL)
		return false;
	return strcmp(v, res->provider->one_of_waiver_value) == 0;
}

/* The store's name of the host key RES learnt, into NAME. */
static int
tofu_name(const struct job_resource *res, char *name, size_t size)
{
	if ((size_t)snprintf(name, size, CATALOG_TOFU_PREFIX "%s", res->name) >=
	    size)
		return -ENAMETOOLONG;
	return 0;
}

/*
 * The host key RES learnt on first use, as a host_key parameter into Q's
 * parameters V (WIRE_PARAMS_MAX), its value in BUF: then the worker
 * requires it.  Without a record the worker learns it (facts).
 */
static void
add_tofu(struct store *st, const struct job_resource *res, struct wire_param *v,
    struct wire_request *q, char *buf, size_t size)
{
	char name[STORE_USER_MAX + 1];
	struct secret *fp = NULL;

	if (!tofu(res) || q->nparams == WIRE_PARAMS_MAX ||
	    tofu_name(res, name, sizeof(name)) < 0 ||
	    store_secret_get(st, name, STORE_CURRENT, &fp, NULL) < 0)
		return;
	if (secret_len(fp) < size) {
		memcpy(buf, secret_data(fp), secret_len(fp));
		buf[secret_len(fp)] = '\0';
		v[q->nparams].key = "host_key";
		v[q->nparams].value = buf;
		q->nparams++;
	}
	secret_free(fp);
}

/* Whether S is a fingerprint as ssh-keygen -l -E sha256 prints it. */
static bool
fingerprint_ok(const char *s, size_t len)
{
	size_t i;

	if (len != 7 + 43 || strncmp(s, "SHA256:", 7) != 0)
		return false;
	for (i = 7; i < len; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '+' && s[i] != '/')
			return false;
	return true;
}

int
request_tofu_learnt(struct store *st, const struct job_resource *res,
    const char *facts, char *fp, size_t size)
{
	char name[STORE_USER_MAX + 1];
	struct secret *v = NULL;
	const char *p, *end;
	size_t len;
	int rc;

	if (res == NULL || !tofu(res) || facts == NULL)
		return 0;
	for (p = facts; *p != '\0'; p = *end != '\0' ? end + 1 : end) {
		end = strchrnul(p, '\n');
		if (strncmp(p, "host_key=", 9) != 0)
			continue;
		len = (size_t)(end - p) - 9;
		if (!fingerprint_ok(p + 9, len) || len >= size)
			return -EINVAL;
		memcpy(fp, p + 9, len);
		fp[len] = '\0';
		if (tofu_name(res, name, sizeof(name)) < 0)
			return -ENAMETOOLONG;
		/* The first record wins: a key seen later by another run
		 * does not replace it (that run's worker required none). */
		if (store_secret_get(st, name, STORE_CURRENT, &v, NULL) == 0) {
			secret_free(v);
			return 0;
		}
		if ((rc = secret_new(fp, len, &v)) < 0)
			return rc;
		rc = store_secret_seed(st, name, v, (int64_t)time(NULL), NULL);
		secret_free(v);
		return rc < 0 ? rc : 1;
	}
	return 0;
}

int
request_step(struct store *st, const struct request_subject *who,
    const char *admin_login, enum wire_op op, enum store_slot slot,
    const char *test_action, struct secret **ret, char *msg, size_t size)
{
	const struct job_user *u = who->u;
	const struct job_resource *res = u->resource;
	struct wire_param params[WIRE_PARAMS_MAX];
	struct wire_request q;
	char learnt[64];
	int rc;

	/* The strings are the job set's: borrowed for the encoding only. */
	memset(&q, 0, sizeof(q));
	q.op = op;
	q.provider = (char *)res->provider->name;
	q.host = res->host;
	q.port = res->port;
	q.login = u->login;
	q.dn = u->dn;
	q.tls_ca_file = res->tls_ca_file;
	q.tls_verify = res->tls_verify;
	q.tls_disabled = !res->tls_enabled;
	q.timeout = (int)u->settings.timeout;
	q.test_action = (char *)test_action;
	if ((rc = worker_params(res, params, &q)) < 0) {
		snprintf(msg, size, "more settings than a request carries");
		goto out;
	}
	add_tofu(st, res, params, &q, learnt, sizeof(learnt));
	rc = store_secret_get(st, who->name, slot, &q.new_secret, NULL);
	if (rc < 0) {
		/* Only an operator can give a current secret (a verify, a
		 * first rotation): say how. */
		if (slot == STORE_CURRENT)
			snprintf(msg, size,
			    "no current secret for %s (set it with rotactl "
			    "secret set %s)",
			    who->name, who->name);
		else
			snprintf(msg, size, "no %s secret for %s",
			    request_slot_name(slot), who->name);
		goto out;
	}
	if (who->private_key)
		add_passphrase(st, who, &q);
	if (op == WIRE_OP_APPLY) {
		/* For a self-change; absent for a new account. */
		(void)store_secret_get(
		    st, who->name, STORE_CURRENT, &q.current, NULL);
		if (res->admin_user != NULL &&
		    (rc = add_admin(st, res, admin_login, &q, msg, size)) < 0)
			goto out;
	}
	rc = wire_request_encode(&q, ret);
	if (rc < 0)
		snprintf(msg, size, "encoding the request: %s", strerror(-rc));
out:
	secret_free(q.new_secret);
	secret_free(q.current);
	secret_free(q.admin);
	secret_free(q.passphrase);
	return rc;
}

/*
 * Keeper's input for U: its records (the user, its resource, its
 * configuration) and NEW and OLD as the passwords, into *ret.
 */
static int
keeper_input(const struct job_user *u, const struct secret *new,
    const struct secret *old, bool private_key, struct secret **ret)
{
	static const char *const user_labels[] = { "login", "dn" };
	static const char *const res_labels[] = { "host", "port", "database" };
	const struct job_resource *res = u->resource;
	const struct job_configuration *conf = u->configuration;
	const char *user_values[2], *res_values[3], *db;
	struct script_record rec[3];
	struct script_input in;
	char port[16];
	size_t nrec = 0;

	memset(&in, 0, sizeof(in));
	user_values[0] = u->login != NULL ? u->login : "";
	user_values[1] = u->dn != NULL ? u->dn : "";
	rec[nrec++] = (struct script_record){ u->name, u->name, user_labels,
		user_values, 2 };
	if (res != NULL) {
		snprintf(port, sizeof(port), "%d", res->port);
		db = jobs_param_value(res, "database");
		res_values[0] = res->host != NULL ? res->host : "";
		res_values[1] = port;
		res_values[2] = db != NULL ? db : "";
		rec[nrec++] = (struct script_record){ res->name, res->name,
			res_labels, res_values, 3 };
	}
	if (conf != NULL)
		rec[nrec++] = (struct script_record){ conf->name, conf->name,
			NULL, NULL, 0 };
	in.provider_uid = conf != NULL ? conf->name : "";
	in.resource_uid = res != NULL ? res->name : "";
	in.user_uid = u->name;
	in.user = u->login != NULL ? u->login : "";
	in.new_password = new;
	in.old_password = old;
	in.private_key = private_key;
	in.records = rec;
	in.nrecords = nrec;
	return script_input_build(&in, ret);
}

int
request_script(struct store *st, const struct request_subject *who,
    const char *provider, const struct job_script *sc, enum store_slot new_slot,
    enum store_slot old_slot, struct secret **ret, char *msg, size_t size)
{
	const struct job_user *u = who->u;
	struct wire_request q;
	int rc;

	memset(&q, 0, sizeof(q));
	rc = store_secret_get(st, who->name, new_slot, &q.new_secret, NULL);
	if (rc < 0) {
		snprintf(msg, size, "no %s secret for %s",
		    request_slot_name(new_slot), who->name);
		goto out;
	}
	(void)store_secret_get(st, who->name, old_slot, &q.current, NULL);
	rc = keeper_input(
	    u, q.new_secret, q.current, who->private_key, &q.script_input);
	if (rc < 0) {
		snprintf(msg, size, "the script's input: %s", strerror(-rc));
		goto out;
	}
	q.op = WIRE_OP_SCRIPT;
	q.provider = (char *)provider;
	q.login = u->login;
	q.script_path = sc->path;
	q.script_command = sc->command;
	q.timeout = (int)u->settings.timeout;
	rc = wire_request_encode(&q, ret);
	if (rc < 0)
		snprintf(msg, size, "encoding the request: %s", strerror(-rc));
out:
	secret_free(q.new_secret);
	secret_free(q.current);
	secret_free(q.script_input);
	return rc;
}
