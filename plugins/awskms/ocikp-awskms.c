/*
 * The awskms backend: AWS KMS wraps the layer key, in the annotation of
 * hown3d/kms-ocicrypt (provider kms-crypt), so images open with either:
 *
 *   key URL  awskms://arn:aws:kms:REGION:ACCOUNT:key/ID
 *            awskms://arn:aws:kms:REGION:ACCOUNT:alias/NAME
 *            awskms:///alias/NAME[?region=R], awskms:///ID[?region=R]
 *            arn:aws:kms:... as such too (the drop-in lists arn in
 *            opaque_schemes), so kms-crypt's annotations route here
 *   annot.   {"key_url":URL,"wrapped_key":<std base64 of the CiphertextBlob>}
 *
 * The other provider ignores key_url on unwrap and decrypts with its
 * decrypt parameter as KeyId; so do we when one is given (ours is a URL),
 * else with the annotation's key_url.  Options: 50-awskms.conf.
 */
#include <stdlib.h>
#include <string.h>
#include <libxml/parser.h>
#include <libxml/xmlmemory.h>
#include "awskms.h"

#define SCHEME "awskms://"
#define SCHEME_LEN 9
#define KEY_ID_MAX 320

struct key {
	char id[KEY_ID_MAX];		/* the KeyId sent: ARN, alias/NAME or ID */
	char region[AWS_REGION_MAX];	/* from the URL; "" if it names none */
};

#define ALNUM "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

/* key/ID or alias/NAME at p, the whole rest of the string. */
static int key_part(const char *p, int allow_bare_id)
{
	size_t n = strlen(p);

	if (!strncmp(p, "alias/", 6))
		return n > 6 && n <= 256 && strspn(p + 6, ALNUM "/_-") == n - 6 &&
		       strncmp(p + 6, "aws/", 4) != 0;
	if (!strncmp(p, "key/", 4))
		p += 4, n -= 4;
	else if (!allow_bare_id)
		return 0;
	return n > 0 && n <= 64 && strspn(p, ALNUM "-") == n;
}

/* arn:PARTITION:kms:REGION:ACCOUNT:RESOURCE */
static int parse_arn(const char *s, struct key *k)
{
	const char *f[6];
	size_t i, n;

	f[0] = s;
	for (i = 1; i < 6; i++) {
		const char *c = strchr(f[i - 1], ':');

		if (!c)
			return 0;
		f[i] = c + 1;
	}
	n = (size_t)(f[2] - f[1] - 1);
	if (strncmp(f[0], "arn:", 4) || n < 3 || strncmp(f[1], "aws", 3) ||
	    strspn(f[1], "abcdefghijklmnopqrstuvwxyz-") < n || strncmp(f[2], "kms:", 4))
		return 0;
	n = (size_t)(f[4] - f[3] - 1);
	if (n == 0 || n >= AWS_REGION_MAX)
		return 0;
	memcpy(k->region, f[3], n);
	k->region[n] = '\0';
	if (!awskms_region_ok(k->region) || f[5] - f[4] != 13 || strspn(f[4], "0123456789") != 12 ||
	    !key_part(f[5], 0) || strlen(s) >= KEY_ID_MAX)
		return 0;
	strcpy(k->id, s);
	return 1;
}

/* awskms:///alias/NAME or awskms:///ID, with an optional ?region=R. */
static int parse_short(const char *s, struct key *k)
{
	const char *q = strchr(s, '?');
	size_t n = q ? (size_t)(q - s) : strlen(s);

	if (n >= KEY_ID_MAX)
		return 0;
	memcpy(k->id, s, n);
	k->id[n] = '\0';
	if (!key_part(k->id, 1) || !strncmp(k->id, "key/", 4))
		return 0;
	k->region[0] = '\0';
	if (!q)
		return 1;
	if (strncmp(q, "?region=", 8) || strlen(q + 8) >= AWS_REGION_MAX)
		return 0;
	strcpy(k->region, q + 8);
	return awskms_region_ok(k->region);
}

