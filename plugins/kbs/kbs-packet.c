/*
 * CoCo annotation packets (SPEC.md §5; guest-components
 * confidential-data-hub/hub/src/image/annotation_packet/{v1,v2}.rs):
 *
 *   v1  {"kid","wrapped_data","iv","wrap_type"}            (what we write)
 *   v2  v1 + "version":"0.1.0", "provider":"kbs", "provider_settings", "annotations"
 *
 * A256GCM: wrapped_data = ciphertext ‖ 16-byte tag, 12-byte iv, no AAD.
 * A256CTR: wrapped_data = ciphertext, 16-byte iv used as the whole 128-bit
 * big-endian counter block (the guest's Ctr128BE / OpenSSL aes-256-ctr).
 */
#include <string.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include "kbs.h"

#define GCM_IV_LEN 12
#define GCM_TAG_LEN 16
#define CTR_IV_LEN 16
#define MIN_OPTSDATA 2	/* "{}" */

static const char *alg_name(enum kbs_alg alg)
{
	return alg == KBS_A256CTR ? "A256CTR" : "A256GCM";
}

/* AES-256-CTR both ways (the same operation).  Appends to out. */
static int aes_ctr(struct ocikp_ctx *ctx, const unsigned char kek[KBS_KEK_LEN],
		   const unsigned char iv[CTR_IV_LEN], const unsigned char *in, size_t len,
		   struct ocikp_buf *out)
{
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	unsigned char *p;
	int n = 0, fin = 0, rc = OCIKP_INTERNAL;

	if (len > 0x7fffffff)
		goto out;
	p = ctx->host->buf_extend(out, len);
	if (!c || !p)
		goto out;
	if (EVP_EncryptInit_ex(c, EVP_aes_256_ctr(), NULL, kek, iv) == 1 &&
	    EVP_EncryptUpdate(c, p, &n, in, (int)len) == 1 &&
	    EVP_EncryptFinal_ex(c, p + n, &fin) == 1 && (size_t)(n + fin) == len)
		rc = OCIKP_OK;
out:
	if (rc != OCIKP_OK)
		ocikp_errorf(ctx, "AES-256-CTR failed");
	ERR_clear_error();
	EVP_CIPHER_CTX_free(c);
	return rc;
}

/* Seal: wrapped and iv filled. */
static int seal(struct ocikp_ctx *ctx, const unsigned char kek[KBS_KEK_LEN], enum kbs_alg alg,
		const struct ocikp_buf *optsdata, struct ocikp_buf *wrapped, struct ocikp_buf *iv)
{
	const struct ocikp_host *h = ctx->host;
	struct ocikp_buf sealed = { 0 };
	unsigned char ctr_iv[CTR_IV_LEN];
	int rc;

	if (alg == KBS_A256CTR) {
		if (RAND_bytes(ctr_iv, sizeof(ctr_iv)) != 1) {
			ocikp_errorf(ctx, "no random bytes for the IV");
			return OCIKP_INTERNAL;
		}
		rc = h->buf_append(iv, ctr_iv, sizeof(ctr_iv));
		if (rc == OCIKP_OK)
			rc = aes_ctr(ctx, kek, ctr_iv, optsdata->data, optsdata->len, wrapped);
		return rc;
	}
	/* The host's layout is nonce(12) ‖ ciphertext ‖ tag(16): CoCo's
	 * splits the nonce off into "iv". */
	rc = h->aes256gcm_seal(ctx, kek, optsdata->data, optsdata->len, &sealed);
	if (rc == OCIKP_OK && sealed.len < GCM_IV_LEN + GCM_TAG_LEN)
		rc = OCIKP_INTERNAL;
	if (rc == OCIKP_OK)
		rc = h->buf_append(iv, sealed.data, GCM_IV_LEN);
	if (rc == OCIKP_OK)
		rc = h->buf_append(wrapped, sealed.data + GCM_IV_LEN, sealed.len - GCM_IV_LEN);
	h->buf_free(&sealed);
	return rc;
}

