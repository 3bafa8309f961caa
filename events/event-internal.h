/*
 * event-internal.h: what event.c shares with event_format.c, and with no
 * one else.
 */
#ifndef ROTAD_EVENT_INTERNAL_H
#define ROTAD_EVENT_INTERNAL_H

#include <jansson.h>

#include "event.h"

/*
 * EV as the JSON object event_encode_json() writes, or NULL (out of
 * memory).  Total: EV need not pass event_check() (its name must be in
 * the table), bytes that are not UTF-8 become U+FFFD, and a NULL host is
 * left out.  The caller json_decref()s it.
 */
json_t *event_to_json(const struct event *ev);

/* S as a JSON string, bytes that are not UTF-8 replaced by U+FFFD; NULL
 * when memory ran out. */
json_t *event_json_text(const char *s);

/* Room for event_field_value()'s numbers: "-9223372036854775808". */
#define EVENT_NUMBER_SIZE 21

/*
 * The value of optional field FIELD (one EVENT_F_* bit) of EV as text:
 * the string itself, the trigger's name, or a number written into BUF;
 * NULL when EV does not have the field.
 */
const char *event_field_value(
    const struct event *ev, unsigned field, char buf[EVENT_NUMBER_SIZE]);

#endif
