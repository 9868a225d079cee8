#!/bin/bash
# The fake Google Cloud (tests/gcpkms/fake_gcp.py) is as strict as the real
# services: a small Python client (urllib, the test CA, `cryptography` for the
# JWTs) walks every flow with each credential file lib.sh writes, and every
# way to get it wrong that the services refuse.
. "$top_srcdir/tests/lib/common.sh"
. "$top_srcdir/tests/gcpkms/lib.sh"

gcp_setup

# A ciphertext the fake did not make, as a test registers a real KMS one.
KNOWN_CT=$(printf 'CiQA-real-kms-ciphertext-%s' "$(gcp_rand 8)" | b64)
KNOWN_PT=$(printf 'known plaintext' | b64)
gcp_known "$KNOWN_CT" "$KNOWN_PT"
export KNOWN_CT KNOWN_PT

# the helpers' own round trip
[ "$(gcp_stat encrypt)" = 0 ]
t_ok $? "gcp_stat reads a counter"
[ "$(stat -c %a "$GCP_DIR/sa.json")" = 600 ] && [ "$(stat -c %a "$GCP_DIR/ext-exec.json")" = 600 ]
t_ok $? "credential files are mode 0600"
C=$(t_conf_dir)
gcp_dropin "$C" "gcpkms.credentials = $GCP_DIR/sa.json"
grep -q "^gcpkms.kms_endpoint = https://127.0.0.1:$GCP_HTTPS\$" "$C/50-gcpkms.conf" &&
	grep -q "^gcpkms.credentials = $GCP_DIR/sa.json\$" "$C/50-gcpkms.conf"
t_ok $? "gcp_dropin writes the endpoint and extra lines"

python3 - > "$T_TMP/py.out" 2> "$T_TMP/py.err" <<'EOF'
import base64, json, os, re, ssl, sys, time, urllib.error, urllib.parse, urllib.request
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

E = os.environ
D = E["GCP_DIR"]
URL = E["GCP_URL"]
MD = "http://127.0.0.1:%s" % E["GCP_HTTP"]
CTX = ssl.create_default_context(cafile=D + "/ca.pem")
KMS_SCOPE = "https://www.googleapis.com/auth/cloudkms"
CLOUD = "https://www.googleapis.com/auth/cloud-platform"


def ok(cond, desc, *diag):
    print(("ok - " if cond else "not ok - ") + desc)
    if not cond:
        for d in diag:
            print("# " + str(d)[:600])


def req(method, url, body=None, headers=None, form=None):
    h = dict(headers or {})
    if form is not None:
        body = urllib.parse.urlencode(form).encode()
        h.setdefault("Content-Type", "application/x-www-form-urlencoded")
    elif isinstance(body, (dict, list)):
        body = json.dumps(body).encode()
        h.setdefault("Content-Type", "application/json")
    r = urllib.request.Request(url, data=body, headers=h, method=method)
    try:
        with urllib.request.urlopen(r, context=CTX if url.startswith("https") else None, timeout=20) as resp:
            return resp.status, resp.headers, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def js(b):
    try:
        return json.loads(b)
    except ValueError:
        return None


def ctl(path, obj=None):
    return js(req("GET" if path == "/_stats" else "POST", MD + path, obj if obj is not None else {})[2])


def crc32c(data):
    c = 0xFFFFFFFF
    for b in data:
        c ^= b
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
    return c ^ 0xFFFFFFFF


