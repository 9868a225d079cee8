/* Target: the tpm backend's ImportBlob decoder (session_key from a registry)
 * and, on what decodes, the PCR policy digest and the re-encoder. */
#include <string.h>
#include "fuzz.h"
#include "../plugins/tpm/tpm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ocikp_ctx *ctx = fuzz_ctx();
	struct import_blob b;
	struct ocikp_buf out = { 0 };
	unsigned char digest[32];

	if (blob_decode(ctx, data, size, &b) == OCIKP_OK) {
		if (b.pcr_mask)
			pcr_policy_digest(ctx, &b, digest);
		blob_encode(ctx, &b, &out);
		buf_free(&out);
		blob_free(ctx, &b);
	}
	return 0;
}
