/*
 * libFuzzer target: sshkey_inspect() on any text, the parser of what an
 * operator stored as a private key.  Each input is read twice: without a
 * passphrase and with the fixtures' one (tests/unit/data/sshkey/
 * passphrase), so encrypted PEM seeds reach OpenSSL's decryption too.
 * Besides not crashing or leaking: only the documented errors, and a key
 * that reads gives a blob of its type, a public line and a fingerprint,
 * and reads the same with a passphrase as without when it needs none.
 *
 * An input that is itself an openssh-key-v1 structure (it starts with
 * the magic "openssh-key-v1\0"; the bin-* seeds are the fixtures') is
 * also armored and read, so that mutations reach the binary parser
 * without having to keep the base64 around it valid.
 *
 * An encrypted PKCS#8 key names its own PBKDF2 iteration count, so an
 * input could ask for hours of hashing: those are read without the
 * passphrase only, which stops before the KDF.
 *
 * Every blob that reads is retyped and back, the same bytes again; an RSA
 * key of up to 4096 bits that reads is also given to sshkey_sign_rsa()
 * with a short fixed text: a signature of the modulus' size, or -EINVAL
 * for a private part that is not the public key's (signing verifies),
 * nothing else.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"
#include "secret.h"
#include "sshkey.h"

#define BEGIN "-----BEGIN OPENSSH PRIVATE KEY-----\n"
#define END "\n-----END OPENSSH PRIVATE KEY-----\n"
#define MAGIC "openssh-key-v1"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char passphrase[] = "fixture passphrase 1";

/* INFO's blob as rsa-sha2-256 and back is itself. */
static void
retype(const struct sshkey_info *info)
{
	uint8_t *a = NULL, *b = NULL;
	size_t alen, blen;

	if (sshkey_blob_retype(
		info->blob, info->bloblen, "rsa-sha2-256", &a, &alen) != 0 ||
	    sshkey_blob_retype(
		a, alen, sshkey_type_name(info->type), &b, &blen) != 0 ||
	    blen != info->bloblen || memcmp(b, info->blob, blen) != 0)
		abort();
	free(a);
	free(b);
}

/* The RSA key TEXT (described by INFO) signs, or its private part is
 * not its public key's. */
static void
sign(const struct secret *text, const struct secret *pass,
    const struct sshkey_info *info)
{
	static const uint8_t data[] = "fuzz";
	uint8_t *sig = NULL;
	size_t len = 0;
	int r;

	const char *p = secret_data(text), *end = p + secret_len(text);

	while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
		p++;
	r = sshkey_sign_rsa(text, pass, 256, data, sizeof(data), &sig, &len);
	if (info->encrypted && (size_t)(end - p) > 18 &&
	    memcmp(p, "-----BEGIN OPENSSH", 18) == 0) {
		if (r != -ENOTSUP) /* no bcrypt_pbkdf */
			abort();
	} else if (r != 0 && r != -EINVAL && r != -ENOMEM)
		abort(); /* PEM that read with PASS signs with it */
	if (r == 0 ? sig == NULL || len != ((size_t)info->bits + 7) / 8
		   : sig != NULL || len != 0)
		abort();
	free(sig);
}

static int
inspect(const struct secret *text, const struct secret *pass,
    struct sshkey_info *info)
{
	char line[8192], fp[SSHKEY_FINGERPRINT_SIZE];
	enum sshkey_type t;
	int r;

	r = sshkey_inspect(text, pass, info);
	if (r == -EINVAL || r == -EKEYREJECTED || r == -ENOTSUP ||
	    r == -ENOMEM) {
		if (info->blob != NULL || info->type != SSHKEY_UNKNOWN)
			abort();
		return r;
	}
	if (r != 0 || info->blob == NULL || info->bits <= 0 ||
	    sshkey_type_name(info->type) == NULL ||
	    sshkey_blob_type(info->blob, info->bloblen, &t) < 0 ||
	    t != info->type ||
	    sshkey_public_line(info, "c", line, sizeof(line)) < 0 ||
	    sshkey_fingerprint(info->blob, info->bloblen, fp, sizeof(fp)) < 0)
		abort();
	retype(info);
	if (info->type == SSHKEY_RSA && info->bits <= 4096)
		sign(text, pass, info);
	return 0;
}

/* DATA (an openssh-key-v1 structure) armored, read. */
static void
inspect_binary(const uint8_t *data, size_t size)
{
	size_t b64 = base64_encoded_len(size);
	struct sshkey_info info;
	struct secret *text;
	char *p;

	if (b64 > SECRET_MAX - strlen(BEGIN) - strlen(END) ||
	    secret_new(NULL, strlen(BEGIN) + b64 + strlen(END), &text) < 0)
		return;
	p = secret_buf(text);
	memcpy(p, BEGIN, strlen(BEGIN));
	p += strlen(BEGIN);
	p += base64_encode_raw(data, size, 0, p);
	memcpy(p, END, strlen(END));
	inspect(text, NULL, &info);
	sshkey_info_clear(&info);
	secret_free(text);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sshkey_info plain, with;
	struct secret *text = NULL, *pass = NULL;
	int r1, r2;

	if (size > SECRET_MAX)
		return 0;
	if (size >= sizeof(MAGIC) && memcmp(data, MAGIC, sizeof(MAGIC)) == 0)
		inspect_binary(data, size);
	if (secret_new(data, size, &text) < 0 ||
	    secret_new(passphrase, sizeof(passphrase) - 1, &pass) < 0)
		abort();
	r1 = inspect(text, NULL, &plain);
	if (memmem(data, size, "ENCRYPTED PRIVATE KEY", 21) == NULL) {
		r2 = inspect(text, pass, &with);
		if (r1 == 0 && !plain.encrypted &&
		    (r2 != 0 || with.type != plain.type ||
			with.bloblen != plain.bloblen ||
			memcmp(with.blob, plain.blob, plain.bloblen) != 0))
			abort();
		sshkey_info_clear(&with);
	}
	sshkey_info_clear(&plain);
	secret_free(pass);
	secret_free(text);
	return 0;
}
