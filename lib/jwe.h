/*
 * JWE (RFC 7516) for the backends that seal to, or open with, a key pair:
 * kbs (the JWE a KBS answers a resource request with, flattened JSON)
 * and pkcs11 (the annotation's wrapped_key, compact).  One implementation,
 * so neither grows its own.
 *
 *   alg  RSA-OAEP-256 (OAEP, SHA-256 and MGF1-SHA-256), RSA-OAEP (SHA-1),
 *        ECDH-ES+A256KW on P-256 and P-384 (RFC 7518 §4.6: epk in the
 *        protected header, Concat KDF with SHA-256, RFC 3394 key wrap)
 *   enc  A256GCM, a 12-byte IV, AAD the ASCII of the protected header
 *
 * Everything is OpenSSL 3 EVP.  The private key operation can be a
 * callback, so a token does the RSA decryption or the ECDH derivation and
 * the rest stays here.
 *
 * Statuses of jwe_open: malformed (not a JWE of these algorithms: bad
 * base64 or JSON, a member missing, wrong lengths, enc not A256GCM, crit
 * or zip, an epk not on its curve) is OCIKP_BAD_INPUT; well-formed but not
 * for this key (another key type, curve or RSA size, an alg the key does
 * not take, a key unwrap, OAEP decoding or GCM tag that fails) is
 * OCIKP_WRONG_KEY.
 * The caller maps them when its input comes from elsewhere (kbs: a
 * malformed answer is the server's fault).
 */
#ifndef OCIKP_LIB_JWE_H
#define OCIKP_LIB_JWE_H

#include <stddef.h>
#include <openssl/evp.h>
#include <ocikp/backend.h>

enum jwe_alg {
	JWE_RSA_OAEP_256 = 1u << 0,
	JWE_RSA_OAEP = 1u << 1,		/* SHA-1 */
	JWE_ECDH_ES_A256KW = 1u << 2,
};

enum jwe_form {
	JWE_COMPACT = 0,	/* protected.encrypted_key.iv.ciphertext.tag */
	JWE_FLATTENED,		/* {"protected","encrypted_key","iv","ciphertext","tag"} */
};

/* jwe_open's flags */
#define JWE_OTHER_ALG_WRONG_KEY 1u	/* an alg outside the list above is
					 * OCIKP_WRONG_KEY, not OCIKP_BAD_INPUT */

/*
 * The key a JWE is opened with.  pkey is an RSA key or an EC key on P-256
 * or P-384: with no hook for its type it must hold the private key; with
 * a hook only its public half is used (type, size, curve).
 *
 * rsa_oaep: decrypt `in` (the modulus's size) with OAEP, the hash and MGF1
 *   hash `md` ("SHA256" or "SHA1"), empty label; write at most *outlen
 *   bytes to out and set *outlen.  OCIKP_WRONG_KEY when it does not decode.
 * ecdh: the shared secret, the x coordinate of d·peer, exactly zlen bytes
 *   (the field size), given the peer as a checked EVP_PKEY and as its
 *   uncompressed SEC 1 point.
 * Both: another status with an error line for a token that fails.
 */
struct jwe_key {
	EVP_PKEY *pkey;
	unsigned algs;		/* enum jwe_alg bits this key opens */
	int (*rsa_oaep)(struct ocikp_ctx *ctx, void *arg, const char *md,
			const unsigned char *in, size_t inlen, unsigned char *out,
			size_t *outlen);
	int (*ecdh)(struct ocikp_ctx *ctx, void *arg, EVP_PKEY *peer,
		    const unsigned char *point, size_t pointlen, unsigned char *z, size_t zlen);
	void *arg;
};

/* The JOSE name of alg ("RSA-OAEP-256", ...); NULL for none of them. */
const char *jwe_alg_name(enum jwe_alg alg);

/* The algs a public key can be sealed to: RSA the two OAEPs, EC on P-256
 * or P-384 ECDH-ES+A256KW; 0 for any other key. */
unsigned jwe_key_algs(EVP_PKEY *pkey);

/*
 * Seal plain to pub (public half suffices) with alg and A256GCM; append
 * the JWE in form to out.  OCIKP_BAD_INPUT (with a line) when alg does not
 * suit pub.
 */
int jwe_seal(struct ocikp_ctx *ctx, EVP_PKEY *pub, enum jwe_alg alg, enum jwe_form form,
	     const void *plain, size_t len, struct ocikp_buf *out);

/*
 * Check the JWE text (form) without a key: the serialization, the header
 * (alg one of the list, enc A256GCM, no crit/zip) and the parts' sizes;
 * OCIKP_BAD_INPUT with a line, else *alg (may be NULL) set.  So a caller
 * can refuse a malformed JWE before it looks for the key.  jwe_open checks
 * all this again, and the epk and the encrypted key's size for the key.
 */
int jwe_peek(struct ocikp_ctx *ctx, enum jwe_form form, const char *what, const void *text,
	     size_t len, enum jwe_alg *alg);

/*
 * Open the JWE text (form) with k; append the plaintext to plain only on
 * success.  `what` names the JWE in error lines ("the KBS's JWE").
 * Statuses as above.
 */
int jwe_open(struct ocikp_ctx *ctx, const struct jwe_key *k, enum jwe_form form,
	     unsigned flags, const char *what, const void *text, size_t len,
	     struct ocikp_buf *plain);

#endif
