/*
 * Signature Version 4, from AWS's "Create a signed AWS API request":
 *
 *   CanonicalRequest = METHOD \n PATH \n QUERY \n HEADERS \n \n SIGNED \n hex(SHA256(payload))
 *   StringToSign     = "AWS4-HMAC-SHA256" \n X-AMZ-DATE \n SCOPE \n hex(SHA256(CanonicalRequest))
 *   SCOPE            = DATE/REGION/SERVICE/aws4_request
 *   kSigning         = HMAC(HMAC(HMAC(HMAC("AWS4" secret, DATE), REGION), SERVICE), "aws4_request")
 *
 * Query parameters are RFC 3986-encoded (only A-Za-z0-9-_.~ kept) and
 * sorted; header names lowercased, values trimmed with inner runs of
 * whitespace collapsed, sorted by name.  host and x-amz-date are always
 * signed, x-amz-security-token with session credentials.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include "awskms.h"

#define MAX_HEADERS 16
#define MAX_PARAMS 64

static void hex(const unsigned char *d, size_t n, char *out)
{
	static const char x[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = x[d[i] >> 4];
		out[2 * i + 1] = x[d[i] & 15];
	}
	out[2 * n] = '\0';
}

static void sha256_hex(const void *d, size_t n, char out[65])
{
	unsigned char md[SHA256_DIGEST_LENGTH];

	SHA256(d, n, md);
	hex(md, sizeof(md), out);
}

static int put(struct ocikp_ctx *ctx, struct ocikp_buf *b, const char *s)
{
	return ctx->host->buf_append(b, s, strlen(s));
}

/* RFC 3986 percent-encoding of n bytes: unreserved kept, the rest %XX. */
static int uri_encode(struct ocikp_ctx *ctx, struct ocikp_buf *b, const char *s, size_t n)
{
	static const char x[] = "0123456789ABCDEF";
	char e[3];
	size_t i;
	int rc = OCIKP_OK;

	for (i = 0; i < n && rc == OCIKP_OK; i++) {
		unsigned char ch = (unsigned char)s[i];

		if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
		    ch == '-' || ch == '_' || ch == '.' || ch == '~') {
			rc = ctx->host->buf_append(b, s + i, 1);
			continue;
		}
		e[0] = '%';
		e[1] = x[ch >> 4];
		e[2] = x[ch & 15];
		rc = ctx->host->buf_append(b, e, 3);
	}
	return rc;
}

struct param {
	struct ocikp_buf enc;	/* "key=value", both encoded */
	size_t klen;		/* of the encoded key */
};

static int param_cmp(const void *a, const void *b)
{
	const struct param *p = a, *q = b;
	size_t n = p->klen < q->klen ? p->klen : q->klen;
	int c = memcmp(p->enc.data, q->enc.data, n);

	if (c || p->klen != q->klen)
		return c ? c : (p->klen < q->klen ? -1 : 1);
	return strcmp((const char *)p->enc.data + p->klen, (const char *)q->enc.data + q->klen);
}

/* The canonical query string: each parameter encoded, sorted by key, then value. */
static int canonical_query(struct ocikp_ctx *ctx, const char *q, struct ocikp_buf *out)
{
	const struct ocikp_host *h = ctx->host;
	struct param p[MAX_PARAMS];
	size_t np = 0, i, n, k;
	int rc = OCIKP_OK;

	memset(p, 0, sizeof(p));
	while (q && *q && rc == OCIKP_OK) {
		if (np == MAX_PARAMS) {
			ocikp_errorf(ctx, "SigV4: more than %d query parameters", MAX_PARAMS);
			rc = OCIKP_INTERNAL;
			break;
		}
		n = strcspn(q, "&");
		k = strcspn(q, "=");
		if (k > n)
			k = n;
		rc = uri_encode(ctx, &p[np].enc, q, k);
		p[np].klen = p[np].enc.len;
		if (rc == OCIKP_OK)
			rc = h->buf_append(&p[np].enc, "=", 1);
		if (rc == OCIKP_OK && k < n)
			rc = uri_encode(ctx, &p[np].enc, q + k + 1, n - k - 1);
		np++;
		q += n + (q[n] == '&');
	}
	if (rc == OCIKP_OK)
		qsort(p, np, sizeof(p[0]), param_cmp);
	for (i = 0; i < np; i++) {
		if (rc == OCIKP_OK && i)
			rc = h->buf_append(out, "&", 1);
		if (rc == OCIKP_OK)
			rc = h->buf_append(out, p[i].enc.data, p[i].enc.len);
		h->buf_free(&p[i].enc);
	}
	return rc;
}

