/*
 * protocol: the control socket's wire format, shared by rotad (the server,
 * scheduler/control.c) and rotactl (the client).
 *
 * One JSON object per line each way, described for people in
 * docs/control-protocol.md.  This module only turns lines into checked
 * request objects and response objects into lines; it does no I/O and
 * knows nothing of what a command does, except which right it needs.
 *
 * Ownership: functions that say "stolen" take over the caller's reference
 * even when they fail; "borrowed" ones do not touch the reference count.
 * Encoded lines are malloc'd, end in '\n' and a NUL, and their length
 * counts the '\n' but not the NUL.  Lines that may have held a secret are
 * freed with protocol_free_wiped().
 *
 * jansson, OpenSSL's libcrypto for OPENSSL_cleanse() only, and
 * common/secret.c (libc only).
 */
#ifndef ROTAD_PROTOCOL_H
#define ROTAD_PROTOCOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#define PROTOCOL_VERSION 1
#define PROTOCOL_DEFAULT_SOCKET "/run/rotad/rotad.sock"

/* The longest request line, '\n' excluded (control.h's CONTROL_LINE_MAX). */
#define PROTOCOL_LINE_MAX (64 * 1024)

/* The largest "count" of next and "limit" of runs (both from 1). */
#define PROTOCOL_COUNT_MAX 1000

/* Room for protocol_format_time(): "2024-01-01T17:28:00+00:00". */
#define PROTOCOL_TIME_MAX 32

/* Error codes, the "code" of an error response. */
#define PROTOCOL_E_BAD_REQUEST "bad_request"
#define PROTOCOL_E_TOO_LARGE "too_large"
#define PROTOCOL_E_VERSION "version"
#define PROTOCOL_E_UNKNOWN_COMMAND "unknown_command"
#define PROTOCOL_E_DENIED "denied"
#define PROTOCOL_E_NOT_FOUND "not_found"
#define PROTOCOL_E_BUSY "busy"
#define PROTOCOL_E_INVALID "invalid"
#define PROTOCOL_E_UNAVAILABLE "unavailable"
#define PROTOCOL_E_INTERNAL "internal"

/* Rights; the same bits as control.h's CONTROL_RIGHT_* (checked there). */
enum {
	PROTOCOL_RIGHT_READ = 1 << 0,
	PROTOCOL_RIGHT_TRIGGER = 1 << 1,
	PROTOCOL_RIGHT_SECRETS = 1 << 2,
	PROTOCOL_RIGHT_ADMIN = 1 << 3,
	PROTOCOL_RIGHT_ALL = 0xf,
};

/* ---- requests ---- */

/*
 * Check one request line LINE of LEN bytes (its '\n' removed): at most
 * PROTOCOL_LINE_MAX bytes, no NUL byte, one JSON object (duplicate keys
 * refused), "v" present and the integer 1, "cmd" a string, "id", when
 * present, a scalar (string, number, true, false or null), and the known
 * commands' integer and boolean arguments, when present, of their type
 * and (integers) in their range: next's "count" and runs' "limit" from 1
 * to PROTOCOL_COUNT_MAX; rotate's and verify's "wait", pause's and
 * resume's "all" true or false.
 *
 * Returns 0 with the request in *ret_req, or -EINVAL with *ret_code one of
 * PROTOCOL_E_TOO_LARGE, PROTOCOL_E_BAD_REQUEST or PROTOCOL_E_VERSION and
 * a message in MSG.  *ret_req is set in both cases: on failure it is the
 * parsed object when the line was a JSON object (so that its "id" can be
 * echoed in the error), NULL otherwise.  The caller json_decref()s it.
 * The right a known command needs is not checked here.
 */
int protocol_decode(const char *line, size_t len, json_t **ret_req,
    const char **ret_code, char *msg, size_t msglen);

/* REQ's "id" when it is a scalar, else NULL.  Borrowed; REQ may be NULL. */
json_t *protocol_request_id(const json_t *req);

/*
 * The right command CMD needs (one PROTOCOL_RIGHT_* bit), 0 for a command
 * that does not exist.
 */
unsigned protocol_command_right(const char *cmd);

/* "read", "trigger", "secrets", "admin", or "?" for anything else. */
const char *protocol_right_name(unsigned right);

