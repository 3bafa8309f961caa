/*
 * mysql: a MySQL or MariaDB account's password, changed with ALTER USER
 * or SET PASSWORD through libmariadb.
 *
 * What crosses the wire.  Where the account authenticates with
 * mysql_native_password, the password never reaches the server: the
 * hash the server stores ('*' and the upper-case hex of
 * SHA1(SHA1(password))) is computed here with OpenSSL and sent instead,
 * so neither the general log, the slow log, the binary log nor
 * performance_schema can record the plaintext.  Other password plugins
 * (MariaDB's ed25519 and parsec, MySQL's caching_sha2_password and
 * sha256_password) salt or derive on the server, so their new password
 * is sent as text, over TLS (verified unless tls_verify is false, which
 * leaves it to a machine in the middle that passes the login on) or a
 * Unix socket; docs/providers/mysql.md tables each case.  The account's
 * plugin is read with SHOW CREATE USER (for another account that needs
 * SELECT on mysql.*; a login may always see its own); without it, MariaDB
 * gets the native hash (what its ALTER USER ... IDENTIFIED BY 'x' would
 * store anyway), MySQL the password (its ALTER USER keeps the plugin).
 * One exception: a MariaDB server with a password validation plugin
 * under strict_password_validation refuses any hash, since it cannot
 * check one; the password is then sent, so that the server's policy
 * applies.
 *
 * TLS is required for TCP, verified against the resource's CA file or
 * the system bundle unless tls_verify is false; libmariadb refuses to
 * send the login packet when the handshake or the verification fails.
 * A server may only ask for the login plugins allowed() names
 * (MARIADB_OPT_RESTRICTED_AUTH): never one that sends the password in
 * the clear (mysql_clear_password, dialog), and those that send the
 * password itself (caching_sha2_password, sha256_password) only to a
 * server whose certificate was verified, or over a Unix socket; a
 * server that asks for another gets no password, and the message says
 * what to set (plugin_refused()).  No option file is read
 * (libmariadb reads my.cnf only when told to with MYSQL_READ_DEFAULT_*,
 * which this never sets), and LOAD DATA LOCAL is off, so a hostile server
 * cannot ask for a file.
 *
 * The step's deadline bounds the server's work too: the connect, read
 * and write timeouts come from the request's timeout, and the session's
 * lock_wait_timeout (and max_statement_time on MariaDB) is set below it
 * (a third of it, and never more than what is left of it since the
 * worker's start: provider.h), so an ALTER USER stuck behind a lock is
 * ended by the server, as an error this classes transient, not left
 * running after the worker dies.
 *
 * A batch (CATALOG_CAP_BATCH), as postgresql.c: the admin session of one
 * apply is kept for the next when the next would open the very same
 * one (a provider_admin_key), its bounds set again only when an apply's
 * differ; one that broke (a client error, 2000 and up) is dropped, and
 * one that broke since the last apply (the server or the network ended
 * it) fails the next apply's first statement and is replaced once, by a
 * new login; an admin login the server refused is not tried again in
 * this worker.  A self-change logs in as the login each time, a verify always
 * logs in afresh, and finish() closes the kept session (COM_QUIT).
 *
 * Errors are classed by number (mysql_classify()), never by text: the
 * server may speak another language.  Every C string copy of a secret,
 * and each statement (which holds the password or its hash, and the hash
 * is enough to log in with mysql_native_password), lives in a struct
 * secret; what libmariadb keeps in its own buffers (the statement in its
 * net buffer, and the login's password for the session's life) is freed
 * unwiped by mysql_close(), for a kept admin session at the end of the
 * batch (finish()), in a process that exits right after.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <errmsg.h>
#include <mysql.h>
#include <openssl/evp.h>

#include "provider.h"
#include "secret.h"

#define MY_DEFAULT_PORT 3306
#define MY_DEFAULT_TIMEOUT 30
#define MY_DEFAULT_USER_HOST "%"
/*
 * The system's CAs, as the hashed directory Debian's ca-certificates
 * keeps (<subject hash>.0 links, which the catalog entry lets the sandbox
 * read), not its bundle file: libmariadb makes an SSL_CTX for every
 * connection and loads its CA file into it, and OpenSSL 3.0 decodes the
 * bundle's 140-odd certificates each time: about 20 ms of CPU a
 * connection here, where the rest of a verify's login takes 1.5.  A
 * directory is searched by the issuer's name as the chain is built: one
 * file read and decoded.  The same trust: update-ca-certificates writes
 * both from the same set (local CAs included).
 */
#define MY_SYSTEM_CA_DIR "/etc/ssl/certs"
/*
 * The client plugins a server may ask for.  mysql_native_password and
 * client_ed25519 answer the server's challenge with a proof and never
 * send the password: a server that is not the one named learns a proof
 * for its own challenge, which only guesses could be tested against
 * offline.  caching_sha2_password and sha256_password send the password
 * itself: inside TLS as it is (caching_sha2 when the server asks for its
 * "full authentication", which a server may always do), and without
 * TLS encrypted to an RSA key the server sends.  Either way whoever
 * answers gets it, unless the server's certificate was verified: they
 * are allowed only then, and over a Unix socket (the local server).
 * libmariadb compares the server's name with strstr() on this list: a
 * name that is only a piece of one (no plugin of libmariadb's is) passes
 * that check, finds no plugin, and gets libmariadb's stand-in, which
 * answers with empty packets.
 */
#define MY_PLUGINS_PROOF "mysql_native_password,client_ed25519"
#define MY_PLUGINS_TEXT "caching_sha2_password,sha256_password"
#define MY_NATIVE "mysql_native_password"
/* '*' and 40 hex digits. */
#define MY_NATIVE_HASH_LEN 41

/* ---- error classes ---- */

/*
 * The class of a client or server error number, with its SQLSTATE as the
 * fallback for numbers not tabled.  See provider.h.
 */
