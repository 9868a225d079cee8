/*
 * Sealing a key to a TPM's endorsement key without that TPM (TPM 2.0 Part 1
 * §23 duplication, as go-tpm-tools' server.CreateImportBlob does): the
 * sealed KEYEDHASH object's sensitive part is protected by a seed that only
 * the EK can recover, so TPM2_Import on the target TPM alone can load it.
 */
#include <string.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <tss2/tss2_mu.h>
#include "tpm.h"

/* Verify an EK certificate against the CA the admin configured. */
static int verify_cert(struct ocikp_ctx *ctx, X509 *cert, const char *ca_file)
{
	X509_STORE *store = X509_STORE_new();
	X509_STORE_CTX *vctx = X509_STORE_CTX_new();
	int rc = OCIKP_WRONG_KEY;

	if (!store || !vctx) {
		rc = OCIKP_INTERNAL;
	} else if (X509_STORE_load_file(store, ca_file) != 1) {
		ocikp_errorf(ctx, "verify_ek_ca %s: cannot load CA certificates", ca_file);
		rc = OCIKP_CONFIG;
	} else if (X509_STORE_CTX_init(vctx, store, cert, NULL) != 1) {
		rc = OCIKP_INTERNAL;
	} else if (X509_verify_cert(vctx) == 1) {
		rc = OCIKP_OK;
	} else {
		ocikp_errorf(ctx, "EK certificate does not chain to %s: %s", ca_file,
			     X509_verify_cert_error_string(X509_STORE_CTX_get_error(vctx)));
	}
	X509_STORE_CTX_free(vctx);
	X509_STORE_free(store);
	return rc;
}

/* pub= holds a PEM public key, or an EK certificate in PEM or DER. */
int ek_load_public(struct ocikp_ctx *ctx, const unsigned char *data, size_t len, void **out)
{
	const char *ca = ocikp_conf(ctx, "verify_ek_ca");
	const unsigned char *p = data;
	EVP_PKEY *pkey = NULL;
	X509 *cert = NULL;
	BIO *bio;
	int rc = OCIKP_OK;

	*out = NULL;
	if (!len) {	/* BIO_new_mem_buf refuses an empty buffer */
		ocikp_errorf(ctx, "pub: not a PEM public key or an EK certificate (empty)");
		return OCIKP_BAD_INPUT;
	}
	bio = BIO_new_mem_buf(data, (int)len);
	if (!bio)
		return OCIKP_INTERNAL;
	cert = PEM_read_bio_X509(bio, NULL, NULL, NULL);
	if (!cert) {
		(void)BIO_reset(bio);
		pkey = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
	}
	if (!cert && !pkey)
		cert = d2i_X509(NULL, &p, (long)len);
	BIO_free(bio);
	if (cert && ca)
		rc = verify_cert(ctx, cert, ca);
	else if (!cert && ca) {
		ocikp_errorf(ctx, "verify_ek_ca is set: pub= must be an EK certificate, not a bare key");
		rc = OCIKP_BAD_INPUT;
	}
	if (cert && rc == OCIKP_OK)
		pkey = X509_get_pubkey(cert);
	X509_free(cert);
	if (rc == OCIKP_OK && !pkey) {
		ocikp_errorf(ctx, "pub: not a PEM public key or an EK certificate");
		rc = OCIKP_BAD_INPUT;
	}
	if (rc == OCIKP_OK && !(EVP_PKEY_is_a(pkey, "RSA") && EVP_PKEY_get_bits(pkey) == 2048) &&
	    !(EVP_PKEY_is_a(pkey, "EC") && EVP_PKEY_get_bits(pkey) == 256)) {
		ocikp_errorf(ctx, "pub: EK must be RSA-2048 or ECC P-256");
		rc = OCIKP_BAD_INPUT;
	}
	if (rc == OCIKP_OK)
		*out = pkey;
	else
		EVP_PKEY_free(pkey);
	return rc;
}

void ek_free(void *ek)
{
	EVP_PKEY_free(ek);
}

/* TPM KDFa (SP 800-108 counter mode, HMAC-SHA-256): OpenSSL's KBKDF with
 * its default separator and length fields is exactly that. */
