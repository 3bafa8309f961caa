/*
 * fault.c: fault injection for the crash tests (fault.h).  Test builds
 * only (test_hooks); elsewhere nothing is read and nothing fires.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "fault.h"

#if ROTAD_TEST_HOOKS
/*
 * Fault injection, test builds only: ROTAD_FAULT=WHAT:STEP[,WHAT:STEP...]
 * (at most FAULTS_MAX), read once at start.  WHAT is `daemon` (SIGKILL the
 * daemon right after STEP is persisted), `daemon-mid` (SIGKILL it when
 * STEP's worker has answered, before the answer is read), `worker-early`
 * or `worker-late` (SIGKILL the STEP's worker as it starts, or once it has
 * answered and before the answer is read), `hang`, `fail` or `auth` (the
 * worker is told to hang, to fail transient with an outcome it does not
 * know, or to fail as a refused login).  Worker faults fire once each, so
 * that recovery can then proceed.  `gate:reload` holds the next reload's
 * load, `gate:request` the next step's request as it is built on the
 * pool, until the file ROTAD_FAULT_GATE exists (fault_gate_wait()).
 * `slow-request` makes STEP's request wait, once, behind a read that
 * outlasts the step's deadline (run.c), as behind a busy pool.
 */
#define FAULTS_MAX 4
static struct {
	char what[16];
	char step[24];
} faults[FAULTS_MAX];

void
fault_init(void)
{
	const char *s = getenv("ROTAD_FAULT");
	int i, used;

	memset(faults, 0, sizeof(faults));
	for (i = 0; s != NULL && i < FAULTS_MAX; i++) {
		if (sscanf(s, "%15[^:]:%23[^,]%n", faults[i].what,
			faults[i].step, &used) != 2) {
			faults[i].what[0] = '\0';
			break;
		}
		s += used;
		if (*s != ',')
			break;
		s++;
	}
}

bool
fault_is(const char *what, const char *step)
{
	size_t i;

	for (i = 0; i < FAULTS_MAX; i++) {
		if (strcmp(faults[i].what, what) != 0 ||
		    strcmp(faults[i].step, step) != 0)
			continue;
		if (strcmp(what, "daemon") != 0)
			faults[i].what[0] = '\0'; /* once */
		return true;
	}
	return false;
}

void
fault_gate_wait(void)
{
	const char *path = getenv("ROTAD_FAULT_GATE");
	struct timespec ts = { 0, 20 * 1000 * 1000 };
	int i;

	for (i = 0; path != NULL && i < 3000 && access(path, F_OK) != 0; i++)
		nanosleep(&ts, NULL);
}
#else
void
fault_init(void)
{
}

void
fault_gate_wait(void)
{
}

bool
fault_is(const char *what, const char *step)
{
	(void)what;
	(void)step;
	return false;
}
#endif
