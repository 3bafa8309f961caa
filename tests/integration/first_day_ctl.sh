#!/bin/bash
# The operator's first day, through rotactl (issue 15): whether a user has
# a secret (list, show; the SSH key as a credential of its own), messages
# that name the command to run next, a start with a broken job file
# (degraded until a reload loads every file), a pause that outlives the
# daemon (a missed fire and a due fire both skipped), and the audit lines
# of pause, resume, rotate, verify and reload with the caller's uid and
# pid.  The real daemon on a private directory, the test provider.
#   tests/integration/first_day_ctl.sh BUILDDIR          Speaks TAP.
set -u
B=$(realpath "$1")
ROTAD=$B/scheduler/rotad
ROTACTL=$B/ctl/rotactl
T=$(mktemp -d /tmp/rotad-firstday.XXXXXX)
stop_all() {
	rotad_kill
	rm -rf "$T"
}
trap stop_all EXIT
export ROTAD_SOCKET=$T/rotad.sock
. "$(dirname "$(realpath "$0")")/lib/tap.sh"
. "$(dirname "$(realpath "$0")")/lib/rotad.sh"
ctl() { "$ROTACTL" "$@"; }
# as_nobody CMD...: run CMD as nobody, its pid in $LASTPID (setpriv
# execs, so the pid the daemon sees is the one started here).  Not in
# $(...): the pid would stay in the subshell.
as_nobody() {
	setpriv --reuid=nobody --regid=nogroup --clear-groups "$@" &
	LASTPID=$!
	wait "$LASTPID"
}
start() { rotad_run "$T/rotad.yaml" "$T/log"; }
nruns() { ctl --json runs "$1" 2>/dev/null | jget 'len(j["runs"])'; }
# at EPOCH: a cron spec (UTC) that fires once a day, at EPOCH's time.
at() { date -u -d "@$1" +'%-S %-M %-H * * ?'; }

mkdir -p "$T/conf.d"
chmod 711 "$T" # the `nobody` client must reach the socket
# Workers run as a user of their own: nobody is a client here, and the
# workers' uid is refused at connect.
WU=rotad-test-worker
getent passwd "$WU" >/dev/null ||
    useradd --system --no-create-home --shell /usr/sbin/nologin "$WU"
printf 'initial-secret-of-seeded\n' >"$T/seeded.pw"
chmod 600 "$T/seeded.pw"
cat >"$T/rotad.yaml" <<EOF
store: {path: $T/rotad.db, key_file: $T/master.key}
control:
  socket: $T/rotad.sock
  group: nogroup
  acl:
    - {user: nobody, rights: [read, trigger, admin]}
worker: {path: $B/rotad-worker, user: $WU}
EOF
cat >"$T/conf.d/first.yaml" <<EOF
resources:
  box: {kind: machine, protocol: test}
  sshbox: {kind: machine, protocol: ssh, host: 127.0.0.1, port: 1, host_key_policy: tofu}
users:
  seeded: {login: seeded, resource: box, password_file: $T/seeded.pw}
  bare: {login: bare, resource: box}
  keyed:
    login: keyed
    resource: sshbox
    rotate: [password, private_key]
    schedule: {cron: "0 0 3 * * ?", tz: UTC}
EOF
# A job file with an error the loader finds only across files: its user
# names a resource nobody defines.
cat >"$T/conf.d/broken.yaml" <<EOF
users:
  lost: {login: lost, resource: nowhere}
EOF

echo "1..18"
out=$("$ROTAD" --init -c "$T/rotad.yaml" 2>&1)
start
verdict "rotad starts with a broken job file beside a good one" $? "$out" "$(cat "$T/log")"

# ---- secret: yes/no ----

js=$(ctl --json list 2>&1)
txt=$(ctl list 2>&1)
[ "$(echo "$js" | jget '[(u["name"], u["secret"]) for u in j["users"] if u["name"] in ("bare", "seeded")]')" = "[('bare', False), ('seeded', True)]" ] &&
    echo "$txt" | head -1 | grep -q ' SECRET ' &&
    echo "$txt" | grep -Eq '^bare .* no +-$' &&
    echo "$txt" | grep -Eq '^seeded .* yes +-$'
verdict "list: secret false/no for a user never seeded, true/yes for an imported one" $? "$js" "$txt"

out=$(ctl show bare 2>&1)
echo "$out" | grep -Eq '^ *secret: no$' &&
    echo "$out" | grep -q 'rotactl secret set bare'
verdict "show of a user without a secret: secret: no, and the command that seeds one" $? "$out"

printf 'first-secret-of-bare\n' | ctl secret set bare >/dev/null 2>&1
out=$(ctl show bare 2>&1)
echo "$out" | grep -Eq '^ *secret: yes$' && ! echo "$out" | grep -q 'rotactl secret set'
verdict "after rotactl secret set: secret: yes, and no hint" $? "$out"

