/*
 * Unit tests of events/: the name table, the spool's JSON round trip for
 * every name, the decoder's refusals, each format to the byte for fixed
 * events (RFC 5424's structured data and its escaping, MSGID, SD-ID and
 * NILVALUE; CEF's header and extension escaping; LEEF; JSON lines; HEC),
 * the severity mapping, the filters, and that docs/events.md still shows
 * exactly what the code writes.  Nothing may leak: the sanitizer build
 * runs these under LeakSanitizer.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include <cmocka.h>

#include "event.h"
#include "event_format.h"
#include "event_samples.h"

/* ---- helpers ---- */

static char *
fmt(const struct event *ev, enum event_format f,
    const struct event_format_options *opt)
{
	char *msg = NULL;
	size_t len = 0;

	assert_int_equal(event_format(ev, f, opt, &msg, &len), 0);
	assert_non_null(msg);
	assert_int_equal(strlen(msg), len);
	return msg;
}

static void
assert_format(const struct event *ev, enum event_format f,
    const struct event_format_options *opt, const char *want)
{
	char *msg = fmt(ev, f, opt);

	assert_string_equal(msg, want);
	free(msg);
}

/* Options without BOM or PROCID, so the expected strings stay short. */
static void
plain_options(struct event_format_options *opt)
{
	event_format_options_init(opt);
	opt->version = "1.2.3";
	opt->bom = false;
}

static void
assert_same_event(const struct event *a, const struct event *b)
{
	const char *const *sa[] = { &a->host, &a->run_id, &a->user,
		&a->resource, &a->provider, &a->outcome, &a->error_class,
		&a->message, &a->rotation_status, &a->post_rotation_status,
		&a->alert_id };
	const char *const *sb[] = { &b->host, &b->run_id, &b->user,
		&b->resource, &b->provider, &b->outcome, &b->error_class,
		&b->message, &b->rotation_status, &b->post_rotation_status,
		&b->alert_id };
	size_t i;

	assert_int_equal(a->seq, b->seq);
	assert_int_equal(a->time, b->time);
	assert_int_equal(a->name, b->name);
	assert_int_equal(a->severity, b->severity);
	assert_int_equal(a->attempt, b->attempt);
	assert_int_equal(a->trigger, b->trigger);
	assert_int_equal(a->duration_ms, b->duration_ms);
	assert_int_equal(a->uid, b->uid);
	assert_int_equal(a->count, b->count);
	for (i = 0; i < sizeof(sa) / sizeof(sa[0]); i++) {
		if (*sa[i] == NULL)
			assert_null(*sb[i]);
		else
			assert_string_equal(*sa[i], *sb[i]);
	}
}

/* ---- the tables ---- */

static void
test_names(void **state)
{
	static const int severity[EVENT__MAX] = {
		[EVENT_RECORD_ROTATION_SCHEDULED_OK] = LOG_NOTICE,
		[EVENT_RECORD_ROTATION_SCHEDULED_FAIL] = LOG_ERR,
		[EVENT_RECORD_ROTATION_ON_DEMAND_OK] = LOG_NOTICE,
		[EVENT_RECORD_ROTATION_ON_DEMAND_FAIL] = LOG_ERR,
		[EVENT_ROTATION_STARTED] = LOG_INFO,
		[EVENT_ROTATION_RETRY_SCHEDULED] = LOG_WARNING,
		[EVENT_ROTATION_RECOVERED] = LOG_NOTICE,
		[EVENT_ROTATION_OUT_OF_SYNC] = LOG_CRIT,
		[EVENT_VERIFY_OK] = LOG_INFO,
		[EVENT_VERIFY_FAIL] = LOG_WARNING,
		[EVENT_CONFIG_RELOADED] = LOG_NOTICE,
		[EVENT_CONFIG_REJECTED] = LOG_ERR,
		[EVENT_JOB_FILE_SKIPPED] = LOG_WARNING,
		[EVENT_CONTROL_DENIED] = LOG_WARNING,
		[EVENT_SECRET_READ] = LOG_NOTICE,
		[EVENT_SECRET_SET] = LOG_NOTICE,
		[EVENT_DAEMON_STARTED] = LOG_NOTICE,
		[EVENT_DAEMON_STOPPING] = LOG_NOTICE,
		[EVENT_EVENTS_DROPPED] = LOG_ERR,
	};
	enum event_name n, back;
	const char *s;
	unsigned fields, required;
	size_t i;

	(void)state;
	/* The issue's list, in its order. */
	assert_int_equal(EVENT__MAX, 19);
	assert_string_equal(
	    event_name_to_string(EVENT_RECORD_ROTATION_SCHEDULED_OK),
	    "record_rotation_scheduled_ok");
	assert_string_equal(
	    event_name_to_string(EVENT_EVENTS_DROPPED), "events_dropped");
	for (n = 0; n < EVENT__MAX; n++) {
		s = event_name_to_string(n);
		assert_non_null(s);
		/* RFC 5424's MSGID: 1-32 PRINTUSASCII. */
		assert_true(strlen(s) >= 1 && strlen(s) <= 32);
		for (i = 0; s[i] != '\0'; i++)
			assert_true(s[i] > 0x20 && s[i] < 0x7f);
		assert_int_equal(event_name_from_string(s, &back), 0);
		assert_int_equal(back, n);
		assert_int_equal(event_default_severity(n), severity[n]);
		assert_non_null(event_category(n));
		assert_non_null(event_title(n));
		fields = event_fields(n, &required);
		/* What an event must carry, it may carry. */
		assert_int_equal(required & ~fields, 0);
	}
	assert_null(event_name_to_string(EVENT__MAX));
	assert_null(event_title(EVENT__MAX));
	assert_int_equal(event_default_severity(EVENT__MAX), -1);
	assert_int_equal(event_fields(EVENT__MAX, &required), 0);
	assert_int_equal(event_name_from_string("rotation_ok", &back), -EINVAL);
	assert_int_equal(event_name_from_string("", &back), -EINVAL);
	assert_int_equal(event_name_from_string("Verify_ok", &back), -EINVAL);
}

