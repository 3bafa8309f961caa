#!/bin/bash
# Integration test of the worker template (worker/forkserver.c,
# scheduler/template.c): the real daemon, as root, with workers as nobody,
# seen from outside through /proc and its log.  Speaks TAP.
#
#   tests/integration/template.sh BUILDDIR
#
# What docs/security.md says of it, each point checked on the running
# processes: the template is the daemon's child and holds no file of the
# daemon's and no secret; a step's worker is a fork of it with fds 0-2
# only, an empty environment and the sandbox in force, in the record of
# live workers; a template that dies takes its steps' workers with it,
# rotations go on by fork and exec, and another template starts; a reload
# starts a new one when the worker binary changed, and only then; and the
# daemon's death takes the template and its workers with it, and a
# step's end, however it comes, what its script left running; a library
# the template runs, replaced on disk as a package upgrade replaces it,
# makes the daemon start a new template without a reload, one
# rotad-deliver runs makes it end once idle for a fresh one, and one the
# daemon runs makes `status` say a restart is needed.  Needs a build
# configured with -Dtest_hooks=true.
set -u
B=$(realpath "$1")
ROTAD=$B/scheduler/rotad
ROTACTL=$B/ctl/rotactl
T=$(mktemp -d /tmp/rotad-template.XXXXXX)
UDPPID=
stop_all() {
	local p
	rotad_kill
	# Anything a script left behind, should a case fail.
	for p in $(pgrep -f "$T/" 2>/dev/null); do
		[ "$p" != "$$" ] && kill -KILL "$p" 2>/dev/null
	done
	[ -n "$UDPPID" ] && kill "$UDPPID" 2>/dev/null
	rm -rf "$T"
}
trap stop_all EXIT
export ROTAD_SOCKET=$T/rotad.sock
LIB=$(dirname "$(realpath "$0")")/lib
. "$LIB/tap.sh"
. "$LIB/rotad.sh"

if [ "$(id -u)" -ne 0 ]; then
	echo "1..0 # SKIP needs root (workers drop to nobody)"
	exit 0
fi
ctl() { "$ROTACTL" "$@"; }