js=$(ctl --json show keyed 2>&1)
out=$(ctl show keyed 2>&1)
kjs=$(ctl --json show keyed/private_key 2>&1)
[ "$(echo "$js" | jget 'j["user"]["credential"], j["user"]["key_credential"]')" = "('password', 'keyed/private_key')" ] &&
    [ "$(echo "$kjs" | jget 'j["user"]["credential"], j["user"]["secret"], "key_credential" in j["user"]')" = "('private_key', False, False)" ] &&
    echo "$out" | grep -q 'rotactl show keyed/private_key'
verdict "a user rotating its SSH key: show names keyed/private_key, a credential with its own secret" $? "$js" "$kjs" "$out"

# ---- messages that say what to do next ----

out=$(ctl secret get keyed 2>&1)
st=$?
[ $st -eq 1 ] && echo "$out" | grep -q 'rotactl secret set keyed'
verdict "secret get of a user without one: not_found, naming rotactl secret set" $? "st=$st" "$out"

out=$(ctl --json verify --wait keyed/private_key 2>&1 | tail -n 1)
[ "$(echo "$out" | jget 'j["run"]["state"]')" = failed ] &&
    echo "$out" | jget 'j["run"]["message"]' | grep -q 'rotactl secret set keyed/private_key'
verdict "verify without a current secret fails, its message naming rotactl secret set" $? "$out"

# ---- a broken job file: degraded until a good reload ----

grep -q "ROTAD-0006 job file $T/conf.d/broken.yaml skipped.*nowhere" "$T/log"
verdict "the start logs the skipped job file with its first error (ROTAD-0006)" $? "$(grep ROTAD-000 "$T/log")"

js=$(ctl --json status 2>&1)
txt=$(ctl status 2>&1)
[ "$(echo "$js" | jget 'j["health"], [s["file"] for s in j["skipped"]]')" = "('degraded', ['$T/conf.d/broken.yaml'])" ] &&
    echo "$js" | jget 'j["skipped"][0]["error"]' | grep -q "^$T/conf.d/broken.yaml:2:[0-9]*: .*nowhere" &&
    echo "$txt" | grep -Eq '^ *health: degraded$' &&
    echo "$txt" | grep -q "^  $T/conf.d/broken.yaml:2:"
verdict "status: degraded, the skipped file and its first error (--json and text)" $? "$js" "$txt"

cat >"$T/conf.d/broken.yaml" <<EOF
users:
  lost: {login: lost, resource: box}
EOF
as_nobody "$ROTACTL" reload >"$T/out" 2>&1
RELOADPID=$LASTPID out=$(cat "$T/out")
js=$(ctl --json status 2>&1)
[ "$(echo "$js" | jget 'j["health"], j["skipped"]')" = "('ok', [])" ] &&
    ctl show lost >/dev/null 2>&1
verdict "fixed and reloaded: status ok, nothing skipped, its user loaded" $? "$out" "$js"

# ---- pause survives a restart ----

# Four users: pm and um due while the daemon is down, pf and uf due
# while it runs again.  pm and pf are paused; um and uf show that the
# fires were due and would have run.
now=$(date +%s)
d1=$((now + 4)) d2=$((now + 9))
cat >"$T/conf.d/pause.yaml" <<EOF
users:
  pm: {login: pm, resource: box, misfire: run_once, schedule: {cron: "$(at $d1)", tz: UTC}}
  um: {login: um, resource: box, misfire: run_once, schedule: {cron: "$(at $d1)", tz: UTC}}
  pf: {login: pf, resource: box, schedule: {cron: "$(at $d2)", tz: UTC}}
  uf: {login: uf, resource: box, schedule: {cron: "$(at $d2)", tz: UTC}}
EOF
ctl reload >/dev/null 2>&1
as_nobody "$ROTACTL" pause pm >/dev/null 2>&1
PAUSEPID=$LASTPID
ctl pause pf >/dev/null 2>&1
rotad_term
[ "$DSTATUS" = 0 ]
verdict "paused pm and pf; rotad stops on SIGTERM" $? "exit $DSTATUS" "$(tail -5 "$T/log")"

while [ "$(date +%s)" -le "$d1" ]; do sleep 0.2; done
start
for _ in $(seq 1 50); do
	[ "$(nruns um)" = 1 ] && break
	sleep 0.1
done
pm=$(ctl --json show pm 2>&1) pf=$(ctl --json show pf 2>&1)
st=$(ctl --json status 2>&1)
[ "$(echo "$pm" | jget 'j["user"]["paused"]')" = True ] &&
    [ "$(echo "$pf" | jget 'j["user"]["paused"]')" = True ] &&
    [ "$(echo "$st" | jget 'j["paused"]')" = 2 ] &&
    ctl show pf | grep -Eq '^ *paused: yes$'
