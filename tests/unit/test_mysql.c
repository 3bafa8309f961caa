/*
 * Unit tests of the mysql provider's pure parts: mysql_classify() (error
 * number and SQLSTATE to class), mysql_auth_parse() (SHOW CREATE USER as
 * MariaDB and MySQL write it) and mysql_native_hash().  The network parts
 * run against a real MariaDB in tests/integration/mysql.sh.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "provider.h"

static void
test_classify_numbers(void **state)
{
	static const struct {
		unsigned err;
		enum wire_class want;
	} cases[] = {
		{ 1045, WIRE_CLASS_AUTH },      /* access denied */
		{ 1698, WIRE_CLASS_AUTH },      /* no password */
		{ 3891, WIRE_CLASS_AUTH },      /* wrong REPLACE password */
		{ 4151, WIRE_CLASS_AUTH },      /* MariaDB: account locked */
		{ 2002, WIRE_CLASS_TRANSIENT }, /* no socket */
		{ 2003, WIRE_CLASS_TRANSIENT }, /* TCP refused */
		{ 2006, WIRE_CLASS_TRANSIENT }, /* gone away */
		{ 2013, WIRE_CLASS_TRANSIENT }, /* lost */
		{ 1040, WIRE_CLASS_TRANSIENT }, /* too many connections */
		{ 1205, WIRE_CLASS_TRANSIENT }, /* lock wait timeout */
		{ 1213, WIRE_CLASS_TRANSIENT }, /* deadlock */
		{ 1969, WIRE_CLASS_TRANSIENT }, /* MariaDB statement timeout */
		{ 3024, WIRE_CLASS_TRANSIENT }, /* MySQL statement timeout */
		{ 1819, WIRE_CLASS_POLICY },    /* policy */
		{ 1862, WIRE_CLASS_POLICY },    /* expired */
		{ 3638, WIRE_CLASS_POLICY },    /* history */
		{ 1396, WIRE_CLASS_FATAL },     /* no such account */
		{ 1064, WIRE_CLASS_FATAL },     /* syntax */
		{ 1227, WIRE_CLASS_FATAL },     /* no privilege */
		{ 2026, WIRE_CLASS_FATAL },     /* TLS refused */
		{ 0, WIRE_CLASS_FATAL },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		/* The number wins over the SQLSTATE the server gave. */
		assert_int_equal(
		    mysql_classify(cases[i].err, "HY000"), cases[i].want);
		assert_int_equal(
		    mysql_classify(cases[i].err, NULL), cases[i].want);
	}
	assert_int_equal(mysql_classify(1045, "28000"), WIRE_CLASS_AUTH);
	assert_int_equal(mysql_classify(1205, "HY000"), WIRE_CLASS_TRANSIENT);
}

static void
test_classify_sqlstate(void **state)
{
	/* Numbers not tabled fall back on the SQLSTATE's class. */
	assert_int_equal(mysql_classify(9001, "08S01"), WIRE_CLASS_TRANSIENT);
	assert_int_equal(mysql_classify(9001, "40001"), WIRE_CLASS_TRANSIENT);
	assert_int_equal(mysql_classify(9001, "28000"), WIRE_CLASS_AUTH);
	assert_int_equal(mysql_classify(9001, "42000"), WIRE_CLASS_FATAL);
	assert_int_equal(mysql_classify(9001, "HY000"), WIRE_CLASS_FATAL);
	assert_int_equal(mysql_classify(9001, "08"), WIRE_CLASS_FATAL);
	assert_int_equal(mysql_classify(9001, ""), WIRE_CLASS_FATAL);
	assert_int_equal(mysql_classify(9001, NULL), WIRE_CLASS_FATAL);
}

static void
test_auth_mariadb(void **state)
{
	struct mysql_auth a;

	assert_int_equal(mysql_auth_parse("CREATE USER `app`@`%` IDENTIFIED "
					  "BY PASSWORD '*2B602296A79E0A8784A"
					  "CC5C88D92E46588CCA3C3'",
			     &a),
	    0);
	assert_int_equal(a.kind, MYSQL_AUTH_NATIVE);
	assert_int_equal(a.nplugins, 1);
	assert_string_equal(a.plugins[0], "mysql_native_password");

	assert_int_equal(mysql_auth_parse("CREATE USER `u2`@`%` IDENTIFIED "
					  "VIA ed25519 USING 'iGRouygp5VwPhO1N"
					  "w3XHv2nRNSJmY6g6Clsn5zqjRqU'",
			     &a),
	    0);
	assert_int_equal(a.kind, MYSQL_AUTH_PASSWORD);
	assert_string_equal(a.plugins[0], "ed25519");

	assert_int_equal(
	    mysql_auth_parse("CREATE USER `root`@`localhost` IDENTIFIED VIA "
			     "unix_socket OR mysql_native_password USING "
			     "'invalid'",
		&a),
	    0);
	assert_int_equal(a.kind, MYSQL_AUTH_NATIVE_CHAIN);
	assert_int_equal(a.nplugins, 2);
	assert_string_equal(a.plugins[0], "unix_socket");
	assert_false(a.has_string[0]);
	assert_string_equal(a.plugins[1], "mysql_native_password");
	assert_true(a.has_string[1]);

	/* A chain whose other link holds a string of its own: not ours. */
	assert_int_equal(mysql_auth_parse("CREATE USER `x`@`%` IDENTIFIED VIA "
					  "ed25519 USING 'abc' OR "
					  "mysql_native_password USING '*00'",
			     &a),
	    0);
	assert_int_equal(a.kind, MYSQL_AUTH_OTHER);

	/* No IDENTIFIED: no password, native.  Options may follow. */
	assert_int_equal(mysql_auth_parse("CREATE USER `n`@`%`", &a), 0);
	assert_int_equal(a.kind, MYSQL_AUTH_NATIVE);
	assert_int_equal(mysql_auth_parse("CREATE USER `n`@`%` PASSWORD "
					  "EXPIRE",
			     &a),
	    0);
	assert_int_equal(a.kind, MYSQL_AUTH_NATIVE);

	assert_int_equal(mysql_auth_parse("CREATE USER `p`@`%` IDENTIFIED VIA "
					  "pam USING 'rotad'",
			     &a),
	    0);
	assert_int_equal(a.kind, MYSQL_AUTH_OTHER);
	assert_string_equal(a.plugins[0], "pam");
}

