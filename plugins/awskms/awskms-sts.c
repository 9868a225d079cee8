/*
 * AWS STS, the Query API (POST / with an application/x-www-form-urlencoded
 * body Action=...&Version=2011-06-15, XML answers):
 *   AssumeRoleWithWebIdentity  RoleArn, RoleSessionName, WebIdentityToken
 *                              (the token file's content); unsigned
 *   AssumeRole                 RoleArn, RoleSessionName [, ExternalId]
 *                              [, DurationSeconds]; SigV4, service "sts"
 * Answers: .../<Credentials><AccessKeyId/><SecretAccessKey/><SessionToken/>
 * <Expiration/></Credentials>; errors <ErrorResponse><Error><Type/><Code/>
 * <Message/></Error>, whose Code and Message go into the line.  Every STS
 * refusal is OCIKP_CONFIG (exit 6) on wrap and unwrap alike: the role or
 * its trust, not the key, is wrong; throttling and server faults are
 * retried (AWS_KMS_ATTEMPTS), then OCIKP_UNAVAILABLE.
 *
 * Endpoint: awskms.sts_endpoint, else https://sts.REGION.amazonaws.com for
 * the key's region, else the global https://sts.amazonaws.com (us-east-1).
 *
 * The XML goes through libxml2 with XML_PARSE_NONET and without
 * XML_PARSE_NOENT / DTDLOAD; a document with a DTD is refused outright, so
 * no entity is ever declared, let alone expanded.  libxml2 allocates from
 * the host's cleansing allocator (set at init): its copies of the secret
 * key and session token are wiped when freed.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include "tokenfile.h"
#include "awskms.h"
#include "rfc3339.h"

#define STS_VERSION "2011-06-15"
#define CT_FORM "application/x-www-form-urlencoded; charset=utf-8"
#define STS_TOKEN_FILE_MAX (16 * 1024)	/* bytes of a web identity token */
#define STS_FIELD_MAX 8192		/* bytes of one credential field */

int sts_session_ok(const char *s)
{
	size_t n = strlen(s);

	return n >= 2 && n <= 64 &&
	       strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+=,.@_-") == n;
}

/* ---- the XML ---- */

/* libxml2's own reports (encoding errors among them, which NOERROR does
 * not cover) would go to stderr: the line is ours to write. */
static void quiet(void *ctx, const char *msg, ...)
{
	(void)ctx;
	(void)msg;
}

static xmlDocPtr xml_read(const void *body, size_t len)
{
	xmlDocPtr doc;

	if (!body || len == 0 || len > HTTP_MAX_BODY)
		return NULL;
	/* per thread in libxml2: set on every call */
	xmlSetStructuredErrorFunc(NULL, NULL);
	xmlSetGenericErrorFunc(NULL, quiet);
	/* STS answers UTF-8: a declared encoding is ignored, no converter runs */
	doc = xmlReadMemory(body, (int)len, NULL, "UTF-8",
			    XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING |
			    XML_PARSE_NOCDATA | XML_PARSE_IGNORE_ENC);
	if (doc && (doc->intSubset || doc->extSubset || !xmlDocGetRootElement(doc))) {
		xmlFreeDoc(doc);	/* a DTD: entities we will not expand */
		return NULL;
	}
	return doc;
}

static int named(xmlNodePtr n, const char *name)
{
	return n && n->type == XML_ELEMENT_NODE && !strcmp((const char *)n->name, name);
}

static xmlNodePtr child(xmlNodePtr n, const char *name)
{
	for (n = n ? n->children : NULL; n; n = n->next)
		if (named(n, name))
			return n;
	return NULL;
}

/* An element's text: only text children (no markup, no entity), bounded;
 * appended to out as a C string. */
