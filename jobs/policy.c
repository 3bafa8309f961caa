/*
 * policy.c: Keeper password complexity, parsed, checked, and generated.
 *
 * Generation follows Keeper Commander's KeeperPasswordGenerator: draw
 * |count| characters from each class, fill up to the length from the
 * union of the classes with a positive count, and shuffle.  Two things
 * differ.  Every draw is an unbiased index from RAND_bytes (rejection
 * sampling, never a bare modulo).  And the shuffle is split so that the
 * password never starts with a special character without favouring any
 * arrangement: the first character is a uniformly chosen non-special one
 * of those drawn, and the rest are shuffled by Fisher-Yates (see
 * arrange()).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "policy.h"

enum class {
	CLASS_UPPER,
	CLASS_LOWER,
	CLASS_DIGITS,
	CLASS_SPECIAL,
	CLASS_COUNT
};

static const char *const class_names[CLASS_COUNT] = {
	[CLASS_UPPER] = "upper",
	[CLASS_LOWER] = "lower",
	[CLASS_DIGITS] = "digits",
	[CLASS_SPECIAL] = "special",
};

/* What "exclusions remove every ..." says of each class. */
static const char *const class_plurals[CLASS_COUNT] = {
	[CLASS_UPPER] = "uppercase letter",
	[CLASS_LOWER] = "lowercase letter",
	[CLASS_DIGITS] = "digit",
	[CLASS_SPECIAL] = "special character",
};

/*
 * The characters a class may use once exclusions are taken away.  The
 * classes are disjoint (special characters are never letters or digits,
 * nor repeated), so a uniform draw from a concatenation of them is a
 * uniform draw of a distinct character.
 */
struct alphabet {
	char c[128]; /* at most 26 + 26 + 10 + 32 distinct characters */
	uint32_t n;
};

/* Random bytes fetched in blocks; they determine the password. */
struct rng {
	unsigned char buf[256];
	size_t pos;
};

static int __attribute__((format(printf, 3, 4)))
fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err != NULL && errlen > 0) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

/* ASCII only: the classes are ASCII whatever the locale says. */
static bool
is_alnum(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	    (c >= '0' && c <= '9');
}

static bool
is_graph(char c)
{
	return c > ' ' && c <= '~';
}

static void
get_counts(const struct policy *p, int counts[CLASS_COUNT])
{
	counts[CLASS_UPPER] = p->upper;
	counts[CLASS_LOWER] = p->lower;
	counts[CLASS_DIGITS] = p->digits;
	counts[CLASS_SPECIAL] = p->special;
}

/*
 * Check a special-character set.  WHAT names it in messages, as the field
 * or as the item of Keeper's string it came from.
 */
static int
check_special_chars(const char *s, const char *what, char *err, size_t errlen)
{
	const char *q;

	if (*s == '\0')
		return fail(err, errlen,
		    "%s: the special-character set is empty", what);
	for (q = s; *q != '\0'; q++) {
		if (*q == ' ')
			return fail(err, errlen,
			    "%s: a space cannot be a special character", what);
		if (!is_graph(*q))
			return fail(err, errlen,
			    "%s: byte 0x%02x is not a printable ASCII "
			    "character",
			    what, (unsigned char)*q);
		if (is_alnum(*q))
			return fail(err, errlen,
			    "%s: '%c' is a letter or digit, not a special "
			    "character",
			    what, *q);
		if (strchr(q + 1, *q) != NULL)
			return fail(err, errlen,
			    "%s: '%c' appears more than once", what, *q);
	}
	return 0;
}

static void
build_alphabet(const char *from, const char *exclude, struct alphabet *ret)
{
	ret->n = 0;
	for (; *from != '\0'; from++)
		if (strchr(exclude, *from) == NULL)
			ret->c[ret->n++] = *from;
}

