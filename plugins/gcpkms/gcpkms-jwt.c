/* RS256 JWTs (placeholder until the credential work lands). */
#include "gcpkms.h"

int jwt_rs256(struct ocikp_ctx *ctx, const char *pem, size_t pem_len, const char *kid,
	      const struct ocikp_buf *claims, struct ocikp_buf *out)
{
	(void)pem; (void)pem_len; (void)kid; (void)claims; (void)out;
	ocikp_errorf(ctx, "jwt: not implemented yet");
	return OCIKP_INTERNAL;
}
