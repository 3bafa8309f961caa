/*
 * sshkey.c: SSH key pairs in OpenSSH's private-key format, and PEM.
 *
 * OpenSSH's format (PROTOCOL.key in OpenSSH's sources) is base64 between
 * two marker lines, of:
 *
 *	"openssh-key-v1" NUL
 *	string ciphername, string kdfname, string kdfoptions
 *	uint32 number of keys (1)
 *	string public key blob
 *	string private section, encrypted unless ciphername is "none"
 *
 * and the private section is two equal random check ints, the key type
 * and its fields (sshkey_private_serialize in OpenSSH's sshkey.c), the
 * comment, and padding 1, 2, 3... to the cipher's block size (8 for
 * "none").  Writing goes in two passes over the same put_*() calls, the
 * first counting, so that the second writes into a secret of the exact
 * size; reading checks every length against what is left, refuses what
 * OpenSSH would refuse, and for an unencrypted key checks that the private
 * key is the public key's (a key whose header lied would have the daemon
 * install the wrong authorized_keys line).
 *
 * OpenSSL is asked for what it does well: key generation, the PEM
 * decoders, the EC point and key checks.  Its own copies of private key
 * material are cleared when freed (BN_clear_free, the secure heap's
 * clear-free); ours live in struct secrets.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>

#include "base64.h"
#include "secret.h"
#include "sshkey.h"

#define MARK_BEGIN "-----BEGIN OPENSSH PRIVATE KEY-----"
#define MARK_END "-----END OPENSSH PRIVATE KEY-----"
#define AUTH_MAGIC "openssh-key-v1" /* written with its NUL */
#define WRAP 70                     /* base64 columns, as ssh-keygen */
#define BLOCK 8                     /* cipher "none"'s block size */
#define AUTHLEN_MAX 16 /* an AEAD cipher's tag after the private section */
#define MPINT_MAX (SSHKEY_RSA_BITS_MAX / 8) /* OpenSSH's SSHBUF_MAX_BIGNUM */
#define ED25519_LEN 32

static const struct kind {
	enum sshkey_type type;
	const char *name;  /* the SSH key type */
	const char *curve; /* ECDSA: the SSH curve name */
	const char *group; /* ECDSA: OpenSSL's name of the group */
	const char *nist;  /* ECDSA: its NIST name, which OpenSSL may give */
	int bits;          /* RSA: 0, its modulus says */
} kinds[] = {
	{ SSHKEY_RSA, "ssh-rsa", NULL, NULL, NULL, 0 },
	{ SSHKEY_ECDSA_P256, "ecdsa-sha2-nistp256", "nistp256", "prime256v1",
	    "P-256", 256 },
	{ SSHKEY_ECDSA_P384, "ecdsa-sha2-nistp384", "nistp384", "secp384r1",
	    "P-384", 384 },
	{ SSHKEY_ECDSA_P521, "ecdsa-sha2-nistp521", "nistp521", "secp521r1",
	    "P-521", 521 },
	{ SSHKEY_ED25519, "ssh-ed25519", NULL, NULL, NULL, 256 },
};
#define NKINDS (sizeof(kinds) / sizeof(kinds[0]))

static const struct kind *
kind_of(enum sshkey_type t)
{
	size_t i;

	for (i = 0; i < NKINDS; i++)
		if (kinds[i].type == t)
			return &kinds[i];
	return NULL;
}

/* A field element's bytes, the size of each coordinate of a point. */
static size_t
field_len(const struct kind *k)
{
	return ((size_t)k->bits + 7) / 8;
}

static bool
is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* TEXT's bytes after its leading white space, their count into *LEN. */
static const char *
trim_start(const struct secret *text, size_t *len)
{
	const char *p = secret_data(text);

	*len = secret_len(text);
	while (*len > 0 && is_space(*p)) {
		p++;
		(*len)--;
	}
	return p;
}

static bool
starts(const char *s, size_t len, const char *prefix)
{
	size_t n = strlen(prefix);

	return len >= n && memcmp(s, prefix, n) == 0;
}

int
sshkey_type_from_name(const char *name, enum sshkey_type *ret)
{
	size_t i;

	if (name == NULL)
		return -EINVAL;
	for (i = 0; i < NKINDS; i++)
		if (strcmp(name, kinds[i].name) == 0) {
			*ret = kinds[i].type;
			return 0;
		}
	return -EINVAL;
}

const char *
sshkey_type_name(enum sshkey_type t)
{
	const struct kind *k = kind_of(t);

	return k != NULL ? k->name : NULL;
}

void
sshkey_info_clear(struct sshkey_info *info)
{
	if (info == NULL)
		return;
	free(info->blob);
	memset(info, 0, sizeof(*info));
}

/*
 * Writing.  With p NULL a wbuf only counts; the first error sticks, so a
 * run of puts is checked once, at its end.
 */
struct wbuf {
	uint8_t *p;
	size_t len;
	size_t cap;
	int err;
};

/* Where the next N bytes go: NULL when only counting, or after an error. */
static uint8_t *
reserve(struct wbuf *w, size_t n)
{
	uint8_t *d;

	if (w->err != 0)
		return NULL;
	if (w->p == NULL) {
		if (n > SIZE_MAX - w->len)
			w->err = -ENOMEM;
		else
			w->len += n;
		return NULL;
	}
	if (n > w->cap - w->len) {
		w->err = -EIO; /* the passes disagree: cannot happen */
		return NULL;
	}
	d = w->p + w->len;
	w->len += n;
	return d;
}

static void
put_u32(struct wbuf *w, size_t v)
{
	uint8_t *d;

	if (v > UINT32_MAX) {
		if (w->err == 0)
			w->err = -EINVAL;
		return;
	}
	if ((d = reserve(w, 4)) == NULL)
		return;
	d[0] = (uint8_t)(v >> 24);
	d[1] = (uint8_t)(v >> 16);
	d[2] = (uint8_t)(v >> 8);
	d[3] = (uint8_t)v;
}

static void
put_bytes(struct wbuf *w, const void *data, size_t n)
{
	uint8_t *d;

	if ((d = reserve(w, n)) != NULL && n > 0)
		memcpy(d, data, n);
}

static void
put_string(struct wbuf *w, const void *data, size_t n)
{
	put_u32(w, n);
	put_bytes(w, data, n);
}

static void
put_cstring(struct wbuf *w, const char *s)
{
	put_string(w, s, strlen(s));
}

