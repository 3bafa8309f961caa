/*
 * test_sshkey: SSH key pairs (common/sshkey.c).  Keys it generates read
 * back as what was asked for; keys the real ssh-keygen wrote
 * (tests/unit/data/sshkey/, see its README) read as ssh-keygen's own .pub
 * and fingerprint say; damaged, truncated and tampered keys are refused.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/rsa.h>

#include "base64.h"
#include "secret.h"
#include "sshkey.h"

#define BEGIN "-----BEGIN OPENSSH PRIVATE KEY-----\n"
#define END "-----END OPENSSH PRIVATE KEY-----\n"

static const enum sshkey_type all_types[] = {
	SSHKEY_RSA,
	SSHKEY_ECDSA_P256,
	SSHKEY_ECDSA_P384,
	SSHKEY_ECDSA_P521,
	SSHKEY_ED25519,
};
#define NTYPES (sizeof(all_types) / sizeof(all_types[0]))

/* The fixture NAME's bytes into BUF (SIZE), NUL-terminated; its length. */
static size_t
read_fixture(const char *name, char *buf, size_t size)
{
	char path[512];
	size_t n;
	FILE *f;

	snprintf(path, sizeof(path), "%s/sshkey/%s", TEST_DATA_DIR, name);
	f = fopen(path, "r");
	if (f == NULL)
		fail_msg("cannot open %s", path);
	n = fread(buf, 1, size - 1, f);
	assert_true(n < size - 1);
	fclose(f);
	buf[n] = '\0';
	return n;
}

static struct secret *
load(const char *name)
{
	struct secret *s;
	char buf[16384];
	size_t n = read_fixture(name, buf, sizeof(buf));

	assert_int_equal(secret_new(buf, n, &s), 0);
	memset(buf, 0, sizeof(buf));
	return s;
}

static struct secret *
text_secret(const char *text, size_t len)
{
	struct secret *s;

	assert_int_equal(secret_new(text, len, &s), 0);
	return s;
}

/* The "TYPE BASE64" of fixture NAME.pub into BUF. */
static void
pub_fields(const char *name, char *buf, size_t size)
{
	char file[128], *sp;

	snprintf(file, sizeof(file), "%s.pub", name);
	read_fixture(file, buf, size);
	sp = strchr(buf, ' ');
	assert_non_null(sp);
	sp = strpbrk(sp + 1, " \n");
	if (sp != NULL)
		*sp = '\0';
}

/* The fingerprint ssh-keygen -l printed for NAME into BUF. */
static void
fixture_fingerprint(const char *name, char *buf, size_t size)
{
	char file[128], line[512], *p, *e;

	snprintf(file, sizeof(file), "%s.fp", name);
	read_fixture(file, line, sizeof(line));
	p = strchr(line, ' ');
	assert_non_null(p);
	p++;
	e = strchr(p, ' ');
	assert_non_null(e);
	*e = '\0';
	assert_true(strlen(p) < size);
	strcpy(buf, p);
}

/* The SSH wire blob of a "TYPE BASE64 ..." line, malloc'd. */
static uint8_t *
line_blob(const char *line, size_t *len)
{
	const char *b = strchr(line, ' ') + 1;
	size_t n = strcspn(b, " \n");
	uint8_t *blob = malloc(n);

	assert_non_null(blob);
	assert_int_equal(base64_decode(b, n, blob, n, len), 0);
	return blob;
}

static void
test_names(void **state)
{
	enum sshkey_type t;
	size_t i;

	(void)state;
	for (i = 0; i < NTYPES; i++) {
		const char *name = sshkey_type_name(all_types[i]);

		assert_non_null(name);
		t = SSHKEY_UNKNOWN;
		assert_int_equal(sshkey_type_from_name(name, &t), 0);
		assert_int_equal(t, all_types[i]);
	}
	assert_string_equal(sshkey_type_name(SSHKEY_RSA), "ssh-rsa");
	assert_string_equal(
	    sshkey_type_name(SSHKEY_ECDSA_P256), "ecdsa-sha2-nistp256");
	assert_string_equal(
	    sshkey_type_name(SSHKEY_ECDSA_P384), "ecdsa-sha2-nistp384");
	assert_string_equal(
	    sshkey_type_name(SSHKEY_ECDSA_P521), "ecdsa-sha2-nistp521");
	assert_string_equal(sshkey_type_name(SSHKEY_ED25519), "ssh-ed25519");
	assert_null(sshkey_type_name(SSHKEY_UNKNOWN));
	assert_null(sshkey_type_name((enum sshkey_type)99));
	assert_int_equal(sshkey_type_from_name("ssh-dss", &t), -EINVAL);
	assert_int_equal(sshkey_type_from_name("SSH-RSA", &t), -EINVAL);
	assert_int_equal(sshkey_type_from_name("ssh-rsa ", &t), -EINVAL);
	assert_int_equal(sshkey_type_from_name("", &t), -EINVAL);
	assert_int_equal(sshkey_type_from_name(NULL, &t), -EINVAL);
}

/* The binary openssh-key-v1 structure of armored TEXT, malloc'd. */
static uint8_t *
unarmor(const struct secret *text, size_t *len)
{
	const char *p = secret_data(text);
	size_t n = secret_len(text), i, j = 0;
	char *b64 = malloc(n);
	uint8_t *bin = malloc(n);

	assert_non_null(b64);
	assert_non_null(bin);
	assert_true(n > strlen(BEGIN) + strlen(END));
	for (i = strlen(BEGIN); i < n - strlen(END); i++)
		if (p[i] != '\n')
			b64[j++] = p[i];
	assert_int_equal(base64_decode(b64, j, bin, n, len), 0);
	free(b64);
	return bin;
}

/* BIN (LEN bytes) armored as a key, one base64 line. */
static struct secret *
armor(const uint8_t *bin, size_t len)
{
	size_t b64 = base64_encoded_len(len);
	size_t n = strlen(BEGIN) + b64 + 1 + strlen(END);
	struct secret *s;
	char *p;

	assert_int_equal(secret_new(NULL, n, &s), 0);
	p = secret_buf(s);
	memcpy(p, BEGIN, strlen(BEGIN));
	p += strlen(BEGIN);
	p += base64_encode_raw(bin, len, 0, p);
	*p++ = '\n';
	memcpy(p, END, strlen(END));
	return s;
}

/* That TEXT is laid out as ssh-keygen writes: the markers, full lines of
 * 70 columns but the last, a newline after every line. */
static void
check_layout(const struct secret *text)
{
	const char *p = secret_data(text), *nl;
	size_t n = secret_len(text), body;

	assert_true(n > strlen(BEGIN) + strlen(END));
	assert_memory_equal(p, BEGIN, strlen(BEGIN));
	assert_memory_equal(p + n - strlen(END), END, strlen(END));
	p += strlen(BEGIN);
	body = n - strlen(BEGIN) - strlen(END);
	while (body > 0) {
		nl = memchr(p, '\n', body);
		assert_non_null(nl);
		if ((size_t)(nl - p) + 1 < body)
			assert_int_equal(nl - p, 70);
		else
			assert_in_range(nl - p, 1, 70);
		body -= (size_t)(nl - p) + 1;
		p = nl + 1;
	}
}

static const int want_bits[] = { 2048, 256, 384, 521, 256 };

