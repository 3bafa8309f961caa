/*
 * Unit tests of the rotation engine (scheduler/rotation.c): every
 * transition of its table, fed results by hand, with no loop, no store
 * and no worker.  Each test drives a run to a step through the protocol
 * itself, then checks the actions the engine asks for, in order.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "rotation.h"

static struct rotation_caps caps;
static struct rotation_flags flags;
static struct rotation rot;
static struct rotation_actions out;
/* The daemon's word: not stopping, and no apply can still land. */
static struct rotation_env env;

static const enum rotation_class refusals[] = {
	ROTATION_AUTH,
	ROTATION_POLICY,
	ROTATION_FATAL,
};

static const enum rotation_class failures[] = {
	ROTATION_TRANSIENT,
	ROTATION_AUTH,
	ROTATION_POLICY,
	ROTATION_FATAL,
};

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* Defaults: a resource with an admin credential, the user's defaults. */
static int
reset(void **state)
{
	(void)state;
	memset(&caps, 0, sizeof(caps));
	memset(&flags, 0, sizeof(flags));
	memset(&rot, 0, sizeof(rot));
	memset(&out, 0, sizeof(out));
	caps.has_admin = true;
	flags.rollback_on_password_fail = true;
	flags.attempts = 3;
	env.stopping = false;
	env.appliers_gone = true;
	return 0;
}

/* ---- assertions on the actions ---- */

static const struct rotation_action *
nth(size_t i, enum rotation_act act)
{
	assert_true(i < out.n);
	assert_int_equal(out.v[i].act, act);
	return &out.v[i];
}

static void
expect_n(size_t n)
{
	assert_int_equal(out.n, n);
}

static void
expect_next(size_t i, enum rotation_step step)
{
	assert_int_equal(nth(i, ROTATION_ACT_NEXT)->step, step);
	assert_int_equal(rot.step, step);
	expect_n(i + 1);
}

static void
expect_worker(enum rotation_op op, enum rotation_cand cand)
{
	const struct rotation_action *a = nth(out.n - 1, ROTATION_ACT_WORKER);

	assert_int_equal(a->op, op);
	assert_int_equal(a->cand, cand);
}

static void
expect_store(enum rotation_store op)
{
	expect_n(1);
	assert_int_equal(nth(0, ROTATION_ACT_STORE)->store, op);
}

static void
expect_finish(size_t i, enum rotation_state state, enum rotation_class class,
    const char *msg)
{
	const struct rotation_action *a = nth(i, ROTATION_ACT_FINISH);

	assert_int_equal(a->state, state);
	assert_int_equal(a->class, class);
	if (msg != NULL)
		assert_string_equal(a->msg, msg);
	expect_n(i + 1);
}

static void
expect_retry(size_t i, enum rotation_class class, int attempt, bool backoff,
    bool recovery, bool oos)
{
	const struct rotation_action *a = nth(i, ROTATION_ACT_RETRY);

	assert_int_equal(a->class, class);
	assert_int_equal(a->attempt, attempt);
	assert_int_equal(rot.attempt, attempt);
	assert_int_equal(a->backoff, backoff);
	assert_int_equal(a->recovery, recovery);
	assert_int_equal(a->oos, oos);
	/* An undoing run recovers from its undo's probes. */
	assert_int_equal(rot.resume,
	    !recovery         ? ROTATION_START
		: rot.undoing ? ROTATION_UNDO_VERIFY
			      : ROTATION_PROBE_PENDING);
	expect_n(i + 1);
}

static void
expect_log(size_t i, enum rotation_event ev)
{
	assert_int_equal(nth(i, ROTATION_ACT_LOG)->event, ev);
}

/* PERSIST STATE with MSG, BOUNDARY of the step done, NEXT to STEP. */
static void
expect_advance(size_t i, enum rotation_state state, const char *msg,
    enum rotation_step done, enum rotation_step step)
{
	const struct rotation_action *a = nth(i, ROTATION_ACT_PERSIST);

	assert_int_equal(a->state, state);
	assert_string_equal(a->msg, msg);
	assert_int_equal(nth(i + 1, ROTATION_ACT_BOUNDARY)->step, done);
	expect_next(i + 2, step);
}

/* ---- driving a run ---- */

static void
begin(bool verify_only)
{
	rotation_init(&rot, &caps, &flags, verify_only);
	rotation_start(&rot, &out);
}

static void
enter(void)
{
	rotation_enter(&rot, &env, &out);
}

static void
result(enum rotation_class class, const char *msg)
{
	rotation_result(&rot, class, msg, &env, &out);
}

/* A new attempt after a retry: from prepare, with no pending left. */
static void
restart_to_apply(void)
{
	rotation_start(&rot, &out);
	expect_next(0, ROTATION_PREPARE);
	enter();
	expect_store(ROTATION_STORE_ADOPT);
	result(ROTATION_FATAL, "none");
	expect_store(ROTATION_STORE_PREPARE);
	result(ROTATION_OK, "ok");
	assert_int_equal(nth(0, ROTATION_ACT_BOUNDARY)->step, ROTATION_PREPARE);
	expect_next(1, caps.noop ? ROTATION_COMMIT : ROTATION_APPLY);
	enter();
	if (!caps.noop)
		expect_worker(ROTATION_OP_APPLY, ROTATION_CAND_PENDING);
}

/* A new rotation, its apply worker asked for. */
static void
to_apply(void)
{
	begin(false);
	restart_to_apply();
}

static void
to_verify(void)
{
	to_apply();
	result(ROTATION_OK, "ok");
	enter();
	expect_worker(ROTATION_OP_VERIFY, ROTATION_CAND_PENDING);
}

/* Recovery after an apply that got no answer. */
static void
to_probe_pending(void)
{
	to_apply();
	result(ROTATION_TRANSIENT, "no answer");
	expect_next(0, ROTATION_PROBE_PENDING);
	enter();
	expect_worker(ROTATION_OP_VERIFY, ROTATION_CAND_PENDING);
}

/* ... the new secret does not log in, there is a current one. */
static void
to_probe_current(void)
{
	to_probe_pending();
	result(ROTATION_AUTH, "refused");
	expect_next(0, ROTATION_PROBE_CURRENT);
	enter();
	expect_store(ROTATION_STORE_HAS_CURRENT);
	result(ROTATION_OK, "ok");
	expect_n(1);
	expect_worker(ROTATION_OP_VERIFY, ROTATION_CAND_CURRENT);
}

/* ... nor does the old one: reconcile. */
static void
to_reconcile(void)
{
	to_probe_current();
	result(ROTATION_AUTH, "refused too");
	expect_next(0, ROTATION_RECONCILE);
	enter();
}

