/*
 * jobs: the job model, loaded from rotad.yaml and conf.d/NAME.yaml.
 *
 * The model is Keeper's: configurations (PAM Configuration), resources (PAM
 * Machine / Database / Directory) and users (PAM User).  Every setting that
 * a user inherits is resolved at load time, user -> resource ->
 * configuration -> rotad.yaml defaults -> built-in default, and remembers
 * where its value came from, so `rotad -nv` can show it.
 *
 * Loading never stops at the first problem: every error is collected as
 * file:line:column: message.  A job file with any error is left out whole
 * (and so is any file that refers to what it defined), the others load.
 */
#ifndef ROTAD_JOBS_H
#define ROTAD_JOBS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "policy.h"

struct catalog_key;
struct catalog_provider;
struct schedule;

/* Which level of the inheritance chain a value came from. */
enum job_level {
	JOB_LEVEL_BUILTIN,
	JOB_LEVEL_DAEMON, /* defaults: in rotad.yaml */
	JOB_LEVEL_CONFIGURATION,
	JOB_LEVEL_RESOURCE,
	JOB_LEVEL_USER,
};

/* Where a value was written; file NULL means a built-in default. */
struct job_origin {
	const char *file; /* owned by the job set */
	int line, column;
	enum job_level level;
	const char *owner; /* the configuration or resource, by name */
};

enum job_kind {
	JOB_MACHINE,
	JOB_DATABASE,
	JOB_DIRECTORY,
	JOB_CLOUD, /* AWS IAM */
	JOB_API,   /* REST APIs */
};

/* What a rotation changes (a bit set). */
enum {
	JOB_ROTATE_PASSWORD = 1 << 0,
	JOB_ROTATE_PRIVATE_KEY = 1 << 1,
};

enum job_misfire {
	JOB_MISFIRE_RUN_ONCE,
	JOB_MISFIRE_SKIP,
};

struct job_retry {
	int attempts;    /* tries per cycle, first included */
	int64_t initial; /* seconds before the first retry */
	int64_t max;     /* cap of the exponential backoff, seconds */
};

/* A post-rotation script: PATH run by COMMAND (the interpreter). */
struct job_script {
	char *path;
	char *command; /* NULL: run PATH directly */
	struct job_origin origin;
};

struct job_scripts {
	struct job_script *v;
	size_t n;
};

/* One inheritable setting's value and where it came from. */
#define JOB_SETTING(type, name)                                                \
	type name;                                                             \
	struct job_origin name##_origin

/*
 * The rotation settings.  A configuration, a resource and a user each hold
 * a (partial) set; a user's resolved set has every field filled in.
 */
struct job_settings {
	/* The set's, shared by every setting whose schedule is written
	 * alike (see schedule_text); never freed with the settings. */
	JOB_SETTING(struct schedule *, schedule);
	JOB_SETTING(struct policy *, complexity);
	JOB_SETTING(unsigned, rotate);
	JOB_SETTING(struct job_retry, retry);
	JOB_SETTING(enum job_misfire, misfire);
	JOB_SETTING(int64_t, timeout);
	JOB_SETTING(char *, private_key_type);
	JOB_SETTING(bool, private_key_rotate);
	JOB_SETTING(bool, rollback_on_password_fail);
	JOB_SETTING(bool, rollback_on_private_key_fail);
	JOB_SETTING(bool, rollback_on_post_rotation_fail);
	JOB_SETTING(bool, rerun_on_post_rotation_fail);
	/* Which fields were given (JOB_SET_* bits), for inheritance. */
	unsigned set;
	/* The schedule as written, for display, and the shortest gap
	 * between its fires (checked against min_interval); the text is
	 * the set's, like the schedule. */
	char *schedule_text;
	int64_t schedule_gap;
};

