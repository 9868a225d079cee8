/*
 * Which token a request uses, and the login tokens' cache.
 *
 * Methods, in this order unless vault.auth pins one:
 *   token       VAULT_TOKEN, vault.token_file, ~/.vault-token (static)
 *   approle     vault.approle_role_id_file + vault.approle_secret_id_file
 *               -> POST /v1/auth/APPROLE_MOUNT/login {"role_id","secret_id"}
 *   kubernetes  vault.kubernetes_role + the service account token
 *               -> POST /v1/auth/K8S_MOUNT/login {"role","jwt"}
 *   cert        vault.client_cert + vault.client_key (TLS client auth)
 *               -> POST /v1/auth/CERT_MOUNT/login {"name"?: vault.cert_role}
 * A login's token ({"auth": {"client_token", "lease_duration"}}) is kept
 * by lib/credcache in memory (the module's state: ocikpd keeps it loaded)
 * and in the state directory, login-<identity>.json (0600), until
 * VAULT_LOGIN_MARGIN_S before its lease ends; parallel execs log in once.
 * The identity is a SHA-256 of the address, namespace, method, mount and
 * the files or role named; no secret enters it.  The backend is not OCIKP_BACKEND_CONCURRENT, so
 * the host makes one call at a time: no lock on the memory.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "credcache.h"
#include "vault.h"

#define K8S_TOKEN_DEFAULT "/var/run/secrets/kubernetes.io/serviceaccount/token"

struct vault_state {
	struct http_pool *pool;
	struct credcache cache;		/* the login token in memory */
};

int vault_state_new(struct ocikp_ctx *ctx)
{
	struct vault_state *s = calloc(1, sizeof(*s));

	if (!s) {
		ocikp_errorf(ctx, "out of memory");
		return OCIKP_INTERNAL;
	}
	s->pool = http_pool_new();	/* NULL: requests go without */
	ctx->backend_data = s;
	return OCIKP_OK;
}

void vault_state_free(struct ocikp_ctx *ctx)
{
	struct vault_state *s = ctx->backend_data;

	if (!s)
		return;
	http_pool_free(s->pool);
	credcache_clear(ctx, &s->cache);
	free(s);
	ctx->backend_data = NULL;
}

struct http_pool *vault_pool(struct ocikp_ctx *ctx)
{
	struct vault_state *s = ctx->backend_data;

	return s ? s->pool : NULL;
}

/* ---- the login ---- */

struct login {
	const char *method;		/* "approle", "kubernetes", "cert" */
	const char *mount;
	const char *a, *b;		/* approle: role_id and secret_id files;
					 * kubernetes: role and token file;
					 * cert: certificate and key files */
	const char *role;		/* cert: vault.cert_role; NULL: any */
	char id[65];
};

static int opt_path(struct ocikp_ctx *ctx, const char *key, const char **out)
{
	*out = ocikp_conf(ctx, key);
	if (*out && (*out)[0] != '/') {
		ocikp_errorf(ctx, "option %s.%s must be an absolute path", ctx->backend, key);
		return OCIKP_CONFIG;
	}
	return OCIKP_OK;
}

