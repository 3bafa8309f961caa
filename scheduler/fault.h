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

/* Fault `gate` (gate:reload, gate:request): wait, on the thread that
 * asks, until the file ROTAD_FAULT_GATE names exists (at most a minute),
 * so that a test can hold a reload's load, or a step's request, while it
 * looks at the daemon. */
void fault_gate_wait(void);

#endif
