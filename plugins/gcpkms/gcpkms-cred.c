/* Application Default Credentials (placeholder until the credential work lands). */
#include "gcpkms.h"

int cred_load(struct ocikp_ctx *ctx, const struct gcpkms_opts *o, struct gcp_cred **out)
{
	(void)o;
	*out = NULL;
	ocikp_errorf(ctx, "credentials: not implemented yet");
	return OCIKP_INTERNAL;
}

void cred_free(struct ocikp_ctx *ctx, struct gcp_cred *c) { (void)ctx; (void)c; }
void cred_identity(const struct gcp_cred *c, char hex[65]) { (void)c; hex[0] = 0; }
const char *cred_describe(const struct gcp_cred *c) { (void)c; return "none"; }
const char *cred_quota_project(const struct gcp_cred *c) { (void)c; return NULL; }

int cred_fetch_token(struct ocikp_ctx *ctx, const struct gcpkms_opts *o, struct gcp_cred *c,
		     struct ocikp_buf *tok, long long *expires_at)
{
	(void)o; (void)c; (void)tok; (void)expires_at;
	ocikp_errorf(ctx, "credentials: not implemented yet");
	return OCIKP_INTERNAL;
}

int cred_parse_token(struct ocikp_ctx *ctx, const char *what, const void *body, size_t len,
		     long long now, struct ocikp_buf *tok, long long *expires_at)
{
	(void)what; (void)body; (void)len; (void)now; (void)tok; (void)expires_at;
	ocikp_errorf(ctx, "credentials: not implemented yet");
	return OCIKP_INTERNAL;
}
