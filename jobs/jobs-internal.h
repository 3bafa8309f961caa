/*
 * jobs-internal.h: what the files of jobs/ share and nobody else sees.
 *
 *   jobs.c    the model: allocation, inheritance, freeing, and the load
 *             entry points that run the passes below in order
 *   parse.c   pass 1: YAML walking, each file into its own objects
 *   settle.c  pass 2: names, references and checks across files
 *   print.c   the -nv printer and the error list
 *   yamldoc.c the YAML documents parse.c walks, composed from libyaml's
 *             events
 *
 * Functions shared between the files carry the name of the file that
 * defines them (jobs_, parse_, settle_, print_); the public ones are in
 * jobs.h.  Allocation failure ends the process (common/xalloc.h: the
 * loader's half-built objects have no owner to unwind to), so the
 * allocation helpers never return NULL.
 */
#ifndef ROTAD_JOBS_INTERNAL_H
#define ROTAD_JOBS_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include <yaml.h>

#include "jobs.h"
#include "trust.h"
#include "xalloc.h"

/*
 * A resource key that is not a common one, as written: its provider may
 * be known only once settle.c has read the port map, which checks it.
 */
struct raw_param {
	char *name;
	char *value;   /* a scalar's text, or a mapping's path */
	char *command; /* a mapping's command */
	bool mapping;  /* written as {path, command} */
	struct job_origin key_at, origin; /* the key's place; the value's */
};

/* One configuration, resource or user as parsed, and its file. */
struct object {
	enum {
		OBJ_CONFIGURATION,
		OBJ_RESOURCE,
		OBJ_USER
	} type;
	void *p;
	size_t file;
	bool dropped;
	bool reported;         /* its errors are out: not checked again */
	struct raw_param *raw; /* a resource's, until settled */
	size_t nraw;
};

/*
 * A YAML document as libyaml's yaml_parser_load() makes it, composed by
 * yamldoc.c in memory kept from one document to the next; doc is what
 * the rest reads.
 */
struct yamldoc {
	yaml_document_t doc;
	size_t nodes_cap;
	struct yamldoc_block *blocks; /* the arena: text, children, anchors */
	struct yamldoc_open *open;    /* the collections not ended yet */
	size_t nopen, open_cap;
	int *kids; /* their children so far, innermost last */
	size_t nkids, kids_cap;
	struct yamldoc_anchor *anchors;
	size_t nanchors, anchors_cap;
};

struct job_loader {
	struct job_set *set;
	int64_t now;
	/* The file being parsed: index in set->files, or SIZE_MAX. */
	size_t file;
	/* Check that the files named are trusted (trust.h), for this uid:
	 * not for a buffer, which names no real files. */
	bool trust;
	uid_t self;
	struct trust_memo trust_memo; /* the last directory judged */
	yaml_document_t *doc; /* the document being parsed (parse.c) */
	struct yamldoc yaml;  /* where it lives */
	/* node.c's table of the keys of the document's large mappings, to
	 * find a key given twice without a scan per key: open addressing
	 * on (mapping, key); key NULL marks a mapping as indexed. */
	struct dup_key {
		const yaml_node_t *map;
		const char *key; /* the document's */
		size_t first;    /* index of its first pair */
	} * dups;
	size_t ndups, ndup_slots;
	bool *file_bad;       /* per file: has an error */
	struct object *objs;
	size_t nobjs;
	/* settle.c's find() index: open addressing on (type, name), each
	 * slot the first object of that name + 1; same_next chains the
	 * others in file order.  Objects are indexed lazily, up to
	 * nindexed. */
	size_t *slots, nslots, nindexed, *same_next, same_cap;
	/* Exact shortest gaps computed so far, by schedule text (open
	 * addressing; the text names the zone too). */
	struct gap_memo {
		const char *text;
		int64_t gap;
	} * gaps;
	size_t ngaps, gaps_cap;
};

