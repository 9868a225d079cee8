#!/bin/bash
# KEK registration on wrap against the local KBS (tests/kbs/fake_kbs.py,
# TLS verified against the test's CA, admin JWTs checked as trustee does):
# the KEK the KBS stores is the one the annotation is sealed with, a random
# KEK only with registration, role/iss/aud claims, and every refusal fails
# the wrap with one line naming the status and the KBS's detail.
. "$top_srcdir/tests/lib/common.sh"
. "$top_srcdir/tests/kbs/lib.sh"

kbs_require
t_setup
kbs_setup "" ||
	{ echo "1..1"; echo "not ok 1 - fake KBS: $(cat "$KBS_DIR/server.err" 2>/dev/null)"; exit 1; }
unset OFFLINE_FS_KBC_EXTRA_FILE_PATH
OPTS='{"symkey":"c2VjcmV0","cipheroptions":{}}'
dropin() { kbs_dropin "$C" "kbs.offline_files = $T_TMP/none.json" "$@"; }
dropin_r() { dropin "kbs.allow_replace = yes" "$@"; }
stored() { kbs_ctl "/_resource/$1" 2> /dev/null; }
posts() { kbs_stat resource_post; }
# Python opens the annotation (base64) with the KEK the KBS stores for PATH.
opens_with_stored() {	# opens_with_stored ANN-B64 PATH
	printf '%s' "$1" | base64 -d | python3 -c '
import base64, json, sys
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
a = json.load(sys.stdin)
kek = base64.b64decode(sys.argv[1])
out = AESGCM(kek).decrypt(base64.b64decode(a["iv"]), base64.b64decode(a["wrapped_data"]), None)
assert out.decode() == sys.argv[2]' "$(stored "$2")" "$OPTS"
}
K=$T_TMP/k.bin
head -c 32 /dev/urandom > "$K"; chmod 600 "$K"
dropin

# --- registration -----------------------------------------------------------------
ANN=$(t_wrap "$OPTS" "keypath=$K::keyid=kbs:///default/reg/1")
t_ok $? "wrap registers the KEK file's KEK"
[ "$(stored default/reg/1)" = "$(base64 -w0 < "$K")" ]
t_ok $? "the KBS stores exactly the key file's 32 bytes"
grep -q "resource_post POST /kbs/v0/resource/default/reg/1" "$KBS_DIR/requests.log"
t_ok $? "POST /kbs/v0/resource/<repo>/<type>/<tag>"

dropin "kbs.sources = kbs"
[ "$(t_unwrap "$ANN")" = "$OPTS" ]
t_ok $? "the registered KEK opens the image over the RCAR handshake (sources = kbs)"
dropin
ANN=$(t_wrap "$OPTS" "kbs:///default/reg/2")
t_ok $? "wrap without keypath: a random KEK, registered"
opens_with_stored "$ANN" default/reg/2
t_ok $? "the annotation opens with the KEK the KBS stored"
ANN=$(t_wrap "$OPTS" "algorithm=A256GCM")
KID=$(printf '%s' "$ANN" | base64 -d | t_json_field kid)
opens_with_stored "$ANN" "${KID#kbs:///}"
t_ok $? "no keyid, no keypath: registered under default/image-kek/<uuid4>"
ANN=$(t_wrap "$OPTS" "keypath=$K::keyid=kbs://127.0.0.1:1/default/reg/3")
[ "$(stored default/reg/3)" = "$(base64 -w0 < "$K")" ]
t_ok $? "a kid naming another address is still registered at kbs.url, by its path"
N=$(posts)
ANN=$(t_wrap "$OPTS" "sample=true")
[ -n "$ANN" ] && [ "$(posts)" = "$N" ]
t_ok $? "sample=true is never registered (the sample KEK is public)"

