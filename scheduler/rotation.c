/*
 * rotation.c: the rotation protocol's transitions, and nothing else.
 *
 * A rotation, as docs/ARCHITECTURE.md draws it:
 *
 *   prepare -> apply -> verify -> commit -> scripts
 *
 * prepare and commit are store operations; apply, verify and each script
 * run in a fresh worker.  A step whose outcome is unsure (an apply that
 * got no answer or a transient error, any failed verify, a run found
 * unfinished at start, a pending secret an earlier run left) goes through
 * recovery, which asks the target rather than guessing.  The daemon
 * enters a step (rotation_enter) once its delay has passed; the step asks
 * for one operation, whose outcome comes back (rotation_result):
 *
 *   step              asks for             outcome -> next
 *   ----------------  -------------------  -----------------------------
 *   prepare           store ADOPT          found -> probe_pending
 *                                          none  -> store PREPARE
 *                     store PREPARE        ok -> apply (noop: commit)
 *                                          failed -> FAILED, fatal
 *   apply             worker APPLY pend.   ok -> persist APPLIED, verify
 *                                          transient -> probe_pending
 *                                          untouched, auth, policy,
 *                                            fatal -> retry(*)
 *   apply (verify     worker VERIFY cur.   ok -> COMMITTED ("verified")
 *     run)                                 else -> retry(*)
 *   verify            worker VERIFY pend.  ok -> persist VERIFIED, commit
 *                                          else -> probe_pending
 *   probe_pending     worker VERIFY pend.  ok -> persist VERIFIED, commit [u]
 *                                          transient -> later(no answer)
 *                                          else -> probe_current
 *   probe_current     store HAS_CURRENT    none -> retry(*) (first one) [u]
 *                     worker VERIFY cur.   ok -> retry(*) why recovery
 *                                            began [u]
 *                                          transient -> later(no answer)
 *                                          else -> reconcile
 *   reconcile         (no admin, and the provider cannot do without:
 *                     later(out of sync))
 *                     worker APPLY c       ok -> reconcile_verify
 *                                          transient -> c uncertain,
 *                                            later(out of sync)
 *                                          else -> later(out of sync)
 *   reconcile_verify  worker VERIFY c      ok, c = current -> retry(*) [u]
 *                                          ok, c = pending -> persist
 *                                            VERIFIED, commit [u]
 *                                          else -> later(out of sync)
 *   commit            store COMMIT         ok -> scripts, or COMMITTED
 *                                          failed -> OUT_OF_SYNC, fatal
 *   scripts           script i             next script, then: none failed
 *                                          -> COMMITTED; some failed ->
 *                                          persist OUT_OF_SYNC, undo if
 *                                          rollback_on_post_rotation_fail
 *                                          (noop: undo, nothing persisted),
 *                                          else COMMITTED (fatal); after
 *                                          an undo -> FAILED
 *   undo              worker APPLY prev.   ok -> undo_verify
 *                     (noop: store         transient -> prev. uncertain,
 *                     UNDO_COMMIT)           undo_verify
 *                                          untouched, auth, policy,
 *                                            fatal -> undo_keep
 *   undo_verify       worker VERIFY prev.  ok -> store UNDO_COMMIT
 *                                          transient -> later(no answer)
 *                                          else -> undo_keep
 *                     store UNDO_COMMIT    ok -> persist FAILED, scripts
 *                                          again (rerun_on_post_rotation_
 *                                          fail), or FAILED
 *                                          failed -> OUT_OF_SYNC, fatal
 *   undo_keep         worker VERIFY cur.   ok -> COMMITTED (fatal) [u]
 *                                          transient -> later(no answer)
 *                                          else -> later(out of sync)
 *
 * c is the current secret when rollback_on_password_fail and there is
 * one (the old secret is set back), else the pending one.
 *
 * The undo is an apply like any other, and is persisted before it
 * touches the target: the run row says out_of_sync (the store's current
 * secret may not be the target's) until the undo settles, so a run
 * interrupted meanwhile is recovered at the next start.  Its recovery
 * (rotation_recover_undo(), or later() of an undoing run) starts at
 * undo_verify: it probes the previous secret, then the current one, and
 * keeps the one that logs in; the previous one is uncertain after an
 * undo with no sure answer or an interruption, and the current one is
 * never dropped for it while it may still land.
 *
 * untouched is a transient failure that the provider knows changed
 * nothing on the target (the server refused the statement, or it was
 * never sent; a worker that could not start): the apply is sure, so it
 * is retried as a refusal is, without recovery.  Elsewhere it counts as
 * transient.
 *
 * [u] An uncertain apply is never outrun.  A candidate is uncertain when
 * an apply of it got no sure answer: an apply (or reconcile's apply) that
 * was transient or got no answer (a deadline, a killed worker), a run
 * found unfinished at start or out of sync (its apply may have been in
 * flight when the daemon died), a pending secret adopted from an earlier
 * run.  Such an apply may still land: a worker's statement queued on the
 * server outlives the worker.  So a step marked [u] that would drop one
 * candidate for the other (discard the pending secret for the current
 * one, or commit the pending one over the current) first checks: if the
 * candidate it drops is uncertain and the daemon does not say that the
 * appliers are gone (every apply worker reaped AND the step's deadline,
 * which bounds the provider's server-side work, passed since the last one
 * started), it drops nothing and goes to later(may land): both stay,
 * recovery probes them again after a backoff.  Once the appliers are gone
 * the probes' answer is final and the step goes on as the table says.
 *   uncertain, the other logs in, appliers maybe alive -> later(may land)
 *   uncertain, the other logs in, appliers gone -> drop it, as the table
 *   the candidate itself logs in -> keep it (commit the pending one)
 *
 * retry(*) drops the pending secret (the target did not take it) and
 * decides by class: transient -> backoff until retry.attempts; auth ->
 * once more, at once ("reconcile once"); policy -> once more, at once,
 * with a new secret ("regenerate once"); fatal, or a verify run's auth
 * or policy -> FAILED.  The next attempt starts from prepare.
 *
 * later() keeps both candidates and starts recovery again at
 * probe_pending (an undoing run: undo_verify) after a backoff; when the
 * attempts are spent the run
 * ends OUT_OF_SYNC, and the daemon recovers it again (rotation_recover())
 * with a backoff bounded by retry.max until it resolves, and at start.
 *
 * A daemon that is stopping retries nothing: the run ends at once.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rotation.h"

const char *
rotation_step_name(enum rotation_step step)
{
	static const char *const names[] = {
		[ROTATION_START] = "start",
		[ROTATION_PREPARE] = "prepare",
		[ROTATION_APPLY] = "apply",
		[ROTATION_VERIFY] = "verify",
		[ROTATION_COMMIT] = "commit",
		[ROTATION_PROBE_PENDING] = "probe_pending",
		[ROTATION_PROBE_CURRENT] = "probe_current",
		[ROTATION_RECONCILE] = "reconcile",
		[ROTATION_RECONCILE_VERIFY] = "reconcile_verify",
		[ROTATION_SCRIPTS] = "scripts",
		[ROTATION_UNDO] = "undo",
		[ROTATION_UNDO_VERIFY] = "undo_verify",
		[ROTATION_UNDO_KEEP] = "undo_keep",
	};

	if ((size_t)step >= sizeof(names) / sizeof(names[0]))
		return "?";
	return names[step];
}

/* ---- building the list of actions ---- */

