#!/bin/bash
# Integration test of the daemon: the real rotad on a private directory
# (its own socket, store and conf.d), driven only through its socket with
# rotactl, checked with rotactl, sqlite3 and the log.  Speaks TAP.
#
#   tests/integration/daemon.sh BUILDDIR
#
# Runs go through the in-tree test provider (protocol: test), which changes
# nothing and can be told to be slow or to fail; the worker issue replaces
# it with real targets.
set -u
B=$(realpath "$1")
ROTAD=$B/scheduler/rotad
ROTACTL=$B/ctl/rotactl
T=$(mktemp -d /tmp/rotad-daemon.XXXXXX)
PID=
JUMPED=
# setclock SECONDS: the wall clock set to the test's start timeline plus
# SECONDS (0 puts it back where it would have been), measured on the
# monotonic clock so that nothing is lost by the jumps.
BASE=$(python3 -c 'import time; print(repr(time.time() - time.clock_gettime(time.CLOCK_MONOTONIC)))')
setclock() {
	python3 -c 'import sys, time
time.clock_settime(time.CLOCK_REALTIME,
    float(sys.argv[1]) + time.clock_gettime(time.CLOCK_MONOTONIC) + float(sys.argv[2]))' "$BASE" "$1"
}
stop_all() {
	[ -n "$JUMPED" ] && setclock 0
	if [ -n "$PID" ]; then
		kill -KILL "$PID" 2>/dev/null
		wait "$PID" 2>/dev/null
	fi
	rm -rf "$T"
}
trap stop_all EXIT
export ROTAD_SOCKET=$T/rotad.sock

. "$(dirname "$(realpath "$0")")/lib/tap.sh"
# jlast EXPR: jget on the last line (the answer after --wait progress)
jlast() { tail -n 1 | jget "$1"; }
ctl() { "$ROTACTL" "$@"; }

start() { # [wrapper...]: start rotad -f in the background, wait for it
	local i
	"$@" "$ROTAD" -f -c "$T/rotad.yaml" 2>>"$T/log" &
	PID=$!
	for i in $(seq 1 100); do
		ctl status >/dev/null 2>&1 && return 0
		kill -0 "$PID" 2>/dev/null || break
		sleep 0.1
	done
	return 1
}
stop() { # SIGTERM and wait; the exit status in $ST
	kill -TERM "$PID"
	wait "$PID"
	ST=$?
	PID=
}
runs_of() { sqlite3 "$T/rotad.db" "select count(*) from runs where user_name = '$1'"; }

mkdir -p "$T/conf.d"
chmod 755 "$T" # the `nobody` client must reach the socket
# Workers run as a user of their own: not nobody, the client without
# rights below (the workers' uid is refused at connect, before any right
# is looked at).
WU=rotad-test-worker
getent passwd "$WU" >/dev/null ||
    useradd --system --no-create-home --shell /usr/sbin/nologin "$WU"
printf 'initial-secret-of-alice\n' >"$T/alice.pw"
chmod 600 "$T/alice.pw"
cat >"$T/rotad.yaml" <<EOF
store: {path: $T/rotad.db, key_file: $T/master.key}
control: {socket: $T/rotad.sock, group: nogroup}
metrics: {textfile: $T/rotad.prom}
max_workers: 4
worker: {path: $B/rotad-worker, user: $WU}
EOF
cat >"$T/conf.d/test.yaml" <<EOF
resources:
  box: {kind: machine, host: 127.0.0.1, protocol: test}
  slow: {kind: machine, host: 127.0.0.1, protocol: test, test_delay: 1s}
  one:
    kind: machine
    host: 127.0.0.1
    protocol: test
    test_delay: 1s
    max_concurrent: 1
  flaky:
    kind: machine
    host: 127.0.0.1
    protocol: test
    test_fail: 2
    test_error: transient
  broken:
    kind: machine
    host: 127.0.0.1
    protocol: test
    test_fail: 1000
    test_error: fatal
users:
  alice: {login: alice, resource: box, password_file: $T/alice.pw}
  sloth: {login: sloth, resource: slow}
  p1: {login: p1, resource: one}
  p2: {login: p2, resource: one}
  flake: {login: flake, resource: flaky, retry: {attempts: 5, initial: 1s, max: 2s}}
  wreck: {login: wreck, resource: broken, retry: {attempts: 5, initial: 1s, max: 2s}}
