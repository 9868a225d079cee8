/*
 * Application Default Credentials (AIP-4110): find the credential, load
 * it, and turn it into an access token for Cloud KMS.
 *
 * Types: service_account (RS256 JWT-bearer grant, RFC 7523),
 * authorized_user (refresh-token grant), external_account (workload and
 * workforce identity federation: a subject token from a file or a URL,
 * exchanged at STS, RFC 8693, optionally for a service account's token at
 * IAM credentials), impersonated_service_account (a service_account or
 * authorized_user source, then IAM credentials), and the metadata server.
 *
 * Secrets (private key, refresh token, client secret, subject and
 * intermediate tokens) live only in the parsed credentials file, whose
 * nodes the host allocates and wipes on json_free, and in host buffers,
 * which buf_free wipes.  Error and debug lines name files, types, hosts
 * and OAuth error codes, never a secret.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <openssl/evp.h>
#include "gcpkms.h"
#include "rfc3339.h"
#include "tokenfile.h"

/* What the token minted for calling IAM credentials or STS-then-IAM needs:
 * generateAccessToken refuses a token scoped to Cloud KMS alone. */
#define GCP_IAM_SCOPE "https://www.googleapis.com/auth/cloud-platform"
#define METADATA_PATH "/computeMetadata/v1/instance/service-accounts/default/token"
#define JWT_LIFETIME_S 3600
#define EXPIRE_TIME_MAX (12 * 3600)	/* IAM's longest lifetime; later is clamped */
#define DESC_MAX 160			/* bytes of a server's error description quoted */

enum cred_type { CRED_SERVICE_ACCOUNT, CRED_AUTHORIZED_USER, CRED_EXTERNAL, CRED_IMPERSONATED,
		 CRED_METADATA };

static const char *const type_names[] = {
	[CRED_SERVICE_ACCOUNT] = "service_account",
	[CRED_AUTHORIZED_USER] = "authorized_user",
	[CRED_EXTERNAL] = "external_account",
	[CRED_IMPERSONATED] = "impersonated_service_account",
	[CRED_METADATA] = "metadata",
};

struct gcp_cred {
	enum cred_type type;
	const struct ocikp_host *host;	/* for cred_identity, which has no ctx */
	ocikp_json *doc;		/* the parsed file; NULL in a source and for metadata */
	const ocikp_json *obj;		/* this credential's object in the document */
	struct gcp_cred *source;	/* impersonated_service_account: its source */
	char *file;			/* where it came from, for error lines */
	char *endpoint;			/* the token (or STS) endpoint in effect; metadata: host */
	const char *quota_project;
	/* external_account */
	const char *subject_file, *subject_url, *subject_field;
	const ocikp_json *subject_headers;
	/* external_account, impersonated_service_account */
	const char *imp_url;
	const ocikp_json *delegates;
	long lifetime_s;		/* 0: IAM's default */
	char desc[200];
};

/* ---- small helpers ---------------------------------------------------------- */

static const char *jstr(struct ocikp_ctx *ctx, const ocikp_json *obj, const char *key)
{
	const char *s = ctx->host->json_string(ctx->host->json_get(obj, key));

	return s && *s ? s : NULL;
}

static int oom(struct ocikp_ctx *ctx)
{
	ocikp_errorf(ctx, "out of memory");
	return OCIKP_INTERNAL;
}

static int put(struct ocikp_ctx *ctx, struct ocikp_buf *b, const void *data, size_t n)
{
	return ctx->host->buf_append(b, data, n) == OCIKP_OK ? OCIKP_OK : oom(ctx);
}

static int puts_(struct ocikp_ctx *ctx, struct ocikp_buf *b, const char *s)
{
	return put(ctx, b, s, strlen(s));
}

static int form(struct ocikp_ctx *ctx, struct ocikp_buf *b, const char *name, const char *value)
{
	if (ctx->host->form_append(b, name, value, strlen(value)) == OCIKP_OK)
		return OCIKP_OK;
	return oom(ctx);
}

/* "host[:port]" of an absolute URL, for debug lines: never its path or
 * query, nor a user:password@ before the host (the last '@' ends it). */
static const char *url_host(const char *url, char *out, size_t size)
{
	const char *p = strstr(url, "://"), *at;
	size_t n;

	p = p ? p + 3 : url;
	n = strcspn(p, "/?#");
	while ((at = memchr(p, '@', n))) {
		n -= (size_t)(at + 1 - p);
		p = at + 1;
	}
	snprintf(out, size, "%.*s", (int)(n < size ? n : size - 1), p);
	return out;
}

/* A request to a URL a credentials file (or an option) named: one lib/http
 * refuses as malformed or holding user:password@ is the file's fault, a
 * configuration error, not the caller's input. */
static int cred_http(struct ocikp_ctx *ctx, const struct http_opts *ho,
		     const struct http_req *req, struct http_resp *r)
{
	int rc = http_request(ctx, ho, req, r);

	return rc == OCIKP_BAD_INPUT ? OCIKP_CONFIG : rc;
}

/* Printable ASCII of s, at most max bytes, "..." when cut: a server's text in
 * one error line. */
static void printable(char *out, size_t size, const char *s, size_t max)
{
	size_t i, n = 0;

	for (i = 0; s[i] && n + 4 < size; i++) {
		if (i == max) {
			memcpy(out + n, "...", 3);
			n += 3;
			break;
		}
		out[n++] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
	}
	out[n] = '\0';
}

/* A plain identifier ([A-Za-z0-9_.-], short): safe to quote in an error. */
static bool plain_word(const char *s)
{
	size_t n = strlen(s);

	return n > 0 && n <= 64 &&
	       strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") == n;
}

/* ---- loading ---------------------------------------------------------------- */

static int field_missing(struct ocikp_ctx *ctx, const struct gcp_cred *c, const char *key)
{
	ocikp_errorf(ctx, "credentials file %s: %s has no \"%s\"", c->file, type_names[c->type], key);
	return OCIKP_CONFIG;
}

/* A required non-empty string member. */
static int need(struct ocikp_ctx *ctx, const struct gcp_cred *c, const ocikp_json *obj,
		const char *key, const char **out)
{
	*out = jstr(ctx, obj, key);
	return *out ? OCIKP_OK : field_missing(ctx, c, key);
}

/* The endpoint in effect: the option, else the file's, else Google's. */
static int set_endpoint(struct ocikp_ctx *ctx, struct gcp_cred *c, const char *opt,
			const char *file, const char *dflt)
{
	c->endpoint = strdup(opt ? opt : file ? file : dflt);
	return c->endpoint ? OCIKP_OK : oom(ctx);
}