static void
test_generate(void **state)
{
	static const char comment[] = "rotad@test";
	struct sshkey_info info, again;
	struct secret *text, *text2;
	enum sshkey_type t;
	uint8_t *bin, *pad;
	size_t i, j, len, privlen, off;
	char line[2048];

	(void)state;
	for (i = 0; i < NTYPES; i++) {
		assert_int_equal(
		    sshkey_generate(all_types[i], 2048, comment, &text), 0);
		check_layout(text);
		assert_int_equal(sshkey_inspect(text, NULL, &info), 0);
		assert_int_equal(info.type, all_types[i]);
		assert_int_equal(info.bits, want_bits[i]);
		assert_false(info.encrypted);
		assert_non_null(info.blob);
		assert_int_equal(
		    sshkey_blob_type(info.blob, info.bloblen, &t), 0);
		assert_int_equal(t, all_types[i]);

		/* The structure as OpenSSH writes it, without a cipher. */
		bin = unarmor(text, &len);
		assert_memory_equal(bin,
		    "openssh-key-v1\0"
		    "\0\0\0\4none\0\0\0\4none\0\0\0\0"
		    "\0\0\0\1",
		    39);
		assert_memory_equal(bin + 39, "\0\0", 2);
		assert_int_equal(bin[41] << 8 | bin[42], info.bloblen);
		assert_memory_equal(bin + 43, info.blob, info.bloblen);
		off = 43 + info.bloblen;
		privlen = (size_t)bin[off + 2] << 8 | bin[off + 3];
		assert_int_equal(off + 4 + privlen, len);
		assert_int_equal(privlen % 8, 0);
		/* Two equal check ints, the comment, padding 1, 2, 3... */
		assert_memory_equal(bin + off + 4, bin + off + 8, 4);
		pad = memmem(bin + off, len - off, comment, strlen(comment));
		assert_non_null(pad);
		assert_int_equal(pad[-1], strlen(comment));
		pad += strlen(comment);
		for (j = 1; pad < bin + len; pad++, j++)
			assert_int_equal(*pad, j);
		assert_in_range(j, 1, 8);
		free(bin);

		/* A public line of it, with and without a comment. */
		assert_int_equal(
		    sshkey_public_line(&info, comment, line, sizeof(line)), 0);
		assert_true(strncmp(line, sshkey_type_name(all_types[i]),
				strlen(sshkey_type_name(all_types[i]))) == 0);
		assert_string_equal(
		    line + strlen(line) - strlen(comment) - 1, " rotad@test");

		/* Every key is new. */
		assert_int_equal(
		    sshkey_generate(all_types[i], 2048, comment, &text2), 0);
		assert_int_equal(sshkey_inspect(text2, NULL, &again), 0);
		assert_int_equal(again.type, info.type);
		assert_false(again.bloblen == info.bloblen &&
		    memcmp(again.blob, info.blob, info.bloblen) == 0);
		sshkey_info_clear(&again);
		secret_free(text2);
		sshkey_info_clear(&info);
		assert_null(info.blob);
		secret_free(text);
	}
}

/* With no bits, RSA keys are SSHKEY_RSA_BITS_DEFAULT (4096) bits. */
static void
test_generate_default_rsa(void **state)
{
	struct sshkey_info info;
	struct secret *text;

	(void)state;
	assert_int_equal(sshkey_generate(SSHKEY_RSA, 0, NULL, &text), 0);
	check_layout(text);
	assert_int_equal(sshkey_inspect(text, NULL, &info), 0);
	assert_int_equal(info.type, SSHKEY_RSA);
	assert_int_equal(info.bits, SSHKEY_RSA_BITS_DEFAULT);
	assert_int_equal(info.bits, 4096);
	sshkey_info_clear(&info);
	secret_free(text);
}

static void
test_generate_invalid(void **state)
{
	static const int bad_bits[] = { -1, 1024, 2047, 16385, 1 << 20 };
	struct secret *text = (struct secret *)&text;
	size_t i;

	(void)state;
	assert_int_equal(
	    sshkey_generate(SSHKEY_UNKNOWN, 0, "", &text), -EINVAL);
	assert_null(text);
	assert_int_equal(
	    sshkey_generate((enum sshkey_type)99, 0, "", &text), -EINVAL);
	for (i = 0; i < sizeof(bad_bits) / sizeof(bad_bits[0]); i++) {
		assert_int_equal(
		    sshkey_generate(SSHKEY_RSA, bad_bits[i], "", &text),
		    -EINVAL);
		assert_null(text);
	}
}

/* What ssh-keygen wrote, and what the key is. */
static const struct fixture {
	const char *name;
	enum sshkey_type type;
	int bits;
	bool encrypted;
	bool pem;
} fixtures[] = {
	{ "rsa3072", SSHKEY_RSA, 3072, false, false },
	{ "ecdsa256", SSHKEY_ECDSA_P256, 256, false, false },
	{ "ecdsa384", SSHKEY_ECDSA_P384, 384, false, false },
	{ "ecdsa521", SSHKEY_ECDSA_P521, 521, false, false },
	{ "ed25519", SSHKEY_ED25519, 256, false, false },
	{ "ed25519_enc", SSHKEY_ED25519, 256, true, false },
	{ "rsa_pem", SSHKEY_RSA, 2048, false, true },
	{ "ec_pem", SSHKEY_ECDSA_P384, 384, false, true },
	{ "rsa_pkcs8", SSHKEY_RSA, 2048, false, true },
	{ "ed25519_pkcs8", SSHKEY_ED25519, 256, false, true },
	{ "rsa_pem_enc", SSHKEY_RSA, 2048, true, true },
	{ "ecdsa_pkcs8_enc", SSHKEY_ECDSA_P256, 256, true, true },
};
#define NFIXTURES (sizeof(fixtures) / sizeof(fixtures[0]))

/* Each fixture reads as its .pub and .fp say; encrypted PEM with the
 * passphrase, encrypted OpenSSH without. */
static void
test_fixtures(void **state)
{
	struct secret *text, *pass = load("passphrase");
	const struct fixture *f;
	struct sshkey_info info;
	char want[2048], line[2048], fp[64], fp_want[64];
	size_t i;

	(void)state;
	for (i = 0; i < NFIXTURES; i++) {
		f = &fixtures[i];
		text = load(f->name);
		assert_int_equal(
		    sshkey_inspect(
			text, f->encrypted && f->pem ? pass : NULL, &info),
		    0);
		assert_int_equal(info.type, f->type);
		assert_int_equal(info.bits, f->bits);
		assert_int_equal(info.encrypted, f->encrypted);
		pub_fields(f->name, want, sizeof(want));
		assert_int_equal(
		    sshkey_public_line(&info, NULL, line, sizeof(line)), 0);
		assert_string_equal(line, want);
		assert_int_equal(
		    sshkey_fingerprint(info.blob, info.bloblen, fp, sizeof(fp)),
		    0);
		fixture_fingerprint(f->name, fp_want, sizeof(fp_want));
		assert_string_equal(fp, fp_want);
		sshkey_info_clear(&info);

		/* A passphrase given to a key that needs none changes
		 * nothing. */
		if (!f->encrypted || !f->pem) {
			assert_int_equal(sshkey_inspect(text, pass, &info), 0);
			assert_int_equal(info.type, f->type);
			assert_int_equal(info.encrypted, f->encrypted);
			sshkey_info_clear(&info);
		}
		secret_free(text);
	}
	secret_free(pass);
}

