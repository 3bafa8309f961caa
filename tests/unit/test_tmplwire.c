/*
 * test_tmplwire: the daemon <-> template codec (proto/tmplwire.c): each
 * message round trips, what the contract refuses is refused, and over a
 * real SOCK_SEQPACKET pair each type carries its own number of
 * descriptors and no other (a wrong count is refused, its fds closed).
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "tmplwire.h"

static uint8_t buf[TMPLWIRE_MAX];

static struct tmplwire_msg
roundtrip(const struct tmplwire_msg *m)
{
	struct tmplwire_msg d;
	size_t len;

	assert_int_equal(tmplwire_encode(m, buf, sizeof(buf), &len), 0);
	assert_int_equal(tmplwire_decode(buf, len, &d), 0);
	return d;
}

static void
test_roundtrip(void **state)
{
	char *argv[] = { "--provider", "postgresql", "--user", "nobody", NULL };
	struct tmplwire_msg m = { 0 }, d;

	(void)state;
	m.type = TMPLWIRE_START;
	m.id = 0x0102030405060708ULL;
	m.argv = argv;
	m.argc = 4;
	d = roundtrip(&m);
	assert_int_equal(d.type, TMPLWIRE_START);
	assert_true(d.id == m.id);
	assert_int_equal(d.argc, 4);
	assert_string_equal(d.argv[1], "postgresql");
	assert_null(d.argv[4]);
	tmplwire_msg_clear(&d);

	memset(&m, 0, sizeof(m));
	m.type = TMPLWIRE_READY;
	m.id = 7;
	m.pid = 4242;
	d = roundtrip(&m);
	assert_int_equal(d.type, TMPLWIRE_READY);
	assert_int_equal(d.pid, 4242);
	assert_null(d.argv);

	m.type = TMPLWIRE_EXITED;
	m.status = 0x0900; /* exit 9; and a signal's word below */
	d = roundtrip(&m);
	assert_int_equal(d.status, 0x0900);
	m.status = 9;
	d = roundtrip(&m);
	assert_int_equal(d.status, 9);

	/* A START with no argument at all is well formed. */
	memset(&m, 0, sizeof(m));
	m.type = TMPLWIRE_START;
	d = roundtrip(&m);
	assert_int_equal(d.argc, 0);

	/* A STALE names the file replaced. */
	memset(&m, 0, sizeof(m));
	m.type = TMPLWIRE_STALE;
	m.argv = argv + 1;
	m.argc = 1;
	d = roundtrip(&m);
	assert_int_equal(d.type, TMPLWIRE_STALE);
	assert_int_equal(d.argc, 1);
	assert_string_equal(d.argv[0], "postgresql");
	assert_null(d.argv[1]);
	assert_string_equal(tmplwire_type_name(d.type), "STALE");
	tmplwire_msg_clear(&d);
}

static void
test_encode_refuses(void **state)
{
	static char long_arg[TMPLWIRE_ARG_MAX + 2];
	char *empty[] = { "", NULL }, *toolong[] = { long_arg, NULL };
	char *many[TMPLWIRE_ARGS_MAX + 2];
	struct tmplwire_msg m = { 0 };
	size_t len, i;

	(void)state;
	memset(long_arg, 'a', sizeof(long_arg) - 1);
	m.type = TMPLWIRE_START;
	m.argv = empty;
	m.argc = 1;
	assert_int_equal(tmplwire_encode(&m, buf, sizeof(buf), &len), -EINVAL);
	m.argv = toolong;
	assert_int_equal(tmplwire_encode(&m, buf, sizeof(buf), &len), -EINVAL);
	for (i = 0; i < TMPLWIRE_ARGS_MAX + 1; i++)
		many[i] = "x";
	many[i] = NULL;
	m.argv = many;
	m.argc = TMPLWIRE_ARGS_MAX + 1;
	assert_int_equal(tmplwire_encode(&m, buf, sizeof(buf), &len), -EINVAL);
	m.argc = 1;
	assert_int_equal(tmplwire_encode(&m, buf, 10, &len), -EMSGSIZE);
	/* Fields a type does not use. */
	m.pid = 3;
	assert_int_equal(tmplwire_encode(&m, buf, sizeof(buf), &len), -EINVAL);
	memset(&m, 0, sizeof(m));
	m.type = TMPLWIRE_READY; /* no pid */
	assert_int_equal(tmplwire_encode(&m, buf, sizeof(buf), &len), -EINVAL);
	m.type = (enum tmplwire_type)9;
	m.pid = 1;
	assert_int_equal(tmplwire_encode(&m, buf, sizeof(buf), &len), -EINVAL);
	/* A STALE names one file: not none, not two; and no id or pid. */
	memset(&m, 0, sizeof(m));
	m.type = TMPLWIRE_STALE;
	assert_int_equal(tmplwire_encode(&m, buf, sizeof(buf), &len), -EINVAL);
	m.argv = many;
	m.argc = 2;
	assert_int_equal(tmplwire_encode(&m, buf, sizeof(buf), &len), -EINVAL);
	m.argc = 1;
	m.pid = 1;
	assert_int_equal(tmplwire_encode(&m, buf, sizeof(buf), &len), -EINVAL);
	m.pid = 0;
	m.id = 1;
	assert_int_equal(tmplwire_encode(&m, buf, sizeof(buf), &len), -EINVAL);
	m.id = 0;
	assert_int_equal(tmplwire_encode(&m, buf, sizeof(buf), &len), 0);
}

