/*
 * policy: Keeper password complexity, and a password generator for it.
 *
 * A policy is Keeper's "length,upper,lower,digits,special[,chars]", for
 * example "32,5,5,5,5" or "20,2,2,2,-1,!@#", or the same fields set one by
 * one (the YAML mapping form) and then checked with policy_validate().
 *
 * The counts mean what they mean to Keeper Commander's
 * KeeperPasswordGenerator (keepercommander/generator.py):
 *
 *   N > 0  at least N characters of the class, and the class is in the
 *          filler;
 *   0      none of the class: Commander leaves a class whose count is not
 *          positive out of the filler, so 0 is "none", not "any number";
 *   -N     exactly N characters of the class, and the class is not in the
 *          filler.
 *
 * The filler is the length minus the sum of |counts|; each filler character
 * is drawn uniformly from the union of the classes whose count is positive.
 * Then the characters are shuffled.
 *
 * Where Commander quietly does something else, rotad refuses the policy
 * (policy_validate() says why): counts that add up to more than the length
 * (Commander makes a longer password), and characters left to fill with
 * every class out of the filler (Commander then fills from the classes with
 * negative counts, breaking "exactly", or fails with "Password character
 * set is empty").  On top of Commander, as Keeper's rotation does, a
 * password never starts with a special character, and a provider can
 * exclude characters its target cannot take safely (exclude).
 *
 * libcrypto only (RAND_bytes, OPENSSL_cleanse).  Never logs.
 */
#ifndef ROTAD_POLICY_H
#define ROTAD_POLICY_H

#include <stddef.h>

/* Password lengths a policy may ask for. */
#define POLICY_LENGTH_MIN 4
#define POLICY_LENGTH_MAX 256

/* Counts are within -POLICY_LENGTH_MAX..POLICY_LENGTH_MAX. */

/* Keeper Commander's PW_SPECIAL_CHARACTERS. */
#define POLICY_DEFAULT_SPECIAL_CHARS "!@#$%()+;<>=?[]{}^.,"

/* Room for policy_format() of any valid policy, NUL included. */
#define POLICY_FORMAT_SIZE 160

/*
 * Plain data, set field by field or by policy_parse().  special_chars:
 * printable ASCII, neither letters nor digits nor space, each once, at
 * least one.  exclude: printable ASCII characters that no class may use;
 * it is not part of Keeper's string and policy_parse() clears it, so that
 * a provider adds its own after loading.
 */
struct policy {
	int length;
	int upper, lower, digits, special;
	char special_chars[128];
	char exclude[128];
};

/* Keeper's default: "32,5,5,5,5" with POLICY_DEFAULT_SPECIAL_CHARS. */
void policy_default(struct policy *p);

/*
 * Parse Keeper's "length,upper,lower,digits,special[,chars]".  Spaces
 * around the numbers are allowed; chars is everything after the fifth
 * comma, verbatim, so it may hold commas.  Without chars the set is
 * Commander's default.  On success fill *ret whole (exclude empty) and
 * return 0.  Otherwise return -EINVAL, leave *ret alone, and write into
 * err (when not NULL) why, naming the comma-separated item (1-based) at
 * fault, or the rule policy_validate() found broken.
 */
int policy_parse(const char *s, struct policy *ret, char *err, size_t errlen);

/*
 * Check that P is well formed and satisfiable: length 4..256, counts
 * -256..256, the special-character set as described above, at least one
 * character for every class that is asked for once exclude is taken away,
 * the counts fit in the length, the filler has characters to draw from
 * when there is anything to fill, and at least one character is not
 * special (the first).  Return 0, or -EINVAL with the reason in err.
 */
int policy_validate(const struct policy *p, char *err, size_t errlen);

/*
 * Generate a password for P into BUF, NUL-terminated.  Every character and
 * every index is drawn from RAND_bytes without modulo bias; the result has
 * Commander's distribution of characters, arranged uniformly among the
 * arrangements that do not start with a special character.  The caller
 * owns BUF and wipes it; our own random bytes are wiped before returning.
 * Returns 0; -EINVAL if P does not validate; -ENOSPC if size <= length
 * (BUF untouched); -EIO if RAND_bytes fails (BUF wiped to "").
 */
int policy_generate(const struct policy *p, char *buf, size_t size);

/*
 * Write P's canonical Keeper string, "length,upper,lower,digits,special,
 * chars" (the set always spelled out; exclude is not part of it), into
 * BUF.  Returns 0, or -ENOSPC if it did not fit (BUF then holds a
 * truncated, NUL-terminated string).  POLICY_FORMAT_SIZE always fits.
 */
int policy_format(const struct policy *p, char *buf, size_t size);

#endif
