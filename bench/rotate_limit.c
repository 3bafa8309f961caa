/*
 * rotate_limit: the limit issue 13 measures rotad against, for PostgreSQL
 * and MariaDB.
 *
 *	rotate_limit pg|mysql CONN USERS STORED [PROCS]
 *	rotate_limit pg|mysql -c CONN USERS STORED
 *
 * The first form rotates every login of USERS (one a line) with PROCS
 * processes (default 2, one per core of the machine the issue measured
 * on), each holding one admin session for its share (login i goes to
 * process i % PROCS).  Each rotation is the least a careful client can
 * do:
 *
 *   - a new password, 18 bytes from the OpenSSL CSPRNG, base64;
 *   - hashed on the client where the server allows it, and only the hash
 *     sent over the admin session: PostgreSQL's SCRAM-SHA-256 verifier
 *     (4096 iterations, made with OpenSSL's PBKDF2 by providers/scram.c
 *     as rotad's worker makes it: libpq's PQencryptPasswordConn() makes
 *     the same string in three times the CPU),
 *     MariaDB's mysql_native_password hash (SHA1(SHA1(pw)), sent with
 *     ALTER USER ... IDENTIFIED BY PASSWORD '*HEX'; the accounts must use
 *     that plugin, as they do by default on MariaDB 10.11);
 *   - "LOGIN<TAB>PASSWORD" appended to STORED (created mode 600; one
 *     write(2) a line, O_APPEND, not synced: the limit stores nothing
 *     durably, which rotad does before every target change);
 *   - a fresh login as the account (a new connection, SELECT 1).
 *
 * Every connection uses verified TLS: PostgreSQL sslmode=verify-full with
 * channel_binding=require, MariaDB with the server's certificate checked
 * against the CA (what rotad's providers ask for).  Exit 0 when every
 * rotation and its login succeeded, else 1 with the logins that failed on
 * stderr (never a password).
 *
 * With -c nothing changes: every login of USERS must have a line in STORED
 * (the last one counts) and log in with its password, one after the other.
 * Each login that does not is printed on stdout ("bad LOGIN"), why on
 * stderr, then a count; exit 0 when all do, else 1.  The
 * benches check what each side stored this way.
 *
 * CONN (mode 600; it holds the admin's password) has KEY=VALUE lines:
 * host, port, ca (the CA file that signed the server's certificate), user
 * and password (the admin's), and optionally dbname (PostgreSQL, default
 * postgres) and account_host (MariaDB, the host part of every account,
 * default %).  No password is ever read from argv or the environment.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <libpq-fe.h>
#include <mysql.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include "scram.h"

#define PW_BYTES 18   /* base64: 24 characters, no padding */
#define PW_MAX 64     /* room for a stored password and its NUL */
#define LOGIN_MAX 128 /* longer logins are refused */
#define TIMEOUT 10    /* seconds, every connect */

struct conn_info {
	char host[256];
	char port[16];
	char ca[4096];
	char user[LOGIN_MAX];
	char password[PW_MAX];
	char dbname[LOGIN_MAX];
	char account_host[LOGIN_MAX];
};

/*
 * A server family: its admin session, the change, and the fresh login.
 * Each returns 0 or -1 with its complaint printed once (no password in
 * it).  admin_open fills *ret with the session, which admin_close takes.
 */
struct family {
	const char *name;
	int (*admin_open)(const struct conn_info *, void **ret);
	int (*change)(void *, const struct conn_info *, const char *login,
	    const char *pw);
	int (*login)(
	    const struct conn_info *, const char *login, const char *pw);
	void (*admin_close)(void *);
};

