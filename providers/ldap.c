/*
 * ldap: a directory account's password, in OpenLDAP or Active Directory,
 * with libldap.
 *
 *   directory_type   openldap                 active_directory
 *   admin reset      Password Modify (RFC      replace unicodePwd
 *                    3062) bound as the admin
 *   self-change      Password Modify bound     one modify: delete the old
 *                    as the user, old given    unicodePwd, add the new
 *   no extended op   replace userPassword      -
 *   verify           a simple bind as the user with the new password
 *
 * unicodePwd is the password in double quotes, as UTF-16LE, in a BER
 * octet string (ad_quote()).  Active Directory takes it only over an
 * encrypted connection: with tls: {enabled: false} an AD request is
 * refused before anything is sent.  A server without the Password Modify
 * operation (its rootDSE lists extensions, not that one) gets a replace
 * of userPassword, which it must hash itself.
 *
 * Bind names.  The request carries the target's dn and login, and only
 * the admin's login: the admin binds with its login, which is therefore a
 * DN (OpenLDAP) or, for AD, a DN or a userPrincipalName.  An OpenLDAP
 * user needs its dn; an AD user without one binds with its login (a UPN,
 * or DOMAIN\name), and an apply finds its DN by sAMAccountName or
 * userPrincipalName under base_dn.
 *
 * Transport (transport_choose()): TLS from the first byte (ldaps://) on
 * ports 636 and 3269 or with start_tls: false; StartTLS on ldap:// on any
 * other port or with start_tls: true; plain ldap:// only with tls:
 * {enabled: false} (warned about by the configuration layer).  The
 * request does not carry the resource's protocol: a resource serving
 * LDAPS on another port says start_tls: false.  The server's certificate
 * is verified (LDAP_OPT_X_TLS_REQUIRE_CERT DEMAND, host name included)
 * against the resource's CA file or the system's bundle, unless tls:
 * {verify: false} (ALLOW).  libldap uses GnuTLS here: the options are set
 * on the handle, LDAP_OPT_X_TLS_NEWCTX last.  Passwords are never sent
 * before TLS is up, nor in an anonymous bind: an empty password is
 * refused here, since an LDAP simple bind with one succeeds without
 * checking anything (RFC 4513, unauthenticated bind).
 *
 * Server-side work: LDAP has no server-side time limit for a modify or an
 * extended operation.  Each operation is bounded client-side
 * (LDAP_OPT_TIMEOUT) a second under what is left of the step's deadline,
 * and on a timeout the worker abandons it and closes the connection; a
 * directory server runs a password modify to completion in milliseconds,
 * but one that does not answer in time leaves the apply uncertain, which
 * recovery treats as such (the catalog entry says so).
 *
 * Errors are classed by result code (result_class()), and AD's by the
 * codes in its diagnostic text, never its English (ad_diag_parse()).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <lber.h>
#include <ldap.h>
#include <openldap.h>

#include "catalog.h"
#include "provider.h"
#include "secret.h"

#define LDAP_PORT_PLAIN 389
#define LDAP_PORT_TLS 636
#define LDAP_PORT_GC_TLS 3269 /* AD's global catalog over TLS */
#define LDAP_DEFAULT_TIMEOUT 10
#define LDAP_BOUND_MARGIN_MS 1000 /* each operation ends this early */
#define LDAP_BOUND_MIN_MS 1000    /* and is never given less than this */

enum dir_type {
	DIR_OPENLDAP,
	DIR_AD,
};

enum transport {
	TRANSPORT_LDAP,     /* no TLS: tls: {enabled: false} */
	TRANSPORT_STARTTLS, /* ldap://, then StartTLS before anything else */
	TRANSPORT_LDAPS,    /* ldaps:// */
};

static const char *const transport_names[] = { "ldap", "starttls", "ldaps" };

/* One connection, and what it needs to bound its operations. */
struct dir {
	LDAP *ld;
	enum dir_type type;
	enum transport transport;
	long long started; /* the step's start, mono_ms() */
	int timeout;       /* the step's deadline, seconds */
};

/* ---- pure helpers (tests/unit/test_ldap.c) ---- */

/*
 * The transport for a request: TLS_DISABLED (tls: {enabled: false}),
 * START_TLS (the start_tls parameter, "true", "false" or NULL) and PORT
 * (0: none given).  0 with the transport in *ret, or -EINVAL when
 * start_tls: true asks for TLS that tls: {enabled: false} turned off.
 */
static int
transport_choose(
    bool tls_disabled, const char *start_tls, int port, enum transport *ret)
{
	if (tls_disabled) {
		if (start_tls != NULL && strcmp(start_tls, "true") == 0)
			return -EINVAL;
		*ret = TRANSPORT_LDAP;
	} else if (start_tls != NULL)
		*ret = strcmp(start_tls, "true") == 0 ? TRANSPORT_STARTTLS
						      : TRANSPORT_LDAPS;
	else
		*ret = port == LDAP_PORT_TLS || port == LDAP_PORT_GC_TLS
		    ? TRANSPORT_LDAPS
		    : TRANSPORT_STARTTLS;
	return 0;
}

/* What AD's diagnostic text says, e.g. "80090308: LdapErr: DSID-0C09044E,
 * comment: AcceptSecurityContext error, data 52e, v4563": the leading
 * error code (hex, before a colon) and the data code (hex, after
 * "data "). */
