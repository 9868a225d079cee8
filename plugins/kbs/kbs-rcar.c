/*
 * The KBS resource fetch over the RCAR handshake (kbs.h), as a CoCo guest
 * with the sample TEE does it (guest-components kbs_protocol
 * src/client/rcar_client.rs; trustee kbs/src/api_server.rs,
 * attestation/backend.rs, attestation/session.rs; kbs-types 0.18):
 *
 *   POST /kbs/v0/auth   {"version":"0.4.0","tee":"sample","extra-params":
 *                        {"supported-hash-algorithms":[...]}}
 *                       -> {"nonce","extra-params":""} and the cookie
 *                          kbs-session-id
 *   POST /kbs/v0/attest {"init-data":null,"runtime-data":{"nonce","tee-pubkey"},
 *                        "tee-evidence":{"primary_evidence":{"svn":"1",
 *                        "report_data"},"additional_evidence":""}}
 *                       -> {"token"}; the session is now attested
 *   GET  /kbs/v0/resource/<repo>/<type>/<tag>, with the cookie -> a JWE
 *
 * One handshake per attestation token's lifetime: while the module stays
 * loaded (ocikpd), the attested session (its cookie and the TEE key the
 * token binds) is kept in memory in the backend's state until 30 s before
 * the token's exp claim, never written anywhere; without an exp it is not
 * kept.  Trustee answers 401 alike for an expired session, a missing
 * resource and a policy denial (error.rs: everything but an unknown path or
 * plugin is 401), so after a 401 (or a 403 on a kept session) the session
 * is dropped and there is one fresh handshake and one more GET, and a
 * second 401 says both possibilities.
 * The fetch always goes to kbs.url, also when the kid names another KBS:
 * a guest fetches from its configured KBS too.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include "kbs.h"

#define PROTOCOL_VERSION "0.4.0"	/* trustee accepts exactly this */
#define SESSION_COOKIE "kbs-session-id"
#define KBS_PREFIX "/kbs/v0"
#define URL_MAX 1024
#define DETAIL_MAX 160
#define COOKIE_MAX 256
#define CANON_MEMBERS_MAX 16
#define KEEP_MARGIN_S 30	/* a kept session is dropped this long before its token's exp */

struct rcar {
	struct ocikp_ctx *ctx;
	const char *kid;
	char url[URL_MAX];		/* kbs.url without a trailing '/' */
	struct http_opts o;
	enum kbs_tee_alg tee;
	struct kbs_tee_key *key;
	struct ocikp_buf jwk;		/* the TEE public key, as sent */
	struct ocikp_buf cookie;	/* the "Cookie: ..." line: a credential */
	int handshakes;
	int kept;			/* the session came from the state, not this call */
	long long exp;			/* the last token's exp claim; 0: none */
};

/* ---- the session kept across requests ------------------------------------------ */

/* An attested session: what a GET needs (the cookie) and the key the KBS
 * encrypts to, kept for the KBS and TEE type it was made for. */
struct kbs_state {
	pthread_mutex_t lock;		/* held for a whole fetch: one handshake, not one per caller */
	struct http_pool *pool;		/* the KBS connections, kept */
	char url[URL_MAX];		/* "": no session kept */
	enum kbs_tee_alg tee;
	struct kbs_tee_key *key;
	struct ocikp_buf jwk;
	struct ocikp_buf cookie;
	long long until;		/* wall-clock seconds: drop after this */
};

int kbs_state_new(struct ocikp_ctx *ctx)
{
	struct kbs_state *st = calloc(1, sizeof(*st));

	if (!st) {
		ocikp_errorf(ctx, "out of memory");
		return OCIKP_INTERNAL;
	}
	pthread_mutex_init(&st->lock, NULL);
	st->pool = http_pool_new();	/* NULL: each request connects afresh */
	ctx->backend_data = st;
	return OCIKP_OK;
}

static void kept_drop(struct ocikp_ctx *ctx, struct kbs_state *st)
{
	kbs_tee_key_free(st->key);	/* EVP_PKEY_free cleanses the private key */
	st->key = NULL;
	ctx->host->buf_free(&st->jwk);
	ctx->host->buf_free(&st->cookie);	/* cleansing: the session credential */
	OPENSSL_cleanse(st->url, sizeof(st->url));
	st->until = 0;
}

void kbs_state_free(struct ocikp_ctx *ctx)
{
	struct kbs_state *st = ctx->backend_data;

	if (!st)
		return;
	kept_drop(ctx, st);
	http_pool_free(st->pool);
	pthread_mutex_destroy(&st->lock);
	free(st);
	ctx->backend_data = NULL;
}

struct http_pool *kbs_pool(struct ocikp_ctx *ctx)
{
	struct kbs_state *st = ctx->backend_data;

