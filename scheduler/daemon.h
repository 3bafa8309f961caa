/*
 * daemon: rotad's main loop: schedule, run queue, retries, reload, control.
 */
#ifndef ROTAD_DAEMON_H
#define ROTAD_DAEMON_H

#include <stdbool.h>

/*
 * Run the daemon on CONFIG until SIGTERM/SIGINT.  FOREGROUND keeps it
 * attached (systemd's Type=notify) and logs to stderr; otherwise it
 * detaches and logs to syslog.  Returns the process exit status.
 */
int daemon_main(const char *config, bool foreground);

#endif