struct ad_diag {
	bool has_code, has_data;
	unsigned long code, data;
};

static bool
is_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
	    (c >= 'A' && c <= 'F');
}

/* The hex number of 1..8 digits at S, ended by a character that is not
 * hex: true with it in *ret. */
static bool
hex_at(const char *s, unsigned long *ret)
{
	unsigned long v = 0;
	size_t n;

	for (n = 0; is_hex(s[n]); n++) {
		if (n == 8)
			return false;
		v = v * 16 +
		    (unsigned long)(s[n] <= '9' ? s[n] - '0'
			    : s[n] <= 'F'       ? s[n] - 'A' + 10
						: s[n] - 'a' + 10);
	}
	if (n == 0)
		return false;
	*ret = v;
	return true;
}

static void
ad_diag_parse(const char *diag, struct ad_diag *ret)
{
	const char *p;
	size_t n;

	memset(ret, 0, sizeof(*ret));
	if (diag == NULL)
		return;
	for (n = 0; n < 8 && is_hex(diag[n]); n++)
		;
	if (n == 8 && diag[8] == ':')
		ret->has_code = hex_at(diag, &ret->code);
	for (p = diag; (p = strstr(p, "data ")) != NULL; p += 5) {
		/* A word of its own: "data", not "metadata". */
		if (p != diag && p[-1] != ' ' && p[-1] != ',')
			continue;
		if (hex_at(p + 5, &ret->data)) {
			ret->has_data = true;
			break;
		}
	}
}

/* AD's refusals of a bind (result 49) for an account in a state no retry
 * changes: its data code and the state, for the message. */
static const struct {
	unsigned long data;
	const char *state;
} ad_states[] = {
	{ 0x530, "may not log on at this time" },
	{ 0x531, "may not log on from this workstation" },
	{ 0x532, "has an expired password" },
	{ 0x533, "is disabled" },
	{ 0x701, "has expired" },
	{ 0x773, "must change its password" },
	{ 0x775, "is locked out" },
};

/* The state named by D's data code for a refused bind, or NULL. */
static const char *
ad_state(const struct ad_diag *d)
{
	size_t i;

	for (i = 0; d->has_data && i < sizeof(ad_states) / sizeof(*ad_states);
	     i++)
		if (ad_states[i].data == d->data)
			return ad_states[i].state;
	return NULL;
}

/* AD's error codes in a constraint violation (result 19), and the
 * first in an unwillingToPerform (53) too. */
#define AD_ERROR_PASSWORD_RESTRICTION 0x52d /* too short, history, age */
#define AD_ERROR_INVALID_PASSWORD 0x56      /* wrong old password */

/*
 * The class of an LDAP result RC with the server's diagnostic DIAG (may
 * be NULL), from a directory of TYPE.  Failures that may pass (no server,
 * a timeout, a busy or unavailable server, limits) are transient; a
 * refused credential is auth; a password the directory's policy refuses
 * (OpenLDAP's ppolicy, AD's 0000052D) is policy; AD's wrong old password
 * on a self-change (19, 00000056) is auth; AD's 53 is policy with
 * 0000052D and fatal otherwise; an AD account that is
 * disabled, locked, expired or must change its password is fatal, as is
 * missing access and anything else, which retrying will not mend.  TLS
 * failures are classed where they happen (open_dir()).
 */
static enum wire_class
result_class(int rc, const char *diag, enum dir_type type)
{
	struct ad_diag d;

	ad_diag_parse(type == DIR_AD ? diag : NULL, &d);
	switch (rc) {
	case LDAP_SUCCESS:
		return WIRE_CLASS_NONE;
	case LDAP_SERVER_DOWN:
	case LDAP_TIMEOUT:
	case LDAP_CONNECT_ERROR:
	case LDAP_BUSY:
	case LDAP_UNAVAILABLE:
	case LDAP_TIMELIMIT_EXCEEDED:
	case LDAP_ADMINLIMIT_EXCEEDED:
	case LDAP_NO_MEMORY:
		return WIRE_CLASS_TRANSIENT;
	case LDAP_INVALID_CREDENTIALS:
		return ad_state(&d) != NULL ? WIRE_CLASS_FATAL
					    : WIRE_CLASS_AUTH;
	case LDAP_CONSTRAINT_VIOLATION:
		if (d.has_code && d.code == AD_ERROR_INVALID_PASSWORD)
			return WIRE_CLASS_AUTH;
		return WIRE_CLASS_POLICY;
	case LDAP_UNWILLING_TO_PERFORM:
		/* Windows answers an admin reset (replace unicodePwd) that
		 * breaks the domain's policy with 53 and 0000052D ("problem
		 * 5003 (WILL_NOT_PERFORM)"), where a self-change, and Samba
		 * for both, get 19.  53 with another code (00002077:
		 * unicodePwd over a connection that is not encrypted) or
		 * from OpenLDAP (an operation it was told to refuse) is no
		 * password's fault: a new one would be refused the same. */
		if (d.has_code && d.code == AD_ERROR_PASSWORD_RESTRICTION)
			return WIRE_CLASS_POLICY;
		return WIRE_CLASS_FATAL;
	case LDAP_INSUFFICIENT_ACCESS:
	default:
		return WIRE_CLASS_FATAL;
	}
}

