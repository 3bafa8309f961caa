/*
 * Unit tests of the worker wire codec: round trips of requests and
 * responses with every field, each kind of malformed message the
 * decoders must refuse (leaving nothing allocated: ASan's leak checker
 * watches the sanitizer build), the parameters' limits from both sides,
 * truncation at every byte, random byte
 * flips, the fd reader and writer under short reads, short writes and
 * EINTR, and a request encoded by tests/lib/wire.py, which must decode
 * here and encode back to the same bytes.
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "secret.h"
#include "wire.h"

/* Tags, as the table in wire.c numbers them. */
enum {
	T_OP = 1,
	T_PROVIDER,
	T_HOST,
	T_PORT,
	T_RETIRED_DATABASE,
	T_LOGIN,
	T_DN,
	T_ADMIN_LOGIN,
	T_TLS_CA_FILE,
	T_TLS_VERIFY,
	T_TIMEOUT,
	T_CURRENT,
	T_NEW_SECRET,
	T_ADMIN,
	T_SCRIPT_PATH,
	T_SCRIPT_COMMAND,
	T_SCRIPT_INPUT,
	T_TEST_ACTION,
	T_PARAMS,
	T_CLASS = 0x81,
	T_MESSAGE,
	T_FACTS,
	T_OUTPUT,
};

/* A message body under construction, for the malformed cases. */
struct msg {
	uint8_t buf[8192];
	size_t len;
};

static void
add_raw(struct msg *m, uint8_t tag, uint32_t len, const void *val, size_t vlen)
{
	assert_true(m->len + 5 + vlen <= sizeof(m->buf));
	m->buf[m->len] = tag;
	m->buf[m->len + 1] = (uint8_t)(len >> 24);
	m->buf[m->len + 2] = (uint8_t)(len >> 16);
	m->buf[m->len + 3] = (uint8_t)(len >> 8);
	m->buf[m->len + 4] = (uint8_t)len;
	if (vlen > 0)
		memcpy(m->buf + m->len + 5, val, vlen);
	m->len += 5 + vlen;
}

static void
add(struct msg *m, uint8_t tag, const void *val, size_t len)
{
	add_raw(m, tag, (uint32_t)len, val, len);
}

static void
add_str(struct msg *m, uint8_t tag, const char *s)
{
	add(m, tag, s, strlen(s));
}

static void
add_int(struct msg *m, uint8_t tag, uint32_t v)
{
	uint8_t be[4] = { (uint8_t)(v >> 24), (uint8_t)(v >> 16),
		(uint8_t)(v >> 8), (uint8_t)v };

	add(m, tag, be, 4);
}

/* One parameter entry at the end of M (a params field's value being built):
 * KLEN bytes of KEY, then the 4-byte VLEN and VLEN bytes of VALUE. */
static void
add_entry(
    struct msg *m, const char *key, size_t klen, const char *value, size_t vlen)
{
	assert_true(klen <= 255);
	assert_true(m->len + 1 + klen + 4 + vlen <= sizeof(m->buf));
	m->buf[m->len++] = (uint8_t)klen;
	memcpy(m->buf + m->len, key, klen);
	m->len += klen;
	m->buf[m->len++] = (uint8_t)(vlen >> 24);
	m->buf[m->len++] = (uint8_t)(vlen >> 16);
	m->buf[m->len++] = (uint8_t)(vlen >> 8);
	m->buf[m->len++] = (uint8_t)vlen;
	if (vlen > 0)
		memcpy(m->buf + m->len, value, vlen);
	m->len += vlen;
}

static void
add_entry_str(struct msg *m, const char *key, const char *value)
{
	add_entry(m, key, strlen(key), value, strlen(value));
}

/* A valid verify request's fields, to which a case adds a bad one. */
static void
base_verify(struct msg *m)
{
	m->len = 0;
	add_int(m, T_OP, WIRE_OP_VERIFY);
	add_str(m, T_PROVIDER, "test");
	add_str(m, T_LOGIN, "app");
	add_str(m, T_NEW_SECRET, "candidate-1");
}

static const struct wire_request zero_req;
static const struct wire_response zero_res;

static void
req_ok(const struct msg *m)
{
	struct wire_request req;

	assert_int_equal(wire_request_decode(m->buf, m->len, &req), 0);
	wire_request_clear(&req);
	assert_memory_equal(&req, &zero_req, sizeof(req));
}

/* Refused, and nothing left behind in REQ. */
static void
req_bad(const void *buf, size_t len)
{
	struct wire_request req;

	memset(&req, 0xa5, sizeof(req));
	assert_int_equal(wire_request_decode(buf, len, &req), -EBADMSG);
	assert_memory_equal(&req, &zero_req, sizeof(req));
}

static void
res_bad(const void *buf, size_t len)
{
	struct wire_response res;

	memset(&res, 0xa5, sizeof(res));
	assert_int_equal(wire_response_decode(buf, len, &res), -EBADMSG);
	assert_memory_equal(&res, &zero_res, sizeof(res));
}

static struct secret *
sec(const void *data, size_t len)
{
	struct secret *s;

	assert_int_equal(secret_new(data, len, &s), 0);
	return s;
}

static void
assert_secret(const struct secret *s, const void *data, size_t len)
{
	assert_non_null(s);
	assert_int_equal(secret_len(s), len);
	assert_memory_equal(secret_data(s), data, len);
}

/* N parameters, malloc'ed as the decoder makes them, from KV: key,
 * value, key, value... */
static void
set_params(struct wire_request *req, const char *const *kv, size_t n)
{
	size_t i;

	req->params = calloc(n > 0 ? n : 1, sizeof(*req->params));
	assert_non_null(req->params);
	for (i = 0; i < n; i++) {
		req->params[i].key = strdup(kv[2 * i]);
		req->params[i].value = strdup(kv[2 * i + 1]);
		assert_non_null(req->params[i].key);
		assert_non_null(req->params[i].value);
	}
	req->nparams = n;
}

/* Every field set; the secrets hold NUL bytes; a parameter is empty. */
static void
full_request(struct wire_request *req)
{
	static const char *const kv[] = { "database", "app", "x_2", "" };

	memset(req, 0, sizeof(*req));
	req->op = WIRE_OP_APPLY;
	req->provider = strdup("postgresql");
	req->host = strdup("db.internal");
	req->port = 5432;
	req->login = strdup("app");
	req->dn = strdup("cn=app,dc=example");
	req->admin_login = strdup("postgres");
	req->tls_ca_file = strdup("/etc/ssl/ca.pem");
	req->tls_verify = false;
	req->timeout = 30;
	req->current = sec("old\0pw\n", 7);
	req->new_secret = sec("new-Secret-1", 12);
	req->admin = sec("admin-pw", 8);
	req->script_path = strdup("/usr/local/bin/post");
	req->script_command = strdup("/bin/sh");
	req->script_input = sec("eyJ1c2VyIjoiYXBwIn0=", 20);
	req->test_action = strdup("exec");
	set_params(req, kv, 2);
}

static void
assert_full_request(const struct wire_request *req)
{
	assert_int_equal(req->op, WIRE_OP_APPLY);
	assert_string_equal(req->provider, "postgresql");
	assert_string_equal(req->host, "db.internal");
	assert_int_equal(req->port, 5432);
	assert_string_equal(req->login, "app");
	assert_string_equal(req->dn, "cn=app,dc=example");
	assert_string_equal(req->admin_login, "postgres");
	assert_string_equal(req->tls_ca_file, "/etc/ssl/ca.pem");
	assert_false(req->tls_verify);
	assert_int_equal(req->timeout, 30);
	assert_secret(req->current, "old\0pw\n", 7);
	assert_secret(req->new_secret, "new-Secret-1", 12);
	assert_secret(req->admin, "admin-pw", 8);
	assert_string_equal(req->script_path, "/usr/local/bin/post");
	assert_string_equal(req->script_command, "/bin/sh");
	assert_secret(req->script_input, "eyJ1c2VyIjoiYXBwIn0=", 20);
	assert_string_equal(req->test_action, "exec");
	assert_int_equal(req->nparams, 2);
	assert_string_equal(req->params[0].key, "database");
	assert_string_equal(req->params[0].value, "app");
	assert_string_equal(req->params[1].key, "x_2");
	assert_string_equal(req->params[1].value, "");
	assert_string_equal(wire_param(req, "database"), "app");
	assert_string_equal(wire_param(req, "x_2"), "");
	assert_null(wire_param(req, "x"));
	assert_null(wire_param(req, "database_"));
}

