/*
 * catalog.c: the descriptors of the providers this build contains.
 *
 * Each provider is one const struct with designated initialisers, and the
 * registry is a NULL-terminated list of them (smtpd's table.c): a build
 * option adds or drops whole entries, never lines inside a function.
 * Read providers/NAME.c beside its entry; the two must agree.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "catalog.h"

/* ---- postgresql ---- */

static const struct catalog_protocol postgresql_protocols[] = {
	{ .name = "postgresql", .port = 5432 },
	{ .name = NULL },
};

static const struct catalog_key postgresql_keys[] = {
	{
	    .name = "database",
	    .type = CATALOG_STRING,
	    .flags = CATALOG_KEY_WORKER,
	    .doc = "the database to connect to (default postgres)",
	},
	{ .name = NULL },
};

/* Without a ca_file of the resource's, libpq verifies the server against
 * the system's bundle (sslrootcert): the worker must read it. */
static const char *const postgresql_read_paths[] = {
	CATALOG_SYSTEM_CA_FILE,
	NULL,
};

static const struct catalog_provider postgresql = {
	.name = "postgresql",
	.summary = "a PostgreSQL role's password, set with ALTER ROLE as a "
		   "SCRAM verifier",
	.kinds = CATALOG_KIND_DATABASE,
	.protocols = postgresql_protocols,
	.keys = postgresql_keys,
	/* With admin_user the admin sets the role's password; without, the
	 * role changes its own with its current one.  A batch's applies
	 * share one admin session. */
	.caps = CATALOG_CAP_ADMIN_RESET | CATALOG_CAP_SELF_CHANGE |
	    CATALOG_CAP_TLS | CATALOG_CAP_BATCH,
	.verify = CATALOG_VERIFY_LOGIN,
	/* TCP to a host, or the server's Unix socket when host is a path. */
	.sandbox = { .needs = CATALOG_NEEDS_NET | CATALOG_NEEDS_UNIX,
	    .read_paths = postgresql_read_paths },
};

/* ---- mysql: MySQL and MariaDB ---- */

static const struct catalog_protocol mysql_protocols[] = {
	{ .name = "mysql", .port = 3306 },
	{ .name = "mariadb", .port = 3306 },
	{ .name = NULL },
};

static const struct catalog_key mysql_keys[] = {
	{
	    .name = "user_host",
	    .type = CATALOG_STRING,
	    .flags = CATALOG_KEY_WORKER,
	    .doc = "the host part of the account, 'login'@'user_host' "
		   "(default %)",
	},
	{
	    .name = "database",
	    .type = CATALOG_STRING,
	    .flags = CATALOG_KEY_WORKER,
	    .doc = "the database to connect to (default none)",
	},
	{ .name = NULL },
};

/* The system's CA bundle (ca-certificates.crt), which TLS is verified
 * against when the resource names no CA file (a named one is allowed by
 * the worker's --ca-file).  Nothing else in /etc: libmariadb reads no
 * option file (my.cnf) unless told to, and providers/mysql.c never tells
 * it; it loads no OpenSSL configuration; its look-up of the "mysql"
 * service in /etc/services may fail, since the port is always given. */
static const char *const mysql_read_paths[] = {
	"/etc/ssl/certs",
	NULL,
};

static const struct catalog_provider mysql = {
	.name = "mysql",
	.summary = "a MySQL or MariaDB account's password, set with ALTER "
		   "USER as its native hash where it can",
	.kinds = CATALOG_KIND_DATABASE,
	.protocols = mysql_protocols,
	.keys = mysql_keys,
	/* With admin_user the admin sets the account's password; without,
	 * the login changes its own.  A batch's applies share one admin
	 * session. */
	.caps = CATALOG_CAP_ADMIN_RESET | CATALOG_CAP_SELF_CHANGE |
	    CATALOG_CAP_TLS | CATALOG_CAP_BATCH,
	.verify = CATALOG_VERIFY_LOGIN,
	/* TCP to a host, or the server's Unix socket when host is a path;
	 * the client plugins (caching_sha2_password, client_ed25519) are
	 * loaded from libmariadb's plugin folder, under /usr. */
	.sandbox = { .needs = CATALOG_NEEDS_NET | CATALOG_NEEDS_UNIX,
	    .read_paths = mysql_read_paths },
};

