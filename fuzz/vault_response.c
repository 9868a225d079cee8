/* Target: what the vault backend reads from the network.  The same bytes
 * are given as a Transit encrypt answer, a decrypt answer, a login answer,
 * and an error body ({"errors": [...]}) for wrap and unwrap.  A TLS server
 * is trusted to be who it is, not to send well-formed bodies. */
#include <string.h>
#include "fuzz.h"
#include "vault.h"

static struct ocikp_ctx *vault_ctx(void)
{
	static struct backend_ctx b;

	host_ctx_init(&b.pub, &fuzz_host, "vault");
	return &b.pub;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* What Vault answers with (sealed, standby...), and a proxy in front. */
	static const long statuses[] = { 400, 401, 403, 404, 412, 429, 500, 502, 503 };
	struct ocikp_ctx *ctx = vault_ctx();
	struct ocikp_buf out = { 0 };
	long long lease = 0;
	long status;

	vault_parse_encrypt(ctx, data, size, &out);
	buf_free(&out);
	vault_parse_decrypt(ctx, data, size, &out);
	buf_free(&out);
	vault_parse_login(ctx, data, size, &out, &lease);
	buf_free(&out);
	vault_ciphertext_ok((const char *)data, strnlen((const char *)data, size));

	status = statuses[size ? data[size - 1] % (sizeof(statuses) / sizeof(statuses[0])) : 0];
	vault_fail(ctx, VAULT_WRAP, status, data, size);
	vault_fail(ctx, VAULT_UNWRAP, status, data, size);
	return 0;
}
