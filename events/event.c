/*
 * event.c: the event model, its tables, its spool form and the filter.
 *
 * Two tables drive everything.  names[] gives each event its stable name,
 * default severity, category, title and the fields it may and must carry;
 * keys[] lists the JSON keys in their fixed order, with where each lives
 * in struct event, its type and its bounds.  The encoder, the decoder and
 * event_check() all walk keys[], so a field added there is written, read
 * and checked alike.
 *
 * The decoder reads what the store holds, which a bug, a downgrade or a
 * hand at the SQLite file may have written, so it is as strict as the
 * control socket's: one spelling per event, and nothing it does not know.
 */
#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include <jansson.h>

#include "event-internal.h"
#include "event.h"
#include "utf8.h"

/* The context every event about a run may carry. */
#define RUN_FIELDS                                                             \
	(EVENT_F_RUN_ID | EVENT_F_ATTEMPT | EVENT_F_USER | EVENT_F_RESOURCE |  \
	    EVENT_F_PROVIDER | EVENT_F_TRIGGER | EVENT_F_ALERT_ID |            \
	    EVENT_F_MESSAGE)
/* A run's end, as Keeper's record_rotation_* events report it. */
#define RECORD_FIELDS                                                          \
	(RUN_FIELDS | EVENT_F_OUTCOME | EVENT_F_ERROR_CLASS |                  \
	    EVENT_F_DURATION | EVENT_F_ROTATION_STATUS |                       \
	    EVENT_F_POST_ROTATION_STATUS)
#define RECORD_REQUIRED                                                        \
	(EVENT_F_RUN_ID | EVENT_F_USER | EVENT_F_TRIGGER | EVENT_F_OUTCOME |   \
	    EVENT_F_ROTATION_STATUS)
#define SECRET_FIELDS                                                          \
	(EVENT_F_UID | EVENT_F_USER | EVENT_F_RESOURCE | EVENT_F_PROVIDER |    \
	    EVENT_F_MESSAGE)

