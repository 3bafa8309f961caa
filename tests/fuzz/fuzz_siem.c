/*
 * libFuzzer target: what rotad-siem reads from the network before it
 * forwards anything, its headers and body into a validated request.  The
 * input is "TIMESTAMP\nSIGNATURE\nAUTHORIZATION\nBODY": the three headers
 * (each cut at 200 bytes, as any header line) go through both
 * authentication modes with a fixed key, the body through the strict
 * parser.  An accepted request must keep the parser's promises: 1 to
 * SIEM_ENTRIES_MAX entries, each a user or a login and host, the alert id
 * well formed, every string bounded and without a control character;
 * and a request signed with the key must pass, once.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "siem_auth.h"
#include "siem_request.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const unsigned char key[] = "fuzz-key-0123456789abcdef";

/* The next line of *P (of *LEFT bytes) into BUF, NUL-terminated. */
static const char *
line(const uint8_t **p, size_t *left, char *buf, size_t cap)
{
	const uint8_t *nl = memchr(*p, '\n', *left);
	size_t n = nl != NULL ? (size_t)(nl - *p) : *left;
	size_t k = n < cap - 1 ? n : cap - 1;

	memcpy(buf, *p, k);
	buf[k] = '\0';
	*p += nl != NULL ? n + 1 : n;
	*left -= nl != NULL ? n + 1 : n;
	if (memchr(buf, '\0', k) != NULL || k == 0)
		return NULL; /* an absent header */
	return buf;
}

static void
check_string(const char *s, size_t max)
{
	size_t n;

	if (s == NULL)
		abort();
	n = strlen(s);
	if (n == 0 || n > max)
		abort();
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct siem_auth hmac = { .mode = SIEM_AUTH_HMAC,
		.key = key,
		.key_len = sizeof(key) - 1,
		.window = 300 };
	struct siem_auth bearer = { .mode = SIEM_AUTH_BEARER,
		.key = key,
		.key_len = sizeof(key) - 1,
		.window = 300 };
	struct siem_replay *replay;
	struct siem_request r;
	unsigned char mac[SIEM_MAC_LEN];
	char ts[200], sig[200], authz[200], msg[256];
	const char *t, *s, *a;
	size_t i;

	t = line(&data, &size, ts, sizeof(ts));
	s = line(&data, &size, sig, sizeof(sig));
	a = line(&data, &size, authz, sizeof(authz));

	if (siem_auth_check(&hmac, t, s, a, data, size, 1700000000, mac) ==
	    SIEM_AUTH_OK) {
		/* Only a MAC of the key passes: the fuzzer cannot forge one,
		 * but a seed may carry a real signature. */
		if (siem_replay_new(4, 300, &replay) == 0) {
			if (siem_replay_add(replay, mac, strtoll(t, NULL, 10),
				1700000000) != 0 ||
			    siem_replay_add(replay, mac, strtoll(t, NULL, 10),
				1700000000) != -EEXIST)
				abort();
			siem_replay_free(replay);
		}
	}
	(void)siem_auth_check(&bearer, t, s, a, data, size, 1700000000, mac);

	if (siem_request_parse((const char *)data, size, &r, msg,
		sizeof(msg)) < 0)
		return 0;
	if (r.n == 0 || r.n > SIEM_ENTRIES_MAX ||
	    !siem_request_valid_alert_id(r.alert_id))
		abort();
	for (i = 0; i < r.n; i++) {
		const struct siem_entry *e = &r.entries[i];

		if (e->user != NULL) {
			check_string(e->user, SIEM_USER_MAX);
			if (e->login != NULL || e->host != NULL)
				abort();
		} else {
			check_string(e->login, SIEM_LOGIN_MAX);
			check_string(e->host, SIEM_HOST_MAX);
		}
	}
	for (; i < SIEM_ENTRIES_MAX; i++)
		if (r.entries[i].user != NULL || r.entries[i].login != NULL)
			abort();
	siem_request_free(&r);
	return 0;
}
