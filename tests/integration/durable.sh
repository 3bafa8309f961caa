#!/bin/bash
# Group commit (scheduler/durable.h), watched from outside with strace:
# the daemon's store commits are not synced one by one, and yet no
# worker gets its request before a sync of the store's WAL that began
# after the last commit before its step (the protocol's rule: durable before
# each target change).  60 users of the test provider rotate at once; the
# daemon runs under strace (all its threads: the flush runs on libuv's
# pool):
#   - every request written to a worker comes after an fdatasync() of
#     the WAL that began after the daemon's last write to the WAL before
#     the worker started, and ended before the request (checked to fail
#     when the hold is taken out).  Its step's commits are among those
#     writes: a turn's commits go to the WAL as one transaction before
#     the loop waits again, and a step's request is built off the loop
#     (scheduler/storeq.h) after the turn that asked for it, its worker
#     started once it is;
#   - while the runs go on, the loop's thread makes no sync but SQLite's
#     of a new WAL header (once a log cycle, when a commit starts the log
#     over after a complete checkpoint): the WAL's flushes and the
#     checkpoints (the database's syncs) run on libuv's pool;
#   - fewer syncs than commits (rotad_store_flushes_total against
#     rotad_store_commits_total), every run committed;
#   - a daemon stopped with SIGTERM right after a wave leaves nothing
#     unsynced: its last WAL write is followed by a sync;
#   - rotactl's answers arrive, and `secret get` reads what a rotation
#     committed (the held answers are released);
#   - the store's reads for the control socket's listings (`run`, polled
#     here) and for the sinks (a file sink) go through the read
#     connection (scheduler/storeq.h), on the pool's threads: its reads
#     are many, none on the loop's thread, and the sink has every event.
# A power loss itself cannot be pulled here; what the rule needs of the
# kernel is that fdatasync() means what it says.
#   tests/integration/durable.sh BUILDDIR          Speaks TAP.
set -u
B=$(realpath "$1")
ROTAD=$B/scheduler/rotad
ROTACTL=$B/ctl/rotactl
T=$(mktemp -d /tmp/rotad-durable.XXXXXX)
PID= SPID=
stop_all() {
	# The daemon first (its workers die with it): strace killed first
	# would leave it running, detached.
	[ -n "$PID" ] && kill -KILL "$PID" 2>/dev/null
	if [ -n "$SPID" ]; then
		pkill -KILL -P "$SPID" 2>/dev/null
		wait "$SPID" 2>/dev/null
	fi
	rm -rf "$T"
}
trap stop_all EXIT
export ROTAD_SOCKET=$T/rotad.sock
. "$(dirname "$(realpath "$0")")/lib/tap.sh"
ctl() { "$ROTACTL" "$@"; }
N=60

if ! command -v strace >/dev/null; then
	echo "1..1"
	not_ok "strace is needed (scripts/install-deps installs it)"
	exit 1
fi
mkdir -p "$T/conf.d"
WU=rotad-test-worker
getent passwd "$WU" >/dev/null ||
    useradd --system --no-create-home --shell /usr/sbin/nologin "$WU"
printf 'first-secret-of-them-all\n' >"$T/first.pw"
chmod 600 "$T/first.pw"
cat >"$T/rotad.yaml" <<EOF
store: {path: $T/rotad.db, key_file: $T/master.key}
control: {socket: $T/rotad.sock}
max_workers: 8
worker: {path: $B/rotad-worker, user: $WU}
conf_dir: $T/conf.d
events:
  sinks:
    - {name: audit, type: file, path: $T/events.jsonl, format: json}
EOF
{
	echo "resources:"
	echo "  box: {kind: machine, host: 127.0.0.1, protocol: test, max_concurrent: 8}"
	echo "users:"
	for i in $(seq 1 $N); do
		echo "  u$i: {login: u$i, resource: box, password_file: $T/first.pw}"
	done
} >"$T/conf.d/a.yaml"

echo "1..9"
out=$("$ROTAD" -n -c "$T/rotad.yaml" 2>&1) &&
    out=$("$ROTAD" --init -c "$T/rotad.yaml" 2>&1)