/* BN as an SSH mpint: big-endian, a zero byte before a high bit set. */
static void
put_mpint(struct wbuf *w, const BIGNUM *bn)
{
	size_t n = (size_t)BN_num_bytes(bn);
	size_t pad = n > 0 && BN_is_bit_set(bn, (int)(n * 8 - 1));
	uint8_t *d;

	put_u32(w, n + pad);
	if ((d = reserve(w, n + pad)) == NULL || n == 0)
		return;
	if (pad)
		d[0] = 0;
	BN_bn2bin(bn, d + pad);
}

/* The BIGNUM parameter NAME of PKEY as an mpint. */
static void
put_bn_param(struct wbuf *w, const EVP_PKEY *pkey, const char *name)
{
	BIGNUM *bn = NULL;

	if (w->err != 0)
		return;
	if (!EVP_PKEY_get_bn_param(pkey, name, &bn))
		w->err = -EIO;
	else
		put_mpint(w, bn);
	BN_clear_free(bn);
}

/*
 * PKEY's public point as a string, uncompressed (0x04, X, Y) as RFC 5656
 * section 3.1 has it, whatever point format the key came with.
 */
static void
put_ec_point(struct wbuf *w, const EVP_PKEY *pkey, const struct kind *k)
{
	size_t flen = field_len(k);
	BIGNUM *x = NULL, *y = NULL;
	uint8_t *d;

	if (w->err != 0)
		return;
	if (!EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_EC_PUB_X, &x) ||
	    !EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_EC_PUB_Y, &y)) {
		w->err = -EIO;
		goto out;
	}
	put_u32(w, 1 + 2 * flen);
	if ((d = reserve(w, 1 + 2 * flen)) == NULL)
		goto out;
	d[0] = 0x04;
	if (BN_bn2binpad(x, d + 1, (int)flen) < 0 ||
	    BN_bn2binpad(y, d + 1 + flen, (int)flen) < 0)
		w->err = -EIO;
out:
	BN_free(x);
	BN_free(y);
}

/* An Ed25519 key as a string: its public key, or with PRIVATE its seed
 * and public key (the 64 bytes OpenSSH calls the secret key). */
static void
put_ed25519(struct wbuf *w, const EVP_PKEY *pkey, bool private)
{
	size_t n = ED25519_LEN, m = ED25519_LEN;
	uint8_t *d;

	put_u32(w, private ? 2 * ED25519_LEN : ED25519_LEN);
	if ((d = reserve(w, private ? 2 * ED25519_LEN : ED25519_LEN)) == NULL)
		return;
	if (private) {
		if (!EVP_PKEY_get_raw_private_key(pkey, d, &n))
			n = 0;
		d += ED25519_LEN;
	}
	if (!EVP_PKEY_get_raw_public_key(pkey, d, &m) || n != ED25519_LEN ||
	    m != ED25519_LEN)
		w->err = -EIO;
}

/* PKEY's public key blob: RFC 4253 6.6, RFC 5656 3.1, RFC 8709 4. */
static void
put_public(struct wbuf *w, const EVP_PKEY *pkey, const struct kind *k)
{
	put_cstring(w, k->name);
	if (k->type == SSHKEY_RSA) {
		put_bn_param(w, pkey, OSSL_PKEY_PARAM_RSA_E);
		put_bn_param(w, pkey, OSSL_PKEY_PARAM_RSA_N);
	} else if (k->curve != NULL) {
		put_cstring(w, k->curve);
		put_ec_point(w, pkey, k);
	} else
		put_ed25519(w, pkey, false);
}

/*
 * The private section up to its padding, as OpenSSH's
 * sshkey_private_serialize_opt writes each type: RSA n, e, d, iqmp (q^-1
 * mod p, OpenSSL's coefficient), p, q; ECDSA the curve, the point, the
 * scalar; Ed25519 the public key, then seed and public key.
 */
static void
put_private(struct wbuf *w, const EVP_PKEY *pkey, const struct kind *k,
    uint32_t check, const char *comment)
{
	put_u32(w, check);
	put_u32(w, check);
	put_cstring(w, k->name);
	if (k->type == SSHKEY_RSA) {
		put_bn_param(w, pkey, OSSL_PKEY_PARAM_RSA_N);
		put_bn_param(w, pkey, OSSL_PKEY_PARAM_RSA_E);
		put_bn_param(w, pkey, OSSL_PKEY_PARAM_RSA_D);
		put_bn_param(w, pkey, OSSL_PKEY_PARAM_RSA_COEFFICIENT1);
		put_bn_param(w, pkey, OSSL_PKEY_PARAM_RSA_FACTOR1);
		put_bn_param(w, pkey, OSSL_PKEY_PARAM_RSA_FACTOR2);
	} else if (k->curve != NULL) {
		put_cstring(w, k->curve);
		put_ec_point(w, pkey, k);
		put_bn_param(w, pkey, OSSL_PKEY_PARAM_PRIV_KEY);
	} else {
		put_ed25519(w, pkey, false);
		put_ed25519(w, pkey, true);
	}
	put_cstring(w, comment);
}

/* The whole openssh-key-v1 structure, the private section PRIVLEN bytes
 * with its padding. */
static void
put_container(struct wbuf *w, const EVP_PKEY *pkey, const struct kind *k,
    const uint8_t *blob, size_t bloblen, uint32_t check, const char *comment,
    size_t privlen)
{
	size_t start;
	uint8_t i;

	put_bytes(w, AUTH_MAGIC, sizeof(AUTH_MAGIC));
	put_cstring(w, "none"); /* cipher */
	put_cstring(w, "none"); /* kdf */
	put_string(w, NULL, 0); /* kdf options */
	put_u32(w, 1);
	put_string(w, blob, bloblen);
	put_u32(w, privlen);
	start = w->len;
	put_private(w, pkey, k, check, comment);
	for (i = 1; w->err == 0 && w->len - start < privlen; i++)
		put_bytes(w, &i, 1);
}

/* PKEY's public blob, malloc'd, into *ret and *ret_len. */
static int
public_blob(
    const EVP_PKEY *pkey, const struct kind *k, uint8_t **ret, size_t *ret_len)
{
	struct wbuf w = { 0 };

	put_public(&w, pkey, k);
	if (w.err != 0)
		return w.err;
	w.cap = w.len;
	w.len = 0;
	if ((w.p = malloc(w.cap)) == NULL)
		return -ENOMEM;
	put_public(&w, pkey, k);
	if (w.err != 0 || w.len != w.cap) {
		free(w.p);
		return w.err != 0 ? w.err : -EIO;
	}
	*ret = w.p;
	*ret_len = w.len;
	return 0;
}

