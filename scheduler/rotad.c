/*
 * rotad: the credential-rotation daemon.
 *
 *   rotad [-c FILE] [-s]        run, in the foreground (-s: log to syslog)
 *   rotad -n [-v] [--config-only] [-c FILE]
 *                               check the configuration (-v: print it) and
 *                               this host (unless --config-only)
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

#include <jansson.h>
#include <openssl/crypto.h>
#include <sqlite3.h>
#include <uv.h>
#include <yaml.h>

#include "catalog.h"
#include "config.h"
#include "daemon.h"
#include "jobs.h"
#include "keys.h"
#include "preflight.h"
#include "sinks.h"

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
	    "       rotad -n [-v] [--config-only] [-c FILE]\n"
	    "                                 check the configuration and this "
	    "host\n"
	    "       rotad --init [-c FILE]    create the master key and store\n"
	    "       rotad --rekey [-c FILE]   re-wrap the store under a new "
	    "master key\n"
	    "       rotad --version\n"
	    "\n"
	    "  -c FILE        daemon settings (default %s);\n"
	    "                 job files are read from its conf.d\n"
	    "  --config-only  with -n: the files alone, not this host's "
	    "worker,\n"
	    "                 worker user, key, store and secrets\n",
	    DEFAULT_CONFIG);
}

/*
 * rotad -n: every error, then the verdict; -v prints the resolved model.
 * Unless CONFIG_ONLY, what would stop the daemon or fail the first fire
 * on this host is checked too (preflight.h): the files may be sound and
 * the worker, its user, the key or the store not.
 */
static int
check(const char *config, bool verbose, bool config_only)
{
	struct job_set *set = NULL;
	size_t nerrors, nwarnings;
	int r, ret;

	r = jobs_load(config, (int64_t)time(NULL), &set);
	jobs_print_errors(set, stderr);
	/* Loaded, but unsafe: said, and not an error. */
	jobs_print_warnings(set, stderr);
	nerrors = set->nerrors;
	nwarnings = set->nwarnings;
	/* events:'s names, which jobs/ keeps as written (sinks.h). */
	if (r == 0)
		nerrors += sinks_check(&set->daemon.events, stderr);
	if (r == 0 && !config_only)
		preflight_check(set, stderr, &nerrors, &nwarnings);
	/* The errors' count closes the errors, before the model; "OK"
	 * closes the model. */
	if (nerrors > 0)
		fprintf(stderr,
		    "rotad: %zu error%s; %zu job file%s would be "
		    "skipped\n",
		    nerrors, nerrors == 1 ? "" : "s", set->nfiles_skipped,
		    set->nfiles_skipped == 1 ? "" : "s");
	if (verbose && r == 0)
		jobs_print(set, stdout);
	if (nerrors == 0)
		printf("configuration OK\n");
	ret = nerrors == 0 ? 0 : 1;
	jobs_free(set);
	return ret;
}

/*
 * rotad --version: what a bug report needs.  The providers are the
 * catalog's (what `protocol:` may name); the libraries are those linked
 * into rotad, at their run-time versions.  The providers' own client
 * libraries are the worker's (`ldd rotad-worker`; `rotad-worker --version`
 * prints its version alone).
 */
static void
version(FILE *f)
{
	const struct catalog_provider *const *p;
	const struct catalog_protocol *pr;

	fprintf(f, "rotad %s\n", ROTAD_VERSION);
	fprintf(f, "providers:\n");
	for (p = catalog_list(); *p != NULL; p++) {
		if ((*p)->internal)
			continue;
		fprintf(f, "  %-12s protocol", (*p)->name);
		for (pr = (*p)->protocols; pr->name != NULL; pr++)
			fprintf(f, "%s %s", pr == (*p)->protocols ? "" : ",",
			    pr->name);
		fprintf(f, "\n");
	}
	fprintf(f, "libraries:\n");
	fprintf(f, "  libuv        %s\n", uv_version_string());
	fprintf(f, "  OpenSSL      %s\n", OpenSSL_version(OPENSSL_VERSION));
	fprintf(f, "  SQLite       %s\n", sqlite3_libversion());
	fprintf(f, "  libyaml      %s\n", yaml_get_version_string());
	fprintf(f, "  jansson      %s\n", jansson_version_str());
}

int
main(int argc, char **argv)
{
	enum {
		OPT_INIT = 256,
		OPT_REKEY,
		OPT_VERSION,
		OPT_CONFIG_ONLY
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
		{ "config-only", no_argument, NULL, OPT_CONFIG_ONLY },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *config = DEFAULT_CONFIG;
	bool check_mode = false, verbose = false, to_syslog = false;
	bool config_only = false;
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
			version(stdout);
			return 0;
		case OPT_CONFIG_ONLY:
			config_only = true;
			break;
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
		return check(config, verbose, config_only);
	if (mode == OPT_INIT)
		return keys_init(config);
	if (mode == OPT_REKEY)
		return keys_rekey(config);
	return daemon_main(config, to_syslog);
}
