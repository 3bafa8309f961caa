#!/usr/bin/env python3
"""What a remote receiver got, parsed and held against rotad's spool.

For tests/integration/events_remote.sh.  Each receiver's record is read,
every event in it parsed in its format by a parser written from the
formats' specifications (not from rotad's code), and compared field by
field with the event of the same seq in the spool (`rotactl --json events`,
one JSON object a line):

    sink_check.py KIND RECORD SPOOL [--need FROM[:TO]] [--path P]
                  [--names N,N...] [--token T] [--facility N]
                  [--sd-id ID] [--min-batch N]

KIND and the RECORD it reads:

  rfc5424  rsyslog's omfile lines of events_remote.sh's template "sdjson"
           (PRI, HOSTNAME, APP-NAME, MSGID, MSG, mmpstrucdata's SD as
           JSON, the raw message)
  cef      rsyslog's "rawjson" lines ({"raw": the frame as received})
  leef     the same, LEEF 2.0
  hec      https_sink.py's log: the POSTs to --path, answered 200, each
           body Splunk HEC event objects one after the other, each
           request's Authorization "Splunk TOKEN" (--token)
  chat     https_sink.py's log: the POSTs to --path answered 200, each
           body {"text": "..."}: one a failure event (--names) of the
           spool, no others

A frame whose raw text holds "rotad-selftest" (what the test sent
itself) is passed over.  Received events are checked in the order they
arrived; delivery is at least once, so a seq may come again, but the
seqs' first appearances must only grow.  A seq past the spool's last is
not judged (the spool was read before it came).

--need FROM[:TO]: every spool event with FROM < seq <= TO (TO: the
spool's last) must have arrived.  For chat, the events of --names in
that range, each with its own POST (it cannot tell two alike apart, so
it counts them).

Exit 0 with a one-line summary; 2 when all that arrived is right but
some needed seq has not arrived yet (a caller polls on this); 1 when
anything is wrong, with the reason.

    sink_check.py selftest docs/events.md

parses every example of docs/events.md in each format and holds it
against that event's JSON example (the parsers' own test).

Python 3 standard library only.
"""

import argparse
import datetime
import json
import re
import sys

# syslog severity -> CEF and LEEF severity (docs/events.md, Severities)
SEV10 = {0: 10, 1: 9, 2: 8, 3: 7, 4: 5, 5: 3, 6: 2, 7: 1}

# JSON field -> (RFC 5424 SD param, CEF key, CEF label, LEEF key);
# seq, time, host, name and severity are checked apart.
FIELDS = {
    "run_id": ("run_id", "cs1", "runId", "runId"),
    "attempt": ("attempt", "cn1", "attempt", "attempt"),
    "user": ("user", "duser", None, "usrName"),
    "resource": ("resource", "cs2", "resource", "resource"),
    "provider": ("provider", "cs3", "provider", "provider"),
    "trigger": ("trigger", "cs4", "trigger", "trigger"),
    "outcome": ("outcome", "outcome", None, "outcome"),
    "error_class": ("error_class", "reason", None, "errorClass"),
    "message": (None, "msg", None, "msg"),
    "duration_ms": ("duration_ms", "cn2", "durationMs", "durationMs"),
    "rotation_status": ("rotation_status", "cs5", "rotationStatus",
                        "rotationStatus"),
    "post_rotation_status": ("post_rotation_status", "cs6",
                             "postRotationStatus", "postRotationStatus"),
    "alert_id": ("alert_id", "flexString1", "alertId", "alertId"),
    "uid": ("uid", "suid", None, "uid"),
    "count": ("count", "cnt", None, "count"),
}
BASE = {"v", "seq", "time", "timestamp", "host", "name", "severity"}


class Wrong(Exception):
    pass


def category(name):
    if name.startswith(("config_", "job_file")):
        return "config"
    if name in ("control_denied", "secret_read", "secret_set"):
        return "access"
    if name.startswith("daemon_") or name == "events_dropped":
        return "daemon"
    return "rotation"


