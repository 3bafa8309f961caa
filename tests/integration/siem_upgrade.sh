#!/bin/bash
# rotad-siem after a library it runs is replaced on disk (a security
# update of libmicrohttpd, GnuTLS or OpenSSL), end to end: the real
# daemon, rotad-siem started as systemd starts it from rotad-siem.socket
# (lib/sdsocket.py does what systemd does: it holds the listening socket,
# keeps the file rotad-siem hands it with FDSTORE=1, and starts it again
# on exit status 3), and real curl.  rotad-siem runs in a mount namespace
# of its own where a copy of libmicrohttpd is bind-mounted over the real
# file; lifting the mount and removing the copy is what dpkg's rename
# does to the old file.  It stays while nothing changes; once the file
# is replaced it ends once idle, and the next start serves a request
# that waited in the socket's queue meanwhile, signed before that start,
# with the replay cache of the life before (a replay answered as one, a
# request from before the first start still refused).  Started with
# --listen instead, it says a restart is needed and goes on.
#   tests/integration/siem_upgrade.sh BUILDDIR          Speaks TAP.
set -u
B=$(realpath "$1")
ROTAD=$B/scheduler/rotad
ROTACTL=$B/ctl/rotactl
SIEM=$B/siem/rotad-siem
HERE=$(dirname "$(realpath "$0")")
SDSOCK=$HERE/lib/sdsocket.py
T=$(mktemp -d /tmp/rotad-siemup.XXXXXX)
. "$HERE/lib/tap.sh"
. "$HERE/lib/rotad.sh"
. "$HERE/lib/siem.sh"
HPID= LPID=
stop_all() {
	[ -n "$HPID" ] && kill "$HPID" 2>/dev/null && wait "$HPID" 2>/dev/null
	[ -n "$LPID" ] && kill "$LPID" 2>/dev/null && wait "$LPID" 2>/dev/null
	stop_siem
	rotad_kill
	rm -rf "$T"
}
trap stop_all EXIT
export ROTAD_SOCKET=$T/rotad.sock
ctl() { "$ROTACTL" "$@"; }

if [ ! -x "$SIEM" ]; then
	echo "1..0 # SKIP rotad-siem not built (no libmicrohttpd)"
	exit 0
fi

mkdir -p "$T/conf.d" "$T/sd" "$T/sd2" "$T/sd3"
chmod 711 "$T"
siem_begin
printf 'first-secret-of-app-7Qx\n' >"$T/app.pw"
chmod 600 "$T/app.pw"
siem_rotad_yaml
cat >"$T/conf.d/a.yaml" <<EOF2
resources:
  box: {kind: machine, protocol: test}
users:
  app: {login: app, resource: box, password_file: $T/app.pw}
EOF2

