/*
 * libFuzzer target: authkeys_set() and its two readers on any
 * authorized_keys file, which comes from the target machine.
 *
 * Input: the KEYLINE to set, a '\n', then the file (no '\n': all KEYLINE,
 * an empty file).  Besides not crashing, on success:
 *   - the result is NUL-terminated at its length, and "unchanged"
 *     exactly when it equals the input;
 *   - the lines that contain neither tag, and the comments, are those
 *     of the input, byte for byte, in the same order (only tagged lines
 *     are edited);
 *   - setting the same key again changes nothing;
 *   - the result authorizes the key, through our line (the tagged key)
 *     or an untagged one (then no line is tagged): a line that has
 *     neither tag in it holding the key leaves no tagged line;
 *   - a file that held the key on no line is always changed;
 *   - an appended line follows the input whole, after a line end.
 * A KEYLINE that set refuses, find refuses too.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "authkeys.h"

#define TAG "rotad-deploy"
#define ADOPT "keeper-security-deploy"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Whether the line P (N bytes) contains either tag. */
static bool
has_tag(const char *p, size_t n)
{
	return memmem(p, n, TAG, strlen(TAG)) != NULL ||
	    memmem(p, n, ADOPT, strlen(ADOPT)) != NULL;
}

/* Whether the line P (N bytes) is a comment: '#' after blanks. */
static bool
is_comment(const char *p, size_t n)
{
	size_t i = 0;

	while (i < n && (p[i] == ' ' || p[i] == '\t'))
		i++;
	return i < n && p[i] == '#';
}

/*
 * The next line of T (LEN bytes) from *POS that contains neither tag (or
 * is a comment, which no tag makes a key), without its '\n', into *RET_P
 * and *RET_N; false at the end.  The empty piece after a final '\n' is
 * no line.
 */
static bool
next_kept(
    const char *t, size_t len, size_t *pos, const char **ret_p, size_t *ret_n)
{
	const char *p, *nl;
	size_t n;

	while (*pos < len) {
		p = t + *pos;
		nl = memchr(p, '\n', len - *pos);
		n = nl != NULL ? (size_t)(nl - p) : len - *pos;
		*pos += nl != NULL ? n + 1 : n;
		if (!has_tag(p, n) || is_comment(p, n)) {
			*ret_p = p;
			*ret_n = n;
			return true;
		}
	}
	return false;
}

/* The untagged lines of A and B (and comments) are the same, in the same
 * order. */
/*
 * Whether a line of T (LEN bytes) without either tag in it holds KEYLINE:
 * a line that is surely the operator's, found without asking authkeys
 * which lines are tagged.
 */
static bool
operator_holds(const char *t, size_t len, const char *keyline)
{
	const char *p;
	char *kept;
	size_t pos = 0, n, k = 0;
	bool found = false;

	if ((kept = malloc(len + 1)) == NULL)
		abort();
	while (next_kept(t, len, &pos, &p, &n)) {
		memcpy(kept + k, p, n);
		k += n;
		kept[k++] = '\n';
	}
	if (authkeys_find(kept, k, keyline, &found) != 0)
		abort();
	free(kept);
	return found;
}

static void
check_kept(const char *a, size_t alen, const char *b, size_t blen)
{
	const char *pa, *pb;
	size_t ia = 0, ib = 0, na, nb;
	bool more_a, more_b;

	for (;;) {
		more_a = next_kept(a, alen, &ia, &pa, &na);
		more_b = next_kept(b, blen, &ib, &pb, &nb);
		if (more_a != more_b)
			abort();
		if (!more_a)
			return;
		if (na != nb || memcmp(pa, pb, na) != 0)
			abort();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct authkeys_change chg, again;
	const char *old, *nl;
	char *keyline, *out = NULL, *out2 = NULL, *mine = NULL, buf[512];
	size_t klen, oldlen, len, len2, head;
	bool before = false, after = false;
	int r;

	nl = memchr(data, '\n', size);
	klen = nl != NULL ? (size_t)(nl - (const char *)data) : size;
	old = nl != NULL ? nl + 1 : NULL;
	oldlen = nl != NULL ? size - klen - 1 : 0;
	if ((keyline = malloc(klen + 1)) == NULL)
		return 0;
	memcpy(keyline, data, klen);
	keyline[klen] = '\0';

	r = authkeys_set(old, oldlen, TAG, ADOPT, keyline, &out, &len, &chg);
	if (r == -EINVAL || r == -E2BIG) {
		if (out != NULL ||
		    authkeys_find(old, oldlen, keyline, &before) != r)
			abort();
		goto out;
	}
	if (r != 0 || out == NULL || out[len] != '\0' ||
	    len > AUTHKEYS_MAX_SIZE)
		abort();
	if ((chg.action == AUTHKEYS_UNCHANGED) !=
	    (len == oldlen && (len == 0 || memcmp(out, old, len) == 0)))
		abort();
	check_kept(old, oldlen, out, len);

	/* Idempotent: the second rotation to the same key writes nothing. */
	if (authkeys_set(out, len, TAG, ADOPT, keyline, &out2, &len2, &again) !=
		0 ||
	    again.action != AUTHKEYS_UNCHANGED || len2 != len ||
	    memcmp(out2, out, len) != 0)
		abort();

	/* The key is authorized, by our line or by the operator's. */
	if (authkeys_find(old, oldlen, keyline, &before) != 0 ||
	    authkeys_find(out, len, keyline, &after) != 0 || !after)
		abort();
	/* Our line holds the key, or (the operator's does) there is none. */
	r = authkeys_tagged_key(out, len, TAG, ADOPT, buf, sizeof(buf));
	if (r == 0 && strcmp(buf, keyline) != 0)
		abort();
	if (r == -ENOENT && chg.action != AUTHKEYS_REMOVED &&
	    chg.action != AUTHKEYS_UNCHANGED)
		abort();
	if (r != 0 && r != -ENOENT && r != -ENOBUFS)
		abort();
	/* The operator's line authorizes the key: no line of ours is left,
	 * and it was removed, or there was none. */
	if (operator_holds(out, len, keyline) &&
	    (r != -ENOENT ||
		(chg.action != AUTHKEYS_REMOVED &&
		    chg.action != AUTHKEYS_UNCHANGED)))
		abort();
	if (!before &&
	    (chg.action == AUTHKEYS_UNCHANGED ||
		chg.action == AUTHKEYS_REMOVED))
		abort();

	if (chg.action == AUTHKEYS_APPENDED) {
		if (asprintf(&mine, "%s %s\n", keyline, TAG) < 0)
			goto out;
		/* The input, a line end if it lacked one, our line. */
		head = oldlen + (oldlen > 0 && old[oldlen - 1] != '\n');
		if (len != head + strlen(mine) ||
		    (oldlen > 0 && memcmp(out, old, oldlen) != 0) ||
		    (head > oldlen && out[oldlen] != '\n') ||
		    memcmp(out + head, mine, strlen(mine)) != 0)
			abort();
	}
out:
	free(mine);
	free(out2);
	free(out);
	free(keyline);
	return 0;
}
