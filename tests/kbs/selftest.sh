#!/bin/bash
# The fake KBS (tests/kbs/fake_kbs.py) against a client written here in
# Python from trustee's and guest-components' sources: the RCAR handshake
# with a P-256 and an RSA TEE key, the JWE opened to the right KEK, the
# attestation checks (nonce, report_data, the re-serialized JWK), trustee's
# error statuses and bodies, admin registration with EdDSA JWTs, the control
# requests and fault injection.  So the kbs backend's tests can trust it.
. "$top_srcdir/tests/lib/common.sh"
. "$top_srcdir/tests/kbs/lib.sh"

kbs_require
kbs_setup '{"iss": "ocikp-tests"}' ||
	{ echo "1..1"; echo "not ok 1 - fake KBS: $(cat "$KBS_DIR/server.err" 2>/dev/null)"; exit 1; }

# --- the shell helpers -------------------------------------------------------
[ "$(stat -c %a "$KBS_DIR/admin.pem")" = 600 ] && [ "$(stat -c %a "$KBS_DIR/kek1.bin")" = 600 ] &&
	[ "$(stat -c %s "$KBS_DIR/kek1.bin")" = 32 ] && grep -q 'BEGIN PUBLIC KEY' "$KBS_DIR/admin-pub.pem"
t_ok $? "kbs_setup: admin key and KEK files, owner-only"
[ "$(kbs_ctl /_resource/default/key/1)" = "$(base64 -w0 < "$KBS_DIR/kek1.bin")" ]
t_ok $? "/_resource answers the configured KEK"
kbs_ctl /_nothing > /dev/null 2>&1
[ $? -ne 0 ]
t_ok $? "kbs_ctl fails on a non-2xx"
C=$(t_conf_dir)
kbs_dropin "$C" "kbs.allow_http = yes"
grep -qx 'backend = kbs' "$C/50-kbs.conf" && grep -qx 'module = ocikp-kbs.so' "$C/50-kbs.conf" &&
	grep -qx "kbs.url = https://127.0.0.1:$KBS_HTTPS" "$C/50-kbs.conf" &&
	grep -qx "kbs.ca_file = $KBS_DIR/ca.pem" "$C/50-kbs.conf" &&
	grep -qx "kbs.admin_key = $KBS_DIR/admin.pem" "$C/50-kbs.conf" &&
	[ "$(tail -n1 "$C/50-kbs.conf")" = "kbs.allow_http = yes" ]
t_ok $? "kbs_dropin writes the drop-in, extra lines last"

# --- the protocol, from a Python client -----------------------------------------
# It prints "RC<TAB>DESCRIPTION" per check; diagnostics go to stderr.
cat > "$T_TMP/client.py" <<'EOF'
import base64, hashlib, http.client, json, os, re, socket, ssl, sys, time
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.keywrap import InvalidUnwrap, aes_key_unwrap

D, HTTPS, HTTP = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
KEK1 = open(D + "/kek1.bin", "rb").read()
ADMIN = serialization.load_pem_private_key(open(D + "/admin.pem", "rb").read(), None)
CTX = ssl.create_default_context(cafile=D + "/ca.pem")
ERR = "https://github.com/confidential-containers/kbs/errors/"


def check(ok, desc, diag=""):
    print("%d\t%s" % (0 if ok else 1, desc), flush=True)
    if not ok and diag:
        print("# " + str(diag)[:600], file=sys.stderr)