static int text_of(struct ocikp_ctx *ctx, xmlNodePtr e, struct ocikp_buf *out)
{
	size_t before = out->len, n;
	xmlNodePtr t;

	if (!e)
		return OCIKP_NOT_MINE;
	for (t = e->children; t; t = t->next) {
		if (t->type != XML_TEXT_NODE || !t->content)
			return OCIKP_BAD_INPUT;
		n = strlen((const char *)t->content);
		if (out->len - before + n > STS_FIELD_MAX)
			return OCIKP_BAD_INPUT;
		if (ctx->host->buf_append(out, t->content, n) != OCIKP_OK)
			return OCIKP_INTERNAL;
	}
	return ctx->host->buf_append(out, "", 0);
}

/* Printable, no blanks: what goes into a header. */
static int token_ok(const struct ocikp_buf *b)
{
	size_t i;

	for (i = 0; i < b->len; i++)
		if (b->data[i] < 0x21 || b->data[i] > 0x7e)
			return 0;
	return b->len > 0;
}

int sts_parse_answer(struct ocikp_ctx *ctx, const void *body, size_t len, struct aws_cred *c)
{
	const struct ocikp_host *h = ctx->host;
	struct ocikp_buf exp = { 0 };
	xmlDocPtr doc = xml_read(body, len);
	xmlNodePtr root, cr = NULL, r;
	int rc = OCIKP_UNAVAILABLE;

	/* <XResponse><XResult><Credentials>: the action's names vary, the shape not */
	root = doc ? xmlDocGetRootElement(doc) : NULL;
	for (r = root ? root->children : NULL; r && !cr; r = r->next)
		if (r->type == XML_ELEMENT_NODE)
			cr = child(r, "Credentials");
	if (!doc) {
		ocikp_errorf(ctx, "STS answer: not XML");
	} else if (!cr) {
		ocikp_errorf(ctx, "STS answer: no Credentials");
	} else if (text_of(ctx, child(cr, "AccessKeyId"), &c->akid) != OCIKP_OK ||
		   text_of(ctx, child(cr, "SecretAccessKey"), &c->secret) != OCIKP_OK ||
		   text_of(ctx, child(cr, "SessionToken"), &c->token) != OCIKP_OK ||
		   text_of(ctx, child(cr, "Expiration"), &exp) != OCIKP_OK) {
		ocikp_errorf(ctx, "STS answer: Credentials lacks AccessKeyId, SecretAccessKey, SessionToken or Expiration");
	} else if (!token_ok(&c->akid) || !token_ok(&c->secret) || !token_ok(&c->token)) {
		ocikp_errorf(ctx, "STS answer: malformed credentials");
	} else if (!rfc3339_parse((const char *)exp.data, &c->expires_at)) {
		ocikp_errorf(ctx, "STS answer: malformed Expiration");
	} else {
		rc = OCIKP_OK;
	}
	if (rc != OCIKP_OK) {
		h->buf_free(&c->akid);
		h->buf_free(&c->secret);
		h->buf_free(&c->token);
		c->expires_at = 0;
	}
	h->buf_free(&exp);
	xmlFreeDoc(doc);
	return rc;
}

