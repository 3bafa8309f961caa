/*
 * Unit tests of the ssh provider's parts that need no server: which
 * logins it hands to the target.  The provider's functions are
 * file-local: this file includes ssh.c and ssh_key.c, and links
 * provider.c and authkeys.c.  tests/integration/ssh.sh and ssh_keys.sh
 * run the operations against a real sshd.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "../../providers/ssh.c"
#include "../../providers/ssh_key.c"

/* An apply for LOGIN, by an admin or by itself, to no host: refused
 * before a connection, or "no host given" once it would connect. */
static void
apply(const char *login, bool admin, struct wire_response *res)
{
	struct wire_request req;
	struct secret *pw = NULL, *cur = NULL;

	assert_int_equal(secret_new("Nw-pass-1234", 12, &pw), 0);
	assert_int_equal(secret_new("Old-pass-1234", 13, &cur), 0);
	memset(&req, 0, sizeof(req));
	memset(res, 0, sizeof(*res));
	req.op = WIRE_OP_APPLY;
	req.provider = "ssh";
	req.login = (char *)login;
	req.admin_login = admin ? "root" : NULL;
	req.admin = admin ? cur : NULL;
	req.current = admin ? NULL : cur;
	req.new_secret = pw;
	req.timeout = 5;
	(void)provider_ssh.apply(&req, res);
	secret_free(pw);
	secret_free(cur);
}

/* A login with a line break would be two lines of chpasswd's input,
 * the second another account's (the provider review's finding 1). */
static void
test_login_refused(void **state)
{
	static const char *const bad[] = { "app\nroot", "app\rroot", "app:root",
		"app root", "-app", "app$x", "app\x7f", "", "a\tb", NULL };
	struct wire_response res;
	size_t i;
	int admin;

	(void)state;
	for (admin = 0; admin < 2; admin++) {
		for (i = 0; bad[i] != NULL; i++) {
			apply(bad[i], admin, &res);
			assert_int_equal(res.class, WIRE_CLASS_FATAL);
			assert_true(res.untouched);
			assert_non_null(
			    strstr(res.message, "not a plain user name"));
			assert_null(strpbrk(res.message, "\r\n\t\x7f"));
		}
	}
}

static void
test_login_accepted(void **state)
{
	static const char *const good[] = { "app", "rotadt-e2e", "svc.app_1",
		"a-", NULL };
	struct wire_response res;
	size_t i;

	(void)state;
	for (i = 0; good[i] != NULL; i++) {
		apply(good[i], true, &res);
		assert_int_equal(res.class, WIRE_CLASS_FATAL);
		assert_string_equal(res.message, "no host given");
		apply(good[i], false, &res);
		assert_string_equal(res.message, "no host given");
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_login_refused),
		cmocka_unit_test(test_login_accepted),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