static uint32_t
prefix_of(const void *msg)
{
	const uint8_t *p = msg;

	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
}

static void
test_request_round_trip(void **state)
{
	struct wire_request req, back;
	struct secret *msg;
	const uint8_t *p;
	size_t len;

	(void)state;
	full_request(&req);
	assert_int_equal(wire_request_encode(&req, &msg), 0);
	p = secret_data(msg);
	assert_int_equal(prefix_of(p) + 4, secret_len(msg));
	assert_int_equal(
	    wire_request_decode(p + 4, secret_len(msg) - 4, &back), 0);
	assert_full_request(&back);
	wire_request_clear(&back);
	assert_memory_equal(&back, &zero_req, sizeof(back));

	/* The bool and the ints come back on their other values too. */
	req.tls_verify = true;
	req.port = 65535;
	req.timeout = 86400;
	secret_free(msg);
	assert_int_equal(wire_request_encode(&req, &msg), 0);
	p = secret_data(msg);
	assert_int_equal(
	    wire_request_decode(p + 4, secret_len(msg) - 4, &back), 0);
	assert_true(back.tls_verify);
	assert_int_equal(back.port, 65535);
	assert_int_equal(back.timeout, 86400);
	assert_false(back.tls_disabled);
	wire_request_clear(&back);

	/* tls_disabled (tag 20) is written only when true: one byte 1 more
	 * than the same request with TLS. */
	len = secret_len(msg);
	secret_free(msg);
	req.tls_disabled = true;
	assert_int_equal(wire_request_encode(&req, &msg), 0);
	assert_int_equal(secret_len(msg), len + 6);
	p = secret_data(msg);
	assert_int_equal(p[len], 20);
	assert_int_equal(p[len + 5], 1);
	assert_int_equal(
	    wire_request_decode(p + 4, secret_len(msg) - 4, &back), 0);
	assert_true(back.tls_disabled);
	wire_request_clear(&back);
	/* Written as 0 it would be a second encoding: refused. */
	{
		uint8_t *q = malloc(secret_len(msg));

		assert_non_null(q);
		memcpy(q, p, secret_len(msg));
		q[len + 5] = 0;
		assert_int_equal(
		    wire_request_decode(q + 4, secret_len(msg) - 4, &back),
		    -EBADMSG);
		free(q);
	}
	/* private_key (tag 21, written only when true) and the current
	 * key's passphrase (tag 22) come after it. */
	len = secret_len(msg);
	secret_free(msg);
	req.private_key = true;
	assert_int_equal(secret_new("pass phrase", 11, &req.passphrase), 0);
	assert_int_equal(wire_request_encode(&req, &msg), 0);
	assert_int_equal(secret_len(msg), len + 6 + 5 + 11);
	p = secret_data(msg);
	assert_int_equal(p[len], 21);
	assert_int_equal(p[len + 5], 1);
	assert_int_equal(p[len + 6], 22);
	assert_int_equal(
	    wire_request_decode(p + 4, secret_len(msg) - 4, &back), 0);
	assert_true(back.private_key);
	assert_non_null(back.passphrase);
	assert_int_equal(secret_len(back.passphrase), 11);
	assert_memory_equal(secret_data(back.passphrase), "pass phrase", 11);
	wire_request_clear(&back);
	secret_free(msg);
	wire_request_clear(&req);
	wire_request_clear(NULL);
}

static void
test_request_minimal(void **state)
{
	struct wire_request req, back;
	struct secret *msg;
	struct msg m;

	(void)state;
	/* Absent optional fields decode as their defaults. */
	base_verify(&m);
	assert_int_equal(wire_request_decode(m.buf, m.len, &back), 0);
	assert_int_equal(back.op, WIRE_OP_VERIFY);
	assert_string_equal(back.provider, "test");
	assert_string_equal(back.login, "app");
	assert_secret(back.new_secret, "candidate-1", 11);
	assert_null(back.host);
	assert_null(back.params);
	assert_int_equal(back.nparams, 0);
	assert_null(wire_param(&back, "database"));
	assert_null(back.dn);
	assert_null(back.admin_login);
	assert_null(back.tls_ca_file);
	assert_null(back.current);
	assert_null(back.admin);
	assert_null(back.script_path);
	assert_null(back.script_command);
	assert_null(back.script_input);
	assert_null(back.test_action);
	assert_int_equal(back.port, 0);
	assert_int_equal(back.timeout, 0);
	assert_true(back.tls_verify);

	/* An empty secret and an empty optional string are values. */
	secret_free(back.new_secret);
	back.new_secret = sec(NULL, 0);
	back.host = strdup("");
	assert_int_equal(wire_request_encode(&back, &msg), 0);
	wire_request_clear(&back);
	assert_int_equal(
	    wire_request_decode((const uint8_t *)secret_data(msg) + 4,
		secret_len(msg) - 4, &back),
	    0);
	assert_secret(back.new_secret, "", 0);
	assert_string_equal(back.host, "");
	wire_request_clear(&back);
	secret_free(msg);

	/* A script request needs neither login nor new_secret. */
	memset(&req, 0, sizeof(req));
	req.op = WIRE_OP_SCRIPT;
	req.provider = strdup("script");
	req.script_path = strdup("/bin/post");
	req.script_input = sec("aW5wdXQ=", 8);
	assert_int_equal(wire_request_encode(&req, &msg), 0);
	assert_int_equal(
	    wire_request_decode((const uint8_t *)secret_data(msg) + 4,
		secret_len(msg) - 4, &back),
	    0);
	assert_int_equal(back.op, WIRE_OP_SCRIPT);
	assert_string_equal(back.script_path, "/bin/post");
	assert_secret(back.script_input, "aW5wdXQ=", 8);
	assert_null(back.login);
	assert_null(back.new_secret);
	wire_request_clear(&back);
	wire_request_clear(&req);
	secret_free(msg);
}

