/*
 * Unit tests of providers/authkeys.c, the editing of authorized_keys:
 * appending, replacing and adopting the tagged line, the operator's own
 * line holding the key, line ends, sshd's options syntax, malformed
 * lines, the argument checks and the size bounds.  Every edit is applied
 * a second time and must then change nothing.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "authkeys.h"

#define TAG "rotad-deploy"
#define ADOPT "keeper-security-deploy"

/* Real public keys (ssh-keygen), and certificate and security-key types
 * with made-up base64. */
#define K1                                                                     \
	"ssh-ed25519 "                                                         \
	"AAAAC3NzaC1lZDI1NTE5AAAAIFmyAu1WfJKle6ukIXELDKfFVhWdlp8zquBROeDPSUX8"
#define K2                                                                     \
	"ssh-ed25519 "                                                         \
	"AAAAC3NzaC1lZDI1NTE5AAAAIHqusZhpIqSVA6FQfALaA9OOLBfS+UeWnUsHpBI63MMg"
#define K2_BLOB                                                                \
	"AAAAC3NzaC1lZDI1NTE5AAAAIHqusZhpIqSVA6FQfALaA9OOLBfS+UeWnUsHpBI63MMg"
#define K3                                                                     \
	"ssh-ed25519 "                                                         \
	"AAAAC3NzaC1lZDI1NTE5AAAAIGo0P8jfMlungevu53ccohh2vzKZBpamK3WO3KMe7g2r"
#define K4                                                                     \
	"ecdsa-sha2-nistp256 "                                                 \
	"AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBM6l+lWIBxjBWj6D" \
	"IvAlU/qaF/C81b7ieC5grPaI04ZEu3fz906PHw5AmK3GX5TpSsfLjvStSfGyeO/+Tdhw" \
	"I8k="
#define K5                                                                     \
	"ssh-rsa "                                                             \
	"AAAAB3NzaC1yc2EAAAADAQABAAAAgQDZS4vykStI91qB82Akkml7yFn8iOTE7Xxm4AHC" \
	"tojYqKyQm/byE8yne69VD8UqCK0DOoW1PX+HMhOVmx3VXSJ8OtVisfn4W5egi9EGvUc9" \
	"78fTypF9Zk/2FSOlN6j7eNUImSm+zRhnzvbz5ejmzUBQ7/l9q/kA0ZncWgAmFSwr7Q=="
#define KCERT "ssh-ed25519-cert-v01@openssh.com AAAAIHNzaC1lZDI1NTE5LWNlcnQ="
#define KSK "sk-ssh-ed25519@openssh.com AAAAGnNrLXNzaC1lZDI1NTE5QG9wZW5zc2g="

/* An operator's file: a comment, a blank line, a restricted key. */
#define OPERATOR                                                               \
	"# keys of the operators\n" K4 " alice@laptop\n"                       \
	"\n"                                                                   \
	"from=\"10.0.0.1\",command=\"/bin/true\" " K5 " other\n"

/*
 * authkeys_set() on OLD (NUL-terminated, or NULL) with our tags, which
 * must succeed; the result is checked to be NUL-terminated at its length
 * and to equal OLD exactly when it says unchanged.
 */
static char *
set_ok(const char *old, const char *keyline, struct authkeys_change *chg)
{
	size_t oldlen = old != NULL ? strlen(old) : 0, len = 0;
	char *out = NULL;

	assert_int_equal(
	    authkeys_set(old, oldlen, TAG, ADOPT, keyline, &out, &len, chg), 0);
	assert_non_null(out);
	assert_int_equal(strlen(out), len);
	if (chg->action == AUTHKEYS_UNCHANGED) {
		assert_int_equal(len, oldlen);
		assert_int_equal(chg->duplicates, 0);
	} else {
		assert_true(len != oldlen || memcmp(out, old, len) != 0);
	}
	return out;
}

/* set(OLD, KEYLINE) gives WANT, ACTION and DUPS; and set on WANT again
 * changes nothing. */