static int load_service_account(struct ocikp_ctx *ctx, const struct gcpkms_opts *o,
				struct gcp_cred *c)
{
	const char *s;
	int rc;

	if ((rc = need(ctx, c, c->obj, "client_email", &s)) != OCIKP_OK ||
	    (rc = need(ctx, c, c->obj, "private_key", &s)) != OCIKP_OK)
		return rc;
	snprintf(c->desc, sizeof(c->desc), "service_account %s", jstr(ctx, c->obj, "client_email"));
	return set_endpoint(ctx, c, o->token_endpoint, jstr(ctx, c->obj, "token_uri"),
			    GCP_TOKEN_ENDPOINT);
}

static int load_authorized_user(struct ocikp_ctx *ctx, const struct gcpkms_opts *o,
				struct gcp_cred *c)
{
	const char *s;
	int rc;

	if ((rc = need(ctx, c, c->obj, "client_id", &s)) != OCIKP_OK ||
	    (rc = need(ctx, c, c->obj, "client_secret", &s)) != OCIKP_OK ||
	    (rc = need(ctx, c, c->obj, "refresh_token", &s)) != OCIKP_OK)
		return rc;
	snprintf(c->desc, sizeof(c->desc), "authorized_user (gcloud user credentials)");
	return set_endpoint(ctx, c, o->token_endpoint, jstr(ctx, c->obj, "token_uri"),
			    GCP_TOKEN_ENDPOINT);
}

/* An RFC 7230 header name and a value without control characters. */
static bool header_ok(const char *name, const char *value)
{
	size_t n = strlen(name);
	const char *p;

	if (!n || strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
			       "!#$%&'*+-.^_`|~") != n)
		return false;
	for (p = value; *p; p++)
		if ((unsigned char)*p < 0x20 ? *p != '\t' : *p == 0x7f)
			return false;
	return true;
}

static int load_headers(struct ocikp_ctx *ctx, struct gcp_cred *c, const ocikp_json *h)
{
	const struct ocikp_host *x = ctx->host;
	size_t i, n;

	if (x->json_type(h) == OCIKP_JSON_ABSENT)
		return OCIKP_OK;
	if (x->json_type(h) != OCIKP_JSON_OBJECT)
		goto bad;
	n = x->json_object_len(h);
	for (i = 0; i < n; i++) {
		const char *v = x->json_string(x->json_object_value_at(h, i));
		if (!v || !header_ok(x->json_object_key_at(h, i), v))
			goto bad;
	}
	c->subject_headers = h;
	return OCIKP_OK;
bad:
	ocikp_errorf(ctx, "credentials file %s: credential_source.headers must map header names "
		     "to strings", c->file);
	return OCIKP_CONFIG;
}

static int load_source(struct ocikp_ctx *ctx, struct gcp_cred *c, const ocikp_json *cs)
{
	const struct ocikp_host *x = ctx->host;
	const ocikp_json *fmt = x->json_get(cs, "format");
	const char *ftype;

	if (x->json_type(cs) != OCIKP_JSON_OBJECT)
		return field_missing(ctx, c, "credential_source");
	/* The sources this backend cannot run: AWS signs a request with keys of
	 * its own; an executable or a certificate (mTLS) are out of scope. */
	if (x->json_get(cs, "environment_id") || x->json_get(cs, "executable") ||
	    x->json_get(cs, "certificate")) {
		ocikp_errorf(ctx, "credentials file %s: unsupported credential source '%s'", c->file,
			     x->json_get(cs, "environment_id") ? "aws" :
			     x->json_get(cs, "executable") ? "executable" : "certificate");
		return OCIKP_CONFIG;
	}
	c->subject_file = jstr(ctx, cs, "file");
	c->subject_url = jstr(ctx, cs, "url");
	if (!c->subject_file == !c->subject_url) {
		ocikp_errorf(ctx, "credentials file %s: credential_source needs either \"file\" or "
			     "\"url\"", c->file);
		return OCIKP_CONFIG;
	}
	if (c->subject_file && c->subject_file[0] != '/') {
		ocikp_errorf(ctx, "credentials file %s: credential_source.file must be an absolute "
			     "path", c->file);
		return OCIKP_CONFIG;
	}
	ftype = jstr(ctx, fmt, "type");
	if (ftype && !strcmp(ftype, "json")) {
		c->subject_field = jstr(ctx, fmt, "subject_token_field_name");
		if (!c->subject_field)
			return field_missing(ctx, c, "format.subject_token_field_name");
	} else if (ftype && strcmp(ftype, "text")) {
		ocikp_errorf(ctx, "credentials file %s: credential_source.format.type must be "
			     "\"text\" or \"json\"", c->file);
		return OCIKP_CONFIG;
	}
	return c->subject_url ? load_headers(ctx, c, x->json_get(cs, "headers")) : OCIKP_OK;
}

/* service_account_impersonation.token_lifetime_seconds: IAM takes 600..43200. */
static int load_lifetime(struct ocikp_ctx *ctx, struct gcp_cred *c)
{
	const struct ocikp_host *x = ctx->host;
	const ocikp_json *n = x->json_get(x->json_get(c->obj, "service_account_impersonation"),
					  "token_lifetime_seconds");
	const char *lit;
	char *end;
	long v;

	if (x->json_type(n) == OCIKP_JSON_ABSENT)
		return OCIKP_OK;
	lit = x->json_type(n) == OCIKP_JSON_NUMBER ? x->json_number(n) : "";
	errno = 0;
	v = strtol(lit, &end, 10);
	if (!*lit || *end || errno || v < 600 || v > 43200) {
		ocikp_errorf(ctx, "credentials file %s: token_lifetime_seconds must be a whole "
			     "number from 600 to 43200", c->file);
		return OCIKP_CONFIG;
	}
	c->lifetime_s = v;
	return OCIKP_OK;
}

static int load_external(struct ocikp_ctx *ctx, const struct gcpkms_opts *o, struct gcp_cred *c)
{
	const char *audience, *s, *wpup;
	int rc;

	if ((rc = need(ctx, c, c->obj, "audience", &audience)) != OCIKP_OK ||
	    (rc = need(ctx, c, c->obj, "subject_token_type", &s)) != OCIKP_OK ||
	    (rc = load_source(ctx, c, ctx->host->json_get(c->obj, "credential_source"))) !=
		    OCIKP_OK ||
	    (rc = load_lifetime(ctx, c)) != OCIKP_OK)
		return rc;
	c->imp_url = jstr(ctx, c->obj, "service_account_impersonation_url");
	wpup = jstr(ctx, c->obj, "workforce_pool_user_project");
	if (wpup && !strstr(audience, "/workforcePools/")) {
		ocikp_errorf(ctx, "credentials file %s: workforce_pool_user_project is only for "
			     "workforce pools", c->file);
		return OCIKP_CONFIG;
	}
	/* The project a workforce identity bills, when the file names no other. */
	if (!c->quota_project)
		c->quota_project = wpup;
	snprintf(c->desc, sizeof(c->desc), "external_account (%s-sourced%s)",
		 c->subject_file ? "file" : "url", c->imp_url ? ", impersonating" : "");
	return set_endpoint(ctx, c, o->sts_endpoint, jstr(ctx, c->obj, "token_url"),
			    GCP_STS_ENDPOINT);
}

