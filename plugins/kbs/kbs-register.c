/*
 * KEK registration: POST <kbs.url>/kbs/v0/resource/<repo>/<type>/<tag>,
 * the raw KEK as application/octet-stream, with an EdDSA admin JWT
 * (SPEC.md §5; coco_keyprovider enc_mods/kbs.rs for the request, trustee
 * kbs/src/admin/ for what it checks: exp, a string `role` matched by its
 * ACL, iss/aud when configured).
 *
 * Unlike upstream, any answer but 2xx fails the wrap: an image whose KEK
 * the KBS never stored can be opened by nobody.  And a POST never replaces
 * a KEK older images need by accident: a kid the caller named is first
 * looked up in the KBS's resource list (trustee resource/mod.rs: GET with
 * an empty path is an admin request), and kbs.allow_replace overrides.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include "kbs.h"
#include "jws.h"

#define ADMIN_KEY_MAX (64 * 1024)
#define TOKEN_LIFETIME_S 7200	/* coco_keyprovider's 2 hours */
#define DETAIL_MAX 200

/* kbs.url: https://HOST[:PORT][/PREFIX], no trailing '/', query, fragment or user. */
static int kbs_url(struct ocikp_ctx *ctx, const char **out)
{
	const char *v = ocikp_conf(ctx, "url");
	size_t n;

	*out = v;
	if (!v)
		return OCIKP_NOT_MINE;
	n = strlen(v);
	if (strncmp(v, "https://", 8) != 0 || n < 9 || v[n - 1] == '/' || strpbrk(v, " \t?#@")) {
		ocikp_errorf(ctx, "option %s.url must be https://HOST[:PORT] for KEK registration "
			     "(the KEK travels in the request), without a trailing '/'", ctx->backend);
		return OCIKP_CONFIG;
	}
	return OCIKP_OK;
}

static int admin_key(struct ocikp_ctx *ctx, const char *file, EVP_PKEY **key)
{
	const struct ocikp_host *h = ctx->host;
	struct ocikp_buf pem = { 0 };
	int rc;

	rc = h->read_private_file(ctx, "KBS admin key", file, ADMIN_KEY_MAX, &pem);
	if (rc == OCIKP_OK)
		rc = jws_key_from_pem(ctx, "KBS admin key", pem.data, pem.len, key);
	if (rc == OCIKP_OK && !EVP_PKEY_is_a(*key, "ED25519")) {
		ocikp_errorf(ctx, "KBS admin key %s: must be an Ed25519 private key", file);
		EVP_PKEY_free(*key);
		*key = NULL;
		rc = OCIKP_CONFIG;
	}
	h->buf_free(&pem);
	return rc;
}

static void claim_opt(struct ocikp_ctx *ctx, ocikp_jgen *g, const char *claim, const char *opt)
{
	const char *v = ocikp_conf(ctx, opt);

	if (v) {
		ctx->host->jgen_key(g, claim);
		ctx->host->jgen_string(g, v, strlen(v));
	}
}

/* The bearer token: iat, nbf, exp (+2 h), and role/iss/aud when configured. */
static int admin_token(struct ocikp_ctx *ctx, EVP_PKEY *key, struct ocikp_buf *out)
{
	const struct ocikp_host *h = ctx->host;
	struct ocikp_buf claims = { 0 };
	long long now = (long long)time(NULL);
	ocikp_jgen *g = h->jgen_new();
	int rc;

	h->jgen_map_open(g);
	h->jgen_key(g, "iat");
	h->jgen_int(g, now);
	h->jgen_key(g, "nbf");
	h->jgen_int(g, now);
	h->jgen_key(g, "exp");
	h->jgen_int(g, now + TOKEN_LIFETIME_S);
	claim_opt(ctx, g, "role", "admin_role");
	claim_opt(ctx, g, "iss", "admin_iss");
	claim_opt(ctx, g, "aud", "admin_aud");
	h->jgen_map_close(g);
	rc = h->jgen_finish(g, &claims);
	if (rc == OCIKP_OK)
		rc = jws_sign(ctx, key, NULL, &claims, out);
	h->buf_free(&claims);
	return rc;
}

/* trustee's error body {"type":".../errors/<Variant>","detail":"..."}:
 * the detail, printable ASCII only, cut short. */
static void error_detail(struct ocikp_ctx *ctx, const struct http_resp *resp, const char *what,
			 char *why, size_t n)
{
	const struct ocikp_host *h = ctx->host;
	ocikp_json *doc = NULL;
	const char *d = NULL;
	size_t i, j = 0;

	snprintf(why, n, "%s", what);
	if (resp->body.len == 0 || h->json_parse(ctx, "KBS answer", resp->body.data, resp->body.len,
						 &doc) != OCIKP_OK) {
		h->json_free(doc);
		return;
	}
	d = h->json_string(h->json_get(doc, "detail"));
	if (d) {
		j = strlen(why);
		j += (size_t)snprintf(why + j, n - j, ": ");
		for (i = 0; d[i] && j + 1 < n && i < DETAIL_MAX; i++)
			why[j++] = d[i] >= ' ' && d[i] <= '~' ? d[i] : '?';
		why[j] = '\0';
	}
	h->json_free(doc);
}

