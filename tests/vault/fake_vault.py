#!/usr/bin/env python3
"""A local stand-in for HashiCorp Vault / OpenBao (test use only), written
from Vault's HTTP API reference: the Transit secrets engine's encrypt and
decrypt, key versions and rotation, the X-Vault-Token and
X-Vault-Namespace headers, {"errors": [...]} answers, a sealed server.

Usage: fake_vault.py DIR

DIR (made by tests/vault/lib.sh) holds server.pem/server.key (names
localhost and 127.0.0.1) and config.json:
  {"tokens": {TOKEN: {"encrypt": [KEY...], "decrypt": [KEY...]}},
   "keys": {KEY: {"derived": BOOL}},
   "approle": {"role_id": R, "secret_id": S, "as": TOKEN},
   "kubernetes": {"role": R, "jwt": J, "as": TOKEN},
   "cert": {"cn": CN, "name": NAME, "as": TOKEN}}
A login (POST /v1/auth/approle/login {"role_id","secret_id"}, POST
/v1/auth/kubernetes/login {"role","jwt"}) answers {"auth": {"client_token",
"lease_duration", ...}} with a new token holding the policy of "as"; so does
POST /v1/auth/cert/login {"name"?} on the mtls listener, to a client
certificate (verified against DIR/ca.pem) whose CN is the "cn" configured
(and "name", when given, must be the one configured).
KEY is "[NAMESPACE/]MOUNT/NAME" (the namespace as X-Vault-Namespace names
it).  config.json is read again whenever it changes (write it by rename).

Listeners (DIR/ports): https (the API), mtls (the API, asking for a
client certificate) and http (the API again, plain, for
allow_insecure_http, and the control paths):
  POST /_rotate {"key": KEY}       a new key version; older ones still decrypt
  POST /_min_decrypt {"key": KEY, "version": N}   min_decryption_version
  POST /_seal {"sealed": BOOL}     503 {"errors": ["Vault is sealed"]} while sealed
  POST /_fault {"status": N, "times": K, "body": RAW}   the next K API calls
  POST /_revoke   every login token issued so far stops working (403)
  POST /_lease {"lease": S}   lease_duration of login tokens issued from now on
  POST /_reset    faults cleared, unsealed, counters zeroed
  GET  /_stats    {"encrypt": N, "decrypt": N, "denied": N, "sealed": N, "fault": N,
                   "login_approle": N, "login_kubernetes": N, "login_refused": N}

Every API request is appended to DIR/requests.log as
"METHOD PATH ns=NAMESPACE", each body to DIR/bodies.log (one JSON a line).
"""
import base64
import json
import os
import re
import sys
import threading
from http.server import BaseHTTPRequestHandler

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import fakeserver  # noqa: E402
from cryptography.hazmat.primitives.ciphers.aead import AESGCM  # noqa: E402

DIR = sys.argv[1]
LOCK = threading.Lock()
STATE = {"sealed": False, "faults": [], "stats": {}, "versions": {}, "min": {},
         "logins": {}, "lease": 3600, "n": 0}
CONF = {"mtime": None, "data": {}}
DENIED = "1 error occurred:\n\t* permission denied\n\n"


def conf():
    p = os.path.join(DIR, "config.json")
    m = os.stat(p).st_mtime_ns
    if m != CONF["mtime"]:
        with open(p) as f:
            CONF["data"] = json.load(f)
        CONF["mtime"] = m
    return CONF["data"]


def count(kind):
    STATE["stats"][kind] = STATE["stats"].get(kind, 0) + 1


def key_material(key, version, context):
    """Deterministic per key, version (and context for derived keys)."""
    seed = ("%s|%d|%s" % (key, version, context or "")).encode()
    import hashlib
    return hashlib.sha256(b"fake-vault-key|" + seed).digest()


