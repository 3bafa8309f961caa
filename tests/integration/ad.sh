#!/bin/bash
# Integration test of the ldap provider, directory_type active_directory:
# the real rotad-worker, sandboxed as nobody, against a real Samba 4.17
# AD domain controller provisioned for this run (lib/samba_ad.sh: ~8 s,
# on 127.0.0.2, LDAPS and StartTLS with a CA made here), fed requests
# built by tests/lib/wire.py; then end to end through the daemon (rotad,
# `rotactl rotate --wait`) with an admin delegated only Reset Password on
# an OU, a self-change, and a password the domain refuses.  Each change is
# checked with ldap-utils (ldapsearch bound as the user over LDAPS: Samba
# has no WhoAmI): the new password binds, the old one gets 49 (the DC
# runs with `old password allowed period = 0`).  Speaks TAP.
#
#   tests/integration/ad.sh BUILDDIR
#
# Passwords are random, kept in files (mode 600), and reach the worker
# only in its request on stdin; no diagnostic prints one.
set -u
B=$(realpath "$1")
SRC=$(cd "$(dirname "$0")/../.." && pwd)
WORKER=$B/rotad-worker
ROTAD=$B/scheduler/rotad
ROTACTL=$B/ctl/rotactl
. "$SRC/tests/integration/lib/samba_ad.sh"

if [ "$(id -u)" -ne 0 ] || ! command -v samba >/dev/null ||
    ! command -v samba-tool >/dev/null || ! command -v ldapsearch >/dev/null; then
	echo "1..0 # SKIP needs root, samba (AD DC packages) and ldap-utils"
	exit 0
fi