/* The binary openssh-key-v1 structure of PKEY in a secret. */
static int
serialize(const EVP_PKEY *pkey, const struct kind *k, const uint8_t *blob,
    size_t bloblen, uint32_t check, const char *comment, struct secret **ret)
{
	struct wbuf w = { 0 };
	struct secret *s = NULL;
	size_t privlen;
	int r;

	put_private(&w, pkey, k, check, comment);
	if (w.err != 0)
		return w.err;
	privlen = w.len + (BLOCK - w.len % BLOCK) % BLOCK;
	w.len = 0;
	put_container(&w, pkey, k, blob, bloblen, check, comment, privlen);
	if (w.err != 0)
		return w.err;
	if ((r = secret_new(NULL, w.len, &s)) < 0)
		return r;
	w.p = secret_buf(s);
	w.cap = w.len;
	w.len = 0;
	put_container(&w, pkey, k, blob, bloblen, check, comment, privlen);
	if (w.err != 0 || w.len != w.cap) {
		secret_free(s);
		return w.err != 0 ? w.err : -EIO;
	}
	*ret = s;
	return 0;
}

/* BIN as ssh-keygen writes it: the markers, base64 lines of WRAP columns,
 * every line ending in a newline. */
static int
armor(const struct secret *bin, struct secret **ret)
{
	size_t n = secret_len(bin), b64len = base64_encoded_len(n), len, i, c;
	struct secret *b64 = NULL, *text = NULL;
	const char *s;
	char *o;
	int r;

	if (b64len == SIZE_MAX)
		return -EINVAL;
	/* sizeof counts each marker's NUL, which stands for its newline. */
	len = sizeof(MARK_BEGIN) + b64len + (b64len + WRAP - 1) / WRAP +
	    sizeof(MARK_END);
	if ((r = secret_new(NULL, b64len, &b64)) < 0 ||
	    (r = secret_new(NULL, len, &text)) < 0)
		goto out;
	base64_encode_raw(secret_data(bin), n, 0, secret_buf(b64));
	s = secret_data(b64);
	o = secret_buf(text);
	memcpy(o, MARK_BEGIN "\n", sizeof(MARK_BEGIN));
	o += sizeof(MARK_BEGIN);
	for (i = 0; i < b64len; i += c) {
		c = b64len - i < WRAP ? b64len - i : WRAP;
		memcpy(o, s + i, c);
		o += c;
		*o++ = '\n';
	}
	memcpy(o, MARK_END "\n", sizeof(MARK_END));
	*ret = text;
	text = NULL;
out:
	secret_free(b64);
	secret_free(text);
	return r;
}

static EVP_PKEY *
keygen(const struct kind *k, int bits)
{
	if (k->type == SSHKEY_RSA)
		return EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)bits);
	if (k->group != NULL)
		return EVP_PKEY_Q_keygen(NULL, NULL, "EC", k->group);
	return EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
}

int
sshkey_generate(
    enum sshkey_type t, int bits, const char *comment, struct secret **ret)
{
	const struct kind *k = kind_of(t);
	struct secret *bin = NULL;
	EVP_PKEY *pkey = NULL;
	uint8_t *blob = NULL;
	size_t bloblen = 0;
	uint32_t check;
	int r;

	*ret = NULL;
	if (k == NULL)
		return -EINVAL;
	if (t == SSHKEY_RSA && bits == 0)
		bits = SSHKEY_RSA_BITS_DEFAULT;
	else if (t == SSHKEY_RSA &&
	    (bits < SSHKEY_RSA_BITS_MIN || bits > SSHKEY_RSA_BITS_MAX))
		return -EINVAL;
	if (comment == NULL)
		comment = "";
	if ((pkey = keygen(k, bits)) == NULL ||
	    RAND_bytes((unsigned char *)&check, sizeof(check)) != 1) {
		r = -EIO;
		goto out;
	}
	if ((r = public_blob(pkey, k, &blob, &bloblen)) < 0 ||
	    (r = serialize(pkey, k, blob, bloblen, check, comment, &bin)) < 0)
		goto out;
	r = armor(bin, ret);
out:
	ERR_clear_error();
	EVP_PKEY_free(pkey);
	free(blob);
	secret_free(bin);
	return r;
}

/*
 * Reading.  Every get_*() checks its length against what is left and
 * returns 0 or -EINVAL; a span points into the buffer read.
 */
struct rbuf {
	const uint8_t *p;
	size_t left;
};

struct span {
	const uint8_t *p;
	size_t len;
};

static int
get_u32(struct rbuf *r, uint32_t *v)
{
	if (r->left < 4)
		return -EINVAL;
	*v = (uint32_t)r->p[0] << 24 | (uint32_t)r->p[1] << 16 |
	    (uint32_t)r->p[2] << 8 | r->p[3];
	r->p += 4;
	r->left -= 4;
	return 0;
}

static int
get_string(struct rbuf *r, struct span *s)
{
	uint32_t n;

	if (get_u32(r, &n) < 0 || n > r->left)
		return -EINVAL;
	s->p = r->p;
	s->len = n;
	r->p += n;
	r->left -= n;
	return 0;
}

/*
 * An mpint as OpenSSH reads one (sshbuf_get_bignum2_bytes_direct): not
 * negative, at most MPINT_MAX bytes besides one leading zero; *s is its
 * magnitude, leading zeros dropped.
 */
static int
get_mpint(struct rbuf *r, struct span *s)
{
	if (get_string(r, s) < 0 || (s->len > 0 && (s->p[0] & 0x80)) ||
	    s->len > MPINT_MAX + 1 || (s->len == MPINT_MAX + 1 && s->p[0] != 0))
		return -EINVAL;
	while (s->len > 0 && s->p[0] == 0) {
		s->p++;
		s->len--;
	}
	return 0;
}

static bool
span_is(const struct span *s, const char *want)
{
	return s->len == strlen(want) && memcmp(s->p, want, s->len) == 0;
}

static bool
span_eq(const struct span *a, const struct span *b)
{
	return a->len == b->len &&
	    (a->len == 0 || memcmp(a->p, b->p, a->len) == 0);
}