static const struct name_info {
	const char *name;
	int severity;
	const char *category;
	const char *title;
	unsigned fields, required;
} names[EVENT__MAX] = {
	[EVENT_RECORD_ROTATION_SCHEDULED_OK] = { "record_rotation_scheduled_ok",
	    LOG_NOTICE, "rotation", "Scheduled rotation succeeded",
	    RECORD_FIELDS, RECORD_REQUIRED },
	[EVENT_RECORD_ROTATION_SCHEDULED_FAIL] = { "record_rotation_scheduled_"
						   "fail",
	    LOG_ERR, "rotation", "Scheduled rotation failed", RECORD_FIELDS,
	    RECORD_REQUIRED },
	[EVENT_RECORD_ROTATION_ON_DEMAND_OK] = { "record_rotation_on_demand_ok",
	    LOG_NOTICE, "rotation", "On-demand rotation succeeded",
	    RECORD_FIELDS, RECORD_REQUIRED },
	[EVENT_RECORD_ROTATION_ON_DEMAND_FAIL] = { "record_rotation_on_demand_"
						   "fail",
	    LOG_ERR, "rotation", "On-demand rotation failed", RECORD_FIELDS,
	    RECORD_REQUIRED },
	[EVENT_ROTATION_STARTED] = { "rotation_started", LOG_INFO, "rotation",
	    "Rotation started", RUN_FIELDS,
	    EVENT_F_RUN_ID | EVENT_F_USER | EVENT_F_TRIGGER },
	[EVENT_ROTATION_RETRY_SCHEDULED] = { "rotation_retry_scheduled",
	    LOG_WARNING, "rotation", "Rotation will be retried",
	    RUN_FIELDS | EVENT_F_ERROR_CLASS,
	    EVENT_F_RUN_ID | EVENT_F_USER | EVENT_F_ATTEMPT |
		EVENT_F_ERROR_CLASS },
	[EVENT_ROTATION_RECOVERED] = { "rotation_recovered", LOG_NOTICE,
	    "rotation", "Rotation recovered",
	    RUN_FIELDS | EVENT_F_OUTCOME | EVENT_F_ROTATION_STATUS,
	    EVENT_F_RUN_ID | EVENT_F_USER | EVENT_F_ROTATION_STATUS },
	[EVENT_ROTATION_OUT_OF_SYNC] = { "rotation_out_of_sync", LOG_CRIT,
	    "rotation", "Credential out of sync with its target",
	    RUN_FIELDS | EVENT_F_ERROR_CLASS | EVENT_F_ROTATION_STATUS,
	    EVENT_F_RUN_ID | EVENT_F_USER },
	[EVENT_VERIFY_OK] = { "verify_ok", LOG_INFO, "rotation",
	    "Credential verified", RUN_FIELDS | EVENT_F_DURATION,
	    EVENT_F_USER },
	[EVENT_VERIFY_FAIL] = { "verify_fail", LOG_WARNING, "rotation",
	    "Credential verification failed",
	    RUN_FIELDS | EVENT_F_DURATION | EVENT_F_ERROR_CLASS,
	    EVENT_F_USER | EVENT_F_ERROR_CLASS },
	[EVENT_CONFIG_RELOADED] = { "config_reloaded", LOG_NOTICE, "config",
	    "Configuration reloaded", EVENT_F_MESSAGE | EVENT_F_COUNT, 0 },
	[EVENT_CONFIG_REJECTED] = { "config_rejected", LOG_ERR, "config",
	    "Configuration rejected", EVENT_F_MESSAGE | EVENT_F_COUNT,
	    EVENT_F_MESSAGE },
	[EVENT_JOB_FILE_SKIPPED] = { "job_file_skipped", LOG_WARNING, "config",
	    "Job file skipped", EVENT_F_MESSAGE, EVENT_F_MESSAGE },
	[EVENT_CONTROL_DENIED] = { "control_denied", LOG_WARNING, "access",
	    "Control request denied",
	    EVENT_F_UID | EVENT_F_USER | EVENT_F_MESSAGE, EVENT_F_UID },
	[EVENT_SECRET_READ] = { "secret_read", LOG_NOTICE, "access",
	    "Secret read", SECRET_FIELDS, EVENT_F_UID | EVENT_F_USER },
	[EVENT_SECRET_SET] = { "secret_set", LOG_NOTICE, "access", "Secret set",
	    SECRET_FIELDS | EVENT_F_RUN_ID, EVENT_F_UID | EVENT_F_USER },
	[EVENT_DAEMON_STARTED] = { "daemon_started", LOG_NOTICE, "daemon",
	    "Daemon started", EVENT_F_MESSAGE, 0 },
	[EVENT_DAEMON_STOPPING] = { "daemon_stopping", LOG_NOTICE, "daemon",
	    "Daemon stopping", EVENT_F_MESSAGE, 0 },
	[EVENT_EVENTS_DROPPED] = { "events_dropped", LOG_ERR, "daemon",
	    "Events dropped", EVENT_F_COUNT | EVENT_F_MESSAGE, EVENT_F_COUNT },
};

static const char *const triggers[EVENT_TRIGGER__MAX] = {
	[EVENT_TRIGGER_SCHEDULED] = "scheduled",
	[EVENT_TRIGGER_ON_DEMAND] = "on_demand",
	[EVENT_TRIGGER_RECOVERY] = "recovery",
	[EVENT_TRIGGER_SIEM_ALERT] = "siem_alert",
};

static const char *const severities[] = { "emerg", "alert", "crit", "err",
	"warning", "notice", "info", "debug" };

/* How a key's value is kept, and which strings it takes. */
enum kind {
	K_VERSION,   /* "v": 1 */
	K_INT,       /* an int64_t field */
	K_TIMESTAMP, /* "timestamp": derived from "time" */
	K_NAME,
	K_SEVERITY,
	K_TRIGGER,
	K_PRINT, /* printable US-ASCII, no space */
	K_TEXT,  /* UTF-8 without control characters */
	K_TOKEN, /* a-z 0-9 _ - . */
	K_MESSAGE,
};

