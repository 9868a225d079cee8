/* application/x-www-form-urlencoded (to be implemented: issue 11). */
#include "ocikp.h"

int form_append(struct ocikp_buf *out, const char *name, const void *value, size_t len)
{
	(void)out, (void)name, (void)value, (void)len;
	return OCIKP_INTERNAL;
}