enum {
	JOB_SET_SCHEDULE = 1 << 0,
	JOB_SET_COMPLEXITY = 1 << 1,
	JOB_SET_ROTATE = 1 << 2,
	JOB_SET_RETRY = 1 << 3,
	JOB_SET_MISFIRE = 1 << 4,
	JOB_SET_TIMEOUT = 1 << 5,
	JOB_SET_PRIVATE_KEY_TYPE = 1 << 6,
	JOB_SET_PRIVATE_KEY_ROTATE = 1 << 7,
	JOB_SET_ROLLBACK_PASSWORD = 1 << 8,
	JOB_SET_ROLLBACK_PRIVATE_KEY = 1 << 9,
	JOB_SET_ROLLBACK_POST_ROTATION = 1 << 10,
	JOB_SET_RERUN_POST_ROTATION = 1 << 11,
};

struct job_port {
	int port;
	char *protocol;
};

struct job_configuration {
	char *name;
	struct job_origin origin;
	struct job_settings settings;
	struct job_port *ports; /* additions to the port map */
	size_t nports;
	struct job_scripts scripts;
};

/*
 * One of the keys a resource's provider takes besides the common ones
 * (catalog.h), checked against its descriptor.
 */
struct job_param {
	const struct catalog_key *key;
	char *value; /* as written; a CATALOG_SCRIPT key's script path */
	struct job_origin origin;
	/* CATALOG_SCRIPT: the script, path borrowed from VALUE; command
	 * NULL unless written as {path, command}. */
	struct job_script script;
};

/* A resource's batch: (job_resource.batch). */
#define JOB_BATCH_DEFAULT 16
#define JOB_BATCH_MAX 64

struct job_resource {
	char *name;
	struct job_origin origin;
	enum job_kind kind;
	char *host;
	int port; /* resolved: the protocol's default if not given */
	/* As written, or from the port map (origin: the configuration or
	 * the built-in map, with no file). */
	JOB_SETTING(char *, protocol);
	const struct catalog_provider *provider; /* resolved */
	int default_port; /* the protocol's, from the catalog; 0: none */
	/* tls: (used by providers with CATALOG_CAP_TLS).  NULL: verify
	 * against the system's bundle, CATALOG_SYSTEM_CA_FILE. */
	char *tls_ca_file;
	bool tls_verify;  /* false: TLS, the server unchecked (warned) */
	bool tls_enabled; /* false: no TLS at all (warned) */
	/* Where verify: false or enabled: false was written. */
	struct job_origin tls_origin;
	char *admin_user;   /* name of the user holding the admin credential */
	int max_concurrent; /* resolved: the kind's default if not given */
	/* Runs one worker takes at once (CATALOG_CAP_BATCH): resolved, 1
	 * for a provider that cannot batch, JOB_BATCH_DEFAULT if not
	 * given; at most JOB_BATCH_MAX (proto/wire.h's WIRE_BATCH_MAX). */
	int batch;
	/* The provider's own keys, in the order written. */
	struct job_param *params;
	size_t nparams;
	char *configuration_name;
	struct job_configuration *configuration; /* resolved, may be NULL */
	struct job_settings settings;
	struct job_scripts scripts;
};

struct job_user {
	char *name;
	struct job_origin origin;
	char *login;
	char *dn;
	bool managed;
	bool noop; /* scripts only: nothing changed on a target */
	char *resource_name;
	char *configuration_name;
	struct job_resource *resource;           /* resolved */
	struct job_configuration *configuration; /* resolved, may be NULL */
	char *password_file;
	char *private_key_file;
	/* Parsed into as written (settings.set: the fields the user gave),
	 * then resolved in place: every other field filled in, borrowing
	 * from the chain.  The user owns the fields whose origin is
	 * JOB_LEVEL_USER. */
	struct job_settings settings;
	struct job_scripts scripts;
};

/* Rights on the control socket (control.acl). */
enum {
	JOB_RIGHT_READ = 1 << 0,
	JOB_RIGHT_TRIGGER = 1 << 1,
	JOB_RIGHT_SECRETS = 1 << 2,
	JOB_RIGHT_ADMIN = 1 << 3,
};

/* One control.acl entry: a user or a group (by name or number). */
struct job_acl {
	bool is_group;
	unsigned id; /* uid or gid */
	char *name;  /* as written, for -nv; NULL when given by number */
	unsigned rights;
};