static int hdr_cmp(const void *a, const void *b)
{
	return strcasecmp(((const struct sigv4_header *)a)->name,
			  ((const struct sigv4_header *)b)->name);
}

/* The headers to sign, sorted by lowercased name. */
static int signed_set(struct ocikp_ctx *ctx, const struct sigv4_req *r, const struct aws_cred *c,
		      struct sigv4_header *hs, size_t *n)
{
	size_t i;

	if (r->nheaders + 3 > MAX_HEADERS) {
		ocikp_errorf(ctx, "SigV4: too many headers");
		return OCIKP_INTERNAL;
	}
	*n = 0;
	hs[(*n)++] = (struct sigv4_header){ "host", r->host };
	hs[(*n)++] = (struct sigv4_header){ "x-amz-date", r->amz_date };
	if (c->token.len)
		hs[(*n)++] = (struct sigv4_header){ "x-amz-security-token", (const char *)c->token.data };
	for (i = 0; i < r->nheaders; i++)
		hs[(*n)++] = r->headers[i];
	qsort(hs, *n, sizeof(hs[0]), hdr_cmp);
	return OCIKP_OK;
}

static int lower(struct ocikp_ctx *ctx, struct ocikp_buf *b, const char *s)
{
	char ch;
	int rc = OCIKP_OK;

	for (; *s && rc == OCIKP_OK; s++) {
		ch = (*s >= 'A' && *s <= 'Z') ? (char)(*s - 'A' + 'a') : *s;
		rc = ctx->host->buf_append(b, &ch, 1);
	}
	return rc;
}

/* A value trimmed, inner runs of spaces and tabs made one space. */
static int trimmed(struct ocikp_ctx *ctx, struct ocikp_buf *b, const char *v)
{
	int rc = OCIKP_OK, space = 0;

	v += strspn(v, " \t");
	for (; *v && rc == OCIKP_OK; v++) {
		if (*v == ' ' || *v == '\t') {
			space = 1;
			continue;
		}
		if (space)
			rc = ctx->host->buf_append(b, " ", 1);
		space = 0;
		if (rc == OCIKP_OK)
			rc = ctx->host->buf_append(b, v, 1);
	}
	return rc;
}

static int signed_names(struct ocikp_ctx *ctx, const struct sigv4_header *hs, size_t n,
			struct ocikp_buf *out)
{
	size_t i;
	int rc = OCIKP_OK;

	for (i = 0; i < n && rc == OCIKP_OK; i++) {
		if (i)
			rc = ctx->host->buf_append(out, ";", 1);
		if (rc == OCIKP_OK)
			rc = lower(ctx, out, hs[i].name);
	}
	return rc;
}

int sigv4_canonical(struct ocikp_ctx *ctx, const struct sigv4_req *r, const struct aws_cred *c,
		    struct ocikp_buf *out)
{
	struct sigv4_header hs[MAX_HEADERS];
	char ph[65];
	size_t n, i;
	int rc = signed_set(ctx, r, c, hs, &n);

