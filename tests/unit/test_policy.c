/*
 * Unit tests of policy: Keeper's complexity string, validation, and the
 * generator, checked rule by rule on every password and statistically.
 *
 * The statistical tests use fixed sample counts, so they take the same
 * time on every run, and a fixed stream of random bytes (fixed_on()), so
 * they give the same verdict on every run: drawn from the DRBG, their
 * false-failure budget of 1e-4 a run (5.7e-5 exactly, two runs in `make
 * check`) did fail a clean clone's check once, at chi-square 34.34
 * against 33.82, with nothing wrong.  What they test is how the
 * generator turns random bytes into a password, which a stream that
 * passes for random tests as well as the DRBG does.
 */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/rand.h>

#include "policy.h"

#define DEFAULT_FORMAT "32,5,5,5,5," POLICY_DEFAULT_SPECIAL_CHARS

/* Every letter but A-C and x-z: leaves small, equal upper and lower sets. */
#define KEEP_ABC_XYZ                                                           \
	"DEFGHIJKLMNOPQRSTUVWXYZ"                                              \
	"abcdefghijklmnopqrstuvw"

/*
 * RAND_bytes, interposed: a definition in the program wins over
 * libcrypto's at link time, so a test can make the generator's only source
 * of randomness fail.  Otherwise it hands over to RAND_priv_bytes(), which
 * draws from the same kind of DRBG.  rand_calls_left < 0 never fails.
 */
static int rand_calls_left = -1;

/*
 * The statistical tests' stream: xoshiro256** (Blackman and Vigna),
 * seeded by splitmix64 from a constant.  Not a cryptographic generator,
 * but one that passes BigCrush, far beyond what a chi-square over 50,000
 * passwords can see.
 */
static bool fixed_stream;
static uint64_t xs[4];

static uint64_t
rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

static uint64_t
xoshiro_next(void)
{
	uint64_t out = rotl(xs[1] * 5, 7) * 9, t = xs[1] << 17;

	xs[2] ^= xs[0];
	xs[3] ^= xs[1];
	xs[1] ^= xs[2];
	xs[0] ^= xs[3];
	xs[2] ^= t;
	xs[3] = rotl(xs[3], 45);
	return out;
}

static int
fixed_on(void **state)
{
	uint64_t z = 0x726f746164u; /* "rotad" */
	int i;

	(void)state;
	for (i = 0; i < 4; i++) {
		z += 0x9e3779b97f4a7c15u;
		xs[i] = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
		xs[i] = (xs[i] ^ (xs[i] >> 27)) * 0x94d049bb133111ebu;
		xs[i] ^= xs[i] >> 31;
	}
	fixed_stream = true;
	return 0;
}

static int
fixed_off(void **state)
{
	(void)state;
	fixed_stream = false;
	return 0;
}

int
RAND_bytes(unsigned char *buf, int num)
{
	uint64_t w;
	int i;

	if (rand_calls_left == 0)
		return 0;
	if (rand_calls_left > 0)
		rand_calls_left--;
	if (!fixed_stream)
		return RAND_priv_bytes(buf, num);
	for (i = 0; i < num; i += (int)sizeof(w)) {
		w = xoshiro_next();
		memcpy(buf + i, &w,
		    num - i < (int)sizeof(w) ? (size_t)(num - i) : sizeof(w));
	}
	return 1;
}

static struct policy
parsed(const char *s)
{
	struct policy p;
	char err[256];

	if (policy_parse(s, &p, err, sizeof(err)) != 0)
		fail_msg("'%s': %s", s, err);
	return p;
}

static void
test_default(void **state)
{
	struct policy p;
	char err[256], buf[POLICY_FORMAT_SIZE];

	(void)state;
	memset(&p, 'x', sizeof(p));
	policy_default(&p);
	assert_int_equal(p.length, 32);
	assert_int_equal(p.upper, 5);
	assert_int_equal(p.lower, 5);
	assert_int_equal(p.digits, 5);
	assert_int_equal(p.special, 5);
	assert_string_equal(p.special_chars, "!@#$%()+;<>=?[]{}^.,");
	assert_string_equal(p.exclude, "");
	assert_int_equal(policy_validate(&p, err, sizeof(err)), 0);
	assert_int_equal(policy_format(&p, buf, sizeof(buf)), 0);
	assert_string_equal(buf, DEFAULT_FORMAT);
}