/*
 * The kind named NAME: -ENOTSUP for a name that looks like a key type
 * (printable, no space) but is none of ours, -EINVAL for anything else.
 */
static int
kind_named(const struct span *name, const struct kind **ret)
{
	size_t i;

	for (i = 0; i < NKINDS; i++)
		if (span_is(name, kinds[i].name)) {
			*ret = &kinds[i];
			return 0;
		}
	if (name->len == 0)
		return -EINVAL;
	for (i = 0; i < name->len; i++)
		if (name->p[i] <= ' ' || name->p[i] > '~')
			return -EINVAL;
	return -ENOTSUP;
}

/* The public fields of a key, as spans into what was read. */
struct pubkey {
	const struct kind *k;
	struct span e, n; /* RSA */
	struct span q;    /* ECDSA: the point, uncompressed */
	struct span pk;   /* Ed25519 */
	int bits;
};

/*
 * The public fields of a key of kind K, after its type name: RSA's in the
 * blob's order (e, n) or, with PRIVATE, the private section's (n, e).
 */
static int
get_public(
    struct rbuf *r, const struct kind *k, bool private, struct pubkey *pub)
{
	struct span curve;
	int top;

	memset(pub, 0, sizeof(*pub));
	pub->k = k;
	pub->bits = k->bits;
	if (k->type == SSHKEY_RSA) {
		if (get_mpint(r, private ? &pub->n : &pub->e) < 0 ||
		    get_mpint(r, private ? &pub->e : &pub->n) < 0 ||
		    pub->e.len == 0 || pub->n.len == 0)
			return -EINVAL;
		for (top = 8; !(pub->n.p[0] & (1u << (top - 1))); top--)
			;
		pub->bits = (int)(pub->n.len - 1) * 8 + top;
		return 0;
	}
	if (k->curve != NULL) {
		/* The curve again, and the point uncompressed (OpenSSH
		 * writes no other form; OpenSSL would take more). */
		if (get_string(r, &curve) < 0 || !span_is(&curve, k->curve) ||
		    get_string(r, &pub->q) < 0 ||
		    pub->q.len != 1 + 2 * field_len(k) || pub->q.p[0] != 0x04)
			return -EINVAL;
		return 0;
	}
	if (get_string(r, &pub->pk) < 0 || pub->pk.len != ED25519_LEN)
		return -EINVAL;
	return 0;
}

static bool
same_public(const struct pubkey *a, const struct pubkey *b)
{
	return a->k == b->k && span_eq(&a->e, &b->e) && span_eq(&a->n, &b->n) &&
	    span_eq(&a->q, &b->q) && span_eq(&a->pk, &b->pk);
}

/*
 * That the EC point Q is on K's curve and, with D, that scalar D is a
 * private key in range whose public key is Q (OpenSSL's pairwise check).
 * 0, -EINVAL, -ENOMEM.
 */
static int
ec_check(const struct kind *k, const struct span *q, const struct span *d)
{
	OSSL_PARAM_BLD *bld = NULL;
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *ctx = NULL, *cctx = NULL;
	EVP_PKEY *pkey = NULL;
	BIGNUM *priv = NULL;
	int r = -ENOMEM;

	if ((bld = OSSL_PARAM_BLD_new()) == NULL ||
	    !OSSL_PARAM_BLD_push_utf8_string(
		bld, OSSL_PKEY_PARAM_GROUP_NAME, k->group, 0) ||
	    !OSSL_PARAM_BLD_push_octet_string(
		bld, OSSL_PKEY_PARAM_PUB_KEY, q->p, q->len))
		goto out;
	if (d != NULL &&
	    ((priv = BN_secure_new()) == NULL ||
		BN_bin2bn(d->p, (int)d->len, priv) == NULL ||
		!OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY, priv)))
		goto out;
	if ((params = OSSL_PARAM_BLD_to_param(bld)) == NULL ||
	    (ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL)) == NULL)
		goto out;
	r = -EINVAL;
	/* fromdata refuses a point that is not on the curve. */
	if (EVP_PKEY_fromdata_init(ctx) <= 0 ||
	    EVP_PKEY_fromdata(ctx, &pkey,
		d != NULL ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY,
		params) <= 0 ||
	    (cctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL)) == NULL)
		goto out;
	if ((d != NULL ? EVP_PKEY_pairwise_check(cctx)
		       : EVP_PKEY_public_check(cctx)) == 1)
		r = 0;
out:
	EVP_PKEY_CTX_free(cctx);
	EVP_PKEY_free(pkey);
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params); /* clears the secure part, with the scalar */
	OSSL_PARAM_BLD_free(bld);
	BN_clear_free(priv);
	return r;
}

/* That the 64 bytes SK are the seed of public key PK and PK itself. */
static int
ed25519_check(const struct span *pk, const struct span *sk)
{
	uint8_t derived[ED25519_LEN];
	size_t n = sizeof(derived);
	EVP_PKEY *pkey;
	int r = -EINVAL;

	if (sk->len != 2 * ED25519_LEN ||
	    memcmp(sk->p + ED25519_LEN, pk->p, ED25519_LEN) != 0)
		return -EINVAL;
	pkey = EVP_PKEY_new_raw_private_key_ex(
	    NULL, "ED25519", NULL, sk->p, ED25519_LEN);
	if (pkey != NULL && EVP_PKEY_get_raw_public_key(pkey, derived, &n) &&
	    n == ED25519_LEN && memcmp(derived, pk->p, ED25519_LEN) == 0)
		r = 0;
	EVP_PKEY_free(pkey);
	return r;
}

/* That modulus N is P times Q, and D and IQMP are not zero.  The cheap
 * check: primality would cost seconds for a large key. */
static int
rsa_check(const struct pubkey *pub, const struct span *d,
    const struct span *iqmp, const struct span *p, const struct span *q)
{
	BIGNUM *bp = NULL, *bq = NULL, *prod = NULL, *n = NULL;
	BN_CTX *ctx = NULL;
	int r = -ENOMEM;

	if (d->len == 0 || iqmp->len == 0 || p->len == 0 || q->len == 0)
		return -EINVAL;
	if ((ctx = BN_CTX_secure_new()) == NULL ||
	    (bp = BN_secure_new()) == NULL || (bq = BN_secure_new()) == NULL ||
	    (prod = BN_new()) == NULL || (n = BN_new()) == NULL ||
	    BN_bin2bn(p->p, (int)p->len, bp) == NULL ||
	    BN_bin2bn(q->p, (int)q->len, bq) == NULL ||
	    BN_bin2bn(pub->n.p, (int)pub->n.len, n) == NULL ||
	    !BN_mul(prod, bp, bq, ctx))
		goto out;
	r = BN_cmp(prod, n) == 0 ? 0 : -EINVAL;
out:
	BN_clear_free(bp);
	BN_clear_free(bq);
	BN_clear_free(prod);
	BN_free(n);
	BN_CTX_free(ctx);
	return r;
}

