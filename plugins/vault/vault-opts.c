/*
 * The options of one request, read on every call (a service host may
 * re-read its drop-ins), and the token.  Each option falls back to the
 * variable the vault CLI reads: VAULT_ADDR, VAULT_CACERT, VAULT_NAMESPACE,
 * VAULT_TOKEN.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "vault.h"

static const char *opt_or_env(struct ocikp_ctx *ctx, const char *key, const char *env)
{
	const char *v = ocikp_conf(ctx, key);

	if (!v || !*v)
		v = secure_getenv(env);
	return v && *v ? v : NULL;
}

/* An absolute http(s) URL, no trailing '/', query, fragment or user
 * (lib/http refuses plain http where it does not belong). */
static int address(struct ocikp_ctx *ctx, struct vault_opts *o)
{
	const char *v = opt_or_env(ctx, "address", "VAULT_ADDR");
	size_t n;

	o->address = v ? v : VAULT_ADDR_DEFAULT;
	n = strlen(o->address);
	if ((strncmp(o->address, "https://", 8) && strncmp(o->address, "http://", 7)) || n < 9 ||
	    o->address[n - 1] == '/' || strpbrk(o->address, " \t?#@")) {
		ocikp_errorf(ctx, "%s.address (VAULT_ADDR) must be an http(s):// URL without a trailing '/', query or user",
			     ctx->backend);
		return OCIKP_CONFIG;
	}
	return OCIKP_OK;
}

static int yes_no(struct ocikp_ctx *ctx, const char *key, int *out)
{
	const char *v = ocikp_conf(ctx, key);

	*out = 0;
	if (!v || !strcmp(v, "no"))
		return OCIKP_OK;
	if (!strcmp(v, "yes")) {
		*out = 1;
		return OCIKP_OK;
	}
	ocikp_errorf(ctx, "option %s.%s must be yes or no", ctx->backend, key);
	return OCIKP_CONFIG;
}

int vault_opts_load(struct ocikp_ctx *ctx, struct vault_opts *o)
{
	const char *v;
	int insecure, rc;

	memset(o, 0, sizeof(*o));
	rc = http_opts_load(ctx, "", &o->http);
	o->http.pool = vault_pool(ctx);
	if (rc == OCIKP_OK && !o->http.ca_file) {
		v = secure_getenv("VAULT_CACERT");
		if (v && *v && v[0] != '/') {
			ocikp_errorf(ctx, "VAULT_CACERT must be an absolute path");
			return OCIKP_CONFIG;
		}
		o->http.ca_file = v && *v ? v : NULL;
	}
	if (rc == OCIKP_OK)
		rc = address(ctx, o);
	if (rc == OCIKP_OK)
		rc = yes_no(ctx, "allow_insecure_http", &insecure);
	if (rc != OCIKP_OK)
		return rc;
	/* plain http:// only to a loopback address (lib/http checks it) */
	if (insecure)
		o->http.flags |= HTTP_PLAIN_LOCAL;

	/* Namespaces are paths ("team/dev"): nothing that could end a header. */
	o->namespace = opt_or_env(ctx, "namespace", "VAULT_NAMESPACE");
	if (o->namespace && (strlen(o->namespace) > VAULT_PATH_MAX ||
			     strspn(o->namespace, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-./") !=
				     strlen(o->namespace))) {
		ocikp_errorf(ctx, "%s.namespace (VAULT_NAMESPACE) must be a path of letters, digits, '_', '-', '.' and '/'",
			     ctx->backend);
		return OCIKP_CONFIG;
	}
	o->context = ocikp_conf(ctx, "context");
	if (o->context && !*o->context)
		o->context = NULL;
	return OCIKP_OK;
}

/* Drop trailing whitespace (the CLI's files end in a newline); refuse
 * what cannot go into a header. */
static int token_clean(struct ocikp_ctx *ctx, const char *from, struct ocikp_buf *tok)
{
	size_t i;

	while (tok->len && strchr(" \t\r\n", tok->data[tok->len - 1]))
		tok->data[--tok->len] = '\0';
	for (i = 0; i < tok->len; i++)
		if (tok->data[i] < 0x21 || tok->data[i] > 0x7e)
			break;
	if (tok->len && i == tok->len)
		return OCIKP_OK;
	ctx->host->buf_free(tok);
	ocikp_errorf(ctx, "the Vault token from %s is empty or holds characters a token cannot", from);
	return OCIKP_CONFIG;
}

static int token_file(struct ocikp_ctx *ctx, const char *path, struct ocikp_buf *tok)
{
	int rc = ctx->host->read_private_file(ctx, "Vault token file", path, VAULT_TOKEN_MAX, tok);

	/* a NUL-terminated copy for the header */
	if (rc == OCIKP_OK && ctx->host->buf_append(tok, "", 1) == OCIKP_OK)
		tok->len--;
	return rc == OCIKP_OK ? token_clean(ctx, path, tok) : rc;
}

int vault_static_token(struct ocikp_ctx *ctx, struct ocikp_buf *tok)
{
	const struct ocikp_host *h = ctx->host;
	const char *v = secure_getenv("VAULT_TOKEN");
	const char *home;
	struct ocikp_buf path = { 0 };
	int rc;

	if (v && *v) {
		rc = h->buf_append(tok, v, strlen(v) + 1);
		if (rc == OCIKP_OK)
			tok->len--;
		return rc == OCIKP_OK ? token_clean(ctx, "VAULT_TOKEN", tok) : rc;
	}
	v = ocikp_conf(ctx, "token_file");
	if (v && v[0] != '/') {
		ocikp_errorf(ctx, "option %s.token_file must be an absolute path", ctx->backend);
		return OCIKP_CONFIG;
	}
	if (v)
		return token_file(ctx, v, tok);
	home = secure_getenv("HOME");
	if (home && home[0] == '/') {
		h->buf_append(&path, home, strlen(home));
		rc = h->buf_append(&path, "/.vault-token", 14);
		if (rc == OCIKP_OK && access((const char *)path.data, F_OK) == 0) {
			rc = token_file(ctx, (const char *)path.data, tok);
			h->buf_free(&path);
			return rc;
		}
		h->buf_free(&path);
	}
	return OCIKP_NOT_MINE;
}
