/* Target: lib/jwe.c's jwe_open, the parser of a JWE from an annotation or
 * a server: the compact and the flattened JSON forms, the protected header,
 * the epk point, the key unwrap or RSA-OAEP and the GCM open.  The first
 * byte picks: bit 0 the key (0: P-384, 1: RSA 2048), bit 1 the form (0:
 * compact, 1: flattened), bit 2 JWE_OTHER_ALG_WRONG_KEY, bit 3 the private
 * key operation through the hooks (as a token) or in software; the rest is
 * the JWE.  The keys are fixed test keys made for this target, so seeds
 * made for them (tests/jwe/jwe_vectors.py --seeds) reach the content
 * decryption; they guard nothing. */
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include "fuzz.h"
#include "fixed-rsa.h"
#include "jwe.h"

static const char p384_pem[] =
	"-----BEGIN PRIVATE KEY-----\n"
	"MIG2AgEAMBAGByqGSM49AgEGBSuBBAAiBIGeMIGbAgEBBDDIVC72ZGbLeu18KcJt\n"
	"wTNCo6Q9MhcYC0HALT4h9DcEnESxbcMngekNqnoc+nX7ijyhZANiAARC4ICQk7uX\n"
	"ykvxlD1HYp2m9YTUV3N2FlsTz1xU8std2TpqEDvL+o6Hx5Hf/1UIVE1ezcCDNqoK\n"
	"BHPQWOz5as2mSGRwDwxJvNlCGZo2vrfkn6fMwxV60f7C67CDmqohfAI=\n"
	"-----END PRIVATE KEY-----\n";

static EVP_PKEY *fixed_key(const char *pem)
{
	BIO *b = BIO_new_mem_buf(pem, -1);
	EVP_PKEY *k = b ? PEM_read_bio_PrivateKey(b, NULL, NULL, NULL) : NULL;

	if (!k)
		abort();
	BIO_free(b);
	return k;
}

/* The hooks a token backend gives, here on the same key in software. */
static int hook_rsa(struct ocikp_ctx *ctx, void *arg, const char *md, const unsigned char *in,
		    size_t inlen, unsigned char *out, size_t *outlen)
{
	EVP_PKEY_CTX *pc = EVP_PKEY_CTX_new_from_pkey(NULL, arg, NULL);
	int rc = OCIKP_WRONG_KEY;

	(void)ctx;
	if (pc && EVP_PKEY_decrypt_init(pc) > 0 &&
	    EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_OAEP_PADDING) > 0 &&
	    EVP_PKEY_CTX_set_rsa_oaep_md_name(pc, md, NULL) > 0 &&
	    EVP_PKEY_CTX_set_rsa_mgf1_md_name(pc, md, NULL) > 0 &&
	    EVP_PKEY_decrypt(pc, out, outlen, in, inlen) > 0)
		rc = OCIKP_OK;
	ERR_clear_error();
	EVP_PKEY_CTX_free(pc);
	return rc;
}

static int hook_ecdh(struct ocikp_ctx *ctx, void *arg, EVP_PKEY *peer, const unsigned char *point,
		     size_t pointlen, unsigned char *z, size_t zlen)
{
	EVP_PKEY_CTX *dc = EVP_PKEY_CTX_new_from_pkey(NULL, arg, NULL);
	size_t n = zlen;
	int rc = OCIKP_INTERNAL;

	(void)ctx;
	if (!point || pointlen != 2 * zlen + 1 || point[0] != 0x04)
		abort();	/* jwe.c hands over the checked, uncompressed point */
	if (dc && EVP_PKEY_derive_init(dc) > 0 && EVP_PKEY_derive_set_peer_ex(dc, peer, 1) > 0 &&
	    EVP_PKEY_derive(dc, z, &n) > 0 && n == zlen)
		rc = OCIKP_OK;
	ERR_clear_error();
	EVP_PKEY_CTX_free(dc);
	return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static EVP_PKEY *keys[2];
	static struct backend_ctx b;
	struct jwe_key k = { .algs = ~0u };
	struct ocikp_buf out = { 0 };
	struct ocikp_ctx *ctx;

	if (!keys[0]) {
		fuzz_ctx();
		keys[0] = fixed_key(p384_pem);
		keys[1] = fixed_key(rsa_pem);
	}
	host_ctx_init(&b.pub, &fuzz_host, "jwe");
	ctx = &b.pub;
	if (size < 1)
		return 0;
	k.pkey = keys[data[0] & 1];
	if (data[0] & 8) {
		k.rsa_oaep = hook_rsa;
		k.ecdh = hook_ecdh;
		k.arg = k.pkey;
	}
	jwe_open(ctx, &k, data[0] & 2 ? JWE_FLATTENED : JWE_COMPACT,
		 data[0] & 4 ? JWE_OTHER_ALG_WRONG_KEY : 0, "the JWE", data + 1, size - 1, &out);
	buf_free(&out);
	return 0;
}
