#!/bin/bash
# Integration test of the ssh provider: the real rotad-worker, sandboxed
# as nobody, against a private OpenSSH server (lib/sshd.sh) and real
# Linux users made for the test (rotadt-*, removed at the end), fed
# requests built by tests/lib/wire.py; then the daemon end to end
# (rotactl rotate --wait).  Checked with the real client (sshpass + ssh).
# Speaks TAP.
#
#   tests/integration/ssh.sh BUILDDIR
#
# Passwords are random, kept in files (mode 600), and reach the worker
# only in its request on stdin, sshpass only by its -f file, and the
# users' accounts only through chpasswd's stdin.  No diagnostic prints
# one, and the test checks that no answer, log or store file holds one.
set -u
B=$(realpath "$1")
SRC=$(cd "$(dirname "$0")/../.." && pwd)
WORKER=$B/rotad-worker
ROTAD=$B/scheduler/rotad
ROTACTL=$B/ctl/rotactl
. "$SRC/tests/integration/lib/sshd.sh"

if [ "$(id -u)" -ne 0 ] || [ ! -x /usr/sbin/sshd ] ||
    ! command -v sshpass >/dev/null || ! command -v sudo >/dev/null; then
	echo "1..0 # SKIP needs root, openssh-server, sshpass and sudo"
	exit 0
fi