	if (rc == OCIKP_OK)
		rc = put(ctx, out, r->method);
	if (rc == OCIKP_OK)
		rc = put(ctx, out, "\n");
	if (rc == OCIKP_OK)
		rc = put(ctx, out, r->path);
	if (rc == OCIKP_OK)
		rc = put(ctx, out, "\n");
	if (rc == OCIKP_OK)
		rc = canonical_query(ctx, r->query, out);
	if (rc == OCIKP_OK)
		rc = put(ctx, out, "\n");
	for (i = 0; i < n && rc == OCIKP_OK; i++) {
		rc = lower(ctx, out, hs[i].name);
		if (rc == OCIKP_OK)
			rc = put(ctx, out, ":");
		if (rc == OCIKP_OK)
			rc = trimmed(ctx, out, hs[i].value);
		if (rc == OCIKP_OK)
			rc = put(ctx, out, "\n");
	}
	if (rc == OCIKP_OK)
		rc = put(ctx, out, "\n");
	if (rc == OCIKP_OK)
		rc = signed_names(ctx, hs, n, out);
	sha256_hex(r->payload ? r->payload : "", r->payload_len, ph);
	if (rc == OCIKP_OK)
		rc = put(ctx, out, "\n");
	if (rc == OCIKP_OK)
		rc = put(ctx, out, ph);
	return rc;
}

static int hmac(struct ocikp_ctx *ctx, const void *key, size_t klen, const char *msg,
		size_t mlen, unsigned char out[32])
{
	unsigned int olen = 32;

	if (!HMAC(EVP_sha256(), key, (int)klen, (const unsigned char *)msg, mlen, out, &olen)) {
		ocikp_errorf(ctx, "SigV4: HMAC-SHA256 failed");
		return OCIKP_INTERNAL;
	}
	return OCIKP_OK;
}

/* kSigning from the secret; the intermediate keys wiped. */
static int signing_key(struct ocikp_ctx *ctx, const struct sigv4_req *r, const struct aws_cred *c,
		       unsigned char k[32])
{
	const struct ocikp_host *h = ctx->host;
	struct ocikp_buf seed = { 0 };
	unsigned char t[32];
	int rc = h->buf_append(&seed, "AWS4", 4);

	if (rc == OCIKP_OK)
		rc = h->buf_append(&seed, c->secret.data, c->secret.len);
	if (rc == OCIKP_OK)
		rc = hmac(ctx, seed.data, seed.len, r->amz_date, 8, t);
	if (rc == OCIKP_OK)
		rc = hmac(ctx, t, 32, r->region, strlen(r->region), k);
	if (rc == OCIKP_OK)
		rc = hmac(ctx, k, 32, r->service, strlen(r->service), t);
	if (rc == OCIKP_OK)
		rc = hmac(ctx, t, 32, "aws4_request", 12, k);
	OPENSSL_cleanse(t, sizeof(t));
	h->buf_free(&seed);
	return rc;
}

int sigv4_authorization(struct ocikp_ctx *ctx, const struct sigv4_req *r,
			const struct aws_cred *c, struct ocikp_buf *out)
{
	const struct ocikp_host *h = ctx->host;
	struct ocikp_buf creq = { 0 }, sts = { 0 }, scope = { 0 }, names = { 0 };
	struct sigv4_header hs[MAX_HEADERS];
	unsigned char k[32], sig[32];
	char crh[65], sigh[65];
	size_t n;
	int rc = sigv4_canonical(ctx, r, c, &creq);

	if (rc == OCIKP_OK && strlen(r->amz_date) != 16) {
		ocikp_errorf(ctx, "SigV4: malformed x-amz-date");
		rc = OCIKP_INTERNAL;
	}
	if (rc == OCIKP_OK) {
		sha256_hex(creq.data, creq.len, crh);
		h->buf_append(&scope, r->amz_date, 8);
		put(ctx, &scope, "/");
		put(ctx, &scope, r->region);
		put(ctx, &scope, "/");
		put(ctx, &scope, r->service);
		rc = put(ctx, &scope, "/aws4_request");
	}
	if (rc == OCIKP_OK) {
		put(ctx, &sts, "AWS4-HMAC-SHA256\n");
		put(ctx, &sts, r->amz_date);
		put(ctx, &sts, "\n");
		h->buf_append(&sts, scope.data, scope.len);
		put(ctx, &sts, "\n");
		rc = put(ctx, &sts, crh);
	}
	if (rc == OCIKP_OK)
		rc = signing_key(ctx, r, c, k);
	if (rc == OCIKP_OK)
		rc = hmac(ctx, k, 32, (const char *)sts.data, sts.len, sig);
	if (rc == OCIKP_OK)
		rc = signed_set(ctx, r, c, hs, &n);
	if (rc == OCIKP_OK)
		rc = signed_names(ctx, hs, n, &names);
	if (rc == OCIKP_OK) {
		hex(sig, 32, sigh);
		put(ctx, out, "AWS4-HMAC-SHA256 Credential=");
		h->buf_append(out, c->akid.data, c->akid.len);
		put(ctx, out, "/");
		h->buf_append(out, scope.data, scope.len);
		put(ctx, out, ", SignedHeaders=");
		h->buf_append(out, names.data, names.len);
		put(ctx, out, ", Signature=");
		rc = put(ctx, out, sigh);
	}
	OPENSSL_cleanse(k, sizeof(k));
	OPENSSL_cleanse(sig, sizeof(sig));
	h->buf_free(&creq);
	h->buf_free(&sts);
	h->buf_free(&scope);
	h->buf_free(&names);
	return rc;
}