static void
test_request_encode_refused(void **state)
{
	struct wire_request req;
	struct secret *msg = (struct secret *)&msg;
	char *big;

	(void)state;
	full_request(&req);
	req.port = -1;
	assert_int_equal(wire_request_encode(&req, &msg), -EINVAL);
	assert_null(msg);
	req.port = 65536;
	assert_int_equal(wire_request_encode(&req, &msg), -EINVAL);
	req.port = 0;
	req.timeout = -1;
	assert_int_equal(wire_request_encode(&req, &msg), -EINVAL);
	req.timeout = 86401;
	assert_int_equal(wire_request_encode(&req, &msg), -EINVAL);
	req.timeout = 0;
	req.op = 0;
	assert_int_equal(wire_request_encode(&req, &msg), -EINVAL);
	req.op = WIRE_OP__MAX;
	assert_int_equal(wire_request_encode(&req, &msg), -EINVAL);
	req.op = WIRE_OP_APPLY;

	/* Strings: the bound is inclusive, one more is refused. */
	big = malloc(4097);
	assert_non_null(big);
	memset(big, 'a', 4096);
	big[4096] = '\0';
	free(req.tls_ca_file);
	req.tls_ca_file = big;
	assert_int_equal(wire_request_encode(&req, &msg), -EINVAL);
	big[4095] = '\0';
	assert_int_equal(wire_request_encode(&req, &msg), 0);
	secret_free(msg);
	big[64] = '\0';
	free(req.provider);
	req.provider = strdup(big);
	assert_int_equal(wire_request_encode(&req, &msg), -EINVAL);
	req.provider[63] = '\0';
	assert_int_equal(wire_request_encode(&req, &msg), 0);
	secret_free(msg);
	req.provider[0] = '\0';
	assert_int_equal(wire_request_encode(&req, &msg), -EINVAL);
	strcpy(req.provider, "postgresql");

	/* Required per op. */
	req.login[0] = '\0';
	assert_int_equal(wire_request_encode(&req, &msg), -EINVAL);
	strcpy(req.login, "app");
	secret_free(req.new_secret);
	req.new_secret = NULL;
	assert_int_equal(wire_request_encode(&req, &msg), -EINVAL);
	req.op = WIRE_OP_SCRIPT; /* the script's fields are all there */
	assert_int_equal(wire_request_encode(&req, &msg), 0);
	secret_free(msg);
	secret_free(req.script_input);
	req.script_input = NULL;
	assert_int_equal(wire_request_encode(&req, &msg), -EINVAL);

	/* Over WIRE_MAX, prefix included. */
	req.op = WIRE_OP_VERIFY;
	req.new_secret = sec(NULL, WIRE_MAX - 200);
	assert_int_equal(wire_request_encode(&req, &msg), -EMSGSIZE);
	assert_null(msg);
	wire_request_clear(&req);
}

static void
test_request_refused(void **state)
{
	static const char long_provider[] =
	    "0123456789012345678901234567890123456789012345678901234567890123";
	struct msg m;
	uint8_t b;

	(void)state;
	base_verify(&m);
	req_ok(&m);

	/* Unknown tags, including the response's. */
	base_verify(&m);
	add_str(&m, 0, "x");
	req_bad(m.buf, m.len);
	base_verify(&m);
	add_str(&m, T_PARAMS + 1, "x");
	req_bad(m.buf, m.len);
	/* 5 was database: retired, not to be read as anything. */
	base_verify(&m);
	add_str(&m, T_RETIRED_DATABASE, "app");
	req_bad(m.buf, m.len);
	base_verify(&m);
	add_int(&m, T_CLASS, 0);
	req_bad(m.buf, m.len);
	base_verify(&m);
	add_str(&m, 0xff, "x");
	req_bad(m.buf, m.len);

	/* Repeated tags: a string, a secret (the first one freed), an int. */
	base_verify(&m);
	add_str(&m, T_PROVIDER, "test");
	req_bad(m.buf, m.len);
	base_verify(&m);
	add_str(&m, T_NEW_SECRET, "again");
	req_bad(m.buf, m.len);
	base_verify(&m);
	add_int(&m, T_OP, WIRE_OP_VERIFY);
	req_bad(m.buf, m.len);

	/* A field past the end, a header cut short. */
	base_verify(&m);
	add_raw(&m, T_HOST, 10, "abc", 3);
	req_bad(m.buf, m.len);
	base_verify(&m);
	add_raw(&m, T_HOST, 0xffffffffu, "abc", 3);
	req_bad(m.buf, m.len);
	base_verify(&m);
	m.buf[m.len++] = T_HOST;
	m.buf[m.len++] = 0;
	req_bad(m.buf, m.len);

	/* Strings: a NUL anywhere, or over the bound. */
	base_verify(&m);
	add(&m, T_HOST, "db\0x", 4);
	req_bad(m.buf, m.len);
	base_verify(&m);
	add(&m, T_TEST_ACTION, "\0", 1);
	req_bad(m.buf, m.len);
	m.len = 0;
	add_int(&m, T_OP, WIRE_OP_VERIFY);
	add_str(&m, T_PROVIDER, long_provider);
	add_str(&m, T_LOGIN, "app");
	add_str(&m, T_NEW_SECRET, "c");
	req_bad(m.buf, m.len);
	m.len = 0;
	add_int(&m, T_OP, WIRE_OP_VERIFY);
	add(&m, T_PROVIDER, long_provider, 63);
	add_str(&m, T_LOGIN, "app");
	add_str(&m, T_NEW_SECRET, "c");
	req_ok(&m);

	/* Ints: wrong size, out of range; and the edges that are fine. */
	base_verify(&m);
	add(&m, T_PORT, "\0\0\1", 3);
	req_bad(m.buf, m.len);
	base_verify(&m);
	add(&m, T_PORT, "\0\0\0\0\1", 5);
	req_bad(m.buf, m.len);
	base_verify(&m);
	add_int(&m, T_PORT, 65536);
	req_bad(m.buf, m.len);
	base_verify(&m);
	add_int(&m, T_PORT, 65535);
	req_ok(&m);
	base_verify(&m);
	add_int(&m, T_PORT, 0xffffffffu); /* not -1 */
	req_bad(m.buf, m.len);
	base_verify(&m);
	add_int(&m, T_TIMEOUT, 86401);
	req_bad(m.buf, m.len);
	base_verify(&m);
	add_int(&m, T_TIMEOUT, 86400);
	req_ok(&m);
	m.len = 0;
	add_int(&m, T_OP, 0);
	add_str(&m, T_PROVIDER, "test");
	add_str(&m, T_LOGIN, "app");
	add_str(&m, T_NEW_SECRET, "c");
	req_bad(m.buf, m.len);
	m.buf[8] = WIRE_OP__MAX;
	req_bad(m.buf, m.len);
	m.buf[8] = WIRE_OP_APPLY;
	req_ok(&m);

	/* The bool: one byte, 0 or 1. */
	base_verify(&m);
	b = 2;
	add(&m, T_TLS_VERIFY, &b, 1);
	req_bad(m.buf, m.len);
	base_verify(&m);
	add(&m, T_TLS_VERIFY, "\0\0", 2);
	req_bad(m.buf, m.len);
	base_verify(&m);
	add(&m, T_TLS_VERIFY, "", 0);
	req_bad(m.buf, m.len);
	base_verify(&m);
	b = 0;
	add(&m, T_TLS_VERIFY, &b, 1);
	req_ok(&m);

	/* Required fields missing or empty. */
	m.len = 0;
	add_str(&m, T_PROVIDER, "test");
	add_str(&m, T_LOGIN, "app");
	add_str(&m, T_NEW_SECRET, "c");
	req_bad(m.buf, m.len); /* no op */
	m.len = 0;
	add_int(&m, T_OP, WIRE_OP_APPLY);
	add_str(&m, T_LOGIN, "app");
	add_str(&m, T_NEW_SECRET, "c");
	req_bad(m.buf, m.len); /* no provider */
	add_str(&m, T_PROVIDER, "");
	req_bad(m.buf, m.len); /* an empty one */
	m.len = 0;
	add_int(&m, T_OP, WIRE_OP_APPLY);
	add_str(&m, T_PROVIDER, "test");
	add_str(&m, T_NEW_SECRET, "c");
	req_bad(m.buf, m.len); /* apply without login */
	m.len = 0;
	add_int(&m, T_OP, WIRE_OP_VERIFY);
	add_str(&m, T_PROVIDER, "test");
	add_str(&m, T_LOGIN, "app");
	add_str(&m, T_CURRENT, "c");
	req_bad(m.buf, m.len); /* verify without new_secret */
	m.len = 0;
	add_int(&m, T_OP, WIRE_OP_SCRIPT);
	add_str(&m, T_PROVIDER, "script");
	add_str(&m, T_SCRIPT_INPUT, "aW5wdXQ=");
	req_bad(m.buf, m.len); /* script without script_path */
	add_str(&m, T_SCRIPT_PATH, "/bin/post");
	req_ok(&m);
	m.len = 0;
	add_int(&m, T_OP, WIRE_OP_SCRIPT);
	add_str(&m, T_PROVIDER, "script");
	add_str(&m, T_SCRIPT_PATH, "/bin/post");
	req_bad(m.buf, m.len); /* script without script_input */
	req_bad("", 0);
}