enum wire_class
mysql_classify(unsigned err, const char *sqlstate)
{
	static const struct {
		unsigned err;
		enum wire_class class;
	} table[] = {
		/* The login was refused. */
		{ 1045, WIRE_CLASS_AUTH }, /* access denied */
		{ 1698, WIRE_CLASS_AUTH }, /* access denied, no password */
		{ 1130, WIRE_CLASS_AUTH }, /* host not allowed to connect */
		{ 3118, WIRE_CLASS_AUTH }, /* MySQL: account locked */
		{ 4151, WIRE_CLASS_AUTH }, /* MariaDB: account locked */
		{ 3891, WIRE_CLASS_AUTH }, /* MySQL: wrong REPLACE password */
		/* The server refused the password itself. */
		{ 1819, WIRE_CLASS_POLICY }, /* does not satisfy the policy */
		{ 1820, WIRE_CLASS_POLICY }, /* must change password first */
		{ 1862, WIRE_CLASS_POLICY }, /* expired: must change it */
		{ 3638, WIRE_CLASS_POLICY }, /* MySQL: in password history */
		/* No server, or it went away, or it is busy. */
		{ 2002, WIRE_CLASS_TRANSIENT }, /* cannot connect (socket) */
		{ 2003, WIRE_CLASS_TRANSIENT }, /* cannot connect (TCP) */
		{ 2005, WIRE_CLASS_TRANSIENT }, /* unknown host (DNS) */
		{ 2006, WIRE_CLASS_TRANSIENT }, /* server has gone away */
		{ 2013, WIRE_CLASS_TRANSIENT }, /* lost connection */
		{ 2055, WIRE_CLASS_TRANSIENT }, /* lost connection, extended */
		{ 5013, WIRE_CLASS_TRANSIENT }, /* read error */
		{ 5014, WIRE_CLASS_TRANSIENT }, /* write error */
		{ 1040, WIRE_CLASS_TRANSIENT }, /* too many connections */
		{ 1203, WIRE_CLASS_TRANSIENT }, /* too many for this user */
		{ 1053, WIRE_CLASS_TRANSIENT }, /* server shutting down */
		{ 1927, WIRE_CLASS_TRANSIENT }, /* MariaDB: connection killed */
		{ 1317, WIRE_CLASS_TRANSIENT }, /* query interrupted */
		{ 1205, WIRE_CLASS_TRANSIENT }, /* lock wait timeout */
		{ 1213, WIRE_CLASS_TRANSIENT }, /* deadlock */
		{ 1969, WIRE_CLASS_TRANSIENT }, /* MariaDB: statement timeout */
		{ 3024, WIRE_CLASS_TRANSIENT }, /* MySQL: statement timeout */
	};
	size_t i;

	for (i = 0; i < sizeof(table) / sizeof(table[0]); i++)
		if (table[i].err == err)
			return table[i].class;
	/* Numbers not tabled: the SQLSTATE's class says what it can.
	 * 08 is a connection exception, 28 an invalid authorisation, 40 a
	 * rolled back transaction; HY000 says nothing. */
	if (sqlstate != NULL && strlen(sqlstate) == 5) {
		if (strncmp(sqlstate, "08", 2) == 0 ||
		    strncmp(sqlstate, "40", 2) == 0)
			return WIRE_CLASS_TRANSIENT;
		if (strncmp(sqlstate, "28", 2) == 0)
			return WIRE_CLASS_AUTH;
	}
	return WIRE_CLASS_FATAL;
}

/* ---- SHOW CREATE USER: the account's plugins ---- */

/*
 * Skip a quoted name or string at S (quote ` ' or ", the quote doubled
 * inside, and for ' also backslash escapes); the character after it, or
 * NULL when S is not one or it does not end.
 */
static const char *
skip_quoted(const char *s)
{
	char q = *s;

	if (q != '`' && q != '\'' && q != '"')
		return NULL;
	for (s++; *s != '\0'; s++) {
		if (q == '\'' && *s == '\\' && s[1] != '\0') {
			s++;
			continue;
		}
		if (*s == q) {
			if (s[1] == q) {
				s++;
				continue;
			}
			return s + 1;
		}
	}
	return NULL;
}

static bool
plugin_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '_';
}

/* Whether NAME is a plugin rotad can set a password for as text. */
static bool
password_plugin(const char *name)
{
	static const char *const names[] = { "ed25519", "parsec",
		"caching_sha2_password", "sha256_password", NULL };
	size_t i;

	for (i = 0; names[i] != NULL; i++)
		if (strcmp(names[i], name) == 0)
			return true;
	return false;
}

/*
 * One plugin of an IDENTIFIED clause at *P into A: its name (bare, or
 * quoted as MySQL writes it) and whether a USING or AS string follows,
 * which is skipped.  0 with *P past it, or -EINVAL.
 */
static int
parse_rule(const char **p, struct mysql_auth *a)
{
	const char *s = *p, *end;
	size_t len;
	bool quoted = *s == '\'';

	if (a->nplugins == MYSQL_AUTH_MAX)
		return -EINVAL;
	if (quoted)
		s++;
	for (end = s; plugin_char(*end); end++)
		;
	len = (size_t)(end - s);
	if (len == 0 || len >= sizeof(a->plugins[0]) ||
	    (quoted && *end != '\''))
		return -EINVAL;
	memcpy(a->plugins[a->nplugins], s, len);
	a->plugins[a->nplugins][len] = '\0';
	s = end + (quoted ? 1 : 0);
	a->has_string[a->nplugins] = false;
	if (strncmp(s, " USING ", 7) == 0 || strncmp(s, " AS ", 4) == 0) {
		s += s[1] == 'U' ? 7 : 4;
		if (strncmp(s, "0x", 2) == 0) {
			/* MySQL's print_identified_with_as_hex. */
			for (s += 2; (*s >= '0' && *s <= '9') ||
			     (*s >= 'A' && *s <= 'F') ||
			     (*s >= 'a' && *s <= 'f');
			     s++)
				;
		} else if ((s = skip_quoted(s)) == NULL)
			return -EINVAL;
		a->has_string[a->nplugins] = true;
	}
	a->nplugins++;
	*p = s;
	return 0;
}

