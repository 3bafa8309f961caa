/*
 * libFuzzer target: scrub() on any text, for one or two secrets taken
 * from the input.  The text is what a script prints, so the decoding
 * readings (percent, backslash escapes) see hostile bytes.  Besides not
 * crashing: the output is NUL-terminated at its length, and a secret whose
 * bytes share none with "[REDACTED]" is not in the output raw, since what
 * is kept is only runs of the text in which it was not found.
 *
 * Input: a byte N (secret length, modulo 48), N bytes of secret, a byte M
 * and M bytes of a second secret (modulo 48), then the text.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "scrub.h"
#include "secret.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Whether S (N bytes) shares a byte with "[REDACTED]". */
static int
shares_marker(const uint8_t *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (memchr("[REDACTED]", s[i], 10) != NULL)
			return 1;
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct secret *s[2] = { NULL, NULL };
	const uint8_t *sec[2];
	size_t len[2], i, out_len = 0;
	char *out = NULL;

	for (i = 0; i < 2; i++) {
		if (size < 1)
			goto out;
		len[i] = data[0] % 48;
		data++;
		size--;
		if (size < len[i])
			goto out;
		sec[i] = data;
		if (secret_new(data, len[i], &s[i]) < 0)
			abort();
		data += len[i];
		size -= len[i];
	}
	if (scrub((const char *)data, size, s, 2, &out, &out_len) < 0)
		abort();
	if (out[out_len] != '\0')
		abort();
	for (i = 0; i < 2; i++)
		if (len[i] >= SCRUB_MIN_LEN && !shares_marker(sec[i], len[i]) &&
		    memmem(out, out_len, sec[i], len[i]) != NULL)
			abort();
	free(out);
out:
	secret_free(s[0]);
	secret_free(s[1]);
	return 0;
}
