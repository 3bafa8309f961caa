/*
 * libFuzzer target: a /proc/PID/maps line as the worker template and
 * rotad-deliver read their own (common/maps.c).  The kernel writes it,
 * but the reader must hold whatever it is given: no read past the line,
 * no write past the buffer (a small one here, to cut paths short), and
 * a path found is what the line said it was.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "maps.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *line, path[16];
	int r;

	if ((line = malloc(size + 1)) == NULL)
		return 0;
	memcpy(line, data, size);
	line[size] = '\0';
	memset(path, 'x', sizeof(path));
	r = maps_replaced(line, path, sizeof(path));
	if (r != 0 && r != 1)
		abort();
	/* A path found starts with '/', ends within the buffer, and is
	 * where the line has it. */
	if (r == 1 &&
	    (path[0] != '/' || memchr(path, '\0', sizeof(path)) == NULL ||
		strstr(line, path) == NULL))
		abort();
	free(line);
	return 0;
}
