#!/usr/bin/env python3
"""Scripted HTTPS answers for tests/http/test-http (test use only).

Usage: server.py DIR

DIR holds the certificates made by tests/http/http.sh.  Two listeners on
random loopback ports, both TLS:
  good      server.pem (CA "a", names localhost and 127.0.0.1)
  wronghost other.pem  (CA "a", names only other.invalid)
and a plain-HTTP one, "plain".  Ports are written to DIR/ports as
"good=N wronghost=N plain=N" once all listen (tests/lib/fakeserver.py).  Every request is appended to
DIR/requests.log as "METHOD PATH-WITHOUT-QUERY", so the test can count
attempts.  Answers depend on the path alone (see handle_any()).

Every listener is also an HTTP proxy (CONNECT, logged as "CONNECT
HOST:PORT"): a tunnel to 127.0.0.1 or localhost, 403 for refuse.invalid,
408 for busy.invalid.
"""
import json
import os
import select
import socket
import struct
import sys
import threading
from http.server import BaseHTTPRequestHandler

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import fakeserver  # noqa: E402  (tests/lib: TLS listeners, ports, lifetime)

DIR = sys.argv[1]
LOCK = threading.Lock()
COUNTS = {}


def count(path):
    with LOCK:
        COUNTS[path] = COUNTS.get(path, 0) + 1
        with open(os.path.join(DIR, "requests.log"), "a") as f:
            f.write(path + "\n")
        return COUNTS[path]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out at once

    def log_message(self, fmt, *args):  # quiet: the test reads requests.log
        pass

    def send(self, status, body=b"", headers=(), length=True):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        if length:
            self.send_header("Content-Length", str(len(body)))
        else:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(body)

    def reset(self):
        # RST instead of FIN: a connection reset as the client sees it
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                   struct.pack("ii", 1, 0))
        self.close_connection = True

    def handle_any(self):
        path = self.path.split("?", 1)[0]
        n = count(self.command + " " + path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        ok = json.dumps({"ok": True, "n": n}).encode()
        if path == "/json":
            self.send(200, ok, [("Content-Type", "application/json")])
        elif path == "/echo":
            self.send(200, json.dumps({
                "method": self.command,
                "body": body.decode(),
                "ctype": self.headers.get("Content-Type"),
                "xtest": self.headers.get("X-Test"),
                "auth": self.headers.get("Authorization"),
                "expect": self.headers.get("Expect"),
            }).encode(), [("Content-Type", "application/json")])
        elif path == "/redirect":
            self.send(302, b"", [("Location", "/json")])
        elif path == "/big":
            self.send(200, b"x" * (64 * 1024 + 1))
        elif path == "/big-nolen":
            self.send(200, b"x" * (200 * 1024), length=False)
        elif path == "/exact":
            self.send(200, b"y" * (64 * 1024))
        elif path == "/flaky503":
            self.send(503 if n <= 2 else 200, ok)
        elif path == "/always503":
            self.send(503, b'{"error":"busy"}')
        elif path == "/504":
            self.send(504 if n <= 1 else 200, ok)
        elif path == "/429":
            self.send(429, b"", [("Retry-After", "1")]) if n <= 1 else self.send(200, ok)
        elif path == "/429long":
            self.send(429, b"", [("Retry-After", "5")])
        elif path == "/500":
            self.send(500, b'{"error":"broken"}')
        elif path == "/404":
            self.send(404, b'{"error":"no such key"}')
        elif path == "/cookie":
            self.send(200, ok, [("Set-Cookie", "other=1; Path=/"),
                                ("Set-Cookie", "sid=first"),
                                ("Set-Cookie", " sid=S3CRET-COOKIE-MARK ; Expires=Wed, 21 Oct 2037 "
                                               "07:28:00 GMT; HttpOnly"),
                                ("Set-Cookie", "sidx=2")])
        elif path == "/408":
            self.send(408, b'{"error":"timeout"}')
        elif path == "/cookieflood":
            # 14,000 Set-Cookie lines (under HTTP_MAX_HEADERS), 503 first:
            # sid=v1..v20 lead, so the cap decides which one is kept
            lines = [("Set-Cookie", "sid=v%d" % i) for i in range(1, 21)]
            lines += [("Set-Cookie", "c=1")] * (14000 - 20)
            self.send(503 if n <= 1 else 200, ok, lines)
        elif path == "/bigheaders":
            self.send(200, ok, [("X-Pad", "0123456789")] * 20000)
        elif path == "/bigline":
            self.send(200, ok, [("X-Pad", "p" * 120000)])
        elif path == "/reset":
            self.reset() if n <= 1 else self.send(200, ok)
        else:
            self.send(400, b"unknown test path")

    do_GET = do_POST = do_PUT = do_DELETE = handle_any

    def do_CONNECT(self):
        count("CONNECT " + self.path)
        host, _, port = self.path.rpartition(":")
        if host == "refuse.invalid":
            self.send(403, b"no")
        elif host == "busy.invalid":
            self.send(408, b"")
        elif host in ("127.0.0.1", "localhost"):
            try:
                up = socket.create_connection(("127.0.0.1", int(port)))
            except (OSError, ValueError):
                self.send(502, b"")
                return
            self.send_response(200, "Connection established")
            self.end_headers()
            self.wfile.flush()
            relay(self.connection, up)
            self.close_connection = True
        else:
            self.send(502, b"")


def relay(a, b):
    """Bytes both ways until either side closes."""
    try:
        while True:
            r, _, _ = select.select([a, b], [], [], 30)
            if not r:
                return
            for s in r:
                data = s.recv(65536)
                if not data:
                    return
                (b if s is a else a).sendall(data)
    except OSError:
        pass
    finally:
        b.close()


def main():
    fakeserver.on_tls = lambda sock: count("TLS")  # one line per TLS connection accepted
    # "good" names localhost and 127.0.0.1, "wronghost" only other.invalid
    fakeserver.run(DIR, [("good", Handler, "server"), ("wronghost", Handler, "other"),
                         ("plain", Handler, None)], "server.py")


main()