static void
to_commit(void)
{
	to_verify();
	result(ROTATION_OK, "ok");
	enter();
	expect_store(ROTATION_STORE_COMMIT);
}

/* Committed; the first post-rotation script asked for. */
static void
to_scripts(size_t n)
{
	flags.scripts = n;
	to_commit();
	result(ROTATION_OK, "ok");
	expect_advance(0, ROTATION_COMMITTED,
	    "committed; running post-rotation scripts", ROTATION_COMMIT,
	    ROTATION_SCRIPTS);
	enter();
	expect_n(1);
	assert_int_equal(nth(0, ROTATION_ACT_SCRIPT)->script, 0);
}

/* Run the scripts from the current one: OK[i] says how each goes. */
static void
run_scripts(const bool *ok, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (i > 0) {
			enter();
			assert_int_equal(
			    nth(0, ROTATION_ACT_SCRIPT)->script, i);
		}
		result(ok[i] ? ROTATION_OK : ROTATION_FATAL, "exit 1");
		expect_log(0,
		    ok[i] ? ROTATION_EV_SCRIPT_OK : ROTATION_EV_SCRIPT_FAILED);
		assert_int_equal(out.v[0].script, i);
		if (!ok[i])
			assert_string_equal(out.v[0].msg, "exit 1");
		if (i + 1 < n)
			expect_next(1, ROTATION_SCRIPTS);
	}
}

/* The scripts failed (MSG says how many) with rollback: the run is
 * persisted out of sync before the undo touches the target. */
static void
expect_undo_persisted(size_t i, const char *msg)
{
	expect_advance(
	    i, ROTATION_OUT_OF_SYNC, msg, ROTATION_SCRIPTS, ROTATION_UNDO);
	assert_true(rot.undoing);
}

/* N scripts run as OK[i] says, some fail, with rollback: the run is
 * persisted with MSG, and the undo's apply asked for. */
static void
to_undo_after(const bool *ok, size_t n, const char *msg)
{
	flags.rollback_on_post_rotation_fail = true;
	to_scripts(n);
	run_scripts(ok, n);
	expect_undo_persisted(1, msg);
	enter();
	expect_n(1);
	expect_worker(ROTATION_OP_APPLY, ROTATION_CAND_PREVIOUS);
}

/* The one script fails, with rollback: the undo's apply asked for. */
static void
to_undo(void)
{
	static const bool fail[] = { false };

	to_undo_after(fail, 1,
	    "1 post-rotation script failed; setting the previous secret back");
}

/* ---- start ---- */

static void
test_start(void **state)
{
	(void)state;
	begin(false);
	expect_next(0, ROTATION_PREPARE);
	assert_int_equal(rot.attempt, 1);
	begin(true);
	expect_next(0, ROTATION_APPLY);

	/* Found unfinished at start: verified commits, else recovery. */
	rotation_init(&rot, &caps, &flags, false);
	rotation_recover(&rot, 2, true, ROTATION_TRANSIENT, "interrupted");
	rotation_start(&rot, &out);
	expect_next(0, ROTATION_COMMIT);
	assert_int_equal(rot.attempt, 2);
	rotation_init(&rot, &caps, &flags, false);
	rotation_recover(
	    &rot, 1, false, ROTATION_TRANSIENT, "interrupted in state applied");
	rotation_start(&rot, &out);
	expect_next(0, ROTATION_PROBE_PENDING);
	assert_string_equal(rot.fail_msg, "interrupted in state applied");
	enter();
	expect_worker(ROTATION_OP_VERIFY, ROTATION_CAND_PENDING);
}

/* ---- prepare ---- */

static void
test_prepare(void **state)
{
	(void)state;
	to_apply(); /* adopt: none; prepare ok -> apply */
	expect_n(1);

	begin(false);
	enter();
	result(ROTATION_FATAL, "none");
	result(ROTATION_FATAL, "store: disk full");
	expect_finish(0, ROTATION_FAILED, ROTATION_FATAL, "store: disk full");
}

static void
test_prepare_adopts_pending(void **state)
{
	(void)state;
	begin(false);
	enter();
	expect_store(ROTATION_STORE_ADOPT);
	result(ROTATION_OK, "ok");
	expect_log(0, ROTATION_EV_ADOPTED);
	expect_next(1, ROTATION_PROBE_PENDING);
	assert_int_equal(rot.fail_class, ROTATION_TRANSIENT);
	assert_string_equal(
	    rot.fail_msg, "prepare: a pending secret from an earlier run");
}

/* ---- apply ---- */

static void
test_apply_ok(void **state)
{
	(void)state;
	to_apply();
	result(ROTATION_OK, "ok");
	expect_advance(
	    0, ROTATION_APPLIED, "applied", ROTATION_APPLY, ROTATION_VERIFY);
}

static void
test_apply_transient_recovers(void **state)
{
	(void)state;
	to_apply();
	result(ROTATION_TRANSIENT, "timeout");
	expect_next(0, ROTATION_PROBE_PENDING);
	assert_int_equal(rot.fail_class, ROTATION_TRANSIENT);
	assert_string_equal(rot.fail_msg, "apply: timeout");
}

/* A refusal left the target as it was: pending dropped, class decides. */
static void
test_apply_refused(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < NELEM(refusals); i++) {
		reset(NULL);
		to_apply();
		result(refusals[i], "refused");
		nth(0, ROTATION_ACT_DISCARD);
		if (refusals[i] == ROTATION_FATAL) {
			expect_finish(
			    1, ROTATION_FAILED, ROTATION_FATAL, "refused");
			continue;
		}
		expect_retry(1, refusals[i], 2, false, false, false);
		assert_string_equal(out.v[1].msg, "refused");
	}
}

/* auth: once more at once; a second auth ends the run. */
static void
test_auth_reconcile_once(void **state)
{
	(void)state;
	to_apply();
	result(ROTATION_AUTH, "password authentication failed");
	expect_retry(1, ROTATION_AUTH, 2, false, false, false);
	assert_true(rot.reconciled);
	restart_to_apply();
	result(ROTATION_AUTH, "password authentication failed");
	nth(0, ROTATION_ACT_DISCARD);
	expect_finish(1, ROTATION_FAILED, ROTATION_AUTH,
	    "password authentication failed");
}

/* policy: once more with a new secret; a second policy ends the run,
 * and auth still has its own chance. */