chmod 755 "$T"
printf 'initial-secret-of-alice\n' >"$T/alice.pw"
printf 'initial-secret-of-sloth\n' >"$T/sloth.pw"
chmod 600 "$T"/*.pw
# A rotate script that takes its time, so that its worker can be looked
# at (python's sleep: the script's sandbox executes nothing but its
# interpreter); verify says yes.
cat >"$T/slow.py" <<'EOF'
import sys, time
sys.stdin.readline()
time.sleep(3)
print("rotated")
EOF
cat >"$T/ok.sh" <<'EOF'
#!/bin/sh
read -r line
echo verified
EOF
# Rotate scripts that leave a child running in the background, which
# tries to leave the step's process group first (setsid, setpgid: the
# sandbox refuses both); the script itself takes PAUSE seconds more.
for f in bg:1 bgkill:3; do
	cat >"$T/${f%:*}.py" <<EOF
import os, sys, time
sys.stdin.readline()
if os.fork() == 0:
    os.close(1)
    os.close(2)
    for leave in (os.setsid, lambda: os.setpgid(0, 0)):
        try:
            leave()
        except OSError:
            pass
    time.sleep(300)
    os._exit(0)
time.sleep(${f#*:})
print("rotated")
EOF
done
chmod 644 "$T/slow.py" "$T/bg.py" "$T/bgkill.py"
chmod 755 "$T/ok.sh"
mkdir -p "$T/conf.d"
cat >"$T/rotad.yaml" <<EOF
store: {path: $T/rotad.db, key_file: $T/master.key}
control: {socket: $T/rotad.sock}
max_workers: 4
worker: {path: $B/rotad-worker, user: nobody}
EOF
cat >"$T/conf.d/test.yaml" <<EOF
resources:
  box: {kind: machine, host: 127.0.0.1, protocol: test}
  slow:
    kind: api
    protocol: script
    rotate_script: {path: $T/slow.py, command: /usr/bin/python3}
    verify_script: $T/ok.sh
  bg: {kind: api, protocol: script, verify_script: $T/ok.sh,
       rotate_script: {path: $T/bg.py, command: /usr/bin/python3}}
  bgkill: {kind: api, protocol: script, verify_script: $T/ok.sh,
           rotate_script: {path: $T/bgkill.py, command: /usr/bin/python3}}
users:
  alice: {login: alice, resource: box, password_file: $T/alice.pw}
  sloth: {login: sloth, resource: slow, password_file: $T/sloth.pw, timeout: 30s}
  bgu: {login: bgu, resource: bg, password_file: $T/sloth.pw}
  bgk: {login: bgk, resource: bgkill, password_file: $T/sloth.pw}
EOF

# template_of PID: the daemon's template process (its child running
# rotad-worker --template).
template_of() { pgrep -P "$1" -f 'rotad-worker --template' | head -n 1; }
# nfilters PID: how many seccomp filters PID runs under (those it
# inherited too: counted relative to its parent's, so that a test run
# inside a filtered container still reads right).
nfilters() { awk '$1 == "Seccomp_filters:" { print $2 }' "/proc/$1/status" 2>/dev/null; }
# busy_worker TPID: the template's child that runs a step (sandboxed:
# its own seccomp filter over the template's; the idle ones have the
# template's alone).
busy_worker() {
	local p want=$(($(nfilters "$1") + 1))
	for p in $(pgrep -P "$1"); do
		[ "$(nfilters "$p")" = "$want" ] && echo "$p" && return 0
	done
	return 1
}
wait_busy() { # TPID: wait (10 s at most) for a busy worker; print it
	local i
	for i in $(seq 1 200); do
		busy_worker "$1" && return 0
		sleep 0.05
	done
	return 1
}
gone() { # PID [SECONDS]: wait until PID is gone (or a zombie)
	local i
	for i in $(seq 1 $((${2:-5} * 20))); do
		[ -e "/proc/$1" ] || return 0
		grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null && return 0
		sleep 0.05
	done
	return 1
}
# deliver_of PID: the daemon's rotad-deliver.
deliver_of() { pgrep -P "$1" -f rotad-deliver | head -n 1; }
# wait_udp N: wait (10 s at most) until the UDP receiver has N datagrams.
wait_udp() {
	local i
	for i in $(seq 1 100); do
		[ "$(wc -l <"$T/udp.log" 2>/dev/null || echo 0)" -ge "$1" ] && return 0
		sleep 0.1
	done
	return 1
}
# new_template OLD: wait (10 s at most) until the daemon's template is
# another than OLD and OLD is gone; print the new one's pid.
new_template() {
	local new= i
	for i in $(seq 1 100); do
		new=$(template_of "$DPID")
		[ -n "$new" ] && [ "$new" != "$1" ] && gone "$1" 1 && break
		sleep 0.1
	done
	echo "$new"
}
field() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }
# memory_has PID STRING: whether STRING is anywhere in PID's readable
# memory (root reads a non-dumpable process's /proc/PID/mem), read a
# chunk at a time (overlapping by the string's length). A mapping of
# over 1 TiB is reserved address space, not data: under ASan its shadow
# (15 TB of metadata), which read whole did not fit in memory, so the
# helper found nothing, not even what it must find.
memory_has() {
	python3 - "$1" "$2" <<'EOF'
import re, sys
pid, needle = sys.argv[1], sys.argv[2].encode()
CHUNK = 16 << 20
found = False
with open("/proc/%s/maps" % pid) as maps, open("/proc/%s/mem" % pid, "rb", 0) as mem:
    for line in maps:
        m = re.match(r"([0-9a-f]+)-([0-9a-f]+) (\S+)", line)
        if "r" not in m.group(3) or "[vvar" in line or "[vsyscall" in line:
            continue
        start, end = int(m.group(1), 16), int(m.group(2), 16)
        if end - start > 1 << 40:
            continue
        at = start
        while at < end and not found:
            try:
                mem.seek(at)
                found = needle in mem.read(min(CHUNK + len(needle), end - at))
            except OSError:
                pass
            at += CHUNK
        if found:
            break
sys.exit(0 if found else 1)
EOF
}

echo "1..16"

rotad_start "$T/rotad.yaml" "$T/log"
st=$?
TPID=$(template_of "$DPID")
[ $st -eq 0 ] && [ -n "$TPID" ] &&
    grep -q "ROTAD-0060 worker template started: pid $TPID, $B/rotad-worker, 4 workers kept ready" "$T/log"
verdict "the daemon starts its worker template and says so" $? "$ROTAD_OUT" "$(tail -5 "$T/log")"

# 2: what the template is, from outside: the daemon's uid, no_new_privs,
# its idle children, and of the daemon's files nothing (fd 2, the log the
# test gave the daemon, aside).
sleep 0.5
fds=$(cd "/proc/$TPID/fd" && for f in *; do [ "$f" = 2 ] || readlink "$f"; done)
idle=$(pgrep -P "$TPID" | wc -l)
[ "$(field "$TPID" Uid)" = 0 ] && [ "$(field "$TPID" NoNewPrivs)" = 1 ] &&
    [ "$(field "$TPID" Seccomp)" = 2 ] &&
    [ "$(nfilters "$TPID")" = "$(($(nfilters "$DPID") + 1))" ] &&
    [ "$idle" = 4 ] && [ "$(readlink "/proc/$TPID/fd/1")" = /dev/null ] &&
    ! printf '%s\n' "$fds" | grep -Ev '^(socket:|anon_inode:\[signalfd\]|/dev/null$)' | grep -q .
verdict "the template: no_new_privs, its seccomp filter, 4 idle children, no file of the daemon's open" $? \
    "idle=$idle" "$fds" "$(grep -E 'Uid|NoNewPrivs|Seccomp' "/proc/$TPID/status")"

# 3: a rotation through it commits.
out=$(ctl rotate --wait alice 2>&1)
echo "$out" | grep -q 'state: committed'
verdict "a rotation with a worker from the template commits" $? "$out" "$(tail -5 "$T/log")"

# 4: a step's worker, seen while it runs: the template's child, fds 0-2
# and the pipes to its script (made after the sandbox closed every other
# fd), no environment, nobody, seccomp, and in the record of live workers
# under its start time and the name the next life looks for.
ctl rotate sloth >/dev/null 2>&1
W=$(wait_busy "$TPID")
fdl=$(cd "/proc/$W/fd" 2>&1 && for f in *; do
	case $f in 0 | 1 | 2) echo "$f" ;; *) readlink "$f" | sed 's/:.*//' ;; esac
