/*
 * Cloud KMS REST v1 :encrypt and :decrypt, with CRC32C both ways.
 *
 * KMS checks the CRC32C we send and returns one of its own, so a bit
 * flipped anywhere between our buffers and its HSM is caught: on encrypt
 * it must say verifiedPlaintextCrc32c and its ciphertextCrc32c must match
 * the ciphertext; on decrypt its plaintextCrc32c must match the plaintext
 * (a decrypt answer has no "verified" field).  int64 values are JSON
 * strings in Google's JSON mapping; a number is accepted too, as every
 * proto3 JSON reader does.  Any mismatch is refused, never accepted.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "gcpkms.h"

#define MAX_PLAINTEXT (64 * 1024)	/* KMS's own limit */

/* A uint32 carried as an int64 (string or number); -1 if absent or bad. */
static long long crc_field(const struct ocikp_host *h, const ocikp_json *obj, const char *key)
{
	const ocikp_json *v = h->json_get(obj, key);
	const char *s = NULL;
	unsigned long long n;
	char *end;

	if (h->json_type(v) == OCIKP_JSON_STRING)
		s = h->json_string(v);
	else if (h->json_type(v) == OCIKP_JSON_NUMBER)
		s = h->json_number(v);
	if (!s || s[0] < '0' || s[0] > '9' || strlen(s) > 10)
		return -1;
	errno = 0;
	n = strtoull(s, &end, 10);
	if (errno || *end || n > 0xffffffffull)
		return -1;
	return (long long)n;
}

static int integrity_fail(struct ocikp_ctx *ctx, const char *what)
{
	ocikp_errorf(ctx, "integrity check failed: %s", what);
	return OCIKP_UNAVAILABLE;
}

/* The base64 string `key` of a KMS answer, decoded into out. */
static int b64_field(struct ocikp_ctx *ctx, const ocikp_json *obj, const char *key,
		     struct ocikp_buf *out)
{
	const struct ocikp_host *h = ctx->host;
	const ocikp_json *v = h->json_get(obj, key);
	char what[64];

	snprintf(what, sizeof(what), "KMS answer: %s", key);
	if (h->json_type(v) != OCIKP_JSON_STRING) {
		ocikp_errorf(ctx, "KMS answer: no %s", key);
		return OCIKP_UNAVAILABLE;
	}
	if (h->b64_decode(ctx, what, h->json_string(v), h->json_string_len(v), 0, out) != OCIKP_OK)
		return OCIKP_UNAVAILABLE;	/* the server's fault, not the user's input */
	return OCIKP_OK;
}

static int parse_object(struct ocikp_ctx *ctx, const void *body, size_t len, ocikp_json **doc)
{
	const struct ocikp_host *h = ctx->host;

	if (h->json_parse(ctx, "KMS answer", body, len, doc) != OCIKP_OK)
		return OCIKP_UNAVAILABLE;
	if (h->json_type((const ocikp_json *)*doc) != OCIKP_JSON_OBJECT) {
		ocikp_errorf(ctx, "KMS answer: not a JSON object");
		h->json_free(*doc);
		*doc = NULL;
		return OCIKP_UNAVAILABLE;
	}
	return OCIKP_OK;
}

int kms_parse_encrypt(struct ocikp_ctx *ctx, const void *body, size_t len, uint32_t plain_crc,
		      struct ocikp_buf *cipher)
{
	const struct ocikp_host *h = ctx->host;
	struct ocikp_buf ct = { 0 };
	ocikp_json *doc = NULL;
	long long crc;
	int rc = parse_object(ctx, body, len, &doc);

	(void)plain_crc;	/* KMS checked it; verifiedPlaintextCrc32c says so */
	if (rc == OCIKP_OK && h->json_type(h->json_get(doc, "verifiedPlaintextCrc32c")) != OCIKP_JSON_TRUE)
		rc = integrity_fail(ctx, "KMS did not verify the plaintext's CRC32C");
	if (rc == OCIKP_OK)
		rc = b64_field(ctx, doc, "ciphertext", &ct);
	if (rc == OCIKP_OK && ct.len == 0) {
		ocikp_errorf(ctx, "KMS answer: empty ciphertext");
		rc = OCIKP_UNAVAILABLE;
	}
	if (rc == OCIKP_OK) {
		crc = crc_field(h, doc, "ciphertextCrc32c");
		if (crc < 0)
			rc = integrity_fail(ctx, "KMS answer has no valid ciphertextCrc32c");
		else if ((uint32_t)crc != crc32c(0, ct.data, ct.len))
			rc = integrity_fail(ctx, "the ciphertext does not match its CRC32C");
	}
	if (rc == OCIKP_OK)
		rc = h->buf_append(cipher, ct.data, ct.len);
	h->buf_free(&ct);
	h->json_free(doc);
	return rc;
}