static void
expect_set(const char *old, const char *keyline, const char *want,
    enum authkeys_action action, size_t dups)
{
	struct authkeys_change chg;
	char *out, *again;

	out = set_ok(old, keyline, &chg);
	assert_string_equal(out, want);
	assert_int_equal(chg.action, action);
	assert_int_equal(chg.duplicates, dups);
	again = set_ok(out, keyline, &chg);
	assert_string_equal(again, out);
	assert_int_equal(chg.action, AUTHKEYS_UNCHANGED);
	free(again);
	free(out);
}

static bool
found(const char *text, const char *keyline)
{
	bool f = false;

	assert_int_equal(authkeys_find(text, strlen(text), keyline, &f), 0);
	return f;
}

/* The first rotation: our line at the end, every byte before it as it
 * was. */
static void
test_first_rotation_appends(void **state)
{
	struct authkeys_change chg;
	char *out;

	(void)state;
	out = set_ok(OPERATOR, K1, &chg);
	assert_int_equal(chg.action, AUTHKEYS_APPENDED);
	assert_int_equal(chg.duplicates, 0);
	assert_memory_equal(out, OPERATOR, strlen(OPERATOR));
	assert_string_equal(out + strlen(OPERATOR), K1 " " TAG "\n");
	free(out);
	expect_set(
	    OPERATOR, K1, OPERATOR K1 " " TAG "\n", AUTHKEYS_APPENDED, 0);
}

/* The second: only the tagged line changes, wherever it stands. */
static void
test_second_rotation_replaces(void **state)
{
	(void)state;
	expect_set(OPERATOR K1 " " TAG "\n", K2, OPERATOR K2 " " TAG "\n",
	    AUTHKEYS_REPLACED, 0);
	expect_set(K1 " " TAG "\n" OPERATOR, K2, K2 " " TAG "\n" OPERATOR,
	    AUTHKEYS_REPLACED, 0);
	expect_set("# a\n" K1 " " TAG "\n# b\n", K4,
	    "# a\n" K4 " " TAG "\n# b\n", AUTHKEYS_REPLACED, 0);
	/* Blanks around the fields, tabs as separators: still ours, and
	 * written back in the usual form. */
	expect_set("ssh-ed25519\t" K2_BLOB "\t " TAG " \t\n", K3,
	    K3 " " TAG "\n", AUTHKEYS_REPLACED, 0);
	/* Other key types, certificates and security keys. */
	expect_set(
	    KCERT " " TAG "\n", KSK, KSK " " TAG "\n", AUTHKEYS_REPLACED, 0);
	expect_set(KSK " " TAG "\n", K5, K5 " " TAG "\n", AUTHKEYS_REPLACED, 0);
}

/* Keeper's tag is taken over; without an adopt tag its line is just
 * another line. */
static void
test_keeper_adopted(void **state)
{
	struct authkeys_change chg;
	char *out = NULL;
	size_t len;

	(void)state;
	expect_set(OPERATOR K1 " " ADOPT "\n", K2, OPERATOR K2 " " TAG "\n",
	    AUTHKEYS_ADOPTED, 0);
	assert_int_equal(
	    authkeys_set(K1 " " ADOPT "\n", strlen(K1 " " ADOPT "\n"), TAG,
		NULL, K2, &out, &len, &chg),
	    0);
	assert_string_equal(out, K1 " " ADOPT "\n" K2 " " TAG "\n");
	assert_int_equal(chg.action, AUTHKEYS_APPENDED);
	free(out);
	/* Nor is a line without a comment Keeper's, then. */
	assert_int_equal(authkeys_set(K1 "\n", strlen(K1 "\n"), TAG, NULL, K2,
			     &out, &len, &chg),
	    0);
	assert_string_equal(out, K1 "\n" K2 " " TAG "\n");
	assert_int_equal(chg.action, AUTHKEYS_APPENDED);
	free(out);
	/* A comment that only contains a tag is not the tag. */
	expect_set(K1 " " ADOPT "-old\n", K2,
	    K1 " " ADOPT "-old\n" K2 " " TAG "\n", AUTHKEYS_APPENDED, 0);
	expect_set(K1 " x" TAG "\n", K2, K1 " x" TAG "\n" K2 " " TAG "\n",
	    AUTHKEYS_APPENDED, 0);
}

