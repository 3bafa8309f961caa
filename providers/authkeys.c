/*
 * authkeys.c: editing an authorized_keys file (see authkeys.h).
 *
 * Two passes over the text and no allocation per line: the first (scan)
 * finds the line to edit and whether an untagged line already holds the
 * key; the second copies into one buffer sized before it starts.  Lines
 * are parsed the way sshd parses them (auth2-pubkeyfile.c, sshkey.c), so
 * that what counts as a key line here is what sshd would read as one,
 * and anything else is left alone, byte for byte.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "authkeys.h"

/* No line is edited: scan found no tagged line. */
#define NO_LINE SIZE_MAX

/*
 * The key types OpenSSH reads from authorized_keys (sshkey.c's table,
 * less the experimental XMSS), certificates included.  A first token
 * that is none of them is an options field, as in sshd.
 */
static const char *const key_types[] = {
	"ssh-ed25519",
	"ssh-rsa",
	"ecdsa-sha2-nistp256",
	"ecdsa-sha2-nistp384",
	"ecdsa-sha2-nistp521",
	"sk-ssh-ed25519@openssh.com",
	"sk-ecdsa-sha2-nistp256@openssh.com",
	"ssh-dss",
	"ssh-ed25519-cert-v01@openssh.com",
	"ssh-rsa-cert-v01@openssh.com",
	"ecdsa-sha2-nistp256-cert-v01@openssh.com",
	"ecdsa-sha2-nistp384-cert-v01@openssh.com",
	"ecdsa-sha2-nistp521-cert-v01@openssh.com",
	"sk-ssh-ed25519-cert-v01@openssh.com",
	"sk-ecdsa-sha2-nistp256-cert-v01@openssh.com",
	"ssh-dss-cert-v01@openssh.com",
};

/* One line of the text: its bytes less the line end, and with it. */
struct line {
	size_t off; /* where it starts in the text */
	const char *p;
	size_t len;  /* without "\n", "\r\n" or a last "\r" */
	size_t size; /* with it */
};

/* The fields of a well-formed key line, pointing into the line. */
struct key {
	size_t prefix; /* bytes before the key type: blanks and options */
	const char *type;
	size_t typelen;
	const char *blob;
	size_t bloblen;
	const char *comment; /* blanks trimmed; may be empty */
	size_t commentlen;
};

/* Ordered: a TAG line is chosen over an ADOPT_TAG line. */
enum tagged {
	UNTAGGED,
	TAGGED_ADOPT,
	TAGGED_OURS,
};

struct tags {
	const char *tag;
	size_t taglen;
	const char *adopt; /* NULL: adopt nothing */
	size_t adoptlen;
};

/* What the first pass learns. */
struct scan {
	size_t edit;          /* offset of the line to edit, or NO_LINE */
	enum tagged edit_tag; /* its tag */
	struct key edit_key;  /* its fields */
	bool held;            /* an untagged line holds the wanted key */
};

static bool
is_blank(char c)
{
	return c == ' ' || c == '\t';
}

/* Without <ctype.h>: its answers depend on the locale and on the sign of
 * char, and these classes are ASCII whatever the machine's locale. */
static bool
is_alnum(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	    (c >= '0' && c <= '9');
}

/* The first byte of P (N bytes) from I on that is not a blank. */
static size_t
skip_blanks(const char *p, size_t i, size_t n)
{
	while (i < n && is_blank(p[i]))
		i++;
	return i;
}

/* The end of the token of P (N bytes) that starts at I. */
static size_t
token_end(const char *p, size_t i, size_t n)
{
	while (i < n && !is_blank(p[i]))
		i++;
	return i;
}

static bool
known_type(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < sizeof(key_types) / sizeof(key_types[0]); i++)
		if (strlen(key_types[i]) == n &&
		    memcmp(key_types[i], s, n) == 0)
			return true;
	return false;
}

/*
 * Standard base64 with its padding, as ssh-keygen writes it and as sshd's
 * b64_pton accepts it: whole quads, '=' only at the end and at most two.
 */
