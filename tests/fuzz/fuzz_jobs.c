/*
 * libFuzzer target: the job-file loader (YAML through libyaml, then the
 * model: keys, schedules, complexity, references, inheritance) and the
 * printers that run on what it accepts.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "jobs.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct job_set *set;
	FILE *null;

	if (size > 64 * 1024)
		return 0;
	if (jobs_load_buffer(
		"fuzz.yaml", (const char *)data, size, 1700000000, &set) < 0)
		return 0;
	null = fopen("/dev/null", "we");
	if (null == NULL)
		abort();
	jobs_print_errors(set, null);
	jobs_print(set, null);
	fclose(null);
	jobs_free(set);
	return 0;
}
