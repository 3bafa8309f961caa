/*
 * Unit tests of scrub(): every form a secret is printed in (raw, base64
 * in both alphabets with and without padding and at every offset inside a
 * longer base64 stream, URL-encoded, JSON- and repr-escaped, hex), secrets
 * with awkward characters, adjacent and overlapping matches, a secret cut
 * off at the end of the text, short secrets, and no redaction of what is
 * not a secret.  The encodings are made here independently (base64 and
 * percent-encoding by hand, JSON by jansson, the Python forms as Python
 * printed them), not by the code under test.
 */
#include <ctype.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <jansson.h>

#include "scrub.h"
#include "secret.h"

/* A secret with every awkward character: '"', '\', '/', space, '+', '%',
 * '&', non-ASCII (é, and 😀 outside the BMP), control characters. */
#define ODD "p\"a\\s/w o+r%d&\303\251\n\001\360\237\230\200!"

/* Scrub TEXT (LEN bytes) of the secrets SV (N): a malloc'ed string. */
static char *
scrub_n(const char *text, size_t len, const char *const *sv, size_t n,
    size_t *out_len)
{
	struct secret *s[8] = { NULL };
	size_t i, olen = 0;
	char *out = NULL;

	assert_true(n <= 8);
	for (i = 0; i < n; i++)
		assert_int_equal(secret_new(sv[i], strlen(sv[i]), &s[i]), 0);
	assert_int_equal(scrub(text, len, s, n, &out, &olen), 0);
	assert_non_null(out);
	assert_int_equal(out[olen], '\0');
	for (i = 0; i < n; i++)
		secret_free(s[i]);
	if (out_len != NULL)
		*out_len = olen;
	return out;
}

/* TEXT scrubbed of the one secret SECRET is EXPECT. */
static void
check(const char *secret, const char *text, const char *expect)
{
	char *out = scrub_n(text, strlen(text), &secret, 1, NULL);

	size_t i;

	/* Says where, not what: the text holds the (test) secret. */
	if (strcmp(out, expect) != 0) {
		for (i = 0; out[i] == expect[i]; i++)
			;
		fail_msg(
		    "wanted %s, got something else from byte %zu", expect, i);
	}
	free(out);
}

static char *
b64(const void *data, size_t len, bool url, bool pad)
{
	const char *a = url ? "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstu"
			      "vwxyz0123456789-_"
			    : "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstu"
			      "vwxyz0123456789+/";
	const unsigned char *in = data;
	char *out = calloc(1, len / 3 * 4 + 8);
	size_t i, o = 0;
	unsigned long v;
	int k;

	assert_non_null(out);
	for (i = 0; i < len; i += 3) {
		v = (unsigned long)in[i] << 16;
		if (i + 1 < len)
			v |= (unsigned long)in[i + 1] << 8;
		if (i + 2 < len)
			v |= in[i + 2];
		for (k = 0; k < 4; k++) {
			if (k >= 2 && i + (size_t)k - 1 >= len)
				out[o++] = pad ? '=' : '\0';
			else
				out[o++] = a[v >> (18 - 6 * k) & 63];
		}
	}
	out[o] = '\0';
	return out;
}

/* Percent-encoding of S: unreserved characters as is, the rest %XX (or
 * %xx), and a space as '+' when PLUS. */
