/*
 * The TEE key pair of the RCAR handshake and the JWE a KBS answers a
 * resource request with (kbs.h).
 *
 * Shapes from trustee kbs/src/jwe/mod.rs (the encrypting side) and
 * guest-components kbs_protocol/src/keypair.rs (the decrypting side), with
 * kbs-types' Response and ProtectedHeader:
 *   {"protected": b64url(header JSON), "encrypted_key", "iv", "ciphertext",
 *    "tag"}, every member base64url without padding;
 *   header {"alg", "enc": "A256GCM", "epk": {"crv", "kty", "x", "y"}} for
 *   ECDH-ES+A256KW, {"alg": "RSA-OAEP-256", "enc": "A256GCM"} for RSA;
 *   AAD = the ASCII of "protected" (trustee's generate_aad re-encodes the
 *   header it serialized, which is that same string; RFC 7516 §5.2).
 * Everything is OpenSSL 3: ECDH by EVP_PKEY_derive, the Concat KDF of
 * RFC 7518 §4.6 by EVP_KDF "SSKDF", RFC 3394 key unwrap, AES-256-GCM and
 * RSA-OAEP with SHA-256 and MGF1-SHA-256.
 *
 * Statuses: a JWE for another key (another alg, another curve, a key
 * unwrap or tag that fails) is OCIKP_WRONG_KEY; one that is malformed
 * (not JSON, a member missing, bad base64, wrong lengths, a point not on
 * the curve, an enc or header member we do not implement) is
 * OCIKP_UNAVAILABLE: the server's fault, not this machine's.
 */
#include <limits.h>
#include <string.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/rsa.h>
#include "kbs.h"

#define ALG_ECDH "ECDH-ES+A256KW"
#define ALG_RSA "RSA-OAEP-256"
#define ENC_GCM "A256GCM"
#define CURVE "P-256"
#define COORD_LEN 32		/* P-256, full width */
#define CEK_LEN 32		/* A256GCM */
#define WRAPPED_CEK_LEN (CEK_LEN + 8)	/* RFC 3394 adds one 64-bit block */
#define GCM_IV_LEN 12
#define GCM_TAG_LEN 16
#define RSA_BITS 2048
#define B64URL (OCIKP_B64_URL | OCIKP_B64_NOPAD)

struct kbs_tee_key {
	enum kbs_tee_alg alg;
	EVP_PKEY *pkey;
};

/* ---- the key pair ---------------------------------------------------------- */

int kbs_tee_key_new(struct ocikp_ctx *ctx, enum kbs_tee_alg alg, struct kbs_tee_key **out)
{
	struct kbs_tee_key *k;

	*out = NULL;
	if (!(k = OPENSSL_zalloc(sizeof(*k))))
		return OCIKP_INTERNAL;
	k->alg = alg;
	if (alg == KBS_TEE_RSA)
		k->pkey = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)RSA_BITS);
	else
		k->pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", CURVE);
	if (!k->pkey) {
		OPENSSL_free(k);
		ERR_clear_error();
		ocikp_errorf(ctx, "OpenSSL could not make the TEE key pair");
		return OCIKP_INTERNAL;
	}
	*out = k;
	return OCIKP_OK;
}

void kbs_tee_key_free(struct kbs_tee_key *k)
{
	if (!k)
		return;
	EVP_PKEY_free(k->pkey);	/* OpenSSL clears a private key it frees */
	OPENSSL_free(k);
}

static const char *key_alg(const struct kbs_tee_key *k)
{
	return k->alg == KBS_TEE_RSA ? ALG_RSA : ALG_ECDH;
}

/* jgen `"key": b64url(bn)`, bn padded on the left to width bytes (0: its
 * own length, as RSA's n and e are written). */
