/*
 * events-examples: the examples of docs/events.md, from the code.  For
 * each event: its severity, category and fields, then the sample in
 * every format.  test_events checks the page against the same samples.
 */
#include <stdio.h>
#include <stdlib.h>

#include "event.h"
#include "event_format.h"
#include "event_samples.h"

static const char *const field_names[] = { "run_id", "attempt", "user",
	"resource", "provider", "trigger", "outcome", "error_class", "message",
	"duration_ms", "rotation_status", "post_rotation_status", "alert_id",
	"uid", "count" };

int
main(void)
{
	struct event_format_options opt;
	unsigned fields, required, i, f;
	struct event ev;
	char *msg;
	size_t len;
	enum event_name n;

	event_sample_options(&opt);
	for (n = 0; n < EVENT__MAX; n++) {
		event_sample(n, &ev);
		fields = event_fields(n, &required);
		printf("### %s\n\n", event_name_to_string(n));
		printf("Severity %s (%d), category %s.  Fields:",
		    event_severity_to_string(event_default_severity(n)),
		    event_default_severity(n), event_category(n));
		for (i = 0; i < sizeof(field_names) / sizeof(field_names[0]);
		     i++) {
			f = 1u << i;
			if (fields & f)
				printf(" `%s`%s", field_names[i],
				    required & f ? " (always)" : "");
		}
		printf(".\n\n");
		for (f = 0; f < EVENT_FORMAT__MAX; f++) {
			if (event_format(&ev, f, &opt, &msg, &len) < 0)
				return 1;
			printf("%s:\n\n```\n%s%s```\n\n",
			    event_format_to_string(f), msg,
			    len > 0 && msg[len - 1] == '\n' ? "" : "\n");
			free(msg);
		}
	}
	return 0;
}
