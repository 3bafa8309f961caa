/*
 * scrub.c: find every secret in a text, in every form it is likely to be
 * printed in, and replace it with "[REDACTED]".
 *
 * How.  Each secret is turned into a few dozen *forms* (byte strings):
 * the raw bytes, base64 in both alphabets with and without padding, the
 * stable middle runs of base64 when the secret sits at any offset inside a
 * longer base64 stream, the same base64 forms of the secret as each JSON
 * writer would escape it (Keeper's script input is base64 of a JSON
 * document that holds the passwords, escaped), and hex.  Each form is then
 * looked for in three *readings* of the text: as is; URL-decoded ("%hh" in
 * either case, '+' for a space or itself); and escape-decoded (JSON's \" \\ \/
 * \n \uXXXX with surrogate pairs, and C's or Python's \' \xhh \Uxxxxxxxx).  A
 * decoded reading accepts any mix of escaped and plain characters, so that
 * every escaper's choice (jansson or Python, "/" escaped or not, non-ASCII raw
 * or \u, upper or lower case hex) is one search rather than a form of its own.
 * Within one reading the decoding is deterministic (a '%' before two hex
 * digits, or a backslash before a known escape, is always decoded), so a
 * match is a single left-to-right walk, never a backtracking search.
 *
 * Every match marks its bytes in a map the size of the text; overlapping
 * matches merge into one "[REDACTED]" (their union), adjacent ones stay
 * apart.  A prefix of a form that runs into the end of the text counts as
 * a match too, since the text may have been cut short in the middle of a
 * secret (a script's output is truncated to a bound).  The characters just
 * outside an embedded base64 run carry a few bits of the secret as well, so
 * they are marked with it.
 *
 * The forms are secret material: they are wiped before they are freed.
 * Cost: a few dozen linear passes over the text per secret, with a
 * one-byte filter before any comparison; 64 KiB and a handful of secrets
 * take milliseconds.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"
#include "scrub.h"
#include "secret.h"

#define REDACTED "[REDACTED]"
#define REDACTED_LEN (sizeof(REDACTED) - 1)

/* The largest number of forms one secret makes (see add_forms()). */
#define FORMS_MAX 64

/* The map: each byte of the text is covered by a match, and joined to the
 * byte before it by one single match (so that adjacent matches stay two). */
enum {
	MARK_COVER = 1,
	MARK_JOIN = 2,
};

enum reading {
	READ_RAW,
	READ_URL,
	READ_ESC,
};