/* See provider.h. */
int
mysql_auth_parse(const char *text, struct mysql_auth *ret)
{
	struct mysql_auth a;
	const char *p = text;
	size_t i;
	bool native = false, others_plain = true;

	memset(&a, 0, sizeof(a));
	if (strncmp(p, "CREATE USER ", 12) != 0)
		return -EINVAL;
	p += 12;
	/* The account name, 'user'@'host' quoted in one of three ways:
	 * skipped by its syntax, so a name that reads "IDENTIFIED" is not
	 * taken for the clause. */
	if ((p = skip_quoted(p)) == NULL || *p++ != '@' ||
	    (p = skip_quoted(p)) == NULL)
		return -EINVAL;
	if (strncmp(p, " IDENTIFIED BY PASSWORD ", 24) == 0) {
		/* MariaDB: the native hash, the one plugin. */
		snprintf(a.plugins[0], sizeof(a.plugins[0]), "%s", MY_NATIVE);
		a.has_string[0] = true;
		a.nplugins = 1;
	} else if (strncmp(p, " IDENTIFIED VIA ", 16) == 0 ||
	    strncmp(p, " IDENTIFIED WITH ", 17) == 0) {
		p += p[12] == 'V' ? 16 : 17;
		for (;;) {
			if (parse_rule(&p, &a) < 0)
				return -EINVAL;
			if (strncmp(p, " OR ", 4) != 0)
				break;
			p += 4;
		}
	} else if (*p == '\0' || *p == ' ') {
		/* MariaDB writes no IDENTIFIED for an account with no
		 * password, which is native with an empty hash. */
		snprintf(a.plugins[0], sizeof(a.plugins[0]), "%s", MY_NATIVE);
		a.nplugins = 1;
	} else
		return -EINVAL;

	for (i = 0; i < a.nplugins; i++) {
		if (strcmp(a.plugins[i], MY_NATIVE) == 0 ||
		    a.plugins[i][0] == '\0')
			native = true;
		else if (a.has_string[i])
			others_plain = false;
	}
	if (native && a.nplugins == 1)
		a.kind = MYSQL_AUTH_NATIVE;
	else if (native && others_plain)
		a.kind = MYSQL_AUTH_NATIVE_CHAIN;
	else if (a.nplugins == 1 && password_plugin(a.plugins[0]))
		a.kind = MYSQL_AUTH_PASSWORD;
	else
		a.kind = MYSQL_AUTH_OTHER;
	*ret = a;
	return 0;
}

/* ---- the native hash ---- */

/* See provider.h. */
int
mysql_native_hash(const void *pw, size_t len, char *out, size_t size)
{
	static const char hex[] = "0123456789ABCDEF";
	unsigned char one[EVP_MAX_MD_SIZE], two[EVP_MAX_MD_SIZE];
	unsigned int n1 = 0, n2 = 0, i;
	int r = 0;

	if (size < MY_NATIVE_HASH_LEN + 1)
		return -ENOBUFS;
	if (EVP_Digest(pw, len, one, &n1, EVP_sha1(), NULL) != 1 ||
	    EVP_Digest(one, n1, two, &n2, EVP_sha1(), NULL) != 1 || n2 != 20) {
		r = -EIO;
		goto out;
	}
	out[0] = '*';
	for (i = 0; i < n2; i++) {
		out[1 + 2 * i] = hex[two[i] >> 4];
		out[2 + 2 * i] = hex[two[i] & 15];
	}
	out[MY_NATIVE_HASH_LEN] = '\0';
out:
	/* SHA1(password) is what the native handshake proves: wipe it. */
	explicit_bzero(one, sizeof(one));
	explicit_bzero(two, sizeof(two));
	return r;
}

/* ---- helpers ---- */

/* A connection and what it was told about its server. */
struct my_conn {
	MYSQL *m;
	bool mariadb;
	unsigned long version; /* 10.11.6 is 101106 */
	bool tls;              /* TCP with TLS, not a Unix socket */
	/* MariaDB refuses a hash it cannot check when a password
	 * validation plugin is active and strict_password_validation is
	 * on: the password must then be sent for the policy to apply. */
	bool validates;
	bool validation_read; /* validates is the server's answer */
	unsigned bound;       /* the seconds session_limits() set; 0: none */
};

/*
 * Fail RES with the class of C's last error, its number and SQLSTATE,
 * and the server's message, unless it could quote the statement
 * (1064, a syntax error, quotes it "near '...'"; the worker scrubs the
 * password but the hash, which logs in as well, must go too): then only
 * the number.
 */
static int
my_fail(struct wire_response *res, MYSQL *m, const char *what)
{
	char line[WIRE_MESSAGE_MAX / 2];
	unsigned err = mysql_errno(m);
	const char *st = mysql_sqlstate(m);

	if (err == 1064)
		snprintf(line, sizeof(line), "the server could not parse it");
	else
		provider_one_line(mysql_error(m), line, sizeof(line));
	return provider_fail(res, mysql_classify(err, st),
	    "%s failed: %s (error %u, SQLSTATE %s)", what, line, err,
	    st != NULL ? st : "-----");
}

/*
 * Fail RES for WHAT, which C's server refused.  MariaDB refuses a
 * password its validation plugins reject with 1396 (the operation
 * failed) and says why only in a warning (1819): a warning of the
 * policy class makes the failure policy.
 */
static int
statement_fail(struct my_conn *c, const char *what, struct wire_response *res)
{
	char line[WIRE_MESSAGE_MAX / 2];
	MYSQL_RES *rs;
	MYSQL_ROW row;
	unsigned err = mysql_errno(c->m), code;

	if (err != 1396 || mysql_real_query(c->m, "SHOW WARNINGS", 13) != 0)
		return my_fail(res, c->m, what);
	if ((rs = mysql_store_result(c->m)) == NULL)
		return provider_fail(
		    res, WIRE_CLASS_FATAL, "%s failed (error 1396)", what);
	/* Level, Code, Message */
	while ((row = mysql_fetch_row(rs)) != NULL) {
		if (row[1] == NULL || row[2] == NULL)
			continue;
		code = (unsigned)strtoul(row[1], NULL, 10);
		if (mysql_classify(code, NULL) != WIRE_CLASS_POLICY)
			continue;
		provider_one_line(row[2], line, sizeof(line));
		mysql_free_result(rs);
		return provider_fail(res, WIRE_CLASS_POLICY,
		    "%s failed: %s (error 1396, warning %u)", what, line, code);
	}
	mysql_free_result(rs);
	return provider_fail(res, WIRE_CLASS_FATAL,
	    "%s failed: the server refused the operation for the account "
	    "(error 1396: does it exist?)",
	    what);
}