static bool
valid_base64(const char *s, size_t n)
{
	size_t i, pad = 0;

	if (n == 0 || n % 4 != 0)
		return false;
	for (i = 0; i < n; i++) {
		if (s[i] == '=')
			pad++;
		else if (pad > 0 ||
		    !(is_alnum(s[i]) || s[i] == '+' || s[i] == '/'))
			return false;
	}
	return pad <= 2;
}

/* 1..AUTHKEYS_TAG_MAX characters of [A-Za-z0-9._@-]: a tag is written
 * into the file as a comment, so a blank or a line end would change what
 * the line says, and a '#' or '"' could make it read as something else. */
static bool
valid_tag(const char *s, size_t *ret_len)
{
	size_t i, n;

	n = strnlen(s, AUTHKEYS_TAG_MAX + 1);
	if (n == 0 || n > AUTHKEYS_TAG_MAX)
		return false;
	for (i = 0; i < n; i++)
		if (!is_alnum(s[i]) && strchr("._@-", s[i]) == NULL)
			return false;
	*ret_len = n;
	return true;
}

/* TEXT as the functions take it: NULL only when empty, and bounded. */
static int
check_text(const char *text, size_t len)
{
	if (text == NULL && len > 0)
		return -EINVAL;
	if (len > AUTHKEYS_MAX_SIZE)
		return -E2BIG;
	return 0;
}

static int
parse_tags(const char *tag, const char *adopt_tag, struct tags *ret)
{
	if (tag == NULL || !valid_tag(tag, &ret->taglen))
		return -EINVAL;
	ret->tag = tag;
	ret->adopt = adopt_tag;
	ret->adoptlen = 0;
	if (adopt_tag != NULL && !valid_tag(adopt_tag, &ret->adoptlen))
		return -EINVAL;
	return 0;
}

/*
 * KEYLINE, "TYPE BASE64", strictly: it is ours, and goes into the file
 * as it is, so one space, nothing before or after, and no byte that
 * could end the line.
 */
static int
parse_keyline(const char *keyline, struct key *ret)
{
	const char *sp;
	size_t n;

	if (keyline == NULL)
		return -EINVAL;
	n = strnlen(keyline, AUTHKEYS_MAX_SIZE + 1);
	if (n > AUTHKEYS_MAX_SIZE)
		return -E2BIG;
	sp = memchr(keyline, ' ', n);
	if (sp == NULL || !known_type(keyline, (size_t)(sp - keyline)) ||
	    !valid_base64(sp + 1, n - (size_t)(sp - keyline) - 1))
		return -EINVAL;
	memset(ret, 0, sizeof(*ret));
	ret->type = keyline;
	ret->typelen = (size_t)(sp - keyline);
	ret->blob = sp + 1;
	ret->bloblen = n - ret->typelen - 1;
	return 0;
}

/* The line of TEXT (LEN bytes) at *POS into RET, *POS past it; false at
 * the end. */
static bool
next_line(const char *text, size_t len, size_t *pos, struct line *ret)
{
	const char *nl;
	size_t rest;

	if (*pos >= len)
		return false;
	ret->off = *pos;
	ret->p = text + *pos;
	rest = len - *pos;
	nl = memchr(ret->p, '\n', rest);
	ret->len = nl != NULL ? (size_t)(nl - ret->p) : rest;
	ret->size = nl != NULL ? ret->len + 1 : rest;
	/* A CR before the LF (or ending the file) belongs to the line end:
	 * a file saved on Windows still parses, and is copied as it was. */
	if (ret->len > 0 && ret->p[ret->len - 1] == '\r')
		ret->len--;
	*pos += ret->size;
	return true;
}

/*
 * The end of the options field of P (N bytes) that starts at I, as sshd's
 * sshkey_advance_past_options(): the first blank outside double quotes,
 * \" being a quote that neither opens nor closes.  A quote left open
 * runs to the end of the line, which leaves no key type after it: sshd
 * refuses such a line, and so does parse_key().
 */
static size_t
options_end(const char *p, size_t i, size_t n)
{
	bool quoted = false;

	for (; i < n && (quoted || !is_blank(p[i])); i++) {
		if (p[i] == '\\' && i + 1 < n && p[i + 1] == '"')
			i++;
		else if (p[i] == '"')
			quoted = !quoted;
	}
	return i;
}

