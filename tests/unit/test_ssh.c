/*
 * Unit tests of the ssh provider's parts that need no server: which
 * logins it hands to the target, which question passwd asks, what is
 * kept of a script's stderr, how the key scripts are quoted (run through
 * sh and bash).  The provider's
 * functions are file-local: this file includes ssh.c and ssh_key.c, and links
 * provider.c and authkeys.c.  tests/integration/ssh.sh and ssh_keys.sh
 * run the operations against a real sshd.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "../../providers/ssh.c"

/* ssh_key.c reads its channels through fake_read_ex(): stdout is empty,
 * stderr gives the sizes in fake_err, each chunk 'E's then "|" and its
 * size in 4 digits. */
static ssize_t fake_read_ex(
    LIBSSH2_CHANNEL *ch, int stream, char *buf, size_t len);
#define libssh2_channel_read_ex fake_read_ex
#include "../../providers/ssh_key.c"
#undef libssh2_channel_read_ex

static size_t fake_err[8], fake_next;

static ssize_t
fake_read_ex(LIBSSH2_CHANNEL *ch, int stream, char *buf, size_t len)
{
	char tail[6];
	size_t n;

	(void)ch;
	if (stream == 0 || fake_err[fake_next] == 0)
		return 0;
	n = fake_err[fake_next++];
	assert_true(n <= len && n >= 5);
	memset(buf, 'E', n);
	/* Its last five bytes say how many, and nothing is written past N:
	 * a read fills BUF to its end, without a NUL. */
	snprintf(tail, sizeof(tail), "|%04zu", n % 10000);
	memcpy(buf + n - 5, tail, 5);
	return (ssize_t)n;
}

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
		"app root", "-app", "app$x", "app\x7f", "", "a\tb", "@app",
		"app@x y", NULL };
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
		"a-", "alice@example.com", NULL };
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

/* PROMPT, passwd's last line, is asked for WANT. */
#define PROMPT(prompt, want) assert_int_equal(prompt_of(prompt), want)

/* Debian's pam_unix (bookworm, and the older "UNIX" wording), with
 * pam_pwquality (the same prompts: pam_get_authtok's), and shadow's
 * passwd without PAM. */
static void
test_prompts_pam_unix(void **state)
{
	(void)state;
	PROMPT(
	    "Changing password for app.\r\nCurrent password: ", PROMPT_CURRENT);
	PROMPT("\r\nNew password: ", PROMPT_NEW);
	PROMPT("\r\nRetype new password: ", PROMPT_RETYPE);
	PROMPT("(current) UNIX password: ", PROMPT_CURRENT);
	PROMPT("Enter new UNIX password: ", PROMPT_NEW);
	PROMPT("Retype new UNIX password: ", PROMPT_RETYPE);
	PROMPT("Old password: ", PROMPT_CURRENT);
	PROMPT("Re-enter new password: ", PROMPT_RETYPE);
	PROMPT("Password: ", PROMPT_CURRENT);
	PROMPT("BAD PASSWORD: The password is shorter than 8 characters",
	    PROMPT_NONE);
	PROMPT("passwd: password updated successfully\r\n", PROMPT_NONE);
}

/* SSSD's pam_sss (FreeIPA, AD-joined hosts) and SUSE's pam_unix2: the
 * retype is "Reenter", which was taken for a second "new password" and
 * so for a refusal (the provider review's finding 2). */
static void
test_prompts_sss_suse(void **state)
{
	(void)state;
	PROMPT("Current Password: ", PROMPT_CURRENT);
	PROMPT("First Factor (Current Password): ", PROMPT_CURRENT);
	PROMPT("New Password: ", PROMPT_NEW);
	PROMPT("\r\nReenter new Password: ", PROMPT_RETYPE);
	PROMPT("\r\nReenter New Password: ", PROMPT_RETYPE);
	PROMPT("Re-type new password: ", PROMPT_RETYPE);
	PROMPT("Verify new password: ", PROMPT_RETYPE);
	PROMPT("Confirm new password: ", PROMPT_RETYPE);
	PROMPT("New password (again): ", PROMPT_RETYPE);
}

/* A "new password" prompt right after the new one was typed is its
 * retype; after a refusal's words it is the refusal. */
static void
test_prompts_after_new(void **state)
{
	(void)state;
	assert_int_equal(
	    prompt_after("\r\nNew password: ", PROMPT_CURRENT), PROMPT_NEW);
	assert_int_equal(
	    prompt_after("\r\nNew password: ", PROMPT_NEW), PROMPT_RETYPE);
	assert_int_equal(prompt_after("\r\nReenter new Password: ", PROMPT_NEW),
	    PROMPT_RETYPE);
	assert_int_equal(prompt_after("\r\nBAD PASSWORD: it is too short\r\n"
				      "New password: ",
			     PROMPT_NEW),
	    PROMPT_NEW);
	assert_int_equal(prompt_after("\r\nYou must choose a longer "
				      "password.\r\nNew password: ",
			     PROMPT_NEW),
	    PROMPT_NEW);
	assert_int_equal(
	    prompt_after("\r\nRetype new password: ", PROMPT_RETYPE),
	    PROMPT_RETYPE);
	assert_int_equal(prompt_after("", PROMPT_NEW), PROMPT_NONE);
}

