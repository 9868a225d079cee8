/*
 * The TEE key pair of the RCAR handshake and the JWE a KBS answers a
 * resource request with (kbs.h); the JWE itself is lib/jwe.c's.
 *
 * Shapes from trustee kbs/src/jwe/mod.rs (the encrypting side) and
 * guest-components kbs_protocol/src/keypair.rs (the decrypting side), with
 * kbs-types' Response and ProtectedHeader:
 *   {"protected": b64url(header JSON), "encrypted_key", "iv", "ciphertext",
 *    "tag"}, every member base64url without padding;
 *   header {"alg", "enc": "A256GCM", "epk": {"crv", "kty", "x", "y"}} for
 *   ECDH-ES+A256KW, {"alg": "RSA-OAEP-256", "enc": "A256GCM"} for RSA;
 *   AAD = the ASCII of "protected" (trustee's generate_aad re-encodes the
 *   header it serialized, which is that same string; RFC 7516 §5.2).
 * Statuses: a JWE for another key (another alg, another curve, a key
 * unwrap or tag that fails) is OCIKP_WRONG_KEY; one that is malformed
 * (not JSON, a member missing, bad base64, wrong lengths, a point not on
 * the curve, an enc or header member we do not implement) is
 * OCIKP_UNAVAILABLE: the server's fault, not this machine's.
 */
#include <limits.h>
#include <string.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include "jwe.h"
#include "kbs.h"

#define ALG_ECDH "ECDH-ES+A256KW"
#define ALG_RSA "RSA-OAEP-256"
#define CURVE "P-256"
#define COORD_LEN 32		/* P-256, full width */
#define RSA_BITS 2048
#define B64URL (OCIKP_B64_URL | OCIKP_B64_NOPAD)

struct kbs_tee_key {
	enum kbs_tee_alg alg;
	EVP_PKEY *pkey;
};

/* ---- the key pair ---------------------------------------------------------- */

int kbs_tee_key_new(struct ocikp_ctx *ctx, enum kbs_tee_alg alg, struct kbs_tee_key **out)
{
	struct kbs_tee_key *k;

	*out = NULL;
	if (!(k = OPENSSL_zalloc(sizeof(*k))))
		return OCIKP_INTERNAL;
	k->alg = alg;
	if (alg == KBS_TEE_RSA)
		k->pkey = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)RSA_BITS);
	else
		k->pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", CURVE);
	if (!k->pkey) {
		OPENSSL_free(k);
		ERR_clear_error();
		ocikp_errorf(ctx, "OpenSSL could not make the TEE key pair");
		return OCIKP_INTERNAL;
	}
	*out = k;
	return OCIKP_OK;
}

void kbs_tee_key_free(struct kbs_tee_key *k)
{
	if (!k)
		return;
	EVP_PKEY_free(k->pkey);	/* OpenSSL clears a private key it frees */
	OPENSSL_free(k);
}

static const char *key_alg(const struct kbs_tee_key *k)
{
	return k->alg == KBS_TEE_RSA ? ALG_RSA : ALG_ECDH;
}

/* jgen `"key": b64url(bn)`, bn padded on the left to width bytes (0: its
 * own length, as RSA's n and e are written). */
static int jwk_bn(struct ocikp_ctx *ctx, ocikp_jgen *g, const char *key, const BIGNUM *bn,
		  int width)
{
	const struct ocikp_host *h = ctx->host;
	struct ocikp_buf text = { 0 };
	unsigned char raw[RSA_BITS / 8];
	int n = width ? width : BN_num_bytes(bn);
	int rc = OCIKP_INTERNAL;

	if (n < 1 || n > (int)sizeof(raw) || BN_bn2binpad(bn, raw, n) != n)
		return OCIKP_INTERNAL;
	if (h->b64_encode(raw, (size_t)n, B64URL, &text) == OCIKP_OK) {
		h->jgen_key(g, key);
		h->jgen_string(g, (const char *)text.data, text.len);
		rc = OCIKP_OK;
	}
	h->buf_free(&text);
	return rc;
}

static int jwk_members(struct ocikp_ctx *ctx, const struct kbs_tee_key *k, ocikp_jgen *g)
{
	const struct ocikp_host *h = ctx->host;
	const char *names[2];
	BIGNUM *a = NULL, *b = NULL;
	int width, rc = OCIKP_INTERNAL;

	/* member order as trustee serializes kbs-types' TeePubKey (the serde
	 * tag "kty" first, then the fields in declaration order) */
	h->jgen_key(g, "kty");
	if (k->alg == KBS_TEE_RSA) {
		h->jgen_string(g, "RSA", 3);
		names[0] = OSSL_PKEY_PARAM_RSA_N;
		names[1] = OSSL_PKEY_PARAM_RSA_E;
		width = 0;
	} else {
		h->jgen_string(g, "EC", 2);
		h->jgen_key(g, "crv");
		h->jgen_string(g, CURVE, strlen(CURVE));
		names[0] = OSSL_PKEY_PARAM_EC_PUB_X;
		names[1] = OSSL_PKEY_PARAM_EC_PUB_Y;
		width = COORD_LEN;
	}
	h->jgen_key(g, "alg");
	h->jgen_string(g, key_alg(k), strlen(key_alg(k)));
	if (EVP_PKEY_get_bn_param(k->pkey, names[0], &a) > 0 &&
	    EVP_PKEY_get_bn_param(k->pkey, names[1], &b) > 0 &&
	    jwk_bn(ctx, g, k->alg == KBS_TEE_RSA ? "n" : "x", a, width) == OCIKP_OK &&
	    jwk_bn(ctx, g, k->alg == KBS_TEE_RSA ? "e" : "y", b, width) == OCIKP_OK)
		rc = OCIKP_OK;
	BN_free(a);
	BN_free(b);
	return rc;
}

int kbs_tee_key_jwk(struct ocikp_ctx *ctx, const struct kbs_tee_key *k, struct ocikp_buf *out)
{
	ocikp_jgen *g = ctx->host->jgen_new();
	int rc;

	if (!g)
		return OCIKP_INTERNAL;
	ctx->host->jgen_map_open(g);
	rc = jwk_members(ctx, k, g);
	ctx->host->jgen_map_close(g);
	if (rc != OCIKP_OK) {
		ctx->host->jgen_finish(g, NULL);
		ERR_clear_error();
		ocikp_errorf(ctx, "OpenSSL could not export the TEE public key");
		return rc;
	}
	return ctx->host->jgen_finish(g, out);
}

/* ---- the JWE ------------------------------------------------------------------ */

int kbs_jwe_open(struct ocikp_ctx *ctx, const struct kbs_tee_key *k, const void *jwe, size_t len,
		 struct ocikp_buf *plain)
{
	struct jwe_key key = { .pkey = k->pkey,
			       .algs = k->alg == KBS_TEE_RSA ? JWE_RSA_OAEP_256
							     : JWE_ECDH_ES_A256KW };
	int rc = jwe_open(ctx, &key, JWE_FLATTENED, JWE_OTHER_ALG_WRONG_KEY, "the KBS's JWE",
			  jwe, len, plain);

	/* a malformed answer is the server's fault, not the request's */
	return rc == OCIKP_BAD_INPUT ? OCIKP_UNAVAILABLE : rc;
}
