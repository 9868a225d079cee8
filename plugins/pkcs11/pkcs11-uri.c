/*
 * RFC 7512 PKCS#11 URIs, parsed here rather than by p11-kit: its parser
 * keeps the last of two duplicates and lets unknown attributes through, and
 * a key URL that means two things must be refused, not guessed at.
 *
 *   pkcs11:path-attr=v;path-attr=v?query-attr=v&query-attr=v
 *
 * path: token manufacturer serial model library-manufacturer
 *       library-description library-version slot-description
 *       slot-manufacturer slot-id object id type
 * query: pin-source pin-value module-name module-path, and ocikp's own
 *       pub= (base64url DER SubjectPublicKeyInfo) and alg= (RSA-OAEP)
 */
#include <string.h>
#include <openssl/crypto.h>
#include "pkcs11.h"

static const struct {
	const char *name;
	int query;
	int binary;	/* may hold any byte (id) */
} attrs[P11_N_ATTRS] = {
	[P11_TOKEN] = { "token", 0, 0 },
	[P11_MANUFACTURER] = { "manufacturer", 0, 0 },
	[P11_SERIAL] = { "serial", 0, 0 },
	[P11_MODEL] = { "model", 0, 0 },
	[P11_LIB_MANUFACTURER] = { "library-manufacturer", 0, 0 },
	[P11_LIB_DESCRIPTION] = { "library-description", 0, 0 },
	[P11_LIB_VERSION] = { "library-version", 0, 0 },
	[P11_SLOT_DESCRIPTION] = { "slot-description", 0, 0 },
	[P11_SLOT_MANUFACTURER] = { "slot-manufacturer", 0, 0 },
	[P11_SLOT_ID] = { "slot-id", 0, 0 },
	[P11_OBJECT] = { "object", 0, 0 },
	[P11_ID] = { "id", 0, 1 },
	[P11_TYPE] = { "type", 0, 0 },
	[P11_PIN_SOURCE] = { "pin-source", 1, 0 },
	[P11_PIN_VALUE] = { "pin-value", 1, 0 },
	[P11_MODULE_NAME] = { "module-name", 1, 0 },
	[P11_MODULE_PATH] = { "module-path", 1, 0 },
	[P11_PUB] = { "pub", 1, 0 },
	[P11_ALG] = { "alg", 1, 0 },
};

#define SCHEME "pkcs11:"

const char *p11_uri_get(const struct p11_uri *u, enum p11_attr a)
{
	return u->has[a] ? (const char *)u->v[a].data : NULL;
}

void p11_uri_free(struct ocikp_ctx *ctx, struct p11_uri *u)
{
	size_t i;

	for (i = 0; i < P11_N_ATTRS; i++)
		ctx->host->buf_free(&u->v[i]);	/* cleansed: pin-value */
	ctx->host->buf_free(&u->key_url);
	memset(u, 0, sizeof(*u));
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Attribute values may use RFC 3986 unreserved characters, the few
 * sub-delims and pchar RFC 7512 allows, and %XX for anything else. */
static int plain_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       strchr("-._~:[]@!$'()*+,=/|", c) != NULL;
}

/* Percent-decode [s, s+n) into out; a NUL byte only where binary. */
static int decode(struct ocikp_ctx *ctx, const char *name, const char *s, size_t n, int binary,
		  struct ocikp_buf *out)
{
	unsigned char c;
	size_t i;

	if (!ctx->host->buf_extend(out, 0))
		return OCIKP_INTERNAL;
	for (i = 0; i < n; i++) {
		c = (unsigned char)s[i];
		if (c == '%') {
			if (i + 2 >= n || hexval(s[i + 1]) < 0 || hexval(s[i + 2]) < 0) {
				ocikp_errorf(ctx, "pkcs11 URI: %s: bad percent-encoding", name);
				return OCIKP_BAD_INPUT;
			}
			c = (unsigned char)(hexval(s[i + 1]) << 4 | hexval(s[i + 2]));
			i += 2;
			if (!c && !binary) {
				ocikp_errorf(ctx, "pkcs11 URI: %s: a NUL byte", name);
				return OCIKP_BAD_INPUT;
			}
		} else if (!plain_char(c)) {
			ocikp_errorf(ctx, "pkcs11 URI: %s: character 0x%02x must be percent-encoded",
				     name, c);
			return OCIKP_BAD_INPUT;
		}
		if (ctx->host->buf_append(out, &c, 1) != OCIKP_OK)
			return OCIKP_INTERNAL;
	}
	return OCIKP_OK;
}

/* One name=value of the path (query 0) or the query (1). */
static int attribute(struct ocikp_ctx *ctx, const char *s, size_t n, int query, struct p11_uri *u)
{
	const char *eq = memchr(s, '=', n);
	size_t len, i;

	if (!eq) {
		ocikp_errorf(ctx, "pkcs11 URI: an attribute without '=' in the %s",
			     query ? "query" : "path");
		return OCIKP_BAD_INPUT;
	}
	len = (size_t)(eq - s);
	for (i = 0; i < P11_N_ATTRS; i++)
		if (strlen(attrs[i].name) == len && !memcmp(attrs[i].name, s, len))
			break;
	if (i == P11_N_ATTRS || attrs[i].query != query) {
		char name[40];
		size_t k, m = len < sizeof(name) - 1 ? len : sizeof(name) - 1;

		for (k = 0; k < m; k++)
			name[k] = plain_char((unsigned char)s[k]) ? s[k] : '?';
		name[m] = '\0';
		ocikp_errorf(ctx, "pkcs11 URI: unknown %s attribute '%s'",
			     query ? "query" : "path", name);
		return OCIKP_BAD_INPUT;
	}
	if (u->has[i]) {
		ocikp_errorf(ctx, "pkcs11 URI: attribute '%s' given twice", attrs[i].name);
		return OCIKP_BAD_INPUT;
	}
	u->has[i] = 1;
	return decode(ctx, attrs[i].name, eq + 1, n - len - 1, attrs[i].binary, &u->v[i]);
}