static int jwk_bn(struct ocikp_ctx *ctx, ocikp_jgen *g, const char *key, const BIGNUM *bn,
		  int width)
{
	const struct ocikp_host *h = ctx->host;
	struct ocikp_buf text = { 0 };
	unsigned char raw[RSA_BITS / 8];
	int n = width ? width : BN_num_bytes(bn);
	int rc = OCIKP_INTERNAL;

	if (n < 1 || n > (int)sizeof(raw) || BN_bn2binpad(bn, raw, n) != n)
		return OCIKP_INTERNAL;
	if (h->b64_encode(raw, (size_t)n, B64URL, &text) == OCIKP_OK) {
		h->jgen_key(g, key);
		h->jgen_string(g, (const char *)text.data, text.len);
		rc = OCIKP_OK;
	}
	h->buf_free(&text);
	return rc;
}

static int jwk_members(struct ocikp_ctx *ctx, const struct kbs_tee_key *k, ocikp_jgen *g)
{
	const struct ocikp_host *h = ctx->host;
	const char *names[2];
	BIGNUM *a = NULL, *b = NULL;
	int width, rc = OCIKP_INTERNAL;

	/* member order as trustee serializes kbs-types' TeePubKey (the serde
	 * tag "kty" first, then the fields in declaration order) */
	h->jgen_key(g, "kty");
	if (k->alg == KBS_TEE_RSA) {
		h->jgen_string(g, "RSA", 3);
		names[0] = OSSL_PKEY_PARAM_RSA_N;
		names[1] = OSSL_PKEY_PARAM_RSA_E;
		width = 0;
	} else {
		h->jgen_string(g, "EC", 2);
		h->jgen_key(g, "crv");
		h->jgen_string(g, CURVE, strlen(CURVE));
		names[0] = OSSL_PKEY_PARAM_EC_PUB_X;
		names[1] = OSSL_PKEY_PARAM_EC_PUB_Y;
		width = COORD_LEN;
	}
	h->jgen_key(g, "alg");
	h->jgen_string(g, key_alg(k), strlen(key_alg(k)));
	if (EVP_PKEY_get_bn_param(k->pkey, names[0], &a) > 0 &&
	    EVP_PKEY_get_bn_param(k->pkey, names[1], &b) > 0 &&
	    jwk_bn(ctx, g, k->alg == KBS_TEE_RSA ? "n" : "x", a, width) == OCIKP_OK &&
	    jwk_bn(ctx, g, k->alg == KBS_TEE_RSA ? "e" : "y", b, width) == OCIKP_OK)
		rc = OCIKP_OK;
	BN_free(a);
	BN_free(b);
	return rc;
}

int kbs_tee_key_jwk(struct ocikp_ctx *ctx, const struct kbs_tee_key *k, struct ocikp_buf *out)
{
	ocikp_jgen *g = ctx->host->jgen_new();
	int rc;

	if (!g)
		return OCIKP_INTERNAL;
	ctx->host->jgen_map_open(g);
	rc = jwk_members(ctx, k, g);
	ctx->host->jgen_map_close(g);
	if (rc != OCIKP_OK) {
		ctx->host->jgen_finish(g, NULL);
		ERR_clear_error();
		ocikp_errorf(ctx, "OpenSSL could not export the TEE public key");
		return rc;
	}
	return ctx->host->jgen_finish(g, out);
}

/* ---- reading the JWE ------------------------------------------------------- */

struct jwe {
	ocikp_json *doc;		/* the JWE JSON */
	ocikp_json *hdr;		/* the decoded protected header */
	const char *protected;		/* its text as sent: the AAD */
	size_t protected_len;
	const char *alg;
	struct ocikp_buf ek, iv, ct, tag;
};

static void jwe_free(struct ocikp_ctx *ctx, struct jwe *j)
{
	const struct ocikp_host *h = ctx->host;

	h->json_free(j->doc);
	h->json_free(j->hdr);
	h->buf_free(&j->ek);
	h->buf_free(&j->iv);
	h->buf_free(&j->ct);
	h->buf_free(&j->tag);
}

/* A short printable copy of a server string, for an error line. */
static const char *printable(const char *s, char *out, size_t n)
{
	size_t i;

	for (i = 0; s[i] && i + 4 < n; i++)
		out[i] = s[i] >= 0x20 && s[i] < 0x7f ? s[i] : '?';
	if (s[i]) {
		memcpy(out + i, "...", 3);
		i += 3;
	}
	out[i] = '\0';
	return out;
}

