#!/usr/bin/env python3
"""JWE test vectors for plugins/kbs/kbs-jwe.c, made with `cryptography`.

    jwe_vectors.py JWK_FILE      JSON {"cases": [{"name", "jwe", "plain", "want"}]}
                                  for the TEE public key in JWK_FILE
    jwe_vectors.py --seeds EC_PEM RSA_PEM DIR
                                  seed files for fuzz/kbs_jwe.c: one selector
                                  byte (0 EC, 1 RSA), then a JWE

The JWEs are built as trustee's kbs/src/jwe/mod.rs builds them: flattened
JSON, every member base64url without padding, the protected header compact
JSON with the epk members sorted, AAD the ASCII of "protected", content
A256GCM with a 12-byte IV.  "plain" is hex, "want" one of ok, wrong (a JWE
for another key, or altered) and unavailable (malformed).
"""
import json
import os
import sys

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

# The JWE primitives are tests/jwe/jwe_vectors.py's (lib/jwe.c's test), one
# copy for both: its directory first, or this file would import itself.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "jwe"))
from jwe_vectors import b64u, compact_json, ecdh_jwe, flip, reheader, rsa_jwe, setm, unb64u  # noqa: E402

ALG_ECDH = "ECDH-ES+A256KW"
ALG_RSA = "RSA-OAEP-256"


def coord(n, size=32):
    return b64u(n.to_bytes(size, "big"))


def ec_cases(pub):
    key32 = os.urandom(32)
    other = ec.generate_private_key(ec.SECP256R1()).public_key()
    p384 = ec.generate_private_key(ec.SECP384R1()).public_key()
    ok, wrong, bad = "ok", "wrong", "unavailable"
    off_curve = {"crv": "P-256", "kty": "EC", "x": coord(1), "y": coord(1)}
    return [
        ("a 32-byte KEK", ecdh_jwe(pub, key32), key32, ok),
        ("an empty payload", ecdh_jwe(pub, b""), b"", ok),
        ("a 1000-byte payload", ecdh_jwe(pub, b"k" * 1000), b"k" * 1000, ok),
        ("apu and apv in the KDF", ecdh_jwe(pub, key32, apu=b"Alice", apv=b"Bob"), key32, ok),
        ("a JWE for another P-256 key", ecdh_jwe(other, key32), None, wrong),
        ("a JWE for a P-384 key", ecdh_jwe(p384, key32), None, wrong),
        ("alg RSA-OAEP-256 for an EC key", ecdh_jwe(pub, key32, alg=ALG_RSA), None, wrong),
        ("alg ECDH-ES (direct)", ecdh_jwe(pub, key32, alg="ECDH-ES"), None, wrong),
        ("ciphertext altered", ecdh_jwe(pub, key32, mutate=flip("ciphertext")), None, wrong),
        ("tag altered", ecdh_jwe(pub, key32, mutate=flip("tag", 15)), None, wrong),
        ("encrypted_key altered", ecdh_jwe(pub, key32, mutate=flip("encrypted_key", 39)),
         None, wrong),
        ("iv altered", ecdh_jwe(pub, key32, mutate=flip("iv")), None, wrong),
        ("protected header altered (kid added)",
         ecdh_jwe(pub, key32, mutate=reheader(lambda h: h.update(kid="x"))), None, wrong),
        ("enc A128GCM", ecdh_jwe(pub, key32, enc="A128GCM"), None, bad),
        ("epk not on the curve", ecdh_jwe(pub, key32, epk=off_curve), None, bad),
        ("epk x of 31 bytes", ecdh_jwe(pub, key32, epk=dict(off_curve, x=b64u(b"\1" * 31))),
         None, bad),
        ("no epk", ecdh_jwe(pub, key32, mutate=reheader(lambda h: h.pop("epk"))), None, bad),
        ("crit in the header", ecdh_jwe(pub, key32, extra={"crit": ["exp"], "exp": 1}),
         None, bad),
        ("zip in the header", ecdh_jwe(pub, key32, extra={"zip": "DEF"}), None, bad),
        ("encrypted_key of 32 bytes",
         ecdh_jwe(pub, key32, mutate=setm("encrypted_key", b64u(bytes(32)))), None, bad),
        ("a 16-byte iv", ecdh_jwe(pub, key32, mutate=setm("iv", b64u(bytes(16)))), None, bad),
        ("a 12-byte tag", ecdh_jwe(pub, key32, mutate=setm("tag", b64u(bytes(12)))), None, bad),
        ("no tag", ecdh_jwe(pub, key32, mutate=setm("tag", None)), None, bad),
        ("no protected", ecdh_jwe(pub, key32, mutate=setm("protected", None)), None, bad),
        ("padded base64", ecdh_jwe(pub, key32, mutate=setm("iv", b64u(bytes(12)) + "==")),
         None, bad),
        ("iv not a string", ecdh_jwe(pub, key32, mutate=setm("iv", 12)), None, bad),
        ("an \"aad\" member", ecdh_jwe(pub, key32, mutate=setm("aad", "eA")), None, bad),
        ("protected header not JSON", ecdh_jwe(pub, key32, mutate=setm("protected", b64u(b"{"))),
         None, bad),
        ("protected header an array",
         ecdh_jwe(pub, key32, mutate=setm("protected", b64u(b"[]"))), None, bad),
        ("not JSON", "nonsense", None, bad),
        ("a JSON array", [], None, bad),
    ]


