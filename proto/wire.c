/*
 * wire.c: the worker's one request and one response, as tagged fields.
 *
 * The tag numbers are a stable contract with tests/lib/wire.py (and with
 * any worker built from another tree): never renumber or reuse one.
 * Response tags have the high bit set, so a request fed to the response
 * decoder (or the reverse) is refused at its first field.
 *
 *   tag   request field    value
 *   1     op               int, 1..WIRE_OP__MAX-1             required
 *   2     provider         string, 1..63 bytes                required
 *   3     host             string, <= 255 bytes
 *   4     port             int, 0..65535 (absent: 0)
 *   5     (retired: was database, now a parameter; refused as unknown)
 *   6     login            string, <= 1023 bytes     required for apply/verify
 *   7     dn               string, <= 1023 bytes
 *   8     admin_login      string, <= 1023 bytes
 *   9     tls_ca_file      string, <= 4095 bytes
 *   10    tls_verify       bool: 1 byte, 0 or 1 (absent: true)
 *   11    timeout          int, 0..86400 (absent: 0)
 *   12    current          secret
 *   13    new_secret       secret                    required for apply/verify
 *   14    admin            secret
 *   15    script_path      string, <= 4095 bytes     required for script
 *   16    script_command   string, <= 4095 bytes
 *   17    script_input     secret                    required for script
 *   18    test_action      string, <= 255 bytes
 *   19    params           entries, 1..WIRE_PARAMS_MAX of them (see below)
 *   20    tls_disabled     bool: 1 byte, 1 (absent: false; written only when
 *                          true, so a request with TLS encodes as before)
 *   21    private_key      bool: 1 byte, 1 (absent: false; written only when
 *                          true): the secrets are SSH private keys, the
 *                          user's key rotates (not its password)
 *   22    passphrase       secret: the passphrase of the current key, when
 *                          the key an operator seeded has one
 *
 *   tag   response field   value
 *   0x81  class            int, 0..WIRE_CLASS__MAX-1          required
 *   0x82  message          string, < WIRE_MESSAGE_MAX bytes (absent: "")
 *   0x83  facts            string, < WIRE_FACTS_MAX bytes (absent: "")
 *   0x84  output           bytes, < WIRE_OUTPUT_MAX (absent: NULL)
 *   0x85  untouched        bool: 1 byte, 1 (absent: false; written only
 *                          when true, so each response has one encoding)
 *
 * An int is 4 bytes big-endian, unsigned.  A string holds no NUL; a
 * required string must not be empty either.  A secret is any bytes.  The
 * output is bytes too (a script may print anything); its reader escapes
 * it.  Fields may come in any order; the encoders write them in tag order.
 *
 * The params value is its entries back to back, each
 *
 *   key length   1 byte, 1..WIRE_PARAM_KEY_MAX
 *   key          that many bytes of [a-z0-9_]
 *   value length 4 bytes big-endian, 0..WIRE_PARAM_VALUE_MAX
 *   value        that many bytes, no NUL
 *
 * with no key twice and nothing after the last entry.  The field is
 * written only when there is a parameter, so an empty one is refused too:
 * every request has one encoding.  A request without parameters encodes
 * as it did before tag 19 existed.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "secret.h"
#include "wire.h"

enum {
	TAG_OP = 1,
	TAG_PROVIDER = 2,
	TAG_HOST = 3,
	TAG_PORT = 4,
	/* 5 was database: retired, never to be reused. */
	TAG_LOGIN = 6,
	TAG_DN = 7,
	TAG_ADMIN_LOGIN = 8,
	TAG_TLS_CA_FILE = 9,
	TAG_TLS_VERIFY = 10,
	TAG_TIMEOUT = 11,
	TAG_CURRENT = 12,
	TAG_NEW_SECRET = 13,
	TAG_ADMIN = 14,
	TAG_SCRIPT_PATH = 15,
	TAG_SCRIPT_COMMAND = 16,
	TAG_SCRIPT_INPUT = 17,
	TAG_TEST_ACTION = 18,
	TAG_PARAMS = 19,
	TAG_TLS_DISABLED = 20,
	TAG_PRIVATE_KEY = 21,
	TAG_PASSPHRASE = 22,

	TAG_CLASS = 0x81,
	TAG_MESSAGE = 0x82,
	TAG_FACTS = 0x83,
	TAG_OUTPUT = 0x84,
	TAG_UNTOUCHED = 0x85,
};

