#!/bin/bash
# Integration test of the postgresql provider: the real rotad-worker,
# sandboxed as nobody, against a private PostgreSQL 15 (lib/postgres.sh),
# fed requests built by tests/lib/wire.py.  Speaks TAP.
#
#   tests/integration/postgresql.sh BUILDDIR
#
# Passwords are random, kept in files (mode 600), and reach the worker
# only in its request on stdin.  The server logs every statement, so the
# test can check that the new password never reached it.
set -u
B=$(realpath "$1")
SRC=$(cd "$(dirname "$0")/../.." && pwd)
WORKER=$B/rotad-worker
. "$SRC/tests/integration/lib/postgres.sh"

if [ "$(id -u)" -ne 0 ] || [ ! -x "$PG_BIN/postgres" ]; then
	echo "1..0 # SKIP needs root and postgresql-15"
	exit 0
fi

T=$(mktemp -d /tmp/rotad-pg.XXXXXX)
HOLE= LOCKER=
cleanup() {
	[ -n "$LOCKER" ] && kill "$LOCKER" 2>/dev/null
	pg_stop
	if [ -n "$HOLE" ]; then
		kill "$HOLE" 2>/dev/null
		wait "$HOLE" 2>/dev/null
	fi
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP
# postgres must reach $T/pg; everything else in $T is the test's alone.
chmod 711 "$T"
umask 077

. "$(dirname "$(realpath "$0")")/lib/tap.sh"
newpw() { python3 -c 'import secrets; print(secrets.token_urlsafe(18))' >"$1"; }

# wcall KEY=VALUE...: call_worker.py's answer in $R.  The request goes to the
# test server with a 10 s timeout, verified against its CA, unless the
# arguments say otherwise (tls_ca_file= for none: the system's bundle).
wcall() {
	R=$(python3 "$SRC/tests/lib/call_worker.py" postgresql "$SRC/tests/lib" \
	    "$WORKER" \
	    host=127.0.0.1 port="${PGPORT_T:-1}" timeout=10 \
	    tls_ca_file="${PG_CA_FILE:-}" "$@")
}
# expect NAME CLASS [TEXT]: the last call was answered (the worker exits 0
# once it has answered, whatever the class) with CLASS and a message
# holding TEXT, leaking nothing.
expect() {
	local got want="$2 True 0 True"
	got=$(printf '%s' "$R" | jget '"%s %s %s %s" % (j["class"],
	    j["status"] == 0, len(j["leaked"]), sys.argv[2] in j["message"])' \
	    "${3:-}")
	[ "$got" = "$want" ]
	verdict "$1" $? "want: $want (class, answered, leaks, text)" \
	    "got:  $got" "$R"
}

echo "1..54"

# TLS: pg_start's CA signed the server's certificate for 127.0.0.1
# ($PG_CA_FILE); another CA did not.  The worker runs as nobody: the CA
# files are world-readable.
mkdir "$T/tls" && chmod 711 "$T/tls"
out=$(cd "$T/tls" &&
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
	    -nodes -keyout other.key -out other.pem -days 2 \
	    -subj "/CN=rotad test other" 2>&1 && chmod 644 other.pem)
st=$?
if [ $st -eq 0 ]; then
	pg_start "$T/pg" log_statement=all log_connections=on \
	    shared_preload_libraries=passwordcheck
	st=$?
fi
verdict "PostgreSQL starts (TLS, log_statement=all, passwordcheck)" $st \
    "$out" "$(tail -n 5 "$T/pg/server.log" 2>/dev/null)"

export T SECRET_FILES="admin.pw old.pw new.pw self_old.pw self_new.pw wrong.pw odd.pw
b1.pw b2.pw b3.pw bn1.pw bn2.pw bn3.pw"
for f in $SECRET_FILES; do newpw "$T/$f"; done
printf 'target\n' >"$T/weak.pw" # passwordcheck: not the role's name

out=$({ pg_sql "CREATE ROLE admin LOGIN CREATEROLE" &&
	pg_sql "CREATE ROLE target LOGIN" &&
	pg_sql "CREATE ROLE selfie LOGIN" &&
	pg_sql "CREATE ROLE \"O'Neil Ops\" LOGIN" &&
	pg_set_password admin "$T/admin.pw" &&
	pg_set_password target "$T/old.pw" &&
	pg_set_password selfie "$T/self_old.pw" &&
	pg_login target "$T/old.pw"; } 2>&1)
verdict "roles admin (CREATEROLE), target, selfie and O'Neil Ops exist" \
    $? "$out"

wcall op=apply login=target admin_login=admin admin=admin.pw \
    new_secret=new.pw
expect "apply with the admin credential succeeds" none
facts=$(printf '%s' "$R" | jget 'j["facts"]')
printf '%s\n' "$facts" | grep -q '^server_version=15\.' &&
    printf '%s\n' "$facts" | grep -qx 'password_encryption=scram-sha-256'
verdict "apply reports server_version and password_encryption" $? "$facts"
out=$(pg_login target "$T/new.pw" 2>&1)
verdict "the target logs in with the new password" $? "$out"
pg_login target "$T/old.pw" 2>/dev/null
verdict "the old password is refused" $((!$?))
grep -q "ALTER ROLE \"target\" PASSWORD 'SCRAM-SHA-256[$]4096:" "$PG_LOG" &&
    ! grep -qF -f <(tr -d '\n' <"$T/new.pw"; echo) "$PG_LOG"
verdict "the server logged the ALTER ROLE with a verifier, not the password" \
    $? "$(grep -c 'ALTER ROLE' "$PG_LOG") ALTER ROLE lines in the log"

wcall op=verify login=target new_secret=new.pw
expect "verify with the new password succeeds" none
# database travels as a parameter, checked against the catalog's key.
out=$(pg_sql "CREATE DATABASE rotad_param" 2>&1)
wcall op=verify login=target new_secret=new.pw param.database=rotad_param
expect "verify with the parameter database succeeds" none
grep -q 'connection authorized: user=target database=rotad_param' "$PG_LOG"
verdict "... and the server saw the login to that database" $? "$out" \
    "$(grep 'connection authorized: user=target' "$PG_LOG" | tail -n 2)"
wcall op=verify login=target new_secret=new.pw param.database=
expect "an empty database parameter is refused by the worker: fatal" fatal \
    "parameter database: expected a non-empty string"
wcall op=verify login=target new_secret=new.pw param.sslmode=disable
expect "a parameter postgresql does not take is refused: fatal" fatal \
    "parameter sslmode is not one provider postgresql takes"
# A role name that needs quoting (PQescapeIdentifier's job).
wcall op=apply "login=O'Neil Ops" admin_login=admin admin=admin.pw \
    new_secret=odd.pw
expect "apply for a role named O'Neil Ops succeeds" none
out=$(pg_login "O'Neil Ops" "$T/odd.pw" 2>&1)
verdict "... and O'Neil Ops logs in with it" $? "$out"
wcall op=verify login=target new_secret=wrong.pw
expect "verify with a wrong password: auth" auth \
    "password authentication failed"
wcall op=verify login=nobody_here new_secret=new.pw
expect "verify as a role that does not exist: auth" auth

wcall op=apply login=target admin_login=admin admin=wrong.pw \
    new_secret=old.pw
expect "apply with a wrong admin password: auth" auth \
    "password authentication failed"
wcall op=apply login=no_such_role admin_login=admin admin=admin.pw \
    new_secret=old.pw
expect "apply for a role that does not exist: fatal" fatal \
    "does not exist (SQLSTATE 42704)"
# The server refused the ALTER ROLE on a working connection: its
# transaction is gone, so the worker says the target is untouched.
u=$(printf '%s' "$R" | jget 'j["untouched"]')
[ "$u" = True ]
verdict "a statement the server refused: the answer says untouched" $? "$R"
wcall op=apply login=postgres admin_login=admin admin=admin.pw \
    new_secret=old.pw
expect "apply for a superuser by a CREATEROLE admin: fatal (42501)" fatal \
    "SQLSTATE 42501"
wcall op=apply login=target admin_login=admin admin=admin.pw \
    new_secret=weak.pw
expect "apply of a password passwordcheck refuses: policy" policy \
    "password must not equal user name"
out=$(pg_login target "$T/new.pw" 2>&1)
verdict "the refused applies left the target's password alone" $? "$out"

wcall op=apply login=selfie current=wrong.pw new_secret=self_new.pw
expect "self-change with a wrong current password: auth" auth
wcall op=apply login=selfie current=self_old.pw new_secret=self_new.pw
expect "self-change (no admin_login) succeeds" none
out=$(pg_login selfie "$T/self_new.pw" 2>&1) &&
    ! pg_login selfie "$T/self_old.pw" 2>/dev/null
verdict "selfie logs in with its new password only" $? "$out"

# ---- a batch: one worker, several requests for one resource ----
# wbatch COMMON... -- REQUEST... [-- REQUEST...]...: call_worker.py --batch,
# its answer in $R; each request is the common words and its own.
wbatch() {
	R=$(python3 "$SRC/tests/lib/call_worker.py" postgresql "$SRC/tests/lib" \
	    "$WORKER" --batch \
	    host=127.0.0.1 port="${PGPORT_T:-1}" timeout=10 \
	    tls_ca_file="${PG_CA_FILE:-}" "$@")
}
# answers EXPR: EXPR of each answer a of $R, as one Python list.
answers() { printf '%s' "$R" | jget "[($1) for a in j['answers']]"; }
# logcount TEXT: the server log's lines holding TEXT.
logcount() { grep -cF -- "$1" "$PG_LOG"; }
admins() { logcount 'connection authorized: user=admin database='; }
out=$(for i in 1 2 3; do
	pg_sql "CREATE ROLE b$i LOGIN" && pg_set_password b$i "$T/b$i.pw" ||
	    exit 1
done 2>&1)
verdict "roles b1, b2, b3 exist (for the batches)" $? "$out"

before=$(admins)
wbatch op=apply admin_login=admin admin=admin.pw -- \
    login=b1 new_secret=bn1.pw -- login=b2 new_secret=bn2.pw -- \
    login=b3 new_secret=bn3.pw
got="$(answers 'a["class"]') $(answers '"server_version=15." in a["facts"]') $(printf '%s' "$R" | jget 'j["status"], j["leaked"]')"
[ "$got" = "['none', 'none', 'none'] [True, True, True] (0, [])" ]
verdict "a batch of 3 applies: 3 answers, none, with facts, exit 0, no leak" \
    $? "$got" "$R"
out=$(for i in 1 2 3; do pg_login b$i "$T/bn$i.pw" || exit 1; done 2>&1)
verdict "... b1, b2 and b3 log in with their new passwords" $? "$out"
[ "$(($(admins) - before))" -eq 1 ]
verdict "... through ONE admin connection (the server's log)" $? \
    "$(($(admins) - before)) admin connections"

before=$(admins)
wbatch op=apply admin_login=admin admin=admin.pw -- \
    login=b1 new_secret=b1.pw -- login=no_such_role new_secret=b2.pw -- \
    login=b3 new_secret=b3.pw
got="$(answers 'a["class"], a["untouched"]') $(printf '%s' "$R" | jget 'j["status"], j["leaked"]')"
[ "$got" = "[('none', False), ('fatal', True), ('none', False)] (0, [])" ]
verdict "a batch whose 2nd role does not exist: none, fatal (untouched), none" \
    $? "$got" "$R"
out=$(pg_login b1 "$T/b1.pw" 2>&1 && pg_login b3 "$T/b3.pw" 2>&1)
st=$?
[ $st -eq 0 ] && [ "$(($(admins) - before))" -eq 1 ]
verdict "... b1 and b3 changed, still through one admin connection" $? \
    "$out" "$(($(admins) - before)) admin connections"

refused='password authentication failed for user "admin"'
before=$(logcount "$refused")
wbatch op=apply admin_login=admin admin=wrong.pw -- \
    login=b1 new_secret=bn1.pw -- login=b2 new_secret=bn2.pw -- \
    login=b3 new_secret=bn3.pw
got="$(answers 'a["class"], a["untouched"]') $(printf '%s' "$R" | jget 'j["status"], j["leaked"]')"
[ "$got" = "[('auth', True), ('auth', True), ('auth', True)] (0, [])" ]
verdict "a batch with a wrong admin password: every answer auth, untouched" \
    $? "$got" "$R"
[ "$(($(logcount "$refused") - before))" -eq 1 ]
verdict "... and ONE failed admin login on the server, not three" $? \
    "$(($(logcount "$refused") - before)) failed logins"
pg_login b2 "$T/bn2.pw" 2>/dev/null
verdict "... b2 keeps its password" $?

for u in b1 b2 b3; do eval "v_$u=\$(logcount 'connection authorized: user=$u ')"; done
wbatch op=verify -- login=b1 new_secret=b1.pw -- login=b2 new_secret=bn2.pw \
    -- login=b3 new_secret=b3.pw -- login=b1 new_secret=b1.pw
got="$(answers 'a["class"]') $(printf '%s' "$R" | jget 'j["status"], j["leaked"]')"
[ "$got" = "['none', 'none', 'none', 'none'] (0, [])" ]
verdict "a batch of 4 verifies (b1, b2, b3, b1): all none" $? "$got" "$R"
got="$(($(logcount 'connection authorized: user=b1 ') - v_b1)) $(($(logcount 'connection authorized: user=b2 ') - v_b2)) $(($(logcount 'connection authorized: user=b3 ') - v_b3))"
[ "$got" = "2 1 1" ]
verdict "... each logged in afresh (b1 twice, b2 and b3 once)" $? "$got"

wbatch op=verify -- login=b1 new_secret=b1.pw -- login=b2 new_secret=b2.pw \
    provider=mysql -- login=b3 new_secret=b3.pw
got="$(answers 'a["class"]') $(answers '"request for provider mysql sent to a postgresql worker" in a["message"]')"
[ "$got" = "['none', 'fatal', 'none'] [False, True, False]" ]
verdict "a request for another provider inside a batch: refused fatal, the others run" \
    $? "$got" "$R"

# Time: b1's row locked by another session's open ALTER ROLE, the first
# apply waits for it until its lock_timeout or statement_timeout (what
# is left of 4 s since the worker's start, less a second; they are equal,
# either may fire): about 3 s, past half the timeout,
# so the second request is answered without being started.
pg_psql postgres "$PG_SUPERPW_FILE" \
    -c "BEGIN; ALTER ROLE b1 CONNECTION LIMIT 5; SELECT pg_sleep(60)" \
    </dev/null >/dev/null 2>&1 &
LOCKER=$!
locked=1
for i in $(seq 1 100); do
	[ "$(pg_sql "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(60)%' AND pid <> pg_backend_pid()")" = 1 ] &&
	    locked=0 && break
	sleep 0.1
done
start=$(date +%s%N)
wbatch op=apply admin_login=admin admin=admin.pw timeout=4 -- \
    login=b1 new_secret=bn1.pw -- login=b2 new_secret=bn2.pw
el=$((($(date +%s%N) - start) / 1000000))
pg_sql "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(60)%' AND pid <> pg_backend_pid()" >/dev/null
kill "$LOCKER" 2>/dev/null
wait "$LOCKER" 2>/dev/null
LOCKER=
got="$(answers 'a["class"], a["untouched"]')"
[ "$locked" = 0 ] &&
    [ "$got" = "[('transient', True), ('transient', True)]" ] &&
    printf '%s' "$R" | jget 'j["answers"][0]["message"]' | grep -qE '55P03|57014' &&
    printf '%s' "$R" | jget 'j["answers"][1]["message"]' |
    grep -q 'not started: the batch ran out of time'
verdict "a batch past half its timeout: the 1st apply's lock wait is cut by the server, the 2nd is not started (transient, untouched)" \
    $? "$got" "$R"
[ "$el" -lt 4000 ]
verdict "... and the whole batch ended within its 4 s timeout (${el} ms)" $?
pg_login b2 "$T/bn2.pw" 2>/dev/null
verdict "... b2 keeps its password" $?

# With a CA file: verify-full against it, or only TLS (require) when told
# not to verify.
wcall op=verify login=target new_secret=new.pw tls_ca_file="$PG_CA_FILE"
expect "verify over TLS checked against the server's CA succeeds" none
grep -q 'connection authorized: user=target .*application_name=rotad SSL enabled' "$PG_LOG"
verdict "... and the server saw TLS and application_name rotad" $? \
    "$(grep 'connection authorized: user=target' "$PG_LOG" | tail -n 2)"
wcall op=verify login=target new_secret=new.pw \
    tls_ca_file="$T/tls/other.pem"
expect "verify with a CA that did not sign the server's certificate: fatal" \
    fatal "certificate verify failed"
wcall op=verify login=target new_secret=new.pw \
    tls_ca_file="$T/tls/other.pem" tls_verify=false
expect "... unless tls_verify is false (TLS unchecked)" none
# No CA file: the system's bundle, which did not sign the test CA.
wcall op=verify login=target new_secret=new.pw tls_ca_file=
expect "verify with no CA file: checked against the system's bundle: fatal" \
    fatal "certificate verify failed"
wcall op=verify login=target new_secret=new.pw tls_ca_file= \
    tls_verify=false tls_disabled=true
expect "tls_disabled: plaintext, when the job file says so" none
last=$(grep 'connection authorized: user=target' "$PG_LOG" | tail -n 1)
case $last in *"SSL enabled"*) false ;; *) true ;; esac
verdict "... and the server saw that login without TLS" $? "$last"

