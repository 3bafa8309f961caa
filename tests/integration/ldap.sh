#!/bin/bash
# Integration test of the ldap provider, directory_type openldap: the
# real rotad-worker, sandboxed as nobody, against a private slapd
# (lib/slapd.sh: StartTLS on ldap://, and ldaps://, its certificate
# signed by a CA made here), fed requests built by tests/lib/wire.py;
# then end to end through the daemon (rotactl rotate --wait); last, a
# second slapd without Password Modify (refused and not in its rootDSE),
# where the provider replaces userPassword instead.  Each password is
# checked with the real client (ldapwhoami): the new one binds, the old
# one gets 49.  Speaks TAP.
#
#   tests/integration/ldap.sh BUILDDIR
#
# Passwords are random, kept in files (mode 600), and reach the worker
# only in its request on stdin; no diagnostic prints one.
set -u
B=$(realpath "$1")
SRC=$(cd "$(dirname "$0")/../.." && pwd)
WORKER=$B/rotad-worker
ROTAD=$B/scheduler/rotad
ROTACTL=$B/ctl/rotactl
. "$SRC/tests/integration/lib/slapd.sh"

if [ "$(id -u)" -ne 0 ] || [ ! -x /usr/sbin/slapd ] ||
    ! command -v ldapwhoami >/dev/null; then
	echo "1..0 # SKIP needs root, slapd and ldap-utils"
	exit 0
fi

T=$(mktemp -d /tmp/rotad-ldap.XXXXXX)
HOLE= DPID=
cleanup() {
	if [ -n "$DPID" ]; then
		kill -TERM "$DPID" 2>/dev/null
		wait "$DPID" 2>/dev/null
	fi
	slapd_stop
	if [ -n "$HOLE" ]; then
		kill "$HOLE" 2>/dev/null
		wait "$HOLE" 2>/dev/null
	fi
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP
# The worker (nobody) reads the CA files under $T/ldap/tls.
chmod 711 "$T"
umask 077

. "$(dirname "$(realpath "$0")")/lib/tap.sh"
newpw() { python3 -c 'import secrets; print(secrets.token_urlsafe(18))' >"$1"; }

# wcall KEY=VALUE...: call_worker.py's answer in $R.  Defaults: the test server's
# StartTLS port, its CA, a 10 s timeout, directory_type openldap.
wcall() {
	R=$(python3 "$SRC/tests/lib/call_worker.py" ldap "$SRC/tests/lib" \
	    "$WORKER" \
	    host=127.0.0.1 port="${SLAPD_PORT:-1}" timeout=10 \
	    tls_ca_file="${SLAPD_CA_FILE:-}" param.directory_type=openldap \
	    "$@")
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
	# VERBOSE=1: each answer's message (checked above to hold no
	# password of the test's).
	[ -z "${VERBOSE:-}" ] ||
	    printf '%s' "$R" | jget '"# " + j["message"]'
}
# fact KEY: the last answer's fact KEY.
fact() {
	printf '%s' "$R" | jget 'dict(l.split("=", 1) for l in
	    j["facts"].splitlines()).get(sys.argv[2], "")' "$1"
}
untouched() { printf '%s' "$R" | jget 'j["untouched"]'; }
# binds URI DN PWFILE: ldapwhoami's status (0, or 49 refused).
binds() {
	slapd_bind "$@" 2>/dev/null
	echo $?
}

TARGET=uid=target,$SLAPD_PEOPLE
SELFIE=uid=selfie,$SLAPD_PEOPLE

echo "1..60"

# In this shell, not $(...): slapd_start exports what it made and SLAPD_PID.
slapd_start "$T/ldap" 2>"$T/start.err"
st=$?
verdict "slapd starts (StartTLS on ldap://, ldaps://, ppolicy)" $st \
    "$(cat "$T/start.err")"
[ $st -eq 0 ] || exit 1

