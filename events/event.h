/*
 * event: what rotad tells syslog and SIEMs, as one model (issue 14).
 *
 * An event is plain data: a stable name from a fixed table, when and where
 * it happened, and the few facts about a run, a request or the daemon a
 * SIEM rule needs.  It has no field that could hold a secret, and nothing
 * from which one could be derived: the message is scrubbed by whoever
 * builds the event (common/scrub.h), and every other string is a name,
 * an id or a word from a small vocabulary.
 *
 * The life of an event: the daemon fills one in (event_init() and then the
 * fields), encodes it with event_encode_json() into the store's spool in
 * the transaction of the state change it reports, and each sink later
 * decodes it (event_decode_json()) and formats it (event_format.h).  The
 * spool's id becomes the sequence number.
 *
 * Strings are borrowed: an event the caller builds points at the caller's
 * strings and needs no clearing.  A decoded event owns its strings, in one
 * block that event_clear() frees.
 *
 * Every function returns 0 or a negative errno.  libc, jansson and
 * common/utf8.h; no I/O, no clock, no logging.
 */
#ifndef ROTAD_EVENT_H
#define ROTAD_EVENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The names, in the order of docs/events.md.  Never renumber: the value
 * is a bit in struct event_filter's names. */
enum event_name {
	/* Keeper's names, so that Keeper users' SIEM rules keep working. */
	EVENT_RECORD_ROTATION_SCHEDULED_OK,
	EVENT_RECORD_ROTATION_SCHEDULED_FAIL,
	EVENT_RECORD_ROTATION_ON_DEMAND_OK,
	EVENT_RECORD_ROTATION_ON_DEMAND_FAIL,
	EVENT_ROTATION_STARTED,
	EVENT_ROTATION_RETRY_SCHEDULED,
	EVENT_ROTATION_RECOVERED,
	EVENT_ROTATION_OUT_OF_SYNC,
	EVENT_VERIFY_OK,
	EVENT_VERIFY_FAIL,
	EVENT_CONFIG_RELOADED,
	EVENT_CONFIG_REJECTED,
	EVENT_JOB_FILE_SKIPPED,
	EVENT_CONTROL_DENIED,
	EVENT_SECRET_READ,
	EVENT_SECRET_SET,
	EVENT_DAEMON_STARTED,
	EVENT_DAEMON_STOPPING,
	EVENT_EVENTS_DROPPED,
	EVENT__MAX,
};

/* What started a run. */
enum event_trigger {
	EVENT_TRIGGER_NONE, /* not a run's event */
	EVENT_TRIGGER_SCHEDULED,
	EVENT_TRIGGER_ON_DEMAND,
	EVENT_TRIGGER_RECOVERY,
	EVENT_TRIGGER_SIEM_ALERT,
	EVENT_TRIGGER__MAX,
};

/* The optional fields, as bits: event_fields() says which an event may
 * and must carry.  seq, time, host, name and severity are always there. */
enum {
	EVENT_F_RUN_ID = 1 << 0,
	EVENT_F_ATTEMPT = 1 << 1,
	EVENT_F_USER = 1 << 2,
	EVENT_F_RESOURCE = 1 << 3,
	EVENT_F_PROVIDER = 1 << 4,
	EVENT_F_TRIGGER = 1 << 5,
	EVENT_F_OUTCOME = 1 << 6,
	EVENT_F_ERROR_CLASS = 1 << 7,
	EVENT_F_MESSAGE = 1 << 8,
	EVENT_F_DURATION = 1 << 9,
	EVENT_F_ROTATION_STATUS = 1 << 10,
	EVENT_F_POST_ROTATION_STATUS = 1 << 11,
	EVENT_F_ALERT_ID = 1 << 12,
	EVENT_F_UID = 1 << 13,
	EVENT_F_COUNT = 1 << 14,
};

/* Bounds, in bytes without the NUL (event_check() enforces them). */
#define EVENT_HOST_MAX 255 /* RFC 5424's HOSTNAME */
#define EVENT_ID_MAX 64    /* run_id, alert_id */
#define EVENT_NAME_MAX 255 /* user, resource */
#define EVENT_TOKEN_MAX 32 /* provider, outcome, error_class, statuses */
#define EVENT_MESSAGE_MAX 4096
/* 9999-12-31T23:59:59.999Z: four-digit years in every format. */
#define EVENT_TIME_MAX INT64_C(253402300799999)
/* The longest encoded event (event_decode_json() refuses a longer one). */
#define EVENT_JSON_MAX 65536

struct event {
	int64_t seq;  /* the spool's id, from 1; 0: not spooled */
	int64_t time; /* ms since the epoch, UTC */
	enum event_name name;
	int severity;     /* syslog's, LOG_EMERG (0) to LOG_DEBUG (7) */
	const char *host; /* where rotad runs; never NULL or "" */

	/* Absent: NULL, 0, -1 or EVENT_TRIGGER_NONE, as each says. */
	const char *run_id;          /* a run's id */
	int64_t attempt;             /* 1 up; 0: none */
	const char *user;            /* rotad's name of the user (account) */
	const char *resource;        /* ... and of its resource */
	const char *provider;        /* the catalog's name: "postgresql" */
	enum event_trigger trigger;  /* what started the run */
	const char *outcome;         /* "success", "failure", "denied", ... */
	const char *error_class;     /* store.h's: "transient", "auth", ... */
	const char *message;         /* scrubbed text for people */
	int64_t duration_ms;         /* -1: none */
	const char *rotation_status; /* the run's state: "committed" */
	const char *post_rotation_status; /* the scripts' result, apart */
	const char *alert_id;             /* the SIEM alert's id (siem_alert) */
	int64_t uid;   /* the control socket's caller; -1: none */
	int64_t count; /* events_dropped's count; -1: none */

