"""Run rotad-worker on one request built from KEY=VALUE words, for the
provider tests (postgresql.sh, mysql.sh, ldap.sh, ad.sh).

    call_worker.py PROVIDER WIRE_PY_DIR WORKER KEY=VALUE...

A secret (current, new_secret, admin) names its file in $T; port, timeout
and wait are integers; tls_verify and tls_disabled are true or false;
param.KEY=VALUE is a provider parameter (an empty VALUE is sent empty),
noparam.KEY leaves KEY out; any other key with an empty value is left
out (tls_ca_file= for none: the system's bundle).  The worker runs as
nobody.  Prints {"status", "class", "message", "facts", "untouched",
"stderr", "leaked"}, leaked listing the files among $SECRET_FILES whose
password appears in the response or on the worker's stderr.
"""
import json
import os
import sys

sys.path.insert(0, sys.argv[2])
import wire  # noqa: E402


def pw(name):
    with open(os.path.join(os.environ["T"], name), "rb") as f:
        return f.read().rstrip(b"\n")


provider = sys.argv[1]
req = {"provider": provider, "params": {}}
for arg in sys.argv[4:]:
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
limit = req.pop("wait", 30)
argv = ["--provider", provider, "--user", "nobody"]
if req.get("tls_ca_file"):
    argv += ["--ca-file", req["tls_ca_file"]]
try:
    st, res, err = wire.call_worker(sys.argv[3], argv, req, limit)
except (wire.WireError, TimeoutError) as e:
    st, res, err = -1, None, str(e)
res = res or {"class": None, "message": "no response", "facts": "",
              "untouched": None}
text = (res["message"] + res["facts"] + err).encode()
leaked = [f for f in os.environ["SECRET_FILES"].split() if pw(f) in text]
print(json.dumps({"status": st, "class": res["class"],
                  "message": res["message"], "facts": res["facts"],
                  "untouched": res["untouched"],
                  "stderr": err[-500:], "leaked": leaked}))