/* The bit named NAME into *ret: 0, or -EINVAL for an unknown name. */
int protocol_right_from_name(const char *name, unsigned *ret);

/*
 * The request line {"v":1,"cmd":CMD,...ARGS...,"id":ID}.  ARGS (stolen,
 * NULL for none) is an object whose members join the request; ID
 * (borrowed, NULL for none) must be a scalar.  0, -EINVAL (ARGS not an
 * object, or it has "v", "cmd" or "id"), or -ENOMEM.
 */
int protocol_encode_request(
    const char *cmd, json_t *args, json_t *id, char **ret, size_t *ret_len);

/* ---- responses ---- */

/*
 * {"v":1,"id":ID,"ok":true,"result":RESULT}: ID borrowed (NULL: no "id"),
 * RESULT stolen (NULL: {}).  0, -EINVAL (RESULT not an object), -ENOMEM.
 */
int protocol_encode_result(
    json_t *id, json_t *result, char **ret, size_t *ret_len);

/*
 * {"v":1,"id":ID,"ok":false,"error":{"code":CODE,"message":MESSAGE,...}}
 * where EXTRA's members (stolen, NULL for none; not "code" or "message")
 * join the error object, e.g. reload's "errors" array.  Bytes of MESSAGE
 * that are not UTF-8 (a message cut short by a buffer, say) become '?'.
 * 0, -EINVAL, -ENOMEM.
 */
int protocol_encode_error(json_t *id, const char *code, const char *message,
    json_t *extra, char **ret, size_t *ret_len);

/* {"v":1,"id":ID,"progress":PROGRESS}: PROGRESS stolen.  As above. */
int protocol_encode_progress(
    json_t *id, json_t *progress, char **ret, size_t *ret_len);

/*
 * The client's view of one response line.  Returns 0 with the parsed
 * object in *ret (caller decrefs) and its kind in *ret_kind, or -EINVAL
 * for a line that is not a version-1 response.
 */
enum protocol_response {
	PROTOCOL_RESPONSE_PROGRESS,
	PROTOCOL_RESPONSE_OK,
	PROTOCOL_RESPONSE_ERROR,
};
int protocol_decode_response(const char *line, size_t len, json_t **ret,
    enum protocol_response *ret_kind);

/* ---- values ---- */

/*
 * T (seconds since the epoch) as "2024-01-01T17:28:00+00:00" in UTC, the
 * protocol's time format.  0 or -EOVERFLOW.
 */
int protocol_format_time(int64_t t, char *buf, size_t size);

/* Secret values travel in base64 (common/base64.h: standard alphabet,
 * padded, one line, decoded strictly). */

/*
 * Secrets as struct secret (common/secret.h, libc only): the daemon and
 * rotactl keep a value in locked, undumpable pages from the moment it is
 * decoded.
 */
struct secret;

/*
 * B64 (NUL-terminated, strict base64 as above) decoded straight into a new
 * secret *ret (the caller frees it).  0, -EINVAL (not strict base64,
 * empty, or longer than SECRET_MAX), or -ENOMEM.
 */
int protocol_secret_decode(const char *b64, struct secret **ret);

/* S's bytes in base64, malloc'd and NUL-terminated; the caller wipes and
 * frees it, e.g. protocol_free_wiped(p, strlen(p)).  NULL: no memory. */
char *protocol_secret_encode(const struct secret *s);

/* ---- wiping ---- */

/* OPENSSL_cleanse() LEN bytes at P, then free(P).  NULL-safe. */
void protocol_free_wiped(void *p, size_t len);

/*
 * Overwrite the bytes of every string value in V (recursively) with
 * zeros, for a tree that held a secret, before its last json_decref().
 * Only call it on a tree nobody else holds a reference to.  NULL-safe.
 */
void protocol_wipe_json(json_t *v);

/*
 * Make jansson wipe every block it frees (json_set_alloc_funcs()), so that
 * the copies its parser and its string buffers make of a secret do not
 * linger in the heap.  Process-wide: call it once at start, before any
 * JSON is made.  glibc only (malloc_usable_size()).
 */
void protocol_json_wipe_on_free(void);

#endif