	return st ? st->pool : NULL;
}

static void buf_move(struct ocikp_buf *to, struct ocikp_buf *from)
{
	*to = *from;
	memset(from, 0, sizeof(*from));
}

/* Take the kept session into r when it is for this KBS and TEE type and
 * its token has not (nearly) expired; drop it otherwise. */
static void kept_take(struct rcar *r, struct kbs_state *st)
{
	long long left = st->until - (long long)time(NULL);

	if (!st->url[0])
		return;
	if (strcmp(st->url, r->url) || st->tee != r->tee || left <= 0) {
		ocikp_debugf(r->ctx, "RCAR session kept from an earlier request: %s, dropped",
			     left <= 0 ? "expired" : "for another KBS");
		kept_drop(r->ctx, st);
		return;
	}
	r->key = st->key;
	st->key = NULL;
	buf_move(&r->jwk, &st->jwk);
	buf_move(&r->cookie, &st->cookie);
	r->kept = 1;
	r->exp = st->until + KEEP_MARGIN_S;
	ocikp_debugf(r->ctx, "RCAR session kept from an earlier request, %lld s before it is "
		     "dropped", left);
	kept_drop(r->ctx, st);
}

/* Keep r's attested session for the next request when its token says how
 * long it lives; r is left without it. */
static void kept_put(struct rcar *r, struct kbs_state *st)
{
	long long until = r->exp - KEEP_MARGIN_S;

	if (!r->cookie.len || !r->key || until <= (long long)time(NULL))
		return;
	snprintf(st->url, sizeof(st->url), "%s", r->url);
	st->tee = r->tee;
	st->key = r->key;
	r->key = NULL;
	buf_move(&st->jwk, &r->jwk);
	buf_move(&st->cookie, &r->cookie);
	st->until = until;
}

/* ---- options ------------------------------------------------------------------ */

int kbs_opt_bool(struct ocikp_ctx *ctx, const char *key, int *out)
{
	const char *v = ocikp_conf(ctx, key);

	*out = 0;
	if (!v || !strcmp(v, "no") || !strcmp(v, "false") || !strcmp(v, "0"))
		return OCIKP_OK;
	if (!strcmp(v, "yes") || !strcmp(v, "true") || !strcmp(v, "1")) {
		*out = 1;
		return OCIKP_OK;
	}
	ocikp_errorf(ctx, "option %s.%s must be yes or no", ctx->backend, key);
	return OCIKP_CONFIG;
}

/* kbs.url: https:// (or http:// with kbs.allow_http), no query, no
 * user:password@; kept without a trailing '/'. */
static int opt_url(struct rcar *r)
{
	struct ocikp_ctx *ctx = r->ctx;
	const char *v = ocikp_conf(ctx, "url"), *auth;
	size_t n;
	int plain = 0, allow = 0, rc;

	if (!v) {
		ocikp_errorf(ctx, "no KBS configured (%s.url)", ctx->backend);
		return OCIKP_NOT_MINE;
	}
	if ((rc = kbs_opt_bool(ctx, "allow_http", &allow)) != OCIKP_OK)
		return rc;
	if (!strncmp(v, "http://", 7))
		plain = 1;
	else if (strncmp(v, "https://", 8)) {
		ocikp_errorf(ctx, "option %s.url must be an https:// URL", ctx->backend);
		return OCIKP_CONFIG;
	}
	auth = v + (plain ? 7 : 8);
	n = strlen(v);
	while (n > (size_t)(auth - v) && v[n - 1] == '/')
		n--;
	if (n >= sizeof(r->url) || n == (size_t)(auth - v) || strpbrk(v, "?#@ ")) {
		ocikp_errorf(ctx, "option %s.url must be scheme://host[:port][/path], without a "
			     "query or user:password@", ctx->backend);
		return OCIKP_CONFIG;
	}
	memcpy(r->url, v, n);
	r->url[n] = '\0';
	if (plain && !allow) {
		ocikp_errorf(ctx, "option %s.url is plain http://: use https://, or set "
			     "%s.allow_http = yes", ctx->backend, ctx->backend);
		return OCIKP_CONFIG;
	}
	if (plain) {
		ocikp_warnf(ctx, "%s: plain HTTP to the KBS (%s.allow_http): the KEK travels "
			    "encrypted to this exec's TEE key, but a network attacker can still "
			    "withhold it, or answer in the KBS's place", r->url, ctx->backend);
		r->o.flags |= HTTP_PLAIN_ANY;
	}
	return OCIKP_OK;
}

