#!/bin/bash
# The crash test of the rotation protocol, against a real PostgreSQL role.
#
#   tests/integration/crash.sh BUILDDIR     (a build with -Dtest_hooks=true)
#
# For every step boundary and each way of dying there — the daemon
# SIGKILLed right after a step is persisted, or when a worker has done its
# step but before the daemon has read the answer; a worker SIGKILLed as it
# starts or once it has answered — the daemon rotates the role `app`
# through fault injection (ROTAD_FAULT), is restarted when it died, and
# recovers.  Then the store's current secret must log in to PostgreSQL
# (checked with psql), no pending secret may be left, and the run must
# have ended committed or cleanly failed.  A table of cases and outcomes
# is printed.  Zero credentials lost is the bar.  Speaks TAP.
#
# The lock-* rows do the same against a slow target: the superuser holds
# a lock on the role (ALTER ROLE in an open transaction) for longer than
# the step's deadline, so the worker's ALTER ROLE waits on it, and the
# daemon dies after prepare (lock-daemon:prepare), while the worker waits
# (lock-kill:apply), or once the worker has answered, unread
# (lock-daemon-mid:apply); or the apply's deadline passes
# (lock-timeout:apply).  A statement queued on the server outlives its
# worker: these rows check that no secret it sets is ever dropped.
#
# The undo-* rows rotate the role `undoer`, whose post-rotation script
# fails (rollback_on_post_rotation_fail): the daemon dies once the undo is
# persisted, before the previous secret is set back (undo-daemon:scripts),
# or once the undo's worker has set it back, unread (undo-daemon-mid:undo);
# or that worker is killed once it has answered (undo-worker-late:undo).
# The store must settle on whichever secret the target has.
set -u
B=$(realpath "$1")
ROTAD=$B/scheduler/rotad
ROTACTL=$B/ctl/rotactl
HERE=$(dirname "$(realpath "$0")")
. "$HERE/lib/postgres.sh"
# PostgreSQL runs as postgres, which must reach its directory: not inside
# a private mktemp -d, so the cluster has a directory of its own.
T=$(mktemp -d /tmp/rotad-crash.XXXXXX)
P=$(mktemp -d /tmp/rotad-crash-pg.XXXXXX)
rmdir "$P"
PID= LOCK= CTL=
cleanup() {
	for p in "$CTL" "$LOCK" "$PID"; do
		[ -n "$p" ] || continue
		kill -KILL "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	pg_stop
	rm -rf "$T" "$P" "$P.tls"
}
trap cleanup EXIT
export ROTAD_SOCKET=$T/rotad.sock
ctl() { "$ROTACTL" "$@"; }

. "$(dirname "$(realpath "$0")")/lib/tap.sh"

start() { # [FAULT]: start rotad -f, wait until it answers
	local i
	if [ -n "${1:-}" ]; then
		ROTAD_FAULT=$1 "$ROTAD" -f -c "$T/rotad.yaml" 2>>"$T/log" &
	else
		"$ROTAD" -f -c "$T/rotad.yaml" 2>>"$T/log" &
	fi
	PID=$!
	for i in $(seq 1 100); do
		ctl status >/dev/null 2>&1 && return 0
		kill -0 "$PID" 2>/dev/null || break
		sleep 0.1
	done
	return 1
}
# Whether the daemon still runs (a SIGKILLed child is a zombie until
# waited for, and kill -0 would say yes).
alive() {
	[ -r "/proc/$PID/stat" ] && ! grep -q '^[0-9]* (.*) Z' "/proc/$PID/stat"
}
stop() {
	kill -TERM "$PID" 2>/dev/null
	wait "$PID" 2>/dev/null
	PID=
}
# Wait until the daemon has nothing running or queued and the store has
# no unfinished run: recovery is over (an out_of_sync run is recovered
# again).  Gives up after 3 minutes: a bound, not a timing check.
settle() {
	local end=$((SECONDS + 180))
	while [ "$SECONDS" -lt "$end" ]; do
		if [ "$(ctl --json status 2>/dev/null | jget 'j["running"] + j["queued"]')" = 0 ] &&
		    [ "$(sqlite3 "$T/rotad.db" "select count(*) from runs where state not in ('committed', 'failed')")" = 0 ]; then
			return 0
		fi
		sleep 0.1
	done
	return 1
}
# unlocked: the lock's holder has ended, and so has every session of
# rotad's (a statement queued behind the lock has committed or failed).
unlocked() {
	local i
	[ -n "$LOCK" ] || return 0
	wait "$LOCK" 2>/dev/null
	LOCK=
	for i in $(seq 1 600); do
		[ "$(pg_sql "select count(*) from pg_stat_activity where application_name = 'rotad'")" = 0 ] && return 0
		sleep 0.1
	done
	return 1
}
pending_left() { # USER
	sqlite3 "$T/rotad.db" "select count(*) from secrets where user_name = '$1' and state = 'pending'" 2>/dev/null
}