static void
test_parse_good(void **state)
{
	static const struct {
		const char *in, *canonical;
	} cases[] = {
		{ "32,5,5,5,5", DEFAULT_FORMAT },
		{ "20,2,2,2,-1,!@#", "20,2,2,2,-1,!@#" },
		{ " 16 , 1,\t1 ,1 ,1",
		    "16,1,1,1,1," POLICY_DEFAULT_SPECIAL_CHARS },
		{ "12,0,0,-6,-6",
		    "12,0,0,-6,-6," POLICY_DEFAULT_SPECIAL_CHARS },
		/* Everything after the fifth comma is the set, commas too. */
		{ "10,1,1,1,1,!,.", "10,1,1,1,1,!,." },
		{ "10,1,1,1,1,,", "10,1,1,1,1,," },
		{ "4,0,0,-1,-3,%", "4,0,0,-1,-3,%" },
		{ "256,-256,0,0,0",
		    "256,-256,0,0,0," POLICY_DEFAULT_SPECIAL_CHARS },
		{ "8,1,0,0,-0", "8,1,0,0,0," POLICY_DEFAULT_SPECIAL_CHARS },
		{ "004,1,1,1,1,~", "4,1,1,1,1,~" },
	};
	struct policy p, q;
	char buf[POLICY_FORMAT_SIZE];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		p = parsed(cases[i].in);
		assert_int_equal(policy_format(&p, buf, sizeof(buf)), 0);
		if (strcmp(buf, cases[i].canonical) != 0)
			fail_msg("'%s': formatted as '%s', expected '%s'",
			    cases[i].in, buf, cases[i].canonical);
		/* The canonical form reads back as the same policy. */
		q = parsed(buf);
		assert_memory_equal(&p, &q, sizeof(p));
	}

	p = parsed("20,2,3,-4,-1,!@#");
	assert_int_equal(p.length, 20);
	assert_int_equal(p.upper, 2);
	assert_int_equal(p.lower, 3);
	assert_int_equal(p.digits, -4);
	assert_int_equal(p.special, -1);
	assert_string_equal(p.special_chars, "!@#");

	/* A provider's exclusions are not part of Keeper's string. */
	policy_default(&p);
	strcpy(p.exclude, "xyz");
	assert_int_equal(policy_parse("16,1,1,1,1", &p, NULL, 0), 0);
	assert_string_equal(p.exclude, "");
}