static int opt_tee(struct rcar *r)
{
	const char *v = ocikp_conf(r->ctx, "tee_key");

	if (!v || !strcmp(v, "ec")) {
		r->tee = KBS_TEE_EC;
	} else if (!strcmp(v, "rsa")) {
		r->tee = KBS_TEE_RSA;
	} else {
		ocikp_errorf(r->ctx, "option %s.tee_key must be ec or rsa", r->ctx->backend);
		return OCIKP_CONFIG;
	}
	return OCIKP_OK;
}

/* The authority ("host:port") of a kbs://authority/... kid and of kbs.url
 * differ: say where the fetch goes (debug only: a guest does the same). */
static void kid_address(struct rcar *r)
{
	const char *a = strstr(r->kid, "://"), *u = strstr(r->url, "://") + 3;
	size_t an, un = strcspn(u, "/");

	if (!a || (an = strcspn(a += 3, "/?")) == 0)
		return;
	if (an != un || strncmp(a, u, an))
		ocikp_debugf(r->ctx, "%s names the KBS %.*s; fetching from %s.url %s, as a CoCo "
			     "guest does", r->kid, (int)an, a, r->ctx->backend, r->url);
}

static int rcar_open(struct ocikp_ctx *ctx, const char *kid, struct rcar *r)
{
	int rc;

	memset(r, 0, sizeof(*r));
	r->ctx = ctx;
	r->kid = kid;
	if (!OCIKP_HOST_HAS(ctx->host, jgen_raw)) {
		ocikp_errorf(ctx, "the ocikp host is too old for the KBS protocol");
		return OCIKP_INTERNAL;
	}
	if ((rc = http_opts_load(ctx, "", &r->o)) != OCIKP_OK || (rc = opt_url(r)) != OCIKP_OK ||
	    (rc = opt_tee(r)) != OCIKP_OK)
		return rc;
	kid_address(r);
	r->o.pool = kbs_pool(ctx);
	return OCIKP_OK;
}

/* A fresh TEE key for a fresh session, unless one came with a kept session. */
static int rcar_key(struct rcar *r)
{
	int rc;

	if (r->key)
		return OCIKP_OK;
	if ((rc = kbs_tee_key_new(r->ctx, r->tee, &r->key)) != OCIKP_OK)
		return rc;
	return kbs_tee_key_jwk(r->ctx, r->key, &r->jwk);
}

static void rcar_close(struct rcar *r)
{
	kbs_tee_key_free(r->key);
	r->ctx->host->buf_free(&r->jwk);
	r->ctx->host->buf_free(&r->cookie);
}

/* ---- answers ---------------------------------------------------------------------- */

/* The KBS error body {"type":".../errors/<Variant>","detail":"..."} (trustee
 * error.rs) as a short printable line: the detail, else the variant. */
static const char *kbs_detail(struct ocikp_ctx *ctx, const struct http_resp *resp, char *out,
			      size_t n)
{
	const struct ocikp_host *h = ctx->host;
	ocikp_json *doc = NULL;
	const char *s = NULL, *slash;
	size_t i = 0;

	out[0] = '\0';
	if (resp->body.len && h->json_parse(ctx, "the KBS's error", resp->body.data,
					    resp->body.len, &doc) == OCIKP_OK) {
		s = h->json_string(h->json_get(doc, "detail"));
		if ((!s || !*s) && (s = h->json_string(h->json_get(doc, "type"))) &&
		    (slash = strrchr(s, '/')))
			s = slash + 1;
	}
	for (; s && s[i] && i + 4 < n; i++)
		out[i] = s[i] >= 0x20 && s[i] < 0x7f ? s[i] : '?';
	if (s && s[i]) {
		memcpy(out + i, "...", 3);
		i += 3;
	}
	out[i] = '\0';
	h->json_free(doc);
	if (!out[0])
		snprintf(out, n, "(no detail)");
	return out;
}

/* A cookie value we will send back: RFC 6265 cookie-octets, bounded. */
static int cookie_ok(const struct ocikp_buf *v)
{
	size_t i;

	if (!v->len || v->len > COOKIE_MAX)
		return 0;
	for (i = 0; i < v->len; i++)
		if (v->data[i] < 0x21 || v->data[i] > 0x7e || strchr("\",;\\", v->data[i]))
			return 0;
	return 1;
}

/* Keep the session cookie an answer set (auth sets it; attest repeats it). */
static int keep_cookie(struct rcar *r, const struct http_resp *resp, int required)
{
	const struct ocikp_host *h = r->ctx->host;

	if (!resp->cookie.len && !required)
		return OCIKP_OK;
	if (!cookie_ok(&resp->cookie)) {
		ocikp_errorf(r->ctx, "the KBS at %s set no usable " SESSION_COOKIE " cookie",
			     r->url);
		return OCIKP_UNAVAILABLE;
	}
	h->buf_free(&r->cookie);
	if (h->buf_append(&r->cookie, "Cookie: " SESSION_COOKIE "=", 8 + strlen(SESSION_COOKIE) + 1) ||
	    h->buf_append(&r->cookie, resp->cookie.data, resp->cookie.len))
		return OCIKP_INTERNAL;
	return OCIKP_OK;
}

