/*
 * postgresql: a role's password, changed with ALTER ROLE.
 *
 * The new password never reaches the server: the SCRAM-SHA-256 verifier
 * is computed here (scram.c, OpenSSL's PBKDF2, the string libpq's
 * PQencryptPasswordConn() makes in a third of its time; libpq's own for
 * a password that is not ASCII), and ALTER ROLE carries only the
 * verifier, so neither log_statement nor pg_stat_statements can record
 * the plaintext.  This is what psql's \password does.
 *
 * Connections are made with keyword/value arrays, never a conninfo string
 * with the password in it, and with expand_dbname off, so a database name
 * such as "host=elsewhere" stays a database name.  Every C string copy of
 * a secret lives in a struct secret (locked, wiped on free); the escaped
 * statement and the verifier are wiped before they are freed.  What libpq
 * keeps in its own buffers (the statement in its output buffer, and the
 * login's password for the session's life) is freed by PQfinish(), for a
 * kept admin session at the end of the batch (finish()), in a process
 * that exits right after.
 *
 * Server-side work ends before the step's deadline (provider.h): each
 * apply's and verify's query string begins by setting the session's
 * lock_timeout and statement_timeout to what is left of the deadline
 * since the WORKER's start, less a second, so that an ALTER ROLE queued
 * behind another session's lock is cancelled by the server before the
 * daemon gives the step up.  Without that, the statement would outlive
 * its worker and could commit a secret the daemon has dropped.  The
 * bounds travel in the same round trip as the work (exec_all()): an
 * apply is one round trip on a kept session, as the bench's limit's is,
 * and a verify one after its login.
 *
 * A batch (CATALOG_CAP_BATCH): the admin session of one apply is kept
 * for the next, when the next would open the very same one (host, port,
 * database, TLS settings, admin login and admin secret: a
 * provider_admin_key), so that N applies cost one login, one TLS
 * handshake and one line of the server's connection log.  A session
 * that broke, or has something to read while at rest (the server ending
 * it), is dropped, and the next apply logs in again.  An admin
 * login the server refused is not tried again in this worker: every
 * later apply with that key is refused as it was, without a login, so
 * that a batch with a wrong admin password is one failed login on the
 * server, not 64.  A self-change logs in as the login each time and
 * closes at once, and a verify always logs in afresh: proving the new
 * password is the point of it.  finish() closes the kept session.
 *
 * libpq gives no SQLSTATE for a failed connection, so those are classed
 * by the text of PQerrorMessage(); the worker runs with an empty
 * environment, hence in the C locale, so libpq's own texts are English,
 * and the server's are English unless its lc_messages says otherwise (a
 * translated authentication failure is then classed transient).
 */
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "catalog.h"
#include "provider.h"
#include "scram.h"
#include "secret.h"

#define PG_DEFAULT_PORT 5432
#define PG_DEFAULT_DATABASE "postgres"
#define PG_DEFAULT_TIMEOUT 10
#define PG_BOUND_MARGIN_MS 1000 /* the session's work ends this early */
#define PG_BOUND_MIN_MS 1000    /* and is never given less than this */
#define APPLY_RESULTS 4         /* the bounds' two SETs, SHOW, ALTER ROLE */
#define VERIFY_RESULTS 3        /* the bounds' two SETs, SELECT 1 */

/*
 * libpq's MSG with each line that repeats the one before left out, in OUT
 * (SIZE bytes).  Under sslmode=prefer libpq retries a refused TLS login
 * without TLS, and reports both refusals, word for word.
 */
static void
drop_repeats(const char *msg, char *out, size_t size)
{
	const char *line = msg, *end, *prev = NULL;
	size_t len, prev_len = 0, n = 0;

	if (size == 0)
		return;
	while (line != NULL && *line != '\0') {
		end = strchr(line, '\n');
		len = end != NULL ? (size_t)(end - line) + 1 : strlen(line);
		if ((prev == NULL || len != prev_len ||
			memcmp(line, prev, len) != 0) &&
		    n + len < size) {
			memcpy(out + n, line, len);
			n += len;
		}
		prev = line;
		prev_len = len;
		line += len;
	}
	out[n] = '\0';
}

