/*
 * The tpm backend: layer keys sealed to a TPM's endorsement key, optionally
 * bound to PCR values, byte-compatible with ocicrypt-tpm-keyprovider v1.0.0:
 *
 *   wrap   tpm://ek?mode=encrypt&pub=<b64 EK PEM>[&pcrs=<b64 "IDX=hex,...">]
 *   annot. {"key_url":...,"session_key":<b64 ImportBlob>,"wrapped_key":<b64>,"wrap_type":"AES"}
 *
 * Wrap needs only the EK public key; unwrap needs that TPM.  Options:
 * tpm.tcti (default device:/dev/tpmrm0; only device:, swtpm:, mssim:,
 * tabrmd:, see tpm-tcti.c), tpm.tpm_path (--tpmPath=: a device or a swtpm
 * unix socket), tpm.verify_ek_ca (refuse EK certificates not issued under
 * this CA).
 */
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include "tpm.h"

static int tpm_wrap(struct ocikp_ctx *ctx, const char *param, const struct ocikp_buf *optsdata,
		    struct ocikp_buf *annotation)
{
	const struct ocikp_host *h = ctx->host;
	struct ocikp_buf pub_b64 = { 0 }, pub = { 0 }, pcrs_b64 = { 0 }, pcrs = { 0 };
	struct ocikp_buf mode = { 0 }, session_key = { 0 }, sealed = { 0 };
	struct import_blob blob;
	unsigned char key[TPM_KEY_LEN];
	void *ek = NULL;
	ocikp_jgen *g;
	int rc;

	memset(&blob, 0, sizeof(blob));
	if (strncmp(param, "tpm://", 6) != 0) {
		ocikp_errorf(ctx, "not a tpm:// key URL");
		return OCIKP_BAD_INPUT;
	}
	rc = h->url_query_get(ctx, param, "mode", &mode);
	if (rc == OCIKP_OK && strcmp((char *)mode.data, "encrypt") != 0) {
		ocikp_errorf(ctx, "key URL has mode=%.20s; wrapping needs mode=encrypt", mode.data);
		rc = OCIKP_BAD_INPUT;
	} else if (rc == OCIKP_NOT_MINE) {
		rc = OCIKP_OK;
	}
	if (rc == OCIKP_OK) {
		rc = h->url_query_get(ctx, param, "pub", &pub_b64);
		if (rc == OCIKP_NOT_MINE) {
			ocikp_errorf(ctx, "key URL needs pub=<base64 of the EK public key PEM>");
			rc = OCIKP_BAD_INPUT;
		}
	}
	if (rc == OCIKP_OK)
		rc = h->b64_decode(ctx, "pub", (char *)pub_b64.data, pub_b64.len, 0, &pub);
	if (rc == OCIKP_OK) {
		rc = h->url_query_get(ctx, param, "pcrs", &pcrs_b64);
		if (rc == OCIKP_OK)
			rc = h->b64_decode(ctx, "pcrs", (char *)pcrs_b64.data, pcrs_b64.len, 0, &pcrs);
		/* An empty pcrs= must not quietly mean "no PCR policy" (found by
		 * fuzz/tpm_url as a NULL string). */
		if (rc == OCIKP_OK && pcrs.len == 0) {
			ocikp_errorf(ctx, "pcrs: empty; give IDX=hex[,IDX=hex...] or leave pcrs= out");
			rc = OCIKP_BAD_INPUT;
		}
		if (rc == OCIKP_OK)
			rc = pcrs_parse(ctx, (char *)pcrs.data, &blob);
		else if (rc == OCIKP_NOT_MINE)
			rc = OCIKP_OK;	/* no PCR policy */
	}
	if (rc == OCIKP_OK)
		rc = ek_load_public(ctx, pub.data, pub.len, &ek);
	if (rc == OCIKP_OK && RAND_bytes(key, sizeof(key)) != 1) {
		ocikp_errorf(ctx, "no randomness for a key");
		rc = OCIKP_INTERNAL;
	}
	if (rc == OCIKP_OK)
		rc = duplicate_to_ek(ctx, ek, key, &blob);
	if (rc == OCIKP_OK)
		rc = blob_encode(ctx, &blob, &session_key);
	/* Wrap needs only the EK public key: say so, for whoever wonders why
	 * no TPM was touched. */
	if (rc == OCIKP_OK)
		ocikp_debugf(ctx, "wrap: sealed to the %s EK, %d PCRs in the policy, 0 TPM commands",
			     blob.encrypted_seed.len == 68 ? "ECC" : "RSA",
			     __builtin_popcount(blob.pcr_mask));
	if (rc == OCIKP_OK)
		rc = h->aes256gcm_seal(ctx, key, optsdata->data, optsdata->len, &sealed);
	if (rc == OCIKP_OK) {
		g = h->jgen_new();
		h->jgen_map_open(g);
		h->jgen_key(g, "key_url");
		h->jgen_string(g, param, strlen(param));
		h->jgen_key(g, "session_key");
		h->jgen_b64(g, session_key.data, session_key.len);
		h->jgen_key(g, "wrapped_key");
		h->jgen_b64(g, sealed.data, sealed.len);
		h->jgen_key(g, "wrap_type");
		h->jgen_string(g, "AES", 3);
		h->jgen_map_close(g);
		rc = h->jgen_finish(g, annotation);
	}
	OPENSSL_cleanse(key, sizeof(key));
	ek_free(ek);
	blob_free(ctx, &blob);
	h->buf_free(&mode);
	h->buf_free(&pub_b64);
	h->buf_free(&pub);
	h->buf_free(&pcrs_b64);
	h->buf_free(&pcrs);
	h->buf_free(&session_key);
	h->buf_free(&sealed);
	return rc;
}