/* The seconds the whole step may take, and a share of them (>= 1). */
static unsigned
share(const struct wire_request *req, unsigned div)
{
	unsigned t =
	    req->timeout > 0 ? (unsigned)req->timeout : MY_DEFAULT_TIMEOUT;

	return t / div > 0 ? t / div : 1;
}

/* The whole seconds left of the step's deadline since the worker's start
 * (provider.h), at least 1: the least lock_wait_timeout there is. */
static unsigned
seconds_left(const struct wire_request *req)
{
	long long left = provider_left_ms(
	    req->timeout > 0 ? req->timeout : MY_DEFAULT_TIMEOUT);

	return left >= 2000 ? (unsigned)(left / 1000) : 1;
}

/* Run SQL (LEN bytes, no result wanted).  0, or RES failed for WHAT. */
static int
my_exec(struct my_conn *c, const char *sql, size_t len, const char *what,
    struct wire_response *res)
{
	MYSQL_RES *rs;

	if (mysql_real_query(c->m, sql, (unsigned long)len) != 0)
		return my_fail(res, c->m, what);
	/* A statement with no result set gives NULL here: drain any. */
	rs = mysql_store_result(c->m);
	mysql_free_result(rs);
	if (mysql_errno(c->m) != 0)
		return my_fail(res, c->m, what);
	return 0;
}

/*
 * Bound what the server may spend on our statements below the step's
 * deadline: the daemon ends the worker then, and the server must not
 * keep an ALTER USER waiting on a lock after it.  A third of the step's
 * timeout, and never more than what is left of it since the worker's
 * start: on a kept session, checked before each apply and set again
 * when it is another number than the session has (a round trip saved
 * per apply of a batch while a third is less than what is left).
 */
static int
session_limits(struct my_conn *c, const struct wire_request *req,
    struct wire_response *res)
{
	char sql[128];
	unsigned lim = share(req, 3), left = seconds_left(req);
	int r;

	if (left < lim)
		lim = left;

	if (c->mariadb)
		snprintf(sql, sizeof(sql),
		    "SET SESSION max_statement_time = %u, "
		    "lock_wait_timeout = %u",
		    lim, lim);
	else
		snprintf(sql, sizeof(sql), "SET SESSION lock_wait_timeout = %u",
		    lim);
	if (lim == c->bound)
		return 0;
	c->bound = 0;
	if ((r = my_exec(c, sql, strlen(sql), "bounding the session", res)) < 0)
		return r;
	c->bound = lim;
	return 0;
}

/*
 * The login plugins a server may ask for on REQ's connection (SOCKET: a
 * Unix socket): those that send the password itself only to a server
 * proven to be the one named, by a verified certificate, or by the
 * local socket only that server holds.
 */
static const char *
allowed(const struct wire_request *req, bool socket)
{
	if (socket || (!req->tls_disabled && req->tls_verify))
		return MY_PLUGINS_PROOF "," MY_PLUGINS_TEXT;
	return MY_PLUGINS_PROOF;
}

/*
 * The login plugin that libmariadb's refusal (CR_PLUGIN_NOT_ALLOWED)
 * names in MSG, "Authentication plugin 'NAME' couldn't be found in
 * restricted_auth plugin list.", when NAME is one of libmariadb's; else
 * NULL.  Only a plugin the server's greeting names is named right: for
 * one it switches to after the first answer, libmariadb 3.3.20 prints
 * stray bytes where the name should be, which must not pass for one.
 */
static const char *
refused_name(const char *msg)
{
	static const char *const names[] = { "caching_sha2_password",
		"sha256_password", "mysql_clear_password", "dialog",
		"mysql_old_password", "auth_gssapi_client", NULL };
	const char *p = msg != NULL ? strchr(msg, '\'') : NULL;
	size_t i, n;

	if (p == NULL)
		return NULL;
	for (p++, i = 0; names[i] != NULL; i++) {
		n = strlen(names[i]);
		if (strncmp(p, names[i], n) == 0 && p[n] == '\'')
			return names[i];
	}
	return NULL;
}

/*
 * Fail RES for REQ's login to HOST as USER, which libmariadb ended
 * (CR_PLUGIN_NOT_ALLOWED, its message MSG) because the server asked for
 * a plugin allowed() leaves out: the plugin, when MSG names it, and what
 * would let such a login go ahead.  No password was sent.  Fatal: the
 * same server asks the same again.
 */
static int
plugin_refused(struct wire_response *res, const struct wire_request *req,
    const char *plugins, const char *host, const char *user, const char *msg)
{
	const char *name = refused_name(msg);
	const char *why = req->tls_disabled
	    ? "the connection has no TLS (tls: {enabled: false})"
	    : "the server's certificate is not verified (tls: {verify: "
	      "false})";
	const char *fix = req->tls_disabled
	    ? "turn TLS on and verify the server's certificate"
	    : "verify the server's certificate (leave verify on)";

	if (strcmp(plugins, MY_PLUGINS_PROOF) != 0 ||
	    (name != NULL && strstr(MY_PLUGINS_TEXT, name) == NULL))
		return provider_fail(res, WIRE_CLASS_FATAL,
		    "cannot log in to %s as %s: the server asks for %s%s, "
		    "and rotad uses only %s: no password was sent (error %u)",
		    host, user, name != NULL ? "the login plugin " : "",
		    name != NULL ? name : "another login plugin", plugins,
		    CR_PLUGIN_NOT_ALLOWED);
	if (name != NULL)
		return provider_fail(res, WIRE_CLASS_FATAL,
		    "cannot log in to %s as %s: the server asks for %s, "
		    "which would send it the password itself, and %s: no "
		    "password was sent; %s, with tls: {ca_file} for a CA of "
		    "your own (error %u)",
		    host, user, name, why, fix, CR_PLUGIN_NOT_ALLOWED);
	return provider_fail(res, WIRE_CLASS_FATAL,
	    "cannot log in to %s as %s: the server asks for a login plugin "
	    "other than mysql_native_password and client_ed25519, the only "
	    "ones rotad uses when %s (caching_sha2_password and "
	    "sha256_password would send the password itself): no password "
	    "was sent; %s, with tls: {ca_file} for a CA of your own (error "
	    "%u)",
	    host, user, why, fix, CR_PLUGIN_NOT_ALLOWED);
}