/* A new action at the end of OUT.  The table above never asks for more
 * than ROTATION_ACTIONS_MAX; more is a bug in this file. */
static struct rotation_action *
push(struct rotation_actions *out, enum rotation_act act, const char *msg)
{
	struct rotation_action *a;

	if (out->n >= ROTATION_ACTIONS_MAX)
		abort();
	a = &out->v[out->n++];
	memset(a, 0, sizeof(*a));
	a->act = act;
	if (msg != NULL)
		snprintf(a->msg, sizeof(a->msg), "%s", msg);
	return a;
}

static void
log_event(struct rotation_actions *out, enum rotation_event ev, size_t script,
    const char *msg)
{
	struct rotation_action *a = push(out, ROTATION_ACT_LOG, msg);

	a->event = ev;
	a->script = script;
}

static void
next(
    struct rotation *rot, struct rotation_actions *out, enum rotation_step step)
{
	rot->step = step;
	push(out, ROTATION_ACT_NEXT, NULL)->step = step;
}

static void
worker(struct rotation *rot, struct rotation_actions *out, enum rotation_op op,
    enum rotation_cand cand)
{
	struct rotation_action *a = push(out, ROTATION_ACT_WORKER, NULL);

	rot->store = ROTATION_STORE_NONE;
	a->op = op;
	a->cand = cand;
}

