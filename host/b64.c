/*
 * Strict base64 over OpenSSL's block codec.  EVP_DecodeBlock alone accepts
 * whitespace and counts padding as data, so the alphabet, length and padding
 * are checked here first: anything Go's encoding/base64 would reject is
 * rejected (StdEncoding or URLEncoding; with OCIKP_B64_NOPAD, RawStdEncoding
 * or RawURLEncoding in Strict mode).
 */
#include <string.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include "ocikp.h"

#define B64_FLAGS (OCIKP_B64_URL | OCIKP_B64_NOPAD)

/* The 6-bit value of c in the chosen alphabet, or -1. */
static int b64_value(unsigned char c, bool url)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == (url ? '-' : '+'))
		return 62;
	if (c == (url ? '_' : '/'))
		return 63;
	return -1;
}

/* The number of '=' at the end of a padded input, or -1 if its length or
 * alphabet is wrong.  Without padding (nopad), the count is what would have
 * been there, and a tail that cannot end a quantum (one character), an '='
 * or non-zero unused bits are refused, as Go's Strict mode does: otherwise
 * two texts would decode to the same bytes. */
static int b64_check(const char *in, size_t len, int flags)
{
	bool url = flags & OCIKP_B64_URL;
	size_t i, data = len;
	int pad = 0, last;

	if (flags & OCIKP_B64_NOPAD) {
		if (len % 4 == 1)
			return -1;
		pad = (int)((4 - len % 4) % 4);
	} else {
		if (len % 4 != 0)
			return -1;
		if (len >= 1 && in[len - 1] == '=')
			pad++;
		if (len >= 2 && in[len - 2] == '=')
			pad++;
		data = len - (size_t)pad;
	}
	for (i = 0; i < data; i++)
		if (b64_value((unsigned char)in[i], url) < 0)
			return -1;
	if ((flags & OCIKP_B64_NOPAD) && pad) {
		last = b64_value((unsigned char)in[len - 1], url);
		if (last & (pad == 2 ? 0x0f : 0x03))
			return -1;
	}
	return pad;
}

/* The input as OpenSSL wants it: standard alphabet, padded. */
static char *b64_normalize(const char *in, size_t len, int pad, bool url)
{
	char *std = secure_malloc(len + (size_t)pad + 1);
	size_t i;

	if (!std)
		return NULL;
	for (i = 0; i < len; i++)
		std[i] = !url ? in[i] : in[i] == '-' ? '+' : in[i] == '_' ? '/' : in[i];
	memset(std + len, '=', (size_t)pad);
	std[len + (size_t)pad] = '\0';
	return std;
}

int b64_decode(struct ocikp_ctx *ctx, const char *what, const char *in, size_t len,
	       int flags, struct ocikp_buf *out)
{
	size_t n, full;
	unsigned char *dst;
	char *std = NULL;
	int pad, rc = OCIKP_BAD_INPUT;

	if (flags & ~B64_FLAGS) {
		err_set(ctx, "%s: unknown base64 flags %#x", what, (unsigned)flags);
		return OCIKP_INTERNAL;
	}
	/* Even an empty result is a C string (backend.h: data[len] == 0). */
	if (!buf_extend(out, 0))
		return OCIKP_INTERNAL;
	pad = b64_check(in, len, flags);
	if (pad < 0)
		goto bad;
	if (len == 0)
		return OCIKP_OK;
	full = len;
	if ((flags & OCIKP_B64_URL) || (flags & OCIKP_B64_NOPAD)) {
		std = b64_normalize(in, len, (flags & OCIKP_B64_NOPAD) ? pad : 0,
				    flags & OCIKP_B64_URL);
		if (!std)
			return OCIKP_INTERNAL;
		in = std;
		if (flags & OCIKP_B64_NOPAD)
			full = len + (size_t)pad;
	}
	n = full / 4 * 3;
	dst = buf_extend(out, n);
	if (!dst) {
		rc = OCIKP_INTERNAL;
		goto done;
	}
	if (EVP_DecodeBlock(dst, (const unsigned char *)in, (int)full) != (int)n) {
		OPENSSL_cleanse(dst, n);
		out->len -= n;
		goto bad;
	}
	OPENSSL_cleanse(dst + n - pad, (size_t)pad);
	out->len -= (size_t)pad;
	out->data[out->len] = '\0';
	rc = OCIKP_OK;
	goto done;
bad:
	err_set(ctx, "%s: invalid base64", what);
done:
	secure_free(std);
	return rc;
}

int b64_encode(const void *data, size_t len, int flags, struct ocikp_buf *out)
{
	size_t n = (len + 2) / 3 * 4, i;
	unsigned char *dst;

	if (flags & ~B64_FLAGS || len > (size_t)INT32_MAX / 2)
		return OCIKP_INTERNAL;
	dst = buf_extend(out, n);	/* non-NULL even for len 0 */
	if (!dst)
		return OCIKP_INTERNAL;
	EVP_EncodeBlock(dst, data, (int)len);
	if (flags & OCIKP_B64_URL)
		for (i = 0; i < n; i++)
			dst[i] = dst[i] == '+' ? '-' : dst[i] == '/' ? '_' : dst[i];
	if (flags & OCIKP_B64_NOPAD)
		while (n > 0 && dst[n - 1] == '=') {
			dst[--n] = '\0';
			out->len--;
		}
	return OCIKP_OK;
}
