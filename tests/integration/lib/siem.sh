# shellcheck shell=bash
# rotad-siem for an integration test, and a SIEM that signs as
# docs/siem.md says: source this file after lib/tap.sh, then
#
#   siem_setup || ...          # users, certificate, keys, a free port
#   start_siem LOG ARGS... || ...
#   out=$(post BODY)           # "STATUS BODY", signed now
#   stop_siem                  # in the test's EXIT trap too
#
# Needs T (the test's private directory), SIEM (rotad-siem's path) and
# ROTACTL.  rotad-siem starts as root and drops to SU, which the test's
# control.acl grants `trigger`; WU is a worker.user for the daemon.
#
#   siem_rotad_yaml    T/rotad.yaml for the daemon: its store and socket
#                      in T, the socket's group nogroup, control.acl
#                      granting SU trigger, WU the worker.user; the job
#                      files in T/conf.d (the caller's).  Needs B.
#   siem_setup         SU and WU (system users, made if missing: SU in
#                      nogroup, the socket's group in these tests);
#                      T/tls.crt and T/tls.key (self-signed for
#                      127.0.0.1), T/hmac.key and T/token, the three
#                      secret files root's, 0600; PORT (free a moment
#                      ago) and URL.  0, or 1 with openssl's complaint
#                      on stderr.
#   siem_begin         siem_setup, or else a plan of one failing case and
#                      exit 1 (the caller's EXIT trap cleans up).
#   start_siem LOG ARGS...
#                      rotad-siem on PORT with the certificate, key and
#                      T/rotad.sock, and ARGS (--hmac-key-file ... or
#                      --token-file ...), its stderr into LOG; waits until
#                      it listens and, in hmac mode, until the first
#                      second whose timestamps it accepts (NB: it refuses
#                      those from before its start).  SPID, for the
#                      caller's trap.  0, or 1 with LOG holding why.
#   stop_siem          SIGTERM to the rotad-siem started last, and wait.
#   post BODY [TS [KEYFILE]]
#                      POST BODY signed for TS (default now) with KEYFILE
#                      (default T/hmac.key); prints "STATUS BODY".  EXTRA:
#                      an array of more curl arguments.
#   raw ARGS...        curl with ARGS (and the certificate as CA), the
#                      same.
#   committed RUN [SECONDS]
#                      wait (SECONDS, default 10, at most) for RUN to
#                      commit; 1 at once when it fails.
#   event_of RUN       "NAME TRIGGER ALERT_ID" of RUN's record_* event.

WU=rotad-test-worker
SU=rotad-test-siem
SPID= NB=
EXTRA=()

siem_setup() {
	getent passwd "$WU" >/dev/null ||
	    useradd --system --no-create-home --shell /usr/sbin/nologin "$WU"
	getent passwd "$SU" >/dev/null ||
	    useradd --system --no-create-home --shell /usr/sbin/nologin \
		-g nogroup "$SU"
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
	    -nodes -days 2 -subj /CN=127.0.0.1 \
	    -addext subjectAltName=IP:127.0.0.1 \
	    -keyout "$T/tls.key" -out "$T/tls.crt" >"$T/openssl.log" 2>&1 ||
	    { cat "$T/openssl.log" >&2; return 1; }
	head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$T/hmac.key"
	head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$T/token"
	chmod 600 "$T/tls.key" "$T/hmac.key" "$T/token"
	PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])') ||
	    return 1
	URL=https://127.0.0.1:$PORT/v1/rotate
}

siem_begin() {
	siem_setup 2>"$T/setup.err" && return 0
	echo "1..1"
	not_ok "users, certificate and keys for rotad-siem" "$(cat "$T/setup.err")"
	exit 1
}

siem_rotad_yaml() {
	cat >"$T/rotad.yaml" <<EOF
store: {path: $T/rotad.db, key_file: $T/master.key}
control:
  socket: $T/rotad.sock
  group: nogroup
  acl:
    - {user: $SU, rights: [trigger]}
worker: {path: $B/rotad-worker, user: $WU}
EOF
}

start_siem() {
	local log=$1 i
	shift
	"$SIEM" --listen "127.0.0.1:$PORT" --cert "$T/tls.crt" \
	    --key "$T/tls.key" --socket "$T/rotad.sock" --user "$SU" \
	    "$@" 2>>"$log" &
	SPID=$!
	for i in $(seq 1 50); do
		if grep -q 'listening on' "$log" 2>/dev/null; then
			NB=$(sed -n 's/.*refusing timestamps before \([0-9]*\) .*/\1/p' \
			    "$log" | tail -n 1)
			while [ -n "$NB" ] && [ "$(date +%s)" -lt "$NB" ]; do
				sleep 0.1
			done
			return 0
		fi
		kill -0 "$SPID" 2>/dev/null || { SPID=; return 1; }
		sleep 0.1
	done
	return 1
}

stop_siem() {
	if [ -n "$SPID" ]; then
		kill "$SPID" 2>/dev/null
		wait "$SPID" 2>/dev/null
		SPID=
	fi
}

post() {
	local body=$1 ts=${2:-$(date +%s)} key=${3:-$T/hmac.key} sig
	sig=$(python3 -c 'import hmac,hashlib,sys
k = open(sys.argv[1], "rb").read().rstrip(b"\n")
print(hmac.new(k, sys.argv[2].encode() + b"." + sys.argv[3].encode(),
    hashlib.sha256).hexdigest())' "$key" "$ts" "$body")
	raw -H "Content-Type: application/json" \
	    -H "X-Rotad-Timestamp: $ts" -H "X-Rotad-Signature: sha256=$sig" \
	    "${EXTRA[@]}" --data-binary "$body" "$URL"
}

raw() {
	curl -sS --cacert "$T/tls.crt" -o "$T/resp" -w '%{http_code}' "$@"
	printf ' %s\n' "$(cat "$T/resp" 2>/dev/null)"
}

committed() {
	local s
	for _ in $(seq 1 $((${2:-10} * 10))); do
		s=$("$ROTACTL" --json run "$1" 2>/dev/null |
		    jget 'j["run"]["state"]' 2>/dev/null)
		[ "$s" = committed ] && return 0
		case $s in failed | out_of_sync) return 1 ;; esac
		sleep 0.1
	done
	return 1
}

event_of() {
	"$ROTACTL" --json events --since 0 -n 1000 2>/dev/null | python3 -c 'import json,sys
for l in sys.stdin:
    e = json.loads(l)
    if e["name"].startswith("record_") and e.get("run_id") == sys.argv[1]:
        print(e["name"], e.get("trigger"), e.get("alert_id"))' "$1"
}