done | sort | uniq | xargs)
envl=$(tr '\0' '\n' <"/proc/$W/environ" 2>&1 | wc -c)
start_time=$(sed 's/.*) //' "/proc/$W/stat" | cut -d' ' -f20)
[ -n "$W" ] && [ "$(field "$W" PPid)" = "$TPID" ] && [ "$fdl" = "0 1 2 pipe" ] &&
    [ "$envl" = 0 ] && [ "$(field "$W" Uid)" = "$(id -u nobody)" ] &&
    [ "$(cat "/proc/$W/comm")" = rotad-worker ] &&
    grep -qx "$W $start_time" "$T/rotad.db.workers"
verdict "a step's worker: the template's child, fds 0-2 and its script's pipes, no environment, nobody, recorded" $? \
    "W=$W fds=$fdl env=$envl" "$(cat "$T/rotad.db.workers" 2>&1)" \
    "$(grep -E 'PPid|Uid|Seccomp' "/proc/$W/status" 2>&1)"
out=$(ctl rotate --wait sloth 2>&1)

# 5: no secret ever in the template: the current secrets of both users
# are not in its memory (where the argv it was started with is).
a=$(ctl secret get alice 2>&1)
s=$(ctl secret get sloth 2>&1)
memory_has "$TPID" "rotad-worker" && ! memory_has "$TPID" "$a" &&
    ! memory_has "$TPID" "$s" && ! memory_has "$TPID" "initial-secret-of"
verdict "no secret in the template's memory" $? "$out"

# 6: the template dies mid-step: the step's worker dies with it, the log
# says so, the run still ends, a rotation meanwhile runs by fork and
# exec, and another template starts.
ctl rotate sloth >/dev/null 2>&1
W=$(wait_busy "$TPID")
kill -KILL "$TPID"
bad=
gone "$W" || bad="the step's worker outlived the template"
# The daemon hears of the template's death on its own turn, which may
# come after the worker's: wait for the line (10 s at most).
for _ in $(seq 1 100); do
	grep -q "ROTAD-0060 worker template (pid $TPID) killed by signal 9" "$T/log" && break
	sleep 0.1
done
grep -q "ROTAD-0060 worker template (pid $TPID) killed by signal 9" "$T/log" ||
    bad="$bad; not logged"
out=$(ctl rotate --wait alice 2>&1)
echo "$out" | grep -q 'state: committed' || bad="$bad; a rotation meanwhile: $out"
out=$(timeout 60 "$ROTACTL" rotate --wait sloth 2>&1)
echo "$out" | grep -Eq 'state: (committed|failed)' || bad="$bad; the run did not end: $out"
NEW=
for _ in $(seq 1 200); do
	NEW=$(template_of "$DPID")
	[ -n "$NEW" ] && [ "$NEW" != "$TPID" ] && break
	sleep 0.1
