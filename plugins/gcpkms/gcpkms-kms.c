/* Cloud KMS :encrypt / :decrypt (placeholder, being written). */
#include "gcpkms.h"

int kms_encrypt(struct ocikp_ctx *ctx, const struct gcpkms_opts *o, struct gcp_cred *c,
		const char *name, const struct ocikp_buf *plain, struct ocikp_buf *cipher)
{
	(void)o; (void)c; (void)name; (void)plain; (void)cipher;
	ocikp_errorf(ctx, "kms: not implemented yet");
	return OCIKP_INTERNAL;
}

int kms_decrypt(struct ocikp_ctx *ctx, const struct gcpkms_opts *o, struct gcp_cred *c,
		const char *name, const struct ocikp_buf *cipher, struct ocikp_buf *plain)
{
	(void)o; (void)c; (void)name; (void)plain; (void)cipher;
	ocikp_errorf(ctx, "kms: not implemented yet");
	return OCIKP_INTERNAL;
}
