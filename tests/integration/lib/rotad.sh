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

DPID=

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
