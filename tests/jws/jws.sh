#!/bin/bash
# lib/jws.c: RS256 (PKCS#8 and PKCS#1 keys) and EdDSA tokens verified by
# Python's cryptography; other keys and encrypted or broken PEM refused.
. "$top_srcdir/tests/lib/common.sh"

for tool in openssl python3; do
	command -v $tool > /dev/null || { echo "1..0 # SKIP $tool not found"; exit 0; }
done
python3 -c 'import cryptography' 2> /dev/null || { echo "1..0 # SKIP python3 cryptography not found"; exit 0; }
J="$abs_top_builddir/tests/jws/test-jws"
key() {	# key NAME OPENSSL-ARGS...
	local f="$T_TMP/$1.pem"
	shift
	openssl "$@" -out "$f" 2> /dev/null && chmod 600 "$f"
}
key ed genpkey -algorithm ed25519
key rsa genpkey -algorithm rsa -pkeyopt rsa_keygen_bits:2048
openssl pkey -in "$T_TMP/rsa.pem" -traditional -out "$T_TMP/rsa1.pem" 2> /dev/null; chmod 600 "$T_TMP/rsa1.pem"
key ec genpkey -algorithm ec -pkeyopt ec_paramgen_curve:P-256
openssl genpkey -algorithm ed25519 -aes256 -pass pass:secret -out "$T_TMP/enc.pem" 2> /dev/null
chmod 600 "$T_TMP/enc.pem"

verify() {	# verify KEY.pem ALG KID < token
	python3 -c '
import base64, json, sys
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
d = lambda s: base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))
tok = sys.stdin.read().strip()
h, c, s = tok.split(".")
assert "=" not in tok and "+" not in tok and "/" not in tok, "not unpadded base64url"
hdr = json.loads(d(h))
want = {"alg": sys.argv[2], "typ": "JWT"}
if sys.argv[3]: want["kid"] = sys.argv[3]
assert hdr == want, hdr
assert json.loads(d(c)) == {"iss": "me", "exp": 99}, d(c)
pub = serialization.load_pem_private_key(open(sys.argv[1], "rb").read(), None).public_key()
if sys.argv[2] == "RS256":
    pub.verify(d(s), (h + "." + c).encode(), padding.PKCS1v15(), hashes.SHA256())
else:
    pub.verify(d(s), (h + "." + c).encode())' "$1" "$2" "${3:-}"
}
CLAIMS='{"iss":"me","exp":99}'
"$J" "$T_TMP/ed.pem" "$CLAIMS" | verify "$T_TMP/ed.pem" EdDSA
t_ok $? "EdDSA (Ed25519, PKCS#8) verifies"
"$J" "$T_TMP/rsa.pem" "$CLAIMS" key-1 | verify "$T_TMP/rsa.pem" RS256 key-1
t_ok $? "RS256 (PKCS#8) with a kid verifies"
"$J" "$T_TMP/rsa1.pem" "$CLAIMS" | verify "$T_TMP/rsa1.pem" RS256
t_ok $? "RS256 (PKCS#1 key) verifies"
for k in ec enc; do
	out=$("$J" "$T_TMP/$k.pem" "$CLAIMS" 2> "$T_TMP/err" < /dev/null)
	rc=$?
	[ $rc -eq 6 ] && [ -z "$out" ] && [ "$(wc -l < "$T_TMP/err")" -eq 1 ]
	t_ok $? "$k key refused: $(cat "$T_TMP/err")"
done
t_done
