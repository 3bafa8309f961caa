/*
 * ssh_key.c: a Linux account's SSH key, rotated with Keeper's semantics.
 *
 * The daemon made the new key pair (OpenSSH private-key format) and stored
 * it pending before this worker started; here it is authorized on the
 * target, and a verify logs in with it afresh.  The account's
 * ~/.ssh/authorized_keys is read, edited in this process by authkeys_set()
 * (authkeys.h: the line tagged rotad-LOGIN, or Keeper's
 * keeper-security-LOGIN, replaced; appended at the first rotation, the
 * old key left in place so nobody is locked out; every other line kept
 * byte for byte), and written back by a fixed shell script, as the
 * account itself:
 *
 *   admin root        runuser -u LOGIN -- /bin/sh -c SCRIPT
 *   admin otherwise   sudo -n -u LOGIN /bin/sh -c SCRIPT
 *   no admin          /bin/sh -c SCRIPT      (logged in with the current key)
 *
 * so the file keeps the account as its owner and a root-owned file is
 * never made.  The script writes a backup of the prior file inside .ssh/
 * (authorized_keys.rotad-TIMESTAMP, the newest authorized_keys_backups
 * kept), then the new content to a temporary file in .ssh/ (umask 077,
 * fsync'd), renames it over authorized_keys and fsyncs the directory;
 * .ssh is made 0700 if it does not exist.  It first checks that the file
 * is still the one read (its SHA-256): a file edited meanwhile is left
 * alone (transient, untouched), and read again at the retry.
 *
 * The script and its arguments are on the command line (ps and sudo's log
 * see them); they hold no secret: the login, a hash of the old file, a
 * timestamp, a count.  The new content goes on stdin; it holds public keys
 * only.  The private key never leaves this process except as the
 * signature of a login.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include <openssl/evp.h>

#include "authkeys.h"
#include "provider.h"
#include "secret.h"
#include "ssh-internal.h"
#include "sshkey.h"

#define KEY_FILE_MAX AUTHKEYS_MAX_SIZE
#define KEY_LINE_MAX 16384 /* an RSA-16384 public key fits */
#define BACKUPS_DEFAULT 5
#define BACKUPS_MAX 100
#define TAG_PREFIX_DEFAULT "rotad-"
#define KEEPER_TAG_PREFIX "keeper-security-"

/* Exit codes of the scripts: each a state the worker can name. */
#define EXIT_NO_HOME 90
#define EXIT_ABSENT 91
#define EXIT_CHANGED 92
#define EXIT_SSH_DIR 93
#define EXIT_BACKUP 94
#define EXIT_WRITE 96

/*
 * The scripts run as `/bin/sh -c 'SCRIPT' rotad LOGIN ARGS` (command()),
 * a command line parsed first by the login shell of whoever logs in
 * (bash, dash, ...): so they hold no single quote, and the outer quotes
 * hand them to /bin/sh unchanged under any of those shells.  A quote
 * inside closed the outer ones, leaving what followed to that shell
 * (bash read "$'" as ANSI-C quoting and dropped a '$').
 *
 * $1 login: the file on stdout, or exit 91 when there is none.
 */
#define READ_SCRIPT                                                            \
	"h=$(getent passwd \"$1\" | cut -d: -f6); "                            \
	"[ -n \"$h\" ] && cd \"$h\" || exit 90; "                              \
	"[ -e .ssh/authorized_keys ] || exit 91; "                             \
	"exec cat .ssh/authorized_keys"

/* $1 login, $2 the SHA-256 of the file read (none: absent), $3 the
 * backup's timestamp, $4 backups kept (0: none); the new file on stdin.
 * Backups are the names grep -x matches whole; any other file in .ssh is
 * left alone. */
