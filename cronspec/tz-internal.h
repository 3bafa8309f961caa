/*
 * tz-internal: entry points of cronspec/tz.c meant for tests and fuzzers
 * only.  The daemon itself goes through tz_load().
 */
#ifndef ROTAD_TZ_INTERNAL_H
#define ROTAD_TZ_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "tz.h"

/*
 * Build a zone called NAME from the LEN bytes of a TZif file at BUF.  BUF may
 * hold anything: every count and index is checked against LEN.  BUF is only
 * read during the call; NAME is copied.  Returns 0 and a zone in *RET that
 * the caller frees with tz_free(), -EINVAL for malformed data, or -ENOMEM.
 */
int tz_from_buffer(
    const char *name, const uint8_t *buf, size_t len, struct tz **ret);

#endif
