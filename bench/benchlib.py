"""bench/benchlib.py: what the Python benches share.

The daemon (a private rotad in a directory of its own, driven through
its control socket), its event stream, CPU read from /proc, the limit
program (bench/rotate_limit), and the goal rows: a figure beside its
goal, and MISS where it misses, never hidden.

Passwords never reach an argv or an environment: files of mode 600,
the daemon's socket, a child's stdin.
"""
import base64
import json
import os
import re
import resource
import signal
import socket
import statistics
import subprocess
import threading
import time

SRC = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def write_private(path, text):
    """TEXT into PATH, created or truncated, mode 600."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)


def _stat_fields(pid):
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()


def cpu_split(pid):
    """(own, reaped children's) CPU seconds of PID, user + system."""
    tck = os.sysconf("SC_CLK_TCK")
    v = [int(x) for x in _stat_fields(pid)[11:15]]
    return (v[0] + v[1]) / tck, (v[2] + v[3]) / tck


def cpu_of(pid):
    """CPU seconds of PID and of its children it has reaped."""
    own, kids = cpu_split(pid)
    return own + kids


def tree_cpu(pid):
    """CPU seconds of PID, of the children it reaped and of those still
    running (a server's background processes: PostgreSQL's WAL writer,
    checkpointer, ...).  Read the live children first: one reaped in
    between counts twice rather than not at all, and is rare."""
    live = 0.0
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            f = _stat_fields(p)
            if int(f[1]) == pid:
                live += cpu_of(int(p))
        except (OSError, IndexError, ValueError):
            pass
    return live + cpu_of(pid)


def machine():
    """The machine's state for a bench's header and footer: the load
    averages, and the share of the last 60 s some task stalled on I/O
    and on the CPU (/proc/pressure, where the kernel has it).  Other
    work on the machine shows here, and in every figure."""
    load = os.getloadavg()
    text = f"load {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
    for what in ("io", "cpu"):
        try:
            with open(f"/proc/pressure/{what}") as f:
                some = f.readline().split()
            text += f", {what} pressure {some[2].split('=')[1]}%"
        except (OSError, IndexError):
            pass
    return text + f", {os.cpu_count()} CPUs"


def percentile(v, p):
    """The P-th percentile of V, nearest rank."""
    v = sorted(v)
    return v[min(len(v) - 1, int(round(p / 100.0 * (len(v) - 1))))]


def timed(argv, **kw):
    """Run ARGV; (wall seconds, CPU seconds of it and its descendants,
    CompletedProcess).  CPU comes from RUSAGE_CHILDREN, so nothing else
    may be reaped meanwhile."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    r = subprocess.run(argv, capture_output=True, text=True, **kw)
    dt = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + \
        (after.ru_stime - before.ru_stime)
    return dt, cpu, r


class Goal:
    """Goal rows, counting the misses."""

    def __init__(self):
        self.misses = 0

    def row(self, what, value, goal=None, ok=True, width=40, vwidth=14):
        if goal is None:
            print(f"  {what:<{width}} {value:>{vwidth}}")
            return
        if not ok:
            self.misses += 1
        print(f"  {what:<{width}} {value:>{vwidth}}   goal {goal:<12} "
              f"{'met' if ok else 'MISS'}")


# ---- the control socket ----

def call(sock_path, req, timeout=60):
    """One request on a fresh connection; its final answer."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(sock_path)
    s.sendall((json.dumps(dict(req, v=1)) + "\n").encode())
    f = s.makefile("rb")
    while True:
        line = f.readline()
        if not line:
            s.close()
            return {}
        m = json.loads(line)
        if "ok" in m:
            s.close()
            return m


def encode(reqs):
    """REQS as the lines pipelined() sends."""
    return b"".join(json.dumps(dict(r, v=1, id=i)).encode() + b"\n"
                    for i, r in enumerate(reqs))


def pipelined(sock_path, reqs, timeout=120, data=None):
    """Send REQS on one connection at once (DATA: encode(REQS), made
    beforehand); the answers, by request.
    A thread writes while this one reads: the daemon stops reading a
    client that leaves 64 KB of answers unread (control.c's
    backpressure), and a client that wrote everything first would wait on
    it forever (3,000 `run` requests did)."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(sock_path)
    if data is None:
        data = encode(reqs)
    writer = threading.Thread(target=s.sendall, args=(data,), daemon=True)
    writer.start()
    f = s.makefile("rb")
    out = [None] * len(reqs)
    for _ in reqs:
        line = f.readline()
        if not line:
            break
        m = json.loads(line)
        out[m["id"]] = m
    writer.join(timeout)
    s.close()
    return out


class Events:
    """The daemon's events from now on (`events` with "follow"), read by
    a thread: each kept as (the time this process received it, on
    CLOCK_REALTIME, the event).  With ONLY (event names), the others are
    dropped unparsed: the reader then wakes the waiter once a kept event,
    not once an event, and takes less of the CPU the daemon it measures
    shares with it."""

    def __init__(self, sock_path, only=None):
        last = call(sock_path, {"cmd": "events", "limit": 1})
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.connect(sock_path)
        self.s.sendall((json.dumps({"v": 1, "cmd": "events", "follow": True,
                                    "since": last["result"]["last"]})
                        + "\n").encode())
        self.got = []
        self.only = None if only is None else \
            tuple(f'"name":"{n}"'.encode() for n in only)
        self.cond = threading.Condition()
        self.t = threading.Thread(target=self._read, daemon=True)
        self.t.start()

    def _read(self):
        f = self.s.makefile("rb")
        for line in f:
            now = time.time()
            if self.only is not None and \
                    not any(n in line for n in self.only):
                continue
            m = json.loads(line)
            ev = m.get("progress", {}).get("event")
            if ev is None:
                continue
            with self.cond:
                self.got.append((now, ev))
                self.cond.notify_all()

    def wait_for(self, pred, timeout):
        """Wait until PRED holds; whether it did within TIMEOUT seconds.
        PRED is given the (received, event) pairs that came since its
        last call (each once: it keeps its own count)."""
        end = time.monotonic() + timeout
        seen = 0
        with self.cond:
            while True:
                new, seen = self.got[seen:], len(self.got)
                if pred(new):
                    return True
                left = end - time.monotonic()
                if left <= 0:
                    return False
                self.cond.wait(min(left, 1.0))

    def close(self):
        try:
            self.s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.s.close()
        self.t.join(5)


# A run's last event: its record (the outcome), whatever the trigger.
RUN_END = ("record_rotation_scheduled_ok", "record_rotation_scheduled_fail",
           "record_rotation_on_demand_ok", "record_rotation_on_demand_fail")


class Daemon:
    """A private rotad in directory D: its main configuration (store,
    socket, worker as WORKER_USER, EXTRA lines) and one job file of
    JOBS text, started in the foreground, its log in D/log."""

    def __init__(self, build, d, jobs, extra="", worker_user="nobody",
                 start_timeout=120):
        self.d = d
        os.makedirs(os.path.join(d, "conf.d"), mode=0o700, exist_ok=True)
        self.sock = os.path.join(d, "rotad.sock")
        self.cfg = os.path.join(d, "rotad.yaml")
        with open(self.cfg, "w") as f:
            f.write(f"store: {{path: {d}/rotad.db, "
                    f"key_file: {d}/master.key}}\n"
                    f"control: {{socket: {self.sock}}}\n"
                    f"worker: {{path: {build}/rotad-worker, "
                    f"user: {worker_user}}}\n"
                    f"conf_dir: {d}/conf.d\n{extra}")
        with open(os.path.join(d, "conf.d", "bench.yaml"), "w") as f:
            f.write(jobs)
        rotad = os.path.join(build, "scheduler", "rotad")
        subprocess.run([rotad, "--init", "-c", self.cfg], check=True,
                       capture_output=True)
        self.log = open(os.path.join(d, "log"), "w")
        self.p = subprocess.Popen([rotad, "-f", "-c", self.cfg],
                                  stderr=self.log)
        t0 = time.monotonic()
        while time.monotonic() - t0 < start_timeout:
            try:
                if call(self.sock, {"cmd": "status"}).get("ok"):
                    self.ready = time.monotonic() - t0
                    return
            except OSError:
                if self.p.poll() is not None:
                    break
            time.sleep(0.05)
        self.stop()
        raise RuntimeError("rotad did not start; see " + self.log.name)

    def seed(self, pws):
        """Store each PWS[user] as the user's current secret."""
        ans = pipelined(self.sock, [
            {"cmd": "secret_set", "user": u,
             "value_b64": base64.b64encode(pw.encode()).decode()}
            for u, pw in pws.items()])
        bad = [a for a in ans if not (a and a.get("ok"))]
        if bad:
            raise RuntimeError(f"secret_set refused: {bad[0]}")

    def wave(self, users, timeout=3600):
        """Trigger every one of USERS at once, on one connection; the
        wave ends when the last run's record event arrives.  (seconds,
        run ids, the daemon's CPU seconds with its workers', the
        daemon's own).  The workers are the worker template's children,
        reaped by it: the template's and rotad-deliver's CPU, with their
        reaped children's, count through tree_cpu()."""
        reqs = [{"cmd": "rotate", "user": u} for u in users]
        data = encode(reqs)
        ev = Events(self.sock, only=RUN_END)
        try:
            own0 = cpu_split(self.p.pid)[0]
            all0 = tree_cpu(self.p.pid)
            t0 = time.perf_counter()
            ans = pipelined(self.sock, reqs, data=data)
            ids = {a["result"]["run"] for a in ans if a and a.get("ok")}
            if len(ids) != len(users):
                raise RuntimeError(f"{len(users) - len(ids)} triggers "
                                   "refused or coalesced")
            left = set(ids)

            def ended(new):
                left.difference_update(e.get("run_id") for _, e in new
                                       if e["name"] in RUN_END)
                return not left

            if not ev.wait_for(ended, timeout):
                raise RuntimeError("the wave did not end")
            dt = time.perf_counter() - t0
            # The last workers exit and are reaped by the template.
            time.sleep(0.2)
            own1 = cpu_split(self.p.pid)[0]
            all1 = tree_cpu(self.p.pid)
        finally:
            ev.close()
        return dt, sorted(ids), all1 - all0, own1 - own0

    def run_states(self, ids):
        ans = pipelined(self.sock, [{"cmd": "run", "run": i} for i in ids])
        return [a["result"]["run"]["state"] if a and a.get("ok") else "?"
                for a in ans]

    def current(self, users):
        """The current secret of each of USERS, by user (None: none)."""
        ans = pipelined(self.sock, [{"cmd": "secret_get", "user": u}
                                    for u in users])
        return {u: base64.b64decode(a["result"]["value_b64"]).decode()
                if a and a.get("ok") else None
                for u, a in zip(users, ans)}

    def stop(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
        try:
            rc = self.p.wait(60)
        except subprocess.TimeoutExpired:
            self.p.kill()
            rc = self.p.wait()
        self.log.close()
        return rc


# ---- the limit ----

class Limit:
    """bench/rotate_limit for FAMILY (pg or mysql), the admin's
    connection in a file of DIR (mode 600) made from CONN (a dict:
    host, port, ca, user, password, ...)."""

    def __init__(self, build, family, d, conn):
        self.bin = os.path.join(build, "bench", "rotate_limit")
        self.family = family
        self.d = d
        self.conn = os.path.join(d, f"{family}-limit.conn")
        write_private(self.conn, "".join(f"{k}={v}\n"
                                         for k, v in conn.items()))

    def users_file(self, name, users):
        path = os.path.join(self.d, name)
        with open(path, "w") as f:
            f.write("\n".join(users) + "\n")
        return path

    def wave(self, users_file, stored, procs=2):
        """Rotate every user of USERS_FILE with PROCS processes, the new
        passwords appended to STORED; (seconds, CPU seconds)."""
        dt, cpu, r = timed([self.bin, self.family, self.conn, users_file,
                            stored, str(procs)])
        if r.returncode != 0:
            raise RuntimeError("the limit failed: " + r.stderr[-2000:])
        return dt, cpu

    def check(self, users, pws):
        """The users of USERS whose password in PWS (by user) does not
        log in, or who have none."""
        stored = os.path.join(self.d, "check.stored")
        missing = [u for u in users if pws.get(u) is None]
        write_private(stored, "".join(f"{u}\t{pws[u]}\n" for u in users
                                      if pws.get(u) is not None))
        uf = self.users_file("check.users",
                             [u for u in users if pws.get(u) is not None])
        try:
            r = subprocess.run([self.bin, self.family, "-c", self.conn, uf,
                                stored], capture_output=True, text=True)
        finally:
            os.unlink(stored)
        bad = missing + [l[4:] for l in r.stdout.splitlines()
                         if l.startswith("bad ")]
        if r.returncode != 0 and len(bad) == len(missing):
            bad.append(f"(rotate_limit -c failed: {r.stderr[-500:]})")
        return sorted(set(bad))


def read_stored(path):
    """The last password of each login in a LOGIN<TAB>PASSWORD file."""
    out = {}
    with open(path) as f:
        for line in f:
            u, _, pw = line.rstrip("\n").partition("\t")
            out[u] = pw
    return out


# ---- rotate_pg and rotate_mysql: rotad, the limit and the bash loop ----

SIDES = ("rotad", "limit", "loop")
GOAL_VS_LIMIT = 0.8
GOAL_VS_LOOP = 6.0


def rounds_of(sides, rounds, n):
    """Run each of SIDES ((name, fn) in SIDES order; fn() gives (seconds,
    client CPU s, server CPU s, rotad's own CPU s or None) for N
    rotations) once a round, the order turning by one each round; the
    results by side, a round a row."""
    res = {name: [] for name, _ in sides}
    for i in range(rounds):
        order = sides[i % len(sides):] + sides[:i % len(sides)]
        for name, fn in order:
            res[name].append(fn())
        print(f"  round {i + 1} ({', '.join(s for s, _ in order)}): " +
              ", ".join(f"{s} {n / res[s][-1][0]:.1f}" for s, _ in sides) +
              " rot/s", flush=True)
    return res


def lost_of(dm, limit, ids, users, stored, first, what):
    """What went missing: rotad runs of IDS that did not commit, and the
    WHAT (roles, accounts) of each side (USERS[side]) whose password in
    STORED[side] is still FIRST's or does not log in."""
    lost = []
    states = dm.run_states(ids)
    failed = [s for s in states if s != "committed"]
    if failed:
        lost.append(f"{len(failed)} of {len(states)} rotad runs did not "
                    f"commit ({sorted(set(failed))})")
    for side in SIDES:
        same = [u for u in users[side] if stored[side].get(u) == first[u]]
        if same:
            lost.append(f"{side}: {len(same)} {what} never rotated "
                        f"({same[0]}, ...)")
        bad = limit.check(users[side], stored[side])
        if bad:
            lost.append(f"{side}: {len(bad)} {what} do not log in with the "
                        f"stored password ({', '.join(bad[:5])})")
    return lost


def report(res, n, rounds, what, lost):
    """The three sides' table (medians of the rounds), rotad's ratios
    beside the goals, and what was lost; the exit status (1: lost)."""
    def med(side, k):
        return statistics.median(r[k] for r in res[side])

    def line(what, cells):
        print(f"  {what:<36} {cells[0]:>9} {cells[1]:>9} {cells[2]:>10}")

    line("", ("rotad", "limit", "bash loop"))
    rate = {s: n / med(s, 0) for s in SIDES}
    line("rotations per second (median)", [f"{rate[s]:.1f}" for s in SIDES])
    line("CPU per rotation, client (ms)",
         [f"{1000 * med(s, 1) / n:.1f}" for s in SIDES])
    line("  of which the daemon itself (ms)",
         (f"{1000 * med('rotad', 3) / n:.1f}", "-", "-"))
    line("CPU per rotation, server (ms)",
         [f"{1000 * med(s, 2) / n:.1f}" for s in SIDES])
    goal = Goal()
    r1 = rate["rotad"] / rate["limit"]
    r2 = rate["rotad"] / rate["loop"]
    goal.row("rotad / limit (2 processes)", f"{r1:.2f}x",
             f">= {GOAL_VS_LIMIT}x", r1 >= GOAL_VS_LIMIT, width=36, vwidth=9)
    goal.row("rotad / bash loop", f"{r2:.2f}x", f">= {GOAL_VS_LOOP:.0f}x",
             r2 >= GOAL_VS_LOOP, width=36, vwidth=9)
    print(f"  after: {machine()}")
    if lost:
        print("  LOST:")
        for text in lost[:20]:
            print("    " + text)
        return 1
    print(f"  nothing lost: {rounds * n} rotad runs committed; all {3 * n} "
          f"{what} log in with their stored passwords")
    return 0


# ---- run-scheduler and run-burst: scheduled fires, watched ----

FIRE_TAKEN = re.compile(r"ROTAD-0010 (\S+): due, taken (-?\d+) us late")


def noop_due_jobs(due):
    """Job file lines of noop users, each firing once: DUE maps a user's
    name to the second (epoch, UTC) it is due."""
    lines = []
    for name, t in due.items():
        tm = time.gmtime(t)
        lines.append(f"  {name}: {{noop: true, schedule: {{cron: "
                     f"\"{tm.tm_sec} {tm.tm_min} {tm.tm_hour} {tm.tm_mday} "
                     f"{tm.tm_mon} ? {tm.tm_year}\", tz: UTC}}}}")
    return lines


class FireWatch:
    """The fires of the noop users of DUE (name -> due second) on the
    daemon at SOCK_PATH, followed from before the first is due: when
    each was taken (the daemon's log), and when its run started and
    committed, by the events' stamps and by when this process received
    them (from outside the daemon), each in ms after the user's due
    second."""

    def __init__(self, sock_path, due):
        self.due = due
        self.ev = Events(sock_path)
        self.got = []

    def wait(self, timeout):
        """Until every user's run has ended; whether they all did in
        TIMEOUT seconds.  Stops following either way."""
        left = set(self.due)

        def done(new):
            left.difference_update(e.get("user") for _, e in new
                                   if e["name"] in RUN_END)
            return not left

        ok = self.ev.wait_for(done, timeout)
        self.got = list(self.ev.got)
        self.ev.close()
        return ok

    def last_received(self):
        """When the last event came (wall clock)."""
        return self.got[-1][0] if self.got else 0

    def figures(self, log_path):
        """{taken, started_stamp, started_rx, committed_stamp,
        committed_rx: [ms, ...]}, and what was lost (text)."""
        fig, lost = {"taken": []}, []
        for what, name in (("started", "rotation_started"),
                           ("committed", "record_rotation_scheduled_ok")):
            mine = [(rx, e) for rx, e in self.got
                    if e["name"] == name and e.get("user") in self.due]
            fig[what + "_stamp"] = [e["time"] - self.due[e["user"]] * 1000
                                    for _, e in mine]
            fig[what + "_rx"] = [(rx - self.due[e["user"]]) * 1000
                                 for rx, e in mine]
        n = len(fig["committed_stamp"])
        if n != len(self.due):
            lost.append(f"{n} of {len(self.due)} scheduled runs committed")
        with open(log_path) as f:
            for line in f:
                m = FIRE_TAKEN.search(line)
                if m and m.group(1) in self.due:
                    fig["taken"].append(int(m.group(2)) / 1000.0)
        if len(fig["taken"]) != len(self.due):
            lost.append(f"{len(fig['taken'])} fires logged, not "
                        f"{len(self.due)}")
        return fig, lost


def spread(v):
    """(p50, p99, max) of V; NaNs when empty."""
    return (percentile(v, 50), percentile(v, 99), max(v)) if v else \
        (float("nan"),) * 3


def lateness_table(head, figs, rows):
    """A table of ROWS ((what, key) of FIGS' lists): the medians over
    FIGS (one dict a round) of each round's p50, p99 and max."""
    def med(key, k):
        return statistics.median(spread(f[key])[k] for f in figs)

    print(f"  {head:<40} {'p50':>9} {'p99':>9} {'max':>9}")
    for what, key in rows:
        print(f"  {what:<40} {med(key, 0):>9.2f} {med(key, 1):>9.2f} "
              f"{med(key, 2):>9.1f}")


FIRE_ROWS = [("fire taken (the daemon's log)", "taken"),
             ("run started (event stamp)", "started_stamp"),
             ("run started (received outside)", "started_rx"),
             ("run committed (event stamp)", "committed_stamp"),
             ("run committed (received outside)", "committed_rx")]
