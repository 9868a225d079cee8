/*
 * The pkcs11 backend (pkcs11.h): wrap seals optsdata in a JWE to a token's
 * public key (or pub=, with no token at all), unwrap has the token do the
 * RSA decryption or ECDH derivation.
 *
 * Annotation: {"key_url": URI without PIN attributes, pub= and alg=,
 *   "key_id": lowercase hex CKA_ID, "wrapped_key": JWE compact,
 *   "wrap_type": "JWE"}.
 */
#include <stdio.h>
#include <string.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/x509.h>
#include "jwe.h"
#include "pkcs11.h"

#define B64URL (OCIKP_B64_URL | OCIKP_B64_NOPAD)
#define WHAT_JWE "the annotation's wrapped_key"

/* ---- wrap ---------------------------------------------------------------------------- */

/* pub=: base64url DER SubjectPublicKeyInfo; id= gives the CKA_ID. */
static int key_from_pub(struct ocikp_ctx *ctx, const struct p11_uri *u, struct p11_key *k)
{
	const struct ocikp_buf *b64 = &u->v[P11_PUB];
	struct ocikp_buf der = { 0 };
	const unsigned char *p;
	int rc;

	memset(k, 0, sizeof(*k));
	k->lock_fd = -1;
	if (!u->has[P11_ID]) {
		ocikp_errorf(ctx, "pkcs11 URI: pub= needs id= (the key's CKA_ID, to record)");
		return OCIKP_BAD_INPUT;
	}
	rc = ctx->host->b64_decode(ctx, "pkcs11 URI pub=", (const char *)b64->data, b64->len,
				   B64URL, &der);
	if (rc != OCIKP_OK)
		return OCIKP_BAD_INPUT;
	p = der.data;
	if (!der.len || !(k->pub = d2i_PUBKEY(NULL, &p, (long)der.len)) ||
	    p != der.data + der.len) {
		ERR_clear_error();
		EVP_PKEY_free(k->pub);
		k->pub = NULL;
		ocikp_errorf(ctx, "pkcs11 URI: pub= is not a DER SubjectPublicKeyInfo");
		rc = OCIKP_BAD_INPUT;
	} else {
		memcpy(k->id, u->v[P11_ID].data, u->v[P11_ID].len);
		k->id_len = u->v[P11_ID].len;
	}
	ctx->host->buf_free(&der);
	return rc;
}

/* RSA: alg= or RSA-OAEP-256; EC: ECDH-ES+A256KW. */
static int pick_alg(struct ocikp_ctx *ctx, const struct p11_uri *u, EVP_PKEY *pub,
		    enum jwe_alg *alg)
{
	unsigned can = jwe_key_algs(pub);
	const char *want = p11_uri_get(u, P11_ALG);

	if (!can) {
		ocikp_errorf(ctx, "the key is not RSA or EC on P-256/P-384");
		return OCIKP_BAD_INPUT;
	}
	if (can & JWE_ECDH_ES_A256KW) {
		if (want) {
			ocikp_errorf(ctx, "pkcs11 URI: alg= is for RSA keys; this key is EC");
			return OCIKP_BAD_INPUT;
		}
		*alg = JWE_ECDH_ES_A256KW;
	} else {
		*alg = want && !strcmp(want, "RSA-OAEP") ? JWE_RSA_OAEP : JWE_RSA_OAEP_256;
	}
	return OCIKP_OK;
}

static int hex_id(struct ocikp_ctx *ctx, const struct p11_key *k, struct ocikp_buf *out)
{
	static const char hex[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < k->id_len; i++) {
		char two[2] = { hex[k->id[i] >> 4], hex[k->id[i] & 15] };

		if (ctx->host->buf_append(out, two, 2) != OCIKP_OK)
			return OCIKP_INTERNAL;
	}
	return OCIKP_OK;
}

static int annotation(struct ocikp_ctx *ctx, const struct p11_uri *u, const struct p11_key *k,
		      const struct ocikp_buf *jwe, struct ocikp_buf *out)
{
	const struct ocikp_host *h = ctx->host;
	struct ocikp_buf id = { 0 };
	ocikp_jgen *g;
	int rc;

	if ((rc = hex_id(ctx, k, &id)) != OCIKP_OK || !(g = h->jgen_new())) {
		h->buf_free(&id);
		return OCIKP_INTERNAL;
	}
	h->jgen_map_open(g);
	h->jgen_key(g, "key_url");
	h->jgen_string(g, (const char *)u->key_url.data, u->key_url.len);
	h->jgen_key(g, "key_id");
	h->jgen_string(g, (const char *)id.data, id.len);
	h->jgen_key(g, "wrapped_key");
	h->jgen_string(g, (const char *)jwe->data, jwe->len);
	h->jgen_key(g, "wrap_type");
	h->jgen_string(g, "JWE", 3);
	h->jgen_map_close(g);
	h->buf_free(&id);
	return h->jgen_finish(g, out);
}

