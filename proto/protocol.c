/*
 * protocol.c: the control socket's lines, checked and built.
 *
 * Both ends of the socket link this file, so the daemon and rotactl cannot
 * disagree on what a line is.  The daemon treats every request as hostile:
 * protocol_decode() is the only code that looks at the raw bytes, and it
 * either returns an object of the promised shape or a stable error code.
 *
 * Lines are built with json_dumpb() into a buffer of exactly the right
 * size rather than json_dumps(), whose growing buffer would leave freed,
 * unwiped copies of a secret_get answer in the heap.
 */
#include <errno.h>
#include <malloc.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "base64.h"
#include "protocol.h"
#include "secret.h"

static const struct command_right {
	const char *cmd;
	unsigned right;
} command_rights[] = {
	{ "status", PROTOCOL_RIGHT_READ },
	{ "list", PROTOCOL_RIGHT_READ },
	{ "show", PROTOCOL_RIGHT_READ },
	{ "next", PROTOCOL_RIGHT_READ },
	{ "runs", PROTOCOL_RIGHT_READ },
	{ "run", PROTOCOL_RIGHT_READ },
	{ "metrics", PROTOCOL_RIGHT_READ },
	{ "secret_history", PROTOCOL_RIGHT_READ },
	{ "events", PROTOCOL_RIGHT_READ },
	{ "rotate", PROTOCOL_RIGHT_TRIGGER },
	{ "verify", PROTOCOL_RIGHT_TRIGGER },
	{ "secret_get", PROTOCOL_RIGHT_SECRETS },
	{ "secret_set", PROTOCOL_RIGHT_SECRETS },
	{ "reload", PROTOCOL_RIGHT_ADMIN },
	{ "pause", PROTOCOL_RIGHT_ADMIN },
	{ "resume", PROTOCOL_RIGHT_ADMIN },
	{ NULL, 0 },
};

/*
 * The commands' integer and boolean arguments.  They are checked here,
 * where every request passes, so that no handler ever meets a number it
 * did not plan for (runs' limit once reached the store as a negative int
 * after a cast) and a client hears which argument and which range.
 */
static const struct arg_check {
	const char *cmd, *arg;
	bool is_bool;
	json_int_t min, max;
} arg_checks[] = {
	{ "next", "count", false, 1, PROTOCOL_COUNT_MAX },
	{ "runs", "limit", false, 1, PROTOCOL_COUNT_MAX },
	{ "events", "since", false, 0, INT64_MAX },
	{ "events", "limit", false, 1, PROTOCOL_COUNT_MAX },
	{ "events", "follow", true, 0, 0 },
	{ "rotate", "wait", true, 0, 0 },
	{ "verify", "wait", true, 0, 0 },
	{ "pause", "all", true, 0, 0 },
	{ "resume", "all", true, 0, 0 },
	{ NULL, NULL, false, 0, 0 },
};

static const struct right_name {
	const char *name;
	unsigned right;
} right_names[] = {
	{ "read", PROTOCOL_RIGHT_READ },
	{ "trigger", PROTOCOL_RIGHT_TRIGGER },
	{ "secrets", PROTOCOL_RIGHT_SECRETS },
	{ "admin", PROTOCOL_RIGHT_ADMIN },
	{ NULL, 0 },
};

unsigned
protocol_command_right(const char *cmd)
{
	const struct command_right *c;

	if (cmd == NULL)
		return 0;
	for (c = command_rights; c->cmd != NULL; c++)
		if (strcmp(c->cmd, cmd) == 0)
			return c->right;
	return 0;
}

const char *
protocol_right_name(unsigned right)
{
	const struct right_name *r;

	for (r = right_names; r->name != NULL; r++)
		if (r->right == right)
			return r->name;
	return "?";
}

int
protocol_right_from_name(const char *name, unsigned *ret)
{
	const struct right_name *r;

	for (r = right_names; r->name != NULL; r++)
		if (strcmp(r->name, name) == 0) {
			*ret = r->right;
			return 0;
		}
	return -EINVAL;
}

/* ---- requests ---- */