EOF

echo "1..32"
out=$("$ROTAD" --init -c "$T/rotad.yaml" 2>&1)
verdict "rotad --init creates the key and store" $? "$out"

start
st=$?
out=$(ctl --json status 2>&1)
[ $st -eq 0 ] && [ "$(echo "$out" | jget 'j["generation"], j["users"], j["state"]')" = "(1, 6, 'running')" ]
verdict "rotad -f starts; status: generation 1, 6 users" $? "$out" "$(cat "$T/log")"

# The user list as docs/control-protocol.md has it, and as rotactl prints it.
out=$(ctl list 2>&1) && js=$(ctl --json list 2>&1) &&
    [ "$(echo "$js" | jget 'sorted(j["users"][0].keys())')" = "['credential', 'last_fire', 'last_outcome', 'name', 'next_fire', 'paused', 'resource', 'running', 'schedule', 'secret', 'tz']" ] &&
    echo "$out" | grep -q '^alice '
verdict "list: every documented field, and rotactl prints it" $? "$out" "$js"

# The daemon holds the master key: the kernel writes no core of it.
lim=$(grep '^Max core file size' "/proc/$PID/limits" 2>&1)
echo "$lim" | grep -Eq 'size +0 +0 '
verdict "the daemon runs with RLIMIT_CORE 0" $? "$lim"

out=$(ctl rotate --wait alice 2>&1)
st=$?
hist=$(ctl --json secret history alice 2>&1)
# Its progress lines begin as rotactl(1)'s example shows them.
[ $st -eq 0 ] && echo "$out" | grep -q 'state: committed' &&
    echo "$out" | sed -n 1p | grep -Eqx 'queued      run [0-9a-f-]{36}' &&
    [ "$(echo "$out" | sed -n 2p)" = "started     attempt 1" ] &&
    [ "$(echo "$hist" | jget '[v["state"] for v in j["versions"]]')" = "['current', 'previous']" ]
verdict "rotate --wait commits, its progress as rotactl(1) shows it; the imported secret becomes previous" $? "$out" "$hist"

if ctl secret history alice | grep -q initial-secret || grep -q initial-secret "$T/log" ||
    grep -aq initial-secret "$T"/rotad.db*; then
	not_ok "no secret in the history, the log or the store file's plain text"
else ok "no secret in the history, the log or the store file's plain text"; fi

a=$(ctl --json rotate sloth 2>&1)
b=$(ctl --json rotate sloth 2>&1)
ra=$(echo "$a" | jget 'j["run"], j["coalesced"]')
rb=$(echo "$b" | jget 'j["run"], j["coalesced"]')
[ "${ra%,*}" = "${rb%,*}" ] && [ "${ra#*, }" = "False)" ] && [ "${rb#*, }" = "True)" ]
verdict "a second trigger while running is coalesced into the same run" $? "$a" "$b"

ctl rotate p1 >/dev/null && ctl rotate p2 >/dev/null
out=$(ctl --json status)
[ "$(echo "$out" | jget 'j["running"] >= 1 and j["queued"] == 1')" = True ]
verdict "max_concurrent 1: the second user of a resource waits in the queue" $? "$out"

out=$(ctl --json rotate --wait flake 2>&1)
[ "$(echo "$out" | jlast 'j["run"]["state"], j["run"]["attempts"]')" = "('committed', 3)" ] &&
    grep -q 'ROTAD-.*flake.*attempt 2 in' "$T/log"
verdict "transient errors are retried with backoff until it commits (3 attempts)" $? "$out"

out=$(ctl --json rotate --wait wreck 2>&1)
st=$?
[ $st -eq 1 ] &&
    [ "$(echo "$out" | jlast 'j["run"]["state"], j["run"]["attempts"], j["run"]["error_class"]')" = "('failed', 1, 'fatal')" ]
verdict "a fatal error is not retried; rotactl exits 1" $? "st=$st" "$out"

# wait for the queued runs (p1, p2, sloth) to finish
for i in $(seq 1 100); do
	[ "$(ctl --json status | jget 'j["running"] + j["queued"]')" = 0 ] && break
	sleep 0.1
