/*
 * The service account's RS256 JWT, signed by the JWS code the network
 * backends share (lib/jws.c).  What is Google's alone stays here: the key
 * must be RSA of at least 2048 bits, as Google issues them.  OpenSSL
 * allocates through the host's cleansing allocator, so the decoded key is
 * wiped when it is freed.
 */
#include "gcpkms.h"
#include "jws.h"

#define JWT_MIN_RSA_BITS 2048

int jwt_rs256(struct ocikp_ctx *ctx, const char *pem, size_t pem_len, const char *kid,
	      const struct ocikp_buf *claims, struct ocikp_buf *out)
{
	static const char what[] = "service account private_key";
	EVP_PKEY *key = NULL;
	int rc;

	if (!claims || !claims->len) {
		ocikp_errorf(ctx, "jwt: no claims");
		return OCIKP_INTERNAL;
	}
	if (pem_len == 0) {
		ocikp_errorf(ctx, "%s: empty", what);
		return OCIKP_CONFIG;
	}
	rc = jws_key_from_pem(ctx, what, pem, pem_len, &key);
	if (rc == OCIKP_OK && (!EVP_PKEY_is_a(key, "RSA") || EVP_PKEY_get_bits(key) < JWT_MIN_RSA_BITS)) {
		ocikp_errorf(ctx, "%s: not an RSA key of at least %d bits", what, JWT_MIN_RSA_BITS);
		rc = OCIKP_CONFIG;
	}
	if (rc == OCIKP_OK)
		rc = jws_sign(ctx, key, kid, claims, out);
	EVP_PKEY_free(key);
	return rc;
}
