#!/usr/bin/env python3
"""The daemon <-> rotad-deliver messages (proto/deliver.c) in Python.

A message is a 4-byte big-endian length L, then L bytes of fields; a field
is a 1-byte tag, a 4-byte big-endian length and the value.  The type comes
first.  The tag numbers, bounds and which fields each type (and a sink's
kind) takes mirror the table at the top of proto/deliver.c, which is the
contract: change both or neither.

Messages are dicts keyed by the members of struct deliver_msg: "type"
("sink", "drop", "batch", "result"), "name", "kind" ("udp", "tcp", "tls",
"http"), "host", "port", "url", "server_name", "ca_pem", "cert_pem",
"key_pem", "auth", "content_type", "http_batch", "timeout_ms", "token",
"frames" (a list of bytes), "done", "error".  Strings may be str or
bytes.  encode_fields() builds any message, however malformed.

Driving rotad-deliver as the daemon does (fd 0 a Unix stream socket):

    sys.path.insert(0, "tests/lib"); import deliver
    d = deliver.Deliver("build/x/deliver/rotad-deliver", ["--user", "nobody"])
    d.send({"type": "sink", "name": "s", "kind": "udp", "host": "127.0.0.1",
            "port": 5514, "timeout_ms": 2000})
    res = d.batch("s", [b"<14>1 - - - - - - hello"])
    assert res["done"] == 1, res["error"]
    d.close()   # EOF: it exits 0

From the shell: python3 tests/lib/deliver.py selftest

Python 3 standard library only.
"""

import os
import select
import socket
import struct
import subprocess
import sys
import time

DELIVER_MAX = 8 * 1024 * 1024
DELIVER_BATCH_MAX = 256
DELIVER_FRAME_MAX = 64 * 1024
DELIVER_NAME_MAX = 64
DELIVER_HOST_MAX = 255
DELIVER_URL_MAX = 2048
DELIVER_PEM_MAX = 64 * 1024
DELIVER_AUTH_MAX = 4096
DELIVER_ERROR_MAX = 512
DELIVER_TIMEOUT_MAX_MS = 600000
DELIVER_CONTENT_TYPE_MAX = 255

TYPES = {"sink": 1, "drop": 2, "batch": 3, "result": 4}
KINDS = {"udp": 1, "tcp": 2, "tls": 3, "http": 4}

# name: (tag, kind, bound).  kind: "int" (bound: (min, max)), "str",
# "secret" (bytes, checked as the C side does), "bool", "token", "frame".
FIELDS = {
    "type": (1, "int", (1, len(TYPES))),
    "name": (2, "str", DELIVER_NAME_MAX),
    "kind": (3, "int", (1, len(KINDS))),
    "host": (4, "str", DELIVER_HOST_MAX),
    "port": (5, "int", (1, 65535)),
    "url": (6, "str", DELIVER_URL_MAX),
    "server_name": (7, "str", DELIVER_HOST_MAX),
    "ca_pem": (8, "str", DELIVER_PEM_MAX),
    "cert_pem": (9, "str", DELIVER_PEM_MAX),
    "key_pem": (10, "secret", DELIVER_PEM_MAX),
    "auth": (11, "secret", DELIVER_AUTH_MAX),
    "content_type": (12, "str", DELIVER_CONTENT_TYPE_MAX),
    "http_batch": (13, "bool", None),
    "timeout_ms": (14, "int", (1, DELIVER_TIMEOUT_MAX_MS)),
    "token": (15, "token", None),
    "frames": (16, "frame", DELIVER_FRAME_MAX),
    "done": (17, "int", (0, DELIVER_BATCH_MAX)),
    "error": (18, "str", DELIVER_ERROR_MAX),
}
BY_TAG = {v[0]: k for k, v in FIELDS.items()}