static void
store(
    struct rotation *rot, struct rotation_actions *out, enum rotation_store op)
{
	rot->store = op;
	push(out, ROTATION_ACT_STORE, NULL)->store = op;
}

static void
finish(struct rotation_actions *out, enum rotation_state state,
    enum rotation_class class, const char *msg)
{
	struct rotation_action *a = push(out, ROTATION_ACT_FINISH, msg);

	a->state = state;
	a->class = class;
}

/* Persist STATE with MSG, mark the step done, and go on to STEP. */
static void
advance(struct rotation *rot, struct rotation_actions *out,
    enum rotation_state state, const char *msg, enum rotation_step step)
{
	push(out, ROTATION_ACT_PERSIST, msg)->state = state;
	push(out, ROTATION_ACT_BOUNDARY, NULL)->step = rot->step;
	next(rot, out, step);
}

/* Remember why the run is in recovery, for when recovery gives up. */
static void
keep_failure(struct rotation *rot, enum rotation_class class, const char *msg)
{
	rot->fail_class = class;
	snprintf(rot->fail_msg, sizeof(rot->fail_msg), "%s: %s",
	    rotation_step_name(rot->step), msg);
}

/* ---- retries ---- */

/*
 * A step failed with CLASS, and the target is known to be as it was: drop
 * the pending secret, and decide by class whether and when to try again
 * from the start (see the comment at the top).
 */
static void
failed_step(struct rotation *rot, enum rotation_class class, const char *why,
    bool stopping, struct rotation_actions *out)
{
	char msg[ROTATION_RECORD_MAX + 1];
	struct rotation_action *a;
	bool retry = false, backoff = false;

	/* WHY may be rot->fail_msg, which is cleared below. */
	snprintf(msg, sizeof(msg), "%s", why);
	push(out, ROTATION_ACT_DISCARD, NULL);
	rot->resume = ROTATION_START;
	rot->fail_msg[0] = '\0';
	/* Only reached once nothing can land any more ([u]). */
	rot->uncertain_pending = rot->uncertain_current = false;
	rot->uncertain_previous = false;
	switch (class) {
	case ROTATION_TRANSIENT:
		retry = backoff = rot->attempt < rot->flags.attempts;
		break;
	case ROTATION_AUTH:
		if (!rot->reconciled && !rot->verify_only)
			retry = rot->reconciled = true;
		break;
	case ROTATION_POLICY:
		if (!rot->regenerated && !rot->verify_only)
			retry = rot->regenerated = true;
		break;
	default:
		break;
	}
	if (!retry || stopping) {
		finish(out, ROTATION_FAILED, class, msg);
		return;
	}
	a = push(out, ROTATION_ACT_RETRY, msg);
	a->class = rot->retry_class = class;
	a->attempt = ++rot->attempt;
	a->backoff = backoff;
}

/*
 * Recovery cannot finish now: the target did not answer, or WAITING an
 * apply that may still land keeps it from dropping a candidate ([u]), or
 * (OOS) neither candidate logs in and nothing could set one.  Both
 * candidates stay in the store; recovery starts again after a backoff,
 * and when the attempts are spent the run ends out_of_sync (which the
 * daemon recovers again, with a backoff, until it resolves).
 */
static void
recovery_later(struct rotation *rot, bool oos, bool waiting, const char *msg,
    bool stopping, struct rotation_actions *out)
{
	enum rotation_class class = oos ? ROTATION_AUTH : ROTATION_TRANSIENT;
	struct rotation_action *a;

	if (oos)
		log_event(out, ROTATION_EV_OUT_OF_SYNC, 0, msg);
	if (rot->attempt >= rot->flags.attempts || stopping) {
		finish(out, ROTATION_OUT_OF_SYNC, class, msg);
		return;
	}
	a = push(out, ROTATION_ACT_RETRY, msg);
	a->class = rot->retry_class = class;
	a->attempt = ++rot->attempt;
	a->backoff = true;
	a->recovery = true;
	a->oos = oos;
	a->waiting = waiting;
	rot->resume =
	    rot->undoing ? ROTATION_UNDO_VERIFY : ROTATION_PROBE_PENDING;
}

