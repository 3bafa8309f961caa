/*
 * script_input.c: Keeper's post-rotation script input, built by hand.
 *
 * The JSON is written twice by the same code: once to count its bytes,
 * then into a struct secret of exactly that size, so no copy of a password
 * is ever left in a growing heap buffer.  The records array is built the
 * same way (its values may be secrets too), base64-encoded into a second
 * secret, and written into the outer object as a string; the outer object
 * is base64-encoded into the result.  Every intermediate secret is wiped
 * when freed.
 *
 * Strings are written as jansson and Python write them: '"' and '\' and
 * the control characters escaped (\b \f \n \r \t, else \u00XX), everything
 * else, non-ASCII included, as is.  Strings must be valid UTF-8 (no
 * overlong forms, no surrogates), since a JSON reader would refuse or,
 * worse, mangle them.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "base64.h"
#include "script_input.h"
#include "secret.h"

/* Where the JSON goes: BUF NULL counts only. */
struct out {
	unsigned char *buf;
	size_t len;
};

static void
put(struct out *o, const void *p, size_t n)
{
	if (o->buf != NULL)
		memcpy(o->buf + o->len, p, n);
	o->len += n;
}

static void
puts_lit(struct out *o, const char *s)
{
	put(o, s, strlen(s));
}

/* Whether S (N bytes) is well-formed UTF-8 (RFC 3629). */
static bool
utf8_valid(const unsigned char *s, size_t n)
{
	size_t i = 0, k, more;
	uint32_t cp, min;

	while (i < n) {
		if (s[i] < 0x80) {
			i++;
			continue;
		}
		if ((s[i] & 0xe0) == 0xc0) {
			more = 1;
			cp = s[i] & 0x1f;
			min = 0x80;
		} else if ((s[i] & 0xf0) == 0xe0) {
			more = 2;
			cp = s[i] & 0x0f;
			min = 0x800;
		} else if ((s[i] & 0xf8) == 0xf0) {
			more = 3;
			cp = s[i] & 0x07;
			min = 0x10000;
		} else
			return false;
		if (n - i <= more)
			return false;
		for (k = 1; k <= more; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
			cp = cp << 6 | (s[i + k] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += more + 1;
	}
	return true;
}

/* S (N bytes) as a JSON string.  0 or -EINVAL (not UTF-8). */
static int
put_str(struct out *o, const void *data, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *s = data;
	unsigned char u[6];
	size_t i, run;

	if (!utf8_valid(s, n))
		return -EINVAL;
	put(o, "\"", 1);
	for (i = 0; i < n; i += run) {
		/* Runs of bytes that need no escape go in one copy. */
		for (run = 0; i + run < n && s[i + run] >= 0x20 &&
		     s[i + run] != '"' && s[i + run] != '\\';
		     run++)
			;
		if (run > 0) {
			put(o, s + i, run);
			continue;
		}
		run = 1;
		switch (s[i]) {
		case '"':
			put(o, "\\\"", 2);
			break;
		case '\\':
			put(o, "\\\\", 2);
			break;
		case '\b':
			put(o, "\\b", 2);
			break;
		case '\f':
			put(o, "\\f", 2);
			break;
		case '\n':
			put(o, "\\n", 2);
			break;
		case '\r':
			put(o, "\\r", 2);
			break;
		case '\t':
			put(o, "\\t", 2);
			break;
		default:
			memcpy(u, "\\u00", 4);
			u[4] = (unsigned char)hex[s[i] >> 4];
			u[5] = (unsigned char)hex[s[i] & 15];
			put(o, u, 6);
			break;
		}
	}
	put(o, "\"", 1);
	return 0;
}

static int
put_cstr(struct out *o, const char *s)
{
	return put_str(o, s != NULL ? s : "", s != NULL ? strlen(s) : 0);
}

/* PREFIX (punctuation and a key, written as is), then S as a string. */
static int
put_member(struct out *o, const char *prefix, const char *s)
{
	puts_lit(o, prefix);
	return put_cstr(o, s);
}

/* The same for a secret's bytes (NULL: ""). */
static int
put_secret(struct out *o, const char *prefix, const struct secret *s)
{
	puts_lit(o, prefix);
	if (s == NULL)
		return put_str(o, "", 0);
	return put_str(o, secret_data(s), secret_len(s));
}

/* The records array.  0 or -EINVAL. */
static int
put_records(struct out *o, const struct script_input *in)
{
	const struct script_record *rec;
	size_t i, k;
	int r;

	put(o, "[", 1);
	for (i = 0; i < in->nrecords; i++) {
		rec = &in->records[i];
		if (rec->n > 0 && (rec->labels == NULL || rec->values == NULL))
			return -EINVAL;
		if ((r = put_member(o,
			 i > 0 ? ",{\"uid\":" : "{\"uid\":", rec->uid)) < 0 ||
		    (r = put_member(o, ",\"title\":", rec->title)) < 0)
			return r;
		for (k = 0; k < rec->n; k++) {
			/* A label is a key: it must be there. */
			if (rec->labels[k] == NULL)
				return -EINVAL;
			if ((r = put_member(o, ",", rec->labels[k])) < 0 ||
			    (r = put_member(o, ":", rec->values[k])) < 0)
				return r;
		}
		put(o, "}", 1);
	}
	put(o, "]", 1);
	return 0;
}

/* The outer object, with RECORDS (base64) as the last value. */
static int
put_object(
    struct out *o, const struct script_input *in, const struct secret *records)
{
	int r;

	if ((r = put_member(o, "{\"providerRecordUid\":", in->provider_uid)) <
		0 ||
	    (r = put_member(o, ",\"resourceRecordUid\":", in->resource_uid)) <
		0 ||
	    (r = put_member(o, ",\"userRecordUid\":", in->user_uid)) < 0 ||
	    (r = put_secret(o,
		 in->private_key ? ",\"newPrivateKey\":" : ",\"newPassword\":",
		 in->new_password)) < 0 ||
	    (r = put_secret(o,
		 in->private_key ? ",\"oldPrivateKey\":" : ",\"oldPassword\":",
		 in->old_password)) < 0 ||
	    (r = put_member(o, ",\"user\":", in->user)) < 0)
		return r;
	/* Base64 needs no escaping. */
	puts_lit(o, ",\"records\":\"");
	put(o, secret_data(records), secret_len(records));
	puts_lit(o, "\"}");
	return 0;
}

/* Base64 (standard, padded, one line) of SRC into a new secret. */
static int
b64_secret(const struct secret *src, struct secret **out)
{
	size_t len = secret_len(src);
	int r;

	if (len > (SECRET_MAX / 4) * 3)
		return -EINVAL;
	if ((r = secret_new(NULL, base64_encoded_len(len), out)) < 0)
		return r;
	base64_encode_raw(secret_data(src), len, 0, secret_buf(*out));
	return 0;
}

int
script_input_build(const struct script_input *in, struct secret **out)
{
	struct secret *rjson = NULL, *rb64 = NULL, *json = NULL;
	struct out o;
	int r;

	*out = NULL;
	if (in == NULL || in->new_password == NULL ||
	    (in->nrecords > 0 && in->records == NULL))
		return -EINVAL;

	/* The records: counted, then written, then base64. */
	o = (struct out){ .buf = NULL, .len = 0 };
	if ((r = put_records(&o, in)) < 0)
		goto out;
	if ((r = secret_new(NULL, o.len, &rjson)) < 0)
		goto out;
	o = (struct out){ .buf = secret_buf(rjson), .len = 0 };
	if ((r = put_records(&o, in)) < 0)
		goto out;
	if ((r = b64_secret(rjson, &rb64)) < 0)
		goto out;

	o = (struct out){ .buf = NULL, .len = 0 };
	if ((r = put_object(&o, in, rb64)) < 0)
		goto out;
	if ((r = secret_new(NULL, o.len, &json)) < 0)
		goto out;
	o = (struct out){ .buf = secret_buf(json), .len = 0 };
	if ((r = put_object(&o, in, rb64)) < 0)
		goto out;
	r = b64_secret(json, out);
out:
	secret_free(rjson);
	secret_free(rb64);
	secret_free(json);
	return r;
}
