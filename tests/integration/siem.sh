#!/bin/bash
# rotad-siem, the inbound endpoint (issue 14), end to end: the real daemon
# on a private directory with the test provider, rotad-siem started as
# root and dropping to an unprivileged user that control.acl grants
# `trigger` only, and real `curl` over HTTPS with a self-signed
# certificate.  A signed request rotates a user, and an account by login
# and host, and the runs' events carry trigger siem_alert and the alert
# id; unsigned, badly signed, stale, replayed, oversized, malformed and
# unknown-user requests are refused with their status and start nothing;
# a restarted rotad-siem refuses what was signed before its start (its
# replay cache is gone); bearer-token mode; the rate limit; an untrusted
# key file, and a key file with an ACL as systemd's credentials have.
#   tests/integration/siem.sh BUILDDIR          Speaks TAP.
set -u
B=$(realpath "$1")
ROTAD=$B/scheduler/rotad
ROTACTL=$B/ctl/rotactl
SIEM=$B/siem/rotad-siem
T=$(mktemp -d /tmp/rotad-siem.XXXXXX)
SPID=
stop_siem() {
	if [ -n "$SPID" ]; then
		kill "$SPID" 2>/dev/null
		wait "$SPID" 2>/dev/null
		SPID=
	fi
}
stop_all() {
	stop_siem
	rotad_kill
	rm -rf "$T"
}
trap stop_all EXIT
export ROTAD_SOCKET=$T/rotad.sock
. "$(dirname "$(realpath "$0")")/lib/tap.sh"
. "$(dirname "$(realpath "$0")")/lib/rotad.sh"
ctl() { "$ROTACTL" "$@"; }
nruns() { ctl --json runs -n 1000 | jget 'len(j["runs"])'; }

if [ ! -x "$SIEM" ]; then
	echo "1..0 # SKIP rotad-siem not built (no libmicrohttpd)"
	exit 0
fi

mkdir -p "$T/conf.d"
chmod 711 "$T"
WU=rotad-test-worker
SU=rotad-test-siem
getent passwd "$WU" >/dev/null ||
    useradd --system --no-create-home --shell /usr/sbin/nologin "$WU"
getent passwd "$SU" >/dev/null ||
    useradd --system --no-create-home --shell /usr/sbin/nologin \
	-g nogroup "$SU"
printf 'first-secret-of-app-7Qx\n' >"$T/app.pw"
chmod 600 "$T/app.pw"
cat >"$T/rotad.yaml" <<EOF2
store: {path: $T/rotad.db, key_file: $T/master.key}
control:
  socket: $T/rotad.sock
  group: nogroup
  acl:
    - {user: $SU, rights: [trigger]}
worker: {path: $B/rotad-worker, user: $WU}
EOF2
cat >"$T/conf.d/a.yaml" <<EOF2
resources:
  box: {kind: machine, protocol: test}
  db: {kind: machine, protocol: test, host: db.example}
users:
  app: {login: app, resource: box, password_file: $T/app.pw}
  svc: {login: svc, resource: db, password_file: $T/app.pw}
EOF2

# A self-signed certificate for 127.0.0.1, its key root's and 0600.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
    -nodes -days 2 -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 \
    -keyout "$T/tls.key" -out "$T/tls.crt" >/dev/null 2>&1
chmod 600 "$T/tls.key"
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$T/hmac.key"
head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$T/token"
chmod 600 "$T/hmac.key" "$T/token"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
URL=https://127.0.0.1:$PORT/v1/rotate

# start_siem LOG ARGS...: rotad-siem as root dropping to $SU; waits until
# it listens and, in hmac mode, until the first second it accepts a
# timestamp of (NB: it refuses those before its start).  0, or 1 with LOG
# holding why.
NB=
start_siem() {
	local log=$1 i
	shift
	"$SIEM" --listen "127.0.0.1:$PORT" --cert "$T/tls.crt" \
	    --key "$T/tls.key" --socket "$T/rotad.sock" --user "$SU" \
	    "$@" 2>>"$log" &
	SPID=$!
	for i in $(seq 1 50); do
		if grep -q 'listening on' "$log" 2>/dev/null; then
			NB=$(sed -n 's/.*refusing timestamps before \([0-9]*\) .*/\1/p' \
			    "$log" | tail -n 1)
			while [ -n "$NB" ] && [ "$(date +%s)" -lt "$NB" ]; do
				sleep 0.1
			done
			return 0
		fi
		kill -0 "$SPID" 2>/dev/null || { SPID=; return 1; }
		sleep 0.1
	done
	return 1
}