static void
test_words(void **state)
{
	static const char *const sev[] = { "emerg", "alert", "crit", "err",
		"warning", "notice", "info", "debug" };
	enum event_trigger t;
	enum event_format f;
	int i, v;

	(void)state;
	for (i = 0; i < 8; i++) {
		assert_string_equal(event_severity_to_string(i), sev[i]);
		assert_int_equal(event_severity_from_string(sev[i], &v), 0);
		assert_int_equal(v, i);
	}
	assert_null(event_severity_to_string(8));
	assert_null(event_severity_to_string(-1));
	assert_int_equal(event_severity_from_string("error", &v), -EINVAL);

	assert_null(event_trigger_to_string(EVENT_TRIGGER_NONE));
	assert_string_equal(
	    event_trigger_to_string(EVENT_TRIGGER_SIEM_ALERT), "siem_alert");
	for (t = EVENT_TRIGGER_SCHEDULED; t < EVENT_TRIGGER__MAX; t++) {
		enum event_trigger back;

		assert_int_equal(event_trigger_from_string(
				     event_trigger_to_string(t), &back),
		    0);
		assert_int_equal(back, t);
	}
	assert_int_equal(event_trigger_from_string("none", &t), -EINVAL);

	for (f = 0; f < EVENT_FORMAT__MAX; f++) {
		enum event_format back;

		assert_int_equal(
		    event_format_from_string(event_format_to_string(f), &back),
		    0);
		assert_int_equal(back, f);
	}
	assert_int_equal(event_format_from_string("syslog", &f), -EINVAL);
	assert_null(event_format_to_string(EVENT_FORMAT__MAX));
}

static void
test_severity_mapping(void **state)
{
	static const int want[] = { 10, 9, 8, 7, 5, 3, 2, 1 };
	int i;

	(void)state;
	for (i = 0; i < 8; i++)
		assert_int_equal(event_format_severity(i), want[i]);
	assert_int_equal(event_format_severity(-1), -1);
	assert_int_equal(event_format_severity(8), -1);
}

static void
test_time(void **state)
{
	char buf[EVENT_TIMESTAMP_SIZE];

	(void)state;
	assert_int_equal(event_time_to_string(0, buf), 0);
	assert_string_equal(buf, "1970-01-01T00:00:00.000Z");
	assert_int_equal(event_time_to_string(SAMPLE_TIME, buf), 0);
	assert_string_equal(buf, "2024-06-10T06:13:20.123Z");
	assert_int_equal(event_time_to_string(EVENT_TIME_MAX, buf), 0);
	assert_string_equal(buf, "9999-12-31T23:59:59.999Z");
	assert_int_equal(event_time_to_string(-1, buf), -EINVAL);
	assert_int_equal(
	    event_time_to_string(EVENT_TIME_MAX + 1, buf), -EINVAL);
}

/* ---- the spool form ---- */

static void
test_roundtrip_every_name(void **state)
{
	struct event ev, back, again;
	char *json, *json2;
	enum event_name n;

	(void)state;
	for (n = 0; n < EVENT__MAX; n++) {
		event_sample(n, &ev);
		assert_int_equal(event_check(&ev, NULL), 0);
		assert_int_equal(event_encode_json(&ev, &json), 0);
		assert_int_equal(
		    event_decode_json(json, strlen(json), &back), 0);
		assert_same_event(&ev, &back);
		/* And the decoded event encodes to the same bytes. */
		assert_int_equal(event_encode_json(&back, &json2), 0);
		assert_string_equal(json, json2);
		assert_int_equal(
		    event_decode_json(json2, strlen(json2), &again), 0);
		assert_same_event(&back, &again);
		event_clear(&back);
		event_clear(&again);
		free(json);
		free(json2);
	}
}

static void
test_encode_exact(void **state)
{
	struct event ev;
	char *json;

	(void)state;
	event_init(&ev, EVENT_CONTROL_DENIED, 1500, "h");
	ev.uid = 1001;
	ev.message = "caf\xc3\xa9 \"q\"\n";
	assert_int_equal(event_encode_json(&ev, &json), 0);
	assert_string_equal(json,
	    "{\"v\":1,\"seq\":0,\"time\":1500,"
	    "\"timestamp\":\"1970-01-01T00:00:01.500Z\",\"host\":\"h\","
	    "\"name\":\"control_denied\",\"severity\":4,"
	    "\"message\":\"caf\xc3\xa9 \\\"q\\\"\\n\",\"uid\":1001}");
	free(json);
}

/* A decoded event that is refused leaves nothing behind. */
static void
assert_refused(const char *json)
{
	struct event ev;

	ev.storage_ = (char *)"poison";
	if (event_decode_json(json, strlen(json), &ev) != -EINVAL)
		fail_msg("accepted: %s", json);
	assert_null(ev.storage_);
	assert_null(ev.host);
}

#define BASE "\"v\":1,\"seq\":1,\"time\":0,\"host\":\"h\","

