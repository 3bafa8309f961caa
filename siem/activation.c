/*
 * activation.c: the socket systemd passes, and the replay state one life
 * of rotad-siem hands the next (activation.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "activation.h"
#include "why.h"

int
activation_take(struct activation *a, char *why, size_t size)
{
	char **names = NULL;
	int n, i, r = 0;

	a->listen_fd = a->state_fd = -1;
	a->passed = 0;
	if ((n = sd_listen_fds_with_names(1, &names)) < 0)
		return why_fail(
		    why, size, n, "LISTEN_FDS from systemd: %s", strerror(-n));
	for (i = 0; i < n; i++) {
		int fd = SD_LISTEN_FDS_START + i;
		const char *name = names != NULL ? names[i] : "";
		struct stat st;

		if (strcmp(name, ACTIVATION_STATE_NAME) == 0 &&
		    a->state_fd < 0 && fstat(fd, &st) == 0 &&
		    S_ISREG(st.st_mode)) {
			a->state_fd = fd;
			a->passed = 1;
		} else if (a->listen_fd < 0 &&
		    sd_is_socket_inet(fd, AF_UNSPEC, SOCK_STREAM, 1, 0) > 0) {
			a->listen_fd = fd;
		} else if (r == 0) {
			r = why_fail(why, size, -EINVAL,
			    "file descriptor %d from systemd (%s): neither "
			    "the one listening TCP socket nor the replay "
			    "state (FileDescriptorName=, Sockets=?)",
			    fd, name);
		}
		/* None may reach what libmicrohttpd or OpenSSL spawn. */
		(void)fcntl(fd, F_SETFD, FD_CLOEXEC);
	}
	if (names != NULL) {
		for (i = 0; i < n; i++)
			free(names[i]);
		free(names);
	}
	if (r == 0 && a->listen_fd >= 0) {
		int fl = fcntl(a->listen_fd, F_GETFL);

		/* Another connection's reset must not block accept(). */
		if (fl < 0 || fcntl(a->listen_fd, F_SETFL, fl | O_NONBLOCK) < 0)
			r = why_fail(why, size, -errno,
			    "the socket from systemd: %s", strerror(errno));
	}
	if (r < 0)
		activation_close(a);
	return r;
}

int
activation_store(struct activation *a, char *why, size_t size)
{
	int fd, r;

	if ((fd = memfd_create("rotad-siem-replay", MFD_CLOEXEC)) < 0)
		return why_fail(
		    why, size, -errno, "memfd_create: %s", strerror(errno));
	r = sd_pid_notify_with_fds(
	    0, 0, "FDSTORE=1\nFDNAME=" ACTIVATION_STATE_NAME, &fd, 1);
	if (r < 0) {
		close(fd);
		return why_fail(
		    why, size, r, "FDSTORE=1 to systemd: %s", strerror(-r));
	}
	a->state_fd = fd;
	a->passed = 0;
	return 0;
}

static int
write_at(int fd, off_t off, const void *buf, size_t len)
{
	const unsigned char *p = buf;
	ssize_t n;

	if (lseek(fd, off, SEEK_SET) < 0)
		return -errno;
	while (len > 0) {
		if ((n = write(fd, p, len)) < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int
activation_load(struct activation *a, struct siem_replay *c, int64_t now,
    int64_t *not_before)
{
	static const unsigned char none[8];
	unsigned char *buf = NULL;
	size_t cap = siem_replay_state_size(c), len = 0;
	ssize_t n;
	int r;

	if (a->state_fd < 0 || !a->passed)
		return -ENOENT;
	if ((buf = malloc(cap)) == NULL)
		return -ENOMEM;
	/* The file may be longer than this state: an older, larger one. */
	while (len < cap &&
	    (n = pread(a->state_fd, buf + len, cap - len, (off_t)len)) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			goto out;
		}
		len += (size_t)n;
	}
	if (len == 0 || (len >= 8 && memcmp(buf, none, 8) == 0)) {
		r = -ENOENT;
		goto out;
	}
	r = siem_replay_load(c, buf, len, now, not_before);
	/* Read once: what this life accepts is not in it. */
	if (write_at(a->state_fd, 0, none, sizeof(none)) < 0 && r == 0)
		r = -EIO;
out:
	free(buf);
	return r;
}

int
activation_save(const struct activation *a, const struct siem_replay *c,
    int64_t not_before, int64_t now)
{
	static const unsigned char none[8];
	unsigned char *buf;
	long len;
	int r;

	if (a->state_fd < 0)
		return -ENOENT;
	if ((buf = malloc(siem_replay_state_size(c))) == NULL)
		return -ENOMEM;
	len = siem_replay_save(
	    c, not_before, now, buf, siem_replay_state_size(c));
	if (len < 0)
		r = (int)len;
	else if ((r = write_at(a->state_fd, 0, none, sizeof(none))) == 0 &&
	    (r = write_at(a->state_fd, 8, buf + 8, (size_t)len - 8)) == 0)
		r = write_at(a->state_fd, 0, buf, 8);
	free(buf);
	return r;
}

void
activation_close(struct activation *a)
{
	if (a->listen_fd >= 0)
		close(a->listen_fd);
	if (a->state_fd >= 0)
		close(a->state_fd);
	a->listen_fd = a->state_fd = -1;
}
