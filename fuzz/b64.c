/* Target: strict base64, both alphabets, checked against re-encoding. */
#include <stdlib.h>
#include <string.h>
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ocikp_buf out = { 0 }, again = { 0 };
	int url;

	for (url = 0; url < 2; url++) {
		out.len = again.len = 0;
		if (b64_decode(fuzz_ctx(), "fuzz", (const char *)data, size, url, &out) != OCIKP_OK)
			continue;
		/* strict decoding round-trips to the same text, bar unused bits */
		b64_encode(out.data, out.len, url, &again);
		if (again.len != size)
			abort();
	}
	buf_free(&out);
	buf_free(&again);
	return 0;
}
