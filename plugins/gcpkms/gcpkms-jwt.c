/*
 * RS256 JWTs (RFC 7515 compact serialization) for the service account
 * JWT-bearer grant.  OpenSSL allocates through the host's cleansing
 * allocator, so the decoded private key is wiped when it is freed.
 */
#include <limits.h>
#include <string.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include "gcpkms.h"

#define JWT_MIN_RSA_BITS 2048

/* An encrypted PEM would otherwise make OpenSSL prompt on the terminal. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void)buf, (void)size, (void)rwflag, (void)u;
	return -1;
}

static int load_key(struct ocikp_ctx *ctx, const char *pem, size_t pem_len, EVP_PKEY **out)
{
	EVP_PKEY *pkey = NULL;
	BIO *bio;

	*out = NULL;
	if (pem_len == 0 || pem_len > INT_MAX) {
		ocikp_errorf(ctx, "service account private_key: empty or too large");
		return OCIKP_CONFIG;
	}
	bio = BIO_new_mem_buf(pem, (int)pem_len);
	if (!bio) {
		ocikp_errorf(ctx, "out of memory");
		return OCIKP_INTERNAL;
	}
	/* Reads PKCS#8 ("PRIVATE KEY", what Google issues) and PKCS#1 ("RSA
	 * PRIVATE KEY") alike. */
	pkey = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL);
	BIO_free(bio);
	ERR_clear_error();
	if (!pkey) {
		ocikp_errorf(ctx, "service account private_key: not an unencrypted PEM private key");
		return OCIKP_CONFIG;
	}
	if (!EVP_PKEY_is_a(pkey, "RSA") || EVP_PKEY_get_bits(pkey) < JWT_MIN_RSA_BITS) {
		EVP_PKEY_free(pkey);
		ocikp_errorf(ctx, "service account private_key: not an RSA key of at least %d bits",
			     JWT_MIN_RSA_BITS);
		return OCIKP_CONFIG;
	}
	*out = pkey;
	return OCIKP_OK;
}

static int b64url(struct ocikp_ctx *ctx, const void *data, size_t len, struct ocikp_buf *out)
{
	if (ctx->host->b64_encode(data, len, OCIKP_B64_URL | OCIKP_B64_NOPAD, out) == OCIKP_OK)
		return OCIKP_OK;
	ocikp_errorf(ctx, "jwt: out of memory");
	return OCIKP_INTERNAL;
}

static int append(struct ocikp_ctx *ctx, struct ocikp_buf *out, const void *data, size_t n)
{
	if (ctx->host->buf_append(out, data, n) == OCIKP_OK)
		return OCIKP_OK;
	ocikp_errorf(ctx, "jwt: out of memory");
	return OCIKP_INTERNAL;
}

static int header(struct ocikp_ctx *ctx, const char *kid, struct ocikp_buf *out)
{
	const struct ocikp_host *h = ctx->host;
	ocikp_jgen *g = h->jgen_new();
	int rc;

	if (!g) {
		ocikp_errorf(ctx, "out of memory");
		return OCIKP_INTERNAL;
	}
	h->jgen_map_open(g);
	h->jgen_key(g, "alg");
	h->jgen_string(g, "RS256", 5);
	h->jgen_key(g, "typ");
	h->jgen_string(g, "JWT", 3);
	if (kid) {
		h->jgen_key(g, "kid");
		h->jgen_string(g, kid, strlen(kid));
	}
	h->jgen_map_close(g);
	rc = h->jgen_finish(g, out);
	if (rc == OCIKP_OK)
		return OCIKP_OK;
	ocikp_errorf(ctx, "jwt header: private_key_id is not a valid string");
	return OCIKP_CONFIG;
}

static int sign(struct ocikp_ctx *ctx, EVP_PKEY *pkey, const struct ocikp_buf *in,
		struct ocikp_buf *sig)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned char *p;
	size_t n = 0, start = sig->len;
	int ok;

	ok = md && EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, pkey) == 1 &&
	     EVP_DigestSign(md, NULL, &n, in->data, in->len) == 1 && n > 0;
	if (ok) {
		p = ctx->host->buf_extend(sig, n);
		ok = p && EVP_DigestSign(md, p, &n, in->data, in->len) == 1;
		if (p) {
			/* n is now what was written, at most what was asked for */
			sig->len = start + (ok ? n : 0);
			sig->data[sig->len] = '\0';
		}
	}
	EVP_MD_CTX_free(md);
	ERR_clear_error();
	if (!ok) {
		ocikp_errorf(ctx, "jwt: RS256 signing failed");
		return OCIKP_INTERNAL;
	}
	return OCIKP_OK;
}

int jwt_rs256(struct ocikp_ctx *ctx, const char *pem, size_t pem_len, const char *kid,
	      const struct ocikp_buf *claims, struct ocikp_buf *out)
{
	const struct ocikp_host *h = ctx->host;
	struct ocikp_buf hdr = { 0 }, input = { 0 }, sig = { 0 };
	EVP_PKEY *pkey = NULL;
	int rc;

	if (!claims || !claims->len) {
		ocikp_errorf(ctx, "jwt: no claims");
		return OCIKP_INTERNAL;
	}
	rc = load_key(ctx, pem, pem_len, &pkey);
	if (rc == OCIKP_OK)
		rc = header(ctx, kid, &hdr);
	if (rc == OCIKP_OK)
		rc = b64url(ctx, hdr.data, hdr.len, &input);
	if (rc == OCIKP_OK)
		rc = append(ctx, &input, ".", 1);
	if (rc == OCIKP_OK)
		rc = b64url(ctx, claims->data, claims->len, &input);
	if (rc == OCIKP_OK)
		rc = sign(ctx, pkey, &input, &sig);
	if (rc == OCIKP_OK)
		rc = append(ctx, &input, ".", 1);
	if (rc == OCIKP_OK)
		rc = b64url(ctx, sig.data, sig.len, &input);
	if (rc == OCIKP_OK)
		rc = append(ctx, out, input.data, input.len);
	EVP_PKEY_free(pkey);
	h->buf_free(&hdr);
	h->buf_free(&input);
	h->buf_free(&sig);
	return rc;
}