	char *storage_; /* a decoded event's strings; event_clear() only */
};

/*
 * A new event NAME at TIME (ms) on HOST (borrowed), its severity the
 * name's default and every optional field absent.
 */
void event_init(
    struct event *ev, enum event_name name, int64_t time, const char *host);

/* Free what a decoded event owns and reset it to absent fields.  NULL-safe;
 * harmless on an event built by the caller. */
void event_clear(struct event *ev);

/* ---- the tables ---- */

/* "record_rotation_scheduled_ok", ...; NULL out of range. */
const char *event_name_to_string(enum event_name name);
/* 0, or -EINVAL for a name not in the table. */
int event_name_from_string(const char *s, enum event_name *ret);

/* The name's default severity (LOG_*), -1 out of range. */
int event_default_severity(enum event_name name);

/* "rotation", "config", "access" or "daemon"; NULL out of range. */
const char *event_category(enum event_name name);

/* A short sentence: "Scheduled rotation succeeded"; NULL out of range. */
const char *event_title(enum event_name name);

/* EVENT_F_* the name may carry; in *ret_required (may be NULL), the ones
 * it must.  0 out of range. */
unsigned event_fields(enum event_name name, unsigned *ret_required);

/* "scheduled", "on_demand", "recovery", "siem_alert"; NULL for NONE or
 * out of range. */
const char *event_trigger_to_string(enum event_trigger trigger);
int event_trigger_from_string(const char *s, enum event_trigger *ret);

/* syslog's keywords: "emerg", "alert", "crit", "err", "warning",
 * "notice", "info", "debug"; NULL out of range. */
const char *event_severity_to_string(int severity);
int event_severity_from_string(const char *s, int *ret);

/* Room for event_time_to_string(): "2024-01-02T03:04:05.678Z". */
#define EVENT_TIMESTAMP_SIZE 25

/*
 * TIME (ms since the epoch) as RFC 3339 in UTC with milliseconds into BUF
 * (EVENT_TIMESTAMP_SIZE bytes).  0, or -EINVAL for a time outside 0 to
 * EVENT_TIME_MAX.
 */
int event_time_to_string(int64_t time, char buf[EVENT_TIMESTAMP_SIZE]);

/* ---- the spool form ---- */

/*
 * Whether EV is an event the spool may hold; what event_encode_json()
 * and event_decode_json() check.  0, or -EINVAL with a reason (a static
 * string) in *ret_why when RET_WHY is not NULL:
 *   name in the table, severity 0-7, time 0 to EVENT_TIME_MAX, seq >= 0;
 *   host 1 to EVENT_HOST_MAX printable US-ASCII characters (no space);
 *   each field present only when event_fields() allows it, and every
 *   required one present;
 *   run_id, alert_id: 1 to EVENT_ID_MAX printable US-ASCII characters;
 *   user, resource: 1 to EVENT_NAME_MAX bytes of UTF-8, no control
 *   character;
 *   provider, outcome, error_class, rotation_status, post_rotation_status:
 *   1 to EVENT_TOKEN_MAX of a-z, 0-9, '_', '-', '.';
 *   message: 1 to EVENT_MESSAGE_MAX bytes of UTF-8 (control characters
 *   allowed: every format escapes them);
 *   attempt from 1 (or 0), duration_ms from 0 (or -1), uid 0 to
 *   4294967294 (or -1), count from 0 (or -1).
 */
int event_check(const struct event *ev, const char **ret_why);

/*
 * EV as one compact JSON object, NUL-terminated, no newline, into *ret
 * (malloc'd, the caller frees).  Keys, in this order, absent fields left
 * out: v (1), seq, time, timestamp (RFC 3339, UTC, ms), host, name,
 * severity, run_id, attempt, user, resource, provider, trigger, outcome,
 * error_class, message, duration_ms, rotation_status,
 * post_rotation_status, alert_id, uid, count.
 * 0, -EINVAL (event_check() refuses EV), -ENOMEM.
 */
int event_encode_json(const struct event *ev, char **ret);

/*
 * The LEN bytes at S, one JSON object as event_encode_json() writes it
 * (keys in any order; "timestamp" may be left out, and must agree with
 * "time" when present), into *RET, which then owns its strings.  Strict:
 * at most EVENT_JSON_MAX bytes, no NUL, no duplicate or unknown key, each
 * value of its type, an absent field left out rather than written as its
 * absent value, and event_check() satisfied.
 * 0, -EINVAL (RET cleared), -ENOMEM.
 */
int event_decode_json(const char *s, size_t len, struct event *ret);

/* ---- filters ---- */

/*
 * What a sink takes.  event_filter_init() makes one that takes every
 * event; then each part narrows it.
 */
struct event_filter {
	int min_severity;         /* LOG_*: events at least this severe, i.e.
				   * severity <= min_severity; LOG_DEBUG: all */
	uint32_t names;           /* bits 1 << EVENT_*; 0: every name */
	const char *const *users; /* NULL or a list of NUSERS user names */
	size_t nusers;            /* 0: any user, even none; else an event whose
				   * user is not in the list is refused, and so is
				   * an event without a user */
};

void event_filter_init(struct event_filter *f);

/* Whether EV passes F. */
bool event_filter_match(const struct event_filter *f, const struct event *ev);

#endif