/* Split [s, s+n) at sep and parse each part; empty parts refused. */
static int attributes(struct ocikp_ctx *ctx, const char *s, size_t n, char sep, int query,
		      struct p11_uri *u)
{
	const char *end = s + n, *next;
	int rc;

	while (s < end) {
		next = memchr(s, sep, (size_t)(end - s));
		if (!next)
			next = end;
		if (next == s || (next + 1 == end && *next == sep)) {
			ocikp_errorf(ctx, "pkcs11 URI: an empty attribute in the %s",
				     query ? "query" : "path");
			return OCIKP_BAD_INPUT;
		}
		if ((rc = attribute(ctx, s, (size_t)(next - s), query, u)) != OCIKP_OK)
			return rc;
		s = next + (next < end);
	}
	return OCIKP_OK;
}

/* type= names a key pair half (or a certificate, whose key pair it is). */
static int check_values(struct ocikp_ctx *ctx, const struct p11_uri *u)
{
	const char *t = p11_uri_get(u, P11_TYPE), *alg = p11_uri_get(u, P11_ALG);

	if (t && strcmp(t, "public") && strcmp(t, "private") && strcmp(t, "cert")) {
		ocikp_errorf(ctx, "pkcs11 URI: type must be public, private or cert for a key pair");
		return OCIKP_BAD_INPUT;
	}
	if (alg && strcmp(alg, "RSA-OAEP") && strcmp(alg, "RSA-OAEP-256")) {
		ocikp_errorf(ctx, "pkcs11 URI: alg must be RSA-OAEP-256 or RSA-OAEP");
		return OCIKP_BAD_INPUT;
	}
	if (u->has[P11_ID] && (!u->v[P11_ID].len || u->v[P11_ID].len > P11_ID_MAX)) {
		ocikp_errorf(ctx, "pkcs11 URI: id must be 1 to %d bytes", P11_ID_MAX);
		return OCIKP_BAD_INPUT;
	}
	if (u->has[P11_PIN_SOURCE] && u->has[P11_PIN_VALUE]) {
		ocikp_errorf(ctx, "pkcs11 URI: pin-source and pin-value together");
		return OCIKP_BAD_INPUT;
	}
	return OCIKP_OK;
}

/* key_url: the path as given, the query without what must not be
 * recorded (PINs) or only steers the wrap (pub=, alg=). */
static int strip(struct ocikp_ctx *ctx, const char *text, struct p11_uri *u)
{
	static const char *const drop[] = { "pin-source=", "pin-value=", "pub=", "alg=" };
	const struct ocikp_host *h = ctx->host;
	const char *q = strchr(text, '?'), *s, *amp;
	size_t i, n;
	int first = 1;

	if (h->buf_append(&u->key_url, text, q ? (size_t)(q - text) : strlen(text)))
		return OCIKP_INTERNAL;
	for (s = q ? q + 1 : NULL; s && *s; s = *amp ? amp + 1 : amp) {
		amp = s + strcspn(s, "&");
		n = (size_t)(amp - s);
		for (i = 0; i < sizeof(drop) / sizeof(drop[0]); i++)
			if (!strncmp(s, drop[i], strlen(drop[i])))
				break;
		if (i < sizeof(drop) / sizeof(drop[0]))
			continue;
		if (h->buf_append(&u->key_url, first ? "?" : "&", 1) ||
		    h->buf_append(&u->key_url, s, n))
			return OCIKP_INTERNAL;
		first = 0;
	}
	return OCIKP_OK;
}

int p11_uri_parse(struct ocikp_ctx *ctx, const char *text, struct p11_uri *u)
{
	const char *path, *q;
	int rc;

	memset(u, 0, sizeof(*u));
	if (strncmp(text, SCHEME, strlen(SCHEME))) {
		ocikp_errorf(ctx, "not a pkcs11: URI");
		return OCIKP_BAD_INPUT;
	}
	path = text + strlen(SCHEME);
	if (strchr(path, '#')) {
		ocikp_errorf(ctx, "pkcs11 URI: a fragment ('#') is not allowed");
		return OCIKP_BAD_INPUT;
	}
	q = strchr(path, '?');
	rc = attributes(ctx, path, q ? (size_t)(q - path) : strlen(path), ';', 0, u);
	if (rc == OCIKP_OK && q)
		rc = attributes(ctx, q + 1, strlen(q + 1), '&', 1, u);
	if (rc == OCIKP_OK)
		rc = check_values(ctx, u);
	if (rc == OCIKP_OK)
		rc = strip(ctx, text, u);
	return rc;
}