done
out=$(ctl runs 2>&1)
[ "$(ctl --json runs | jget 'sorted(set(r["state"] for r in j["runs"]))')" = "['committed', 'failed']" ]
verdict "every run ends committed or failed" $? "$out"

m=$(ctl metrics 2>&1)
echo "$m" | grep -q '^rotad_runs_total{outcome="committed"} 5$' &&
    echo "$m" | grep -q '^rotad_runs_total{outcome="failed"} 1$' &&
    echo "$m" | grep -q '^rotad_retries_total 2$' &&
    echo "$m" | grep -q '^rotad_last_success_timestamp_seconds{user="alice"} ' &&
    grep -q '^rotad_workers ' "$T/rotad.prom"
verdict "metrics count runs by outcome and retries; the textfile is written" $? "$m"

echo carol-initial-secret >"$T/carol.pw"
chmod 600 "$T/carol.pw"
cat >"$T/conf.d/more.yaml" <<EOF
users:
  carol: {login: carol, resource: box, password_file: $T/carol.pw, schedule: {cron: "0 0 4 ? * MON-FRI", tz: Europe/Paris}}
EOF
out=$(ctl reload 2>&1)
st=$?
[ $st -eq 0 ] && echo "$out" | grep -q 'generation 2' && ctl show carol >/dev/null 2>&1
verdict "reload adopts a new job file (generation 2)" $? "$out"

# password_file is imported while the store has no secret for the user:
# at --init, at start, and by the reload that adds the user.
hist=$(ctl --json secret history carol 2>&1)
[ "$(echo "$hist" | jget '[v["state"] for v in j["versions"]]')" = "['current']" ]
verdict "the reload that adds a user imports its password_file" $? "$hist"

# A reload keeps the place in the schedule of a user whose schedule is the
# same (not computed again), and moves one whose schedule changed -- here
# only its zone: erin's next fire becomes New York's 04:00, carol's stays.
fires() { # USER: its next fire from the schedule (show), as epoch seconds
	ctl --json show "$1" | jget 'int(__import__("datetime").datetime.fromisoformat(j["user"]["next_fire"]).timestamp())'
}
first() { # USER: the first instant `rotactl next` computes, as epoch seconds
	ctl --json next "$1" -n 1 | jget 'int(__import__("datetime").datetime.fromisoformat(j["next"][0]).timestamp())'
}
more_yaml() { # ERIN_TZ
	cat >"$T/conf.d/more.yaml" <<EOF
users:
  carol: {login: carol, resource: box, password_file: $T/carol.pw, schedule: {cron: "0 0 4 ? * MON-FRI", tz: Europe/Paris}}
  erin: {login: erin, resource: box, schedule: {cron: "0 0 4 ? * MON-FRI", tz: $1}}
EOF
}
more_yaml Europe/Paris
ctl reload >/dev/null 2>&1
c1=$(fires carol) e1=$(fires erin)
more_yaml America/New_York
ctl reload >/dev/null 2>&1
c2=$(fires carol) e2=$(fires erin) e2want=$(first erin)
[ -n "$c1" ] && [ "$c1" = "$e1" ] && [ "$c2" = "$c1" ] &&
    [ -n "$e2" ] && [ "$e2" = "$e2want" ] && [ "$e2" != "$e1" ]
verdict "a reload keeps an unchanged schedule's next fire and moves a changed one's (zone only)" $? \
    "carol $c1 -> $c2, erin $e1 -> $e2 (its schedule says $e2want)"

cat >"$T/conf.d/zz-bad.yaml" <<EOF
users:
  dave: {login: dave, resource: box, schedule: {cron: "0 0 25 * * ?", tz: UTC}}
EOF
g0=$(ctl --json status | jget 'j["generation"]')
out=$(ctl reload 2>&1)
st=$?
kill -HUP "$PID"
sleep 0.3
g=$(ctl --json status | jget 'j["generation"]')
[ $st -eq 1 ] && echo "$out" | grep -q "zz-bad.yaml:2:[0-9]*:" && [ "$g" = "$g0" ] &&
    ! ctl show dave >/dev/null 2>&1 && ctl show carol >/dev/null 2>&1
verdict "a bad reload (rotactl or SIGHUP) names file:line:col and keeps the generation" $? "st=$st g=$g (was $g0)" "$out"
rm "$T/conf.d/zz-bad.yaml"

