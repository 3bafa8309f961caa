/*
 * Unit tests of the daemon <-> rotad-deliver codec (proto/deliver.c):
 * round trips of every message type and sink kind, the exact bytes of a
 * small message (the table in deliver.c, which tests/lib/deliver.py
 * speaks too), every refusal of the decoder (unknown, repeated or
 * misplaced tags, bounds, missing fields, frame counts and sizes, bad
 * port, kind, timeout, truncation at every byte) and of the encoder, and
 * deliver_frame_len().  A refused message leaves nothing allocated:
 * ASan's leak checker watches the sanitizer build.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "deliver.h"
#include "secret.h"

/* Tags, as the table in deliver.c numbers them. */
enum {
	T_TYPE = 1,
	T_NAME,
	T_KIND,
	T_HOST,
	T_PORT,
	T_URL,
	T_SERVER_NAME,
	T_CA_PEM,
	T_CERT_PEM,
	T_KEY_PEM,
	T_AUTH,
	T_CONTENT_TYPE,
	T_HTTP_BATCH,
	T_TIMEOUT_MS,
	T_TOKEN,
	T_FRAME,
	T_DONE,
	T_ERROR,
};

/* A message body under construction, for the malformed cases. */
struct msg {
	uint8_t *buf;
	size_t len, cap;
};

