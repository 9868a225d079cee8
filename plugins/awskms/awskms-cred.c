/*
 * Credentials, in the order of the AWS SDK for Go v2's default chain:
 *   1. the environment: AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY
 *      [+ AWS_SESSION_TOKEN];
 *   2. web identity: AWS_WEB_IDENTITY_TOKEN_FILE + AWS_ROLE_ARN
 *      [+ AWS_ROLE_SESSION_NAME] -> STS AssumeRoleWithWebIdentity (EKS IRSA);
 *   3. the shared files: profile PROFILE in the credentials file
 *      (awskms.credentials_file, AWS_SHARED_CREDENTIALS_FILE,
 *      ~/.aws/credentials, section [PROFILE]) and the config file
 *      (AWS_CONFIG_FILE, ~/.aws/config, [profile PROFILE], [default]):
 *      keys, or role_arn with source_profile (-> STS AssumeRole signed by
 *      the source profile's credentials, itself keys or a role; at most
 *      AWS_ROLE_CHAIN_MAX + 1 roles, a cycle refused; role_session_name,
 *      external_id, duration_seconds honoured) or with
 *      web_identity_token_file (-> AssumeRoleWithWebIdentity);
 *   4. container credentials, 5. IMDSv2 (awskms-meta.c).
 * A drop-in naming awskms.profile or awskms.credentials_file pins the
 * shared files alone: 1, 2, 4 and 5 are skipped.  PROFILE: awskms.profile,
 * else AWS_PROFILE, else "default".  Both files are read with the host's
 * read_private_file (mode 0600 or 0400).  credential_process is refused
 * outright: ocikp runs no command a credentials file names; so are SSO
 * profiles and credential_source.  STS credentials are cached
 * (awskms-sts.c).
 */
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/crypto.h>
#include "awskms.h"

static const char *env(const char *name)
{
	const char *v = secure_getenv(name);

	return v && *v ? v : NULL;
}

void cred_free(struct ocikp_ctx *ctx, struct aws_cred *c)
{
	ctx->host->buf_free(&c->akid);
	ctx->host->buf_free(&c->secret);
	ctx->host->buf_free(&c->token);
}

