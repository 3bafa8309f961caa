#!/bin/bash
# Integration test of the mysql provider against a private MariaDB 10.11
# (lib/mariadb.sh) with TLS and the general log: first the real
# rotad-worker, sandboxed as nobody, fed requests built by
# tests/lib/wire.py; then end to end, rotad and `rotactl rotate --wait`,
# checked with the real mariadb client and the store.  The login plugins
# MariaDB cannot serve (MySQL's caching_sha2_password, sha256_password)
# are played by a fake server, tests/fakes/mysql_auth.py.  Speaks TAP.
#
#   tests/integration/mysql.sh BUILDDIR    (built with -Dtests=true)
#
# Passwords are random, kept in files (mode 600), and reach the worker
# only in its request on stdin, the client only in an option file; no
# diagnostic prints one.  The server logs every statement, so the test
# can check that no password reached it while the hash was enough.
set -u
B=$(realpath "$1")
SRC=$(cd "$(dirname "$0")/../.." && pwd)
WORKER=$B/rotad-worker
ROTAD=$B/scheduler/rotad
ROTACTL=$B/ctl/rotactl
. "$SRC/tests/integration/lib/mariadb.sh"

if [ "$(id -u)" -ne 0 ] || [ ! -x /usr/sbin/mariadbd ] ||
    ! command -v mariadb >/dev/null; then
	echo "1..0 # SKIP needs root, mariadb-server and mariadb-client"
	exit 0
fi

