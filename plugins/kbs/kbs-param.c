/*
 * What a wrap request names (SPEC.md §5): CoCo's parameter strings
 * "k=v::k=v" (coco_keyprovider enc_mods/mod.rs) and our key URLs
 * "kbs:///r/t/g?keypath=...&algorithm=...", and the kids written for both.
 *
 * Stricter than upstream on purpose: a field without '=', an unknown key or
 * a repeated one is refused rather than dropped, so a typo cannot turn into
 * a random KEK or a default algorithm nobody asked for.
 */
#include <stdio.h>
#include <string.h>
#include <openssl/rand.h>
#include "kbs.h"

#define SEGMENT_FIRST "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"
#define SEGMENT_CHARS SEGMENT_FIRST "."
#define HOST_CHARS "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.-"
/* A KBS plugin name in kbs+<plugin>://: URL scheme characters, lower case. */
#define PLUGIN_CHARS "abcdefghijklmnopqrstuvwxyz0123456789.-"
#define PLUGIN_MAX 24
#define SAMPLE_KID "kbs:///default/test-key/1"	/* coco_keyprovider's, for sample=true */

enum field { F_KEYPATH, F_KEYID, F_ALGORITHM, F_SAMPLE, F_COUNT };
static const char *const field_names[F_COUNT] = { "keypath", "keyid", "algorithm", "sample" };

int kbs_param_is_coco(const char *param)
{
	size_t n = strspn(param, "abcdefghijklmnopqrstuvwxyz0123456789+.-");

	/* A URL starts with its scheme; a parameter string with "key=". */
	return !(n > 0 && strncmp(param + n, "://", 3) == 0);
}

/* One path segment [A-Za-z0-9_-][A-Za-z0-9_.-]*; its length, 0 if none. */
static size_t segment(const char *s)
{
	if (!*s || !strchr(SEGMENT_FIRST, *s))
		return 0;
	return 1 + strspn(s + 1, SEGMENT_CHARS);
}

/* "[HOST][:PORT]" up to the next '/': a DNS name or IPv4 address, or an
 * IPv6 address in brackets; a port 1-65535.  Its length, 0 if malformed. */
static size_t authority(const char *s)
{
	size_t n, p;
	unsigned long port = 0;

	if (*s == '[') {
		n = strspn(s + 1, "0123456789abcdefABCDEF:.");
		if (n == 0 || s[1 + n] != ']')
			return 0;
		n += 2;
	} else {
		n = strspn(s, HOST_CHARS);
	}
	if (n == 0)
		return 0;
	if (s[n] == ':') {
		p = strspn(s + n + 1, "0123456789");
		if (p == 0 || p > 5 || s[n + 1] == '0')
			return 0;
		sscanf(s + n + 1, "%5lu", &port);
		if (port > 65535)
			return 0;
		n += 1 + p;
	}
	return s[n] == '/' ? n : 0;
}

/* "/r/t/g" (exactly three segments) ending at '\0' or '?'; its length. */
static size_t resource_path(const char *s)
{
	size_t n = 0, seg;
	int i;

	for (i = 0; i < 3; i++) {
		if (s[n] != '/')
			return 0;
		seg = segment(s + n + 1);
		if (!seg)
			return 0;
		n += 1 + seg;
	}
	return s[n] == '\0' || s[n] == '?' ? n : 0;
}

/* A query kept in a kid: printable ASCII, no space or fragment. */
static int query_ok(const char *q)
{
	for (; *q; q++)
		if (*q <= ' ' || *q > '~' || *q == '#')
			return 0;
	return 1;
}

/* "kbs://" or "kbs+<plugin>://" (guest-components resource_uri): the length
 * of that prefix, 0 if neither.  *plugin: NULL for kbs:// and for
 * kbs+resource://, the default plugin, which every guest reads as kbs://. */
