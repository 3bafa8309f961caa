/*
 * Unit tests of the control protocol's lines: what protocol_decode()
 * accepts and the code it gives for each kind of bad request, the
 * response encoders and their client-side decoder, strict base64 and the
 * secret round trip, the command -> right table, and the time format.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "base64.h"
#include "protocol.h"
#include "secret.h"

/* Decode TEXT; assert the outcome; return the request (caller decrefs). */
static json_t *
decode(const char *text, size_t len, int want_r, const char *want_code)
{
	const char *code = NULL;
	json_t *req = NULL;
	char msg[256] = "";
	int r;

	r = protocol_decode(text, len, &req, &code, msg, sizeof(msg));
	assert_int_equal(r, want_r);
	if (want_r == 0) {
		assert_non_null(req);
	} else {
		assert_non_null(code);
		assert_string_equal(code, want_code);
		assert_true(msg[0] != '\0');
	}
	return req;
}

static void
decode_ok(const char *text)
{
	json_decref(decode(text, strlen(text), 0, NULL));
}

static void
decode_bad(const char *text, const char *want_code)
{
	json_decref(decode(text, strlen(text), -EINVAL, want_code));
}

static void
assert_nul(const char *text, size_t len)
{
	const char *code = NULL;
	json_t *req = NULL;
	char msg[256] = "";

	assert_int_equal(
	    protocol_decode(text, len, &req, &code, msg, sizeof(msg)), -EINVAL);
	assert_null(req);
	assert_string_equal(code, PROTOCOL_E_BAD_REQUEST);
	assert_non_null(strstr(msg, "NUL byte"));
}

static void
test_decode_good(void **state)
{
	json_t *req;

	(void)state;
	req = decode("{\"v\":1,\"cmd\":\"status\"}", 22, 0, NULL);
	assert_string_equal(
	    json_string_value(json_object_get(req, "cmd")), "status");
	assert_null(protocol_request_id(req));
	json_decref(req);

	req = decode("{\"v\":1,\"cmd\":\"show\",\"user\":\"alice\","
		     "\"id\":\"x-1\"}",
	    46, 0, NULL);
	assert_string_equal(json_string_value(protocol_request_id(req)), "x-1");
	assert_string_equal(
	    json_string_value(json_object_get(req, "user")), "alice");
	json_decref(req);

	/* Every scalar is a valid id; whitespace and a CR are JSON's. */
	decode_ok("{\"v\":1,\"cmd\":\"list\",\"id\":42}");
	decode_ok("{\"v\":1,\"cmd\":\"list\",\"id\":-1.5}");
	decode_ok("{\"v\":1,\"cmd\":\"list\",\"id\":null}");
	decode_ok("{\"v\":1,\"cmd\":\"list\",\"id\":true}");
	decode_ok("  {\"cmd\":\"list\" , \"v\" : 1}\r");
	decode_ok("{\"v\":1,\"cmd\":\"r\xc3\xa9\"}");
	/* An unknown command is the dispatcher's business, not decode's. */
	decode_ok("{\"v\":1,\"cmd\":\"no-such-command\"}");
}

