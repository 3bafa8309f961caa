#!/usr/bin/env python3
"""A real HTTPS receiver for the HTTP event sinks' tests (HEC, webhooks).

    https_sink.py --port N --cert CERT --key KEY --log FILE
                  [--down FLAGFILE] [--ready FILE] [--client-ca CA]

Listens on 127.0.0.1:N over TLS (CERT and its KEY, PEM) and takes any
request to any path.  Each request becomes one JSON line appended to
FILE, flushed before the answer goes out, so that whoever reads FILE
after a 2xx sees the request there:

    {"n": 7, "time": 1718000000.123, "method": "POST",
     "path": "/services/collector/event", "status": 200,
     "headers": {"authorization": "Splunk ...", ...},
     "body": "...", "body_len": 1234, "peer_cert": "CN=..."}

headers: the names lowercased, repeated ones joined with ", "; body: the
request's body as UTF-8 (undecodable bytes as U+FFFD; body_len counts
the bytes); peer_cert: the client certificate's subject when --client-ca
asks for one, else null.  Bodies sent with Content-Length or chunked are
both read.

The answer is 200 with the body {"text":"Success","code":0} (what Splunk's
HEC answers), or 503 while FLAGFILE exists: a receiver that is "down" but
still listening, as a load balancer in front of a dead backend answers.
The 503s are logged too, with their status, so a test tells them apart.
Stop it with SIGTERM and start it again on the same port to be "stopped".

Once it listens, it writes its pid to --ready (for a test to wait on).
HTTP/1.1 with keep-alive, and Expect: 100-continue, as libcurl uses them.

Python 3 standard library only.
"""

import argparse
import json
import os
import signal
import ssl
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MAX_BODY = 64 * 1024 * 1024


class Sink(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, addr, handler, ctx, log, down):
        super().__init__(addr, handler)
        self.ctx = ctx
        self.log = log
        self.down = down
        self.lock = threading.Lock()
        self.count = 0

    def finish_request(self, request, client_address):
        # The handshake here, in the request's thread, not in accept():
        # a client that connects and stalls holds up no one else.
        request.settimeout(30)
        try:
            tls = self.ctx.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            return
        try:
            super().finish_request(tls, client_address)
        finally:
            try:
                tls.close()
            except OSError:
                pass

    def record(self, rec):
        with self.lock:
            self.count += 1
            rec["n"] = self.count
            self.log.write(json.dumps(rec, ensure_ascii=False) + "\n")
            self.log.flush()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "https_sink/1"
    timeout = 30  # an idle keep-alive connection is closed after it

    def log_message(self, fmt, *args):
        pass  # the JSON lines are the log

    def read_body(self):
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            body = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline().strip():
                        pass  # trailers
                    return body
                body += self.rfile.read(size)
                self.rfile.readline()
                if len(body) > MAX_BODY:
                    raise ValueError("body too large")
        n = int(self.headers.get("Content-Length") or 0)
        if n > MAX_BODY:
            raise ValueError("body too large")
        return self.rfile.read(n)

    def handle_any(self):
        try:
            body = self.read_body()
        except (ValueError, OSError) as e:
            self.send_error(400, str(e))
            return
        status = 503 if self.server.down and \
            os.path.exists(self.server.down) else 200
        headers = {}
        for k, v in self.headers.items():
            k = k.lower()
            headers[k] = headers[k] + ", " + v if k in headers else v
        peer = None
        cert = self.connection.getpeercert()
        if cert:
            peer = ",".join("%s=%s" % kv for rdn in cert.get("subject", ())
                            for kv in rdn)
        self.server.record({
            "time": round(time.time(), 3), "method": self.command,
            "path": self.path, "status": status, "headers": headers,
            "body": body.decode("utf-8", "replace"), "body_len": len(body),
            "peer_cert": peer})
        if status == 200:
            out = b'{"text":"Success","code":0}'
        else:
            out = b'{"text":"Server is busy","code":9}'
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        if status == 503:
            self.send_header("Retry-After", "1")
        self.end_headers()
        self.wfile.write(out)

    do_POST = do_PUT = do_GET = handle_any


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--down")
    ap.add_argument("--ready")
    ap.add_argument("--client-ca")
    a = ap.parse_args()

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(a.cert, a.key)
    if a.client_ca:
        ctx.load_verify_locations(a.client_ca)
        ctx.verify_mode = ssl.CERT_REQUIRED

    log = open(a.log, "a", encoding="utf-8")
    srv = Sink(("127.0.0.1", a.port), Handler, ctx, log, a.down)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    if a.ready:
        with open(a.ready + ".tmp", "w") as f:
            f.write("%d\n" % os.getpid())
        os.rename(a.ready + ".tmp", a.ready)
    try:
        srv.serve_forever()
    finally:
        log.close()


if __name__ == "__main__":
    main()