T=$(mktemp -d /tmp/rotad-my.XXXXXX)
HOLE= PID= FAKE=
# The fake server of the plugin cases below, if one runs.
fake_stop() {
	if [ -n "$FAKE" ]; then
		kill "$FAKE" 2>/dev/null
		wait "$FAKE" 2>/dev/null
	fi
	FAKE=
}
cleanup() {
	fake_stop
	if [ -n "$PID" ]; then
		kill -KILL "$PID" 2>/dev/null
		wait "$PID" 2>/dev/null
	fi
	my_stop
	if [ -n "$HOLE" ]; then
		kill "$HOLE" 2>/dev/null
		wait "$HOLE" 2>/dev/null
	fi
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP
# mysql must reach $T/my; everything else in $T is the test's alone.
chmod 711 "$T"
umask 077

. "$(dirname "$(realpath "$0")")/lib/tap.sh"
newpw() { python3 -c 'import secrets; print(secrets.token_urlsafe(18) + "-7a")' >"$1"; }

# wcall KEY=VALUE...: call_worker.py's answer in $R; to the test server over TLS
# checked against its CA, 10 s, unless the arguments say otherwise.
# With CERTS set, the worker sees that directory as /etc/ssl/certs, in a
# mount namespace of its own (in_certs; the host's stays as it is).
wcall() {
	R=$(${CERTS:+in_certs} ${CERTS:+"$CERTS"} \
	    python3 "$SRC/tests/lib/call_worker.py" mysql "$SRC/tests/lib" \
	    "$WORKER" \
	    host=127.0.0.1 port="${MY_PORT:-1}" timeout=10 \
	    tls_ca_file="${MY_CA:-/nonexistent}" "$@")
}
in_certs() {
	unshare --mount --propagation private -- \
	    sh -c 'mount --bind "$0" /etc/ssl/certs && exec "$@"' "$@"
}
# expect NAME CLASS [TEXT]: the last call was answered with CLASS and a
# message holding TEXT, leaking nothing.
expect() {
	local got want="$2 True 0 True"
	got=$(printf '%s' "$R" | jget '"%s %s %s %s" % (j["class"],
	    j["status"] == 0, len(j["leaked"]), sys.argv[2] in j["message"])' \
	    "${3:-}")
	[ "$got" = "$want" ]
	verdict "$1" $? "want: $want (class, answered, leaks, text)" \
	    "got:  $got" "$R"
}
# fact KEY: the value of KEY in the last answer's facts.
fact() {
	printf '%s' "$R" | jget 'j["facts"]' | sed -n "s/^$1=//p"
}
# logged FILE: whether the password in FILE is anywhere in the general log.
logged() { grep -qF -f <(tr -d '\n' <"$1"; echo) "$MY_GENERAL_LOG"; }

echo "1..64"

# Not in $(...): my_start exports what it sets.
my_start "$T/my" 2>"$T/start.err"
st=$?
verdict "MariaDB starts (TLS, general log)" $st "$(cat "$T/start.err")"
if [ $st -ne 0 ]; then
	echo "Bail out! no server"
	exit 1
fi

export T SECRET_FILES="adm.pw adm2.pw old.pw new.pw self_old.pw self_new.pw
wrong.pw hosty.pw hosty_new.pw ed.pw ed_new.pw chain.pw chain_new.pw
e2e_adm.pw e2e_app.pw e2e_self.pw weak_e2e.pw strong.pw
m1.pw m2.pw m3.pw mn1.pw mn2.pw mn3.pw fk.pw fkadm.pw"
for f in $SECRET_FILES; do newpw "$T/$f"; done
printf 'Ab1-x\n' >"$T/weak.pw" # too short for the policy below
SECRET_FILES="$SECRET_FILES weak.pw"

# adm may only CREATE USER (it cannot read accounts: the plugin is then
# unknown); adm2 may read mysql.* too.
out=$({ my_sql "CREATE USER 'adm'@'%'; GRANT CREATE USER ON *.* TO 'adm'@'%';
	CREATE USER 'adm2'@'%'; GRANT CREATE USER ON *.* TO 'adm2'@'%';
	GRANT SELECT ON mysql.* TO 'adm2'@'%';
	CREATE USER 'app'@'%'; CREATE USER 'selfie'@'%';
	CREATE USER 'hosty'@'127.0.0.1'; CREATE USER 'tlsprobe'@'%';
	INSTALL SONAME 'auth_ed25519';
	CREATE USER 'edgy'@'%' IDENTIFIED VIA ed25519 USING PASSWORD('x');
	CREATE USER 'chain'@'%' IDENTIFIED VIA unix_socket OR
	    mysql_native_password USING 'invalid'" &&
	my_set_password adm % "$T/adm.pw" &&
	my_set_password adm2 % "$T/adm2.pw" &&
	my_set_password app % "$T/old.pw" &&
	my_set_password selfie % "$T/self_old.pw" &&
	my_set_password hosty 127.0.0.1 "$T/hosty.pw" &&
	my_set_password tlsprobe % "$T/wrong.pw" &&
	my_login app "$T/old.pw"; } 2>&1)
verdict "accounts adm (CREATE USER), adm2 (and SELECT ON mysql.*), app, selfie, 'hosty'@'127.0.0.1', edgy (ed25519), chain exist" \
    $? "$out"
# edgy's and chain's first passwords, set by adm2 through the worker.
wcall op=apply login=edgy admin_login=adm2 admin=adm2.pw new_secret=ed.pw
wcall op=apply login=chain admin_login=adm2 admin=adm2.pw \
    new_secret=chain.pw

# ---- admin reset, hash only ----
wcall op=apply login=app admin_login=adm admin=adm.pw new_secret=new.pw
expect "admin reset (adm: CREATE USER only) succeeds" none
f="$(fact server) $(fact auth_plugin) $(fact password_sent)"
[ "$f" = "mariadb unknown native_hash" ]
verdict "... on MariaDB, plugin unreadable, only the native hash sent" $? \
    "$f"
out=$(my_login app "$T/new.pw" 2>&1)
verdict "app logs in with the new password (mariadb client, TLS)" $? "$out"
my_login app "$T/old.pw" 2>/dev/null
verdict "the old password is refused" $((!$?))
h=$(my_hash "$T/new.pw")
grep -qF "ALTER USER 'app'@'%' IDENTIFIED VIA mysql_native_password USING '$h'" \
    "$MY_GENERAL_LOG" && ! logged "$T/new.pw"
verdict "the general log holds the ALTER USER with the hash, not the password" \
    $? "$(grep -c 'ALTER USER' "$MY_GENERAL_LOG") ALTER USER lines"
grep -q 'SET SESSION max_statement_time = 3, lock_wait_timeout = 3' \
    "$MY_GENERAL_LOG"
verdict "the session is bounded below the step's 10 s (max_statement_time, lock_wait_timeout)" \
    $?

wcall op=verify login=app new_secret=new.pw
expect "verify with the new password succeeds" none
wcall op=verify login=app new_secret=old.pw
expect "verify with the old password: auth (1045)" auth "(error 1045)"
wcall op=apply login=app admin_login=adm admin=wrong.pw new_secret=old.pw
expect "apply with a wrong admin password: auth" auth "Access denied"
wcall op=apply login=nobody_here admin_login=adm admin=adm.pw \
    new_secret=old.pw
expect "apply for an account that does not exist: fatal (1396)" fatal \
    "error 1396"
wcall op=verify login=app new_secret=new.pw param.sslmode=off
expect "a parameter mysql does not take is refused: fatal" fatal \
    "parameter sslmode is not one provider mysql takes"

# ---- self-change ----
wcall op=apply login=selfie current=wrong.pw new_secret=self_new.pw
expect "self-change with a wrong current password: auth" auth
wcall op=apply login=selfie current=self_old.pw new_secret=self_new.pw
expect "self-change (no admin) succeeds" none
[ "$(fact auth_plugin) $(fact password_sent)" = "mysql_native_password native_hash" ] &&
    grep -qF "SET PASSWORD = '$(my_hash "$T/self_new.pw")'" "$MY_GENERAL_LOG"
verdict "... with SET PASSWORD = '*hash' (its own plugin read)" $? "$R"
out=$(my_login selfie "$T/self_new.pw" 2>&1) &&
    ! my_login selfie "$T/self_old.pw" 2>/dev/null
verdict "selfie logs in with its new password only" $? "$out"

# ---- a batch: one worker, several requests for one resource ----
# wbatch COMMON... -- REQUEST... [-- REQUEST...]...: call_worker.py --batch,
# its answer in $R; each request is the common words and its own.
wbatch() {
	R=$(python3 "$SRC/tests/lib/call_worker.py" mysql "$SRC/tests/lib" \
	    "$WORKER" --batch \
	    host=127.0.0.1 port="${MY_PORT:-1}" timeout=10 \
	    tls_ca_file="${MY_CA:-/nonexistent}" "$@")
}
# answers EXPR: EXPR of each answer a of $R, as one Python list.
answers() { printf '%s' "$R" | jget "[($1) for a in j['answers']]"; }
# logcount ERE: the general log's lines matching ERE.
logcount() { grep -cE -- "$1" "$MY_GENERAL_LOG"; }
admins() { logcount 'Connect[[:space:]]+adm@'; }
out=$(for i in 1 2 3; do
	my_sql "CREATE USER 'm$i'@'%'" && my_set_password m$i % "$T/m$i.pw" ||
	    exit 1
done 2>&1)
verdict "accounts m1, m2, m3 exist (for the batches)" $? "$out"

before=$(admins) bounds=$(logcount 'SET SESSION max_statement_time')
wbatch op=apply admin_login=adm admin=adm.pw -- \
    login=m1 new_secret=mn1.pw -- login=m2 new_secret=mn2.pw -- \
    login=m3 new_secret=mn3.pw
got="$(answers 'a["class"]') $(answers '"server=mariadb" in a["facts"]') $(printf '%s' "$R" | jget 'j["status"], j["leaked"]')"
[ "$got" = "['none', 'none', 'none'] [True, True, True] (0, [])" ]
verdict "a batch of 3 applies: 3 answers, none, with facts, exit 0, no leak" \
    $? "$got" "$R"
out=$(for i in 1 2 3; do my_login m$i "$T/mn$i.pw" || exit 1; done 2>&1)
verdict "... m1, m2 and m3 log in with their new passwords" $? "$out"
got="$(($(admins) - before)) $(($(logcount 'SET SESSION max_statement_time') - bounds))"
[ "$got" = "1 1" ]
verdict "... through ONE admin connection (the general log), bounded once (the same bound for each)" \
    $? "connections, bounds: $got"

# A request whose bound differs (a third of its 30 s, not of 10 s) sets
# the session's again; the next, with the first's, sets it back.
bounds=$(logcount 'SET SESSION max_statement_time')
tens=$(logcount 'SET SESSION max_statement_time = 10,')
wbatch op=apply admin_login=adm admin=adm.pw -- \
    login=m1 new_secret=m1.pw -- login=m2 new_secret=m2.pw timeout=30 -- \
    login=m3 new_secret=m3.pw
got="$(answers 'a["class"]') $(($(logcount 'SET SESSION max_statement_time') - bounds)) $(($(logcount 'SET SESSION max_statement_time = 10,') - tens))"
[ "$got" = "['none', 'none', 'none'] 3 1" ]
verdict "... a batch whose 2nd request has another timeout: bounded 3 times, once to 10 s" \
    $? "answers, bounds, bounds of 10 s: $got" "$R"

# The server ends the kept admin session between two applies: the next
# apply's first statement fails on it, and it is replaced once.
before=$(admins)
R=$(CALL_WORKER_BETWEEN=". '$SRC/tests/integration/lib/mariadb.sh' && my_sql 'KILL USER adm'" \
    python3 "$SRC/tests/lib/call_worker.py" mysql "$SRC/tests/lib" \
    "$WORKER" --batch host=127.0.0.1 port="$MY_PORT" timeout=10 \
    tls_ca_file="$MY_CA" op=apply admin_login=adm admin=adm.pw -- \
    login=m1 new_secret=mn1.pw -- login=m2 new_secret=mn2.pw)
got="$(answers 'a["class"]') $(($(admins) - before)) $(printf '%s' "$R" | jget 'j["status"], j["leaked"]')"
[ "$got" = "['none', 'none'] 2 (0, [])" ]
verdict "a kept admin session killed between two applies: both none, a second admin login" \
    $? "answers, admin connections, status: $got" "$R"
out=$(my_login m1 "$T/mn1.pw" 2>&1 && my_login m2 "$T/mn2.pw" 2>&1)
verdict "... m1 and m2 log in with their new passwords" $? "$out"

before=$(admins)
wbatch op=apply admin_login=adm admin=adm.pw -- \
    login=m1 new_secret=m1.pw -- login=nobody_here new_secret=m2.pw -- \
    login=m3 new_secret=m3.pw
got="$(answers 'a["class"], a["untouched"]') $(printf '%s' "$R" | jget 'j["status"], j["leaked"]')"
[ "$got" = "[('none', False), ('fatal', True), ('none', False)] (0, [])" ]
verdict "a batch whose 2nd account does not exist: none, fatal (untouched), none" \
    $? "$got" "$R"
out=$(my_login m1 "$T/m1.pw" 2>&1 && my_login m3 "$T/m3.pw" 2>&1)
st=$?
[ $st -eq 0 ] && [ "$(($(admins) - before))" -eq 1 ]
verdict "... m1 and m3 changed, still through one admin connection" $? \
    "$out" "$(($(admins) - before)) admin connections"

refused="Access denied for user 'adm'@"
before=$(logcount "$refused")
wbatch op=apply admin_login=adm admin=wrong.pw -- \
    login=m1 new_secret=mn1.pw -- login=m2 new_secret=m2.pw -- \
    login=m3 new_secret=mn3.pw
got="$(answers 'a["class"], a["untouched"]') $(printf '%s' "$R" | jget 'j["status"], j["leaked"]')"
[ "$got" = "[('auth', True), ('auth', True), ('auth', True)] (0, [])" ]
verdict "a batch with a wrong admin password: every answer auth, untouched" \
    $? "$got" "$R"
got=$(($(logcount "$refused") - before))
[ "$got" -eq 1 ] && my_login m2 "$T/mn2.pw" 2>/dev/null
verdict "... ONE failed admin login on the server, not three; m2 keeps its password" \
    $? "$got failed logins"

# ---- the account's host part ----
wcall op=apply login=hosty admin_login=adm admin=adm.pw \
    new_secret=hosty_new.pw
expect "without user_host the account is 'hosty'@'%', which does not exist: fatal" \
    fatal "error 1396"
wcall op=apply login=hosty admin_login=adm admin=adm.pw \
    new_secret=hosty_new.pw param.user_host=127.0.0.1
expect "with user_host 127.0.0.1: 'hosty'@'127.0.0.1' is reset" none
out=$(my_login hosty "$T/hosty_new.pw" 2>&1)
verdict "... and hosty logs in with it" $? "$out"

# ---- plugins other than mysql_native_password (adm2 reads them) ----
wcall op=apply login=edgy admin_login=adm2 admin=adm2.pw \
    new_secret=ed_new.pw
expect "admin reset of an ed25519 account succeeds" none
sc=$(my_sql "SHOW CREATE USER 'edgy'@'%'")
[ "$(fact auth_plugin) $(fact password_sent)" = "ed25519 text_over_tls" ] &&
    echo "$sc" | grep -q 'IDENTIFIED VIA ed25519 USING' &&
    my_login edgy "$T/ed_new.pw" 2>/dev/null
verdict "... stays ed25519 (the password sent over verified TLS) and logs in" \
    $? "$(fact auth_plugin) $(fact password_sent)"
wcall op=apply login=chain admin_login=adm2 admin=adm2.pw \
    new_secret=chain_new.pw
expect "admin reset of a unix_socket OR mysql_native_password account" none
sc=$(my_sql "SHOW CREATE USER 'chain'@'%'")
[ "$(fact password_sent)" = native_hash ] &&
    echo "$sc" | grep -qF "IDENTIFIED VIA unix_socket OR mysql_native_password USING '$(my_hash "$T/chain_new.pw")'" &&
    my_login chain "$T/chain_new.pw" 2>/dev/null
verdict "... keeps the chain, the new hash in its native link, and logs in" \
    $? "$(fact auth_plugin) $(fact password_sent)"

# ---- TLS ----
n_before=$(grep -c tlsprobe "$MY_GENERAL_LOG")
wcall op=verify login=tlsprobe new_secret=wrong.pw tls_ca_file="$MY_OTHER_CA"
expect "TLS checked against a CA that did not sign the server: fatal (2026)" \
    fatal "(error 2026)"
[ "$(grep -c tlsprobe "$MY_GENERAL_LOG")" = "$n_before" ]
verdict "... refused before the login was sent (the server never saw it)" $?
wcall op=verify login=app new_secret=new.pw tls_ca_file="$MY_OTHER_CA" \
    tls_verify=false
expect "... unless tls_verify is false (TLS, unchecked)" none
wcall op=verify login=app new_secret=new.pw tls_ca_file=
expect "without a CA file, checked against the system's CAs: fatal" fatal \
    "(error 2026)"
# The system's CAs are looked up by hash in /etc/ssl/certs, not loaded
# from its bundle file on every connection: with the test CA there as a
# hash link and no bundle at all, the server is verified.
mkdir -m 755 "$T/syscerts" && install -m 644 "$MY_CA" "$T/syscerts/test.pem" &&
    openssl rehash "$T/syscerts" 2>/dev/null
CERTS=$T/syscerts wcall op=verify login=app new_secret=new.pw tls_ca_file=
expect "... which are found by their hash in /etc/ssl/certs: verified" none

# ---- a server that asks for the password itself ----
# caching_sha2_password and sha256_password send the password itself (in
# TLS, or without it encrypted to an RSA key the server sends), so only
# to a server whose certificate was verified.  MariaDB serves neither:
# tests/fakes/mysql_auth.py plays a MySQL 8 that asks for one, with this
# server's certificate (signed by MY_CA), takes any of the passwords in
# fk.pw and fkadm.pw, and logs a line per connection saying which one
# reached it (clear=), never the password.
FLOG=$T/fake.log
# fake PLUGIN: a fake asking for PLUGIN in its greeting, or with
# switch:PLUGIN after a mysql_native_password answer, on port FPORT.
fake() {
	fake_stop
	rm -f "$T/fake.port"
	python3 "$SRC/tests/fakes/mysql_auth.py" "$T/fake.port" "$FLOG" \
	    "$MY_DIR.tls/server.pem" "$MY_DIR.tls/server.key" "$1" \
	    "$T/fk.pw" "$T/fkadm.pw" 2>>"$T/fake.err" &
	FAKE=$!
	for _ in $(seq 1 100); do
		[ -s "$T/fake.port" ] && break
		sleep 0.1
	done
	FPORT=$(cat "$T/fake.port" 2>/dev/null)
}
# fgot PATTERN: the fake's line for the last connection matches PATTERN.
fgot() {
	# shellcheck disable=SC2053
	[[ $(tail -n 1 "$FLOG" 2>/dev/null) == $1 ]]
}
flast() { tail -n 1 "$FLOG" 2>/dev/null; }

fake caching_sha2_password
wcall op=verify login=app new_secret=fk.pw port="$FPORT" tls_verify=false
expect "verify: false, a server whose greeting asks for caching_sha2_password: fatal, the message names it and what to set" \
    fatal "asks for caching_sha2_password, which would send it the password itself, and the server's certificate is not verified (tls: {verify: false}): no password was sent; verify the server's certificate"
fgot "conn tls=no * switched=no answers=0 clear=none end=eof"
verdict "... and it got nothing: no login packet, no password" $? "$(flast)"

fake switch:caching_sha2_password
wcall op=apply login=app admin_login=adm admin=fkadm.pw new_secret=fk.pw \
    port="$FPORT" tls_verify=false
expect "verify: false, an admin reset switched to caching_sha2_password after the mysql_native_password answer: fatal" \
    fatal "asks for a login plugin other than mysql_native_password and client_ed25519, the only ones rotad uses when the server's certificate is not verified"
[ "$(printf '%s' "$R" | jget 'j["untouched"]')" = True ] &&
    fgot "conn tls=yes * switched=yes answers=0 clear=none end=eof"
verdict "... untouched, and the admin password did not reach the server" \
    $? "$(flast)"

fake sha256_password
wcall op=verify login=app new_secret=fk.pw port="$FPORT" tls_disabled=true
expect "no TLS (tls: {enabled: false}), a server asking for sha256_password (the password to its RSA key): fatal" \
    fatal "asks for sha256_password, which would send it the password itself, and the connection has no TLS"
fgot "conn tls=no * clear=none end=eof"
verdict "... and it got no password" $? "$(flast)"

fake switch:caching_sha2_password
wcall op=verify login=app new_secret=fk.pw port="$FPORT"
expect "the server's certificate verified (the test CA): caching_sha2_password is used, the verify succeeds" \
    none
fgot "conn tls=yes * switched=yes * clear=fk.pw end=ok"
verdict "... the password went to the verified server, inside TLS" $? \
    "$(flast)"

fake switch:mysql_clear_password
wcall op=verify login=app new_secret=fk.pw port="$FPORT"
expect "mysql_clear_password is refused even to a verified server: fatal" \
    fatal "the server asks for another login plugin, and rotad uses only mysql_native_password,client_ed25519,caching_sha2_password,sha256_password: no password was sent"
fgot "conn tls=yes * clear=none end=eof"
verdict "... and it got no password" $? "$(flast)"
fake_stop

# ---- end to end: rotad, rotactl, the store ----
export ROTAD_SOCKET=$T/rotad.sock
ctl() { "$ROTACTL" "$@"; }
jlast() { tail -n 1 | jget "$1"; }
my_sql "CREATE USER 'e2e_adm'@'%'; GRANT CREATE USER ON *.* TO 'e2e_adm'@'%';
    CREATE USER 'e2e_app'@'%'; CREATE USER 'e2e_self'@'%';
    CREATE USER 'weak_e2e'@'%'" >/dev/null
for u in e2e_adm e2e_app e2e_self weak_e2e; do
	my_set_password $u % "$T/$u.pw" >/dev/null
done
mkdir "$T/conf.d"
cat >"$T/rotad.yaml" <<EOF
store: {path: $T/rotad.db, key_file: $T/master.key}
control: {socket: $T/rotad.sock}
worker: {path: $WORKER, user: nobody}
conf_dir: $T/conf.d
EOF
cat >"$T/conf.d/my.yaml" <<EOF
resources:
  maria:
    kind: database
    host: 127.0.0.1
    port: $MY_PORT
    protocol: mysql
    tls: {ca_file: $MY_CA}
    admin_user: maria-admin
  maria-self:
    kind: database
    host: 127.0.0.1
    port: $MY_PORT
    protocol: mariadb
    tls: {ca_file: $MY_CA}
users:
  maria-admin: {login: e2e_adm, resource: maria, managed: false, password_file: $T/e2e_adm.pw}
  app: {login: e2e_app, resource: maria, password_file: $T/e2e_app.pw, timeout: 20s}
  self: {login: e2e_self, resource: maria-self, password_file: $T/e2e_self.pw, timeout: 20s}
  weak:
    login: weak_e2e
    resource: maria
    password_file: $T/weak_e2e.pw
    complexity: "12,2,2,2,2"
    retry: {attempts: 1}
EOF
out=$("$ROTAD" --init -c "$T/rotad.yaml" 2>&1)
st=$?
if [ $st -eq 0 ]; then
	"$ROTAD" -f -c "$T/rotad.yaml" 2>>"$T/log" &
	PID=$!
	for i in $(seq 1 100); do
		ctl status >/dev/null 2>&1 && break
		sleep 0.1
	done
	ctl status >/dev/null 2>&1
	st=$?
fi
verdict "rotad --init and rotad -f with a mysql and a mariadb resource" $st \
    "$out" "$(tail -n 5 "$T/log" 2>/dev/null)"

# e2e ROTATED_USER LOGIN OLD_PW_FILE: rotate --wait, then the store's
# current secret (to a file, never printed) must log in and the old one
# must not; the history is current + previous; the run committed.
e2e() {
	local user=$1 login=$2 old=$3 out id hist run ok=0
	out=$(ctl --json rotate --wait "$user" 2>&1) || ok=1
	id=$(printf '%s\n' "$out" | jlast 'j["run"]["id"]' 2>/dev/null)
	ctl secret get "$user" >"$T/cur.pw" 2>/dev/null || ok=1
	hist=$(ctl --json secret history "$user" 2>&1)
	run=$(ctl --json run "$id" 2>&1)
	my_login "$login" "$T/cur.pw" 2>/dev/null || ok=1
	! my_login "$login" "$old" 2>/dev/null || ok=1
	cmp -s "$T/cur.pw" "$old" && ok=1
	[ "$(printf '%s' "$hist" | jget '[v["state"] for v in j["versions"]]')" = "['current', 'previous']" ] || ok=1
	[ "$(printf '%s' "$run" | jget 'j["run"]["state"]')" = committed ] || ok=1
	cat "$T/cur.pw" >"$T/$user.rotated"
	rm -f "$T/cur.pw"
	verdict "rotactl rotate --wait $user: committed; the store's current logs in, the old one does not; history current+previous" \
	    $ok "$(printf '%s\n' "$out" | tail -n 1)" "$hist"
}
e2e app e2e_app "$T/e2e_app.pw"
e2e self e2e_self "$T/e2e_self.pw"
ctl runs app >"$T/runs.txt" 2>&1 &&
    [ "$(ctl --json runs app | jget '[r["state"] for r in j["runs"]]')" = "['committed']" ]
verdict "the run history of app holds the one committed run" $? \
    "$(cat "$T/runs.txt")"

# ed25519 takes no hash from a client: its password went as text, and
# MariaDB's general log has it (docs/providers/mysql.md says so).  No
# other password may be there, nor in the daemon's log.
leaks=
for f in $SECRET_FILES app.rotated self.rotated; do
	case $f in ed.pw | ed_new.pw) continue ;; esac
	logged "$T/$f" && leaks="$leaks $f"
	grep -qF -f <(tr -d '\n' <"$T/$f"; echo) "$T/log" && leaks="$leaks $f(log)"
