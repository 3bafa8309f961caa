#!/bin/bash
# Integration test: the control socket against peers that try to hold it
# shut (issue 11).  The real rotad on a private directory, its socket in
# group nogroup so that `nobody`, with no rights at all, may connect; then
# as nobody a flood of 1000 connections and a client that dribbles a byte
# a second, while root must still be served.  Speaks TAP.
#
#   tests/integration/attack_socket.sh BUILDDIR
#
# No timing is asserted: only who is served, who is refused and who is
# cut off.
set -u
B=$(realpath "$1")
ROTAD=$B/scheduler/rotad
ROTACTL=$B/ctl/rotactl
T=$(mktemp -d /tmp/rotad-attack.XXXXXX)
PIDS=()
stop_all() {
	local p
	for p in "${PIDS[@]}"; do
		kill -KILL "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	rm -rf "$T"
}
trap stop_all EXIT
export ROTAD_SOCKET=$T/rotad.sock

. "$(dirname "$(realpath "$0")")/lib/tap.sh"
ctl() { "$ROTACTL" "$@"; }

mkdir -p "$T/conf.d" "$T/out"
chmod 755 "$T" # nobody must reach the socket
chmod 777 "$T/out" # and write what it saw
# Workers run as a user of their own: not nobody, the flood below (the
# workers' uid is refused at connect, before any limit is counted).
WU=rotad-test-worker
getent passwd "$WU" >/dev/null ||
    useradd --system --no-create-home --shell /usr/sbin/nologin "$WU"
cat >"$T/rotad.yaml" <<EOY
store: {path: $T/rotad.db, key_file: $T/master.key}
control: {socket: $T/rotad.sock, group: nogroup}
max_workers: 4
worker: {path: $B/rotad-worker, user: $WU}
EOY
{
	echo "resources:"
	echo "  box: {kind: machine, host: 127.0.0.1, protocol: test}"
	echo "users:"
	for i in $(seq 0 499); do echo "  u$i: {login: u$i, resource: box}"; done
} >"$T/conf.d/test.yaml"

# as_nobody NAME ARGS...: the python3 program on stdin saved as NAME.py
# and run as nobody in the background (a background job's stdin would be
# /dev/null); its pid joins PIDS.
as_nobody() {
	local name=$1
	shift
	cat >"$T/$name.py"
	# The modules are loaded first: nobody may not read them.
	python3 -c 'import os, sys, json, resource, select, socket, time
os.setgroups([]); os.setgid(65534); os.setuid(65534)
sys.argv = sys.argv[1:]
exec(open(sys.argv[0]).read())' "$T/$name.py" "$@" &
	PIDS+=($!)
}

echo "1..10"
out=$("$ROTAD" --init -c "$T/rotad.yaml" 2>&1)
verdict "rotad --init" $? "$out"

"$ROTAD" -f -c "$T/rotad.yaml" 2>>"$T/log" &
RPID=$!
PIDS+=("$RPID")
for _ in $(seq 1 100); do
	ctl status >/dev/null 2>&1 && break
	sleep 0.1
done
out=$(ctl status 2>&1)
verdict "rotad starts and answers root" $? "$out" "$(cat "$T/log")"

# The dribbler: one request line, a byte a second, never finished.  It
# writes how it ended.
as_nobody dribble "$T/rotad.sock" "$T/out/dribble" <<'EOP'
import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sys.argv[1])
t0 = time.monotonic()
how = "still open after 60 s"
s.settimeout(1)
while time.monotonic() - t0 < 60:
    try:
        s.send(b" ")
        if s.recv(1) == b"":
            how = "closed"
            break
    except socket.timeout:
        continue
    except OSError as e:
        how = "closed"
        break
open(sys.argv[2], "w").write(how + "\n")
EOP

# The flood: 1000 connections, kept open and silent; those refused get a
# busy line.  It writes how many it holds and how many were refused, then
# holds them until killed.
as_nobody flood "$T/rotad.sock" "$T/out/flood" <<'EOP'
import resource, select, socket, sys, time
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 4096), hard))
socks = []
for i in range(1000):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(sys.argv[1])
    except OSError:
        s.close()
        continue
    socks.append(s)
time.sleep(1)
held = refused = 0
for s in socks:
    r, _, _ = select.select([s], [], [], 0)
    if r:
        data = s.recv(4096)
        refused += b'"busy"' in data
        s.close()
    else:
        held += 1
open(sys.argv[2], "w").write(f"{held} {refused}\n")
time.sleep(600)
EOP
for _ in $(seq 1 100); do [ -s "$T/out/flood" ] && break; sleep 0.2; done
read -r held refused <"$T/out/flood" 2>/dev/null
out=$(ctl status 2>&1)
verdict "with nobody holding 1000 connections and dribbling, root's status succeeds" $? "$out" "flood: ${held:-?} held, ${refused:-?} refused"

[ -n "${held:-}" ] && [ "$held" -le 8 ] && [ "$refused" -ge 990 ]
verdict "nobody holds at most its 8 connections, the rest are told busy" $? "flood: ${held:-?} held, ${refused:-?} refused"

# 50 legitimate clients at once, the flood still there.
for i in $(seq 1 50); do
	(ctl status >"$T/par.$i" 2>&1; echo $? >"$T/par.$i.rc") &
	PIDS+=($!)
done
wait "${PIDS[@]:3}" 2>/dev/null
bad=0 why=
for i in $(seq 1 50); do
	[ "$(cat "$T/par.$i.rc" 2>/dev/null)" = 0 ] && continue
	bad=$((bad + 1))
	why=$(cat "$T/par.$i")
done
verdict "50 parallel root clients all succeed" $bad "$bad failed, the last: $why"

# 500 triggers pipelined on one connection, every one answered in order.
out=$(python3 - "$T/rotad.sock" <<'EOP'
import json, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sys.argv[1])
s.sendall(b"".join(json.dumps({"v": 1, "cmd": "rotate", "user": f"u{i}",
                               "id": i}).encode() + b"\n" for i in range(500)))
f = s.makefile("rb")
ids = []
while len(ids) < 500:
    line = f.readline()
    if not line:
        break
    m = json.loads(line)
    if "ok" in m:
        if not m["ok"]:
            print("error:", m)
        ids.append(m.get("id"))
print(len(ids), ids == list(range(500)))
EOP
)
[ "$out" = "500 True" ]
verdict "500 pipelined triggers on one connection are all answered, in order" $? "$out"

out=$(printf '{"v":1,"cmd":"runs","limit":2147483648}\n' | python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sys.argv[1]); s.sendall(sys.stdin.buffer.read())
print(s.makefile("rb").readline().decode())' "$T/rotad.sock")
echo "$out" | grep -q '"code":"bad_request"' && echo "$out" | grep -q '\\"limit\\" must be from 1 to 1000'
verdict "runs with limit 2^31: bad_request naming the argument and its range" $? "$out"

out=$(ctl --json runs -n 1000 2>&1)
verdict "runs with limit 1000, the bound itself, is served" $? "$out"

# The dribbler's line deadline is 10 s from its first byte.
for _ in $(seq 1 40); do [ -s "$T/out/dribble" ] && break; sleep 0.5; done
out=$(cat "$T/out/dribble" 2>/dev/null)
[ "$out" = "closed" ]
verdict "the byte-a-second dribbler is cut off" $? "${out:-no verdict after 20 s}"

kill -0 "$RPID" 2>/dev/null && ctl status >/dev/null 2>&1
verdict "rotad is still up and answering" $? "$(tail -5 "$T/log")"

[ "$failed" -eq 0 ]