static void
test_decode_refuses(void **state)
{
	char *argv[] = { "ab", "c", NULL };
	struct tmplwire_msg m = { 0 }, d;
	uint8_t copy[64];
	size_t len;

	(void)state;
	m.type = TMPLWIRE_START;
	m.id = 1;
	m.argv = argv;
	m.argc = 2;
	assert_int_equal(tmplwire_encode(&m, buf, sizeof(buf), &len), 0);
	assert_int_equal(len, 24 + 5);
	memcpy(copy, buf, len);

	/* Short, or one byte more than its area. */
	assert_int_equal(tmplwire_decode(copy, 23, &d), -EBADMSG);
	assert_int_equal(tmplwire_decode(copy, len - 1, &d), -EBADMSG);
	copy[len] = 'x';
	assert_int_equal(tmplwire_decode(copy, len + 1, &d), -EBADMSG);
	/* Another version, another type. */
	copy[0] = 2;
	assert_int_equal(tmplwire_decode(copy, len, &d), -EBADMSG);
	copy[0] = 1;
	copy[1] = 9;
	assert_int_equal(tmplwire_decode(copy, len, &d), -EBADMSG);
	copy[1] = TMPLWIRE_START;
	/* Its last string without its NUL; an empty string; one too few
	 * strings for argc, one too many. */
	copy[len - 1] = 'd';
	assert_int_equal(tmplwire_decode(copy, len, &d), -EBADMSG);
	copy[len - 1] = '\0';
	copy[24] = '\0';
	assert_int_equal(tmplwire_decode(copy, len, &d), -EBADMSG);
	copy[24] = 'a';
	copy[3] = 3;
	assert_int_equal(tmplwire_decode(copy, len, &d), -EBADMSG);
	copy[3] = 1;
	assert_int_equal(tmplwire_decode(copy, len, &d), -EBADMSG);
	copy[3] = 2;
	assert_int_equal(tmplwire_decode(copy, len, &d), 0);
	tmplwire_msg_clear(&d);
	/* A READY with arguments, an EXITED without a pid. */
	copy[1] = TMPLWIRE_READY;
	copy[15] = 1;
	assert_int_equal(tmplwire_decode(copy, len, &d), -EBADMSG);
	memset(&m, 0, sizeof(m));
	m.type = TMPLWIRE_EXITED;
	m.pid = 5;
	assert_int_equal(tmplwire_encode(&m, copy, sizeof(copy), &len), 0);
	copy[15] = 0;
	assert_int_equal(tmplwire_decode(copy, len, &d), -EBADMSG);
	/* A STALE with two strings, or with none. */
	memset(&m, 0, sizeof(m));
	m.type = TMPLWIRE_START;
	m.argv = argv;
	m.argc = 2;
	assert_int_equal(tmplwire_encode(&m, copy, sizeof(copy), &len), 0);
	copy[1] = TMPLWIRE_STALE;
	assert_int_equal(tmplwire_decode(copy, len, &d), -EBADMSG);
	copy[3] = 1; /* argc 1, but the area holds two strings */
	assert_int_equal(tmplwire_decode(copy, len, &d), -EBADMSG);
	memset(&m, 0, sizeof(m));
	m.type = TMPLWIRE_START;
	assert_int_equal(tmplwire_encode(&m, copy, sizeof(copy), &len), 0);
	copy[1] = TMPLWIRE_STALE;
	assert_int_equal(tmplwire_decode(copy, len, &d), -EBADMSG);
}