def b64u(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def jwt(key, claims, header=None):
    h = header or {"alg": "RS256", "typ": "JWT"}
    si = b64u(json.dumps(h).encode()) + "." + b64u(json.dumps(claims).encode())
    return si + "." + b64u(key.sign(si.encode(), padding.PKCS1v15(), hashes.SHA256()))


def load(name):
    with open(D + "/" + name) as f:
        return json.load(f)


SA = load("sa.json")
SA_KEY = serialization.load_pem_private_key(SA["private_key"].encode(), None)


def sa_claims(scope=KMS_SCOPE, **kw):
    now = int(time.time())
    c = {"iss": SA["client_email"], "scope": scope, "aud": SA["token_uri"], "iat": now, "exp": now + 3600}
    c.update(kw)
    return {k: v for k, v in c.items() if v is not None}


def jwt_grant(assertion, url=None):
    return req("POST", url or SA["token_uri"], form={
        "grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": assertion})


def sa_token(scope=KMS_SCOPE):
    st, _, b = jwt_grant(jwt(SA_KEY, sa_claims(scope), {"alg": "RS256", "typ": "JWT", "kid": SA["private_key_id"]}))
    return js(b)["access_token"] if st == 200 else None


KEY, KEY2 = E["GCP_KEY"], E["GCP_KEY2"]


def encrypt(tok, pt, key=KEY, crc=True, extra=None, headers=None, path=None):
    body = {"plaintext": base64.b64encode(pt).decode()}
    if crc:
        body["plaintextCrc32c"] = str(crc32c(pt))
    body.update(extra or {})
    h = {"Authorization": "Bearer " + tok} if tok else {}
    h.update(headers or {})
    return req("POST", URL + "/v1/" + (path or key) + ":encrypt", body, h)


def decrypt(tok, ct_b64, key=KEY, crc=True, extra=None):
    body = {"ciphertext": ct_b64}
    if crc:
        body["ciphertextCrc32c"] = str(crc32c(base64.b64decode(ct_b64)))
    body.update(extra or {})
    return req("POST", URL + "/v1/" + key + ":decrypt", body, {"Authorization": "Bearer " + tok})


def works(tok):
    """tok encrypts and decrypts."""
    if not tok:
        return False
    st, _, b = encrypt(tok, b"probe")
    if st != 200:
        return False
    st, _, b = decrypt(tok, js(b)["ciphertext"])
    return st == 200 and base64.b64decode(js(b)["plaintext"]) == b"probe"


def rpc_err(st, b, code, status):
    e = (js(b) or {}).get("error") or {}
    return st == code and e.get("code") == code and e.get("status") == status and isinstance(e.get("message"), str)


def oauth_err(st, b, code, error):
    j = js(b) or {}
    return st == code and j.get("error") == error and isinstance(j.get("error_description"), str)


# --- service account JWT grant ------------------------------------------------
st, h, b = jwt_grant(jwt(SA_KEY, sa_claims(), {"alg": "RS256", "typ": "JWT", "kid": SA["private_key_id"]}))
j = js(b) or {}
ok(st == 200 and j.get("token_type") == "Bearer" and j.get("expires_in") == 3600 and j.get("access_token"),
   "sa.json: a JWT-bearer grant gets a token", st, b)
TOK = j.get("access_token")
ok(sa_token() is not None and jwt_grant(jwt(SA_KEY, sa_claims()))[0] == 200, "a JWT without kid is accepted too")

other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
st, _, b = jwt_grant(jwt(other, sa_claims()))
ok(oauth_err(st, b, 400, "invalid_grant"), "a JWT signed by another key is refused (400 invalid_grant)", st, b)
good = jwt(SA_KEY, sa_claims())
hd, cl, sg = good.split(".")
st, _, b = jwt_grant(hd + "." + cl + "." + b64u(b"x" * 256))
ok(oauth_err(st, b, 400, "invalid_grant"), "a corrupted signature is refused", st, b)
st, _, b = jwt_grant(jwt(SA_KEY, sa_claims(), {"alg": "RS256", "kid": "0000"}))
ok(oauth_err(st, b, 400, "invalid_grant"), "a wrong kid is refused", st, b)
st, _, b = jwt_grant(b64u(b'{"alg":"none"}') + "." + cl + ".")
ok(oauth_err(st, b, 400, "invalid_grant"), "alg none is refused", st, b)
st, _, b = jwt_grant(jwt(SA_KEY, sa_claims(aud="https://oauth2.googleapis.com/token")))
ok(oauth_err(st, b, 400, "invalid_grant"), "a wrong aud is refused", st, b)
st, _, b = jwt_grant(jwt(SA_KEY, sa_claims(aud=None)))
ok(oauth_err(st, b, 400, "invalid_grant"), "a missing aud is refused", st, b)
st, _, b = jwt_grant(jwt(SA_KEY, sa_claims(iss="nobody@fake-project.iam.gserviceaccount.com")))
ok(oauth_err(st, b, 400, "invalid_grant"), "an unknown iss is refused", st, b)
now = int(time.time())
st, _, b = jwt_grant(jwt(SA_KEY, sa_claims(iat=now, exp=now + 3601)))
ok(oauth_err(st, b, 400, "invalid_grant"), "exp - iat > 3600 is refused", st, b)
st, _, b = jwt_grant(jwt(SA_KEY, sa_claims(iat=now - 7200, exp=now - 3600)))
ok(oauth_err(st, b, 400, "invalid_grant"), "an expired JWT is refused", st, b)
st, _, b = jwt_grant(jwt(SA_KEY, sa_claims(exp=None)))
ok(oauth_err(st, b, 400, "invalid_grant"), "a JWT without exp is refused", st, b)
st, _, b = jwt_grant(jwt(SA_KEY, sa_claims(iat=str(now))))
ok(oauth_err(st, b, 400, "invalid_grant"), "a string iat is refused", st, b)
st, _, b = jwt_grant(jwt(SA_KEY, sa_claims(sub="someone@example.com")))
ok(oauth_err(st, b, 401, "unauthorized_client"), "sub naming another user is refused (no delegation)", st, b)
st, _, b = jwt_grant(jwt(SA_KEY, sa_claims(scope="https://www.googleapis.com/auth/nonsense")))
ok(oauth_err(st, b, 400, "invalid_scope"), "an unknown scope is refused (400 invalid_scope)", st, b)
st, _, b = jwt_grant(jwt(SA_KEY, sa_claims(scope=None)))
ok(oauth_err(st, b, 400, "invalid_scope"), "a missing scope is refused", st, b)
st, _, b = req("POST", SA["token_uri"], json.dumps({"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
               "assertion": good}).encode(), {"Content-Type": "application/json"})
ok(oauth_err(st, b, 400, "invalid_request"), "a JSON token request is refused (form only)", st, b)
st, _, b = req("POST", SA["token_uri"], form={"grant_type": "password"})
ok(oauth_err(st, b, 400, "unsupported_grant_type"), "an unknown grant_type is refused", st, b)

storage = sa_token("https://www.googleapis.com/auth/devstorage.read_only")
st, _, b = encrypt(storage, b"x")
ok(storage and rpc_err(st, b, 403, "PERMISSION_DENIED"),
   "a token without the cloudkms/cloud-platform scope gets 403 from KMS", st, b)

# --- KMS encrypt / decrypt ------------------------------------------------------
PT = os.urandom(32)
st, _, b = encrypt(TOK, PT)
j = js(b) or {}
ct = base64.b64decode(j.get("ciphertext", ""))
ok(st == 200 and j.get("name") == KEY + "/cryptoKeyVersions/1" and j.get("verifiedPlaintextCrc32c") is True
   and j.get("ciphertextCrc32c") == str(crc32c(ct)) and j.get("protectionLevel") == "SOFTWARE",
   "encrypt answers name, ciphertext, its CRC32C (a decimal string), verified true", st, b)
CT = j.get("ciphertext")
st, _, b = decrypt(TOK, CT)
j = js(b) or {}
ok(st == 200 and base64.b64decode(j.get("plaintext", "")) == PT and j.get("plaintextCrc32c") == str(crc32c(PT))
   and not any(k.startswith("verified") for k in j), "decrypt gives the plaintext and its CRC32C", st, b)
with open(D + "/last-decrypt.json") as f:
    last = json.load(f)
ok(last == {"ciphertext": CT, "ciphertextCrc32c": str(crc32c(ct))}, "last-decrypt.json holds the request body", last)
st, _, b = encrypt(TOK, PT, crc=False)
ok(st == 200 and "verifiedPlaintextCrc32c" not in js(b), "without plaintextCrc32c, no verified field", b)
st, _, b = encrypt(TOK, PT, path=KEY + "/cryptoKeyVersions/1")
ok(st == 200 and js(b)["name"] == KEY + "/cryptoKeyVersions/1", "encrypt on cryptoKeyVersions/1", st, b)
st, _, b = encrypt(TOK, PT, path=KEY + "/cryptoKeyVersions/7")
ok(rpc_err(st, b, 404, "NOT_FOUND"), "encrypt on a missing version: 404", st, b)
st, _, b = encrypt(TOK, PT, extra={"plaintextCrc32c": str((crc32c(PT) + 1) % 2**32)})
ok(rpc_err(st, b, 400, "INVALID_ARGUMENT"), "a wrong plaintextCrc32c: 400 INVALID_ARGUMENT", st, b)
st, _, b = decrypt(TOK, CT, extra={"ciphertextCrc32c": "0"})
ok(rpc_err(st, b, 400, "INVALID_ARGUMENT"), "a wrong ciphertextCrc32c: 400 INVALID_ARGUMENT", st, b)
st, _, b = encrypt(TOK, PT, extra={"plaintextCrc32c": crc32c(PT)})
ok(st == 200, "an int64 as a JSON number is accepted, as proto3 JSON allows", st, b)
st, _, b = encrypt(TOK, PT, extra={"plaintextCrc32c": "0x10"})
ok(rpc_err(st, b, 400, "INVALID_ARGUMENT"), "a malformed int64 string: 400", st, b)
st, _, b = encrypt(TOK, PT, extra={"plaintext": "!!notbase64"})
ok(rpc_err(st, b, 400, "INVALID_ARGUMENT"), "plaintext that is not base64: 400", st, b)
st, _, b = encrypt(TOK, PT, extra={"keyName": "x"})
ok(rpc_err(st, b, 400, "INVALID_ARGUMENT"), "an unknown field: 400", st, b)
st, _, b = encrypt(TOK, b"", crc=False)
ok(rpc_err(st, b, 400, "INVALID_ARGUMENT"), "empty plaintext: 400", st, b)
st, _, b = encrypt(TOK, b"x" * (64 * 1024 + 1))
ok(rpc_err(st, b, 400, "INVALID_ARGUMENT"), "plaintext over 64 KiB: 400", st, b)
st, _, b = decrypt(TOK, CT, key=KEY2)
ok(rpc_err(st, b, 400, "INVALID_ARGUMENT") and "Decryption failed" in js(b)["error"]["message"],
   "another key's ciphertext: 400 Decryption failed", st, b)
st, _, b = req("POST", URL + "/v1/" + KEY + ":decrypt", b"{not json", {"Authorization": "Bearer " + TOK})
ok(rpc_err(st, b, 400, "INVALID_ARGUMENT"), "a body that is not JSON: 400", st, b)
st, _, b = encrypt(TOK, PT, headers={"Content-Type": "application/x-www-form-urlencoded"})
ok(rpc_err(st, b, 400, "INVALID_ARGUMENT"), "a KMS body not sent as application/json: 400", st, b)
st, _, b = req("POST", URL + "/v1/" + KEY + "/cryptoKeyVersions/1:decrypt", {"ciphertext": CT},
               {"Authorization": "Bearer " + TOK})
ok(rpc_err(st, b, 404, "NOT_FOUND"), "decrypt names the key, not a version: 404 otherwise", st, b)
st, _, b = encrypt(TOK, PT, key=KEY.replace("key1", "nokey"))
ok(rpc_err(st, b, 404, "NOT_FOUND"), "an unknown key: 404 NOT_FOUND", st, b)
st, _, b = encrypt(TOK, PT, extra={"additionalAuthenticatedData": base64.b64encode(b"ctx").decode()})
st2, _, b2 = decrypt(TOK, js(b)["ciphertext"]) if st == 200 else (0, 0, b"")
st3, _, b3 = decrypt(TOK, js(b)["ciphertext"], extra={"additionalAuthenticatedData": base64.b64encode(b"ctx").decode()}) if st == 200 else (0, 0, b"")
ok(st2 == 400 and st3 == 200, "additionalAuthenticatedData binds the ciphertext", st, st2, st3)
st, _, b = decrypt(TOK, E["KNOWN_CT"])
ok(st == 200 and js(b)["plaintext"] == E["KNOWN_PT"], "a registered known ciphertext decrypts", st, b)

st, h, b = encrypt(None, PT)
ok(rpc_err(st, b, 401, "UNAUTHENTICATED") and "Bearer" in (h.get("WWW-Authenticate") or ""),
   "no bearer token: 401 UNAUTHENTICATED", st, b)
st, _, b = encrypt("ya29.made-up", PT)
ok(rpc_err(st, b, 401, "UNAUTHENTICATED"), "a token the fake never issued: 401", st, b)
st, _, b = encrypt(TOK, PT, headers={"Authorization": "Basic " + TOK})
ok(rpc_err(st, b, 401, "UNAUTHENTICATED"), "a non-Bearer scheme: 401", st, b)

# --- authorized_user ------------------------------------------------------------
AU = load("au.json")
st, _, b = req("POST", AU["token_uri"], form={"grant_type": "refresh_token", "client_id": AU["client_id"],
               "client_secret": AU["client_secret"], "refresh_token": AU["refresh_token"]})
j = js(b) or {}
ok(st == 200 and j.get("token_type") == "Bearer" and works(j.get("access_token")),
   "au.json: a refresh_token grant gets a working token", st, b)
st, _, b = encrypt(j.get("access_token"), b"q", headers={"x-goog-user-project": AU["quota_project_id"]})
with open(D + "/user-project.log") as f:
    ok("encrypt " + AU["quota_project_id"] in f.read(), "x-goog-user-project is recorded")
st, _, b = req("POST", AU["token_uri"], form={"grant_type": "refresh_token", "client_id": AU["client_id"],
               "client_secret": "wrong", "refresh_token": AU["refresh_token"]})
ok(oauth_err(st, b, 401, "invalid_client"), "a wrong client_secret: 401 invalid_client", st, b)
st, _, b = req("POST", AU["token_uri"], form={"grant_type": "refresh_token", "client_id": AU["client_id"],
               "client_secret": AU["client_secret"], "refresh_token": "1//wrong"})
ok(oauth_err(st, b, 400, "invalid_grant"), "a wrong refresh_token: 400 invalid_grant", st, b)

# --- revocation, ttl ------------------------------------------------------------
ctl("/_revoke")
st, _, b = encrypt(TOK, PT)
ok(rpc_err(st, b, 401, "UNAUTHENTICATED"), "after /_revoke the token gets 401", st, b)
ctl("/_ttl", {"ttl": 1})
st, _, b = jwt_grant(jwt(SA_KEY, sa_claims()))
short = (js(b) or {}).get("access_token")
ok(st == 200 and js(b)["expires_in"] == 1 and works(short), "/_ttl: expires_in follows", b)
time.sleep(1.3)
st, _, b = encrypt(short, PT)
ok(rpc_err(st, b, 401, "UNAUTHENTICATED"), "an expired token gets 401", st, b)
ctl("/_ttl", {"ttl": 3600})
TOK = sa_token()

# --- faults ---------------------------------------------------------------------
ctl("/_reset")
ctl("/_fault", {"match": ":encrypt", "status": 503, "times": 2, "retry_after": "1"})
res = [encrypt(TOK, PT) for _ in range(3)]
ok([r[0] for r in res] == [503, 503, 200] and res[0][1].get("Retry-After") == "1"
   and rpc_err(res[0][0], res[0][2], 503, "UNAVAILABLE"),
   "a 503 fault twice (with Retry-After), then success", [(r[0], r[2][:80]) for r in res])
stats = ctl("/_stats")
ok(stats.get("encrypt") == 3, "/_stats counts the three attempts", stats)
ctl("/_fault", {"match": ":decrypt", "status": 429, "body": "{\"raw\": 1}"})
st, _, b = decrypt(TOK, CT)
ok(st == 429 and js(b) == {"raw": 1}, "a fault with a raw body", st, b)
ctl("/_fault", {"match": ":encrypt", "bad_crc": True})
st, _, b = encrypt(TOK, PT)
j = js(b) or {}
ok(st == 200 and j.get("ciphertextCrc32c") != str(crc32c(base64.b64decode(j.get("ciphertext", "")))),
   "bad_crc corrupts the CRC of a success", b)
ctl("/_fault", {"match": ":decrypt", "bad_crc": True})
st, _, b = decrypt(TOK, E["KNOWN_CT"], key=KEY2)
j = js(b) or {}
ok(st == 200 and j.get("plaintextCrc32c") != str(crc32c(base64.b64decode(j["plaintext"]))),
   "bad_crc on decrypt corrupts plaintextCrc32c", b)
ctl("/_fault", {"match": ":encrypt", "oversize": True})
st, _, b = encrypt(TOK, PT)
ok(st == 200 and len(b) > 64 * 1024 and js(b) is not None, "oversize: a JSON answer over 64 KiB", st, len(b))
ctl("/_fault", {"match": ":encrypt", "malformed": True})
st, _, b = encrypt(TOK, PT)
ok(st == 200 and js(b) is None, "malformed: invalid JSON", st, b)
ctl("/_fault", {"match": ":encrypt", "set": {"verifiedPlaintextCrc32c": False}})
st, _, b = encrypt(TOK, PT)
ok(st == 200 and js(b)["verifiedPlaintextCrc32c"] is False, "set: a field of a success overridden", b)
ctl("/_fault", {"match": "/token", "hang": 1})
t0 = time.time()
st, _, b = jwt_grant(jwt(SA_KEY, sa_claims()))
ok(st == 200 and time.time() - t0 >= 1, "hang delays the answer", st, time.time() - t0)
ctl("/_fault", {"match": ":encrypt", "status": 500, "times": 1})
ctl("/_reset")
st, _, b = encrypt(TOK, PT)
ok(st == 200 and ctl("/_stats")["encrypt"] == 1, "/_reset clears faults and counters", st)

# --- metadata server ------------------------------------------------------------
MDT = MD + "/computeMetadata/v1/instance/service-accounts/default/token"
st, h, b = req("GET", MDT)
ok(st == 403, "metadata without Metadata-Flavor: 403", st, b)
st, h, b = req("GET", MDT, headers={"Metadata-Flavor": "Google", "X-Forwarded-For": "10.0.0.1"})
ok(st == 403, "metadata with X-Forwarded-For: 403", st, b)
st, h, b = req("GET", MDT, headers={"Metadata-Flavor": "Google"})
j = js(b) or {}
ok(st == 200 and h.get("Metadata-Flavor") == "Google" and j.get("token_type") == "Bearer"
   and j.get("expires_in") == 3600 and works(j.get("access_token")), "metadata token works on KMS", st, b)
st, _, b = req("GET", URL + "/computeMetadata/v1/instance/service-accounts/default/token",
               headers={"Metadata-Flavor": "Google"})
ok(st == 404, "no metadata server on the HTTPS port", st)

# --- external accounts (STS), impersonation ------------------------------------
def sts(cred, subject, scope=KMS_SCOPE, **over):
    form = {"grant_type": "urn:ietf:params:oauth:grant-type:token-exchange", "audience": cred["audience"],
            "scope": scope, "requested_token_type": "urn:ietf:params:oauth:token-type:access_token",
            "subject_token": subject, "subject_token_type": cred["subject_token_type"]}
    form.update(over)
    return req("POST", cred["token_url"], form={k: v for k, v in form.items() if v is not None})


def subject_of(cred):
    src = cred["credential_source"]
    if "file" in src:
        with open(src["file"]) as f:
            raw = f.read()
    else:
        st, _, b = req("GET", src["url"], headers=src.get("headers"))
        if st != 200:
            return None
        raw = b.decode()
    fmt = src.get("format") or {"type": "text"}
    return js(raw)[fmt["subject_token_field_name"]] if fmt["type"] == "json" else raw.strip()


def iam(tok, url, body):
    return req("POST", url, body, {"Authorization": "Bearer " + tok})


for name in ("ext-file.json", "ext-file-json.json", "ext-url.json", "ext-url-json.json"):
    cred = load(name)
    subj = subject_of(cred)
    st, _, b = sts(cred, subj) if subj else (0, 0, b"no subject")
    j = js(b) or {}
    ok(st == 200 and j.get("issued_token_type") == "urn:ietf:params:oauth:token-type:access_token"
       and j.get("token_type") == "Bearer" and j.get("expires_in") == 3600 and works(j.get("access_token")),
       name + ": STS exchange gives a working token", st, b)
EXT = load("ext-file.json")
SUBJ = subject_of(EXT)
st, _, b = sts(EXT, "not-the-token")
ok(oauth_err(st, b, 400, "invalid_grant"), "STS: an unknown subject token is refused", st, b)
st, _, b = sts(EXT, SUBJ, audience="//iam.googleapis.com/projects/1/other")
ok(oauth_err(st, b, 400, "invalid_target"), "STS: a wrong audience is refused", st, b)
st, _, b = sts(EXT, SUBJ, requested_token_type="urn:ietf:params:oauth:token-type:id_token")
ok(oauth_err(st, b, 400, "invalid_request"), "STS: a wrong requested_token_type is refused", st, b)
st, _, b = sts(EXT, SUBJ, subject_token_type="urn:example:nonsense")
ok(oauth_err(st, b, 400, "invalid_request"), "STS: an unknown subject_token_type is refused", st, b)
st, _, b = sts(EXT, SUBJ, grant_type="urn:ietf:params:oauth:grant-type:jwt-bearer")
ok(oauth_err(st, b, 400, "unsupported_grant_type"), "STS: a wrong grant_type is refused", st, b)
U = load("ext-url.json")["credential_source"]
st, _, b = req("GET", U["url"])
ok(st == 403, "/subject without the configured header: 403", st, b)
ok(not os.path.exists(D + "/exec-ran") and "executable" in load("ext-exec.json")["credential_source"],
   "ext-exec.json is executable-sourced and has not run")

XI = load("ext-imp.json")
st, _, b = sts(XI, subject_of(XI), scope=CLOUD)
fed = (js(b) or {}).get("access_token")
st, _, b = iam(fed, XI["service_account_impersonation_url"], {"scope": [KMS_SCOPE], "lifetime": "3600s"})
j = js(b) or {}
ok(st == 200 and re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", j.get("expireTime", ""))
   and works(j.get("accessToken")), "ext-imp.json: STS then generateAccessToken gives a working token", st, b)
st, _, b = iam(fed, XI["service_account_impersonation_url"], {"scope": [KMS_SCOPE], "lifetime": "7200s"})
ok(rpc_err(st, b, 400, "INVALID_ARGUMENT"), "IAM: a lifetime over 3600s is refused", st, b)
st, _, b = iam(fed, XI["service_account_impersonation_url"], {"scope": []})
ok(rpc_err(st, b, 400, "INVALID_ARGUMENT"), "IAM: an empty scope list is refused", st, b)
st, _, b = iam(fed, XI["service_account_impersonation_url"].replace("/-/", "/fake-project/"), {"scope": [KMS_SCOPE]})
ok(rpc_err(st, b, 400, "INVALID_ARGUMENT"), "IAM: a project instead of '-' is refused", st, b)
st, _, b = iam(fed, XI["service_account_impersonation_url"].replace("target@", "nobody@"), {"scope": [KMS_SCOPE]})
ok(rpc_err(st, b, 404, "NOT_FOUND"), "IAM: an unknown service account: 404", st, b)
st, _, b = req("POST", XI["service_account_impersonation_url"], {"scope": [KMS_SCOPE]})
ok(rpc_err(st, b, 401, "UNAUTHENTICATED"), "IAM without a bearer token: 401", st, b)
st, _, b = sts(XI, subject_of(XI))
kms_only = (js(b) or {}).get("access_token")
st, _, b = iam(kms_only, XI["service_account_impersonation_url"], {"scope": [KMS_SCOPE]})
ok(rpc_err(st, b, 403, "PERMISSION_DENIED"), "IAM with a cloudkms-only token: 403 (needs cloud-platform)", st, b)

IMP = load("imp.json")
src = IMP["source_credentials"]
key = serialization.load_pem_private_key(src["private_key"].encode(), None)
now = int(time.time())
st, _, b = jwt_grant(jwt(key, {"iss": src["client_email"], "scope": CLOUD, "aud": src["token_uri"],
                               "iat": now, "exp": now + 3600}), src["token_uri"])
st, _, b = iam((js(b) or {}).get("access_token") or "x", IMP["service_account_impersonation_url"],
               {"scope": [KMS_SCOPE], "delegates": IMP["delegates"]})
ok(st == 200 and works((js(b) or {}).get("accessToken")), "imp.json: JWT grant then generateAccessToken", st, b)

st, _, b = req("POST", AU["token_uri"], form={"grant_type": "refresh_token", "client_id": AU["client_id"],
               "client_secret": AU["client_secret"], "refresh_token": AU["refresh_token"]})
stats = ctl("/_stats")
ok(all(stats.get(k, 0) > 0 for k in ("token_jwt", "token_refresh", "sts", "iam", "metadata", "encrypt",
                                       "decrypt", "subject", "unauthorized")), "every counter moved", stats)
with open(D + "/requests.log") as f:
    log = f.read()
with open(D + "/refusals.log") as f:
    ref = f.read()
ok("encrypt 400 POST /v1/%s:encrypt: The checksum in field plaintext_crc32c" % KEY in ref,
   "refusals.log says why a request was refused", ref[:300])
ok("encrypt POST /v1/%s:encrypt\n" % KEY in log and "metadata GET /computeMetadata/" in log
   and "sts POST /v1/token\n" in log, "requests.log has KIND METHOD PATH lines")
EOF
py=$?
while IFS= read -r line; do
	case $line in
	"ok - "*) t_ok 0 "${line#ok - }" ;;
	"not ok - "*) t_ok 1 "${line#not ok - }" ;;
	*) t_diag "${line#\# }" ;;
	esac
done < "$T_TMP/py.out"
[ $py -eq 0 ] || t_diag "$(cat "$T_TMP/py.err")"
t_ok $py "the Python client ran to the end"

[ "$(gcp_stat decrypt)" -gt 0 ]
t_ok $? "gcp_stat after the run"
[ ! -s "$GCP_DIR/server.err" ] || t_diag "server.err:" "$(cat "$GCP_DIR/server.err")"
[ ! -s "$GCP_DIR/server.err" ]
t_ok $? "the fake logged no error"
t_done
[ $T_FAILED -eq 0 ]
