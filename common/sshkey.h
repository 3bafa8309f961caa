/*
 * sshkey: SSH key pairs as OpenSSH writes and reads them.
 *
 * The daemon makes new key pairs (sshkey_generate(), OpenSSH's own
 * private-key format, which every OpenSSH since 6.5 and libssh2 read) and
 * asks what type the current key is; the ssh provider's worker derives the
 * public key line of a private key and fingerprints, and signs RSA logins
 * with rsa-sha2-256 itself (sshkey_sign_rsa()), which libssh2 1.10 cannot.
 * Private key text and passphrases are always a struct secret; nothing here
 * prints or logs.
 *
 * sshkey_inspect() reads untrusted text (a key an operator stored may be
 * anything): the OpenSSH format is parsed here, strictly, every length
 * checked against what is left; PEM goes to OpenSSL's decoders.
 *
 * libcrypto (OpenSSL 3) and common/ only: a library of its own
 * (sshkey_dep), so that the rest of common/ stays libc only.
 */
#ifndef ROTAD_SSHKEY_H
#define ROTAD_SSHKEY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct secret;

enum sshkey_type {
	SSHKEY_UNKNOWN = 0,
	SSHKEY_RSA,
	SSHKEY_ECDSA_P256,
	SSHKEY_ECDSA_P384,
	SSHKEY_ECDSA_P521,
	SSHKEY_ED25519,
};

#define SSHKEY_RSA_BITS_DEFAULT 4096
#define SSHKEY_RSA_BITS_MIN 2048  /* what sshkey_generate() makes */
#define SSHKEY_RSA_BITS_MAX 16384 /* OpenSSH's limit, here for reading too */

/* "SHA256:" + 43 characters + NUL: the size sshkey_fingerprint() needs. */
#define SSHKEY_FINGERPRINT_SIZE 51

struct sshkey_info {
	enum sshkey_type type;
	/* RSA modulus bits; the curve's size for ECDSA (256/384/521); 256
	 * for Ed25519. */
	int bits;
	bool encrypted; /* the text is passphrase-protected */
	/* The public key in SSH wire format (RFC 4253 6.6, RFC 5656, RFC
	 * 8709), malloc'd. */
	uint8_t *blob;
	size_t bloblen;
};

/*
 * "ssh-rsa", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384",
 * "ecdsa-sha2-nistp521", "ssh-ed25519" to the enum: 0 or -EINVAL.
 */
int sshkey_type_from_name(const char *name, enum sshkey_type *ret);

/* The enum's SSH name; NULL for SSHKEY_UNKNOWN (or any other value). */
const char *sshkey_type_name(enum sshkey_type t);

/*
 * A new key pair of type T as OpenSSH private-key text, as ssh-keygen
 * writes it without a passphrase: "-----BEGIN OPENSSH PRIVATE KEY-----",
 * openssh-key-v1, cipher and kdf "none", random check ints, COMMENT (NULL
 * for none) as the key's comment, padding 1, 2, 3..., base64 wrapped at 70
 * columns, a trailing newline.  BITS is for RSA only: 0 means
 * SSHKEY_RSA_BITS_DEFAULT, else SSHKEY_RSA_BITS_MIN..SSHKEY_RSA_BITS_MAX;
 * other types ignore it.  *ret is the caller's to free.  0, -EINVAL (type,
 * bits), -ENOMEM, -EIO (OpenSSL failed).
 */
int sshkey_generate(
    enum sshkey_type t, int bits, const char *comment, struct secret **ret);

