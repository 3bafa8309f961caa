/*
 * libFuzzer target: events/.  The bytes go two ways.
 *
 * As the spool's JSON: event_decode_json() reads what the store holds.
 * An event it accepts must pass event_check(), encode again, and decode
 * to the same encoding.
 *
 * As a raw event: the first bytes choose the name, severity, trigger,
 * numbers and options, the rest, split at NUL bytes, are its strings, any
 * bytes at all (the formatters promise to be total), and then the
 * version and SD-ID options.
 *
 * Either way the event is formatted in every format and each message is
 * parsed back: all of it UTF-8; no raw newline in a single-line format;
 * RFC 5424's header fields printable, its structured data closed, no
 * unescaped '"' or ']' inside a PARAM-VALUE, and exactly one parameter
 * per field the event has; CEF's header exactly 7 unescaped '|' with our
 * fields in them, and every extension key one of ours; LEEF's header 6
 * unescaped '|', and every attribute one of ours; JSON lines and HEC
 * valid JSON that agree with each other.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "event.h"
#include "event_format.h"
#include "utf8.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(x)                                                               \
	do {                                                                   \
		if (!(x))                                                      \
			abort();                                               \
	} while (0)

static const char *const cef_keys[] = { "rt", "dvchost", "cat", "externalId",
	"cs1", "cs1Label", "cs2", "cs2Label", "cs3", "cs3Label", "cs4",
	"cs4Label", "cs5", "cs5Label", "cs6", "cs6Label", "cn1", "cn1Label",
	"cn2", "cn2Label", "duser", "suid", "outcome", "reason", "flexString1",
	"flexString1Label", "cnt", "msg", NULL };
static const char *const leef_keys[] = { "devTime", "devTimeFormat", "cat",
	"sev", "host", "seq", "runId", "attempt", "usrName", "resource",
	"provider", "trigger", "outcome", "errorClass", "durationMs",
	"rotationStatus", "postRotationStatus", "alertId", "uid", "count",
	"msg", NULL };

static bool
known(const char *const *keys, const char *s, size_t n)
{
	for (; *keys != NULL; keys++) {
		if (strlen(*keys) == n && memcmp(*keys, s, n) == 0)
			return true;
	}
	return false;
}

/* How many of EV's optional fields are present, the message aside. */
static int
nparams(const struct event *ev)
{
	const char *s[] = { ev->run_id, ev->user, ev->resource, ev->provider,
		ev->outcome, ev->error_class, ev->rotation_status,
		ev->post_rotation_status, ev->alert_id };
	size_t i;
	int n = 0;

	for (i = 0; i < sizeof(s) / sizeof(s[0]); i++)
		n += s[i] != NULL;
	n += ev->attempt != 0;
	n += ev->trigger != EVENT_TRIGGER_NONE;
	n += ev->duration_ms != -1;
	n += ev->uid != -1;
	n += ev->count != -1;
	return n;
}

/* One RFC 5424 header field: printable US-ASCII up to the next space. */
static const char *
header_field(const char *p, const char *want)
{
	const char *start = p;

	while (*p != ' ') {
		CHECK(*p > 0x20 && *p < 0x7f);
		p++;
	}
	CHECK(p > start);
	if (want != NULL)
		CHECK((size_t)(p - start) == strlen(want) &&
		    memcmp(start, want, strlen(want)) == 0);
	return p + 1;
}

static void
check_rfc5424(const struct event *ev, const char *m)
{
	const char *p = m, *name;
	int params = 0;

	CHECK(*p++ == '<');
	while (*p >= '0' && *p <= '9')
		p++;
	CHECK(*p++ == '>' && *p++ == '1' && *p++ == ' ');
	p = header_field(p, NULL); /* TIMESTAMP */
	p = header_field(p, NULL); /* HOSTNAME */
	p = header_field(p, NULL); /* APP-NAME */
	p = header_field(p, NULL); /* PROCID */
	p = header_field(p, event_name_to_string(ev->name));
	CHECK(*p++ == '[');
	while (*p != ' ' && *p != ']') {
		CHECK(*p > 0x20 && *p < 0x7f && *p != '=' && *p != '"');
		p++;
	}
	/* PARAMs: SP NAME="VALUE", escapes only inside the value. */
	while (*p == ' ') {
		name = ++p;
		while (*p != '=') {
			CHECK(*p > 0x20 && *p < 0x7f && *p != ']' && *p != '"');
			p++;
		}
		CHECK(p - name >= 1 && p - name <= 32);
		CHECK(*++p == '"');
		for (p++; *p != '"'; p++) {
			CHECK(*p != '\0' && *p != ']');
			if (*p == '\\') {
				p++;
				CHECK(*p == '"' || *p == '\\' || *p == ']' ||
				    *p == 'n' || *p == 'r' || *p == 't' ||
				    *p == 'x');
			}
		}
		p++;
		params++;
	}
	CHECK(*p++ == ']');
	/* seq, and one per field: no value opened another. */
	CHECK(params == 1 + nparams(ev));
	CHECK(*p == '\0' || *p == ' ');
	CHECK(strpbrk(m, "\n\r") == NULL);
}

