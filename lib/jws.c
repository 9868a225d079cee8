/*
 * Compact JWS signing (RFC 7515 §7.1) with OpenSSL's one-shot
 * EVP_DigestSign: RS256 (RFC 7518 §3.3, RSASSA-PKCS1-v1_5 with SHA-256)
 * and EdDSA (RFC 8037 §3.1, Ed25519, no pre-hash).
 */
#include <limits.h>
#include <string.h>
#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include "jws.h"

/* Never prompt for a pass phrase (OpenSSL's default callback reads the
 * terminal): an encrypted key simply does not parse. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void)buf; (void)size; (void)rwflag; (void)u;
	return -1;
}

int jws_key_from_pem(struct ocikp_ctx *ctx, const char *what, const void *pem, size_t len,
		     EVP_PKEY **out)
{
	BIO *bio;

	*out = NULL;
	if (len > INT_MAX) {
		ocikp_errorf(ctx, "%s: too large to be a private key", what);
		return OCIKP_CONFIG;
	}
	bio = BIO_new_mem_buf(pem, (int)len);
	if (!bio) {
		ocikp_errorf(ctx, "%s: out of memory", what);
		return OCIKP_INTERNAL;
	}
	/* Both "PRIVATE KEY" (PKCS#8) and "RSA PRIVATE KEY" (PKCS#1). */
	*out = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL);
	BIO_free(bio);
	ERR_clear_error();
	if (!*out) {
		ocikp_errorf(ctx, "%s: not an unencrypted PEM private key", what);
		return OCIKP_CONFIG;
	}
	return OCIKP_OK;
}

static int b64url(const struct ocikp_host *h, const void *data, size_t len, struct ocikp_buf *out)
{
	return h->b64_encode(data, len, OCIKP_B64_URL | OCIKP_B64_NOPAD, out);
}

static int header(struct ocikp_ctx *ctx, const char *alg, const char *kid, struct ocikp_buf *out)
{
	const struct ocikp_host *h = ctx->host;
	ocikp_jgen *g = h->jgen_new();

	h->jgen_map_open(g);
	h->jgen_key(g, "alg");
	h->jgen_string(g, alg, strlen(alg));
	h->jgen_key(g, "typ");
	h->jgen_string(g, "JWT", 3);
	if (kid) {
		h->jgen_key(g, "kid");
		h->jgen_string(g, kid, strlen(kid));
	}
	h->jgen_map_close(g);
	return h->jgen_finish(g, out);
}

/* Sign the signing input (header.claims) in place: append '.' and the signature. */
static int sign(struct ocikp_ctx *ctx, EVP_PKEY *key, const EVP_MD *md, struct ocikp_buf *jws)
{
	const struct ocikp_host *h = ctx->host;
	EVP_MD_CTX *mctx = EVP_MD_CTX_new();
	unsigned char *sig = NULL;
	size_t sig_len = 0;
	int rc = OCIKP_INTERNAL;

	if (!mctx)
		goto out;
	if (EVP_DigestSignInit(mctx, NULL, md, NULL, key) != 1 ||
	    EVP_DigestSign(mctx, NULL, &sig_len, jws->data, jws->len) != 1)
		goto out;
	sig = OPENSSL_malloc(sig_len ? sig_len : 1);
	if (!sig || EVP_DigestSign(mctx, sig, &sig_len, jws->data, jws->len) != 1)
		goto out;
	rc = h->buf_append(jws, ".", 1);
	if (rc == OCIKP_OK)
		rc = b64url(h, sig, sig_len, jws);
out:
	if (rc == OCIKP_INTERNAL)
		ocikp_errorf(ctx, "jws: signing failed");
	ERR_clear_error();
	OPENSSL_free(sig);
	EVP_MD_CTX_free(mctx);
	return rc;
}

int jws_sign(struct ocikp_ctx *ctx, EVP_PKEY *key, const char *kid,
	     const struct ocikp_buf *claims, struct ocikp_buf *out)
{
	const struct ocikp_host *h = ctx->host;
	struct ocikp_buf hdr = { 0 }, jws = { 0 };
	const EVP_MD *md;
	const char *alg;
	int rc;

	if (EVP_PKEY_is_a(key, "RSA")) {
		alg = "RS256";
		md = EVP_sha256();
	} else if (EVP_PKEY_is_a(key, "ED25519")) {
		alg = "EdDSA";
		md = NULL;	/* Ed25519 hashes internally */
	} else {
		ocikp_errorf(ctx, "jws: the key must be RSA or Ed25519");
		return OCIKP_CONFIG;
	}
	rc = header(ctx, alg, kid, &hdr);
	if (rc == OCIKP_OK)
		rc = b64url(h, hdr.data, hdr.len, &jws);
	if (rc == OCIKP_OK)
		rc = h->buf_append(&jws, ".", 1);
	if (rc == OCIKP_OK)
		rc = b64url(h, claims->data, claims->len, &jws);
	if (rc == OCIKP_OK)
		rc = sign(ctx, key, md, &jws);
	if (rc == OCIKP_OK)
		rc = h->buf_append(out, jws.data, jws.len);
	h->buf_free(&hdr);
	h->buf_free(&jws);
	return rc;
}
