/*
 * rotad-siem: the inbound endpoint through which a SIEM asks rotad for a
 * rotation (docs/siem.md, docs/security.md).
 *
 * A process of its own, off unless the operator runs it.  It holds no
 * store and no master key: it checks a request (size, rate, signature or
 * token, replay, body) and forwards what passes as control-protocol
 * `rotate` requests to rotad's socket, as its own uid, which control.acl
 * grants `trigger` only.  Its order, at the top of main():
 *
 *   options -> bind the TCP socket, or take the one systemd passes ->
 *   read certificate, key, HMAC key or token (each key file trusted:
 *   ours or root's, no group or other access) -> the replay cache the
 *   life before handed over, if any (activation.h) -> drop to --user ->
 *   no_new_privs -> seccomp -> only then start libmicrohttpd and read
 *   requests.
 *
 * The main thread then waits for a signal, and looks once a second at
 * its own code (/proc/self/maps, opened before the lockdown): a library
 * replaced on disk ends it once idle when systemd holds the socket, so
 * that a security update reaches the endpoint facing the network.
 *
 * libmicrohttpd runs one polling thread (epoll), and every callback runs
 * in it, one at a time: the replay cache and the rate buckets need no
 * lock.  A forward blocks that thread for at most --timeout per step,
 * which the overall rate bounds.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <microhttpd.h>
#include <openssl/crypto.h>

#include "config.h"
#include "activation.h"
#include "bucket.h"
#include "forward.h"
#include "lockdown.h"
#include "maps.h"
#include "protocol.h"
#include "secret.h"
#include "siem_auth.h"
#include "siem_request.h"

#define PATH "/v1/rotate"
#define KEY_FILE_MAX 4096
#define CERT_FILE_MAX (1024 * 1024)
#define SECRET_MIN 16
#define REPLAY_CAPACITY 4096
#define SOURCES 1024
/* Exit status: a library replaced on disk, ended once idle (activation.h). */
#define EXIT_REPLACED 3
/* How long a life that ends for an upgrade waits for its connections. */
#define DRAIN_SECONDS 30

struct options {
	const char *listen, *cert, *key, *socket, *hmac_key_file, *token_file;
	const char *user;
	long window, max_body, rate_source, rate_total, timeout;
};

/* What the request callbacks share; only the polling thread touches it. */
struct state {
	struct options o;
	struct siem_auth auth;
	struct siem_replay *replay;
	struct bucket_table *buckets;
};

/* One request's body as it arrives. */
struct call {
	char source[INET6_ADDRSTRLEN];
	char *body;
	size_t len;
	bool too_large;
	size_t dropped; /* of a body too large, the bytes not kept */
	bool done; /* answered on the first call (404, 405, 413, 429) */
};

/*
 * A body over --max-body is refused (413).  Refused on its headers, the
 * connection closes while the client may still be sending, and its
 * kernel, told the rest was never read, resets the connection: the
 * client sees a reset, not the 413, and a SIEM may retry what will never
 * pass.  So a body up to this much over the limit is read and dropped
 * first, and the 413 comes after it; one longer (a Content-Length
 * beyond, or a chunked body that reaches it) is answered at once, as is
 * one whose client waits for "100 Continue" and so sends nothing yet.
 */
#define DRAIN_MAX (1024 * 1024)

static void logf_(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
logf_(const char *fmt, ...)
{
	va_list ap;
	char line[512];

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	fprintf(stderr, "rotad-siem: %s\n", line);
}

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: rotad-siem --listen ADDR:PORT --cert FILE --key FILE\n"
	    "                  (--hmac-key-file FILE | --token-file FILE)\n"
	    "                  [--socket PATH] [--user USER] [--window "
	    "SECONDS]\n"
	    "                  [--max-body BYTES] [--rate-source N] "
	    "[--rate-total M]\n"
	    "                  [--timeout SECONDS]\n"
	    "--listen, unless started from a socket unit (LISTEN_FDS).\n");
}

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Now by CLOCK, rounded up to a whole second. */
static int64_t
now_ceil_seconds(clockid_t clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return (int64_t)ts.tv_sec + (ts.tv_nsec > 0);
}

/* ---- files ---- */

