/*
 * Unit tests of the provider catalog: lookups by name and by protocol,
 * every descriptor well-formed, and catalog_check_value() for each type.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "catalog.h"
#include "config.h"
#include "jobs.h"

static void
test_find_by_name(void **state)
{
	const struct catalog_provider *p;

	p = catalog_find("postgresql");
	assert_non_null(p);
	assert_string_equal(p->name, "postgresql");
	assert_non_null(catalog_find("script"));
	p = catalog_find("post-rotation");
	assert_non_null(p);
	assert_true(p->internal);
	assert_non_null(catalog_find("mysql"));
	assert_null(catalog_find("mariadb")); /* a protocol, not a name */
	p = catalog_find("ssh");
	assert_non_null(p);
	assert_true(p->caps & CATALOG_CAP_ADMIN_RESET);
	assert_true(p->caps & CATALOG_CAP_SELF_CHANGE);
	assert_true(p->caps & CATALOG_CAP_KEY_MATERIAL);
	assert_string_equal(p->one_of_waiver_key, "host_key_policy");
	assert_false(catalog_find("postgresql")->caps & CATALOG_CAP_KEY_MATERIAL);
	assert_null(catalog_find("rdp"));
	assert_null(catalog_find(""));
	assert_null(catalog_find(NULL));
#if ROTAD_TEST_HOOKS
	assert_non_null(catalog_find("test"));
#else
	assert_null(catalog_find("test"));
#endif
}

static void
test_find_by_protocol(void **state)
{
	int port = -1;

	assert_ptr_equal(catalog_find_protocol("postgresql", &port),
	    catalog_find("postgresql"));
	assert_int_equal(port, 5432);
	port = -1;
	assert_ptr_equal(
	    catalog_find_protocol("script", &port), catalog_find("script"));
	assert_int_equal(port, 0);
	assert_ptr_equal(
	    catalog_find_protocol("ssh", &port), catalog_find("ssh"));
	assert_int_equal(port, 22);
	assert_non_null(catalog_find_protocol("postgresql", NULL));
	/* Two protocols, one provider, one port. */
	port = -1;
	assert_ptr_equal(
	    catalog_find_protocol("mysql", &port), catalog_find("mysql"));
	assert_int_equal(port, 3306);
	port = -1;
	assert_ptr_equal(
	    catalog_find_protocol("mariadb", &port), catalog_find("mysql"));
	assert_int_equal(port, 3306);
	/* Not built, or not selectable. */
	port = 7;
	assert_null(catalog_find_protocol("rdp", &port));
	assert_int_equal(port, 7);
	assert_null(catalog_find_protocol("post-rotation", NULL));
	assert_null(catalog_find_protocol("postgres", NULL));
	assert_null(catalog_find_protocol(NULL, NULL));
#if ROTAD_TEST_HOOKS
	assert_ptr_equal(
	    catalog_find_protocol("test", NULL), catalog_find("test"));
#else
	assert_null(catalog_find_protocol("test", NULL));
#endif
}

static void
test_key_find(void **state)
{
	const struct catalog_provider *pg = catalog_find("postgresql");
	const struct catalog_provider *sc = catalog_find("script");
	const struct catalog_key *k;

	k = catalog_key_find(pg, "database");
	assert_non_null(k);
	assert_int_equal(k->type, CATALOG_STRING);
	assert_true(k->flags & CATALOG_KEY_WORKER);
	assert_null(catalog_key_find(pg, "rotate_script"));
	k = catalog_key_find(sc, "verify_script");
	assert_non_null(k);
	assert_int_equal(k->type, CATALOG_SCRIPT);
	assert_true(k->flags & CATALOG_KEY_REQUIRED);
	assert_null(catalog_key_find(sc, "database"));
	assert_null(catalog_key_find(sc, NULL));
}

static bool
in(const char *s, const char *const *names)
{
	for (; *names != NULL; names++)
		if (strcmp(s, *names) == 0)
			return true;
	return false;
}

static void
check_key(const struct catalog_provider *p, const struct catalog_key *k)
{
	const struct catalog_key *k2;

	assert_non_null(k->doc);
	assert_false(in(k->name, jobs_resource_keys));
	assert_int_equal(k->flags &
		~(unsigned)(CATALOG_KEY_REQUIRED | CATALOG_KEY_WORKER |
		    CATALOG_KEY_ONE_OF),
	    0);
	/* One of a set is never required on its own. */
	assert_false((k->flags & CATALOG_KEY_ONE_OF) &&
	    (k->flags & CATALOG_KEY_REQUIRED));
	for (k2 = k + 1; k2->name != NULL; k2++)
		assert_string_not_equal(k->name, k2->name);
	if (k->type == CATALOG_ENUM) {
		assert_non_null(k->choices);
		assert_non_null(k->choices[0]);
	} else {
		assert_null(k->choices);
	}
	if (k->type == CATALOG_INT || k->type == CATALOG_DURATION)
		assert_true(k->min <= k->max);
	(void)p;
}

