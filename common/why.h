/*
 * why: the one-line reason a failing function leaves its caller, who
 * logs it once at the edge (STYLE.md).  A function that may fail before
 * any log is set up (a lock-down, a privilege drop, a TLS set-up) takes
 * a WHY buffer and its SIZE, and ends with
 *
 *	return why_fail(why, size, -errno, "open %s: %s", path,
 *	    strerror(errno));
 */
#ifndef ROTAD_WHY_H
#define ROTAD_WHY_H

#include <stddef.h>

/*
 * FMT's text into WHY (SIZE bytes, cut short when longer; nothing when
 * WHY is NULL or SIZE 0); returns ERR.
 */
int why_fail(char *why, size_t size, int err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
