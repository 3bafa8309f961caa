#!/bin/bash
# A user whose run is out of sync (neither the new nor the old secret
# logged in, and nothing could set one) is flagged where its secret is
# read: `secret_get` answers out_of_sync true and rotactl warns.  The run
# is driven there with ROTAD_FAULT (test builds): the apply fails with an
# outcome it does not know, both probes are refused, and without an admin
# nothing can reconcile.
#   tests/integration/out_of_sync.sh BUILDDIR          Speaks TAP.
set -u
B=$(realpath "$1")
ROTAD=$B/scheduler/rotad
ROTACTL=$B/ctl/rotactl
T=$(mktemp -d /tmp/rotad-oos.XXXXXX)
PID=
stop_all() {
	if [ -n "$PID" ]; then
		kill -KILL "$PID" 2>/dev/null
		wait "$PID" 2>/dev/null
	fi
	rm -rf "$T"
}
trap stop_all EXIT
export ROTAD_SOCKET=$T/rotad.sock
. "$(dirname "$(realpath "$0")")/lib/tap.sh"
ctl() { "$ROTACTL" "$@"; }

mkdir -p "$T/conf.d"
printf 'initial-secret-of-olive\n' >"$T/olive.pw"
chmod 600 "$T/olive.pw"
cat >"$T/rotad.yaml" <<EOF
store: {path: $T/rotad.db, key_file: $T/master.key}
control: {socket: $T/rotad.sock}
worker: {path: $B/rotad-worker, user: nobody}
EOF
cat >"$T/conf.d/oos.yaml" <<EOF
resources:
  box: {kind: machine, protocol: test}
users:
  olive:
    login: olive
    resource: box
    password_file: $T/olive.pw
    retry: {attempts: 1, initial: 1m, max: 1m}
EOF

echo "1..3"
"$ROTAD" --init -c "$T/rotad.yaml" >"$T/init.log" 2>&1
ROTAD_FAULT=fail:apply,auth:probe_pending,auth:probe_current "$ROTAD" -f -c "$T/rotad.yaml" 2>>"$T/log" &
PID=$!
for _ in $(seq 100); do ctl status >/dev/null 2>&1 && break; sleep 0.1; done

out=$(ctl --json secret get olive 2>&1)
[ "$(echo "$out" | jget 'j["out_of_sync"]')" = False ]
verdict "before any run: secret_get says out_of_sync false" $? "$(echo "$out" | jget "j.get('out_of_sync')" 2>&1)"

ctl rotate olive >/dev/null 2>&1
state=
for _ in $(seq 150); do
	state=$(ctl --json runs olive 2>/dev/null | jget 'j["runs"][0]["state"]' 2>/dev/null)
	[ "$state" = out_of_sync ] && break
	sleep 0.2
done
out=$(ctl --json secret get olive 2>&1)
[ "$state" = out_of_sync ] && [ "$(echo "$out" | jget 'j["out_of_sync"]')" = True ]
verdict "a run out of sync: secret_get says out_of_sync true" $? "state=$state out_of_sync=$(echo "$out" | jget "j.get('out_of_sync')" 2>&1)" "$(tail -5 "$T/log")"

err=$(ctl secret get olive 2>&1 >/dev/null)
len=$(ctl secret get olive 2>/dev/null | wc -c)
echo "$err" | grep -q 'warning: olive is out of sync' && [ "$len" -gt 0 ]
verdict "rotactl secret get warns on stderr, the value still on stdout" $? "$err"
exit $((failed > 0))
