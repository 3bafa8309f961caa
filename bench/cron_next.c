/*
 * cron_next: how long one cronspec_next() call takes, zone by zone.
 *
 *	cron_next [-s SECONDS] [-p COUNT] [CORPUS]
 *
 * CORPUS (default bench/cron_corpus.tsv) holds "EXPR<TAB>ZONE" lines; '#'
 * starts a comment.  Every expression is parsed and every zone loaded once,
 * before any timing: what is measured is the scheduler's steady state, the
 * call rotad makes each time a job has fired and needs its next instant.
 *
 * Each call is chained on the previous result, as the daemon does, in
 * chains of CHAIN calls that start again at START; a chain also starts again
 * when a schedule has no next fire.  The lines of one zone are run over and
 * over for SECONDS (default 1) of CLOCK_MONOTONIC time, so that a zone costs
 * the same wall time however fast or slow its expressions are.
 *
 * With -p COUNT nothing is timed: each line prints its first COUNT fire
 * times from START as "EXPR<TAB>ZONE<TAB>t1 t2 ..." (seconds since the
 * epoch), so that bench/run-cron-next can check that another engine computes
 * the same schedule before comparing speeds.
 *
 * bench/croner.mjs does the same for the npm package croner; both must keep
 * START and CHAIN equal.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cronspec.h"
#include "tz.h"

/* 2024-01-01T00:00:00Z: recent, and a leap year. */
#define START INT64_C(1704067200)
/*
 * Calls per chain.  Long enough that parsing-free steady state dominates,
 * short enough that a yearly schedule stays well inside 2099.
 */
#define CHAIN 64

struct line {
	char *expr;
	struct cronspec *cs;
	size_t zone; /* index into zones[] */
};

struct zone {
	char *name;
	struct tz *tz;
	size_t nlines;
};

static struct line *lines;
static size_t nlines;
static struct zone *zones;
static size_t nzones;

/* Keeps the compiler from dropping calls whose results nobody reads. */
static volatile int64_t sink;

static void
usage(void)
{
	fprintf(stderr, "usage: cron_next [-s seconds] [-p count] [corpus]\n");
	exit(2);
}

static void *
xrealloc(void *p, size_t n, size_t size)
{
	if (size != 0 && n > SIZE_MAX / size) {
		fprintf(stderr, "cron_next: out of memory\n");
		exit(1);
	}
	p = realloc(p, n * size);
	if (p == NULL) {
		fprintf(stderr, "cron_next: out of memory\n");
		exit(1);
	}
	return p;
}

static char *
xstrdup(const char *s)
{
	char *d = strdup(s);

	if (d == NULL) {
		fprintf(stderr, "cron_next: out of memory\n");
		exit(1);
	}
	return d;
}

/*
 * The index of zone NAME, loading it on first sight.  Zones keep the order
 * in which the corpus first names them, and so does the report.
 */
static size_t
zone_index(const char *path, unsigned lineno, const char *name)
{
	struct tz *tz;
	size_t i;
	int r;

	for (i = 0; i < nzones; i++)
		if (strcmp(zones[i].name, name) == 0)
			return i;
	r = tz_load(name, &tz);
	if (r < 0) {
		fprintf(stderr, "%s:%u: zone %s: %s\n", path, lineno, name,
		    strerror(-r));
		exit(1);
	}
	zones = xrealloc(zones, nzones + 1, sizeof(*zones));
	zones[nzones].name = xstrdup(name);
	zones[nzones].tz = tz;
	zones[nzones].nlines = 0;
	return nzones++;
}

/*
 * Read and parse the whole corpus.  A line that does not parse stops the
 * benchmark: timing a subset without saying so would mislead.
 */
static void
load(const char *path)
{
	struct cronspec_error err;
	char *buf = NULL, *tab;
	size_t cap = 0;
	unsigned lineno = 0;
	FILE *f;
	int r;

	f = fopen(path, "r");
	if (f == NULL) {
		fprintf(stderr, "cron_next: %s: %s\n", path, strerror(errno));
		exit(1);
	}
	while (getline(&buf, &cap, f) != -1) {
		lineno++;
		buf[strcspn(buf, "\r\n")] = '\0';
		if (buf[0] == '\0' || buf[0] == '#')
			continue;
		tab = strchr(buf, '\t');
		if (tab == NULL || tab[1] == '\0' || strchr(tab + 1, '\t')) {
			fprintf(stderr, "%s:%u: expected EXPR<TAB>ZONE\n", path,
			    lineno);
			exit(1);
		}
		*tab = '\0';

		lines = xrealloc(lines, nlines + 1, sizeof(*lines));
		lines[nlines].expr = xstrdup(buf);
		r = cronspec_parse(buf, &lines[nlines].cs, &err);
		if (r == -EINVAL) {
			fprintf(stderr, "%s:%u:%d: %s: %s\n", path, lineno,
			    err.column, err.field, err.message);
			exit(1);
		} else if (r < 0) {
			errno = -r;
			fprintf(stderr, "%s:%u: %m\n", path, lineno);
			exit(1);
		}
		lines[nlines].zone = zone_index(path, lineno, tab + 1);
		zones[lines[nlines].zone].nlines++;
		nlines++;
	}
	free(buf);
	fclose(f);
	if (nlines == 0) {
		fprintf(stderr, "cron_next: %s: no expressions\n", path);
		exit(1);
	}
}

