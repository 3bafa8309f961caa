/*
 * ssh: a Linux account's password, changed over SSH (libssh2).
 *
 * The server proves who it is before any credential leaves: every
 * connection checks the host key against the resource's known_hosts file
 * (libssh2_knownhost_checkp, "[host]:port" entries for a port other than
 * 22) or against its host_key fingerprint ("SHA256:..." as ssh-keygen -l
 * prints it), exactly one of the two.  A key that does not match, or a
 * host the file does not know, is fatal: nothing was sent, and no retry
 * will make the key right.
 *
 * With an admin (admin_login), the admin logs in with its secret (a
 * password, or a private key when the secret is a PEM or OpenSSH key)
 * and runs `sudo -n /usr/sbin/chpasswd` (plain chpasswd when the admin is
 * root), bounded by timeout(1), with "login:password" written to the
 * command's stdin: the password is never on a command line, where ps and
 * the audit log would see it.  The login must be a plain user name
 * ([A-Za-z0-9._@-], ssh_check_login()), refused before anything is sent:
 * chpasswd reads an account a line, and a login holding a line break
 * would set another account's password.  Without an admin, the login
 * changes its own password: passwd(1) over a pty, its prompts answered
 * (current, new, new) as they appear.  Verify is a fresh connection
 * logging in as the login with the candidate (password, else
 * keyboard-interactive).
 *
 * Classes: a refused login (LIBSSH2_ERROR_AUTHENTICATION_FAILED) is auth;
 * no route, a refused connection, a timeout or a lost connection is
 * transient (untouched while no command ran); a host key that does not
 * match, an admin that sudo asks for a password, or whose shell refuses
 * commands (nologin, /bin/false) is fatal; a password that PAM refuses
 * (pam_pwquality's "BAD PASSWORD", pam_unix's "too simple") is policy.
 *
 * Server-side work ends before the step's deadline (provider.h): every
 * blocking libssh2 call is bounded by the session's timeout, set to what
 * is left of the deadline less a second, and the command itself runs
 * under timeout(1) for what is left, in whole seconds, rounded down.
 * chpasswd reads one line and writes /etc/shadow atomically (lckpwdf,
 * rename), so a killed chpasswd has changed nothing.
 *
 * libssh2 keeps copies of what it sends (the password in its packet
 * buffers) and frees them unwiped, in a process that exits right after.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <libssh2.h>

#include "base64.h"
#include "catalog.h"
#include "provider.h"
#include "secret.h"
#include "ssh-internal.h"
#include "sshkey.h"

#define SSH_DEFAULT_PORT 22
#define SSH_DEFAULT_TIMEOUT 10
#define SSH_PTY_ROUNDS 16 /* prompts passwd may ask before we give up */
#define SSH_CHPASSWD "/usr/sbin/chpasswd"

/* The secret keyboard-interactive prompts are answered with (libssh2's
 * callback has no argument of ours but the session's abstract, which
 * this sets too; one session per process, so a static is as good). */
static const struct secret *kbd_secret;

long long
ssh_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Milliseconds the next blocking call may take. */
long
ssh_left_ms(const struct ssh *c)
{
	long long left = c->deadline - ssh_mono_ms() - SSH_MARGIN_MS;

	return left < SSH_MIN_MS ? SSH_MIN_MS : (long)left;
}

/* Whether HAY holds NEEDLE, ignoring case. */
bool
ssh_has(const char *hay, const char *needle)
{
	return strcasestr(hay, needle) != NULL;
}

/*
 * Whether S is a plain user name: the portable characters [A-Za-z0-9._-]
 * and '@' (SSSD's and winbind's names qualified by their domain,
 * alice@example.com), not starting with '-' or '@', at most 64.  Such a
 * name is one line of chpasswd's input, one word of a shell command and
 * one argument of sudo -u; anything else (a line break, ':', a space,
 * '$') could be read there as more than a name, or as another account.
 */
static bool
valid_login(const char *s)
{
	size_t i, n = strlen(s);

	if (n == 0 || n > 64 || s[0] == '-' || s[0] == '@')
		return false;
	for (i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '.' &&
		    s[i] != '_' && s[i] != '-' && s[i] != '@')
			return false;
	return true;
}

/* LOGIN, unless a plain user name, refused before anything is sent. */
int
ssh_check_login(const char *login, struct wire_response *res)
{
	char line[WIRE_MESSAGE_MAX / 2];

	if (login == NULL)
		return provider_fail(res, WIRE_CLASS_FATAL, "no login given");
	if (valid_login(login))
		return 0;
	provider_one_line(login, line, sizeof(line));
	return provider_fail(res, WIRE_CLASS_FATAL,
	    "login \"%s\" is not a plain user name (letters, digits, '.', "
	    "'_', '-' and '@', the last two not first), which rotad hands "
	    "to chpasswd, passwd and sh on the target: nothing was sent",
	    line);
}

/* libssh2's last error text for C's session. */
const char *
ssh_last_error(const struct ssh *c)
{
	char *msg = NULL;

	if (c->s == NULL ||
	    libssh2_session_last_error(c->s, &msg, NULL, 0) == 0 || msg == NULL)
		return "no error text";
	return msg;
}

/* The class of a libssh2 error RC outside authentication: the connection
 * is gone, or timed out, and may come back. */
int
ssh_session_fail(struct ssh *c, int rc, const char *what)
{
	char line[WIRE_MESSAGE_MAX / 2];

	provider_one_line(ssh_last_error(c), line, sizeof(line));
	return provider_fail(c->res,
	    rc == LIBSSH2_ERROR_KEX_FAILURE ? WIRE_CLASS_FATAL
					    : WIRE_CLASS_TRANSIENT,
	    "%s on %s:%d: %s%s", what, c->req->host, c->port,
	    rc == LIBSSH2_ERROR_TIMEOUT ? "timed out: " : "", line);
}

