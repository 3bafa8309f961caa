#!/bin/bash
# A user whose run is out of sync (neither the new nor the old secret
# logged in, and nothing could set one) is flagged where its secret is
# read: `secret_get` answers out_of_sync true and rotactl warns.  The run
# is driven there with ROTAD_FAULT (test builds): the apply fails with an
# outcome it does not know, both probes are refused, and without an admin
# nothing can reconcile.
#
# A run can also end out of sync after its commit: a post-rotation script
# failed (rollback_on_post_rotation_fail), and neither the previous secret
# set back nor the new one logged in.  That verdict must survive a
# restart: the next start asks the target again (the previous secret,
# then the current one) rather than take the commit for success, and
# once one logs in the run settles on it.
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
chmod 755 "$T" # the scripts' worker (nobody) reads fail.sh
printf 'initial-secret-of-olive\n' >"$T/olive.pw"
printf 'initial-secret-of-ursula\n' >"$T/ursula.pw"
chmod 600 "$T/olive.pw" "$T/ursula.pw"
printf 'exit 1\n' >"$T/fail.sh"
chmod 644 "$T/fail.sh"
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
  ursula: {login: ursula, resource: box, password_file: $T/ursula.pw,
    rollback_on_post_rotation_fail: true,
    scripts: [{path: $T/fail.sh, command: /bin/sh}],
    retry: {attempts: 1, initial: 1h, max: 1h}}
EOF

# start [FAULTS]: rotad -f, until it answers.
start() {
	ROTAD_FAULT=${1:-} "$ROTAD" -f -c "$T/rotad.yaml" 2>>"$T/log" &
	PID=$!
	for _ in $(seq 100); do ctl status >/dev/null 2>&1 && break; sleep 0.1; done
}
stop() {
	kill -TERM "$PID" 2>/dev/null
	wait "$PID" 2>/dev/null
	PID=
}
# field RUN EXPR: EXPR of `rotactl run RUN`'s run, as j.
field() { ctl --json run "$1" 2>/dev/null | jget "$2" 2>/dev/null; }
# A short hash of a secret on stdin (never the secret).
h() { sha256sum | cut -c1-16; }

echo "1..6"
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
stop

# After its commit: the script fails, the previous secret is set back,
# and neither it nor the new one logs in (each refused twice, so that a
# recovery again in this life, after its backoff, is refused too).
refuse=auth:undo_verify,auth:undo_keep,auth:undo_verify,auth:undo_keep
start "$refuse"
init=$(tr -d '\n' <"$T/ursula.pw" | h)
out=$(ctl --json rotate --wait ursula 2>&1)
id=$(echo "$out" | tail -n 1 | jget 'j["run"]["id"]' 2>/dev/null)
[ "$(echo "$out" | tail -n 1 | jget 'j["run"]["state"]' 2>/dev/null)" = out_of_sync ]
verdict "a run out of sync after its commit (script failed, neither secret logs in)" $? "$out" "$(tail -5 "$T/log")"
stop

# The next start, both still refused: the verdict stands, it is not taken
# for a commit.  Once recovery has asked, the run says when it asks again.
start "$refuse"
for _ in $(seq 150); do
	case $(field "$id" 'j["run"]["message"]') in *"recovery again in"*) break ;; esac
	sleep 0.2
done
state=$(field "$id" 'j["run"]["state"], j["run"]["message"]')
case $state in "('out_of_sync', "*) ! grep -q "run $id ursula: recovered: committed" "$T/log" ;; *) false ;; esac
verdict "restarted, the target asked again: still out_of_sync, not recovered as committed" $? "$state" "$(grep "$id" "$T/log" | tail -5)"
stop

# The next start, nothing refused: the previous secret logs in, and it is
# current again.
start
for _ in $(seq 150); do
	case $(field "$id" 'j["run"]["state"]') in failed | committed) break ;; esac
	sleep 0.2
done
state=$(field "$id" 'j["run"]["state"], j["run"]["message"]')
now=$(ctl secret get ursula 2>/dev/null | tr -d '\n' | h)
[ "$state" = "('failed', 'a post-rotation script failed; rolled back to the previous secret')" ] && [ "$now" = "$init" ]
verdict "then the previous secret logs in: rolled back, current again" $? "$state" "now=$now init=$init" "$(grep "$id" "$T/log" | tail -5)"
stop
exit $((failed > 0))