/*
 * Whether recovery may now drop candidate CAND for the other, which logs
 * in: the rule [u] of the table.  Not while an apply of it may still
 * land: then the run waits (later), and false is returned.  Once the
 * daemon says the appliers are gone, nothing is uncertain any more.
 */
static bool
may_drop(struct rotation *rot, enum rotation_cand cand,
    const struct rotation_env *env, struct rotation_actions *out)
{
	static const char *const whys[] = {
		[ROTATION_CAND_PENDING] =
		    "the current secret logs in, but an apply of the new one "
		    "may still land",
		[ROTATION_CAND_CURRENT] =
		    "the new secret logs in, but an apply of the current one "
		    "may still land",
		[ROTATION_CAND_PREVIOUS] =
		    "the current secret logs in, but setting the previous one "
		    "back may still land",
	};
	const char *why = whys[cand];
	bool uncertain = rot->uncertain_previous;

	if (cand == ROTATION_CAND_PENDING)
		uncertain = rot->uncertain_pending;
	else if (cand == ROTATION_CAND_CURRENT)
		uncertain = rot->uncertain_current;
	if (!uncertain)
		return true;
	if (env->appliers_gone) {
		rot->uncertain_pending = rot->uncertain_current = false;
		rot->uncertain_previous = false;
		return true;
	}
	log_event(out, ROTATION_EV_MAY_LAND, 0, why);
	recovery_later(rot, false, true, why, env->stopping, out);
	return false;
}

/* ---- entry points ---- */

void
rotation_init(struct rotation *rot, const struct rotation_caps *caps,
    const struct rotation_flags *flags, bool verify_only)
{
	memset(rot, 0, sizeof(*rot));
	rot->caps = *caps;
	rot->flags = *flags;
	rot->verify_only = verify_only;
	rot->attempt = 1;
	rot->step = ROTATION_START;
	rot->resume = ROTATION_START;
	rot->store = ROTATION_STORE_NONE;
}

void
rotation_recover(struct rotation *rot, int attempt, bool verified,
    enum rotation_class class, const char *why)
{
	rot->attempt = attempt;
	rot->resume = verified ? ROTATION_COMMIT : ROTATION_PROBE_PENDING;
	/* Its apply may have been in flight when the daemon died. */
	rot->uncertain_pending = !verified;
	rot->fail_class = class;
	snprintf(rot->fail_msg, sizeof(rot->fail_msg), "%s", why);
}

void
rotation_recover_undo(struct rotation *rot, int attempt)
{
	rot->attempt = attempt;
	rot->undoing = true;
	rot->resume = ROTATION_UNDO_VERIFY;
	/* The undo's apply may have been in flight when the daemon died. */
	rot->uncertain_previous = true;
	/* Its probes say why, if recovery gives up. */
	rot->fail_class = ROTATION_TRANSIENT;
	snprintf(rot->fail_msg, sizeof(rot->fail_msg),
	    "interrupted while setting the previous secret back");
}

void
rotation_start(struct rotation *rot, struct rotation_actions *out)
{
	out->n = 0;
	next(rot, out,
	    rot->resume != ROTATION_START ? rot->resume
		: rot->verify_only        ? ROTATION_APPLY
					  : ROTATION_PREPARE);
}

/* The candidate reconcile sets and logs in with. */
static enum rotation_cand
reconcile_cand(const struct rotation *rot)
{
	return rot->rolled_back ? ROTATION_CAND_CURRENT : ROTATION_CAND_PENDING;
}

