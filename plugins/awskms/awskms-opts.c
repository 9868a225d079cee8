/*
 * The options of one request, read on every call (a handful of lookups;
 * ocikpd may re-read its drop-ins between requests).
 */
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>
#include <string.h>
#include "awskms.h"

/* A base URL: http(s)://host[:port], no path, query or user.  lib/http
 * refuses plain http unless allowed for the request and to a local host.
 * name: what to call the setting in the line. */
static int url_ok(struct ocikp_ctx *ctx, const char *name, const char *v)
{
	size_t n = strlen(v);

	if ((strncmp(v, "https://", 8) && strncmp(v, "http://", 7)) || n < 9 || v[n - 1] == '/' ||
	    strpbrk(v, " \t?#@") || strchr(strstr(v, "//") + 2, '/')) {
		ocikp_errorf(ctx, "%s must be an http(s):// URL with no path, query or user", name);
		return OCIKP_CONFIG;
	}
	return OCIKP_OK;
}

static int endpoint(struct ocikp_ctx *ctx, const char *key, const char **out)
{
	const char *v = ocikp_conf(ctx, key);
	char name[64];

	*out = NULL;
	if (!v)
		return OCIKP_OK;
	snprintf(name, sizeof(name), "option %s.%s", ctx->backend, key);
	if (url_ok(ctx, name, v) != OCIKP_OK)
		return OCIKP_CONFIG;
	*out = v;
	return OCIKP_OK;
}

static int yes(struct ocikp_ctx *ctx, const char *key, int *out)
{
	const char *v = ocikp_conf(ctx, key);

	*out = 0;
	if (!v || !strcmp(v, "no") || !strcmp(v, "false"))
		return OCIKP_OK;
	if (!strcmp(v, "yes") || !strcmp(v, "true")) {
		*out = 1;
		return OCIKP_OK;
	}
	ocikp_errorf(ctx, "option %s.%s must be yes or no", ctx->backend, key);
	return OCIKP_CONFIG;
}

/* A region name: lower-case letters, digits and '-' (it goes into a host name). */
int awskms_region_ok(const char *r)
{
	size_t n = r ? strlen(r) : 0;

	return n > 0 && n < AWS_REGION_MAX && strspn(r, "abcdefghijklmnopqrstuvwxyz0123456789-") == n;
}

static const char *env(const char *name)
{
	const char *v = secure_getenv(name);

	return v && *v ? v : NULL;
}

static int abs_path(struct ocikp_ctx *ctx, const char *what, const char *v)
{
	if (v && v[0] != '/') {
		ocikp_errorf(ctx, "%s must be an absolute path", what);
		return OCIKP_CONFIG;
	}
	return OCIKP_OK;
}

/* IMDS: the drop-in's endpoint, else the SDKs' variables. */
static int imds_opts(struct ocikp_ctx *ctx, struct awskms_opts *o)
{
	const char *v = env("AWS_EC2_METADATA_DISABLED"), *mode;
	int rc = endpoint(ctx, "imds_endpoint", &o->imds_endpoint);

	o->imds_disabled = v && !strcasecmp(v, "true");
	if (rc != OCIKP_OK || o->imds_endpoint)
		return rc;
	o->imds_endpoint = env("AWS_EC2_METADATA_SERVICE_ENDPOINT");
	if (o->imds_endpoint && url_ok(ctx, "AWS_EC2_METADATA_SERVICE_ENDPOINT",
				       o->imds_endpoint) != OCIKP_OK)
		return OCIKP_CONFIG;
	mode = env("AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE");
	if (mode && strcasecmp(mode, "IPv4") && strcasecmp(mode, "IPv6")) {
		ocikp_errorf(ctx, "AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE must be IPv4 or IPv6");
		return OCIKP_CONFIG;
	}
	o->imds_ipv6 = mode && !strcasecmp(mode, "IPv6");
	return OCIKP_OK;
}

int awskms_opts_load(struct ocikp_ctx *ctx, struct awskms_opts *o)
{
	int rc, insecure = 0;

	memset(o, 0, sizeof(*o));
	rc = http_opts_load(ctx, "", &o->http);
	o->http.pool = awskms_pool(ctx);
	if (rc == OCIKP_OK)
		rc = endpoint(ctx, "kms_endpoint", &o->kms_endpoint);
	if (rc == OCIKP_OK)
		rc = endpoint(ctx, "sts_endpoint", &o->sts_endpoint);
	if (rc == OCIKP_OK)
		rc = yes(ctx, "fips", &o->fips);
	if (rc == OCIKP_OK)
		rc = yes(ctx, "allow_insecure_http", &insecure);
	if (rc != OCIKP_OK)
		return rc;
	if (insecure)
		o->http.flags |= HTTP_PLAIN_LOCAL;	/* loopback only: lib/http checks */

	o->region = ocikp_conf(ctx, "region");
	if (!o->region)
		o->region = env("AWS_REGION");
	if (!o->region)
		o->region = env("AWS_DEFAULT_REGION");
	if (o->region && !awskms_region_ok(o->region)) {
		ocikp_errorf(ctx, "the AWS region must be lower-case letters, digits and '-'");
		return OCIKP_CONFIG;
	}

	o->profile = ocikp_conf(ctx, "profile");
	o->credentials_file = ocikp_conf(ctx, "credentials_file");
	o->pinned = o->profile || o->credentials_file;
	/* pinned: the drop-in decides, not the caller's environment */
	if (!o->profile && !o->pinned)
		o->profile = env("AWS_PROFILE");
	if (!o->profile)
		o->profile = "default";
	if (strpbrk(o->profile, "[]\n\r") || strlen(o->profile) > 48) {
		ocikp_errorf(ctx, "the AWS profile name is malformed");
		return OCIKP_CONFIG;
	}
	if (!o->credentials_file && !o->pinned)
		o->credentials_file = env("AWS_SHARED_CREDENTIALS_FILE");
	o->config_file = env("AWS_CONFIG_FILE");
	rc = abs_path(ctx, "the shared credentials file", o->credentials_file);
	if (rc == OCIKP_OK)
		rc = abs_path(ctx, "AWS_CONFIG_FILE", o->config_file);
	o->encryption_context = ocikp_conf(ctx, "encryption_context");
	if (rc == OCIKP_OK)
		rc = imds_opts(ctx, o);
	return rc;
}