/* ---- ldap: OpenLDAP and Active Directory ---- */

static const struct catalog_protocol ldap_protocols[] = {
	{ .name = "ldap", .port = 389 },
	{ .name = "ldaps", .port = 636 },
	{ .name = NULL },
};

static const char *const ldap_directory_types[] = { "openldap",
	"active_directory", NULL };

static const struct catalog_key ldap_keys[] = {
	{
	    .name = "directory_type",
	    .type = CATALOG_ENUM,
	    .flags = CATALOG_KEY_REQUIRED | CATALOG_KEY_WORKER,
	    .choices = ldap_directory_types,
	    .doc = "openldap (Password Modify, RFC 3062) or active_directory "
		   "(unicodePwd)",
	},
	{
	    .name = "base_dn",
	    .type = CATALOG_STRING,
	    .flags = CATALOG_KEY_WORKER,
	    .doc = "active_directory: where to find a user with no dn, by "
		   "sAMAccountName or userPrincipalName",
	},
	{
	    .name = "start_tls",
	    .type = CATALOG_BOOL,
	    .flags = CATALOG_KEY_WORKER,
	    .doc = "true: StartTLS on ldap://; false: LDAPS (default: LDAPS "
		   "on ports 636 and 3269, StartTLS on any other)",
	},
	{ .name = NULL },
};

/* Without a ca_file of the resource's, libldap verifies the server
 * against the system's bundle: the worker must read it. */
static const char *const ldap_read_paths[] = {
	CATALOG_SYSTEM_CA_FILE,
	NULL,
};

/* alarm(): the worker's watchdog shuts its socket down at the step's
 * bound, since libldap does not bound a TLS handshake (providers/ldap.c). */
static const char *const ldap_syscalls[] = {
	"alarm",
	NULL,
};

static const struct catalog_provider ldap = {
	.name = "ldap",
	.summary = "a directory account's password: OpenLDAP by Password "
		   "Modify, Active Directory by unicodePwd, over LDAPS or "
		   "StartTLS",
	.kinds = CATALOG_KIND_DIRECTORY,
	.protocols = ldap_protocols,
	.keys = ldap_keys,
	/* With admin_user the admin (its login is its bind DN, or an AD
	 * UPN) resets the password; without, the account changes its own.
	 * LDAP has no server-side time limit on a modify: the worker
	 * bounds each operation a second under the step's deadline and
	 * abandons it then, but a server that answers nothing in time
	 * leaves the apply uncertain (providers/ldap.c). */
	.caps =
	    CATALOG_CAP_ADMIN_RESET | CATALOG_CAP_SELF_CHANGE | CATALOG_CAP_TLS,
	.verify = CATALOG_VERIFY_LOGIN,
	.sandbox = { .needs = CATALOG_NEEDS_NET,
	    .read_paths = ldap_read_paths,
	    .syscalls = ldap_syscalls },
};

/* ---- ssh: Linux accounts over SSH ---- */

static const struct catalog_protocol ssh_protocols[] = {
	{ .name = "ssh", .port = 22 },
	{ .name = NULL },
};

/* strict: the key is given (known_hosts or host_key); tofu: the key
 * seen at the first connection is recorded in the store (the daemon) and
 * required from then on. */
static const char *const ssh_host_key_policies[] = { "strict", "tofu", NULL };

/* The worker checks that exactly one of known_hosts and host_key is
 * given: the server's host key is always checked, before any credential
 * is sent. */