export T SECRET_FILES="old.pw new.pw self_old.pw self_new.pw wrong.pw d_old.pw d_self.pw"
for f in $SECRET_FILES; do newpw "$T/$f"; done
cp "$SLAPD_ADMIN_PW_FILE" "$T/admin.pw"
SECRET_FILES="$SECRET_FILES admin.pw"
printf 'short1\n' >"$T/weak.pw" # ppolicy: 12 characters at least

out=$({ slapd_add_person target "$T/old.pw" &&
	slapd_add_person selfie "$T/self_old.pw" &&
	slapd_add_person dtarget "$T/d_old.pw" &&
	slapd_add_person dself "$T/d_self.pw"; } 2>&1) &&
    [ "$(binds "$SLAPD_URI_STARTTLS" "$TARGET" "$T/old.pw")" = 0 ]
verdict "users target, selfie, dtarget and dself exist and bind" $? "$out"

# ---- admin reset: Password Modify bound as the admin DN ----
wcall op=apply login=target dn="$TARGET" admin_login="$SLAPD_ADMIN_DN" \
    admin=admin.pw new_secret=new.pw
expect "admin reset over StartTLS (Password Modify) succeeds" none
[ "$(fact method) $(fact transport)" = "password_modify starttls" ]
verdict "... by Password Modify, over StartTLS" $? "$R"
[ "$(binds "$SLAPD_URI_STARTTLS" "$TARGET" "$T/new.pw")" = 0 ]
verdict "ldapwhoami: the new password binds" $?
st=$(binds "$SLAPD_URI_LDAPS" "$TARGET" "$T/old.pw")
[ "$st" = 49 ]
verdict "ldapwhoami: the old password gets 49" $? "status $st"
grep -q "conn=.* op=.* PASSMOD id=\"$TARGET\" new" "$SLAPD_LOG"
verdict "slapd logged a PASSMOD for the target" $? \
    "$(grep PASSMOD "$SLAPD_LOG" | tail -n 2)"

# ---- verify ----
wcall op=verify login=target dn="$TARGET" new_secret=new.pw
expect "verify with the new password (StartTLS) succeeds" none
wcall op=verify login=target dn="$TARGET" new_secret=new.pw \
    port="$SLAPD_TLS_PORT" param.start_tls=false
expect "verify over LDAPS (start_tls: false) succeeds" none
[ "$(fact transport)" = ldaps ]
verdict "... over LDAPS" $? "$R"
wcall op=verify login=target dn="$TARGET" new_secret=old.pw
expect "verify with the old password: auth" auth "Invalid credentials"
wcall op=verify login=target new_secret=new.pw
expect "verify of an OpenLDAP user without a dn: fatal" fatal "needs one"

# ---- refusals ----
wcall op=apply login=target dn="$TARGET" admin_login="$SLAPD_ADMIN_DN" \
    admin=wrong.pw new_secret=old.pw
expect "apply with a wrong admin password: auth" auth "Invalid credentials"
[ "$(untouched)" = True ]
verdict "... untouched" $? "$R"
wcall op=apply login=target dn="$TARGET" admin_login="$SLAPD_ADMIN_DN" \
    admin=admin.pw new_secret=weak.pw
expect "a password ppolicy refuses (too short): policy" policy \
    "Constraint violation"
[ "$(untouched)" = True ]
verdict "... untouched (the server refused it)" $? "$R"
wcall op=apply login=target dn="$TARGET" admin_login="$SELFIE" \
    admin=self_old.pw new_secret=old.pw
expect "apply by a DN without write access: fatal" fatal \
    "Insufficient access"
[ "$(binds "$SLAPD_URI_STARTTLS" "$TARGET" "$T/new.pw")" = 0 ]
verdict "the refused applies left the target's password alone" $?
wcall op=apply login=target dn="uid=nobody_here,$SLAPD_PEOPLE" \
    admin_login="$SLAPD_ADMIN_DN" admin=admin.pw new_secret=old.pw
