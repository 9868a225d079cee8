/*
 * JWE sealing and opening (jwe.h): RSA-OAEP-256, RSA-OAEP, ECDH-ES+A256KW
 * on P-256 and P-384, A256GCM; compact and flattened JSON serializations.
 *
 * The protected header is written as {"alg","enc"[,"epk":{"crv","kty",
 * "x","y"}]}, compact JSON with the epk members sorted (as trustee and
 * most JOSE libraries write it); on opening, "apu"/"apv" are honoured,
 * "crit" and "zip" refused, other members ignored (RFC 7516 §4.1).
 */
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include "jwe.h"

#define ENC_GCM "A256GCM"
#define CEK_LEN 32			/* A256GCM */
#define WRAPPED_CEK_LEN (CEK_LEN + 8)	/* RFC 3394 adds one 64-bit block */
#define GCM_IV_LEN 12
#define GCM_TAG_LEN 16
#define COORD_MAX 48			/* P-384 */
#define RSA_MAX_BYTES 2048		/* 16384-bit moduli */
#define B64URL (OCIKP_B64_URL | OCIKP_B64_NOPAD)

/* ---- algorithms and keys ----------------------------------------------------- */

static const struct {
	enum jwe_alg alg;
	const char *name;
	const char *md;		/* OAEP's hash; NULL for ECDH */
} algs[] = {
	{ JWE_RSA_OAEP_256, "RSA-OAEP-256", "SHA256" },
	{ JWE_RSA_OAEP, "RSA-OAEP", "SHA1" },
	{ JWE_ECDH_ES_A256KW, "ECDH-ES+A256KW", NULL },
};

#define N_ALGS (sizeof(algs) / sizeof(algs[0]))

static const struct {
	const char *jose;	/* JWK crv */
	const char *group;	/* OpenSSL's group name */
	size_t coord;		/* field size in bytes */
} curves[] = {
	{ "P-256", "prime256v1", 32 },
	{ "P-384", "secp384r1", 48 },
};

#define N_CURVES (sizeof(curves) / sizeof(curves[0]))

const char *jwe_alg_name(enum jwe_alg alg)
{
	size_t i;

	for (i = 0; i < N_ALGS; i++)
		if (algs[i].alg == alg)
			return algs[i].name;
	return NULL;
}

static const char *alg_md(enum jwe_alg alg)
{
	size_t i;

	for (i = 0; i < N_ALGS; i++)
		if (algs[i].alg == alg)
			return algs[i].md;
	return NULL;
}

/* The curves[] index of an EC key, or -1. */
static int key_curve(EVP_PKEY *pkey)
{
	char group[64];
	size_t i;

	if (!EVP_PKEY_is_a(pkey, "EC") ||
	    EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, group,
					   sizeof(group), NULL) <= 0) {
		ERR_clear_error();
		return -1;
	}
	for (i = 0; i < N_CURVES; i++)
		if (!strcmp(group, curves[i].group))
			return (int)i;
	return -1;
}

unsigned jwe_key_algs(EVP_PKEY *pkey)
{
	if (!pkey)
		return 0;
	if (EVP_PKEY_is_a(pkey, "RSA"))
		return EVP_PKEY_get_size(pkey) <= RSA_MAX_BYTES ? JWE_RSA_OAEP_256 | JWE_RSA_OAEP
								: 0;
	return key_curve(pkey) >= 0 ? JWE_ECDH_ES_A256KW : 0;
}

static int openssl_fail(struct ocikp_ctx *ctx, const char *what)
{
	ERR_clear_error();
	ocikp_errorf(ctx, "OpenSSL failed: %s", what);
	return OCIKP_INTERNAL;
}

/* A short printable copy of an untrusted string, for an error line. */
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

/* ---- shared primitives ------------------------------------------------------- */

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
 * empty.
 */