done
[ -z "$leaks" ]
verdict "no password in the server's general log nor the daemon's log but ed25519's (before a validation plugin)" \
    $? "in:$leaks"

# ---- the server's password policy (simple_password_check) ----
out=$(my_sql "INSTALL SONAME 'simple_password_check';
    SET GLOBAL simple_password_check_minimal_length = 20" 2>&1)
verdict "simple_password_check installed, minimal length 20" $? "$out"
wcall op=apply login=app admin_login=adm admin=adm.pw new_secret=weak.pw
expect "a password the policy refuses: policy (1396 with warning 1819)" policy \
    "(error 1396, warning 1819)"
wcall op=apply login=app admin_login=adm admin=adm.pw new_secret=strong.pw
expect "a strong one is accepted" none
[ "$(fact password_sent)" = text_over_tls ] &&
    my_login app "$T/strong.pw" 2>/dev/null
verdict "... sent over TLS, so that the server's policy can check it (a hash it cannot)" \
    $? "$R"
out=$(ctl --json rotate --wait weak 2>&1)
run=$(printf '%s\n' "$out" | jlast 'j["run"]["state"], j["run"]["error_class"]')
hist=$(ctl --json secret history weak |
    jget '[v["state"] for v in j["versions"] if v["state"] != "discarded"]')
[ "$run" = "('failed', 'policy')" ] && [ "$hist" = "['current']" ] &&
    my_login weak_e2e "$T/weak_e2e.pw" 2>/dev/null
verdict "rotate with complexity 12 under a minimum of 20: failed, policy (regenerated once); the old password stays" \
    $? "$run $hist" "$(printf '%s\n' "$out" | tail -n 1 | cut -c1-300)"
kill -TERM "$PID" 2>/dev/null
wait "$PID" 2>/dev/null
PID=

# ---- no answer, no server ----
HOLE_PORT=$(my_free_port)
python3 -c 'import socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(8)
time.sleep(120)' "$HOLE_PORT" &
HOLE=$!
sleep 0.3
start=$(date +%s)
wcall op=verify login=app new_secret=strong.pw port="$HOLE_PORT" timeout=3 \
    wait=20
expect "a server that never answers: transient" transient
el=$(($(date +%s) - start))
[ "$el" -le 3 ]
verdict "... within the request's timeout (took ${el}s)" $?
kill "$HOLE" 2>/dev/null
wait "$HOLE" 2>/dev/null
HOLE=

my_stop
wcall op=verify login=app new_secret=strong.pw
expect "verify against a stopped server: transient (2002/2003)" transient \
    "(error 200"

out=$("$B/tests/unit/test_mysql" 2>&1)
verdict "unit test of the classifier, the SHOW CREATE USER parser and the hash" \
    $? "$out"

[ "$n" -eq 64 ] || echo "# planned 64 tests, ran $n"
[ "$failed" -eq 0 ]