expect "apply for a DN that does not exist: fatal" fatal
wcall op=apply login=target dn="$TARGET" admin_login="$SLAPD_ADMIN_DN" \
    admin=admin.pw new_secret=old.pw noparam.directory_type
expect "no directory_type: refused by the worker, fatal" fatal \
    "directory_type"
wcall op=apply login=target dn="$TARGET" admin_login="$SLAPD_ADMIN_DN" \
    admin=admin.pw new_secret=old.pw param.directory_type=novell
expect "directory_type novell: refused by the worker, fatal" fatal \
    "expected openldap or active_directory"

# ---- self-change: Password Modify bound as the user, old password given ----
wcall op=apply login=selfie dn="$SELFIE" current=wrong.pw \
    new_secret=self_new.pw
expect "self-change with a wrong current password: auth" auth
wcall op=apply login=selfie dn="$SELFIE" current=self_old.pw \
    new_secret=self_new.pw port="$SLAPD_TLS_PORT" param.start_tls=false
expect "self-change over LDAPS succeeds" none
[ "$(binds "$SLAPD_URI_LDAPS" "$SELFIE" "$T/self_new.pw")" = 0 ] &&
    [ "$(binds "$SLAPD_URI_LDAPS" "$SELFIE" "$T/self_old.pw")" = 49 ]
verdict "ldapwhoami: selfie binds with the new password only (old: 49)" $?

# ---- TLS ----
wcall op=verify login=target dn="$TARGET" new_secret=new.pw \
    tls_ca_file="$SLAPD_OTHER_CA_FILE"
expect "StartTLS, a CA that did not sign the server: fatal" fatal \
    "the TLS handshake failed"
wcall op=verify login=target dn="$TARGET" new_secret=new.pw \
    tls_ca_file="$SLAPD_OTHER_CA_FILE" port="$SLAPD_TLS_PORT" \
    param.start_tls=false
expect "LDAPS, a CA that did not sign the server: fatal" fatal \
    "TLS (LDAPS) with 127.0.0.1 port $SLAPD_TLS_PORT failed"
# The certificate names IP 127.0.0.1 only: localhost is another name.
wcall op=verify login=target dn="$TARGET" new_secret=new.pw host=localhost
expect "a certificate for another host name: fatal" fatal \
    "valid for localhost"
wcall op=apply login=target dn="$TARGET" admin_login="$SLAPD_ADMIN_DN" \
    admin=admin.pw new_secret=old.pw tls_ca_file="$SLAPD_OTHER_CA_FILE"
expect "apply with a CA that did not sign the server: fatal, nothing sent" \
    fatal
[ "$(untouched)" = True ] &&
    ! grep -q "BIND dn=\"$SLAPD_ADMIN_DN\" method=128\$" <(tail -n 20 "$SLAPD_LOG")
verdict "... untouched" $? "$R"
wcall op=verify login=target dn="$TARGET" new_secret=new.pw \
    tls_ca_file="$SLAPD_OTHER_CA_FILE" tls_verify=false
expect "... unless tls_verify is false (TLS unchecked)" none
wcall op=verify login=target dn="$TARGET" new_secret=new.pw tls_ca_file=
expect "no CA file: the system's bundle, which did not sign it: fatal" fatal
wcall op=verify login=target dn="$TARGET" new_secret=new.pw tls_ca_file= \
    tls_disabled=true
expect "tls_disabled: plain ldap://, when the job file says so" none
[ "$(fact transport)" = ldap ]
verdict "... without TLS" $? "$R"
wcall op=verify login=target dn="$TARGET" new_secret=new.pw tls_ca_file= \
    tls_disabled=true param.start_tls=true
expect "tls_disabled with start_tls: true: fatal" fatal "start_tls"