/* The user workers run as unless worker.user says: one of their own,
 * never root and never the daemon's (scheduler/worker_user.h checks). */
#define JOB_WORKER_USER_DEFAULT "rotad-worker"

/*
 * events: in rotad.yaml, the spool's bound and the local sinks.  Kept as
 * written (strings, each with where it was written): jobs/ does not
 * include events/, so the scheduler (scheduler/sinks.h) turns a sink into
 * formats and filters, and checks the names of formats, facilities,
 * severities and events against events/'s tables.  What needs no table is
 * checked here: the keys, a sink's name (unique, [a-z0-9_-]), its type
 * and the key its type needs, and that paths are absolute.
 */
#define JOB_SPOOL_MAX_DEFAULT 100000

enum job_sink_type {
	JOB_SINK_SYSLOG, /* a local datagram socket */
	JOB_SINK_FILE,   /* lines appended to a file */
	/* The network sinks, delivered by rotad-deliver: */
	JOB_SINK_UDP,  /* remote syslog, a datagram per event */
	JOB_SINK_TCP,  /* remote syslog, RFC 6587 octet counting */
	JOB_SINK_TLS,  /* the same over TLS (RFC 5425) */
	JOB_SINK_HTTP, /* HTTP(S) POST: Splunk HEC, a webhook, a chat */
};

/* A network sink's timeout's default, seconds (connect, write, request). */
#define JOB_SINK_TIMEOUT_DEFAULT 10

struct job_sink {
	char *name;
	enum job_sink_type type;
	char *socket;       /* syslog; NULL: JOB_SINK_SOCKET_DEFAULT */
	char *path;         /* file: absolute */
	char *format;       /* NULL: rfc5424 for syslog, json for a file */
	char *facility;     /* NULL: authpriv */
	char *sd_id;        /* NULL: the formatter's (rotad@32473) */
	char *min_severity; /* filter; NULL: every severity */
	char **events;      /* filter: event names; none: every name */
	size_t nevents;
	char **users; /* filter: user names; none: any user, or none */
	size_t nusers;
	/* Network sinks (udp, tcp, tls: host and port; http: url).  The
	 * files are absolute and trusted; tls and https take ca_file (NULL:
	 * the system's CAs), cert_file and key_file (both or neither);
	 * server_name (tls; NULL: host); token_file (http: Authorization);
	 * template (http, format slack). */
	char *host;
	int port;
	char *url;
	char *ca_file, *cert_file, *key_file, *server_name, *token_file;
	char *template;
	int timeout; /* seconds, JOB_SINK_TIMEOUT_DEFAULT */
	struct job_origin origin; /* the sink's entry */
	struct job_origin format_origin, facility_origin, sd_id_origin,
	    min_severity_origin;
	struct job_origin *events_origin; /* one per events[] */
};

#define JOB_SINK_SOCKET_DEFAULT "/dev/log"
/* ... and format journal's: journald's native socket. */
#define JOB_SINK_JOURNAL_SOCKET "/run/systemd/journal/socket"

struct job_events {
	int64_t spool_max; /* events the spool keeps at most */
	/* rotad-deliver, which network sinks need; NULL: the installed one
	 * (ROTAD_LIBEXECDIR).  Trusted like worker.path. */
	char *delivery_path;
	struct job_origin delivery_path_origin;
	struct job_sink *sinks;
	size_t nsinks;
};

/* Daemon settings from rotad.yaml. */
struct job_daemon {
	char *config_file;
	char *conf_dir;
	char *store_path;
	char *key_file; /* NULL: $CREDENTIALS_DIRECTORY or the default */
	int64_t min_interval;
	int max_workers;
	char *socket_path;
	char *socket_group; /* NULL: the daemon's own group */
	struct job_acl *acl;
	size_t nacl;
	char *metrics_textfile; /* NULL: not written */
	char *worker_path;      /* NULL: the installed rotad-worker */
	char *worker_user;      /* NULL: JOB_WORKER_USER_DEFAULT */
	struct job_settings defaults;
	struct job_events events;
	/* Where the settings `rotad -n` checks against the host were
	 * written (file NULL: not written, the default applies), so that
	 * its messages point at the key to fix. */
	struct job_origin conf_dir_origin, store_path_origin, key_file_origin,
	    worker_path_origin, worker_user_origin;
};