/* L's fields into RET when it is a well-formed key line: not blank, not
 * a comment, a known key type (after options, if the first token is not
 * one) and a base64 field. */
static bool
parse_key(const struct line *l, struct key *ret)
{
	const char *p = l->p;
	size_t n = l->len, i, e, end;

	i = skip_blanks(p, 0, n);
	if (i == n || p[i] == '#')
		return false;
	e = token_end(p, i, n);
	if (!known_type(p + i, e - i)) {
		i = skip_blanks(p, options_end(p, i, n), n);
		e = token_end(p, i, n);
		if (!known_type(p + i, e - i))
			return false;
	}
	ret->prefix = i;
	ret->type = p + i;
	ret->typelen = e - i;
	i = skip_blanks(p, e, n);
	e = token_end(p, i, n);
	if (!valid_base64(p + i, e - i))
		return false;
	ret->blob = p + i;
	ret->bloblen = e - i;
	i = skip_blanks(p, e, n);
	for (end = n; end > i && is_blank(p[end - 1]); end--)
		;
	ret->comment = p + i;
	ret->commentlen = end - i;
	return true;
}

static enum tagged
tagged(const struct key *k, const struct tags *t)
{
	if (t == NULL)
		return UNTAGGED;
	if (k->commentlen == t->taglen &&
	    memcmp(k->comment, t->tag, t->taglen) == 0)
		return TAGGED_OURS;
	if (t->adopt != NULL && k->commentlen == t->adoptlen &&
	    memcmp(k->comment, t->adopt, t->adoptlen) == 0)
		return TAGGED_ADOPT;
	return UNTAGGED;
}

static bool
same_key(const struct key *a, const struct key *b)
{
	return a->typelen == b->typelen && a->bloblen == b->bloblen &&
	    memcmp(a->type, b->type, a->typelen) == 0 &&
	    memcmp(a->blob, b->blob, a->bloblen) == 0;
}

/*
 * The first pass over TEXT (LEN bytes): the line to edit (the first
 * tagged TAG, else the first tagged ADOPT_TAG) and whether an untagged
 * line holds WANT (NULL: look for no key).  T NULL: every line is
 * untagged.
 */
static void
scan(const char *text, size_t len, const struct tags *t, const struct key *want,
    struct scan *ret)
{
	struct line l;
	struct key k;
	enum tagged tg;
	size_t pos = 0;

	memset(ret, 0, sizeof(*ret));
	ret->edit = NO_LINE;
	ret->edit_tag = UNTAGGED;
	while (next_line(text, len, &pos, &l)) {
		if (!parse_key(&l, &k))
			continue;
		tg = tagged(&k, t);
		if (tg == UNTAGGED) {
			if (want != NULL && same_key(&k, want))
				ret->held = true;
		} else if (tg > ret->edit_tag) {
			ret->edit = l.off;
			ret->edit_tag = tg;
			ret->edit_key = k;
		}
	}
}

static char *
put(char *o, const char *s, size_t n)
{
	memcpy(o, s, n);
	return o + n;
}

/* "KEYLINE TAG" at O. */
static char *
put_ours(char *o, const char *keyline, size_t keylen, const struct tags *t)
{
	o = put(o, keyline, keylen);
	*o++ = ' ';
	return put(o, t->tag, t->taglen);
}

/*
 * The second pass: OLD into OUT, as S decided, counting the tagged lines
 * dropped other than the edited one.  Returns the end of what it wrote.
 */
