#!/bin/bash
# Integration test of post-rotation scripts: the real rotad-worker, started
# as root as the daemon starts it (--provider post-rotation --user nobody
# --exec the interpreter --read the script), sent requests through
# tests/lib/wire.py, running Python scripts from a private directory.
# Speaks TAP.
#
#   tests/integration/scripts.sh BUILDDIR
#
# The scripts check Keeper's contract from the inside (no arguments, one
# base64 line on stdin then EOF, every key, a bare environment), fail,
# print their secrets in every form they could, flood their output, try
# to exec another program, leave a child holding the output pipe, and are
# killed with the worker (SIGTERM, and SIGKILL, which no handler sees).  The test secrets are printed by the scripts
# only; this file prints names of forms, never a secret.
set -u
B=$(realpath "$1")
W=$B/rotad-worker
HERE=$(cd "$(dirname "$0")" && pwd)
LIB=$(realpath "$HERE/../lib")
PY=/usr/bin/python3
T=$(mktemp -d /tmp/rotad-scripts.XXXXXX)
stop_all() {
	local p
	# Anything a script left behind (the background child case).
	for p in $(pgrep -f "$T/" 2>/dev/null); do
		[ "$p" != "$$" ] && kill -KILL "$p" 2>/dev/null
	done
	rm -rf "$T"
}
trap stop_all EXIT

if [ "$(id -u)" -ne 0 ]; then
	echo "1..0 # SKIP needs root (the worker drops to nobody)"
	exit 0
fi
if [ ! -x "$W" ] || [ ! -x "$PY" ]; then
	echo "1..0 # SKIP no $W or no $PY"
	exit 0
fi
# tests/lib/wire.py is written alongside this test: wait for it a while.
for i in $(seq 1 60); do
	[ -r "$LIB/wire.py" ] && break
	sleep 5
done

. "$(dirname "$(realpath "$0")")/lib/tap.sh"

chmod 755 "$T"

# The secrets: every awkward character, non-ASCII and a control one.
# They live in the driver and in the scripts' stdin only.
cat >"$T/testsecrets.py" <<'EOF'
NEW = 'N3w"p\\a/s s+w%r&d\u00e9\U0001F600\x01z'
OLD = "0ld-Pa55 w%rd/+x"
ADMIN = "adm1n-S3cret=="
EOF

# check.py: decodes its stdin and checks every key of Keeper's contract.
cat >"$T/check.py" <<'EOF'
import base64, json, os, sys
data = sys.stdin.buffer.read()
assert sys.argv[1:] == [], "arguments: %r" % sys.argv[1:]
assert data.endswith(b"\n") and data.count(b"\n") == 1, "not one line"
d = json.loads(base64.b64decode(data[:-1], validate=True))
assert list(d) == ["providerRecordUid", "resourceRecordUid", "userRecordUid",
                   "newPassword", "oldPassword", "user", "records"], list(d)
assert d["providerRecordUid"] == "pg-config"
assert d["resourceRecordUid"] == "pg-prod"
assert d["userRecordUid"] == "app-user"
assert d["user"] == "app"
assert len(d["newPassword"]) == 21 and d["newPassword"].startswith("N3w")
assert d["oldPassword"].startswith("0ld")
recs = json.loads(base64.b64decode(d["records"], validate=True))
assert recs == [{"uid": "rec-1", "title": "Database", "login": "svc",
                 "url": "https://db.example/"}], recs
env = dict(os.environ)
env.pop("LC_CTYPE", None)  # Python's own locale coercion may add it
assert env == {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}, sorted(env)
print("all keys ok")
print("to stderr too", file=sys.stderr)
EOF

cat >"$T/exit3.py" <<'EOF'
import sys
sys.stdin.read()
print("about to fail")
sys.exit(3)
EOF

