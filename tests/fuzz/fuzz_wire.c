/*
 * libFuzzer target: the worker wire decoders.  The response decoder is
 * the one the daemon runs on bytes from a sandboxed, possibly subverted
 * worker; the request decoder is the worker's first contact with its
 * input.  The first byte chooses: even, the response decoder; odd, the
 * request decoder; the rest is a message body (no length prefix).
 * Whatever a decoder accepts must encode again, and decode to the same
 * encoding: the two sides agree on every message either one takes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "secret.h"
#include "wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_request(const uint8_t *data, size_t size)
{
	struct wire_request req, again;
	struct secret *msg, *msg2;
	const uint8_t *p;

	if (wire_request_decode(data, size, &req) < 0)
		return;
	if (wire_request_encode(&req, &msg) < 0)
		abort();
	p = secret_data(msg);
	if (wire_request_decode(p + 4, secret_len(msg) - 4, &again) < 0 ||
	    wire_request_encode(&again, &msg2) < 0 ||
	    secret_len(msg2) != secret_len(msg) ||
	    memcmp(secret_data(msg2), p, secret_len(msg)) != 0)
		abort();
	secret_free(msg2);
	secret_free(msg);
	wire_request_clear(&again);
	wire_request_clear(&req);
}

static void
check_response(const uint8_t *data, size_t size)
{
	struct wire_response res, again;
	uint8_t *msg, *msg2;
	size_t len, len2;

	if (wire_response_decode(data, size, &res) < 0)
		return;
	if (wire_response_encode(&res, &msg, &len) < 0)
		abort();
	if (wire_response_decode(msg + 4, len - 4, &again) < 0 ||
	    wire_response_encode(&again, &msg2, &len2) < 0 || len2 != len ||
	    memcmp(msg2, msg, len) != 0)
		abort();
	free(msg2);
	free(msg);
	wire_response_clear(&again);
	wire_response_clear(&res);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	if (data[0] & 1)
		check_request(data + 1, size - 1);
	else
		check_response(data + 1, size - 1);
	return 0;
}
