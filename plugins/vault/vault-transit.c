/*
 * Transit encrypt and decrypt (Vault's HTTP API, /v1/MOUNT/encrypt/NAME
 * and /v1/MOUNT/decrypt/NAME), and Vault's errors.
 *
 * The ciphertext Vault returns ("vault:vN:<base64>", N the key version)
 * is kept verbatim in the annotation, so `vault write transit/decrypt`
 * opens what ocikp wrapped and a rotated key still decrypts old images.
 */
#include <stdio.h>
#include <string.h>
#include "vault.h"

#define MAX_PLAINTEXT (32 * 1024)	/* optsdata is a few hundred bytes */
#define ERR_MAX 300			/* bytes of Vault's error text in the line */

static int b64_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '+' || c == '/' || c == '=';
}

/* Bounded by len alone: s need not be NUL-terminated. */
int vault_ciphertext_ok(const char *s, size_t len)
{
	size_t i = 7, n;

	if (len < 10 || len > VAULT_CT_MAX || memcmp(s, "vault:v", 7) != 0 || s[7] == '0')
		return 0;
	while (i < len && s[i] >= '0' && s[i] <= '9')
		i++;
	n = i - 7;
	if (n == 0 || n > 10 || i + 1 >= len || s[i] != ':')
		return 0;
	for (i++; i < len; i++)
		if (!b64_char(s[i]))
			return 0;
	return 1;
}

/* The answer's "data" object, or OCIKP_UNAVAILABLE naming what is wrong. */
static int parse_data(struct ocikp_ctx *ctx, const void *body, size_t len, ocikp_json **doc,
		      const ocikp_json **data)
{
	const struct ocikp_host *h = ctx->host;

	if (h->json_parse(ctx, "Vault answer", body, len, doc) != OCIKP_OK)
		return OCIKP_UNAVAILABLE;
	*data = h->json_get(*doc, "data");
	if (h->json_type(*data) != OCIKP_JSON_OBJECT) {
		ocikp_errorf(ctx, "Vault answer: no data object");
		return OCIKP_UNAVAILABLE;
	}
	return OCIKP_OK;
}

int vault_parse_encrypt(struct ocikp_ctx *ctx, const void *body, size_t len, struct ocikp_buf *cipher)
{
	const struct ocikp_host *h = ctx->host;
	const ocikp_json *data = NULL, *ct;
	ocikp_json *doc = NULL;
	int rc = parse_data(ctx, body, len, &doc, &data);

	if (rc == OCIKP_OK) {
		ct = h->json_get(data, "ciphertext");
		if (!h->json_string(ct) || strlen(h->json_string(ct)) != h->json_string_len(ct) ||
		    !vault_ciphertext_ok(h->json_string(ct), h->json_string_len(ct))) {
			ocikp_errorf(ctx, "Vault answer: no ciphertext of the form vault:vN:<base64>");
			rc = OCIKP_UNAVAILABLE;
		} else {
			rc = h->buf_append(cipher, h->json_string(ct), h->json_string_len(ct) + 1);
			if (rc == OCIKP_OK)
				cipher->len--;
		}
	}
	h->json_free(doc);
	return rc;
}

int vault_parse_decrypt(struct ocikp_ctx *ctx, const void *body, size_t len, struct ocikp_buf *plain)
{
	const struct ocikp_host *h = ctx->host;
	const ocikp_json *data = NULL, *pt;
	struct ocikp_buf tmp = { 0 };
	ocikp_json *doc = NULL;
	int rc = parse_data(ctx, body, len, &doc, &data);

	if (rc == OCIKP_OK) {
		pt = h->json_get(data, "plaintext");
		if (!h->json_string(pt)) {
			ocikp_errorf(ctx, "Vault answer: no plaintext");
			rc = OCIKP_UNAVAILABLE;
		} else if (h->b64_decode(ctx, "Vault answer: plaintext", h->json_string(pt),
					 h->json_string_len(pt), 0, &tmp) != OCIKP_OK) {
			rc = OCIKP_UNAVAILABLE;	/* the server's fault, not the user's input */
		}
	}
	if (rc == OCIKP_OK && tmp.len == 0) {
		ocikp_errorf(ctx, "Vault answer: empty plaintext");
		rc = OCIKP_UNAVAILABLE;
	}
	if (rc == OCIKP_OK)
		rc = h->buf_append(plain, tmp.data, tmp.len);
	h->buf_free(&tmp);
	h->json_free(doc);
	return rc;
}

/* Vault's multi-errors read "1 error occurred:\n\t* permission denied\n\n":
 * every run of white space becomes one space, none at the ends. */
