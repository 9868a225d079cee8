#!/usr/bin/env python3
"""A local stand-in for the Google Cloud services the gcpkms backend talks to
(test use only).  It checks requests the way the real services document that
they do, so a client that passes here has no obvious reason to fail there.

Usage: fake_gcp.py DIR

DIR (made by tests/gcpkms/lib.sh) holds ca.pem, server.pem/server.key (names
localhost and 127.0.0.1) and config.json:
  {"service_accounts": {EMAIL: PUBLIC_KEY_PEM, ...},
   "service_account_key_ids": {EMAIL: KID}          (optional: a JWT "kid",
                                                     when present, must match)
   "authorized_users": [{"client_id", "client_secret", "refresh_token"}],
   "sts": {"audience": "...", "subject_tokens": ["..."],
           "workforce_audience": "...", "user_project": "..."}
                                                    (optional: a workforce pool
                                                     audience, and the project
                                                     its exchanges must name)
   "subject_headers": {NAME: VALUE}                  (optional: /subject needs them)
   "keys": ["projects/P/locations/L/keyRings/R/cryptoKeys/K", ...],
   "known_ciphertexts": {B64_CIPHERTEXT: B64_PLAINTEXT  or
                         {"plaintext": B64, "key": KEYNAME}},
   "token_ttl": 3600}
config.json is read again whenever it changes (write it by rename).

Two listeners on 127.0.0.1, random ports, written to DIR/ports as
"https=N http=N" once both listen (tests/lib/fakeserver.py).

HTTPS:
  POST /v1/{key}:encrypt, /v1/{key}/cryptoKeyVersions/1:encrypt,
       /v1/{key}:decrypt                                  Cloud KMS v1
  POST /token               OAuth2: jwt-bearer (RFC 7523) and refresh_token
  POST /v1/token            STS token exchange (RFC 8693)
  POST /v1/projects/-/serviceAccounts/EMAIL:generateAccessToken   IAM credentials
  GET  /subject, /subject.json   a URL-sourced subject token (text / {"token"})
HTTP:
  GET  /computeMetadata/v1/instance/service-accounts/default/token (+ pings)
  POST /_fault {"match": SUBSTRING, "status": N, "times": K, "retry_after": "S",
                "body": RAW, "hang": SECONDS, "bad_crc": true, "oversize": true,
                "malformed": true, "set": {FIELD: VALUE}, "drop": [FIELD]}
       status/hang-only faults take the next K matching requests; the
       response-changing ones (bad_crc, oversize, malformed, set, drop) the
       next K matching successes.
  POST /_revoke   every token issued so far stops working (401)
  POST /_ttl {"ttl": S}   lifetime of tokens issued from now on
  POST /_token_len {"len": N}   tokens issued from now on padded to N bytes
  POST /_conn {"close": BOOL}   with true, each HTTPS connection is closed
                  right after its answer, without a "Connection: close"
                  (a server dropping an idle kept connection)
  POST /_reset    faults cleared, counters zeroed, /_conn off
  GET  /_stats    {"token_jwt": N, "token_refresh", "sts", "iam", "metadata",
                   "encrypt", "decrypt", "subject", "unauthorized", ...}
  GET  /_conns    {"tls_handshakes": N (HTTPS connections accepted, each one
                   full or resumed TLS handshake), "tls_resumed": N (of
                   those, resumed sessions)}

Every request is appended to DIR/requests.log as "KIND METHOD PATH", every
refusal to DIR/refusals.log as "KIND STATUS METHOD PATH: WHY"; each
x-goog-user-project header to DIR/user-project.log as "KIND VALUE"; each
decrypt (encrypt) request body to DIR/last-decrypt.json (last-encrypt.json).
Tracebacks go to stderr (lib.sh sends it to DIR/server.err).
"""
import base64
import binascii
import datetime
import json
import os
import re
import secrets
import socket
import ssl
import struct
import sys
import threading
import time
import traceback
import urllib.parse
from http.server import BaseHTTPRequestHandler

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import fakeserver  # noqa: E402  (tests/lib: TLS listeners, ports, lifetime)

DIR = sys.argv[1]
LOCK = threading.RLock()

SCOPE_KMS = "https://www.googleapis.com/auth/cloudkms"
SCOPE_CLOUD = "https://www.googleapis.com/auth/cloud-platform"
SCOPE_IAM = "https://www.googleapis.com/auth/iam"
# Scopes the token endpoints grant; others are "invalid_scope", as Google
# answers for a scope it does not know.
KNOWN_SCOPES = {SCOPE_KMS, SCOPE_CLOUD, SCOPE_IAM,
                "https://www.googleapis.com/auth/devstorage.read_only",
                "https://www.googleapis.com/auth/userinfo.email", "openid"}
KMS_SCOPES = {SCOPE_KMS, SCOPE_CLOUD}
IAM_SCOPES = {SCOPE_CLOUD, SCOPE_IAM}