/* An encrypted PEM key wants its passphrase, and only that one. */
static void
test_encrypted_pem(void **state)
{
	static const char *const names[] = { "rsa_pem_enc", "ecdsa_pkcs8_enc" };
	struct secret *text, *wrong, *empty, *pass = load("passphrase");
	struct sshkey_info info;
	size_t i;

	(void)state;
	wrong = text_secret("fixture passphrase 2", 20);
	empty = text_secret("", 0);
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		text = load(names[i]);
		assert_int_equal(
		    sshkey_inspect(text, NULL, &info), -EKEYREJECTED);
		assert_null(info.blob);
		assert_int_equal(info.type, SSHKEY_UNKNOWN);
		assert_int_equal(
		    sshkey_inspect(text, wrong, &info), -EKEYREJECTED);
		assert_int_equal(
		    sshkey_inspect(text, empty, &info), -EKEYREJECTED);
		assert_int_equal(sshkey_inspect(text, pass, &info), 0);
		assert_true(info.encrypted);
		sshkey_info_clear(&info);
		secret_free(text);
	}
	secret_free(empty);
	secret_free(wrong);
	secret_free(pass);
}

/* Keys of other types: DSA in OpenSSH's format, secp256k1 in SEC1, RSA
 * of 16392 bits (a fake: random numbers in PKCS#1's shape). */
static void
test_unsupported(void **state)
{
	static const char *const names[] = { "dsa", "secp256k1_pem",
		"rsa_huge_pem" };
	struct sshkey_info info;
	struct secret *text;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		text = load(names[i]);
		assert_int_equal(sshkey_inspect(text, NULL, &info), -ENOTSUP);
		assert_null(info.blob);
		secret_free(text);
	}
}

/* ssh-keygen -l's fingerprints of the fixtures' .pub blobs. */
static void
test_fingerprint(void **state)
{
	static const char *const names[] = { "rsa3072", "ecdsa256", "ecdsa384",
		"ecdsa521", "ed25519", "dsa", "ed25519_pkcs8" };
	char line[2048], fp[SSHKEY_FINGERPRINT_SIZE], want[64];
	uint8_t *blob;
	size_t i, len;

	(void)state;
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		pub_fields(names[i], line, sizeof(line));
		blob = line_blob(line, &len);
		fixture_fingerprint(names[i], want, sizeof(want));
		assert_int_equal(
		    sshkey_fingerprint(blob, len, fp, sizeof(fp)), 0);
		assert_string_equal(fp, want);
		assert_int_equal(strlen(fp), SSHKEY_FINGERPRINT_SIZE - 1);
		assert_int_equal(sshkey_fingerprint(blob, len, fp,
				     SSHKEY_FINGERPRINT_SIZE - 1),
		    -ENOSPC);
		free(blob);
	}
	/* The empty blob: SHA-256 of nothing. */
	assert_int_equal(sshkey_fingerprint(NULL, 0, fp, sizeof(fp)), 0);
	assert_string_equal(
	    fp, "SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU");
}

static void
test_public_line(void **state)
{
	struct secret *text = load("ed25519");
	struct sshkey_info info, other;
	char want[512], line[512];
	size_t need;

	(void)state;
	pub_fields("ed25519", want, sizeof(want));
	assert_int_equal(sshkey_inspect(text, NULL, &info), 0);
	assert_int_equal(sshkey_public_line(&info, "", line, sizeof(line)), 0);
	assert_string_equal(line, want);
	need = strlen(want) + 1;
	assert_int_equal(sshkey_public_line(&info, NULL, line, need), 0);
	assert_int_equal(
	    sshkey_public_line(&info, NULL, line, need - 1), -ENOSPC);
	assert_int_equal(sshkey_public_line(&info, "a b", line, need + 4), 0);
	assert_int_equal(strncmp(line, want, strlen(want)), 0);
	assert_string_equal(line + strlen(want), " a b");
	assert_int_equal(
	    sshkey_public_line(&info, "a b", line, need + 3), -ENOSPC);
	assert_int_equal(
	    sshkey_public_line(&info, "x\ny", line, sizeof(line)), -EINVAL);
	assert_int_equal(
	    sshkey_public_line(&info, "x\r", line, sizeof(line)), -EINVAL);
	/* The blob must be of the type INFO says. */
	other = info;
	other.type = SSHKEY_RSA;
	assert_int_equal(
	    sshkey_public_line(&other, NULL, line, sizeof(line)), -EINVAL);
	other.type = SSHKEY_ED25519;
	other.blob = NULL;
	assert_int_equal(
	    sshkey_public_line(&other, NULL, line, sizeof(line)), -EINVAL);
	assert_int_equal(
	    sshkey_public_line(NULL, NULL, line, sizeof(line)), -EINVAL);
	sshkey_info_clear(&info);
	sshkey_info_clear(NULL);
	secret_free(text);
}

static void
test_blob_type(void **state)
{
	static const struct {
		const char *blob;
		size_t len;
		int r;
		enum sshkey_type t;
	} v[] = {
		{ "\0\0\0\7ssh-rsa", 11, 0, SSHKEY_RSA },
		{ "\0\0\0\13ssh-ed25519\0\0\0\0", 19, 0, SSHKEY_ED25519 },
		{ "\0\0\0\23ecdsa-sha2-nistp521", 23, 0, SSHKEY_ECDSA_P521 },
		{ "\0\0\0\7ssh-dss", 11, -ENOTSUP, 0 },
		{ "\0\0\0\32sk-ssh-ed25519@openssh.com", 30, -ENOTSUP, 0 },
		{ "\0\0\0\10ssh-rsa", 11, -EINVAL, 0 },
		{ "\0\0\0\7ssh-rs", 10, -EINVAL, 0 },
		{ "\0\0\0", 3, -EINVAL, 0 },
		{ "", 0, -EINVAL, 0 },
		{ "\0\0\0\0", 4, -EINVAL, 0 },
		{ "\0\0\0\3a b", 7, -EINVAL, 0 },
		{ "\0\0\0\3a\1b", 7, -EINVAL, 0 },
		{ "\xff\xff\xff\xffssh-rsa", 11, -EINVAL, 0 },
	};
	enum sshkey_type t;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		t = SSHKEY_UNKNOWN;
		assert_int_equal(
		    sshkey_blob_type((const uint8_t *)v[i].blob, v[i].len, &t),
		    v[i].r);
		assert_int_equal(t, v[i].t);
	}
	assert_int_equal(sshkey_blob_type(NULL, 0, &t), -EINVAL);
}

static int
inspect_text(const char *text, size_t len, const struct secret *pass)
{
	struct sshkey_info info;
	struct secret *s = text_secret(text, len);
	int r = sshkey_inspect(s, pass, &info);

	if (r < 0)
		assert_null(info.blob);
	sshkey_info_clear(&info);
	secret_free(s);
	return r;
}

