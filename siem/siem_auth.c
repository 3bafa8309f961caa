/*
 * siem_auth: signature, token and replay checks (siem_auth.h).
 */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/core_names.h>
#include <openssl/params.h>

#include "siem_auth.h"

/* The longest timestamp header: 10 digits is year 2286. */
#define TIMESTAMP_MAX 10

/* A decimal number of 1 to TIMESTAMP_MAX digits, nothing else. */
static bool
parse_timestamp(const char *s, int64_t *ret)
{
	int64_t v = 0;
	size_t i;

	for (i = 0; s[i] != '\0'; i++) {
		if (i >= TIMESTAMP_MAX || s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (s[i] - '0');
	}
	*ret = v;
	return i > 0;
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* "sha256=" and 64 hex digits into OUT. */
static bool
parse_signature(const char *s, unsigned char out[SIEM_MAC_LEN])
{
	static const char prefix[] = "sha256=";
	size_t i;
	int hi, lo;

	if (strncmp(s, prefix, sizeof(prefix) - 1) != 0)
		return false;
	s += sizeof(prefix) - 1;
	if (strlen(s) != 2 * SIEM_MAC_LEN)
		return false;
	for (i = 0; i < SIEM_MAC_LEN; i++) {
		hi = hexval(s[2 * i]);
		lo = hexval(s[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return false;
		out[i] = (unsigned char)(hi << 4 | lo);
	}
	return true;
}

/* HMAC-SHA256(KEY, TIMESTAMP "." BODY) into OUT. */
static bool
hmac_sha256(const unsigned char *key, size_t key_len, const char *timestamp,
    const void *body, size_t len, unsigned char out[SIEM_MAC_LEN])
{
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_utf8_string(
		    OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
		OSSL_PARAM_construct_end(),
	};
	EVP_MAC *mac;
	EVP_MAC_CTX *ctx = NULL;
	size_t out_len = 0;
	bool ok = false;

	if ((mac = EVP_MAC_fetch(NULL, "HMAC", NULL)) == NULL)
		return false;
	if ((ctx = EVP_MAC_CTX_new(mac)) != NULL &&
	    EVP_MAC_init(ctx, key, key_len, params) &&
	    EVP_MAC_update(
		ctx, (const unsigned char *)timestamp, strlen(timestamp)) &&
	    EVP_MAC_update(ctx, (const unsigned char *)".", 1) &&
	    EVP_MAC_update(ctx, body, len) &&
	    EVP_MAC_final(ctx, out, &out_len, SIEM_MAC_LEN))
		ok = out_len == SIEM_MAC_LEN;
	EVP_MAC_CTX_free(ctx);
	EVP_MAC_free(mac);
	return ok;
}

static enum siem_auth_result
check_hmac(const struct siem_auth *a, const char *timestamp,
    const char *signature, const void *body, size_t len, int64_t now,
    unsigned char ret_mac[SIEM_MAC_LEN])
{
	unsigned char want[SIEM_MAC_LEN], got[SIEM_MAC_LEN];
	int64_t ts;
	bool ok;

	if (timestamp == NULL || signature == NULL)
		return SIEM_AUTH_MISSING;
	if (!parse_timestamp(timestamp, &ts) ||
	    !parse_signature(signature, got))
		return SIEM_AUTH_MALFORMED;
	/*
	 * The signature first: a stale request signed with the key is
	 * told so, a forged one learns nothing about the clock.
	 */
	ok = hmac_sha256(a->key, a->key_len, timestamp, body, len, want);
	if (!ok || CRYPTO_memcmp(want, got, SIEM_MAC_LEN) != 0)
		return SIEM_AUTH_BAD;
	if (ts < now - a->window || ts > now + a->window)
		return SIEM_AUTH_STALE;
	if (ts < a->not_before)
		return SIEM_AUTH_EARLY;
	memcpy(ret_mac, want, SIEM_MAC_LEN);
	return SIEM_AUTH_OK;
}

static enum siem_auth_result
check_bearer(const struct siem_auth *a, const char *authorization)
{
	static const char prefix[] = "Bearer ";
	unsigned char want[SIEM_MAC_LEN], got[SIEM_MAC_LEN];
	const char *tok;

	if (authorization == NULL)
		return SIEM_AUTH_MISSING;
	if (strncmp(authorization, prefix, sizeof(prefix) - 1) != 0)
		return SIEM_AUTH_MALFORMED;
	tok = authorization + sizeof(prefix) - 1;
	/*
	 * Compare digests, so that the comparison's time depends on
	 * neither the token's length nor its bytes.
	 */
	if (!EVP_Digest(a->key, a->key_len, want, NULL, EVP_sha256(), NULL) ||
	    !EVP_Digest(tok, strlen(tok), got, NULL, EVP_sha256(), NULL))
		return SIEM_AUTH_BAD;
	return CRYPTO_memcmp(want, got, sizeof(want)) == 0 ? SIEM_AUTH_OK
							   : SIEM_AUTH_BAD;
}

enum siem_auth_result
siem_auth_check(const struct siem_auth *a, const char *timestamp,
    const char *signature, const char *authorization, const void *body,
    size_t len, int64_t now, unsigned char ret_mac[SIEM_MAC_LEN])
{
	if (a->mode == SIEM_AUTH_BEARER)
		return check_bearer(a, authorization);
	return check_hmac(a, timestamp, signature, body, len, now, ret_mac);
}

const char *
siem_auth_reason(enum siem_auth_result r)
{
	switch (r) {
	case SIEM_AUTH_OK:
		return "ok";
	case SIEM_AUTH_MISSING:
		return "unsigned: no signature or token";
	case SIEM_AUTH_MALFORMED:
		return "malformed signature, timestamp or authorization header";
	case SIEM_AUTH_BAD:
		return "bad signature or token";
	case SIEM_AUTH_STALE:
		return "timestamp outside the window";
	case SIEM_AUTH_EARLY:
		return "signed before rotad-siem started (a replay it cannot "
		       "rule out); sign again";
	}
	return "?";
}

/* ---- the replay cache ---- */

struct replay_entry {
	unsigned char mac[SIEM_MAC_LEN];
	int64_t expires; /* 0: free */
};

struct siem_replay {
	size_t capacity;
	int64_t window;
	struct replay_entry e[];
};

int
siem_replay_new(size_t capacity, int64_t window, struct siem_replay **ret)
{
	struct siem_replay *c;

	if (capacity == 0 || capacity > SIZE_MAX / sizeof(c->e[0]) - 1)
		return -EINVAL;
	c = calloc(1, sizeof(*c) + capacity * sizeof(c->e[0]));
	if (c == NULL)
		return -ENOMEM;
	c->capacity = capacity;
	c->window = window;
	*ret = c;
	return 0;
}

void
siem_replay_free(struct siem_replay *c)
{
	free(c);
}

/*
 * A linear scan: the cache holds at most the requests the rate limits let
 * through in one window (a few hundred), and every request is scanned
 * whole, so that its time does not say where a MAC sits.
 */
int
siem_replay_add(struct siem_replay *c, const unsigned char *mac,
    int64_t timestamp, int64_t now)
{
	struct replay_entry *slot = NULL;
	bool seen = false;
	size_t i;

	for (i = 0; i < c->capacity; i++) {
		struct replay_entry *e = &c->e[i];

		if (e->expires != 0 && e->expires < now)
			e->expires = 0;
		if (e->expires == 0) {
			if (slot == NULL)
				slot = e;
			continue;
		}
		if (CRYPTO_memcmp(e->mac, mac, SIEM_MAC_LEN) == 0)
			seen = true;
	}
	if (seen)
		return -EEXIST;
	if (slot == NULL)
		return -ENOSPC;
	memcpy(slot->mac, mac, SIEM_MAC_LEN);
	/* Past this, the timestamp signed with the MAC is refused anyway. */
	slot->expires = timestamp + c->window + 1;
	return 0;
}

/* ---- the cache from one life to the next ---- */

size_t
siem_replay_state_size(const struct siem_replay *c)
{
	return SIEM_REPLAY_HEADER + c->capacity * SIEM_REPLAY_ENTRY;
}

long
siem_replay_save(const struct siem_replay *c, int64_t not_before, int64_t now,
    unsigned char *buf, size_t size)
{
	unsigned char *p = buf + SIEM_REPLAY_HEADER;
	uint32_t count = 0;
	size_t i;

	if (size < siem_replay_state_size(c) || c->capacity > UINT32_MAX)
		return -ENOSPC;
	for (i = 0; i < c->capacity; i++) {
		const struct replay_entry *e = &c->e[i];

		if (e->expires == 0 || e->expires < now)
			continue;
		memcpy(p, e->mac, SIEM_MAC_LEN);
		memcpy(p + SIEM_MAC_LEN, &e->expires, 8);
		p += SIEM_REPLAY_ENTRY;
		count++;
	}
	memcpy(buf, SIEM_REPLAY_MAGIC, 8);
	memcpy(buf + 8, &c->window, 8);
	memcpy(buf + 16, &not_before, 8);
	memcpy(buf + 24, &count, 4);
	return (long)(p - buf);
}

int
siem_replay_load(struct siem_replay *c, const unsigned char *buf, size_t len,
    int64_t now, int64_t *not_before)
{
	int64_t window, nb, expires;
	uint32_t count, i;
	size_t k = 0;

	if (len < SIEM_REPLAY_HEADER || memcmp(buf, SIEM_REPLAY_MAGIC, 8) != 0)
		return -EINVAL;
	memcpy(&window, buf + 8, 8);
	memcpy(&nb, buf + 16, 8);
	memcpy(&count, buf + 24, 4);
	/*
	 * Entries kept for another window expire at other times: a longer
	 * window now would let a MAC pass again once its entry lapsed.
	 */
	if (window != c->window || count > c->capacity || nb < 0 ||
	    (len - SIEM_REPLAY_HEADER) / SIEM_REPLAY_ENTRY < count)
		return -EINVAL;
	for (i = 0; i < count; i++) {
		const unsigned char *p =
		    buf + SIEM_REPLAY_HEADER + (size_t)i * SIEM_REPLAY_ENTRY;

		memcpy(&expires, p + SIEM_MAC_LEN, 8);
		/*
		 * An entry lives at most two windows past the save (a
		 * timestamp a window ahead, kept a window on), and the save
		 * was before now: one beyond is not ours, or the clock went
		 * back; either way the state is not to be trusted.
		 */
		if (expires <= 0 || expires > now + 2 * c->window + 1) {
			memset(c->e, 0, c->capacity * sizeof(c->e[0]));
			return -EINVAL;
		}
		if (expires < now)
			continue;
		memcpy(c->e[k].mac, p, SIEM_MAC_LEN);
		c->e[k].expires = expires;
		k++;
	}
	*not_before = nb;
	return 0;
}
