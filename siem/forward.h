/*
 * forward: a checked request, sent to rotad as control-protocol `rotate`
 * requests (docs/control-protocol.md) over one connection to its socket,
 * in order, each answer read before the next request is sent.
 *
 * rotad-siem holds nothing else of rotad's: the daemon decides, from the
 * peer's uid (SO_PEERCRED) and control.acl, that it has `trigger` only.
 */
#ifndef ROTAD_SIEM_FORWARD_H
#define ROTAD_SIEM_FORWARD_H

#include <jansson.h>

#include "siem_request.h"

/*
 * Send R's entries to the control socket at PATH, waiting at most
 * TIMEOUT_MS for each step (connect, write, answer).  On 0, *RET_RUNS is
 * an array of {"user"|"login"+"host", "run", "coalesced"} and
 * *RET_REFUSED one of {"user"|"login"+"host", "error", "message"} (both
 * the caller's).  -errno when the daemon could not be asked or gave an
 * answer that is not the protocol's: -ECONNREFUSED, -ENOENT, -ETIMEDOUT,
 * -EPROTO, -ENOMEM...; entries already answered then stand (their runs
 * started), and *RET_RUNS still lists them.
 */
int forward_rotate(const char *path, const struct siem_request *r,
    int timeout_ms, json_t **ret_runs, json_t **ret_refused);

#endif