/*
 * Whether the file FD has a POSIX access ACL: its group mode bits are then
 * the ACL's mask, not the owning group's rights.
 */
static bool
has_acl(int fd)
{
	return fgetxattr(fd, "system.posix_acl_access", NULL, 0) > 0;
}

/*
 * Read PATH whole, at most MAX bytes.  With TRUSTED, it must be a regular
 * file owned by root, our uid or OWNER, with no group or other access.
 * One exception: group-class read
 * on a file with an access ACL, which is how systemd hands a credential
 * over where its credentials directory takes ACLs (root's, 0400, and an
 * entry letting the service's user read); the entries are then its
 * owner's choice, root's or ours.  0 or -errno, WHY set.
 */
static int
read_file(const char *path, size_t max, bool trusted, uid_t owner,
    struct secret **ret, char *why, size_t size)
{
	struct stat st;
	struct secret *s = NULL;
	ssize_t n;
	size_t len = 0;
	int fd, rc;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
	if (fd < 0) {
		rc = -errno;
		snprintf(why, size, "%s: %s", path, strerror(errno));
		return rc;
	}
	rc = -EPERM;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		snprintf(why, size, "%s: not a regular file", path);
		goto out;
	}
	if (trusted && st.st_uid != 0 && st.st_uid != geteuid() &&
	    st.st_uid != owner) {
		snprintf(why, size, "%s: owned by uid %u, not root or ours",
		    path, (unsigned)st.st_uid);
		goto out;
	}
	if (trusted && (st.st_mode & 077) != 0 &&
	    !((st.st_mode & 077) == 040 && has_acl(fd))) {
		snprintf(why, size,
		    "%s: mode %04o lets group or others in; chmod 600", path,
		    (unsigned)(st.st_mode & 07777));
		goto out;
	}
	if ((size_t)st.st_size > max || st.st_size == 0) {
		rc = -EFBIG;
		snprintf(
		    why, size, "%s: empty or larger than %zu bytes", path, max);
		goto out;
	}
	if ((rc = secret_new(NULL, (size_t)st.st_size + 1, &s)) < 0) {
		snprintf(why, size, "%s: out of memory", path);
		goto out;
	}
	while (len < (size_t)st.st_size) {
		n = read(
		    fd, (char *)secret_buf(s) + len, (size_t)st.st_size - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rc = n < 0 ? -errno : -EIO;
			snprintf(why, size, "%s: read failed", path);
			goto out;
		}
		len += (size_t)n;
	}
	((char *)secret_buf(s))[len] = '\0';
	*ret = s;
	s = NULL;
	rc = 0;
out:
	secret_free(s);
	close(fd);
	return rc;
}

/* The key or token of a trusted file, its final newline dropped. */
static size_t
key_length(const struct secret *s)
{
	const char *p = secret_data(s);
	size_t n = strlen(p);

	if (n > 0 && p[n - 1] == '\n')
		n--;
	if (n > 0 && p[n - 1] == '\r')
		n--;
	return n;
}

/* ---- the listening socket ---- */

static int
bind_listen(const char *spec, char *why, size_t size)
{
	struct sockaddr_storage ss;
	char host[64];
	const char *colon;
	char *end;
	long port;
	socklen_t sl;
	int fd, one = 1;

	memset(&ss, 0, sizeof(ss));
	colon = strrchr(spec, ':');
	if (colon == NULL || (size_t)(colon - spec) >= sizeof(host)) {
		snprintf(why, size, "--listen %s: ADDR:PORT", spec);
		return -EINVAL;
	}
	memcpy(host, spec, (size_t)(colon - spec));
	host[colon - spec] = '\0';
	errno = 0;
	port = strtol(colon + 1, &end, 10);
	if (*end != '\0' || colon[1] == '\0' || port < 1 || port > 65535) {
		snprintf(
		    why, size, "--listen %s: a port from 1 to 65535", spec);
		return -EINVAL;
	}
	if (host[0] == '[' && host[strlen(host) - 1] == ']') {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

		host[strlen(host) - 1] = '\0';
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		if (inet_pton(AF_INET6, host + 1, &s6->sin6_addr) != 1)
			goto bad;
		sl = sizeof(*s6);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		if (inet_pton(AF_INET, host, &s4->sin_addr) != 1)
			goto bad;
		sl = sizeof(*s4);
	}
	fd =
	    socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(fd, (struct sockaddr *)&ss, sl) < 0 || listen(fd, 64) < 0) {
		int e = errno;

		snprintf(why, size, "--listen %s: %s", spec, strerror(e));
		if (fd >= 0)
			close(fd);
		return -e;
	}
	return fd;