mkdir -p "$T/conf.d"
chmod 755 "$T"
if ! pg_start "$P" log_statement=all >"$T/pg-start.log" 2>&1; then
	echo "1..1"
	not_ok "PostgreSQL starts" "$(cat "$T/pg-start.log")"
	exit 1
fi
# The admin role and the target role, each with an initial password.
python3 -c 'import secrets; print(secrets.token_urlsafe(18))' >"$T/admin.pw"
python3 -c 'import secrets; print(secrets.token_urlsafe(18))' >"$T/app.pw"
python3 -c 'import secrets; print(secrets.token_urlsafe(18))' >"$T/undoer.pw"
chmod 600 "$T"/*.pw
pg_sql "CREATE ROLE rotadmin LOGIN CREATEROLE" >/dev/null
pg_sql "CREATE ROLE app LOGIN" >/dev/null
pg_sql "CREATE ROLE undoer LOGIN" >/dev/null
pg_set_password rotadmin "$T/admin.pw" >/dev/null
pg_set_password app "$T/app.pw" >/dev/null
pg_set_password undoer "$T/undoer.pw" >/dev/null
# The post-rotation script of undoer fails: its rotation is rolled back.
printf 'exit 1\n' >"$T/fail.sh"
chmod 644 "$T/fail.sh"

cat >"$T/rotad.yaml" <<EOF
store: {path: $T/rotad.db, key_file: $T/master.key}
control: {socket: $T/rotad.sock}
worker: {path: $B/rotad-worker, user: nobody}
EOF
cat >"$T/conf.d/pg.yaml" <<EOF
resources:
  pg:
    kind: database
    host: 127.0.0.1
    port: $PGPORT_T
    protocol: postgresql
    tls: {ca_file: $PG_CA_FILE}
    database: postgres
    admin_user: pg-admin
users:
  pg-admin: {login: rotadmin, resource: pg, managed: false, password_file: $T/admin.pw}
  app:
    login: app
    resource: pg
    password_file: $T/app.pw
    timeout: 20s
    retry: {attempts: 4, initial: 1s, max: 2s}
  undoer: {login: undoer, resource: pg, password_file: $T/undoer.pw,
    timeout: 20s, retry: {attempts: 4, initial: 1s, max: 2s},
    rollback_on_post_rotation_fail: true,
    scripts: [{path: $T/fail.sh, command: /bin/sh}]}
EOF
"$ROTAD" --init -c "$T/rotad.yaml" >"$T/init.log" 2>&1 || {
	echo "1..1"
	not_ok "rotad --init" "$(cat "$T/init.log")"
	exit 1
}

# WHAT:STEP, as scheduler/run.c's run_fault_init() reads them.
CASES="daemon:prepare daemon:apply daemon:verify daemon:commit
daemon-mid:apply daemon-mid:verify
worker-early:apply worker-late:apply worker-early:verify worker-late:verify
hang:apply fail:verify
daemon:apply+auth:probe_pending
lock-daemon:prepare lock-kill:apply lock-daemon-mid:apply lock-timeout:apply
undo-daemon:scripts undo-daemon-mid:undo undo-worker-late:undo"
set -- $CASES
echo "1..$(($# + 1))"

table="case                            died     run state         attempts  current logs in  pending left"
for c in $CASES; do
	u=app
	case $c in undo-*) u=undoer ;; esac
	before=$(sqlite3 "$T/rotad.db" "select count(*) from runs where user_name = '$u'")
	lock=
	case $c in lock-*) lock=yes ;; esac
	if [ "${c%%:*}" = hang ] || [ -n "$lock" ]; then
		# A hung worker, or one waiting on a lock, meets its
		# deadline: make it short.
		sed -i 's/timeout: 20s/timeout: 3s/' "$T/conf.d/pg.yaml"
	fi
	# A+B: fault A, and after the daemon has died of it, fault B.
	base=${c#lock-} f2=
	base=${base#undo-}
	f1=${base%%+*}
	[ "$f1" != "$base" ] && f2=${base#*+}
	case $f1 in kill:* | timeout:*) f1= ;; esac # the test's own doing
	start "$f1" || { not_ok "$c: the daemon starts" "$(tail -20 "$T/log")"; continue; }
	if [ -n "$lock" ] && ! pg_lock_role app 15; then
		not_ok "$c: the lock is taken"
		stop
		continue
	fi
	if [ "$c" = lock-kill:apply ]; then
		# SIGKILL the daemon while its worker waits on the lock.
		ctl --json rotate --wait app >"$T/rotate.out" 2>&1 &
		CTL=$!
		pg_lock_waiter
		kill -KILL "$PID"
		wait "$CTL" 2>/dev/null
		CTL=
	else
		ctl --json rotate --wait "$u" >"$T/rotate.out" 2>&1
	fi
	died=no
	sleep 0.2
	if ! alive; then
		died=daemon
		wait "$PID" 2>/dev/null
		PID=
		start "$f2" || { not_ok "$c: the daemon restarts" "$(tail -20 "$T/log")"; continue; }
	fi
	# The lock's end lets what waited on it commit or fail: only then
	# is the target's password final.
	unlocked
	settle
	settled=$?
	stop
	sed -i 's/timeout: 3s/timeout: 20s/' "$T/conf.d/pg.yaml"
	# Every run of this case: how it ended.
	states=$(sqlite3 "$T/rotad.db" "select group_concat(state, ',') from (select state from runs where user_name = '$u' order by created, rowid limit -1 offset $before)")
	attempts=$(sqlite3 "$T/rotad.db" "select group_concat(attempts, ',') from (select attempts from runs where user_name = '$u' order by created, rowid limit -1 offset $before)")
	# The store's current secret, straight to a file (never printed).
	start && ctl secret get "$u" >"$T/current.pw" 2>"$T/get.err"
	stop
	if pg_login "$u" "$T/current.pw"; then logs=yes; else logs=NO; fi
	rm -f "$T/current.pw"
	left=$(pending_left "$u")
	table="$table
$(printf '%-31s %-8s %-17s %-9s %-16s %s' "$c" "$died" "$states" "$attempts" "$logs" "$left")"
	bad=
	[ "$settled" = 0 ] || bad="recovery did not settle"
	[ "$logs" = yes ] || bad="$bad; the current secret does not log in"
	[ "$left" = 0 ] || bad="$bad; a pending secret is left"
	# The rollback case: the injected refusal of the new secret, with the
	# target holding it, must go through reconcile, which sets the old
	# one back (rollback_on_password_fail) before the retry.
	if [ "$c" = daemon:apply+auth:probe_pending ] &&
	    ! grep -q "app: the old secret was restored on the target" "$T/log"; then
		bad="$bad; no rollback through reconcile"
	fi
	case ",$states," in
	*,prepared,* | *,applied,* | *,verified,* | *,out_of_sync,* | ,,)
		bad="$bad; a run did not end: $states" ;;
	esac
	if [ -z "$bad" ]; then
		ok "$c: recovered; the stored secret logs in ($states)"
	else
		not_ok "$c: $bad" "$(grep -E 'ROTAD-00(1[2-5]|4[01])' "$T/log" | tail -12)"
	fi
done

# The server's log saw every ALTER ROLE, never a password: a secret may
# appear there only as a SCRAM verifier.
if grep -qF -f "$T/app.pw" "$PG_LOG" || grep -qF -f "$T/admin.pw" "$PG_LOG" ||
    grep -qF -f "$T/undoer.pw" "$PG_LOG" ||
    ! grep -q 'ALTER ROLE "app" PASSWORD .SCRAM-SHA-256' "$PG_LOG"; then
	not_ok "the server's log holds no password, only verifiers"
else
	ok "the server's log holds no password, only verifiers"
fi

printf '%s\n' "$table" | sed 's/^/# /'
[ "$failed" -eq 0 ]
