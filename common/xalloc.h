/*
 * xalloc: allocation for code whose callers have no use for -ENOMEM.
 *
 * The rule (docs/ARCHITECTURE.md, "Out of memory"): library modules
 * (common, proto, catalog, cronspec, store, providers) return -ENOMEM like
 * any other error and leave their outputs untouched; the daemon's own
 * bookkeeping (scheduler/) and the configuration loader it drives (jobs/)
 * call these, which end the process when memory runs out.  Dying is safe
 * there: every state change is persisted before it is acted on, and the
 * next start recovers (systemd restarts the unit); unwinding a half-made
 * in-memory change through error paths that never run in tests is not.
 *
 * They write one line to stderr and _exit(EX_OSERR), never abort(): a core
 * dump of the daemon would hold the store's key schedule, which lives in
 * OpenSSL's memory rather than in a struct secret.
 *
 * libc only.
 */
#ifndef ROTAD_XALLOC_H
#define ROTAD_XALLOC_H

#include <stddef.h>

void *xmalloc(size_t size);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t size);
void *xreallocarray(void *p, size_t n, size_t size);
char *xstrdup(const char *s); /* NULL stays NULL */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* End the process for want of memory (what the functions above call). */
void xalloc_fail(void) __attribute__((noreturn));

#endif