bad:
	snprintf(
	    why, size, "--listen %s: a numeric IPv4 or [IPv6] address", spec);
	return -EINVAL;
}

/* ---- answers ---- */

static enum MHD_Result
reply(struct MHD_Connection *conn, unsigned status, json_t *body)
{
	struct MHD_Response *r;
	enum MHD_Result ret;
	char *text;

	text = json_dumps(body, JSON_COMPACT);
	json_decref(body);
	if (text == NULL)
		return MHD_NO;
	r = MHD_create_response_from_buffer(
	    strlen(text), text, MHD_RESPMEM_MUST_FREE);
	if (r == NULL) {
		free(text);
		return MHD_NO;
	}
	MHD_add_response_header(r, "Content-Type", "application/json");
	MHD_add_response_header(r, "Cache-Control", "no-store");
	if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
		MHD_add_response_header(r, "Allow", "POST");
	ret = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return ret;
}

/* A refusal: logged (one line, no secret, no body) and answered. */
static enum MHD_Result
refuse(struct MHD_Connection *conn, const struct call *c, unsigned status,
    const char *code, const char *message)
{
	logf_("refused %u %s from %s: %s", status, code, c->source, message);
	return reply(conn, status,
	    json_pack(
		"{s:{s:s, s:s}}", "error", "code", code, "message", message));
}

static const char *
header(struct MHD_Connection *conn, const char *name)
{
	return MHD_lookup_connection_value(conn, MHD_HEADER_KIND, name);
}

/* Whether the client waits for "100 Continue" before it sends its body. */
static bool
expects_continue(struct MHD_Connection *conn)
{
	const char *e = header(conn, MHD_HTTP_HEADER_EXPECT);

	return e != NULL && strcasecmp(e, "100-continue") == 0;
}

/* The whole body is in: authenticate, parse, forward. */
static enum MHD_Result
finish(struct state *st, struct MHD_Connection *conn, struct call *c)
{
	struct siem_request req;
	unsigned char mac[SIEM_MAC_LEN];
	enum siem_auth_result ar;
	json_t *runs = NULL, *refused = NULL;
	const char *ts;
	char msg[256];
	int64_t t;
	int rc;

	if (c->too_large)
		return refuse(conn, c, MHD_HTTP_CONTENT_TOO_LARGE, "too_large",
		    "the body is larger than --max-body");
	ts = header(conn, "X-Rotad-Timestamp");
	ar = siem_auth_check(&st->auth, ts, header(conn, "X-Rotad-Signature"),
	    header(conn, "Authorization"), c->body, c->len, time(NULL), mac);
	if (ar != SIEM_AUTH_OK)
		return refuse(conn, c, MHD_HTTP_UNAUTHORIZED,
		    ar == SIEM_AUTH_STALE || ar == SIEM_AUTH_EARLY
			? "stale"
			: "unauthorized",
		    siem_auth_reason(ar));
	if (st->auth.mode == SIEM_AUTH_HMAC) {
		t = strtoll(ts, NULL, 10);
		rc = siem_replay_add(st->replay, mac, t, time(NULL));
		if (rc == -EEXIST)
			return refuse(conn, c, MHD_HTTP_CONFLICT, "replay",
			    "this signature was already used");
		if (rc < 0)
			return refuse(conn, c, MHD_HTTP_SERVICE_UNAVAILABLE,
			    "busy", "the replay cache is full; retry later");
	}
	if (siem_request_parse(c->body, c->len, &req, msg, sizeof(msg)) < 0)
		return refuse(
		    conn, c, MHD_HTTP_BAD_REQUEST, "bad_request", msg);
	rc = forward_rotate(
	    st->o.socket, &req, (int)st->o.timeout * 1000, &runs, &refused);
	if (runs == NULL || refused == NULL) {
		json_decref(runs);
		json_decref(refused);
		siem_request_free(&req);
		return refuse(conn, c, MHD_HTTP_INTERNAL_SERVER_ERROR,
		    "internal", "out of memory");
	}
	if (rc == 0 && json_array_size(runs) == 0)
		logf_("refused 422 nothing_started from %s: alert %s: rotad "
		      "refused all %zu entries",
		    c->source, req.alert_id, json_array_size(refused));
	else
		logf_("alert %s from %s: %zu started, %zu refused%s%s",
		    req.alert_id, c->source, json_array_size(runs),
		    json_array_size(refused), rc < 0 ? "; rotad: " : "",
		    rc < 0 ? strerror(-rc) : "");
	siem_request_free(&req);
	if (rc < 0)
		return reply(conn, MHD_HTTP_SERVICE_UNAVAILABLE,
		    json_pack("{s:{s:s, s:s}, s:o, s:o}", "error", "code",
			"unavailable", "message",
			"rotad could not be asked (see rotad-siem's log)",
			"runs", runs, "refused", refused));
	if (json_array_size(runs) == 0)
		return reply(conn, MHD_HTTP_UNPROCESSABLE_CONTENT,
		    json_pack("{s:{s:s, s:s}, s:o, s:o}", "error", "code",
			"nothing_started", "message",
			"rotad refused every entry", "runs", runs, "refused",
			refused));
	return reply(conn, MHD_HTTP_ACCEPTED,
	    json_pack("{s:o, s:o}", "runs", runs, "refused", refused));
}