/* Encode REQ, decode it back into *BACK. */
static void
round_trip(const struct wire_request *req, struct wire_request *back)
{
	struct secret *msg;

	assert_int_equal(wire_request_encode(req, &msg), 0);
	assert_int_equal(
	    wire_request_decode((const uint8_t *)secret_data(msg) + 4,
		secret_len(msg) - 4, back),
	    0);
	secret_free(msg);
}

static void
test_params_round_trip(void **state)
{
	struct wire_request req, back;
	char keys[WIRE_PARAMS_MAX][8], key[WIRE_PARAM_KEY_MAX + 1];
	char value[WIRE_PARAM_VALUE_MAX + 1];
	struct secret *with, *without;
	size_t i;

	(void)state;
	/* Every field, two parameters: covered by the full request. */
	full_request(&req);
	round_trip(&req, &back);
	assert_full_request(&back);
	wire_request_clear(&back);

	/* The most parameters, in the order given. */
	wire_request_clear(&req);
	full_request(&req);
	for (i = 0; i < 2; i++) {
		free(req.params[i].key);
		free(req.params[i].value);
	}
	free(req.params);
	req.params = calloc(WIRE_PARAMS_MAX, sizeof(*req.params));
	assert_non_null(req.params);
	for (i = 0; i < WIRE_PARAMS_MAX; i++) {
		snprintf(keys[i], sizeof(keys[i]), "k%zu", WIRE_PARAMS_MAX - i);
		req.params[i].key = keys[i];
		req.params[i].value = keys[i];
	}
	req.nparams = WIRE_PARAMS_MAX;
	round_trip(&req, &back);
	assert_int_equal(back.nparams, WIRE_PARAMS_MAX);
	for (i = 0; i < WIRE_PARAMS_MAX; i++) {
		assert_string_equal(back.params[i].key, keys[i]);
		assert_string_equal(wire_param(&back, keys[i]), keys[i]);
	}
	wire_request_clear(&back);

	/* The longest key and value, every key character. */
	memset(key, 'k', WIRE_PARAM_KEY_MAX);
	key[WIRE_PARAM_KEY_MAX] = '\0';
	memset(value, 'v', WIRE_PARAM_VALUE_MAX);
	value[WIRE_PARAM_VALUE_MAX] = '\0';
	req.params[0].key = key;
	req.params[0].value = value;
	req.params[1].key = (char *)"abcdefghijklmnopqrstuvwxyz_0123456789";
	req.params[1].value = (char *)"any text: \x01\xff\n";
	req.nparams = 2;
	round_trip(&req, &back);
	assert_int_equal(back.nparams, 2);
	assert_string_equal(wire_param(&back, key), value);
	assert_string_equal(
	    wire_param(&back, "abcdefghijklmnopqrstuvwxyz_0123456789"),
	    "any text: \x01\xff\n");
	wire_request_clear(&back);

	/* No parameters: no field at all, NULL params or not. */
	req.nparams = 0;
	assert_int_equal(wire_request_encode(&req, &with), 0);
	free(req.params);
	req.params = NULL;
	assert_int_equal(wire_request_encode(&req, &without), 0);
	assert_int_equal(secret_len(with), secret_len(without));
	assert_memory_equal(
	    secret_data(with), secret_data(without), secret_len(with));
	secret_free(with);
	secret_free(without);
	round_trip(&req, &back);
	assert_null(back.params);
	assert_int_equal(back.nparams, 0);
	wire_request_clear(&back);
	wire_request_clear(&req);
}

/* M (a valid request) with a params field of the entries in E. */
static void
req_params_bad(const struct msg *e)
{
	struct msg m;

	base_verify(&m);
	add(&m, T_PARAMS, e->buf, e->len);
	req_bad(m.buf, m.len);
}

static void
req_params_ok(const struct msg *e)
{
	struct msg m;

	base_verify(&m);
	add(&m, T_PARAMS, e->buf, e->len);
	req_ok(&m);
}

static void
test_params_refused(void **state)
{
	static const char *const bad_keys[] = { "Database", "data-base",
		"data base", "data.base", "caf\xc3\xa9", "a\x01" };
	char big[WIRE_PARAM_VALUE_MAX + 2], name[8];
	struct msg e, m;
	size_t i;

	(void)state;
	memset(big, 'x', sizeof(big));

	/* The control: one good entry decodes, as does an empty value. */
	e.len = 0;
	add_entry_str(&e, "database", "app");
	req_params_ok(&e);
	add_entry_str(&e, "empty", "");
	req_params_ok(&e);

	/* Too many: WIRE_PARAMS_MAX pass, one more does not. */
	e.len = 0;
	for (i = 0; i < WIRE_PARAMS_MAX; i++) {
		snprintf(name, sizeof(name), "k%zu", i);
		add_entry_str(&e, name, "v");
	}
	req_params_ok(&e);
	add_entry_str(&e, "one_more", "v");
	req_params_bad(&e);

	/* Keys: characters other than [a-z0-9_], empty, too long. */
	for (i = 0; i < sizeof(bad_keys) / sizeof(bad_keys[0]); i++) {
		e.len = 0;
		add_entry_str(&e, bad_keys[i], "x");
		req_params_bad(&e);
	}
	e.len = 0;
	add_entry(&e, "a\0b", 3, "x", 1); /* a NUL in a key */
	req_params_bad(&e);
	e.len = 0;
	add_entry(&e, "", 0, "x", 1);
	req_params_bad(&e);
	e.len = 0;
	add_entry(&e, big, WIRE_PARAM_KEY_MAX, "x", 1);
	req_params_ok(&e);
	e.len = 0;
	add_entry(&e, big, WIRE_PARAM_KEY_MAX + 1, "x", 1);
	req_params_bad(&e);
	e.len = 0;
	add_entry(&e, big, 255, "x", 1);
	req_params_bad(&e);

	/* Values: too long, a NUL anywhere. */
	e.len = 0;
	add_entry(&e, "database", 8, big, WIRE_PARAM_VALUE_MAX);
	req_params_ok(&e);
	e.len = 0;
	add_entry(&e, "database", 8, big, WIRE_PARAM_VALUE_MAX + 1);
	req_params_bad(&e);
	e.len = 0;
	add_entry(&e, "database", 8, "a\0b", 3);
	req_params_bad(&e);
	e.len = 0;
	add_entry(&e, "database", 8, "\0", 1);
	req_params_bad(&e);

	/* A key twice, next to each other or not (the first copies freed). */
	e.len = 0;
	add_entry_str(&e, "database", "a");
	add_entry_str(&e, "database", "b");
	req_params_bad(&e);
	e.len = 0;
	add_entry_str(&e, "database", "a");
	add_entry_str(&e, "port_x", "b");
	add_entry_str(&e, "database", "a");
	req_params_bad(&e);
	e.len = 0;
	add_entry_str(&e, "data", "a");
	add_entry_str(&e, "database", "b"); /* a prefix is another key */
	req_params_ok(&e);

	/* Truncated entries: cut at every byte of the second one, and a
	 * value length that runs past the field (but not the message). */
	e.len = 0;
	add_entry_str(&e, "database", "app");
	add_entry_str(&e, "sslmode", "require");
	for (i = 1; i < 1 + 7 + 4 + 7; i++) {
		struct msg cut = e;

		cut.len = e.len - i;
		req_params_bad(&cut);
	}
	e.len = 0;
	add_entry_str(&e, "database", "app");
	e.buf[1 + 8 + 3] = 4; /* "app" claims 4 bytes */
	base_verify(&m);
	add(&m, T_PARAMS, e.buf, e.len);
	add_str(&m, T_HOST, "x");
	req_bad(m.buf, m.len);
	e.buf[1 + 8 + 3] = 0xff;
	e.buf[1 + 8] = 0xff; /* 0xff0000ff: no wrap-around */
	req_params_bad(&e);

	/* A byte left after the last entry, an empty field, two fields. */
	e.len = 0;
	add_entry_str(&e, "database", "app");
	e.buf[e.len++] = 0;
	req_params_bad(&e);
	e.len = 0;
	req_params_bad(&e);
	e.len = 0;
	add_entry_str(&e, "database", "app");
	base_verify(&m);
	add(&m, T_PARAMS, e.buf, e.len);
	add(&m, T_PARAMS, e.buf, e.len);
	req_bad(m.buf, m.len);
}