/* One chain of CHAIN calls; returns how many calls it made. */
static uint64_t
chain(const struct line *l)
{
	const struct tz *tz = zones[l->zone].tz;
	int64_t after = START, next = 0;
	int i, r;

	for (i = 0; i < CHAIN; i++) {
		r = cronspec_next(l->cs, tz, after, &next);
		if (r == -ENOENT) {
			after = START;
			continue;
		}
		if (r < 0) {
			fprintf(stderr, "cron_next: '%s' in %s: %s\n", l->expr,
			    zones[l->zone].name, strerror(-r));
			exit(1);
		}
		after = next;
	}
	sink += next;
	return CHAIN;
}

static double
seconds_since(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) +
	    (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

/*
 * Run zone Z's lines round-robin for BUDGET seconds.  The clock is read
 * once per round, not per call, so that reading it costs nothing measurable.
 */
static void
time_zone(size_t z, double budget, uint64_t *ret_calls, double *ret_elapsed)
{
	struct timespec t0;
	uint64_t calls = 0;
	double elapsed;
	size_t i;

	/* One untimed round: page in the code and the zone's tables. */
	for (i = 0; i < nlines; i++)
		if (lines[i].zone == z)
			chain(&lines[i]);

	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		for (i = 0; i < nlines; i++)
			if (lines[i].zone == z)
				calls += chain(&lines[i]);
		elapsed = seconds_since(&t0);
	} while (elapsed < budget);
	*ret_calls = calls;
	*ret_elapsed = elapsed;
}

static void
print_fires(int count)
{
	const struct zone *zp;
	int64_t after, next;
	size_t i;
	int k, r;

	for (i = 0; i < nlines; i++) {
		zp = &zones[lines[i].zone];
		printf("%s\t%s\t", lines[i].expr, zp->name);
		after = START;
		for (k = 0; k < count; k++) {
			r = cronspec_next(lines[i].cs, zp->tz, after, &next);
			if (r < 0)
				break;
			printf("%s%lld", k ? " " : "", (long long)next);
			after = next;
		}
		putchar('\n');
	}
}

int
main(int argc, char **argv)
{
	const char *path = "bench/cron_corpus.tsv";
	double budget = 1.0, elapsed, total_elapsed = 0;
	uint64_t calls, total_calls = 0;
	int ch, print = 0;
	size_t i, z;

	while ((ch = getopt(argc, argv, "p:s:")) != -1) {
		switch (ch) {
		case 'p':
			print = atoi(optarg);
			if (print <= 0)
				usage();
			break;
		case 's':
			budget = atof(optarg);
			if (!(budget > 0))
				usage();
			break;
		default:
			usage();
		}
	}
	if (argc - optind > 1)
		usage();
	if (argc - optind == 1)
		path = argv[optind];

	load(path);
	if (print) {
		print_fires(print);
		goto out;
	}

	printf("cron_next: %zu expressions in %zu zones, chains of %d calls "
	       "from 2024-01-01T00:00:00Z, %.2g s per zone\n",
	    nlines, nzones, CHAIN, budget);
	printf("%-24s %6s %12s %9s\n", "zone", "exprs", "calls", "us/call");
	for (z = 0; z < nzones; z++) {
		time_zone(z, budget, &calls, &elapsed);
		printf("%-24s %6zu %12llu %9.3f\n", zones[z].name,
		    zones[z].nlines, (unsigned long long)calls,
		    elapsed * 1e6 / (double)calls);
		fflush(stdout);
		total_calls += calls;
		total_elapsed += elapsed;
	}
	printf("%-24s %6zu %12llu %9.3f\n", "all", nlines,
	    (unsigned long long)total_calls,
	    total_elapsed * 1e6 / (double)total_calls);

out:
	for (i = 0; i < nlines; i++) {
		cronspec_free(lines[i].cs);
		free(lines[i].expr);
	}
	free(lines);
	for (z = 0; z < nzones; z++) {
		tz_free(zones[z].tz);
		free(zones[z].name);
	}
	free(zones);
	return 0;
}
