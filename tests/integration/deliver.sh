#!/bin/bash
# rotad-deliver, the network side of the event sinks, driven directly as
# the daemon drives it (tests/lib/deliver.py speaks its protocol) against
# real receivers on 127.0.0.1: rsyslog with imudp, imtcp and imtcp over
# TLS (the ossl or gtls netstream driver), certificates made here with
# openssl; an HTTPS receiver (Python's http.server over ssl) that records
# every request, answering 200, or 500 on /fail; a raw TLS receiver that
# requires a client certificate.  Frames arrive intact over UDP, TCP
# (octet counting, parsed by rsyslog) and TLS; a certificate of another
# CA, a wrong host name and an unknown CA are refused; HTTPS batches are
# one POST, or one per frame, with the Authorization header; a 500 stops
# the batch; rsyslog stopped then started again loses nothing (done 0
# while it is down, the next batch reconnects); a replaced or dropped
# sink answers its batch in flight; a silent TLS peer holds up no other
# sink; the process runs as --user (root only), refuses to run as
# another user without the right to switch, exits 1 on a malformed
# message and 0 at EOF, exits 3 once idle when a library it runs was
# replaced on disk, and never logs a secret or an event.
#   tests/integration/deliver.sh BUILDDIR          Speaks TAP.
set -u
B=$(realpath "$1")
HERE=$(dirname "$(realpath "$0")")
export LIBDIR=$HERE/../lib
T=$(mktemp -d /tmp/rotad-deliver.XXXXXX)
export T
# Cases run it as nobody and as daemon, who may not reach a build
# directory (a clone in a 0700 directory): a copy they can run.
chmod 711 "$T"
mkdir -m 755 "$T/bin"
cp "$B/deliver/rotad-deliver" "$T/bin/"
export DELIVER=$T/bin/rotad-deliver
. "$HERE/lib/tap.sh"