static int mount_opt(struct ocikp_ctx *ctx, const char *key, const char *dflt, const char **out)
{
	const char *v = ocikp_conf(ctx, key);

	*out = v ? v : dflt;
	if (strspn(*out, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-./") !=
		    strlen(*out) || !**out || strstr(*out, "..")) {
		ocikp_errorf(ctx, "option %s.%s must be a mount path", ctx->backend, key);
		return OCIKP_CONFIG;
	}
	return OCIKP_OK;
}

static void identity(const struct vault_opts *o, struct login *l)
{
	const char *parts[7] = { o->address, o->namespace, l->method, l->mount, l->a, l->b, l->role };

	credcache_identity(parts, 7, l->id);
}

/* Which login the options name; OCIKP_NOT_MINE for none.  want: the
 * pinned method, or NULL. */
static int login_pick(struct ocikp_ctx *ctx, const struct vault_opts *o, const char *want,
		      struct login *l)
{
	const char *rid, *sid, *role, *jwt, *crt, *key;
	int rc;

	memset(l, 0, sizeof(*l));
	if ((rc = opt_path(ctx, "approle_role_id_file", &rid)) != OCIKP_OK ||
	    (rc = opt_path(ctx, "approle_secret_id_file", &sid)) != OCIKP_OK ||
	    (rc = opt_path(ctx, "kubernetes_token_file", &jwt)) != OCIKP_OK ||
	    (rc = opt_path(ctx, "client_cert", &crt)) != OCIKP_OK ||
	    (rc = opt_path(ctx, "client_key", &key)) != OCIKP_OK)
		return rc;
	role = ocikp_conf(ctx, "kubernetes_role");
	if ((!want || !strcmp(want, "approle")) && rid && sid) {
		l->method = "approle";
		l->a = rid;
		l->b = sid;
		rc = mount_opt(ctx, "approle_mount", "approle", &l->mount);
	} else if ((!want || !strcmp(want, "kubernetes")) && role && *role) {
		l->method = "kubernetes";
		l->a = role;
		l->b = jwt ? jwt : K8S_TOKEN_DEFAULT;
		rc = mount_opt(ctx, "kubernetes_mount", "kubernetes", &l->mount);
	} else if ((!want || !strcmp(want, "cert")) && crt && key) {
		l->method = "cert";
		l->a = crt;
		l->b = key;
		l->role = ocikp_conf(ctx, "cert_role");
		rc = mount_opt(ctx, "cert_mount", "cert", &l->mount);
	} else if (want) {
		ocikp_errorf(ctx, "%s.auth = %s, but %s", ctx->backend, want,
			     !strcmp(want, "approle") ?
				     "approle_role_id_file and approle_secret_id_file are not both set" :
			     !strcmp(want, "kubernetes") ? "kubernetes_role is not set" :
							   "client_cert and client_key are not both set");
		return OCIKP_CONFIG;
	} else {
		return OCIKP_NOT_MINE;
	}
	if (rc == OCIKP_OK)
		identity(o, l);
	return rc;
}

/* One secret file's contents, trailing white space dropped. */
static int read_secret(struct ocikp_ctx *ctx, const char *what, const char *path, struct ocikp_buf *out)
{
	int rc = ctx->host->read_private_file(ctx, what, path, VAULT_TOKEN_MAX, out);

	while (rc == OCIKP_OK && out->len && strchr(" \t\r\n", out->data[out->len - 1]) &&
	       out->data[out->len - 1])
		out->len--;
	if (rc == OCIKP_OK && !out->len) {
		ocikp_errorf(ctx, "%s %s is empty", what, path);
		rc = OCIKP_CONFIG;
	}
	return rc;
}

static int login_body(struct ocikp_ctx *ctx, const struct login *l, struct ocikp_buf *body)
{
	const struct ocikp_host *h = ctx->host;
	struct ocikp_buf a = { 0 }, b = { 0 };
	ocikp_jgen *g;
	int rc;

	if (!strcmp(l->method, "cert")) {
		g = h->jgen_new();
		h->jgen_map_open(g);
		if (l->role) {
			h->jgen_key(g, "name");
			h->jgen_string(g, l->role, strlen(l->role));
		}
		h->jgen_map_close(g);
		return h->jgen_finish(g, body);
	}
	if (!strcmp(l->method, "approle")) {
		rc = read_secret(ctx, "AppRole role_id file", l->a, &a);
		if (rc == OCIKP_OK)
			rc = read_secret(ctx, "AppRole secret_id file", l->b, &b);
	} else {
		rc = h->buf_append(&a, l->a, strlen(l->a));
		if (rc == OCIKP_OK)
			rc = read_secret(ctx, "Kubernetes service account token", l->b, &b);
	}
	if (rc == OCIKP_OK) {
		g = h->jgen_new();
		h->jgen_map_open(g);
		h->jgen_key(g, !strcmp(l->method, "approle") ? "role_id" : "role");
		h->jgen_string(g, (const char *)a.data, a.len);
		h->jgen_key(g, !strcmp(l->method, "approle") ? "secret_id" : "jwt");
		h->jgen_string(g, (const char *)b.data, b.len);
		h->jgen_map_close(g);
		rc = h->jgen_finish(g, body);
	}
	h->buf_free(&a);
	h->buf_free(&b);
	return rc;
}

int vault_parse_login(struct ocikp_ctx *ctx, const void *body, size_t len, struct ocikp_buf *tok,
		      long long *lease_s)
{
	const struct ocikp_host *h = ctx->host;
	const ocikp_json *auth, *t, *lease;
	ocikp_json *doc = NULL;
	const char *n;
	char *end;
	int rc = OCIKP_UNAVAILABLE;

	if (h->json_parse(ctx, "Vault login answer", body, len, &doc) != OCIKP_OK)
		return OCIKP_UNAVAILABLE;
	auth = h->json_get(doc, "auth");
	t = h->json_get(auth, "client_token");
	lease = h->json_get(auth, "lease_duration");
	n = h->json_type(lease) == OCIKP_JSON_NUMBER ? h->json_number(lease) : NULL;
	if (!h->json_string(t) || !h->json_string_len(t) || h->json_string_len(t) > VAULT_TOKEN_MAX ||
	    strspn(h->json_string(t), "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-+/=") !=
		    h->json_string_len(t)) {
		ocikp_errorf(ctx, "Vault login answer: no usable auth.client_token");
	} else if (!n || (*lease_s = strtoll(n, &end, 10), *end) || *lease_s < 0 || *lease_s > 10 * 365 * 86400LL) {
		ocikp_errorf(ctx, "Vault login answer: no usable auth.lease_duration");
	} else {
		rc = h->buf_append(tok, h->json_string(t), h->json_string_len(t) + 1);
		if (rc == OCIKP_OK)
			tok->len--;
	}
	h->json_free(doc);
	return rc;
}

/* POST /v1/auth/MOUNT/login (with the namespace header): a new token. */
static int login(struct ocikp_ctx *ctx, const struct vault_opts *o, const struct login *l,
		 struct ocikp_buf *tok, long long *expires_at)
{
	const struct ocikp_host *h = ctx->host;
	struct ocikp_buf url = { 0 }, body = { 0 }, nsh = { 0 }, key = { 0 };
	const char *headers[2] = { NULL, NULL };
	struct http_opts ho = o->http;
	struct http_req req = { 0 };
	struct http_resp resp = { 0 };
	long long lease = 0;
	int rc = login_body(ctx, l, &body);

	/* the certificate only where it proves who we are: the login */
	if (rc == OCIKP_OK && !strcmp(l->method, "cert")) {
		rc = h->read_private_file(ctx, "Vault client key", l->b, VAULT_TOKEN_MAX, &key);
		ho.client_cert = l->a;
		ho.client_key = &key;
	}

	if (rc == OCIKP_OK) {
		h->buf_append(&url, o->address, strlen(o->address));
		h->buf_append(&url, "/v1/auth/", 9);
		h->buf_append(&url, l->mount, strlen(l->mount));
		rc = h->buf_append(&url, "/login", 7);
	}
	if (rc == OCIKP_OK && o->namespace) {
		h->buf_append(&nsh, "X-Vault-Namespace: ", 19);
		rc = h->buf_append(&nsh, o->namespace, strlen(o->namespace) + 1);
		headers[0] = (const char *)nsh.data;
	}
	if (rc == OCIKP_OK) {
		req.method = "POST";
		req.url = (const char *)url.data;
		req.headers = headers;
		req.body = body.data;
		req.body_len = body.len;
		req.content_type = "application/json";
		rc = http_request(ctx, &ho, &req, &resp);
		ocikp_debugf(ctx, "%s login, POST /v1/auth/%s/login: HTTP %ld", l->method, l->mount,
			     resp.status);
	}
	if ((rc == OCIKP_OK || rc == OCIKP_UNAVAILABLE) &&
	    (resp.status == 429 || resp.status >= 500 ||
	     (rc == OCIKP_OK && (resp.status < 200 || resp.status > 299)))) {
		rc = vault_fail(ctx, VAULT_WRAP, resp.status, resp.body.data, resp.body.len);
		if (rc != OCIKP_UNAVAILABLE)
			rc = OCIKP_CONFIG;	/* the credentials were refused */
	}
	if (rc == OCIKP_OK)
		rc = vault_parse_login(ctx, resp.body.data, resp.body.len, tok, &lease);
	*expires_at = (long long)time(NULL) + lease;
	h->buf_free(&url);
	h->buf_free(&body);
	h->buf_free(&nsh);
	h->buf_free(&key);
	http_resp_free(ctx, &resp);
	return rc;
}

/* ---- the cache (lib/credcache) ---- */

struct login_arg {
	const struct vault_opts *o;
	const struct login *l;
};

static int login_fetch(struct ocikp_ctx *ctx, void *arg, struct ocikp_buf *out,
		       long long *expires_at)
{
	const struct login_arg *a = arg;

	return login(ctx, a->o, a->l, out, expires_at);
}

/* A login token for l: memory, else the file, else a login (under the
 * lock, looking at the file again first).  stale: a token Vault refused. */
static int login_token(struct ocikp_ctx *ctx, const struct vault_opts *o, const struct login *l,
		       const struct ocikp_buf *stale, struct ocikp_buf *tok)
{
	struct vault_state *s = ctx->backend_data;
	struct login_arg a = { o, l };

	return credcache_get(ctx, s ? &s->cache : NULL, "login", l->id, VAULT_LOGIN_MARGIN_S, stale,
			     login_fetch, &a, tok, NULL, NULL);
}

int vault_token(struct ocikp_ctx *ctx, const struct vault_opts *o, const struct ocikp_buf *stale,
		struct ocikp_buf *tok, int *is_login)
{
	const char *want = ocikp_conf(ctx, "auth");
	struct login l;
	int rc;

	*is_login = 0;
	if (want && strcmp(want, "token") && strcmp(want, "approle") && strcmp(want, "kubernetes") &&
	    strcmp(want, "cert")) {
		ocikp_errorf(ctx, "option %s.auth must be token, approle, kubernetes or cert", ctx->backend);
		return OCIKP_CONFIG;
	}
	if (!want || !strcmp(want, "token")) {
		rc = vault_static_token(ctx, tok);
		if (rc != OCIKP_NOT_MINE || (want && !strcmp(want, "token")))
			goto out;
	}
	rc = login_pick(ctx, o, want, &l);
	if (rc == OCIKP_OK) {
		*is_login = 1;
		rc = login_token(ctx, o, &l, stale, tok);
	}
out:
	if (rc == OCIKP_NOT_MINE) {
		ocikp_errorf(ctx, "no Vault token: set VAULT_TOKEN, %s.token_file or ~/.vault-token, or an AppRole, Kubernetes or certificate login",
			     ctx->backend);
		rc = OCIKP_CONFIG;
	}
	return rc;
}
