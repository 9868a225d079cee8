/* Token cache (placeholder until the cache work lands): always fetches. */
#include "gcpkms.h"

int token_get(struct ocikp_ctx *ctx, const struct gcpkms_opts *o, struct gcp_cred *c,
	      const struct ocikp_buf *stale, struct ocikp_buf *tok)
{
	long long exp;

	(void)stale;
	return cred_fetch_token(ctx, o, c, tok, &exp);
}
