/* The gcpkms backend (placeholder, being written). */
#include "gcpkms.h"

static int gcpkms_wrap(struct ocikp_ctx *ctx, const char *param, const struct ocikp_buf *optsdata,
		       struct ocikp_buf *annotation)
{
	(void)param; (void)optsdata; (void)annotation;
	ocikp_errorf(ctx, "not implemented yet");
	return OCIKP_INTERNAL;
}

static int gcpkms_unwrap(struct ocikp_ctx *ctx, const ocikp_json *ann, const char *const *dc,
			 struct ocikp_buf *optsdata)
{
	(void)ann; (void)dc; (void)optsdata;
	ocikp_errorf(ctx, "not implemented yet");
	return OCIKP_INTERNAL;
}

static const char *const gcpkms_schemes[] = { "gcpkms", NULL };

OCIKP_EXPORT const struct ocikp_backend ocikp_backend_v1 = {
	.abi = OCIKP_BACKEND_ABI,
	.size = sizeof(struct ocikp_backend),
	.name = "gcpkms",
	.version = PACKAGE_VERSION,
	.schemes = gcpkms_schemes,
	.wrap = gcpkms_wrap,
	.unwrap = gcpkms_unwrap,
};