void
rotation_enter(struct rotation *rot, const struct rotation_env *env,
    struct rotation_actions *out)
{
	out->n = 0;
	switch (rot->step) {
	case ROTATION_START:
	case ROTATION_PREPARE:
		rot->step = ROTATION_PREPARE;
		/* A verify run has no pending secret to adopt. */
		store(rot, out,
		    rot->verify_only ? ROTATION_STORE_PREPARE
				     : ROTATION_STORE_ADOPT);
		return;
	case ROTATION_APPLY:
		if (rot->verify_only) {
			push(out, ROTATION_ACT_RECORD,
			    "verify: logging in with the current secret")
			    ->state = ROTATION_PREPARED;
			worker(rot, out, ROTATION_OP_VERIFY,
			    ROTATION_CAND_CURRENT);
			return;
		}
		worker(rot, out, ROTATION_OP_APPLY, ROTATION_CAND_PENDING);
		return;
	case ROTATION_VERIFY:
	case ROTATION_PROBE_PENDING:
		worker(rot, out, ROTATION_OP_VERIFY, ROTATION_CAND_PENDING);
		return;
	case ROTATION_PROBE_CURRENT:
		store(rot, out, ROTATION_STORE_HAS_CURRENT);
		return;
	case ROTATION_RECONCILE:
		if (!rot->caps.has_admin &&
		    !rot->caps.reconcile_without_admin) {
			/* Without an admin credential nothing can set a
			 * secret that neither candidate logs in with. */
			recovery_later(rot, true, false,
			    "no admin credential to reconcile with",
			    env->stopping, out);
			return;
		}
		worker(rot, out, ROTATION_OP_APPLY, reconcile_cand(rot));
		return;
	case ROTATION_RECONCILE_VERIFY:
		worker(rot, out, ROTATION_OP_VERIFY, reconcile_cand(rot));
		return;
	case ROTATION_COMMIT:
		store(rot, out, ROTATION_STORE_COMMIT);
		return;
	case ROTATION_SCRIPTS:
		rot->store = ROTATION_STORE_NONE;
		push(out, ROTATION_ACT_SCRIPT, NULL)->script = rot->script;
		return;
	case ROTATION_UNDO:
		if (rot->caps.noop) { /* no target: the store alone */
			store(rot, out, ROTATION_STORE_UNDO_COMMIT);
			return;
		}
		worker(rot, out, ROTATION_OP_APPLY, ROTATION_CAND_PREVIOUS);
		return;
	case ROTATION_UNDO_VERIFY:
		worker(rot, out, ROTATION_OP_VERIFY, ROTATION_CAND_PREVIOUS);
		return;
	case ROTATION_UNDO_KEEP:
		worker(rot, out, ROTATION_OP_VERIFY, ROTATION_CAND_CURRENT);
		return;
	}
}

/* ---- outcomes of store operations ---- */

static void
prepared(struct rotation *rot, bool ok, const char *msg,
    struct rotation_actions *out)
{
	if (!ok) {
		finish(out, ROTATION_FAILED, ROTATION_FATAL, msg);
		return;
	}
	push(out, ROTATION_ACT_BOUNDARY, NULL)->step = ROTATION_PREPARE;
	/* A noop user has no target: only its scripts run. */
	next(rot, out, rot->caps.noop ? ROTATION_COMMIT : ROTATION_APPLY);
}

static void
committed(struct rotation *rot, bool ok, const char *msg,
    struct rotation_actions *out)
{
	if (!ok) {
		/* The target has the new secret and the store could not
		 * say so: keep both; recovery commits. */
		finish(out, ROTATION_OUT_OF_SYNC, ROTATION_FATAL, msg);
		return;
	}
	if (rot->flags.scripts > 0) {
		advance(rot, out, ROTATION_COMMITTED,
		    "committed; running post-rotation scripts",
		    ROTATION_SCRIPTS);
		return;
	}
	push(out, ROTATION_ACT_BOUNDARY, NULL)->step = ROTATION_COMMIT;
	finish(out, ROTATION_COMMITTED, ROTATION_OK, "committed");
}

/*
 * The target has the old secret again and it logs in, and the store now
 * agrees: with rerun_on_post_rotation_fail the scripts run again, and
 * now see the old secret as the new one.
 */