/* The annotation's fields, decoded and checked, before the TPM is asked
 * anything: the import blob from session_key, the sealed layer key from
 * wrapped_key.  On failure nothing is left to free. */
int tpm_annotation_parse(struct ocikp_ctx *ctx, const ocikp_json *ann, struct import_blob *blob,
			 struct ocikp_buf *sealed)
{
	const struct ocikp_host *h = ctx->host;
	const ocikp_json *sk = h->json_get(ann, "session_key"), *wk = h->json_get(ann, "wrapped_key");
	const char *type = h->json_string(h->json_get(ann, "wrap_type"));
	struct ocikp_buf session_key = { 0 };
	int rc;

	memset(blob, 0, sizeof(*blob));
	if (!h->json_string(sk) || !h->json_string(wk)) {
		ocikp_errorf(ctx, "annotation: session_key and wrapped_key must be strings");
		return OCIKP_BAD_INPUT;
	}
	if (!type || strcmp(type, "AES") != 0) {
		ocikp_errorf(ctx, "annotation: wrap_type must be \"AES\"");
		return OCIKP_BAD_INPUT;
	}
	rc = h->b64_decode(ctx, "annotation: session_key", h->json_string(sk),
			   h->json_string_len(sk), 0, &session_key);
	if (rc == OCIKP_OK)
		rc = h->b64_decode(ctx, "annotation: wrapped_key", h->json_string(wk),
				   h->json_string_len(wk), 0, sealed);
	if (rc == OCIKP_OK)
		rc = blob_decode(ctx, session_key.data, session_key.len, blob);
	h->buf_free(&session_key);
	if (rc != OCIKP_OK)
		h->buf_free(sealed);
	return rc;
}

static int tpm_unwrap(struct ocikp_ctx *ctx, const ocikp_json *ann, const char *const *dc_params,
		      struct ocikp_buf *optsdata)
{
	const struct ocikp_host *h = ctx->host;
	struct ocikp_buf sealed = { 0 };
	struct import_blob blob;
	unsigned char key[TPM_KEY_LEN];
	int rc;

	(void)dc_params;	/* tpm://ek?mode=decrypt carries nothing we need */
	rc = tpm_annotation_parse(ctx, ann, &blob, &sealed);
	if (rc != OCIKP_OK)
		return rc;
	rc = tpm_unseal(ctx, &blob, key);
	if (rc == OCIKP_OK) {
		rc = h->aes256gcm_open(ctx, key, sealed.data, sealed.len, optsdata);
		if (rc == OCIKP_WRONG_KEY)
			ocikp_errorf(ctx, "wrapped_key does not open with the unsealed key (corrupted)");
	}
	OPENSSL_cleanse(key, sizeof(key));
	blob_free(ctx, &blob);
	h->buf_free(&sealed);
	return rc;
}

