/*
 * The sample backend: the reference for backend authors, and the embedded
 * default that needs no hardware.
 *
 * Wrap seals ocicrypt's optsdata with AES-256-GCM under a 32-byte key read
 * from the file named by the drop-in option `sample.key_file`:
 *
 *   {"key_url":"sample://<name>","wrapped_key":"<b64 nonce‖ct‖tag>","wrap_type":"AES"}
 *
 * (the format of lumjjb/simple-ocicrypt-keyprovider, SPEC.md §3).  `<name>`
 * must equal `sample.key_name` (default "default"), so a machine holding a
 * different sample key says "not mine" instead of "wrong key".
 *
 * Everything a backend needs beyond its own trade comes from ctx->host:
 * errors, options, buffers that cleanse, base64, JSON.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include "ocikp/backend.h"

#define KEY_LEN 32
#define NAME_MAX_LEN 64

/* "sample://NAME" -> NAME, checked: letters, digits, '.', '_', '-'. */
static int parse_url(struct ocikp_ctx *ctx, const char *url, char name[NAME_MAX_LEN + 1])
{
	const char *p = strstr(url, "://");
	size_t n;

	if (!p) {
		ocikp_errorf(ctx, "not a sample:// key URL");
		return OCIKP_BAD_INPUT;
	}
	p += 3;
	n = strspn(p, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-");
	if (n == 0 || n > NAME_MAX_LEN || p[n] != '\0') {
		ocikp_errorf(ctx, "key URL must be sample://NAME (NAME: letters, digits, . _ -)");
		return OCIKP_BAD_INPUT;
	}
	memcpy(name, p, n);
	name[n] = '\0';
	return OCIKP_OK;
}

static const char *key_name(struct ocikp_ctx *ctx)
{
	const char *name = ocikp_conf(ctx, "key_name");

	return name ? name : "default";
}

/* Read the key file through the host's one policy for secrets (a private
 * regular file of root's or the caller's, not a symlink): exactly 32 bytes. */
static int load_key(struct ocikp_ctx *ctx, unsigned char key[KEY_LEN])
{
	const struct ocikp_host *h = ctx->host;
	const char *path = ocikp_conf(ctx, "key_file");
	struct ocikp_buf buf = { 0 };
	int rc;

	if (!path) {
		ocikp_errorf(ctx, "no key file: set sample.key_file in a drop-in "
			     "(make one with: ocikp sample keygen FILE)");
		return OCIKP_CONFIG;
	}
	if (!OCIKP_HOST_HAS(h, read_private_file)) {
		ocikp_errorf(ctx, "this ocikp is too old for the sample backend (no read_private_file)");
		return OCIKP_CONFIG;
	}
	rc = h->read_private_file(ctx, "key file", path, KEY_LEN, &buf);
	if (rc == OCIKP_OK && buf.len != KEY_LEN) {
		ocikp_errorf(ctx, "key file %s: must hold exactly %d bytes", path, KEY_LEN);
		rc = OCIKP_CONFIG;
	}
	if (rc == OCIKP_OK)
		memcpy(key, buf.data, KEY_LEN);
	h->buf_free(&buf);
	return rc;
}

static int sample_wrap(struct ocikp_ctx *ctx, const char *param,
		       const struct ocikp_buf *optsdata, struct ocikp_buf *annotation)
{
	const struct ocikp_host *h = ctx->host;
	unsigned char key[KEY_LEN];
	char name[NAME_MAX_LEN + 1];
	struct ocikp_buf sealed = { 0 };
	ocikp_jgen *g;
	int rc;

	rc = parse_url(ctx, param, name);
	if (rc != OCIKP_OK)
		return rc;
	if (strcmp(name, key_name(ctx)) != 0) {
		ocikp_errorf(ctx, "no sample key named '%s' here (this machine has '%s')",
			     name, key_name(ctx));
		return OCIKP_BAD_INPUT;
	}
	rc = load_key(ctx, key);
	if (rc == OCIKP_OK)
		rc = h->aes256gcm_seal(ctx, key, optsdata->data, optsdata->len, &sealed);
	OPENSSL_cleanse(key, sizeof(key));
	if (rc == OCIKP_OK) {
		g = h->jgen_new();
		h->jgen_map_open(g);
		h->jgen_key(g, "key_url");
		h->jgen_string(g, param, strlen(param));
		h->jgen_key(g, "wrapped_key");
		h->jgen_b64(g, sealed.data, sealed.len);
		h->jgen_key(g, "wrap_type");
		h->jgen_string(g, "AES", 3);
		h->jgen_map_close(g);
		rc = h->jgen_finish(g, annotation);
	}
	h->buf_free(&sealed);
	return rc;
}

static int sample_unwrap(struct ocikp_ctx *ctx, const ocikp_json *ann,
			 const char *const *dc_params, struct ocikp_buf *optsdata)
{
	const struct ocikp_host *h = ctx->host;
	const ocikp_json *url = h->json_get(ann, "key_url"), *wk = h->json_get(ann, "wrapped_key");
	const char *type = h->json_string(h->json_get(ann, "wrap_type"));
	unsigned char key[KEY_LEN];
	char name[NAME_MAX_LEN + 1];
	struct ocikp_buf sealed = { 0 };
	int rc;

	(void)dc_params;	/* the key comes from the drop-in, not from ocicrypt */
	if (!h->json_string(url) || !h->json_string(wk)) {
		ocikp_errorf(ctx, "annotation: key_url and wrapped_key must be strings");
		return OCIKP_BAD_INPUT;
	}
	if (!type || strcmp(type, "AES") != 0) {
		ocikp_errorf(ctx, "annotation: wrap_type must be \"AES\"");
		return OCIKP_BAD_INPUT;
	}
	rc = parse_url(ctx, h->json_string(url), name);
	if (rc != OCIKP_OK)
		return rc;
	if (strcmp(name, key_name(ctx)) != 0) {
		ocikp_errorf(ctx, "wrapped for sample key '%s', this machine has '%s'",
			     name, key_name(ctx));
		return OCIKP_NOT_MINE;
	}
	rc = h->b64_decode(ctx, "annotation: wrapped_key", h->json_string(wk),
			   h->json_string_len(wk), 0, &sealed);
	if (rc == OCIKP_OK)
		rc = load_key(ctx, key);
	if (rc == OCIKP_OK) {
		rc = h->aes256gcm_open(ctx, key, sealed.data, sealed.len, optsdata);
		if (rc == OCIKP_WRONG_KEY)
			ocikp_errorf(ctx, "wrong key: sample key '%s' does not open this layer key",
				     name);
	}
	OPENSSL_cleanse(key, sizeof(key));
	h->buf_free(&sealed);
	return rc;
}

/* ocikp sample keygen FILE: 32 random bytes, mode 0600, never overwriting. */
static int sample_command(struct ocikp_ctx *ctx, int argc, char *const argv[],
			  struct ocikp_buf *out)
{
	unsigned char key[KEY_LEN];
	int fd, rc = OCIKP_INTERNAL;
	char msg[512];

	if (strcmp(argv[0], "keygen") != 0 || argc != 2) {
		ocikp_errorf(ctx, "usage: ocikp sample keygen FILE");
		return OCIKP_BAD_INPUT;
	}
	fd = open(argv[1], O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		ocikp_errorf(ctx, "%s: %s", argv[1], strerror(errno));
		return OCIKP_CONFIG;
	}
	if (RAND_bytes(key, KEY_LEN) != 1) {
		ocikp_errorf(ctx, "no randomness for a key");
	} else if (write(fd, key, KEY_LEN) != KEY_LEN || fsync(fd) != 0) {
		ocikp_errorf(ctx, "%s: %s", argv[1], strerror(errno));
	} else {
		snprintf(msg, sizeof(msg), "wrote a %d-byte key to %s (mode 0600)\n", KEY_LEN, argv[1]);
		rc = ctx->host->buf_append(out, msg, strlen(msg));
	}
	OPENSSL_cleanse(key, sizeof(key));
	close(fd);
	if (rc != OCIKP_OK)
		unlink(argv[1]);
	return rc;
}

static const char *const sample_schemes[] = { "sample", NULL };

OCIKP_EXPORT const struct ocikp_backend ocikp_backend_v1 = {
	.abi = OCIKP_BACKEND_ABI,
	.size = sizeof(struct ocikp_backend),
	.name = "sample",
	.version = PACKAGE_VERSION,
	.schemes = sample_schemes,
	.wrap = sample_wrap,
	.unwrap = sample_unwrap,
	.command = sample_command,
	.command_usage = "keygen FILE",
	.flags = OCIKP_BACKEND_CONCURRENT,	/* no state between calls */
};