static void
test_decode_refuses(void **state)
{
	static const char *const bad[] = {
		"",
		"null",
		"[]",
		"\"x\"",
		"{",
		"{}",
		/* trailing garbage; two objects */
		"{" BASE "\"name\":\"daemon_started\",\"severity\":5} x",
		"{" BASE "\"name\":\"daemon_started\",\"severity\":5}{}",
		/* unknown name, and names that are almost right */
		"{" BASE "\"name\":\"daemon_exploded\",\"severity\":5}",
		"{" BASE "\"name\":\"Daemon_started\",\"severity\":5}",
		"{" BASE "\"name\":\"daemon_started \",\"severity\":5}",
		"{" BASE "\"name\":3,\"severity\":5}",
		/* unknown and duplicate keys */
		"{" BASE "\"name\":\"daemon_started\",\"severity\":5,\"x\":1}",
		"{" BASE "\"name\":\"daemon_started\",\"severity\":5,"
		"\"severity\":5}",
		/* missing keys every event has */
		"{\"seq\":1,\"time\":0,\"host\":\"h\",\"name\":\"daemon_"
		"started\","
		"\"severity\":5}",
		"{\"v\":1,\"time\":0,\"host\":\"h\",\"name\":\"daemon_"
		"started\","
		"\"severity\":5}",
		"{\"v\":1,\"seq\":1,\"host\":\"h\",\"name\":\"daemon_started\","
		"\"severity\":5}",
		"{\"v\":1,\"seq\":1,\"time\":0,\"name\":\"daemon_started\","
		"\"severity\":5}",
		"{" BASE "\"severity\":5}",
		"{" BASE "\"name\":\"daemon_started\"}",
		/* types and ranges */
		"{\"v\":2,\"seq\":1,\"time\":0,\"host\":\"h\","
		"\"name\":\"daemon_started\",\"severity\":5}",
		"{\"v\":\"1\",\"seq\":1,\"time\":0,\"host\":\"h\","
		"\"name\":\"daemon_started\",\"severity\":5}",
		"{\"v\":1,\"seq\":-1,\"time\":0,\"host\":\"h\","
		"\"name\":\"daemon_started\",\"severity\":5}",
		"{\"v\":1,\"seq\":1.0,\"time\":0,\"host\":\"h\","
		"\"name\":\"daemon_started\",\"severity\":5}",
		"{\"v\":1,\"seq\":1,\"time\":-1,\"host\":\"h\","
		"\"name\":\"daemon_started\",\"severity\":5}",
		"{\"v\":1,\"seq\":1,\"time\":253402300800000,\"host\":\"h\","
		"\"name\":\"daemon_started\",\"severity\":5}",
		"{\"v\":1,\"seq\":1,\"time\":true,\"host\":\"h\","
		"\"name\":\"daemon_started\",\"severity\":5}",
		"{" BASE "\"name\":\"daemon_started\",\"severity\":8}",
		"{" BASE "\"name\":\"daemon_started\",\"severity\":-1}",
		"{" BASE "\"name\":\"daemon_started\",\"severity\":\"notice\"}",
		/* timestamp that disagrees with time, or is no string */
		"{" BASE "\"timestamp\":\"1970-01-01T00:00:00.001Z\","
		"\"name\":\"daemon_started\",\"severity\":5}",
		"{" BASE "\"timestamp\":0,\"name\":\"daemon_started\","
		"\"severity\":5}",
		/* host: empty, space, non-ASCII, too long */
		"{\"v\":1,\"seq\":1,\"time\":0,\"host\":\"\","
		"\"name\":\"daemon_started\",\"severity\":5}",
		"{\"v\":1,\"seq\":1,\"time\":0,\"host\":\"a b\","
		"\"name\":\"daemon_started\",\"severity\":5}",
		"{\"v\":1,\"seq\":1,\"time\":0,\"host\":\"h\\u00e9\","
		"\"name\":\"daemon_started\",\"severity\":5}",
		"{\"v\":1,\"seq\":1,\"time\":0,\"host\":null,"
		"\"name\":\"daemon_started\",\"severity\":5}",
		/* a field the event does not carry; a required one missing */
		"{" BASE "\"name\":\"daemon_started\",\"severity\":5,"
		"\"user\":\"u\"}",
		"{" BASE "\"name\":\"rotation_started\",\"severity\":6,"
		"\"run_id\":\"r\",\"user\":\"u\",\"trigger\":\"scheduled\","
		"\"count\":1}",
		"{" BASE "\"name\":\"rotation_started\",\"severity\":6,"
		"\"run_id\":\"r\",\"user\":\"u\"}",
		"{" BASE "\"name\":\"events_dropped\",\"severity\":3}",
		/* absent values written out rather than left out */
		"{" BASE "\"name\":\"events_dropped\",\"severity\":3,"
		"\"count\":-1}",
		"{" BASE "\"name\":\"control_denied\",\"severity\":4,"
		"\"uid\":-1}",
		"{" BASE "\"name\":\"verify_ok\",\"severity\":6,\"user\":\"u\","
		"\"attempt\":0}",
		"{" BASE "\"name\":\"verify_ok\",\"severity\":6,\"user\":\"u\","
		"\"duration_ms\":-1}",
		"{" BASE "\"name\":\"verify_ok\",\"severity\":6,\"user\":\"u\","
		"\"trigger\":\"none\"}",
		"{" BASE "\"name\":\"daemon_started\",\"severity\":5,"
		"\"message\":null}",
		"{" BASE "\"name\":\"daemon_started\",\"severity\":5,"
		"\"message\":\"\"}",
		/* uid bounds */
		"{" BASE "\"name\":\"control_denied\",\"severity\":4,"
		"\"uid\":4294967295}",
		/* strings: control characters in a name, C1 too, bad tokens,
		 * NUL escapes, lengths */
		"{" BASE "\"name\":\"verify_ok\",\"severity\":6,"
		"\"user\":\"a\\nb\"}",
		"{" BASE "\"name\":\"verify_ok\",\"severity\":6,"
		"\"user\":\"a\\u0085b\"}",
		"{" BASE "\"name\":\"verify_ok\",\"severity\":6,"
		"\"user\":\"a\\u0000b\"}",
		"{" BASE "\"name\":\"verify_ok\",\"severity\":6,\"user\":\"u\","
		"\"provider\":\"PostgreSQL\"}",
		"{" BASE "\"name\":\"verify_ok\",\"severity\":6,\"user\":\"u\","
		"\"provider\":\"post gres\"}",
		"{" BASE "\"name\":\"verify_ok\",\"severity\":6,\"user\":\"u\","
		"\"run_id\":\"a b\"}",
		"{" BASE "\"name\":\"verify_ok\",\"severity\":6,\"user\":\"u\","
		"\"provider\":\"0123456789012345678901234567890123\"}",
		"{" BASE "\"name\":\"verify_ok\",\"severity\":6,\"user\":\"u\","
		"\"trigger\":\"Scheduled\"}",
		"{" BASE "\"name\":\"daemon_started\",\"severity\":5,"
		"\"message\":\"a\\ud800b\"}",
	};
	char big[8192], *p;
	size_t i;
	struct event ev;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_refused(bad[i]);

	/* A NUL inside the bytes (jansson would stop there). */
	assert_int_equal(event_decode_json("{\"v\":1}\0", 8, &ev), -EINVAL);

	/* A user of 256 bytes; 255 is fine. */
	p = big +
	    sprintf(big,
		"{" BASE "\"name\":\"verify_ok\",\"severity\":6,"
		"\"user\":\"");
	memset(p, 'u', 256);
	strcpy(p + 256, "\"}");
	assert_refused(big);
	memmove(p + 255, p + 256, strlen(p + 256) + 1);
	assert_int_equal(event_decode_json(big, strlen(big), &ev), 0);
	assert_int_equal(strlen(ev.user), 255);
	event_clear(&ev);

	/* A message past EVENT_MESSAGE_MAX. */
	p = big +
	    sprintf(big,
		"{" BASE "\"name\":\"daemon_started\",\"severity\":5,"
		"\"message\":\"");
	memset(p, 'm', EVENT_MESSAGE_MAX + 1);
	strcpy(p + EVENT_MESSAGE_MAX + 1, "\"}");
	assert_refused(big);

	/* The whole input past EVENT_JSON_MAX, even with blanks. */
	{
		size_t n = EVENT_JSON_MAX + 1;
		char *huge = malloc(n + 1);
		const char *ok = "{" BASE "\"name\":\"daemon_started\","
				 "\"severity\":5}";

		assert_non_null(huge);
		memset(huge, ' ', n);
		memcpy(huge, ok, strlen(ok));
		huge[n] = '\0';
		assert_int_equal(event_decode_json(huge, n, &ev), -EINVAL);
		assert_int_equal(
		    event_decode_json(huge, EVENT_JSON_MAX, &ev), 0);
		event_clear(&ev);
		free(huge);
	}
}

