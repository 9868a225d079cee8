/*
 * The keychain backend: P-256 ECIES to a key held in the Secret Service (or
 * a key file), the Linux counterpart of ocicrypt-apple-se-keyprovider:
 *
 *   wrap   apple-se://se?mode=encrypt&pub=<base64url 65-byte point>
 *          keychain://TAG?pub=<same>          (TAG selects the stored key)
 *   annot. {"KeyUrl":...,"EphPub":<b64>,"WrappedKey":<b64>,"WrapType":"AES-GCM"}
 *
 * Options: keychain.tag (default se.ocicrypt.default.tag, the Apple
 * provider's), keychain.key_file (PEM, mode 0600, instead of the Secret
 * Service).  Admin: ocikp keychain create|pub|delete [--tag T] [--file F].
 */
#include <stdio.h>
#include <string.h>
#include <openssl/crypto.h>
#include "keychain.h"

/* The stored key's tag for a key URL: keychain://TAG names it; apple-se://
 * uses the configured tag, as the Apple provider uses its default tag. */
static int tag_for(struct ocikp_ctx *ctx, const char *url, char *tag, size_t size)
{
	const char *conf = ocikp_conf(ctx, "tag");
	size_t n;

	if (strncmp(url, "keychain://", 11) == 0) {
		url += 11;
		n = strcspn(url, "?#");
		if (n == 0 || n >= size || strspn(url, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") < n) {
			ocikp_errorf(ctx, "key URL must be keychain://TAG?pub=... (TAG: letters, digits, . _ -)");
			return OCIKP_BAD_INPUT;
		}
		memcpy(tag, url, n);
		tag[n] = '\0';
		return OCIKP_OK;
	}
	if (strncmp(url, "apple-se://", 11) != 0) {
		ocikp_errorf(ctx, "not an apple-se:// or keychain:// key URL");
		return OCIKP_BAD_INPUT;
	}
	snprintf(tag, size, "%s", conf ? conf : DEFAULT_TAG);
	return OCIKP_OK;
}

/* pub= of a key URL: base64url (padded) of a 65-byte point.  NOT_MINE if absent. */
static int url_point(struct ocikp_ctx *ctx, const char *url, unsigned char point[EC_POINT_LEN])
{
	const struct ocikp_host *h = ctx->host;
	struct ocikp_buf text = { 0 }, raw = { 0 };
	int rc = h->url_query_get(ctx, url, "pub", &text);

	if (rc == OCIKP_OK)
		rc = h->b64_decode(ctx, "pub", (char *)text.data, text.len, 1, &raw);
	if (rc == OCIKP_OK && raw.len != EC_POINT_LEN) {
		ocikp_errorf(ctx, "pub: %zu bytes, want the 65-byte uncompressed P-256 point", raw.len);
		rc = OCIKP_BAD_INPUT;
	}
	if (rc == OCIKP_OK)
		memcpy(point, raw.data, EC_POINT_LEN);
	h->buf_free(&text);
	h->buf_free(&raw);
	return rc;
}

static int keychain_wrap(struct ocikp_ctx *ctx, const char *param, const struct ocikp_buf *optsdata,
			 struct ocikp_buf *annotation)
{
	const struct ocikp_host *h = ctx->host;
	unsigned char point[EC_POINT_LEN], eph[EC_POINT_LEN];
	struct ocikp_buf sealed = { 0 }, mode = { 0 };
	char tag[128];
	ocikp_jgen *g;
	int rc = tag_for(ctx, param, tag, sizeof(tag));

	if (rc == OCIKP_OK && h->url_query_get(ctx, param, "mode", &mode) == OCIKP_OK &&
	    strcmp((char *)mode.data, "encrypt") != 0) {
		ocikp_errorf(ctx, "key URL has mode=%.20s; wrapping needs mode=encrypt", mode.data);
		rc = OCIKP_BAD_INPUT;
	}
	h->buf_free(&mode);
	if (rc == OCIKP_OK) {
		rc = url_point(ctx, param, point);
		if (rc == OCIKP_NOT_MINE) {
			ocikp_errorf(ctx, "key URL needs pub=<base64url of the 65-byte P-256 point>");
			rc = OCIKP_BAD_INPUT;
		}
	}
	if (rc == OCIKP_OK)
		rc = ecies_wrap(ctx, point, optsdata, eph, &sealed);
	if (rc == OCIKP_OK) {
		g = h->jgen_new();
		h->jgen_map_open(g);
		h->jgen_key(g, "KeyUrl");
		h->jgen_string(g, param, strlen(param));
		h->jgen_key(g, "EphPub");
		h->jgen_b64(g, eph, sizeof(eph));
		h->jgen_key(g, "WrappedKey");
		h->jgen_b64(g, sealed.data, sealed.len);
		h->jgen_key(g, "WrapType");
		h->jgen_string(g, "AES-GCM", 7);
		h->jgen_map_close(g);
		rc = h->jgen_finish(g, annotation);
	}
	h->buf_free(&sealed);
	return rc;
}

static int keychain_unwrap(struct ocikp_ctx *ctx, const ocikp_json *ann, const char *const *dc,
			   struct ocikp_buf *optsdata)
{
	const struct ocikp_host *h = ctx->host;
	const char *url = h->json_string(h->json_get(ann, "KeyUrl"));
	const ocikp_json *ephj = h->json_get(ann, "EphPub"), *wk = h->json_get(ann, "WrappedKey");
	const char *type = h->json_string(h->json_get(ann, "WrapType"));
	struct ocikp_buf eph = { 0 }, sealed = { 0 };
	unsigned char wrapped_for[EC_POINT_LEN], mine[EC_POINT_LEN];
	void *key = NULL;
	char tag[128];
	int rc;

	(void)dc;	/* apple-se://se?mode=decrypt carries nothing we need */
	if (!url || !h->json_string(ephj) || !h->json_string(wk)) {
		ocikp_errorf(ctx, "annotation: KeyUrl, EphPub and WrappedKey must be strings");
		return OCIKP_BAD_INPUT;
	}
	if (!type || strcmp(type, "AES-GCM") != 0) {
		ocikp_errorf(ctx, "annotation: WrapType must be \"AES-GCM\"");
		return OCIKP_BAD_INPUT;
	}
	rc = tag_for(ctx, url, tag, sizeof(tag));
	if (rc == OCIKP_OK)
		rc = h->b64_decode(ctx, "annotation: EphPub", h->json_string(ephj),
				   h->json_string_len(ephj), 0, &eph);
	if (rc == OCIKP_OK && eph.len != EC_POINT_LEN) {
		ocikp_errorf(ctx, "annotation: EphPub is %zu bytes, want 65", eph.len);
		rc = OCIKP_BAD_INPUT;
	}
	if (rc == OCIKP_OK)
		rc = h->b64_decode(ctx, "annotation: WrappedKey", h->json_string(wk),
				   h->json_string_len(wk), 0, &sealed);
	if (rc == OCIKP_OK)
		rc = key_load(ctx, tag, &key);
	/* Say "not mine" before any decryption when the URL names another key. */
	if (rc == OCIKP_OK && url_point(ctx, url, wrapped_for) == OCIKP_OK &&
	    (ec_public_point(key, mine) != OCIKP_OK || memcmp(mine, wrapped_for, EC_POINT_LEN) != 0)) {
		ocikp_errorf(ctx, "wrapped for a different key than tag '%s' holds", tag);
		rc = OCIKP_NOT_MINE;
	}
	if (rc == OCIKP_OK)
		rc = ecies_unwrap(ctx, key, eph.data, &sealed, optsdata);
	key_free(key);
	h->buf_free(&eph);
	h->buf_free(&sealed);
	return rc;
}

/* Write the raw 65-byte point, as the Apple provider's key tool does. */
static int write_point(struct ocikp_ctx *ctx, const char *path, const unsigned char point[EC_POINT_LEN])
{
	FILE *f = fopen(path, "wbx");
	int ok = f && fwrite(point, 1, EC_POINT_LEN, f) == EC_POINT_LEN;

	if (f && fclose(f) != 0)
		ok = 0;
	if (!ok) {
		ocikp_errorf(ctx, "%s: cannot write the public point (exists?)", path);
		return OCIKP_CONFIG;
	}
	return OCIKP_OK;
}

/* ocikp keychain SUBCOMMAND.  --file: create the key in a key file instead
 * of the Secret Service (pub reads keychain.key_file when it is set). */
static const char keychain_usage[] = "create [--tag T] [--file F] [--pub-out F] | pub [--tag T] [--pub-out F] | delete [--tag T]";

static int keychain_command(struct ocikp_ctx *ctx, int argc, char *const argv[], struct ocikp_buf *out)
{
	const struct ocikp_host *h = ctx->host;
	const char *tag = ocikp_conf(ctx, "tag"), *file = NULL, *pub_out = NULL, *cmd = argv[0];
	unsigned char point[EC_POINT_LEN];
	void *key = NULL;
	int i, rc = OCIKP_OK;

	if (!tag)
		tag = DEFAULT_TAG;
	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--tag") && i + 1 < argc)
			tag = argv[++i];
		else if (!strcmp(argv[i], "--file") && i + 1 < argc && !strcmp(cmd, "create"))
			file = argv[++i];
		else if (!strcmp(argv[i], "--pub-out") && i + 1 < argc && strcmp(cmd, "delete"))
			pub_out = argv[++i];
		else
			break;
	}
	if (i < argc || (strcmp(cmd, "create") && strcmp(cmd, "pub") && strcmp(cmd, "delete"))) {
		ocikp_errorf(ctx, "usage: ocikp keychain %s", keychain_usage);
		return OCIKP_BAD_INPUT;
	}
	if (!strcmp(cmd, "delete")) {
		rc = key_delete(ctx, tag);
		if (rc == OCIKP_OK)
			rc = h->buf_append(out, "deleted\n", 8);
		return rc;
	}
	rc = !strcmp(cmd, "create") ? key_create(ctx, tag, file, &key) : key_load(ctx, tag, &key);
	if (rc == OCIKP_OK)
		rc = ec_public_point(key, point);
	if (rc == OCIKP_OK && pub_out)
		rc = write_point(ctx, pub_out, point);
	if (rc == OCIKP_OK) {
		h->buf_append(out, "pub=", 4);
		h->b64_encode(point, sizeof(point), 1, out);
		h->buf_append(out, "\nkey URL: apple-se://se?mode=encrypt&pub=", 41);
		h->b64_encode(point, sizeof(point), 1, out);
		h->buf_append(out, "\nkey URL: keychain://", 21);
		h->buf_append(out, tag, strlen(tag));
		h->buf_append(out, "?pub=", 5);
		h->b64_encode(point, sizeof(point), 1, out);
		rc = h->buf_append(out, "\n", 1);
	}
	key_free(key);
	return rc;
}

static const char *const keychain_schemes[] = { "keychain", "apple-se", NULL };

OCIKP_EXPORT const struct ocikp_backend ocikp_backend_v1 = {
	.abi = OCIKP_BACKEND_ABI,
	.size = sizeof(struct ocikp_backend),
	.name = "keychain",
	.version = PACKAGE_VERSION,
	.schemes = keychain_schemes,
	.wrap = keychain_wrap,
	.unwrap = keychain_unwrap,
	.command = keychain_command,
	.command_usage = keychain_usage,
};