/* A whole public key blob, into *pub (spans into BLOB). */
static int
parse_blob(const struct span *blob, struct pubkey *pub)
{
	struct rbuf r = { blob->p, blob->len };
	const struct kind *k;
	struct span name;
	int rv;

	if (get_string(&r, &name) < 0)
		return -EINVAL;
	if ((rv = kind_named(&name, &k)) < 0)
		return rv;
	if (get_public(&r, k, false, pub) < 0 || r.left != 0)
		return -EINVAL;
	return k->curve != NULL ? ec_check(k, &pub->q, NULL) : 0;
}

/* An RSA key's fields as OpenSSH has them, spans into what was read. */
struct rsa_fields {
	struct span n, e, d, iqmp, p, q;
};

/*
 * An unencrypted private section: equal check ints, the type and public
 * fields of PUB again, a private key that is PUB's, a comment, then
 * padding 1, 2, 3... to a whole number of blocks.  An RSA key's fields
 * into *RSA when it is not NULL.
 */
static int
parse_private(
    const struct span *priv, const struct pubkey *pub, struct rsa_fields *rsa)
{
	struct rbuf r = { priv->p, priv->len };
	struct span name, d, iqmp, p, q, sk, comment;
	const struct kind *k = pub->k;
	struct pubkey again;
	uint32_t check1, check2;
	size_t i;
	int rv;

	if (priv->len % BLOCK != 0 || get_u32(&r, &check1) < 0 ||
	    get_u32(&r, &check2) < 0 || check1 != check2 ||
	    get_string(&r, &name) < 0 || !span_is(&name, k->name) ||
	    get_public(&r, k, true, &again) < 0 || !same_public(pub, &again))
		return -EINVAL;
	if (k->type == SSHKEY_RSA) {
		if (get_mpint(&r, &d) < 0 || get_mpint(&r, &iqmp) < 0 ||
		    get_mpint(&r, &p) < 0 || get_mpint(&r, &q) < 0)
			return -EINVAL;
		rv = rsa_check(pub, &d, &iqmp, &p, &q);
		if (rsa != NULL) {
			rsa->n = pub->n;
			rsa->e = pub->e;
			rsa->d = d;
			rsa->iqmp = iqmp;
			rsa->p = p;
			rsa->q = q;
		}
	} else if (k->curve != NULL) {
		if (get_mpint(&r, &d) < 0)
			return -EINVAL;
		rv = ec_check(k, &pub->q, &d);
	} else {
		if (get_string(&r, &sk) < 0)
			return -EINVAL;
		rv = ed25519_check(&pub->pk, &sk);
	}
	if (rv < 0)
		return rv;
	if (get_string(&r, &comment) < 0)
		return -EINVAL;
	for (i = 1; r.left > 0; i++, r.p++, r.left--)
		if (r.p[0] != (uint8_t)i)
			return -EINVAL;
	return 0;
}

/*
 * The binary openssh-key-v1 structure BIN (LEN bytes).  An encrypted
 * key's private section is not read: the public blob in the clear says
 * what it is.  An unencrypted RSA key's fields into *RSA, when not NULL.
 */
static int
parse_container(const uint8_t *bin, size_t len, struct sshkey_info *info,
    struct rsa_fields *rsa)
{
	struct rbuf r = { bin, len };
	struct span cipher, kdf, kdfopts, blob, priv;
	struct pubkey pub;
	uint32_t nkeys;
	bool encrypted;
	int rv;

	if (len < sizeof(AUTH_MAGIC) ||
	    memcmp(bin, AUTH_MAGIC, sizeof(AUTH_MAGIC)) != 0)
		return -EINVAL;
	r.p += sizeof(AUTH_MAGIC);
	r.left -= sizeof(AUTH_MAGIC);
	if (get_string(&r, &cipher) < 0 || get_string(&r, &kdf) < 0 ||
	    get_string(&r, &kdfopts) < 0 || get_u32(&r, &nkeys) < 0 ||
	    nkeys != 1 || get_string(&r, &blob) < 0 ||
	    get_string(&r, &priv) < 0)
		return -EINVAL;
	encrypted = !span_is(&cipher, "none");
	if (encrypted) {
		/* OpenSSH's one KDF; an AEAD cipher's tag may follow. */
		if (cipher.len == 0 || !span_is(&kdf, "bcrypt") ||
		    kdfopts.len == 0 || r.left > AUTHLEN_MAX)
			return -EINVAL;
	} else if (!span_is(&kdf, "none") || kdfopts.len != 0 || r.left != 0)
		return -EINVAL;
	if ((rv = parse_blob(&blob, &pub)) < 0)
		return rv;
	if (!encrypted && (rv = parse_private(&priv, &pub, rsa)) < 0)
		return rv;
	if ((info->blob = malloc(blob.len)) == NULL)
		return -ENOMEM;
	memcpy(info->blob, blob.p, blob.len);
	info->bloblen = blob.len;
	info->type = pub.k->type;
	info->bits = pub.bits;
	info->encrypted = encrypted;
	return 0;
}

/*
 * The bytes armored in TEXT (LEN, MARK_BEGIN at its start), into a new
 * secret: lines of base64 up to a line that is MARK_END, then nothing but
 * white space.  Line ends may be CRLF.
 */