def log(name, line):
    with open(os.path.join(DIR, name), "a") as f:
        f.write(line + "\n")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out at once: no 40 ms delayed-ACK stall
    control = False

    def log_message(self, *a):
        pass

    def answer(self, status, obj):
        body = obj if isinstance(obj, bytes) else json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def errors(self, status, *msgs):
        self.answer(status, {"errors": list(msgs)})

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def do_GET(self):
        if self.control and self.path == "/_stats":
            with LOCK:
                return self.answer(200, STATE["stats"])
        self.errors(404)

    def do_POST(self):
        raw = self.body()
        if self.control and self.path.startswith("/_"):
            return self.ctl(self.path, json.loads(raw or b"{}"))
        self.api(raw)

    def ctl(self, path, a):
        with LOCK:
            if path == "/_rotate":
                STATE["versions"][a["key"]] = STATE["versions"].get(a["key"], 1) + 1
            elif path == "/_min_decrypt":
                STATE["min"][a["key"]] = a["version"]
            elif path == "/_seal":
                STATE["sealed"] = bool(a.get("sealed", True))
            elif path == "/_fault":
                STATE["faults"].append(dict(a, times=a.get("times", 1)))
            elif path == "/_revoke":
                STATE["logins"].clear()
            elif path == "/_lease":
                STATE["lease"] = a["lease"]
            elif path == "/_reset":
                STATE.update(sealed=False, faults=[], stats={})
            else:
                return self.errors(404)
        self.answer(200, {})

    def api(self, raw):
        ns = self.headers.get("X-Vault-Namespace", "")
        log("requests.log", "POST %s ns=%s" % (self.path, ns))
        log("bodies.log", raw.decode("utf-8", "replace").replace("\n", " "))
        with LOCK:
            if STATE["sealed"]:
                count("sealed")
                return self.errors(503, "Vault is sealed")
            for f in STATE["faults"]:
                if f["times"] > 0:
                    f["times"] -= 1
                    count("fault")
                    if "body" in f:
                        return self.answer(f["status"], f["body"].encode())
                    return self.errors(f["status"], "fault injected")
        lm = re.fullmatch(r"/v1/auth/(approle|kubernetes|cert)/login", self.path)
        if lm:
            return self.login(lm.group(1), raw)
        m = re.fullmatch(r"/v1/([A-Za-z0-9_.\-/]+)/(encrypt|decrypt)/([A-Za-z0-9_.\-]+)", self.path)
        if not m:
            return self.errors(404, "no handler for route")
        mount, op, name = m.groups()
        key = "/".join(x for x in (ns.strip("/"), mount, name) if x)
        token = self.headers.get("X-Vault-Token")
        c = conf()
        with LOCK:
            login = STATE["logins"].get(token)
        pol = c.get("tokens", {}).get(login or token) if token else None
        if pol is None or key not in pol.get(op, []):
            with LOCK:
                count("denied")
            return self.errors(403, DENIED)
        kconf = c.get("keys", {}).get(key)
        if kconf is None:
            return self.errors(400, "encryption key not found")
        try:
            req = json.loads(raw)
        except ValueError:
            return self.errors(400, "failed to parse JSON input")
        context = req.get("context")
        if kconf.get("derived") and not context:
            return self.errors(400, "missing 'context' for key derivation; the key was created "
                               "using a derived key, which means additional, per-request "
                               "information must be included in order to perform operations with the key")
        if not kconf.get("derived"):
            context = None
        with LOCK:
            count(op)
            latest = STATE["versions"].get(key, 1)
            minv = STATE["min"].get(key, 1)
        if op == "encrypt":
            try:
                pt = base64.b64decode(req.get("plaintext", ""), validate=True)
            except ValueError:
                return self.errors(400, "failed to base64-decode plaintext")
            nonce = os.urandom(12)
            ct = AESGCM(key_material(key, latest, context)).encrypt(nonce, pt, None)
            return self.answer(200, {"request_id": "fake", "lease_id": "", "renewable": False,
                                     "lease_duration": 0, "wrap_info": None, "warnings": None,
                                     "auth": None,
                                     "data": {"ciphertext": "vault:v%d:%s" % (
                                         latest, base64.b64encode(nonce + ct).decode()),
                                              "key_version": latest}})
        cm = re.fullmatch(r"vault:v([0-9]+):([A-Za-z0-9+/=]+)", req.get("ciphertext", ""))
        if not cm:
            return self.errors(400, "invalid ciphertext: no prefix")
        ver = int(cm.group(1))
        if ver < minv:
            return self.errors(400, "ciphertext or signature version is disallowed by policy (too old)")
        if ver > latest:
            return self.errors(400, "invalid ciphertext: version is too new")
        blob = base64.b64decode(cm.group(2))
        try:
            pt = AESGCM(key_material(key, ver, context)).decrypt(blob[:12], blob[12:], None)
        except Exception:
            return self.errors(400, "cipher: message authentication failed")
        self.answer(200, {"request_id": "fake", "lease_id": "", "renewable": False,
                          "lease_duration": 0, "wrap_info": None, "warnings": None, "auth": None,
                          "data": {"plaintext": base64.b64encode(pt).decode()}})


def _login(self, method, raw):
    c = conf().get(method) or {}
    try:
        req = json.loads(raw)
    except ValueError:
        return self.errors(400, "failed to parse JSON input")
    if method == "cert":
        peer = self.connection.getpeercert() if hasattr(self.connection, "getpeercert") else None
        cn = dict(x[0] for x in peer["subject"]).get("commonName") if peer else None
        if cn is None or cn != c.get("cn") or ("name" in req and req["name"] != c.get("name")):
            with LOCK:
                count("login_refused")
            return self.errors(400, "invalid certificate or no client certificate supplied")
    elif method == "approle":
        ok = req.get("role_id") == c.get("role_id") and req.get("secret_id") == c.get("secret_id")
        if not ok:
            with LOCK:
                count("login_refused")
            return self.errors(400, "invalid role or secret ID")
    else:
        if req.get("role") != c.get("role") or req.get("jwt") != c.get("jwt"):
            with LOCK:
                count("login_refused")
            return self.errors(403, DENIED)
    with LOCK:
        count("login_" + method)
        STATE["n"] += 1
        tok = "hvs.login%dx%d-%s" % (os.getpid(), STATE["n"], base64.b32encode(os.urandom(10)).decode())
        STATE["logins"][tok] = c["as"]
        lease = STATE["lease"]
    self.answer(200, {"request_id": "fake", "lease_id": "", "renewable": False,
                      "lease_duration": 0, "data": None, "wrap_info": None, "warnings": None,
                      "auth": {"client_token": tok, "accessor": "acc", "policies": ["default"],
                               "token_policies": ["default"], "metadata": {},
                               "lease_duration": lease, "renewable": True,
                               "entity_id": "", "token_type": "service", "orphan": True}})


Handler.login = _login


class Control(Handler):
    control = True


fakeserver.run(DIR, [("https", Handler, "server"), ("mtls", Handler, "server", "ca"),
                     ("http", Control, None)], name="fake_vault")