static int load_type(struct ocikp_ctx *ctx, const struct gcpkms_opts *o, struct gcp_cred *c,
		     bool source);

/* The account's e-mail from ".../serviceAccounts/EMAIL:generateAccessToken". */
static void target_of(const char *url, char *out, size_t size)
{
	const char *p = strstr(url, "/serviceAccounts/");
	size_t n;

	if (!p) {
		snprintf(out, size, "?");
		return;
	}
	p += strlen("/serviceAccounts/");
	n = strcspn(p, ":/?#");
	snprintf(out, size, "%.*s", (int)(n < size ? n : size - 1), p);
}

static int load_impersonated(struct ocikp_ctx *ctx, const struct gcpkms_opts *o,
			     struct gcp_cred *c)
{
	const struct ocikp_host *x = ctx->host;
	const ocikp_json *src = x->json_get(c->obj, "source_credentials"), *d;
	char target[128], who[100];
	size_t i;
	int rc;

	if ((rc = need(ctx, c, c->obj, "service_account_impersonation_url", &c->imp_url)) !=
	    OCIKP_OK)
		return rc;
	d = x->json_get(c->obj, "delegates");
	if (x->json_type(d) == OCIKP_JSON_ARRAY) {
		for (i = 0; i < x->json_array_len(d); i++)
			if (!x->json_string(x->json_array_at(d, i)))
				break;
		if (i == x->json_array_len(d))
			c->delegates = i ? d : NULL;
	}
	if (x->json_type(d) != OCIKP_JSON_ABSENT && x->json_type(d) != OCIKP_JSON_NULL &&
	    !c->delegates && !(x->json_type(d) == OCIKP_JSON_ARRAY && !x->json_array_len(d))) {
		ocikp_errorf(ctx, "credentials file %s: delegates must be an array of strings",
			     c->file);
		return OCIKP_CONFIG;
	}
	if (x->json_type(src) != OCIKP_JSON_OBJECT)
		return field_missing(ctx, c, "source_credentials");
	c->source = calloc(1, sizeof(*c->source));
	if (!c->source || !(c->source->file = strdup(c->file)))
		return oom(ctx);
	c->source->obj = src;
	c->source->host = ctx->host;
	rc = load_type(ctx, o, c->source, true);
	if (rc != OCIKP_OK)
		return rc;
	target_of(c->imp_url, target, sizeof(target));
	printable(who, sizeof(who), target, 80);
	snprintf(c->desc, sizeof(c->desc), "impersonated_service_account %s via %s", who,
		 type_names[c->source->type]);
	c->endpoint = strdup(c->imp_url);
	return c->endpoint ? OCIKP_OK : oom(ctx);
}

/* Dispatch on "type"; a source (of an impersonated_service_account) may only
 * be a service_account or an authorized_user. */
static int load_type(struct ocikp_ctx *ctx, const struct gcpkms_opts *o, struct gcp_cred *c,
		     bool source)
{
	const char *type = jstr(ctx, c->obj, "type");

	c->quota_project = jstr(ctx, c->obj, "quota_project_id");
	if (type && !strcmp(type, "service_account")) {
		c->type = CRED_SERVICE_ACCOUNT;
		return load_service_account(ctx, o, c);
	}
	if (type && !strcmp(type, "authorized_user")) {
		c->type = CRED_AUTHORIZED_USER;
		return load_authorized_user(ctx, o, c);
	}
	if (type && !source && !strcmp(type, "external_account")) {
		c->type = CRED_EXTERNAL;
		return load_external(ctx, o, c);
	}
	if (type && !source && !strcmp(type, "impersonated_service_account")) {
		c->type = CRED_IMPERSONATED;
		return load_impersonated(ctx, o, c);
	}
	if (!type)
		ocikp_errorf(ctx, "credentials file %s: %sno \"type\"", c->file,
			     source ? "source_credentials has " : "");
	else
		ocikp_errorf(ctx, "credentials file %s: unsupported %scredential type %s%s%s",
			     c->file, source ? "source_credentials " : "",
			     plain_word(type) ? "'" : "", plain_word(type) ? type : "(unknown)",
			     plain_word(type) ? "'" : "");
	return OCIKP_CONFIG;
}

int cred_parse_file(struct ocikp_ctx *ctx, const struct gcpkms_opts *o, const char *path,
		    const void *raw, size_t len, struct gcp_cred **out)
{
	const struct ocikp_host *x = ctx->host;
	struct gcp_cred *c;
	char what[PATH_MAX + 32];
	char host[128];
	int rc;

	c = calloc(1, sizeof(*c));
	if (!c || !(c->file = strdup(path))) {
		free(c);
		return oom(ctx);
	}
	c->host = ctx->host;
	snprintf(what, sizeof(what), "credentials file %s", path);
	rc = x->json_parse(ctx, what, raw, len, &c->doc);
	if (rc != OCIKP_OK && rc != OCIKP_INTERNAL)
		rc = OCIKP_CONFIG;
	if (rc == OCIKP_OK && x->json_type(c->doc) != OCIKP_JSON_OBJECT) {
		ocikp_errorf(ctx, "credentials file %s: not a JSON object", path);
		rc = OCIKP_CONFIG;
	}
	if (rc == OCIKP_OK) {
		c->obj = c->doc;
		rc = load_type(ctx, o, c, false);
	}
	if (rc != OCIKP_OK) {
		cred_free(ctx, c);
		return rc;
	}
	ocikp_debugf(ctx, "credentials: %s, tokens from %s", c->desc,
		     url_host(c->endpoint, host, sizeof(host)));
	*out = c;
	return OCIKP_OK;
}

static int load_file(struct ocikp_ctx *ctx, const struct gcpkms_opts *o, const char *path,
		     const char *why, struct gcp_cred **out)
{
	struct ocikp_buf raw = { 0 };
	int rc;

	ocikp_debugf(ctx, "credentials: %s names %s", why, path);
	rc = ctx->host->read_private_file(ctx, "credentials file", path, GCP_CRED_MAX, &raw);
	if (rc == OCIKP_OK)
		rc = cred_parse_file(ctx, o, path, raw.data, raw.len, out);
	ctx->host->buf_free(&raw);
	return rc;
}

