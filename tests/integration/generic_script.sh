#!/bin/bash
# protocol: script, the generic rotation provider, end to end: the daemon
# rotates an account on a small HTTP service (started here on 127.0.0.1,
# standing in for a target rotad has no provider for) through the
# resource's rotate_script and verify_script, each run by a sandboxed
# worker with Keeper's input.  Checked against the service itself.
#
#   tests/integration/generic_script.sh BUILDDIR
set -u
B=$(realpath "$1")
ROTAD=$B/scheduler/rotad
ROTACTL=$B/ctl/rotactl
. "$(dirname "$(realpath "$0")")/lib/tap.sh"
T=$(mktemp -d /tmp/rotad-gscript.XXXXXX)
PID= SPID=
cleanup() {
	for p in $PID $SPID; do
		kill -KILL "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	rm -rf "$T"
}
trap cleanup EXIT
export ROTAD_SOCKET=$T/rotad.sock
ctl() { "$ROTACTL" "$@"; }
jlast() { tail -n 1 | jget "$1"; }
chmod 755 "$T"

# The target: one account, its password in memory.  POST /set {old, new}
# changes it when old is right; GET /login with basic auth says whether a
# password is right; POST /drop with N makes the next N /set answer 200 and
# change nothing (a target that lies).
cat >"$T/target.py" <<'EOF'
import base64, json, sys
from http.server import BaseHTTPRequestHandler, HTTPServer
state = {"pw": open(sys.argv[2]).read().rstrip("\n"), "drop": 0}
class H(BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass
    def reply(self, code):
        self.send_response(code)
        self.send_header("Content-Length", "0")
        self.end_headers()
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.path == "/drop":
            state["drop"] = int(body or b"1")
            return self.reply(200)
        d = json.loads(body or b"{}")
        if d.get("old") != state["pw"]:
            return self.reply(403)
        if state["drop"] > 0:
            state["drop"] -= 1
        else:
            state["pw"] = d["new"]
        self.reply(200)
    def do_GET(self):
        a = self.headers.get("Authorization", "")
        ok = a.startswith("Basic ") and \
            base64.b64decode(a[6:]).decode().split(":", 1)[1] == state["pw"]
        self.reply(200 if ok else 401)
s = HTTPServer(("127.0.0.1", 0), H)
open(sys.argv[1], "w").write(str(s.server_address[1]))
s.serve_forever()
EOF
# Keeper's input: the records carry the resource's host and port.  (Each
# script is self-contained: the worker may read the script it runs and
# nothing else of the test's directory.)
cat >"$T/common.py" <<'EOF'
import base64, json, sys, urllib.request, urllib.error
d = json.loads(base64.b64decode(sys.stdin.readline()))
recs = json.loads(base64.b64decode(d["records"]))
res = [r for r in recs if r["uid"] == d["resourceRecordUid"]][0]
url = "http://%s:%s" % (res["host"], res["port"])
def status(req):
    try:
        return urllib.request.urlopen(req, timeout=5).status
    except urllib.error.HTTPError as e:
        return e.code
    except OSError:
        sys.exit(75)  # EX_TEMPFAIL: the target did not answer
EOF
{ cat "$T/common.py"; cat <<'EOF'; } >"$T/rotate.py"
body = json.dumps({"old": d["oldPassword"], "new": d["newPassword"]}).encode()
st = status(urllib.request.Request(url + "/set", data=body, method="POST"))
print("set:", st)
sys.exit(0 if st == 200 else 77 if st == 403 else 1)
EOF
{ cat "$T/common.py"; cat <<'EOF'; } >"$T/verify.py"
tok = base64.b64encode(("%s:%s" % (d["user"], d["newPassword"])).encode())
st = status(urllib.request.Request(url + "/login",
    headers={"Authorization": "Basic " + tok.decode()}))
print("login:", st)
sys.exit(0 if st == 200 else 77)
EOF
chmod 644 "$T"/*.py
python3 -c 'import secrets; print(secrets.token_urlsafe(18))' >"$T/svc.pw"
chmod 600 "$T/svc.pw"
# The server reads the initial password before the test's umask matters.
python3 "$T/target.py" "$T/port" "$T/svc.pw" &
SPID=$!
for _ in $(seq 50); do [ -s "$T/port" ] && break; sleep 0.1; done
PORT=$(cat "$T/port")
login() { # PASSWORD_FILE: the HTTP status of a login with it
	python3 - "$PORT" "$1" <<'EOF'
import base64, sys, urllib.request, urllib.error
pw = open(sys.argv[2]).read().rstrip("\n")
tok = base64.b64encode(("svc:" + pw).encode()).decode()
try:
    print(urllib.request.urlopen(urllib.request.Request(
        "http://127.0.0.1:%s/login" % sys.argv[1],
        headers={"Authorization": "Basic " + tok}), timeout=5).status)
except urllib.error.HTTPError as e:
    print(e.code)
EOF
}

mkdir -p "$T/conf.d"
cat >"$T/rotad.yaml" <<EOF
store: {path: $T/rotad.db, key_file: $T/master.key}
control: {socket: $T/rotad.sock}
worker: {path: $B/rotad-worker, user: nobody}
EOF
cat >"$T/conf.d/api.yaml" <<EOF
resources:
  svc-api:
    kind: api
    host: 127.0.0.1
    port: $PORT
    protocol: script
    rotate_script: {path: $T/rotate.py, command: /usr/bin/python3}
    verify_script: {path: $T/verify.py, command: /usr/bin/python3}
users:
  svc:
    login: svc
    resource: svc-api
    password_file: $T/svc.pw
    retry: {attempts: 2, initial: 1s, max: 1s}
EOF

echo "1..4"
"$ROTAD" --init -c "$T/rotad.yaml" >"$T/init.log" 2>&1
"$ROTAD" -f -c "$T/rotad.yaml" 2>"$T/log" &
PID=$!
for _ in $(seq 50); do ctl status >/dev/null 2>&1 && break; sleep 0.1; done

out=$(ctl --json rotate --wait svc 2>&1)
ctl secret get svc >"$T/new.pw" 2>/dev/null
[ "$(echo "$out" | jlast 'j["run"]["state"]')" = committed ] &&
    [ "$(login "$T/new.pw")" = 200 ] && [ "$(login "$T/svc.pw")" = 401 ]
verdict "rotate_script sets the new password on the target, verify_script proves it, the store commits it" $? "$out" "$(tail -5 "$T/log")"

id=$(echo "$out" | jlast 'j["run"]["id"]')
shownj=$(ctl --json run "$id" 2>&1)
[ "$(echo "$shownj" | jget '[s["output"].strip() for s in j["run"]["scripts"]]')" = "['set: 200', 'login: 200']" ] &&
    ! echo "$shownj" | grep -qF -f "$T/new.pw"
verdict "the rotation scripts' outputs are kept with the run, scrubbed" $? "$shownj"

# A target that answers 200 and changes nothing, twice: each attempt's
# verify fails, recovery finds the old password still works and drops the
# new one; auth is retried once (reconcile), then the run fails, and the
# store keeps the old password, which works.
cp "$T/new.pw" "$T/before.pw"
python3 -c "import urllib.request; urllib.request.urlopen(urllib.request.Request('http://127.0.0.1:$PORT/drop', data=b'2', method='POST'))"
out=$(ctl --json rotate --wait svc 2>&1)
ctl secret get svc >"$T/now.pw" 2>/dev/null
[ "$(echo "$out" | jlast 'j["run"]["state"]')" = failed ] &&
    cmp -s "$T/now.pw" "$T/before.pw" && [ "$(login "$T/now.pw")" = 200 ] &&
    [ "$(sqlite3 "$T/rotad.db" "select count(*) from secrets where user_name = 'svc' and state = 'pending'")" = 0 ] &&
    [ "$(echo "$out" | jlast 'j["run"]["attempts"]')" = 2 ] &&
    [ "$(grep -c 'svc: the old secret still logs in; the new one is dropped' "$T/log")" = 2 ]
verdict "a target that does not take the new password: the run fails, the old password stays current and works" $? "$out" "$(grep -E 'ROTAD-00(1[2-5]|4[0-2])' "$T/log" | tail -8)"

if grep -qF -f "$T/new.pw" "$T/log" || grep -qF -f "$T/svc.pw" "$T/log"; then
	not_ok "no password in the daemon's log"
else
	ok "no password in the daemon's log"
fi
rm -f "$T"/*.pw
kill -TERM "$PID"
wait "$PID"
PID=
[ "$failed" -eq 0 ]