static int pkcs11_wrap(struct ocikp_ctx *ctx, const char *param,
		       const struct ocikp_buf *optsdata, struct ocikp_buf *out)
{
	struct p11_uri u;
	struct p11_key k = { .lock_fd = -1 };
	struct ocikp_buf jwe = { 0 };
	enum jwe_alg alg;
	int rc;

	if ((rc = p11_uri_parse(ctx, param, &u)) == OCIKP_OK)
		rc = u.has[P11_PUB] ? key_from_pub(ctx, &u, &k) : p11_find_public(ctx, &u, &k);
	if (rc == OCIKP_OK && (rc = pick_alg(ctx, &u, k.pub, &alg)) == OCIKP_OK &&
	    (rc = jwe_seal(ctx, k.pub, alg, JWE_COMPACT, optsdata->data, optsdata->len, &jwe)) ==
		    OCIKP_OK)
		rc = annotation(ctx, &u, &k, &jwe, out);
	ctx->host->buf_free(&jwe);
	p11_key_release(ctx, &k);
	p11_uri_free(ctx, &u);
	return rc;
}

/* ---- unwrap -------------------------------------------------------------------------- */

struct packet {
	const char *key_url;
	const char *jwe;
	size_t jwe_len;
	unsigned char id[P11_ID_MAX];
	size_t id_len;
};

