/* Placeholder until the RCAR client lands (another branch writes it). */
#include "kbs.h"

int kbs_rcar_fetch(struct ocikp_ctx *ctx, const char *kid, const char *path,
		   unsigned char kek[KBS_KEK_LEN])
{
	(void)kid; (void)path; (void)kek;
	ocikp_errorf(ctx, "kbs: the KBS client is not built yet");
	return OCIKP_UNAVAILABLE;
}