static void
test_policy_regenerate_once(void **state)
{
	(void)state;
	to_apply();
	result(ROTATION_POLICY, "too short");
	expect_retry(1, ROTATION_POLICY, 2, false, false, false);
	assert_true(rot.regenerated);
	assert_false(rot.reconciled);
	restart_to_apply();
	result(ROTATION_POLICY, "too short");
	expect_finish(1, ROTATION_FAILED, ROTATION_POLICY, "too short");

	reset(NULL);
	to_apply();
	result(ROTATION_POLICY, "too short");
	restart_to_apply();
	result(ROTATION_AUTH, "refused");
	expect_retry(1, ROTATION_AUTH, 3, false, false, false);
}

/* ---- verify ---- */

static void
test_verify(void **state)
{
	size_t i;

	(void)state;
	to_verify();
	result(ROTATION_OK, "ok");
	expect_advance(
	    0, ROTATION_VERIFIED, "verified", ROTATION_VERIFY, ROTATION_COMMIT);
	/* Any failed verify is unsure: recovery asks the target. */
	for (i = 0; i < NELEM(failures); i++) {
		reset(NULL);
		to_verify();
		result(failures[i], "login failed");
		expect_next(0, ROTATION_PROBE_PENDING);
		assert_int_equal(rot.fail_class, failures[i]);
		assert_string_equal(rot.fail_msg, "verify: login failed");
	}
}

/* ---- commit ---- */

static void
test_commit(void **state)
{
	(void)state;
	to_commit();
	result(ROTATION_OK, "ok");
	assert_int_equal(nth(0, ROTATION_ACT_BOUNDARY)->step, ROTATION_COMMIT);
	expect_finish(1, ROTATION_COMMITTED, ROTATION_OK, "committed");

	reset(NULL);
	to_commit();
	result(ROTATION_FATAL, "database is locked");
	expect_finish(
	    0, ROTATION_OUT_OF_SYNC, ROTATION_FATAL, "database is locked");
}

/* ---- recovery: probe_pending ---- */

static void
test_probe_pending(void **state)
{
	size_t i;

	(void)state;
	to_probe_pending();
	result(ROTATION_OK, "ok");
	expect_log(0, ROTATION_EV_PENDING_WORKS);
	expect_advance(1, ROTATION_VERIFIED,
	    "recovered: the new secret logs in", ROTATION_PROBE_PENDING,
	    ROTATION_COMMIT);
	enter();
	expect_store(ROTATION_STORE_COMMIT);

	/* No answer is not a refusal: ask again later, both kept. */
	reset(NULL);
	to_probe_pending();
	result(ROTATION_TRANSIENT, "no route to host");
	expect_retry(0, ROTATION_TRANSIENT, 2, true, true, false);
	assert_string_equal(out.v[0].msg, "no route to host");

	for (i = 0; i < NELEM(refusals); i++) {
		reset(NULL);
		to_probe_pending();
		result(refusals[i], "refused");
		expect_next(0, ROTATION_PROBE_CURRENT);
	}
}

/* ---- recovery: probe_current ---- */

static void
test_probe_current(void **state)
{
	(void)state;
	/* The old one still logs in: drop the new, retry by why recovery
	 * began (apply: no answer, transient: backoff). */
	to_probe_current();
	result(ROTATION_OK, "ok");
	expect_log(0, ROTATION_EV_CURRENT_WORKS);
	nth(1, ROTATION_ACT_DISCARD);
	expect_retry(2, ROTATION_TRANSIENT, 2, true, false, false);
	assert_string_equal(out.v[2].msg, "apply: no answer");
	assert_string_equal(rot.fail_msg, "");

	reset(NULL);
	to_probe_current();
	result(ROTATION_TRANSIENT, "timeout");
	expect_retry(0, ROTATION_TRANSIENT, 2, true, true, false);

	reset(NULL);
	to_probe_current();
	result(ROTATION_POLICY, "refused");
	expect_next(0, ROTATION_RECONCILE);
}

/* A first rotation: no current secret, nothing to lose or reconcile. */
static void
test_probe_current_first_rotation(void **state)
{
	int rollback;

	(void)state;
	for (rollback = 0; rollback < 2; rollback++) {
		reset(NULL);
		flags.rollback_on_password_fail = rollback;
		to_probe_pending();
		result(ROTATION_AUTH, "refused");
		enter();
		expect_store(ROTATION_STORE_HAS_CURRENT);
		result(ROTATION_FATAL, "none");
		assert_false(rot.has_current);
		nth(0, ROTATION_ACT_DISCARD);
		expect_retry(1, ROTATION_TRANSIENT, 2, true, false, false);
		assert_string_equal(out.v[1].msg, "apply: no answer");
	}
}

/* ---- recovery: reconcile ---- */

/* rollback_on_password_fail sets the old one back; without, the new. */
static void
test_reconcile_candidate(void **state)
{
	(void)state;
	to_reconcile();
	assert_true(rot.rolled_back);
	expect_n(1);
	expect_worker(ROTATION_OP_APPLY, ROTATION_CAND_CURRENT);
	result(ROTATION_OK, "ok");
	expect_next(0, ROTATION_RECONCILE_VERIFY);
	enter();
	expect_worker(ROTATION_OP_VERIFY, ROTATION_CAND_CURRENT);

	reset(NULL);
	flags.rollback_on_password_fail = false;
	to_reconcile();
	assert_false(rot.rolled_back);
	expect_worker(ROTATION_OP_APPLY, ROTATION_CAND_PENDING);
	result(ROTATION_OK, "ok");
	enter();
	expect_worker(ROTATION_OP_VERIFY, ROTATION_CAND_PENDING);
}

static void
test_reconcile_fails(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < NELEM(failures); i++) {
		reset(NULL);
		to_reconcile();
		result(failures[i], "cannot set");
		expect_log(0, ROTATION_EV_OUT_OF_SYNC);
		assert_string_equal(out.v[0].msg, "cannot set");
		expect_retry(1, ROTATION_AUTH, 2, true, true, true);
	}
}

/* Without an admin credential nothing can set a secret neither
 * candidate logs in with, unless the provider can. */
static void
test_reconcile_no_admin(void **state)
{
	(void)state;
	caps.has_admin = false;
	to_reconcile();
	expect_log(0, ROTATION_EV_OUT_OF_SYNC);
	assert_string_equal(
	    out.v[0].msg, "no admin credential to reconcile with");
	expect_retry(1, ROTATION_AUTH, 2, true, true, true);

	reset(NULL);
	caps.has_admin = false;
	caps.reconcile_without_admin = true;
	to_reconcile();
	expect_n(1);
	expect_worker(ROTATION_OP_APPLY, ROTATION_CAND_CURRENT);
}