static void
test_auth_mysql(void **state)
{
	struct mysql_auth a;

	assert_int_equal(mysql_auth_parse("CREATE USER `app`@`%` IDENTIFIED "
					  "WITH 'mysql_native_password' AS "
					  "'*2B602296A79E0A8784ACC5C88D92E465"
					  "88CCA3C3' REQUIRE NONE",
			     &a),
	    0);
	assert_int_equal(a.kind, MYSQL_AUTH_NATIVE);

	/* caching_sha2's string is binary; with print_identified_with_as_hex
	 * MySQL writes it 0x...: either way it is skipped. */
	assert_int_equal(mysql_auth_parse("CREATE USER 'app'@'%' IDENTIFIED "
					  "WITH 'caching_sha2_password' AS "
					  "'$A$005$x''y\\' OR z' REQUIRE NONE",
			     &a),
	    0);
	assert_int_equal(a.kind, MYSQL_AUTH_PASSWORD);
	assert_int_equal(a.nplugins, 1);
	assert_string_equal(a.plugins[0], "caching_sha2_password");

	assert_int_equal(mysql_auth_parse("CREATE USER `app`@`%` IDENTIFIED "
					  "WITH 'caching_sha2_password' AS "
					  "0x244124303035 REQUIRE NONE",
			     &a),
	    0);
	assert_int_equal(a.kind, MYSQL_AUTH_PASSWORD);

	assert_int_equal(mysql_auth_parse("CREATE USER `s`@`localhost` "
					  "IDENTIFIED WITH 'auth_socket'",
			     &a),
	    0);
	assert_int_equal(a.kind, MYSQL_AUTH_OTHER);
}

static void
test_auth_names_and_garbage(void **state)
{
	struct mysql_auth a;

	/* A name that reads like the clause is skipped as a name. */
	assert_int_equal(mysql_auth_parse("CREATE USER `x IDENTIFIED VIA "
					  "pam`@`%` IDENTIFIED BY PASSWORD "
					  "'*00'",
			     &a),
	    0);
	assert_int_equal(a.kind, MYSQL_AUTH_NATIVE);
	assert_int_equal(mysql_auth_parse("CREATE USER `a``b`@`%` IDENTIFIED "
					  "VIA ed25519 USING 'k'",
			     &a),
	    0);
	assert_int_equal(a.kind, MYSQL_AUTH_PASSWORD);

	assert_int_equal(mysql_auth_parse("", &a), -EINVAL);
	assert_int_equal(mysql_auth_parse("CREATE USER app", &a), -EINVAL);
	assert_int_equal(mysql_auth_parse("CREATE USER `app`@`%", &a), -EINVAL);
	assert_int_equal(
	    mysql_auth_parse("CREATE USER `a`@`%` IDENTIFIED VIA ", &a),
	    -EINVAL);
	assert_int_equal(mysql_auth_parse("CREATE USER `a`@`%` IDENTIFIED VIA "
					  "x USING 'unterminated",
			     &a),
	    -EINVAL);
	assert_int_equal(mysql_auth_parse("CREATE USER `a`@`%` IDENTIFIED VIA "
					  "a OR b OR c OR d OR e",
			     &a),
	    -EINVAL);
	assert_int_equal(mysql_auth_parse("CREATE USER `a`@`%`X", &a), -EINVAL);
}

static void
test_native_hash(void **state)
{
	char out[42];

	/* As MariaDB stored it for 'pw1' (SHOW CREATE USER above) and as
	 * PASSWORD('') is documented. */
	assert_int_equal(mysql_native_hash("pw1", 3, out, sizeof(out)), 0);
	assert_string_equal(out, "*2B602296A79E0A8784ACC5C88D92E46588CCA3C3");
	assert_int_equal(mysql_native_hash("", 0, out, sizeof(out)), 0);
	assert_string_equal(out, "*BE1BDEC0AA74B4DCB079943E70528096CCA985F8");
	assert_int_equal(mysql_native_hash("pw1", 3, out, 41), -ENOBUFS);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_classify_numbers),
		cmocka_unit_test(test_classify_sqlstate),
		cmocka_unit_test(test_auth_mariadb),
		cmocka_unit_test(test_auth_mysql),
		cmocka_unit_test(test_auth_names_and_garbage),
		cmocka_unit_test(test_native_hash),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
