/* Target: what the tpm backend's unwrap reads from an annotation before it
 * asks the TPM anything (plugins/tpm/ocikp-tpm.c, tpm_annotation_parse, the
 * first half of tpm_unwrap): the JSON fields, the base64 of session_key and
 * wrapped_key, and the ImportBlob inside session_key.  The unseal itself is
 * a TPM command, so it is not driven: the target stops where tpm_unwrap
 * would call tpm_unseal, and checks what it would be handed. */
#include "fuzz.h"
#include "../plugins/tpm/tpm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct backend_ctx b;
	struct ocikp_ctx *ctx;
	ocikp_json *ann = NULL;
	struct import_blob blob;
	struct ocikp_buf sealed = { 0 };

	fuzz_ctx();
	host_ctx_init(&b.pub, &fuzz_host, "tpm");
	ctx = &b.pub;
	if (json_parse(ctx, "annotation", data, size, &ann) != OCIKP_OK)
		return 0;
	if (json_type(ann) == OCIKP_JSON_OBJECT &&
	    tpm_annotation_parse(ctx, ann, &blob, &sealed) == OCIKP_OK) {
		/* What tpm_unseal relies on blob_decode for. */
		if (!blob.duplicate.len || !blob.encrypted_seed.len || !blob.public_area.len)
			abort();
		blob_free(ctx, &blob);
	}
	buf_free(&sealed);
	json_free(ann);
	return 0;
}
