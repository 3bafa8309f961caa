#!/bin/bash
# A rotation asked for while the user's run is a verify (control review,
# finding 1): it must rotate, not join the verify and answer "ok".  The
# real daemon on a private directory, the test provider, driven through
# its socket with rotactl and, for a pipelined burst or the SIEM's exact
# request, a raw socket.  Speaks TAP.
#
#   tests/integration/rotate_verify.sh BUILDDIR
#
# The daemon runs with ROTAD_FAULT=fail:apply (three times): the first
# three workers of a step named apply fail transient, with no answer (a
# verify's one step is its login, also named apply): case 1's verify, then
# its rotation's apply (which recovers: the probe finds the new secret
# logs in), then case 2's verify.  Every later step succeeds.
set -u
. "$(dirname "$(realpath "$0")")/lib/tap.sh"
. "$(dirname "$(realpath "$0")")/lib/rotad.sh"
rotad_test "$1" rotver
ctl() { "$ROTACTL" "$@"; }
jlast() { tail -n 1 | jget "$1"; }
# version USER: the number of USER's current secret
version() {
	ctl --json secret history "$1" |
	    jget '[v["version"] for v in j["versions"] if v["state"] == "current"][0]'
}
# run_field ID EXPR: EXPR on `rotactl --json run ID`'s run, bound to r
run_field() { ctl --json run "$1" | jget "(lambda r: ($2))(j['run'])"; }
# stored_kinds USER: "ID KIND" for each of USER's runs, as `runs` (which
# reads the store) shows them, oldest first
stored_kinds() {
	ctl --json runs "$1" |
	    jget '"\n".join(r["id"] + " " + r["kind"] for r in reversed(j["runs"]))'
}
# until_state ID STATE...: wait (20 s at most) for run ID to be in a STATE
until_state() {
	local id=$1 i s
	shift
	for i in $(seq 1 200); do
		s=$(run_field "$id" 'r["state"]' 2>/dev/null)
		for w in "$@"; do [ "$s" = "$w" ] && return 0; done
		sleep 0.1
	done
	return 1
}

for u in v1 v2 v3 v4; do
	printf 'initial-secret-of-%s-Zq8\n' "$u" >"$T/$u.pw"