def b64u(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def unb64u(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def jcs(v):
    """RFC 8785 for the string-only objects used here."""
    if isinstance(v, dict):
        return "{" + ",".join(json.dumps(k) + ":" + jcs(v[k]) for k in sorted(v)) + "}"
    return json.dumps(v)


class Client:
    def __init__(self, tls=True, timeout=10):
        self.conn = (http.client.HTTPSConnection("127.0.0.1", HTTPS, context=CTX, timeout=timeout)
                     if tls else http.client.HTTPConnection("127.0.0.1", HTTP, timeout=timeout))
        self.cookie = None

    def req(self, method, path, body=None, headers=None, ctype="application/json"):
        h = dict(headers or {})
        if self.cookie:
            h["Cookie"] = "kbs-session-id=" + self.cookie
        if body is not None:
            h["Content-Type"] = ctype
            if not isinstance(body, bytes):
                body = json.dumps(body).encode()
        self.conn.request(method, path, body=body, headers=h)
        r = self.conn.getresponse()
        data = r.read()
        sc = r.getheader("Set-Cookie")
        if sc:
            self.set_cookie = sc
            self.cookie = sc.split(";")[0].split("=", 1)[1]
        return r.status, data

    def auth(self, version="0.4.0", tee="sample"):
        return self.req("POST", "/kbs/v0/auth", {"version": version, "tee": tee, "extra-params": {
            "supported-hash-algorithms": ["sha256", "sha384", "sha512", "sm3"]}})


class Tee:
    """A TEE key pair and its JWK as kbs_protocol keypair.rs exports it."""
    def __init__(self, kind):
        self.kind = kind
        if kind == "EC":
            self.key = ec.generate_private_key(ec.SECP256R1())
            n = self.key.public_key().public_numbers()
            self.jwk = {"kty": "EC", "crv": "P-256", "alg": "ECDH-ES+A256KW",
                        "x": b64u(n.x.to_bytes(32, "big")), "y": b64u(n.y.to_bytes(32, "big"))}
        else:
            self.key = rsa.generate_private_key(65537, 2048)
            n = self.key.public_key().public_numbers()
            self.jwk = {"kty": "RSA", "alg": "RSA-OAEP-256",
                        "n": b64u(n.n.to_bytes(256, "big")), "e": b64u(n.e.to_bytes(3, "big"))}

    def evidence(self, nonce, jwk=None, hashed_jwk=None, addl=""):
        jwk = jwk or self.jwk
        rd = {"tee-pubkey": hashed_jwk or jwk, "nonce": nonce, "additional-evidence": addl}
        digest = hashlib.sha384(jcs(rd).encode()).digest()
        return {"init-data": None, "runtime-data": {"nonce": nonce, "tee-pubkey": jwk},
                "tee-evidence": {"primary_evidence": {"svn": "1",
                                                      "report_data": base64.b64encode(digest).decode()},
                                 "additional_evidence": addl}}

    def open(self, body):
        j = json.loads(body)
        prot = j["protected"]
        hdr = json.loads(unb64u(prot))
        assert hdr["enc"] == "A256GCM"
        if hdr["alg"] == "ECDH-ES+A256KW":
            epk = hdr["epk"]
            peer = ec.EllipticCurvePublicNumbers(int.from_bytes(unb64u(epk["x"]), "big"),
                                                 int.from_bytes(unb64u(epk["y"]), "big"),
                                                 ec.SECP256R1()).public_key()
            z = self.key.exchange(ec.ECDH(), peer)
            alg = b"ECDH-ES+A256KW"
            kek = hashlib.sha256(b"\0\0\0\1" + z + len(alg).to_bytes(4, "big") + alg
                                 + b"\0" * 8 + (256).to_bytes(4, "big")).digest()
            cek = aes_key_unwrap(kek, unb64u(j["encrypted_key"]))
        else:
            assert hdr["alg"] == "RSA-OAEP-256"
            cek = self.key.decrypt(unb64u(j["encrypted_key"]), padding.OAEP(
                mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None))
        return AESGCM(cek).decrypt(unb64u(j["iv"]), unb64u(j["ciphertext"]) + unb64u(j["tag"]),
                                   prot.encode())


def handshake(kind="EC", tls=True):
    c, t = Client(tls), Tee(kind)
    st, ch = c.auth()
    assert st == 200, (st, ch)
    st, tok = c.req("POST", "/kbs/v0/attest", t.evidence(json.loads(ch)["nonce"]))
    assert st == 200, (st, tok)
    c.token = json.loads(tok)["token"]
    return c, t


def err_type(body):
    try:
        j = json.loads(body)
        return j["type"][len(ERR):] if j["type"].startswith(ERR) and isinstance(j["detail"], str) else None
    except (ValueError, KeyError, TypeError):
        return None


def ctl(path, arg=None):
    c = http.client.HTTPConnection("127.0.0.1", HTTP, timeout=10)
    c.request("POST" if arg is not None else "GET", path,
              body=json.dumps(arg).encode() if arg is not None else None)
    r = c.getresponse()
    return r.status, r.read()


def admin_jwt(claims, key=ADMIN, alg="EdDSA"):
    si = b64u(json.dumps({"alg": alg, "typ": "JWT"}).encode()) + "." + b64u(json.dumps(claims).encode())
    return si + "." + b64u(key.sign(si.encode()))


# RFC 8785 as trustee's attestation-service test vector has it
check(hashlib.sha384(jcs({"b": "x", "a": "test", "c": {"d": "e"}}).replace('"x"', "1").encode()).hexdigest()
      == "e71ce8e70d814ba6639c3612ebee0ff1f76f650f8dbb5e47157e0f3f525cd22c4597480a186427c813ca941da78870c3",
      "the client's JCS matches trustee's test vector")

# --- the handshake, EC ---
c, t = Client(), Tee("EC")
st, body = c.req("GET", "/kbs/v0/resource/default/key/1")
check(st == 401 and err_type(body) == "TokenNotFound", "resource before any handshake: 401 TokenNotFound", body)
st, body = c.auth()
ch = json.loads(body) if st == 200 else {}
ok = (st == 200 and sorted(ch) == ["extra-params", "nonce"] and ch["extra-params"] == ""
      and len(base64.b64decode(ch["nonce"], validate=True)) == 32)
check(ok, "auth: challenge {nonce: b64 of 32 bytes, extra-params: \"\"}", body)
check(c.cookie is not None and re.fullmatch(r"[0-9a-f]{32}", c.cookie) is not None
      and re.search(r"; Expires=\w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d GMT$", c.set_cookie) is not None,
      "auth: Set-Cookie kbs-session-id=<32 hex>; Expires=...", getattr(c, "set_cookie", None))
st, body = c.req("GET", "/kbs/v0/resource/default/key/1")
check(st == 401 and err_type(body) == "TokenNotFound", "resource with an unattested session: 401", body)
st, body = c.req("POST", "/kbs/v0/attest", t.evidence(ch.get("nonce", "")))
tok = json.loads(body).get("token", "") if st == 200 else ""
check(st == 200 and len(tok.split(".")) == 3 and "exp" in json.loads(unb64u(tok.split(".")[1])),
      "attest: a JWT-shaped token with exp", body)
st, body = c.req("GET", "/kbs/v0/resource/default/key/1")
try:
    hdr = json.loads(unb64u(json.loads(body)["protected"]))
    got = t.open(body)
except Exception as e:
    hdr, got = {}, repr(e)
check(st == 200 and got == KEK1, "P-256 TEE key: the JWE opens to default/key/1", (st, body, got))
check(sorted(json.loads(body)) == ["ciphertext", "encrypted_key", "iv", "protected", "tag"]
      and hdr.get("alg") == "ECDH-ES+A256KW" and sorted(hdr.get("epk", {})) == ["crv", "kty", "x", "y"]
      and len(unb64u(json.loads(body)["iv"])) == 12 and len(unb64u(json.loads(body)["encrypted_key"])) == 40,
      "JWE: the five members; ECDH-ES+A256KW with an epk; 12-byte iv; 40-byte wrapped key", hdr)
st, body2 = c.req("POST", "/kbs/v0/attest", t.evidence(ch.get("nonce", "")))
check(st == 200 and json.loads(body2)["token"] == tok, "attest again on an attested session: the same token")
st, body = c.req("GET", "/kbs/v0/resource/default/nothing/here")
check(st == 401 and err_type(body) == "PluginInternalError", "a missing resource: 401 (current trustee)", body)

# --- RSA ---
try:
    c, t = handshake("RSA")
    st, body = c.req("GET", "/kbs/v0/resource/default/key/1")
    ok = st == 200 and json.loads(unb64u(json.loads(body)["protected"])) == \
        {"alg": "RSA-OAEP-256", "enc": "A256GCM"} and t.open(body) == KEK1
except Exception as e:
    ok, body = False, repr(e)
check(ok, "RSA TEE key: RSA-OAEP-256, the JWE opens to default/key/1", body)

# --- the plain-HTTP port ---
try:
    c, t = handshake("EC", tls=False)
    st, body = c.req("GET", "/kbs/v0/resource/default/key/2")
    ok = st == 200 and t.open(body) == open(D + "/kek2.bin", "rb").read()
except Exception as e:
    ok, body = False, repr(e)
check(ok, "the same API on the plain-HTTP port", body)

# --- attestation refusals ---
def attest_with(mutate, tee="sample", version="0.4.0"):
    c, t = Client(), Tee("EC")
    st, body = c.auth(version, tee)
    if st != 200:
        return st, body
    ev = mutate(t, json.loads(body)["nonce"])
    return c.req("POST", "/kbs/v0/attest", ev)

st, body = attest_with(lambda t, n: t.evidence(base64.b64encode(os.urandom(32)).decode()))
check(st == 401 and err_type(body) == "AttestationError", "attest with another nonce: 401", body)

def nonce_only(t, n):
    ev = t.evidence(n)  # report_data bound to the session's nonce
    ev["runtime-data"]["nonce"] = base64.b64encode(os.urandom(32)).decode()
    return ev
st, body = attest_with(nonce_only)
check(st == 401, "runtime-data nonce not the session's (report_data still bound to it): 401", body)

def wrong_rd(t, n):
    ev = t.evidence(n)
    ev["tee-evidence"]["primary_evidence"]["report_data"] = base64.b64encode(os.urandom(48)).decode()
    return ev
st, body = attest_with(wrong_rd)
check(st == 401 and err_type(body) == "AttestationError", "attest with another report_data: 401", body)

def unhashed_nonce(t, n):
    ev = t.evidence(n)
    rd = {"tee-pubkey": t.jwk, "nonce": n}  # without additional-evidence
    ev["tee-evidence"]["primary_evidence"]["report_data"] = \
        base64.b64encode(hashlib.sha384(jcs(rd).encode()).digest()).decode()
    return ev
st, body = attest_with(unhashed_nonce)
check(st == 401, "report_data without additional-evidence in the hash: 401", body)

def sha256_rd(t, n):
    ev = t.evidence(n)
    rd = {"tee-pubkey": t.jwk, "nonce": n, "additional-evidence": ""}
    ev["tee-evidence"]["primary_evidence"]["report_data"] = \
        base64.b64encode(hashlib.sha256(jcs(rd).encode()).digest()).decode()
    return ev
st, body = attest_with(sha256_rd)
check(st == 401, "report_data hashed with SHA-256 instead of SHA-384: 401", body)

def extra_member(t, n):
    jwk = dict(t.jwk, use="enc")
    return t.evidence(n, jwk=jwk)
st, body = attest_with(extra_member)
check(st == 401, "a JWK with an extra member, hashed as sent: 401 (trustee hashes its typed re-serialization)", body)

def extra_member_typed(t, n):
    return t.evidence(n, jwk=dict(t.jwk, use="enc"), hashed_jwk=t.jwk)
st, body = attest_with(extra_member_typed)
check(st == 200, "the same JWK hashed without the extra member: accepted", body)

def no_svn(t, n):
    ev = t.evidence(n)
    del ev["tee-evidence"]["primary_evidence"]["svn"]
    return ev
st, body = attest_with(no_svn)
check(st == 401, "sample evidence without svn: 401", body)

def no_addl(t, n):
    ev = t.evidence(n)
    del ev["tee-evidence"]["additional_evidence"]
    return ev
st, body = attest_with(no_addl)
check(st == 401, "tee-evidence without additional_evidence: 401", body)

st, body = attest_with(lambda t, n: t.evidence(n), tee="snp")
check(st == 401, "a non-sample TEE cannot attest here: 401", body)
st, body = attest_with(lambda t, n: t.evidence(n), version="0.1.1")
check(st == 401 and "Version Mismatch" in json.loads(body)["detail"], "auth with version 0.1.1: 401 Version Mismatch", body)
st, body = attest_with(lambda t, n: t.evidence(n), tee="nonsense")
check(st == 401 and err_type(body) == "AttestationError", "auth with an unknown TEE: 401", body)
c = Client()
st, body = c.req("POST", "/kbs/v0/attest", Tee("EC").evidence("x"))
check(st == 401, "attest without a session cookie: 401", body)
st, body = c.req("GET", "/kbs/v0/nosuchplugin/a/b/c")
check(st == 404 and err_type(body) == "PluginNotFound", "an unknown plugin: 404 PluginNotFound", body)

# --- bearer token, expiry, missing_status ---
c, t = handshake()
c2 = Client()
st, body = c2.req("GET", "/kbs/v0/resource/default/key/1", headers={"Authorization": "Bearer " + c.token})
check(st == 200 and t.open(body) == KEK1, "the attestation token as a Bearer token, without a cookie", body)
bad = c.token[:-4] + ("AAAA" if not c.token.endswith("AAAA") else "BBBB")
st, body = c2.req("GET", "/kbs/v0/resource/default/key/1", headers={"Authorization": "Bearer " + bad})
check(st == 401 and err_type(body) == "TokenVerifierError", "a forged token: 401 TokenVerifierError", body)
check(ctl("/_expire", {})[0] == 200, "/_expire")
st, body = c.req("GET", "/kbs/v0/resource/default/key/1")
check(st == 401 and err_type(body) == "TokenNotFound", "after /_expire: the old session answers 401", body)
c, t = handshake()
ctl("/_config", {"missing_status": 404})
st, body = c.req("GET", "/kbs/v0/resource/default/key/404")
check(st == 404, "missing_status 404: a missing resource answers 404 (old KBS)", body)
ctl("/_config", {"missing_status": 401, "deny": ["default/key/2"]})
st, body = c.req("GET", "/kbs/v0/resource/default/key/2")
check(st == 401 and err_type(body) == "PolicyDeny", "a policy denial: 401 PolicyDeny", body)
ctl("/_config", {"deny": [], "session_ttl": 1})
c, t = handshake()
time.sleep(2.2)
st, body = c.req("GET", "/kbs/v0/resource/default/key/1")
check(st == 401, "an expired session (session_ttl): 401", body)
ctl("/_config", {"session_ttl": 300})

# --- admin registration ---
def post(path, body, token, ctype="application/octet-stream"):
    h = {"Authorization": "Bearer " + token} if token is not None else {}
    return Client().req("POST", path, body, headers=h, ctype=ctype)

now = int(time.time())
new = os.urandom(32)
st, body = post("/kbs/v0/resource/default/image-kek/reg1", new, admin_jwt({"exp": now + 600, "iat": now, "iss": "ocikp-tests"}))
check(st == 200 and ctl("/_resource/default/image-kek/reg1")[1] == base64.b64encode(new),
      "admin POST with a good EdDSA JWT stores the raw body", body)
c, t = handshake()
st, body = c.req("GET", "/kbs/v0/resource/default/image-kek/reg1")
check(st == 200 and t.open(body) == new, "the registered KEK comes back through the JWE", body)
other = Ed25519PrivateKey.generate()
cases = [
    ("another key's signature", admin_jwt({"exp": now + 600, "iss": "ocikp-tests"}, key=other)),
    ("no exp", admin_jwt({"iat": now, "iss": "ocikp-tests"})),
    ("exp long past", admin_jwt({"exp": now - 3600, "iss": "ocikp-tests"})),
    ("another iss", admin_jwt({"exp": now + 600, "iss": "someone"})),
    ("alg ES256 in the header", admin_jwt({"exp": now + 600, "iss": "ocikp-tests"}, alg="ES256")),
]
for what, tok in cases:
    st, body = post("/kbs/v0/resource/default/image-kek/bad", b"x" * 32, tok)
    check(st == 401 and err_type(body) == "AdminAuthInitialization", "admin POST, %s: 401" % what, body)
st, body = post("/kbs/v0/resource/default/image-kek/bad", b"x" * 32, None)
check(st == 401, "admin POST without Authorization: 401", body)
check(ctl("/_resource/default/image-kek/bad")[0] == 404, "nothing refused was stored")
ctl("/_config", {"require_role": "kek-admin", "aud": "kbs"})
good = {"exp": now + 600, "iss": "ocikp-tests", "aud": "kbs", "role": "kek-admin"}
for what, claims in [("no role", {k: v for k, v in good.items() if k != "role"}),
                     ("another role", dict(good, role="viewer")),
                     ("another aud", dict(good, aud="elsewhere"))]:
    st, body = post("/kbs/v0/resource/default/image-kek/r2", b"y" * 32, admin_jwt(claims))
    check(st == 401, "require_role and aud set, %s: 401" % what, body)
st, body = post("/kbs/v0/resource/default/image-kek/r2", b"y" * 32, admin_jwt(dict(good, aud=["x", "kbs"])))
check(st == 200, "require_role and aud set, role and aud (in a list) right: 200", body)
ctl("/_config", {"admin_role_regex": "^/kbs/v0/resource/other/.+$"})
st, body = post("/kbs/v0/resource/default/image-kek/r3", b"y" * 32, admin_jwt(good))
check(st == 401 and "not allowed for path /kbs/v0/resource/default/image-kek/r3" in body.decode(),
      "the role's path regex does not match: 401", body)
ctl("/_config", {"admin_role_regex": "^/kbs/v0/resource/.+$", "require_role": None, "aud": None})

# --- faults ---
c, t = handshake()
ctl("/_fault", {"match": "GET /kbs/v0/resource/default/key/1", "status": 500, "times": 1})
s1, _ = c.req("GET", "/kbs/v0/resource/default/key/1")
s2, body = c.req("GET", "/kbs/v0/resource/default/key/1")
check(s1 == 500 and s2 == 200 and t.open(body) == KEK1, "fault: one 500, then the answer", (s1, s2))
ctl("/_fault", {"match": "/kbs/v0/auth", "status": 503, "times": 2, "body": "busy"})
codes = [Client().auth()[0] for _ in range(3)]
check(codes == [503, 503, 200], "fault: times and match on auth", codes)
ctl("/_fault", {"match": "resource/default/key/1", "hang": 2, "times": 1})
c3 = Client(timeout=0.5)
c3.cookie = c.cookie
t0 = time.time()
try:
    c3.req("GET", "/kbs/v0/resource/default/key/1")
    hung = False
except (socket.timeout, TimeoutError):
    hung = True
check(hung, "fault: hang makes a client time out")
time.sleep(1.6)
for kind, exc_ok in [("garbage", lambda e: isinstance(e, (ValueError, KeyError, TypeError))),
                     ("other_key", lambda e: isinstance(e, InvalidUnwrap)),
                     ("tamper", lambda e: isinstance(e, InvalidTag))]:
    ctl("/_fault", {"match": "resource/default/key/1", "bad_jwe": kind, "times": 1})
    st, body = c.req("GET", "/kbs/v0/resource/default/key/1")
    try:
        t.open(body)
        opened = True
    except Exception as e:
        opened = not exc_ok(e)
    check(st == 200 and not opened, "fault: bad_jwe %s answers 200 with a JWE that does not open" % kind, body)
st, body = c.req("GET", "/kbs/v0/resource/default/key/1")
check(st == 200 and t.open(body) == KEK1, "after the faults: a good JWE again", body)

# --- stats, reset ---
st, body = ctl("/_stats")
s = json.loads(body)
check(st == 200 and all(isinstance(s.get(k), int) for k in
                        ("auth", "attest", "resource_get", "resource_post", "unauthorized"))
      and s["resource_post"] >= 8 and s["unauthorized"] >= 10, "/_stats counts", body)
ctl("/_reset", {})
s = json.loads(ctl("/_stats")[1])
log = open(D + "/requests.log").read().splitlines()
check(all(v == 0 for v in s.values()) and ctl("/_resource/default/image-kek/reg1")[0] == 404
      and ctl("/_resource/default/key/1")[0] == 200 and log == ["control GET /_stats"],
      "/_reset: counters zero, registrations gone, config resources back, requests.log anew", (s, log))
c, t = handshake()
st, body = c.req("GET", "/kbs/v0/resource/default/key/1")
s = json.loads(ctl("/_stats")[1])
check(st == 200 and (s["auth"], s["attest"], s["resource_get"], s["unauthorized"]) == (1, 1, 1, 0),
      "one handshake and one GET, counted once each", s)
log = open(D + "/requests.log").read().splitlines()
check("auth POST /kbs/v0/auth" in log and "attest POST /kbs/v0/attest" in log
      and "resource_get GET /kbs/v0/resource/default/key/1" in log, "requests.log: KIND METHOD PATH", log)
EOF

python3 "$T_TMP/client.py" "$KBS_DIR" "$KBS_HTTPS" "$KBS_HTTP" > "$T_TMP/client.out"
rc=$?
while IFS=$'\t' read -r r desc; do
	t_ok "$r" "$desc"
done < "$T_TMP/client.out"
[ $rc -eq 0 ] || t_ok 1 "the client ran to the end (exit $rc)"
t_done
[ $T_FAILED -eq 0 ]