/*
 * The class of a failed connection, from libpq's message.  The server's
 * refusals of a login come first: with SCRAM, a role that does not exist
 * gets the same "password authentication failed" as a wrong password, on
 * purpose, so that is an auth error too.  What can only be fixed in the
 * configuration (TLS, a missing database) is fatal; everything else (no
 * server, refused, timed out, too many connections, starting up, name
 * resolution) may pass, and is transient.
 */
static enum wire_class
connect_class(const char *msg)
{
	static const char *const auth[] = {
		"password authentication failed",
		"authentication failed",
		"no pg_hba.conf entry",
		"pg_hba.conf rejects",
		"is not permitted to log in",
		"no password supplied",
		"role \"",
		NULL,
	};
	/* A server that will not do channel binding asked for the password
	 * in clear or as MD5: it gets nothing, now or on a retry. */
	static const char *const fatal[] = {
		"certificate",
		"channel binding",
		"server does not support SSL",
		"does not exist",
		"invalid ",
		NULL,
	};
	size_t i;

	if (msg == NULL)
		return WIRE_CLASS_TRANSIENT;
	for (i = 0; auth[i] != NULL; i++)
		if (strstr(msg, auth[i]) != NULL)
			return WIRE_CLASS_AUTH;
	for (i = 0; fatal[i] != NULL; i++)
		if (strstr(msg, fatal[i]) != NULL)
			return WIRE_CLASS_FATAL;
	return WIRE_CLASS_TRANSIENT;
}

/*
 * The class of a failed statement, from its SQLSTATE.  Password checks
 * (passwordcheck and its kin raise 22023, invalid_parameter_value) and
 * the 28 class are policy; a connection that broke, a server shutting
 * down, short of resources, a transaction that lost a race, a lock that
 * was not granted in time (55P03, lock_timeout), a statement cancelled
 * (57014, statement_timeout) and "tuple concurrently updated" (XX000:
 * two ALTER ROLEs of one role at once) are transient; a missing role
 * (42704), missing privilege (42501) and anything else are fatal:
 * retrying will not help.
 */
static enum wire_class
statement_class(PGconn *conn, const PGresult *pr)
{
	const char *st = NULL;

	if (pr != NULL)
		st = PQresultErrorField(pr, PG_DIAG_SQLSTATE);
	if (st == NULL || strlen(st) != 5)
		return PQstatus(conn) == CONNECTION_OK ? WIRE_CLASS_FATAL
						       : WIRE_CLASS_TRANSIENT;
	if (strcmp(st, "22023") == 0 || strncmp(st, "28", 2) == 0)
		return WIRE_CLASS_POLICY;
	if (strncmp(st, "08", 2) == 0 || strncmp(st, "53", 2) == 0 ||
	    strncmp(st, "57P", 3) == 0 || strcmp(st, "40001") == 0 ||
	    strcmp(st, "40P01") == 0 || strcmp(st, "55P03") == 0 ||
	    strcmp(st, "57014") == 0 || strcmp(st, "XX000") == 0)
		return WIRE_CLASS_TRANSIENT;
	return WIRE_CLASS_FATAL;
}

/*
 * Fail RES for a statement that did not succeed.  Only the server's
 * primary message is quoted: libpq's full message may quote the statement
 * (an error position adds "LINE 1: ..."), and the statement holds the
 * verifier.
 */
static int
statement_fail(struct wire_response *res, PGconn *conn, const PGresult *pr,
    const char *what)
{
	char line[WIRE_MESSAGE_MAX / 2];
	const char *primary = NULL, *st = NULL;

	if (pr != NULL) {
		primary = PQresultErrorField(pr, PG_DIAG_MESSAGE_PRIMARY);
		st = PQresultErrorField(pr, PG_DIAG_SQLSTATE);
	}
	if (primary == NULL)
		primary = PQstatus(conn) == CONNECTION_OK
		    ? "no error message"
		    : "the connection was lost";
	provider_one_line(primary, line, sizeof(line));
	return provider_fail(res, statement_class(conn, pr),
	    "%s failed: %s%s%s%s", what, line, st != NULL ? " (SQLSTATE " : "",
	    st != NULL ? st : "", st != NULL ? ")" : "");
}