GT_JWT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
GT_REFRESH = "refresh_token"
GT_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
TT_ACCESS = "urn:ietf:params:oauth:token-type:access_token"
SUBJECT_TYPES = {"urn:ietf:params:oauth:token-type:jwt",
                 "urn:ietf:params:oauth:token-type:id_token",
                 "urn:ietf:params:oauth:token-type:saml2",
                 "urn:ietf:params:oauth:token-type:access_token",
                 "urn:ietf:params:aws:token-type:aws4_request"}

JWT_MAX_LIFETIME = 3600
CLOCK_SKEW = 60
KMS_MAX_PLAINTEXT = 64 * 1024
CT_MAGIC = b"FAKEKMS1"           # our ciphertext: magic, version u32, nonce, GCM
DECRYPT_FAILED = "Decryption failed: verify that 'name' refers to the correct CryptoKey."

RPC_STATUS = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED",
              404: "NOT_FOUND", 409: "ABORTED", 429: "RESOURCE_EXHAUSTED",
              500: "INTERNAL", 501: "NOT_IMPLEMENTED", 503: "UNAVAILABLE",
              504: "DEADLINE_EXCEEDED"}


def log_err(msg):
    sys.stderr.write("%s fake_gcp: %s\n" % (time.strftime("%H:%M:%S"), msg))
    sys.stderr.flush()


# --- CRC32C (Castagnoli, reflected polynomial 0x82F63B78) -------------------

def _crc_table():
    t = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        t.append(c)
    return t


CRC_TABLE = _crc_table()


