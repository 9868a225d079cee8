/* Hex text from a test vector into a host buffer (tests only). */
#ifndef OCIKP_TEST_HEX_H
#define OCIKP_TEST_HEX_H
#include <stdio.h>
#include <string.h>
#include "ocikp.h"

/* 0, or -1 for NULL, an odd length or a non-hex pair. */
static inline int from_hex(const char *hex, struct ocikp_buf *out)
{
	size_t i, n = hex ? strlen(hex) : 1;
	unsigned int v;
	unsigned char c;

	if (n % 2)
		return -1;
	for (i = 0; i < n; i += 2) {
		if (sscanf(hex + i, "%2x", &v) != 1)
			return -1;
		c = (unsigned char)v;
		if (buf_append(out, &c, 1) != OCIKP_OK)
			return -1;
	}
	return 0;
}
#endif