static void
add_raw(struct msg *m, uint8_t tag, uint32_t len, const void *val, size_t vlen)
{
	if (m->len + 5 + vlen > m->cap) {
		m->cap = (m->len + 5 + vlen) * 2;
		m->buf = realloc(m->buf, m->cap);
		assert_non_null(m->buf);
	}
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

static void
add_token(struct msg *m, uint64_t v)
{
	uint8_t be[8];
	int i;

	for (i = 0; i < 8; i++)
		be[i] = (uint8_t)(v >> (56 - 8 * i));
	add(m, T_TOKEN, be, 8);
}

static void
msg_free(struct msg *m)
{
	free(m->buf);
	memset(m, 0, sizeof(*m));
}

/* Decoding M must fail with -EBADMSG and leave the message empty. */
static void
refused(struct msg *m)
{
	struct deliver_msg d;

	assert_int_equal(deliver_decode(m->buf, m->len, &d), -EBADMSG);
	assert_null(d.name);
	assert_null(d.frames);
	assert_int_equal(d.nframes, 0);
	msg_free(m);
}

static void
accepted(struct msg *m)
{
	struct deliver_msg d;

	assert_int_equal(deliver_decode(m->buf, m->len, &d), 0);
	deliver_msg_clear(&d);
	msg_free(m);
}

/* The start of a valid message of each kind, for the cases to finish. */
static void
sink_start(struct msg *m, enum deliver_kind kind)
{
	add_int(m, T_TYPE, DELIVER_SINK);
	add_str(m, T_NAME, "siem-1");
	add_int(m, T_KIND, kind);
	add_int(m, T_TIMEOUT_MS, 5000);
	if (kind == DELIVER_HTTP)
		add_str(
		    m, T_URL, "https://hec.example:8088/services/collector");
	else {
		add_str(m, T_HOST, "127.0.0.1");
		add_int(m, T_PORT, 6514);
	}
}

static void
batch_start(struct msg *m)
{
	add_int(m, T_TYPE, DELIVER_BATCH);
	add_str(m, T_NAME, "siem-1");
	add_token(m, 42);
}

static struct secret *
mksecret(const char *s)
{
	struct secret *sec;

	assert_int_equal(secret_new(s, strlen(s), &sec), 0);
	return sec;
}

static void
assert_same_str(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		assert_ptr_equal(a, b);
	else
		assert_string_equal(a, b);
}

static void
assert_same_secret(const struct secret *a, const struct secret *b)
{
	if (a == NULL || b == NULL)
		assert_ptr_equal(a, b);
	else
		assert_true(secret_equal(a, b));
}

/* Encode M, decode it, compare every member, encode again: the same. */
static void
round_trip(const struct deliver_msg *m)
{
	struct secret *sec = NULL, *sec2 = NULL;
	uint8_t *buf = NULL, *buf2 = NULL;
	const uint8_t *p;
	size_t len = 0, len2 = 0, i;
	struct deliver_msg d;
	int r;

	if (m->type == DELIVER_SINK) {
		r = deliver_encode(m, &sec, NULL, NULL);
		assert_int_equal(r, 0);
		p = secret_data(sec);
		len = secret_len(sec);
	} else {
		r = deliver_encode(m, NULL, &buf, &len);
		assert_int_equal(r, 0);
		p = buf;
	}
	assert_int_equal(deliver_frame_len(p, len, &i), 0);
	assert_int_equal(i, len);
	assert_int_equal(deliver_decode(p + 4, len - 4, &d), 0);
	assert_int_equal(d.type, m->type);
	assert_same_str(d.name, m->name);
	if (m->type == DELIVER_SINK) {
		assert_int_equal(d.kind, m->kind);
		assert_same_str(d.host, m->host);
		assert_int_equal(d.port, m->host != NULL ? m->port : 0);
		assert_same_str(d.url, m->url);
		assert_same_str(d.server_name, m->server_name);
		assert_same_str(d.ca_pem, m->ca_pem);
		assert_same_str(d.cert_pem, m->cert_pem);
		assert_same_secret(d.key_pem, m->key_pem);
		assert_same_secret(d.auth, m->auth);
		assert_same_str(d.content_type, m->content_type);
		assert_int_equal(d.http_batch, m->http_batch);
		assert_int_equal(d.timeout_ms, m->timeout_ms);
	}
	if (m->type == DELIVER_BATCH || m->type == DELIVER_RESULT)
		assert_true(d.token == m->token);
	if (m->type == DELIVER_BATCH) {
		assert_int_equal(d.nframes, m->nframes);
		for (i = 0; i < m->nframes; i++) {
			assert_int_equal(d.frames[i].len, m->frames[i].len);
			assert_memory_equal(d.frames[i].data, m->frames[i].data,
			    m->frames[i].len);
			/* Borrowed from the buffer, not copied. */
			assert_true(
			    d.frames[i].data > p && d.frames[i].data < p + len);
		}
	}
	if (m->type == DELIVER_RESULT) {
		assert_int_equal(d.done, m->done);
		assert_same_str(d.error, m->error);
	}
	/* Encoded again: the same bytes, one encoding per message. */
	if (m->type == DELIVER_SINK) {
		assert_int_equal(deliver_encode(&d, &sec2, NULL, NULL), 0);
		assert_int_equal(secret_len(sec2), len);
		assert_memory_equal(secret_data(sec2), p, len);
	} else {
		assert_int_equal(deliver_encode(&d, NULL, &buf2, &len2), 0);
		assert_int_equal(len2, len);
		assert_memory_equal(buf2, p, len);
	}
	deliver_msg_clear(&d);
	assert_null(d.name);
	secret_free(sec);
	secret_free(sec2);
	free(buf);
	free(buf2);
}

static void
test_round_trip_sinks(void **state)
{
	struct deliver_msg m;
	enum deliver_kind k;

	(void)state;
	for (k = DELIVER_UDP; k <= DELIVER_TLS; k++) {
		memset(&m, 0, sizeof(m));
		m.type = DELIVER_SINK;
		m.name = "syslog_a-1";
		m.kind = k;
		m.host = "logs.example.org";
		m.port = k == DELIVER_UDP ? 1 : 65535;
		m.timeout_ms = k == DELIVER_TCP ? DELIVER_TIMEOUT_MAX_MS : 1;
		round_trip(&m);
	}
	/* TLS with everything. */
	memset(&m, 0, sizeof(m));
	m.type = DELIVER_SINK;
	m.name = "tls";
	m.kind = DELIVER_TLS;
	m.host = "::1";
	m.port = 6514;
	m.server_name = "logs.example.org";
	m.ca_pem =
	    "-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n";
	m.cert_pem =
	    "-----BEGIN CERTIFICATE-----\nC\n-----END CERTIFICATE-----\n";
	m.key_pem = mksecret("-----BEGIN PRIVATE KEY-----\nK\n");
	m.timeout_ms = 2500;
	round_trip(&m);
	secret_free(m.key_pem);

	/* HTTP, minimal and with everything. */
	memset(&m, 0, sizeof(m));
	m.type = DELIVER_SINK;
	m.name = "hec";
	m.kind = DELIVER_HTTP;
	m.url = "http://127.0.0.1:8088/";
	m.timeout_ms = 10000;
	round_trip(&m);
	m.url = "https://hec.example:8088/services/collector/event";
	m.server_name = "hec.example";
	m.ca_pem = "CA";
	m.cert_pem = "CERT";
	m.key_pem = mksecret("KEY");
	m.auth = mksecret("Splunk 0000-1111");
	m.content_type = "application/x-ndjson";
	m.http_batch = true;
	round_trip(&m);
	secret_free(m.key_pem);
	secret_free(m.auth);
}

static void
test_round_trip_others(void **state)
{
	static uint8_t big[DELIVER_FRAME_MAX];
	struct deliver_frame frames[DELIVER_BATCH_MAX];
	struct deliver_msg m;
	size_t i;

	(void)state;
	memset(&m, 0, sizeof(m));
	m.type = DELIVER_DROP;
	m.name = "x";
	round_trip(&m);

	memset(big, 'e', sizeof(big));
	big[17] = '\0'; /* frames are bytes */
	for (i = 0; i < DELIVER_BATCH_MAX; i++) {
		frames[i].data = big + i;
		frames[i].len = 1 + i;
	}
	memset(&m, 0, sizeof(m));
	m.type = DELIVER_BATCH;
	m.name = "x";
	m.token = UINT64_MAX - 1;
	m.frames = frames;
	m.nframes = 1;
	round_trip(&m);
	m.nframes = DELIVER_BATCH_MAX;
	round_trip(&m);
	frames[0].data = big;
	frames[0].len = DELIVER_FRAME_MAX;
	m.nframes = 1;
	round_trip(&m);

	memset(&m, 0, sizeof(m));
	m.type = DELIVER_RESULT;
	m.name = "x";
	m.token = 1;
	m.done = 3;
	round_trip(&m);
	m.done = 0;
	m.error = "connect 127.0.0.1:6514: connection refused";
	round_trip(&m);
	m.done = DELIVER_BATCH_MAX;
	round_trip(&m);
}

/* The exact bytes of a RESULT: tests/lib/deliver.py writes the same. */
static void
test_exact_bytes(void **state)
{
	static const uint8_t want[] = {
		0, 0, 0, 0x2e,                          /* the body's length */
		1, 0, 0, 0, 4, 0, 0, 0, 4,              /* type RESULT */
		2, 0, 0, 0, 1, 'x',                     /* name */
		15, 0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 1, 2, /* token 258 */
		17, 0, 0, 0, 4, 0, 0, 0, 1,             /* done 1 */
		18, 0, 0, 0, 4, 'o', 'o', 'p', 's',     /* error */
	};
	struct deliver_msg m;
	uint8_t *buf;
	size_t len;

	(void)state;
	memset(&m, 0, sizeof(m));
	m.type = DELIVER_RESULT;
	m.name = "x";
	m.token = 258;
	m.done = 1;
	m.error = "oops";
	assert_int_equal(deliver_encode(&m, NULL, &buf, &len), 0);
	assert_int_equal(len, sizeof(want));
	assert_memory_equal(buf, want, sizeof(want));
	free(buf);
}

static void
test_refused_tags(void **state)
{
	struct msg m = { 0 };

	(void)state;
	/* The empty message, and a type that is not first. */
	refused(&m);
	add_str(&m, T_NAME, "x");
	add_int(&m, T_TYPE, DELIVER_DROP);
	refused(&m);
	/* Unknown tags: 0, one past the last, high ones. */
	add_int(&m, T_TYPE, DELIVER_DROP);
	add_str(&m, T_NAME, "x");
	accepted(&m);
	{
		static const uint8_t bad[] = { 0, T_ERROR + 1, 0x81, 0xff };
		size_t i;

		for (i = 0; i < sizeof(bad); i++) {
			add_int(&m, T_TYPE, DELIVER_DROP);
			add_str(&m, T_NAME, "x");
			add(&m, bad[i], "", 0);
			refused(&m);
		}
	}
	/* Repeated: the type, the name, a token. */
	add_int(&m, T_TYPE, DELIVER_DROP);
	add_int(&m, T_TYPE, DELIVER_DROP);
	add_str(&m, T_NAME, "x");
	refused(&m);
	add_int(&m, T_TYPE, DELIVER_DROP);
	add_str(&m, T_NAME, "x");
	add_str(&m, T_NAME, "x");
	refused(&m);
	batch_start(&m);
	add_token(&m, 42);
	add_str(&m, T_FRAME, "f");
	refused(&m);
	/* A field of another type: a token on a DROP, a frame on a
	 * RESULT, a URL on a TCP sink, auth on a TLS sink. */
	add_int(&m, T_TYPE, DELIVER_DROP);
	add_str(&m, T_NAME, "x");
	add_token(&m, 1);
	refused(&m);
	add_int(&m, T_TYPE, DELIVER_RESULT);
	add_str(&m, T_NAME, "x");
	add_token(&m, 1);
	add_int(&m, T_DONE, 0);
	add_str(&m, T_FRAME, "f");
	refused(&m);
	sink_start(&m, DELIVER_TCP);
	add_str(&m, T_URL, "http://x/");
	refused(&m);
	sink_start(&m, DELIVER_TCP);
	add_str(&m, T_CA_PEM, "CA");
	refused(&m);
	sink_start(&m, DELIVER_TLS);
	add_str(&m, T_AUTH, "Bearer x");
	refused(&m);
	sink_start(&m, DELIVER_HTTP);
	add_int(&m, T_PORT, 80);
	refused(&m);
	/* Fields after the type in any order. */
	add_int(&m, T_TYPE, DELIVER_RESULT);
	add_str(&m, T_ERROR, "e");
	add_int(&m, T_DONE, 0);
	add_token(&m, 1);
	add_str(&m, T_NAME, "x");
	accepted(&m);
}

static void
test_refused_missing(void **state)
{
	struct msg m = { 0 };

	(void)state;
	add_int(&m, T_TYPE, DELIVER_DROP);
	refused(&m);
	add_int(&m, T_TYPE, DELIVER_BATCH);
	add_str(&m, T_NAME, "x");
	add_str(&m, T_FRAME, "f");
	refused(&m); /* no token */
	batch_start(&m);
	refused(&m); /* no frame */
	add_int(&m, T_TYPE, DELIVER_RESULT);
	add_str(&m, T_NAME, "x");
	add_token(&m, 1);
	refused(&m); /* no done */
	/* A sink without kind, timeout, host, port, url. */
	add_int(&m, T_TYPE, DELIVER_SINK);
	add_str(&m, T_NAME, "x");
	add_int(&m, T_TIMEOUT_MS, 1);
	add_str(&m, T_HOST, "h");
	add_int(&m, T_PORT, 1);
	refused(&m);
	add_int(&m, T_TYPE, DELIVER_SINK);
	add_str(&m, T_NAME, "x");
	add_int(&m, T_KIND, DELIVER_UDP);
	add_str(&m, T_HOST, "h");
	add_int(&m, T_PORT, 1);
	refused(&m);
	add_int(&m, T_TYPE, DELIVER_SINK);
	add_str(&m, T_NAME, "x");
	add_int(&m, T_KIND, DELIVER_UDP);
	add_int(&m, T_TIMEOUT_MS, 1);
	add_int(&m, T_PORT, 1);
	refused(&m);
	add_int(&m, T_TYPE, DELIVER_SINK);
	add_str(&m, T_NAME, "x");
	add_int(&m, T_KIND, DELIVER_TLS);
	add_int(&m, T_TIMEOUT_MS, 1);
	add_str(&m, T_HOST, "h");
	refused(&m);
	add_int(&m, T_TYPE, DELIVER_SINK);
	add_str(&m, T_NAME, "x");
	add_int(&m, T_KIND, DELIVER_HTTP);
	add_int(&m, T_TIMEOUT_MS, 1);
	refused(&m);
	/* A client certificate without its key, a key without its
	 * certificate. */
	sink_start(&m, DELIVER_TLS);
	add_str(&m, T_CERT_PEM, "C");
	refused(&m);
	sink_start(&m, DELIVER_HTTP);
	add_str(&m, T_KEY_PEM, "K");
	refused(&m);
	sink_start(&m, DELIVER_HTTP);
	add_str(&m, T_CERT_PEM, "C");
	add_str(&m, T_KEY_PEM, "K");
	accepted(&m);
}

/* A string of LEN bytes of C, for the bounds. */
static char *
filled(size_t len, char c)
{
	char *s = malloc(len + 1);

	assert_non_null(s);
	memset(s, c, len);
	s[len] = '\0';
	return s;
}

static void
test_refused_values(void **state)
{
	static const struct {
		uint8_t tag;
		size_t max;
		enum deliver_kind kind;
	} bounds[] = {
		{ T_SERVER_NAME, DELIVER_HOST_MAX, DELIVER_TLS },
		{ T_CA_PEM, DELIVER_PEM_MAX, DELIVER_TLS },
		{ T_AUTH, DELIVER_AUTH_MAX, DELIVER_HTTP },
		{ T_CONTENT_TYPE, DELIVER_CONTENT_TYPE_MAX, DELIVER_HTTP },
	};
	struct msg m = { 0 };
	char *s;
	size_t i;

	(void)state;
	/* Names: the bound, the characters, empty, NUL. */
	s = filled(DELIVER_NAME_MAX, 'a');
	add_int(&m, T_TYPE, DELIVER_DROP);
	add_str(&m, T_NAME, s);
	accepted(&m);
	free(s);
	s = filled(DELIVER_NAME_MAX + 1, 'a');
	add_int(&m, T_TYPE, DELIVER_DROP);
	add_str(&m, T_NAME, s);
	refused(&m);
	free(s);
	{
		static const char *const bad[] = { "", "A", "a b", "a.b", "é",
			"a/b" };

		for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			add_int(&m, T_TYPE, DELIVER_DROP);
			add_str(&m, T_NAME, bad[i]);
			refused(&m);
		}
	}
	add_int(&m, T_TYPE, DELIVER_DROP);
	add(&m, T_NAME, "a\0b", 3);
	refused(&m);

	/* Each optional string at its bound, and one over. */
	for (i = 0; i < sizeof(bounds) / sizeof(bounds[0]); i++) {
		s = filled(bounds[i].max, 'x');
		sink_start(&m, bounds[i].kind);
		add_str(&m, bounds[i].tag, s);
		accepted(&m);
		free(s);
		s = filled(bounds[i].max + 1, 'x');
		sink_start(&m, bounds[i].kind);
		add_str(&m, bounds[i].tag, s);
		refused(&m);
		free(s);
		sink_start(&m, bounds[i].kind);
		add_str(&m, bounds[i].tag, "");
		refused(&m);
	}
	s = filled(DELIVER_HOST_MAX + 1, 'h');
	add_int(&m, T_TYPE, DELIVER_SINK);
	add_str(&m, T_NAME, "x");
	add_int(&m, T_KIND, DELIVER_UDP);
	add_int(&m, T_TIMEOUT_MS, 1);
	add_str(&m, T_HOST, s);
	add_int(&m, T_PORT, 1);
	refused(&m);
	free(s);
	s = filled(DELIVER_URL_MAX + 1, 'u');
	memcpy(s, "https://", 8);
	add_int(&m, T_TYPE, DELIVER_SINK);
	add_str(&m, T_NAME, "x");
	add_int(&m, T_KIND, DELIVER_HTTP);
	add_int(&m, T_TIMEOUT_MS, 1);
	add_str(&m, T_URL, s);
	refused(&m);
	free(s);
	s = filled(DELIVER_ERROR_MAX + 1, 'e');
	add_int(&m, T_TYPE, DELIVER_RESULT);
	add_str(&m, T_NAME, "x");
	add_token(&m, 1);
	add_int(&m, T_DONE, 0);
	add_str(&m, T_ERROR, s);
	refused(&m);
	free(s);
	s = filled(DELIVER_PEM_MAX + 1, 'k');
	sink_start(&m, DELIVER_TLS);
	add_str(&m, T_CERT_PEM, "C");
	add_str(&m, T_KEY_PEM, s);
	refused(&m);
	free(s);

	/* URLs of HTTP only; header values on one line. */
	{
		static const char *const bad[] = { "ftp://x/", "http://",
			"https://", "HTTP://x/", "file:///etc/passwd" };

		for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			add_int(&m, T_TYPE, DELIVER_SINK);
			add_str(&m, T_NAME, "x");
			add_int(&m, T_KIND, DELIVER_HTTP);
			add_int(&m, T_TIMEOUT_MS, 1);
			add_str(&m, T_URL, bad[i]);
			refused(&m);
		}
	}
	sink_start(&m, DELIVER_HTTP);
	add_str(&m, T_AUTH, "Bearer x\r\nX-Evil: 1");
	refused(&m);
	sink_start(&m, DELIVER_HTTP);
	add(&m, T_AUTH, "Bearer \0x", 9);
	refused(&m);
	sink_start(&m, DELIVER_HTTP);
	add_str(&m, T_CONTENT_TYPE, "text/plain\nX: y");
	refused(&m);
	/* http_batch: one byte, 1. */
	sink_start(&m, DELIVER_HTTP);
	add(&m, T_HTTP_BATCH, "\0", 1);
	refused(&m);
	sink_start(&m, DELIVER_HTTP);
	add(&m, T_HTTP_BATCH, "\1\1", 2);
	refused(&m);
	sink_start(&m, DELIVER_HTTP);
	add(&m, T_HTTP_BATCH, "\1", 1);
	accepted(&m);
}