static void
test_decode_bad(void **state)
{
	char *big;
	json_t *req;

	(void)state;
	/* Not JSON, not an object. */
	decode_bad("", PROTOCOL_E_BAD_REQUEST);
	decode_bad("status", PROTOCOL_E_BAD_REQUEST);
	decode_bad("{\"v\":1,\"cmd\":\"status\"", PROTOCOL_E_BAD_REQUEST);
	decode_bad("{\"v\":1,\"cmd\":\"status\"} {}", PROTOCOL_E_BAD_REQUEST);
	decode_bad("[{\"v\":1,\"cmd\":\"status\"}]", PROTOCOL_E_BAD_REQUEST);
	decode_bad("\"status\"", PROTOCOL_E_BAD_REQUEST);
	decode_bad("1", PROTOCOL_E_BAD_REQUEST);
	decode_bad("null", PROTOCOL_E_BAD_REQUEST);
	decode_bad(
	    "{\"v\":1,\"v\":1,\"cmd\":\"status\"}", PROTOCOL_E_BAD_REQUEST);
	decode_bad("{\"v\":1,\"cmd\":\"\xff\"}", PROTOCOL_E_BAD_REQUEST);
	decode_bad("{\"v\":1,\"cmd\":\"a\\u0000b\"}", PROTOCOL_E_BAD_REQUEST);
	/* v */
	decode_bad("{\"cmd\":\"status\"}", PROTOCOL_E_BAD_REQUEST);
	decode_bad("{\"v\":2,\"cmd\":\"status\"}", PROTOCOL_E_VERSION);
	decode_bad("{\"v\":0,\"cmd\":\"status\"}", PROTOCOL_E_VERSION);
	decode_bad("{\"v\":\"1\",\"cmd\":\"status\"}", PROTOCOL_E_VERSION);
	decode_bad("{\"v\":1.0,\"cmd\":\"status\"}", PROTOCOL_E_VERSION);
	decode_bad("{\"v\":null,\"cmd\":\"status\"}", PROTOCOL_E_VERSION);
	/* A future version need not have "cmd": the version is checked
	 * first. */
	decode_bad("{\"v\":2}", PROTOCOL_E_VERSION);
	/* cmd */
	decode_bad("{\"v\":1}", PROTOCOL_E_BAD_REQUEST);
	decode_bad("{\"v\":1,\"cmd\":7}", PROTOCOL_E_BAD_REQUEST);
	decode_bad("{\"v\":1,\"cmd\":null}", PROTOCOL_E_BAD_REQUEST);
	decode_bad("{\"v\":1,\"cmd\":[\"status\"]}", PROTOCOL_E_BAD_REQUEST);
	/* id must be a scalar */
	decode_bad(
	    "{\"v\":1,\"cmd\":\"list\",\"id\":[1]}", PROTOCOL_E_BAD_REQUEST);
	decode_bad(
	    "{\"v\":1,\"cmd\":\"list\",\"id\":{}}", PROTOCOL_E_BAD_REQUEST);

	/* An embedded NUL, even where JSON would end anyway, is named as
	 * such (jansson alone would call it trailing garbage). */
	assert_nul("{\"v\":1,\"cmd\":\"status\"}\0", 23);
	assert_nul("{\"v\":1,\"cmd\":\"st\0tus\"}", 22);
	assert_nul("\0", 1);

	/* Too long: one byte over the limit, whatever it holds. */
	big = malloc(PROTOCOL_LINE_MAX + 2);
	assert_non_null(big);
	memset(big, ' ', PROTOCOL_LINE_MAX + 1);
	memcpy(big, "{\"v\":1,\"cmd\":\"status\"}", 22);
	json_decref(
	    decode(big, PROTOCOL_LINE_MAX + 1, -EINVAL, PROTOCOL_E_TOO_LARGE));
	/* Exactly at the limit is fine. */
	json_decref(decode(big, PROTOCOL_LINE_MAX, 0, NULL));
	free(big);

	/* On failure the object comes back when there was one, so that a
	 * valid id can be echoed; a bad id is not echoed. */
	req = decode("{\"v\":2,\"cmd\":\"status\",\"id\":9}", 29, -EINVAL,
	    PROTOCOL_E_VERSION);
	assert_non_null(req);
	assert_int_equal(json_integer_value(protocol_request_id(req)), 9);
	json_decref(req);
	req =
	    decode("{\"v\":1,\"id\":[9]}", 16, -EINVAL, PROTOCOL_E_BAD_REQUEST);
	assert_null(protocol_request_id(req));
	json_decref(req);
	req = decode("[1]", 3, -EINVAL, PROTOCOL_E_BAD_REQUEST);
	assert_null(req);
}

/* Parse an encoded LINE of LEN bytes, checking its framing. */
static json_t *
parse_line(const char *line, size_t len)
{
	json_t *obj;

	assert_true(len >= 2);
	assert_int_equal(line[len - 1], '\n');
	assert_int_equal(line[len], '\0');
	/* One line: nothing inside may break the framing. */
	assert_null(memchr(line, '\n', len - 1));
	obj = json_loadb(line, len - 1, JSON_REJECT_DUPLICATES, NULL);
	assert_non_null(obj);
	assert_int_equal(json_integer_value(json_object_get(obj, "v")), 1);
	return obj;
}

/* The kind of response TEXT is, or -EINVAL. */
static int
resp_kind(const char *text)
{
	enum protocol_response kind;
	json_t *obj = NULL;
	int r;

	r = protocol_decode_response(text, strlen(text), &obj, &kind);
	if (r < 0) {
		assert_null(obj);
		return r;
	}
	assert_non_null(obj);
	json_decref(obj);
	return (int)kind;
}