static size_t kid_scheme(const char *in, const char **plugin, size_t *plugin_len)
{
	size_t n;

	*plugin = NULL;
	*plugin_len = 0;
	if (strncmp(in, "kbs://", 6) == 0)
		return 6;
	if (strncmp(in, "kbs+", 4) != 0)
		return 0;
	n = strspn(in + 4, PLUGIN_CHARS);
	if (n == 0 || n > PLUGIN_MAX || strncmp(in + 4 + n, "://", 3) != 0)
		return 0;
	if (n != 8 || strncmp(in + 4, "resource", 8) != 0) {
		*plugin = in + 4;
		*plugin_len = n;
	}
	return 4 + n + 3;
}

int kbs_kid_normalize(struct ocikp_ctx *ctx, const char *in, char out[KBS_KID_MAX],
		      const char **path)
{
	const char *auth = "", *rest, *plugin;
	size_t auth_len = 0, path_len, kid_len, plugin_len, scheme_len;
	int n;

	if ((scheme_len = kid_scheme(in, &plugin, &plugin_len)) != 0) {
		rest = in + scheme_len;
		if (*rest != '/') {
			auth = rest;
			auth_len = authority(rest);
			if (!auth_len)
				goto bad;
			rest += auth_len;
		}
	} else if (in[0] == '/') {
		rest = in;				/* upstream's bare "/r/t/g" */
	} else if (!strstr(in, "://")) {
		auth = in;				/* upstream's bare "host/r/t/g" */
		auth_len = authority(in);
		if (!auth_len)
			goto bad;
		rest = in + auth_len;
	} else {
		goto bad;
	}
	path_len = resource_path(rest);
	if (!path_len || (rest[path_len] == '?' && !query_ok(rest + path_len + 1)))
		goto bad;
	n = snprintf(out, KBS_KID_MAX, "kbs%s%.*s://%.*s%s", plugin ? "+" : "", (int)plugin_len,
		     plugin ? plugin : "", (int)auth_len, auth, rest);
	if (n < 0 || n >= KBS_KID_MAX)
		goto bad;
	kid_len = (size_t)n;
	if (rest[path_len] == '\0') {
		*path = out + kid_len - (path_len - 1);
		return OCIKP_OK;
	}
	/* With a query, a NUL-terminated copy of the path follows the kid. */
	if (kid_len + 1 + path_len > KBS_KID_MAX)
		goto bad;
	memcpy(out + kid_len + 1, rest + 1, path_len - 1);
	out[kid_len + path_len] = '\0';
	*path = out + kid_len + 1;
	return OCIKP_OK;
bad:
	ocikp_errorf(ctx, "key id must be kbs:///REPO/TYPE/TAG or kbs://HOST[:PORT]/REPO/TYPE/TAG "
		     "(or kbs+PLUGIN://...; segments [A-Za-z0-9_-][A-Za-z0-9_.-]*, at most %d "
		     "characters)", KBS_KID_MAX - 1);
	return OCIKP_BAD_INPUT;
}

/* kbs:///default/image-kek/<uuid4>: upstream writes this without the
 * scheme, which the guest cannot parse. */
static int default_kid(struct ocikp_ctx *ctx, char kid[KBS_KID_MAX])
{
	unsigned char u[16];

	if (RAND_bytes(u, sizeof(u)) != 1) {
		ocikp_errorf(ctx, "no random bytes for a key id");
		return OCIKP_INTERNAL;
	}
	u[6] = (u[6] & 0x0f) | 0x40;	/* version 4 */
	u[8] = (u[8] & 0x3f) | 0x80;	/* RFC 4122 variant */
	snprintf(kid, KBS_KID_MAX, "kbs:///default/image-kek/%02x%02x%02x%02x-%02x%02x-%02x%02x-"
		 "%02x%02x-%02x%02x%02x%02x%02x%02x", u[0], u[1], u[2], u[3], u[4], u[5], u[6],
		 u[7], u[8], u[9], u[10], u[11], u[12], u[13], u[14], u[15]);
	return OCIKP_OK;
}