def rsa_cases(pub):
    key32 = os.urandom(32)
    other = rsa.generate_private_key(65537, 2048).public_key()
    ec_pub = ec.generate_private_key(ec.SECP256R1()).public_key()
    ok, wrong, bad = "ok", "wrong", "unavailable"
    return [
        ("a 32-byte KEK", rsa_jwe(pub, key32), key32, ok),
        ("a 1000-byte payload", rsa_jwe(pub, b"k" * 1000), b"k" * 1000, ok),
        ("a JWE for another RSA key", rsa_jwe(other, key32), None, wrong),
        ("RSA-OAEP with SHA-1 labelled RSA-OAEP-256", rsa_jwe(pub, key32, h=hashes.SHA1), None, wrong),
        ("alg RSA-OAEP (SHA-1)", rsa_jwe(pub, key32, alg="RSA-OAEP", h=hashes.SHA1), None, wrong),
        ("alg RSA1_5", rsa_jwe(pub, key32, alg="RSA1_5"), None, wrong),
        ("alg ECDH-ES+A256KW for an RSA key", ecdh_jwe(ec_pub, key32), None, wrong),
        ("encrypted_key altered", rsa_jwe(pub, key32, mutate=flip("encrypted_key", 100)),
         None, wrong),
        ("ciphertext altered", rsa_jwe(pub, key32, mutate=flip("ciphertext", 31)), None, wrong),
        ("encrypted_key of 255 bytes (for a key of another size)",
         rsa_jwe(pub, key32, mutate=setm("encrypted_key", b64u(bytes(255)))), None, wrong),
        ("no encrypted_key", rsa_jwe(pub, key32, mutate=setm("encrypted_key", "")), None, bad),
    ]


def load_jwk(path):
    with open(path) as f:
        jwk = json.load(f)
    if jwk["kty"] == "EC":
        nums = ec.EllipticCurvePublicNumbers(int.from_bytes(unb64u(jwk["x"]), "big"),
                                             int.from_bytes(unb64u(jwk["y"]), "big"),
                                             ec.SECP256R1())
        return jwk, nums.public_key()
    nums = rsa.RSAPublicNumbers(int.from_bytes(unb64u(jwk["e"]), "big"),
                                int.from_bytes(unb64u(jwk["n"]), "big"))
    return jwk, nums.public_key()


def vectors(jwk_path):
    jwk, pub = load_jwk(jwk_path)
    cases = ec_cases(pub) if jwk["kty"] == "EC" else rsa_cases(pub)
    out = [{"name": n, "jwe": j if isinstance(j, str) else compact_json(j),
            "plain": p.hex() if p is not None else None, "want": w} for n, j, p, w in cases]
    print(compact_json({"cases": out}))


def seeds(ec_pem, rsa_pem, outdir):
    os.makedirs(outdir, exist_ok=True)
    for sel, pem in ((0, ec_pem), (1, rsa_pem)):
        with open(pem, "rb") as f:
            pub = serialization.load_pem_private_key(f.read(), None).public_key()
        cases = ec_cases(pub) if sel == 0 else rsa_cases(pub)
        for i, (_, j, _, _) in enumerate(cases):
            text = j if isinstance(j, str) else compact_json(j)
            with open(os.path.join(outdir, "%s-%02d" % ("ec" if sel == 0 else "rsa", i)),
                      "wb") as f:
                f.write(bytes([sel]) + text.encode())


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--seeds":
        seeds(*sys.argv[2:])
    elif len(sys.argv) == 2:
        vectors(sys.argv[1])
    else:
        sys.exit(__doc__)
