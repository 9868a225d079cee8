/*
 * Strict base64 over OpenSSL's block codec.  EVP_DecodeBlock alone accepts
 * whitespace and counts padding as data, so the alphabet, length and padding
 * are checked here first: anything Go's encoding/base64 (StdEncoding or
 * URLEncoding) would reject is rejected.
 */
#include <string.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include "ocikp.h"

static bool b64_char_ok(unsigned char c, int url)
{
	if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))
		return true;
	return url ? (c == '-' || c == '_') : (c == '+' || c == '/');
}

int b64_decode(struct ocikp_ctx *ctx, const char *what, const char *in, size_t len,
	       int url, struct ocikp_buf *out)
{
	size_t pad = 0, i, n;
	unsigned char *dst;
	char *std = NULL;
	int rc = OCIKP_BAD_INPUT;

	if (len % 4 != 0)
		goto bad;
	if (len >= 1 && in[len - 1] == '=')
		pad++;
	if (len >= 2 && in[len - 2] == '=')
		pad++;
	for (i = 0; i < len - pad; i++)
		if (!b64_char_ok((unsigned char)in[i], url))
			goto bad;
	if (len == 0)
		return OCIKP_OK;
	if (url) {	/* OpenSSL knows only the standard alphabet */
		std = secure_strndup(in, len);
		if (!std)
			return OCIKP_INTERNAL;
		for (i = 0; i < len; i++)
			std[i] = std[i] == '-' ? '+' : std[i] == '_' ? '/' : std[i];
		in = std;
	}
	n = len / 4 * 3;
	dst = buf_extend(out, n);
	if (!dst) {
		rc = OCIKP_INTERNAL;
		goto done;
	}
	if (EVP_DecodeBlock(dst, (const unsigned char *)in, (int)len) != (int)n) {
		OPENSSL_cleanse(dst, n);
		out->len -= n;
		goto bad;
	}
	OPENSSL_cleanse(dst + n - pad, pad);
	out->len -= pad;
	out->data[out->len] = '\0';
	rc = OCIKP_OK;
	goto done;
bad:
	if (ctx)
		err_set(ctx, "%s: invalid base64", what);
done:
	secure_free(std);
	return rc;
}

int b64_encode(const void *data, size_t len, int url, struct ocikp_buf *out)
{
	size_t n = (len + 2) / 3 * 4, i;
	unsigned char *dst;

	if (len > (size_t)INT32_MAX / 2)
		return OCIKP_INTERNAL;
	dst = buf_extend(out, n);
	if (!dst)
		return OCIKP_INTERNAL;
	EVP_EncodeBlock(dst, data, (int)len);
	if (url)
		for (i = 0; i < n; i++)
			dst[i] = dst[i] == '+' ? '-' : dst[i] == '/' ? '_' : dst[i];
	return OCIKP_OK;
}
