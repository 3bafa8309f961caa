/*
 * One realistic event of each name: for test_events, the fuzzer's seed
 * corpus and the examples in docs/events.md (events-examples prints them,
 * and test_events checks the page still shows exactly what the code
 * writes).
 */
#ifndef ROTAD_EVENT_SAMPLES_H
#define ROTAD_EVENT_SAMPLES_H

#include "event.h"
#include "event_format.h"

/* 2024-06-10T06:13:20.123Z */
#define SAMPLE_TIME INT64_C(1718000000123)
#define SAMPLE_HOST "vault1.example.com"

/* The sample of NAME into *RET; its strings are static. */
void event_sample(enum event_name name, struct event *ret);

/* The options of the examples: the defaults, but a fixed version and
 * PROCID, and no BOM (an invisible character has no place on a page). */
void event_sample_options(struct event_format_options *ret);

#endif