static const struct catalog_key ssh_keys[] = {
	{
	    .name = "known_hosts",
	    .type = CATALOG_PATH,
	    .flags = CATALOG_KEY_WORKER | CATALOG_KEY_ONE_OF,
	    .doc = "an OpenSSH known_hosts file holding the server's host "
		   "key (readable by worker.user)",
	},
	{
	    .name = "host_key",
	    .type = CATALOG_STRING,
	    .flags = CATALOG_KEY_WORKER | CATALOG_KEY_ONE_OF,
	    .doc = "the server's host key fingerprint, SHA256:... as "
		   "ssh-keygen -l prints it",
	},
	{
	    .name = "host_key_policy",
	    .type = CATALOG_ENUM,
	    .flags = CATALOG_KEY_WORKER,
	    .choices = ssh_host_key_policies,
	    .doc = "strict: the key must be in known_hosts or be host_key; "
		   "tofu: neither, the first key seen is recorded in the "
		   "store and required afterwards",
	},
	{
	    .name = "authorized_keys_backups",
	    .type = CATALOG_INT,
	    .flags = CATALOG_KEY_WORKER,
	    .min = 0,
	    .max = 100,
	    .doc = "backups of authorized_keys kept in .ssh/ by key "
		   "rotation (default 5; 0: none)",
	},
	{
	    .name = "key_tag_prefix",
	    .type = CATALOG_STRING,
	    .flags = CATALOG_KEY_WORKER,
	    .doc = "the comment that marks rotad's line in authorized_keys "
		   "is this and the login (default rotad-)",
	},
	{ .name = NULL },
};

static const struct catalog_provider ssh = {
	.name = "ssh",
	.summary = "a Linux account's password and SSH key over SSH: "
		   "chpasswd through sudo by an admin, or passwd by the "
		   "account itself; the key in its authorized_keys",
	.kinds = CATALOG_KIND_MACHINE,
	.protocols = ssh_protocols,
	.keys = ssh_keys,
	/* With admin_user the admin runs sudo -n chpasswd; without, the
	 * account runs passwd with its current password.  The command runs
	 * under timeout(1), within the step's deadline. */
	.caps = CATALOG_CAP_ADMIN_RESET | CATALOG_CAP_SELF_CHANGE |
	    CATALOG_CAP_KEY_MATERIAL,
	.verify = CATALOG_VERIFY_LOGIN,
	/* TCP to the server; the known_hosts file reaches the sandbox as a
	 * --read path of the daemon's (run.c: every CATALOG_PATH worker
	 * key). */
	.sandbox = { .needs = CATALOG_NEEDS_NET },
	.one_of_waiver_key = "host_key_policy",
	.one_of_waiver_value = "tofu",
};

/* ---- script: the generic provider ---- */

static const struct catalog_protocol script_protocols[] = {
	{ .name = "script", .port = 0 },
	{ .name = NULL },
};

/* Both required: recovery must be able to ask the target which secret it
 * holds, so a script rotation without a verify is not safe. */
static const struct catalog_key script_keys[] = {
	{
	    .name = "rotate_script",
	    .type = CATALOG_SCRIPT,
	    .flags = CATALOG_KEY_REQUIRED,
	    .doc = "sets the new secret on the target (Keeper's input on "
		   "stdin; exit 0 done, 75 retry later, 77 refused)",
	},
	{
	    .name = "verify_script",
	    .type = CATALOG_SCRIPT,
	    .flags = CATALOG_KEY_REQUIRED,
	    .doc = "logs in to the target with a candidate secret (exit 0: "
		   "it works)",
	},
	{ .name = NULL },
};

static const struct catalog_provider script = {
	.name = "script",
	.summary = "any target, through scripts of your own that set the new "
		   "secret and log in with it",
	.kinds = CATALOG_KIND_ANY,
	.protocols = script_protocols,
	.keys = script_keys,
	/* The scripts know where the target is; the rotate script sets
	 * whichever candidate recovery asks for, admin or not.  What a
	 * script asks of its target is not bounded by rotad: the step's
	 * deadline ends the worker and its script, not work the script
	 * started on the server (provider.h), so a rotate script must
	 * bound that itself, within the user's timeout. */
	.caps = CATALOG_CAP_NO_HOST | CATALOG_CAP_RECONCILE_WITHOUT_ADMIN |
	    CATALOG_CAP_KEEPER_INPUT,
	.verify = CATALOG_VERIFY_SCRIPT,
	/* It must reach its target; it executes nothing but its
	 * interpreter. */
	.sandbox = { .needs = CATALOG_NEEDS_EXEC | CATALOG_NEEDS_NET |
		CATALOG_NEEDS_UNIX },
};