T=$(mktemp -d /tmp/rotad-ssh.XXXXXX)
USERS="rotadt-admin rotadt-target rotadt-self rotadt-nolog rotadt-nosudo rotadt-e2e rotadt-victim rotadt-empty"
SUDOERS=/etc/sudoers.d/rotadt-test
DPID=
cleanup() {
	if [ -n "$DPID" ]; then
		kill -KILL "$DPID" 2>/dev/null
		wait "$DPID" 2>/dev/null
	fi
	sshd_stop
	for u in $USERS; do
		userdel -r "$u" >/dev/null 2>&1
	done
	rm -f "$SUDOERS"
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP
# sshd's files are world-readable (the known_hosts file is the worker's
# to read, as nobody); everything else in $T is the test's alone.
chmod 711 "$T"
umask 077

. "$(dirname "$(realpath "$0")")/lib/tap.sh"
newpw() { python3 -c 'import secrets; print(secrets.token_urlsafe(18))' >"$T/$1"; }
# setpw USER FILE: USER's password, through chpasswd's stdin.
setpw() { { printf '%s:' "$1"; head -n 1 "$T/$2"; } | chpasswd; }
login() { sshd_login "$1" "$T/$2"; }

# call.py WIRE_PY_DIR WORKER KEY=VALUE...: as postgresql.sh's, for ssh; a
# secret names its file in $T, param.KEY=VALUE is a parameter, and the
# known_hosts parameter reaches the sandbox with --read, as the daemon
# sends it.
cat >"$T/call.py" <<'EOF'
import json, os, sys
sys.path.insert(0, sys.argv[1])
import wire
def pw(name):
    with open(os.path.join(os.environ["T"], name), "rb") as f:
        return f.read().rstrip(b"\n")
req = {"provider": "ssh"}
for arg in sys.argv[3:]:
    k, _, v = arg.partition("=")
    if k in ("current", "new_secret", "admin"):
        v = pw(v)
    elif k in ("port", "timeout", "wait"):
        v = int(v)
    elif k.startswith("param."):
        # Empty: left out (a later argument overrides wcall's default).
        if v:
            req.setdefault("params", {})[k[6:]] = v
        else:
            req.get("params", {}).pop(k[6:], None)
        continue
    req[k] = v
limit = req.pop("wait", 30)
argv = ["--provider", "ssh", "--user", "nobody"]
kh = req.get("params", {}).get("known_hosts")
if kh:
    argv += ["--read", kh]
try:
    st, res, err = wire.call_worker(sys.argv[2], argv, req, limit)
except (wire.WireError, TimeoutError) as e:
    st, res, err = -1, None, str(e)
res = res or {"class": None, "message": "no response", "facts": "",
              "untouched": None}
text = (res["message"] + res["facts"] + err).encode()
leaked = [f for f in os.environ["SECRET_FILES"].split() if pw(f) in text]
print(json.dumps({"status": st, "class": res["class"],
                  "message": res["message"], "untouched": res["untouched"],
                  "stderr": err[-500:], "leaked": leaked}))
EOF
# wcall KEY=VALUE...: call.py's answer in $R; the server's host and port,
# its known_hosts, a 10 s timeout, unless the arguments say otherwise.
wcall() {
	R=$(python3 "$T/call.py" "$SRC/tests/lib" "$WORKER" \
	    host=127.0.0.1 port="${SSHD_PORT:-1}" timeout=10 \
	    param.known_hosts="$SSHD_KNOWN_HOSTS" "$@")
}
# expect NAME CLASS [TEXT]: the last call was answered with CLASS and a
# message holding TEXT, leaking nothing.
expect() {
	local got want="$2 True 0 True"
	got=$(printf '%s' "$R" | jget '"%s %s %s %s" % (j["class"],
	    j["status"] == 0, len(j["leaked"]), sys.argv[2] in j["message"])' \
	    "${3:-}")
	[ "$got" = "$want" ]
	verdict "$1" $? "want: $want (class, answered, leaks, text)" \
	    "got:  $got" "$R"
}
untouched() { # NAME WANT: the last answer's untouched flag
	local u
	u=$(printf '%s' "$R" | jget 'j["untouched"]')
	[ "$u" = "$2" ]
	verdict "$1" $? "untouched: $u" "$R"
}

echo "1..41"

sshd_start "$T/sshd"
verdict "sshd starts (own host key, password and PAM)" $? \
    "$(tail -n 5 "$T/sshd/sshd.log" 2>/dev/null)"

export T SECRET_FILES="admin.pw old.pw new.pw new2.pw self_old.pw self_new.pw wrong.pw nolog.pw nosudo.pw e2e_old.pw e2e_admin.pw victim.pw"
for f in $SECRET_FILES; do newpw "$f"; done
printf 'abc\n' >"$T/weak.pw" # pam_unix (obscure): too short

out=$({ for u in $USERS; do
	useradd -m -s /bin/bash "$u" || exit 1
done
	usermod -s /usr/sbin/nologin rotadt-nolog &&
	setpw rotadt-admin admin.pw && setpw rotadt-target old.pw &&
	setpw rotadt-self self_old.pw && setpw rotadt-nolog nolog.pw &&
	setpw rotadt-nosudo nosudo.pw && setpw rotadt-e2e e2e_old.pw &&
	setpw rotadt-victim victim.pw &&
	printf '%s\n' \
	    'rotadt-admin ALL=(root) NOPASSWD: /usr/sbin/chpasswd' \
	    'rotadt-nolog ALL=(root) NOPASSWD: /usr/sbin/chpasswd' \
	    >"$SUDOERS" && chmod 440 "$SUDOERS" && visudo -cqf "$SUDOERS" &&
	login rotadt-target old.pw; } 2>&1)
verdict "test users, the sudoers line, and a first real login" $? "$out"

# ---- admin reset: sudo -n chpasswd ----
wcall op=apply login=rotadt-target admin_login=rotadt-admin admin=admin.pw \
    new_secret=new.pw
expect "apply as the admin (sudo -n chpasswd) succeeds" none
login rotadt-target new.pw
verdict "... the real client logs in with the new password" $?
login rotadt-target old.pw
verdict "... and the old one is refused" $((!$?))
grep -F -f <(head -n 1 "$T/new.pw") "$T/sshd/sshd.log" >/dev/null
verdict "... the server's log holds no password" $((!$?))

wcall op=verify login=rotadt-target new_secret=new.pw
expect "verify with the new password succeeds" none
wcall op=verify login=rotadt-target new_secret=old.pw
expect "verify with the old password: auth" auth "authentication failed"
wcall op=verify login=rotadt-target new_secret=new.pw param.known_hosts= \
    param.host_key="$SSHD_FP"
expect "verify with the host_key fingerprint instead of known_hosts" none
# A server that lets an account in without asking for its password
# ("none": PermitEmptyPasswords and an empty one) proves no candidate.
sshd_stop
passwd -dq rotadt-empty
SSHD_EXTRA="PermitEmptyPasswords yes" sshd_start "$T/sshd" host_key
wcall op=verify login=rotadt-empty new_secret=new.pw
expect "verify where the server asks for no password: fatal, not proven" \
    fatal "without asking for a password"
sshd_stop
sshd_start "$T/sshd" host_key

wcall op=apply login=rotadt-target admin_login=rotadt-admin admin=wrong.pw \
    new_secret=new2.pw
expect "apply with a wrong admin password: auth" auth \
    "refused the login of rotadt-admin"
untouched "... untouched: nothing ran" True
wcall op=apply login=rotadt-target admin_login=rotadt-nosudo \
    admin=nosudo.pw new_secret=new2.pw
expect "an admin sudo asks for a password: fatal, naming the sudoers line" \
    fatal "add the sudoers line \"rotadt-nosudo ALL=(root) NOPASSWD: /usr/sbin/chpasswd\""
untouched "... untouched" True
wcall op=apply login=rotadt-target admin_login=rotadt-nolog admin=nolog.pw \
    new_secret=new2.pw
expect "an admin whose shell is nologin: the clear error" fatal \
    "refuses commands (nologin or /bin/false"
wcall op=apply login=rotadt-nobody-here admin_login=rotadt-admin \
    admin=admin.pw new_secret=new2.pw
expect "apply for a user that does not exist: fatal" fatal "chpasswd"
login rotadt-target new.pw
verdict "the refused applies left the target's password alone" $?

# ---- a login that is not a plain user name: refused, nothing sent ----
# chpasswd reads an account a line: "rotadt-target\nrotadt-victim:NEW"
# would set rotadt-victim's password (and Debian's chpasswd does).
before=$(grep -c 'Accepted password\|Failed password' "$T/sshd/sshd.log")
wcall op=apply login=$'rotadt-target\nrotadt-victim' admin_login=rotadt-admin \
    admin=admin.pw new_secret=new2.pw
expect "an admin reset for a login holding a line break: fatal" fatal \
    "is not a plain user name"
untouched "... untouched" True
wcall op=apply login=$'rotadt-self\nrotadt-victim' current=self_old.pw \
    new_secret=new2.pw
expect "a self-change for a login holding a line break: fatal" fatal \
    "is not a plain user name"
after=$(grep -c 'Accepted password\|Failed password' "$T/sshd/sshd.log")
[ "$before" = "$after" ]
verdict "... and the server saw no login attempt" $? "$before $after"
login rotadt-victim victim.pw && ! login rotadt-victim new2.pw &&
    login rotadt-target new.pw
verdict "... no account's password changed (rotadt-victim's, the target's)" $?

# ---- self-change: passwd over a pty ----
wcall op=apply login=rotadt-self current=self_old.pw new_secret=weak.pw
expect "self-change to a password pam_unix refuses: policy" policy \
    "refused the new password"
untouched "... untouched" True
wcall op=apply login=rotadt-self current=wrong.pw new_secret=self_new.pw
expect "self-change with a wrong current password: auth" auth
wcall op=apply login=rotadt-self current=self_old.pw new_secret=self_new.pw
expect "self-change (passwd over a pty) succeeds" none
login rotadt-self self_new.pw && ! login rotadt-self self_old.pw
verdict "... the user logs in with its new password only" $?

# ---- the host key ----
wcall op=verify login=rotadt-target new_secret=new.pw param.known_hosts= \
    param.host_key="SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
expect "a host_key that does not match: fatal" fatal "host key mismatch"
wcall op=verify login=rotadt-target new_secret=new.pw param.known_hosts=
expect "neither known_hosts nor host_key: fatal" fatal "exactly one of"
# The server comes back with another key: refused before any login.
sshd_stop
mv "$T/sshd/known_hosts" "$T/sshd/known_hosts.orig"
sshd_hostkey "$T/sshd" host_key2 && sshd_start "$T/sshd" host_key2
cp "$T/sshd/known_hosts.orig" "$T/sshd/known_hosts"
before=$(grep -c 'Accepted password\|Failed password' "$T/sshd/sshd.log")
wcall op=apply login=rotadt-target admin_login=rotadt-admin admin=admin.pw \
    new_secret=new2.pw
expect "a changed host key: fatal, before any credential is sent" fatal \
    "host key mismatch"
untouched "... untouched" True
after=$(grep -c 'Accepted password\|Failed password' "$T/sshd/sshd.log")
[ "$before" = "$after" ]
verdict "... and the server saw no login attempt" $? "$before $after"
sshd_stop
sshd_start "$T/sshd" host_key
verdict "the server is back with its first key" $?

# ---- transient ----
sshd_stop
wcall op=apply login=rotadt-target admin_login=rotadt-admin admin=admin.pw \
    new_secret=new2.pw
expect "apply against a stopped server: transient" transient \
    "Connection refused"
untouched "... untouched" True
sshd_start "$T/sshd" host_key

# ---- end to end: the daemon, rotactl, the store ----
mkdir -p "$T/d/conf.d" && chmod 755 "$T/d"
cp "$T/e2e_old.pw" "$T/d/e2e.pw" && cp "$T/admin.pw" "$T/d/admin.pw"
cat >"$T/d/rotad.yaml" <<EOF
store: {path: $T/d/rotad.db, key_file: $T/d/master.key}
control: {socket: $T/d/rotad.sock}
worker: {path: $WORKER, user: nobody}
EOF
cat >"$T/d/conf.d/ssh.yaml" <<EOF
resources:
  box:
    kind: machine
    host: 127.0.0.1
    port: $SSHD_PORT
    protocol: ssh
    known_hosts: $SSHD_KNOWN_HOSTS
    admin_user: box-admin
users:
  box-admin:
    login: rotadt-admin
    resource: box
    managed: false
    password_file: $T/d/admin.pw
  e2e:
    login: rotadt-e2e
    resource: box
    password_file: $T/d/e2e.pw
EOF
export ROTAD_SOCKET=$T/d/rotad.sock
out=$("$ROTAD" -n -c "$T/d/rotad.yaml" 2>&1) &&
    "$ROTAD" --init -c "$T/d/rotad.yaml" >/dev/null 2>&1
st=$?
if [ $st -eq 0 ]; then
	"$ROTAD" -f -c "$T/d/rotad.yaml" 2>>"$T/d/log" &
	DPID=$!
	st=1
	for i in $(seq 1 100); do
		"$ROTACTL" status >/dev/null 2>&1 && { st=0; break; }
		kill -0 "$DPID" 2>/dev/null || break
		sleep 0.1
	done
fi
verdict "rotad checks the job file and starts" $st "$out" \
    "$(tail -n 5 "$T/d/log" 2>/dev/null)"
out=$("$ROTACTL" rotate --wait e2e 2>&1)
st=$?
echo "$out" | grep -q 'state: committed'
verdict "rotactl rotate --wait e2e commits" $((st | $?)) "$out" \
    "$(tail -n 5 "$T/d/log")"
"$ROTACTL" secret get e2e >"$T/e2e_new.pw" 2>/dev/null
login rotadt-e2e e2e_new.pw && ! login rotadt-e2e e2e_old.pw
verdict "the store's current secret logs in, the imported one no longer" $?
hist=$("$ROTACTL" --json secret history e2e 2>&1)
[ "$(echo "$hist" | jget '[v["state"] for v in j["versions"]]')" = \
    "['current', 'previous']" ]
verdict "the store's versions: current, previous" $? "$hist"
out=$("$ROTACTL" verify --wait e2e 2>&1)
verdict "rotactl verify --wait e2e succeeds" $? "$out"

# ---- no secret anywhere ----
SECRET_FILES="$SECRET_FILES e2e_new.pw"
leak=
for f in $SECRET_FILES; do
	p=$(head -n 1 "$T/$f")
	if grep -rqaF -- "$p" "$T/d/log" "$T/sshd/sshd.log" "$T"/d/rotad.db*; then
		leak="$leak $f"
	fi
done
[ -z "$leak" ]
verdict "no password in the daemon's log, sshd's log or the store's plain text" \
    $? "leaked: $leak"

[ "$n" -eq 40 ] || echo "# planned 40 tests, ran $n"
[ "$failed" -eq 0 ]