/*
 * unicodePwd's value for the password PW (LEN bytes of UTF-8): the
 * password in double quotes, as UTF-16LE (MS-ADTS 3.1.1.3.1.5), in a new
 * secret in *ret.  0, -EILSEQ (not UTF-8: an overlong form, a surrogate,
 * past U+10FFFF, or a NUL) or -ENOMEM.
 */
static int
ad_quote(const unsigned char *pw, size_t len, struct secret **ret)
{
	struct secret *s = NULL;
	unsigned char *out = NULL;
	size_t i, pass, units = 0, o = 0;
	uint32_t cp;
	int n, r;

	*ret = NULL;
	/* Pass 0 counts the UTF-16 units, pass 1 writes them. */
	for (pass = 0; pass < 2; pass++) {
		if (pass == 1) {
			r = secret_new(NULL, (units + 2) * 2, &s);
			if (r < 0)
				return r;
			out = secret_buf(s);
			out[o++] = '"';
			out[o++] = 0;
		}
		for (i = 0; i < len; i += (size_t)n) {
			unsigned char c = pw[i];
			uint32_t min;
			int k;

			if (c == 0)
				goto bad;
			if (c < 0x80) {
				n = 1, cp = c, min = 0;
			} else if ((c & 0xe0) == 0xc0) {
				n = 2, cp = c & 0x1f, min = 0x80;
			} else if ((c & 0xf0) == 0xe0) {
				n = 3, cp = c & 0x0f, min = 0x800;
			} else if ((c & 0xf8) == 0xf0) {
				n = 4, cp = c & 0x07, min = 0x10000;
			} else
				goto bad;
			if (len - i < (size_t)n)
				goto bad;
			for (k = 1; k < n; k++) {
				if ((pw[i + k] & 0xc0) != 0x80)
					goto bad;
				cp = cp << 6 | (pw[i + k] & 0x3f);
			}
			if (cp < min || cp > 0x10ffff ||
			    (cp >= 0xd800 && cp <= 0xdfff))
				goto bad;
			if (pass == 0) {
				units += cp >= 0x10000 ? 2 : 1;
				continue;
			}
			if (cp >= 0x10000) {
				uint32_t v = cp - 0x10000;
				uint32_t hi = 0xd800 | (v >> 10);
				uint32_t lo = 0xdc00 | (v & 0x3ff);

				out[o++] = (unsigned char)(hi & 0xff);
				out[o++] = (unsigned char)(hi >> 8);
				out[o++] = (unsigned char)(lo & 0xff);
				out[o++] = (unsigned char)(lo >> 8);
			} else {
				out[o++] = (unsigned char)(cp & 0xff);
				out[o++] = (unsigned char)(cp >> 8);
			}
		}
	}
	out[o++] = '"';
	out[o++] = 0;
	*ret = s;
	return 0;
bad:
	secret_free(s);
	return -EILSEQ;
}

/* ---- messages ---- */

/*
 * Fail RES for result RC of WHAT on LD (may be NULL), classed by
 * result_class() unless CLASS is not WIRE_CLASS_NONE.  The message names
 * the result code and quotes the server's diagnostic, and for AD's
 * refused binds the account's state.
 */
static int
dir_fail(struct wire_response *res, LDAP *ld, enum dir_type type, int rc,
    enum wire_class class, const char *what)
{
	char line[WIRE_MESSAGE_MAX / 2];
	char *diag = NULL;
	const char *state = NULL;
	struct ad_diag d;

	if (ld != NULL)
		(void)ldap_get_option(ld, LDAP_OPT_DIAGNOSTIC_MESSAGE, &diag);
	provider_one_line(diag, line, sizeof(line));
	if (class == WIRE_CLASS_NONE)
		class = result_class(rc, diag, type);
	if (type == DIR_AD && rc == LDAP_INVALID_CREDENTIALS) {
		ad_diag_parse(diag, &d);
		state = ad_state(&d);
	}
	ldap_memfree(diag);
	if (state != NULL)
		return provider_fail(res, class,
		    "%s: the account %s (result %d, %s; %s)", what, state, rc,
		    ldap_err2string(rc), line);
	return provider_fail(res, class, "%s: %s (result %d)%s%s", what,
	    ldap_err2string(rc), rc, line[0] != '\0' ? ": " : "", line);
}

/* ---- secrets ---- */

/* A berval over the first LEN bytes of S (borrowed, not copied). */
static struct berval
secret_bv(const struct secret *s, size_t len)
{
	struct berval bv;

	bv.bv_val = (char *)secret_data(s);
	bv.bv_len = len;
	return bv;
}

/* ---- the connection ---- */

/* Milliseconds on CLOCK_MONOTONIC. */
static long long
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* What is left of D's step, less the margin, never under the floor. */
static struct timeval
dir_left(const struct dir *d)
{
	long long left;
	struct timeval tv;

	left = (long long)d->timeout * 1000 - (mono_ms() - d->started) -
	    LDAP_BOUND_MARGIN_MS;
	if (left < LDAP_BOUND_MIN_MS)
		left = LDAP_BOUND_MIN_MS;
	tv.tv_sec = (time_t)(left / 1000);
	tv.tv_usec = (suseconds_t)(left % 1000) * 1000;
	return tv;
}