static int concat_kdf(struct ocikp_ctx *ctx, const unsigned char *z, size_t zlen,
		      const char *alg_id, const struct ocikp_buf *apu,
		      const struct ocikp_buf *apv, unsigned char *out, size_t out_len)
{
	size_t nbits = out_len * 8;
	unsigned char bits[4] = { (unsigned char)(nbits >> 24), (unsigned char)(nbits >> 16),
				  (unsigned char)(nbits >> 8), (unsigned char)nbits };
	struct ocikp_buf info = { 0 };
	EVP_KDF *kdf = NULL;
	EVP_KDF_CTX *kc = NULL;
	OSSL_PARAM p[4];
	char md[] = "SHA256";
	int rc = OCIKP_INTERNAL;

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

/* The software ECDH: z = x(d·peer), exactly zlen bytes. */
static int ecdh_soft(struct ocikp_ctx *ctx, EVP_PKEY *priv, EVP_PKEY *peer, unsigned char *z,
		     size_t zlen)
{
	EVP_PKEY_CTX *dc = EVP_PKEY_CTX_new_from_pkey(NULL, priv, NULL);
	size_t n = zlen;
	int rc = OCIKP_OK;

	if (!dc || EVP_PKEY_derive_init(dc) <= 0 || EVP_PKEY_derive_set_peer_ex(dc, peer, 1) <= 0 ||
	    EVP_PKEY_derive(dc, z, &n) <= 0 || n != zlen)
		rc = openssl_fail(ctx, "ECDH");
	EVP_PKEY_CTX_free(dc);
	return rc;
}

/* An EVP_PKEY_CTX for OAEP with md as hash and MGF1 hash; decrypt or encrypt. */
static EVP_PKEY_CTX *oaep_ctx(EVP_PKEY *pkey, const char *md, int decrypt)
{
	EVP_PKEY_CTX *pc = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);

	if (!pc || (decrypt ? EVP_PKEY_decrypt_init(pc) : EVP_PKEY_encrypt_init(pc)) <= 0 ||
	    EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_OAEP_PADDING) <= 0 ||
	    EVP_PKEY_CTX_set_rsa_oaep_md_name(pc, md, NULL) <= 0 ||
	    EVP_PKEY_CTX_set_rsa_mgf1_md_name(pc, md, NULL) <= 0) {
		EVP_PKEY_CTX_free(pc);
		return NULL;
	}
	return pc;
}

/* ---- sealing ------------------------------------------------------------------ */

struct sealed {
	struct ocikp_buf protected;	/* base64url of the header: the AAD */
	struct ocikp_buf ek, iv, ct, tag;
};

static void sealed_free(struct ocikp_ctx *ctx, struct sealed *s)
{
	ctx->host->buf_free(&s->protected);
	ctx->host->buf_free(&s->ek);
	ctx->host->buf_free(&s->iv);
	ctx->host->buf_free(&s->ct);
	ctx->host->buf_free(&s->tag);
}

/* jgen `"key": b64url(bn)`, left-padded to width bytes. */
static int jgen_coord(struct ocikp_ctx *ctx, ocikp_jgen *g, const char *key, EVP_PKEY *pkey,
		      const char *param, size_t width)
{
	const struct ocikp_host *h = ctx->host;
	struct ocikp_buf text = { 0 };
	unsigned char raw[COORD_MAX];
	BIGNUM *bn = NULL;
	int rc = OCIKP_INTERNAL;

	if (width <= sizeof(raw) && EVP_PKEY_get_bn_param(pkey, param, &bn) > 0 &&
	    BN_bn2binpad(bn, raw, (int)width) == (int)width &&
	    h->b64_encode(raw, width, B64URL, &text) == OCIKP_OK) {
		h->jgen_key(g, key);
		h->jgen_string(g, (const char *)text.data, text.len);
		rc = OCIKP_OK;
	}
	ERR_clear_error();
	BN_free(bn);
	h->buf_free(&text);
	return rc;
}

/* The protected header, base64url, into s->protected; epk for ECDH. */
static int seal_header(struct ocikp_ctx *ctx, enum jwe_alg alg, EVP_PKEY *epk, int curve,
		       struct sealed *s)
{
	const struct ocikp_host *h = ctx->host;
	const char *name = jwe_alg_name(alg);
	struct ocikp_buf json = { 0 };
	ocikp_jgen *g = h->jgen_new();
	int rc = OCIKP_OK;

	if (!g)
		return OCIKP_INTERNAL;
	h->jgen_map_open(g);
	h->jgen_key(g, "alg");
	h->jgen_string(g, name, strlen(name));
	h->jgen_key(g, "enc");
	h->jgen_string(g, ENC_GCM, strlen(ENC_GCM));
	if (epk) {
		h->jgen_key(g, "epk");
		h->jgen_map_open(g);
		h->jgen_key(g, "crv");
		h->jgen_string(g, curves[curve].jose, strlen(curves[curve].jose));
		h->jgen_key(g, "kty");
		h->jgen_string(g, "EC", 2);
		if (jgen_coord(ctx, g, "x", epk, OSSL_PKEY_PARAM_EC_PUB_X, curves[curve].coord) ||
		    jgen_coord(ctx, g, "y", epk, OSSL_PKEY_PARAM_EC_PUB_Y, curves[curve].coord))
			rc = OCIKP_INTERNAL;
		h->jgen_map_close(g);
	}
	h->jgen_map_close(g);
	if (h->jgen_finish(g, &json) != OCIKP_OK)
		rc = OCIKP_INTERNAL;
	if (rc == OCIKP_OK)
		rc = h->b64_encode(json.data, json.len, B64URL, &s->protected);
	h->buf_free(&json);
	return rc;
}