static int
unarmor(const char *text, size_t len, struct secret **ret)
{
	const char *p = text + strlen(MARK_BEGIN), *end = text + len, *e, *c;
	struct secret *b64 = NULL, *bin = NULL;
	size_t n = 0, binlen, got;
	char *o;
	int r = -EINVAL;

	if (p < end && *p == '\r')
		p++;
	if (p >= end || *p != '\n')
		return -EINVAL;
	p++;
	e = memmem(p, (size_t)(end - p), MARK_END, strlen(MARK_END));
	if (e == NULL || (e > p && e[-1] != '\n'))
		return -EINVAL;
	for (c = e + strlen(MARK_END); c < end; c++)
		if (!is_space(*c))
			return -EINVAL;
	if ((r = secret_new(NULL, (size_t)(e - p), &b64)) < 0)
		return r;
	o = secret_buf(b64);
	for (c = p; c < e; c++)
		if (*c != '\n' && *c != '\r')
			o[n++] = *c;
	if ((r = base64_decoded_len(o, n, &binlen)) < 0 ||
	    (r = secret_new(NULL, binlen, &bin)) < 0)
		goto out;
	if (base64_decode(o, n, secret_buf(bin), binlen, &got) < 0 ||
	    got != binlen) {
		r = -EINVAL;
		goto out;
	}
	*ret = bin;
	bin = NULL;
out:
	secret_free(b64);
	secret_free(bin);
	return r;
}

static int
inspect_openssh(const char *text, size_t len, struct sshkey_info *info)
{
	struct secret *bin = NULL;
	int r;

	if ((r = unarmor(text, len, &bin)) < 0)
		return r;
	r = parse_container(secret_data(bin), secret_len(bin), info, NULL);
	secret_free(bin);
	return r;
}

/* OpenSSL's PEM password callback: the passphrase, or none.  Without a
 * callback OpenSSL would prompt on the terminal. */
static int
pass_cb(char *buf, int size, int rwflag, void *u)
{
	const struct secret *pass = u;
	size_t n;

	(void)rwflag;
	if (pass == NULL || size < 0 || secret_len(pass) > (size_t)size)
		return -1;
	n = secret_len(pass);
	if (n > 0)
		memcpy(buf, secret_data(pass), n);
	return (int)n;
}

/* PKEY, one of ours, into INFO. */
static int
describe(const EVP_PKEY *pkey, struct sshkey_info *info)
{
	const struct kind *k = NULL;
	char group[64];
	size_t i, glen;
	int bits, r;

	if (EVP_PKEY_is_a(pkey, "RSA")) {
		k = kind_of(SSHKEY_RSA);
		bits = EVP_PKEY_get_bits(pkey);
		if (bits <= 0 || bits > SSHKEY_RSA_BITS_MAX)
			return -ENOTSUP;
	} else if (EVP_PKEY_is_a(pkey, "ED25519")) {
		k = kind_of(SSHKEY_ED25519);
		bits = k->bits;
	} else if (EVP_PKEY_is_a(pkey, "EC")) {
		/* A key with explicit curve parameters has no group name. */
		if (!EVP_PKEY_get_utf8_string_param(pkey,
			OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group),
			&glen))
			return -ENOTSUP;
		for (i = 0; i < NKINDS && k == NULL; i++)
			if (kinds[i].group != NULL &&
			    (strcmp(group, kinds[i].group) == 0 ||
				strcmp(group, kinds[i].nist) == 0))
				k = &kinds[i];
		if (k == NULL)
			return -ENOTSUP;
		bits = k->bits;
	} else
		return -ENOTSUP;
	if ((r = public_blob(pkey, k, &info->blob, &info->bloblen)) < 0)
		return r == -ENOMEM ? r : -EINVAL;
	info->type = k->type;
	info->bits = bits;
	return 0;
}

/*
 * A PEM private key (TEXT, LEN, "-----BEGIN " at its start) through
 * OpenSSL.  One block, of a label we read, and nothing but white space
 * after it: OpenSSL would skip a block it cannot read and decode the next,
 * so a text of two could be described as one key and used as another.
 * Whether it is encrypted is read from its armor: PKCS#8's label, or the
 * traditional formats' Proc-Type header; so a key that does not decode is
 * -EKEYREJECTED when encrypted (OpenSSL cannot tell a wrong passphrase
 * from a damaged key), -EINVAL when not.  The key into *RET, whether it
 * was encrypted into *RET_ENCRYPTED.
 */
static int
read_pem(const char *text, size_t len, const struct secret *pass,
    EVP_PKEY **ret, bool *ret_encrypted)
{
	static const char *const labels[] = {
		"RSA PRIVATE KEY", "EC PRIVATE KEY", "PRIVATE KEY",
		"ENCRYPTED PRIVATE KEY", "DSA PRIVATE KEY", /* for -ENOTSUP */
	};
	const char *label = text + strlen("-----BEGIN "), *e, *c;
	size_t left = len - strlen("-----BEGIN "), i, n;
	char end[64];
	EVP_PKEY *pkey;
	BIO *bio;
	bool encrypted;

	for (i = 0; i < sizeof(labels) / sizeof(labels[0]); i++) {
		n = strlen(labels[i]);
		if (left >= n + 5 && memcmp(label, labels[i], n) == 0 &&
		    memcmp(label + n, "-----", 5) == 0)
			break;
	}
	if (i == sizeof(labels) / sizeof(labels[0]) || len > INT_MAX)
		return -EINVAL;
	n = (size_t)snprintf(end, sizeof(end), "-----END %s-----", labels[i]);
	e = memmem(label, left, end, n);
	if (e == NULL)
		return -EINVAL;
	for (c = e + n; c < text + len; c++)
		if (!is_space(*c))
			return -EINVAL;
	len = (size_t)(e + n - text);
	encrypted = strcmp(labels[i], "ENCRYPTED PRIVATE KEY") == 0 ||
	    memmem(text, len, "Proc-Type: 4,ENCRYPTED", 22) != NULL;
	if ((bio = BIO_new_mem_buf(text, (int)len)) == NULL)
		return -ENOMEM;
	pkey = PEM_read_bio_PrivateKey_ex(
	    bio, NULL, pass_cb, (void *)pass, NULL, NULL);
	BIO_free(bio);
	if (pkey == NULL) {
		if (ERR_GET_REASON(ERR_peek_last_error()) ==
		    ERR_R_MALLOC_FAILURE)
			return -ENOMEM;
		return encrypted ? -EKEYREJECTED : -EINVAL;
	}
	*ret = pkey;
	*ret_encrypted = encrypted;
	return 0;
}

static int
inspect_pem(const char *text, size_t len, const struct secret *pass,
    struct sshkey_info *info)
{
	EVP_PKEY *pkey = NULL;
	bool encrypted;
	int r;

	if ((r = read_pem(text, len, pass, &pkey, &encrypted)) < 0)
		return r;
	if ((r = describe(pkey, info)) == 0)
		info->encrypted = encrypted;
	EVP_PKEY_free(pkey);
	return r;
}

