/*
 * daemon-internal: what the scheduler's files share, and nothing else.
 *
 * The daemon is one libuv loop over one struct daemon (see the big picture
 * at the top of daemon.c).  Its code is split by concern:
 *
 *   daemon.c   start and stop (daemon_main, signals, the stop deadline,
 *              recovery of unfinished runs)
 *   waiters.c  the connections waiting for runs to end (--wait)
 *   run.c      the runs: queue and limits, carrying out rotation.c's
 *              decisions (workers, store transactions, scripts, retries)
 *   fire.c     the schedule: the fire heap, the timerfd, fires
 *   users.c    the user and resource tables, by name
 *   reload.c   configuration generations, adopting one, reloading, ACLs
 *   metrics.c  the Prometheus text
 *   command.c  the control commands
 *
 * Not a module interface: only these files include it.  A function shared
 * between them carries the name of the file that defines it.
 */
#ifndef ROTAD_DAEMON_INTERNAL_H
#define ROTAD_DAEMON_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>
#include <time.h>

#include <jansson.h>
#include <uv.h>

#include "control.h"
#include "event.h"
#include "heap.h"
#include "jobs.h"
#include "rotation.h"
#include "store.h"

/* glibc's sys/queue.h lacks the _SAFE walks of the BSDs. */
#ifndef TAILQ_FOREACH_SAFE
#define TAILQ_FOREACH_SAFE(var, head, field, tvar)                             \
	for ((var) = TAILQ_FIRST((head));                                      \
	     (var) && ((tvar) = TAILQ_NEXT((var), field), 1); (var) = (tvar))
#endif
#ifndef LIST_FOREACH_SAFE
#define LIST_FOREACH_SAFE(var, head, field, tvar)                              \
	for ((var) = LIST_FIRST((head));                                       \
	     (var) && ((tvar) = LIST_NEXT((var), field), 1); (var) = (tvar))
#endif

#define STOP_DEADLINE_MS 30000
#define CLOCK_BACK_MAX (3 * 3600)
#define METRICS_PERIOD_MS 15000
/* A worker's extra argument strings (pairs and the NULL) a step may
 * have, the most a parked one keeps (batch.c). */
#define BATCH_EXTRA_MAX 8
#define RUNS_KEPT 64 /* finished runs kept in memory for `rotactl run` */

struct batch;
struct secret;
struct sinks;
struct spawn;
struct wire_response;
struct reload_load;
struct template;
struct workers;

/* A configuration generation, shared by the runs that started under it. */
struct gen {
	struct job_set *set;
	int refs;
	int number;
};

struct run;

/* Runtime state of a resource: how many runs it has going. */
struct rstate {
	char *name;
	int running;
};

/*
 * What a user's runs change.  A user that rotates both its password and
 * its SSH key has two credentials, each its own secret in the store (its
 * own versions, pending and history), its own runs and its own rollback
 * flag: the password under the user's name, the key under NAME/private_key
 * (a name no user can have: user names hold no '/').
 */
enum cred {
	CRED_PASSWORD,
	CRED_PRIVATE_KEY,
};
#define CRED_KEY_SUFFIX "/private_key"
/* The current key's passphrase, when the key an operator seeded has one:
 * a secret of the user, never rotated (new keys have none). */
#define CRED_PASSPHRASE_SUFFIX "/private_key_passphrase"

/* Runtime state of one credential of a user; survives reloads, matched by
 * name. */
struct ustate {
	char *name; /* the store's: NAME or NAME/private_key */
	enum cred cred;
	struct job_user *user; /* in the current generation; NULL: removed */
	/* During reload_adopt() only: the user in the generation before. */
	const struct job_user *was;
	struct heap_node node; /* next fire, when scheduled */
	int64_t last_fire;
	int64_t last_success;
	enum store_run_state last_outcome;
	char last_run[STORE_RUN_ID_LEN + 1];
	bool paused;
	struct run *run; /* at most one */
	int test_calls;  /* the test provider's calls so far */
	/* Until this instant (uv_now(), ms) an apply this user's runs
	 * started may still land on the target: the last apply worker's
	 * start plus its step's deadline, which bounds the provider's
	 * server-side work (rotation.h, struct rotation_env). */
	uint64_t apply_until;
	int recoveries; /* out-of-sync recoveries in a row, for the backoff */
};