static const struct key {
	const char *key;
	enum kind kind;
	size_t off;     /* in struct event */
	unsigned field; /* EVENT_F_*; 0: always there */
	int64_t absent; /* K_INT: the value that means none */
	int64_t min;    /* K_INT: the least present value */
	int64_t max;    /* K_INT: the largest; strings: bytes */
} keys[] = {
	{ "v", K_VERSION, 0, 0, 0, 1, 1 },
	{ "seq", K_INT, offsetof(struct event, seq), 0, 0, 0, INT64_MAX },
	{ "time", K_INT, offsetof(struct event, time), 0, 0, 0,
	    EVENT_TIME_MAX },
	{ "timestamp", K_TIMESTAMP, 0, 0, 0, 0, 0 },
	{ "host", K_PRINT, offsetof(struct event, host), 0, 0, 0,
	    EVENT_HOST_MAX },
	{ "name", K_NAME, 0, 0, 0, 0, 0 },
	{ "severity", K_SEVERITY, 0, 0, 0, LOG_EMERG, LOG_DEBUG },
	{ "run_id", K_PRINT, offsetof(struct event, run_id), EVENT_F_RUN_ID, 0,
	    0, EVENT_ID_MAX },
	{ "attempt", K_INT, offsetof(struct event, attempt), EVENT_F_ATTEMPT, 0,
	    1, INT64_MAX },
	{ "user", K_TEXT, offsetof(struct event, user), EVENT_F_USER, 0, 0,
	    EVENT_NAME_MAX },
	{ "resource", K_TEXT, offsetof(struct event, resource),
	    EVENT_F_RESOURCE, 0, 0, EVENT_NAME_MAX },
	{ "provider", K_TOKEN, offsetof(struct event, provider),
	    EVENT_F_PROVIDER, 0, 0, EVENT_TOKEN_MAX },
	{ "trigger", K_TRIGGER, 0, EVENT_F_TRIGGER, 0, 0, 0 },
	{ "outcome", K_TOKEN, offsetof(struct event, outcome), EVENT_F_OUTCOME,
	    0, 0, EVENT_TOKEN_MAX },
	{ "error_class", K_TOKEN, offsetof(struct event, error_class),
	    EVENT_F_ERROR_CLASS, 0, 0, EVENT_TOKEN_MAX },
	{ "message", K_MESSAGE, offsetof(struct event, message),
	    EVENT_F_MESSAGE, 0, 0, EVENT_MESSAGE_MAX },
	{ "duration_ms", K_INT, offsetof(struct event, duration_ms),
	    EVENT_F_DURATION, -1, 0, INT64_MAX },
	{ "rotation_status", K_TOKEN, offsetof(struct event, rotation_status),
	    EVENT_F_ROTATION_STATUS, 0, 0, EVENT_TOKEN_MAX },
	{ "post_rotation_status", K_TOKEN,
	    offsetof(struct event, post_rotation_status),
	    EVENT_F_POST_ROTATION_STATUS, 0, 0, EVENT_TOKEN_MAX },
	{ "alert_id", K_PRINT, offsetof(struct event, alert_id),
	    EVENT_F_ALERT_ID, 0, 0, EVENT_ID_MAX },
	{ "uid", K_INT, offsetof(struct event, uid), EVENT_F_UID, -1, 0,
	    UINT32_MAX - 1 },
	{ "count", K_INT, offsetof(struct event, count), EVENT_F_COUNT, -1, 0,
	    INT64_MAX },
};
#define NKEYS (sizeof(keys) / sizeof(keys[0]))

static const char **
str_at(const struct event *ev, const struct key *k)
{
	return (const char **)((char *)(uintptr_t)ev + k->off);
}

static int64_t *
int_at(const struct event *ev, const struct key *k)
{
	return (int64_t *)((char *)(uintptr_t)ev + k->off);
}

static bool
is_string_kind(enum kind kind)
{
	return kind == K_PRINT || kind == K_TEXT || kind == K_TOKEN ||
	    kind == K_MESSAGE;
}

void
event_init(
    struct event *ev, enum event_name name, int64_t time, const char *host)
{
	memset(ev, 0, sizeof(*ev));
	ev->name = name;
	ev->time = time;
	ev->host = host;
	ev->severity = event_default_severity(name);
	ev->duration_ms = -1;
	ev->uid = -1;
	ev->count = -1;
}

void
event_clear(struct event *ev)
{
	if (ev == NULL)
		return;
	free(ev->storage_);
	event_init(ev, 0, 0, NULL);
}

/* ---- the tables ---- */

const char *
event_name_to_string(enum event_name name)
{
	return (unsigned)name < EVENT__MAX ? names[name].name : NULL;
}

int
event_name_from_string(const char *s, enum event_name *ret)
{
	unsigned i;

	for (i = 0; i < EVENT__MAX; i++) {
		if (strcmp(s, names[i].name) == 0) {
			*ret = i;
			return 0;
		}
	}
	return -EINVAL;
}

int
event_default_severity(enum event_name name)
{
	return (unsigned)name < EVENT__MAX ? names[name].severity : -1;
}

const char *
event_category(enum event_name name)
{
	return (unsigned)name < EVENT__MAX ? names[name].category : NULL;
}

const char *
event_title(enum event_name name)
{
	return (unsigned)name < EVENT__MAX ? names[name].title : NULL;
}