/* Whether FD is open and close-on-exec. */
static bool
open_cloexec(int fd)
{
	int flags = fcntl(fd, F_GETFD);

	return flags >= 0 && (flags & FD_CLOEXEC);
}

static void
test_socket(void **state)
{
	char *argv[] = { "--provider", "test", NULL };
	struct tmplwire_msg m = { 0 }, d;
	int sv[2], p[2], fds[TMPLWIRE_FDS_MAX], three[3], i;

	(void)state;
	assert_int_equal(
	    socketpair(
		AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv),
	    0);
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	assert_int_equal(tmplwire_recv(sv[1], &d, fds), -EAGAIN);

	/* A START with its three. */
	m.type = TMPLWIRE_START;
	m.id = 3;
	m.argv = argv;
	m.argc = 2;
	three[0] = p[0];
	three[1] = p[1];
	three[2] = 2;
	assert_int_equal(tmplwire_send(sv[0], &m, three), 0);
	assert_int_equal(tmplwire_recv(sv[1], &d, fds), 0);
	assert_int_equal(d.type, TMPLWIRE_START);
	assert_string_equal(d.argv[1], "test");
	for (i = 0; i < 3; i++) {
		assert_true(fds[i] > 2 && fds[i] != p[0] && fds[i] != p[1]);
		assert_true(open_cloexec(fds[i]));
		close(fds[i]);
	}
	tmplwire_msg_clear(&d);

	/* A READY with its pidfd (any fd does, here). */
	memset(&m, 0, sizeof(m));
	m.type = TMPLWIRE_READY;
	m.id = 4;
	m.pid = 99;
	assert_int_equal(tmplwire_send(sv[0], &m, &p[0]), 0);
	assert_int_equal(tmplwire_recv(sv[1], &d, fds), 0);
	assert_true(fds[0] > 2 && fds[1] == -1);
	close(fds[0]);

	/* The wrong number of fds for the type: refused, and closed. */
	m.type = TMPLWIRE_EXITED;
	assert_int_equal(tmplwire_send(sv[0], &m, NULL), 0);
	assert_int_equal(tmplwire_recv(sv[1], &d, fds), 0); /* none: fine */
	{
		/* An EXITED sent by hand with an fd. */
		union {
			struct cmsghdr h;
			char b[CMSG_SPACE(sizeof(int))];
		} c;
		struct iovec iov;
		struct msghdr mh;
		size_t len;

		assert_int_equal(
		    tmplwire_encode(&m, buf, sizeof(buf), &len), 0);
		memset(&mh, 0, sizeof(mh));
		memset(&c, 0, sizeof(c));
		iov.iov_base = buf;
		iov.iov_len = len;
		mh.msg_iov = &iov;
		mh.msg_iovlen = 1;
		mh.msg_control = c.b;
		mh.msg_controllen = sizeof(c.b);
		c.h.cmsg_level = SOL_SOCKET;
		c.h.cmsg_type = SCM_RIGHTS;
		c.h.cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(&c.h), &p[0], sizeof(int));
		assert_true(sendmsg(sv[0], &mh, 0) == (ssize_t)len);
		assert_int_equal(tmplwire_recv(sv[1], &d, fds), -EBADMSG);
		assert_int_equal(fds[0], -1);
	}

	/* The peer gone. */
	close(sv[0]);
	assert_int_equal(tmplwire_recv(sv[1], &d, fds), -EPIPE);
	close(sv[1]);
	close(p[0]);
	close(p[1]);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_encode_refuses),
		cmocka_unit_test(test_decode_refuses),
		cmocka_unit_test(test_socket),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