def crc32c(data):
    c = 0xFFFFFFFF
    for b in data:
        c = CRC_TABLE[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


assert crc32c(b"123456789") == 0xE3069283


# --- errors ---------------------------------------------------------------

class Reply(Exception):
    """An answer other than success, raised from anywhere in a handler."""

    def __init__(self, status, body, headers=(), kind_unauth=False):
        super().__init__(status)
        self.status = status
        self.body = body
        self.headers = list(headers)
        self.kind_unauth = kind_unauth


def rpc_body(code, message, status=None):
    return {"error": {"code": code, "message": message,
                      "status": status or RPC_STATUS.get(code, "UNKNOWN")}}


def rpc_error(code, message, status=None, headers=()):
    return Reply(code, rpc_body(code, message, status), headers)


def oauth_error(code, error, desc):
    return Reply(code, {"error": error, "error_description": desc})


def unauthenticated(message):
    return Reply(401, rpc_body(401, message),
                 [("WWW-Authenticate", 'Bearer realm="https://accounts.google.com/"')],
                 kind_unauth=True)


# --- state ----------------------------------------------------------------

class State:
    def __init__(self):
        self.config_sig = None
        self.cfg = None
        self.tokens = {}        # token -> (expiry, frozenset(scopes), principal)
        self.key_secrets = {}   # key name -> 32 bytes, for the server's lifetime
        self.faults = []
        self.stats = {}
        self.close_after = False  # /_conn
        self.conns = {"tls_handshakes": 0, "tls_resumed": 0}
        self.ttl = None
        self.token_len = 0

    def config(self):
        """The parsed config, re-read when config.json changed."""
        path = os.path.join(DIR, "config.json")
        with LOCK:
            try:
                st = os.stat(path)
                sig = (st.st_mtime_ns, st.st_size, st.st_ino)
            except OSError:
                sig = None
            if sig != self.config_sig or self.cfg is None:
                try:
                    with open(path) as f:
                        raw = json.load(f)
                    self.cfg = parse_config(raw)
                    if self.ttl is None:    # later, /_ttl sets it
                        self.ttl = self.cfg["token_ttl"]
                except Exception:
                    log_err("config.json unreadable, keeping the old one:\n" + traceback.format_exc())
                    if self.cfg is None:
                        raise
                self.config_sig = sig
            return self.cfg

    def count(self, kind):
        with LOCK:
            self.stats[kind] = self.stats.get(kind, 0) + 1

    def issue(self, scopes, principal, lifetime=None):
        with LOCK:
            ttl = self.ttl if lifetime is None else min(lifetime, self.ttl)
            # The pid tags this server's tokens: a test removes only its own
            # cache files from a cache directory parallel tests share (root's).
            tok = "ya29.fake%d-" % os.getpid() + secrets.token_urlsafe(32)
            tok += "x" * max(0, self.token_len - len(tok))
            self.tokens[tok] = (time.time() + ttl, frozenset(scopes), principal)
            return tok, ttl

    def lookup(self, tok):
        with LOCK:
            t = self.tokens.get(tok)
            if t is None:
                return None
            if time.time() >= t[0]:
                return None
            return t

    def key_secret(self, name):
        with LOCK:
            if name not in self.key_secrets:
                self.key_secrets[name] = os.urandom(32)
            return self.key_secrets[name]


STATE = State()


def parse_config(raw):
    cfg = {"service_accounts": {}, "kids": {}, "authorized_users": [],
           "sts_audience": None, "subject_tokens": [], "subject_headers": {},
           "keys": set(), "known": {}, "token_ttl": 3600}
    for email, pem in (raw.get("service_accounts") or {}).items():
        key = serialization.load_pem_public_key(pem.encode())
        if not isinstance(key, rsa.RSAPublicKey):
            raise ValueError("service account %s: not an RSA key" % email)
        cfg["service_accounts"][email] = key
    cfg["kids"] = dict(raw.get("service_account_key_ids") or {})
    cfg["authorized_users"] = list(raw.get("authorized_users") or [])
    sts = raw.get("sts") or {}
    cfg["sts_audience"] = sts.get("audience")
    cfg["sts_workforce_audience"] = sts.get("workforce_audience")
    cfg["sts_user_project"] = sts.get("user_project")
    cfg["subject_tokens"] = list(sts.get("subject_tokens") or [])
    cfg["subject_headers"] = dict(raw.get("subject_headers") or {})
    cfg["keys"] = set(raw.get("keys") or [])
    for ct, v in (raw.get("known_ciphertexts") or {}).items():
        if isinstance(v, dict):
            pt, key = v["plaintext"], v.get("key")
        else:
            pt, key = v, None
        cfg["known"][base64.b64decode(ct, validate=True)] = (base64.b64decode(pt, validate=True), key)
    cfg["token_ttl"] = int(raw.get("token_ttl", 3600))
    return cfg


# --- parsing helpers --------------------------------------------------------

def json_body(handler, body):
    """A JSON object request body, refused as Google's front end refuses."""
    ctype = (handler.headers.get("Content-Type") or "").split(";")[0].strip().lower()
    if ctype != "application/json":
        raise rpc_error(400, "Invalid JSON payload received: Content-Type must be application/json, "
                        "not %r." % ctype)
    try:
        v = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise rpc_error(400, "Invalid JSON payload received. %s" % e)
    if not isinstance(v, dict):
        raise rpc_error(400, "Invalid JSON payload received. Expected an object.")
    return v


def only_fields(obj, allowed):
    for k in obj:
        if k not in allowed:
            raise rpc_error(400, 'Invalid JSON payload received. Unknown name "%s": Cannot find field.' % k)


def bytes_field(obj, name):
    """A proto3 JSON bytes field: standard or URL-safe base64, padding optional."""
    v = obj.get(name)
    if v is None:
        return None
    if not isinstance(v, str):
        raise rpc_error(400, 'Invalid value at \'%s\' (TYPE_BYTES), expected a base64 string' % name)
    s = v.replace("-", "+").replace("_", "/")
    if s.endswith("="):
        pad_ok = len(s) % 4 == 0
    else:
        pad_ok = len(s) % 4 != 1
        s += "=" * (-len(s) % 4)
    try:
        if not pad_ok or not re.fullmatch(r"[A-Za-z0-9+/]*={0,2}", s):
            raise binascii.Error()
        return base64.b64decode(s, validate=True)
    except (binascii.Error, ValueError):
        raise rpc_error(400, "Invalid value at '%s' (TYPE_BYTES), Base64 decoding failed for \"%s\"" % (name, v[:40]))


def int64_field(obj, name):
    """A proto3 JSON int64: a decimal string (what Google emits) or a number."""
    v = obj.get(name)
    if v is None:
        return None
    if isinstance(v, bool):
        bad = True
    elif isinstance(v, int):
        bad = False
    elif isinstance(v, str) and re.fullmatch(r"-?(0|[1-9][0-9]*)", v):
        v, bad = int(v), False
    else:
        bad = True
    if bad or not -(1 << 63) <= v < (1 << 63):
        raise rpc_error(400, "Invalid value at '%s' (type.googleapis.com/google.protobuf.Int64Value), %s"
                        % (name, json.dumps(obj.get(name))[:40]))
    return v


def form_body(handler, body):
    ctype = (handler.headers.get("Content-Type") or "").split(";")[0].strip().lower()
    if ctype != "application/x-www-form-urlencoded":
        raise oauth_error(400, "invalid_request",
                          "Content-Type must be application/x-www-form-urlencoded, not %r" % ctype)
    try:
        pairs = urllib.parse.parse_qsl(body.decode("ascii"), keep_blank_values=True,
                                       strict_parsing=bool(body), errors="strict")
    except (UnicodeDecodeError, ValueError) as e:
        raise oauth_error(400, "invalid_request", "malformed form body: %s" % e)
    form = {}
    for k, v in pairs:
        if k in form:
            raise oauth_error(400, "invalid_request", "parameter %s given twice" % k)
        form[k] = v
    return form


def scopes_of(text, sep=" "):
    return [s for s in text.split(sep) if s]


def check_scopes(scopes, err):
    if not scopes:
        raise err("Empty or missing scope not allowed.")
    for s in scopes:
        if s not in KNOWN_SCOPES:
            raise err("Invalid OAuth scope or ID token audience provided: %s" % s)


def b64url_decode(s):
    if not re.fullmatch(r"[A-Za-z0-9_-]*", s):
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def rfc3339(t):
    return datetime.datetime.fromtimestamp(int(t), datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def bearer(handler, need_scopes):
    """The principal of a valid bearer token with one of need_scopes."""
    auth = handler.headers.get("Authorization")
    if not auth:
        raise unauthenticated("Request is missing required authentication credential. Expected OAuth 2 "
                              "access token, login cookie or other valid authentication credential.")
    parts = auth.split(" ")
    if len(parts) != 2 or parts[0].lower() != "bearer" or not parts[1]:
        raise unauthenticated("Request had invalid authentication credentials. Expected OAuth 2 access token.")
    t = STATE.lookup(parts[1])
    if t is None:
        raise unauthenticated("Request had invalid authentication credentials. Expected OAuth 2 access "
                              "token, login cookie or other valid authentication credential.")
    if not t[1] & need_scopes:
        raise rpc_error(403, "Request had insufficient authentication scopes.")
    return t[2]


def save(name, data):
    tmp = os.path.join(DIR, name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
    os.rename(tmp, os.path.join(DIR, name))


# --- Cloud KMS --------------------------------------------------------------

KMS_RE = re.compile(r"/v1/(projects/[^/:]+/locations/[^/:]+/keyRings/[^/:]+/cryptoKeys/[^/:]+)"
                    r"(?:/cryptoKeyVersions/([^/:]+))?:(encrypt|decrypt)")


def crc_check(obj, data_field, crc_field, data):
    want = int64_field(obj, crc_field)
    if want is None:
        return False
    if want != crc32c(data):
        snake = lambda s: re.sub(r"([A-Z])", r"_\1", s).lower()
        raise rpc_error(400, "The checksum in field %s did not match the data in field %s."
                        % (snake(crc_field), snake(data_field)))
    return True


def kms(handler, body, key, version, op):
    bearer(handler, KMS_SCOPES)
    req = json_body(handler, body)
    cfg = STATE.config()
    if key not in cfg["keys"]:
        raise rpc_error(404, "CryptoKey %s not found." % key)
    if op == "encrypt":
        only_fields(req, ("plaintext", "additionalAuthenticatedData", "plaintextCrc32c",
                          "additionalAuthenticatedDataCrc32c"))
        save("last-encrypt.json", body)
        if version is not None and version != "1":
            raise rpc_error(404, "CryptoKeyVersion %s/cryptoKeyVersions/%s not found." % (key, version))
        return kms_encrypt(req, key)
    if version is not None:
        raise rpc_error(404, "Method not found.")
    only_fields(req, ("ciphertext", "additionalAuthenticatedData", "ciphertextCrc32c",
                      "additionalAuthenticatedDataCrc32c"))
    save("last-decrypt.json", body)
    return kms_decrypt(req, key, cfg)


def aad_of(req):
    aad = bytes_field(req, "additionalAuthenticatedData") or b""
    if len(aad) > KMS_MAX_PLAINTEXT:
        raise rpc_error(400, "The additional authenticated data must be no larger than 65536 bytes.")
    return aad, crc_check(req, "additionalAuthenticatedData", "additionalAuthenticatedDataCrc32c", aad)


def kms_encrypt(req, key):
    pt = bytes_field(req, "plaintext")
    if not pt:
        raise rpc_error(400, "The request must specify a non-empty plaintext.")
    if len(pt) > KMS_MAX_PLAINTEXT:
        raise rpc_error(400, "The plaintext must be no larger than 65536 bytes.")
    verified = crc_check(req, "plaintext", "plaintextCrc32c", pt)
    aad, aad_verified = aad_of(req)
    nonce = os.urandom(12)
    ct = CT_MAGIC + struct.pack(">I", 1) + nonce + AESGCM(STATE.key_secret(key)).encrypt(nonce, pt, aad)
    resp = {"name": key + "/cryptoKeyVersions/1",
            "ciphertext": base64.b64encode(ct).decode(),
            "ciphertextCrc32c": str(crc32c(ct))}
    # proto3 JSON leaves out false booleans: "verified" only when it was
    if verified:
        resp["verifiedPlaintextCrc32c"] = True
    if aad_verified:
        resp["verifiedAdditionalAuthenticatedDataCrc32c"] = True
    resp["protectionLevel"] = "SOFTWARE"
    return 200, resp


def kms_decrypt(req, key, cfg):
    ct = bytes_field(req, "ciphertext")
    if not ct:
        raise rpc_error(400, "The request must specify a non-empty ciphertext.")
    crc_check(req, "ciphertext", "ciphertextCrc32c", ct)
    aad, _ = aad_of(req)
    known = cfg["known"].get(ct)
    if known is not None and known[1] in (None, key):
        pt = known[0]
    else:
        head = len(CT_MAGIC) + 4 + 12
        if len(ct) < head + 16 or not ct.startswith(CT_MAGIC):
            raise rpc_error(400, DECRYPT_FAILED)
        try:
            pt = AESGCM(STATE.key_secret(key)).decrypt(ct[head - 12:head], ct[head:], aad)
        except InvalidTag:
            raise rpc_error(400, DECRYPT_FAILED)
    return 200, {"plaintext": base64.b64encode(pt).decode(), "plaintextCrc32c": str(crc32c(pt)),
                 "usedPrimary": True, "protectionLevel": "SOFTWARE"}


# --- OAuth2 token endpoint ----------------------------------------------------

def grant_type_of(handler, body):
    try:
        return dict(urllib.parse.parse_qsl(body.decode("ascii", "replace"))).get("grant_type")
    except ValueError:
        return None


def token(handler, body):
    form = form_body(handler, body)
    gt = form.get("grant_type")
    if gt == GT_JWT:
        return token_jwt(handler, form)
    if gt == GT_REFRESH:
        return token_refresh(form)
    if not gt:
        raise oauth_error(400, "invalid_request", "Missing required parameter: grant_type")
    raise oauth_error(400, "unsupported_grant_type", "Invalid grant_type: %s" % gt)


def jwt_time(claims, name):
    v = claims.get(name)
    if isinstance(v, bool) or not isinstance(v, int):
        raise oauth_error(400, "invalid_grant", "Invalid JWT: %s claim missing or not an integer." % name)
    return v


def token_jwt(handler, form):
    assertion = form.get("assertion")
    if not assertion:
        raise oauth_error(400, "invalid_request", "Missing required parameter: assertion")
    bad_jwt = oauth_error(400, "invalid_grant", "Invalid JWT Signature.")
    parts = assertion.split(".")
    if len(parts) != 3:
        raise oauth_error(400, "invalid_grant", "Invalid JWT: not three base64url parts.")
    try:
        header = json.loads(b64url_decode(parts[0]))
        claims = json.loads(b64url_decode(parts[1]))
        sig = b64url_decode(parts[2])
    except (ValueError, UnicodeDecodeError):
        raise oauth_error(400, "invalid_grant", "Invalid JWT: base64url or JSON is malformed.")
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise oauth_error(400, "invalid_grant", "Invalid JWT: header and claims must be objects.")
    if header.get("alg") != "RS256":
        raise oauth_error(400, "invalid_grant", "Invalid JWT: alg must be RS256.")
    cfg = STATE.config()
    iss = claims.get("iss")
    pub = cfg["service_accounts"].get(iss) if isinstance(iss, str) else None
    if pub is None:
        raise oauth_error(400, "invalid_grant", "Invalid grant: account not found")
    kid = header.get("kid")
    if kid is not None and iss in cfg["kids"] and kid != cfg["kids"][iss]:
        raise bad_jwt
    try:
        pub.verify(sig, (parts[0] + "." + parts[1]).encode(), padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        raise bad_jwt
    # the audience is this endpoint's own URL, as token_uri names it
    host = handler.headers.get("Host") or ""
    own = "https://%s%s" % (host, handler.path.split("?", 1)[0])
    if claims.get("aud") != own:
        raise oauth_error(400, "invalid_grant", "Invalid JWT: Failed audience check. Want %s." % own)
    iat, exp = jwt_time(claims, "iat"), jwt_time(claims, "exp")
    now = time.time()
    if exp <= iat or exp - iat > JWT_MAX_LIFETIME or iat > now + CLOCK_SKEW or exp < now - CLOCK_SKEW:
        raise oauth_error(400, "invalid_grant", "Invalid JWT: Token must be a short-lived token (60 minutes) "
                          "and in a reasonable timeframe. Check your iat and exp values in the JWT claim.")
    sub = claims.get("sub")
    if sub is not None and sub != iss:
        raise oauth_error(401, "unauthorized_client", "Client is unauthorized to retrieve access tokens "
                          "using this method (domain-wide delegation is not set up).")
    if "target_audience" in claims:
        raise oauth_error(400, "invalid_request", "this fake issues no ID tokens")
    scope = claims.get("scope")
    check_scopes(scopes_of(scope) if isinstance(scope, str) else [],
                 lambda m: oauth_error(400, "invalid_scope", m))
    tok, ttl = STATE.issue(scopes_of(scope), iss)
    return 200, {"access_token": tok, "expires_in": ttl, "token_type": "Bearer"}


def token_refresh(form):
    for k in ("client_id", "client_secret", "refresh_token"):
        if not form.get(k):
            raise oauth_error(400, "invalid_request", "Missing required parameter: %s" % k)
    cfg = STATE.config()
    users = [u for u in cfg["authorized_users"]
             if u.get("client_id") == form["client_id"] and u.get("client_secret") == form["client_secret"]]
    if not users:
        raise oauth_error(401, "invalid_client", "Unauthorized")
    if not any(u.get("refresh_token") == form["refresh_token"] for u in users):
        raise oauth_error(400, "invalid_grant", "Bad Request")
    granted = [SCOPE_CLOUD, "https://www.googleapis.com/auth/userinfo.email", "openid"]
    if "scope" in form:
        want = scopes_of(form["scope"])
        if not want or any(s not in granted for s in want):
            raise oauth_error(400, "invalid_scope", "The requested scope is not among those granted.")
        granted = want
    tok, ttl = STATE.issue(granted, "user:" + form["client_id"])
    return 200, {"access_token": tok, "expires_in": ttl, "scope": " ".join(granted),
                 "token_type": "Bearer"}


# --- STS ------------------------------------------------------------------

def sts(handler, body):
    form = form_body(handler, body)
    if form.get("grant_type") != GT_EXCHANGE:
        raise oauth_error(400, "unsupported_grant_type",
                          "grant_type must be %s" % GT_EXCHANGE)
    for k in ("requested_token_type", "subject_token", "subject_token_type", "audience"):
        if not form.get(k):
            raise oauth_error(400, "invalid_request", "Missing required parameter: %s" % k)
    if form["requested_token_type"] != TT_ACCESS:
        raise oauth_error(400, "invalid_request", "requested_token_type must be %s" % TT_ACCESS)
    if form["subject_token_type"] not in SUBJECT_TYPES:
        raise oauth_error(400, "invalid_request", "Invalid subject_token_type: %s" % form["subject_token_type"])
    options = {}
    if "options" in form:
        try:
            options = json.loads(form["options"])
            if not isinstance(options, dict):
                raise ValueError()
        except ValueError:
            raise oauth_error(400, "invalid_request", "options must be a JSON object")
    cfg = STATE.config()
    workforce = cfg["sts_workforce_audience"] and form["audience"] == cfg["sts_workforce_audience"]
    if workforce:
        # STS reference (ExchangeToken): options is a JSON object whose
        # userProject bills a workforce identity when no client
        # authenticates (the file's workforce_pool_user_project).
        basic = (handler.headers.get("Authorization") or "").startswith("Basic ")
        up = options.get("userProject")
        if not basic and up != cfg["sts_user_project"]:
            raise oauth_error(400, "invalid_request",
                              "workforce pool exchange without client authentication needs "
                              "options.userProject %r, got %r" % (cfg["sts_user_project"], up))
    elif form["audience"] != cfg["sts_audience"]:
        raise oauth_error(400, "invalid_target", "The target service indicated by the \"audience\" "
                          "parameters is invalid.")
    if form["subject_token"] not in cfg["subject_tokens"]:
        raise oauth_error(400, "invalid_grant", "The given subject token is invalid.")
    scopes = scopes_of(form.get("scope") or "")
    check_scopes(scopes, lambda m: oauth_error(400, "invalid_scope", m))
    tok, ttl = STATE.issue(scopes, "principal:" + cfg["sts_audience"])
    return 200, {"access_token": tok, "issued_token_type": TT_ACCESS, "token_type": "Bearer",
                 "expires_in": ttl}


# --- IAM credentials ------------------------------------------------------

IAM_RE = re.compile(r"/v1/projects/([^/:]+)/serviceAccounts/([^/:]+):generateAccessToken")


def duration(v):
    if not isinstance(v, str):
        raise rpc_error(400, "Invalid value at 'lifetime' (type.googleapis.com/google.protobuf.Duration)")
    m = re.fullmatch(r"(\d+)(\.\d{1,9})?s", v)
    if not m:
        raise rpc_error(400, "Invalid value at 'lifetime' (type.googleapis.com/google.protobuf.Duration), "
                        "Illegal duration format; duration must end with 's'")
    return float(v[:-1])


def iam(handler, body, project, email):
    bearer(handler, IAM_SCOPES)
    req = json_body(handler, body)
    only_fields(req, ("scope", "lifetime", "delegates"))
    email = urllib.parse.unquote(email)
    cfg = STATE.config()
    if project != "-":
        raise rpc_error(400, "The project in the name must be the wildcard '-'.")
    if email not in cfg["service_accounts"]:
        raise rpc_error(404, "Not found; Gaia id not found for email %s" % email)
    scope = req.get("scope")
    if not isinstance(scope, list) or not all(isinstance(s, str) and s for s in scope):
        raise rpc_error(400, "Scope required: a list of at least one scope.")
    check_scopes(scope, lambda m: rpc_error(400, m))
    for d in req.get("delegates") or []:
        m = re.fullmatch(r"projects/-/serviceAccounts/([^/]+)", d) if isinstance(d, str) else None
        if not m or m.group(1) not in cfg["service_accounts"]:
            raise rpc_error(400, "Invalid delegate %r: want projects/-/serviceAccounts/EMAIL." % (d,))
    lifetime = 3600.0
    if "lifetime" in req:
        lifetime = duration(req["lifetime"])
        if lifetime <= 0 or lifetime > 3600:
            raise rpc_error(400, "The lifetime must be at most 3600 seconds.")
    tok, ttl = STATE.issue(scope, email, int(lifetime))
    return 200, {"accessToken": tok, "expireTime": rfc3339(time.time() + ttl)}


# --- external-account subject, metadata server ------------------------------

def subject(handler, as_json):
    cfg = STATE.config()
    for k, v in cfg["subject_headers"].items():
        if handler.headers.get(k) != v:
            raise Reply(403, {"error": "header %s missing or wrong" % k})
    if not cfg["subject_tokens"]:
        raise Reply(404, {"error": "no subject token configured"})
    tok = cfg["subject_tokens"][0]
    if as_json:
        return 200, {"token": tok}
    return 200, tok.encode()


MD_TOKEN = "/computeMetadata/v1/instance/service-accounts/default/token"
MD_HDR = [("Metadata-Flavor", "Google")]


def metadata(handler, path, query):
    if handler.headers.get("X-Forwarded-For") is not None:
        raise Reply(403, b"Request had X-Forwarded-For: refused.", MD_HDR)
    if handler.headers.get("Metadata-Flavor") != "Google":
        raise Reply(403, b"Missing required header: Metadata-Flavor: Google", MD_HDR)
    if handler.command != "GET":
        raise Reply(405, b"Method not allowed", MD_HDR)
    if path == MD_TOKEN:
        q = urllib.parse.parse_qs(query)
        scopes = [SCOPE_CLOUD]
        if "scopes" in q:
            scopes = scopes_of(q["scopes"][0], ",")
            check_scopes(scopes, lambda m: Reply(400, m.encode(), MD_HDR))
        tok, ttl = STATE.issue(scopes, "default@fake-project.iam.gserviceaccount.com")
        return 200, {"access_token": tok, "expires_in": ttl, "token_type": "Bearer"}, MD_HDR
    text = {"/": "computeMetadata/\n", "/computeMetadata/v1/": "instance/\nproject/\n",
            "/computeMetadata/v1/project/project-id": "fake-project",
            "/computeMetadata/v1/instance/service-accounts/default/email":
                "default@fake-project.iam.gserviceaccount.com"}.get(path)
    if text is None:
        raise Reply(404, b"Not found", MD_HDR)
    return 200, text.encode(), MD_HDR


# --- control --------------------------------------------------------------

def control(path, body):
    try:
        req = json.loads(body.decode() or "{}")
    except ValueError:
        raise Reply(400, {"error": "control body must be JSON"})
    if path == "/_fault":
        if not isinstance(req.get("match"), str):
            raise Reply(400, {"error": "match (a string) required"})
        req.setdefault("times", 1)
        with LOCK:
            STATE.faults.append(req)
    elif path == "/_revoke":
        with LOCK:
            STATE.tokens.clear()
    elif path == "/_ttl":
        with LOCK:
            STATE.ttl = int(req["ttl"])
    elif path == "/_token_len":
        with LOCK:
            STATE.token_len = int(req["len"])
    elif path == "/_reset":
        with LOCK:
            STATE.faults.clear()
            STATE.stats.clear()
            STATE.conns = {"tls_handshakes": 0, "tls_resumed": 0}
            STATE.close_after = False
    elif path == "/_conn":
        with LOCK:
            STATE.close_after = bool(req.get("close"))
    elif path == "/_conns":
        with LOCK:
            return 200, dict(STATE.conns)
    elif path == "/_stats":
        with LOCK:
            stats = {k: 0 for k in ("token_jwt", "token_refresh", "sts", "iam", "metadata",
                                    "encrypt", "decrypt", "subject", "unauthorized")}
            stats.update(STATE.stats)
        return 200, stats
    else:
        raise Reply(404, {"error": "unknown control path"})
    return 200, {"ok": True}


MODIFIERS = ("bad_crc", "oversize", "malformed", "set", "drop")


def find_fault(path):
    with LOCK:
        for f in STATE.faults:
            if f["times"] > 0 and f["match"] in path:
                if "status" in f or not any(f.get(m) for m in MODIFIERS):
                    f["times"] -= 1
                return f
    return None


def modify(f, status, obj):
    """A successful answer changed as fault f says; returns body bytes."""
    if isinstance(obj, dict):
        obj = dict(obj)
        if f.get("bad_crc"):
            for k in ("ciphertextCrc32c", "plaintextCrc32c"):
                if k in obj:
                    obj[k] = str((int(obj[k]) + 1) & 0xFFFFFFFF)
        for k in f.get("drop") or []:
            obj.pop(k, None)
        obj.update(f.get("set") or {})
        if f.get("oversize"):
            obj["padding"] = "x" * (65 * 1024)
        body = json.dumps(obj).encode()
    else:
        body = obj if isinstance(obj, bytes) else str(obj).encode()
        if f.get("oversize"):
            body += b" " * (65 * 1024)
    if f.get("malformed"):
        body = body[:max(1, len(body) // 2)] + b'"{,'
    return body


# --- HTTP plumbing --------------------------------------------------------

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    timeout = 60
    tls = False

    def log_message(self, fmt, *args):  # quiet: tests read requests.log
        pass

    def read_body(self):
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            data = b""
            while True:
                n = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if n == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return data
                data += self.rfile.read(n)
                self.rfile.readline()
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def send(self, status, body, headers=()):
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
            headers = [("Content-Type", "application/json; charset=UTF-8")] + list(headers)
        elif isinstance(body, str):
            body = body.encode()
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        if self.tls and STATE.close_after:
            self.close_connection = True

    def refused(self, kind, e):
        """Why a request was refused, in DIR/refusals.log, for whoever debugs a client."""
        b = e.body
        if isinstance(b, dict):
            err = b.get("error")
            why = (err.get("message") if isinstance(err, dict)
                   else "%s: %s" % (err, b.get("error_description")))
        else:
            why = b.decode("utf-8", "replace") if isinstance(b, bytes) else str(b)
        with LOCK:
            with open(os.path.join(DIR, "refusals.log"), "a") as f:
                f.write("%s %d %s %s: %s\n" % (kind, e.status, self.command,
                                               self.path.split("?", 1)[0], why))

    def kind(self, path, body):
        if not self.tls:
            if path.startswith("/_"):
                return "control"
            return "metadata" if path == MD_TOKEN else "metadata_other"
        if path == "/token":
            gt = grant_type_of(self, body)
            return {GT_JWT: "token_jwt", GT_REFRESH: "token_refresh"}.get(gt, "token_other")
        if path == "/v1/token":
            return "sts"
        m = KMS_RE.fullmatch(path)
        if m:
            return m.group(3)
        if IAM_RE.fullmatch(path):
            return "iam"
        if path in ("/subject", "/subject.json"):
            return "subject"
        return "unknown"

    def route(self, kind, path, query, body):
        if not self.tls:
            if kind == "control":
                return control(path, body)
            return metadata(self, path, query)
        post = self.command == "POST"
        m = KMS_RE.fullmatch(path)
        if m and post:
            return kms(self, body, m.group(1), m.group(2), m.group(3))
        if path == "/token" and post:
            return token(self, body)
        if path == "/v1/token" and post:
            return sts(self, body)
        m = IAM_RE.fullmatch(path)
        if m and post:
            return iam(self, body, m.group(1), m.group(2))
        if path in ("/subject", "/subject.json") and self.command == "GET":
            return subject(self, path.endswith(".json"))
        raise rpc_error(404, "The requested URL %s was not found on this server." % path)

    def handle_any(self):
        path, _, query = self.path.partition("?")
        body = self.read_body()
        kind = self.kind(path, body)
        with LOCK:
            with open(os.path.join(DIR, "requests.log"), "a") as f:
                f.write("%s %s %s\n" % (kind, self.command, path))
            up = self.headers.get("x-goog-user-project")
            if up is not None:
                with open(os.path.join(DIR, "user-project.log"), "a") as f:
                    f.write("%s %s\n" % (kind, up))
        if kind != "control":
            STATE.count(kind)
        fault = find_fault(path) if kind != "control" else None
        if fault and "status" in fault:
            time.sleep(float(fault.get("hang") or 0))
            st = int(fault["status"])
            hdrs = [("Retry-After", str(fault["retry_after"]))] if "retry_after" in fault else []
            if "body" in fault:
                return self.send(st, fault["body"].encode(), hdrs)
            return self.send(st, rpc_body(st, "fault injected by the test"), hdrs)
        if fault and not any(fault.get(m) for m in MODIFIERS):
            time.sleep(float(fault.get("hang") or 0))
            fault = None
        try:
            r = self.route(kind, path, query, body)
            status, obj, hdrs = r if len(r) == 3 else (r[0], r[1], [])
        except Reply as e:
            if e.kind_unauth:
                STATE.count("unauthorized")
            self.refused(kind, e)
            return self.send(e.status, e.body, e.headers)
        if fault and 200 <= status < 300:
            with LOCK:
                live = fault["times"] > 0
                if live:
                    fault["times"] -= 1
            if live:
                time.sleep(float(fault.get("hang") or 0))
                ctype = [("Content-Type", "application/json; charset=UTF-8")] if isinstance(obj, dict) else []
                return self.send(status, modify(fault, status, obj), ctype + hdrs)
        self.send(status, obj, hdrs)

    def dispatch(self):
        try:
            self.handle_any()
        except (ConnectionError, ssl.SSLError, socket.timeout):
            self.close_connection = True
        except Exception:
            log_err("%s %s:\n%s" % (self.command, self.path, traceback.format_exc()))
            try:
                self.send(500, rpc_body(500, "fake_gcp internal error (see server.err)"))
            except Exception:
                self.close_connection = True

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = dispatch


class TLSHandler(Handler):
    tls = True


def count_tls(sock):
    with LOCK:
        STATE.conns["tls_handshakes"] += 1
        STATE.conns["tls_resumed"] += 1 if sock.session_reused else 0


def main():
    STATE.config()      # a broken config fails now, not at the first request
    fakeserver.on_tls = count_tls
    fakeserver.run(DIR, [("https", TLSHandler, "server"), ("http", Handler, None)], "fake_gcp")


if __name__ == "__main__":
    main()