/* "0,7,23" -> mask */
static int parse_index_list(struct ocikp_ctx *ctx, const char *s, uint32_t *mask)
{
	char *end;

	*mask = 0;
	while (*s) {
		long i = strtol(s, &end, 10);
		if (end == s || i < 0 || i >= TPM_MAX_PCRS || (*end && *end != ',')) {
			ocikp_errorf(ctx, "--pcrs: expected PCR indexes 0-23, comma separated");
			return OCIKP_BAD_INPUT;
		}
		*mask |= 1u << i;
		s = *end ? end + 1 : end;
	}
	return OCIKP_OK;
}

/* Standard base64 with '+' written %2B, so Go's url.ParseQuery (the other
 * provider) reads it too. */
static int append_query_b64(struct ocikp_ctx *ctx, const void *data, size_t len,
			    struct ocikp_buf *out)
{
	struct ocikp_buf b = { 0 };
	size_t i;
	int rc = ctx->host->b64_encode(data, len, 0, &b);

	for (i = 0; rc == OCIKP_OK && i < b.len; i++)
		rc = b.data[i] == '+' ? ctx->host->buf_append(out, "%2B", 3)
				      : ctx->host->buf_append(out, &b.data[i], 1);
	ctx->host->buf_free(&b);
	return rc;
}

/* ocikp tpm ekpub [--ecc] [--pcrs 0,7]: what a user pastes into pub= and pcrs=. */
static int tpm_command(struct ocikp_ctx *ctx, int argc, char *const argv[], struct ocikp_buf *out)
{
	const struct ocikp_host *h = ctx->host;
	struct ocikp_buf pem = { 0 }, pcrs = { 0 };
	bool ecc = false;
	uint32_t mask = 0;
	int i, rc = OCIKP_OK;

	if (strcmp(argv[0], "ekpub") != 0) {
		ocikp_errorf(ctx, "usage: ocikp tpm ekpub [--ecc] [--pcrs 0,7,...]");
		return OCIKP_BAD_INPUT;
	}
	for (i = 1; rc == OCIKP_OK && i < argc; i++) {
		if (!strcmp(argv[i], "--ecc"))
			ecc = true;
		else if (!strcmp(argv[i], "--pcrs") && i + 1 < argc)
			rc = parse_index_list(ctx, argv[++i], &mask);
		else {
			ocikp_errorf(ctx, "usage: ocikp tpm ekpub [--ecc] [--pcrs 0,7,...]");
			rc = OCIKP_BAD_INPUT;
		}
	}
	if (rc == OCIKP_OK)
		rc = tpm_ekpub(ctx, ecc, &pem);
	if (rc == OCIKP_OK && mask)
		rc = tpm_read_pcrs(ctx, mask, &pcrs);
	if (rc == OCIKP_OK) {
		h->buf_append(out, pem.data, pem.len);
		h->buf_append(out, "pub=", 4);
		append_query_b64(ctx, pem.data, pem.len, out);
		if (mask) {
			h->buf_append(out, "\npcrs text: ", 12);
			h->buf_append(out, pcrs.data, pcrs.len);
			h->buf_append(out, "\npcrs=", 6);
			append_query_b64(ctx, pcrs.data, pcrs.len, out);
		}
		h->buf_append(out, "\nkey URL: tpm://ek?mode=encrypt&pub=", 36);
		append_query_b64(ctx, pem.data, pem.len, out);
		if (mask) {
			h->buf_append(out, "&pcrs=", 6);
			append_query_b64(ctx, pcrs.data, pcrs.len, out);
		}
		rc = h->buf_append(out, "\n", 1);
	}
	h->buf_free(&pem);
	h->buf_free(&pcrs);
	return rc;
}

static int tpm_init(struct ocikp_ctx *ctx)
{
	return tpm_state_new(ctx);
}

static void tpm_fini(struct ocikp_ctx *ctx)
{
	tpm_state_free(ctx);
	ctx->backend_data = NULL;
}

static const char *const tpm_schemes[] = { "tpm", NULL };

OCIKP_EXPORT const struct ocikp_backend ocikp_backend_v1 = {
	.abi = OCIKP_BACKEND_ABI,
	.size = sizeof(struct ocikp_backend),
	.name = "tpm",
	.version = PACKAGE_VERSION,
	.schemes = tpm_schemes,
	.init = tpm_init,
	.wrap = tpm_wrap,
	.unwrap = tpm_unwrap,
	.command = tpm_command,
	.command_usage = "ekpub [--ecc] [--pcrs 0,7,...]",
	.fini = tpm_fini,
};
