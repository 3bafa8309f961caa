/*
 * Unit tests of the ldap provider's pure parts: the class of an LDAP
 * result (OpenLDAP's and AD's, in Samba's forms and in Windows' where
 * they differ), AD's diagnostic codes, unicodePwd's quoting (UTF-16LE
 * in double quotes) and the choice of transport.  The
 * provider's functions are file-local: this file includes ldap.c, and
 * links provider.c (no other provider).  tests/integration/ldap.sh
 * and ad.sh run the operations against real servers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "../../providers/ldap.c"

/* Samba 4.17's texts, as ldap-utils print them. */
#define AD_TOO_SHORT                                                           \
	"0000052D: Constraint violation - check_password_restrictions: "       \
	"the password is too short. It should be equal or longer than 7 "      \
	"characters!"
#define AD_WRONG_OLD                                                           \
	"00000056: Constraint violation - check_password_restrictions: "       \
	"the old password specified doesn't match!"
/* Windows': an admin reset (replace unicodePwd) that breaks the domain's
 * policy is 53, not 19 as on Samba, with the same code. */
#define AD_WIN_RESET_POLICY                                                    \
	"0000052D: SvcErr: DSID-031A126C, problem 5003 (WILL_NOT_PERFORM), "   \
	"data 0"
/* Windows: unicodePwd over a connection that is not encrypted. */
#define AD_WIN_NOT_ENCRYPTED                                                   \
	"00002077: SvcErr: DSID-03190F80, problem 5003 (WILL_NOT_PERFORM), "   \
	"data 0"
#define AD_BIND(data)                                                          \
	"80090308: LdapErr: DSID-0C09041C, comment: AcceptSecurityContext "    \
	"error, data " data ", v1db1"

static void
test_classes_openldap(void **state)
{
	(void)state;
	assert_int_equal(
	    result_class(LDAP_SUCCESS, NULL, DIR_OPENLDAP), WIRE_CLASS_NONE);
	assert_int_equal(result_class(LDAP_SERVER_DOWN, NULL, DIR_OPENLDAP),
	    WIRE_CLASS_TRANSIENT);
	assert_int_equal(result_class(LDAP_TIMEOUT, NULL, DIR_OPENLDAP),
	    WIRE_CLASS_TRANSIENT);
	assert_int_equal(result_class(LDAP_CONNECT_ERROR, NULL, DIR_OPENLDAP),
	    WIRE_CLASS_TRANSIENT);
	assert_int_equal(
	    result_class(LDAP_BUSY, NULL, DIR_OPENLDAP), WIRE_CLASS_TRANSIENT);
	assert_int_equal(result_class(LDAP_UNAVAILABLE, NULL, DIR_OPENLDAP),
	    WIRE_CLASS_TRANSIENT);
	assert_int_equal(
	    result_class(LDAP_INVALID_CREDENTIALS, NULL, DIR_OPENLDAP),
	    WIRE_CLASS_AUTH);
	assert_int_equal(
	    result_class(LDAP_CONSTRAINT_VIOLATION,
		"Password fails quality checking policy", DIR_OPENLDAP),
	    WIRE_CLASS_POLICY);
	assert_int_equal(
	    result_class(LDAP_INSUFFICIENT_ACCESS, NULL, DIR_OPENLDAP),
	    WIRE_CLASS_FATAL);
	assert_int_equal(result_class(LDAP_NO_SUCH_OBJECT, NULL, DIR_OPENLDAP),
	    WIRE_CLASS_FATAL);
	assert_int_equal(
	    result_class(LDAP_STRONG_AUTH_REQUIRED, NULL, DIR_OPENLDAP),
	    WIRE_CLASS_FATAL);
	/* AD's codes mean nothing in OpenLDAP's texts. */
	assert_int_equal(
	    result_class(LDAP_CONSTRAINT_VIOLATION, AD_WRONG_OLD, DIR_OPENLDAP),
	    WIRE_CLASS_POLICY);
	assert_int_equal(result_class(LDAP_INVALID_CREDENTIALS, AD_BIND("775"),
			     DIR_OPENLDAP),
	    WIRE_CLASS_AUTH);
	assert_int_equal(result_class(LDAP_UNWILLING_TO_PERFORM,
			     AD_WIN_RESET_POLICY, DIR_OPENLDAP),
	    WIRE_CLASS_FATAL);
	/* slapd refusing an extended operation it was told to refuse. */
	assert_int_equal(result_class(LDAP_UNWILLING_TO_PERFORM,
			     "extended operation restricted", DIR_OPENLDAP),
	    WIRE_CLASS_FATAL);
}