def ctl_to_space(s, keep):
    """A CEF or LEEF value: control characters other than those the
    format escapes (KEEP) become a space."""
    return "".join(" " if (ord(c) < 0x20 or c == "\x7f") and c not in keep
                   else c for c in s)


# ---- CEF (ArcSight CEF rev. 25) ----

def cef_parse(text):
    """'CEF:0|...' (anything before it, a syslog header, is skipped) ->
    (header: 7 strings, unescaped; extension: dict, unescaped)."""
    i = text.find("CEF:")
    if i < 0:
        raise Wrong("no CEF header: %r" % text[:120])
    s = text[i:]
    hdr, cur, k = [], [], 0
    while len(hdr) < 7:
        if k >= len(s):
            raise Wrong("CEF header has %d fields: %r" % (len(hdr), s[:200]))
        c = s[k]
        if c == "\\":
            if k + 1 >= len(s) or s[k + 1] not in "|\\":
                raise Wrong("CEF header: bad escape at %d: %r" % (k, s[:200]))
            cur.append(s[k + 1])
            k += 2
        elif c == "|":
            hdr.append("".join(cur))
            cur = []
            k += 1
        else:
            cur.append(c)
            k += 1
    return hdr, cef_extension(s[k:])


def cef_extension(ext):
    # Every '=' not escaped ends a key, the word after the last space
    # before it; the value before that space belongs to the previous key.
    eqs, k = [], 0
    while k < len(ext):
        if ext[k] == "\\":
            k += 2
            continue
        if ext[k] == "=":
            eqs.append(k)
        k += 1
    out, prev_key, prev_start = {}, None, 0
    for p in eqs:
        sp = ext.rfind(" ", prev_start, p)
        ks = 0 if prev_key is None else sp + 1
        if prev_key is not None and sp < prev_start:
            raise Wrong("CEF extension: no space before key at %d: %r"
                        % (p, ext))
        key = ext[ks:p]
        if not re.fullmatch(r"[A-Za-z0-9_]+", key):
            raise Wrong("CEF extension: bad key %r in %r" % (key, ext))
        if prev_key is not None:
            out[prev_key] = cef_unescape(ext[prev_start:sp])
        if key in out or key == prev_key:
            raise Wrong("CEF extension: key %r twice" % key)
        prev_key, prev_start = key, p + 1
    if prev_key is not None:
        out[prev_key] = cef_unescape(ext[prev_start:])
    elif ext.strip():
        raise Wrong("CEF extension without a key: %r" % ext)
    return out


def cef_unescape(v):
    out, k = [], 0
    while k < len(v):
        c = v[k]
        if c == "\\":
            if k + 1 >= len(v):
                raise Wrong("CEF value ends in a backslash: %r" % v)
            n = v[k + 1]
            m = {"\\": "\\", "=": "=", "n": "\n", "r": "\r"}.get(n)
            if m is None:
                raise Wrong("CEF value: bad escape \\%s in %r" % (n, v))
            out.append(m)
            k += 2
        else:
            if c in "\n\r":
                raise Wrong("CEF value: raw line break in %r" % v)
            out.append(c)
            k += 1
    return "".join(out)


def cef_check(hdr, ext, ev):
    name = ev["name"]
    want = ["CEF:0", "rotad", "rotad", None, name, None,
            str(SEV10[ev["severity"]])]
    for i, w in enumerate(want):
        if w is not None and hdr[i] != w:
            raise Wrong("header field %d is %r, want %r" % (i + 1, hdr[i], w))
    if not hdr[3] or not hdr[5]:
        raise Wrong("empty version or name in header %r" % hdr)
    exp = {"externalId": str(ev["seq"]), "rt": str(ev["time"]),
           "dvchost": ev["host"], "cat": category(name)}
    for f, (_, key, label, _) in FIELDS.items():
        if f in ev:
            v = ev[f]
            exp[key] = ctl_to_space(v, "\n\r") if f == "message" \
                else str(v)
            if label:
                exp[key + "Label"] = label
    if ext != exp:
        raise Wrong("extension differs: got %r, want %r"
                    % (diff(ext, exp), diff(exp, ext)))