static int post_json(struct rcar *r, const char *endpoint, const struct ocikp_buf *body,
		     struct http_resp *resp)
{
	const char *hdrs[2] = { r->cookie.len ? (const char *)r->cookie.data : NULL, NULL };
	char url[URL_MAX + 32];
	struct http_req req = { .method = "POST", .url = url, .headers = hdrs,
				.body = body->data, .body_len = body->len,
				.content_type = "application/json",
				.want_cookie = SESSION_COOKIE };

	snprintf(url, sizeof(url), "%s" KBS_PREFIX "/%s", r->url, endpoint);
	return http_request(r->ctx, &r->o, &req, resp);
}

/* ---- auth -------------------------------------------------------------------------- */

struct challenge {
	struct ocikp_buf nonce;
	const EVP_MD *md;	/* for report_data: SHA-384 unless the KBS selects */
};

/* The request: the hash algorithms we can bind the runtime data with. */
static int auth_body(struct ocikp_ctx *ctx, struct ocikp_buf *out)
{
	static const char *const algs[] = { "sha256", "sha384", "sha512" };
	const struct ocikp_host *h = ctx->host;
	ocikp_jgen *g = h->jgen_new();
	size_t i;

	if (!g)
		return OCIKP_INTERNAL;
	h->jgen_map_open(g);
	h->jgen_key(g, "version");
	h->jgen_string(g, PROTOCOL_VERSION, strlen(PROTOCOL_VERSION));
	h->jgen_key(g, "tee");
	h->jgen_string(g, "sample", 6);
	h->jgen_key(g, "extra-params");
	h->jgen_map_open(g);
	h->jgen_key(g, "supported-hash-algorithms");
	h->jgen_array_open(g);
	for (i = 0; i < sizeof(algs) / sizeof(algs[0]); i++)
		h->jgen_string(g, algs[i], strlen(algs[i]));
	h->jgen_array_close(g);
	h->jgen_map_close(g);
	h->jgen_map_close(g);
	return h->jgen_finish(g, out);
}

/* "extra-params" is the empty string from trustee for every TEE but IBM
 * SE; an object may name "selected-hash-algorithm" (rcar_client.rs:
 * get_hash_algorithm); anything else means SHA-384. */
static int challenge_md(struct rcar *r, const ocikp_json *extra, struct challenge *c)
{
	const struct ocikp_host *h = r->ctx->host;
	const char *sel = h->json_string(h->json_get(extra, "selected-hash-algorithm"));

	c->md = EVP_sha384();
	if (h->json_type(extra) != OCIKP_JSON_OBJECT || !h->json_get(extra, "selected-hash-algorithm"))
		return OCIKP_OK;
	if (sel && !strcasecmp(sel, "sha256"))
		c->md = EVP_sha256();
	else if (sel && !strcasecmp(sel, "sha512"))
		c->md = EVP_sha512();
	else if (!sel || strcasecmp(sel, "sha384")) {
		ocikp_errorf(r->ctx, "the KBS at %s selected a hash algorithm ocikp does not offer",
			     r->url);
		return OCIKP_UNAVAILABLE;
	}
	return OCIKP_OK;
}

static int challenge_parse(struct rcar *r, const struct http_resp *resp, struct challenge *c)
{
	const struct ocikp_host *h = r->ctx->host;
	ocikp_json *doc = NULL;
	const ocikp_json *nonce;
	int rc = OCIKP_UNAVAILABLE;

	if (h->json_parse(r->ctx, "the KBS's challenge", resp->body.data, resp->body.len,
			  &doc) != OCIKP_OK)
		return OCIKP_UNAVAILABLE;
	nonce = h->json_get(doc, "nonce");
	if (h->json_type(nonce) != OCIKP_JSON_STRING || !h->json_string_len(nonce))
		ocikp_errorf(r->ctx, "the KBS's challenge has no nonce");
	else if ((rc = challenge_md(r, h->json_get(doc, "extra-params"), c)) == OCIKP_OK)
		rc = h->buf_append(&c->nonce, h->json_string(nonce), h->json_string_len(nonce));
	h->json_free(doc);
	return rc;
}

/* 4xx from auth or attest: this KBS will not talk to this machine as
 * configured (protocol version, TEE type, its attestation policy). */
