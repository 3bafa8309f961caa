/*
 * rotation: the rotation protocol as a pure state machine.
 *
 * The engine decides; the daemon acts.  Each call takes what just
 * happened (a step's delay passed, an operation's result came back) and
 * fills a short list of actions for the daemon to carry out in order:
 * persist a state, start a worker, run a store operation or a script,
 * retry, finish, log an event.  The engine holds no loop, no store, no
 * worker and no clock, and never logs, so that every transition can be
 * unit tested by feeding it results (tests/unit/test_rotation.c).
 *
 * The table of states and transitions is in rotation.c.
 */
#ifndef ROTAD_ROTATION_H
#define ROTAD_ROTATION_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Bytes in a message, NUL excluded: an action's carries a worker's
 * message whole (the daemon logs it); a run's record keeps at most
 * ROTATION_RECORD_MAX, and so does a failure carried from step to step.
 */
#define ROTATION_MESSAGE_MAX 1023
#define ROTATION_RECORD_MAX 255
#define ROTATION_ACTIONS_MAX 4 /* actions one call may ask for */

/* Where a run is.  The values name the steps in logs and fault hooks. */
enum rotation_step {
	ROTATION_START, /* prepare, or for a verify run apply */
	ROTATION_PREPARE,
	ROTATION_APPLY,
	ROTATION_VERIFY,
	ROTATION_COMMIT,
	ROTATION_PROBE_PENDING,
	ROTATION_PROBE_CURRENT,
	ROTATION_RECONCILE,
	ROTATION_RECONCILE_VERIFY,
	ROTATION_SCRIPTS, /* post-rotation scripts, after the commit */
	ROTATION_UNDO,    /* rollback_on_post_rotation_fail: old back */
	ROTATION_UNDO_VERIFY,
	ROTATION_UNDO_KEEP, /* the undo failed: does the new one work? */
};

/* How an operation went; the daemon maps the store's and the wire's. */
enum rotation_class {
	ROTATION_OK,
	ROTATION_TRANSIENT, /* retry later */
	ROTATION_AUTH,      /* a credential was refused */
	ROTATION_POLICY,    /* the target refused the new secret */
	ROTATION_FATAL,     /* retrying will not help */
	/*
	 * Transient, and the provider knows the target was not changed
	 * (the statement was refused by the server, or never sent): an
	 * apply that failed so is sure, not uncertain.  Elsewhere it is
	 * TRANSIENT.
	 */
	ROTATION_UNTOUCHED,
};

/* The persisted state of a run (the daemon maps it to the store's). */
enum rotation_state {
	ROTATION_PREPARED,
	ROTATION_APPLIED,
	ROTATION_VERIFIED,
	ROTATION_COMMITTED,
	ROTATION_FAILED,
	ROTATION_OUT_OF_SYNC,
};

/* What a worker does with the candidate. */
enum rotation_op {
	ROTATION_OP_APPLY,  /* set it on the target */
	ROTATION_OP_VERIFY, /* log in with it */
};

/* Which stored secret a worker is handed. */
enum rotation_cand {
	ROTATION_CAND_PENDING,
	ROTATION_CAND_CURRENT,
	ROTATION_CAND_PREVIOUS, /* rolling a committed rotation back */
};

/*
 * The store operations the engine asks for.  Each answers with
 * rotation_result(): ROTATION_OK, or for ADOPT and HAS_CURRENT any other
 * class meaning "there is none", for the others a failure with a message.
 */
enum rotation_store {
	ROTATION_STORE_NONE,
	ROTATION_STORE_ADOPT,       /* make an earlier pending secret ours */
	ROTATION_STORE_PREPARE,     /* a new secret, stored pending */
	ROTATION_STORE_COMMIT,      /* pending -> current -> previous */
	ROTATION_STORE_HAS_CURRENT, /* is there a current secret? */
	ROTATION_STORE_UNDO_COMMIT, /* previous becomes current again */
};

/* The events the daemon logs for the engine. */
enum rotation_event {
	ROTATION_EV_ADOPTED,       /* a pending secret from an earlier run */
	ROTATION_EV_PENDING_WORKS, /* recovery: the new one logs in */
	ROTATION_EV_CURRENT_WORKS, /* recovery: the old one still does */
	ROTATION_EV_ROLLED_BACK,   /* rollback_on_password_fail took */
	ROTATION_EV_OUT_OF_SYNC,   /* neither logs in; msg says why */
	ROTATION_EV_SCRIPT_OK,     /* script `script` succeeded */
	ROTATION_EV_SCRIPT_FAILED, /* script `script` failed with msg */
	ROTATION_EV_UNDONE,        /* the previous secret is back */
	ROTATION_EV_MAY_LAND,      /* recovery waits: an apply may land */
	ROTATION_EV_UNEXPECTED,    /* a result in a step that has none */
};

enum rotation_act {
	/* Log EVENT (with SCRIPT, MSG). */
	ROTATION_ACT_LOG,
	/* Persist STATE with MSG (the run row, and notify waiters). */
	ROTATION_ACT_PERSIST,
	/* Create the run row in STATE with MSG, unless it exists. */
	ROTATION_ACT_RECORD,
	/* STEP is persisted: the point where a crash test may kill. */
	ROTATION_ACT_BOUNDARY,
	/* Go on to STEP after the step's delay; then rotation_enter(). */
	ROTATION_ACT_NEXT,
	/* Drop the pending secret: the target did not take it. */
	ROTATION_ACT_DISCARD,
	/* Start a worker: OP with CAND.  Its outcome: rotation_result(). */
	ROTATION_ACT_WORKER,
	/* Run post-rotation script number SCRIPT; rotation_result(). */
	ROTATION_ACT_SCRIPT,
	/* Carry out STORE; its outcome: rotation_result(). */
	ROTATION_ACT_STORE,
	/*
	 * Wait, then start attempt ATTEMPT (already counted): after
	 * backoff_delay(..., ATTEMPT - 1, ...) when BACKOFF, else at once.
	 * RECOVERY: the attempt starts again with recovery, OOS telling
	 * whether neither secret logged in, WAITING whether one did but an
	 * apply that may still land keeps recovery from concluding.  CLASS
	 * and MSG say why.
	 */
	ROTATION_ACT_RETRY,
	/* The run ends in STATE with CLASS and MSG. */
	ROTATION_ACT_FINISH,
};