# ---- LEEF 2.0 (IBM QRadar) ----

def leef_parse(text):
    """'LEEF:2.0|...' -> (header: 5 strings, attributes: dict)."""
    i = text.find("LEEF:2.0|")
    if i < 0:
        raise Wrong("no LEEF 2.0 header: %r" % text[:120])
    parts = text[i:].split("|", 6)
    if len(parts) != 7:
        raise Wrong("LEEF header has %d fields: %r" % (len(parts), text))
    d = parts[5]
    if re.fullmatch(r"(0x|x)[0-9A-Fa-f]{2,4}", d):
        delim = chr(int(d.split("x")[1], 16))
    elif len(d) == 1:
        delim = d
    else:
        raise Wrong("LEEF delimiter %r" % d)
    attrs = {}
    for a in parts[6].split(delim):
        key, eq, val = a.partition("=")
        if not eq or not re.fullmatch(r"[A-Za-z0-9_]+", key):
            raise Wrong("LEEF attribute %r in %r" % (a, parts[6]))
        if key in attrs:
            raise Wrong("LEEF attribute %r twice" % key)
        attrs[key] = leef_unescape(val)
    return parts[:6], delim, attrs


def leef_unescape(v):
    out, k = [], 0
    while k < len(v):
        if v[k] == "\\" and k + 1 < len(v) and v[k + 1] in "tnr\\":
            out.append({"t": "\t", "n": "\n", "r": "\r", "\\": "\\"}
                       [v[k + 1]])
            k += 2
        else:
            if v[k] in "\n\r":
                raise Wrong("LEEF value: raw line break in %r" % v)
            out.append(v[k])
            k += 1
    return "".join(out)