/* RFC 3394 wrap of the CEK under kek into s->ek. */
static int aes_wrap(struct ocikp_ctx *ctx, const unsigned char kek[32],
		    const unsigned char cek[CEK_LEN], struct sealed *s)
{
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	unsigned char *o = ctx->host->buf_extend(&s->ek, WRAPPED_CEK_LEN);
	int n = 0, m = 0, rc = OCIKP_OK;

	if (!c || !o)
		rc = OCIKP_INTERNAL;
	else if ((EVP_CIPHER_CTX_set_flags(c, EVP_CIPHER_CTX_FLAG_WRAP_ALLOW),
		  EVP_EncryptInit_ex(c, EVP_aes_256_wrap(), NULL, kek, NULL) <= 0) ||
		 EVP_EncryptUpdate(c, o, &n, cek, CEK_LEN) <= 0 ||
		 EVP_EncryptFinal_ex(c, o + n, &m) <= 0 || n + m != WRAPPED_CEK_LEN)
		rc = openssl_fail(ctx, "AES key wrap");
	EVP_CIPHER_CTX_free(c);
	return rc;
}

/* ECDH-ES+A256KW: an ephemeral key on pub's curve, the KEK from the Concat
 * KDF (no apu/apv), the CEK wrapped; the header with the epk. */
static int seal_ecdh(struct ocikp_ctx *ctx, EVP_PKEY *pub, const unsigned char cek[CEK_LEN],
		     struct sealed *s)
{
	int curve = key_curve(pub);
	struct ocikp_buf none = { 0 };
	unsigned char z[COORD_MAX], kek[32];
	EVP_PKEY *eph = NULL;
	int rc;

	if (curve < 0)
		return OCIKP_INTERNAL;	/* jwe_seal checked */
	if (!(eph = EVP_PKEY_Q_keygen(NULL, NULL, "EC", curves[curve].group)))
		return openssl_fail(ctx, "an ephemeral EC key");
	if ((rc = ecdh_soft(ctx, eph, pub, z, curves[curve].coord)) == OCIKP_OK &&
	    (rc = concat_kdf(ctx, z, curves[curve].coord, jwe_alg_name(JWE_ECDH_ES_A256KW),
			     &none, &none, kek, sizeof(kek))) == OCIKP_OK &&
	    (rc = aes_wrap(ctx, kek, cek, s)) == OCIKP_OK)
		rc = seal_header(ctx, JWE_ECDH_ES_A256KW, eph, curve, s);
	OPENSSL_cleanse(z, sizeof(z));
	OPENSSL_cleanse(kek, sizeof(kek));
	EVP_PKEY_free(eph);	/* OpenSSL clears the private key it frees */
	return rc;
}

static int seal_rsa(struct ocikp_ctx *ctx, EVP_PKEY *pub, enum jwe_alg alg,
		    const unsigned char cek[CEK_LEN], struct sealed *s)
{
	EVP_PKEY_CTX *pc = oaep_ctx(pub, alg_md(alg), 0);
	size_t n = (size_t)EVP_PKEY_get_size(pub);
	unsigned char *o = ctx->host->buf_extend(&s->ek, n);
	int rc = OCIKP_OK;

	if (!o)
		rc = OCIKP_INTERNAL;
	else if (!pc || EVP_PKEY_encrypt(pc, o, &n, cek, CEK_LEN) <= 0)
		rc = openssl_fail(ctx, "RSA-OAEP encryption");
	else
		s->ek.len = n;
	EVP_PKEY_CTX_free(pc);
	if (rc == OCIKP_OK)
		rc = seal_header(ctx, alg, NULL, -1, s);
	return rc;
}

/* AES-256-GCM of plain under cek, AAD the protected header's text. */
static int gcm_seal(struct ocikp_ctx *ctx, const unsigned char cek[CEK_LEN], const void *plain,
		    size_t len, struct sealed *s)
{
	const struct ocikp_host *h = ctx->host;
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	unsigned char *iv = h->buf_extend(&s->iv, GCM_IV_LEN);
	unsigned char *tag = h->buf_extend(&s->tag, GCM_TAG_LEN);
	unsigned char *o = len ? h->buf_extend(&s->ct, len) : NULL, end[16];
	int n = 0, rc = OCIKP_OK;

	if (!c || !iv || !tag || (len && !o) || len > INT_MAX || s->protected.len > INT_MAX)
		rc = OCIKP_INTERNAL;
	else if (RAND_bytes(iv, GCM_IV_LEN) <= 0 ||
		 EVP_EncryptInit_ex(c, EVP_aes_256_gcm(), NULL, NULL, NULL) <= 0 ||
		 EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IVLEN, GCM_IV_LEN, NULL) <= 0 ||
		 EVP_EncryptInit_ex(c, NULL, NULL, cek, iv) <= 0 ||
		 EVP_EncryptUpdate(c, NULL, &n, s->protected.data, (int)s->protected.len) <= 0 ||
		 (len && EVP_EncryptUpdate(c, o, &n, plain, (int)len) <= 0) ||
		 EVP_EncryptFinal_ex(c, end, &n) <= 0 ||
		 EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, GCM_TAG_LEN, tag) <= 0)
		rc = openssl_fail(ctx, "AES-GCM");
	EVP_CIPHER_CTX_free(c);
	return rc;
}

