#!/usr/bin/env python3
"""The worker wire codec (proto/wire.c) in Python, for tests.

A message is a 4-byte big-endian length L, then L bytes of fields; a field
is a 1-byte tag, a 4-byte big-endian length and the value.  The tag
numbers and bounds below mirror the table at the top of proto/wire.c,
which is the contract: change both or neither.

Use from a test:

    sys.path.insert(0, "tests/lib"); import wire
    status, res, err = wire.call_worker("build/x/rotad-worker",
        ["--provider", "test"],
        {"op": "apply", "provider": "test", "login": "app",
         "new_secret": b"s3cret-candidate"}, timeout=10)
    assert res["class"] == "none", res["message"]

Requests are dicts keyed by the members of struct wire_request; "op" is
"apply", "verify" or "script" (or its number); secrets (current,
new_secret, admin, script_input) are bytes (a str is taken as UTF-8);
"params", the provider's own settings (postgresql's database, ...), is a
dict of str to str, in the order they go on the wire (empty: left out).
Responses are dicts with "class" (its name), "message", "facts" (str) and
"output" (bytes or None).  encode_fields() builds any message, however
malformed, to test the worker's refusals.

From the shell (secrets in JSON are strings, or {"hex": "..."}):

    python3 tests/lib/wire.py encode-request '{"op": "verify", ...}'
    python3 tests/lib/wire.py encode-response '{"class": "auth", ...}'
    python3 tests/lib/wire.py decode-response HEX
    python3 tests/lib/wire.py selftest

A batch (a provider with CATALOG_CAP_BATCH, up to WIRE_BATCH_MAX
requests): call_worker_batch(worker, argv, [req, ...], timeout) returns
(status, [res, ...], stderr).

The encoders print the whole message (length prefix included) in hex;
--raw writes the bytes instead, --body leaves the prefix out.

Python 3 standard library only.
"""

import json
import os
import struct
import subprocess
import sys

WIRE_MAX = 1024 * 1024
WIRE_BATCH_MAX = 64
WIRE_MESSAGE_MAX = 1024
WIRE_FACTS_MAX = 1024
WIRE_OUTPUT_MAX = 64 * 1024
WIRE_PARAMS_MAX = 32
WIRE_PARAM_KEY_MAX = 63
WIRE_PARAM_VALUE_MAX = 4095
PARAM_KEY_CHARS = frozenset(b"abcdefghijklmnopqrstuvwxyz0123456789_")

OPS = {"apply": 1, "verify": 2, "script": 3}
CLASSES = ["none", "transient", "auth", "policy", "fatal"]

# name: (tag, kind, bound).  kind: "int" (bound = largest value, smallest
# 0 except op), "bool", "str" (bound = longest length, bytes), "secret",
# "params" (see encode_params()).  Tag 5 was database: retired, now a
# parameter, and refused as an unknown tag.
REQUEST_FIELDS = {
    "op": (1, "int", len(OPS)),
    "provider": (2, "str", 63),
    "host": (3, "str", 255),
    "port": (4, "int", 65535),
    "login": (6, "str", 1023),
    "dn": (7, "str", 1023),
    "admin_login": (8, "str", 1023),
    "tls_ca_file": (9, "str", 4095),
    "tls_verify": (10, "bool", 1),
    "timeout": (11, "int", 86400),
    "current": (12, "secret", None),
    "new_secret": (13, "secret", None),
    "admin": (14, "secret", None),
    "script_path": (15, "str", 4095),
    "script_command": (16, "str", 4095),
    "script_input": (17, "secret", None),
    "test_action": (18, "str", 255),
    "params": (19, "params", WIRE_PARAMS_MAX),
    "tls_disabled": (20, "bool", 1),
    "private_key": (21, "bool", 1),
    "passphrase": (22, "secret", None),
}
RESPONSE_FIELDS = {
    "class": (0x81, "int", len(CLASSES) - 1),
    "message": (0x82, "str", WIRE_MESSAGE_MAX - 1),
    "facts": (0x83, "str", WIRE_FACTS_MAX - 1),
    "output": (0x84, "bytes", WIRE_OUTPUT_MAX - 1),
    "untouched": (0x85, "bool", 1),
}
SECRETS = ("current", "new_secret", "admin", "script_input", "passphrase")


