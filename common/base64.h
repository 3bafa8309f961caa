/*
 * base64: RFC 4648, the one copy every process uses.
 *
 * Secrets pass through it (a value on the control socket, Keeper's script
 * input, the forms the scrubber looks for), so both directions run without
 * branches or table look-ups on the data: how long a secret takes to code
 * depends on its length only.  Neither function allocates, so a secret can
 * be coded straight into memory of the caller's choosing (a struct
 * secret's buffer).
 *
 * libc only.
 */
#ifndef ROTAD_BASE64_H
#define ROTAD_BASE64_H

#include <stddef.h>

enum {
	BASE64_URL = 1 << 0,   /* the URL-safe alphabet: '-' and '_' */
	BASE64_NOPAD = 1 << 1, /* no trailing '=' */
};

/* The length of N bytes in base64 with padding (an upper bound without);
 * SIZE_MAX when that would overflow. */
size_t base64_encoded_len(size_t n);

/*
 * N bytes of DATA as base64 into OUT, which holds base64_encoded_len(N)
 * bytes; FLAGS as above.  No NUL is added.  Returns the length written.
 */
size_t base64_encode_raw(const void *data, size_t n, unsigned flags, void *out);

/*
 * N bytes of DATA as standard, padded base64 into OUT, NUL-terminated
 * (SIZE > base64_encoded_len(N)).  0 or -ENOBUFS.
 */
int base64_encode(const void *data, size_t n, char *out, size_t size);

/*
 * The number of bytes TEXT (LEN chars, standard and padded) decodes to,
 * checking its length and padding only.  0 or -EINVAL.
 */
int base64_decoded_len(const char *text, size_t len, size_t *ret);

/*
 * Decode TEXT (LEN chars) into OUT (SIZE bytes), the length into *ret_len.
 * Strict: the standard alphabet, no whitespace, padding only at the end,
 * and the unused bits of the last character zero, so every value has one
 * spelling.  0, -EINVAL (not strict base64; OUT is wiped) or -ENOBUFS.
 */
int base64_decode(
    const char *text, size_t len, void *out, size_t size, size_t *ret_len);

#endif