static void
test_params_encode_refused(void **state)
{
	struct wire_request req;
	struct secret *msg = (struct secret *)&msg;
	struct wire_param p[WIRE_PARAMS_MAX + 1];
	char key[WIRE_PARAM_KEY_MAX + 2], value[WIRE_PARAM_VALUE_MAX + 2];
	char keys[WIRE_PARAMS_MAX + 1][8];
	size_t i;

	(void)state;
	memset(&req, 0, sizeof(req));
	req.op = WIRE_OP_VERIFY;
	req.provider = (char *)"postgresql";
	req.login = (char *)"app";
	req.new_secret = sec("c", 1);
	for (i = 0; i <= WIRE_PARAMS_MAX; i++) {
		snprintf(keys[i], sizeof(keys[i]), "k%zu", i);
		p[i].key = keys[i];
		p[i].value = (char *)"v";
	}
	req.params = p;

	/* Too many, and a count without an array. */
	req.nparams = WIRE_PARAMS_MAX;
	assert_int_equal(wire_request_encode(&req, &msg), 0);
	secret_free(msg);
	req.nparams = WIRE_PARAMS_MAX + 1;
	assert_int_equal(wire_request_encode(&req, &msg), -EINVAL);
	assert_null(msg);
	req.nparams = 1;
	req.params = NULL;
	assert_int_equal(wire_request_encode(&req, &msg), -EINVAL);
	req.params = p;

	/* A NULL key or value; bad keys. */
	p[0].key = NULL;
	assert_int_equal(wire_request_encode(&req, &msg), -EINVAL);
	p[0].key = keys[0];
	p[0].value = NULL;
	assert_int_equal(wire_request_encode(&req, &msg), -EINVAL);
	p[0].value = (char *)"v";
	p[0].key = (char *)"";
	assert_int_equal(wire_request_encode(&req, &msg), -EINVAL);
	p[0].key = (char *)"Database";
	assert_int_equal(wire_request_encode(&req, &msg), -EINVAL);
	p[0].key = (char *)"data-base";
	assert_int_equal(wire_request_encode(&req, &msg), -EINVAL);
	memset(key, 'k', sizeof(key) - 1);
	key[sizeof(key) - 1] = '\0'; /* 64 bytes */
	p[0].key = key;
	assert_int_equal(wire_request_encode(&req, &msg), -EINVAL);
	key[WIRE_PARAM_KEY_MAX] = '\0';
	assert_int_equal(wire_request_encode(&req, &msg), 0);
	secret_free(msg);

	/* A value one byte too long. */
	memset(value, 'v', sizeof(value) - 1);
	value[sizeof(value) - 1] = '\0';
	p[0].value = value;
	assert_int_equal(wire_request_encode(&req, &msg), -EINVAL);
	value[WIRE_PARAM_VALUE_MAX] = '\0';
	assert_int_equal(wire_request_encode(&req, &msg), 0);
	secret_free(msg);

	/* A key twice. */
	p[0].key = keys[0];
	p[0].value = (char *)"v";
	p[2].key = keys[0];
	req.nparams = 3;
	assert_int_equal(wire_request_encode(&req, &msg), -EINVAL);
	p[2].key = keys[2];
	assert_int_equal(wire_request_encode(&req, &msg), 0);
	secret_free(msg);
	secret_free(req.new_secret);
}

static void
test_request_over_max(void **state)
{
	struct wire_request req;
	uint8_t *big;
	struct msg m;
	size_t fill;

	(void)state;
	/*
	 * A valid request padded out with a large secret to exactly
	 * WIRE_MAX bytes decodes; one byte more (in the secret) is refused
	 * for its length alone.
	 */
	big = calloc(1, WIRE_MAX + 1);
	assert_non_null(big);
	base_verify(&m);
	memcpy(big, m.buf, m.len);
	fill = WIRE_MAX - m.len - 5;
	big[m.len] = T_CURRENT;
	big[m.len + 1] = (uint8_t)(fill >> 24);
	big[m.len + 2] = (uint8_t)(fill >> 16);
	big[m.len + 3] = (uint8_t)(fill >> 8);
	big[m.len + 4] = (uint8_t)fill;
	assert_int_equal(wire_request_decode(big, WIRE_MAX, &req), 0);
	assert_int_equal(secret_len(req.current), fill);
	wire_request_clear(&req);
	fill++;
	big[m.len + 3] = (uint8_t)(fill >> 8);
	big[m.len + 4] = (uint8_t)fill;
	req_bad(big, WIRE_MAX + 1);
	res_bad(big, WIRE_MAX + 1);
	free(big);
}

static void
test_response_round_trip(void **state)
{
	struct wire_response res, back;
	uint8_t *msg;
	size_t len;
	unsigned c;

	(void)state;
	memset(&res, 0, sizeof(res));
	res.class = WIRE_CLASS_POLICY;
	strcpy(res.message, "password too short");
	strcpy(res.facts, "server=PostgreSQL 15.4\nrole=app");
	res.output = (char *)"out\0err\n";
	res.output_len = 8;
	assert_int_equal(wire_response_encode(&res, &msg, &len), 0);
	assert_int_equal(prefix_of(msg) + 4, len);
	assert_int_equal(wire_response_decode(msg + 4, len - 4, &back), 0);
	assert_int_equal(back.class, WIRE_CLASS_POLICY);
	assert_string_equal(back.message, "password too short");
	assert_string_equal(back.facts, "server=PostgreSQL 15.4\nrole=app");
	assert_int_equal(back.output_len, 8);
	assert_memory_equal(back.output, "out\0err\n", 9); /* NUL-terminated */
	wire_response_clear(&back);
	assert_memory_equal(&back, &zero_res, sizeof(back));
	wire_response_clear(NULL);
	free(msg);

	/* Only the class: empty texts, no output; an empty output is one. */
	for (c = 0; c < WIRE_CLASS__MAX; c++) {
		memset(&res, 0, sizeof(res));
		res.class = c;
		assert_int_equal(wire_response_encode(&res, &msg, &len), 0);
		assert_int_equal(len, 4 + 5 + 4);
		assert_int_equal(
		    wire_response_decode(msg + 4, len - 4, &back), 0);
		assert_int_equal(back.class, c);
		assert_string_equal(back.message, "");
		assert_string_equal(back.facts, "");
		assert_null(back.output);
		free(msg);
	}
	res.output = (char *)"";
	assert_int_equal(wire_response_encode(&res, &msg, &len), 0);
	assert_int_equal(wire_response_decode(msg + 4, len - 4, &back), 0);
	assert_non_null(back.output);
	assert_int_equal(back.output_len, 0);
	wire_response_clear(&back);
	free(msg);

	/* The largest of each text still fits. */
	memset(res.message, 'm', sizeof(res.message) - 1);
	memset(res.facts, 'f', sizeof(res.facts) - 1);
	res.facts[sizeof(res.facts) - 1] = '\0';
	res.class = WIRE_CLASS_FATAL;
	res.output = calloc(1, WIRE_OUTPUT_MAX);
	assert_non_null(res.output);
	res.output_len = WIRE_OUTPUT_MAX - 1;
	assert_int_equal(wire_response_encode(&res, &msg, &len), 0);
	assert_int_equal(wire_response_decode(msg + 4, len - 4, &back), 0);
	assert_int_equal(strlen(back.message), WIRE_MESSAGE_MAX - 1);
	assert_int_equal(strlen(back.facts), WIRE_FACTS_MAX - 1);
	assert_int_equal(back.output_len, WIRE_OUTPUT_MAX - 1);
	wire_response_clear(&back);
	free(msg);

	/* And one more of each is refused. */
	res.output_len = WIRE_OUTPUT_MAX;
	msg = (uint8_t *)&res;
	assert_int_equal(wire_response_encode(&res, &msg, &len), -EINVAL);
	assert_null(msg);
	res.output_len = 1;
	res.message[sizeof(res.message) - 1] = 'm';
	assert_int_equal(wire_response_encode(&res, &msg, &len), -EINVAL);
	res.message[0] = '\0';
	res.facts[sizeof(res.facts) - 1] = 'f';
	assert_int_equal(wire_response_encode(&res, &msg, &len), -EINVAL);
	res.facts[0] = '\0';
	res.class = WIRE_CLASS__MAX;
	assert_int_equal(wire_response_encode(&res, &msg, &len), -EINVAL);
	res.class = WIRE_CLASS_NONE;
	assert_int_equal(wire_response_encode(&res, &msg, &len), 0);
	free(msg);
	free(res.output);
}

