/*
 * bucket: rate limits, token buckets per source address and overall.
 * Pure (the clock is an argument, in milliseconds), no logging.
 *
 * Each bucket holds up to RATE tokens and regains RATE a minute; a
 * request takes one from its source's bucket and one from the overall
 * bucket, or is refused (429) and takes none.  The table of sources is
 * fixed in size: when it is full, the source idle longest is forgotten
 * (it comes back with a full bucket, so a flood of spoofed-looking
 * sources still meets the overall bucket).
 */
#ifndef ROTAD_SIEM_BUCKET_H
#define ROTAD_SIEM_BUCKET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Room for a source's name: an IPv6 address in text. */
#define BUCKET_SOURCE_MAX 46

struct bucket_table;

/*
 * PER_SOURCE and OVERALL requests a minute (each >= 1), SOURCES entries.
 * 0, -EINVAL or -ENOMEM.
 */
int bucket_table_new(unsigned per_source, unsigned overall, size_t sources,
    struct bucket_table **ret);
void bucket_table_free(struct bucket_table *t);

/*
 * Whether a request from SOURCE (a NUL-terminated address, truncated to
 * BUCKET_SOURCE_MAX - 1 bytes) may go on at NOW_MS; when it may, its
 * tokens are taken.  *RET_OVERALL tells which bucket refused.
 */
bool bucket_take(struct bucket_table *t, const char *source, int64_t now_ms,
    bool *ret_overall);

#endif
