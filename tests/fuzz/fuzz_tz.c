/*
 * libFuzzer target: the TZif reader, including the POSIX TZ footer, and
 * the queries that run on what it accepts.
 */
#include <stdint.h>
#include <stdlib.h>

#include "tz-internal.h"
#include "tz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const int64_t probes[] = { INT64_MIN / 2, -2208988800, 0,
		1710054000, 1730613600, 4102444800, INT64_C(253402300800),
		INT64_MAX / 2 };
	struct tz *tz;
	int64_t at[2];
	size_t i;
	int n;

	if (tz_from_buffer("Fuzz/Zone", data, size, &tz) < 0)
		return 0;
	for (i = 0; i < sizeof(probes) / sizeof(probes[0]); i++) {
		int32_t off = tz_offset_at(tz, probes[i]);

		n = tz_local_to_utc(tz, probes[i] + off, at);
		if (n < 0 || n > 2 || (n == 2 && at[0] > at[1]))
			abort();
	}
	(void)tz_is_fixed(tz);
	tz_free(tz);
	return 0;
}