static bool kdfa(const unsigned char *key, size_t key_len, const char *label,
		 const unsigned char *context, size_t context_len, unsigned char *out, size_t n)
{
	EVP_KDF *kdf = EVP_KDF_fetch(NULL, "KBKDF", NULL);
	EVP_KDF_CTX *kctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_MODE, "counter", 0),
		OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_MAC, "HMAC", 0),
		OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, "SHA256", 0),
		OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)key, key_len),
		OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)label, strlen(label)),
		OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)context, context_len),
		OSSL_PARAM_construct_end()
	};
	bool ok = kctx && EVP_KDF_derive(kctx, out, n, params) == 1;

	EVP_KDF_CTX_free(kctx);
	EVP_KDF_free(kdf);
	return ok;
}

/* TPM KDFe (SP 800-56A one-step, SHA-256): OpenSSL's SSKDF, with the
 * label's NUL and both parties' x-coordinates as fixed info. */
static bool kdfe(const unsigned char z[32], const unsigned char eph_x[32],
		 const unsigned char ek_x[32], unsigned char out[32])
{
	unsigned char info[10 + 32 + 32];
	EVP_KDF *kdf = EVP_KDF_fetch(NULL, "SSKDF", NULL);
	EVP_KDF_CTX *kctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, "SHA256", 0),
		OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)z, 32),
		OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info, sizeof(info)),
		OSSL_PARAM_construct_end()
	};
	bool ok;

	memcpy(info, "DUPLICATE", 10);	/* with its NUL */
	memcpy(info + 10, eph_x, 32);
	memcpy(info + 42, ek_x, 32);
	ok = kctx && EVP_KDF_derive(kctx, out, 32, params) == 1;
	EVP_KDF_CTX_free(kctx);
	EVP_KDF_free(kdf);
	return ok;
}

/* RSA EK: a 16-byte seed (the EK's AES-128), OAEP-SHA-256, label "DUPLICATE\0". */
static bool rsa_seed(EVP_PKEY *ek, unsigned char *seed, size_t *seed_len,
		     struct ocikp_ctx *ctx, struct ocikp_buf *encrypted)
{
	EVP_PKEY_CTX *pctx = EVP_PKEY_CTX_new_from_pkey(NULL, ek, NULL);
	unsigned char *label = OPENSSL_memdup("DUPLICATE", 10);
	size_t n = 0;
	unsigned char *dst;
	bool ok;

	*seed_len = 16;
	ok = pctx && label && RAND_bytes(seed, 16) == 1 && EVP_PKEY_encrypt_init(pctx) == 1 &&
	     EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_OAEP_PADDING) == 1 &&
	     EVP_PKEY_CTX_set_rsa_oaep_md(pctx, EVP_sha256()) == 1 &&
	     EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, EVP_sha256()) == 1 &&
	     EVP_PKEY_CTX_set0_rsa_oaep_label(pctx, label, 10) == 1;
	if (ok)
		label = NULL;	/* owned by pctx now */
	ok = ok && EVP_PKEY_encrypt(pctx, NULL, &n, seed, 16) == 1 &&
	     (dst = ctx->host->buf_extend(encrypted, n)) &&
	     EVP_PKEY_encrypt(pctx, dst, &n, seed, 16) == 1;
	if (ok)
		encrypted->len = n;
	OPENSSL_free(label);
	EVP_PKEY_CTX_free(pctx);
	return ok;
}

/* ECC EK: ephemeral P-256 ECDH, seed = KDFe(Z); the ephemeral point is the
 * encrypted seed, as a TPMS_ECC_POINT. */
static bool ecc_seed(EVP_PKEY *ek, unsigned char *seed, size_t *seed_len,
		     struct ocikp_ctx *ctx, struct ocikp_buf *encrypted)
{
	EVP_PKEY *eph = EVP_EC_gen("P-256");
	EVP_PKEY_CTX *dctx = eph ? EVP_PKEY_CTX_new_from_pkey(NULL, eph, NULL) : NULL;
	unsigned char z[32], eph_pt[65], ek_pt[65];
	size_t zl = sizeof(z), el = 0, kl = 0;
	bool ok;