/*
 * A TCP connection to REQ's host and port within what is left of the
 * deadline, in c->fd.  0, or RES filled (transient) and -EIO.
 */
static int
tcp_connect(struct ssh *c)
{
	struct addrinfo hints, *ai = NULL, *p;
	char port[16];
	int fd = -1, err = 0, r, flags;
	socklen_t len;
	struct pollfd pfd;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	snprintf(port, sizeof(port), "%d", c->port);
	r = getaddrinfo(c->req->host, port, &hints, &ai);
	if (r != 0)
		return provider_fail(c->res, WIRE_CLASS_TRANSIENT,
		    "cannot resolve %s: %s", c->req->host, gai_strerror(r));
	for (p = ai; p != NULL; p = p->ai_next) {
		fd = socket(p->ai_family, p->ai_socktype | SOCK_CLOEXEC,
		    p->ai_protocol);
		if (fd < 0) {
			err = errno;
			continue;
		}
		flags = fcntl(fd, F_GETFL);
		(void)fcntl(fd, F_SETFL, flags | O_NONBLOCK);
		if (connect(fd, p->ai_addr, p->ai_addrlen) < 0 &&
		    errno != EINPROGRESS) {
			err = errno;
			goto next;
		}
		pfd.fd = fd;
		pfd.events = POLLOUT;
		r = poll(&pfd, 1, (int)ssh_left_ms(c));
		if (r == 0) {
			err = ETIMEDOUT;
			goto next;
		}
		len = sizeof(err);
		if (r < 0 ||
		    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) {
			err = errno;
			goto next;
		}
		if (err != 0)
			goto next;
		(void)fcntl(fd, F_SETFL, flags);
		break;
	next:
		close(fd);
		fd = -1;
	}
	freeaddrinfo(ai);
	if (fd < 0)
		return provider_fail(c->res, WIRE_CLASS_TRANSIENT,
		    "cannot connect to %s:%d: %s", c->req->host, c->port,
		    strerror(err != 0 ? err : ECONNREFUSED));
	c->fd = fd;
	return 0;
}

/* The known_hosts key type of a libssh2 host key type, 0 for none. */
static int
knownhost_type(int type)
{
	switch (type) {
	case LIBSSH2_HOSTKEY_TYPE_RSA:
		return LIBSSH2_KNOWNHOST_KEY_SSHRSA;
	case LIBSSH2_HOSTKEY_TYPE_DSS:
		return LIBSSH2_KNOWNHOST_KEY_SSHDSS;
	case LIBSSH2_HOSTKEY_TYPE_ECDSA_256:
		return LIBSSH2_KNOWNHOST_KEY_ECDSA_256;
	case LIBSSH2_HOSTKEY_TYPE_ECDSA_384:
		return LIBSSH2_KNOWNHOST_KEY_ECDSA_384;
	case LIBSSH2_HOSTKEY_TYPE_ECDSA_521:
		return LIBSSH2_KNOWNHOST_KEY_ECDSA_521;
	case LIBSSH2_HOSTKEY_TYPE_ED25519:
		return LIBSSH2_KNOWNHOST_KEY_ED25519;
	}
	return 0;
}

static const char *
hostkey_name(int type)
{
	static const char *const names[] = { "unknown", "ssh-rsa", "ssh-dss",
		"ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384",
		"ecdsa-sha2-nistp521", "ssh-ed25519" };

	return type >= 0 && type < (int)(sizeof(names) / sizeof(names[0]))
	    ? names[type]
	    : "unknown";
}

/*
 * The server's host key in OUT as ssh-keygen -l prints it:
 * "SHA256:" and the unpadded base64 of its SHA-256.  0 or -EIO.
 */
static int
fingerprint(LIBSSH2_SESSION *s, char *out, size_t size)
{
	const char *hash = libssh2_hostkey_hash(s, LIBSSH2_HOSTKEY_HASH_SHA256);
	size_t n;

	if (hash == NULL || size < 8 + base64_encoded_len(32))
		return -EIO;
	memcpy(out, "SHA256:", 7);
	n = base64_encode_raw(hash, 32, BASE64_NOPAD, out + 7);
	out[7 + n] = '\0';
	return 0;
}

/* Whether fingerprint WANT (as the job file gave it, maybe padded) is
 * GOT. */
static bool
same_fingerprint(const char *want, const char *got)
{
	size_t n = strlen(want);

	while (n > 0 && want[n - 1] == '=')
		n--;
	return strlen(got) == n && strncmp(want, got, n) == 0;
}

/*
 * Check the server's host key against the resource's known_hosts file or
 * host_key fingerprint (exactly one).  0, or RES filled (fatal, untouched:
 * nothing has been sent yet) and -EIO.
 */
