#!/bin/bash
# The network sinks (issue 14), end to end: the real daemon and its
# delivery process (rotad-deliver) against real receivers this test
# starts on 127.0.0.1 and free ports: one rsyslog with imudp (RFC 5424,
# its structured data parsed by mmpstrucdata), imtcp (CEF, octet
# counting) and imtcp over TLS (LEEF, the client certificate required),
# and tests/lib/https_sink.py for HTTPS (a Splunk HEC sink and a chat
# webhook with a filter).  Every received event parses, field by field,
# and matches the spool's event of its seq (tests/lib/sink_check.py); seq
# has no gap at the reliable sinks (tcp, tls, hec); TLS to a server signed
# by another CA, or of another name, delivers nothing and counts
# failures.  Then rsyslog stops and the HTTPS receiver answers 503, more
# events come, the daemon restarts, more come; once the receivers are
# back every event arrives, in order (at least once: a seq may come
# twice).  Last, nothing received holds a secret of the runs, the HEC
# token (but its header) or the client key.
#
# The receivers are checked on their own first (a frame of each kind by
# hand), so that a failure later is the daemon's.  On failure the
# temporary directory is kept (its path is printed): rsyslog.conf and
# what each receiver got (udp.json, tcp.json, tls.json, https.log), the
# spool (spool.jsonl), rotad's stderr (rotad.log).
#   tests/integration/events_remote.sh BUILDDIR          Speaks TAP.
set -u
B=$(realpath "$1")
ROTAD=$B/scheduler/rotad
ROTACTL=$B/ctl/rotactl
DELIVER=$B/deliver/rotad-deliver
HERE=$(dirname "$(realpath "$0")")
LIB=$(realpath "$HERE/../lib")
PY=/usr/bin/python3
export ROTACTL
T=$(mktemp -d /tmp/rotad-evr.XXXXXX)
RPID= HPID=
. "$HERE/lib/tap.sh"
. "$HERE/lib/rotad.sh"
export ROTAD_SOCKET=$T/rotad.sock

# The daemon, its children (rotad-deliver, workers: by their PIDs, read
# before it goes), rsyslog and the HTTPS receiver, whatever happened.
cleanup() {
	local kids=
	[ -n "$DPID" ] && kids=$(ps -o pid= --ppid "$DPID" 2>/dev/null)
	rotad_kill
	for p in $kids; do kill -KILL "$p" 2>/dev/null; done
	stop_pid RPID
	stop_pid HPID
	if [ "$failed" -gt 0 ]; then
		echo "# kept $T: rsyslog.conf, udp/tcp/tls.json, https.log," \
		    "spool.jsonl, rotad.log, rsyslog.err, https.err"
		echo "# rotad's stderr, its end:"
		tail -n 15 "$T/rotad.log" 2>/dev/null | sed 's/^/#   /'
		tail -n 5 "$T/rsyslog.err" 2>/dev/null | sed 's/^/# rsyslog: /'
		tail -n 5 "$T/https.err" 2>/dev/null | sed 's/^/# https: /'
	else
		rm -rf "$T"
	fi
}
trap cleanup EXIT

