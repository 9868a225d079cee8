/*
 * The gcpkms backend: Cloud KMS wraps the layer key, in the annotation
 * format of salrashid123/ocicrypt-kms-keyprovider (SPEC.md §3), so images
 * open with either provider:
 *
 *   key URL  gcpkms://projects/P/locations/L/keyRings/R/cryptoKeys/K
 *            (wrap also takes .../cryptoKeyVersions/N to pin a version)
 *   annot.   {"key_url":URL,"wrapped_key":<b64 KMS ciphertext>,"wrap_type":"AES"}
 *
 * Unwrap always decrypts with the cryptoKey (KMS finds the version from the
 * ciphertext).  Options: see 50-gcpkms.conf and gcpkms-opts.c.
 */
#include <string.h>
#include "gcpkms.h"

#define SCHEME "gcpkms://"
#define SCHEME_LEN 9
#define NAME_MAX_LEN 512

/* A resource ID: letters, digits, '_' and '-'; project IDs may also hold
 * '.' and ':' (domain-scoped projects, "example.com:proj").  Nothing that
 * could change the URL the name is pasted into. */
static size_t segment(const char *s, const char *set)
{
	size_t n = strspn(s, set);

	return n > 0 && n <= 100 && (s[n] == '/' || s[n] == '\0') ? n : 0;
}

#define ID_CHARS "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-"

/*
 * Check a key URL and copy its resource name (without the scheme) into
 * name; *key_len is the length of the cryptoKey part (the whole name
 * unless a version follows).  OCIKP_BAD_INPUT naming the expected form.
 */
static int parse_key_url(struct ocikp_ctx *ctx, const char *url, char name[NAME_MAX_LEN],
			 size_t *key_len, int allow_version)
{
	static const char *const fixed[] = { "projects/", "locations/", "keyRings/", "cryptoKeys/" };
	const char *p;
	size_t i, n;

	if (strncmp(url, SCHEME, SCHEME_LEN) != 0 || strlen(url) - SCHEME_LEN >= NAME_MAX_LEN)
		goto bad;
	p = url + SCHEME_LEN;
	for (i = 0; i < 4; i++) {
		if (strncmp(p, fixed[i], strlen(fixed[i])) != 0)
			goto bad;
		p += strlen(fixed[i]);
		n = segment(p, i == 0 ? ID_CHARS ".:" : ID_CHARS);
		if (!n)
			goto bad;
		p += n;
		if (i < 3) {
			if (*p != '/')
				goto bad;
			p++;
		}
	}
	*key_len = (size_t)(p - url) - SCHEME_LEN;
	if (*p) {
		if (!allow_version || strncmp(p, "/cryptoKeyVersions/", 19) != 0)
			goto bad;
		p += 19;
		n = strspn(p, "0123456789");
		if (n == 0 || n > 10 || p[n] || p[0] == '0')
			goto bad;
	}
	strcpy(name, url + SCHEME_LEN);
	return OCIKP_OK;
bad:
	ocikp_errorf(ctx, "key URL must be gcpkms://projects/P/locations/L/keyRings/R/cryptoKeys/K%s",
		     allow_version ? "[/cryptoKeyVersions/N]" : "");
	return OCIKP_BAD_INPUT;
}

/* The key URL this request uses: --kmsURI= (gcpkms.kms_uri) replaces the
 * one the request names, as it does for the other provider. */
static const char *effective_url(struct ocikp_ctx *ctx, const struct gcpkms_opts *o, const char *url)
{
	if (!o->kms_uri)
		return url;
	if (url && strcmp(url, o->kms_uri) != 0)
		ocikp_warnf(ctx, "the request names another gcpkms key; using the configured kms_uri instead");
	return o->kms_uri;
}

static int gcpkms_wrap(struct ocikp_ctx *ctx, const char *param, const struct ocikp_buf *optsdata,
		       struct ocikp_buf *annotation)
{
	const struct ocikp_host *h = ctx->host;
	struct ocikp_buf cipher = { 0 };
	struct gcp_cred *cred = NULL;
	struct gcpkms_opts o;
	char name[NAME_MAX_LEN];
	const char *url;
	size_t key_len;
	ocikp_jgen *g;
	int rc = gcpkms_opts_load(ctx, &o);

	if (rc != OCIKP_OK)
		return rc;
	url = effective_url(ctx, &o, param);
	rc = parse_key_url(ctx, url, name, &key_len, 1);
	if (rc == OCIKP_OK)
		rc = cred_load(ctx, &o, &cred);
	if (rc == OCIKP_OK)
		rc = kms_encrypt(ctx, &o, cred, name, optsdata, &cipher);
	if (rc == OCIKP_OK) {
		g = h->jgen_new();
		h->jgen_map_open(g);
		h->jgen_key(g, "key_url");
		h->jgen_string(g, url, strlen(url));
		h->jgen_key(g, "wrapped_key");
		h->jgen_b64(g, cipher.data, cipher.len);
		h->jgen_key(g, "wrap_type");
		h->jgen_string(g, "AES", 3);
		h->jgen_map_close(g);
		rc = h->jgen_finish(g, annotation);
	}
	cred_free(ctx, cred);
	h->buf_free(&cipher);
	return rc;
}

