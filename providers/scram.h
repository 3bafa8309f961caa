/*
 * scram: PostgreSQL's SCRAM-SHA-256 verifier, made with OpenSSL's PBKDF2.
 *
 * libpq 15's PQencryptPasswordConn() makes the same string, but its
 * PBKDF2 sets an HMAC up afresh for each of the 4096 iterations, which
 * OpenSSL 3 makes dear (a fetch, locks, allocations each time): 5 ms a
 * verifier on the bench machine, against 1.5 ms for
 * PKCS5_PBKDF2_HMAC().  A PostgreSQL rotation makes one, on the client,
 * so that the password never reaches the server.
 *
 * The verifier, as PostgreSQL stores it (RFC 5803's form):
 *
 *	SCRAM-SHA-256$ITERATIONS:SALT$STOREDKEY:SERVERKEY
 *
 * with SaltedPassword = PBKDF2-HMAC-SHA-256(password, salt, iterations),
 * StoredKey = SHA-256(HMAC(SaltedPassword, "Client Key")) and ServerKey =
 * HMAC(SaltedPassword, "Server Key"), each base64 (RFC 5802, 7677).
 * PostgreSQL first applies SASLprep to the password, which leaves an
 * ASCII one as it is (and libpq hashes a password SASLprep refuses as it
 * is too); only an ASCII password is taken here, the caller leaves any
 * other to libpq.  test_scram checks every byte of the result against
 * libpq's for the same salt.
 */
#ifndef ROTAD_SCRAM_H
#define ROTAD_SCRAM_H

#include <stddef.h>

#define SCRAM_ITERATIONS 4096 /* libpq 15's, and the server's default */
#define SCRAM_SALT_LEN 16     /* libpq's */
#define SCRAM_VERIFIER_MAX 160

/*
 * PASSWORD's verifier with a fresh random salt into OUT (SIZE bytes,
 * NUL-terminated).  0; -EINVAL for a password that is not ASCII (libpq's
 * to hash); -ENOBUFS; -EIO when OpenSSL fails.
 */
int scram_verifier(const char *password, char *out, size_t size);

/* The same with SALT (SALT_LEN bytes) and ITERATIONS given. */
int scram_verifier_salted(const char *password, const unsigned char *salt,
    size_t salt_len, int iterations, char *out, size_t size);

#endif
