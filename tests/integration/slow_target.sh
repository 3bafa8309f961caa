#!/bin/bash
# A slow target must not cost a credential (issue 11), against a real
# PostgreSQL role.
#
#   tests/integration/slow_target.sh BUILDDIR
#
# The superuser holds a lock on the role app3 (ALTER ROLE inside an open
# transaction, then pg_sleep) for longer than the step's deadline
# (timeout: 4s), so the worker's own ALTER ROLE waits on it.  A statement
# queued on the server outlives the worker that sent it: if the daemon
# gave up on the apply, dropped its new secret because the old one still
# logged in, and the queued ALTER ROLE then committed that secret, the
# stored secret would no longer log in.  Two cases:
#
#   timeout  `rotactl rotate --wait app3` while the role is locked: the
#            apply's deadline passes;
#   kill     the daemon is SIGKILLed while its worker waits on the lock,
#            then started again (its worker must not outlive it, and
#            recovery must not run beside one).
#
# A third case checks that a start ends a worker of the previous life
# that its record (<store>.workers) lists, before recovery.
#
# A fourth, with the test provider, that the window in which an apply may
# still land runs from its worker's start, as the provider's bound on its
# server-side work does, not from when its request was asked: the
# request waits (ROTAD_FAULT slow-request:apply, as behind a busy pool)
# past the step's deadline, the apply gets no sure answer and the old
# secret logs in; recovery must wait for the apply rather than drop the
# new secret at once.
#
# Each case waits, by the daemon's run states and the server's activity
# (never by timing), until the lock is released, every statement of ours
# has ended and recovery is over; then the store's current secret must
# log in (checked with psql) and no pending secret may be left.  Speaks
# TAP.
set -u
B=$(realpath "$1")
ROTAD=$B/scheduler/rotad
ROTACTL=$B/ctl/rotactl
HERE=$(dirname "$(realpath "$0")")
. "$HERE/lib/postgres.sh"
. "$HERE/lib/tap.sh"

if [ "$(id -u)" -ne 0 ] || [ ! -x "$PG_BIN/postgres" ]; then
	echo "1..0 # SKIP needs root and postgresql-15"
	exit 0
fi

# PostgreSQL runs as postgres, which must reach its directory: not inside
# a private mktemp -d, so the cluster has a directory of its own.
T=$(mktemp -d /tmp/rotad-slow.XXXXXX)
P=$(mktemp -d /tmp/rotad-slow-pg.XXXXXX)
rmdir "$P"
PID= LOCK= CTL= ORPHAN=
stop_pid() { # PID: SIGKILL it and reap it, if it runs
	if [ -n "$1" ]; then
		kill -KILL "$1" 2>/dev/null
		wait "$1" 2>/dev/null
	fi
}
cleanup() {
	stop_pid "$ORPHAN"
	stop_pid "$CTL"
	stop_pid "$LOCK"
	stop_pid "$PID"
	pg_stop
	rm -rf "$T" "$P" "$P.tls"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP
export ROTAD_SOCKET=$T/rotad.sock
ctl() { "$ROTACTL" "$@"; }

start() { # [FAULTS]: start rotad -f, wait until it answers
	local i
	ROTAD_FAULT=${1:-} "$ROTAD" -f -c "$T/rotad.yaml" 2>>"$T/log" &
	PID=$!
	for i in $(seq 1 100); do
		ctl status >/dev/null 2>&1 && return 0
		kill -0 "$PID" 2>/dev/null || break
		sleep 0.1
	done
	return 1
}
stop() {
	kill -TERM "$PID" 2>/dev/null
	wait "$PID" 2>/dev/null
	PID=
}

# unlocked: the lock's holder has ended, and so has every session of
# rotad's (a statement queued behind the lock has then committed or
# failed).
unlocked() {
	local i
	wait "$LOCK" 2>/dev/null
	LOCK=
	for i in $(seq 1 600); do
		[ "$(pg_sql "select count(*) from pg_stat_activity where application_name = 'rotad'")" = 0 ] && return 0
		sleep 0.1
	done
	return 1
}
# settled RUN: until run RUN has ended (committed or failed: an
# out_of_sync run is recovered again) and app3 has no pending secret;
# gives up after 3 minutes (a bound on the wait, not a timing check).
settled() {
	local end=$((SECONDS + 180)) st pend
	while [ "$SECONDS" -lt "$end" ]; do
		st=$(ctl --json run "$1" 2>/dev/null | jget 'j["run"]["state"]' 2>/dev/null)
		pend=$(ctl --json secret history app3 2>/dev/null |
		    jget 'sum(1 for v in j["versions"] if v["state"] == "pending")' 2>/dev/null)
		case $st in
		committed | failed) [ "$pend" = 0 ] && return 0 ;;
		esac
		sleep 0.1
	done
	echo "run $1: state ${st:-?}, ${pend:-?} pending" >&2
	return 1
}
# logs_in: the store's current secret for app3 logs in (never printed).
logs_in() {
	local r
	ctl secret get app3 >"$T/current.pw" 2>"$T/get.err" || return 1
	pg_login app3 "$T/current.pw" 2>>"$T/login.err"
	r=$?
	rm -f "$T/current.pw"
	return $r
}
# fresh_password: a case starts from a known state: app3 has a new
# password, set on the server and in the store alike.
fresh_password() {
	python3 -c 'import secrets; print(secrets.token_urlsafe(18))' >"$T/app3.pw"
	pg_set_password app3 "$T/app3.pw" >/dev/null &&
	    ctl secret set app3 <"$T/app3.pw" >/dev/null
}
# The last run of app3, by its id.
last_run() {
	ctl --json runs app3 -n 1 | jget 'j["runs"][0]["id"]'
}

