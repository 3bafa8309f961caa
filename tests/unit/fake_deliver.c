/*
 * fake-deliver: a stand-in for rotad-deliver that test_sinks starts in
 * its place, to drive scheduler/delivery.c and the network sinks' cursor
 * through a partial batch and a crash without a network.  It speaks
 * proto/deliver.h on fd 0 and appends each frame it "delivers" to a file,
 * one a line; the file's path comes as --user's value (the only argument
 * the daemon passes).  What it does to a batch depends on that file, so
 * that a fake started again goes on where the last one stopped:
 *
 *   file empty               deliver the first frame only, answer
 *                            done 1 with an error
 *   FILE.crashed absent      create it and exit 3 without answering
 *   otherwise                deliver all
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "deliver.h"

static int
read_full(int fd, uint8_t *buf, size_t n)
{
	ssize_t r;

	while (n > 0) {
		r = read(fd, buf, n);
		if (r <= 0)
			return -1;
		buf += r;
		n -= (size_t)r;
	}
	return 0;
}

static void
answer(const struct deliver_msg *b, uint32_t done, const char *error)
{
	struct deliver_msg m = { .type = DELIVER_RESULT };
	uint8_t *buf;
	size_t len;

	m.name = b->name;
	m.token = b->token;
	m.done = done;
	m.error = (char *)error;
	if (deliver_encode(&m, NULL, &buf, &len) < 0 ||
	    write(0, buf, len) != (ssize_t)len)
		exit(2);
	free(buf);
}

int
main(int argc, char **argv)
{
	uint8_t hdr[4], *msg;
	struct deliver_msg m;
	char marker[4096];
	struct stat sb;
	size_t len, i, n;
	FILE *out;

	if (argc != 3 || strcmp(argv[1], "--user") != 0)
		return 1;
	snprintf(marker, sizeof(marker), "%s.crashed", argv[2]);
	while (read_full(0, hdr, 4) == 0) {
		if (deliver_frame_len(hdr, 4, &len) != -EAGAIN &&
		    deliver_frame_len(hdr, 4, &len) != 0)
			return 2;
		len = ((size_t)hdr[0] << 24 | (size_t)hdr[1] << 16 |
		    (size_t)hdr[2] << 8 | hdr[3]);
		msg = malloc(len);
		if (msg == NULL || read_full(0, msg, len) < 0)
			return 2;
		memset(&m, 0, sizeof(m));
		if (deliver_decode(msg, len, &m) < 0)
			return 2;
		if (m.type == DELIVER_BATCH) {
			n = m.nframes;
			if (stat(argv[2], &sb) < 0 || sb.st_size == 0)
				n = 1;
			else if (access(marker, F_OK) < 0) {
				close(open(marker, O_WRONLY | O_CREAT, 0600));
				return 3;
			}
			out = fopen(argv[2], "a");
			if (out == NULL)
				return 2;
			for (i = 0; i < n; i++) {
				fwrite(m.frames[i].data, 1, m.frames[i].len,
				    out);
				fputc('\n', out);
			}
			fclose(out);
			answer(&m, (uint32_t)n,
			    n < m.nframes ? "fake: stopped short" : NULL);
		}
		deliver_msg_clear(&m);
		free(msg);
	}
	return 0;
}