struct job_error {
	char *file; /* NULL for errors not tied to a file */
	int line, column;
	char *message;
	size_t order, seq; /* for sorting: file order, then as found */
};

struct job_set {
	struct job_daemon daemon;
	struct job_configuration **configurations;
	size_t nconfigurations;
	struct job_resource **resources;
	size_t nresources;
	struct job_user **users;
	size_t nusers;
	struct job_error *errors;
	size_t nerrors;
	/* What loads but is unsafe (a resource's TLS turned off), in the
	 * same form; they fail nothing. */
	struct job_error *warnings;
	size_t nwarnings;
	char **files; /* interned file names, for origins */
	size_t nfiles;
	size_t nfiles_loaded;  /* job files that loaded */
	size_t nfiles_skipped; /* job files left out for errors */
	/* Private to the loader. */
	struct job_loader *loader;
	struct job_schedules *schedules; /* every schedule, parsed once */
};

/*
 * Load rotad.yaml at PATH and every *.yaml in its conf_dir (sorted by
 * name).  NOW is the instant used to check schedules against
 * min_interval.  Returns 0 with a job set in *ret even when files had
 * errors (see ret->errors): -EINVAL only when rotad.yaml itself is broken,
 * or it, its conf_dir or the worker binary is not trusted (trust.h; the
 * set then holds its errors and nothing else).  A job file that is not
 * trusted is left out like a broken one.  Allocation failure
 * ends the process (common/xalloc.h).  The caller frees the set with
 * jobs_free().
 */
int jobs_load(const char *path, int64_t now, struct job_set **ret);

/*
 * Load one job file's text as if it were conf.d/NAME under the built-in
 * daemon settings.  For the fuzzer and tests.
 */
int jobs_load_buffer(const char *name, const char *text, size_t len,
    int64_t now, struct job_set **ret);

/*
 * Parse TEXT as rotad.yaml alone: no job file, nothing it names opened
 * or checked for trust.  0, or -EINVAL with its errors in the set.  For
 * the fuzzer and tests.
 */
int jobs_load_daemon_buffer(
    const char *text, size_t len, int64_t now, struct job_set **ret);

void jobs_free(struct job_set *set);

/* Print each error as "file:line:column: message". */
void jobs_print_errors(const struct job_set *set, FILE *f);

/* Print each warning as "file:line:column: warning: message". */
void jobs_print_warnings(const struct job_set *set, FILE *f);

/*
 * Print the normalised, resolved model: stable and diffable, every
 * inherited value with its origin.  Paths are printed as loaded.
 */
void jobs_print(const struct job_set *set, FILE *f);

struct job_user *jobs_find_user(const struct job_set *set, const char *name);

/* Resource R's parameter NAME (a key of its provider), or NULL when it
 * was not given. */
const struct job_param *jobs_param(
    const struct job_resource *r, const char *name);

/* Its value as written, or NULL. */
const char *jobs_param_value(const struct job_resource *r, const char *name);

/* A CATALOG_INT or CATALOG_DURATION parameter's value (seconds for a
 * duration), or DEF when it was not given. */
int64_t jobs_param_int(
    const struct job_resource *r, const char *name, int64_t def);

/* A CATALOG_SCRIPT parameter's script, or NULL; it lives as long as the
 * set. */
const struct job_script *jobs_param_script(
    const struct job_resource *r, const char *name);

const char *jobs_kind_name(enum job_kind kind);

/*
 * The keys every resource takes whatever its provider, NULL-terminated.
 * A provider's own keys (catalog.h) come on top and never reuse these.
 */
extern const char *const jobs_resource_keys[];

#endif