static int
check_host_key(struct ssh *c)
{
	const char *file = wire_param(c->req, "known_hosts");
	const char *pin = wire_param(c->req, "host_key");
	const char *policy = wire_param(c->req, "host_key_policy");
	bool tofu = policy != NULL && strcmp(policy, "tofu") == 0;
	LIBSSH2_KNOWNHOSTS *kh = NULL;
	struct libssh2_knownhost *found = NULL;
	const char *key;
	char got[64];
	size_t len;
	int type, r;

	/* tofu: the daemon sends the key it recorded as host_key, or
	 * nothing before the first connection. */
	if (tofu ? file != NULL : (file == NULL) == (pin == NULL))
		return provider_fail(c->res, WIRE_CLASS_FATAL,
		    "the resource must give exactly one of known_hosts and "
		    "host_key, or host_key_policy: tofu alone: the server's "
		    "host key is always checked");
	key = libssh2_session_hostkey(c->s, &len, &type);
	if (key == NULL || fingerprint(c->s, got, sizeof(got)) < 0)
		return provider_fail(c->res, WIRE_CLASS_FATAL,
		    "%s:%d sent no host key rotad can check", c->req->host,
		    c->port);
	if (tofu && pin == NULL) {
		/* The first connection: the daemon records this key. */
		provider_fact(c->res, "host_key", got);
		return 0;
	}
	if (pin != NULL) {
		if (same_fingerprint(pin, got))
			return 0;
		return provider_fail(c->res, WIRE_CLASS_FATAL,
		    "host key mismatch: %s:%d presents the %s key %s, not "
		    "%s %s; nothing was sent",
		    c->req->host, c->port, hostkey_name(type), got,
		    tofu ? "the key recorded at the first connection (tofu)"
			 : "host_key",
		    pin);
	}
	kh = libssh2_knownhost_init(c->s);
	if (kh == NULL)
		return provider_fail(
		    c->res, WIRE_CLASS_TRANSIENT, "out of memory");
	r = libssh2_knownhost_readfile(
	    kh, file, LIBSSH2_KNOWNHOST_FILE_OPENSSH);
	if (r < 0) {
		r = provider_fail(c->res, WIRE_CLASS_FATAL,
		    "cannot read known_hosts %s (it must be readable by the "
		    "worker's user): %s",
		    file, ssh_last_error(c));
		goto out;
	}
	r = libssh2_knownhost_checkp(kh, c->req->host, c->port, key, len,
	    LIBSSH2_KNOWNHOST_TYPE_PLAIN | LIBSSH2_KNOWNHOST_KEYENC_RAW |
		knownhost_type(type),
	    &found);
	switch (r) {
	case LIBSSH2_KNOWNHOST_CHECK_MATCH:
		r = 0;
		break;
	case LIBSSH2_KNOWNHOST_CHECK_MISMATCH:
		r = provider_fail(c->res, WIRE_CLASS_FATAL,
		    "host key mismatch: %s:%d presents the %s key %s, which "
		    "%s does not hold for it; nothing was sent",
		    c->req->host, c->port, hostkey_name(type), got, file);
		break;
	case LIBSSH2_KNOWNHOST_CHECK_NOTFOUND:
		r = provider_fail(c->res, WIRE_CLASS_FATAL,
		    "%s holds no key for %s:%d (its %s key is %s); nothing "
		    "was sent",
		    file, c->req->host, c->port, hostkey_name(type), got);
		break;
	default:
		r = provider_fail(c->res, WIRE_CLASS_FATAL,
		    "cannot check the host key of %s:%d against %s: %s",
		    c->req->host, c->port, file, ssh_last_error(c));
		break;
	}
out:
	libssh2_knownhost_free(kh);
	return r;
}

void
ssh_close(struct ssh *c)
{
	if (c->s != NULL) {
		libssh2_session_set_timeout(c->s, SSH_MIN_MS);
		(void)libssh2_session_disconnect(c->s, "rotad: done");
		libssh2_session_free(c->s);
		c->s = NULL;
	}
	if (c->fd >= 0) {
		close(c->fd);
		c->fd = -1;
	}
}

/*
 * Connect to REQ's server and check its host key: 0 with C ready to
 * authenticate, or RES filled and -EIO (C closed).
 */
int
ssh_open(struct ssh *c, const struct wire_request *req,
    struct wire_response *res, long long started)
{
	int r;

	memset(c, 0, sizeof(*c));
	c->req = req;
	c->res = res;
	c->fd = -1;
	c->port = req->port > 0 ? req->port : SSH_DEFAULT_PORT;
	c->deadline = started +
	    (long long)(req->timeout > 0 ? req->timeout : SSH_DEFAULT_TIMEOUT) *
		1000;
	if (req->host == NULL)
		return provider_fail(res, WIRE_CLASS_FATAL, "no host given");
	if (libssh2_init(0) != 0)
		return provider_fail(
		    res, WIRE_CLASS_FATAL, "cannot initialise libssh2");
	if ((r = tcp_connect(c)) < 0)
		return r;
	c->s = libssh2_session_init_ex(NULL, NULL, NULL, NULL);
	if (c->s == NULL) {
		r = provider_fail(res, WIRE_CLASS_TRANSIENT, "out of memory");
		goto fail;
	}
	libssh2_session_set_blocking(c->s, 1);
	libssh2_session_set_timeout(c->s, ssh_left_ms(c));
	r = libssh2_session_handshake(c->s, c->fd);
	if (r < 0) {
		r = ssh_session_fail(c, r, "SSH handshake failed");
		goto fail;
	}
	if ((r = check_host_key(c)) < 0)
		goto fail;
	return 0;
fail:
	ssh_close(c);
	return r;
}

/* Whether secret S is a private key (PEM or OpenSSH format) rather than a
 * password. */
bool
ssh_is_private_key(const struct secret *s)
{
	static const char begin[] = "-----BEGIN ";
	const char *d = secret_data(s);
	size_t len = secret_len(s);

	while (len > 0 && isspace((unsigned char)*d)) {
		d++;
		len--;
	}
	return len > sizeof(begin) &&
	    memcmp(d, begin, sizeof(begin) - 1) == 0 &&
	    memmem(d, len, "PRIVATE KEY-----", 16) != NULL;
}

/* keyboard-interactive: every prompt that does not echo (a password
 * prompt) gets kbd_secret; the others get an empty answer. */
