/*
 * libFuzzer target: the control socket's request decoder, the one piece
 * of the daemon that reads bytes from other users.  On a request it
 * accepts, the right lookup and the response encoders run too, with the
 * request's id echoed as the daemon would.  The same bytes go through the
 * client's response decoder and the strict base64 decoder, whose round
 * trip must give the input back.  A request the decoder accepts never
 * carries an integer argument out of its range.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"
#include "protocol.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The decoder's promise on the arguments it bounds. */
static void
check_bounds(json_t *req, const char *cmd)
{
	json_t *v = NULL;

	if (strcmp(cmd, "runs") == 0)
		v = json_object_get(req, "limit");
	else if (strcmp(cmd, "next") == 0)
		v = json_object_get(req, "count");
	if (v != NULL &&
	    (!json_is_integer(v) || json_integer_value(v) < 1 ||
		json_integer_value(v) > PROTOCOL_COUNT_MAX))
		abort();
}

static void
check_b64(const char *text, size_t size)
{
	unsigned char *out;
	char *back;
	size_t n, got;

	if (base64_decoded_len(text, size, &n) < 0)
		return;
	out = malloc(n + 1);
	back = malloc(size + 1);
	if (out == NULL || back == NULL)
		abort();
	if (base64_decode(text, size, out, n, &got) == 0) {
		/* Strict: one spelling per value, so it must come back. */
		if (got != n || base64_encode(out, got, back, size + 1) < 0 ||
		    memcmp(back, text, size) != 0)
			abort();
	}
	free(back);
	free(out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	enum protocol_response kind;
	const char *code = NULL, *cmd;
	const char *text = (const char *)data;
	json_t *req = NULL, *resp = NULL, *id;
	char msg[256], *line;
	size_t len;
	unsigned right;

	if (protocol_decode(text, size, &req, &code, msg, sizeof(msg)) == 0) {
		cmd = json_string_value(json_object_get(req, "cmd"));
		if (cmd == NULL)
			abort();
		right = protocol_command_right(cmd);
		if (right != 0 && strcmp(protocol_right_name(right), "?") == 0)
			abort();
		check_bounds(req, cmd);
		id = protocol_request_id(req);
		if (protocol_encode_result(
			id, json_pack("{s:s}", "cmd", cmd), &line, &len) == 0)
			free(line);
	} else {
		if (code == NULL)
			abort();
		/* An error answer always encodes, whatever the message. */
		if (protocol_encode_error(protocol_request_id(req), code, msg,
			NULL, &line, &len) < 0)
			abort();
		if (memchr(line, '\n', len - 1) != NULL)
			abort();
		free(line);
	}
	json_decref(req);

	if (protocol_decode_response(text, size, &resp, &kind) == 0)
		json_decref(resp);
	check_b64(text, size);
	return 0;
}