static void
test_encode_responses(void **state)
{
	enum protocol_response kind;
	json_t *id, *obj, *back;
	char *line;
	size_t len;

	(void)state;
	id = json_string("req-7");
	assert_int_equal(protocol_encode_result(id,
			     json_pack("{s:s}", "text", "a\nb"), &line, &len),
	    0);
	obj = parse_line(line, len);
	assert_true(json_is_true(json_object_get(obj, "ok")));
	assert_string_equal(
	    json_string_value(json_object_get(obj, "id")), "req-7");
	assert_string_equal(json_string_value(json_object_get(
				json_object_get(obj, "result"), "text")),
	    "a\nb");
	assert_int_equal(
	    protocol_decode_response(line, len - 1, &back, &kind), 0);
	assert_int_equal(kind, PROTOCOL_RESPONSE_OK);
	json_decref(back);
	json_decref(obj);
	free(line);

	/* NULL result is {} and no id means no "id". */
	assert_int_equal(protocol_encode_result(NULL, NULL, &line, &len), 0);
	assert_string_equal(line, "{\"v\":1,\"ok\":true,\"result\":{}}\n");
	free(line);

	/* Errors: code, message, extra members; bad UTF-8 made safe. */
	assert_int_equal(
	    protocol_encode_error(id, PROTOCOL_E_INVALID, "cut \xc3",
		json_pack("{s:[s]}", "errors", "a.yaml:1:2: bad"), &line, &len),
	    0);
	obj = parse_line(line, len);
	assert_true(json_is_false(json_object_get(obj, "ok")));
	assert_string_equal(json_string_value(json_object_get(
				json_object_get(obj, "error"), "code")),
	    "invalid");
	assert_string_equal(json_string_value(json_object_get(
				json_object_get(obj, "error"), "message")),
	    "cut ?");
	assert_int_equal(json_array_size(json_object_get(
			     json_object_get(obj, "error"), "errors")),
	    1);
	assert_int_equal(
	    protocol_decode_response(line, len - 1, &back, &kind), 0);
	assert_int_equal(kind, PROTOCOL_RESPONSE_ERROR);
	json_decref(back);
	json_decref(obj);
	free(line);

	/* EXTRA may not override code or message, and must be an object. */
	assert_int_equal(protocol_encode_error(NULL, "internal", "m",
			     json_pack("{s:s}", "code", "x"), &line, &len),
	    -EINVAL);
	assert_int_equal(protocol_encode_error(
			     NULL, "internal", "m", json_array(), &line, &len),
	    -EINVAL);
	assert_int_equal(
	    protocol_encode_result(NULL, json_array(), &line, &len), -EINVAL);

	/* Progress. */
	assert_int_equal(
	    protocol_encode_progress(
		id, json_pack("{s:s}", "state", "applied"), &line, &len),
	    0);
	assert_int_equal(
	    protocol_decode_response(line, len - 1, &back, &kind), 0);
	assert_int_equal(kind, PROTOCOL_RESPONSE_PROGRESS);
	json_decref(back);
	free(line);
	json_decref(id);

	/* The client refuses what is not a v1 response. */
	assert_int_equal(
	    resp_kind("{\"v\":2,\"ok\":true,\"result\":{}}"), -EINVAL);
	assert_int_equal(resp_kind("{\"v\":1,\"ok\":true,\"result\":{}}"),
	    PROTOCOL_RESPONSE_OK);
	assert_int_equal(
	    resp_kind("{\"v\":1,\"ok\":1,\"result\":{}}"), -EINVAL);
	assert_int_equal(resp_kind("{\"v\":1,\"progress\":[]}"), -EINVAL);
	assert_int_equal(resp_kind("{\"v\":1,\"ok\":true}"), -EINVAL);
	assert_int_equal(resp_kind("{\"v\":1,\"ok\":false,"
				   "\"error\":{\"code\":\"x\"}}"),
	    -EINVAL);
	assert_int_equal(resp_kind("{\"v\":1,\"ok\":false,\"error\":{"
				   "\"code\":\"x\",\"message\":\"m\"}}"),
	    PROTOCOL_RESPONSE_ERROR);
	assert_int_equal(resp_kind("nope"), -EINVAL);
}