static int put_b64(struct ocikp_ctx *ctx, const struct ocikp_buf *b, struct ocikp_buf *out)
{
	return b->len ? ctx->host->b64_encode(b->data, b->len, B64URL, out) : OCIKP_OK;
}

static int serialize_compact(struct ocikp_ctx *ctx, const struct sealed *s,
			     struct ocikp_buf *out)
{
	const struct ocikp_host *h = ctx->host;

	if (h->buf_append(out, s->protected.data, s->protected.len) || h->buf_append(out, ".", 1) ||
	    put_b64(ctx, &s->ek, out) || h->buf_append(out, ".", 1) ||
	    put_b64(ctx, &s->iv, out) || h->buf_append(out, ".", 1) ||
	    put_b64(ctx, &s->ct, out) || h->buf_append(out, ".", 1) ||
	    put_b64(ctx, &s->tag, out))
		return OCIKP_INTERNAL;
	return OCIKP_OK;
}

static int jgen_member_b64(struct ocikp_ctx *ctx, ocikp_jgen *g, const char *key,
			   const struct ocikp_buf *b)
{
	struct ocikp_buf text = { 0 };
	int rc = put_b64(ctx, b, &text);

	ctx->host->jgen_key(g, key);
	ctx->host->jgen_string(g, text.len ? (const char *)text.data : "", text.len);
	ctx->host->buf_free(&text);
	return rc;
}

static int serialize_flattened(struct ocikp_ctx *ctx, const struct sealed *s,
			       struct ocikp_buf *out)
{
	const struct ocikp_host *h = ctx->host;
	ocikp_jgen *g = h->jgen_new();
	int rc;

	if (!g)
		return OCIKP_INTERNAL;
	h->jgen_map_open(g);
	h->jgen_key(g, "protected");
	h->jgen_string(g, (const char *)s->protected.data, s->protected.len);
	rc = jgen_member_b64(ctx, g, "encrypted_key", &s->ek) |
	     jgen_member_b64(ctx, g, "iv", &s->iv) |
	     jgen_member_b64(ctx, g, "ciphertext", &s->ct) |
	     jgen_member_b64(ctx, g, "tag", &s->tag);
	h->jgen_map_close(g);
	if (rc != OCIKP_OK) {
		h->jgen_finish(g, NULL);
		return OCIKP_INTERNAL;
	}
	return h->jgen_finish(g, out);
}

int jwe_seal(struct ocikp_ctx *ctx, EVP_PKEY *pub, enum jwe_alg alg, enum jwe_form form,
	     const void *plain, size_t len, struct ocikp_buf *out)
{
	struct sealed s = { 0 };
	unsigned char cek[CEK_LEN];
	int rc;

	if (!jwe_alg_name(alg) || !(jwe_key_algs(pub) & (unsigned)alg)) {
		ocikp_errorf(ctx, "JWE alg %s does not suit this key (%s)",
			     jwe_alg_name(alg) ? jwe_alg_name(alg) : "(none)",
			     pub && EVP_PKEY_is_a(pub, "RSA") ? "RSA"
			     : pub && EVP_PKEY_is_a(pub, "EC") ? "EC"
							       : "not RSA or EC");
		return OCIKP_BAD_INPUT;
	}
	if (RAND_bytes(cek, CEK_LEN) <= 0)
		return openssl_fail(ctx, "random content key");
	rc = alg == JWE_ECDH_ES_A256KW ? seal_ecdh(ctx, pub, cek, &s)
				       : seal_rsa(ctx, pub, alg, cek, &s);
	if (rc == OCIKP_OK)
		rc = gcm_seal(ctx, cek, plain, len, &s);
	if (rc == OCIKP_OK)
		rc = form == JWE_COMPACT ? serialize_compact(ctx, &s, out)
					 : serialize_flattened(ctx, &s, out);
	OPENSSL_cleanse(cek, sizeof(cek));
	sealed_free(ctx, &s);
	return rc;
}

/* ---- reading a JWE ------------------------------------------------------------ */

struct jwe {
	struct ocikp_ctx *ctx;
	const char *what;	/* names the JWE in errors */
	unsigned flags;
	ocikp_json *doc;	/* the flattened JSON */
	ocikp_json *hdr;	/* the decoded protected header */
	const char *protected;	/* its text as sent: the AAD */
	size_t protected_len;
	enum jwe_alg alg;
	struct ocikp_buf ek, iv, ct, tag;
};

static void jwe_free(struct jwe *j)
{
	const struct ocikp_host *h = j->ctx->host;

	h->json_free(j->doc);
	h->json_free(j->hdr);
	h->buf_free(&j->ek);
	h->buf_free(&j->iv);
	h->buf_free(&j->ct);
	h->buf_free(&j->tag);
}

