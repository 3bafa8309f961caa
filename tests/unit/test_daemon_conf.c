/*
 * test_daemon_conf: rotad.yaml's text through jobs_load_daemon_buffer(),
 * which fuzz_jobs runs each input through beside the job-file loader:
 * settings read, a broken file refused at its line and column, nothing
 * of a job file needed.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "jobs.h"

static void
test_read(void **state)
{
	static const char text[] =
	    "store: {path: /tmp/t/rotad.db, key_file: /tmp/t/master.key}\n"
	    "control: {socket: /tmp/t/rotad.sock}\n"
	    "max_workers: 4\n"
	    "worker: {path: /opt/rotad-worker, user: nobody}\n";
	struct job_set *set;

	(void)state;
	assert_int_equal(
	    jobs_load_daemon_buffer(text, sizeof(text) - 1, 1700000000, &set),
	    0);
	assert_int_equal(set->nerrors, 0);
	assert_string_equal(set->daemon.store_path, "/tmp/t/rotad.db");
	assert_string_equal(set->daemon.socket_path, "/tmp/t/rotad.sock");
	assert_string_equal(set->daemon.worker_path, "/opt/rotad-worker");
	assert_int_equal(set->daemon.max_workers, 4);
	assert_int_equal(set->nusers, 0);
	jobs_free(set);
}

static void
test_refused(void **state)
{
	static const char text[] = "store: {path: /tmp/t/rotad.db}\n"
				   "max_workers: many\n";
	struct job_set *set;

	(void)state;
	assert_int_equal(
	    jobs_load_daemon_buffer(text, sizeof(text) - 1, 1700000000, &set),
	    -EINVAL);
	assert_true(set->nerrors >= 1);
	assert_string_equal(set->errors[0].file, "rotad.yaml");
	assert_int_equal(set->errors[0].line, 2);
	assert_int_equal(set->errors[0].column, 14);
	jobs_free(set);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_read),
		cmocka_unit_test(test_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