done
[ -n "$NEW" ] && [ "$NEW" != "$TPID" ] || bad="$bad; no new template"
verdict "a template killed mid-step: its worker dies, rotations go on, another starts" \
    "$([ -z "$bad" ]; echo $?)" "$bad" "$(grep -E 'ROTAD-00(1[2-5]|4[01]|60)' "$T/log" | tail -12)"
TPID=$NEW

# 7: after that restart, workers are the new template's again.
ctl rotate sloth >/dev/null 2>&1
W=$(wait_busy "$TPID")
[ -n "$W" ]
verdict "the new template serves the next step" $? "$(tail -5 "$T/log")"
ctl rotate --wait sloth >/dev/null 2>&1

# 8: a reload that changes nothing the template runs keeps it: a new one
# would be a fork of the daemon at every reload.
ctl reload >/dev/null 2>&1
out=$(ctl rotate --wait alice 2>&1)
[ "$(template_of "$DPID")" = "$TPID" ] && ! gone "$TPID" 1 &&
    echo "$out" | grep -q 'state: committed'
verdict "a reload with the worker binary unchanged keeps the template" $? \
    "template $TPID, now $(template_of "$DPID")" "$out"

# 9: a reload after the worker binary changed (here its times: a rebuilt
# or replaced file changes them too) starts a new template; the old one
# exits.
touch "$B/rotad-worker"
ctl reload >/dev/null 2>&1
NEW=$(new_template "$TPID")
out=$(ctl rotate --wait alice 2>&1)
[ -n "$NEW" ] && [ "$NEW" != "$TPID" ] && gone "$TPID" 1 &&
    echo "$out" | grep -q 'state: committed'
verdict "a reload after the worker binary changed starts a new template, the old one exits" $? "old=$TPID new=$NEW" "$out"
TPID=$NEW

# scripts_of NAME: wait (10 s at most) until two processes (the script
# and its background child) run NAME; print their pids.
scripts_of() {
	local p= i
	for i in $(seq 1 200); do
		p=$(pgrep -f "$T/$1" | xargs)
		[ "$(echo "$p" | wc -w)" -ge 2 ] && break
		sleep 0.05
	done
	echo "$p"
}
# none_left PIDS: wait (5 s at most) until none of PIDS runs.
none_left() {
	local p i left
	for i in $(seq 1 100); do
		left=
		for p in $1; do
			[ -e "/proc/$p" ] &&
			    ! grep -q '^State:[[:space:]]*Z' "/proc/$p/status" 2>/dev/null &&
			    left="$left $p"
		done
		[ -z "$left" ] && return 0
		sleep 0.05
	done
	echo "still running:$left"
	return 1
}