/* Our tag wins over Keeper's; the Keeper line left beside ours is a
 * duplicate. */
static void
test_tag_precedence(void **state)
{
	(void)state;
	expect_set(K1 " " ADOPT "\n" K4 " op\n" K2 " " TAG "\n", K3,
	    K4 " op\n" K3 " " TAG "\n", AUTHKEYS_REPLACED, 1);
	expect_set(K2 " " TAG "\n" K1 " " ADOPT "\n", K3, K3 " " TAG "\n",
	    AUTHKEYS_REPLACED, 1);
	/* Two Keeper lines: the first is adopted. */
	expect_set(K1 " " ADOPT "\n" K2 " " ADOPT "\n", K3, K3 " " TAG "\n",
	    AUTHKEYS_ADOPTED, 1);
}

/* Options stay on the line they restrict, ours included. */
static void
test_options(void **state)
{
	(void)state;
	expect_set("from=\"10.0.0.1\",command=\"/bin/true\" " K1 " " TAG "\n",
	    K2, "from=\"10.0.0.1\",command=\"/bin/true\" " K2 " " TAG "\n",
	    AUTHKEYS_REPLACED, 0);
	expect_set("restrict,pty " K1 " " ADOPT "\n", K2,
	    "restrict,pty " K2 " " TAG "\n", AUTHKEYS_ADOPTED, 0);
	/* A tagged line with the same key but other options is left as
	 * the operator made it. */
	expect_set("no-pty  " K1 " " TAG "\n", K1, "no-pty  " K1 " " TAG "\n",
	    AUTHKEYS_UNCHANGED, 0);
}

#define QUOTED                                                                 \
	"command=\"echo \\\"hi there\\\" ssh-ed25519 " K2_BLOB " " TAG "\","   \
	"from=\"10.0.0.1\" "
#define OTHER "command=\"echo \\\"" TAG "\\\"\",from=\"10.0.0.1\" " K4 " ops\n"

/*
 * Quoted option values hold blanks and \"; what is inside the quotes is
 * never a key.  A parser that ended the quote at \" would take K2 inside
 * it for the key and see no tag.
 */
static void
test_quoted_options(void **state)
{
	char buf[256];

	(void)state;
	expect_set(OTHER, K1, OTHER K1 " " TAG "\n", AUTHKEYS_APPENDED, 0);
	expect_set(QUOTED K5 " " TAG "\n", K3, QUOTED K3 " " TAG "\n",
	    AUTHKEYS_REPLACED, 0);
	assert_false(found(QUOTED K5 " " TAG "\n", K2));
	assert_true(found(QUOTED K5 " " TAG "\n", K5));
	assert_int_equal(
	    authkeys_tagged_key(QUOTED K5 " " TAG "\n",
		strlen(QUOTED K5 " " TAG "\n"), TAG, ADOPT, buf, sizeof(buf)),
	    0);
	assert_string_equal(buf, K5);
	/* A quote left open: sshd refuses the line, and so do we. */
	expect_set("command=\"oops " K1 " " TAG "\n", K2,
	    "command=\"oops " K1 " " TAG "\n" K2 " " TAG "\n",
	    AUTHKEYS_APPENDED, 0);
}

/* CR LF line ends are kept, on the edited line too; an appended line
 * ends in LF. */
static void
test_crlf(void **state)
{
	(void)state;
	expect_set("# c\r\n" K4 " op\r\n" K1 " " TAG "\r\n" K5 " x\r\n", K2,
	    "# c\r\n" K4 " op\r\n" K2 " " TAG "\r\n" K5 " x\r\n",
	    AUTHKEYS_REPLACED, 0);
	expect_set("# c\r\n" K4 " op\r\n", K2,
	    "# c\r\n" K4 " op\r\n" K2 " " TAG "\n", AUTHKEYS_APPENDED, 0);
	expect_set(K4 " op\r\n" K1 " " TAG "\r", K2,
	    K4 " op\r\n" K2 " " TAG "\r", AUTHKEYS_REPLACED, 0);
	expect_set(
	    K4 " op\r", K2, K4 " op\r\n" K2 " " TAG "\n", AUTHKEYS_APPENDED, 0);
}

