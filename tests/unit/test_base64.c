/*
 * test_base64: the one base64 codec (common/base64.c), both alphabets,
 * with and without padding, and the strict decoder.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "base64.h"

static void
encode_is(const char *in, unsigned flags, const char *want)
{
	char out[64];
	size_t n;

	memset(out, 'x', sizeof(out));
	n = base64_encode_raw(in, strlen(in), flags, out);
	assert_int_equal(n, strlen(want));
	assert_memory_equal(out, want, n);
	assert_int_equal(out[n], 'x'); /* nothing written past the end */
}

/* RFC 4648 section 10's vectors, padded and not. */
static void
test_rfc_vectors(void **state)
{
	static const char *const v[][3] = {
		{ "", "", "" },
		{ "f", "Zg==", "Zg" },
		{ "fo", "Zm8=", "Zm8" },
		{ "foo", "Zm9v", "Zm9v" },
		{ "foob", "Zm9vYg==", "Zm9vYg" },
		{ "fooba", "Zm9vYmE=", "Zm9vYmE" },
		{ "foobar", "Zm9vYmFy", "Zm9vYmFy" },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		encode_is(v[i][0], 0, v[i][1]);
		encode_is(v[i][0], BASE64_NOPAD, v[i][2]);
	}
}

/* Values 62 and 63 are the only ones the alphabets disagree on. */
static void
test_alphabets(void **state)
{
	const char in[] = "\xfb\xff\xbf";

	(void)state;
	encode_is(in, 0, "+/+/");
	encode_is(in, BASE64_URL, "-_-_");
	encode_is("\xff", BASE64_URL, "_w==");
	encode_is("\xff", BASE64_URL | BASE64_NOPAD, "_w");
}

/* Every byte value survives a round trip, at every length mod 3. */
static void
test_round_trip(void **state)
{
	unsigned char in[256], back[256];
	char text[400];
	size_t n, len, got;

	(void)state;
	for (n = 0; n < sizeof(in); n++)
		in[n] = (unsigned char)(n * 7 + 3);
	for (len = 0; len <= sizeof(in); len += 1) {
		assert_int_equal(base64_encode(in, len, text, sizeof(text)), 0);
		assert_int_equal(strlen(text), base64_encoded_len(len));
		assert_int_equal(
		    base64_decode(text, strlen(text), back, sizeof(back), &got),
		    0);
		assert_int_equal(got, len);
		assert_memory_equal(in, back, len);
	}
}

static void
test_strict_decoder(void **state)
{
	static const char *const bad[] = {
		"Zg=",      /* length */
		"Zh==",     /* unused bits set */
		"Zm9=",     /* unused bits set */
		"Zm 9v",    /* whitespace */
		"Zg==Zg==", /* padding inside */
		"-_-_",     /* the URL alphabet */
		"Zm9v!A==",
	};
	unsigned char out[16];
	size_t i, len;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(out, 0xee, sizeof(out));
		assert_int_equal(base64_decode(bad[i], strlen(bad[i]), out,
				     sizeof(out), &len),
		    -EINVAL);
	}
	assert_int_equal(base64_decode("Zm9v", 4, out, 2, &len), -ENOBUFS);
	assert_int_equal(base64_encode("foo", 3, (char *)out, 4), -ENOBUFS);
	assert_int_equal(base64_encoded_len(SIZE_MAX), SIZE_MAX);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc_vectors),
		cmocka_unit_test(test_alphabets),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_strict_decoder),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
