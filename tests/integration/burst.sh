#!/bin/bash
# A burst: 3,000 noop users due at the same second.  The daemon takes
# every fire at once, queues them a share a turn of the loop (fire.c:
# queueing them all in one go held the control socket for tens of
# milliseconds), and starts their runs in the order it took the fires.
# Checked from outside: one run a fire, every run committed, the runs
# started in the order the fires were taken, and the control socket
# answering every request sent during the burst.  How fast is the
# benches' business (bench/run-burst), not this test's.  Speaks TAP.
#   tests/integration/burst.sh BUILDDIR
set -u
B=$(realpath "$1")
ROTAD=$B/scheduler/rotad
ROTACTL=$B/ctl/rotactl
T=$(mktemp -d /tmp/rotad-burst.XXXXXX)
PROBE=
cleanup() {
	if [ -n "$PROBE" ]; then
		kill "$PROBE" 2>/dev/null
		wait "$PROBE" 2>/dev/null
	fi
	rotad_kill
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP
export ROTAD_SOCKET=$T/rotad.sock
N=3000

. "$(dirname "$(realpath "$0")")/lib/tap.sh"
. "$(dirname "$(realpath "$0")")/lib/rotad.sh"

mkdir -p "$T/conf.d"
cat >"$T/rotad.yaml" <<EOF
store: {path: $T/rotad.db, key_file: $T/master.key}
control: {socket: $T/rotad.sock}
worker: {path: $B/rotad-worker, user: nobody}
conf_dir: $T/conf.d
EOF
# Every user fires once, at DUE: a whole second far enough ahead for the
# daemon to start (a cron spec with its year).
DUE=$(python3 -c 'import time; print(int(time.time()) + 6)')
python3 - "$T/conf.d/burst.yaml" "$DUE" "$N" <<'EOF'
import sys, time
path, due, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
tm = time.gmtime(due)
cron = (f"{tm.tm_sec} {tm.tm_min} {tm.tm_hour} {tm.tm_mday} {tm.tm_mon} "
        f"? {tm.tm_year}")
with open(path, "w") as f:
    f.write("users:\n")
    for i in range(n):
        f.write(f"  b{i:04d}: {{noop: true, schedule: "
                f"{{cron: \"{cron}\", tz: UTC}}}}\n")
EOF

echo "1..5"

rotad_start "$T/rotad.yaml" "$T/log"
verdict "the daemon starts with $N noop users due at one second" $? \
    "$ROTAD_OUT" "$(tail -5 "$T/log")"

# A status request after another from just before the second until the
# burst is over: each must be answered (how soon is the bench's).
(
	sent=0 answered=0
	while [ ! -e "$T/probe.stop" ]; do
		sent=$((sent + 1))
		"$ROTACTL" status >/dev/null 2>&1 && answered=$((answered + 1))
	done
	echo "$sent $answered" >"$T/probe.out"
) &
PROBE=$!

# The burst is over when every run has ended (60 s at most).
ended=0
for _ in $(seq 1 600); do
	ended=$(sqlite3 "$T/rotad.db" "select count(*) from runs where state in ('committed', 'failed', 'out_of_sync')" 2>/dev/null)
	[ "${ended:-0}" -ge "$N" ] && break
	sleep 0.1
done
touch "$T/probe.stop"
wait "$PROBE"
PROBE=

got=$(sqlite3 "$T/rotad.db" "select count(*), count(distinct user_name), sum(state = 'committed') from runs")
[ "$got" = "$N|$N|$N" ]
verdict "every fire made one run, and every run committed" $? \
    "runs, users, committed: $got (want $N|$N|$N)"

taken=$(grep -c ': due, taken [0-9]* us late' "$T/log")
[ "$taken" = "$N" ]
verdict "the daemon took every fire ($taken)" $?

# The order the fires were taken (the log's lines) is the order their
# runs started (the rotation_started events, by sequence number).
: >"$T/events"
since=0
while :; do
	"$ROTACTL" events --json --since "$since" -n 1000 >"$T/page" 2>>"$T/events.err" ||
	    break
	cat "$T/page" >>"$T/events"
	[ "$(wc -l <"$T/page")" -lt 1000 ] && break
	since=$(tail -n 1 "$T/page" | jget 'j["seq"]')
done
python3 - "$T/log" "$T/events" <<'EOF'
import json, re, sys
taken = [m.group(1) for m in
         (re.search(r" ([^ ]+): due, taken \d+ us late", l)
          for l in open(sys.argv[1])) if m]
events = [json.loads(l) for l in open(sys.argv[2]) if l.strip()]
events.sort(key=lambda e: e["seq"])
started = [e["user"] for e in events if e["name"] == "rotation_started"]
if taken != started or len(set(taken)) != len(taken):
    i = next((i for i, (a, b) in enumerate(zip(taken, started)) if a != b),
             min(len(taken), len(started)))
    print(f"taken {len(taken)}, started {len(started)}; first difference "
          f"at {i}: {taken[i:i + 3]} against {started[i:i + 3]}")
    sys.exit(1)
EOF
verdict "the runs started in the order the fires were taken" $? \
    "$(head -c 300 "$T/events.err")"

read -r sent answered <"$T/probe.out"
[ "$sent" -gt 0 ] && [ "$answered" = "$sent" ]
verdict "the control socket answered every request during the burst ($answered of $sent)" $?

exit $((failed > 0))