# leak.py: prints its secrets in every form it can think of.
cat >"$T/leak.py" <<'EOF'
import base64, binascii, json, sys, urllib.parse
line = sys.stdin.buffer.readline().rstrip(b"\n")
d = json.loads(base64.b64decode(line))
print("line:", line.decode())
print("line again, base64:", base64.b64encode(line).decode())
print("decoded:", json.dumps(d))
print("decoded, utf-8:", json.dumps(d, ensure_ascii=False))
print("decoded, repr:", repr(d))
print("decoded, re-encoded:", base64.b64encode(json.dumps(d).encode()).decode())
for k in ("newPassword", "oldPassword"):
    s = d[k]
    b = s.encode()
    print(k, "raw:", s)
    print(k, "b64:", base64.b64encode(b).decode())
    print(k, "b64url:", base64.urlsafe_b64encode(b).decode())
    print(k, "b64 nopad:", base64.b64encode(b).decode().rstrip("="))
    print(k, "b64url nopad:", base64.urlsafe_b64encode(b).decode().rstrip("="))
    for off in range(6):
        print(k, "b64 at", off, base64.b64encode(b"x" * off + b + b"y" * off).decode())
    print(k, "quote:", urllib.parse.quote(s))
    print(k, "quote lower:", urllib.parse.quote(s).replace("%C3", "%c3").replace("%F0", "%f0"))
    print(k, "quote_plus:", urllib.parse.quote_plus(s))
    print(k, "json:", json.dumps(s))
    print(k, "json utf-8:", json.dumps(s, ensure_ascii=False))
    print(k, "repr:", repr(s))
    print(k, "hex:", binascii.hexlify(b).decode())
    print(k, "in a url: https://x/?u=app&p=" + urllib.parse.quote_plus(s) + "&z=1")
print("goodbye", file=sys.stderr)
# And in the last bytes of the output, cut short.
sys.stdout.write("tail " + d["newPassword"][:9])
EOF

cat >"$T/flood.py" <<'EOF'
import base64, json, sys
d = json.loads(base64.b64decode(sys.stdin.readline()))
sys.stdout.write("A" * 200000 + "\n")
sys.stdout.flush()
print("the end", file=sys.stderr)
EOF

# cut.py: the secret straddles the 64 KiB bound of what is kept, after
# three whole copies (so that, redacted, the text fits without a cut).
cat >"$T/cut.py" <<'EOF'
import base64, json, sys
d = json.loads(base64.b64decode(sys.stdin.readline()))
b = d["newPassword"].encode()
sys.stdout.buffer.write(b"B" * (65535 - 3 * len(b) - 6) + b * 4 + b"\n")
EOF

cat >"$T/execls.py" <<'EOF'
import os, sys
sys.stdin.read()
print("trying /bin/ls", flush=True)
os.execv("/bin/ls", ["ls", "/"])
EOF

cat >"$T/background.py" <<'EOF'
import os, sys, time
sys.stdin.read()
if os.fork() == 0:
    time.sleep(20)  # holds the output pipe open
    os._exit(0)
print("parent done", flush=True)
EOF

cat >"$T/sleep.py" <<'EOF'
import sys, time
sys.stdin.read()
time.sleep(60)
EOF

cat >"$T/noread.py" <<'EOF'
print("did not read stdin")
EOF