/*
 * REQ's TLS as libpq parameters, appended to KEYS and VALUES from *N on
 * (at most three).  The credential goes only to a server that proves who
 * it is:
 *
 *   default          sslmode=verify-full against the resource's CA file,
 *                    else the system's bundle (libpq 15 has no
 *                    sslrootcert=system; that is PostgreSQL 16), and
 *                    channel_binding=require, which also refuses a server
 *                    that asks for the password in clear or as MD5
 *                    (libpq 15 has no require_auth)
 *   tls_verify off   sslmode=require (the CA file is then not given to
 *                    libpq, which would verify the chain with it even
 *                    under require), channel binding still required
 *   tls_disabled     sslmode=disable: no TLS, hence no channel binding
 *
 * The last two are explicit opt-outs in the job file, warned about by
 * `rotad -n` and the daemon.  Never prefer: it falls back to plaintext
 * without a word.
 */
static void
tls_params(const struct wire_request *req, const char **keys,
    const char **values, size_t *n)
{
	keys[*n] = "sslmode";
	if (req->tls_disabled) {
		values[(*n)++] = "disable";
		return;
	}
	if (req->tls_verify) {
		values[(*n)++] = "verify-full";
		keys[*n] = "sslrootcert";
		values[(*n)++] = req->tls_ca_file != NULL
		    ? req->tls_ca_file
		    : CATALOG_SYSTEM_CA_FILE;
	} else {
		values[(*n)++] = "require";
	}
	keys[*n] = "channel_binding";
	values[(*n)++] = "require";
}

/* The admin session kept between a batch's applies, and its key. */
static PGconn *kept_conn;
static struct provider_admin_key *kept_key;

/*
 * Connect to REQ's server as USER with PASSWORD (a NUL-terminated secret
 * from secret_cstring()).  0 with the connection in *ret, or RES filled
 * and -EIO (PQfinish() already done).
 */
static int
pg_connect(const struct wire_request *req, const char *user,
    const struct secret *password, PGconn **ret, struct wire_response *res)
{
	/* A parameter (the catalog's key), checked by the worker. */
	const char *database = wire_param(req, "database");
	const char *keys[16], *values[16];
	char port[16], timeout[16], text[WIRE_MESSAGE_MAX];
	char line[WIRE_MESSAGE_MAX / 2];
	PGconn *conn;
	size_t n = 0;
	int r = 0;

	*ret = NULL;
	snprintf(port, sizeof(port), "%d",
	    req->port > 0 ? req->port : PG_DEFAULT_PORT);
	/* Half the step's deadline (at least 2 s, libpq's floor): a server
	 * that does not answer is then reported by libpq, as transient,
	 * before the daemon has to kill the worker. */
	snprintf(timeout, sizeof(timeout), "%d",
	    req->timeout > 0 ? (req->timeout / 2 > 2 ? req->timeout / 2 : 2)
			     : PG_DEFAULT_TIMEOUT);
	if (req->host != NULL) {
		keys[n] = "host";
		values[n++] = req->host;
	}
	keys[n] = "port";
	values[n++] = port;
	keys[n] = "dbname";
	values[n++] = database != NULL ? database : PG_DEFAULT_DATABASE;
	keys[n] = "user";
	values[n++] = user;
	keys[n] = "password";
	values[n++] = secret_data(password);
	tls_params(req, keys, values, &n);
	/* GSSAPI encryption would have libkrb5 read its configuration and
	 * credential caches, which the sandbox does not open to us. */
	keys[n] = "gssencmode";
	values[n++] = "disable";
	keys[n] = "connect_timeout";
	values[n++] = timeout;
	keys[n] = "application_name";
	values[n++] = "rotad";
	keys[n] = NULL;
	values[n] = NULL;

	conn = PQconnectdbParams(keys, values, 0);
	if (conn == NULL)
		return provider_fail(res, WIRE_CLASS_TRANSIENT,
		    "cannot connect to PostgreSQL: out of memory");
	if (PQstatus(conn) != CONNECTION_OK) {
		const char *msg = PQerrorMessage(conn);

		drop_repeats(msg, text, sizeof(text));
		provider_one_line(text, line, sizeof(line));
		r = provider_fail(res, connect_class(msg),
		    "cannot log in to PostgreSQL as %s: %s", user, line);
		PQfinish(conn);
		return r;
	}
	*ret = conn;
	return 0;
}

/*
 * The bounds of REQ's step as the head of a query string, in SQL (SIZE
 * bytes): lock_timeout and statement_timeout are what is left of the
 * step's deadline since the worker's start, less PG_BOUND_MARGIN_MS,
 * never less than PG_BOUND_MIN_MS.  The floor keeps the daemon's bound:
 * the worker starts no request after half its timeout, and a login takes
 * at most the other half (connect_timeout), so a statement sent at the
 * latest ends by the deadline; one sent earlier, a second before it.
 */
