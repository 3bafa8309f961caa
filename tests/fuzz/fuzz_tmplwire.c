/*
 * libFuzzer target: the daemon <-> worker template decoder.  The
 * template runs it on every START from the daemon, each of its children
 * on the START it is handed, and the daemon on every READY and EXITED.
 * Whatever the decoder accepts must encode again to the very same bytes:
 * the two sides agree on every message either one takes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tmplwire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t again[TMPLWIRE_MAX];
	struct tmplwire_msg m;
	size_t len;

	if (tmplwire_decode(data, size, &m) != 0)
		return 0;
	if (tmplwire_encode(&m, again, sizeof(again), &len) != 0 ||
	    len != size || memcmp(again, data, size) != 0)
		abort();
	tmplwire_msg_clear(&m);
	return 0;
}
