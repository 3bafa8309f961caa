/*
 * deliver.c: the daemon <-> rotad-deliver messages, as tagged fields.
 *
 * The tag numbers are a stable contract with tests/lib/deliver.py (and
 * with a rotad-deliver built from another tree): never renumber or reuse
 * one.  The first field of every message is its type; which other fields
 * a type (and, for SINK, a kind) takes is tabled below, and a field
 * outside its message's set is refused like an unknown tag, so that each
 * message has one meaning and one encoding.
 *
 *   tag  field         value                               in
 *   1    type          int, 1..DELIVER__MAX-1, first       every message
 *   2    name          string, 1..DELIVER_NAME_MAX of      every message
 *                      [a-z0-9_-]
 *   3    kind          int, 1..DELIVER_KIND__MAX-1         SINK
 *   4    host          string, 1..DELIVER_HOST_MAX         SINK udp tcp tls
 *   5    port          int, 1..65535                       SINK udp tcp tls
 *   6    url           string, 1..DELIVER_URL_MAX,         SINK http
 *                      "http://" or "https://" first
 *   7    server_name   string, 1..DELIVER_HOST_MAX         SINK tls http,
 *                                                          optional
 *   8    ca_pem        string, 1..DELIVER_PEM_MAX          the same
 *   9    cert_pem      string, 1..DELIVER_PEM_MAX          the same, with
 *   10   key_pem       secret, 1..DELIVER_PEM_MAX          each other
 *   11   auth          secret, 1..DELIVER_AUTH_MAX, no     SINK http,
 *                      CR, LF or NUL                       optional
 *   12   content_type  string, 1..DELIVER_CONTENT_       the same
 *                      TYPE_MAX, no CR or LF
 *   13   http_batch    bool: 1 byte, 1 (absent: false;     the same
 *                      written only when true)
 *   14   timeout_ms    int, 1..DELIVER_TIMEOUT_MAX_MS      SINK
 *   15   token         8 bytes, big-endian                 BATCH, RESULT
 *   16   frame         bytes, 1..DELIVER_FRAME_MAX; the    BATCH, 1 to
 *                      one tag that repeats, in order      DELIVER_BATCH_MAX
 *   17   done          int, 0..DELIVER_BATCH_MAX           RESULT
 *   18   error         string, 1..DELIVER_ERROR_MAX        RESULT, optional
 *
 * Every field a message takes is required unless marked optional.
 * Strings hold no NUL, and none of ours may be empty: an absent field is
 * the NULL.  Fields after the type may come in any order (frames keep
 * theirs); the encoder writes them in tag order.  Bounds count bytes,
 * NUL not included.  A message's body (after the length prefix) is at
 * most DELIVER_MAX bytes either way.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "deliver.h"
#include "secret.h"

enum {
	TAG_TYPE = 1,
	TAG_NAME = 2,
	TAG_KIND = 3,
	TAG_HOST = 4,
	TAG_PORT = 5,
	TAG_URL = 6,
	TAG_SERVER_NAME = 7,
	TAG_CA_PEM = 8,
	TAG_CERT_PEM = 9,
	TAG_KEY_PEM = 10,
	TAG_AUTH = 11,
	TAG_CONTENT_TYPE = 12,
	TAG_HTTP_BATCH = 13,
	TAG_TIMEOUT_MS = 14,
	TAG_TOKEN = 15,
	TAG_FRAME = 16,
	TAG_DONE = 17,
	TAG_ERROR = 18,
	TAG__MAX,
};

#define BIT(tag) (1u << (tag))
#define FIELD_HDR 5 /* the tag byte and the 4-byte length */
#define PREFIX 4
#define PORT_MAX 65535

/* A SINK, the one message with secrets, is built in one struct secret. */
_Static_assert(PREFIX + 14 * FIELD_HDR + 4 * 4 + 2 * DELIVER_HOST_MAX +
	    DELIVER_URL_MAX + 3 * DELIVER_PEM_MAX + DELIVER_AUTH_MAX +
	    DELIVER_CONTENT_TYPE_MAX + DELIVER_NAME_MAX + 1 <=
	SECRET_MAX,
    "the largest SINK fits in a secret");
_Static_assert(TAG__MAX <= 32, "a message's tags fit in a bitmask");

/* The fields each type takes besides the type itself, and of them the
 * ones it requires.  SINK's depend on its kind: sink_fields(). */