static int refused(struct rcar *r, const char *what, const struct http_resp *resp)
{
	char d[DETAIL_MAX];

	ocikp_errorf(r->ctx, "the KBS at %s refused %s: %ld %s", r->url, what, resp->status,
		     kbs_detail(r->ctx, resp, d, sizeof(d)));
	return OCIKP_CONFIG;
}

static int rcar_auth(struct rcar *r, struct challenge *c)
{
	struct ocikp_buf body = { 0 };
	struct http_resp resp = { 0 };
	int rc;

	if ((rc = auth_body(r->ctx, &body)) == OCIKP_OK &&
	    (rc = post_json(r, "auth", &body, &resp)) == OCIKP_OK) {
		if (resp.status != 200)
			rc = refused(r, "the RCAR handshake (auth)", &resp);
		else if ((rc = challenge_parse(r, &resp, c)) == OCIKP_OK)
			rc = keep_cookie(r, &resp, 1);
	}
	http_resp_free(r->ctx, &resp);
	r->ctx->host->buf_free(&body);
	return rc;
}

/* ---- attest ------------------------------------------------------------------------ */

/* RFC 8785 string: only '"', '\\' and the controls are escaped, the
 * controls with the short forms JSON has or \u00xx in lower case;
 * everything else (non-ASCII as UTF-8, '/', DEL) is written as it is. */
static int canon_string(struct ocikp_ctx *ctx, const char *s, size_t n, struct ocikp_buf *out)
{
	const struct ocikp_host *h = ctx->host;
	char esc[8];
	size_t i;
	int rc = h->buf_append(out, "\"", 1);

	for (i = 0; !rc && i < n; i++) {
		unsigned char ch = (unsigned char)s[i];
		const char *e = ch == '"' ? "\\\"" : ch == '\\' ? "\\\\" : ch == '\b' ? "\\b" :
				ch == '\f' ? "\\f" : ch == '\n' ? "\\n" : ch == '\r' ? "\\r" :
				ch == '\t' ? "\\t" : NULL;

		if (!e && ch < 0x20) {
			snprintf(esc, sizeof(esc), "\\u%04x", ch);
			e = esc;
		}
		rc = e ? h->buf_append(out, e, strlen(e)) : h->buf_append(out, &s[i], 1);
	}
	return rc ? rc : h->buf_append(out, "\"", 1);
}

/* The next UTF-16 code unit of a UTF-8 string, for RFC 8785's key order
 * (§3.2.3: by UTF-16 code units, not code points).  *pend holds the low
 * surrogate still owed for a code point above U+FFFF. */
static unsigned utf16_next(const unsigned char **p, unsigned *pend)
{
	const unsigned char *s = *p;
	unsigned cp;

	if (*pend) {
		cp = *pend;
		*pend = 0;
		return cp;
	}
	if (s[0] < 0x80) {
		cp = s[0];
		*p += 1;
	} else if ((s[0] & 0xe0) == 0xc0 && s[1]) {
		cp = (s[0] & 0x1fu) << 6 | (s[1] & 0x3fu);
		*p += 2;
	} else if ((s[0] & 0xf0) == 0xe0 && s[1] && s[2]) {
		cp = (s[0] & 0x0fu) << 12 | (s[1] & 0x3fu) << 6 | (s[2] & 0x3fu);
		*p += 3;
	} else if ((s[0] & 0xf8) == 0xf0 && s[1] && s[2] && s[3]) {
		cp = (s[0] & 0x07u) << 18 | (s[1] & 0x3fu) << 12 | (s[2] & 0x3fu) << 6 |
		     (s[3] & 0x3fu);
		*p += 4;
	} else {
		cp = s[0];	/* not UTF-8: the host's parser never gives this */
		*p += 1;
	}
	if (cp < 0x10000)
		return cp;
	cp -= 0x10000;
	*pend = 0xdc00 + (cp & 0x3ff);
	return 0xd800 + (cp >> 10);
}

static int utf16_cmp(const char *a, const char *b)
{
	const unsigned char *p = (const unsigned char *)a, *q = (const unsigned char *)b;
	unsigned pa = 0, pb = 0, ua, ub;

	while ((*p || pa) && (*q || pb)) {
		ua = utf16_next(&p, &pa);
		ub = utf16_next(&q, &pb);
		if (ua != ub)
			return ua < ub ? -1 : 1;
	}
	return (*p || pa) ? 1 : (*q || pb) ? -1 : 0;
}

/*
 * RFC 8785 canonical JSON of a value made of objects and strings, which is
 * all the hashed runtime data holds: members sorted by their keys' UTF-16
 * code units, no whitespace, strings as canon_string writes them.  Trustee
 * hashes serde_json_canonicalizer's output of the same object (its
 * attestation-service lib.rs), the guest the same (rcar_client.rs).
 */