#define WRITE_SCRIPT                                                           \
	"umask 077; "                                                          \
	"h=$(getent passwd \"$1\" | cut -d: -f6); "                            \
	"[ -n \"$h\" ] && cd \"$h\" || exit 90; "                              \
	"f=.ssh/authorized_keys; c=none; "                                     \
	"if [ -e $f ]; then c=$(sha256sum <$f | cut -c1-64) || exit 92; fi; "  \
	"[ \"$c\" = \"$2\" ] || exit 92; "                                     \
	"[ -d .ssh ] || mkdir -m 700 .ssh || exit 93; "                        \
	"chmod 700 .ssh || exit 93; "                                          \
	"if [ -e $f ] && [ \"$4\" -gt 0 ]; then "                              \
	"cp -p $f .ssh/authorized_keys.rotad-$3 || exit 94; fi; "              \
	"t=$(mktemp .ssh/.authorized_keys.rotad.XXXXXX) || exit 96; "          \
	"if cat >\"$t\" && chmod 600 \"$t\" && sync \"$t\" && "                \
	"mv -f \"$t\" $f; then :; else rm -f \"$t\"; exit 96; fi; "            \
	"sync .ssh; "                                                          \
	"ls -1 .ssh | grep -x \"authorized_keys[.]rotad-[0-9TZ]*\" | "         \
	"sort -r | tail -n +$(($4 + 1)) | "                                    \
	"while read -r b; do rm -f \".ssh/$b\"; done; "                        \
	"exit 0"

/* What a run of a script gave: its stdout (malloc'd), the end of its
 * stderr (ssh_keep()), its exit status. */
struct capture {
	char *out;
	size_t len;
	char err[SSH_OUT_MAX];
	int status;
};

/* Read CH to its end: its stdout into CAP->out (grown, at most
 * KEY_FILE_MAX bytes), the end of its stderr into CAP->err. */
static int
drain(struct ssh *c, LIBSSH2_CHANNEL *ch, struct capture *cap)
{
	char buf[4096];
	size_t n = 0;
	ssize_t w;
	char *p;

	for (;;) {
		w = libssh2_channel_read_ex(ch, 0, buf, sizeof(buf));
		if (w == 0)
			break;
		if (w < 0)
			return ssh_session_fail(
			    c, (int)w, "reading authorized_keys");
		if (cap->len + (size_t)w > KEY_FILE_MAX)
			return provider_fail(c->res, WIRE_CLASS_FATAL,
			    "authorized_keys of %s on %s is over %d bytes",
			    c->req->login, c->req->host, KEY_FILE_MAX);
		p = realloc(cap->out, cap->len + (size_t)w + 1);
		if (p == NULL)
			return provider_fail(
			    c->res, WIRE_CLASS_TRANSIENT, "out of memory");
		cap->out = p;
		memcpy(cap->out + cap->len, buf, (size_t)w);
		cap->len += (size_t)w;
		cap->out[cap->len] = '\0';
	}
	for (;;) {
		w = libssh2_channel_read_ex(ch, 1, buf, sizeof(buf));
		if (w == 0)
			break;
		if (w < 0)
			return ssh_session_fail(
			    c, (int)w, "reading a command's errors");
		/* A read may fill buf, as large as err: its end is kept,
		 * room left for the NUL. */
		ssh_keep(cap->err, &n, buf, (size_t)w);
	}
	return 0;
}

/*
 * Run CMD on C's session with IN (LEN bytes, may be NULL) on its stdin,
 * into CAP.  *RET_SENT once the command started.  0, or RES filled
 * (transient) and -EIO.
 */
static int
capture(struct ssh *c, const char *cmd, const char *in, size_t len,
    struct capture *cap, bool *ret_sent)
{
	LIBSSH2_CHANNEL *ch;
	int rc;

	memset(cap, 0, sizeof(*cap));
	cap->status = -1;
	if ((rc = ssh_exec(c, cmd, in, len, &ch, ret_sent)) < 0)
		return rc;
	if ((rc = drain(c, ch, cap)) == 0) {
		(void)libssh2_channel_close(ch);
		(void)libssh2_channel_wait_closed(ch);
		cap->status = libssh2_channel_get_exit_status(ch);
	}
	libssh2_channel_free(ch);
	return rc;
}