verdict "after a restart: show and status still say paused" $? "$pm" "$pf" "$st"

a=$(nruns pm) b=$(nruns um)
[ "$a" = 0 ] && [ "$b" = 1 ] && grep -q 'pm: fire due at [0-9]* was missed; skipped (paused)' "$T/log"
verdict "a fire missed while down: skipped for the paused user, run once for the other" $? "pm=$a um=$b" "$(grep ROTAD-0011 "$T/log")"

while [ "$(date +%s)" -le "$d2" ]; do sleep 0.2; done
for _ in $(seq 1 50); do
	[ "$(nruns uf)" = 1 ] && break
	sleep 0.1
done
a=$(nruns pf) b=$(nruns uf)
[ "$a" = 0 ] && [ "$b" = 1 ] && grep -q 'pf: fire skipped: paused' "$T/log"
verdict "a fire due while running: skipped for the paused user, run for the other" $? "pf=$a uf=$b" "$(grep ROTAD-0010 "$T/log")"

ctl resume pf >/dev/null 2>&1
ctl pause pm >/dev/null 2>&1 # paused already: still one
n1=$(ctl --json status | jget 'j["paused"]')
rotad_term
start
pf=$(ctl --json show pf 2>&1) pm=$(ctl --json show pm 2>&1)
n2=$(ctl --json status | jget 'j["paused"]')
[ "$(echo "$pf" | jget 'j["user"]["paused"]')" = False ] &&
    [ "$(echo "$pm" | jget 'j["user"]["paused"]')" = True ] &&
    [ "$n1 $n2" = "1 1" ]
verdict "a resume survives a restart too (pf resumed, pm still paused; status: 1 paused before and after)" $? "$pf" "$pm" "paused: $n1 $n2"

# ---- audit lines: the caller's uid and pid, the user names ----

nob=$(id -u nobody)
as_nobody "$ROTACTL" rotate seeded >/dev/null 2>&1
ROTPID=$LASTPID
as_nobody "$ROTACTL" verify bare >/dev/null 2>&1
VERPID=$LASTPID
as_nobody "$ROTACTL" resume pm >/dev/null 2>&1
RESPID=$LASTPID
sleep 0.3
bad=
grep -q "ROTAD-0025 reload requested by uid $nob pid $RELOADPID\$" "$T/log" || bad="$bad reload"
grep -q "ROTAD-0023 paused pm by uid $nob pid $PAUSEPID\$" "$T/log" || bad="$bad pause"
grep -q "ROTAD-0023 resumed pm by uid $nob pid $RESPID\$" "$T/log" || bad="$bad resume"
grep -q "ROTAD-0023 paused pf by uid 0 pid [0-9]*\$" "$T/log" || bad="$bad pause-root"
grep -Eq "ROTAD-0024 rotate of seeded requested by uid $nob pid $ROTPID: run [0-9a-f-]{36}" "$T/log" || bad="$bad rotate"
grep -Eq "ROTAD-0024 verify of bare requested by uid $nob pid $VERPID: run [0-9a-f-]{36}" "$T/log" || bad="$bad verify"
[ -z "$bad" ]
verdict "pause, resume, rotate, verify and reload are logged with the caller's uid, pid and users" $? "missing:$bad" "$(grep -E 'ROTAD-002[345]' "$T/log")"

# A refused request is not an action: no audit line, the refusal only.
n0=$(grep -c 'ROTAD-0024' "$T/log")
out=$(setpriv --reuid=daemon --regid=nogroup --clear-groups "$ROTACTL" rotate seeded 2>&1)
st=$?
n1=$(grep -c 'ROTAD-0024' "$T/log")
[ $st -eq 4 ] && [ "$n0" = "$n1" ] && grep -q "uid $(id -u daemon) .*denied rotate" "$T/log"
verdict "a refused rotate leaves a denial (ROTAD-0020), no audit line" $? "st=$st before=$n0 after=$n1" "$out"

rotad_term

# Every message id the daemon can log has its row in the operator's
# troubleshooting table.
SRC=$(realpath "$(dirname "$(realpath "$0")")/../..")
missing=
for id in $(grep -o 'ROTAD-[0-9]\{4\}' "$SRC/scheduler/log.h"); do
	grep -q "^| \`$id\` |" "$SRC/docs/operations.md" || missing="$missing $id"
done
[ -z "$missing" ] && [ "$(grep -c 'ROTAD-[0-9]\{4\}' "$SRC/scheduler/log.h")" -gt 20 ]
verdict "docs/operations.md explains every ROTAD-NNNN of scheduler/log.h" $? "missing:$missing"
exit $((failed > 0))