# --- never replacing a KEK older images need ----------------------------------------
# The KBS holds default/image-kek/1 (kek1.bin): the image sealed with it must
# still open after any later wrap naming the same kid.
OLD=$(kbs_ctl /_resource/default/image-kek/1)
N=$(posts)
t_expect_fail "keyid naming a resource the KBS holds, random KEK: exit 3, nothing posted" 3 \
	"the KBS already holds default/image-kek/1: registering would replace the KEK older images need" \
	"$(t_wrap_request ocikp "$OPTS" "keyid=kbs:///default/image-kek/1")"
t_expect_fail "... and with a key file: exit 3" 3 "the KBS already holds default/image-kek/1" \
	"$(t_wrap_request ocikp "$OPTS" "keypath=$K::keyid=kbs:///default/image-kek/1")"
t_expect_fail "... and as a kbs+resource:// key URL: exit 3" 3 "already holds default/image-kek/1" \
	"$(t_wrap_request ocikp "$OPTS" "kbs+resource:///default/image-kek/1")"
[ "$(stored default/image-kek/1)" = "$OLD" ] && [ "$(posts)" = "$N" ] &&
	grep -q "other GET /kbs/v0/resource$" "$KBS_DIR/requests.log"
t_ok $? "... the stored KEK unchanged, no POST; the KBS's resource list was asked"
FIRST=$(t_wrap "$OPTS" "keyid=kbs:///default/once/1")
t_ok $? "keyid not in the KBS's list: a random KEK registered"
t_expect_fail "the same keyid again: exit 3" 3 "already holds default/once/1" \
	"$(t_wrap_request ocikp "$OPTS" "keyid=kbs:///default/once/1")"
opens_with_stored "$FIRST" default/once/1
t_ok $? "... and the first image still opens with what the KBS stores"
kbs_ctl /_config '{"list": "strings"}' > /dev/null
t_expect_fail "a list of strings: exit 3" 3 "already holds default/image-kek/1" \
	"$(t_wrap_request ocikp "$OPTS" "keyid=kbs:///default/image-kek/1")"
kbs_ctl /_config '{"list": "none"}' > /dev/null
N=$(posts)
t_expect_fail "a KBS without the list (older trustee): a caller-named kid refused, exit 3" 3 \
	"default/reg/9 may replace a KEK older images need, and the KBS does not list its resources \\(HTTP 401: Token Verifier error\\): refused" \
	"$(t_wrap_request ocikp "$OPTS" "keypath=$K::keyid=kbs:///default/reg/9")"
[ -z "$(stored default/reg/9)" ] && [ "$(posts)" = "$N" ]
t_ok $? "... nothing posted"
ANN=$(t_wrap "$OPTS" "algorithm=A256GCM")
KID=$(printf '%s' "$ANN" | base64 -d | t_json_field kid)
opens_with_stored "$ANN" "${KID#kbs:///}"
t_ok $? "... a kid ocikp makes up (a uuid4) is registered all the same"
kbs_ctl /_config '{"list": "objects"}' > /dev/null
# a 200 over lib/http's body limit (64 KiB): the list cannot tell
N=$(posts)
python3 -c 'import json; print(json.dumps({"match": "GET /kbs/v0/resource", "status": 200,
    "body": json.dumps(["default/x/%05d" % i for i in range(5000)])}))' > "$T_TMP/long.json"
kbs_ctl /_fault "$(cat "$T_TMP/long.json")" > /dev/null
t_expect_fail "a list too long to read: refused, exit 3" 3 \
	"does not list its resources \\(HTTP 200: not a list ocikp can read\\)" \
	"$(t_wrap_request ocikp "$OPTS" "keypath=$K::keyid=kbs:///default/reg/9")"
kbs_ctl /_fault '{"match": "GET /kbs/v0/resource", "status": 500}' > /dev/null
t_expect_fail "the list answers 500: exit 5" 5 "GET .*/kbs/v0/resource: HTTP 500" \
	"$(t_wrap_request ocikp "$OPTS" "keypath=$K::keyid=kbs:///default/reg/9")"
