/*
 * libFuzzer target: the cron spec parser, and next() on whatever parses.
 * next() must never crash, never loop, and never go backwards.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cronspec.h"
#include "tz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct tz *zones[3];

static void
load_zones(void)
{
	static const char *const names[] = { "America/New_York",
		"Australia/Lord_Howe", "Asia/Kolkata" };
	size_t i;

	for (i = 0; i < 3; i++)
		if (zones[i] == NULL && tz_load(names[i], &zones[i]) < 0)
			abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const int64_t starts[] = { INT64_C(-5000000000), 0,
		INT64_C(1710054000), INT64_C(1730613600), INT64_C(4102444799),
		INT64_C(9000000000) };
	struct cronspec_error err;
	struct cronspec *cs;
	char expr[256];
	int64_t t, prev;
	size_t i, z;
	int k;

	load_zones();
	if (size >= sizeof(expr))
		return 0;
	memcpy(expr, data, size);
	expr[size] = '\0';
	if (cronspec_parse(expr, &cs, &err) < 0) {
		if (err.column < 1 || (size_t)err.column > size + 1 ||
		    memchr(err.message, '\0', sizeof(err.message)) == NULL)
			abort();
		return 0;
	}
	for (z = 0; z < 4; z++) {
		for (i = 0; i < sizeof(starts) / sizeof(starts[0]); i++) {
			prev = t = starts[i];
			for (k = 0; k < 4; k++) {
				if (cronspec_next(
					cs, z < 3 ? zones[z] : NULL, t, &t) < 0)
					break;
				if (t <= prev)
					abort();
				prev = t;
			}
		}
	}
	cronspec_free(cs);
	return 0;
}