class WireError(ValueError):
    """A message the C codec would refuse (-EBADMSG / -EINVAL)."""


def encode_fields(fields):
    """A message (prefix included) of (tag, value bytes) pairs, unchecked."""
    body = b"".join(struct.pack(">BI", tag, len(val)) + bytes(val)
                    for tag, val in fields)
    return struct.pack(">I", len(body)) + body


def encode_param_entries(pairs):
    """The params field's value for (key, value) PAIRS, unchecked.

    Each entry is a 1-byte key length, the key, a 4-byte big-endian value
    length and the value (str taken as UTF-8): what proto/wire.c's table
    says.  For building malformed values too; encode_params() checks.
    """
    out = b""
    for k, v in pairs:
        k, v = _as_bytes(k), _as_bytes(v)
        out += struct.pack(">B", len(k)) + k + struct.pack(">I", len(v)) + v
    return out


def _param_key_ok(k):
    return 1 <= len(k) <= WIRE_PARAM_KEY_MAX and set(k) <= PARAM_KEY_CHARS


def encode_params(params):
    """PARAMS (a dict, or (key, value) pairs) as the params field's value.

    Raises WireError where the C encoder returns -EINVAL: more than
    WIRE_PARAMS_MAX, a key not 1..63 bytes of [a-z0-9_], a value over
    WIRE_PARAM_VALUE_MAX bytes or holding a NUL, a key twice.
    """
    pairs = list(params.items()) if isinstance(params, dict) else \
        list(params)
    if len(pairs) > WIRE_PARAMS_MAX:
        raise WireError("more than %d params" % WIRE_PARAMS_MAX)
    seen = set()
    for k, v in pairs:
        kb, vb = _as_bytes(k), _as_bytes(v)
        if not _param_key_ok(kb):
            raise WireError("param key %r: 1..63 of [a-z0-9_]" % k)
        if kb in seen:
            raise WireError("param %r twice" % k)
        seen.add(kb)
        if len(vb) > WIRE_PARAM_VALUE_MAX or b"\0" in vb:
            raise WireError("param %r: value too long or holds a NUL" % k)
    return encode_param_entries(pairs)


def decode_params(val):
    """The params field's value as a dict, as wire.c's get_params()."""
    out, i = {}, 0
    if not val:
        raise WireError("params: empty field")
    while i < len(val):
        if len(out) == WIRE_PARAMS_MAX:
            raise WireError("params: more than %d" % WIRE_PARAMS_MAX)
        klen = val[i]
        if len(val) - i - 1 < klen + 4:
            raise WireError("params: entry runs past the end")
        k = bytes(val[i + 1:i + 1 + klen])
        vlen = struct.unpack_from(">I", val, i + 1 + klen)[0]
        j = i + 1 + klen + 4
        if vlen > len(val) - j:
            raise WireError("params: value runs past the end")
        if not _param_key_ok(k):
            raise WireError("params: bad key %r" % k)
        ks = k.decode("ascii")
        if ks in out:
            raise WireError("params: %s twice" % ks)
        out[ks] = _str(val[j:j + vlen], WIRE_PARAM_VALUE_MAX, "param " + ks)
        i = j + vlen
    return out


def _split(body):
    """The (tag, value) pairs of BODY; WireError when one runs past."""
    if len(body) > WIRE_MAX:
        raise WireError("message over WIRE_MAX")
    i, out = 0, []
    while i < len(body):
        if len(body) - i < 5:
            raise WireError("truncated field header")
        tag, n = struct.unpack_from(">BI", body, i)
        i += 5
        if n > len(body) - i:
            raise WireError("field %d runs past the end" % tag)
        out.append((tag, body[i:i + n]))
        i += n
    return out


def _int(val, lo, hi, name):
    if len(val) != 4:
        raise WireError("%s: an int is 4 bytes" % name)
    v = struct.unpack(">I", val)[0]
    if not lo <= v <= hi:
        raise WireError("%s: %d out of range" % (name, v))
    return v


def _str(val, bound, name):
    if len(val) > bound or b"\0" in val:
        raise WireError("%s: too long or holds a NUL" % name)
    return val.decode("utf-8", "backslashreplace")