# PID of the rotad-siem a sdsocket.py log started last.
siem_pid() { sed -n 's/^start [0-9]* pid \([0-9]*\) .*/\1/p' "$1" | tail -n 1; }
# wait_for FILE PATTERN [SECONDS]: until FILE holds a line matching it.
wait_for() {
	for _ in $(seq 1 $((${3:-10} * 10))); do
		grep -q -- "$2" "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}
PORT2=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
run_of() { echo "${1#* }" | jget 'j["runs"][0]["run"]' 2>/dev/null; }

MHDREAL=$(realpath "$(ldd "$SIEM" | awk '$1 ~ /^libmicrohttpd/ { print $3 }')")
cp "$MHDREAL" "$T/mhd.so"
cp "$MHDREAL" "$T/mhd2.so"
# inns COPY CMD...: CMD in a mount namespace of its own, COPY over the
# real libmicrohttpd.
cat >"$T/inns" <<EOF
#!/bin/sh
copy=\$1
shift
exec unshare -m --propagation private -- sh -c \
    'mount --bind "\$1" "\$2" && shift 2 && exec "\$@"' sh "\$copy" \
    "$MHDREAL" "\$@"
EOF
chmod 755 "$T/inns"
ARGS=(--cert "$T/tls.crt" --key "$T/tls.key" --socket "$T/rotad.sock"
    --user "$SU" --hmac-key-file "$T/hmac.key")

echo "1..12"
rotad_start "$T/rotad.yaml" "$T/log"
verdict "rotad starts" $? "$ROTAD_OUT" "$(tail -n 5 "$T/log")"

# 2: started as systemd starts it from the socket unit: the socket
# passed, no --listen; it hands systemd a memory file for its replay
# cache, and maps the copy.
"$T/inns" "$T/mhd.so" python3 "$SDSOCK" --listen "127.0.0.1:$PORT" \
    --dir "$T/sd" --restart-delay 2 -- "$SIEM" "${ARGS[@]}" \
    >"$T/sd.log" 2>"$T/siem.log" &
HPID=$!
wait_for "$T/siem.log" 'listening on'
P1=$(siem_pid "$T/sd.log")
NB1=$(sed -n 's/.*refusing timestamps before \([0-9]*\) .*/\1/p' "$T/siem.log" | head -n 1)
ino=$(stat -c %i "$T/mhd.so")
copy=$(awk -v i="$ino" '$5 == i && $2 ~ /x/' "/proc/$P1/maps" 2>&1)
grep -q "listening on https://127.0.0.1:$PORT/v1/rotate (socket from systemd) as uid $(id -u "$SU"), hmac authentication; refusing timestamps before $NB1 (this start)" "$T/siem.log" &&
    wait_for "$T/sd.log" '^stored replay$' 2 && [ -n "$copy" ]
verdict "from the socket systemd passes: it listens, hands over a file for its replay cache, maps the copy" $? \
    "$(cat "$T/sd.log")" "$(cat "$T/siem.log")" "maps: $copy"
while [ "$(date +%s)" -lt "${NB1:-0}" ]; do sleep 0.1; done

# 3: a signed request rotates app.
B1='{"alert_id":"up-1","users":["app"]}'
TS1=$(date +%s)
out=$(post "$B1" "$TS1")
run=$(run_of "$out")
[ "${out%% *}" = 202 ] && committed "$run"
verdict "a signed request: 202, the run commits" $? "$out" "$(tail -n 3 "$T/siem.log")"

# 4: nothing replaced: after its looks (once a second), the same process.
sleep 2.2
[ "$(siem_pid "$T/sd.log")" = "$P1" ] && kill -0 "$P1" &&
    ! grep -q 'replaced on disk' "$T/siem.log"
verdict "while nothing is replaced, it stays" $? "$(cat "$T/sd.log")" \
    "$(cat "$T/siem.log")"

# 5: the copy replaced as dpkg replaces a library.  It ends once idle
# (status 3); systemd (here sdsocket.py) starts it again 2 s later, and a
# request made in between, signed then, waits in the socket's queue and
# is served by the next life, which has the cache and the bound of the
# life before.
TS2=$(date +%s)
nsenter -t "$P1" -m umount -l "$MHDREAL"
rm -f "$T/mhd.so"
wait_for "$T/sd.log" '^restart in' 5
st=$?
out=$(post '{"alert_id":"up-2","users":["app"]}' "$TS2")
P2=$(siem_pid "$T/sd.log")
run=$(run_of "$out")
[ $st -eq 0 ] &&
    grep -q "^rotad-siem: runs .*, replaced on disk since it started: ending once idle; the socket stays open for the next start" "$T/siem.log" &&
    grep -q "^exit pid $P1 status 3$" "$T/sd.log" &&
    grep -q "^start 2 pid $P2 fds rotad-siem.socket replay$" "$T/sd.log" &&
    [ "${out%% *}" = 202 ] && committed "$run"
verdict "replaced on disk: it ends once idle (3), and the next start serves a request that waited, signed before it" $? \
    "$out" "$(cat "$T/sd.log")" "$(cat "$T/siem.log")"

# 6: the next life has the bound of the first, and runs the real file.
grep -q "refusing timestamps before $NB1 (the bound of the life before, whose replay cache was handed over)" "$T/siem.log" &&
    ! grep -q ' (deleted)$' "/proc/$P2/maps" && kill -0 "$P2"
verdict "the next life keeps the first one's bound and maps the real library" $? \
    "$(tail -n 4 "$T/siem.log")"

# 7: the first request sent again is a replay to it (409), not a
# request it cannot rule out (401 stale): the cache was handed over.
out=$(post "$B1" "$TS1")
[ "${out%% *}" = 409 ] && echo "${out#* }" | grep -q '"replay"'
verdict "the first life's request, replayed to the second: 409 replay" $? "$out"
out=$(post '{"alert_id":"up-0","users":["app"]}' $((NB1 - 1)))
[ "${out%% *}" = 401 ] && echo "${out#* }" | grep -q '"stale"'
verdict "... one signed before the first start: still 401 stale" $? "$out"

# 8: a socket from systemd and --listen: refused, one or the other.
python3 "$SDSOCK" --listen "127.0.0.1:$PORT2" --dir "$T/sd2" -- \
    "$SIEM" --listen "127.0.0.1:$PORT2" "${ARGS[@]}" >"$T/sd2.log" 2>"$T/siem2.log"
st=$?
[ $st -ne 0 ] && grep -q -- '--listen, and a socket from systemd: name one, not both' "$T/siem2.log"
verdict "a socket from systemd and --listen: refused" $? "status $st" \
    "$(cat "$T/siem2.log")"

# 10: the unit's old way of naming the address, ROTAD_SIEM_LISTEN in a
# drop-in, left after an upgrade: refused, rather than listening on the
# socket unit's wider address.
timeout 20 env ROTAD_SIEM_LISTEN=10.9.9.9:8443 python3 "$SDSOCK" \
    --listen "127.0.0.1:$PORT2" --dir "$T/sd3" -- "$SIEM" "${ARGS[@]}" \
    >"$T/sd3.log" 2>"$T/siem4.log"
st=$?
[ $st -ne 0 ] && grep -q 'ROTAD_SIEM_LISTEN is set (10.9.9.9:8443), but the address is rotad-siem.socket.s now' "$T/siem4.log" &&
    ! grep -q 'listening on' "$T/siem4.log"
verdict "ROTAD_SIEM_LISTEN left in a drop-in: refused, naming where the address goes" $? \
    "status $st" "$(cat "$T/siem4.log")"

# 11, 12: started with --listen (no one holds the socket for it), the same
# replacement: it says a restart is needed, once, and goes on serving.
: >"$T/siem3.log"
"$T/inns" "$T/mhd2.so" "$SIEM" --listen "127.0.0.1:$PORT2" "${ARGS[@]}" \
    2>"$T/siem3.log" &
LPID=$!
wait_for "$T/siem3.log" 'listening on'
NB3=$(sed -n 's/.*refusing timestamps before \([0-9]*\) .*/\1/p' "$T/siem3.log")
while [ "$(date +%s)" -lt "${NB3:-0}" ]; do sleep 0.1; done
SP3=$(pgrep -n -f "rotad-siem --listen 127.0.0.1:$PORT2")
nsenter -t "$SP3" -m umount -l "$MHDREAL"
rm -f "$T/mhd2.so"
wait_for "$T/siem3.log" 'replaced on disk' 5
sleep 1.2
grep -q "^rotad-siem: runs .*, replaced on disk since it started: restart rotad-siem to run the new code$" "$T/siem3.log" &&
    [ "$(grep -c 'replaced on disk' "$T/siem3.log")" = 1 ] && kill -0 "$SP3"
verdict "with --listen: a replaced library is said once, and it goes on" $? \
    "$(cat "$T/siem3.log")"
out=$(URL=https://127.0.0.1:$PORT2/v1/rotate post '{"alert_id":"up-3","users":["app"]}')
[ "${out%% *}" = 202 ] && committed "$(run_of "$out")"
verdict "... and still serves: 202, the run commits" $? "$out"
[ "$failed" -eq 0 ]
