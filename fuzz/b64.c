/* Target: strict base64, every flag combination, checked against
 * re-encoding. */
#include <stdlib.h>
#include <string.h>
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ocikp_buf out = { 0 }, again = { 0 };
	int flags;

	for (flags = 0; flags < 4; flags++) {
		out.len = again.len = 0;
		if (b64_decode(fuzz_ctx(), "fuzz", (const char *)data, size, flags, &out) != OCIKP_OK)
			continue;
		/* strict decoding round-trips to the same text; padded input may
		 * differ in unused bits (Go's StdEncoding allows them), unpadded
		 * may not (RawURLEncoding.Strict) */
		b64_encode(out.data, out.len, flags, &again);
		if (again.len != size ||
		    ((flags & OCIKP_B64_NOPAD) && memcmp(again.data, data, size) != 0))
			abort();
	}
	buf_free(&out);
	buf_free(&again);
	return 0;
}
