"""Run rotad-worker on one request, or on a batch, built from KEY=VALUE
words, for the provider tests (postgresql.sh, mysql.sh, ldap.sh, ad.sh).

    call_worker.py PROVIDER WIRE_PY_DIR WORKER KEY=VALUE...
    call_worker.py PROVIDER WIRE_PY_DIR WORKER --batch KEY=VALUE... \\
        -- KEY=VALUE... [-- KEY=VALUE...]...

A secret (current, new_secret, admin) names its file in $T; port, timeout
and wait are integers; tls_verify and tls_disabled are true or false;
param.KEY=VALUE is a provider parameter (an empty VALUE is sent empty),
noparam.KEY leaves KEY out; any other key with an empty value is left
out (tls_ca_file= for none: the system's bundle).  The worker runs as
nobody.  Prints {"status", "class", "message", "facts", "untouched",
"stderr", "leaked"}, leaked listing the files among $SECRET_FILES whose
password appears in the response or on the worker's stderr.

With --batch the words before the first -- are common to every request,
and each group after a -- is one request of the batch (its words after
the common ones); the worker gets them all on one stdin.  Prints
{"status", "answers": [{"class", "message", "facts", "untouched"}...],
"stderr", "leaked"}, the answers in the order the worker wrote them.
With CALL_WORKER_BETWEEN set in the environment, a batch's first request
is sent alone and its answer read, then that shell command runs (bash
-c; its failure fails the call), then the rest are sent: what happens to
the target between two requests of one worker.
"""
import json
import os
import struct
import subprocess
import sys

sys.path.insert(0, sys.argv[2])
import wire  # noqa: E402


def pw(name):
    with open(os.path.join(os.environ["T"], name), "rb") as f:
        return f.read().rstrip(b"\n")


def build(provider, words):
    """The request WORDS say, and the seconds to wait for the worker."""
    req = {"provider": provider, "params": {}}
    for arg in words:
        k, _, v = arg.partition("=")
        if k.startswith("param."):
            req["params"][k[6:]] = v
            continue
        if k.startswith("noparam."):
            req["params"].pop(k[8:], None)
            continue
        if v == "":
            req.pop(k, None)
            continue
        if k in ("current", "new_secret", "admin"):
            v = pw(v)
        elif k in ("port", "timeout", "wait"):
            v = int(v)
        elif k in ("tls_verify", "tls_disabled"):
            v = v == "true"
        req[k] = v
    if not req["params"]:
        del req["params"]
    return req, req.pop("wait", 30)


def answer(res):
    res = res or {"class": None, "message": "no response", "facts": "",
                  "untouched": None}
    return {k: res[k] for k in ("class", "message", "facts", "untouched")}


def leaked(text):
    return [f for f in os.environ["SECRET_FILES"].split() if pw(f) in text]


provider, worker, words = sys.argv[1], sys.argv[3], sys.argv[4:]
batch = words[:1] == ["--batch"]
if batch:
    groups, cur = [], []
    for w in words[1:] + ["--"]:
        if w == "--":
            groups.append(cur)
            cur = []
        else:
            cur.append(w)
    common, groups = groups[0], groups[1:]
    reqs = [build(provider, common + g) for g in groups]
    limit = max(w for _, w in reqs)
    reqs = [r for r, _ in reqs]
else:
    req, limit = build(provider, words)
    reqs = [req]
argv = ["--provider", provider, "--user", "nobody"]
if reqs[0].get("tls_ca_file"):
    argv += ["--ca-file", reqs[0]["tls_ca_file"]]


def batch_between(worker, argv, reqs, limit, cmd):
    """call_worker_batch(), CMD run after the first answer."""
    proc = subprocess.Popen([worker] + argv, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        proc.stdin.write(wire.encode_request(reqs[0]))
        proc.stdin.flush()
        head = proc.stdout.read(4)
        body = proc.stdout.read(struct.unpack(">I", head)[0]) \
            if len(head) == 4 else b""
        subprocess.run(["bash", "-c", cmd], check=True, timeout=limit)
        out, err = proc.communicate(
            b"".join(wire.encode_request(r) for r in reqs[1:]),
            timeout=limit)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    answers = [wire.decode_response(b)
               for b in wire.split_messages(head + body + out)]
    return proc.returncode, answers, err.decode("utf-8", "backslashreplace")


try:
    if batch and os.environ.get("CALL_WORKER_BETWEEN"):
        st, answers, err = batch_between(worker, argv, reqs, limit,
                                         os.environ["CALL_WORKER_BETWEEN"])
    elif batch:
        st, answers, err = wire.call_worker_batch(worker, argv, reqs, limit)
    else:
        st, res, err = wire.call_worker(worker, argv, reqs[0], limit)
        answers = [res]
except (wire.WireError, TimeoutError, OSError,
        subprocess.SubprocessError) as e:
    st, answers, err = -1, [] if batch else [None], str(e)
answers = [answer(r) for r in answers]
text = ("".join(a["message"] + a["facts"] for a in answers) + err).encode()
out = {"status": st, "stderr": err[-500:], "leaked": leaked(text)}
if batch:
    out["answers"] = answers
else:
    out.update(answers[0])
print(json.dumps(out))