static uint32_t
type_fields(enum deliver_type t, uint32_t *required)
{
	switch (t) {
	case DELIVER_DROP:
		*required = BIT(TAG_NAME);
		return *required;
	case DELIVER_BATCH:
		*required = BIT(TAG_NAME) | BIT(TAG_TOKEN) | BIT(TAG_FRAME);
		return *required;
	case DELIVER_RESULT:
		*required = BIT(TAG_NAME) | BIT(TAG_TOKEN) | BIT(TAG_DONE);
		return *required | BIT(TAG_ERROR);
	default:
		*required = 0;
		return 0;
	}
}

#define TLS_FIELDS                                                             \
	(BIT(TAG_SERVER_NAME) | BIT(TAG_CA_PEM) | BIT(TAG_CERT_PEM) |          \
	    BIT(TAG_KEY_PEM))

static uint32_t
sink_fields(enum deliver_kind k, uint32_t *required)
{
	uint32_t base = BIT(TAG_NAME) | BIT(TAG_KIND) | BIT(TAG_TIMEOUT_MS);

	switch (k) {
	case DELIVER_UDP:
	case DELIVER_TCP:
		*required = base | BIT(TAG_HOST) | BIT(TAG_PORT);
		return *required;
	case DELIVER_TLS:
		*required = base | BIT(TAG_HOST) | BIT(TAG_PORT);
		return *required | TLS_FIELDS;
	case DELIVER_HTTP:
		*required = base | BIT(TAG_URL);
		return *required | TLS_FIELDS | BIT(TAG_AUTH) |
		    BIT(TAG_CONTENT_TYPE) | BIT(TAG_HTTP_BATCH);
	default:
		*required = base;
		return base;
	}
}

/* Whether the fields SEEN make a whole message of M's type (and kind):
 * nothing the type does not take, everything it requires, a client
 * certificate with its key.  Both sides check the same. */
