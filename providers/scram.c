/*
 * scram.c: PostgreSQL's SCRAM-SHA-256 verifier (scram.h).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include "base64.h"
#include "scram.h"

#define KEY_LEN 32 /* SHA-256 */

int
scram_verifier_salted(const char *password, const unsigned char *salt,
    size_t salt_len, int iterations, char *out, size_t size)
{
	unsigned char salted[KEY_LEN], client[KEY_LEN], stored[KEY_LEN];
	unsigned char server[KEY_LEN];
	char salt64[64], stored64[64], server64[64];
	size_t i, len = strlen(password);
	unsigned int n = KEY_LEN;
	int r = -EIO, w;

	for (i = 0; i < len; i++)
		if ((unsigned char)password[i] >= 0x80)
			return -EINVAL;
	if (salt_len == 0 || base64_encoded_len(salt_len) >= sizeof(salt64))
		return -EINVAL;
	if (PKCS5_PBKDF2_HMAC(password, (int)len, salt, (int)salt_len,
		iterations, EVP_sha256(), KEY_LEN, salted) != 1 ||
	    HMAC(EVP_sha256(), salted, KEY_LEN,
		(const unsigned char *)"Client Key", 10, client, &n) == NULL ||
	    SHA256(client, KEY_LEN, stored) == NULL ||
	    HMAC(EVP_sha256(), salted, KEY_LEN,
		(const unsigned char *)"Server Key", 10, server, &n) == NULL)
		goto out;
	if (base64_encode(salt, salt_len, salt64, sizeof(salt64)) < 0 ||
	    base64_encode(stored, KEY_LEN, stored64, sizeof(stored64)) < 0 ||
	    base64_encode(server, KEY_LEN, server64, sizeof(server64)) < 0)
		goto out;
	w = snprintf(out, size, "SCRAM-SHA-256$%d:%s$%s:%s", iterations, salt64,
	    stored64, server64);
	r = w < 0 || (size_t)w >= size ? -ENOBUFS : 0;
out:
	/* What a login as the role could be forged with, but the salt. */
	OPENSSL_cleanse(salted, sizeof(salted));
	OPENSSL_cleanse(client, sizeof(client));
	OPENSSL_cleanse(stored, sizeof(stored));
	OPENSSL_cleanse(server, sizeof(server));
	OPENSSL_cleanse(stored64, sizeof(stored64));
	OPENSSL_cleanse(server64, sizeof(server64));
	if (r < 0 && size > 0)
		OPENSSL_cleanse(out, size);
	return r;
}

int
scram_verifier(const char *password, char *out, size_t size)
{
	unsigned char salt[SCRAM_SALT_LEN];

	if (RAND_bytes(salt, sizeof(salt)) != 1)
		return -EIO;
	return scram_verifier_salted(
	    password, salt, sizeof(salt), SCRAM_ITERATIONS, out, size);
}