TLS_FIELDS = {"server_name", "ca_pem", "cert_pem", "key_pem"}
# (allowed, required) besides "type", by type and, for sinks, kind.
SINK_BASE = {"name", "kind", "timeout_ms"}
SINK_FIELDS = {
    "udp": (SINK_BASE | {"host", "port"},) * 2,
    "tcp": (SINK_BASE | {"host", "port"},) * 2,
    "tls": (SINK_BASE | {"host", "port"} | TLS_FIELDS,
            SINK_BASE | {"host", "port"}),
    "http": (SINK_BASE | {"url", "auth", "content_type", "http_batch"} |
             TLS_FIELDS, SINK_BASE | {"url"}),
}
TYPE_FIELDS = {
    "drop": ({"name"}, {"name"}),
    "batch": ({"name", "token", "frames"}, {"name", "token", "frames"}),
    "result": ({"name", "token", "done", "error"},
               {"name", "token", "done"}),
}


class DeliverError(ValueError):
    """A message the C codec would refuse (-EBADMSG / -EINVAL)."""


def _b(v):
    return v.encode() if isinstance(v, str) else bytes(v)


def _name(table, v):
    if isinstance(v, int):
        for k, n in table.items():
            if n == v:
                return k
        raise DeliverError("unknown number %d" % v)
    if v not in table:
        raise DeliverError("unknown name %r" % v)
    return v


def encode_fields(fields):
    """A message (prefix included) of (tag, value bytes) pairs, unchecked."""
    body = b"".join(struct.pack(">BI", tag, len(val)) + bytes(val)
                    for tag, val in fields)
    return struct.pack(">I", len(body)) + body


def _value_ok(name, v):
    tag, kind, bound = FIELDS[name]
    if not v or len(v) > bound or b"\0" in v:
        return False
    if name == "name":
        return all(c in b"abcdefghijklmnopqrstuvwxyz0123456789_-" for c in v)
    if name in ("auth", "content_type"):
        return b"\r" not in v and b"\n" not in v
    if name == "url":
        return (len(v) > 7 and v.startswith(b"http://")) or \
            (len(v) > 8 and v.startswith(b"https://"))
    return True


def _fields_ok(msg_type, kind, names):
    if msg_type == "sink":
        allowed, required = SINK_FIELDS.get(kind, (SINK_BASE, SINK_BASE))
    else:
        allowed, required = TYPE_FIELDS[msg_type]
    names = set(names) - {"type"}
    return names <= allowed and required <= names and \
        ("cert_pem" in names) == ("key_pem" in names)


def encode(msg):
    """MSG (a dict) as one message, prefix included; DeliverError where
    the C encoder returns -EINVAL or -EMSGSIZE."""
    t = _name(TYPES, msg["type"])
    kind = _name(KINDS, msg["kind"]) if "kind" in msg else None
    present = [k for k in FIELDS if k != "type" and msg.get(k) is not None
               and not (k == "http_batch" and not msg[k])]
    if not _fields_ok(t, kind, present):
        raise DeliverError("fields %s do not make a %s" % (present, t))
    fields = [(1, struct.pack(">I", TYPES[t]))]
    for k in present:
        tag, fk, bound = FIELDS[k]
        v = msg[k]
        if k == "kind":
            fields.append((tag, struct.pack(">I", KINDS[kind])))
        elif fk == "int":
            if not bound[0] <= v <= bound[1]:
                raise DeliverError("%s out of range" % k)
            fields.append((tag, struct.pack(">I", v)))
        elif fk == "bool":
            fields.append((tag, b"\1"))
        elif fk == "token":
            fields.append((tag, struct.pack(">Q", v)))
        elif fk == "frame":
            if not 1 <= len(v) <= DELIVER_BATCH_MAX:
                raise DeliverError("frames: 1 to %d" % DELIVER_BATCH_MAX)
            for f in v:
                f = _b(f)
                if not 1 <= len(f) <= bound:
                    raise DeliverError("frame of %d bytes" % len(f))
                fields.append((tag, f))
        else:
            v = _b(v)
            if fk == "secret":
                ok = v and len(v) <= bound and (
                    k != "auth" or _value_ok(k, v))
            else:
                ok = _value_ok(k, v)
            if not ok:
                raise DeliverError("%s refused" % k)
            fields.append((tag, v))
    out = encode_fields(fields)
    if len(out) - 4 > DELIVER_MAX:
        raise DeliverError("over DELIVER_MAX")
    return out


