#!/usr/bin/env python3
"""A local Key Broker Service for ocikp's kbs tests (test use only).

Usage: fake_kbs.py DIR

It answers the KBS protocol 0.4.0 the way trustee's API server does
(trustee kbs/src/api_server.rs, attestation/backend.rs, attestation/session.rs,
jwe/mod.rs, error.rs, admin/; the sample verifier deps/verifier/src/sample;
types from the kbs-types crate), for the "sample" TEE.  The wire shapes below
were written from those sources, not from ocikp's client.

DIR holds (tests/kbs/lib.sh makes them):
  ca.pem, server.pem, server.key   TLS (names localhost and 127.0.0.1)
  admin-pub.pem                    Ed25519 key that verifies admin JWTs
  config.json                      {"resources": {"repo/type/tag": B64, ...},
                                    "require_role": "admin",      (optional)
                                    "admin_role_regex": "^/kbs/v0/resource/.+$",
                                    "admin_mode": "jwt"|"allow_all"|"deny_all",
                                    "iss": "...", "aud": "...",   (optional)
                                    "session_ttl": 300,           (seconds)
                                    "missing_status": 401|404,
                                    "deny": ["repo/type/tag", ...] (policy denial),
                                    "resource_plugins": ["name", ...]
                                      (more plugin names serving the resources,
                                       for kbs+<name>:// kids),
                                    "list": "objects"|"strings"|"none",
                                    "session_id": "..."}   (optional: every new
                                      session gets this id, for a test that
                                      must know the secret beforehand)
                                      (GET /kbs/v0/resource, admin: the stored
                                       resources as current trustee lists them
                                       (objects, the default), as strings, or,
                                       with "none", as a KBS without the list
                                       answers: an attestation token required)

Two listeners on random loopback ports, HTTPS and plain HTTP, the same API on
both; "https=N http=N" is written to DIR/ports once both listen
(tests/lib/fakeserver.py).  Every
request is appended to DIR/requests.log as "KIND METHOD PATH" (KIND one of
auth, attest, resource_get, resource_post, resource_delete, other, control).

The plain-HTTP port also answers the test's control requests:
  POST /_fault  {"match": SUBSTRING of "METHOD PATH", "times": K,
                 "status": N, "body": "...", "hang": SECONDS,
                 "bad_jwe": "garbage"|"other_key"|"tamper"}
                the next K matching requests (path without the query):
                wait "hang" seconds, then answer "status" (with "body",
                default a KBS error body) or, without "status", as usual;
                with bad_jwe, the next K successful resource GETs carry a
                JWE that is malformed, for a fresh key, or with a flipped tag
  POST /_expire drop every session and rotate the token key (the next
                resource GET answers 401 as for an expired session)
  POST /_config {KEY: VALUE, ...} change config.json settings live
  POST /_reset  faults, sessions, counters, resources (back to config.json)
                and requests.log start over
  GET  /_stats  {"auth","attest","resource_get","resource_post",
                 "resource_delete","other","unauthorized","not_found"}
  GET  /_resource/<repo>/<type>/<tag>  the stored resource, standard base64
  GET  /_conns  {"tls_handshakes": N (HTTPS connections accepted), "tls_resumed"}
  GET  /_secrets  ["<session id>", "<token>", ...] of every live session, for
                a test looking for them where they must not be
"""
import base64
import hashlib
import json
import os
import re
import sys
import threading
import time
import uuid
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature, encode_dss_signature)
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.keywrap import aes_key_wrap

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import fakeserver  # noqa: E402  (tests/lib: TLS listeners, ports, lifetime)

DIR = sys.argv[1] if len(sys.argv) > 1 else "."
LOCK = threading.Lock()