static void
test_refused_ints(void **state)
{
	struct msg m = { 0 };
	static const uint32_t bad_types[] = { 0, DELIVER__MAX, 0xffffffffu };
	size_t i;

	(void)state;
	for (i = 0; i < 3; i++) {
		add_int(&m, T_TYPE, bad_types[i]);
		add_str(&m, T_NAME, "x");
		refused(&m);
	}
	/* Kinds 0 and past the last. */
	add_int(&m, T_TYPE, DELIVER_SINK);
	add_str(&m, T_NAME, "x");
	add_int(&m, T_KIND, 0);
	add_int(&m, T_TIMEOUT_MS, 1);
	add_str(&m, T_HOST, "h");
	add_int(&m, T_PORT, 1);
	refused(&m);
	add_int(&m, T_TYPE, DELIVER_SINK);
	add_str(&m, T_NAME, "x");
	add_int(&m, T_KIND, DELIVER_KIND__MAX);
	add_int(&m, T_TIMEOUT_MS, 1);
	add_str(&m, T_HOST, "h");
	add_int(&m, T_PORT, 1);
	refused(&m);
	/* Ports 0 and 65536; a port of 2 bytes. */
	{
		static const uint32_t ports[] = { 0, 65536 };

		for (i = 0; i < 2; i++) {
			add_int(&m, T_TYPE, DELIVER_SINK);
			add_str(&m, T_NAME, "x");
			add_int(&m, T_KIND, DELIVER_TCP);
			add_int(&m, T_TIMEOUT_MS, 1);
			add_str(&m, T_HOST, "h");
			add_int(&m, T_PORT, ports[i]);
			refused(&m);
		}
	}
	add_int(&m, T_TYPE, DELIVER_SINK);
	add_str(&m, T_NAME, "x");
	add_int(&m, T_KIND, DELIVER_TCP);
	add_int(&m, T_TIMEOUT_MS, 1);
	add_str(&m, T_HOST, "h");
	add(&m, T_PORT, "\x01\xbb", 2);
	refused(&m);
	/* Timeouts 0 and one past the bound. */
	{
		static const uint32_t t[] = { 0, DELIVER_TIMEOUT_MAX_MS + 1 };

		for (i = 0; i < 2; i++) {
			add_int(&m, T_TYPE, DELIVER_SINK);
			add_str(&m, T_NAME, "x");
			add_int(&m, T_KIND, DELIVER_UDP);
			add_int(&m, T_TIMEOUT_MS, t[i]);
			add_str(&m, T_HOST, "h");
			add_int(&m, T_PORT, 1);
			refused(&m);
		}
	}
	/* A token of 4 bytes; done past the batch bound. */
	add_int(&m, T_TYPE, DELIVER_BATCH);
	add_str(&m, T_NAME, "x");
	add_int(&m, T_TOKEN, 1);
	add_str(&m, T_FRAME, "f");
	refused(&m);
	add_int(&m, T_TYPE, DELIVER_RESULT);
	add_str(&m, T_NAME, "x");
	add_token(&m, 1);
	add_int(&m, T_DONE, DELIVER_BATCH_MAX + 1);
	refused(&m);
}

