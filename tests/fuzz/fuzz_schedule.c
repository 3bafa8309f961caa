/*
 * libFuzzer target: structured schedules from "key=value" lines, as the
 * JSON and YAML front ends hand them over, and next() on what is accepted.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "schedule.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct schedule_fields f = { 0 };
	struct schedule_error err;
	struct schedule *s;
	char buf[512], *line, *save = NULL, *eq;
	int64_t t = 1700000000;
	int k, i;

	if (size >= sizeof(buf))
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';
	for (line = strtok_r(buf, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save)) {
		eq = strchr(line, '=');
		if (eq == NULL)
			continue;
		*eq = '\0';
		k = schedule_key_from_name(line);
		if (k >= 0)
			f.value[k] = eq + 1;
	}
	if (schedule_new(&f, &s, &err) < 0) {
		if (memchr(err.message, '\0', sizeof(err.message)) == NULL)
			abort();
		return 0;
	}
	for (i = 0; i < 5; i++)
		if (schedule_next(s, t, &t) < 0)
			break;
	schedule_free(s);
	return 0;
}
