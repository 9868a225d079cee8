/* Target: what the awskms backend reads from a metadata service (the
 * container credentials agent, IMDS): the credential JSON both answer, and
 * RFC 3339 expiry text on its own. */
#include <string.h>
#include "fuzz.h"
#include "awskms-state.h"
#include "rfc3339.h"

static struct ocikp_ctx *awskms_ctx(void)
{
	static struct backend_ctx b;

	host_ctx_init(&b.pub, &fuzz_host, "awskms");
	return &b.pub;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ocikp_ctx *ctx = awskms_ctx();
	struct ocikp_buf text = { 0 };
	struct aws_cred c;
	long long t;

	memset(&c, 0, sizeof(c));
	strcpy(c.source, "fuzz");
	meta_parse_cred(ctx, "credentials answer", data, size, &c);
	cred_free(ctx, &c);

	buf_append(&text, data, size);
	if (text.data && strlen((const char *)text.data) == size)
		rfc3339_parse((const char *)text.data, &t);
	buf_free(&text);
	return 0;
}