# trustee error.rs: ERROR_TYPE_PREFIX
ERROR_PREFIX = "https://github.com/confidential-containers/kbs/errors"
KBS_PREFIX = "/kbs/v0/"
SESSION_COOKIE = "kbs-session-id"
# kbs-types Tee, serde rename_all = "lowercase" (plus the two renamed ones)
TEES = {"az-snp-vtpm", "az-tdx-vtpm", "nvidia", "sgx", "snp", "tdx", "cca", "csv",
        "se", "hygondcu", "tpm", "sample", "sampledevice"}
# trustee plugins/implementations/resource/backend.rs: ResourceDesc
RESOURCE_RE = re.compile(r"^[a-zA-Z0-9_\-]+[a-zA-Z0-9_\-.]*/[a-zA-Z0-9_\-]+[a-zA-Z0-9_\-.]*"
                         r"/[a-zA-Z0-9_\-]+[a-zA-Z0-9_\-.]*$")
VERSION_RE = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
                        r"(?:-([0-9A-Za-z.-]+))?(?:\+([0-9A-Za-z.-]+))?$")
STAT_KINDS = ("auth", "attest", "resource_get", "resource_post", "resource_delete",
              "other", "unauthorized", "not_found")


# ---- encodings ----------------------------------------------------------------

def b64u(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64u_decode(s):
    """base64url without padding, strictly (Rust's URL_SAFE_NO_PAD)."""
    if not isinstance(s, str) or not re.fullmatch(r"[A-Za-z0-9_-]*", s) or len(s) % 4 == 1:
        raise ValueError("bad base64url")
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def b64_decode(s):
    """Standard base64 with padding, strictly (Rust's STANDARD engine)."""
    if not isinstance(s, str) or len(s) % 4 or not re.fullmatch(r"[A-Za-z0-9+/]*={0,2}", s):
        raise ValueError("bad base64")
    return base64.b64decode(s, validate=True)


def compact(v):
    """serde_json::to_string: no whitespace, non-ASCII as is."""
    return json.dumps(v, separators=(",", ":"), ensure_ascii=False)


def canon_json(v):
    """RFC 8785 (JCS) serialization, as serde_json_canonicalizer writes it:
    members sorted by UTF-16 code units, no whitespace, ES6 number form."""
    if v is None:
        return "null"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if v != v or v in (float("inf"), float("-inf")):
            raise ValueError("not a JSON number")
        if v.is_integer() and abs(v) < 1e21:
            return str(int(v))
        r = repr(v)
        if "e" in r:
            m, e = r.split("e")
            r = "%se%s%d" % (m, "+" if int(e) > 0 else "-", abs(int(e)))
        return r
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, list):
        return "[" + ",".join(canon_json(x) for x in v) + "]"
    if isinstance(v, dict):
        keys = sorted(v, key=lambda k: k.encode("utf-16-be", "surrogatepass"))
        return "{" + ",".join(json.dumps(k, ensure_ascii=False) + ":" + canon_json(v[k])
                              for k in keys) + "}"
    raise TypeError("not JSON")


class Fail(Exception):
    """An error answered as trustee's error.rs does: 401 (or status) with
    {"type": PREFIX/<variant>, "detail": "..."}."""

    def __init__(self, variant, detail, status=401):
        super().__init__(detail)
        self.variant, self.detail, self.status = variant, detail, status


# ---- typed values as trustee deserializes them --------------------------------

def tee_pubkey(v):
    """kbs_types::TeePubKey (serde tag "kty"): unknown members dropped, the
    rest re-serialized; anything else is a deserialization error."""
    if not isinstance(v, dict):
        raise ValueError("tee-pubkey is not an object")
    if v.get("kty") == "EC":
        names = ("crv", "alg", "x", "y")
    elif v.get("kty") == "RSA":
        names = ("alg", "n", "e")
    else:
        raise ValueError("unknown kty")
    out = {"kty": v["kty"]}
    for n in names:
        if not isinstance(v.get(n), str):
            raise ValueError("tee-pubkey field %s" % n)
        out[n] = v[n]
    return out