static int malformed(const struct jwe *j, const char *why)
{
	ocikp_errorf(j->ctx, "%s is not a usable JWE: %s", j->what, why);
	return OCIKP_BAD_INPUT;
}

/* The string member `name` of obj, or NULL. */
static const char *member(const struct jwe *j, const ocikp_json *obj, const char *name,
			  size_t *len)
{
	const ocikp_json *v = j->ctx->host->json_get(obj, name);

	if (j->ctx->host->json_type(v) != OCIKP_JSON_STRING)
		return NULL;
	*len = j->ctx->host->json_string_len(v);
	return j->ctx->host->json_string(v);
}

/* Decode base64url s (named `name`) into out, of exactly `want` bytes
 * unless want is 0. */
static int decode_b64(const struct jwe *j, const char *name, const char *s, size_t len,
		      size_t want, struct ocikp_buf *out)
{
	char what[160], why[96];

	snprintf(what, sizeof(what), "%s's %s", j->what, name);
	if (len && j->ctx->host->b64_decode(j->ctx, what, s, len, B64URL, out) != OCIKP_OK)
		return OCIKP_BAD_INPUT;	/* its line names `what` */
	if (want && out->len != want) {
		snprintf(why, sizeof(why), "%s is %zu bytes, not %zu", name, out->len, want);
		return malformed(j, why);
	}
	return OCIKP_OK;
}

static int member_b64(const struct jwe *j, const ocikp_json *obj, const char *name, size_t want,
		      struct ocikp_buf *out)
{
	char why[96];
	const char *s;
	size_t len;

	if (!(s = member(j, obj, name, &len))) {
		snprintf(why, sizeof(why), "no string \"%s\"", name);
		return malformed(j, why);
	}
	return decode_b64(j, name, s, len, want, out);
}

/* The alg of the header against the library's list and the key's. */
static int header_alg(struct jwe *j, const struct jwe_key *k)
{
	const char *alg;
	char a[40];
	size_t i, len;

	if (!(alg = member(j, j->hdr, "alg", &len)) || strlen(alg) != len)
		return malformed(j, "the protected header has no \"alg\"");
	for (i = 0; i < N_ALGS && strcmp(alg, algs[i].name); i++)
		;
	if (i == N_ALGS) {
		ocikp_errorf(j->ctx, "%s uses alg '%s'; only RSA-OAEP-256, RSA-OAEP and "
			     "ECDH-ES+A256KW are supported", j->what, printable(alg, a, sizeof(a)));
		return j->flags & JWE_OTHER_ALG_WRONG_KEY ? OCIKP_WRONG_KEY : OCIKP_BAD_INPUT;
	}
	j->alg = algs[i].alg;
	if (k && !(k->algs & jwe_key_algs(k->pkey) & (unsigned)j->alg)) {
		ocikp_errorf(j->ctx, "%s is for another key: alg %s, which this key does not take",
			     j->what, algs[i].name);
		return OCIKP_WRONG_KEY;
	}
	return OCIKP_OK;
}

/* The protected header: decoded, parsed, alg and enc checked. */
static int parse_header(struct jwe *j, const struct jwe_key *k)
{
	const struct ocikp_host *h = j->ctx->host;
	struct ocikp_buf text = { 0 };
	char what[160], e[40];
	const char *enc;
	size_t len;
	int rc;

	if (!j->protected_len)
		return malformed(j, "the protected header is empty");
	snprintf(what, sizeof(what), "%s's protected header", j->what);
	rc = h->b64_decode(j->ctx, what, j->protected, j->protected_len, B64URL, &text);
	if (rc == OCIKP_OK)
		rc = h->json_parse(j->ctx, what, text.data, text.len, &j->hdr);
	h->buf_free(&text);
	if (rc != OCIKP_OK)
		return OCIKP_BAD_INPUT;	/* its line names `what` */
	if (h->json_type(j->hdr) != OCIKP_JSON_OBJECT)
		return malformed(j, "the protected header is not an object");
	if (!(enc = member(j, j->hdr, "enc", &len)) || strcmp(enc, ENC_GCM) ||
	    strlen(enc) != len) {
		ocikp_errorf(j->ctx, "%s uses enc '%s'; only " ENC_GCM " is supported", j->what,
			     printable(enc ? enc : "", e, sizeof(e)));
		return OCIKP_BAD_INPUT;
	}
	/* RFC 7516 §4.1.13: a critical extension we do not know must fail;
	 * a compressed payload we would not inflate */
	if (h->json_get(j->hdr, "crit") || h->json_get(j->hdr, "zip"))
		return malformed(j, "\"crit\" and \"zip\" are not supported");
	return header_alg(j, k);
}

/* The flattened JSON form.  Members that would change what is
 * authenticated or how (a shared unprotected header, extra AAD, the
 * general form) are refused rather than half understood. */