static void
test_refused_frames(void **state)
{
	static uint8_t big[DELIVER_FRAME_MAX + 1];
	struct msg m = { 0 };
	struct deliver_msg d;
	size_t i;

	(void)state;
	memset(big, 'f', sizeof(big));
	/* Empty, at the bound, over it. */
	batch_start(&m);
	add(&m, T_FRAME, "", 0);
	refused(&m);
	batch_start(&m);
	add(&m, T_FRAME, big, DELIVER_FRAME_MAX);
	accepted(&m);
	batch_start(&m);
	add(&m, T_FRAME, big, DELIVER_FRAME_MAX + 1);
	refused(&m);
	/* DELIVER_BATCH_MAX frames, in order; one more. */
	batch_start(&m);
	for (i = 0; i < DELIVER_BATCH_MAX; i++)
		add(&m, T_FRAME, big, i + 1);
	assert_int_equal(deliver_decode(m.buf, m.len, &d), 0);
	assert_int_equal(d.nframes, DELIVER_BATCH_MAX);
	for (i = 0; i < DELIVER_BATCH_MAX; i++)
		assert_int_equal(d.frames[i].len, i + 1);
	deliver_msg_clear(&d);
	add(&m, T_FRAME, "f", 1);
	refused(&m);
	/* Frames on either side of another field still count. */
	add_int(&m, T_TYPE, DELIVER_BATCH);
	add_str(&m, T_FRAME, "one");
	add_str(&m, T_NAME, "x");
	add_str(&m, T_FRAME, "two");
	add_token(&m, 9);
	assert_int_equal(deliver_decode(m.buf, m.len, &d), 0);
	assert_int_equal(d.nframes, 2);
	assert_memory_equal(d.frames[1].data, "two", 3);
	deliver_msg_clear(&d);
	msg_free(&m);
}

