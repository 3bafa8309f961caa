#!/bin/bash
# Integration test of the key ceremony: rotad --init and --rekey on a
# private directory, checked with the sqlite3 client and the file modes.
# Speaks TAP.   tests/integration/keys.sh BUILDDIR
set -u
B=$(realpath "$1")
ROTAD=$B/scheduler/rotad
T=$(mktemp -d /tmp/rotad-keys.XXXXXX)
PID=
trap '[ -n "$PID" ] && kill -KILL "$PID" 2>/dev/null; rm -rf "$T"' EXIT
. "$(dirname "$(realpath "$0")")/lib/tap.sh"
check() {
	local name=$1 out
	shift
	if out=$("$@" 2>&1); then ok "$name"; else not_ok "$name" "$out"; fi
}

PW='correct horse battery staple'
mkdir -p "$T/conf.d"
printf '%s\n' "$PW" >"$T/app.pw"
chmod 600 "$T/app.pw"
cat >"$T/rotad.yaml" <<EOF
store: {path: $T/rotad.db, key_file: $T/master.key}
EOF
cat >"$T/conf.d/app.yaml" <<EOF
resources:
  h: {kind: database, host: h.internal, port: 5432}
users:
  app: {login: app, resource: h, password_file: $T/app.pw}
EOF

echo "1..12"
check "rotad --init succeeds" "$ROTAD" --init -c "$T/rotad.yaml"
mode=$(stat -c %a "$T/master.key")
size=$(stat -c %s "$T/master.key")
dbmode=$(stat -c %a "$T/rotad.db")
if [ "$mode" = 600 ] && [ "$size" = 32 ] && [ "$dbmode" = 600 ]; then
	ok "the key is 32 bytes, mode 0600; the store is 0600"
else not_ok "the key is 32 bytes, mode 0600; the store is 0600" \
    "key $mode $size, db $dbmode"; fi

rows=$(sqlite3 "$T/rotad.db" "select user_name, state from secrets")
if [ "$rows" = "app|current" ] &&
    ! cat "$T"/rotad.db* | grep -aq "battery"; then
	ok "password_file is imported once, encrypted"
else not_ok "password_file is imported once, encrypted" "$rows"; fi

out=$("$ROTAD" --init -c "$T/rotad.yaml" 2>&1)
rows=$(sqlite3 "$T/rotad.db" "select count(*) from secrets")
if echo "$out" | grep -q "exists; kept" && [ "$rows" = 1 ]; then
	ok "a second --init keeps the key and imports nothing again"
else not_ok "a second --init keeps the key and imports nothing again" \
    "$out" "rows=$rows"; fi

chmod 644 "$T/master.key"
out=$("$ROTAD" --rekey -c "$T/rotad.yaml" 2>&1)
rc=$?
if [ $rc != 0 ] && echo "$out" | grep -q "chmod 0600"; then
	ok "a world-readable key file is refused, with the fix"
else not_ok "a world-readable key file is refused, with the fix" "$out"; fi
chmod 600 "$T/master.key"

cp "$T/master.key" "$T/old.key"
check "rotad --rekey succeeds" "$ROTAD" --rekey -c "$T/rotad.yaml"
if ! cmp -s "$T/master.key" "$T/old.key" && [ ! -e "$T/master.key.new" ] &&
    [ "$(stat -c %a "$T/master.key")" = 600 ]; then
	ok "rekey replaced the key file (0600, no .new left)"
else not_ok "rekey replaced the key file (0600, no .new left)"; fi

cat >"$T/old.yaml" <<EOF
conf_dir: $T/none
store: {path: $T/rotad.db, key_file: $T/old.key}
EOF
out=$("$ROTAD" --init -c "$T/old.yaml" 2>&1)
if echo "$out" | grep -q "does not open this store"; then
	ok "the old key no longer opens the store"
else not_ok "the old key no longer opens the store" "$out"; fi
# Only --init creates a store: the daemon refuses to start on a missing or
# empty one rather than make a new, empty store in its place.
cat >"$T/lost.yaml" <<EOF
conf_dir: $T/none
store: {path: $T/lost.db, key_file: $T/master.key}
control: {socket: $T/lost.sock}
worker: {user: nobody}
EOF
out=$(timeout 20 "$ROTAD" -c "$T/lost.yaml" 2>&1)
st=$?
if [ $st -ne 0 ] && [ $st -ne 124 ] && [ ! -e "$T/lost.db" ] &&
    echo "$out" | grep -q 'does not exist; rotad --init creates'; then
	ok "start refuses a missing store, and creates none"
else not_ok "start refuses a missing store, and creates none" "st=$st $out"; fi
: >"$T/lost.db"
chmod 600 "$T/lost.db"
out=$(timeout 20 "$ROTAD" -c "$T/lost.yaml" 2>&1)
st=$?
if [ $st -ne 0 ] && [ $st -ne 124 ] && [ ! -s "$T/lost.db" ] &&
    echo "$out" | grep -q 'is empty'; then
	ok "start refuses an empty store file, and leaves it empty"
else not_ok "start refuses an empty store file, and leaves it empty" "st=$st $out"; fi

# The daemon's own open holds the store to the key's rule, not only
# rotad -n: one that others may write is refused at start, with the
# message and fix -n gives, and left as it is; after the chmod it starts.
cat >"$T/live.yaml" <<EOF
conf_dir: $T/none
store: {path: $T/rotad.db, key_file: $T/master.key}
control: {socket: $T/live.sock}
worker: {path: $B/rotad-worker, user: nobody}
EOF
chmod 666 "$T/rotad.db"
out=$(timeout 20 "$ROTAD" -f -c "$T/live.yaml" 2>&1)
st=$?
if [ $st -ne 0 ] && [ $st -ne 124 ] && [ "$(stat -c %a "$T/rotad.db")" = 666 ] &&
    echo "$out" | grep -qF "store: $T/rotad.db has mode 0666: the store must not be writable by group or others, nor readable by others; fix: chmod 0600 $T/rotad.db"; then
	ok "start refuses a store others may write, with the fix, and leaves it"
else not_ok "start refuses a store others may write, with the fix, and leaves it" "st=$st $out"; fi
chmod 600 "$T/rotad.db"
"$ROTAD" -f -c "$T/live.yaml" >"$T/live.log" 2>&1 &
PID=$!
up=no
for i in $(seq 1 100); do
	ROTAD_SOCKET=$T/live.sock "$B/ctl/rotactl" status >/dev/null 2>&1 && up=yes && break
	kill -0 "$PID" 2>/dev/null || break
	sleep 0.1
done
kill -TERM "$PID" 2>/dev/null
wait "$PID"
st=$?
PID=
if [ $up = yes ] && [ $st = 0 ]; then
	ok "after chmod 0600 the daemon starts on it"
else not_ok "after chmod 0600 the daemon starts on it" "up=$up st=$st" "$(cat "$T/live.log")"; fi
exit $((failed > 0))
