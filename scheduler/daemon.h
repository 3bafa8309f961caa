/*
 * daemon: rotad's main loop: schedule, run queue, retries, reload, control.
 */
#ifndef ROTAD_DAEMON_H
#define ROTAD_DAEMON_H

#include <stdbool.h>

/*
 * Run the daemon on CONFIG until SIGTERM/SIGINT, in the foreground, as
 * systemd runs it (Type=notify).  It never detaches: daemon(3) after the
 * store is open would fork with an SQLite handle, which SQLite forbids,
 * and a supervisor does the rest better.  Logs go to stderr (the journal
 * under systemd), or to syslog when TO_SYSLOG.  Returns the exit status.
 */
int daemon_main(const char *config, bool to_syslog);

#endif
