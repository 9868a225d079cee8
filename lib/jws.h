/*
 * Compact JWS (RFC 7515) signing for the network backends: RS256 for
 * Google's service-account grant (gcpkms), EdDSA (Ed25519) for a KBS
 * admin token (kbs).  One signer, so neither backend grows its own.
 */
#ifndef OCIKP_LIB_JWS_H
#define OCIKP_LIB_JWS_H

#include <stddef.h>
#include <openssl/evp.h>
#include <ocikp/backend.h>

/* A PEM private key (PKCS#8, or PKCS#1 RSA) from memory; `what` names it
 * in errors (never its contents).  OCIKP_CONFIG if it does not parse.
 * Free with EVP_PKEY_free. */
int jws_key_from_pem(struct ocikp_ctx *ctx, const char *what, const void *pem, size_t len,
		     EVP_PKEY **out);

/*
 * Sign claims (a JSON object's text) with key: header
 * {"alg":"RS256"|"EdDSA","typ":"JWT"[,"kid":kid]}, the algorithm from the
 * key's type (RSA or Ed25519; anything else is OCIKP_CONFIG).  Appends
 * base64url(header).base64url(claims).base64url(signature), unpadded.
 */
int jws_sign(struct ocikp_ctx *ctx, EVP_PKEY *key, const char *kid,
	     const struct ocikp_buf *claims, struct ocikp_buf *out);

#endif