static void
check_provider(const struct catalog_provider *p)
{
	const struct catalog_protocol *pr;
	const struct catalog_key *k;
	int port;

	assert_non_null(p->name);
	assert_non_null(p->summary);
	assert_non_null(p->protocols);
	assert_non_null(p->keys);
	assert_int_equal(p->kinds & ~(unsigned)CATALOG_KIND_ANY, 0);
	assert_int_equal(p->sandbox.needs &
		~(unsigned)(CATALOG_NEEDS_NET | CATALOG_NEEDS_UNIX |
		    CATALOG_NEEDS_EXEC),
	    0);
	assert_ptr_equal(catalog_find(p->name), p);
	if (p->internal) {
		/* Not selectable: no protocol, not found by its name. */
		assert_null(p->protocols[0].name);
		assert_null(catalog_find_protocol(p->name, NULL));
	} else {
		assert_non_null(p->protocols[0].name);
		assert_int_not_equal(p->kinds, 0);
	}
	for (pr = p->protocols; pr->name != NULL; pr++) {
		assert_true(pr->port >= 0 && pr->port <= 65535);
		/* Each protocol names one provider: this one. */
		assert_ptr_equal(catalog_find_protocol(pr->name, &port), p);
		assert_int_equal(port, pr->port);
	}
	for (k = p->keys; k->name != NULL; k++)
		check_key(p, k);
}

static void
test_descriptors_well_formed(void **state)
{
	const struct catalog_provider *const *list = catalog_list(), *const * q;
	size_t n = 0;

	/* The kind bits follow jobs.h's enum job_kind. */
	assert_int_equal(CATALOG_KIND_MACHINE, 1 << JOB_MACHINE);
	assert_int_equal(CATALOG_KIND_DATABASE, 1 << JOB_DATABASE);
	assert_int_equal(CATALOG_KIND_DIRECTORY, 1 << JOB_DIRECTORY);
	assert_int_equal(CATALOG_KIND_CLOUD, 1 << JOB_CLOUD);
	assert_int_equal(CATALOG_KIND_API, 1 << JOB_API);
	for (; list[n] != NULL; n++) {
		check_provider(list[n]);
		for (q = list + n + 1; *q != NULL; q++)
			assert_string_not_equal(list[n]->name, (*q)->name);
	}
	assert_int_equal(n, ROTAD_TEST_HOOKS ? 7 : 6);
}

static void
test_descriptors_as_built(void **state)
{
	const struct catalog_provider *p;

	p = catalog_find("postgresql");
	assert_int_equal(p->kinds, CATALOG_KIND_DATABASE);
	assert_true(p->caps & CATALOG_CAP_ADMIN_RESET);
	assert_true(p->caps & CATALOG_CAP_SELF_CHANGE);
	assert_false(p->caps & CATALOG_CAP_NO_HOST);
	assert_true(p->caps & CATALOG_CAP_TLS);
	assert_string_equal(
	    p->sandbox.read_paths[0], "/etc/ssl/certs/ca-certificates.crt");
	assert_int_equal(p->verify, CATALOG_VERIFY_LOGIN);
	assert_int_equal(
	    p->sandbox.needs, CATALOG_NEEDS_NET | CATALOG_NEEDS_UNIX);

	p = catalog_find("mysql");
	assert_int_equal(p->kinds, CATALOG_KIND_DATABASE);
	assert_int_equal(p->caps,
	    CATALOG_CAP_ADMIN_RESET | CATALOG_CAP_SELF_CHANGE |
		CATALOG_CAP_TLS | CATALOG_CAP_BATCH);
	/* Only the SQL providers batch; ssh and ldap one user a worker. */
	assert_true(catalog_find("postgresql")->caps & CATALOG_CAP_BATCH);
	assert_false(catalog_find("ssh")->caps & CATALOG_CAP_BATCH);
	assert_false(catalog_find("ldap")->caps & CATALOG_CAP_BATCH);
	assert_int_equal(p->verify, CATALOG_VERIFY_LOGIN);
	assert_int_equal(
	    p->sandbox.needs, CATALOG_NEEDS_NET | CATALOG_NEEDS_UNIX);
	assert_string_equal(p->sandbox.read_paths[0], "/etc/ssl/certs");
	assert_true(
	    catalog_key_find(p, "user_host")->flags & CATALOG_KEY_WORKER);
	assert_true(
	    catalog_key_find(p, "database")->flags & CATALOG_KEY_WORKER);
	p = catalog_find("ldap");
	assert_int_equal(p->kinds, CATALOG_KIND_DIRECTORY);
	assert_true(p->caps & CATALOG_CAP_ADMIN_RESET);
	assert_true(p->caps & CATALOG_CAP_SELF_CHANGE);
	assert_true(p->caps & CATALOG_CAP_TLS);
	assert_ptr_equal(catalog_find_protocol("ldaps", NULL), p);
	assert_true(catalog_key_find(p, "directory_type")->flags &
	    CATALOG_KEY_REQUIRED);
	assert_int_equal(p->sandbox.needs, CATALOG_NEEDS_NET);

	p = catalog_find("script");
	assert_int_equal(p->kinds, CATALOG_KIND_ANY);
	assert_int_equal(p->caps,
	    CATALOG_CAP_NO_HOST | CATALOG_CAP_RECONCILE_WITHOUT_ADMIN |
		CATALOG_CAP_KEEPER_INPUT);
	assert_int_equal(p->verify, CATALOG_VERIFY_SCRIPT);
	assert_int_equal(p->sandbox.needs,
	    CATALOG_NEEDS_EXEC | CATALOG_NEEDS_NET | CATALOG_NEEDS_UNIX);

	p = catalog_find("post-rotation");
	assert_int_equal(p->sandbox.needs, CATALOG_NEEDS_EXEC);
	assert_null(p->keys[0].name);
}