static char *
rewrite(const char *old, size_t oldlen, const struct tags *t,
    const char *keyline, size_t keylen, const struct scan *s, char *out,
    size_t *ret_dups)
{
	struct line l;
	struct key k;
	size_t pos = 0, dups = 0;
	char *o = out;

	while (next_line(old, oldlen, &pos, &l)) {
		if (!parse_key(&l, &k) || tagged(&k, t) == UNTAGGED) {
			o = put(o, l.p, l.size);
			continue;
		}
		if (l.off != s->edit) {
			dups++;
			continue;
		}
		/* The operator's untagged line authorizes the key: ours
		 * would only be a second copy to forget on the next
		 * rotation. */
		if (s->held)
			continue;
		/* Options (from=, command=) stay in front: the operator
		 * put them there to restrict this key, whichever it is. */
		o = put(o, l.p, k.prefix);
		o = put_ours(o, keyline, keylen, t);
		o = put(o, l.p + l.len, l.size - l.len);
	}
	if (s->edit == NO_LINE && !s->held) {
		if (oldlen > 0 && old[oldlen - 1] != '\n')
			*o++ = '\n';
		o = put_ours(o, keyline, keylen, t);
		*o++ = '\n';
	}
	*ret_dups = dups;
	return o;
}

int
authkeys_set(const char *old, size_t oldlen, const char *tag,
    const char *adopt_tag, const char *keyline, char **ret_new,
    size_t *ret_newlen, struct authkeys_change *ret_change)
{
	struct authkeys_change change;
	struct tags t;
	struct key want;
	struct scan s;
	size_t keylen, cap, newlen;
	char *out, *end;
	int r;

	if ((r = check_text(old, oldlen)) < 0 ||
	    (r = parse_tags(tag, adopt_tag, &t)) < 0 ||
	    (r = parse_keyline(keyline, &want)) < 0)
		return r;
	keylen = want.typelen + 1 + want.bloblen;
	scan(old, oldlen, &t, &want, &s);

	/*
	 * An edited line loses at least its type and base64 and gains
	 * KEYLINE, a space and TAG; an appended one adds those and two line
	 * ends; then a NUL.  Each term is bounded (1 MiB, 1 MiB, 64): no
	 * overflow.
	 */
	cap = oldlen + keylen + t.taglen + 4;
	if ((out = malloc(cap)) == NULL)
		return -ENOMEM;
	end = rewrite(
	    old, oldlen, &t, keyline, keylen, &s, out, &change.duplicates);
	newlen = (size_t)(end - out);
	out[newlen] = '\0';
	if (newlen > AUTHKEYS_MAX_SIZE) {
		free(out);
		return -E2BIG;
	}

	if (s.edit == NO_LINE)
		change.action = s.held ? AUTHKEYS_UNCHANGED : AUTHKEYS_APPENDED;
	else if (s.held)
		change.action = AUTHKEYS_REMOVED;
	else if (s.edit_tag == TAGGED_OURS)
		change.action = AUTHKEYS_REPLACED;
	else
		change.action = AUTHKEYS_ADOPTED;
	/* Replacing a line with itself, the usual retry, changes nothing;
	 * the caller then leaves the file (and its mtime) alone. */
	if (newlen == oldlen && (oldlen == 0 || memcmp(out, old, oldlen) == 0))
		change.action = AUTHKEYS_UNCHANGED;

	*ret_new = out;
	*ret_newlen = newlen;
	*ret_change = change;
	return 0;
}

int
authkeys_find(
    const char *text, size_t len, const char *keyline, bool *ret_found)
{
	struct key want;
	struct scan s;
	int r;

	if ((r = check_text(text, len)) < 0 ||
	    (r = parse_keyline(keyline, &want)) < 0)
		return r;
	/* No tags: every key line counts. */
	scan(text, len, NULL, &want, &s);
	*ret_found = s.held;
	return 0;
}

int
authkeys_tagged_key(const char *text, size_t len, const char *tag,
    const char *adopt_tag, char *buf, size_t size)
{
	struct tags t;
	struct scan s;
	const struct key *k = &s.edit_key;
	int r;

	if ((r = check_text(text, len)) < 0 ||
	    (r = parse_tags(tag, adopt_tag, &t)) < 0)
		return r;
	scan(text, len, &t, NULL, &s);
	if (s.edit == NO_LINE)
		return -ENOENT;
	if (buf == NULL || size < k->typelen + 1 + k->bloblen + 1)
		return -ENOBUFS;
	memcpy(buf, k->type, k->typelen);
	buf[k->typelen] = ' ';
	memcpy(buf + k->typelen + 1, k->blob, k->bloblen);
	buf[k->typelen + 1 + k->bloblen] = '\0';
	return 0;
}
