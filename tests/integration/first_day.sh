#!/bin/bash
# Integration test of the operator's first day (issue 15): what `rotad -n`
# checks on this host beyond the files (the worker binary and user, the
# master key, the store and its directory, the secrets the first rotations
# need), the job files it would not read and two users for one account,
# `rotad --init` listing the secrets still to seed, `rotad --rekey`
# keeping the old key and refusing while a daemon holds the store, and
# `rotad --version`.  Each case breaks one thing, checks the message names
# the rotad.yaml key (at file:line:column) and the fix, then mends it.
# Speaks TAP.   tests/integration/first_day.sh BUILDDIR
set -u
B=$(realpath "$1")
ROTAD=$B/scheduler/rotad
ROTACTL=$B/ctl/rotactl
WORKER=$B/rotad-worker
if [ "$(id -u)" -ne 0 ]; then
	echo "1..0 # SKIP needs root (chown, su, a daemon switching to nobody)"
	exit 0
fi
T=$(mktemp -d /tmp/rotad-firstday.XXXXXX)
PID= HOLD=
cleanup() {
	local p
	for p in $PID $HOLD; do
		kill -KILL "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP
. "$(dirname "$(realpath "$0")")/lib/tap.sh"
has() { printf '%s\n' "$1" | grep -qF -- "$2"; }
# rotad -n (more arguments before -c), its output and status in $out, $st.
check_n() {
	out=$("$ROTAD" -n "$@" -c "$T/rotad.yaml" 2>&1)
	st=$?
}
# Nobody (the worker user) must reach the binaries it is asked to run.
chmod 755 "$T"
export ROTAD_SOCKET=$T/rotad.sock

mkdir -m 755 "$T/conf.d"
mkdir -m 700 "$T/state"
conf() { # conf WORKER_PATH WORKER_USER [STORE_DIR] [CONF_DIR]
	cat >"$T/rotad.yaml" <<EOF
store: {path: ${3:-$T/state}/rotad.db, key_file: $T/master.key}
control: {socket: $T/rotad.sock}
worker: {path: $1, user: $2}
conf_dir: ${4:-$T/conf.d}
EOF
	chmod 644 "$T/rotad.yaml"
}
conf "$WORKER" nobody
printf 'carol-pw\n' >"$T/carol.pw"
chmod 600 "$T/carol.pw"
cat >"$T/conf.d/a.yaml" <<EOF
resources:
  box: {kind: machine, host: 127.0.0.1, protocol: test, admin_user: box-admin}
  shell: {kind: machine, host: 127.0.0.1, protocol: ssh, host_key_policy: tofu}
users:
  alice: {login: alice, resource: box}
  carol: {login: carol, resource: box, password_file: $T/carol.pw}
  box-admin: {login: root, resource: box, managed: false}
  deploy: {login: deploy, resource: shell, rotate: private_key}
  hooks: {noop: true}
EOF

echo "1..25"

# ---- before rotad --init ----

check_n
[ $st -eq 0 ] && has "$out" "configuration OK" &&
    has "$out" "$T/rotad.yaml:1:15: warning: store.path $T/state/rotad.db and store.key_file $T/master.key do not exist yet: run rotad --init"
verdict "before --init: -n passes, with a warning naming store.path and rotad --init" $? "st=$st" "$out"

# ---- the worker binary ----

conf "$T/no-such-worker" nobody
check_n
[ $st -eq 1 ] &&
    has "$out" "$T/rotad.yaml:3:16: worker.path $T/no-such-worker: No such file or directory: every rotation would fail; fix worker.path"
verdict "a missing worker binary is an error at worker.path's line:column" $? "st=$st" "$out"

cp "$WORKER" "$T/worker-copy"
chmod 644 "$T/worker-copy"
conf "$T/worker-copy" nobody
check_n
[ $st -eq 1 ] && has "$out" "$T/rotad.yaml:3:16: worker.path $T/worker-copy is not executable" &&
    has "$out" "fix: chmod 0755 $T/worker-copy"
verdict "a worker binary without x bits is an error, with the chmod" $? "st=$st" "$out"
chmod 755 "$T/worker-copy"
check_n
[ $st -eq 0 ] && ! has "$out" "worker.path"
verdict "once executable, worker.path passes" $? "st=$st" "$out"

# ---- the worker user ----

conf "$WORKER" rotad-no-such-user
check_n
[ $st -eq 1 ] && has "$out" "worker.user rotad-no-such-user does not exist" &&
    has "$out" "useradd --system --no-create-home --shell /usr/sbin/nologin rotad-no-such-user" &&
    printf "%s\n" "$out" | grep -qE "^$T/rotad.yaml:3:[0-9]+: worker.user rotad-no-such-user"
verdict "a worker.user that does not exist is an error, with the useradd" $? "st=$st" "$out"

conf "$WORKER" root
check_n
[ $st -eq 1 ] && has "$out" "worker.user root is uid 0: workers must never run as root"
verdict "worker.user root is an error" $? "st=$st" "$out"
conf "$WORKER" nobody

# ---- rotad --init lists what is still to seed ----

out=$("$ROTAD" --init -c "$T/rotad.yaml" 2>&1)
st=$?
[ $st -eq 0 ] && has "$out" "imported 1 secret" &&
    has "$out" "no secret: alice" && has "$out" "rotactl secret set alice < FILE  # $T/conf.d/a.yaml:5:3" &&
    has "$out" "rotactl secret set box-admin < FILE" &&
    has "$out" "rotactl secret set deploy/private_key < FILE" &&
    has "$out" "3 secrets still to seed" &&
    ! has "$out" "secret set carol" && ! has "$out" "secret set hooks"
verdict "rotad --init lists each secret still to seed with its command (not the imported, not a noop)" $? "st=$st" "$out"

# ---- unseeded secrets at -n ----

check_n
[ $st -eq 0 ] &&
    has "$out" "$T/conf.d/a.yaml:5:3: warning: user alice has no secret yet: its first rotation would fail; seed it with \`rotactl secret set alice\`" &&
    has "$out" "$T/conf.d/a.yaml:7:3: warning: admin_user box-admin has no secret yet: rotations on its resources would fail" &&
    has "$out" "warning: user deploy has no SSH key yet" && has "$out" "\`rotactl secret set deploy/private_key\`" &&
    ! has "$out" "user carol"
verdict "-n warns about each unseeded secret, naming rotactl secret set (USER/private_key for a key)" $? "st=$st" "$out"

# ---- the key and the store ----

chmod 640 "$T/master.key"
chmod 604 "$T/master.key"
check_n
[ $st -eq 1 ] && has "$out" "$T/rotad.yaml:1:" && has "$out" "store.key_file: $T/master.key has mode 0604" &&
    has "$out" "chmod 0600 $T/master.key"
verdict "a key file others can read is an error at store.key_file, with the chmod" $? "st=$st" "$out"
chmod 600 "$T/master.key"

chmod 644 "$T/state/rotad.db"
check_n
[ $st -eq 1 ] && has "$out" "$T/rotad.yaml:1:15: store.path $T/state/rotad.db has mode 0644" &&
    has "$out" "fix: chmod 0600 $T/state/rotad.db"
verdict "a store others can read is an error at store.path, with the chmod" $? "st=$st" "$out"
chmod 600 "$T/state/rotad.db"

chmod 777 "$T/state"
check_n
[ $st -eq 1 ] && has "$out" "store.path $T/state/rotad.db: its directory $T/state has mode 0777, writable by others; fix: chmod go-w $T/state"
verdict "a store directory others can write is an error" $? "st=$st" "$out"
chmod 700 "$T/state"

conf "$WORKER" nobody "$T/no-such-dir"
check_n
[ $st -eq 1 ] && has "$out" "store.path $T/no-such-dir/rotad.db: its directory $T/no-such-dir: No such file or directory"
verdict "a missing store directory is an error" $? "st=$st" "$out"
conf "$WORKER" nobody

mv "$T/master.key" "$T/master.key.away"
check_n
[ $st -eq 1 ] && has "$out" "store.key_file $T/master.key does not exist, but the store $T/state/rotad.db does" &&
    has "$out" "restore the key from its backup"
verdict "a store without its key is an error that says to restore the key" $? "st=$st" "$out"
mv "$T/master.key.away" "$T/master.key"

# The daemon's user is taken to be the store's owner: a worker.user that
# owns the store would own the key's work too.
chown nobody "$T/state/rotad.db"
check_n
[ $st -eq 1 ] && has "$out" "worker.user nobody is rotad's own uid 65534"
verdict "a worker.user that owns the store (the daemon's user) is an error" $? "st=$st" "$out"
chown root "$T/state/rotad.db"

# As a user who may read neither the key nor the store: one note, no
# error, and the files are still checked.
# Copies of rotad and the worker nobody can reach: the build directory
# may sit in a private one (a clean clone in a 0700 temp directory).
cp "$ROTAD" "$T/rotad-copy" && chmod 755 "$T/rotad-copy"
conf "$T/worker-copy" nobody
out=$(su nobody -s /bin/sh -c "'$T/rotad-copy' -n -c '$T/rotad.yaml'" 2>&1)
st=$?
[ $st -eq 0 ] && [ "$(printf '%s\n' "$out" | grep -c 'note: uid 65534 cannot read')" = 1 ] &&
    has "$out" "the master key, the store and the secrets are not checked" &&
    ! has "$out" "user alice has no secret"
verdict "-n as another user notes once that it cannot read the store, and passes" $? "st=$st" "$out"
conf "$WORKER" nobody

check_n --config-only
[ $st -eq 0 ] && ! has "$out" "warning: user alice"
verdict "--config-only leaves the host alone" $? "st=$st" "$out"

# ---- files rotad would not read, and conf_dir ----

cat >"$T/conf.d/b.yml" <<EOF
users:
  bob: {login: bob, resource: box, password_file: $T/carol.pw}
EOF
check_n -v
[ $st -eq 0 ] &&
    has "$out" "$T/conf.d/b.yml: warning: not read: job files in conf_dir end in .yaml, in lower case (rename it: mv $T/conf.d/b.yml $T/conf.d/b.yaml)" &&
    ! has "$out" "  bob:"
verdict "a *.yml job file is a warning naming the mv, and is not read" $? "st=$st" "$out"
mv "$T/conf.d/b.yml" "$T/conf.d/b.yaml"
check_n -v
[ $st -eq 0 ] && ! has "$out" "not read" && has "$out" "  bob:  # $T/conf.d/b.yaml:2:3"
verdict "renamed to .yaml, it is read" $? "st=$st" "$out"

conf "$WORKER" nobody "$T/state" "$T/no-such-conf"
check_n
[ $st -eq 0 ] && has "$out" "$T/rotad.yaml:4:11: warning: conf_dir $T/no-such-conf does not exist: no job file is read"
verdict "a missing conf_dir is a warning at conf_dir's line:column" $? "st=$st" "$out"
conf "$WORKER" nobody

# ---- two users, one account ----

cat >"$T/conf.d/c.yaml" <<EOF
resources:
  box-again: {kind: machine, host: 127.0.0.1, protocol: test}
users:
  alice2: {login: alice, resource: box-again}
EOF
check_n
[ $st -eq 1 ] &&
    has "$out" "$T/conf.d/c.yaml:4:3: user alice2 manages the same account as user alice at $T/conf.d/a.yaml:5:3 (login alice on resource box-again, the same server as box)"
verdict "two users for one account (two resources, one server) are refused, naming both" $? "st=$st" "$out"
sed -i 's/login: alice,/login: alice-two,/' "$T/conf.d/c.yaml"
check_n
[ $st -eq 0 ] && ! has "$out" "same account"
verdict "another login on that server passes" $? "st=$st" "$out"
rm "$T/conf.d/c.yaml" "$T/conf.d/b.yaml"

# ---- rotad --version ----

out=$("$ROTAD" --version 2>&1)
st=$?
sqlite=$(python3 -c 'import sqlite3; print(sqlite3.sqlite_version)')
[ $st -eq 0 ] && printf '%s\n' "$out" | head -n 1 | grep -qE '^rotad [0-9]+\.[0-9]+' &&
    printf '%s\n' "$out" | grep -qE '^  postgresql +protocol postgresql$' &&
    printf '%s\n' "$out" | grep -qE '^  mysql +protocol mysql, mariadb$' &&
    printf '%s\n' "$out" | grep -qE "^  SQLite +$sqlite\$" &&
    printf '%s\n' "$out" | grep -qE '^  (libuv|OpenSSL|libyaml|jansson) ' &&
    [ "$(printf '%s\n' "$out" | grep -cE '^  (libuv|OpenSSL|SQLite|libyaml|jansson) ')" = 5 ]
verdict "rotad --version: version, providers with their protocols, five libraries (SQLite's as the system's)" $? "$out"

# ---- rotad --rekey and the store's lock ----

cp -p "$T/master.key" "$T/old.key"
"$ROTAD" -c "$T/rotad.yaml" 2>"$T/log" &
PID=$!
for _ in $(seq 1 100); do
	"$ROTACTL" status >/dev/null 2>&1 && break
	sleep 0.1
done
out=$("$ROTAD" --rekey -c "$T/rotad.yaml" 2>&1)
st=$?
[ $st -ne 0 ] && has "$out" "$T/state/rotad.db is in use: another rotad is running (pid $PID holds $T/state/rotad.db.lock)" &&
    has "$out" "stop it first" && cmp -s "$T/master.key" "$T/old.key" &&
    [ -z "$(find "$T" -maxdepth 1 -name 'master.key.*')" ]
verdict "--rekey refuses while a daemon holds the store, naming its pid; nothing changed" $? "st=$st" "$out" "$(cat "$T/log")"
kill -TERM "$PID"
wait "$PID"
PID=

out=$("$ROTAD" --rekey -c "$T/rotad.yaml" 2>&1)
st=$?
bak=$(find "$T" -maxdepth 1 -name 'master.key.[0-9]*T[0-9]*Z')
[ $st -eq 0 ] && [ -n "$bak" ] && cmp -s "$bak" "$T/old.key" &&
    ! cmp -s "$T/master.key" "$T/old.key" &&
    [ "$(stat -c '%a %u' "$bak")" = "600 $(stat -c %u "$T/old.key")" ] &&
    has "$out" "the old key is kept as $bak" &&
    "$ROTAD" -n -c "$T/rotad.yaml" >/dev/null 2>&1
verdict "--rekey keeps the old key as KEY.<UTC stamp> (0600, same owner); the store opens with the new" $? \
    "st=$st bak=$bak $(ls -l "$T")" "$out"

# A daemon does not start while something else (a rekey) holds the lock.
flock "$T/state/rotad.db.lock" sleep 30 &
HOLD=$!
sleep 0.3
out=$(timeout 20 "$ROTAD" -c "$T/rotad.yaml" 2>&1)
st=$?
kill "$HOLD" 2>/dev/null
wait "$HOLD" 2>/dev/null
HOLD=
[ $st -ne 0 ] && [ $st -ne 124 ] && has "$out" "$T/state/rotad.db is in use: another rotad is running"
verdict "a daemon refuses to start while the store's lock is held" $? "st=$st" "$out"

exit $((failed > 0))