static int parse_key_url(struct ocikp_ctx *ctx, const char *url, struct key *k)
{
	memset(k, 0, sizeof(*k));
	/* a bare ARN: the key_url of kms-crypt's annotations (opaque_schemes = arn) */
	if (url && !strncmp(url, "arn:", 4) && parse_arn(url, k))
		return OCIKP_OK;
	if (url && !strncmp(url, SCHEME, SCHEME_LEN)) {
		if (url[SCHEME_LEN] == '/' ? parse_short(url + SCHEME_LEN + 1, k)
					   : parse_arn(url + SCHEME_LEN, k))
			return OCIKP_OK;
	}
	ocikp_errorf(ctx, "key URL must be awskms://arn:aws:kms:REGION:ACCOUNT:key/ID (or :alias/NAME) or awskms:///alias/NAME[?region=R]");
	return OCIKP_BAD_INPUT;
}

/* The region: the URL's, else the options' (awskms.region, AWS_REGION,
 * AWS_DEFAULT_REGION), else the profile's. */
static int key_region(struct ocikp_ctx *ctx, const struct awskms_opts *o, struct key *k)
{
	int rc;

	if (k->region[0])
		return OCIKP_OK;
	if (o->region) {
		strcpy(k->region, o->region);
		return OCIKP_OK;
	}
	rc = cred_profile_region(ctx, o, k->region);
	if (rc == OCIKP_OK && !k->region[0]) {
		ocikp_errorf(ctx, "no AWS region: give it in the key URL (?region=), awskms.region, AWS_REGION or the profile");
		rc = OCIKP_CONFIG;
	}
	return rc;
}

static int awskms_wrap(struct ocikp_ctx *ctx, const char *param, const struct ocikp_buf *optsdata,
		       struct ocikp_buf *annotation)
{
	const struct ocikp_host *h = ctx->host;
	struct ocikp_buf blob = { 0 };
	struct aws_cred cred = { 0 };
	struct awskms_opts o;
	struct key k;
	ocikp_jgen *g;
	int rc = parse_key_url(ctx, param, &k);

	if (rc == OCIKP_OK)
		rc = awskms_opts_load(ctx, &o);
	if (rc == OCIKP_OK)
		rc = key_region(ctx, &o, &k);
	o.sts_region = k.region;
	if (rc == OCIKP_OK)
		rc = cred_load(ctx, &o, &cred);
	if (rc == OCIKP_OK)
		rc = kms_encrypt(ctx, &o, &cred, k.region, k.id, optsdata, &blob);
	if (rc == OCIKP_OK) {
		g = h->jgen_new();
		h->jgen_map_open(g);
		h->jgen_key(g, "key_url");
		h->jgen_string(g, param, strlen(param));
		h->jgen_key(g, "wrapped_key");
		h->jgen_b64(g, blob.data, blob.len);
		h->jgen_map_close(g);
		rc = h->jgen_finish(g, annotation);
	}
	cred_free(ctx, &cred);
	h->buf_free(&blob);
	return rc;
}

/* The key to decrypt with: the decrypt parameter naming the annotation's
 * key_url, else the first one (the other provider's annotations carry a
 * key_url of their own), else the annotation's key_url. */
static const char *pick_key(struct ocikp_ctx *ctx, const char *ann_url, const char *const *dc)
{
	size_t i;

	for (i = 0; dc && dc[i]; i++)
		if (ann_url && !strcmp(dc[i], ann_url))
			return dc[i];
	if (dc && dc[0])
		return dc[0];
	ocikp_debugf(ctx, "no awskms decrypt parameter: using the annotation's key_url");
	return ann_url;
}

