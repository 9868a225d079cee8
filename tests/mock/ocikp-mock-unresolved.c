/*
 * A backend for the loader tests that is not fully linked: wrap calls a
 * function no library provides.  Built without -z now, so a lazy dlopen
 * would accept it and the process would die at the first wrap (exit 127);
 * the host must refuse it at load, naming the symbol.
 */
#include "ocikp/backend.h"

/* Defined nowhere. */
int ocikp_mock_missing_function(struct ocikp_ctx *ctx);

static int unresolved_wrap(struct ocikp_ctx *ctx, const char *param,
			   const struct ocikp_buf *optsdata, struct ocikp_buf *out)
{
	return ocikp_mock_missing_function(ctx);
}

static int unresolved_unwrap(struct ocikp_ctx *ctx, const ocikp_json *ann,
			     const char *const *dc, struct ocikp_buf *out)
{
	return ocikp_mock_missing_function(ctx);
}

static const char *const unresolved_schemes[] = { "mock", NULL };

OCIKP_EXPORT const struct ocikp_backend ocikp_backend_v1 = {
	.abi = OCIKP_BACKEND_ABI,
	.size = sizeof(struct ocikp_backend),
	.name = "unresolved",
	.version = "test",
	.schemes = unresolved_schemes,
	.wrap = unresolved_wrap,
	.unwrap = unresolved_unwrap,
};