/* gcloud's file: $CLOUDSDK_CONFIG, else ~/.config/gcloud (as gcloud itself). */
static bool well_known(char *path, size_t size)
{
	const char *dir = secure_getenv("CLOUDSDK_CONFIG"), *home;
	struct passwd pw, *res = NULL;
	char pwbuf[4096];
	int n;

	if (dir && *dir)
		n = snprintf(path, size, "%s/application_default_credentials.json", dir);
	else {
		home = secure_getenv("HOME");
		if ((!home || !*home) && getpwuid_r(geteuid(), &pw, pwbuf, sizeof(pwbuf), &res) == 0 &&
		    res)
			home = res->pw_dir;
		if (!home || !*home)
			return false;
		n = snprintf(path, size, "%s/.config/gcloud/application_default_credentials.json",
			     home);
	}
	return n > 0 && (size_t)n < size;
}

static int load_metadata(struct ocikp_ctx *ctx, const struct gcpkms_opts *o,
			 struct gcp_cred **out)
{
	struct gcp_cred *c = calloc(1, sizeof(*c));
	const char *host = o->metadata_host ? o->metadata_host : GCP_METADATA_HOST;

	if (!c || !(c->file = strdup("(metadata server)")) || !(c->endpoint = strdup(host))) {
		cred_free(ctx, c);
		return oom(ctx);
	}
	c->type = CRED_METADATA;
	c->host = ctx->host;
	snprintf(c->desc, sizeof(c->desc), "metadata server %.100s", host);
	ocikp_debugf(ctx, "credentials: no credentials file, the metadata server at %s", host);
	*out = c;
	return OCIKP_OK;
}

static int cred_find(struct ocikp_ctx *ctx, const struct gcpkms_opts *o, struct gcp_cred **out)
{
	const char *env;
	char path[PATH_MAX];
	struct stat st;

	*out = NULL;
	if (o->credentials)
		return load_file(ctx, o, o->credentials, "gcpkms.credentials", out);
	env = secure_getenv("GOOGLE_APPLICATION_CREDENTIALS");
	if (env && *env)
		return load_file(ctx, o, env, "GOOGLE_APPLICATION_CREDENTIALS", out);
	if (well_known(path, sizeof(path))) {
		/* lstat: a symlink is read_private_file's to refuse, not ours to skip. */
		if (lstat(path, &st) == 0)
			return load_file(ctx, o, path, "gcloud's well-known file", out);
		if (errno != ENOENT && errno != ENOTDIR) {
			ocikp_errorf(ctx, "credentials file %s: %s", path, strerror(errno));
			return OCIKP_CONFIG;
		}
		ocikp_debugf(ctx, "credentials: no %s", path);
	}
	return load_metadata(ctx, o, out);
}

/* A project ID or number (6-30 of a-z 0-9 -) or an organization-style
 * "domain:id": what may go into a header, nothing more. */
static bool project_ok(const char *p)
{
	size_t n = strlen(p);

	return n >= 1 && n <= 64 && strspn(p, "abcdefghijklmnopqrstuvwxyz0123456789-.:") == n;
}

/* The credentials ADC finds, then GOOGLE_CLOUD_QUOTA_PROJECT, which bills
 * another project than the file's quota_project_id, as Google's client
 * libraries do. */
int cred_load(struct ocikp_ctx *ctx, const struct gcpkms_opts *o, struct gcp_cred **out)
{
	const char *q = secure_getenv("GOOGLE_CLOUD_QUOTA_PROJECT");
	int rc;

	if (q && *q && !project_ok(q)) {
		*out = NULL;
		ocikp_errorf(ctx, "GOOGLE_CLOUD_QUOTA_PROJECT is not a project ID");
		return OCIKP_CONFIG;
	}
	rc = cred_find(ctx, o, out);
	if (rc == OCIKP_OK && q && *q)
		(*out)->quota_project = q;
	return rc;
}

void cred_free(struct ocikp_ctx *ctx, struct gcp_cred *c)
{
	if (!c)
		return;
	cred_free(ctx, c->source);
	ctx->host->json_free(c->doc);	/* wipes every node: the secrets go with it */
	free(c->file);
	free(c->endpoint);
	free(c);
}

const char *cred_describe(const struct gcp_cred *c)
{
	return c ? c->desc : "no credentials";
}

const char *cred_quota_project(const struct gcp_cred *c)
{
	return c ? c->quota_project : NULL;
}

/* ---- identity --------------------------------------------------------------- */

static void feed(EVP_MD_CTX *md, int *ok, const char *s)
{
	if (!s)
		s = "";
	*ok = *ok && EVP_DigestUpdate(md, s, strlen(s) + 1) == 1;	/* with its NUL */
}

static void to_hex(const unsigned char *d, size_t n, char *hex)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		hex[2 * i] = digits[d[i] >> 4];
		hex[2 * i + 1] = digits[d[i] & 15];
	}
	hex[2 * n] = '\0';
}

/* A string member, for cred_identity, which has no ctx: through the host
 * table the credential was loaded with. */
static const char *js(const struct gcp_cred *c, const char *key)
{
	return c->host->json_string(c->host->json_get(c->obj, key));
}

static void identity_parts(EVP_MD_CTX *md, int *ok, const struct gcp_cred *c)
{
	unsigned char d[32];
	char hex[65];
	size_t i;

	feed(md, ok, type_names[c->type]);
	switch (c->type) {
	case CRED_SERVICE_ACCOUNT:
		feed(md, ok, js(c, "client_email"));
		break;
	case CRED_AUTHORIZED_USER: {
		const char *rt = js(c, "refresh_token");
		feed(md, ok, js(c, "client_id"));
		/* gcloud's client_id is everyone's: the refresh token tells users
		 * apart, entered only as its digest. */
		*ok = *ok && EVP_Digest(rt, strlen(rt), d, NULL, EVP_sha256(), NULL) == 1;
		to_hex(d, sizeof(d), hex);
		feed(md, ok, hex);
		OPENSSL_cleanse(d, sizeof(d));
		OPENSSL_cleanse(hex, sizeof(hex));
		break;
	}
	case CRED_EXTERNAL:
		feed(md, ok, js(c, "audience"));
		feed(md, ok, js(c, "subject_token_type"));
		feed(md, ok, c->subject_file ? c->subject_file : c->subject_url);
		feed(md, ok, c->subject_field);
		feed(md, ok, js(c, "workforce_pool_user_project"));
		feed(md, ok, js(c, "client_id"));
		feed(md, ok, c->imp_url);
		break;
	case CRED_IMPERSONATED:
		feed(md, ok, c->imp_url);
		for (i = 0; c->delegates && i < c->host->json_array_len(c->delegates); i++)
			feed(md, ok, c->host->json_string(c->host->json_array_at(c->delegates, i)));
		feed(md, ok, "source");
		identity_parts(md, ok, c->source);
		break;
	case CRED_METADATA:
		break;
	}
	feed(md, ok, c->endpoint);	/* token endpoint, STS, IAM URL or metadata host */
}