static int post_kek(struct ocikp_ctx *ctx, const char *url, const char *path,
		    const struct ocikp_buf *token, const unsigned char kek[KBS_KEK_LEN])
{
	const struct ocikp_host *h = ctx->host;
	struct ocikp_buf target = { 0 }, auth = { 0 };
	struct http_resp resp = { 0 };
	struct http_opts o;
	struct http_req req = { 0 };
	const char *headers[2];
	char why[DETAIL_MAX + 64];
	int rc;

	rc = http_opts_load(ctx, "", &o);
	o.pool = kbs_pool(ctx);
	if (rc == OCIKP_OK &&
	    (h->buf_append(&target, url, strlen(url)) != OCIKP_OK ||
	     h->buf_append(&target, "/kbs/v0/resource/", 17) != OCIKP_OK ||
	     h->buf_append(&target, path, strlen(path)) != OCIKP_OK ||
	     h->buf_append(&auth, "Authorization: Bearer ", 22) != OCIKP_OK ||
	     h->buf_append(&auth, token->data, token->len) != OCIKP_OK))
		rc = OCIKP_INTERNAL;
	if (rc != OCIKP_OK)
		goto out;
	headers[0] = (const char *)auth.data;
	headers[1] = NULL;
	req.method = "POST";
	req.url = (const char *)target.data;
	req.headers = headers;
	req.body = kek;
	req.body_len = KBS_KEK_LEN;
	req.content_type = "application/octet-stream";
	rc = http_request(ctx, &o, &req, &resp);
	if (rc == OCIKP_OK && (resp.status < 200 || resp.status > 299)) {
		error_detail(ctx, &resp, "KEK registration refused", why, sizeof(why));
		/* backend.h: 401/403 on wrap is the identity (here the admin
		 * key or role); another 4xx, what the request names. */
		rc = resp.status == 401 || resp.status == 403 ? OCIKP_CONFIG : OCIKP_BAD_INPUT;
		rc = http_fail(ctx, &req, &resp, rc, why);
	} else if (rc == OCIKP_UNAVAILABLE && resp.status >= 429) {
		/* 429/5xx after the retries: the KBS's own words say more. */
		error_detail(ctx, &resp, "KEK registration refused", why, sizeof(why));
		rc = http_fail(ctx, &req, &resp, rc, why);
	}
	if (rc == OCIKP_OK)
		ocikp_debugf(ctx, "registered the KEK for %s: HTTP %ld", path, resp.status);
out:
	http_resp_free(ctx, &resp);
	h->buf_free(&target);
	h->buf_free(&auth);
	return rc;
}

/* Is path in trustee's resource list (GET /kbs/v0/resource, an admin
 * request, JSON array of {"repository_name","resource_type","resource_tag"}
 * or of "repo/type/tag" strings)?  OCIKP_NOT_MINE when the list cannot
 * tell: an older KBS, a storage backend that cannot list, another shape. */
static int list_has(struct ocikp_ctx *ctx, const struct http_resp *resp, const char *path,
		    int *found)
{
	const struct ocikp_host *h = ctx->host;
	ocikp_json *doc = NULL;
	const ocikp_json *e;
	char desc[KBS_KID_MAX];
	const char *r, *t, *g;
	size_t i;
	int n, rc = OCIKP_NOT_MINE;

	*found = 0;
	if (resp->status != 200 || h->json_parse(ctx, "KBS resource list", resp->body.data,
						 resp->body.len, &doc) != OCIKP_OK ||
	    h->json_type(doc) != OCIKP_JSON_ARRAY)
		goto out;
	for (i = 0; i < h->json_array_len(doc); i++) {
		e = h->json_array_at(doc, i);
		if ((r = h->json_string(e)) != NULL) {
			n = snprintf(desc, sizeof(desc), "%s", r);
		} else if ((r = h->json_string(h->json_get(e, "repository_name"))) &&
			   (t = h->json_string(h->json_get(e, "resource_type"))) &&
			   (g = h->json_string(h->json_get(e, "resource_tag")))) {
			n = snprintf(desc, sizeof(desc), "%s/%s/%s", r, t, g);
		} else {
			goto out;	/* a shape we do not know: no answer */
		}
		/* one longer than a kid holds is not this path */
		*found |= n > 0 && (size_t)n < sizeof(desc) && strcmp(desc, path) == 0;
	}
	rc = OCIKP_OK;
out:
	h->json_free(doc);
	return rc;
}