static int malformed(struct ocikp_ctx *ctx, const char *why)
{
	ocikp_errorf(ctx, "the KBS's answer is not a usable JWE: %s", why);
	return OCIKP_UNAVAILABLE;
}

/* The string member `name` of obj, or NULL. */
static const char *member(struct ocikp_ctx *ctx, const ocikp_json *obj, const char *name,
			  size_t *len)
{
	const ocikp_json *v = ctx->host->json_get(obj, name);

	if (ctx->host->json_type(v) != OCIKP_JSON_STRING)
		return NULL;
	*len = ctx->host->json_string_len(v);
	return ctx->host->json_string(v);
}

/* Decode the base64url member `name` of obj into out, of exactly `want`
 * bytes unless want is 0. */
static int member_b64(struct ocikp_ctx *ctx, const ocikp_json *obj, const char *name,
		      size_t want, struct ocikp_buf *out)
{
	char what[64], why[96];
	const char *s;
	size_t len;

	if (!(s = member(ctx, obj, name, &len))) {
		snprintf(why, sizeof(why), "no string \"%s\"", name);
		return malformed(ctx, why);
	}
	snprintf(what, sizeof(what), "the KBS's JWE %s", name);
	if (ctx->host->b64_decode(ctx, what, s, len, B64URL, out) != OCIKP_OK)
		return OCIKP_UNAVAILABLE;	/* its line names `what` */
	if (want && out->len != want) {
		snprintf(why, sizeof(why), "%s is %zu bytes, not %zu", name, out->len, want);
		return malformed(ctx, why);
	}
	return OCIKP_OK;
}

/* Members that would change what is authenticated or how: the general
 * JSON form, a shared unprotected header, extra AAD.  Trustee sends none;
 * refused rather than half understood. */
static int jwe_unsupported(struct ocikp_ctx *ctx, const ocikp_json *doc)
{
	static const char *const names[] = { "aad", "unprotected", "header", "recipients" };
	char why[64];
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (ctx->host->json_get(doc, names[i])) {
			snprintf(why, sizeof(why), "\"%s\" is not supported", names[i]);
			return malformed(ctx, why);
		}
	return OCIKP_OK;
}

/* The protected header: decoded, parsed, alg and enc checked. */
static int jwe_header(struct ocikp_ctx *ctx, const struct kbs_tee_key *k, struct jwe *j)
{
	const struct ocikp_host *h = ctx->host;
	struct ocikp_buf text = { 0 };
	const char *enc;
	char a[40];
	size_t len;
	int rc;

	if (!(j->protected = member(ctx, j->doc, "protected", &j->protected_len)))
		return malformed(ctx, "no string \"protected\"");
	rc = h->b64_decode(ctx, "the KBS's JWE protected header", j->protected,
			   j->protected_len, B64URL, &text);
	if (rc == OCIKP_OK)
		rc = h->json_parse(ctx, "the KBS's JWE protected header", text.data, text.len,
				   &j->hdr);
	h->buf_free(&text);
	if (rc != OCIKP_OK)
		return OCIKP_UNAVAILABLE;
	if (h->json_type(j->hdr) != OCIKP_JSON_OBJECT)
		return malformed(ctx, "the protected header is not an object");
	if (!(j->alg = member(ctx, j->hdr, "alg", &len)) || strlen(j->alg) != len)
		return malformed(ctx, "the protected header has no \"alg\"");
	if (!(enc = member(ctx, j->hdr, "enc", &len)) || strcmp(enc, ENC_GCM)) {
		ocikp_errorf(ctx, "the KBS's JWE uses enc '%s'; only " ENC_GCM " is supported",
			     printable(enc ? enc : "", a, sizeof(a)));
		return OCIKP_UNAVAILABLE;
	}
	/* RFC 7516 §4.1.13: a critical extension we do not know must fail;
	 * a compressed payload we would not inflate */
	if (h->json_get(j->hdr, "crit") || h->json_get(j->hdr, "zip"))
		return malformed(ctx, "\"crit\" and \"zip\" are not supported");
	if (strcmp(j->alg, key_alg(k))) {
		ocikp_errorf(ctx, "the KBS's JWE is for another key: alg '%s', this machine's TEE "
			     "key is %s", printable(j->alg, a, sizeof(a)), key_alg(k));
		return OCIKP_WRONG_KEY;
	}
	return OCIKP_OK;
}

