/*
 * provider.c: what every provider shares: failing with a class and a
 * message, and making a library's text fit a message or a fact.  Apart
 * from the table (registry.c), so that a provider's unit test links its
 * file and this one, and no other provider.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "provider.h"

int
provider_fail(
    struct wire_response *res, enum wire_class class, const char *fmt, ...)
{
	va_list ap;

	res->class = class;
	va_start(ap, fmt);
	vsnprintf(res->message, sizeof(res->message), fmt, ap);
	va_end(ap);
	return -EIO;
}

void
provider_one_line(const char *text, char *out, size_t size)
{
	size_t n = 0;
	bool space = true;

	if (size == 0)
		return;
	for (; text != NULL && *text != '\0' && n + 1 < size; text++) {
		unsigned char c = (unsigned char)*text;

		if (c < 0x20 || c == 0x7f || c == ' ') {
			if (!space)
				out[n++] = ' ';
			space = true;
			continue;
		}
		out[n++] = (char)c;
		space = false;
	}
	while (n > 0 && out[n - 1] == ' ')
		n--;
	out[n] = '\0';
}

void
provider_fact(struct wire_response *res, const char *key, const char *value)
{
	char line[256];
	size_t used = strlen(res->facts);
	int w;

	if (value == NULL)
		return;
	provider_one_line(value, line, sizeof(line));
	w = snprintf(
	    res->facts + used, sizeof(res->facts) - used, "%s=%s\n", key, line);
	if (w < 0 || (size_t)w >= sizeof(res->facts) - used)
		res->facts[used] = '\0';
}
