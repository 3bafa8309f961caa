/*
 * siem_auth: who may ask rotad-siem for a rotation.  Pure (the clock is an
 * argument), no logging; fuzzed with the request parser.
 *
 * Two modes, one per process (docs/siem.md):
 *
 *   hmac    X-Rotad-Timestamp: unix seconds, within +-window of now;
 *           X-Rotad-Signature: sha256=HEX of HMAC-SHA256(key,
 *           TIMESTAMP "." BODY); a signature seen within the window is
 *           a replay (siem_replay_*), and a timestamp earlier than the
 *           process's start (not_before) may be one an earlier life of
 *           the process accepted, its replay cache lost with it.
 *   bearer  Authorization: Bearer TOKEN, the token of the token file.
 *
 * Every comparison of a secret-derived value is constant-time
 * (CRYPTO_memcmp).  The key or token is borrowed, never copied or logged.
 */
#ifndef ROTAD_SIEM_SIEM_AUTH_H
#define ROTAD_SIEM_SIEM_AUTH_H

#include <stddef.h>
#include <stdint.h>

#define SIEM_MAC_LEN 32

enum siem_auth_mode {
	SIEM_AUTH_HMAC,
	SIEM_AUTH_BEARER,
};

/* Why a request is refused; SIEM_AUTH_OK is 0. */
enum siem_auth_result {
	SIEM_AUTH_OK = 0,
	SIEM_AUTH_MISSING,   /* no signature or token: 401 */
	SIEM_AUTH_MALFORMED, /* a header of the wrong form: 401 */
	SIEM_AUTH_BAD,       /* the signature or token does not match: 401 */
	SIEM_AUTH_STALE,     /* the timestamp is outside the window: 401 */
	SIEM_AUTH_EARLY,     /* signed before not_before: 401, as stale */
};

struct siem_auth {
	enum siem_auth_mode mode;
	const unsigned char *key; /* HMAC key or bearer token, borrowed */
	size_t key_len;
	int64_t window; /* seconds either side of now (hmac) */
	/*
	 * The earliest timestamp accepted (hmac): the first whole second
	 * after the process started.  The replay cache lives in memory, so
	 * a request an earlier life accepted would otherwise pass again
	 * within the window.  0: no such bound.
	 */
	int64_t not_before;
};

/*
 * Check the request's headers (each NULL when absent) and BODY of LEN
 * bytes at time NOW.  In hmac mode a success fills RET_MAC with the
 * verified MAC, for the replay cache.  Returns a siem_auth_result.
 */
enum siem_auth_result siem_auth_check(const struct siem_auth *a,
    const char *timestamp, const char *signature, const char *authorization,
    const void *body, size_t len, int64_t now,
    unsigned char ret_mac[SIEM_MAC_LEN]);

/* A short phrase for a result, for the log and the error body. */
const char *siem_auth_reason(enum siem_auth_result r);

/*
 * The replay cache: the MACs accepted within the window, each kept until
 * it could no longer pass the timestamp check.  Fixed size: when it is
 * full of live entries a new request is refused as if replayed (better a
 * SIEM's retry than a replay), which the rate limits make rare.
 */
struct siem_replay;

int siem_replay_new(size_t capacity, int64_t window, struct siem_replay **ret);
void siem_replay_free(struct siem_replay *c);

/*
 * Record MAC, signed for TIMESTAMP, at time NOW.  0 when new, -EEXIST when
 * seen within the window, -ENOSPC when the cache is full of live entries.
 */
int siem_replay_add(struct siem_replay *c, const unsigned char *mac,
    int64_t timestamp, int64_t now);

/*
 * The cache handed from one life of rotad-siem to the next, through a
 * memory file systemd keeps for the service (its file descriptor store):
 * with it, the next life knows what this one accepted and need not
 * refuse every timestamp from before its own start.  Host byte order
 * (the file never leaves the machine):
 *
 *   "rsiemrp1"  8 bytes, written last (a torn write is no state)
 *   window      int64, the --window it was kept for
 *   not_before  int64, the earliest timestamp that life accepted
 *   count       uint32
 *   count x     MAC (32 bytes), expires (int64)
 *
 * siem_replay_state_size(): the bytes siem_replay_save() may need.
 * siem_replay_save(): the live entries at NOW into BUF; the length, or
 * -ENOSPC.  siem_replay_load(): into an empty C, entries expired at NOW
 * dropped; *NOT_BEFORE set.  0, or -EINVAL for anything else than such a
 * state (bad magic, another window, a count beyond C's capacity, short,
 * an entry expiring later than any this window makes), C left empty.  Fuzzed
 * (tests/fuzz/fuzz_siem_replay.c).
 */
#define SIEM_REPLAY_MAGIC "rsiemrp1"
#define SIEM_REPLAY_HEADER (8 + 8 + 8 + 4)
#define SIEM_REPLAY_ENTRY (SIEM_MAC_LEN + 8)

size_t siem_replay_state_size(const struct siem_replay *c);
long siem_replay_save(const struct siem_replay *c, int64_t not_before,
    int64_t now, unsigned char *buf, size_t size);
int siem_replay_load(struct siem_replay *c, const unsigned char *buf,
    size_t len, int64_t now, int64_t *not_before);

#endif
