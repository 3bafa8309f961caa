/*
 * For the fuzz targets: what provider_one_line() promises of a line made
 * from a peer's text (providers/provider.c), checked where a target
 * makes one: within its SIZE-byte buffer, no control character, no
 * space at either end.  Aborts otherwise.
 */
#ifndef ROTAD_FUZZ_ONELINE_H
#define ROTAD_FUZZ_ONELINE_H

#include <stdlib.h>
#include <string.h>

static inline void
oneline_check(const char *line, size_t size)
{
	size_t i, n = strnlen(line, size);

	if (n == size || (n > 0 && (line[0] == ' ' || line[n - 1] == ' ')))
		abort();
	for (i = 0; i < n; i++)
		if ((unsigned char)line[i] < 0x20 || line[i] == 0x7f)
			abort();
}

#endif
