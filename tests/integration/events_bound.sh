#!/bin/bash
# The event spool's bound (issue 14), through the real daemon and the test
# provider: with events.spool_max 8, rotations spool more than that; the
# oldest events go, events_dropped says how many (an event and a metric),
# what is left keeps its seq, and a file sink that was behind carries on
# from what is left without a duplicate.
#   tests/integration/events_bound.sh BUILDDIR          Speaks TAP.
set -u
B=$(realpath "$1")
ROTAD=$B/scheduler/rotad
ROTACTL=$B/ctl/rotactl
T=$(mktemp -d /tmp/rotad-evbound.XXXXXX)
stop_all() {
	rotad_kill
	rm -rf "$T"
}
trap stop_all EXIT
export ROTAD_SOCKET=$T/rotad.sock
. "$(dirname "$(realpath "$0")")/lib/tap.sh"
. "$(dirname "$(realpath "$0")")/lib/rotad.sh"
ctl() { "$ROTACTL" "$@"; }

mkdir -p "$T/conf.d"
chmod 711 "$T"
WU=rotad-test-worker
getent passwd "$WU" >/dev/null ||
    useradd --system --no-create-home --shell /usr/sbin/nologin "$WU"
printf 'a-secret-for-bound-4Tq\n' >"$T/app.pw"
chmod 600 "$T/app.pw"
cat >"$T/rotad.yaml" <<EOF
store: {path: $T/rotad.db, key_file: $T/master.key}
control: {socket: $T/rotad.sock}
worker: {path: $B/rotad-worker, user: $WU}
events:
  spool_max: 8
  sinks:
    - {name: audit, type: file, path: $T/events.jsonl, format: json}
EOF
cat >"$T/conf.d/a.yaml" <<EOF
resources:
  box: {kind: machine, protocol: test}
users:
  app: {login: app, resource: box, password_file: $T/app.pw}
EOF

echo "1..5"
out=$("$ROTAD" --init -c "$T/rotad.yaml" 2>&1)
rotad_run "$T/rotad.yaml" "$T/log"
verdict "rotad starts with events.spool_max 8" $? "$out" "$(tail -n 5 "$T/log")"
for i in 1 2 3 4 5 6; do
	ctl rotate --wait app >/dev/null 2>&1
done
ev=$(ctl --json events --since 0 -n 1000 2>&1)
cnt=$(printf '%s\n' "$ev" | grep -c '"seq"')
[ "$cnt" -le 9 ] && [ "$cnt" -ge 1 ]
verdict "the spool holds at most spool_max events (and the last drop's own)" \
    $? "count: $cnt"
drop=$(printf '%s\n' "$ev" | python3 -c 'import json,sys
print(sum(json.loads(l)["count"] for l in sys.stdin
          if json.loads(l)["name"] == "events_dropped"))')
last=$(printf '%s\n' "$ev" | tail -n 1 | jget 'j["seq"]')
[ "$drop" -gt 0 ]
verdict "events_dropped says how many went" $? "dropped: $drop, last seq $last"
ctl metrics 2>/dev/null | grep -q '^rotad_events_dropped_total [1-9]'
verdict "... and so does rotad_events_dropped_total" $? \
    "$(ctl metrics 2>&1 | grep dropped)"
python3 - "$T/events.jsonl" <<'PYEOF'
import json, sys
seqs = [json.loads(l)["seq"] for l in open(sys.argv[1])]
sys.exit(0 if seqs == sorted(set(seqs)) and len(seqs) > 8 else 1)
PYEOF
verdict "the file sink, never behind here, has every event once, in order" $? \
    "$(wc -l <"$T/events.jsonl") lines"
[ "$n" -eq 5 ] || echo "# planned 5 tests, ran $n"
[ "$failed" -eq 0 ]
