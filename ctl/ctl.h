/*
 * ctl: rotactl, the operator's command-line client.
 */
#ifndef ROTAD_CTL_H
#define ROTAD_CTL_H

/* Documented exit codes (rotactl(1)). */
enum {
	CTL_EXIT_OK = 0,
	CTL_EXIT_FAILED = 1,
	CTL_EXIT_USAGE = 2,
	CTL_EXIT_UNREACHABLE = 3,
	CTL_EXIT_DENIED = 4,
};

/* `rotactl cron ...`: preview a schedule offline.  Returns an exit code. */
int cron_main(int argc, char **argv);

#endif
