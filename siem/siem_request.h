/*
 * siem_request: what a SIEM may ask of rotad-siem, checked before anything is
 * forwarded.  Pure: no I/O, no clock of its own, no logging; fuzzed
 * (tests/fuzz/fuzz_siem.c).
 *
 * A request body is one JSON object (docs/siem.md):
 *
 *   {"alert_id":"splunk-77", "users":["web01-app", ...]}
 *   {"alert_id":"splunk-77", "accounts":[{"login":"app","host":"db1"}, ...]}
 *
 * with exactly one of "users" and "accounts", 1 to SIEM_ENTRIES_MAX
 * entries, no other key, no key twice, every string of its kind and size.
 */
#ifndef ROTAD_SIEM_SIEM_REQUEST_H
#define ROTAD_SIEM_SIEM_REQUEST_H

#include <stddef.h>

/* At most this many users or accounts in one request. */
#define SIEM_ENTRIES_MAX 32

/* Bounds of each string, NUL excluded (the daemon checks them again). */
#define SIEM_ALERT_ID_MAX 64
#define SIEM_USER_MAX 160
#define SIEM_LOGIN_MAX 256
#define SIEM_HOST_MAX 253

struct siem_entry {
	char *user;  /* set for a "users" entry, else NULL */
	char *login; /* set, with host, for an "accounts" entry */
	char *host;
};

struct siem_request {
	char alert_id[SIEM_ALERT_ID_MAX + 1];
	size_t n;
	struct siem_entry entries[SIEM_ENTRIES_MAX];
};

/*
 * Check the body BODY of LEN bytes (not NUL-terminated) and fill *RET.
 * Returns 0, -EINVAL with a reason for people in MSG (no byte of the body
 * is copied into it beyond a key name it refuses, itself checked to be
 * printable ASCII), or -ENOMEM.  On failure *RET holds nothing to free.
 * The caller frees a success with siem_request_free().
 */
int siem_request_parse(const char *body, size_t len, struct siem_request *ret,
    char *msg, size_t msglen);

/* Frees the strings of R (NULL-safe; R itself is the caller's). */
void siem_request_free(struct siem_request *r);

/* Whether S is a well-formed alert id: 1 to 64 of [A-Za-z0-9._:-]. */
int siem_request_valid_alert_id(const char *s);

#endif