/* A file without a final newline gets one before our line; a last line
 * we edit keeps having none. */
static void
test_no_final_newline(void **state)
{
	(void)state;
	expect_set(
	    K4 " op", K1, K4 " op\n" K1 " " TAG "\n", AUTHKEYS_APPENDED, 0);
	expect_set("# only a comment", K1, "# only a comment\n" K1 " " TAG "\n",
	    AUTHKEYS_APPENDED, 0);
	expect_set(K4 " op\n" K1 " " TAG, K2, K4 " op\n" K2 " " TAG,
	    AUTHKEYS_REPLACED, 0);
	expect_set(K4 " op\n" K1 " " TAG, K4, K4 " op\n", AUTHKEYS_REMOVED, 0);
	expect_set(K1 " " TAG "\n" K4 " op", K4, K4 " op", AUTHKEYS_REMOVED, 0);
}

static void
test_empty_file(void **state)
{
	struct authkeys_change chg;
	char *out = NULL;
	size_t len;

	(void)state;
	expect_set(NULL, K1, K1 " " TAG "\n", AUTHKEYS_APPENDED, 0);
	expect_set("", K1, K1 " " TAG "\n", AUTHKEYS_APPENDED, 0);
	expect_set("\n", K1, "\n" K1 " " TAG "\n", AUTHKEYS_APPENDED, 0);
	assert_int_equal(
	    authkeys_set(NULL, 3, TAG, ADOPT, K1, &out, &len, &chg), -EINVAL);
	assert_null(out);
}

/* A second tagged line is removed, and counted. */
static void
test_duplicates(void **state)
{
	(void)state;
	expect_set(K1 " " TAG "\n" K4 " op\n" K2 " " TAG "\n" K3 " " TAG "\n",
	    K5, K5 " " TAG "\n" K4 " op\n", AUTHKEYS_REPLACED, 2);
	/* The same key twice: removing the copy is a change. */
	expect_set(K1 " " TAG "\n" K1 " " TAG "\n", K1, K1 " " TAG "\n",
	    AUTHKEYS_REPLACED, 1);
}

/*
 * The rollback of a first rotation: the key goes back to the one the
 * operator's own line holds, so our line goes, whatever options or
 * comment the operator's line has.
 */
static void
test_untagged_holds_key(void **state)
{
	(void)state;
	expect_set(K4 " alice\n" K1 " " TAG "\n", K4, K4 " alice\n",
	    AUTHKEYS_REMOVED, 0);
	expect_set("from=\"10.0.0.1\" " K4 "\n" K1 " " ADOPT "\n", K4,
	    "from=\"10.0.0.1\" " K4 "\n", AUTHKEYS_REMOVED, 0);
	expect_set(K1 " " TAG "\n" K4 " alice\n" K2 " " TAG "\n", K4,
	    K4 " alice\n", AUTHKEYS_REMOVED, 1);
	/* Held, and no line of ours: nothing to do. */
	expect_set(OPERATOR, K4, OPERATOR, AUTHKEYS_UNCHANGED, 0);
	expect_set(OPERATOR, K5, OPERATOR, AUTHKEYS_UNCHANGED, 0);
	/* The same blob under another type is another key. */
	expect_set("ssh-rsa " K2_BLOB " x\n", K2,
	    "ssh-rsa " K2_BLOB " x\n" K2 " " TAG "\n", AUTHKEYS_APPENDED, 0);
}

