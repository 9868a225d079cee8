#!/usr/bin/env python3
"""An independent JWE for lib/jwe.c's test, on `cryptography` primitives.

    jwe_vectors.py KEY_PEM SEALED_JSON
        KEY_PEM      a PKCS#8 private key (RSA, or EC on P-256 or P-384)
        SEALED_JSON  {"sealed": [{"form": "compact"|"flattened", "jwe": TEXT}]},
                     JWEs lib/jwe.c sealed to that key
    prints {"opened": [hex or null, ...], "cases": [{"name", "form", "jwe",
    "plain", "want"}]}: each sealed JWE opened here (RFC 7516/7518 by hand:
    OAEP, ECDH + Concat KDF + RFC 3394, AES-GCM with the protected header as
    AAD), and JWEs made here for lib/jwe.c to open, "want" one of ok, wrong
    (for another key, or altered: OCIKP_WRONG_KEY) and bad (malformed:
    OCIKP_BAD_INPUT); "other_alg" cases are wrong under
    JWE_OTHER_ALG_WRONG_KEY.
    jwe_vectors.py --seeds EC_PEM RSA_PEM DIR
        seed files for fuzz/jwe.c: one selector byte (bit 0: 0 EC, 1 RSA;
        bit 1: 0 compact, 1 flattened), then a JWE
"""
import base64
import json
import os
import sys

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.concatkdf import ConcatKDFHash
from cryptography.hazmat.primitives.keywrap import aes_key_unwrap, aes_key_wrap

ECDH = "ECDH-ES+A256KW"
HASHES = {"RSA-OAEP-256": hashes.SHA256, "RSA-OAEP": hashes.SHA1}
CURVES = {"P-256": (ec.SECP256R1, 32), "P-384": (ec.SECP384R1, 48)}