# ---- end to end: the daemon rotates dtarget (admin) and dself (self) ----
mkdir -p "$T/conf.d" "$T/d"
cat >"$T/rotad.yaml" <<EOF
store: {path: $T/d/rotad.db, key_file: $T/d/master.key}
control: {socket: $T/d/rotad.sock}
worker: {path: $WORKER, user: nobody}
EOF
cat >"$T/conf.d/ldap.yaml" <<EOF
resources:
  slapd:
    kind: directory
    host: 127.0.0.1
    port: $SLAPD_PORT
    protocol: ldap
    directory_type: openldap
    tls: {ca_file: $SLAPD_CA_FILE}
    admin_user: ldap-admin
  slapd-self:
    kind: directory
    host: 127.0.0.1
    port: $SLAPD_TLS_PORT
    protocol: ldaps
    start_tls: false
    directory_type: openldap
    tls: {ca_file: $SLAPD_CA_FILE}
users:
  ldap-admin:
    # A login that is no DN: the admin binds with its dn.
    login: rotad-admin
    dn: $SLAPD_ADMIN_DN
    resource: slapd
    managed: false
    password_file: $T/admin.pw
  dtarget:
    login: dtarget
    dn: uid=dtarget,$SLAPD_PEOPLE
    resource: slapd
    password_file: $T/d_old.pw
  dself:
    login: dself
    dn: uid=dself,$SLAPD_PEOPLE
    resource: slapd-self
    password_file: $T/d_self.pw
EOF
export ROTAD_SOCKET=$T/d/rotad.sock
out=$("$ROTAD" -n -c "$T/rotad.yaml" 2>&1) &&
    "$ROTAD" --init -c "$T/rotad.yaml" >"$T/init.log" 2>&1
verdict "rotad -n accepts the ldap resources; --init" $? "$out" \
    "$(cat "$T/init.log")"
"$ROTAD" -f -c "$T/rotad.yaml" 2>>"$T/d/log" &
DPID=$!
for _ in $(seq 100); do "$ROTACTL" status >/dev/null 2>&1 && break; sleep 0.1; done
out=$("$ROTACTL" rotate --wait dtarget 2>&1)
echo "$out" | grep -q 'state: committed'
verdict "rotactl rotate --wait dtarget (admin reset) commits" $? "$out" \
    "$(tail -n 5 "$T/d/log")"
"$ROTACTL" secret get dtarget >"$T/d_new.pw" 2>/dev/null
[ "$(binds "$SLAPD_URI_STARTTLS" "uid=dtarget,$SLAPD_PEOPLE" "$T/d_new.pw")" = 0 ] &&
    [ "$(binds "$SLAPD_URI_STARTTLS" "uid=dtarget,$SLAPD_PEOPLE" "$T/d_old.pw")" = 49 ]
verdict "ldapwhoami: dtarget binds with the stored secret, not the old (49)" $?
out=$("$ROTACTL" rotate --wait dself 2>&1)
echo "$out" | grep -q 'state: committed'
verdict "rotactl rotate --wait dself (self-change over LDAPS) commits" $? \
    "$out" "$(tail -n 5 "$T/d/log")"
"$ROTACTL" secret get dself >"$T/d_self_new.pw" 2>/dev/null
[ "$(binds "$SLAPD_URI_LDAPS" "uid=dself,$SLAPD_PEOPLE" "$T/d_self_new.pw")" = 0 ] &&
    [ "$(binds "$SLAPD_URI_LDAPS" "uid=dself,$SLAPD_PEOPLE" "$T/d_self.pw")" = 49 ]
verdict "ldapwhoami: dself binds with the stored secret, not the old (49)" $?
leak=0
for f in d_old.pw d_new.pw d_self.pw d_self_new.pw admin.pw; do
	if grep -qF -f <(tr -d '\n' <"$T/$f"; echo) "$T/d/log"; then
		leak=1
	fi
done
[ $leak -eq 0 ]
verdict "no password in the daemon's log" $?
kill -TERM "$DPID" 2>/dev/null
wait "$DPID" 2>/dev/null
DPID=

