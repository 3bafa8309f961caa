/*
 * log: the daemon's one place to say things.
 *
 * stderr in the foreground (as systemd collects it, with <N> priority
 * prefixes the journal understands), syslog otherwise.  Every line starts
 * with a stable message id (MSG_*), so that operators can grep and alert
 * on them across versions.  Secrets have no way in here: there is no
 * function that takes a struct secret, and callers pass only names, ids
 * and messages that workers have already scrubbed.
 */
#ifndef ROTAD_LOG_H
#define ROTAD_LOG_H

#include <stdbool.h>
#include <syslog.h>

/*
 * Stable message ids: never renumber, never reuse.  docs/operations.md
 * ("Troubleshooting") explains each; add a new one there too.  The audit
 * lines (0021-0025) name the caller's uid and pid as the kernel gave them
 * (SO_PEERCRED) and the users concerned.
 */
#define MSG_START "ROTAD-0001"
#define MSG_STOP "ROTAD-0002"
#define MSG_RELOAD "ROTAD-0003"
#define MSG_RELOAD_FAILED "ROTAD-0004"
#define MSG_CONFIG "ROTAD-0005"
#define MSG_FILE_SKIPPED "ROTAD-0006" /* a job file left out: degraded */
#define MSG_FIRE "ROTAD-0010"
#define MSG_MISFIRE "ROTAD-0011"
#define MSG_RUN_START "ROTAD-0012"
#define MSG_RUN_DONE "ROTAD-0013"
#define MSG_RUN_RETRY "ROTAD-0014"
#define MSG_RUN_FAILED "ROTAD-0015"
#define MSG_COALESCED "ROTAD-0016"
#define MSG_CLOCK "ROTAD-0017"
#define MSG_DENIED "ROTAD-0020"
#define MSG_SECRET_READ "ROTAD-0021"
#define MSG_SECRET_SET "ROTAD-0022"
#define MSG_PAUSE "ROTAD-0023"     /* audit: pause, resume */
#define MSG_TRIGGER "ROTAD-0024"   /* audit: rotate, verify */
#define MSG_RELOAD_BY "ROTAD-0025" /* audit: reload through the socket */
#define MSG_STORE "ROTAD-0030"
#define MSG_RECOVER "ROTAD-0040"
#define MSG_OUT_OF_SYNC "ROTAD-0041"
#define MSG_SCRIPT "ROTAD-0042"
#define MSG_DELIVERY "ROTAD-0050" /* a sink cannot deliver */
#define MSG_TEMPLATE "ROTAD-0060" /* the worker template */
#define MSG_INTERNAL "ROTAD-0099"

/* Where lines go: stderr (foreground) or syslog. */
void log_open(bool foreground, int min_priority);
void log_close(void);

/*
 * Log at PRIORITY (LOG_ERR ... LOG_DEBUG) with message id ID.  Control
 * characters in the formatted text are escaped, because user names and
 * target messages are not ours.
 */
/*
 * HOLD true: lines to stderr are kept in a buffer, written when it fills
 * and when HOLD goes false, so that a burst (10,000 fires at one second)
 * costs a few writes, not one per line.  Syslog is not held.
 */
void log_hold(bool hold);

void log_msg(int priority, const char *id, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