def b64u(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def unb64u(s):
    if "=" in s:
        raise ValueError("padded")
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def compact_json(obj):
    return json.dumps(obj, separators=(",", ":"))


def lp(b):
    return len(b).to_bytes(4, "big") + b


def concat_kdf(z, apu=b"", apv=b""):
    info = lp(ECDH.encode()) + lp(apu) + lp(apv) + (256).to_bytes(4, "big")
    return ConcatKDFHash(hashes.SHA256(), 32, info).derive(z)


def oaep(h):
    return padding.OAEP(mgf=padding.MGF1(h()), algorithm=h(), label=None)


def crv_of(key):
    return {256: "P-256", 384: "P-384"}[key.curve.key_size]


# ---- opening what lib/jwe.c sealed --------------------------------------------

def parts_of(form, text):
    if form == "compact":
        p = text.split(".")
        assert len(p) == 5
        return dict(zip(("protected", "encrypted_key", "iv", "ciphertext", "tag"), p))
    return json.loads(text)


def open_jwe(priv, form, text):
    p = parts_of(form, text)
    hdr = json.loads(unb64u(p["protected"]))
    assert hdr["enc"] == "A256GCM"
    ek = unb64u(p["encrypted_key"])
    if hdr["alg"] in HASHES:
        cek = priv.decrypt(ek, oaep(HASHES[hdr["alg"]]))
    else:
        assert hdr["alg"] == ECDH and sorted(hdr) == ["alg", "enc", "epk"]
        epk = hdr["epk"]
        curve, size = CURVES[epk["crv"]]
        x, y = unb64u(epk["x"]), unb64u(epk["y"])
        assert epk["kty"] == "EC" and len(x) == size and len(y) == size
        peer = ec.EllipticCurvePublicNumbers(int.from_bytes(x, "big"), int.from_bytes(y, "big"),
                                             curve()).public_key()
        cek = aes_key_unwrap(concat_kdf(priv.exchange(ec.ECDH(), peer)), ek)
    iv = unb64u(p["iv"])
    assert len(iv) == 12
    return AESGCM(cek).decrypt(iv, unb64u(p["ciphertext"]) + unb64u(p["tag"]),
                               p["protected"].encode())


def try_open(priv, form, text):
    try:
        return open_jwe(priv, form, text).hex()
    except Exception as e:  # noqa: BLE001 - reported as null, the test fails
        sys.stderr.write("jwe_vectors.py: %s JWE does not open: %r\n" % (form, e))
        return None


# ---- JWEs for lib/jwe.c to open ------------------------------------------------

def seal(header, ek, plain, cek, mutate=None):
    protected = b64u(compact_json(header).encode())
    iv = os.urandom(12)
    sealed = AESGCM(cek).encrypt(iv, plain, protected.encode())
    parts = {"protected": protected, "encrypted_key": b64u(ek), "iv": b64u(iv),
             "ciphertext": b64u(sealed[:-16]), "tag": b64u(sealed[-16:])}
    if mutate:
        mutate(parts)
    return parts


def ecdh_jwe(pub, plain, alg=ECDH, enc="A256GCM", apu=None, apv=None, epk=None, extra=None,
             mutate=None):
    eph = ec.generate_private_key(pub.curve)
    size = CURVES[crv_of(pub)][1]
    cek = os.urandom(32)
    kek = concat_kdf(eph.exchange(ec.ECDH(), pub), apu or b"", apv or b"")
    nums = eph.public_key().public_numbers()
    header = {"alg": alg, "enc": enc,
              "epk": epk or {"crv": crv_of(pub), "kty": "EC",
                             "x": b64u(nums.x.to_bytes(size, "big")),
                             "y": b64u(nums.y.to_bytes(size, "big"))}}
    if apu is not None:
        header["apu"] = b64u(apu)
    if apv is not None:
        header["apv"] = b64u(apv)
    header.update(extra or {})
    return seal(header, aes_key_wrap(kek, cek), plain, cek, mutate=mutate)


def rsa_jwe(pub, plain, alg="RSA-OAEP-256", h=None, enc="A256GCM", extra=None, mutate=None):
    cek = os.urandom(32)
    ek = pub.encrypt(cek, oaep(h or HASHES.get(alg, hashes.SHA256)))
    header = {"alg": alg, "enc": enc}
    header.update(extra or {})
    return seal(header, ek, plain, cek, mutate=mutate)


def flip(member, at=0):
    def f(parts):
        b = bytearray(unb64u(parts[member]))
        b[at] ^= 1
        parts[member] = b64u(bytes(b))
    return f


def setm(member, value):
    """Set a member after sealing; None removes it."""
    def f(parts):
        if value is None:
            del parts[member]
        else:
            parts[member] = value
    return f


def reheader(change):
    def f(parts):
        h = json.loads(unb64u(parts["protected"]))
        change(h)
        parts["protected"] = b64u(compact_json(h).encode())
    return f


def compact(parts):
    return ".".join(parts[m] for m in ("protected", "encrypted_key", "iv", "ciphertext", "tag"))


OPTS = os.urandom(193)  # OCIcrypt's optsdata is about this size


def common_cases(mk):
    """Cases on the serialization, the same for both kinds of key; mk(**kw)
    makes a good JWE's parts for this key."""
    good = mk()
    return [
        ("compact: 4 parts", ".".join(compact(good).split(".")[:4]), None, "bad"),
        ("compact: 6 parts", compact(good) + ".", None, "bad"),
        ("compact: padded base64 iv", compact(mk(mutate=setm("iv", b64u(bytes(12)) + "=="))),
         None, "bad"),
        ("compact: a '+' in the ciphertext (not base64url)",
         compact(mk(mutate=setm("ciphertext", "ab+d"))), None, "bad"),
        ("compact: empty protected header", compact(mk(mutate=setm("protected", ""))), None,
         "bad"),
        ("compact: protected header not JSON", compact(mk(mutate=setm("protected", b64u(b"{")))),
         None, "bad"),
        ("compact: protected header an array",
         compact(mk(mutate=setm("protected", b64u(b"[]")))), None, "bad"),
        ("compact: a 16-byte iv", compact(mk(mutate=setm("iv", b64u(bytes(16))))), None, "bad"),
        ("compact: an 8-byte tag", compact(mk(mutate=setm("tag", b64u(bytes(8))))), None, "bad"),
        ("compact: enc A128GCM", compact(mk(enc="A128GCM")), None, "bad"),
        ("compact: crit", compact(mk(extra={"crit": ["exp"], "exp": 1})), None, "bad"),
        ("compact: zip", compact(mk(extra={"zip": "DEF"})), None, "bad"),
        ("compact: alg RSA1_5", compact(mk(mutate=reheader(lambda h: h.update(alg="RSA1_5")))),
         None, "other_alg"),
        ("compact: alg dir", compact(mk(mutate=reheader(lambda h: h.update(alg="dir")))),
         None, "other_alg"),
        ("compact: protected header altered (kid added)",
         compact(mk(mutate=reheader(lambda h: h.update(kid="x")))), None, "wrong"),
        ("compact: ciphertext altered", compact(mk(mutate=flip("ciphertext", 5))), None, "wrong"),
        ("compact: tag altered", compact(mk(mutate=flip("tag", 15))), None, "wrong"),
        ("compact: iv altered", compact(mk(mutate=flip("iv"))), None, "wrong"),
        ("not a JWE", "nonsense", None, "bad"),
        ("empty", "", None, "bad"),
    ]


def rsa_cases(pub):
    other = rsa.generate_private_key(65537, 2048).public_key()
    ec_pub = ec.generate_private_key(ec.SECP256R1()).public_key()
    size = pub.key_size // 8
    mk = lambda **kw: rsa_jwe(pub, OPTS, **kw)  # noqa: E731
    return common_cases(mk) + [
        ("compact: RSA-OAEP-256 of optsdata", compact(rsa_jwe(pub, OPTS)), OPTS, "ok"),
        ("compact: RSA-OAEP (SHA-1)", compact(rsa_jwe(pub, OPTS, alg="RSA-OAEP")), OPTS, "ok"),
        ("compact: an empty payload", compact(rsa_jwe(pub, b"")), b"", "ok"),
        ("compact: a 4000-byte payload", compact(rsa_jwe(pub, b"p" * 4000)), b"p" * 4000, "ok"),
        ("compact: a header member we ignore (kid)",
         compact(rsa_jwe(pub, OPTS, extra={"kid": "k1"})), OPTS, "ok"),
        ("flattened: RSA-OAEP-256", rsa_jwe(pub, OPTS), OPTS, "ok"),
        ("compact: for another RSA key", compact(rsa_jwe(other, OPTS)), None, "wrong"),
        ("compact: SHA-1 OAEP labelled RSA-OAEP-256",
         compact(rsa_jwe(pub, OPTS, h=hashes.SHA1)), None, "wrong"),
        ("compact: SHA-256 OAEP labelled RSA-OAEP",
         compact(rsa_jwe(pub, OPTS, alg="RSA-OAEP", h=hashes.SHA256)), None, "wrong"),
        ("compact: ECDH-ES+A256KW for an RSA key", compact(ecdh_jwe(ec_pub, OPTS)), None,
         "wrong"),
        ("compact: encrypted_key altered",
         compact(rsa_jwe(pub, OPTS, mutate=flip("encrypted_key", size // 2))), None, "wrong"),
        ("compact: encrypted_key one byte short (another size of key)",
         compact(rsa_jwe(pub, OPTS, mutate=setm("encrypted_key", b64u(bytes(size - 1))))),
         None, "wrong"),
        ("compact: no encrypted_key",
         compact(rsa_jwe(pub, OPTS, mutate=setm("encrypted_key", ""))), None, "bad"),
    ]


def ec_cases(pub):
    other = ec.generate_private_key(pub.curve).public_key()
    other_curve = ec.generate_private_key(
        ec.SECP384R1() if pub.curve.key_size == 256 else ec.SECP256R1()).public_key()
    size = CURVES[crv_of(pub)][1]
    off_curve = {"crv": crv_of(pub), "kty": "EC", "x": b64u((1).to_bytes(size, "big")),
                 "y": b64u((1).to_bytes(size, "big"))}
    mk = lambda **kw: ecdh_jwe(pub, OPTS, **kw)  # noqa: E731
    return common_cases(mk) + [
        ("compact: ECDH-ES+A256KW of optsdata", compact(ecdh_jwe(pub, OPTS)), OPTS, "ok"),
        ("compact: an empty payload", compact(ecdh_jwe(pub, b"")), b"", "ok"),
        ("compact: apu and apv in the KDF", compact(ecdh_jwe(pub, OPTS, apu=b"Alice",
                                                             apv=b"Bob")), OPTS, "ok"),
        ("flattened: ECDH-ES+A256KW", ecdh_jwe(pub, OPTS), OPTS, "ok"),
        ("compact: for another key on the curve", compact(ecdh_jwe(other, OPTS)), None, "wrong"),
        ("compact: for a key on the other curve", compact(ecdh_jwe(other_curve, OPTS)), None,
         "wrong"),
        ("compact: alg RSA-OAEP-256 for an EC key",
         compact(ecdh_jwe(pub, OPTS, alg="RSA-OAEP-256")), None, "wrong"),
        ("compact: encrypted_key altered",
         compact(ecdh_jwe(pub, OPTS, mutate=flip("encrypted_key", 39))), None, "wrong"),
        ("compact: epk not on the curve", compact(ecdh_jwe(pub, OPTS, epk=off_curve)), None,
         "bad"),
        ("compact: epk x a byte short",
         compact(ecdh_jwe(pub, OPTS, epk=dict(off_curve, x=b64u(b"\1" * (size - 1))))),
         None, "bad"),
        ("compact: no epk", compact(ecdh_jwe(pub, OPTS, mutate=reheader(
            lambda h: h.pop("epk")))), None, "bad"),
        ("compact: encrypted_key of 32 bytes",
         compact(ecdh_jwe(pub, OPTS, mutate=setm("encrypted_key", b64u(bytes(32))))),
         None, "bad"),
    ]


def cases_for(priv):
    pub = priv.public_key()
    cases = rsa_cases(pub) if isinstance(pub, rsa.RSAPublicKey) else ec_cases(pub)
    return [{"name": n, "form": "compact" if isinstance(j, str) else "flattened",
             "jwe": j if isinstance(j, str) else compact_json(j),
             "plain": p.hex() if p is not None else None, "want": w} for n, j, p, w in cases]


def load(pem_path):
    with open(pem_path, "rb") as f:
        return serialization.load_pem_private_key(f.read(), None)


def main(pem_path, sealed_path):
    priv = load(pem_path)
    with open(sealed_path) as f:
        sealed = json.load(f)["sealed"]
    print(compact_json({"opened": [try_open(priv, s["form"], s["jwe"]) for s in sealed],
                        "cases": cases_for(priv)}))


def seeds(ec_pem, rsa_pem, outdir):
    os.makedirs(outdir, exist_ok=True)
    for kind, pem in ((0, ec_pem), (1, rsa_pem)):
        for i, c in enumerate(cases_for(load(pem))):
            sel = kind | (2 if c["form"] == "flattened" else 0)
            with open(os.path.join(outdir, "%s-%02d" % ("rsa" if kind else "ec", i)), "wb") as f:
                f.write(bytes([sel]) + c["jwe"].encode())


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--seeds":
        seeds(*sys.argv[2:])
    elif len(sys.argv) == 3:
        main(*sys.argv[1:])
    else:
        sys.exit(__doc__)