/* Not keys, or keys cut short: -EINVAL, never a crash. */
static void
test_garbage(void **state)
{
	static const char *const junk[] = {
		"",
		"   \n",
		"hello",
		"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOupXJeTYhU6IX8nKS+X/vmHRB"
		"hsSzURAo0b1ykyHfCF\n",
		BEGIN,
		BEGIN END,
		BEGIN "\n" END,
		BEGIN "AAAA\n" END,
		BEGIN "b3BlbnNzaC1rZXktdjEA\n" END,
		BEGIN "b3BlbnNzaC1rZXktdjEA AAAA\n" END,
		"-----BEGIN OPENSSH PRIVATE KEY-----" END,
		"-----BEGIN CERTIFICATE-----\nAAAA\n-----END "
		"CERTIFICATE-----\n",
		"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE "
		"KEY-----\n",
		"-----BEGIN RSA PRIVATE KEY-----\n-----END RSA PRIVATE "
		"KEY-----\n",
		"-----BEGIN PRIVATE KEY",
		"-----BEGIN ",
	};
	static const char bad_pem[] = "-----BEGIN EC PRIVATE KEY-----\nAAAA\n"
				      "-----END EC PRIVATE KEY-----\n";
	static const char *const names[] = { "rsa3072", "ecdsa256", "ecdsa521",
		"ed25519", "ed25519_enc", "rsa_pem", "ec_pem", "rsa_pkcs8",
		"ed25519_pkcs8" };
	char buf[8192];
	size_t i, n, len, step;

	(void)state;
	for (i = 0; i < sizeof(junk) / sizeof(junk[0]); i++)
		assert_int_equal(
		    inspect_text(junk[i], strlen(junk[i]), NULL), -EINVAL);
	assert_int_equal(
	    sshkey_inspect(NULL, NULL, &(struct sshkey_info){ .blob = NULL }),
	    -EINVAL);

	/* The markers must be lines of their own. */
	len = read_fixture("ed25519", buf, sizeof(buf));
	assert_int_equal(inspect_text(buf, len, NULL), 0);
	buf[strlen(BEGIN) - 1] = ' ';
	assert_int_equal(inspect_text(buf, len, NULL), -EINVAL);
	buf[strlen(BEGIN) - 1] = '\n';
	memmove(
	    buf + len - strlen(END) - 1, buf + len - strlen(END), strlen(END));
	assert_int_equal(inspect_text(buf, len - 1, NULL), -EINVAL);

	/* Every prefix short of the final newline (every few for PEM,
	 * whose decoders are slower). */
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		len = read_fixture(names[i], buf, sizeof(buf));
		assert_int_equal(inspect_text(buf, len, NULL), 0);
		assert_int_equal(inspect_text(buf, len - 1, NULL), 0);
		step = strncmp(buf, BEGIN, strlen(BEGIN)) == 0 ? 1 : 7;
		for (n = 0; n + 1 < len; n += step)
			if (inspect_text(buf, n, NULL) != -EINVAL)
				fail_msg("%s cut at %zu is not -EINVAL",
				    names[i], n);
		/* White space around it is fine; anything else after is
		 * not. */
		memmove(buf + 2, buf, len);
		buf[0] = '\n';
		buf[1] = ' ';
		memcpy(buf + len + 2, " \r\n", 3);
		assert_int_equal(inspect_text(buf, len + 5, NULL), 0);
		buf[len + 2] = 'x';
		assert_int_equal(inspect_text(buf, len + 5, NULL), -EINVAL);
	}

	/* Two PEM keys in one text: OpenSSL alone would read the first it
	 * can, here the second. */
	n = strlen(bad_pem);
	len = read_fixture("ec_pem", buf + n, sizeof(buf) - n);
	assert_int_equal(inspect_text(buf + n, len, NULL), 0);
	memcpy(buf, bad_pem, n);
	assert_int_equal(inspect_text(buf, n + len, NULL), -EINVAL);
	memset(buf, 0, sizeof(buf));
}

/* CRLF line ends are read as ssh-keygen's. */
static void
test_crlf(void **state)
{
	char buf[8192], crlf[16384];
	size_t i, j = 0, len = read_fixture("ecdsa384", buf, sizeof(buf));

	(void)state;
	for (i = 0; i < len; i++) {
		if (buf[i] == '\n')
			crlf[j++] = '\r';
		crlf[j++] = buf[i];
	}
	assert_int_equal(inspect_text(crlf, j, NULL), 0);
	memset(buf, 0, sizeof(buf));
	memset(crlf, 0, sizeof(crlf));
}

static uint8_t *
put32(uint8_t *p, size_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
	return p + 4;
}

static uint8_t *
putstr(uint8_t *p, const void *s, size_t len)
{
	p = put32(p, len);
	memcpy(p, s, len);
	return p + len;
}

/* Where the key's public component (RSA n, the EC point, the Ed25519
 * key) is in BLOB, and its length. */
static const uint8_t *
public_component(const uint8_t *blob, size_t *len)
{
	const uint8_t *p = blob;
	size_t n, skip;
	enum sshkey_type t;

	assert_int_equal(sshkey_blob_type(blob, 64, &t), 0);
	skip = t == SSHKEY_ED25519 ? 1 : 2; /* name; RSA e, EC curve */
	while (skip-- > 0)
		p += 4 +
		    ((size_t)p[0] << 24 | (size_t)p[1] << 16 |
			(size_t)p[2] << 8 | p[3]);
	n = (size_t)p[0] << 24 | (size_t)p[1] << 16 | (size_t)p[2] << 8 | p[3];
	*len = n;
	return p + 4;
}

static int
inspect_bin(const uint8_t *bin, size_t len)
{
	struct secret *text = armor(bin, len);
	struct sshkey_info info;
	int r = sshkey_inspect(text, NULL, &info);

	sshkey_info_clear(&info);
	secret_free(text);
	return r;
}

/*
 * A key whose parts disagree is refused: check ints, padding, trailing
 * bytes, a second key, a public key in the header not the private
 * section's, a private key not the public key's (every copy of the public
 * key replaced by another key's), and every prefix.
 */