def _as_bytes(v):
    return v.encode("utf-8") if isinstance(v, str) else bytes(v)


def _complete(req):
    """Whether REQ (decoded form) has what its op needs, as in wire.c."""
    if req.get("op") not in OPS or not req.get("provider"):
        return False
    if req["op"] in ("apply", "verify"):
        return bool(req.get("login")) and req.get("new_secret") is not None
    return bool(req.get("script_path")) and \
        req.get("script_input") is not None


def encode_request(req):
    """REQ (a dict) as one message, prefix included, as wire.c writes it.

    Raises WireError where wire_request_encode() returns -EINVAL or
    -EMSGSIZE.  Like the C encoder, it writes op, port, tls_verify and
    timeout always (port and timeout default to 0, tls_verify to True),
    strings and secrets only when present and not None.
    """
    unknown = set(req) - set(REQUEST_FIELDS)
    if unknown:
        raise WireError("unknown request fields: %s" % sorted(unknown))
    req = dict(req)
    if isinstance(req.get("op"), int):
        req["op"] = {v: k for k, v in OPS.items()}.get(req["op"])
    req.setdefault("port", 0)
    req.setdefault("timeout", 0)
    req.setdefault("tls_verify", True)
    for k in SECRETS:
        if req.get(k) is not None:
            req[k] = _as_bytes(req[k])
    if not _complete(req):
        raise WireError("a required field is missing or empty")
    fields = []
    for name, (tag, kind, bound) in sorted(REQUEST_FIELDS.items(),
                                           key=lambda kv: kv[1][0]):
        v = req.get(name)
        if v is None:
            continue
        if name in ("tls_disabled", "private_key"):
            # Written only when true, as wire.c does.
            if v:
                fields.append((tag, b"\1"))
            continue
        if name == "op":
            fields.append((tag, struct.pack(">I", OPS[v])))
        elif kind == "int":
            if not isinstance(v, int) or not 0 <= v <= bound:
                raise WireError("%s out of range" % name)
            fields.append((tag, struct.pack(">I", v)))
        elif kind == "bool":
            fields.append((tag, b"\1" if v else b"\0"))
        elif kind == "str":
            b = _as_bytes(v)
            if len(b) > bound or b"\0" in b:
                raise WireError("%s too long or holds a NUL" % name)
            fields.append((tag, b))
        elif kind == "params":
            if v:
                fields.append((tag, encode_params(v)))
        else:
            fields.append((tag, v))
    msg = encode_fields(fields)
    if len(msg) > WIRE_MAX:
        raise WireError("message over WIRE_MAX")
    return msg


def decode_request(body):
    """The fields (BODY: no prefix) as a dict, as wire_request_decode()."""
    by_tag = {t: (n, k, b) for n, (t, k, b) in REQUEST_FIELDS.items()}
    req = {"port": 0, "timeout": 0, "tls_verify": True}
    seen = set()
    for tag, val in _split(body):
        if tag not in by_tag or tag in seen:
            raise WireError("unknown or repeated tag %d" % tag)
        seen.add(tag)
        name, kind, bound = by_tag[tag]
        if name == "op":
            v = _int(val, 1, bound, name)
            req[name] = {n: k for k, n in OPS.items()}[v]
        elif kind == "int":
            req[name] = _int(val, 0, bound, name)
        elif name in ("tls_disabled", "private_key"):
            if len(val) != 1 or val[0] != 1:
                raise WireError("%s: one byte, 1" % name)
            req[name] = True
        elif kind == "bool":
            if len(val) != 1 or val[0] > 1:
                raise WireError("%s: a bool is one byte, 0 or 1" % name)
            req[name] = val[0] == 1
        elif kind == "str":
            req[name] = _str(val, bound, name)
        elif kind == "params":
            req[name] = decode_params(val)
        else:
            req[name] = bytes(val)
    if not _complete(req):
        raise WireError("a required field is missing or empty")
    return req