static bool
fields_ok(const struct deliver_msg *m, uint32_t seen)
{
	uint32_t allowed, required;

	seen |= BIT(TAG_TYPE);
	if (m->type == DELIVER_SINK)
		allowed = sink_fields(m->kind, &required);
	else
		allowed = type_fields(m->type, &required);
	allowed |= BIT(TAG_TYPE);
	required |= BIT(TAG_TYPE);
	if ((seen & ~allowed) != 0 || (seen & required) != required)
		return false;
	return ((seen & BIT(TAG_CERT_PEM)) != 0) ==
	    ((seen & BIT(TAG_KEY_PEM)) != 0);
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

/*
 * Strings: their bound, and what they must not hold besides NUL.  The
 * string members, one table for the encoder, the decoder and the
 * destructor.
 */
static const struct str_field {
	uint8_t tag;
	size_t off;
	size_t max;
} str_fields[] = {
	{ TAG_NAME, offsetof(struct deliver_msg, name), DELIVER_NAME_MAX },
	{ TAG_HOST, offsetof(struct deliver_msg, host), DELIVER_HOST_MAX },
	{ TAG_URL, offsetof(struct deliver_msg, url), DELIVER_URL_MAX },
	{ TAG_SERVER_NAME, offsetof(struct deliver_msg, server_name),
	    DELIVER_HOST_MAX },
	{ TAG_CA_PEM, offsetof(struct deliver_msg, ca_pem), DELIVER_PEM_MAX },
	{ TAG_CERT_PEM, offsetof(struct deliver_msg, cert_pem),
	    DELIVER_PEM_MAX },
	{ TAG_CONTENT_TYPE, offsetof(struct deliver_msg, content_type),
	    DELIVER_CONTENT_TYPE_MAX },
	{ TAG_ERROR, offsetof(struct deliver_msg, error), DELIVER_ERROR_MAX },
};
#define N_STR_FIELDS (sizeof(str_fields) / sizeof(str_fields[0]))

static const struct secret_field {
	uint8_t tag;
	size_t off;
	size_t max;
} secret_fields[] = {
	{ TAG_KEY_PEM, offsetof(struct deliver_msg, key_pem), DELIVER_PEM_MAX },
	{ TAG_AUTH, offsetof(struct deliver_msg, auth), DELIVER_AUTH_MAX },
};
#define N_SECRET_FIELDS (sizeof(secret_fields) / sizeof(secret_fields[0]))

static char **
str_member(struct deliver_msg *m, const struct str_field *f)
{
	return (char **)((char *)m + f->off);
}

static const char *
str_value(const struct deliver_msg *m, const struct str_field *f)
{
	return *(char *const *)((const char *)m + f->off);
}

static struct secret **
secret_member(struct deliver_msg *m, const struct secret_field *f)
{
	return (struct secret **)((char *)m + f->off);
}

static const struct secret *
secret_value(const struct deliver_msg *m, const struct secret_field *f)
{
	return *(struct secret *const *)((const char *)m + f->off);
}

/*
 * Whether LEN bytes at S may be the value of field TAG: within its
 * bound MAX, not empty, no NUL; a sink's name of [a-z0-9_-] only; an
 * HTTP header's value (the Authorization, the Content-Type) without CR
 * or LF, which would end the header and start another; a URL of HTTP.
 */
static bool
value_ok(uint8_t tag, const uint8_t *s, size_t len, size_t max)
{
	size_t i;

	if (len == 0 || len > max || memchr(s, '\0', len) != NULL)
		return false;
	switch (tag) {
	case TAG_NAME:
		for (i = 0; i < len; i++)
			if (!((s[i] >= 'a' && s[i] <= 'z') ||
				(s[i] >= '0' && s[i] <= '9') || s[i] == '_' ||
				s[i] == '-'))
				return false;
		return true;
	case TAG_AUTH:
	case TAG_CONTENT_TYPE:
		return memchr(s, '\r', len) == NULL &&
		    memchr(s, '\n', len) == NULL;
	case TAG_URL:
		return (len > 7 && memcmp(s, "http://", 7) == 0) ||
		    (len > 8 && memcmp(s, "https://", 8) == 0);
	default:
		return true;
	}
}

void
deliver_msg_clear(struct deliver_msg *m)
{
	size_t i;

	if (m == NULL)
		return;
	for (i = 0; i < N_STR_FIELDS; i++)
		free(*str_member(m, &str_fields[i]));
	for (i = 0; i < N_SECRET_FIELDS; i++)
		secret_free(*secret_member(m, &secret_fields[i]));
	free(m->frames);
	memset(m, 0, sizeof(*m));
}

/*
 * The fields M sets (by its members: a string or secret that is not NULL,
 * the ints its type takes), as a bitmask, and the body's size in *SIZE;
 * -EINVAL when a value breaks the rules the decoder would refuse it for
 * (the encoder never writes what the other side cannot read), -EMSGSIZE
 * over DELIVER_MAX.
 */
static int
encode_plan(const struct deliver_msg *m, uint32_t *ret_seen, size_t *size)
{
	uint32_t seen = 0, allowed, required;
	size_t i, len;
	const char *s;
	const struct secret *sv;

	if (m->type < DELIVER_SINK || m->type >= DELIVER__MAX)
		return -EINVAL;
	*size = FIELD_HDR + 4; /* the type */
	for (i = 0; i < N_STR_FIELDS; i++) {
		if ((s = str_value(m, &str_fields[i])) == NULL)
			continue;
		len = strnlen(s, str_fields[i].max + 1);
		if (!value_ok(str_fields[i].tag, (const uint8_t *)s, len,
			str_fields[i].max))
			return -EINVAL;
		seen |= BIT(str_fields[i].tag);
		*size += FIELD_HDR + len;
	}
	for (i = 0; i < N_SECRET_FIELDS; i++) {
		if ((sv = secret_value(m, &secret_fields[i])) == NULL)
			continue;
		len = secret_len(sv);
		if (len == 0 || len > secret_fields[i].max ||
		    (secret_fields[i].tag == TAG_AUTH &&
			!value_ok(TAG_AUTH, secret_data(sv), len, len)))
			return -EINVAL;
		seen |= BIT(secret_fields[i].tag);
		*size += FIELD_HDR + len;
	}
	if (m->type == DELIVER_SINK) {
		allowed = sink_fields(m->kind, &required);
		if (m->kind < DELIVER_UDP || m->kind >= DELIVER_KIND__MAX ||
		    m->timeout_ms < 1 || m->timeout_ms > DELIVER_TIMEOUT_MAX_MS)
			return -EINVAL;
		seen |= BIT(TAG_KIND) | BIT(TAG_TIMEOUT_MS);
		*size += 2 * (FIELD_HDR + 4);
		if (allowed & BIT(TAG_PORT)) {
			if (m->port < 1 || m->port > PORT_MAX)
				return -EINVAL;
			seen |= BIT(TAG_PORT);
			*size += FIELD_HDR + 4;
		}
		if (m->http_batch) {
			seen |= BIT(TAG_HTTP_BATCH);
			*size += FIELD_HDR + 1;
		}
	}
	if (m->type == DELIVER_BATCH || m->type == DELIVER_RESULT) {
		seen |= BIT(TAG_TOKEN);
		*size += FIELD_HDR + 8;
	}
	if (m->type == DELIVER_BATCH) {
		if (m->nframes < 1 || m->nframes > DELIVER_BATCH_MAX ||
		    m->frames == NULL)
			return -EINVAL;
		for (i = 0; i < m->nframes; i++) {
			len = m->frames[i].len;
			if (len < 1 || len > DELIVER_FRAME_MAX ||
			    m->frames[i].data == NULL)
				return -EINVAL;
			*size += FIELD_HDR + len;
		}
		seen |= BIT(TAG_FRAME);
	}
	if (m->type == DELIVER_RESULT) {
		if (m->done > DELIVER_BATCH_MAX)
			return -EINVAL;
		seen |= BIT(TAG_DONE);
		*size += FIELD_HDR + 4;
	}
	if (!fields_ok(m, seen))
		return -EINVAL;
	if (*size > DELIVER_MAX)
		return -EMSGSIZE;
	*ret_seen = seen;
	return 0;
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

/* The fields of M that SEEN names, in tag order, at P. */
static void
put_fields(uint8_t *p, const struct deliver_msg *m, uint32_t seen)
{
	const struct secret *sv;
	const char *s;
	uint8_t tag, be[8], one = 1;
	size_t i;
	int k;

	put_int(&p, TAG_TYPE, (uint32_t)m->type);
	for (tag = TAG_NAME; tag < TAG__MAX; tag++) {
		if ((seen & BIT(tag)) == 0)
			continue;
		switch (tag) {
		case TAG_KIND:
			put_int(&p, tag, (uint32_t)m->kind);
			continue;
		case TAG_PORT:
			put_int(&p, tag, (uint32_t)m->port);
			continue;
		case TAG_HTTP_BATCH:
			put_field(&p, tag, &one, 1);
			continue;
		case TAG_TIMEOUT_MS:
			put_int(&p, tag, m->timeout_ms);
			continue;
		case TAG_TOKEN:
			for (k = 0; k < 8; k++)
				be[k] = (uint8_t)(m->token >> (56 - 8 * k));
			put_field(&p, tag, be, 8);
			continue;
		case TAG_FRAME:
			for (i = 0; i < m->nframes; i++)
				put_field(&p, tag, m->frames[i].data,
				    m->frames[i].len);
			continue;
		case TAG_DONE:
			put_int(&p, tag, m->done);
			continue;
		}
		for (i = 0; i < N_STR_FIELDS; i++)
			if (str_fields[i].tag == tag) {
				s = str_value(m, &str_fields[i]);
				put_field(&p, tag, s, strlen(s));
			}
		for (i = 0; i < N_SECRET_FIELDS; i++)
			if (secret_fields[i].tag == tag) {
				sv = secret_value(m, &secret_fields[i]);
				put_field(
				    &p, tag, secret_data(sv), secret_len(sv));
			}
	}
}

int
deliver_encode(const struct deliver_msg *m, struct secret **ret_secret,
    uint8_t **ret, size_t *ret_len)
{
	struct secret *sec = NULL;
	uint8_t *buf;
	uint32_t seen;
	size_t size;
	int r;

	if (ret_secret != NULL)
		*ret_secret = NULL;
	if (ret != NULL)
		*ret = NULL;
	if (ret_len != NULL)
		*ret_len = 0;
	/* The output the type needs, and only that one. */
	if (m->type == DELIVER_SINK
		? (ret_secret == NULL || ret != NULL || ret_len != NULL)
		: (ret_secret != NULL || ret == NULL || ret_len == NULL))
		return -EINVAL;
	if ((r = encode_plan(m, &seen, &size)) < 0)
		return r;
	if (m->type == DELIVER_SINK) {
		if ((r = secret_new(NULL, PREFIX + size, &sec)) < 0)
			return r;
		buf = secret_buf(sec);
	} else if ((buf = malloc(PREFIX + size)) == NULL)
		return -ENOMEM;
	put_be32(buf, (uint32_t)size);
	put_fields(buf + PREFIX, m, seen);
	if (sec != NULL)
		*ret_secret = sec;
	else {
		*ret = buf;
		*ret_len = PREFIX + size;
	}
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

/* A frame more for M, which holds at most DELIVER_BATCH_MAX. */
static int
add_frame(struct deliver_msg *m, const uint8_t *val, size_t len)
{
	if (len < 1 || len > DELIVER_FRAME_MAX ||
	    m->nframes == DELIVER_BATCH_MAX)
		return -EBADMSG;
	if (m->frames == NULL) {
		m->frames = calloc(DELIVER_BATCH_MAX, sizeof(*m->frames));
		if (m->frames == NULL)
			return -ENOMEM;
	}
	m->frames[m->nframes].data = val;
	m->frames[m->nframes].len = len;
	m->nframes++;
	return 0;
}

/* One field (not the type) into M.  0, -EBADMSG or -ENOMEM. */
static int
take_value(struct deliver_msg *m, uint8_t tag, const uint8_t *val, size_t len)
{
	uint32_t v = 0;
	size_t i;
	char *s;
	int r, k;

	switch (tag) {
	case TAG_KIND:
		r = get_int(val, len, DELIVER_UDP, DELIVER_KIND__MAX - 1, &v);
		m->kind = (enum deliver_kind)v;
		return r;
	case TAG_PORT:
		r = get_int(val, len, 1, PORT_MAX, &v);
		m->port = (int)v;
		return r;
	case TAG_TIMEOUT_MS:
		return get_int(
		    val, len, 1, DELIVER_TIMEOUT_MAX_MS, &m->timeout_ms);
	case TAG_DONE:
		return get_int(val, len, 0, DELIVER_BATCH_MAX, &m->done);
	case TAG_HTTP_BATCH:
		/* Only ever written as true: one encoding per message. */
		if (len != 1 || val[0] != 1)
			return -EBADMSG;
		m->http_batch = true;
		return 0;
	case TAG_TOKEN:
		if (len != 8)
			return -EBADMSG;
		for (k = 0; k < 8; k++)
			m->token = m->token << 8 | val[k];
		return 0;
	case TAG_FRAME:
		return add_frame(m, val, len);
	}
	for (i = 0; i < N_SECRET_FIELDS; i++) {
		if (secret_fields[i].tag != tag)
			continue;
		/* A key is bytes; a header value is checked as one. */
		if (len == 0 || len > secret_fields[i].max ||
		    (tag == TAG_AUTH && !value_ok(tag, val, len, len)))
			return -EBADMSG;
		/* Straight into the secret's pages: no other copy. */
		r = secret_new(val, len, secret_member(m, &secret_fields[i]));
		return r == -EINVAL ? -EBADMSG : r;
	}
	for (i = 0; i < N_STR_FIELDS; i++) {
		if (str_fields[i].tag != tag)
			continue;
		if (!value_ok(tag, val, len, str_fields[i].max))
			return -EBADMSG;
		if ((s = malloc(len + 1)) == NULL)
			return -ENOMEM;
		memcpy(s, val, len);
		s[len] = '\0';
		*str_member(m, &str_fields[i]) = s;
		return 0;
	}
	return -EBADMSG;
}

int
deliver_decode(const void *buf, size_t len, struct deliver_msg *m)
{
	const uint8_t *p = buf, *val;
	uint32_t seen = 0, v;
	size_t n;
	uint8_t tag;
	int r = -EBADMSG;

	memset(m, 0, sizeof(*m));
	if (len > DELIVER_MAX)
		goto out;
	while (len > 0) {
		r = -EBADMSG;
		if (len < FIELD_HDR || (n = get_be32(p + 1)) > len - FIELD_HDR)
			goto out;
		tag = p[0];
		val = p + FIELD_HDR;
		p += FIELD_HDR + n;
		len -= FIELD_HDR + n;
		/* The type first, and only first; then a known tag, none
		 * twice but a frame. */
		if ((tag == TAG_TYPE) != (seen == 0))
			goto out;
		if (tag == TAG_TYPE) {
			if ((r = get_int(val, n, DELIVER_SINK, DELIVER__MAX - 1,
				 &v)) < 0)
				goto out;
			m->type = (enum deliver_type)v;
			seen |= BIT(tag);
			continue;
		}
		if (tag >= TAG__MAX ||
		    ((seen & BIT(tag)) != 0 && tag != TAG_FRAME))
			goto out;
		seen |= BIT(tag);
		if ((r = take_value(m, tag, val, n)) < 0)
			goto out;
	}
	r = seen != 0 && fields_ok(m, seen) ? 0 : -EBADMSG;
out:
	if (r < 0)
		deliver_msg_clear(m);
	return r;
}

int
deliver_frame_len(const uint8_t *buf, size_t have, size_t *ret)
{
	uint32_t n;

	if (have < PREFIX)
		return -EAGAIN;
	n = get_be32(buf);
	if (n < 1 || n > DELIVER_MAX)
		return -EBADMSG;
	if (have < PREFIX + (size_t)n)
		return -EAGAIN;
	*ret = PREFIX + (size_t)n;
	return 0;
}

const char *
deliver_kind_name(enum deliver_kind k)
{
	switch (k) {
	case DELIVER_UDP:
		return "udp";
	case DELIVER_TCP:
		return "tcp";
	case DELIVER_TLS:
		return "tls";
	case DELIVER_HTTP:
		return "http";
	default:
		return "?";
	}
}