static void
test_encode_request(void **state)
{
	json_t *obj, *id;
	char *line;
	size_t len;

	(void)state;
	id = json_integer(3);
	assert_int_equal(
	    protocol_encode_request(
		"show", json_pack("{s:s}", "user", "bob"), id, &line, &len),
	    0);
	assert_string_equal(
	    line, "{\"v\":1,\"cmd\":\"show\",\"user\":\"bob\",\"id\":3}\n");
	/* What the client sends, the server accepts. */
	json_decref(decode(line, len - 1, 0, NULL));
	free(line);
	json_decref(id);

	assert_int_equal(
	    protocol_encode_request("status", NULL, NULL, &line, &len), 0);
	assert_string_equal(line, "{\"v\":1,\"cmd\":\"status\"}\n");
	free(line);

	assert_int_equal(protocol_encode_request("status",
			     json_pack("{s:i}", "v", 2), NULL, &line, &len),
	    -EINVAL);
	assert_int_equal(protocol_encode_request("status",
			     json_pack("{s:i}", "id", 2), NULL, &line, &len),
	    -EINVAL);
	obj = json_array();
	assert_int_equal(
	    protocol_encode_request("status", NULL, obj, &line, &len), -EINVAL);
	json_decref(obj);
}

static void
test_rights(void **state)
{
	static const struct {
		const char *cmd;
		unsigned right;
	} want[] = {
		{ "status", PROTOCOL_RIGHT_READ },
		{ "list", PROTOCOL_RIGHT_READ },
		{ "show", PROTOCOL_RIGHT_READ },
		{ "next", PROTOCOL_RIGHT_READ },
		{ "runs", PROTOCOL_RIGHT_READ },
		{ "run", PROTOCOL_RIGHT_READ },
		{ "metrics", PROTOCOL_RIGHT_READ },
		{ "secret_history", PROTOCOL_RIGHT_READ },
		{ "rotate", PROTOCOL_RIGHT_TRIGGER },
		{ "verify", PROTOCOL_RIGHT_TRIGGER },
		{ "secret_get", PROTOCOL_RIGHT_SECRETS },
		{ "secret_set", PROTOCOL_RIGHT_SECRETS },
		{ "reload", PROTOCOL_RIGHT_ADMIN },
		{ "pause", PROTOCOL_RIGHT_ADMIN },
		{ "resume", PROTOCOL_RIGHT_ADMIN },
	};
	unsigned r;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		assert_int_equal(
		    protocol_command_right(want[i].cmd), want[i].right);
	assert_int_equal(protocol_command_right("Status"), 0);
	assert_int_equal(protocol_command_right("secret"), 0);
	assert_int_equal(protocol_command_right(""), 0);
	assert_int_equal(protocol_command_right(NULL), 0);

	assert_string_equal(
	    protocol_right_name(PROTOCOL_RIGHT_TRIGGER), "trigger");
	assert_string_equal(protocol_right_name(3), "?");
	assert_int_equal(protocol_right_from_name("secrets", &r), 0);
	assert_int_equal(r, PROTOCOL_RIGHT_SECRETS);
	assert_int_equal(protocol_right_from_name("root", &r), -EINVAL);
}

static void
b64_roundtrip(const void *data, size_t n, const char *want)
{
	char out[300];
	unsigned char back[192];
	size_t len = 0, dlen = 0;

	assert_int_equal(base64_encode(data, n, out, sizeof(out)), 0);
	if (want != NULL)
		assert_string_equal(out, want);
	assert_int_equal(strlen(out), base64_encoded_len(n));
	assert_int_equal(base64_decoded_len(out, strlen(out), &dlen), 0);
	assert_int_equal(dlen, n);
	assert_int_equal(
	    base64_decode(out, strlen(out), back, sizeof(back), &len), 0);
	assert_int_equal(len, n);
	assert_memory_equal(back, data, n);
}

static void
test_b64(void **state)
{
	unsigned char all[192];
	size_t i;

	(void)state;
	/* RFC 4648's test vectors. */
	b64_roundtrip("", 0, "");
	b64_roundtrip("f", 1, "Zg==");
	b64_roundtrip("fo", 2, "Zm8=");
	b64_roundtrip("foo", 3, "Zm9v");
	b64_roundtrip("foob", 4, "Zm9vYg==");
	b64_roundtrip("fooba", 5, "Zm9vYmE=");
	b64_roundtrip("foobar", 6, "Zm9vYmFy");
	/* Every byte value, and every alphabet character with it. */
	for (i = 0; i < sizeof(all); i++)
		all[i] = (unsigned char)(255 - i);
	b64_roundtrip(all, sizeof(all), NULL);
	b64_roundtrip("\xfb\xff\xbf", 3, "+/+/");
	b64_roundtrip("\0\0\0", 3, "AAAA");
}