static void
test_reconcile_verify(void **state)
{
	size_t i;

	(void)state;
	/* The old secret is back: the run failed as recovery began. */
	to_reconcile();
	result(ROTATION_OK, "ok");
	enter();
	result(ROTATION_OK, "ok");
	expect_log(0, ROTATION_EV_ROLLED_BACK);
	nth(1, ROTATION_ACT_DISCARD);
	expect_retry(2, ROTATION_TRANSIENT, 2, true, false, false);

	/* The new one was set again and logs in: commit. */
	reset(NULL);
	flags.rollback_on_password_fail = false;
	to_reconcile();
	result(ROTATION_OK, "ok");
	enter();
	result(ROTATION_OK, "ok");
	expect_advance(0, ROTATION_VERIFIED,
	    "reconciled: the new secret was set again and logs in",
	    ROTATION_RECONCILE_VERIFY, ROTATION_COMMIT);

	for (i = 0; i < NELEM(failures); i++) {
		reset(NULL);
		to_reconcile();
		result(ROTATION_OK, "ok");
		enter();
		result(failures[i], "still refused");
		expect_log(0, ROTATION_EV_OUT_OF_SYNC);
		expect_retry(1, ROTATION_AUTH, 2, true, true, true);
	}
}

/* ---- an uncertain apply is never outrun ([u] in the table) ---- */

/* The recovery later (may land) asks for, at I: both kept, probed again. */
static void
expect_wait(size_t i, int attempt)
{
	size_t k;

	expect_log(i, ROTATION_EV_MAY_LAND);
	expect_retry(i + 1, ROTATION_TRANSIENT, attempt, true, true, false);
	assert_true(out.v[i + 1].waiting);
	for (k = 0; k < out.n; k++)
		assert_int_not_equal(out.v[k].act, ROTATION_ACT_DISCARD);
}

/* From a recovery retry to the current secret's probe, asked for. */
static void
again_to_probe_current(void)
{
	rotation_start(&rot, &out);
	expect_next(0, ROTATION_PROBE_PENDING);
	enter();
	expect_worker(ROTATION_OP_VERIFY, ROTATION_CAND_PENDING);
	result(ROTATION_AUTH, "refused");
	enter();
	expect_store(ROTATION_STORE_HAS_CURRENT);
	result(ROTATION_OK, "ok");
	expect_worker(ROTATION_OP_VERIFY, ROTATION_CAND_CURRENT);
}

/* An apply that got no answer, the current secret logs in, and the
 * apply's worker or its statement may still be alive: keep the new
 * secret, probe later; once the appliers are gone, drop it. */
static void
test_uncertain_kept_while_applier_alive(void **state)
{
	(void)state;
	flags.attempts = 5;
	to_probe_current();
	assert_true(rot.uncertain_pending);
	env.appliers_gone = false;
	result(ROTATION_OK, "ok");
	expect_wait(0, 2);
	assert_true(rot.uncertain_pending);

	/* Still alive at the next probe: wait again. */
	again_to_probe_current();
	result(ROTATION_OK, "ok");
	expect_wait(0, 3);

	/* Gone: the answer is final, the new secret dropped. */
	again_to_probe_current();
	env.appliers_gone = true;
	result(ROTATION_OK, "ok");
	expect_log(0, ROTATION_EV_CURRENT_WORKS);
	nth(1, ROTATION_ACT_DISCARD);
	expect_retry(2, ROTATION_TRANSIENT, 4, true, false, false);
	assert_false(rot.uncertain_pending);
}

/* The late apply lands while recovery waits: the new secret logs in at
 * the next probe and is committed, appliers alive or not. */
static void
test_uncertain_lands(void **state)
{
	(void)state;
	to_probe_current();
	env.appliers_gone = false;
	result(ROTATION_OK, "ok");
	expect_wait(0, 2);
	rotation_start(&rot, &out);
	enter();
	result(ROTATION_OK, "ok");
	expect_log(0, ROTATION_EV_PENDING_WORKS);
	expect_advance(1, ROTATION_VERIFIED,
	    "recovered: the new secret logs in", ROTATION_PROBE_PENDING,
	    ROTATION_COMMIT);

	/* At the first probe too. */
	reset(NULL);
	to_probe_pending();
	env.appliers_gone = false;
	result(ROTATION_OK, "ok");
	expect_log(0, ROTATION_EV_PENDING_WORKS);
}

/* An apply that answered (ok, then a verify failed) is sure: nothing can
 * land later, the current one logging in settles it at once. */
static void
test_sure_apply_dropped_at_once(void **state)
{
	(void)state;
	to_verify();
	result(ROTATION_AUTH, "refused");
	enter();
	result(ROTATION_AUTH, "refused");
	enter();
	result(ROTATION_OK, "ok"); /* there is a current one */
	env.appliers_gone = false;
	assert_false(rot.uncertain_pending);
	result(ROTATION_OK, "ok");
	expect_log(0, ROTATION_EV_CURRENT_WORKS);
	nth(1, ROTATION_ACT_DISCARD);
}

/* What makes the pending secret uncertain: an apply with no sure answer,
 * a run found unfinished at start (unless verified), an adopted one. */
static void
test_uncertain_sources(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < NELEM(refusals); i++) {
		reset(NULL);
		to_apply();
		result(refusals[i], "refused");
		assert_false(rot.uncertain_pending);
	}
	reset(NULL);
	to_apply();
	result(ROTATION_TRANSIENT, "deadline passed");
	assert_true(rot.uncertain_pending);

	reset(NULL);
	rotation_init(&rot, &caps, &flags, false);
	rotation_recover(&rot, 1, false, ROTATION_TRANSIENT, "interrupted");
	assert_true(rot.uncertain_pending);
	env.appliers_gone = false;
	again_to_probe_current();
	result(ROTATION_OK, "ok");
	expect_wait(0, 2);

	reset(NULL);
	rotation_init(&rot, &caps, &flags, false);
	rotation_recover(&rot, 1, true, ROTATION_TRANSIENT, "interrupted");
	assert_false(rot.uncertain_pending);

	reset(NULL);
	begin(false);
	enter();
	result(ROTATION_OK, "ok"); /* adopted */
	assert_true(rot.uncertain_pending);
}

/* A first rotation (no current secret) keeps an uncertain one too. */
static void
test_uncertain_first_rotation(void **state)
{
	(void)state;
	to_probe_pending();
	env.appliers_gone = false;
	result(ROTATION_AUTH, "refused");
	enter();
	result(ROTATION_FATAL, "none");
	expect_wait(0, 2);

	env.appliers_gone = true;
	rotation_start(&rot, &out);
	enter();
	result(ROTATION_AUTH, "refused");
	enter();
	result(ROTATION_FATAL, "none");
	nth(0, ROTATION_ACT_DISCARD);
}