static void
undo_committed(struct rotation *rot, bool ok, struct rotation_actions *out)
{
	int n = rot->scripts_failed;

	if (!ok) {
		/* The target has the old one, the store the new one as
		 * current and the old as previous: both are kept. */
		finish(out, ROTATION_OUT_OF_SYNC, ROTATION_FATAL,
		    "rolled back on the target, but the store could not "
		    "follow; the previous secret is the one that works");
		return;
	}
	log_event(out, ROTATION_EV_UNDONE, 0, NULL);
	rot->undone = true;
	/* How the run ends, whatever the undo's probes kept meanwhile; a run
	 * recovered at start no longer knows how many scripts failed. */
	if (n > 0)
		snprintf(rot->fail_msg, sizeof(rot->fail_msg),
		    "%d post-rotation script%s failed; rolled back to the "
		    "previous secret",
		    n, n == 1 ? "" : "s");
	else
		snprintf(rot->fail_msg, sizeof(rot->fail_msg),
		    "a post-rotation script failed; rolled back to the "
		    "previous secret");
	if (rot->flags.rerun_on_post_rotation_fail) {
		rot->script = 0;
		rot->scripts_failed = 0;
		/* The store and the target agree again: the run is no
		 * longer out of sync, and it fails however the scripts go. */
		advance(rot, out, ROTATION_FAILED,
		    "rolled back to the previous secret; running the "
		    "post-rotation scripts again",
		    ROTATION_SCRIPTS);
		return;
	}
	finish(out, ROTATION_FAILED, ROTATION_FATAL, rot->fail_msg);
}

static void
store_result(struct rotation *rot, enum rotation_store op, bool ok,
    const char *msg, const struct rotation_env *env,
    struct rotation_actions *out)
{
	switch (op) {
	case ROTATION_STORE_ADOPT:
		if (!ok) {
			store(rot, out, ROTATION_STORE_PREPARE);
			return;
		}
		/* An earlier run left a pending secret the target may
		 * hold: settle that first, through recovery. */
		log_event(out, ROTATION_EV_ADOPTED, 0, NULL);
		rot->uncertain_pending = true;
		keep_failure(rot, ROTATION_TRANSIENT,
		    "a pending secret from an earlier run");
		next(rot, out, ROTATION_PROBE_PENDING);
		return;
	case ROTATION_STORE_PREPARE:
		prepared(rot, ok, msg, out);
		return;
	case ROTATION_STORE_COMMIT:
		committed(rot, ok, msg, out);
		return;
	case ROTATION_STORE_HAS_CURRENT:
		rot->has_current = ok;
		if (!ok) {
			/* A first rotation, and the target refused the new
			 * secret: it never took it, and there is no old
			 * one to lose. */
			if (may_drop(rot, ROTATION_CAND_PENDING, env, out))
				failed_step(rot, rot->fail_class, rot->fail_msg,
				    env->stopping, out);
			return;
		}
		worker(rot, out, ROTATION_OP_VERIFY, ROTATION_CAND_CURRENT);
		return;
	case ROTATION_STORE_UNDO_COMMIT:
		undo_committed(rot, ok, out);
		return;
	case ROTATION_STORE_NONE:
		break;
	}
}

/* ---- outcomes of workers ---- */

static void
script_done(struct rotation *rot, bool ok, const char *msg,
    struct rotation_actions *out)
{
	char text[ROTATION_RECORD_MAX + 1];
	int n;

	if (!ok)
		rot->scripts_failed++;
	log_event(out, ok ? ROTATION_EV_SCRIPT_OK : ROTATION_EV_SCRIPT_FAILED,
	    rot->script, ok ? NULL : msg);
	if (++rot->script < rot->flags.scripts) {
		next(rot, out, ROTATION_SCRIPTS);
		return;
	}
	if (rot->undone) {
		/* The scripts ran again after the rollback, with the old
		 * secret as the new one (rerun_on_post_rotation_fail). */
		finish(out, ROTATION_FAILED, ROTATION_FATAL, rot->fail_msg);
		return;
	}
	n = rot->scripts_failed;
	if (n > 0 && rot->flags.rollback_on_post_rotation_fail) {
		rot->undoing = true;
		if (rot->caps.noop) { /* the store alone, in this turn */
			next(rot, out, ROTATION_UNDO);
			return;
		}
		/* Before the undo touches the target: from now until it
		 * settles the store's current secret may not be the
		 * target's, and a run interrupted meanwhile must be
		 * recovered ([u]: the undo may land whatever becomes of
		 * its worker). */
		snprintf(text, sizeof(text),
		    "%d post-rotation script%s failed; setting the previous "
		    "secret back",
		    n, n == 1 ? "" : "s");
		advance(rot, out, ROTATION_OUT_OF_SYNC, text, ROTATION_UNDO);
		return;
	}
	if (n == 0) {
		finish(out, ROTATION_COMMITTED, ROTATION_OK,
		    "committed; post-rotation scripts succeeded");
		return;
	}
	snprintf(text, sizeof(text),
	    "committed; %d post-rotation script%s failed (rotactl run shows "
	    "the output)",
	    n, n == 1 ? "" : "s");
	finish(out, ROTATION_COMMITTED, ROTATION_FATAL, text);
}

