/*
 * libFuzzer target: the daemon <-> rotad-deliver decoder.  rotad-deliver
 * runs it on every message from the daemon, and the daemon on every
 * RESULT from rotad-deliver, the process that speaks to the network.
 * The input is a message body (no length prefix); it also goes through
 * deliver_frame_len() as a stream's first bytes.  Whatever the decoder
 * accepts must encode again, and decode to the same encoding: the two
 * sides agree on every message either one takes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "deliver.h"
#include "secret.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* M encoded: its bytes in a secret (SINK) or on the heap (the others),
 * which the caller frees; NULL when the encoder refused it. */
static const uint8_t *
encode(const struct deliver_msg *m, struct secret **sec, uint8_t **buf,
    size_t *len)
{
	*sec = NULL;
	*buf = NULL;
	if (m->type == DELIVER_SINK) {
		if (deliver_encode(m, sec, NULL, NULL) < 0)
			return NULL;
		*len = secret_len(*sec);
		return secret_data(*sec);
	}
	if (deliver_encode(m, NULL, buf, len) < 0)
		return NULL;
	return *buf;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct deliver_msg m, again;
	struct secret *sec, *sec2;
	uint8_t *buf, *buf2;
	const uint8_t *p, *p2;
	size_t len, len2, whole;

	if (deliver_frame_len(data, size, &whole) == 0 &&
	    (whole < 5 || whole > size))
		abort();
	if (deliver_decode(data, size, &m) < 0)
		return 0;
	if ((p = encode(&m, &sec, &buf, &len)) == NULL)
		abort();
	if (len != size + 4 || deliver_frame_len(p, len, &whole) != 0 ||
	    whole != len || deliver_decode(p + 4, len - 4, &again) < 0)
		abort();
	if ((p2 = encode(&again, &sec2, &buf2, &len2)) == NULL || len2 != len ||
	    memcmp(p, p2, len) != 0)
		abort();
	secret_free(sec);
	secret_free(sec2);
	free(buf);
	free(buf2);
	deliver_msg_clear(&again);
	deliver_msg_clear(&m);
	return 0;
}
