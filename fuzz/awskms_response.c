/* Target: what the awskms backend reads from the network and from the
 * shared credentials files.  The same bytes are given as a KMS Encrypt and
 * Decrypt answer, a KMS error body for wrap and unwrap, and INI text (the
 * ~/.aws files) asked for a profile's keys. */
#include <string.h>
#include "fuzz.h"
#include "awskms-state.h"

static struct ocikp_ctx *awskms_ctx(void)
{
	static struct backend_ctx b;

	host_ctx_init(&b.pub, &fuzz_host, "awskms");
	return &b.pub;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const long statuses[] = { 400, 401, 403, 404, 429, 500, 502, 503 };
	struct ocikp_ctx *ctx = awskms_ctx();
	struct ocikp_buf out = { 0 }, text = { 0 };
	long status;
	int retry;

	kms_parse_answer(ctx, "CiphertextBlob", data, size, &out);
	buf_free(&out);
	kms_parse_answer(ctx, "Plaintext", data, size, &out);
	buf_free(&out);

	status = statuses[size ? data[size - 1] % (sizeof(statuses) / sizeof(statuses[0])) : 0];
	kms_fail(ctx, KMS_WRAP, status, data, size, &retry);
	kms_fail(ctx, KMS_UNWRAP, status, data, size, &retry);

	/* INI text is a C string: the host's buffers keep a NUL after the data */
	buf_append(&text, data, size);
	if (text.data && strlen((const char *)text.data) == size) {
		ini_get(ctx, (const char *)text.data, "default", "aws_access_key_id", &out);
		buf_free(&out);
		ini_get(ctx, (const char *)text.data, "profile x", "region", &out);
		buf_free(&out);
	}
	buf_free(&text);
	return 0;
}