static void
test_classes_ad(void **state)
{
	static const char *const fatal[] = { "773", "775", "533", "701", "532",
		"530", "531" };
	size_t i;

	(void)state;
	assert_int_equal(
	    result_class(LDAP_CONSTRAINT_VIOLATION, AD_TOO_SHORT, DIR_AD),
	    WIRE_CLASS_POLICY);
	assert_int_equal(
	    result_class(LDAP_CONSTRAINT_VIOLATION, AD_WRONG_OLD, DIR_AD),
	    WIRE_CLASS_AUTH);
	assert_int_equal(result_class(LDAP_CONSTRAINT_VIOLATION, NULL, DIR_AD),
	    WIRE_CLASS_POLICY);
	/* The same policy refusal as Windows answers a reset: 53. */
	assert_int_equal(result_class(LDAP_UNWILLING_TO_PERFORM,
			     AD_WIN_RESET_POLICY, DIR_AD),
	    WIRE_CLASS_POLICY);
	/* 53 with any other code, or none, stays fatal. */
	assert_int_equal(result_class(LDAP_UNWILLING_TO_PERFORM,
			     AD_WIN_NOT_ENCRYPTED, DIR_AD),
	    WIRE_CLASS_FATAL);
	assert_int_equal(result_class(LDAP_UNWILLING_TO_PERFORM, NULL, DIR_AD),
	    WIRE_CLASS_FATAL);
	assert_int_equal(
	    result_class(LDAP_INVALID_CREDENTIALS, AD_BIND("52e"), DIR_AD),
	    WIRE_CLASS_AUTH);
	assert_int_equal(
	    result_class(LDAP_INVALID_CREDENTIALS, AD_BIND("525"), DIR_AD),
	    WIRE_CLASS_AUTH);
	assert_int_equal(result_class(LDAP_INVALID_CREDENTIALS, NULL, DIR_AD),
	    WIRE_CLASS_AUTH);
	for (i = 0; i < sizeof(fatal) / sizeof(*fatal); i++) {
		char diag[256];

		snprintf(diag, sizeof(diag),
		    "80090308: LdapErr: DSID-0C09041C, comment: "
		    "AcceptSecurityContext error, data %s, v1db1",
		    fatal[i]);
		assert_int_equal(
		    result_class(LDAP_INVALID_CREDENTIALS, diag, DIR_AD),
		    WIRE_CLASS_FATAL);
	}
	assert_int_equal(result_class(LDAP_INSUFFICIENT_ACCESS,
			     "00002098: SecErr: DSID-03150E8A", DIR_AD),
	    WIRE_CLASS_FATAL);
	assert_int_equal(
	    result_class(LDAP_UNAVAILABLE, NULL, DIR_AD), WIRE_CLASS_TRANSIENT);
}

static void
test_ad_diag(void **state)
{
	struct ad_diag d;

	(void)state;
	ad_diag_parse(AD_TOO_SHORT, &d);
	assert_true(d.has_code);
	assert_int_equal(d.code, 0x52d);
	assert_false(d.has_data);
	ad_diag_parse(AD_WRONG_OLD, &d);
	assert_true(d.has_code);
	assert_int_equal(d.code, 0x56);
	ad_diag_parse(AD_WIN_RESET_POLICY, &d);
	assert_true(d.has_code);
	assert_int_equal(d.code, 0x52d);
	ad_diag_parse(AD_BIND("775"), &d);
	assert_true(d.has_code);
	assert_int_equal(d.code, 0x80090308);
	assert_true(d.has_data);
	assert_int_equal(d.data, 0x775);
	assert_string_equal(ad_state(&d), "is locked out");
	/* Windows writes the data code without a comma after it too. */
	ad_diag_parse("80090308: LdapErr: DSID-0C0903A9, comment: "
		      "AcceptSecurityContext error, data 773",
	    &d);
	assert_true(d.has_data);
	assert_int_equal(d.data, 0x773);
	ad_diag_parse(AD_BIND("52e"), &d);
	assert_null(ad_state(&d));
	/* Not AD's: no code, no data. */
	ad_diag_parse("Password fails quality checking policy", &d);
	assert_false(d.has_code);
	assert_false(d.has_data);
	ad_diag_parse("metadata 775", &d);
	assert_false(d.has_data);
	ad_diag_parse("0000052D Constraint violation", &d); /* no colon */
	assert_false(d.has_code);
	ad_diag_parse("123456789: too long", &d);
	assert_false(d.has_code);
	ad_diag_parse("data zzz", &d);
	assert_false(d.has_data);
	ad_diag_parse("", &d);
	assert_false(d.has_code || d.has_data);
	ad_diag_parse(NULL, &d);
	assert_false(d.has_code || d.has_data);
}

/* ad_quote(S) must be EXPECT (LEN bytes). */
static void
check_quote(const char *s, const unsigned char *expect, size_t len)
{
	struct secret *q = NULL;

	assert_int_equal(ad_quote((const unsigned char *)s, strlen(s), &q), 0);
	assert_non_null(q);
	assert_int_equal(secret_len(q), len);
	assert_memory_equal(secret_data(q), expect, len);
	secret_free(q);
}