static void
kbd_answer(const char *name, int name_len, const char *instruction,
    int instruction_len, int num_prompts,
    const LIBSSH2_USERAUTH_KBDINT_PROMPT *prompts,
    LIBSSH2_USERAUTH_KBDINT_RESPONSE *responses, void **abstract)
{
	int i;

	(void)name;
	(void)name_len;
	(void)instruction;
	(void)instruction_len;
	(void)abstract;
	for (i = 0; i < num_prompts; i++) {
		size_t len = prompts[i].echo ? 0 : secret_len(kbd_secret);

		/* libssh2 frees the answers with free(). */
		responses[i].text = malloc(len + 1);
		responses[i].length = 0;
		if (responses[i].text == NULL)
			continue;
		memcpy(responses[i].text, secret_data(kbd_secret), len);
		responses[i].text[len] = '\0';
		responses[i].length = (unsigned)len;
	}
}

/* rsa_login() could not sign with the key: libssh2 tries. */
#define RSA_LOGIN_UNSUPPORTED 1

/* What rsa_sign() signs with: the key and its passphrase. */
struct rsa_signer {
	const struct secret *key;
	const struct secret *passphrase;
	int rc;
};

/* libssh2's sign callback: an rsa-sha2-256 signature (RFC 8332) of DATA
 * in *SIG, malloc'd (libssh2 frees it with its allocator, free()). */
static int
rsa_sign(LIBSSH2_SESSION *session, unsigned char **sig, size_t *sig_len,
    const unsigned char *data, size_t data_len, void **abstract)
{
	struct rsa_signer *rs = *abstract;
	uint8_t *out = NULL;
	size_t n = 0;

	(void)session;
	rs->rc = sshkey_sign_rsa(
	    rs->key, rs->passphrase, 256, data, data_len, &out, &n);
	if (rs->rc < 0)
		return -1;
	*sig = out;
	*sig_len = n;
	return 0;
}

/*
 * Log in with RSA key CRED as rsa-sha2-256 (RFC 8332): libssh2 1.10 signs
 * RSA logins only with SHA-1 ("ssh-rsa"), which OpenSSH 8.8 and later
 * refuse.  libssh2 names the algorithm after the public blob's type
 * string, so it is given the blob with "rsa-sha2-256" there (a server
 * reads that name as an RSA key: RFC 8332 section 3 sends the key as
 * ssh-rsa, but OpenSSH takes either) and this process signs.  Returns
 * libssh2's code, or LIBSSH2_ERROR_FILE when the key cannot be used.
 */
static int
rsa_login(struct ssh *c, const char *user, const struct sshkey_info *info,
    const struct secret *cred, const struct secret *passphrase)
{
	struct rsa_signer rs = { cred, passphrase, 0 };
	void *abstract = &rs;
	uint8_t *blob = NULL;
	size_t len = 0;
	int rc;

	if (sshkey_blob_retype(
		info->blob, info->bloblen, "rsa-sha2-256", &blob, &len) < 0)
		return LIBSSH2_ERROR_FILE;
	rc = libssh2_userauth_publickey(
	    c->s, user, blob, len, rsa_sign, &abstract);
	free(blob);
	if (rs.rc == -ENOTSUP)
		return RSA_LOGIN_UNSUPPORTED;
	if (rs.rc < 0)
		return LIBSSH2_ERROR_FILE;
	return rc;
}

/*
 * Log in as USER with CRED: a private key (PEM/OpenSSH) by public key,
 * else a password by "password" or, when the server offers only that,
 * "keyboard-interactive".  0, or RES filled and -EIO.
 */
int
ssh_authenticate(struct ssh *c, const char *user, const struct secret *cred,
    const struct secret *passphrase)
{
	struct secret *pass = NULL;
	struct sshkey_info info;
	char line[WIRE_MESSAGE_MAX / 2];
	const char *list;
	unsigned ulen = (unsigned)strlen(user);
	int rc;

	if (cred == NULL || secret_len(cred) == 0)
		return provider_fail(c->res, WIRE_CLASS_AUTH,
		    "no credential to log in as %s", user);
	libssh2_session_set_timeout(c->s, ssh_left_ms(c));
	memset(&info, 0, sizeof(info));
	if (ssh_is_private_key(cred) &&
	    sshkey_inspect(cred, passphrase, &info) == 0 &&
	    info.type == SSHKEY_RSA) {
		rc = rsa_login(c, user, &info, cred, passphrase);
		sshkey_info_clear(&info);
		/* An encrypted OpenSSH-format key: its KDF is libssh2's
		 * alone, so libssh2 signs (SHA-1, which the server may
		 * refuse). */
		if (rc != RSA_LOGIN_UNSUPPORTED)
			goto done;
	}
	sshkey_info_clear(&info);
	if (ssh_is_private_key(cred)) {
		/* libssh2 takes the passphrase as a C string. */
		if (passphrase != NULL && secret_cstring(passphrase, &pass) < 0)
			return provider_fail(
			    c->res, WIRE_CLASS_TRANSIENT, "out of memory");
		rc = libssh2_userauth_publickey_frommemory(c->s, user, ulen,
		    NULL, 0, secret_data(cred), secret_len(cred),
		    pass != NULL ? secret_data(pass) : NULL);
		secret_free(pass);
		goto done;
	}
	list = libssh2_userauth_list(c->s, user, ulen);
	if (list == NULL) {
		/* The server took "none": in, without the password. */
		if (libssh2_userauth_authenticated(c->s)) {
			c->unproven = true;
			return 0;
		}
		return ssh_session_fail(c, libssh2_session_last_errno(c->s),
		    "asking which logins the server allows");
	}
	if (strstr(list, "password") != NULL) {
		rc = libssh2_userauth_password_ex(c->s, user, ulen,
		    secret_data(cred), (unsigned)secret_len(cred), NULL);
	} else if (strstr(list, "keyboard-interactive") != NULL) {
		kbd_secret = cred;
		rc = libssh2_userauth_keyboard_interactive_ex(
		    c->s, user, ulen, kbd_answer);
		kbd_secret = NULL;
	} else {
		provider_one_line(list, line, sizeof(line));
		return provider_fail(c->res, WIRE_CLASS_FATAL,
		    "%s:%d offers %s no password login (only %s): the server "
		    "must allow PasswordAuthentication or "
		    "KbdInteractiveAuthentication",
		    c->req->host, c->port, user, line);
	}
done:
	if (rc == 0)
		return 0;
	if (rc == LIBSSH2_ERROR_AUTHENTICATION_FAILED ||
	    rc == LIBSSH2_ERROR_PUBLICKEY_UNVERIFIED)
		return provider_fail(c->res, WIRE_CLASS_AUTH,
		    "%s:%d refused the login of %s (authentication failed)",
		    c->req->host, c->port, user);
	if (rc == LIBSSH2_ERROR_PASSWORD_EXPIRED)
		return provider_fail(c->res, WIRE_CLASS_AUTH,
		    "the password of %s on %s:%d has expired", user,
		    c->req->host, c->port);
	if (rc == LIBSSH2_ERROR_FILE ||
	    rc == LIBSSH2_ERROR_METHOD_NOT_SUPPORTED)
		return provider_fail(c->res, WIRE_CLASS_FATAL,
		    "the private key of %s cannot be used: %s", user,
		    ssh_last_error(c));
	return ssh_session_fail(c, rc, "logging in");
}