struct rotation_action {
	enum rotation_act act;
	enum rotation_step step;
	enum rotation_state state;
	enum rotation_class class;
	enum rotation_op op;
	enum rotation_cand cand;
	enum rotation_store store;
	enum rotation_event event;
	size_t script;
	int attempt;
	bool backoff, recovery, oos, waiting;
	char msg[ROTATION_MESSAGE_MAX + 1];
};

/*
 * The actions of one call, to be carried out in order.  An action that
 * answers (WORKER, SCRIPT, STORE) is always the last one, and so is
 * RETRY or FINISH.
 */
struct rotation_actions {
	struct rotation_action v[ROTATION_ACTIONS_MAX];
	size_t n;
};

/* What the engine knows of the target's provider. */
struct rotation_caps {
	bool has_admin; /* the resource has an admin credential */
	/* The provider can set a secret neither candidate logs in with,
	 * without an admin credential. */
	bool reconcile_without_admin;
	bool noop; /* no target at all: only the store and scripts */
};

/* The user's settings that steer the protocol. */
struct rotation_flags {
	bool rollback_on_password_fail;
	bool rollback_on_post_rotation_fail;
	bool rerun_on_post_rotation_fail;
	int attempts;   /* retry.attempts */
	size_t scripts; /* post-rotation scripts in the user's chain */
};

/*
 * What the daemon tells the engine with each call: facts of the process
 * world the engine cannot see.
 */
struct rotation_env {
	bool stopping; /* the daemon is stopping: nothing is retried */
	/*
	 * No apply this user's runs started (in this life of the daemon or
	 * the last) can still land on the target: every apply worker has
	 * been reaped (or, from a previous life, ended at start), and the
	 * provider's bound on its server-side work, the step's deadline, has
	 * passed since the last one started.  Until then a candidate whose
	 * apply is uncertain is never dropped (see rotation.c).
	 */
	bool appliers_gone;
};

/* A run's protocol state; plain data, owned by the run. */
struct rotation {
	struct rotation_caps caps;
	struct rotation_flags flags;
	bool verify_only;        /* a verify run: log in with the current one */
	enum rotation_step step; /* the step in progress */
	enum rotation_step resume;       /* where the next attempt starts */
	enum rotation_store store;       /* the store operation awaited */
	int attempt;                     /* from 1 */
	enum rotation_class retry_class; /* why the run waits to retry */
	bool reconciled, regenerated;    /* auth, policy: once each */
	bool has_current;                /* the user has a current secret */
	bool rolled_back;                /* recovery sets the old secret back */
	bool undone;                     /* rolled back after a failed script */
	/*
	 * The run sets, or has set, the previous secret back after its
	 * commit (rollback_on_post_rotation_fail): its candidates are the
	 * previous secret and the current one, and its recovery probes
	 * those, from undo_verify.
	 */
	bool undoing;
	/* An apply of that candidate got no sure answer (transient, no
	 * answer, a worker or a daemon killed): it may still land. */
	bool uncertain_pending, uncertain_current, uncertain_previous;
	size_t script; /* the next post-rotation script, from 0 */
	int scripts_failed;
	enum rotation_class fail_class; /* why recovery began */
	char fail_msg[ROTATION_RECORD_MAX + 1];
};

/* Set ROT up for a new run: a rotation, or with VERIFY_ONLY a verify
 * run.  Its first attempt is number 1. */
void rotation_init(struct rotation *rot, const struct rotation_caps *caps,
    const struct rotation_flags *flags, bool verify_only);

/*
 * ROT is a run found unfinished at start (or out of sync, recovered
 * again), at attempt ATTEMPT: the next attempt commits at once when it was
 * VERIFIED, else recovers its pending secret, whose apply is uncertain;
 * CLASS and WHY say why recovery began, for when it gives up.
 */
void rotation_recover(struct rotation *rot, int attempt, bool verified,
    enum rotation_class class, const char *why);

/*
 * ROT is a run found unfinished at start (or out of sync, recovered
 * again) after its commit, while or after it set the previous secret back
 * (ROT's undoing): the next attempt, number ATTEMPT, probes the previous
 * secret, then the current one, and keeps the one that logs in; the undo's
 * apply is uncertain.
 */
void rotation_recover_undo(struct rotation *rot, int attempt);

/* An attempt starts: go on to its first step. */
void rotation_start(struct rotation *rot, struct rotation_actions *out);

/* The current step's delay has passed: carry it out, in ENV. */
void rotation_enter(struct rotation *rot, const struct rotation_env *env,
    struct rotation_actions *out);

/*
 * The outcome of the operation last asked for (worker, script or store):
 * CLASS, with MSG (not kept; may be ROT's own fail_msg) when it failed;
 * ENV as it is now.
 */
void rotation_result(struct rotation *rot, enum rotation_class class,
    const char *msg, const struct rotation_env *env,
    struct rotation_actions *out);

/* The daemon stops while ROT waits to retry: how the run ends. */
void rotation_stop(const struct rotation *rot, struct rotation_actions *out);

const char *rotation_step_name(enum rotation_step step);

#endif
