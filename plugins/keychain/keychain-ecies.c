/*
 * ECIES over P-256, byte-compatible with ocicrypt-apple-se-keyprovider:
 * Z = x of ECDH(ephemeral, recipient); K = HKDF-SHA-256(Z, no salt, no
 * info, 32); AES-256-GCM (12-byte nonce ‖ ct ‖ tag, no AAD) of optsdata.
 *
 * The Go side takes Z through big.Int.Bytes(), which drops leading zero
 * bytes: about one wrap in 256 used a shorter Z.  We always wrap with all 32
 * bytes; on unwrap, when GCM fails and Z starts with zero, we try the
 * stripped Z once.
 */
#include <string.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include "keychain.h"

static EVP_PKEY *point_to_key(const unsigned char point[EC_POINT_LEN])
{
	EVP_PKEY_CTX *pctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
	EVP_PKEY *key = NULL;
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0),
		OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, (void *)point, EC_POINT_LEN),
		OSSL_PARAM_construct_end()
	};
	EVP_PKEY_CTX *check = NULL;

	if (point[0] != 0x04 || !pctx || EVP_PKEY_fromdata_init(pctx) != 1 ||
	    EVP_PKEY_fromdata(pctx, &key, EVP_PKEY_PUBLIC_KEY, params) != 1)
		goto out;
	/* fromdata alone does not prove the point is on the curve */
	check = EVP_PKEY_CTX_new_from_pkey(NULL, key, NULL);
	if (!check || EVP_PKEY_public_check(check) != 1) {
		EVP_PKEY_free(key);
		key = NULL;
	}
out:
	EVP_PKEY_CTX_free(check);
	EVP_PKEY_CTX_free(pctx);
	return key;
}

int ec_public_point(void *private_key, unsigned char point[EC_POINT_LEN])
{
	size_t len = 0;

	return EVP_PKEY_get_octet_string_param(private_key, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY,
					       point, EC_POINT_LEN, &len) == 1 && len == EC_POINT_LEN
	       ? OCIKP_OK : OCIKP_INTERNAL;
}

static int ecdh(EVP_PKEY *mine, EVP_PKEY *peer, unsigned char z[32])
{
	EVP_PKEY_CTX *d = EVP_PKEY_CTX_new_from_pkey(NULL, mine, NULL);
	size_t len = 32;
	int ok = d && EVP_PKEY_derive_init(d) == 1 && EVP_PKEY_derive_set_peer(d, peer) == 1 &&
		 EVP_PKEY_derive(d, z, &len) == 1 && len == 32;

	EVP_PKEY_CTX_free(d);
	return ok ? OCIKP_OK : OCIKP_INTERNAL;
}

static int hkdf(const unsigned char *z, size_t z_len, unsigned char key[32])
{
	EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
	EVP_KDF_CTX *k = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, "SHA256", 0),
		OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)z, z_len),
		OSSL_PARAM_construct_end()
	};
	int ok = k && EVP_KDF_derive(k, key, 32, params) == 1;

	EVP_KDF_CTX_free(k);
	EVP_KDF_free(kdf);
	return ok ? OCIKP_OK : OCIKP_INTERNAL;
}

int ecies_wrap(struct ocikp_ctx *ctx, const unsigned char recipient[EC_POINT_LEN],
	       const struct ocikp_buf *plain, unsigned char eph_out[EC_POINT_LEN],
	       struct ocikp_buf *sealed)
{
	EVP_PKEY *peer = point_to_key(recipient), *eph = NULL;
	unsigned char z[32], key[32];
	int rc = OCIKP_INTERNAL;

	if (!peer) {
		ocikp_errorf(ctx, "pub: not a P-256 point on the curve");
		return OCIKP_BAD_INPUT;
	}
	eph = EVP_EC_gen("P-256");
	if (eph && ecdh(eph, peer, z) == OCIKP_OK && hkdf(z, 32, key) == OCIKP_OK &&
	    ec_public_point(eph, eph_out) == OCIKP_OK)
		rc = ctx->host->aes256gcm_seal(ctx, key, plain->data, plain->len, sealed);
	else
		ocikp_errorf(ctx, "ECDH with the recipient key failed");
	OPENSSL_cleanse(z, sizeof(z));
	OPENSSL_cleanse(key, sizeof(key));
	EVP_PKEY_free(eph);
	EVP_PKEY_free(peer);
	return rc;
}

int ecies_unwrap(struct ocikp_ctx *ctx, void *private_key, const unsigned char eph[EC_POINT_LEN],
		 const struct ocikp_buf *sealed, struct ocikp_buf *plain)
{
	EVP_PKEY *peer = point_to_key(eph);
	unsigned char z[32], key[32];
	size_t skip = 0;
	int rc;

	if (!peer) {
		ocikp_errorf(ctx, "annotation: EphPub is not a P-256 point on the curve");
		return OCIKP_BAD_INPUT;
	}
	rc = ecdh(private_key, peer, z);
	if (rc == OCIKP_OK)
		rc = hkdf(z, 32, key);
	if (rc == OCIKP_OK)
		rc = ctx->host->aes256gcm_open(ctx, key, sealed->data, sealed->len, plain);
	/* The Go peer's big.Int.Bytes() quirk: retry once with Z unpadded. */
	while (rc == OCIKP_WRONG_KEY && skip < 32 && z[skip] == 0)
		skip++;
	if (rc == OCIKP_WRONG_KEY && skip > 0 && skip < 32) {
		rc = hkdf(z + skip, 32 - skip, key);
		if (rc == OCIKP_OK)
			rc = ctx->host->aes256gcm_open(ctx, key, sealed->data, sealed->len, plain);
	}
	if (rc == OCIKP_WRONG_KEY)
		ocikp_errorf(ctx, "wrong key: this key does not open WrappedKey");
	else if (rc == OCIKP_INTERNAL)
		ocikp_errorf(ctx, "ECDH failed");
	OPENSSL_cleanse(z, sizeof(z));
	OPENSSL_cleanse(key, sizeof(key));
	EVP_PKEY_free(peer);
	return rc;
}