static void
bounds_sql(const struct wire_request *req, char *sql, size_t size)
{
	long long left;

	left = provider_left_ms(
		   req->timeout > 0 ? req->timeout : PG_DEFAULT_TIMEOUT) -
	    PG_BOUND_MARGIN_MS;
	if (left < PG_BOUND_MIN_MS)
		left = PG_BOUND_MIN_MS;
	snprintf(sql, size,
	    "SET lock_timeout = %lld; SET statement_timeout = %lld; ", left,
	    left);
}

/*
 * Send SQL, a query string that begins with bounds_sql(), and keep its
 * results in OUT (N of them, one a statement, in order; the caller
 * PQclear()s them).  One round trip for the bounds and the work: a
 * simple query is one implicit transaction, each statement timed on its
 * own under the bounds the SETs before it gave (PostgreSQL 13 and
 * later; lock_timeout, the bound on the lock an ALTER ROLE waits for,
 * takes effect at once on any version), and the first statement that
 * fails ends it, taking back those before it, the SETs included.  So all N
 * results came back and the last is OK, or the last one is the failure
 * (none: the query could not be sent or no answer came).  The count of
 * results, which may exceed N; the last of them is OUT[min(count, N) - 1].
 */
static size_t
exec_all(PGconn *conn, const char *sql, PGresult **out, size_t n)
{
	PGresult *pr;
	size_t got = 0;

	if (!PQsendQuery(conn, sql))
		return 0;
	while ((pr = PQgetResult(conn)) != NULL) {
		/* More than N is not expected (the server commits before
		 * its last statement's answer); the last result is kept in
		 * OUT[N - 1], and the count says there were more. */
		if (got >= n)
			PQclear(out[n - 1]);
		out[got < n ? got : n - 1] = pr;
		got++;
	}
	return got;
}

/*
 * The statement exec_all() failed on, for a complaint: the one of the
 * GOT-th result when the server said which (a SQLSTATE; the bounds' two
 * SETs, then the work's, named in WORK, N of them), else the work's last,
 * which is what matters when no one can say how far the query got (the
 * connection lost).
 */
static const char *
failed_name(size_t got, const PGresult *last, const char *const *work, size_t n)
{
	if (got == 0 || last == NULL ||
	    PQresultErrorField(last, PG_DIAG_SQLSTATE) == NULL)
		return work[n - 1];
	return got <= 2 ? "SET statement_timeout" : work[got - 3];
}

/* Free a libpq string that holds a secret, wiped first.  NULL-safe. */
static void
wipe_pqfree(char *s)
{
	if (s == NULL)
		return;
	explicit_bzero(s, strlen(s));
	PQfreemem(s);
}

/* Drop the kept admin session, if any. */
static void
drop_kept(void)
{
	PQfinish(kept_conn);
	kept_conn = NULL;
	provider_admin_key_free(kept_key);
	kept_key = NULL;
}

/*
 * Whether the kept session still looks usable.  A session at rest has
 * nothing to read: the server answered everything asked, and rotad
 * listens to nothing.  Anything readable (the server's goodbye, an end
 * of file) says it is ending, and it is dropped for a new login.  No
 * round trip: a server that ends it just after this look fails the
 * apply's statement, as it would have failed a statement sent to check.
 */
static bool
kept_alive(void)
{
	struct pollfd p = { .fd = PQsocket(kept_conn), .events = POLLIN };

	return PQstatus(kept_conn) == CONNECTION_OK && p.fd >= 0 &&
	    poll(&p, 1, 0) == 0;
}

/* provider_admin_login()'s way in: REQ's admin to *SESSION (a PGconn *). */
static int
admin_login(const struct wire_request *req, const struct secret *pw,
    void *session, struct wire_response *res)
{
	return pg_connect(req, req->admin_login, pw, session, res);
}

/*
 * The admin session for REQ: the kept one when REQ's key is its key and
 * it looks alive, else a new one, which is kept in its place.  An admin
 * login the server refused, now or earlier in the worker, is failed auth
 * without a new attempt (provider_admin_login()).  0 with the session in
 * *ret (the kept one: not the caller's to close), or RES filled and -EIO.
 */
