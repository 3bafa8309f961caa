/*
 * provider.c: what every provider shares: failing with a class and a
 * message, making a library's text fit a message or a fact, the worker's
 * clock, and what a batch's applies share (the admin session's key, the
 * refused admin logins).  Apart from the table (registry.c), so that a
 * provider's unit test links its file and this one, and no other
 * provider.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "provider.h"
#include "secret.h"

struct provider_admin_key {
	char *host; /* NULL for none, as in the request */
	int port;
	char *database; /* the parameter, NULL when not sent */
	char *tls_ca_file;
	bool tls_verify;
	bool tls_disabled;
	char *admin_login;
	struct secret *admin; /* the admin secret's bytes */
};

/* An admin login the server refused, and what the worker answered. */
struct refusal {
	struct provider_admin_key *key;
	char message[WIRE_MESSAGE_MAX];
};

/* The worker's start (mono_ms()), -1 until noted. */
static long long clock_started = -1;
/* The refused admin logins, in the order they were refused. */
static struct refusal *refusals;
static size_t nrefusals;

/* Milliseconds on CLOCK_MONOTONIC. */
static long long
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void
provider_clock_start(void)
{
	clock_started = mono_ms();
}

long long
provider_elapsed_ms(void)
{
	if (clock_started < 0)
		provider_clock_start();
	return mono_ms() - clock_started;
}

long long
provider_left_ms(int timeout)
{
	return (long long)timeout * 1000 - provider_elapsed_ms();
}

/* A copy of S, NULL for NULL.  0 or -ENOMEM. */
static int
dup_string(const char *s, char **ret)
{
	*ret = NULL;
	if (s != NULL && (*ret = strdup(s)) == NULL)
		return -ENOMEM;
	return 0;
}

static bool
same_string(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcmp(a, b) == 0;
}

int
provider_admin_key_new(
    const struct wire_request *req, struct provider_admin_key **ret)
{
	struct provider_admin_key *k;
	int r;

	*ret = NULL;
	if (req->admin_login == NULL || req->admin == NULL)
		return -EINVAL;
	if ((k = calloc(1, sizeof(*k))) == NULL)
		return -ENOMEM;
	k->port = req->port;
	k->tls_verify = req->tls_verify;
	k->tls_disabled = req->tls_disabled;
	if ((r = dup_string(req->host, &k->host)) < 0 ||
	    (r = dup_string(wire_param(req, "database"), &k->database)) < 0 ||
	    (r = dup_string(req->tls_ca_file, &k->tls_ca_file)) < 0 ||
	    (r = dup_string(req->admin_login, &k->admin_login)) < 0 ||
	    (r = secret_new(secret_data(req->admin), secret_len(req->admin),
		 &k->admin)) < 0) {
		provider_admin_key_free(k);
		return r;
	}
	*ret = k;
	return 0;
}

bool
provider_admin_key_match(
    const struct provider_admin_key *k, const struct wire_request *req)
{
	return k != NULL && req->admin != NULL && k->port == req->port &&
	    k->tls_verify == req->tls_verify &&
	    k->tls_disabled == req->tls_disabled &&
	    same_string(k->host, req->host) &&
	    same_string(k->database, wire_param(req, "database")) &&
	    same_string(k->tls_ca_file, req->tls_ca_file) &&
	    same_string(k->admin_login, req->admin_login) &&
	    secret_equal(k->admin, req->admin);
}

void
provider_admin_key_free(struct provider_admin_key *k)
{
	if (k == NULL)
		return;
	free(k->host);
	free(k->database);
	free(k->tls_ca_file);
	free(k->admin_login);
	secret_free(k->admin);
	free(k);
}

int
provider_refusal_note(
    const struct wire_request *req, const struct wire_response *res)
{
	struct provider_admin_key *k;
	struct refusal *v;
	int r;

	if ((r = provider_admin_key_new(req, &k)) < 0)
		return r;
	v = reallocarray(refusals, nrefusals + 1, sizeof(*v));
	if (v == NULL) {
		provider_admin_key_free(k);
		return -ENOMEM;
	}
	refusals = v;
	v[nrefusals].key = k;
	snprintf(v[nrefusals].message, sizeof(v[nrefusals].message), "%s",
	    res->message);
	nrefusals++;
	return 0;
}

bool
provider_refusal_recall(
    const struct wire_request *req, struct wire_response *res)
{
	size_t i;

	for (i = 0; i < nrefusals; i++) {
		if (!provider_admin_key_match(refusals[i].key, req))
			continue;
		/* Nothing was sent: the target is as it was. */
		res->untouched = true;
		provider_fail(res, WIRE_CLASS_AUTH,
		    "%s (refused earlier in this batch: not tried again)",
		    refusals[i].message);
		return true;
	}
	return false;
}

void
provider_refusals_free(void)
{
	size_t i;

	for (i = 0; i < nrefusals; i++)
		provider_admin_key_free(refusals[i].key);
	free(refusals);
	refusals = NULL;
	nrefusals = 0;
}

int
provider_fail(
    struct wire_response *res, enum wire_class class, const char *fmt, ...)
{
	va_list ap;

	res->class = class;
	va_start(ap, fmt);
	vsnprintf(res->message, sizeof(res->message), fmt, ap);
	va_end(ap);
	return -EIO;
}

void
provider_one_line(const char *text, char *out, size_t size)
{
	size_t n = 0;
	bool space = true;

	if (size == 0)
		return;
	for (; text != NULL && *text != '\0' && n + 1 < size; text++) {
		unsigned char c = (unsigned char)*text;

		if (c < 0x20 || c == 0x7f || c == ' ') {
			if (!space)
				out[n++] = ' ';
			space = true;
			continue;
		}
		out[n++] = (char)c;
		space = false;
	}
	while (n > 0 && out[n - 1] == ' ')
		n--;
	out[n] = '\0';
}

void
provider_fact(struct wire_response *res, const char *key, const char *value)
{
	char line[256];
	size_t used = strlen(res->facts);
	int w;

	if (value == NULL)
		return;
	provider_one_line(value, line, sizeof(line));
	w = snprintf(
	    res->facts + used, sizeof(res->facts) - used, "%s=%s\n", key, line);
	if (w < 0 || (size_t)w >= sizeof(res->facts) - used)
		res->facts[used] = '\0';
}

int
provider_admin_login(const struct wire_request *req,
    int (*login)(const struct wire_request *req, const struct secret *pw,
	void *session, struct wire_response *res),
    void *session, struct provider_admin_key **ret_key,
    struct wire_response *res)
{
	struct provider_admin_key *key = NULL;
	struct secret *pw = NULL;
	int r;

	*ret_key = NULL;
	if (provider_refusal_recall(req, res))
		return -EIO;
	r = secret_cstring(req->admin, &pw);
	if (r == -EINVAL)
		return provider_fail(res, WIRE_CLASS_AUTH,
		    "the credential for %s is empty or holds a NUL byte",
		    req->admin_login);
	if (r < 0 || (r = provider_admin_key_new(req, &key)) < 0) {
		r = provider_fail(res, WIRE_CLASS_TRANSIENT, "out of memory");
		goto out;
	}
	if ((r = login(req, pw, session, res)) < 0) {
		/* Remembered, or at worst tried again by a later apply. */
		if (res->class == WIRE_CLASS_AUTH)
			(void)provider_refusal_note(req, res);
		goto out;
	}
	*ret_key = key;
	key = NULL;
out:
	provider_admin_key_free(key);
	secret_free(pw);
	return r;
}