[ -z "$(stored default/reg/9)" ] && [ "$(posts)" = "$N" ]
t_ok $? "... nothing posted"
dropin "kbs.allow_replace = maybe"
t_expect_fail "kbs.allow_replace = maybe: exit 6" 6 "allow_replace must be yes or no" \
	"$(t_wrap_request ocikp "$OPTS" "keypath=$K::keyid=kbs:///default/reg/9")"
dropin "kbs.allow_replace = yes"
opens_with_stored "$FIRST" default/once/1 &&
	ANN=$(t_wrap "$OPTS" "keyid=kbs:///default/once/1") && opens_with_stored "$ANN" default/once/1 &&
	! opens_with_stored "$FIRST" default/once/1 2> /dev/null
t_ok $? "kbs.allow_replace = yes: replaced, and the older image no longer opens (the consequence)"
kbs_ctl /_config '{"list": "objects"}' > /dev/null
N=$(posts)
t_wrap "$OPTS" "keypath=$K::keyid=kbs:///default/image-kek/1" > /dev/null &&
	[ "$(stored default/image-kek/1)" = "$(base64 -w0 < "$K")" ] && [ "$(posts)" = $((N + 1)) ]
t_ok $? "kbs.allow_replace = yes: a listed resource is replaced too"
dropin

# --- the admin token's claims -------------------------------------------------------
# (kbs.allow_replace: only the POST, no resource list first)
dropin_r
kbs_ctl /_config '{"require_role": "image-builder"}' > /dev/null
t_expect_fail "a KBS requiring a role, none configured: exit 6, status and detail" 6 \
	"HTTP 401: KEK registration refused: .*Missing required .role. claim" \
	"$(t_wrap_request ocikp "$OPTS" "keypath=$K::keyid=kbs:///default/reg/4")"
[ -z "$(stored default/reg/4)" ]
t_ok $? "... and nothing is stored"
dropin_r "kbs.admin_role = image-builder"
t_wrap "$OPTS" "keypath=$K::keyid=kbs:///default/reg/4" > /dev/null
t_ok $? "kbs.admin_role sends the role claim"
dropin "kbs.admin_role = image-builder"
t_expect_fail "an admin ACL allowing the POST but not the list: a caller-named kid refused, exit 3" 3 \
	"does not list its resources \\(HTTP 401: .*Role image-builder not allowed for path /kbs/v0/resource\\)" \
	"$(t_wrap_request ocikp "$OPTS" "keypath=$K::keyid=kbs:///default/reg/10")"
dropin_r "kbs.admin_role = intruder"
t_expect_fail "a role the KBS refuses: exit 6" 6 "HTTP 401: .*Role intruder not allowed" \
	"$(t_wrap_request ocikp "$OPTS" "keypath=$K::keyid=kbs:///default/reg/5")"
kbs_ctl /_config '{"require_role": null, "iss": "ocikp-tests", "aud": "kbs-admin"}' > /dev/null
dropin_r
t_expect_fail "a KBS requiring iss/aud, none sent: exit 6" 6 "HTTP 401" \
	"$(t_wrap_request ocikp "$OPTS" "keypath=$K::keyid=kbs:///default/reg/5")"
dropin_r "kbs.admin_iss = ocikp-tests" "kbs.admin_aud = kbs-admin"
t_wrap "$OPTS" "keypath=$K::keyid=kbs:///default/reg/5" > /dev/null
t_ok $? "kbs.admin_iss and kbs.admin_aud"
kbs_ctl /_config '{"iss": null, "aud": null, "admin_mode": "deny_all"}' > /dev/null
t_expect_fail "a KBS denying all admin requests: exit 6" 6 "HTTP 401: .*DenyAll" \
	"$(t_wrap_request ocikp "$OPTS" "keypath=$K::keyid=kbs:///default/reg/6")"
kbs_ctl /_config '{"admin_mode": "jwt"}' > /dev/null

# --- other refusals -------------------------------------------------------------------
dropin_r
kbs_ctl /_fault '{"match": "POST /kbs/v0/resource/default/reg/7", "status": 404}' > /dev/null
t_expect_fail "404: exit 3" 3 "HTTP 404: KEK registration refused: injected fault 404" \
	"$(t_wrap_request ocikp "$OPTS" "keypath=$K::keyid=kbs:///default/reg/7")"