void cred_identity(const struct gcp_cred *c, char hex[65])
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned char d[32];
	unsigned n = 0;
	int ok = md != NULL;

	hex[0] = '\0';
	ok = ok && EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1;
	feed(md, &ok, "v1");
	if (c)
		identity_parts(md, &ok, c);
	feed(md, &ok, GCP_SCOPE);
	ok = ok && EVP_DigestFinal_ex(md, d, &n) == 1 && n == sizeof(d);
	EVP_MD_CTX_free(md);
	if (ok)
		to_hex(d, sizeof(d), hex);
}

/* ---- parsing a token answer ------------------------------------------------- */

/* expires_in: a positive whole number of seconds (a JSON number; a string of
 * digits is tolerated), a fraction dropped. */
static bool expires_in(struct ocikp_ctx *ctx, const ocikp_json *n, long long *out)
{
	const struct ocikp_host *x = ctx->host;
	const char *s = x->json_type(n) == OCIKP_JSON_NUMBER ? x->json_number(n) :
			x->json_string(n);
	size_t k;

	if (!s)
		return false;
	k = strspn(s, "0123456789");
	if (k == 0 || k > 9 || (s[k] && (s[k] != '.' || strspn(s + k + 1, "0123456789") !=
						      strlen(s + k + 1))))
		return false;
	*out = strtoll(s, NULL, 10);
	return *out > 0 && *out <= GCP_TOKEN_LIFETIME_MAX;
}

static int bad_answer(struct ocikp_ctx *ctx, ocikp_json *doc, const char *what, const char *why)
{
	ctx->host->json_free(doc);
	ocikp_errorf(ctx, "%s: %s", what, why);
	return OCIKP_UNAVAILABLE;
}

/*
 * A token endpoint answering 2xx with something unusable is a service
 * fault, like an answer cut short: OCIKP_UNAVAILABLE, as lib/http says of
 * an oversize one.
 */
int cred_parse_token(struct ocikp_ctx *ctx, const char *what, const void *body, size_t len,
		     long long now, struct ocikp_buf *tok, long long *expires_at)
{
	const struct ocikp_host *x = ctx->host;
	const ocikp_json *t, *type;
	const char *s;
	ocikp_json *doc = NULL;
	long long exp, in;
	bool iam = false;
	size_t n, i;
	int rc;

	if (!what)
		what = "token endpoint";
	if (!body || !len)
		return bad_answer(ctx, NULL, what, "empty answer");
	if (len > HTTP_MAX_BODY)
		return bad_answer(ctx, NULL, what, "answer too large");
	rc = x->json_parse(ctx, what, body, len, &doc);
	if (rc != OCIKP_OK)
		return rc == OCIKP_INTERNAL ? rc : OCIKP_UNAVAILABLE;
	if (x->json_type(doc) != OCIKP_JSON_OBJECT)
		return bad_answer(ctx, doc, what, "answer is not a JSON object");
	t = x->json_get(doc, "access_token");
	if (!t) {
		t = x->json_get(doc, "accessToken");
		iam = t != NULL;
	}
	s = x->json_string(t);
	n = x->json_string_len(t);
	if (!s || !n)
		return bad_answer(ctx, doc, what, "answer has no access token");
	if (n > GCP_TOKEN_MAX)
		return bad_answer(ctx, doc, what, "access token too long");
	for (i = 0; i < n; i++)
		if (s[i] <= 0x20 || s[i] >= 0x7f)
			return bad_answer(ctx, doc, what,
					  "access token holds characters a header cannot carry");
	type = x->json_get(doc, "token_type");
	if (type && (!x->json_string(type) || strcasecmp(x->json_string(type), "Bearer")))
		return bad_answer(ctx, doc, what, "token_type is not Bearer");
	if (iam) {
		s = x->json_string(x->json_get(doc, "expireTime"));
		if (!s)
			return bad_answer(ctx, doc, what, "answer has no expireTime");
		if (!rfc3339_parse(s, &exp))
			return bad_answer(ctx, doc, what, "expireTime is not an RFC 3339 time");
		if (exp <= now)
			return bad_answer(ctx, doc, what, "expireTime is in the past");
		if (exp - now > EXPIRE_TIME_MAX)	/* a clock behind ours: trust it less */
			exp = now + EXPIRE_TIME_MAX;
	} else {
		if (!x->json_get(doc, "expires_in"))
			return bad_answer(ctx, doc, what, "answer has no expires_in");
		if (!expires_in(ctx, x->json_get(doc, "expires_in"), &in))
			return bad_answer(ctx, doc, what, "expires_in is not a positive number of "
					  "seconds up to a day");
		exp = now + in;
	}
	rc = put(ctx, tok, x->json_string(t), n);
	x->json_free(doc);
	if (rc == OCIKP_OK)
		*expires_at = exp;
	return rc;
}

/* ---- requests ---------------------------------------------------------------- */

void cred_error_gist(struct ocikp_ctx *ctx, const struct http_resp *r, char *out, size_t size)
{
	const struct ocikp_host *x = ctx->host;
	const ocikp_json *e;
	const char *code = NULL, *msg = NULL;
	char c[80], m[DESC_MAX + 8];
	ocikp_json *doc = NULL;

	snprintf(out, size, "HTTP %ld", r->status);
	/* Parse quietly: a non-JSON body must not leave its own error line. */
	if (!r->body.len || r->body.data[0] != '{' ||
	    x->json_parse(ctx, "error answer", r->body.data, r->body.len, &doc) != OCIKP_OK)
		return;
	e = x->json_get(doc, "error");
	if (x->json_type(e) == OCIKP_JSON_STRING) {
		code = x->json_string(e);
		msg = x->json_string(x->json_get(doc, "error_description"));
	} else if (x->json_type(e) == OCIKP_JSON_OBJECT) {
		code = x->json_string(x->json_get(e, "status"));
		msg = x->json_string(x->json_get(e, "message"));
	}
	if (code && plain_word(code)) {
		printable(c, sizeof(c), code, 64);
		if (msg && *msg) {
			printable(m, sizeof(m), msg, DESC_MAX);
			snprintf(out, size, "%s: %s", c, m);
		} else {
			snprintf(out, size, "%s", c);
		}
	}
	x->json_free(doc);
}