# 10: a script's background child ends with its step: the step's worker
# leads a process group that nothing of the script's can leave, and the
# template ends what is left of it when it reaps the worker.
ctl rotate --wait bgu >"$T/bgu.out" 2>&1 &
CPID=$!
kids=$(scripts_of bg.py)
wait "$CPID"
bad=
[ "$(echo "$kids" | wc -w)" -ge 2 ] || bad="not seen: the script and its child ($kids)"
grep -q 'state: committed' "$T/bgu.out" || bad="$bad; $(cat "$T/bgu.out")"
left=$(none_left "$kids") || bad="$bad; $left"
verdict "a script's background child, which tried setsid and setpgid, ends with its step" \
    "$([ -z "$bad" ]; echo $?)" "$bad" "$(ps -o pid,pgid,sid,args -p "${kids// /,}" 2>&1)"

# 11: and with a worker killed outright, which ran no handler: the
# template, reaping it, ends its group.
ctl rotate bgk >/dev/null 2>&1
kids=$(scripts_of bgkill.py)
W=$(wait_busy "$TPID")
bad=
[ "$(echo "$kids" | wc -w)" -ge 2 ] || bad="not seen: the script and its child ($kids)"
[ -n "$W" ] && kill -KILL "$W" || bad="$bad; no worker"
left=$(none_left "$kids") || bad="$bad; $left"
out=$(timeout 60 "$ROTACTL" rotate --wait bgk 2>&1)
echo "$out" | grep -Eq 'state: (committed|failed)' || bad="$bad; the run did not end: $out"
verdict "a worker killed outright: its script's background child ends too" \
    "$([ -z "$bad" ]; echo $?)" "$bad" "$(ps -o pid,pgid,sid,args -p "${kids// /,}" 2>&1)"

# 12: the daemon dies mid-step: its template and the step's worker die
# with it (each by its parent-death signal).
ctl rotate sloth >/dev/null 2>&1
W=$(wait_busy "$TPID")
kill -KILL "$DPID"
wait "$DPID" 2>/dev/null
DPID=
[ -n "$W" ] && gone "$TPID" && gone "$W"
verdict "the daemon killed mid-step: the template and the worker die with it" $? \
    "template $TPID worker $W" "$(ps -o pid,ppid,stat,args -p "$TPID" -p "${W:-1}" 2>&1)"

# 13: a daemon whose processes map libraries that are then replaced on
# disk.  The daemon runs in a mount namespace of its own (unshare -m)
# where copies are bind-mounted over the real files: of libseccomp,
# which the template maps, of libjansson, which the daemon maps, and of
# libcurl, which rotad-deliver maps (events go to a UDP receiver here).
# While nothing changes, the template's checks (before forks, once a
# second at most) find nothing and it stays, rotad-deliver goes on, and
# `status` names no replaced file.
LIBREAL=$(realpath "$(ldd "$B/rotad-worker" | awk '$1 ~ /^libseccomp/ { print $3 }')")
DLIBREAL=$(realpath "$(ldd "$ROTAD" | awk '$1 ~ /^libjansson/ { print $3 }')")
CLIBREAL=$(realpath "$(ldd "$B/deliver/rotad-deliver" | awk '$1 ~ /^libcurl/ { print $3 }')")
cp "$LIBREAL" "$T/libcopy.so"
cp "$DLIBREAL" "$T/dlibcopy.so"
cp "$CLIBREAL" "$T/clibcopy.so"
python3 -c 'import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 0))
open(sys.argv[1] + ".port", "w").write("%d\n" % s.getsockname()[1])
with open(sys.argv[1], "ab", buffering=0) as f:
    while True:
        f.write(s.recv(65536).replace(b"\n", b" ") + b"\n")' "$T/udp.log" &
UDPPID=$!
for _ in $(seq 1 50); do [ -s "$T/udp.log.port" ] && break; sleep 0.1; done
cat "$T/rotad.yaml" - >"$T/rotad2.yaml" <<EOF
events:
  delivery_path: $B/deliver/rotad-deliver
  sinks:
    - {name: u, type: udp, host: 127.0.0.1, port: $(cat "$T/udp.log.port")}
EOF
cat >"$T/inns" <<EOF
#!/bin/sh
exec unshare -m --propagation private -- sh -c \
    'mount --bind "\$1" "\$2" && mount --bind "\$3" "\$4" &&
     mount --bind "\$5" "\$6" && shift 6 && exec "\$@"' \
    sh "$T/libcopy.so" "$LIBREAL" "$T/dlibcopy.so" "$DLIBREAL" \
    "$T/clibcopy.so" "$CLIBREAL" "$ROTAD" "\$@"
EOF
chmod 755 "$T/inns"
ROTAD=$T/inns rotad_run "$T/rotad2.yaml" "$T/log2"
st=$?
TPID=$(template_of "$DPID")
ino=$(stat -c %i "$T/libcopy.so")
maps_copy=$(awk -v i="$ino" '$5 == i && $2 ~ /x/' "/proc/$TPID/maps" 2>&1)
ctl rotate --wait alice >/dev/null 2>&1
sleep 1.2
out=$(ctl rotate --wait alice 2>&1)
sleep 1.2
ctl rotate --wait alice >/dev/null 2>&1
dino=$(stat -c %i "$T/dlibcopy.so")
dmaps_copy=$(awk -v i="$dino" '$5 == i && $2 ~ /x/' "/proc/$DPID/maps" 2>&1)
status=$(ctl --json status 2>&1)
wait_udp 1
DELPID=$(deliver_of "$DPID")
cino=$(stat -c %i "$T/clibcopy.so")
cmaps_copy=$(awk -v i="$cino" '$5 == i && $2 ~ /x/' "/proc/$DELPID/maps" 2>&1)
[ $st -eq 0 ] && [ -n "$TPID" ] && [ -n "$maps_copy" ] &&
    [ -n "$dmaps_copy" ] && [ -n "$cmaps_copy" ] &&
    echo "$out" | grep -q 'state: committed' &&
    [ "$(template_of "$DPID")" = "$TPID" ] &&
    ! grep -qE 'replaced on disk|ended to run the code' "$T/log2" &&
    echo "$status" | grep -q '"replaced":null'
verdict "libraries that stay as they were: the template and rotad-deliver stay; status names nothing" $? \
    "st=$st template=$TPID copy=$ino maps: $maps_copy" "daemon: $dmaps_copy" \
    "deliver $DELPID: $cmaps_copy" "$status" "$out" "$(tail -5 "$T/log2")"

# 14: the copy is replaced as dpkg replaces a library (the new file in its
# place, the old one unlinked; here the mount lifted, the copy removed).
# At its next fork the template says so, the daemon logs it and starts
# another template, which maps the real file; the old one exits, and
# rotations go on, from the new one.
nsenter -t "$DPID" -m umount -l "$LIBREAL"
rm -f "$T/libcopy.so"
sleep 1.2
out=$(ctl rotate --wait alice 2>&1)
NEW=$(new_template "$TPID")
out2=$(ctl rotate --wait alice 2>&1)
[ -n "$NEW" ] && [ "$NEW" != "$TPID" ] && gone "$TPID" 1 &&
    grep -q "ROTAD-0060 worker template (pid $TPID) runs .*, replaced on disk since it started: starting another" "$T/log2" &&
    ! grep -q ' (deleted)$' "/proc/$NEW/maps" &&
    echo "$out" | grep -q 'state: committed' &&
    echo "$out2" | grep -q 'state: committed'
verdict "a library replaced on disk: a new template, without a reload; the old one exits" $? \
    "old=$TPID new=$NEW" "$out" "$out2" "$(grep ROTAD-0060 "$T/log2")"

# 15: the daemon's own library replaced the same way: the daemon cannot
# replace itself, and `status` says a restart is needed, naming the file
# (here the lifted mount's root, "/": dpkg's files keep their paths).
nsenter -t "$DPID" -m umount -l "$DLIBREAL"
rm -f "$T/dlibcopy.so"
sleep 1.1
status=$(ctl --json status 2>&1)
text=$(ctl status 2>&1)
echo "$status" | grep -q '"replaced":"/' &&
    echo "$text" | grep -q '^restart needed: the daemon runs .*, replaced on disk since it started'
verdict "the daemon's library replaced on disk: status says a restart is needed" $? \
    "$status" "$text"

# 16: rotad-deliver's libcurl replaced the same way: at its next batch
# it answers, then ends (exit 3), and the daemon says so as a notice; the
# batch after starts a fresh one, which maps the real file, and every
# event reaches the receiver.
nsenter -t "$DPID" -m umount -l "$CLIBREAL"
rm -f "$T/clibcopy.so"
sleep 1.1
got=$(wc -l <"$T/udp.log")
out=$(ctl rotate --wait alice 2>&1)
bad=
wait_udp $((got + 1)) || bad="the batch after the replacement did not arrive"
gone "$DELPID" 10 || bad="$bad; rotad-deliver $DELPID did not end"
got=$(wc -l <"$T/udp.log")
out2=$(ctl rotate --wait alice 2>&1)
wait_udp $((got + 1)) || bad="$bad; the next batch did not arrive"
NEWDEL=$(deliver_of "$DPID")
[ -n "$NEWDEL" ] && [ "$NEWDEL" != "$DELPID" ] || bad="$bad; no new rotad-deliver"
[ -n "$NEWDEL" ] && grep -q ' (deleted)$' "/proc/$NEWDEL/maps" 2>/dev/null &&
    bad="$bad; the new rotad-deliver maps a deleted file"
grep -q 'ROTAD-.* rotad-deliver ended to run the code now on disk' "$T/log2" ||
    bad="$bad; no notice"
grep -q 'rotad-deliver exited with status' "$T/log2" &&
    bad="$bad; logged as a failure"
echo "$out" | grep -q 'state: committed' && echo "$out2" | grep -q 'state: committed' ||
    bad="$bad; a rotation did not commit"
verdict "rotad-deliver's library replaced: it ends once idle, the next batch starts a fresh one, no event lost" \
    "$([ -z "$bad" ]; echo $?)" "$bad" "old=$DELPID new=$NEWDEL" \
    "$(grep -E 'rotad-deliver' "$T/log2" | tail -5)"

[ "$failed" -eq 0 ]