static void
test_tampered(void **state)
{
	struct secret *a_text, *b_text;
	struct sshkey_info a, b;
	uint8_t *bin, *copy, *p;
	const uint8_t *a_pub, *b_pub;
	size_t i, len, n, a_len, b_len, privoff, pad;
	int replaced;

	(void)state;
	for (i = 0; i < NTYPES; i++) {
		assert_int_equal(
		    sshkey_generate(all_types[i], 2048, "t", &a_text), 0);
		assert_int_equal(
		    sshkey_generate(all_types[i], 2048, "t", &b_text), 0);
		assert_int_equal(sshkey_inspect(a_text, NULL, &a), 0);
		assert_int_equal(sshkey_inspect(b_text, NULL, &b), 0);
		bin = unarmor(a_text, &len);
		copy = malloc(len + 2);
		assert_non_null(copy);
		/* Re-armored as it is: fine, so what fails below fails for
		 * what was changed. */
		assert_int_equal(inspect_bin(bin, len), 0);
		privoff = 43 + a.bloblen + 4;

		memcpy(copy, bin, len);
		copy[privoff] ^= 1; /* check int */
		assert_int_equal(inspect_bin(copy, len), -EINVAL);

		/* The padding, when the comment "t" left room for any. */
		for (pad = len - 5; memcmp(bin + pad, "\0\0\0\1t", 5) != 0;
		     pad--)
			assert_true(pad > privoff);
		if (pad + 5 < len) {
			memcpy(copy, bin, len);
			copy[len - 1] ^= 0x40;
			assert_int_equal(inspect_bin(copy, len), -EINVAL);
		}

		memcpy(copy, bin, len);
		copy[len] = 0;
		assert_int_equal(inspect_bin(copy, len + 1), -EINVAL);

		/* The last byte of padding gone: the padding is still 1,
		 * 2, 3... but the section is no longer whole blocks. */
		if (pad + 5 < len) {
			memcpy(copy, bin, len);
			copy[privoff - 1]--;
			assert_int_equal(inspect_bin(copy, len - 1), -EINVAL);
		}

		/* Without a cipher, no KDF and no KDF options. */
		memcpy(copy, bin, 23);
		p = putstr(copy + 23, "bcrypt", 6);
		p = put32(p, 0);
		memcpy(p, bin + 35, len - 35);
		assert_int_equal(inspect_bin(copy, len + 2), -EINVAL);
		memcpy(copy, bin, 31);
		p = putstr(copy + 31, "x", 1);
		memcpy(p, bin + 35, len - 35);
		assert_int_equal(inspect_bin(copy, len + 1), -EINVAL);
		/* (the splice itself is sound) */
		memcpy(copy, bin, 31);
		p = putstr(copy + 31, "", 0);
		memcpy(p, bin + 35, len - 35);
		assert_int_equal(inspect_bin(copy, len), 0);

		memcpy(copy, bin, len);
		copy[38] = 2; /* number of keys */
		assert_int_equal(inspect_bin(copy, len), -EINVAL);

		memcpy(copy, bin, len);
		memcpy(copy + 15, "\0\0\0\4nope", 8); /* cipher "nope" */
		assert_int_equal(inspect_bin(copy, len), -EINVAL);

		/* B's public key in A's header. */
		assert_int_equal(a.bloblen, b.bloblen);
		memcpy(copy, bin, len);
		memcpy(copy + 43, b.blob, b.bloblen);
		assert_int_equal(inspect_bin(copy, len), -EINVAL);

		/* B's public key everywhere A's was: only A's private key
		 * is left to disagree. */
		a_pub = public_component(a.blob, &a_len);
		b_pub = public_component(b.blob, &b_len);
		assert_int_equal(a_len, b_len);
		memcpy(copy, bin, len);
		replaced = 0;
		for (p = copy; (p = memmem(p, len - (size_t)(p - copy), a_pub,
				    a_len)) != NULL;
		     p += a_len, replaced++)
			memcpy(p, b_pub, b_len);
		/* header, private section, and Ed25519's sk||pk */
		assert_int_equal(
		    replaced, all_types[i] == SSHKEY_ED25519 ? 3 : 2);
		assert_int_equal(inspect_bin(copy, len), -EINVAL);

		/* Only the private section's copy of the public key
		 * changed: the header and the private key still agree. */
		memcpy(copy, bin, len);
		p = memmem(copy + privoff, len - privoff, a_pub, a_len);
		assert_non_null(p);
		memcpy(p, b_pub, b_len);
		assert_int_equal(inspect_bin(copy, len), -EINVAL);
		if (all_types[i] == SSHKEY_RSA) {
			/* and RSA's e, which follows n there */
			memcpy(copy, bin, len);
			p = memmem(copy + privoff, len - privoff, a_pub, a_len);
			assert_memory_equal(p + a_len, "\0\0\0\3\1\0\1", 7);
			p[a_len + 6] = 3;
			assert_int_equal(inspect_bin(copy, len), -EINVAL);
		}

		/* Ed25519: the copy of the public key after the seed is
		 * not the public key. */
		if (all_types[i] == SSHKEY_ED25519) {
			memcpy(copy, bin, len);
			p = memmem(copy + privoff, len - privoff, a_pub, a_len);
			assert_non_null(p);
			p = memmem(p + a_len, len - (size_t)(p + a_len - copy),
			    a_pub, a_len);
			assert_non_null(p);
			p[a_len - 1] ^= 1;
			assert_int_equal(inspect_bin(copy, len), -EINVAL);
		}

		for (n = 0; n < len; n++)
			if (inspect_bin(bin, n) != -EINVAL)
				fail_msg("%s: a prefix of %zu bytes of %zu "
					 "is not -EINVAL",
				    sshkey_type_name(all_types[i]), n, len);

		memset(copy, 0, len);
		memset(bin, 0, len);
		free(copy);
		free(bin);
		sshkey_info_clear(&a);
		sshkey_info_clear(&b);
		secret_free(a_text);
		secret_free(b_text);
	}
}

/*
 * An openssh-key-v1 structure around BLOB into OUT: CIPHER, KDF and its
 * options as given, a private section of 32 bytes of junk (opaque when
 * encrypted, as ssh-keygen -N writes one), and TAG bytes of an AEAD
 * cipher's tag after it.
 */
static size_t
container(uint8_t *out, const char *cipher, const char *kdf,
    const char *kdfopts, size_t kdfoptslen, const uint8_t *blob, size_t bloblen,
    size_t tag)
{
	uint8_t *p = out, junk[32];

	memset(junk, 0xa5, sizeof(junk));
	memcpy(p, "openssh-key-v1", 15);
	p += 15;
	p = putstr(p, cipher, strlen(cipher));
	p = putstr(p, kdf, strlen(kdf));
	p = putstr(p, kdfopts, kdfoptslen);
	p = put32(p, 1);
	p = putstr(p, blob, bloblen);
	p = putstr(p, junk, sizeof(junk));
	memset(p, 0x5a, tag);
	return (size_t)(p + tag - out);
}

#define KDFOPTS "\0\0\0\20saltsaltsaltsalt\0\0\0\20"

static size_t
encrypted_container(uint8_t *out, const char *cipher, const uint8_t *blob,
    size_t bloblen, size_t tag)
{
	return container(out, cipher, "bcrypt", KDFOPTS, sizeof(KDFOPTS) - 1,
	    blob, bloblen, tag);
}

/*
 * An encrypted key is described from its public blob alone, which must
 * still be sound: an EC point off the curve is refused.
 */
