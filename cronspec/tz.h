/*
 * tz: IANA time zones read from the system zone database (TZif, RFC 8536).
 *
 * libc only.  The process's TZ is never consulted nor changed: a zone is a
 * value loaded once and then queried with pure functions, so that any number
 * of schedules in different zones can be evaluated side by side.
 */
#ifndef ROTAD_TZ_H
#define ROTAD_TZ_H

#include <stdbool.h>
#include <stdint.h>

struct tz;

/*
 * Load zone NAME ("UTC", "Europe/London", ...).  Files are read from $TZDIR
 * when set, else /usr/share/zoneinfo.  NAME must be a relative path without
 * "..", so that a configuration cannot make rotad read an arbitrary file.
 * Returns 0, -EINVAL for a malformed name or file, -ENOENT for an unknown
 * zone, or -ENOMEM.  "UTC" works even without a zone database.
 *
 * Zones are shared: loading NAME again returns the same zone, with one
 * more reference, while its file is the one it was read from (same
 * device, inode, size and mtime), so 100k schedules cost a few hundred
 * zones.  That is checked once per cache epoch (below), so 100k loads
 * of a zone cost one stat() and a tzdata upgrade is seen by the first
 * load of the next epoch.  Loading, expiring and freeing are safe from
 * any thread (one lock: a reload loads on libuv's pool while the loop
 * frees); a zone, once loaded, is read-only.
 */
int tz_load(const char *name, struct tz **ret);

/*
 * Start a new cache epoch: the next load of each cached zone looks at
 * its file again.  The configuration loader calls it at every load (so
 * every reload sees the zone database as it is then); a changed TZDIR
 * starts one by itself.
 */
void tz_cache_expire(void);

/* Drop a reference; the last one frees.  NULL-safe. */
void tz_free(struct tz *tz);

/* The name the zone was loaded with. */
const char *tz_name(const struct tz *tz);

/* True when the zone has a single fixed offset (UTC, Etc/GMT+5, ...). */
bool tz_is_fixed(const struct tz *tz);

/*
 * The UT offset in seconds east of Greenwich in force at instant T (seconds
 * since the epoch), from the transition table and, past its end, the POSIX
 * TZ footer.
 */
int32_t tz_offset_at(const struct tz *tz, int64_t t);

/*
 * Map a local wall-clock time (seconds since 1970-01-01T00:00:00 counted on
 * the wall clock, i.e. the UTC instant whose civil fields equal the local
 * ones) to instants.  Writes up to two instants to ret_at, earliest first,
 * and returns how many: 1 normally, 2 when the wall time occurs twice
 * (fall-back overlap), 0 when it does not exist (spring-forward gap).
 */
int tz_local_to_utc(const struct tz *tz, int64_t wall, int64_t ret_at[2]);

#endif
