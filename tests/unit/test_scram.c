/*
 * providers/scram.c: PostgreSQL's SCRAM-SHA-256 verifier made with
 * OpenSSL, held byte for byte against libpq's PQencryptPasswordConn()
 * for the same salt (read back from libpq's own verifier).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <libpq-fe.h>

#include "base64.h"
#include "scram.h"

static PGconn *conn;

/* libpq's verifier of PW, and ours with the salt it chose. */
static void
same_as_libpq(const char *pw)
{
	char *ref, ours[SCRAM_VERIFIER_MAX];
	const char *s, *e;
	unsigned char salt[64];
	size_t n;

	ref = PQencryptPasswordConn(conn, pw, "role", "scram-sha-256");
	assert_non_null(ref);
	assert_int_equal(strncmp(ref, "SCRAM-SHA-256$4096:", 19), 0);
	s = ref + 19;
	e = strchr(s, '$');
	assert_non_null(e);
	assert_int_equal(
	    base64_decode(s, (size_t)(e - s), salt, sizeof(salt), &n), 0);
	assert_int_equal(n, SCRAM_SALT_LEN);
	assert_int_equal(scram_verifier_salted(
			     pw, salt, n, SCRAM_ITERATIONS, ours, sizeof(ours)),
	    0);
	assert_string_equal(ours, ref);
	PQfreemem(ref);
}

static void
test_libpq(void **state)
{
	char longpw[201];

	(void)state;
	same_as_libpq("s3cret-Password_xyz");
	/* Every printable ASCII character, space and quotes included. */
	same_as_libpq(" !\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQ"
		      "RSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~");
	/* A control character: ASCII still, hashed as it is. */
	same_as_libpq("tab\there\x01");
	same_as_libpq("x");
	memset(longpw, 'k', sizeof(longpw) - 1);
	longpw[sizeof(longpw) - 1] = '\0';
	same_as_libpq(longpw);
}

static void
test_fresh_salt(void **state)
{
	char a[SCRAM_VERIFIER_MAX], b[SCRAM_VERIFIER_MAX];

	(void)state;
	assert_int_equal(scram_verifier("pw-one", a, sizeof(a)), 0);
	assert_int_equal(scram_verifier("pw-one", b, sizeof(b)), 0);
	assert_int_equal(strncmp(a, "SCRAM-SHA-256$4096:", 19), 0);
	assert_string_not_equal(a, b);
}

static void
test_refused(void **state)
{
	char out[SCRAM_VERIFIER_MAX];
	const unsigned char salt[4] = { 1, 2, 3, 4 };

	(void)state;
	/* Not ASCII: SASLprep may change it; libpq's to hash. */
	assert_int_equal(
	    scram_verifier("caf\xc3\xa9", out, sizeof(out)), -EINVAL);
	assert_int_equal(scram_verifier("pw", out, 40), -ENOBUFS);
	assert_int_equal(
	    scram_verifier_salted("pw", salt, 0, 4096, out, sizeof(out)),
	    -EINVAL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_libpq),
		cmocka_unit_test(test_fresh_salt),
		cmocka_unit_test(test_refused),
	};
	int r;

	/* A connection object for libpq's encoding rules; it connects to
	 * nothing (an explicit algorithm sends no query). */
	conn = PQconnectStart("host=/nonexistent dbname=none");
	if (conn == NULL)
		return 1;
	r = cmocka_run_group_tests(tests, NULL, NULL);
	PQfinish(conn);
	return r;
}