/* Bound D's next synchronous operation by what is left of the step. */
static void
dir_bound(const struct dir *d)
{
	struct timeval tv = dir_left(d);

	(void)ldap_set_option(d->ld, LDAP_OPT_TIMEOUT, &tv);
}

/*
 * TLS options of REQ on LD, then a new context (LDAP_OPT_X_TLS_NEWCTX
 * last: GnuTLS reads the others into it).  0 or the failing option's
 * result.
 */
static int
set_tls(LDAP *ld, const struct wire_request *req)
{
	int demand =
	    req->tls_verify ? LDAP_OPT_X_TLS_DEMAND : LDAP_OPT_X_TLS_ALLOW;
	int min = LDAP_OPT_X_TLS_PROTOCOL_TLS1_2, server = 0, rc;
	const char *ca = req->tls_ca_file != NULL ? req->tls_ca_file
						  : CATALOG_SYSTEM_CA_FILE;

	if ((rc = ldap_set_option(ld, LDAP_OPT_X_TLS_REQUIRE_CERT, &demand)) !=
	    LDAP_OPT_SUCCESS)
		return rc;
	if ((rc = ldap_set_option(ld, LDAP_OPT_X_TLS_CACERTFILE, ca)) !=
	    LDAP_OPT_SUCCESS)
		return rc;
	if ((rc = ldap_set_option(ld, LDAP_OPT_X_TLS_PROTOCOL_MIN, &min)) !=
	    LDAP_OPT_SUCCESS)
		return rc;
	return ldap_set_option(ld, LDAP_OPT_X_TLS_NEWCTX, &server);
}

/*
 * The watchdog: libldap 2.5 bounds neither a TLS handshake that gets no
 * answer (with LDAP_OPT_NETWORK_TIMEOUT it spins on a non-blocking
 * socket instead) nor every blocking read, so the worker connects the
 * socket itself and arms alarm() for what is left of the step; the
 * handler shuts the socket down, and whatever libldap was waiting for
 * fails at once.  shutdown() is async-signal-safe.
 */
static volatile sig_atomic_t watchdog_fd = -1;
static volatile sig_atomic_t watchdog_fired;

static void
watchdog(int sig)
{
	(void)sig;
	if (watchdog_fd >= 0)
		(void)shutdown(watchdog_fd, SHUT_RDWR);
	watchdog_fired = 1;
}

/* Arm the watchdog on FD for what is left of D's step. */
static void
watchdog_arm(const struct dir *d, int fd)
{
	struct sigaction sa;
	struct timeval left = dir_left(d);

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = watchdog;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	watchdog_fired = 0;
	watchdog_fd = fd;
	/* A write on the socket shut down (libldap's unbind) must fail
	 * with EPIPE, not kill the worker before it answers. */
	(void)signal(SIGPIPE, SIG_IGN);
	if (sigaction(SIGALRM, &sa, NULL) == 0)
		alarm(left.tv_sec > 0 ? (unsigned)left.tv_sec : 1);
}

static void
watchdog_disarm(void)
{
	alarm(0);
	watchdog_fd = -1;
}

/*
 * Fail RES for a TLS set-up (WHAT: LDAPS or StartTLS) that returned RC
 * on D's connection to REQ's host and PORT.  The watchdog's doing, a
 * server gone or one that did not answer is transient; a handshake that
 * failed, or a StartTLS the server refused, is fatal.  libldap's GnuTLS
 * layer says little ("(unknown error code)"): the message says what to
 * check.
 */
static int
tls_fail(struct dir *d, const struct wire_request *req, int rc, int port,
    const char *what, struct wire_response *res)
{
	char text[WIRE_MESSAGE_MAX / 2];

	if (watchdog_fired || rc == LDAP_TIMEOUT) {
		snprintf(text, sizeof(text),
		    "%s with %s port %d: no answer within the step's deadline",
		    what, req->host, port);
		return dir_fail(res, d->ld, d->type, LDAP_TIMEOUT,
		    WIRE_CLASS_TRANSIENT, text);
	}
	if (rc == LDAP_SERVER_DOWN && strcmp(what, "StartTLS") == 0)
		return dir_fail(res, d->ld, d->type, rc, WIRE_CLASS_TRANSIENT,
		    "StartTLS: the server closed the connection");
	snprintf(text, sizeof(text),
	    "%s with %s port %d failed: the TLS handshake failed or was "
	    "refused (is the server's certificate valid for %s and signed by "
	    "a CA in %s?)",
	    what, req->host, port, req->host,
	    req->tls_ca_file != NULL ? req->tls_ca_file
				     : CATALOG_SYSTEM_CA_FILE);
	return dir_fail(res, d->ld, d->type, rc, WIRE_CLASS_FATAL, text);
}

/*
 * A TCP connection to HOST:PORT within MS milliseconds, blocking once up:
 * 0 with the socket in *ret, or -errno (-EHOSTUNREACH for a name that
 * does not resolve) with the reason in WHY.
 */