/* ---- post-rotation: Keeper's post-rotation scripts ---- */

static const struct catalog_protocol no_protocols[] = {
	{ .name = NULL },
};

static const struct catalog_key no_keys[] = {
	{ .name = NULL },
};

static const struct catalog_provider post_rotation = {
	.name = "post-rotation",
	.summary = "the post-rotation scripts of a user, its resource and its "
		   "configuration, fed Keeper's input",
	.kinds = 0,
	.protocols = no_protocols,
	.keys = no_keys,
	.caps = CATALOG_CAP_KEEPER_INPUT,
	.verify = CATALOG_VERIFY_NOTHING,
	/* A script runs after the commit and reaches nothing itself. */
	.sandbox = { .needs = CATALOG_NEEDS_EXEC },
	.internal = true,
};

/* ---- test: the in-tree provider for tests ---- */

#if ROTAD_TEST_HOOKS
static const struct catalog_protocol test_protocols[] = {
	{ .name = "test", .port = 0 },
	{ .name = NULL },
};

static const char *const test_errors[] = { "transient", "auth", "policy",
	"fatal", NULL };

/* The daemon reads these and turns them into the request's test_action:
 * the worker never sees them. */
static const struct catalog_key test_keys[] = {
	{
	    .name = "test_fail",
	    .type = CATALOG_INT,
	    .min = 0,
	    .max = 1000000,
	    .doc = "fail the first N applies",
	},
	{
	    .name = "test_error",
	    .type = CATALOG_ENUM,
	    .choices = test_errors,
	    .doc = "the class of those failures (default transient)",
	},
	{
	    .name = "test_delay",
	    .type = CATALOG_DURATION,
	    .min = 0,
	    .max = INT64_MAX,
	    .doc = "wait this long before each step",
	},
	{ .name = NULL },
};

static const struct catalog_provider test = {
	.name = "test",
	.summary = "changes nothing; fails, sleeps and probes the sandbox on "
		   "request (test builds only)",
	.kinds = CATALOG_KIND_ANY,
	.protocols = test_protocols,
	.keys = test_keys,
	.caps = CATALOG_CAP_NO_HOST,
	/* It stands in for a provider that logs in. */
	.verify = CATALOG_VERIFY_LOGIN,
	.sandbox = { .needs = 0 },
};
#endif

/* ---- the registry ---- */

static const struct catalog_provider *const providers[] = {
	&postgresql,
	&mysql,
	&ldap,
	&ssh,
	&script,
	&post_rotation,
#if ROTAD_TEST_HOOKS
	&test,
#endif
	NULL,
};

const struct catalog_provider *const *
catalog_list(void)
{
	return providers;
}

const struct catalog_provider *
catalog_find(const char *name)
{
	size_t i;

	for (i = 0; name != NULL && providers[i] != NULL; i++)
		if (strcmp(providers[i]->name, name) == 0)
			return providers[i];
	return NULL;
}

const struct catalog_provider *
catalog_find_protocol(const char *protocol, int *ret_port)
{
	const struct catalog_protocol *pr;
	size_t i;

	for (i = 0; protocol != NULL && providers[i] != NULL; i++) {
		if (providers[i]->internal)
			continue;
		for (pr = providers[i]->protocols; pr->name != NULL; pr++)
			if (strcmp(pr->name, protocol) == 0) {
				if (ret_port != NULL)
					*ret_port = pr->port;
				return providers[i];
			}
	}
	return NULL;
}

const struct catalog_key *
catalog_key_find(const struct catalog_provider *p, const char *name)
{
	const struct catalog_key *k;

	for (k = p->keys; name != NULL && k->name != NULL; k++)
		if (strcmp(k->name, name) == 0)
			return k;
	return NULL;
}

/* ---- values ---- */