static void
test_decode_accepts(void **state)
{
	struct event ev;
	const char *json =
	    "{\"severity\":2,\"name\":\"rotation_out_of_sync\",\"host\":\"h\","
	    "\"time\":1718000000123,\"seq\":42,\"v\":1,"
	    "\"run_id\":\"r-1\",\"user\":\"caf\\u00e9\",\"trigger\":"
	    "\"recovery\",\"message\":\"a\\nb\\u0001\"}";

	(void)state;
	assert_int_equal(event_decode_json(json, strlen(json), &ev), 0);
	assert_int_equal(ev.seq, 42);
	assert_int_equal(ev.name, EVENT_ROTATION_OUT_OF_SYNC);
	assert_int_equal(ev.severity, LOG_CRIT);
	assert_int_equal(ev.trigger, EVENT_TRIGGER_RECOVERY);
	assert_string_equal(ev.user, "caf\xc3\xa9");
	assert_string_equal(ev.message, "a\nb\x01");
	assert_int_equal(ev.attempt, 0);
	assert_int_equal(ev.duration_ms, -1);
	assert_int_equal(ev.uid, -1);
	assert_int_equal(ev.count, -1);
	assert_null(ev.resource);
	event_clear(&ev);
	/* event_clear() twice, and on NULL, is harmless. */
	event_clear(&ev);
	event_clear(NULL);
}

static void
test_encode_refuses(void **state)
{
	const char *why;
	struct event ev;
	char *json = NULL;

	(void)state;
	event_sample(EVENT_ROTATION_STARTED, &ev);
	ev.count = 3; /* not a field of rotation_started */
	assert_int_equal(event_check(&ev, &why), -EINVAL);
	assert_non_null(why);
	assert_int_equal(event_encode_json(&ev, &json), -EINVAL);
	assert_null(json);

	event_sample(EVENT_ROTATION_STARTED, &ev);
	ev.user = NULL; /* required */
	assert_int_equal(event_encode_json(&ev, &json), -EINVAL);
	event_sample(EVENT_ROTATION_STARTED, &ev);
	ev.message = "half a character \xc3";
	assert_int_equal(event_encode_json(&ev, &json), -EINVAL);
	event_sample(EVENT_ROTATION_STARTED, &ev);
	ev.severity = 8;
	assert_int_equal(event_encode_json(&ev, &json), -EINVAL);
	event_sample(EVENT_ROTATION_STARTED, &ev);
	ev.name = EVENT__MAX;
	assert_int_equal(event_encode_json(&ev, &json), -EINVAL);
	event_sample(EVENT_ROTATION_STARTED, &ev);
	ev.host = NULL;
	assert_int_equal(event_encode_json(&ev, &json), -EINVAL);
	event_sample(EVENT_ROTATION_STARTED, &ev);
	ev.trigger = EVENT_TRIGGER__MAX;
	assert_int_equal(event_encode_json(&ev, &json), -EINVAL);
	event_sample(EVENT_ROTATION_STARTED, &ev);
	ev.attempt = -2;
	assert_int_equal(event_encode_json(&ev, &json), -EINVAL);
	assert_null(json);
}

/* ---- RFC 5424 ---- */