/* Append LEN bytes of BUF to OUT (SSH_OUT_MAX, NUL-terminated), keeping
 * the end when it is full: the last lines say what went wrong. */
void
ssh_keep(char *out, size_t *n, const char *buf, size_t len)
{
	size_t drop;

	if (len >= SSH_OUT_MAX - 1) {
		buf += len - (SSH_OUT_MAX - 1);
		len = SSH_OUT_MAX - 1;
	}
	if (*n + len > SSH_OUT_MAX - 1) {
		drop = *n + len - (SSH_OUT_MAX - 1);
		memmove(out, out + drop, *n - drop);
		*n -= drop;
	}
	memcpy(out + *n, buf, len);
	*n += len;
	out[*n] = '\0';
}

/* A command on C's session, its input written (ssh-internal.h). */
int
ssh_exec(struct ssh *c, const char *cmd, const void *in, size_t len,
    LIBSSH2_CHANNEL **ret_ch, bool *ret_sent)
{
	LIBSSH2_CHANNEL *ch;
	size_t off = 0;
	ssize_t w;
	int rc;

	*ret_ch = NULL;
	libssh2_session_set_timeout(c->s, ssh_left_ms(c));
	ch = libssh2_channel_open_session(c->s);
	if (ch == NULL)
		return ssh_session_fail(
		    c, libssh2_session_last_errno(c->s), "opening a channel");
	*ret_sent = true;
	rc = libssh2_channel_exec(ch, cmd);
	if (rc < 0) {
		rc = ssh_session_fail(c, rc, "starting the command");
		goto fail;
	}
	while (in != NULL && off < len) {
		w = libssh2_channel_write(
		    ch, (const char *)in + off, len - off);
		/* The command may have exited without reading (a shell that
		 * refuses it): its answer says why. */
		if (w == LIBSSH2_ERROR_CHANNEL_CLOSED ||
		    w == LIBSSH2_ERROR_CHANNEL_EOF_SENT)
			break;
		if (w < 0) {
			rc = ssh_session_fail(
			    c, (int)w, "writing to the command");
			goto fail;
		}
		off += (size_t)w;
	}
	(void)libssh2_channel_send_eof(ch);
	*ret_ch = ch;
	return 0;
fail:
	libssh2_channel_free(ch);
	return rc;
}

/*
 * Run CMD on C's session with INPUT on its stdin (then EOF), its stdout
 * and stderr into OUT (SSH_OUT_MAX, merged), its exit status into *ret.
 * *ret_sent is set once the command has been started.  0, or -EIO with
 * RES filled (transient: the connection failed or timed out).
 */
int
ssh_run_command(struct ssh *c, const char *cmd, const struct secret *input,
    char *out, int *ret, bool *ret_sent)
{
	LIBSSH2_CHANNEL *ch;
	char buf[1024];
	size_t n = 0;
	ssize_t w;
	int rc, stream;

	out[0] = '\0';
	*ret = -1;
	rc = ssh_exec(c, cmd, input != NULL ? secret_data(input) : NULL,
	    input != NULL ? secret_len(input) : 0, &ch, ret_sent);
	if (rc < 0)
		return rc;
	for (stream = 0; stream <= 1; stream++) {
		for (;;) {
			w = libssh2_channel_read_ex(
			    ch, stream, buf, sizeof(buf));
			if (w == 0)
				break;
			if (w < 0) {
				rc = ssh_session_fail(
				    c, (int)w, "reading the command's output");
				goto out;
			}
			ssh_keep(out, &n, buf, (size_t)w);
		}
	}
	(void)libssh2_channel_close(ch);
	(void)libssh2_channel_wait_closed(ch);
	*ret = libssh2_channel_get_exit_status(ch);
	rc = 0;
out:
	libssh2_channel_free(ch);
	explicit_bzero(buf, sizeof(buf));
	return rc;
}

/* Whether TEXT holds one of WORDS (NULL-terminated), ignoring case. */
static bool
has_any(const char *text, const char *const *words)
{
	size_t i;

	for (i = 0; words[i] != NULL; i++)
		if (ssh_has(text, words[i]))
			return true;
	return false;
}