static void
test_parse_errors(void **state)
{
	static const struct {
		const char *in, *message;
	} cases[] = {
		{ "",
		    "empty: expected "
		    "\"length,upper,lower,digits,special[,chars]\"" },
		{ "32",
		    "expected 5 or 6 comma-separated items "
		    "\"length,upper,lower,digits,special[,chars]\", found 1" },
		{ "32,5,5,5",
		    "expected 5 or 6 comma-separated items "
		    "\"length,upper,lower,digits,special[,chars]\", found 4" },
		{ "x,5,5,5,5",
		    "item 1 (length): expected an integer, found 'x'" },
		{ "32,,5,5,5", "item 2 (upper) is empty" },
		{ "32, ,5,5,5", "item 2 (upper) is empty" },
		{ "32,5,5x,5,5",
		    "item 3 (lower): expected an integer, found '5x'" },
		{ "32,5,5,+5,5",
		    "item 4 (digits): expected an integer, found '+5'" },
		{ "32,5,5,5 5,5",
		    "item 4 (digits): expected an integer, found '5 5'" },
		{ "32,5,5,5,-",
		    "item 5 (special): expected an integer, found '-'" },
		{ "32,5,5,5,", "item 5 (special) is empty" },
		{ "3,1,1,1,0", "item 1 (length): 3 is out of range 4..256" },
		{ "257,5,5,5,5",
		    "item 1 (length): 257 is out of range 4..256" },
		{ "-32,5,5,5,5",
		    "item 1 (length): -32 is out of range 4..256" },
		{ "32,5,5,5,99999999999999999999",
		    "item 5 (special): 99999999999999999999 is out of range "
		    "-256..256" },
		{ "32,-257,5,5,5",
		    "item 2 (upper): -257 is out of range -256..256" },
		{ "32,5,5,5,5,",
		    "item 6 (special characters) is empty; leave it out for "
		    "the default set" },
		{ "32,5,5,5,5,!a",
		    "item 6 (special characters): 'a' is a letter or digit, "
		    "not a special character" },
		{ "32,5,5,5,5,!7",
		    "item 6 (special characters): '7' is a letter or digit, "
		    "not a special character" },
		{ "32,5,5,5,5,!@!",
		    "item 6 (special characters): '!' appears more than once" },
		{ "32,5,5,5,5,!,,",
		    "item 6 (special characters): ',' appears more than once" },
		{ "32,5,5,5,5,! @",
		    "item 6 (special characters): a space cannot be a special "
		    "character" },
		{ "32,5,5,5,5,!\t",
		    "item 6 (special characters): byte 0x09 is not a printable "
		    "ASCII character" },
		{ "32,5,5,5,5,!\xc3\xa9",
		    "item 6 (special characters): byte 0xc3 is not a printable "
		    "ASCII character" },
		/* What only the items together can get wrong. */
		{ "8,3,3,2,2",
		    "length 8 is less than the 10 characters the minimum "
		    "counts require" },
		{ "8,2,-3,0,-4",
		    "length 8 is less than the 9 characters the minimum and "
		    "exact counts require" },
		{ "8,0,-5,0,-4",
		    "length 8 is less than the 9 characters the exact counts "
		    "require" },
		{ "12,0,0,-3,-3",
		    "every class is excluded from the filler but the exact "
		    "counts add up to 6, not length 12" },
		{ "16,0,0,0,0",
		    "every class is excluded from the filler but the exact "
		    "counts add up to 0, not length 16" },
		{ "8,0,0,0,-8",
		    "upper, lower and digits are all 0, so every character "
		    "would be special, but a password cannot start with one" },
		{ "8,0,0,0,4",
		    "upper, lower and digits are all 0, so every character "
		    "would be special, but a password cannot start with one" },
	};
	struct policy p, before;
	char err[256], s[160];
	size_t i;
	int r;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(&p, 0x5a, sizeof(p));
		before = p;
		strcpy(err, "(no message)");
		r = policy_parse(cases[i].in, &p, err, sizeof(err));
		if (r != -EINVAL)
			fail_msg("'%s': returned %d, expected -EINVAL",
			    cases[i].in, r);
		if (strcmp(err, cases[i].message) != 0)
			fail_msg("'%s':\n  got      '%s'\n  expected '%s'",
			    cases[i].in, err, cases[i].message);
		/* A failed parse leaves the caller's policy alone. */
		assert_memory_equal(&p, &before, sizeof(p));
	}

	/* Item 6 longer than special_chars can hold: 128 bytes. */
	strcpy(s, "32,5,5,5,5,");
	memset(s + strlen(s), '!', 128);
	s[11 + 128] = '\0';
	assert_int_equal(policy_parse(s, &p, err, sizeof(err)), -EINVAL);
	assert_string_equal(
	    err, "item 6 (special characters) is longer than 127 characters");

	/* No err buffer, or a short one, is fine. */
	assert_int_equal(policy_parse("x", &p, NULL, 0), -EINVAL);
	assert_int_equal(policy_parse(NULL, &p, err, 8), -EINVAL);
	assert_string_equal(err, "empty: ");
}

/* Set up P for a validation case; see test_validate(). */
enum edit {
	EDIT_NONE,
	EDIT_SPECIAL_UNTERMINATED,
	EDIT_EXCLUDE_UNTERMINATED,
};

