/*
 * tmplwire.c: the daemon <-> template codec (tmplwire.h).
 *
 * Fixed header, then the argv area; a packet is a message, so no length
 * prefix: the socket keeps the boundaries, and a packet cut short by a
 * too-small buffer (MSG_TRUNC) or descriptors that did not all fit
 * (MSG_CTRUNC) is refused whole.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tmplwire.h"

#define VERSION 1
#define HEADER 24

static const char *const type_names[TMPLWIRE__MAX] = {
	[TMPLWIRE_START] = "START",
	[TMPLWIRE_READY] = "READY",
	[TMPLWIRE_EXITED] = "EXITED",
	[TMPLWIRE_STALE] = "STALE",
};

const char *
tmplwire_type_name(enum tmplwire_type t)
{
	if (t <= 0 || t >= TMPLWIRE__MAX)
		return "unknown";
	return type_names[t];
}

size_t
tmplwire_nfds(enum tmplwire_type type)
{
	switch (type) {
	case TMPLWIRE_START:
		return 3;
	case TMPLWIRE_READY:
		return 1;
	default:
		return 0;
	}
}

void
tmplwire_msg_clear(struct tmplwire_msg *m)
{
	if (m == NULL)
		return;
	free(m->argv);
	memset(m, 0, sizeof(*m));
}

static void
put_be(uint8_t *p, uint64_t v, int n)
{
	while (n-- > 0) {
		p[n] = (uint8_t)v;
		v >>= 8;
	}
}

static uint64_t
get_be(const uint8_t *p, int n)
{
	uint64_t v = 0;
	int i;

	for (i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

/* Whether M's fields are those its type uses (argv aside). */
static bool
fields_ok(const struct tmplwire_msg *m)
{
	switch (m->type) {
	case TMPLWIRE_START:
		return m->pid == 0 && m->status == 0;
	case TMPLWIRE_READY:
		return m->pid > 0 && m->status == 0 && m->argc == 0;
	case TMPLWIRE_EXITED:
		return m->pid > 0 && m->argc == 0;
	case TMPLWIRE_STALE:
		return m->id == 0 && m->pid == 0 && m->status == 0 &&
		    m->argc == 1;
	default:
		return false;
	}
}

int
tmplwire_encode(
    const struct tmplwire_msg *m, uint8_t *buf, size_t size, size_t *ret_len)
{
	size_t len = HEADER, i, n;

	if (!fields_ok(m) || m->argc > TMPLWIRE_ARGS_MAX)
		return -EINVAL;
	for (i = 0; i < m->argc; i++) {
		n = m->argv[i] != NULL ? strlen(m->argv[i]) : 0;
		if (n == 0 || n > TMPLWIRE_ARG_MAX)
			return -EINVAL;
		len += n + 1;
	}
	if (len > TMPLWIRE_MAX || len > size)
		return -EMSGSIZE;
	buf[0] = VERSION;
	buf[1] = (uint8_t)m->type;
	put_be(buf + 2, m->argc, 2);
	put_be(buf + 4, m->id, 8);
	put_be(buf + 12, (uint32_t)m->pid, 4);
	put_be(buf + 16, (uint32_t)m->status, 4);
	put_be(buf + 20, len - HEADER, 4);
	for (i = 0, len = HEADER; i < m->argc; i++) {
		n = strlen(m->argv[i]) + 1;
		memcpy(buf + len, m->argv[i], n);
		len += n;
	}
	*ret_len = len;
	return 0;
}

int
tmplwire_decode(const void *buf, size_t len, struct tmplwire_msg *m)
{
	const uint8_t *p = buf;
	size_t argc, area, i, n;
	char **argv, *s, *end;

	memset(m, 0, sizeof(*m));
	if (len < HEADER || len > TMPLWIRE_MAX || p[0] != VERSION)
		return -EBADMSG;
	m->type = (enum tmplwire_type)p[1];
	argc = (size_t)get_be(p + 2, 2);
	m->id = get_be(p + 4, 8);
	m->pid = (int32_t)(uint32_t)get_be(p + 12, 4);
	m->status = (int32_t)(uint32_t)get_be(p + 16, 4);
	area = (size_t)get_be(p + 20, 4);
	m->argc = argc;
	if (!fields_ok(m) || argc > TMPLWIRE_ARGS_MAX || area != len - HEADER ||
	    (argc == 0) != (area == 0)) {
		memset(m, 0, sizeof(*m));
		return -EBADMSG;
	}
	m->argc = 0;
	if (argc == 0)
		return 0;
	/* The pointers, then a copy of the area they point into. */
	argv = malloc((argc + 1) * sizeof(*argv) + area);
	if (argv == NULL) {
		memset(m, 0, sizeof(*m));
		return -ENOMEM;
	}
	s = (char *)(argv + argc + 1);
	memcpy(s, p + HEADER, area);
	end = s + area;
	for (i = 0; i < argc; i++) {
		n = strnlen(s, (size_t)(end - s));
		if (n == 0 || n == (size_t)(end - s) || n > TMPLWIRE_ARG_MAX) {
			free(argv);
			memset(m, 0, sizeof(*m));
			return -EBADMSG;
		}
		argv[i] = s;
		s += n + 1;
	}
	if (s != end) {
		free(argv);
		memset(m, 0, sizeof(*m));
		return -EBADMSG;
	}
	argv[argc] = NULL;
	m->argv = argv;
	m->argc = argc;
	return 0;
}

