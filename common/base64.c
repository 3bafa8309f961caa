/*
 * base64.c: RFC 4648 in constant time (see base64.h).
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "base64.h"

/*
 * Each comparison yields 0xff for true and 0 for false, from the sign of a
 * difference, so no branch depends on the data.
 */
#define CT_LT(a, b) ((((unsigned)(a) - (unsigned)(b)) >> 8) & 0xff)
#define CT_GE(a, b) (CT_LT(a, b) ^ 0xff)
#define CT_EQ(a, b) (CT_GE(a, b) & CT_GE(b, a))

/* The character for the 6-bit value X; URL: 0xff selects '-' and '_'. */
static unsigned char
b64_char(unsigned x, unsigned url)
{
	return (unsigned char)((CT_LT(x, 26) & (x + 'A')) |
	    (CT_GE(x, 26) & CT_LT(x, 52) & (x - 26 + 'a')) |
	    (CT_GE(x, 52) & CT_LT(x, 62) & (x - 52 + '0')) |
	    (CT_EQ(x, 62) & ((url & '-') | (~url & '+'))) |
	    (CT_EQ(x, 63) & ((url & '_') | (~url & '/'))));
}

/* 0-63, or 0xff for a character outside the standard alphabet. */
static unsigned
b64_value(unsigned char c)
{
	unsigned v = (CT_GE(c, 'A') & CT_LT(c, 'Z' + 1) & (c - 'A')) |
	    (CT_GE(c, 'a') & CT_LT(c, 'z' + 1) & (c - 'a' + 26)) |
	    (CT_GE(c, '0') & CT_LT(c, '9' + 1) & (c - '0' + 52)) |
	    (CT_EQ(c, '+') & 62) | (CT_EQ(c, '/') & 63);

	/* 'A' is the only valid character whose value is 0. */
	return v | (CT_EQ(v, 0) & (CT_EQ(c, 'A') ^ 0xff));
}

size_t
base64_encoded_len(size_t n)
{
	if (n > (SIZE_MAX - 4) / 4 * 3)
		return SIZE_MAX;
	return (n + 2) / 3 * 4;
}

size_t
base64_encode_raw(const void *data, size_t n, unsigned flags, void *out)
{
	const unsigned char *p = data;
	unsigned char *o = out;
	unsigned url = flags & BASE64_URL ? 0xff : 0;
	int pad = !(flags & BASE64_NOPAD);
	size_t i, k = 0;
	unsigned w;

	for (i = 0; i + 2 < n; i += 3) {
		w = (unsigned)p[i] << 16 | (unsigned)p[i + 1] << 8 | p[i + 2];
		o[k++] = b64_char(w >> 18, url);
		o[k++] = b64_char(w >> 12 & 0x3f, url);
		o[k++] = b64_char(w >> 6 & 0x3f, url);
		o[k++] = b64_char(w & 0x3f, url);
	}
	if (i < n) {
		w = (unsigned)p[i] << 16;
		if (i + 1 < n)
			w |= (unsigned)p[i + 1] << 8;
		o[k++] = b64_char(w >> 18, url);
		o[k++] = b64_char(w >> 12 & 0x3f, url);
		if (i + 1 < n)
			o[k++] = b64_char(w >> 6 & 0x3f, url);
		else if (pad)
			o[k++] = '=';
		if (pad)
			o[k++] = '=';
	}
	return k;
}

int
base64_encode(const void *data, size_t n, char *out, size_t size)
{
	size_t k;

	if (base64_encoded_len(n) >= size)
		return -ENOBUFS;
	k = base64_encode_raw(data, n, 0, out);
	out[k] = '\0';
	return 0;
}

/* The number of '=' that end TEXT, at most 2. */
static size_t
b64_padding(const char *text, size_t len)
{
	if (len >= 2 && text[len - 1] == '=' && text[len - 2] == '=')
		return 2;
	return len >= 1 && text[len - 1] == '=' ? 1 : 0;
}

int
base64_decoded_len(const char *text, size_t len, size_t *ret)
{
	if (len % 4 != 0)
		return -EINVAL;
	*ret = len / 4 * 3 - b64_padding(text, len);
	return 0;
}

/* Wipe N bytes at P where the compiler cannot drop the stores. */
static void
wipe(void *p, size_t n)
{
	volatile unsigned char *v = p;

	while (n-- > 0)
		*v++ = 0;
}

int
base64_decode(
    const char *text, size_t len, void *out, size_t size, size_t *ret_len)
{
	const unsigned char *t = (const unsigned char *)text;
	unsigned char *o = out;
	unsigned a, b, c, d, bad = 0, w;
	size_t n, i, k = 0, pad;

	if (base64_decoded_len(text, len, &n) < 0)
		return -EINVAL;
	if (n > size)
		return -ENOBUFS;
	pad = b64_padding(text, len);
	for (i = 0; i < len; i += 4) {
		int last = i + 4 == len;

		a = b64_value(t[i]);
		b = b64_value(t[i + 1]);
		c = last && pad == 2 ? 0 : b64_value(t[i + 2]);
		d = last && pad >= 1 ? 0 : b64_value(t[i + 3]);
		/* Values are 0-63; an invalid character sets bits 6-7. */
		bad |= (a | b | c | d) >> 6;
		w = (a & 0x3f) << 18 | (b & 0x3f) << 12 | (c & 0x3f) << 6 |
		    (d & 0x3f);
		o[k++] = (unsigned char)(w >> 16);
		if (!last || pad < 2)
			o[k++] = (unsigned char)(w >> 8);
		if (!last || pad < 1)
			o[k++] = (unsigned char)w;
		/* The bits after the last byte must be zero: one spelling
		 * per value. */
		if (last && pad == 2)
			bad |= b & 0x0f;
		else if (last && pad == 1)
			bad |= c & 0x03;
	}
	if (bad != 0) {
		wipe(out, n);
		return -EINVAL;
	}
	*ret_len = n;
	return 0;
}