/* untouched: written only when true, as one byte 1; anything else read
 * back is refused, so a response has one spelling. */
static void
test_response_untouched(void **state)
{
	static const uint8_t zero[] = { 0x81, 0, 0, 0, 4, 0, 0, 0, 1, 0x85, 0,
		0, 0, 1, 0 };
	static const uint8_t two[] = { 0x81, 0, 0, 0, 4, 0, 0, 0, 1, 0x85, 0, 0,
		0, 2, 1, 1 };
	struct wire_response res, back;
	uint8_t *msg;
	size_t len, plain;

	(void)state;
	memset(&res, 0, sizeof(res));
	res.class = WIRE_CLASS_TRANSIENT;
	assert_int_equal(wire_response_encode(&res, &msg, &len), 0);
	plain = len;
	free(msg);
	res.untouched = true;
	assert_int_equal(wire_response_encode(&res, &msg, &len), 0);
	assert_int_equal(len, plain + 5 + 1);
	assert_int_equal(wire_response_decode(msg + 4, len - 4, &back), 0);
	assert_true(back.untouched);
	assert_int_equal(back.class, WIRE_CLASS_TRANSIENT);
	wire_response_clear(&back);
	assert_false(back.untouched);
	/* Twice is a repeated tag. */
	msg = realloc(msg, len + 6);
	assert_non_null(msg);
	memcpy(msg + len, "\x85\0\0\0\1\1", 6);
	assert_int_equal(
	    wire_response_decode(msg + 4, len + 2, &back), -EBADMSG);
	free(msg);
	assert_int_equal(
	    wire_response_decode(zero, sizeof(zero), &back), -EBADMSG);
	assert_int_equal(
	    wire_response_decode(two, sizeof(two), &back), -EBADMSG);
}

static void
test_response_refused(void **state)
{
	struct wire_response res;
	char big[WIRE_MESSAGE_MAX];
	uint8_t *out;
	struct msg m;

	(void)state;
	res_bad("", 0); /* no class */
	m.len = 0;
	add_str(&m, T_MESSAGE, "no class");
	res_bad(m.buf, m.len);

	m.len = 0;
	add_int(&m, T_CLASS, WIRE_CLASS__MAX);
	res_bad(m.buf, m.len);
	m.len = 0;
	add(&m, T_CLASS, "\0\0\0", 3);
	res_bad(m.buf, m.len);
	m.len = 0;
	add_int(&m, T_CLASS, 0);
	add_int(&m, T_CLASS, 0);
	res_bad(m.buf, m.len); /* repeated */
	m.len = 0;
	add_int(&m, T_CLASS, 0);
	add_str(&m, T_OP, "request tag");
	res_bad(m.buf, m.len);
	m.len = 0;
	add_int(&m, T_CLASS, 0);
	add_str(&m, T_OUTPUT + 1, "unknown");
	res_bad(m.buf, m.len);
	m.len = 0;
	add_int(&m, T_CLASS, 0);
	add_str(&m, T_CLASS - 1, "unknown");
	res_bad(m.buf, m.len);
	m.len = 0;
	add_int(&m, T_CLASS, 0);
	add(&m, T_MESSAGE, "a\0b", 3);
	res_bad(m.buf, m.len);
	m.len = 0;
	add_int(&m, T_CLASS, 0);
	add(&m, T_FACTS, "k=v\0", 4);
	res_bad(m.buf, m.len);
	m.len = 0;
	add_int(&m, T_CLASS, 0);
	add_raw(&m, T_OUTPUT, 5, "abcd", 4);
	res_bad(m.buf, m.len); /* past the end */
	m.len = 0;
	add_int(&m, T_CLASS, 0);
	add_str(&m, T_OUTPUT, "x");
	add_str(&m, T_OUTPUT, "y");
	res_bad(m.buf, m.len); /* the first output freed */

	memset(big, 'a', sizeof(big));
	m.len = 0;
	add_int(&m, T_CLASS, 0);
	add(&m, T_MESSAGE, big, sizeof(big));
	res_bad(m.buf, m.len);
	m.len = 0;
	add_int(&m, T_CLASS, 0);
	add(&m, T_MESSAGE, big, sizeof(big) - 1);
	assert_int_equal(wire_response_decode(m.buf, m.len, &res), 0);
	assert_int_equal(strlen(res.message), sizeof(big) - 1);
	wire_response_clear(&res);

	/* An output of WIRE_OUTPUT_MAX bytes (NUL included: one too many). */
	out = calloc(1, 9 + 5 + WIRE_OUTPUT_MAX);
	assert_non_null(out);
	memcpy(out, m.buf, 9); /* the class */
	out[9] = T_OUTPUT;
	out[9 + 3] = (uint8_t)(WIRE_OUTPUT_MAX >> 8);
	out[9 + 2] = (uint8_t)(WIRE_OUTPUT_MAX >> 16);
	res_bad(out, 9 + 5 + WIRE_OUTPUT_MAX);
	/* WIRE_OUTPUT_MAX - 1: 0x0000ffff */
	out[9 + 2] = 0;
	out[9 + 3] = 0xff;
	out[9 + 4] = 0xff;
	assert_int_equal(
	    wire_response_decode(out, 9 + 5 + WIRE_OUTPUT_MAX - 1, &res), 0);
	assert_int_equal(res.output_len, WIRE_OUTPUT_MAX - 1);
	wire_response_clear(&res);
	free(out);
	m.len = 0;
	add_int(&m, T_CLASS, 0);
	add(&m, T_FACTS, big, sizeof(big));
	res_bad(m.buf, m.len);
}