	*seed_len = 32;
	ok = dctx && EVP_PKEY_derive_init(dctx) == 1 && EVP_PKEY_derive_set_peer(dctx, ek) == 1 &&
	     EVP_PKEY_derive(dctx, z, &zl) == 1 && zl == 32 &&
	     EVP_PKEY_get_octet_string_param(eph, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, eph_pt,
					     sizeof(eph_pt), &el) == 1 && el == 65 &&
	     EVP_PKEY_get_octet_string_param(ek, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, ek_pt,
					     sizeof(ek_pt), &kl) == 1 && kl == 65 &&
	     kdfe(z, eph_pt + 1, ek_pt + 1, seed);
	if (ok) {
		static const unsigned char size32[2] = { 0x00, 0x20 };
		ok = ctx->host->buf_append(encrypted, size32, 2) == OCIKP_OK &&
		     ctx->host->buf_append(encrypted, eph_pt + 1, 32) == OCIKP_OK &&
		     ctx->host->buf_append(encrypted, size32, 2) == OCIKP_OK &&
		     ctx->host->buf_append(encrypted, eph_pt + 33, 32) == OCIKP_OK;
	}
	OPENSSL_cleanse(z, sizeof(z));
	EVP_PKEY_CTX_free(dctx);
	EVP_PKEY_free(eph);
	return ok;
}

static bool aes128_cfb(const unsigned char key[16], const unsigned char *in, size_t n,
		       unsigned char *out)
{
	static const unsigned char zero_iv[16];
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	int l1 = 0, l2 = 0;
	bool ok = c && EVP_EncryptInit_ex(c, EVP_aes_128_cfb(), NULL, key, zero_iv) == 1 &&
		  EVP_EncryptUpdate(c, out, &l1, in, (int)n) == 1 &&
		  EVP_EncryptFinal_ex(c, out + l1, &l2) == 1 && (size_t)(l1 + l2) == n;

	EVP_CIPHER_CTX_free(c);
	return ok;
}

int duplicate_to_ek(struct ocikp_ctx *ctx, void *ek_pkey, const unsigned char key[TPM_KEY_LEN],
		    struct import_blob *b)
{
	EVP_PKEY *ek = ek_pkey;
	TPMT_PUBLIC pub;
	TPMT_SENSITIVE sens;
	unsigned char pubbuf[sizeof(TPMT_PUBLIC)], name[34], sensbuf[2 + sizeof(TPMT_SENSITIVE)];
	unsigned char seed[32], sym_key[16], hmac_key[32], hmac[32], *enc_sens = NULL;
	unsigned char obfuscation[32];
	size_t pub_len = 0, sens_len = 2, seed_len = 0;
	unsigned int hmac_len = 32;
	EVP_MAC *mac = NULL;
	EVP_MAC_CTX *mctx = NULL;
	bool ok;
	int rc = OCIKP_INTERNAL;

	memset(&pub, 0, sizeof(pub));
	memset(&sens, 0, sizeof(sens));
	pub.type = TPM2_ALG_KEYEDHASH;
	pub.nameAlg = TPM2_ALG_SHA256;
	pub.parameters.keyedHashDetail.scheme.scheme = TPM2_ALG_NULL;
	if (b->pcr_mask) {
		pub.objectAttributes = TPMA_OBJECT_ADMINWITHPOLICY;
		pub.authPolicy.size = 32;
		rc = pcr_policy_digest(ctx, b, pub.authPolicy.buffer);
		if (rc != OCIKP_OK)
			goto out;
		rc = OCIKP_INTERNAL;
	} else {
		pub.objectAttributes = TPMA_OBJECT_USERWITHAUTH;
	}
	/* unique = H(seedValue ‖ sensitive): the TPM recomputes it on import. */
	ok = RAND_bytes(obfuscation, 32) == 1;
	if (ok) {
		EVP_MD_CTX *md = EVP_MD_CTX_new();
		ok = md && EVP_DigestInit_ex(md, EVP_sha256(), NULL) &&
		     EVP_DigestUpdate(md, obfuscation, 32) && EVP_DigestUpdate(md, key, TPM_KEY_LEN) &&
		     EVP_DigestFinal_ex(md, pub.unique.keyedHash.buffer, NULL);
		EVP_MD_CTX_free(md);
	}
	pub.unique.keyedHash.size = 32;
	sens.sensitiveType = TPM2_ALG_KEYEDHASH;
	sens.seedValue.size = 32;
	memcpy(sens.seedValue.buffer, obfuscation, 32);
	sens.sensitive.bits.size = TPM_KEY_LEN;
	memcpy(sens.sensitive.bits.buffer, key, TPM_KEY_LEN);