/* A field's header: the tag byte and the 4-byte length. */
#define FIELD_HDR 5
#define PREFIX 4
#define PORT_MAX 65535
#define TIMEOUT_MAX 86400
/* A parameter entry's header: the key's 1-byte length; after the key, the
 * value's 4-byte length. */
#define PARAM_KEY_HDR 1
#define PARAM_VALUE_HDR 4

/* The largest response must fit, so its encoder needs no size check. */
_Static_assert(PREFIX + 5 * FIELD_HDR + 4 + WIRE_MESSAGE_MAX + WIRE_FACTS_MAX +
	    WIRE_OUTPUT_MAX + 1 <=
	WIRE_MAX,
    "the largest response fits in WIRE_MAX");
/* A whole request lives in one struct secret. */
_Static_assert(WIRE_MAX <= SECRET_MAX, "a message fits in a secret");

enum kind {
	KIND_STR,
	KIND_SECRET,
};

/*
 * The request's pointer members, one table for the encoder, the decoder
 * and the destructor alike.  MAX is a string's longest length (NUL not
 * counted); the bounds are generous for what each field holds and keep
 * a hostile or broken peer from handing the other side huge strings.
 */
static const struct ptr_field {
	uint8_t tag;
	uint8_t kind;
	size_t off;
	size_t max;
} ptr_fields[] = {
	{ TAG_PROVIDER, KIND_STR, offsetof(struct wire_request, provider), 63 },
	{ TAG_HOST, KIND_STR, offsetof(struct wire_request, host), 255 },
	{ TAG_LOGIN, KIND_STR, offsetof(struct wire_request, login), 1023 },
	{ TAG_DN, KIND_STR, offsetof(struct wire_request, dn), 1023 },
	{ TAG_ADMIN_LOGIN, KIND_STR, offsetof(struct wire_request, admin_login),
	    1023 },
	{ TAG_TLS_CA_FILE, KIND_STR, offsetof(struct wire_request, tls_ca_file),
	    4095 },
	{ TAG_CURRENT, KIND_SECRET, offsetof(struct wire_request, current), 0 },
	{ TAG_NEW_SECRET, KIND_SECRET,
	    offsetof(struct wire_request, new_secret), 0 },
	{ TAG_ADMIN, KIND_SECRET, offsetof(struct wire_request, admin), 0 },
	{ TAG_SCRIPT_PATH, KIND_STR, offsetof(struct wire_request, script_path),
	    4095 },
	{ TAG_SCRIPT_COMMAND, KIND_STR,
	    offsetof(struct wire_request, script_command), 4095 },
	{ TAG_SCRIPT_INPUT, KIND_SECRET,
	    offsetof(struct wire_request, script_input), 0 },
	{ TAG_TEST_ACTION, KIND_STR, offsetof(struct wire_request, test_action),
	    255 },
};
#define N_PTR_FIELDS (sizeof(ptr_fields) / sizeof(ptr_fields[0]))

/* The member F of REQ, by type: a char * or a struct secret *. */
static char **
str_member(struct wire_request *req, const struct ptr_field *f)
{
	return (char **)((char *)req + f->off);
}

static struct secret **
secret_member(struct wire_request *req, const struct ptr_field *f)
{
	return (struct secret **)((char *)req + f->off);
}

static const char *
str_value(const struct wire_request *req, const struct ptr_field *f)
{
	return *(char *const *)((const char *)req + f->off);
}

static const struct secret *
secret_value(const struct wire_request *req, const struct ptr_field *f)
{
	return *(struct secret *const *)((const char *)req + f->off);
}

static const struct ptr_field *
find_ptr_field(uint8_t tag)
{
	size_t i;

	for (i = 0; i < N_PTR_FIELDS; i++)
		if (ptr_fields[i].tag == tag)
			return &ptr_fields[i];
	return NULL;
}

static uint32_t
get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static void
put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* Append one field at *P and advance it; the caller sized the buffer. */
static void
put_field(uint8_t **p, uint8_t tag, const void *val, size_t len)
{
	(*p)[0] = tag;
	put_be32(*p + 1, (uint32_t)len);
	if (len > 0)
		memcpy(*p + FIELD_HDR, val, len);
	*p += FIELD_HDR + len;
}