/* A body truncated anywhere inside a field is refused. */
static void
test_truncation(void **state)
{
	struct wire_request req;
	struct wire_response res, rback;
	struct secret *msg;
	const uint8_t *body;
	uint8_t *rmsg;
	size_t len, i, end, rlen, new_secret_end = 0;
	bool boundary[1024] = { false };
	int r;

	(void)state;
	full_request(&req);
	assert_int_equal(wire_request_encode(&req, &msg), 0);
	wire_request_clear(&req);
	body = (const uint8_t *)secret_data(msg) + 4;
	len = secret_len(msg) - 4;
	assert_true(len < sizeof(boundary));
	/* Where the fields end, and the end of the last required one. */
	for (i = 0; i < len; i = end) {
		end = i + 5 + prefix_of(body + i + 1);
		boundary[end] = true;
		if (body[i] == T_NEW_SECRET)
			new_secret_end = end;
	}
	assert_int_equal(end, len);
	assert_true(new_secret_end > 0);
	for (i = 0; i < len; i++) {
		r = wire_request_decode(body, i, &req);
		if (boundary[i] && i >= new_secret_end) {
			/* Only optional fields lost: still a request. */
			assert_int_equal(r, 0);
			wire_request_clear(&req);
		} else {
			assert_int_equal(r, -EBADMSG);
			assert_memory_equal(&req, &zero_req, sizeof(req));
		}
	}
	secret_free(msg);

	memset(&res, 0, sizeof(res));
	res.class = WIRE_CLASS_AUTH;
	strcpy(res.message, "denied");
	strcpy(res.facts, "a=b");
	res.output = (char *)"output";
	res.output_len = 6;
	assert_int_equal(wire_response_encode(&res, &rmsg, &rlen), 0);
	memset(boundary, 0, sizeof(boundary));
	for (i = 4; i < rlen; i = end) {
		end = i + 5 + prefix_of(rmsg + i + 1);
		boundary[end - 4] = true;
	}
	for (i = 0; i < rlen - 4; i++) {
		r = wire_response_decode(rmsg + 4, i, &rback);
		if (boundary[i]) {
			assert_int_equal(r, 0); /* the class comes first */
			wire_response_clear(&rback);
		} else {
			assert_int_equal(r, -EBADMSG);
			assert_memory_equal(&rback, &zero_res, sizeof(rback));
		}
	}
	free(rmsg);
}

/*
 * Random byte flips of valid messages never crash the decoders, and
 * whatever they accept is valid enough to encode again.
 */
static void
test_flips(void **state)
{
	struct wire_request req, rq;
	struct wire_response res, rs;
	struct secret *msg, *again;
	uint8_t *buf, *rmsg, *ragain;
	size_t len, rlen, ralen, j, flips;
	unsigned seed = 12345, accepted = 0;
	int i, r;

	(void)state;
	full_request(&req);
	assert_int_equal(wire_request_encode(&req, &msg), 0);
	wire_request_clear(&req);
	len = secret_len(msg) - 4;
	memset(&res, 0, sizeof(res));
	res.class = WIRE_CLASS_TRANSIENT;
	strcpy(res.message, "timeout");
	strcpy(res.facts, "k=v");
	res.output = (char *)"o";
	res.output_len = 1;
	assert_int_equal(wire_response_encode(&res, &rmsg, &rlen), 0);
	buf = malloc(len > rlen ? len : rlen);
	assert_non_null(buf);

	for (i = 0; i < 20000; i++) {
		size_t n = (i & 1) ? len : rlen - 4;

		memcpy(buf,
		    (i & 1) ? (const uint8_t *)secret_data(msg) + 4 : rmsg + 4,
		    n);
		flips = 1 + (unsigned)rand_r(&seed) % 4;
		for (j = 0; j < flips; j++)
			buf[(unsigned)rand_r(&seed) % n] =
			    (uint8_t)rand_r(&seed);
		/* Sometimes cut it short too. */
		if (rand_r(&seed) % 4 == 0)
			n = (unsigned)rand_r(&seed) % n;
		if (i & 1) {
			r = wire_request_decode(buf, n, &rq);
			if (r == 0) {
				accepted++;
				assert_int_equal(
				    wire_request_encode(&rq, &again), 0);
				secret_free(again);
				wire_request_clear(&rq);
			} else {
				assert_int_equal(r, -EBADMSG);
			}
		} else {
			r = wire_response_decode(buf, n, &rs);
			if (r == 0) {
				accepted++;
				assert_int_equal(
				    wire_response_encode(&rs, &ragain, &ralen),
				    0);
				free(ragain);
				wire_response_clear(&rs);
			} else {
				assert_int_equal(r, -EBADMSG);
			}
		}
	}
	/* Flips inside values keep a message valid: both paths ran. */
	assert_true(accepted > 100);
	free(buf);
	free(rmsg);
	secret_free(msg);
}

static volatile sig_atomic_t alarms;

/* One-shot timers, re-armed from the handler a bounded number of times:
 * a periodic one can starve a slow run (valgrind) of all progress. */
#define ALARMS_MAX 40

static void
arm(void)
{
	struct itimerval it = { { 0, 0 }, { 0, 1000 } };

	setitimer(ITIMER_REAL, &it, NULL);
}

static void
on_alarm(int sig)
{
	(void)sig;
	if (++alarms < ALARMS_MAX)
		arm();
}

/* SIGALRM about every millisecond, ALARMS_MAX times, without SA_RESTART:
 * reads and writes that block meanwhile see EINTR. */
static void
interrupt(bool on)
{
	struct itimerval off = { { 0, 0 }, { 0, 0 } };
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on ? on_alarm : SIG_IGN;
	if (!on)
		assert_int_equal(setitimer(ITIMER_REAL, &off, NULL), 0);
	assert_int_equal(sigaction(SIGALRM, &sa, NULL), 0);
	if (on) {
		alarms = 0;
		arm();
	}
}

/* Fork a child that writes LEN bytes of BUF to a pipe slowly, byte by
 * byte; return the read end. */
static int
slow_writer(const uint8_t *buf, size_t len, pid_t *pid)
{
	int fds[2];
	size_t i;

	assert_int_equal(pipe(fds), 0);
	*pid = fork();
	assert_true(*pid >= 0);
	if (*pid == 0) {
		close(fds[0]);
		for (i = 0; i < len; i++) {
			if (write(fds[1], buf + i, 1) != 1)
				_exit(1);
			if (i % 8 == 0)
				usleep(500);
		}
		_exit(0);
	}
	close(fds[1]);
	return fds[0];
}

static void
test_read_fd(void **state)
{
	struct wire_request req;
	struct secret *msg, *got = (struct secret *)&got;
	const uint8_t *p;
	uint8_t big[4] = { 0x00, 0x10, 0x00, 0x01 }; /* WIRE_MAX + 1 */
	int fds[2], fd, status;
	size_t len, i;
	pid_t pid;

	(void)state;
	full_request(&req);
	assert_int_equal(wire_request_encode(&req, &msg), 0);
	wire_request_clear(&req);
	p = secret_data(msg);
	len = secret_len(msg);

	/* Whole, from a slow writer, with signals landing meanwhile. */
	interrupt(true);
	fd = slow_writer(p, len, &pid);
	assert_int_equal(wire_read_fd(fd, &got), 0);
	interrupt(false);
	close(fd);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_true(alarms > 0);
	assert_int_equal(secret_len(got), len - 4);
	assert_memory_equal(secret_data(got), p + 4, len - 4);
	assert_int_equal(
	    wire_request_decode(secret_data(got), secret_len(got), &req), 0);
	assert_full_request(&req);
	wire_request_clear(&req);
	secret_free(got);

	/* Cut at every byte: refused, nothing returned; nothing at all is
	 * the end of the input (a batch's), not a cut. */
	for (i = 0; i < len; i++) {
		assert_int_equal(pipe(fds), 0);
		assert_int_equal(write(fds[1], p, i), (ssize_t)i);
		close(fds[1]);
		got = (struct secret *)&got;
		assert_int_equal(
		    wire_read_fd(fds[0], &got), i == 0 ? -ENODATA : -EBADMSG);
		assert_null(got);
		close(fds[0]);
	}

	/* A length over WIRE_MAX is refused before anything is read. */
	assert_int_equal(pipe(fds), 0);
	assert_int_equal(write(fds[1], big, 4), 4);
	assert_int_equal(wire_read_fd(fds[0], &got), -EBADMSG);
	close(fds[0]);
	close(fds[1]);

	/* A bad fd is an errno. */
	assert_int_equal(wire_read_fd(-1, &got), -EBADF);
	assert_null(got);
	secret_free(msg);
}