def decode(body):
    """One message's body (no prefix) as a dict; DeliverError where the C
    decoder returns -EBADMSG."""
    if len(body) > DELIVER_MAX:
        raise DeliverError("over DELIVER_MAX")
    msg, seen, i = {}, set(), 0
    while i < len(body):
        if len(body) - i < 5:
            raise DeliverError("truncated field header")
        tag, n = struct.unpack_from(">BI", body, i)
        val = body[i + 5:i + 5 + n]
        if len(val) != n:
            raise DeliverError("truncated field")
        i += 5 + n
        if (tag == 1) != (not seen):
            raise DeliverError("the type must come first, once")
        name = BY_TAG.get(tag)
        if name is None or (name in seen and name != "frames"):
            raise DeliverError("unknown or repeated tag %d" % tag)
        seen.add(name)
        _, fk, bound = FIELDS[name]
        if fk == "int":
            if n != 4:
                raise DeliverError("%s: not 4 bytes" % name)
            v = struct.unpack(">I", val)[0]
            if not bound[0] <= v <= bound[1]:
                raise DeliverError("%s out of range" % name)
            if name == "type":
                v = _name(TYPES, v)
            elif name == "kind":
                v = _name(KINDS, v)
            msg[name] = v
        elif fk == "bool":
            if val != b"\1":
                raise DeliverError("http_batch: only 1")
            msg[name] = True
        elif fk == "token":
            if n != 8:
                raise DeliverError("token: not 8 bytes")
            msg[name] = struct.unpack(">Q", val)[0]
        elif fk == "frame":
            frames = msg.setdefault("frames", [])
            if not 1 <= n <= bound or len(frames) == DELIVER_BATCH_MAX:
                raise DeliverError("frame refused")
            frames.append(val)
        elif fk == "secret":
            if not val or n > bound or (name == "auth" and
                                        not _value_ok(name, val)):
                raise DeliverError("%s refused" % name)
            msg[name] = val
        else:
            if not _value_ok(name, val):
                raise DeliverError("%s refused" % name)
            msg[name] = val.decode("utf-8", "replace")
    if not seen or not _fields_ok(msg["type"], msg.get("kind"), seen):
        raise DeliverError("fields missing or out of place")
    return msg


class Deliver:
    """A rotad-deliver process, driven as the daemon drives it."""

    def __init__(self, path, args=(), stderr=None, preexec_fn=None):
        self.sock, theirs = socket.socketpair(socket.AF_UNIX,
                                              socket.SOCK_STREAM)
        # The daemon's empty environment; a sanitizer build's options
        # pass (LeakSanitizer cannot run under the seccomp filter).
        env = {k: os.environ[k] for k in ("ASAN_OPTIONS", "UBSAN_OPTIONS")
               if k in os.environ}
        self.proc = subprocess.Popen([path] + list(args), stdin=theirs,
                                     stdout=subprocess.DEVNULL,
                                     stderr=stderr, env=env,
                                     close_fds=True, preexec_fn=preexec_fn)
        theirs.close()
        self.buf = b""
        self.token = 0
        self.results = {}

    def send(self, msg):
        self.sock.sendall(encode(msg) if isinstance(msg, dict) else msg)

    def read_message(self, timeout):
        """The next message, decoded, or None at EOF or after TIMEOUT s."""
        end = time.monotonic() + timeout
        while True:
            if len(self.buf) >= 4:
                n = struct.unpack(">I", self.buf[:4])[0]
                if len(self.buf) >= 4 + n:
                    body, self.buf = self.buf[4:4 + n], self.buf[4 + n:]
                    return decode(body)
            left = end - time.monotonic()
            if left <= 0:
                return None
            r, _, _ = select.select([self.sock], [], [], left)
            if not r:
                return None
            data = self.sock.recv(65536)
            if not data:
                return None
            self.buf += data

    def result(self, token, timeout=30):
        """The RESULT for TOKEN (others read meanwhile are kept)."""
        end = time.monotonic() + timeout
        while token not in self.results:
            m = self.read_message(max(0.0, end - time.monotonic()))
            if m is None:
                return None
            if m["type"] != "result":
                raise DeliverError("not a result: %r" % m)
            self.results[m["token"]] = m
        return self.results.pop(token)

    def submit(self, name, frames):
        """Send a BATCH; its token."""
        self.token += 1
        self.send({"type": "batch", "name": name, "token": self.token,
                   "frames": [_b(f) for f in frames]})
        return self.token

    def batch(self, name, frames, timeout=30):
        """Send a BATCH and wait for its RESULT."""
        return self.result(self.submit(name, frames), timeout)

    def close(self, timeout=10):
        """EOF to the process; its exit status (None: still running)."""
        try:
            self.sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None
        finally:
            self.sock.close()

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.sock.close()


