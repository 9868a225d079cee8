/*
 * Credentials from a metadata service, the last two sources of the chain
 * (written from AWS's SDK reference for the container credential provider
 * and the EC2 IMDS documentation):
 *
 * Container (ECS task roles, EKS Pod Identity): GET the URL
 *   http://169.254.170.2 + AWS_CONTAINER_CREDENTIALS_RELATIVE_URI, else
 *   AWS_CONTAINER_CREDENTIALS_FULL_URI: https:// to any host, plain http://
 *   only to a host whose every address is loopback, ECS's 169.254.170.2 or
 *   EKS's 169.254.170.23 / fd00:ec2::23.  Authorization: the contents of
 *   AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE (read for each fetch: EKS
 *   rotates it), else AWS_CONTAINER_AUTHORIZATION_TOKEN.
 *
 * IMDSv2 (EC2 instance roles), three calls, one attempt each:
 *   PUT  /latest/api/token  (X-aws-ec2-metadata-token-ttl-seconds)
 *   GET  /latest/meta-data/iam/security-credentials/       the role name
 *   GET  /latest/meta-data/iam/security-credentials/ROLE   its credentials
 * the GETs with X-aws-ec2-metadata-token.  IMDSv1 (a GET without a token)
 * never: a refused PUT makes the source fail.  No answer at all (not on
 * EC2) means not there, quickly: a 1 s connect timeout, no retry, so the
 * probe does not eat the request's budget.
 *
 * Both answer {"AccessKeyId", "SecretAccessKey", "Token", "Expiration"}.
 */
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <curl/curl.h>
#include "awskms.h"
#include "rfc3339.h"
#include "tokenfile.h"

#define ECS_BASE "http://169.254.170.2"
#define IMDS_BASE "http://169.254.169.254"
#define IMDS_BASE6 "http://[fd00:ec2::254]"
#define IMDS_TOKEN_PATH "/latest/api/token"
#define IMDS_ROLE_PATH "/latest/meta-data/iam/security-credentials/"
#define IMDS_TTL "21600"		/* seconds: the token lives for one acquisition anyway */
#define IMDS_CONNECT_MS 1000L
#define IMDS_TIMEOUT_MS 5000L
#define CONTAINER_CONNECT_MS 2000L
#define META_TOKEN_MAX 16384		/* bytes of an authorization or IMDS token */
#define ROLE_MAX 128

static const char *env(const char *name)
{
	const char *v = secure_getenv(name);

	return v && *v ? v : NULL;
}

static int oom(struct ocikp_ctx *ctx)
{
	ocikp_errorf(ctx, "out of memory");
	return OCIKP_INTERNAL;
}

/* ---- the answer ------------------------------------------------------------- */

static int take(struct ocikp_ctx *ctx, const ocikp_json *doc, const char *key, int need,
		const char *what, struct ocikp_buf *out)
{
	const struct ocikp_host *h = ctx->host;
	const ocikp_json *v = h->json_get(doc, key);
	const char *s = h->json_string(v);

	if (!s || !h->json_string_len(v)) {
		if (!need && h->json_type(v) == OCIKP_JSON_ABSENT)
			return OCIKP_OK;
		ocikp_errorf(ctx, "%s: no %s", what, key);
		return OCIKP_UNAVAILABLE;
	}
	return h->buf_append(out, s, h->json_string_len(v)) == OCIKP_OK ? OCIKP_OK : oom(ctx);
}

int meta_parse_cred(struct ocikp_ctx *ctx, const char *what, const void *body, size_t len,
		    struct aws_cred *c)
{
	const struct ocikp_host *h = ctx->host;
	ocikp_json *doc = NULL;
	const char *code, *exp;
	int rc = h->json_parse(ctx, what, body, len, &doc);