verdict "rotad -n and --init" $? "$out"

# The daemon under strace from its start (its own child: no attaching to
# a running process, which a host may forbid), all its threads followed.
strace -f -qq -ttt -T -s 24 -x -o "$T/trace" \
    -e trace=pwrite64,pwritev,write,fdatasync,fsync,pipe2,clone,clone3,epoll_wait,pread64 \
    "$ROTAD" -f -c "$T/rotad.yaml" 2>>"$T/log" &
SPID=$!
for _ in $(seq 1 100); do
	ctl status >/dev/null 2>&1 && break
	sleep 0.1
done
PID=$(pgrep -P "$SPID" -x rotad)
# Which descriptors are the WAL: SQLite's, and the one durable.c syncs.
walfds=$(for f in /proc/$PID/fd/*; do
	[ "$(readlink "$f")" = "$T/rotad.db-wal" ] && basename "$f"
done | tr '\n' ' ')
dbfds=$(for f in /proc/$PID/fd/*; do
	[ "$(readlink "$f")" = "$T/rotad.db" ] && basename "$f"
done | tr '\n' ' ')
# The read connection (storeq.h): the store's file opened read only
# (fdinfo's flags, octal: the access mode is the low two bits).
readfds=$(for f in /proc/$PID/fd/*; do
	[ "$(readlink "$f")" = "$T/rotad.db" ] || continue
	fl=$(awk '$1 == "flags:" { print $2 }' "/proc/$PID/fdinfo/${f##*/}")
	[ $((0$fl & 3)) -eq 0 ] && basename "$f"
done | tr '\n' ' ')
[ -n "$PID" ] && [ -n "$walfds" ] && [ -n "$readfds" ]
verdict "the daemon runs under strace, its WAL open (fds $walfds), its read connection (fd $readfds)" $? \
    "$(tail -n 5 "$T/log")"

runs=()
for i in $(seq 1 $N); do
	runs+=("$(ctl --json rotate "u$i" | jget 'j["run"]' 2>/dev/null)")
done
done_all=1
for _ in $(seq 1 300); do
	done_all=0
	for r in "${runs[@]}"; do
		s=$(ctl --json run "$r" 2>/dev/null | jget 'j["run"]["state"]' 2>/dev/null)
		[ "$s" = committed ] || { done_all=1; break; }
	done
	[ "$done_all" = 0 ] && break
	sleep 0.1
done
verdict "all $N runs commit" "$done_all" "$(tail -n 5 "$T/log")"

m=$(ctl metrics 2>&1)
commits=$(echo "$m" | awk '$1 == "rotad_store_commits_total" { print $2 }')
flushes=$(echo "$m" | awk '$1 == "rotad_store_flushes_total" { print $2 }')
[ -n "$commits" ] && [ -n "$flushes" ] && [ "$flushes" -gt 0 ] &&
    [ "$flushes" -lt "$commits" ]
verdict "group commit: $flushes syncs for $commits commits" $? "$m"

got=$(ctl secret get u7 2>&1)
[ -n "$got" ] && [ "$got" != first-secret-of-them-all ]
verdict "secret get reads the rotated secret (answers released)" $? \
    "got ${#got} bytes (not shown: a secret)"

# A last wave, then SIGTERM at once: the daemon syncs before it goes.
for i in $(seq 1 8); do ctl rotate "u$i" >/dev/null 2>&1; done
PIDS=$PID
killed=$(date +%s.%N)
kill -TERM "$PID"
wait "$SPID" # strace ends with the daemon, with its status
st=$?
PID= SPID=