int kbs_packet_wrap(struct ocikp_ctx *ctx, const unsigned char kek[KBS_KEK_LEN], const char *kid,
		    enum kbs_alg alg, const struct ocikp_buf *optsdata, struct ocikp_buf *out)
{
	const struct ocikp_host *h = ctx->host;
	struct ocikp_buf wrapped = { 0 }, iv = { 0 };
	const char *type = alg_name(alg);
	ocikp_jgen *g;
	int rc = seal(ctx, kek, alg, optsdata, &wrapped, &iv);

	if (rc == OCIKP_OK) {
		/* serde's order and compact form, so the bytes match upstream's. */
		g = h->jgen_new();
		h->jgen_map_open(g);
		h->jgen_key(g, "kid");
		h->jgen_string(g, kid, strlen(kid));
		h->jgen_key(g, "wrapped_data");
		h->jgen_b64(g, wrapped.data, wrapped.len);
		h->jgen_key(g, "iv");
		h->jgen_b64(g, iv.data, iv.len);
		h->jgen_key(g, "wrap_type");
		h->jgen_string(g, type, strlen(type));
		h->jgen_map_close(g);
		rc = h->jgen_finish(g, out);
	}
	h->buf_free(&wrapped);
	h->buf_free(&iv);
	return rc;
}

/* The shortest wrapped_data worth opening: ocicrypt's optsdata is a JSON
 * object, at least "{}", sealed (GCM adds its tag). */
static size_t min_wrapped(enum kbs_alg alg)
{
	return MIN_OPTSDATA + (alg == KBS_A256GCM ? GCM_TAG_LEN : 0);
}

/* A string member; NULL with an error if absent or of another type. */
static const char *need_string(struct ocikp_ctx *ctx, const ocikp_json *ann, const char *key)
{
	const char *s = ctx->host->json_string(ctx->host->json_get(ann, key));

	if (!s)
		ocikp_errorf(ctx, "kbs annotation: %s must be a string", key);
	return s;
}

/* v2's extra members: absent takes the default, present must have its
 * type (serde rejects null for a field with a default). */
static int v2_fields(struct ocikp_ctx *ctx, const ocikp_json *ann)
{
	const struct ocikp_host *h = ctx->host;
	const ocikp_json *v;
	const char *s;

	v = h->json_get(ann, "version");
	if (h->json_type(v) != OCIKP_JSON_ABSENT) {
		s = h->json_string(v);
		if (!s || strcmp(s, "0.1.0") != 0) {
			ocikp_errorf(ctx, "kbs annotation: version must be \"0.1.0\"");
			return OCIKP_BAD_INPUT;
		}
	}
	v = h->json_get(ann, "provider");
	if (h->json_type(v) != OCIKP_JSON_ABSENT) {
		s = h->json_string(v);
		if (!s) {
			ocikp_errorf(ctx, "kbs annotation: provider must be a string");
			return OCIKP_BAD_INPUT;
		}
		if (strcmp(s, "kbs") != 0 || h->json_string_len(v) != 3) {
			ocikp_errorf(ctx, "kbs annotation: unsupported provider '%.40s'", s);
			return OCIKP_WRONG_KEY;
		}
	}
	if (h->json_type(h->json_get(ann, "provider_settings")) != OCIKP_JSON_ABSENT &&
	    h->json_type(h->json_get(ann, "provider_settings")) != OCIKP_JSON_OBJECT) {
		ocikp_errorf(ctx, "kbs annotation: provider_settings must be an object");
		return OCIKP_BAD_INPUT;
	}
	if (h->json_type(h->json_get(ann, "annotations")) != OCIKP_JSON_ABSENT &&
	    h->json_type(h->json_get(ann, "annotations")) != OCIKP_JSON_OBJECT) {
		ocikp_errorf(ctx, "kbs annotation: annotations must be an object");
		return OCIKP_BAD_INPUT;
	}
	return OCIKP_OK;
}