	if (rc == OCIKP_OK && h->json_type(doc) != OCIKP_JSON_OBJECT) {
		ocikp_errorf(ctx, "%s: not a JSON object", what);
		rc = OCIKP_UNAVAILABLE;
	} else if (rc != OCIKP_OK && rc != OCIKP_INTERNAL) {
		rc = OCIKP_UNAVAILABLE;
	}
	/* IMDS says how it went in Code; anything but Success is a failure */
	code = rc == OCIKP_OK ? h->json_string(h->json_get(doc, "Code")) : NULL;
	if (code && strcmp(code, "Success")) {
		const char *msg = h->json_string(h->json_get(doc, "Message"));

		ocikp_errorf(ctx, "%s: Code %.64s%s%.200s", what, code, msg ? ": " : "",
			     msg ? msg : "");
		rc = OCIKP_UNAVAILABLE;
	}
	if (rc == OCIKP_OK)
		rc = take(ctx, doc, "AccessKeyId", 1, what, &c->akid);
	if (rc == OCIKP_OK)
		rc = take(ctx, doc, "SecretAccessKey", 1, what, &c->secret);
	if (rc == OCIKP_OK)
		rc = take(ctx, doc, "Token", 0, what, &c->token);
	exp = rc == OCIKP_OK ? h->json_string(h->json_get(doc, "Expiration")) : NULL;
	c->expires_at = 0;
	if (rc == OCIKP_OK && exp && !rfc3339_parse(exp, &c->expires_at)) {
		ocikp_errorf(ctx, "%s: Expiration is not an RFC 3339 date-time", what);
		rc = OCIKP_UNAVAILABLE;
	} else if (rc == OCIKP_OK && !exp &&
		   h->json_type(h->json_get(doc, "Expiration")) != OCIKP_JSON_ABSENT) {
		ocikp_errorf(ctx, "%s: Expiration is not a string", what);
		rc = OCIKP_UNAVAILABLE;
	}
	if (rc == OCIKP_OK && c->expires_at && c->expires_at <= (long long)time(NULL)) {
		ocikp_errorf(ctx, "%s: the credentials expired already (at %.40s)", what, exp);
		rc = OCIKP_UNAVAILABLE;
	}
	if (rc == OCIKP_OK && (rc = cred_check(ctx, c)) != OCIKP_OK)
		rc = OCIKP_UNAVAILABLE;	/* the service's answer, not our configuration */
	h->json_free(doc);
	return rc;
}

/* An error answer: the line names its code and message when it gives them
 * ({"code","message"} from container agents, {"Code","Message"} from IMDS). */
static int answer_fail(struct ocikp_ctx *ctx, const struct http_req *req,
		       const struct http_resp *resp, int rc, const char *hint)
{
	const struct ocikp_host *h = ctx->host;
	ocikp_json *doc = NULL;
	const char *code = NULL, *msg = NULL;
	char why[320];

	if (resp->body.len && h->json_parse(ctx, "error", resp->body.data, resp->body.len,
					    &doc) == OCIKP_OK) {
		code = h->json_string(h->json_get(doc, "code"));
		if (!code)
			code = h->json_string(h->json_get(doc, "Code"));
		msg = h->json_string(h->json_get(doc, "message"));
		if (!msg)
			msg = h->json_string(h->json_get(doc, "Message"));
	}
	if (code || msg)
		snprintf(why, sizeof(why), "%.64s%s%.200s%s%s", code ? code : "",
			 code && msg ? ": " : "", msg ? msg : "", hint ? "; " : "", hint ? hint : "");
	else
		snprintf(why, sizeof(why), "%s", hint ? hint : "");
	rc = http_fail(ctx, req, resp, rc, why[0] ? why : NULL);
	h->json_free(doc);
	return rc;
}

/* An answer other than 200, whether lib/http took it (4xx) or gave up on
 * it (5xx): the caller names the service's code in the line. */
static int failed(int rc, const struct http_resp *resp)
{
	return (rc == OCIKP_OK || rc == OCIKP_UNAVAILABLE) && resp->status && resp->status != 200;
}

/* ---- container credentials ----------------------------------------------------- */

/* An address plain http may go to for container credentials. */
static int container_addr_ok(const struct sockaddr *sa)
{
	static const unsigned char eks6[16] = { 0xfd, 0x00, 0x0e, 0xc2, [15] = 0x23 };

	if (sa->sa_family == AF_INET) {
		uint32_t a = ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr);

		return (a >> 24) == 127 || a == 0xa9feaa02u || a == 0xa9feaa17u;
	}
	if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;

		return IN6_IS_ADDR_LOOPBACK(a) || !memcmp(a->s6_addr, eks6, 16);
	}
	return 0;
}

