"""tmplwire.py: the daemon <-> worker template protocol (proto/tmplwire.h)
from Python, for the tests: a template started as the daemon starts it
(scheduler/template.c), and a step run by one of its children, as
wire.call_worker() runs one in an exec'd worker.

    t = Template(worker_path)                 # rotad-worker --template
    status, res, err = call_forked(t, ["--provider", "test", ...], req, 30)
    t.close()

A message: version (1), type (1), argc (2), id (8), pid (4), status (4),
the argv area's length (4), big-endian, then the argv area (argc strings,
NUL-terminated); START carries fds 0, 1, 2 of the worker, READY a pidfd.
"""
import os
import select
import socket
import struct
import tempfile
import time

import wire

START, READY, EXITED = 1, 2, 3
HEADER = struct.Struct(">BBHQiiI")
MAX = 64 * 1024


def encode(type_, id_=0, pid=0, status=0, argv=()):
    area = b"".join(a.encode() + b"\0" for a in argv)
    return HEADER.pack(1, type_, len(argv), id_, pid, status,
                       len(area)) + area


def decode(buf):
    version, type_, argc, id_, pid, status, alen = HEADER.unpack_from(buf)
    area = buf[HEADER.size:]
    if version != 1 or len(area) != alen:
        raise ValueError("not a tmplwire message")
    argv = [a.decode() for a in area.split(b"\0")[:-1]] if argc else []
    return type_, id_, pid, status, argv


class Template:
    """A running `rotad-worker --template`, this process its daemon.

    ENV is its environment (empty, as the daemon gives it) and PASS_FDS
    descriptors it inherits besides its socket: a test gives it what the
    daemon never would, to see that none reaches a worker.
    """

    def __init__(self, worker, pool=1, env=None, pass_fds=()):
        self.sock, theirs = socket.socketpair(socket.AF_UNIX,
                                              socket.SOCK_SEQPACKET)
        self.log = tempfile.TemporaryFile()
        import subprocess
        self.proc = subprocess.Popen(
            [worker, "--template", "--parent", str(os.getpid()),
             "--pool", str(pool)],
            stdin=theirs, stdout=subprocess.DEVNULL, stderr=self.log,
            env=env if env is not None else {}, pass_fds=tuple(pass_fds))
        theirs.close()
        self.idle = []    # (id, pid, pidfd)
        self.exited = {}  # id -> waitpid() status

    def _recv(self, timeout):
        r, _, _ = select.select([self.sock], [], [], max(timeout, 0))
        if not r:
            raise TimeoutError("no message from the template")
        msg, fds, _, _ = socket.recv_fds(self.sock, MAX, 3)
        if not msg:
            raise EOFError("the template closed its socket: %s" %
                           self.stderr())
        type_, id_, pid, status, _ = decode(msg)
        if type_ == READY and len(fds) == 1:
            self.idle.append((id_, pid, fds[0]))
            return
        for fd in fds:
            os.close(fd)
        if type_ == EXITED:
            self.exited[id_] = status

    def start(self, argv, fds, timeout=10):
        """Hand ARGV (without argv[0]) and FDS (0, 1, 2) to an idle child:
        (id, pid, pidfd)."""
        end = time.monotonic() + timeout
        while not self.idle:
            self._recv(end - time.monotonic())
        id_, pid, pidfd = self.idle.pop(0)
        socket.send_fds(self.sock, [encode(START, id_, argv=argv)], fds)
        return id_, pid, pidfd

    def wait(self, id_, timeout):
        """The waitpid() status of child ID, once the template says."""
        end = time.monotonic() + timeout
        while id_ not in self.exited:
            self._recv(end - time.monotonic())
        return self.exited.pop(id_)

    def stderr(self):
        self.log.seek(0)
        return self.log.read().decode("utf-8", "backslashreplace")

    def close(self):
        for _, _, pidfd in self.idle:
            os.close(pidfd)
        self.sock.close()
        self.proc.wait(10)


def _communicate(fd_in, msg, fd_out, fd_err, timeout):
    """Write MSG to FD_IN and close it; read FD_OUT and FD_ERR to EOF."""
    end = time.monotonic() + timeout
    out, err = b"", b""
    try:
        os.write(fd_in, msg)  # a request fits in a pipe's buffer
    except BrokenPipeError:
        pass
    os.close(fd_in)
    open_fds = {fd_out, fd_err}
    while open_fds:
        r, _, _ = select.select(list(open_fds), [], [],
                                max(end - time.monotonic(), 0))
        if not r:
            raise TimeoutError("the worker ran past %ss" % timeout)
        for fd in r:
            data = os.read(fd, 65536)
            if not data:
                open_fds.discard(fd)
                os.close(fd)
            elif fd == fd_out:
                out += data
            else:
                err += data
    return out, err


def call_forked(template, argv_extra, request_dict, timeout, on_start=None):
    """wire.call_worker(), the worker one of TEMPLATE's children.

    Returns (exit_status, response_dict, stderr_text) as call_worker does
    (exit_status negative: killed by that signal).  ON_START, if given, is
    called with the worker's pid once it has its START.
    """
    if isinstance(request_dict, (bytes, bytearray)):
        msg = bytes(request_dict)
    else:
        msg = wire.encode_request(request_dict)
    in_r, in_w = os.pipe()
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    id_, pid, pidfd = template.start(list(argv_extra), [in_r, out_w, err_w])
    for fd in (in_r, out_w, err_w):
        os.close(fd)
    if on_start is not None:
        on_start(pid)
    try:
        out, err = _communicate(in_w, msg, out_r, err_r, timeout)
    except TimeoutError:
        os.kill(pid, 9)
        raise
    finally:
        status = template.wait(id_, timeout)
        os.close(pidfd)
    code = (-os.WTERMSIG(status) if os.WIFSIGNALED(status)
            else os.WEXITSTATUS(status))
    text = err.decode("utf-8", "backslashreplace")
    if not out:
        return code, None, text
    return code, wire.decode_response(wire.split_message(out)), text