# A reload refused by a check after the job files' (here an event sink's
# format) imports nothing: a user it would add keeps no secret of its
# password_file, and the file, corrected, is what the next reload takes.
cp "$T/rotad.yaml" "$T/rotad.yaml.good"
printf 'events:\n  sinks:\n    - {name: f, type: file, path: %s, format: bogus}\n' \
    "$T/ev.log" >>"$T/rotad.yaml"
printf 'typo-secret-of-fred\n' >"$T/fred.pw"
chmod 600 "$T/fred.pw"
cat >"$T/conf.d/fred.yaml" <<EOF
users:
  fred: {login: fred, resource: box, password_file: $T/fred.pw}
EOF
g0=$(ctl --json status | jget 'j["generation"]')
out=$(ctl reload 2>&1)
st=$?
hist=$(ctl --json secret history fred 2>&1)
cp "$T/rotad.yaml.good" "$T/rotad.yaml"
printf 'right-secret-of-fred\n' >"$T/fred.pw"
out2=$(ctl reload 2>&1)
st2=$?
got=$(ctl secret get fred 2>&1)
[ $st -eq 1 ] && echo "$out" | grep -q bogus &&
    [ "$(ctl --json status | jget 'j["generation"]')" = $((g0 + 1)) ] &&
    ! echo "$hist" | grep -q '"current"' && [ $st2 -eq 0 ] &&
    [ "$got" = right-secret-of-fred ]
verdict "a reload refused by its event sinks imports no password_file; the corrected file is imported by the next" $? \
    "st=$st st2=$st2" "$out" "$hist" "$(echo "$got" | sed 's/.*-secret-of-fred/<secret of fred>/')"

out=$(setpriv --reuid=nobody --regid=nogroup --clear-groups "$ROTACTL" status 2>&1)
st=$?
[ $st -eq 4 ] && grep -q 'uid 65534 .*denied status' "$T/log"
verdict "a uid without rights is refused (exit 4) and the refusal logged" $? "st=$st" "$out"

id=$(ctl --json rotate sloth | jget 'j["run"]')
sleep 0.5
stop
st=$ST
state=$(sqlite3 "$T/rotad.db" "select state from runs where id = '$id'")
[ "$st" = 0 ] && [ "$state" = committed ] && grep -q 'stopping: 1 run' "$T/log"
verdict "SIGTERM mid-run: the run in flight commits, then rotad exits 0" $? "exit $st, run $state" "$(tail -5 "$T/log")"

# Misfires: two users due 3 s from now; the daemon is down at that time.
due=$(($(date +%s) + 3))
spec=$(date -u -d "@$due" +'%-S %-M %-H * * ?')
cat >"$T/conf.d/misfire.yaml" <<EOF
users:
  once: {login: once, resource: box, misfire: run_once, schedule: {cron: "$spec", tz: UTC}}
  skipper: {login: skipper, resource: box, misfire: skip, schedule: {cron: "$spec", tz: UTC}}
EOF
start && sleep 0.3 && stop
while [ "$(date +%s)" -le "$due" ]; do sleep 0.2; done
start
for i in $(seq 1 50); do
	[ "$(runs_of once)" = 1 ] && break
	sleep 0.1
done
once=$(runs_of once) skip=$(runs_of skipper)
[ "$once" = 1 ] && [ "$skip" = 0 ] && grep -q 'once: fire due.*running it once' "$T/log"
verdict "a fire missed while down runs once (run_once) or not (skip)" $? "once=$once skip=$skip"

stop
start
sleep 0.5
once=$(runs_of once) skip=$(runs_of skipper)
nf=$(ctl --json show once | jget 'j["user"]["next_fire"]')
[ "$once" = 1 ] && [ "$skip" = 0 ] && [ "$nf" != None ]
verdict "after another restart the missed fire is neither repeated nor lost" $? "once=$once skip=$skip next=$nf"

out=$("$ROTAD" -f -c "$T/rotad.yaml" 2>&1)
st=$?
[ $st -ne 0 ] && echo "$out" | grep -q 'another rotad is running' && ctl status >/dev/null
verdict "a second daemon on the same socket refuses to start" $? "$out"
stop