static void
source_of(struct MHD_Connection *conn, char *buf, size_t size)
{
	const union MHD_ConnectionInfo *ci;
	const struct sockaddr *sa;

	snprintf(buf, size, "?");
	ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	if (ci == NULL || (sa = ci->client_addr) == NULL)
		return;
	if (sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr,
		    buf, (socklen_t)size);
	else if (sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6,
		    &((const struct sockaddr_in6 *)sa)->sin6_addr, buf,
		    (socklen_t)size);
}

/* The first call for a request: only its line and headers are known. */
static enum MHD_Result
start(struct state *st, struct MHD_Connection *conn, struct call *c,
    const char *url, const char *method)
{
	const char *cl;
	bool overall;
	char *end;
	unsigned long long n;

	c->done = true;
	if (!bucket_take(st->buckets, c->source, now_ms(), &overall))
		return refuse(conn, c, MHD_HTTP_TOO_MANY_REQUESTS,
		    "rate_limited",
		    overall ? "too many requests (overall)"
			    : "too many requests from this source");
	if (strcmp(url, PATH) != 0)
		return refuse(conn, c, MHD_HTTP_NOT_FOUND, "not_found",
		    "POST " PATH " is the only resource");
	if (strcmp(method, MHD_HTTP_METHOD_POST) != 0)
		return refuse(conn, c, MHD_HTTP_METHOD_NOT_ALLOWED,
		    "method_not_allowed", "only POST");
	cl = header(conn, MHD_HTTP_HEADER_CONTENT_LENGTH);
	if (cl != NULL) {
		errno = 0;
		n = strtoull(cl, &end, 10);
		if (errno != 0 || *end != '\0' ||
		    n > (unsigned long long)st->o.max_body + DRAIN_MAX ||
		    (n > (unsigned long long)st->o.max_body &&
			expects_continue(conn)))
			return refuse(conn, c, MHD_HTTP_CONTENT_TOO_LARGE,
			    "too_large", "the body is larger than --max-body");
		if (n > (unsigned long long)st->o.max_body) {
			/* Read and dropped, then refused (DRAIN_MAX). */
			c->too_large = true;
			c->done = false;
			return MHD_YES;
		}
	}
	c->body = malloc((size_t)st->o.max_body + 1);
	if (c->body == NULL)
		return refuse(conn, c, MHD_HTTP_INTERNAL_SERVER_ERROR,
		    "internal", "out of memory");
	c->done = false;
	return MHD_YES;
}

