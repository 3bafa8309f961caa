/*
 * event_samples.c: the events docs/events.md shows, one per name.
 */
#include <string.h>

#include "event_samples.h"

#define RUN_ID "5b0c6f6e-2f4a-4d53-9a57-1c2f0e8f3a41"

/* The run every rotation sample is about. */
static void
run(struct event *ev, enum event_trigger trigger, int64_t attempt)
{
	ev->run_id = RUN_ID;
	ev->attempt = attempt;
	ev->user = "app_reader";
	ev->resource = "pg-prod";
	ev->provider = "postgresql";
	ev->trigger = trigger;
}

void
event_sample(enum event_name name, struct event *ev)
{
	event_init(ev, name, SAMPLE_TIME, SAMPLE_HOST);
	ev->seq = 1001 + (int64_t)name;
	switch (name) {
	case EVENT_RECORD_ROTATION_SCHEDULED_OK:
		run(ev, EVENT_TRIGGER_SCHEDULED, 1);
		ev->outcome = "success";
		ev->duration_ms = 1834;
		ev->rotation_status = "committed";
		ev->post_rotation_status = "ok";
		ev->message = "rotated; post-rotation script ran";
		break;
	case EVENT_RECORD_ROTATION_SCHEDULED_FAIL:
		run(ev, EVENT_TRIGGER_SCHEDULED, 3);
		ev->outcome = "failure";
		ev->error_class = "auth";
		ev->duration_ms = 422;
		ev->rotation_status = "failed";
		ev->message = "apply: password authentication failed for user "
			      "\"rotad_admin\"";
		break;
	case EVENT_RECORD_ROTATION_ON_DEMAND_OK:
		run(ev, EVENT_TRIGGER_ON_DEMAND, 1);
		ev->outcome = "success";
		ev->duration_ms = 1210;
		ev->rotation_status = "committed";
		ev->post_rotation_status = "none";
		ev->message = "rotated";
		break;
	case EVENT_RECORD_ROTATION_ON_DEMAND_FAIL:
		run(ev, EVENT_TRIGGER_SIEM_ALERT, 1);
		ev->alert_id = "splunk:sid_4711";
		ev->outcome = "failure";
		ev->error_class = "policy";
		ev->duration_ms = 388;
		ev->rotation_status = "failed";
		ev->message = "apply: the target refused the new password "
			      "[policy: min length 20]";
		break;
	case EVENT_ROTATION_STARTED:
		run(ev, EVENT_TRIGGER_SCHEDULED, 1);
		break;
	case EVENT_ROTATION_RETRY_SCHEDULED:
		run(ev, EVENT_TRIGGER_SCHEDULED, 2);
		ev->error_class = "transient";
		ev->message = "apply: connect: timed out; retry in 30 s";
		break;
	case EVENT_ROTATION_RECOVERED:
		run(ev, EVENT_TRIGGER_RECOVERY, 1);
		ev->outcome = "success";
		ev->rotation_status = "committed";
		ev->message = "the pending secret logs in: committed";
		break;
	case EVENT_ROTATION_OUT_OF_SYNC:
		run(ev, EVENT_TRIGGER_RECOVERY, 4);
		ev->error_class = "auth";
		ev->rotation_status = "out_of_sync";
		ev->message = "neither the current nor the pending secret logs "
			      "in; both kept";
		break;
	case EVENT_VERIFY_OK:
		run(ev, EVENT_TRIGGER_ON_DEMAND, 1);
		ev->duration_ms = 212;
		break;
	case EVENT_VERIFY_FAIL:
		run(ev, EVENT_TRIGGER_ON_DEMAND, 1);
		ev->error_class = "auth";
		ev->duration_ms = 305;
		ev->message = "login refused";
		break;
	case EVENT_CONFIG_RELOADED:
		ev->count = 120;
		ev->message = "120 users in 14 files";
		break;
	case EVENT_CONFIG_REJECTED:
		ev->count = 2;
		ev->message = "/etc/rotad/conf.d/pg.yaml:12:5: unknown key "
			      "\"shedule\"\n/etc/rotad/conf.d/pg.yaml:20:3: "
			      "user \"app_writer\" defined twice";
		break;
	case EVENT_JOB_FILE_SKIPPED:
		ev->message = "/etc/rotad/conf.d/old.yaml: writable by group; "
			      "skipped";
		break;
	case EVENT_CONTROL_DENIED:
		ev->uid = 1001;
		ev->user = "app_reader";
		ev->message = "rotate: uid 1001 lacks the trigger right";
		break;
	case EVENT_SECRET_READ:
		ev->uid = 0;
		ev->user = "app_reader";
		ev->resource = "pg-prod";
		ev->provider = "postgresql";
		break;
	case EVENT_SECRET_SET:
		ev->uid = 0;
		ev->user = "app_reader";
		ev->resource = "pg-prod";
		ev->provider = "postgresql";
		ev->run_id = RUN_ID;
		break;
	case EVENT_DAEMON_STARTED:
		ev->message = "rotad 0.1.0";
		break;
	case EVENT_DAEMON_STOPPING:
		ev->message = "SIGTERM";
		break;
	case EVENT_EVENTS_DROPPED:
		ev->count = 17;
		ev->message = "spool full (100000 events): the oldest dropped";
		break;
	default:
		break;
	}
}

void
event_sample_options(struct event_format_options *opt)
{
	event_format_options_init(opt);
	opt->version = "0.1.0";
	opt->procid = 812;
	opt->bom = false;
}
