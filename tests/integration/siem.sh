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
. "$(dirname "$(realpath "$0")")/lib/tap.sh"
. "$(dirname "$(realpath "$0")")/lib/rotad.sh"
. "$(dirname "$(realpath "$0")")/lib/siem.sh"
stop_all() {
	stop_siem
	rotad_kill
	rm -rf "$T"
}
trap stop_all EXIT
export ROTAD_SOCKET=$T/rotad.sock
ctl() { "$ROTACTL" "$@"; }
nruns() { ctl --json runs -n 1000 | jget 'len(j["runs"])'; }

if [ ! -x "$SIEM" ]; then
	echo "1..0 # SKIP rotad-siem not built (no libmicrohttpd)"
	exit 0
fi

mkdir -p "$T/conf.d"
chmod 711 "$T"
siem_begin
printf 'first-secret-of-app-7Qx\n' >"$T/app.pw"
chmod 600 "$T/app.pw"
siem_rotad_yaml
cat >"$T/conf.d/a.yaml" <<EOF2
resources:
  box: {kind: machine, protocol: test}
  db: {kind: machine, protocol: test, host: db.example}
users:
  app: {login: app, resource: box, password_file: $T/app.pw}
  svc: {login: svc, resource: db, password_file: $T/app.pw}
EOF2

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
# A client that waits for "100 Continue" is refused on the headers and
# sends nothing (curl's wait made long: after its default 1 s it sends
# the body anyway, and a loaded CI machine got there).
EXTRA=(-H 'Expect: 100-continue' --expect100-timeout 60)
out=$(post "$big")
refused "a body over --max-body (65536), the client waiting for 100 Continue" 413 "$out"
# One that sends its body at once, by length or chunked: rotad-siem reads
# and drops it, then answers (refused on the headers, the client still
# sending would see the connection reset instead of the 413).  A body of
# 1,110,000 bytes, more than the sockets' buffers hold, is still being
# sent when the headers are read (within siem's 1 MiB over the limit:
# 65,536 + 1,048,576); unsigned, since the size is refused before
# anything else is looked at.
python3 -c 'print("{\"alert_id\":\"huge\",\"users\":[\"" + "a" * 1110000 + "\"]}")' >"$T/huge.json"
out=$(raw -H 'Content-Type: application/json' -H 'Expect:' --data-binary @"$T/huge.json" "$URL")
refused "a body over --max-body sent at once: the 413 arrives" 413 "$out"
# The same, step by step on a socket: the headers alone get no answer
# (the old rotad-siem answered them at once and closed on a body still
# coming), the body sent, the 413 is read whole.
out=$(python3 - "$PORT" "$T/tls.crt" <<'PYEOF2' 2>&1
import select, socket, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[2])
t = ctx.wrap_socket(socket.create_connection(("127.0.0.1", int(sys.argv[1]))),
                    server_hostname="127.0.0.1")
n = 1110000
t.sendall(b"POST /v1/rotate HTTP/1.1\r\nHost: 127.0.0.1\r\n"
          b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % n)
early = t.pending() > 0 or bool(select.select([t], [], [], 1.0)[0])
t.sendall(b"a" * n)
resp = b""
while True:
    d = t.recv(65536)
    if not d:
        break
    resp += d
print("early" if early else "waited", resp.split(b"\r\n", 1)[0].decode())
PYEOF2
)
case $out in "waited HTTP/1.1 413 "*) st=0 ;; *) st=1 ;; esac
[ "$(nruns)" = "$N" ] || st=1
verdict "headers of a body over --max-body get no answer until the body is in; then 413" $st "got: $out"
out=$(raw -H 'Content-Type: application/json' -H 'Expect:' -H 'Transfer-Encoding: chunked' \
    --data-binary @"$T/huge.json" "$URL")
EXTRA=()
refused "a chunked body over --max-body: the 413 arrives" 413 "$out"
# A chunked body far over it is not read to its end: rotad-siem stops
# once 1 MiB over and closes; a client sending 64 MB finds the
# connection closed long before its end (the sockets' buffers, which the
# kernel grows to a few MB, take what was sent meanwhile).
# (The old rotad-siem read every byte, then answered 413.)
out=$(python3 - "$PORT" "$T/tls.crt" <<'PYEOF2' 2>&1
import socket, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[2])
t = ctx.wrap_socket(socket.create_connection(("127.0.0.1", int(sys.argv[1]))),
                    server_hostname="127.0.0.1")
t.sendall(b"POST /v1/rotate HTTP/1.1\r\nHost: 127.0.0.1\r\n"
          b"Content-Type: application/json\r\n"
          b"Transfer-Encoding: chunked\r\n\r\n")
chunk, sent = b"10000\r\n" + b"a" * 0x10000 + b"\r\n", 0
try:
    while sent < 64 << 20:
        t.sendall(chunk)
        sent += 0x10000
    t.sendall(b"0\r\n\r\n")
    print("sent all", sent, t.recv(200).split(b"\r\n", 1)[0].decode())
except OSError as e:
    print("closed after", sent, type(e).__name__)
PYEOF2
)
case $out in "closed after "*) st=0 ;; *) st=1 ;; esac
upto=$(echo "$out" | awk '{ print $3 }')
[ "$st" -eq 0 ] && [ "${upto:-0}" -lt $((24 << 20)) ] && [ "$(nruns)" = "$N" ]
verdict "a chunked body of 64 MB: the connection closes soon after 1 MiB over the limit" $? "got: $out"
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
