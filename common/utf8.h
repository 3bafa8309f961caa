/*
 * utf8: well-formed UTF-8 (RFC 3629), as every module that takes text
 * from outside and hands it to a format that requires UTF-8 must check
 * it: no overlong forms, no surrogates, nothing above U+10FFFF.
 *
 * libc only.
 */
#ifndef ROTAD_UTF8_H
#define ROTAD_UTF8_H

#include <stdbool.h>
#include <stddef.h>

/* The replacement character U+FFFD, for a byte that is not UTF-8. */
#define UTF8_REPLACEMENT "\xef\xbf\xbd"

/*
 * The length (1 to 4) of the well-formed UTF-8 sequence at the start of
 * S, which has N bytes; 0 when N is 0 or S does not start with one.
 */
size_t utf8_seq(const void *s, size_t n);

/* Whether the N bytes at S are well-formed UTF-8 (a NUL byte is). */
bool utf8_valid(const void *s, size_t n);

#endif