/* What a PAM module or passwd says when it refuses a new password. */
static bool
policy_refusal(const char *text)
{
	static const char *const words[] = {
		"BAD PASSWORD",
		"too simple",
		"too short",
		"too similar",
		"too long",
		"longer password",
		"palindrome",
		"case changes only",
		"already used",
		"same as the old",
		"is a dictionary",
		"dictionary word",
		"password unchanged",
		"must wait longer",
		"fewer than",
		"not enough",
		"less than",
		NULL,
	};

	return has_any(text, words);
}

/* The last non-empty line of TEXT, one line, in OUT. */
void
ssh_last_line(const char *text, char *out, size_t size)
{
	char tmp[SSH_OUT_MAX];
	size_t n;
	char *p;

	snprintf(tmp, sizeof(tmp), "%s", text);
	n = strlen(tmp);
	while (n > 0 && isspace((unsigned char)tmp[n - 1]))
		tmp[--n] = '\0';
	p = strrchr(tmp, '\n');
	provider_one_line(p != NULL ? p + 1 : tmp, out, size);
}

/* A login shell that refuses commands (nologin, /bin/false): exit 1 and
 * nologin's text, or nothing at all. */
bool
ssh_shell_refuses(int status, const char *out)
{
	const char *p;

	if (status != 1)
		return false;
	if (ssh_has(out, "currently not available") ||
	    ssh_has(out, "not allowed to log in") || ssh_has(out, "nologin"))
		return true;
	for (p = out; *p != '\0'; p++)
		if (!isspace((unsigned char)*p))
			return false;
	return true;
}

/*
 * The answer to chpasswd's (or sudo's, or the shell's) exit STATUS and
 * output OUT, for LOGIN set by ADMIN.  When the command ran to its end
 * and said no, nothing was changed: untouched.  That holds because
 * chpasswd was given exactly one well-formed line (check_request(): a
 * plain user name, a password without a line break or NUL), and chpasswd
 * changes nothing for a line it refuses.  With more lines it applies the
 * others, and untouched would be a lie.
 */
static int
chpasswd_result(struct ssh *c, const char *admin, const char *login, int status,
    const char *out)
{
	char line[WIRE_MESSAGE_MAX / 2];
	struct wire_response *res = c->res;

	if (status == 0)
		return 0;
	ssh_last_line(out, line, sizeof(line));
	res->untouched = true;
	if (ssh_shell_refuses(status, out))
		return provider_fail(res, WIRE_CLASS_FATAL,
		    "the login shell of admin %s on %s refuses commands "
		    "(nologin or /bin/false: \"%s\"): the admin needs a real "
		    "shell such as /bin/sh to run chpasswd",
		    admin, c->req->host, line);
	if (ssh_has(out, "sudo: a password is required") ||
	    ssh_has(out, "not in the sudoers") ||
	    ssh_has(out, "not allowed to") ||
	    ssh_has(out, "may not run sudo") ||
	    ssh_has(out, "a terminal is required"))
		return provider_fail(res, WIRE_CLASS_FATAL,
		    "sudo on %s will not run chpasswd for %s without a "
		    "password (\"%s\"): add the sudoers line \"%s "
		    "ALL=(root) NOPASSWD: " SSH_CHPASSWD "\"",
		    c->req->host, admin, line, admin);
	if (status == 127 || ssh_has(out, "command not found"))
		return provider_fail(res, WIRE_CLASS_FATAL,
		    "%s has no sudo or " SSH_CHPASSWD " (\"%s\")", c->req->host,
		    line);
	if (status == 124) {
		res->untouched = false; /* killed midway: who knows */
		return provider_fail(res, WIRE_CLASS_TRANSIENT,
		    "chpasswd on %s did not finish in time", c->req->host);
	}
	if (policy_refusal(out))
		return provider_fail(res, WIRE_CLASS_POLICY,
		    "%s refused the new password of %s: %s", c->req->host,
		    login, line);
	return provider_fail(res, WIRE_CLASS_FATAL,
	    "chpasswd on %s failed for %s (exit %d): %s", c->req->host, login,
	    status, line);
}

/*
 * The admin sets LOGIN's password: "login:new\n" on the stdin of
 * `timeout N sudo -n /usr/sbin/chpasswd` (no sudo for root), one line
 * (check_request() made sure).
 */
static int
admin_reset(struct ssh *c)
{
	const struct wire_request *req = c->req;
	struct secret *line = NULL;
	char cmd[128], out[SSH_OUT_MAX];
	size_t llen = strlen(req->login), plen = secret_len(req->new_secret);
	bool sent = false;
	long secs;
	int status, r;

	r = secret_new(NULL, llen + 1 + plen + 1, &line);
	if (r < 0)
		return provider_fail(
		    c->res, WIRE_CLASS_TRANSIENT, "out of memory");
	memcpy(secret_buf(line), req->login, llen);
	((char *)secret_buf(line))[llen] = ':';
	memcpy((char *)secret_buf(line) + llen + 1,
	    secret_data(req->new_secret), plen);
	((char *)secret_buf(line))[llen + 1 + plen] = '\n';
	/* The command must be over before the session's last call gives
	 * up: what is left, less the margin, in whole seconds. */
	secs = (ssh_left_ms(c) - SSH_MARGIN_MS) / 1000;
	if (secs < 1)
		secs = 1;
	snprintf(cmd, sizeof(cmd), "timeout %ld %s" SSH_CHPASSWD, secs,
	    strcmp(req->admin_login, "root") == 0 ? "" : "sudo -n ");
	r = ssh_run_command(c, cmd, line, out, &status, &sent);
	secret_free(line);
	if (r < 0) {
		c->res->untouched = !sent;
		goto out;
	}
	r = chpasswd_result(c, req->admin_login, req->login, status, out);
out:
	explicit_bzero(out, sizeof(out));
	return r;
}

/* ---- self-change: passwd over a pty ---- */

