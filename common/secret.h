/*
 * secret: bytes that must not leak, in memory of their own.
 *
 * A secret lives in a private anonymous mapping, rounded up to whole pages,
 * that is locked into RAM when the memory-lock limit allows (so it is never
 * written to swap), excluded from core dumps, and wiped before it is
 * unmapped or, a locked page, kept wiped for the next small secret (a
 * pool of a few dozen pages, secret.c).  Safe from any thread.  There is
 * deliberately no way to get a secret as a C string: the bytes are reached only
 * through secret_data() and secret_len(), so no printf("%s") can format one by
 * accident, and a secret may hold NUL bytes.
 *
 * libc (and its threads) only.
 */
#ifndef ROTAD_SECRET_H
#define ROTAD_SECRET_H

#include <stdbool.h>
#include <stddef.h>

/* The largest secret, far above any password or private key. */
#define SECRET_MAX (1024 * 1024)

struct secret;

/*
 * A new secret of LEN bytes (0 <= LEN <= SECRET_MAX) holding a copy of
 * DATA, or zeros when DATA is NULL (for the caller to fill in place through
 * secret_buf(), which avoids a copy on the stack).  The caller owns *ret and
 * wipes DATA itself.  Returns 0, -EINVAL (too long), or -ENOMEM.
 */
int secret_new(const void *data, size_t len, struct secret **ret);

/* Wipes and frees S.  NULL-safe. */
void secret_free(struct secret *s);

/* The bytes, and their number.  Not NUL-terminated. */
const void *secret_data(const struct secret *s);
size_t secret_len(const struct secret *s);

/* The bytes, writable, for filling a secret made by secret_new(NULL, ...). */
void *secret_buf(struct secret *s);

/*
 * Whether A and B hold the same bytes, in time that depends on their
 * lengths only.
 */
bool secret_equal(const struct secret *a, const struct secret *b);

/*
 * A copy of S with a NUL after its bytes, for the C APIs that take a
 * password as a string (libpq, libmariadb, libldap): *ret, which the
 * caller frees.  -EINVAL when S is NULL, empty, or holds a NUL byte (the
 * library would read a shorter password than the one stored), -ENOMEM.
 */
int secret_cstring(const struct secret *s, struct secret **ret);

/* Whether the bytes are locked in RAM (false when RLIMIT_MEMLOCK said no). */
bool secret_is_locked(const struct secret *s);

#endif
