/*
 * Built into ocikp-mock-v1 beside the mock itself, with the same flags: it
 * proves the module really sees the version-1 header of tests/mock/v1 (which
 * has no OCIKP_HOST_HAS), not the current one.
 */
#include "ocikp/backend.h"

#ifdef OCIKP_HOST_HAS
#error "ocikp-mock-v1 is built against the current header, not tests/mock/v1"
#endif

/* Something to compile: a translation unit may not be empty. */
int ocikp_mock_v1_header(void);
int ocikp_mock_v1_header(void)
{
	return (int)sizeof(struct ocikp_host);
}
