#!/usr/bin/env python3
"""An independent P-256 ECIES implementation (python3-cryptography) that
writes and reads the annotation of ocicrypt-apple-se-keyprovider, so ocikp's
keychain backend is checked against something other than itself.

  vectors.py keygen KEY.pem                 -> prints the base64url pub= value
  vectors.py wrap URL OPTSDATA [--zero-lead] -> prints the annotation JSON
  vectors.py unwrap KEY.pem ANNOTATION      -> prints the optsdata

Like the Go provider, Z enters HKDF through big.Int.Bytes(): leading zero
bytes dropped.  --zero-lead searches ephemeral keys until Z starts with a
zero byte, the case (about 1 in 256) where that matters.
"""
import base64, json, os, sys, urllib.parse
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


def point(key):
    return key.public_key().public_bytes(serialization.Encoding.X962,
                                         serialization.PublicFormat.UncompressedPoint)


def kdf(z):
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=None).derive(z)


def go_bytes(z):  # big.Int.SetBytes(z).Bytes()
    return z.lstrip(b"\0")


def keygen(path):
    key = ec.generate_private_key(ec.SECP256R1())
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.write(fd, key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                   serialization.NoEncryption()))
    os.close(fd)
    print(base64.urlsafe_b64encode(point(key)).decode())


def wrap(url, optsdata, zero_lead):
    pub = urllib.parse.parse_qs(urllib.parse.urlparse(url).query)["pub"][0].replace(" ", "+")
    peer = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), base64.urlsafe_b64decode(pub))
    while True:
        eph = ec.generate_private_key(ec.SECP256R1())
        z = eph.exchange(ec.ECDH(), peer)
        if not zero_lead or z[0] == 0:
            break
    nonce = os.urandom(12)
    sealed = nonce + AESGCM(kdf(go_bytes(z))).encrypt(nonce, optsdata, None)
    print(json.dumps({"KeyUrl": url, "EphPub": base64.b64encode(point(eph)).decode(),
                      "WrappedKey": base64.b64encode(sealed).decode(), "WrapType": "AES-GCM"},
                     separators=(",", ":")))


def unwrap(key_path, ann):
    key = serialization.load_pem_private_key(open(key_path, "rb").read(), None)
    eph = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), base64.b64decode(ann["EphPub"]))
    z = key.exchange(ec.ECDH(), eph)
    sealed = base64.b64decode(ann["WrappedKey"])
    sys.stdout.buffer.write(AESGCM(kdf(z)).decrypt(sealed[:12], sealed[12:], None))


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "keygen":
        keygen(sys.argv[2])
    elif cmd == "wrap":
        wrap(sys.argv[2], open(sys.argv[3], "rb").read(), "--zero-lead" in sys.argv)
    elif cmd == "unwrap":
        unwrap(sys.argv[2], json.load(open(sys.argv[3])))
    else:
        sys.exit("usage: vectors.py keygen|wrap|unwrap ...")