# A reload parses the job files on libuv's pool: held there (the test
# fault gate:reload, until $T/gate exists), the daemon goes on serving.
rm -f "$T/gate"
l0=$(wc -l <"$T/log")
start env ROTAD_FAULT=gate:reload ROTAD_FAULT_GATE="$T/gate"
g0=$(ctl --json status | jget 'j["generation"]')
ctl --json reload >"$T/reload1.out" 2>&1 &
RL1=$!
for i in $(seq 1 100); do
	[ "$(ctl --json status | jget 'j["reloading"]')" = True ] && break
	sleep 0.1
done
during=$(ctl --json status | jget 'j["reloading"], j["generation"]')
out=$(ctl --json rotate --wait alice 2>&1)
rot=$(echo "$out" | jlast 'j["run"]["state"]')
kill -0 "$RL1" 2>/dev/null && waiting=yes || waiting=no
# Two more reloads asked while it loads: one load after it serves both.
ctl --json reload >"$T/reload2.out" 2>&1 &
RL2=$!
kill -HUP "$PID"
sleep 0.3
touch "$T/gate"
wait "$RL1"
st1=$?
wait "$RL2"
st2=$?
for i in $(seq 1 50); do
	[ "$(ctl --json status | jget 'j["reloading"]')" = False ] && break
	sleep 0.1
done
after=$(ctl --json status | jget 'j["reloading"], j["generation"]')
got="$during $rot $waiting $st1 $(jget 'j["generation"]' <"$T/reload1.out") $st2 $(jget 'j["generation"]' <"$T/reload2.out") $after"
[ "$got" = "(True, $g0) committed yes 0 $((g0 + 1)) 0 $((g0 + 2)) (False, $((g0 + 2)))" ]
verdict "while a reload's files load: status answers (reloading), a rotation commits, the reload waits" \
    $? "got:  $got" "want: (True, $g0) committed yes 0 $((g0 + 1)) 0 $((g0 + 2)) (False, $((g0 + 2)))" "$(tail -5 "$T/log")"
# This life's lines only: the log goes on across the lives before.
tail -n +"$((l0 + 1))" "$T/log" >"$T/life.log"
lines=$(grep -c "configuration generation" "$T/life.log")
grep -q "configuration generation $((g0 + 2)):" "$T/life.log" &&
    ! grep -q "configuration generation $((g0 + 3)):" "$T/life.log"
verdict "... a reload and a SIGHUP asked meanwhile: one more load serves both" $? "$lines generation lines"
stop

# One whole daemon life under valgrind: start, rotate, reload, SIGTERM.
if start valgrind -q --leak-check=full --errors-for-leak-kinds=definite \
    --error-exitcode=99 --log-file="$T/valgrind.log"; then
	ctl rotate --wait alice >/dev/null
	ctl reload >/dev/null
	ctl --json secret history alice >/dev/null
	stop
	st=$ST
else st=start-failed; fi
[ "$st" = 0 ] && ! grep -q 'definitely lost\|Invalid\|uninitialised' "$T/valgrind.log"
verdict "a daemon life under valgrind: no error, no leak" $? "exit $st" "$(head -40 "$T/valgrind.log")"

# A step's request is built on libuv's pool from strings of the job set
# the run started with (its user, resource, CA file).  Here the request is
# held there (the test fault gate:request, until $T/gate-request exists),
# a reload replaces that job set, and the stop deadline then ends the
# run: the set must outlive the request job, which reads it once let go.
# Under valgrind, which sees a read of freed memory.
rm -f "$T/gate-request"
l0=$(wc -l <"$T/log")
if start env ROTAD_FAULT=gate:request ROTAD_FAULT_GATE="$T/gate-request" \
    valgrind -q --leak-check=full --errors-for-leak-kinds=definite \
    --error-exitcode=99 --log-file="$T/valgrind-stop.log"; then
	id=$(ctl --json rotate alice | jget 'j["run"]')
	for i in $(seq 1 100); do
		[ "$(ctl --json run "$id" | jget 'j["run"]["state"]')" = prepared ] && break
		sleep 0.1
	done
	ctl reload >/dev/null
	kill -TERM "$PID"
	for i in $(seq 1 600); do
		tail -n +"$((l0 + 1))" "$T/log" | grep -q 'still in progress at the deadline' && break
		sleep 0.1
	done
	touch "$T/gate-request"
	wait "$PID"
	st=$?
	PID=