# post BODY [TS [KEYFILE]]: POST BODY signed for TS (default now) with
# KEYFILE (default hmac.key); prints "STATUS BODY".  EXTRA: more curl args.
EXTRA=()
post() {
	local body=$1 ts=${2:-$(date +%s)} key=${3:-$T/hmac.key} sig
	sig=$(python3 -c 'import hmac,hashlib,sys
k = open(sys.argv[1], "rb").read().rstrip(b"\n")
print(hmac.new(k, sys.argv[2].encode() + b"." + sys.argv[3].encode(),
    hashlib.sha256).hexdigest())' "$key" "$ts" "$body")
	curl -sS --cacert "$T/tls.crt" -o "$T/resp" -w '%{http_code}' \
	    -H "Content-Type: application/json" \
	    -H "X-Rotad-Timestamp: $ts" -H "X-Rotad-Signature: sha256=$sig" \
	    "${EXTRA[@]}" --data-binary "$body" "$URL"
	printf ' %s\n' "$(cat "$T/resp")"
}
# raw ARGS...: curl with ARGS, "STATUS BODY".
raw() {
	curl -sS --cacert "$T/tls.crt" -o "$T/resp" -w '%{http_code}' "$@"
	printf ' %s\n' "$(cat "$T/resp")"
}
# committed RUN: wait (10 s at most) for RUN to commit.
committed() {
	local i s
	for i in $(seq 1 100); do
		s=$(ctl --json run "$1" 2>/dev/null | jget 'j["run"]["state"]' 2>/dev/null)
		[ "$s" = committed ] && return 0
		case $s in failed | out_of_sync) return 1 ;; esac
		sleep 0.1
	done
	return 1
}
# event_of RUN: "NAME TRIGGER ALERT_ID" of RUN's record_* event.
event_of() {
	ctl --json events --since 0 -n 1000 2>/dev/null | python3 -c 'import json,sys
for l in sys.stdin:
    e = json.loads(l)
    if e["name"].startswith("record_") and e.get("run_id") == sys.argv[1]:
        print(e["name"], e.get("trigger"), e.get("alert_id"))' "$1"
}

echo "1..31"
rotad_start "$T/rotad.yaml" "$T/log"
verdict "rotad starts" $? "$ROTAD_OUT" "$(tail -n 5 "$T/log")"

# An HMAC key others may read: refused, nothing listens.
chmod 644 "$T/hmac.key"
start_siem "$T/siem0.log" --hmac-key-file "$T/hmac.key"
st=$?
stop_siem
[ "$st" -ne 0 ] && grep -q 'lets group or others in' "$T/siem0.log"
verdict "a key file readable by others: rotad-siem refuses to start" $? \
    "$(cat "$T/siem0.log")"
chmod 600 "$T/hmac.key"

# The same key as systemd hands a credential over where it can use ACLs:
# root's, 0400, an ACL entry letting $SU read it (group bits: the mask).
cp -p "$T/hmac.key" "$T/hmac.acl"
chmod 400 "$T/hmac.acl"
if python3 - "$T/hmac.acl" "$(id -u "$SU")" <<'EOF2' 2>"$T/acl.err"; then
import os, struct, sys
# ACL_USER_OBJ r, ACL_USER r for the uid, ACL_GROUP_OBJ -, ACL_MASK r,
# ACL_OTHER -: version 2, then (tag, perm, id) entries.
ents = [(0x01, 4, 0xffffffff), (0x02, 4, int(sys.argv[2])),
        (0x04, 0, 0xffffffff), (0x10, 4, 0xffffffff), (0x20, 0, 0xffffffff)]
