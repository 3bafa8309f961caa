#!/usr/bin/python3
"""A MySQL server's login, faked: the handshake and an authentication
plugin of the test's choice, to see what a client sends a server that
asks for the password itself.  MariaDB 10.11 serves neither
caching_sha2_password nor sha256_password, the plugins MySQL 8 asks for,
so tests/integration/mysql.sh puts this fake where a machine in the
middle would be.

    mysql_auth.py PORT_FILE LOG CERT KEY PLUGIN [SECRET_FILE...]

It listens on 127.0.0.1 (a free port, written to PORT_FILE) and serves
one connection after another, for two minutes at most.  Each gets the
handshake of a MySQL 8.0 server offering TLS (CERT and KEY), whose
default plugin is PLUGIN, or mysql_native_password with a switch to
PLUGIN after the client's first answer: PLUGIN is caching_sha2_password,
sha256_password or mysql_clear_password, alone or as "switch:PLUGIN".

The client's answers are read as a server reads them: a scramble gets
caching_sha2_password's "full authentication" asked for, a request for
the server's RSA key (a client without TLS) gets the fake's, and what is
encrypted to it is decrypted.  A password so read (a SECRET_FILE's
password and a NUL) is accepted: OK, then `SELECT 1` gets a row with 1
and any other statement OK, so a login and rotad's verify succeed.
Anything else gets error 1045.

LOG gets one line a connection, no secret in it:

    conn tls=yes plugin=PLUGIN switched=yes|no answers=N clear=FILE|none end=...

tls: whether the client started TLS; switched: whether it was sent the
switch (and so had answered the handshake); answers: how many packets it
sent for the login after the handshake's answer; clear: the SECRET_FILE
(its name) whose password the fake could read, in any packet, TLS taken
off (or RSA); end: ok (logged in), refused (1045), or what ended it
(eof: the client closed).

Python 3's standard library, and openssl(1) for the RSA key.
"""

import os
import socket
import ssl
import struct
import subprocess
import sys
import time

CLIENT_LONG_PASSWORD = 0x1  # set: a MySQL server, not a MariaDB one
CLIENT_CONNECT_WITH_DB = 0x8
CLIENT_PROTOCOL_41 = 0x200
CLIENT_SSL = 0x800
CLIENT_TRANSACTIONS = 0x2000
CLIENT_SECURE_CONNECTION = 0x8000
CLIENT_PLUGIN_AUTH = 0x80000
CLIENT_CONNECT_ATTRS = 0x100000
CLIENT_PLUGIN_AUTH_LENENC = 0x200000
CAPS = (CLIENT_LONG_PASSWORD | CLIENT_CONNECT_WITH_DB | CLIENT_PROTOCOL_41 |
        CLIENT_SSL | CLIENT_TRANSACTIONS | CLIENT_SECURE_CONNECTION |
        CLIENT_PLUGIN_AUTH | CLIENT_CONNECT_ATTRS | CLIENT_PLUGIN_AUTH_LENENC)
NATIVE = b"mysql_native_password"
LIFETIME = 120


class Conn:
    """One client's packets, numbered as the protocol numbers them."""

    def __init__(self, sock):
        self.sock = sock
        self.seq = 0
        self.seen = b""  # every byte the client sent, TLS taken off

    def recv(self, n):
        b = b""
        while len(b) < n:
            x = self.sock.recv(n - len(b))
            if not x:
                raise EOFError
            b += x
        return b

    def read(self):
        head = self.recv(4)
        n = head[0] | head[1] << 8 | head[2] << 16
        self.seq = (head[3] + 1) & 0xFF
        body = self.recv(n)
        self.seen += body
        return body

    def write(self, body):
        self.sock.sendall(struct.pack("<I", len(body))[:3] +
                          bytes([self.seq]) + body)
        self.seq = (self.seq + 1) & 0xFF


def lenenc(data):
    return bytes([len(data)]) + data


def ok():
    return b"\x00\x00\x00\x02\x00\x00\x00"


def err(code, msg):
    return b"\xff" + struct.pack("<H", code) + b"#28000" + msg.encode()


def eof():
    return b"\xfe\x00\x00\x02\x00"


def handshake(plugin, scramble):
    return (b"\x0a" + b"8.0.36-fake\x00" + struct.pack("<I", 7) +
            scramble[:8] + b"\x00" + struct.pack("<H", CAPS & 0xFFFF) +
            b"\x21" + struct.pack("<H", 2) + struct.pack("<H", CAPS >> 16) +
            bytes([len(scramble) + 1]) + b"\x00" * 10 + scramble[8:] +
            b"\x00" + plugin + b"\x00")


def response_plugin(body):
    """The plugin a handshake response names, and its auth data."""
    caps = struct.unpack("<I", body[:4])[0]
    p = body.index(b"\x00", 32) + 1  # after the user name
    # The auth data's length: one byte, or a length-encoded integer,
    # which for the short answers a login starts with is one byte too.
    n = body[p]
    p += 1
    data = body[p:p + n]
    p += n
    if caps & CLIENT_CONNECT_WITH_DB:
        p = body.index(b"\x00", p) + 1
    plugin = body[p:body.index(b"\x00", p)] if caps & CLIENT_PLUGIN_AUTH \
        else NATIVE
    return plugin, data


