/*
 * xalloc.c: allocation that ends the process on failure (see xalloc.h).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "xalloc.h"

void
xalloc_fail(void)
{
	static const char msg[] = "rotad: out of memory; exiting\n";

	/* write(2), not stdio: nothing here may allocate. */
	(void)!write(STDERR_FILENO, msg, sizeof(msg) - 1);
	_exit(EX_OSERR);
}

void *
xmalloc(size_t size)
{
	void *p = malloc(size != 0 ? size : 1);

	if (p == NULL)
		xalloc_fail();
	return p;
}

void *
xcalloc(size_t n, size_t size)
{
	void *p = calloc(n != 0 ? n : 1, size != 0 ? size : 1);

	if (p == NULL)
		xalloc_fail();
	return p;
}

void *
xrealloc(void *p, size_t size)
{
	p = realloc(p, size != 0 ? size : 1);
	if (p == NULL)
		xalloc_fail();
	return p;
}

void *
xreallocarray(void *p, size_t n, size_t size)
{
	p = reallocarray(p, n != 0 ? n : 1, size != 0 ? size : 1);
	if (p == NULL)
		xalloc_fail(); /* also on overflow of N * SIZE */
	return p;
}

char *
xstrdup(const char *s)
{
	char *p;

	if (s == NULL)
		return NULL;
	if ((p = strdup(s)) == NULL)
		xalloc_fail();
	return p;
}

char *
xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *p;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&p, fmt, ap);
	va_end(ap);
	if (n < 0)
		xalloc_fail();
	return p;
}
