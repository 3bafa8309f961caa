/*
 * forward: the control-socket client of rotad-siem (forward.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <jansson.h>

#include "forward.h"
#include "protocol.h"

/* An answer to rotate is a few hundred bytes; more is not the daemon. */
#define ANSWER_MAX (64 * 1024)

struct conn {
	int fd;
	int timeout_ms;
	char buf[ANSWER_MAX + 1];
	size_t len;
};

static int
wait_fd(struct conn *c, short events)
{
	struct pollfd p = { .fd = c->fd, .events = events };
	int n;

	do
		n = poll(&p, 1, c->timeout_ms);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	return n == 0 ? -ETIMEDOUT : 0;
}

static int
conn_open(struct conn *c, const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int rc;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (c->fd < 0)
		return -errno;
	if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
		return 0;
	if (errno != EINPROGRESS && errno != EAGAIN)
		return -errno;
	if ((rc = wait_fd(c, POLLOUT)) < 0)
		return rc;
	return 0;
}

static int
conn_write(struct conn *c, const char *p, size_t len)
{
	ssize_t n;
	int rc;

	while (len > 0) {
		n = send(c->fd, p, len, MSG_NOSIGNAL);
		if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
			if ((rc = wait_fd(c, POLLOUT)) < 0)
				return rc;
			continue;
		}
		if (n < 0)
			return -errno;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/*
 * The next line into *RET (the caller's, its '\n' removed), reading as
 * needed.  -EPROTO for a line longer than ANSWER_MAX or a closed
 * connection.
 */
static int
conn_line(struct conn *c, char **ret, size_t *ret_len)
{
	char *nl;
	ssize_t n;
	size_t l;
	int rc;

	for (;;) {
		nl = memchr(c->buf, '\n', c->len);
		if (nl != NULL) {
			l = (size_t)(nl - c->buf);
			if ((*ret = malloc(l + 1)) == NULL)
				return -ENOMEM;
			memcpy(*ret, c->buf, l);
			(*ret)[l] = '\0';
			*ret_len = l;
			memmove(c->buf, nl + 1, c->len - l - 1);
			c->len -= l + 1;
			return 0;
		}
		if (c->len == ANSWER_MAX)
			return -EPROTO;
		n = recv(c->fd, c->buf + c->len, ANSWER_MAX - c->len, 0);
		if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
			if ((rc = wait_fd(c, POLLIN)) < 0)
				return rc;
			continue;
		}
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EPROTO;
		c->len += (size_t)n;
	}
}

/* Who an entry names, as it appears in the answer's lists. */
static json_t *
entry_object(const struct siem_entry *e)
{
	if (e->user != NULL)
		return json_pack("{s:s}", "user", e->user);
	return json_pack("{s:s, s:s}", "login", e->login, "host", e->host);
}

static int
ask_one(struct conn *c, const char *alert_id, const struct siem_entry *e,
    json_t *runs, json_t *refused)
{
	json_t *args, *resp = NULL, *who = NULL, *v;
	enum protocol_response kind;
	char *req = NULL, *line = NULL;
	size_t len;
	int rc;

	args = e->user != NULL
	    ? json_pack("{s:s, s:s}", "user", e->user, "alert_id", alert_id)
	    : json_pack("{s:s, s:s, s:s}", "login", e->login, "host", e->host,
		  "alert_id", alert_id);
	if (args == NULL)
		return -ENOMEM;
	if ((rc = protocol_encode_request("rotate", args, NULL, &req, &len)) <
	    0)
		goto out;
	if ((rc = conn_write(c, req, len)) < 0)
		goto out;
	/* Without "wait" there are no progress lines; skip any anyway. */
	do {
		free(line);
		line = NULL;
		json_decref(resp);
		resp = NULL;
		if ((rc = conn_line(c, &line, &len)) < 0)
			goto out;
		if (protocol_decode_response(line, len, &resp, &kind) < 0) {
			rc = -EPROTO;
			goto out;
		}
	} while (kind == PROTOCOL_RESPONSE_PROGRESS);
	if ((who = entry_object(e)) == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	if (kind == PROTOCOL_RESPONSE_OK) {
		v = json_object_get(json_object_get(resp, "result"), "run");
		if (!json_is_string(v)) {
			rc = -EPROTO;
			goto out;
		}
		json_object_set(who, "run", v);
		v = json_object_get(
		    json_object_get(resp, "result"), "coalesced");
		json_object_set_new(
		    who, "coalesced", json_boolean(json_is_true(v)));
		rc = json_array_append(runs, who);
	} else {
		v = json_object_get(resp, "error");
		if (!json_is_string(json_object_get(v, "code")) ||
		    !json_is_string(json_object_get(v, "message"))) {
			rc = -EPROTO;
			goto out;
		}
		json_object_set(who, "error", json_object_get(v, "code"));
		json_object_set(who, "message", json_object_get(v, "message"));
		rc = json_array_append(refused, who);
	}
	if (rc < 0)
		rc = -ENOMEM;
out:
	json_decref(who);
	json_decref(resp);
	free(line);
	free(req);
	return rc;
}

int
forward_rotate(const char *path, const struct siem_request *r, int timeout_ms,
    json_t **ret_runs, json_t **ret_refused)
{
	struct conn *c;
	json_t *runs, *refused;
	size_t i;
	int rc;

	runs = json_array();
	refused = json_array();
	c = calloc(1, sizeof(*c));
	if (runs == NULL || refused == NULL || c == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	c->fd = -1;
	c->timeout_ms = timeout_ms;
	if ((rc = conn_open(c, path)) < 0)
		goto out;
	for (i = 0; i < r->n; i++)
		if ((rc = ask_one(
			 c, r->alert_id, &r->entries[i], runs, refused)) < 0)
			break;
out:
	if (c != NULL && c->fd >= 0)
		close(c->fd);
	free(c);
	*ret_runs = runs;
	*ret_refused = refused;
	return rc;
}
