#!/usr/bin/python3
"""What systemd does for rotad-siem.socket and rotad-siem.service, for the
tests (here systemd is not PID 1): it binds and holds the listening socket,
starts the command with it (LISTEN_FDS, LISTEN_PID, LISTEN_FDNAMES), keeps
what the command hands it with FDSTORE=1 on NOTIFY_SOCKET (one, as
FileDescriptorStoreMax=1) and passes that too at the next start, and starts
the command again when it exits with status 3 (RestartForceExitStatus=3).
Any other exit ends this script with that status; SIGTERM is passed on,
and the command's status is then this script's.  --clear-env: the
command's environment holds only what systemd's passing sets, as the
unit's would (the unit sets no other).

  sdsocket.py --listen ADDR:PORT --dir DIR [--restart-delay S]
              [--clear-env] -- CMD...

Logs one line per event on stdout: "start N pid P fds NAMES",
"stored NAME", "exit pid P status S", "restart in S".  The socket's
name is "rotad-siem.socket", systemd's default.
"""
import argparse
import array
import os
import select
import signal
import socket
import sys
import time


def log(*a):
    print(*a, flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--listen", required=True)
    ap.add_argument("--dir", required=True)
    ap.add_argument("--restart-delay", type=float, default=0.0)
    ap.add_argument("--clear-env", action="store_true")
    ap.add_argument("cmd", nargs="+")
    o = ap.parse_args()

    host, port = o.listen.rsplit(":", 1)
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((host, int(port)))
    ls.listen(64)
    npath = os.path.join(o.dir, "notify")
    ns = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    ns.bind(npath)
    os.chmod(npath, 0o666)
    store = []  # (name, fd)
    child = None
    stopping = False

    def term(signum, frame):
        nonlocal stopping
        stopping = True
        if child is not None:
            try:
                os.kill(child, signal.SIGTERM)
            except ProcessLookupError:
                pass

    signal.signal(signal.SIGTERM, term)
    signal.signal(signal.SIGINT, term)
    starts = 0
    while True:
        fds = [ls.fileno()] + [fd for _, fd in store]
        names = ["rotad-siem.socket"] + [n for n, _ in store]
        starts += 1
        child = os.fork()
        if child == 0:
            high = [os.dup(fd) for fd in fds]
            for i, fd in enumerate(high):
                os.dup2(fd, 3 + i, inheritable=True)
            env = dict({} if o.clear_env else os.environ,
                       LISTEN_FDS=str(len(fds)),
                       LISTEN_PID=str(os.getpid()),
                       LISTEN_FDNAMES=":".join(names),
                       NOTIFY_SOCKET=npath)
            os.execvpe(o.cmd[0], o.cmd, env)
        log("start %d pid %d fds %s" % (starts, child, " ".join(names)))
        if stopping:  # a SIGTERM between the fork and the line above
            os.kill(child, signal.SIGTERM)
        status = None
        while status is None:
            try:
                r, _, _ = select.select([ns], [], [], 0.05)
            except InterruptedError:
                r = []
            if r:
                fdsize = array.array("i").itemsize
                msg, anc, _, _ = ns.recvmsg(4096, socket.CMSG_SPACE(4 * fdsize))
                got = []
                for lvl, typ, data in anc:
                    if lvl == socket.SOL_SOCKET and typ == socket.SCM_RIGHTS:
                        a = array.array("i")
                        a.frombytes(data[:len(data) - len(data) % fdsize])
                        got.extend(a)
                fields = dict(l.split("=", 1) for l in msg.decode().split("\n") if "=" in l)
                if fields.get("FDSTORE") == "1":
                    for fd in got:
                        if store:
                            log("store full, dropped")
                            os.close(fd)
                        else:
                            store.append((fields.get("FDNAME", "stored"), fd))
                            log("stored " + store[-1][0])
                else:
                    for fd in got:
                        os.close(fd)
            pid, st = os.waitpid(child, os.WNOHANG)
            if pid == child:
                status = os.waitstatus_to_exitcode(st)
        log("exit pid %d status %d" % (child, status))
        child = None
        if stopping or status != 3:
            sys.exit(status if status >= 0 else 128 - status)
        log("restart in %g" % o.restart_delay)
        time.sleep(o.restart_delay)
        if stopping:  # a SIGTERM while waiting: start nothing more
            sys.exit(0)


if __name__ == "__main__":
    main()