/* Reconcile: setting the old one back does not drop a new one that may
 * still land; a reconcile apply with no answer makes its candidate
 * uncertain, and the new one logging in then waits for it. */
/*
 * An apply that failed transiently but that the provider says changed
 * nothing (the server refused the statement, or it was never sent) is
 * sure: the pending secret is dropped and the attempt retried with
 * backoff at once, without recovery's probes or a wait for appliers; a
 * reconcile so refused leaves nothing uncertain either.  UNTOUCHED is
 * TRANSIENT everywhere else.
 */
static void
test_untouched_apply(void **state)
{
	(void)state;
	flags.attempts = 3;
	to_apply();
	env.appliers_gone = false;
	result(ROTATION_UNTOUCHED, "lock timeout");
	nth(0, ROTATION_ACT_DISCARD);
	expect_retry(1, ROTATION_TRANSIENT, 2, true, false, false);
	assert_false(rot.uncertain_pending);

	/* The same apply without the provider's word: recovery first. */
	reset(NULL);
	to_apply();
	result(ROTATION_TRANSIENT, "lock timeout");
	expect_next(0, ROTATION_PROBE_PENDING);
	assert_true(rot.uncertain_pending);

	/* A reconcile (setting the old secret back) refused so: out of
	 * sync, and the old secret is not made uncertain by it. */
	reset(NULL);
	flags.attempts = 5;
	to_reconcile();
	expect_worker(ROTATION_OP_APPLY, ROTATION_CAND_CURRENT);
	result(ROTATION_UNTOUCHED, "lock timeout");
	assert_false(rot.uncertain_current);
	expect_log(0, ROTATION_EV_OUT_OF_SYNC);

	/* A probe that got UNTOUCHED is no answer, as TRANSIENT. */
	reset(NULL);
	to_probe_pending();
	result(ROTATION_UNTOUCHED, "no answer");
	nth(0, ROTATION_ACT_RETRY);
	assert_true(out.v[0].recovery);
}

static void
test_uncertain_reconcile(void **state)
{
	(void)state;
	flags.attempts = 5;
	to_reconcile();
	result(ROTATION_OK, "ok");
	enter();
	env.appliers_gone = false;
	result(ROTATION_OK, "ok"); /* the old one is back and logs in */
	expect_log(0, ROTATION_EV_ROLLED_BACK);
	expect_wait(1, 2);

	reset(NULL);
	flags.attempts = 5;
	to_reconcile();
	expect_worker(ROTATION_OP_APPLY, ROTATION_CAND_CURRENT);
	result(ROTATION_TRANSIENT, "deadline passed");
	assert_true(rot.uncertain_current);
	expect_log(0, ROTATION_EV_OUT_OF_SYNC);
	expect_retry(1, ROTATION_AUTH, 2, true, true, true);
	env.appliers_gone = false;
	rotation_start(&rot, &out);
	enter();
	result(ROTATION_OK, "ok"); /* the new one logs in after all */
	expect_wait(0, 3);
	env.appliers_gone = true;
	rotation_start(&rot, &out);
	enter();
	result(ROTATION_OK, "ok");
	expect_log(0, ROTATION_EV_PENDING_WORKS);
	assert_false(rot.uncertain_current);

	/* Without rollback, the new one set again and verified: commit,
	 * unless the old one's apply may land. */
	reset(NULL);
	flags.rollback_on_password_fail = false;
	to_reconcile();
	result(ROTATION_OK, "ok");
	enter();
	env.appliers_gone = false;
	result(ROTATION_OK, "ok");
	expect_advance(0, ROTATION_VERIFIED,
	    "reconciled: the new secret was set again and logs in",
	    ROTATION_RECONCILE_VERIFY, ROTATION_COMMIT);
}

/* Waiting spends attempts like any recovery: the run then ends out of
 * sync (the daemon recovers it again), and a stopping daemon ends it at
 * once; neither drops anything. */
static void
test_uncertain_out_of_attempts(void **state)
{
	(void)state;
	flags.attempts = 1;
	to_probe_current();
	env.appliers_gone = false;
	result(ROTATION_OK, "ok");
	expect_log(0, ROTATION_EV_MAY_LAND);
	expect_finish(1, ROTATION_OUT_OF_SYNC, ROTATION_TRANSIENT,
	    "the current secret logs in, but an apply of the new one may "
	    "still land");

	reset(NULL);
	to_probe_current();
	env.appliers_gone = false;
	env.stopping = true;
	result(ROTATION_OK, "ok");
	expect_log(0, ROTATION_EV_MAY_LAND);
	nth(1, ROTATION_ACT_FINISH);
	assert_int_equal(out.v[1].state, ROTATION_OUT_OF_SYNC);
}

/* ---- retries ---- */

/* transient: backoff until retry.attempts, then failed. */
static void
test_transient_exhausts_attempts(void **state)
{
	(void)state;
	flags.attempts = 3;
	begin(true);
	enter();
	result(ROTATION_TRANSIENT, "timeout");
	expect_retry(1, ROTATION_TRANSIENT, 2, true, false, false);
	rotation_start(&rot, &out);
	expect_next(0, ROTATION_APPLY);
	enter();
	result(ROTATION_TRANSIENT, "timeout");
	expect_retry(1, ROTATION_TRANSIENT, 3, true, false, false);
	rotation_start(&rot, &out);
	enter();
	result(ROTATION_TRANSIENT, "timeout");
	nth(0, ROTATION_ACT_DISCARD);
	expect_finish(1, ROTATION_FAILED, ROTATION_TRANSIENT, "timeout");

	/* One attempt only: no retry at all. */
	reset(NULL);
	flags.attempts = 1;
	begin(true);
	enter();
	result(ROTATION_TRANSIENT, "timeout");
	expect_finish(1, ROTATION_FAILED, ROTATION_TRANSIENT, "timeout");
}

/* Recovery that never gets an answer ends out_of_sync, not failed. */
static void
test_recovery_exhausts_attempts(void **state)
{
	int n;

	(void)state;
	flags.attempts = 3;
	to_probe_pending();
	for (n = 2; n <= 3; n++) {
		result(ROTATION_TRANSIENT, "no answer");
		expect_retry(0, ROTATION_TRANSIENT, n, true, true, false);
		rotation_start(&rot, &out);
		expect_next(0, ROTATION_PROBE_PENDING);
		enter();
	}
	result(ROTATION_TRANSIENT, "no answer");
	expect_finish(0, ROTATION_OUT_OF_SYNC, ROTATION_TRANSIENT, "no answer");

	/* Out of sync, on its last attempt: the class says auth. */
	reset(NULL);
	flags.attempts = 1;
	to_reconcile();
	result(ROTATION_AUTH, "refused");
	expect_log(0, ROTATION_EV_OUT_OF_SYNC);
	expect_finish(1, ROTATION_OUT_OF_SYNC, ROTATION_AUTH, "refused");

	/* A run recovered at start keeps its attempts. */
	reset(NULL);
	rotation_init(&rot, &caps, &flags, false);
	rotation_recover(&rot, 3, false, ROTATION_TRANSIENT, "interrupted");
	rotation_start(&rot, &out);
	enter();
	result(ROTATION_TRANSIENT, "no answer");
	expect_finish(0, ROTATION_OUT_OF_SYNC, ROTATION_TRANSIENT, "no answer");
}