python3 - "$T/trace" "$walfds" "$PIDS" "$killed" "$readfds" "$dbfds" >"$T/audit" 2>&1 <<'EOF'
import re, sys
trace, walfds = sys.argv[1], set(sys.argv[2].split())
daemon = {sys.argv[3]}  # its threads join as they are cloned
line_re = re.compile(r'^(\d+)\s+(\d+\.\d+) (.*)$')
# Complete the calls strace cut in two (another thread ran between).
calls, pending = [], {}
for ln in open(trace):
    m = line_re.match(ln.rstrip("\n"))
    if not m:
        continue
    tid, t, rest = m.group(1), float(m.group(2)), m.group(3)
    if rest.endswith("<unfinished ...>"):
        # Without the space strace puts before the mark, so that the
        # call reads whole: "pwrite64(13, ..., 32, 0) = 32".
        pending[tid] = (t, rest[:-len("<unfinished ...>")].rstrip())
        continue
    r = re.match(r'<\.\.\. (\w+) resumed>(.*)$', rest)
    if r:
        t0, head = pending.pop(tid, (t, r.group(1) + "("))
        t, rest = t0, head + r.group(2)
    d = re.search(r'<(\d+\.\d+)>$', rest)
    dur = float(d.group(1)) if d else 0.0
    calls.append((t, t + dur, tid, rest))
calls.sort()
# The daemon's threads (libuv's pool: CLONE_THREAD); the worker template
# and the workers are other processes, left out.
for t0, t1, tid, c in calls:
    if tid in daemon and c.startswith(("clone(", "clone3(")) and \
            "CLONE_THREAD" in c:
        r = re.search(r'= (\d+)( <[\d.]+>)?$', c)
        if r:
            daemon.add(r.group(1))
calls = [x for x in calls if x[2] in daemon]
# A request is held from its worker's start (its pipes made) until a
# sync covers what the WAL had then: its step's commits were written to
# it at the end of an earlier turn of the loop, the one that asked for
# the request, which is built off the loop after that turn; it may go out
# later.
main = sys.argv[3]
pipe_w, syncs, walw, reqs = {}, [], [], []
for t0, t1, tid, c in calls:
    m = re.match(r'pipe2\(\[(\d+), (\d+)\]', c)
    if m:
        pipe_w[m.group(2)] = t0
        continue
    m = re.match(r'(\w+)\((\d+)', c)
    if not m:
        continue
    name, fd = m.group(1), m.group(2)
    if name in ("fdatasync", "fsync") and fd in walfds and c.rstrip().split("=")[-1].split("<")[0].strip() == "0":
        syncs.append((t0, t1))
    elif name in ("pwrite64", "pwritev") and fd in walfds:
        walw.append(t0)
    elif name == "write" and fd in pipe_w and \
            re.match(r'write\(\d+, "\\x00\\x00', c) and \
            "\\x74\\x65\\x73\\x74" in c:
        # a request (a length, then the test provider's name), not a
        # control answer on a reused fd: (its worker's start, now)
        reqs.append((pipe_w[fd], t0))
print(f"{len(reqs)} worker requests, {len(walw)} WAL writes, {len(syncs)} WAL syncs")
bad = 0
for start, w in reqs:
    before = [p for p in walw if p < start]
    if not before:
        continue
    last = before[-1]
    if not any(s0 > last and s1 <= w for s0, s1 in syncs):
        bad += 1
        if bad <= 5:
            print(f"request at {w:.6f} (worker started {start:.6f}): "
                  f"last WAL write before it {last:.6f}, no sync begun "
                  "after it and ended before the request")
last_w = walw[-1] if walw else 0
tail_ok = any(s0 > last_w for s0, s1 in syncs)
print("last WAL write synced before the exit:", tail_ok)
# The loop's own thread syncs nothing while the runs go on but the one
# sync SQLite makes of a new WAL header when a writer starts the log
# over after a complete checkpoint (the 32 bytes at 0, then the sync):
# neither the WAL's flushes nor the checkpoints' syncs.  From the first
# worker's start to the SIGTERM (whose stop syncs on the loop, as it
# should).
if reqs:
    w0, w1 = min(r[0] for r in reqs), float(sys.argv[4])
    sync = ("fdatasync(", "fsync(")
    mine = [(t0, c) for t0, t1, tid, c in calls if tid == main]
    on_loop, headers = [], 0
    for i, (t0, c) in enumerate(mine):
        if not (w0 <= t0 <= w1 and c.startswith(sync)):
            continue
        fd = re.match(r'\w+\((\d+)', c).group(1)
        prev = mine[i - 1][1] if i > 0 else ""
        if fd in walfds and re.match(r'pwrite64\(' + fd + r', .*, 32, 0\)',
                                     prev):
            headers += 1
        else:
            on_loop.append(f"{t0:.6f} {c} (after {prev[:60]})")
    off_loop = [c for t0, t1, tid, c in calls if tid != main and
                w0 <= t0 <= w1 and c.startswith(sync)]
    dbfds = set(sys.argv[6].split())
    db = [c for c in off_loop if re.match(r'\w+\((\d+)', c).group(1)
          in dbfds]
    print(f"syncs during the runs: {len(on_loop)} on the loop's thread "
          f"(and {headers} of a new WAL header), {len(off_loop)} on the "
          f"pool's ({len(db)} of the database: checkpoints)")
    for c in on_loop[:5]:
        print("  on the loop:", c)