/* The position of the Nth unescaped '|' of M, NULL if there are fewer. */
static const char *
nth_pipe(const char *m, int n)
{
	const char *p;

	for (p = m; *p != '\0'; p++) {
		if (*p == '\\' && p[1] != '\0')
			p++;
		else if (*p == '|' && --n == 0)
			return p;
	}
	return NULL;
}

static void
check_header(
    const struct event *ev, const char *m, int pipes, const char *magic)
{
	const char *end = nth_pipe(m, pipes), *p, *name;

	CHECK(end != NULL);
	for (p = m; p < end; p++)
		CHECK((unsigned char)*p >= 0x20 && *p != 0x7f);
	CHECK(strncmp(m, magic, strlen(magic)) == 0);
	/* Field 5 (from 1) is the name, which needs no escaping. */
	name = nth_pipe(m, 4) + 1;
	CHECK(strncmp(name, event_name_to_string(ev->name),
		  strlen(event_name_to_string(ev->name))) == 0);
	CHECK(name[strlen(event_name_to_string(ev->name))] == '|');
}

static void
check_cef(const struct event *ev, const char *m)
{
	const char *ext, *p, *key;

	check_header(ev, m, 7, "CEF:0|rotad|rotad|");
	CHECK(strpbrk(m, "\n\r") == NULL);
	ext = nth_pipe(m, 7) + 1;
	/* Every unescaped '=' ends a key of ours, which starts the
	 * extension or follows a space. */
	for (p = ext; *p != '\0'; p++) {
		if (*p == '\\') {
			p++;
			CHECK(
			    *p == '\\' || *p == '=' || *p == 'n' || *p == 'r');
			continue;
		}
		if (*p != '=')
			continue;
		for (key = p; key > ext && key[-1] != ' '; key--)
			;
		CHECK(known(cef_keys, key, (size_t)(p - key)));
	}
}

static void
check_leef(const struct event *ev, const char *m)
{
	const char *p, *end, *eq;

	check_header(ev, m, 6, "LEEF:2.0|rotad|rotad|");
	CHECK(strpbrk(m, "\n\r") == NULL);
	CHECK(strncmp(nth_pipe(m, 5), "|x09|", 5) == 0);
	for (p = nth_pipe(m, 6) + 1;; p = end + 1) {
		end = strchr(p, '\t');
		if (end == NULL)
			end = p + strlen(p);
		eq = memchr(p, '=', (size_t)(end - p));
		CHECK(eq != NULL && known(leef_keys, p, (size_t)(eq - p)));
		if (*end == '\0')
			break;
	}
}

/* JSON lines and HEC: valid JSON, one line, the same event. */
static void
check_json(const char *line, size_t len, const char *hec, size_t hlen)
{
	json_t *a, *b;

	CHECK(len > 0 && line[len - 1] == '\n');
	CHECK(memchr(line, '\n', len - 1) == NULL);
	CHECK(memchr(hec, '\n', hlen) == NULL);
	a = json_loadb(line, len, JSON_REJECT_DUPLICATES, NULL);
	b = json_loadb(hec, hlen, JSON_REJECT_DUPLICATES, NULL);
	CHECK(a != NULL && b != NULL);
	CHECK(json_equal(a, json_object_get(b, "event")));
	CHECK(json_is_real(json_object_get(b, "time")));
	json_decref(a);
	json_decref(b);
}

/* The chat format: one JSON object, one line, {"text": a string}. */
static void
check_slack(const char *m, size_t len)
{
	json_t *o;

	CHECK(memchr(m, '\n', len) == NULL);
	o = json_loadb(m, len, JSON_REJECT_DUPLICATES, NULL);
	CHECK(o != NULL && json_object_size(o) == 1 &&
	    json_is_string(json_object_get(o, "text")));
	json_decref(o);
}

/* The journal's datagram: KEY=VALUE lines, keys of A-Z 0-9 _, not
 * starting with '_', the last line ended too. */