/* A stopping daemon retries nothing. */
static void
test_stopping(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < NELEM(refusals); i++) {
		reset(NULL);
		to_apply();
		env.stopping = true;
		result(refusals[i], "refused");
		nth(0, ROTATION_ACT_DISCARD);
		expect_finish(1, ROTATION_FAILED, refusals[i], "refused");
	}
	reset(NULL);
	begin(true);
	enter();
	env.stopping = true;
	result(ROTATION_TRANSIENT, "timeout");
	expect_finish(1, ROTATION_FAILED, ROTATION_TRANSIENT, "timeout");

	reset(NULL);
	to_probe_pending();
	env.stopping = true;
	result(ROTATION_TRANSIENT, "no answer");
	expect_finish(0, ROTATION_OUT_OF_SYNC, ROTATION_TRANSIENT, "no answer");

	reset(NULL);
	caps.has_admin = false;
	to_probe_current();
	result(ROTATION_AUTH, "refused");
	env.stopping = true;
	enter();
	expect_log(0, ROTATION_EV_OUT_OF_SYNC);
	expect_finish(1, ROTATION_OUT_OF_SYNC, ROTATION_AUTH,
	    "no admin credential to reconcile with");
}

/* Stopped while waiting: a retry ends failed, a recovery out_of_sync. */
static void
test_stop_while_waiting(void **state)
{
	(void)state;
	to_apply();
	result(ROTATION_POLICY, "too short");
	rotation_stop(&rot, &out);
	expect_finish(0, ROTATION_FAILED, ROTATION_POLICY,
	    "stopped while waiting to retry");

	reset(NULL);
	to_reconcile();
	result(ROTATION_AUTH, "refused");
	rotation_stop(&rot, &out);
	expect_finish(0, ROTATION_OUT_OF_SYNC, ROTATION_AUTH,
	    "stopped while waiting to recover; recovery resumes at the "
	    "next start");
}

/* ---- verify runs ---- */

static void
test_verify_run(void **state)
{
	size_t i;

	(void)state;
	begin(true);
	enter();
	expect_n(2);
	assert_int_equal(nth(0, ROTATION_ACT_RECORD)->state, ROTATION_PREPARED);
	assert_string_equal(
	    out.v[0].msg, "verify: logging in with the current secret");
	expect_worker(ROTATION_OP_VERIFY, ROTATION_CAND_CURRENT);
	result(ROTATION_OK, "ok");
	expect_finish(0, ROTATION_COMMITTED, ROTATION_OK,
	    "verify: the current secret logs in");

	/* Nothing to reconcile or regenerate: auth and policy end it. */
	for (i = 0; i < NELEM(refusals); i++) {
		reset(NULL);
		begin(true);
		enter();
		result(refusals[i], "refused");
		nth(0, ROTATION_ACT_DISCARD);
		expect_finish(1, ROTATION_FAILED, refusals[i], "refused");
	}
}

/* ---- noop users ---- */

static void
test_noop_user(void **state)
{
	static const bool fail[] = { false };

	(void)state;
	caps.noop = true;
	caps.has_admin = false;
	flags.scripts = 1;
	flags.rollback_on_post_rotation_fail = true;
	to_apply(); /* prepare goes straight to commit */
	expect_store(ROTATION_STORE_COMMIT);
	result(ROTATION_OK, "ok");
	expect_next(2, ROTATION_SCRIPTS);
	enter();
	run_scripts(fail, 1);
	expect_next(1, ROTATION_UNDO);
	/* No target: the undo is the store's alone. */
	enter();
	expect_store(ROTATION_STORE_UNDO_COMMIT);
	result(ROTATION_OK, "ok");
	expect_log(0, ROTATION_EV_UNDONE);
	expect_finish(1, ROTATION_FAILED, ROTATION_FATAL,
	    "1 post-rotation script failed; rolled back to the previous "
	    "secret");
}

/* ---- post-rotation scripts ---- */

static void
test_scripts_succeed(void **state)
{
	static const bool ok[] = { true, true, true };

	(void)state;
	to_scripts(3);
	run_scripts(ok, 3);
	expect_finish(1, ROTATION_COMMITTED, ROTATION_OK,
	    "committed; post-rotation scripts succeeded");
}

/* Without rollback a failed script does not undo the rotation. */
static void
test_scripts_fail_kept(void **state)
{
	static const bool one[] = { true, false, true };
	static const bool two[] = { false, false };

	(void)state;
	to_scripts(3);
	run_scripts(one, 3);
	expect_finish(1, ROTATION_COMMITTED, ROTATION_FATAL,
	    "committed; 1 post-rotation script failed (rotactl run shows "
	    "the output)");

	reset(NULL);
	to_scripts(2);
	run_scripts(two, 2);
	expect_finish(1, ROTATION_COMMITTED, ROTATION_FATAL,
	    "committed; 2 post-rotation scripts failed (rotactl run shows "
	    "the output)");
}

/* From a recovery retry of an undoing run to its probe of the previous
 * secret, asked for. */
static void
again_to_undo_verify(void)
{
	rotation_start(&rot, &out);
	expect_next(0, ROTATION_UNDO_VERIFY);
	enter();
	expect_worker(ROTATION_OP_VERIFY, ROTATION_CAND_PREVIOUS);
}

/* The previous secret is refused: the current one's probe asked for. */
static void
to_undo_keep(void)
{
	result(ROTATION_AUTH, "old refused");
	expect_next(0, ROTATION_UNDO_KEEP);
	assert_string_equal(rot.fail_msg, "undo_verify: old refused");
	enter();
	expect_worker(ROTATION_OP_VERIFY, ROTATION_CAND_CURRENT);
}

/* ... and the current one too, on the run's last attempt. */
static void
expect_neither_at_last(void)
{
	result(ROTATION_AUTH, "new refused");
	expect_log(0, ROTATION_EV_OUT_OF_SYNC);
	expect_finish(
	    1, ROTATION_OUT_OF_SYNC, ROTATION_AUTH, "undo_verify: old refused");
}