# The read connection's reads while the runs go on, by thread: the
# loop's, and the others'.  (Opening it, at the start, reads its first
# page on the loop.)
readfds = set(sys.argv[5].split())
rd = [(tid, c) for t0, t1, tid, c in calls if c.startswith("pread64(") and
      re.match(r'pread64\((\d+)', c).group(1) in readfds and reqs and
      w0 <= t0 <= w1]
print(f"read connection: {sum(1 for t, c in rd if t != main)} reads on "
      f"the pool's threads, {sum(1 for t, c in rd if t == main)} on the "
      "loop's")
sys.exit(0 if reqs and syncs and bad == 0 and tail_ok else 1)
EOF
audit=$?
head -n 1 "$T/audit" | grep -q "^[1-9][0-9]* worker requests" && [ "$audit" -eq 0 ]
st6=$? # (the name's $(...) below would set $? again)
verdict "every worker request after a sync of the WAL begun after the last WAL write before its worker started ($(head -n 1 "$T/audit"))" \
    $st6 "$(cat "$T/audit")"
grep -q "^syncs during the runs: 0 on the loop's thread (and [0-9]* of a new WAL header), [1-9][0-9]* on the pool's ([1-9]" "$T/audit"
st7=$?
verdict "no sync on the loop's thread while the runs go on ($(grep '^syncs during' "$T/audit"))" \
    $st7 "$(cat "$T/audit")"
[ "$st" -eq 0 ] && grep -q "last WAL write synced before the exit: True" "$T/audit"
verdict "SIGTERM: exit 0, the last commits synced before the exit" $? \
    "exit $st" "$(tail -n 3 "$T/log")"
# Every run's record event in the sink, each once: its reads of the
# spool, off the loop, lost and repeated nothing.
ok_events=$(grep -c '"name":"record_rotation_on_demand_ok"' "$T/events.jsonl" 2>/dev/null)
seqs=$(grep -o '"seq":[0-9]*' "$T/events.jsonl" 2>/dev/null | sort | uniq -d | wc -l)
# The daemon's count of them, by queue (`rotactl metrics`, read above).
qd=$(echo "$m" | awk '$1 == "rotad_store_reads_total{queue=\"runs\"}" { print $2 }')
qs=$(echo "$m" | awk '$1 == "rotad_store_reads_total{queue=\"sinks\"}" { print $2 }')
qc=$(echo "$m" | awk '$1 == "rotad_store_reads_total{queue=\"control\"}" { print $2 }')
grep -q "^read connection: [1-9][0-9]* reads on the pool's threads, 0 on the loop's" "$T/audit" &&
    [ "${ok_events:-0}" -ge "$N" ] && [ "$seqs" -eq 0 ] &&
    [ "${qd:-0}" -ge "$N" ] && [ "${qc:-0}" -ge "$N" ] && [ "${qs:-0}" -gt 0 ]
st9=$?
verdict "the listings' and the sink's reads on the pool, none on the loop ($(grep '^read connection' "$T/audit"); jobs: $qd the runs', $qs the sinks', $qc the control socket's; $ok_events records in the sink)" \
    $st9 "$(grep '^read connection' "$T/audit"); duplicates: $seqs"
exit 0