unsigned
event_fields(enum event_name name, unsigned *ret_required)
{
	bool ok = (unsigned)name < EVENT__MAX;

	if (ret_required != NULL)
		*ret_required = ok ? names[name].required : 0;
	return ok ? names[name].fields : 0;
}

const char *
event_trigger_to_string(enum event_trigger trigger)
{
	return (unsigned)trigger < EVENT_TRIGGER__MAX ? triggers[trigger]
						      : NULL;
}

int
event_trigger_from_string(const char *s, enum event_trigger *ret)
{
	unsigned i;

	for (i = EVENT_TRIGGER_NONE + 1; i < EVENT_TRIGGER__MAX; i++) {
		if (strcmp(s, triggers[i]) == 0) {
			*ret = i;
			return 0;
		}
	}
	return -EINVAL;
}

const char *
event_severity_to_string(int severity)
{
	return severity >= LOG_EMERG && severity <= LOG_DEBUG
	    ? severities[severity]
	    : NULL;
}

int
event_severity_from_string(const char *s, int *ret)
{
	int i;

	for (i = LOG_EMERG; i <= LOG_DEBUG; i++) {
		if (strcmp(s, severities[i]) == 0) {
			*ret = i;
			return 0;
		}
	}
	return -EINVAL;
}

int
event_time_to_string(int64_t time, char buf[EVENT_TIMESTAMP_SIZE])
{
	char tmp[64];
	struct tm tm;
	time_t t;

	if (time < 0 || time > EVENT_TIME_MAX)
		return -EINVAL;
	t = (time_t)(time / 1000);
	if (gmtime_r(&t, &tm) == NULL)
		return -EINVAL;
	/* The range above keeps it to EVENT_TIMESTAMP_SIZE; the compiler
	 * cannot know, hence the larger buffer. */
	snprintf(tmp, sizeof(tmp), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
	    tm.tm_sec, (int)(time % 1000));
	memcpy(buf, tmp, EVENT_TIMESTAMP_SIZE);
	return 0;
}

/* ---- checks ---- */

/* Whether the field K describes is present in EV. */
static bool
present(const struct event *ev, const struct key *k)
{
	if (k->kind == K_TRIGGER)
		return ev->trigger != EVENT_TRIGGER_NONE;
	if (k->kind == K_INT)
		return *int_at(ev, k) != k->absent;
	return *str_at(ev, k) != NULL;
}

static bool
token_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
	    c == '-' || c == '.';
}

/* Whether S, of kind KIND, is 1 to MAX bytes of what KIND allows. */
static bool
string_ok(const char *s, enum kind kind, int64_t max)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t len = strlen(s), i;

	if (len == 0 || len > (size_t)max)
		return false;
	if (kind == K_MESSAGE)
		return utf8_valid(p, len);
	if (kind == K_TEXT) {
		if (!utf8_valid(p, len))
			return false;
		for (i = 0; i < len; i++) {
			/* C0, DEL, and C1 (U+0080-U+009F: 0xc2 0x80-0x9f). */
			if (p[i] < 0x20 || p[i] == 0x7f ||
			    (p[i] == 0xc2 && p[i + 1] < 0xa0))
				return false;
		}
		return true;
	}
	for (i = 0; i < len; i++) {
		if (kind == K_PRINT ? p[i] < 0x21 || p[i] > 0x7e
				    : !token_char(p[i]))
			return false;
	}
	return true;
}

int
event_check(const struct event *ev, const char **ret_why)
{
	const char *why = NULL;
	const struct key *k;
	unsigned have = 0, fields, required;
	int64_t v;
	size_t i;

	if ((unsigned)ev->name >= EVENT__MAX) {
		why = "unknown event name";
		goto out;
	}
	if (ev->severity < LOG_EMERG || ev->severity > LOG_DEBUG) {
		why = "severity out of range (0-7)";
		goto out;
	}
	if ((unsigned)ev->trigger >= EVENT_TRIGGER__MAX) {
		why = "unknown trigger";
		goto out;
	}
	if (ev->host == NULL) {
		why = "no host";
		goto out;
	}
	for (i = 0; i < NKEYS; i++) {
		k = &keys[i];
		if (k->field != 0 && present(ev, k))
			have |= k->field;
		if (k->kind == K_INT) {
			v = *int_at(ev, k);
			if ((v < k->min || v > k->max) &&
			    (k->field == 0 || v != k->absent)) {
				why = "a number out of range";
				goto out;
			}
		} else if (is_string_kind(k->kind) && *str_at(ev, k) != NULL &&
		    !string_ok(*str_at(ev, k), k->kind, k->max)) {
			why = "a string empty, too long or with a character "
			      "its field does not allow";
			goto out;
		}
	}
	fields = event_fields(ev->name, &required);
	if ((have & ~fields) != 0)
		why = "a field this event does not carry";
	else if ((required & ~have) != 0)
		why = "a field this event needs is missing";
out:
	if (ret_why != NULL)
		*ret_why = why;
	return why == NULL ? 0 : -EINVAL;
}