static int jwe_parse(struct ocikp_ctx *ctx, const struct kbs_tee_key *k, const void *text,
		     size_t len, struct jwe *j)
{
	const struct ocikp_host *h = ctx->host;
	int rc;

	if (h->json_parse(ctx, "the KBS's JWE", text, len, &j->doc) != OCIKP_OK)
		return OCIKP_UNAVAILABLE;
	if (h->json_type(j->doc) != OCIKP_JSON_OBJECT)
		return malformed(ctx, "not a JSON object");
	if ((rc = jwe_unsupported(ctx, j->doc)) != OCIKP_OK ||
	    (rc = jwe_header(ctx, k, j)) != OCIKP_OK ||
	    (rc = member_b64(ctx, j->doc, "encrypted_key", 0, &j->ek)) != OCIKP_OK ||
	    (rc = member_b64(ctx, j->doc, "iv", GCM_IV_LEN, &j->iv)) != OCIKP_OK ||
	    (rc = member_b64(ctx, j->doc, "ciphertext", 0, &j->ct)) != OCIKP_OK ||
	    (rc = member_b64(ctx, j->doc, "tag", GCM_TAG_LEN, &j->tag)) != OCIKP_OK)
		return rc;
	if (j->ct.len > INT_MAX || j->protected_len > INT_MAX)
		return malformed(ctx, "too large");
	return OCIKP_OK;
}

/* ---- ECDH-ES+A256KW ---------------------------------------------------------- */

static int openssl_fail(struct ocikp_ctx *ctx, const char *what)
{
	ERR_clear_error();
	ocikp_errorf(ctx, "OpenSSL failed: %s", what);
	return OCIKP_INTERNAL;
}

/* One length-prefixed field of the Concat KDF's OtherInfo (RFC 7518
 * §4.6.2: a 32-bit big-endian length, then the bytes). */
static int put_field(struct ocikp_ctx *ctx, struct ocikp_buf *b, const void *data, size_t n)
{
	unsigned char be[4] = { (unsigned char)(n >> 24), (unsigned char)(n >> 16),
				(unsigned char)(n >> 8), (unsigned char)n };

	if (n > UINT32_MAX || ctx->host->buf_append(b, be, 4) != OCIKP_OK ||
	    (n && ctx->host->buf_append(b, data, n) != OCIKP_OK))
		return OCIKP_INTERNAL;
	return OCIKP_OK;
}

/*
 * RFC 7518 §4.6.2: the key-wrapping key from the shared secret z.  OtherInfo
 * = AlgorithmID ‖ PartyUInfo ‖ PartyVInfo ‖ SuppPubInfo (keydatalen in
 * bits, 32-bit big-endian), SuppPrivInfo empty; the single-step KDF of
 * SP 800-56A with SHA-256, which is OpenSSL's SSKDF.  apu and apv may be
 * empty (trustee sends neither).
 */