static void
test_rfc5424_exact(void **state)
{
	struct event_format_options opt;
	struct event ev;

	(void)state;
	plain_options(&opt);
	event_init(
	    &ev, EVENT_RECORD_ROTATION_ON_DEMAND_FAIL, SAMPLE_TIME, "h1");
	ev.seq = 7;
	ev.run_id = "r1";
	ev.user = "we\"ird\\us]er";
	ev.trigger = EVENT_TRIGGER_ON_DEMAND;
	ev.outcome = "failure";
	ev.rotation_status = "failed";
	ev.message = "line1\nline2\tq=\"|\\]";
	/* PRI: authpriv (10) * 8 + err (3).  SD: '"', '\' and ']' get a
	 * backslash (RFC 5424 6.3.3); MSG keeps them. */
	assert_format(&ev, EVENT_FORMAT_RFC5424, &opt,
	    "<83>1 2024-06-10T06:13:20.123Z h1 rotad - "
	    "record_rotation_on_demand_fail [rotad@32473 seq=\"7\" "
	    "run_id=\"r1\" user=\"we\\\"ird\\\\us\\]er\" trigger=\"on_demand\" "
	    "outcome=\"failure\" rotation_status=\"failed\"] "
	    "line1\\nline2\\tq=\"|\\]");

	/* The BOM before MSG, a PROCID, another facility and SD-ID. */
	opt.bom = true;
	opt.procid = 4242;
	opt.facility = 16; /* local0 */
	opt.sd_id = "acme@12345";
	opt.app_name = "rotad-test";
	ev.message = "m";
	ev.severity = LOG_WARNING;
	assert_format(&ev, EVENT_FORMAT_RFC5424, &opt,
	    "<132>1 2024-06-10T06:13:20.123Z h1 rotad-test 4242 "
	    "record_rotation_on_demand_fail [acme@12345 seq=\"7\" "
	    "run_id=\"r1\" user=\"we\\\"ird\\\\us\\]er\" trigger=\"on_demand\" "
	    "outcome=\"failure\" rotation_status=\"failed\"] \xef\xbb\xbfm");
}

static void
test_rfc5424_nil(void **state)
{
	struct event_format_options opt;
	struct event ev;

	(void)state;
	plain_options(&opt);
	/* No host: HOSTNAME is the NILVALUE.  No message: no MSG at all,
	 * not even the BOM.  The SD always has seq, so it is never "-". */
	event_init(&ev, EVENT_DAEMON_STOPPING, 0, NULL);
	opt.bom = true;
	assert_format(&ev, EVENT_FORMAT_RFC5424, &opt,
	    "<85>1 1970-01-01T00:00:00.000Z - rotad - daemon_stopping "
	    "[rotad@32473 seq=\"0\"]");
	ev.host = "";
	ev.message = "";
	assert_format(&ev, EVENT_FORMAT_RFC5424, &opt,
	    "<85>1 1970-01-01T00:00:00.000Z - rotad - daemon_stopping "
	    "[rotad@32473 seq=\"0\"]");
	/* A host that is not PRINTUSASCII cannot break the header. */
	ev.host = "a b\xc3\xa9";
	ev.severity = LOG_EMERG;
	opt.facility = 0;
	assert_format(&ev, EVENT_FORMAT_RFC5424, &opt,
	    "<0>1 1970-01-01T00:00:00.000Z a?b?? rotad - daemon_stopping "
	    "[rotad@32473 seq=\"0\"]");
}

static void
test_rfc5424_utf8(void **state)
{
	struct event_format_options opt;
	struct event ev;

	(void)state;
	plain_options(&opt);
	event_init(&ev, EVENT_VERIFY_FAIL, 0, "h");
	/* A raw event (not from the spool): invalid UTF-8 becomes U+FFFD,
	 * other control characters \xHH, valid UTF-8 stays. */
	ev.user = "j\xc3\xbcrgen\xff";
	ev.message = "bad \xc3 end\x01\x7f";
	assert_format(&ev, EVENT_FORMAT_RFC5424, &opt,
	    "<84>1 1970-01-01T00:00:00.000Z h rotad - verify_fail "
	    "[rotad@32473 seq=\"0\" user=\"j\xc3\xbcrgen\xef\xbf\xbd\"] "
	    "bad \xef\xbf\xbd end\\x01\\x7f");
}

static void
test_options(void **state)
{
	static const char *const bad_sd_ids[] = { "rotad", "@32473", "rotad@",
		"rotad@x1", "ro tad@1", "ro=tad@1", "ro]tad@1", "ro\"tad@1",
		"a@b@1", "rotad@32473-", "abcdefghijklmnopqrstuvwxyz@1234567",
		"r\xc3\xa9@1", "" };
	struct event_format_options opt;
	const char *why;
	struct event ev;
	char *msg = NULL;
	size_t len, i;

	(void)state;
	event_format_options_init(&opt);
	assert_int_equal(event_format_check_options(&opt, &why), 0);
	assert_null(why);
	assert_int_equal(opt.facility, 10);
	assert_string_equal(opt.sd_id, "rotad@32473");
	assert_true(opt.bom);

	event_sample(EVENT_DAEMON_STARTED, &ev);
	for (i = 0; i < sizeof(bad_sd_ids) / sizeof(bad_sd_ids[0]); i++) {
		event_format_options_init(&opt);
		opt.sd_id = bad_sd_ids[i];
		if (event_format_check_options(&opt, &why) != -EINVAL)
			fail_msg("SD-ID accepted: %s", bad_sd_ids[i]);
		assert_non_null(why);
		assert_int_equal(
		    event_format(&ev, EVENT_FORMAT_RFC5424, &opt, &msg, &len),
		    -EINVAL);
	}
	event_format_options_init(&opt);
	opt.sd_id = "abcdefghijklmnopqrstuvwxyz@12345"; /* 32: the most */
	assert_int_equal(event_format_check_options(&opt, NULL), 0);

	event_format_options_init(&opt);
	opt.facility = 24;
	assert_int_equal(event_format_check_options(&opt, NULL), -EINVAL);
	event_format_options_init(&opt);
	opt.app_name = "rot ad";
	assert_int_equal(event_format_check_options(&opt, NULL), -EINVAL);
	opt.app_name = "0123456789012345678901234567890123456789012345678";
	assert_int_equal(event_format_check_options(&opt, NULL), -EINVAL);
	event_format_options_init(&opt);
	opt.version = "";
	assert_int_equal(event_format_check_options(&opt, NULL), -EINVAL);
	opt.version = "1.0\n";
	assert_int_equal(event_format_check_options(&opt, NULL), -EINVAL);
	event_format_options_init(&opt);
	opt.hec_index = "\xff";
	assert_int_equal(event_format_check_options(&opt, NULL), -EINVAL);

	/* Events out of range, and formats. */
	assert_int_equal(
	    event_format(&ev, EVENT_FORMAT__MAX, NULL, &msg, &len), -EINVAL);
	ev.severity = 8;
	assert_int_equal(
	    event_format(&ev, EVENT_FORMAT_CEF, NULL, &msg, &len), -EINVAL);
	event_sample(EVENT_DAEMON_STARTED, &ev);
	ev.time = -1;
	assert_int_equal(
	    event_format(&ev, EVENT_FORMAT_JSON, NULL, &msg, &len), -EINVAL);
	event_sample(EVENT_DAEMON_STARTED, &ev);
	ev.name = EVENT__MAX;
	assert_int_equal(
	    event_format(&ev, EVENT_FORMAT_LEEF, NULL, &msg, &len), -EINVAL);
	assert_null(msg);

	/* NULL options are the defaults: the BOM, ROTAD_VERSION. */
	event_sample(EVENT_DAEMON_STARTED, &ev);
	assert_int_equal(
	    event_format(&ev, EVENT_FORMAT_RFC5424, NULL, &msg, &len), 0);
	assert_non_null(strstr(msg, "] \xef\xbb\xbfrotad 0.1.0"));
	free(msg);
}