/* apply: a verify run's only step, or a rotation's first on the target. */
static void
applied(struct rotation *rot, enum rotation_class class, bool untouched,
    const char *msg, bool stopping, struct rotation_actions *out)
{
	bool ok = class == ROTATION_OK;

	if (rot->verify_only) {
		if (ok)
			finish(out, ROTATION_COMMITTED, ROTATION_OK,
			    "verify: the current secret logs in");
		else
			failed_step(rot, class, msg, stopping, out);
		return;
	}
	if (ok) {
		advance(rot, out, ROTATION_APPLIED, "applied", ROTATION_VERIFY);
		return;
	}
	if (class != ROTATION_TRANSIENT || untouched) {
		/* The target refused, or the provider says it changed
		 * nothing: it still has the old one. */
		failed_step(rot, class, msg, stopping, out);
		return;
	}
	/* No answer, or a transient one: the apply may still land. */
	rot->uncertain_pending = true;
	keep_failure(rot, class, msg);
	next(rot, out, ROTATION_PROBE_PENDING);
}

/* Recovery's probes: does the pending secret log in, or the current? */
static void
probed(struct rotation *rot, enum rotation_class class, const char *msg,
    const struct rotation_env *env, struct rotation_actions *out)
{
	bool pending = rot->step == ROTATION_PROBE_PENDING;

	if (class == ROTATION_TRANSIENT) {
		/* No answer is not a refusal: ask again later. */
		recovery_later(rot, false, false, msg, env->stopping, out);
		return;
	}
	if (class != ROTATION_OK) {
		if (pending) {
			next(rot, out, ROTATION_PROBE_CURRENT);
			return;
		}
		rot->rolled_back =
		    rot->flags.rollback_on_password_fail && rot->has_current;
		next(rot, out, ROTATION_RECONCILE);
		return;
	}
	if (pending) {
		if (!may_drop(rot, ROTATION_CAND_CURRENT, env, out))
			return;
		log_event(out, ROTATION_EV_PENDING_WORKS, 0, NULL);
		advance(rot, out, ROTATION_VERIFIED,
		    "recovered: the new secret logs in", ROTATION_COMMIT);
		return;
	}
	if (!may_drop(rot, ROTATION_CAND_PENDING, env, out))
		return;
	log_event(out, ROTATION_EV_CURRENT_WORKS, 0, NULL);
	failed_step(rot, rot->fail_class, rot->fail_msg, env->stopping, out);
}

static void
reconciled(struct rotation *rot, enum rotation_class class, bool untouched,
    const char *msg, const struct rotation_env *env,
    struct rotation_actions *out)
{
	enum rotation_cand drop;

	if (class != ROTATION_OK) {
		/* Setting c got no sure answer: it may still land. */
		if (rot->step == ROTATION_RECONCILE &&
		    class == ROTATION_TRANSIENT && !untouched) {
			if (rot->rolled_back)
				rot->uncertain_current = true;
			else
				rot->uncertain_pending = true;
		}
		recovery_later(rot, true, false, msg, env->stopping, out);
		return;
	}
	if (rot->step == ROTATION_RECONCILE) {
		next(rot, out, ROTATION_RECONCILE_VERIFY);
		return;
	}
	/* The old secret is back on the target, whether or not the new one
	 * may be dropped yet. */
	if (rot->rolled_back)
		log_event(out, ROTATION_EV_ROLLED_BACK, 0, NULL);
	drop = rot->rolled_back ? ROTATION_CAND_PENDING : ROTATION_CAND_CURRENT;
	if (!may_drop(rot, drop, env, out))
		return;
	if (rot->rolled_back) {
		failed_step(
		    rot, rot->fail_class, rot->fail_msg, env->stopping, out);
		return;
	}
	advance(rot, out, ROTATION_VERIFIED,
	    "reconciled: the new secret was set again and logs in",
	    ROTATION_COMMIT);
}

/*
 * Setting the old secret back after a failed post-rotation script, and
 * the probes that settle it: does the previous secret log in, or the
 * current one?
 */