static int parse_flattened(struct jwe *j, const void *text, size_t len)
{
	static const char *const unsupported[] = { "aad", "unprotected", "header", "recipients" };
	const struct ocikp_host *h = j->ctx->host;
	char why[64];
	size_t i;

	if (h->json_parse(j->ctx, j->what, text, len, &j->doc) != OCIKP_OK)
		return OCIKP_BAD_INPUT;
	if (h->json_type(j->doc) != OCIKP_JSON_OBJECT)
		return malformed(j, "not a JSON object");
	for (i = 0; i < sizeof(unsupported) / sizeof(unsupported[0]); i++)
		if (h->json_get(j->doc, unsupported[i])) {
			snprintf(why, sizeof(why), "\"%s\" is not supported", unsupported[i]);
			return malformed(j, why);
		}
	if (!(j->protected = member(j, j->doc, "protected", &j->protected_len)))
		return malformed(j, "no string \"protected\"");
	return OCIKP_OK;
}

/* The compact form: five base64url parts, four dots.  The parts are
 * decoded after the header, as for the JSON form. */
static int split_compact(struct jwe *j, const char *text, size_t len, const char *part[5],
			 size_t part_len[5])
{
	size_t i, n = 0, start = 0;

	if (memchr(text, '\0', len))
		return malformed(j, "a NUL byte in the compact serialization");
	for (i = 0; i <= len; i++)
		if (i == len || text[i] == '.') {
			if (n == 5)
				return malformed(j, "more than five parts");
			part[n] = text + start;
			part_len[n++] = i - start;
			start = i + 1;
		}
	if (n != 5)
		return malformed(j, "not five dot-separated parts");
	j->protected = part[0];
	j->protected_len = part_len[0];
	return OCIKP_OK;
}

static int jwe_parse(struct jwe *j, const struct jwe_key *k, enum jwe_form form,
		     const void *text, size_t len)
{
	static const char *const names[4] = { "encrypted_key", "iv", "ciphertext", "tag" };
	static const size_t want[4] = { 0, GCM_IV_LEN, 0, GCM_TAG_LEN };
	struct ocikp_buf *out[4] = { &j->ek, &j->iv, &j->ct, &j->tag };
	const char *part[5];
	size_t part_len[5], i;
	int rc;

	rc = form == JWE_COMPACT ? split_compact(j, (const char *)text, len, part, part_len)
				 : parse_flattened(j, text, len);
	if (rc != OCIKP_OK || (rc = parse_header(j, k)) != OCIKP_OK)
		return rc;
	for (i = 0; i < 4; i++) {
		if (form == JWE_COMPACT)
			rc = decode_b64(j, names[i], part[i + 1], part_len[i + 1], want[i], out[i]);
		else
			rc = member_b64(j, j->doc, names[i], want[i], out[i]);
		if (rc != OCIKP_OK)
			return rc;
	}
	if (j->ct.len > INT_MAX || j->protected_len > INT_MAX)
		return malformed(j, "too large");
	return OCIKP_OK;
}

/* ---- opening: the content key --------------------------------------------------- */

/* The sender's ephemeral public key from "epk": on the key's curve (another
 * curve is another key), the point decoded and so checked. */
static int epk_load(const struct jwe *j, int curve, EVP_PKEY **peer, unsigned char *pt, size_t *ptlen)
{
	const struct ocikp_host *h = j->ctx->host;
	const ocikp_json *epk = h->json_get(j->hdr, "epk");
	size_t coord = curves[curve].coord, len;
	struct ocikp_buf x = { 0 }, y = { 0 };
	char group[32], c[40], why[64];
	const char *kty, *crv;
	EVP_PKEY_CTX *pc = NULL;
	OSSL_PARAM p[3];
	int rc;

	*peer = NULL;
	if (h->json_type(epk) != OCIKP_JSON_OBJECT)
		return malformed(j, "the protected header has no \"epk\" object");
	kty = member(j, epk, "kty", &len);
	crv = member(j, epk, "crv", &len);
	if (!kty || strcmp(kty, "EC") || !crv || strcmp(crv, curves[curve].jose)) {
		ocikp_errorf(j->ctx, "%s is for another key: epk is not an EC key on %s "
			     "(crv '%s')", j->what, curves[curve].jose,
			     printable(crv ? crv : "", c, sizeof(c)));
		return OCIKP_WRONG_KEY;
	}
	if ((rc = member_b64(j, epk, "x", coord, &x)) || (rc = member_b64(j, epk, "y", coord, &y)))
		goto out;
	pt[0] = 0x04;	/* SEC 1 uncompressed */
	memcpy(pt + 1, x.data, coord);
	memcpy(pt + 1 + coord, y.data, coord);
	*ptlen = 1 + 2 * coord;
	snprintf(group, sizeof(group), "%s", curves[curve].group);
	p[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, group, 0);
	p[1] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, pt, *ptlen);
	p[2] = OSSL_PARAM_construct_end();
	/* decoding the point checks that it is on the curve */
	if (!(pc = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL)) ||
	    EVP_PKEY_fromdata_init(pc) <= 0 ||
	    EVP_PKEY_fromdata(pc, peer, EVP_PKEY_PUBLIC_KEY, p) <= 0) {
		ERR_clear_error();
		snprintf(why, sizeof(why), "epk is not a point on %s", curves[curve].jose);
		rc = malformed(j, why);
	}
