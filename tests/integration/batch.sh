#!/bin/bash
# Batched applies (issue 13): runs of one resource share one worker a
# step, with one admin session for the batch's applies, against a real
# PostgreSQL 15 and a real MariaDB.
#
#   tests/integration/batch.sh BUILDDIR
#
# To make batches without depending on timing, the resource runs one
# worker at a time (max_concurrent: 1) and a first run, of the user
# `blocker`, is held on the server: its ALTER ROLE waits on a lock the
# superuser holds (PostgreSQL), or its ALTER USER on a global read lock
# (MariaDB).  While it waits, the other users are triggered and queue;
# then the lock is released, and the queue starts them `batch:` at a
# time.  The server's log counts the admin's logins: one for the
# blocker, one per batch.  Cases:
#
#   pg batches   20 users, batch: 8: every run commits, every stored
#                secret logs in, 1 + 3 admin logins.
#   pg member    a batch with a role that no longer exists: its run
#                fails, the other members commit, 1 + 1 admin logins.
#   pg burst     6 users triggered at once on one connection, nothing
#                held: one batch, 1 admin login.
#   pg killed    the blocker's apply worker, then the batch's, is
#                SIGKILLed as it answers (ROTAD_FAULT=worker-late:apply
#                twice: each fires once): each member's apply is
#                uncertain, recovery settles each on its own; no pending
#                secret is left and every stored secret logs in.
#   my batches   10 MariaDB accounts, batch: 4: 1 + 3 admin logins, every
#                stored secret logs in.
#   leaks        no stored secret appears in the daemon's log or the
#                servers' logs.
#
# Every wait is bounded (3 minutes) and judged by the daemon's run states
# and the servers' activity, never by timing.  Speaks TAP.
set -u
B=$(realpath "$1")
ROTAD=$B/scheduler/rotad
ROTACTL=$B/ctl/rotactl
HERE=$(dirname "$(realpath "$0")")
. "$HERE/lib/postgres.sh"
. "$HERE/lib/mariadb.sh"
. "$HERE/lib/tap.sh"
. "$HERE/lib/rotad.sh"

if [ "$(id -u)" -ne 0 ] || [ ! -x "$PG_BIN/postgres" ] ||
    [ ! -x /usr/sbin/mariadbd ] || ! command -v mariadb >/dev/null; then
	echo "1..0 # SKIP needs root, postgresql-15 and mariadb-server"
	exit 0
fi

# The servers run as their own users, which must reach their
# directories: not inside the private mktemp -d.
T=$(mktemp -d /tmp/rotad-batch.XXXXXX)
P=$(mktemp -d /tmp/rotad-batch-pg.XXXXXX)
M=$(mktemp -d /tmp/rotad-batch-my.XXXXXX)
rmdir "$P"
chmod 755 "$M"
LOCK=
stop_pid() { # PID: SIGKILL it and reap it, if it runs
	if [ -n "$1" ]; then
		kill -KILL "$1" 2>/dev/null
		wait "$1" 2>/dev/null
	fi
}
cleanup() {
	stop_pid "$LOCK"
	rotad_kill
	pg_stop
	my_stop
	rm -rf "$T" "$P" "$P.tls" "$M"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP
export ROTAD_SOCKET=$T/rotad.sock
ctl() { "$ROTACTL" "$@"; }
newpw() { python3 -c 'import secrets; print(secrets.token_urlsafe(18))' >"$1"; }

# last_state USER: the state of USER's last run, or nothing.
last_state() {
	ctl --json runs "$1" -n 1 2>/dev/null | jget 'j["runs"][0]["state"] if j["runs"] else ""' 2>/dev/null
}
last_id() {
	ctl --json runs "$1" -n 1 2>/dev/null | jget 'j["runs"][0]["id"] if j["runs"] else ""' 2>/dev/null
}
pending() { # USER: how many pending secrets USER has
	ctl --json secret history "$1" 2>/dev/null |
	    jget 'sum(1 for v in j["versions"] if v["state"] == "pending")' 2>/dev/null
}
# settled BEFORE USER...: until each USER's last run is not BEFORE's
# (the run before the case) and has ended (committed or failed; an
# out_of_sync one is recovered again) with no pending secret left; 3
# minutes at most.  The states, one per user, in $STATES.
settled() {
	local before=$1 end=$((SECONDS + 180)) u st id all
	shift
	while [ "$SECONDS" -lt "$end" ]; do
		all=1 STATES=
		for u in "$@"; do
			id=$(last_id "$u")
			st=$(last_state "$u")
			case $st in
			committed | failed)
				[ "$id" != "$(grep "^$u " "$before" | cut -d' ' -f2)" ] &&
				    [ "$(pending "$u")" = 0 ] || all=0
				;;
			*) all=0 ;;
			esac
			STATES="$STATES $u=$st"
		done
		[ $all = 1 ] && return 0
		sleep 0.2
	done
	return 1
}
# runs_before FILE USER...: each USER's last run id, to tell the case's
# runs from earlier ones.
runs_before() {
	local f=$1 u
	shift
	: >"$f"
	for u in "$@"; do echo "$u $(last_id "$u")" >>"$f"; done
}
# logs_in_all CHECK USER...: the users whose stored secret does not log
# in with CHECK (pg_login or my_login), in $BAD_LOGINS.
logs_in_all() {
	local check=$1 u
	shift
	BAD_LOGINS=
	for u in "$@"; do
		ctl secret get "$u" >"$T/cur.pw" 2>/dev/null &&
		    "$check" "$u" "$T/cur.pw" 2>>"$T/login.err" ||
		    BAD_LOGINS="$BAD_LOGINS $u"
		cat "$T/cur.pw" >>"$T/stored.pw" 2>/dev/null
		echo >>"$T/stored.pw"
		rm -f "$T/cur.pw"
	done
	[ -z "$BAD_LOGINS" ]
}