static int
tcp_connect(
    const char *host, int port, long long ms, int *ret, char *why, size_t size)
{
	struct addrinfo hints, *ai = NULL, *a;
	char service[16];
	long long end = mono_ms() + ms;
	int fd = -1, err = 0, r;
	socklen_t len;

	*ret = -1;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	snprintf(service, sizeof(service), "%d", port);
	if ((r = getaddrinfo(host, service, &hints, &ai)) != 0) {
		snprintf(
		    why, size, "cannot resolve %s: %s", host, gai_strerror(r));
		return -EHOSTUNREACH;
	}
	r = -ECONNREFUSED;
	for (a = ai; a != NULL; a = a->ai_next) {
		struct pollfd pfd;
		long long left = end - mono_ms();

		fd = socket(a->ai_family,
		    a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
		    a->ai_protocol);
		if (fd < 0) {
			r = -errno;
			continue;
		}
		if (connect(fd, a->ai_addr, a->ai_addrlen) < 0) {
			if (errno != EINPROGRESS) {
				r = -errno;
				goto next;
			}
			pfd.fd = fd;
			pfd.events = POLLOUT;
			if (left <= 0 ||
			    poll(&pfd, 1,
				(int)(left > INT32_MAX ? INT32_MAX : left)) <=
				0) {
				r = -ETIMEDOUT;
				goto next;
			}
			len = sizeof(err);
			if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) <
				0 ||
			    err != 0) {
				r = err != 0 ? -err : -errno;
				goto next;
			}
		}
		if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) < 0) {
			r = -errno;
			goto next;
		}
		freeaddrinfo(ai);
		*ret = fd;
		return 0;
	next:
		close(fd);
		fd = -1;
	}
	freeaddrinfo(ai);
	snprintf(why, size, "cannot connect to %s port %d: %s", host, port,
	    strerror(-r));
	return r;
}

/*
 * Open a connection for REQ into D (D->type, started and timeout set by
 * the caller): TCP (ours, bounded), the handle over it, options, TLS
 * (LDAPS) or StartTLS, with the watchdog armed.  0, or RES filled and
 * -EIO with D->ld NULL.  A server that cannot be reached, or does not
 * answer in time, is transient; a TLS handshake that fails on a
 * connection that is up is fatal: a certificate that does not verify
 * will not verify on a retry.
 */
static int
dir_open(
    struct dir *d, const struct wire_request *req, struct wire_response *res)
{
	const char *start_tls = wire_param(req, "start_tls");
	char uri[512], why[WIRE_MESSAGE_MAX / 2];
	struct timeval tv;
	long long net;
	int version = LDAP_VERSION3, port, rc, fd = -1;
	bool v6;

	d->ld = NULL;
	if (req->host == NULL)
		return provider_fail(res, WIRE_CLASS_FATAL, "no host given");
	if (transport_choose(
		req->tls_disabled, start_tls, req->port, &d->transport) < 0)
		return provider_fail(res, WIRE_CLASS_FATAL,
		    "start_tls: true, but tls: {enabled: false}");
	if (d->type == DIR_AD && d->transport == TRANSPORT_LDAP)
		return provider_fail(res, WIRE_CLASS_FATAL,
		    "Active Directory takes a password only over LDAPS or "
		    "StartTLS, and this resource has tls: {enabled: false}");
	port = req->port > 0                  ? req->port
	    : d->transport == TRANSPORT_LDAPS ? LDAP_PORT_TLS
					      : LDAP_PORT_PLAIN;
	v6 = strchr(req->host, ':') != NULL;
	if (strpbrk(req->host, "/?#[]@% ") != NULL ||
	    (size_t)snprintf(uri, sizeof(uri), "%s://%s%s%s:%d",
		d->transport == TRANSPORT_LDAPS ? "ldaps" : "ldap",
		v6 ? "[" : "", req->host, v6 ? "]" : "", port) >= sizeof(uri))
		return provider_fail(res, WIRE_CLASS_FATAL,
		    "host %s cannot be written in an LDAP URI", req->host);

	/* Half the step for TCP to come up, at most what is left. */
	tv = dir_left(d);
	net = (long long)tv.tv_sec * 1000 + tv.tv_usec / 1000;
	if (d->timeout >= 2 && net > (long long)d->timeout * 500)
		net = (long long)d->timeout * 500;
	if ((rc = tcp_connect(req->host, port, net, &fd, why, sizeof(why))) < 0)
		return provider_fail(res, WIRE_CLASS_TRANSIENT, "%s", why);
	watchdog_arm(d, fd);
	rc = ldap_init_fd(fd, LDAP_PROTO_TCP, uri, &d->ld);
	if (rc != LDAP_SUCCESS) {
		close(fd);
		d->ld = NULL;
		return dir_fail(res, NULL, d->type, rc, WIRE_CLASS_FATAL, uri);
	}
	if ((rc = ldap_set_option(d->ld, LDAP_OPT_PROTOCOL_VERSION,
		 &version)) != LDAP_OPT_SUCCESS ||
	    (rc = ldap_set_option(d->ld, LDAP_OPT_REFERRALS, LDAP_OPT_OFF)) !=
		LDAP_OPT_SUCCESS ||
	    (d->transport != TRANSPORT_LDAP &&
		(rc = set_tls(d->ld, req)) != LDAP_OPT_SUCCESS)) {
		rc = dir_fail(res, d->ld, d->type, rc, WIRE_CLASS_FATAL,
		    "cannot set libldap's options");
		goto fail;
	}
	if (d->transport == TRANSPORT_LDAPS) {
		rc = ldap_install_tls(d->ld);
		if (rc != LDAP_SUCCESS) {
			rc = tls_fail(d, req, rc, port, "TLS (LDAPS)", res);
			goto fail;
		}
	} else if (d->transport == TRANSPORT_STARTTLS) {
		dir_bound(d);
		rc = ldap_start_tls_s(d->ld, NULL, NULL);
		if (rc != LDAP_SUCCESS) {
			rc = tls_fail(d, req, rc, port, "StartTLS", res);
			goto fail;
		}
	}
	return 0;
fail:
	ldap_unbind_ext_s(d->ld, NULL, NULL);
	d->ld = NULL;
	return rc;
}

