#!/bin/bash
# `rotate --wait` of a user's password and key (one answer for a group of
# two runs) when the daemon stops with one run in flight and the other
# queued (control review, finding 2).  The group is answered at the stop;
# the run in flight must then send nothing more to that connection: not a
# progress line under the connection's next request, and not one to the
# connection once it is freed (a use after free, which the build with
# -Db_sanitize=address reports in the daemon's log).  Speaks TAP.
#
#   tests/integration/wait_stop.sh BUILDDIR
#
# The target is a TCP black hole (it accepts, says nothing), so that the
# password run hangs in its worker until its deadline (timeout: 3s), and
# max_concurrent 1 keeps the key run queued behind it.
set -u
. "$(dirname "$(realpath "$0")")/lib/tap.sh"
. "$(dirname "$(realpath "$0")")/lib/rotad.sh"
rotad_test "$1" waitstop
ctl() { "$ROTACTL" "$@"; }

python3 - "$T/hole.port" <<'PYEOF' &
import socket, sys, time
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(16)
open(sys.argv[1], "w").write("%d\n" % s.getsockname()[1])
held = []
end = time.time() + 120
s.settimeout(1)
while time.time() < end:
    try:
        held.append(s.accept()[0])
    except OSError:
        pass
PYEOF
ROTAD_TEST_PIDS=$!
for _ in $(seq 50); do [ -s "$T/hole.port" ] && break; sleep 0.1; done
PORT=$(cat "$T/hole.port")

rotad_test_conf
cat >"$T/conf.d/a.yaml" <<EOF
resources:
  hole: {kind: machine, host: 127.0.0.1, port: $PORT, protocol: ssh,
         host_key_policy: tofu, max_concurrent: 1}
users:
  k0: {login: k0, resource: hole, rotate: [password, private_key],
       timeout: 3s, retry: {attempts: 1, initial: 1s, max: 1s}}
EOF

# A client that asks `rotate --wait` for k0 (id 1) and reads until the
# answer; then, on the same connection, follows the events (id 2) for
# SECONDS, printing every line it gets.
client() { # SECONDS
	python3 - "$ROTAD_SOCKET" "$1" <<'PYEOF'
import json, socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
f = s.makefile("rb")
s.sendall(b'{"v":1,"cmd":"rotate","user":"k0","wait":true,"id":1}\n')
while True:
    line = f.readline()
    if not line:
        sys.exit(1)
    print(line.decode().rstrip(), flush=True)
    if "progress" not in json.loads(line):
        break
s.sendall(b'{"v":1,"cmd":"events","follow":true,"id":2}\n')
s.settimeout(0.5)
end, got = time.time() + float(sys.argv[2]), []
while time.time() < end:
    try:
        got.append(s.recv(65536))
    except socket.timeout:
        continue
    if not got[-1]:
        break
sys.stdout.write(b"".join(got).decode())
PYEOF
}

# started RUNS: wait (10 s at most) until rotad has RUNS running and the
# rest queued, as status says.
started() {
	local i
	for i in $(seq 100); do
		[ "$(ctl --json status | jget 'j["running"]')" = "$1" ] && return 0
		sleep 0.1
	done
	return 1
}

echo "1..4"
out=$("$ROTAD" --init -c "$T/rotad.yaml" 2>&1) &&
    rotad_run "$T/rotad.yaml" "$T/log" &&
    printf pw | ctl secret set k0 >/dev/null &&
    ctl --json show k0 | jget 'j["user"]["key_credential"]' | grep -q k0/private_key
verdict "rotad starts; k0 rotates its password and its key" $? "$out" \
    "$(tail -n 5 "$T/log")"

# 1. The client keeps its connection: after the group's answer, its next
# request (a follow) must get events only.
client 8 >"$T/c1.out" 2>&1 &
C1=$!
started 1
sleep 0.5
kill -TERM "$DPID"
wait $C1
stray=$(python3 - "$T/c1.out" <<'PYEOF'
import json, sys
for l in open(sys.argv[1]):
    j = json.loads(l)
    if j.get("id") == 2 and "progress" in j and "event" not in j["progress"]:
        print(l.rstrip())
PYEOF
)
grep -q '"id":1,"ok":false,"error":{"code":"unavailable"' "$T/c1.out" &&
    [ -z "$stray" ]
verdict "the group answered at the stop: its run in flight sends nothing under the next request" \
    $? "$(cat "$T/c1.out")"
wait "$DPID"
st=$?
DPID=
[ $st -eq 0 ] || [ $st -eq 1 ]
verdict "rotad stops (exit $st)" $? "$(tail -n 20 "$T/log")"

# 2. The report's reproduction: rotactl exits on the answer and its
# connection is freed; the run in flight ends seconds later.
rotad_run "$T/rotad.yaml" "$T/log2"
"$ROTACTL" rotate --wait k0 >"$T/c2.out" 2>&1 &
C2=$!
started 1
sleep 0.5
kill -TERM "$DPID"
wait $C2
wait "$DPID"
st=$?
DPID=
{ [ $st -eq 0 ] || [ $st -eq 1 ]; } &&
    grep -q 'stopped before run .* started' "$T/c2.out" &&
    ! grep -Eq 'AddressSanitizer|runtime error|LeakSanitizer' "$T/log" "$T/log2"
verdict "rotactl gone at the stop: the run that ends later touches no freed connection" \
    $? "exit $st" "$(cat "$T/c2.out")" \
    "$(grep -E -A30 'Sanitizer|runtime error' "$T/log" "$T/log2" | head -60)"

[ "$n" -eq 4 ] || echo "# planned 4 tests, ran $n"
[ "$failed" -eq 0 ]