static int concat_kdf(struct ocikp_ctx *ctx, const unsigned char *z, size_t zlen,
		      const char *alg_id, const struct ocikp_buf *apu,
		      const struct ocikp_buf *apv, unsigned char *out, size_t out_len)
{
	unsigned char bits[4];
	size_t nbits = out_len * 8;
	struct ocikp_buf info = { 0 };
	EVP_KDF *kdf = NULL;
	EVP_KDF_CTX *kc = NULL;
	OSSL_PARAM p[4];
	char md[] = "SHA256";
	int rc = OCIKP_INTERNAL;

	bits[0] = (unsigned char)(nbits >> 24);
	bits[1] = (unsigned char)(nbits >> 16);
	bits[2] = (unsigned char)(nbits >> 8);
	bits[3] = (unsigned char)nbits;
	if (put_field(ctx, &info, alg_id, strlen(alg_id)) ||
	    put_field(ctx, &info, apu->data, apu->len) ||
	    put_field(ctx, &info, apv->data, apv->len) ||
	    ctx->host->buf_append(&info, bits, 4))
		goto out;
	p[0] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, md, 0);
	p[1] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SECRET, (void *)z, zlen);
	p[2] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info.data, info.len);
	p[3] = OSSL_PARAM_construct_end();
	if ((kdf = EVP_KDF_fetch(NULL, "SSKDF", NULL)) && (kc = EVP_KDF_CTX_new(kdf)) &&
	    EVP_KDF_derive(kc, out, out_len, p) > 0)
		rc = OCIKP_OK;
	else
		rc = openssl_fail(ctx, "Concat KDF");
out:
	EVP_KDF_CTX_free(kc);
	EVP_KDF_free(kdf);
	ctx->host->buf_free(&info);
	return rc;
}

/* The sender's ephemeral public key from "epk", on P-256 and checked. */
static int epk_load(struct ocikp_ctx *ctx, const ocikp_json *hdr, EVP_PKEY **peer)
{
	const struct ocikp_host *h = ctx->host;
	const ocikp_json *epk = h->json_get(hdr, "epk");
	struct ocikp_buf x = { 0 }, y = { 0 };
	unsigned char pt[1 + 2 * COORD_LEN];
	char group[] = CURVE, c[40];
	const char *kty, *crv;
	EVP_PKEY_CTX *pc = NULL;
	OSSL_PARAM p[3];
	size_t len;
	int rc;

	*peer = NULL;
	if (h->json_type(epk) != OCIKP_JSON_OBJECT)
		return malformed(ctx, "the protected header has no \"epk\" object");
	kty = member(ctx, epk, "kty", &len);
	crv = member(ctx, epk, "crv", &len);
	if (!kty || strcmp(kty, "EC") || !crv || strcmp(crv, CURVE)) {
		ocikp_errorf(ctx, "the KBS's JWE is for another key: epk is not an EC key on "
			     CURVE " (crv '%s')", printable(crv ? crv : "", c, sizeof(c)));
		return OCIKP_WRONG_KEY;
	}
	if ((rc = member_b64(ctx, epk, "x", COORD_LEN, &x)) ||
	    (rc = member_b64(ctx, epk, "y", COORD_LEN, &y)))
		goto out;
	pt[0] = 0x04;	/* SEC 1 uncompressed */
	memcpy(pt + 1, x.data, COORD_LEN);
	memcpy(pt + 1 + COORD_LEN, y.data, COORD_LEN);
	p[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, group, 0);
	p[1] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, pt, sizeof(pt));
	p[2] = OSSL_PARAM_construct_end();
	/* decoding the point checks that it is on the curve */
	if (!(pc = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL)) ||
	    EVP_PKEY_fromdata_init(pc) <= 0 ||
	    EVP_PKEY_fromdata(pc, peer, EVP_PKEY_PUBLIC_KEY, p) <= 0) {
		ERR_clear_error();
		rc = malformed(ctx, "epk is not a point on " CURVE);
	}
out:
	EVP_PKEY_CTX_free(pc);
	h->buf_free(&x);
	h->buf_free(&y);
	return rc;
}

/* "apu"/"apv" of the header, if there, decoded. */
static int party_info(struct ocikp_ctx *ctx, const ocikp_json *hdr, const char *name,
		      struct ocikp_buf *out)
{
	if (!ctx->host->json_get(hdr, name))
		return OCIKP_OK;
	return member_b64(ctx, hdr, name, 0, out);
}