/*
 * The failure of a script that exited STATUS with ERR on stderr, for
 * WHAT.  Nothing was changed by a script that said no: untouched (but a
 * timeout(1) kill of the writer, which may have renamed).
 */
static int
script_fail(struct ssh *c, const char *what, const struct capture *cap)
{
	const struct wire_request *req = c->req;
	const char *admin = req->admin_login;
	char line[WIRE_MESSAGE_MAX / 2];

	ssh_last_line(cap->err, line, sizeof(line));
	c->res->untouched = true;
	if (admin != NULL && ssh_shell_refuses(cap->status, cap->err))
		return provider_fail(c->res, WIRE_CLASS_FATAL,
		    "the login shell of admin %s on %s refuses commands "
		    "(\"%s\"): the admin needs a real shell such as /bin/sh",
		    admin, req->host, line);
	if (admin == NULL && ssh_shell_refuses(cap->status, cap->err))
		return provider_fail(c->res, WIRE_CLASS_FATAL,
		    "the login shell of %s on %s refuses commands (\"%s\"): "
		    "rotating its key without an admin needs a real shell",
		    req->login, req->host, line);
	if (ssh_has(cap->err, "sudo: a password is required") ||
	    ssh_has(cap->err, "not in the sudoers") ||
	    ssh_has(cap->err, "not allowed to") ||
	    ssh_has(cap->err, "may not run sudo") ||
	    ssh_has(cap->err, "a terminal is required"))
		return provider_fail(c->res, WIRE_CLASS_FATAL,
		    "sudo on %s will not run /bin/sh as %s for %s without a "
		    "password (\"%s\"): add the sudoers line \"%s "
		    "ALL=(ALL,!root) NOPASSWD: /bin/sh\"",
		    req->host, req->login, admin, line, admin);
	switch (cap->status) {
	case EXIT_NO_HOME:
		return provider_fail(c->res, WIRE_CLASS_FATAL,
		    "%s has no user %s, or its home directory cannot be "
		    "entered",
		    req->host, req->login);
	case EXIT_CHANGED:
		return provider_fail(c->res, WIRE_CLASS_TRANSIENT,
		    "authorized_keys of %s on %s changed while rotad edited "
		    "it; left alone, read again at the retry",
		    req->login, req->host);
	case EXIT_SSH_DIR:
	case EXIT_BACKUP:
	case EXIT_WRITE:
		return provider_fail(c->res, WIRE_CLASS_FATAL,
		    "%s on %s: cannot %s (\"%s\"); authorized_keys is "
		    "unchanged",
		    req->login, req->host,
		    cap->status == EXIT_SSH_DIR      ? "make .ssh mode 0700"
			: cap->status == EXIT_BACKUP ? "write the backup"
						     : "write the new file",
		    line);
	case 124:
		c->res->untouched = false; /* killed midway: who knows */
		return provider_fail(c->res, WIRE_CLASS_TRANSIENT,
		    "%s on %s did not finish in time", what, req->host);
	case 127:
		return provider_fail(c->res, WIRE_CLASS_FATAL,
		    "%s on %s: a command is missing (\"%s\"): the target needs "
		    "sh, getent, sha256sum, mktemp, sync and timeout%s",
		    what, req->host, line,
		    admin == NULL                    ? ""
			: strcmp(admin, "root") == 0 ? ", runuser"
						     : ", sudo");
	}
	return provider_fail(c->res, WIRE_CLASS_FATAL,
	    "%s on %s failed for %s (exit %d): %s", what, req->host, req->login,
	    cap->status, line);
}