static int __attribute__((format(printf, 5, 6))) fail(const char **ret_code,
    const char *code, char *msg, size_t msglen, const char *fmt, ...)
{
	va_list ap;

	*ret_code = code;
	if (msglen > 0) {
		va_start(ap, fmt);
		vsnprintf(msg, msglen, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

static bool
is_scalar(const json_t *v)
{
	return json_is_string(v) || json_is_number(v) || json_is_boolean(v) ||
	    json_is_null(v);
}

/* REQ's arguments of command CMD as arg_checks has them; 0 or fail(). */
static int
check_args(json_t *req, const char *cmd, const char **ret_code, char *msg,
    size_t msglen)
{
	const struct arg_check *a;
	json_int_t n;
	json_t *v;

	for (a = arg_checks; a->cmd != NULL; a++) {
		if (strcmp(a->cmd, cmd) != 0 ||
		    (v = json_object_get(req, a->arg)) == NULL)
			continue;
		if (a->is_bool && !json_is_boolean(v))
			return fail(ret_code, PROTOCOL_E_BAD_REQUEST, msg,
			    msglen, "\"%s\" must be true or false", a->arg);
		if (a->is_bool)
			continue;
		if (!json_is_integer(v))
			return fail(ret_code, PROTOCOL_E_BAD_REQUEST, msg,
			    msglen,
			    "\"%s\" must be an integer from %lld to %lld",
			    a->arg, (long long)a->min, (long long)a->max);
		n = json_integer_value(v);
		if (n < a->min || n > a->max)
			return fail(ret_code, PROTOCOL_E_BAD_REQUEST, msg,
			    msglen,
			    "\"%s\" must be from %lld to %lld, not %lld",
			    a->arg, (long long)a->min, (long long)a->max,
			    (long long)n);
	}
	return 0;
}

int
protocol_decode(const char *line, size_t len, json_t **ret_req,
    const char **ret_code, char *msg, size_t msglen)
{
	json_error_t jerr;
	json_t *req, *v, *cmd, *id;
	const char *nul;

	*ret_req = NULL;
	if (len > PROTOCOL_LINE_MAX)
		return fail(ret_code, PROTOCOL_E_TOO_LARGE, msg, msglen,
		    "request line longer than %d bytes", PROTOCOL_LINE_MAX);
	/* jansson would stop at a NUL and call the rest trailing garbage;
	 * say what is wrong instead. */
	nul = memchr(line, '\0', len);
	if (nul != NULL)
		return fail(ret_code, PROTOCOL_E_BAD_REQUEST, msg, msglen,
		    "NUL byte in request at byte %zu", (size_t)(nul - line));
	req = json_loadb(
	    line, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
	if (req == NULL)
		return fail(ret_code, PROTOCOL_E_BAD_REQUEST, msg, msglen,
		    "invalid JSON at byte %d: %s", jerr.position, jerr.text);
	if (!json_is_object(req)) {
		json_decref(req);
		return fail(ret_code, PROTOCOL_E_BAD_REQUEST, msg, msglen,
		    "a request must be a JSON object");
	}
	*ret_req = req;

	/* The version is checked before anything else in the object: a
	 * request of another version may not have a "cmd" at all. */
	v = json_object_get(req, "v");
	if (v == NULL)
		return fail(ret_code, PROTOCOL_E_BAD_REQUEST, msg, msglen,
		    "missing \"v\" (the protocol version, 1)");
	if (!json_is_integer(v) || json_integer_value(v) != PROTOCOL_VERSION)
		return fail(ret_code, PROTOCOL_E_VERSION, msg, msglen,
		    "unsupported protocol version; this rotad speaks "
		    "\"v\":%d",
		    PROTOCOL_VERSION);
	id = json_object_get(req, "id");
	if (id != NULL && !is_scalar(id))
		return fail(ret_code, PROTOCOL_E_BAD_REQUEST, msg, msglen,
		    "\"id\" must be a string, a number, true, false or null");
	cmd = json_object_get(req, "cmd");
	if (cmd == NULL)
		return fail(ret_code, PROTOCOL_E_BAD_REQUEST, msg, msglen,
		    "missing \"cmd\"");
	if (!json_is_string(cmd))
		return fail(ret_code, PROTOCOL_E_BAD_REQUEST, msg, msglen,
		    "\"cmd\" must be a string");
	return check_args(req, json_string_value(cmd), ret_code, msg, msglen);
}

json_t *
protocol_request_id(const json_t *req)
{
	json_t *id;

	if (!json_is_object(req))
		return NULL;
	id = json_object_get(req, "id");
	return id != NULL && is_scalar(id) ? id : NULL;
}

/* ---- lines ---- */

/* OBJ as one compact line in a buffer of exactly its size. */
static int
dump_line(json_t *obj, char **ret, size_t *ret_len)
{
	size_t n, m;
	char *buf;

	n = json_dumpb(obj, NULL, 0, JSON_COMPACT);
	if (n == 0)
		return -ENOMEM;
	buf = malloc(n + 2);
	if (buf == NULL)
		return -ENOMEM;
	m = json_dumpb(obj, buf, n, JSON_COMPACT);
	if (m != n) {
		protocol_free_wiped(buf, n + 2);
		return -ENOMEM;
	}
	buf[n] = '\n';
	buf[n + 1] = '\0';
	*ret = buf;
	*ret_len = n + 1;
	return 0;
}

/* {"v":1} with ID when there is one. */
static json_t *
envelope(json_t *id)
{
	json_t *obj = json_object();

	if (obj == NULL)
		return NULL;
	if (json_object_set_new(obj, "v", json_integer(PROTOCOL_VERSION)) < 0 ||
	    (id != NULL && json_object_set(obj, "id", id) < 0)) {
		json_decref(obj);
		return NULL;
	}
	return obj;
}

/* Steal VAL into OBJ[KEY] and dump OBJ; OBJ is released either way. */
static int
finish(json_t *obj, const char *key, json_t *val, char **ret, size_t *ret_len)
{
	int r;

	if (obj == NULL || val == NULL) {
		json_decref(obj);
		json_decref(val);
		return -ENOMEM;
	}
	if (json_object_set_new(obj, key, val) < 0) {
		json_decref(obj);
		return -ENOMEM;
	}
	r = dump_line(obj, ret, ret_len);
	json_decref(obj);
	return r;
}

int
protocol_encode_request(
    const char *cmd, json_t *args, json_t *id, char **ret, size_t *ret_len)
{
	json_t *obj = NULL;
	int r = -EINVAL;

	if ((args != NULL && !json_is_object(args)) ||
	    (id != NULL && !is_scalar(id)) ||
	    json_object_get(args, "v") != NULL ||
	    json_object_get(args, "cmd") != NULL ||
	    json_object_get(args, "id") != NULL)
		goto out;
	r = -ENOMEM;
	obj = json_object();
	if (obj == NULL ||
	    json_object_set_new(obj, "v", json_integer(PROTOCOL_VERSION)) < 0 ||
	    json_object_set_new(obj, "cmd", json_string(cmd)) < 0 ||
	    (args != NULL && json_object_update(obj, args) < 0) ||
	    (id != NULL && json_object_set(obj, "id", id) < 0))
		goto out;
	r = dump_line(obj, ret, ret_len);
out:
	json_decref(obj);
	json_decref(args);
	return r;
}

int
protocol_encode_result(json_t *id, json_t *result, char **ret, size_t *ret_len)
{
	json_t *obj;

	if (result == NULL)
		result = json_object();
	else if (!json_is_object(result)) {
		json_decref(result);
		return -EINVAL;
	}
	obj = envelope(id);
	if (obj != NULL && json_object_set_new(obj, "ok", json_true()) < 0) {
		json_decref(obj);
		obj = NULL;
	}
	return finish(obj, "result", result, ret, ret_len);
}

/* The length of the well-formed UTF-8 sequence at S, 0 if there is none. */
static size_t
utf8_seq(const unsigned char *s)
{
	unsigned long cp;
	size_t len, i;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		len = 2;
		cp = s[0] & 0x1f;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		len = 3;
		cp = s[0] & 0x0f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		len = 4;
		cp = s[0] & 0x07;
	} else {
		return 0;
	}
	/* A NUL ends the string before a continuation byte could. */
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if ((len == 3 && cp < 0x800) ||
	    (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

/*
 * A JSON string of S, whose bytes that are not UTF-8 become '?': a
 * message formatted into a fixed buffer may end in half a character, and
 * that must not cost the client its answer.
 */
static json_t *
text_string(const char *s)
{
	unsigned char *copy, *p;
	json_t *j;
	size_t n;

	if (s == NULL)
		s = "";
	j = json_string(s);
	if (j != NULL)
		return j;
	copy = (unsigned char *)strdup(s);
	if (copy == NULL)
		return NULL;
	for (p = copy; *p != '\0'; p += n) {
		n = utf8_seq(p);
		if (n == 0) {
			*p = '?';
			n = 1;
		}
	}
	j = json_string((char *)copy);
	free(copy);
	return j;
}

int
protocol_encode_error(json_t *id, const char *code, const char *message,
    json_t *extra, char **ret, size_t *ret_len)
{
	json_t *obj = NULL, *err = NULL;
	int r = -EINVAL;

	if ((extra != NULL && !json_is_object(extra)) ||
	    json_object_get(extra, "code") != NULL ||
	    json_object_get(extra, "message") != NULL)
		goto out;
	r = -ENOMEM;
	err = json_object();
	if (err == NULL ||
	    json_object_set_new(err, "code", json_string(code)) < 0 ||
	    json_object_set_new(err, "message", text_string(message)) < 0 ||
	    (extra != NULL && json_object_update(err, extra) < 0))
		goto out;
	obj = envelope(id);
	if (obj == NULL || json_object_set_new(obj, "ok", json_false()) < 0)
		goto out;
	r = finish(obj, "error", err, ret, ret_len);
	obj = err = NULL;
out:
	json_decref(obj);
	json_decref(err);
	json_decref(extra);
	return r;
}

int
protocol_encode_progress(
    json_t *id, json_t *progress, char **ret, size_t *ret_len)
{
	if (progress != NULL && !json_is_object(progress)) {
		json_decref(progress);
		return -EINVAL;
	}
	return finish(envelope(id), "progress", progress, ret, ret_len);
}

int
protocol_decode_response(const char *line, size_t len, json_t **ret,
    enum protocol_response *ret_kind)
{
	json_t *obj, *v, *ok, *err;

	*ret = NULL;
	obj = json_loadb(line, len, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(obj))
		goto bad;
	v = json_object_get(obj, "v");
	if (!json_is_integer(v) || json_integer_value(v) != PROTOCOL_VERSION)
		goto bad;
	ok = json_object_get(obj, "ok");
	if (ok == NULL) {
		if (!json_is_object(json_object_get(obj, "progress")))
			goto bad;
		*ret_kind = PROTOCOL_RESPONSE_PROGRESS;
	} else if (json_is_true(ok)) {
		if (!json_is_object(json_object_get(obj, "result")))
			goto bad;
		*ret_kind = PROTOCOL_RESPONSE_OK;
	} else if (json_is_false(ok)) {
		err = json_object_get(obj, "error");
		if (!json_is_string(json_object_get(err, "code")) ||
		    !json_is_string(json_object_get(err, "message")))
			goto bad;
		*ret_kind = PROTOCOL_RESPONSE_ERROR;
	} else {
		goto bad;
	}
	*ret = obj;
	return 0;
bad:
	json_decref(obj);
	return -EINVAL;
}

/* ---- values ---- */

int
protocol_format_time(int64_t t, char *buf, size_t size)
{
	struct tm tm;
	time_t tt = (time_t)t;

	if ((int64_t)tt != t || gmtime_r(&tt, &tm) == NULL ||
	    strftime(buf, size, "%Y-%m-%dT%H:%M:%S+00:00", &tm) == 0)
		return -EOVERFLOW;
	return 0;
}

int
protocol_secret_decode(const char *b64, struct secret **ret)
{
	struct secret *s = NULL;
	size_t len = strlen(b64), n, got;
	int r;

	*ret = NULL;
	if (base64_decoded_len(b64, len, &n) < 0 || n == 0 || n > SECRET_MAX)
		return -EINVAL;
	r = secret_new(NULL, n, &s);
	if (r < 0)
		return r;
	if (base64_decode(b64, len, secret_buf(s), n, &got) < 0) {
		secret_free(s);
		return -EINVAL;
	}
	*ret = s;
	return 0;
}

char *
protocol_secret_encode(const struct secret *s)
{
	size_t n = base64_encoded_len(secret_len(s));
	char *out;

	if (n == SIZE_MAX)
		return NULL;
	out = malloc(n + 1);
	if (out == NULL)
		return NULL;
	if (base64_encode(secret_data(s), secret_len(s), out, n + 1) < 0) {
		free(out);
		return NULL;
	}
	return out;
}

/* ---- wiping ---- */

void
protocol_free_wiped(void *p, size_t len)
{
	if (p == NULL)
		return;
	OPENSSL_cleanse(p, len);
	free(p);
}

void
protocol_wipe_json(json_t *v)
{
	const char *key;
	json_t *val;
	size_t i;

	if (json_is_string(v)) {
		/* jansson owns a writable copy; only the API is const. */
		OPENSSL_cleanse(
		    (char *)json_string_value(v), json_string_length(v));
	} else if (json_is_object(v)) {
		json_object_foreach(v, key, val)
		{
			protocol_wipe_json(val);
		}
	} else if (json_is_array(v)) {
		json_array_foreach(v, i, val)
		{
			protocol_wipe_json(val);
		}
	}
}

static void
wiping_free(void *p)
{
	if (p == NULL)
		return;
	OPENSSL_cleanse(p, malloc_usable_size(p));
	free(p);
}

void
protocol_json_wipe_on_free(void)
{
	json_set_alloc_funcs(malloc, wiping_free);
}