static int set_field(struct ocikp_ctx *ctx, struct kbs_wrap_req *r, enum field f,
		     const char *v, size_t len)
{
	const char *path;
	char tmp[KBS_KID_MAX];

	switch (f) {
	case F_KEYPATH:
		if (len == 0 || len >= sizeof(r->keypath) || memchr(v, '\0', len)) {
			ocikp_errorf(ctx, "kbs parameter keypath: empty or too long");
			return OCIKP_BAD_INPUT;
		}
		memcpy(r->keypath, v, len);
		r->keypath[len] = '\0';
		return OCIKP_OK;
	case F_KEYID:
		if (len >= sizeof(tmp)) {
			ocikp_errorf(ctx, "kbs parameter keyid: too long");
			return OCIKP_BAD_INPUT;
		}
		memcpy(tmp, v, len);
		tmp[len] = '\0';
		r->kid_given = 1;
		return kbs_kid_normalize(ctx, tmp, r->kid, &path);
	case F_ALGORITHM:
		if (len == 7 && memcmp(v, "A256GCM", 7) == 0)
			r->alg = KBS_A256GCM;
		else if (len == 7 && memcmp(v, "A256CTR", 7) == 0)
			r->alg = KBS_A256CTR;
		else {
			ocikp_errorf(ctx, "kbs parameter algorithm: must be A256GCM or A256CTR");
			return OCIKP_BAD_INPUT;
		}
		return OCIKP_OK;
	case F_SAMPLE:
		if (len == 4 && memcmp(v, "true", 4) == 0)
			r->sample = 1;
		else if (len == 5 && memcmp(v, "false", 5) == 0)
			r->sample = 0;
		else {
			ocikp_errorf(ctx, "kbs parameter sample: must be true or false");
			return OCIKP_BAD_INPUT;
		}
		return OCIKP_OK;
	default:
		return OCIKP_INTERNAL;
	}
}

static int field_of(struct ocikp_ctx *ctx, const char *k, size_t len, unsigned *seen,
		    enum field *out)
{
	unsigned i;

	for (i = 0; i < F_COUNT; i++)
		if (strlen(field_names[i]) == len && memcmp(k, field_names[i], len) == 0)
			break;
	if (i == F_COUNT) {
		ocikp_errorf(ctx, "kbs parameter '%.*s': unknown (keypath, keyid, algorithm, sample)",
			     (int)(len > 32 ? 32 : len), k);
		return OCIKP_BAD_INPUT;
	}
	if (*seen & (1u << i)) {
		ocikp_errorf(ctx, "kbs parameter %s: given twice", field_names[i]);
		return OCIKP_BAD_INPUT;
	}
	*seen |= 1u << i;
	*out = (enum field)i;
	return OCIKP_OK;
}

/* "keypath=/k::keyid=...::algorithm=A256GCM::sample=true" */
static int parse_coco(struct ocikp_ctx *ctx, const char *s, struct kbs_wrap_req *r)
{
	unsigned seen = 0;
	const char *end, *eq;
	enum field f;
	size_t len;
	int rc;

	for (;;) {
		end = strstr(s, "::");
		len = end ? (size_t)(end - s) : strlen(s);
		eq = memchr(s, '=', len);
		if (!eq) {
			ocikp_errorf(ctx, "kbs parameter '%.*s': expected key=value (fields joined by '::')",
				     (int)(len > 32 ? 32 : len), s);
			return OCIKP_BAD_INPUT;
		}
		rc = field_of(ctx, s, (size_t)(eq - s), &seen, &f);
		if (rc == OCIKP_OK)
			rc = set_field(ctx, r, f, eq + 1, len - (size_t)(eq - s) - 1);
		if (rc != OCIKP_OK || !end)
			return rc;
		s = end + 2;
	}
}

/* "kbs:///r/t/g?keypath=/k&algorithm=A256CTR": the kid is the URL without
 * its query, whose keys are keypath, algorithm and sample. */
