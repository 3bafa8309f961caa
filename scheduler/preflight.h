/*
 * preflight: what `rotad -n` checks on this host, beyond the files: what
 * would stop the daemon at its start or fail the first fire.  The worker
 * binary and worker.user, the master key and the store (their modes, and
 * that they exist), and the secrets the first rotations need.
 *
 * -n may run as a user that cannot read the key or the store (an operator
 * checking a job file): then it says so once and checks the rest.
 */
#ifndef ROTAD_PREFLIGHT_H
#define ROTAD_PREFLIGHT_H

#include <stddef.h>
#include <stdio.h>

struct job_set;

/* Secrets listed one by one, at most; the rest are counted. */
#define PREFLIGHT_UNSEEDED_MAX 20

/*
 * Check SET against this host, printing each problem to F as
 * "rotad.yaml[:line:column]: message" (naming the rotad.yaml key to fix)
 * or, for a user, at its place in its job file; warnings say "warning:".
 * Adds to *NERRORS and *NWARNINGS.
 */
void preflight_check(
    const struct job_set *set, FILE *f, size_t *nerrors, size_t *nwarnings);

#endif
