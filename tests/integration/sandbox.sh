#!/bin/bash
# Integration test of rotad-worker's sandbox: the real worker, started as
# root as the daemon starts it, with --user nobody and the test provider,
# sent requests through tests/lib/wire.py.  Speaks TAP.
#
#   tests/integration/sandbox.sh BUILDDIR
#
# The test provider's probes try what the sandbox forbids (exec, writing a
# file, ptrace, a socket, a user namespace) and report the errno; a probe
# whose forbidden action succeeds answers fatal.  A worker sleeping in
# the provider is inspected through /proc: no_new_privs, seccomp, ids,
# capabilities, fds, environment and limits.  Needs a build configured
# with -Dtest_hooks=true, and root (to drop to nobody).
set -u
B=$(realpath "$1")
W=$B/rotad-worker
HERE=$(cd "$(dirname "$0")" && pwd)
LIB=$(realpath "$HERE/../lib")
T=$(mktemp -d /tmp/rotad-sandbox.XXXXXX)
BG=
stop_all() {
	if [ -n "$BG" ]; then
		# The worker the driver started, then the driver.
		[ -s "$T/pid" ] && kill -KILL "$(cat "$T/pid")" 2>/dev/null
		kill -KILL "$BG" 2>/dev/null
		wait "$BG" 2>/dev/null
	fi
	rm -rf "$T"
}
trap stop_all EXIT

if [ "$(id -u)" -ne 0 ]; then
	echo "1..0 # SKIP needs root (the worker drops to nobody)"
	exit 0
fi
if [ ! -x "$W" ]; then
	echo "1..0 # SKIP no $W"
	exit 0
fi

. "$(dirname "$(realpath "$0")")/lib/tap.sh"

# The driver: runs the worker with wire.py and prints one JSON line
# {"status", "res", "stderr"}.
# With SANDBOX_VIA=template the worker is a child of a worker template
# (rotad-worker --template, as the daemon runs it; tests/lib/tmplwire.py)
# instead of an exec of its own.
cat >"$T/drive.py" <<'EOF'
import json, os, subprocess, sys, time
sys.path.insert(0, sys.argv[1])
import tmplwire
import wire

W, cmd = sys.argv[2], sys.argv[3]
VIA = os.environ.get("SANDBOX_VIA", "exec")
SECRET = b"candidate-secret-0123456789"
BASE = {"op": "apply", "provider": "test", "login": "app",
        "new_secret": SECRET}


def call(argv, req):
    if VIA != "template":
        return wire.call_worker(W, argv, req, 30)
    t = tmplwire.Template(W)
    try:
        return tmplwire.call_forked(t, argv, req, 30)
    finally:
        t.close()


def out(status, res, err):
    if res is not None and res["output"] is not None:
        res["output"] = res["output"].decode("utf-8", "replace")
    print(json.dumps({"status": status, "res": res, "stderr": err}))


if cmd == "call":
    # call ARGV-JSON REQUEST-JSON (merged into BASE)
    argv = json.loads(sys.argv[4])
    req = dict(BASE, **json.loads(sys.argv[5]))
    out(*call(argv, req))
elif cmd == "raw":
    # raw ARGV-JSON truncated|garbage|short
    argv = json.loads(sys.argv[4])
    full = wire.encode_request(dict(BASE, test_action="fail:auth"))
    msg = {"truncated": full[:len(full) - 5],
           "garbage": wire.encode_fields([(99, b"x" * 8)]),
           "short": b"\0\0"}[sys.argv[5]]
    out(*call(argv, msg))
elif cmd == "background" and VIA == "template":
    # The stray fd and the environment go to the template: what a
    # daemon never gives it must not reach a worker either.
    argv = json.loads(sys.argv[4])
    stray = os.open("/etc/hostname", os.O_RDONLY)
    t = tmplwire.Template(W, env={"ROTAD_TEST_ENV": "must-not-survive"},
                          pass_fds=(stray,))
    os.close(stray)

    def started(pid):
        with open(sys.argv[6], "w") as f:
            f.write("%d\n" % pid)
    try:
        out(*tmplwire.call_forked(t, argv, dict(BASE, test_action=sys.argv[5]),
                                  60, on_start=started))
    finally:
        t.close()
elif cmd == "background":
    # background ARGV-JSON ACTION PIDFILE: a worker with a stray fd and
    # an environment, its pid in PIDFILE, its answer when it ends.
    argv = json.loads(sys.argv[4])
    stray = os.open("/etc/hostname", os.O_RDONLY)
    p = subprocess.Popen([W] + argv, stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         pass_fds=(stray,),
                         env={"ROTAD_TEST_ENV": "must-not-survive"})
    os.close(stray)
    with open(sys.argv[6], "w") as f:
        f.write("%d\n" % p.pid)
    o, e = p.communicate(wire.encode_request(
        dict(BASE, test_action=sys.argv[5])), timeout=60)
    res = wire.decode_response(wire.split_message(o)) if o else None
    out(p.returncode, res, e.decode("utf-8", "replace"))