int kbs_packet_parse(struct ocikp_ctx *ctx, const ocikp_json *ann, struct kbs_packet *p)
{
	const struct ocikp_host *h = ctx->host;
	const char *kid, *wd, *iv, *type;
	size_t want_iv;
	int rc;

	memset(p, 0, sizeof(*p));
	if (h->json_type(ann) != OCIKP_JSON_OBJECT) {
		ocikp_errorf(ctx, "kbs annotation: not a JSON object");
		return OCIKP_BAD_INPUT;
	}
	rc = v2_fields(ctx, ann);
	if (rc != OCIKP_OK)
		return rc;
	if (!(kid = need_string(ctx, ann, "kid")) || !(wd = need_string(ctx, ann, "wrapped_data")) ||
	    !(iv = need_string(ctx, ann, "iv")) || !(type = need_string(ctx, ann, "wrap_type")))
		return OCIKP_BAD_INPUT;
	if (h->json_string_len(h->json_get(ann, "kid")) >= KBS_KID_MAX ||
	    strlen(kid) != h->json_string_len(h->json_get(ann, "kid"))) {
		ocikp_errorf(ctx, "kbs annotation: kid too long or holding a NUL");
		return OCIKP_BAD_INPUT;
	}
	strcpy(p->kid, kid);
	if (strcmp(type, "A256GCM") == 0) {
		p->alg = KBS_A256GCM;
		want_iv = GCM_IV_LEN;
	} else if (strcmp(type, "A256CTR") == 0) {
		p->alg = KBS_A256CTR;
		want_iv = CTR_IV_LEN;
	} else {
		ocikp_errorf(ctx, "kbs annotation: unsupported wrap_type '%.20s' (A256GCM, A256CTR)", type);
		return OCIKP_BAD_INPUT;
	}
	rc = h->b64_decode(ctx, "kbs annotation wrapped_data", wd, strlen(wd), 0, &p->wrapped);
	if (rc == OCIKP_OK)
		rc = h->b64_decode(ctx, "kbs annotation iv", iv, strlen(iv), 0, &p->iv);
	if (rc == OCIKP_OK && p->iv.len != want_iv) {
		ocikp_errorf(ctx, "kbs annotation: a %s iv must be %zu bytes", type, want_iv);
		rc = OCIKP_BAD_INPUT;
	}
	/* Refused here, before any KEK source is asked: a KBS handshake or a
	 * key file read for a packet nothing can open is wasted. */
	if (rc == OCIKP_OK && p->wrapped.len < min_wrapped(p->alg)) {
		ocikp_errorf(ctx, "kbs annotation: wrapped_data too short for %s (%zu bytes, at least "
			     "%zu)", type, p->wrapped.len, min_wrapped(p->alg));
		rc = OCIKP_BAD_INPUT;
	}
	if (rc != OCIKP_OK)
		kbs_packet_free(ctx, p);
	return rc;
}

void kbs_packet_free(struct ocikp_ctx *ctx, struct kbs_packet *p)
{
	ctx->host->buf_free(&p->wrapped);
	ctx->host->buf_free(&p->iv);
}

int kbs_packet_open(struct ocikp_ctx *ctx, const struct kbs_packet *p,
		    const unsigned char kek[KBS_KEK_LEN], struct ocikp_buf *optsdata)
{
	const struct ocikp_host *h = ctx->host;
	struct ocikp_buf sealed = { 0 };
	int rc;

	if (p->alg == KBS_A256CTR)
		return aes_ctr(ctx, kek, p->iv.data, p->wrapped.data, p->wrapped.len, optsdata);
	/* Back into the host's nonce ‖ ciphertext ‖ tag layout. */
	rc = h->buf_append(&sealed, p->iv.data, p->iv.len);
	if (rc == OCIKP_OK)
		rc = h->buf_append(&sealed, p->wrapped.data, p->wrapped.len);
	if (rc == OCIKP_OK)
		rc = h->aes256gcm_open(ctx, kek, sealed.data, sealed.len, optsdata);
	h->buf_free(&sealed);
	return rc;
}