def encode_response(res):
    """RES as one message, prefix included, as wire_response_encode()."""
    unknown = set(res) - set(RESPONSE_FIELDS)
    if unknown:
        raise WireError("unknown response fields: %s" % sorted(unknown))
    cls = res.get("class")
    if isinstance(cls, str):
        cls = CLASSES.index(cls) if cls in CLASSES else None
    if not isinstance(cls, int) or not 0 <= cls < len(CLASSES):
        raise WireError("bad class")
    fields = [(0x81, struct.pack(">I", cls))]
    for name in ("message", "facts"):
        b = _as_bytes(res.get(name) or "")
        tag, _, bound = RESPONSE_FIELDS[name]
        if len(b) > bound or b"\0" in b:
            raise WireError("%s too long or holds a NUL" % name)
        if b:
            fields.append((tag, b))
    if res.get("output") is not None:
        b = _as_bytes(res["output"])
        if len(b) > RESPONSE_FIELDS["output"][2]:
            raise WireError("output too long")
        fields.append((0x84, b))
    if res.get("untouched"):
        fields.append((0x85, b"\1"))
    return encode_fields(fields)


def decode_response(body):
    """The fields (BODY: no prefix) as a dict, as wire_response_decode()."""
    by_tag = {t: (n, k, b) for n, (t, k, b) in RESPONSE_FIELDS.items()}
    res = {"class": None, "message": "", "facts": "", "output": None,
           "untouched": False}
    seen = set()
    for tag, val in _split(body):
        if tag not in by_tag or tag in seen:
            raise WireError("unknown or repeated tag %d" % tag)
        seen.add(tag)
        name, kind, bound = by_tag[tag]
        if kind == "int":
            res[name] = CLASSES[_int(val, 0, bound, name)]
        elif kind == "str":
            res[name] = _str(val, bound, name)
        elif kind == "bool":
            if bytes(val) != b"\1":
                raise WireError("untouched: one byte, 1")
            res[name] = True
        else:
            if len(val) > bound:
                raise WireError("output too long")
            res[name] = bytes(val)
    if 0x81 not in seen:
        raise WireError("no class")
    return res


def parse_facts(facts):
    """The "key=value" lines of a response's facts as a dict."""
    out = {}
    for line in facts.splitlines():
        k, sep, v = line.partition("=")
        if sep:
            out[k] = v
    return out


def split_message(data):
    """BODY of the one whole message DATA is; WireError otherwise."""
    if len(data) < 4:
        raise WireError("short length prefix")
    n = struct.unpack_from(">I", data)[0]
    if n > WIRE_MAX or len(data) != 4 + n:
        raise WireError("length prefix %d, %d bytes follow" %
                        (n, len(data) - 4))
    return data[4:]


def call_worker(worker_path, argv_extra, request_dict, timeout, env=None):
    """Run WORKER_PATH ARGV_EXTRA..., send it REQUEST_DICT on fd 0.

    Returns (exit_status, response_dict, stderr_text): exit_status as
    subprocess gives it (negative: killed by that signal); response_dict
    None when the worker wrote nothing.  REQUEST_DICT may also be bytes,
    sent as they are (a malformed message, say).  Raises WireError when
    stdout is not exactly one valid response, and TimeoutError (after
    killing the worker) when it runs past TIMEOUT seconds.
    """
    st, out, text = _run(worker_path, argv_extra, _message(request_dict),
                         timeout, env)
    if not out:
        return st, None, text
    try:
        res = decode_response(split_message(out))
    except WireError as e:
        raise WireError("worker exited %d with a bad response: %s" % (st, e))
    return st, res, text


def _message(req):
    """REQ encoded, or sent as it is when it is bytes already."""
    if isinstance(req, (bytes, bytearray)):
        return bytes(req)
    return encode_request(req)