# A port that accepts connections and never answers: the connect timeout
# (the request's) ends the step, transient.
HOLE_PORT=$(pg_free_port)
python3 -c 'import socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(8)
time.sleep(120)' "$HOLE_PORT" &
HOLE=$!
sleep 0.3
start=$(date +%s)
wcall op=verify login=target new_secret=new.pw port="$HOLE_PORT" \
    timeout=2 wait=20
expect "a server that never answers: transient" transient "timeout expired"
el=$(($(date +%s) - start))
[ "$el" -le 10 ]
verdict "... within the request's timeout (took ${el}s)" $?

# A kept admin session the server ended while the worker was busy with
# another request (the admin's idle_session_timeout of 1 s; a verify
# against the hole in between, 2 s): the next apply sees the session
# ending, logs in again and succeeds, rather than sending its ALTER ROLE
# into a dead session (an uncertain, transient answer).
newpw "$T/bk1.pw" && newpw "$T/bk2.pw"
pg_sql "ALTER ROLE admin SET idle_session_timeout = 1000" >/dev/null
before=$(admins)
wbatch op=apply admin_login=admin admin=admin.pw -- \
    login=b1 new_secret=bk1.pw -- \
    op=verify login=target new_secret=new.pw port="$HOLE_PORT" timeout=4 -- \
    login=b2 new_secret=bk2.pw
pg_sql "ALTER ROLE admin RESET idle_session_timeout" >/dev/null
got="$(answers 'a["class"]') $(($(admins) - before))"
[ "$got" = "['none', 'transient', 'none'] 2" ]
verdict "a kept admin session ended by the server mid-batch: the next apply logs in again (2 admin logins)" \
    $? "$got" "$R"
out=$(pg_login b1 "$T/bk1.pw" 2>&1 && pg_login b2 "$T/bk2.pw" 2>&1)
verdict "... b1 and b2 log in with their new passwords" $? "$out"
kill "$HOLE" 2>/dev/null
wait "$HOLE" 2>/dev/null
HOLE=

pg_stop
wcall op=verify login=target new_secret=new.pw
expect "verify against a stopped server: transient" transient \
    "Connection refused"
wcall op=apply login=target admin_login=admin admin=admin.pw \
    new_secret=old.pw
expect "apply against a stopped server: transient" transient
u=$(printf '%s' "$R" | jget 'j["untouched"]')
[ "$u" = True ]
verdict "an apply that never reached the server: untouched" $? "$R"

[ "$n" -eq 54 ] || echo "# planned 54 tests, ran $n"
[ "$failed" -eq 0 ]