/* Setting the key a file already has changes nothing. */
static void
test_unchanged(void **state)
{
	(void)state;
	expect_set(OPERATOR K1 " " TAG "\n", K1, OPERATOR K1 " " TAG "\n",
	    AUTHKEYS_UNCHANGED, 0);
	expect_set(K1 " " TAG, K1, K1 " " TAG, AUTHKEYS_UNCHANGED, 0);
	expect_set(
	    K1 " " TAG "\r\n", K1, K1 " " TAG "\r\n", AUTHKEYS_UNCHANGED, 0);
	/* Same key, other spelling: rewritten once, then unchanged. */
	expect_set(K1 "  " TAG "\n", K1, K1 " " TAG "\n", AUTHKEYS_REPLACED, 0);
	/* Keeper's line with our key: the tag still changes. */
	expect_set(K1 " " ADOPT "\n", K1, K1 " " TAG "\n", AUTHKEYS_ADOPTED, 0);
}

#define COMMENTS                                                               \
	"# " K1 " " TAG "\n"                                                   \
	"   # " K2 " " TAG "\n"                                                \
	"\n"                                                                   \
	"   \n"                                                                \
	"\t\n"                                                                 \
	"#\n"

/* Comments and blank lines are not keys, even when they look like ours. */
static void
test_comments_and_blanks(void **state)
{
	(void)state;
	expect_set(
	    COMMENTS, K3, COMMENTS K3 " " TAG "\n", AUTHKEYS_APPENDED, 0);
	assert_false(found(COMMENTS, K1));
	/* An indented key line is a key line, as in sshd. */
	expect_set("  " K1 " " TAG "\n", K2, "  " K2 " " TAG "\n",
	    AUTHKEYS_REPLACED, 0);
}

#define MALFORMED                                                              \
	"ssh-ed25519 not*base64 " TAG "\n"                                     \
	"ssh-foo AAAA " TAG "\n"                                               \
	"ssh-ed25519\n"                                                        \
	"ssh-ed25519 AAA " TAG "\n"                                            \
	"ssh-ed25519 AA=A " TAG "\n"                                           \
	"ssh-ed25519 AAAAA=== " TAG "\n"                                       \
	"garbage\n"                                                            \
	"options-only " TAG "\n"                                               \
	"\"unbalanced " K1 " " TAG "\n"                                        \
	"\xff\xfe"                                                             \
	" binary \x01\x7f\n"                                                   \
	"ssh-rsa ssh-ed25519 " K2_BLOB " " TAG "\n"

/* A line that is not a well-formed key line is copied as it is, even
 * with our tag at its end. */
static void
test_malformed_preserved(void **state)
{
	static const char nul[] = K1 " " TAG "\n\0" K2 " op\n";
	struct authkeys_change chg;
	char *out = NULL;
	size_t len;

	(void)state;
	expect_set(
	    MALFORMED, K3, MALFORMED K3 " " TAG "\n", AUTHKEYS_APPENDED, 0);
	/* A NUL is only a byte: the line it starts is copied whole. */
	assert_int_equal(authkeys_set(nul, sizeof(nul) - 1, TAG, ADOPT, K3,
			     &out, &len, &chg),
	    0);
	assert_int_equal(chg.action, AUTHKEYS_REPLACED);
	assert_int_equal(len, sizeof(nul) - 1);
	assert_memory_equal(out, K3 " " TAG "\n\0" K2 " op\n", len);
	free(out);
}

