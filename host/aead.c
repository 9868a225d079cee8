/*
 * AES-256-GCM with the nonce prefixed and the tag appended: the wrapped_key
 * layout of the sample, tpm and apple-se formats, kept in one place.
 */
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include "ocikp.h"

#define GCM_NONCE 12
#define GCM_TAG 16

int aes256gcm_seal(struct ocikp_ctx *ctx, const unsigned char key[32], const void *plain,
		   size_t len, struct ocikp_buf *out)
{
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	unsigned char *nonce, *ct, *tag;
	int n = 0, rc = OCIKP_INTERNAL;
	size_t start = out->len;

	if (!c || len > INT32_MAX || !(nonce = buf_extend(out, GCM_NONCE + len + GCM_TAG)))
		goto out;
	ct = nonce + GCM_NONCE;
	tag = ct + len;
	if (RAND_bytes(nonce, GCM_NONCE) != 1 ||
	    EVP_EncryptInit_ex(c, EVP_aes_256_gcm(), NULL, key, nonce) != 1 ||
	    EVP_EncryptUpdate(c, ct, &n, plain, (int)len) != 1 ||
	    EVP_EncryptFinal_ex(c, ct + n, &n) != 1 ||
	    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, GCM_TAG, tag) != 1) {
		OPENSSL_cleanse(out->data + start, out->len - start);
		out->len = start;
		goto out;
	}
	rc = OCIKP_OK;
out:
	if (rc != OCIKP_OK)
		err_set(ctx, "AES-256-GCM encryption failed");
	EVP_CIPHER_CTX_free(c);
	return rc;
}

int aes256gcm_open(struct ocikp_ctx *ctx, const unsigned char key[32], const void *sealed,
		   size_t len, struct ocikp_buf *out)
{
	const unsigned char *nonce = sealed, *ct;
	EVP_CIPHER_CTX *c;
	unsigned char *plain;
	size_t ct_len, start = out->len;
	int n = 0, rc = OCIKP_INTERNAL;

	if (len < GCM_NONCE + GCM_TAG + 1 || len > INT32_MAX) {
		err_set(ctx, "wrapped key too short (%zu bytes)", len);
		return OCIKP_BAD_INPUT;
	}
	/* Only now: an empty input may be a NULL pointer (found by fuzzing). */
	ct = nonce + GCM_NONCE;
	ct_len = len - GCM_NONCE - GCM_TAG;
	c = EVP_CIPHER_CTX_new();
	if (!c || !(plain = buf_extend(out, ct_len)))
		goto out;
	if (EVP_DecryptInit_ex(c, EVP_aes_256_gcm(), NULL, key, nonce) != 1 ||
	    EVP_DecryptUpdate(c, plain, &n, ct, (int)ct_len) != 1 ||
	    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, GCM_TAG, (void *)(ct + ct_len)) != 1)
		goto undo;
	if (EVP_DecryptFinal_ex(c, plain + n, &n) != 1) {
		rc = OCIKP_WRONG_KEY;
		goto undo;
	}
	rc = OCIKP_OK;
	goto out;
undo:
	OPENSSL_cleanse(out->data + start, out->len - start);
	out->len = start;
	out->data[start] = '\0';
out:
	if (rc == OCIKP_INTERNAL)
		err_set(ctx, "AES-256-GCM decryption failed");
	EVP_CIPHER_CTX_free(c);
	return rc;
}
