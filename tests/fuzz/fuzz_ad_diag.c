/*
 * libFuzzer target: ad_diag_parse() (providers/ldap.c), which reads the
 * diagnostic text an Active Directory server sends with a refusal, for
 * its error and data codes (never its English).  The server is a peer,
 * verified but not trusted with the worker's memory.  A code found is
 * at most eight hex digits, so it fits 32 bits.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../providers/ldap.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ad_diag d;
	char *text;

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
	free(text);
	return 0;
}