/*
 * Connect to REQ's server as USER with PASSWORD (from secret_cstring()).
 * 0 with C filled (its flavour and version read), or RES filled and -EIO
 * (nothing left open).  What it learnt of the server is for
 * server_facts().
 */
static int
my_connect(const struct wire_request *req, const char *user,
    const struct secret *password, struct my_conn *c, struct wire_response *res)
{
	const char *database = wire_param(req, "database");
	const char *host = req->host != NULL ? req->host : "localhost";
	const char *info, *plugins;
	unsigned connect_timeout = share(req, 3), rw_timeout = share(req, 2);
	unsigned port = req->port > 0 ? (unsigned)req->port : MY_DEFAULT_PORT;
	my_bool yes = 1, no = 0;
	bool socket = host[0] == '/';
	unsigned err;
	int r;

	memset(c, 0, sizeof(*c));
	if ((c->m = mysql_init(NULL)) == NULL)
		return provider_fail(
		    res, WIRE_CLASS_TRANSIENT, "out of memory");
	r = mysql_optionsv(c->m, MYSQL_OPT_CONNECT_TIMEOUT, &connect_timeout);
	r |= mysql_optionsv(c->m, MYSQL_OPT_READ_TIMEOUT, &rw_timeout);
	r |= mysql_optionsv(c->m, MYSQL_OPT_WRITE_TIMEOUT, &rw_timeout);
	r |= mysql_optionsv(c->m, MYSQL_OPT_LOCAL_INFILE, &no);
	plugins = allowed(req, socket);
	r |= mysql_optionsv(c->m, MARIADB_OPT_RESTRICTED_AUTH, plugins);
	if (!socket && !req->tls_disabled) {
		/* TLS or nothing: libmariadb sends the login packet only
		 * once the handshake (and its verification) succeeded.
		 * Without TLS only when the job file says tls: {enabled:
		 * false}, which rotad -n and the daemon warn about. */
		r |= mysql_optionsv(c->m, MYSQL_OPT_SSL_ENFORCE, &yes);
		if (req->tls_verify) {
			if (req->tls_ca_file != NULL)
				r |= mysql_optionsv(
				    c->m, MYSQL_OPT_SSL_CA, req->tls_ca_file);
			else
				r |= mysql_optionsv(c->m, MYSQL_OPT_SSL_CAPATH,
				    MY_SYSTEM_CA_DIR);
			r |= mysql_optionsv(
			    c->m, MYSQL_OPT_SSL_VERIFY_SERVER_CERT, &yes);
		} else
			r |= mysql_optionsv(
			    c->m, MYSQL_OPT_SSL_VERIFY_SERVER_CERT, &no);
	}
	if (r != 0) {
		mysql_close(c->m);
		c->m = NULL;
		return provider_fail(res, WIRE_CLASS_FATAL,
		    "libmariadb refused a connection option");
	}
	if (mysql_real_connect(c->m, socket ? "localhost" : host, user,
		secret_data(password), database, socket ? 0 : port,
		socket ? host : NULL, 0) == NULL) {
		char line[WIRE_MESSAGE_MAX / 2];
		const char *st = mysql_sqlstate(c->m);

		err = mysql_errno(c->m);
		provider_one_line(mysql_error(c->m), line, sizeof(line));
		if (err == CR_PLUGIN_NOT_ALLOWED)
			r = plugin_refused(
			    res, req, plugins, host, user, mysql_error(c->m));
		else
			r = provider_fail(res, mysql_classify(err, st),
			    "cannot log in to %s as %s: %s (error %u)", host,
			    user, line, err);
		mysql_close(c->m);
		c->m = NULL;
		return r;
	}
	info = mysql_get_server_info(c->m);
	c->mariadb = info != NULL && strstr(info, "MariaDB") != NULL;
	c->version = mysql_get_server_version(c->m);
	c->tls = !socket && !req->tls_disabled;
	return 0;
}

/* What C's server said of itself at the login, as RES's facts. */
static void
server_facts(struct my_conn *c, struct wire_response *res)
{
	provider_fact(res, "server", c->mariadb ? "mariadb" : "mysql");
	provider_fact(res, "server_version", mysql_get_server_info(c->m));
}

static void
my_close(struct my_conn *c)
{
	if (c->m != NULL)
		mysql_close(c->m);
	c->m = NULL;
}

/* The admin session kept between a batch's applies, and its key. */
static struct my_conn kept;
static struct provider_admin_key *kept_key;

static void
drop_kept(void)
{
	my_close(&kept);
	provider_admin_key_free(kept_key);
	kept_key = NULL;
}

/* Whether C's last error says the connection is gone or unusable (a
 * client error): it then serves no other apply. */
static bool
broken(struct my_conn *c)
{
	return c->m != NULL && mysql_errno(c->m) >= 2000;
}

/* provider_admin_login()'s way in: REQ's admin to SESSION (a struct
 * my_conn). */
static int
admin_login(const struct wire_request *req, const struct secret *pw,
    void *session, struct wire_response *res)
{
	return my_connect(req, req->admin_login, pw, session, res);
}

/*
 * The admin session for REQ, its facts in RES, bounded for it: the kept
 * one when REQ's key is its key, else a new one, kept in its place.  An
 * admin login the server refused, now or earlier in the worker, is
 * failed auth without a new attempt (provider_admin_login()).  0 with the
 * session in *ret (the kept one: not the caller's to close), or RES
 * filled and -EIO.
 */
static int
admin_session(const struct wire_request *req, struct my_conn **ret,
    struct wire_response *res)
{
	int r;

	*ret = NULL;
	if (kept.m != NULL && !provider_admin_key_match(kept_key, req))
		drop_kept();
	if (kept.m == NULL &&
	    (r = provider_admin_login(
		 req, admin_login, &kept, &kept_key, res)) < 0)
		return r;
	server_facts(&kept, res);
	if ((r = session_limits(&kept, req, res)) < 0)
		return r;
	*ret = &kept;
	return 0;
}

/* ---- statements ---- */

/* ---- statements ---- */

/*
 * A statement under construction, in a struct secret: it holds the
 * password or its hash.
 */
struct sql {
	struct secret *s;
	size_t len, cap;
	bool overflow;
};