/* The previous secret logs in: current again, and the run fails (MSG). */
static void
expect_rolled_back(const char *msg)
{
	result(ROTATION_OK, "ok");
	expect_store(ROTATION_STORE_UNDO_COMMIT);
	result(ROTATION_OK, "ok");
	expect_log(0, ROTATION_EV_UNDONE);
	assert_true(rot.undone);
	expect_finish(1, ROTATION_FAILED, ROTATION_FATAL, msg);
}

/* rollback_on_post_rotation_fail: the run persisted out of sync, the old
 * secret set back, verified, made current again; the run fails. */
static void
test_scripts_fail_rollback(void **state)
{
	static const bool fail[] = { false, false };

	(void)state;
	to_undo_after(fail, 2,
	    "2 post-rotation scripts failed; setting the previous secret back");
	result(ROTATION_OK, "ok");
	expect_next(0, ROTATION_UNDO_VERIFY);
	enter();
	expect_worker(ROTATION_OP_VERIFY, ROTATION_CAND_PREVIOUS);
	expect_rolled_back("2 post-rotation scripts failed; rolled back to the "
			   "previous secret");

	/* The store cannot follow the target. */
	reset(NULL);
	to_undo();
	result(ROTATION_OK, "ok");
	enter();
	result(ROTATION_OK, "ok");
	result(ROTATION_FATAL, "store: locked");
	expect_finish(0, ROTATION_OUT_OF_SYNC, ROTATION_FATAL,
	    "rolled back on the target, but the store could not follow; the "
	    "previous secret is the one that works");
}

/* rerun_on_post_rotation_fail: after the undo (the run persisted failed,
 * no longer out of sync) the scripts run again with the old secret as
 * the new; the run fails however they go. */
static void
test_scripts_rerun(void **state)
{
	static const bool fail[] = { true, false };
	static const bool ok[] = { true, true };

	(void)state;
	flags.rerun_on_post_rotation_fail = true;
	to_undo_after(fail, 2,
	    "1 post-rotation script failed; setting the previous secret back");
	result(ROTATION_OK, "ok");
	enter();
	result(ROTATION_OK, "ok");
	result(ROTATION_OK, "ok");
	expect_log(0, ROTATION_EV_UNDONE);
	expect_advance(1, ROTATION_FAILED,
	    "rolled back to the previous secret; running the post-rotation "
	    "scripts again",
	    ROTATION_UNDO_VERIFY, ROTATION_SCRIPTS);
	assert_int_equal(rot.script, 0);
	assert_int_equal(rot.scripts_failed, 0);
	enter();
	assert_int_equal(nth(0, ROTATION_ACT_SCRIPT)->script, 0);
	run_scripts(ok, 2);
	expect_finish(1, ROTATION_FAILED, ROTATION_FATAL,
	    "1 post-rotation script failed; rolled back to the previous "
	    "secret");

	/* rerun without rollback: nothing is undone, nothing rerun. */
	reset(NULL);
	flags.rerun_on_post_rotation_fail = true;
	to_scripts(2);
	run_scripts(fail, 2);
	expect_finish(1, ROTATION_COMMITTED, ROTATION_FATAL, NULL);
}

/* The undo did not take (refused, or the provider says it changed
 * nothing): does the new secret still work? */
static void
test_undo_keep(void **state)
{
	static const enum rotation_class sure[] = {
		ROTATION_UNTOUCHED,
		ROTATION_AUTH,
		ROTATION_FATAL,
	};
	size_t i;

	(void)state;
	for (i = 0; i < NELEM(sure); i++) {
		reset(NULL);
		to_undo();
		env.appliers_gone = false; /* nothing of it can land */
		result(sure[i], "timeout");
		expect_next(0, ROTATION_UNDO_KEEP);
		/* Kept under undo_keep's name, as the daemon always had
		 * it. */
		assert_string_equal(rot.fail_msg, "undo_keep: timeout");
		assert_false(rot.uncertain_previous);
		enter();
		expect_worker(ROTATION_OP_VERIFY, ROTATION_CAND_CURRENT);
		result(ROTATION_OK, "ok");
		expect_finish(0, ROTATION_COMMITTED, ROTATION_FATAL,
		    "a post-rotation script failed and the rollback did not "
		    "take: the new secret is kept, and works");
	}

	/* undo_verify fails, and the new one does not log in either: out
	 * of sync, both kept, asked again from undo_verify. */
	reset(NULL);
	to_undo();
	result(ROTATION_OK, "ok");
	enter();
	to_undo_keep();
	result(ROTATION_AUTH, "new refused");
	expect_log(0, ROTATION_EV_OUT_OF_SYNC);
	assert_string_equal(out.v[0].msg, "undo_verify: old refused");
	expect_retry(1, ROTATION_AUTH, 2, true, true, true);
	again_to_undo_verify();

	/* ... on its last attempt. */
	reset(NULL);
	flags.attempts = 1;
	to_undo();
	result(ROTATION_OK, "ok");
	enter();
	to_undo_keep();
	expect_neither_at_last();
}

/*
 * An undo's apply with no sure answer may still land ([u]): the previous
 * secret is probed first, and the new one logging in does not settle the
 * run while the undo's applier may live; once it lands the old secret is
 * committed back, and once the appliers are gone the new one is kept.
 */
static void
test_undo_uncertain(void **state)
{
	(void)state;
	flags.attempts = 5;
	to_undo();
	env.appliers_gone = false; /* the undo's ALTER may still land */
	result(ROTATION_TRANSIENT, "no answer");
	assert_true(rot.uncertain_previous);
	expect_next(0, ROTATION_UNDO_VERIFY);
	enter();
	expect_worker(ROTATION_OP_VERIFY, ROTATION_CAND_PREVIOUS);
	to_undo_keep(); /* not landed yet */
	result(ROTATION_OK, "ok");
	expect_log(0, ROTATION_EV_MAY_LAND);
	assert_string_equal(out.v[0].msg,
	    "the current secret logs in, but setting the previous one back "
	    "may still land");
	expect_retry(1, ROTATION_TRANSIENT, 2, true, true, false);
	assert_true(out.v[1].waiting);
	assert_true(rot.uncertain_previous);

	/* It lands: the old secret logs in, and is current again. */
	again_to_undo_verify();
	expect_rolled_back("1 post-rotation script failed; rolled back to the "
			   "previous secret");

	/* The appliers are gone and it never landed: the new one stays. */
	reset(NULL);
	to_undo();
	env.appliers_gone = false;
	result(ROTATION_TRANSIENT, "deadline passed");
	enter();
	to_undo_keep();
	env.appliers_gone = true;
	result(ROTATION_OK, "ok");
	expect_finish(0, ROTATION_COMMITTED, ROTATION_FATAL,
	    "a post-rotation script failed and the rollback did not take: "
	    "the new secret is kept, and works");
	assert_false(rot.uncertain_previous);

	/* Out of attempts while it may land: out of sync, both kept. */
	reset(NULL);
	flags.attempts = 1;
	to_undo();
	env.appliers_gone = false;
	result(ROTATION_TRANSIENT, "no answer");
	enter();
	to_undo_keep();
	result(ROTATION_OK, "ok");
	expect_log(0, ROTATION_EV_MAY_LAND);
	expect_finish(1, ROTATION_OUT_OF_SYNC, ROTATION_TRANSIENT, NULL);
}

