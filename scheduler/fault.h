/*
 * fault: the crash tests' faults, ROTAD_FAULT=WHAT:STEP[,WHAT:STEP...],
 * read once at start (fault.c says what each WHAT does).  A no-op in
 * builds without test_hooks.
 */
#ifndef ROTAD_FAULT_H
#define ROTAD_FAULT_H

#include <stdbool.h>

/* Read ROTAD_FAULT.  Once, at start. */
void fault_init(void);

/* Whether fault WHAT is set for step STEP (a worker fault fires once). */
bool fault_is(const char *what, const char *step);

#endif