enum prompt {
	PROMPT_NONE,    /* not (yet) a question */
	PROMPT_CURRENT, /* the current password */
	PROMPT_NEW,     /* the new one */
	PROMPT_RETYPE,  /* the new one again */
};

/*
 * What the last line of TEXT asks, if it is a password prompt: a line
 * that ends in ':' (spaces aside) and names a password.  Covers shadow's
 * and PAM's wordings ("Current password:", "(current) UNIX password:",
 * "New password:", "Enter new UNIX password:", "Retype new password:",
 * "Re-enter new password:"), SSSD's pam_sss ("Current Password:", "New
 * Password:", "Reenter new Password:") and SUSE's pam_unix2 ("Reenter
 * New Password:"); a bare "Password:" is the current one.
 */
static enum prompt
prompt_of(const char *text)
{
	static const char *const again[] = { "retype", "re-type", "re-enter",
		"reenter", "again", "repeat", "confirm", "verify", NULL };
	const char *start;
	size_t n = strlen(text);
	char line[256];

	while (n > 0 && (text[n - 1] == ' ' || text[n - 1] == '\t'))
		n--;
	if (n == 0 || text[n - 1] != ':')
		return PROMPT_NONE;
	start = text + n;
	while (start > text && start[-1] != '\n' && start[-1] != '\r')
		start--;
	snprintf(line, sizeof(line), "%.*s", (int)(text + n - start), start);
	if (!ssh_has(line, "password"))
		return PROMPT_NONE;
	if (has_any(line, again))
		return PROMPT_RETYPE;
	if (ssh_has(line, "current") || ssh_has(line, "old"))
		return PROMPT_CURRENT;
	if (ssh_has(line, "new"))
		return PROMPT_NEW;
	return PROMPT_CURRENT;
}

/*
 * What passwd asks in TEXT, all it wrote since our last answer, which
 * was to LAST (PROMPT_NONE before any).  A "new password" prompt right
 * after the new password was typed, with nothing but blanks before it,
 * is the retype in a wording prompt_of() does not know: a module that
 * refuses a password says why before it asks again ("BAD PASSWORD: ...",
 * "You must choose a longer password").  Were it a silent second ask,
 * the same password is typed again and the retype prompt that follows
 * is taken as the refusal, as before.
 */
static enum prompt
prompt_after(const char *text, enum prompt last)
{
	enum prompt p = prompt_of(text);

	if (p != PROMPT_NEW || last != PROMPT_NEW)
		return p;
	text += strspn(text, " \t\r\n");
	return strpbrk(text, "\r\n") == NULL ? PROMPT_RETYPE : p;
}

/* Write S and a carriage return (the Enter of a terminal) to CH. */
static int
type_line(LIBSSH2_CHANNEL *ch, const struct secret *s)
{
	const char *d = secret_data(s);
	size_t off = 0, len = secret_len(s);
	ssize_t w;

	while (off < len) {
		w = libssh2_channel_write(ch, d + off, len - off);
		if (w < 0)
			return (int)w;
		off += (size_t)w;
	}
	w = libssh2_channel_write(ch, "\r", 1);
	return w < 0 ? (int)w : 0;
}

/* Whether secret S can be typed on a terminal: no control character,
 * which the line discipline would take as an edit (^U, ^W, ^C, ...). */
static bool
typeable(const struct secret *s)
{
	const unsigned char *d = secret_data(s);
	size_t i;

	for (i = 0; i < secret_len(s); i++)
		if (d[i] < 0x20 || d[i] == 0x7f)
			return false;
	return true;
}

/*
 * The login changes its own password: `passwd` on a pty, in the C
 * locale, its prompts answered as they come (current, new, new).  A
 * second "new password" prompt means the first was refused (pam_unix
 * and pam_pwquality ask again): the channel is closed, which ends passwd
 * with nothing changed.
 */