	/* name = nameAlg ‖ H(TPMT_PUBLIC); sensitive as a TPM2B. */
	ok = ok && Tss2_MU_TPMT_PUBLIC_Marshal(&pub, pubbuf, sizeof(pubbuf), &pub_len) == 0 &&
	     Tss2_MU_TPMT_SENSITIVE_Marshal(&sens, sensbuf, sizeof(sensbuf), &sens_len) == 0;
	if (!ok)
		goto out;
	name[0] = 0x00;
	name[1] = 0x0b;
	sensbuf[0] = (unsigned char)((sens_len - 2) >> 8);
	sensbuf[1] = (unsigned char)((sens_len - 2) & 0xff);
	ok = EVP_Digest(pubbuf, pub_len, name + 2, NULL, EVP_sha256(), NULL) == 1;

	/* The seed, and the encrypted seed only the EK can open. */
	ok = ok && (EVP_PKEY_is_a(ek, "RSA") ? rsa_seed(ek, seed, &seed_len, ctx, &b->encrypted_seed)
					     : ecc_seed(ek, seed, &seed_len, ctx, &b->encrypted_seed));
	/* Inner protection: AES-128-CFB under KDFa(seed, "STORAGE", name). */
	ok = ok && kdfa(seed, seed_len, "STORAGE", name, sizeof(name), sym_key, 16) &&
	     (enc_sens = OPENSSL_malloc(sens_len)) && aes128_cfb(sym_key, sensbuf, sens_len, enc_sens);
	/* Outer integrity: HMAC(KDFa(seed, "INTEGRITY"), encSensitive ‖ name). */
	ok = ok && kdfa(seed, seed_len, "INTEGRITY", NULL, 0, hmac_key, 32) &&
	     (mac = EVP_MAC_fetch(NULL, "HMAC", NULL)) && (mctx = EVP_MAC_CTX_new(mac));
	if (ok) {
		OSSL_PARAM params[] = {
			OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, "SHA256", 0),
			OSSL_PARAM_construct_end()
		};
		size_t hl = 0;
		ok = EVP_MAC_init(mctx, hmac_key, 32, params) == 1 &&
		     EVP_MAC_update(mctx, enc_sens, sens_len) == 1 &&
		     EVP_MAC_update(mctx, name, sizeof(name)) == 1 &&
		     EVP_MAC_final(mctx, hmac, &hl, sizeof(hmac)) == 1 && hl == 32;
	}
	if (ok) {
		static const unsigned char size32[2] = { 0x00, 0x20 };
		ok = ctx->host->buf_append(&b->duplicate, size32, 2) == OCIKP_OK &&
		     ctx->host->buf_append(&b->duplicate, hmac, hmac_len) == OCIKP_OK &&
		     ctx->host->buf_append(&b->duplicate, enc_sens, sens_len) == OCIKP_OK &&
		     ctx->host->buf_append(&b->public_area, pubbuf, pub_len) == OCIKP_OK;
	}
	rc = ok ? OCIKP_OK : OCIKP_INTERNAL;
out:
	if (rc == OCIKP_INTERNAL)
		ocikp_errorf(ctx, "sealing to the EK failed (OpenSSL or marshalling error)");
	OPENSSL_cleanse(&sens, sizeof(sens));
	OPENSSL_cleanse(sensbuf, sizeof(sensbuf));
	OPENSSL_cleanse(seed, sizeof(seed));
	OPENSSL_cleanse(sym_key, sizeof(sym_key));
	OPENSSL_cleanse(hmac_key, sizeof(hmac_key));
	OPENSSL_cleanse(obfuscation, sizeof(obfuscation));
	OPENSSL_clear_free(enc_sens, sens_len);
	EVP_MAC_CTX_free(mctx);
	EVP_MAC_free(mac);
	return rc;
}