/* What a run does: rotate the secret, or only log in with the current one. */
enum run_kind {
	RUN_ROTATE,
	RUN_VERIFY,
};

/* Where a run is in the daemon's queue, as opposed to its rotation step. */
enum run_phase {
	PHASE_QUEUED,
	PHASE_RUNNING,
	PHASE_RETRY_WAIT,
	PHASE_DONE,
};

/* Where a run found unfinished at start resumes (recover_one()); the
 * steps themselves are the engine's (rotation.h). */
enum step {
	STEP_START, /* not a recovered run: from the start */
	STEP_COMMIT,
	STEP_PROBE_PENDING,
};

/* The runs one `rotate --wait` waits for together (a user's password and
 * its key): one answer, once the last has ended, or at once for an error,
 * which takes every waiter of the group off its run (waiters.c). */
struct wait_group {
	int left;      /* waiters still attached */
	json_t *runs;  /* the ended runs, as run_json() */
	json_t *worst; /* the first of them that did not succeed, or NULL */
	LIST_HEAD(, waiter) members; /* those waiters */
};

/*
 * A control connection waiting for a run to end (`rotate --wait`).  It
 * lives only while its request is unanswered (the connection busy): the
 * answer frees it, and the group's other waiters with it, and a busy
 * connection that closes drops it (command_on_close()), so it never
 * outlives the connection nor writes under a later request's id.
 */
struct waiter {
	struct control_conn *conn;
	struct wait_group *group; /* NULL: the one run */
	LIST_ENTRY(waiter) link;  /* on its run's waiters */
	LIST_ENTRY(waiter) glink; /* on its group's members */
};

/*
 * One rotation or verification of one user: queued, running its steps one
 * worker at a time, waiting to retry, or done (kept a while for `rotactl
 * run`).  Owned by the daemon; freed in the close callback of its timer.
 */
struct run {
	struct daemon *d;
	enum run_kind kind;
	enum run_phase phase;
	struct rotation rot; /* the protocol's state: rotation.c decides */
	struct ustate *us;
	struct rstate *rs;
	struct gen *gen;
	struct job_user *user; /* in gen */
	int64_t fire;          /* the scheduled instant; 0 when triggered */
	int64_t version;       /* the pending secret's, or 0 */
	bool created;          /* the store has its row */
	/* Set by recover_one() for a run found unfinished: where it resumes
	 * and why recovery began, handed to the engine at its first start. */
	enum step resume;
	enum store_error_class fail_class;
	char fail_msg[STORE_MESSAGE_MAX + 1];
	struct spawn *sp;    /* the step's worker, while one runs */
	int pid;             /* its pid, for the record of live workers */
	bool abandoned;      /* the stop deadline passed while sp ran */
	bool scripts_failed; /* a post-rotation script failed */
	enum event_trigger trigger;      /* what started it, for its events */
	char alert_id[EVENT_ID_MAX + 1]; /* the SIEM alert's, or "" */
	bool generating;    /* its new key is being made (keygen.h) */
	bool requesting;    /* its step's request is being built (run.c) */
	bool scripted_fail; /* the test provider was told to fail */
	int outputs;        /* script outputs kept so far */
	const struct job_script *cur_script; /* the one a worker runs */
	/* The batch it runs in (batch.h), or NULL; while it waits there for
	 * a worker, that worker's provider, request and arguments. */
	struct batch *batch;
	struct secret *park_req;
	const char *park_provider;
	const char *park_extra[BATCH_EXTRA_MAX];
	bool park_apply;
	TAILQ_ENTRY(run) park;
	struct store_run rec;
	/* A verify's only: the rotation asked for while it ran, which
	 * starts when it ends (run_new()); not queued, not the user's run
	 * until then. */
	struct run *then;
	uv_timer_t timer;
	LIST_HEAD(, waiter) waiters;
	TAILQ_ENTRY(run) queue;
	TAILQ_ENTRY(run) done;
};

/* The store's read queues (struct daemon's readq). */
enum readq {
	READQ_RUNS,
	READQ_SINKS,
	READQ_CONTROL,
	READQ_COUNT
};