def leef_time(ms):
    t = datetime.datetime.fromtimestamp(ms // 1000, datetime.timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + "%03d+0000" % (ms % 1000)


def leef_check(hdr, delim, attrs, ev):
    want = ["LEEF:2.0", "rotad", "rotad", None, ev["name"], None]
    for i, w in enumerate(want):
        if w is not None and hdr[i] != w:
            raise Wrong("header field %d is %r, want %r" % (i + 1, hdr[i], w))
    if delim != "\t":
        raise Wrong("delimiter %r, want a tab" % delim)
    exp = {"devTime": leef_time(ev["time"]),
           "devTimeFormat": "yyyy-MM-dd'T'HH:mm:ss.SSSZ",
           "cat": category(ev["name"]), "sev": str(SEV10[ev["severity"]]),
           "host": ev["host"], "seq": str(ev["seq"])}
    for f, (_, _, _, key) in FIELDS.items():
        if f in ev:
            exp[key] = ctl_to_space(ev[f], "\t\n\r") \
                if f == "message" else str(ev[f])
    if attrs != exp:
        raise Wrong("attributes differ: got %r, want %r"
                    % (diff(attrs, exp), diff(exp, attrs)))


# ---- RFC 5424, as rsyslog parsed it (mmpstrucdata) ----

def sd_escape_msg(s):
    """MSG as docs/events.md writes it: control characters escaped."""
    def one(m):
        c = m.group(0)
        return {"\n": "\\n", "\r": "\\r", "\t": "\\t"}.get(
            c, "\\x%02X" % ord(c))
    return re.sub(r"[\x00-\x1f\x7f]", one, s)


def rfc5424_check(rec, ev, facility, sd_id):
    if rec["pri"] != facility * 8 + ev["severity"]:
        raise Wrong("PRI %r, want %d" % (rec["pri"],
                                         facility * 8 + ev["severity"]))
    for k, w in (("app", "rotad"), ("msgid", ev["name"]),
                 ("hostname", ev["host"])):
        if rec[k] != w:
            raise Wrong("%s %r, want %r" % (k, rec[k], w))
    ts = rec.get("ts")
    if ts is not None:
        t = datetime.datetime.fromisoformat(ts.replace("Z", "+00:00"))
        if round(t.timestamp() * 1000) != ev["time"]:
            raise Wrong("TIMESTAMP %s, want %s" % (ts, ev["timestamp"]))
    sd = rec.get("sd") or {}
    sd = sd.get("rfc5424-sd", {})
    if list(sd) != [sd_id]:
        raise Wrong("SD elements %r, want one %r" % (list(sd), sd_id))
    exp = {"seq": str(ev["seq"])}
    for f, (param, _, _, _) in FIELDS.items():
        if f in ev and param:
            exp[param] = str(ev[f])
    # mmpstrucdata lowercases nothing, but keeps only what it parsed
    if sd[sd_id] != exp:
        raise Wrong("SD params differ: got %r, want %r"
                    % (diff(sd[sd_id], exp), diff(exp, sd[sd_id])))
    msg = rec["msg"].lstrip(" ")
    if msg.startswith("\ufeff"):
        msg = msg[1:]
    if msg != sd_escape_msg(ev.get("message", "")):
        raise Wrong("MSG %r, want %r" % (msg, ev.get("message", "")))


# ---- Splunk HEC ----

def json_objects(body):
    """Objects one after the other, as HEC takes them (white space between
    them, or none)."""
    dec, k, out = json.JSONDecoder(), 0, []
    while True:
        while k < len(body) and body[k] in " \t\r\n":
            k += 1
        if k == len(body):
            return out
        try:
            obj, k = dec.raw_decode(body, k)
        except json.JSONDecodeError as e:
            raise Wrong("HEC body: %s: %r" % (e, body[:300]))
        out.append(obj)


def hec_check(obj, ev):
    keys = set(obj) - {"index"}
    if keys != {"time", "host", "source", "sourcetype", "event"}:
        raise Wrong("HEC keys %r" % sorted(obj))
    if obj["event"] != ev:
        raise Wrong("HEC event differs: got %r, want %r"
                    % (diff(obj["event"], ev), diff(ev, obj["event"])))
    if not isinstance(obj["time"], (int, float)) or \
       abs(obj["time"] - ev["time"] / 1000) > 0.0005:
        raise Wrong("HEC time %r, want %s" % (obj["time"], ev["time"]))
    if (obj["host"], obj["source"], obj["sourcetype"]) != \
       (ev["host"], "rotad", "rotad:event"):
        raise Wrong("HEC host/source/sourcetype %r"
                    % ((obj["host"], obj["source"], obj["sourcetype"]),))


def diff(a, b):
    return {k: v for k, v in a.items() if b.get(k, object()) != v}


# ---- reading the records ----

def frames(kind, path, http_path):
    """(raw text, parsed) per frame or HTTP body, in arrival order."""
    try:
        text = open(path, encoding="utf-8").read()
    except FileNotFoundError:
        text = ""
    # A line still being written is not judged yet.
    lines = text[:text.rfind("\n") + 1].splitlines()
    for n, line in enumerate(lines, 1):
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as e:
            raise Wrong("%s:%d: not JSON (%s): %r" % (path, n, e, line[:200]))
        if kind in ("hec", "chat"):
            if rec["path"] != http_path or rec["status"] != 200:
                continue
            yield n, rec["body"], rec
        else:
            raw = rec.get("raw", "")
            if "rotad-selftest" in raw:
                continue
            yield n, raw, rec


def check(a):
    spool = {}
    for line in open(a.spool):
        if line.strip():
            e = json.loads(line)
            spool[e["seq"]] = e
    last = max(spool) if spool else 0
    seen, dups, batches = [], 0, []
    chat_texts = []
    facility, sd_id = a.facility, a.sd_id

    def take(seq):
        nonlocal dups
        if seq in seen:
            dups += 1
            return
        if seen and seq < seen[-1]:
            raise Wrong("seq %d after %d: out of order" % (seq, seen[-1]))
        seen.append(seq)

    def seq_of(v, what):
        try:
            return int(v)
        except (TypeError, ValueError):
            raise Wrong("no seq (%s: %r)" % (what, v))

    for n, raw, rec in frames(a.kind, a.record, a.path):
        where = "%s:%d" % (a.record, n)
        try:
            if a.kind == "cef":
                hdr, ext = cef_parse(raw)
                seq = seq_of(ext.get("externalId"), "externalId")
                if seq in spool:
                    cef_check(hdr, ext, spool[seq])
                take(seq)
            elif a.kind == "leef":
                hdr, delim, attrs = leef_parse(raw)
                seq = seq_of(attrs.get("seq"), "seq")
                if seq in spool:
                    leef_check(hdr, delim, attrs, spool[seq])
                take(seq)
            elif a.kind == "rfc5424":
                sd = (rec.get("sd") or {}).get("rfc5424-sd", {})
                if sd_id not in sd:
                    raise Wrong("no SD element %s (rsyslog parsed %r)"
                                % (sd_id, rec.get("sd")))
                seq = seq_of(sd[sd_id].get("seq"), "SD param seq")
                if seq in spool:
                    rfc5424_check(rec, spool[seq], facility, sd_id)
                take(seq)
            elif a.kind == "hec":
                auth = rec["headers"].get("authorization")
                if auth != "Splunk " + a.token:
                    raise Wrong("Authorization %r" % auth)
                objs = json_objects(raw)
                if not objs:
                    raise Wrong("an empty body")
                batches.append(len(objs))
                for obj in objs:
                    seq = seq_of(obj.get("event", {}).get("seq"),
                                 "event.seq")
                    if seq in spool:
                        hec_check(obj, spool[seq])
                    take(seq)
            elif a.kind == "chat":
                j = json.loads(raw)
                if not isinstance(j, dict) or \
                   not isinstance(j.get("text"), str) or not j["text"]:
                    raise Wrong("not {\"text\": \"...\"}: %r" % raw[:300])
                chat_texts.append(j["text"])
        except (Wrong, ValueError, KeyError, TypeError) as e:
            raise Wrong("%s: %s\n  frame: %r" % (where, e, raw[:600]))
        if a.kind != "chat" and seen and seen[-1] <= last and \
           seen[-1] not in spool:
            raise Wrong("%s: seq %d is not in the spool" % (where, seen[-1]))

    lo, hi = a.need_from, a.need_to if a.need_to is not None else last
    if a.kind == "chat":
        want = [e for s, e in sorted(spool.items())
                if lo is not None and lo < s <= hi and e["name"] in a.names]
        users = {e.get("user") for e in want}
        for t in chat_texts:
            if not any(u and u in t for u in users):
                raise Wrong("a text that names none of %r: %r"
                            % (sorted(u for u in users if u), t))
        if a.exact and len(chat_texts) != len(want):
            raise Wrong("%d POSTs, want exactly %d (events %s)"
                        % (len(chat_texts), len(want),
                           [e["seq"] for e in want]))
        summary = "%d POSTs for %d events of %s in (%s, %s]" % (
            len(chat_texts), len(want), ",".join(a.names), lo, hi)
        if len(chat_texts) < len(want):
            print("incomplete: " + summary)
            return 2
        print(summary)
        return 0

    if a.min_batch and (not batches or max(batches) < a.min_batch):
        raise Wrong("no POST carried %d events or more (batches: %r)"
                    % (a.min_batch, batches[-20:]))
    summary = "%d events, seq %s, %d duplicates" % (
        len(seen), "%d-%d" % (seen[0], seen[-1]) if seen else "none", dups)
    if batches:
        summary += ", %d POSTs, largest %d events" % (len(batches),
                                                      max(batches))
    if lo is not None:
        got = set(seen)
        missing = [s for s in sorted(spool) if lo < s <= hi and s not in got]
        if missing:
            print("incomplete: %s; missing %d of (%d, %d]: %s" % (
                summary, len(missing), lo, hi,
                " ".join(map(str, missing[:30]))))
            return 2
        summary += "; all of (%d, %d]" % (lo, hi)
    print(summary)
    return 0


# ---- the parsers' own test, on docs/events.md ----

def selftest(md):
    text = open(md, encoding="utf-8").read()
    sections = re.split(r"^### ", text, flags=re.M)[1:]
    n = 0
    for sec in sections:
        name = sec.split("\n", 1)[0].strip()
        ex = dict(re.findall(r"^(\w+):\n\n```\n(.*?)\n```", sec,
                             flags=re.M | re.S))
        if "json" not in ex:
            continue
        ev = json.loads(ex["json"])
        try:
            hdr, e = cef_parse(ex["cef"])
            cef_check(hdr, e, ev)
            hdr, d, at = leef_parse(ex["leef"])
            leef_check(hdr, d, at, ev)
            hec_check(json_objects(ex["hec"])[0], ev)
            rfc5424_check(rfc5424_like_rsyslog(ex["rfc5424"]), ev, 10,
                          "rotad@32473")
        except Wrong as err:
            print("selftest: %s: %s" % (name, err))
            return 1
        n += 1
    if n < 19:
        print("selftest: only %d events with examples in %s" % (n, md))
        return 1
    print("selftest: %d events parsed in 4 formats" % n)
    return 0


def rfc5424_like_rsyslog(line):
    """A small RFC 5424 parser giving what events_remote.sh's rsyslog
    template gives, for the self-test only."""
    m = re.match(r"<(\d+)>1 (\S+) (\S+) (\S+) (\S+) (\S+) ", line)
    if not m:
        raise Wrong("RFC 5424 header: %r" % line)
    rest = line[m.end():]
    if not rest.startswith("["):
        raise Wrong("no SD: %r" % line)
    params, k = {}, rest.index(" ")
    sd_id = rest[1:k]
    pm = re.compile(r' ([^= \]"]+)="((?:[^"\\]|\\.)*)"')
    while rest[k] != "]":
        p = pm.match(rest, k)
        if not p:
            raise Wrong("SD param at %r" % rest[k:k + 40])
        params[p.group(1)] = re.sub(r'\\(["\\\]])', r"\1", p.group(2))
        k = p.end()
    return {"pri": int(m.group(1)), "ts": m.group(2),
            "hostname": m.group(3), "app": m.group(4), "msgid": m.group(6),
            "msg": rest[k + 1:], "sd": {"rfc5424-sd": {sd_id: params}}}


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "selftest":
        return selftest(sys.argv[2])
    ap = argparse.ArgumentParser()
    ap.add_argument("kind", choices=["rfc5424", "cef", "leef", "hec", "chat"])
    ap.add_argument("record")
    ap.add_argument("spool")
    ap.add_argument("--need")
    ap.add_argument("--path", default="/services/collector/event")
    ap.add_argument("--names", default="")
    ap.add_argument("--exact", action="store_true",
                    help="chat: exactly one POST per event")
    ap.add_argument("--token", default="")
    ap.add_argument("--facility", type=int, default=10)
    ap.add_argument("--sd-id", default="rotad@32473")
    ap.add_argument("--min-batch", type=int, default=0)
    a = ap.parse_args()
    a.names = set(filter(None, a.names.split(",")))
    a.need_from = a.need_to = None
    if a.need:
        lo, _, hi = a.need.partition(":")
        a.need_from, a.need_to = int(lo), int(hi) if hi else None
    try:
        return check(a)
    except Wrong as e:
        print(e)
        return 1


if __name__ == "__main__":
    sys.exit(main())