static int canon_value(struct ocikp_ctx *ctx, const ocikp_json *v, struct ocikp_buf *out)
{
	const struct ocikp_host *h = ctx->host;
	size_t idx[CANON_MEMBERS_MAX], n, i, j;
	int rc;

	if (h->json_type(v) == OCIKP_JSON_STRING)
		return canon_string(ctx, h->json_string(v), h->json_string_len(v), out);
	if (h->json_type(v) != OCIKP_JSON_OBJECT || (n = h->json_object_len(v)) > CANON_MEMBERS_MAX)
		return OCIKP_INTERNAL;
	for (i = 0; i < n; i++) {	/* insertion sort: a handful of members */
		for (j = i; j > 0 && utf16_cmp(h->json_object_key_at(v, idx[j - 1]),
					       h->json_object_key_at(v, i)) > 0; j--)
			idx[j] = idx[j - 1];
		idx[j] = i;
	}
	rc = h->buf_append(out, "{", 1);
	for (i = 0; !rc && i < n; i++) {
		const char *k = h->json_object_key_at(v, idx[i]);

		if ((i && (rc = h->buf_append(out, ",", 1))) ||
		    (rc = canon_string(ctx, k, strlen(k), out)) ||
		    (rc = h->buf_append(out, ":", 1)))
			break;
		rc = canon_value(ctx, h->json_object_value_at(v, idx[i]), out);
	}
	return rc ? rc : h->buf_append(out, "}", 1);
}

/*
 * report_data: the digest of the canonical JSON of {"tee-pubkey", "nonce",
 * "additional-evidence": ""} (rcar_client.rs get_composite_evidence;
 * trustee attestation/backend.rs builds the same object from the typed
 * JWK it parsed, so the JWK must carry exactly the members it knows),
 * standard base64 as the sample attester writes it.
 */
static int report_data(struct rcar *r, const struct challenge *c, struct ocikp_buf *out)
{
	const struct ocikp_host *h = r->ctx->host;
	struct ocikp_buf text = { 0 }, canon = { 0 };
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	ocikp_json *doc = NULL;
	ocikp_jgen *g = h->jgen_new();
	int rc;

	if (!g)
		return OCIKP_INTERNAL;
	h->jgen_map_open(g);
	h->jgen_key(g, "tee-pubkey");
	h->jgen_raw(g, (const char *)r->jwk.data, r->jwk.len);
	h->jgen_key(g, "nonce");
	h->jgen_string(g, (const char *)c->nonce.data, c->nonce.len);
	h->jgen_key(g, "additional-evidence");
	h->jgen_string(g, "", 0);
	h->jgen_map_close(g);
	if ((rc = h->jgen_finish(g, &text)) == OCIKP_OK &&
	    (rc = h->json_parse(r->ctx, "runtime data", text.data, text.len, &doc)) == OCIKP_OK &&
	    (rc = canon_value(r->ctx, doc, &canon)) == OCIKP_OK) {
		if (EVP_Digest(canon.data, canon.len, md, &mdlen, c->md, NULL) > 0)
			rc = h->b64_encode(md, mdlen, 0, out);
		else
			rc = OCIKP_INTERNAL;
	}
	ocikp_debugf(r->ctx, "RCAR runtime data, canonical: %s", canon.len ? (char *)canon.data : "");
	h->json_free(doc);
	h->buf_free(&text);
	h->buf_free(&canon);
	return rc;
}

static int attest_body(struct rcar *r, const struct challenge *c, const struct ocikp_buf *rd,
		       struct ocikp_buf *out)
{
	const struct ocikp_host *h = r->ctx->host;
	ocikp_jgen *g = h->jgen_new();

	if (!g)
		return OCIKP_INTERNAL;
	h->jgen_map_open(g);
	h->jgen_key(g, "init-data");
	h->jgen_null(g);
	h->jgen_key(g, "runtime-data");
	h->jgen_map_open(g);
	h->jgen_key(g, "nonce");
	h->jgen_string(g, (const char *)c->nonce.data, c->nonce.len);
	h->jgen_key(g, "tee-pubkey");
	h->jgen_raw(g, (const char *)r->jwk.data, r->jwk.len);
	h->jgen_map_close(g);
	h->jgen_key(g, "tee-evidence");
	h->jgen_map_open(g);
	h->jgen_key(g, "primary_evidence");	/* kbs-types CompositeEvidence: snake case */
	h->jgen_map_open(g);
	h->jgen_key(g, "svn");
	h->jgen_string(g, "1", 1);
	h->jgen_key(g, "report_data");
	h->jgen_string(g, (const char *)rd->data, rd->len);
	h->jgen_map_close(g);
	h->jgen_key(g, "additional_evidence");
	h->jgen_string(g, "", 0);
	h->jgen_map_close(g);
	h->jgen_map_close(g);
	return h->jgen_finish(g, out);
}

