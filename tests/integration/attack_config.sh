#!/bin/bash
# Integration test of issue 11's attacks on the configuration: whoever may
# write a file rotad reads must not run code as root nor receive the admin
# credential.  Files others may write (or that others own) are refused by
# `rotad -n`, at start and at reload; a job file is left out alone.  The
# admin credential goes only to a server that proves who it is: a
# PostgreSQL that asks for the password in clear gets nothing, nor does a
# fake server whose certificate does not chain to the trusted CAs; the
# explicit opt-outs are warned about.  Speaks TAP.
#
#   tests/integration/attack_config.sh BUILDDIR
set -u
B=$(realpath "$1")
SRC=$(cd "$(dirname "$0")/../.." && pwd)
ROTAD=$B/scheduler/rotad
ROTACTL=$B/ctl/rotactl
WORKER=$B/rotad-worker
. "$SRC/tests/integration/lib/postgres.sh"

if [ "$(id -u)" -ne 0 ] || [ ! -x "$PG_BIN/postgres" ]; then
	echo "1..0 # SKIP needs root and postgresql-15"
	exit 0
fi

T=$(mktemp -d /tmp/rotad-attack.XXXXXX)
PID= FAKE=
cleanup() {
	local p
	for p in $PID $FAKE; do
		kill -KILL "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	pg_stop
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP
# The worker (nobody) reads the CA files and scripts in here; postgres
# reaches $T/pg.  Nothing in $T is writable by others.
chmod 755 "$T"
export ROTAD_SOCKET=$T/rotad.sock

. "$SRC/tests/integration/lib/tap.sh"
ctl() { "$ROTACTL" "$@"; }
newpw() { python3 -c 'import secrets; print(secrets.token_urlsafe(18))' >"$1"; }
has() { printf '%s\n' "$1" | grep -qF -- "$2"; }

echo "1..21"

# ---- the files rotad trusts ----

mkdir "$T/conf.d" "$T/theirs"
chown nobody "$T/theirs"
newpw "$T/good.pw" && chmod 600 "$T/good.pw"
good_conf() {
	cat >"$T/rotad.yaml" <<EOF
store: {path: $T/rotad.db, key_file: $T/master.key}
control: {socket: $T/rotad.sock}
worker: {path: $WORKER, user: nobody}
EOF
	chmod 644 "$T/rotad.yaml"
}
good_conf
cat >"$T/conf.d/good.yaml" <<EOF
resources:
  box: {kind: machine, host: 127.0.0.1, protocol: test}
users:
  good: {login: good, resource: box, password_file: $T/good.pw}
EOF
out=$("$ROTAD" -n -c "$T/rotad.yaml" 2>&1)
verdict "a sound configuration: rotad -n says configuration OK" $? "$out"

chmod 666 "$T/rotad.yaml"
out=$("$ROTAD" -n -c "$T/rotad.yaml" 2>&1)
st=$?
[ $st -eq 1 ] && has "$out" "$T/rotad.yaml: mode 0666 is writable by others; fix: chmod go-w $T/rotad.yaml" &&
    ! has "$out" "configuration OK"
verdict "rotad -n refuses a world-writable rotad.yaml, naming the fix" $? "st=$st" "$out"
chmod 644 "$T/rotad.yaml"

chmod 777 "$T/conf.d"
out=$("$ROTAD" -n -c "$T/rotad.yaml" 2>&1)
st=$?
[ $st -eq 1 ] && has "$out" "conf_dir $T/conf.d: mode 0777 is writable by others; fix: chmod go-w $T/conf.d"
verdict "rotad -n refuses a world-writable conf_dir" $? "st=$st" "$out"
chmod 755 "$T/conf.d"

cat >"$T/conf.d/open.yaml" <<EOF
users:
  intruder: {noop: true, scripts: [/bin/true]}
EOF
chmod 666 "$T/conf.d/open.yaml"
out=$("$ROTAD" -nv -c "$T/rotad.yaml" 2>&1)
st=$?
[ $st -eq 1 ] && has "$out" "$T/conf.d/open.yaml: mode 0666 is writable by others; fix: chmod go-w $T/conf.d/open.yaml" &&
    has "$out" "1 job file would be skipped" && has "$out" "  good:  #" &&
    ! has "$out" "  intruder:"
verdict "a 0666 job file is left out with its fix; the others load" $? "st=$st" "$out"
rm "$T/conf.d/open.yaml"

printf 'users:\n  theirs: {noop: true}\n' >"$T/theirs/evil.yaml"
chown nobody "$T/theirs/evil.yaml"
ln -s "$T/theirs/evil.yaml" "$T/conf.d/link.yaml"
out=$("$ROTAD" -n -c "$T/rotad.yaml" 2>&1)
st=$?
[ $st -eq 1 ] && has "$out" "$T/conf.d/link.yaml: $T/theirs" &&
    has "$out" "owned by nobody (uid 65534), not root or the daemon's user; fix: chown root $T/theirs"
verdict "a symlink to a file nobody owns is refused" $? "st=$st" "$out"
rm "$T/conf.d/link.yaml"

newpw "$T/theirs/p.pw" && chown nobody "$T/theirs/p.pw" && chmod 600 "$T/theirs/p.pw"
cat >"$T/conf.d/pw.yaml" <<EOF
users:
  seeded: {login: seeded, resource: box, password_file: $T/theirs/p.pw}
EOF
out=$("$ROTAD" -n -c "$T/rotad.yaml" 2>&1)
st=$?
[ $st -eq 1 ] && printf '%s\n' "$out" |
    grep -q "^$T/conf.d/pw.yaml:2:[0-9]*: password_file $T/theirs/p.pw: owned by nobody"
verdict "a password_file nobody owns is refused at its file:line:col" $? "st=$st" "$out"
rm "$T/conf.d/pw.yaml"

# A "worker" of nobody's, which would run as root: it only leaves a mark.
cat >"$T/theirs/worker.sh" <<EOF
#!/bin/sh
touch $T/marker
EOF
chmod 755 "$T/theirs/worker.sh"
chown nobody "$T/theirs/worker.sh"
evil_conf() {
	sed "s|path: $WORKER|path: $T/theirs/worker.sh|" -i "$T/rotad.yaml"
}
evil_conf
out=$("$ROTAD" -n -c "$T/rotad.yaml" 2>&1)
st=$?
[ $st -eq 1 ] && has "$out" "worker.path $T/theirs/worker.sh: owned by nobody (uid 65534), not root or the daemon's user; fix: chown root $T/theirs/worker.sh"
verdict "rotad -n refuses a worker.path nobody owns" $? "st=$st" "$out"

out=$("$ROTAD" --init -c "$T/rotad.yaml" 2>&1)
st=$?
[ $st -ne 0 ] && has "$out" "worker.path"
verdict "rotad --init refuses it too" $? "st=$st" "$out"
good_conf
out=$("$ROTAD" --init -c "$T/rotad.yaml" 2>&1)
verdict "rotad --init on the sound configuration" $? "$out"

evil_conf
timeout 10 "$ROTAD" -f -c "$T/rotad.yaml" >"$T/start.log" 2>&1
st=$?
[ $st -ne 0 ] && [ $st -ne 124 ] && grep -q "worker.path" "$T/start.log"
verdict "the daemon does not start with it" $? "st=$st" "$(cat "$T/start.log")"

good_conf
# Resources whose TLS is turned off: loaded, and warned about at start.
cat >"$T/conf.d/optout.yaml" <<EOF
resources:
  lax:
    kind: database
    host: 127.0.0.1
    protocol: postgresql
    tls: {verify: false}
  bare:
    kind: database
    host: 127.0.0.1
    protocol: postgresql
    tls: {enabled: false}
EOF
out=$("$ROTAD" -n -c "$T/rotad.yaml" 2>&1)
st=$?
[ $st -eq 0 ] && has "$out" "configuration OK" &&
    has "$out" "conf.d/optout.yaml:6:19: warning: resource lax: tls verify: false:" &&
    has "$out" "conf.d/optout.yaml:11:20: warning: resource bare: tls enabled: false: no TLS"
verdict "rotad -n warns about tls verify: false and enabled: false, and passes" $? "st=$st" "$out"

"$ROTAD" -f -c "$T/rotad.yaml" 2>"$T/log" &
PID=$!
for _ in $(seq 1 100); do
	ctl status >/dev/null 2>&1 && break
	sleep 0.1
done
grep -q "optout.yaml:6:19: warning: resource lax" "$T/log" &&
    grep -q "optout.yaml:11:20: warning: resource bare" "$T/log"
verdict "the daemon starts and logs the warnings" $? "$(cat "$T/log")"

# Reload with rotad.yaml writable by others: refused, the old kept.
cat >"$T/conf.d/newbie.yaml" <<EOF
users:
  newbie: {login: newbie, resource: box}
EOF
chmod 666 "$T/rotad.yaml"
out=$(ctl reload 2>&1)
st=$?
g=$(ctl --json status | jget 'j["generation"]')
[ $st -ne 0 ] && has "$out" "mode 0666 is writable by others" && [ "$g" = 1 ] &&
    ! ctl show newbie >/dev/null 2>&1 && ctl show good >/dev/null 2>&1
verdict "a reload with a world-writable rotad.yaml is refused; generation 1 kept" $? "st=$st g=$g" "$out"
chmod 644 "$T/rotad.yaml"

# The issue's reproduction: worker.path switched to nobody's script, HUP,
# trigger.  The reload is refused and the real worker runs the step.
evil_conf
kill -HUP "$PID"
sleep 0.5
out=$(ctl rotate --wait good 2>&1)
st=$?
sleep 0.5
[ ! -e "$T/marker" ] && [ $st -eq 0 ] && grep -q "worker.path" "$T/log"
verdict "after kill -HUP to nobody's worker.path, a trigger never runs it" $? \
    "st=$st marker: $(ls "$T/marker" 2>&1)" "$out" "$(tail -n 5 "$T/log")"
good_conf
kill -TERM "$PID"
wait "$PID"
PID=

# ---- the admin credential and unverified peers ----

pg_start "$T/pg" log_connections=on log_statement=all >"$T/pg-start.log" 2>&1
verdict "PostgreSQL starts (TLS with the test CA)" $? "$(cat "$T/pg-start.log")"
newpw "$T/admin.pw" && newpw "$T/app.pw" && newpw "$T/new.pw"
pg_sql "CREATE ROLE rotadmin LOGIN CREATEROLE" >/dev/null &&
    pg_sql "CREATE ROLE app LOGIN" >/dev/null &&
    pg_set_password rotadmin "$T/admin.pw" >/dev/null &&
    pg_set_password app "$T/app.pw" >/dev/null
# Every role but the superuser: the password in clear ("password").
cat >"$PG_DATA/pg_hba.conf" <<EOF
local all all scram-sha-256
host all postgres 127.0.0.1/32 scram-sha-256
host all all 127.0.0.1/32 password
EOF
runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$PG_DATA" reload >/dev/null
sleep 0.5

# call KEY=VALUE...: the worker's answer to one request, in $R (JSON).
cat >"$T/call.py" <<'EOF'
import json, os, sys
sys.path.insert(0, sys.argv[1])
import wire
def pw(name):
    with open(os.path.join(os.environ["T"], name), "rb") as f:
        return f.read().rstrip(b"\n")
req = {"provider": "postgresql", "host": "127.0.0.1", "timeout": 10}
for arg in sys.argv[3:]:
    k, _, v = arg.partition("=")
    if k in ("admin", "new_secret"):
        v = pw(v)
    elif k in ("port", "timeout"):
        v = int(v)
    elif k in ("tls_verify", "tls_disabled"):
        v = v == "true"
    req[k] = v
argv = ["--provider", "postgresql", "--user", "nobody"]
if req.get("tls_ca_file"):
    argv += ["--ca-file", req["tls_ca_file"]]
try:
    st, res, err = wire.call_worker(sys.argv[2], argv, req, 30)
except (wire.WireError, TimeoutError) as e:
    st, res, err = -1, None, str(e)
res = res or {"class": None, "message": "no response"}
print(json.dumps({"status": st, "class": res["class"],
                  "message": res["message"], "stderr": err[-300:]}))
EOF
export T
call() { R=$(python3 "$T/call.py" "$SRC/tests/lib" "$WORKER" "$@"); }
field() { printf '%s' "$R" | jget "j[\"$1\"]"; }
no_secret_in() { ! grep -qF -f <(tr -d '\n' <"$T/admin.pw"; echo) "$1"; }

call op=apply login=app admin_login=rotadmin admin=admin.pw \
    new_secret=new.pw port="$PGPORT_T" tls_ca_file="$PG_CA_FILE"
[ "$(field class)" != none ] && has "$(field message)" "channel binding required" &&
    ! grep -q 'connection authorized: user=rotadmin' "$PG_LOG" &&
    ! grep -q 'password authentication failed for user "rotadmin"' "$PG_LOG"
verdict "a PostgreSQL asking for the admin password in clear never gets it" $? \
    "$R" "$(grep rotadmin "$PG_LOG" | tail -n 3)"
pg_login app "$T/app.pw" 2>/dev/null
verdict "... and the target's password is unchanged" $?

# A fake server of someone else's: it asks for the password in clear and
# records whatever it is sent.  Its certificate is for 127.0.0.1 but
# chains to no CA anyone trusts.
(cd "$T" && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
    -nodes -keyout fake.key -out fake.pem -days 2 -subj /CN=127.0.0.1 \
    -addext subjectAltName=IP:127.0.0.1) >/dev/null 2>&1
cat >"$T/fake_pg.py" <<'EOF'
import socket, ssl, struct, sys
port_file, log, cert, key = sys.argv[1:5]
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
srv = socket.socket()
srv.bind(("127.0.0.1", 0))
srv.listen(8)
open(port_file, "w").write(str(srv.getsockname()[1]))
def recv(c, n):
    b = b""
    while len(b) < n:
        x = c.recv(n - len(b))
        if not x:
            raise EOFError
        b += x
    return b
def note(s):
    with open(log, "a") as f:
        f.write(s + "\n")
while True:
    c, _ = srv.accept()
    try:
        n, code = struct.unpack(">ii", recv(c, 8))
        if code == 80877103:            # SSLRequest
            c.sendall(b"S")
            c = ctx.wrap_socket(c, server_side=True)
            note("tls")
            n, code = struct.unpack(">ii", recv(c, 8))
        recv(c, n - 8)                  # the startup packet's parameters
        c.sendall(b"R" + struct.pack(">ii", 8, 3))  # cleartext, please
        t = recv(c, 1)
        n, = struct.unpack(">i", recv(c, 4))
        note("got %r %r" % (t, recv(c, n - 4)))
    except Exception as e:
        note("closed: %s" % type(e).__name__)
    finally:
        c.close()
EOF
python3 "$T/fake_pg.py" "$T/fake.port" "$T/fake.log" "$T/fake.pem" \
    "$T/fake.key" &
FAKE=$!
for _ in $(seq 1 50); do [ -s "$T/fake.port" ] && break; sleep 0.1; done
FPORT=$(cat "$T/fake.port")

call op=apply login=app admin_login=rotadmin admin=admin.pw \
    new_secret=new.pw port="$FPORT"
[ "$(field class)" = fatal ] &&
    has "$(field message)" "certificate verify failed" &&
    ! grep -q "^got" "$T/fake.log" && no_secret_in "$T/fake.log"
verdict "no CA setting: the fake's certificate fails the system's bundle, it gets nothing" \
    $? "$R" "$(cat "$T/fake.log")"

call op=apply login=app admin_login=rotadmin admin=admin.pw \
    new_secret=new.pw port="$FPORT" tls_ca_file="$PG_CA_FILE"
[ "$(field class)" = fatal ] &&
    has "$(field message)" "certificate verify failed" &&
    ! grep -q "^got" "$T/fake.log" && no_secret_in "$T/fake.log"
verdict "the test CA's ca_file: the fake is not that server, it gets nothing" \
    $? "$R" "$(cat "$T/fake.log")"

call op=apply login=app admin_login=rotadmin admin=admin.pw \
    new_secret=new.pw port="$FPORT" tls_verify=false
[ "$(field class)" != none ] &&
    has "$(field message)" "channel binding required" &&
    grep -q "^tls" "$T/fake.log" &&
    ! grep -q "^got" "$T/fake.log" && no_secret_in "$T/fake.log"
verdict "verify: false (TLS unchecked): channel binding still refuses cleartext" \
    $? "$R" "$(cat "$T/fake.log")"

# The issue's second reproduction, through the daemon: a job file (a
# trusted one now) points a resource at the fake, and a user of it is
# rotated with the admin credential.  The fake gets nothing.
cat >"$T/conf.d/fake.yaml" <<EOF
resources:
  fake-db:
    kind: database
    host: 127.0.0.1
    port: $FPORT
    protocol: postgresql
    admin_user: fake-admin
users:
  fake-admin: {login: rotadmin, resource: fake-db, managed: false, password_file: $T/admin.pw}
  victim:
    login: app
    resource: fake-db
    password_file: $T/app.pw
    retry: {attempts: 1, initial: 1s, max: 1s}
EOF
rm -f "$T/conf.d/optout.yaml" "$T/conf.d/newbie.yaml"
"$ROTAD" -f -c "$T/rotad.yaml" 2>"$T/log2" &
PID=$!
for _ in $(seq 1 100); do
	ctl status >/dev/null 2>&1 && break
	sleep 0.1
done
out=$(timeout 60 "$ROTACTL" rotate --wait victim 2>&1)
st=$?
[ $st -ne 0 ] && [ $st -ne 124 ] && has "$out" "certificate verify failed" &&
    ! grep -q "^got" "$T/fake.log" && no_secret_in "$T/fake.log"
verdict "rotad rotating a user of the fake: the run fails, the admin password stays home" \
    $? "st=$st" "$out" "$(cat "$T/fake.log")"

[ "$n" -eq 21 ] || echo "# planned 21 tests, ran $n"
[ "$failed" -eq 0 ]