chmod 644 "$T"/*.py

# The driver: runs a case and prints what went wrong, one line each, or
# nothing; never a secret.
cat >"$T/drive.py" <<'EOF'
import base64, binascii, json, os, re, signal, subprocess, sys, time
import urllib.parse
lib, worker, T, case = sys.argv[1:5]
sys.path.insert(0, lib)
sys.path.insert(0, T)
import wire
from testsecrets import NEW, OLD, ADMIN

PY = "/usr/bin/python3"

def keeper_input(records=None):
    if records is None:
        records = [{"uid": "rec-1", "title": "Database", "login": "svc",
                    "url": "https://db.example/"}]
    rec = base64.b64encode(json.dumps(records, separators=(",", ":")).encode())
    doc = {"providerRecordUid": "pg-config", "resourceRecordUid": "pg-prod",
           "userRecordUid": "app-user", "newPassword": NEW,
           "oldPassword": OLD, "user": "app", "records": rec.decode()}
    return base64.b64encode(json.dumps(doc, separators=(",", ":")).encode())

def request(script, command=PY):
    req = {"op": "script", "provider": "post-rotation",
           "script_path": T + "/" + script, "script_input": keeper_input(),
           "new_secret": NEW.encode(), "current": OLD.encode(),
           "admin": ADMIN.encode()}
    if command is not None:
        req["script_command"] = command
    return req

def argv(script, command=PY):
    return ["--provider", "post-rotation", "--user", "nobody",
            "--exec", command, "--read", T + "/" + script]

def call(script, command=PY, exec_path=PY, timeout=30):
    return wire.call_worker(worker, argv(script, exec_path),
                            request(script, command), timeout)

problems = []
def expect(cond, what):
    if not cond:
        problems.append(what)

def forms(s):
    """Every form leak.py prints S in, by name."""
    b = s.encode()
    q = urllib.parse.quote(s)
    f = {"raw": b,
         "b64": base64.b64encode(b),
         "b64url": base64.urlsafe_b64encode(b),
         "quote": q.encode(),
         "quote lower": re.sub("%[0-9A-F]{2}", lambda m: m.group(0).lower(),
                               q).encode(),
         "quote_plus": urllib.parse.quote_plus(s).encode(),
         "json": json.dumps(s)[1:-1].encode(),
         "json utf-8": json.dumps(s, ensure_ascii=False)[1:-1].encode(),
         "repr": repr(s)[1:-1].encode(),
         "hex": binascii.hexlify(b)}
    return f

def windows(b, n=8):
    return {b[i:i + n] for i in range(len(b) - n + 1)}

def b64_tokens(text):
    """Every base64-looking run, decoded at each of the 4 alignments."""
    out = []
    for tok in re.findall(rb"[A-Za-z0-9+/_-]{8,}", text):
        for a in range(4):
            t = tok[a:]
            t = t[:len(t) // 4 * 4]
            for alt in (b"+/", b"-_"):
                try:
                    out.append(base64.b64decode(t, altchars=alt))
                except binascii.Error:
                    pass
    return out

def leaks(text, label):
    """What of the secrets survives in TEXT, by form name."""
    found = []
    for name, s in (("new", NEW), ("old", OLD), ("admin", ADMIN)):
        for fname, f in forms(s).items():
            if any(w in text for w in windows(f)):
                found.append("%s %s in %s" % (name, fname, label))
        raw_w = windows(s.encode()) | windows(json.dumps(s)[1:-1].encode())
        for depth, dec in (("once", b64_tokens(text)),
                           ("twice", [x for d in b64_tokens(text)
                                      for x in b64_tokens(d)])):
            if any(w in d for d in dec for w in raw_w):
                found.append("%s in base64 (%s) in %s" % (name, depth, label))
    line = keeper_input()
    if line[:40] in text or line[-40:] in text or \
            base64.b64encode(line)[:40] in text:
        found.append("the input line in " + label)
    return found

def check_clean(res, stderr):
    for label, text in (("output", res.get("output") or b""),
                        ("message", res["message"].encode()),
                        ("facts", res["facts"].encode()),
                        ("stderr", stderr.encode())):
        problems.extend(leaks(text, label))

def show(res):
    if res is None:
        return "no response"
    return "class=%s message=%r" % (res["class"], res["message"])

if case == "check":
    st, res, err = call("check.py")
    expect(st == 0 and res is not None, "worker: %s %s" % (st, show(res)))
    if res:
        out = res["output"] or b""
        expect(res["class"] == "none", show(res) + " output=%r" % out[-300:])
        expect(b"all keys ok\n" in out, "no 'all keys ok'")
        expect(b"to stderr too\n" in out, "stderr not merged")
        check_clean(res, err)
elif case == "exit3":
    st, res, err = call("exit3.py")
    expect(res is not None, "no response (exit %s)" % st)
    if res:
        expect(res["class"] == "fatal", show(res))
        expect(res["message"] == "script %s/exit3.py exited 3" % T,
               show(res))
        expect(res["output"] == b"about to fail\n", repr(res["output"]))
elif case == "leak":
    st, res, err = call("leak.py")
    expect(res is not None and res["class"] == "none", show(res))
    if res:
        out = res["output"] or b""
        expect(out.count(b"[REDACTED]") >= 40,
               "only %d redactions" % out.count(b"[REDACTED]"))
        expect(b"goodbye" in out and b"line: [REDACTED]" in out,
               "output incomplete")
        expect(out.rstrip().endswith(b"tail [REDACTED]"), "tail kept")
        check_clean(res, err)
elif case == "flood":
    st, res, err = call("flood.py")
    expect(res is not None and res["class"] == "none", show(res))
    if res:
        out = res["output"] or b""
        expect(len(out) <= 65535, "%d bytes kept" % len(out))
        expect(out.startswith(b"A" * 60000), "the start is not kept")
        expect(out.endswith(b"[rotad: output truncated]\n"),
               "truncation not noted: %r" % out[-40:])
elif case == "cut":
    st, res, err = call("cut.py")
    expect(res is not None and res["class"] == "none", show(res))
    if res:
        out = res["output"] or b""
        expect(len(out) <= 65535, "%d bytes kept" % len(out))
        expect(out.endswith(b"B" + b"[REDACTED]" * 4 +
                            b"\n[rotad: output truncated]\n"),
               "the cut secret is not redacted: ...%r" %
               out[-60:].replace(NEW.encode()[:6], b"<secret prefix>"))
        check_clean(res, err)
elif case == "execls":
    st, res, err = call("execls.py")
    expect(res is not None, "no response (exit %s)" % st)
    if res:
        out = res["output"] or b""
        expect(res["class"] == "fatal", show(res))
        expect(res["message"] == "script %s/execls.py exited 1" % T,
               show(res))
        expect(b"trying /bin/ls" in out and b"PermissionError" in out,
               "output: %r" % out[-300:])
        expect(b"bin\n" not in out and b"usr\n" not in out, "ls ran")
elif case == "noexec":
    # An interpreter that cannot be exec'd: the errno, fatal.
    st, res, err = call("check.py", command=T + "/no-such-python")
    expect(res is not None, "no response (exit %s)" % st)
    if res:
        expect(res["class"] == "fatal", show(res))
        expect(res["message"].startswith("cannot exec %s/no-such-python: "
                                         % T) or
               res["message"].startswith("sandbox:"), show(res))
elif case == "noread":
    st, res, err = call("noread.py")
    expect(res is not None and res["class"] == "none", show(res))
    if res:
        expect(res["output"] == b"did not read stdin\n", repr(res["output"]))
elif case == "background":
    t0 = time.monotonic()
    st, res, err = call("background.py")
    took = time.monotonic() - t0
    expect(res is not None and res["class"] == "none", show(res))
    expect(took < 10, "took %.1f s: waited for the background child" % took)
    if res:
        expect(res["output"] == b"parent done\n", repr(res["output"]))
elif case in ("sigterm", "sigkill"):
    # The worker, killed at a deadline, takes the script down with it;
    # killed outright (the daemon's death, the OOM killer), it cannot,
    # and the script's parent-death signal does.
    proc = subprocess.Popen([worker] + argv("sleep.py"),
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    proc.stdin.write(wire.encode_request(request("sleep.py")))
    proc.stdin.close()
    proc.stdin = None
    kids = []
    for _ in range(100):
        time.sleep(0.1)
        kids = []
        for p in os.listdir("/proc"):
            if not p.isdigit():
                continue
            try:
                with open("/proc/%s/stat" % p) as f:
                    stat = f.read()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == proc.pid:
                kids.append(int(p))
        if kids:
            break
    expect(len(kids) == 1, "script processes: %r" % kids)
    time.sleep(0.5)
    proc.send_signal(signal.SIGTERM if case == "sigterm" else signal.SIGKILL)
    try:
        out, err = proc.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        problems.append("the worker did not end")
    time.sleep(0.2)
    for k in kids:
        alive = os.path.exists("/proc/%d" % k)
        if alive:
            with open("/proc/%d/stat" % k) as f:
                alive = f.read().rsplit(")", 1)[1].split()[0] != "Z"
        expect(not alive, "script %d still runs" % k)
    if out and case == "sigterm":
        res = wire.decode_response(wire.split_message(out))
        expect(res["class"] == "fatal" and "killed by signal 9" in
               res["message"], show(res))
else:
    problems.append("no case " + case)

for p in problems:
    print(p)
sys.exit(1 if problems else 0)
EOF

drive() { python3 "$T/drive.py" "$LIB" "$W" "$T" "$1" 2>&1; }

echo "1..11"
out=$(drive check)
verdict "a script gets no arguments, one base64 line with every key, a bare environment; exit 0 is success, output kept" $? "$out"
out=$(drive exit3)
verdict "a script that exits 3 fails fatal with 'script PATH exited 3', output kept" $? "$out"
out=$(drive leak)
verdict "secrets printed raw, base64 (any offset), URL-encoded, JSON-escaped, repr, hex, cut short, and the whole input line are all redacted" $? "$out"
out=$(drive flood)
verdict "output over 64 KiB is truncated, and says so" $? "$out"
out=$(drive cut)
verdict "a secret cut by the 64 KiB bound is redacted" $? "$out"
out=$(drive execls)
verdict "a script cannot exec another program (/bin/ls)" $? "$out"
out=$(drive noexec)
verdict "an interpreter that cannot be exec'd fails fatal with the errno" $? "$out"
out=$(drive noread)
verdict "a script that does not read its stdin still succeeds" $? "$out"
out=$(drive background)
verdict "a background child holding the output pipe does not hold the worker" $? "$out"
out=$(drive sigterm)
verdict "SIGTERM to the worker kills the script" $? "$out"
out=$(drive sigkill)
verdict "SIGKILL to the worker (no handler runs) kills the script too: its parent-death signal" $? "$out"

[ "$failed" -eq 0 ]