done
chmod 600 "$T"/*.pw
rotad_test_conf
# A verify that fails waits 10 minutes to retry.
LONG='{attempts: 3, initial: 10m, max: 10m}'
cat >"$T/conf.d/a.yaml" <<EOF
resources:
  box: {kind: machine, protocol: test}
  slow: {kind: machine, protocol: test, test_delay: 1s}
  one: {kind: machine, protocol: test, test_delay: 1s, max_concurrent: 1}
users:
  v1: {login: v1, resource: box, password_file: $T/v1.pw, retry: $LONG}
  v2: {login: v2, resource: slow, password_file: $T/v2.pw}
  v3: {login: v3, resource: box, password_file: $T/v3.pw}
  v4: {login: v4, resource: slow, password_file: $T/v4.pw, retry: $LONG}
  p1: {login: p1, resource: one, password_file: $T/v3.pw}
  p2: {login: p2, resource: one, password_file: $T/v3.pw}
EOF

echo "1..10"
out=$("$ROTAD" --init -c "$T/rotad.yaml" 2>&1)
ROTAD_FAULT=fail:apply,fail:apply,fail:apply rotad_run "$T/rotad.yaml" "$T/log"
verdict "rotad starts (ROTAD_FAULT=fail:apply x3)" $? "$out" "$(tail -n 5 "$T/log")"

# 1. A verify that failed once waits 10 minutes to retry.  A SIEM's alert
# (its exact request) must start a rotation now, not join the verify.
ver0=$(version v1)
vid=$(ctl --json verify v1 | jget 'j["run"]')
until_state "$vid" retry_wait
# As the store has it (`runs` reads the store), while it waits to retry.
kind0=$(stored_kinds v1)
ans=$(rotad_send '{"v":1,"cmd":"rotate","user":"v1","alert_id":"leak-1"}')
rid=$(echo "$ans" | jlast 'j["result"]["run"]')
co=$(echo "$ans" | jlast 'j["result"]["coalesced"]')
until_state "$rid" committed failed out_of_sync
rst=$(run_field "$rid" 'r["kind"], r["state"]')
vst=$(run_field "$vid" 'r["kind"], r["state"], r["message"]')
ver1=$(version v1)
[ -n "$rid" ] && [ "$rid" != "$vid" ] && [ "$co" = False ] &&
    [ "$rst" = "('rotate', 'committed')" ] && [ "$ver1" -gt "$ver0" ] &&
    echo "$vst" | grep -q "^('verify', 'failed', 'not retried: rotation run $rid follows"
verdict "a rotate while a verify waits to retry rotates at once (new secret version)" $? \
    "verify $vid: $vst" "answer: $ans" "rotation: $rst" "version $ver0 -> $ver1"
vid1=$vid rid1=$rid

# 2. A rotation asked for while a verify runs its step, which then fails:
# the verify is not retried (10 minutes later), the rotation runs now.
ver0=$(version v4)
vid=$(ctl --json verify v4 | jget 'j["run"]')
until_state "$vid" started prepared
rid=$(ctl --json rotate v4 | jget 'j["run"]')
until_state "$rid" committed failed out_of_sync
rst=$(run_field "$rid" 'r["kind"], r["state"]')
vst=$(run_field "$vid" 'r["kind"], r["state"], r["attempts"], r["message"]')
ver1=$(version v4)
[ "$rid" != "$vid" ] && [ "$rst" = "('rotate', 'committed')" ] &&
    [ "$ver1" -gt "$ver0" ] &&
    echo "$vst" | grep -q "^('verify', 'failed', 1, 'not retried: rotation run $rid follows"
verdict "a verify that fails while a rotation waits is not retried; the rotation commits" $? \
    "verify $vid: $vst" "rotation $rid: $rst" "version $ver0 -> $ver1"
vid4=$vid rid4=$rid

# 3. A verify in progress (1 s before its step): rotate --wait waits for
# it, then rotates; it is answered with its rotation, committed.
ver0=$(version v2)
vid=$(ctl --json verify v2 | jget 'j["run"]')
until_state "$vid" started prepared
out=$(timeout 30 "$ROTACTL" --json rotate --wait v2 2>&1)
st=$?
fin=$(echo "$out" | jlast 'j["run"]["kind"], j["run"]["state"], j["run"]["id"] != "'"$vid"'"')
vst=$(run_field "$vid" 'r["kind"], r["state"]')
ver1=$(version v2)
[ $st -eq 0 ] && [ "$fin" = "('rotate', 'committed', True)" ] &&
    [ "$vst" = "('verify', 'verified')" ] && [ "$ver1" -gt "$ver0" ]
verdict "rotate --wait during a running verify: the verify ends, then the rotation commits" $? \
    "exit $st" "$out" "verify: $vst" "version $ver0 -> $ver1"

# 4. The report's reproduction: verify and rotate --wait pipelined in one
# write, the verify still queued when the rotation is asked for.
ver0=$(version v3)
out=$(rotad_send '{"v":1,"cmd":"verify","user":"v3","id":1}' \
    '{"v":1,"cmd":"rotate","user":"v3","id":2,"wait":true}')
fin=$(echo "$out" | jlast 'j["id"], j["result"]["run"]["kind"], j["result"]["run"]["state"]')
ver1=$(version v3)
[ "$fin" = "(2, 'rotate', 'committed')" ] && [ "$ver1" -gt "$ver0" ] &&
    ! echo "$out" | grep -q '"coalesced":true'
verdict "verify then rotate --wait, pipelined: the rotation runs after the verify" $? \
    "$out" "version $ver0 -> $ver1"

# 5. Later rotations join the one waiting, not the verify.
vid=$(ctl --json verify v2 | jget 'j["run"]')
a=$(ctl --json rotate v2 | jget 'j["run"], j["coalesced"]')
b=$(ctl --json rotate v2 | jget 'j["run"], j["coalesced"]')
c=$(ctl --json verify v2 | jget 'j["run"], j["coalesced"]')
[ "${a%,*}" = "${b%,*}" ] && [ "${a#*, }" = "False)" ] && [ "${b#*, }" = "True)" ] &&
    [ "$c" = "('$vid', True)" ] && [ "${a%,*}" != "('$vid'" ]
verdict "a second rotate joins the waiting rotation; a verify joins the verify" $? \
    "verify $vid" "rotate: $a" "rotate: $b" "verify: $c"
until_state "${a:2:36}" committed

# 6. The log says what happened.
grep -q "ROTAD-0016 .*rotation run .* waits for verify run" "$T/log"
verdict "the log says the rotation waits for the verify (ROTAD-0016)" $? \
    "$(grep ROTAD-0016 "$T/log" | tail -n 3)"

# 7. What the store keeps of a run says its kind (control review, finding
# 5): before, `runs` guessed it from the message, and a verify run whose
# message was a retry's or a failure's showed as a rotation.
kind1=$(stored_kinds v1)
kind4=$(stored_kinds v4)
[ "$kind0" = "$vid1 verify" ] &&
    [ "$kind1" = "$(printf '%s verify\n%s rotate' "$vid1" "$rid1")" ] &&
    [ "$kind4" = "$(printf '%s verify\n%s rotate' "$vid4" "$rid4")" ]
verdict "runs (from the store) shows each run's kind, whatever its message" $? \
    "v1 while waiting: $kind0" "v1: $kind1 (verify $vid1)" \
    "v4: $kind4 (verify $vid4)" "$(ctl runs v1; ctl runs v4)"

# 8. The daemon stops while a rotation waits behind a verify: it never
# starts, and its waiter is told so -- the verify running (v2), or queued
# behind another run of its resource (p2, max_concurrent 1).
ctl rotate p1 >/dev/null
ctl verify p2 >/dev/null
ctl verify v2 >/dev/null
"$ROTACTL" rotate --wait p2 >"$T/p2.out" 2>&1 &
w1=$!
"$ROTACTL" rotate --wait v2 >"$T/v2.out" 2>&1 &
w2=$!
sleep 0.5
rotad_term
wait $w1
s1=$?
wait $w2
s2=$?
[ "$DSTATUS" -eq 0 ] && [ $s1 -eq 1 ] && [ $s2 -eq 1 ] &&
    grep -q 'rotad stopped before run .* started' "$T/p2.out" &&
    grep -q 'rotad stopped before run .* started' "$T/v2.out"
verdict "a stop: the rotation behind a verify never starts; its waiters are told" $? \
    "rotad exit $DSTATUS, rotactl $s1 $s2" "$(cat "$T/p2.out" "$T/v2.out")" \
    "$(tail -n 5 "$T/log")"
! grep -Eq 'AddressSanitizer|runtime error|LeakSanitizer' "$T/log"
verdict "no sanitizer report in the daemon's log" $? \
    "$(grep -E -A20 'Sanitizer|runtime error' "$T/log" | head -40)"

[ "$n" -eq 10 ] || echo "# planned 10 tests, ran $n"
[ "$failed" -eq 0 ]