/* A plain word for the line (Code), else NULL. */
static const char *word(const struct ocikp_buf *b)
{
	return b->len && b->len <= 64 &&
	       strspn((const char *)b->data, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.") == b->len
		       ? (const char *)b->data : NULL;
}

int sts_fail(struct ocikp_ctx *ctx, const char *action, long http_status, const void *body,
	     size_t len, int *retry)
{
	const struct ocikp_host *h = ctx->host;
	struct ocikp_buf code = { 0 }, msg = { 0 };
	xmlDocPtr doc = xml_read(body, len);
	xmlNodePtr root = doc ? xmlDocGetRootElement(doc) : NULL, e;
	const char *cw;
	int rc;

	e = named(root, "ErrorResponse") ? child(root, "Error") : NULL;
	if (e && text_of(ctx, child(e, "Code"), &code) != OCIKP_OK)
		h->buf_free(&code);
	if (e && text_of(ctx, child(e, "Message"), &msg) != OCIKP_OK)
		h->buf_free(&msg);
	cw = word(&code);
	*retry = http_status == 429 || http_status >= 500 ||
		 (cw && (!strcmp(cw, "Throttling") || !strcmp(cw, "ThrottlingException") ||
			 !strcmp(cw, "IDPCommunicationError") || !strcmp(cw, "ServiceUnavailable") ||
			 !strcmp(cw, "InternalFailure")));
	rc = *retry ? OCIKP_UNAVAILABLE : OCIKP_CONFIG;
	/* the message is the server's; the host makes it one line */
	if (cw && msg.len)
		ocikp_errorf(ctx, "STS %s: %s: %.300s", action, cw, (const char *)msg.data);
	else if (cw)
		ocikp_errorf(ctx, "STS %s: %s (HTTP %ld)", action, cw, http_status);
	else
		ocikp_errorf(ctx, "STS %s: HTTP %ld", action, http_status);
	h->buf_free(&code);
	h->buf_free(&msg);
	xmlFreeDoc(doc);
	return rc;
}

/* ---- the calls ---- */

/* The endpoint's URL, its host[:port] and the region to sign for. */
static void endpoint(const struct awskms_opts *o, char *url, size_t n, const char **host,
		     const char **region)
{
	if (o->sts_endpoint)
		snprintf(url, n, "%s", o->sts_endpoint);
	else if (o->sts_region)
		snprintf(url, n, "https://sts.%s.amazonaws.com", o->sts_region);
	else
		snprintf(url, n, "https://sts.amazonaws.com");
	*host = strstr(url, "//") + 2;
	*region = o->sts_region ? o->sts_region : "us-east-1";
}

static int form(struct ocikp_ctx *ctx, struct ocikp_buf *b, const char *k, const char *v)
{
	return ctx->host->form_append(b, k, v, strlen(v));
}

/* The web identity token: a file another agent writes (kubelet projects it
 * 0644 behind symlinks), read as gcpkms reads its subject token. */
static int web_token(struct ocikp_ctx *ctx, const struct sts_role *r, struct ocikp_buf *tok)
{
	int rc = token_file_read(ctx, "web identity token file", r->token_file, STS_TOKEN_FILE_MAX,
				 tok);

	while (rc == OCIKP_OK && tok->len && strchr(" \t\r\n", tok->data[tok->len - 1]))
		tok->data[--tok->len] = '\0';
	if (rc == OCIKP_OK && !tok->len) {
		ocikp_errorf(ctx, "web identity token file %s is empty", r->token_file);
		rc = OCIKP_CONFIG;
	}
	return rc;
}

/* One STS call for r, signed by src (NULL: AssumeRoleWithWebIdentity). */
static int sts_call(struct ocikp_ctx *ctx, const struct awskms_opts *o, const struct sts_role *r,
		    const struct aws_cred *src, struct aws_cred *c)
{
	const struct ocikp_host *h = ctx->host;
	const char *action = src ? "AssumeRole" : "AssumeRoleWithWebIdentity";
	struct ocikp_buf body = { 0 }, tok = { 0 };
	struct http_resp resp = { 0 };
	const char *host, *region;
	char url[512], dur[24];
	int rc = OCIKP_OK, attempt, retry = 0;

	endpoint(o, url, sizeof(url), &host, &region);
	if (!src)
		rc = web_token(ctx, r, &tok);
	if (rc == OCIKP_OK) {
		form(ctx, &body, "Action", action);
		form(ctx, &body, "Version", STS_VERSION);
		form(ctx, &body, "RoleArn", r->role_arn);
		rc = form(ctx, &body, "RoleSessionName", r->session);
	}
	if (rc == OCIKP_OK && src && r->external_id[0])
		rc = form(ctx, &body, "ExternalId", r->external_id);
	if (rc == OCIKP_OK && r->duration) {
		snprintf(dur, sizeof(dur), "%ld", r->duration);
		rc = form(ctx, &body, "DurationSeconds", dur);
	}
	if (rc == OCIKP_OK && !src)
		rc = h->form_append(&body, "WebIdentityToken", tok.data, tok.len);
	h->buf_free(&tok);

	for (attempt = 0; rc == OCIKP_OK && attempt < AWS_KMS_ATTEMPTS; attempt++) {
		if (attempt)
			aws_backoff(ctx, attempt);
		if (src) {
			rc = sigv4_post(ctx, &o->http, src, region, "sts", url, host, CT_FORM, NULL,
					&body, &resp);
		} else {
			struct http_req req = { .method = "POST", .url = url, .body = body.data,
						.body_len = body.len, .content_type = CT_FORM };

			rc = http_request(ctx, &o->http, &req, &resp);
		}
		ocikp_debugf(ctx, "STS %s %s for %s: HTTP %ld", host, action, r->what, resp.status);
		if (rc == OCIKP_OK && resp.status >= 200 && resp.status <= 299)
			break;
		if (resp.status && (rc == OCIKP_OK || rc == OCIKP_UNAVAILABLE))
			rc = sts_fail(ctx, action, resp.status, resp.body.data, resp.body.len, &retry);
		if (!retry || attempt + 1 == AWS_KMS_ATTEMPTS || h->deadline_ms(ctx) < 500)
			break;
		rc = OCIKP_OK;
		http_resp_free(ctx, &resp);
	}
	if (rc == OCIKP_OK)
		rc = sts_parse_answer(ctx, resp.body.data, resp.body.len, c);
	if (rc == OCIKP_OK)
		snprintf(c->source, sizeof(c->source), "%.40s via STS", r->what);
	h->buf_free(&body);
	http_resp_free(ctx, &resp);
	return rc;
}

/* ---- the chain and its cache ---- */

struct link {
	struct ocikp_ctx *ctx;
	const struct awskms_opts *o;
	const struct aws_cred *base;
	const struct sts_role *roles;
	char (*ids)[65];
	size_t i;			/* this link: roles[i] */
};

static int link_get(struct link *l, size_t i, const struct aws_cred *stale, struct aws_cred *c);

/* cred_cached's fetch for link l->i: the credentials that sign it, then STS. */
static int link_fetch(struct ocikp_ctx *ctx, void *arg, struct aws_cred *c)
{
	struct link *l = arg;
	struct aws_cred src = { 0 };
	size_t i = l->i;
	int rc = OCIKP_OK;

	if (i > 0)
		rc = link_get(l, i - 1, NULL, &src);
	l->i = i;
	if (rc == OCIKP_OK)
		rc = sts_call(ctx, l->o, &l->roles[i],
			      i > 0 ? &src : l->roles[0].token_file[0] ? NULL : l->base, c);
	cred_free(ctx, &src);
	return rc;
}

static int link_get(struct link *l, size_t i, const struct aws_cred *stale, struct aws_cred *c)
{
	int fetched = 0, rc;

	l->i = i;
	rc = cred_cached(l->ctx, "sts", l->ids[i], stale, link_fetch, l, c, &fetched);
	if (rc == OCIKP_OK)
		snprintf(c->source, sizeof(c->source), "%.40s via STS%s", l->roles[i].what,
			 fetched ? "" : " (cached)");
	return rc;
}

int sts_assume_chain(struct ocikp_ctx *ctx, const struct awskms_opts *o,
		     const struct aws_cred *base, const struct sts_role *roles, size_t n,
		     const struct aws_cred *stale, struct aws_cred *c)
{
	char ids[AWS_ROLE_CHAIN_MAX + 1][65], dur[24];
	struct link l = { ctx, o, base, roles, ids, 0 };
	const char *host, *region;
	char url[512];
	size_t i;

	if (n == 0 || n > AWS_ROLE_CHAIN_MAX + 1)
		return OCIKP_INTERNAL;
	endpoint(o, url, sizeof(url), &host, &region);
	/* each link's identity names what signs it: the base's key ID (not a
	 * secret) or the previous link's identity, so a hit needs no STS call
	 * down the chain */
	for (i = 0; i < n; i++) {
		const char *parts[9] = { url, region, roles[i].role_arn, roles[i].session,
					 roles[i].external_id, dur, roles[i].token_file,
					 i ? ids[i - 1] : "", i || !base ? "" : (const char *)base->akid.data };

		snprintf(dur, sizeof(dur), "%ld", roles[i].duration);
		credcache_identity(parts, 9, ids[i]);
	}
	return link_get(&l, n - 1, stale, c);
}
