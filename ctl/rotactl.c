/*
 * rotactl: command-line client of rotad.
 *
 * Each command is a small function behind one table; the commands that
 * talk to the daemon arrive with the control socket.  `cron` works offline.
 */
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "ctl.h"

static const struct command {
	const char *name;
	int (*main)(int argc, char **argv);
	const char *synopsis;
} commands[] = {
	{ "cron", cron_main,
	    "cron EXPR [--tz ZONE] [--from ISO8601] [-n COUNT] [--json]\n"
	    "  cron --schedule JSON [--from ISO8601] [-n COUNT] [--json]" },
	{ NULL, NULL, NULL },
};

static void
usage(FILE *f)
{
	const struct command *c;

	fprintf(f, "usage: rotactl COMMAND [ARGS...]\n\ncommands:\n");
	for (c = commands; c->name != NULL; c++)
		fprintf(f, "  %s\n", c->synopsis);
	fprintf(f, "\n  rotactl --version\n");
}

int
main(int argc, char **argv)
{
	const struct command *c;

	if (argc < 2) {
		usage(stderr);
		return CTL_EXIT_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		usage(stdout);
		return CTL_EXIT_OK;
	}
	if (strcmp(argv[1], "--version") == 0) {
		printf("rotactl %s\n", ROTAD_VERSION);
		return CTL_EXIT_OK;
	}
	for (c = commands; c->name != NULL; c++)
		if (strcmp(argv[1], c->name) == 0)
			return c->main(argc - 1, argv + 1);
	fprintf(stderr, "rotactl: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return CTL_EXIT_USAGE;
}