/* Map a non-2xx answer of a token source: refused credentials (400, 401,
 * 403) and a wrong endpoint (404, any other 4xx) are the configuration's. */
static int refused(struct ocikp_ctx *ctx, const struct http_req *req,
		   const struct http_resp *r, const char *who)
{
	char gist[DESC_MAX + 100];

	if (r->status == 400 || r->status == 401 || r->status == 403) {
		cred_error_gist(ctx, r, gist, sizeof(gist));
		ocikp_errorf(ctx, "%s refused the credentials: %s", who, gist);
		return OCIKP_CONFIG;
	}
	if (r->status == 404)
		return http_fail(ctx, req, r, OCIKP_CONFIG, "not found: is the endpoint right?");
	return http_fail(ctx, req, r, OCIKP_CONFIG, NULL);
}

/* One request for a token; its answer appended to tok.  body NULL: GET. */
static int token_request(struct ocikp_ctx *ctx, const struct http_opts *ho, const char *who,
			 const char *url, const char *const *headers,
			 const struct ocikp_buf *body, const char *ctype, struct ocikp_buf *tok,
			 long long *expires_at)
{
	struct http_req req = { .method = body ? "POST" : "GET", .url = url, .headers = headers,
				.content_type = ctype };
	struct http_resp r = { 0 };
	char host[128];
	int rc;

	if (body) {
		req.body = body->data;
		req.body_len = body->len;
	}
	ocikp_debugf(ctx, "credentials: token from %s at %s", who,
		     url_host(url, host, sizeof(host)));
	rc = cred_http(ctx, ho, &req, &r);
	if (rc == OCIKP_OK && (r.status < 200 || r.status > 299))
		rc = refused(ctx, &req, &r, who);
	else if (rc == OCIKP_OK)
		rc = cred_parse_token(ctx, who, r.body.data, r.body.len, (long long)time(NULL), tok,
				      expires_at);
	http_resp_free(ctx, &r);
	return rc;
}

/* "Name: value" headers in one cleansing buffer, and pointers into it. */
struct hdrs {
	struct ocikp_buf text;
	const char *ptr[8];
};

static int hdr_add(struct ocikp_ctx *ctx, struct hdrs *h, const char *name, const char *v1,
		   const char *v2)
{
	int rc = puts_(ctx, &h->text, name);

	if (rc == OCIKP_OK)
		rc = puts_(ctx, &h->text, ": ");
	if (rc == OCIKP_OK)
		rc = puts_(ctx, &h->text, v1);
	if (rc == OCIKP_OK && v2)
		rc = puts_(ctx, &h->text, v2);
	if (rc == OCIKP_OK)
		rc = put(ctx, &h->text, "", 1);	/* each ends in its NUL */
	return rc;
}

/* Point ptr at each header of text (the buffer no longer moves). */
static const char *const *hdr_list(struct hdrs *h)
{
	size_t off = 0, k = 0;

	while (off < h->text.len && k + 1 < sizeof(h->ptr) / sizeof(h->ptr[0])) {
		h->ptr[k++] = (const char *)h->text.data + off;
		off += strlen((const char *)h->text.data + off) + 1;
	}
	h->ptr[k] = NULL;
	return h->ptr;
}

static void hdr_free(struct ocikp_ctx *ctx, struct hdrs *h)
{
	ctx->host->buf_free(&h->text);
}

/* ---- the token sources -------------------------------------------------------- */

static int service_account_token(struct ocikp_ctx *ctx, const struct gcpkms_opts *o,
				 const struct gcp_cred *c, const char *scope,
				 struct ocikp_buf *tok, long long *exp)
{
	const struct ocikp_host *x = ctx->host;
	const ocikp_json *pk = x->json_get(c->obj, "private_key");
	struct ocikp_buf claims = { 0 }, jwt = { 0 }, body = { 0 };
	long long now = (long long)time(NULL);
	ocikp_jgen *g = x->jgen_new();
	int rc;

	if (!g)
		return oom(ctx);
	x->jgen_map_open(g);
	x->jgen_key(g, "iss");
	x->jgen_string(g, jstr(ctx, c->obj, "client_email"), strlen(jstr(ctx, c->obj, "client_email")));
	x->jgen_key(g, "scope");
	x->jgen_string(g, scope, strlen(scope));
	x->jgen_key(g, "aud");
	x->jgen_string(g, c->endpoint, strlen(c->endpoint));
	x->jgen_key(g, "iat");
	x->jgen_int(g, now);
	x->jgen_key(g, "exp");
	x->jgen_int(g, now + JWT_LIFETIME_S);
	x->jgen_map_close(g);
	rc = x->jgen_finish(g, &claims);
	if (rc != OCIKP_OK) {
		ocikp_errorf(ctx, "credentials file %s: client_email is not a valid string", c->file);
		rc = OCIKP_CONFIG;
	}
	if (rc == OCIKP_OK)
		rc = jwt_rs256(ctx, x->json_string(pk), x->json_string_len(pk),
			       jstr(ctx, c->obj, "private_key_id"), &claims, &jwt);
	if (rc == OCIKP_OK)
		rc = form(ctx, &body, "grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer");
	if (rc == OCIKP_OK)
		rc = form(ctx, &body, "assertion", (const char *)jwt.data);
	if (rc == OCIKP_OK)
		rc = token_request(ctx, &o->http, "token endpoint", c->endpoint, NULL, &body, NULL,
				   tok, exp);
	x->buf_free(&claims);
	x->buf_free(&jwt);
	x->buf_free(&body);
	return rc;
}

static int authorized_user_token(struct ocikp_ctx *ctx, const struct gcpkms_opts *o,
				 const struct gcp_cred *c, struct ocikp_buf *tok, long long *exp)
{
	struct ocikp_buf body = { 0 };
	int rc;

	/* No scope: a refresh grant keeps the scopes the user consented to
	 * (gcloud asks for cloud-platform), and Google refuses others. */
	rc = form(ctx, &body, "grant_type", "refresh_token");
	if (rc == OCIKP_OK)
		rc = form(ctx, &body, "client_id", jstr(ctx, c->obj, "client_id"));
	if (rc == OCIKP_OK)
		rc = form(ctx, &body, "client_secret", jstr(ctx, c->obj, "client_secret"));
	if (rc == OCIKP_OK)
		rc = form(ctx, &body, "refresh_token", jstr(ctx, c->obj, "refresh_token"));
	if (rc == OCIKP_OK)
		rc = token_request(ctx, &o->http, "token endpoint", c->endpoint, NULL, &body, NULL,
				   tok, exp);
	ctx->host->buf_free(&body);
	return rc;
}

