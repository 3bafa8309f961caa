/*
 * Unit tests of script_input_build(): the line decodes (base64 here, by
 * hand) to JSON that jansson parses, with every key of Keeper's contract
 * in order, "records" itself base64 of a JSON array of the records; odd
 * characters round-trip; strings that are not UTF-8 are refused.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "script_input.h"
#include "secret.h"

/* Strict base64 (standard alphabet, padded): a malloc'ed, NUL-terminated
 * copy of the bytes in *out, their number in *len; false when invalid. */
static bool
unb64(const char *in, size_t n, char **out, size_t *len)
{
	static const char a[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstu"
	    "vwxyz0123456789+/";
	unsigned char *o;
	size_t i, k, pad = 0;
	uint32_t v;
	const char *p;

	if (n % 4 != 0)
		return false;
	o = malloc(n / 4 * 3 + 1);
	assert_non_null(o);
	*len = 0;
	for (i = 0; i < n; i += 4) {
		v = 0;
		for (k = 0; k < 4; k++) {
			if (in[i + k] == '=' && i + 4 == n && k >= 2) {
				pad++;
				v <<= 6;
				continue;
			}
			if (pad > 0 || in[i + k] == '\0' ||
			    (p = strchr(a, in[i + k])) == NULL) {
				free(o);
				return false;
			}
			v = v << 6 | (uint32_t)(p - a);
		}
		o[(*len)++] = (unsigned char)(v >> 16);
		o[(*len)++] = (unsigned char)(v >> 8);
		o[(*len)++] = (unsigned char)v;
	}
	*len -= pad;
	o[*len] = '\0';
	*out = (char *)o;
	return true;
}

/* Build IN, check the line's shape, and return the outer JSON text. */
static char *
build_json(const struct script_input *in, size_t *len)
{
	struct secret *line = NULL;
	const char *d;
	char *json = NULL;
	size_t i, n;

	assert_int_equal(script_input_build(in, &line), 0);
	assert_non_null(line);
	d = secret_data(line);
	n = secret_len(line);
	/* One line of base64: no newline, nothing outside the alphabet. */
	for (i = 0; i < n; i++)
		assert_non_null(memchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklm"
				       "nopqrstuvwxyz0123456789+/=",
		    d[i], 65));
	assert_true(unb64(d, n, &json, len));
	secret_free(line);
	return json;
}

static json_t *
parse(const char *text, size_t len)
{
	json_error_t err;
	json_t *v = json_loadb(text, len, JSON_ALLOW_NUL, &err);

	if (v == NULL)
		fail_msg("not JSON: %s at byte %d", err.text, err.position);
	return v;
}

static const char *
str_of(json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);

	if (!json_is_string(v))
		fail_msg("%s is not a string", key);
	return json_string_value(v);
}

/* A key rotation's input names the secrets as keys, not passwords. */
static void
test_private_key(void **state)
{
	struct secret *nk = NULL, *ok = NULL;
	struct script_input in = { 0 };
	json_t *o;
	char *json;
	size_t len;

	(void)state;
	assert_int_equal(secret_new("-----BEGIN NEW\n", 15, &nk), 0);
	assert_int_equal(secret_new("-----BEGIN OLD\n", 15, &ok), 0);
	in.provider_uid = "";
	in.resource_uid = "box";
	in.user_uid = "deploy/private_key";
	in.user = "deploy";
	in.new_password = nk;
	in.old_password = ok;
	in.private_key = true;
	json = build_json(&in, &len);
	o = parse(json, len);
	assert_string_equal(str_of(o, "newPrivateKey"), "-----BEGIN NEW\n");
	assert_string_equal(str_of(o, "oldPrivateKey"), "-----BEGIN OLD\n");
	assert_null(json_object_get(o, "newPassword"));
	assert_null(json_object_get(o, "oldPassword"));
	json_decref(o);
	free(json);
	secret_free(nk);
	secret_free(ok);
}