def _run(worker_path, argv_extra, msg, timeout, env):
    """Run the worker with MSG on fd 0: (status, stdout, stderr text)."""
    proc = subprocess.Popen([worker_path] + list(argv_extra),
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env)
    try:
        out, err = proc.communicate(msg, timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise TimeoutError("%s ran past %ss" % (worker_path, timeout))
    return proc.returncode, out, err.decode("utf-8", "backslashreplace")


def split_messages(data):
    """The BODY of each whole message in DATA, in order: a batch worker's
    answers.  WireError when DATA ends inside a message."""
    bodies = []
    while data:
        if len(data) < 4:
            raise WireError("short length prefix after %d messages" %
                            len(bodies))
        n = struct.unpack_from(">I", data)[0]
        if n > WIRE_MAX or len(data) < 4 + n:
            raise WireError("message %d: length prefix %d, %d bytes follow"
                            % (len(bodies) + 1, n, len(data) - 4))
        bodies.append(data[4:4 + n])
        data = data[4 + n:]
    return bodies


def call_worker_batch(worker_path, argv_extra, requests, timeout, env=None):
    """Run WORKER_PATH ARGV_EXTRA..., send it REQUESTS (a list, each a
    dict or raw bytes as call_worker() takes them) one message after the
    other on fd 0, then end of file.

    Returns (exit_status, [response_dict...], stderr_text): the responses
    in the order the worker wrote them (as many as it wrote).  Raises
    WireError when stdout is not whole valid responses, TimeoutError
    (after killing the worker) past TIMEOUT seconds.
    """
    st, out, text = _run(worker_path, argv_extra,
                         b"".join(_message(r) for r in requests), timeout,
                         env)
    try:
        res = [decode_response(b) for b in split_messages(out)]
    except WireError as e:
        raise WireError("worker exited %d with a bad response: %s" % (st, e))
    return st, res, text


# A response encoded by the C codec (wire_response_encode(), see
# tests/unit/test_wire.c's test_cross_python), decoded by selftest: the
# other direction of the cross-check.  class auth, message "login
# refused", facts "server=PostgreSQL 15\nuser=app", output "line1\n\0x".
C_RESPONSE_HEX = (
    "0000004a"
    "810000000400000002"
    "820000000d6c6f67696e2072656675736564"
    "830000001d7365727665723d506f737467726553514c2031350a757365723d617070"
    "84000000086c696e65310a0078"
)


def _json_request(text):
    """A request from JSON; "params" is an object of strings."""
    req = json.loads(text)
    for k in SECRETS:
        if isinstance(req.get(k), dict):
            req[k] = bytes.fromhex(req[k]["hex"])
    return req


def _selftest():
    """TAP: Python round trips and refusals, and the C-encoded response."""
    cases = []

    def check(name, cond):
        cases.append((name, bool(cond)))

    def refused(fn, *a):
        try:
            fn(*a)
        except WireError:
            return True
        return False

    full = {"op": "apply", "provider": "postgresql", "host": "db.internal",
            "port": 5432, "login": "app", "dn": "cn=x",
            "admin_login": "postgres", "tls_ca_file": "/etc/ca.pem",
            "tls_verify": False, "timeout": 30, "current": b"old\0pw",
            "new_secret": b"new-pw", "admin": b"admin-pw",
            "script_path": "/bin/true", "script_command": "/bin/sh",
            "script_input": b"eyJ9", "test_action": "exec",
            "params": {"database": "app", "x_2": ""}}
    back = decode_request(split_message(encode_request(full)))
    check("request round trip, every field", back == full)
    check("params keep their order",
          list(back["params"]) == ["database", "x_2"])
    res = {"class": "policy", "message": "too short", "facts": "a=b",
           "output": b"x\0y", "untouched": False}
    check("response round trip",
          decode_response(split_message(encode_response(res))) == res)
    c = decode_response(split_message(bytes.fromhex(C_RESPONSE_HEX)))
    check("C-encoded response decodes",
          c == {"class": "auth", "message": "login refused",
                "facts": "server=PostgreSQL 15\nuser=app",
                "output": b"line1\n\0x", "untouched": False})
    res_u = {"class": "transient", "message": "lock timeout", "facts": "",
             "output": None, "untouched": True}
    check("untouched round trip",
          decode_response(split_message(encode_response(res_u))) == res_u)
    check("untouched false: no field",
          encode_response(dict(res_u, untouched=False)) ==
          encode_response({"class": "transient",
                           "message": "lock timeout"}))
    check("untouched written as 0 refused",
          refused(decode_response, split_message(encode_response(
              {"class": "transient"})) + bytes([0x85, 0, 0, 0, 1, 0])))
    check("facts parse", parse_facts(c["facts"])["user"] == "app")
    body = split_message(encode_request(
        {"op": "verify", "provider": "t", "login": "a", "new_secret": b""}))
    check("every truncation refused",
          all(refused(decode_request, body[:i]) for i in range(len(body))))
    check("missing new_secret refused", refused(
        encode_request, {"op": "apply", "provider": "t", "login": "a"}))
    check("unknown tag refused",
          refused(decode_request, body + bytes([99, 0, 0, 0, 0])))
    check("repeated tag refused",
          refused(decode_request, body + bytes([6, 0, 0, 0, 1, 65])))
    check("port out of range refused",
          refused(decode_request, body + bytes([4, 0, 0, 0, 4, 0, 1, 0, 0])))
    check("NUL in string refused",
          refused(decode_request, body + bytes([3, 0, 0, 0, 1, 0])))
    check("response without class refused", refused(decode_response, b""))
    check("retired tag 5 (database) refused",
          refused(decode_request, body + bytes([5, 0, 0, 0, 1, 65])))
    check("database is no field any more",
          refused(encode_request, dict(full, database="app")))
    check("tls_disabled round trip",
          decode_request(split_message(encode_request(
              dict(full, tls_disabled=True))))["tls_disabled"] is True)
    check("tls_disabled false: no field",
          encode_request(dict(full, tls_disabled=False)) ==
          encode_request(full))
    check("tls_disabled written as 0 refused",
          refused(decode_request, body + bytes([20, 0, 0, 0, 1, 0])))

    # params (tag 19): the limits, from both sides.
    most = {"k%d" % i: "v" for i in range(WIRE_PARAMS_MAX)}
    edge = {"k" * 63: "v" * 4095, "a_0": ""}
    for name, p in (("32 params", most), ("longest key and value", edge)):
        b = split_message(encode_request(dict(full, params=p)))
        check("params round trip: " + name,
              decode_request(b)["params"] == p)
    check("no params: no field",
          encode_request(dict(full, params={})) ==
          encode_request({k: v for k, v in full.items() if k != "params"}))
    bad = {
        "too many": [("k%d" % i, "v") for i in range(WIRE_PARAMS_MAX + 1)],
        "bad key characters": [("Database", "x")],
        "a dash in a key": [("data-base", "x")],
        "empty key": [("", "x")],
        "long key": [("k" * 64, "x")],
        "long value": [("database", "v" * 4096)],
        "NUL in value": [("database", "a\0b")],
        "duplicate key": [("database", "a"), ("database", "b")],
    }
    for name, pairs in bad.items():
        check("params refused by the encoder: " + name,
              refused(encode_params, pairs))
        check("params refused by the decoder: " + name,
              refused(decode_request,
                      body + encode_fields([(19, encode_param_entries(
                          pairs))])[4:]))
    good = encode_param_entries([("database", "app")])
    check("a params field added to a valid request decodes",
          decode_request(body + encode_fields([(19, good)])[4:])["params"]
          == {"database": "app"})
    for name, val in (("empty field", b""),
                      ("entry cut in the key", good[:4]),
                      ("entry cut in the length", good[:11]),
                      ("entry cut in the value", good[:-1]),
                      ("a byte after the last entry", good + b"\0")):
        check("params refused by the decoder: " + name,
              refused(decode_request, body + encode_fields([(19, val)])[4:]))
    check("params field twice refused",
          refused(decode_request,
                  body + encode_fields([(19, good), (19, good)])[4:]))

    # call_worker() against a stand-in worker: this same module, run by
    # the interpreter, answering with what it was sent.
    fake = ("import sys; sys.path.insert(0, %r); import wire\n"
            "b = wire.split_message(sys.stdin.buffer.read())\n"
            "q = wire.decode_request(b)\n"
            "sys.stdout.buffer.write(wire.encode_response({'class': "
            "'transient', 'message': q['provider'], 'facts': 'login=' + "
            "q['login'], 'output': q['new_secret'][::-1]}))\n"
            "sys.stderr.write('bye\\n'); sys.exit(3)\n") % \
        os.path.dirname(os.path.abspath(__file__))
    st, r, err = call_worker(sys.executable, ["-c", fake],
                             {"op": "verify", "provider": "pg",
                              "login": "app", "new_secret": b"abc"}, 30)
    check("call_worker: status, response, stderr",
          st == 3 and err == "bye\n" and
          r == {"class": "transient", "message": "pg", "facts": "login=app",
                "output": b"cba", "untouched": False})
    st, r, err = call_worker(sys.executable, ["-c", "import sys; sys.exit(4)"],
                             b"\0\0\0\0", 30)
    check("call_worker: no response is None", st == 4 and r is None)
    check("call_worker: a bad response raises",
          refused(call_worker, sys.executable,
                  ["-c", "import sys; sys.stdout.write('junk')"],
                  b"", 30))
    # call_worker_batch() against a stand-in batch worker: it answers
    # each request it reads with its login, until end of file.
    fake_batch = ("import struct, sys; sys.path.insert(0, %r); import wire\n"
                  "i = sys.stdin.buffer\n"
                  "while True:\n"
                  "    p = i.read(4)\n"
                  "    if not p: break\n"
                  "    q = wire.decode_request(i.read("
                  "struct.unpack('>I', p)[0]))\n"
                  "    sys.stdout.buffer.write(wire.encode_response("
                  "{'class': 'none', 'message': q['login']}))\n") % \
        os.path.dirname(os.path.abspath(__file__))
    reqs = [{"op": "apply", "provider": "pg", "login": "r%d" % i,
             "new_secret": b"x"} for i in range(3)]
    st, rs, err = call_worker_batch(sys.executable, ["-c", fake_batch],
                                    reqs, 30)
    check("call_worker_batch: one response per request, in order",
          st == 0 and [r["message"] for r in rs] == ["r0", "r1", "r2"])
    st, rs, err = call_worker_batch(
        sys.executable, ["-c", "import sys; sys.exit(5)"], reqs, 30)
    check("call_worker_batch: no response is an empty list",
          st == 5 and rs == [])
    check("split_messages: two whole messages",
          split_messages(encode_response({"class": "none"}) * 2) ==
          [split_message(encode_response({"class": "none"}))] * 2)
    check("split_messages: a message cut short raises",
          refused(split_messages, encode_response({"class": "none"})[:-1]))
    try:
        call_worker(sys.executable, ["-c", "import time; time.sleep(30)"],
                    b"", 0.5)
        timed_out = False
    except TimeoutError:
        timed_out = True
    check("call_worker: a timeout kills and raises", timed_out)
    print("1..%d" % len(cases))
    for i, (name, ok) in enumerate(cases, 1):
        print("%s %d - %s" % ("ok" if ok else "not ok", i, name))
    return 0 if all(ok for _, ok in cases) else 1


def main(argv):
    usage = ("usage: wire.py encode-request|encode-response [--raw|--body]"
             " JSON | decode-request|decode-response HEX | selftest")
    args = [a for a in argv[1:] if a not in ("--raw", "--body")]
    raw, body_only = "--raw" in argv, "--body" in argv
    if args == ["selftest"]:
        return _selftest()
    if len(args) != 2:
        print(usage, file=sys.stderr)
        return 2
    cmd, arg = args
    if cmd in ("encode-request", "encode-response"):
        if cmd == "encode-request":
            msg = encode_request(_json_request(arg))
        else:
            msg = encode_response(json.loads(arg))
        if body_only:
            msg = msg[4:]
        if raw:
            sys.stdout.buffer.write(msg)
        else:
            print(msg.hex())
        return 0
    if cmd in ("decode-request", "decode-response"):
        data = bytes.fromhex(arg)
        body = data[4:] if not body_only else data
        if not body_only:
            split_message(data)
        if cmd == "decode-request":
            d = decode_request(body)
            for k in SECRETS:
                if k in d:
                    d[k] = {"hex": d[k].hex()}
        else:
            d = decode_response(body)
            if d["output"] is not None:
                d["output"] = d["output"].decode("utf-8", "backslashreplace")
        print(json.dumps(d, sort_keys=True))
        return 0
    print(usage, file=sys.stderr)
    return 2


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv))
    except WireError as e:
        print("wire.py: %s" % e, file=sys.stderr)
        sys.exit(1)