static void
complain(const char *fmt, ...)
{
	va_list ap;

	fputs("rotate_limit: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* The first line of TEXT (a library's message), for a complaint. */
static const char *
one_line(const char *text, char *buf, size_t size)
{
	size_t n = strcspn(text, "\r\n");

	if (n >= size)
		n = size - 1;
	memcpy(buf, text, n);
	buf[n] = '\0';
	return buf;
}

/* ---- PostgreSQL ---- */

/* A connection as USER with PW, verified TLS; NULL after a complaint. */
static PGconn *
pg_connect(const struct conn_info *ci, const char *user, const char *pw)
{
	const char *keys[] = { "host", "port", "dbname", "user", "password",
		"sslmode", "sslrootcert", "channel_binding", "gssencmode",
		"connect_timeout", "application_name", NULL };
	const char *values[] = { ci->host, ci->port,
		ci->dbname[0] != '\0' ? ci->dbname : "postgres", user, pw,
		"verify-full", ci->ca, "require", "disable", "10",
		"rotate_limit", NULL };
	PGconn *c = PQconnectdbParams(keys, values, 0);
	char line[512];

	if (c == NULL) {
		complain("%s: out of memory", user);
		return NULL;
	}
	if (PQstatus(c) != CONNECTION_OK) {
		complain("%s: cannot log in: %s", user,
		    one_line(PQerrorMessage(c), line, sizeof(line)));
		PQfinish(c);
		return NULL;
	}
	return c;
}

static int
pg_admin_open(const struct conn_info *ci, void **ret)
{
	*ret = pg_connect(ci, ci->user, ci->password);
	return *ret != NULL ? 0 : -1;
}

static int
pg_change(
    void *admin, const struct conn_info *ci, const char *login, const char *pw)
{
	PGconn *c = admin;
	char verifier[SCRAM_VERIFIER_MAX], *ident = NULL, *lit = NULL;
	char sql[1024], line[512];
	PGresult *pr = NULL;
	int r = -1;

	if (scram_verifier(pw, verifier, sizeof(verifier)) < 0) {
		complain("%s: no verifier", login);
		goto out;
	}
	ident = PQescapeIdentifier(c, login, strlen(login));
	lit = PQescapeLiteral(c, verifier, strlen(verifier));
	if (ident == NULL || lit == NULL ||
	    snprintf(sql, sizeof(sql), "ALTER ROLE %s PASSWORD %s", ident,
		lit) >= (int)sizeof(sql)) {
		complain("%s: cannot build the statement", login);
		goto out;
	}
	pr = PQexec(c, sql);
	if (PQresultStatus(pr) != PGRES_COMMAND_OK) {
		complain("%s: ALTER ROLE: %s", login,
		    one_line(PQerrorMessage(c), line, sizeof(line)));
		goto out;
	}
	r = 0;
out:
	PQclear(pr);
	PQfreemem(lit);
	PQfreemem(ident);
	return r;
}

static int
pg_login(const struct conn_info *ci, const char *login, const char *pw)
{
	PGconn *c = pg_connect(ci, login, pw);
	PGresult *pr;
	int r = -1;

	if (c == NULL)
		return -1;
	pr = PQexec(c, "SELECT 1");
	if (PQresultStatus(pr) == PGRES_TUPLES_OK && PQntuples(pr) == 1 &&
	    strcmp(PQgetvalue(pr, 0, 0), "1") == 0)
		r = 0;
	else
		complain("%s: SELECT 1 failed", login);
	PQclear(pr);
	PQfinish(c);
	return r;
}

static void
pg_admin_close(void *admin)
{
	PQfinish(admin);
}

static const struct family family_pg = {
	.name = "pg",
	.admin_open = pg_admin_open,
	.change = pg_change,
	.login = pg_login,
	.admin_close = pg_admin_close,
};

/* ---- MariaDB ---- */

static MYSQL *
my_connect(const struct conn_info *ci, const char *user, const char *pw)
{
	unsigned timeout = TIMEOUT;
	my_bool yes = 1;
	MYSQL *m = mysql_init(NULL);
	char line[512];

	if (m == NULL) {
		complain("%s: out of memory", user);
		return NULL;
	}
	if (mysql_optionsv(m, MYSQL_OPT_CONNECT_TIMEOUT, &timeout) != 0 ||
	    mysql_optionsv(m, MYSQL_OPT_SSL_ENFORCE, &yes) != 0 ||
	    mysql_optionsv(m, MYSQL_OPT_SSL_CA, ci->ca) != 0 ||
	    mysql_optionsv(m, MYSQL_OPT_SSL_VERIFY_SERVER_CERT, &yes) != 0) {
		complain("libmariadb refused an option");
		mysql_close(m);
		return NULL;
	}
	if (mysql_real_connect(m, ci->host, user, pw, NULL,
		(unsigned)atoi(ci->port), NULL, 0) == NULL) {
		complain("%s: cannot log in: %s (error %u)", user,
		    one_line(mysql_error(m), line, sizeof(line)),
		    mysql_errno(m));
		mysql_close(m);
		return NULL;
	}
	return m;
}

static int
my_admin_open(const struct conn_info *ci, void **ret)
{
	*ret = my_connect(ci, ci->user, ci->password);
	return *ret != NULL ? 0 : -1;
}

/* mysql_native_password's hash of PW: '*' and 40 upper-case hex digits. */
static void
native_hash(const char *pw, char out[42])
{
	unsigned char h1[SHA_DIGEST_LENGTH], h2[SHA_DIGEST_LENGTH];
	size_t i;

	SHA1((const unsigned char *)pw, strlen(pw), h1);
	SHA1(h1, sizeof(h1), h2);
	out[0] = '*';
	for (i = 0; i < sizeof(h2); i++)
		snprintf(out + 1 + 2 * i, 3, "%02X", h2[i]);
	OPENSSL_cleanse(h1, sizeof(h1));
}

static int
my_change(
    void *admin, const struct conn_info *ci, const char *login, const char *pw)
{
	MYSQL *m = admin;
	char hash[42], elogin[2 * LOGIN_MAX + 1], ehost[2 * LOGIN_MAX + 1];
	char sql[1024], line[512];
	const char *host = ci->account_host[0] != '\0' ? ci->account_host : "%";

	native_hash(pw, hash);
	mysql_real_escape_string(m, elogin, login, strlen(login));
	mysql_real_escape_string(m, ehost, host, strlen(host));
	if (snprintf(sql, sizeof(sql),
		"ALTER USER '%s'@'%s' IDENTIFIED BY PASSWORD '%s'", elogin,
		ehost, hash) >= (int)sizeof(sql)) {
		complain("%s: cannot build the statement", login);
		return -1;
	}
	if (mysql_real_query(m, sql, strlen(sql)) != 0) {
		complain("%s: ALTER USER: %s (error %u)", login,
		    one_line(mysql_error(m), line, sizeof(line)),
		    mysql_errno(m));
		return -1;
	}
	return 0;
}

static int
my_login(const struct conn_info *ci, const char *login, const char *pw)
{
	MYSQL *m = my_connect(ci, login, pw);
	MYSQL_RES *rs = NULL;
	MYSQL_ROW row;
	int r = -1;

	if (m == NULL)
		return -1;
	if (mysql_real_query(m, "SELECT 1", 8) == 0 &&
	    (rs = mysql_store_result(m)) != NULL &&
	    (row = mysql_fetch_row(rs)) != NULL && row[0] != NULL &&
	    strcmp(row[0], "1") == 0)
		r = 0;
	else
		complain("%s: SELECT 1 failed", login);
	mysql_free_result(rs);
	mysql_close(m);
	return r;
}

static void
my_admin_close(void *admin)
{
	mysql_close(admin);
}

static const struct family family_mysql = {
	.name = "mysql",
	.admin_open = my_admin_open,
	.change = my_change,
	.login = my_login,
	.admin_close = my_admin_close,
};

static const struct family *const families[] = { &family_pg, &family_mysql,
	NULL };

/* ---- files ---- */

/* Copy VALUE into DST (SIZE bytes); -1 when it does not fit. */
static int
set_field(char *dst, size_t size, const char *value)
{
	if (strlen(value) >= size)
		return -1;
	strcpy(dst, value);
	return 0;
}

/* Read CONN (KEY=VALUE lines) into *CI.  0, or -1 after a complaint. */
static int
read_conn(const char *path, struct conn_info *ci)
{
	struct {
		const char *key;
		char *dst;
		size_t size;
	} fields[] = {
		{ "host", ci->host, sizeof(ci->host) },
		{ "port", ci->port, sizeof(ci->port) },
		{ "ca", ci->ca, sizeof(ci->ca) },
		{ "user", ci->user, sizeof(ci->user) },
		{ "password", ci->password, sizeof(ci->password) },
		{ "dbname", ci->dbname, sizeof(ci->dbname) },
		{ "account_host", ci->account_host, sizeof(ci->account_host) },
	};
	char *line = NULL, *eq;
	size_t cap = 0, i;
	ssize_t n;
	FILE *f;
	int r = 0;

	memset(ci, 0, sizeof(*ci));
	if ((f = fopen(path, "re")) == NULL) {
		complain("%s: %s", path, strerror(errno));
		return -1;
	}
	while (r == 0 && (n = getline(&line, &cap, f)) > 0) {
		line[strcspn(line, "\n")] = '\0';
		if (line[0] == '\0' || line[0] == '#')
			continue;
		if ((eq = strchr(line, '=')) == NULL) {
			complain("%s: a line without '='", path);
			r = -1;
			break;
		}
		*eq = '\0';
		for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
			if (strcmp(line, fields[i].key) == 0)
				break;
		if (i == sizeof(fields) / sizeof(fields[0]) ||
		    set_field(fields[i].dst, fields[i].size, eq + 1) < 0) {
			complain("%s: key %s unknown, or its value too long",
			    path, line);
			r = -1;
		}
	}
	if (line != NULL)
		OPENSSL_cleanse(line, cap);
	free(line);
	fclose(f);
	if (r == 0 &&
	    (ci->host[0] == '\0' || ci->port[0] == '\0' || ci->ca[0] == '\0' ||
		ci->user[0] == '\0' || ci->password[0] == '\0')) {
		complain(
		    "%s: host, port, ca, user and password are needed", path);
		r = -1;
	}
	return r;
}

/* The lines of PATH, each a login (no tab, shorter than LOGIN_MAX). */
static int
read_users(const char *path, char ***ret, size_t *ret_n)
{
	char *line = NULL, **v = NULL, **nv;
	size_t cap = 0, n = 0;
	FILE *f;
	int r = 0;

	if ((f = fopen(path, "re")) == NULL) {
		complain("%s: %s", path, strerror(errno));
		return -1;
	}
	while (getline(&line, &cap, f) > 0) {
		line[strcspn(line, "\n")] = '\0';
		if (line[0] == '\0')
			continue;
		if (strlen(line) >= LOGIN_MAX || strchr(line, '\t') != NULL ||
		    (nv = realloc(v, (n + 1) * sizeof(*v))) == NULL ||
		    (nv[n] = strdup(line)) == NULL) {
			complain("%s: a login too long, with a tab, or no "
				 "memory",
			    path);
			r = -1;
			break;
		}
		v = nv;
		n++;
	}
	free(line);
	fclose(f);
	*ret = v;
	*ret_n = n;
	return r;
}

/* A new password: PW_BYTES random bytes, base64, into PW. */
static int
new_password(char pw[PW_MAX])
{
	unsigned char raw[PW_BYTES];

	if (RAND_bytes(raw, sizeof(raw)) != 1)
		return -1;
	EVP_EncodeBlock((unsigned char *)pw, raw, sizeof(raw));
	OPENSSL_cleanse(raw, sizeof(raw));
	return 0;
}

/* Append "LOGIN<TAB>PW\n" to FD with one write. */
static int
store(int fd, const char *login, const char *pw)
{
	char line[LOGIN_MAX + PW_MAX + 2];
	int n = snprintf(line, sizeof(line), "%s\t%s\n", login, pw);
	int r = 0;

	if (write(fd, line, (size_t)n) != n) {
		complain("storing %s: %s", login, strerror(errno));
		r = -1;
	}
	OPENSSL_cleanse(line, sizeof(line));
	return r;
}

/* ---- the two modes ---- */

/* One process's share: users K, K + PROCS, ...  The exit status. */
static int
rotate_share(const struct family *fam, const struct conn_info *ci, char **users,
    size_t n, size_t k, size_t procs, int fd)
{
	char pw[PW_MAX];
	void *admin;
	size_t i;
	int failed = 0;

	if (fam->admin_open(ci, &admin) < 0)
		return 1;
	for (i = k; i < n; i += procs) {
		if (new_password(pw) < 0) {
			complain("no random bytes");
			failed = 1;
			break;
		}
		if (fam->change(admin, ci, users[i], pw) < 0 ||
		    store(fd, users[i], pw) < 0 ||
		    fam->login(ci, users[i], pw) < 0)
			failed = 1;
	}
	OPENSSL_cleanse(pw, sizeof(pw));
	fam->admin_close(admin);
	return failed;
}

static int
rotate_all(const struct family *fam, const struct conn_info *ci, char **users,
    size_t n, const char *stored, size_t procs)
{
	pid_t *pids;
	size_t k, started = 0;
	int fd, st, status = 0;

	fd = open(stored, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (fd < 0) {
		complain("%s: %s", stored, strerror(errno));
		return 1;
	}
	if ((pids = calloc(procs, sizeof(*pids))) == NULL) {
		close(fd);
		return 1;
	}
	fflush(NULL);
	for (k = 0; k < procs; k++) {
		pids[k] = fork();
		if (pids[k] == 0)
			_exit(rotate_share(fam, ci, users, n, k, procs, fd));
		if (pids[k] < 0) {
			complain("fork: %s", strerror(errno));
			status = 1;
			break;
		}
		started++;
	}
	for (k = 0; k < started; k++)
		if (waitpid(pids[k], &st, 0) < 0 || !WIFEXITED(st) ||
		    WEXITSTATUS(st) != 0)
			status = 1;
	free(pids);
	close(fd);
	return status;
}

/* The password the last line of STORED gives LOGIN, into PW. */
static int
stored_password(FILE *f, const char *login, char pw[PW_MAX])
{
	char *line = NULL, *tab;
	size_t cap = 0;
	int found = -1;

	rewind(f);
	while (getline(&line, &cap, f) > 0) {
		line[strcspn(line, "\n")] = '\0';
		if ((tab = strchr(line, '\t')) == NULL)
			continue;
		*tab = '\0';
		if (strcmp(line, login) == 0 &&
		    set_field(pw, PW_MAX, tab + 1) == 0)
			found = 0;
	}
	if (line != NULL)
		OPENSSL_cleanse(line, cap);
	free(line);
	return found;
}

static int
check_all(const struct family *fam, const struct conn_info *ci, char **users,
    size_t n, const char *stored)
{
	char pw[PW_MAX];
	size_t i, bad = 0;
	FILE *f;

	if ((f = fopen(stored, "re")) == NULL) {
		complain("%s: %s", stored, strerror(errno));
		return 1;
	}
	for (i = 0; i < n; i++) {
		if (stored_password(f, users[i], pw) < 0)
			complain("%s: nothing stored", users[i]);
		else if (fam->login(ci, users[i], pw) == 0)
			continue;
		printf("bad %s\n", users[i]);
		bad++;
	}
	OPENSSL_cleanse(pw, sizeof(pw));
	fclose(f);
	printf("%zu of %zu log in with their stored password\n", n - bad, n);
	return bad != 0;
}

static void
usage(void)
{
	fputs("usage: rotate_limit pg|mysql CONN USERS STORED [PROCS]\n"
	      "       rotate_limit pg|mysql -c CONN USERS STORED\n",
	    stderr);
	exit(2);
}

int
main(int argc, char **argv)
{
	const struct family *fam = NULL;
	struct conn_info ci;
	char **users;
	size_t i, n, procs = 2;
	bool check;
	int r;

	if (argc < 5)
		usage();
	for (i = 0; families[i] != NULL; i++)
		if (strcmp(argv[1], families[i]->name) == 0)
			fam = families[i];
	check = strcmp(argv[2], "-c") == 0;
	if (fam == NULL || (check ? argc != 6 : argc != 5 && argc != 6))
		usage();
	if (!check && argc == 6 &&
	    ((procs = strtoul(argv[5], NULL, 10)) < 1 || procs > 64))
		usage();
	argv += 2 + check;
	if (read_conn(argv[0], &ci) < 0 || read_users(argv[1], &users, &n) < 0)
		return 1;
	if (mysql_library_init(0, NULL, NULL) != 0) {
		complain("mysql_library_init failed");
		return 1;
	}
	r = check ? check_all(fam, &ci, users, n, argv[2])
		  : rotate_all(fam, &ci, users, n, argv[2], procs);
	OPENSSL_cleanse(&ci, sizeof(ci));
	for (i = 0; i < n; i++)
		free(users[i]);
	free(users);
	mysql_library_end();
	return r;
}