static void
dir_close(struct dir *d)
{
	watchdog_disarm();
	if (d->ld != NULL)
		ldap_unbind_ext_s(d->ld, NULL, NULL);
	d->ld = NULL;
}

/* A simple bind on D as NAME with PASSWORD (a secret_cstring()). */
static int
dir_bind(struct dir *d, const char *name, const struct secret *password,
    struct wire_response *res)
{
	struct berval cred = secret_bv(password, secret_len(password) - 1);
	char what[WIRE_MESSAGE_MAX / 4];
	int rc;

	dir_bound(d);
	rc = ldap_sasl_bind_s(
	    d->ld, name, LDAP_SASL_SIMPLE, &cred, NULL, NULL, NULL);
	if (rc == LDAP_SUCCESS)
		return 0;
	snprintf(what, sizeof(what), "bind as %s refused", name);
	return dir_fail(res, d->ld, d->type, rc, WIRE_CLASS_NONE,
	    rc == LDAP_INVALID_CREDENTIALS ? what : "bind failed");
}

/*
 * The DN of the account LOGIN under BASE on D (bound), by sAMAccountName
 * or userPrincipalName (AD; DOMAIN\name searches name), in *ret
 * (ldap_memfree()).  Exactly one entry must match.  0, or RES filled and
 * -EIO.
 */
static int
find_dn(struct dir *d, const char *base, const char *login, char **ret,
    struct wire_response *res)
{
	static char *attrs[] = { LDAP_NO_ATTRS, NULL };
	const char *name = strrchr(login, '\\');
	struct berval raw, esc_name = { 0, NULL }, esc_upn = { 0, NULL };
	char *filter = NULL;
	LDAPMessage *msg = NULL, *e;
	size_t flen;
	int rc, n;

	*ret = NULL;
	name = name != NULL ? name + 1 : login;
	raw.bv_val = (char *)name;
	raw.bv_len = strlen(name);
	if (ldap_bv2escaped_filter_value(&raw, &esc_name) != 0) {
		rc = provider_fail(res, WIRE_CLASS_TRANSIENT, "out of memory");
		goto out;
	}
	raw.bv_val = (char *)login;
	raw.bv_len = strlen(login);
	if (ldap_bv2escaped_filter_value(&raw, &esc_upn) != 0) {
		rc = provider_fail(res, WIRE_CLASS_TRANSIENT, "out of memory");
		goto out;
	}
	flen = esc_name.bv_len + esc_upn.bv_len + 64;
	if ((filter = malloc(flen)) == NULL) {
		rc = provider_fail(res, WIRE_CLASS_TRANSIENT, "out of memory");
		goto out;
	}
	snprintf(filter, flen,
	    "(&(objectClass=user)(|(sAMAccountName=%s)(userPrincipalName=%s)))",
	    esc_name.bv_val, esc_upn.bv_val);
	dir_bound(d);
	rc = ldap_search_ext_s(d->ld, base, LDAP_SCOPE_SUBTREE, filter, attrs,
	    1, NULL, NULL, NULL, 2, &msg);
	if (rc != LDAP_SUCCESS && rc != LDAP_SIZELIMIT_EXCEEDED) {
		rc = dir_fail(res, d->ld, d->type, rc, WIRE_CLASS_NONE,
		    "searching for the account's DN");
		goto out;
	}
	n = ldap_count_entries(d->ld, msg);
	if (n != 1 || rc == LDAP_SIZELIMIT_EXCEEDED) {
		rc = provider_fail(res, WIRE_CLASS_FATAL,
		    "%s accounts named %s under %s: give the user its dn",
		    n == 0 ? "no" : "several", login, base);
		goto out;
	}
	e = ldap_first_entry(d->ld, msg);
	*ret = e != NULL ? ldap_get_dn(d->ld, e) : NULL;
	rc = *ret != NULL ? 0
			  : provider_fail(res, WIRE_CLASS_FATAL,
				"the search for %s returned no DN", login);
out:
	ldap_msgfree(msg);
	free(filter);
	ber_memfree(esc_name.bv_val);
	ber_memfree(esc_upn.bv_val);
	return rc;
}

/*
 * Whether the server D is bound to implements Password Modify: 1 yes, 0
 * no (its rootDSE lists extended operations, not that one), -1 unknown
 * (the rootDSE says nothing we can read: try the operation).
 */