/* The exp claim of a JWT (not verified: it only says how long to keep the
 * session, and the KBS still judges every GET); 0 when there is none. */
static long long token_exp(struct ocikp_ctx *ctx, const char *tok, size_t len)
{
	const struct ocikp_host *h = ctx->host;
	const char *p = memchr(tok, '.', len), *q;
	struct ocikp_buf claims = { 0 };
	ocikp_json *doc = NULL;
	const char *num;
	long long exp = 0;

	if (!p || !(q = memchr(p + 1, '.', len - (size_t)(p + 1 - tok))))
		return 0;
	if (h->b64_decode(ctx, "the attestation token", p + 1, (size_t)(q - p - 1),
			  OCIKP_B64_URL | OCIKP_B64_NOPAD, &claims) == OCIKP_OK &&
	    h->json_parse(ctx, "the attestation token", claims.data, claims.len,
			  &doc) == OCIKP_OK &&
	    h->json_type(h->json_get(doc, "exp")) == OCIKP_JSON_NUMBER &&
	    (num = h->json_number(h->json_get(doc, "exp"))))
		exp = strtoll(num, NULL, 10);
	ocikp_error_clear(ctx);	/* no exp is no failure: the session is just not kept */
	h->json_free(doc);
	h->buf_free(&claims);
	return exp > 0 ? exp : 0;
}

/* The answer carries the attestation token (an EAR JWT); the session
 * cookie is what the GET uses, as the guest's does, and the token's exp
 * how long that session may be kept. */
static int token_check(struct rcar *r, const struct http_resp *resp)
{
	const struct ocikp_host *h = r->ctx->host;
	ocikp_json *doc = NULL;
	const ocikp_json *tok;
	int rc = OCIKP_UNAVAILABLE;

	if (h->json_parse(r->ctx, "the KBS's attestation answer", resp->body.data,
			  resp->body.len, &doc) != OCIKP_OK)
		return OCIKP_UNAVAILABLE;
	tok = h->json_get(doc, "token");
	if (h->json_type(tok) != OCIKP_JSON_STRING) {
		ocikp_errorf(r->ctx, "the KBS's attestation answer has no token");
	} else {
		r->exp = OCIKP_HOST_HAS(h, json_number) ?
			 token_exp(r->ctx, h->json_string(tok), h->json_string_len(tok)) : 0;
		rc = OCIKP_OK;
	}
	h->json_free(doc);
	return rc;
}

static int rcar_attest(struct rcar *r, const struct challenge *c)
{
	struct ocikp_buf rd = { 0 }, body = { 0 };
	struct http_resp resp = { 0 };
	int rc;

	if ((rc = report_data(r, c, &rd)) == OCIKP_OK &&
	    (rc = attest_body(r, c, &rd, &body)) == OCIKP_OK &&
	    (rc = post_json(r, "attest", &body, &resp)) == OCIKP_OK) {
		if (resp.status != 200)
			rc = refused(r, "this machine's evidence (sample TEE): its attestation "
				     "policy, or the protocol", &resp);
		else if ((rc = token_check(r, &resp)) == OCIKP_OK)
			rc = keep_cookie(r, &resp, 0);
	}
	http_resp_free(r->ctx, &resp);
	r->ctx->host->buf_free(&rd);
	r->ctx->host->buf_free(&body);
	return rc;
}

static int rcar_handshake(struct rcar *r)
{
	struct challenge c = { .md = NULL };
	int rc;

	r->handshakes++;
	r->kept = 0;
	r->exp = 0;
	r->ctx->host->buf_free(&r->cookie);
	if ((rc = rcar_key(r)) == OCIKP_OK && (rc = rcar_auth(r, &c)) == OCIKP_OK)
		rc = rcar_attest(r, &c);
	ocikp_debugf(r->ctx, "RCAR handshake %d with %s: %s", r->handshakes, r->url,
		     rc == OCIKP_OK ? "attested" : "failed");
	r->ctx->host->buf_free(&c.nonce);
	return rc;
}

/* ---- the resource ------------------------------------------------------------------ */

/* The KBS plugin a (valid) kid names: <plugin> of kbs+<plugin>://..., else
 * "resource" (resource_uri's DEFAULT_PLUGIN).  Its length; *name set. */
static int kid_plugin_name(const char *kid, const char **name)
{
	if (strncmp(kid, "kbs+", 4) == 0) {
		*name = kid + 4;
		return (int)strcspn(kid + 4, ":");
	}
	*name = "resource";
	return 8;
}