drv=
for d in ossl gtls; do
	for dir in /usr/lib/*/rsyslog /usr/lib/rsyslog; do
		[ -f "$dir/lmnsd_$d.so" ] && drv=${drv:-$d}
	done
done
if [ "$(id -u)" -ne 0 ] || ! command -v rsyslogd >/dev/null ||
    [ -z "$drv" ] || ! command -v openssl >/dev/null; then
	echo "1..0 # SKIP needs root, rsyslog with rsyslog-openssl or" \
	    "rsyslog-gnutls, and openssl"
	exit 0
fi
echo "1..26"

ctl() { timeout 120 "$ROTACTL" "$@"; }
last_seq() {
	ctl --json events -n 1 2>/dev/null |
	    "$PY" -c 'import json,sys; print(max([json.loads(l)["seq"] for l in sys.stdin] or [0]))'
}
# spool: every spooled event, as JSON lines, into spool.jsonl.
spool() {
	local since=0 page
	: >"$T/spool.jsonl"
	while page=$(ctl --json events --since "$since" -n 1000 2>>"$T/spool.err") &&
	    [ -n "$page" ]; do
		printf '%s\n' "$page" >>"$T/spool.jsonl"
		since=$(printf '%s\n' "$page" | tail -n 1 | jget 'j["seq"]')
	done
}
# metric NAME SINK [FATE]: one sample of `rotactl metrics`, or nothing.
metric() {
	ctl metrics 2>/dev/null | awk -v k="$1{sink=\"$2\"${3:+,fate=\"$3\"}}" \
	    '$1 == k { print $2 }'
}
dtail() { tail -n 6 "$T/rotad.log"; }
# cursors: the reliable sinks' cursors into cur (" rs-tcp=N rs-tls=N
# hec=N"); cursors_reach SEQ: until all are SEQ (5 s at most).
cursors() {
	local s
	cur=
	for s in rs-tcp rs-tls hec; do
		cur="$cur $s=$(metric rotad_sink_cursor $s)"
	done
}
cursors_reach() {
	local i
	for i in $(seq 1 50); do
		cursors
		[ "$cur" = " rs-tcp=$1 rs-tls=$1 hec=$1" ] && return 0
		sleep 0.1
	done
	return 1
}

# ---- certificates: a CA, the receivers' certificate (IP 127.0.0.1 and
# localhost), a client certificate, and another CA with a server
# certificate of its own.  Keys 0600, all in the 0700 $T.
mkpki() {
	local ec=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
	ca() { # NAME CN
		openssl req -x509 "${ec[@]}" -keyout "$T/$1.key" -out "$T/$1.pem" \
		    -days 2 -subj "/CN=$2" \
		    -addext basicConstraints=critical,CA:TRUE \
		    -addext keyUsage=critical,keyCertSign,cRLSign
	}
	leaf() { # NAME CN CA EXTENSIONS
		openssl req -new "${ec[@]}" -keyout "$T/$1.key" -out "$T/$1.csr" \
		    -subj "/CN=$2" &&
		    printf '%b\n' "basicConstraints=CA:FALSE" \
			"keyUsage=critical,digitalSignature,keyEncipherment" \
			"$4" >"$T/$1.ext" &&
		    openssl x509 -req -in "$T/$1.csr" -CA "$T/$3.pem" \
			-CAkey "$T/$3.key" -days 2 -extfile "$T/$1.ext" \
			-set_serial "0x$(openssl rand -hex 8)" -out "$T/$1.pem"
	}
	local san="subjectAltName=DNS:localhost,IP:127.0.0.1"
	ca ca "rotad test CA" && ca otherca "rotad other CA" &&
	    leaf server localhost ca "$san\nextendedKeyUsage=serverAuth" &&
	    leaf otherserver localhost otherca \
		"$san\nextendedKeyUsage=serverAuth" &&
	    leaf client rotad-client ca "extendedKeyUsage=clientAuth" &&
	    rm -f "$T"/*.csr "$T"/*.ext && chmod 600 "$T"/*.key
}

# ---- rsyslog: one process, a ruleset per input, each to its own file.
# No control character escaping (LEEF's tabs stay tabs), one worker (the
# files keep the order of arrival), the raw message of each frame.
rsyslog_conf() {
	local tls="streamDriver.name=\"$drv\" streamDriver.mode=\"1\""
	cat >"$T/rsyslog.conf" <<EOF
global(workDirectory="$T/rsyslog" maxMessageSize="64k"
       parser.escapeControlCharactersOnReceive="off"
       defaultNetstreamDriverCAFile="$T/ca.pem"
       defaultNetstreamDriverCertFile="$T/server.pem"
       defaultNetstreamDriverKeyFile="$T/server.key")
main_queue(queue.workerThreads="1")
module(load="imudp")
module(load="imtcp" maxSessions="64")
module(load="mmpstrucdata")
template(name="sdjson" type="string"
  string="{\"pri\":%pri%,\"ts\":\"%timereported:::date-rfc3339%\",\"hostname\":\"%hostname:::json%\",\"app\":\"%app-name:::json%\",\"msgid\":\"%msgid:::json%\",\"msg\":\"%msg:::json%\",\"sd\":%\$!%,\"raw\":\"%rawmsg:::json%\"}\n")
template(name="rawjson" type="string" string="{\"raw\":\"%rawmsg:::json%\"}\n")
ruleset(name="udp") {
	action(type="mmpstrucdata")
	action(type="omfile" file="$T/udp.json" template="sdjson")
}
ruleset(name="tcp") { action(type="omfile" file="$T/tcp.json" template="rawjson") }
ruleset(name="tls") { action(type="omfile" file="$T/tls.json" template="rawjson") }
ruleset(name="badca") { action(type="omfile" file="$T/badca.json" template="rawjson") }
ruleset(name="badname") { action(type="omfile" file="$T/badname.json" template="rawjson") }
input(type="imudp" address="127.0.0.1" port="$PU" ruleset="udp")
input(type="imtcp" address="127.0.0.1" port="$PT" ruleset="tcp")
# The client must present a certificate the CA signed.
input(type="imtcp" address="127.0.0.1" port="$PS" ruleset="tls" $tls
      streamDriver.authMode="x509/certvalid")
input(type="imtcp" address="127.0.0.1" port="$PN" ruleset="badname" $tls
      streamDriver.authMode="x509/certvalid")
# A server whose certificate another CA signed.
input(type="imtcp" address="127.0.0.1" port="$PC" ruleset="badca" $tls
      streamDriver.authMode="anon" streamDriver.CAFile="$T/otherca.pem"
      streamDriver.CertFile="$T/otherserver.pem"
      streamDriver.KeyFile="$T/otherserver.key")
EOF
	mkdir -p "$T/rsyslog"
}

# stop_pid VAR: SIGTERM the process whose PID VAR holds, reap it, and
# empty VAR.
stop_pid() {
	local pid=${!1}
	if [ -n "$pid" ]; then
		kill -TERM "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
		printf -v "$1" '%s' ""
	fi
}
# wait_up PID COMMAND...: until COMMAND succeeds (10 s at most); 1 at
# once if PID is gone.
wait_up() {
	local pid=$1 i
	shift
	for i in $(seq 1 100); do
		"$@" && return 0
		kill -0 "$pid" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}

# rsyslog_start: running and listening on every port.
rsyslog_listens() {
	[ "$(ss -Hltn "( sport = :$PT or sport = :$PS or sport = :$PC or sport = :$PN )" |
	    wc -l)" -eq 4 ] && [ -n "$(ss -Hlun "sport = :$PU")" ]
}
rsyslog_start() {
	rsyslogd -n -f "$T/rsyslog.conf" -i "$T/rsyslog.pid" \
	    2>>"$T/rsyslog.err" &
	RPID=$!
	wait_up "$RPID" rsyslog_listens
}

# https_start: the HTTPS receiver, listening.
https_start() {
	rm -f "$T/https.ready"
	"$PY" "$LIB/https_sink.py" --port "$PH" --cert "$T/server.pem" \
	    --key "$T/server.key" --log "$T/https.log" --down "$T/down" \
	    --ready "$T/https.ready" 2>>"$T/https.err" &
	HPID=$!
	wait_up "$HPID" test -f "$T/https.ready"
}

# selftest_frames: one octet-counted frame over TCP, one over TLS with
# the client certificate; a TLS client without one must be refused.
selftest_frames() {
	"$PY" - "$PT" "$PS" "$T" <<'EOF'
import socket, ssl, sys, time
pt, ps, t = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
def frame(m):
    return b"%d %s" % (len(m), m)
with socket.create_connection(("127.0.0.1", pt)) as s:
    s.sendall(frame(b"rotad-selftest tcp") + frame(b"rotad-selftest tcp 2"))
ctx = ssl.create_default_context(cafile=t + "/ca.pem")
ctx.load_cert_chain(t + "/client.pem", t + "/client.key")
with ctx.wrap_socket(socket.create_connection(("127.0.0.1", ps)),
                     server_hostname="localhost") as s:
    s.sendall(frame(b"rotad-selftest tls"))
    time.sleep(0.2)
bare = ssl.create_default_context(cafile=t + "/ca.pem")
try:
    with bare.wrap_socket(socket.create_connection(("127.0.0.1", ps)),
                          server_hostname="localhost") as s:
        s.sendall(frame(b"rotad-selftest tls without a certificate"))
        time.sleep(0.3)
        s.sendall(frame(b"rotad-selftest tls without a certificate"))
        if s.recv(1) != b"":
            sys.exit("rsyslog talked to a client without a certificate")
except (ssl.SSLError, OSError):
    pass
EOF
}

# wait_file FILE PATTERN: a line of FILE holds PATTERN (5 s at most).
wait_file() {
	local i
	for i in $(seq 1 50); do
		grep -qF -- "$2" "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

# checks NAME...: each of tcp, tls, hec, chat, udp, held against the
# spool by sink_check.py with the range in NEED (FROM or FROM:TO); its
# status in ST_name, its line in OUT_name.  CHATX=1 asks exactly one
# POST per chat event, MINB=N a HEC POST of N events at least.
NEED= CHATX= MINB=
check_one() {
	case $1 in
	tcp) "$PY" "$LIB/sink_check.py" cef "$T/tcp.json" "$T/spool.jsonl" \
	    --need "$NEED" ;;
	tls) "$PY" "$LIB/sink_check.py" leef "$T/tls.json" "$T/spool.jsonl" \
	    --need "$NEED" ;;
	hec) "$PY" "$LIB/sink_check.py" hec "$T/https.log" "$T/spool.jsonl" \
	    --need "$NEED" --token "$(cat "$T/hec.token")" \
	    --path /services/collector/event ${MINB:+--min-batch "$MINB"} ;;
	chat) "$PY" "$LIB/sink_check.py" chat "$T/https.log" \
	    "$T/spool.jsonl" --need "$NEED" --path /hook --names "$FAILS" \
	    ${CHATX:+--exact} ;;
	udp) "$PY" "$LIB/sink_check.py" rfc5424 "$T/udp.json" \
	    "$T/spool.jsonl" ${NEED:+--need "$NEED"} --facility 19 \
	    --sd-id rotadtest@32473 ;;
	esac
}
# wait_sinks SECONDS NAME...: run the checks until each is complete (0)
# or wrong (1), or SECONDS pass (then 2: incomplete).
wait_sinks() {
	local end=$((SECONDS + $1)) s pending
	shift
	while :; do
		spool
		pending=
		for s in "$@"; do
			eval "OUT_$s=\$(check_one $s 2>&1); ST_$s=\$?"
			eval "[ \"\$ST_$s\" -eq 2 ]" && pending=1
		done
		[ -z "$pending" ] || [ "$SECONDS" -ge "$end" ] && return
		sleep 1
	done
}
FAILS=record_rotation_on_demand_fail,record_rotation_scheduled_fail,rotation_out_of_sync

# rot USER ok|fail: rotate USER and wait; its outcome must be the one
# asked.  A committed user's new secret goes to secrets (for the scan).
rot() {
	local out st
	out=$(ctl rotate --wait "$1" 2>&1)
	st=$?
	if [ "$2" = ok ]; then
		[ "$st" -eq 0 ] || { echo "rotate $1: $out"; return 1; }
		ctl secret get "$1" >>"$T/secrets" && echo >>"$T/secrets"
	else
		[ "$st" -ne 0 ] || { echo "rotate $1 succeeded: $out"; return 1; }
	fi
}

# daemon_stop: SIGTERM and wait, 30 s at most; 0 when it exited 0.
daemon_stop() {
	local i
	kill -TERM "$DPID"
	for i in $(seq 1 300); do
		kill -0 "$DPID" 2>/dev/null || break
		sleep 0.1
	done
	kill -0 "$DPID" 2>/dev/null && return 1
	wait "$DPID"
	DSTATUS=$?
	DPID=
	[ "$DSTATUS" -eq 0 ]
}

# ---- the receivers, on their own ----

read -r PU PT PS PH PC PN <<<"$("$PY" -c 'import socket
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.bind(("127.0.0.1", 0))
ss = [socket.socket() for _ in range(5)]
for s in ss: s.bind(("127.0.0.1", 0))
print(u.getsockname()[1], *[s.getsockname()[1] for s in ss])')"
out=$(mkpki 2>&1)
st=$?
[ "$st" -eq 0 ] && rsyslog_conf && out=$(rsyslogd -N1 -f "$T/rsyslog.conf" 2>&1) &&
    rsyslog_start
verdict "rsyslog ($drv) listens: UDP $PU, TCP $PT, TLS $PS (and $PC, $PN)" \
    $? "$out" "$(tail -n 5 "$T/rsyslog.err" 2>/dev/null)"

out=$(selftest_frames 2>&1) &&
    wait_file "$T/tcp.json" "rotad-selftest tcp 2" &&
    wait_file "$T/tls.json" "rotad-selftest tls"
st=$?
! grep -q "without a certificate" "$T/tls.json" 2>/dev/null
verdict "rsyslog takes octet-counted frames over TCP and over TLS (only with a client certificate)" \
    $((st || $?)) "$out" "$(cat "$T/tcp.json" "$T/tls.json" 2>&1)" \
    "$(tail -n 5 "$T/rsyslog.err" 2>/dev/null)"

https_start
st=$?
c() {
	curl -sS -o /dev/null -w '%{http_code}' --cacert "$T/ca.pem" \
	    --data-binary rotad-selftest "https://127.0.0.1:$PH/selftest"
}
up=$(c 2>&1)
touch "$T/down"
down=$(c 2>&1)
rm -f "$T/down"
[ "$st" -eq 0 ] && [ "$up" = 200 ] && [ "$down" = 503 ] &&
    grep -q '"path": "/selftest"' "$T/https.log"
verdict "the HTTPS receiver answers over TLS: 200, or 503 while down" $? \
    "up: $up, down: $down" "$(tail -n 5 "$T/https.err" 2>/dev/null)"

# The parsers this test judges by, on the examples of docs/events.md
# (which test_events keeps equal to what the code writes).
out=$("$PY" "$LIB/sink_check.py" selftest "$HERE/../../docs/events.md" 2>&1)
verdict "the test's CEF, LEEF, RFC 5424 and HEC parsers read every example of docs/events.md ($out)" \
    $? "$out"

if [ ! -x "$DELIVER" ]; then
	for i in $(seq 5 26); do
		ok "network sinks # SKIP $DELIVER not built"
	done
	exit 0
fi

# ---- the daemon ----

mkdir -p "$T/conf.d"
WU=rotad-test-worker
getent passwd "$WU" >/dev/null ||
    useradd --system --no-create-home --shell /usr/sbin/nologin "$WU"
for u in app bad svc; do
	printf 'first-secret-of-%s-Rm4q%s\n' "$u" "$RANDOM" >"$T/$u.pw"
	cat "$T/$u.pw" >>"$T/secrets"
done
chmod 600 "$T"/*.pw
"$PY" -c 'import secrets; print("hec-" + secrets.token_hex(20))' \
    >"$T/hec.token"
chmod 600 "$T/hec.token"
cat "$T/hec.token" >>"$T/secrets"
# The client key's base64 lines: not one may be received anywhere.
grep -v -- '-----' "$T/client.key" >>"$T/secrets"

tlsc="ca_file: $T/ca.pem, cert_file: $T/client.pem, key_file: $T/client.key"
cat >"$T/rotad.yaml" <<EOF
store: {path: $T/rotad.db, key_file: $T/master.key}
control: {socket: $T/rotad.sock}
worker: {path: $B/rotad-worker, user: $WU}
events:
  delivery_path: $DELIVER
  sinks:
    - name: rs-udp
      type: udp
      host: 127.0.0.1
      port: $PU
      format: rfc5424
      facility: local3
      sd_id: rotadtest@32473
    - {name: rs-tcp, type: tcp, host: 127.0.0.1, port: $PT, format: cef}
    - name: rs-tls
      type: tls
      host: 127.0.0.1
      port: $PS
      format: leef
      ca_file: $T/ca.pem
      cert_file: $T/client.pem
      key_file: $T/client.key
      server_name: localhost
    # As rs-tls, but the server's certificate is another CA's; and a
    # server_name the certificate does not carry.
    - {name: rs-badca, type: tls, host: 127.0.0.1, port: $PC, $tlsc,
       format: leef, timeout: 5}
    - {name: rs-badname, type: tls, host: 127.0.0.1, port: $PN, $tlsc,
       format: leef, server_name: wrong.example}
    - name: hec
      type: http
      url: https://127.0.0.1:$PH/services/collector/event
      ca_file: $T/ca.pem
      token_file: $T/hec.token
      format: hec
    - name: chat
      type: http
      url: https://127.0.0.1:$PH/hook
      ca_file: $T/ca.pem
      format: slack
      filter: {events: [record_rotation_on_demand_fail, record_rotation_scheduled_fail, rotation_out_of_sync]}
EOF
cat >"$T/conf.d/users.yaml" <<EOF
resources:
  box: {kind: machine, protocol: test}
  flaky: {kind: machine, protocol: test, test_fail: 999, test_error: fatal}
users:
  app: {login: app, resource: box, password_file: $T/app.pw}
  bad: {login: bad, resource: flaky, password_file: $T/bad.pw}
  svc: {login: svc, resource: box, password_file: $T/svc.pw}
EOF

rotad_start "$T/rotad.yaml" "$T/rotad.log"
verdict "rotad takes the network sinks (rotad -n, --init, start)" $? \
    "$ROTAD_OUT" "$(dtail)"
S0=$(last_seq)

out=$(rot app ok && rot bad fail && rot svc ok && rot bad fail) &&
    [ -n "$S0" ] && S1=$(last_seq) && [ "$S1" -gt "$S0" ]
verdict "rotations flow: two commit, two fail (events $S0 to ${S1:-?})" $? \
    "$out" "$(dtail)"
S1=${S1:-$S0}

# ---- everything up: what arrives, and how it parses ----

NEED=$S0:$S1 CHATX=1
wait_sinks 30 tcp tls hec chat
verdict "TCP, CEF: every event, field by field, seq without a gap ($OUT_tcp)" \
    "$ST_tcp" "$OUT_tcp" "$(dtail)"
verdict "TLS with a client certificate, LEEF 2.0: every event, seq without a gap ($OUT_tls)" \
    "$ST_tls" "$OUT_tls" "$(dtail)"
verdict "HTTPS, Splunk HEC with 'Authorization: Splunk <token>': every event ($OUT_hec)" \
    "$ST_hec" "$OUT_hec" "$(dtail)"
verdict "HTTPS, chat webhook: one {\"text\"} POST per failure, nothing else ($OUT_chat)" \
    "$ST_chat" "$OUT_chat" "$(dtail)"
wait_sinks 10 udp
verdict "UDP, RFC 5424: rsyslog parses each (mmpstrucdata: SD seq, user, run_id ...), all of a quiet run ($OUT_udp)" \
    "$ST_udp" "$OUT_udp" "$(dtail)"

# The cursor follows: the daemon has the deliveries acknowledged.
cursors_reach "$S1"
verdict "metrics: the reliable sinks' cursors reach the spool's last ($S1)" $? \
    "got:$cur" "$(ctl metrics 2>&1 | grep sink)"

for s in badca badname; do
	what="another CA signed"
	[ $s = badname ] && what="of another name (server_name)"
	for i in $(seq 1 100); do
		dl=$(metric rotad_sink_events_total "rs-$s" delivered)
		fl=$(metric rotad_sink_events_total "rs-$s" failed)
		[ "${fl:-0}" -gt 0 ] && break
		sleep 0.1
	done
	[ "$dl" = 0 ] && [ "${fl:-0}" -gt 0 ] && [ ! -s "$T/$s.json" ]
	verdict "TLS to a server $what: nothing delivered, failures counted" \
	    $? "delivered=$dl failed=$fl" \
	    "$(head -c 300 "$T/$s.json" 2>/dev/null)" \
	    "$(ctl metrics 2>&1 | grep "rs-$s")"
done

# ---- receivers down, the daemon restarted meanwhile ----

stop_pid RPID
touch "$T/down"
out=$(rot app ok && rot bad fail) && Sd=$(last_seq)
verdict "with the receivers down, runs go on (events to ${Sd:-?})" $? "$out"
# The sinks try, and keep their cursors.
n503=0
for i in $(seq 1 50); do
	n503=$(grep -c '"status": 503' "$T/https.log")
	[ "$n503" -gt 1 ] && break
	sleep 0.1
done
cursors
[ "$n503" -gt 1 ] && [ "$cur" = " rs-tcp=$S1 rs-tls=$S1 hec=$S1" ]
verdict "... the sinks retry (HTTPS answered 503 $((n503 - 1)) times) and keep their cursors at $S1" \
    $? "cursors:$cur" "$(ctl metrics 2>&1 | grep -E 'rs-tcp|rs-tls|hec')"

daemon_stop
st=$?
[ "$st" -eq 0 ] || rotad_kill
rotad_run "$T/rotad.yaml" "$T/rotad.log" &&
    out=$(rot svc ok && rot bad fail) && S2=$(last_seq) &&
    [ "$S2" -gt "${Sd:-0}" ]
verdict "rotad stops (SIGTERM, exit ${DSTATUS:-?}) and starts again; more events (to ${S2:-?})" \
    $((st || $?)) "$out" "$(dtail)"
S2=${S2:-$S1}

# ---- receivers back: every event arrives ----

rsyslog_start
st=$?
rm -f "$T/down"
[ "$st" -eq 0 ]
verdict "rsyslog starts again, the HTTPS receiver answers 200 again" $? \
    "$(tail -n 5 "$T/rsyslog.err")"
t0=$SECONDS
NEED=$S0 CHATX= MINB=2
wait_sinks 90 tcp tls hec chat
took=$((SECONDS - t0))
echo "# caught up in ${took} s (sinks back off up to 60 s)"
verdict "TCP: every event of both lives arrived, in order, no gap ($OUT_tcp)" \
    "$ST_tcp" "$OUT_tcp" "$(dtail)"
verdict "TLS: every event arrived, in order, no gap ($OUT_tls)" \
    "$ST_tls" "$OUT_tls" "$(dtail)"
verdict "HEC: every event arrived, in order, no gap; the backlog in batches ($OUT_hec)" \
    "$ST_hec" "$OUT_hec" "$(dtail)"
verdict "chat: every failure arrived ($OUT_chat)" "$ST_chat" "$OUT_chat" \
    "$(dtail)"
NEED=
wait_sinks 1 udp
verdict "UDP: what arrived parses ($OUT_udp)" "$ST_udp" "$OUT_udp"
nm=$("$PY" -c 'import json,sys
print(" ".join(json.loads(l)["name"] for l in open(sys.argv[1])
               if json.loads(l)["seq"] > int(sys.argv[2])))' \
    "$T/spool.jsonl" "$S1")
case " $nm " in
*" daemon_stopping "*"daemon_started "*) st=0 ;;
*) st=1 ;;
esac
verdict "... the restart's daemon_stopping and daemon_started among them" \
    $st "$nm"

cursors_reach "$S2"
verdict "metrics: the cursors reach the spool's last again ($S2)" $? \
    "got:$cur" "$(ctl metrics 2>&1 | grep sink)"

# ---- no secret anywhere: not in any frame or request (the HEC token
# but in the hec requests' Authorization), nor in rotad's stderr.  Each
# format escapes in its own way, so the search is on the decoded strings
# and on the raw text, with and without backslashes.
out=$("$PY" - "$T" <<'EOF'
import json, sys
t = sys.argv[1]
def strings(j):
    if isinstance(j, dict):
        for v in j.values():
            yield from strings(v)
    elif isinstance(j, list):
        for v in j:
            yield from strings(v)
    elif isinstance(j, str):
        yield j
secrets = [s for s in open(t + "/secrets").read().splitlines() if len(s) >= 8]
texts = {}
for f in ("udp.json", "tcp.json", "tls.json", "badca.json", "badname.json",
          "https.log", "rotad.log"):
    try:
        raw = open(t + "/" + f, encoding="utf-8", errors="replace").read()
    except FileNotFoundError:
        continue
    parts = []
    for line in raw.splitlines():
        try:
            j = json.loads(line)
        except ValueError:
            parts.append(line)
            continue
        if f == "https.log":
            if j.get("path") == "/services/collector/event":
                j["headers"].pop("authorization", None)
        else:
            parts.append(line)
        parts.extend(strings(j))
    x = "\n".join(parts)
    texts[f] = x + "\n" + x.replace("\\", "")
print(len(secrets), "secrets,", len(texts), "files")
bad = [(f, s[:6] + "...") for s in secrets for f, x in texts.items()
       if s in x or s.replace("\\", "") in x]
if bad:
    sys.exit("found: %r" % bad)
EOF
)
verdict "no secret of the runs, no token, no client key in anything received ($out)" \
    $? "$out"
[ "$n" -eq 26 ] || echo "# planned 26 tests, ran $n"
[ "$failed" -eq 0 ]