static void
put_int(uint8_t **p, uint8_t tag, uint32_t v)
{
	uint8_t be[4];

	put_be32(be, v);
	put_field(p, tag, be, sizeof(be));
}

/*
 * One field off the front of *P (*LEFT bytes, at least one): its tag,
 * value and length.  -EBADMSG when the header or the value runs past the
 * end.
 */
static int
take_field(const uint8_t **p, size_t *left, uint8_t *tag, const uint8_t **val,
    size_t *len)
{
	size_t n;

	if (*left < FIELD_HDR)
		return -EBADMSG;
	n = get_be32(*p + 1);
	if (n > *left - FIELD_HDR)
		return -EBADMSG;
	*tag = (*p)[0];
	*val = *p + FIELD_HDR;
	*len = n;
	*p += FIELD_HDR + n;
	*left -= FIELD_HDR + n;
	return 0;
}

static int
get_int(
    const uint8_t *val, size_t len, uint32_t min, uint32_t max, uint32_t *ret)
{
	uint32_t v;

	if (len != 4)
		return -EBADMSG;
	v = get_be32(val);
	if (v < min || v > max)
		return -EBADMSG;
	*ret = v;
	return 0;
}

/* A string with no NUL of at most MAX bytes, as a new C string. */
static int
get_str(const uint8_t *val, size_t len, size_t max, char **ret)
{
	char *s;

	if (len > max || (len > 0 && memchr(val, '\0', len) != NULL))
		return -EBADMSG;
	s = malloc(len + 1);
	if (s == NULL)
		return -ENOMEM;
	if (len > 0)
		memcpy(s, val, len);
	s[len] = '\0';
	*ret = s;
	return 0;
}

/* Straight into a secret's pages: no copy on the heap or the stack. */
static int
get_secret(const uint8_t *val, size_t len, struct secret **ret)
{
	struct secret *s;
	int r;

	r = secret_new(NULL, len, &s);
	if (r < 0)
		return r == -EINVAL ? -EBADMSG : r;
	if (len > 0)
		memcpy(secret_buf(s), val, len);
	*ret = s;
	return 0;
}

/* Whether KEY, LEN bytes, is a parameter's key: 1..WIRE_PARAM_KEY_MAX
 * bytes of [a-z0-9_], as catalog keys are named. */
static bool
param_key_ok(const char *key, size_t len)
{
	size_t i;

	if (len == 0 || len > WIRE_PARAM_KEY_MAX)
		return false;
	for (i = 0; i < len; i++)
		if (!((key[i] >= 'a' && key[i] <= 'z') ||
			(key[i] >= '0' && key[i] <= '9') || key[i] == '_'))
			return false;
	return true;
}

/*
 * The params field's value (the entries, without the field header) in
 * *RET, 0 when REQ has none; -EINVAL when REQ's parameters break a rule the
 * decoder would refuse them for: the encoder never writes what the other
 * side cannot read.
 */
static int
params_size(const struct wire_request *req, size_t *ret)
{
	const struct wire_param *pa;
	size_t size = 0, i, j, klen, vlen;

	*ret = 0;
	if (req->nparams > WIRE_PARAMS_MAX ||
	    (req->nparams > 0 && req->params == NULL))
		return -EINVAL;
	for (i = 0; i < req->nparams; i++) {
		pa = &req->params[i];
		if (pa->key == NULL || pa->value == NULL)
			return -EINVAL;
		klen = strnlen(pa->key, WIRE_PARAM_KEY_MAX + 1);
		vlen = strnlen(pa->value, WIRE_PARAM_VALUE_MAX + 1);
		if (!param_key_ok(pa->key, klen) || vlen > WIRE_PARAM_VALUE_MAX)
			return -EINVAL;
		for (j = 0; j < i; j++)
			if (strcmp(req->params[j].key, pa->key) == 0)
				return -EINVAL;
		size += PARAM_KEY_HDR + klen + PARAM_VALUE_HDR + vlen;
	}
	*ret = size;
	return 0;
}

