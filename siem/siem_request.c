/*
 * siem_request: the strict parser of a SIEM's request body (siem_request.h).
 *
 * Everything here is refused unless it is exactly what docs/siem.md
 * describes: the daemon checks its arguments again, but a request that
 * reaches the control socket should already be one the operator's SIEM
 * could have meant.  Strings are bounded and of a known alphabet, so that
 * what is logged or echoed later cannot carry a control character.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "siem_request.h"

static void say(char *msg, size_t msglen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
say(char *msg, size_t msglen, const char *fmt, ...)
{
	va_list ap;

	if (msglen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, msglen, fmt, ap);
	va_end(ap);
}

static bool
in_set(char c, const char *extra)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || (c != '\0' && strchr(extra, c) != NULL);
}

/* 1 to MAX bytes, each a letter, a digit or one of EXTRA. */
static bool
valid_word(const char *s, size_t max, const char *extra)
{
	size_t i;

	for (i = 0; s[i] != '\0'; i++)
		if (i >= max || !in_set(s[i], extra))
			return false;
	return i > 0;
}

int
siem_request_valid_alert_id(const char *s)
{
	return valid_word(s, SIEM_ALERT_ID_MAX, "._:-");
}

/*
 * A login is the target's business (an LDAP DN has spaces, commas and
 * '='), so it is any text without control characters: jansson has
 * already refused invalid UTF-8 and "\u0000".
 */
static bool
valid_login(const char *s)
{
	size_t i;

	for (i = 0; s[i] != '\0'; i++)
		if (i >= SIEM_LOGIN_MAX || (unsigned char)s[i] < 0x20 ||
		    s[i] == 0x7f)
			return false;
	return i > 0;
}

/* A key we refuse, named in MSG only when it is harmless to print. */
static const char *
printable_key(const char *k)
{
	return valid_word(k, 32, "_-") ? k : "(unprintable)";
}

/* Only the keys in ALLOWED (NULL-terminated) may appear in OBJ. */
static int
only_keys(json_t *obj, const char *const *allowed, const char *where, char *msg,
    size_t msglen)
{
	const char *k;
	json_t *v;
	size_t i;

	json_object_foreach(obj, k, v)
	{
		for (i = 0; allowed[i] != NULL; i++)
			if (strcmp(k, allowed[i]) == 0)
				break;
		if (allowed[i] == NULL) {
			say(msg, msglen, "%s: unknown key \"%s\"", where,
			    printable_key(k));
			return -EINVAL;
		}
	}
	return 0;
}

static int
dup_string(const char *s, char **ret)
{
	*ret = strdup(s);
	return *ret == NULL ? -ENOMEM : 0;
}

static int
parse_users(json_t *a, struct siem_request *r, char *msg, size_t msglen)
{
	json_t *v;
	size_t i;
	int rc;

	json_array_foreach(a, i, v)
	{
		if (!json_is_string(v) ||
		    !valid_word(json_string_value(v), SIEM_USER_MAX, "._@/-")) {
			say(msg, msglen,
			    "users[%zu]: a rotad user name (1 to %d of "
			    "letters, digits, . _ @ / -)",
			    i, SIEM_USER_MAX);
			return -EINVAL;
		}
		if ((rc = dup_string(
			 json_string_value(v), &r->entries[i].user)) < 0)
			return rc;
		r->n = i + 1;
	}
	return 0;
}

static int
parse_accounts(json_t *a, struct siem_request *r, char *msg, size_t msglen)
{
	static const char *const keys[] = { "login", "host", NULL };
	char where[32];
	json_t *v, *login, *host;
	size_t i;
	int rc;

	json_array_foreach(a, i, v)
	{
		snprintf(where, sizeof(where), "accounts[%zu]", i);
		if (!json_is_object(v)) {
			say(msg, msglen, "%s: an object", where);
			return -EINVAL;
		}
		if ((rc = only_keys(v, keys, where, msg, msglen)) < 0)
			return rc;
		login = json_object_get(v, "login");
		host = json_object_get(v, "host");
		if (!json_is_string(login) ||
		    !valid_login(json_string_value(login))) {
			say(msg, msglen,
			    "%s: \"login\" a string of 1 to %d characters, "
			    "no control character",
			    where, SIEM_LOGIN_MAX);
			return -EINVAL;
		}
		if (!json_is_string(host) ||
		    !valid_word(
			json_string_value(host), SIEM_HOST_MAX, ".:_-")) {
			say(msg, msglen,
			    "%s: \"host\" a host name or address (1 to %d of "
			    "letters, digits, . : _ -)",
			    where, SIEM_HOST_MAX);
			return -EINVAL;
		}
		if ((rc = dup_string(
			 json_string_value(login), &r->entries[i].login)) < 0 ||
		    (rc = dup_string(
			 json_string_value(host), &r->entries[i].host)) < 0)
			return rc;
		r->n = i + 1;
	}
	return 0;
}

int
siem_request_parse(const char *body, size_t len, struct siem_request *ret,
    char *msg, size_t msglen)
{
	static const char *const keys[] = { "alert_id", "users", "accounts",
		NULL };
	struct siem_request r;
	json_error_t jerr;
	json_t *root, *id, *users, *accounts, *list;
	int rc = -EINVAL;

	memset(&r, 0, sizeof(r));
	root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL) {
		/* jansson's text names a position, never the body's bytes. */
		say(msg, msglen, "not JSON (line %d, column %d)", jerr.line,
		    jerr.column);
		goto out;
	}
	if (!json_is_object(root)) {
		say(msg, msglen, "the body must be one JSON object");
		goto out;
	}
	if ((rc = only_keys(root, keys, "body", msg, msglen)) < 0)
		goto out;
	rc = -EINVAL;
	id = json_object_get(root, "alert_id");
	if (!json_is_string(id) ||
	    !siem_request_valid_alert_id(json_string_value(id))) {
		say(msg, msglen,
		    "\"alert_id\" is required: 1 to %d of letters, digits, "
		    ". _ : -",
		    SIEM_ALERT_ID_MAX);
		goto out;
	}
	memcpy(r.alert_id, json_string_value(id),
	    strlen(json_string_value(id)) + 1);
	users = json_object_get(root, "users");
	accounts = json_object_get(root, "accounts");
	if ((users == NULL) == (accounts == NULL)) {
		say(msg, msglen, "exactly one of \"users\" and \"accounts\"");
		goto out;
	}
	list = users != NULL ? users : accounts;
	if (!json_is_array(list) || json_array_size(list) == 0 ||
	    json_array_size(list) > SIEM_ENTRIES_MAX) {
		say(msg, msglen, "\"%s\" must be an array of 1 to %d entries",
		    users != NULL ? "users" : "accounts", SIEM_ENTRIES_MAX);
		goto out;
	}
	rc = users != NULL ? parse_users(list, &r, msg, msglen)
			   : parse_accounts(list, &r, msg, msglen);
	if (rc < 0)
		goto out;
	*ret = r;
	memset(&r, 0, sizeof(r));
	rc = 0;
out:
	siem_request_free(&r);
	json_decref(root);
	return rc;
}

void
siem_request_free(struct siem_request *r)
{
	size_t i;

	if (r == NULL)
		return;
	for (i = 0; i < SIEM_ENTRIES_MAX; i++) {
		free(r->entries[i].user);
		free(r->entries[i].login);
		free(r->entries[i].host);
		r->entries[i].user = r->entries[i].login = r->entries[i].host =
		    NULL;
	}
	r->n = 0;
}