/* Every proper prefix of a valid message is refused (fields cut short,
 * or whole but missing what follows), and so is a length running past
 * the end. */
static void
test_truncated(void **state)
{
	struct msg m = { 0 };
	struct deliver_msg d;
	size_t cut;

	(void)state;
	/* A required field last, so that no proper prefix is whole. */
	add_int(&m, T_TYPE, DELIVER_SINK);
	add_str(&m, T_SERVER_NAME, "n");
	add_str(&m, T_CERT_PEM, "C");
	add_str(&m, T_KEY_PEM, "K");
	add_str(&m, T_NAME, "x");
	add_int(&m, T_KIND, DELIVER_TLS);
	add_int(&m, T_TIMEOUT_MS, 1);
	add_str(&m, T_HOST, "h");
	add_int(&m, T_PORT, 6514);
	for (cut = 0; cut < m.len; cut++) {
		assert_int_equal(deliver_decode(m.buf, cut, &d), -EBADMSG);
		assert_null(d.name);
	}
	assert_int_equal(deliver_decode(m.buf, m.len, &d), 0);
	deliver_msg_clear(&d);
	msg_free(&m);
	batch_start(&m);
	add_raw(&m, T_FRAME, 10, "abc", 3);
	refused(&m);
	batch_start(&m);
	add_raw(&m, T_FRAME, 0xffffffffu, "abc", 3);
	refused(&m);
}