out:
	EVP_PKEY_CTX_free(pc);
	h->buf_free(&x);
	h->buf_free(&y);
	return rc;
}

/* "apu"/"apv" of the header, if there, decoded. */
static int party_info(const struct jwe *j, const char *name, struct ocikp_buf *out)
{
	if (!j->ctx->host->json_get(j->hdr, name))
		return OCIKP_OK;
	return member_b64(j, j->hdr, name, 0, out);
}

/* RFC 3394 unwrap of the CEK; its integrity check failing means another
 * key (or an altered one). */
static int aes_unwrap(const struct jwe *j, const unsigned char kek[32],
		      unsigned char cek[CEK_LEN])
{
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	unsigned char out[WRAPPED_CEK_LEN];
	int n = 0, rc;

	if (!c)
		return openssl_fail(j->ctx, "AES key unwrap set-up");
	EVP_CIPHER_CTX_set_flags(c, EVP_CIPHER_CTX_FLAG_WRAP_ALLOW);
	if (EVP_DecryptInit_ex(c, EVP_aes_256_wrap(), NULL, kek, NULL) <= 0) {
		rc = openssl_fail(j->ctx, "AES key unwrap set-up");
	} else if (EVP_DecryptUpdate(c, out, &n, j->ek.data, (int)j->ek.len) <= 0 ||
		   n != CEK_LEN) {
		ERR_clear_error();
		ocikp_errorf(j->ctx, "%s does not open with this key (the key unwrap fails): "
			     "it is for another key, or altered", j->what);
		rc = OCIKP_WRONG_KEY;
	} else {
		memcpy(cek, out, CEK_LEN);
		rc = OCIKP_OK;
	}
	OPENSSL_cleanse(out, sizeof(out));
	EVP_CIPHER_CTX_free(c);
	return rc;
}

static int cek_ecdh(const struct jwe *j, const struct jwe_key *k, unsigned char cek[CEK_LEN])
{
	int curve = key_curve(k->pkey);
	struct ocikp_buf apu = { 0 }, apv = { 0 };
	unsigned char z[COORD_MAX], kek[32], pt[1 + 2 * COORD_MAX];
	size_t ptlen = 0, zlen;
	EVP_PKEY *peer = NULL;
	int rc;

	if (curve < 0)
		return OCIKP_WRONG_KEY;	/* header_alg checked */
	zlen = curves[curve].coord;
	if ((rc = epk_load(j, curve, &peer, pt, &ptlen)) != OCIKP_OK)
		goto out;
	if (j->ek.len != WRAPPED_CEK_LEN) {
		rc = malformed(j, "encrypted_key is not a wrapped 256-bit key");
		goto out;
	}
	if ((rc = party_info(j, "apu", &apu)) == OCIKP_OK &&
	    (rc = party_info(j, "apv", &apv)) == OCIKP_OK &&
	    (rc = k->ecdh ? k->ecdh(j->ctx, k->arg, peer, pt, ptlen, z, zlen)
			  : ecdh_soft(j->ctx, k->pkey, peer, z, zlen)) == OCIKP_OK &&
	    (rc = concat_kdf(j->ctx, z, zlen, jwe_alg_name(JWE_ECDH_ES_A256KW), &apu, &apv, kek,
			     sizeof(kek))) == OCIKP_OK)
		rc = aes_unwrap(j, kek, cek);
out:
	OPENSSL_cleanse(z, sizeof(z));
	OPENSSL_cleanse(kek, sizeof(kek));
	EVP_PKEY_free(peer);
	j->ctx->host->buf_free(&apu);
	j->ctx->host->buf_free(&apv);
	return rc;
}

/* The software OAEP decryption (the hook's default). */
static int oaep_soft(struct ocikp_ctx *ctx, EVP_PKEY *priv, const char *md,
		     const unsigned char *in, size_t inlen, unsigned char *out, size_t *outlen)
{
	EVP_PKEY_CTX *pc = oaep_ctx(priv, md, 1);
	int rc = OCIKP_OK;

	if (!pc)
		rc = openssl_fail(ctx, "RSA-OAEP set-up");
	else if (EVP_PKEY_decrypt(pc, out, outlen, in, inlen) <= 0)
		rc = OCIKP_WRONG_KEY;
	ERR_clear_error();
	EVP_PKEY_CTX_free(pc);
	return rc;
}