static enum MHD_Result
on_request(void *cls, struct MHD_Connection *conn, const char *url,
    const char *method, const char *version, const char *upload_data,
    size_t *upload_data_size, void **con_cls)
{
	struct state *st = cls;
	struct call *c = *con_cls;

	if (c == NULL) {
		if ((c = calloc(1, sizeof(*c))) == NULL)
			return MHD_NO;
		*con_cls = c;
		source_of(conn, c->source, sizeof(c->source));
		return start(st, conn, c, url, method);
	}
	if (c->done) {
		/* Answered already; drop whatever body still comes. */
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (*upload_data_size > 0) {
		if (!c->too_large &&
		    *upload_data_size > (size_t)st->o.max_body - c->len)
			c->too_large = true;
		if (c->too_large)
			c->dropped += *upload_data_size;
		else {
			memcpy(
			    c->body + c->len, upload_data, *upload_data_size);
			c->len += *upload_data_size;
		}
		*upload_data_size = 0;
		if (c->len + c->dropped <= (size_t)st->o.max_body + DRAIN_MAX)
			return MHD_YES;
		/* Enough read: refuse now, and let the connection close. */
	}
	c->done = true;
	return finish(st, conn, c);
}

static void
on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
    enum MHD_RequestTerminationCode toe)
{
	struct call *c = *con_cls;

	if (c == NULL)
		return;
	if (c->body != NULL)
		OPENSSL_cleanse(c->body, c->len);
	free(c->body);
	free(c);
	*con_cls = NULL;
}

/* libmicrohttpd's own messages: its format strings, not ours. */
static void mhd_log(void *cls, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

static void
mhd_log(void *cls, const char *fmt, va_list ap)
{
	char line[256];
	size_t n;

	vsnprintf(line, sizeof(line), fmt, ap);
	n = strlen(line);
	while (n > 0 && line[n - 1] == '\n')
		line[--n] = '\0';
	logf_("libmicrohttpd: %s", line);
}

/* ---- main ---- */

/*
 * What the libraries would otherwise open on their first use, after the
 * lockdown, where opening a file is refused: jansson's hash seed
 * (/dev/urandom), the time zone (the Date header), OpenSSL's
 * configuration and its HMAC implementation.
 */
static void
warm_up(const struct siem_auth *a)
{
	unsigned char mac[SIEM_MAC_LEN];

	json_object_seed(0);
	tzset();
	OPENSSL_init_crypto(OPENSSL_INIT_LOAD_CONFIG, NULL);
	(void)siem_auth_check(a, "0", "sha256=", NULL, "", 0, 0, mac);
	(void)siem_auth_check(a, "0",
	    "sha256="
	    "0000000000000000000000000000000000000000000000000000000000000000",
	    NULL, "", 0, 0, mac);
}

static int
number(const char *opt, const char *s, long lo, long hi, long *ret)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || *end != '\0' || end == s || v < lo || v > hi) {
		fprintf(stderr, "rotad-siem: --%s: a number from %ld to %ld\n",
		    opt, lo, hi);
		return -1;
	}
	*ret = v;
	return 0;
}

static int
parse_options(int argc, char **argv, struct options *o)
{
	static const struct option longopts[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "cert", required_argument, NULL, 'c' },
		{ "key", required_argument, NULL, 'k' },
		{ "socket", required_argument, NULL, 's' },
		{ "hmac-key-file", required_argument, NULL, 'H' },
		{ "token-file", required_argument, NULL, 'T' },
		{ "user", required_argument, NULL, 'u' },
		{ "window", required_argument, NULL, 'w' },
		{ "max-body", required_argument, NULL, 'm' },
		{ "rate-source", required_argument, NULL, 'r' },
		{ "rate-total", required_argument, NULL, 'R' },
		{ "timeout", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;

	*o = (struct options){ .socket = PROTOCOL_DEFAULT_SOCKET,
		.window = 300,
		.max_body = 65536,
		.rate_source = 30,
		.rate_total = 120,
		.timeout = 10 };
	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (ch) {
		case 'l':
			o->listen = optarg;
			break;
		case 'c':
			o->cert = optarg;
			break;
		case 'k':
			o->key = optarg;
			break;
		case 's':
			o->socket = optarg;
			break;
		case 'H':
			o->hmac_key_file = optarg;
			break;
		case 'T':
			o->token_file = optarg;
			break;
		case 'u':
			o->user = optarg;
			break;
		case 'w':
			if (number("window", optarg, 1, 3600, &o->window) < 0)
				return -1;
			break;
		case 'm':
			if (number("max-body", optarg, 256, 1048576,
				&o->max_body) < 0)
				return -1;
			break;
		case 'r':
			if (number("rate-source", optarg, 1, 100000,
				&o->rate_source) < 0)
				return -1;
			break;
		case 'R':
			if (number("rate-total", optarg, 1, 100000,
				&o->rate_total) < 0)
				return -1;
			break;
		case 't':
			if (number("timeout", optarg, 1, 300, &o->timeout) < 0)
				return -1;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		case 'V':
			printf("rotad-siem %s\n", ROTAD_VERSION);
			exit(0);
		default:
			usage(stderr);
			return -1;
		}
	}
	if (optind != argc || o->cert == NULL || o->key == NULL ||
	    (o->hmac_key_file == NULL) == (o->token_file == NULL)) {
		usage(stderr);
		return -1;
	}
	return 0;
}