/* VALUE passes key K, or fails with a reason that contains WHY. */
static void
good(const struct catalog_key *k, const char *value)
{
	char why[256] = "";

	if (catalog_check_value(k, value, why, sizeof(why)) != 0)
		fail_msg("'%s' refused: %s", value, why);
}

static void
bad(const struct catalog_key *k, const char *value, const char *why_part)
{
	char why[256] = "";

	assert_int_equal(
	    catalog_check_value(k, value, why, sizeof(why)), -EINVAL);
	if (strstr(why, why_part) == NULL)
		fail_msg("'%s': '%s' does not say '%s'", value, why, why_part);
}

static void
test_check_value(void **state)
{
	static const char *const colours[] = { "red", "green", "blue", NULL };
	const struct catalog_key s = { .name = "s", .type = CATALOG_STRING };
	const struct catalog_key i = {
		.name = "i", .type = CATALOG_INT, .min = -5, .max = 10
	};
	const struct catalog_key b = { .name = "b", .type = CATALOG_BOOL };
	const struct catalog_key d = {
		.name = "d", .type = CATALOG_DURATION, .min = 1, .max = 86400
	};
	const struct catalog_key e = {
		.name = "e", .type = CATALOG_ENUM, .choices = colours
	};
	const struct catalog_key p = { .name = "p", .type = CATALOG_PATH };
	const struct catalog_key u = { .name = "u", .type = CATALOG_HTTPS_URL };
	const struct catalog_key sc = { .name = "sc", .type = CATALOG_SCRIPT };

	good(&s, "postgres");
	bad(&s, "", "non-empty");
	bad(&s, "a\nb", "control");

	good(&i, "0");
	good(&i, "-5");
	good(&i, "10");
	bad(&i, "11", "expected a whole number -5-10, found '11'");
	bad(&i, "-6", "-6");
	bad(&i, "1x", "1x");
	bad(&i, "", "whole number");
	bad(&i, "99999999999999999999", "whole number");

	good(&b, "true");
	good(&b, "false");
	bad(&b, "yes", "expected true or false, found 'yes'");

	good(&d, "1s");
	good(&d, "90");
	good(&d, "1h30m");
	good(&d, "1d");
	bad(&d, "0s", "too short");
	bad(&d, "2d", "too long");
	bad(&d, "1m1h", "expected a duration");
	bad(&d, "1h30", "expected a duration");
	bad(&d, "soon", "expected a duration");

	good(&e, "green");
	bad(&e, "Green", "expected red, green or blue, found 'Green'");

	good(&p, "/etc/rotad/ca.pem");
	bad(&p, "etc/rotad/ca.pem", "must be an absolute path");
	bad(&p, "", "absolute");

	good(&u, "https://billing.example.com/api");
	bad(&u, "http://billing.example.com/", "https:// URL");
	bad(&u, "https://", "https:// URL");

	good(&sc, "/usr/local/bin/rotate.sh");
	bad(&sc, "rotate.sh", "absolute");
}

static void
test_check_value_short_buffer(void **state)
{
	static const char *const many[] = { "one", "two", "three", "four",
		"five", NULL };
	const struct catalog_key e = {
		.name = "e", .type = CATALOG_ENUM, .choices = many
	};
	char why[12];

	/* Cut short, still terminated. */
	assert_int_equal(
	    catalog_check_value(&e, "six", why, sizeof(why)), -EINVAL);
	assert_int_equal(strlen(why), sizeof(why) - 1);
}

static void
test_parse_duration(void **state)
{
	int64_t v;

	assert_int_equal(catalog_parse_duration("2d3h4m5s", &v), 0);
	assert_int_equal(v, 2 * 86400 + 3 * 3600 + 4 * 60 + 5);
	assert_int_equal(catalog_parse_duration("0", &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(catalog_parse_duration("", &v), -EINVAL);
	assert_int_equal(catalog_parse_duration("1s1s", &v), -EINVAL);
	assert_int_equal(catalog_parse_duration("100000001s", &v), -EINVAL);
	assert_int_equal(catalog_parse_duration("5w", &v), -EINVAL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_find_by_name),
		cmocka_unit_test(test_find_by_protocol),
		cmocka_unit_test(test_key_find),
		cmocka_unit_test(test_descriptors_well_formed),
		cmocka_unit_test(test_descriptors_as_built),
		cmocka_unit_test(test_check_value),
		cmocka_unit_test(test_check_value_short_buffer),
		cmocka_unit_test(test_parse_duration),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