# ---- PostgreSQL ----

# pg_release: blocker's lock goes (pg_lock_role's session ended).
pg_release() {
	pg_sql "select pg_terminate_backend(pid) from pg_stat_activity where query like 'BEGIN; ALTER ROLE blocker CONNECTION%'" >/dev/null
	wait "$LOCK" 2>/dev/null
	LOCK=
}
pg_admin_logins() {
	grep -c 'connection authorized: user=rotadmin' "$PG_LOG"
}

# A wave on resource pg: blocker first, held; then USERS queue; then the
# lock goes.  The admin logins it made in $LOGINS.
pg_wave() {
	local u before
	bad=
	runs_before "$T/before" blocker "$@"
	before=$(pg_admin_logins)
	pg_lock_role blocker 600 || { bad="the lock is not taken"; return; }
	ctl rotate blocker >/dev/null || bad="blocker is not triggered"
	pg_lock_waiter || bad="$bad; blocker's apply does not wait on the lock"
	for u in "$@"; do
		ctl rotate "$u" >/dev/null || bad="$bad; $u is not triggered"
	done
	pg_release
	settled "$T/before" blocker "$@" || bad="$bad; not settled:$STATES"
	LOGINS=$(($(pg_admin_logins) - before))
}

mkdir -p "$T/conf.d"
chmod 755 "$T"
umask 077
if ! pg_start "$P" log_connections=on log_statement=ddl >"$T/pg-start.log" 2>&1; then
	echo "1..1"
	not_ok "PostgreSQL starts" "$(cat "$T/pg-start.log")"
	exit 1
fi
if ! my_start "$M/my" >"$T/my-start.log" 2>&1; then
	echo "1..1"
	not_ok "MariaDB starts" "$(cat "$T/my-start.log")"
	exit 1
fi
newpw "$T/admin.pw"
newpw "$T/myadmin.pw"
pg_sql "CREATE ROLE rotadmin LOGIN CREATEROLE" >/dev/null
pg_set_password rotadmin "$T/admin.pw" >/dev/null
my_sql "CREATE USER 'rotadmin'@'%'; GRANT CREATE USER ON *.* TO 'rotadmin'@'%' WITH GRANT OPTION; GRANT SELECT ON mysql.* TO 'rotadmin'@'%'" >/dev/null
my_set_password rotadmin % "$T/myadmin.pw" >/dev/null

PGU="blocker" MYU="myblocker"
for i in $(seq -w 1 20); do PGU="$PGU app$i"; done
PGU="$PGU gone"
for i in $(seq -w 1 10); do MYU="$MYU my$i"; done
{
	cat <<EOF
resources:
  pg:
    kind: database
    host: 127.0.0.1
    port: $PGPORT_T
    protocol: postgresql
    tls: {ca_file: $PG_CA_FILE}
    admin_user: pg-admin
    max_concurrent: 1
    batch: 8
  my:
    kind: database
    host: 127.0.0.1
    port: $MY_PORT
    protocol: mariadb
    user_host: "%"
    tls: {ca_file: $MY_CA}
    admin_user: my-admin
    max_concurrent: 1
    batch: 4
users:
  pg-admin: {login: rotadmin, resource: pg, managed: false, password_file: $T/admin.pw}
  my-admin: {login: rotadmin, resource: my, managed: false, password_file: $T/myadmin.pw}
EOF
	for u in $PGU; do
		newpw "$T/$u.pw"
		pg_sql "CREATE ROLE $u LOGIN" >/dev/null
		pg_set_password "$u" "$T/$u.pw" >/dev/null
		printf '  %s: {login: %s, resource: pg, password_file: %s, timeout: 10s, retry: {attempts: 2, initial: 1s, max: 2s}}\n' \
		    "$u" "$u" "$T/$u.pw"
	done
	for u in $MYU; do
		newpw "$T/$u.pw"
		my_sql "CREATE USER '$u'@'%'" >/dev/null
		my_set_password "$u" % "$T/$u.pw" >/dev/null
		printf '  %s: {login: %s, resource: my, password_file: %s, timeout: 30s}\n' \
		    "$u" "$u" "$T/$u.pw"
	done
} >"$T/conf.d/db.yaml"
cat >"$T/rotad.yaml" <<EOF
store: {path: $T/rotad.db, key_file: $T/master.key}
control: {socket: $T/rotad.sock}
worker: {path: $B/rotad-worker, user: nobody}
EOF
"$ROTAD" --init -c "$T/rotad.yaml" >"$T/init.log" 2>&1 || {
	echo "1..1"
	not_ok "rotad --init" "$(cat "$T/init.log")"
	exit 1
}