/* ---- CEF ---- */

static void
test_cef_exact(void **state)
{
	struct event_format_options opt;
	struct event ev;

	(void)state;
	plain_options(&opt);
	event_sample(EVENT_SECRET_SET, &ev);
	assert_format(&ev, EVENT_FORMAT_CEF, &opt,
	    "CEF:0|rotad|rotad|1.2.3|secret_set|Secret set|3|"
	    "rt=1718000000123 dvchost=vault1.example.com cat=access "
	    "externalId=1016 cs1Label=runId "
	    "cs1=5b0c6f6e-2f4a-4d53-9a57-1c2f0e8f3a41 duser=app_reader "
	    "cs2Label=resource cs2=pg-prod cs3Label=provider cs3=postgresql "
	    "suid=0");
}

static void
test_cef_escaping(void **state)
{
	struct event_format_options opt;
	struct event ev;

	(void)state;
	plain_options(&opt);
	/* Header: '|' and '\' get a backslash. */
	opt.version = "1|2\\3";
	event_init(&ev, EVENT_CONTROL_DENIED, 5, "h");
	ev.uid = 7;
	/* Extension: '=', '\' and newlines; '|' needs nothing there. */
	ev.user = "a=b";
	ev.message = "x=1\\y\r\nz|w\tend";
	assert_format(&ev, EVENT_FORMAT_CEF, &opt,
	    "CEF:0|rotad|rotad|1\\|2\\\\3|control_denied|"
	    "Control request denied|5|rt=5 dvchost=h cat=access externalId=0 "
	    "duser=a\\=b suid=7 msg=x\\=1\\\\y\\r\\nz|w end");
}

/* ---- LEEF ---- */

static void
test_leef_exact(void **state)
{
	struct event_format_options opt;
	struct event ev;

	(void)state;
	plain_options(&opt);
	event_init(&ev, EVENT_EVENTS_DROPPED, SAMPLE_TIME, "h");
	ev.seq = 9;
	ev.count = 17;
	ev.message = "tab\there\nnl \\ back=slash|pipe";
	assert_format(&ev, EVENT_FORMAT_LEEF, &opt,
	    "LEEF:2.0|rotad|rotad|1.2.3|events_dropped|x09|"
	    "devTime=2024-06-10T06:13:20.123+0000\t"
	    "devTimeFormat=yyyy-MM-dd'T'HH:mm:ss.SSSZ\tcat=daemon\tsev=7\t"
	    "host=h\tseq=9\tcount=17\t"
	    "msg=tab\\there\\nnl \\\\ back=slash|pipe");
	opt.version = "a|b";
	ev.message = NULL;
	ev.host = NULL;
	assert_format(&ev, EVENT_FORMAT_LEEF, &opt,
	    "LEEF:2.0|rotad|rotad|a\\|b|events_dropped|x09|"
	    "devTime=2024-06-10T06:13:20.123+0000\t"
	    "devTimeFormat=yyyy-MM-dd'T'HH:mm:ss.SSSZ\tcat=daemon\tsev=7\t"
	    "seq=9\tcount=17");
}

/* ---- JSON lines and HEC ---- */

static void
test_json_lines(void **state)
{
	struct event_format_options opt;
	struct event ev, back;
	char *msg;

	(void)state;
	plain_options(&opt);
	event_init(&ev, EVENT_VERIFY_OK, 1, "h");
	ev.seq = 3;
	ev.user = "u";
	ev.duration_ms = 0;
	ev.message = "tab\t\"q\" \xe2\x82\xac";
	assert_format(&ev, EVENT_FORMAT_JSON, &opt,
	    "{\"v\":1,\"seq\":3,\"time\":1,"
	    "\"timestamp\":\"1970-01-01T00:00:00.001Z\",\"host\":\"h\","
	    "\"name\":\"verify_ok\",\"severity\":6,\"user\":\"u\","
	    "\"message\":\"tab\\t\\\"q\\\" "
	    "\xe2\x82\xac\",\"duration_ms\":0}\n");

	/* A JSON line is the spool form and a newline: it decodes. */
	msg = fmt(&ev, EVENT_FORMAT_JSON, &opt);
	assert_int_equal(event_decode_json(msg, strlen(msg) - 1, &back), 0);
	assert_same_event(&ev, &back);
	event_clear(&back);
	free(msg);

	/* A raw event with bytes that are not UTF-8 still formats. */
	ev.message = "\xff";
	assert_format(&ev, EVENT_FORMAT_JSON, &opt,
	    "{\"v\":1,\"seq\":3,\"time\":1,"
	    "\"timestamp\":\"1970-01-01T00:00:00.001Z\",\"host\":\"h\","
	    "\"name\":\"verify_ok\",\"severity\":6,\"user\":\"u\","
	    "\"message\":\"\xef\xbf\xbd\",\"duration_ms\":0}\n");
}