# ---- a server that never answers, then none at all ----
HOLE_PORT=$(slapd_free_port)
python3 -c 'import socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(8)
time.sleep(120)' "$HOLE_PORT" &
HOLE=$!
sleep 0.3
start=$(date +%s)
wcall op=verify login=target dn="$TARGET" new_secret=new.pw \
    port="$HOLE_PORT" timeout=3 wait=20
expect "a server that never answers: transient" transient
el=$(($(date +%s) - start))
[ "$el" -le 5 ]
verdict "... within the request's timeout (took ${el}s)" $?
start=$(date +%s)
wcall op=verify login=target dn="$TARGET" new_secret=new.pw \
    port="$HOLE_PORT" param.start_tls=false timeout=3 wait=20
expect "LDAPS to a server that never answers: transient" transient \
    "no answer within the step's deadline"
el=$(($(date +%s) - start))
[ "$el" -le 5 ]
verdict "... within the request's timeout (took ${el}s)" $?
kill "$HOLE" 2>/dev/null
wait "$HOLE" 2>/dev/null
HOLE=

slapd_stop
wcall op=apply login=target dn="$TARGET" admin_login="$SLAPD_ADMIN_DN" \
    admin=admin.pw new_secret=old.pw
expect "apply against a stopped server: transient" transient \
    "Connection refused"
[ "$(untouched)" = True ]
verdict "... untouched (nothing was sent)" $? "$R"
wcall op=verify login=target dn="$TARGET" new_secret=new.pw \
    port="$SLAPD_TLS_PORT" param.start_tls=false
expect "LDAPS to a stopped server: transient" transient \
    "Connection refused"

# ---- a server without Password Modify: a replace of userPassword ----
# A second slapd (lib/slapd.sh no_passmod) refuses the extended operation
# (restrict) and leaves it out of its rootDSE's supportedExtension, as a
# server that does not implement it would; ppolicy_hash_cleartext hashes
# what is written to userPassword.
export SECRET_FILES="$SECRET_FILES fb_old.pw fb_new.pw fbs_old.pw fbs_new.pw"
for f in fb_old.pw fb_new.pw fbs_old.pw fbs_new.pw; do newpw "$T/$f"; done
slapd_start "$T/ldap-nopm" no_passmod 2>"$T/start2.err"
st=$?
verdict "a second slapd, without Password Modify, starts" $st \
    "$(cat "$T/start2.err")"
[ $st -eq 0 ] || exit 1
FB=uid=fb,$SLAPD_PEOPLE
FBS=uid=fbself,$SLAPD_PEOPLE
cp "$SLAPD_ADMIN_PW_FILE" "$T/admin.pw"
# ldap-utils bound as the admin or the rootdn: rootdse, ldappasswd.
asadmin() {
	local tool=$1
	shift
	LDAPTLS_CACERT=$SLAPD_CA_FILE LDAPTLS_REQCERT=demand "$tool" -x -ZZ \
	    -H "$SLAPD_URI_STARTTLS" -D "$SLAPD_ADMIN_DN" \
	    -y <(tr -d '\n' <"$T/admin.pw") -o nettimeout=5 "$@"
}
ext=$(asadmin ldapsearch -LLL -b '' -s base supportedExtension 2>&1)
printf '%s\n' "$ext" | grep -qx 'supportedExtension: 1.3.6.1.4.1.1466.20037' &&
    ! printf '%s\n' "$ext" | grep -q "$SLAPD_PASSMOD_OID"
verdict "its rootDSE lists extended operations (StartTLS), not Password Modify" \
    $? "$ext"
out=$({ slapd_add_person fb "$T/fb_old.pw" &&
	slapd_add_person fbself "$T/fbs_old.pw"; } 2>&1) &&
    [ "$(binds "$SLAPD_URI_STARTTLS" "$FB" "$T/fb_old.pw")" = 0 ]