static void squeeze(char *s)
{
	char *w = s, *start = s;
	int space = 0;

	for (; *s; s++) {
		if (strchr(" \t\r\n\v\f", *s)) {
			space = 1;
			continue;
		}
		if (space && w > start)
			*w++ = ' ';
		space = 0;
		*w++ = *s;
	}
	*w = '\0';
}

/* Vault's {"errors": ["...", ...]} joined with "; "; out is empty if the
 * body has none (a proxy's HTML page). */
static void error_text(struct ocikp_ctx *ctx, const void *body, size_t len, char *out, size_t cap)
{
	const struct ocikp_host *h = ctx->host;
	const ocikp_json *errs;
	ocikp_json *doc = NULL;
	const char *s;
	size_t i, n = 0;

	out[0] = '\0';
	if (!len || h->json_parse(ctx, "Vault error", body, len, &doc) != OCIKP_OK) {
		ocikp_error_clear(ctx);
		return;
	}
	errs = h->json_get(doc, "errors");
	for (i = 0; i < h->json_array_len(errs) && n + 3 < cap; i++) {
		s = h->json_string(h->json_array_at(errs, i));
		if (!s || !*s)
			continue;
		n += (size_t)snprintf(out + n, cap - n, "%s%s", n ? "; " : "", s);
		if (n >= cap)
			n = cap - 1;
	}
	h->json_free(doc);
	squeeze(out);
}

int vault_fail(struct ocikp_ctx *ctx, enum vault_op op, long http_status, const void *body, size_t len)
{
	char text[ERR_MAX + 1];
	int rc;

	error_text(ctx, body, len, text, sizeof(text));
	if (http_status == 429 || http_status >= 500)
		rc = OCIKP_UNAVAILABLE;	/* sealed, standby, overloaded: another try may do */
	else if (http_status == 401)
		rc = OCIKP_CONFIG;
	else if (op == VAULT_UNWRAP)
		rc = OCIKP_WRONG_KEY;	/* 403 permission denied, 400 cannot decrypt, 404 */
	else if (http_status == 403)
		rc = OCIKP_CONFIG;	/* the token's policy lacks encrypt on this key */
	else
		rc = OCIKP_BAD_INPUT;	/* 400, 404: the key URL names no usable key */

	/* The text is the server's; the host makes it one line. */
	if (text[0])
		ocikp_errorf(ctx, "Vault answered HTTP %ld: %s", http_status, text);
	else
		ocikp_errorf(ctx, "Vault answered HTTP %ld", http_status);
	return rc;
}

/* POST {address}/v1/MOUNT/VERB/NAME once with the token (and namespace)
 * headers. */
static int transit_once(struct ocikp_ctx *ctx, const struct vault_opts *o, const char *verb,
			const struct vault_key *k, const struct ocikp_buf *tok,
			const struct ocikp_buf *body, struct http_resp *resp)
{
	const struct ocikp_host *h = ctx->host;
	struct ocikp_buf url = { 0 }, tokh = { 0 }, nsh = { 0 };
	const char *headers[3] = { NULL };
	struct http_req req = { 0 };
	int rc;

	h->buf_append(&url, o->address, strlen(o->address));
	h->buf_append(&url, "/v1/", 4);
	h->buf_append(&url, k->mount, strlen(k->mount));
	h->buf_append(&url, "/", 1);
	h->buf_append(&url, verb, strlen(verb));
	h->buf_append(&url, "/", 1);
	rc = h->buf_append(&url, k->name, strlen(k->name) + 1);
	if (rc == OCIKP_OK) {
		h->buf_append(&tokh, "X-Vault-Token: ", 15);
		rc = h->buf_append(&tokh, tok->data, tok->len + 1);
	}
	if (rc == OCIKP_OK && o->namespace) {
		h->buf_append(&nsh, "X-Vault-Namespace: ", 19);
		rc = h->buf_append(&nsh, o->namespace, strlen(o->namespace) + 1);
	}
	if (rc == OCIKP_OK) {
		headers[0] = (const char *)tokh.data;
		headers[1] = o->namespace ? (const char *)nsh.data : NULL;
		req.method = "POST";
		req.url = (const char *)url.data;
		req.headers = headers;
		req.body = body->data;
		req.body_len = body->len;
		req.content_type = "application/json";
		http_resp_free(ctx, resp);
		rc = http_request(ctx, &o->http, &req, resp);
		ocikp_debugf(ctx, "POST /v1/%s/%s/%s: HTTP %ld", k->mount, verb, k->name, resp->status);
	}
	h->buf_free(&url);
	h->buf_free(&tokh);
	h->buf_free(&nsh);
	return rc;
}

