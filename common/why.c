/*
 * why.c: the reason a function failed, for its caller (why.h).
 */
#include <stdarg.h>
#include <stdio.h>

#include "why.h"

int
why_fail(char *why, size_t size, int err, const char *fmt, ...)
{
	va_list ap;

	if (why != NULL && size > 0) {
		va_start(ap, fmt);
		vsnprintf(why, size, fmt, ap);
		va_end(ap);
	}
	return err;
}
