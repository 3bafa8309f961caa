#!/bin/bash
# Integration test of the ldap provider, directory_type active_directory:
# the real rotad-worker, sandboxed as nobody, against a real Samba 4.17
# AD domain controller provisioned for this run (lib/samba_ad.sh: ~8 s,
# on 127.0.0.2, LDAPS and StartTLS with a CA made here), fed requests
# built by tests/lib/wire.py.  Each change is checked with ldap-utils:
# the new password binds, the old one gets 49.  Speaks TAP.
#
#   tests/integration/ad.sh BUILDDIR
#
# Passwords are random, kept in files (mode 600), and reach the worker
# only in its request on stdin; no diagnostic prints one.
set -u
B=$(realpath "$1")
SRC=$(cd "$(dirname "$0")/../.." && pwd)
WORKER=$B/rotad-worker
. "$SRC/tests/integration/lib/samba_ad.sh"

if [ "$(id -u)" -ne 0 ] || ! command -v samba >/dev/null ||
    ! command -v samba-tool >/dev/null || ! command -v ldapsearch >/dev/null; then
	echo "1..0 # SKIP needs root, samba (AD DC packages) and ldap-utils"
	exit 0
fi

T=$(mktemp -d /tmp/rotad-ad.XXXXXX)
cleanup() {
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

echo "1..23"

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

[ "$n" -eq 23 ] || echo "# planned 23 tests, ran $n"
[ "$failed" -eq 0 ]