static void
test_invalid_arguments(void **state)
{
	static const char *const bad_tags[] = { "", "rotad deploy",
		"rotad-deploy\n", "rotad\tdeploy", "#rotad", "\"rotad\"",
		"r\xc3\xa9",
		("a12345678901234567890123456789012345678901234567890"
		 "12345678901234") };
	static const char *const bad_keys[] = { "", "ssh-ed25519",
		"ssh-ed25519 ", " " K1, K1 " ", "ssh-ed25519  " K2_BLOB,
		"ssh-ed25519\t" K2_BLOB, K1 "\n", K1 "\r", K1 " comment",
		"ssh-foo " K2_BLOB, "ssh-ed25519 AAA", "ssh-ed25519 AA=A",
		"ssh-ed25519 AAAAA===", "ssh-ed25519 AA*A", "from=\"x\" " K1 };
	struct authkeys_change chg = { AUTHKEYS_REPLACED, 7 }, ok;
	char *out = NULL, buf[8];
	size_t i, len = 99;
	bool f = true;

	(void)state;
	for (i = 0; i < sizeof(bad_tags) / sizeof(bad_tags[0]); i++) {
		assert_int_equal(authkeys_set("", 0, bad_tags[i], ADOPT, K1,
				     &out, &len, &chg),
		    -EINVAL);
		assert_int_equal(
		    authkeys_set("", 0, TAG, bad_tags[i], K1, &out, &len, &chg),
		    -EINVAL);
		assert_int_equal(authkeys_tagged_key("", 0, bad_tags[i], NULL,
				     buf, sizeof(buf)),
		    -EINVAL);
	}
	/* 64 characters is the most a tag may have. */
	assert_int_equal(strlen(bad_tags[7]), AUTHKEYS_TAG_MAX + 1);
	assert_int_equal(
	    authkeys_set("", 0, bad_tags[7] + 1, ADOPT, K1, &out, &len, &ok),
	    0);
	free(out);
	out = NULL;
	len = 99;
	for (i = 0; i < sizeof(bad_keys) / sizeof(bad_keys[0]); i++) {
		assert_int_equal(authkeys_set("", 0, TAG, ADOPT, bad_keys[i],
				     &out, &len, &chg),
		    -EINVAL);
		assert_int_equal(
		    authkeys_find("", 0, bad_keys[i], &f), -EINVAL);
	}
	assert_int_equal(
	    authkeys_set("", 0, NULL, ADOPT, K1, &out, &len, &chg), -EINVAL);
	assert_int_equal(
	    authkeys_set("", 0, TAG, ADOPT, NULL, &out, &len, &chg), -EINVAL);
	assert_int_equal(authkeys_find(NULL, 1, K1, &f), -EINVAL);
	/* Failures leave the outputs as they were. */
	assert_null(out);
	assert_int_equal(len, 99);
	assert_int_equal(chg.action, AUTHKEYS_REPLACED);
	assert_int_equal(chg.duplicates, 7);
	assert_true(f);
}

/* A file line after line of "#" comments, SIZE bytes, ending in TAIL. */
static char *
big_file(size_t size, const char *tail)
{
	size_t n = strlen(tail), i;
	char *p;

	p = malloc(size + 1);
	assert_non_null(p);
	memset(p, '#', size - n);
	for (i = 79; i < size - n; i += 80)
		p[i] = '\n';
	p[size - n - 1] = '\n';
	memcpy(p + size - n, tail, n + 1);
	return p;
}

static void
test_oversize(void **state)
{
	struct authkeys_change chg;
	char *big, *out = NULL, buf[128];
	size_t len = 0;
	bool f;

	(void)state;
	big = big_file(AUTHKEYS_MAX_SIZE + 1, "\n");
	assert_int_equal(authkeys_set(big, AUTHKEYS_MAX_SIZE + 1, TAG, ADOPT,
			     K1, &out, &len, &chg),
	    -E2BIG);
	assert_int_equal(
	    authkeys_find(big, AUTHKEYS_MAX_SIZE + 1, K1, &f), -E2BIG);
	assert_int_equal(authkeys_tagged_key(big, AUTHKEYS_MAX_SIZE + 1, TAG,
			     ADOPT, buf, sizeof(buf)),
	    -E2BIG);
	assert_null(out);
	free(big);

	/* At the bound: read, but nothing can be added. */
	big = big_file(AUTHKEYS_MAX_SIZE, "\n");
	assert_int_equal(authkeys_set(big, AUTHKEYS_MAX_SIZE, TAG, ADOPT, K1,
			     &out, &len, &chg),
	    -E2BIG);
	assert_null(out);
	free(big);

	/* A line replaced by one as long may fill the bound exactly. */
	big = big_file(AUTHKEYS_MAX_SIZE, K1 " " TAG "\n");
	assert_int_equal(authkeys_set(big, AUTHKEYS_MAX_SIZE, TAG, ADOPT, K2,
			     &out, &len, &chg),
	    0);
	assert_int_equal(chg.action, AUTHKEYS_REPLACED);
	assert_int_equal(len, AUTHKEYS_MAX_SIZE);
	assert_memory_equal(out, big, len - strlen(K2 " " TAG "\n"));
	assert_string_equal(
	    out + len - strlen(K2 " " TAG "\n"), K2 " " TAG "\n");
	free(out);
	free(big);
}