static void
b64_bad(const char *text)
{
	unsigned char out[64];
	size_t len = 99;

	memset(out, 0xaa, sizeof(out));
	assert_int_equal(
	    base64_decode(text, strlen(text), out, sizeof(out), &len),
	    -EINVAL);
	assert_int_equal(len, 99);
}

static void
test_b64_strict(void **state)
{
	unsigned char out[2];
	size_t len;

	(void)state;
	b64_bad("Zg=");      /* length not a multiple of 4 */
	b64_bad("Zg");       /* unpadded */
	b64_bad("Zm9vY");    /* dangling */
	b64_bad("Zg==Zg=="); /* padding in the middle */
	b64_bad("Z===");
	b64_bad("====");
	b64_bad("Zm 9v");
	b64_bad("Zm9v\n");
	b64_bad("Zm9-"); /* base64url is another alphabet */
	b64_bad("Zm9_");
	b64_bad("Zm9\x80");
	b64_bad("Zh=="); /* non-zero bits after the last byte */
	b64_bad("Zm9=");
	b64_bad("Zm8\0");
	/* A buffer too small is not a format error. */
	assert_int_equal(
	    base64_decode("Zm9v", 4, out, 2, &len), -ENOBUFS);
	assert_int_equal(
	    base64_encode("foo", 3, (char *)out, 2), -ENOBUFS);
}

static void
test_b64_wipes_on_error(void **state)
{
	unsigned char out[8];
	size_t len;

	(void)state;
	/* The first quantum decodes before the bad one is seen; what it
	 * wrote must not be left behind. */
	memset(out, 0xaa, sizeof(out));
	assert_int_equal(
	    base64_decode("c2VjcmV0!!==", 12, out, sizeof(out), &len),
	    -EINVAL);
	for (len = 0; len < 6; len++)
		assert_int_equal(out[len], 0);
}

static void
test_secret(void **state)
{
	struct secret *s = NULL, *back = NULL;
	char *b64;

	(void)state;
	assert_int_equal(secret_new("p\0ss\nword", 9, &s), 0);
	b64 = protocol_secret_encode(s);
	assert_non_null(b64);
	assert_string_equal(b64, "cABzcwp3b3Jk");
	assert_int_equal(protocol_secret_decode(b64, &back), 0);
	assert_true(secret_equal(s, back));
	protocol_free_wiped(b64, strlen(b64));
	secret_free(back);
	secret_free(s);

	/* Empty and malformed values are refused. */
	assert_int_equal(protocol_secret_decode("", &back), -EINVAL);
	assert_null(back);
	assert_int_equal(protocol_secret_decode("cABzcwp3b3J", &back), -EINVAL);
	assert_null(back);
}

static void
test_wipe_json(void **state)
{
	json_t *v;
	const char *s;

	(void)state;
	v = json_pack("{s:s, s:[s], s:{s:s}}", "a", "secret", "b", "two", "c",
	    "d", "three");
	protocol_wipe_json(v);
	s = json_string_value(json_object_get(v, "a"));
	assert_memory_equal(s, "\0\0\0\0\0\0", 6);
	s = json_string_value(json_array_get(json_object_get(v, "b"), 0));
	assert_memory_equal(s, "\0\0\0", 3);
	s = json_string_value(json_object_get(json_object_get(v, "c"), "d"));
	assert_memory_equal(s, "\0\0\0\0\0", 5);
	json_decref(v);
	protocol_wipe_json(NULL);
}

static void
test_time(void **state)
{
	char buf[PROTOCOL_TIME_MAX];

	(void)state;
	assert_int_equal(protocol_format_time(1704130080, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "2024-01-01T17:28:00+00:00");
	assert_int_equal(protocol_format_time(0, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "1970-01-01T00:00:00+00:00");
	assert_int_equal(protocol_format_time(1704130080, buf, 10), -EOVERFLOW);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_decode_good),
		cmocka_unit_test(test_decode_bad),
		cmocka_unit_test(test_encode_responses),
		cmocka_unit_test(test_encode_request),
		cmocka_unit_test(test_rights),
		cmocka_unit_test(test_b64),
		cmocka_unit_test(test_b64_strict),
		cmocka_unit_test(test_b64_wipes_on_error),
		cmocka_unit_test(test_secret),
		cmocka_unit_test(test_wipe_json),
		cmocka_unit_test(test_time),
	};

	/* Everything below must also hold with wiping frees. */
	protocol_json_wipe_on_free();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
