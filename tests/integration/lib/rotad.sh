# shellcheck shell=bash
# The real daemon for an integration test: source this file, then
#
#   rotad_start CONFIG LOG || ...    # rotad -n, --init, start, wait
#   ... rotactl (ROTAD_SOCKET set by the caller) ...
#   rotad_kill                       # in the test's EXIT trap
#
# Needs ROTAD (the daemon's path).  Sets DPID (the daemon's PID, for the
# caller's trap) and ROTAD_OUT (what rotad -n and --init printed).

DPID=

# rotad_start CONFIG LOG: check CONFIG, make its store, start the daemon
# in the foreground with its stderr into LOG, and wait (10 s at most) for
# its socket to answer.  0, or 1 with the reason in ROTAD_OUT or LOG.
rotad_start() {
	local i
	ROTAD_OUT=$("$ROTAD" -n -c "$1" 2>&1) &&
	    ROTAD_OUT=$("$ROTAD" --init -c "$1" 2>&1) || return 1
	"$ROTAD" -f -c "$1" 2>>"$2" &
	DPID=$!
	for i in $(seq 1 100); do
		"$ROTACTL" status >/dev/null 2>&1 && return 0
		kill -0 "$DPID" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}

# rotad_kill: the daemon started last, killed and reaped.
rotad_kill() {
	if [ -n "$DPID" ]; then
		kill -KILL "$DPID" 2>/dev/null
		wait "$DPID" 2>/dev/null
		DPID=
	fi
}
