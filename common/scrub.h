/*
 * scrub: remove secrets from text a worker or a script produced.
 *
 * Every occurrence of each secret is replaced by "[REDACTED]" in its raw
 * form and in the forms a program is likely to print it in: base64
 * (standard and URL-safe, with and without padding), also where it sits
 * at any offset inside a longer base64 stream, whether as raw bytes or
 * JSON-escaped (Keeper's script input is base64 of JSON); URL-encoded
 * (percent-encoding in either case, '+' for space, any characters left
 * plain); JSON-escaped (\" \\ \/ \n \uXXXX, surrogate pairs, non-ASCII raw
 * or escaped) and C- or Python-escaped (\' \xhh); and hex.  Overlapping
 * matches become one "[REDACTED]" (their union).  A prefix of a form (4
 * bytes or more) that runs into the end of the text is redacted too, as
 * the text may have been cut short in the middle of a secret.  Secrets
 * shorter than SCRUB_MIN_LEN bytes are not searched (they would redact
 * ordinary words); no generated secret is that short.  The forms computed
 * on the way are wiped before they are freed.
 */
#ifndef ROTAD_SCRUB_H
#define ROTAD_SCRUB_H

#include <stddef.h>

struct secret;

#define SCRUB_MIN_LEN 4

/*
 * Scrub BUF (LEN bytes, not necessarily NUL-terminated) in place of every
 * secret in SECRETS (N of them, NULL entries skipped).  The result can be
 * shorter or longer: it is written to a new malloc'ed buffer in *out with
 * its length in *out_len (NUL-terminated for convenience).  0 or -ENOMEM.
 */
int scrub(const char *buf, size_t len, struct secret *const *secrets, size_t n,
    char **out, size_t *out_len);

/* The same for a NUL-terminated string of at most SIZE bytes, in place,
 * truncating when the result does not fit. */
void scrub_string(
    char *s, size_t size, struct secret *const *secrets, size_t n);

#endif
