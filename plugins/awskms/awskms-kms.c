/*
 * AWS KMS's JSON 1.1 API: POST / with X-Amz-Target TrentService.Encrypt or
 * TrentService.Decrypt, signed with SigV4 (service "kms").  Errors are
 * {"__type": "[ns#]Code", "message": "..."}: the line names the code and
 * message, the status follows the gcpkms mapping (backend.h).
 */
#include <stdio.h>
#include <string.h>
#include "awskms.h"

#define CT_JSON "application/x-amz-json-1.1"

/* The endpoint's base URL and its host[:port] (the signed Host). */
static int base_url(struct ocikp_ctx *ctx, const struct awskms_opts *o, const char *region,
		    struct ocikp_buf *url, const char **host)
{
	const struct ocikp_host *h = ctx->host;
	int rc;

	if (o->kms_endpoint) {
		rc = h->buf_append(url, o->kms_endpoint, strlen(o->kms_endpoint));
	} else {
		char u[128];

		snprintf(u, sizeof(u), "https://kms%s.%s.amazonaws.com", o->fips ? "-fips" : "", region);
		rc = h->buf_append(url, u, strlen(u));
	}
	*host = strstr((const char *)url->data, "//") + 2;
	return rc;
}

static const struct {
	const char *code;
	int wrap, unwrap, retry;
} codes[] = {
	{ "AccessDeniedException", OCIKP_CONFIG, OCIKP_WRONG_KEY, 0 },
	{ "NotFoundException", OCIKP_BAD_INPUT, OCIKP_WRONG_KEY, 0 },
	{ "InvalidKeyUsageException", OCIKP_BAD_INPUT, OCIKP_WRONG_KEY, 0 },
	{ "DisabledException", OCIKP_BAD_INPUT, OCIKP_WRONG_KEY, 0 },
	{ "KMSInvalidStateException", OCIKP_BAD_INPUT, OCIKP_WRONG_KEY, 0 },
	{ "InvalidArnException", OCIKP_BAD_INPUT, OCIKP_WRONG_KEY, 0 },
	{ "InvalidCiphertextException", OCIKP_BAD_INPUT, OCIKP_WRONG_KEY, 0 },
	{ "IncorrectKeyException", OCIKP_BAD_INPUT, OCIKP_WRONG_KEY, 0 },
	{ "ThrottlingException", OCIKP_UNAVAILABLE, OCIKP_UNAVAILABLE, 1 },
	{ "KMSInternalException", OCIKP_UNAVAILABLE, OCIKP_UNAVAILABLE, 1 },
	{ "DependencyTimeoutException", OCIKP_UNAVAILABLE, OCIKP_UNAVAILABLE, 1 },
	{ "KeyUnavailableException", OCIKP_UNAVAILABLE, OCIKP_UNAVAILABLE, 1 },
	/* the credentials: nothing a retry or another recipient changes */
	{ "UnrecognizedClientException", OCIKP_CONFIG, OCIKP_CONFIG, 0 },
	{ "InvalidSignatureException", OCIKP_CONFIG, OCIKP_CONFIG, 0 },
	{ "IncompleteSignature", OCIKP_CONFIG, OCIKP_CONFIG, 0 },
	{ "ExpiredTokenException", OCIKP_CONFIG, OCIKP_CONFIG, 0 },
	{ "InvalidClientTokenId", OCIKP_CONFIG, OCIKP_CONFIG, 0 },
	{ "MissingAuthenticationTokenException", OCIKP_CONFIG, OCIKP_CONFIG, 0 },
};