static void
test_write_fd(void **state)
{
	uint8_t *buf;
	size_t len = 1024 * 1024, i;
	int fds[2], status;
	pid_t pid;

	(void)state;
	buf = malloc(len);
	assert_non_null(buf);
	for (i = 0; i < len; i++)
		buf[i] = (uint8_t)(i * 7 + i / 251);
	/* A slow reader: the writes are partial and interrupted. */
	assert_int_equal(pipe(fds), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		uint8_t chunk[4096];
		size_t off = 0;
		ssize_t n;

		int rc = 1;

		close(fds[1]);
		while ((n = read(fds[0], chunk, sizeof(chunk))) > 0) {
			if (off + (size_t)n > len ||
			    memcmp(chunk, buf + off, (size_t)n) != 0)
				break;
			off += (size_t)n;
			if (off % (64 * 1024) < 4096)
				usleep(2000);
		}
		if (n == 0 && off == len)
			rc = 0;
		free(buf); /* for valgrind, which checks a child's exit too */
		_exit(rc);
	}
	close(fds[0]);
	interrupt(true);
	assert_int_equal(wire_write_fd(fds[1], buf, len), 0);
	interrupt(false);
	close(fds[1]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_true(alarms > 0);

	/* No reader: EPIPE, once SIGPIPE is ignored as the callers do. */
	signal(SIGPIPE, SIG_IGN);
	assert_int_equal(pipe(fds), 0);
	close(fds[0]);
	assert_int_equal(wire_write_fd(fds[1], buf, 10), -EPIPE);
	close(fds[1]);
	signal(SIGPIPE, SIG_DFL);
	assert_int_equal(wire_write_fd(-1, buf, 1), -EBADF);
	assert_int_equal(wire_write_fd(-1, buf, 0), 0);
	free(buf);
}

static void
test_names(void **state)
{
	(void)state;
	assert_string_equal(wire_op_name(WIRE_OP_APPLY), "apply");
	assert_string_equal(wire_op_name(WIRE_OP_VERIFY), "verify");
	assert_string_equal(wire_op_name(WIRE_OP_SCRIPT), "script");
	assert_string_equal(wire_op_name(0), "?");
	assert_string_equal(wire_op_name(WIRE_OP__MAX), "?");
	assert_string_equal(wire_class_name(WIRE_CLASS_NONE), "none");
	assert_string_equal(wire_class_name(WIRE_CLASS_TRANSIENT), "transient");
	assert_string_equal(wire_class_name(WIRE_CLASS_AUTH), "auth");
	assert_string_equal(wire_class_name(WIRE_CLASS_POLICY), "policy");
	assert_string_equal(wire_class_name(WIRE_CLASS_FATAL), "fatal");
	assert_string_equal(wire_class_name(WIRE_CLASS__MAX), "?");
}

/*
 * A request encoded by tests/lib/wire.py, the same one full_request()
 * builds:
 *   python3 tests/lib/wire.py encode-request '{"op":"apply",
 *     "provider":"postgresql","host":"db.internal","port":5432,
 *     "login":"app","dn":"cn=app,dc=example",
 *     "admin_login":"postgres","tls_ca_file":"/etc/ssl/ca.pem",
 *     "tls_verify":false,"timeout":30,"current":{"hex":"6f6c640070770a"},
 *     "new_secret":"new-Secret-1","admin":"admin-pw",
 *     "script_path":"/usr/local/bin/post","script_command":"/bin/sh",
 *     "script_input":"eyJ1c2VyIjoiYXBwIn0=","test_action":"exec",
 *     "params":{"database":"app","x_2":""}}'
 * The other direction is automated in Python: wire.py's C_RESPONSE_HEX
 * is what test_cross_python() below encodes, and `wire.py selftest`
 * (run by tests/integration/wire_py.sh) decodes it.
 */
static const char py_request_hex[] =
    "0000010c010000000400000001020000000a706f737467726573716c03000000"
    "0b64622e696e7465726e616c0400000004000015380600000003617070070000"
    "0011636e3d6170702c64633d6578616d706c650800000008706f737467726573"
    "090000000f2f6574632f73736c2f63612e70656d0a00000001000b0000000400"
    "00001e0c000000076f6c640070770a0d0000000c6e65772d5365637265742d31"
    "0e0000000861646d696e2d70770f000000132f7573722f6c6f63616c2f62696e"
    "2f706f737410000000072f62696e2f7368110000001465794a3163325679496a"
    "6f6959584277496e303d12000000046578656313000000180864617461626173"
    "650000000361707003785f3200000000";

static const char c_response_hex[] =
    "0000004a810000000400000002820000000d6c6f67696e2072656675736564"
    "830000001d7365727665723d506f737467726553514c2031350a757365723d"
    "61707084000000086c696e65310a0078";

static size_t
unhex(const char *hex, uint8_t *out, size_t size)
{
	size_t i, n = strlen(hex) / 2;
	unsigned v;

	assert_true(n <= size);
	for (i = 0; i < n; i++) {
		assert_int_equal(sscanf(hex + 2 * i, "%2x", &v), 1);
		out[i] = (uint8_t)v;
	}
	return n;
}

static void
test_cross_python(void **state)
{
	struct wire_request req, mine;
	struct wire_response res;
	struct secret *msg;
	uint8_t py[512], *rmsg, want[256];
	size_t n, rlen;

	(void)state;
	n = unhex(py_request_hex, py, sizeof(py));
	assert_int_equal(prefix_of(py) + 4, n);
	assert_int_equal(wire_request_decode(py + 4, n - 4, &req), 0);
	assert_full_request(&req);
	/* Both encoders write the same bytes for the same request. */
	full_request(&mine);
	assert_int_equal(wire_request_encode(&mine, &msg), 0);
	assert_int_equal(secret_len(msg), n);
	assert_memory_equal(secret_data(msg), py, n);
	secret_free(msg);
	wire_request_clear(&mine);
	wire_request_clear(&req);

	/* The response wire.py's selftest decodes is this one. */
	memset(&res, 0, sizeof(res));
	res.class = WIRE_CLASS_AUTH;
	strcpy(res.message, "login refused");
	strcpy(res.facts, "server=PostgreSQL 15\nuser=app");
	res.output = (char *)"line1\n\0x";
	res.output_len = 8;
	assert_int_equal(wire_response_encode(&res, &rmsg, &rlen), 0);
	n = unhex(c_response_hex, want, sizeof(want));
	assert_int_equal(rlen, n);
	assert_memory_equal(rmsg, want, n);
	free(rmsg);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_request_round_trip),
		cmocka_unit_test(test_request_minimal),
		cmocka_unit_test(test_request_encode_refused),
		cmocka_unit_test(test_request_refused),
		cmocka_unit_test(test_params_round_trip),
		cmocka_unit_test(test_params_refused),
		cmocka_unit_test(test_params_encode_refused),
		cmocka_unit_test(test_request_over_max),
		cmocka_unit_test(test_response_round_trip),
		cmocka_unit_test(test_response_untouched),
		cmocka_unit_test(test_response_refused),
		cmocka_unit_test(test_truncation),
		cmocka_unit_test(test_flips),
		cmocka_unit_test(test_read_fd),
		cmocka_unit_test(test_write_fd),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_cross_python),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