static void
test_encrypted_container(void **state)
{
	struct sshkey_info info;
	struct secret *text;
	uint8_t out[2048], blob[1024];
	size_t i, len;
	static const char *const names[] = { "ecdsa256", "ecdsa521", "ed25519",
		"rsa3072" };
	char line[2048];
	uint8_t *b;
	size_t blen;

	(void)state;
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		pub_fields(names[i], line, sizeof(line));
		b = line_blob(line, &blen);
		len = encrypted_container(out, "aes256-ctr", b, blen, 0);
		assert_int_equal(inspect_bin(out, len), 0);
		len = encrypted_container(
		    out, "chacha20-poly1305@openssh.com", b, blen, 16);
		text = armor(out, len);
		assert_int_equal(sshkey_inspect(text, NULL, &info), 0);
		assert_true(info.encrypted);
		assert_int_equal(info.bloblen, blen);
		assert_memory_equal(info.blob, b, blen);
		sshkey_info_clear(&info);
		secret_free(text);
		len = encrypted_container(
		    out, "aes256-gcm@openssh.com", b, blen, 17);
		assert_int_equal(inspect_bin(out, len), -EINVAL);
		len = encrypted_container(out, "", b, blen, 0);
		assert_int_equal(inspect_bin(out, len), -EINVAL);
		if (strncmp(names[i], "ecdsa", 5) == 0) {
			assert_true(blen <= sizeof(blob));
			memcpy(blob, b, blen);
			blob[blen - 1] ^= 1; /* Y: off the curve */
			len = encrypted_container(
			    out, "aes256-ctr", blob, blen, 0);
			assert_int_equal(inspect_bin(out, len), -EINVAL);
			blob[blen - 1] ^= 1;
			/* The point, uncompressed, after name and curve. */
			assert_int_equal(blob[39], 0x04);
			blob[39] = 0x02;
			len = encrypted_container(
			    out, "aes256-ctr", blob, blen, 0);
			assert_int_equal(inspect_bin(out, len), -EINVAL);
			/* The hybrid form, which OpenSSL would take. */
			blob[39] = 0x06 | (blob[blen - 1] & 1);
			len = encrypted_container(
			    out, "aes256-ctr", blob, blen, 0);
			assert_int_equal(inspect_bin(out, len), -EINVAL);
		}
		if (strcmp(names[i], "rsa3072") == 0) {
			/* e = 0x010001 as a negative mpint 0x810001 */
			memcpy(blob, b, blen);
			assert_memory_equal(blob + 11, "\0\0\0\3\1\0\1", 7);
			blob[15] = 0x81;
			len = encrypted_container(
			    out, "aes256-ctr", blob, blen, 0);
			assert_int_equal(inspect_bin(out, len), -EINVAL);
			/* e = 0 */
			memcpy(blob + 11, "\0\0\0\0", 4);
			memcpy(blob + 15, b + 18, blen - 18);
			len = encrypted_container(
			    out, "aes256-ctr", blob, blen - 3, 0);
			assert_int_equal(inspect_bin(out, len), -EINVAL);
			/* and with its zero byte: positive, fine */
			memcpy(blob + 11, "\0\0\0\4\0\x81\0\1", 8);
			memcpy(blob + 19, b + 18, blen - 18);
			len = encrypted_container(
			    out, "aes256-ctr", blob, blen + 1, 0);
			assert_int_equal(inspect_bin(out, len), 0);
		}
		/* KDF and cipher must agree. */
		len = container(out, "aes256-ctr", "none", "", 0, b, blen, 0);
		assert_int_equal(inspect_bin(out, len), -EINVAL);
		len = container(out, "aes256-ctr", "none", KDFOPTS,
		    sizeof(KDFOPTS) - 1, b, blen, 0);
		assert_int_equal(inspect_bin(out, len), -EINVAL);
		len = container(out, "aes256-ctr", "scrypt", KDFOPTS,
		    sizeof(KDFOPTS) - 1, b, blen, 0);
		assert_int_equal(inspect_bin(out, len), -EINVAL);
		len = container(out, "aes256-ctr", "bcrypt", "", 0, b, blen, 0);
		assert_int_equal(inspect_bin(out, len), -EINVAL);
		len = container(out, "none", "bcrypt", KDFOPTS,
		    sizeof(KDFOPTS) - 1, b, blen, 0);
		assert_int_equal(inspect_bin(out, len), -EINVAL);
		len = container(out, "none", "none", "x", 1, b, blen, 0);
		assert_int_equal(inspect_bin(out, len), -EINVAL);

		/* A blob with a byte more than its fields. */
		memcpy(blob, b, blen);
		blob[blen] = 0;
		len = encrypted_container(out, "aes256-ctr", blob, blen + 1, 0);
		assert_int_equal(inspect_bin(out, len), -EINVAL);
		free(b);
	}
}

static BIGNUM *
get_bn(const uint8_t **p)
{
	size_t n = (size_t)(*p)[0] << 24 | (size_t)(*p)[1] << 16 |
	    (size_t)(*p)[2] << 8 | (*p)[3];
	BIGNUM *bn = BN_bin2bn(*p + 4, (int)n, NULL);

	assert_non_null(bn);
	*p += 4 + n;
	return bn;
}

/*
 * The RSA private fields in the order and sense OpenSSH has them: n, e, d,
 * iqmp = q^-1 mod p, p, q.  OpenSSL's RSA falls back from CRT when iqmp
 * is wrong, so no signature would show a swapped p and q; this does, on a
 * key ssh-keygen wrote (the convention) and on one of ours.
 */
static void
check_rsa_fields(const struct secret *text)
{
	BIGNUM *n, *e, *d, *iqmp, *bp, *bq, *t, *one;
	BN_CTX *ctx = BN_CTX_new();
	const uint8_t *p;
	uint8_t *bin;
	size_t len, bloblen;

	bin = unarmor(text, &len);
	bloblen = (size_t)bin[41] << 8 | bin[42];
	p = bin + 43 + bloblen + 4 + 8; /* the private section's fields */
	assert_memory_equal(p, "\0\0\0\7ssh-rsa", 11);
	p += 11;
	n = get_bn(&p);
	e = get_bn(&p);
	d = get_bn(&p);
	iqmp = get_bn(&p);
	bp = get_bn(&p);
	bq = get_bn(&p);
	t = BN_new();
	one = BN_new();
	assert_non_null(ctx);
	assert_non_null(t);
	assert_non_null(one);
	assert_true(BN_one(one));
	assert_true(BN_mul(t, bp, bq, ctx));
	assert_int_equal(BN_cmp(t, n), 0);
	assert_true(BN_mod_mul(t, iqmp, bq, bp, ctx));
	assert_true(BN_is_one(t));
	/* e d = 1 mod p - 1 and mod q - 1 */
	assert_true(BN_sub(bp, bp, one));
	assert_true(BN_sub(bq, bq, one));
	assert_true(BN_mod_mul(t, e, d, bp, ctx));
	assert_true(BN_is_one(t));
	assert_true(BN_mod_mul(t, e, d, bq, ctx));
	assert_true(BN_is_one(t));
	BN_free(one);
	BN_free(t);
	BN_free(n);
	BN_free(e);
	BN_clear_free(d);
	BN_clear_free(iqmp);
	BN_clear_free(bp);
	BN_clear_free(bq);
	BN_CTX_free(ctx);
	memset(bin, 0, len);
	free(bin);
}

static void
test_rsa_crt(void **state)
{
	struct secret *text;

	(void)state;
	text = load("rsa3072");
	check_rsa_fields(text);
	secret_free(text);
	assert_int_equal(sshkey_generate(SSHKEY_RSA, 2048, NULL, &text), 0);
	check_rsa_fields(text);
	secret_free(text);
}

/* The bits of the key whose public blob is BLOB (in an encrypted
 * container), or the error. */
static int
blob_bits(const uint8_t *blob, size_t len)
{
	static uint8_t out[2300];
	struct sshkey_info info;
	struct secret *text;
	int r;

	assert_true(len + 200 < sizeof(out));
	text = armor(out, encrypted_container(out, "aes256-ctr", blob, len, 0));
	r = sshkey_inspect(text, NULL, &info);
	if (r == 0)
		r = info.bits;
	sshkey_info_clear(&info);
	secret_free(text);
	return r;
}

/* RSA moduli up to OpenSSH's 16384 bits, and not one bit more. */
static void
test_rsa_limit(void **state)
{
	static uint8_t blob[2100];
	uint8_t *p = blob;

	(void)state;
	p = putstr(p, "ssh-rsa", 7);
	p = putstr(p, "\1\0\1", 3);
	p = put32(p, 2048);
	memset(p, 0xff, 2048);
	p[0] = 0x7f; /* positive without a zero byte */
	assert_int_equal(blob_bits(blob, (size_t)(p + 2048 - blob)), 16383);

	p = put32(blob + 18, 2049);
	p[0] = 0;
	memset(p + 1, 0xff, 2048);
	assert_int_equal(blob_bits(blob, (size_t)(p + 2049 - blob)), 16384);
	p[0] = 1;
	assert_int_equal(blob_bits(blob, (size_t)(p + 2049 - blob)), -EINVAL);
}

/* A type OpenSSH has and we do not, in a well-formed container. */
static void
test_unsupported_container(void **state)
{
	static const uint8_t bin[] = "openssh-key-v1\0"
				     "\0\0\0\4none\0\0\0\4none\0\0\0\0\0\0\0\1"
				     "\0\0\0\42"
				     "\0\0\0\32sk-ssh-ed25519@openssh.com"
				     "\0\0\0\0"
				     "\0\0\0\0";

	(void)state;
	assert_int_equal(inspect_bin(bin, sizeof(bin) - 1), -ENOTSUP);
}