int
sshkey_inspect(const struct secret *text, const struct secret *passphrase,
    struct sshkey_info *info)
{
	const char *p;
	size_t len;
	int r;

	memset(info, 0, sizeof(*info));
	if (text == NULL)
		return -EINVAL;
	p = trim_start(text, &len);
	if (starts(p, len, MARK_BEGIN))
		r = inspect_openssh(p, len, info);
	else if (starts(p, len, "-----BEGIN "))
		r = inspect_pem(p, len, passphrase, info);
	else
		r = -EINVAL;
	if (r < 0)
		sshkey_info_clear(info);
	ERR_clear_error();
	return r;
}

int
sshkey_public_line(
    const struct sshkey_info *info, const char *comment, char *buf, size_t size)
{
	enum sshkey_type t;
	const char *name;
	size_t nlen, blen, clen = 0, need;

	if (info == NULL || info->blob == NULL ||
	    sshkey_blob_type(info->blob, info->bloblen, &t) < 0 ||
	    t != info->type)
		return -EINVAL;
	if (comment != NULL) {
		if (strpbrk(comment, "\r\n") != NULL)
			return -EINVAL;
		clen = strlen(comment);
	}
	name = sshkey_type_name(t);
	nlen = strlen(name);
	blen = base64_encoded_len(info->bloblen);
	if (blen == SIZE_MAX || clen > SIZE_MAX / 2 - blen)
		return -EINVAL;
	need = nlen + 1 + blen + (clen > 0 ? 1 + clen : 0) + 1;
	if (size < need)
		return -ENOSPC;
	memcpy(buf, name, nlen);
	buf[nlen] = ' ';
	buf += nlen + 1;
	buf += base64_encode_raw(info->blob, info->bloblen, 0, buf);
	if (clen > 0) {
		*buf++ = ' ';
		memcpy(buf, comment, clen);
		buf += clen;
	}
	*buf = '\0';
	return 0;
}

int
sshkey_blob_type(const uint8_t *blob, size_t len, enum sshkey_type *ret)
{
	struct rbuf r = { blob, len };
	const struct kind *k;
	struct span name;
	int rv;

	if (blob == NULL || get_string(&r, &name) < 0)
		return -EINVAL;
	if ((rv = kind_named(&name, &k)) < 0)
		return rv;
	*ret = k->type;
	return 0;
}

int
sshkey_fingerprint(const uint8_t *blob, size_t len, char *buf, size_t size)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	size_t n;

	if (size < SSHKEY_FINGERPRINT_SIZE)
		return -ENOSPC;
	if ((blob == NULL && len > 0) ||
	    !EVP_Digest(blob, len, md, &mdlen, EVP_sha256(), NULL) ||
	    mdlen != 32) {
		ERR_clear_error();
		return -EIO;
	}
	memcpy(buf, "SHA256:", 7);
	n = base64_encode_raw(md, mdlen, BASE64_NOPAD, buf + 7);
	buf[7 + n] = '\0';
	return 0;
}

int
sshkey_blob_retype(const uint8_t *blob, size_t len, const char *name,
    uint8_t **ret, size_t *ret_len)
{
	struct rbuf r = { blob, len };
	struct span old;
	size_t nlen;
	uint8_t *out;

	*ret = NULL;
	*ret_len = 0;
	if (blob == NULL || name == NULL || get_string(&r, &old) < 0 ||
	    old.len == 0)
		return -EINVAL;
	nlen = strlen(name);
	if (nlen == 0 || nlen > UINT32_MAX || r.left > SIZE_MAX - 4 - nlen)
		return -EINVAL;
	if ((out = malloc(4 + nlen + r.left)) == NULL)
		return -ENOMEM;
	out[0] = (uint8_t)(nlen >> 24);
	out[1] = (uint8_t)(nlen >> 16);
	out[2] = (uint8_t)(nlen >> 8);
	out[3] = (uint8_t)nlen;
	memcpy(out + 4, name, nlen);
	if (r.left > 0)
		memcpy(out + 4 + nlen, r.p, r.left);
	*ret = out;
	*ret_len = 4 + nlen + r.left;
	return 0;
}

/*
 * Signing.  An OpenSSH-format RSA key becomes an EVP_PKEY from its fields
 * with the CRT exponents OpenSSH does not store (d mod p-1, d mod q-1),
 * so that OpenSSL signs by CRT and not, slowly, with d; every private
 * BIGNUM is in the secure heap and cleared when freed.
 */

/* A private BIGNUM from the span S, constant time in what it is used for. */
static BIGNUM *
secure_bn(const struct span *s)
{
	BIGNUM *bn = BN_secure_new();

	if (bn == NULL)
		return NULL;
	if (BN_bin2bn(s->p, (int)s->len, bn) == NULL) {
		BN_clear_free(bn);
		return NULL;
	}
	BN_set_flags(bn, BN_FLG_CONSTTIME);
	return bn;
}

/*
 * The RSA key of fields F (parse_private has checked n = p q) as an
 * EVP_PKEY into *RET.  -EINVAL when iqmp is not q^-1 mod p: OpenSSL would
 * notice the CRT result is wrong and sign with d instead, so the key would
 * work, but it is not what OpenSSH writes.
 */
