/*
 * event_format.c: RFC 5424, CEF, LEEF 2.0, JSON lines and Splunk HEC.
 *
 * Every format is built in one growing buffer by the same few writers:
 * put() for our own fixed text, and escaped() for anything that came
 * from an event or the configuration.  escaped() takes the format's
 * rules (which bytes get a backslash, what becomes of control
 * characters), replaces bytes that are not UTF-8 with U+FFFD, and so is
 * the one place that decides whether a value can break out of its field.
 * tests/fuzz/fuzz_events.c parses every message back to check it.
 *
 * The fields' names in each format come from params[], one row per field,
 * so that a field added to the model is added to every format at once.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include <jansson.h>

#include "config.h"
#include "event-internal.h"
#include "event_format.h"
#include "utf8.h"

#define BOM "\xef\xbb\xbf"
#define NIL "-"
/* Java's SimpleDateFormat for LEEF's devTime ("Z": "+0000"), as QRadar
 * documents it. */
#define LEEF_TIME_FORMAT "yyyy-MM-dd'T'HH:mm:ss.SSSZ"

static const char *const formats[EVENT_FORMAT__MAX] = {
	[EVENT_FORMAT_RFC5424] = "rfc5424",
	[EVENT_FORMAT_CEF] = "cef",
	[EVENT_FORMAT_LEEF] = "leef",
	[EVENT_FORMAT_JSON] = "json",
	[EVENT_FORMAT_HEC] = "hec",
	[EVENT_FORMAT_SLACK] = "slack",
	[EVENT_FORMAT_JOURNAL] = "journal",
};

/* syslog severity -> CEF and LEEF (event_format.h has the reasoning). */
static const int cef_severity[] = { 10, 9, 8, 7, 5, 3, 2, 1 };

/*
 * Each optional field's name in the structured data, in CEF (a key of
 * the CEF dictionary, or a custom slot with its label) and in LEEF (a
 * predefined attribute, or our own).  The message is last: it is MSG in
 * RFC 5424, and the longest value elsewhere.
 */
static const struct param {
	unsigned field;
	const char *sd, *cef, *cef_label, *leef;
} params[] = {
	{ EVENT_F_RUN_ID, "run_id", "cs1", "runId", "runId" },
	{ EVENT_F_ATTEMPT, "attempt", "cn1", "attempt", "attempt" },
	{ EVENT_F_USER, "user", "duser", NULL, "usrName" },
	{ EVENT_F_RESOURCE, "resource", "cs2", "resource", "resource" },
	{ EVENT_F_PROVIDER, "provider", "cs3", "provider", "provider" },
	{ EVENT_F_TRIGGER, "trigger", "cs4", "trigger", "trigger" },
	{ EVENT_F_OUTCOME, "outcome", "outcome", NULL, "outcome" },
	{ EVENT_F_ERROR_CLASS, "error_class", "reason", NULL, "errorClass" },
	{ EVENT_F_DURATION, "duration_ms", "cn2", "durationMs", "durationMs" },
	{ EVENT_F_ROTATION_STATUS, "rotation_status", "cs5", "rotationStatus",
	    "rotationStatus" },
	{ EVENT_F_POST_ROTATION_STATUS, "post_rotation_status", "cs6",
	    "postRotationStatus", "postRotationStatus" },
	{ EVENT_F_ALERT_ID, "alert_id", "flexString1", "alertId", "alertId" },
	{ EVENT_F_UID, "uid", "suid", NULL, "uid" },
	{ EVENT_F_COUNT, "count", "cnt", NULL, "count" },
	{ EVENT_F_MESSAGE, NULL, "msg", NULL, "msg" },
};
#define NPARAMS (sizeof(params) / sizeof(params[0]))

struct buf {
	char *p;
	size_t len, cap;
	bool oom;
};