static char *
pct(const char *s, bool lower, bool plus)
{
	char *out = calloc(1, 3 * strlen(s) + 1), *p = out;
	const unsigned char *c;

	assert_non_null(out);
	for (c = (const unsigned char *)s; *c != '\0'; c++) {
		if ((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
		    (*c >= '0' && *c <= '9') || strchr("-._~", *c) != NULL)
			*p++ = (char)*c;
		else if (*c == ' ' && plus)
			*p++ = '+';
		else
			p += sprintf(p, lower ? "%%%02x" : "%%%02X", *c);
	}
	return out;
}

static void
test_raw(void **state)
{
	(void)state;
	check("hunter2x", "password is hunter2x, ok",
	    "password is [REDACTED], ok");
	check("hunter2x", "hunter2x", "[REDACTED]");
	check("hunter2x", "no secret here", "no secret here");
	check(ODD, "x=" ODD ";", "x=[REDACTED];");
	/* Binary text, NULs included, is scrubbed too. */
	{
		const char *sv[] = { "hunter2x" };
		const char text[] = "a\0hunter2x\0b";
		size_t len;
		char *out = scrub_n(text, sizeof(text) - 1, sv, 1, &len);

		assert_int_equal(len, 14);
		assert_memory_equal(out, "a\0[REDACTED]\0b", 14);
		free(out);
	}
}

static void
test_base64(void **state)
{
	const char *secrets[] = { "hunter2x", "hunter2", "hunter", ODD,
		"\xfb\xff\xbf?>~ab" };
	size_t i, j;
	char *e, *text;

	(void)state;
	for (i = 0; i < sizeof(secrets) / sizeof(secrets[0]); i++)
		for (j = 0; j < 4; j++) {
			e = b64(secrets[i], strlen(secrets[i]), j & 1, j & 2);
			assert_true(asprintf(&text, "k: %s ;", e) > 0);
			check(secrets[i], text, "k: [REDACTED] ;");
			free(text);
			free(e);
		}
	/* The URL-safe and standard alphabets differ for this one. */
	e = b64("\xfb\xff\xbf?>~ab", 8, false, true);
	assert_non_null(strpbrk(e, "+/"));
	free(e);
}

/*
 * The document D (N bytes, the secret's encoding at [PRE, PRE + SLEN))
 * base64-encoded in both alphabets and scrubbed of SECRET: what encodes
 * the bytes before the secret is kept, and no 4 characters that depend
 * on the secret alone survive.
 */
static void
check_stream(const char *secret, const char *d, size_t n, size_t pre,
    size_t slen, size_t k)
{
	char *stream, *out, w[5];
	size_t a, p, from, to;

	for (a = 0; a < 2; a++) {
		stream = b64(d, n, a, true);
		out = scrub_n(stream, strlen(stream), &secret, 1, NULL);
		assert_non_null(strstr(out, "[REDACTED]"));
		/* All but the last character before the secret, which may
		 * carry a few of its bits. */
		assert_memory_equal(out, stream, pre * 4 / 3);
		from = (8 * pre + 5) / 6;
		to = 8 * (pre + slen) / 6;
		for (p = from; p + 4 <= to; p++) {
			memcpy(w, stream + p, 4);
			w[4] = '\0';
			if (strstr(out, w) != NULL)
				fail_msg("offset %zu: the run at %zu survived",
				    k, p);
		}
		free(out);
		free(stream);
	}
}

/*
 * The secret inside base64 of a JSON document, as a script that prints
 * its stdin or re-encodes its input would show it: at every offset, so
 * each of the three alignments is met several times, and JSON-escaped as
 * jansson writes it (non-ASCII raw or \uXXXX) and as Python does (\uxxxx).
 */
static void
test_base64_embedded(void **state)
{
	static const size_t flags[] = { 0, JSON_ENSURE_ASCII };
	const char *secrets[] = { "hunter2x", "Abc-123_xyz", ODD };
	const char *key = "\"newPassword\":\"";
	char fill[] = "abcdefghi", *doc, *pre, *end, *u;
	size_t i, k, f, lower;
	json_t *v;

	(void)state;
	for (i = 0; i < sizeof(secrets) / sizeof(secrets[0]); i++)
		for (k = 0; k < 9; k++)
			for (f = 0; f < 3; f++) {
				/* A Keeper-like input, the secret after K
				 * more bytes. */
				fill[k] = '\0';
				v = json_pack("{s:s,s:s,s:s}",
				    "providerRecordUid", fill, "newPassword",
				    secrets[i], "user", "app");
				fill[k] = "abcdefghi"[k];
				assert_non_null(v);
				doc = json_dumps(v,
				    flags[f % 2] | JSON_COMPACT |
					JSON_PRESERVE_ORDER);
				assert_non_null(doc);
				json_decref(v);
				/* The third: Python's lower case \uxxxx. */
				lower = f == 2;
				for (u = doc; lower && (u = strstr(u, "\\u"));
				     u += 2)
					for (size_t h = 2; h < 6; h++)
						u[h] = (char)tolower(u[h]);
				pre = strstr(doc, key) + strlen(key);
				end = strstr(pre, "\",\"user\"");
				assert_non_null(end);
				check_stream(secrets[i], doc, strlen(doc),
				    (size_t)(pre - doc), (size_t)(end - pre),
				    k);
				free(doc);
			}
}

static void
test_url(void **state)
{
	const char *secrets[] = { "hunter2x", ODD, "a b+c/d%e&f=g" };
	size_t i, j;
	char *e, *text, *expect;

	(void)state;
	for (i = 0; i < sizeof(secrets) / sizeof(secrets[0]); i++)
		for (j = 0; j < 4; j++) {
			e = pct(secrets[i], j & 1, j & 2);
			assert_true(
			    asprintf(&text, "GET /?u=app&p=%s&x=1", e) > 0);
			assert_true(asprintf(&expect, "GET /?u=app&p=%s&x=1",
					"[REDACTED]") > 0);
			check(secrets[i], text, expect);
			free(text);
			free(expect);
			free(e);
		}
	/* As Python's quote() and quote_plus() print ODD. */
	check(ODD, "q=p%22a%5Cs/w%20o%2Br%25d%26%C3%A9%0A%01%F0%9F%98%80%21.",
	    "q=[REDACTED].");
	check(ODD, "q=p%22a%5Cs%2Fw+o%2Br%25d%26%C3%A9%0A%01%F0%9F%98%80%21.",
	    "q=[REDACTED].");
	/* Mixed case hex, and "%" that is not an escape around it. */
	check("a b+c/d%e&f=g", "100% a%20b%2bc%2Fd%25e%26f%3Dg %zz",
	    "100% [REDACTED] %zz");
}

static void
test_json(void **state)
{
	static const size_t flags[] = { 0, JSON_ENSURE_ASCII, JSON_ESCAPE_SLASH,
		JSON_ENSURE_ASCII | JSON_ESCAPE_SLASH };
	const char *secrets[] = { "hunter2x", ODD, "tab\there/\"q\"" };
	size_t i, j;
	json_t *v;
	char *dump;

	(void)state;
	for (i = 0; i < sizeof(secrets) / sizeof(secrets[0]); i++)
		for (j = 0; j < 4; j++) {
			v = json_pack("{s:s}", "newPassword", secrets[i]);
			assert_non_null(v);
			dump = json_dumps(v, flags[j] | JSON_COMPACT);
			assert_non_null(dump);
			/* The escaped form differs from the raw one. */
			if (i > 0)
				assert_null(strstr(dump, secrets[i]));
			check(secrets[i], dump,
			    "{\"newPassword\":\"[REDACTED]\"}");
			free(dump);
			json_decref(v);
		}
	/* As Python's json.dumps() prints ODD: lower case \u, a surrogate
	 * pair, with ensure_ascii and without. */
	check(ODD,
	    "{\"p\": \"p\\\"a\\\\s/w o+r%d&\\u00e9\\n\\u0001\\ud83d\\ude00!\"}",
	    "{\"p\": \"[REDACTED]\"}");
	check(ODD,
	    "{\"p\": \"p\\\"a\\\\s/w "
	    "o+r%d&\303\251\\n\\u0001\360\237\230\200!\"}",
	    "{\"p\": \"[REDACTED]\"}");
	/* Upper case \u, as jansson writes it. */
	check(ODD, "\"p\\\"a\\\\s\\/w o+r%d&\\u00E9\\n\\u0001\\uD83D\\uDE00!\"",
	    "\"[REDACTED]\"");
	/* As Python's repr() prints ODD and a quote: \' \x01, and
	 * non-ASCII as is. */
	check(ODD "'",
	    "{'p': 'p\042a\134\134s/w o+r%d&\303\251\134n\134x01\360\237"
	    "\230\200!\134''}",
	    "{'p': '[REDACTED]'}");
}

static void
test_hex(void **state)
{
	(void)state;
	check("hunter2x", "key=68756e74657232780a", "key=[REDACTED]0a");
	check("hunter2x", "KEY=68756E7465723278", "KEY=[REDACTED]");
}

static void
test_adjacent_overlapping(void **state)
{
	const char *two[] = { "abcdef12", "ef12gh34" };
	const char *nested[] = { "secret-long-one", "long" };
	char *out;

	(void)state;
	/* Adjacent occurrences stay two. */
	check("hunter2x", "hunter2xhunter2x", "[REDACTED][REDACTED]");
	check("hunter2x", "hunter2x hunter2x", "[REDACTED] [REDACTED]");
	/* Overlapping ones (a secret that overlaps itself) are one. */
	check("abab", "xabababy", "x[REDACTED]y");
	check("aaaa", "aaaaaaa", "[REDACTED]");
	/* Two secrets that overlap: their union. */
	out = scrub_n("<abcdef12gh34>", 14, two, 2, NULL);
	assert_string_equal(out, "<[REDACTED]>");
	free(out);
	out = scrub_n("1secret-long-one2long3", 22, nested, 2, NULL);
	assert_string_equal(out, "1[REDACTED]2[REDACTED]3");
	free(out);
	/* A raw and an encoded form side by side. */
	check(ODD, ODD "p%22a%5Cs/w%20o%2Br%25d%26%C3%A9%0A%01%F0%9F%98%80%21",
	    "[REDACTED][REDACTED]");
}

/* Text cut off in the middle of a secret (a bounded output). */
static void
test_cut_off(void **state)
{
	(void)state;
	check("hunter2x", "password: hunt", "password: [REDACTED]");
	check("hunter2x", "password: hun", "password: hun");
	check(
	    ODD, "{\"p\": \"p\\\"a\\\\s/w o+r%d&\\u00", "{\"p\": \"[REDACTED]");
	check(ODD, "p%22a%5Cs/w%2", "[REDACTED]");
	/* Not at the end: not a match. */
	check("hunter2x", "hunt and peck", "hunt and peck");
}

static void
test_short_and_null(void **state)
{
	struct secret *s[3] = { NULL };
	char *out = NULL;
	size_t len;

	(void)state;
	check("abc", "abc abc", "abc abc");
	check("", "anything", "anything");
	assert_int_equal(secret_new("hunter2x", 8, &s[1]), 0);
	assert_int_equal(scrub("a hunter2x", 10, s, 3, &out, &len), 0);
	assert_string_equal(out, "a [REDACTED]");
	free(out);
	assert_int_equal(scrub("", 0, s, 3, &out, &len), 0);
	assert_int_equal(len, 0);
	assert_string_equal(out, "");
	free(out);
	secret_free(s[1]);
}

/* Ordinary text, percent signs, backslashes and base64 of other data
 * come out byte for byte. */
static void
test_no_false_positives(void **state)
{
	const char *sv[] = { "hunter2x", ODD, "Zm9vYmFy-secret" };
	const char *text =
	    "HTTP/1.1 200 OK\r\nContent-Type: text/plain; q=0.5\r\n\r\n"
	    "100% done, path C:\\temp\\hunter\\2x, \"quoted\" \\u00e9 \\n\n"
	    "Zm9vYmFyYmF6 is base64 of foobarbaz, aHVudGVyMnggaXMgaGVyZQ is "
	    "base64 of the secret and more.\n"
	    "json {\"a\":\"b\\/c\",\"d\":[1,2,3]} url a%20b+c%2Fd\n"
	    "hex 68756e7465723279 almost, hunter2y, hunter 2x, HUNTER2X\n";
	const char *p;
	char *out;
	size_t len;

	(void)state;
	out = scrub_n(text, strlen(text), sv, 3, &len);
	/* The only redaction is the real one: base64 of "hunter2x is
	 * here" holds the secret at offset 0 (its 11th character, "g",
	 * carries the last 4 bits and goes too). */
	p = strstr(out, "[REDACTED]");
	assert_non_null(p);
	assert_null(strstr(p + 1, "[REDACTED]"));
	assert_non_null(strstr(out,
	    "Zm9vYmFyYmF6 is base64 of foobarbaz, "
	    "[REDACTED]gaXMgaGVyZQ is base64"));
	assert_non_null(strstr(out,
	    "hex 68756e7465723279 almost, hunter2y, "
	    "hunter 2x, HUNTER2X\n"));
	assert_non_null(strstr(out, "C:\\temp\\hunter\\2x"));
	free(out);
}

static void
test_scrub_string(void **state)
{
	struct secret *s = NULL;
	char buf[24];

	(void)state;
	assert_int_equal(secret_new("hunter2x", 8, &s), 0);
	strcpy(buf, "pw hunter2x!");
	scrub_string(buf, sizeof(buf), &s, 1);
	assert_string_equal(buf, "pw [REDACTED]!");
	/* Longer than the buffer: truncated, still NUL-terminated. */
	strcpy(buf, "a hunter2x b hunter2x c");
	scrub_string(buf, sizeof(buf), &s, 1);
	assert_string_equal(buf, "a [REDACTED] b [REDACTE");
	secret_free(s);
}

/* 64 KiB of output and four secrets, one of them a long input line. */
static void
test_big(void **state)
{
	char *text, *line, *out;
	const char *sv[4];
	size_t i, len, n = 64 * 1024;
	struct timespec t0, t1;
	double secs;

	(void)state;
	text = malloc(n + 1);
	line = malloc(4001);
	assert_non_null(text);
	assert_non_null(line);
	for (i = 0; i < 4000; i++)
		line[i] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
			  "0123456789+/"[(i * 7 + i / 64) % 64];
	line[4000] = '\0';
	for (i = 0; i < n; i++)
		text[i] = "abcdefghij %\\+/=ABC\n"[i * 31 % 20];
	text[n] = '\0';
	memcpy(text + 100, "hunter2x", 8);
	memcpy(text + 30000, line, 4000);
	memcpy(text + n - 9, "hunter2x", 8);
	sv[0] = "hunter2x";
	sv[1] = ODD;
	sv[2] = line;
	sv[3] = "another-secret";
	clock_gettime(CLOCK_MONOTONIC, &t0);
	out = scrub_n(text, n, sv, 4, &len);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	secs = (double)(t1.tv_sec - t0.tv_sec) +
	    (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	print_message("# 64 KiB, 4 secrets: %.3f s\n", secs);
	/* Generous, for sanitizer builds; a naive quadratic scan fails. */
	assert_true(secs < 5.0);
	assert_int_equal(len, n - 8 - 4000 - 8 + 3 * 10);
	assert_memory_equal(out + 100, "[REDACTED]", 10);
	free(out);
	free(line);
	free(text);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_raw),
		cmocka_unit_test(test_base64),
		cmocka_unit_test(test_base64_embedded),
		cmocka_unit_test(test_url),
		cmocka_unit_test(test_json),
		cmocka_unit_test(test_hex),
		cmocka_unit_test(test_adjacent_overlapping),
		cmocka_unit_test(test_cut_off),
		cmocka_unit_test(test_short_and_null),
		cmocka_unit_test(test_no_false_positives),
		cmocka_unit_test(test_scrub_string),
		cmocka_unit_test(test_big),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
