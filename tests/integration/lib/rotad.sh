# shellcheck shell=bash
# The real daemon for an integration test: source this file, then
#
#   rotad_start CONFIG LOG || ...    # rotad -n, --init, start, wait
#   rotad_run CONFIG LOG || ...      # start and wait, nothing else
#   ... rotactl (ROTAD_SOCKET set by the caller) ...
#   rotad_term                       # SIGTERM and wait: DSTATUS
#   rotad_kill                       # in the test's EXIT trap
#
# Needs ROTAD (the daemon's path).  Sets DPID (the daemon's PID, for the
# caller's trap) and ROTAD_OUT (what rotad -n and --init printed).
#
# Or, for a test of one daemon on the test provider, all of it at once:
#
#   rotad_test BUILDDIR NAME         # paths, T, ROTAD_SOCKET, trap, WU
#   rotad_test_conf                  # T/rotad.yaml; users in T/conf.d
#   rotad_send LINE...               # raw requests on one connection

DPID=

# rotad_test BUILDDIR NAME: B, ROTAD and ROTACTL from BUILDDIR; a private
# directory T (/tmp/rotad-NAME.*, with conf.d/) that the EXIT trap
# removes after killing the daemon (and ROTAD_TEST_PIDS, the test's other
# processes); ROTAD_SOCKET in it; WU, the workers' user, made if missing.
rotad_test() {
	B=$(realpath "$1")
	ROTAD=$B/scheduler/rotad
	ROTACTL=$B/ctl/rotactl
	T=$(mktemp -d "/tmp/rotad-$2.XXXXXX")
	ROTAD_TEST_PIDS=
	trap '[ -n "$ROTAD_TEST_PIDS" ] && kill $ROTAD_TEST_PIDS 2>/dev/null; rotad_kill; rm -rf "$T"' EXIT
	export ROTAD_SOCKET=$T/rotad.sock
	mkdir -p "$T/conf.d"
	chmod 711 "$T"
	WU=rotad-test-worker
	getent passwd "$WU" >/dev/null ||
	    useradd --system --no-create-home --shell /usr/sbin/nologin "$WU"
}

# rotad_test_conf [LINE...]: T/rotad.yaml with the store and the workers
# in T, then `control:` with the socket in T, then each LINE (indented, it
# is more of control:, e.g. "  group: nogroup").
rotad_test_conf() {
	{
		echo "store: {path: $T/rotad.db, key_file: $T/master.key}"
		echo "worker: {path: $B/rotad-worker, user: $WU}"
		echo "control:"
		echo "  socket: $T/rotad.sock"
		printf '%s\n' "$@"
	} >"$T/rotad.yaml"
}

# rotad_start CONFIG LOG: check CONFIG, make its store, start the daemon
# in the foreground with its stderr into LOG, and wait (10 s at most) for
# its socket to answer.  0, or 1 with the reason in ROTAD_OUT or LOG.
rotad_start() {
	ROTAD_OUT=$("$ROTAD" -n -c "$1" 2>&1) &&
	    ROTAD_OUT=$("$ROTAD" --init -c "$1" 2>&1) || return 1
	rotad_run "$1" "$2"
}

# rotad_run CONFIG LOG: start the daemon on CONFIG as it is (no check, no
# --init: a store that exists, or a configuration with a broken job
# file) and wait as rotad_start does.
rotad_run() {
	local i
	"$ROTAD" -f -c "$1" 2>>"$2" &
	DPID=$!
	for i in $(seq 1 100); do
		"$ROTACTL" status >/dev/null 2>&1 && return 0
		kill -0 "$DPID" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}

# rotad_term: SIGTERM, as systemd stops it, and wait; its exit status in
# DSTATUS.
rotad_term() {
	kill -TERM "$DPID"
	wait "$DPID"
	DSTATUS=$?
	DPID=
}

# rotad_kill: the daemon started last, killed and reaped.
rotad_kill() {
	if [ -n "$DPID" ]; then
		kill -KILL "$DPID" 2>/dev/null
		wait "$DPID" 2>/dev/null
		DPID=
	fi
}

# rotad_send LINE...: the request lines in one write on one connection
# to ROTAD_SOCKET (a pipelined burst, or a request rotactl does not make);
# every line answered until the last request's final answer, on stdout.
rotad_send() {
	python3 - "$ROTAD_SOCKET" "$@" <<'PYEOF'
import json, socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(30)
s.connect(sys.argv[1])
s.sendall("".join(l + "\n" for l in sys.argv[2:]).encode())
want, buf = len(sys.argv) - 2, b""
while want > 0:
    b = s.recv(65536)
    if not b:
        break
    buf += b
    while b"\n" in buf:
        line, buf = buf.split(b"\n", 1)
        print(line.decode(), flush=True)
        if "progress" not in json.loads(line):
            want -= 1
PYEOF
}