static void
test_validate(void **state)
{
	static const struct {
		int length, upper, lower, digits, special;
		const char *chars, *exclude;
		enum edit edit;
		const char *message; /* NULL: valid */
	} cases[] = {
		{ 32, 5, 5, 5, 5, NULL, "", EDIT_NONE, NULL },
		{ 3, 1, 1, 1, 0, NULL, "", EDIT_NONE,
		    "length 3 is out of range 4..256" },
		{ 300, 5, 5, 5, 5, NULL, "", EDIT_NONE,
		    "length 300 is out of range 4..256" },
		{ 32, 300, 5, 5, 5, NULL, "", EDIT_NONE,
		    "upper 300 is out of range -256..256" },
		{ 32, 5, 5, 5, -1000, NULL, "", EDIT_NONE,
		    "special -1000 is out of range -256..256" },
		{ 32, 5, 5, 5, 5, "", "", EDIT_NONE,
		    "special_chars: the special-character set is empty" },
		{ 32, 5, 5, 5, 0, "", "", EDIT_NONE,
		    "special_chars: the special-character set is empty" },
		{ 32, 5, 5, 5, 5, "!1", "", EDIT_NONE,
		    "special_chars: '1' is a letter or digit, not a special "
		    "character" },
		{ 32, 5, 5, 5, 5, "!?!", "", EDIT_NONE,
		    "special_chars: '!' appears more than once" },
		{ 32, 5, 5, 5, 5, NULL, "", EDIT_SPECIAL_UNTERMINATED,
		    "special_chars is longer than 127 characters" },
		{ 32, 5, 5, 5, 5, NULL, "", EDIT_EXCLUDE_UNTERMINATED,
		    "exclude is longer than 127 characters" },
		{ 32, 5, 5, 5, 5, NULL, "ab\n", EDIT_NONE,
		    "exclude: byte 0x0a is not a printable ASCII character" },
		{ 32, 5, 5, 5, 5, NULL, "! ", EDIT_NONE,
		    "exclude: a space cannot be excluded: passwords never "
		    "contain one" },
		/* Exclusions on top of the classes. */
		{ 32, 5, 5, 5, 5, NULL, POLICY_DEFAULT_SPECIAL_CHARS, EDIT_NONE,
		    "exclusions remove every special character" },
		{ 32, 5, 5, 5, 0, NULL, POLICY_DEFAULT_SPECIAL_CHARS, EDIT_NONE,
		    NULL },
		{ 12, 1, 1, 1, 1, "!@#", "!@", EDIT_NONE, NULL },
		{ 12, 1, 1, 1, -1, "!@#", "!@#", EDIT_NONE,
		    "exclusions remove every special character" },
		{ 32, 5, 5, -2, 5, NULL, "0123456789", EDIT_NONE,
		    "exclusions remove every digit" },
		{ 32, 5, 5, 0, 5, NULL, "0123456789", EDIT_NONE, NULL },
		{ 32, 1, 5, 5, 5, NULL, "ABCDEFGHIJKLMNOPQRSTUVWXYZ", EDIT_NONE,
		    "exclusions remove every uppercase letter" },
		{ 32, 5, 1, 5, 5, NULL, "abcdefghijklmnopqrstuvwxyz", EDIT_NONE,
		    "exclusions remove every lowercase letter" },
		/* Counts against the length. */
		{ 8, 5, 5, 5, 5, NULL, "", EDIT_NONE,
		    "length 8 is less than the 20 characters the minimum "
		    "counts require" },
		{ 8, 3, 3, 2, 2, NULL, "", EDIT_NONE,
		    "length 8 is less than the 10 characters the minimum "
		    "counts require" },
		{ 10, 3, 3, 2, 2, NULL, "", EDIT_NONE, NULL },
		{ 12, -2, -2, -1, -1, NULL, "", EDIT_NONE,
		    "every class is excluded from the filler but the exact "
		    "counts add up to 6, not length 12" },
		{ 6, -2, -2, -1, -1, NULL, "", EDIT_NONE, NULL },
		{ 12, -2, -2, -1, 1, NULL, "", EDIT_NONE, NULL },
		{ 16, 0, -2, 0, 0, NULL, "", EDIT_NONE,
		    "every class is excluded from the filler but the exact "
		    "counts add up to 2, not length 16" },
		{ 8, 0, 0, 0, -8, NULL, "", EDIT_NONE,
		    "upper, lower and digits are all 0, so every character "
		    "would be special, but a password cannot start with one" },
		{ 4, 0, 0, -1, -3, "%", "", EDIT_NONE, NULL },
	};
	struct policy p;
	char err[256], buf[POLICY_LENGTH_MAX + 1];
	size_t i;
	int r;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		policy_default(&p);
		p.length = cases[i].length;
		p.upper = cases[i].upper;
		p.lower = cases[i].lower;
		p.digits = cases[i].digits;
		p.special = cases[i].special;
		if (cases[i].chars != NULL)
			strcpy(p.special_chars, cases[i].chars);
		strcpy(p.exclude, cases[i].exclude);
		if (cases[i].edit == EDIT_SPECIAL_UNTERMINATED)
			memset(p.special_chars, '!', sizeof(p.special_chars));
		if (cases[i].edit == EDIT_EXCLUDE_UNTERMINATED)
			memset(p.exclude, '!', sizeof(p.exclude));
		strcpy(err, "(no message)");
		r = policy_validate(&p, err, sizeof(err));
		if (cases[i].message == NULL) {
			if (r != 0)
				fail_msg("case %zu: %s", i, err);
			continue;
		}
		if (r != -EINVAL)
			fail_msg(
			    "case %zu: returned %d, expected -EINVAL", i, r);
		if (strcmp(err, cases[i].message) != 0)
			fail_msg("case %zu:\n  got      '%s'\n  expected '%s'",
			    i, err, cases[i].message);
		/* The generator refuses what does not validate. */
		assert_int_equal(
		    policy_generate(&p, buf, sizeof(buf)), -EINVAL);
	}
}

