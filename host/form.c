/*
 * application/x-www-form-urlencoded, for OAuth token requests (RFC 6749
 * §4 and appendix B): name=value pairs joined by '&'.
 *
 * Only the RFC 3986 unreserved characters (ALPHA DIGIT - . _ ~) stay as
 * they are; every other byte, space included, becomes %XX with uppercase
 * hex.  A space could be written '+', but that reading of '+' belongs to
 * form decoding only: a server or proxy that percent-decodes per RFC 3986
 * would see a literal '+'.  %20 means a space to every decoder, so the
 * output has one meaning everywhere.
 */
#include <string.h>
#include "ocikp.h"

static bool unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '.' || c == '_' || c == '~';
}

/* Bytes that [s, s+len) takes once encoded. */
static size_t encoded_len(const unsigned char *s, size_t len)
{
	size_t i, n = 0;

	for (i = 0; i < len; i++)
		n += unreserved(s[i]) ? 1 : 3;
	return n;
}

static unsigned char *encode(unsigned char *dst, const unsigned char *s, size_t len)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t i;

	for (i = 0; i < len; i++) {
		if (unreserved(s[i])) {
			*dst++ = s[i];
		} else {
			*dst++ = '%';
			*dst++ = (unsigned char)hex[s[i] >> 4];
			*dst++ = (unsigned char)hex[s[i] & 0x0f];
		}
	}
	return dst;
}

int form_append(struct ocikp_buf *out, const char *name, const void *value, size_t len)
{
	const unsigned char *n = (const unsigned char *)name, *v = value;
	size_t nlen, total;
	bool amp = out->len > 0;
	unsigned char *p;

	if (!name || (!value && len))
		return OCIKP_INTERNAL;
	nlen = strlen(name);
	/* Each part is at most 3x its input, and the input is in memory. */
	if (nlen > SIZE_MAX / 4 || len > SIZE_MAX / 4)
		return OCIKP_INTERNAL;
	total = amp + encoded_len(n, nlen) + 1 + encoded_len(v, len);
	p = buf_extend(out, total);	/* NUL-terminated, even when empty */
	if (!p)
		return OCIKP_INTERNAL;
	if (amp)
		*p++ = '&';
	p = encode(p, n, nlen);
	*p++ = '=';
	encode(p, v, len);
	return OCIKP_OK;
}