/* z: ECDH of our private key with the sender's epk, validated again. */
static int ecdh(struct ocikp_ctx *ctx, const struct kbs_tee_key *k, EVP_PKEY *peer,
		unsigned char z[COORD_LEN])
{
	EVP_PKEY_CTX *dc = EVP_PKEY_CTX_new_from_pkey(NULL, k->pkey, NULL);
	size_t zlen = COORD_LEN;
	int rc = OCIKP_OK;

	if (!dc || EVP_PKEY_derive_init(dc) <= 0)
		rc = openssl_fail(ctx, "ECDH set-up");
	else if (EVP_PKEY_derive_set_peer_ex(dc, peer, 1) <= 0) {
		ERR_clear_error();
		rc = malformed(ctx, "epk is not a valid " CURVE " public key");
	} else if (EVP_PKEY_derive(dc, z, &zlen) <= 0 || zlen != COORD_LEN)
		rc = openssl_fail(ctx, "ECDH");
	EVP_PKEY_CTX_free(dc);
	return rc;
}

/* RFC 3394 unwrap of the CEK; its integrity check failing means another
 * key (or an altered one). */
static int aes_unwrap(struct ocikp_ctx *ctx, const unsigned char kek[32],
		      const struct ocikp_buf *wrapped, unsigned char cek[CEK_LEN])
{
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	unsigned char out[WRAPPED_CEK_LEN];
	int n = 0, rc;

	if (!c)
		return openssl_fail(ctx, "AES key unwrap set-up");
	EVP_CIPHER_CTX_set_flags(c, EVP_CIPHER_CTX_FLAG_WRAP_ALLOW);
	if (EVP_DecryptInit_ex(c, EVP_aes_256_wrap(), NULL, kek, NULL) <= 0) {
		rc = openssl_fail(ctx, "AES key unwrap set-up");
	} else if (EVP_DecryptUpdate(c, out, &n, wrapped->data, (int)wrapped->len) <= 0 ||
		   n != CEK_LEN) {
		ERR_clear_error();
		ocikp_errorf(ctx, "the KBS's JWE does not open with this machine's TEE key "
			     "(the key unwrap fails): it is for another key, or altered");
		rc = OCIKP_WRONG_KEY;
	} else {
		memcpy(cek, out, CEK_LEN);
		rc = OCIKP_OK;
	}
	OPENSSL_cleanse(out, sizeof(out));
	EVP_CIPHER_CTX_free(c);
	return rc;
}

static int cek_ecdh(struct ocikp_ctx *ctx, const struct kbs_tee_key *k, const struct jwe *j,
		    unsigned char cek[CEK_LEN])
{
	struct ocikp_buf apu = { 0 }, apv = { 0 };
	unsigned char z[COORD_LEN], kek[32];
	EVP_PKEY *peer = NULL;
	int rc;

	if (j->ek.len != WRAPPED_CEK_LEN)
		return malformed(ctx, "encrypted_key is not a wrapped 256-bit key");
	if ((rc = epk_load(ctx, j->hdr, &peer)) == OCIKP_OK &&
	    (rc = party_info(ctx, j->hdr, "apu", &apu)) == OCIKP_OK &&
	    (rc = party_info(ctx, j->hdr, "apv", &apv)) == OCIKP_OK &&
	    (rc = ecdh(ctx, k, peer, z)) == OCIKP_OK &&
	    (rc = concat_kdf(ctx, z, sizeof(z), ALG_ECDH, &apu, &apv, kek, sizeof(kek))) ==
		    OCIKP_OK)
		rc = aes_unwrap(ctx, kek, &j->ek, cek);
	OPENSSL_cleanse(z, sizeof(z));
	OPENSSL_cleanse(kek, sizeof(kek));
	EVP_PKEY_free(peer);
	ctx->host->buf_free(&apu);
	ctx->host->buf_free(&apv);
	return rc;
}

/* ---- RSA-OAEP-256 ------------------------------------------------------------ */