static void
test_find(void **state)
{
	static const char text[] = OPERATOR "restrict " K1 " " TAG "\n"
					    "# " K3 "\n";

	(void)state;
	assert_true(found(text, K4));
	assert_true(found(text, K5)); /* behind options */
	assert_true(found(text, K1)); /* tagged */
	assert_false(found(text, K2));
	assert_false(found(text, K3)); /* commented out */
	assert_false(found("", K1));
	assert_true(found(K1, K1));
	assert_true(found(K1 "\r\n", K1));
	assert_false(found("ssh-rsa " K2_BLOB "\n", K2));
}

static void
test_tagged_key(void **state)
{
	char buf[sizeof(K4)];

	(void)state;
	assert_int_equal(authkeys_tagged_key(OPERATOR, strlen(OPERATOR), TAG,
			     ADOPT, buf, sizeof(buf)),
	    -ENOENT);
	assert_int_equal(
	    authkeys_tagged_key(NULL, 0, TAG, ADOPT, buf, sizeof(buf)),
	    -ENOENT);
	assert_int_equal(
	    authkeys_tagged_key(OPERATOR K4 " " TAG "\n",
		strlen(OPERATOR K4 " " TAG "\n"), TAG, ADOPT, buf, sizeof(buf)),
	    0);
	assert_string_equal(buf, K4);
	/* One byte short of the key and its NUL. */
	assert_int_equal(authkeys_tagged_key(K4 " " TAG, strlen(K4 " " TAG),
			     TAG, ADOPT, buf, sizeof(buf) - 1),
	    -ENOBUFS);
	/* Keeper's key, when there is no line of ours... */
	assert_int_equal(authkeys_tagged_key(K1 " " ADOPT "\n" K4 " op\n",
			     strlen(K1 " " ADOPT "\n" K4 " op\n"), TAG, ADOPT,
			     buf, sizeof(buf)),
	    0);
	assert_string_equal(buf, K1);
	assert_int_equal(
	    authkeys_tagged_key(K1 " " ADOPT "\n", strlen(K1 " " ADOPT "\n"),
		TAG, NULL, buf, sizeof(buf)),
	    -ENOENT);
	/* ...else ours, wherever it stands. */
	assert_int_equal(authkeys_tagged_key(K1 " " ADOPT "\n" K2 " " TAG "\n",
			     strlen(K1 " " ADOPT "\n" K2 " " TAG "\n"), TAG,
			     ADOPT, buf, sizeof(buf)),
	    0);
	assert_string_equal(buf, K2);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_first_rotation_appends),
		cmocka_unit_test(test_second_rotation_replaces),
		cmocka_unit_test(test_keeper_adopted),
		cmocka_unit_test(test_tag_precedence),
		cmocka_unit_test(test_options),
		cmocka_unit_test(test_quoted_options),
		cmocka_unit_test(test_crlf),
		cmocka_unit_test(test_no_final_newline),
		cmocka_unit_test(test_empty_file),
		cmocka_unit_test(test_duplicates),
		cmocka_unit_test(test_untagged_holds_key),
		cmocka_unit_test(test_unchanged),
		cmocka_unit_test(test_comments_and_blanks),
		cmocka_unit_test(test_malformed_preserved),
		cmocka_unit_test(test_invalid_arguments),
		cmocka_unit_test(test_oversize),
		cmocka_unit_test(test_find),
		cmocka_unit_test(test_tagged_key),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