/* The params field, SIZE bytes of entries (params_size()), at *P. */
static void
put_params(uint8_t **p, const struct wire_request *req, size_t size)
{
	const struct wire_param *pa;
	size_t i, klen, vlen;
	uint8_t *q;

	(*p)[0] = TAG_PARAMS;
	put_be32(*p + 1, (uint32_t)size);
	q = *p + FIELD_HDR;
	for (i = 0; i < req->nparams; i++) {
		pa = &req->params[i];
		klen = strlen(pa->key);
		vlen = strlen(pa->value);
		*q = (uint8_t)klen;
		memcpy(q + PARAM_KEY_HDR, pa->key, klen);
		q += PARAM_KEY_HDR + klen;
		put_be32(q, (uint32_t)vlen);
		if (vlen > 0)
			memcpy(q + PARAM_VALUE_HDR, pa->value, vlen);
		q += PARAM_VALUE_HDR + vlen;
	}
	*p = q;
}

/*
 * The params field's value (VAL, LEN bytes) into REQ: at least one entry,
 * at most WIRE_PARAMS_MAX, each whole, its key well formed and not seen
 * before, its value within bounds and without NUL, and nothing left over.
 * 0, -EBADMSG or -ENOMEM; on error what was taken stays in REQ for the
 * caller to clear.
 */
static int
get_params(struct wire_request *req, const uint8_t *val, size_t len)
{
	const uint8_t *key, *value;
	struct wire_param *pa;
	size_t klen, vlen, i;
	int r;

	if (len == 0)
		return -EBADMSG; /* the encoder leaves the field out */
	req->params = calloc(WIRE_PARAMS_MAX, sizeof(*req->params));
	if (req->params == NULL)
		return -ENOMEM;
	while (len > 0) {
		if (req->nparams == WIRE_PARAMS_MAX)
			return -EBADMSG;
		/* The key and the value's length must be there whole. */
		klen = val[0];
		if (len - PARAM_KEY_HDR < klen + PARAM_VALUE_HDR)
			return -EBADMSG;
		key = val + PARAM_KEY_HDR;
		vlen = get_be32(key + klen);
		value = key + klen + PARAM_VALUE_HDR;
		if (vlen > len - PARAM_KEY_HDR - klen - PARAM_VALUE_HDR ||
		    !param_key_ok((const char *)key, klen))
			return -EBADMSG;
		for (i = 0; i < req->nparams; i++)
			if (strlen(req->params[i].key) == klen &&
			    memcmp(req->params[i].key, key, klen) == 0)
				return -EBADMSG;
		pa = &req->params[req->nparams++];
		r = get_str(key, klen, WIRE_PARAM_KEY_MAX, &pa->key);
		if (r == 0)
			r = get_str(
			    value, vlen, WIRE_PARAM_VALUE_MAX, &pa->value);
		if (r < 0)
			return r;
		val = value + vlen;
		len -= PARAM_KEY_HDR + klen + PARAM_VALUE_HDR + vlen;
	}
	return 0;
}

static bool
nonempty(const char *s)
{
	return s != NULL && s[0] != '\0';
}

/* Whether REQ has the fields its op needs: both sides check the same. */
static bool
request_complete(const struct wire_request *req)
{
	if (req->op < WIRE_OP_APPLY || req->op >= WIRE_OP__MAX ||
	    !nonempty(req->provider))
		return false;
	switch (req->op) {
	case WIRE_OP_APPLY:
	case WIRE_OP_VERIFY:
		return nonempty(req->login) && req->new_secret != NULL;
	case WIRE_OP_SCRIPT:
		return nonempty(req->script_path) && req->script_input != NULL;
	default:
		return false;
	}
}

void
wire_request_clear(struct wire_request *req)
{
	size_t i;

	if (req == NULL)
		return;
	for (i = 0; i < N_PTR_FIELDS; i++) {
		if (ptr_fields[i].kind == KIND_SECRET)
			secret_free(*secret_member(req, &ptr_fields[i]));
		else
			free(*str_member(req, &ptr_fields[i]));
	}
	for (i = 0; i < req->nparams; i++) {
		free(req->params[i].key);
		free(req->params[i].value);
	}
	free(req->params);
	secret_free(req->passphrase);
	memset(req, 0, sizeof(*req));
}

void
wire_response_clear(struct wire_response *res)
{
	if (res == NULL)
		return;
	free(res->output);
	memset(res, 0, sizeof(*res));
}

/*
 * The request is sized first and written once into a struct secret, so
 * the secrets it carries are never copied to the heap.  Ints and the bool
 * are always written; strings and secrets only when set (NULL: absent).
 * The whole message, prefix included, is kept within WIRE_MAX so that it
 * fits in one secret.
 */