static void
test_hec(void **state)
{
	static const struct {
		int64_t time;
		const char *want;
	} times[] = {
		{ 0, "{\"time\":0.0," },
		{ 1, "{\"time\":0.001," },
		{ 999, "{\"time\":0.999," },
		{ 1000, "{\"time\":1.0," },
		{ 1718000000100, "{\"time\":1718000000.1," },
		{ 1718000000123, "{\"time\":1718000000.123," },
		{ EVENT_TIME_MAX, "{\"time\":253402300799.999," },
	};
	struct event_format_options opt;
	struct event ev;
	char *msg;
	size_t i;

	(void)state;
	plain_options(&opt);
	event_init(&ev, EVENT_DAEMON_STARTED, SAMPLE_TIME, "h");
	ev.seq = 1;
	assert_format(&ev, EVENT_FORMAT_HEC, &opt,
	    "{\"time\":1718000000.123,\"host\":\"h\",\"source\":\"rotad\","
	    "\"sourcetype\":\"rotad:event\",\"event\":{\"v\":1,\"seq\":1,"
	    "\"time\":1718000000123,"
	    "\"timestamp\":\"2024-06-10T06:13:20.123Z\",\"host\":\"h\","
	    "\"name\":\"daemon_started\",\"severity\":5}}");
	opt.hec_index = "security";
	opt.hec_source = "rotad:prod";
	ev.host = NULL;
	assert_format(&ev, EVENT_FORMAT_HEC, &opt,
	    "{\"time\":1718000000.123,\"source\":\"rotad:prod\","
	    "\"sourcetype\":\"rotad:event\",\"index\":\"security\","
	    "\"event\":{\"v\":1,\"seq\":1,\"time\":1718000000123,"
	    "\"timestamp\":\"2024-06-10T06:13:20.123Z\","
	    "\"name\":\"daemon_started\",\"severity\":5}}");
	for (i = 0; i < sizeof(times) / sizeof(times[0]); i++) {
		ev.time = times[i].time;
		msg = fmt(&ev, EVENT_FORMAT_HEC, &opt);
		if (strncmp(msg, times[i].want, strlen(times[i].want)) != 0)
			fail_msg("%s, not %s", msg, times[i].want);
		free(msg);
	}
}

/* Only JSON lines ends in a newline, and nothing has one inside. */
/* The chat format: the template's fields, absent ones, "{{", and values
 * that try to mention a channel, make a link or end the JSON string. */
static void
test_slack(void **state)
{
	struct event_format_options opt;
	const char *why;
	struct event ev;

	(void)state;
	plain_options(&opt);
	event_init(&ev, EVENT_RECORD_ROTATION_SCHEDULED_FAIL, SAMPLE_TIME, "h");
	ev.seq = 7;
	ev.user = "app";
	ev.message = "refused <!channel> & <https://x|y> \"q\"\n";
	opt.template = "{{x} {name} {title}: {user} {resource} {message} "
		       "#{seq} {severity} {time}";
	assert_format(&ev, EVENT_FORMAT_SLACK, &opt,
	    "{\"text\":\"{x} record_rotation_scheduled_fail Scheduled "
	    "rotation failed: app - refused &lt;!channel&gt; &amp; "
	    "&lt;https://x|y&gt; \\\"q\\\"\\n #7 err "
	    "2024-06-10T06:13:20.123Z\"}");
	/* The default template names only known fields. */
	opt.template = NULL;
	assert_int_equal(event_format_check_options(&opt, NULL), 0);
	/* Refused: an unknown field, an unclosed brace, not UTF-8. */
	opt.template = "{user} {password}";
	assert_int_equal(event_format_check_options(&opt, &why), -EINVAL);
	assert_non_null(why);
	opt.template = "{user";
	assert_int_equal(event_format_check_options(&opt, NULL), -EINVAL);
	opt.template = "\xff{user}";
	assert_int_equal(event_format_check_options(&opt, NULL), -EINVAL);
	assert_int_equal(event_format_from_string("slack", &(enum event_format){
			     0 }),
	    0);
}

/* Each line of a journal datagram is KEY=VALUE, KEY of A-Z, 0-9 and '_'
 * not starting with '_' (what journald accepts from a client). */
static void
journal_lines(const char *msg)
{
	const char *p = msg, *eol, *eq;
	size_t i;

	while (*p != '\0') {
		eol = strchr(p, '\n');
		assert_non_null(eol);
		eq = memchr(p, '=', (size_t)(eol - p));
		assert_non_null(eq);
		assert_true(eq > p && *p != '_');
		for (i = 0; p + i < eq; i++)
			assert_true((p[i] >= 'A' && p[i] <= 'Z') ||
			    (p[i] >= '0' && p[i] <= '9') || p[i] == '_');
		p = eol + 1;
	}
}