/* FNV-1a of S, from SEED: the hash of every table of the loader. */
static inline size_t
jobs_hash(size_t seed, const char *s)
{
	size_t h = 14695981039346656037ULL ^ seed;

	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

/* The same of the N bytes at P. */
static inline size_t
jobs_hash_mem(size_t seed, const void *p, size_t n)
{
	const unsigned char *s = p;
	size_t h = 14695981039346656037ULL ^ seed;

	while (n-- > 0)
		h = (h ^ *s++) * 1099511628211ULL;
	return h;
}

/* Grow array V of *N elements by one zeroed element, doubling capacity at
 * powers of two. */
static inline void *
xgrow(void *v, size_t *n, size_t size)
{
	size_t cap = *n == 0 ? 0 : 1;

	while (cap != 0 && cap < *n)
		cap <<= 1;
	if (*n == cap) {
		size_t ncap = cap == 0 ? 4 : cap * 2;

		v = xreallocarray(v, ncap, size);
	}
	memset((char *)v + *n * size, 0, size);
	(*n)++;
	return v;
}

#define PUSH(arr, n) ((arr) = xgrow((arr), &(n), sizeof(*(arr))), &(arr)[(n)-1])

/* ---- jobs.c ---- */

/* The boolean settings, by name: where each lives in job_settings. */
struct job_bool_setting {
	const char *name;
	unsigned bit;
	size_t value, origin;
};

extern const struct job_bool_setting jobs_bool_settings[];
extern const size_t jobs_nbool_settings;
extern const char *const jobs_kind_names[];  /* by enum job_kind */
extern const char *const jobs_right_names[]; /* by JOB_RIGHT_* bit */

/*
 * Record an error at FILE:LINE:COLUMN (FILE an index in set->files, or
 * SIZE_MAX for one tied to no file), which marks the file bad.
 */
void jobs_error_at(struct job_loader *l, size_t file, int line, int column,
    const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/*
 * Whether PATH, named by key WHAT, is trusted (trust.h); when it is not,
 * the error is recorded at ORIGIN in the file being parsed as
 * "WHAT PATH: why" and false returned.  Always true for a buffer.
 */
bool jobs_trusted(struct job_loader *l, const struct job_origin *origin,
    size_t file, const char *what, const char *path);

void jobs_settings_free(struct job_settings *st);

/*
 * Fill in each field of ST that it does not set itself (ST->set) from the
 * first of CHAIN (most specific first) that sets it, else from the last.
 * Pointers are borrowed, not copied: a user's resolved settings are its
 * own values and a view of its chain.  ST->set is left as it was, so that
 * resolving again (settle.c repeats) gives the same answer.
 */
void jobs_inherit(
    struct job_settings *st, struct job_settings *const *chain, size_t n);

void jobs_format_duration(int64_t s, char *buf, size_t size);

void jobs_raw_params_free(struct object *o);

/* The protocols `protocol:` may name in this build, NULL-terminated,
 * and the same as text ("postgresql, script, test"). */
const char *const *jobs_protocol_names(void);
const char *jobs_protocol_list(void);

/* ---- node.c: typed values out of YAML nodes ---- */

/* An error at node N of the file being parsed. */
#define ERR(l, n, ...)                                                         \
	jobs_error_at((l), (l)->file, (int)(n)->start_mark.line + 1,           \
	    (int)(n)->start_mark.column + 1, __VA_ARGS__)

/* Iterate over a mapping's pairs: for (MAP_EACH(l, map, pair, k, v)) ... */
#define MAP_EACH(l, map, pair, k, v)                                           \
	yaml_node_pair_t *pair = (map)->data.mapping.pairs.start;              \
	pair < (map)->data.mapping.pairs.top &&                                \
	    ((k) = node_get((l), pair->key), (v) = node_get((l), pair->value), \
		1);                                                            \
	pair++

/* Where node N of the file being parsed was written. */
struct job_origin node_origin(struct job_loader *l, const yaml_node_t *n,
    enum job_level level, const char *owner);
yaml_node_t *node_get(struct job_loader *l, int index);
/* N's text, or NULL when it is not a scalar. */
const char *node_scalar(const yaml_node_t *n);
/* "a scalar", "a list", ... for messages. */
const char *node_type_name(const yaml_node_t *n);

/*
 * The typed readers: each returns 0 with the value in *ret, or records an
 * error at N and returns -EINVAL.  node_string() replaces (and frees) a
 * string already in *ret.
 */
int node_want(struct job_loader *l, const yaml_node_t *n, yaml_node_type_t type,
    const char *what);
int node_string(struct job_loader *l, const yaml_node_t *n, char **ret);
int node_bool(struct job_loader *l, const yaml_node_t *n, bool *ret);
int node_int(
    struct job_loader *l, const yaml_node_t *n, long min, long max, int *ret);
int node_duration(
    struct job_loader *l, const yaml_node_t *n, int64_t min, int64_t *ret);

/* The closest of NAMES (NULL-terminated) to S, if it is close enough. */
const char *node_did_you_mean(const char *s, const char *const *names);
/* Complain about key K in WHAT, suggesting the closest of NAMES. */
void node_unknown_key(struct job_loader *l, const yaml_node_t *k,
    const char *what, const char *const *names);
/* Complain about key K given twice in MAP (YAML forbids it, and libyaml
 * keeps both); true if it was. */
bool node_duplicate_key(struct job_loader *l, const yaml_node_t *map,
    const yaml_node_pair_t *upto, const yaml_node_t *k);
/* Forget what node.c keeps about the document: it is being freed. */
void node_done(struct job_loader *l);

/* ---- setting.c: the settings and scripts every level shares ---- */

struct schedule_error;
struct schedule_fields;

/* The names of the rotation settings, NULL-terminated. */
extern const char *const setting_names[];

/*
 * If key K names a rotation setting, parse V into ST, record where it came
 * from (LEVEL, OWNER), and return 1; return 0 for keys that are not
 * settings.
 */
int setting_parse(struct job_loader *l, yaml_node_t *k, yaml_node_t *v,
    struct job_settings *st, enum job_level level, const char *owner);

/*
 * The schedule written as F, parsed once per set and shared by every
 * setting written alike: 0 with ST's schedule, schedule_text and
 * schedule_gap set (the set's: never freed with ST), or schedule_new()'s
 * error with ERR filled in.
 */
int setting_schedule(struct job_set *set, const struct schedule_fields *f,
    struct job_settings *st, struct schedule_error *err);

/* Free the set's schedules. */
void setting_schedules_free(struct job_set *set);

/* One script: an absolute path, or {path, command}. */
int setting_parse_script(struct job_loader *l, yaml_node_t *e,
    struct job_script *s, enum job_level level, const char *owner);

/* A list of scripts, appended to SC. */
int setting_parse_scripts(struct job_loader *l, yaml_node_t *n,
    struct job_scripts *sc, enum job_level level, const char *owner);

/* ---- parse.c ---- */

/*
 * Read a whole file, refusing anything odd; errors are recorded against
 * the loader's current file.  0 with *ret (NUL-terminated) and *len, or
 * -errno.
 */
int parse_read_file(
    struct job_loader *l, const char *path, char **ret, size_t *len);

/* Parse rotad.yaml's TEXT into set->daemon; DIR is its directory (for a
 * relative conf_dir), or NULL. */
void parse_daemon_text(
    struct job_loader *l, const char *text, size_t len, const char *dir);

/* Parse one job file's TEXT into the loader's objects. */
void parse_job_text(struct job_loader *l, const char *text, size_t len);

/* ---- yamldoc.c ---- */

/*
 * Compose the next document of PARSER's stream into D, replacing what D
 * held, as yaml_parser_load() would: 1 (D holds no node at the end of the
 * stream), or 0 with the error in PARSER (problem, context and marks)
 * and D empty.
 */
int yamldoc_load(struct yamldoc *d, yaml_parser_t *parser);

/* Free D's memory; D is then empty, and may be loaded again. */
void yamldoc_free(struct yamldoc *d);

/* ---- sinkconf.c: rotad.yaml's events: ---- */

void sinkconf_parse(struct job_loader *l, yaml_node_t *v);
void sinkconf_free(struct job_events *ev);
void sinkconf_print(const struct job_events *ev, FILE *f);

/* ---- settle.c ---- */

/*
 * Check the objects across files, dropping the files with errors, until
 * no new file fails; each surviving user's settings are then resolved.
 */
void settle_run(struct job_loader *l);

/* Free what settle_run() built to find objects by name. */
void settle_done(struct job_loader *l);

#endif
