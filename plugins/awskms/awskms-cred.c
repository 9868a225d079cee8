/*
 * Credentials, in the order of the AWS SDK for Go v2's default chain, as
 * far as this build goes:
 *   1. the environment: AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY
 *      [+ AWS_SESSION_TOKEN] (skipped when a drop-in pins a profile or file);
 *   2. the shared credentials file (awskms.credentials_file,
 *      AWS_SHARED_CREDENTIALS_FILE, ~/.aws/credentials), section [PROFILE];
 *   3. the shared config file (AWS_CONFIG_FILE, ~/.aws/config), section
 *      [profile PROFILE] ([default] for the default profile);
 *   4. container credentials, then 5. IMDSv2 (awskms-meta.c), unless a
 *      drop-in pins a profile or file.
 * PROFILE: awskms.profile, else AWS_PROFILE, else "default".  Both files
 * are read with the host's read_private_file (mode 0600 or 0400).
 * A profile with role_arn (STS) is refused as not supported yet;
 * credential_process is refused outright: ocikp runs no command a
 * credentials file names.
 */
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
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
	const struct ocikp_host *h = ctx->host;
	struct ocikp_buf v = { 0 };

	if (ini_get(ctx, text, section, "credential_process", &v)) {
		h->buf_free(&v);
		ocikp_errorf(ctx, "%s [%.60s]: credential_process is not supported (ocikp runs no command a credentials file names)",
			     file, section);
		return OCIKP_CONFIG;
	}
	if (!ini_get(ctx, text, section, "aws_access_key_id", &c->akid)) {
		if (ini_get(ctx, text, section, "role_arn", &v) ||
		    ini_get(ctx, text, section, "web_identity_token_file", &v) ||
		    ini_get(ctx, text, section, "sso_session", &v) ||
		    ini_get(ctx, text, section, "sso_start_url", &v)) {
			h->buf_free(&v);
			ocikp_errorf(ctx, "%s [%.60s]: role and SSO profiles are not supported yet; give keys",
				     file, section);
			return OCIKP_CONFIG;
		}
		return OCIKP_NOT_MINE;
	}
	ini_get(ctx, text, section, "aws_secret_access_key", &c->secret);
	ini_get(ctx, text, section, "aws_session_token", &c->token);
	snprintf(c->source, sizeof(c->source), "%s [%.40s]", file, section);
	return cred_check(ctx, c);
}

static void config_section(const struct awskms_opts *o, char *s, size_t n)
{
	if (!strcmp(o->profile, "default"))
		snprintf(s, n, "default");
	else
		snprintf(s, n, "profile %s", o->profile);
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
	config_section(o, section, sizeof(section));
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

int cred_load(struct ocikp_ctx *ctx, const struct awskms_opts *o, struct aws_cred *c)
{
	const struct ocikp_host *h = ctx->host;
	struct ocikp_buf text = { 0 };
	char section[64];
	int rc = OCIKP_NOT_MINE, found = 0;

	memset(c, 0, sizeof(*c));
	if (!o->pinned)
		rc = from_env(ctx, c);
	if (rc == OCIKP_NOT_MINE) {
		rc = read_shared(ctx, "AWS credentials file", o->credentials_file, "credentials", &text);
		if (rc == OCIKP_OK)
			rc = from_section(ctx, (const char *)text.data, o->profile,
					  "AWS credentials file", c);
		h->buf_free(&text);
	}
	if (rc == OCIKP_NOT_MINE) {
		rc = read_shared(ctx, "AWS config file", o->config_file, "config", &text);
		config_section(o, section, sizeof(section));
		if (rc == OCIKP_OK)
			rc = from_section(ctx, (const char *)text.data, section, "AWS config file", c);
		h->buf_free(&text);
	}
	if (rc == OCIKP_NOT_MINE && !o->pinned &&
	    (rc = meta_container_cred(ctx, o, c, &found)) == OCIKP_OK && !found)
		rc = OCIKP_NOT_MINE;
	if (rc == OCIKP_NOT_MINE && !o->pinned &&
	    (rc = meta_imds_cred(ctx, o, c, &found)) == OCIKP_OK && !found)
		rc = OCIKP_NOT_MINE;
	if (rc == OCIKP_NOT_MINE) {
		ocikp_errorf(ctx, "no AWS credentials: none in the environment, nor for profile %.48s in the shared files",
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