/* GET <url>/kbs/v0/resource with the admin token: resp filled; rc as
 * http_request's. */
static int list_get(struct ocikp_ctx *ctx, const char *url, const struct ocikp_buf *token,
		    struct http_resp *resp)
{
	const struct ocikp_host *h = ctx->host;
	struct ocikp_buf target = { 0 }, auth = { 0 };
	struct http_req req = { .method = "GET" };
	struct http_opts o;
	const char *headers[2] = { NULL, NULL };
	int rc;

	rc = http_opts_load(ctx, "", &o);
	o.pool = kbs_pool(ctx);
	if (rc == OCIKP_OK &&
	    (h->buf_append(&target, url, strlen(url)) != OCIKP_OK ||
	     h->buf_append(&target, "/kbs/v0/resource", 16) != OCIKP_OK ||
	     h->buf_append(&auth, "Authorization: Bearer ", 22) != OCIKP_OK ||
	     h->buf_append(&auth, token->data, token->len) != OCIKP_OK))
		rc = OCIKP_INTERNAL;
	if (rc == OCIKP_OK) {
		headers[0] = (const char *)auth.data;
		req.url = (const char *)target.data;
		req.headers = headers;
		rc = http_request(ctx, &o, &req, resp);
	}
	h->buf_free(&target);
	h->buf_free(&auth);
	return rc;
}

/* A KEK at a kid the caller named may replace one older images need.
 * Allowed with kbs.allow_replace, or when the KBS lists its resources and
 * path is not among them; refused otherwise (also when it cannot tell). */
static int may_replace(struct ocikp_ctx *ctx, const char *url, const char *path,
		       const struct ocikp_buf *token)
{
	struct http_resp resp = { 0 };
	char why[DETAIL_MAX + 64] = "";
	int allow = 0, found = 0, rc;

	rc = kbs_opt_bool(ctx, "allow_replace", &allow);
	if (rc != OCIKP_OK || allow)
		return rc;
	/* No answer, a KBS in trouble (5xx), a certificate that does not
	 * verify: the POST would fare no better, so that is the error.  A 200
	 * too long to read (HTTP_MAX_BODY) cannot tell. */
	rc = list_get(ctx, url, token, &resp);
	if (rc != OCIKP_OK && resp.status != 200)
		goto out;
	rc = rc == OCIKP_OK ? list_has(ctx, &resp, path, &found) : OCIKP_NOT_MINE;
	if (rc == OCIKP_OK && !found) {
		ocikp_debugf(ctx, "%s is not in the KBS's resource list: registering", path);
		goto out;
	}
	if (rc == OCIKP_OK) {
		ocikp_errorf(ctx, "the KBS already holds %s: registering would replace the KEK "
			     "older images need (a fresh keyid, or %s.allow_replace = yes)", path,
			     ctx->backend);
	} else {
		if (resp.status == 200)
			snprintf(why, sizeof(why), ": not a list ocikp can read");
		else
			error_detail(ctx, &resp, "", why, sizeof(why));
		ocikp_errorf(ctx, "registering at the key id's path %s may replace a KEK older "
			     "images need, and the KBS does not list its resources (HTTP %ld%s): "
			     "refused (a fresh keyid, or %s.allow_replace = yes)", path, resp.status,
			     why, ctx->backend);
	}
	rc = OCIKP_BAD_INPUT;
out:
	http_resp_free(ctx, &resp);
	return rc;
}

int kbs_register(struct ocikp_ctx *ctx, const char *path, const unsigned char kek[KBS_KEK_LEN],
		 int kid_fresh)
{
	const struct ocikp_host *h = ctx->host;
	const char *key_file = ocikp_conf(ctx, "admin_key"), *url = NULL;
	struct ocikp_buf token = { 0 };
	EVP_PKEY *key = NULL;
	int rc;

	if (!key_file)
		return OCIKP_NOT_MINE;
	if (!ocikp_conf(ctx, "url")) {
		ocikp_errorf(ctx, "option %s.admin_key is set but %s.url is not", ctx->backend,
			     ctx->backend);
		return OCIKP_CONFIG;
	}
	rc = kbs_url(ctx, &url);
	if (rc == OCIKP_OK)
		rc = admin_key(ctx, key_file, &key);
	if (rc == OCIKP_OK)
		rc = admin_token(ctx, key, &token);
	if (rc == OCIKP_OK && !kid_fresh)
		rc = may_replace(ctx, url, path, &token);
	if (rc == OCIKP_OK)
		rc = post_kek(ctx, url, path, &token, kek);
	EVP_PKEY_free(key);
	h->buf_free(&token);
	return rc;
}