/* "ADDR:PORT" of a listening socket, for the log. */
static void
sock_name(int fd, char *buf, size_t size)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char host[INET6_ADDRSTRLEN] = "?";
	unsigned port = 0;

	if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0) {
		if (ss.ss_family == AF_INET6) {
			struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

			inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof(host));
			port = ntohs(s6->sin6_port);
			snprintf(buf, size, "[%s]:%u", host, port);
			return;
		}
		if (ss.ss_family == AF_INET) {
			struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

			inet_ntop(AF_INET, &s4->sin_addr, host, sizeof(host));
			port = ntohs(s4->sin_port);
		}
	}
	snprintf(buf, size, "%s:%u", host, port);
}

/*
 * Wait for SIGS, looking at our own code once a second (MAPS_FD, opened
 * before the lockdown).  A library replaced on disk: with the socket
 * systemd's (ACTIVATED), stop accepting, let the connections we hold
 * finish (DRAIN_SECONDS at most), and return EXIT_REPLACED; systemd
 * starts us again (RestartForceExitStatus=), and whoever connects
 * meanwhile waits in the socket's queue.  Otherwise say so once, and go
 * on: ending would refuse every connection until someone starts us.  0
 * on a signal to stop.  *QUIESCED: the listening socket, ours again once
 * libmicrohttpd stops, or -1.
 */
