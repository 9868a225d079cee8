#!/usr/bin/env python3
"""A local stand-in for AWS KMS (test use only), written from AWS's API
reference and its Signature Version 4 specification, not from our client.

Usage: fake_aws.py DIR

DIR (made by tests/awskms/lib.sh) holds server.pem/server.key and
config.json, read again whenever it changes (write it by rename):
  {"users": {AKID: {"secret": S, "token": T-or-absent}},
   "keys": [{"id": UUID, "region": R, "account": "123456789012",
             "aliases": ["alias/NAME"], "material": HEX32,
             "deny": [AKID, ...]}]}

Every request must carry a valid SigV4 Authorization header (scope
DATE/REGION/kms/aws4_request, x-amz-date within 5 minutes of now, host and
x-amz-date signed, x-amz-security-token signed and matching when the user
has a token), recomputed here from the request as received: a wrong
signature is refused with InvalidSignatureException.

HTTPS: POST / with X-Amz-Target TrentService.Encrypt / TrentService.Decrypt
       (Content-Type application/x-amz-json-1.1).
       POST / with a form body (application/x-www-form-urlencoded): STS, the
       Query API as AWS's STS API reference gives it, Version 2011-06-15:
         Action=AssumeRoleWithWebIdentity  RoleArn, RoleSessionName,
           WebIdentityToken [, DurationSeconds]; unsigned (an Authorization
           header is refused); the token must be one of the role's
           "web_tokens"
         Action=AssumeRole  RoleArn, RoleSessionName [, ExternalId]
           [, DurationSeconds]; SigV4 with scope .../sts/aws4_request; the
           caller's AKID (or the role its session was issued for) must be in
           the role's "trust", ExternalId equal to its "external_id"
       Exactly those parameters (any other is refused).  The answer is
       <ActionResponse><ActionResult><Credentials>...: new session keys per
       call, which KMS and STS accept from then on; errors are
       <ErrorResponse><Error><Type/><Code/><Message/></Error>.
       config.json's "roles": {ARN: {"trust": [AKID or role ARN, ...],
         "web_tokens": [T, ...], "external_id": X}}.  Ciphertext blobs are this
       fake's own: b"FK1" + key id (36 bytes) + nonce (12) + AES-GCM, the
       EncryptionContext (canonical JSON) as AAD.
HTTP (control):
  POST /_fault {"code": C, "status": N, "times": K}   the next K KMS calls fail so
  POST /_sts_fault {"code": C, "status": N, "times": K}  the next K STS calls fail so
                  ({"raw_b64": B64, "status": N}: answer those bytes as they are)
  POST /_expire   every session issued so far is expired (KMS and STS answer
                  ExpiredTokenException to it)
  POST /_reset    faults cleared, counters zeroed
  GET  /_stats    {"encrypt": N, "decrypt": N, "bad_signature": N, "faults": N,
                   "tls_handshakes": N (HTTPS connections accepted),
                   "AssumeRole": N, "AssumeRoleWithWebIdentity": N, "expired": N}
HTTP (metadata, plain http on loopback as the real ones are on link-local
addresses; written from AWS's container credential provider and EC2 IMDS
documentation):
  container  GET any path: the ECS / EKS Pod Identity agent.  Answers
             {"AccessKeyId", "SecretAccessKey", "Token", "Expiration",
             "RoleArn"}; with an authorization token set (POST /_meta) the
             Authorization header must equal it, else 401
             {"code": "AccessDenied", "message": ...}.
  imds       PUT /latest/api/token with X-aws-ec2-metadata-token-ttl-seconds
             (1..21600; a PUT with X-Forwarded-For is refused, as IMDS does)
             answers a token that lives that long (or "ttl_cap" seconds);
             every GET needs a live X-aws-ec2-metadata-token, else 401 (IMDSv2
             required: a tokenless GET is counted as imds_v1 and refused).
             GET /latest/meta-data/iam/security-credentials/ the role name,
             .../ROLE {"Code": "Success", "Type": "AWS-HMAC", ...}.
  Each source's credentials are this fake's own, made at start, and valid
  for KMS.  Control: GET /_meta {"container": {...}, "imds": {...}} (their
  akid, secret, token, ...); POST /_meta {"container": {"auth": T,
  "mode": M}, "imds": {"role": R, "mode": M, "ttl_cap": S}} merges.  Modes:
  "ok"; "500"; "bad" (an answer that is not credentials); for imds also
  "refuse_put" (403 on the token PUT), "put_405", "no_role" (404), "fail"
  (Code "Failure"), "503" (on the role's credentials: what lib/http
  would retry).  Counters in /_stats: container_get,
  container_unauthorized, imds_put, imds_role_list, imds_creds,
  imds_unauthorized, imds_v1.
Every KMS request is appended to DIR/requests.log as
"TARGET KEYID AKID SIGNED-HEADERS", every STS call to DIR/sts.log as
"ACTION ROLEARN SESSION CALLER EXTERNALID DURATION" ("-" for none; CALLER
"web:TOKEN-INDEX" for web identity), every refusal to DIR/refusals.log as
"STATUS CODE: WHY".
"""
import base64
import datetime
import hashlib
import hmac
import json
import os
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import fakeserver  # noqa: E402
from cryptography.hazmat.primitives.ciphers.aead import AESGCM  # noqa: E402