/* drain() fed SIZES of stderr (0-terminated): the end kept in err, with
 * its NUL, and nothing written past it. */
static void
drain_err(const size_t *sizes, size_t total)
{
	struct capture cap;
	struct ssh c;
	size_t i, len;

	memset(&c, 0, sizeof(c));
	memset(&cap, 0, sizeof(cap));
	memset(fake_err, 0, sizeof(fake_err));
	for (i = 0; sizes[i] != 0; i++)
		fake_err[i] = sizes[i];
	fake_next = 0;
	cap.status = 0x41414141;
	assert_int_equal(drain(&c, NULL, &cap), 0);
	assert_int_equal(cap.status, 0x41414141);
	assert_null(cap.out);
	len = strnlen(cap.err, sizeof(cap.err));
	assert_true(len < sizeof(cap.err));
	assert_int_equal(
	    len, total < sizeof(cap.err) ? total : sizeof(cap.err) - 1);
	assert_int_equal(cap.err[len - 5], '|');
	assert_int_equal(strtoul(cap.err + len - 4, NULL, 10),
	    i == 0 ? 0 : sizes[i - 1] % 10000);
}

/* A read that fills the 4096-byte buffer wrote its NUL one past err,
 * into status (the provider review's finding 3). */
static void
test_drain_full_read(void **state)
{
	static const size_t one[] = { 4096, 0 };
	static const size_t many[] = { 1000, 4096, 3000, 10, 0 };
	static const size_t small[] = { 100, 200, 0 };

	(void)state;
	drain_err(one, 4096);
	drain_err(many, 8106);
	drain_err(small, 300);
}

/*
 * What SHELL hands /bin/sh as its script when it runs the command line
 * command() makes of SCRIPT (the login shell of the account that logs
 * in parses it first), into OUT.
 */
static void
inner_script(const char *shell, const char *script, char *out, size_t size)
{
	struct wire_request req;
	struct wire_response res;
	struct ssh c;
	char cmd[4096], line[4200], run[64];
	const char *sh;
	size_t n;
	FILE *f;

	memset(&req, 0, sizeof(req));
	memset(&c, 0, sizeof(c));
	req.login = "app";
	req.admin_login = "root";
	c.req = &req;
	c.res = &res;
	c.deadline = ssh_mono_ms() + 10000;
	assert_int_equal(command(&c, script, " none 20260101T000000000Z 3", cmd,
			     sizeof(cmd)),
	    0);
	/* The command with /bin/sh -c replaced by a function that prints
	 * its first argument: the script as /bin/sh would get it. */
	sh = strstr(cmd, "/bin/sh -c ");
	assert_non_null(sh);
	snprintf(line, sizeof(line), "f() { printf %%s \"$1\"; }; f %s",
	    sh + strlen("/bin/sh -c "));
	assert_int_equal(setenv("ROTAD_TEST_LINE", line, 1), 0);
	snprintf(run, sizeof(run), "%s -c \"$ROTAD_TEST_LINE\"", shell);
	f = popen(run, "r");
	assert_non_null(f);
	n = fread(out, 1, size - 1, f);
	out[n] = '\0';
	assert_int_equal(pclose(f), 0);
}

/* The scripts reach /bin/sh as written under sh and bash alike: a
 * single quote inside them left the backup pattern to the outer shell,
 * and bash dropped its '$' (the provider review's finding 4). */
static void
test_scripts_quoting(void **state)
{
	static const char *const shells[] = { "sh", "bash", NULL };
	char got[4096];
	size_t i;

	(void)state;
	assert_null(strchr(READ_SCRIPT, '\''));
	assert_null(strchr(WRITE_SCRIPT, '\''));
	for (i = 0; shells[i] != NULL; i++) {
		inner_script(shells[i], READ_SCRIPT, got, sizeof(got));
		assert_string_equal(got, READ_SCRIPT);
		inner_script(shells[i], WRITE_SCRIPT, got, sizeof(got));
		assert_string_equal(got, WRITE_SCRIPT);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_login_refused),
		cmocka_unit_test(test_login_accepted),
		cmocka_unit_test(test_prompts_pam_unix),
		cmocka_unit_test(test_prompts_sss_suse),
		cmocka_unit_test(test_prompts_after_new),
		cmocka_unit_test(test_drain_full_read),
		cmocka_unit_test(test_scripts_quoting),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