int kms_parse_decrypt(struct ocikp_ctx *ctx, const void *body, size_t len, struct ocikp_buf *plain)
{
	const struct ocikp_host *h = ctx->host;
	struct ocikp_buf pt = { 0 };
	ocikp_json *doc = NULL;
	long long crc;
	int rc = parse_object(ctx, body, len, &doc);

	if (rc == OCIKP_OK)
		rc = b64_field(ctx, doc, "plaintext", &pt);
	if (rc == OCIKP_OK) {
		crc = crc_field(h, doc, "plaintextCrc32c");
		if (crc < 0)
			rc = integrity_fail(ctx, "KMS answer has no valid plaintextCrc32c");
		else if ((uint32_t)crc != crc32c(0, pt.data, pt.len))
			rc = integrity_fail(ctx, "the plaintext does not match its CRC32C");
	}
	if (rc == OCIKP_OK)
		rc = h->buf_append(plain, pt.data, pt.len);
	h->buf_free(&pt);
	h->json_free(doc);
	return rc;
}

/* A google.rpc.Status word: capitals and underscores only, so a hostile
 * body cannot smuggle anything into the line. */
static int status_word(const char *s)
{
	return s && s[0] && strlen(s) < 40 &&
	       strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZ_") == strlen(s);
}

int kms_fail(struct ocikp_ctx *ctx, enum kms_op op, long http_status, const void *body, size_t len)
{
	const struct ocikp_host *h = ctx->host;
	const ocikp_json *err = NULL;
	const char *status = NULL, *msg = NULL;
	ocikp_json *doc = NULL;
	int rc;

	/* The error body is optional: a proxy or load balancer answers HTML. */
	if (len && h->json_parse(ctx, "KMS error", body, len, &doc) == OCIKP_OK) {
		err = h->json_get(doc, "error");
		status = h->json_string(h->json_get(err, "status"));
		msg = h->json_string(h->json_get(err, "message"));
	}
	if (!status_word(status))
		status = NULL;

	if (http_status == 401)
		rc = OCIKP_CONFIG;	/* a fresh token was refused too */
	else if (http_status == 429 || http_status >= 500)
		rc = OCIKP_UNAVAILABLE;
	else if (op == KMS_UNWRAP)
		rc = OCIKP_WRONG_KEY;	/* 403, 404, 400: this identity cannot open it */
	else if (http_status == 403)
		rc = OCIKP_CONFIG;	/* the configured identity lacks the role */
	else
		rc = OCIKP_BAD_INPUT;	/* 400, 404: the key URL names no usable key */

	/* The message is the server's; the host makes it one line. */
	if (status && msg)
		ocikp_errorf(ctx, "%s: %.300s", status, msg);
	else if (status)
		ocikp_errorf(ctx, "%s (HTTP %ld)", status, http_status);
	else
		ocikp_errorf(ctx, "KMS answered HTTP %ld", http_status);
	h->json_free(doc);
	return rc;
}

/* POST {endpoint}/v1/{name}:{verb} with body, under a bearer token; one
 * more try with a fresh token when KMS says 401 (revoked or expired
 * early).  OK only for a 2xx answer, which is left in resp. */
static int kms_call(struct ocikp_ctx *ctx, const struct gcpkms_opts *o, struct gcp_cred *c,
		    enum kms_op op, const char *name, const char *verb, const struct ocikp_buf *body,
		    struct http_resp *resp)
{
	const struct ocikp_host *h = ctx->host;
	struct ocikp_buf url = { 0 }, auth = { 0 }, tok = { 0 }, quota = { 0 }, stale = { 0 };
	const char *headers[3];
	const char *q = cred_quota_project(c);
	struct http_req req = { 0 };
	int rc, attempt, nh;

	h->buf_append(&url, o->kms_endpoint, strlen(o->kms_endpoint));
	h->buf_append(&url, "/v1/", 4);
	h->buf_append(&url, name, strlen(name));
	h->buf_append(&url, ":", 1);
	rc = h->buf_append(&url, verb, strlen(verb));
	req.method = "POST";
	req.url = (const char *)url.data;
	req.body = body->data;
	req.body_len = body->len;
	req.content_type = "application/json";
	req.headers = headers;