static void
test_single_line(void **state)
{
	struct event_format_options opt;
	struct event ev;
	enum event_name n;
	enum event_format f;
	char *msg;
	size_t len;

	(void)state;
	plain_options(&opt);
	for (n = 0; n < EVENT__MAX; n++) {
		event_sample(n, &ev);
		ev.message = "a\nb\rc";
		for (f = 0; f < EVENT_FORMAT__MAX; f++) {
			msg = fmt(&ev, f, &opt);
			len = strlen(msg);
			if (f == EVENT_FORMAT_JSON) {
				assert_int_equal(msg[len - 1], '\n');
				len--;
			}
			assert_null(memchr(msg, '\r', len));
			if (f == EVENT_FORMAT_JOURNAL) {
				/* One field a line: each line KEY=VALUE, the
				 * newline in the message shown as \n. */
				assert_non_null(strstr(msg, "ROTAD_MESSAGE=a\\nb\\rc\n"));
				assert_int_equal(msg[len - 1], '\n');
				journal_lines(msg);
			} else
				assert_null(memchr(msg, '\n', len));
			free(msg);
		}
	}
}

/* ---- filters ---- */

static void
test_filters(void **state)
{
	static const char *const users[] = { "alice", "app_reader" };
	struct event_filter f;
	struct event ev;

	(void)state;
	event_filter_init(&f);
	event_sample(EVENT_ROTATION_STARTED, &ev); /* info, app_reader */
	assert_true(event_filter_match(&f, &ev));
	ev.severity = LOG_DEBUG;
	assert_true(event_filter_match(&f, &ev));

	/* Minimum severity: warning and worse. */
	f.min_severity = LOG_WARNING;
	assert_false(event_filter_match(&f, &ev));
	ev.severity = LOG_WARNING;
	assert_true(event_filter_match(&f, &ev));
	ev.severity = LOG_EMERG;
	assert_true(event_filter_match(&f, &ev));
	ev.severity = LOG_NOTICE;
	assert_false(event_filter_match(&f, &ev));

	/* Names. */
	event_filter_init(&f);
	f.names = 1u << EVENT_RECORD_ROTATION_SCHEDULED_FAIL |
	    1u << EVENT_ROTATION_OUT_OF_SYNC;
	assert_false(event_filter_match(&f, &ev));
	event_sample(EVENT_ROTATION_OUT_OF_SYNC, &ev);
	assert_true(event_filter_match(&f, &ev));
	event_sample(EVENT_RECORD_ROTATION_SCHEDULED_FAIL, &ev);
	assert_true(event_filter_match(&f, &ev));
	event_sample(EVENT_RECORD_ROTATION_SCHEDULED_OK, &ev);
	assert_false(event_filter_match(&f, &ev));

	/* Users: an event without one does not pass. */
	event_filter_init(&f);
	f.users = users;
	f.nusers = 2;
	assert_true(event_filter_match(&f, &ev));
	ev.user = "bob";
	assert_false(event_filter_match(&f, &ev));
	ev.user = "alice";
	assert_true(event_filter_match(&f, &ev));
	ev.user = "alic";
	assert_false(event_filter_match(&f, &ev));
	event_sample(EVENT_DAEMON_STARTED, &ev);
	assert_false(event_filter_match(&f, &ev));

	/* All three at once. */
	f.min_severity = LOG_ERR;
	f.names = 1u << EVENT_RECORD_ROTATION_SCHEDULED_FAIL;
	event_sample(EVENT_RECORD_ROTATION_SCHEDULED_FAIL, &ev);
	assert_true(event_filter_match(&f, &ev));
	ev.severity = LOG_WARNING;
	assert_false(event_filter_match(&f, &ev));
}

/* ---- docs/events.md ---- */

static char *
read_file(const char *path)
{
	FILE *fp;
	char *buf;
	long n;

	fp = fopen(path, "rb");
	assert_non_null(fp);
	assert_int_equal(fseek(fp, 0, SEEK_END), 0);
	n = ftell(fp);
	assert_true(n > 0);
	rewind(fp);
	buf = malloc((size_t)n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, fp), (size_t)n);
	buf[n] = '\0';
	fclose(fp);
	return buf;
}

/* Every example on the page is what the code writes today. */
static void
test_docs_examples(void **state)
{
	struct event_format_options opt;
	char *doc, *msg, heading[64];
	struct event ev;
	enum event_name n;
	enum event_format f;

	(void)state;
	doc = read_file(TEST_DATA_DIR "/../../../docs/events.md");
	event_sample_options(&opt);
	for (n = 0; n < EVENT__MAX; n++) {
		snprintf(heading, sizeof(heading), "\n### %s\n",
		    event_name_to_string(n));
		if (strstr(doc, heading) == NULL)
			fail_msg("docs/events.md has no section %s",
			    event_name_to_string(n));
		event_sample(n, &ev);
		for (f = 0; f < EVENT_FORMAT__MAX; f++) {
			msg = fmt(&ev, f, &opt);
			if (strstr(doc, msg) == NULL)
				fail_msg(
				    "docs/events.md lacks the %s example "
				    "of %s (run build/.../events-examples)",
				    event_format_to_string(f),
				    event_name_to_string(n));
			free(msg);
		}
	}
	free(doc);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_words),
		cmocka_unit_test(test_severity_mapping),
		cmocka_unit_test(test_time),
		cmocka_unit_test(test_roundtrip_every_name),
		cmocka_unit_test(test_encode_exact),
		cmocka_unit_test(test_decode_refuses),
		cmocka_unit_test(test_decode_accepts),
		cmocka_unit_test(test_encode_refuses),
		cmocka_unit_test(test_rfc5424_exact),
		cmocka_unit_test(test_rfc5424_nil),
		cmocka_unit_test(test_rfc5424_utf8),
		cmocka_unit_test(test_options),
		cmocka_unit_test(test_cef_exact),
		cmocka_unit_test(test_cef_escaping),
		cmocka_unit_test(test_leef_exact),
		cmocka_unit_test(test_json_lines),
		cmocka_unit_test(test_hec),
		cmocka_unit_test(test_slack),
		cmocka_unit_test(test_single_line),
		cmocka_unit_test(test_filters),
		cmocka_unit_test(test_docs_examples),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