/*
 * What private key TEXT is, with its public blob, into *info (which the
 * caller clears with sshkey_info_clear() whatever this returns).
 *
 * The OpenSSH format is parsed here: the public part comes from the clear
 * header, so an encrypted key is described without its passphrase
 * (encrypted = true); an unencrypted one must also agree with its private
 * part (check ints, the public fields repeated, the private key matching
 * the public one, padding).  PEM (PKCS#1 "RSA PRIVATE KEY", SEC1 "EC
 * PRIVATE KEY", PKCS#8 "PRIVATE KEY" and "ENCRYPTED PRIVATE KEY") goes
 * through OpenSSL, with PASSPHRASE (NULL for none) when it is encrypted;
 * OpenSSL never prompts.  Leading and trailing white space is allowed.
 *
 * 0; -EINVAL not a private key this reads; -EKEYREJECTED an encrypted PEM
 * key without the right passphrase; -ENOTSUP a key of a type other than
 * the five (DSA, sk-*, a curve other than the three, RSA over
 * SSHKEY_RSA_BITS_MAX); -ENOMEM.
 */
int sshkey_inspect(const struct secret *text, const struct secret *passphrase,
    struct sshkey_info *info);

/* Frees INFO's blob and zeroes it.  NULL-safe. */
void sshkey_info_clear(struct sshkey_info *info);

/*
 * INFO's public key as an authorized_keys line, "TYPE BASE64BLOB" or
 * "TYPE BASE64BLOB COMMENT" (COMMENT NULL or "" for none), NUL-terminated
 * and without a newline, into BUF.  0, -ENOSPC, or -EINVAL (no blob, a
 * blob not of INFO's type, a comment with a line break).
 */
int sshkey_public_line(const struct sshkey_info *info, const char *comment,
    char *buf, size_t size);

/*
 * The type named by the string at the head of the SSH wire blob BLOB (LEN
 * bytes); only the head is read.  0, -EINVAL (malformed), or -ENOTSUP (a
 * well-formed name that is not one of the five).
 */
int sshkey_blob_type(const uint8_t *blob, size_t len, enum sshkey_type *ret);

/*
 * The fingerprint of BLOB as ssh-keygen -l -E sha256 prints it:
 * "SHA256:" and the unpadded base64 of SHA-256(blob), NUL-terminated, into
 * BUF (SSHKEY_FINGERPRINT_SIZE bytes are enough).  0, -ENOSPC, or -EIO.
 */
int sshkey_fingerprint(const uint8_t *blob, size_t len, char *buf, size_t size);

/*
 * A copy of the SSH public key blob BLOB (LEN bytes) with its leading type
 * string replaced by NAME, e.g. "ssh-rsa" by "rsa-sha2-256" for the key
 * libssh2 is to offer in a publickey request; malloc'd into *ret,
 * *ret_len.  Only the type string is read; the rest is copied as it is.
 * 0, -EINVAL (no type string, an empty one, an empty NAME), -ENOMEM.
 */
int sshkey_blob_retype(const uint8_t *blob, size_t len, const char *name,
    uint8_t **ret, size_t *ret_len);

/*
 * Sign DATA (LEN bytes) with the RSA private key TEXT (OpenSSH format
 * unencrypted, or PEM/PKCS#8 with PASSPHRASE when encrypted) as an SSH
 * "rsa-sha2-256" (HASH_BITS 256) or "rsa-sha2-512" (512) signature
 * (RFC 8332): RSASSA-PKCS1-v1_5 over SHA-256/512, the raw signature (as
 * many bytes as the modulus) malloc'd in *ret_sig, its length in
 * *ret_len.  It is not the SSH signature blob: that is string
 * "rsa-sha2-256" (or -512), then string of these bytes.  The signature is
 * verified before it is returned, so a key whose private part is not its
 * public key's is -EINVAL, not a signature a server refuses.
 *
 * 0; -ENOTSUP not an RSA key (or one over SSHKEY_RSA_BITS_MAX), or an
 * encrypted OpenSSH-format key (its KDF, bcrypt_pbkdf, is not in
 * OpenSSL); -EINVAL not a key we read (as sshkey_inspect()), or HASH_BITS
 * other than 256 and 512; -EKEYREJECTED encrypted PEM without the right
 * passphrase; -ENOMEM; -EIO.
 */
int sshkey_sign_rsa(const struct secret *text, const struct secret *passphrase,
    int hash_bits, const uint8_t *data, size_t len, uint8_t **ret_sig,
    size_t *ret_len);

#endif