static void
test_ad_quote(void **state)
{
	static const unsigned char ab[] = { '"', 0, 'a', 0, 'B', 0, '"', 0 };
	static const unsigned char empty[] = { '"', 0, '"', 0 };
	/* é (U+00E9), € (U+20AC), 😀 (U+1F600: a surrogate pair). */
	static const unsigned char intl[] = { '"', 0, 0xe9, 0x00, 0xac, 0x20,
		0x3d, 0xd8, 0x00, 0xde, '"', 0 };
	static const unsigned char quote[] = { '"', 0, '"', 0, '"', 0 };
	static const char *const bad[] = {
		"\xc3",             /* cut short */
		"\xc3\x28",         /* not a continuation */
		"\xc0\xaf",         /* overlong '/' */
		"\xe0\x80\xaf",     /* overlong */
		"\xed\xa0\x80",     /* a surrogate, U+D800 */
		"\xf4\x90\x80\x80", /* past U+10FFFF */
		"\xff",
		"\x80",
	};
	struct secret *q = NULL;
	size_t i;

	(void)state;
	check_quote("aB", ab, sizeof(ab));
	check_quote("", empty, sizeof(empty));
	check_quote("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", intl, sizeof(intl));
	check_quote("\"", quote, sizeof(quote));
	for (i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		assert_int_equal(
		    ad_quote((const unsigned char *)bad[i], strlen(bad[i]), &q),
		    -EILSEQ);
		assert_null(q);
	}
	/* A NUL inside. */
	assert_int_equal(
	    ad_quote((const unsigned char *)"a\0b", 3, &q), -EILSEQ);
	assert_null(q);
}

static void
test_transport(void **state)
{
	enum transport t;

	(void)state;
	assert_int_equal(transport_choose(false, NULL, 636, &t), 0);
	assert_int_equal(t, TRANSPORT_LDAPS);
	assert_int_equal(transport_choose(false, NULL, 3269, &t), 0);
	assert_int_equal(t, TRANSPORT_LDAPS);
	assert_int_equal(transport_choose(false, NULL, 389, &t), 0);
	assert_int_equal(t, TRANSPORT_STARTTLS);
	assert_int_equal(transport_choose(false, NULL, 0, &t), 0);
	assert_int_equal(t, TRANSPORT_STARTTLS);
	assert_int_equal(transport_choose(false, "false", 6360, &t), 0);
	assert_int_equal(t, TRANSPORT_LDAPS);
	assert_int_equal(transport_choose(false, "true", 636, &t), 0);
	assert_int_equal(t, TRANSPORT_STARTTLS);
	assert_int_equal(transport_choose(true, NULL, 636, &t), 0);
	assert_int_equal(t, TRANSPORT_LDAP);
	assert_int_equal(transport_choose(true, "false", 389, &t), 0);
	assert_int_equal(t, TRANSPORT_LDAP);
	assert_int_equal(transport_choose(true, "true", 389, &t), -EINVAL);
}

/* AD without TLS is refused before any connection (no host reachable
 * here: a connection attempt would answer transient). */
static void
test_ad_plain_refused(void **state)
{
	struct wire_param params[] = {
		{ "directory_type", "active_directory" },
	};
	struct wire_request req;
	struct wire_response res;
	struct secret *pw = NULL;

	(void)state;
	memset(&req, 0, sizeof(req));
	memset(&res, 0, sizeof(res));
	assert_int_equal(secret_new("x-Secret-1", 10, &pw), 0);
	req.op = WIRE_OP_APPLY;
	req.provider = "ldap";
	req.host = "192.0.2.1"; /* TEST-NET: nothing answers */
	req.port = 389;
	req.login = "u";
	req.dn = "CN=u,DC=x";
	req.admin_login = "admin@x";
	req.admin = pw;
	req.new_secret = pw;
	req.tls_disabled = true;
	req.timeout = 5;
	req.params = params;
	req.nparams = 1;
	assert_int_equal(provider_ldap.apply(&req, &res), -EIO);
	assert_int_equal(res.class, WIRE_CLASS_FATAL);
	assert_true(res.untouched);
	assert_non_null(strstr(res.message, "only over LDAPS or StartTLS"));
	memset(&res, 0, sizeof(res));
	req.op = WIRE_OP_VERIFY;
	assert_int_equal(provider_ldap.verify(&req, &res), -EIO);
	assert_int_equal(res.class, WIRE_CLASS_FATAL);
	secret_free(pw);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_classes_openldap),
		cmocka_unit_test(test_classes_ad),
		cmocka_unit_test(test_ad_diag),
		cmocka_unit_test(test_ad_quote),
		cmocka_unit_test(test_transport),
		cmocka_unit_test(test_ad_plain_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