static void
test_format(void **state)
{
	struct policy p;
	char buf[POLICY_FORMAT_SIZE], small[8];

	(void)state;
	/* The longest a policy can format to fits POLICY_FORMAT_SIZE. */
	policy_default(&p);
	p.length = -256;
	p.upper = p.lower = p.digits = p.special = -256;
	memset(p.special_chars, '!', sizeof(p.special_chars) - 1);
	p.special_chars[sizeof(p.special_chars) - 1] = '\0';
	assert_int_equal(policy_format(&p, buf, sizeof(buf)), 0);
	assert_int_equal(strlen(buf), 4 + 4 * 5 + 1 + 127);

	policy_default(&p);
	assert_int_equal(policy_format(&p, small, sizeof(small)), -ENOSPC);
	assert_string_equal(small, "32,5,5,");
}

static int
char_class(const struct policy *p, char c)
{
	if (c >= 'A' && c <= 'Z')
		return 0;
	if (c >= 'a' && c <= 'z')
		return 1;
	if (c >= '0' && c <= '9')
		return 2;
	if (c != '\0' && strchr(p->special_chars, c) != NULL)
		return 3;
	return -1;
}

/* Check PW against every rule of P; fails the test with the reason. */
static void
check_password(const struct policy *p, const char *pw)
{
	const int want[4] = { p->upper, p->lower, p->digits, p->special };
	static const char *const names[4] = { "upper", "lower", "digits",
		"special" };
	int got[4] = { 0 }, k;
	size_t i, len = strnlen(pw, POLICY_LENGTH_MAX + 1);

	if (len != (size_t)p->length)
		fail_msg("'%s': length %zu, expected %d", pw, len, p->length);
	for (i = 0; i < len; i++) {
		if ((k = char_class(p, pw[i])) < 0)
			fail_msg("'%s': '%c' is in no class", pw, pw[i]);
		if (strchr(p->exclude, pw[i]) != NULL)
			fail_msg("'%s': '%c' is excluded", pw, pw[i]);
		got[k]++;
	}
	for (k = 0; k < 4; k++) {
		if ((want[k] > 0 && got[k] < want[k]) ||
		    (want[k] <= 0 && got[k] != -want[k]))
			fail_msg("'%s': %d %s, policy says %d", pw, got[k],
			    names[k], want[k]);
	}
	if (char_class(p, pw[0]) == 3)
		fail_msg("'%s' starts with a special character", pw);
}