int
tmplwire_send(int sock, const struct tmplwire_msg *m, const int *fds)
{
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(TMPLWIRE_FDS_MAX * sizeof(int))];
	} c;
	static uint8_t buf[TMPLWIRE_MAX]; /* both sides are one thread */
	size_t len, nfds = tmplwire_nfds(m->type);
	struct iovec iov;
	struct msghdr mh;
	struct cmsghdr *h;
	int r;

	if ((r = tmplwire_encode(m, buf, sizeof(buf), &len)) < 0)
		return r;
	memset(&mh, 0, sizeof(mh));
	iov.iov_base = buf;
	iov.iov_len = len;
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	if (nfds > 0) {
		memset(&c, 0, sizeof(c));
		mh.msg_control = c.buf;
		mh.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
		h = CMSG_FIRSTHDR(&mh);
		h->cmsg_level = SOL_SOCKET;
		h->cmsg_type = SCM_RIGHTS;
		h->cmsg_len = CMSG_LEN(nfds * sizeof(int));
		memcpy(CMSG_DATA(h), fds, nfds * sizeof(int));
	}
	for (;;) {
		if (sendmsg(sock, &mh, MSG_NOSIGNAL) >= 0)
			return 0;
		if (errno != EINTR)
			return -errno;
	}
}

/* Close every descriptor of FDS and mark it -1. */
static void
close_fds(int *fds)
{
	size_t i;

	for (i = 0; i < TMPLWIRE_FDS_MAX; i++) {
		if (fds[i] >= 0)
			close(fds[i]);
		fds[i] = -1;
	}
}

int
tmplwire_recv(int sock, struct tmplwire_msg *m, int *fds)
{
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(TMPLWIRE_FDS_MAX * sizeof(int))];
	} c;
	static uint8_t buf[TMPLWIRE_MAX]; /* both sides are one thread */
	struct iovec iov;
	struct msghdr mh;
	struct cmsghdr *h;
	size_t nfds = 0, i;
	ssize_t n;
	int r;

	memset(m, 0, sizeof(*m));
	for (i = 0; i < TMPLWIRE_FDS_MAX; i++)
		fds[i] = -1;
	memset(&mh, 0, sizeof(mh));
	iov.iov_base = buf;
	iov.iov_len = sizeof(buf);
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = c.buf;
	mh.msg_controllen = sizeof(c.buf);
	do
		n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n < 0 && errno == ECONNRESET)
		return -EPIPE; /* it died with our packets unread */
	if (n < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	/* Every descriptor that came, whatever else is wrong. */
	for (h = CMSG_FIRSTHDR(&mh); h != NULL; h = CMSG_NXTHDR(&mh, h)) {
		size_t k, got;

		if (h->cmsg_level != SOL_SOCKET || h->cmsg_type != SCM_RIGHTS)
			continue;
		got = (h->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (k = 0; k < got; k++) {
			int fd;

			memcpy(&fd, CMSG_DATA(h) + k * sizeof(int), sizeof(fd));
			if (nfds < TMPLWIRE_FDS_MAX)
				fds[nfds++] = fd;
			else
				close(fd);
		}
	}
	if (n == 0 && nfds == 0)
		return -EPIPE;
	if (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) {
		close_fds(fds);
		return -EBADMSG;
	}
	if ((r = tmplwire_decode(buf, (size_t)n, m)) < 0 ||
	    nfds != tmplwire_nfds(m->type)) {
		tmplwire_msg_clear(m);
		close_fds(fds);
		return r < 0 ? r : -EBADMSG;
	}
	return 0;
}