/*
 * The decrypt parameter must name the annotation's key, as the other
 * provider demands (it decrypts with the parameter's key).  Versions are
 * not compared: a pinned version is still that key.  With no gcpkms
 * parameter at all the annotation's key is used, and KMS decides whether
 * this identity may use it.
 */
static int check_dc(struct ocikp_ctx *ctx, const struct gcpkms_opts *o, const char *ann_url,
		    const char *ann_name, size_t ann_key_len, const char *const *dc)
{
	char name[NAME_MAX_LEN];
	const char *want;
	size_t key_len, i;
	int any = 0;

	if (o->kms_uri) {
		for (i = 0; dc && dc[i] && !strcmp(dc[i], o->kms_uri); i++)
			;
		if (dc && dc[i])
			effective_url(ctx, o, dc[i]);	/* its warning, once */
		dc = NULL;
	}
	for (i = 0; (o->kms_uri && i == 0) || (dc && dc[i]); i++) {
		want = o->kms_uri ? o->kms_uri : dc[i];
		any = 1;
		if (parse_key_url(ctx, want, name, &key_len, 1) != OCIKP_OK)
			return OCIKP_BAD_INPUT;
		if (key_len == ann_key_len && !memcmp(name, ann_name, key_len))
			return OCIKP_OK;
	}
	if (!any) {
		ocikp_debugf(ctx, "no gcpkms decrypt parameter: using the annotation's key");
		return OCIKP_OK;
	}
	ocikp_errorf(ctx, "wrapped with %.300s, but the decrypt parameter names %.300s", ann_url,
		     o->kms_uri ? o->kms_uri : dc[0]);
	return OCIKP_WRONG_KEY;
}

static int gcpkms_unwrap(struct ocikp_ctx *ctx, const ocikp_json *ann, const char *const *dc,
			 struct ocikp_buf *optsdata)
{
	const struct ocikp_host *h = ctx->host;
	const char *url = h->json_string(h->json_get(ann, "key_url"));
	const ocikp_json *wk = h->json_get(ann, "wrapped_key");
	const char *type = h->json_string(h->json_get(ann, "wrap_type"));
	struct ocikp_buf cipher = { 0 };
	struct gcp_cred *cred = NULL;
	struct gcpkms_opts o;
	char name[NAME_MAX_LEN];
	size_t key_len;
	int rc;

	if (!url || !h->json_string(wk)) {
		ocikp_errorf(ctx, "annotation: key_url and wrapped_key must be strings");
		return OCIKP_BAD_INPUT;
	}
	if (!type || strcmp(type, "AES") != 0) {
		ocikp_errorf(ctx, "annotation: wrap_type must be \"AES\"");
		return OCIKP_BAD_INPUT;
	}
	rc = parse_key_url(ctx, url, name, &key_len, 1);
	if (rc == OCIKP_OK)
		rc = h->b64_decode(ctx, "annotation: wrapped_key", h->json_string(wk),
				   h->json_string_len(wk), 0, &cipher);
	if (rc == OCIKP_OK && cipher.len == 0) {
		ocikp_errorf(ctx, "annotation: wrapped_key is empty");
		rc = OCIKP_BAD_INPUT;
	}
	if (rc == OCIKP_OK)
		rc = gcpkms_opts_load(ctx, &o);
	if (rc == OCIKP_OK)
		rc = check_dc(ctx, &o, url, name, key_len, dc);
	if (rc == OCIKP_OK) {
		name[key_len] = '\0';	/* decrypt with the cryptoKey, never a version */
		rc = cred_load(ctx, &o, &cred);
	}
	if (rc == OCIKP_OK)
		rc = kms_decrypt(ctx, &o, cred, name, &cipher, optsdata);
	cred_free(ctx, cred);
	h->buf_free(&cipher);
	return rc;
}

/* The state lives as long as the module (one exec, or one ocikpd
 * configuration): tokens in memory serve every request after the first. */
static int gcpkms_init(struct ocikp_ctx *ctx)
{
	http_env_scrub();	/* before libcurl could start: no TLS key log */
	return gcpkms_state_new(ctx);
}

static void gcpkms_fini(struct ocikp_ctx *ctx)
{
	gcpkms_state_free(ctx);
	http_global_cleanup();
}

static const char *const gcpkms_schemes[] = { "gcpkms", NULL };

OCIKP_EXPORT const struct ocikp_backend ocikp_backend_v1 = {
	.abi = OCIKP_BACKEND_ABI,
	.size = sizeof(struct ocikp_backend),
	.name = "gcpkms",
	.version = PACKAGE_VERSION,
	.schemes = gcpkms_schemes,
	.init = gcpkms_init,
	.wrap = gcpkms_wrap,
	.unwrap = gcpkms_unwrap,
	.fini = gcpkms_fini,
};
