/*
 * The options of one request.  Read on every call rather than kept from
 * init: they are a handful of lookups, and a service host may re-read its
 * drop-ins between requests.
 */
#include <stdlib.h>
#include <string.h>
#include "gcpkms.h"

/* An endpoint option: an absolute http(s) URL without a trailing '/'
 * (lib/http refuses plain http where it does not belong). */
static int endpoint(struct ocikp_ctx *ctx, const char *key, const char *dflt, const char **out)
{
	const char *v = ocikp_conf(ctx, key);
	size_t n;

	*out = dflt;
	if (!v)
		return OCIKP_OK;
	n = strlen(v);
	if ((strncmp(v, "https://", 8) && strncmp(v, "http://", 7)) || n < 9 || v[n - 1] == '/' ||
	    strpbrk(v, " \t?#@")) {
		ocikp_errorf(ctx, "option %s.%s must be an http(s):// URL without a trailing '/', query or user",
			     ctx->backend, key);
		return OCIKP_CONFIG;
	}
	*out = v;
	return OCIKP_OK;
}

int gcpkms_opts_load(struct ocikp_ctx *ctx, struct gcpkms_opts *o)
{
	const char *v;
	int rc;

	memset(o, 0, sizeof(*o));
	rc = http_opts_load(ctx, "", &o->http);
	o->http.pool = gcpkms_pool(ctx);
	if (rc == OCIKP_OK)
		rc = endpoint(ctx, "kms_endpoint", GCP_KMS_ENDPOINT, &o->kms_endpoint);
	if (rc == OCIKP_OK)
		rc = endpoint(ctx, "token_endpoint", NULL, &o->token_endpoint);
	if (rc == OCIKP_OK)
		rc = endpoint(ctx, "sts_endpoint", NULL, &o->sts_endpoint);
	if (rc != OCIKP_OK)
		return rc;

	/* A host name with an optional port, as GCE_METADATA_HOST is. */
	v = ocikp_conf(ctx, "metadata_host");
	if (!v)
		v = secure_getenv("GCE_METADATA_HOST");
	if (!v || !*v)
		v = GCP_METADATA_HOST;
	if (strspn(v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-:[]") != strlen(v)) {
		ocikp_errorf(ctx, "metadata host must be HOST[:PORT]");
		return OCIKP_CONFIG;
	}
	o->metadata_host = v;

	v = ocikp_conf(ctx, "credentials");
	if (v && v[0] != '/') {
		ocikp_errorf(ctx, "option %s.credentials (--adc=) must be an absolute path", ctx->backend);
		return OCIKP_CONFIG;
	}
	o->credentials = v;
	o->kms_uri = ocikp_conf(ctx, "kms_uri");
	return OCIKP_OK;
}
