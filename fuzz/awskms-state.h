/* The awskms targets link the module's files but not its descriptor
 * (ocikp-awskms.c), which holds the module state: no connection pool and
 * no memory copy of the credential cache (both may be NULL). */
#ifndef OCIKP_FUZZ_AWSKMS_STATE_H
#define OCIKP_FUZZ_AWSKMS_STATE_H
#include "awskms.h"

struct http_pool *awskms_pool(struct ocikp_ctx *ctx)
{
	(void)ctx;
	return NULL;
}

struct credcache *awskms_credcache(struct ocikp_ctx *ctx)
{
	(void)ctx;
	return NULL;
}
#endif