static int cek_rsa(struct ocikp_ctx *ctx, const struct kbs_tee_key *k, const struct jwe *j,
		   unsigned char cek[CEK_LEN])
{
	EVP_PKEY_CTX *pc = NULL;
	unsigned char out[RSA_BITS / 8];
	size_t n = sizeof(out);
	int rc = OCIKP_OK;

	if (j->ek.len != (size_t)EVP_PKEY_get_size(k->pkey))
		return malformed(ctx, "encrypted_key is not the size of the RSA key");
	if (!(pc = EVP_PKEY_CTX_new_from_pkey(NULL, k->pkey, NULL)) ||
	    EVP_PKEY_decrypt_init(pc) <= 0 ||
	    EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_OAEP_PADDING) <= 0 ||
	    EVP_PKEY_CTX_set_rsa_oaep_md_name(pc, "SHA256", NULL) <= 0 ||
	    EVP_PKEY_CTX_set_rsa_mgf1_md_name(pc, "SHA256", NULL) <= 0) {
		rc = openssl_fail(ctx, "RSA-OAEP set-up");
	} else if (EVP_PKEY_decrypt(pc, out, &n, j->ek.data, j->ek.len) <= 0 || n != CEK_LEN) {
		ERR_clear_error();
		ocikp_errorf(ctx, "the KBS's JWE does not open with this machine's TEE key "
			     "(RSA-OAEP fails): it is for another key, or altered");
		rc = OCIKP_WRONG_KEY;
	} else {
		memcpy(cek, out, CEK_LEN);
	}
	OPENSSL_cleanse(out, sizeof(out));
	EVP_PKEY_CTX_free(pc);
	return rc;
}

/* ---- the content ------------------------------------------------------------- */

/* AES-256-GCM, AAD the protected header's text; the plaintext is appended
 * to plain only when the tag verifies. */
static int gcm_open(struct ocikp_ctx *ctx, const unsigned char cek[CEK_LEN], const struct jwe *j,
		    struct ocikp_buf *plain)
{
	const struct ocikp_host *h = ctx->host;
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	struct ocikp_buf tmp = { 0 };
	unsigned char *o = NULL, end[16];
	int n = 0, rc = OCIKP_OK;

	if (!c)
		return openssl_fail(ctx, "AES-GCM set-up");
	if (j->ct.len && !(o = h->buf_extend(&tmp, j->ct.len))) {
		rc = OCIKP_INTERNAL;
	} else if (EVP_DecryptInit_ex(c, EVP_aes_256_gcm(), NULL, NULL, NULL) <= 0 ||
		   EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IVLEN, GCM_IV_LEN, NULL) <= 0 ||
		   EVP_DecryptInit_ex(c, NULL, NULL, cek, j->iv.data) <= 0 ||
		   EVP_DecryptUpdate(c, NULL, &n, (const unsigned char *)j->protected,
				     (int)j->protected_len) <= 0 ||
		   (j->ct.len && EVP_DecryptUpdate(c, o, &n, j->ct.data, (int)j->ct.len) <= 0) ||
		   EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, GCM_TAG_LEN, j->tag.data) <= 0) {
		rc = openssl_fail(ctx, "AES-GCM");
	} else if (EVP_DecryptFinal_ex(c, end, &n) <= 0) {
		ERR_clear_error();
		ocikp_errorf(ctx, "the KBS's JWE does not open: its GCM tag does not verify "
			     "(altered, or for another key)");
		rc = OCIKP_WRONG_KEY;
	} else if (tmp.len && h->buf_append(plain, tmp.data, tmp.len) != OCIKP_OK) {
		rc = OCIKP_INTERNAL;
	}
	h->buf_free(&tmp);
	EVP_CIPHER_CTX_free(c);
	return rc;
}

int kbs_jwe_open(struct ocikp_ctx *ctx, const struct kbs_tee_key *k, const void *jwe, size_t len,
		 struct ocikp_buf *plain)
{
	struct jwe j = { 0 };
	unsigned char cek[CEK_LEN];
	int rc;

	if ((rc = jwe_parse(ctx, k, jwe, len, &j)) == OCIKP_OK) {
		rc = k->alg == KBS_TEE_RSA ? cek_rsa(ctx, k, &j, cek) : cek_ecdh(ctx, k, &j, cek);
		if (rc == OCIKP_OK)
			rc = gcm_open(ctx, cek, &j, plain);
	}
	OPENSSL_cleanse(cek, sizeof(cek));
	jwe_free(ctx, &j);
	return rc;
}