/* Call only once special_chars and exclude are known to fit their arrays. */
static void
build_alphabets(const struct policy *p, struct alphabet ret[CLASS_COUNT])
{
	build_alphabet(
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ", p->exclude, &ret[CLASS_UPPER]);
	build_alphabet(
	    "abcdefghijklmnopqrstuvwxyz", p->exclude, &ret[CLASS_LOWER]);
	build_alphabet("0123456789", p->exclude, &ret[CLASS_DIGITS]);
	build_alphabet(p->special_chars, p->exclude, &ret[CLASS_SPECIAL]);
}

/* Check the two character arrays of P, which may come from anywhere. */
static int
check_strings(const struct policy *p, char *err, size_t errlen)
{
	const char *q;
	int r;

	/* Do not read past the arrays. */
	if (memchr(p->special_chars, '\0', sizeof(p->special_chars)) == NULL)
		return fail(err, errlen,
		    "special_chars is longer than %zu characters",
		    sizeof(p->special_chars) - 1);
	if (memchr(p->exclude, '\0', sizeof(p->exclude)) == NULL)
		return fail(err, errlen,
		    "exclude is longer than %zu characters",
		    sizeof(p->exclude) - 1);
	if ((r = check_special_chars(
		 p->special_chars, "special_chars", err, errlen)) < 0)
		return r;
	for (q = p->exclude; *q != '\0'; q++) {
		if (*q == ' ')
			return fail(err, errlen,
			    "exclude: a space cannot be excluded: passwords "
			    "never contain one");
		if (!is_graph(*q))
			return fail(err, errlen,
			    "exclude: byte 0x%02x is not a printable ASCII "
			    "character",
			    (unsigned char)*q);
	}
	return 0;
}

void
policy_default(struct policy *p)
{
	memset(p, 0, sizeof(*p));
	p->length = 32;
	p->upper = 5;
	p->lower = 5;
	p->digits = 5;
	p->special = 5;
	strcpy(p->special_chars, POLICY_DEFAULT_SPECIAL_CHARS);
}

int
policy_validate(const struct policy *p, char *err, size_t errlen)
{
	struct alphabet alpha[CLASS_COUNT];
	int counts[CLASS_COUNT], sum = 0, plain = 0, k, r;
	bool filler = false, exact = false;
	const char *which;

	if (p->length < POLICY_LENGTH_MIN || p->length > POLICY_LENGTH_MAX)
		return fail(err, errlen, "length %d is out of range %d..%d",
		    p->length, POLICY_LENGTH_MIN, POLICY_LENGTH_MAX);
	get_counts(p, counts);
	for (k = 0; k < CLASS_COUNT; k++)
		if (counts[k] < -POLICY_LENGTH_MAX ||
		    counts[k] > POLICY_LENGTH_MAX)
			return fail(err, errlen, "%s %d is out of range %d..%d",
			    class_names[k], counts[k], -POLICY_LENGTH_MAX,
			    POLICY_LENGTH_MAX);

	if ((r = check_strings(p, err, errlen)) < 0)
		return r;

	build_alphabets(p, alpha);
	for (k = 0; k < CLASS_COUNT; k++) {
		if (counts[k] != 0 && alpha[k].n == 0)
			return fail(err, errlen, "exclusions remove every %s",
			    class_plurals[k]);
		sum += abs(counts[k]);
		if (counts[k] > 0)
			filler = true;
		if (counts[k] < 0)
			exact = true;
		if (k != CLASS_SPECIAL)
			plain += abs(counts[k]);
	}
	if (sum > p->length) {
		if (!exact)
			which = "minimum";
		else if (filler)
			which = "minimum and exact";
		else
			which = "exact";
		return fail(err, errlen,
		    "length %d is less than the %d characters the %s counts "
		    "require",
		    p->length, sum, which);
	}
	if (!filler && sum < p->length)
		return fail(err, errlen,
		    "every class is excluded from the filler but the exact "
		    "counts add up to %d, not length %d",
		    sum, p->length);
	/*
	 * Only a letter or digit can come first, so one must always be
	 * drawn; the filler cannot promise one (it may draw only specials).
	 */
	if (plain == 0)
		return fail(err, errlen,
		    "upper, lower and digits are all 0, so every character "
		    "would be special, but a password cannot start with one");
	return 0;
}

static const char *const item_names[] = { "length", "upper", "lower", "digits",
	"special", "special characters" };

/*
 * Parse item N (0-based) of Keeper's string, the text [s, e), as an
 * integer within min..max.  Spaces and tabs around it are allowed, as
 * Commander strips them.
 */
static int
parse_int(const char *s, const char *e, int n, int min, int max, int *ret,
    char *err, size_t errlen)
{
	const char *d;
	long v = 0;
	bool neg = false;

	while (s < e && (*s == ' ' || *s == '\t'))
		s++;
	while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
		e--;
	if (s == e)
		return fail(
		    err, errlen, "item %d (%s) is empty", n + 1, item_names[n]);
	d = s;
	if (*d == '-') {
		neg = true;
		d++;
	}
	if (d == e)
		return fail(err, errlen,
		    "item %d (%s): expected an integer, found '%.*s'", n + 1,
		    item_names[n], (int)(e - s), s);
	for (; d < e; d++) {
		if (*d < '0' || *d > '9')
			return fail(err, errlen,
			    "item %d (%s): expected an integer, found '%.*s'",
			    n + 1, item_names[n], (int)(e - s), s);
		/* Saturate: anything this large is out of range anyway. */
		if (v < 100000)
			v = v * 10 + (*d - '0');
	}
	if (neg)
		v = -v;
	if (v < min || v > max)
		return fail(err, errlen,
		    "item %d (%s): %.*s is out of range %d..%d", n + 1,
		    item_names[n], (int)(e - s), s, min, max);
	*ret = (int)v;
	return 0;
}

int
policy_parse(const char *s, struct policy *ret, char *err, size_t errlen)
{
	struct policy p;
	const char *start[5], *end[5], *chars = NULL, *q;
	int *fields[5] = { &p.length, &p.upper, &p.lower, &p.digits,
		&p.special };
	int n = 0, i, r;

	if (s == NULL || *s == '\0')
		return fail(err, errlen,
		    "empty: expected "
		    "\"length,upper,lower,digits,special[,chars]\"");
	/* Items 1-5 end at a comma; item 6 is the rest, commas and all. */
	start[0] = s;
	for (q = s; *q != '\0' && chars == NULL; q++) {
		if (*q != ',')
			continue;
		end[n++] = q;
		if (n == 5)
			chars = q + 1;
		else
			start[n] = q + 1;
	}
	if (chars == NULL) {
		if (n < 4)
			return fail(err, errlen,
			    "expected 5 or 6 comma-separated items "
			    "\"length,upper,lower,digits,special[,chars]\", "
			    "found %d",
			    n + 1);
		end[n++] = q;
	}

	policy_default(&p);
	for (i = 0; i < 5; i++) {
		r = parse_int(start[i], end[i], i,
		    i == 0 ? POLICY_LENGTH_MIN : -POLICY_LENGTH_MAX,
		    POLICY_LENGTH_MAX, fields[i], err, errlen);
		if (r < 0)
			return r;
	}
	if (chars != NULL) {
		if (*chars == '\0')
			return fail(err, errlen,
			    "item 6 (special characters) is empty; leave it "
			    "out for the default set");
		if (strlen(chars) >= sizeof(p.special_chars))
			return fail(err, errlen,
			    "item 6 (special characters) is longer than %zu "
			    "characters",
			    sizeof(p.special_chars) - 1);
		if ((r = check_special_chars(chars,
			 "item 6 (special characters)", err, errlen)) < 0)
			return r;
		strcpy(p.special_chars, chars);
	}
	if ((r = policy_validate(&p, err, errlen)) < 0)
		return r;
	*ret = p;
	return 0;
}

int
policy_format(const struct policy *p, char *buf, size_t size)
{
	int n;

	n = snprintf(buf, size, "%d,%d,%d,%d,%d,%s", p->length, p->upper,
	    p->lower, p->digits, p->special, p->special_chars);
	if (n < 0)
		return -EINVAL;
	return (size_t)n < size ? 0 : -ENOSPC;
}

/*
 * An unbiased index in [0, bound), bound >= 1, as OpenBSD's
 * arc4random_uniform(): of the 2^32 values of a random word, the lowest
 * 2^32 mod bound are rejected, so that every residue of the rest has the
 * same number of preimages.  A draw is rejected with probability below
 * bound / 2^32, so the loop ends at once in practice.
 */
static int
uniform(struct rng *rng, uint32_t bound, uint32_t *ret)
{
	uint32_t min = -bound % bound, x;

	for (;;) {
		if (rng->pos + sizeof(x) > sizeof(rng->buf)) {
			if (RAND_bytes(rng->buf, sizeof(rng->buf)) != 1)
				return -EIO;
			rng->pos = 0;
		}
		memcpy(&x, rng->buf + rng->pos, sizeof(x));
		rng->pos += sizeof(x);
		if (x >= min)
			break;
	}
	*ret = x % bound;
	return 0;
}

static void
swap(char *a, char *b)
{
	char t = *a;

	*a = *b;
	*b = t;
}

/*
 * Arrange the N >= 1 drawn characters of PW so that every arrangement that
 * does not start with a special character is equally likely.  Think of
 * the characters as N distinct items (two equal characters are still two
 * draws).  The first item is chosen uniformly among the M non-special
 * ones; Fisher-Yates then puts the other N - 1 in each of their (N - 1)!
 * orders with the same probability, whatever order they start in.  So each
 * of the M * (N - 1)! arrangements with a non-special first item comes out
 * with probability 1 / (M * (N - 1)!), and no other arrangement can.  That
 * is Commander's uniform shuffle of the same items, conditioned on the
 * rule.  The draws themselves are left as Commander makes them: rejecting
 * whole passwords instead would also favour draws with fewer specials in
 * the filler, by (N - specials) / N, which is no more uniform, only
 * different, and takes unbounded time.  M >= 1 because policy_validate()
 * insists on a letter or digit.
 */
static int
arrange(struct rng *rng, char *pw, int n)
{
	uint32_t m = 0, pick, j;
	int i, r;

	for (i = 0; i < n; i++)
		if (is_alnum(pw[i]))
			m++;
	if ((r = uniform(rng, m, &pick)) < 0)
		return r;
	for (i = 0; i < n; i++)
		if (is_alnum(pw[i]) && pick-- == 0)
			break;
	swap(&pw[0], &pw[i]);

	/* Fisher-Yates over pw[1..n-1]: pw[i] trades with pw[1..i]. */
	for (i = n - 1; i > 1; i--) {
		if ((r = uniform(rng, (uint32_t)i, &j)) < 0)
			return r;
		swap(&pw[i], &pw[1 + j]);
	}
	return 0;
}

int
policy_generate(const struct policy *p, char *buf, size_t size)
{
	struct alphabet alpha[CLASS_COUNT], filler = { .n = 0 };
	struct rng rng = { .pos = sizeof(rng.buf) };
	int counts[CLASS_COUNT], n = 0, k, i, r;
	uint32_t x;

	if (policy_validate(p, NULL, 0) < 0)
		return -EINVAL;
	if (size <= (size_t)p->length)
		return -ENOSPC;

	get_counts(p, counts);
	build_alphabets(p, alpha);
	for (k = 0; k < CLASS_COUNT; k++) {
		if (counts[k] <= 0)
			continue;
		memcpy(filler.c + filler.n, alpha[k].c, alpha[k].n);
		filler.n += alpha[k].n;
	}

	for (k = 0; k < CLASS_COUNT; k++) {
		for (i = 0; i < abs(counts[k]); i++) {
			if ((r = uniform(&rng, alpha[k].n, &x)) < 0)
				goto out;
			buf[n++] = alpha[k].c[x];
		}
	}
	/* policy_validate() made sure the filler is not empty if needed. */
	while (n < p->length) {
		if ((r = uniform(&rng, filler.n, &x)) < 0)
			goto out;
		buf[n++] = filler.c[x];
	}
	if ((r = arrange(&rng, buf, n)) < 0)
		goto out;
	buf[n] = '\0';
	r = 0;

out:
	OPENSSL_cleanse(&rng, sizeof(rng));
	if (r < 0)
		OPENSSL_cleanse(buf, (size_t)p->length + 1);
	return r;
}
