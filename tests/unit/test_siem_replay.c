/*
 * rotad-siem's replay cache handed from one life to the next: the state's
 * encoding (siem/siem_auth.c) and the memory file it travels in, as
 * systemd passes it back (siem/activation.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <unistd.h>

#include <cmocka.h>

#include "activation.h"
#include "siem_auth.h"

#define NOW 1800000000
#define WINDOW 300

static unsigned char mac_a[SIEM_MAC_LEN] = { 'a' };
static unsigned char mac_b[SIEM_MAC_LEN] = { 'b' };
static unsigned char mac_c[SIEM_MAC_LEN] = { 'c' };

/* A cache of 8 holding A (signed now) and B (signed a window ago). */
static struct siem_replay *
filled(void)
{
	struct siem_replay *c;

	assert_int_equal(siem_replay_new(8, WINDOW, &c), 0);
	assert_int_equal(siem_replay_add(c, mac_a, NOW, NOW), 0);
	assert_int_equal(siem_replay_add(c, mac_b, NOW - WINDOW, NOW), 0);
	return c;
}

static void
test_round_trip(void **state)
{
	struct siem_replay *c = filled(), *c2;
	unsigned char buf[SIEM_REPLAY_HEADER + 8 * SIEM_REPLAY_ENTRY];
	int64_t nb = 0;
	long len;

	(void)state;
	assert_int_equal(siem_replay_state_size(c), sizeof(buf));
	assert_int_equal(siem_replay_save(c, NOW - 60, NOW, buf, 10), -ENOSPC);
	len = siem_replay_save(c, NOW - 60, NOW, buf, sizeof(buf));
	assert_int_equal(len, SIEM_REPLAY_HEADER + 2 * SIEM_REPLAY_ENTRY);
	assert_memory_equal(buf, SIEM_REPLAY_MAGIC, 8);

	/* The next life: both MACs are replays there; another is new. */
	assert_int_equal(siem_replay_new(8, WINDOW, &c2), 0);
	assert_int_equal(siem_replay_load(c2, buf, (size_t)len, NOW, &nb), 0);
	assert_int_equal(nb, NOW - 60);
	assert_int_equal(siem_replay_add(c2, mac_a, NOW, NOW + 1), -EEXIST);
	assert_int_equal(
	    siem_replay_add(c2, mac_b, NOW - WINDOW, NOW + 1), -EEXIST);
	assert_int_equal(siem_replay_add(c2, mac_c, NOW, NOW + 1), 0);
	siem_replay_free(c2);

	/* Loaded two seconds later, B has expired (signed a window and a
	 * second before: its timestamp would be refused anyway). */
	assert_int_equal(siem_replay_new(8, WINDOW, &c2), 0);
	assert_int_equal(
	    siem_replay_load(c2, buf, (size_t)len, NOW + 2, &nb), 0);
	assert_int_equal(siem_replay_add(c2, mac_b, NOW, NOW + 2), 0);
	siem_replay_free(c2);
	siem_replay_free(c);
}

static void
test_refused(void **state)
{
	struct siem_replay *c = filled(), *c2;
	unsigned char buf[SIEM_REPLAY_HEADER + 8 * SIEM_REPLAY_ENTRY],
	    bad[sizeof(buf)];
	int64_t nb = 0, far;
	uint32_t many = 9;
	long len;

	(void)state;
	len = siem_replay_save(c, NOW, NOW, buf, sizeof(buf));
	assert_true(len > 0);
	assert_int_equal(siem_replay_new(8, WINDOW, &c2), 0);
	/* Short, by a byte of the last entry, or of the header. */
	assert_int_equal(
	    siem_replay_load(c2, buf, (size_t)len - 1, NOW, &nb), -EINVAL);
	assert_int_equal(siem_replay_load(c2, buf, 10, NOW, &nb), -EINVAL);
	/* Torn: the magic is written last. */
	memcpy(bad, buf, (size_t)len);
	memset(bad, 0, 8);
	assert_int_equal(
	    siem_replay_load(c2, bad, (size_t)len, NOW, &nb), -EINVAL);
	/* More entries than the cache takes. */
	memcpy(bad, buf, (size_t)len);
	memcpy(bad + 24, &many, 4);
	assert_int_equal(
	    siem_replay_load(c2, bad, sizeof(bad), NOW, &nb), -EINVAL);
	/* An entry expiring later than any of this window. */
	memcpy(bad, buf, (size_t)len);
	far = NOW + 2 * WINDOW + 2;
	memcpy(bad + SIEM_REPLAY_HEADER + SIEM_MAC_LEN, &far, 8);
	assert_int_equal(
	    siem_replay_load(c2, bad, (size_t)len, NOW, &nb), -EINVAL);
	assert_int_equal(siem_replay_add(c2, mac_a, NOW, NOW), 0);
	siem_replay_free(c2);
	/* Kept for another --window. */
	assert_int_equal(siem_replay_new(8, WINDOW + 1, &c2), 0);
	assert_int_equal(
	    siem_replay_load(c2, buf, (size_t)len, NOW, &nb), -EINVAL);
	siem_replay_free(c2);
	siem_replay_free(c);
}