/* A probe of the undo that gets no answer is not a refusal: recovery
 * asks again later, from undo_verify; a stop ends it out of sync. */
static void
test_undo_no_answer(void **state)
{
	(void)state;
	to_undo();
	result(ROTATION_OK, "ok");
	enter();
	result(ROTATION_TRANSIENT, "no answer");
	expect_retry(0, ROTATION_TRANSIENT, 2, true, true, false);
	assert_false(out.v[0].waiting);
	rotation_stop(&rot, &out);
	expect_finish(0, ROTATION_OUT_OF_SYNC, ROTATION_TRANSIENT,
	    "stopped while waiting to recover; recovery resumes at the "
	    "next start");

	reset(NULL);
	to_undo();
	result(ROTATION_AUTH, "refused");
	enter();
	result(ROTATION_UNTOUCHED, "no answer");
	expect_retry(0, ROTATION_TRANSIENT, 2, true, true, false);
}

/* A run found out of sync after its commit, at attempt ATTEMPT (its undo
 * had not settled): its probe of the previous secret asked for. */
static void
recovered_undo(int attempt)
{
	rotation_init(&rot, &caps, &flags, false);
	rotation_recover_undo(&rot, attempt);
	assert_true(rot.undoing);
	assert_true(rot.uncertain_previous);
	again_to_undo_verify();
	assert_int_equal(rot.attempt, attempt);
}

/*
 * Found at start out of sync after its commit: the previous secret is
 * probed, then the current one, the undo's apply uncertain; the one that
 * logs in is kept.
 */
static void
test_undo_recovered(void **state)
{
	(void)state;
	recovered_undo(2);
	expect_rolled_back("a post-rotation script failed; rolled back to the "
			   "previous secret");

	/* The current one logs in: kept once the appliers are gone. */
	reset(NULL);
	recovered_undo(1);
	to_undo_keep();
	env.appliers_gone = false;
	result(ROTATION_OK, "ok");
	expect_log(0, ROTATION_EV_MAY_LAND);
	expect_retry(1, ROTATION_TRANSIENT, 2, true, true, false);
	env.appliers_gone = true;
	again_to_undo_verify();
	to_undo_keep();
	result(ROTATION_OK, "ok");
	expect_finish(0, ROTATION_COMMITTED, ROTATION_FATAL, NULL);

	/* Neither: out of sync again, both kept. */
	reset(NULL);
	flags.attempts = 1;
	recovered_undo(1);
	to_undo_keep();
	expect_neither_at_last();
}

/* ---- odds and ends ---- */

/* A result when the engine asked for none is logged, nothing else. */
static void
test_unexpected_result(void **state)
{
	(void)state;
	begin(false);
	result(ROTATION_OK, "ok");
	expect_n(1);
	expect_log(0, ROTATION_EV_UNEXPECTED);
}

/* A worker's message is kept whole for the log and the end of recovery;
 * a failure carried to a retry is cut to what a record holds. */
static void
test_long_messages(void **state)
{
	char big[ROTATION_MESSAGE_MAX + 1];

	(void)state;
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	flags.attempts = 1;
	to_reconcile();
	result(ROTATION_AUTH, big);
	assert_int_equal(strlen(out.v[0].msg), ROTATION_MESSAGE_MAX);
	assert_int_equal(strlen(out.v[1].msg), ROTATION_MESSAGE_MAX);

	reset(NULL);
	to_apply();
	result(ROTATION_FATAL, big);
	assert_int_equal(strlen(out.v[1].msg), ROTATION_RECORD_MAX);

	reset(NULL);
	to_apply();
	result(ROTATION_TRANSIENT, big);
	assert_int_equal(strlen(rot.fail_msg), ROTATION_RECORD_MAX);
	assert_memory_equal(rot.fail_msg, "apply: xxx", 10);
}

static void
test_step_names(void **state)
{
	(void)state;
	assert_string_equal(rotation_step_name(ROTATION_START), "start");
	assert_string_equal(
	    rotation_step_name(ROTATION_PROBE_PENDING), "probe_pending");
	assert_string_equal(
	    rotation_step_name(ROTATION_RECONCILE_VERIFY), "reconcile_verify");
	assert_string_equal(
	    rotation_step_name(ROTATION_UNDO_KEEP), "undo_keep");
	assert_string_equal(rotation_step_name((enum rotation_step)99), "?");
}

#define T(f) cmocka_unit_test_setup(f, reset)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_start),
		T(test_prepare),
		T(test_prepare_adopts_pending),
		T(test_apply_ok),
		T(test_apply_transient_recovers),
		T(test_apply_refused),
		T(test_auth_reconcile_once),
		T(test_policy_regenerate_once),
		T(test_verify),
		T(test_commit),
		T(test_probe_pending),
		T(test_probe_current),
		T(test_probe_current_first_rotation),
		T(test_reconcile_candidate),
		T(test_reconcile_fails),
		T(test_reconcile_no_admin),
		T(test_reconcile_verify),
		T(test_uncertain_kept_while_applier_alive),
		T(test_uncertain_lands),
		T(test_sure_apply_dropped_at_once),
		T(test_uncertain_sources),
		T(test_uncertain_first_rotation),
		T(test_untouched_apply),
		T(test_uncertain_reconcile),
		T(test_uncertain_out_of_attempts),
		T(test_transient_exhausts_attempts),
		T(test_recovery_exhausts_attempts),
		T(test_stopping),
		T(test_stop_while_waiting),
		T(test_verify_run),
		T(test_noop_user),
		T(test_scripts_succeed),
		T(test_scripts_fail_kept),
		T(test_scripts_fail_rollback),
		T(test_scripts_rerun),
		T(test_undo_keep),
		T(test_undo_uncertain),
		T(test_undo_no_answer),
		T(test_undo_recovered),
		T(test_unexpected_result),
		T(test_long_messages),
		T(test_step_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