/* The SSH string at *P (which must fit in END), P moved past it. */
static const uint8_t *
get_str(const uint8_t **p, const uint8_t *end, size_t *len)
{
	const uint8_t *s;

	assert_true(end - *p >= 4);
	*len = (size_t)(*p)[0] << 24 | (size_t)(*p)[1] << 16 |
	    (size_t)(*p)[2] << 8 | (*p)[3];
	assert_true((size_t)(end - *p) - 4 >= *len);
	s = *p + 4;
	*p = s + *len;
	return s;
}

/* The public key of the ssh-rsa BLOB, built by OpenSSL from e and n
 * alone, not through common/sshkey.c. */
static EVP_PKEY *
rsa_public(const uint8_t *blob, size_t len)
{
	const uint8_t *p = blob, *end = blob + len, *name, *eb, *nb;
	size_t nlen, elen, nblen;
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	OSSL_PARAM *params;
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
	EVP_PKEY *pkey = NULL;
	BIGNUM *n, *e;

	name = get_str(&p, end, &nlen);
	assert_int_equal(nlen, 7);
	assert_memory_equal(name, "ssh-rsa", 7);
	eb = get_str(&p, end, &elen);
	nb = get_str(&p, end, &nblen);
	assert_true(p == end);
	e = BN_bin2bn(eb, (int)elen, NULL);
	n = BN_bin2bn(nb, (int)nblen, NULL);
	assert_non_null(bld);
	assert_non_null(ctx);
	assert_non_null(e);
	assert_non_null(n);
	assert_true(OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n));
	assert_true(OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e));
	params = OSSL_PARAM_BLD_to_param(bld);
	assert_non_null(params);
	assert_int_equal(EVP_PKEY_fromdata_init(ctx), 1);
	assert_int_equal(
	    EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params), 1);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	EVP_PKEY_CTX_free(ctx);
	BN_free(e);
	BN_free(n);
	return pkey;
}

/* Whether SIG is PKEY's RSASSA-PKCS1-v1_5 signature of DATA over SHA-BITS. */
static bool
rsa_verifies(EVP_PKEY *pkey, int bits, const uint8_t *data, size_t len,
    const uint8_t *sig, size_t siglen)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pctx;
	int r;

	assert_non_null(ctx);
	assert_int_equal(
	    EVP_DigestVerifyInit_ex(ctx, &pctx,
		bits == 256 ? "SHA256" : "SHA512", NULL, NULL, pkey, NULL),
	    1);
	assert_int_equal(
	    EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING), 1);
	r = EVP_DigestVerify(ctx, sig, siglen, data, len);
	EVP_MD_CTX_free(ctx);
	return r == 1;
}

/* What a client signs for publickey authentication, more or less
 * (RFC 4252 section 7): a session id, then the request. */
static const uint8_t sign_data[] =
    "\0\0\0\40session id: thirty-two bytes..."
    "\62\0\0\0\4user\0\0\0\16ssh-connection\0\0\0\11publickey\1"
    "\0\0\0\14rsa-sha2-256";

/*
 * TEXT (the key of public BLOB, BITS of modulus) signs, with SHA-256 and
 * SHA-512, signatures of the modulus' size that OpenSSL verifies with the
 * public key alone, and that nothing else verifies.  PKCS#1 v1.5 is
 * deterministic: the same signature twice.
 */
static void
check_signs(const struct secret *text, const struct secret *pass,
    const uint8_t *blob, size_t bloblen, int bits)
{
	static const int hashes[] = { 256, 512 };
	EVP_PKEY *pub = rsa_public(blob, bloblen);
	uint8_t *sig, *again, data[sizeof(sign_data)];
	size_t i, len, len2;

	memcpy(data, sign_data, sizeof(data));
	for (i = 0; i < 2; i++) {
		sig = NULL;
		len = 0;
		assert_int_equal(sshkey_sign_rsa(text, pass, hashes[i], data,
				     sizeof(data), &sig, &len),
		    0);
		assert_non_null(sig);
		assert_int_equal(len, ((size_t)bits + 7) / 8);
		assert_true(
		    rsa_verifies(pub, hashes[i], data, sizeof(data), sig, len));
		/* not over the other hash, not of other data */
		assert_false(rsa_verifies(
		    pub, 768 - hashes[i], data, sizeof(data), sig, len));
		data[5] ^= 1;
		assert_false(
		    rsa_verifies(pub, hashes[i], data, sizeof(data), sig, len));
		data[5] ^= 1;
		assert_int_equal(sshkey_sign_rsa(text, pass, hashes[i], data,
				     sizeof(data), &again, &len2),
		    0);
		assert_int_equal(len2, len);
		assert_memory_equal(again, sig, len);
		free(again);
		free(sig);
	}
	/* Nothing to sign is still a signature. */
	assert_int_equal(
	    sshkey_sign_rsa(text, pass, 256, NULL, 0, &sig, &len), 0);
	assert_true(rsa_verifies(pub, 256, (const uint8_t *)"", 0, sig, len));
	free(sig);
	EVP_PKEY_free(pub);
}

/* RSA keys sign: ours, and ssh-keygen's in OpenSSH format, PKCS#1 PEM,
 * PKCS#8, encrypted PEM with its passphrase; each verified against the
 * public key ssh-keygen wrote in its .pub. */
static void
test_sign_rsa(void **state)
{
	static const struct {
		const char *name;
		int bits;
		bool enc;
	} keys[] = {
		{ "rsa3072", 3072, false },
		{ "rsa_pem", 2048, false },
		{ "rsa_pkcs8", 2048, false },
		{ "rsa_pem_enc", 2048, true },
	};
	struct secret *text, *pass = load("passphrase");
	struct sshkey_info info;
	char line[2048];
	uint8_t *blob;
	size_t i, bloblen;

	(void)state;
	assert_int_equal(sshkey_generate(SSHKEY_RSA, 2048, NULL, &text), 0);
	assert_int_equal(sshkey_inspect(text, NULL, &info), 0);
	check_signs(text, NULL, info.blob, info.bloblen, 2048);
	check_signs(text, pass, info.blob, info.bloblen, 2048);
	sshkey_info_clear(&info);
	secret_free(text);

	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		text = load(keys[i].name);
		pub_fields(keys[i].name, line, sizeof(line));
		blob = line_blob(line, &bloblen);
		check_signs(text, keys[i].enc ? pass : NULL, blob, bloblen,
		    keys[i].bits);
		free(blob);
		secret_free(text);
	}
	secret_free(pass);
}

/* ERR from signing with TEXT (PASS), and that nothing was returned. */
static void
assert_sign_fails(
    const struct secret *text, const struct secret *pass, int bits, int err)
{
	uint8_t *sig = (uint8_t *)"x";
	size_t len = 1;

	assert_int_equal(sshkey_sign_rsa(text, pass, bits, sign_data,
			     sizeof(sign_data), &sig, &len),
	    err);
	assert_null(sig);
	assert_int_equal(len, 0);
}