static const char b64_std[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char b64_url[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

struct form {
	unsigned char *s;
	size_t len;
	/* The shortest prefix that counts at the end of the text. */
	size_t min_partial;
	/* For an embedded base64 run: its alphabet, and whether the
	 * character before or after it carries bits of the secret. */
	const char *alphabet;
	bool ext_left, ext_right;
};

struct forms {
	struct form f[FORMS_MAX];
	size_t n;
};

static void
forms_clear(struct forms *fs)
{
	size_t i;

	for (i = 0; i < fs->n; i++) {
		explicit_bzero(fs->f[i].s, fs->f[i].len);
		free(fs->f[i].s);
	}
	fs->n = 0;
}

/*
 * Add a copy of S (LEN bytes) unless it is too short or already there.
 * Returns 0 or -ENOMEM.
 */
static int
forms_add(struct forms *fs, const void *s, size_t len, size_t min_partial,
    const char *alphabet, bool ext_left, bool ext_right)
{
	struct form *f;
	size_t i;

	if (len < SCRUB_MIN_LEN || fs->n == FORMS_MAX)
		return 0;
	for (i = 0; i < fs->n; i++)
		if (fs->f[i].len == len && memcmp(fs->f[i].s, s, len) == 0 &&
		    fs->f[i].ext_left == ext_left &&
		    fs->f[i].ext_right == ext_right)
			return 0;
	f = &fs->f[fs->n];
	f->s = malloc(len);
	if (f->s == NULL)
		return -ENOMEM;
	memcpy(f->s, s, len);
	f->len = len;
	f->min_partial = min_partial;
	f->alphabet = alphabet;
	f->ext_left = ext_left;
	f->ext_right = ext_right;
	fs->n++;
	return 0;
}

/* Base64 of IN (LEN bytes) into OUT in ALPHABET (one of the two above),
 * padded or not; returns its length.  OUT holds at least
 * 4 * ((LEN + 2) / 3) bytes. */
static size_t
b64_encode(const unsigned char *in, size_t len, const char *alphabet, bool pad,
    unsigned char *out)
{
	return base64_encode_raw(in, len,
	    (alphabet == b64_url ? BASE64_URL : 0) | (pad ? 0 : BASE64_NOPAD),
	    out);
}

/*
 * The base64 forms of S (LEN bytes).  Base64 of K filler bytes and S has
 * characters that depend on S alone from ceil(8K / 6) to
 * floor((8K + 8 LEN) / 6) - 1: that run is what any base64 stream holding
 * S at an offset of K modulo 3 contains, whatever its neighbours.  0 or
 * -ENOMEM.
 */
static int
add_b64_forms(struct forms *fs, const unsigned char *s, size_t len)
{
	static const char *const alphabets[] = { b64_std, b64_url };
	unsigned char *tmp = NULL, *enc = NULL;
	size_t a, k, n, from, to, cap;
	int r = 0;

	cap = 4 * ((len + 4) / 3) + 8;
	tmp = calloc(1, len + 2);
	enc = malloc(cap);
	if (tmp == NULL || enc == NULL) {
		r = -ENOMEM;
		goto out;
	}
	memcpy(tmp + 2, s, len);
	for (a = 0; a < 2; a++) {
		n = b64_encode(s, len, alphabets[a], true, enc);
		if ((r = forms_add(
			 fs, enc, n, SCRUB_MIN_LEN, NULL, false, false)) < 0)
			goto out;
		n = b64_encode(s, len, alphabets[a], false, enc);
		if ((r = forms_add(
			 fs, enc, n, SCRUB_MIN_LEN, NULL, false, false)) < 0)
			goto out;
		for (k = 0; k < 3; k++) {
			n = b64_encode(
			    tmp + 2 - k, len + k, alphabets[a], false, enc);
			from = (8 * k + 5) / 6;
			to = (8 * k + 8 * len) / 6;
			if (to > n || to < from + 4)
				continue;
			if ((r = forms_add(fs, enc + from, to - from,
				 SCRUB_MIN_LEN, alphabets[a], 8 * k % 6 != 0,
				 (8 * k + 8 * len) % 6 != 0)) < 0)
				goto out;
		}
	}
out:
	if (tmp != NULL) {
		explicit_bzero(tmp, len + 2);
		free(tmp);
	}
	if (enc != NULL) {
		explicit_bzero(enc, cap);
		free(enc);
	}
	return r;
}

/* The escapes a JSON writer may choose. */
enum {
	JSON_ASCII = 1 << 0, /* non-ASCII as \uXXXX (and surrogate pairs) */
	JSON_UPPER = 1 << 1, /* hex digits in upper case (jansson) */
};

/*
 * S (LEN bytes) JSON-escaped as a writer with the choices FLAGS would
 * write it (without the quotes), into OUT (6 * LEN bytes); its length.
 * Bytes that are not UTF-8 are copied as they are.
 */
static size_t
json_escape(const unsigned char *s, size_t len, int flags, unsigned char *out)
{
	const char *hex =
	    flags & JSON_UPPER ? "0123456789ABCDEF" : "0123456789abcdef";
	static const char ctl[] = "\b\f\n\r\t";
	size_t i, o = 0, k, more;
	uint32_t cp, u[2];
	const char *q;

	for (i = 0; i < len; i++) {
		if (s[i] == '"' || s[i] == '\\') {
			out[o++] = '\\';
			out[o++] = s[i];
			continue;
		}
		if (s[i] != '\0' && (q = strchr(ctl, s[i])) != NULL) {
			out[o++] = '\\';
			out[o++] = (unsigned char)"bfnrt"[q - ctl];
			continue;
		}
		more = 0;
		if (s[i] < 0x20) {
			u[0] = s[i];
		} else if (s[i] < 0x80 || !(flags & JSON_ASCII)) {
			out[o++] = s[i];
			continue;
		} else {
			/* A UTF-8 sequence; anything else as is. */
			more = s[i] >= 0xf0 ? 3
			    : s[i] >= 0xe0  ? 2
					    : s[i] >= 0xc0;
			cp = s[i] & (0x3f >> more);
			for (k = 1; k <= more && i + k < len &&
			     (s[i + k] & 0xc0) == 0x80;
			     k++)
				cp = cp << 6 | (s[i + k] & 0x3f);
			if (more == 0 || k <= more) {
				out[o++] = s[i];
				continue;
			}
			u[0] = cp;
		}
		i += more;
		if (u[0] >= 0x10000) {
			u[1] = 0xdc00 + ((u[0] - 0x10000) & 0x3ff);
			u[0] = 0xd800 + ((u[0] - 0x10000) >> 10);
		} else
			u[1] = 0;
		for (k = 0; k < 2 && (k == 0 || u[1] != 0); k++) {
			out[o++] = '\\';
			out[o++] = 'u';
			out[o++] = (unsigned char)hex[u[k] >> 12 & 15];
			out[o++] = (unsigned char)hex[u[k] >> 8 & 15];
			out[o++] = (unsigned char)hex[u[k] >> 4 & 15];
			out[o++] = (unsigned char)hex[u[k] & 15];
		}
	}
	return o;
}

/*
 * The forms of the secret S (LEN bytes): raw, base64, hex, and base64 of
 * each way JSON may escape it (Keeper's input is base64 of JSON, so what
 * it holds is the escaped secret).  The escaped forms themselves need no
 * entry: the escape-decoding reading finds them.  0 or -ENOMEM; on error
 * FS holds what it had.
 */
static int
add_forms(struct forms *fs, const unsigned char *s, size_t len)
{
	static const char hex_lower[] = "0123456789abcdef";
	static const char hex_upper[] = "0123456789ABCDEF";
	static const int json_flags[] = { 0, JSON_UPPER, JSON_ASCII,
		JSON_ASCII | JSON_UPPER };
	unsigned char *enc = NULL;
	size_t i, n, cap;
	int r;

	if ((r = forms_add(fs, s, len, SCRUB_MIN_LEN, NULL, false, false)) < 0)
		return r;
	if ((r = add_b64_forms(fs, s, len)) < 0)
		return r;
	cap = 6 * len + 8;
	if ((enc = malloc(cap)) == NULL)
		return -ENOMEM;
	/* Hex: a shorter prefix of it is too likely to be a number. */
	for (i = 0; i < len; i++) {
		enc[2 * i] = (unsigned char)hex_lower[s[i] >> 4];
		enc[2 * i + 1] = (unsigned char)hex_lower[s[i] & 15];
	}
	if ((r = forms_add(fs, enc, 2 * len, 8, NULL, false, false)) < 0)
		goto out;
	for (i = 0; i < len; i++) {
		enc[2 * i] = (unsigned char)hex_upper[s[i] >> 4];
		enc[2 * i + 1] = (unsigned char)hex_upper[s[i] & 15];
	}
	if ((r = forms_add(fs, enc, 2 * len, 8, NULL, false, false)) < 0)
		goto out;
	for (i = 0; i < sizeof(json_flags) / sizeof(json_flags[0]); i++) {
		n = json_escape(s, len, json_flags[i], enc);
		/* Nothing to escape: the base64 forms are there already. */
		if (n == len && memcmp(enc, s, len) == 0)
			continue;
		if ((r = add_b64_forms(fs, enc, n)) < 0)
			goto out;
	}
out:
	explicit_bzero(enc, cap);
	free(enc);
	return r;
}

static int
hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* N hex digits at P (all present): their value, or -1. */
static long
hexn(const unsigned char *p, size_t n)
{
	long v = 0;
	size_t i;
	int d;

	for (i = 0; i < n; i++) {
		if ((d = hexval(p[i])) < 0)
			return -1;
		v = v * 16 + d;
	}
	return v;
}

/* Code point CP as UTF-8 in OUT (4 bytes); its length, 0 when invalid. */
static size_t
utf8_put(uint32_t cp, unsigned char *out)
{
	if (cp < 0x80) {
		out[0] = (unsigned char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (unsigned char)(0xc0 | cp >> 6);
		out[1] = (unsigned char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp >= 0xd800 && cp <= 0xdfff)
		return 0;
	if (cp < 0x10000) {
		out[0] = (unsigned char)(0xe0 | cp >> 12);
		out[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3f));
		out[2] = (unsigned char)(0x80 | (cp & 0x3f));
		return 3;
	}
	if (cp <= 0x10ffff) {
		out[0] = (unsigned char)(0xf0 | cp >> 18);
		out[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3f));
		out[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3f));
		out[3] = (unsigned char)(0x80 | (cp & 0x3f));
		return 4;
	}
	return 0;
}

/* What one escape sequence stands for. */
struct esc {
	size_t used;    /* bytes of text it takes; 0: not an escape */
	bool truncated; /* the text ends inside it */
	bool byte;      /* \xhh: a byte, or the code point U+00hh */
	uint32_t cp;
};

/*
 * Decode the escape at T[0] == '\\' (N bytes of text).  JSON's escapes,
 * with surrogate pairs, and C's and Python's \' \a \v \xhh \Uxxxxxxxx.
 */
static struct esc
esc_decode(const unsigned char *t, size_t n)
{
	struct esc e = { 0 };
	long v, lo;

	if (n < 2) {
		e.truncated = true;
		return e;
	}
	switch (t[1]) {
	case '"':
	case '\\':
	case '/':
	case '\'':
		e.cp = t[1];
		e.used = 2;
		return e;
	case 'b':
		e.cp = '\b';
		e.used = 2;
		return e;
	case 'f':
		e.cp = '\f';
		e.used = 2;
		return e;
	case 'n':
		e.cp = '\n';
		e.used = 2;
		return e;
	case 'r':
		e.cp = '\r';
		e.used = 2;
		return e;
	case 't':
		e.cp = '\t';
		e.used = 2;
		return e;
	case 'v':
		e.cp = '\v';
		e.used = 2;
		return e;
	case 'a':
		e.cp = '\a';
		e.used = 2;
		return e;
	case 'x':
		if (n < 4) {
			e.truncated = true;
			return e;
		}
		if ((v = hexn(t + 2, 2)) < 0)
			return e;
		e.cp = (uint32_t)v;
		e.byte = true;
		e.used = 4;
		return e;
	case 'U':
		if (n < 10) {
			e.truncated = true;
			return e;
		}
		if ((v = hexn(t + 2, 8)) < 0)
			return e;
		e.cp = (uint32_t)v;
		e.used = 10;
		return e;
	case 'u':
		if (n < 6) {
			e.truncated = true;
			return e;
		}
		if ((v = hexn(t + 2, 4)) < 0)
			return e;
		if (v < 0xd800 || v > 0xdbff) {
			e.cp = (uint32_t)v;
			e.used = 6;
			return e;
		}
		/* A high surrogate needs its low half. */
		if (n < 12) {
			e.truncated = true;
			return e;
		}
		if (t[6] != '\\' || t[7] != 'u' || (lo = hexn(t + 8, 4)) < 0 ||
		    lo < 0xdc00 || lo > 0xdfff)
			return e;
		e.cp = 0x10000 + ((uint32_t)(v - 0xd800) << 10) +
		    (uint32_t)(lo - 0xdc00);
		e.used = 12;
		return e;
	default:
		return e;
	}
}

/*
 * Whether form F matches the text T (N bytes) at its start in reading RD;
 * the number of bytes of text it takes, or 0.  A prefix of at least
 * F->min_partial bytes that reaches the end of the text matches as well.
 */
static size_t
match_at(
    const unsigned char *t, size_t n, const struct form *f, enum reading rd)
{
	const unsigned char *s = f->s;
	unsigned char u[4];
	size_t i = 0, p = 0, ul;
	struct esc e;
	long v;

	while (i < f->len) {
		if (p == n)
			break;
		if (rd == READ_URL && t[p] == '%') {
			/* Cut short inside "%hh": a prefix that reaches the
			 * end. */
			if (n - p < 3 && i >= f->min_partial)
				return n;
			if (n - p >= 3 && (v = hexn(t + p + 1, 2)) >= 0) {
				if (s[i] != v)
					return 0;
				i++;
				p += 3;
				continue;
			}
		} else if (rd == READ_URL && t[p] == '+') {
			if (s[i] != ' ' && s[i] != '+')
				return 0;
			i++;
			p++;
			continue;
		} else if (rd == READ_ESC && t[p] == '\\') {
			e = esc_decode(t + p, n - p);
			if (e.truncated && i >= f->min_partial)
				return n;
			if (e.used > 0) {
				if (e.byte && s[i] == e.cp) {
					i++;
					p += e.used;
					continue;
				}
				ul = utf8_put(e.cp, u);
				if (ul == 0 || ul > f->len - i ||
				    memcmp(s + i, u, ul) != 0)
					return 0;
				i += ul;
				p += e.used;
				continue;
			}
		}
		/* Not an escape: the byte stands for itself. */
		if (t[p] != s[i])
			return 0;
		i++;
		p++;
	}
	if (i == f->len)
		return p;
	return i >= f->min_partial ? n : 0;
}

/*
 * Mark bytes [S, E) of the map as one match.  *LAST_END is the furthest
 * end of the earlier matches of this pass, whose starts are not after S:
 * what lies before it is marked already.
 */
static void
mark(unsigned char *m, size_t s, size_t e, size_t *last_end)
{
	size_t i, from;

	if (e <= *last_end)
		return;
	from = s > *last_end ? s : *last_end;
	for (i = from; i < e; i++)
		m[i] |= MARK_COVER;
	for (i = from > s ? from : s + 1; i < e; i++)
		m[i] |= MARK_JOIN;
	*last_end = e;
}

/* Widen match [*S, *E) of an embedded base64 run by the neighbours that
 * hold bits of the secret. */
static void
widen(const unsigned char *t, size_t n, const struct form *f, size_t *s,
    size_t *e)
{
	if (f->alphabet == NULL)
		return;
	if (f->ext_left && *s > 0 && t[*s - 1] != '\0' &&
	    strchr(f->alphabet, t[*s - 1]) != NULL)
		(*s)--;
	if (f->ext_right && *e < n && t[*e] != '\0' &&
	    strchr(f->alphabet, t[*e]) != NULL)
		(*e)++;
}

/* Mark every match of F in T (N bytes) read as RD. */
static void
find(const unsigned char *t, size_t n, const struct form *f, enum reading rd,
    unsigned char *m)
{
	const unsigned char *hit;
	size_t p, len, s, e, last_end = 0;
	unsigned char c;

	if (rd == READ_RAW) {
		/* Whole matches by memmem (linear), then a prefix at the end.
		 */
		for (p = 0; p < n; p = (size_t)(hit - t) + 1) {
			hit = memmem(t + p, n - p, f->s, f->len);
			if (hit == NULL)
				break;
			s = (size_t)(hit - t);
			e = s + f->len;
			widen(t, n, f, &s, &e);
			mark(m, s, e, &last_end);
		}
		for (len = f->len - 1; len >= f->min_partial && len > 0; len--)
			if (len <= n && memcmp(t + n - len, f->s, len) == 0) {
				s = n - len;
				e = n;
				widen(t, n, f, &s, &e);
				mark(m, s, e, &last_end);
				break;
			}
		return;
	}
	for (p = 0; p < n; p++) {
		c = t[p];
		if (c != f->s[0] &&
		    !(rd == READ_URL && (c == '%' || c == '+')) &&
		    !(rd == READ_ESC && c == '\\'))
			continue;
		if ((len = match_at(t + p, n - p, f, rd)) == 0)
			continue;
		s = p;
		e = p + len;
		widen(t, n, f, &s, &e);
		mark(m, s, e, &last_end);
	}
}

int
scrub(const char *buf, size_t len, struct secret *const *secrets, size_t n,
    char **out, size_t *out_len)
{
	const unsigned char *t = (const unsigned char *)buf;
	struct forms fs = { .n = 0 };
	unsigned char *m = NULL;
	bool has_url, has_esc;
	size_t i, j, olen;
	char *o = NULL;
	int r;

	*out = NULL;
	*out_len = 0;
	m = calloc(1, len + 1);
	if (m == NULL) {
		r = -ENOMEM;
		goto out;
	}
	/* A decoded reading is the raw one when nothing can be decoded. */
	has_url = len > 0 &&
	    (memchr(t, '%', len) != NULL || memchr(t, '+', len) != NULL);
	has_esc = len > 0 && memchr(t, '\\', len) != NULL;
	/* An empty text (a success's message, most often) holds nothing:
	 * no forms to make. */
	for (i = 0; len > 0 && i < n; i++) {
		if (secrets[i] == NULL ||
		    secret_len(secrets[i]) < SCRUB_MIN_LEN)
			continue;
		if ((r = add_forms(&fs, secret_data(secrets[i]),
			 secret_len(secrets[i]))) < 0)
			goto out;
		for (j = 0; j < fs.n; j++) {
			find(t, len, &fs.f[j], READ_RAW, m);
			if (has_url)
				find(t, len, &fs.f[j], READ_URL, m);
			if (has_esc)
				find(t, len, &fs.f[j], READ_ESC, m);
		}
		forms_clear(&fs);
	}
	/* A run of marked bytes becomes one "[REDACTED]". */
	olen = 0;
	for (i = 0; i < len; i++)
		if (!(m[i] & MARK_COVER))
			olen++;
		else if (!(m[i] & MARK_JOIN))
			olen += REDACTED_LEN;
	o = malloc(olen + 1);
	if (o == NULL) {
		r = -ENOMEM;
		goto out;
	}
	for (i = 0, j = 0; i < len; i++)
		if (!(m[i] & MARK_COVER))
			o[j++] = buf[i];
		else if (!(m[i] & MARK_JOIN)) {
			memcpy(o + j, REDACTED, REDACTED_LEN);
			j += REDACTED_LEN;
		}
	o[j] = '\0';
	*out = o;
	*out_len = j;
	r = 0;
out:
	forms_clear(&fs);
	free(m);
	return r;
}

void
scrub_string(char *s, size_t size, struct secret *const *secrets, size_t n)
{
	size_t len, out_len;
	char *out = NULL;

	if (s == NULL || size == 0)
		return;
	len = strnlen(s, size - 1);
	if (scrub(s, len, secrets, n, &out, &out_len) < 0) {
		/* Without memory to scrub, keep nothing that might leak. */
		explicit_bzero(s, size);
		strncpy(s, REDACTED, size - 1);
		return;
	}
	if (out_len > size - 1)
		out_len = size - 1;
	memcpy(s, out, out_len);
	explicit_bzero(s + out_len, size - out_len);
	free(out);
}