static void
test_generate_follows_policy(void **state)
{
	static const struct {
		const char *policy, *exclude;
	} cases[] = {
		{ "32,5,5,5,5", "" },
		{ "20,2,2,2,-1,!@#", "" },
		{ "12,0,0,-6,-6", "" },
		{ "16,3,0,2,0", "0O1lI" },
		{ "8,1,1,1,1", "!@#$%()+;<>=?" },
		{ "4,1,0,0,-3", "" },
		{ "10,-1,2,0,3,!", "" },
		{ "256,1,1,1,1", "{}[]^" },
	};
	enum {
		SAMPLES_EACH = 2500
	};
	struct policy p;
	char buf[POLICY_LENGTH_MAX + 1];
	size_t i;
	int n;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		p = parsed(cases[i].policy);
		strcpy(p.exclude, cases[i].exclude);
		for (n = 0; n < SAMPLES_EACH; n++) {
			assert_int_equal(
			    policy_generate(&p, buf, sizeof(buf)), 0);
			check_password(&p, buf);
		}
	}
}

static void
test_generate_errors(void **state)
{
	struct policy p;
	char buf[64], big[POLICY_LENGTH_MAX + 1];
	size_t i;

	(void)state;
	p = parsed("16,1,1,1,1");

	/* No room for the NUL: BUF is not touched at all. */
	memset(buf, 'Z', sizeof(buf));
	assert_int_equal(policy_generate(&p, buf, 16), -ENOSPC);
	assert_int_equal(policy_generate(&p, buf, 0), -ENOSPC);
	for (i = 0; i < sizeof(buf); i++)
		assert_int_equal(buf[i], 'Z');

	/* Exactly enough room, and not a byte more is written. */
	assert_int_equal(policy_generate(&p, buf, 17), 0);
	assert_int_equal(strlen(buf), 16);
	for (i = 17; i < sizeof(buf); i++)
		assert_int_equal(buf[i], 'Z');

	/* RAND_bytes failing at once, or half way: BUF is wiped. */
	memset(buf, 'Z', sizeof(buf));
	rand_calls_left = 0;
	assert_int_equal(policy_generate(&p, buf, sizeof(buf)), -EIO);
	for (i = 0; i <= 16; i++)
		assert_int_equal(buf[i], '\0');
	assert_int_equal(buf[17], 'Z');

	/* 64 draws a block: 256 characters and their shuffle take 8. */
	p = parsed("256,1,1,1,1");
	rand_calls_left = 3;
	memset(big, 'Z', sizeof(big));
	assert_int_equal(policy_generate(&p, big, sizeof(big)), -EIO);
	for (i = 0; i < sizeof(big); i++)
		assert_int_equal(big[i], '\0');
	rand_calls_left = -1;
	assert_int_equal(policy_generate(&p, buf, sizeof(buf)), -ENOSPC);
	p = parsed("16,1,1,1,1");
	assert_int_equal(policy_generate(&p, buf, sizeof(buf)), 0);
}

/* ---- statistics ---- */

/*
 * The budget for a false failure of the whole run, split evenly between
 * the chi-square tests below (Bonferroni): 4 classes, 16 positions, the
 * first character, the arrangement of classes.
 */
#define FALSE_FAILURE 1e-4
#define STAT_TESTS 22
#define SAMPLES 50000

/* The z with P(Z > z) = alpha for a standard normal Z, by bisection. */
static double
normal_upper_quantile(double alpha)
{
	double lo = 0, hi = 40, mid;
	int i;

	for (i = 0; i < 200; i++) {
		mid = (lo + hi) / 2;
		if (erfc(mid / sqrt(2.0)) / 2 > alpha)
			lo = mid;
		else
			hi = mid;
	}
	return (lo + hi) / 2;
}

