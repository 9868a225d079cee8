/*
 * The vault backend: HashiCorp Vault / OpenBao Transit wraps the layer key.
 *
 *   key URL  vault://MOUNT/keys/NAME   or   vault:///MOUNT/NAME
 *            (MOUNT the Transit mount path, which may hold '/')
 *   annot.   {"key_url":URL,"wrapped_key":"vault:vN:<base64>"}
 *
 * The ciphertext is Vault's own, verbatim: `vault write MOUNT/decrypt/NAME
 * ciphertext=...` opens it, and after a rotation the old versions still
 * decrypt.  Options: see 50-vault.conf and vault-opts.c.
 */
#include <stdlib.h>
#include <string.h>
#include "vault.h"

#define SCHEME "vault://"
#define SCHEME_LEN 8
#define SEG_CHARS "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-."

/* A path of segments of SEG_CHARS, none empty, "." or "..": nothing that
 * could change the API path it is pasted into. */
static int path_ok(const char *s, size_t n)
{
	size_t seg;

	if (n == 0 || n >= VAULT_PATH_MAX)
		return 0;
	for (;;) {
		seg = strspn(s, SEG_CHARS);
		if (seg > n)
			seg = n;
		if (seg == 0 || (seg == 1 && s[0] == '.') || (seg == 2 && !strncmp(s, "..", 2)))
			return 0;
		if (seg == n)
			return 1;
		if (s[seg] != '/')
			return 0;
		s += seg + 1;
		n -= seg + 1;
	}
}

static int parse_key_url(struct ocikp_ctx *ctx, const char *url, struct vault_key *k)
{
	const char *p, *end, *name;

	if (!url || strncmp(url, SCHEME, SCHEME_LEN) != 0)
		goto bad;
	p = url + SCHEME_LEN;
	if (*p == '/') {
		p++;	/* vault:///MOUNT/NAME: the last segment names the key */
		end = strrchr(p, '/');
		name = end ? end + 1 : NULL;
	} else {
		end = strstr(p, "/keys/");	/* vault://MOUNT/keys/NAME */
		name = end ? end + 6 : NULL;
	}
	if (!end || !path_ok(p, (size_t)(end - p)) || strchr(name, '/') || !path_ok(name, strlen(name)))
		goto bad;
	memcpy(k->mount, p, (size_t)(end - p));
	k->mount[end - p] = '\0';
	strcpy(k->name, name);
	return OCIKP_OK;
bad:
	ocikp_errorf(ctx, "key URL must be vault://MOUNT/keys/NAME or vault:///MOUNT/NAME");
	return OCIKP_BAD_INPUT;
}

static int vault_wrap(struct ocikp_ctx *ctx, const char *param, const struct ocikp_buf *optsdata,
		      struct ocikp_buf *annotation)
{
	const struct ocikp_host *h = ctx->host;
	struct ocikp_buf cipher = { 0 };
	struct vault_opts o;
	struct vault_key k;
	ocikp_jgen *g;
	int rc = parse_key_url(ctx, param, &k);

	if (rc == OCIKP_OK)
		rc = vault_opts_load(ctx, &o);
	if (rc == OCIKP_OK)
		rc = vault_encrypt(ctx, &o, &k, optsdata, &cipher);
	if (rc == OCIKP_OK) {
		g = h->jgen_new();
		h->jgen_map_open(g);
		h->jgen_key(g, "key_url");
		h->jgen_string(g, param, strlen(param));
		h->jgen_key(g, "wrapped_key");
		h->jgen_string(g, (const char *)cipher.data, cipher.len);
		h->jgen_map_close(g);
		rc = h->jgen_finish(g, annotation);
	}
	h->buf_free(&cipher);
	return rc;
}

/*
 * A vault decrypt parameter, if any, must name the annotation's key (either
 * URL form); with none, the annotation's key is used and Vault's policy
 * decides whether this token may decrypt with it.
 */
static int check_dc(struct ocikp_ctx *ctx, const char *ann_url, const struct vault_key *ann,
		    const char *const *dc)
{
	struct vault_key k;
	size_t i;

	if (!dc || !dc[0]) {
		ocikp_debugf(ctx, "no vault decrypt parameter: using the annotation's key");
		return OCIKP_OK;
	}
	for (i = 0; dc[i]; i++) {
		if (parse_key_url(ctx, dc[i], &k) != OCIKP_OK)
			return OCIKP_BAD_INPUT;
		if (!strcmp(k.mount, ann->mount) && !strcmp(k.name, ann->name))
			return OCIKP_OK;
	}
	ocikp_errorf(ctx, "wrapped with %.300s, but the decrypt parameter names %.300s", ann_url, dc[0]);
	return OCIKP_WRONG_KEY;
}

static int vault_unwrap(struct ocikp_ctx *ctx, const ocikp_json *ann, const char *const *dc,
			struct ocikp_buf *optsdata)
{
	const struct ocikp_host *h = ctx->host;
	const char *url = h->json_string(h->json_get(ann, "key_url"));
	const ocikp_json *wk = h->json_get(ann, "wrapped_key");
	const char *ct = h->json_string(wk);
	struct vault_opts o;
	struct vault_key k;
	int rc;

	if (!url || !ct) {
		ocikp_errorf(ctx, "annotation: key_url and wrapped_key must be strings");
		return OCIKP_BAD_INPUT;
	}
	if (strlen(ct) != h->json_string_len(wk) || !vault_ciphertext_ok(ct, strlen(ct))) {
		ocikp_errorf(ctx, "annotation: wrapped_key must be a Transit ciphertext vault:vN:<base64>");
		return OCIKP_BAD_INPUT;
	}
	rc = parse_key_url(ctx, url, &k);
	if (rc == OCIKP_OK)
		rc = check_dc(ctx, url, &k, dc);
	if (rc == OCIKP_OK)
		rc = vault_opts_load(ctx, &o);
	if (rc == OCIKP_OK)
		rc = vault_decrypt(ctx, &o, &k, ct, optsdata);
	return rc;
}

/* The state lives as long as the module (one exec, or one ocikpd
 * configuration): kept connections and the login token. */
static int vault_init(struct ocikp_ctx *ctx)
{
	http_env_scrub();	/* before libcurl could start: no TLS key log */
	return vault_state_new(ctx);
}

static void vault_fini(struct ocikp_ctx *ctx)
{
	vault_state_free(ctx);
	http_global_cleanup();
}

static const char *const vault_schemes[] = { "vault", NULL };

OCIKP_EXPORT const struct ocikp_backend ocikp_backend_v1 = {
	.abi = OCIKP_BACKEND_ABI,
	.size = sizeof(struct ocikp_backend),
	.name = "vault",
	.version = PACKAGE_VERSION,
	.schemes = vault_schemes,
	.init = vault_init,
	.wrap = vault_wrap,
	.unwrap = vault_unwrap,
	.fini = vault_fini,
};