echo "1..6"

APPS=$(for i in $(seq -w 1 20); do printf 'app%s ' "$i"; done)
rotad_run "$T/rotad.yaml" "$T/log" ||
    { not_ok "the daemon starts" "$(tail -5 "$T/log")"; exit 1; }

# 1: 20 users in batches of 8.
# shellcheck disable=SC2086
pg_wave $APPS
# shellcheck disable=SC2086
[ -z "$bad" ] && { logs_in_all pg_login blocker $APPS || bad="no login:$BAD_LOGINS"; }
case $STATES in *=failed*) bad="$bad; a run failed:$STATES" ;; esac
[ -z "$bad" ] && [ "$LOGINS" != 4 ] && bad="$LOGINS admin logins, not 1 + 3"
# The metrics count them: three batches of 20 runs, workers forked from
# the template.
m=$(ctl metrics 2>&1)
printf '%s\n' "$m" | grep -qx 'rotad_batches_total 3' &&
    printf '%s\n' "$m" | grep -qx 'rotad_batched_runs_total 20' &&
    printf '%s\n' "$m" | grep -q '^rotad_worker_starts_total{how="template"} [1-9]' ||
    bad="$bad; metrics: $(printf '%s\n' "$m" | grep -E 'batch|worker_starts')"
verdict "pg batches: 20 users, batch 8, max_concurrent 1: all commit and log in, 4 admin logins" \
    "$([ -z "$bad" ]; echo $?)" "$bad" "$(grep -E 'ROTAD-00' "$T/log" | tail -8)"

# 2: a member whose role is gone fails alone.
pg_sql "DROP ROLE gone" >/dev/null
pg_wave app01 app02 gone app03 app04 app05
st=$STATES
[ -z "$bad" ] && { logs_in_all pg_login blocker app01 app02 app03 app04 app05 || bad="no login:$BAD_LOGINS"; }
case $st in *" gone=failed"*) ;; *) bad="$bad; gone did not fail:$st" ;; esac
[ "$(echo "$st" | grep -o '=committed' | wc -l)" = 6 ] || bad="$bad; not 6 committed:$st"
[ -z "$bad" ] && [ "$LOGINS" != 2 ] && bad="$LOGINS admin logins, not 1 + 1"
verdict "pg member: a batch with a role that is gone: it fails, the other five commit" \
    "$([ -z "$bad" ]; echo $?)" "$bad" "$(grep -E 'gone' "$T/log" | tail -4)"

# 3: a burst of triggers on one connection, nothing held: the queue
# starts runs at the end of the loop's turn that made them, so the six
# make one batch (the first one used to start alone, then the other five
# as a batch: 2 admin logins).
BURST="app12 app13 app14 app15 app16 app17"
bad=
# shellcheck disable=SC2086
runs_before "$T/before" $BURST
before=$(pg_admin_logins)
# shellcheck disable=SC2086
python3 - "$ROTAD_SOCKET" $BURST <<'PY' || bad="the burst is not answered ok"
import json, socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(60)
s.connect(sys.argv[1])
users = sys.argv[2:]
s.sendall(b"".join(json.dumps({"v": 1, "id": i, "cmd": "rotate", "user": u})
                   .encode() + b"\n" for i, u in enumerate(users)))