/* The daemon's whole state: one, on daemon_main()'s stack. */
struct daemon {
	uv_loop_t *loop;
	const char *config;
	struct gen *gen;
	int generations;
	struct store *store;
	/* The store's reads off the loop (storeq.h), a queue and a read
	 * connection each for the runs' worker requests, the sinks, and the
	 * control socket's listings: no operator's listing and no file
	 * sink's fsync() ever delays a rotation's request. */
	struct storeq *readq[READQ_COUNT];
	LIST_HEAD(, cmd_read) reads; /* control's, in flight (command.c) */
	struct control *control;
	struct control_acl acl;

	struct heap heap;
	int tfd;
	uv_poll_t tfd_poll;
	int64_t armed; /* the instant the timerfd is set for, 0: none */

	struct ustate **users; /* open-addressing hash by name */
	size_t users_cap, nusers;
	struct rstate **resources;
	size_t resources_cap, nresources;
	struct run **runs; /* the runs in memory, by id (users.c) */
	size_t runs_cap, nruns;

	TAILQ_HEAD(, run) queue;
	TAILQ_HEAD(, run) finished;
	int nqueued, nrunning, nfinished;
	/* run_dispatch_queue(): while a turn's share of fires is queued
	 * it waits for it; it starts RUN_DISPATCH_TURN runs a turn, and
	 * goes on from the idle handle, so that a burst leaves the socket
	 * and the schedule served between turns. */
	bool taking, dispatching, dispatch_again;
	uv_idle_t dispatch_idle;
	/* Fires taken but not yet queued (fire.c): queued FIRE_TURN_NS'
	 * worth a turn of the loop, the rest from fire_idle, so that
	 * 10,000 fires of one second do not hold the socket for the tens
	 * of milliseconds queueing them all takes. */
	struct taken *taken;
	size_t ntaken, taken_off, taken_cap;
	uv_idle_t fire_idle;
	uv_check_t turn_check; /* a turn of the loop ends: a new budget */
	uint64_t turn_t0;      /* uv_hrtime() of the turn's first start */
	int turn_started;

	/* Group commit (durable.c): the store's commits on disk up to
	 * durable_gen, its events up to durable_event; the flush running
	 * on libuv's pool covers flush_gen and flush_event. */
	uv_prepare_t durable_prepare;
	uv_work_t durable_work;
	uint64_t durable_gen, flush_gen, flushes;
	int64_t durable_event, flush_event;
	int flush_rc;
	bool flushing, durable_stop_wait, durable_stopped;

	/* The reload whose job files are being parsed on libuv's pool, or
	 * NULL; the control connections waiting for the next one, and
	 * whether one was asked (reload.c). */
	struct reload_load *reloading;
	LIST_HEAD(reload_waiters, reload_waiter) reload_next; /* its tag: reload.c */
	bool reload_again;
	/* The paused credentials of the generation in force (status):
	 * counted at each adoption, kept by pause and resume. */
	size_t npaused;

	struct workers *workers; /* the live workers' record, on disk */
	struct template *tmpl;   /* the worker template (template.h) */

	uv_signal_t sighup, sigterm, sigint;
	uv_timer_t stop_timer, watchdog, metrics_timer;
	bool stopping;
	int exit_status;
	int64_t started;
	/* A file the daemon runs code of that was replaced on disk since it
	 * started ("" while none is known), looked for by `status` once a
	 * second at most (command.c). */
	char replaced[512];
	int64_t replaced_checked;

	/* events (emit.c) */
	char hostname[256];
	LIST_HEAD(, follower) followers;
	uint64_t events_spooled, events_dropped;
	struct sinks *sinks; /* the local sinks (sinks.h), or NULL */
	bool in_tx; /* an event is spooled inside a caller's transaction */
	/* What the followers get once that transaction commits (emit.c). */
	struct held_event *held;
	size_t nheld;
	/* While a trigger from a SIEM makes its runs: the alert's id, which
	 * run_alloc() gives each new run (command.c). */
	const char *alert_id;

	/* metrics */
	uint64_t runs_committed, runs_failed, runs_verified, retries, fires,
	    misfires, coalesced;
	uint64_t batches, batched; /* batches started, and their runs */
};

/* The wall clock, in seconds: what the schedule and the store count in. */
static inline int64_t
now_s(void)
{
	return (int64_t)time(NULL);
}

/* ---- run.c ---- */