static void
test_over_max(void **state)
{
	struct msg m = { 0 };
	struct deliver_msg d;

	(void)state;
	add_int(&m, T_TYPE, DELIVER_DROP);
	add_str(&m, T_NAME, "x");
	/* The length alone is checked first. */
	assert_int_equal(deliver_decode(m.buf, DELIVER_MAX + 1, &d), -EBADMSG);
	msg_free(&m);
}

static void
test_encode_refused(void **state)
{
	static uint8_t big[DELIVER_FRAME_MAX + 1];
	struct deliver_frame frames[DELIVER_BATCH_MAX + 1];
	struct secret *sec;
	struct deliver_msg m;
	uint8_t *buf;
	size_t len, i;

	(void)state;
	memset(big, 'f', sizeof(big));
	/* The wrong output for the type. */
	memset(&m, 0, sizeof(m));
	m.type = DELIVER_DROP;
	m.name = "x";
	assert_int_equal(deliver_encode(&m, &sec, NULL, NULL), -EINVAL);
	assert_int_equal(deliver_encode(&m, &sec, &buf, &len), -EINVAL);
	assert_int_equal(deliver_encode(&m, NULL, &buf, &len), 0);
	free(buf);
	m.type = DELIVER_SINK;
	m.kind = DELIVER_UDP;
	m.host = "h";
	m.port = 514;
	m.timeout_ms = 1;
	assert_int_equal(deliver_encode(&m, NULL, &buf, &len), -EINVAL);
	assert_null(buf);
	assert_int_equal(deliver_encode(&m, &sec, NULL, NULL), 0);
	secret_free(sec);
	/* What the decoder would refuse. */
	m.port = 0;
	assert_int_equal(deliver_encode(&m, &sec, NULL, NULL), -EINVAL);
	assert_null(sec);
	m.port = 514;
	m.timeout_ms = 0;
	assert_int_equal(deliver_encode(&m, &sec, NULL, NULL), -EINVAL);
	m.timeout_ms = 1;
	m.name = "Bad Name";
	assert_int_equal(deliver_encode(&m, &sec, NULL, NULL), -EINVAL);
	m.name = "x";
	m.url = "https://x/";
	assert_int_equal(deliver_encode(&m, &sec, NULL, NULL), -EINVAL);
	m.url = NULL;
	m.kind = DELIVER_KIND__MAX;
	assert_int_equal(deliver_encode(&m, &sec, NULL, NULL), -EINVAL);
	m.kind = DELIVER_TLS;
	m.cert_pem = "C";
	assert_int_equal(deliver_encode(&m, &sec, NULL, NULL), -EINVAL);
	m.cert_pem = NULL;
	m.kind = DELIVER_HTTP;
	m.host = NULL;
	m.url = "https://x/";
	m.auth = mksecret("Bearer a\nb");
	assert_int_equal(deliver_encode(&m, &sec, NULL, NULL), -EINVAL);
	secret_free(m.auth);
	m.auth = mksecret("");
	assert_int_equal(deliver_encode(&m, &sec, NULL, NULL), -EINVAL);
	secret_free(m.auth);
	m.auth = NULL;
	m.host = "";
	assert_int_equal(deliver_encode(&m, &sec, NULL, NULL), -EINVAL);

	/* Batches: no frame, too many, an empty or oversize one, and the
	 * whole over DELIVER_MAX. */
	memset(&m, 0, sizeof(m));
	m.type = DELIVER_BATCH;
	m.name = "x";
	m.token = 1;
	m.frames = frames;
	assert_int_equal(deliver_encode(&m, NULL, &buf, &len), -EINVAL);
	for (i = 0; i <= DELIVER_BATCH_MAX; i++) {
		frames[i].data = big;
		frames[i].len = 1;
	}
	m.nframes = DELIVER_BATCH_MAX + 1;
	assert_int_equal(deliver_encode(&m, NULL, &buf, &len), -EINVAL);
	m.nframes = 2;
	frames[1].len = 0;
	assert_int_equal(deliver_encode(&m, NULL, &buf, &len), -EINVAL);
	frames[1].len = DELIVER_FRAME_MAX + 1;
	assert_int_equal(deliver_encode(&m, NULL, &buf, &len), -EINVAL);
	for (i = 0; i < DELIVER_BATCH_MAX; i++)
		frames[i].len = DELIVER_FRAME_MAX;
	m.nframes = DELIVER_BATCH_MAX;
	assert_int_equal(deliver_encode(&m, NULL, &buf, &len), -EMSGSIZE);
	/* A RESULT's done, error. */
	memset(&m, 0, sizeof(m));
	m.type = DELIVER_RESULT;
	m.name = "x";
	m.done = DELIVER_BATCH_MAX + 1;
	assert_int_equal(deliver_encode(&m, NULL, &buf, &len), -EINVAL);
	m.done = 0;
	m.error = "";
	assert_int_equal(deliver_encode(&m, NULL, &buf, &len), -EINVAL);
	m.type = DELIVER__MAX;
	assert_int_equal(deliver_encode(&m, NULL, &buf, &len), -EINVAL);
}