def semver_is_040(s):
    """semver: VersionReq "=0.4.0" (trustee KBS_{MAJOR,MINOR,PATCH}_VERSION)."""
    m = VERSION_RE.match(s) if isinstance(s, str) else None
    if not m:
        return None
    return (int(m[1]), int(m[2]), int(m[3])) == (0, 4, 0) and m[4] is None


# ---- state --------------------------------------------------------------------

class State:
    def __init__(self):
        with open(os.path.join(DIR, "config.json")) as f:
            self.file_config = json.load(f)
        self.admin_key = None
        p = os.path.join(DIR, "admin-pub.pem")
        if os.path.exists(p):
            with open(p, "rb") as f:
                self.admin_key = serialization.load_pem_public_key(f.read())
        self.reset()

    def reset(self):
        self.config = dict(self.file_config)
        self.resources = {k: b64_decode(v) for k, v in self.config.get("resources", {}).items()}
        self.sessions = {}
        self.faults = []
        self.stats = {k: 0 for k in STAT_KINDS}
        self.conns = {"tls_handshakes": 0, "tls_resumed": 0}
        self.token_key = ec.generate_private_key(ec.SECP256R1())

    def ttl(self):
        return int(self.config.get("session_ttl", 300))


S = State()


def log_request(kind, method, path):
    with open(os.path.join(DIR, "requests.log"), "a") as f:
        f.write("%s %s %s\n" % (kind, method, path))


# ---- the attestation token (an EAR JWT, ES256, as trustee's CoCo AS signs) ----

def ec_jwk(pub):
    n = pub.public_numbers()
    return {"kty": "EC", "crv": "P-256", "alg": "ES256",
            "x": b64u(n.x.to_bytes(32, "big")), "y": b64u(n.y.to_bytes(32, "big"))}


def es256_sign(key, signing_input):
    r, s = decode_dss_signature(key.sign(signing_input, ec.ECDSA(hashes.SHA256())))
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def make_token(runtime_data, evidence):
    """attestation-service ear_token/broker.rs: the EAR with one "cpu0"
    submodule whose annotated evidence carries runtime_data_claims (where
    kbs/src/token/mod.rs TOKEN_TEE_PUBKEY_PATH_EAR finds the TEE key)."""
    now = int(time.time())
    header = {"alg": "ES256", "typ": "JWT", "jwk": ec_jwk(S.token_key.public_key())}
    claims = {
        "eat_profile": "tag:github.com,2024:confidential-containers/Trustee",
        "iat": now,
        "ear.verifier-id": {"build": "fake_kbs", "developer": "ocikp tests"},
        "submods": {"cpu0": {
            "ear.status": "affirming",
            "ear.trustworthiness-vector": {"instance-identity": 2, "executables": 3,
                                           "configuration": 2, "hardware": 2},
            "ear.appraisal-policy-id": "default",
            "ear.veraison.annotated-evidence": {
                "sample": {"svn": evidence.get("svn"), "report_data": evidence.get("report_data"),
                           "launch_digest": "abcde", "debug": False},
                "runtime_data_claims": runtime_data,
            },
        }},
        "exp": now + S.ttl(),
        "iss": "CoCo-Attestation-Service",
    }
    si = b64u(compact(header).encode()) + "." + b64u(compact(claims).encode())
    return si + "." + b64u(es256_sign(S.token_key, si.encode()))


