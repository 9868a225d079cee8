/* Target: what the gcpkms backend reads from the network.  The same bytes
 * are given as a KMS :encrypt answer (the plaintext's CRC32C taken from the
 * first 4 bytes), a :decrypt answer, a KMS error body for wrap and unwrap,
 * and a token endpoint's answer (OAuth2, STS or IAM credentials).  A TLS
 * server is trusted to be who it is, not to send well-formed bodies. */
#include <string.h>
#include "fuzz.h"
#include "gcpkms.h"

/* A fixed clock, so that a token's expiry is reproducible. */
#define FUZZ_NOW 1764000000LL

static struct ocikp_ctx *gcpkms_ctx(void)
{
	static struct backend_ctx b;

	host_ctx_init(&b.pub, &fuzz_host, "gcpkms");
	return &b.pub;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* What KMS answers with, and a proxy in front of it. */
	static const long statuses[] = { 400, 401, 403, 404, 429, 500, 502, 503 };
	struct ocikp_ctx *ctx = gcpkms_ctx();
	struct ocikp_buf out = { 0 };
	long long expires_at = 0;
	uint32_t crc = 0;
	long status;

	if (size >= 4)
		memcpy(&crc, data, 4);
	kms_parse_encrypt(ctx, data, size, crc, &out);
	buf_free(&out);
	kms_parse_decrypt(ctx, data, size, &out);
	buf_free(&out);

	status = statuses[size ? data[size - 1] % (sizeof(statuses) / sizeof(statuses[0])) : 0];
	kms_fail(ctx, KMS_WRAP, status, data, size);
	kms_fail(ctx, KMS_UNWRAP, status, data, size);

	cred_parse_token(ctx, "token endpoint", data, size, FUZZ_NOW, &out, &expires_at);
	buf_free(&out);
	return 0;
}