void sigv4_now(char out[17])
{
	time_t t = time(NULL);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, 17, "%Y%m%dT%H%M%SZ", &tm);
}

void aws_backoff(struct ocikp_ctx *ctx, int attempt)
{
	long ms = 200L << attempt, left = ctx->host->deadline_ms(ctx);
	struct timespec ts;

	if (ms > left / 2)
		ms = left / 2;
	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (ms % 1000) * 1000000L;
	nanosleep(&ts, NULL);
}

static int header(struct ocikp_ctx *ctx, struct ocikp_buf *b, const char *name, const void *v,
		  size_t n)
{
	put(ctx, b, name);
	put(ctx, b, ": ");
	return ctx->host->buf_append(b, v, n);
}

int sigv4_post(struct ocikp_ctx *ctx, const struct http_opts *ho, const struct aws_cred *c,
	       const char *region, const char *service, const char *url, const char *host,
	       const char *content_type, const char *target, const struct ocikp_buf *body,
	       struct http_resp *resp)
{
	const struct ocikp_host *h = ctx->host;
	struct ocikp_buf hv[5] = { { 0 } };
	struct sigv4_header sh[2] = { { "content-type", content_type }, { "x-amz-target", target } };
	struct sigv4_req sr = { .method = "POST", .host = host, .path = "/", .headers = sh,
				.nheaders = target ? 2 : 1, .payload = body->data,
				.payload_len = body->len, .region = region, .service = service };
	struct http_req req = { .method = "POST", .url = url, .body = body->data,
				.body_len = body->len, .content_type = content_type };
	const char *hs[6];
	char date[17];
	int rc, n = 0, i;

	sigv4_now(date);
	sr.amz_date = date;
	put(ctx, &hv[0], "Authorization: ");
	rc = sigv4_authorization(ctx, &sr, c, &hv[0]);
	header(ctx, &hv[1], "Host", host, strlen(host));
	header(ctx, &hv[2], "X-Amz-Date", date, strlen(date));
	if (target)
		header(ctx, &hv[3], "X-Amz-Target", target, strlen(target));
	if (c->token.len)
		header(ctx, &hv[4], "X-Amz-Security-Token", c->token.data, c->token.len);
	for (i = 1; i < 5; i++)
		if (hv[i].len)
			hs[n++] = (const char *)hv[i].data;
	hs[n++] = (const char *)hv[0].data;
	hs[n] = NULL;
	req.headers = hs;
	if (rc == OCIKP_OK)
		rc = http_request(ctx, ho, &req, resp);
	for (i = 0; i < 5; i++)
		h->buf_free(&hv[i]);
	return rc;
}