static void
test_every_key(void **state)
{
	static const char *const labels1[] = { "login", "password", "url" };
	static const char *const values1[] = { "svc-app", "rec-pass-1",
		"https://db.example/x" };
	const struct script_record recs[] = {
		{ .uid = "rec-1",
		    .title = "Database",
		    .labels = labels1,
		    .values = values1,
		    .n = 3 },
		{ .uid = "rec-2", .title = "Empty", .n = 0 },
	};
	struct secret *np = NULL, *op = NULL;
	struct script_input in = { 0 };
	json_t *o, *r, *rec;
	char *json, *rjson;
	size_t len, rlen, i;
	/* Quoted and with the colon, or "user" would be found in
	 * "userRecordUid". */
	const char *keys[] = { "\"providerRecordUid\":",
		"\"resourceRecordUid\":", "\"userRecordUid\":",
		"\"newPassword\":", "\"oldPassword\":", "\"user\":",
		"\"records\":" };
	const char *prev, *at;
	const char *rkeys[] = { "\"uid\":", "\"title\":", "\"login\":",
		"\"password\":", "\"url\":" };

	(void)state;
	assert_int_equal(secret_new("N3w-passw0rd", 12, &np), 0);
	assert_int_equal(secret_new("0ld-passw0rd", 12, &op), 0);
	in.provider_uid = "pg-config";
	in.resource_uid = "pg-prod";
	in.user_uid = "app-user";
	in.user = "app";
	in.new_password = np;
	in.old_password = op;
	in.records = recs;
	in.nrecords = 2;

	json = build_json(&in, &len);
	o = parse(json, len);
	assert_true(json_is_object(o));
	assert_int_equal(json_object_size(o), 7);
	assert_string_equal(str_of(o, "providerRecordUid"), "pg-config");
	assert_string_equal(str_of(o, "resourceRecordUid"), "pg-prod");
	assert_string_equal(str_of(o, "userRecordUid"), "app-user");
	assert_string_equal(str_of(o, "newPassword"), "N3w-passw0rd");
	assert_string_equal(str_of(o, "oldPassword"), "0ld-passw0rd");
	assert_string_equal(str_of(o, "user"), "app");
	/* The keys in Keeper's order. */
	prev = json;
	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		at = strstr(json, keys[i]);
		assert_non_null(at);
		assert_true(at > prev);
		prev = at;
	}

	/* "records": base64 of the array, keys in the order given. */
	assert_true(unb64(
	    str_of(o, "records"), strlen(str_of(o, "records")), &rjson, &rlen));
	r = parse(rjson, rlen);
	assert_true(json_is_array(r));
	assert_int_equal(json_array_size(r), 2);
	rec = json_array_get(r, 0);
	assert_int_equal(json_object_size(rec), 5);
	assert_string_equal(str_of(rec, "uid"), "rec-1");
	assert_string_equal(str_of(rec, "title"), "Database");
	assert_string_equal(str_of(rec, "login"), "svc-app");
	assert_string_equal(str_of(rec, "password"), "rec-pass-1");
	assert_string_equal(str_of(rec, "url"), "https://db.example/x");
	prev = rjson;
	for (i = 0; i < sizeof(rkeys) / sizeof(rkeys[0]); i++) {
		at = strstr(rjson, rkeys[i]);
		assert_non_null(at);
		assert_true(at > prev);
		prev = at;
	}
	rec = json_array_get(r, 1);
	assert_int_equal(json_object_size(rec), 2);
	assert_string_equal(str_of(rec, "uid"), "rec-2");
	assert_string_equal(str_of(rec, "title"), "Empty");

	json_decref(r);
	json_decref(o);
	free(rjson);
	free(json);
	secret_free(np);
	secret_free(op);
}

static void
test_defaults(void **state)
{
	struct secret *np = NULL;
	struct script_input in = { 0 };
	json_t *o;
	char *json, *rjson;
	size_t len, rlen;

	(void)state;
	assert_int_equal(secret_new("N3w-passw0rd", 12, &np), 0);
	in.user_uid = "u";
	in.user = "app";
	in.new_password = np;
	json = build_json(&in, &len);
	o = parse(json, len);
	/* No old password: ""; no configuration or resource: "". */
	assert_string_equal(str_of(o, "oldPassword"), "");
	assert_string_equal(str_of(o, "providerRecordUid"), "");
	assert_string_equal(str_of(o, "resourceRecordUid"), "");
	assert_true(unb64(
	    str_of(o, "records"), strlen(str_of(o, "records")), &rjson, &rlen));
	assert_string_equal(rjson, "[]");
	json_decref(o);
	free(rjson);
	free(json);

	/* A new password is required. */
	/* Any non-NULL value: the function must reset it. */
	struct secret *line = (struct secret *)&in;
	in.new_password = NULL;
	assert_int_equal(script_input_build(&in, &line), -EINVAL);
	assert_null(line);
	secret_free(np);
}

/* Quotes, backslashes, slashes, control characters, DEL, non-ASCII and a
 * NUL in a password all come back exactly. */