int
wire_request_encode(const struct wire_request *req, struct secret **out)
{
	struct secret *msg = NULL;
	uint8_t *p;
	size_t size, i, len, psize;
	int r;

	*out = NULL;
	if (!request_complete(req) || req->port < 0 || req->port > PORT_MAX ||
	    req->timeout < 0 || req->timeout > TIMEOUT_MAX ||
	    params_size(req, &psize) < 0)
		return -EINVAL;
	size = PREFIX + 3 * (FIELD_HDR + 4) + FIELD_HDR + 1;
	if (psize > 0)
		size += FIELD_HDR + psize;
	if (req->tls_disabled)
		size += FIELD_HDR + 1;
	if (req->private_key)
		size += FIELD_HDR + 1;
	if (req->passphrase != NULL) {
		if (secret_len(req->passphrase) > WIRE_MAX)
			return -EMSGSIZE;
		size += FIELD_HDR + secret_len(req->passphrase);
	}
	for (i = 0; i < N_PTR_FIELDS; i++) {
		const struct ptr_field *f = &ptr_fields[i];

		if (f->kind == KIND_SECRET) {
			if (secret_value(req, f) == NULL)
				continue;
			len = secret_len(secret_value(req, f));
			if (len > WIRE_MAX)
				return -EMSGSIZE;
		} else {
			if (str_value(req, f) == NULL)
				continue;
			len = strnlen(str_value(req, f), f->max + 1);
			if (len > f->max)
				return -EINVAL;
		}
		size += FIELD_HDR + len;
	}
	if (size > WIRE_MAX)
		return -EMSGSIZE;

	r = secret_new(NULL, size, &msg);
	if (r < 0)
		goto out;
	p = secret_buf(msg);
	put_be32(p, (uint32_t)(size - PREFIX));
	p += PREFIX;
	put_int(&p, TAG_OP, (uint32_t)req->op);
	for (i = 0; i < N_PTR_FIELDS; i++) {
		const struct ptr_field *f = &ptr_fields[i];
		const struct secret *sv;
		const char *v;

		/* In tag order: the ints and the bool sit among these. */
		if (f->tag == TAG_LOGIN)
			put_int(&p, TAG_PORT, (uint32_t)req->port);
		if (f->tag == TAG_CURRENT) {
			uint8_t b = req->tls_verify ? 1 : 0;

			put_field(&p, TAG_TLS_VERIFY, &b, 1);
			put_int(&p, TAG_TIMEOUT, (uint32_t)req->timeout);
		}
		if (f->kind == KIND_SECRET) {
			sv = secret_value(req, f);
			if (sv != NULL)
				put_field(&p, f->tag, secret_data(sv),
				    secret_len(sv));
		} else {
			v = str_value(req, f);
			if (v != NULL)
				put_field(&p, f->tag, v, strlen(v));
		}
	}
	if (psize > 0)
		put_params(&p, req, psize);
	if (req->tls_disabled) {
		uint8_t b = 1;

		put_field(&p, TAG_TLS_DISABLED, &b, 1);
	}
	if (req->private_key) {
		uint8_t b = 1;

		put_field(&p, TAG_PRIVATE_KEY, &b, 1);
	}
	if (req->passphrase != NULL)
		put_field(&p, TAG_PASSPHRASE, secret_data(req->passphrase),
		    secret_len(req->passphrase));
	*out = msg;
	msg = NULL;
	r = 0;
out:
	secret_free(msg);
	return r;
}

/* One field of a request into REQ.  0, -EBADMSG or -ENOMEM. */
static int
request_field(
    struct wire_request *req, uint8_t tag, const uint8_t *val, size_t len)
{
	const struct ptr_field *f;
	uint32_t v;
	int r;

	switch (tag) {
	case TAG_OP:
		r = get_int(val, len, WIRE_OP_APPLY, WIRE_OP__MAX - 1, &v);
		if (r == 0)
			req->op = (enum wire_op)v;
		return r;
	case TAG_PORT:
		r = get_int(val, len, 0, PORT_MAX, &v);
		if (r == 0)
			req->port = (int)v;
		return r;
	case TAG_TIMEOUT:
		r = get_int(val, len, 0, TIMEOUT_MAX, &v);
		if (r == 0)
			req->timeout = (int)v;
		return r;
	case TAG_TLS_VERIFY:
		if (len != 1 || val[0] > 1)
			return -EBADMSG;
		req->tls_verify = val[0] == 1;
		return 0;
	case TAG_PARAMS:
		return get_params(req, val, len);
	case TAG_TLS_DISABLED:
		/* Only ever written as true: one encoding per request. */
		if (len != 1 || val[0] != 1)
			return -EBADMSG;
		req->tls_disabled = true;
		return 0;
	case TAG_PRIVATE_KEY:
		if (len != 1 || val[0] != 1)
			return -EBADMSG;
		req->private_key = true;
		return 0;
	case TAG_PASSPHRASE:
		return get_secret(val, len, &req->passphrase);
	}
	f = find_ptr_field(tag);
	if (f == NULL)
		return -EBADMSG;
	if (f->kind == KIND_SECRET)
		return get_secret(val, len, secret_member(req, f));
	return get_str(val, len, f->max, str_member(req, f));
}