/* A new run for US, not yet queued: the user's one run from now on. */
struct run *run_alloc(
    struct daemon *d, struct ustate *us, enum run_kind kind, int64_t fire);
/* The close callback of a run's timer: where a run is freed. */
void run_closed(uv_handle_t *h);
/* The daemon stops while R waits to retry: end R as the engine says. */
void run_stop_waiting(struct run *r);
/* An apply of US's may land until DEADLINE_MS from now: one starts, or
 * (at start) the previous life's may have started until now. */
void run_apply_bound(struct daemon *d, struct ustate *us, uint64_t deadline_ms);

/*
 * Start the worker of R's step (or a batch's, N > 1 requests with ARGS
 * for CB, R the first): PROVIDER, the encoded REQUEST (owned, freed in
 * any case) and EXTRA argument pairs (NULL-terminated).  0 with *RET, or
 * -errno (uv_spawn's) when none could start.
 */
int run_spawn(struct run *r, const char *provider, struct secret *request,
    const char *const *extra, size_t n, void *const *args,
    void (*cb)(int, const struct wire_response *, int, void *),
    struct spawn **ret);
/* The answer of R's step's worker (spawn.h's callback). */
void run_step_done(
    int status, const struct wire_response *res, int exit_code, void *arg);
/* R's batch could not start its step's worker (RC): nothing reached the
 * target. */
void run_step_unstarted(struct run *r, int rc);

/* Make a run for US, or join the one it has (*RET_COALESCED): a rotation
 * joins a rotation only, and waits for a verify to end.  FIRE is the
 * scheduled instant, 0 for a trigger. */
struct run *run_new(struct daemon *d, struct ustate *us, enum run_kind kind,
    int64_t fire, bool *ret_coalesced);
/* Start the queued runs that have a worker slot. */
/* Runs started a turn of the loop at most, and the time a turn may spend
 * starting them (run_dispatch_queue()). */
#define RUN_DISPATCH_TURN 32
#define RUN_DISPATCH_TURN_NS (2 * 1000 * 1000)
#define FIRE_TURN_NS (2 * 1000 * 1000)
void run_dispatch_queue(struct daemon *d);
/* The check handle's callback: the loop has polled, a turn ends. */
void run_turn_end(uv_check_t *h);
const char *run_kind_name(enum run_kind k);
/* A stored run's state as shown: a committed verify run is "verified". */
const char *run_state_shown(const char *kind, enum store_run_state state);
/* A run in memory's state as shown: its phase, or its stored state. */
const char *run_phase_name(const struct run *r);
/* A run as the control protocol shows it. */
json_t *run_json(
    const struct store_run *rec, const char *kind, const char *state);

/* ---- waiters.c ---- */

/* A group for N runs' waiters, or NULL when N is 1 (no group). */
struct wait_group *waiters_group(size_t n);
/* C waits for R to end, in group G (NULL: alone). */
void waiters_add(struct run *r, struct control_conn *c, struct wait_group *g);
/* W's run has ended as RUN (run_json(), taken): answer W's connection,
 * or W's group once its last run has ended.  Frees W. */
void waiters_done(struct waiter *w, json_t *run);
/* W's run will not end while W waits (the daemon stops): answer the error
 * MSG.  Frees W, and W's group: its other waiters are taken off their
 * runs, whose ends nobody waits for any more. */
void waiters_error(struct waiter *w, const char *msg);
/* W's connection is gone: no answer.  Frees W. */
void waiters_drop(struct waiter *w);

/* ---- daemon.c: start and stop ---- */

/* Once stopping and no run is left: close every handle so the loop ends. */
void daemon_maybe_finish_stop(struct daemon *d);

/* Queue runs the store says did not finish (at start, before fires). */
void daemon_recover_unfinished(struct daemon *d);

/* A reload adopted SET: a new worker template, of SET's worker binary
 * (template.h). */
void daemon_template_reload(struct daemon *d, const struct job_set *set);

/* ---- users.c ---- */

/* The state of user NAME, or NULL if it was never loaded. */
struct ustate *users_find(struct daemon *d, const char *name);
/* The state of user NAME, made if it has none yet. */
struct ustate *users_get(struct daemon *d, const char *name);
/* The state of U's credential C, made if it has none yet (its name is
 * U's, or U's with CRED_KEY_SUFFIX). */