verdict "users fb and fbself exist and bind" $? "$out"
out=$(asadmin ldappasswd -T <(tr -d '\n' <"$T/fb_new.pw") "$FB" 2>&1)
st=$?
printf '%s\n' "$out" | grep -q 'unwilling to perform (53)' &&
    [ "$(binds "$SLAPD_URI_STARTTLS" "$FB" "$T/fb_old.pw")" = 0 ]
verdict "ldappasswd (Password Modify) is refused: 53, nothing changed" $? \
    "status $st: $out"

# stored DN: DN's userPassword as stored, read as the rootdn.
stored() {
	LDAPTLS_CACERT=$SLAPD_CA_FILE LDAPTLS_REQCERT=demand ldapsearch -LLL \
	    -x -ZZ -H "$SLAPD_URI_STARTTLS" -D "$SLAPD_ROOT_DN" \
	    -y <(tr -d '\n' <"$SLAPD_ROOT_PW_FILE") -o ldif_wrap=no -b "$1" \
	    -s base userPassword | sed -n 's/^userPassword:: //p' | base64 -d
}
before=$(stored "$FB")
ext_before=$(grep -c "EXT oid=$SLAPD_PASSMOD_OID" "$SLAPD_LOG")
wcall op=apply login=fb dn="$FB" admin_login="$SLAPD_ADMIN_DN" \
    admin=admin.pw new_secret=fb_new.pw
expect "admin reset on a server without Password Modify succeeds" none
[ "$(fact method)" = userPassword_replace ]
verdict "... by a replace of userPassword" $? "$R"
[ "$(binds "$SLAPD_URI_STARTTLS" "$FB" "$T/fb_new.pw")" = 0 ] &&
    [ "$(binds "$SLAPD_URI_LDAPS" "$FB" "$T/fb_old.pw")" = 49 ]
verdict "ldapwhoami: fb binds with the new password only (old: 49)" $?
grep -q "MOD dn=\"$FB\"" "$SLAPD_LOG" &&
    grep -A1 "MOD dn=\"$FB\"" "$SLAPD_LOG" | grep -q 'MOD attr=userPassword' &&
    [ "$(grep -c "EXT oid=$SLAPD_PASSMOD_OID" "$SLAPD_LOG")" = "$ext_before" ]
verdict "slapd logged a MOD of fb's userPassword, and no Password Modify was tried" \
    $? "$(grep -E 'MOD |EXT ' "$SLAPD_LOG" | tail -n 6)"
after=$(stored "$FB")
[ "${after:0:6}" = "{SSHA}" ] && [ "$after" != "$before" ] &&
    [ "$after" != "$(tr -d '\n' <"$T/fb_new.pw")" ]
verdict "the server stored a new value, hashed ({SSHA}, ppolicy_hash_cleartext)" \
    $? "stored value starts: ${after:0:6}"
wcall op=apply login=fb dn="$FB" admin_login="$SLAPD_ADMIN_DN" \
    admin=admin.pw new_secret=weak.pw
expect "a password ppolicy refuses, written to userPassword: policy" policy \
    "Constraint violation"
[ "$(untouched)" = True ] &&
    [ "$(binds "$SLAPD_URI_STARTTLS" "$FB" "$T/fb_new.pw")" = 0 ]
verdict "... untouched, fb keeps its password" $? "$R"
wcall op=apply login=fbself dn="$FBS" current=fbs_old.pw \
    new_secret=fbs_new.pw
expect "self-change on a server without Password Modify succeeds" none
[ "$(fact method)" = userPassword_replace ] &&
    [ "$(binds "$SLAPD_URI_STARTTLS" "$FBS" "$T/fbs_new.pw")" = 0 ] &&
    [ "$(binds "$SLAPD_URI_STARTTLS" "$FBS" "$T/fbs_old.pw")" = 49 ]
verdict "... a replace of userPassword bound as fbself; new binds, old gets 49" \
    $? "$R"

[ "$n" -eq 60 ] || echo "# planned 60 tests, ran $n"
[ "$failed" -eq 0 ]