# Every receiver writes its pid to $T/*.pid; the trap ends each by PID.
stop_pidfile() {
	local pid
	[ -f "$1" ] || return 0
	pid=$(cat "$1" 2>/dev/null)
	rm -f "$1"
	[ -n "$pid" ] || return 0
	kill -TERM "$pid" 2>/dev/null
	for _ in $(seq 1 50); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null
}
cleanup() {
	local f
	for f in "$T"/*.pid; do
		stop_pidfile "$f"
	done
	rm -rf "$T"
}
trap cleanup EXIT

if [ ! -x "$DELIVER" ]; then
	echo "1..0 # SKIP rotad-deliver is not built"
	exit 0
fi
for tool in rsyslogd openssl python3; do
	if ! command -v "$tool" >/dev/null; then
		echo "1..0 # SKIP $tool is not installed"
		exit 0
	fi
done
echo "1..21"

# The service user: nobody as root; as anyone else, that one (no switch).
if [ "$(id -u)" -eq 0 ]; then
	export DUSER=nobody
else
	export DUSER=$(id -un)
fi

free_port() { # tcp|udp
	python3 -c 'import socket,sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM if sys.argv[1] == "udp" else socket.SOCK_STREAM)
s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' "$1"
}
export UDP_PORT=$(free_port udp) TCP_PORT=$(free_port tcp)
export TLS_PORT=$(free_port tcp) HTTPS_PORT=$(free_port tcp)
export CTLS_PORT=$(free_port tcp) SILENT_PORT=$(free_port tcp)

# ---- certificates: a CA, its server and client, and a rogue CA ----
cd "$T" || exit 1
mkcert() { # name cn san issuer
	openssl req -newkey rsa:2048 -nodes -keyout "$1.key" -out "$1.csr" \
	    -subj "/CN=$2" 2>/dev/null &&
	    printf 'subjectAltName=%s\n' "$3" >"$1.ext" &&
	    openssl x509 -req -in "$1.csr" -CA "$4.pem" -CAkey "$4.key" \
		-CAcreateserial -out "$1.pem" -days 2 -extfile "$1.ext" \
		2>/dev/null
}
openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem \
    -days 2 -subj "/CN=rotad test CA" 2>/dev/null &&
    openssl req -x509 -newkey rsa:2048 -nodes -keyout rogue.key \
	-out rogue.pem -days 2 -subj "/CN=rogue CA" 2>/dev/null &&
    mkcert server localhost "DNS:localhost,IP:127.0.0.1" ca &&
    mkcert client rotad-deliver-client "DNS:client.example" ca &&
    mkcert rogueserver localhost "DNS:localhost,IP:127.0.0.1" rogue
verdict "certificates made with openssl" $?
cd - >/dev/null || exit 1

# ---- rsyslog: UDP, TCP and TLS inputs into one file ----
driver=ossl
[ -e /usr/lib/x86_64-linux-gnu/rsyslog/lmnsd_ossl.so ] ||
    [ -e /usr/lib/rsyslog/lmnsd_ossl.so ] || driver=gtls
mkdir -p "$T/work"
cat >"$T/rsyslog.conf" <<EOF
global(workDirectory="$T/work"
       DefaultNetstreamDriverCAFile="$T/ca.pem"
       DefaultNetstreamDriverCertFile="$T/server.pem"
       DefaultNetstreamDriverKeyFile="$T/server.key")
module(load="imudp")
module(load="imtcp")
input(type="imudp" address="127.0.0.1" port="$UDP_PORT" RateLimit.Interval="0")
input(type="imtcp" address="127.0.0.1" port="$TCP_PORT")
input(type="imtcp" address="127.0.0.1" port="$TLS_PORT"
      streamDriver.name="$driver" streamDriver.mode="1"
      streamDriver.authMode="anon")
action(type="omfile" file="$T/received.log"
       template="RSYSLOG_SyslogProtocol23Format")
EOF
# The restart case runs this again, from Python.
cat >"$T/start-rsyslog" <<EOF
#!/bin/sh
rsyslogd -n -f "$T/rsyslog.conf" -i "$T/rsyslogd.run" \
    </dev/null >/dev/null 2>>"$T/rsyslog.err" &
echo \$! >"$T/rsyslog.pid"
EOF
chmod +x "$T/start-rsyslog"
"$T/start-rsyslog"

# ---- the HTTPS receiver, and the raw TLS one (client certificate) ----
cat >"$T/receivers.py" <<'EOF'
import http.server, json, os, socket, ssl, sys, threading

T = os.environ["T"]

def context(client_cert):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(T + "/server.pem", T + "/server.key")
    ctx.load_verify_locations(T + "/ca.pem")
    ctx.verify_mode = ssl.CERT_REQUIRED if client_cert else \
        ssl.CERT_OPTIONAL
    return ctx

def peer_cn(sock):
    cert = sock.getpeercert()
    if not cert:
        return None
    for rdn in cert["subject"]:
        for k, v in rdn:
            if k == "commonName":
                return v
    return None

class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        rec = {"path": self.path, "headers": dict(self.headers.items()),
               "body": body.decode("utf-8", "replace"),
               "client": peer_cn(self.connection)}
        with open(T + "/https.log", "a") as f:
            f.write(json.dumps(rec) + "\n")
        code = 500 if self.path.startswith("/fail") else 200
        self.send_response(code)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass

def raw_tls(port):
    ctx = context(True)
    srv = socket.create_server(("127.0.0.1", port))
    while True:
        conn, _ = srv.accept()
        try:
            s = ctx.wrap_socket(conn, server_side=True)
            cn = peer_cn(s)
            data = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
                with open(T + "/ctls.log", "a") as f:
                    f.write(json.dumps({"client": cn, "data":
                                        data.decode("utf-8", "replace")})
                            + "\n")
                data = b""
        except (ssl.SSLError, OSError):
            pass

srv = http.server.ThreadingHTTPServer(
    ("127.0.0.1", int(os.environ["HTTPS_PORT"])), Handler)
srv.socket = context(False).wrap_socket(srv.socket, server_side=True)
threading.Thread(target=raw_tls, args=(int(os.environ["CTLS_PORT"]),),
                 daemon=True).start()
# A peer that accepts connections and never speaks (its backlog does).
silent = socket.create_server(("127.0.0.1", int(os.environ["SILENT_PORT"])))
srv.serve_forever()
EOF
python3 "$T/receivers.py" </dev/null >/dev/null 2>>"$T/receivers.err" &
echo $! >"$T/receivers.pid"

# wait_port PORT: something listens on 127.0.0.1:PORT (10 s at most).
wait_port() {
	python3 - "$1" <<'EOF'
import socket, sys, time
for _ in range(100):
    try:
        socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1).close()
        sys.exit(0)
    except OSError:
        time.sleep(0.1)
sys.exit(1)
EOF
}
wait_port "$TCP_PORT" && wait_port "$HTTPS_PORT" && wait_port "$CTLS_PORT"
verdict "rsyslog ($driver TLS) and the HTTPS receiver listen" $? \
    "$(cat "$T/rsyslog.err" "$T/receivers.err" 2>/dev/null)"

# ---- the cases: tests/lib/deliver.py drives rotad-deliver ----
cat >"$T/drive.py" <<'EOF'
import json, os, pwd, shutil, socket, subprocess, sys, time
sys.path.insert(0, os.environ["LIBDIR"])
import deliver

T = os.environ["T"]
PORT = {k: int(os.environ[k.upper() + "_PORT"])
        for k in ("udp", "tcp", "tls", "https", "ctls", "silent")}
CA = open(T + "/ca.pem").read()
ROGUE = open(T + "/rogue.pem").read()
AUTH = b"Splunk 5f3c-secret-token-77aa"
STDERR = open(T + "/deliver.err", "ab")


def start(user=None, preexec_fn=None):
    return deliver.Deliver(os.environ["DELIVER"],
                           ["--user", user or os.environ["DUSER"]],
                           stderr=STDERR, preexec_fn=preexec_fn)


def sink(d, name, kind, **kw):
    m = {"type": "sink", "name": name, "kind": kind, "timeout_ms": 5000}
    if kind != "http":
        m["host"] = "127.0.0.1"
        m["port"] = PORT["tls" if kind == "tls" else kind]
    m.update(kw)
    d.send(m)


def frames(tag, n):
    # RFC 5424, each with a marker to look for at the receiver.
    return [("<14>1 2026-12-06T10:00:00Z testhost rotad - test - "
             "%s-%d %s" % (tag, i, "x y \u00e9" * (i + 1))).encode()
            for i in range(n)]


def received(marker, n, path=None, timeout=10):
    """The lines of rsyslog's file (or PATH) holding MARKER, once N."""
    path = path or T + "/received.log"
    end = time.time() + timeout
    while True:
        try:
            lines = [l for l in open(path, encoding="utf-8",
                                     errors="replace")
                     if marker in l]
        except FileNotFoundError:
            lines = []
        if len(lines) >= n or time.time() > end:
            return lines
        time.sleep(0.1)


def https_records(path):
    try:
        return [json.loads(l) for l in open(T + "/https.log")
                if json.loads(l)["path"] == path]
    except FileNotFoundError:
        return []


def expect(cond, what):
    if not cond:
        print(what)
        sys.exit(1)


def finish(d):
    st = d.close()
    expect(st == 0, "exit status at EOF %r" % st)


def case_udp():
    d = start()
    sink(d, "udp", "udp")
    fr = frames("udp", 3)
    r = d.batch("udp", fr)
    expect(r["done"] == 3 and "error" not in r, r)
    lines = received("udp-", 3)
    for f in fr:
        msg = f.decode().split(" - test - ")[1]
        expect(any(msg in l for l in lines), "missing %r in %r" %
               (msg, lines))
    # Nobody on the port: each ICMP "port unreachable" fails the next
    # send with ECONNREFUSED, which is retried once; best effort.
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    sink(d, "closed", "udp", port=closed)
    for _ in range(3):
        r = d.batch("closed", [b"a", b"b", b"c"])
        expect(r["done"] == 3 and "error" not in r, r)
    # Over the largest datagram: done 0 and why.
    r = d.batch("udp", [b"x" * 65536])
    expect(r["done"] == 0 and "too long" in r.get("error", ""), r)
    finish(d)


def case_stream(kind, host="127.0.0.1", **kw):
    d = start()
    sink(d, kind, kind, host=host, **kw)
    fr = frames(kind + host, 4)
    r = d.batch(kind, fr)
    expect(r["done"] == 4 and "error" not in r, r)
    lines = received(kind + host + "-", 4)
    for f in fr:
        msg = f.decode().split(" - test - ")[1]
        expect(sum(l.rstrip("\n").endswith(msg) for l in lines) == 1,
               "missing %r in %r" % (msg, lines))
    finish(d)


def refused(kw, want):
    d = start()
    sink(d, "t", "tls", **kw)
    r = d.batch("t", frames("never", 1))
    expect(r["done"] == 0 and want in r.get("error", ""), r)
    finish(d)


def case_client_cert():
    d = start()
    sink(d, "c", "tls", port=PORT["ctls"], host="localhost", ca_pem=CA,
         cert_pem=open(T + "/client.pem").read(),
         key_pem=open(T + "/client.key", "rb").read())
    r = d.batch("c", [b"one", b"two words"])
    expect(r["done"] == 2, r)
    time.sleep(0.5)
    recs = [json.loads(l) for l in open(T + "/ctls.log")]
    data = "".join(x["data"] for x in recs)
    expect(data == "3 one9 two words", data)
    expect(all(x["client"] == "rotad-deliver-client" for x in recs), recs)
    # Without the certificate the receiver hangs up during the handshake.
    sink(d, "n", "tls", port=PORT["ctls"], host="localhost", ca_pem=CA)
    r = d.batch("n", [b"three"])
    expect(r["done"] == 0 and r.get("error"), r)
    finish(d)


def url(path, host="localhost"):
    return "https://%s:%d%s" % (host, PORT["https"], path)


def case_https_batch():
    d = start()
    sink(d, "h", "http", url=url("/batch"), ca_pem=CA, auth=AUTH,
         http_batch=True)
    fr = [b'{"event":"a"}', b'{"event":"b"}', b'{"event":"c"}']
    r = d.batch("h", fr)
    expect(r["done"] == 3 and "error" not in r, r)
    recs = https_records("/batch")
    expect(len(recs) == 1, recs)
    expect(recs[0]["body"] == "\n".join(f.decode() for f in fr), recs)
    expect(recs[0]["headers"].get("Authorization") == AUTH.decode(), recs)
    expect(recs[0]["headers"].get("Content-Type") == "application/json",
           recs)
    finish(d)


def case_https_each():
    d = start()
    sink(d, "h", "http", url=url("/each", "127.0.0.1"),
         server_name="localhost", ca_pem=CA, auth=b"Bearer abc",
         content_type="text/plain; charset=utf-8",
         cert_pem=open(T + "/client.pem").read(),
         key_pem=open(T + "/client.key", "rb").read())
    fr = [b"first", b"second", b"third"]
    r = d.batch("h", fr)
    expect(r["done"] == 3 and "error" not in r, r)
    recs = https_records("/each")
    expect([x["body"] for x in recs] == ["first", "second", "third"], recs)
    expect(all(x["headers"].get("Content-Type") ==
               "text/plain; charset=utf-8" and
               x["headers"].get("Authorization") == "Bearer abc" and
               x["client"] == "rotad-deliver-client" for x in recs), recs)
    finish(d)


def case_https_500():
    d = start()
    sink(d, "h", "http", url=url("/fail"), ca_pem=CA, auth=AUTH)
    r = d.batch("h", [b"a", b"b"])
    expect(r["done"] == 0 and "HTTP 500" in r.get("error", ""), r)
    expect(len(https_records("/fail")) == 1, https_records("/fail"))
    sink(d, "hb", "http", url=url("/fail-batch"), ca_pem=CA,
         http_batch=True)
    r = d.batch("hb", [b"a", b"b"])
    expect(r["done"] == 0 and "HTTP 500" in r.get("error", ""), r)
    expect(AUTH.decode() not in r.get("error", ""), r)
    # A CA that did not sign the server's certificate.
    sink(d, "hr", "http", url=url("/never"), ca_pem=ROGUE)
    r = d.batch("hr", [b"a"])
    expect(r["done"] == 0 and r.get("error"), r)
    expect(https_records("/never") == [], "a request went through")
    finish(d)


def case_restart():
    d = start()
    sink(d, "t", "tcp")
    sink(d, "s", "tls", host="localhost", ca_pem=CA)
    for name in ("t", "s"):
        r = d.batch(name, frames("before-" + name, 1))
        expect(r["done"] == 1, r)
    pid = open(T + "/rsyslog.pid").read().strip()
    subprocess.run(["kill", "-TERM", pid])
    while subprocess.run(["kill", "-0", pid],
                         stderr=subprocess.DEVNULL).returncode == 0:
        time.sleep(0.1)
    time.sleep(0.5)  # the connections' end of file reaches us
    for name in ("t", "s"):
        r = d.batch(name, frames("down-" + name, 1))
        expect(r["done"] == 0 and "connect" in r.get("error", ""), r)
    subprocess.run([T + "/start-rsyslog"])
    for _ in range(100):
        r = subprocess.run(["python3", "-c", "import socket; "
                            "socket.create_connection(('127.0.0.1', %d), "
                            "1).close()" % PORT["tcp"]],
                           stderr=subprocess.DEVNULL)
        if r.returncode == 0:
            break
        time.sleep(0.1)
    for name in ("t", "s"):
        r = d.batch(name, frames("after-" + name, 2))
        expect(r["done"] == 2 and "error" not in r, r)
        expect(len(received("after-" + name + "-", 2)) == 2,
               "the frames after the restart did not arrive")
    finish(d)


def case_replace():
    d = start()
    # A TLS peer that never answers: the handshake waits.
    sink(d, "s", "tls", port=PORT["silent"], host="localhost", ca_pem=CA,
         timeout_ms=20000)
    tok = d.submit("s", [b"never"])
    # Another sink is not held up meanwhile.
    sink(d, "h", "http", url=url("/meanwhile"), ca_pem=CA)
    t0 = time.time()
    r = d.batch("h", [b"quick"], timeout=5)
    expect(r is not None and r["done"] == 1 and time.time() - t0 < 3, r)
    sink(d, "s", "udp")
    r = d.result(tok, timeout=5)
    expect(r is not None and r["done"] == 0 and r["error"] == "replaced", r)
    r = d.batch("s", frames("replaced", 1))
    expect(r["done"] == 1, r)
    sink(d, "x", "tls", port=PORT["silent"], host="localhost", ca_pem=CA,
         timeout_ms=20000)
    tok = d.submit("x", [b"never"])
    d.send({"type": "drop", "name": "x"})
    r = d.result(tok, timeout=5)
    expect(r is not None and r["done"] == 0 and r["error"] == "dropped", r)
    r = d.batch("x", [b"gone"])
    expect(r["error"] == "no such sink", r)
    # The timeout: a silent peer fails the batch in timeout_ms.
    sink(d, "y", "tls", port=PORT["silent"], host="localhost", ca_pem=CA,
         timeout_ms=300)
    t0 = time.time()
    r = d.batch("y", [b"never"], timeout=5)
    expect(r is not None and r["done"] == 0 and "timed out" in r["error"]
           and time.time() - t0 < 3, r)
    finish(d)


def case_ids():
    d = start("nobody")
    time.sleep(0.3)
    status = open("/proc/%d/status" % d.proc.pid).read()
    fields = dict(l.split(":", 1) for l in status.splitlines() if ":" in l)
    nobody = pwd.getpwnam("nobody")
    expect(fields["Uid"].split() == [str(nobody.pw_uid)] * 4, status)
    expect(fields["Gid"].split() == [str(nobody.pw_gid)] * 4, status)
    expect(fields["Groups"].strip() == "", status)
    expect(int(fields["CapEff"], 16) == 0 and int(fields["CapPrm"], 16) == 0
           and int(fields["CapBnd"], 16) == 0, status)
    expect(fields["NoNewPrivs"].strip() == "1", status)
    expect(fields["Seccomp"].strip() == "2", status)
    fds = os.listdir("/proc/%d/fd" % d.proc.pid)
    expect(sorted(fds)[:3] == ["0", "1", "2"], fds)
    sink(d, "u", "udp")
    expect(d.batch("u", frames("asnobody", 1))["done"] == 1, "no delivery")
    finish(d)


def case_no_switch():
    nobody = pwd.getpwnam("nobody")

    def become_nobody():
        os.setgroups([])
        os.setgid(nobody.pw_gid)
        os.setuid(nobody.pw_uid)
    # Not root, no CAP_SETUID: another user is refused...
    err = open(T + "/noswitch.err", "wb")
    d = deliver.Deliver(os.environ["DELIVER"], ["--user", "daemon"],
                        stderr=err, preexec_fn=become_nobody)
    st = d.proc.wait(10)
    d.sock.close()
    msg = open(T + "/noswitch.err").read()
    expect(st == 1 and "cannot switch to user daemon" in msg, (st, msg))
    # ...and the user it already is runs.
    d = deliver.Deliver(os.environ["DELIVER"], ["--user", "nobody"],
                        stderr=STDERR, preexec_fn=become_nobody)
    sink(d, "u", "udp")
    expect(d.batch("u", frames("already", 1))["done"] == 1, "no delivery")
    finish(d)


def case_caps():
    # A non-root daemon's rotad-deliver (the unit's ambient CAP_SETUID and
    # CAP_SETGID, passed on through the exec) switches, and keeps none.
    d = deliver.Deliver("/usr/bin/setpriv", [
        "--reuid=daemon", "--regid=daemon", "--clear-groups",
        "--inh-caps=+setuid,+setgid", "--ambient-caps=+setuid,+setgid",
        os.environ["DELIVER"], "--user", "nobody"], stderr=STDERR)
    sink(d, "u", "udp")
    expect(d.batch("u", frames("fromcaps", 1))["done"] == 1, "no delivery")
    status = open("/proc/%d/status" % d.proc.pid).read()
    fields = dict(l.split(":", 1) for l in status.splitlines() if ":" in l)
    nobody = pwd.getpwnam("nobody")
    expect(fields["Uid"].split() == [str(nobody.pw_uid)] * 4, status)
    expect(int(fields["CapEff"], 16) == 0 and int(fields["CapPrm"], 16) == 0
           and int(fields["CapAmb"], 16) == 0, status)
    finish(d)


def case_stale():
    # In a mount namespace of its own, where a copy of libcurl is
    # bind-mounted over the real file, rotad-deliver maps the copy.  While
    # nothing changes it goes on; once the copy is replaced as dpkg
    # replaces a library (the mount lifted, the copy unlinked), its next
    # batch is answered and it exits 3, saying so.
    real = os.environ["STALE_LIB"]
    copy = T + "/libcurl.copy"
    shutil.copy(real, copy)
    d = deliver.Deliver("/usr/bin/unshare", [
        "-m", "--propagation", "private", "--", "/usr/bin/sh", "-c",
        '/usr/bin/mount --bind "$1" "$2" && shift 2 && exec "$@"', "sh",
        copy, real, os.environ["DELIVER"], "--user", os.environ["DUSER"]],
        stderr=STDERR)
    sink(d, "u", "udp")
    expect(d.batch("u", frames("before", 1))["done"] == 1, "no delivery")
    ino = str(os.stat(copy).st_ino)
    maps = open("/proc/%d/maps" % d.proc.pid).read().splitlines()
    expect(any(l.split()[4] == ino and "x" in l.split()[1] for l in maps),
           "the copy is not mapped:\n" + "\n".join(maps))
    time.sleep(1.2)
    expect(d.batch("u", frames("still", 1))["done"] == 1, "no delivery")
    expect(d.proc.poll() is None, "it ended with nothing replaced")
    subprocess.run(["nsenter", "-t", str(d.proc.pid), "-m", "umount", "-l",
                    real], check=True)
    os.unlink(copy)
    time.sleep(1.2)
    r = d.batch("u", frames("stale", 2))
    expect(r["done"] == 2 and "error" not in r, r)
    received("stale-", 2)
    st = d.proc.wait(10)
    d.sock.close()
    expect(st == 3, "exit status %r" % st)
    STDERR.flush()
    text = open(T + "/deliver.err", encoding="utf-8",
                errors="replace").read()
    # The file's name as the kernel gives it: for this copy, on a mount
    # lifted from the tree, its own root ("/"); dpkg's replaced files
    # keep their paths (test_maps).
    expect("was replaced on disk since this process started" in text, text)


def case_malformed():
    d = start()
    sink(d, "u", "udp")
    d.send(deliver.encode_fields([(1, b"\0\0\0\3"), (2, b"u")]))
    st = d.proc.wait(10)
    d.sock.close()
    expect(st == 1, "exit status %r" % st)
    d = start()
    d.send(b"\xff\xff\xff\xff")
    st = d.proc.wait(10)
    d.sock.close()
    expect(st == 1, "exit status %r" % st)
    d = start()
    d.send(deliver.encode({"type": "result", "name": "u", "token": 1,
                           "done": 0}))
    st = d.proc.wait(10)
    d.sock.close()
    expect(st == 1, "exit status %r" % st)


def case_stderr():
    STDERR.flush()
    text = open(T + "/deliver.err", encoding="utf-8",
                errors="replace").read()
    secrets = [AUTH.decode(), "Bearer abc", "PRIVATE KEY",
               "x y \u00e9", "first", "quick", "two words"]
    for s in secrets:
        expect(s not in text, "%r in the log:\n%s" % (s, text))
    for line in text.splitlines():
        expect(line.startswith("rotad-deliver: "), "line %r" % line)
    expect("malformed message" in text, text)


CASES = {
    "udp": case_udp,
    "tcp": lambda: case_stream("tcp"),
    "tls-ip": lambda: case_stream("tls", ca_pem=CA),
    "tls-name": lambda: case_stream("tls", host="localhost", ca_pem=CA),
    "tls-rogue": lambda: refused({"ca_pem": ROGUE},
                                 "certificate verify failed"),
    "tls-system": lambda: refused({}, "certificate verify failed"),
    "tls-hostname": lambda: refused({"ca_pem": CA,
                                     "server_name": "wrong.example"},
                                    "hostname mismatch"),
    "tls-client": case_client_cert,
    "https-batch": case_https_batch,
    "https-each": case_https_each,
    "https-500": case_https_500,
    "restart": case_restart,
    "replace": case_replace,
    "ids": case_ids,
    "no-switch": case_no_switch,
    "caps": case_caps,
    "stale": case_stale,
    "malformed": case_malformed,
    "stderr": case_stderr,
}
CASES[sys.argv[1]]()
EOF

drive() { # name description
	local out
	out=$(timeout 120 python3 "$T/drive.py" "$1" 2>&1)
	verdict "$2" $? "$out"
}
drive udp "UDP: each frame a datagram, parsed by rsyslog; ECONNREFUSED retried"
drive tcp "TCP: octet-counted frames, parsed by rsyslog"
drive tls-ip "TLS to an IP address: the frames arrive"
drive tls-name "TLS to a host name (SNI): the frames arrive"
drive tls-rogue "TLS: a certificate the CA did not sign is refused"
drive tls-system "TLS without a CA: the system's store, which lacks ours"
drive tls-hostname "TLS: a wrong host name is refused"
drive tls-client "TLS with a client certificate from memory"
drive https-batch "HTTPS batch: one POST holding every frame, with auth"
drive https-each "HTTPS per frame: one POST each, in order (server_name, client cert)"
drive https-500 "HTTPS: 500 and an unknown CA give done 0 and an error"
drive restart "rsyslog stopped: done 0; started again: the next batch arrives"
drive replace "a replaced or dropped sink answers its batch; no sink waits on another"
if [ "$(id -u)" -eq 0 ]; then
	drive ids "as root with --user nobody: nobody, no capability, seccomp"
	drive no-switch "not root: refuses another user, runs as itself"
	drive caps "not root, with CAP_SETUID and CAP_SETGID: switches, keeps none"
	STALE_LIB=$(realpath "$(ldd "$DELIVER" | awk '$1 ~ /^libcurl/ { print $3 }')")
	export STALE_LIB
	drive stale "a library replaced on disk: the batch answered, then exit 3"
else
	ok "as root with --user nobody # SKIP not root"
	ok "not root: refuses another user # SKIP not root"
	ok "not root, with CAP_SETUID and CAP_SETGID # SKIP not root"
	ok "a library replaced on disk # SKIP not root"
fi
drive malformed "a malformed message, a bad length, a RESULT: exit 1"
drive stderr "the log: one prefixed line each, no secret, no event"
[ "$failed" -eq 0 ]