/* The call with this request's token; a login token refused with 403
 * (revoked, expired early) costs exactly one new login and one retry, a
 * static token none.  OK only for a 2xx answer, left in resp. */
static int transit_call(struct ocikp_ctx *ctx, const struct vault_opts *o, enum vault_op op,
			const struct vault_key *k, const struct ocikp_buf *body, struct http_resp *resp)
{
	const struct ocikp_host *h = ctx->host;
	const char *verb = op == VAULT_WRAP ? "encrypt" : "decrypt";
	struct ocikp_buf tok = { 0 }, stale = { 0 };
	int rc = OCIKP_OK, attempt, is_login = 0;

	for (attempt = 0; rc == OCIKP_OK && attempt < 2; attempt++) {
		h->buf_free(&tok);
		rc = vault_token(ctx, o, attempt ? &stale : NULL, &tok, &is_login);
		if (rc == OCIKP_OK)
			rc = transit_once(ctx, o, verb, k, &tok, body, resp);
		if (rc != OCIKP_OK || resp->status != 403 || !is_login || attempt)
			break;
		ocikp_debugf(ctx, "Vault refused the login token: logging in again");
		rc = h->buf_append(&stale, tok.data, tok.len);
	}
	/* lib/http's line for a 5xx or 429 after its retries does not say
	 * why; Vault's own text ("Vault is sealed") does. */
	if ((rc == OCIKP_OK || rc == OCIKP_UNAVAILABLE) &&
	    (resp->status == 429 || resp->status >= 500 ||
	     (rc == OCIKP_OK && (resp->status < 200 || resp->status > 299))))
		rc = vault_fail(ctx, op, resp->status, resp->body.data, resp->body.len);
	h->buf_free(&tok);
	h->buf_free(&stale);
	return rc;
}

/* {"plaintext"|"ciphertext": ..., "context"?: base64} */
static int request_body(struct ocikp_ctx *ctx, const struct vault_opts *o, enum vault_op op,
			const void *data, size_t len, struct ocikp_buf *out)
{
	const struct ocikp_host *h = ctx->host;
	ocikp_jgen *g = h->jgen_new();

	if (!g) {
		ocikp_errorf(ctx, "out of memory");
		return OCIKP_INTERNAL;
	}
	h->jgen_map_open(g);
	if (op == VAULT_WRAP) {
		h->jgen_key(g, "plaintext");
		h->jgen_b64(g, data, len);
	} else {
		h->jgen_key(g, "ciphertext");
		h->jgen_string(g, data, len);
	}
	if (o->context) {
		h->jgen_key(g, "context");
		h->jgen_b64(g, o->context, strlen(o->context));
	}
	h->jgen_map_close(g);
	return h->jgen_finish(g, out);
}

int vault_encrypt(struct ocikp_ctx *ctx, const struct vault_opts *o, const struct vault_key *k,
		  const struct ocikp_buf *plain, struct ocikp_buf *cipher)
{
	const struct ocikp_host *h = ctx->host;
	struct ocikp_buf body = { 0 };
	struct http_resp resp = { 0 };
	int rc;

	if (plain->len == 0 || plain->len > MAX_PLAINTEXT) {
		ocikp_errorf(ctx, "%zu bytes to wrap; the vault backend takes 1 to %d", plain->len,
			     MAX_PLAINTEXT);
		return OCIKP_BAD_INPUT;
	}
	rc = request_body(ctx, o, VAULT_WRAP, plain->data, plain->len, &body);
	if (rc == OCIKP_OK)
		rc = transit_call(ctx, o, VAULT_WRAP, k, &body, &resp);
	if (rc == OCIKP_OK)
		rc = vault_parse_encrypt(ctx, resp.body.data, resp.body.len, cipher);
	h->buf_free(&body);
	http_resp_free(ctx, &resp);
	return rc;
}

int vault_decrypt(struct ocikp_ctx *ctx, const struct vault_opts *o, const struct vault_key *k,
		  const char *cipher, struct ocikp_buf *plain)
{
	const struct ocikp_host *h = ctx->host;
	struct ocikp_buf body = { 0 };
	struct http_resp resp = { 0 };
	int rc = request_body(ctx, o, VAULT_UNWRAP, cipher, strlen(cipher), &body);

	if (rc == OCIKP_OK)
		rc = transit_call(ctx, o, VAULT_UNWRAP, k, &body, &resp);
	if (rc == OCIKP_OK)
		rc = vault_parse_decrypt(ctx, resp.body.data, resp.body.len, plain);
	h->buf_free(&body);
	http_resp_free(ctx, &resp);
	return rc;
}