/* Other types, an encrypted OpenSSH key, a wrong passphrase, garbage. */
static void
test_sign_rsa_refused(void **state)
{
	static const char *const others[] = { "ecdsa256", "ecdsa521", "ed25519",
		"ed25519_enc", "ec_pem", "ed25519_pkcs8", "ecdsa_pkcs8_enc",
		"dsa", "secp256k1_pem", "rsa_huge_pem" };
	struct secret *text, *pass = load("passphrase"), *wrong;
	uint8_t out[2048], *blob;
	char line[2048];
	size_t i, len, bloblen;

	(void)state;
	for (i = 0; i < sizeof(others) / sizeof(others[0]); i++) {
		text = load(others[i]);
		assert_sign_fails(text, pass, 256, -ENOTSUP);
		secret_free(text);
	}

	/* ssh-keygen -N: the rsa3072 fixture's blob in an encrypted
	 * container, whatever the passphrase. */
	pub_fields("rsa3072", line, sizeof(line));
	blob = line_blob(line, &bloblen);
	len = encrypted_container(out, "aes256-ctr", blob, bloblen, 0);
	text = armor(out, len);
	assert_sign_fails(text, NULL, 256, -ENOTSUP);
	assert_sign_fails(text, pass, 512, -ENOTSUP);
	secret_free(text);
	free(blob);

	text = load("rsa_pem_enc");
	wrong = text_secret("fixture passphrase 2", 20);
	assert_sign_fails(text, NULL, 256, -EKEYREJECTED);
	assert_sign_fails(text, wrong, 256, -EKEYREJECTED);
	secret_free(wrong);
	secret_free(text);

	text = load("rsa3072");
	assert_sign_fails(text, NULL, 1, -EINVAL);
	assert_sign_fails(text, NULL, 384, -EINVAL);
	assert_sign_fails(text, NULL, 0, -EINVAL);
	secret_free(text);

	text = text_secret("not a key\n", 10);
	assert_sign_fails(text, NULL, 256, -EINVAL);
	secret_free(text);
	text = text_secret(BEGIN END, strlen(BEGIN END));
	assert_sign_fails(text, NULL, 256, -EINVAL);
	secret_free(text);
	assert_sign_fails(NULL, NULL, 256, -EINVAL);
	secret_free(pass);
}

/* Past the string at BIN + *OFF: *OFF moved to its end, returned. */
static size_t
skip_str(const uint8_t *bin, size_t *off)
{
	size_t n = (size_t)bin[*off] << 24 | (size_t)bin[*off + 1] << 16 |
	    (size_t)bin[*off + 2] << 8 | bin[*off + 3];

	*off += 4 + n;
	return *off;
}

/*
 * A key whose private fields are not its public key's: d changed (n is
 * still p q, so it reads) signs wrong, which the check after signing
 * catches; iqmp changed would sign right through OpenSSL's fallback to d,
 * but is refused as not what OpenSSH writes.
 */
static void
test_sign_rsa_tampered(void **state)
{
	struct secret *orig = load("rsa3072"), *text;
	size_t len, off, bloblen, d_end, iqmp_end, siglen;
	uint8_t *bin, *sig;

	(void)state;
	bin = unarmor(orig, &len);
	bloblen = (size_t)bin[41] << 8 | bin[42];
	off = 43 + bloblen + 4 + 8; /* the private section's fields */
	assert_memory_equal(bin + off, "\0\0\0\7ssh-rsa", 11);
	off += 11;
	skip_str(bin, &off);            /* n */
	skip_str(bin, &off);            /* e */
	d_end = skip_str(bin, &off);    /* d */
	iqmp_end = skip_str(bin, &off); /* iqmp */

	text = armor(bin, len); /* untouched, it signs */
	assert_int_equal(sshkey_sign_rsa(text, NULL, 256, sign_data,
			     sizeof(sign_data), &sig, &siglen),
	    0);
	free(sig);
	secret_free(text);

	bin[d_end - 1] ^= 2;
	text = armor(bin, len);
	assert_sign_fails(text, NULL, 256, -EINVAL);
	secret_free(text);
	bin[d_end - 1] ^= 2;

	bin[iqmp_end - 1] ^= 2;
	text = armor(bin, len);
	assert_sign_fails(text, NULL, 512, -EINVAL);
	secret_free(text);

	memset(bin, 0, len);
	free(bin);
	secret_free(orig);
}

/* ssh-rsa to rsa-sha2-256 and back; malformed blobs refused. */
static void
test_blob_retype(void **state)
{
	static const uint8_t bare[] = "\0\0\0\7ssh-rsa";
	static const uint8_t *const bad[] = { (const uint8_t *)"\0\0\0",
		(const uint8_t *)"\0\0\0\10ssh-rsa",
		(const uint8_t *)"\0\0\0\0" };
	static const size_t badlen[] = { 3, 11, 4 };
	uint8_t *blob, *rt, *back;
	size_t bloblen, rtlen, backlen, i;
	enum sshkey_type t;
	char line[2048];

	(void)state;
	pub_fields("rsa3072", line, sizeof(line));
	blob = line_blob(line, &bloblen);
	assert_int_equal(
	    sshkey_blob_retype(blob, bloblen, "rsa-sha2-256", &rt, &rtlen), 0);
	assert_int_equal(rtlen, bloblen + 5);
	assert_memory_equal(rt, "\0\0\0\14rsa-sha2-256", 16);
	assert_memory_equal(rt + 16, blob + 11, bloblen - 11);
	assert_int_equal(sshkey_blob_type(rt, rtlen, &t), -ENOTSUP);
	assert_int_equal(
	    sshkey_blob_retype(rt, rtlen, "ssh-rsa", &back, &backlen), 0);
	assert_int_equal(backlen, bloblen);
	assert_memory_equal(back, blob, bloblen);
	free(back);
	free(rt);

	assert_int_equal(
	    sshkey_blob_retype(bare, 11, "rsa-sha2-512", &rt, &rtlen), 0);
	assert_int_equal(rtlen, 16);
	assert_memory_equal(rt, "\0\0\0\14rsa-sha2-512", 16);
	free(rt);

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		rt = (uint8_t *)"x";
		assert_int_equal(sshkey_blob_retype(bad[i], badlen[i],
				     "rsa-sha2-256", &rt, &rtlen),
		    -EINVAL);
		assert_null(rt);
	}
	assert_int_equal(
	    sshkey_blob_retype(blob, bloblen, "", &rt, &rtlen), -EINVAL);
	assert_int_equal(
	    sshkey_blob_retype(blob, bloblen, NULL, &rt, &rtlen), -EINVAL);
	assert_int_equal(
	    sshkey_blob_retype(NULL, 0, "rsa-sha2-256", &rt, &rtlen), -EINVAL);
	free(blob);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_generate),
		cmocka_unit_test(test_generate_default_rsa),
		cmocka_unit_test(test_generate_invalid),
		cmocka_unit_test(test_fixtures),
		cmocka_unit_test(test_encrypted_pem),
		cmocka_unit_test(test_unsupported),
		cmocka_unit_test(test_fingerprint),
		cmocka_unit_test(test_public_line),
		cmocka_unit_test(test_blob_type),
		cmocka_unit_test(test_garbage),
		cmocka_unit_test(test_crlf),
		cmocka_unit_test(test_tampered),
		cmocka_unit_test(test_unsupported_container),
		cmocka_unit_test(test_encrypted_container),
		cmocka_unit_test(test_rsa_crt),
		cmocka_unit_test(test_rsa_limit),
		cmocka_unit_test(test_blob_retype),
		cmocka_unit_test(test_sign_rsa),
		cmocka_unit_test(test_sign_rsa_refused),
		cmocka_unit_test(test_sign_rsa_tampered),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