/*
 * The chi-square value with DF degrees of freedom that is exceeded with
 * probability ALPHA, by Wilson and Hilferty (1931): (X / df)^(1/3) is
 * nearly normal with mean 1 - 2 / (9 df) and variance 2 / (9 df).  In the
 * far tail and for the small df used here it errs on the safe side: at
 * df = 5 and alpha = 1e-4 / 18, the exact tail beyond it is 0.58 alpha.
 */
static double
chi2_critical(int df, double alpha)
{
	double v = 2.0 / (9.0 * df), t;

	t = 1.0 - v + normal_upper_quantile(alpha) * sqrt(v);
	return df * t * t * t;
}

/* Pearson's statistic of N observed counts against equal expectations. */
static double
chi2_uniform(const long *observed, int n, long total)
{
	double expected = (double)total / n, d, x = 0;
	int i;

	for (i = 0; i < n; i++) {
		d = observed[i] - expected;
		x += d * d / expected;
	}
	return x;
}

static void
expect_uniform(const char *what, const long *observed, int n, long total)
{
	double x = chi2_uniform(observed, n, total);
	double crit = chi2_critical(n - 1, FALSE_FAILURE / STAT_TESTS);

	if (!(x <= crit))
		fail_msg("%s: chi-square %.2f with %d degrees of freedom is "
			 "above the critical value %.2f",
		    what, x, n - 1, crit);
}

static int
index_of(const char *alphabet, char c)
{
	const char *q = c == '\0' ? NULL : strchr(alphabet, c);

	if (q == NULL)
		fail_msg("'%c' is not in '%s'", c, alphabet);
	return (int)(q - alphabet);
}

/*
 * Within each class every character is equally likely: the class draws and
 * the filler draws are each uniform, and which class a character comes
 * from does not depend on which character of the class it is.  Given how
 * many characters of a class were drawn, their counts are multinomial, so
 * Pearson's test applies to the pooled counts.  The default policy's
 * filler has 82 characters and 256 mod 82 = 10, so an index taken from a
 * byte modulo the size would favour 10 of them by a third.
 */
static void
test_chars_uniform_within_class(void **state)
{
	static const char *const classes[] = { "ABCDEFGHIJKLMNOPQRSTUVWXYZ",
		"abcdefghijklmnopqrstuvwxyz", "0123456789",
		POLICY_DEFAULT_SPECIAL_CHARS };
	static long counts[4][32];
	struct policy p;
	char buf[33];
	long s, total[4] = { 0 };
	int i, k;

	(void)state;
	memset(counts, 0, sizeof(counts));
	policy_default(&p);
	for (s = 0; s < SAMPLES; s++) {
		assert_int_equal(policy_generate(&p, buf, sizeof(buf)), 0);
		for (i = 0; i < 32; i++) {
			k = char_class(&p, buf[i]);
			assert_true(k >= 0);
			counts[k][index_of(classes[k], buf[i])]++;
			total[k]++;
		}
	}
	for (k = 0; k < 4; k++)
		expect_uniform(
		    classes[k], counts[k], (int)strlen(classes[k]), total[k]);
}

/*
 * Each position's character is uniform.  "16,1,1,0,0" with upper cut down
 * to ABC and lower to xyz: both classes in the filler, the same size and
 * the same count, so by symmetry every position is uniform over the six
 * letters.  Catches a biased draw, and a missing or skewed shuffle (the
 * required letters would crowd the positions they are drawn into).
 */
static void
test_positions_uniform(void **state)
{
	static const char alphabet[] = "ABCxyz";
	enum {
		LEN = 16,
		N = sizeof(alphabet) - 1
	};
	static long counts[LEN][N];
	struct policy p;
	char buf[LEN + 1], what[32];
	long s;
	int i;

	(void)state;
	memset(counts, 0, sizeof(counts));
	p = parsed("16,1,1,0,0");
	strcpy(p.exclude, KEEP_ABC_XYZ);
	for (s = 0; s < SAMPLES; s++) {
		assert_int_equal(policy_generate(&p, buf, sizeof(buf)), 0);
		for (i = 0; i < LEN; i++)
			counts[i][index_of(alphabet, buf[i])]++;
	}
	for (i = 0; i < LEN; i++) {
		snprintf(what, sizeof(what), "position %d", i);
		expect_uniform(what, counts[i], N, SAMPLES);
	}
}