	for (attempt = 0; rc == OCIKP_OK && attempt < 2; attempt++) {
		h->buf_free(&tok);
		rc = token_get(ctx, o, c, attempt ? &stale : NULL, &tok);
		if (rc != OCIKP_OK)
			break;
		h->buf_free(&auth);
		h->buf_append(&auth, "Authorization: Bearer ", 22);
		rc = h->buf_append(&auth, tok.data, tok.len);
		nh = 0;
		headers[nh++] = (const char *)auth.data;
		if (q && !quota.len) {
			h->buf_append(&quota, "x-goog-user-project: ", 21);
			rc = h->buf_append(&quota, q, strlen(q));
		}
		if (q)
			headers[nh++] = (const char *)quota.data;
		headers[nh] = NULL;
		if (rc != OCIKP_OK)
			break;
		rc = http_request(ctx, &o->http, &req, resp);
		if (rc != OCIKP_OK)
			break;
		ocikp_debugf(ctx, "POST %s:%s: HTTP %ld", name, verb, resp->status);
		if (resp->status != 401)
			break;
		h->buf_free(&stale);
		rc = h->buf_append(&stale, tok.data, tok.len);
	}
	if (rc == OCIKP_OK && (resp->status < 200 || resp->status > 299))
		rc = kms_fail(ctx, op, resp->status, resp->body.data, resp->body.len);
	h->buf_free(&url);
	h->buf_free(&auth);
	h->buf_free(&tok);
	h->buf_free(&stale);
	h->buf_free(&quota);
	return rc;
}

/* {"<field>":"<base64>","<field>Crc32c":"<decimal>"} */
static int request_body(struct ocikp_ctx *ctx, const char *field, const struct ocikp_buf *data,
			struct ocikp_buf *out)
{
	const struct ocikp_host *h = ctx->host;
	ocikp_jgen *g = h->jgen_new();
	char key[32], crc[16];

	if (!g) {
		ocikp_errorf(ctx, "out of memory");
		return OCIKP_INTERNAL;
	}
	snprintf(key, sizeof(key), "%sCrc32c", field);
	snprintf(crc, sizeof(crc), "%lu", (unsigned long)crc32c(0, data->data, data->len));
	h->jgen_map_open(g);
	h->jgen_key(g, field);
	h->jgen_b64(g, data->data, data->len);
	h->jgen_key(g, key);
	h->jgen_string(g, crc, strlen(crc));
	h->jgen_map_close(g);
	return h->jgen_finish(g, out);
}

int kms_encrypt(struct ocikp_ctx *ctx, const struct gcpkms_opts *o, struct gcp_cred *c,
		const char *name, const struct ocikp_buf *plain, struct ocikp_buf *cipher)
{
	const struct ocikp_host *h = ctx->host;
	struct ocikp_buf body = { 0 };
	struct http_resp resp = { 0 };
	int rc;

	if (plain->len == 0 || plain->len > MAX_PLAINTEXT) {
		ocikp_errorf(ctx, "%zu bytes to wrap; Cloud KMS takes 1 to %d", plain->len, MAX_PLAINTEXT);
		return OCIKP_BAD_INPUT;
	}
	rc = request_body(ctx, "plaintext", plain, &body);
	if (rc == OCIKP_OK)
		rc = kms_call(ctx, o, c, KMS_WRAP, name, "encrypt", &body, &resp);
	if (rc == OCIKP_OK)
		rc = kms_parse_encrypt(ctx, resp.body.data, resp.body.len,
				       crc32c(0, plain->data, plain->len), cipher);
	h->buf_free(&body);
	http_resp_free(ctx, &resp);
	return rc;
}

int kms_decrypt(struct ocikp_ctx *ctx, const struct gcpkms_opts *o, struct gcp_cred *c,
		const char *name, const struct ocikp_buf *cipher, struct ocikp_buf *plain)
{
	const struct ocikp_host *h = ctx->host;
	struct ocikp_buf body = { 0 };
	struct http_resp resp = { 0 };
	int rc = request_body(ctx, "ciphertext", cipher, &body);

	if (rc == OCIKP_OK)
		rc = kms_call(ctx, o, c, KMS_UNWRAP, name, "decrypt", &body, &resp);
	if (rc == OCIKP_OK)
		rc = kms_parse_decrypt(ctx, resp.body.data, resp.body.len, plain);
	h->buf_free(&body);
	http_resp_free(ctx, &resp);
	return rc;
}