else st=start-failed; fi
tail -n +"$((l0 + 1))" "$T/log" | grep -q '1 run still in progress at the deadline' &&
    [ "$st" = 1 ] && ! grep -q 'Invalid\|uninitialised\|definitely lost' "$T/valgrind-stop.log"
verdict "the stop deadline ends a run whose request is being built: its old job set outlives the request" \
    $? "exit $st (want 1: stopped at the deadline)" "$(head -40 "$T/valgrind-stop.log")" "$(tail -n +"$((l0 + 1))" "$T/log" | tail -5)"

# A wall-clock jump (an NTP step, a resume from suspend).  jumper is due
# 8 s from now; the clock is set 12 s ahead: a timer on the monotonic clock
# would still wait 8 s, the daemon's realtime timer is cancelled by the
# kernel and the fire runs at once.  Then the clock is set back: the fire
# it took must not be taken again when its time comes round.
due=$(($(date +%s) + 8))
spec=$(date -u -d "@$due" +'%-S %-M %-H * * ?')
cat >"$T/conf.d/jump.yaml" <<EOF
users:
  jumper: {login: jumper, resource: box, schedule: {cron: "$spec", tz: UTC}}
EOF
start
if JUMPED=1 && setclock 12 2>/dev/null; then
	for i in $(seq 1 20); do
		[ "$(runs_of jumper)" = 1 ] && break
		sleep 0.1
	done
	r=$(runs_of jumper)
	[ "$r" = 1 ] && grep -q 'the system clock was set' "$T/log"
	verdict "a jump of the clock past a fire is noticed and the fire runs at once" $? "runs=$r" "$(tail -5 "$T/log")"
	setclock 0 && JUMPED=
	while [ "$(date +%s)" -le $((due + 1)) ]; do sleep 0.2; done
	r=$(runs_of jumper)
	c=$(grep -c 'the system clock was set' "$T/log")
	[ "$r" = 1 ] && [ "$c" -ge 2 ]
	verdict "after the clock is set back the fire is not taken twice" $? "runs=$r clock-set lines=$c"
else
	JUMPED=
	ok "a jump of the clock past a fire is noticed # SKIP cannot set the clock (needs CAP_SYS_TIME)"
	ok "after the clock is set back the fire is not taken twice # SKIP cannot set the clock"
fi
stop

# Post-rotation scripts: Keeper's input on stdin, run in a worker of the
# script profile; the script echoes the passwords in every form it can,
# and none may survive in what rotactl shows.
cat >"$T/post.py" <<'EOF'
import base64, json, sys, urllib.parse
line = sys.stdin.readline().strip()
d = json.loads(base64.b64decode(line))
recs = json.loads(base64.b64decode(d["records"]))
print("keys:", ",".join(sorted(d)))
print("user:", d["user"], "uid:", d["userRecordUid"],
      "resource:", d["resourceRecordUid"])
print("records:", ",".join(r["uid"] for r in recs))
for k in ("newPassword", "oldPassword"):
    p = d[k]
    print(k, "raw", p)
    print(k, "base64", base64.b64encode(p.encode()).decode())
    print(k, "url", urllib.parse.quote(p, safe=""))
    print(k, "json", json.dumps(p))
print("stdin", line)
print("stderr too", d["newPassword"], file=sys.stderr)
EOF
chmod 644 "$T/post.py"
printf 'initial-secret-of-scribe\n' >"$T/scribe.pw"
chmod 600 "$T/scribe.pw"
cat >"$T/fail.py" <<'EOF'
import base64, hashlib, json, sys
d = json.loads(base64.b64decode(sys.stdin.readline()))
h = lambda s: hashlib.sha256(s.encode()).hexdigest()
print("new=%s old=%s" % (h(d["newPassword"]), h(d["oldPassword"])))
sys.exit(1)
EOF
chmod 644 "$T/fail.py"
printf 'initial-secret-of-undoer\n' >"$T/undoer.pw"
chmod 600 "$T/undoer.pw"
cat >"$T/conf.d/scripts.yaml" <<EOF
users:
  scribe:
    login: scribe-login
    resource: box
    password_file: $T/scribe.pw
    scripts: [{path: $T/post.py, command: /usr/bin/python3}]
  noopy:
    noop: true
    scripts: [{path: $T/post.py, command: /usr/bin/python3}]
  undoer:
    login: undoer
    resource: box
    password_file: $T/undoer.pw
    rollback_on_post_rotation_fail: true
    rerun_on_post_rotation_fail: true
    scripts: [{path: $T/fail.py, command: /usr/bin/python3}]