T=$(mktemp -d /tmp/rotad-ad.XXXXXX)
DPID=
cleanup() {
	if [ -n "$DPID" ]; then
		kill -TERM "$DPID" 2>/dev/null
		wait "$DPID" 2>/dev/null
	fi
	samba_ad_stop
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP
# The worker (nobody) reads the CA files under $T/ad/tls.
chmod 711 "$T"
umask 077

. "$(dirname "$(realpath "$0")")/lib/tap.sh"
# Random, with each class the default policy's complexity wants.
newpw() {
	python3 -c 'import secrets; print("Rt7-" + secrets.token_urlsafe(18))' \
	    >"$1"
}

# wcall KEY=VALUE...: call_worker.py's answer in $R.  Defaults: the DC over
# LDAPS (636), its CA, a 15 s timeout, directory_type active_directory.
wcall() {
	R=$(python3 "$SRC/tests/lib/call_worker.py" ldap "$SRC/tests/lib" \
	    "$WORKER" \
	    host="$AD_HOST" port=636 timeout=15 \
	    tls_ca_file="${AD_CA_FILE:-}" \
	    param.directory_type=active_directory "$@")
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
# binds URI NAME PWFILE: 0 when NAME binds with the password, else
# ldapsearch's status (49: refused).
binds() {
	samba_ad_bind "$@" 2>/dev/null
	echo $?
}

UPN_SUFFIX=@rtest.example.com
TARGET=CN=adtarget,CN=Users,$AD_BASE
SELFIE=CN=adself,CN=Users,$AD_BASE
OFF=CN=adoff,CN=Users,$AD_BASE

echo "1..47"

# In this shell: samba_ad_start exports what it made and AD_PID.
start=$(date +%s)
samba_ad_start "$T/ad" 2>"$T/start.err"
st=$?
verdict "a Samba AD DC is provisioned and answers on LDAPS ($(($(date +%s) - start))s)" \
    $st "$(cat "$T/start.err")"
[ $st -eq 0 ] || exit 1

export T SECRET_FILES="old.pw new.pw self_old.pw self_new.pw wrong.pw off.pw"
for f in $SECRET_FILES; do newpw "$T/$f"; done
cp "$AD_ADMIN_PW_FILE" "$T/admin.pw"
SECRET_FILES="$SECRET_FILES admin.pw"
printf 'Ab1-\n' >"$T/weak.pw" # the default policy: 7 characters at least

out=$({ samba_ad_add_user adtarget "$T/old.pw" &&
	samba_ad_add_user adself "$T/self_old.pw" &&
	samba_ad_add_user adoff "$T/off.pw"; } 2>&1) &&
    [ "$(binds "$AD_URI_LDAPS" "$TARGET" "$T/old.pw")" = 0 ]
verdict "users adtarget, adself and adoff exist and bind" $? "$out"

# ---- admin reset: replace unicodePwd, the admin bound by its UPN ----
wcall op=apply login=adtarget dn="$TARGET" admin_login="$AD_ADMIN_UPN" \
    admin=admin.pw new_secret=new.pw
expect "admin reset over LDAPS (unicodePwd) succeeds" none
[ "$(fact method) $(fact transport)" = "unicodePwd_replace ldaps" ]
verdict "... by a replace of unicodePwd, over LDAPS" $? "$R"
[ "$(binds "$AD_URI_LDAPS" "$TARGET" "$T/new.pw")" = 0 ]
verdict "the new password binds" $?
st=$(binds "$AD_URI_LDAPS" "$TARGET" "$T/old.pw")
[ "$st" = 49 ]
verdict "the old password gets 49" $? "status $st"

# ---- verify ----
wcall op=verify login=adtarget dn="$TARGET" new_secret=new.pw port=389
expect "verify with the new password over StartTLS (389) succeeds" none
[ "$(fact transport)" = starttls ]
verdict "... over StartTLS" $? "$R"
wcall op=verify login=adtarget dn="$TARGET" new_secret=old.pw
expect "verify with the old password: auth (data 52e)" auth \
    "Invalid credentials"

# ---- self-change: delete the old unicodePwd, add the new ----
# adself has no dn: it binds with its UPN, and the apply finds its DN by
# userPrincipalName under base_dn.
wcall op=apply login="adself$UPN_SUFFIX" current=self_old.pw \
    new_secret=self_new.pw port=389 param.base_dn="$AD_BASE"
expect "self-change over StartTLS, the DN found under base_dn, succeeds" none
[ "$(fact method)" = unicodePwd_change ]
verdict "... by one modify deleting the old value and adding the new" $? "$R"
[ "$(binds "$AD_URI_LDAPS" "$SELFIE" "$T/self_new.pw")" = 0 ] &&
    [ "$(binds "$AD_URI_LDAPS" "$SELFIE" "$T/self_old.pw")" = 49 ]
verdict "adself binds with the new password only (old: 49)" $?
wcall op=verify login="adself$UPN_SUFFIX" new_secret=self_new.pw
expect "verify of a user without a dn binds with its UPN" none
wcall op=apply login="adself$UPN_SUFFIX" current=self_new.pw \
    new_secret=self_old.pw param.base_dn="$AD_BASE"
expect "a self-change back to a password in the history: policy" policy \
    "0000052D"
[ "$(untouched)" = True ]
verdict "... untouched (the server refused it)" $? "$R"
wcall op=apply login="nobody$UPN_SUFFIX" admin_login="$AD_ADMIN_UPN" \
    admin=admin.pw new_secret=self_old.pw param.base_dn="$AD_BASE"
expect "an account that is not under base_dn: fatal" fatal "no accounts"

# ---- refusals ----
wcall op=apply login=adtarget dn="$TARGET" admin_login="$AD_ADMIN_UPN" \
    admin=admin.pw new_secret=weak.pw
expect "a password the domain's policy refuses (too short): policy" policy \
    "0000052D"
[ "$(untouched)" = True ] &&
    [ "$(binds "$AD_URI_LDAPS" "$TARGET" "$T/new.pw")" = 0 ]
verdict "... untouched, and the target keeps its password" $? "$R"
wcall op=apply login=adtarget dn="$TARGET" admin_login="$AD_ADMIN_UPN" \
    admin=wrong.pw new_secret=old.pw
expect "apply with a wrong admin password: auth" auth "data 52e"
out=$(samba_ad_ldap ldapmodify 2>&1 <<EOF
dn: $OFF
changetype: modify
replace: userAccountControl
userAccountControl: 514
EOF
)
wcall op=verify login=adoff dn="$OFF" new_secret=off.pw
expect "verify of a disabled account: fatal, naming the state" fatal \
    "the account is disabled"

# ---- TLS ----
wcall op=apply login=adtarget dn="$TARGET" admin_login="$AD_ADMIN_UPN" \
    admin=admin.pw new_secret=old.pw tls_disabled=true port=1 tls_ca_file=
expect "plain LDAP for AD: refused before connecting (port 1: fatal, not transient)" \
    fatal "only over LDAPS or StartTLS"
[ "$(untouched)" = True ]
verdict "... untouched" $? "$R"
wcall op=verify login=adtarget dn="$TARGET" new_secret=new.pw \
    tls_ca_file="$AD_OTHER_CA_FILE"
expect "a CA that did not sign the DC: fatal" fatal \
    "the TLS handshake failed"

# ---- end to end: the daemon, rotactl, the store ----
# rotad-admin is no Domain Admin: it gets Reset Password on OU=rotad-svc
# only.  svc is reset by it over LDAPS; self changes its own password over
# StartTLS, found by its UPN under base_dn; weak asks for passwords the
# domain's complexity rule refuses (lower case only).
OU=OU=rotad-svc,$AD_BASE
RADMIN=CN=rotad-admin,CN=Users,$AD_BASE
SVC=CN=e2esvc,$OU
WEAK=CN=e2eweak,$OU
E2E_FILES="radmin.pw e2esvc.pw e2eself.pw e2eweak.pw"
for f in $E2E_FILES; do newpw "$T/$f"; done
SECRET_FILES="$SECRET_FILES $E2E_FILES"
out=$({ samba_ad_add_ou rotad-svc &&
	samba_ad_add_user rotad-admin "$T/radmin.pw" &&
	samba_ad_add_user e2esvc "$T/e2esvc.pw" "$OU" &&
	samba_ad_add_user e2eself "$T/e2eself.pw" "$OU" &&
	samba_ad_add_user e2eweak "$T/e2eweak.pw" "$OU"; } 2>&1) &&
    [ "$(binds "$AD_URI_LDAPS" "$SVC" "$T/e2esvc.pw")" = 0 ] &&
    [ "$(binds "$AD_URI_LDAPS" rotad-admin$UPN_SUFFIX "$T/radmin.pw")" = 0 ]
verdict "OU rotad-svc with e2esvc, e2eself, e2eweak; rotad-admin (a plain user) binds" \
    $? "$out"
wcall op=apply login=e2esvc dn="$SVC" admin_login=rotad-admin$UPN_SUFFIX \
    admin=radmin.pw new_secret=new.pw
expect "before the delegation rotad-admin may not reset e2esvc: fatal" \
    fatal "Insufficient access"
[ "$(untouched)" = True ] &&
    [ "$(binds "$AD_URI_LDAPS" "$SVC" "$T/e2esvc.pw")" = 0 ]
verdict "... untouched: e2esvc keeps its password" $? "$R"
out=$(samba_ad_delegate_reset "$OU" "$RADMIN" 2>&1)
verdict "samba-tool dsacl: Reset Password on the OU delegated to rotad-admin" \
    $? "$out"

mkdir -p "$T/d/conf.d"
cat >"$T/d/rotad.yaml" <<EOF
store: {path: $T/d/rotad.db, key_file: $T/d/master.key}
control: {socket: $T/d/rotad.sock}
worker: {path: $WORKER, user: nobody}
conf_dir: $T/d/conf.d
EOF
cat >"$T/d/conf.d/ad.yaml" <<EOF
resources:
  dc:
    kind: directory
    host: $AD_HOST
    port: 636
    protocol: ldaps
    directory_type: active_directory
    base_dn: "$OU"
    tls: {ca_file: $AD_CA_FILE}
    admin_user: dc-admin
  dc-self:
    kind: directory
    host: $AD_HOST
    protocol: ldap
    start_tls: true
    directory_type: active_directory
    base_dn: "$OU"
    tls: {ca_file: $AD_CA_FILE}
users:
  dc-admin: {login: rotad-admin$UPN_SUFFIX, resource: dc, managed: false}
  svc: {login: e2esvc, dn: "$SVC", resource: dc, timeout: 20s}
  # No dn: the apply finds it by its UPN under base_dn; verify binds
  # with the UPN.
  self: {login: e2eself$UPN_SUFFIX, resource: dc-self, timeout: 20s}
  weak:
    login: e2eweak
    dn: "$WEAK"
    resource: dc
    timeout: 20s
    complexity: "20,0,20,0,0"
    retry: {attempts: 1}
EOF
export ROTAD_SOCKET=$T/d/rotad.sock
ctl() { "$ROTACTL" "$@"; }
out=$("$ROTAD" -n -c "$T/d/rotad.yaml" 2>&1) &&
    "$ROTAD" --init -c "$T/d/rotad.yaml" >"$T/d/init.log" 2>&1
st=$?
if [ $st -eq 0 ]; then
	"$ROTAD" -f -c "$T/d/rotad.yaml" 2>>"$T/d/log" &
	DPID=$!
	st=1
	for _ in $(seq 100); do
		ctl status >/dev/null 2>&1 && { st=0; break; }
		kill -0 "$DPID" 2>/dev/null || break
		sleep 0.1
	done
fi
verdict "rotad -n accepts the active_directory resources; --init; rotad starts" \
    $st "$out" "$(cat "$T/d/init.log" 2>/dev/null)" \
    "$(tail -n 5 "$T/d/log" 2>/dev/null)"
out=$(ctl secret set dc-admin <"$T/radmin.pw" 2>&1 &&
	ctl secret set svc <"$T/e2esvc.pw" 2>&1 &&
	ctl secret set self <"$T/e2eself.pw" 2>&1 &&
	ctl secret set weak <"$T/e2eweak.pw" 2>&1) &&
    [ "$(ctl --json secret history svc | jget '[(v["state"], v["run"]) for v in j["versions"]]')" = "[('current', '')]" ]
verdict "rotactl secret set seeds the four users from files (svc: one seeded version)" \
    $? "$out"

# e2e USER BIND_NAME OLD_PW_FILE: rotate USER through the daemon, then
# check with ldapsearch, the store and the run history.
e2e() {
	local user=$1 name=$2 old=$3 out id hist runs run st
	out=$(ctl --json rotate --wait "$user" 2>&1)
	st=$?
	id=$(printf '%s\n' "$out" | tail -n 1 | jget 'j["run"]["id"]' 2>/dev/null)
	[ $st -eq 0 ] && [ "$(printf '%s\n' "$out" | tail -n 1 |
	    jget 'j["run"]["state"]' 2>/dev/null)" = committed ]
	verdict "rotactl rotate --wait $user: committed" $? \
	    "$(printf '%s\n' "$out" | tail -n 1 | cut -c1-400)" \
	    "$(tail -n 5 "$T/d/log")"
	ctl secret get "$user" >"$T/$user.cur" 2>/dev/null
	SECRET_FILES="$SECRET_FILES $user.cur"
	! cmp -s <(tr -d '\n' <"$T/$user.cur") <(tr -d '\n' <"$old") &&
	    [ "$(binds "$AD_URI_LDAPS" "$name" "$T/$user.cur")" = 0 ]
	verdict "... ldapsearch over LDAPS: $name binds with the store's new secret" $?
	st=$(binds "$AD_URI_LDAPS" "$name" "$old")
	[ "$st" = 49 ]
	verdict "... and the old password gets 49" $? "status $st"
	hist=$(ctl --json secret history "$user" 2>&1)
	[ "$(printf '%s' "$hist" |
	    jget '[(v["state"], v["run"]) for v in j["versions"]]')" = \
	    "[('current', '$id'), ('previous', '')]" ]
	verdict "... the store: current made by run $id, previous the seeded one" \
	    $? "$hist"
	runs=$(ctl --json runs "$user" 2>&1)
	run=$(ctl --json run "$id" 2>&1)
	[ "$(printf '%s' "$runs" | jget '[(r["id"], r["state"]) for r in j["runs"]]')" = \
	    "[('$id', 'committed')]" ] &&
	    [ "$(printf '%s' "$run" | jget '(j["run"]["kind"], j["run"]["state"], j["run"]["error_class"], j["run"]["user"])')" = \
	    "('rotate', 'committed', 'none', '$user')" ]
	verdict "... the run history: that one run, committed, error class none" \
	    $? "$runs" "$run"
	# VERBOSE=1: the run as rotactl shows it.
	[ -z "${VERBOSE:-}" ] || printf '%s\n' "$run" | sed 's/^/# /'
}
e2e svc "$SVC" "$T/e2esvc.pw"
e2e self "e2eself$UPN_SUFFIX" "$T/e2eself.pw"
out=$(ctl --json verify --wait self 2>&1)
[ "$(printf '%s\n' "$out" | tail -n 1 | jget 'j["run"]["state"]')" = verified ]
verdict "rotactl verify --wait self: verified (a bind with its UPN)" $? \
    "$(printf '%s\n' "$out" | tail -n 1)"

out=$(ctl --json rotate --wait weak 2>&1)
id=$(printf '%s\n' "$out" | tail -n 1 | jget 'j["run"]["id"]' 2>/dev/null)
run=$(printf '%s\n' "$out" | tail -n 1 |
    jget '(j["run"]["state"], j["run"]["error_class"], j["run"]["attempts"])' \
    2>/dev/null)
[ "$run" = "('failed', 'policy', 2)" ]
verdict "rotate weak (lower case only, the domain wants complexity): failed, policy, after 2 attempts (regenerated once)" \
    $? "$(printf '%s\n' "$out" | tail -n 1 | cut -c1-400)"
[ -z "${VERBOSE:-}" ] || printf '%s\n' "$out" | tail -n 1 | sed 's/^/# /'
printf '%s\n' "$out" | grep -q '0000052D'
verdict "... the run's message holds AD's code 0000052D" $? \
    "$(printf '%s\n' "$out" | tail -n 1 | cut -c1-400)"
hist=$(ctl --json secret history weak 2>&1)
[ "$(printf '%s' "$hist" | jget '[(v["state"], v["run"]) for v in j["versions"] if v["state"] != "discarded"]')" = \
    "[('current', '')]" ] &&
    [ "$(printf '%s' "$hist" | jget 'sorted(set(v["run"] for v in j["versions"] if v["state"] == "discarded"))')" = \
    "['$id']" ] &&
    [ "$(printf '%s' "$hist" | jget 'len([v for v in j["versions"] if v["state"] == "discarded"])')" = 2 ]
verdict "... the store: the seeded secret stays current; two discarded candidates (regenerated once), both of that run" \
    $? "$hist"
[ "$(ctl --json runs weak | jget '[(r["id"], r["state"], r["error_class"]) for r in j["runs"]]')" = \
    "[('$id', 'failed', 'policy')]" ]
verdict "... the run history: that one run, failed, policy" $?
[ "$(binds "$AD_URI_LDAPS" "$WEAK" "$T/e2eweak.pw")" = 0 ]
verdict "... and e2eweak still binds with its seeded password" $?

leak=
for f in $SECRET_FILES; do
	[ -s "$T/$f" ] || continue
	if grep -rqaF -f <(tr -d '\n' <"$T/$f"; echo) "$T/d/log" \
	    "$AD_DIR/log" "$T"/d/rotad.db*; then
		leak="$leak $f"
	fi
done
[ -z "$leak" ]
verdict "no password in the daemon's log, samba's logs or the store's plain text" \
    $? "leaked:$leak"
kill -TERM "$DPID" 2>/dev/null
wait "$DPID"
st=$?
DPID=
[ $st -eq 0 ]
verdict "rotad stops on SIGTERM (status 0)" $? "status $st" \
    "$(tail -n 5 "$T/d/log")"

[ "$n" -eq 47 ] || echo "# planned 47 tests, ran $n"
[ "$failed" -eq 0 ]
