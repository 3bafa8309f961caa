/*
 * libFuzzer target: the configuration loaders (YAML through libyaml,
 * then the model), each input read both ways: as a job file (keys,
 * schedules, complexity, references, inheritance) and as rotad.yaml
 * (store, control, worker, events and their sinks, limits); and the
 * printers that run on what each accepts.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "jobs.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* What the daemon prints of a loaded set, into nothing. */
static void
print_free(struct job_set *set)
{
	FILE *null = fopen("/dev/null", "we");

	if (null == NULL)
		abort();
	jobs_print_errors(set, null);
	jobs_print(set, null);
	fclose(null);
	jobs_free(set);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct job_set *set;

	if (size > 64 * 1024)
		return 0;
	if (jobs_load_buffer(
		"fuzz.yaml", (const char *)data, size, 1700000000, &set) == 0)
		print_free(set);
	(void)jobs_load_daemon_buffer(
	    (const char *)data, size, 1700000000, &set);
	print_free(set);
	return 0;
}