mkdir -p "$T/conf.d"
chmod 755 "$T"
if ! pg_start "$P" log_statement=all log_lock_waits=on >"$T/pg-start.log" 2>&1; then
	echo "1..1"
	not_ok "PostgreSQL starts" "$(cat "$T/pg-start.log")"
	exit 1
fi
python3 -c 'import secrets; print(secrets.token_urlsafe(18))' >"$T/admin.pw"
python3 -c 'import secrets; print(secrets.token_urlsafe(18))' >"$T/app3.pw"
python3 -c 'import secrets; print(secrets.token_urlsafe(18))' >"$T/tess.pw"
chmod 600 "$T"/*.pw
pg_sql "CREATE ROLE rotadmin LOGIN CREATEROLE" >/dev/null
pg_sql "CREATE ROLE app3 LOGIN" >/dev/null
pg_set_password rotadmin "$T/admin.pw" >/dev/null
pg_set_password app3 "$T/app3.pw" >/dev/null

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
  app3:
    login: app3
    resource: pg
    password_file: $T/app3.pw
    timeout: 4s
    retry: {attempts: 2, initial: 1s, max: 2s}
EOF
cat >"$T/conf.d/test.yaml" <<EOF
resources: {box: {kind: machine, protocol: test}}
users:
  tess: {login: tess, resource: box, password_file: $T/tess.pw, timeout: 2s,
    retry: {attempts: 3, initial: 1s, max: 1s}}
EOF
"$ROTAD" --init -c "$T/rotad.yaml" >"$T/init.log" 2>&1 || {
	echo "1..1"
	not_ok "rotad --init" "$(cat "$T/init.log")"
	exit 1
}

echo "1..5"

# 1: the apply's deadline passes while the role is locked.
bad=
start || bad="the daemon does not start"
[ -z "$bad" ] && { fresh_password || bad="the password is not reset"; }
[ -z "$bad" ] && { pg_lock_role app3 30 || bad="the lock is not taken"; }
if [ -z "$bad" ]; then
	ctl --json rotate --wait app3 >"$T/rotate.out" 2>&1
	run=$(jget 'j["run"]["id"]' <"$T/rotate.out" 2>/dev/null) || run=$(last_run)
	unlocked || bad="rotad's sessions did not end"
	settled "$run" 2>>"$T/settle.err" || bad="$bad; recovery did not settle: $(tail -1 "$T/settle.err")"
	logs_in || bad="$bad; the stored secret does not log in (lost)"
fi
stop
verdict "timeout: the apply outlives its deadline on a locked role; 0 lost" \
    "$([ -z "$bad" ]; echo $?)" "$bad" "$(grep -E 'ROTAD-00(1[2-5]|4[01])' "$T/log" | tail -12)"

# 2: the daemon is killed while its worker waits on the lock.
bad=
: >"$T/log"
start || bad="the daemon does not start"
[ -z "$bad" ] && { fresh_password || bad="the password is not reset"; }
[ -z "$bad" ] && { pg_lock_role app3 30 || bad="the lock is not taken"; }
if [ -z "$bad" ]; then
	ctl --json rotate --wait app3 >"$T/rotate.out" 2>&1 &
	CTL=$!
	pg_lock_waiter || bad="no worker waits on the lock"
	run=$(last_run)
	stop_pid "$PID"
	PID=
	wait "$CTL" 2>/dev/null
	CTL=
	start || bad="$bad; the daemon does not restart"
	unlocked || bad="$bad; rotad's sessions did not end"
	settled "$run" 2>>"$T/settle.err" || bad="$bad; recovery did not settle: $(tail -1 "$T/settle.err")"
	logs_in || bad="$bad; the stored secret does not log in (lost)"
fi
stop
verdict "kill: the daemon dies while its worker waits on a locked role; 0 lost" \
    "$([ -z "$bad" ]; echo $?)" "$bad" "$(grep -E 'ROTAD-00(1[2-5]|4[01])' "$T/log" | tail -12)"

# 3: a worker the previous life left (one the kernel did not end with it)
# is ended by the next start, before recovery: a stand-in named
# rotad-worker, listed in the record with its start time.
bad=
cp /bin/sleep "$T/rotad-worker"
"$T/rotad-worker" 600 &
ORPHAN=$!
start_time=$(sed 's/.*) //' "/proc/$ORPHAN/stat" | cut -d' ' -f20)
printf '%s %s\n' "$ORPHAN" "$start_time" >"$T/rotad.db.workers"
: >"$T/log"
start || bad="the daemon does not start"
wait "$ORPHAN" 2>/dev/null
st=$?
ORPHAN=
[ "$st" = 137 ] || bad="$bad; the orphan was not SIGKILLed (status $st)"
grep -q "ROTAD-0040 ended worker [0-9]*, left running by the previous life" "$T/log" ||
    bad="$bad; its end is not logged"
[ "$(stat -c %a "$T/rotad.db.workers")" = 600 ] || bad="$bad; the record is not mode 0600"
stop
verdict "orphan: a start ends the previous life's worker before recovery" \
    "$([ -z "$bad" ]; echo $?)" "$bad" "$(tail -5 "$T/log")"

# 4: the apply's request waits 4 s (its timeout and 2 s) before its worker
# starts; the apply fails with an outcome it does not know, the new
# secret is refused, the old one logs in.  Timed from the ask, the apply's
# window would have closed before its worker started.
bad=
: >"$T/log"
start slow-request:apply,fail:apply,auth:probe_pending || bad="the daemon does not start"
if [ -z "$bad" ]; then
	out=$(ctl --json rotate --wait tess 2>&1)
	[ "$(echo "$out" | tail -n 1 | jget 'j["run"]["state"]' 2>/dev/null)" = committed ] ||
	    bad="the run did not commit: $(echo "$out" | tail -n 1)"
	grep -q "the request of run .*'s apply waits 4s" "$T/log" ||
	    bad="$bad; the request was not delayed"
	grep -q "tess: the current secret logs in, but an apply of the new one may still land" "$T/log" ||
	    bad="$bad; recovery did not wait for the apply"
fi
stop
verdict "slow request: an apply may land until its worker's deadline, not its request's" \
    "$([ -z "$bad" ]; echo $?)" "$bad" "$(grep -E 'tess|fault' "$T/log" | tail -12)"

# 5: and nothing leaked: the server's log holds verifiers only.
if grep -qF -f "$T/app3.pw" "$PG_LOG" || grep -qF -f "$T/admin.pw" "$PG_LOG"; then
	not_ok "the server's log holds no password"
else
	ok "the server's log holds no password"
fi
[ "$failed" -eq 0 ]