f = s.makefile("rb")
ok = sum(1 for _ in users if json.loads(f.readline()).get("ok"))
sys.exit(0 if ok == len(users) else 1)
PY
# shellcheck disable=SC2086
settled "$T/before" $BURST || bad="$bad; not settled:$STATES"
LOGINS=$(($(pg_admin_logins) - before))
# shellcheck disable=SC2086
[ -z "$bad" ] && { logs_in_all pg_login $BURST || bad="no login:$BAD_LOGINS"; }
case $STATES in *=failed*) bad="$bad; a run failed:$STATES" ;; esac
[ -z "$bad" ] && [ "$LOGINS" != 1 ] && bad="$LOGINS admin logins, not 1"
verdict "pg burst: 6 triggers pipelined on one connection make one batch: 1 admin login, all commit and log in" \
    "$([ -z "$bad" ]; echo $?)" "$bad" "$(grep -E 'ROTAD-00' "$T/log" | tail -8)"

# 4: every apply worker killed as it answers: each member recovered.
rotad_term
: >"$T/log"
ROTAD_FAULT=worker-late:apply,worker-late:apply rotad_run "$T/rotad.yaml" "$T/log" ||
    bad="the daemon does not restart"
pg_wave app06 app07 app08 app09 app10 app11
[ -z "$bad" ] && { logs_in_all pg_login blocker app06 app07 app08 app09 app10 app11 || bad="no login:$BAD_LOGINS"; }
# The batch's worker lost every answer: each member went through
# recovery (ROTAD-0040) on its own.
for u in app06 app07 app08 app09 app10 app11; do
	grep -q "ROTAD-0040 run [^ ]* $u: " "$T/log" || bad="$bad; $u was not recovered"
done
verdict "pg killed: batch workers killed as they answer: no pending left, every stored secret logs in" \
    "$([ -z "$bad" ]; echo $?)" "$bad" "$STATES" "$(grep -E 'ROTAD-00' "$T/log" | tail -8)"
rotad_term
rotad_run "$T/rotad.yaml" "$T/log" || bad="the daemon does not restart"

# 5: MariaDB, batches of 4 behind a global read lock.
my_hold() {
	local i
	my_sql "FLUSH TABLES WITH READ LOCK; SELECT SLEEP(600)" >/dev/null 2>&1 &
	LOCK=$!
	for i in $(seq 1 200); do
		[ "$(my_sql "select count(*) from information_schema.processlist where info like 'SELECT SLEEP(600)%'")" = 1 ] && return 0
		sleep 0.1
	done
	return 1
}
my_waiting() {
	local i
	for i in $(seq 1 300); do
		[ "$(my_sql "select count(*) from information_schema.processlist where user = 'rotadmin' and state like '%lock%'")" -ge 1 ] && return 0
		sleep 0.1
	done
	return 1
}
my_admin_logins() {
	grep -c 'Connect[[:space:]]*rotadmin@' "$MY_GENERAL_LOG"
}
bad=
MYAPPS=$(for i in $(seq -w 1 10); do printf 'my%s ' "$i"; done)
# shellcheck disable=SC2086
runs_before "$T/before" myblocker $MYAPPS
before=$(my_admin_logins)
my_hold || bad="the global read lock is not taken"
ctl rotate myblocker >/dev/null || bad="$bad; myblocker is not triggered"
my_waiting || bad="$bad; myblocker's apply does not wait on the lock"
for u in $MYAPPS; do ctl rotate "$u" >/dev/null || bad="$bad; $u is not triggered"; done
stop_pid "$LOCK"
LOCK=
my_sql "select id from information_schema.processlist where info like 'SELECT SLEEP(600)%'" |
    while read -r id; do my_sql "KILL $id" >/dev/null; done
# shellcheck disable=SC2086
settled "$T/before" myblocker $MYAPPS || bad="$bad; not settled:$STATES"
LOGINS=$(($(my_admin_logins) - before))
# shellcheck disable=SC2086
[ -z "$bad" ] && { logs_in_all my_login myblocker $MYAPPS || bad="no login:$BAD_LOGINS"; }
case $STATES in *=failed*) bad="$bad; a run failed:$STATES" ;; esac
[ -z "$bad" ] && [ "$LOGINS" != 4 ] && bad="$LOGINS admin logins, not 1 + 3"
verdict "my batches: 10 MariaDB accounts, batch 4: all commit and log in, 4 admin logins" \
    "$([ -z "$bad" ]; echo $?)" "$bad" "$(grep -E 'ROTAD-00' "$T/log" | tail -8)"
rotad_term

# 6: no stored secret in the daemon's log or the servers'.
leaks=
while read -r pw; do
	[ -n "$pw" ] || continue
	for f in "$T/log" "$PG_LOG" "$MY_GENERAL_LOG"; do
		grep -qF -- "$pw" "$f" && leaks="$leaks ${f##*/}"
	done
done <"$T/stored.pw"
[ -s "$T/stored.pw" ] || leaks="no stored secret was read"
verdict "leaks: no stored secret in the daemon's log or the servers' logs" \
    "$([ -z "$leaks" ]; echo $?)" "$leaks"
[ "$failed" -eq 0 ]