struct ustate *users_cred(
    struct daemon *d, const struct job_user *u, enum cred c);
/* The state of resource NAME, made if it has none yet. */
struct rstate *users_resource(struct daemon *d, const char *name);
/* R, whose id is set, is in memory from now on / freed (run_closed()). */
void users_run_add(struct daemon *d, struct run *r);
void users_run_remove(struct daemon *d, struct run *r);
/* The run in memory (live, or among the last finished) whose id is ID,
 * or NULL. */
struct run *users_run_find(struct daemon *d, const char *id);
/* Free the tables (at exit; no run may be left). */
void users_free(struct daemon *d);

/* ---- fire.c ---- */

/* Whether US has fires at all: a managed user that rotates this
 * credential. */
bool fire_schedulable(const struct ustate *us);
/* Whether U rotates credential C (its rotate: setting and, for the key,
 * private_key_rotate). */
bool fire_rotates(const struct job_user *u, enum cred c);
/* Put US at its next fire after AFTER, or out of the heap if none. */
void fire_reschedule(struct daemon *d, struct ustate *us, int64_t after);
/* US's next fire instant, 0: none. */
int64_t fire_next(const struct ustate *us);
/* Store US's schedule state (a fire taken but not started stays due;
 * a pause is kept).  0, or -errno after logging it. */
int fire_persist(struct daemon *d, struct ustate *us);
/* Set the timerfd for the earliest fire. */
void fire_arm(struct daemon *d);
/* Take every fire now due, then re-arm; queue them, FIRE_TURN_NS' worth
 * a turn of the loop. */
void fire_process_due(struct daemon *d);
/* Queue every fire taken and not yet queued, now: before a reload
 * changes the users they belong to. */
void fire_queue_all(struct daemon *d);
/* The timerfd's poll callback: fires due, or the clock was set. */
void fire_on_timerfd(uv_poll_t *p, int status, int events);

/* ---- reload.c ---- */

/* Drop a reference to generation G; the last frees its job set. */
void reload_gen_put(struct gen *g);
/* The same while the loop runs: the last frees the job set on libuv's
 * pool (100k users' set: about 0.1 s), unless the daemon is stopping. */
void reload_gen_drop(struct daemon *d, struct gen *g);
/* Make SET (owned from now) the current generation; AT_START: the first,
 * read the stored schedule and recover unfinished runs. */
void reload_adopt(struct daemon *d, struct job_set *set, bool at_start);
/*
 * Load the configuration again (SIGHUP, `rotactl reload`: C, or NULL for
 * none to answer) and adopt it if it has no error.  The job files are
 * parsed on libuv's pool, the loop going on meanwhile; what was loaded
 * is checked and adopted on the loop, and C answered then ({"generation"}
 * or the error `invalid` with the errors).  Asked while a load runs, the
 * reload is the next load's, which starts when that one is done: one load
 * for every request made while it ran, each answered by a load that began
 * after it was made.
 */
void reload_request(struct daemon *d, struct control_conn *c);
/* C closed: its reloads go on, unanswered. */
void reload_forget(struct daemon *d, struct control_conn *c);
/* The job files SET left out for errors, one at a time: the first error
 * of the next such file after *I (start at 0), or NULL when there is none
 * left.  While any is left out, the daemon is degraded. */
/* Raise job_file_skipped for each file SET left out (at start, once the
 * store is open). */
void reload_skipped_events(struct daemon *d, const struct job_set *set);
const struct job_error *reload_next_skipped(
    const struct job_set *set, size_t *i);

/* ---- metrics.c ---- */

/* The Prometheus text exposition, malloc'd; NULL when out of memory. */
char *metrics_text(struct daemon *d);
/* The metrics timer's callback: write the textfile, if one is set. */
void metrics_write(uv_timer_t *t);

/* ---- command.c ---- */

/* T as ISO 8601 in UTC, or JSON null for 0. */
json_t *command_json_time(int64_t t);
/* The control module's callbacks (struct control_config). */
void command_dispatch(
    void *arg, struct control_conn *c, const char *cmd, json_t *req);
void command_on_close(void *arg, struct control_conn *c);
void command_on_denied(void *arg, uid_t uid, pid_t pid, const char *cmd);

#endif