/* The subject token file: a rotated bearer token another agent writes
 * (lib/tokenfile.h tells the policy and why). */
static int read_subject_file(struct ocikp_ctx *ctx, const char *path, struct ocikp_buf *out)
{
	return token_file_read(ctx, "subject token file", path, GCP_CRED_MAX, out);
}

static int subject_from_url(struct ocikp_ctx *ctx, const struct gcpkms_opts *o,
			    const struct gcp_cred *c, struct ocikp_buf *out)
{
	const struct ocikp_host *x = ctx->host;
	struct http_opts ho = o->http;
	struct http_req req = { .method = "GET", .url = c->subject_url };
	struct http_resp r = { 0 };
	struct hdrs h = { 0 };
	const ocikp_json *hs = c->subject_headers;
	size_t i, n = hs ? x->json_object_len(hs) : 0;
	int rc = OCIKP_OK;

	if (n > 7) {
		ocikp_errorf(ctx, "credentials file %s: more than 7 credential_source.headers",
			     c->file);
		return OCIKP_CONFIG;
	}
	for (i = 0; i < n && rc == OCIKP_OK; i++)
		rc = hdr_add(ctx, &h, x->json_object_key_at(hs, i),
			     x->json_string(x->json_object_value_at(hs, i)), NULL);
	/* Instance metadata (Azure IMDS at 169.254.169.254) speaks plain http;
	 * lib/http allows it to loopback and link-local addresses only. */
	ho.flags |= HTTP_PLAIN_LOCAL;
	req.headers = hdr_list(&h);
	if (rc == OCIKP_OK)
		rc = cred_http(ctx, &ho, &req, &r);
	if (rc == OCIKP_OK && (r.status < 200 || r.status > 299))
		rc = http_fail(ctx, &req, &r, OCIKP_CONFIG, "the subject token source refused");
	if (rc == OCIKP_OK)
		rc = put(ctx, out, r.body.data, r.body.len);
	http_resp_free(ctx, &r);
	hdr_free(ctx, &h);
	return rc;
}

int cred_subject_parse(struct ocikp_ctx *ctx, const struct gcp_cred *c, const void *raw,
		       size_t len, struct ocikp_buf *out)
{
	const struct ocikp_host *x = ctx->host;
	const unsigned char *p = raw;
	ocikp_json *doc = NULL;
	const char *where = c->subject_file ? c->subject_file : "credential_source.url";
	const char *s;
	char what[PATH_MAX + 32];
	size_t n;
	int rc = OCIKP_OK;

	if (c->subject_field) {
		snprintf(what, sizeof(what), "subject token from %s", where);
		rc = x->json_parse(ctx, what, raw, len, &doc);
		if (rc != OCIKP_OK && rc != OCIKP_INTERNAL)
			rc = OCIKP_CONFIG;
		s = x->json_string(x->json_get(doc, c->subject_field));
		n = x->json_string_len(x->json_get(doc, c->subject_field));
		if (rc == OCIKP_OK && (!s || !n)) {
			ocikp_errorf(ctx, "subject token from %s: no string field named by "
				     "subject_token_field_name", where);
			rc = OCIKP_CONFIG;
		}
		if (rc == OCIKP_OK)
			rc = put(ctx, out, s, n);
	} else {
		/* Text: a trailing newline (echo > file) is not part of the token. */
		n = len;
		while (n && strchr(" \t\r\n", p[n - 1]))
			n--;
		if (!n) {
			ocikp_errorf(ctx, "subject token from %s: empty", where);
			rc = OCIKP_CONFIG;
		} else {
			rc = put(ctx, out, p, n);
		}
	}
	x->json_free(doc);
	return rc;
}

/* The subject token from its source, as text or the named field of a JSON
 * object. */
static int subject_token(struct ocikp_ctx *ctx, const struct gcpkms_opts *o,
			 const struct gcp_cred *c, struct ocikp_buf *out)
{
	struct ocikp_buf raw = { 0 };
	int rc;

	rc = c->subject_file ? read_subject_file(ctx, c->subject_file, &raw) :
			       subject_from_url(ctx, o, c, &raw);
	if (rc == OCIKP_OK)
		rc = cred_subject_parse(ctx, c, raw.data, raw.len, out);
	ctx->host->buf_free(&raw);
	return rc;
}

/* IAM credentials generateAccessToken with a bearer token: the final,
 * Cloud KMS-scoped token of the impersonated account. */
static int impersonate(struct ocikp_ctx *ctx, const struct gcpkms_opts *o,
		       const struct gcp_cred *c, const struct ocikp_buf *bearer,
		       struct ocikp_buf *tok, long long *exp)
{
	const struct ocikp_host *x = ctx->host;
	struct ocikp_buf body = { 0 };
	struct hdrs h = { 0 };
	ocikp_jgen *g = x->jgen_new();
	char lifetime[32];
	int rc;

	if (!g)
		return oom(ctx);
	x->jgen_map_open(g);
	x->jgen_key(g, "scope");
	x->jgen_array_open(g);
	x->jgen_string(g, GCP_SCOPE, strlen(GCP_SCOPE));
	x->jgen_array_close(g);
	if (c->delegates) {
		x->jgen_key(g, "delegates");
		x->jgen_value(g, c->delegates);
	}
	if (c->lifetime_s) {
		snprintf(lifetime, sizeof(lifetime), "%lds", c->lifetime_s);
		x->jgen_key(g, "lifetime");
		x->jgen_string(g, lifetime, strlen(lifetime));
	}
	x->jgen_map_close(g);
	rc = x->jgen_finish(g, &body);
	if (rc != OCIKP_OK) {
		ocikp_errorf(ctx, "credentials file %s: delegates are not valid strings", c->file);
		rc = OCIKP_CONFIG;
	}
	if (rc == OCIKP_OK)
		rc = hdr_add(ctx, &h, "Authorization", "Bearer ", (const char *)bearer->data);
	if (rc == OCIKP_OK)
		rc = token_request(ctx, &o->http, "IAM credentials", c->imp_url, hdr_list(&h), &body,
				   "application/json", tok, exp);
	hdr_free(ctx, &h);
	x->buf_free(&body);
	return rc;
}