/* ---- JSON ---- */

json_t *
event_json_text(const char *s)
{
	size_t len = strlen(s), i, n, o = 0;
	json_t *j;
	char *fixed;

	if (utf8_valid(s, len))
		return json_stringn(s, len);
	/* Each bad byte grows by 2 at most. */
	fixed = malloc(len * 3 + 1);
	if (fixed == NULL)
		return NULL;
	for (i = 0; i < len; i += n) {
		n = utf8_seq(s + i, len - i);
		if (n == 0) {
			memcpy(fixed + o, UTF8_REPLACEMENT, 3);
			o += 3;
			n = 1;
		} else {
			memcpy(fixed + o, s + i, n);
			o += n;
		}
	}
	j = json_stringn(fixed, o);
	free(fixed);
	return j;
}

/* The value of key K in EV, or NULL when EV does not have it (*oom set
 * when it does and memory ran out). */
static json_t *
value_of(const struct event *ev, const struct key *k, bool *oom)
{
	char ts[EVENT_TIMESTAMP_SIZE];
	json_t *j = NULL;

	switch (k->kind) {
	case K_VERSION:
		j = json_integer(1);
		break;
	case K_TIMESTAMP:
		if (event_time_to_string(ev->time, ts) < 0)
			return NULL;
		j = json_string(ts);
		break;
	case K_NAME:
		j = json_string(names[ev->name].name);
		break;
	case K_SEVERITY:
		j = json_integer(ev->severity);
		break;
	case K_TRIGGER:
		if (event_trigger_to_string(ev->trigger) == NULL)
			return NULL;
		j = json_string(event_trigger_to_string(ev->trigger));
		break;
	case K_INT:
		if (k->field != 0 && !present(ev, k))
			return NULL;
		j = json_integer(*int_at(ev, k));
		break;
	default:
		if (*str_at(ev, k) == NULL)
			return NULL;
		j = event_json_text(*str_at(ev, k));
		break;
	}
	if (j == NULL)
		*oom = true;
	return j;
}

json_t *
event_to_json(const struct event *ev)
{
	json_t *obj, *v;
	bool oom = false;
	size_t i;

	obj = json_object();
	for (i = 0; obj != NULL && i < NKEYS; i++) {
		v = value_of(ev, &keys[i], &oom);
		if (oom ||
		    (v != NULL &&
			json_object_set_new(obj, keys[i].key, v) < 0)) {
			json_decref(obj);
			obj = NULL;
		}
	}
	return obj;
}

const char *
event_field_value(
    const struct event *ev, unsigned field, char buf[EVENT_NUMBER_SIZE])
{
	const struct key *k;
	size_t i;

	for (i = 0; field != 0 && i < NKEYS; i++) {
		k = &keys[i];
		if (k->field != field || !present(ev, k))
			continue;
		if (k->kind == K_TRIGGER)
			return event_trigger_to_string(ev->trigger);
		if (k->kind != K_INT)
			return *str_at(ev, k);
		snprintf(buf, EVENT_NUMBER_SIZE, "%" PRId64, *int_at(ev, k));
		return buf;
	}
	return NULL;
}

int
event_encode_json(const struct event *ev, char **ret)
{
	json_t *obj;
	char *s;

	if (event_check(ev, NULL) < 0)
		return -EINVAL;
	obj = event_to_json(ev);
	if (obj == NULL)
		return -ENOMEM;
	s = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(obj);
	if (s == NULL)
		return -ENOMEM;
	*ret = s;
	return 0;
}

static const struct key *
find_key(const char *name)
{
	size_t i;

	for (i = 0; i < NKEYS; i++) {
		if (strcmp(keys[i].key, name) == 0)
			return &keys[i];
	}
	return NULL;
}

/*
 * Member NAME = V of the object into EV, its strings borrowed from V.
 * Each key at most once (jansson refuses duplicates), so EV starts from
 * event_init()'s absent values.  0 or -EINVAL.
 */