class Rsa:
    """The fake's RSA key, which a client without TLS asks for and
    encrypts the password to (OAEP, SHA-1): openssl(1) makes it and
    decrypts, Python's standard library having no RSA."""

    def __init__(self, path):
        self.path = path
        subprocess.run(["openssl", "genpkey", "-algorithm", "RSA",
                        "-pkeyopt", "rsa_keygen_bits:2048", "-out", path],
                       check=True, capture_output=True)
        self.public = subprocess.run(
            ["openssl", "pkey", "-in", path, "-pubout"], check=True,
            capture_output=True).stdout

    def decrypt(self, data, scramble):
        """What the client encrypted: its password (and a NUL) XOR the
        scramble, read back."""
        out = subprocess.run(
            ["openssl", "pkeyutl", "-decrypt", "-inkey", self.path,
             "-pkeyopt", "rsa_padding_mode:oaep"], input=data,
            capture_output=True).stdout
        return bytes(b ^ scramble[i % len(scramble)]
                     for i, b in enumerate(out))


def serve_queries(c):
    """After a login: SELECT 1 is answered 1, COM_QUIT ends it."""
    while True:
        c.seq = 0
        body = c.read()
        if body[:1] == b"\x01":  # COM_QUIT
            return
        if body[:1] == b"\x03" and body[1:].strip().upper() == b"SELECT 1":
            c.write(b"\x01")
            c.write(lenenc(b"def") + lenenc(b"") * 3 + lenenc(b"1") +
                    lenenc(b"") + b"\x0c" + struct.pack("<HIBHB", 63, 1,
                                                        8, 0x81, 0) +
                    b"\x00\x00")
            c.write(eof())
            c.write(lenenc(b"1"))
            c.write(eof())
        else:
            c.write(ok())


def one(sock, ctx, rsa, plugin, switch, secrets, log):
    c = Conn(sock)
    note = {"tls": "no", "plugin": plugin.decode(), "switched": "no",
            "answers": 0, "clear": "none", "end": "?"}
    try:
        scramble = os.urandom(20)
        c.write(handshake(NATIVE if switch else plugin, scramble))
        body = c.read()
        if len(body) == 32 and struct.unpack("<I", body[:4])[0] & CLIENT_SSL:
            c.sock = ctx.wrap_socket(c.sock, server_side=True)
            note["tls"] = "yes"
            body = c.read()
        named, data = response_plugin(body)
        if switch or named != plugin:
            scramble = os.urandom(20)
            c.write(b"\xfe" + plugin + b"\x00" + scramble + b"\x00")
            note["switched"] = "yes"
            data = c.read()
            note["answers"] += 1
        if len(data) == 32 and plugin == b"caching_sha2_password":
            # A scramble, not the password: ask for the full
            # authentication, which over TLS is the password itself.
            c.write(b"\x01\x04")
            data = c.read()
            note["answers"] += 1
        if (data == b"\x02" and plugin == b"caching_sha2_password") or \
                (data == b"\x01" and plugin == b"sha256_password"):
            # No TLS (or not yet, for the client's first answer): the
            # client asks for the server's RSA key, and gets the fake's.
            c.write(b"\x01" + rsa.public)
            data = rsa.decrypt(c.read(), scramble)
            note["answers"] += 1
            c.seen += data
        if any(data == s + b"\x00" for s in secrets.values()):
            c.write(ok())
            note["end"] = "ok"
            serve_queries(c)
        else:
            c.write(err(1045, "Access denied (fake)"))
            note["end"] = "refused"
    except EOFError:
        note["end"] = "eof"
    except (OSError, ValueError, IndexError, struct.error) as e:
        note["end"] = type(e).__name__
    finally:
        sock.close()
    for name, s in secrets.items():
        if s and s in c.seen:
            note["clear"] = name
    with open(log, "a") as f:
        f.write("conn " + " ".join("%s=%s" % kv for kv in note.items()) +
                "\n")


def main():
    port_file, log, cert, key, plugin = sys.argv[1:6]
    secrets = {}
    for path in sys.argv[6:]:
        with open(path, "rb") as f:
            secrets[os.path.basename(path)] = f.read().rstrip(b"\n")
    switch = plugin.startswith("switch:")
    plugin = plugin.split(":")[-1].encode()
    rsa = Rsa(port_file + ".rsa")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    with open(port_file + ".tmp", "w") as f:
        f.write(str(srv.getsockname()[1]))
    os.rename(port_file + ".tmp", port_file)
    end = time.monotonic() + LIFETIME
    while time.monotonic() < end:
        srv.settimeout(end - time.monotonic())
        try:
            sock, _ = srv.accept()
        except socket.timeout:
            break
        sock.settimeout(10)
        one(sock, ctx, rsa, plugin, switch, secrets, log)


if __name__ == "__main__":
    main()