static int
sql_new(struct sql *q, size_t cap)
{
	memset(q, 0, sizeof(*q));
	q->cap = cap;
	return secret_new(NULL, cap, &q->s);
}

static void
sql_add(struct sql *q, const char *text)
{
	size_t n = strlen(text);

	if (q->len + n + 1 > q->cap) {
		q->overflow = true;
		return;
	}
	memcpy((char *)secret_buf(q->s) + q->len, text, n + 1);
	q->len += n;
}

/* DATA (LEN bytes) as a string literal in single quotes, escaped by the
 * library for the connection's character set and SQL mode. */
static void
sql_quote(struct sql *q, MYSQL *m, const char *data, size_t len)
{
	char *out;
	unsigned long n;

	if (q->len + 2 * len + 3 > q->cap) {
		q->overflow = true;
		return;
	}
	out = (char *)secret_buf(q->s) + q->len;
	*out++ = '\'';
	n = mysql_real_escape_string(m, out, data, (unsigned long)len);
	if (n == (unsigned long)-1) {
		q->overflow = true;
		return;
	}
	out[n] = '\'';
	out[n + 1] = '\0';
	q->len += n + 2;
}

static void
sql_free(struct sql *q)
{
	secret_free(q->s);
	q->s = NULL;
}

/* 'login'@'host' */
static void
sql_account(struct sql *q, MYSQL *m, const char *login, const char *host)
{
	sql_quote(q, m, login, strlen(login));
	sql_add(q, "@");
	sql_quote(q, m, host, strlen(host));
}

/*
 * The account's plugins into A, from SHOW CREATE USER ACCOUNT (already
 * quoted SQL).  A refusal for lack of privilege leaves A unknown and is
 * no error; an account that does not exist is (1396, fatal).  0, or RES
 * failed and -EIO.
 */
static int
read_auth(struct my_conn *c, const char *account, struct mysql_auth *a,
    struct wire_response *res)
{
	char sql[4200];
	MYSQL_RES *rs = NULL;
	MYSQL_ROW row;
	unsigned err;
	int n;

	memset(a, 0, sizeof(*a));
	a->kind = MYSQL_AUTH_UNKNOWN;
	n = snprintf(sql, sizeof(sql), "SHOW CREATE USER %s", account);
	if (n < 0 || (size_t)n >= sizeof(sql))
		return provider_fail(
		    res, WIRE_CLASS_FATAL, "the account name is too long");
	if (mysql_real_query(c->m, sql, (unsigned long)n) != 0) {
		err = mysql_errno(c->m);
		/* 1044 (no access to the mysql database), 1142 (table),
		 * 1227 (privilege): the admin may not read accounts. */
		if (err == 1044 || err == 1142 || err == 1227)
			return 0;
		return my_fail(res, c->m, "SHOW CREATE USER");
	}
	rs = mysql_store_result(c->m);
	if (rs == NULL)
		return my_fail(res, c->m, "SHOW CREATE USER");
	row = mysql_fetch_row(rs);
	if (row == NULL || row[0] == NULL || mysql_auth_parse(row[0], a) < 0) {
		memset(a, 0, sizeof(*a));
		a->kind = MYSQL_AUTH_UNKNOWN;
	}
	mysql_free_result(rs);
	return 0;
}

/*
 * Whether C's server would check the password itself (MariaDB: an active
 * password validation plugin under strict_password_validation), into
 * C->validates.  A server that cannot say is taken not to.  Asked once a
 * connection: a batch's kept admin session asks it once for all its
 * applies (a query of information_schema, and a round trip, each).
 */
static void
read_validation(struct my_conn *c)
{
	/* A subquery: MariaDB 10.11 reads the variable as 0 beside an
	 * aggregate of the same SELECT. */
	static const char sql[] =
	    "SELECT @@strict_password_validation, (SELECT COUNT(*) "
	    "FROM information_schema.PLUGINS "
	    "WHERE PLUGIN_TYPE = 'PASSWORD VALIDATION' "
	    "AND PLUGIN_STATUS = 'ACTIVE')";
	MYSQL_RES *rs;
	MYSQL_ROW row;

	if (c->validation_read)
		return;
	c->validates = false;
	if (!c->mariadb || c->version < 100102 ||
	    mysql_real_query(c->m, sql, sizeof(sql) - 1) != 0)
		return;
	if ((rs = mysql_store_result(c->m)) == NULL)
		return;
	row = mysql_fetch_row(rs);
	c->validates = row != NULL && row[0] != NULL && row[1] != NULL &&
	    strcmp(row[0], "1") == 0 && strcmp(row[1], "0") != 0;
	c->validation_read = row != NULL;
	mysql_free_result(rs);
}

/*
 * admin_session() for REQ, with LOGIN@HOST's plugins read on it into A
 * (ACCOUNT: the quoted name, built on the session).  A kept session that
 * broke since the last apply (the server closed it, the network cut it)
 * fails its first statement, the account's read or the new bounds, with
 * a client error: it is replaced once, by a new login.  0 with the
 * session in *ret, or RES filled and -EIO.
 */
static int
admin_ready(const struct wire_request *req, const char *login, const char *host,
    struct sql *account, struct mysql_auth *a, struct my_conn **ret,
    struct wire_response *res)
{
	size_t facts = strlen(res->facts);
	bool again = kept.m != NULL && provider_admin_key_match(kept_key, req);
	int r;

	for (;;) {
		if ((r = admin_session(req, ret, res)) == 0) {
			account->len = 0;
			account->overflow = false;
			sql_account(account, (*ret)->m, login, host);
			r = account->overflow
			    ? provider_fail(res, WIRE_CLASS_FATAL,
				  "cannot quote the account name")
			    : read_auth(*ret, secret_data(account->s), a, res);
		}
		if (r == 0 || !again || !broken(&kept))
			return r;
		again = false;
		drop_kept();
		*ret = NULL;
		res->facts[facts] = '\0';
		memset(res->message, 0, sizeof(res->message));
		res->class = WIRE_CLASS_NONE;
	}
}