static int
has_passwd_exop(struct dir *d)
{
	static char *attrs[] = { "supportedExtension", NULL };
	LDAPMessage *msg = NULL, *e;
	struct berval **vals = NULL;
	int found = -1, i;

	dir_bound(d);
	if (ldap_search_ext_s(d->ld, "", LDAP_SCOPE_BASE, "(objectClass=*)",
		attrs, 0, NULL, NULL, NULL, 1, &msg) != LDAP_SUCCESS)
		goto out;
	if ((e = ldap_first_entry(d->ld, msg)) == NULL)
		goto out;
	vals = ldap_get_values_len(d->ld, e, "supportedExtension");
	for (i = 0; vals != NULL && vals[i] != NULL; i++) {
		found = 0;
		if (vals[i]->bv_len == strlen(LDAP_EXOP_MODIFY_PASSWD) &&
		    memcmp(vals[i]->bv_val, LDAP_EXOP_MODIFY_PASSWD,
			vals[i]->bv_len) == 0) {
			found = 1;
			break;
		}
	}
out:
	ldap_value_free_len(vals);
	ldap_msgfree(msg);
	return found;
}

/* ---- the operations ---- */

/* The directory type of REQ (a required parameter, checked). */
static enum dir_type
dir_type_of(const struct wire_request *req)
{
	const char *t = wire_param(req, "directory_type");

	return t != NULL && strcmp(t, "active_directory") == 0 ? DIR_AD
							       : DIR_OPENLDAP;
}

/*
 * The write itself, on D bound as the admin or the user.  The target is
 * untouched until it is sent; after, a result from the server (any code)
 * means the operation was refused whole, and only a lost connection or a
 * timeout leaves it uncertain.
 */
static int
write_password(struct dir *d, const char *dn, const struct secret *old,
    const struct secret *new_pw, bool admin, struct wire_response *res)
{
	struct secret *q_new = NULL, *q_old = NULL;
	struct berval id, oldbv, newbv, gen = { 0, NULL };
	struct berval *del_vals[2], *add_vals[2];
	LDAPMod del, add, *mods[3];
	const char *method;
	int rc;

	id.bv_val = (char *)dn;
	id.bv_len = strlen(dn);
	if (d->type == DIR_AD) {
		rc = ad_quote(
		    secret_data(new_pw), secret_len(new_pw) - 1, &q_new);
		if (rc == 0 && !admin)
			rc = ad_quote(
			    secret_data(old), secret_len(old) - 1, &q_old);
		if (rc == -EILSEQ) {
			rc = provider_fail(res,
			    q_new == NULL ? WIRE_CLASS_POLICY : WIRE_CLASS_AUTH,
			    "the %s password is not valid UTF-8",
			    q_new == NULL ? "new" : "current");
			goto out;
		}
		if (rc < 0) {
			rc = provider_fail(
			    res, WIRE_CLASS_TRANSIENT, "out of memory");
			goto out;
		}
		newbv = secret_bv(q_new, secret_len(q_new));
		add_vals[0] = &newbv;
		add_vals[1] = NULL;
		add.mod_type = "unicodePwd";
		add.mod_bvalues = add_vals;
		if (admin) {
			add.mod_op = LDAP_MOD_REPLACE | LDAP_MOD_BVALUES;
			mods[0] = &add;
			mods[1] = NULL;
			method = "unicodePwd_replace";
		} else {
			oldbv = secret_bv(q_old, secret_len(q_old));
			del_vals[0] = &oldbv;
			del_vals[1] = NULL;
			del.mod_op = LDAP_MOD_DELETE | LDAP_MOD_BVALUES;
			del.mod_type = "unicodePwd";
			del.mod_bvalues = del_vals;
			add.mod_op = LDAP_MOD_ADD | LDAP_MOD_BVALUES;
			mods[0] = &del;
			mods[1] = &add;
			mods[2] = NULL;
			method = "unicodePwd_change";
		}
		dir_bound(d);
		res->untouched = false;
		rc = ldap_modify_ext_s(d->ld, dn, mods, NULL, NULL);
	} else if (has_passwd_exop(d) != 0) {
		newbv = secret_bv(new_pw, secret_len(new_pw) - 1);
		if (!admin)
			oldbv = secret_bv(old, secret_len(old) - 1);
		method = "password_modify";
		dir_bound(d);
		res->untouched = false;
		rc = ldap_passwd_s(d->ld, &id, admin ? NULL : &oldbv, &newbv,
		    &gen, NULL, NULL);
	} else {
		newbv = secret_bv(new_pw, secret_len(new_pw) - 1);
		add_vals[0] = &newbv;
		add_vals[1] = NULL;
		add.mod_op = LDAP_MOD_REPLACE | LDAP_MOD_BVALUES;
		add.mod_type = "userPassword";
		add.mod_bvalues = add_vals;
		mods[0] = &add;
		mods[1] = NULL;
		method = "userPassword_replace";
		dir_bound(d);
		res->untouched = false;
		rc = ldap_modify_ext_s(d->ld, dn, mods, NULL, NULL);
	}
	provider_fact(res, "method", method);
	if (rc != LDAP_SUCCESS) {
		/* A negative code is the client's: no answer, so the
		 * operation may still land.  A server's code refused it. */
		res->untouched = rc > 0;
		rc = dir_fail(res, d->ld, d->type, rc, WIRE_CLASS_NONE,
		    strcmp(method, "password_modify") == 0
			? "Password Modify refused"
			: "modify of the password refused");
		goto out;
	}
	rc = 0;
out:
	if (gen.bv_val != NULL) {
		explicit_bzero(gen.bv_val, gen.bv_len);
		ber_memfree(gen.bv_val);
	}
	secret_free(q_new);
	secret_free(q_old);
	return rc;
}