/* The code of "__type" (after a '#'), if it is a plain word. */
static const char *error_code(const char *type)
{
	const char *c = type ? strrchr(type, '#') : NULL;
	size_t n;

	c = c ? c + 1 : type;
	n = c ? strlen(c) : 0;
	if (n == 0 || n > 64 || strspn(c, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789") != n)
		return NULL;
	return c;
}

int kms_fail(struct ocikp_ctx *ctx, enum kms_op op, long http_status, const void *body,
	     size_t len, int *retry)
{
	const struct ocikp_host *h = ctx->host;
	const char *verb = op == KMS_WRAP ? "Encrypt" : "Decrypt";
	const char *code = NULL, *msg = NULL;
	ocikp_json *doc = NULL;
	size_t i;
	int rc;

	/* The body is optional: a proxy or load balancer answers HTML. */
	if (len && h->json_parse(ctx, "KMS error", body, len, &doc) == OCIKP_OK) {
		code = error_code(h->json_string(h->json_get(doc, "__type")));
		msg = h->json_string(h->json_get(doc, "message"));
		if (!msg)
			msg = h->json_string(h->json_get(doc, "Message"));
	}
	*retry = http_status == 429 || http_status >= 500;
	if (http_status >= 500 || http_status == 429)
		rc = OCIKP_UNAVAILABLE;
	else if (http_status == 401 || http_status == 403)
		rc = op == KMS_UNWRAP && !code ? OCIKP_WRONG_KEY : OCIKP_CONFIG;
	else
		rc = op == KMS_WRAP ? OCIKP_BAD_INPUT : OCIKP_WRONG_KEY;
	for (i = 0; code && i < sizeof(codes) / sizeof(codes[0]); i++)
		if (!strcmp(code, codes[i].code)) {
			rc = op == KMS_WRAP ? codes[i].wrap : codes[i].unwrap;
			*retry = codes[i].retry;
		}

	/* The message is the server's; the host makes it one line. */
	if (code && msg)
		ocikp_errorf(ctx, "KMS %s: %s: %.300s", verb, code, msg);
	else if (code)
		ocikp_errorf(ctx, "KMS %s: %s (HTTP %ld)", verb, code, http_status);
	else
		ocikp_errorf(ctx, "KMS %s: HTTP %ld", verb, http_status);
	h->json_free(doc);
	return rc;
}

int kms_expired(long http_status, const void *body, size_t len)
{
	static const char said[] = "security token included in the request is expired";
	static const char code[] = "ExpiredTokenException";

	if (http_status != 400 && http_status != 403)
		return 0;
	return (memmem(body, len, code, sizeof(code) - 1) != NULL) ||
	       (memmem(body, len, said, sizeof(said) - 1) != NULL);
}

int kms_parse_answer(struct ocikp_ctx *ctx, const char *field, const void *body, size_t len,
		     struct ocikp_buf *out)
{
	const struct ocikp_host *h = ctx->host;
	const ocikp_json *v;
	ocikp_json *doc = NULL;
	size_t before = out->len;
	int rc = h->json_parse(ctx, "KMS answer", body, len, &doc);

	if (rc != OCIKP_OK) {
		h->json_free(doc);
		return OCIKP_UNAVAILABLE;
	}
	v = h->json_get(doc, field);
	if (!h->json_string(v)) {
		ocikp_errorf(ctx, "KMS answer: no %s", field);
		rc = OCIKP_UNAVAILABLE;
	} else {
		rc = h->b64_decode(ctx, "KMS answer", h->json_string(v), h->json_string_len(v), 0, out);
		if (rc != OCIKP_OK)
			rc = OCIKP_UNAVAILABLE;
		else if (out->len == before) {
			ocikp_errorf(ctx, "KMS answer: empty %s", field);
			rc = OCIKP_UNAVAILABLE;
		}
	}
	h->json_free(doc);
	return rc;
}

/* "k=v,k2=v2" as the EncryptionContext object. */
static int add_context(struct ocikp_ctx *ctx, ocikp_jgen *g, const char *spec)
{
	const struct ocikp_host *h = ctx->host;
	const char *p = spec, *eq;
	size_t n;
	char key[256];

	h->jgen_key(g, "EncryptionContext");
	h->jgen_map_open(g);
	while (*p) {
		n = strcspn(p, ",");
		eq = memchr(p, '=', n);
		if (!eq || eq == p || (size_t)(eq - p) >= sizeof(key)) {
			ocikp_errorf(ctx, "option %s.encryption_context must be KEY=VALUE[,KEY=VALUE...]",
				     ctx->backend);
			return OCIKP_CONFIG;
		}
		memcpy(key, p, (size_t)(eq - p));
		key[eq - p] = '\0';
		h->jgen_key(g, key);
		h->jgen_string(g, eq + 1, n - (size_t)(eq - p) - 1);
		p += n + (p[n] == ',');
	}
	h->jgen_map_close(g);
	return OCIKP_OK;
}

static int request_body(struct ocikp_ctx *ctx, const struct awskms_opts *o, const char *key_id,
			const char *field, const struct ocikp_buf *data, struct ocikp_buf *out)
{
	const struct ocikp_host *h = ctx->host;
	ocikp_jgen *g = h->jgen_new();
	int rc = OCIKP_OK;

	if (!g) {
		ocikp_errorf(ctx, "out of memory");
		return OCIKP_INTERNAL;
	}
	h->jgen_map_open(g);
	h->jgen_key(g, "KeyId");
	h->jgen_string(g, key_id, strlen(key_id));
	h->jgen_key(g, field);
	h->jgen_b64(g, data->data, data->len);
	if (o->encryption_context)
		rc = add_context(ctx, g, o->encryption_context);
	h->jgen_map_close(g);
	if (rc != OCIKP_OK) {
		struct ocikp_buf junk = { 0 };

		h->jgen_finish(g, &junk);
		h->buf_free(&junk);
		return rc;
	}
	return h->jgen_finish(g, out);
}

static int kms_call(struct ocikp_ctx *ctx, const struct awskms_opts *o, struct aws_cred *c,
		    enum kms_op op, const char *region, const struct ocikp_buf *body,
		    struct http_resp *resp)
{
	const struct ocikp_host *h = ctx->host;
	const char *target = op == KMS_WRAP ? "TrentService.Encrypt" : "TrentService.Decrypt";
	struct ocikp_buf url = { 0 };
	const char *host;
	int rc = base_url(ctx, o, region, &url, &host), attempt, retry = 0, refreshed = 0;

	for (attempt = 0; rc == OCIKP_OK && attempt < AWS_KMS_ATTEMPTS; attempt++) {
		if (attempt)
			aws_backoff(ctx, attempt);
		rc = sigv4_post(ctx, &o->http, c, region, "kms", (const char *)url.data, host, CT_JSON,
				target, body, resp);
		ocikp_debugf(ctx, "POST %s %s: HTTP %ld", host, target, resp->status);
		if (rc == OCIKP_OK && resp->status >= 200 && resp->status <= 299)
			break;
		/* an answer (lib/http's own retries done): name KMS's code */
		if (resp->status && (rc == OCIKP_OK || rc == OCIKP_UNAVAILABLE))
			rc = kms_fail(ctx, op, resp->status, resp->body.data, resp->body.len, &retry);
		/* temporary credentials refused as expired: fetch them once more */
		if (resp->status && c->expires_at && !refreshed &&
		    kms_expired(resp->status, resp->body.data, resp->body.len)) {
			ocikp_debugf(ctx, "AWS credentials from %s expired: fetching new ones", c->source);
			refreshed = 1;
			rc = cred_reload(ctx, o, c);
			if (rc != OCIKP_OK)
				break;
			attempt--;	/* not a retry of the same request */
			http_resp_free(ctx, resp);
			continue;
		}
		if (!retry || attempt + 1 == AWS_KMS_ATTEMPTS || h->deadline_ms(ctx) < 500)
			break;
		rc = OCIKP_OK;
		http_resp_free(ctx, resp);
	}
	h->buf_free(&url);
	return rc;
}

int kms_encrypt(struct ocikp_ctx *ctx, const struct awskms_opts *o, struct aws_cred *c,
		const char *region, const char *key_id, const struct ocikp_buf *plain,
		struct ocikp_buf *blob)
{
	struct ocikp_buf body = { 0 };
	struct http_resp resp = { 0 };
	int rc;

	if (plain->len == 0 || plain->len > AWS_KMS_MAX_PLAINTEXT) {
		ocikp_errorf(ctx, "%zu bytes to wrap; AWS KMS takes 1 to %d", plain->len,
			     AWS_KMS_MAX_PLAINTEXT);
		return OCIKP_BAD_INPUT;
	}
	rc = request_body(ctx, o, key_id, "Plaintext", plain, &body);
	if (rc == OCIKP_OK)
		rc = kms_call(ctx, o, c, KMS_WRAP, region, &body, &resp);
	if (rc == OCIKP_OK)
		rc = kms_parse_answer(ctx, "CiphertextBlob", resp.body.data, resp.body.len, blob);
	ctx->host->buf_free(&body);
	http_resp_free(ctx, &resp);
	return rc;
}

int kms_decrypt(struct ocikp_ctx *ctx, const struct awskms_opts *o, struct aws_cred *c,
		const char *region, const char *key_id, const struct ocikp_buf *blob,
		struct ocikp_buf *plain)
{
	struct ocikp_buf body = { 0 };
	struct http_resp resp = { 0 };
	int rc = request_body(ctx, o, key_id, "CiphertextBlob", blob, &body);

	if (rc == OCIKP_OK)
		rc = kms_call(ctx, o, c, KMS_UNWRAP, region, &body, &resp);
	if (rc == OCIKP_OK)
		rc = kms_parse_answer(ctx, "Plaintext", resp.body.data, resp.body.len, plain);
	ctx->host->buf_free(&body);
	http_resp_free(ctx, &resp);
	return rc;
}