static int cek_rsa(const struct jwe *j, const struct jwe_key *k, unsigned char cek[CEK_LEN])
{
	unsigned char out[RSA_MAX_BYTES];
	size_t n = sizeof(out);
	const char *md = alg_md(j->alg);
	int rc;

	if (!j->ek.len || j->ek.len > sizeof(out))
		return malformed(j, "encrypted_key is not an RSA ciphertext");
	/* well-formed, sealed to an RSA key of another size */
	if (j->ek.len != (size_t)EVP_PKEY_get_size(k->pkey)) {
		ocikp_errorf(j->ctx, "%s is for another key: sealed to a %zu-bit RSA key, this "
			     "one is %d-bit", j->what, j->ek.len * 8, EVP_PKEY_get_bits(k->pkey));
		return OCIKP_WRONG_KEY;
	}
	rc = k->rsa_oaep ? k->rsa_oaep(j->ctx, k->arg, md, j->ek.data, j->ek.len, out, &n)
			 : oaep_soft(j->ctx, k->pkey, md, j->ek.data, j->ek.len, out, &n);
	if (rc == OCIKP_OK && n != CEK_LEN)
		rc = OCIKP_WRONG_KEY;
	if (rc == OCIKP_WRONG_KEY)
		ocikp_errorf(j->ctx, "%s does not open with this key (%s fails): it is for "
			     "another key, or altered", j->what, jwe_alg_name(j->alg));
	else if (rc == OCIKP_OK)
		memcpy(cek, out, CEK_LEN);
	OPENSSL_cleanse(out, sizeof(out));
	return rc;
}

/* ---- opening: the content --------------------------------------------------------- */

/* AES-256-GCM, AAD the protected header's text; the plaintext is appended
 * to plain only when the tag verifies. */
static int gcm_open(const struct jwe *j, const unsigned char cek[CEK_LEN],
		    struct ocikp_buf *plain)
{
	const struct ocikp_host *h = j->ctx->host;
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	struct ocikp_buf tmp = { 0 };
	unsigned char *o = NULL, end[16];
	int n = 0, rc = OCIKP_OK;

	if (!c)
		return openssl_fail(j->ctx, "AES-GCM set-up");
	if (j->ct.len && !(o = h->buf_extend(&tmp, j->ct.len))) {
		rc = OCIKP_INTERNAL;
	} else if (EVP_DecryptInit_ex(c, EVP_aes_256_gcm(), NULL, NULL, NULL) <= 0 ||
		   EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IVLEN, GCM_IV_LEN, NULL) <= 0 ||
		   EVP_DecryptInit_ex(c, NULL, NULL, cek, j->iv.data) <= 0 ||
		   EVP_DecryptUpdate(c, NULL, &n, (const unsigned char *)j->protected,
				     (int)j->protected_len) <= 0 ||
		   (j->ct.len && EVP_DecryptUpdate(c, o, &n, j->ct.data, (int)j->ct.len) <= 0) ||
		   EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, GCM_TAG_LEN, j->tag.data) <= 0) {
		rc = openssl_fail(j->ctx, "AES-GCM");
	} else if (EVP_DecryptFinal_ex(c, end, &n) <= 0) {
		ERR_clear_error();
		ocikp_errorf(j->ctx, "%s does not open: its GCM tag does not verify "
			     "(altered, or for another key)", j->what);
		rc = OCIKP_WRONG_KEY;
	} else if (tmp.len && h->buf_append(plain, tmp.data, tmp.len) != OCIKP_OK) {
		rc = OCIKP_INTERNAL;
	}
	if (tmp.len)
		OPENSSL_cleanse(tmp.data, tmp.len);
	h->buf_free(&tmp);
	EVP_CIPHER_CTX_free(c);
	return rc;
}

int jwe_peek(struct ocikp_ctx *ctx, enum jwe_form form, const char *what, const void *text,
	     size_t len, enum jwe_alg *alg)
{
	struct jwe j = { 0 };
	int rc;

	j.ctx = ctx;
	j.what = what;
	if ((rc = jwe_parse(&j, NULL, form, text, len)) == OCIKP_OK && alg)
		*alg = j.alg;
	jwe_free(&j);
	return rc;
}

int jwe_open(struct ocikp_ctx *ctx, const struct jwe_key *k, enum jwe_form form,
	     unsigned flags, const char *what, const void *text, size_t len,
	     struct ocikp_buf *plain)
{
	struct jwe j = { 0 };
	unsigned char cek[CEK_LEN];
	int rc;

	j.ctx = ctx;
	j.what = what;
	j.flags = flags;
	if ((rc = jwe_parse(&j, k, form, text, len)) == OCIKP_OK) {
		rc = j.alg == JWE_ECDH_ES_A256KW ? cek_ecdh(&j, k, cek) : cek_rsa(&j, k, cek);
		if (rc == OCIKP_OK)
			rc = gcm_open(&j, cek, plain);
	}
	OPENSSL_cleanse(cek, sizeof(cek));
	jwe_free(&j);
	return rc;
}