int
catalog_parse_duration(const char *s, int64_t *ret)
{
	static const char units[] = "dhms";
	static const int64_t secs[] = { 86400, 3600, 60, 1 };
	int64_t total = 0, v;
	int last = -1, u;
	const char *p = s;

	if (*s == '\0')
		return -EINVAL;
	while (*p != '\0') {
		if (*p < '0' || *p > '9')
			return -EINVAL;
		for (v = 0; *p >= '0' && *p <= '9'; p++) {
			v = v * 10 + (*p - '0');
			if (v > 100000000)
				return -EINVAL;
		}
		if (*p == '\0') {
			if (last >= 0)
				return -EINVAL; /* "1h30" */
			total = v;
			break;
		}
		u = (int)(strchr(units, *p) != NULL ? strchr(units, *p) - units
						    : -1);
		if (u < 0 || u <= last)
			return -EINVAL;
		last = u;
		total += v * secs[u];
		p++;
	}
	*ret = total;
	return 0;
}

static int
check_int(
    const struct catalog_key *k, const char *value, char *why, size_t size)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(value, &end, 10);
	if (*value == '\0' || errno != 0 || *end != '\0' || v < k->min ||
	    v > k->max) {
		snprintf(why, size,
		    "expected a whole number %lld-%lld, found "
		    "'%s'",
		    (long long)k->min, (long long)k->max, value);
		return -EINVAL;
	}
	return 0;
}

static int
check_duration(
    const struct catalog_key *k, const char *value, char *why, size_t size)
{
	int64_t v;

	if (catalog_parse_duration(value, &v) < 0) {
		snprintf(why, size,
		    "expected a duration such as 30s, 15m, 1h30m or 2d, found "
		    "'%s'",
		    value);
		return -EINVAL;
	}
	if (v < k->min) {
		snprintf(why, size,
		    "duration '%s' is too short: at least %llds", value,
		    (long long)k->min);
		return -EINVAL;
	}
	if (v > k->max) {
		snprintf(why, size, "duration '%s' is too long: at most %llds",
		    value, (long long)k->max);
		return -EINVAL;
	}
	return 0;
}

/* "expected a, b or c, found 'x'" */
static int
check_enum(
    const struct catalog_key *k, const char *value, char *why, size_t size)
{
	size_t i, n, len;

	for (i = 0; k->choices[i] != NULL; i++)
		if (strcmp(k->choices[i], value) == 0)
			return 0;
	n = i;
	len = (size_t)snprintf(why, size, "expected");
	for (i = 0; i < n && len < size; i++)
		len += (size_t)snprintf(why + len, size - len, "%s%s",
		    i == 0           ? " "
			: i == n - 1 ? " or "
				     : ", ",
		    k->choices[i]);
	if (len < size)
		snprintf(why + len, size - len, ", found '%s'", value);
	return -EINVAL;
}

static bool
has_control(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return true;
	return false;
}

int
catalog_check_value(
    const struct catalog_key *k, const char *value, char *why, size_t size)
{
	switch (k->type) {
	case CATALOG_STRING:
		if (*value == '\0' || has_control(value)) {
			snprintf(why, size,
			    "expected a non-empty string "
			    "without control characters");
			return -EINVAL;
		}
		return 0;
	case CATALOG_INT:
		return check_int(k, value, why, size);
	case CATALOG_BOOL:
		if (strcmp(value, "true") == 0 || strcmp(value, "false") == 0)
			return 0;
		snprintf(
		    why, size, "expected true or false, found '%s'", value);
		return -EINVAL;
	case CATALOG_DURATION:
		return check_duration(k, value, why, size);
	case CATALOG_ENUM:
		return check_enum(k, value, why, size);
	case CATALOG_PATH:
	case CATALOG_SCRIPT:
		if (value[0] != '/' || has_control(value)) {
			snprintf(
			    why, size, "'%s' must be an absolute path", value);
			return -EINVAL;
		}
		return 0;
	case CATALOG_HTTPS_URL:
		if (strncmp(value, "https://", 8) != 0 || value[8] == '\0' ||
		    value[8] == '/' || has_control(value)) {
			snprintf(why, size,
			    "expected an https:// URL, found "
			    "'%s'",
			    value);
			return -EINVAL;
		}
		return 0;
	}
	snprintf(why, size, "unknown type");
	return -EINVAL;
}