static int unhex(const char *s, unsigned char *out, size_t max, size_t *n)
{
	size_t i, len = strlen(s);

	if (!len || len % 2 || len / 2 > max)
		return -1;
	for (i = 0; i < len; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return -1;
	for (i = 0; i < len / 2; i++) {
		unsigned hi = (unsigned)(s[2 * i] <= '9' ? s[2 * i] - '0' : s[2 * i] - 'a' + 10);
		unsigned lo = (unsigned)(s[2 * i + 1] <= '9' ? s[2 * i + 1] - '0'
							      : s[2 * i + 1] - 'a' + 10);

		out[i] = (unsigned char)(hi << 4 | lo);
	}
	*n = len / 2;
	return 0;
}

static int packet_parse(struct ocikp_ctx *ctx, const ocikp_json *ann, struct packet *p)
{
	const struct ocikp_host *h = ctx->host;
	const char *type = h->json_string(h->json_get(ann, "wrap_type"));
	const char *id = h->json_string(h->json_get(ann, "key_id"));
	const ocikp_json *wk = h->json_get(ann, "wrapped_key");

	p->key_url = h->json_string(h->json_get(ann, "key_url"));
	p->jwe = h->json_string(wk);
	if (!type || strcmp(type, "JWE")) {
		ocikp_errorf(ctx, "annotation: wrap_type is not \"JWE\"");
		return OCIKP_BAD_INPUT;
	}
	if (!p->key_url || !p->jwe) {
		ocikp_errorf(ctx, "annotation: no string %s", p->key_url ? "wrapped_key" : "key_url");
		return OCIKP_BAD_INPUT;
	}
	p->jwe_len = h->json_string_len(wk);
	if (!id || unhex(id, p->id, sizeof(p->id), &p->id_len)) {
		ocikp_errorf(ctx, "annotation: key_id is not 1 to %d bytes in lowercase hex",
			     P11_ID_MAX);
		return OCIKP_BAD_INPUT;
	}
	return jwe_peek(ctx, JWE_COMPACT, WHAT_JWE, p->jwe, p->jwe_len, NULL);
}

/* Open with the key on the token where (a decryption URL, or key_url) says. */
static int open_with(struct ocikp_ctx *ctx, const struct packet *p, const struct p11_uri *where,
		     struct ocikp_buf *out)
{
	struct p11_key k;
	int rc = p11_find_private(ctx, where, p->id, p->id_len, &k);

	if (rc == OCIKP_OK) {
		struct jwe_key key = { .pkey = k.pub, .algs = ~0u, .rsa_oaep = p11_rsa_oaep,
				       .ecdh = p11_ecdh, .arg = &k };

		rc = jwe_open(ctx, &key, JWE_COMPACT, 0, WHAT_JWE, p->jwe, p->jwe_len, out);
	}
	p11_key_release(ctx, &k);
	return rc;
}

/* Of two failures, the one that tells more (as the host's envelope does). */
static int worse(int have, int got)
{
	if (have == OCIKP_OK || have == OCIKP_NOT_MINE)
		return got;
	if (have == OCIKP_WRONG_KEY && got != OCIKP_NOT_MINE)
		return got;
	return have;
}

static int pkcs11_unwrap(struct ocikp_ctx *ctx, const ocikp_json *ann, const char *const *dc,
			 struct ocikp_buf *out)
{
	struct packet p = { 0 };
	struct p11_uri u;
	size_t i;
	int rc, status = OCIKP_OK;

	if ((rc = packet_parse(ctx, ann, &p)) != OCIKP_OK)
		return rc;
	/* every decryption URL is checked before any token is touched */
	for (i = 0; dc[i]; i++) {
		if ((rc = p11_uri_parse(ctx, dc[i], &u)) != OCIKP_OK) {
			p11_uri_free(ctx, &u);
			return rc;
		}
		p11_uri_free(ctx, &u);
	}
	if (!dc[0]) {
		if ((rc = p11_uri_parse(ctx, p.key_url, &u)) == OCIKP_OK)
			rc = open_with(ctx, &p, &u, out);
		p11_uri_free(ctx, &u);
		return rc;
	}
	for (i = 0; dc[i]; i++) {
		p11_uri_parse(ctx, dc[i], &u);
		rc = open_with(ctx, &p, &u, out);
		p11_uri_free(ctx, &u);
		if (rc == OCIKP_OK)
			return rc;
		status = worse(status, rc);
		/* a wrong or locked PIN stops here: trying it elsewhere helps nobody */
		if (rc == OCIKP_CONFIG)
			break;
	}
	return status;
}

/* ---- commands -------------------------------------------------------------------------- */

/* A ready wrap URL: the URI's path, id= added when absent, pub=. */
static int pub_url(struct ocikp_ctx *ctx, const struct p11_uri *u, const struct p11_key *k,
		   struct ocikp_buf *out)
{
	const struct ocikp_host *h = ctx->host;
	const char *url = (const char *)u->key_url.data, *q = strchr(url, '?');
	size_t path = q ? (size_t)(q - url) : u->key_url.len, i;
	unsigned char *der = NULL;
	int n = i2d_PUBKEY(k->pub, &der), rc = OCIKP_OK;

	if (n <= 0)
		return OCIKP_INTERNAL;
	h->buf_append(out, url, path);
	if (!u->has[P11_ID]) {
		/* a separator unless the path is empty ("pkcs11:") */
		if (path > strlen("pkcs11:"))
			h->buf_append(out, ";", 1);
		h->buf_append(out, "id=", 3);
		for (i = 0; i < k->id_len; i++) {
			char e[4];

			snprintf(e, sizeof(e), "%%%02x", k->id[i]);
			h->buf_append(out, e, 3);
		}
	}
	h->buf_append(out, "?", 1);
	if (q && q[1]) {
		h->buf_append(out, q + 1, strlen(q + 1));
		h->buf_append(out, "&", 1);
	}
	h->buf_append(out, "pub=", 4);
	if (h->b64_encode(der, (size_t)n, B64URL, out) != OCIKP_OK ||
	    h->buf_append(out, "\n", 1) != OCIKP_OK)
		rc = OCIKP_INTERNAL;
	OPENSSL_free(der);
	return rc;
}

static int pkcs11_command(struct ocikp_ctx *ctx, int argc, char *const argv[],
			  struct ocikp_buf *out)
{
	struct p11_uri u;
	struct p11_key k;
	int rc;

	if (argc == 1 && !strcmp(argv[0], "list"))
		return p11_list(ctx, out);
	if (argc != 2 || strcmp(argv[0], "pub")) {
		ocikp_errorf(ctx, "usage: ocikp pkcs11 list | pub URI");
		return OCIKP_BAD_INPUT;
	}
	if ((rc = p11_uri_parse(ctx, argv[1], &u)) == OCIKP_OK &&
	    (rc = p11_find_public(ctx, &u, &k)) == OCIKP_OK) {
		rc = pub_url(ctx, &u, &k, out);
		p11_key_release(ctx, &k);
	}
	p11_uri_free(ctx, &u);
	return rc;
}

static const char *const pkcs11_schemes[] = { "pkcs11", NULL };

OCIKP_EXPORT const struct ocikp_backend ocikp_backend_v1 = {
	.abi = OCIKP_BACKEND_ABI,
	.size = sizeof(struct ocikp_backend),
	.name = "pkcs11",
	.version = PACKAGE_VERSION,
	.schemes = pkcs11_schemes,
	.init = p11_init,
	.wrap = pkcs11_wrap,
	.unwrap = pkcs11_unwrap,
	.command = pkcs11_command,
	.command_usage = "list\npub URI",
	.fini = p11_fini,
	.flags = 0,	/* one call at a time: sessions and the module list are shared */
};