static int
decode_member(struct event *ev, const char *name, json_t *v)
{
	const struct key *k;
	json_int_t n;

	k = find_key(name);
	if (k == NULL)
		return -EINVAL;
	if (is_string_kind(k->kind)) {
		if (!json_is_string(v))
			return -EINVAL;
		*str_at(ev, k) = json_string_value(v);
		return 0;
	}
	switch (k->kind) {
	case K_TIMESTAMP:
		/* Checked against "time" once both are known. */
		return json_is_string(v) ? 0 : -EINVAL;
	case K_NAME:
		if (!json_is_string(v))
			return -EINVAL;
		return event_name_from_string(json_string_value(v), &ev->name);
	case K_TRIGGER:
		if (!json_is_string(v))
			return -EINVAL;
		return event_trigger_from_string(
		    json_string_value(v), &ev->trigger);
	default:
		break;
	}
	if (!json_is_integer(v))
		return -EINVAL;
	n = json_integer_value(v);
	/* The absent value is never written: one spelling per event. */
	if (n < k->min || n > k->max)
		return -EINVAL;
	if (k->kind == K_SEVERITY)
		ev->severity = (int)n;
	else if (k->kind == K_INT)
		*int_at(ev, k) = n;
	return 0;
}

/* Copy EV's strings, borrowed from a JSON object, into one block it owns. */
static int
own_strings(struct event *ev)
{
	const char **s;
	size_t total = 0, i, n;
	char *block, *p;

	for (i = 0; i < NKEYS; i++) {
		if (is_string_kind(keys[i].kind) &&
		    *str_at(ev, &keys[i]) != NULL)
			total += strlen(*str_at(ev, &keys[i])) + 1;
	}
	block = malloc(total > 0 ? total : 1);
	if (block == NULL)
		return -ENOMEM;
	p = block;
	for (i = 0; i < NKEYS; i++) {
		s = str_at(ev, &keys[i]);
		if (!is_string_kind(keys[i].kind) || *s == NULL)
			continue;
		n = strlen(*s) + 1;
		memcpy(p, *s, n);
		*s = p;
		p += n;
	}
	ev->storage_ = block;
	return 0;
}

int
event_decode_json(const char *s, size_t len, struct event *ret)
{
	char ts[EVENT_TIMESTAMP_SIZE];
	struct event ev;
	json_t *obj = NULL, *v;
	const char *key;
	int r = -EINVAL;

	event_init(&ev, 0, 0, NULL);
	ev.severity = -1;
	event_init(ret, 0, 0, NULL);
	if (len > EVENT_JSON_MAX || memchr(s, '\0', len) != NULL)
		goto out;
	obj = json_loadb(s, len, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(obj))
		goto out;
	/* The keys every event has: "v", "seq", "time", "host", "name",
	 * "severity". */
	if (json_object_get(obj, "v") == NULL ||
	    json_object_get(obj, "seq") == NULL ||
	    json_object_get(obj, "time") == NULL ||
	    json_object_get(obj, "host") == NULL ||
	    json_object_get(obj, "name") == NULL ||
	    json_object_get(obj, "severity") == NULL)
		goto out;
	json_object_foreach(obj, key, v)
	{
		if (decode_member(&ev, key, v) < 0)
			goto out;
	}
	v = json_object_get(obj, "timestamp");
	if (v != NULL &&
	    (event_time_to_string(ev.time, ts) < 0 ||
		strcmp(json_string_value(v), ts) != 0))
		goto out;
	if (event_check(&ev, NULL) < 0)
		goto out;
	r = own_strings(&ev);
	if (r == 0)
		*ret = ev;
out:
	json_decref(obj);
	return r;
}

/* ---- filters ---- */

void
event_filter_init(struct event_filter *f)
{
	memset(f, 0, sizeof(*f));
	f->min_severity = LOG_DEBUG;
}

bool
event_filter_match(const struct event_filter *f, const struct event *ev)
{
	size_t i;

	if (ev->severity > f->min_severity)
		return false;
	if (f->names != 0 &&
	    ((unsigned)ev->name >= 32 || (f->names & 1u << ev->name) == 0))
		return false;
	if (f->nusers == 0)
		return true;
	if (ev->user == NULL)
		return false;
	for (i = 0; i < f->nusers; i++) {
		if (strcmp(f->users[i], ev->user) == 0)
			return true;
	}
	return false;
}