/* The memory file: saved, loaded once (then marked empty), saved again. */
static void
test_memfd(void **state)
{
	struct siem_replay *c = filled(), *c2;
	struct activation a = { -1, -1, 0 };
	int64_t nb = 0;

	(void)state;
	a.state_fd = memfd_create("test", MFD_CLOEXEC);
	assert_true(a.state_fd >= 0);
	assert_int_equal(activation_save(&a, c, NOW - 5, NOW), 0);
	/* Only what a life before left is read. */
	assert_int_equal(siem_replay_new(8, WINDOW, &c2), 0);
	assert_int_equal(activation_load(&a, c2, NOW, &nb), -ENOENT);
	a.passed = 1;
	assert_int_equal(activation_load(&a, c2, NOW, &nb), 0);
	assert_int_equal(nb, NOW - 5);
	assert_int_equal(siem_replay_add(c2, mac_a, NOW, NOW), -EEXIST);
	/* Read once: a crash of this life leaves no state. */
	siem_replay_free(c2);
	assert_int_equal(siem_replay_new(8, WINDOW, &c2), 0);
	assert_int_equal(activation_load(&a, c2, NOW, &nb), -ENOENT);
	/* This life's save, smaller than the last, over it. */
	assert_int_equal(siem_replay_add(c2, mac_c, NOW, NOW), 0);
	assert_int_equal(activation_save(&a, c2, NOW - 5, NOW), 0);
	siem_replay_free(c2);
	assert_int_equal(siem_replay_new(8, WINDOW, &c2), 0);
	assert_int_equal(activation_load(&a, c2, NOW, &nb), 0);
	assert_int_equal(siem_replay_add(c2, mac_c, NOW, NOW), -EEXIST);
	assert_int_equal(siem_replay_add(c2, mac_a, NOW, NOW), 0);
	siem_replay_free(c2);
	activation_close(&a);
	siem_replay_free(c);
}

/* What systemd passes: a listening socket and the store's file. */
static void
test_take(void **state)
{
	struct activation a;
	struct sockaddr_in sin = { .sin_family = AF_INET };
	char why[256], pid[32];
	int ls, mf, other;

	(void)state;
	ls = socket(AF_INET, SOCK_STREAM, 0);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(ls, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(listen(ls, 4), 0);
	mf = memfd_create("test", 0);
	other = socket(AF_INET, SOCK_STREAM, 0); /* not listening */
	assert_true(ls >= 0 && mf >= 0 && other >= 0);
	snprintf(pid, sizeof(pid), "%d", (int)getpid());

	/* Nothing passed. */
	unsetenv("LISTEN_FDS");
	assert_int_equal(activation_take(&a, why, sizeof(why)), 0);
	assert_int_equal(a.listen_fd, -1);
	assert_int_equal(a.state_fd, -1);

	assert_int_equal(dup2(ls, 3), 3);
	assert_int_equal(dup2(mf, 4), 4);
	setenv("LISTEN_PID", pid, 1);
	setenv("LISTEN_FDS", "2", 1);
	setenv("LISTEN_FDNAMES", "rotad-siem.socket:replay", 1);
	assert_int_equal(activation_take(&a, why, sizeof(why)), 0);
	assert_int_equal(a.listen_fd, 3);
	assert_int_equal(a.state_fd, 4);
	assert_int_equal(a.passed, 1);
	assert_true(fcntl(3, F_GETFL) & O_NONBLOCK);
	/* Taken once: sd_listen_fds() unsets the variables. */
	assert_null(getenv("LISTEN_FDS"));
	activation_close(&a); /* closes 3 and 4 */

	/* A socket that does not listen is no unit of ours. */
	assert_int_equal(dup2(other, 3), 3);
	setenv("LISTEN_PID", pid, 1);
	setenv("LISTEN_FDS", "1", 1);
	setenv("LISTEN_FDNAMES", "rotad-siem.socket", 1);
	assert_int_equal(activation_take(&a, why, sizeof(why)), -EINVAL);
	assert_non_null(strstr(why, "file descriptor 3 from systemd"));
	assert_int_equal(a.listen_fd, -1);
	close(3);
	close(ls);
	close(mf);
	close(other);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_memfd),
		cmocka_unit_test(test_take),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
