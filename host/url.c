/*
 * Key URLs: which scheme a recipient string names, and query parameters.
 */
#include <string.h>
#include "ocikp.h"

/* [a-z][a-z0-9+.-]*: a scheme is a routing key and never part of a path. */
bool scheme_valid(const char *s, size_t len)
{
	size_t i;

	if (len == 0 || len > 32 || !(s[0] >= 'a' && s[0] <= 'z'))
		return false;
	for (i = 1; i < len; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '+' || c == '.' || c == '-'))
			return false;
	}
	return true;
}

/* CoCo's keyprovider takes "k=v::k=v" strings with no scheme (SPEC §5). */
static bool coco_params(const char *s)
{
	static const char *const keys[] = { "keypath=", "keyid=", "sample=", "algorithm=" };
	size_t i;

	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (strncmp(s, keys[i], strlen(keys[i])) == 0)
			return true;
	return false;
}

/* The routing scheme of a recipient or key URL.  OCIKP_BAD_INPUT if none. */
int key_scheme(const char *url, char *scheme, size_t size)
{
	const char *sep;
	size_t len;

	if (coco_params(url))
		url = "kbs://";
	sep = strstr(url, "://");
	if (!sep)
		return OCIKP_BAD_INPUT;
	len = (size_t)(sep - url);
	if (len >= size || !scheme_valid(url, len))
		return OCIKP_BAD_INPUT;
	memcpy(scheme, url, len);
	scheme[len] = '\0';
	return OCIKP_OK;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9') return c - '0';
	if (c >= 'a' && c <= 'f') return c - 'a' + 10;
	if (c >= 'A' && c <= 'F') return c - 'A' + 10;
	return -1;
}

/* Percent-decode [s, s+len) into out.  '+' stays '+': base64 values use it,
 * and Go's ParseQuery turning it into a space is a trap, not a feature. */
static int pct_decode(const char *s, size_t len, struct ocikp_buf *out)
{
	size_t i;
	unsigned char c;

	/* An empty value ("mode=") is still a string, never NULL (found by
	 * fuzz/tpm_url: the backends compare it with strcmp). */
	if (!buf_extend(out, 0))
		return OCIKP_INTERNAL;
	for (i = 0; i < len; i++) {
		c = (unsigned char)s[i];
		if (c == '%') {
			int hi, lo;
			if (i + 2 >= len)
				return OCIKP_BAD_INPUT;
			hi = hexval(s[i + 1]);
			lo = hexval(s[i + 2]);
			if (hi < 0 || lo < 0)
				return OCIKP_BAD_INPUT;
			c = (unsigned char)(hi << 4 | lo);
			i += 2;
		}
		if (buf_append(out, &c, 1) != OCIKP_OK)
			return OCIKP_INTERNAL;
	}
	return OCIKP_OK;
}

int url_query_get(struct ocikp_ctx *ctx, const char *url, const char *name,
		  struct ocikp_buf *out)
{
	const char *q = strchr(url, '?'), *end, *amp, *eq;
	size_t name_len = strlen(name);
	int rc;

	if (!q)
		return OCIKP_NOT_MINE;
	q++;
	end = strchr(q, '#');
	if (!end)
		end = q + strlen(q);
	while (q < end) {
		amp = memchr(q, '&', (size_t)(end - q));
		if (!amp)
			amp = end;
		eq = memchr(q, '=', (size_t)(amp - q));
		if (eq && (size_t)(eq - q) == name_len && memcmp(q, name, name_len) == 0) {
			rc = pct_decode(eq + 1, (size_t)(amp - eq - 1), out);
			if (rc == OCIKP_BAD_INPUT)
				err_set(ctx, "key URL parameter %s: bad percent-encoding", name);
			return rc;
		}
		q = amp + 1;
	}
	return OCIKP_NOT_MINE;
}