static void
undo_result(struct rotation *rot, enum rotation_class class, bool untouched,
    const char *msg, const struct rotation_env *env,
    struct rotation_actions *out)
{
	bool ok = class == ROTATION_OK;

	switch (rot->step) {
	case ROTATION_UNDO:
		if (!ok && class == ROTATION_TRANSIENT && !untouched) {
			/* No sure answer: the old secret may be on the
			 * target already, or land there later.  Ask. */
			rot->uncertain_previous = true;
			next(rot, out, ROTATION_UNDO_VERIFY);
			return;
		}
		next(rot, out, ok ? ROTATION_UNDO_VERIFY : ROTATION_UNDO_KEEP);
		/* After next(): the failure is kept as undo_keep's, as the
		 * daemon always named it. */
		if (!ok)
			keep_failure(rot, class, msg);
		return;
	case ROTATION_UNDO_VERIFY:
		if (ok) {
			store(rot, out, ROTATION_STORE_UNDO_COMMIT);
			return;
		}
		if (class == ROTATION_TRANSIENT) {
			/* No answer is not a refusal: ask again later. */
			recovery_later(
			    rot, false, false, msg, env->stopping, out);
			return;
		}
		keep_failure(rot, class, msg);
		next(rot, out, ROTATION_UNDO_KEEP);
		return;
	default:
		if (ok) {
			if (!may_drop(rot, ROTATION_CAND_PREVIOUS, env, out))
				return;
			finish(out, ROTATION_COMMITTED, ROTATION_FATAL,
			    "a post-rotation script failed and the rollback "
			    "did not take: the new secret is kept, and works");
			return;
		}
		if (class == ROTATION_TRANSIENT) {
			recovery_later(
			    rot, false, false, msg, env->stopping, out);
			return;
		}
		/* Neither the old secret (after an undo that failed) nor
		 * the new one logs in: say so, keep both, ask again. */
		recovery_later(
		    rot, true, false, rot->fail_msg, env->stopping, out);
		return;
	}
}

void
rotation_result(struct rotation *rot, enum rotation_class class,
    const char *msg, const struct rotation_env *env,
    struct rotation_actions *out)
{
	enum rotation_store op = rot->store;
	bool untouched = class == ROTATION_UNTOUCHED;
	bool ok = class == ROTATION_OK;

	out->n = 0;
	if (untouched)
		class = ROTATION_TRANSIENT;
	if (op != ROTATION_STORE_NONE) {
		rot->store = ROTATION_STORE_NONE;
		store_result(rot, op, ok, msg, env, out);
		return;
	}
	switch (rot->step) {
	case ROTATION_APPLY:
		applied(rot, class, untouched, msg, env->stopping, out);
		return;
	case ROTATION_VERIFY:
		if (ok) {
			advance(rot, out, ROTATION_VERIFIED, "verified",
			    ROTATION_COMMIT);
			return;
		}
		keep_failure(rot, class, msg);
		next(rot, out, ROTATION_PROBE_PENDING);
		return;
	case ROTATION_PROBE_PENDING:
	case ROTATION_PROBE_CURRENT:
		probed(rot, class, msg, env, out);
		return;
	case ROTATION_RECONCILE:
	case ROTATION_RECONCILE_VERIFY:
		reconciled(rot, class, untouched, msg, env, out);
		return;
	case ROTATION_SCRIPTS:
		script_done(rot, ok, msg, out);
		return;
	case ROTATION_UNDO:
	case ROTATION_UNDO_VERIFY:
	case ROTATION_UNDO_KEEP:
		undo_result(rot, class, untouched, msg, env, out);
		return;
	default:
		log_event(out, ROTATION_EV_UNEXPECTED, 0, NULL);
		return;
	}
}

void
rotation_stop(const struct rotation *rot, struct rotation_actions *out)
{
	out->n = 0;
	if (rot->resume == ROTATION_PROBE_PENDING ||
	    rot->resume == ROTATION_UNDO_VERIFY)
		finish(out, ROTATION_OUT_OF_SYNC, rot->retry_class,
		    "stopped while waiting to recover; recovery resumes at "
		    "the next start");
	else
		finish(out, ROTATION_FAILED, rot->retry_class,
		    "stopped while waiting to retry");
}
