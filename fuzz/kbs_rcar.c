/* Target: what a KBS answers the RCAR handshake and the resource GET with
 * (plugins/kbs/kbs-rcar.c), below the HTTP call.  The input is an answer:
 * its first byte picks the status, the bytes up to the first '\n' are the
 * kbs-session-id value lib/http kept from Set-Cookie (lib/http's own header
 * handling is the http_cookie target's), the rest is the body.  Each answer
 * goes through every reader a real one may reach: the auth challenge
 * (challenge_parse, challenge_md, then keep_cookie and the runtime data
 * hashed over its nonce, as rcar_attest does), the attestation answer
 * (token_check, the token's exp), and an error body (kbs_detail, through
 * refused and resource_status).  The file is included for its static
 * functions; the TEE key is made once, as one exec makes one. */
#include "fuzz.h"
#include "../plugins/kbs/kbs-rcar.c"

static const long statuses[] = { 200, 400, 401, 403, 404, 500 };

/* A handshake's state as rcar_open leaves it, on a key made once. */
static void rcar_fixture(struct rcar *r, struct ocikp_ctx *ctx)
{
	static struct kbs_tee_key *key;
	static struct ocikp_buf jwk;

	if (!key && (kbs_tee_key_new(ctx, KBS_TEE_EC, &key) != OCIKP_OK ||
		     kbs_tee_key_jwk(ctx, key, &jwk) != OCIKP_OK))
		abort();
	memset(r, 0, sizeof(*r));
	r->ctx = ctx;
	r->kid = "kbs:///default/image-kek/1";
	snprintf(r->url, sizeof(r->url), "https://kbs.example:8080");
	r->tee = KBS_TEE_EC;
	r->key = key;
	r->jwk = jwk;	/* borrowed: never freed here */
}

/* The challenge, as rcar_auth then rcar_attest take it. */
static void auth_answer(struct rcar *r, const struct http_resp *resp)
{
	struct challenge c = { .md = NULL };
	struct ocikp_buf rd = { 0 }, body = { 0 };

	if (challenge_parse(r, resp, &c) == OCIKP_OK && keep_cookie(r, resp, 1) == OCIKP_OK &&
	    report_data(r, &c, &rd) == OCIKP_OK)
		attest_body(r, &c, &rd, &body);
	r->ctx->host->buf_free(&c.nonce);
	r->ctx->host->buf_free(&rd);
	r->ctx->host->buf_free(&body);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct backend_ctx b;
	const struct ocikp_host *h;
	struct http_resp resp = { 0 };
	const uint8_t *nl;
	struct rcar r;

	if (size < 1)
		return 0;
	host_ctx_init(&b.pub, &fuzz_host, "kbs");
	h = b.pub.host;
	rcar_fixture(&r, &b.pub);
	resp.status = statuses[data[0] % (sizeof(statuses) / sizeof(statuses[0]))];
	data++;
	size--;
	/* a cookie line, then the body; no '\n': all body, no cookie */
	if ((nl = memchr(data, '\n', size)) != NULL) {
		if (h->buf_append(&resp.cookie, data, (size_t)(nl - data)) != OCIKP_OK)
			abort();
		size -= (size_t)(nl + 1 - data);
		data = nl + 1;
	}
	if (h->buf_append(&resp.body, data, size) != OCIKP_OK)
		abort();

	auth_answer(&r, &resp);
	if (token_check(&r, &resp) == OCIKP_OK)
		keep_cookie(&r, &resp, 0);
	refused(&r, "the RCAR handshake (auth)", &resp);
	resource_status(&r, &resp);

	h->buf_free(&r.cookie);
	http_resp_free(&b.pub, &resp);
	return 0;
}