int
wire_request_decode(const void *buf, size_t len, struct wire_request *req)
{
	const uint8_t *p = buf, *val;
	uint32_t seen = 0;
	size_t vlen;
	uint8_t tag;
	int r = 0;

	memset(req, 0, sizeof(*req));
	req->tls_verify = true;
	if (len > WIRE_MAX) {
		r = -EBADMSG;
		goto out;
	}
	while (len > 0) {
		r = take_field(&p, &len, &tag, &val, &vlen);
		if (r < 0)
			goto out;
		/* Request tags are 1..22: anything wider is unknown. */
		if (tag == 0 || tag > TAG_PASSPHRASE ||
		    (seen & (1u << tag)) != 0) {
			r = -EBADMSG;
			goto out;
		}
		seen |= 1u << tag;
		r = request_field(req, tag, val, vlen);
		if (r < 0)
			goto out;
	}
	if (!request_complete(req))
		r = -EBADMSG;
out:
	if (r < 0)
		wire_request_clear(req);
	return r;
}

int
wire_response_encode(
    const struct wire_response *res, uint8_t **out, size_t *len)
{
	size_t mlen, flen, size;
	uint8_t *buf, *p;

	*out = NULL;
	*len = 0;
	mlen = strnlen(res->message, sizeof(res->message));
	flen = strnlen(res->facts, sizeof(res->facts));
	if (res->class >= WIRE_CLASS__MAX || mlen == sizeof(res->message) ||
	    flen == sizeof(res->facts) ||
	    (res->output != NULL && res->output_len >= WIRE_OUTPUT_MAX))
		return -EINVAL;
	size = PREFIX + FIELD_HDR + 4;
	if (mlen > 0)
		size += FIELD_HDR + mlen;
	if (flen > 0)
		size += FIELD_HDR + flen;
	if (res->output != NULL)
		size += FIELD_HDR + res->output_len;
	if (res->untouched)
		size += FIELD_HDR + 1;
	buf = malloc(size);
	if (buf == NULL)
		return -ENOMEM;
	p = buf;
	put_be32(p, (uint32_t)(size - PREFIX));
	p += PREFIX;
	put_int(&p, TAG_CLASS, (uint32_t)res->class);
	if (mlen > 0)
		put_field(&p, TAG_MESSAGE, res->message, mlen);
	if (flen > 0)
		put_field(&p, TAG_FACTS, res->facts, flen);
	if (res->output != NULL)
		put_field(&p, TAG_OUTPUT, res->output, res->output_len);
	if (res->untouched) {
		uint8_t b = 1;

		put_field(&p, TAG_UNTOUCHED, &b, 1);
	}
	*out = buf;
	*len = size;
	return 0;
}

/* One field of a response into RES.  0, -EBADMSG or -ENOMEM. */
static int
response_field(
    struct wire_response *res, uint8_t tag, const uint8_t *val, size_t len)
{
	uint32_t v;
	int r;

	switch (tag) {
	case TAG_CLASS:
		r = get_int(val, len, 0, WIRE_CLASS__MAX - 1, &v);
		if (r == 0)
			res->class = (enum wire_class)v;
		return r;
	case TAG_MESSAGE:
	case TAG_FACTS:
		/* Into the fixed arrays: the bound is theirs, NUL included. */
		if (len >= WIRE_MESSAGE_MAX ||
		    (len > 0 && memchr(val, '\0', len) != NULL))
			return -EBADMSG;
		memcpy(
		    tag == TAG_MESSAGE ? res->message : res->facts, val, len);
		return 0;
	case TAG_OUTPUT:
		if (len >= WIRE_OUTPUT_MAX)
			return -EBADMSG;
		res->output = malloc(len + 1);
		if (res->output == NULL)
			return -ENOMEM;
		if (len > 0)
			memcpy(res->output, val, len);
		/* NUL-terminated for convenience; output_len is the truth. */
		res->output[len] = '\0';
		res->output_len = len;
		return 0;
	case TAG_UNTOUCHED:
		/* Only "1": an absent field is false, so there is one
		 * spelling of each response. */
		if (len != 1 || val[0] != 1)
			return -EBADMSG;
		res->untouched = true;
		return 0;
	default:
		return -EBADMSG;
	}
}