/* The plugins of A as one fact: "ed25519", "unix_socket OR ...". */
static void
auth_fact(struct wire_response *res, const struct mysql_auth *a)
{
	char text[256] = "";
	size_t i, n = 0;

	if (a->kind == MYSQL_AUTH_UNKNOWN) {
		provider_fact(res, "auth_plugin", "unknown");
		return;
	}
	for (i = 0; i < a->nplugins && n < sizeof(text); i++)
		n += (size_t)snprintf(text + n, sizeof(text) - n, "%s%s",
		    i > 0 ? " OR " : "",
		    a->plugins[i][0] != '\0' ? a->plugins[i] : MY_NATIVE);
	provider_fact(res, "auth_plugin", text);
}

/*
 * The statement an admin sends to set LOGIN@HOST's password to PW (HASH
 * its native hash), by the server's flavour and the account's plugins,
 * into Q; *ret_hashed says whether only the hash is in it.  0, or RES
 * failed (an account whose plugins take no password).
 */
static int
admin_statement(struct my_conn *c, const struct mysql_auth *a,
    const char *login, const char *host, const struct secret *pw,
    const char *hash, struct sql *q, bool *ret_hashed,
    struct wire_response *res)
{
	size_t i;

	*ret_hashed = false;
	sql_add(q, "ALTER USER ");
	sql_account(q, c->m, login, host);
	switch (a->kind) {
	case MYSQL_AUTH_UNKNOWN:
		if (!c->mariadb)
			goto plaintext;
		/* MariaDB stores the native hash for IDENTIFIED BY 'x'
		 * whatever the plugin was: send it ourselves. */
		/* fallthrough */
	case MYSQL_AUTH_NATIVE:
		if (c->validates)
			goto plaintext;
		if (!c->mariadb)
			sql_add(q, " IDENTIFIED WITH " MY_NATIVE " AS ");
		else if (c->version >= 100400)
			sql_add(q, " IDENTIFIED VIA " MY_NATIVE " USING ");
		else
			sql_add(q, " IDENTIFIED BY PASSWORD ");
		sql_quote(q, c->m, hash, strlen(hash));
		*ret_hashed = true;
		return 0;
	case MYSQL_AUTH_NATIVE_CHAIN:
		/* MariaDB's "unix_socket OR mysql_native_password": keep
		 * the chain, with the new hash in its native link. */
		sql_add(q, " IDENTIFIED VIA ");
		for (i = 0; i < a->nplugins; i++) {
			if (i > 0)
				sql_add(q, " OR ");
			if (a->plugins[i][0] != '\0' &&
			    strcmp(a->plugins[i], MY_NATIVE) != 0)
				sql_add(q, a->plugins[i]);
			else if (c->validates) {
				sql_add(q, MY_NATIVE " USING PASSWORD(");
				sql_quote(q, c->m, secret_data(pw),
				    secret_len(pw) - 1);
				sql_add(q, ")");
			} else {
				sql_add(q, MY_NATIVE " USING ");
				sql_quote(q, c->m, hash, strlen(hash));
			}
		}
		*ret_hashed = !c->validates;
		return 0;
	case MYSQL_AUTH_PASSWORD:
		if (c->mariadb) {
			/* ed25519, parsec: the server derives the key. */
			sql_add(q, " IDENTIFIED VIA ");
			sql_add(q, a->plugins[0]);
			sql_add(q, " USING PASSWORD(");
			sql_quote(q, c->m, secret_data(pw), secret_len(pw) - 1);
			sql_add(q, ")");
			return 0;
		}
		goto plaintext;
	case MYSQL_AUTH_OTHER:
		break;
	}
	return provider_fail(res, WIRE_CLASS_FATAL,
	    "%s@%s authenticates with %s%s, for which rotad cannot set a "
	    "password",
	    login, host, a->plugins[0], a->nplugins > 1 ? " and others" : "");
plaintext:
	/* MySQL keeps the account's plugin on ALTER USER ... IDENTIFIED
	 * BY, and rewrites the password out of its logs; MariaDB stores
	 * the native hash, after its validation plugins checked it. */
	sql_add(q, " IDENTIFIED BY ");
	sql_quote(q, c->m, secret_data(pw), secret_len(pw) - 1);
	return 0;
}

/*
 * The statement LOGIN sends to change its own password from CUR to PW
 * (HASH its native hash), into Q.  As admin_statement().
 */
static int
self_statement(struct my_conn *c, const struct mysql_auth *a,
    const struct secret *cur, const struct secret *pw, const char *hash,
    struct sql *q, bool *ret_hashed, struct wire_response *res)
{
	*ret_hashed = false;
	if (a->kind == MYSQL_AUTH_OTHER)
		return provider_fail(res, WIRE_CLASS_FATAL,
		    "the login authenticates with %s%s, for which rotad "
		    "cannot set a password",
		    a->plugins[0], a->nplugins > 1 ? " and others" : "");
	if (c->mariadb) {
		/* SET PASSWORD needs no privilege for one's own account.
		 * PASSWORD() updates every password plugin of a chain. */
		if (a->kind == MYSQL_AUTH_NATIVE && !c->validates) {
			sql_add(q, "SET PASSWORD = ");
			sql_quote(q, c->m, hash, strlen(hash));
			*ret_hashed = true;
		} else {
			sql_add(q, "SET PASSWORD = PASSWORD(");
			sql_quote(q, c->m, secret_data(pw), secret_len(pw) - 1);
			sql_add(q, ")");
		}
		return 0;
	}
	/* MySQL 5.7 and 8: the one form a plain account may use; from
	 * 8.0.13 with the current password, which the server may demand
	 * (password_require_current) and otherwise checks. */
	sql_add(q, "ALTER USER USER() IDENTIFIED BY ");
	sql_quote(q, c->m, secret_data(pw), secret_len(pw) - 1);
	if (c->version >= 80013) {
		sql_add(q, " REPLACE ");
		sql_quote(q, c->m, secret_data(cur), secret_len(cur) - 1);
	}
	return 0;
}

/* ---- the provider ---- */