static int
admin_session(
    const struct wire_request *req, PGconn **ret, struct wire_response *res)
{
	int r;

	*ret = NULL;
	if (kept_conn != NULL &&
	    (!provider_admin_key_match(kept_key, req) || !kept_alive()))
		drop_kept();
	if (kept_conn == NULL &&
	    (r = provider_admin_login(
		 req, admin_login, &kept_conn, &kept_key, res)) < 0)
		return r;
	*ret = kept_conn;
	return 0;
}

/* A self-change's session: logged in as REQ's login with its current
 * secret, the caller's to close.  As admin_session(). */
static int
self_session(
    const struct wire_request *req, PGconn **ret, struct wire_response *res)
{
	struct secret *pw = NULL;
	int r;

	*ret = NULL;
	r = secret_cstring(req->current, &pw);
	if (r == -EINVAL)
		return provider_fail(res, WIRE_CLASS_AUTH,
		    "the credential for %s is empty or holds a NUL byte",
		    req->login);
	if (r < 0)
		return provider_fail(
		    res, WIRE_CLASS_TRANSIENT, "out of memory");
	r = pg_connect(req, req->login, pw, ret, res);
	secret_free(pw);
	return r;
}

static int
pg_apply(const struct wire_request *req, struct wire_response *res)
{
	static const char *const apply_work[] = { "SHOW password_encryption",
		"ALTER ROLE" };
	struct secret *new_pw = NULL;
	char *verifier = NULL, *ident = NULL, *literal = NULL, *sql = NULL;
	char bounds[128], made[SCRAM_VERIFIER_MAX];
	const char *v;
	size_t sql_len = 0, got = 0, kept = 0;
	PGconn *conn = NULL, *own = NULL;
	PGresult *pr[APPLY_RESULTS], *last;
	int r;

	/* Until the ALTER ROLE is sent nothing can change on the target: a
	 * failure before it says so (untouched), and recovery need not wait
	 * for a statement that was never queued. */
	res->untouched = true;
	if (req->login == NULL)
		return provider_fail(res, WIRE_CLASS_FATAL, "no login given");
	/* An admin changes the login's password; without one, the login
	 * changes its own with its current password. */
	if ((req->admin_login != NULL ? req->admin : req->current) == NULL)
		return provider_fail(res, WIRE_CLASS_FATAL, "%s",
		    req->admin_login != NULL
			? "no admin credential given"
			: "no current secret given for a self-change");
	r = secret_cstring(req->new_secret, &new_pw);
	if (r == -EINVAL)
		return provider_fail(res, WIRE_CLASS_POLICY,
		    "the new secret is empty or holds a NUL byte, which "
		    "PostgreSQL cannot take");
	if (r < 0)
		return provider_fail(
		    res, WIRE_CLASS_TRANSIENT, "out of memory");

	if (req->admin_login != NULL)
		r = admin_session(req, &conn, res);
	else {
		r = self_session(req, &own, res);
		conn = own;
	}
	if (r < 0)
		goto out;

	/* OpenSSL's PBKDF2 where it makes libpq's string (scram.h), a
	 * third of libpq's time; libpq's for a password SASLprep may
	 * change. */
	r = scram_verifier(secret_data(new_pw), made, sizeof(made));
	if (r == -EINVAL) {
		verifier = PQencryptPasswordConn(
		    conn, secret_data(new_pw), req->login, "scram-sha-256");
		if (verifier == NULL) {
			char line[WIRE_MESSAGE_MAX / 2];

			provider_one_line(
			    PQerrorMessage(conn), line, sizeof(line));
			r = provider_fail(res, WIRE_CLASS_FATAL,
			    "cannot compute the SCRAM verifier: %s", line);
			goto out;
		}
		r = 0;
	}
	if (r < 0) {
		r = provider_fail(res, WIRE_CLASS_FATAL,
		    "cannot compute the SCRAM verifier: %s", strerror(-r));
		goto out;
	}
	v = verifier != NULL ? verifier : made;
	ident = PQescapeIdentifier(conn, req->login, strlen(req->login));
	literal = PQescapeLiteral(conn, v, strlen(v));
	if (ident == NULL || literal == NULL) {
		r = provider_fail(res, WIRE_CLASS_FATAL,
		    "cannot quote the role name or the verifier");
		goto out;
	}
	/* One round trip: the bounds, the server's password_encryption (a
	 * fact for the record), the change. */
	bounds_sql(req, bounds, sizeof(bounds));
	sql_len = strlen(bounds) +
	    strlen("SHOW password_encryption; ALTER ROLE  PASSWORD ") +
	    strlen(ident) + strlen(literal) + 1;
	sql = malloc(sql_len);
	if (sql == NULL) {
		r = provider_fail(res, WIRE_CLASS_TRANSIENT, "out of memory");
		goto out;
	}
	snprintf(sql, sql_len,
	    "%sSHOW password_encryption; ALTER ROLE %s PASSWORD %s", bounds,
	    ident, literal);
	res->untouched = false;
	got = exec_all(conn, sql, pr, APPLY_RESULTS);
	kept = got < APPLY_RESULTS ? got : APPLY_RESULTS;
	last = kept > 0 ? pr[kept - 1] : NULL;
	if (got != APPLY_RESULTS || PQresultStatus(last) != PGRES_COMMAND_OK) {
		r = statement_fail(
		    res, conn, last, failed_name(kept, last, apply_work, 2));
		/* The server answered with an error, on a connection that
		 * still works: the query's transaction was rolled back,
		 * and nothing of it can land later.  A lost connection or
		 * no answer stays uncertain, and so does an answer longer
		 * than the query. */
		res->untouched = got <= APPLY_RESULTS && last != NULL &&
		    PQresultErrorField(last, PG_DIAG_SQLSTATE) != NULL &&
		    PQstatus(conn) == CONNECTION_OK;
		goto out;
	}
	provider_fact(
	    res, "server_version", PQparameterStatus(conn, "server_version"));
	if (PQresultStatus(pr[2]) == PGRES_TUPLES_OK && PQntuples(pr[2]) == 1)
		provider_fact(
		    res, "password_encryption", PQgetvalue(pr[2], 0, 0));
	r = 0;
out:
	if (r == 0)
		res->untouched = false; /* success is not a failure's flag */
	while (kept > 0)
		PQclear(pr[--kept]);
	if (sql != NULL) {
		explicit_bzero(sql, sql_len);
		free(sql);
	}
	wipe_pqfree(literal);
	PQfreemem(ident);
	wipe_pqfree(verifier);
	explicit_bzero(made, sizeof(made));
	PQfinish(own);
	/* A kept session that broke under this apply serves no other. */
	if (kept_conn != NULL && PQstatus(kept_conn) != CONNECTION_OK)
		drop_kept();
	secret_free(new_pw);
	return r;
}

