/*
 * libFuzzer target: what the worker makes of a server's error text.
 * ad_diag_parse() (providers/ldap.c) reads the diagnostic text an Active
 * Directory server sends with a refusal, for its error and data codes
 * (never its English): a code found is at most eight hex digits, so it
 * fits 32 bits.  provider_one_line() (providers/provider.c) makes any
 * server's message one printable line for the daemon: no control
 * character, no space at either end, within its buffer.  The server is a
 * peer, verified but not trusted with the worker's memory.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "oneline.h"
#include "../../providers/ldap.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ad_diag d;
	char *text, line[32];

	if ((text = malloc(size + 1)) == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	ad_diag_parse(text, &d);
	if ((d.has_code && d.code > 0xffffffffUL) ||
	    (d.has_data && d.data > 0xffffffffUL) ||
	    (!d.has_code && d.code != 0) || (!d.has_data && d.data != 0))
		abort();
	/* The state it names, if any, is one of the table's. */
	(void)ad_state(&d);

	memset(line, 'x', sizeof(line));
	provider_one_line(text, line, sizeof(line));
	oneline_check(line, sizeof(line));
	free(text);
	return 0;
}