os.setxattr(sys.argv[1], "system.posix_acl_access",
            struct.pack("<I", 2) + b"".join(struct.pack("<HHI", *e) for e in ents))
EOF2
	start_siem "$T/siem-acl.log" --hmac-key-file "$T/hmac.acl"
	st=$?
	stop_siem
	verdict "a key file as a systemd credential with an ACL (mode $(stat -c %a "$T/hmac.acl")): accepted" \
	    $st "$(cat "$T/siem-acl.log")"
else
	ok "a key file with an ACL # SKIP no ACLs on $T: $(cat "$T/acl.err")"
fi

start_siem "$T/siem.log" --hmac-key-file "$T/hmac.key"
verdict "rotad-siem starts (hmac), dropping root for $SU" $? \
    "$(cat "$T/siem.log")"
u=$(ps -o user= -p "$SPID" 2>/dev/null | tr -d ' ')
nnp=$(awk '/^NoNewPrivs/ { print $2 }' "/proc/$SPID/status")
sc=$(awk '/^Seccomp:/ { print $2 }' "/proc/$SPID/status")
[ "$u" = "$SU" ] && [ "$nnp" = 1 ] && [ "$sc" = 2 ]
verdict "it runs as $SU with no_new_privs and a seccomp filter" $? \
    "user=$u NoNewPrivs=$nnp Seccomp=$sc"

B1='{"alert_id":"splunk-1001","users":["app"]}'
TS1=$(date +%s)
out=$(post "$B1" "$TS1")
run=$(echo "${out#* }" | jget 'j["runs"][0]["run"]' 2>/dev/null)
[ "${out%% *}" = 202 ] && [ -n "$run" ]
verdict "a signed request for a user: 202 with its run" $? "$out" \
    "$(tail -n 3 "$T/siem.log")"
committed "$run"
verdict "... the run commits" $? "$(ctl run "$run" 2>&1)"
ev=$(event_of "$run")
[ "$ev" = "record_rotation_on_demand_ok siem_alert splunk-1001" ]
verdict "... its record event has trigger siem_alert and the alert id" $? \
    "got: $ev"

out=$(post '{"alert_id":"elastic:77-b","accounts":[{"login":"svc","host":"db.example"}]}')
run2=$(echo "${out#* }" | jget 'j["runs"][0]["run"]' 2>/dev/null)
[ "${out%% *}" = 202 ] && [ -n "$run2" ] && committed "$run2" &&
    [ "$(event_of "$run2")" = "record_rotation_on_demand_ok siem_alert elastic:77-b" ] &&
    [ "$(ctl --json run "$run2" | jget 'j["run"]["user"]')" = svc ]
verdict "an account by login and host: 202, svc's run commits with the alert id" \
    $? "$out" "$(event_of "$run2")"

N=$(nruns)
# refused CASE WANT OUT: OUT's status is WANT and no run started.
refused() {
	local st=0
	[ "${3%% *}" = "$2" ] || st=1
	[ "$(nruns)" = "$N" ] || st=1
	verdict "$1: $2, nothing started" $st "got: $3" "runs: $(nruns), want $N"
}
out=$(raw -H 'Content-Type: application/json' --data-binary "$B1" "$URL")
refused "unsigned" 401 "$out"
out=$(post "$B1" "" "$T/token")
refused "signed with another key" 401 "$out"
out=$(post '{"alert_id":"a2","users":["app"]}' $(($(date +%s) - 301)))
refused "a timestamp 301 s old" 401 "$out"
echo "${out#* }" | grep -q '"stale"'
verdict "... and says it is stale" $? "$out"
out=$(post "$B1" "$TS1")
refused "the first request replayed (same timestamp and signature)" 409 "$out"
big=$(python3 -c 'print("{\"alert_id\":\"big\",\"users\":[\"" + "a" * 70000 + "\"]}")')
out=$(post "$big")
refused "a body over --max-body (65536)" 413 "$out"
out=$(post '{"alert_id":"m1","users":["app"],"extra":1}')
refused "an unknown key" 400 "$out"
out=$(post '{"alert_id":"m2","users":["app"],"alert_id":"m3"}')
refused "a key twice" 400 "$out"
out=$(post '{"alert_id":"bad id","users":["app"]}')
refused "a malformed alert id" 400 "$out"
out=$(post '{"alert_id":"u1","users":["nobody-such"]}')
refused "an unknown user" 422 "$out"
echo "${out#* }" | grep -q '"not_found"'
verdict "... and names rotad's not_found" $? "$out"
out=$(raw "$URL")
out2=$(raw -X POST "https://127.0.0.1:$PORT/v1/other")
[ "${out%% *}" = 405 ] && [ "${out2%% *}" = 404 ] && [ "$(nruns)" = "$N" ]
verdict "GET: 405; another path: 404" $? "$out" "$out2"