EOF
"$ROTAD" --init -c "$T/rotad.yaml" >/dev/null 2>&1
start
out=$(ctl --json rotate --wait scribe 2>&1)
id=$(echo "$out" | jlast 'j["run"]["id"]')
shown=$(ctl run "$id" 2>&1)
shownj=$(ctl --json run "$id" 2>&1)
ctl secret get scribe >"$T/scribe.new" 2>/dev/null
echo "$shown" | grep -q '^script 1: .*post.py (ok' &&
    echo "$shown" | grep -q 'user: scribe-login uid: scribe resource: box' &&
    echo "$shown" | grep -q 'keys: newPassword,oldPassword,providerRecordUid,records,resourceRecordUid,user,userRecordUid' &&
    [ "$(echo "$shownj" | jget 'j["run"]["scripts"][0]["ok"]')" = True ]
verdict "a post-rotation script gets Keeper's input and its output is kept with the run" $? "$(echo "$shown" | head -20)"
leaks=0
for f in "$T/scribe.new" "$T/scribe.pw"; do
	[ -s "$f" ] || leaks=$((leaks + 100))
	if printf '%s\n%s\n' "$shown" "$shownj" | grep -qF -f "$f" ||
	    grep -qF -f "$f" "$T/log"; then
		leaks=$((leaks + 1))
	fi
done
n_red=$(echo "$shown" | grep -c 'REDACTED')
[ "$leaks" = 0 ] && [ "$n_red" -ge 9 ]
verdict "no secret survives in any form (raw, base64, URL, JSON, stdin line)" $? "leaks=$leaks redacted lines=$n_red"
rm -f "$T/scribe.new"
echo "$shown" | sed "s/^/# /"

# noop: nothing on a target, only the scripts, with the new password.
out=$(ctl --json rotate --wait noopy 2>&1)
id=$(echo "$out" | jlast 'j["run"]["id"]')
shownj=$(ctl --json run "$id" 2>&1)
[ "$(echo "$out" | jlast 'j["run"]["state"]')" = committed ] &&
    [ "$(echo "$shownj" | jget 'j["run"]["scripts"][0]["ok"]')" = True ] &&
    [ "$(ctl --json secret history noopy | jget '[v["state"] for v in j["versions"]]')" = "['current']" ]
verdict "a noop user commits a new secret and runs only its scripts" $? "$out" "$shownj"

# rollback_on_post_rotation_fail: the script fails, the old secret goes
# back on the target and becomes current again; with rerun, the scripts
# run again and see the old secret as the new one.
h() { python3 -c 'import hashlib,sys; print(hashlib.sha256(open(sys.argv[1],"rb").read().rstrip(b"\n")).hexdigest())' "$1"; }
init=$(h "$T/undoer.pw")
out=$(ctl --json rotate --wait undoer 2>&1)
id=$(echo "$out" | jlast 'j["run"]["id"]')
shownj=$(ctl --json run "$id" 2>&1)
ctl secret get undoer >"$T/undoer.now" 2>/dev/null
now=$(h "$T/undoer.now")
rm -f "$T/undoer.now"
o1=$(echo "$shownj" | jget 'j["run"]["scripts"][0]["output"].strip()')
o2=$(echo "$shownj" | jget 'j["run"]["scripts"][1]["output"].strip()')
[ "$(echo "$out" | jlast 'j["run"]["state"]')" = failed ] &&
    echo "$out" | jlast 'j["run"]["message"]' | grep -q 'rolled back to the previous secret' &&
    [ "$now" = "$init" ] &&
    case $o1 in *" old=$init") true ;; *) false ;; esac &&
    case $o2 in "new=$init "*) true ;; *) false ;; esac
verdict "a failed script rolls back: the old secret is current again, and the rerun sees it as new" $? "$out" "o1=$o1" "o2=$o2" "now=${now:0:8} init=${init:0:8}"
stop

[ "$failed" -eq 0 ]