static int
watch(struct MHD_Daemon *d, const sigset_t *sigs, int maps_fd, bool activated,
    int *quiesced)
{
	struct timespec tick = { 1, 0 }, short_tick = { 0, 100000000 };
	const union MHD_DaemonInfo *info;
	char file[512];
	bool replaced = false;
	int sig, i;

	for (;;) {
		sig = sigtimedwait(sigs, NULL, &tick);
		if (sig == SIGPIPE || (sig < 0 && errno == EINTR))
			continue;
		if (sig > 0)
			return 0;
		if (replaced || maps_fd < 0 ||
		    maps_fd_replaced(maps_fd, file, sizeof(file)) != 1)
			continue;
		replaced = true;
		if (!activated) {
			logf_("runs %s, replaced on disk since it started: "
			      "restart rotad-siem to run the new code",
			    file);
			continue;
		}
		logf_("runs %s, replaced on disk since it started: ending "
		      "once idle; the socket stays open for the next start",
		    file);
		if ((*quiesced = MHD_quiesce_daemon(d)) == MHD_INVALID_SOCKET) {
			*quiesced = -1;
			logf_("cannot stop accepting; going on");
			continue;
		}
		for (i = 0; i < DRAIN_SECONDS * 10; i++) {
			info = MHD_get_daemon_info(
			    d, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
			if (info == NULL || info->num_connections == 0)
				break;
			sig = sigtimedwait(sigs, NULL, &short_tick);
			if (sig > 0 && sig != SIGPIPE)
				break;
		}
		return EXIT_REPLACED;
	}
}

int
main(int argc, char **argv)
{
	struct state st;
	struct activation act = { -1, -1, 0 };
	struct secret *cert = NULL, *key = NULL, *auth = NULL;
	struct MHD_Daemon *d = NULL;
	struct passwd *pw = NULL;
	uid_t uid = getuid();
	gid_t gid = getgid();
	sigset_t sigs;
	char why[512], where[INET6_ADDRSTRLEN + 16];
	int fd = -1, maps_fd = -1, quiesced = -1, rc = 1, r;
	bool activated, keep_state = false;
	const char *bound = "this start";
	int64_t not_before;

	memset(&st, 0, sizeof(st));
	if (parse_options(argc, argv, &st.o) < 0)
		return 2;
	if (geteuid() == 0) {
		if (st.o.user == NULL) {
			logf_("refusing to run as root: name --user");
			return 1;
		}
		if ((pw = getpwnam(st.o.user)) == NULL || pw->pw_uid == 0) {
			logf_("--user %s: no such user, or root", st.o.user);
			return 1;
		}
		uid = pw->pw_uid;
		gid = pw->pw_gid;
	} else if (st.o.user != NULL) {
		logf_("--user needs root; already uid %u", (unsigned)getuid());
		return 1;
	}

	/* Acquire: the socket and every file, while we may still read them. */
	if (activation_take(&act, why, sizeof(why)) < 0) {
		logf_("%s", why);
		goto out;
	}
	activated = act.listen_fd >= 0;
	if (activated == (st.o.listen != NULL)) {
		logf_(activated ? "--listen, and a socket from systemd: name "
				  "one, not both"
				: "name --listen ADDR:PORT, or start from a "
				  "socket unit (rotad-siem.socket)");
		goto out;
	}
	/*
	 * 0.1.0's unit took the address from ROTAD_SIEM_LISTEN; a drop-in
	 * that still sets it would now be ignored, and the socket unit's
	 * 0.0.0.0 listened on instead of the address it named.  Refuse,
	 * loudly, rather than listen wider than the operator asked.
	 */
	if (activated && getenv("ROTAD_SIEM_LISTEN") != NULL) {
		logf_("ROTAD_SIEM_LISTEN is set (%.64s), but the address is "
		      "rotad-siem.socket's now: move it to ListenStream= "
		      "there (systemctl edit rotad-siem.socket) and remove "
		      "it from rotad-siem.service's drop-in",
		    getenv("ROTAD_SIEM_LISTEN"));
		goto out;
	}
	if (activated) {
		fd = act.listen_fd;
		act.listen_fd = -1;
	} else if ((fd = bind_listen(st.o.listen, why, sizeof(why))) < 0) {
		logf_("%s", why);
		goto out;
	}
	if (read_file(st.o.cert, CERT_FILE_MAX, false, uid, &cert, why,
		sizeof(why)) < 0 ||
	    read_file(st.o.key, KEY_FILE_MAX * 4, true, uid, &key, why,
		sizeof(why)) < 0 ||
	    read_file(st.o.hmac_key_file != NULL ? st.o.hmac_key_file
						 : st.o.token_file,
		KEY_FILE_MAX, true, uid, &auth, why, sizeof(why)) < 0) {
		logf_("%s", why);
		goto out;
	}
	st.auth.mode =
	    st.o.hmac_key_file != NULL ? SIEM_AUTH_HMAC : SIEM_AUTH_BEARER;
	st.auth.key = secret_data(auth);
	st.auth.key_len = key_length(auth);
	st.auth.window = st.o.window;
	if (st.auth.key_len < SECRET_MIN ||
	    memchr(st.auth.key, '\0', st.auth.key_len) != NULL) {
		logf_("%s: at least %d bytes, one line",
		    st.o.hmac_key_file != NULL ? st.o.hmac_key_file
					       : st.o.token_file,
		    SECRET_MIN);
		goto out;
	}
	if (siem_replay_new(REPLAY_CAPACITY, st.o.window, &st.replay) < 0 ||
	    bucket_table_new((unsigned)st.o.rate_source,
		(unsigned)st.o.rate_total, SOURCES, &st.buckets) < 0) {
		logf_("out of memory");
		goto out;
	}
	/* Our code, read again once a second once no file may be opened. */
	maps_fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);

	warm_up(&st.auth);

	/*
	 * The replay cache starts empty: what an earlier life of ours
	 * accepted is forgotten.  That life ended before we started (it
	 * held the port until our bind succeeded, or systemd starts us
	 * only once it is gone), so whatever it accepted was signed before
	 * now (with the SIEM's clock in step): refuse every timestamp
	 * before the first whole second from now on, and nothing need be
	 * persisted.  Unless that life handed its cache over (activation.h):
	 * then its bound holds, and what it accepted is in our cache.
	 */
	st.auth.not_before = now_ceil_seconds(CLOCK_REALTIME);
	if (st.auth.mode == SIEM_AUTH_HMAC && act.passed) {
		r = activation_load(
		    &act, st.replay, (int64_t)time(NULL), &not_before);
		if (r == 0 && not_before < st.auth.not_before) {
			st.auth.not_before = not_before;
			bound = "the bound of the life before, whose replay "
				"cache was handed over";
		} else if (r != 0 && r != -ENOENT) {
			logf_("the replay state the life before left: %s; "
			      "starting without it",
			    r == -EINVAL
				? "damaged, or kept for another --window"
				: strerror(-r));
		}
		keep_state = true;
	} else if (st.auth.mode == SIEM_AUTH_HMAC && activated &&
	    getenv("NOTIFY_SOCKET") != NULL) {
		if (activation_store(&act, why, sizeof(why)) < 0)
			logf_("%s: the next start begins without this "
			      "one's replay cache",
			    why);
		else
			keep_state = true;
	}

	/* Lock down, before the first byte of a request is read. */
	if (lockdown_drop(pw != NULL ? st.o.user : NULL, uid, gid, why,
		sizeof(why)) < 0 ||
	    lockdown_apply(why, sizeof(why)) < 0) {
		logf_("%s", why);
		goto out;
	}

	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGHUP);
	sigaddset(&sigs, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);

	sock_name(fd, where, sizeof(where));
	d = MHD_start_daemon(MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_ITC |
		MHD_USE_TLS | MHD_USE_ERROR_LOG,
	    0, NULL, NULL, on_request, &st, MHD_OPTION_EXTERNAL_LOGGER, mhd_log,
	    NULL, MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_HTTPS_MEM_CERT,
	    (const char *)secret_data(cert), MHD_OPTION_HTTPS_MEM_KEY,
	    (const char *)secret_data(key), MHD_OPTION_HTTPS_PRIORITIES,
	    "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2",
	    MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
	    MHD_OPTION_CONNECTION_LIMIT, 64u,
	    MHD_OPTION_PER_IP_CONNECTION_LIMIT, 8u,
	    MHD_OPTION_CONNECTION_TIMEOUT, 10u, MHD_OPTION_END);
	if (d == NULL) {
		logf_("cannot start the HTTPS server (certificate or key?)");
		goto out;
	}
	/* The socket is libmicrohttpd's now, until it gives it back. */
	fd = -1;
	/* The TLS key is libmicrohttpd's copy now; wipe ours. */
	secret_free(key);
	key = NULL;
	if (st.auth.mode == SIEM_AUTH_HMAC)
		logf_("listening on https://%s%s%s as uid %u, hmac "
		      "authentication; refusing timestamps before %lld (%s)",
		    where, PATH, activated ? " (socket from systemd)" : "",
		    (unsigned)uid, (long long)st.auth.not_before, bound);
	else
		logf_("listening on https://%s%s%s as uid %u, bearer "
		      "authentication",
		    where, PATH, activated ? " (socket from systemd)" : "",
		    (unsigned)uid);
	rc = watch(d, &sigs, maps_fd, activated, &quiesced);
	logf_(rc == EXIT_REPLACED ? "ending for the next start" : "stopping");
out:
	if (d != NULL) {
		MHD_stop_daemon(d);
		/* Stopped: nothing accepts more; what it accepted is cached. */
		if (keep_state &&
		    (r = activation_save(&act, st.replay, st.auth.not_before,
			 (int64_t)time(NULL))) < 0)
			logf_("cannot hand the replay cache over: %s",
			    strerror(-r));
	}
	if (fd >= 0)
		close(fd);
	if (quiesced >= 0)
		close(quiesced);
	if (maps_fd >= 0)
		close(maps_fd);
	activation_close(&act);
	siem_replay_free(st.replay);
	bucket_table_free(st.buckets);
	secret_free(auth);
	secret_free(key);
	secret_free(cert);
	return rc;
}