static int
my_apply(const struct wire_request *req, struct wire_response *res)
{
	struct secret *cur_pw = NULL, *new_pw = NULL, *hash_s = NULL;
	const char *user_host = wire_param(req, "user_host");
	struct my_conn own = { 0 }, *c = NULL;
	struct mysql_auth a;
	struct sql account = { 0 }, q = { 0 };
	char *hash;
	bool hashed = false;
	int r;

	/* Until the statement is sent nothing can change on the target. */
	res->untouched = true;
	if (req->login == NULL)
		return provider_fail(res, WIRE_CLASS_FATAL, "no login given");
	if (user_host == NULL)
		user_host = MY_DEFAULT_USER_HOST;
	if ((req->admin_login != NULL ? req->admin : req->current) == NULL)
		return provider_fail(res, WIRE_CLASS_FATAL, "%s",
		    req->admin_login != NULL
			? "no admin credential given"
			: "no current secret given for a self-change");
	r = secret_cstring(req->new_secret, &new_pw);
	if (r == -EINVAL)
		return provider_fail(res, WIRE_CLASS_POLICY,
		    "the new secret is empty or holds a NUL byte, which "
		    "MySQL cannot take");
	if (r < 0)
		return provider_fail(
		    res, WIRE_CLASS_TRANSIENT, "out of memory");
	/* A self-change's current password; the admin's is
	 * admin_session()'s. */
	r = req->admin_login == NULL ? secret_cstring(req->current, &cur_pw)
				     : 0;
	if (r == -EINVAL) {
		r = provider_fail(res, WIRE_CLASS_AUTH,
		    "the credential for %s is empty or holds a NUL byte",
		    req->login);
		goto out;
	}
	if (r < 0 ||
	    (r = secret_new(NULL, MY_NATIVE_HASH_LEN + 1, &hash_s)) < 0) {
		r = provider_fail(res, WIRE_CLASS_TRANSIENT, "out of memory");
		goto out;
	}
	hash = secret_buf(hash_s);
	if (mysql_native_hash(secret_data(new_pw), secret_len(new_pw) - 1, hash,
		MY_NATIVE_HASH_LEN + 1) < 0) {
		r = provider_fail(res, WIRE_CLASS_FATAL,
		    "cannot compute the native password hash (SHA-1)");
		goto out;
	}

	/* Statements at most: the account twice, the password and the
	 * current one escaped (2n + 2 each), and the fixed text. */
	if ((r = sql_new(&q,
		 1024 + 4 * (strlen(req->login) + strlen(user_host)) +
		     2 *
			 (secret_len(new_pw) +
			     (cur_pw != NULL ? secret_len(cur_pw) : 0)))) < 0 ||
	    (r = sql_new(&account,
		 64 + 2 * (strlen(req->login) + strlen(user_host)))) < 0) {
		r = provider_fail(res, WIRE_CLASS_TRANSIENT, "out of memory");
		goto out;
	}
	if (req->admin_login != NULL)
		r = admin_ready(
		    req, req->login, user_host, &account, &a, &c, res);
	else if ((r = my_connect(req, req->login, cur_pw, &own, res)) == 0) {
		c = &own;
		server_facts(c, res);
		if ((r = session_limits(c, req, res)) == 0)
			r = read_auth(c, "CURRENT_USER()", &a, res);
	}
	if (r < 0)
		goto out;
	read_validation(c);
	auth_fact(res, &a);
	if (req->admin_login != NULL)
		r = admin_statement(c, &a, req->login, user_host, new_pw, hash,
		    &q, &hashed, res);
	else
		r = self_statement(
		    c, &a, cur_pw, new_pw, hash, &q, &hashed, res);
	if (r < 0)
		goto out;
	if (q.overflow) {
		r = provider_fail(
		    res, WIRE_CLASS_FATAL, "cannot quote the statement");
		goto out;
	}
	res->untouched = false;
	if (mysql_real_query(c->m, secret_data(q.s), (unsigned long)q.len) !=
	    0) {
		unsigned err = mysql_errno(c->m);

		r = statement_fail(c,
		    req->admin_login != NULL ? "ALTER USER"
					     : "changing the password",
		    res);
		/* A server error (below 2000) on a working connection
		 * refused the statement; the client errors (2000 and up:
		 * a connection lost, a read timeout) leave it unknown. */
		res->untouched = err != 0 && err < 2000;
		goto out;
	}
	provider_fact(res, "password_sent",
	    hashed       ? "native_hash"
		: c->tls ? "text_over_tls"
			 : "text_over_unix_socket");
	r = 0;
out:
	if (r == 0)
		res->untouched = false;
	my_close(&own);
	/* A kept session that broke under this apply serves no other. */
	if (broken(&kept))
		drop_kept();
	sql_free(&q);
	sql_free(&account);
	secret_free(hash_s);
	secret_free(cur_pw);
	secret_free(new_pw);
	return r;
}

static int
my_verify(const struct wire_request *req, struct wire_response *res)
{
	struct secret *pw = NULL;
	struct my_conn c = { 0 };
	MYSQL_RES *rs = NULL;
	MYSQL_ROW row;
	int r;

	if (req->login == NULL)
		return provider_fail(res, WIRE_CLASS_FATAL, "no login given");
	r = secret_cstring(req->new_secret, &pw);
	if (r == -EINVAL)
		return provider_fail(res, WIRE_CLASS_AUTH,
		    "the secret is empty or holds a NUL byte");
	if (r < 0)
		return provider_fail(
		    res, WIRE_CLASS_TRANSIENT, "out of memory");
	r = my_connect(req, req->login, pw, &c, res);
	if (r < 0)
		goto out;
	server_facts(&c, res);
	/* Logging in proves the secret; a query proves the session works
	 * (an expired password logs in but may run nothing). */
	if (mysql_real_query(c.m, "SELECT 1", 8) != 0 ||
	    (rs = mysql_store_result(c.m)) == NULL ||
	    (row = mysql_fetch_row(rs)) == NULL || row[0] == NULL ||
	    strcmp(row[0], "1") != 0) {
		r = my_fail(res, c.m, "SELECT 1");
		goto out;
	}
	r = 0;
out:
	mysql_free_result(rs);
	my_close(&c);
	secret_free(pw);
	return r;
}

/* The batch is over: close the kept session and wipe its key, and
 * forget the refusals. */
static void
my_finish(void)
{
	drop_kept();
	provider_refusals_free();
}

/* In the worker template: libmariadb's set-up (its TLS library, its
 * built-in plugins), which mysql_init() would do in each worker. */
static void
my_warm(void)
{
	(void)mysql_library_init(0, NULL, NULL);
}

const struct provider provider_mysql = {
	.name = "mysql",
	.apply = my_apply,
	.verify = my_verify,
	.finish = my_finish,
	.warm = my_warm,
};
