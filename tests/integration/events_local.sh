#!/bin/bash
# The local sinks against a real rsyslog: events reach rsyslog's unix
# socket (imuxsock on a private path) as RFC 5424 and parse there,
# structured data included (mmpstrucdata); with rsyslog stopped they wait
# in the spool, across a restart of their sender too, and once rsyslog is
# back they all arrive, in order, with no gap in seq.  The file sink, next
# to it, has every event as JSON lines.
#
# Until the daemon spools events itself (scheduler/emit.c), the sender is
# tests/unit/sinks-drive: it spools sample events as the daemon will and
# drives scheduler/sinks.c on a libuv loop; each run of it is one daemon
# lifetime (the store and the cursors persist between runs).
#   tests/integration/events_local.sh BUILDDIR          Speaks TAP.
set -u
B=$(realpath "$1")
DRIVE=$B/tests/unit/sinks-drive
T=$(mktemp -d /tmp/rotad-evl.XXXXXX)
RPID=
. "$(dirname "$(realpath "$0")")/lib/tap.sh"

stop_rsyslog() {
	if [ -n "$RPID" ]; then
		kill -TERM "$RPID" 2>/dev/null
		wait "$RPID" 2>/dev/null
		RPID=
	fi
}
cleanup() {
	stop_rsyslog
	rm -rf "$T"
}
trap cleanup EXIT

if ! command -v rsyslogd >/dev/null; then
	echo "1..0 # SKIP rsyslogd is not installed"
	exit 0
fi
echo "1..9"

mkdir -p "$T/work"
cat >"$T/rsyslog.conf" <<EOF
global(workDirectory="$T/work")
module(load="imuxsock" SysSock.Use="off")
module(load="mmpstrucdata")
# The regular parser chain (RFC 5424 first), not imuxsock's own, and no
# rate limit: a test sends bursts.
input(type="imuxsock" Socket="$T/log" UseSpecialParser="off"
      ParseHostname="on" RateLimit.Interval="0")
template(name="evjson" type="string"
  string="{\"pri\":%pri%,\"hostname\":\"%hostname:::json%\",\"app\":\"%app-name:::json%\",\"msgid\":\"%msgid:::json%\",\"msg\":\"%msg:::json%\",\"sd\":%\$!%}\n")
action(type="mmpstrucdata")
action(type="omfile" file="$T/received.json" template="evjson")
EOF

start_rsyslog() {
	local i
	rm -f "$T/rsyslog.pid"
	rsyslogd -n -f "$T/rsyslog.conf" -i "$T/rsyslog.pid" \
	    2>>"$T/rsyslog.err" &
	RPID=$!
	for i in $(seq 1 100); do
		[ -S "$T/log" ] && return 0
		kill -0 "$RPID" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}

# wait_lines FILE N: FILE has N lines (5 s at most: omfile writes as it
# goes, but rsyslog queues).
wait_lines() {
	local i
	for i in $(seq 1 50); do
		[ "$(wc -l <"$1" 2>/dev/null || echo 0)" -ge "$2" ] && return 0
		sleep 0.1
	done
	return 1
}

# check_received N: received.json holds exactly the events with seq 1..N,
# in order, each parsed by rsyslog as RFC 5424 with its SD.
check_received() {
	/usr/bin/python3 - "$T/received.json" "$1" <<'EOF'
import json, sys
names = ["record_rotation_scheduled_ok", "record_rotation_scheduled_fail",
    "record_rotation_on_demand_ok", "record_rotation_on_demand_fail",
    "rotation_started", "rotation_retry_scheduled", "rotation_recovered",
    "rotation_out_of_sync", "verify_ok", "verify_fail", "config_reloaded",
    "config_rejected", "job_file_skipped", "control_denied", "secret_read",
    "secret_set", "daemon_started", "daemon_stopping", "events_dropped"]
lines = open(sys.argv[1]).read().splitlines()
n = int(sys.argv[2])
if len(lines) != n:
    sys.exit("%d lines, expected %d" % (len(lines), n))
for i, line in enumerate(lines):
    j = json.loads(line)
    sd = j["sd"]["rfc5424-sd"]["rotad@32473"]
    want = names[i % len(names)]
    if int(sd["seq"]) != i + 1:
        sys.exit("line %d: seq %s, expected %d" % (i + 1, sd["seq"], i + 1))
    if j["msgid"] != want or j["app"] != "rotad" or \
       j["hostname"] != "vault1.example.com" or j["pri"] // 8 != 10:
        sys.exit("line %d: header %r" % (i + 1, j))
    if want.startswith("record_rotation_scheduled") and \
       (sd["user"] != "app_reader" or sd["trigger"] != "scheduled" or
        sd["run_id"] != "5b0c6f6e-2f4a-4d53-9a57-1c2f0e8f3a41"):
        sys.exit("line %d: SD %r" % (i + 1, sd))
    if want == "record_rotation_scheduled_fail" and \
       (sd["error_class"] != "auth" or j["pri"] != 83 or
        "password authentication failed" not in j["msg"]):
        sys.exit("line %d: %r" % (i + 1, j))
EOF
}

start_rsyslog
verdict "rsyslog listens on a private unix socket" $? \
    "$(cat "$T/rsyslog.err" 2>/dev/null)"

# A first lifetime with nothing spooled: the sinks start at the spool's
# end (0), then five events go out.
out=$("$DRIVE" "$T" rfc5424 0 2000 2>&1) &&
    out=$("$DRIVE" "$T" rfc5424 5 5000 2>&1)
verdict "five events are delivered and acknowledged ($out)" $? "$out"
wait_lines "$T/received.json" 5
err=$(check_received 5 2>&1)
verdict "rsyslog parsed them: RFC 5424 header and structured data, seq 1-5" \
    $? "$err" "$(head -3 "$T/received.json" 2>/dev/null)"

# rsyslog stops; four events wait, then the sender restarts and three
# more wait behind them.
stop_rsyslog
out=$("$DRIVE" "$T" rfc5424 4 1500 2>&1)
st=$?
[ "$st" -eq 2 ] && [ "$out" = "last=9 local=5 audit=9" ]
verdict "with rsyslog down, the syslog sink keeps its cursor ($out)" $? \
    "exit $st"
out=$("$DRIVE" "$T" rfc5424 3 500 2>&1)
st=$?
[ "$st" -eq 2 ] && [ "$out" = "last=12 local=5 audit=12" ]
verdict "a restart of the sender still waits at the cursor ($out)" $? \
    "exit $st"
[ "$(wc -l <"$T/received.json")" -eq 5 ]
verdict "nothing arrived while rsyslog was down" $?

# rsyslog is back: the next lifetime catches up from the cursor.
start_rsyslog &&
    out=$("$DRIVE" "$T" rfc5424 0 10000 2>&1)
verdict "after rsyslog starts again, the sink catches up ($out)" $? "$out"
wait_lines "$T/received.json" 12
err=$(check_received 12 2>&1)
verdict "all twelve arrived, in order, no gap and no duplicate in seq" $? \
    "$err"

# The file sink: JSON lines, seq 1-12.
err=$(/usr/bin/python3 -c '
import json, sys
seqs = [json.loads(l)["seq"] for l in open(sys.argv[1])]
sys.exit(None if seqs == list(range(1, 13)) else "seqs %r" % seqs)
' "$T/events.jsonl" 2>&1)
verdict "the file sink has every event as a JSON line, seq 1-12" $? "$err"

[ "$failed" -eq 0 ]