static int parse_url(struct ocikp_ctx *ctx, const char *url, struct kbs_wrap_req *r)
{
	const struct ocikp_host *h = ctx->host;
	const char *q = strchr(url, '?'), *amp, *eq, *path;
	char base[KBS_KID_MAX];
	unsigned seen = 0;
	enum field f;
	size_t len;
	int rc;

	len = q ? (size_t)(q - url) : strlen(url);
	if (len >= sizeof(base)) {
		ocikp_errorf(ctx, "kbs key URL: the key id is longer than %d characters", KBS_KID_MAX - 1);
		return OCIKP_BAD_INPUT;
	}
	memcpy(base, url, len);
	base[len] = '\0';
	rc = kbs_kid_normalize(ctx, base, r->kid, &path);
	if (rc != OCIKP_OK || strncmp(base, "kbs", 3) != 0) {
		if (rc == OCIKP_OK)
			ocikp_errorf(ctx, "key URL must start with kbs://");
		return OCIKP_BAD_INPUT;
	}
	r->kid_given = 1;
	if (!q)
		return OCIKP_OK;
	if (strchr(q, '#')) {
		ocikp_errorf(ctx, "kbs key URL: no fragment allowed");
		return OCIKP_BAD_INPUT;
	}
	for (q++; rc == OCIKP_OK; q = amp + 1) {
		struct ocikp_buf v = { 0 };

		amp = strchr(q, '&');
		len = amp ? (size_t)(amp - q) : strlen(q);
		eq = memchr(q, '=', len);
		if (!eq) {
			ocikp_errorf(ctx, "kbs key URL parameter '%.*s': expected key=value",
				     (int)(len > 32 ? 32 : len), q);
			return OCIKP_BAD_INPUT;
		}
		rc = field_of(ctx, q, (size_t)(eq - q), &seen, &f);
		if (rc == OCIKP_OK && f == F_KEYID) {
			ocikp_errorf(ctx, "kbs key URL: the URL is the key id, no keyid parameter");
			rc = OCIKP_BAD_INPUT;
		}
		/* Decoded by the host: the first occurrence is this one, as
		 * repeats were refused above. */
		if (rc == OCIKP_OK) {
			rc = h->url_query_get(ctx, url, field_names[f], &v);
			if (rc == OCIKP_NOT_MINE)
				rc = OCIKP_INTERNAL;
		}
		if (rc == OCIKP_OK)
			rc = set_field(ctx, r, f, (const char *)v.data, v.len);
		h->buf_free(&v);
		if (!amp)
			break;
	}
	return rc;
}

int kbs_param_parse(struct ocikp_ctx *ctx, const char *param, struct kbs_wrap_req *out)
{
	int rc;

	memset(out, 0, sizeof(*out));
	out->alg = KBS_A256GCM;
	if (kbs_param_is_coco(param))
		rc = parse_coco(ctx, param, out);
	else
		rc = parse_url(ctx, param, out);
	if (rc != OCIKP_OK)
		return rc;
	if (out->sample && out->keypath[0]) {
		ocikp_errorf(ctx, "kbs parameters: sample=true and keypath exclude each other");
		return OCIKP_BAD_INPUT;
	}
	/* Older guests (resource_uri before kbs+<plugin>) refuse such a kid:
	 * the image would open on some guests only. */
	if (strncmp(out->kid, "kbs+", 4) == 0) {
		ocikp_errorf(ctx, "kbs key id %.100s: only the KBS's resource plugin is written "
			     "(as kbs://...), the kid form every CoCo guest parses", out->kid);
		return OCIKP_BAD_INPUT;
	}
	if (!out->kid_given) {
		if (out->sample)
			snprintf(out->kid, sizeof(out->kid), "%s", SAMPLE_KID);
		else
			rc = default_kid(ctx, out->kid);
	}
	return rc;
}
