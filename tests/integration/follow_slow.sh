#!/bin/bash
# `events --follow` by a client that stops reading (control review,
# finding 3): the daemon keeps at most CONTROL_DEFAULT_PROGRESS_MAX (4 MiB)
# of its lines, then sends it a last line (too_slow) and closes it; its
# memory stays bounded while events go on; a follower that reads gets every
# event.  The real daemon on a private directory, the test provider; the
# slow follower is nobody, with the read right only.  Speaks TAP.
#
#   tests/integration/follow_slow.sh BUILDDIR
set -u
. "$(dirname "$(realpath "$0")")/lib/tap.sh"
. "$(dirname "$(realpath "$0")")/lib/rotad.sh"
rotad_test "$1" follow
ctl() { "$ROTACTL" "$@"; }
N=60000 # secret_read events made: about 12 MiB of follow lines

printf 'a-secret-for-follow-9Wd\n' >"$T/app.pw"
chmod 600 "$T/app.pw"
rotad_test_conf "  group: nogroup" "  acl:" "    - {user: nobody, rights: [read]}"
printf '%s\n' "resources: {box: {kind: machine, protocol: test}}" \
    "users: {app: {login: app, resource: box, password_file: $T/app.pw}}" \
    >"$T/conf.d/a.yaml"

rss() { awk '/^VmRSS:/ { print $2 }' "/proc/$DPID/status"; }

echo "1..5"
out=$("$ROTAD" --init -c "$T/rotad.yaml" 2>&1)
rotad_run "$T/rotad.yaml" "$T/log"
verdict "rotad starts" $? "$out" "$(tail -n 5 "$T/log")"

# The slow follower: asks, then reads nothing until $T/go exists; then
# reads to EOF and says how many events it got and its last line.
setpriv --reuid=nobody --regid=nogroup --clear-groups \
    /usr/bin/python3 - "$ROTAD_SOCKET" "$T/go" >"$T/slow.out" 2>&1 <<'PYEOF' &
import os, socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
s.connect(sys.argv[1])
s.sendall(b'{"v":1,"cmd":"events","follow":true,"id":"slow"}\n')
while not os.path.exists(sys.argv[2]):
    time.sleep(0.1)
s.settimeout(20)
got = []
while True:
    b = s.recv(1 << 20)
    if not b:
        break
    got.append(b)
lines = b"".join(got).split(b"\n")
print(sum(1 for l in lines if b'"event"' in l))
print(lines[-2].decode() if len(lines) > 1 else "")
PYEOF
SLOW=$!
# The reading follower: rotactl, as an operator runs it.
"$ROTACTL" --json events --follow >"$T/fast.out" 2>&1 &
FAST=$!
ROTAD_TEST_PIDS="$SLOW $FAST"
sleep 1
r0=$(rss)

# produce: N/2 secret_get requests pipelined on one connection, each an
# event.
produce() {
	python3 - "$ROTAD_SOCKET" "$((N / 2))" <<'PYEOF'
import socket, sys, threading
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
n = int(sys.argv[2])
req = b'{"v":1,"cmd":"secret_get","user":"app"}\n'
threading.Thread(target=lambda: s.sendall(req * n), daemon=True).start()
f = s.makefile("rb")
for _ in range(n):
    f.readline()
PYEOF
}
# The first half fills what the daemon keeps anyway (the store's cache,
# the allocator's arenas) and the slow follower's 4 MiB; the second half
# may add nothing of the slow follower's.
produce
r1=$(rss)
produce
r2=$(rss)
# Every event reached the reading follower.
for _ in $(seq 100); do
	[ "$(grep -c '"secret_read"' "$T/fast.out")" -ge "$N" ] && break
	sleep 0.1
done
fast=$(grep -c '"secret_read"' "$T/fast.out")

echo "# VmRSS ${r0} kB, ${r1} kB after $((N / 2)) events, ${r2} kB after $N"
what="events go on while a follower reads nothing: rotad's RSS stays flat (< 3 MiB for $((N / 2)) more)"
if ldd "$ROTAD" | grep -q libasan; then
	ok "$what # SKIP ASan's quarantine grows RSS by itself"
else
	[ $((r2 - r1)) -lt 3072 ]
	verdict "$what" $? \
	    "VmRSS ${r0} kB, ${r1} kB after $((N / 2)) events, ${r2} kB after $N"
fi

touch "$T/go"
wait $SLOW
got=$(sed -n 1p "$T/slow.out")
last=$(sed -n 2p "$T/slow.out")
echo "$last" | grep -q '"id":"slow","ok":false,"error":{"code":"too_slow"' &&
    [ "$got" -lt "$N" ]
verdict "the follower that stopped reading gets what was kept, a last line too_slow, and EOF" \
    $? "events: $got of $N" "last line: $last" "$(tail -n 3 "$T/slow.out")"

grep -q 'ROTAD-0020 control: uid 65534 pid [0-9]* closed: it left more than 4096 KiB of progress lines' "$T/log" &&
    [ "$(grep -c 'closed: it left more than' "$T/log")" -eq 1 ]
verdict "its close is logged, once (ROTAD-0020)" $? \
    "$(grep -E 'ROTAD-0020' "$T/log" | tail -n 3)"

kill -0 $FAST 2>/dev/null && [ "$fast" -ge "$N" ]
verdict "the follower that reads has every event and is still following" $? \
    "secret_read events: $fast of $N" "$(tail -n 2 "$T/fast.out")"
kill $FAST 2>/dev/null

[ "$n" -eq 5 ] || echo "# planned 5 tests, ran $n"
[ "$failed" -eq 0 ]