kbs_ctl /_fault '{"match": "POST /kbs/v0/resource/default/reg/7", "status": 403, "body": "no JSON"}' > /dev/null
t_expect_fail "403 without a JSON body: exit 6" 6 "HTTP 403: KEK registration refused$" \
	"$(t_wrap_request ocikp "$OPTS" "keypath=$K::keyid=kbs:///default/reg/7")"
kbs_ctl /_fault '{"match": "POST /kbs/v0/resource/default/reg/7", "status": 500}' > /dev/null
t_expect_fail "500: exit 5, with the detail" 5 "HTTP 500: KEK registration refused: injected fault 500" \
	"$(t_wrap_request ocikp "$OPTS" "keypath=$K::keyid=kbs:///default/reg/7")"
kbs_ctl /_fault '{"match": "POST /kbs/v0/resource/default/reg/7", "status": 301, "body": ""}' > /dev/null
t_expect_fail "a redirect: exit 6" 6 "301|redirect" \
	"$(t_wrap_request ocikp "$OPTS" "keypath=$K::keyid=kbs:///default/reg/7")"
kbs_dropin "$C" "kbs.allow_replace = yes" "kbs.url = http://127.0.0.1:$KBS_HTTP"
t_expect_fail "plain http kbs.url: exit 6" 6 "must be https://" \
	"$(t_wrap_request ocikp "$OPTS" "keypath=$K::keyid=kbs:///default/reg/8")"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=other CA" \
	-keyout "$T_TMP/other-ca.key" -out "$T_TMP/other-ca.pem" 2> /dev/null
kbs_dropin "$C" "kbs.allow_replace = yes" "kbs.ca_file = $T_TMP/other-ca.pem"
t_expect_fail "a CA that does not verify the KBS: exit 6" 6 "certificate" \
	"$(t_wrap_request ocikp "$OPTS" "keypath=$K::keyid=kbs:///default/reg/8")"
openssl genpkey -algorithm rsa -pkeyopt rsa_keygen_bits:2048 -out "$T_TMP/rsa.pem" 2> /dev/null
chmod 600 "$T_TMP/rsa.pem"
dropin_r "kbs.admin_key = $T_TMP/rsa.pem"
t_expect_fail "an RSA admin key: exit 6" 6 "rsa.pem: must be an Ed25519 private key" \
	"$(t_wrap_request ocikp "$OPTS" "keypath=$K::keyid=kbs:///default/reg/8")"
cp "$KBS_DIR/admin.pem" "$T_TMP/open.pem"; chmod 640 "$T_TMP/open.pem"
dropin_r "kbs.admin_key = $T_TMP/open.pem"
t_expect_fail "a group-readable admin key: exit 6" 6 "open.pem: accessible by group or others" \
	"$(t_wrap_request ocikp "$OPTS" "keypath=$K::keyid=kbs:///default/reg/8")"
printf 'not a key\n' > "$T_TMP/junk.pem"; chmod 600 "$T_TMP/junk.pem"
dropin_r "kbs.admin_key = $T_TMP/junk.pem"
t_expect_fail "an admin key that is no PEM key: exit 6" 6 "not an unencrypted PEM private key" \
	"$(t_wrap_request ocikp "$OPTS" "keypath=$K::keyid=kbs:///default/reg/8")"
printf 'backend = kbs\nmodule = ocikp-kbs.so\nschemes = kbs kbs+*\nkbs.admin_key = %s\n' \
	"$KBS_DIR/admin.pem" > "$C/50-kbs.conf"
t_expect_fail "admin_key without url: exit 6" 6 "admin_key is set but kbs.url is not" \
	"$(t_wrap_request ocikp "$OPTS" "keypath=$K::keyid=kbs:///default/reg/8")"
[ -z "$(stored default/reg/7)" ] && [ -z "$(stored default/reg/8)" ]
t_ok $? "no refused KEK was stored"

t_done
