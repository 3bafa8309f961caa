#!/bin/bash
# Events (issue 14), through the real daemon on a private directory and
# the test provider: what the daemon spools (rotation_started, the
# Keeper-named record_rotation_* events, verify_ok, secret_read,
# secret_set, control_denied, config_reloaded, job_file_skipped,
# daemon_started, daemon_stopping), read back with `rotactl events`;
# sequence numbers that only grow, without gaps, across a restart; the
# spooled form every event has (it decodes, it carries the run's fields);
# --follow sees an event as it is raised; no secret in any event.
#   tests/integration/events.sh BUILDDIR          Speaks TAP.
set -u
B=$(realpath "$1")
ROTAD=$B/scheduler/rotad
ROTACTL=$B/ctl/rotactl
export ROTACTL
T=$(mktemp -d /tmp/rotad-events.XXXXXX)
FPID=
stop_all() {
	[ -n "$FPID" ] && kill "$FPID" 2>/dev/null
	rotad_kill
	rm -rf "$T"
}
trap stop_all EXIT
export ROTAD_SOCKET=$T/rotad.sock
. "$(dirname "$(realpath "$0")")/lib/tap.sh"
. "$(dirname "$(realpath "$0")")/lib/rotad.sh"
ctl() { "$ROTACTL" "$@"; }
# events: every spooled event as JSON lines, oldest first.
events() { ctl --json events --since 0 -n 1000 2>/dev/null; }
names() { events | python3 -c 'import json,sys
print(" ".join(json.loads(l)["name"] for l in sys.stdin))'; }
# in_order A B [C]: the names list holds A, then B (then C), in that order.
in_order() { python3 -c 'import sys
n = sys.argv[1].split(); i = 0
for want in sys.argv[2:]:
    while i < len(n) and n[i] != want: i += 1
    if i == len(n): sys.exit(1)
    i += 1' "$nm" "$@"; }

mkdir -p "$T/conf.d"
chmod 711 "$T"
WU=rotad-test-worker
getent passwd "$WU" >/dev/null ||
    useradd --system --no-create-home --shell /usr/sbin/nologin "$WU"
printf 'first-secret-of-app-7Qx\n' >"$T/app.pw"
chmod 600 "$T/app.pw"
cat >"$T/rotad.yaml" <<EOF
store: {path: $T/rotad.db, key_file: $T/master.key}
control:
  socket: $T/rotad.sock
  group: nogroup
  acl:
    - {user: nobody, rights: [read]}
worker: {path: $B/rotad-worker, user: $WU}
events:
  sinks:
    - {name: audit, type: file, path: $T/events.jsonl, format: json}
EOF
cat >"$T/conf.d/a.yaml" <<EOF
resources:
  box: {kind: machine, protocol: test}
  flaky: {kind: machine, protocol: test, test_fail: 9, test_error: fatal}
  db: {kind: machine, protocol: test, host: db.example}
users:
  app: {login: app, resource: box, password_file: $T/app.pw}
  bad: {login: bad, resource: flaky, password_file: $T/app.pw}
  svc: {login: svc, resource: db, password_file: $T/app.pw}
EOF
cat >"$T/conf.d/broken.yaml" <<EOF
users:
  lost: {login: lost, resource: nowhere}
EOF

echo "1..19"
out=$("$ROTAD" --init -c "$T/rotad.yaml" 2>&1)
rotad_run "$T/rotad.yaml" "$T/log"
verdict "rotad starts (a broken job file beside a good one)" $? "$out" \
    "$(tail -n 5 "$T/log")"
nm=$(names)
in_order daemon_started job_file_skipped
st=$?
verdict "daemon_started, then job_file_skipped for the broken file" $st "$nm"

# --follow from now: sees what the next commands raise.
ctl --json events --follow >"$T/follow" 2>&1 &
FPID=$!
sleep 0.5

out=$(ctl rotate --wait app 2>&1)
verdict "a rotation commits" $? "$out"
run=$(ctl --json runs app | jget 'j["runs"][0]["id"]')
rec=$(events | python3 -c 'import json,sys
for l in sys.stdin:
    e = json.loads(l)
    if e["name"] == "record_rotation_on_demand_ok":
        print(e["run_id"], e["user"], e["resource"], e["provider"],
              e["trigger"], e["outcome"], e["rotation_status"], e["attempt"])')
[ "$rec" = "$run app box test on_demand success committed 1" ]
verdict "record_rotation_on_demand_ok carries the run, user, resource, provider, trigger, outcome" \
    $? "got: $rec" "want: $run app box test on_demand success committed 1"
nm=$(names)
in_order rotation_started record_rotation_on_demand_ok
st=$?
verdict "rotation_started comes before it" $st "$nm"

out=$(ctl rotate --wait bad 2>&1)
rec=$(events | python3 -c 'import json,sys
for l in sys.stdin:
    e = json.loads(l)
    if e["name"] == "record_rotation_on_demand_fail":
        print(e["user"], e["outcome"], e["error_class"], e["rotation_status"])')
[ "$rec" = "bad failure fatal failed" ]
verdict "a failed rotation: record_rotation_on_demand_fail (fatal, failed)" $? \
    "got: $rec" "$out"

ctl verify --wait app >/dev/null 2>&1
ctl secret get app >"$T/app.now" 2>/dev/null
printf 'set-by-the-test-9Zr\n' | ctl secret set app >/dev/null 2>&1
rec=$(events | python3 -c 'import json,sys
for l in sys.stdin:
    e = json.loads(l)
    if e["name"] in ("verify_ok", "secret_read", "secret_set"):
        print(e["name"], e["user"], e.get("uid", "-"))')
[ "$rec" = "verify_ok app -
secret_read app 0
secret_set app 0" ]
verdict "verify_ok, secret_read and secret_set (with the caller's uid)" $? "$rec"

setpriv --reuid=nobody --regid=nogroup --clear-groups "$ROTACTL" rotate app \
    >/dev/null 2>&1
rec=$(events | python3 -c 'import json,sys
for l in sys.stdin:
    e = json.loads(l)
    if e["name"] == "control_denied":
        print(e["uid"], "rotate" in e["message"])')
[ "$rec" = "65534 True" ]
verdict "a refused command: control_denied with the uid" $? "$rec"

rm "$T/conf.d/broken.yaml"
ctl reload >/dev/null 2>&1
nm=$(names)
[ "${nm##* }" = config_reloaded ]
st=$?
verdict "a reload: config_reloaded" $st "$nm"

sleep 0.5
kill "$FPID" 2>/dev/null
wait "$FPID" 2>/dev/null
FPID=
grep -q '"name":"record_rotation_on_demand_ok"' "$T/follow" &&
    grep -q '"name":"config_reloaded"' "$T/follow"
verdict "rotactl events --follow saw them as they were raised" $? \
    "$(head -c 600 "$T/follow")"

before=$(events | tail -n 1 | jget 'j["seq"]')
rotad_term
rotad_run "$T/rotad.yaml" "$T/log"
ctl rotate --wait app >/dev/null 2>&1
seqs=$(events | python3 -c 'import json,sys
print(" ".join(str(json.loads(l)["seq"]) for l in sys.stdin))')
python3 - "$seqs" "$before" <<'PYEOF'
import sys
s = [int(x) for x in sys.argv[1].split()]
before = int(sys.argv[2])
ok = s == list(range(s[0], s[0] + len(s))) and s[-1] > before + 2
sys.exit(0 if ok else 1)
PYEOF
verdict "seq: no gaps, and it goes on growing after a restart" $? "$seqs" \
    "before the restart: $before"
nm=$(names)
in_order config_reloaded daemon_stopping daemon_started rotation_started
st=$?
verdict "daemon_stopping, then daemon_started" $st "$nm"

ctl --json events --user bad -n 100 >"$T/bad" 2>&1
python3 -c 'import json,sys
u = {json.loads(l).get("user") for l in open(sys.argv[1])}
sys.exit(0 if u == {"bad"} else 1)' "$T/bad"
verdict "--user keeps that user's events only" $? "$(head -c 400 "$T/bad")"

# What the SIEM endpoint sends: the account by login and host, an alert.
siem() {
	python3 -c 'import json, socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.sendall(sys.argv[2].encode() + b"\n")
for line in s.makefile():
    j = json.loads(line)
    if "progress" not in j:
        print(json.dumps(j))
        break' "$ROTAD_SOCKET" "$1"
}
out=$(siem '{"v":1,"cmd":"rotate","login":"svc","host":"db.example","alert_id":"splunk-77:a","wait":true}')
rec=$(events | python3 -c 'import json,sys
for l in sys.stdin:
    e = json.loads(l)
    if e["name"].startswith("record_") and e.get("alert_id"):
        print(e["name"], e["user"], e["trigger"], e["alert_id"])')
[ "$rec" = "record_rotation_on_demand_ok svc siem_alert splunk-77:a" ]
verdict "a rotation asked by login and host with an alert id: trigger siem_alert" \
    $? "got: $rec" "$out"
out=$(siem '{"v":1,"cmd":"rotate","login":"nobody-here","host":"db.example","alert_id":"x"}')
echo "$out" | grep -q '"not_found"'
verdict "... an account no user has: not_found" $? "$out"
out=$(siem '{"v":1,"cmd":"rotate","user":"svc","alert_id":"bad id with spaces"}')
echo "$out" | grep -q '"bad_request"'
verdict "... a malformed alert id: bad_request" $? "$out"

m=$(ctl metrics 2>&1)
echo "$m" | grep -qx 'rotad_last_run_outcome{user="bad",outcome="failed"} 1' &&
    echo "$m" | grep -qx 'rotad_last_run_outcome{user="app",outcome="committed"} 1' &&
    echo "$m" | grep -qx 'rotad_never_succeeded{user="bad"} 1' &&
    ! echo "$m" | grep -q 'rotad_never_succeeded{user="app"}' &&
    echo "$m" | grep -q '^rotad_events_spooled_total [1-9]'
verdict "metrics: each user's last outcome, never succeeded, events spooled" \
    $? "$(echo "$m" | grep -E 'outcome|never|events')"

python3 - "$T/events.jsonl" <<'PYEOF' >"$T/sinkcheck" 2>&1
import json, subprocess, sys
got = [json.loads(l) for l in open(sys.argv[1])]
out = subprocess.run([__import__("os").environ["ROTACTL"], "--json", "events",
                      "--since", "0", "-n", "1000"],
                     capture_output=True, text=True).stdout
spool = [json.loads(l) for l in out.splitlines()]
print(len(got), len(spool))
sys.exit(0 if [e["seq"] for e in got] == [e["seq"] for e in spool]
         and [e["name"] for e in got] == [e["name"] for e in spool] else 1)
PYEOF
verdict "the file sink holds every spooled event, in order, each once" $? \
    "$(cat "$T/sinkcheck")"

leak=
for p in first-secret-of-app-7Qx set-by-the-test-9Zr "$(head -n 1 "$T/app.now")"; do
	events | grep -qF -- "$p" && leak="$leak x"
	grep -qF -- "$p" "$T/events.jsonl" && leak="$leak z"
	grep -qF -- "$p" "$T/follow" && leak="$leak y"
done
[ -z "$leak" ]
verdict "no secret in any event" $? "leaked:$leak"
[ "$n" -eq 19 ] || echo "# planned 19 tests, ran $n"
[ "$failed" -eq 0 ]
