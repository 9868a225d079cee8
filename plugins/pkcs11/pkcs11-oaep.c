/*
 * OAEP decoding (RFC 8017 §7.1.2) of a raw RSA result, for tokens that do
 * RSA but refuse OAEP with SHA-256 (SoftHSM 2.6: CKR_MECHANISM_PARAM_INVALID
 * or CKR_ARGUMENTS_BAD).  OpenSSL's RSA_padding_check_PKCS1_OAEP_mgf1 is
 * constant-time and has no EVP replacement for a result computed
 * elsewhere; OpenSSL 3 deprecates it, and this file alone says it knows.
 */
#define OPENSSL_SUPPRESS_DEPRECATED 1
#include <limits.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <ocikp/backend.h>

int p11_oaep_decode(const char *md, const unsigned char *em, size_t k, unsigned char *out,
		    size_t *outlen);

/* em is k bytes with its leading zero byte; OCIKP_WRONG_KEY when it does
 * not decode (another key, or altered), never saying where it failed. */
int p11_oaep_decode(const char *md, const unsigned char *em, size_t k, unsigned char *out,
		    size_t *outlen)
{
	EVP_MD *h = EVP_MD_fetch(NULL, md, NULL);
	int n = -1;

	if (h && k >= 2 && k <= INT_MAX && *outlen <= INT_MAX)
		/* as OpenSSL's own RSA decryption calls it: the whole k bytes,
		 * the leading zero checked in constant time too */
		n = RSA_padding_check_PKCS1_OAEP_mgf1(out, (int)*outlen, em, (int)k, (int)k, NULL,
						      0, h, h);
	EVP_MD_free(h);
	ERR_clear_error();
	if (n < 0)
		return OCIKP_WRONG_KEY;
	*outlen = (size_t)n;
	return OCIKP_OK;
}