static int rcar_get(struct rcar *r, const char *path, struct http_resp *resp)
{
	const char *hdrs[2] = { (const char *)r->cookie.data, NULL };
	const char *q = strchr(r->kid, '?'), *plugin;
	int plugin_len;
	char url[URL_MAX + KBS_KID_MAX + 32];
	struct http_req req = { .method = "GET", .url = url, .headers = hdrs };
	int rc;

	/* a kid's plugin and query go along, as the guest sends them
	 * (rcar_client.rs resource_url) */
	plugin_len = kid_plugin_name(r->kid, &plugin);
	snprintf(url, sizeof(url), "%s" KBS_PREFIX "/%.*s/%s%s", r->url, plugin_len, plugin, path,
		 q ? q : "");
	rc = http_request(r->ctx, &r->o, &req, resp);
	if (rc == OCIKP_OK)
		ocikp_debugf(r->ctx, "GET resource %s: HTTP %ld", path, resp->status);
	return rc;
}

/* The JWE of a 200, opened: exactly the 32 bytes of a KEK. */
static int resource_open(struct rcar *r, const char *path, const struct http_resp *resp,
			 unsigned char kek[KBS_KEK_LEN])
{
	struct ocikp_buf plain = { 0 };
	int rc = kbs_jwe_open(r->ctx, r->key, resp->body.data, resp->body.len, &plain);

	if (rc == OCIKP_OK && plain.len != KBS_KEK_LEN) {
		ocikp_errorf(r->ctx, "the KBS at %s holds %zu bytes at %s, not a %d-byte KEK",
			     r->url, plain.len, path, KBS_KEK_LEN);
		rc = OCIKP_WRONG_KEY;
	} else if (rc == OCIKP_OK) {
		memcpy(kek, plain.data, KBS_KEK_LEN);
	}
	r->ctx->host->buf_free(&plain);
	return rc;
}

/* What a final non-200 answer to the GET means. */
static int resource_status(struct rcar *r, const struct http_resp *resp)
{
	char d[DETAIL_MAX];

	kbs_detail(r->ctx, resp, d, sizeof(d));
	if (resp->status == 401) {
		ocikp_errorf(r->ctx, "no KEK for %s at %s, or this machine may not have it: 401 %s",
			     r->kid, r->url, d);
		return OCIKP_WRONG_KEY;
	}
	if (resp->status == 404 || resp->status == 403) {
		ocikp_errorf(r->ctx, "no KEK for %s at %s: %ld %s", r->kid, r->url, resp->status, d);
		return OCIKP_WRONG_KEY;
	}
	ocikp_errorf(r->ctx, "the KBS at %s answered the resource request for %s with %ld %s",
		     r->url, r->kid, resp->status, d);
	return OCIKP_UNAVAILABLE;
}

/* A GET answered so that a fresh session may change the answer: trustee's
 * 401 (an expired session among others), or a 403 to a session we kept
 * (a revoked token). */
static int session_refused(const struct rcar *r, const struct http_resp *resp)
{
	return resp->status == 401 || (resp->status == 403 && r->kept);
}

static int rcar_fetch(struct rcar *r, struct kbs_state *st, const char *path,
		 struct http_resp *resp, unsigned char kek[KBS_KEK_LEN])
{
	int rc = OCIKP_OK;

	if (st)
		kept_take(r, st);
	if (!r->kept)
		rc = rcar_handshake(r);
	if (rc == OCIKP_OK && (rc = rcar_get(r, path, resp)) == OCIKP_OK &&
	    session_refused(r, resp)) {
		/* an expired session, or no such KEK, or a policy denial: one
		 * fresh session tells the first apart from the others */
		ocikp_debugf(r->ctx, "GET resource %s: %ld; one more handshake", path,
			     resp->status);
		if ((rc = rcar_handshake(r)) == OCIKP_OK)
			rc = rcar_get(r, path, resp);
	}
	if (rc != OCIKP_OK)
		return rc;
	rc = resp->status == 200 ? resource_open(r, path, resp, kek) : resource_status(r, resp);
	/* the session answered for itself: a KEK, or no such resource */
	if (st && (rc == OCIKP_OK || resp->status == 404))
		kept_put(r, st);
	return rc;
}

int kbs_rcar_fetch(struct ocikp_ctx *ctx, const char *kid, const char *path,
		   unsigned char kek[KBS_KEK_LEN])
{
	struct kbs_state *st = ctx->backend_data;
	struct rcar r;
	struct http_resp resp = { 0 };
	int rc;

	if (st)
		pthread_mutex_lock(&st->lock);
	if ((rc = rcar_open(ctx, kid, &r)) == OCIKP_OK)
		rc = rcar_fetch(&r, st, path, &resp, kek);
	if (st)
		pthread_mutex_unlock(&st->lock);
	http_resp_free(ctx, &resp);
	rcar_close(&r);
	return rc;
}