DIR = sys.argv[1]
LOCK = threading.Lock()
STATE = {"faults": [], "sts_faults": [], "stats": {}, "config": None, "mtime": None,
         "issued": {}}


def config():
    p = os.path.join(DIR, "config.json")
    m = os.stat(p).st_mtime_ns
    if STATE["mtime"] != m:
        with open(p) as f:
            STATE["config"] = json.load(f)
        STATE["mtime"] = m
    return STATE["config"]


def count(kind):
    with LOCK:
        STATE["stats"][kind] = STATE["stats"].get(kind, 0) + 1


def log(name, line):
    with LOCK, open(os.path.join(DIR, name), "a") as f:
        f.write(line + "\n")


class Refusal(Exception):
    def __init__(self, status, code, msg):
        super().__init__(msg)
        self.status, self.code, self.msg = status, code, msg


# ---- Signature Version 4, from AWS's specification -------------------------

UNRESERVED = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~"


def uri_encode(s):
    return "".join(c if c in UNRESERVED else "".join("%%%02X" % b for b in c.encode())
                   for c in s)


def canonical_query(raw):
    if not raw:
        return ""
    pairs = []
    for part in raw.split("&"):
        k, _, v = part.partition("=")
        pairs.append((uri_encode(urllib.parse.unquote(k)), uri_encode(urllib.parse.unquote(v))))
    return "&".join("%s=%s" % kv for kv in sorted(pairs))


def canonical_request(method, path, query, headers, signed, payload):
    """headers: {lowercased name: [values]} as received."""
    lines = []
    for name in signed:
        vals = [" ".join(v.split()) for v in headers.get(name, [])]
        lines.append("%s:%s\n" % (name, ",".join(vals)))
    return "\n".join([method, path, canonical_query(query), "".join(lines), ";".join(signed),
                      hashlib.sha256(payload).hexdigest()])


