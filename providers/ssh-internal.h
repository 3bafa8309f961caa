/*
 * ssh-internal: what the ssh provider's two files share, and nothing else.
 *
 *   ssh.c       the connection (host key check, logins, commands) and the
 *               password: chpasswd through sudo, or passwd over a pty
 *   ssh_key.c   the SSH key: authorized_keys edited as Keeper does
 *
 * Not a module interface: only these files include it.
 */
#ifndef ROTAD_SSH_INTERNAL_H
#define ROTAD_SSH_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include <libssh2.h>

#include "wire.h"

struct secret;

#define SSH_MARGIN_MS 1000 /* the session's work ends this early */
#define SSH_MIN_MS 1000    /* and is never given less than this */
#define SSH_OUT_MAX 4096   /* what is kept of a command's output */

/* One connection to the target, for one request. */
struct ssh {
	const struct wire_request *req;
	struct wire_response *res;
	long long deadline; /* ssh_mono_ms() */
	int port;
	int fd;
	LIBSSH2_SESSION *s;
	bool unproven; /* let in by "none": no credential was asked for */
};

long long ssh_mono_ms(void);
/* Milliseconds the next blocking call may take. */
long ssh_left_ms(const struct ssh *c);
/* Whether HAY holds NEEDLE, ignoring case. */
bool ssh_has(const char *hay, const char *needle);
/* 0 when LOGIN is a plain user name ([A-Za-z0-9._@-], not starting with
 * '-' or '@'), which chpasswd, passwd and sh on the target can take as one
 * name; else RES filled (fatal) and -EIO. */
int ssh_check_login(const char *login, struct wire_response *res);
/* libssh2's last error text for C's session. */
const char *ssh_last_error(const struct ssh *c);
/* RES filled for libssh2 error RC in WHAT (transient, or fatal for a key
 * exchange that failed); -EIO. */
int ssh_session_fail(struct ssh *c, int rc, const char *what);

/* Connect to REQ's server and check its host key: 0 with C ready to log
 * in, or RES filled and -EIO (C closed). */
int ssh_open(struct ssh *c, const struct wire_request *req,
    struct wire_response *res, long long started);
void ssh_close(struct ssh *c);

/* Whether S is a private key (PEM or OpenSSH) rather than a password. */
bool ssh_is_private_key(const struct secret *s);
/* Log in as USER with CRED (a private key, with PASSPHRASE if it has one
 * (may be NULL), else a password).  0, or RES filled and -EIO. */
int ssh_authenticate(struct ssh *c, const char *user, const struct secret *cred,
    const struct secret *passphrase);

/* Open a channel, start CMD, write IN (LEN bytes, may be NULL) to its
 * stdin and close that: the channel in *RET_CH, to read and free; *RET_SENT
 * once the command started.  0, or RES filled (transient) and -EIO. */
int ssh_exec(struct ssh *c, const char *cmd, const void *in, size_t len,
    LIBSSH2_CHANNEL **ret_ch, bool *ret_sent);
/* Run CMD with INPUT on its stdin; stdout and stderr merged into OUT
 * (SSH_OUT_MAX, the end kept), the exit status into *RET; *RET_SENT once
 * it started.  0, or RES filled (transient) and -EIO. */
int ssh_run_command(struct ssh *c, const char *cmd, const struct secret *input,
    char *out, int *ret, bool *ret_sent);
/* Append LEN bytes of BUF to OUT (SSH_OUT_MAX bytes, *N of them used,
 * NUL-terminated), the end kept when it is full. */
void ssh_keep(char *out, size_t *n, const char *buf, size_t len);
/* The last non-empty line of TEXT, as one line, in OUT. */
void ssh_last_line(const char *text, char *out, size_t size);
/* A login shell that refuses commands (nologin, /bin/false). */
bool ssh_shell_refuses(int status, const char *out);

/* ssh_key.c: the request's secrets are private keys (req->private_key). */
int ssh_key_apply(const struct wire_request *req, struct wire_response *res);
int ssh_key_verify(const struct wire_request *req, struct wire_response *res);

#endif
