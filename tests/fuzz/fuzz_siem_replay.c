/*
 * libFuzzer target: the replay state one life of rotad-siem hands the
 * next (siem_replay_load(), siem/siem_auth.h), as it comes back from
 * systemd's file descriptor store.  Only rotad-siem writes it, but the
 * reader must hold whatever the file holds: no read past it, entries no
 * more than the cache takes, and a state loaded must save back to the
 * same live entries (loaded again, the same bound).
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "siem_auth.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CAPACITY 8
#define WINDOW 300
#define NOW 1800000000

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct siem_replay *c = NULL, *c2 = NULL;
	unsigned char *buf = NULL, *buf2 = NULL, *copy = NULL;
	int64_t nb = -1, nb2 = -1;
	long len, len2;
	int r;

	/* Exactly SIZE bytes, so that a read past them is seen. */
	if ((copy = malloc(size > 0 ? size : 1)) == NULL)
		return 0;
	memcpy(copy, data, size);
	if (siem_replay_new(CAPACITY, WINDOW, &c) < 0 ||
	    siem_replay_new(CAPACITY, WINDOW, &c2) < 0)
		goto out;
	r = siem_replay_load(c, copy, size, NOW, &nb);
	if (r != 0 && r != -EINVAL)
		abort();
	if (r != 0)
		goto out;
	if (nb < 0)
		abort();
	if ((buf = malloc(siem_replay_state_size(c))) == NULL)
		goto out;
	len = siem_replay_save(c, nb, NOW, buf, siem_replay_state_size(c));
	if (len < SIEM_REPLAY_HEADER ||
	    (size_t)len > siem_replay_state_size(c) ||
	    siem_replay_load(c2, buf, (size_t)len, NOW, &nb2) != 0 || nb2 != nb)
		abort();
	/* What the second cache holds saves to the same bytes. */
	if ((buf2 = malloc(siem_replay_state_size(c2))) == NULL)
		goto out;
	len2 = siem_replay_save(c2, nb2, NOW, buf2, siem_replay_state_size(c2));
	if (len2 != len || memcmp(buf, buf2, (size_t)len) != 0)
		abort();
out:
	free(buf);
	free(buf2);
	free(copy);
	siem_replay_free(c);
	siem_replay_free(c2);
	return 0;
}