def hm(key, msg):
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def verify_sigv4(method, path, query, headers, payload, service):
    """The caller's AKID and region, or Refusal."""
    auth = headers.get("authorization", [""])[0]
    if not auth.startswith("AWS4-HMAC-SHA256 "):
        raise Refusal(400, "MissingAuthenticationTokenException", "no SigV4 Authorization header")
    fields = {}
    for part in auth[len("AWS4-HMAC-SHA256 "):].split(","):
        k, _, v = part.strip().partition("=")
        fields[k] = v
    try:
        akid, date, region, svc, term = fields["Credential"].split("/")
        signed = fields["SignedHeaders"].split(";")
        sig = fields["Signature"]
    except (KeyError, ValueError):
        raise Refusal(400, "IncompleteSignatureException", "malformed Authorization header")
    users = dict(config()["users"])
    users.update(meta_users())
    with LOCK:
        user = users.get(akid) or STATE["issued"].get(akid)
    if user is None:
        raise Refusal(400, "UnrecognizedClientException", "The security token included in the request is invalid.")
    if signed != sorted(signed) or any(s != s.lower() for s in signed):
        raise Refusal(400, "IncompleteSignatureException", "SignedHeaders not sorted lowercase")
    for need in ("host", "x-amz-date"):
        if need not in signed:
            raise Refusal(400, "IncompleteSignatureException", "%s not signed" % need)
    if "x-amz-target" in headers and "x-amz-target" not in signed:
        raise Refusal(400, "IncompleteSignatureException", "x-amz-target not signed")
    tok = headers.get("x-amz-security-token", [None])[0]
    if user.get("token") is not None:
        if tok != user["token"]:
            raise Refusal(400, "UnrecognizedClientException", "The security token included in the request is invalid.")
        if "x-amz-security-token" not in signed:
            raise Refusal(400, "IncompleteSignatureException", "x-amz-security-token not signed")
    elif tok is not None:
        raise Refusal(400, "UnrecognizedClientException", "a session token with long-term keys")
    amz_date = headers.get("x-amz-date", [""])[0]
    try:
        t = datetime.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=datetime.timezone.utc)
    except ValueError:
        raise Refusal(400, "IncompleteSignatureException", "malformed x-amz-date")
    now = datetime.datetime.now(datetime.timezone.utc)
    if abs((now - t).total_seconds()) > 300:
        raise Refusal(400, "InvalidSignatureException", "Signature expired: x-amz-date is more than 5 minutes off")
    if date != amz_date[:8] or svc != service or term != "aws4_request":
        raise Refusal(400, "InvalidSignatureException", "credential scope %s/%s/%s/%s is wrong" % (date, region, svc, term))
    creq = canonical_request(method, path, query, headers, signed, payload)
    sts = "\n".join(["AWS4-HMAC-SHA256", amz_date, "/".join([date, region, svc, term]),
                     hashlib.sha256(creq.encode()).hexdigest()])
    k = hm(("AWS4" + user["secret"]).encode(), date)
    k = hm(hm(hm(k, region), svc), "aws4_request")
    want = hmac.new(k, sts.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(want, sig):
        count("bad_signature")
        with open(os.path.join(DIR, "last-canonical.txt"), "w") as f:
            f.write(creq)
        raise Refusal(400, "InvalidSignatureException",
                      "The request signature we calculated does not match the signature you provided.")
    if user.get("expired"):
        count("expired")
        raise Refusal(400, "ExpiredTokenException", "The security token included in the request is expired")
    return akid, region


# ---- STS (Query API, XML) ------------------------------------------------------

STS_NS = "https://sts.amazonaws.com/doc/2011-06-15/"


def xml_escape(s):
    return (s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;"))


def sts_error(status, code, msg):
    kind = "Receiver" if status >= 500 else "Sender"
    return ('<ErrorResponse xmlns="%s">\n  <Error>\n    <Type>%s</Type>\n    <Code>%s</Code>\n'
            '    <Message>%s</Message>\n  </Error>\n  <RequestId>%s</RequestId>\n</ErrorResponse>\n'
            % (STS_NS, kind, code, xml_escape(msg), os.urandom(16).hex()))


def sts_form(payload):
    try:
        pairs = urllib.parse.parse_qsl(payload.decode(), keep_blank_values=True, strict_parsing=True)
    except (UnicodeDecodeError, ValueError):
        raise Refusal(400, "MalformedQueryString", "the body is not a form")
    form = {}
    for k, v in pairs:
        if k in form:
            raise Refusal(400, "MalformedQueryString", "%s given twice" % k)
        form[k] = v
    return form


def sts(form, caller):
    """One STS action; caller: the signer's AKID or None (unsigned)."""
    action = form.get("Action")
    if form.get("Version") != "2011-06-15":
        raise Refusal(400, "InvalidAction", "Version must be 2011-06-15")
    if action == "AssumeRoleWithWebIdentity":
        allowed_keys = {"Action", "Version", "RoleArn", "RoleSessionName", "WebIdentityToken",
                        "DurationSeconds"}
        if caller is not None:
            raise Refusal(400, "InvalidParameterValue", "AssumeRoleWithWebIdentity is unsigned")
    elif action == "AssumeRole":
        allowed_keys = {"Action", "Version", "RoleArn", "RoleSessionName", "ExternalId",
                        "DurationSeconds"}
        if caller is None:
            raise Refusal(403, "MissingAuthenticationToken", "Request is missing Authentication Token")
    else:
        raise Refusal(400, "InvalidAction", "Could not find operation %s" % action)
    extra = set(form) - allowed_keys
    if extra:
        raise Refusal(400, "InvalidParameterValue", "unexpected parameters %s" % sorted(extra))
    for need in ("RoleArn", "RoleSessionName"):
        if not form.get(need):
            raise Refusal(400, "MissingParameter", "%s is required" % need)
    sn = form["RoleSessionName"]
    if not 2 <= len(sn) <= 64 or any(c not in UNRESERVED[:62] + "+=,.@_-" for c in sn):
        raise Refusal(400, "ValidationError", "RoleSessionName fails the pattern")
    dur = form.get("DurationSeconds")
    if dur is not None and (not dur.isdigit() or not 900 <= int(dur) <= 43200):
        raise Refusal(400, "ValidationError", "DurationSeconds out of range")
    role = config().get("roles", {}).get(form["RoleArn"])
    if action == "AssumeRoleWithWebIdentity":
        tok = form.get("WebIdentityToken", "")
        if role is None or tok not in role.get("web_tokens", []):
            raise Refusal(400, "InvalidIdentityToken", "Couldn't retrieve verification key from your identity provider")
        who = "web:%d" % role["web_tokens"].index(tok)
    else:
        with LOCK:
            issued_for = STATE["issued"].get(caller, {}).get("role")
        if role is None or (caller not in role.get("trust", []) and issued_for not in role.get("trust", [])):
            raise Refusal(403, "AccessDenied", "User: arn:aws:iam::123456789012:user/%s is not authorized to perform: sts:AssumeRole on resource: %s"
                          % (caller, form["RoleArn"]))
        if role.get("external_id") is not None and form.get("ExternalId") != role["external_id"]:
            raise Refusal(403, "AccessDenied", "ExternalId does not match the role's trust policy")
        who = caller
    log("sts.log", "%s %s %s %s %s %s" % (action, form["RoleArn"], sn, who, form.get("ExternalId", "-"),
                                          dur or "-"))
    count(action)
    akid = "ASIA" + os.urandom(8).hex().upper()
    secret = base64.b64encode(os.urandom(30)).decode()
    token = "FwoGZXIvYXdzE" + base64.b64encode(os.urandom(90)).decode()
    with LOCK:
        STATE["issued"][akid] = {"secret": secret, "token": token, "role": form["RoleArn"]}
    log("issued.log", akid)
    exp = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=int(dur or 3600))
    arn = form["RoleArn"].replace(":role/", ":assumed-role/").replace("arn:aws:iam:", "arn:aws:sts:")
    return ('<%sResponse xmlns="%s">\n  <%sResult>\n    <AssumedRoleUser>\n      <Arn>%s/%s</Arn>\n'
            '      <AssumedRoleId>AROA3XFRBF535PLBIFPI4:%s</AssumedRoleId>\n    </AssumedRoleUser>\n'
            '    <Credentials>\n      <AccessKeyId>%s</AccessKeyId>\n      <SecretAccessKey>%s</SecretAccessKey>\n'
            '      <SessionToken>%s</SessionToken>\n      <Expiration>%s</Expiration>\n    </Credentials>\n'
            '  </%sResult>\n  <ResponseMetadata>\n    <RequestId>%s</RequestId>\n  </ResponseMetadata>\n</%sResponse>\n'
            % (action, STS_NS, action, arn, sn, sn, akid, xml_escape(secret), xml_escape(token),
               exp.strftime("%Y-%m-%dT%H:%M:%SZ"), action, os.urandom(16).hex(), action))


# ---- KMS ---------------------------------------------------------------------

def find_key(key_id, region):
    for k in config()["keys"]:
        arn = "arn:aws:kms:%s:%s:key/%s" % (k["region"], k["account"], k["id"])
        names = [k["id"], arn]
        for a in k.get("aliases", []):
            names += [a, "arn:aws:kms:%s:%s:%s" % (k["region"], k["account"], a)]
        if key_id in names:
            if k["region"] != region:
                break
            return k
    raise Refusal(400, "NotFoundException", "Key '%s' does not exist" % key_id)


def aad(ctx):
    if ctx is None:
        return b""
    if not isinstance(ctx, dict) or not all(isinstance(v, str) for v in ctx.values()):
        raise Refusal(400, "ValidationException", "EncryptionContext must map strings to strings")
    return json.dumps(ctx, sort_keys=True).encode()


def b64field(req, name):
    try:
        return base64.b64decode(req[name], validate=True)
    except (KeyError, TypeError, ValueError):
        raise Refusal(400, "ValidationException", "%s: not base64" % name)


def allowed(k, akid):
    if akid in k.get("deny", []):
        raise Refusal(400, "AccessDeniedException",
                      "User: arn:aws:iam::123456789012:user/%s is not authorized to perform: kms on resource" % akid)


def encrypt(req, akid, region):
    k = find_key(req.get("KeyId"), region)
    allowed(k, akid)
    pt = b64field(req, "Plaintext")
    if not 1 <= len(pt) <= 4096:
        raise Refusal(400, "ValidationException", "Plaintext length")
    nonce = os.urandom(12)
    ct = AESGCM(bytes.fromhex(k["material"])).encrypt(nonce, pt, aad(req.get("EncryptionContext")))
    blob = b"FK1" + k["id"].encode() + nonce + ct
    arn = "arn:aws:kms:%s:%s:key/%s" % (k["region"], k["account"], k["id"])
    return {"CiphertextBlob": base64.b64encode(blob).decode(), "KeyId": arn,
            "EncryptionAlgorithm": "SYMMETRIC_DEFAULT"}


def decrypt(req, akid, region):
    blob = b64field(req, "CiphertextBlob")
    if len(blob) < 3 + 36 + 12 + 16 or blob[:3] != b"FK1":
        raise Refusal(400, "InvalidCiphertextException", "")
    kid = blob[3:39].decode(errors="replace")
    k = find_key(kid, region)
    if req.get("KeyId") is not None and find_key(req["KeyId"], region)["id"] != k["id"]:
        raise Refusal(400, "IncorrectKeyException",
                      "The key ID in the request does not identify a CMK that can perform this operation.")
    allowed(k, akid)
    try:
        pt = AESGCM(bytes.fromhex(k["material"])).decrypt(blob[39:51], blob[51:],
                                                           aad(req.get("EncryptionContext")))
    except Exception:
        raise Refusal(400, "InvalidCiphertextException", "")
    arn = "arn:aws:kms:%s:%s:key/%s" % (k["region"], k["account"], k["id"])
    return {"Plaintext": base64.b64encode(pt).decode(), "KeyId": arn,
            "EncryptionAlgorithm": "SYMMETRIC_DEFAULT"}


class KMS(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out at once

    def log_message(self, *a):
        pass

    def answer(self, status, obj):
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/x-amz-json-1.1")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def answer_xml(self, status, text):
        body = text if isinstance(text, bytes) else text.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_sts(self, path, query, headers, payload):
        try:
            if path != "/" or query:
                raise Refusal(404, "InvalidAction", "path %s" % path)
            caller = None
            if "authorization" in headers:
                caller, _ = verify_sigv4("POST", path, query, headers, payload, "sts")
            form = sts_form(payload)
            with LOCK:
                fault = STATE["sts_faults"][0] if STATE["sts_faults"] else None
                if fault:
                    fault["times"] -= 1
                    if fault["times"] <= 0:
                        STATE["sts_faults"].pop(0)
            if fault:
                count("sts_faults")
                if "raw_b64" in fault:
                    return self.answer_xml(fault.get("status", 200), base64.b64decode(fault["raw_b64"]))
                raise Refusal(fault.get("status", 400), fault["code"], fault.get("message", "injected"))
            self.answer_xml(200, sts(form, caller))
        except Refusal as r:
            log("refusals.log", "%d %s: %s" % (r.status, r.code, r.msg))
            self.answer_xml(r.status, sts_error(r.status, r.code.replace("Exception", "")
                                                if r.code == "ExpiredTokenException" else r.code, r.msg))

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        payload = self.rfile.read(n)
        headers = {}
        for name, value in self.headers.items():
            headers.setdefault(name.lower(), []).append(value)
        path, _, query = self.path.partition("?")
        target = self.headers.get("X-Amz-Target", "")
        if (self.headers.get("Content-Type") or "").startswith("application/x-www-form-urlencoded"):
            return self.do_sts(path, query, headers, payload)
        try:
            if path != "/":
                raise Refusal(404, "UnknownOperationException", "path %s" % path)
            akid, region = verify_sigv4("POST", path, query, headers, payload, "kms")
            if self.headers.get("Content-Type") != "application/x-amz-json-1.1":
                raise Refusal(400, "SerializationException", "Content-Type")
            req = json.loads(payload)
            with LOCK:
                fault = STATE["faults"][0] if STATE["faults"] else None
                if fault:
                    fault["times"] -= 1
                    if fault["times"] <= 0:
                        STATE["faults"].pop(0)
            if fault:
                count("faults")
                raise Refusal(fault.get("status", 400), fault["code"], fault.get("message", "injected"))
            log("requests.log", "%s %s %s %s" % (target, req.get("KeyId"), akid,
                                                  self.headers.get("Authorization").split("SignedHeaders=")[1].split(",")[0]))
            if target == "TrentService.Encrypt":
                count("encrypt")
                out = encrypt(req, akid, region)
            elif target == "TrentService.Decrypt":
                count("decrypt")
                out = decrypt(req, akid, region)
            else:
                raise Refusal(400, "UnknownOperationException", target)
            with open(os.path.join(DIR, "last-request.json"), "wb") as f:
                f.write(payload)
            self.answer(200, out)
        except Refusal as r:
            log("refusals.log", "%d %s: %s" % (r.status, r.code, r.msg))
            self.answer(r.status, {"__type": "com.amazonaws.kms#" + r.code, "message": r.msg})
        except ValueError as e:
            self.answer(400, {"__type": "SerializationException", "message": str(e)})


# ---- metadata services ----------------------------------------------------------

def _cred(prefix):
    rnd = os.urandom(10).hex().upper()
    return {"akid": prefix + rnd[:16], "secret": base64.b64encode(os.urandom(30)).decode(),
            "token": "IQoJb3JpZ2luX2Vj" + base64.b64encode(os.urandom(48)).decode(),
            "mode": "ok"}


META = {"container": dict(_cred("ASIACT"), auth=None),
        "imds": dict(_cred("ASIAIM"), role="ocikp-instance-role", ttl_cap=21600)}
IMDS_TOKENS = {}


def meta_users():
    with LOCK:
        return {m["akid"]: {"secret": m["secret"], "token": m["token"]} for m in META.values()}


def expiration(hours=6):
    t = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=hours)
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


class Meta(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, *a):
        pass

    def send(self, status, body, ctype="application/json"):
        if not isinstance(body, bytes):
            body = (json.dumps(body) if not isinstance(body, str) else body).encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def body(self):
        n = int(self.headers.get("Content-Length", "0") or 0)
        return self.rfile.read(n) if n else b""


class Container(Meta):
    def do_GET(self):
        with LOCK:
            m = dict(META["container"])
        count("container_get")
        log("meta.log", "container GET %s authorization=%s" % (
            self.path, "yes" if self.headers.get("Authorization") else "no"))
        if m["auth"] is not None and self.headers.get("Authorization") != m["auth"]:
            count("container_unauthorized")
            return self.send(401, {"code": "AccessDenied",
                                   "message": "Unable to authorize the request"})
        if m["mode"] == "500":
            return self.send(500, {"code": "InternalError", "message": "the agent is overloaded"})
        if m["mode"] == "bad":
            return self.send(200, {"AccessKeyId": m["akid"], "Expiration": "soon"})
        self.send(200, {"AccessKeyId": m["akid"], "SecretAccessKey": m["secret"],
                        "Token": m["token"], "Expiration": expiration(),
                        "RoleArn": "arn:aws:iam::123456789012:role/ocikp-task"})


class IMDS(Meta):
    def do_PUT(self):
        self.body()
        with LOCK:
            m = dict(META["imds"])
        count("imds_put")
        log("meta.log", "imds PUT %s" % self.path)
        if self.path != "/latest/api/token":
            return self.send(404, "", "text/plain")
        if m["mode"] == "refuse_put":
            return self.send(403, "", "text/plain")
        if m["mode"] == "put_405":
            return self.send(405, "", "text/plain")
        if self.headers.get("X-Forwarded-For"):
            return self.send(403, "", "text/plain")
        ttl = self.headers.get("X-aws-ec2-metadata-token-ttl-seconds", "")
        if not ttl.isdigit() or not 1 <= int(ttl) <= 21600:
            return self.send(400, "", "text/plain")
        tok = base64.b64encode(os.urandom(42)).decode()
        with LOCK:
            IMDS_TOKENS[tok] = time.time() + min(int(ttl), m["ttl_cap"])
        self.send(200, tok, "text/plain")

    def do_GET(self):
        with LOCK:
            m = dict(META["imds"])
            tok = self.headers.get("X-aws-ec2-metadata-token")
            live = tok is not None and IMDS_TOKENS.get(tok, 0) > time.time()
        log("meta.log", "imds GET %s token=%s" % (self.path, "live" if live else
                                                  "none" if tok is None else "dead"))
        if tok is None:
            count("imds_v1")
        if not live:
            count("imds_unauthorized")
            return self.send(401, "", "text/plain")
        base = "/latest/meta-data/iam/security-credentials/"
        if self.path == base:
            count("imds_role_list")
            if m["mode"] == "no_role":
                return self.send(404, "", "text/plain")
            return self.send(200, m["role"], "text/plain")
        if self.path == base + m["role"]:
            count("imds_creds")
            if m["mode"] in ("500", "503"):
                return self.send(int(m["mode"]), "", "text/plain")
            if m["mode"] == "bad":
                return self.send(200, "{\"Code\": \"Success\", \"AccessKeyId\": ", "text/plain")
            if m["mode"] == "fail":
                return self.send(200, {"Code": "AssumeRoleUnauthorizedAccess",
                                       "Message": "EC2 cannot assume the role",
                                       "LastUpdated": expiration(0)}, "text/plain")
            return self.send(200, {"Code": "Success", "LastUpdated": expiration(0),
                                   "Type": "AWS-HMAC", "AccessKeyId": m["akid"],
                                   "SecretAccessKey": m["secret"], "Token": m["token"],
                                   "Expiration": expiration()}, "text/plain")
        self.send(404, "", "text/plain")


class Control(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"

    def log_message(self, *a):
        pass

    def answer(self, obj):
        body = json.dumps(obj).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        with LOCK:
            self.answer(META if self.path == "/_meta" else dict(STATE["stats"]))

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        body = json.loads(self.rfile.read(n) or b"{}")
        with LOCK:
            if self.path == "/_fault":
                body.setdefault("times", 1)
                STATE["faults"].append(body)
            elif self.path == "/_sts_fault":
                body.setdefault("times", 1)
                STATE["sts_faults"].append(body)
            elif self.path == "/_expire":
                for u in STATE["issued"].values():
                    u["expired"] = True
            elif self.path == "/_meta":
                for k, v in body.items():
                    META[k].update(v)
            elif self.path == "/_reset":
                STATE["faults"] = []
                STATE["sts_faults"] = []
                STATE["stats"] = {}
        self.answer({})


def on_tls(sock):
    count("tls_handshakes")


fakeserver.on_tls = on_tls
fakeserver.run(DIR, [("https", KMS, "server"), ("http", Control, None),
                     ("container", Container, None), ("imds", IMDS, None)], name="fake_aws")