/*
 * The first character is uniform over the letters even when specials are
 * in the filler and must be kept from the front: "8,1,1,0,2" over ABC,
 * xyz and "!@#" is again symmetric in upper and lower.
 */
static void
test_first_char_uniform(void **state)
{
	static const char alphabet[] = "ABCxyz";
	enum {
		N = sizeof(alphabet) - 1
	};
	long counts[N] = { 0 };
	struct policy p;
	char buf[9];
	long s;

	(void)state;
	p = parsed("8,1,1,0,2,!@#");
	strcpy(p.exclude, KEEP_ABC_XYZ);
	for (s = 0; s < SAMPLES; s++) {
		assert_int_equal(policy_generate(&p, buf, sizeof(buf)), 0);
		counts[index_of(alphabet, buf[0])]++;
	}
	expect_uniform("first character", counts, N, SAMPLES);
}

/*
 * The arrangement is uniform over those that do not start with a special
 * character.  "6,0,0,-3,-3" always draws three digits and three specials;
 * the first is a digit, and the other two digits take any 2 of the
 * remaining 5 positions, all C(5,2) = 10 patterns equally likely.  A fix
 * of the first character that is not uniform (swapping with the next
 * position, or with the first letter or digit) skews the patterns.
 */
static void
test_arrangement_uniform(void **state)
{
	enum {
		N = 10
	};
	long counts[N] = { 0 };
	int pattern_index[64], mask, bits, i, n = 0;
	struct policy p;
	char buf[7];
	long s;

	(void)state;
	for (mask = 0; mask < 64; mask++) {
		pattern_index[mask] = -1;
		for (bits = 0, i = 0; i < 6; i++)
			bits += mask >> i & 1;
		if (bits == 3 && !(mask & 1))
			pattern_index[mask] = n++;
	}
	assert_int_equal(n, N);

	p = parsed("6,0,0,-3,-3");
	for (s = 0; s < SAMPLES; s++) {
		assert_int_equal(policy_generate(&p, buf, sizeof(buf)), 0);
		for (mask = 0, i = 0; i < 6; i++)
			if (buf[i] < '0' || buf[i] > '9')
				mask |= 1 << i;
		if (pattern_index[mask] < 0)
			fail_msg(
			    "'%s': not 3 digits first and 3 specials", buf);
		counts[pattern_index[mask]]++;
	}
	expect_uniform(
	    "arrangement of digits and specials", counts, N, SAMPLES);
}

/* The tests can fail: a skewed sample is caught, a fair one is not. */
static void
test_chi_square_detects_bias(void **state)
{
	long fair[6] = { 8333, 8334, 8333, 8333, 8334, 8333 };
	long skewed[6] = { 8833, 8334, 7833, 8333, 8334, 8333 };
	double crit = chi2_critical(5, FALSE_FAILURE / STAT_TESTS);

	(void)state;
	/* Wilson-Hilferty against the exact 99.9% point of chi2(5), 20.515. */
	assert_true(fabs(chi2_critical(5, 1e-3) - 20.515) < 0.3);
	assert_true(chi2_uniform(fair, 6, 50000) < crit);
	assert_true(chi2_uniform(skewed, 6, 50000) > crit);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_default),
		cmocka_unit_test(test_parse_good),
		cmocka_unit_test(test_parse_errors),
		cmocka_unit_test(test_validate),
		cmocka_unit_test(test_format),
		cmocka_unit_test(test_generate_follows_policy),
		cmocka_unit_test(test_generate_errors),
		cmocka_unit_test(test_chi_square_detects_bias),
		cmocka_unit_test_setup_teardown(
		    test_chars_uniform_within_class, fixed_on, fixed_off),
		cmocka_unit_test_setup_teardown(
		    test_positions_uniform, fixed_on, fixed_off),
		cmocka_unit_test_setup_teardown(
		    test_first_char_uniform, fixed_on, fixed_off),
		cmocka_unit_test_setup_teardown(
		    test_arrangement_uniform, fixed_on, fixed_off),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