/* Every address of host (a name or a literal, IPv6 in brackets) allowed. */
static int container_host_ok(const char *host)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res = NULL, *ai;
	char name[256];
	size_t n = strlen(host);
	int ok;

	if (n >= sizeof(name))
		return 0;
	if (n > 2 && host[0] == '[' && host[n - 1] == ']') {
		memcpy(name, host + 1, n - 2);
		name[n - 2] = '\0';
	} else {
		memcpy(name, host, n + 1);
	}
	if (getaddrinfo(name, NULL, &hints, &res) != 0)
		return 0;
	for (ok = res != NULL, ai = res; ok && ai; ai = ai->ai_next)
		ok = container_addr_ok(ai->ai_addr);
	freeaddrinfo(res);
	return ok;
}

/* The URL to GET; *plain when it is http://. */
static int container_url(struct ocikp_ctx *ctx, struct ocikp_buf *url, int *plain)
{
	const struct ocikp_host *h = ctx->host;
	const char *rel = env("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
	const char *full = env("AWS_CONTAINER_CREDENTIALS_FULL_URI");
	char *scheme = NULL, *host = NULL;
	CURLU *u;
	int rc = OCIKP_OK;
	size_t i;

	if (rel) {
		for (i = 0; rel[i]; i++)
			if ((unsigned char)rel[i] <= 0x20 || rel[i] == 0x7f)
				break;
		if (rel[0] != '/' || rel[i]) {
			ocikp_errorf(ctx, "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI must be a path starting with /");
			return OCIKP_CONFIG;
		}
		*plain = 1;
		if (h->buf_append(url, ECS_BASE, strlen(ECS_BASE)) != OCIKP_OK ||
		    h->buf_append(url, rel, strlen(rel)) != OCIKP_OK)
			return oom(ctx);
		return OCIKP_OK;
	}
	if (!(u = curl_url()))
		return oom(ctx);
	if (curl_url_set(u, CURLUPART_URL, full, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK) {
		ocikp_errorf(ctx, "AWS_CONTAINER_CREDENTIALS_FULL_URI is not a URL");
		rc = OCIKP_CONFIG;
	} else if (strcmp(scheme, "https") && strcmp(scheme, "http")) {
		ocikp_errorf(ctx, "AWS_CONTAINER_CREDENTIALS_FULL_URI must be http:// or https://");
		rc = OCIKP_CONFIG;
	} else if ((*plain = !strcmp(scheme, "http")) && !container_host_ok(host)) {
		/* the host is not secret; the path and query may be */
		ocikp_errorf(ctx, "AWS_CONTAINER_CREDENTIALS_FULL_URI: plain http:// to %.64s refused: only to loopback, 169.254.170.2, 169.254.170.23 or fd00:ec2::23 (use https://)",
			     host);
		rc = OCIKP_CONFIG;
	} else if (h->buf_append(url, full, strlen(full)) != OCIKP_OK) {
		rc = oom(ctx);
	}
	curl_free(scheme);
	curl_free(host);
	curl_url_cleanup(u);
	return rc;
}

/* "Authorization: TOKEN" into hdr, or nothing when neither variable is set. */
static int container_auth(struct ocikp_ctx *ctx, struct ocikp_buf *hdr)
{
	const struct ocikp_host *h = ctx->host;
	const char *file = env("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");
	const char *tok = env("AWS_CONTAINER_AUTHORIZATION_TOKEN");
	struct ocikp_buf raw = { 0 };
	size_t i;
	int rc = OCIKP_OK;

	if (file)
		rc = token_file_read(ctx, "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", file,
				     META_TOKEN_MAX, &raw);
	else if (tok && h->buf_append(&raw, tok, strlen(tok)) != OCIKP_OK)
		rc = oom(ctx);
	else if (!tok)
		return OCIKP_OK;
	/* a trailing newline (echo > file) is not part of the token */
	while (rc == OCIKP_OK && raw.len && strchr(" \t\r\n", raw.data[raw.len - 1]))
		raw.data[--raw.len] = '\0';
	for (i = 0; rc == OCIKP_OK && i < raw.len; i++)
		if (raw.data[i] < 0x20 || raw.data[i] == 0x7f) {
			/* a line break would add a header of the token's choosing */
			ocikp_errorf(ctx, "%s: the authorization token holds a control character",
				     file ? "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE" :
					    "AWS_CONTAINER_AUTHORIZATION_TOKEN");
			rc = OCIKP_CONFIG;
		}
	if (rc == OCIKP_OK && !raw.len) {
		ocikp_errorf(ctx, "%s: the authorization token is empty",
			     file ? "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE" :
				    "AWS_CONTAINER_AUTHORIZATION_TOKEN");
		rc = OCIKP_CONFIG;
	}
	if (rc == OCIKP_OK && (h->buf_append(hdr, "Authorization: ", 15) != OCIKP_OK ||
			       h->buf_append(hdr, raw.data, raw.len) != OCIKP_OK))
		rc = oom(ctx);
	h->buf_free(&raw);
	return rc;
}

int meta_container_cred(struct ocikp_ctx *ctx, const struct awskms_opts *o, struct aws_cred *c,
			int *found)
{
	const struct ocikp_host *h = ctx->host;
	struct ocikp_buf url = { 0 }, auth = { 0 };
	struct http_opts ho = o->http;
	struct http_resp resp = { 0 };
	struct http_req req = { .method = "GET" };
	const char *hs[3] = { "Accept: application/json", NULL, NULL };
	int rc, plain = 0;

	*found = 0;
	if (!env("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI") &&
	    !env("AWS_CONTAINER_CREDENTIALS_FULL_URI"))
		return OCIKP_OK;
	*found = 1;
	snprintf(c->source, sizeof(c->source), "container credentials");
	rc = container_url(ctx, &url, &plain);
	if (rc == OCIKP_OK)
		rc = container_auth(ctx, &auth);
	if (rc != OCIKP_OK)
		goto out;
	if (auth.len)
		hs[1] = (const char *)auth.data;
	req.url = (const char *)url.data;
	req.headers = hs;
	if (plain)
		ho.flags |= HTTP_PLAIN_LOCAL;	/* checked above, and by lib/http at connect */
	if (ho.connect_timeout_ms > CONTAINER_CONNECT_MS)
		ho.connect_timeout_ms = CONTAINER_CONNECT_MS;
	rc = http_request(ctx, &ho, &req, &resp);
	ocikp_debugf(ctx, "container credentials: HTTP %ld", resp.status);
	if (failed(rc, &resp))
		rc = answer_fail(ctx, &req, &resp, resp.status == 401 || resp.status == 403 ?
				 OCIKP_CONFIG : OCIKP_UNAVAILABLE,
				 resp.status == 401 || resp.status == 403 ?
				 "check the authorization token" : NULL);
	if (rc == OCIKP_OK)
		rc = meta_parse_cred(ctx, "container credentials answer", resp.body.data,
				     resp.body.len, c);
out:
	http_resp_free(ctx, &resp);
	h->buf_free(&url);
	h->buf_free(&auth);
	return rc;
}

/* ---- IMDSv2 ---------------------------------------------------------------- */

static int imds_call(struct ocikp_ctx *ctx, const struct http_opts *ho, const char *base,
		     const char *method, const char *path, const char *hdr,
		     struct ocikp_buf *url, struct http_req *req, struct http_resp *resp)
{
	const struct ocikp_host *h = ctx->host;
	const char *hs[2] = { hdr, NULL };
	int rc;

	h->buf_free(url);
	http_resp_free(ctx, resp);
	if (h->buf_append(url, base, strlen(base)) != OCIKP_OK ||
	    h->buf_append(url, path, strlen(path)) != OCIKP_OK)
		return oom(ctx);
	memset(req, 0, sizeof(*req));
	req->method = method;
	req->url = (const char *)url->data;
	req->headers = hs;
	rc = http_request(ctx, ho, req, resp);
	req->headers = NULL;	/* hs is gone; http_fail reads no headers */
	ocikp_debugf(ctx, "IMDS %s %s: HTTP %ld", method, path, resp->status);
	return rc;
}

/* The body as one trimmed printable token (the IMDS token, a role name). */
static int imds_text(struct ocikp_ctx *ctx, const unsigned char *p, size_t n, const char *what,
		     size_t max, const char *allowed, struct ocikp_buf *out)
{
	size_t i;

	while (n && strchr(" \t\r\n", p[n - 1]))
		n--;
	for (i = 0; i < n; i++)
		if (p[i] <= 0x20 || p[i] >= 0x7f || (allowed && !strchr(allowed, p[i])))
			break;
	if (!n || n > max || i < n) {
		ocikp_errorf(ctx, "IMDS: the %s is malformed", what);
		return OCIKP_UNAVAILABLE;
	}
	return ctx->host->buf_append(out, p, n) == OCIKP_OK ? OCIKP_OK : oom(ctx);
}

int meta_imds_cred(struct ocikp_ctx *ctx, const struct awskms_opts *o, struct aws_cred *c,
		   int *found)
{
	static const char role_chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
					 "0123456789+=,.@_-";
	const struct ocikp_host *h = ctx->host;
	const char *base = o->imds_endpoint ? o->imds_endpoint :
			   o->imds_ipv6 ? IMDS_BASE6 : IMDS_BASE;
	struct http_opts ho = o->http;
	struct http_req req;
	struct http_resp resp = { 0 };
	struct ocikp_buf url = { 0 }, tok = { 0 }, role = { 0 }, path = { 0 };
	int rc;

	*found = 0;
	if (o->imds_disabled) {
		ocikp_debugf(ctx, "IMDS: off (AWS_EC2_METADATA_DISABLED)");
		return OCIKP_OK;
	}
	ho.flags |= HTTP_PLAIN_LOCAL;	/* IMDS speaks http, on a link-local address */
	ho.attempts = 1;
	ho.connect_timeout_ms = IMDS_CONNECT_MS;
	if (ho.timeout_ms <= 0 || ho.timeout_ms > IMDS_TIMEOUT_MS)
		ho.timeout_ms = IMDS_TIMEOUT_MS;
	ho.pool = NULL;	/* a probe: keep nothing open to it */

	rc = imds_call(ctx, &ho, base, "PUT", IMDS_TOKEN_PATH,
		       "X-aws-ec2-metadata-token-ttl-seconds: " IMDS_TTL, &url, &req, &resp);
	if (rc == OCIKP_UNAVAILABLE && !resp.status) {
		/* nothing answered: not on EC2 (or IMDS off there) */
		ocikp_debugf(ctx, "IMDS at %s: no answer; no instance credentials", base);
		rc = OCIKP_OK;
		goto out;
	}
	*found = 1;
	snprintf(c->source, sizeof(c->source), "IMDS");
	if (failed(rc, &resp)) {
		rc = answer_fail(ctx, &req, &resp, OCIKP_UNAVAILABLE,
				 "IMDSv2 token refused (IMDSv1 is never used)");
		goto out;
	}
	if (rc == OCIKP_OK && (rc = h->buf_append(&tok, "X-aws-ec2-metadata-token: ", 26)) == OCIKP_OK)
		rc = imds_text(ctx, resp.body.data, resp.body.len, "session token", META_TOKEN_MAX,
			       NULL, &tok);
	if (rc != OCIKP_OK)
		goto out;

	rc = imds_call(ctx, &ho, base, "GET", IMDS_ROLE_PATH, (const char *)tok.data, &url, &req,
		       &resp);
	if (rc == OCIKP_OK && resp.status == 404) {
		rc = http_fail(ctx, &req, &resp, OCIKP_CONFIG, "no IAM role attached to this instance");
		goto out;
	}
	if (failed(rc, &resp))
		rc = answer_fail(ctx, &req, &resp, OCIKP_UNAVAILABLE, NULL);
	if (rc == OCIKP_OK) {
		/* one role per instance profile: the first line */
		size_t n = strcspn((const char *)resp.body.data, "\n");

		rc = imds_text(ctx, resp.body.data, n < resp.body.len ? n : resp.body.len,
			       "IAM role name", ROLE_MAX, role_chars, &role);
	}
	if (rc != OCIKP_OK)
		goto out;
	snprintf(c->source, sizeof(c->source), "IMDS role %.40s", (const char *)role.data);

	if (h->buf_append(&path, IMDS_ROLE_PATH, strlen(IMDS_ROLE_PATH)) != OCIKP_OK ||
	    h->buf_append(&path, role.data, role.len) != OCIKP_OK) {
		rc = oom(ctx);
		goto out;
	}
	rc = imds_call(ctx, &ho, base, "GET", (const char *)path.data, (const char *)tok.data,
		       &url, &req, &resp);
	if (failed(rc, &resp))
		rc = answer_fail(ctx, &req, &resp, OCIKP_UNAVAILABLE, NULL);
	if (rc == OCIKP_OK)
		rc = meta_parse_cred(ctx, "IMDS credentials answer", resp.body.data, resp.body.len,
				     c);
out:
	http_resp_free(ctx, &resp);
	h->buf_free(&url);
	h->buf_free(&tok);
	h->buf_free(&role);
	h->buf_free(&path);
	return rc;
}
