/* Reading secret files (to be implemented: issue 11). */
#include "ocikp.h"

int read_private_file(struct ocikp_ctx *ctx, const char *what, const char *path,
		      size_t max, struct ocikp_buf *out)
{
	(void)path, (void)max, (void)out;
	err_set(ctx, "%s: read_private_file is not implemented", what);
	return OCIKP_INTERNAL;
}