static void
check_journal(const char *m, size_t len)
{
	const char *p = m, *end = m + len, *eol, *eq, *k;

	CHECK(len > 0 && m[len - 1] == '\n');
	while (p < end) {
		eol = memchr(p, '\n', (size_t)(end - p));
		CHECK(eol != NULL);
		eq = memchr(p, '=', (size_t)(eol - p));
		CHECK(eq != NULL && eq > p && *p != '_');
		for (k = p; k < eq; k++)
			CHECK((*k >= 'A' && *k <= 'Z') ||
			    (*k >= '0' && *k <= '9') || *k == '_');
		p = eol + 1;
	}
}

static void
format_all(const struct event *ev, const struct event_format_options *opt,
    bool from_spool)
{
	char *m[EVENT_FORMAT__MAX];
	size_t len[EVENT_FORMAT__MAX];
	struct event back;
	int f;

	for (f = 0; f < EVENT_FORMAT__MAX; f++) {
		CHECK(event_format(ev, f, opt, &m[f], &len[f]) == 0);
		CHECK(strlen(m[f]) == len[f]);
		CHECK(utf8_valid(m[f], len[f]));
	}
	check_rfc5424(ev, m[EVENT_FORMAT_RFC5424]);
	check_cef(ev, m[EVENT_FORMAT_CEF]);
	check_leef(ev, m[EVENT_FORMAT_LEEF]);
	check_json(m[EVENT_FORMAT_JSON], len[EVENT_FORMAT_JSON],
	    m[EVENT_FORMAT_HEC], len[EVENT_FORMAT_HEC]);
	check_slack(m[EVENT_FORMAT_SLACK], len[EVENT_FORMAT_SLACK]);
	check_journal(m[EVENT_FORMAT_JOURNAL], len[EVENT_FORMAT_JOURNAL]);
	/* A spooled event's JSON line is its spool form again. */
	if (from_spool) {
		CHECK(event_decode_json(m[EVENT_FORMAT_JSON],
			  len[EVENT_FORMAT_JSON] - 1, &back) == 0);
		event_clear(&back);
	}
	for (f = 0; f < EVENT_FORMAT__MAX; f++)
		free(m[f]);
}

static void
spool(const uint8_t *data, size_t size)
{
	struct event ev, again;
	char *json, *json2;

	if (event_decode_json((const char *)data, size, &ev) < 0)
		return;
	CHECK(event_check(&ev, NULL) == 0);
	CHECK(event_encode_json(&ev, &json) == 0);
	CHECK(event_decode_json(json, strlen(json), &again) == 0);
	CHECK(event_encode_json(&again, &json2) == 0);
	CHECK(strcmp(json, json2) == 0);
	format_all(&ev, NULL, true);
	free(json);
	free(json2);
	event_clear(&again);
	event_clear(&ev);
}

#define RAW_HEAD 12

static void
raw(const uint8_t *data, size_t size)
{
	struct event_format_options opt;
	struct event ev;
	/* The strings, in the order the input gives them. */
	const char **strings[] = { &ev.host, &ev.run_id, &ev.user, &ev.resource,
		&ev.provider, &ev.outcome, &ev.error_class, &ev.message,
		&ev.rotation_status, &ev.post_rotation_status, &ev.alert_id,
		&opt.version, &opt.sd_id };
	char *copy, *p, *end;
	size_t i;

	if (size < RAW_HEAD)
		return;
	event_init(&ev, data[0] % EVENT__MAX,
	    (int64_t)(data[1] | data[2] << 8 | data[3] << 16) * 1000003, NULL);
	ev.severity = data[4] % 8;
	ev.trigger = data[5] % EVENT_TRIGGER__MAX;
	ev.seq = data[6];
	ev.attempt = data[7] % 4;
	ev.duration_ms = (int64_t)data[8] - 1;
	ev.uid = data[9] & 1 ? -1 : data[9];
	ev.count = data[10] & 1 ? -1 : data[10];
	event_format_options_init(&opt);
	opt.bom = data[11] & 1;
	opt.procid = data[11] >> 1;
	opt.facility = data[11] % 24;

	/* NUL-separated strings; an empty one leaves its field absent. */
	copy = malloc(size - RAW_HEAD + 1);
	CHECK(copy != NULL);
	memcpy(copy, data + RAW_HEAD, size - RAW_HEAD);
	copy[size - RAW_HEAD] = '\0';
	p = copy;
	end = copy + (size - RAW_HEAD);
	for (i = 0; i < sizeof(strings) / sizeof(strings[0]) && p <= end; i++) {
		if (*p != '\0')
			*strings[i] = p;
		p += strlen(p) + 1;
	}
	/* Options event_format() would refuse are not the point here. */
	if (event_format_check_options(&opt, NULL) < 0) {
		opt.version = "0.1.0";
		opt.sd_id = EVENT_FORMAT_SD_ID;
	}
	format_all(&ev, &opt, false);
	free(copy);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	spool(data, size);
	raw(data, size);
	return 0;
}