/* RFC 8693 token exchange at STS, then impersonation if the file asks. */
static int external_token(struct ocikp_ctx *ctx, const struct gcpkms_opts *o,
			  const struct gcp_cred *c, struct ocikp_buf *tok, long long *exp)
{
	const struct ocikp_host *x = ctx->host;
	struct ocikp_buf subject = { 0 }, body = { 0 }, sts = { 0 }, basic = { 0 }, opts = { 0 };
	const char *id = jstr(ctx, c->obj, "client_id"), *secret = jstr(ctx, c->obj, "client_secret");
	const char *wpup = jstr(ctx, c->obj, "workforce_pool_user_project");
	struct hdrs h = { 0 };
	long long sts_exp;
	int rc;

	rc = subject_token(ctx, o, c, &subject);
	if (rc == OCIKP_OK)
		rc = form(ctx, &body, "grant_type", "urn:ietf:params:oauth:grant-type:token-exchange");
	if (rc == OCIKP_OK)
		rc = form(ctx, &body, "audience", jstr(ctx, c->obj, "audience"));
	/* Impersonating: the STS token only calls IAM credentials, which wants
	 * cloud-platform. */
	if (rc == OCIKP_OK)
		rc = form(ctx, &body, "scope", c->imp_url ? GCP_IAM_SCOPE : GCP_SCOPE);
	if (rc == OCIKP_OK)
		rc = form(ctx, &body, "requested_token_type",
			  "urn:ietf:params:oauth:token-type:access_token");
	if (rc == OCIKP_OK)
		rc = form(ctx, &body, "subject_token", (const char *)subject.data);
	if (rc == OCIKP_OK)
		rc = form(ctx, &body, "subject_token_type", jstr(ctx, c->obj, "subject_token_type"));
	/* A workforce pool bills its user project, unless the client
	 * authenticates (then the client's project is billed). */
	if (rc == OCIKP_OK && wpup && !id) {
		ocikp_jgen *g = x->jgen_new();
		if (g) {
			x->jgen_map_open(g);
			x->jgen_key(g, "userProject");
			x->jgen_string(g, wpup, strlen(wpup));
			x->jgen_map_close(g);
		}
		rc = x->jgen_finish(g, &opts);
		if (rc == OCIKP_OK)
			rc = form(ctx, &body, "options", (const char *)opts.data);
	}
	/* Client authentication (RFC 6749 §2.3.1: Basic, both parts as is). */
	if (rc == OCIKP_OK && id && secret) {
		struct ocikp_buf pair = { 0 };

		rc = puts_(ctx, &pair, id);
		if (rc == OCIKP_OK)
			rc = put(ctx, &pair, ":", 1);
		if (rc == OCIKP_OK)
			rc = puts_(ctx, &pair, secret);
		if (rc == OCIKP_OK && x->b64_encode(pair.data, pair.len, 0, &basic) != OCIKP_OK)
			rc = oom(ctx);
		if (rc == OCIKP_OK)
			rc = hdr_add(ctx, &h, "Authorization", "Basic ", (const char *)basic.data);
		x->buf_free(&pair);
	}
	if (rc == OCIKP_OK)
		rc = token_request(ctx, &o->http, "STS", c->endpoint, h.text.len ? hdr_list(&h) : NULL,
				   &body, NULL, c->imp_url ? &sts : tok, c->imp_url ? &sts_exp : exp);
	if (rc == OCIKP_OK && c->imp_url)
		rc = impersonate(ctx, o, c, &sts, tok, exp);
	x->buf_free(&subject);
	x->buf_free(&body);
	x->buf_free(&sts);
	x->buf_free(&basic);
	x->buf_free(&opts);
	hdr_free(ctx, &h);
	return rc;
}

static int impersonated_token(struct ocikp_ctx *ctx, const struct gcpkms_opts *o,
			      const struct gcp_cred *c, struct ocikp_buf *tok, long long *exp)
{
	struct ocikp_buf src = { 0 };
	long long src_exp;
	int rc;

	rc = c->source->type == CRED_SERVICE_ACCOUNT ?
		     service_account_token(ctx, o, c->source, GCP_IAM_SCOPE, &src, &src_exp) :
		     authorized_user_token(ctx, o, c->source, &src, &src_exp);
	if (rc == OCIKP_OK)
		rc = impersonate(ctx, o, c, &src, tok, exp);
	ctx->host->buf_free(&src);
	return rc;
}

static int metadata_token(struct ocikp_ctx *ctx, const struct gcpkms_opts *o,
			  const struct gcp_cred *c, struct ocikp_buf *tok, long long *exp)
{
	static const char *const hdr[] = { "Metadata-Flavor: Google", NULL };
	struct http_opts ho = o->http;
	char url[384];
	int rc;

	/* The metadata server speaks plain http on a link-local address (or
	 * its fixed name); lib/http holds it to those. */
	ho.flags |= HTTP_PLAIN_LOCAL;
	if (snprintf(url, sizeof(url), "http://%s" METADATA_PATH "?scopes=" GCP_SCOPE,
		     c->endpoint) >= (int)sizeof(url)) {
		ocikp_errorf(ctx, "metadata host too long");
		return OCIKP_CONFIG;
	}
	rc = token_request(ctx, &ho, "metadata server", url, hdr, NULL, NULL, tok, exp);
	/* Off Google Cloud this is where ADC ends up: say what was looked
	 * for, not only that a link-local address did not answer (lib/http's
	 * reason is in the --verbose lines). */
	if (rc == OCIKP_UNAVAILABLE)
		ocikp_errorf(ctx, "no credentials: no gcpkms.credentials (--adc=), "
			     "GOOGLE_APPLICATION_CREDENTIALS or gcloud application default "
			     "credentials file, and the metadata server at %.100s did not answer "
			     "(not on Google Cloud?)", c->endpoint);
	return rc;
}

int cred_fetch_token(struct ocikp_ctx *ctx, const struct gcpkms_opts *o, struct gcp_cred *c,
		     struct ocikp_buf *tok, long long *expires_at)
{
	switch (c->type) {
	case CRED_SERVICE_ACCOUNT:
		return service_account_token(ctx, o, c, GCP_SCOPE, tok, expires_at);
	case CRED_AUTHORIZED_USER:
		return authorized_user_token(ctx, o, c, tok, expires_at);
	case CRED_EXTERNAL:
		return external_token(ctx, o, c, tok, expires_at);
	case CRED_IMPERSONATED:
		return impersonated_token(ctx, o, c, tok, expires_at);
	case CRED_METADATA:
		return metadata_token(ctx, o, c, tok, expires_at);
	}
	ocikp_errorf(ctx, "credentials: unknown type");
	return OCIKP_INTERNAL;
}
