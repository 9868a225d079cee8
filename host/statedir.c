/* Per-user state directory (to be implemented: issue 11). */
#include "ocikp.h"

int state_dir(struct ocikp_ctx *ctx, struct ocikp_buf *out)
{
	(void)out;
	err_set(ctx, "state_dir is not implemented");
	return OCIKP_INTERNAL;
}

int state_lock(struct ocikp_ctx *ctx, const char *name, int *fd_out)
{
	(void)name;
	*fd_out = -1;
	err_set(ctx, "state_lock is not implemented");
	return OCIKP_INTERNAL;
}

void state_unlock(int fd)
{
	(void)fd;
}