_Static_assert(WIRE_MESSAGE_MAX == WIRE_FACTS_MAX,
    "response_field() bounds message and facts alike");

int
wire_response_decode(const void *buf, size_t len, struct wire_response *res)
{
	const uint8_t *p = buf, *val;
	uint32_t seen = 0;
	size_t vlen;
	uint8_t tag;
	int r = 0;

	memset(res, 0, sizeof(*res));
	if (len > WIRE_MAX) {
		r = -EBADMSG;
		goto out;
	}
	while (len > 0) {
		r = take_field(&p, &len, &tag, &val, &vlen);
		if (r < 0)
			goto out;
		/* Response tags are 0x81..0x85, one bit each in SEEN. */
		if (tag < TAG_CLASS || tag > TAG_UNTOUCHED ||
		    (seen & 1u << (tag - TAG_CLASS)) != 0) {
			r = -EBADMSG;
			goto out;
		}
		seen |= 1u << (tag - TAG_CLASS);
		r = response_field(res, tag, val, vlen);
		if (r < 0)
			goto out;
	}
	if ((seen & 1u << (TAG_CLASS - TAG_CLASS)) == 0)
		r = -EBADMSG; /* no class: the one required field */
out:
	if (r < 0)
		wire_response_clear(res);
	return r;
}

/* All N bytes from FD.  0, -errno, or at end of file -ENODATA before the
 * first byte, -EBADMSG after it. */
static int
read_full(int fd, uint8_t *buf, size_t n)
{
	size_t done = 0;
	ssize_t got;

	while (done < n) {
		got = read(fd, buf + done, n - done);
		if (got < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (got == 0)
			return done == 0 ? -ENODATA : -EBADMSG;
		done += (size_t)got;
	}
	return 0;
}

int
wire_read_fd(int fd, struct secret **out)
{
	struct secret *msg = NULL;
	uint8_t prefix[PREFIX];
	uint32_t len;
	int r;

	*out = NULL;
	r = read_full(fd, prefix, sizeof(prefix));
	if (r < 0)
		goto out;
	len = get_be32(prefix);
	if (len > WIRE_MAX) {
		r = -EBADMSG;
		goto out;
	}
	r = secret_new(NULL, len, &msg);
	if (r < 0)
		goto out;
	r = read_full(fd, secret_buf(msg), len);
	if (r == -ENODATA)
		r = -EBADMSG; /* the prefix promised more */
	if (r < 0)
		goto out;
	*out = msg;
	msg = NULL;
out:
	secret_free(msg);
	return r;
}

int
wire_write_fd(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	ssize_t n;

	while (len > 0) {
		n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		/* write() of a nonzero count never returns 0 on a pipe;
		 * guard against looping forever on some odd fd. */
		if (n == 0)
			return -EIO;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

const char *
wire_param(const struct wire_request *req, const char *key)
{
	size_t i;

	for (i = 0; i < req->nparams; i++)
		if (strcmp(req->params[i].key, key) == 0)
			return req->params[i].value;
	return NULL;
}

const char *
wire_op_name(enum wire_op op)
{
	switch (op) {
	case WIRE_OP_APPLY:
		return "apply";
	case WIRE_OP_VERIFY:
		return "verify";
	case WIRE_OP_SCRIPT:
		return "script";
	default:
		return "?";
	}
}

const char *
wire_class_name(enum wire_class c)
{
	switch (c) {
	case WIRE_CLASS_NONE:
		return "none";
	case WIRE_CLASS_TRANSIENT:
		return "transient";
	case WIRE_CLASS_AUTH:
		return "auth";
	case WIRE_CLASS_POLICY:
		return "policy";
	case WIRE_CLASS_FATAL:
		return "fatal";
	default:
		return "?";
	}
}