static int
rsa_from_fields(const struct rsa_fields *f, EVP_PKEY **ret)
{
	BIGNUM *n = NULL, *e = NULL, *d = NULL, *p = NULL, *q = NULL;
	BIGNUM *iqmp = NULL, *dmp1 = NULL, *dmq1 = NULL, *t = NULL;
	OSSL_PARAM_BLD *bld = NULL;
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	BN_CTX *bnctx = NULL;
	int r = -ENOMEM;

	if ((bnctx = BN_CTX_secure_new()) == NULL ||
	    (n = BN_bin2bn(f->n.p, (int)f->n.len, NULL)) == NULL ||
	    (e = BN_bin2bn(f->e.p, (int)f->e.len, NULL)) == NULL ||
	    (d = secure_bn(&f->d)) == NULL || (p = secure_bn(&f->p)) == NULL ||
	    (q = secure_bn(&f->q)) == NULL ||
	    (iqmp = secure_bn(&f->iqmp)) == NULL ||
	    (dmp1 = BN_secure_new()) == NULL ||
	    (dmq1 = BN_secure_new()) == NULL || (t = BN_secure_new()) == NULL)
		goto out;
	BN_set_flags(t, BN_FLG_CONSTTIME);
	r = -EIO;
	if (!BN_mod_mul(t, iqmp, q, p, bnctx))
		goto out;
	if (!BN_is_one(t)) {
		r = -EINVAL;
		goto out;
	}
	if (!BN_sub(t, p, BN_value_one()) || !BN_mod(dmp1, d, t, bnctx) ||
	    !BN_sub(t, q, BN_value_one()) || !BN_mod(dmq1, d, t, bnctx))
		goto out;
	r = -ENOMEM;
	if ((bld = OSSL_PARAM_BLD_new()) == NULL ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e) ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_D, d) ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_FACTOR1, p) ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_FACTOR2, q) ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_EXPONENT1, dmp1) ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_EXPONENT2, dmq1) ||
	    !OSSL_PARAM_BLD_push_BN(
		bld, OSSL_PKEY_PARAM_RSA_COEFFICIENT1, iqmp) ||
	    (params = OSSL_PARAM_BLD_to_param(bld)) == NULL ||
	    (ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL)) == NULL)
		goto out;
	r = -EIO;
	if (EVP_PKEY_fromdata_init(ctx) <= 0 ||
	    EVP_PKEY_fromdata(ctx, ret, EVP_PKEY_KEYPAIR, params) <= 0)
		goto out;
	r = 0;
out:
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params); /* clears the secure part, with d, p, q... */
	OSSL_PARAM_BLD_free(bld);
	BN_free(n);
	BN_free(e);
	BN_clear_free(d);
	BN_clear_free(p);
	BN_clear_free(q);
	BN_clear_free(iqmp);
	BN_clear_free(dmp1);
	BN_clear_free(dmq1);
	BN_clear_free(t);
	BN_CTX_free(bnctx);
	return r;
}

/* The RSA key in OpenSSH-format TEXT (LEN, MARK_BEGIN at its start). */
static int
load_openssh_rsa(const char *text, size_t len, EVP_PKEY **ret)
{
	struct sshkey_info info = { 0 };
	struct rsa_fields f;
	struct secret *bin = NULL;
	int r;

	memset(&f, 0, sizeof(f));
	if ((r = unarmor(text, len, &bin)) < 0)
		return r;
	r = parse_container(secret_data(bin), secret_len(bin), &info, &f);
	if (r == 0 && (info.type != SSHKEY_RSA || info.encrypted))
		r = -ENOTSUP; /* bcrypt_pbkdf is not in OpenSSL */
	if (r == 0)
		r = rsa_from_fields(&f, ret);
	sshkey_info_clear(&info);
	secret_free(bin); /* f's spans pointed into it */
	return r;
}

/*
 * PKEY's RSASSA-PKCS1-v1_5 signature of DATA over MD into a malloc'd
 * buffer of the modulus' size, then verified: a key whose d is not its e's
 * inverse signs wrong (-EINVAL), which its holder would only learn from a
 * server's refusal.  A PEM key is whatever its numbers are (a damaged one
 * can decrypt to any), so OpenSSL failing to sign with a key it read is
 * -EINVAL too, unless it ran out of memory.
 */
static int
rsa_sign(EVP_PKEY *pkey, const char *md, const uint8_t *data, size_t len,
    uint8_t **ret, size_t *ret_len)
{
	static const uint8_t empty[1];
	EVP_MD_CTX *sctx = NULL, *vctx = NULL;
	EVP_PKEY_CTX *pctx;
	int size = EVP_PKEY_get_size(pkey), r = -ENOMEM;
	uint8_t *sig = NULL;
	size_t siglen;

	if (size <= 0)
		return -EIO;
	if (data == NULL)
		data = empty;
	if ((sig = malloc((size_t)size)) == NULL ||
	    (sctx = EVP_MD_CTX_new()) == NULL ||
	    (vctx = EVP_MD_CTX_new()) == NULL)
		goto out;
	r = -EIO;
	siglen = (size_t)size;
	if (EVP_DigestSignInit_ex(sctx, &pctx, md, NULL, NULL, pkey, NULL) !=
		1 ||
	    EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) != 1)
		goto out;
	if (EVP_DigestSign(sctx, sig, &siglen, data, len) != 1 ||
	    siglen != (size_t)size) {
		r = ERR_GET_REASON(ERR_peek_last_error()) ==
			ERR_R_MALLOC_FAILURE
		    ? -ENOMEM
		    : -EINVAL;
		goto out;
	}
	if (EVP_DigestVerifyInit_ex(vctx, &pctx, md, NULL, NULL, pkey, NULL) !=
		1 ||
	    EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) != 1)
		goto out;
	if (EVP_DigestVerify(vctx, sig, siglen, data, len) != 1) {
		r = -EINVAL;
		goto out;
	}
	*ret = sig;
	*ret_len = siglen;
	sig = NULL;
	r = 0;
out:
	EVP_MD_CTX_free(sctx);
	EVP_MD_CTX_free(vctx);
	free(sig);
	return r;
}

int
sshkey_sign_rsa(const struct secret *text, const struct secret *passphrase,
    int hash_bits, const uint8_t *data, size_t len, uint8_t **ret_sig,
    size_t *ret_len)
{
	EVP_PKEY *pkey = NULL;
	const char *p;
	bool encrypted;
	size_t tlen;
	int r, bits;

	*ret_sig = NULL;
	*ret_len = 0;
	if (text == NULL || (hash_bits != 256 && hash_bits != 512) ||
	    (data == NULL && len > 0))
		return -EINVAL;
	p = trim_start(text, &tlen);
	if (starts(p, tlen, MARK_BEGIN))
		r = load_openssh_rsa(p, tlen, &pkey);
	else if (starts(p, tlen, "-----BEGIN ")) {
		r = read_pem(p, tlen, passphrase, &pkey, &encrypted);
		if (r == 0 && !EVP_PKEY_is_a(pkey, "RSA"))
			r = -ENOTSUP;
		if (r == 0 &&
		    ((bits = EVP_PKEY_get_bits(pkey)) <= 0 ||
			bits > SSHKEY_RSA_BITS_MAX))
			r = -ENOTSUP;
	} else
		r = -EINVAL;
	if (r == 0)
		r = rsa_sign(pkey, hash_bits == 256 ? "SHA256" : "SHA512", data,
		    len, ret_sig, ret_len);
	EVP_PKEY_free(pkey);
	ERR_clear_error();
	return r;
}