static void
test_escaping(void **state)
{
	static const char pw[] = "a\"b\\c/d\te\nf\rg\bh\fi\001j\037k\177l "
				 "\303\251\360\237\230\200\0z";
	static const char *const labels[] = { "la\"bel\\\n", "\342\202\254" };
	static const char *const values[] = { "v\001\"\\", "" };
	const struct script_record rec = { .uid = "u\"1",
		.title = "T\ti\303\251tle",
		.labels = labels,
		.values = values,
		.n = 2 };
	struct secret *np = NULL;
	struct script_input in = { 0 };
	json_t *o, *r, *v;
	char *json, *rjson;
	size_t len, rlen;

	(void)state;
	assert_int_equal(secret_new(pw, sizeof(pw) - 1, &np), 0);
	in.user_uid = "us\"er\\";
	in.user = "o'brien \342\200\250";
	in.new_password = np;
	in.records = &rec;
	in.nrecords = 1;
	json = build_json(&in, &len);
	/* Escaped as Python's and jansson's writers do, not \u for '"'. */
	assert_non_null(strstr(json,
	    "a\\\"b\\\\c/d\\te\\nf\\rg\\bh\\fi\\u0001j"
	    "\\u001fk\177l \303\251"));
	assert_non_null(strstr(json, "\\u0000z"));
	o = parse(json, len);
	v = json_object_get(o, "newPassword");
	assert_int_equal(json_string_length(v), sizeof(pw) - 1);
	assert_memory_equal(json_string_value(v), pw, sizeof(pw) - 1);
	assert_string_equal(str_of(o, "userRecordUid"), "us\"er\\");
	assert_string_equal(str_of(o, "user"), "o'brien \342\200\250");
	assert_true(unb64(
	    str_of(o, "records"), strlen(str_of(o, "records")), &rjson, &rlen));
	r = parse(rjson, rlen);
	v = json_array_get(r, 0);
	assert_string_equal(str_of(v, "uid"), "u\"1");
	assert_string_equal(str_of(v, "title"), "T\ti\303\251tle");
	assert_string_equal(str_of(v, "la\"bel\\\n"), "v\001\"\\");
	assert_string_equal(str_of(v, "\342\202\254"), "");
	json_decref(r);
	json_decref(o);
	free(rjson);
	free(json);
	secret_free(np);
}

static void
test_not_utf8(void **state)
{
	static const char *const bad[] = {
		"\xc0\x80",         /* overlong NUL */
		"\xe0\x80\xaf",     /* overlong '/' */
		"\xed\xa0\x80",     /* a surrogate */
		"\xf4\x90\x80\x80", /* past U+10FFFF */
		"\xf5\x80\x80\x80", /* no such lead byte */
		"abc\xc3",          /* cut short */
		"\x80xyz",          /* a lone continuation byte */
		"\xe2\x82",         /* cut short, 3 bytes */
		"\xff",
	};
	static const char *labels[] = { "ok" };
	static const char *values[] = { "ok" };
	struct script_record rec = { .uid = "r",
		.title = "t",
		.labels = labels,
		.values = values,
		.n = 1 };
	struct secret *np = NULL, *line = NULL;
	struct script_input in = { 0 };
	size_t i, where;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		for (where = 0; where < 5; where++) {
			assert_int_equal(secret_new("good-pass", 9, &np), 0);
			memset(&in, 0, sizeof(in));
			labels[0] = values[0] = "ok";
			in.user_uid = "u";
			in.user = "app";
			in.new_password = np;
			in.records = &rec;
			in.nrecords = 1;
			switch (where) {
			case 0:
				in.user = bad[i];
				break;
			case 1:
				labels[0] = bad[i];
				break;
			case 2:
				values[0] = bad[i];
				break;
			case 3:
				in.provider_uid = bad[i];
				break;
			case 4:
				secret_free(np);
				assert_int_equal(
				    secret_new(bad[i], strlen(bad[i]), &np), 0);
				in.new_password = np;
				break;
			}
			line = (struct secret *)&in; /* reset on error */
			assert_int_equal(
			    script_input_build(&in, &line), -EINVAL);
			assert_null(line);
			secret_free(np);
		}
	/* The same input with valid strings builds. */
	assert_int_equal(secret_new("good-pass", 9, &np), 0);
	labels[0] = values[0] = "\xf4\x8f\xbf\xbf"; /* U+10FFFF */
	in.user = "app";
	in.provider_uid = NULL;
	in.new_password = np;
	assert_int_equal(script_input_build(&in, &line), 0);
	secret_free(line);
	secret_free(np);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_key),
		cmocka_unit_test(test_private_key),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_escaping),
		cmocka_unit_test(test_not_utf8),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
