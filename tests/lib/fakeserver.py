"""TLS and start-up shared by the tests' fake servers (test use only):
tests/http/server.py, tests/gcpkms/fake_gcp.py, tests/kbs/fake_kbs.py.

A fake imports it (sys.path gets tests/lib first) and ends with

    fakeserver.run(DIR, [("https", Handler, "server"), ("http", Plain, None)])

which opens each listener on a random 127.0.0.1 port (TLS with
DIR/CERT.pem and DIR/CERT.key when CERT is given; tests/lib/fake.sh makes
them), writes "NAME=PORT ..." to DIR/ports by rename once all listen (what
fake_start in tests/lib/fake.sh waits for), and serves until the test's
shell is gone or an hour has passed.
"""
import os
import socket
import ssl
import sys
import threading
import time
import traceback
from http.server import ThreadingHTTPServer

# A client that connects and then stalls holds one thread, not forever.
IDLE_TIMEOUT = 30


def log_err(name, msg):
    sys.stderr.write("%s %s: %s\n" % (time.strftime("%H:%M:%S"), name, msg))
    sys.stderr.flush()


# A fake that counts TLS connections sets this: on_tls(ssl_socket), called
# after each handshake a client completes (see tests/*/keep*.sh).
on_tls = None


class Server(ThreadingHTTPServer):
    daemon_threads = True
    context = None
    name = "fake"

    def finish_request(self, request, client_address):
        # the TLS handshake in the request's own thread: one client that
        # refuses our certificate never stalls the others
        request.settimeout(IDLE_TIMEOUT)
        if self.context:
            try:
                request = self.context.wrap_socket(request, server_side=True)
            except (ssl.SSLError, OSError):
                return
            if on_tls:
                on_tls(request)
        try:
            super().finish_request(request, client_address)
        except (ConnectionError, ssl.SSLError, socket.timeout):
            pass

    def handle_error(self, request, client_address):
        log_err(self.name, "connection from %s:\n%s" % (client_address, traceback.format_exc()))


def serve(directory, handler, cert=None, name="fake", client_ca=None):
    """A listener on a random loopback port, served from a thread; its port.
    client_ca: DIR/CLIENT_CA.pem verifies client certificates, which are
    asked for but optional (the handler reads connection.getpeercert())."""
    srv = Server(("127.0.0.1", 0), handler)
    srv.name = name
    if cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(os.path.join(directory, cert + ".pem"),
                            os.path.join(directory, cert + ".key"))
        if client_ca:
            ctx.load_verify_locations(os.path.join(directory, client_ca + ".pem"))
            ctx.verify_mode = ssl.CERT_OPTIONAL
        srv.context = ctx
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv.server_address[1]


def write_ports(directory, ports):
    """DIR/ports as "NAME=PORT ...", whole or not at all."""
    tmp = os.path.join(directory, "ports.tmp")
    with open(tmp, "w") as f:
        f.write(" ".join("%s=%d" % kv for kv in ports) + "\n")
    os.rename(tmp, os.path.join(directory, "ports"))


def wait_for_parent(limit=3600):
    """Until the test kills us; should its shell die first, we go too."""
    parent = os.getppid()
    deadline = time.time() + limit
    while os.getppid() == parent and time.time() < deadline:
        time.sleep(0.5)


def run(directory, listeners, name="fake"):
    """listeners: (NAME, HANDLER, CERT-or-None[, CLIENT_CA]) each; see the
    module's doc."""
    ports = [(l[0], serve(directory, l[1], l[2], name, *l[3:])) for l in listeners]
    write_ports(directory, ports)
    wait_for_parent()