/* A key ID goes into the Authorization header: printable, no separators. */
static int akid_ok(const struct ocikp_buf *b)
{
	return b->len >= 4 && b->len <= 128 &&
	       strspn((const char *)b->data, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789") == b->len;
}

int cred_check(struct ocikp_ctx *ctx, struct aws_cred *c)
{
	size_t i;

	if (!akid_ok(&c->akid)) {
		ocikp_errorf(ctx, "%s: the access key ID is malformed", c->source);
		return OCIKP_CONFIG;
	}
	if (!c->secret.len) {
		ocikp_errorf(ctx, "%s: an access key ID without a secret access key", c->source);
		return OCIKP_CONFIG;
	}
	for (i = 0; i < c->token.len; i++)
		if (c->token.data[i] < 0x21 || c->token.data[i] > 0x7e) {
			ocikp_errorf(ctx, "%s: the session token is malformed", c->source);
			return OCIKP_CONFIG;
		}
	return OCIKP_OK;
}

static int from_env(struct ocikp_ctx *ctx, struct aws_cred *c)
{
	const struct ocikp_host *h = ctx->host;
	const char *id = env("AWS_ACCESS_KEY_ID"), *sec = env("AWS_SECRET_ACCESS_KEY");
	const char *tok = env("AWS_SESSION_TOKEN");

	snprintf(c->source, sizeof(c->source), "environment");
	if (!id) {
		if (sec)
			ocikp_debugf(ctx, "AWS_SECRET_ACCESS_KEY without AWS_ACCESS_KEY_ID: ignored");
		return OCIKP_NOT_MINE;
	}
	h->buf_append(&c->akid, id, strlen(id));
	if (sec)
		h->buf_append(&c->secret, sec, strlen(sec));
	if (tok)
		h->buf_append(&c->token, tok, strlen(tok));
	return cred_check(ctx, c);
}

static int skip_ws(int ch)
{
	return ch == ' ' || ch == '\t' || ch == '\r';
}

/* The trimmed span [*b, *e) of the line at p (ending at '\n' or NUL). */
static const char *line_span(const char *p, const char **b, const char **e)
{
	const char *end = p + strcspn(p, "\n");

	while (p < end && skip_ws(*p))
		p++;
	*b = p;
	while (end > p && skip_ws(end[-1]))
		end--;
	*e = end;
	p = *e + strcspn(*e, "\n");
	return *p ? p + 1 : p;
}

int ini_get(struct ocikp_ctx *ctx, const char *text, const char *section, const char *key,
	    struct ocikp_buf *out)
{
	const char *p = text, *b, *e, *eq, *ke, *vb;
	size_t sl = strlen(section), kl = strlen(key);
	int in = 0;

	while (*p) {
		p = line_span(p, &b, &e);
		if (b == e || *b == '#' || *b == ';')
			continue;
		if (*b == '[') {
			/* "[ name ]": blanks inside the brackets do not count */
			const char *nb = b + 1, *ne = e - 1;

			while (nb < ne && skip_ws(*nb))
				nb++;
			while (ne > nb && skip_ws(ne[-1]))
				ne--;
			in = e[-1] == ']' && (size_t)(ne - nb) == sl && !memcmp(nb, section, sl);
			continue;
		}
		eq = memchr(b, '=', (size_t)(e - b));
		if (!in || !eq)
			continue;
		for (ke = eq; ke > b && skip_ws(ke[-1]); ke--)
			;
		if ((size_t)(ke - b) != kl || strncasecmp(b, key, kl) != 0)
			continue;
		for (vb = eq + 1; vb < e && skip_ws(*vb); vb++)
			;
		ctx->host->buf_free(out);
		ctx->host->buf_append(out, vb, (size_t)(e - vb));
		return 1;
	}
	(void)ctx;
	return 0;
}

/* ~/.aws/NAME, from HOME or the password database. */
static int home_file(const char *name, char *path, size_t n)
{
	const char *home = env("HOME");
	struct passwd pw, *res = NULL;
	char buf[4096];

	if (!home && getpwuid_r(geteuid(), &pw, buf, sizeof(buf), &res) == 0 && res)
		home = pw.pw_dir;
	if (!home || home[0] != '/')
		return 0;
	return snprintf(path, n, "%s/.aws/%s", home, name) < (int)n;
}

/* Read one shared file: a configured one must load; a default one may be absent. */
static int read_shared(struct ocikp_ctx *ctx, const char *what, const char *configured,
		       const char *dflt_name, struct ocikp_buf *out)
{
	char path[4096];
	struct stat st;

	if (configured)
		return ctx->host->read_private_file(ctx, what, configured, AWS_FILE_MAX, out);
	if (!home_file(dflt_name, path, sizeof(path)) || stat(path, &st) != 0)
		return OCIKP_NOT_MINE;
	return ctx->host->read_private_file(ctx, what, path, AWS_FILE_MAX, out);
}

/* Keys from one section of one file; NOT_MINE if it holds none. */
static int from_section(struct ocikp_ctx *ctx, const char *text, const char *section,
			const char *file, struct aws_cred *c)
{
	if (!text || !ini_get(ctx, text, section, "aws_access_key_id", &c->akid))
		return OCIKP_NOT_MINE;
	ini_get(ctx, text, section, "aws_secret_access_key", &c->secret);
	ini_get(ctx, text, section, "aws_session_token", &c->token);
	snprintf(c->source, sizeof(c->source), "%s [%.40s]", file, section);
	return cred_check(ctx, c);
}

static void config_section(const char *profile, char *s, size_t n)
{
	if (!strcmp(profile, "default"))
		snprintf(s, n, "default");
	else
		snprintf(s, n, "profile %s", profile);
}

int cred_profile_region(struct ocikp_ctx *ctx, const struct awskms_opts *o,
			char region[AWS_REGION_MAX])
{
	struct ocikp_buf text = { 0 }, v = { 0 };
	char section[64];
	int rc = read_shared(ctx, "AWS config file", o->config_file, "config", &text);

	region[0] = '\0';
	if (rc == OCIKP_NOT_MINE)
		return OCIKP_OK;
	config_section(o->profile, section, sizeof(section));
	if (rc == OCIKP_OK && ini_get(ctx, (const char *)text.data, section, "region", &v)) {
		if (!awskms_region_ok((const char *)v.data)) {
			ocikp_errorf(ctx, "AWS config file [%s]: region is malformed", section);
			rc = OCIKP_CONFIG;
		} else {
			strcpy(region, (const char *)v.data);
		}
	}
	ctx->host->buf_free(&text);
	ctx->host->buf_free(&v);
	return rc;
}

/* ---- the shared files' profiles ---- */

struct shared {
	struct ocikp_buf cred, conf;	/* the files' text; len 0: absent */
	struct sts_role roles[AWS_ROLE_CHAIN_MAX + 1];	/* applied from [0] */
	size_t nroles;
	char seen[AWS_ROLE_CHAIN_MAX + 2][49];	/* the profiles on the way */
};

static const char *text_of(const struct ocikp_buf *b)
{
	return b->len ? (const char *)b->data : NULL;
}

/* key of profile name: the credentials file's [name], else the config
 * file's [profile name] ([default]); into out, 1 found. */
static int prof_get(struct ocikp_ctx *ctx, const struct shared *s, const char *name,
		    const char *key, struct ocikp_buf *out)
{
	char section[64];

	config_section(name, section, sizeof(section));
	return (text_of(&s->cred) && ini_get(ctx, text_of(&s->cred), name, key, out)) ||
	       (text_of(&s->conf) && ini_get(ctx, text_of(&s->conf), section, key, out));
}

/* key into dst (n bytes) if set; a value too long for it is OCIKP_CONFIG. */
static int prof_str(struct ocikp_ctx *ctx, const struct shared *s, const char *name,
		    const char *key, char *dst, size_t n)
{
	struct ocikp_buf v = { 0 };
	int rc = OCIKP_OK;

	if (prof_get(ctx, s, name, key, &v)) {
		if (v.len >= n || !v.len) {
			ocikp_errorf(ctx, "AWS profile %.48s: %s is empty or too long", name, key);
			rc = OCIKP_CONFIG;
		} else {
			memcpy(dst, v.data, v.len + 1);
		}
	}
	ctx->host->buf_free(&v);
	return rc;
}

static int role_of(struct ocikp_ctx *ctx, const struct shared *s, const char *name,
		   struct sts_role *r)
{
	char dur[16] = "", *end;
	int rc;

	memset(r, 0, sizeof(*r));
	snprintf(r->what, sizeof(r->what), "profile %.48s", name);
	snprintf(r->session, sizeof(r->session), "%s", AWS_SESSION_DEFAULT);
	rc = prof_str(ctx, s, name, "role_arn", r->role_arn, sizeof(r->role_arn));
	if (rc == OCIKP_OK)
		rc = prof_str(ctx, s, name, "role_session_name", r->session, sizeof(r->session));
	if (rc == OCIKP_OK)
		rc = prof_str(ctx, s, name, "external_id", r->external_id, sizeof(r->external_id));
	if (rc == OCIKP_OK)
		rc = prof_str(ctx, s, name, "duration_seconds", dur, sizeof(dur));
	if (rc == OCIKP_OK && dur[0]) {
		r->duration = strtol(dur, &end, 10);
		if (*end || r->duration < 900 || r->duration > 43200) {
			ocikp_errorf(ctx, "AWS profile %.48s: duration_seconds must be 900 to 43200", name);
			rc = OCIKP_CONFIG;
		}
	}
	if (rc == OCIKP_OK && !sts_session_ok(r->session)) {
		ocikp_errorf(ctx, "AWS profile %.48s: role_session_name must be 2 to 64 of A-Za-z0-9+=,.@_-",
			     name);
		rc = OCIKP_CONFIG;
	}
	return rc;
}

/* Static keys of profile name: the credentials file's, else the config file's. */
static int prof_keys(struct ocikp_ctx *ctx, const struct shared *s, const char *name,
		     struct aws_cred *c)
{
	char section[64];
	int rc = from_section(ctx, text_of(&s->cred), name, "AWS credentials file", c);

	config_section(name, section, sizeof(section));
	if (rc == OCIKP_NOT_MINE)
		rc = from_section(ctx, text_of(&s->conf), section, "AWS config file", c);
	return rc;
}

/* Profile name: its keys into base, or its roles appended to s->roles
 * (the source's first).  NOT_MINE: the profile holds no credentials. */
static int resolve(struct ocikp_ctx *ctx, struct shared *s, const char *name, size_t depth,
		   struct aws_cred *base)
{
	struct ocikp_buf v = { 0 }, src = { 0 };
	struct sts_role *r;
	size_t i;
	int rc;

	for (i = 0; i < depth; i++)
		if (!strcmp(s->seen[i], name)) {
			ocikp_errorf(ctx, "AWS profile %.48s: source_profile makes a cycle", name);
			return OCIKP_CONFIG;
		}
	if (depth > AWS_ROLE_CHAIN_MAX) {
		ocikp_errorf(ctx, "AWS profile %.48s: more than %d roles chained by source_profile",
			     s->seen[0], AWS_ROLE_CHAIN_MAX + 1);
		return OCIKP_CONFIG;
	}
	snprintf(s->seen[depth], sizeof(s->seen[depth]), "%s", name);
	if (prof_get(ctx, s, name, "credential_process", &v)) {
		ctx->host->buf_free(&v);
		ocikp_errorf(ctx, "AWS profile %.48s: credential_process is not supported (ocikp runs no command a credentials file names)",
			     name);
		return OCIKP_CONFIG;
	}
	if (prof_get(ctx, s, name, "sso_session", &v) || prof_get(ctx, s, name, "sso_start_url", &v)) {
		ctx->host->buf_free(&v);
		ocikp_errorf(ctx, "AWS profile %.48s: SSO profiles are not supported; give keys or a role",
			     name);
		return OCIKP_CONFIG;
	}
	if (!prof_get(ctx, s, name, "role_arn", &v))
		return prof_keys(ctx, s, name, base);
	ctx->host->buf_free(&v);

	r = &s->roles[s->nroles];	/* filled now, counted once its source is in */
	if (prof_get(ctx, s, name, "source_profile", &src)) {
		if (strpbrk((const char *)src.data, "[]\n\r") || src.len > 48 || !src.len) {
			ocikp_errorf(ctx, "AWS profile %.48s: source_profile is malformed", name);
			rc = OCIKP_CONFIG;
		} else if (!strcmp((const char *)src.data, name)) {
			rc = prof_keys(ctx, s, name, base);	/* its own keys sign */
		} else {
			rc = resolve(ctx, s, (const char *)src.data, depth + 1, base);
		}
		if (rc == OCIKP_NOT_MINE) {
			ocikp_errorf(ctx, "AWS profile %.48s: its source_profile %.48s holds no credentials",
				     name, (const char *)src.data);
			rc = OCIKP_CONFIG;
		}
		r = &s->roles[s->nroles];
		if (rc == OCIKP_OK)
			rc = role_of(ctx, s, name, r);
	} else if (prof_get(ctx, s, name, "web_identity_token_file", &v)) {
		ctx->host->buf_free(&v);
		rc = role_of(ctx, s, name, r);
		if (rc == OCIKP_OK)
			rc = prof_str(ctx, s, name, "web_identity_token_file", r->token_file,
				      sizeof(r->token_file));
	} else if (prof_get(ctx, s, name, "credential_source", &v)) {
		ctx->host->buf_free(&v);
		ocikp_errorf(ctx, "AWS profile %.48s: credential_source is not supported; use source_profile",
			     name);
		rc = OCIKP_CONFIG;
	} else {
		ocikp_errorf(ctx, "AWS profile %.48s: role_arn needs source_profile or web_identity_token_file",
			     name);
		rc = OCIKP_CONFIG;
	}
	ctx->host->buf_free(&src);
	if (rc == OCIKP_OK)
		s->nroles++;
	return rc;
}

static int from_shared(struct ocikp_ctx *ctx, const struct awskms_opts *o,
		       const struct aws_cred *stale, struct aws_cred *c)
{
	struct shared *s = calloc(1, sizeof(*s));
	struct aws_cred base = { 0 };
	int rc;

	if (!s) {
		ocikp_errorf(ctx, "out of memory");
		return OCIKP_INTERNAL;
	}
	rc = read_shared(ctx, "AWS credentials file", o->credentials_file, "credentials", &s->cred);
	if (rc == OCIKP_OK || rc == OCIKP_NOT_MINE)
		rc = read_shared(ctx, "AWS config file", o->config_file, "config", &s->conf);
	if (rc == OCIKP_OK || rc == OCIKP_NOT_MINE)
		rc = resolve(ctx, s, o->profile, 0, &base);
	if (rc == OCIKP_OK && s->nroles)
		rc = sts_assume_chain(ctx, o, s->roles[0].token_file[0] ? NULL : &base, s->roles,
				      s->nroles, stale, c);
	else if (rc == OCIKP_OK)
		*c = base, memset(&base, 0, sizeof(base));
	cred_free(ctx, &base);
	ctx->host->buf_free(&s->cred);
	ctx->host->buf_free(&s->conf);
	OPENSSL_cleanse(s, sizeof(*s));
	free(s);
	return rc;
}

/* AWS_WEB_IDENTITY_TOKEN_FILE + AWS_ROLE_ARN [+ AWS_ROLE_SESSION_NAME]. */
static int from_web_identity(struct ocikp_ctx *ctx, const struct awskms_opts *o,
			     const struct aws_cred *stale, struct aws_cred *c)
{
	const char *file = env("AWS_WEB_IDENTITY_TOKEN_FILE"), *arn = env("AWS_ROLE_ARN");
	const char *sn = env("AWS_ROLE_SESSION_NAME");
	struct sts_role r = { 0 };

	if (!file || !arn) {
		if (file || arn)
			ocikp_debugf(ctx, "%s without %s: no web identity",
				     file ? "AWS_WEB_IDENTITY_TOKEN_FILE" : "AWS_ROLE_ARN",
				     file ? "AWS_ROLE_ARN" : "AWS_WEB_IDENTITY_TOKEN_FILE");
		return OCIKP_NOT_MINE;
	}
	if (strlen(arn) >= sizeof(r.role_arn) || strlen(file) >= sizeof(r.token_file) ||
	    (sn && !sts_session_ok(sn))) {
		ocikp_errorf(ctx, "AWS_ROLE_ARN, AWS_WEB_IDENTITY_TOKEN_FILE or AWS_ROLE_SESSION_NAME is malformed");
		return OCIKP_CONFIG;
	}
	strcpy(r.role_arn, arn);
	strcpy(r.token_file, file);
	snprintf(r.session, sizeof(r.session), "%s", sn ? sn : AWS_SESSION_DEFAULT);
	snprintf(r.what, sizeof(r.what), "web identity");
	return sts_assume_chain(ctx, o, NULL, &r, 1, stale, c);
}

/* ---- the credential cache (lib/credcache): STS, container and IMDS ---- */

/* The cached value: "AKID\nSECRET\nTOKEN" (none of them holds a newline:
 * cred_check allows no control character in any). */
static int cred_value(struct ocikp_ctx *ctx, const struct aws_cred *c, struct ocikp_buf *out)
{
	const struct ocikp_host *h = ctx->host;

	h->buf_append(out, c->akid.data, c->akid.len);
	h->buf_append(out, "\n", 1);
	h->buf_append(out, c->secret.data, c->secret.len);
	h->buf_append(out, "\n", 1);
	return h->buf_append(out, c->token.data, c->token.len);
}

/* A value not of that form (another version's, a bad file) is NOT_MINE. */
static int cred_from_value(struct ocikp_ctx *ctx, const struct ocikp_buf *v, struct aws_cred *c)
{
	const struct ocikp_host *h = ctx->host;
	const char *a = (const char *)v->data, *b = strchr(a, '\n'), *t = b ? strchr(b + 1, '\n') : NULL;

	if (!t || strchr(t + 1, '\n'))
		return OCIKP_NOT_MINE;
	h->buf_append(&c->akid, a, (size_t)(b - a));
	h->buf_append(&c->secret, b + 1, (size_t)(t - b - 1));
	h->buf_append(&c->token, t + 1, strlen(t + 1));
	if (cred_check(ctx, c) != OCIKP_OK) {
		ocikp_error_clear(ctx);
		cred_free(ctx, c);
		return OCIKP_NOT_MINE;
	}
	return OCIKP_OK;
}

struct cred_fetch {
	cred_fetch_fn fetch;
	void *arg;
};

/* credcache's fetch: the source's credentials as a value. */
static int value_fetch(struct ocikp_ctx *ctx, void *arg, struct ocikp_buf *out,
		       long long *expires_at)
{
	struct cred_fetch *f = arg;
	struct aws_cred c = { 0 };
	int rc = f->fetch(ctx, f->arg, &c);

	if (rc == OCIKP_OK)
		rc = cred_value(ctx, &c, out);
	*expires_at = c.expires_at;
	cred_free(ctx, &c);
	return rc;
}

int cred_cached(struct ocikp_ctx *ctx, const char *prefix, const char *id,
		const struct aws_cred *stale, cred_fetch_fn fetch, void *arg, struct aws_cred *c,
		int *fetched)
{
	struct cred_fetch f = { fetch, arg };
	struct ocikp_buf v = { 0 }, sv = { 0 };
	int rc = OCIKP_OK, tries;

	if (stale)
		rc = cred_value(ctx, stale, &sv);
	for (tries = 0; rc == OCIKP_OK; tries++) {
		rc = credcache_get(ctx, awskms_credcache(ctx), prefix, id, AWS_CRED_MARGIN_S,
				   sv.len ? &sv : NULL, value_fetch, &f, &v, &c->expires_at, fetched);
		if (rc != OCIKP_OK || cred_from_value(ctx, &v, c) == OCIKP_OK)
			break;
		if (tries) {
			ocikp_errorf(ctx, "cached AWS credentials: malformed");
			rc = OCIKP_INTERNAL;
			break;
		}
		/* not of the form we write: dropped like a refused value, fetched anew */
		ctx->host->buf_free(&sv);
		sv = v;
		memset(&v, 0, sizeof(v));
	}
	ctx->host->buf_free(&v);
	ctx->host->buf_free(&sv);
	return rc;
}

/* Container credentials and IMDS (awskms-meta.c), through the cache. */
struct meta_src {
	const struct awskms_opts *o;
	int (*get)(struct ocikp_ctx *, const struct awskms_opts *, struct aws_cred *, int *);
	char source[64];
};

static int meta_fetch(struct ocikp_ctx *ctx, void *arg, struct aws_cred *c)
{
	struct meta_src *m = arg;
	int found = 0, rc = m->get(ctx, m->o, c, &found);

	if (rc == OCIKP_OK && !found)
		rc = OCIKP_NOT_MINE;	/* IMDS did not answer: not on EC2 */
	snprintf(m->source, sizeof(m->source), "%s", c->source);
	return rc;
}

/* kind "container" or "imds"; where: what names the source (its URL and
 * token file, or the IMDS endpoint), never a token. */
static int from_meta(struct ocikp_ctx *ctx, const struct awskms_opts *o,
		     const struct aws_cred *stale, const char *kind, const char *const *where,
		     size_t n, int (*get)(struct ocikp_ctx *, const struct awskms_opts *,
					  struct aws_cred *, int *),
		     struct aws_cred *c)
{
	struct meta_src m = { o, get, "" };
	const char *parts[5] = { kind };
	char id[65];
	size_t i;
	int fetched = 0, rc;

	for (i = 0; i < n && i + 1 < sizeof(parts) / sizeof(parts[0]); i++)
		parts[i + 1] = where[i];
	credcache_identity(parts, i + 1, id);
	rc = cred_cached(ctx, kind, id, stale, meta_fetch, &m, c, &fetched);
	if (rc == OCIKP_OK)
		snprintf(c->source, sizeof(c->source), "%.50s%s", fetched ? m.source : kind,
			 fetched ? "" : " (cached)");
	return rc;
}

static int from_container(struct ocikp_ctx *ctx, const struct awskms_opts *o,
			  const struct aws_cred *stale, struct aws_cred *c)
{
	const char *where[] = { env("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"),
				env("AWS_CONTAINER_CREDENTIALS_FULL_URI"),
				env("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE") };

	if (!where[0] && !where[1])
		return OCIKP_NOT_MINE;
	return from_meta(ctx, o, stale, "container", where, 3, meta_container_cred, c);
}

static int from_imds(struct ocikp_ctx *ctx, const struct awskms_opts *o,
		     const struct aws_cred *stale, struct aws_cred *c)
{
	const char *where[] = { o->imds_endpoint, o->imds_ipv6 ? "ipv6" : "ipv4" };

	if (o->imds_disabled)
		return OCIKP_NOT_MINE;
	return from_meta(ctx, o, stale, "imds", where, 2, meta_imds_cred, c);
}

static int chain(struct ocikp_ctx *ctx, const struct awskms_opts *o, const struct aws_cred *stale,
		 struct aws_cred *c)
{
	int rc = OCIKP_NOT_MINE;

	memset(c, 0, sizeof(*c));
	if (!o->pinned)
		rc = from_env(ctx, c);
	if (rc == OCIKP_NOT_MINE && !o->pinned)
		rc = from_web_identity(ctx, o, stale, c);
	if (rc == OCIKP_NOT_MINE)
		rc = from_shared(ctx, o, stale, c);
	/* then container credentials and IMDSv2 (awskms-meta.c), unless pinned */
	if (rc == OCIKP_NOT_MINE && !o->pinned)
		rc = from_container(ctx, o, stale, c);
	if (rc == OCIKP_NOT_MINE && !o->pinned)
		rc = from_imds(ctx, o, stale, c);
	if (rc == OCIKP_NOT_MINE) {
		ocikp_errorf(ctx, "no AWS credentials: none in the environment, no web identity, nothing for profile %.48s in the shared files, no container credentials, no IMDS",
			     o->profile);
		rc = OCIKP_CONFIG;
	}
	if (rc == OCIKP_OK)
		ocikp_debugf(ctx, "AWS credentials from %s%s", c->source,
			     c->token.len ? " (temporary)" : "");
	else
		cred_free(ctx, c);
	return rc;
}

int cred_load(struct ocikp_ctx *ctx, const struct awskms_opts *o, struct aws_cred *c)
{
	return chain(ctx, o, NULL, c);
}

int cred_reload(struct ocikp_ctx *ctx, const struct awskms_opts *o, struct aws_cred *c)
{
	struct aws_cred stale = *c;
	int rc;

	memset(c, 0, sizeof(*c));
	rc = chain(ctx, o, &stale, c);
	cred_free(ctx, &stale);
	return rc;
}