static int awskms_unwrap(struct ocikp_ctx *ctx, const ocikp_json *ann, const char *const *dc,
			 struct ocikp_buf *optsdata)
{
	const struct ocikp_host *h = ctx->host;
	const char *url = h->json_string(h->json_get(ann, "key_url"));
	const ocikp_json *wk = h->json_get(ann, "wrapped_key");
	struct ocikp_buf blob = { 0 };
	struct aws_cred cred = { 0 };
	struct awskms_opts o;
	struct key k;
	int rc;

	if (!h->json_string(wk)) {
		ocikp_errorf(ctx, "annotation: wrapped_key must be a string");
		return OCIKP_BAD_INPUT;
	}
	rc = h->b64_decode(ctx, "annotation: wrapped_key", h->json_string(wk),
			   h->json_string_len(wk), 0, &blob);
	if (rc == OCIKP_OK && blob.len == 0) {
		ocikp_errorf(ctx, "annotation: wrapped_key is empty");
		rc = OCIKP_BAD_INPUT;
	}
	if (rc == OCIKP_OK)
		rc = parse_key_url(ctx, pick_key(ctx, url, dc), &k);
	if (rc == OCIKP_OK)
		rc = awskms_opts_load(ctx, &o);
	if (rc == OCIKP_OK)
		rc = key_region(ctx, &o, &k);
	o.sts_region = k.region;
	if (rc == OCIKP_OK)
		rc = cred_load(ctx, &o, &cred);
	if (rc == OCIKP_OK)
		rc = kms_decrypt(ctx, &o, &cred, k.region, k.id, &blob, optsdata);
	cred_free(ctx, &cred);
	h->buf_free(&blob);
	return rc;
}

/* What lives as long as the module (one exec, or one ocikpd
 * configuration): the kept HTTPS connections, the STS credentials in
 * memory.  The backend is not OCIKP_BACKEND_CONCURRENT: one call at a time. */
struct awskms_state {
	struct http_pool *pool;
	struct credcache creds;
};

struct http_pool *awskms_pool(struct ocikp_ctx *ctx)
{
	struct awskms_state *s = ctx->backend_data;

	return s ? s->pool : NULL;
}

struct credcache *awskms_credcache(struct ocikp_ctx *ctx)
{
	struct awskms_state *s = ctx->backend_data;

	return s ? &s->creds : NULL;
}

static int awskms_init(struct ocikp_ctx *ctx)
{
	const struct ocikp_host *h = ctx->host;
	struct awskms_state *s = calloc(1, sizeof(*s));

	if (!s) {
		ocikp_errorf(ctx, "out of memory");
		return OCIKP_INTERNAL;
	}
	http_env_scrub();	/* before libcurl could start: no TLS key log */
	/* libxml2 holds STS's secret key while parsing: on the wiping allocator */
	if (OCIKP_HOST_HAS(h, mem_calloc))
		xmlMemSetup(h->mem_free, h->mem_malloc, h->mem_realloc, h->mem_strdup);
	xmlInitParser();
	s->pool = http_pool_new();	/* NULL: requests go without */
	ctx->backend_data = s;
	return OCIKP_OK;
}

static void awskms_fini(struct ocikp_ctx *ctx)
{
	struct awskms_state *s = ctx->backend_data;

	if (s) {
		http_pool_free(s->pool);
		credcache_clear(ctx, &s->creds);
		free(s);
	}
	ctx->backend_data = NULL;
	http_global_cleanup();
}

/* arn: kms-crypt annotations and recipients (opaque_schemes in the drop-in). */
static const char *const awskms_schemes[] = { "awskms", "arn", NULL };

OCIKP_EXPORT const struct ocikp_backend ocikp_backend_v1 = {
	.abi = OCIKP_BACKEND_ABI,
	.size = sizeof(struct ocikp_backend),
	.name = "awskms",
	.version = PACKAGE_VERSION,
	.schemes = awskms_schemes,
	.init = awskms_init,
	.wrap = awskms_wrap,
	.unwrap = awskms_unwrap,
	.fini = awskms_fini,
};
