/* Placeholder until the JWE code lands (another branch writes it). */
#include "kbs.h"

int kbs_tee_key_new(struct ocikp_ctx *ctx, enum kbs_tee_alg alg, struct kbs_tee_key **out)
{
	(void)alg;
	*out = NULL;
	ocikp_errorf(ctx, "kbs: TEE keys are not built yet");
	return OCIKP_UNAVAILABLE;
}

void kbs_tee_key_free(struct kbs_tee_key *k)
{
	(void)k;
}

int kbs_tee_key_jwk(struct ocikp_ctx *ctx, const struct kbs_tee_key *k, struct ocikp_buf *out)
{
	(void)k; (void)out;
	ocikp_errorf(ctx, "kbs: TEE keys are not built yet");
	return OCIKP_UNAVAILABLE;
}

int kbs_jwe_open(struct ocikp_ctx *ctx, const struct kbs_tee_key *k, const void *jwe, size_t len,
		 struct ocikp_buf *plain)
{
	(void)k; (void)jwe; (void)len; (void)plain;
	ocikp_errorf(ctx, "kbs: JWE is not built yet");
	return OCIKP_UNAVAILABLE;
}
