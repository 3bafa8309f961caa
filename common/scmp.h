/*
 * scmp: the part of a seccomp filter every rotad process that confines
 * itself builds the same way (the worker, the worker template,
 * rotad-deliver, rotad-siem), over libseccomp: a filter that kills a
 * process calling through a foreign system call table (i386, x32: an
 * escape route around any rule), and rules by name for a list of calls,
 * skipping those this architecture lacks.
 *
 * A library of its own, like sshkey, so that common_lib stays libc only.
 */
#ifndef ROTAD_SCMP_H
#define ROTAD_SCMP_H

#include <stdint.h>

#include <seccomp.h>

/* A filter answering DEF to what its rules do not name, killing a foreign
 * architecture's calls.  NULL when out of memory or refused. */
scmp_filter_ctx scmp_new(uint32_t def);

/*
 * ACTION for each system call NAMES lists (NULL-terminated), without
 * conditions; a name this architecture has no call for is skipped.  0, or
 * libseccomp's negative errno with the name it failed on in *FAILED.
 */
int scmp_add_names(scmp_filter_ctx ctx, uint32_t action,
    const char *const *names, const char **failed);

#endif