EOF
drive() { python3 "$T/drive.py" "$LIB" "$W" "$@"; }
# j EXPR: evaluate a Python expression on the JSON line on stdin (j),
# with f the response's facts as a dict.
j() {
	python3 -c 'import json, sys
sys.path.insert(0, sys.argv[2]); import wire
j = json.loads(sys.stdin.read())
f = wire.parse_facts(j["res"]["facts"]) if j.get("res") else {}
print(eval("(" + sys.argv[1] + ")"))' "$1" "$LIB" "${@:2}"
}
TEST='["--provider", "test", "--user", "nobody"]'
NOBODY_UID=$(id -u nobody)
NOBODY_GID=$(id -g nobody)

echo "1..56"

# Every case twice: the worker exec'd, as sandbox.sh always ran it, then
# the worker a fork of the template, as the daemon now starts it: the
# sandbox must be the same either way.
for VIA in exec template; do
	export SANDBOX_VIA=$VIA
	V=
	# A worker's own seccomp filter; a fork of the template has the
	# template's under it (worker/sandbox.c, sandbox_template_filter());
	# both over whatever this test inherited (a filtered container).
	NFILTERS=$(($(awk '$1 == "Seccomp_filters:" { print $2 }' /proc/$$/status) + 1))
	[ "$VIA" = template ] && V="via the template: " && NFILTERS=$((NFILTERS + 1))

	# 1: the plain request works at all, or every refusal below means nothing.
	R=$(drive call "$TEST" '{}' 2>&1)
	C=$(printf '%s' "$R" | j 'j["status"] == 0 and j["res"]["class"]' 2>&1)
	verdict "${V}a sandboxed test worker answers success" \
	    "$([ "$C" = none ] && echo 0 || echo 1)" "$R"

	# 2-6: each probe is refused (EPERM from seccomp, EACCES from Landlock).
	for probe in exec write ptrace socket fork-ns; do
		R=$(drive call "$TEST" "{\"test_action\": \"$probe\"}" 2>&1)
		C=$(printf '%s' "$R" | j 'j["status"] == 0 and
		    j["res"]["class"] == "none" and f.get("probe") == sys.argv[3] and
		    f.get("result") in ("EPERM", "EACCES")' "$probe" 2>&1)
		verdict "${V}probe $probe is refused ($(printf '%s' "$R" |
		    j 'f.get("result")' 2>/dev/null))" \
		    "$([ "$C" = True ] && echo 0 || echo 1)" "$R"
	done

	# 7: writing under /tmp (mode 1777) is refused by Landlock itself (EACCES),
	# not by seccomp: the file system is confined.
	R=$(drive call "$TEST" '{"test_action": "write"}' 2>&1)
	C=$(printf '%s' "$R" | j 'f.get("result") == "EACCES" and
	    "landlock" not in f' 2>&1)
	verdict "${V}Landlock is in force (write refused with EACCES)" \
	    "$([ "$C" = True ] && echo 0 || echo 1)" "$R"
	ls /tmp/rotad-probe-* >/dev/null 2>&1 && rm -f /tmp/rotad-probe-*

	# 8: what the worker sees of itself.
	R=$(drive call "$TEST" '{"test_action": "dump"}' 2>&1)
	C=$(printf '%s' "$R" | j 'f.get("dumpable") == "0" and
	    f.get("uid") == sys.argv[3] and f.get("NoNewPrivs") == "1" and
	    f.get("Seccomp") == "2"' "$NOBODY_UID" 2>&1)
	verdict "${V}the worker sees dumpable 0, nobody's uid, no_new_privs, seccomp" \
	    "$([ "$C" = True ] && echo 0 || echo 1)" "$R"

	# 9-16: a worker in the middle of its step (6 s), seen from outside.
	drive background "$TEST" sleep:6 "$T/pid" >"$T/bg.json" 2>&1 &
	BG=$!
	PID=
	for _ in $(seq 1 60); do
		[ -s "$T/pid" ] && PID=$(cat "$T/pid") &&
		    grep -q "^Seccomp_filters:[[:space:]]*$NFILTERS\$" "/proc/$PID/status" 2>/dev/null &&
		    break
		sleep 0.05
	done
	ST=$(cat "/proc/$PID/status" 2>&1)
	field() { printf '%s\n' "$ST" | awk -v k="$1:" '$1 == k { $1 = ""; print }' |
		xargs; }
	verdict "${V}running worker: NoNewPrivs 1" \
	    "$([ "$(field NoNewPrivs)" = 1 ] && echo 0 || echo 1)" "$ST"
	verdict "${V}running worker: Seccomp 2 (filter), $NFILTERS filter(s)" \
	    "$([ "$(field Seccomp)" = 2 ] && [ "$(field Seccomp_filters)" = "$NFILTERS" ] &&
		echo 0 || echo 1)" "$ST"
	U="$NOBODY_UID $NOBODY_UID $NOBODY_UID $NOBODY_UID"
	G="$NOBODY_GID $NOBODY_GID $NOBODY_GID $NOBODY_GID"
	verdict "${V}running worker: real/effective/saved/fs ids are nobody's, no groups" \
	    "$([ "$(field Uid)" = "$U" ] && [ "$(field Gid)" = "$G" ] &&
	    [ -z "$(field Groups)" ] && echo 0 || echo 1)" "$ST"
	verdict "${V}running worker: no capabilities (CapEff, CapPrm 0)" \
	    "$([ "$(field CapEff)" = 0000000000000000 ] &&
	    [ "$(field CapPrm)" = 0000000000000000 ] && echo 0 || echo 1)" "$ST"
	FDS=$(ls "/proc/$PID/fd" 2>&1 | sort -n | xargs)
	verdict "${V}running worker: only fds 0 1 2 (a stray one was closed)" \
	    "$([ "$FDS" = "0 1 2" ] && echo 0 || echo 1)" "fds: $FDS"
	# It was started with ROTAD_TEST_ENV set.
	ENVSZ=unreadable
	[ -r "/proc/$PID/environ" ] &&
	    ENVSZ=$(tr -d '\0' <"/proc/$PID/environ" | wc -c)
	verdict "${V}running worker: empty environment" \
	    "$([ "$ENVSZ" = 0 ] && echo 0 || echo 1)" "environ bytes: $ENVSZ"
	LIM=$(cat "/proc/$PID/limits" 2>&1)
	verdict "${V}running worker: core limit 0, 64 files" \
	    "$(printf '%s\n' "$LIM" | grep -Eq '^Max core file size +0 +0 ' &&
	    printf '%s\n' "$LIM" | grep -Eq '^Max open files +64 +64 ' &&
	    echo 0 || echo 1)" "$LIM"
	wait "$BG"
	BG=
	C=$(j 'j["status"] == 0 and j["res"]["class"] == "none"' <"$T/bg.json" 2>&1)
	verdict "${V}the sleeping worker answers when done" \
	    "$([ "$C" = True ] && echo 0 || echo 1)" "$(cat "$T/bg.json")"

	# 17-19: refusals, answered fatal, the request not run (fail:auth would
	# answer auth).
	R=$(drive call '["--provider", "no-such", "--user", "nobody"]' \
	    '{"provider": "no-such", "test_action": "fail:auth"}' 2>&1)
	C=$(printf '%s' "$R" | j 'j["status"] == 0 and
	    j["res"]["class"] == "fatal" and "unknown provider" in
	    j["res"]["message"]' 2>&1)
	verdict "${V}an unknown provider is refused as fatal" \
	    "$([ "$C" = True ] && echo 0 || echo 1)" "$R"
	R=$(drive call "$TEST" '{"provider": "postgresql", "test_action": "fail:auth"}' 2>&1)
	C=$(printf '%s' "$R" | j 'j["status"] == 0 and
	    j["res"]["class"] == "fatal" and "postgresql" in j["res"]["message"]' 2>&1)
	verdict "${V}a request for another provider is refused as fatal, not run" \
	    "$([ "$C" = True ] && echo 0 || echo 1)" "$R"
	R=$(drive call '["--provider", "test", "--user", "nobody", "--ca-file", "/etc/hostname"]' \
	    '{"tls_ca_file": "/etc/passwd", "test_action": "fail:auth"}' 2>&1)
	C=$(printf '%s' "$R" | j 'j["status"] == 0 and
	    j["res"]["class"] == "fatal" and "CA file" in j["res"]["message"]' 2>&1)
	verdict "${V}a request whose CA file differs from --ca-file is refused" \
	    "$([ "$C" = True ] && echo 0 || echo 1)" "$R"

	# 20: a service user that does not exist stops the worker before it runs.
	R=$(drive call '["--provider", "test", "--user", "rotad-no-such-user"]' \
	    '{"test_action": "fail:auth"}' 2>&1)
	C=$(printf '%s' "$R" | j 'j["res"]["class"] == "fatal" and
	    "unknown service user" in j["res"]["message"]' 2>&1)
	verdict "${V}an unknown service user is answered fatal" \
	    "$([ "$C" = True ] && echo 0 || echo 1)" "$R"

	# 21: what a provider says passes through the scrubber.
	R=$(drive call "$TEST" '{"test_action": "leak",
	    "current": "current-secret-0123", "admin": "admin-secret-0123",
	    "passphrase": "passphrase-secret-0123"}' 2>&1)
	C=$(printf '%s' "$R" | j 'j["res"]["class"] == "auth" and
	    j["res"]["message"].count("[REDACTED]") == 4 and
	    all(f["leak%d" % i] == "[REDACTED]" for i in range(4)) and
	    "-secret-" not in sys.argv[3]' "$R" 2>&1)
	verdict "${V}the secrets a provider echoes (new, current, admin, key passphrase) are scrubbed from message and facts" \
	    "$([ "$C" = True ] && echo 0 || echo 1)" "$C"

	# 22: the script profile: the script (executed directly, its "#!"
	# interpreter allowed with it) runs as nobody, reads its input, and can
	# neither exec anything else nor write.
	chmod 755 "$T"
	cat >"$T/post.sh" <<-'EOF'
#!/bin/sh
	read -r line
	echo "input=${#line}"
	/usr/bin/id -u >/dev/null 2>&1 || echo "exec refused"
	echo x 2>/dev/null >"${0%/*}/written" || echo "write refused"
	EOF
	chmod 755 "$T/post.sh"
	R=$(drive call "[\"--provider\", \"post-rotation\", \"--user\", \"nobody\", \"--exec\", \"$T/post.sh\"]" \
	    "{\"op\": \"script\", \"provider\": \"post-rotation\", \"script_path\": \"$T/post.sh\", \"script_input\": \"eyJ4IjogMX0=\"}" 2>&1)
	C=$(printf '%s' "$R" | j 'j["res"]["class"] == "none" and
	    "input=12" in j["res"]["output"] and "exec refused" in j["res"]["output"]
	    and "write refused" in j["res"]["output"]' 2>&1)
	verdict "${V}a script runs in its profile, and can neither exec nor write" \
	    "$([ "$C" = True ] && [ ! -e "$T/written" ] && echo 0 || echo 1)" "$R" "$C"

	# 23-24: a request that is not one: no answer, a non-zero exit.
	for kind in truncated garbage; do
		R=$(drive raw "$TEST" "$kind" 2>&1)
		C=$(printf '%s' "$R" | j 'j["status"] != 0 and j["res"] is None' 2>&1)
		verdict "${V}a $kind request: exit non-zero, no answer" \
		    "$([ "$C" = True ] && echo 0 || echo 1)" "$R"
	done

	# 25-27: the catalog decides what a request may carry: a parameter the
	# provider does not take (the test provider takes none from the daemon),
	# or a script step for a provider whose profile cannot exec, is answered
	# fatal and not run (fail:auth would answer auth).
	R=$(drive call "$TEST" '{"params": {"database": "app"},
	    "test_action": "fail:auth"}' 2>&1)
	C=$(printf '%s' "$R" | j 'j["status"] == 0 and j["res"]["class"] == "fatal"
	    and "parameter database is not one provider test takes" in
	    j["res"]["message"]' 2>&1)
	verdict "${V}a parameter the provider does not take is refused, not run" \
	    "$([ "$C" = True ] && echo 0 || echo 1)" "$R"
	R=$(drive call '["--provider", "postgresql", "--user", "nobody"]' \
	    '{"provider": "postgresql", "params": {"test_fail": "3"},
	    "test_action": "fault:auth"}' 2>&1)
	C=$(printf '%s' "$R" | j 'j["status"] == 0 and j["res"]["class"] == "fatal"
	    and "parameter test_fail is not one provider postgresql takes" in
	    j["res"]["message"]' 2>&1)
	verdict "${V}another provider's key is refused as a parameter" \
	    "$([ "$C" = True ] && echo 0 || echo 1)" "$R"
	R=$(drive call "$TEST" '{"op": "script", "script_path": "/bin/true",
	    "script_input": "eA==", "test_action": "fail:auth"}' 2>&1)
	C=$(printf '%s' "$R" | j 'j["status"] == 0 and j["res"]["class"] == "fatal"
	    and "script step" in j["res"]["message"]' 2>&1)
	verdict "${V}a script step for a provider that cannot exec is refused" \
	    "$([ "$C" = True ] && echo 0 || echo 1)" "$R"

	# 28: the worker names are the catalog's: the old ones are gone.
	R=$(drive call '["--provider", "script-rotation", "--user", "nobody"]' \
	    '{"provider": "script-rotation"}' 2>&1)
	C=$(printf '%s' "$R" | j 'j["res"]["class"] == "fatal" and
	    "unknown provider" in j["res"]["message"]' 2>&1)
	verdict "${V}a worker name not in the catalog (script-rotation) is unknown" \
	    "$([ "$C" = True ] && echo 0 || echo 1)" "$R"
done

[ "$n" -eq 56 ] || echo "# planned 56, ran $n"
exit $((failed > 0))
