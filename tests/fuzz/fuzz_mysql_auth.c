/*
 * libFuzzer target: mysql_auth_parse() (providers/mysql.c), which reads
 * the text of SHOW CREATE USER as the target server sends it: a server
 * is a peer, verified but not trusted with the worker's memory.  What it
 * accepts is an account with one to MYSQL_AUTH_MAX plugins, each name a
 * string within its slot, and a kind the provider knows.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "provider.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mysql_auth a;
	char *text;
	size_t i;
	int r;

	if ((text = malloc(size + 1)) == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	r = mysql_auth_parse(text, &a);
	if (r != 0 && r != -EINVAL)
		abort();
	if (r == 0) {
		if (a.nplugins == 0 || a.nplugins > MYSQL_AUTH_MAX ||
		    a.kind < MYSQL_AUTH_NATIVE || a.kind > MYSQL_AUTH_OTHER)
			abort();
		for (i = 0; i < a.nplugins; i++)
			if (memchr(a.plugins[i], '\0', sizeof(a.plugins[i])) ==
			    NULL)
				abort();
	}
	free(text);
	return 0;
}