static void
test_frame_len(void **state)
{
	uint8_t buf[8] = { 0 };
	size_t len = 99;

	(void)state;
	/* Fewer than 4 bytes: more needed, even when they are zeros. */
	assert_int_equal(deliver_frame_len(buf, 0, &len), -EAGAIN);
	assert_int_equal(deliver_frame_len(buf, 3, &len), -EAGAIN);
	/* A zero length is refused. */
	assert_int_equal(deliver_frame_len(buf, 4, &len), -EBADMSG);
	/* Length 4: complete at 8 bytes, not before. */
	buf[3] = 4;
	assert_int_equal(deliver_frame_len(buf, 7, &len), -EAGAIN);
	assert_int_equal(len, 99);
	assert_int_equal(deliver_frame_len(buf, 8, &len), 0);
	assert_int_equal(len, 8);
	/* More bytes than the message: still its own length. */
	len = 0;
	assert_int_equal(deliver_frame_len(buf, sizeof(buf) + 100, &len), 0);
	assert_int_equal(len, 8);
	/* DELIVER_MAX exactly, and one over. */
	buf[0] = (uint8_t)(DELIVER_MAX >> 24);
	buf[1] = (uint8_t)(DELIVER_MAX >> 16);
	buf[2] = (uint8_t)(DELIVER_MAX >> 8);
	buf[3] = (uint8_t)DELIVER_MAX;
	assert_int_equal(deliver_frame_len(buf, 4, &len), -EAGAIN);
	assert_int_equal(
	    deliver_frame_len(buf, 4 + (size_t)DELIVER_MAX, &len), 0);
	assert_int_equal(len, 4 + (size_t)DELIVER_MAX);
	buf[3] = (uint8_t)(DELIVER_MAX + 1);
	assert_int_equal(deliver_frame_len(buf, 4, &len), -EBADMSG);
	buf[0] = 0xff;
	assert_int_equal(deliver_frame_len(buf, 4, &len), -EBADMSG);
}

static void
test_names(void **state)
{
	(void)state;
	assert_string_equal(deliver_kind_name(DELIVER_UDP), "udp");
	assert_string_equal(deliver_kind_name(DELIVER_TCP), "tcp");
	assert_string_equal(deliver_kind_name(DELIVER_TLS), "tls");
	assert_string_equal(deliver_kind_name(DELIVER_HTTP), "http");
	assert_string_equal(deliver_kind_name(DELIVER_KIND__MAX), "?");
	assert_string_equal(deliver_kind_name(0), "?");
	deliver_msg_clear(NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip_sinks),
		cmocka_unit_test(test_round_trip_others),
		cmocka_unit_test(test_exact_bytes),
		cmocka_unit_test(test_refused_tags),
		cmocka_unit_test(test_refused_missing),
		cmocka_unit_test(test_refused_values),
		cmocka_unit_test(test_refused_ints),
		cmocka_unit_test(test_refused_frames),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_over_max),
		cmocka_unit_test(test_encode_refused),
		cmocka_unit_test(test_frame_len),
		cmocka_unit_test(test_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