static int
pg_verify(const struct wire_request *req, struct wire_response *res)
{
	static const char *const work[] = { "SELECT 1" };
	struct secret *pw = NULL;
	PGconn *conn = NULL;
	PGresult *pr[VERIFY_RESULTS], *last;
	char bounds[128], sql[160];
	size_t got = 0, kept = 0;
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
	r = pg_connect(req, req->login, pw, &conn, res);
	if (r < 0)
		goto out;
	/* Logging in proves the secret; a query proves the session works.
	 * The bounds and the query in one round trip. */
	bounds_sql(req, bounds, sizeof(bounds));
	snprintf(sql, sizeof(sql), "%sSELECT 1", bounds);
	got = exec_all(conn, sql, pr, VERIFY_RESULTS);
	kept = got < VERIFY_RESULTS ? got : VERIFY_RESULTS;
	last = kept > 0 ? pr[kept - 1] : NULL;
	if (got != VERIFY_RESULTS || PQresultStatus(last) != PGRES_TUPLES_OK ||
	    PQntuples(last) != 1 || strcmp(PQgetvalue(last, 0, 0), "1") != 0) {
		r = statement_fail(
		    res, conn, last, failed_name(kept, last, work, 1));
		goto out;
	}
	provider_fact(
	    res, "server_version", PQparameterStatus(conn, "server_version"));
	r = 0;
out:
	while (kept > 0)
		PQclear(pr[--kept]);
	PQfinish(conn);
	secret_free(pw);
	return r;
}

/* The batch is over: close the kept session (PQfinish() says goodbye to
 * the server) and wipe its key, and forget the refusals. */
static void
pg_finish(void)
{
	drop_kept();
	provider_refusals_free();
}

const struct provider provider_postgresql = {
	.name = "postgresql",
	.apply = pg_apply,
	.verify = pg_verify,
	.finish = pg_finish,
};