# Every refusal logged, one line each, and no key nor body in the log.
c=$(grep -c '^rotad-siem: refused' "$T/siem.log")
! grep -qF -e "$(cat "$T/hmac.key")" -e 'aaaaaaaa' -e nobody-such "$T/siem.log" &&
    [ "$c" -ge 11 ]
verdict "each refusal is one log line, without key or body" $? \
    "refused lines: $c" "$(cat "$T/siem.log")"
stop_siem

# A restart forgets the replay cache, so it refuses every timestamp from
# before its start: the first request, replayed within the window, and
# one never sent but signed a second before the start.
start_siem "$T/siem1.log" --hmac-key-file "$T/hmac.key"
verdict "rotad-siem starts again (hmac)" $? "$(cat "$T/siem1.log")"
out1=$(post "$B1" "$TS1")
refused "after a restart, the first request replayed (within the window)" \
    401 "$out1"
out2=$(post '{"alert_id":"pre-1","users":["app"]}' $((NB - 1)))
refused "... a new request signed 1 s before the start" 401 "$out2"
c=$(grep -c '^rotad-siem: refused 401 stale .*signed before rotad-siem started' \
    "$T/siem1.log")
echo "${out1#* }" | grep -q '"stale"' && echo "${out2#* }" | grep -q '"stale"' &&
    [ "$c" = 2 ]
verdict "... both answered stale, and logged as signed before the start" $? \
    "$out1" "$out2" "$(cat "$T/siem1.log")"
out=$(post '{"alert_id":"post-1","users":["app"]}')
run4=$(echo "${out#* }" | jget 'j["runs"][0]["run"]' 2>/dev/null)
[ "${out%% *}" = 202 ] && committed "$run4"
verdict "... while one signed after the start rotates app" $? "$out" \
    "$(cat "$T/siem1.log")"
stop_siem

# Bearer mode.
start_siem "$T/siem2.log" --token-file "$T/token"
st=$?
EXTRA=(-H "Authorization: Bearer $(cat "$T/token")")
out=$(post '{"alert_id":"tok-1","users":["app"]}')
run3=$(echo "${out#* }" | jget 'j["runs"][0]["run"]' 2>/dev/null)
[ $st -eq 0 ] && [ "${out%% *}" = 202 ] && committed "$run3"
verdict "bearer mode: the token rotates app" $? "$out" "$(cat "$T/siem2.log")"
N=$(nruns)
EXTRA=(-H "Authorization: Bearer $(cat "$T/token")x")
out=$(post '{"alert_id":"tok-2","users":["app"]}')
refused "bearer mode: a wrong token" 401 "$out"
EXTRA=()
stop_siem

# The rate limit: 3 a minute from one source.
start_siem "$T/siem3.log" --hmac-key-file "$T/hmac.key" --rate-source 3
codes=
for i in 1 2 3 4; do
	out=$(post "{\"alert_id\":\"rate-$i\",\"users\":[\"nobody-such\"]}")
	codes="$codes ${out%% *}"
done
[ "$codes" = " 422 422 422 429" ] && [ "$(nruns)" = "$N" ]
verdict "rate limit: the 4th request in a minute from one source is 429" $? \
    "codes:$codes"
stop_siem

ctl status >/dev/null 2>&1
verdict "rotad still answers" $?
[ "$failed" -eq 0 ]