def selftest():
    """Round trips and refusals, as TAP."""
    n = 0
    failed = 0

    def check(name, cond):
        nonlocal n, failed
        n += 1
        print("%sok %d - %s" % ("" if cond else "not ", n, name))
        if not cond:
            failed += 1

    msgs = [
        {"type": "sink", "name": "s-1", "kind": "tls", "host": "h",
         "port": 6514, "server_name": "n", "ca_pem": "CA",
         "cert_pem": "C", "key_pem": b"K", "timeout_ms": 5},
        {"type": "sink", "name": "h", "kind": "http",
         "url": "https://x/y", "auth": b"Bearer t", "content_type": "a/b",
         "http_batch": True, "timeout_ms": 1000},
        {"type": "drop", "name": "x"},
        {"type": "batch", "name": "x", "token": 2 ** 64 - 1,
         "frames": [b"a", b"\0b"]},
        {"type": "result", "name": "x", "token": 7, "done": 1,
         "error": "e"},
    ]
    for m in msgs:
        d = decode(encode(m)[4:])
        same = all(_b(d[k]) == _b(v) if isinstance(v, (str, bytes)) else
                   d[k] == v for k, v in m.items() if k != "frames")
        same = same and d.get("frames") == m.get("frames")
        check("round trip of a %s" % m["type"], same)
    # The exact bytes test_deliver.c's test_exact_bytes wants.
    want = bytes([0, 0, 0, 0x2e, 1, 0, 0, 0, 4, 0, 0, 0, 4,
                  2, 0, 0, 0, 1, ord("x"),
                  15, 0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 1, 2,
                  17, 0, 0, 0, 4, 0, 0, 0, 1,
                  18, 0, 0, 0, 4]) + b"oops"
    check("the bytes test_deliver.c checks",
          encode({"type": "result", "name": "x", "token": 258, "done": 1,
                  "error": "oops"}) == want)
    bad = [
        encode_fields([(2, b"x")]),                       # no type first
        encode_fields([(1, b"\0\0\0\2")]),                # drop, no name
        encode_fields([(1, b"\0\0\0\2"), (2, b"x"), (2, b"y")]),
        encode_fields([(1, b"\0\0\0\2"), (2, b"X")]),     # bad name
        encode_fields([(1, b"\0\0\0\2"), (2, b"x"), (99, b"")]),
        encode_fields([(1, b"\0\0\0\3"), (2, b"x"), (15, b"\0" * 8)]),
        encode_fields([(1, b"\0\0\0\2"), (2, b"x"), (15, b"\0" * 8)]),
    ]
    for i, b in enumerate(bad):
        try:
            decode(b[4:])
            check("refusal %d" % i, False)
        except DeliverError:
            check("refusal %d" % i, True)
    print("1..%d" % n)
    return 1 if failed else 0


if __name__ == "__main__":
    if len(sys.argv) == 2 and sys.argv[1] == "selftest":
        sys.exit(selftest())
    print(__doc__, file=sys.stderr)
    sys.exit(2)