static int
self_change(struct ssh *c)
{
	const struct wire_request *req = c->req;
	LIBSSH2_CHANNEL *ch = NULL;
	char out[SSH_OUT_MAX], buf[512], line[WIRE_MESSAGE_MAX / 2];
	size_t n = 0, since = 0;
	bool gave_current = false, gave_new = false, gave_retype = false;
	enum prompt p, last = PROMPT_NONE;
	ssize_t w;
	int rounds = 0, r, status;

	out[0] = '\0';
	if (!typeable(req->new_secret) || !typeable(req->current))
		return provider_fail(c->res, WIRE_CLASS_POLICY,
		    "a password with control characters cannot be typed to "
		    "passwd");
	libssh2_session_set_timeout(c->s, ssh_left_ms(c));
	ch = libssh2_channel_open_session(c->s);
	if (ch == NULL)
		return ssh_session_fail(
		    c, libssh2_session_last_errno(c->s), "opening a channel");
	r = libssh2_channel_request_pty(ch, "dumb");
	if (r < 0) {
		r = ssh_session_fail(c, r, "asking for a terminal");
		goto out;
	}
	c->res->untouched = false;
	r = libssh2_channel_exec(ch, "env LC_ALL=C LANG=C passwd");
	if (r < 0) {
		r = ssh_session_fail(c, r, "starting passwd");
		goto out;
	}
	for (;;) {
		w = libssh2_channel_read(ch, buf, sizeof(buf));
		if (w == 0)
			break; /* passwd is done */
		if (w < 0) {
			ssh_last_line(out + since, line, sizeof(line));
			r = ssh_session_fail(c, (int)w,
			    w == LIBSSH2_ERROR_TIMEOUT
				? "passwd asked nothing rotad understands"
				: "reading from passwd");
			/* Nothing typed after the last question: unchanged. */
			c->res->untouched = !gave_retype;
			if (w == LIBSSH2_ERROR_TIMEOUT && !gave_retype)
				snprintf(c->res->message,
				    sizeof(c->res->message),
				    "passwd on %s asked nothing rotad "
				    "understands before the deadline: "
				    "\"%s\"",
				    req->host, line);
			goto out;
		}
		ssh_keep(out, &n, buf, (size_t)w);
		if (since > n)
			since = 0;
		p = prompt_after(out + since, last);
		if (p == PROMPT_NONE)
			continue;
		if (++rounds > SSH_PTY_ROUNDS ||
		    (p == PROMPT_CURRENT && gave_current) ||
		    (p == PROMPT_NEW && gave_new) ||
		    (p == PROMPT_RETYPE && (!gave_new || gave_retype)))
			break; /* asked again: refused */
		r = type_line(
		    ch, p == PROMPT_CURRENT ? req->current : req->new_secret);
		if (r < 0) {
			r = ssh_session_fail(c, r, "answering passwd");
			c->res->untouched = !gave_retype;
			goto out;
		}
		gave_current |= p == PROMPT_CURRENT;
		gave_new |= p == PROMPT_NEW;
		gave_retype |= p == PROMPT_RETYPE;
		last = p;
		since = n;
	}
	(void)libssh2_channel_close(ch);
	(void)libssh2_channel_wait_closed(ch);
	status = libssh2_channel_get_exit_status(ch);
	if (w == 0 && status == 0 && gave_retype) {
		r = 0;
		goto out;
	}
	/* passwd said no, or asked again: it changed nothing. */
	c->res->untouched = true;
	ssh_last_line(out, line, sizeof(line));
	if (ssh_shell_refuses(w == 0 ? status : 1, out))
		r = provider_fail(c->res, WIRE_CLASS_FATAL,
		    "the login shell of %s on %s refuses commands (\"%s\"): a "
		    "self-change needs a real shell, or use an admin",
		    req->login, req->host, line);
	else if (policy_refusal(out) || (w != 0 && gave_new))
		r = provider_fail(c->res, WIRE_CLASS_POLICY,
		    "passwd on %s refused the new password of %s: %s",
		    req->host, req->login, line);
	else if (ssh_has(out, "Authentication failure") ||
	    ssh_has(out, "authentication token manipulation") ||
	    (w != 0 && gave_current))
		r = provider_fail(c->res, WIRE_CLASS_AUTH,
		    "passwd on %s refused the current password of %s: %s",
		    req->host, req->login, line);
	else
		r = provider_fail(c->res, WIRE_CLASS_FATAL,
		    "passwd on %s failed for %s (exit %d): %s", req->host,
		    req->login, status, line);
out:
	libssh2_channel_free(ch);
	explicit_bzero(out, sizeof(out));
	explicit_bzero(buf, sizeof(buf));
	return r;
}

/* The checks every operation makes before it connects.  0, or -EIO. */
static int
check_request(const struct wire_request *req, struct wire_response *res)
{
	const struct secret *s = req->new_secret;

	int r;

	/* A login with a line break would make chpasswd's one line two,
	 * the second setting another account's password. */
	if ((r = ssh_check_login(req->login, res)) < 0)
		return r;
	if (s == NULL || secret_len(s) == 0 ||
	    memchr(secret_data(s), '\0', secret_len(s)) != NULL ||
	    memchr(secret_data(s), '\n', secret_len(s)) != NULL ||
	    memchr(secret_data(s), '\r', secret_len(s)) != NULL)
		return provider_fail(res, WIRE_CLASS_POLICY,
		    "the new password is empty or holds a NUL or a line "
		    "break, which chpasswd and passwd cannot take");
	return 0;
}

static int
ssh_apply(const struct wire_request *req, struct wire_response *res)
{
	struct ssh c;
	long long started = ssh_mono_ms();
	const char *user;
	const struct secret *cred;
	int r;

	if (req->private_key)
		return ssh_key_apply(req, res);
	/* Until a command runs on the target nothing can change there. */
	res->untouched = true;
	if ((r = check_request(req, res)) < 0)
		return r;
	user = req->admin_login != NULL ? req->admin_login : req->login;
	cred = req->admin_login != NULL ? req->admin : req->current;
	if (cred == NULL)
		return provider_fail(res, WIRE_CLASS_FATAL, "%s",
		    req->admin_login != NULL
			? "no admin credential given"
			: "no current password given for a self-change");
	if ((r = ssh_open(&c, req, res, started)) < 0)
		return r;
	if ((r = ssh_authenticate(&c, user, cred, NULL)) < 0)
		goto out;
	r = req->admin_login != NULL ? admin_reset(&c) : self_change(&c);
out:
	if (r == 0)
		res->untouched = false;
	ssh_close(&c);
	return r;
}

static int
ssh_verify(const struct wire_request *req, struct wire_response *res)
{
	struct ssh c;
	long long started = ssh_mono_ms();
	int r;

	if (req->private_key)
		return ssh_key_verify(req, res);
	if (req->login == NULL)
		return provider_fail(res, WIRE_CLASS_FATAL, "no login given");
	if ((r = ssh_open(&c, req, res, started)) < 0)
		return r;
	r = ssh_authenticate(&c, req->login, req->new_secret, NULL);
	/* A login that never asked for the password proves nothing of it
	 * (PermitEmptyPasswords and an empty one, or an appliance that
	 * asks in its shell): not a verified candidate. */
	if (r == 0 && c.unproven)
		r = provider_fail(res, WIRE_CLASS_FATAL,
		    "%s:%d let %s in without asking for a password, so a "
		    "login there cannot show which password works (an "
		    "account without a password, PermitEmptyPasswords?)",
		    req->host, c.port, req->login);
	ssh_close(&c);
	return r;
}

const struct provider provider_ssh = {
	.name = "ssh",
	.apply = ssh_apply,
	.verify = ssh_verify,
};
