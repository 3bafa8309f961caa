/*
 * rotad: the credential-rotation daemon.
 *
 *   rotad [-c FILE] [-s]        run, in the foreground (-s: log to syslog)
 *   rotad -n [-v] [-c FILE]     check the configuration (-v: print it)
 *   rotad --init [-c FILE]      create the master key and the store
 *   rotad --rekey [-c FILE]     re-wrap the store's data key under a new key
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <time.h>

#include "config.h"
#include "daemon.h"
#include "jobs.h"
#include "keys.h"
#include "worker_user.h"

#define DEFAULT_CONFIG "/etc/rotad/rotad.yaml"

/*
 * No core of this process, ever: it holds the master key, the store's data
 * key schedule, and whatever secret a control request carried last (a
 * struct secret is excluded from dumps, but OpenSSL's and jansson's
 * copies are not).  RLIMIT_CORE 0 stops the kernel writing one, and
 * non-dumpable also keeps other processes of the same uid from attaching
 * with ptrace or reading its memory through /proc.  Before anything else
 * runs, so that no mode (-n, --init, --rekey, the daemon) escapes it.
 */
static int
no_core(void)
{
	struct rlimit rl = { 0, 0 };

	if (setrlimit(RLIMIT_CORE, &rl) < 0 ||
	    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0) {
		fprintf(stderr, "rotad: cannot disable core dumps: %s\n",
		    strerror(errno));
		return -1;
	}
	return 0;
}

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: rotad [-c FILE] [-s]      run (-s: log to syslog, not "
	    "stderr)\n"
	    "       rotad -n [-v] [-c FILE]   check the configuration\n"
	    "       rotad --init [-c FILE]    create the master key and store\n"
	    "       rotad --rekey [-c FILE]   re-wrap the store under a new "
	    "master key\n"
	    "       rotad --version\n"
	    "\n"
	    "  -c FILE  daemon settings (default %s);\n"
	    "           job files are read from its conf.d\n",
	    DEFAULT_CONFIG);
}

/*
 * rotad -n: every error, then the verdict; -v prints the resolved model.
 * worker.user is checked as far as it can be without knowing who will run
 * the daemon: it exists and is not root.
 */
static int
check(const char *config, bool verbose)
{
	struct job_set *set = NULL;
	char why[512];
	size_t nerrors;
	int r, ret;

	r = jobs_load(config, (int64_t)time(NULL), &set);
	jobs_print_errors(set, stderr);
	/* Loaded, but unsafe: said, and not an error. */
	jobs_print_warnings(set, stderr);
	nerrors = set->nerrors;
	if (r == 0 &&
	    worker_user_check(set->daemon.worker_user, WORKER_USER_NO_SELF,
		NULL, why, sizeof(why)) < 0) {
		fprintf(stderr, "%s: %s\n", set->daemon.config_file, why);
		nerrors++;
	}
	if (verbose && r == 0)
		jobs_print(set, stdout);
	if (nerrors == 0) {
		printf("configuration OK\n");
		ret = 0;
	} else {
		fprintf(stderr,
		    "rotad: %zu error%s; %zu job file%s would be "
		    "skipped\n",
		    nerrors, nerrors == 1 ? "" : "s", set->nfiles_skipped,
		    set->nfiles_skipped == 1 ? "" : "s");
		ret = 1;
	}
	jobs_free(set);
	return ret;
}

int
main(int argc, char **argv)
{
	enum {
		OPT_INIT = 256,
		OPT_REKEY,
		OPT_VERSION
	};
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "check", no_argument, NULL, 'n' },
		{ "foreground", no_argument, NULL, 'f' },
		{ "syslog", no_argument, NULL, 's' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "init", no_argument, NULL, OPT_INIT },
		{ "rekey", no_argument, NULL, OPT_REKEY },
		{ "version", no_argument, NULL, OPT_VERSION },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *config = DEFAULT_CONFIG;
	bool check_mode = false, verbose = false, to_syslog = false;
	int c, mode = 0;

	if (no_core() < 0)
		return 1;

	while ((c = getopt_long(argc, argv, "c:fnsvh", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			config = optarg;
			break;
		case 'n':
			check_mode = true;
			break;
		case 'f':
			/* rotad always runs in the foreground now (see
			 * daemon.h); -f stays accepted for old units. */
			break;
		case 's':
			to_syslog = true;
			break;
		case 'v':
			verbose = true;
			break;
		case OPT_INIT:
		case OPT_REKEY:
			mode = c;
			break;
		case OPT_VERSION:
			printf("rotad %s\n", ROTAD_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	if (check_mode)
		return check(config, verbose);
	if (mode == OPT_INIT)
		return keys_init(config);
	if (mode == OPT_REKEY)
		return keys_rekey(config);
	return daemon_main(config, to_syslog);
}
