#!/bin/bash
# What a subverted worker can reach: a `protocol: script` user's rotate
# script plays the attacker, inside the real daemon's real worker, in both
# supported set-ups: the daemon as root, and the daemon as a non-root
# service user holding CAP_SETUID, CAP_SETGID and CAP_KILL as ambient
# capabilities (what systemd's AmbientCapabilities= gives it).  Speaks TAP.
#
#   tests/integration/attack_worker.sh BUILDDIR
#
# The script tries (a) the control socket: a secret_get for another user,
# (b) reading the master key, the store, a job file and rotad.yaml, and
# (c) prints its ids and capabilities.  It writes what each attempt got
# to its output, which the run keeps (scrubbed of the run's own secrets
# only: another user's secret would show); the test reads it with
# `rotactl --json run ID` and asserts each refusal, never a silence.
# Then the start-up rules of worker.user: never root, never the daemon's
# own user, a user that exists, the capabilities to switch to it.
#
# The files sit where a deployment keeps them, each in a private
# directory made here and removed at the end: rotad.yaml, conf.d and the
# master key under /etc/rotad-attack.*, the store under
# /var/lib/rotad-attack.*, the socket under /run/rotad-attack.*.  Needs
# root (to create the test users and to start the daemon as either).
set -u
B=$(realpath "$1")
ROTAD=$B/scheduler/rotad
ROTACTL=$B/ctl/rotactl
. "$(dirname "$(realpath "$0")")/lib/tap.sh"

if [ "$(id -u)" -ne 0 ]; then
	echo "1..0 # SKIP needs root (test users, a daemon as root and as a service user)"
	exit 0
fi
if ! command -v setpriv >/dev/null || ! command -v useradd >/dev/null; then
	echo "1..0 # SKIP needs setpriv and useradd"
	exit 0
fi

WU=rotad-test-worker # worker.user
DU=rotad-test-daemon # the service user the daemon runs as
for u in "$WU" "$DU"; do
	getent passwd "$u" >/dev/null ||
	    useradd --system --no-create-home --shell /usr/sbin/nologin "$u" ||
	    { echo "1..0 # SKIP cannot create user $u"; exit 0; }
done
WUID=$(id -u "$WU")
WGROUP=$(id -gn "$WU")
WGID=$(id -g "$WU")
DUID=$(id -u "$DU")

T=$(mktemp -d /tmp/attack-worker.XXXXXX)
E=$(mktemp -d /etc/rotad-attack.XXXXXX)
V=$(mktemp -d /var/lib/rotad-attack.XXXXXX)
R=$(mktemp -d /run/rotad-attack.XXXXXX)
PIDS=
cleanup() {
	local p
	for p in $PIDS; do
		kill -KILL "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	rm -rf "$T" "$E" "$V" "$R"
}
trap cleanup EXIT
# Like systemd's RuntimeDirectory=, StateDirectory= and /etc: 0755.
chmod 755 "$T" "$E" "$V" "$R"
# The programs as a package installs them, where the service user can
# reach them whatever the build directory's parents allow (a clone under
# a private temporary directory, say).
mkdir "$T/bin"
cp "$B/scheduler/rotad" "$B/ctl/rotactl" "$B/rotad-worker" "$T/bin/"
chmod 755 "$T/bin" "$T/bin/rotad" "$T/bin/rotactl" "$T/bin/rotad-worker"
ROTAD=$T/bin/rotad
ROTACTL=$T/bin/rotactl
export ROTAD_SOCKET=$R/rotad.sock
ctl() { "$ROTACTL" "$@"; }
jlast() { tail -n 1 | jget "$1"; }

# As the daemon runs: as root, or as $DU with the capabilities a unit's
# AmbientCapabilities=CAP_SETUID CAP_SETGID CAP_KILL gives (and a bounding
# set of those only, as CapabilityBoundingSet= would).  "nocaps": $DU
# with none.
as_daemon() { # MODE CMD...
	local mode=$1
	shift
	case $mode in
	root) exec "$@" ;;
	service)
		exec setpriv --reuid="$DU" --regid="$DU" --init-groups \
		    --inh-caps=-all,+setuid,+setgid,+kill \
		    --ambient-caps=+setuid,+setgid,+kill \
		    --bounding-set=-all,+setuid,+setgid,+kill "$@" ;;
	nocaps)
		exec setpriv --reuid="$DU" --regid="$DU" --init-groups \
		    --inh-caps=-all --bounding-set=-all "$@" ;;
	esac
}