def verify_token(token):
    """Our token verifier: our own ES256 key, exp with jsonwebtoken's 60 s
    leeway.  Returns the claims; Fail(TokenVerifierError) otherwise."""
    try:
        h, c, s = token.split(".")
        sig = b64u_decode(s)
        if len(sig) != 64 or json.loads(b64u_decode(h)).get("alg") != "ES256":
            raise ValueError("alg")
        S.token_key.public_key().verify(
            encode_dss_signature(int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big")),
            (h + "." + c).encode(), ec.ECDSA(hashes.SHA256()))
        claims = json.loads(b64u_decode(c))
        if not isinstance(claims.get("exp"), int) or claims["exp"] + 60 < time.time():
            raise ValueError("exp")
        return claims
    except (ValueError, InvalidSignature, AttributeError, TypeError):
        raise Fail("TokenVerifierError", "Token Verifier error")


# ---- JWE (trustee kbs/src/jwe/mod.rs) -----------------------------------------

def concat_kdf(z, alg, bits=256):
    """NIST SP 800-56A Concat KDF, SHA-256, empty apu/apv (RFC 7518 4.6.2)."""
    out = b""
    i = 1
    while len(out) * 8 < bits:
        out += hashlib.sha256(i.to_bytes(4, "big") + z + len(alg).to_bytes(4, "big") + alg.encode()
                              + b"\0\0\0\0" + b"\0\0\0\0" + bits.to_bytes(4, "big")).digest()
        i += 1
    return out[:bits // 8]


def jwe_seal(header, wrapped_key, cek, payload):
    protected = b64u(compact(header).encode())
    iv = os.urandom(12)
    ct = AESGCM(cek).encrypt(iv, payload, protected.encode())
    # kbs_types::Response field order; "aad" skipped when None
    return {"protected": protected, "encrypted_key": b64u(wrapped_key), "iv": b64u(iv),
            "ciphertext": b64u(ct[:-16]), "tag": b64u(ct[-16:])}


def jwe(pk, payload):
    """pk: the typed TeePubKey from the token.  Fail(JweError) on a key
    trustee cannot encrypt to."""
    try:
        cek = os.urandom(32)
        if pk["kty"] == "EC":
            if pk["crv"] != "P-256" or pk["alg"] != "ECDH-ES+A256KW":
                raise ValueError("curve %s and algorithm %s is not supported" % (pk["crv"], pk["alg"]))
            x, y = b64u_decode(pk["x"]), b64u_decode(pk["y"])
            if len(x) != 32 or len(y) != 32:
                raise ValueError("invalid bytes length of coordinates")
            peer = ec.EllipticCurvePublicNumbers(int.from_bytes(x, "big"), int.from_bytes(y, "big"),
                                                 ec.SECP256R1()).public_key()
            eph = ec.generate_private_key(ec.SECP256R1())
            kek = concat_kdf(eph.exchange(ec.ECDH(), peer), "ECDH-ES+A256KW")
            en = eph.public_key().public_numbers()
            # serde_json's Map sorts keys: crv, kty, x, y
            header = {"alg": "ECDH-ES+A256KW", "enc": "A256GCM",
                      "epk": {"crv": "P-256", "kty": "EC", "x": b64u(en.x.to_bytes(32, "big")),
                              "y": b64u(en.y.to_bytes(32, "big"))}}
            return jwe_seal(header, aes_key_wrap(kek, cek), cek, payload)
        n = int.from_bytes(b64u_decode(pk["n"]), "big")
        e = int.from_bytes(b64u_decode(pk["e"]), "big")
        pub = rsa.RSAPublicNumbers(e, n).public_key()
        if pub.key_size > 4096:
            raise ValueError("RSA key too large")
        if pk["alg"] == "RSA-OAEP-256":
            wrapped = pub.encrypt(cek, padding.OAEP(mgf=padding.MGF1(hashes.SHA256()),
                                                    algorithm=hashes.SHA256(), label=None))
        elif pk["alg"] == "RSA1_5":
            wrapped = pub.encrypt(cek, padding.PKCS1v15())
        else:
            raise ValueError("algorithm %s is not supported" % pk["alg"])
        return jwe_seal({"alg": pk["alg"], "enc": "A256GCM"}, wrapped, cek, payload)
    except (ValueError, KeyError, TypeError):
        raise Fail("JweError", "JWE failed")


def other_key(pk):
    """A fresh public key of the same kind as pk (for bad_jwe other_key)."""
    if pk["kty"] == "EC":
        k = ec.generate_private_key(ec.SECP256R1()).public_key().public_numbers()
        return dict(pk, x=b64u(k.x.to_bytes(32, "big")), y=b64u(k.y.to_bytes(32, "big")))
    k = rsa.generate_private_key(65537, 2048).public_key().public_numbers()
    return dict(pk, n=b64u(k.n.to_bytes((k.n.bit_length() + 7) // 8, "big")))


# ---- admin authentication (trustee kbs/src/admin) -----------------------------

def admin_denied(reason):
    # api_server.rs calls check_admin_access(&request)? for a plugin, and the
    # only From<admin::Error> is Error::AdminAuthInitialization
    return Fail("AdminAuthInitialization",
                "failed to initialize [admin] configuration: Admin access denied: " + reason)


def check_admin(handler):
    mode = S.config.get("admin_mode", "jwt" if S.admin_key else "allow_all")
    if mode == "allow_all":
        return
    if mode == "deny_all":
        raise admin_denied("Admin access denied as DenyAll authorization_mode is enabled")
    auth = handler.headers.get("Authorization") or ""
    if not auth.startswith("Bearer ") or not auth[7:].strip():
        raise Fail("AdminAuthInitialization", "failed to initialize [admin] configuration: "
                   "Failed to parse HTTP Auth Bearer header")
    token = auth[7:].strip()
    # authentication/bearer_jwt.rs + crypto/jwt.rs: jsonwebtoken with the
    # header's alg, Validation::new (exp required, 60 s leeway, nbf and aud
    # not validated); then role, iss, aud.
    try:
        h, c, s = token.split(".")
        if json.loads(b64u_decode(h)).get("alg") != "EdDSA":
            raise ValueError("alg")
        S.admin_key.verify(b64u_decode(s), (h + "." + c).encode())
        claims = json.loads(b64u_decode(c))
        exp = claims.get("exp")
        if not isinstance(exp, int) or isinstance(exp, bool) or exp < 0 or exp + 60 < time.time():
            raise ValueError("exp")
    except (ValueError, InvalidSignature, AttributeError, TypeError):
        raise admin_denied("Cannot verify token with any of the issuers")
    role = claims.get("role")
    want_role = S.config.get("require_role")
    if want_role is not None and not isinstance(role, str):
        raise admin_denied('Failed to parse claims from token: AdminAccessDenied { reason: '
                           '"Missing required `role` claim in JWT" }')
    iss, aud = S.config.get("iss"), S.config.get("aud")
    if iss is not None and claims.get("iss") != iss:
        raise admin_denied("Cannot verify token with any of the issuers")
    if aud is not None:
        a = claims.get("aud")
        auds = [a] if isinstance(a, str) else [x for x in a if isinstance(x, str)] \
            if isinstance(a, list) else []
        if aud not in auds:
            raise admin_denied("Cannot verify token with any of the issuers")
    if want_role is None:
        return
    # authorization/regex_acl.rs: the role's regex against request.uri()
    regex = S.config.get("admin_role_regex", "^/kbs/v0/resource/.+$")
    if role == want_role and re.search(regex, handler.path):
        return
    raise admin_denied("Role %s not allowed for path %s" % (role, handler.path))


# ---- the handler --------------------------------------------------------------

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    control = False  # set on the plain-HTTP server's class

    def log_message(self, fmt, *args):
        pass

    def answer(self, status, body=b"", ctype=None, headers=()):
        if status == 401:
            S.stats["unauthorized"] += 1
        elif status == 404:
            S.stats["not_found"] += 1
        self.send_response(status)
        if ctype:
            self.send_header("Content-Type", ctype)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def fail(self, f):
        # error.rs: ErrorInformation, no content type set
        self.answer(f.status, compact({"type": "%s/%s" % (ERROR_PREFIX, f.variant),
                                       "detail": f.detail}).encode())

    def cookie(self):
        for part in (self.headers.get("Cookie") or "").split(";"):
            k, _, v = part.strip().partition("=")
            if k == SESSION_COOKIE:
                return v
        return None

    def session(self, sid):
        """attestation/session.rs SessionMap::get: an expired one is gone."""
        s = S.sessions.get(sid) if sid else None
        if s and s["timeout"] < time.time():
            del S.sessions[sid]
            return None
        return s

    def set_cookie(self, s):
        # actix cookie with .expires(): "name=value; Expires=<HTTP-date>"
        return ("Set-Cookie", "%s=%s; Expires=%s" % (SESSION_COOKIE, s["id"],
                                                    formatdate(s["timeout"], usegmt=True)))

    # ---- dispatch ----

    def handle_any(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        path = self.path.split("?", 1)[0]
        if self.control and path.startswith("/_"):
            with LOCK:
                log_request("control", self.command, path)
            return self.control_request(path, body)
        kind = self.kind(path)
        with LOCK:
            log_request(kind, self.command, path)
            S.stats[kind] += 1
            fault = self.take_fault("status")
        if fault:
            if fault.get("hang"):
                time.sleep(float(fault["hang"]))
            if fault.get("status"):
                st = int(fault["status"])
                b = fault.get("body")
                if b is None:
                    b = compact({"type": ERROR_PREFIX + "/InjectedFault",
                                 "detail": "injected fault %d" % st})
                with LOCK:
                    return self.answer(st, b.encode())
        with LOCK:
            try:
                self.api(path, body)
            except Fail as f:
                self.fail(f)

    def kind(self, path):
        if path == "/kbs/v0/auth" and self.command == "POST":
            return "auth"
        if path == "/kbs/v0/attest" and self.command == "POST":
            return "attest"
        if path.startswith("/kbs/v0/resource/"):
            k = {"GET": "resource_get", "POST": "resource_post", "DELETE": "resource_delete"}
            return k.get(self.command, "other")
        return "other"

    def take_fault(self, what):
        """The first armed fault matching "METHOD PATH": what="status" for
        status/hang faults, "jwe" for bad_jwe ones."""
        line = "%s %s" % (self.command, self.path.split("?", 1)[0])
        for f in S.faults:
            if f["times"] <= 0 or f["match"] not in line:
                continue
            if (what == "jwe") != bool(f.get("bad_jwe")):
                continue
            f["times"] -= 1
            return f
        return None

    def api(self, path, body):
        # api_server.rs: one route "/kbs/v0/{path:.*}" for GET/POST/PUT/DELETE
        if not path.startswith(KBS_PREFIX) or self.command not in ("GET", "POST", "PUT", "DELETE"):
            return self.answer(404)
        parts = path[len(KBS_PREFIX):].split("/")
        plugin, rest = parts[0], parts[1:]
        if plugin == "auth" and self.command == "POST":
            return self.auth(body)
        if plugin == "attest" and self.command == "POST":
            return self.attest(body)
        if plugin != "resource" and plugin not in S.config.get("resource_plugins", []):
            raise Fail("PluginNotFound", "Plugin %s not found" % plugin, 404)
        if self.command in ("POST", "DELETE"):  # resource plugin validate_auth
            check_admin(self)
            return self.resource_admin(rest, body)
        if plugin == "resource" and not rest and S.config.get("list", "objects") != "none":
            check_admin(self)  # validate_auth: GET with an empty path is an admin request
            return self.resource_list()
        return self.resource_get(rest)

    # ---- RCAR ----

    def auth(self, body):
        """backend.rs __auth."""
        def bad(msg):
            return Fail("AttestationError", "Attestation error: RCAR handshake Auth failed: " + msg)
        try:
            req = json.loads(body)
            if not isinstance(req, dict) or not isinstance(req.get("version"), str) \
               or not isinstance(req.get("tee"), str) or req["tee"] not in TEES \
               or "extra-params" not in req:
                raise ValueError
        except ValueError:
            raise bad("deserialize Request")
        ok = semver_is_040(req["version"])
        if ok is None:
            raise bad("failed to parse KBS version")
        if not ok:
            raise bad("KBS Client Protocol Version Mismatch: expect =0.4.0 while the request is "
                      + req["version"])
        # generic_generate_challenge: 32 random bytes, standard base64;
        # extra-params the empty string (every TEE but se)
        challenge = {"nonce": base64.b64encode(os.urandom(32)).decode(), "extra-params": ""}
        s = {"id": S.config.get("session_id") or uuid.uuid4().hex, "tee": req["tee"], "nonce": challenge["nonce"],
             "timeout": time.time() + S.ttl(), "token": None}
        S.sessions[s["id"]] = s
        self.answer(200, compact(challenge).encode(), "application/json", [self.set_cookie(s)])

    def attest(self, body):
        """backend.rs __attest, builtin AS, sample verifier."""
        fail = Fail("AttestationError", "Attestation error: RCAR handshake Attest failed")
        sid = self.cookie()
        if sid is None:
            raise fail
        try:
            att = json.loads(body)
            rd, te = att["runtime-data"], att["tee-evidence"]
            init = att.get("init-data")
            if not isinstance(rd.get("nonce"), str) or "primary_evidence" not in te \
               or not isinstance(te.get("additional_evidence"), str):
                raise ValueError
            if init is not None and not (isinstance(init.get("format"), str)
                                         and isinstance(init.get("body"), str)):
                raise ValueError
            pk = tee_pubkey(rd.get("tee-pubkey"))
        except (ValueError, KeyError, TypeError, AttributeError):
            raise fail
        s = self.session(sid)
        if s is None:
            raise fail
        if s["token"]:  # already attested: the old token again
            return self.answer(200, compact({"token": s["token"]}).encode(), "application/json",
                               [self.set_cookie(s)])
        if rd["nonce"] != s["nonce"]:
            raise fail
        runtime = {"tee-pubkey": pk, "nonce": s["nonce"],
                   "additional-evidence": te["additional_evidence"]}
        if te["additional_evidence"]:
            raise fail  # no device verifiers here
        if init is not None and init["format"] != "toml":
            raise fail
        if s["tee"] != "sample":
            raise fail  # only the sample verifier is here
        ev = te["primary_evidence"]
        try:
            if not isinstance(ev, dict) or not isinstance(ev.get("svn"), str):
                raise ValueError
            rdata = ev.get("report_data", "")
            if not isinstance(rdata, str):
                raise ValueError
            got = b64_decode(rdata)
        except ValueError:
            raise fail
        # attestation-service parse_runtime_data: SHA-384 (every TEE but se)
        # of the JCS form of the structured runtime data
        if got != hashlib.sha384(canon_json(runtime).encode()).digest():
            raise fail
        s["token"] = make_token(runtime, ev)
        self.answer(200, compact({"token": s["token"]}).encode(), "application/json",
                    [self.set_cookie(s)])

    # ---- resources ----

    def resource_get(self, rest):
        """api_server.rs, the plugin branch without admin auth."""
        token = None
        s = self.session(self.cookie())
        if s and s["token"]:
            token = s["token"]
        else:
            auth = self.headers.get("Authorization") or ""
            if auth.startswith("Bearer ") and auth[7:].strip():
                token = auth[7:].strip()
        if token is None:
            raise Fail("TokenNotFound", "Attestation Token not found")
        claims = verify_token(token)
        desc = "/".join(rest)
        if desc in S.config.get("deny", []):
            raise Fail("PolicyDeny", "Access denied by policy")
        if self.command != "GET" or not RESOURCE_RE.match(desc):
            raise Fail("PluginInternalError", "Plugin internal error")
        if desc not in S.resources:
            if int(S.config.get("missing_status", 401)) == 404:
                # KBS before mid-2024
                raise Fail("ResourceNotFound", "Resource not found", 404)
            raise Fail("PluginInternalError", "Plugin internal error")
        try:
            pk = claims["submods"]["cpu0"]["ear.veraison.annotated-evidence"][
                "runtime_data_claims"]["tee-pubkey"]
            pk = tee_pubkey(pk)
        except (KeyError, TypeError, ValueError):
            raise Fail("TokenVerifierError", "Token Verifier error")
        fault = self.take_fault("jwe")
        bad = fault and fault["bad_jwe"]
        if bad == "garbage":
            return self.answer(200, b'{"protected":"%%not base64url","encrypted_key":7,"iv":""}',
                               "application/json")
        out = jwe(other_key(pk) if bad == "other_key" else pk, S.resources[desc])
        if bad == "tamper":
            tag = bytearray(b64u_decode(out["tag"]))
            tag[0] ^= 0x01
            out["tag"] = b64u(bytes(tag))
        self.answer(200, compact(out).encode(), "application/json")

    def resource_list(self):
        """resource/mod.rs list_secret_resources, serialized by serde_json."""
        names = sorted(S.resources)
        if S.config.get("list", "objects") == "strings":
            out = names
        else:
            out = [dict(zip(("repository_name", "resource_type", "resource_tag"), n.split("/")))
                   for n in names]
        self.answer(200, compact(out).encode(), "application/json")

    def resource_admin(self, rest, body):
        desc = "/".join(rest)
        if not RESOURCE_RE.match(desc):
            raise Fail("PluginInternalError", "Plugin internal error")
        if self.command == "POST":
            S.resources[desc] = body
        elif S.resources.pop(desc, None) is None:
            raise Fail("PluginInternalError", "Plugin internal error")
        self.answer(200, b"", "text/xml")

    # ---- control ----

    def control_request(self, path, body):
        try:
            arg = json.loads(body) if body else {}
        except ValueError:
            return self.answer(400, b"bad JSON")
        with LOCK:
            if path == "/_fault" and self.command == "POST":
                if not isinstance(arg.get("match"), str):
                    return self.answer(400, b"match missing")
                arg["times"] = int(arg.get("times", 1))
                S.faults.append(arg)
            elif path == "/_expire" and self.command == "POST":
                S.sessions.clear()
                S.token_key = ec.generate_private_key(ec.SECP256R1())
            elif path == "/_config" and self.command == "POST":
                S.config.update(arg)
            elif path == "/_reset" and self.command == "POST":
                S.reset()
                open(os.path.join(DIR, "requests.log"), "w").close()
            elif path == "/_conns" and self.command == "GET":
                return self.answer(200, compact(S.conns).encode(), "application/json")
            elif path == "/_secrets" and self.command == "GET":
                out = [v for s in S.sessions.values() for v in (s["id"], s["token"]) if v]
                return self.answer(200, compact(out).encode(), "application/json")
            elif path == "/_stats" and self.command == "GET":
                return self.answer(200, compact(S.stats).encode(), "application/json")
            elif path.startswith("/_resource/") and self.command == "GET":
                v = S.resources.get(path[len("/_resource/"):])
                if v is None:
                    return self.answer(404, b"no such resource")
                return self.answer(200, base64.b64encode(v), "text/plain")
            else:
                return self.answer(404, b"unknown control request")
            self.answer(200, b'{"ok":true}', "application/json")

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = handle_any


class ControlHandler(Handler):
    control = True


def count_tls(sock):
    with LOCK:
        S.conns["tls_handshakes"] += 1
        S.conns["tls_resumed"] += 1 if sock.session_reused else 0


def main():
    fakeserver.on_tls = count_tls
    fakeserver.run(DIR, [("https", Handler, "server"), ("http", ControlHandler, None)], "fake_kbs")


if __name__ == "__main__":
    main()