static int
dir_apply(const struct wire_request *req, struct wire_response *res)
{
	struct dir d = { .ld = NULL };
	struct secret *cred_pw = NULL, *new_pw = NULL, *old_pw = NULL;
	const char *base = wire_param(req, "base_dn");
	const char *bind_name, *dn;
	char *found = NULL;
	bool admin = req->admin_login != NULL;
	int r;

	/* Nothing is written before the modify: until then, untouched. */
	res->untouched = true;
	d.type = dir_type_of(req);
	d.started = mono_ms();
	d.timeout = req->timeout > 0 ? req->timeout : LDAP_DEFAULT_TIMEOUT;
	if (req->login == NULL)
		return provider_fail(res, WIRE_CLASS_FATAL, "no login given");
	dn = req->dn != NULL && *req->dn != '\0' ? req->dn : NULL;
	if (dn == NULL && (d.type == DIR_OPENLDAP || base == NULL))
		return provider_fail(res, WIRE_CLASS_FATAL, "%s",
		    d.type == DIR_OPENLDAP
			? "user has no dn: an OpenLDAP user needs one"
			: "user has no dn, and the resource no base_dn to "
			  "find it under");
	if (!admin && req->current == NULL)
		return provider_fail(res, WIRE_CLASS_FATAL,
		    "no current secret given for a self-change");
	if (admin && req->admin == NULL)
		return provider_fail(
		    res, WIRE_CLASS_FATAL, "no admin credential given");
	r = secret_cstring(req->new_secret, &new_pw);
	if (r == -EINVAL)
		return provider_fail(res, WIRE_CLASS_POLICY,
		    "the new secret is empty or holds a NUL byte, which an "
		    "LDAP password cannot be");
	if (r < 0)
		return provider_fail(
		    res, WIRE_CLASS_TRANSIENT, "out of memory");
	r = secret_cstring(admin ? req->admin : req->current, &cred_pw);
	if (r == 0 && !admin)
		r = secret_cstring(req->current, &old_pw);
	if (r == -EINVAL) {
		r = provider_fail(res, WIRE_CLASS_AUTH,
		    "the credential for %s is empty or holds a NUL byte",
		    admin ? req->admin_login : req->login);
		goto out;
	}
	if (r < 0) {
		r = provider_fail(res, WIRE_CLASS_TRANSIENT, "out of memory");
		goto out;
	}

	if ((r = dir_open(&d, req, res)) < 0)
		goto out;
	/* The admin binds with its login; the user with its DN, or its
	 * login (an AD UPN) when it has none. */
	bind_name = admin ? req->admin_login : dn != NULL ? dn : req->login;
	if ((r = dir_bind(&d, bind_name, cred_pw, res)) < 0)
		goto out;
	if (dn == NULL) {
		if ((r = find_dn(&d, base, req->login, &found, res)) < 0)
			goto out;
		dn = found;
	}
	r = write_password(&d, dn, old_pw, new_pw, admin, res);
	if (r < 0)
		goto out;
	provider_fact(res, "directory_type",
	    d.type == DIR_AD ? "active_directory" : "openldap");
	provider_fact(res, "transport", transport_names[d.transport]);
	r = 0;
out:
	if (r == 0)
		res->untouched = false;
	ldap_memfree(found);
	dir_close(&d);
	secret_free(cred_pw);
	secret_free(old_pw);
	secret_free(new_pw);
	return r;
}

static int
dir_verify(const struct wire_request *req, struct wire_response *res)
{
	struct dir d = { .ld = NULL };
	struct secret *pw = NULL;
	const char *name;
	int r;

	d.type = dir_type_of(req);
	d.started = mono_ms();
	d.timeout = req->timeout > 0 ? req->timeout : LDAP_DEFAULT_TIMEOUT;
	name = req->dn != NULL && *req->dn != '\0' ? req->dn
	    : d.type == DIR_AD                     ? req->login
						   : NULL;
	if (name == NULL)
		return provider_fail(res, WIRE_CLASS_FATAL,
		    "user has no dn: an OpenLDAP user needs one");
	r = secret_cstring(req->new_secret, &pw);
	if (r == -EINVAL)
		return provider_fail(res, WIRE_CLASS_AUTH,
		    "the secret is empty or holds a NUL byte");
	if (r < 0)
		return provider_fail(
		    res, WIRE_CLASS_TRANSIENT, "out of memory");
	if ((r = dir_open(&d, req, res)) < 0)
		goto out;
	/* The bind is the proof: a wrong password gets 49. */
	if ((r = dir_bind(&d, name, pw, res)) < 0)
		goto out;
	provider_fact(res, "directory_type",
	    d.type == DIR_AD ? "active_directory" : "openldap");
	provider_fact(res, "transport", transport_names[d.transport]);
	r = 0;
out:
	dir_close(&d);
	secret_free(pw);
	return r;
}

const struct provider provider_ldap = {
	.name = "ldap",
	.apply = dir_apply,
	.verify = dir_verify,
};