static void
put(struct buf *b, const char *s, size_t n)
{
	size_t cap;
	char *p;

	if (b->oom)
		return;
	if (b->cap - b->len <= n) {
		cap = b->cap > 0 ? b->cap : 256;
		while (cap - b->len <= n)
			cap *= 2;
		p = realloc(b->p, cap);
		if (p == NULL) {
			b->oom = true;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void
puts_(struct buf *b, const char *s)
{
	put(b, s, strlen(s));
}

static void putf(struct buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
putf(struct buf *b, const char *fmt, ...)
{
	char tmp[64];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	/* Only numbers and fixed words pass through here. */
	if (n > 0 && (size_t)n < sizeof(tmp))
		put(b, tmp, (size_t)n);
	else
		b->oom = true;
}

/* How control characters (C0 and DEL) are written. */
enum {
	CTL_LF = 1 << 0,  /* LF and CR as \n and \r */
	CTL_TAB = 1 << 1, /* tab as \t */
	CTL_HEX = 1 << 2, /* the rest as \xHH; without it, a space */
};

struct rules {
	const char *special; /* bytes written with a backslash before */
	unsigned ctl;
};

/* RFC 5424 section 6.3.3: '"', '\' and ']' in a PARAM-VALUE. */
static const struct rules sd_value = { "\"\\]", CTL_LF | CTL_TAB | CTL_HEX };
/* MSG has no escapes of its own: only control characters are shown. */
static const struct rules msg_text = { "", CTL_LF | CTL_TAB | CTL_HEX };
/* CEF and LEEF headers: '|' and '\'. */
static const struct rules pipe_header = { "|\\", 0 };
/* CEF values: '=', '\' and newlines. */
static const struct rules cef_value = { "=\\", CTL_LF };
/* LEEF values: '\', the delimiter (tab) and newlines. */
static const struct rules leef_value = { "\\", CTL_LF | CTL_TAB };

static void
escaped(struct buf *b, const char *s, const struct rules *r)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t len = strlen(s), i = 0, n;
	char esc[5];

	while (i < len) {
		n = utf8_seq(p + i, len - i);
		if (n == 0) {
			puts_(b, UTF8_REPLACEMENT);
			i++;
			continue;
		}
		if (p[i] < 0x20 || p[i] == 0x7f) {
			if ((r->ctl & CTL_LF) && p[i] == '\n')
				puts_(b, "\\n");
			else if ((r->ctl & CTL_LF) && p[i] == '\r')
				puts_(b, "\\r");
			else if ((r->ctl & CTL_TAB) && p[i] == '\t')
				puts_(b, "\\t");
			else if (r->ctl & CTL_HEX) {
				snprintf(esc, sizeof(esc), "\\x%02x", p[i]);
				put(b, esc, 4);
			} else
				put(b, " ", 1);
		} else {
			if (n == 1 && strchr(r->special, p[i]) != NULL)
				put(b, "\\", 1);
			put(b, s + i, n);
		}
		i += n;
	}
}

/* RFC 5424 section 6.2: an ASCII header field, 1 to MAX of PRINTUSASCII,
 * or the NILVALUE.  Other bytes become '?'. */
static void
header_field(struct buf *b, const char *s, size_t max)
{
	size_t i;
	char c;

	if (s == NULL || *s == '\0') {
		puts_(b, NIL);
		return;
	}
	for (i = 0; s[i] != '\0' && i < max; i++) {
		c = s[i] > 0x20 && s[i] < 0x7f ? s[i] : '?';
		put(b, &c, 1);
	}
}

static bool
printable(const char *s, size_t max, const char *except)
{
	size_t i;

	for (i = 0; s[i] != '\0'; i++) {
		if (i == max || s[i] < 0x21 || s[i] > 0x7e ||
		    strchr(except, s[i]) != NULL)
			return false;
	}
	return i > 0;
}

/* RFC 5424 SD-NAME (section 6.3.2): no '=', SP, ']', '"'; NAME@PEN with
 * PEN digits (section 7.2.2). */
static bool
sd_id_ok(const char *s)
{
	const char *at;
	size_t i;

	if (!printable(s, 32, "= ]\""))
		return false;
	at = strchr(s, '@');
	if (at == NULL || at == s || at[1] == '\0' ||
	    strchr(at + 1, '@') != NULL)
		return false;
	for (i = 1; at[i] != '\0'; i++) {
		if (at[i] < '0' || at[i] > '9')
			return false;
	}
	return true;
}

/* ---- the chat template ---- */

static void dump(struct buf *b, json_t *obj, size_t flags);

#define TEMPLATE_MAX 4096

/*
 * The value of the template's field NAME (LEN bytes) in EV: the JSON
 * form's names, "title", "name", "seq", "time", "host", "severity".
 * Returns 0 and the value in *RET (NULL: absent), or -ENOENT for a name
 * no event has.  NUM and TS hold numbers and the time.
 */
static int
template_value(const struct event *ev, const char *name, size_t len,
    char num[EVENT_NUMBER_SIZE], char ts[EVENT_TIMESTAMP_SIZE],
    const char **ret)
{
	static const char *const sev[] = { "emerg", "alert", "crit", "err",
		"warning", "notice", "info", "debug" };
	size_t i;

#define IS(s) (len == strlen(s) && memcmp(name, s, len) == 0)
	*ret = NULL;
	if (IS("title"))
		*ret = event_title(ev->name);
	else if (IS("name"))
		*ret = event_name_to_string(ev->name);
	else if (IS("host"))
		*ret = ev->host;
	else if (IS("severity"))
		*ret = ev->severity >= 0 && ev->severity <= 7
		    ? sev[ev->severity]
		    : NULL;
	else if (IS("seq")) {
		snprintf(num, EVENT_NUMBER_SIZE, "%" PRId64, ev->seq);
		*ret = ev->seq > 0 ? num : NULL;
	} else if (IS("time")) {
		*ret = event_time_to_string(ev->time, ts) == 0 ? ts : NULL;
	} else if (IS("message"))
		*ret = event_field_value(ev, EVENT_F_MESSAGE, num);
	else {
		for (i = 0; i < sizeof(params) / sizeof(params[0]); i++)
			if (params[i].sd != NULL && IS(params[i].sd)) {
				*ret = event_field_value(
				    ev, params[i].field, num);
				return 0;
			}
		return -ENOENT;
	}
#undef IS
	return 0;
}

/*
 * Walk template T: literal text to B as it is, each {field} as EV's value
 * with &, < and > escaped as Slack asks (EV NULL: only check the names).
 * "{{" is a literal "{".  0, or -EINVAL for an unclosed brace or an
 * unknown field.
 */
static int
template_expand(const char *t, const struct event *ev, struct buf *b)
{
	static const struct event probe = { .time = 0 };
	char num[EVENT_NUMBER_SIZE], ts[EVENT_TIMESTAMP_SIZE];
	const char *end, *v;
	size_t i, n;

	while (*t != '\0') {
		if (t[0] == '{' && t[1] == '{') {
			put(b, "{", 1);
			t += 2;
			continue;
		}
		if (t[0] != '{') {
			end = strchr(t, '{');
			if (end == NULL)
				end = t + strlen(t);
			put(b, t, (size_t)(end - t));
			t = end;
			continue;
		}
		end = strchr(t, '}');
		if (end == NULL ||
		    template_value(ev != NULL ? ev : &probe, t + 1,
			(size_t)(end - t - 1), num, ts, &v) < 0)
			return -EINVAL;
		t = end + 1;
		if (ev == NULL)
			continue;
		if (v == NULL)
			v = NIL;
		for (i = 0; v[i] != '\0'; i += n) {
			n = utf8_seq(v + i, strlen(v + i));
			if (n == 0) {
				puts_(b, UTF8_REPLACEMENT);
				n = 1;
			} else if (v[i] == '&')
				puts_(b, "&amp;");
			else if (v[i] == '<')
				puts_(b, "&lt;");
			else if (v[i] == '>')
				puts_(b, "&gt;");
			else
				put(b, v + i, n);
		}
	}
	return 0;
}

static int
template_check(const char *t)
{
	struct buf b = { 0 };
	int r;

	if (strlen(t) >= TEMPLATE_MAX || !utf8_valid(t, strlen(t)))
		return -EINVAL;
	r = template_expand(t, NULL, &b);
	free(b.p);
	return r;
}

/*
 * A chat webhook's message: {"text": the template}.  jansson writes the
 * JSON; bytes of a value that are not UTF-8 were already replaced with
 * U+FFFD by the spool's checks, and json_stringn() refuses what is left.
 */
static void
chat(struct buf *b, const struct event *ev,
    const struct event_format_options *opt)
{
	struct buf text = { 0 };
	json_t *obj;

	if (template_expand(opt->template != NULL ? opt->template
						  : EVENT_FORMAT_TEMPLATE,
		ev, &text) < 0 ||
	    text.oom) {
		free(text.p);
		b->oom = true;
		return;
	}
	obj = json_pack("{s:s%}", "text", text.p != NULL ? text.p : "",
	    text.p != NULL ? text.len : (size_t)0);
	free(text.p);
	dump(b, obj, 0);
	json_decref(obj);
}

void
event_format_options_init(struct event_format_options *opt)
{
	memset(opt, 0, sizeof(*opt));
	opt->facility = EVENT_FORMAT_FACILITY;
	opt->app_name = EVENT_FORMAT_APP_NAME;
	opt->sd_id = EVENT_FORMAT_SD_ID;
	opt->bom = true;
	opt->version = ROTAD_VERSION;
	opt->hec_source = "rotad";
	opt->hec_sourcetype = "rotad:event";
}

int
event_format_check_options(
    const struct event_format_options *opt, const char **ret_why)
{
	const char *why = NULL;

	if (opt->facility < 0 || opt->facility > 23)
		why = "facility out of range (0-23)";
	else if (opt->app_name == NULL || !printable(opt->app_name, 48, ""))
		why = "APP-NAME must be 1-48 printable US-ASCII characters";
	else if (opt->sd_id == NULL || !sd_id_ok(opt->sd_id))
		why = "SD-ID must be NAME@PEN, at most 32 characters, "
		      "without '=', space, ']' or '\"'";
	else if (opt->version == NULL || !printable(opt->version, 31, ""))
		why = "version must be 1-31 printable US-ASCII characters";
	else if (opt->hec_source == NULL || opt->hec_sourcetype == NULL ||
	    !utf8_valid(opt->hec_source, strlen(opt->hec_source)) ||
	    !utf8_valid(opt->hec_sourcetype, strlen(opt->hec_sourcetype)) ||
	    (opt->hec_index != NULL &&
		!utf8_valid(opt->hec_index, strlen(opt->hec_index))))
		why = "HEC source, sourcetype and index must be UTF-8";
	else if (opt->template != NULL && template_check(opt->template) < 0)
		why = "the template must be UTF-8, under 4096 bytes, with "
		      "only known {fields} (docs/events.md)";
	if (ret_why != NULL)
		*ret_why = why;
	return why == NULL ? 0 : -EINVAL;
}

int
event_format_severity(int severity)
{
	return severity >= LOG_EMERG && severity <= LOG_DEBUG
	    ? cef_severity[severity]
	    : -1;
}

const char *
event_format_to_string(enum event_format fmt)
{
	return (unsigned)fmt < EVENT_FORMAT__MAX ? formats[fmt] : NULL;
}

int
event_format_from_string(const char *s, enum event_format *ret)
{
	unsigned i;

	for (i = 0; i < EVENT_FORMAT__MAX; i++) {
		if (strcmp(s, formats[i]) == 0) {
			*ret = i;
			return 0;
		}
	}
	return -EINVAL;
}

/* ---- the formats ---- */

/*
 * <PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID [SD-ID k="v" ...] MSG
 * (RFC 5424 section 6).  The structured data always holds seq, so it is
 * never the NILVALUE; MSG is left out when there is no message.
 */
static void
rfc5424(struct buf *b, const struct event *ev,
    const struct event_format_options *opt, const char *ts)
{
	char num[EVENT_NUMBER_SIZE];
	const char *v;
	size_t i;

	putf(b, "<%d>1 ", opt->facility * 8 + ev->severity);
	puts_(b, ts);
	put(b, " ", 1);
	header_field(b, ev->host, 255);
	put(b, " ", 1);
	puts_(b, opt->app_name);
	if (opt->procid > 0)
		putf(b, " %" PRId64 " ", opt->procid);
	else
		puts_(b, " " NIL " ");
	/* MSGID: every name is 1-32 PRINTUSASCII (test_events checks). */
	puts_(b, event_name_to_string(ev->name));
	put(b, " [", 2);
	puts_(b, opt->sd_id);
	putf(b, " seq=\"%" PRId64 "\"", ev->seq);
	for (i = 0; i < NPARAMS; i++) {
		v = event_field_value(ev, params[i].field, num);
		if (v == NULL || params[i].sd == NULL)
			continue;
		put(b, " ", 1);
		puts_(b, params[i].sd);
		put(b, "=\"", 2);
		escaped(b, v, &sd_value);
		put(b, "\"", 1);
	}
	put(b, "]", 1);
	if (ev->message != NULL && ev->message[0] != '\0') {
		put(b, " ", 1);
		if (opt->bom)
			puts_(b, BOM);
		escaped(b, ev->message, &msg_text);
	}
}

/* One CEF extension pair, or LEEF attribute: KEY=VALUE after SEP. */
static void
pair(struct buf *b, const char *sep, const char *key, const char *value,
    const struct rules *r)
{
	puts_(b, sep);
	puts_(b, key);
	put(b, "=", 1);
	escaped(b, value, r);
}

/* CEF's and LEEF's first five header fields, each ended by '|': MAGIC,
 * vendor, product, version, and the event's name as its id. */
static void
pipe_fields(struct buf *b, const char *magic, const struct event *ev,
    const struct event_format_options *opt)
{
	puts_(b, magic);
	puts_(b, "|rotad|rotad|");
	escaped(b, opt->version, &pipe_header);
	put(b, "|", 1);
	puts_(b, event_name_to_string(ev->name));
	put(b, "|", 1);
}

/*
 * CEF:Version|Device Vendor|Device Product|Device Version|Signature ID|
 * Name|Severity|Extension (ArcSight's "Implementing ArcSight CEF" 25).
 * The signature id is the event's name, the name its title.  rt is the
 * time in ms, a form CEF accepts; dvchost the host rotad runs on; the
 * fields without a key of their own go into the labelled custom slots.
 */
static void
cef(struct buf *b, const struct event *ev,
    const struct event_format_options *opt)
{
	char num[EVENT_NUMBER_SIZE];
	const char *v;
	size_t i;

	pipe_fields(b, "CEF:0", ev, opt);
	puts_(b, event_title(ev->name));
	putf(b, "|%d|", event_format_severity(ev->severity));
	putf(b, "rt=%" PRId64, ev->time);
	if (ev->host != NULL)
		pair(b, " ", "dvchost", ev->host, &cef_value);
	pair(b, " ", "cat", event_category(ev->name), &cef_value);
	snprintf(num, sizeof(num), "%" PRId64, ev->seq);
	pair(b, " ", "externalId", num, &cef_value);
	for (i = 0; i < NPARAMS; i++) {
		v = event_field_value(ev, params[i].field, num);
		if (v == NULL)
			continue;
		if (params[i].cef_label != NULL) {
			put(b, " ", 1);
			puts_(b, params[i].cef);
			puts_(b, "Label=");
			puts_(b, params[i].cef_label);
		}
		pair(b, " ", params[i].cef, v, &cef_value);
	}
}

/*
 * LEEF:2.0|Vendor|Product|Version|EventID|DelimiterCharacter|attributes
 * (IBM's LEEF guide, version 2).  The delimiter is a tab, LEEF 1.0's
 * fixed one, so that receivers that know only 1.0 still split the
 * attributes; it is named in the header in LEEF 2.0's hex form, x09,
 * and escaped in values as \t.
 */
static void
leef(struct buf *b, const struct event *ev,
    const struct event_format_options *opt, const char *ts)
{
	char num[EVENT_NUMBER_SIZE], devtime[32];
	const char *v;
	size_t i;

	pipe_fields(b, "LEEF:2.0", ev, opt);
	puts_(b, "x09|");
	/* 2024-01-02T03:04:05.678Z as the pattern's ...SSSZ: +0000. */
	snprintf(devtime, sizeof(devtime), "%.23s+0000", ts);
	pair(b, "", "devTime", devtime, &leef_value);
	pair(b, "\t", "devTimeFormat", LEEF_TIME_FORMAT, &leef_value);
	pair(b, "\t", "cat", event_category(ev->name), &leef_value);
	putf(b, "\tsev=%d", event_format_severity(ev->severity));
	if (ev->host != NULL)
		pair(b, "\t", "host", ev->host, &leef_value);
	putf(b, "\tseq=%" PRId64, ev->seq);
	for (i = 0; i < NPARAMS; i++) {
		v = event_field_value(ev, params[i].field, num);
		if (v != NULL)
			pair(b, "\t", params[i].leef, v, &leef_value);
	}
}

static void
dump(struct buf *b, json_t *obj, size_t flags)
{
	char *s;

	if (obj == NULL) {
		b->oom = true;
		return;
	}
	s = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER | flags);
	if (s == NULL)
		b->oom = true;
	else
		puts_(b, s);
	free(s);
}

/*
 * Splunk HTTP Event Collector's event form: "time" in seconds with the
 * milliseconds as a fraction (written with exactly the digits it has, so
 * no binary rounding shows), the metadata, and the JSON object as
 * "event".
 */
static void
hec(struct buf *b, const struct event *ev,
    const struct event_format_options *opt)
{
	json_t *obj, *event;
	int digits = 1;
	bool ok;
	int64_t s;

	for (s = ev->time / 1000; s >= 10; s /= 10)
		digits++;
	obj = json_object();
	event = event_to_json(ev);
	ok = obj != NULL && event != NULL &&
	    json_object_set_new(obj, "time", json_real(ev->time / 1000.0)) ==
		0 &&
	    (ev->host == NULL ||
		json_object_set_new(obj, "host", event_json_text(ev->host)) ==
		    0) &&
	    json_object_set_new(
		obj, "source", event_json_text(opt->hec_source)) == 0 &&
	    json_object_set_new(
		obj, "sourcetype", event_json_text(opt->hec_sourcetype)) == 0 &&
	    (opt->hec_index == NULL ||
		json_object_set_new(
		    obj, "index", event_json_text(opt->hec_index)) == 0);
	/* json_object_set_new() takes EVENT even when it fails. */
	if (!ok)
		json_decref(event);
	if (!ok || json_object_set_new(obj, "event", event) < 0) {
		json_decref(obj);
		b->oom = true;
		return;
	}
	/* The only real in the document: the seconds' digits and 3. */
	dump(b, obj, JSON_REAL_PRECISION(digits + 3));
	json_decref(obj);
}

/*
 * systemd-journald's native protocol (systemd.journal-fields(7), "Native
 * Protocol"): a datagram of KEY=VALUE lines.  Our own fields are
 * ROTAD_<the structured data's name in capitals>; the journal's
 * MESSAGE is the title, the user and the message, for journalctl's
 * one-line view.
 */
static void
journal_field(struct buf *b, const char *key, const char *v)
{
	puts_(b, key);
	put(b, "=", 1);
	escaped(b, v, &msg_text);
	put(b, "\n", 1);
}

static void
journal(struct buf *b, const struct event *ev,
    const struct event_format_options *opt, const char *ts)
{
	char num[EVENT_NUMBER_SIZE], key[48];
	const char *v;
	size_t i, k;

	puts_(b, "MESSAGE=");
	escaped(b, event_title(ev->name), &msg_text);
	if (ev->user != NULL) {
		puts_(b, ": ");
		escaped(b, ev->user, &msg_text);
	}
	if (ev->message != NULL) {
		puts_(b, ": ");
		escaped(b, ev->message, &msg_text);
	}
	put(b, "\n", 1);
	putf(b, "PRIORITY=%d\nSYSLOG_FACILITY=%d\n", ev->severity,
	    opt->facility);
	journal_field(b, "SYSLOG_IDENTIFIER", opt->app_name);
	journal_field(b, "ROTAD_EVENT", event_name_to_string(ev->name));
	putf(b, "ROTAD_SEQ=%" PRId64 "\n", ev->seq);
	journal_field(b, "ROTAD_TIMESTAMP", ts);
	if (ev->host != NULL)
		journal_field(b, "ROTAD_HOST", ev->host);
	journal_field(b, "ROTAD_CATEGORY", event_category(ev->name));
	for (i = 0; i < sizeof(params) / sizeof(params[0]); i++) {
		if (params[i].sd == NULL)
			continue;
		v = event_field_value(ev, params[i].field, num);
		if (v == NULL)
			continue;
		memcpy(key, "ROTAD_", 6);
		for (k = 0; params[i].sd[k] != '\0' && k + 7 < sizeof(key);
		     k++)
			key[6 + k] = (char)(params[i].sd[k] >= 'a' &&
				    params[i].sd[k] <= 'z'
				? params[i].sd[k] - 'a' + 'A'
				: params[i].sd[k]);
		key[6 + k] = '\0';
		journal_field(b, key, v);
	}
	v = event_field_value(ev, EVENT_F_MESSAGE, num);
	if (v != NULL)
		journal_field(b, "ROTAD_MESSAGE", v);
}

int
event_format(const struct event *ev, enum event_format fmt,
    const struct event_format_options *opt, char **ret, size_t *ret_len)
{
	struct event_format_options defaults;
	char ts[EVENT_TIMESTAMP_SIZE];
	struct buf b = { 0 };
	json_t *obj;

	if (opt == NULL) {
		event_format_options_init(&defaults);
		opt = &defaults;
	}
	if ((unsigned)fmt >= EVENT_FORMAT__MAX ||
	    event_format_check_options(opt, NULL) < 0 ||
	    event_name_to_string(ev->name) == NULL ||
	    event_format_severity(ev->severity) < 0 ||
	    event_time_to_string(ev->time, ts) < 0)
		return -EINVAL;
	switch (fmt) {
	case EVENT_FORMAT_RFC5424:
		rfc5424(&b, ev, opt, ts);
		break;
	case EVENT_FORMAT_CEF:
		cef(&b, ev, opt);
		break;
	case EVENT_FORMAT_LEEF:
		leef(&b, ev, opt, ts);
		break;
	case EVENT_FORMAT_JSON:
		obj = event_to_json(ev);
		dump(&b, obj, 0);
		json_decref(obj);
		put(&b, "\n", 1);
		break;
	case EVENT_FORMAT_HEC:
		hec(&b, ev, opt);
		break;
	case EVENT_FORMAT_JOURNAL:
		journal(&b, ev, opt, ts);
		break;
	default:
		chat(&b, ev, opt);
		break;
	}
	if (b.oom || b.p == NULL) {
		free(b.p);
		return -ENOMEM;
	}
	*ret = b.p;
	*ret_len = b.len;
	return 0;
}