# setup MODE WORKER_USER: a fresh store, key and configuration, owned as
# MODE's daemon needs them.
setup() {
	local mode=$1 wuser=$2
	rm -rf "${E:?}"/* "${V:?}"/* "${R:?}"/*
	mkdir -p "$E/conf.d"
	chmod 755 "$E/conf.d"
	cat >"$E/rotad.yaml" <<EOF
store: {path: $V/rotad.db, key_file: $E/master.key}
control: {socket: $R/rotad.sock}
worker: {path: $T/bin/rotad-worker, user: $wuser}
EOF
	# The victim: its secret is what the attacker is after.
	python3 -c 'import secrets; print("victim-" + secrets.token_hex(16))' >"$T/victim.secret"
	chmod 600 "$T/victim.secret"
	install -m 600 "$T/victim.secret" "$E/victim.pw"
	printf 'attacker-initial-%s\n' "$RANDOM$RANDOM" >"$E/attacker.pw"
	chmod 600 "$E/attacker.pw"
	cat >"$E/conf.d/victim.yaml" <<EOF
resources:
  vault: {kind: machine, host: 127.0.0.1, protocol: test}
users:
  victim: {login: victim, resource: vault, password_file: $E/victim.pw}
EOF
	cat >"$E/conf.d/attacker.yaml" <<EOF
resources:
  shady:
    kind: api
    protocol: script
    rotate_script: {path: $T/attack.py, command: /usr/bin/python3}
    verify_script: $T/verify.sh
users:
  attacker: {login: attacker, resource: shady, password_file: $E/attacker.pw}
EOF
	# A worker that outlives its deadline, to be seen from outside and
	# ended by the daemon.
	cat >"$E/conf.d/sleeper.yaml" <<EOF
resources:
  slow:
    kind: api
    protocol: script
    rotate_script: {path: $T/sleep.py, command: /usr/bin/python3}
    verify_script: $T/verify.sh
users:
  sleeper:
    login: sleeper
    resource: slow
    password_file: $E/attacker.pw
    timeout: 4s
    retry: {attempts: 1}
EOF
	chmod 644 "$E/rotad.yaml" "$E"/conf.d/*.yaml
	"$ROTAD" --init -c "$E/rotad.yaml" >"$T/init.log" 2>&1 || cat "$T/init.log" >&2
	if [ "$mode" != root ]; then
		chown "$DU:" "$E/master.key" "$E/victim.pw" "$E/attacker.pw" "$V" "$R"
		chown -R "$DU:" "$V"
	fi
}

# The attacker.  Paths are written into it: Keeper's input does not carry
# them.  Each attempt prints one line, "NAME: got ..." or "NAME: refused
# ERRNO".
cat >"$T/attack.py" <<EOF
import errno, os, socket, sys
sys.stdin.readline()
def attempt(name, f):
    try:
        print("%s: got %r" % (name, f()))
    except OSError as e:
        print("%s: refused %s" % (name, errno.errorcode.get(e.errno, e.errno)))
def ask():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect("$R/rotad.sock")
    try:
        s.sendall(b'{"v":1,"cmd":"secret_get","user":"victim","id":"x"}\n')
    except BrokenPipeError:
        pass  # closed already: read what it said
    data = b""
    while not data.endswith(b"\n"):
        c = s.recv(65536)
        if not c:
            break
        data += c
    return data.decode("utf-8", "replace")
def read(path):
    with open(path, "rb") as f:
        return f.read(200)
attempt("socket", ask)
attempt("key", lambda: read("$E/master.key"))
attempt("store", lambda: read("$V/rotad.db"))
attempt("job", lambda: read("$E/conf.d/victim.yaml"))
attempt("config", lambda: read("$E/rotad.yaml"))
print("ids: %d %d %d" % os.getresuid(), "gids: %d %d %d" % os.getresgid(),
      "groups: %r" % os.getgroups())
EOF
cat >"$T/sleep.py" <<'EOF'
import sys, time
sys.stdin.readline()
time.sleep(120)
EOF
cat >"$T/verify.sh" <<'EOF'
#!/bin/sh
read -r line
echo "verified"
EOF
chmod 644 "$T/attack.py" "$T/sleep.py"
chmod 755 "$T/verify.sh"

PID=
start() { # MODE: start the daemon, wait until it answers
	local i
	as_daemon "$1" "$ROTAD" -f -c "$E/rotad.yaml" 2>>"$T/log-$1" &
	PID=$!
	PIDS="$PIDS $PID"
	for i in $(seq 1 100); do
		ctl status >/dev/null 2>&1 && return 0
		kill -0 "$PID" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}
stop() {
	kill -TERM "$PID" 2>/dev/null
	wait "$PID" 2>/dev/null
	PID=
}

# attack: rotate the attacker, print its rotate script's output (one line
# per attempt) to stdout; the run's JSON in $T/run.json.
attack() {
	local out id
	out=$(ctl --json rotate --wait attacker 2>&1)
	id=$(echo "$out" | jlast 'j["run"]["id"]' 2>/dev/null)
	ctl --json run "$id" >"$T/run.json" 2>&1
	jget '"".join(s["output"] for s in j["run"]["scripts"] if "ids:" in s["output"])' <"$T/run.json" 2>/dev/null
}
# line NAME: the line of that attempt in $OUT
line() { printf '%s\n' "$OUT" | grep "^$1: "; }
refused() { line "$1" | grep -q "^$1: refused E"; }

echo "1..27"

for mode in root service; do
	setup "$mode" "$WU"
	[ "$mode" = root ] && self=0 || self=$DUID
	start "$mode"
	st=$?
	OUT=$(attack)
	[ $st -eq 0 ] && [ "$(jget 'j["run"]["state"]' <"$T/run.json")" = committed ] &&
	    [ -n "$(line ids)" ]
	verdict "$mode: the attacker's rotate script ran in a worker and said what it got" $? \
	    "$(cat "$T/run.json")" "$(tail -5 "$T/log-$mode")"

	# (a) The socket's mode (0660, the daemon's user and group) refuses
	# the worker's uid at connect().
	line socket | grep -q '^socket: refused EACCES$'
	verdict "$mode: (a) connect() to the control socket is refused (EACCES, the socket's mode)" $? \
	    "$(line socket)"

	# (a) An operator put the socket in the worker's group: connect()
	# works, and the daemon refuses the worker's uid before any command.
	chgrp "$WGROUP" "$R/rotad.sock"
	: >"$T/log-$mode.mark"
	before=$(wc -l <"$T/log-$mode")
	OUT2=$(attack)
	after=$(tail -n +$((before + 1)) "$T/log-$mode")
	printf '%s\n' "$OUT2" | grep '^socket: ' | grep -q '"code": *"denied"' &&
	    ! printf '%s\n' "$OUT2" | grep -q '"ok": *true' &&
	    printf '%s\n' "$after" | grep -q "ROTAD-0020.*uid $WUID .*worker"
	verdict "$mode: (a) the socket in the worker's group: the daemon refuses the worker's uid and logs it" $? \
	    "$(printf '%s\n' "$OUT2" | grep '^socket: ')" "$after"

	b64=$(tr -d '\n' <"$T/victim.secret" | base64 -w0)
	if printf '%s\n%s\n' "$OUT" "$OUT2" | grep -qF -e "$(cat "$T/victim.secret")" -e "$b64" -e '"ok":true' ||
	    grep -qF -f "$T/victim.secret" "$T/run.json" "$T/log-$mode"; then
		not_ok "$mode: the victim's secret is in no output and no log" "$OUT2"
	else
		ok "$mode: the victim's secret is in no output and no log"
	fi

	# (b) Files: the key and the store (the daemon's user's, 0600), a job
	# file and rotad.yaml (0644 under /etc: only Landlock stops these).
	refused key
	verdict "$mode: (b) reading the master key is refused" $? "$(line key)"
	refused store
	verdict "$mode: (b) reading the store is refused" $? "$(line store)"
	refused job && refused config
	verdict "$mode: (b) reading a job file and rotad.yaml under /etc is refused" $? \
	    "$(line job)" "$(line config)"

	# (c) The worker's own uid, no capability left.
	line ids | grep -q "^ids: $WUID $WUID $WUID gids: $WGID $WGID $WGID groups: \[\]" &&
	    [ "$WUID" != 0 ] && [ "$WUID" != "$self" ]
	verdict "$mode: (c) the script runs as $WU ($WUID), not 0 nor the daemon's uid $self, no groups" $? \
	    "$(line ids)"

	# The same, seen from outside on a worker in the middle of its step,
	# with its capabilities: a service daemon's ambient ones are gone.
	# A worker is a child of the daemon's worker template (the template's
	# idle children are not locked down yet: they have the template's
	# seccomp filter alone, the step's its own over it, two), or, when no
	# template serves, of the daemon itself (its own filter, one).
	# Filters counted relative to the parent's: a test run inside a
	# filtered container inherits one.
	nf() { awk '$1 == "Seccomp_filters:" { print $2 }' "/proc/$1/status" 2>/dev/null; }
	ctl rotate sleeper >/dev/null 2>&1
	WPID=
	for _ in $(seq 1 100); do
		for tp in $(pgrep -P "$PID" -f 'rotad-worker --template'); do
			want=$(($(nf "$tp") + 1))
			for p in $(pgrep -P "$tp"); do
				[ "$(nf "$p")" = "$want" ] && WPID=$p && break
			done
		done
		[ -n "$WPID" ] && break
		for p in $(pgrep -P "$PID" -f 'rotad-worker --provider'); do
			grep -q '^Seccomp:[[:space:]]*2' "/proc/$p/status" 2>/dev/null && WPID=$p && break
		done
		[ -n "$WPID" ] && break
		sleep 0.05
	done
	ST=$(cat "/proc/$WPID/status" 2>&1)
	field() { printf '%s\n' "$ST" | awk -v k="$1:" '$1 == k { $1 = ""; print }' | xargs; }
	bnd=0000000000000000
	[ "$mode" = service ] && bnd=00000000000000e0 # setuid setgid kill: see docs/security.md
	[ "$(field Uid)" = "$WUID $WUID $WUID $WUID" ] && [ "$(field Gid)" = "$WGID $WGID $WGID $WGID" ] &&
	    [ -z "$(field Groups)" ] && [ "$(field NoNewPrivs)" = 1 ] &&
	    [ "$(field CapInh)" = 0000000000000000 ] && [ "$(field CapPrm)" = 0000000000000000 ] &&
	    [ "$(field CapEff)" = 0000000000000000 ] && [ "$(field CapAmb)" = 0000000000000000 ] &&
	    [ "$(field CapBnd)" = "$bnd" ]
	verdict "$mode: (c) a running worker: $WU's ids, no capability (bounding set $bnd), no_new_privs" $? "$ST"

	# Its deadline (4 s, then SIGKILL 5 s later): the daemon can still
	# signal a worker that is no longer its uid.
	# (Recovery then asks verify.sh, which says yes: the run commits.)
	t0=$SECONDS
	out=$(timeout 60 "$ROTACTL" --json rotate --wait sleeper 2>&1)
	[ $((SECONDS - t0)) -lt 30 ] && ! kill -0 "$WPID" 2>/dev/null &&
	    [ -n "$(echo "$out" | jlast 'j["run"]["state"]')" ]
	verdict "$mode: a worker past its deadline is ended by the daemon ($((SECONDS - t0)) s)" $? \
	    "$out" "$(tail -3 "$T/log-$mode")"
	stop
done

# A non-root daemon without CAP_SETUID and CAP_SETGID cannot switch its
# workers to worker.user: each refuses to run, and says why.
setup nocaps "$WU"
start nocaps
st=$?
out=$(ctl --json rotate --wait attacker 2>&1)
msg=$(echo "$out" | jlast 'j["run"]["message"]' 2>&1)
[ $st -eq 0 ] && [ "$(echo "$out" | jlast 'j["run"]["state"]')" = failed ] &&
    echo "$msg" | grep -q 'CAP_SETUID' && grep -q 'CAP_SETUID' "$T/log-nocaps"
verdict "a non-root daemon without CAP_SETUID/CAP_SETGID: the worker refuses to run as the daemon's uid, and says why" $? \
    "$out" "$(tail -5 "$T/log-nocaps")"
stop

# refuse_start MODE WORKER_USER PATTERN NAME
refuse_start() {
	local out st
	setup "$1" "$2"
	out=$(as_daemon "$1" timeout 20 "$ROTAD" -f -c "$E/rotad.yaml" 2>&1)
	st=$?
	[ $st -ne 0 ] && [ $st -ne 124 ] && echo "$out" | grep -q "$3"
	verdict "$4" $? "exit $st" "$out"
}
refuse_start root root "worker.user root.*uid 0" \
    "a root daemon with worker.user root refuses to start"
refuse_start service "$DU" "worker.user $DU.*rotad's own uid" \
    "a service daemon with worker.user its own user refuses to start"
refuse_start service root "worker.user root.*uid 0" \
    "a service daemon with worker.user root refuses to start"
refuse_start root rotad-no-such-user "worker.user rotad-no-such-user.*does not exist" \
    "a daemon whose worker.user does not exist refuses to start"

setup root root
out=$("$ROTAD" -n -c "$E/rotad.yaml" 2>&1)
st=$?
[ $st -ne 0 ] && echo "$out" | grep -q "worker.user root.*uid 0"
verdict "rotad -n refuses worker.user root" $? "exit $st" "$out"

# A reload that would make workers root is refused; the daemon goes on.
setup root "$WU"
start root
sed -i "s/user: $WU}/user: root}/" "$E/rotad.yaml"
out=$(ctl reload 2>&1)
st=$?
[ $st -ne 0 ] && echo "$out" | grep -q "worker.user root" &&
    [ "$(ctl --json status | jget 'j["generation"]')" = 1 ]
verdict "a reload to worker.user root is refused and the daemon keeps running" $? "$out"
stop

[ "$n" -eq 27 ] || echo "# planned 27, ran $n"
[ "$failed" -eq 0 ]