/* The SHA-256 of BUF (LEN bytes) in hex, into OUT (65 bytes). */
static int
sha256_hex(const char *buf, size_t len, char out[65])
{
	unsigned char md[32];
	unsigned int n = 0;
	int i;

	if (EVP_Digest(buf, len, md, &n, EVP_sha256(), NULL) != 1 || n != 32)
		return -EIO;
	for (i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
	return 0;
}

/* CMD: SCRIPT run as the login, under timeout(1) for what is left of the
 * deadline, with ARGS after the login. */
static int
command(
    struct ssh *c, const char *script, const char *args, char *cmd, size_t size)
{
	const struct wire_request *req = c->req;
	const char *as;
	long secs;
	int n;

	secs = (ssh_left_ms(c) - SSH_MARGIN_MS) / 1000;
	if (secs < 1)
		secs = 1;
	as = req->admin_login == NULL               ? ""
	    : strcmp(req->admin_login, "root") == 0 ? "runuser -u "
						    : "sudo -n -u ";
	n = snprintf(cmd, size, "timeout %ld %s%s%s/bin/sh -c '%s' rotad %s%s",
	    secs, as, req->admin_login != NULL ? req->login : "",
	    req->admin_login == NULL                    ? ""
		: strcmp(req->admin_login, "root") == 0 ? " -- "
							: " ",
	    script, req->login, args);
	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

/* The public key of the new secret, "TYPE BASE64", into LINE.  0, or RES
 * filled (fatal) and -EIO. */
static int
new_key_line(const struct wire_request *req, struct wire_response *res,
    char *line, size_t size)
{
	struct sshkey_info info;
	int r;

	memset(&info, 0, sizeof(info));
	r = sshkey_inspect(req->new_secret, NULL, &info);
	if (r == 0)
		r = sshkey_public_line(&info, NULL, line, size);
	sshkey_info_clear(&info);
	if (r < 0)
		return provider_fail(res, WIRE_CLASS_FATAL,
		    "the key to set for %s is not an unencrypted SSH private "
		    "key rotad can read (%s)",
		    req->login, strerror(-r));
	return 0;
}

/* A backup's timestamp, in UTC to the millisecond: names that sort as
 * they were made. */
static void
stamp(char *buf, size_t size)
{
	struct timeval tv;
	struct tm tm;
	char day[32];

	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	strftime(day, sizeof(day), "%Y%m%dT%H%M%S", &tm);
	snprintf(buf, size, "%.20s%03dZ", day, (int)(tv.tv_usec / 1000) % 1000);
}

/* The key of login TAG and Keeper's, into TAG and ADOPT. */
static int
tags(const struct wire_request *req, char *tag, char *adopt, size_t size)
{
	const char *prefix = wire_param(req, "key_tag_prefix");

	if (prefix == NULL)
		prefix = TAG_PREFIX_DEFAULT;
	if ((size_t)snprintf(tag, size, "%s%s", prefix, req->login) >= size ||
	    (size_t)snprintf(adopt, size, KEEPER_TAG_PREFIX "%s", req->login) >=
		size)
		return -ENAMETOOLONG;
	return 0;
}

static const char *
change_name(const struct authkeys_change *ar)
{
	switch (ar->action) {
	case AUTHKEYS_APPENDED:
		return "appended";
	case AUTHKEYS_REPLACED:
		return "replaced";
	case AUTHKEYS_ADOPTED:
		return "adopted";
	case AUTHKEYS_REMOVED:
		return "removed";
	case AUTHKEYS_UNCHANGED:
		break;
	}
	return "unchanged";
}

/*
 * Read the login's authorized_keys, set the tagged line to KEYLINE, write
 * it back if that changed it.  C is logged in as whoever edits it.
 */
static int
edit(struct ssh *c, const char *keyline)
{
	const struct wire_request *req = c->req;
	const char *v = wire_param(req, "authorized_keys_backups");
	char cmd[4096], args[160], hash[65], when[40], tag[128], adopt[128];
	struct authkeys_change ar;
	struct capture cap;
	char *next = NULL;
	size_t nlen = 0;
	bool sent = false;
	long keep = v != NULL ? strtol(v, NULL, 10) : BACKUPS_DEFAULT;
	int r;

	memset(&ar, 0, sizeof(ar));
	if (keep < 0 || keep > BACKUPS_MAX)
		keep = BACKUPS_DEFAULT; /* the catalog bounds it */
	if (tags(req, tag, adopt, sizeof(tag)) < 0 ||
	    command(c, READ_SCRIPT, "", cmd, sizeof(cmd)) < 0)
		return provider_fail(c->res, WIRE_CLASS_FATAL,
		    "login %s is too long", req->login);
	r = capture(c, cmd, NULL, 0, &cap, &sent);
	if (r < 0)
		goto out; /* reading changes nothing: still untouched */
	if (cap.status != 0 && cap.status != EXIT_ABSENT) {
		r = script_fail(c, "reading authorized_keys", &cap);
		goto out;
	}
	if (cap.status == EXIT_ABSENT)
		snprintf(hash, sizeof(hash), "none");
	else if (sha256_hex(cap.out != NULL ? cap.out : "", cap.len, hash) <
	    0) {
		r = provider_fail(
		    c->res, WIRE_CLASS_TRANSIENT, "SHA-256 failed");
		goto out;
	}
	r = authkeys_set(
	    cap.out, cap.len, tag, adopt, keyline, &next, &nlen, &ar);
	if (r < 0) {
		r = provider_fail(c->res, WIRE_CLASS_FATAL,
		    "cannot edit authorized_keys of %s on %s: %s", req->login,
		    req->host, strerror(-r));
		goto out;
	}
	provider_fact(c->res, "authorized_keys", change_name(&ar));
	if (ar.action == AUTHKEYS_UNCHANGED) {
		r = 0; /* the key is there already: a retry, a reconcile */
		goto out;
	}
	stamp(when, sizeof(when));
	snprintf(args, sizeof(args), " %s %s %ld", hash, when, keep);
	if (command(c, WRITE_SCRIPT, args, cmd, sizeof(cmd)) < 0) {
		r = provider_fail(c->res, WIRE_CLASS_FATAL,
		    "login %s is too long", req->login);
		goto out;
	}
	free(cap.out);
	c->res->untouched = false; /* from here the file may change */
	r = capture(c, cmd, next, nlen, &cap, &sent);
	if (r == 0 && cap.status != 0)
		r = script_fail(c, "writing authorized_keys", &cap);
out:
	free(cap.out);
	free(next);
	return r;
}

int
ssh_key_apply(const struct wire_request *req, struct wire_response *res)
{
	struct ssh c;
	long long started = ssh_mono_ms();
	char keyline[KEY_LINE_MAX];
	const struct secret *cred;
	int r;

	/* Until the writer runs nothing can change on the target. */
	res->untouched = true;
	if ((r = ssh_check_login(req->login, res)) < 0)
		return r;
	if ((r = new_key_line(req, res, keyline, sizeof(keyline))) < 0)
		return r;
	cred = req->admin_login != NULL ? req->admin : req->current;
	if (cred == NULL)
		return provider_fail(res, WIRE_CLASS_FATAL, "%s",
		    req->admin_login != NULL
			? "no admin credential given"
			: "no current key given: without an admin, the account "
			  "logs in with its current key to change it (seed it "
			  "with rotactl secret set USER/private_key)");
	if ((r = ssh_open(&c, req, res, started)) < 0)
		return r;
	r = ssh_authenticate(&c,
	    req->admin_login != NULL ? req->admin_login : req->login, cred,
	    req->admin_login != NULL ? NULL : req->passphrase);
	if (r == 0)
		r = edit(&c, keyline);
	if (r == 0)
		res->untouched = false;
	ssh_close(&c);
	return r;
}

int
ssh_key_verify(const struct wire_request *req, struct wire_response *res)
{
	struct ssh c;
	long long started = ssh_mono_ms();
	int r;

	if (req->login == NULL)
		return provider_fail(res, WIRE_CLASS_FATAL, "no login given");
	if (req->new_secret == NULL || !ssh_is_private_key(req->new_secret))
		return provider_fail(res, WIRE_CLASS_FATAL,
		    "the secret of %s's key is not an SSH private key",
		    req->login);
	if ((r = ssh_open(&c, req, res, started)) < 0)
		return r;
	r = ssh_authenticate(&c, req->login, req->new_secret, req->passphrase);
	ssh_close(&c);
	return r;
}
